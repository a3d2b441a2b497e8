//! Conversions between host-native canonical types and the generated WIT types (and nothing else).

use super::bindings::exports::gateway::provider::translator as tr;
use super::bindings::gateway::provider::types as wit;
use crate::canonical as c;

pub(super) fn chat_request(r: &c::ChatRequest) -> wit::ChatRequest {
    wit::ChatRequest {
        model: r.model.clone(),
        upstream_model: r.upstream_model.clone(),
        client_api: match r.client_api {
            c::ClientApi::ClaudeMessages => wit::ClientApi::ClaudeMessages,
            c::ClientApi::OpenaiChat => wit::ClientApi::OpenaiChat,
        },
        system: r.system.clone(),
        messages: r.messages.iter().map(message).collect(),
        tools: r
            .tools
            .iter()
            .map(|t| wit::Tool {
                name: t.name.clone(),
                description: t.description.clone(),
                input_schema_json: t.input_schema_json.clone(),
            })
            .collect(),
        tool_choice: r.tool_choice.as_ref().map(|t| match t {
            c::ToolChoice::Auto => wit::ToolChoice::Auto,
            c::ToolChoice::Any => wit::ToolChoice::Any,
            c::ToolChoice::None => wit::ToolChoice::None,
            c::ToolChoice::Named(n) => wit::ToolChoice::Named(n.clone()),
        }),
        parallel_tool_calls: r.parallel_tool_calls,
        max_tokens: r.max_tokens,
        temperature: r.temperature,
        top_p: r.top_p,
        top_k: r.top_k,
        stop_sequences: r.stop_sequences.clone(),
        thinking_budget: r.thinking_budget,
        reasoning_effort: r.reasoning_effort.clone(),
        response_format_json: r.response_format_json.clone(),
        metadata_json: r.metadata_json.clone(),
        stream: r.stream,
        extra_json: r.extra_json.clone(),
    }
}

fn message(m: &c::Message) -> wit::Message {
    wit::Message {
        role: match m.role {
            c::Role::User => wit::Role::User,
            c::Role::Assistant => wit::Role::Assistant,
        },
        content: m.content.iter().map(content_part).collect(),
    }
}

fn image_source(s: &c::ImageSource) -> wit::ImageSource {
    match s {
        c::ImageSource::Url(u) => wit::ImageSource::Url(u.clone()),
        c::ImageSource::Base64 { media_type, data } => wit::ImageSource::Base64(wit::Base64Data {
            media_type: media_type.clone(),
            data: data.clone(),
        }),
    }
}

fn content_part(p: &c::ContentPart) -> wit::ContentPart {
    match p {
        c::ContentPart::Text(t) => wit::ContentPart::Text(t.clone()),
        c::ContentPart::Image(s) => wit::ContentPart::Image(image_source(s)),
        c::ContentPart::Document {
            media_type,
            data,
            title,
        } => wit::ContentPart::Document(wit::Document {
            source: wit::Base64Data {
                media_type: media_type.clone(),
                data: data.clone(),
            },
            title: title.clone(),
        }),
        c::ContentPart::ToolUse { id, name, input_json } => wit::ContentPart::ToolUse(wit::ToolUse {
            id: id.clone(),
            name: name.clone(),
            input_json: input_json.clone(),
        }),
        c::ContentPart::ToolResult {
            tool_use_id,
            content,
            is_error,
        } => wit::ContentPart::ToolResult(wit::ToolResult {
            tool_use_id: tool_use_id.clone(),
            content: content
                .iter()
                .map(|part| match part {
                    c::ToolResultPart::Text(t) => wit::ToolResultPart::Text(t.clone()),
                    c::ToolResultPart::Image(s) => wit::ToolResultPart::Image(image_source(s)),
                })
                .collect(),
            is_error: *is_error,
        }),
        c::ContentPart::Thinking { text, signature } => wit::ContentPart::Thinking(wit::Thinking {
            text: text.clone(),
            signature: signature.clone(),
        }),
        c::ContentPart::RedactedThinking(d) => wit::ContentPart::RedactedThinking(d.clone()),
    }
}

pub(super) fn account(id: &str, credentials: &serde_json::Map<String, serde_json::Value>) -> wit::Account {
    wit::Account {
        id: id.to_owned(),
        credentials_json: serde_json::Value::Object(credentials.clone()).to_string(),
    }
}

