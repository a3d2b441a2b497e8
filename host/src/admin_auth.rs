//! Admin credentials: the static token, the password (configured, or generated once and stored
//! hashed), sessions kept in the store, and a per-client limit on failed password attempts.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::HeaderMap;
use base64::Engine;
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::AdminConfig;
use crate::store::{Store, StoreError};

/// Name of the session cookie set by `/api/login`.
pub const SESSION_COOKIE: &str = "session_token";
/// Setting holding the PHC string of a generated admin password.
const PASSWORD_SETTING: &str = "admin-password";
/// Failed password attempts are counted per client over this window.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
const GENERATED_PASSWORD_LEN: usize = 24;

/// Why an admin request was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing or invalid admin credentials")]
    Invalid,
    #[error("too many failed admin logins from this address; retry in {0:?}")]
    Throttled(Duration),
    #[error("store unavailable: {0}")]
    Store(#[from] StoreError),
}

/// What one gateway accepts as admin credentials.
pub struct AdminAuth {
    store: Store,
    /// SHA-256 of the configured token: comparing digests hides the token's length too.
    token_digest: Option<[u8; 32]>,
    /// PHC string (argon2id) of the admin password.
    password_hash: String,
    /// Digest of the last password that verified. Basic auth sends the password with every
    /// request; this keeps that to one argon2 run instead of one per request.
    verified: Mutex<Option<[u8; 32]>>,
    session_ttl: Duration,
    max_failures: u64,
    cookie_secure: bool,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Argon2id with the crate's default (OWASP-recommended) cost.
fn hash_password(password: &str) -> Result<String, StoreError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Corrupt(format!("cannot hash the admin password: {e}")))
}

// === impl AdminAuth ===

impl AdminAuth {
    /// Sets up admin credentials. Without a configured password, the first instance to start
    /// on a store generates one, stores its hash and returns it (to be shown once); later
    /// starts, and other instances, use the stored hash.
    pub async fn init(
        config: &AdminConfig,
        store: &Store,
    ) -> Result<(AdminAuth, Option<String>), StoreError> {
        let (password_hash, generated) = match &config.password {
            Some(p) => {
                let p = p.clone();
                (blocking(move || hash_password(&p)).await?, None)
            }
            None => match store.setting_get(PASSWORD_SETTING).await? {
                Some(stored) => (stored, None),
                None => {
                    let password = Alphanumeric.sample_string(&mut rand::rng(), GENERATED_PASSWORD_LEN);
                    let p = password.clone();
                    let hash = blocking(move || hash_password(&p)).await?;
                    if store.setting_swap(PASSWORD_SETTING, None, &hash).await? {
                        (hash, Some(password))
                    } else {
                        // Another instance won the race: its password is the one.
                        let stored = store.setting_get(PASSWORD_SETTING).await?;
                        (stored.ok_or(StoreError::NotFound)?, None)
                    }
                }
            },
        };
        PasswordHash::new(&password_hash)
            .map_err(|e| StoreError::Corrupt(format!("stored admin password hash: {e}")))?;
        let auth = AdminAuth {
            store: store.clone(),
            token_digest: config.token.as_deref().map(|t| sha256(t.as_bytes())),
            password_hash,
            verified: Mutex::new(None),
            session_ttl: config.session_ttl,
            max_failures: u64::from(config.max_login_failures_per_minute),
            cookie_secure: config.cookie_secure,
        };
        Ok((auth, generated))
    }

