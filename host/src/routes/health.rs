//! `/health`, `/healthz`, `/readyz` and `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

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

pub(super) async fn metrics(State(app): State<App>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics().encode(),
    )
}
