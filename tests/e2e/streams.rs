//! Stream lifecycle: keep-alives during upstream silence, graceful shutdown drains open streams.

use std::time::Duration;

use axum::routing::post;
use gateway_tests::{FakeUpstream, LOOPBACK_GRANTS, TestGateway, claude_request, sse_events, sse_text};
use serde_json::json;

/// An upstream that accepts at once, stays silent for `silence`, then streams `ticks` ticks.
async fn quiet_upstream(silence: Duration, ticks: u32) -> FakeUpstream {
    FakeUpstream::start(axum::Router::new().route(
        "/stream",
        post(move || async move {
            let body = futures::stream::unfold(0u32, move |n| async move {
                if n > ticks {
                    return None;
                }
                tokio::time::sleep(if n == 0 {
                    silence
                } else {
                    Duration::from_millis(100)
                })
                .await;
                let line = if n == ticks {
                    "data: [DONE]\n\n".to_owned()
                } else {
                    "data: tick\n\n".to_owned()
                };
                Some((Ok::<_, std::io::Error>(line), n + 1))
            });
            axum::response::Response::builder()
                .header("content-type", "text/event-stream")
                .body(axum::body::Body::from_stream(body))
                .unwrap()
        }),
    ))
    .await
}

async fn gateway(fake: &FakeUpstream) -> TestGateway {
    let plugins = format!(
        "[plugins.dummy]\ncomponent = \"dummy.wasm\"\n[plugins.dummy.grants]\n{LOOPBACK_GRANTS}\n\
         [plugins.dummy.config]\nupstream_url = \"{}\"\n",
        fake.url("")
    );
    let gw = TestGateway::start(&["dummy"], &plugins).await;
    gw.add_account("dummy", json!({})).await;
    gw
}

#[tokio::test]
async fn silent_upstreams_get_keepalives_in_both_apis() {
    let fake = quiet_upstream(Duration::from_millis(2500), 1).await;
    let gw = gateway(&fake).await;
    let client = reqwest::Client::new();
    let claude = client
        .post(gw.url("/dummy/v1/messages"))
        .json(&claude_request("http", "x", true))
        .send();
    let openai = client
        .post(gw.url("/dummy/v1/chat/completions"))
        .json(&json!({"model": "http", "stream": true, "messages": [{"role": "user", "content": "x"}]}))
        .send();
    let (claude, openai) = tokio::join!(claude, openai);
    let (claude, openai) = (
        claude.unwrap().text().await.unwrap(),
        openai.unwrap().text().await.unwrap(),
    );
    let events = sse_events(&claude);
    assert_eq!(
        events[0].0, "message_start",
        "the stream opens before the first token"
    );
    let ping = events
        .iter()
        .position(|(e, _)| e == "ping")
        .expect("a ping during the silence");
    let text = events
        .iter()
        .position(|(e, _)| e == "content_block_delta")
        .unwrap();
    assert!(ping < text);
    assert_eq!(sse_text(&claude), "tick");
    assert!(openai.contains(": keep-alive\n\n"), "{openai}");
    assert!(openai.trim_end().ends_with("data: [DONE]"));
}

#[tokio::test]
async fn shutdown_lets_open_streams_finish() {
    let fake = quiet_upstream(Duration::from_millis(100), 15).await;
    let gw = gateway(&fake).await;
    let url = gw.url("/dummy/v1/messages");
    let resp = reqwest::Client::new()
        .post(&url)
        .json(&claude_request("http", "x", true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = tokio::spawn(async move { resp.text().await.unwrap() });
    tokio::time::sleep(Duration::from_millis(200)).await;
    gw.stop().await; // returns once open requests drained (or the grace period ended)
    let body = tokio::time::timeout(Duration::from_secs(10), body)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        sse_text(&body),
        "tick".repeat(15),
        "the open stream was cut short"
    );
    assert_eq!(sse_events(&body).last().unwrap().0, "message_stop");
    assert!(
        reqwest::Client::new()
            .post(&url)
            .json(&claude_request("echo", "x", false))
            .send()
            .await
            .is_err()
    );
}
