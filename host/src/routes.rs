//! Route table: method + path → handler. No business logic here.

mod admin;
mod health;
mod messages;

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::app::App;

pub(crate) const REQUEST_ID_HEADER: &str = "x-request-id";

/// The gateway's full router.
pub fn router(app: App) -> Router {
    let header = axum::http::HeaderName::from_static(REQUEST_ID_HEADER);
    Router::new()
        .route("/health", get(health::health))
        .route("/healthz", get(health::health))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/api/plugins", get(admin::list_plugins))
        .route("/api/plugins/{name}/reload", post(admin::reload_plugin))
        .route("/{channel}/v1/messages", post(messages::messages))
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(app.clone(), record))
        .layer(PropagateRequestIdLayer::new(header.clone()))
        .layer(SetRequestIdLayer::new(header, MakeRequestUuid))
        .with_state(app)
}

async fn fallback() -> crate::error::ApiError {
    crate::error::ApiError::not_found("no such route")
}

/// Counts requests by route template (never the raw path) and logs each one.
async fn record(State(app): State<App>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().clone();
    let request_id = request_id(req.headers());
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let metrics = app.metrics();
    metrics.requests.with_label_values(&[&route, &status]).inc();
    metrics
        .request_duration
        .with_label_values(&[&route])
        .observe(started.elapsed().as_secs_f64());
    tracing::info!(%method, route, status, request_id, ms = started.elapsed().as_millis() as u64, "request");
    resp
}

pub(crate) fn request_id(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}
