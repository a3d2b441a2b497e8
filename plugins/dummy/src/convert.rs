//! WIT glue: conversions between wit-bindgen types and the core types.

use crate::bindings::gateway::provider::kv;
use crate::bindings::gateway::provider::types as wt;
use crate::catalog::Quota;
use crate::types::{
    Account, ChatRequest, Event, KvError, Message, ModelInfo, NetError, ProviderError, StopReason, Usage,
};

pub(crate) fn account(a: wt::Account) -> Account {
    Account {
        credentials_json: a.credentials_json,
    }
}

/// Keeps only what the dummy reads: the model and each message's text parts.
pub(crate) fn chat_request(r: wt::ChatRequest) -> ChatRequest {
    let messages = r
        .messages
        .into_iter()
        .map(|m| Message {
            from_user: matches!(m.role, wt::Role::User),
            texts: m
                .content
                .into_iter()
                .filter_map(|part| match part {
                    wt::ContentPart::Text(text) => Some(text),
                    _ => None,
                })
                .collect(),
        })
        .collect();
    ChatRequest {
        model: r.model,
        messages,
    }
}

fn usage(u: Usage) -> wt::Usage {
    wt::Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cache_read_input_tokens: None,
        cache_creation_input_tokens: None,
    }
}

pub(crate) fn event(e: Event) -> wt::Event {
    match e {
        Event::MessageStart(u) => wt::Event::MessageStart(wt::MessageStart {
            id: None,
            usage: Some(usage(u)),
        }),
        Event::TextDelta(t) => wt::Event::TextDelta(t),
        Event::ThinkingDelta(t) => wt::Event::ThinkingDelta(t),
        Event::ThinkingSignature(s) => wt::Event::ThinkingSignature(s),
        Event::ToolCallStart { index, id, name } => {
            wt::Event::ToolCallStart(wt::ToolCallStart { index, id, name })
        }
        Event::ToolCallDelta { index, partial_json } => {
            wt::Event::ToolCallDelta(wt::ToolCallDelta { index, partial_json })
        }
        Event::ToolCallEnd(index) => wt::Event::ToolCallEnd(index),
        Event::Usage(u) => wt::Event::Usage(usage(u)),
        Event::Stop(StopReason::EndTurn) => wt::Event::Stop(wt::StopReason::EndTurn),
        Event::Stop(StopReason::ToolUse) => wt::Event::Stop(wt::StopReason::ToolUse),
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

pub(crate) fn kv_error(e: kv::KvError) -> KvError {
    match e {
        kv::KvError::QuotaExceeded(m) => KvError::QuotaExceeded(m),
        kv::KvError::Unavailable(m) => KvError::Unavailable(m),
    }
}

pub(crate) fn models(models: Vec<ModelInfo>) -> Vec<wt::ModelInfo> {
    models
        .into_iter()
        .map(|m| wt::ModelInfo {
            upstream_name: m.id.clone(),
            id: m.id,
            display_name: None,
            kind: wt::ModelKind::Chat,
            is_default: m.is_default,
        })
        .collect()
}

pub(crate) fn quota(q: Quota) -> wt::Quota {
    wt::Quota {
        limit: q.limit,
        used: q.used,
        remaining: q.remaining,
        reset_at_ms: q.reset_at_ms,
    }
}
