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

pub(super) async fn list_plugins(
    State(app): State<App>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&app, &headers)?;
    Ok(Json(json!({"plugins": app.plugins().summaries()})))
}

pub(super) async fn reload_plugin(
    State(app): State<App>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(&app, &headers)?;
    app.plugins().reload(&name).await.map_err(|e| match e {
        crate::wasm::PluginError::NotFound(n) => ApiError::not_found(format!("no plugin `{n}`")),
        other => ApiError::bad_request(format!("reload rejected: {other}")),
    })?;
    Ok(Json(
        json!({"reloaded": name, "plugins": app.plugins().summaries()}),
    ))
}
