//! OpenAI Chat Completions: request parsing into the canonical request, event encoding (SSE/JSON).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{Encoder, unix_now};
use crate::canonical::{
    ChatRequest, ClientApi, ContentPart, Event, ImageSource, Message, Role, StopReason, Tool, ToolChoice,
    ToolResultPart, Usage,
};
use crate::error::ApiError;

const KNOWN_FIELDS: &[&str] = &[
    "model",
    "messages",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "reasoning_effort",
    "response_format",
    "stream",
    "stream_options",
    "metadata",
    "n",
    "functions",
    "function_call",
];

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(msg).openai()
}

/// Parses a Chat Completions request body. Also returns whether the client asked for a usage
/// chunk (`stream_options.include_usage`).
pub fn parse_request(body: &[u8]) -> Result<(ChatRequest, bool), ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("request body is not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(bad("request body must be a JSON object"));
    };
    let model = match obj.get("model") {
        Some(Value::String(m)) => m.clone(),
        _ => return Err(bad("model: field required (a string)")),
    };
    if obj.get("n").and_then(Value::as_u64).is_some_and(|n| n != 1) {
        return Err(bad("n: only n=1 is supported"));
    }
    let raw_messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("messages: field required (an array)"))?;
    let mut system = Vec::new();
    let mut messages: Vec<Message> = Vec::new();
    for (i, m) in raw_messages.iter().enumerate() {
        parse_message(m, &mut system, &mut messages).map_err(|e| bad(format!("messages.{i}: {e}")))?;
    }
    let tools = match obj.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(tools)) => tools.iter().map(parse_tool).collect::<Result<_, _>>()?,
        Some(_) => return Err(bad("tools: must be an array")),
    };
    let tool_choice = match obj.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Any,
            other => return Err(bad(format!("tool_choice: unknown value `{other}`"))),
        }),
        Some(v) => Some(ToolChoice::Named(
            v.pointer("/function/name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("tool_choice.function.name: field required"))?
                .to_owned(),
        )),
    };
    let stop_sequences = match obj.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| bad("stop: strings only"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad("stop: must be a string or an array")),
    };
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad("stream: must be a boolean")),
    };
    let include_usage = obj
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let num = |key: &str| -> Result<Option<f32>, ApiError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .map(|f| Some(f as f32))
                .ok_or_else(|| bad(format!("{key}: must be a number"))),
        }
    };
    let int = |key: &str| -> Result<Option<u32>, ApiError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| bad(format!("{key}: must be a non-negative integer"))),
        }
    };
    let extra: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| !KNOWN_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let request = ChatRequest {
        upstream_model: model.clone(),
        model,
        client_api: ClientApi::OpenaiChat,
        system,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: obj.get("parallel_tool_calls").and_then(Value::as_bool),
        max_tokens: int("max_completion_tokens")?.or(int("max_tokens")?),
        temperature: num("temperature")?,
        top_p: num("top_p")?,
        top_k: None,
        stop_sequences,
        thinking_budget: None,
        reasoning_effort: obj
            .get("reasoning_effort")
            .and_then(Value::as_str)
            .map(str::to_owned),
        response_format_json: obj
            .get("response_format")
            .filter(|v| !v.is_null())
            .map(Value::to_string),
        metadata_json: obj.get("metadata").filter(|v| !v.is_null()).map(Value::to_string),
        stream,
        extra_json: Value::Object(extra).to_string(),
    };
    Ok((request, include_usage))
}

/// Text of a `content` that may be a string, null, or an array of text parts.
fn plain_text(content: Option<&Value>) -> Result<String, String> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => Ok(parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("")),
        Some(_) => Err("content: must be a string, null or an array".into()),
    }
}

fn image_source(url: &str) -> ImageSource {
    // `data:<media-type>;base64,<data>` → inline bytes; anything else stays a URL.
    if let Some(rest) = url.strip_prefix("data:")
        && let Some((meta, data)) = rest.split_once(',')
        && let Some(media_type) = meta.strip_suffix(";base64")
    {
        return ImageSource::Base64 {
            media_type: media_type.to_owned(),
            data: data.to_owned(),
        };
    }
    ImageSource::Url(url.to_owned())
}

fn user_parts(content: Option<&Value>) -> Result<Vec<ContentPart>, String> {
    match content {
        Some(Value::String(s)) => Ok(vec![ContentPart::Text(s.clone())]),
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|p| match p.get("type").and_then(Value::as_str) {
                Some("text") => Ok(ContentPart::Text(
                    p.get("text")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                )),
                Some("image_url") => {
                    let url = p
                        .pointer("/image_url/url")
                        .or_else(|| p.get("image_url").filter(|v| v.is_string()))
                        .and_then(Value::as_str)
                        .ok_or("image_url.url: field required")?;
                    Ok(ContentPart::Image(image_source(url)))
                }
                Some("file") => Ok(ContentPart::Document {
                    media_type: "application/pdf".into(),
                    data: p
                        .pointer("/file/file_data")
                        .and_then(Value::as_str)
                        .map(|d| d.split_once(',').map_or(d, |(_, b)| b).to_owned())
                        .ok_or("file.file_data: field required")?,
                    title: p
                        .pointer("/file/filename")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                }),
                other => Err(format!("content part type {other:?} is not supported")),
            })
            .collect(),
        _ => Err("content: must be a string or an array of parts".into()),
    }
}

