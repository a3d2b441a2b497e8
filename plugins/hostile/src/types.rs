//! Plain-Rust mirrors of the few WIT types the hostile translator uses.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    TextDelta(String),
    /// Always `end-turn`: the hostile guest has no other reason to stop.
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProviderError {
    ModelNotFound(String),
    Upstream { status: u16, message: String },
    Transient(String),
    Internal(String),
}

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
