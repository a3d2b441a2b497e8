//! The chat pipeline shared by both APIs: resolve model → account → plugin → encode.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use crate::api::{Encoder, claude, openai};
use crate::app::App;
use crate::canonical::ProviderError;
use crate::canonical::{ChatRequest, Event};
use crate::error::{ApiError, ApiStyle};
use crate::keys::ApiKey;
use crate::pool::Lease;
use crate::wasm::{CallAccount, ChatStream, LoadedPlugin, PluginError};

pub(crate) const PLUGIN_VERSION_HEADER: &str = "x-gateway-plugin-version";

/// What the client asked for, beyond the canonical request.
pub(super) struct ChatCall {
    /// The channel from the path, or `None` to route by model id.
    pub channel: Option<String>,
    pub request: ChatRequest,
    pub style: ApiStyle,
    /// OpenAI `stream_options.include_usage`.
    pub include_usage: bool,
    pub request_id: String,
    /// The caller's API key (`None` in open mode), for per-key channel/model scopes.
    pub key: Option<ApiKey>,
}

/// Reads a body up to the configured cap (413 in the API's shape beyond it).
pub(super) async fn read_body(app: &App, body: Body, style: ApiStyle) -> Result<Bytes, ApiError> {
    let limit = app.config().server.max_body_bytes;
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::payload_too_large(limit).with_style(style))
}

/// Resolves the model to its channel and upstream name, or 404 in the API's shape.
pub(super) fn resolve_model(
    app: &App,
    channel: Option<&str>,
    request: &mut ChatRequest,
) -> Result<String, ApiError> {
    if let Some(c) = channel
        && app.plugins().get(c).is_none()
    {
        return Err(ApiError::not_found(format!("no channel `{c}`")));
    }
    let plugins = app.plugins();
    let entry = app
        .models()
        .resolve(channel, &request.model, |c| plugins.get(c).is_some())
        .ok_or_else(|| ApiError::not_found(format!("model not found: `{}`", request.model)))?;
    request.upstream_model = entry.upstream_name;
    Ok(entry.channel)
}

pub(super) async fn serve(app: App, mut call: ChatCall) -> Result<Response, ApiError> {
    let style = call.style;
    run(app, &mut call).await.map_err(|e| e.with_style(style))
}

