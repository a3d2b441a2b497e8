//! WIT glue: conversions between wit-bindgen types and the channel's own types (events and
//! errors convert with `Into`, from the guest SDK).

use gateway_guest::bindings::gateway::provider::types as wt;

use crate::types::{
    Account, ChatRequest, ClientApi, ContentPart, ImageSource, Message, ModelInfo, Role, Tool, ToolChoice,
    ToolResultPart,
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
