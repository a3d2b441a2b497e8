//! Every Redis key the gateway uses, named in this one module. All start with [`PREFIX`].
//
// | Key                            | Type   | Holds                                                      |
// |--------------------------------|--------|------------------------------------------------------------|
// | `kv:{<ns>}:<key>`              | STRING | a KV value; its TTL is Redis's own (`PX`)                  |
// | `kvkeys:{<ns>}`                | ZSET   | the namespace's keys, scored by expiry (server ms; `+inf`) |
// | `account:<id>`                 | HASH   | each `Account` field but credentials, as JSON              |
// | `credentials:<id>`             | HASH   | credential field → JSON value (so merges are per field)    |
// | `accounts`                     | SET    | every account id                                           |
// | `channel-accounts:<channel>`   | SET    | the account ids of one channel                             |
// | `models`                       | HASH   | `<channel>\0<model id>` → JSON `ModelEntry`, version incl. |
// | `models:seeded`                | SET    | every `<channel>\0<model id>` ever seeded or admin-written |
// | `apikey:<id>`                  | STRING | JSON `ApiKey`, version included                            |
// | `apikeys`                      | SET    | every API key id                                           |
// | `apikey-hash:<sha256 hex>`     | STRING | the id of the API key with that hash                       |
// | `apikey-usage:<id>`            | HASH   | `requests` (count), `last_used_ms` (caller's clock)        |
// | `rate:<bucket>:<window start>` | STRING | hits in one fixed window (server ms); expires after it     |
// | `lease:<account id>`           | ZSET   | lease id → expiry (server ms); live members are in flight  |
// | `poolstate:<account id>`       | HASH   | cooldown_until, disabled, last_error, requests, failures   |
// | `setting:<name>`               | STRING | a setting (admin password hash, runtime config JSON)       |
// | `session:<sha256 hex>`         | STRING | an admin session; expires with it (`PX`)                   |

/// Prefix of every key, so the gateway can share a Redis with other applications. Scripts build
/// some names from the `*_prefix` functions here (passed as `ARGV`), so the backend targets one
/// Redis, not a cluster.
pub(super) const PREFIX: &str = "gateway:";

fn key(parts: &[&str]) -> String {
    let mut k = String::from(PREFIX);
    parts.iter().for_each(|p| k.push_str(p));
    k
}

/// The namespace inside `{}`; escaping `}` (and `%`) keeps `(ns, key)` → Redis key one-to-one.
fn ns_tag(ns: &str) -> String {
    ns.replace('%', "%25").replace('}', "%7D")
}

pub(super) fn kv(ns: &str, k: &str) -> String {
    key(&["kv:{", &ns_tag(ns), "}:", k])
}

pub(super) fn kv_index(ns: &str) -> String {
    key(&["kvkeys:{", &ns_tag(ns), "}"])
}

/// Scripts append the account id to this prefix.
pub(super) fn account_prefix() -> String {
    key(&["account:"])
}

pub(super) fn account(id: &str) -> String {
    key(&["account:", id])
}

/// Scripts append the account id to this prefix.
pub(super) fn credentials_prefix() -> String {
    key(&["credentials:"])
}

pub(super) fn credentials(id: &str) -> String {
    key(&["credentials:", id])
}

pub(super) fn accounts() -> String {
    key(&["accounts"])
}

/// Scripts append the channel to this prefix.
pub(super) fn channel_accounts_prefix() -> String {
    key(&["channel-accounts:"])
}

pub(super) fn channel_accounts(channel: &str) -> String {
    key(&["channel-accounts:", channel])
}

pub(super) fn models() -> String {
    key(&["models"])
}

pub(super) fn models_seeded() -> String {
    key(&["models:seeded"])
}

/// Scripts append the id to this prefix.
pub(super) fn api_key_prefix() -> String {
    key(&["apikey:"])
}

pub(super) fn api_key(id: &str) -> String {
    key(&["apikey:", id])
}

pub(super) fn api_keys() -> String {
    key(&["apikeys"])
}

/// Scripts append the hash to this prefix.
pub(super) fn api_key_hash_prefix() -> String {
    key(&["apikey-hash:"])
}

pub(super) fn api_key_hash(hash: &str) -> String {
    key(&["apikey-hash:", hash])
}

pub(super) fn api_key_usage(id: &str) -> String {
    key(&["apikey-usage:", id])
}

/// Scripts append the window start (server ms) to this prefix.
pub(super) fn rate_prefix(bucket: &str) -> String {
    key(&["rate:", bucket, ":"])
}

pub(super) fn lease(account: &str) -> String {
    key(&["lease:", account])
}

pub(super) fn pool_state(account: &str) -> String {
    key(&["poolstate:", account])
}

pub(super) fn setting(name: &str) -> String {
    key(&["setting:", name])
}

pub(super) fn session(hash: &str) -> String {
    key(&["session:", hash])
}
