//! The gateway's persistent state behind one typed API; the only module that knows key layouts.

mod batch;
mod embedded;
mod models;
mod pool;
mod redis;
#[cfg(test)]
mod tests;

pub use self::redis::RedisStore;
pub use batch::Records;
pub use embedded::EmbeddedStore;
pub use models::{ModelEntry, ModelPatch};
pub use pool::{AccountRuntime, LeaseCandidate, LeaseOutcome};

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::keys::{ApiKey, KeyPatch, KeyUsage};

/// Errors at the store boundary.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    #[error("not found")]
    NotFound,
    /// An edit was based on a stale copy; `current` is the stored version.
    #[error("version conflict: the record is at version {current}")]
    Conflict { current: u64 },
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

/// One upstream account of a channel. Credentials are plugin-defined fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub channel: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub credentials: serde_json::Map<String, serde_json::Value>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Relative share of traffic among equally loaded accounts.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Concurrent requests this account may serve.
    #[serde(default = "default_max_inflight")]
    pub max_inflight: u32,
    /// Bumped on every write; admin edits compare it to reject stale copies.
    #[serde(default)]
    pub version: u64,
}

/// A partial account edit: only the fields that are `Some` change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub weight: Option<u32>,
    pub max_inflight: Option<u32>,
    /// Merged field by field into the stored credentials; `null` removes a field.
    pub credentials: Option<serde_json::Map<String, serde_json::Value>>,
}

impl AccountPatch {
    /// Applies the patch to `account` (the version is the caller's to bump).
    fn apply(self, account: &mut Account) {
        if let Some(name) = self.name {
            account.name = name;
        }
        if let Some(enabled) = self.enabled {
            account.enabled = enabled;
        }
        if let Some(weight) = self.weight {
            account.weight = weight;
        }
        if let Some(max_inflight) = self.max_inflight {
            account.max_inflight = max_inflight;
        }
        for (k, v) in self.credentials.unwrap_or_default() {
            if v.is_null() {
                account.credentials.remove(&k);
            } else {
                account.credentials.insert(k, v);
            }
        }
    }
}

/// Upper bound on an account's credentials as [`credentials_size`] measures them, whoever
/// writes them (admin, import, a plugin's refresh): every plugin call carries them in full.
pub const MAX_CREDENTIALS_BYTES: usize = 64 * 1024;

/// Size of credentials as stored: each field name's bytes plus its value's compact JSON. Both
/// backends measure exactly this (Redis keeps one hash field per credential field).
pub fn credentials_size(credentials: &serde_json::Map<String, serde_json::Value>) -> usize {
    credentials
        .iter()
        .map(|(k, v)| k.len() + v.to_string().len())
        .sum()
}

/// `QuotaExceeded` when `credentials` are over [`MAX_CREDENTIALS_BYTES`].
pub(crate) fn check_credentials_size(
    credentials: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), StoreError> {
    let size = credentials_size(credentials);
    if size > MAX_CREDENTIALS_BYTES {
        return Err(credentials_too_large(size));
    }
    Ok(())
}

fn credentials_too_large(size: usize) -> StoreError {
    StoreError::QuotaExceeded(format!(
        "credentials of {size} bytes exceed the {MAX_CREDENTIALS_BYTES}-byte limit"
    ))
}

fn default_true() -> bool {
    true
}

fn default_weight() -> u32 {
    1
}

fn default_max_inflight() -> u32 {
    4
}

/// Per-namespace KV limits, taken from the plugin's grants.
#[derive(Debug, Clone, Copy)]
pub struct KvQuota {
    pub max_keys: u64,
    pub max_value_bytes: u64,
}

/// Handle to the configured backend; cheap to clone.
#[derive(Clone)]
pub enum Store {
    Embedded(Arc<EmbeddedStore>),
    /// Shared by several gateway instances.
    Redis(Arc<RedisStore>),
}

// === impl Store ===