pub(super) fn event(e: wit::Event) -> c::Event {
    match e {
        wit::Event::MessageStart(m) => c::Event::MessageStart {
            id: m.id,
            usage: m.usage.map(usage),
        },
        wit::Event::TextDelta(t) => c::Event::TextDelta(t),
        wit::Event::ThinkingDelta(t) => c::Event::ThinkingDelta(t),
        wit::Event::ThinkingSignature(s) => c::Event::ThinkingSignature(s),
        wit::Event::ToolCallStart(s) => c::Event::ToolCallStart {
            index: s.index,
            id: s.id,
            name: s.name,
        },
        wit::Event::ToolCallDelta(d) => c::Event::ToolCallDelta {
            index: d.index,
            partial_json: d.partial_json,
        },
        wit::Event::ToolCallEnd(i) => c::Event::ToolCallEnd(i),
        wit::Event::Media(m) => c::Event::Media(media_ref(m)),
        wit::Event::Usage(u) => c::Event::Usage(usage(u)),
        wit::Event::Stop(r) => c::Event::Stop(match r {
            wit::StopReason::EndTurn => c::StopReason::EndTurn,
            wit::StopReason::MaxTokens => c::StopReason::MaxTokens,
            wit::StopReason::StopSequence => c::StopReason::StopSequence,
            wit::StopReason::ToolUse => c::StopReason::ToolUse,
            wit::StopReason::ContentFilter => c::StopReason::ContentFilter,
            wit::StopReason::Refusal => c::StopReason::Refusal,
        }),
    }
}

fn usage(u: wit::Usage) -> c::Usage {
    c::Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cache_read_input_tokens: u.cache_read_input_tokens,
        cache_creation_input_tokens: u.cache_creation_input_tokens,
    }
}

fn media_ref(m: wit::MediaRef) -> c::MediaRef {
    c::MediaRef {
        kind: match m.kind {
            wit::MediaKind::Image => c::MediaKind::Image,
            wit::MediaKind::Video => c::MediaKind::Video,
        },
        url: m.url,
        headers: m.headers.into_iter().map(|h| (h.name, h.value)).collect(),
        media_type: m.media_type,
    }
}

pub(super) fn provider_error(e: wit::ProviderError) -> c::ProviderError {
    match e {
        wit::ProviderError::AuthFailed(m) => c::ProviderError::AuthFailed(m),
        wit::ProviderError::RateLimited(r) => c::ProviderError::RateLimited {
            retry_after_ms: r.retry_after_ms,
            message: r.message,
        },
        wit::ProviderError::QuotaExhausted(q) => c::ProviderError::QuotaExhausted {
            reset_at_ms: q.reset_at_ms,
            message: q.message,
        },
        wit::ProviderError::BadRequest(m) => c::ProviderError::BadRequest(m),
        wit::ProviderError::ModelNotFound(m) => c::ProviderError::ModelNotFound(m),
        wit::ProviderError::Upstream(u) => c::ProviderError::Upstream {
            status: u.status,
            message: u.message,
        },
        wit::ProviderError::Transient(m) => c::ProviderError::Transient(m),
        wit::ProviderError::Internal(m) => c::ProviderError::Internal(m),
    }
}

fn model_info(m: wit::ModelInfo) -> c::ModelInfo {
    c::ModelInfo {
        id: m.id,
        upstream_name: m.upstream_name,
        display_name: m.display_name,
        kind: match m.kind {
            wit::ModelKind::Chat => c::ModelKind::Chat,
            wit::ModelKind::Image => c::ModelKind::Image,
            wit::ModelKind::ImageEdit => c::ModelKind::ImageEdit,
            wit::ModelKind::Video => c::ModelKind::Video,
        },
        is_default: m.is_default,
    }
}

pub(super) fn models(models: Vec<wit::ModelInfo>) -> Vec<c::ModelInfo> {
    models.into_iter().map(model_info).collect()
}

pub(super) fn plugin_info(i: tr::PluginInfo) -> c::PluginInfo {
    let caps = [
        (tr::Capabilities::CHAT, "chat"),
        (tr::Capabilities::GENERATE_IMAGES, "generate-images"),
        (tr::Capabilities::EDIT_IMAGES, "edit-images"),
        (tr::Capabilities::CHECK_ACCOUNT, "check-account"),
        (tr::Capabilities::USAGE, "usage"),
        (tr::Capabilities::LIST_MODELS, "list-models"),
    ];
    c::PluginInfo {
        name: i.name,
        version: i.version,
        description: i.description,
        models: models(i.models),
        capabilities: caps
            .into_iter()
            .filter(|(flag, _)| i.capabilities.contains(*flag))
            .map(|(_, name)| name.to_owned())
            .collect(),
        config_schema_json: i.config_schema_json,
    }
}

pub(super) fn quota(q: wit::Quota) -> c::Quota {
    c::Quota {
        limit: q.limit,
        used: q.used,
        remaining: q.remaining,
        reset_at_ms: q.reset_at_ms,
    }
}

pub(super) fn account_check(a: wit::AccountCheck) -> c::AccountCheck {
    c::AccountCheck {
        identity: a.identity,
        plan: a.plan,
        quota: a.quota.map(quota),
        detail_json: a.detail_json,
    }
}
