//! Public API keys: generation, hashing and the checks a request's key must pass.
//!
//! Keys are shown once at creation; the store keeps only their SHA-256 and a preview. A key is
//! high-entropy random text, so a fast hash is the right tool (no password stretching needed),
//! and lookups by hash never compare secrets byte by byte.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
