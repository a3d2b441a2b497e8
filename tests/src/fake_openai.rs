//! A fake OpenAI Chat Completions upstream for the `openai` channel's tests.
//!
//! Routes: `POST /v1/chat/completions` (streaming SSE or one JSON object), `GET /v1/models`,
//! `GET /v1/models/{id}`; anything else is OpenAI's 404 "Invalid URL". Every request needs
//! `Authorization: Bearer sk-test` ([`API_KEY`]). The handle records every request (headers and
//! parsed JSON body), the image URLs it was sent, and how many streams the client abandoned.
//!
//! Behaviour is keyed by a marker in the text of the **last user message** (string content or
//! the `text` parts of an array):
//!
//! | marker | answer |
//! |---|---|
//! | `ERROR500` | HTTP 500, OpenAI error JSON (`server_error`) |
//! | `RATE429` | HTTP 429, `retry-after: 7`, code `rate_limit_exceeded` |
//! | `SLOW` | one content chunk every 100 ms for up to 60 s (to observe cancellation) |
//! | `TOOLS` | two parallel tool calls, `get_weather {"city":"Paris"}` and `get_time {"tz":"UTC"}`, arguments interleaved between the indexes; `finish_reason: "tool_calls"` |
//! | `THINK` | `reasoning_content` "Let me think" + " about it.", then "The answer is 42." |
//! | `IMAGE` | "I see N image(s)", N = `image_url` parts in the last user message |
//! | otherwise | "You said: <text>" in 3+ chunks |
//!
//! A conversation that ends with `tool` messages is answered with
//! `Tool results: <content 1> | <content 2>`. Tool messages are validated as OpenAI does: each
//! answers a `tool_call_id` of the preceding assistant `tool_calls`, and every call is answered.
//!
//! Streams are faithful to OpenAI's framing: the first chunk's delta is
//! `{"role":"assistant","content":""}`, `finish_reason` is null until the last choice chunk, a
//! `choices: []` usage chunk follows when `stream_options.include_usage` is true, then
//! `data: [DONE]`. Text answers are written with each SSE frame split in two at a byte
//! boundary (possibly inside a UTF-8 character), as TCP may deliver them.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::FakeUpstream;

/// The only API key the fake accepts.
pub const API_KEY: &str = "sk-test";
/// The models `GET /v1/models` lists (chat accepts any model name and echoes it).
pub const MODELS: &[&str] = &["gpt-4o-mini", "gpt-4o", "gpt-4.1-nano"];
/// Interval between chunks of a `SLOW` answer.
pub const SLOW_INTERVAL: Duration = Duration::from_millis(100);
/// How long a `SLOW` answer lasts when nobody cancels it.
pub const SLOW_TOTAL: Duration = Duration::from_secs(60);
/// The chat completions path, as recorded.
pub const CHAT_PATH: &str = "/v1/chat/completions";

/// Pause between the two halves of a split SSE frame, so they arrive in separate reads.
const SPLIT_PAUSE: Duration = Duration::from_millis(3);

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    /// The parsed JSON body; `Null` when empty, a JSON string holding the raw text when not JSON.
    pub body: Value,
}

