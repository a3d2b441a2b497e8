//! Every host import and the chat stream resource, end to end through the dummy plugin.

use std::time::Duration;

use axum::routing::{get, post};
use gateway_tests::{FakeUpstream, LOOPBACK_GRANTS, TestGateway, claude_request, sse_events, sse_text};
use serde_json::{Value, json};

async fn dummy_gateway(config: &str) -> TestGateway {
    let plugins = format!(
        "[plugins.dummy]\ncomponent = \"dummy.wasm\"\n[plugins.dummy.grants]\n{LOOPBACK_GRANTS}\n[plugins.dummy.config]\n{config}\n"
    );
    let gw = TestGateway::start(&["dummy"], &plugins).await;
    gw.add_account("dummy", json!({"api_key": "k-1"})).await;
    gw
}

async fn send(gw: &TestGateway, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(gw.url("/dummy/v1/messages"))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn text_of(gw: &TestGateway, model: &str, prompt: &str) -> String {
    let resp = send(gw, &claude_request(model, prompt, false)).await;
    assert_eq!(resp.status(), 200, "model {model}");
    let body: Value = resp.json().await.unwrap();
    body["content"][0]["text"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn echo_streams_claude_sse_and_aggregates_json() {
    let gw = dummy_gateway("").await;
    let resp = send(&gw, &claude_request("echo", "hello wasm world", true)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert_eq!(resp.headers()["x-gateway-plugin-version"], "1.0.0");
    let body = resp.text().await.unwrap();
    let names: Vec<String> = sse_events(&body).into_iter().map(|(e, _)| e).collect();
    assert_eq!(names.first().map(String::as_str), Some("message_start"));
    assert_eq!(&names[names.len() - 2..], ["message_delta", "message_stop"]);
    assert_eq!(sse_text(&body), "hello wasm world");

    let resp = send(&gw, &claude_request("echo", "hello again", false)).await;
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(body["content"][0]["text"], "hello again");
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["usage"]["output_tokens"], 2);
}

#[tokio::test]
async fn kv_is_persistent_and_private_to_the_plugin() {
    let gw = dummy_gateway("").await;
    assert_eq!(text_of(&gw, "kv", "").await, "1");
    assert_eq!(text_of(&gw, "kv", "").await, "2");
    let stored = gw.app.store().kv_get("plugin:dummy", "counter").await.unwrap();
    assert_eq!(stored.as_deref(), Some(&b"2"[..]));
    assert_eq!(
        gw.app.store().kv_get("plugin:other", "counter").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn credentials_are_merged_into_the_account_and_passed_to_the_plugin() {
    let gw = dummy_gateway("").await;
    assert_eq!(text_of(&gw, "persist", "rotated-cookie").await, "ok");
    let accounts = gw.app.store().list_accounts(Some("dummy")).await.unwrap();
    assert_eq!(accounts[0].credentials["rotated"], "rotated-cookie");
    assert_eq!(
        accounts[0].credentials["api_key"], "k-1",
        "other fields untouched"
    );
    let seen: Value = serde_json::from_str(&text_of(&gw, "account", "").await).unwrap();
    assert_eq!(seen["rotated"], "rotated-cookie");
}

#[tokio::test]
async fn plugin_config_and_logging_reach_the_guest() {
    let gw = dummy_gateway("greeting = \"bonjour\"").await;
    assert_eq!(text_of(&gw, "config", "greeting").await, "bonjour");
    assert_eq!(text_of(&gw, "config", "absent").await, "<unset>");
    assert_eq!(text_of(&gw, "log", "a line from the guest").await, "logged");
}

#[tokio::test]
async fn streaming_http_import_decodes_an_upstream_sse_stream() {
    let fake = FakeUpstream::start(axum::Router::new().route(
        "/stream",
        post(|body: axum::Json<Value>| async move {
            let text = body["text"].as_str().unwrap_or_default().to_owned();
            let chunks: Vec<Result<String, std::io::Error>> = text
                .split(' ')
                .map(|w| Ok(format!("data: {w}\n\n")))
                .chain([Ok("data: [DONE]\n\n".to_owned())])
                .collect();
            axum::response::Response::builder()
                .header("content-type", "text/event-stream")
                .body(axum::body::Body::from_stream(futures::stream::iter(chunks)))
                .unwrap()
        }),
    ))
    .await;
    let gw = dummy_gateway(&format!("upstream_url = \"{}\"", fake.url(""))).await;
    let resp = send(&gw, &claude_request("http", "one two three", true)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(sse_text(&resp.text().await.unwrap()), "onetwothree");
}

#[tokio::test]
async fn websocket_import_exchanges_frames() {
    let fake = FakeUpstream::start(axum::Router::new().route(
        "/ws",
        get(|ws: axum::extract::ws::WebSocketUpgrade| async move {
            ws.on_upgrade(|mut socket| async move {
                if let Some(Ok(axum::extract::ws::Message::Text(t))) = socket.recv().await {
                    for word in t.split(' ') {
                        let _ = socket
                            .send(axum::extract::ws::Message::Text(format!("<{word}>").into()))
                            .await;
                    }
                    let _ = socket
                        .send(axum::extract::ws::Message::Text("[DONE]".into()))
                        .await;
                }
            })
        }),
    ))
    .await;
    let ws_url = fake.url("/ws").replace("http://", "ws://");
    let gw = dummy_gateway(&format!("ws_url = \"{ws_url}\"")).await;
    assert_eq!(text_of(&gw, "ws", "a b").await, "<a><b>");
}

#[tokio::test]
async fn parallel_tool_calls_and_thinking_become_sequential_claude_blocks() {
    let gw = dummy_gateway("").await;
    let body = send(&gw, &claude_request("tools", "weather?", true))
        .await
        .text()
        .await
        .unwrap();
    let events = sse_events(&body);
    let starts: Vec<&Value> = events
        .iter()
        .filter(|(e, _)| e == "content_block_start")
        .map(|(_, d)| d)
        .collect();
    let kinds: Vec<&str> = starts
        .iter()
        .map(|d| d["content_block"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["text", "tool_use", "tool_use"]);
    let indexes: Vec<u64> = starts.iter().map(|d| d["index"].as_u64().unwrap()).collect();
    assert_eq!(indexes, [0, 1, 2]);
    let json_for = |index: u64| -> Value {
        let s: String = events
            .iter()
            .filter(|(_, d)| d["index"] == index && d["delta"]["type"] == "input_json_delta")
            .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap().to_owned())
            .collect();
        serde_json::from_str(&s).unwrap()
    };
    assert_eq!(json_for(1), json!({"city": "Paris"}));
    assert_eq!(json_for(2), json!({"tz": "UTC"}));
    let delta = events.iter().find(|(e, _)| e == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");

    let resp = send(&gw, &claude_request("thinking", "think", false)).await;
    let msg: Value = resp.json().await.unwrap();
    assert_eq!(msg["content"][0]["type"], "thinking");
    assert_eq!(msg["content"][0]["thinking"], "Let me think. Done.");
    assert_eq!(msg["content"][0]["signature"], "sig-123");
    assert_eq!(msg["content"][1]["text"], "Answer.");
}

#[tokio::test]
async fn typed_provider_errors_map_to_statuses_in_claude_shape() {
    for (model, status) in [
        ("error-auth", 502),
        ("error-rate", 429),
        ("error-quota", 429),
        ("error-bad", 400),
        ("error-model", 404),
        ("error-upstream", 502),
        ("error-transient", 502),
        ("no-such-model", 404),
    ] {
        // A fresh gateway per case: the pool rightly cools or disables the account after each.
        let gw = dummy_gateway("").await;
        let resp = send(&gw, &claude_request(model, "x", false)).await;
        assert_eq!(resp.status(), status, "{model}");
        if model == "error-rate" {
            assert_eq!(resp.headers()["retry-after"], "1");
        }
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["type"], "error", "{model}");
        assert!(body["error"]["message"].is_string(), "{model}");
    }
    // After the stream began, a failure becomes an `error` event.
    let gw = dummy_gateway("").await;
    let body = send(&gw, &claude_request("error-midstream", "x", true))
        .await
        .text()
        .await
        .unwrap();
    let events = sse_events(&body);
    assert_eq!(sse_text(&body), "partial");
    assert_eq!(events.last().unwrap().0, "error");
}

#[tokio::test]
async fn health_readiness_metrics_and_admin_listing() {
    let gw = dummy_gateway("").await;
    let c = reqwest::Client::new();
    assert_eq!(c.get(gw.url("/healthz")).send().await.unwrap().status(), 200);
    let ready: Value = c
        .get(gw.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(c.get(gw.url("/api/plugins")).send().await.unwrap().status(), 401);
    let wrong = c
        .get(gw.url("/api/plugins"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let list: Value = c
        .get(gw.url("/api/plugins"))
        .bearer_auth("test-admin-token-0123456789")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let p = &list["plugins"][0];
    assert_eq!(p["name"], "dummy");
    assert_eq!(p["version"], "1.0.0");
    assert_eq!(p["digest"].as_str().unwrap().len(), 64);
    assert!(p["loaded_at"].as_u64().unwrap() > 0);
    assert_eq!(p["grants"]["allowed_hosts"][0], "http://127.0.0.1:*");

    text_of(&gw, "echo", "hi").await;
    let resp = c.get(gw.url("/nope")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.headers().contains_key("x-request-id"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        gw.metric("gateway_plugin_instantiations_total{plugin=\"dummy\"}")
            .await
            >= 2.0
    );
    assert!(
        gw.metric("gateway_requests_total{route=\"/{channel}/v1/messages\",status=\"200\"}")
            .await
            >= 1.0
    );
}

#[tokio::test]
async fn bad_input_gets_claude_errors_and_the_gateway_keeps_serving() {
    let gw = dummy_gateway("").await;
    let c = reqwest::Client::new();
    for body in [
        &b"{\"model\": \"echo\", \"messages\": ["[..],
        b"[]",
        b"\xff\xfe",
        br#"{"model": 3, "messages": []}"#,
    ] {
        let resp = c
            .post(gw.url("/dummy/v1/messages"))
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["type"], "invalid_request_error");
    }
    let big = vec![b' '; 60 * 1024 * 1024];
    let resp = c.post(gw.url("/dummy/v1/messages")).body(big).send().await;
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), 413);
    }
    assert_eq!(
        c.post(gw.url("/nochannel/v1/messages"))
            .json(&claude_request("echo", "x", false))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(text_of(&gw, "echo", "still alive").await, "still alive");
}
