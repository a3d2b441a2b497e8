//! WIT glue: conversions between wit-bindgen types and the core types.

use crate::bindings::gateway::provider::types as wt;
use crate::error::{NetError, ProviderError};
use crate::types::{
    Account, ChatRequest, ClientApi, ContentPart, Event, ImageSource, Message, ModelInfo, Role, StopReason,
    Tool, ToolChoice, ToolResultPart, Usage,
};

pub(crate) fn account(a: wt::Account) -> Account {
    Account {
        credentials_json: a.credentials_json,
    }
}

/// Keeps what Chat Completions can express; see [`ChatRequest`] for what is left out.
pub(crate) fn chat_request(r: wt::ChatRequest) -> ChatRequest {
    ChatRequest {
        upstream_model: r.upstream_model,
        client_api: match r.client_api {
            wt::ClientApi::ClaudeMessages => ClientApi::ClaudeMessages,
            wt::ClientApi::OpenaiChat => ClientApi::OpenAiChat,
        },
        system: r.system,
        messages: r.messages.into_iter().map(message).collect(),
        tools: r.tools.into_iter().map(tool).collect(),
        tool_choice: r.tool_choice.map(|choice| match choice {
            wt::ToolChoice::Auto => ToolChoice::Auto,
            wt::ToolChoice::Any => ToolChoice::Any,
            wt::ToolChoice::None => ToolChoice::None,
            wt::ToolChoice::Named(name) => ToolChoice::Named(name),
        }),
        parallel_tool_calls: r.parallel_tool_calls,
        max_tokens: r.max_tokens,
        temperature: r.temperature,
        top_p: r.top_p,
        stop_sequences: r.stop_sequences,
        reasoning_effort: r.reasoning_effort,
        response_format_json: r.response_format_json,
        extra_json: r.extra_json,
    }
}

fn message(m: wt::Message) -> Message {
    Message {
        role: match m.role {
            wt::Role::User => Role::User,
            wt::Role::Assistant => Role::Assistant,
        },
        content: m.content.into_iter().map(content_part).collect(),
    }
}

fn content_part(part: wt::ContentPart) -> ContentPart {
    match part {
        wt::ContentPart::Text(text) => ContentPart::Text(text),
        wt::ContentPart::Image(source) => ContentPart::Image(image_source(source)),
        wt::ContentPart::Document(d) => ContentPart::Document { title: d.title },
        wt::ContentPart::ToolUse(t) => ContentPart::ToolUse {
            id: t.id,
            name: t.name,
            input_json: t.input_json,
        },
        wt::ContentPart::ToolResult(r) => ContentPart::ToolResult {
            tool_use_id: r.tool_use_id,
            content: r
                .content
                .into_iter()
                .map(|part| match part {
                    wt::ToolResultPart::Text(text) => ToolResultPart::Text(text),
                    wt::ToolResultPart::Image(_) => ToolResultPart::Image,
                })
                .collect(),
        },
        wt::ContentPart::Thinking(_) | wt::ContentPart::RedactedThinking(_) => ContentPart::Thinking,
    }
}

fn image_source(source: wt::ImageSource) -> ImageSource {
    match source {
        wt::ImageSource::Url(url) => ImageSource::Url(url),
        wt::ImageSource::Base64(b) => ImageSource::Base64 {
            media_type: b.media_type,
            data: b.data,
        },
    }
}

fn tool(t: wt::Tool) -> Tool {
    Tool {
        name: t.name,
        description: t.description,
        input_schema_json: t.input_schema_json,
    }
}

pub(crate) fn event(e: Event) -> wt::Event {
    match e {
        Event::MessageStart { id } => wt::Event::MessageStart(wt::MessageStart { id, usage: None }),
        Event::TextDelta(text) => wt::Event::TextDelta(text),
        Event::ThinkingDelta(text) => wt::Event::ThinkingDelta(text),
        Event::ToolCallStart { index, id, name } => {
            wt::Event::ToolCallStart(wt::ToolCallStart { index, id, name })
        }
        Event::ToolCallDelta { index, partial_json } => {
            wt::Event::ToolCallDelta(wt::ToolCallDelta { index, partial_json })
        }
        Event::ToolCallEnd(index) => wt::Event::ToolCallEnd(index),
        Event::Usage(u) => wt::Event::Usage(usage(u)),
        Event::Stop(reason) => wt::Event::Stop(match reason {
            StopReason::EndTurn => wt::StopReason::EndTurn,
            StopReason::MaxTokens => wt::StopReason::MaxTokens,
            StopReason::ToolUse => wt::StopReason::ToolUse,
            StopReason::ContentFilter => wt::StopReason::ContentFilter,
        }),
    }
}

fn usage(u: Usage) -> wt::Usage {
    wt::Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cache_read_input_tokens: u.cache_read_input_tokens,
        cache_creation_input_tokens: None,
    }
}

pub(crate) fn provider_error(e: ProviderError) -> wt::ProviderError {
    use ProviderError as E;
    match e {
        E::AuthFailed(m) => wt::ProviderError::AuthFailed(m),
        E::RateLimited {
            retry_after_ms,
            message,
        } => wt::ProviderError::RateLimited(wt::RateLimit {
            retry_after_ms,
            message,
        }),
        E::QuotaExhausted { reset_at_ms, message } => {
            wt::ProviderError::QuotaExhausted(wt::QuotaExhausted { reset_at_ms, message })
        }
        E::BadRequest(m) => wt::ProviderError::BadRequest(m),
        E::ModelNotFound(m) => wt::ProviderError::ModelNotFound(m),
        E::Upstream { status, message } => {
            wt::ProviderError::Upstream(wt::UpstreamFailure { status, message })
        }
        E::Transient(m) => wt::ProviderError::Transient(m),
        E::Internal(m) => wt::ProviderError::Internal(m),
    }
}

pub(crate) fn net_error(e: wt::NetError) -> NetError {
    match e {
        wt::NetError::Denied(d) => NetError::Denied(d),
        wt::NetError::Timeout => NetError::Timeout,
        wt::NetError::Connect(m) => NetError::Connect(m),
        wt::NetError::TooLarge(cap) => NetError::TooLarge(cap),
        wt::NetError::Protocol(m) => NetError::Protocol(m),
        wt::NetError::Closed => NetError::Closed,
        wt::NetError::Busy => NetError::Busy,
    }
}

pub(crate) fn models(models: Vec<ModelInfo>) -> Vec<wt::ModelInfo> {
    models
        .into_iter()
        .map(|m| wt::ModelInfo {
            id: m.id,
            upstream_name: m.upstream_name,
            display_name: None,
            kind: wt::ModelKind::Chat,
            is_default: m.is_default,
        })
        .collect()
}
