//! API keys in Redis: records, the hash index, usage counters and rate windows.

use std::sync::LazyLock;

use redis::Script;

use super::{MAX_CAS_ATTEMPTS, MAX_TTL_MS, RedisStore, corrupt, names};
use crate::keys::{ApiKey, KeyPatch, KeyUsage};
use crate::store::StoreError;

pub(super) fn decode(json: &str) -> Result<ApiKey, StoreError> {
    serde_json::from_str(json).map_err(corrupt)
}

impl RedisStore {
    pub(in crate::store) async fn create_key(&self, mut api_key: ApiKey) -> Result<ApiKey, StoreError> {
        api_key.version = 1;
        let json = serde_json::to_string(&api_key).map_err(corrupt)?;
        let keys = [
            names::api_key(&api_key.id),
            names::api_key_hash(&api_key.hash),
            names::api_keys(),
        ];
        let id = api_key.id.clone();
        let created: bool = self
            .call(|mut c| async move {
                CREATE_KEY
                    .key(&keys[..])
                    .arg(id)
                    .arg(json)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        created
            .then_some(api_key)
            .ok_or(StoreError::Conflict { current: 0 })
    }

    /// Every key, in no particular order (`Store::list_keys` sorts).
    pub(in crate::store) async fn list_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let (ids, records) = (names::api_keys(), names::api_key_prefix());
        let raw: Vec<String> = self
            .call(|mut c| async move { LIST_KEYS.key(ids).arg(records).invoke_async(&mut c).await })
            .await?;
        raw.iter().map(|json| decode(json)).collect()
    }

    pub(in crate::store) async fn get_key(&self, id: &str) -> Result<ApiKey, StoreError> {
        self.get_record(names::api_key(id))
            .await?
            .ok_or(StoreError::NotFound)
            .and_then(|json| decode(&json))
    }

    pub(in crate::store) async fn find_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let (index, records) = (names::api_key_hash(hash), names::api_key_prefix());
        let raw: Option<String> = self
            .call(|mut c| async move {
                FIND_KEY_BY_HASH
                    .key(index)
                    .arg(records)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        raw.map(|json| decode(&json)).transpose()
    }

    /// Optimistic: read the record, patch it in Rust, and write it back only if it is still byte
    /// for byte what was read (one compare-and-set script); else read again. Patching in Rust
    /// keeps `KeyPatch::apply` and serde the only definitions of an edit and of the record's JSON
    /// (Lua's cjson would, for one, re-encode `[]` as `{}`). WATCH/MULTI would do the same but
    /// cannot be used here: the connection is multiplexed, so other tasks' commands would run
    /// inside the transaction and share its WATCH state.
    pub(in crate::store) async fn update_key(
        &self,
        id: &str,
        patch: &KeyPatch,
        expected_version: Option<u64>,
    ) -> Result<ApiKey, StoreError> {
        let record = names::api_key(id);
        for _ in 0..MAX_CAS_ATTEMPTS {
            let old = self
                .get_record(record.clone())
                .await?
                .ok_or(StoreError::NotFound)?;
            let mut api_key = decode(&old)?;
            if let Some(expected) = expected_version
                && expected != api_key.version
            {
                return Err(StoreError::Conflict {
                    current: api_key.version,
                });
            }
            // A patch never touches the hash, so the index stays valid.
            patch.apply(&mut api_key);
            api_key.version += 1;
            let new = serde_json::to_string(&api_key).map_err(corrupt)?;
            let k = record.clone();
            let swapped: bool = self
                .call(|mut c| async move { SWAP_KEY.key(k).arg(old).arg(new).invoke_async(&mut c).await })
                .await?;
            if swapped {
                return Ok(api_key);
            }
        }
        Err(StoreError::Unavailable(format!(
            "API key {id} changed under each of {MAX_CAS_ATTEMPTS} update attempts"
        )))
    }

    pub(in crate::store) async fn delete_key(&self, id: &str) -> Result<(), StoreError> {
        let keys = [names::api_key(id), names::api_keys(), names::api_key_usage(id)];
        let (id, hashes) = (id.to_owned(), names::api_key_hash_prefix());
        let deleted: bool = self
            .call(|mut c| async move {
                DELETE_KEY
                    .key(&keys[..])
                    .arg(id)
                    .arg(hashes)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        deleted.then_some(()).ok_or(StoreError::NotFound)
    }

    pub(in crate::store) async fn has_keys(&self) -> Result<bool, StoreError> {
        // Redis removes a set with its last member, so existence is "at least one key".
        let ids = names::api_keys();
        self.call(|mut c| async move { redis::cmd("EXISTS").arg(ids).query_async(&mut c).await })
            .await
    }

    pub(in crate::store) async fn record_key_use(&self, id: &str, now_ms: u64) -> Result<(), StoreError> {
        let keys = [names::api_key(id), names::api_key_usage(id)];
        let counted: bool = self
            .call(|mut c| async move {
                RECORD_KEY_USE
                    .key(&keys[..])
                    .arg(now_ms)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        counted.then_some(()).ok_or(StoreError::NotFound)
    }

    pub(in crate::store) async fn key_usage(&self, id: &str) -> Result<KeyUsage, StoreError> {
        let usage = names::api_key_usage(id);
        let (requests, last_used_ms): (Option<u64>, Option<u64>) = self
            .call(|mut c| async move {
                redis::cmd("HMGET")
                    .arg(usage)
                    .arg("requests")
                    .arg("last_used_ms")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        Ok(KeyUsage {
            requests: requests.unwrap_or(0),
            last_used_ms,
        })
    }

    pub(in crate::store) async fn rate_count(&self, bucket: &str, window_ms: u64) -> Result<u64, StoreError> {
        let base = names::rate_prefix(bucket);
        let window_ms = window_ms.min(MAX_TTL_MS);
        self.call(|mut c| async move { RATE_COUNT.arg(base).arg(window_ms).invoke_async(&mut c).await })
            .await
    }

    pub(in crate::store) async fn rate_hit(&self, bucket: &str, window_ms: u64) -> Result<u64, StoreError> {
        // The script appends the window start (server clock), so every instance counts in the
        // same windows whatever its own clock says.
        let base = names::rate_prefix(bucket);
        let window_ms = window_ms.min(MAX_TTL_MS);
        self.call(|mut c| async move { RATE_HIT.arg(base).arg(window_ms).invoke_async(&mut c).await })
            .await
    }

    async fn get_record(&self, record: String) -> Result<Option<String>, StoreError> {
        self.call(|mut c| async move { redis::cmd("GET").arg(record).query_async(&mut c).await })
            .await
    }
}

scripts! {
    /// KEYS: record, hash index, all ids. ARGV: id, JSON. Returns 1, or 0 when the id or the hash
    /// is taken.
    CREATE_KEY = r"
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
return 1
";

    /// KEYS: all ids. ARGV: record key prefix. Returns the JSON of every key.
    LIST_KEYS = r"
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local json = redis.call('GET', ARGV[1] .. id)
  if json then out[#out + 1] = json end
end
return out
";

    /// KEYS: hash index. ARGV: record key prefix. Returns the key's JSON, or nil.
    FIND_KEY_BY_HASH = r"
local id = redis.call('GET', KEYS[1])
if not id then return false end
return redis.call('GET', ARGV[1] .. id)
";

    /// KEYS: record. ARGV: the JSON last read, the new JSON. Writes only if the record is still
    /// the one read; returns 1 when it wrote.
    SWAP_KEY = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
";

    /// KEYS: record, all ids, usage. ARGV: id, hash index prefix. Returns 0 when there is no such
    /// key, else 1. Decoding only reads the hash; the record is never re-encoded.
    DELETE_KEY = r"
local json = redis.call('GET', KEYS[1])
if not json then return 0 end
redis.call('DEL', ARGV[2] .. cjson.decode(json).hash, KEYS[1], KEYS[3])
redis.call('SREM', KEYS[2], ARGV[1])
return 1
";

    /// KEYS: record, usage. ARGV: now (ms). Counts one use; returns 0 (counting nothing) when
    /// the key is gone, so a use racing a delete cannot leave usage behind.
    RECORD_KEY_USE = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], 'requests', 1)
redis.call('HSET', KEYS[2], 'last_used_ms', ARGV[1])
return 1
";

    /// ARGV: window key prefix, window (ms). Counts a hit in the current window's counter and
    /// returns it; the first hit sets the expiry, so a window lives at most one window past its
    /// end.
    /// ARGV: key base, window ms. Returns the current window's hits, without adding one.
    RATE_COUNT = concat!(lua_now!(), r"
local window = tonumber(ARGV[2])
return tonumber(redis.call('GET', ARGV[1] .. string.format('%.0f', now - now % window)) or '0')
");

    RATE_HIT = concat!(lua_now!(), r"
local window = tonumber(ARGV[2])
local k = ARGV[1] .. string.format('%.0f', now - now % window)
local hits = redis.call('INCR', k)
if hits == 1 then redis.call('PEXPIRE', k, window) end
return hits
");
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{RedisStore, names};
    use crate::test_redis::TestRedis;

    #[tokio::test]
    async fn rate_windows_expire_on_their_own() {
        let Some(server) = TestRedis::start() else {
            return;
        };
        let store = RedisStore::open(&server.url()).await.unwrap();
        store.rate_hit("b", 200).await.unwrap();
        let pattern = names::rate_prefix("b") + "*";
        let (found, ttl_ms): (Vec<String>, i64) = store
            .call(|mut c| async move {
                let found: Vec<String> = redis::cmd("KEYS").arg(pattern).query_async(&mut c).await?;
                let ttl = redis::cmd("PTTL").arg(&found).query_async(&mut c).await?;
                Ok((found, ttl))
            })
            .await
            .unwrap();
        let [window_key] = &found[..] else {
            panic!("one window per bucket: {found:?}")
        };
        let start: u64 = window_key.rsplit(':').next().unwrap().parse().unwrap();
        assert_eq!(start % 200, 0, "windows are aligned: {window_key}");
        assert!(
            (1..=200).contains(&ttl_ms),
            "the window expires after its end: {ttl_ms}"
        );

        tokio::time::sleep(Duration::from_millis(300)).await;
        let k = window_key.clone();
        let exists: bool = store
            .call(|mut c| async move { redis::cmd("EXISTS").arg(k).query_async(&mut c).await })
            .await
            .unwrap();
        assert!(!exists, "{window_key} outlived its window");
    }
}
