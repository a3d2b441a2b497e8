//! Settings changed through the admin API (`/api/config`): kept in the store and applied live on
//! every instance. The file stays authoritative for what needs a restart (listen address, store,
//! admin credentials, plugin files and grants); only pool policy and plugin configuration are
//! live, as overrides on top of the file.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{Config, PoolConfig};
use crate::store::{Store, StoreError};

/// Setting holding the JSON `Overrides`.
const SETTING: &str = "runtime-config";
/// How often an instance looks for changes made by another one.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(500);
/// Compare-and-set rounds an unversioned update tries before reporting a conflict.
const MAX_SWAP_ATTEMPTS: usize = 20;
const REDACTED: &str = "<redacted>";

/// What the admin API changed, on top of the file config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// Bumped by every update; 0 while nothing was ever changed.
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub updated_at_ms: u64,
    #[serde(default)]
    pub pool: PoolOverrides,
    /// Plugin → configuration key → value, merged over the plugin's `config` table.
    #[serde(default)]
    pub plugins: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_cooldown_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_cooldown_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transient_cooldown_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_ttl_secs: Option<u64>,
}

/// Why an update was refused.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("{0}")]
    Invalid(String),
    #[error("the config changed meanwhile (now at version {current}); reload and retry")]
    Conflict { current: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The file config's live parts and the overrides in force on this instance.
pub struct LiveSettings {
    base_pool: PoolConfig,
    base_plugins: BTreeMap<String, HashMap<String, String>>,
    current: ArcSwap<Overrides>,
    store: Store,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Configuration keys whose values are shown as `<redacted>`: any whose name has a word like
/// `key`, `token` or `password` (`api_key`, `session_cookie`; not `max_tokens_field`).
pub fn is_secret_key(key: &str) -> bool {
    const WORDS: [&str; 16] = [
        "key",
        "apikey",
        "token",
        "secret",
        "password",
        "passwd",
        "pass",
        "cookie",
        "cookies",
        "credential",
        "credentials",
        "auth",
        "authorization",
        "session",
        "bearer",
        "jwt",
    ];
    key.to_ascii_lowercase()
        .split(['_', '-', '.'])
        .any(|w| WORDS.contains(&w))
}

fn redact_map<'a>(map: impl IntoIterator<Item = (&'a String, &'a String)>) -> BTreeMap<String, String> {
    map.into_iter()
        .map(|(k, v)| {
            let shown = if is_secret_key(k) {
                REDACTED.to_owned()
            } else {
                v.clone()
            };
            (k.clone(), shown)
        })
        .collect()
}

/// RFC 7396 JSON merge patch: objects merge key by key, `null` removes, anything else replaces.
fn merge_patch(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(&k);
                } else {
                    merge_patch(t.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p,
    }
}

// === impl LiveSettings ===

impl LiveSettings {
    pub fn new(config: &Config, store: Store) -> Self {
        LiveSettings {
            base_pool: config.pool.clone(),
            base_plugins: config
                .plugins
                .iter()
                .map(|(name, p)| (name.clone(), p.config.clone()))
                .collect(),
            current: ArcSwap::from_pointee(Overrides::default()),
            store,
        }
    }

    pub fn current(&self) -> Arc<Overrides> {
        self.current.load_full()
    }

    /// Reads the stored overrides; returns them when they differ from those in force (the
    /// caller applies them), `None` when nothing changed.
    pub async fn refresh(&self) -> Result<Option<Arc<Overrides>>, StoreError> {
        let stored = self.read().await?.1;
        if *self.current.load_full() == stored {
            return Ok(None);
        }
        let stored = Arc::new(stored);
        self.current.store(stored.clone());
        Ok(Some(stored))
    }

    async fn read(&self) -> Result<(Option<String>, Overrides), StoreError> {
        let raw = self.store.setting_get(SETTING).await?;
        let overrides = match &raw {
            Some(json) => serde_json::from_str(json)
                .map_err(|e| StoreError::Corrupt(format!("stored runtime config: {e}")))?,
            None => Overrides::default(),
        };
        Ok((raw, overrides))
    }

    /// Applies a merge patch (`null` restores the file's value) after validating the result;
    /// with `version` in the patch, refuses unless the stored config is at that version.
    pub async fn update(&self, mut patch: Value) -> Result<Arc<Overrides>, UpdateError> {
        let expected = match patch.as_object_mut().map(|p| p.remove("version")) {
            None => return Err(UpdateError::Invalid("the body must be a JSON object".into())),
            Some(None | Some(Value::Null)) => None,
            Some(Some(v)) => Some(
                v.as_u64()
                    .ok_or_else(|| UpdateError::Invalid("`version` must be a number".into()))?,
            ),
        };
        self.swap_in(expected, |current| {
            let mut doc = serde_json::to_value(current).map_err(|e| UpdateError::Invalid(e.to_string()))?;
            merge_patch(&mut doc, patch.clone());
            serde_json::from_value(doc).map_err(|e| UpdateError::Invalid(format!("invalid config: {e}")))
        })
        .await
    }

    /// Replaces the overrides as a whole (an import), as a new version.
    pub async fn replace(&self, overrides: Overrides) -> Result<Arc<Overrides>, UpdateError> {
        self.swap_in(None, |_| Ok(overrides.clone())).await
    }

    /// Builds the next overrides from the stored ones, validates them and writes them with a
    /// compare-and-set, retrying lost races unless the caller asked for a specific version.
    async fn swap_in(
        &self,
        expected: Option<u64>,
        build: impl Fn(&Overrides) -> Result<Overrides, UpdateError>,
    ) -> Result<Arc<Overrides>, UpdateError> {
        for _ in 0..MAX_SWAP_ATTEMPTS {
            let (raw, current) = self.read().await?;
            if expected.is_some_and(|v| v != current.version) {
                return Err(UpdateError::Conflict {
                    current: current.version,
                });
            }
            let mut next = build(&current)?;
            self.validate(&next)?;
            next.version = current.version + 1;
            next.updated_at_ms = now_ms();
            let json = serde_json::to_string(&next).map_err(|e| UpdateError::Invalid(e.to_string()))?;
            if self.store.setting_swap(SETTING, raw.as_deref(), &json).await? {
                let next = Arc::new(next);
                self.current.store(next.clone());
                return Ok(next);
            }
            if expected.is_some() {
                // Someone else's update landed between our read and our write.
                let now = self.read().await?.1.version;
                return Err(UpdateError::Conflict { current: now });
            }
        }
        Err(UpdateError::Conflict {
            current: self.read().await?.1.version,
        })
    }

    /// Checks overrides against the file config (plugins exist, limits are positive).
    pub fn validate(&self, o: &Overrides) -> Result<(), UpdateError> {
        let p = &o.pool;
        let zero = [
            ("pool.max_attempts", p.max_attempts.map(u64::from)),
            ("pool.lease_ttl_secs", p.lease_ttl_secs),
        ]
        .into_iter()
        .find(|(_, v)| *v == Some(0));
        if let Some((key, _)) = zero {
            return Err(UpdateError::Invalid(format!("{key}: must be greater than zero")));
        }
        if let Some(name) = o.plugins.keys().find(|n| !self.base_plugins.contains_key(*n)) {
            return Err(UpdateError::Invalid(format!(
                "plugins.{name}: no such plugin in the config file"
            )));
        }
        Ok(())
    }

    /// Pool policy with the overrides applied.
    pub fn pool(&self, o: &Overrides) -> PoolConfig {
        let (b, p) = (&self.base_pool, &o.pool);
        let secs = |v: Option<u64>, d: Duration| v.map_or(d, Duration::from_secs);
        PoolConfig {
            max_attempts: p.max_attempts.unwrap_or(b.max_attempts),
            rate_limit_cooldown: secs(p.rate_limit_cooldown_secs, b.rate_limit_cooldown),
            quota_cooldown: secs(p.quota_cooldown_secs, b.quota_cooldown),
            transient_cooldown: secs(p.transient_cooldown_secs, b.transient_cooldown),
            lease_ttl: secs(p.lease_ttl_secs, b.lease_ttl),
        }
    }

    /// Each plugin's configuration with the overrides applied.
    pub fn plugin_configs(&self, o: &Overrides) -> BTreeMap<String, HashMap<String, String>> {
        self.base_plugins
            .iter()
            .map(|(name, base)| {
                let mut merged = base.clone();
                if let Some(extra) = o.plugins.get(name) {
                    merged.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                (name.clone(), merged)
            })
            .collect()
    }

    /// What `GET /api/config` shows: live settings in force, the overrides, and the settings
    /// that need a restart. Secrets are never shown.
    pub fn view(&self, config: &Config) -> Value {
        let o = self.current();
        let pool = self.pool(&o);
        let plugins: BTreeMap<String, BTreeMap<String, String>> = self
            .plugin_configs(&o)
            .iter()
            .map(|(name, c)| (name.clone(), redact_map(c)))
            .collect();
        let overridden: BTreeMap<String, BTreeMap<String, String>> = o
            .plugins
            .iter()
            .map(|(name, c)| (name.clone(), redact_map(c)))
            .collect();
        let s = &config.server;
        json!({
            "version": o.version,
            "updated_at_ms": o.updated_at_ms,
            "live": {
                "pool": {
                    "max_attempts": pool.max_attempts,
                    "rate_limit_cooldown_secs": pool.rate_limit_cooldown.as_secs(),
                    "quota_cooldown_secs": pool.quota_cooldown.as_secs(),
                    "transient_cooldown_secs": pool.transient_cooldown.as_secs(),
                    "lease_ttl_secs": pool.lease_ttl.as_secs(),
                },
                "plugins": plugins,
            },
            "overrides": {"pool": o.pool, "plugins": overridden},
            "restart_required": {
                "server": {
                    "listen": s.listen.to_string(),
                    "request_timeout_secs": s.request_timeout.as_secs(),
                    "max_body_bytes": s.max_body_bytes,
                    "shutdown_grace_secs": s.shutdown_grace.as_secs(),
                    "keepalive_secs": s.keepalive.as_secs(),
                    "metrics_token": config.server.metrics_token.as_ref().map(|_| REDACTED),
                },
                "store": {
                    "backend": if config.store.redis_url.is_some() { "redis" } else { "embedded" },
                    "redis_url": config.store.redis_url.as_deref().map(crate::store::redacted_url),
                    "data_dir": config.store.data_dir.display().to_string(),
                },
                "admin": {
                    "token": config.admin.token.as_ref().map(|_| REDACTED),
                    "password": if config.admin.password.is_some() { "configured" } else { "generated at first start" },
                    "session_ttl_secs": config.admin.session_ttl.as_secs(),
                    "max_login_failures_per_minute": config.admin.max_login_failures_per_minute,
                    "cookie_secure": config.admin.cookie_secure,
                },
                "runtime": {
                    "plugin_dir": config.runtime.plugin_dir.display().to_string(),
                    "max_total_instances": config.runtime.max_total_instances,
                    "watch": config.runtime.watch,
                },
                "plugins": config.plugins.values().map(|p| (p.name.clone(), json!({
                    "component": p.component.display().to_string(),
                    "allowed_hosts": p.grants.allowed_hosts.iter().map(|h| h.text.clone()).collect::<Vec<_>>(),
                }))).collect::<serde_json::Map<_, _>>(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_recognised_by_word() {
        for k in [
            "api_key",
            "API-KEY",
            "session_cookie",
            "upstream_token",
            "proxy_pass",
            "auth",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in ["base_url", "max_tokens_field", "model", "keyboard", "passthrough"] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge_patch(&mut doc, json!({"a": null, "b": {"c": 5}, "e": [1]}));
        assert_eq!(doc, json!({"b": {"c": 5, "d": 3}, "e": [1]}));
    }
}
