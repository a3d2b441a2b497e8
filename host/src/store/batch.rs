//! Writes of several records as one (import), and the single-record puts built on them.

use super::{Account, ModelEntry, Store, StoreError, check_credentials_size};
use crate::keys::ApiKey;

/// Records to create or replace by id: accounts, models and API keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Records {
    pub accounts: Vec<Account>,
    pub models: Vec<ModelEntry>,
    pub keys: Vec<ApiKey>,
}

impl Store {
    /// Creates or replaces every record by id, all or none: one transaction (embedded) or one
    /// script (Redis), so a failure half-way or another instance's reads never see part of it.
    /// Returns the records as written. Each version becomes the stored one plus one (1 for a new
    /// record), whatever the record says; a model counts as seeded from then on (plugin seeding
    /// never overwrites it or brings it back once deleted); a key keeps its usage counters and
    /// its hash index moves with it. Records are applied in order (accounts, models, keys), so a
    /// key may take a hash that an earlier key of the batch gives up. A batch names each record
    /// once (import refuses duplicates).
    ///
    /// Errors write nothing: `QuotaExceeded` when an account's credentials are over the size
    /// cap, `Conflict { current: 0 }` when a key's hash belongs to another key.
    pub async fn put_records(&self, records: Records) -> Result<Records, StoreError> {
        for a in &records.accounts {
            check_credentials_size(&a.credentials)?;
        }
        match self {
            Store::Embedded(s) => s.clone().blocking(move |s| s.put_records(records)).await,
            Store::Redis(s) => s.put_records(records).await,
        }
    }

    /// Creates or replaces one account (see [`Store::put_records`]).
    pub async fn put_account(&self, account: Account) -> Result<Account, StoreError> {
        let records = Records {
            accounts: vec![account],
            ..Records::default()
        };
        only(self.put_records(records).await?.accounts)
    }

    /// Creates or replaces one model (see [`Store::put_records`]).
    pub async fn put_model(&self, model: ModelEntry) -> Result<ModelEntry, StoreError> {
        let records = Records {
            models: vec![model],
            ..Records::default()
        };
        only(self.put_records(records).await?.models)
    }

    /// Creates or replaces one API key (see [`Store::put_records`]).
    pub async fn put_key(&self, key: ApiKey) -> Result<ApiKey, StoreError> {
        let records = Records {
            keys: vec![key],
            ..Records::default()
        };
        only(self.put_records(records).await?.keys)
    }
}

/// The one record a batch of one wrote.
fn only<T>(mut written: Vec<T>) -> Result<T, StoreError> {
    match (written.pop(), written.is_empty()) {
        (Some(record), true) => Ok(record),
        _ => Err(StoreError::Corrupt(
            "a batch of one wrote another number of records".into(),
        )),
    }
}
