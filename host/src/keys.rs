//! Public API keys: generation, hashing and the checks a request's key must pass.
//!
//! Keys are shown once at creation; the store keeps only their SHA-256 and a preview. A key is
//! high-entropy random text, so a fast hash is the right tool (no password stretching needed),
//! and lookups by hash never compare secrets byte by byte.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long "are there any keys?" is cached. Bounds how long another instance may serve in
/// open mode after the first key is created elsewhere.
const OPEN_MODE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// Cached answer to "does the store hold any key?", so open mode costs no store call per request.
#[derive(Default)]
pub struct KeyPresence {
    cached: std::sync::Mutex<Option<(std::time::Instant, bool)>>,
}

impl KeyPresence {
    /// Forgets the cached answer (after a key is created or deleted on this instance).
    pub fn invalidate(&self) {
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub async fn any(&self, store: &crate::store::Store) -> Result<bool, crate::store::StoreError> {
        if let Some((at, any)) = *self.cached.lock().unwrap_or_else(|e| e.into_inner())
            && at.elapsed() < OPEN_MODE_TTL
        {
            return Ok(any);
        }
        let any = store.has_keys().await?;
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some((std::time::Instant::now(), any));
        Ok(any)
    }
}

/// Every key starts with this, so leaked keys are recognisable by secret scanners.
pub const KEY_PREFIX: &str = "gwk-";

/// One API key as stored (never the key itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    /// Hex SHA-256 of the full key.
    pub hash: String,
    /// `gwk-abcd…wxyz`: enough to recognise a key, useless to an attacker.
    pub preview: String,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Channels this key may use; empty = all.
    #[serde(default)]
    pub allowed_channels: Vec<String>,
    /// Model ids this key may use; empty = all.
    #[serde(default)]
    pub allowed_models: Vec<String>,
    /// Requests per minute; `None` = unlimited.
    #[serde(default)]
    pub rate_limit_per_min: Option<u32>,
    pub created_at_ms: u64,
    #[serde(default)]
    pub version: u64,
}

fn default_true() -> bool {
    true
}

/// A partial key edit: only the fields that are `Some` change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPatch {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub allowed_channels: Option<Vec<String>>,
    pub allowed_models: Option<Vec<String>>,
    /// `Some(None)` removes the limit.
    #[serde(default, with = "double_option")]
    pub rate_limit_per_min: Option<Option<u32>>,
}

impl KeyPatch {
    /// Applies the `Some` fields to `key`; the store owns the version and bumps it itself.
    pub fn apply(&self, key: &mut ApiKey) {
        if let Some(name) = &self.name {
            key.name.clone_from(name);
        }
        if let Some(enabled) = self.enabled {
            key.enabled = enabled;
        }
        if let Some(channels) = &self.allowed_channels {
            key.allowed_channels.clone_from(channels);
        }
        if let Some(models) = &self.allowed_models {
            key.allowed_models.clone_from(models);
        }
        if let Some(limit) = self.rate_limit_per_min {
            key.rate_limit_per_min = limit;
        }
    }
}

/// Usage counters of a key, kept apart from the record so edits never reset them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyUsage {
    pub requests: u64,
    pub last_used_ms: Option<u64>,
}

/// Distinguishes an absent field (leave as is) from `null` (clear it).
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<Option<u32>>, s: S) -> Result<S::Ok, S::Error> {
        v.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
        Option::<u32>::deserialize(d).map(Some)
    }
}

/// A new random key: `gwk-` + 40 alphanumerics (~238 bits).
pub fn generate() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    format!("{KEY_PREFIX}{}", Alphanumeric.sample_string(&mut rand::rng(), 40))
}

pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

pub fn preview(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 12 {
        return format!("{KEY_PREFIX}…");
    }
    let head: String = chars[..8].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// The key a request presents: `x-api-key`, or `Authorization: Bearer`.
pub fn presented(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        })
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

impl ApiKey {
    /// Whether this key may call `model` on `channel`.
    pub fn allows(&self, channel: &str, model: &str) -> bool {
        (self.allowed_channels.is_empty() || self.allowed_channels.iter().any(|c| c == channel))
            && (self.allowed_models.is_empty() || self.allowed_models.iter().any(|m| m == model))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_prefixed_and_previewed_without_the_secret() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX) && a.len() == KEY_PREFIX.len() + 40);
        let p = preview(&a);
        assert!(p.starts_with(&a[..8]) && p.ends_with(&a[a.len() - 4..]));
        assert!(p.chars().count() < 16);
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
    }

    #[test]
    fn presented_key_comes_from_either_header() {
        let mut h = http::HeaderMap::new();
        assert_eq!(presented(&h), None);
        h.insert("authorization", "Bearer gwk-1".parse().unwrap());
        assert_eq!(presented(&h), Some("gwk-1"));
        h.insert("x-api-key", "gwk-2".parse().unwrap());
        assert_eq!(presented(&h), Some("gwk-2"));
    }
}
