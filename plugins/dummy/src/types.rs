//! Plain-Rust mirrors of the WIT types this translator uses, so its logic is testable natively.

/// A canonical stream event (the subset of the WIT `event` variant the dummy emits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    MessageStart(Usage),
    TextDelta(String),
    ThinkingDelta(String),
    ThinkingSignature(String),
    ToolCallStart { index: u32, id: String, name: String },
    ToolCallDelta { index: u32, partial_json: String },
    ToolCallEnd(u32),
    Usage(Usage),
    Stop(StopReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    EndTurn,
    ToolUse,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) input_tokens: Option<u32>,
    pub(crate) output_tokens: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProviderError {
    AuthFailed(String),
    RateLimited {
        retry_after_ms: Option<u64>,
        message: String,
    },
    QuotaExhausted {
        reset_at_ms: Option<u64>,
        message: String,
    },
    BadRequest(String),
    ModelNotFound(String),
    Upstream {
        status: u16,
        message: String,
    },
    Transient(String),
    Internal(String),
}

/// Errors of the host's network imports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NetError {
    Denied(String),
    Timeout,
    Connect(String),
    TooLarge(u64),
    Protocol(String),
    Closed,
    Busy,
}

impl std::fmt::Display for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Denied(d) => write!(f, "denied: {d}"),
            Self::Timeout => f.write_str("timeout"),
            Self::Connect(e) => write!(f, "connect failed: {e}"),
            Self::TooLarge(cap) => write!(f, "body exceeds the {cap}-byte cap"),
            Self::Protocol(e) => write!(f, "protocol error: {e}"),
            Self::Closed => f.write_str("connection closed"),
            Self::Busy => f.write_str("too many connections"),
        }
    }
}

impl From<NetError> for ProviderError {
    /// A refused destination is a configuration problem, not worth retrying elsewhere; every
    /// other network failure may well succeed on another attempt.
    fn from(e: NetError) -> Self {
        match e {
            NetError::Denied(d) => Self::Internal(format!("denied: {d}")),
            other => Self::Transient(other.to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KvError {
    QuotaExceeded(String),
    Unavailable(String),
}

impl From<KvError> for ProviderError {
    fn from(e: KvError) -> Self {
        match e {
            KvError::QuotaExceeded(m) => Self::Internal(format!("kv quota exceeded: {m}")),
            KvError::Unavailable(m) => Self::Transient(format!("kv unavailable: {m}")),
        }
    }
}

/// The parts of a chat request the dummy looks at.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChatRequest {
    /// The client-facing model id, which selects the behaviour.
    pub(crate) model: String,
    pub(crate) messages: Vec<Message>,
}

#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub(crate) from_user: bool,
    /// The message's text parts in order; other parts are irrelevant to the dummy.
    pub(crate) texts: Vec<String>,
}

impl ChatRequest {
    /// The concatenated text parts of the last user message ("" if there is none).
    pub(crate) fn last_user_text(&self) -> String {
        self.messages
            .iter()
            .rev()
            .find(|m| m.from_user)
            .map(|m| m.texts.concat())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Account {
    pub(crate) credentials_json: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelInfo {
    pub(crate) id: String,
    pub(crate) is_default: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(from_user: bool, texts: &[&str]) -> Message {
        Message {
            from_user,
            texts: texts.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    #[test]
    fn last_user_text_concatenates_the_last_user_message() {
        let req = ChatRequest {
            model: "echo".into(),
            messages: vec![
                msg(true, &["first"]),
                msg(true, &["hello ", "world"]),
                msg(false, &["ignored"]),
            ],
        };
        assert_eq!(req.last_user_text(), "hello world");
        assert_eq!(ChatRequest::default().last_user_text(), "");
    }
}
