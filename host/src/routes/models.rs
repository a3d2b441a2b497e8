//! Model listing: `/v1/models[/{id}]` and `/{channel}/v1/models[/{id}]`, in OpenAI's shape, or in
//! Anthropic's when the client sends `anthropic-version`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::app::App;
use crate::error::ApiError;
use crate::keys::ApiKey;
use crate::store::ModelEntry;

fn anthropic(headers: &HeaderMap) -> bool {
    headers.contains_key("anthropic-version")
}

fn entry_json(m: &ModelEntry, anthropic: bool) -> Value {
    if anthropic {
        json!({"type": "model", "id": m.id, "display_name": m.display_name.as_deref().unwrap_or(&m.id), "created_at": "1970-01-01T00:00:00Z"})
    } else {
        json!({"id": m.id, "object": "model", "created": 0, "owned_by": m.channel})
    }
}

fn list(
    app: &App,
    channel: Option<&str>,
    headers: &HeaderMap,
    key: Option<&ApiKey>,
) -> Result<Json<Value>, ApiError> {
    if let Some(c) = channel
        && app.plugins().get(c).is_none()
    {
        return Err(ApiError::not_found(format!("no channel `{c}`")));
    }
    let plugins = app.plugins();
    // A scoped key sees only the models it may use.
    let models: Vec<ModelEntry> = app
        .models()
        .list(channel, |c| plugins.get(c).is_some())
        .into_iter()
        .filter(|m| key.is_none_or(|k| k.allows(&m.channel, &m.id)))
        .collect();
    let a = anthropic(headers);
    let data: Vec<Value> = models.iter().map(|m| entry_json(m, a)).collect();
    Ok(Json(if a {
        json!({"data": data, "has_more": false, "first_id": models.first().map(|m| &m.id), "last_id": models.last().map(|m| &m.id)})
    } else {
        json!({"object": "list", "data": data})
    }))
}

fn one(
    app: &App,
    channel: Option<&str>,
    id: &str,
    headers: &HeaderMap,
    key: Option<&ApiKey>,
) -> Result<Json<Value>, ApiError> {
    let plugins = app.plugins();
    let m = app
        .models()
        .resolve(channel, id, |c| plugins.get(c).is_some())
        .filter(|m| key.is_none_or(|k| k.allows(&m.channel, &m.id)))
        .ok_or_else(|| ApiError::not_found(format!("model not found: `{id}`")))?;
    Ok(Json(entry_json(&m, anthropic(headers))))
}

pub(super) async fn all(State(app): State<App>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let key = super::client_auth::authenticate(&app, &headers)
        .await
        .map_err(ApiError::openai)?;
    list(&app, None, &headers, key.as_ref())
}

pub(super) async fn of_channel(
    State(app): State<App>,
    Path(channel): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let key = super::client_auth::authenticate(&app, &headers)
        .await
        .map_err(ApiError::openai)?;
    list(&app, Some(&channel), &headers, key.as_ref())
}

pub(super) async fn get(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let key = super::client_auth::authenticate(&app, &headers)
        .await
        .map_err(ApiError::openai)?;
    one(&app, None, &id, &headers, key.as_ref())
}

pub(super) async fn get_in_channel(
    State(app): State<App>,
    Path((channel, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let key = super::client_auth::authenticate(&app, &headers)
        .await
        .map_err(ApiError::openai)?;
    one(&app, Some(&channel), &id, &headers, key.as_ref())
}
