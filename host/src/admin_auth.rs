//! Admin credentials: the static token, the password (configured, or generated once, stored
//! hashed and changeable), sessions kept in the store, and a per-client limit on failed attempts.

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
/// Shortest admin password accepted (the config file enforces the same).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest admin password accepted: argon2 hashes anything, but a megabyte "password" is abuse.
const MAX_PASSWORD_BYTES: usize = 1024;

/// Why an admin request was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing or invalid admin credentials")]
    Invalid,
    #[error("too many failed admin logins from this address; retry in {0:?}")]
    Throttled(Duration),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a password change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("admin.password is set in the config file; change it there")]
    Configured,
    #[error(
        "the new password must have at least {MIN_PASSWORD_CHARS} characters and at most {MAX_PASSWORD_BYTES} bytes"
    )]
    Weak,
    #[error("the password was changed concurrently; retry")]
    Conflict,
    #[error("the current password is not correct")]
    WrongCurrent,
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<StoreError> for ChangeError {
    fn from(e: StoreError) -> Self {
        Self::Auth(AuthError::Store(e))
    }
}

/// What one gateway accepts as admin credentials.
pub struct AdminAuth {
    store: Store,
    /// SHA-256 of the configured token: comparing digests hides the token's length too.
    token_digest: Option<[u8; 32]>,
    /// PHC string (argon2id) of a configured password. Without one, the hash stored in the
    /// store is authoritative, read on each check so a change on one instance applies to all.
    configured_hash: Option<String>,
    /// Session epoch while the password comes from the config file: derived from the password,
    /// so it is the same on every instance (their hashes differ by salt) and a new password in
    /// the file ends the old sessions.
    configured_epoch: Option<String>,
    /// The last password that verified (its digest) against which hash. Basic auth sends the
    /// password with every request; this keeps that to one argon2 run instead of one per request.
    verified: Mutex<Option<(String, [u8; 32])>>,
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
                let hash = blocking(move || hash_password(&p)).await?;
                (hash, None)
            }
            None => match store.setting_get(PASSWORD_SETTING).await? {
                Some(stored) => (stored, None),
                None => {
                    let (password, hash) = generate_password().await?;
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
            configured_hash: config.password.is_some().then_some(password_hash),
            configured_epoch: config.password.as_deref().map(|p| {
                let mut h = Sha256::new();
                h.update(b"configured\0");
                h.update(p.as_bytes());
                hex::encode(h.finalize())
            }),
            verified: Mutex::new(None),
            session_ttl: config.session_ttl,
            max_failures: u64::from(config.max_login_failures_per_minute),
            cookie_secure: config.cookie_secure,
        };
        Ok((auth, generated))
    }

    /// Replaces the stored admin password with a generated one and returns it (to be shown
    /// once); every session ends. For an operator locked out: `gateway --reset-admin-password`.
    /// Refused while `admin.password` is configured, since that one wins.
    pub async fn reset_password(config: &AdminConfig, store: &Store) -> Result<String, ChangeError> {
        if config.password.is_some() {
            return Err(ChangeError::Configured);
        }
        let (password, hash) = generate_password().await?;
        // Compare-and-set against what is there, retried if an instance changes it meanwhile.
        for _ in 0..3 {
            let current = store.setting_get(PASSWORD_SETTING).await?;
            if store
                .setting_swap(PASSWORD_SETTING, current.as_deref(), &hash)
                .await?
            {
                return Ok(password);
            }
        }
        Err(ChangeError::Conflict)
    }

    /// Accepts `X-Admin-Token`, `Authorization: Bearer <token>` (or the bare token), Basic auth
    /// with the admin password (any user name), or a session cookie.
    pub async fn check(&self, headers: &HeaderMap, client: IpAddr) -> Result<(), AuthError> {
        match presented(headers) {
            Presented::Token(token) => self.check_token(token),
            Presented::Basic(basic) => {
                let password = decode_basic(basic).ok_or(AuthError::Invalid)?;
                self.check_password(&password, client).await.map(drop)
            }
            Presented::Session(session) => {
                let key = session_key(session, &self.epoch().await?);
                match self.store.session_valid(&key).await? {
                    true => Ok(()),
                    false => Err(AuthError::Invalid),
                }
            }
            Presented::Nothing => Err(AuthError::Invalid),
        }
    }

    /// Whether `headers` carry the admin token (as `X-Admin-Token` or a bearer token): the
    /// operator's credential, which may reset the password without knowing it.
    pub fn presents_token(&self, headers: &HeaderMap) -> bool {
        matches!(presented(headers), Presented::Token(t) if self.check_token(t).is_ok())
    }

    /// Replaces the stored admin password and returns a new session token. Every earlier
    /// session ends, on every instance: sessions are bound to the password they were opened
    /// under. `current` may be `None` only for a caller that presented the admin token.
    pub async fn change_password(
        &self,
        current: Option<&str>,
        new: &str,
        client: IpAddr,
    ) -> Result<String, ChangeError> {
        if self.configured_hash.is_some() {
            return Err(ChangeError::Configured);
        }
        if new.chars().count() < MIN_PASSWORD_CHARS || new.len() > MAX_PASSWORD_BYTES {
            return Err(ChangeError::Weak);
        }
        // The swap below is conditional on the hash the current password verified against
        // (without one, on the stored hash), so a change landing meanwhile wins, not this one.
        let old = match current {
            // No configured password here, so the epoch is the verified hash.
            Some(current) => match self.check_password(current, client).await {
                Ok(hash) => hash,
                Err(AuthError::Invalid) => return Err(ChangeError::WrongCurrent),
                Err(e) => return Err(e.into()),
            },
            None => self.stored_hash().await?,
        };
        let new = new.to_owned();
        let hash = blocking(move || hash_password(&new)).await?;
        if !self
            .store
            .setting_swap(PASSWORD_SETTING, Some(&old), &hash)
            .await?
        {
            return Err(ChangeError::Conflict);
        }
        tracing::info!(%client, "admin password changed; earlier sessions ended");
        Ok(self.open_session(&hash).await?)
    }

    /// Verifies a password (or the admin token) and opens a session; returns its token.
    pub async fn login(&self, secret: &str, client: IpAddr) -> Result<String, AuthError> {
        // The session is bound to the hash the password was verified against, so a change
        // landing meanwhile cannot hand an old password a session under the new one.
        let epoch = match self.check_token(secret) {
            Ok(()) => self.epoch().await?,
            Err(_) => self.check_password(secret, client).await?,
        };
        Ok(self.open_session(&epoch).await?)
    }

    async fn open_session(&self, epoch: &str) -> Result<String, StoreError> {
        let token = hex::encode(rand::random::<[u8; 32]>());
        self.store
            .session_create(&session_key(&token, epoch), self.session_ttl)
            .await?;
        Ok(token)
    }

    /// Ends the session whose cookie `headers` carry, if any.
    pub async fn logout(&self, headers: &HeaderMap) -> Result<(), StoreError> {
        match session_cookie(headers) {
            Some(s) => {
                let key = session_key(s, &self.epoch().await?);
                self.store.session_delete(&key).await
            }
            None => Ok(()),
        }
    }

    /// What sessions are bound to: the stored password hash, so changing the password ends
    /// them all, or a constant while the password comes from the config file.
    async fn epoch(&self) -> Result<String, StoreError> {
        match &self.configured_epoch {
            Some(epoch) => Ok(epoch.clone()),
            None => self.stored_hash().await,
        }
    }

    async fn stored_hash(&self) -> Result<String, StoreError> {
        self.store
            .setting_get(PASSWORD_SETTING)
            .await?
            .ok_or_else(|| StoreError::Corrupt("the stored admin password hash is missing".into()))
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
    /// failed attempts; each failure counts towards it. Returns the session epoch it verified
    /// under.
    async fn check_password(&self, password: &str, client: IpAddr) -> Result<String, AuthError> {
        let bucket = format!("admin-login-failures:{}", limiter_scope(client));
        if self.store.rate_count(&bucket, FAILURE_WINDOW).await? >= self.max_failures {
            return Err(AuthError::Throttled(FAILURE_WINDOW));
        }
        if let Some(hash) = self.password_matches(password).await? {
            return Ok(self.configured_epoch.clone().unwrap_or(hash));
        }
        self.store.rate_hit(&bucket, FAILURE_WINDOW).await?;
        tracing::warn!(%client, "failed admin password attempt");
        Err(AuthError::Invalid)
    }

    /// The hash `password` verified against, `None` when it does not match.
    async fn password_matches(&self, password: &str) -> Result<Option<String>, StoreError> {
        let hash = match &self.configured_hash {
            Some(h) => h.clone(),
            None => self.stored_hash().await?,
        };
        let digest = sha256(password.as_bytes());
        let cached = self.verified.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if cached.is_some_and(|(h, d)| h == hash && bool::from(d.ct_eq(&digest))) {
            return Ok(Some(hash));
        }
        let (phc, password) = (hash.clone(), password.to_owned());
        // Argon2 takes tens of milliseconds of CPU by design: keep it off the request threads.
        let ok = blocking(move || {
            let parsed = PasswordHash::new(&phc).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
        })
        .await?;
        if !ok {
            return Ok(None);
        }
        *self.verified.lock().unwrap_or_else(|e| e.into_inner()) = Some((hash.clone(), digest));
        Ok(Some(hash))
    }
}

