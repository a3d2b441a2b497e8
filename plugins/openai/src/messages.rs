//! Maps the canonical system prompt and messages to Chat Completions messages.

use serde_json::{Value, json};

use crate::types::{ContentPart, ImageSource, Message, Role, ToolResultPart};

/// Joins text parts where OpenAI takes one string (system prompt, text-only content, tool output).
const SEPARATOR: &str = "\n\n";

/// Chat Completions tool messages carry text only; the note tells the model an image was there.
const IMAGE_OMITTED: &str = "[image omitted]";

pub(crate) fn messages(system: &[String], messages: &[Message]) -> Vec<Value> {
    let mut out = Vec::new();
    if !system.is_empty() {
        out.push(json!({ "role": "system", "content": system.join(SEPARATOR) }));
    }
    for message in messages {
        match message.role {
            Role::User => user(&message.content, &mut out),
            Role::Assistant => out.extend(assistant(&message.content)),
        }
    }
    out
}

/// A user turn becomes its tool messages first, then one user message with the rest: OpenAI
/// requires tool messages to follow the assistant message with the `tool_calls` directly.
fn user(parts: &[ContentPart], out: &mut Vec<Value>) {
    let mut content = Vec::new();
    for part in parts {
        match part {
            ContentPart::ToolResult { tool_use_id, content } => out.push(tool_message(tool_use_id, content)),
            ContentPart::Text(text) => content.push(text_part(text)),
            ContentPart::Image(source) => {
                content.push(json!({ "type": "image_url", "image_url": { "url": image_url(source) } }));
            }
            // Chat Completions has no document parts; the title at least tells the model that
            // a document was there.
            ContentPart::Document { title } => {
                content.push(text_part(&format!(
                    "[document: {}]",
                    title.as_deref().unwrap_or("untitled")
                )));
            }
            // Tool calls and thinking belong to assistant turns; OpenAI has no place for them here.
            ContentPart::ToolUse { .. } | ContentPart::Thinking => {}
        }
    }
    if !content.is_empty() {
        out.push(json!({ "role": "user", "content": user_content(content) }));
    }
}

/// Text-only content goes as a plain string, which older compatible servers require.
fn user_content(parts: Vec<Value>) -> Value {
    let texts: Option<Vec<&str>> = parts
        .iter()
        .map(|p| p.get("text").and_then(Value::as_str))
        .collect();
    match texts {
        Some(texts) => Value::String(texts.join(SEPARATOR)),
        None => Value::Array(parts),
    }
}

fn text_part(text: &str) -> Value {
    json!({ "type": "text", "text": text })
}

fn image_url(source: &ImageSource) -> String {
    match source {
        ImageSource::Url(url) => url.clone(),
        ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
    }
}

fn tool_message(tool_call_id: &str, content: &[ToolResultPart]) -> Value {
    let texts: Vec<&str> = content
        .iter()
        .map(|part| match part {
            ToolResultPart::Text(text) => text.as_str(),
            ToolResultPart::Image => IMAGE_OMITTED,
        })
        .collect();
    json!({ "role": "tool", "tool_call_id": tool_call_id, "content": texts.join(SEPARATOR) })
}

/// `None` for a turn with neither text nor tool calls (e.g. thinking only), which OpenAI
/// would reject.
fn assistant(parts: &[ContentPart]) -> Option<Value> {
    let mut texts = Vec::new();
    let mut tool_calls = Vec::new();
    for part in parts {
        match part {
            ContentPart::Text(text) => texts.push(text.as_str()),
            ContentPart::ToolUse { id, name, input_json } => tool_calls.push(json!({
                "id": id,
                "type": "function",
                "function": { "name": name, "arguments": input_json },
            })),
            // OpenAI does not accept reasoning back, and assistant turns carry no media or
            // tool results.
            ContentPart::Thinking
            | ContentPart::Image(_)
            | ContentPart::Document { .. }
            | ContentPart::ToolResult { .. } => {}
        }
    }
    if texts.is_empty() && tool_calls.is_empty() {
        return None;
    }
    let content = if texts.is_empty() {
        Value::Null
    } else {
        texts.join(SEPARATOR).into()
    };
    let mut message = json!({ "role": "assistant", "content": content });
    if !tool_calls.is_empty() {
        message["tool_calls"] = tool_calls.into();
    }
    Some(message)
}