    /// Accepts `X-Admin-Token`, `Authorization: Bearer <token>` (or the bare token), Basic auth
    /// with the admin password (any user name), or a session cookie.
    pub async fn check(&self, headers: &HeaderMap, client: IpAddr) -> Result<(), AuthError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if let Some(token) = header("x-admin-token") {
            return self.check_token(token);
        }
        if let Some(auth) = header("authorization") {
            if let Some(basic) = auth.strip_prefix("Basic ") {
                let password = decode_basic(basic).ok_or(AuthError::Invalid)?;
                return self.check_password(&password, client).await;
            }
            return self.check_token(auth.strip_prefix("Bearer ").unwrap_or(auth).trim());
        }
        if let Some(session) = session_cookie(headers) {
            return match self
                .store
                .session_valid(&hex::encode(sha256(session.as_bytes())))
                .await?
            {
                true => Ok(()),
                false => Err(AuthError::Invalid),
            };
        }
        Err(AuthError::Invalid)
    }

    /// Verifies a password (or the admin token) and opens a session; returns its token.
    pub async fn login(&self, secret: &str, client: IpAddr) -> Result<String, AuthError> {
        if self.check_token(secret).is_err() {
            self.check_password(secret, client).await?;
        }
        let token = hex::encode(rand::random::<[u8; 32]>());
        self.store
            .session_create(&hex::encode(sha256(token.as_bytes())), self.session_ttl)
            .await?;
        Ok(token)
    }

    /// Ends the session whose cookie `headers` carry, if any.
    pub async fn logout(&self, headers: &HeaderMap) -> Result<(), StoreError> {
        match session_cookie(headers) {
            Some(s) => {
                self.store
                    .session_delete(&hex::encode(sha256(s.as_bytes())))
                    .await
            }
            None => Ok(()),
        }
    }

    /// `Set-Cookie` value for a new session.
    pub fn session_cookie(&self, token: &str) -> String {
        let secure = if self.cookie_secure { "; Secure" } else { "" };
        format!(
            "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
            self.session_ttl.as_secs()
        )
    }

    /// `Set-Cookie` value that removes the session cookie.
    pub fn cleared_cookie(&self) -> String {
        format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
    }

    fn check_token(&self, presented: &str) -> Result<(), AuthError> {
        match &self.token_digest {
            Some(expected) if bool::from(sha256(presented.as_bytes()).ct_eq(expected)) => Ok(()),
            _ => Err(AuthError::Invalid),
        }
    }

    /// Checks the password, refusing without checking while the client is over its limit of
    /// failed attempts; each failure counts towards it.
    async fn check_password(&self, password: &str, client: IpAddr) -> Result<(), AuthError> {
        let bucket = format!("admin-login-failures:{client}");
        if self.store.rate_count(&bucket, FAILURE_WINDOW).await? >= self.max_failures {
            return Err(AuthError::Throttled(FAILURE_WINDOW));
        }
        if self.password_matches(password).await {
            return Ok(());
        }
        self.store.rate_hit(&bucket, FAILURE_WINDOW).await?;
        tracing::warn!(%client, "failed admin password attempt");
        Err(AuthError::Invalid)
    }

    async fn password_matches(&self, password: &str) -> bool {
        let digest = sha256(password.as_bytes());
        let cached = *self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if cached.is_some_and(|c| bool::from(c.ct_eq(&digest))) {
            return true;
        }
        let (hash, password) = (self.password_hash.clone(), password.to_owned());
        // Argon2 takes tens of milliseconds of CPU by design: keep it off the request threads.
        let ok = blocking(move || {
            let parsed = PasswordHash::new(&hash).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
        })
        .await
        .unwrap_or(false);
        if ok {
            *self.verified.lock().unwrap_or_else(|e| e.into_inner()) = Some(digest);
        }
        ok
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Unavailable(format!("hashing task failed: {e}")))?
}

/// The password of a Basic credential (the user name is not checked).
fn decode_basic(b64: &str) -> Option<String> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    text.split_once(':').map(|(_, p)| p.to_owned())
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_and_cookies_parse() {
        let b64 = base64::engine::general_purpose::STANDARD.encode("anyone:pa:ss");
        assert_eq!(decode_basic(&b64).as_deref(), Some("pa:ss"));
        assert_eq!(decode_basic("!!!"), None);
        let mut h = HeaderMap::new();
        h.insert("cookie", "a=1; session_token=abc; b=2".parse().unwrap());
        assert_eq!(session_cookie(&h), Some("abc"));
        h.insert("cookie", "session_token_x=1; session_token=".parse().unwrap());
        assert_eq!(session_cookie(&h), None);
    }

    fn admin_config(password: Option<&str>) -> AdminConfig {
        AdminConfig {
            token: None,
            password: password.map(str::to_owned),
            session_ttl: Duration::from_secs(60),
            max_login_failures_per_minute: 3,
            cookie_secure: false,
        }
    }

    #[tokio::test]
    async fn a_generated_password_is_stored_hashed_once_and_survives_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let ip = IpAddr::from([127, 0, 0, 1]);
        let password = {
            let store = Store::Embedded(std::sync::Arc::new(
                crate::store::EmbeddedStore::open(dir.path()).unwrap(),
            ));
            let (auth, generated) = AdminAuth::init(&admin_config(None), &store).await.unwrap();
            let password = generated.expect("first start generates");
            let stored = store.setting_get(PASSWORD_SETTING).await.unwrap().unwrap();
            assert!(stored.starts_with("$argon2id$") && !stored.contains(&password));
            assert!(auth.login(&password, ip).await.is_ok());
            password
        };
        let store = Store::Embedded(std::sync::Arc::new(
            crate::store::EmbeddedStore::open(dir.path()).unwrap(),
        ));
        let (auth, generated) = AdminAuth::init(&admin_config(None), &store).await.unwrap();
        assert_eq!(generated, None, "shown once only");
        let session = auth.login(&password, ip).await.unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("cookie", format!("session_token={session}").parse().unwrap());
        assert!(auth.check(&headers, ip).await.is_ok());
        assert!(matches!(auth.login("wrong", ip).await, Err(AuthError::Invalid)));

        // A configured password wins over the stored one.
        let (configured, generated) = AdminAuth::init(&admin_config(Some("configured-password")), &store)
            .await
            .unwrap();
        assert_eq!(generated, None);
        assert!(configured.login("configured-password", ip).await.is_ok());
        assert!(configured.login(&password, ip).await.is_err());
    }

    #[test]
    fn password_hashes_verify_and_differ_by_salt() {
        let (a, b) = (hash_password("secret").unwrap(), hash_password("secret").unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        let parsed = PasswordHash::new(&a).unwrap();
        assert!(
            argon2::Argon2::default()
                .verify_password(b"secret", &parsed)
                .is_ok()
        );
        assert!(
            argon2::Argon2::default()
                .verify_password(b"Secret", &parsed)
                .is_err()
        );
    }
}
