//! `ApiError`: the one error vocabulary at the HTTP edge (status, body shape, metric label).

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::canonical::ProviderError;
use crate::store::StoreError;
use crate::wasm::PluginError;

/// Where the fault lies, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    /// The client sent something wrong.
    Downstream,
    /// The upstream or its translator failed.
    Upstream,
    /// The gateway itself failed.
    Internal,
}

/// Which API's error shape a response uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiStyle {
    /// `{"type":"error","error":{"type","message"}}`
    #[default]
    Claude,
    /// `{"error":{"message","type","param","code"}}`
    OpenAi,
}

/// A client-facing error, rendered in the shape of the API the client called.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub style: ApiStyle,
    pub status: StatusCode,
    /// Claude error type (`invalid_request_error`, `api_error`, ...).
    pub kind: &'static str,
    pub message: String,
    pub source: ErrorSource,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        let source = if status.is_client_error() {
            ErrorSource::Downstream
        } else {
            ErrorSource::Internal
        };
        ApiError {
            style: ApiStyle::Claude,
            status,
            kind,
            message: message.into(),
            source,
            retry_after_secs: None,
        }
    }

    /// The same error, rendered in OpenAI's shape.
    pub fn openai(self) -> Self {
        ApiError {
            style: ApiStyle::OpenAi,
            ..self
        }
    }

    pub fn with_style(self, style: ApiStyle) -> Self {
        ApiError { style, ..self }
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            format!("request body exceeds {limit} bytes"),
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "method not allowed on this route",
        )
    }

    pub fn timeout() -> Self {
        ApiError {
            source: ErrorSource::Upstream,
            ..Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout_error",
                "upstream did not answer in time",
            )
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found_error", message)
    }

    /// 409: the target changed since the client read it, or cannot change this way.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict_error", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "authentication_error", message)
    }

    /// 429 with `retry-after` (whole seconds, at least one).
    pub fn rate_limited(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        ApiError {
            retry_after_secs: Some(retry_after.as_secs().max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", message)
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded_error", message)
    }

    /// The store failed on a public route: 503 with a message that names no internals (backend,
    /// driver error, address, path); those go to the log, as on `/readyz`.
    pub fn store_unavailable(e: &StoreError) -> Self {
        tracing::warn!(error = %e, "store unavailable");
        Self::unavailable("the gateway's store is unavailable; retry shortly")
    }

    /// A store error on a route about one kind of record (`what`: "account", "key", ...). An
    /// unreachable or corrupt store is reported without internals, whoever asks: `/api/login`
    /// answers unauthenticated callers, and the details are in the log.
    pub fn store(e: StoreError, what: &str) -> Self {
        match e {
            StoreError::NotFound => Self::not_found(format!("no such {what}")),
            StoreError::Conflict { current } => Self::conflict(format!(
                "the {what} changed meanwhile (now at version {current}); reload and retry"
            )),
            // Size caps on what the caller sent (account credentials).
            StoreError::QuotaExceeded(m) => Self::bad_request(m),
            StoreError::Corrupt(_) => {
                tracing::error!(error = %e, what, "corrupt stored record");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "api_error",
                    format!("a stored {what} record is unreadable; the gateway's log has details"),
                )
            }
            StoreError::Unavailable(_) => Self::store_unavailable(&e),
        }
    }

    fn upstream(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            source: ErrorSource::Upstream,
            ..Self::new(status, kind, message)
        }
    }

    /// The JSON body in the Claude Messages error shape.
    pub fn claude_body(&self) -> serde_json::Value {
        serde_json::json!({"type": "error", "error": {"type": self.kind, "message": self.message}})
    }

    /// The JSON body in the OpenAI error shape.
    pub fn openai_body(&self) -> serde_json::Value {
        let (kind, code) = match self.status.as_u16() {
            401 => ("authentication_error", Some("invalid_api_key")),
            404 if self.message.contains("model") => ("invalid_request_error", Some("model_not_found")),
            400 | 404 | 405 | 413 => ("invalid_request_error", None),
            429 => ("rate_limit_error", Some("rate_limit_exceeded")),
            503 => ("server_error", Some("overloaded")),
            504 => ("server_error", Some("timeout")),
            _ => ("server_error", None),
        };
        serde_json::json!({"error": {"message": self.message, "type": kind, "param": null, "code": code}})
    }

    pub fn body(&self) -> serde_json::Value {
        match self.style {
            ApiStyle::Claude => self.claude_body(),
            ApiStyle::OpenAi => self.openai_body(),
        }
    }
}