fn push(messages: &mut Vec<Message>, role: Role, parts: Vec<ContentPart>) {
    // Consecutive tool results (one OpenAI message each) form one canonical user turn.
    match messages.last_mut() {
        Some(last)
            if last.role == role
                && role == Role::User
                && parts.iter().all(|p| matches!(p, ContentPart::ToolResult { .. }))
                && last
                    .content
                    .iter()
                    .all(|p| matches!(p, ContentPart::ToolResult { .. })) =>
        {
            last.content.extend(parts)
        }
        _ => messages.push(Message { role, content: parts }),
    }
}

fn parse_message(m: &Value, system: &mut Vec<String>, messages: &mut Vec<Message>) -> Result<(), String> {
    let role = m
        .get("role")
        .and_then(Value::as_str)
        .ok_or("role: field required")?;
    match role {
        "system" | "developer" => system.push(plain_text(m.get("content"))?),
        "user" => push(messages, Role::User, user_parts(m.get("content"))?),
        "assistant" => {
            let mut parts = Vec::new();
            if let Some(r) = m
                .get("reasoning_content")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            {
                parts.push(ContentPart::Thinking {
                    text: r.to_owned(),
                    signature: None,
                });
            }
            let text = plain_text(m.get("content"))?;
            if !text.is_empty() {
                parts.push(ContentPart::Text(text));
            }
            for call in m
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                parts.push(ContentPart::ToolUse {
                    id: call
                        .get("id")
                        .and_then(Value::as_str)
                        .ok_or("tool_calls[].id: field required")?
                        .to_owned(),
                    name: call
                        .pointer("/function/name")
                        .and_then(Value::as_str)
                        .ok_or("tool_calls[].function.name: field required")?
                        .to_owned(),
                    input_json: call
                        .pointer("/function/arguments")
                        .and_then(Value::as_str)
                        .unwrap_or("{}")
                        .to_owned(),
                });
            }
            push(messages, Role::Assistant, parts);
        }
        "tool" | "function" => {
            let id = m
                .get("tool_call_id")
                .or_else(|| m.get("name"))
                .and_then(Value::as_str)
                .ok_or("tool_call_id: field required")?;
            let part = ContentPart::ToolResult {
                tool_use_id: id.to_owned(),
                content: vec![ToolResultPart::Text(plain_text(m.get("content"))?)],
                is_error: false,
            };
            push(messages, Role::User, vec![part]);
        }
        other => return Err(format!("role: unknown role `{other}`")),
    }
    Ok(())
}

fn parse_tool(t: &Value) -> Result<Tool, ApiError> {
    let f = t
        .get("function")
        .ok_or_else(|| bad("tools: each tool needs a function"))?;
    Ok(Tool {
        name: f
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("tools[].function.name: field required"))?
            .to_owned(),
        description: f.get("description").and_then(Value::as_str).map(str::to_owned),
        input_schema_json: f
            .get("parameters")
            .cloned()
            .unwrap_or_else(|| json!({"type": "object"}))
            .to_string(),
    })
}

pub fn finish_reason(r: StopReason) -> &'static str {
    match r {
        StopReason::EndTurn | StopReason::StopSequence | StopReason::Refusal => "stop",
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::ContentFilter => "content_filter",
    }
}

/// Encodes canonical events as `chat.completion.chunk` SSE lines.
pub struct OpenAiEncoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    started: bool,
    /// canonical tool-call index → OpenAI position (0, 1, … in order of appearance).
    tool_positions: BTreeMap<u32, u32>,
    usage: Usage,
    prompt_estimate: u32,
    stop: Option<StopReason>,
    /// Everything emitted, for an output-token estimate when the upstream reports none.
    emitted: String,
    out: String,
}

impl OpenAiEncoder {
    pub fn new(model: &str, include_usage: bool, prompt_estimate: u32) -> Self {
        let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
        Self::with_id(&id, unix_now(), model, include_usage, prompt_estimate)
    }

    /// With a fixed id and creation time (golden tests).
    pub fn with_id(id: &str, created: u64, model: &str, include_usage: bool, prompt_estimate: u32) -> Self {
        OpenAiEncoder {
            id: id.to_owned(),
            model: model.to_owned(),
            created,
            include_usage,
            started: false,
            tool_positions: BTreeMap::new(),
            usage: Usage::default(),
            prompt_estimate,
            stop: None,
            emitted: String::new(),
            out: String::new(),
        }
    }

