//! Admin API-key routes: create (the key is shown once), list/get (previews and usage), edit, delete.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::App;
use crate::error::ApiError;
use crate::keys::{self, ApiKey, KeyPatch};
use crate::routes::extract::JsonBody;
use crate::store::StoreError;

fn store_error(e: StoreError) -> ApiError {
    ApiError::store(e, "key")
}

async fn view(app: &App, k: &ApiKey) -> Value {
    let usage = app.store().key_usage(&k.id).await.unwrap_or_default();
    json!({
        "id": k.id, "name": k.name, "preview": k.preview, "enabled": k.enabled,
        "allowed_channels": k.allowed_channels, "allowed_models": k.allowed_models,
        "rate_limit_per_min": k.rate_limit_per_min, "created_at_ms": k.created_at_ms, "version": k.version,
        "usage": usage,
    })
}

pub(super) async fn list(State(app): State<App>) -> Result<Json<Value>, ApiError> {
    let keys = app.store().list_keys().await.map_err(store_error)?;
    let mut out = Vec::with_capacity(keys.len());
    for k in &keys {
        out.push(view(&app, k).await);
    }
    Ok(Json(json!({"keys": out})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewKey {
    #[serde(default)]
    name: String,
    #[serde(default)]
    allowed_channels: Vec<String>,
    #[serde(default)]
    allowed_models: Vec<String>,
    rate_limit_per_min: Option<u32>,
}

/// Creates a key and returns it in full, the only time it is ever shown.
pub(super) async fn create(
    State(app): State<App>,
    JsonBody(new): JsonBody<NewKey>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let secret = keys::generate();
    let key = ApiKey {
        id: uuid::Uuid::new_v4().simple().to_string(),
        name: new.name,
        hash: keys::hash(&secret),
        preview: keys::preview(&secret),
        enabled: true,
        allowed_channels: new.allowed_channels,
        allowed_models: new.allowed_models,
        rate_limit_per_min: new.rate_limit_per_min,
        created_at_ms: crate::api::unix_now() * 1000,
        version: 0,
    };
    let stored = app.store().create_key(key).await.map_err(store_error)?;
    app.key_presence().invalidate();
    let mut body = view(&app, &stored).await;
    body["key"] = Value::String(secret);
    Ok((StatusCode::CREATED, Json(body)))
}

pub(super) async fn get(State(app): State<App>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let k = app.store().get_key(&id).await.map_err(store_error)?;
    Ok(Json(view(&app, &k).await))
}

#[derive(Deserialize)]
pub(super) struct Edit {
    version: Option<u64>,
    #[serde(flatten)]
    patch: KeyPatch,
}

pub(super) async fn update(
    State(app): State<App>,
    Path(id): Path<String>,
    JsonBody(edit): JsonBody<Edit>,
) -> Result<Json<Value>, ApiError> {
    let k = app
        .store()
        .update_key(&id, edit.patch, edit.version)
        .await
        .map_err(store_error)?;
    Ok(Json(view(&app, &k).await))
}

pub(super) async fn delete(State(app): State<App>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    app.store().delete_key(&id).await.map_err(store_error)?;
    app.key_presence().invalidate();
    Ok(StatusCode::NO_CONTENT)
}
