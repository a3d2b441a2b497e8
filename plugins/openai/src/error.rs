//! Typed failures: the WIT `provider-error` and `net-error` mirrors and how one becomes the other.

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
            Self::TooLarge(cap) => write!(f, "response exceeds the {cap}-byte cap"),
            Self::Protocol(e) => write!(f, "protocol error: {e}"),
            Self::Closed => f.write_str("connection closed"),
            Self::Busy => f.write_str("too many concurrent connections"),
        }
    }
}

impl From<NetError> for ProviderError {
    fn from(e: NetError) -> Self {
        match e {
            // A refused destination is the operator's grant configuration, which no retry on
            // another account can fix.
            NetError::Denied(_) => Self::Internal(e.to_string()),
            // The upstream sent more than the operator allows: its answer, not the network,
            // is the problem.
            NetError::TooLarge(_) => Self::Upstream {
                status: 502,
                message: e.to_string(),
            },
            // Everything else may well succeed on the next attempt.
            NetError::Timeout
            | NetError::Connect(_)
            | NetError::Protocol(_)
            | NetError::Closed
            | NetError::Busy => Self::Transient(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_errors_map_to_pool_actions() {
        let denied = ProviderError::from(NetError::Denied("https://evil.test".into()));
        assert_eq!(
            denied,
            ProviderError::Internal("denied: https://evil.test".into())
        );
        assert_eq!(
            ProviderError::from(NetError::TooLarge(1024)),
            ProviderError::Upstream {
                status: 502,
                message: "response exceeds the 1024-byte cap".into()
            }
        );
        for e in [
            NetError::Timeout,
            NetError::Connect("dns".into()),
            NetError::Protocol("bad frame".into()),
            NetError::Closed,
            NetError::Busy,
        ] {
            assert!(matches!(ProviderError::from(e), ProviderError::Transient(_)));
        }
    }
}
