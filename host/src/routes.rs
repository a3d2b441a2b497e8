//! Route table: method + path → handler. No business logic here.

mod accounts;
mod admin;
mod admin_models;
mod cache;
mod chat;
mod client_auth;
mod completions;
mod extract;
mod health;
mod keys;
mod messages;
mod models;
mod session;
mod settings;
mod transfer;

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
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
        .route("/api/login", post(session::login))
        .route("/api/logout", post(session::logout))
        .merge(admin_routes(app.clone()))
        // Claude Messages: per channel, routed by model, and the prefix Anthropic clients expect.
        .route("/{channel}/v1/messages", post(messages::by_channel))
        .route(
            "/{channel}/v1/messages/count_tokens",
            post(messages::count_by_channel),
        )
        .route("/v1/messages", post(messages::by_model))
        .route("/v1/messages/count_tokens", post(messages::count_by_model))
        .route("/anthropic/v1/messages", post(messages::by_model))
        .route(
            "/anthropic/v1/messages/count_tokens",
            post(messages::count_by_model),
        )
        // OpenAI Chat Completions.
        .route("/{channel}/v1/chat/completions", post(completions::by_channel))
        .route("/v1/chat/completions", post(completions::by_model))
        // Models.
        .route("/v1/models", get(models::all))
        .route("/v1/models/{id}", get(models::get))
        .route("/{channel}/v1/models", get(models::of_channel))
        .route("/{channel}/v1/models/{id}", get(models::get_in_channel))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(app.clone(), record))
        .layer(PropagateRequestIdLayer::new(header.clone()))
        .layer(SetRequestIdLayer::new(header, MakeRequestUuid))
        .with_state(app)
}

/// Admin API: every route behind one credential check that runs before any extractor, so an
/// unauthenticated caller learns nothing (not even that a body was malformed).
fn admin_routes(app: App) -> Router<App> {
    Router::new()
        .route("/api/plugins", get(admin::list_plugins))
        .route("/api/admin/password", post(session::change_password))
        .route("/api/plugins/{name}/reload", post(admin::reload_plugin))
        .route("/api/queue", get(admin::queue))
        .route(
            "/api/config",
            get(settings::get).post(settings::update).put(settings::update),
        )
        .route("/api/accounts", get(accounts::list).post(accounts::create))
        .route(
            "/api/accounts/{id}",
            get(accounts::get).put(accounts::update).delete(accounts::delete),
        )
        .route("/api/accounts/{id}/check", get(accounts::check))
        .route("/api/accounts/{id}/usage", get(accounts::usage))
        .route("/api/accounts/{id}/test", post(accounts::probe::test))
        .route("/api/accounts/test-all", post(accounts::probe::test_all))
        .route("/api/models", get(admin_models::list).post(admin_models::create))
        .route(
            "/api/models/{key}",
            get(admin_models::get)
                .put(admin_models::update)
                .delete(admin_models::delete),
        )
        .route("/api/export", get(transfer::export))
        .route(
            "/api/import",
            post(transfer::import).layer(DefaultBodyLimit::max(transfer::MAX_IMPORT_BYTES)),
        )
        .route("/api/config/cache/stats", get(cache::stats))
        .route("/api/config/cache/clear", post(cache::clear))
        .route("/api/keys", get(keys::list).post(keys::create))
        .route(
            "/api/keys/{id}",
            get(keys::get).put(keys::update).delete(keys::delete),
        )
        .route_layer(middleware::from_fn_with_state(app, admin::require_admin))
}

async fn fallback(uri: axum::http::Uri) -> crate::error::ApiError {
    style_for(uri.path(), crate::error::ApiError::not_found("no such route"))
}

async fn method_not_allowed(uri: axum::http::Uri) -> crate::error::ApiError {
    style_for(uri.path(), crate::error::ApiError::method_not_allowed())
}

/// Errors outside a handler still come in the shape of the API the path belongs to.
fn style_for(path: &str, e: crate::error::ApiError) -> crate::error::ApiError {
    if path.ends_with("/chat/completions") || path.contains("/models") {
        e.openai()
    } else {
        e
    }
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
