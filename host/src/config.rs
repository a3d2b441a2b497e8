//! Gateway configuration: TOML file → environment overrides → validated, immutable `Config`.

mod grants;
#[cfg(test)]
mod tests;

pub use grants::{HostPattern, PluginGrants, default_port};

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Prefix of environment variables that override config keys: `GATEWAY__SERVER__LISTEN=…`.
pub const ENV_PREFIX: &str = "GATEWAY__";
/// Prefix marking a value as a reference to an environment variable: `"env::NAME"`.
pub const SECRET_PREFIX: &str = "env::";

const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 600;
const DEFAULT_MAX_BODY_BYTES: usize = 50 * 1024 * 1024;
const DEFAULT_SHUTDOWN_GRACE_SECS: u64 = 30;
const DEFAULT_MAX_TOTAL_INSTANCES: u32 = 1000;
const DEFAULT_KEEPALIVE_SECS: u64 = 15;
const DEFAULT_SESSION_TTL_SECS: u64 = 12 * 3600;

/// Everything the gateway needs to start; built once, then shared read-only.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub pool: PoolConfig,
    pub store: StoreConfig,
    pub admin: AdminConfig,
    pub runtime: RuntimeConfig,
    /// Plugins by channel name, in name order.
    pub plugins: BTreeMap<String, PluginConfig>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    pub shutdown_grace: Duration,
    /// Upstream silence after which a stream gets a keep-alive (`ping` / `: keep-alive`).
    pub keepalive: Duration,
    /// When set, `/metrics` requires `Authorization: Bearer <metrics_token>`.
    pub metrics_token: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` is believed when naming the client (the key of
    /// the failed-login limiter). Empty: the connection's peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// Failover and cooldown policy of the account pool.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Accounts one request may try before giving up.
    pub max_attempts: u32,
    /// Cooldown after a rate limit that came without a retry-after.
    pub rate_limit_cooldown: Duration,
    /// Cooldown after quota exhaustion without a reset time.
    pub quota_cooldown: Duration,
    /// Cooldown after a transient failure (network, 5xx).
    pub transient_cooldown: Duration,
    /// How long a lease outlives its holder's last renewal (held leases renew every third of
    /// it), so a crashed instance's capacity comes back after at most this long.
    pub lease_ttl: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_attempts: 3,
            rate_limit_cooldown: Duration::from_secs(60),
            quota_cooldown: Duration::from_secs(3600),
            transient_cooldown: Duration::from_secs(5),
            lease_ttl: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    pub redis_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Static admin token accepted as `Authorization: Bearer` / `X-Admin-Token`.
    pub token: Option<String>,
    /// Admin password (login, Basic auth). Without one, a password is generated at first start,
    /// stored hashed and shown once.
    pub password: Option<String>,
    pub session_ttl: Duration,
    /// Failed password attempts allowed per client address and minute.
    pub max_login_failures_per_minute: u32,
    /// Mark the session cookie `Secure` (when served over HTTPS, e.g. behind a TLS proxy).
    pub cookie_secure: bool,
}

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Directory holding component files; watched for hot reload.
    pub plugin_dir: PathBuf,
    /// Where compiled artefacts are cached between restarts.
    pub cache_dir: PathBuf,
    /// Upper bound on simultaneously live plugin instances across all plugins (pool size).
    pub max_total_instances: u32,
    pub watch: bool,
}

#[derive(Debug, Clone)]
pub struct PluginConfig {
    pub name: String,
    /// Absolute path of the component file.
    pub component: PathBuf,
    pub grants: PluginGrants,
    /// Operator configuration handed to the plugin through the `config` import; secrets resolved.
    pub config: HashMap<String, String>,
}

/// Every problem found in a config, reported together.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config is not valid TOML: {0}")]
    Syntax(String),
    #[error("invalid config:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

// === raw (as written) ===

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    server: RawServer,
    pool: RawPool,
    store: RawStore,
    admin: RawAdmin,
    runtime: RawRuntime,
    plugins: BTreeMap<String, RawPlugin>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawServer {
    listen: Option<String>,
    request_timeout_secs: Option<u64>,
    max_body_bytes: Option<usize>,
    shutdown_grace_secs: Option<u64>,
    keepalive_secs: Option<u64>,
    metrics_token: Option<String>,
    trusted_proxies: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPool {
    max_attempts: Option<u32>,
    rate_limit_cooldown_secs: Option<u64>,
    quota_cooldown_secs: Option<u64>,
    transient_cooldown_secs: Option<u64>,
    lease_ttl_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStore {
    data_dir: Option<String>,
    redis_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAdmin {
    token: Option<String>,
    password: Option<String>,
    session_ttl_secs: Option<u64>,
    max_login_failures_per_minute: Option<u32>,
    cookie_secure: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRuntime {
    plugin_dir: Option<String>,
    cache_dir: Option<String>,
    max_total_instances: Option<u32>,
    watch: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    component: String,
    #[serde(default)]
    grants: grants::RawGrants,
    #[serde(default)]
    config: BTreeMap<String, toml::Value>,
}

// === impl Config ===

impl Config {
    /// Loads `path`, applying `GATEWAY__…` overrides from the process environment.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = config_dir(path);
        let env: HashMap<String, String> = std::env::vars().collect();
        Self::parse(&text, &base, &env)
    }

    /// Parses config text. Relative paths resolve against `base` (the config file's directory),
    /// so the gateway runs the same from any working directory. `env` supplies overrides and
    /// secrets; tests pass a map instead of touching the process environment.
    pub fn parse(text: &str, base: &Path, env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut value: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        apply_env_overrides(&mut value, env)?;
        let raw: RawConfig = toml::Value::Table(value)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(vec![e.message().to_owned()]))?;
        let mut errors = Vec::new();
        let config = validate(raw, base, env, &mut errors);
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid(errors))
        }
    }
}

fn validate(raw: RawConfig, base: &Path, env: &HashMap<String, String>, errors: &mut Vec<String>) -> Config {
    let listen_text = raw.server.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let listen = listen_text.parse().unwrap_or_else(|_| {
        errors.push(format!(
            "server.listen: `{listen_text}` is not an address like 127.0.0.1:8080"
        ));
        SocketAddr::from(([127, 0, 0, 1], 8080))
    });
    let server = ServerConfig {
        listen,
        request_timeout: Duration::from_secs(positive(
            "server.request_timeout_secs",
            raw.server
                .request_timeout_secs
                .unwrap_or(DEFAULT_REQUEST_TIMEOUT_SECS),
            errors,
        )),
        max_body_bytes: positive(
            "server.max_body_bytes",
            raw.server.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES) as u64,
            errors,
        ) as usize,
        shutdown_grace: Duration::from_secs(
            raw.server
                .shutdown_grace_secs
                .unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECS),
        ),
        keepalive: Duration::from_secs(positive(
            "server.keepalive_secs",
            raw.server.keepalive_secs.unwrap_or(DEFAULT_KEEPALIVE_SECS),
            errors,
        )),
        metrics_token: raw
            .server
            .metrics_token
            .and_then(|v| resolve_secret("server.metrics_token", &v, env, errors))
            .filter(|v| !v.is_empty()),
        trusted_proxies: raw
            .server
            .trusted_proxies
            .unwrap_or_default()
            .iter()
            .filter_map(|text| {
                let net = text
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
                net.map_err(|_| {
                    errors.push(format!(
                        "server.trusted_proxies: `{text}` is not an address or CIDR range"
                    ));
                })
                .ok()
            })
            .collect(),
    };

    let d = PoolConfig::default();
    let secs = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_secs);
    let pool = PoolConfig {
        max_attempts: positive(
            "pool.max_attempts",
            u64::from(raw.pool.max_attempts.unwrap_or(d.max_attempts)),
            errors,
        ) as u32,
        rate_limit_cooldown: secs(raw.pool.rate_limit_cooldown_secs, d.rate_limit_cooldown),
        quota_cooldown: secs(raw.pool.quota_cooldown_secs, d.quota_cooldown),
        transient_cooldown: secs(raw.pool.transient_cooldown_secs, d.transient_cooldown),
        lease_ttl: Duration::from_secs(positive(
            "pool.lease_ttl_secs",
            raw.pool.lease_ttl_secs.unwrap_or(d.lease_ttl.as_secs()),
            errors,
        )),
    };

    let data_dir = resolve_path(base, raw.store.data_dir.as_deref().unwrap_or("data"));
    let store = StoreConfig {
        data_dir: data_dir.clone(),
        redis_url: raw
            .store
            .redis_url
            .and_then(|v| resolve_secret("store.redis_url", &v, env, errors))
            .filter(|v| !v.is_empty()),
    };
    let admin = AdminConfig {
        token: raw
            .admin
            .token
            .and_then(|v| resolve_secret("admin.token", &v, env, errors))
            .filter(|v| !v.is_empty()),
        password: raw
            .admin
            .password
            .and_then(|v| resolve_secret("admin.password", &v, env, errors))
            .filter(|v| !v.is_empty()),
        session_ttl: Duration::from_secs(positive(
            "admin.session_ttl_secs",
            raw.admin.session_ttl_secs.unwrap_or(DEFAULT_SESSION_TTL_SECS),
            errors,
        )),
        max_login_failures_per_minute: positive(
            "admin.max_login_failures_per_minute",
            u64::from(raw.admin.max_login_failures_per_minute.unwrap_or(5)),
            errors,
        ) as u32,
        cookie_secure: raw.admin.cookie_secure.unwrap_or(false),
    };
    if let Some(token) = &admin.token
        && token.len() < 16
    {
        errors.push("admin.token: must be at least 16 characters".to_owned());
    }
    if let Some(password) = &admin.password
        && password.chars().count() < crate::admin_auth::MIN_PASSWORD_CHARS
    {
        errors.push(format!(
            "admin.password: must be at least {} characters",
            crate::admin_auth::MIN_PASSWORD_CHARS
        ));
    }

    let plugin_dir = resolve_path(base, raw.runtime.plugin_dir.as_deref().unwrap_or("plugins"));
    let runtime = RuntimeConfig {
        cache_dir: raw
            .runtime
            .cache_dir
            .map(|d| resolve_path(base, &d))
            .unwrap_or_else(|| data_dir.join("wasm-cache")),
        plugin_dir: plugin_dir.clone(),
        max_total_instances: positive(
            "runtime.max_total_instances",
            u64::from(
                raw.runtime
                    .max_total_instances
                    .unwrap_or(DEFAULT_MAX_TOTAL_INSTANCES),
            ),
            errors,
        ) as u32,
        watch: raw.runtime.watch.unwrap_or(true),
    };

    let mut plugins = BTreeMap::new();
    for (name, p) in raw.plugins {
        let key = format!("plugins.{name}");
        if !valid_channel_name(&name) {
            errors.push(format!("{key}: plugin names must match [a-z0-9-]{{1,32}}"));
        }
        let component = resolve_path(&plugin_dir, &p.component);
        if !component.is_file() {
            errors.push(format!(
                "{key}.component: file {} does not exist",
                component.display()
            ));
        }
        let grants = PluginGrants::from_raw(&format!("{key}.grants"), p.grants, errors);
        let mut config = HashMap::new();
        for (k, v) in p.config {
            let text = match v {
                toml::Value::String(s) => s,
                other => other.to_string(),
            };
            if let Some(resolved) = resolve_secret(&format!("{key}.config.{k}"), &text, env, errors) {
                config.insert(k, resolved);
            }
        }
        plugins.insert(
            name.clone(),
            PluginConfig {
                name,
                component,
                grants,
                config,
            },
        );
    }

    Config {
        server,
        pool,
        store,
        admin,
        runtime,
        plugins,
    }
}

fn positive(key: &str, value: u64, errors: &mut Vec<String>) -> u64 {
    if value == 0 {
        errors.push(format!("{key}: must be greater than zero"));
        1
    } else {
        value
    }
}

/// Channel names become URL path segments and metric labels, so keep them boring.
pub fn valid_channel_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The absolute directory of the config file, which relative paths in it resolve against. A bare
/// file name (`--config gateway.toml`) has the empty path as parent: that is the working directory.
fn config_dir(path: &Path) -> PathBuf {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::canonicalize(dir)
        .or_else(|_| std::path::absolute(dir))
        .unwrap_or_else(|_| dir.to_owned())
}

fn resolve_path(base: &Path, p: &str) -> PathBuf {
    let path = Path::new(p);
    if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    }
}

/// `"env::NAME"` → the variable's value; a missing variable is an error naming the key.
fn resolve_secret(
    key: &str,
    value: &str,
    env: &HashMap<String, String>,
    errors: &mut Vec<String>,
) -> Option<String> {
    match value.strip_prefix(SECRET_PREFIX) {
        None => Some(value.to_owned()),
        Some(var) => match env.get(var) {
            Some(v) => Some(v.clone()),
            None => {
                errors.push(format!("{key}: environment variable {var} is not set"));
                None
            }
        },
    }
}

/// `GATEWAY__A__B=v` sets `a.b = v`. The value is read as a TOML literal when it parses as one
/// (numbers, booleans, arrays), else as a string.
fn apply_env_overrides(table: &mut toml::Table, env: &HashMap<String, String>) -> Result<(), ConfigError> {
    let mut keys: Vec<_> = env.keys().filter(|k| k.starts_with(ENV_PREFIX)).collect();
    keys.sort();
    for var in keys {
        let path: Vec<String> = var[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::Invalid(vec![format!(
                "{var}: malformed override name"
            )]));
        }
        let raw = &env[var];
        let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.clone()));
        let mut cursor = &mut *table;
        for segment in &path[..path.len() - 1] {
            let entry = cursor
                .entry(segment.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            cursor = match entry {
                toml::Value::Table(t) => t,
                _ => {
                    return Err(ConfigError::Invalid(vec![format!(
                        "{var}: `{segment}` is not a section"
                    )]));
                }
            };
        }
        cursor.insert(path[path.len() - 1].clone(), value);
    }
    Ok(())
}
