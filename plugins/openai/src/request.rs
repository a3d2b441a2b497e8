//! Builds the Chat Completions request body from the canonical request.

use gateway_guest::ProviderError;
use serde_json::{Map, Number, Value, json};

use crate::messages::messages;
use crate::types::{ChatRequest, ClientApi, Tool, ToolChoice};

/// Which field carries the output limit. OpenAI rejects requests that set both, and its
/// newer models reject `max_tokens`, while older compatible servers know only `max_tokens`;
/// so the operator picks one with the `max_tokens_field` config key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum MaxTokensField {
    #[default]
    MaxCompletionTokens,
    MaxTokens,
}

impl MaxTokensField {
    pub(crate) fn from_config(value: Option<&str>) -> Result<Self, ProviderError> {
        match value.map(str::trim) {
            None | Some("" | "max_completion_tokens") => Ok(Self::MaxCompletionTokens),
            Some("max_tokens") => Ok(Self::MaxTokens),
            Some(other) => Err(ProviderError::Internal(format!(
                "config max_tokens_field must be max_completion_tokens or max_tokens, not {other:?}"
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::MaxCompletionTokens => "max_completion_tokens",
            Self::MaxTokens => "max_tokens",
        }
    }
}

pub(crate) fn chat_body(req: &ChatRequest, max_tokens_field: MaxTokensField) -> Result<Value, ProviderError> {
    let mut body = Map::new();
    body.insert("model".into(), req.upstream_model.clone().into());
    body.insert("messages".into(), messages(&req.system, &req.messages).into());
    // Always stream, whatever the client asked: one decoder serves every response and the host
    // aggregates for non-streaming clients. Without `include_usage` a stream has no usage.
    body.insert("stream".into(), true.into());
    body.insert("stream_options".into(), json!({ "include_usage": true }));
    // OpenAI rejects `tool_choice` and `parallel_tool_calls` in a request without tools.
    if !req.tools.is_empty() {
        body.insert("tools".into(), tools(&req.tools)?);
        if let Some(choice) = &req.tool_choice {
            body.insert("tool_choice".into(), tool_choice(choice));
        }
        if let Some(parallel) = req.parallel_tool_calls {
            body.insert("parallel_tool_calls".into(), parallel.into());
        }
    }
    if let Some(max_tokens) = req.max_tokens {
        body.insert(max_tokens_field.name().into(), max_tokens.into());
    }
    if let Some(temperature) = req.temperature {
        body.insert("temperature".into(), float(temperature));
    }
    if let Some(top_p) = req.top_p {
        body.insert("top_p".into(), float(top_p));
    }
    if !req.stop_sequences.is_empty() {
        body.insert("stop".into(), req.stop_sequences.clone().into());
    }
    if let Some(effort) = &req.reasoning_effort {
        body.insert("reasoning_effort".into(), effort.clone().into());
    }
    if let Some(format) = &req.response_format_json {
        let format = parse(format, || "response_format is not valid JSON".to_owned())?;
        body.insert("response_format".into(), format);
    }
    // Extra fields of a Claude client (`container`, `mcp_servers`, ...) mean nothing to OpenAI.
    if req.client_api == ClientApi::OpenAiChat {
        merge_extra(&mut body, &req.extra_json);
    }
    Ok(Value::Object(body))
}

fn tools(tools: &[Tool]) -> Result<Value, ProviderError> {
    let tools = tools.iter().map(|tool| {
        let parameters = parse(&tool.input_schema_json, || {
            format!("input schema of tool {} is not valid JSON", tool.name)
        })?;
        let mut function = json!({ "name": tool.name, "parameters": parameters });
        if let Some(description) = &tool.description {
            function["description"] = description.clone().into();
        }
        Ok(json!({ "type": "function", "function": function }))
    });
    tools.collect::<Result<Vec<_>, _>>().map(Value::Array)
}

fn tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => "auto".into(),
        ToolChoice::Any => "required".into(),
        ToolChoice::None => "none".into(),
        ToolChoice::Named(name) => json!({ "type": "function", "function": { "name": name } }),
    }
}

/// Passes through the OpenAI parameters the host does not model (`seed`, `logit_bias`, `user`,
/// ...). Fields already set win, and `n` is dropped: only choice 0 is decoded, so further
/// choices would be paid for and thrown away.
fn merge_extra(body: &mut Map<String, Value>, extra_json: &str) {
    // The host always sends an object; anything else carries nothing to merge.
    let Ok(Value::Object(extra)) = serde_json::from_str(extra_json) else {
        return;
    };
    for (key, value) in extra {
        if key != "n" && !body.contains_key(&key) {
            body.insert(key, value);
        }
    }
}

/// `0.7f32` widened to `f64` is 0.699999988...; going through the shortest decimal form sends
/// the value the client wrote.
fn float(value: f32) -> Value {
    let widened = value.to_string().parse().ok().and_then(Number::from_f64);
    widened.map_or(Value::Null, Value::Number)
}

fn parse(json: &str, what: impl FnOnce() -> String) -> Result<Value, ProviderError> {
    serde_json::from_str(json).map_err(|e| ProviderError::BadRequest(format!("{}: {e}", what())))
}

#[cfg(test)]
mod tests;
