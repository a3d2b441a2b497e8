//! WIT glue: conversions between wit-bindgen types and the dummy's own types (events and
//! errors convert with `Into`, from the guest SDK).

use gateway_guest::bindings::gateway::provider::types as wt;

use crate::catalog::Quota;
use crate::types::{Account, ChatRequest, Message, ModelInfo};

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
