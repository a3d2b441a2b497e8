//! Claude Messages request parsing into the canonical request.

use serde_json::{Map, Value, json};

use crate::canonical::{
    ChatRequest, ClientApi, ContentPart, ImageSource, Message, Role, Tool, ToolChoice, ToolResultPart,
};
use crate::error::ApiError;

const KNOWN_FIELDS: &[&str] = &[
    "model",
    "messages",
    "system",
    "max_tokens",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "tools",
    "tool_choice",
    "thinking",
    "metadata",
];

/// Parses a Claude Messages request body into the canonical request.
pub fn parse_request(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    };
    let model = str_field(&obj, "model")?.ok_or_else(|| ApiError::bad_request("model: field required"))?;
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::bad_request("messages: field required (an array)"))?
        .iter()
        .enumerate()
        .map(|(i, m)| parse_message(m).map_err(|e| ApiError::bad_request(format!("messages.{i}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let system = match obj.get("system") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(blocks)) => blocks
            .iter()
            .map(|b| {
                b.get("text")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::bad_request("system: blocks must be text blocks"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::bad_request(
                "system: must be a string or an array of text blocks",
            ));
        }
    };
    let tools = match obj.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(tools)) => tools.iter().map(parse_tool).collect::<Result<_, _>>()?,
        Some(_) => return Err(ApiError::bad_request("tools: must be an array")),
    };
    let tool_choice = obj
        .get("tool_choice")
        .filter(|v| !v.is_null())
        .map(parse_tool_choice)
        .transpose()?;
    let thinking_budget = match obj.get("thinking") {
        Some(t) if t.get("type").and_then(Value::as_str) == Some("enabled") => {
            Some(u32_of(t.get("budget_tokens"), "thinking.budget_tokens")?.unwrap_or(1024))
        }
        _ => None,
    };
    let stop_sequences = match obj.get("stop_sequences") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::bad_request("stop_sequences: strings only"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ApiError::bad_request("stop_sequences: must be an array")),
    };
    let extra: Map<String, Value> = obj
        .iter()
        .filter(|(k, _)| !KNOWN_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(ChatRequest {
        upstream_model: model.clone(),
        model,
        client_api: ClientApi::ClaudeMessages,
        system,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: None,
        max_tokens: u32_of(obj.get("max_tokens"), "max_tokens")?,
        temperature: f32_of(obj.get("temperature"), "temperature")?,
        top_p: f32_of(obj.get("top_p"), "top_p")?,
        top_k: u32_of(obj.get("top_k"), "top_k")?,
        stop_sequences,
        thinking_budget,
        reasoning_effort: None,
        response_format_json: None,
        metadata_json: obj.get("metadata").filter(|v| !v.is_null()).map(Value::to_string),
        stream: match obj.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(ApiError::bad_request("stream: must be a boolean")),
        },
        extra_json: Value::Object(extra).to_string(),
    })
}

fn str_field(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(format!("{key}: must be a string"))),
    }
}

fn u32_of(v: Option<&Value>, key: &str) -> Result<Option<u32>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| ApiError::bad_request(format!("{key}: must be a non-negative integer"))),
    }
}

fn f32_of(v: Option<&Value>, key: &str) -> Result<Option<f32>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(|f| Some(f as f32))
            .ok_or_else(|| ApiError::bad_request(format!("{key}: must be a number"))),
    }
}

fn parse_message(m: &Value) -> Result<Message, String> {
    let role = match m.get("role").and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        other => return Err(format!("role: expected `user` or `assistant`, got {other:?}")),
    };
    let content = match m.get("content") {
        Some(Value::String(s)) => vec![ContentPart::Text(s.clone())],
        Some(Value::Array(blocks)) => blocks.iter().map(parse_block).collect::<Result<_, _>>()?,
        _ => return Err("content: must be a string or an array of blocks".into()),
    };
    Ok(Message { role, content })
}