/// A fresh random password and its argon2id hash.
async fn generate_password() -> Result<(String, String), StoreError> {
    let password = Alphanumeric.sample_string(&mut rand::rng(), GENERATED_PASSWORD_LEN);
    let p = password.clone();
    let hash = blocking(move || hash_password(&p)).await?;
    Ok((password, hash))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Unavailable(format!("hashing task failed: {e}")))?
}

/// The admin credential a request presents, in order of precedence.
enum Presented<'a> {
    /// `X-Admin-Token`, or an `Authorization` value that is not Basic (`Bearer` optional).
    Token(&'a str),
    /// The base64 part of `Authorization: Basic`.
    Basic(&'a str),
    Session(&'a str),
    Nothing,
}

fn presented(headers: &HeaderMap) -> Presented<'_> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(token) = header("x-admin-token") {
        return Presented::Token(token);
    }
    if let Some(auth) = header("authorization") {
        return match auth.strip_prefix("Basic ") {
            Some(basic) => Presented::Basic(basic),
            None => Presented::Token(auth.strip_prefix("Bearer ").unwrap_or(auth).trim()),
        };
    }
    session_cookie(headers).map_or(Presented::Nothing, Presented::Session)
}

/// The store key of a session: its token's digest, bound to the password epoch.
fn session_key(token: &str, epoch: &str) -> String {
    let mut h = Sha256::new();
    h.update(token.as_bytes());
    h.update([0]);
    h.update(epoch.as_bytes());
    hex::encode(h.finalize())
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

/// The unit failed logins are counted per: an IPv4 address, or an IPv6 /64, since one IPv6
/// client usually holds a whole /64 and could otherwise guess from a fresh address each time.
fn limiter_scope(client: IpAddr) -> String {
    match client {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        },
    }
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

    #[tokio::test]
    async fn changing_the_password_ends_every_session_and_keeps_the_old_one_on_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let ip = IpAddr::from([127, 0, 0, 1]);
        let store = Store::Embedded(std::sync::Arc::new(
            crate::store::EmbeddedStore::open(dir.path()).unwrap(),
        ));
        let (auth, generated) = AdminAuth::init(&admin_config(None), &store).await.unwrap();
        let old = generated.unwrap();
        let cookie = |token: &str| {
            let mut h = HeaderMap::new();
            h.insert("cookie", format!("session_token={token}").parse().unwrap());
            h
        };
        let before = auth.login(&old, ip).await.unwrap();
        assert!(matches!(
            auth.change_password(Some("wrong"), "long enough password", ip)
                .await,
            Err(ChangeError::WrongCurrent)
        ));
        assert!(matches!(
            auth.change_password(Some(&old), "short", ip).await,
            Err(ChangeError::Weak)
        ));
        assert!(auth.check(&cookie(&before), ip).await.is_ok());

        let after = auth
            .change_password(Some(&old), "long enough password", ip)
            .await
            .unwrap();
        assert!(auth.check(&cookie(&before), ip).await.is_err());
        assert!(auth.check(&cookie(&after), ip).await.is_ok());
        assert!(auth.login(&old, ip).await.is_err());
        assert!(auth.login("long enough password", ip).await.is_ok());

        // The operator's reset (`--reset-admin-password`) works like a change: a new password,
        // and every session over. (Another client address: this one has used its 3 failures.)
        let reset = AdminAuth::reset_password(&admin_config(None), &store)
            .await
            .unwrap();
        let other = IpAddr::from([127, 0, 0, 2]);
        assert!(auth.check(&cookie(&after), other).await.is_err());
        assert!(auth.login("long enough password", other).await.is_err());
        assert!(auth.login(&reset, other).await.is_ok());

        let (configured, _) = AdminAuth::init(&admin_config(Some("configured-password")), &store)
            .await
            .unwrap();
        assert!(matches!(
            configured
                .change_password(Some("configured-password"), "long enough password", ip)
                .await,
            Err(ChangeError::Configured)
        ));
        assert!(matches!(
            AdminAuth::reset_password(&admin_config(Some("configured-password")), &store).await,
            Err(ChangeError::Configured)
        ));
    }

    #[test]
    fn failures_count_per_ipv4_address_and_per_ipv6_64() {
        let scope = |s: &str| limiter_scope(s.parse().unwrap());
        assert_eq!(scope("192.0.2.7"), "192.0.2.7");
        assert_eq!(scope("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(scope("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(scope("2001:db8:1:2:ffff::9"), scope("2001:db8:1:2::1"));
        assert_ne!(scope("2001:db8:1:3::1"), scope("2001:db8:1:2::1"));
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
