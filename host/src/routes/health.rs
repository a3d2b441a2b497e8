//! `/health`, `/healthz`, `/readyz` and `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;
use sha2::Digest;

use crate::app::App;

/// Liveness: the process answers.
pub(super) async fn health() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Readiness: the store answers and at least one plugin is loaded.
pub(super) async fn ready(State(app): State<App>) -> impl IntoResponse {
    let store = app.store().ping().await;
    let plugins = app.plugins().list().len();
    let ok = store.is_ok() && plugins > 0;
    let body = json!({
        "status": if ok { "ready" } else { "not_ready" },
        // Only a status word: the error text (hosts, paths) is for the logs, not the public.
        "store": match &store {
            Ok(()) => "ok",
            Err(e) => {
                tracing::warn!(error = %e, "readiness: store unavailable");
                "unavailable"
            }
        },
        "plugins": plugins,
    });
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

/// Prometheus text; with `server.metrics_token` set, only for `Authorization: Bearer <token>`.
pub(super) async fn metrics(
    State(app): State<App>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    if let Some(expected) = &app.config().server.metrics_token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        let digest = |s: &str| -> [u8; 32] { sha2::Sha256::digest(s.as_bytes()).into() };
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            &digest(presented)[..],
            &digest(expected)[..],
        )) {
            return crate::error::ApiError::unauthorized("metrics require the metrics token").into_response();
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics().encode(),
    )
        .into_response()
}
