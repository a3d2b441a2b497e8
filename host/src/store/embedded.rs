//! Embedded, crash-safe backend on `redb` in the data directory (the default store).

mod admin;
mod keys;
mod models;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::pool::LocalPool;
use super::{Account, AccountPatch, KvQuota, Records, StoreError};

/// `ns \0 key` → 8-byte big-endian expiry (Unix ms, 0 = never) followed by the value.
const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
/// `ns` → number of keys stored in it (kept in the same transaction as `KV` writes).
const KV_COUNT: TableDefinition<&str, u64> = TableDefinition::new("kv_count");
/// account id → JSON `Account`.
const ACCOUNTS: TableDefinition<&str, &[u8]> = TableDefinition::new("accounts");

pub struct EmbeddedStore {
    db: Database,
    /// When a per-request counter write last committed durably (Unix ms); see `keys.rs`.
    counters_synced_ms: AtomicU64,
    /// When expired rate windows were last purged (Unix ms).
    rate_swept_ms: AtomicU64,
    /// Pool state lives in memory: only this process can open the database.
    pool: LocalPool,
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::from(redb::Error::from(e)) }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

// === impl EmbeddedStore ===

impl EmbeddedStore {
    /// Opens (or creates) `data_dir/gateway.redb`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", data_dir.display())))?;
        let db = Database::create(data_dir.join("gateway.redb"))?;
        let tx = db.begin_write()?;
        tx.open_table(KV)?;
        tx.open_table(KV_COUNT)?;
        tx.open_table(ACCOUNTS)?;
        models::create_tables(&tx)?;
        keys::create_tables(&tx)?;
        admin::create_tables(&tx)?;
        tx.commit()?;
        Ok(EmbeddedStore {
            db,
            counters_synced_ms: AtomicU64::new(0),
            rate_swept_ms: AtomicU64::new(0),
            pool: LocalPool::default(),
        })
    }

    /// redb is synchronous; run its calls on the blocking pool so request tasks never stall.
    pub(super) async fn blocking<T, F>(self: Arc<Self>, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&EmbeddedStore) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        tokio::task::spawn_blocking(move || f(&self))
            .await
            .map_err(|e| StoreError::Unavailable(format!("store task failed: {e}")))?
    }

    pub(super) fn pool(&self) -> &LocalPool {
        &self.pool
    }

    pub(super) fn ping(&self) -> Result<(), StoreError> {
        self.db.begin_read()?;
        Ok(())
    }

    pub(super) fn kv_get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(KV)?;
        let Some(v) = table.get(kv_key(ns, key).as_str())? else {
            return Ok(None);
        };
        Ok(live_value(v.value(), now_ms()).map(<[u8]>::to_vec))
    }

    pub(super) fn kv_set(
        &self,
        ns: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        quota: KvQuota,
    ) -> Result<(), StoreError> {
        if value.len() as u64 > quota.max_value_bytes {
            return Err(StoreError::QuotaExceeded(format!(
                "value of {} bytes exceeds the {}-byte limit",
                value.len(),
                quota.max_value_bytes
            )));
        }
        let now = now_ms();
        let expires = ttl.map_or(0, |t| now.saturating_add(t.as_millis() as u64).max(1));
        let mut record = Vec::with_capacity(8 + value.len());
        record.extend_from_slice(&expires.to_be_bytes());
        record.extend_from_slice(value);

        let full = kv_key(ns, key);
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(KV)?;
            let mut counts = tx.open_table(KV_COUNT)?;
            let exists = table.get(full.as_str())?.is_some();
            let mut count = counts.get(ns)?.map_or(0, |c| c.value());
            if !exists && count >= quota.max_keys {
                // Expired entries still count until purged; purge before refusing.
                count -= purge_expired(&mut table, ns, now)?;
                if count >= quota.max_keys {
                    return Err(StoreError::QuotaExceeded(format!(
                        "namespace holds the maximum of {} keys",
                        quota.max_keys
                    )));
                }
            }
            table.insert(full.as_str(), record.as_slice())?;
            counts.insert(ns, count + u64::from(!exists))?;
        }
        tx.commit()?;
        Ok(())
    }

    pub(super) fn kv_delete(&self, ns: &str, key: &str) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(KV)?;
            if table.remove(kv_key(ns, key).as_str())?.is_some() {
                let mut counts = tx.open_table(KV_COUNT)?;
                let count = counts.get(ns)?.map_or(0, |c| c.value());
                counts.insert(ns, count.saturating_sub(1))?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub(super) fn kv_len(&self, ns: &str) -> Result<u64, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(KV)?;
        let (start, end) = ns_range(ns);
        let now = now_ms();
        let mut n = 0;
        for entry in table.range(start.as_str()..end.as_str())? {
            let (_, v) = entry?;
            n += u64::from(live_value(v.value(), now).is_some());
        }
        Ok(n)
    }

    /// See `Store::put_records`: one write transaction, dropped uncommitted on any error.
    pub(super) fn put_records(&self, records: Records) -> Result<Records, StoreError> {
        let tx = self.db.begin_write()?;
        let written = Records {
            accounts: put_accounts(&tx, records.accounts)?,
            models: models::put_all(&tx, records.models)?,
            keys: keys::put_all(&tx, records.keys)?,
        };
        tx.commit()?;
        Ok(written)
    }

    pub(super) fn get_account(&self, id: &str) -> Result<Account, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(ACCOUNTS)?;
        let v = table.get(id)?.ok_or(StoreError::NotFound)?;
        decode_account(v.value())
    }

    pub(super) fn list_accounts(&self, channel: Option<&str>) -> Result<Vec<Account>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(ACCOUNTS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (_, v) = entry?;
            let account = decode_account(v.value())?;
            if channel.is_none_or(|c| c == account.channel) {
                out.push(account);
            }
        }
        Ok(out)
    }

    pub(super) fn update_account(
        &self,
        id: &str,
        patch: AccountPatch,
        expected_version: Option<u64>,
    ) -> Result<Account, StoreError> {
        let tx = self.db.begin_write()?;
        let account = {
            let mut table = tx.open_table(ACCOUNTS)?;
            let mut account = match table.get(id)? {
                Some(v) => decode_account(v.value())?,
                None => return Err(StoreError::NotFound),
            };
            if let Some(expected) = expected_version
                && expected != account.version
            {
                return Err(StoreError::Conflict {
                    current: account.version,
                });
            }
            patch.apply(&mut account);
            // Dropping the transaction on this error discards the write.
            super::check_credentials_size(&account.credentials)?;
            account.version += 1;
            table.insert(id, encode_account(&account)?.as_slice())?;
            account
        };
        tx.commit()?;
        Ok(account)
    }

    pub(super) fn delete_account(&self, id: &str) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        if tx.open_table(ACCOUNTS)?.remove(id)?.is_none() {
            return Err(StoreError::NotFound);
        }
        tx.commit()?;
        self.pool.forget(id);
        Ok(())
    }
}

