//! Admin model routes: CRUD keyed by `<channel>:<model id>`; every write refreshes serving at once.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::App;
use crate::canonical::ModelKind;
use crate::config::valid_channel_name;
use crate::error::ApiError;
use crate::routes::extract::{JsonBody, QueryParams};
use crate::store::{ModelEntry, ModelPatch, StoreError};

fn store_error(e: StoreError) -> ApiError {
    ApiError::store(e, "model")
}

/// The route key of a model: `<channel>:<model id>`.
fn model_key(m: &ModelEntry) -> String {
    format!("{}:{}", m.channel, m.id)
}

/// Splits a route key at its first `:`: channel names never hold one, model ids may.
fn parse_key(key: &str) -> Result<(&str, &str), ApiError> {
    match key.split_once(':') {
        Some((channel, id)) if valid_channel_name(channel) && !id.is_empty() => Ok((channel, id)),
        _ => Err(ApiError::bad_request(format!(
            "`{key}` is not a model key: expected `<channel>:<model id>`"
        ))),
    }
}

fn view(m: &ModelEntry) -> Value {
    json!({
        "key": model_key(m), "channel": m.channel, "id": m.id, "upstream_name": m.upstream_name,
        "display_name": m.display_name, "kind": m.kind, "enabled": m.enabled,
        "is_default": m.is_default, "version": m.version,
    })
}

/// Makes a write visible to routing at once (on this instance).
async fn refresh(app: &App) {
    if let Err(e) = app.models().refresh().await {
        // The write itself succeeded; the snapshot catches up on the next sync.
        tracing::warn!(error = %e, "model snapshot refresh after an admin write failed");
    }
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    channel: Option<String>,
}

/// Every stored model, disabled ones and those of unloaded channels included.
pub(super) async fn list(
    State(app): State<App>,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let models = app.store().list_models().await.map_err(store_error)?;
    let shown: Vec<Value> = models
        .iter()
        .filter(|m| q.channel.as_ref().is_none_or(|c| *c == m.channel))
        .map(view)
        .collect();
    Ok(Json(json!({"models": shown})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewModel {
    channel: String,
    id: String,
    /// Defaults to `id`.
    upstream_name: Option<String>,
    display_name: Option<String>,
    kind: Option<ModelKind>,
    enabled: Option<bool>,
    is_default: Option<bool>,
}

pub(super) async fn create(
    State(app): State<App>,
    JsonBody(new): JsonBody<NewModel>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // A configured plugin that failed to load still owns its channel.
    if app.plugins().get(&new.channel).is_none() && !app.config().plugins.contains_key(&new.channel) {
        return Err(ApiError::bad_request(format!(
            "unknown channel `{}`",
            new.channel
        )));
    }
    if new.id.trim().is_empty() {
        return Err(ApiError::bad_request("`id` must not be empty"));
    }
    let model = ModelEntry {
        upstream_name: new
            .upstream_name
            .filter(|u| !u.trim().is_empty())
            .unwrap_or_else(|| new.id.clone()),
        id: new.id,
        channel: new.channel,
        display_name: new.display_name,
        kind: new.kind.unwrap_or(ModelKind::Chat),
        enabled: new.enabled.unwrap_or(true),
        is_default: new.is_default.unwrap_or(false),
        version: 0,
    };
    let key = model_key(&model);
    let stored = app.store().create_model(model).await.map_err(|e| match e {
        StoreError::Conflict { .. } => ApiError::conflict(format!("model `{key}` already exists")),
        other => store_error(other),
    })?;
    refresh(&app).await;
    Ok((StatusCode::CREATED, Json(view(&stored))))
}

pub(super) async fn get(State(app): State<App>, Path(key): Path<String>) -> Result<Json<Value>, ApiError> {
    let (channel, id) = parse_key(&key)?;
    let m = app.store().get_model(channel, id).await.map_err(store_error)?;
    Ok(Json(view(&m)))
}

/// A partial edit; with `version`, it is refused (409) if the model changed since it was read.
#[derive(Deserialize)]
pub(super) struct Edit {
    version: Option<u64>,
    #[serde(flatten)]
    patch: ModelPatch,
}

pub(super) async fn update(
    State(app): State<App>,
    Path(key): Path<String>,
    JsonBody(edit): JsonBody<Edit>,
) -> Result<Json<Value>, ApiError> {
    let (channel, id) = parse_key(&key)?;
    if edit
        .patch
        .upstream_name
        .as_ref()
        .is_some_and(|u| u.trim().is_empty())
    {
        return Err(ApiError::bad_request("`upstream_name` must not be empty"));
    }
    let m = app
        .store()
        .update_model(channel, id, edit.patch, edit.version)
        .await
        .map_err(store_error)?;
    refresh(&app).await;
    Ok(Json(view(&m)))
}

/// Deletes the model for good: plugin seeding does not bring it back.
pub(super) async fn delete(State(app): State<App>, Path(key): Path<String>) -> Result<StatusCode, ApiError> {
    let (channel, id) = parse_key(&key)?;
    app.store().delete_model(channel, id).await.map_err(store_error)?;
    refresh(&app).await;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::parse_key;

    #[test]
    fn keys_split_at_the_first_colon() {
        assert_eq!(parse_key("dummy:echo").unwrap(), ("dummy", "echo"));
        assert_eq!(
            parse_key("warp:gpt:4o:latest").unwrap(),
            ("warp", "gpt:4o:latest")
        );
        for bad in ["dummy", "dummy:", ":echo", "Bad Channel:x", ""] {
            assert!(parse_key(bad).is_err(), "{bad}");
        }
    }
}