    fn chunk(&mut self, delta: Value, finish: Option<&str>) {
        let chunk = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        self.out.push_str("data: ");
        self.out.push_str(&chunk.to_string());
        self.out.push_str("\n\n");
    }

    fn start(&mut self) {
        if !self.started {
            self.started = true;
            self.chunk(json!({"role": "assistant", "content": ""}), None);
        }
    }
}

impl Encoder for OpenAiEncoder {
    fn open(&mut self) -> String {
        self.start();
        std::mem::take(&mut self.out)
    }

    fn push(&mut self, event: &Event) -> String {
        if let Some(t) = super::output_text(event) {
            self.emitted.push_str(t);
        }
        match event {
            Event::MessageStart { usage: Some(u), .. } | Event::Usage(u) => {
                super::merge_usage(&mut self.usage, u)
            }
            _ => {}
        }
        match event {
            Event::MessageStart { .. } | Event::Usage(_) | Event::Media(_) | Event::ToolCallEnd(_) => {}
            Event::TextDelta(t) => {
                self.start();
                self.chunk(json!({"content": t}), None);
            }
            Event::ThinkingDelta(t) => {
                self.start();
                self.chunk(json!({"reasoning_content": t}), None);
            }
            Event::ThinkingSignature(_) => {}
            Event::ToolCallStart { index, id, name } => {
                self.start();
                let position = self.tool_positions.len() as u32;
                let position = *self.tool_positions.entry(*index).or_insert(position);
                self.chunk(
                    json!({"tool_calls": [{"index": position, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}),
                    None,
                );
            }
            Event::ToolCallDelta { index, partial_json } => {
                if let Some(&position) = self.tool_positions.get(index) {
                    self.chunk(
                        json!({"tool_calls": [{"index": position, "function": {"arguments": partial_json}}]}),
                        None,
                    );
                }
            }
            Event::Stop(r) => self.stop = Some(*r),
        }
        std::mem::take(&mut self.out)
    }

    fn finish(&mut self) -> String {
        self.start();
        let reason = self.stop.unwrap_or(if self.tool_positions.is_empty() {
            StopReason::EndTurn
        } else {
            StopReason::ToolUse
        });
        self.chunk(json!({}), Some(finish_reason(reason)));
        if self.include_usage {
            let usage = usage_json(&self.usage, self.prompt_estimate, &self.emitted);
            let chunk = json!({
                "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [], "usage": usage,
            });
            self.out.push_str(&format!("data: {chunk}\n\n"));
        }
        self.out.push_str("data: [DONE]\n\n");
        std::mem::take(&mut self.out)
    }

    fn error(&mut self, err: &ApiError) -> String {
        format!("data: {}\n\ndata: [DONE]\n\n", err.openai_body())
    }

    fn keepalive(&self) -> &'static str {
        ": keep-alive\n\n"
    }
}

fn usage_json(u: &Usage, prompt_estimate: u32, emitted: &str) -> Value {
    let prompt = u.input_tokens.unwrap_or(prompt_estimate);
    let completion = super::output_tokens(u, emitted);
    let mut v = json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt.saturating_add(completion)});
    if let Some(cached) = u.cache_read_input_tokens {
        v["prompt_tokens_details"] = json!({"cached_tokens": cached});
    }
    v
}

/// Aggregates events into a non-streaming `chat.completion`.
pub fn aggregate(model: &str, events: &[Event], prompt_estimate: u32) -> Value {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tools: BTreeMap<u32, (String, String, String)> = BTreeMap::new();
    let mut usage = Usage::default();
    let mut stop = None;
    for e in events {
        match e {
            Event::TextDelta(t) => text.push_str(t),
            Event::ThinkingDelta(t) => reasoning.push_str(t),
            Event::ToolCallStart { index, id, name } => {
                tools.insert(*index, (id.clone(), name.clone(), String::new()));
            }
            Event::ToolCallDelta { index, partial_json } => {
                if let Some(t) = tools.get_mut(index) {
                    t.2.push_str(partial_json);
                }
            }
            Event::MessageStart { usage: Some(u), .. } | Event::Usage(u) => super::merge_usage(&mut usage, u),
            Event::Stop(r) => stop = Some(*r),
            _ => {}
        }
    }
    let reason = stop.unwrap_or(if tools.is_empty() {
        StopReason::EndTurn
    } else {
        StopReason::ToolUse
    });
    let emitted: String = events.iter().filter_map(super::output_text).collect();
    let mut message = json!({"role": "assistant", "content": if text.is_empty() && !tools.is_empty() { Value::Null } else { Value::String(text) }, "refusal": null});
    if !reasoning.is_empty() {
        message["reasoning_content"] = Value::String(reasoning);
    }
    if !tools.is_empty() {
        message["tool_calls"] = tools
            .into_values()
            .map(|(id, name, args)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}}))
            .collect();
    }
    json!({
        "id": format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
        "object": "chat.completion",
        "created": unix_now(),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish_reason(reason)}],
        "usage": usage_json(&usage, prompt_estimate, &emitted),
    })
}