/// Creates or replaces each account in `tx`, at the stored version plus one.
fn put_accounts(tx: &WriteTransaction, accounts: Vec<Account>) -> Result<Vec<Account>, StoreError> {
    let mut table = tx.open_table(ACCOUNTS)?;
    accounts
        .into_iter()
        .map(|mut account| {
            let previous = match table.get(account.id.as_str())? {
                Some(v) => decode_account(v.value())?.version,
                None => 0,
            };
            account.version = previous + 1;
            table.insert(account.id.as_str(), encode_account(&account)?.as_slice())?;
            Ok(account)
        })
        .collect()
}

fn kv_key(ns: &str, key: &str) -> String {
    format!("{ns}\0{key}")
}

/// Key range covering exactly one namespace (`\0` separates, `\u{1}` is the next byte).
fn ns_range(ns: &str) -> (String, String) {
    (format!("{ns}\0"), format!("{ns}\u{1}"))
}

fn live_value(record: &[u8], now: u64) -> Option<&[u8]> {
    let (head, value) = record.split_at_checked(8)?;
    let expires = u64::from_be_bytes(head.try_into().ok()?);
    (expires == 0 || expires > now).then_some(value)
}

fn purge_expired(table: &mut redb::Table<&str, &[u8]>, ns: &str, now: u64) -> Result<u64, StoreError> {
    let (start, end) = ns_range(ns);
    let removed = table.extract_from_if(start.as_str()..end.as_str(), |_, v| live_value(v, now).is_none())?;
    let mut n = 0;
    for entry in removed {
        entry?;
        n += 1;
    }
    Ok(n)
}

fn encode_account(a: &Account) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(a).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode_account(bytes: &[u8]) -> Result<Account, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
