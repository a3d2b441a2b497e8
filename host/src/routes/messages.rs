//! Claude Messages routes: `/{channel}/v1/messages`, `/v1/messages`, `/anthropic/v1/messages`,
//! and their `count_tokens`.

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use serde_json::{Value, json};

use super::chat::{self, ChatCall};
use crate::api::claude;
use crate::app::App;
use crate::error::{ApiError, ApiStyle};

pub(super) async fn by_channel(
    State(app): State<App>,
    Path(channel): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    messages(app, Some(channel), req).await
}

pub(super) async fn by_model(State(app): State<App>, req: Request) -> Result<Response, ApiError> {
    messages(app, None, req).await
}

async fn messages(app: App, channel: Option<String>, req: Request) -> Result<Response, ApiError> {
    let request_id = super::request_id(req.headers());
    let key = super::client_auth::authenticate(&app, req.headers()).await?;
    let body = chat::read_body(&app, req.into_body(), ApiStyle::Claude).await?;
    let request = claude::parse_request(&body)?;
    chat::serve(
        app,
        ChatCall {
            channel,
            request,
            style: ApiStyle::Claude,
            include_usage: false,
            request_id,
            key,
        },
    )
    .await
}

pub(super) async fn count_by_channel(
    State(app): State<App>,
    Path(channel): Path<String>,
    req: Request,
) -> Result<Json<Value>, ApiError> {
    count_tokens(app, Some(channel), req).await
}

pub(super) async fn count_by_model(State(app): State<App>, req: Request) -> Result<Json<Value>, ApiError> {
    count_tokens(app, None, req).await
}

/// `count_tokens`: the same parsing as `messages`, counted with the BPE tokenizer. Accepts
/// (and ignores) `?beta=true` and `anthropic-beta` headers.
async fn count_tokens(app: App, channel: Option<String>, req: Request) -> Result<Json<Value>, ApiError> {
    let key = super::client_auth::authenticate(&app, req.headers()).await?;
    let body = chat::read_body(&app, req.into_body(), ApiStyle::Claude).await?;
    let mut request = claude::parse_request(&body)?;
    let channel = chat::resolve_model(&app, channel.as_deref(), &mut request)?;
    super::client_auth::check_scope(key.as_ref(), &channel, &request.model)?;
    let counter = app.tokens().clone();
    let n = tokio::task::spawn_blocking(move || counter.count(&request))
        .await
        .map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                e.to_string(),
            )
        })?;
    Ok(Json(json!({"input_tokens": n})))
}