impl Store {
    /// Opens Redis when `redis_url` is set (failing unless it answers), else the embedded store.
    pub async fn open(config: &crate::config::StoreConfig) -> Result<Store, StoreError> {
        match &config.redis_url {
            Some(url) => Ok(Store::Redis(Arc::new(RedisStore::open(url).await?))),
            None => Ok(Store::Embedded(Arc::new(EmbeddedStore::open(&config.data_dir)?))),
        }
    }

    /// Fails when the backend cannot serve requests (drives `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Embedded(s) => s.clone().blocking(|s| s.ping()).await,
            Store::Redis(s) => s.ping().await,
        }
    }

    pub async fn kv_get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Store::Embedded(s) => {
                let (ns, key) = (ns.to_owned(), key.to_owned());
                s.clone().blocking(move |s| s.kv_get(&ns, &key)).await
            }
            Store::Redis(s) => s.kv_get(ns, key).await,
        }
    }

    pub async fn kv_set(
        &self,
        ns: &str,
        key: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
        quota: KvQuota,
    ) -> Result<(), StoreError> {
        match self {
            Store::Embedded(s) => {
                let (ns, key) = (ns.to_owned(), key.to_owned());
                s.clone()
                    .blocking(move |s| s.kv_set(&ns, &key, &value, ttl, quota))
                    .await
            }
            Store::Redis(s) => s.kv_set(ns, key, value, ttl, quota).await,
        }
    }

    pub async fn kv_delete(&self, ns: &str, key: &str) -> Result<(), StoreError> {
        match self {
            Store::Embedded(s) => {
                let (ns, key) = (ns.to_owned(), key.to_owned());
                s.clone().blocking(move |s| s.kv_delete(&ns, &key)).await
            }
            Store::Redis(s) => s.kv_delete(ns, key).await,
        }
    }

    /// Number of live keys in a namespace.
    pub async fn kv_len(&self, ns: &str) -> Result<u64, StoreError> {
        match self {
            Store::Embedded(s) => {
                let ns = ns.to_owned();
                s.clone().blocking(move |s| s.kv_len(&ns)).await
            }
            Store::Redis(s) => s.kv_len(ns).await,
        }
    }
}

impl Store {
    pub async fn get_account(&self, id: &str) -> Result<Account, StoreError> {
        match self {
            Store::Embedded(s) => {
                let id = id.to_owned();
                s.clone().blocking(move |s| s.get_account(&id)).await
            }
            Store::Redis(s) => s.get_account(id).await,
        }
    }

    /// All accounts, or those of one channel, ordered by id.
    pub async fn list_accounts(&self, channel: Option<&str>) -> Result<Vec<Account>, StoreError> {
        match self {
            Store::Embedded(s) => {
                let channel = channel.map(str::to_owned);
                s.clone()
                    .blocking(move |s| s.list_accounts(channel.as_deref()))
                    .await
            }
            Store::Redis(s) => s.list_accounts(channel).await,
        }
    }

    /// Merges `patch` into the account's credentials field by field (`null` removes a field),
    /// atomically, so a token refresh cannot overwrite a concurrent edit of another field.
    pub async fn merge_credentials(
        &self,
        id: &str,
        patch: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Account, StoreError> {
        let patch = AccountPatch {
            credentials: Some(patch),
            ..AccountPatch::default()
        };
        self.update_account(id, patch, None).await
    }

    /// Applies the `Some` fields of `patch` atomically and bumps the version. With
    /// `expected_version`, a stored version that differs fails with `Conflict` and changes nothing;
    /// credentials that would end up over the size cap fail with `QuotaExceeded` the same way
    /// (checked in the same transaction or script as the write).
    pub async fn update_account(
        &self,
        id: &str,
        patch: AccountPatch,
        expected_version: Option<u64>,
    ) -> Result<Account, StoreError> {
        match self {
            Store::Embedded(s) => {
                let id = id.to_owned();
                s.clone()
                    .blocking(move |s| s.update_account(&id, patch, expected_version))
                    .await
            }
            Store::Redis(s) => s.update_account(id, patch, expected_version).await,
        }
    }

    /// Removes an account and its credentials; `NotFound` when there is none.
    pub async fn delete_account(&self, id: &str) -> Result<(), StoreError> {
        match self {
            Store::Embedded(s) => {
                let id = id.to_owned();
                s.clone().blocking(move |s| s.delete_account(&id)).await
            }
            Store::Redis(s) => s.delete_account(id).await,
        }
    }
}

/// Public API keys: records (with a hash → id index), usage counters and rate windows.
impl Store {
    /// Stores a new key at version 1; `Conflict { current: 0 }` when its id or its hash is taken.
    pub async fn create_key(&self, key: ApiKey) -> Result<ApiKey, StoreError> {
        match self {
            Store::Embedded(s) => s.clone().blocking(move |s| s.create_key(key)).await,
            Store::Redis(s) => s.create_key(key).await,
        }
    }

