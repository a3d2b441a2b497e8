//! `POST /{channel}/v1/messages`: Claude Messages through the channel's translator.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use crate::api::claude;
use crate::app::App;
use crate::canonical::Event;
use crate::error::ApiError;
use crate::pool;
use crate::wasm::{CallAccount, ChatStream};

pub(crate) const PLUGIN_VERSION_HEADER: &str = "x-gateway-plugin-version";

/// Silence after which a keep-alive `ping` is sent on a stream.
const PING_EVERY: Duration = Duration::from_secs(15);

pub(super) async fn messages(
    State(app): State<App>,
    Path(channel): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let request_id = super::request_id(req.headers());
    let limit = app.config().server.max_body_bytes;
    let body = axum::body::to_bytes(req.into_body(), limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            format!("request body exceeds {limit} bytes"),
        )
    })?;
    let request = claude::parse_request(&body)?;
    let plugin = app
        .plugins()
        .get(&channel)
        .ok_or_else(|| ApiError::not_found(format!("no channel `{channel}`")))?;
    if !plugin.info.models.iter().any(|m| m.id == request.model) {
        return Err(ApiError::not_found(format!(
            "model not found: `{}` is not served by `{channel}`",
            request.model
        )));
    }
    let account = pool::pick(app.store(), &channel).await?;
    let deadline = Instant::now() + app.config().server.request_timeout;
    let account_ref = CallAccount {
        id: &account.id,
        credentials: &account.credentials,
    };
    let mut stream =
        tokio::time::timeout_at(deadline.into(), plugin.chat(&request_id, account_ref, &request))
            .await
            .map_err(|_| timeout_error())??;

    let version = stream.plugin_version().unwrap_or_default().to_owned();
    if !request.stream {
        let mut events = Vec::new();
        while let Some(batch) = tokio::time::timeout_at(deadline.into(), stream.next())
            .await
            .map_err(|_| timeout_error())??
        {
            let done = batch.iter().any(|e| matches!(e, Event::Stop(_)));
            events.extend(batch);
            if done {
                break;
            }
        }
        let mut resp = axum::Json(claude::aggregate(&request.model, &events)).into_response();
        set_version(&mut resp, &version);
        return Ok(resp);
    }

    // Pull the first batch before answering, so a failure that happens before any output is
    // a proper HTTP error rather than an error event inside a 200 stream.
    let first = tokio::time::timeout_at(deadline.into(), stream.next())
        .await
        .map_err(|_| timeout_error())??;
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let encoder = claude::ClaudeEncoder::new(&request.model);
    app.tasks().spawn(drive(stream, first, encoder, tx, deadline));
    let body = Body::from_stream(with_pings(rx));
    let mut resp = Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    set_version(&mut resp, &version);
    Ok(resp)
}

/// Tells the client which plugin version served it (hot swaps are observable per request).
fn set_version(resp: &mut Response, version: &str) {
    if let Ok(v) = header::HeaderValue::from_str(version) {
        resp.headers_mut().insert(PLUGIN_VERSION_HEADER, v);
    }
}

fn timeout_error() -> ApiError {
    ApiError::new(
        StatusCode::GATEWAY_TIMEOUT,
        "timeout_error",
        "upstream did not answer in time",
    )
}

/// Pumps the plugin stream into the client channel. Runs as its own task so the wasm call is
/// never cancelled half-way by a client write; a closed channel (client gone) ends it, which
/// drops the instance and with it every upstream connection.
async fn drive(
    mut stream: ChatStream,
    first: Option<Vec<Event>>,
    mut encoder: claude::ClaudeEncoder,
    tx: mpsc::Sender<Bytes>,
    deadline: Instant,
) {
    let mut batch = first;
    while let Some(events) = batch {
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
        batch = match tokio::time::timeout_at(deadline.into(), stream.next()).await {
            Ok(Ok(b)) => b,
            Ok(Err(e)) => {
                let _ = tx.send(Bytes::from(encoder.error(&ApiError::from(e)))).await;
                return;
            }
            Err(_) => {
                let _ = tx.send(Bytes::from(encoder.error(&timeout_error()))).await;
                return;
            }
        };
    }
    let _ = tx.send(Bytes::from(encoder.finish())).await;
}

/// The client body: frames from the driver, with a `ping` whenever the upstream is silent.
fn with_pings(rx: mpsc::Receiver<Bytes>) -> impl futures::Stream<Item = Result<Bytes, Infallible>> {
    futures::stream::unfold(rx, |mut rx| async move {
        match tokio::time::timeout(PING_EVERY, rx.recv()).await {
            Ok(Some(bytes)) => Some((Ok(bytes), rx)),
            Ok(None) => None,
            Err(_) => Some((Ok(Bytes::from_static(claude::ping_frame().as_bytes())), rx)),
        }
    })
}
