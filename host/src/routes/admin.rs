//! Admin API routes (plugin listing and reload so far); every route checks admin credentials.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::app::App;
use crate::error::ApiError;

/// Accepts `Authorization: Bearer <token>` or `X-Admin-Token: <token>` matching the configured
/// admin token, compared in constant time.
/// Middleware guarding every admin route.
pub(super) async fn require_admin(
    State(app): State<App>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<axum::response::Response, ApiError> {
    authorize(&app, req.headers())?;
    Ok(next.run(req).await)
}

fn authorize(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let expected = app.admin_token();
    let presented = headers
        .get("x-admin-token")
        .and_then(|v| v.to_str().ok())
        .or_else(|| {
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
        })
        .unwrap_or_default();
    if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::unauthorized("missing or invalid admin credentials"))
    }
}

pub(super) async fn list_plugins(State(app): State<App>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"plugins": app.plugins().summaries()})))
}

pub(super) async fn reload_plugin(
    State(app): State<App>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    app.plugins().reload(&name).await.map_err(|e| match e {
        crate::wasm::PluginError::NotFound(n) => ApiError::not_found(format!("no plugin `{n}`")),
        other => ApiError::bad_request(format!("reload rejected: {other}")),
    })?;
    Ok(Json(
        json!({"reloaded": name, "plugins": app.plugins().summaries()}),
    ))
}

/// Per-channel queue: each account's state (available / in use / full / cooling down /
/// disabled), in-flight count, limits and last error, plus totals.
pub(super) async fn queue(State(app): State<App>) -> Result<Json<Value>, ApiError> {
    let accounts = app
        .store()
        .list_accounts(None)
        .await
        .map_err(|e| ApiError::unavailable(format!("store unavailable: {e}")))?;
    let mut channels = serde_json::Map::new();
    for plugin in app.plugins().list() {
        let mine: Vec<_> = accounts
            .iter()
            .filter(|a| a.channel == *plugin.name)
            .cloned()
            .collect();
        let statuses = app.pool().status(&mine);
        let count = |s: &str| statuses.iter().filter(|a| a.status == s).count();
        let capacity: u32 = statuses
            .iter()
            .filter(|a| a.status != "disabled")
            .map(|a| a.max_inflight)
            .sum();
        channels.insert(
            plugin.name.to_string(),
            json!({
                "available": count("available"),
                "in_use": count("in_use") + count("full"),
                "cooling_down": count("cooling_down"),
                "disabled": count("disabled"),
                "in_flight": statuses.iter().map(|a| a.inflight).sum::<u32>(),
                "recommended_concurrency": capacity,
                "accounts": statuses,
            }),
        );
    }
    Ok(Json(json!({"channels": channels})))
}
