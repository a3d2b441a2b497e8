//! Redis backend, for several gateway instances sharing one state (key names: `redis/names.rs`).

// `kvkeys` is the quota's count: expired members are purged (by server time) before it is read,
// so only live keys count. It assumes Redis does not evict keys (`maxmemory-policy noeviction`).
// Every write touching more than one key, or reading before writing, is one Lua script, so it is
// atomic across gateway instances; a script never parses credentials, so JSON stays byte-exact.
// The API key rows are handled in `redis/keys.rs`, the model rows in `redis/models.rs`.

use std::sync::LazyLock;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{RedisError, Script};
use serde_json::{Map, Value};

use super::{Account, AccountPatch, KvQuota, MAX_CREDENTIALS_BYTES, StoreError};

/// Statics holding each `Script` (hashed once, then run by `EVALSHA`).
macro_rules! scripts {
    ($($(#[$doc:meta])* $name:ident = $lua:expr;)*) => {$(
        $(#[$doc])*
        static $name: LazyLock<Script> = LazyLock::new(|| Script::new($lua));
    )*};
}

/// Current server time in ms: every instance measures TTLs on the same clock.
macro_rules! lua_now {
    () => {
        "local t = redis.call('TIME')\nlocal now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    };
}

// Declared after the macros above, which they use.
mod admin;
mod batch;
mod keys;
mod models;
mod names;
mod pool;

/// Connect and response timeout: a dead Redis must give fast errors, not hung requests.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Upper bound on one store call, reconnect attempts included.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// Redis refuses expiry times past `i64` ms; a century is "forever" for a cache.
const MAX_TTL_MS: u64 = 100 * 365 * 24 * 3600 * 1000;
/// Read-modify-write edits (read, change in Rust, compare-and-set script) give up after this
/// many lost races in a row; each lost race means another edit of the same record landed, so
/// only a flood of edits gets here.
const MAX_CAS_ATTEMPTS: usize = 100;

pub struct RedisStore {
    conn: ConnectionManager,
}

/// The URL with any password replaced, for messages and logs.
pub(super) fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<unparseable URL>".into(),
    }
}

fn map_err(e: RedisError) -> StoreError {
    match e.kind() {
        redis::ErrorKind::Parse | redis::ErrorKind::UnexpectedReturnType => {
            StoreError::Corrupt(format!("redis: {e}"))
        }
        _ => StoreError::Unavailable(format!("redis: {e}")),
    }
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

// === impl RedisStore ===

impl RedisStore {
    /// Connects to `url` and checks that Redis answers.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let shown = redacted(url);
        let fail = |e: String| StoreError::Unavailable(format!("cannot use Redis at {shown}: {e}"));
        let client = redis::Client::open(url).map_err(|e| fail(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(IO_TIMEOUT))
            .set_response_timeout(Some(IO_TIMEOUT))
            // One quick retry: callers (and `/readyz`) should learn of an outage at once, and
            // every later call starts a fresh reconnect attempt anyway.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let conn = tokio::time::timeout(CALL_TIMEOUT, ConnectionManager::new_with_config(client, config))
            .await
            .map_err(|_| fail("no answer".into()))?
            .map_err(|e| fail(e.to_string()))?;
        let store = RedisStore { conn };
        store.ping().await.map_err(|e| match e {
            StoreError::Unavailable(m) => fail(m),
            other => fail(other.to_string()),
        })?;
        Ok(store)
    }

    /// Runs one Redis exchange on a clone of the shared multiplexed connection, bounded in time.
    async fn call<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        match tokio::time::timeout(CALL_TIMEOUT, f(self.conn.clone())).await {
            Ok(r) => r.map_err(map_err),
            Err(_) => Err(StoreError::Unavailable("redis: no answer in time".into())),
        }
    }

    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        self.call(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await })
            .await
            .map(drop)
    }

    pub(super) async fn kv_get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let k = names::kv(ns, key);
        self.call(|mut c| async move { redis::cmd("GET").arg(k).query_async(&mut c).await })
            .await
    }

    pub(super) async fn kv_set(
        &self,
        ns: &str,
        key: &str,
        value: Vec<u8>,
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
        // `PX 0` is an error in Redis; a zero TTL means "already expired" almost at once.
        let ttl_ms = ttl.map_or(0, |t| (t.as_millis() as u64).clamp(1, MAX_TTL_MS));
        let (k, index) = (names::kv(ns, key), names::kv_index(ns));
        let stored: bool = self
            .call(|mut c| async move {
                KV_SET
                    .key(k)
                    .key(index)
                    .arg(key)
                    .arg(value)
                    .arg(ttl_ms)
                    .arg(quota.max_keys)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        if !stored {
            return Err(StoreError::QuotaExceeded(format!(
                "namespace holds the maximum of {} keys",
                quota.max_keys
            )));
        }
        Ok(())
    }

    pub(super) async fn kv_delete(&self, ns: &str, key: &str) -> Result<(), StoreError> {
        let (k, index) = (names::kv(ns, key), names::kv_index(ns));
        self.call(|mut c| async move {
            redis::pipe()
                .atomic()
                .del(k)
                .ignore()
                .zrem(index, key)
                .ignore()
                .exec_async(&mut c)
                .await
        })
        .await
    }

    pub(super) async fn kv_len(&self, ns: &str) -> Result<u64, StoreError> {
        let index = names::kv_index(ns);
        self.call(|mut c| async move { KV_LEN.key(index).invoke_async(&mut c).await })
            .await
    }
}

impl RedisStore {
    pub(super) async fn get_account(&self, id: &str) -> Result<Account, StoreError> {
        let mut found = self.read_accounts(None, Some(id)).await?;
        found.pop().ok_or(StoreError::NotFound)
    }

    pub(super) async fn list_accounts(&self, channel: Option<&str>) -> Result<Vec<Account>, StoreError> {
        let ids = channel.map_or_else(names::accounts, names::channel_accounts);
        self.read_accounts(Some(ids), None).await
    }

    /// Reads the accounts whose ids are in the set `ids`, or the one account `id`, in one script
    /// so each account's fields and credentials come from the same moment.
    async fn read_accounts(&self, ids: Option<String>, id: Option<&str>) -> Result<Vec<Account>, StoreError> {
        let id = id.map(str::to_owned);
        let raw: Vec<Vec<String>> = self
            .call(|mut c| async move {
                let mut inv = READ_ACCOUNTS.prepare_invoke();
                inv.key(ids.unwrap_or_default())
                    .arg(names::account_prefix())
                    .arg(names::credentials_prefix());
                if let Some(id) = id {
                    inv.arg(id);
                }
                inv.invoke_async(&mut c).await
            })
            .await?;
        let mut out = raw
            .chunks(2)
            .map(|pair| decode_account(&pair[0], pair.get(1).map_or(&[][..], |c| &c[..])))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    pub(super) async fn delete_account(&self, id: &str) -> Result<(), StoreError> {
        let [leases, state] = pool::account_pool_keys(id);
        let keys = [
            names::account(id),
            names::credentials(id),
            names::accounts(),
            leases,
            state,
        ];
        let id = id.to_owned();
        let deleted: bool = self
            .call(|mut c| async move {
                DELETE_ACCOUNT
                    .key(&keys[..])
                    .arg(names::channel_accounts_prefix())
                    .arg(id)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        deleted.then_some(()).ok_or(StoreError::NotFound)
    }

    pub(super) async fn update_account(
        &self,
        id: &str,
        mut patch: AccountPatch,
        expected_version: Option<u64>,
    ) -> Result<Account, StoreError> {
        let credentials = patch.credentials.take().unwrap_or_default();
        let fields = match serde_json::to_value(&patch).map_err(corrupt)? {
            Value::Object(m) => m.into_iter().filter(|(_, v)| !v.is_null()).collect::<Vec<_>>(),
            _ => Vec::new(),
        };
        let keys = [names::account(id), names::credentials(id)];
        let (status, version, account, creds): (u8, u64, Vec<String>, Vec<String>) = self
            .call(|mut c| async move {
                let mut inv = UPDATE_ACCOUNT.prepare_invoke();
                inv.key(&keys[..])
                    .arg(expected_version.map_or_else(String::new, |v| v.to_string()))
                    .arg(MAX_CREDENTIALS_BYTES)
                    .arg(fields.len());
                for (f, v) in &fields {
                    inv.arg(f).arg(v.to_string());
                }
                // An empty string (never valid JSON) asks the script to remove the field.
                for (f, v) in &credentials {
                    inv.arg(f)
                        .arg(if v.is_null() { String::new() } else { v.to_string() });
                }
                inv.invoke_async(&mut c).await
            })
            .await?;
        match status {
            0 => decode_account(&account, &creds),
            1 => Err(StoreError::NotFound),
            2 => Err(StoreError::Conflict { current: version }),
            // The slot carries the size the credentials would have had.
            _ => Err(super::credentials_too_large(
                usize::try_from(version).unwrap_or(usize::MAX),
            )),
        }
    }
}

type Fields = Vec<(String, String)>;

/// An account as hash fields: `(account fields, credential fields)`, each value JSON; the
/// version is the script's to set.
fn account_fields(account: &Account) -> Result<(Fields, Fields), StoreError> {
    let Value::Object(mut map) = serde_json::to_value(account).map_err(corrupt)? else {
        return Err(StoreError::Corrupt("account is not a JSON object".into()));
    };
    map.remove("version");
    let credentials = match map.remove("credentials") {
        Some(Value::Object(c)) => c.into_iter().map(|(k, v)| (k, v.to_string())).collect(),
        _ => Vec::new(),
    };
    let fields = map.into_iter().map(|(k, v)| (k, v.to_string())).collect();
    Ok((fields, credentials))
}

/// Rebuilds an account from flat `HGETALL` replies of its two hashes.
fn decode_account(fields: &[String], credentials: &[String]) -> Result<Account, StoreError> {
    let parse = |flat: &[String]| -> Result<Map<String, Value>, StoreError> {
        let mut pairs = flat
            .chunks_exact(2)
            .map(|kv| Ok((kv[0].clone(), serde_json::from_str(&kv[1]).map_err(corrupt)?)))
            .collect::<Result<Vec<(String, Value)>, StoreError>>()?;
        // Hash fields have no order; sort so repeated reads render identically.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(pairs.into_iter().collect())
    };
    let mut map = parse(fields)?;
    map.insert("credentials".into(), Value::Object(parse(credentials)?));
    serde_json::from_value(Value::Object(map)).map_err(corrupt)
}

scripts! {
    /// KEYS: value, index. ARGV: key, value, ttl ms (0 = none), max keys. Returns 1, or 0 when full.
    KV_SET = concat!(lua_now!(), r"
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. now)
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then
  return 0
end
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[2])
  redis.call('ZADD', KEYS[2], '+inf', ARGV[1])
end
return 1
");

    /// KEYS: index. Returns the number of live keys.
    KV_LEN = concat!(lua_now!(), r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
return redis.call('ZCARD', KEYS[1])
");

    /// KEYS: account, credentials. ARGV: expected version ('' = any), max credential bytes, n,
    /// n field pairs, credential pairs ('' = remove). Returns {status (0 ok, 1 missing,
    /// 2 conflict, 3 credentials too large), version (for 3: the size), fields, credentials}.
    /// The size (names plus JSON values, as `credentials_size`) is checked before any write:
    /// a script's writes stay even when it returns early.
    UPDATE_ACCOUNT = r"
local current = redis.call('HGET', KEYS[1], 'version')
if not current then return {1, 0, {}, {}} end
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= tonumber(current) then
  return {2, tonumber(current), {}, {}}
end
local n = tonumber(ARGV[3])
local creds = {}
local flat = redis.call('HGETALL', KEYS[2])
for j = 1, #flat, 2 do creds[flat[j]] = flat[j + 1] end
for j = 4 + 2 * n, #ARGV - 1, 2 do
  if ARGV[j + 1] == '' then creds[ARGV[j]] = nil else creds[ARGV[j]] = ARGV[j + 1] end
end
local size = 0
for k, v in pairs(creds) do size = size + #k + #v end
if size > tonumber(ARGV[2]) then return {3, size, {}, {}} end
local i = 4
for _ = 1, n do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i < #ARGV do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[2], ARGV[i])
  else
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  end
  i = i + 2
end
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
return {0, version, redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2])}
";

    /// KEYS: account, credentials, all ids, leases, pool state. ARGV: channel-ids prefix, id.
    /// Returns 0 when there is no such account, else 1.
    DELETE_ACCOUNT = r"
local channel = redis.call('HGET', KEYS[1], 'channel')
if not channel then return 0 end
redis.call('SREM', ARGV[1] .. cjson.decode(channel), ARGV[2])
redis.call('SREM', KEYS[3], ARGV[2])
redis.call('DEL', KEYS[1], KEYS[2], KEYS[4], KEYS[5])
return 1
";

    /// KEYS: id set (ignored when ARGV[3], one id, is given). ARGV: account prefix,
    /// credentials prefix, [id]. Returns {fields, credentials, fields, credentials, ...} of the
    /// accounts that exist.
    READ_ACCOUNTS = r"
local ids = ARGV[3] and {ARGV[3]} or redis.call('SMEMBERS', KEYS[1])
local out = {}
for _, id in ipairs(ids) do
  local fields = redis.call('HGETALL', ARGV[1] .. id)
  if #fields > 0 then
    out[#out + 1] = fields
    out[#out + 1] = redis.call('HGETALL', ARGV[2] .. id)
  end
end
return out
";
}
