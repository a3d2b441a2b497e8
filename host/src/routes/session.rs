//! Admin login, logout and password change: a session cookie (`HttpOnly`, `SameSite=Strict`)
//! kept in the store, so every instance sharing the store accepts it.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::admin::{auth_error, client_ip};
use crate::admin_auth::ChangeError;
use crate::app::App;
use crate::error::ApiError;

/// Bodies of these routes are a few short strings.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// A `username` may be sent too and is ignored: there is one admin.
#[derive(Deserialize)]
struct Login {
    /// The admin password, or the admin token.
    password: String,
}

/// `POST /api/login` with `{"password": …}`: sets the session cookie.
pub(super) async fn login(State(app): State<App>, req: Request) -> Result<Response, ApiError> {
    let client = client_ip(&app, &req);
    let login: Login = read_json(req, "{\"password\": \"…\"}").await?;
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
        .map_err(|e| ApiError::store(e, "session"))?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    set_cookie(&mut resp, &app.admin().cleared_cookie());
    Ok(resp)
}

/// Body of a password change.
#[derive(Deserialize)]
struct PasswordChange {
    /// Required unless the request carries the admin token.
    current_password: Option<String>,
    new_password: String,
}

/// `POST /api/admin/password` with `{"current_password": …, "new_password": …}`: replaces the
/// stored admin password, ends every session on every instance and opens a new one for the
/// caller. The admin token may reset the password without the current one.
pub(super) async fn change_password(State(app): State<App>, req: Request) -> Result<Response, ApiError> {
    let client = client_ip(&app, &req);
    let by_token = app.admin().presents_token(req.headers());
    let change: PasswordChange =
        read_json(req, "{\"current_password\": \"…\", \"new_password\": \"…\"}").await?;
    let current = match (change.current_password.as_deref(), by_token) {
        (Some(c), _) => Some(c),
        (None, true) => None,
        (None, false) => return Err(ApiError::bad_request("current_password is required")),
    };
    let token = app
        .admin()
        .change_password(current, &change.new_password, client)
        .await
        .map_err(|e| match e {
            ChangeError::Configured | ChangeError::Conflict => ApiError::conflict(e.to_string()),
            ChangeError::Weak => ApiError::bad_request(e.to_string()),
            // Not 401: the caller is authenticated, and UIs read 401 as "logged out".
            ChangeError::WrongCurrent => ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "permission_error",
                e.to_string(),
            ),
            ChangeError::Auth(e) => auth_error(e),
        })?;
    let mut resp = Json(json!({"ok": true})).into_response();
    set_cookie(&mut resp, &app.admin().session_cookie(&token));
    Ok(resp)
}

async fn read_json<T: serde::de::DeserializeOwned>(req: Request, shape: &str) -> Result<T, ApiError> {
    let body = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::bad_request("body too large or unreadable"))?;
    serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("expected {shape}: {e}")))
}

fn set_cookie(resp: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}
