//! Error classification per status, error code and body shape.

use gateway_guest::ProviderError as E;
use serde_json::json;

use super::*;

fn openai_body(message: &str, code: &str) -> String {
    json!({"error": {"message": message, "type": "invalid_request_error", "code": code}}).to_string()
}

#[test]
fn auth_statuses() {
    let body = openai_body("Incorrect API key provided", "invalid_api_key");
    assert_eq!(
        http_error(401, None, body.as_bytes()),
        E::AuthFailed("Incorrect API key provided".into())
    );
    assert_eq!(
        http_error(403, None, b"forbidden"),
        E::AuthFailed("forbidden".into())
    );
}

#[test]
fn rate_limit_keeps_the_retry_delay() {
    let body = openai_body("Rate limit reached", "rate_limit_exceeded");
    assert_eq!(
        http_error(429, Some(1500), body.as_bytes()),
        E::RateLimited {
            retry_after_ms: Some(1500),
            message: "Rate limit reached".into()
        }
    );
}

#[test]
fn insufficient_quota_is_quota_not_rate_limit() {
    let by_code = openai_body("You exceeded your current quota", "insufficient_quota");
    let by_type = json!({"error": {"message": "m", "type": "insufficient_quota", "code": null}}).to_string();
    for body in [by_code, by_type] {
        assert!(matches!(
            http_error(429, Some(1000), body.as_bytes()),
            E::QuotaExhausted {
                reset_at_ms: None,
                ..
            }
        ));
    }
}

#[test]
fn unknown_model_by_status_or_code() {
    let body = openai_body("The model `gpt-9` does not exist", "model_not_found");
    let expected = E::ModelNotFound("The model `gpt-9` does not exist".into());
    assert_eq!(http_error(404, None, body.as_bytes()), expected);
    assert_eq!(http_error(400, None, body.as_bytes()), expected);
    assert_eq!(http_error(404, None, b""), E::ModelNotFound("HTTP 404".into()));
}

#[test]
fn other_client_errors_are_bad_requests_with_the_upstream_message() {
    let body = openai_body("Invalid value for 'temperature'", "invalid_value");
    assert_eq!(
        http_error(400, None, body.as_bytes()),
        E::BadRequest("Invalid value for 'temperature'".into())
    );
    assert_eq!(
        http_error(422, None, b"{\"detail\":1}"),
        E::BadRequest("{\"detail\":1}".into())
    );
}

#[test]
fn server_errors() {
    for status in [500, 502, 503, 504] {
        assert_eq!(
            http_error(status, None, b"overloaded"),
            E::Transient("overloaded".into())
        );
    }
    for status in [501, 520, 302] {
        assert_eq!(
            http_error(status, None, b"odd"),
            E::Upstream {
                status,
                message: "odd".into()
            }
        );
    }
}

#[test]
fn lenient_body_shapes() {
    assert_eq!(
        http_error(400, None, br#"{"error": "bad thing"}"#),
        E::BadRequest("bad thing".into())
    );
    assert_eq!(
        http_error(400, None, br#"{"message": "top level"}"#),
        E::BadRequest("top level".into())
    );
}

#[test]
fn messages_are_truncated_to_1_kib_on_a_char_boundary() {
    let long = "é".repeat(1000);
    let E::Transient(message) = http_error(500, None, long.as_bytes()) else {
        panic!("500 is transient");
    };
    assert_eq!(message.len(), 1024);
    assert!(long.starts_with(&message));
}

#[test]
fn retry_after_prefers_milliseconds() {
    assert_eq!(retry_after_ms(Some("250"), Some("7")), Some(250));
    assert_eq!(retry_after_ms(Some("12.5"), None), Some(13));
    assert_eq!(retry_after_ms(None, Some("7")), Some(7000));
    assert_eq!(retry_after_ms(Some("soon"), Some("2")), Some(2000));
    assert_eq!(retry_after_ms(None, Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    assert_eq!(retry_after_ms(Some("-1"), None), None);
    assert_eq!(retry_after_ms(None, None), None);
}

#[test]
fn stream_errors() {
    let plain = json!({"message": "The server had an error", "type": "server_error", "code": null});
    assert_eq!(
        stream_error(&plain),
        E::Upstream {
            status: 502,
            message: "The server had an error".into()
        }
    );
    let quota = json!({"message": "quota", "code": "insufficient_quota"});
    assert!(matches!(stream_error(&quota), E::QuotaExhausted { .. }));
    // vLLM style: the status as a numeric code.
    let numeric = json!({"message": "context too long", "type": "BadRequestError", "code": 400});
    assert_eq!(stream_error(&numeric), E::BadRequest("context too long".into()));
    let rate = json!({"message": "slow down", "status": 429});
    assert!(matches!(
        stream_error(&rate),
        E::RateLimited {
            retry_after_ms: None,
            ..
        }
    ));
    assert_eq!(
        stream_error(&json!("boom")),
        E::Upstream {
            status: 502,
            message: "boom".into()
        }
    );
}
