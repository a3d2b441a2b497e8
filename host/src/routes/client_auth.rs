//! Public-API authentication: once any API key exists, every public request needs a valid one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, StatusCode};

use crate::app::App;
use crate::error::ApiError;
use crate::keys::{self, ApiKey};

const RATE_WINDOW: Duration = Duration::from_secs(60);

/// The caller's key, `None` in open mode (no key configured at all). Checks existence,
/// enablement and the per-key rate limit, and counts the use.
pub(super) async fn authenticate(app: &App, headers: &HeaderMap) -> Result<Option<ApiKey>, ApiError> {
    let any = app
        .key_presence()
        .any(app.store())
        .await
        .map_err(|e| ApiError::store_unavailable(&e))?;
    if !any {
        return Ok(None);
    }
    let presented = keys::presented(headers).ok_or_else(|| {
        ApiError::unauthorized("missing API key: send `x-api-key` or `Authorization: Bearer`")
    })?;
    let store = app.store();
    let key = store
        .find_key_by_hash(&keys::hash(presented))
        .await
        .map_err(|e| ApiError::store_unavailable(&e))?
        .filter(|k| k.enabled)
        .ok_or_else(|| ApiError::unauthorized("invalid API key"))?;
    if let Some(limit) = key.rate_limit_per_min {
        let hits = store
            .rate_hit(&format!("key:{}", key.id), RATE_WINDOW)
            .await
            .map_err(|e| ApiError::store_unavailable(&e))?;
        if hits > u64::from(limit) {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let wait = RATE_WINDOW.as_secs() - now % RATE_WINDOW.as_secs();
            return Err(ApiError {
                retry_after_secs: Some(wait.max(1)),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_error",
                    format!("this API key is limited to {limit} requests per minute"),
                )
            });
        }
    }
    // Usage counting must not delay the request; a lost count on store failure is acceptable.
    let (store, id) = (store.clone(), key.id.clone());
    tokio::spawn(async move {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        if let Err(e) = store.record_key_use(&id, now).await {
            tracing::debug!(error = %e, "key usage not recorded");
        }
    });
    Ok(Some(key))
}

/// Refuses a key that is restricted to other channels or models.
pub(super) fn check_scope(key: Option<&ApiKey>, channel: &str, model: &str) -> Result<(), ApiError> {
    match key {
        Some(k) if !k.allows(channel, model) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            format!("this API key may not use model `{model}` on channel `{channel}`"),
        )),
        _ => Ok(()),
    }
}
