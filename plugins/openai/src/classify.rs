//! Turns upstream failures (error responses, error objects inside a stream) into provider errors.

use serde_json::Value;

use gateway_guest::ProviderError;

/// Upstream messages are quoted in errors up to this many bytes: enough for OpenAI's
/// explanations, short enough for logs and client-facing error bodies.
const MAX_MESSAGE_BYTES: usize = 1024;

/// Classifies a non-2xx response from its status, its retry headers and its body.
pub(crate) fn http_error(status: u16, retry_after_ms: Option<u64>, body: &[u8]) -> ProviderError {
    let text = String::from_utf8_lossy(body);
    let detail = match serde_json::from_str::<Value>(&text) {
        Ok(json) => Detail::of_body(&json),
        Err(_) => Detail::default(),
    };
    let fallback = if text.trim().is_empty() {
        format!("HTTP {status}")
    } else {
        text.into_owned()
    };
    classify(Some(status), retry_after_ms, detail, fallback)
}

/// Classifies the `error` value of a stream chunk (`{"error": {...}}`). The response status
/// was 2xx, so only a status or code inside the object can tell more than "upstream failed".
pub(crate) fn stream_error(error: &Value) -> ProviderError {
    let detail = Detail::of_error(error);
    let status = detail.status.filter(|s| (400..=599).contains(s));
    classify(status, None, detail, "error in the upstream stream".to_owned())
}

/// The retry delay from `retry-after-ms` (OpenAI's, in ms), else `retry-after` in seconds.
/// The HTTP-date form of `retry-after` is not supported: OpenAI-style APIs send seconds.
pub(crate) fn retry_after_ms(retry_after_ms: Option<&str>, retry_after: Option<&str>) -> Option<u64> {
    let parse = |value: Option<&str>| {
        value?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    // Float to int casts saturate, so absurd values cannot wrap.
    parse(retry_after_ms)
        .map(|ms| ms.ceil() as u64)
        .or_else(|| parse(retry_after).map(|s| (s * 1000.0).ceil() as u64))
}

/// What an error body says. OpenAI sends `{"error": {"message", "type", "code"}}`; compatible
/// servers vary (a string `error`, a numeric `code`, a top-level `message`), hence the leniency.
#[derive(Debug, Default)]
struct Detail {
    message: Option<String>,
    /// `code` and `type`, both of which carry machine-readable reasons.
    codes: Vec<String>,
    status: Option<u16>,
}

impl Detail {
    fn of_body(json: &Value) -> Self {
        match json.get("error") {
            Some(error) => Self::of_error(error),
            None => Self::of_error(json),
        }
    }

    fn of_error(error: &Value) -> Self {
        if let Some(message) = error.as_str() {
            return Self {
                message: Some(message.to_owned()),
                ..Self::default()
            };
        }
        let field = |key| error.get(key).and_then(Value::as_str).map(str::to_owned);
        let number = |key| {
            error
                .get(key)
                .and_then(Value::as_u64)
                .and_then(|n| u16::try_from(n).ok())
        };
        Self {
            message: field("message"),
            codes: [field("code"), field("type")].into_iter().flatten().collect(),
            status: number("status").or_else(|| number("code")),
        }
    }

    fn has(&self, code: &str) -> bool {
        self.codes.iter().any(|c| c == code)
    }
}

fn classify(
    status: Option<u16>,
    retry_after_ms: Option<u64>,
    detail: Detail,
    fallback: String,
) -> ProviderError {
    use ProviderError as E;
    let quota = detail.has("insufficient_quota");
    let unknown_model = detail.has("model_not_found");
    let message = truncate(detail.message.unwrap_or(fallback));
    match status {
        Some(401 | 403) => E::AuthFailed(message),
        // OpenAI answers 429 both for "slow down" and for "out of credits"; only the code
        // tells them apart, and they need different pool actions.
        _ if quota => E::QuotaExhausted {
            reset_at_ms: None,
            message,
        },
        Some(429) => E::RateLimited {
            retry_after_ms,
            message,
        },
        Some(404) => E::ModelNotFound(message),
        _ if unknown_model => E::ModelNotFound(message),
        Some(400..=499) => E::BadRequest(message),
        Some(500 | 502 | 503 | 504) => E::Transient(message),
        Some(status) => E::Upstream { status, message },
        None => E::Upstream { status: 502, message },
    }
}

fn truncate(mut message: String) -> String {
    message.truncate(message.floor_char_boundary(MAX_MESSAGE_BYTES));
    message
}

#[cfg(test)]
mod tests;