    /// Every key, oldest first (ties by id).
    pub async fn list_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let mut keys = match self {
            Store::Embedded(s) => s.clone().blocking(|s| s.list_keys()).await?,
            Store::Redis(s) => s.list_keys().await?,
        };
        keys.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        Ok(keys)
    }

    pub async fn get_key(&self, id: &str) -> Result<ApiKey, StoreError> {
        match self {
            Store::Embedded(s) => {
                let id = id.to_owned();
                s.clone().blocking(move |s| s.get_key(&id)).await
            }
            Store::Redis(s) => s.get_key(id).await,
        }
    }

    /// The key whose SHA-256 is `hash` (one index lookup, never a scan).
    pub async fn find_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        match self {
            Store::Embedded(s) => {
                let hash = hash.to_owned();
                s.clone().blocking(move |s| s.find_key_by_hash(&hash)).await
            }
            Store::Redis(s) => s.find_key_by_hash(hash).await,
        }
    }

    /// Applies the `Some` fields of `patch` atomically and bumps the version. With
    /// `expected_version`, a stored version that differs fails with `Conflict` and changes nothing.
    pub async fn update_key(
        &self,
        id: &str,
        patch: KeyPatch,
        expected_version: Option<u64>,
    ) -> Result<ApiKey, StoreError> {
        match self {
            Store::Embedded(s) => {
                let id = id.to_owned();
                s.clone()
                    .blocking(move |s| s.update_key(&id, &patch, expected_version))
                    .await
            }
            Store::Redis(s) => s.update_key(id, &patch, expected_version).await,
        }
    }

    /// Removes a key with its hash index entry and its usage; `NotFound` when there is none.
    pub async fn delete_key(&self, id: &str) -> Result<(), StoreError> {
        match self {
            Store::Embedded(s) => {
                let id = id.to_owned();
                s.clone().blocking(move |s| s.delete_key(&id)).await
            }
            Store::Redis(s) => s.delete_key(id).await,
        }
    }

    /// Whether any key is stored, enabled or not.
    pub async fn has_keys(&self) -> Result<bool, StoreError> {
        match self {
            Store::Embedded(s) => s.clone().blocking(|s| s.has_keys()).await,
            Store::Redis(s) => s.has_keys().await,
        }
    }

    /// Counts one request of key `id` at `now_ms`, atomically. `NotFound` when the key is gone,
    /// so a request racing a delete leaves no orphaned counters behind.
    pub async fn record_key_use(&self, id: &str, now_ms: u64) -> Result<(), StoreError> {
        match self {
            Store::Embedded(s) => {
                let id = id.to_owned();
                s.clone().blocking(move |s| s.record_key_use(&id, now_ms)).await
            }
            Store::Redis(s) => s.record_key_use(id, now_ms).await,
        }
    }

    /// Usage of key `id`; zeros when it was never used (or does not exist).
    pub async fn key_usage(&self, id: &str) -> Result<KeyUsage, StoreError> {
        match self {
            Store::Embedded(s) => {
                let id = id.to_owned();
                s.clone().blocking(move |s| s.key_usage(&id)).await
            }
            Store::Redis(s) => s.key_usage(id).await,
        }
    }

    /// Fixed-window counter: counts one hit in the current `window` of `bucket` and returns the
    /// window's count including it. Windows are aligned to multiples of `window` since the Unix
    /// epoch (Redis: on the server's clock) and expire on their own; a bucket should always be
    /// used with the same window length.
    pub async fn rate_hit(&self, bucket: &str, window: Duration) -> Result<u64, StoreError> {
        // A zero window would divide by zero; one millisecond is the finest the stores keep.
        let window_ms = (window.as_millis() as u64).max(1);
        match self {
            Store::Embedded(s) => {
                let bucket = bucket.to_owned();
                s.clone().blocking(move |s| s.rate_hit(&bucket, window_ms)).await
            }
            Store::Redis(s) => s.rate_hit(bucket, window_ms).await,
        }
    }
}