impl From<PluginError> for ApiError {
    fn from(e: PluginError) -> Self {
        match e {
            PluginError::NotFound(m) => ApiError::not_found(format!("no channel `{m}`")),
            PluginError::Busy(p) => {
                ApiError::unavailable(format!("channel `{p}` is at its concurrency limit"))
            }
            PluginError::Provider(p) => p.into(),
            e @ (PluginError::Trap { .. } | PluginError::OutputLimit(_)) => {
                ApiError::upstream(StatusCode::BAD_GATEWAY, "api_error", e.to_string())
            }
            e @ (PluginError::Invalid(_) | PluginError::Engine(_)) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "api_error", e.to_string())
            }
        }
    }
}

impl From<crate::pool::PoolError> for ApiError {
    fn from(e: crate::pool::PoolError) -> Self {
        match e {
            crate::pool::PoolError::AllCooling(wait) => ApiError {
                retry_after_secs: Some(wait.as_secs().max(1)),
                ..ApiError::upstream(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_error",
                    format!(
                        "every account of this channel is cooling down; retry in {}s",
                        wait.as_secs().max(1)
                    ),
                )
            },
            crate::pool::PoolError::NoneAvailable => {
                ApiError::unavailable("no account of this channel is available right now")
            }
            crate::pool::PoolError::Store(e) => ApiError::store(e, "account"),
        }
    }
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        let msg = e.to_string();
        match e {
            ProviderError::BadRequest(m) => ApiError::bad_request(m),
            ProviderError::ModelNotFound(_) => ApiError::not_found(msg),
            ProviderError::RateLimited { retry_after_ms, .. } => ApiError {
                retry_after_secs: retry_after_ms.map(|ms| ms.div_ceil(1000)),
                ..ApiError::upstream(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", msg)
            },
            ProviderError::QuotaExhausted { .. } => {
                ApiError::upstream(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", msg)
            }
            ProviderError::AuthFailed(_)
            | ProviderError::Upstream { .. }
            | ProviderError::Transient(_)
            | ProviderError::Internal(_) => ApiError::upstream(StatusCode::BAD_GATEWAY, "api_error", msg),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after_secs
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert("retry-after", v);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::PoolError;

    /// Driver errors, addresses and record contents are for the log, never for a response.
    #[test]
    fn store_failures_are_reported_without_internals() {
        let internals = "redis: broken pipe (127.0.0.1:6379)";
        let answers = [
            ApiError::from(PoolError::Store(StoreError::Unavailable(internals.into()))),
            ApiError::store(StoreError::Unavailable(internals.into()), "account"),
            ApiError::store(StoreError::Corrupt(internals.into()), "key"),
            ApiError::store_unavailable(&StoreError::Unavailable(internals.into())),
        ];
        for a in answers {
            assert!(a.status.is_server_error(), "{a:?}");
            for style in [ApiStyle::Claude, ApiStyle::OpenAi] {
                let body = ApiError { style, ..a.clone() }.body().to_string();
                assert!(!body.contains("redis") && !body.contains("127.0.0.1"), "{body}");
            }
        }
        let conflict = ApiError::store(StoreError::Conflict { current: 7 }, "model");
        assert_eq!(conflict.status, StatusCode::CONFLICT);
        assert!(conflict.message.contains("model") && conflict.message.contains('7'));
        let missing = ApiError::store(StoreError::NotFound, "key");
        assert_eq!(
            (missing.status, missing.message.as_str()),
            (StatusCode::NOT_FOUND, "no such key")
        );
    }
}