fn parse_image_source(src: Option<&Value>) -> Result<ImageSource, String> {
    let src = src.ok_or("source: field required")?;
    match src.get("type").and_then(Value::as_str) {
        Some("base64") => Ok(ImageSource::Base64 {
            media_type: src
                .get("media_type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            data: src
                .get("data")
                .and_then(Value::as_str)
                .ok_or("source.data: field required")?
                .to_owned(),
        }),
        Some("url") => Ok(ImageSource::Url(
            src.get("url")
                .and_then(Value::as_str)
                .ok_or("source.url: field required")?
                .to_owned(),
        )),
        other => Err(format!("source.type: unsupported {other:?}")),
    }
}

fn text_of(b: &Value, key: &str) -> Result<String, String> {
    b.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("{key}: field required"))
}

fn parse_block(b: &Value) -> Result<ContentPart, String> {
    let kind = b
        .get("type")
        .and_then(Value::as_str)
        .ok_or("content block without `type`")?;
    Ok(match kind {
        "text" => ContentPart::Text(text_of(b, "text")?),
        "image" => ContentPart::Image(parse_image_source(b.get("source"))?),
        "document" => match parse_image_source(b.get("source"))? {
            ImageSource::Base64 { media_type, data } => ContentPart::Document {
                media_type,
                data,
                title: b.get("title").and_then(Value::as_str).map(str::to_owned),
            },
            ImageSource::Url(url) => ContentPart::Text(url),
        },
        "tool_use" => ContentPart::ToolUse {
            id: text_of(b, "id")?,
            name: text_of(b, "name")?,
            input_json: b.get("input").cloned().unwrap_or_else(|| json!({})).to_string(),
        },
        "tool_result" => ContentPart::ToolResult {
            tool_use_id: text_of(b, "tool_use_id")?,
            content: match b.get("content") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::String(s)) => vec![ToolResultPart::Text(s.clone())],
                Some(Value::Array(parts)) => parts
                    .iter()
                    .map(|p| match p.get("type").and_then(Value::as_str) {
                        Some("text") => Ok(ToolResultPart::Text(text_of(p, "text")?)),
                        Some("image") => Ok(ToolResultPart::Image(parse_image_source(p.get("source"))?)),
                        other => Err(format!("tool_result content type {other:?} unsupported")),
                    })
                    .collect::<Result<_, String>>()?,
                Some(_) => return Err("tool_result.content: must be a string or array".into()),
            },
            is_error: b.get("is_error").and_then(Value::as_bool).unwrap_or(false),
        },
        "thinking" => ContentPart::Thinking {
            text: text_of(b, "thinking")?,
            signature: b.get("signature").and_then(Value::as_str).map(str::to_owned),
        },
        "redacted_thinking" => ContentPart::RedactedThinking(text_of(b, "data")?),
        other => return Err(format!("content block type `{other}` is not supported")),
    })
}

fn parse_tool(t: &Value) -> Result<Tool, ApiError> {
    let name = t
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("tools: each tool needs a name"))?;
    Ok(Tool {
        name: name.to_owned(),
        description: t.get("description").and_then(Value::as_str).map(str::to_owned),
        input_schema_json: t
            .get("input_schema")
            .cloned()
            .unwrap_or_else(|| json!({"type": "object"}))
            .to_string(),
    })
}

fn parse_tool_choice(v: &Value) -> Result<ToolChoice, ApiError> {
    match v.get("type").and_then(Value::as_str) {
        Some("auto") => Ok(ToolChoice::Auto),
        Some("any") => Ok(ToolChoice::Any),
        Some("none") => Ok(ToolChoice::None),
        Some("tool") => v
            .get("name")
            .and_then(Value::as_str)
            .map(|n| ToolChoice::Named(n.to_owned()))
            .ok_or_else(|| ApiError::bad_request("tool_choice.name: field required")),
        _ => Err(ApiError::bad_request(
            "tool_choice.type: expected auto, any, none or tool",
        )),
    }
}
