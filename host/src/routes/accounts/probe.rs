//! Account tests: one real, minimal, non-streaming chat through a chosen account (or every one).

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::canonical::{ChatRequest, ClientApi, ContentPart, Event, Message, ModelKind, Role};
use crate::error::ApiError;
use crate::routes::chat;
use crate::store::{Account, ModelEntry};
use crate::wasm::{CallAccount, PluginError};

/// Accounts `test-all` tests at once: enough to be quick, few enough not to look like a flood
/// to the upstream.
const TEST_ALL_CONCURRENCY: usize = 4;
/// How much of the answer a result shows.
const REPLY_CHARS: usize = 200;
/// Enough for a greeting back; the test proves the account works, not the model.
const TEST_MAX_TOKENS: u32 = 64;
const DEFAULT_MESSAGE: &str = "ping";

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::routes) struct TestOne {
    model: Option<String>,
    message: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::routes) struct TestAll {
    channel: Option<String>,
    model: Option<String>,
    message: Option<String>,
}

/// The outcome of one account test.
#[derive(Debug, Serialize)]
pub(in crate::routes) struct Outcome {
    account: String,
    success: bool,
    response_time_ms: u64,
    model: String,
    reply: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The outcome of `test-all`.
#[derive(Debug, Serialize)]
pub(in crate::routes) struct Report {
    total: usize,
    success: usize,
    failed: usize,
    results: Vec<Outcome>,
}

/// `POST /api/accounts/{id}/test`: tests the account whatever its pool state (an operator asks
/// after fixing it). Success clears a cooldown or auth disable; an upstream failure counts like
/// one in traffic.
pub(in crate::routes) async fn test(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Outcome>, ApiError> {
    let params: TestOne = optional_json(&body)?;
    let (account, _) = super::with_plugin(&app, &id).await?;
    // Refuse a bad request before touching the upstream.
    pick_model(&app, &account.channel, params.model.as_deref()).map_err(ApiError::bad_request)?;
    let message = params.message.as_deref().unwrap_or(DEFAULT_MESSAGE);
    let request_id = super::super::request_id(&headers);
    Ok(Json(
        probe(&app, &account, params.model.as_deref(), message, &request_id).await,
    ))
}

/// `POST /api/accounts/test-all`: tests every enabled account (of one channel, if given), a
/// few at a time, and reports each.
pub(in crate::routes) async fn test_all(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Report>, ApiError> {
    let params: TestAll = optional_json(&body)?;
    if let Some(c) = &params.channel
        && !app.config().plugins.contains_key(c)
    {
        return Err(ApiError::bad_request(format!("unknown channel `{c}`")));
    }
    let accounts = app
        .store()
        .list_accounts(params.channel.as_deref())
        .await
        .map_err(super::store_error)?;
    let request_id = super::super::request_id(&headers);
    let message = params.message.unwrap_or_else(|| DEFAULT_MESSAGE.to_owned());
    // Each test owns what it uses: borrowing across the buffered stream defeats the `Send`
    // inference axum needs for the handler's future.
    let tests = accounts.into_iter().filter(|a| a.enabled).map(|a| {
        let (app, model, message, request_id) = (
            app.clone(),
            params.model.clone(),
            message.clone(),
            request_id.clone(),
        );
        async move { probe(&app, &a, model.as_deref(), &message, &request_id).await }
    });
    let results: Vec<Outcome> = futures::stream::iter(tests)
        .buffered(TEST_ALL_CONCURRENCY)
        .collect()
        .await;
    let success = results.iter().filter(|r| r.success).count();
    Ok(Json(Report {
        total: results.len(),
        success,
        failed: results.len() - success,
        results,
    }))
}

/// An optional JSON body: empty means all defaults.
fn optional_json<T: DeserializeOwned + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

/// The enabled chat model `model` of `channel`, or by default the channel's default model, or
/// its first enabled chat model.
fn pick_model(app: &App, channel: &str, model: Option<&str>) -> Result<ModelEntry, String> {
    let plugins = app.plugins();
    let loaded = |c: &str| plugins.get(c).is_some();
    if let Some(id) = model {
        return app
            .models()
            .resolve(Some(channel), id, loaded)
            .ok_or_else(|| format!("`{id}` is not an enabled model of channel `{channel}`"));
    }
    let models: Vec<ModelEntry> = app
        .models()
        .list(Some(channel), loaded)
        .into_iter()
        .filter(|m| m.kind == ModelKind::Chat)
        .collect();
    models
        .iter()
        .find(|m| m.is_default)
        .or(models.first())
        .cloned()
        .ok_or_else(|| format!("channel `{channel}` has no enabled chat model"))
}

/// Runs the test chat through `account` directly, not through the pool: the operator picked the
/// account, whatever its state. Every failure becomes the outcome's `error`.
async fn probe(
    app: &App,
    account: &Account,
    model: Option<&str>,
    message: &str,
    request_id: &str,
) -> Outcome {
    let started = Instant::now();
    let mut outcome = Outcome {
        account: account.id.clone(),
        success: false,
        response_time_ms: 0,
        model: model.unwrap_or_default().to_owned(),
        reply: String::new(),
        error: None,
    };
    match chat_once(app, account, model, message, request_id, &mut outcome.model).await {
        Ok(reply) => {
            outcome.success = true;
            outcome.reply = reply.chars().take(REPLY_CHARS).collect();
            if let Err(e) = app.pool().reset(&account.id).await {
                tracing::warn!(account = %account.id, error = %e, "could not clear the account's cooldown");
            }
        }
        Err(e) => outcome.error = Some(e),
    }
    outcome.response_time_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    outcome
}

/// One non-streaming chat within the request timeout; the answer's text, or why there is none.
/// Upstream failures are reported to the pool like failures in traffic.
async fn chat_once(
    app: &App,
    account: &Account,
    model: Option<&str>,
    message: &str,
    request_id: &str,
    model_used: &mut String,
) -> Result<String, String> {
    let plugin = app
        .plugins()
        .get(&account.channel)
        .ok_or_else(|| format!("channel `{}` is not loaded", account.channel))?;
    let entry = pick_model(app, &account.channel, model)?;
    model_used.clone_from(&entry.id);
    let request = minimal_request(&entry, message);
    let deadline = Instant::now() + app.config().server.request_timeout;
    let call = CallAccount {
        id: &account.id,
        credentials: &account.credentials,
    };
    let timed_out = || ApiError::timeout().message;
    let mut stream =
        match tokio::time::timeout_at(deadline.into(), plugin.chat(request_id, call, &request)).await {
            Err(_) => return Err(timed_out()),
            Ok(Ok(stream)) => stream,
            Ok(Err(PluginError::Provider(p))) => {
                app.pool().report_failure(&account.id, &p).await;
                return Err(p.to_string());
            }
            Ok(Err(e)) => return Err(e.to_string()),
        };
    let events = match chat::collect(&mut stream, deadline).await {
        Ok(events) => events,
        Err(f) => {
            if let Some(p) = &f.provider {
                app.pool().report_failure(&account.id, p).await;
            }
            return Err(f.api.message);
        }
    };
    Ok(events
        .iter()
        .filter_map(|e| match e {
            Event::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect())
}

fn minimal_request(model: &ModelEntry, message: &str) -> ChatRequest {
    ChatRequest {
        model: model.id.clone(),
        upstream_model: model.upstream_name.clone(),
        client_api: ClientApi::ClaudeMessages,
        system: Vec::new(),
        messages: vec![Message {
            role: Role::User,
            content: vec![ContentPart::Text(message.to_owned())],
        }],
        tools: Vec::new(),
        tool_choice: None,
        parallel_tool_calls: None,
        max_tokens: Some(TEST_MAX_TOKENS),
        temperature: None,
        top_p: None,
        top_k: None,
        stop_sequences: Vec::new(),
        thinking_budget: None,
        reasoning_effort: None,
        response_format_json: None,
        metadata_json: None,
        stream: false,
        extra_json: "{}".into(),
    }
}