impl Store {
    /// Hits counted so far in the current window of `bucket` (see [`Store::rate_hit`]), without
    /// counting one: for limits that only count failures.
    pub async fn rate_count(&self, bucket: &str, window: Duration) -> Result<u64, StoreError> {
        let window_ms = (window.as_millis() as u64).max(1);
        match self {
            Store::Embedded(s) => {
                let bucket = bucket.to_owned();
                s.clone()
                    .blocking(move |s| s.rate_count(&bucket, window_ms))
                    .await
            }
            Store::Redis(s) => s.rate_count(bucket, window_ms).await,
        }
    }
}

/// Settings (small named values shared by every instance) and admin sessions.
impl Store {
    pub async fn setting_get(&self, name: &str) -> Result<Option<String>, StoreError> {
        match self {
            Store::Embedded(s) => {
                let name = name.to_owned();
                s.clone().blocking(move |s| s.setting_get(&name)).await
            }
            Store::Redis(s) => s.setting_get(name).await,
        }
    }

    /// Compare-and-set: writes `value` only when the stored value is `expected` (`None`: no
    /// value yet). Returns whether it wrote.
    pub async fn setting_swap(
        &self,
        name: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, StoreError> {
        match self {
            Store::Embedded(s) => {
                let (name, expected, value) =
                    (name.to_owned(), expected.map(str::to_owned), value.to_owned());
                s.clone()
                    .blocking(move |s| s.setting_swap(&name, expected.as_deref(), &value))
                    .await
            }
            Store::Redis(s) => s.setting_swap(name, expected, value).await,
        }
    }

    /// Stores a session by the hash of its token, valid for `ttl`.
    pub async fn session_create(&self, hash: &str, ttl: Duration) -> Result<(), StoreError> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        match self {
            Store::Embedded(s) => {
                let hash = hash.to_owned();
                s.clone().blocking(move |s| s.session_create(&hash, ttl_ms)).await
            }
            Store::Redis(s) => s.session_create(hash, ttl_ms).await,
        }
    }

    /// Whether a live session has this token hash.
    pub async fn session_valid(&self, hash: &str) -> Result<bool, StoreError> {
        match self {
            Store::Embedded(s) => {
                let hash = hash.to_owned();
                s.clone().blocking(move |s| s.session_valid(&hash)).await
            }
            Store::Redis(s) => s.session_valid(hash).await,
        }
    }

    pub async fn session_delete(&self, hash: &str) -> Result<(), StoreError> {
        match self {
            Store::Embedded(s) => {
                let hash = hash.to_owned();
                s.clone().blocking(move |s| s.session_delete(&hash)).await
            }
            Store::Redis(s) => s.session_delete(hash).await,
        }
    }
}

/// `url` with any password masked, for messages, logs and the admin API.
pub fn redacted_url(url: &str) -> String {
    self::redis::redacted(url)
}

/// KV keys of different plugins never collide: the namespace is part of the stored key.
pub(crate) fn kv_namespace(plugin: &str) -> String {
    format!("plugin:{plugin}")
}
