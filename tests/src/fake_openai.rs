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

// ---------------------------------------------------------------------------------------------
// Chat completions: answer

#[derive(Debug, Clone)]
struct ToolCall {
    id: String,
    name: &'static str,
    arguments: String,
}

/// The answer, independent of how it is delivered.
#[derive(Debug, Default)]
struct Reply {
    reasoning: Vec<String>,
    content: Vec<String>,
    tool_calls: Vec<ToolCall>,
    /// Argument fragments in emission order: `(tool index, fragment)`.
    fragments: Vec<(usize, String)>,
    finish_reason: &'static str,
    /// Pause before each chunk after the first.
    interval: Duration,
    /// Write each SSE frame in two halves.
    split_frames: bool,
}

impl Reply {
    fn text(text: &str) -> Reply {
        Reply {
            content: chunk_text(text, 3),
            finish_reason: "stop",
            split_frames: true,
            ..Reply::default()
        }
    }

    fn completion_tokens(&self) -> u64 {
        (self.reasoning.len() + self.content.len() + self.fragments.len() + self.tool_calls.len()).max(1)
            as u64
    }

    fn reasoning_tokens(&self) -> u64 {
        self.reasoning.len() as u64
    }
}

/// Splits `text` into at least `min` chunks (fewer only when it has fewer characters), on
/// character boundaries.
fn chunk_text(text: &str, min: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    let size = chars.len().div_ceil(min).clamp(1, 8);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

fn tool_reply(request_id: u64) -> Reply {
    let calls: [(&'static str, [&str; 3]); 2] = [
        ("get_weather", [r#"{"ci"#, r#"ty":"Pa"#, r#"ris"}"#]),
        ("get_time", [r#"{"t"#, r#"z":"U"#, r#"TC"}"#]),
    ];
    let tool_calls = calls
        .iter()
        .enumerate()
        .map(|(i, (name, parts))| ToolCall {
            id: format!("call_fake{request_id}x{i}"),
            name,
            arguments: parts.concat(),
        })
        .collect();
    // Interleaved: 0, 1, 0, 1, 0, 1.
    let fragments = (0..3)
        .flat_map(|k| {
            calls
                .iter()
                .enumerate()
                .map(move |(i, (_, parts))| (i, parts[k].to_owned()))
        })
        .collect();
    Reply {
        tool_calls,
        fragments,
        finish_reason: "tool_calls",
        ..Reply::default()
    }
}

fn slow_reply() -> Reply {
    let count = (SLOW_TOTAL.as_millis() / SLOW_INTERVAL.as_millis()) as usize;
    Reply {
        content: (1..=count).map(|i| format!("tick {i} ")).collect(),
        finish_reason: "stop",
        interval: SLOW_INTERVAL,
        ..Reply::default()
    }
}

/// Counts an answer as cancelled when dropped before [`CancelGuard::finish`].
struct CancelGuard {
    shared: Arc<Shared>,
    finished: bool,
}

impl CancelGuard {
    fn new(shared: Arc<Shared>) -> CancelGuard {
        CancelGuard {
            shared,
            finished: false,
        }
    }

    fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            self.shared.completed.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let parsed = shared.record(Method::POST, CHAT_PATH, &headers, &body);
    if let Err(resp) = authorize(&headers) {
        return *resp;
    }
    let Some(body) = parsed else {
        return bad_request(
            "We could not parse the JSON body of your request. Send valid JSON.",
            None,
        );
    };
    let request = match parse_chat(&body) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let n = shared.next_id();
    let reply = match &request.turn {
        Turn::ToolResults(results) => Reply::text(&format!("Tool results: {}", results.join(" | "))),
        Turn::User { text, image_urls } => {
            lock(&shared.image_urls).extend(image_urls.iter().cloned());
            if text.contains("ERROR500") {
                return openai_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    "The server had an error while processing your request. Sorry about that!",
                    None,
                    None,
                );
            }
            if text.contains("RATE429") {
                let mut resp = openai_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "requests",
                    "Rate limit reached for requests. Please try again in 7s.",
                    None,
                    Some("rate_limit_exceeded"),
                );
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("7"));
                return resp;
            }
            if text.contains("SLOW") {
                slow_reply()
            } else if text.contains("TOOLS") {
                tool_reply(n)
            } else if text.contains("THINK") {
                Reply {
                    reasoning: vec!["Let me think".into(), " about it.".into()],
                    content: chunk_text("The answer is 42.", 3),
                    finish_reason: "stop",
                    ..Reply::default()
                }
            } else if text.contains("IMAGE") {
                Reply::text(&format!("I see {} image(s)", image_urls.len()))
            } else {
                Reply::text(&format!("You said: {text}"))
            }
        }
    };
    let answer = Answer {
        id: format!("chatcmpl-fake{n}"),
        created: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        model: request.model.clone(),
        prompt_tokens: request.prompt_tokens,
        reply,
    };
    let mut resp = if request.stream {
        answer.stream(request.include_usage, CancelGuard::new(shared.clone()))
    } else {
        answer.json(CancelGuard::new(shared.clone())).await
    };
    if let Ok(v) = HeaderValue::from_str(&format!("req_fake{n}")) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// A reply with its envelope (id, timestamps, model, usage).
struct Answer {
    id: String,
    created: u64,
    model: String,
    prompt_tokens: u64,
    reply: Reply,
}

struct Frame {
    bytes: Bytes,
    delay: Duration,
}

impl Answer {
    fn usage(&self) -> Value {
        let completion = self.reply.completion_tokens();
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": self.reply.reasoning_tokens(), "audio_tokens": 0},
        })
    }

    /// The non-streaming `chat.completion` object (after the reply's pacing, if any).
    async fn json(self, mut guard: CancelGuard) -> Response {
        let pacing = self.reply.interval * self.reply.content.len().saturating_sub(1) as u32;
        if !pacing.is_zero() {
            tokio::time::sleep(pacing).await;
        }
        let r = &self.reply;
        let content = r.content.concat();
        let mut message = json!({
            "role": "assistant",
            "content": if content.is_empty() && !r.tool_calls.is_empty() { Value::Null } else { content.into() },
            "refusal": null,
            "annotations": [],
        });
        if !r.reasoning.is_empty() {
            message["reasoning_content"] = r.reasoning.concat().into();
        }
        if !r.tool_calls.is_empty() {
            message["tool_calls"] = r
                .tool_calls
                .iter()
                .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
                .collect();
        }
        let body = json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "service_tier": "default",
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": r.finish_reason}],
            "usage": self.usage(),
        });
        guard.finish();
        axum::Json(body).into_response()
    }

    fn chunk(&self, choices: Value, include_usage: bool) -> Value {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_fake",
            "service_tier": "default",
            "choices": choices,
        });
        if include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    }

    fn delta(&self, delta: Value, finish_reason: Option<&str>, include_usage: bool) -> Value {
        self.chunk(
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]),
            include_usage,
        )
    }

    /// Every chunk of the stream, in order (without `[DONE]`).
    fn chunks(&self, include_usage: bool) -> Vec<Value> {
        let r = &self.reply;
        let mut chunks = vec![self.delta(
            json!({"role": "assistant", "content": "", "refusal": null}),
            None,
            include_usage,
        )];
        for text in &r.reasoning {
            chunks.push(self.delta(json!({"reasoning_content": text}), None, include_usage));
        }
        for text in &r.content {
            chunks.push(self.delta(json!({"content": text}), None, include_usage));
        }
        for (i, c) in r.tool_calls.iter().enumerate() {
            let call = json!({"index": i, "id": c.id, "type": "function", "function": {"name": c.name, "arguments": ""}});
            chunks.push(self.delta(json!({"tool_calls": [call]}), None, include_usage));
        }
        for (i, fragment) in &r.fragments {
            let call = json!({"index": i, "function": {"arguments": fragment}});
            chunks.push(self.delta(json!({"tool_calls": [call]}), None, include_usage));
        }
        chunks.push(self.delta(json!({}), Some(r.finish_reason), include_usage));
        if include_usage {
            let mut usage = self.chunk(json!([]), false);
            usage["usage"] = self.usage();
            chunks.push(usage);
        }
        chunks
    }

    fn stream(self, include_usage: bool, guard: CancelGuard) -> Response {
        let mut frames = VecDeque::new();
        let texts = self
            .chunks(include_usage)
            .into_iter()
            .map(|c| format!("data: {c}\n\n"))
            .chain([String::from("data: [DONE]\n\n")]);
        for (k, text) in texts.enumerate() {
            let delay = if k == 0 {
                Duration::ZERO
            } else {
                self.reply.interval
            };
            let bytes = Bytes::from(text);
            if self.reply.split_frames && bytes.len() > 1 {
                let mid = bytes.len() / 2;
                frames.push_back(Frame {
                    bytes: bytes.slice(..mid),
                    delay,
                });
                frames.push_back(Frame {
                    bytes: bytes.slice(mid..),
                    delay: SPLIT_PAUSE,
                });
            } else {
                frames.push_back(Frame { bytes, delay });
            }
        }
        let body = futures::stream::unfold((frames, guard), |(mut frames, mut guard)| async move {
            let frame = frames.pop_front()?;
            if !frame.delay.is_zero() {
                tokio::time::sleep(frame.delay).await;
            }
            if frames.is_empty() {
                guard.finish();
            }
            Some((Ok::<_, Infallible>(frame.bytes), (frames, guard)))
        });
        Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream; charset=utf-8")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(Body::from_stream(body))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }
}