impl RecordedRequest {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<RecordedRequest>>,
    image_urls: Mutex<Vec<String>>,
    cancelled: AtomicUsize,
    completed: AtomicUsize,
    next_id: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn record(&self, method: Method, path: &str, headers: &HeaderMap, body: &Bytes) -> Option<Value> {
        let parsed = serde_json::from_slice::<Value>(body).ok();
        let recorded = match &parsed {
            Some(v) => v.clone(),
            None if body.is_empty() => Value::Null,
            None => Value::String(String::from_utf8_lossy(body).into_owned()),
        };
        lock(&self.requests).push(RecordedRequest {
            method,
            path: path.to_owned(),
            headers: headers.clone(),
            body: recorded,
        });
        parsed
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// A running fake OpenAI upstream on `127.0.0.1:0`, serving until dropped.
pub struct FakeOpenAi {
    shared: Arc<Shared>,
    server: FakeUpstream,
}

impl FakeOpenAi {
    pub async fn start() -> FakeOpenAi {
        let shared = Arc::<Shared>::default();
        let server = FakeUpstream::start(router(shared.clone())).await;
        FakeOpenAi { shared, server }
    }

    /// The same fake as a router (sharing this handle's recordings), to mount elsewhere.
    pub fn router(&self) -> Router {
        router(self.shared.clone())
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// `http://127.0.0.1:<port>`, the form `allowed_hosts` grants take.
    pub fn origin(&self) -> String {
        self.server.url("")
    }

    /// `http://127.0.0.1:<port>/v1`, the plugin's `base_url`.
    pub fn base_url(&self) -> String {
        self.server.url("/v1")
    }

    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// Every request received so far, in arrival order (including rejected ones).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The `POST /v1/chat/completions` requests received so far.
    pub fn chat_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == Method::POST && r.path == CHAT_PATH)
            .collect()
    }

    /// URLs of every `image_url` part seen in accepted chat requests' last user message.
    pub fn image_urls(&self) -> Vec<String> {
        lock(&self.shared.image_urls).clone()
    }

    /// Answers (streamed or not) whose client went away before the end.
    pub fn cancelled(&self) -> usize {
        self.shared.cancelled.load(Ordering::SeqCst)
    }

    /// Answers delivered to the end (`[DONE]` handed to the server, or the JSON body).
    pub fn completed(&self) -> usize {
        self.shared.completed.load(Ordering::SeqCst)
    }

    /// Waits until `cancelled() >= n`, at most `timeout`; returns whether it happened.
    pub async fn wait_for_cancelled(&self, n: usize, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.cancelled() >= n {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(CHAT_PATH, post(chat))
        .route("/v1/models", get(models))
        .route("/v1/models/{id}", get(model))
        .fallback(fallback)
        .with_state(shared)
}

// ---------------------------------------------------------------------------------------------
// Errors and auth

/// An OpenAI error response: `{"error": {"message", "type", "param", "code"}}`.
fn openai_error(
    status: StatusCode,
    kind: &str,
    message: impl Into<String>,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    let body = json!({"error": {"message": message.into(), "type": kind, "param": param, "code": code}});
    (status, axum::Json(body)).into_response()
}

fn bad_request(message: impl Into<String>, param: Option<&str>) -> Response {
    openai_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        message,
        param,
        None,
    )
}

/// An error response, boxed to keep `Result`s small.
type Rejection = Box<Response>;

fn reject(message: impl Into<String>, param: Option<&str>) -> Rejection {
    Box::new(bad_request(message, param))
}

fn authorize(headers: &HeaderMap) -> Result<(), Rejection> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if given == format!("Bearer {API_KEY}") {
        return Ok(());
    }
    let message = if given.is_empty() {
        "You didn't provide an API key. Provide it in an Authorization header (Bearer auth)."
    } else {
        "Incorrect API key provided."
    };
    Err(Box::new(openai_error(
        StatusCode::UNAUTHORIZED,
        "invalid_request_error",
        message,
        None,
        Some("invalid_api_key"),
    )))
}

async fn fallback(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.record(method.clone(), uri.path(), &headers, &body);
    if let Err(resp) = authorize(&headers) {
        return *resp;
    }
    openai_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        format!("Invalid URL ({method} {})", uri.path()),
        None,
        None,
    )
}

// ---------------------------------------------------------------------------------------------
// Models

fn model_object(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": 0, "owned_by": "fake"})
}

