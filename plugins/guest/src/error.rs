//! Typed failures: mirrors of the WIT `provider-error`, `net-error` and `kv-error`, how the host's
//! failures become a provider error, and the conversions to and from WIT.

use crate::bindings::gateway::provider::{kv, types as wt};

/// Why a call failed; the host acts on the variant (cooldown, failover), never on the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderError {
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
pub enum NetError {
    Denied(String),
    Timeout,
    Connect(String),
    TooLarge(u64),
    Protocol(String),
    Closed,
    Busy,
}

/// Errors of the host's KV import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    QuotaExceeded(String),
    Unavailable(String),
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

impl From<KvError> for ProviderError {
    fn from(e: KvError) -> Self {
        match e {
            KvError::QuotaExceeded(m) => Self::Internal(format!("kv quota exceeded: {m}")),
            KvError::Unavailable(m) => Self::Transient(format!("kv unavailable: {m}")),
        }
    }
}

impl From<ProviderError> for wt::ProviderError {
    fn from(e: ProviderError) -> Self {
        use ProviderError as E;
        match e {
            E::AuthFailed(m) => Self::AuthFailed(m),
            E::RateLimited {
                retry_after_ms,
                message,
            } => Self::RateLimited(wt::RateLimit {
                retry_after_ms,
                message,
            }),
            E::QuotaExhausted { reset_at_ms, message } => {
                Self::QuotaExhausted(wt::QuotaExhausted { reset_at_ms, message })
            }
            E::BadRequest(m) => Self::BadRequest(m),
            E::ModelNotFound(m) => Self::ModelNotFound(m),
            E::Upstream { status, message } => Self::Upstream(wt::UpstreamFailure { status, message }),
            E::Transient(m) => Self::Transient(m),
            E::Internal(m) => Self::Internal(m),
        }
    }
}

impl From<wt::NetError> for NetError {
    fn from(e: wt::NetError) -> Self {
        match e {
            wt::NetError::Denied(d) => Self::Denied(d),
            wt::NetError::Timeout => Self::Timeout,
            wt::NetError::Connect(m) => Self::Connect(m),
            wt::NetError::TooLarge(cap) => Self::TooLarge(cap),
            wt::NetError::Protocol(m) => Self::Protocol(m),
            wt::NetError::Closed => Self::Closed,
            wt::NetError::Busy => Self::Busy,
        }
    }
}

impl From<kv::KvError> for KvError {
    fn from(e: kv::KvError) -> Self {
        match e {
            kv::KvError::QuotaExceeded(m) => Self::QuotaExceeded(m),
            kv::KvError::Unavailable(m) => Self::Unavailable(m),
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
                message: "body exceeds the 1024-byte cap".into()
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

    #[test]
    fn kv_errors_map_to_pool_actions() {
        assert!(matches!(
            ProviderError::from(KvError::QuotaExceeded("full".into())),
            ProviderError::Internal(m) if m.contains("full")
        ));
        assert!(matches!(
            ProviderError::from(KvError::Unavailable("down".into())),
            ProviderError::Transient(_)
        ));
    }

    #[test]
    fn provider_errors_keep_their_variant_in_wit() {
        let wit = wt::ProviderError::from(ProviderError::RateLimited {
            retry_after_ms: Some(5),
            message: "slow down".into(),
        });
        assert!(matches!(
            wit,
            wt::ProviderError::RateLimited(wt::RateLimit {
                retry_after_ms: Some(5),
                ..
            })
        ));
    }
}
