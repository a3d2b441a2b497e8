//! `chat` end to end against the fake host: request, response modes and error paths.

use gateway_guest::NetError;
use serde_json::json;

use super::*;
use crate::fake::{FakeBody, FakeHost, chat_request};
use crate::types::{ClientApi, ContentPart, Event, Message, Role, StopReason};

const SSE: &[(&str, &str)] = &[("content-type", "text/event-stream; charset=utf-8")];

fn account() -> Account {
    Account {
        credentials_json: r#"{"api_key":"sk-test"}"#.to_owned(),
    }
}

fn request() -> ChatRequest {
    let hi = Message {
        role: Role::User,
        content: vec![ContentPart::Text("hi".into())],
    };
    ChatRequest {
        upstream_model: "gpt-4o-mini".into(),
        client_api: ClientApi::OpenAiChat,
        max_tokens: Some(100),
        ..chat_request(vec![hi])
    }
}

/// Pulls every batch; returns them and the error that ended the stream, if any.
fn drain(mut stream: ChatStream<FakeBody>) -> (Vec<Vec<Event>>, Option<ProviderError>) {
    let mut batches = Vec::new();
    let error = loop {
        match stream.next() {
            Ok(Some(batch)) => {
                assert!(!batch.is_empty(), "batches are never empty");
                batches.push(batch);
            }
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    assert_eq!(stream.next(), Ok(None), "the end is reported again");
    (batches, error)
}

fn start(host: &FakeHost) -> Result<ChatStream<FakeBody>, ProviderError> {
    chat(host, &account(), &request())
}

#[test]
fn posts_a_streaming_request() -> Result<(), ProviderError> {
    let host = FakeHost::with_config(&[("base_url", "https://llm.test/v1/")]);
    host.respond(
        200,
        SSE,
        &["data: {\"id\":\"c\",\"choices\":[]}\n\ndata: [DONE]\n\n"],
    );
    start(&host)?;
    let sent = host.request();
    assert_eq!(
        (sent.method, sent.url.as_str()),
        ("POST", "https://llm.test/v1/chat/completions")
    );
    assert!(
        sent.headers
            .contains(&("Accept".into(), "text/event-stream".into()))
    );
    let body = host.request_json();
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["model"], json!("gpt-4o-mini"));
    assert_eq!(body["max_completion_tokens"], json!(100));
    Ok(())
}

#[test]
fn max_tokens_field_comes_from_config() -> Result<(), ProviderError> {
    let host = FakeHost::with_config(&[("max_tokens_field", "max_tokens")]);
    host.respond(200, SSE, &[]);
    start(&host)?;
    let body = host.request_json();
    assert_eq!(body["max_tokens"], json!(100));
    assert!(body.get("max_completion_tokens").is_none());
    Ok(())
}

#[test]
fn streams_events_batch_by_batch() -> Result<(), ProviderError> {
    let host = FakeHost::default();
    let chunk = |content: &str| {
        format!("data: {{\"id\":\"c1\",\"choices\":[{{\"delta\":{{\"content\":\"{content}\"}}}}]}}\n\n")
    };
    let first = chunk("Hel");
    let (head, tail) = first.split_at(20);
    let second = format!("{}data: [DONE]\n\n", chunk("lo"));
    host.respond(
        200,
        SSE,
        &[": ping\n\n", head, tail, &second, "data: ignored\n\n"],
    );
    let (batches, error) = drain(start(&host)?);
    assert_eq!(error, None);
    let text = |t: &str| Event::TextDelta(t.into());
    let start = Event::MessageStart {
        id: Some("c1".into()),
        usage: None,
    };
    assert_eq!(
        batches,
        [
            vec![start, text("Hel")],
            vec![text("lo"), Event::Stop(StopReason::EndTurn)]
        ]
    );
    Ok(())
}

#[test]
fn json_response_is_decoded_whole() -> Result<(), ProviderError> {
    let host = FakeHost::default();
    let completion =
        json!({ "id": "c2", "choices": [{ "message": { "content": "Hi!" }, "finish_reason": "length" }] });
    host.respond(
        200,
        &[("Content-Type", "application/json")],
        &[&completion.to_string()],
    );
    let (batches, error) = drain(start(&host)?);
    assert_eq!(error, None);
    let expected = vec![
        Event::MessageStart {
            id: Some("c2".into()),
            usage: None,
        },
        Event::TextDelta("Hi!".into()),
        Event::Stop(StopReason::MaxTokens),
    ];
    assert_eq!(batches, [expected]);
    Ok(())
}

#[test]
fn empty_stream_fails_on_the_first_pull() -> Result<(), ProviderError> {
    let host = FakeHost::default();
    host.respond(200, SSE, &[]);
    let (batches, error) = drain(start(&host)?);
    assert!(batches.is_empty());
    assert_eq!(
        error,
        Some(ProviderError::Transient(
            "upstream closed the stream without data".into()
        ))
    );
    Ok(())
}

#[test]
fn error_statuses_fail_before_the_stream() {
    let host = FakeHost::default();
    host.respond(
        429,
        &[("retry-after-ms", "1200")],
        &[r#"{"error":{"message":"Rate limit","code":"rate_limit_exceeded"}}"#],
    );
    let expected = ProviderError::RateLimited {
        retry_after_ms: Some(1200),
        message: "Rate limit".into(),
    };
    assert_eq!(start(&host).err(), Some(expected));
    host.respond(
        404,
        &[],
        &[r#"{"error":{"message":"no such model","code":"model_not_found"}}"#],
    );
    assert_eq!(
        start(&host).err(),
        Some(ProviderError::ModelNotFound("no such model".into()))
    );
}

#[test]
fn network_errors() {
    let host = FakeHost::default();
    host.fail(NetError::Denied("https://api.openai.com".into()));
    assert_eq!(
        start(&host).err(),
        Some(ProviderError::Internal("denied: https://api.openai.com".into()))
    );
    host.fail(NetError::Timeout);
    assert!(matches!(start(&host), Err(ProviderError::Transient(_))));
}

#[test]
fn body_errors_mid_stream_end_the_stream() -> Result<(), ProviderError> {
    let host = FakeHost::default();
    let body = FakeBody::new(&["data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"]);
    host.respond_with(200, SSE, body.then_fail(NetError::Closed));
    let (batches, error) = drain(start(&host)?);
    assert_eq!(batches.len(), 1);
    assert!(matches!(error, Some(ProviderError::Transient(_))));
    Ok(())
}

#[test]
fn missing_api_key_sends_nothing() {
    let host = FakeHost::default();
    let account = Account {
        credentials_json: "{}".into(),
    };
    let result = chat(&host, &account, &request());
    assert_eq!(
        result.err(),
        Some(ProviderError::AuthFailed("account has no api_key".into()))
    );
    assert!(host.requests.borrow().is_empty());
}
