//! Canonical stream events as plain Rust (the WIT `event` variant without `media`, which no Rust
//! plugin emits yet), and their conversion to WIT.

use crate::bindings::gateway::provider::types as wt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    MessageStart {
        id: Option<String>,
        usage: Option<Usage>,
    },
    TextDelta(String),
    ThinkingDelta(String),
    /// Signature of the open thinking block; ends that block.
    ThinkingSignature(String),
    ToolCallStart {
        index: u32,
        id: String,
        name: String,
    },
    ToolCallDelta {
        index: u32,
        partial_json: String,
    },
    ToolCallEnd(u32),
    Usage(Usage),
    Stop(StopReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence,
    ToolUse,
    ContentFilter,
    Refusal,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: Option<u32>,
    pub output_tokens: Option<u32>,
    pub cache_read_input_tokens: Option<u32>,
    pub cache_creation_input_tokens: Option<u32>,
}

impl From<Usage> for wt::Usage {
    fn from(u: Usage) -> Self {
        wt::Usage {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cache_read_input_tokens: u.cache_read_input_tokens,
            cache_creation_input_tokens: u.cache_creation_input_tokens,
        }
    }
}

impl From<StopReason> for wt::StopReason {
    fn from(r: StopReason) -> Self {
        match r {
            StopReason::EndTurn => Self::EndTurn,
            StopReason::MaxTokens => Self::MaxTokens,
            StopReason::StopSequence => Self::StopSequence,
            StopReason::ToolUse => Self::ToolUse,
            StopReason::ContentFilter => Self::ContentFilter,
            StopReason::Refusal => Self::Refusal,
        }
    }
}

impl From<Event> for wt::Event {
    fn from(e: Event) -> Self {
        match e {
            Event::MessageStart { id, usage } => Self::MessageStart(wt::MessageStart {
                id,
                usage: usage.map(Into::into),
            }),
            Event::TextDelta(t) => Self::TextDelta(t),
            Event::ThinkingDelta(t) => Self::ThinkingDelta(t),
            Event::ThinkingSignature(s) => Self::ThinkingSignature(s),
            Event::ToolCallStart { index, id, name } => {
                Self::ToolCallStart(wt::ToolCallStart { index, id, name })
            }
            Event::ToolCallDelta { index, partial_json } => {
                Self::ToolCallDelta(wt::ToolCallDelta { index, partial_json })
            }
            Event::ToolCallEnd(index) => Self::ToolCallEnd(index),
            Event::Usage(u) => Self::Usage(u.into()),
            Event::Stop(reason) => Self::Stop(reason.into()),
        }
    }
}
