//! Admin account routes: CRUD with redacted credentials, `check` and `usage` through the plugin.

pub(super) mod probe;

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::app::App;
use crate::error::ApiError;
use crate::routes::extract::{JsonBody, QueryParams};
use crate::store::{Account, AccountPatch, StoreError};
use crate::wasm::{CallAccount, LoadedPlugin};

fn store_error(e: StoreError) -> ApiError {
    ApiError::store(e, "account")
}

/// Credential values are never returned: strings show their first characters and length.
fn redact(credentials: &Map<String, Value>) -> Map<String, Value> {
    credentials
        .iter()
        .map(|(k, v)| {
            let shown = match v {
                Value::String(s) if s.chars().count() > 8 => {
                    format!(
                        "{}…({} chars)",
                        s.chars().take(4).collect::<String>(),
                        s.chars().count()
                    )
                }
                Value::String(s) => format!("…({} chars)", s.chars().count()),
                _ => "<redacted>".to_owned(),
            };
            (k.clone(), Value::String(shown))
        })
        .collect()
}

/// Accounts as the admin API shows them: credentials redacted, with their pool state.
async fn views(app: &App, accounts: &[Account]) -> Result<Vec<Value>, ApiError> {
    let statuses = app.pool().status(accounts).await.map_err(store_error)?;
    Ok(accounts
        .iter()
        .zip(statuses)
        .map(|(a, status)| {
            json!({
                "id": a.id, "channel": a.channel, "name": a.name, "enabled": a.enabled,
                "weight": a.weight, "max_inflight": a.max_inflight, "version": a.version,
                "credentials": redact(&a.credentials), "runtime": status,
            })
        })
        .collect())
}

async fn view(app: &App, a: &Account) -> Result<Json<Value>, ApiError> {
    let mut one = views(app, std::slice::from_ref(a)).await?;
    Ok(Json(one.pop().unwrap_or_default()))
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    channel: Option<String>,
}

pub(super) async fn list(
    State(app): State<App>,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let accounts = app
        .store()
        .list_accounts(q.channel.as_deref())
        .await
        .map_err(store_error)?;
    Ok(Json(json!({"accounts": views(&app, &accounts).await?})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewAccount {
    channel: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    credentials: Map<String, Value>,
    enabled: Option<bool>,
    weight: Option<u32>,
    max_inflight: Option<u32>,
}

pub(super) async fn create(
    State(app): State<App>,
    JsonBody(new): JsonBody<NewAccount>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !app.config().plugins.contains_key(&new.channel) {
        return Err(ApiError::bad_request(format!(
            "unknown channel `{}`",
            new.channel
        )));
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let account = Account {
        name: if new.name.is_empty() { id.clone() } else { new.name },
        id,
        channel: new.channel,
        credentials: new.credentials,
        enabled: new.enabled.unwrap_or(true),
        weight: new.weight.unwrap_or(1).max(1),
        max_inflight: new.max_inflight.unwrap_or(4).max(1),
        version: 0,
    };
    let stored = app.store().put_account(account).await.map_err(store_error)?;
    Ok((StatusCode::CREATED, view(&app, &stored).await?))
}

pub(super) async fn get(State(app): State<App>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let a = app.store().get_account(&id).await.map_err(store_error)?;
    view(&app, &a).await
}

/// A partial edit; with `version`, it is refused (409) if the account changed since it was read.
#[derive(Deserialize)]
pub(super) struct Edit {
    version: Option<u64>,
    #[serde(flatten)]
    patch: AccountPatch,
}

pub(super) async fn update(
    State(app): State<App>,
    Path(id): Path<String>,
    JsonBody(edit): JsonBody<Edit>,
) -> Result<Json<Value>, ApiError> {
    let a = app
        .store()
        .update_account(&id, edit.patch, edit.version)
        .await
        .map_err(store_error)?;
    // An operator edit is the signal that an auth-disabled account may be tried again.
    app.pool().reset(&id).await.map_err(store_error)?;
    view(&app, &a).await
}

pub(super) async fn delete(State(app): State<App>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    app.store().delete_account(&id).await.map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The account and the plugin that serves its channel, for calls into the plugin.
async fn with_plugin(app: &App, id: &str) -> Result<(Account, Arc<LoadedPlugin>), ApiError> {
    let a = app.store().get_account(id).await.map_err(store_error)?;
    let plugin = app
        .plugins()
        .get(&a.channel)
        .ok_or_else(|| ApiError::not_found("channel not loaded"))?;
    Ok((a, plugin))
}

/// Verifies the account with its upstream (the plugin's `check-account`); success clears an
/// auth disable or cooldown.
pub(super) async fn check(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (a, plugin) = with_plugin(&app, &id).await?;
    let request_id = super::request_id(&headers);
    let account = CallAccount {
        id: &a.id,
        credentials: &a.credentials,
    };
    let deadline = app.config().server.request_timeout;
    let result = tokio::time::timeout(deadline, plugin.check_account(&request_id, account))
        .await
        .map_err(|_| ApiError::timeout())?;
    match result {
        Ok(check) => {
            app.pool().reset(&id).await.map_err(store_error)?;
            Ok(Json(json!({"ok": true, "check": check})))
        }
        Err(crate::wasm::PluginError::Provider(p)) => {
            app.pool().report_failure(&id, &p).await;
            Ok(Json(json!({"ok": false, "error": p.to_string()})))
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn usage(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (a, plugin) = with_plugin(&app, &id).await?;
    let request_id = super::request_id(&headers);
    let account = CallAccount {
        id: &a.id,
        credentials: &a.credentials,
    };
    let quota = tokio::time::timeout(
        app.config().server.request_timeout,
        plugin.usage(&request_id, account),
    )
    .await
    .map_err(|_| ApiError::timeout())??;
    Ok(Json(json!({"usage": quota})))
}
