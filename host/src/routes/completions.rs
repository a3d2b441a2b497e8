//! OpenAI Chat Completions routes: `/{channel}/v1/chat/completions` and `/v1/chat/completions`.

use axum::extract::{Path, Request, State};
use axum::response::Response;

use super::chat::{self, ChatCall};
use crate::api::openai;
use crate::app::App;
use crate::error::{ApiError, ApiStyle};

pub(super) async fn by_channel(
    State(app): State<App>,
    Path(channel): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    completions(app, Some(channel), req).await
}

pub(super) async fn by_model(State(app): State<App>, req: Request) -> Result<Response, ApiError> {
    completions(app, None, req).await
}

async fn completions(app: App, channel: Option<String>, req: Request) -> Result<Response, ApiError> {
    let request_id = super::request_id(req.headers());
    let key = super::client_auth::authenticate(&app, req.headers())
        .await
        .map_err(ApiError::openai)?;
    let body = chat::read_body(&app, req.into_body(), ApiStyle::OpenAi).await?;
    let (request, include_usage) = openai::parse_request(&body)?;
    chat::serve(
        app,
        ChatCall {
            channel,
            request,
            style: ApiStyle::OpenAi,
            include_usage,
            request_id,
            key,
        },
    )
    .await
}
