//! Behaviour tests against the fake host.

use super::*;
use crate::fake::{FakeHost, FakeSocket};
use crate::host::Frame;
use crate::types::{Message, NetError, StopReason};

fn request(model: &str, text: &str) -> ChatRequest {
    ChatRequest {
        model: model.to_owned(),
        messages: vec![Message {
            from_user: true,
            texts: vec![text.to_owned()],
        }],
    }
}

fn start(host: &FakeHost, model: &str, text: &str) -> Result<Stream<FakeHost>, ProviderError> {
    let account = Account {
        credentials_json: r#"{"token":"t"}"#.to_owned(),
    };
    chat(host, &account, &request(model, text))
}

/// Pulls every batch; returns the events and the error that ended the stream, if any.
fn drain(mut stream: Stream<FakeHost>) -> (Vec<Vec<Event>>, Option<ProviderError>) {
    let mut batches = Vec::new();
    loop {
        match stream.next() {
            Ok(Some(batch)) => batches.push(batch),
            Ok(None) => return (batches, None),
            Err(e) => {
                // After an error the stream must report its end rather than continue.
                assert!(matches!(stream.next(), Ok(None)));
                return (batches, Some(e));
            }
        }
    }
}

fn text(host: &FakeHost, model: &str, input: &str) -> String {
    let stream = start(host, model, input).expect("chat starts");
    let (batches, error) = drain(stream);
    assert_eq!(error, None);
    let events: Vec<_> = batches.into_iter().flatten().collect();
    assert_eq!(events.last(), Some(&Event::Stop(StopReason::EndTurn)));
    events
        .iter()
        .filter_map(|e| match e {
            Event::TextDelta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

fn error_of(model: &str) -> ProviderError {
    match start(&FakeHost::default(), model, "") {
        Err(e) => e,
        Ok(_) => panic!("{model} should fail"),
    }
}

#[test]
fn scripted_replies() {
    let host = FakeHost::with_config(&[("greeting", "hi")]);
    assert_eq!(text(&host, "version", ""), VERSION);
    assert_eq!(text(&host, "account", ""), r#"{"token":"t"}"#);
    assert_eq!(text(&host, "config", "greeting"), "hi");
    assert_eq!(text(&host, "config", "missing"), "<unset>");
    assert_eq!(text(&host, "no-such-model", "a b"), "a b");
    assert_eq!(text(&host, "log", "note this"), "logged");
    assert_eq!(*host.logs.borrow(), ["note this"]);
}

#[test]
fn kv_counter_persists_between_calls() {
    let host = FakeHost::default();
    assert_eq!(text(&host, "kv", ""), "1");
    assert_eq!(text(&host, "kv", ""), "2");
    assert_eq!(host.kv.borrow().get("counter"), Some(&b"2".to_vec()));
}

#[test]
fn persist_sends_a_patch() -> Result<(), serde_json::Error> {
    let host = FakeHost::default();
    assert_eq!(text(&host, "persist", "new-cookie"), "ok");
    let patch: serde_json::Value = serde_json::from_str(&host.patches.borrow()[0])?;
    assert_eq!(patch, serde_json::json!({ "rotated": "new-cookie" }));
    Ok(())
}

#[test]
fn errors_map_to_their_variants() {
    assert_eq!(
        error_of("error-auth"),
        ProviderError::AuthFailed("bad credentials".to_owned())
    );
    assert!(matches!(
        error_of("error-rate"),
        ProviderError::RateLimited {
            retry_after_ms: Some(1000),
            ..
        }
    ));
    assert!(matches!(
        error_of("error-quota"),
        ProviderError::QuotaExhausted {
            reset_at_ms: None,
            ..
        }
    ));
    assert!(matches!(error_of("error-bad"), ProviderError::BadRequest(_)));
    assert!(matches!(error_of("error-model"), ProviderError::ModelNotFound(_)));
    assert!(matches!(
        error_of("error-upstream"),
        ProviderError::Upstream { status: 500, .. }
    ));
    assert!(matches!(error_of("error-transient"), ProviderError::Transient(_)));
}

#[test]
fn midstream_error_follows_partial_text() {
    let stream = start(&FakeHost::default(), "error-midstream", "").expect("starts");
    let (batches, error) = drain(stream);
    assert_eq!(batches, [vec![Event::TextDelta("partial".to_owned())]]);
    assert!(matches!(error, Some(ProviderError::Upstream { status: 502, .. })));
}

#[test]
fn http_posts_and_decodes_sse_across_chunks() {
    let host = FakeHost::with_config(&[("upstream_url", "http://up.test/")]);
    host.respond(
        200,
        &[
            "data: Hel",
            "lo\n",
            "\ndata: , you\n\nda",
            "ta: [DONE]\n\n",
            "data: never\n\n",
        ],
    );
    assert_eq!(text(&host, "http", "say hi"), "Hello, you");
    let sent = host.requests.borrow()[0].clone();
    assert_eq!(sent.method, "POST");
    assert_eq!(sent.url, "http://up.test/stream");
    assert_eq!(sent.max_redirects, 0);
    assert_eq!(sent.body, br#"{"text":"say hi"}"#);
    assert_eq!(
        sent.headers,
        [("content-type".to_owned(), "application/json".to_owned())]
    );
}

#[test]
fn http_stops_at_end_of_body_without_done() {
    let host = FakeHost::with_config(&[("upstream_url", "http://up.test")]);
    host.respond(200, &["data: a\n\n", "data: b\n\n"]);
    let (batches, _) = drain(start(&host, "http", "").expect("starts"));
    assert_eq!(batches.len(), 3, "one batch per chunk, then stop: {batches:?}");
}

#[test]
fn http_error_status_becomes_upstream_error() {
    let host = FakeHost::with_config(&[("upstream_url", "http://up.test")]);
    let long = "e".repeat(600);
    host.respond(503, &[&long]);
    match start(&host, "http", "") {
        Err(ProviderError::Upstream { status, message }) => {
            assert_eq!(status, 503);
            assert_eq!(message.len(), MAX_ERROR_CHARS);
        }
        other => panic!("unexpected {:?}", other.err()),
    }
    let unconfigured = start(&FakeHost::default(), "http", "").err();
    assert!(matches!(unconfigured, Some(ProviderError::Internal(_))));
}

#[test]
fn ws_sends_text_and_streams_frames() {
    let host = FakeHost::with_config(&[("ws_url", "ws://up.test/ws")]);
    let socket = FakeSocket::default();
    let (sent, closed) = (socket.sent.clone(), socket.closed.clone());
    socket.incoming.borrow_mut().extend([
        Frame::Text("one".to_owned()),
        Frame::Binary(vec![1]),
        Frame::Text(" two".to_owned()),
        Frame::Text("[DONE]".to_owned()),
        Frame::Text("never".to_owned()),
    ]);
    *host.socket.borrow_mut() = Some(socket);
    assert_eq!(text(&host, "ws", "question"), "one two");
    assert_eq!(*sent.borrow(), ["question"]);
    assert!(closed.get());
    assert_eq!(
        host.ws_urls.borrow()[0],
        ("ws://up.test/ws".to_owned(), Some(10_000))
    );
}

#[test]
fn ws_ends_when_server_closes() {
    let host = FakeHost::with_config(&[("ws_url", "ws://up.test/ws")]);
    *host.socket.borrow_mut() = Some(FakeSocket::default());
    assert_eq!(text(&host, "ws", "q"), "");
}

#[test]
fn fetch_reports_status_and_body() {
    let host = FakeHost::default();
    host.respond(200, &["hello ", "there"]);
    assert_eq!(text(&host, "fetch", " http://x.test/ "), "200 hello there");
    assert_eq!(host.requests.borrow()[0].max_redirects, 5);
    assert_eq!(host.requests.borrow()[0].url, "http://x.test/");
}

#[test]
fn fetch_maps_network_errors() {
    let host = FakeHost::default();
    host.responses.borrow_mut().extend([
        Err(NetError::Denied("10.0.0.1".to_owned())),
        Err(NetError::Timeout),
    ]);
    let denied = start(&host, "fetch", "http://10.0.0.1/").err();
    assert_eq!(
        denied,
        Some(ProviderError::Internal("denied: 10.0.0.1".to_owned()))
    );
    let timeout = start(&host, "fetch", "http://slow.test/").err();
    assert!(matches!(timeout, Some(ProviderError::Transient(_))));
}
