//! Admin API: the credential layer, plugin listing and reload, and the per-channel queue.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::{ConnectInfo, Path, State};
use serde_json::{Value, json};

use crate::admin_auth::AuthError;
use crate::app::App;
use crate::error::ApiError;

/// Middleware guarding every admin route: a token, the password (Basic) or a session cookie
/// (see [`crate::admin_auth::AdminAuth::check`]).
pub(super) async fn require_admin(
    State(app): State<App>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<axum::response::Response, ApiError> {
    let client = client_ip(&req);
    app.admin()
        .check(req.headers(), client)
        .await
        .map_err(auth_error)?;
    Ok(next.run(req).await)
}

/// The peer address of the connection (the login limiter's key).
pub(super) fn client_ip(req: &axum::extract::Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
}

pub(super) fn auth_error(e: AuthError) -> ApiError {
    match e {
        AuthError::Invalid => ApiError::unauthorized("missing or invalid admin credentials"),
        AuthError::Throttled(wait) => ApiError::rate_limited(e.to_string(), wait),
        AuthError::Store(e) => ApiError::unavailable(format!("store unavailable: {e}")),
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
        let statuses = app
            .pool()
            .status(&mine)
            .await
            .map_err(|e| ApiError::unavailable(format!("store unavailable: {e}")))?;
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