async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    shared.record(Method::GET, "/v1/models", &headers, &Bytes::new());
    if let Err(resp) = authorize(&headers) {
        return *resp;
    }
    let data: Vec<Value> = MODELS.iter().map(|m| model_object(m)).collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn model(State(shared): State<Arc<Shared>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    shared.record(Method::GET, &format!("/v1/models/{id}"), &headers, &Bytes::new());
    if let Err(resp) = authorize(&headers) {
        return *resp;
    }
    if MODELS.contains(&id.as_str()) {
        axum::Json(model_object(&id)).into_response()
    } else {
        openai_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("The model `{id}` does not exist or you do not have access to it."),
            None,
            Some("model_not_found"),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Chat completions: request

/// What the conversation asks of the fake.
#[derive(Debug)]
enum Turn {
    /// The conversation ends with a user message (the last one's text and image URLs).
    User { text: String, image_urls: Vec<String> },
    /// The conversation ends with tool results (their contents, in order).
    ToolResults(Vec<String>),
}

#[derive(Debug)]
struct ChatRequest {
    model: String,
    stream: bool,
    include_usage: bool,
    prompt_tokens: u64,
    turn: Turn,
}

const ROLES: &[&str] = &["system", "developer", "user", "assistant", "tool", "function"];
const PART_TYPES: &[&str] = &["text", "image_url", "input_audio", "file", "refusal"];

/// Text of a message `content`: a string, or the `text` parts of an array joined by a space.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p["type"] == "text")
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn image_urls(content: &Value) -> Vec<String> {
    content
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["type"] == "image_url")
        .map(|p| {
            let url = &p["image_url"];
            url["url"]
                .as_str()
                .or(url.as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// A rough token count: ~4 characters a token, a few tokens per message, 85 per image.
fn estimate_prompt_tokens(body: &Value) -> u64 {
    let mut tokens = 3;
    for m in body["messages"].as_array().into_iter().flatten() {
        tokens += 4 + content_text(&m["content"]).chars().count() as u64 / 4;
        tokens += 85 * image_urls(&m["content"]).len() as u64;
        if let Some(calls) = m.get("tool_calls") {
            tokens += calls.to_string().len() as u64 / 4;
        }
    }
    if let Some(tools) = body.get("tools") {
        tokens += tools.to_string().len() as u64 / 4;
    }
    tokens
}

/// Validates a chat request as OpenAI does (the parts a translator can get wrong).
fn parse_chat(body: &Value) -> Result<ChatRequest, Rejection> {
    let Some(obj) = body.as_object() else {
        return Err(reject("The request body must be a JSON object.", None));
    };
    let model = match obj.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => return Err(reject("you must provide a model parameter", Some("model"))),
    };
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(reject("'stream' must be a boolean.", Some("stream"))),
    };
    let stream_options = obj.get("stream_options").filter(|v| !v.is_null());
    if stream_options.is_some() && !stream {
        return Err(reject(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            Some("stream_options"),
        ));
    }
    let include_usage = stream_options.is_some_and(|o| o["include_usage"] == true);
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) => {
            return Err(reject(
                "'messages' must contain at least one message.",
                Some("messages"),
            ));
        }
        _ => {
            return Err(reject(
                "Missing required parameter: 'messages'.",
                Some("messages"),
            ));
        }
    };
    if let Some(tools) = obj.get("tools").filter(|t| !t.is_null()) {
        let ok = tools.as_array().is_some_and(|ts| {
            ts.iter()
                .all(|t| t["type"] == "function" && t["function"]["name"].is_string())
        });
        if !ok {
            return Err(reject(
                "Each tool must be {\"type\": \"function\", \"function\": {\"name\": ...}}.",
                Some("tools"),
            ));
        }
    }
    validate_messages(messages)?;

    let last = messages.last().unwrap_or(&Value::Null);
    let turn = if last["role"] == "tool" {
        let results = messages
            .iter()
            .rev()
            .take_while(|m| m["role"] == "tool")
            .map(|m| content_text(&m["content"]))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Turn::ToolResults(results)
    } else {
        let user = messages.iter().rev().find(|m| m["role"] == "user");
        let content = user.map_or(&Value::Null, |m| &m["content"]);
        Turn::User {
            text: content_text(content),
            image_urls: image_urls(content),
        }
    };
    Ok(ChatRequest {
        model,
        stream,
        include_usage,
        prompt_tokens: estimate_prompt_tokens(body),
        turn,
    })
}

fn validate_messages(messages: &[Value]) -> Result<(), Rejection> {
    // Ids of the last assistant `tool_calls` still waiting for a `tool` answer.
    let mut pending: Option<Vec<String>> = None;
    for (i, m) in messages.iter().enumerate() {
        let param = format!("messages.[{i}]");
        let role = m["role"].as_str().unwrap_or_default();
        if !ROLES.contains(&role) {
            return Err(reject(
                format!(
                    "Invalid value for 'role': {}. Supported values are: {ROLES:?}.",
                    m["role"]
                ),
                Some(&format!("{param}.role")),
            ));
        }
        let content = &m["content"];
        match content {
            Value::String(_) => {}
            Value::Null if role == "assistant" => {}
            Value::Array(parts) => {
                for (j, p) in parts.iter().enumerate() {
                    let kind = p["type"].as_str().unwrap_or_default();
                    let ok = PART_TYPES.contains(&kind)
                        && match kind {
                            "text" => p["text"].is_string(),
                            "image_url" => p["image_url"]["url"].is_string(),
                            _ => true,
                        };
                    if !ok {
                        return Err(reject(
                            format!("Invalid content part: {p}"),
                            Some(&format!("{param}.content.[{j}]")),
                        ));
                    }
                }
            }
            _ => {
                return Err(reject(
                    format!("Invalid type for '{param}.content': expected a string or an array."),
                    Some(&format!("{param}.content")),
                ));
            }
        }
        if role == "tool" {
            let Some(waiting) = pending.as_mut() else {
                return Err(reject(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceding \
                     message with 'tool_calls'.",
                    Some(&format!("{param}.role")),
                ));
            };
            let id = m["tool_call_id"].as_str().unwrap_or_default();
            let Some(pos) = waiting.iter().position(|w| w == id) else {
                return Err(reject(
                    format!("Invalid parameter: 'tool_call_id' {id:?} answers no pending tool call."),
                    Some(&format!("{param}.tool_call_id")),
                ));
            };
            waiting.remove(pos);
            continue;
        }
        if let Some(waiting) = pending.take().filter(|w| !w.is_empty()) {
            return Err(unanswered(&waiting));
        }
        if role == "assistant" {
            if content.is_null() && m.get("tool_calls").is_none_or(Value::is_null) {
                return Err(reject(
                    "An assistant message needs 'content' or 'tool_calls'.",
                    Some(&format!("{param}.content")),
                ));
            }
            if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
                let mut ids = Vec::new();
                for (j, c) in calls.iter().enumerate() {
                    let valid = c["id"].as_str().is_some_and(|s| !s.is_empty())
                        && c["type"] == "function"
                        && c["function"]["name"].is_string()
                        && c["function"]["arguments"].is_string();
                    if !valid {
                        return Err(reject(
                            format!("Invalid tool call: {c}"),
                            Some(&format!("{param}.tool_calls.[{j}]")),
                        ));
                    }
                    ids.push(c["id"].as_str().unwrap_or_default().to_owned());
                }
                pending = Some(ids);
            }
        }
    }
    match pending {
        Some(waiting) if !waiting.is_empty() => Err(unanswered(&waiting)),
        _ => Ok(()),
    }
}

fn unanswered(ids: &[String]) -> Rejection {
    reject(
        format!(
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each \
             'tool_call_id'. These tool_call_ids have no response: {}",
            ids.join(", ")
        ),
        Some("messages"),
    )
}

mod answer;
#[cfg(test)]
mod tests;

pub use answer::sse_data;
use answer::*;
