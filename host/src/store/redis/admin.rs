//! Settings (admin password hash, runtime config) and admin sessions in Redis.

use std::sync::LazyLock;

use redis::Script;

use super::{MAX_TTL_MS, RedisStore, names};
use crate::store::StoreError;

impl RedisStore {
    pub(in crate::store) async fn setting_get(&self, name: &str) -> Result<Option<String>, StoreError> {
        let k = names::setting(name);
        self.call(|mut c| async move { redis::cmd("GET").arg(k).query_async(&mut c).await })
            .await
    }

    /// Writes `value` when the stored value is `expected` (`None`: absent); false otherwise.
    pub(in crate::store) async fn setting_swap(
        &self,
        name: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, StoreError> {
        let k = names::setting(name);
        let (present, expected, value) = (
            u8::from(expected.is_some()),
            expected.unwrap_or_default().to_owned(),
            value.to_owned(),
        );
        self.call(|mut c| async move {
            SETTING_SWAP
                .key(k)
                .arg(present)
                .arg(expected)
                .arg(value)
                .invoke_async(&mut c)
                .await
        })
        .await
    }

    pub(in crate::store) async fn session_create(&self, hash: &str, ttl_ms: u64) -> Result<(), StoreError> {
        let k = names::session(hash);
        let ttl_ms = ttl_ms.clamp(1, MAX_TTL_MS);
        self.call(|mut c| async move {
            redis::cmd("SET")
                .arg(k)
                .arg(1)
                .arg("PX")
                .arg(ttl_ms)
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    pub(in crate::store) async fn session_valid(&self, hash: &str) -> Result<bool, StoreError> {
        let k = names::session(hash);
        self.call(|mut c| async move { redis::cmd("EXISTS").arg(k).query_async(&mut c).await })
            .await
    }

    pub(in crate::store) async fn session_delete(&self, hash: &str) -> Result<(), StoreError> {
        let k = names::session(hash);
        self.call(|mut c| async move { redis::cmd("DEL").arg(k).query_async::<()>(&mut c).await })
            .await
    }
}

scripts! {
    /// KEYS: setting. ARGV: expected present (1/0), expected value, new value. Returns 1 when
    /// written, 0 when the stored value was not the expected one.
    SETTING_SWAP = r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
";
}
