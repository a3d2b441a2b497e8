//! Plugin grants: what the operator allows one plugin to reach and consume.

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;

const DEFAULT_MEMORY_MB: u64 = 64;
const DEFAULT_CPU_MS_PER_CALL: u64 = 1_000;
const DEFAULT_TIMEOUT_SECS: u64 = 60;
const DEFAULT_MAX_REQUEST_BYTES: u64 = 16 * 1024 * 1024;
const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;
const DEFAULT_MAX_OUTPUT_BYTES: u64 = 32 * 1024 * 1024;
const DEFAULT_MAX_INSTANCES: u64 = 64;
const DEFAULT_KV_MAX_KEYS: u64 = 10_000;
const DEFAULT_KV_MAX_VALUE_BYTES: u64 = 64 * 1024;
const DEFAULT_MAX_CONNECTIONS: u64 = 16;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawGrants {
    allowed_hosts: Vec<String>,
    memory_mb: Option<u64>,
    cpu_ms_per_call: Option<u64>,
    timeout_secs: Option<u64>,
    max_request_bytes: Option<u64>,
    max_response_bytes: Option<u64>,
    max_output_bytes: Option<u64>,
    max_instances: Option<u64>,
    max_connections: Option<u64>,
    kv_max_keys: Option<u64>,
    kv_max_value_bytes: Option<u64>,
}

/// Limits and capabilities of one plugin, checked by the host on every import call.
#[derive(Debug, Clone)]
pub struct PluginGrants {
    /// Outbound destinations (HTTP and WebSocket). Nothing else is reachable.
    pub allowed_hosts: Vec<HostPattern>,
    /// Linear-memory cap of one instance.
    pub memory_bytes: usize,
    /// WASM execution time allowed per export call (time waiting on host I/O is not counted).
    pub cpu_per_call: Duration,
    /// Limit for one outbound exchange's head, and idle limit for each body read.
    pub timeout: Duration,
    pub max_request_bytes: u64,
    /// Cap on one upstream response body (HTTP) or message total (WebSocket).
    pub max_response_bytes: u64,
    /// Cap on the event bytes one chat response may produce.
    pub max_output_bytes: u64,
    /// Concurrent live instances of this plugin.
    pub max_instances: usize,
    /// Concurrent outbound HTTP requests and WebSockets of one instance.
    pub max_connections: usize,
    pub kv_max_keys: u64,
    pub kv_max_value_bytes: u64,
}

impl PluginGrants {
    pub(super) fn from_raw(key: &str, raw: RawGrants, errors: &mut Vec<String>) -> Self {
        let mut allowed_hosts = Vec::new();
        for (i, pattern) in raw.allowed_hosts.iter().enumerate() {
            match HostPattern::parse(pattern) {
                Ok(p) => allowed_hosts.push(p),
                Err(why) => errors.push(format!("{key}.allowed_hosts[{i}]: `{pattern}`: {why}")),
            }
        }
        let mut num = |name: &str, v: Option<u64>, default: u64| {
            let v = v.unwrap_or(default);
            if v == 0 {
                errors.push(format!("{key}.{name}: must be greater than zero"));
            }
            v.max(1)
        };
        let memory_mb = num("memory_mb", raw.memory_mb, DEFAULT_MEMORY_MB);
        let grants = PluginGrants {
            allowed_hosts,
            memory_bytes: (memory_mb.min(4096) * 1024 * 1024) as usize,
            cpu_per_call: Duration::from_millis(num(
                "cpu_ms_per_call",
                raw.cpu_ms_per_call,
                DEFAULT_CPU_MS_PER_CALL,
            )),
            timeout: Duration::from_secs(num("timeout_secs", raw.timeout_secs, DEFAULT_TIMEOUT_SECS)),
            max_request_bytes: num(
                "max_request_bytes",
                raw.max_request_bytes,
                DEFAULT_MAX_REQUEST_BYTES,
            ),
            max_response_bytes: num(
                "max_response_bytes",
                raw.max_response_bytes,
                DEFAULT_MAX_RESPONSE_BYTES,
            ),
            max_output_bytes: num("max_output_bytes", raw.max_output_bytes, DEFAULT_MAX_OUTPUT_BYTES),
            max_instances: num("max_instances", raw.max_instances, DEFAULT_MAX_INSTANCES) as usize,
            max_connections: num("max_connections", raw.max_connections, DEFAULT_MAX_CONNECTIONS) as usize,
            kv_max_keys: num("kv_max_keys", raw.kv_max_keys, DEFAULT_KV_MAX_KEYS),
            kv_max_value_bytes: num(
                "kv_max_value_bytes",
                raw.kv_max_value_bytes,
                DEFAULT_KV_MAX_VALUE_BYTES,
            ),
        };
        if memory_mb > 4096 {
            errors.push(format!("{key}.memory_mb: at most 4096"));
        }
        grants
    }