/// The `data:` payloads of an SSE body, in order (`[DONE]` included as text).
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(fake: &FakeOpenAi, key: Option<&str>, body: Value) -> reqwest::Response {
        let mut req = reqwest::Client::new().post(fake.url(CHAT_PATH)).json(&body);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send().await.unwrap()
    }

    fn request(text: Value, stream: bool) -> Value {
        let mut body = json!({"model": "my-model", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": text},
        ]});
        if stream {
            body["stream"] = true.into();
            body["stream_options"] = json!({"include_usage": true});
        }
        body
    }

    /// Streams a request and returns its parsed chunks, checking the framing on the way.
    async fn stream_chunks(fake: &FakeOpenAi, body: Value) -> Vec<Value> {
        let resp = post(fake, Some(API_KEY), body).await;
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let text = resp.text().await.unwrap();
        let data = sse_data(&text);
        assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{text}");
        let chunks: Vec<Value> = data[..data.len() - 1]
            .iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        let id = chunks[0]["id"].as_str().unwrap();
        assert!(id.starts_with("chatcmpl-fake"), "{id}");
        for c in &chunks {
            assert_eq!(c["id"], id);
            assert_eq!(c["object"], "chat.completion.chunk");
            assert!(c["created"].as_u64().unwrap() > 0);
            assert_eq!(c["model"], "my-model");
        }
        assert_eq!(
            chunks[0]["choices"][0]["delta"],
            json!({"role": "assistant", "content": "", "refusal": null})
        );
        let with_choices: Vec<&Value> = chunks
            .iter()
            .filter(|c| !c["choices"].as_array().unwrap().is_empty())
            .collect();
        let (last, rest) = with_choices.split_last().unwrap();
        assert!(last["choices"][0]["finish_reason"].is_string());
        for c in rest {
            assert_eq!(c["choices"][0]["index"], 0);
            assert!(c["choices"][0]["finish_reason"].is_null());
        }
        chunks
    }

    fn content_of(chunks: &[Value], field: &str) -> String {
        chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"][field].as_str())
            .collect()
    }

    #[tokio::test]
    async fn echo_streams_valid_chunks_then_usage_then_done() {
        let fake = FakeOpenAi::start().await;
        let chunks = stream_chunks(&fake, request(json!("hello there"), true)).await;
        assert_eq!(content_of(&chunks, "content"), "You said: hello there");
        let content_chunks = chunks
            .iter()
            .filter(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty())
            })
            .count();
        assert!(content_chunks >= 3, "{content_chunks} content chunks");
        let usage = chunks.last().unwrap();
        assert_eq!(usage["choices"], json!([]));
        let u = &usage["usage"];
        assert!(u["prompt_tokens"].as_u64().unwrap() > 0);
        assert!(u["completion_tokens"].as_u64().unwrap() > 0);
        assert_eq!(
            u["total_tokens"].as_u64().unwrap(),
            u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap()
        );
        let finish = &chunks[chunks.len() - 2]["choices"][0];
        assert_eq!(finish["finish_reason"], "stop");
        assert!(chunks[..chunks.len() - 1].iter().all(|c| c["usage"].is_null()));
        assert_eq!(fake.completed(), 1);
        assert_eq!(fake.cancelled(), 0);
    }

    #[tokio::test]
    async fn no_usage_chunk_unless_asked_and_text_parts_are_read() {
        let fake = FakeOpenAi::start().await;
        let mut body = request(
            json!([{"type": "text", "text": "parts"}, {"type": "text", "text": "work"}]),
            false,
        );
        body["stream"] = true.into();
        let chunks = stream_chunks(&fake, body).await;
        assert!(
            chunks
                .iter()
                .all(|c| !c["choices"].as_array().unwrap().is_empty())
        );
        assert!(chunks.iter().all(|c| c.get("usage").is_none()));
        assert_eq!(content_of(&chunks, "content"), "You said: parts work");
    }

    #[tokio::test]
    async fn rejects_a_missing_or_wrong_key_with_openai_error_json() {
        let fake = FakeOpenAi::start().await;
        for key in [None, Some("sk-wrong")] {
            let resp = post(&fake, key, request(json!("hi"), false)).await;
            assert_eq!(resp.status(), 401);
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["error"]["type"], "invalid_request_error");
            assert_eq!(body["error"]["code"], "invalid_api_key");
            assert!(body["error"]["param"].is_null());
            assert!(body["error"]["message"].is_string());
        }
        let resp = reqwest::get(fake.url("/v1/models")).await.unwrap();
        assert_eq!(resp.status(), 401);
        // Rejected requests are recorded too.
        let recorded = fake.requests();
        assert_eq!(recorded.len(), 3);
        assert_eq!(recorded[1].header("authorization"), Some("Bearer sk-wrong"));
        assert_eq!(recorded[1].body["messages"][1]["content"], "hi");
    }

    #[tokio::test]
    async fn non_stream_returns_one_chat_completion() {
        let fake = FakeOpenAi::start().await;
        let resp = post(&fake, Some(API_KEY), request(json!("hello"), false)).await;
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .starts_with("req_fake")
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["object"], "chat.completion");
        assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-fake"));
        assert_eq!(body["model"], "my-model");
        let choice = &body["choices"][0];
        assert_eq!(choice["message"]["role"], "assistant");
        assert_eq!(choice["message"]["content"], "You said: hello");
        assert_eq!(choice["finish_reason"], "stop");
        assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
        let recorded = fake.chat_requests();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].header("authorization"), Some("Bearer sk-test"));
        assert_eq!(recorded[0].body["messages"][0]["role"], "system");
    }

    #[tokio::test]
    async fn parallel_tool_calls_interleave_and_reassemble() {
        let fake = FakeOpenAi::start().await;
        let chunks = stream_chunks(&fake, request(json!("TOOLS please"), true)).await;
        let mut order = Vec::new();
        let mut calls: Vec<(String, String, String)> = vec![Default::default(); 2];
        for c in &chunks {
            for tc in c["choices"][0]["delta"]["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let i = tc["index"].as_u64().unwrap() as usize;
                order.push(i);
                if let Some(id) = tc["id"].as_str() {
                    calls[i].0 = id.to_owned();
                    assert_eq!(tc["type"], "function");
                }
                if let Some(name) = tc["function"]["name"].as_str() {
                    calls[i].1 = name.to_owned();
                }
                calls[i].2.push_str(tc["function"]["arguments"].as_str().unwrap());
            }
        }
        assert!(
            order.windows(2).filter(|w| w[0] != w[1]).count() >= 3,
            "interleaved: {order:?}"
        );
        assert_ne!(calls[0].0, calls[1].0);
        assert!(calls[0].0.starts_with("call_"));
        assert_eq!(calls[0].1, "get_weather");
        assert_eq!(calls[1].1, "get_time");
        let args = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        assert_eq!(args(&calls[0].2), json!({"city": "Paris"}));
        assert_eq!(args(&calls[1].2), json!({"tz": "UTC"}));
        let finish = &chunks[chunks.len() - 2]["choices"][0];
        assert_eq!(finish["finish_reason"], "tool_calls");

        // Non-streaming: the same calls in one message, content null.
        let body: Value = post(&fake, Some(API_KEY), request(json!("TOOLS"), false))
            .await
            .json()
            .await
            .unwrap();
        let message = &body["choices"][0]["message"];
        assert!(message["content"].is_null());
        assert_eq!(
            message["tool_calls"][1]["function"]["arguments"],
            r#"{"tz":"UTC"}"#
        );
        assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    }

    #[tokio::test]
    async fn tool_results_must_answer_the_preceding_calls() {
        let fake = FakeOpenAi::start().await;
        let call =
            |id: &str| json!({"id": id, "type": "function", "function": {"name": "f", "arguments": "{}"}});
        let conversation = |tool_ids: &[&str]| {
            let mut messages = vec![
                json!({"role": "user", "content": "TOOLS"}),
                json!({"role": "assistant", "content": null, "tool_calls": [call("call_a"), call("call_b")]}),
            ];
            for (k, id) in tool_ids.iter().enumerate() {
                messages.push(json!({"role": "tool", "tool_call_id": id, "content": format!("r{k}")}));
            }
            json!({"model": "m", "messages": messages})
        };
        let body: Value = post(&fake, Some(API_KEY), conversation(&["call_b", "call_a"]))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(body["choices"][0]["message"]["content"], "Tool results: r0 | r1");
        for ids in [&["call_a"][..], &["call_a", "call_x"][..]] {
            let resp = post(&fake, Some(API_KEY), conversation(ids)).await;
            assert_eq!(resp.status(), 400, "{ids:?}");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["error"]["type"], "invalid_request_error");
        }
        let orphan = json!({"model": "m", "messages": [
            {"role": "user", "content": "x"},
            {"role": "tool", "tool_call_id": "call_a", "content": "r"},
        ]});
        assert_eq!(post(&fake, Some(API_KEY), orphan).await.status(), 400);
    }

    #[tokio::test]
    async fn rejects_malformed_requests() {
        let fake = FakeOpenAi::start().await;
        let cases = [
            json!({"messages": [{"role": "user", "content": "x"}]}),
            json!({"model": "m", "messages": []}),
            json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}),
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image", "data": "x"}]}]}),
            json!({"model": "m", "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "x"}]}),
            json!({"model": "m", "tools": [{"name": "f"}], "messages": [{"role": "user", "content": "x"}]}),
        ];
        for body in cases {
            let resp = post(&fake, Some(API_KEY), body.clone()).await;
            assert_eq!(resp.status(), 400, "{body}");
            let err: Value = resp.json().await.unwrap();
            assert!(err["error"]["message"].is_string(), "{body}");
        }
        let resp = reqwest::Client::new()
            .post(fake.url(CHAT_PATH))
            .bearer_auth(API_KEY)
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        assert_eq!(fake.requests().last().unwrap().body, "{not json");
    }

    #[tokio::test]
    async fn thinking_streams_reasoning_content_before_the_answer() {
        let fake = FakeOpenAi::start().await;
        let chunks = stream_chunks(&fake, request(json!("THINK hard"), true)).await;
        assert_eq!(content_of(&chunks, "reasoning_content"), "Let me think about it.");
        assert_eq!(content_of(&chunks, "content"), "The answer is 42.");
        let first_content = chunks
            .iter()
            .position(|c| {
                c["choices"][0]["delta"]["content"]
                    .as_str()
                    .is_some_and(|s| !s.is_empty())
            })
            .unwrap();
        let last_reasoning = chunks
            .iter()
            .rposition(|c| c["choices"][0]["delta"]["reasoning_content"].is_string())
            .unwrap();
        assert!(last_reasoning < first_content);
        let usage = &chunks.last().unwrap()["usage"];
        assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 2);
    }

    #[tokio::test]
    async fn image_parts_are_counted_and_recorded() {
        let fake = FakeOpenAi::start().await;
        let url = "data:image/png;base64,iVBORw0KGgo=";
        let parts = json!([
            {"type": "text", "text": "IMAGE what is this"},
            {"type": "image_url", "image_url": {"url": url}},
            {"type": "image_url", "image_url": {"url": "https://example.invalid/x.png", "detail": "low"}},
        ]);
        let chunks = stream_chunks(&fake, request(parts, true)).await;
        assert_eq!(content_of(&chunks, "content"), "I see 2 image(s)");
        assert_eq!(fake.image_urls(), [url, "https://example.invalid/x.png"]);
    }

    #[tokio::test]
    async fn upstream_errors_have_openai_shape_and_retry_after() {
        let fake = FakeOpenAi::start().await;
        let resp = post(&fake, Some(API_KEY), request(json!("ERROR500"), true)).await;
        assert_eq!(resp.status(), 500);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["type"], "server_error");
        let resp = post(&fake, Some(API_KEY), request(json!("RATE429"), false)).await;
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["retry-after"], "7");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    }

    #[tokio::test]
    async fn models_are_listed_and_unknown_paths_are_404() {
        let fake = FakeOpenAi::start().await;
        let c = reqwest::Client::new();
        let list: Value = c
            .get(fake.url("/v1/models"))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["object"], "list");
        assert_eq!(
            list["data"][0],
            json!({"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "fake"})
        );
        let one = c
            .get(fake.url("/v1/models/gpt-4o"))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(one.status(), 200);
        let missing = c
            .get(fake.url("/v1/models/nope"))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
        let wrong = c
            .post(fake.url("/v1/v1/chat/completions"))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 404);
        assert_eq!(fake.requests().last().unwrap().path, "/v1/v1/chat/completions");
    }

    #[tokio::test]
    async fn a_dropped_slow_stream_counts_as_cancelled() {
        let fake = FakeOpenAi::start().await;
        let client = reqwest::Client::new();
        let mut resp = client
            .post(fake.url(CHAT_PATH))
            .bearer_auth(API_KEY)
            .json(&request(json!("SLOW"), true))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let mut got = String::new();
        while !got.contains("tick 2 ") {
            got.push_str(&String::from_utf8_lossy(&resp.chunk().await.unwrap().unwrap()));
        }
        assert_eq!(fake.cancelled(), 0);
        drop(resp);
        drop(client);
        assert!(fake.wait_for_cancelled(1, Duration::from_secs(5)).await);
        assert_eq!(fake.completed(), 0);
    }

    #[test]
    fn chunk_text_splits_on_characters() {
        assert_eq!(chunk_text("You said: héllo", 3).concat(), "You said: héllo");
        assert!(chunk_text("You said: hi", 3).len() >= 3);
        assert_eq!(chunk_text("ab", 3), ["a", "b"]);
        assert_eq!(chunk_text("", 3), [""]);
    }

    #[test]
    fn sse_data_reads_payloads() {
        let body = "data: {\"a\":1}\n\n: comment\n\ndata:[DONE]\n\n";
        assert_eq!(sse_data(body), ["{\"a\":1}", "[DONE]"]);
    }
}