async fn run(app: App, call: &mut ChatCall) -> Result<Response, ApiError> {
    let channel = resolve_model(&app, call.channel.as_deref(), &mut call.request)?;
    super::client_auth::check_scope(call.key.as_ref(), &channel, &call.request.model)?;
    let plugin = app
        .plugins()
        .get(&channel)
        .ok_or_else(|| ApiError::not_found(format!("no channel `{channel}`")))?;
    let request = &call.request;
    let counter = app.tokens().clone();
    let for_count = request.clone();
    let prompt_estimate = tokio::task::spawn_blocking(move || counter.count(&for_count))
        .await
        .unwrap_or(0);

    let deadline = Instant::now() + app.config().server.request_timeout;
    let (mut stream, lease) =
        start_with_failover(&app, &plugin, &channel, request, &call.request_id, deadline).await?;
    let version = stream.plugin_version().unwrap_or_default().to_owned();

    if !request.stream {
        let events = match collect(&mut stream, deadline).await {
            Ok(events) => events,
            Err(failure) => {
                if let Some(p) = &failure.provider {
                    lease.report_failure(p).await;
                }
                return Err(failure.api);
            }
        };
        drop(lease);
        let body = match call.style {
            ApiStyle::Claude => claude::aggregate(&request.model, &events, prompt_estimate),
            ApiStyle::OpenAi => openai::aggregate(&request.model, &events, prompt_estimate),
        };
        let mut resp = axum::Json(body).into_response();
        set_version(&mut resp, &version);
        return Ok(resp);
    }

    // `chat` returned, so the upstream accepted the request (auth, rate limits and bad requests
    // have surfaced as HTTP errors by now): open the stream at once so keep-alives can flow
    // while the first token is pending. Later failures become error events.
    let encoder: Box<dyn Encoder> = match call.style {
        ApiStyle::Claude => Box::new(claude::ClaudeEncoder::new(&request.model, prompt_estimate)),
        ApiStyle::OpenAi => Box::new(openai::OpenAiEncoder::new(
            &request.model,
            call.include_usage,
            prompt_estimate,
        )),
    };
    let keepalive = (encoder.keepalive(), app.config().server.keepalive);
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    app.tasks().spawn(drive(stream, encoder, tx, deadline, lease));
    let mut resp = Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(with_keepalive(rx, keepalive)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    set_version(&mut resp, &version);
    Ok(resp)
}

/// A failure after the stream began: what the client sees, and the upstream's classification
/// (for the account's cooldown) when there is one.
pub(super) struct StreamFailure {
    pub(super) api: ApiError,
    pub(super) provider: Option<ProviderError>,
}

/// A whole non-streaming answer: every event up to `Stop` (or the stream's end).
pub(super) async fn collect(stream: &mut ChatStream, deadline: Instant) -> Result<Vec<Event>, StreamFailure> {
    let mut events = Vec::new();
    while let Some(batch) = next_classified(stream, deadline).await? {
        let done = batch.iter().any(|e| matches!(e, Event::Stop(_)));
        events.extend(batch);
        if done {
            break;
        }
    }
    Ok(events)
}

async fn next_classified(
    stream: &mut ChatStream,
    deadline: Instant,
) -> Result<Option<Vec<Event>>, StreamFailure> {
    match tokio::time::timeout_at(deadline.into(), stream.next()).await {
        Err(_) => Err(StreamFailure {
            api: ApiError::timeout(),
            provider: None,
        }),
        Ok(Ok(batch)) => Ok(batch),
        Ok(Err(PluginError::Provider(p))) => Err(StreamFailure {
            api: p.clone().into(),
            provider: Some(p),
        }),
        Ok(Err(e)) => Err(StreamFailure {
            api: e.into(),
            provider: None,
        }),
    }
}

/// Leases accounts one after another until the plugin accepts the request, cooling down each
/// account by the class of its failure. Errors that another account cannot fix (bad request,
/// unknown model, plugin traps) end the attempt at once.
async fn start_with_failover(
    app: &App,
    plugin: &Arc<LoadedPlugin>,
    channel: &str,
    request: &ChatRequest,
    request_id: &str,
    deadline: Instant,
) -> Result<(ChatStream, Lease), ApiError> {
    let accounts = app
        .store()
        .list_accounts(Some(channel))
        .await
        .map_err(|e| ApiError::store_unavailable(&e))?;
    let pool = app.pool();
    let mut tried = HashSet::new();
    let mut last: Option<ApiError> = None;
    for _ in 0..pool.max_attempts() {
        let lease = match pool.acquire(&accounts, &tried).await {
            Ok(lease) => lease,
            // Nothing left to try: the last upstream error says more than "no account".
            Err(e) => return Err(last.unwrap_or_else(|| e.into())),
        };
        tried.insert(lease.account.id.clone());
        let account = CallAccount {
            id: &lease.account.id,
            credentials: &lease.account.credentials,
        };
        let started =
            tokio::time::timeout_at(deadline.into(), plugin.chat(request_id, account, request)).await;
        match started {
            Err(_) => return Err(ApiError::timeout()),
            Ok(Ok(stream)) => return Ok((stream, lease)),
            Ok(Err(PluginError::Provider(p))) => {
                let failover = lease.report_failure(&p).await;
                tracing::info!(channel, account = %lease.account.id, error = %p, failover, "upstream attempt failed");
                last = Some(p.into());
                if !failover {
                    break;
                }
                app.metrics().pool_failovers.with_label_values(&[channel]).inc();
            }
            Ok(Err(other)) => return Err(other.into()),
        }
    }
    Err(last.unwrap_or_else(|| ApiError::unavailable("no account available")))
}

/// Tells the client which plugin version served it (hot swaps are observable per request).
fn set_version(resp: &mut Response, version: &str) {
    if let Ok(v) = header::HeaderValue::from_str(version) {
        resp.headers_mut().insert(PLUGIN_VERSION_HEADER, v);
    }
}

/// Pumps the plugin stream into the client channel. Runs as its own task so the wasm call is
/// never cancelled half-way by a client write; a closed channel (client gone) ends it, which
/// drops the instance and with it every upstream connection.
async fn drive(
    mut stream: ChatStream,
    mut encoder: Box<dyn Encoder>,
    tx: mpsc::Sender<Bytes>,
    deadline: Instant,
    // Held until the stream ends, whichever way: its drop returns the account's capacity.
    lease: Lease,
) {
    if tx.send(Bytes::from(encoder.open())).await.is_err() {
        return;
    }
    let mut batch = next_or_gone(&mut stream, deadline, &tx).await;
    loop {
        let events = match batch {
            Ok(Some(events)) => events,
            Ok(None) => break,
            Err(None) => return, // the client left: dropping the stream cancels the upstream
            Err(Some(e)) => {
                if let Some(p) = &e.provider {
                    lease.report_failure(p).await;
                }
                let _ = tx.send(Bytes::from(encoder.error(&e.api))).await;
                return;
            }
        };
        let mut stopped = false;
        for e in &events {
            stopped |= matches!(e, Event::Stop(_));
            let out = encoder.push(e);
            if !out.is_empty() && tx.send(Bytes::from(out)).await.is_err() {
                return;
            }
            if stopped {
                break;
            }
        }
        if stopped {
            break;
        }
        batch = next_or_gone(&mut stream, deadline, &tx).await;
    }
    let _ = tx.send(Bytes::from(encoder.finish())).await;
}

/// The next batch, or `Err(None)` as soon as the client is gone, even while the upstream is
/// silent. Abandoning the wasm call is safe here because its store is dropped right after.
async fn next_or_gone(
    stream: &mut ChatStream,
    deadline: Instant,
    tx: &mpsc::Sender<Bytes>,
) -> Result<Option<Vec<Event>>, Option<StreamFailure>> {
    tokio::select! {
        batch = next_classified(stream, deadline) => batch.map_err(Some),
        () = tx.closed() => Err(None),
    }
}

/// The client body: frames from the driver, with a keep-alive whenever the upstream is silent.
fn with_keepalive(
    rx: mpsc::Receiver<Bytes>,
    (frame, every): (&'static str, Duration),
) -> impl futures::Stream<Item = Result<Bytes, Infallible>> {
    futures::stream::unfold(rx, move |mut rx| async move {
        match tokio::time::timeout(every, rx.recv()).await {
            Ok(Some(bytes)) => Some((Ok(bytes), rx)),
            Ok(None) => None,
            Err(_) => Some((Ok(Bytes::from_static(frame.as_bytes())), rx)),
        }
    })
}