    /// Whether `url` (already parsed) may be reached under these grants. Names are checked
    /// here; the addresses they resolve to are checked by the host's resolver, which refuses
    /// non-public addresses for every name except `localhost`.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.allowed_hosts.iter().any(|p| p.matches(scheme, host, port))
    }
}

/// `scheme://host[:port]`: host is a name, `*.suffix`, `localhost` or an IP literal; port is
/// a number or `*` (omitted = the scheme's default port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    /// As the operator wrote it (for listings).
    pub text: String,
    scheme: String,
    host: HostMatch,
    /// `None` = any port.
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Exact(String),
    /// `*.example.com` matches `a.example.com` and `a.b.example.com`, not `example.com`.
    Suffix(String),
    Ip(IpAddr),
}

impl HostPattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (scheme, rest) = text.split_once("://").ok_or("expected scheme://host[:port]")?;
        let scheme = scheme.to_ascii_lowercase();
        if !matches!(scheme.as_str(), "http" | "https" | "ws" | "wss") {
            return Err(format!("scheme `{scheme}` is not one of http, https, ws, wss"));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('@') || rest.contains('?') {
            return Err("only scheme, host and port are allowed (no path, user or query)".into());
        }
        let (host, port) = split_host_port(rest)?;
        let port = match port {
            None => Some(default_port(&scheme)),
            Some("*") => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| format!("bad port `{p}`"))?),
        };
        let host = if let Ok(ip) = host.parse::<IpAddr>() {
            HostMatch::Ip(ip)
        } else if let Some(suffix) = host.strip_prefix("*.") {
            if !valid_dns_name(suffix) {
                return Err(format!("bad host `{host}`"));
            }
            HostMatch::Suffix(suffix.to_ascii_lowercase())
        } else {
            if !valid_dns_name(host) {
                return Err(format!("bad host `{host}`"));
            }
            HostMatch::Exact(host.to_ascii_lowercase())
        };
        Ok(HostPattern {
            text: text.to_owned(),
            scheme,
            host,
            port,
        })
    }

    pub fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        if !self.scheme.eq_ignore_ascii_case(scheme) || self.port.is_some_and(|p| p != port) {
            return false;
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match &self.host {
            HostMatch::Ip(ip) => host.parse::<IpAddr>().is_ok_and(|h| h == *ip),
            HostMatch::Exact(name) => host.eq_ignore_ascii_case(name),
            HostMatch::Suffix(suffix) => {
                let host = host.to_ascii_lowercase();
                host.len() > suffix.len() + 1
                    && host.ends_with(suffix.as_str())
                    && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
            }
        }
    }
}

pub fn default_port(scheme: &str) -> u16 {
    match scheme {
        "http" | "ws" => 80,
        _ => 443,
    }
}

fn split_host_port(s: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("unclosed `[`")?;
        return match after {
            "" => Ok((host, None)),
            p => Ok((host, Some(p.strip_prefix(':').ok_or("junk after `]`")?))),
        };
    }
    match s.rsplit_once(':') {
        Some((h, p)) => Ok((h, Some(p))),
        None => Ok((s, None)),
    }
}

fn valid_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}
