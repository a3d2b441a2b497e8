//! Admin login and logout: a session cookie (`HttpOnly`, `SameSite=Strict`) kept in the store,
//! so every instance sharing the store accepts it.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::admin::{auth_error, client_ip};
use crate::app::App;
use crate::error::ApiError;

/// A `username` may be sent too and is ignored: there is one admin.
#[derive(Deserialize)]
struct Login {
    /// The admin password, or the admin token.
    password: String,
}

/// `POST /api/login` with `{"password": …}`: sets the session cookie.
pub(super) async fn login(State(app): State<App>, req: Request) -> Result<Response, ApiError> {
    let client = client_ip(&req);
    let max = app.config().server.max_body_bytes;
    let body = axum::body::to_bytes(req.into_body(), max.min(64 * 1024))
        .await
        .map_err(|_| ApiError::bad_request("login body too large or unreadable"))?;
    let login: Login = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("expected {{\"password\": \"…\"}}: {e}")))?;
    let token = app
        .admin()
        .login(&login.password, client)
        .await
        .map_err(auth_error)?;
    let ttl = app.config().admin.session_ttl.as_secs();
    let mut resp = Json(json!({"ok": true, "expires_in": ttl})).into_response();
    set_cookie(&mut resp, &app.admin().session_cookie(&token));
    Ok(resp)
}

/// `POST /api/logout`: ends the session (in the store, so on every instance) and clears the cookie.
pub(super) async fn logout(State(app): State<App>, headers: HeaderMap) -> Result<Response, ApiError> {
    app.admin()
        .logout(&headers)
        .await
        .map_err(|e| ApiError::unavailable(format!("store unavailable: {e}")))?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    set_cookie(&mut resp, &app.admin().cleared_cookie());
    Ok(resp)
}

fn set_cookie(resp: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}
