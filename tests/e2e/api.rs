//! Client-facing routes through the dummy channel: model routing, both API shapes, count_tokens.

use gateway_tests::{LOOPBACK_GRANTS, TestGateway, claude_request, sse_events};
use serde_json::{Value, json};

async fn gateway() -> TestGateway {
    let plugins =
        format!("[plugins.dummy]\ncomponent = \"dummy.wasm\"\n[plugins.dummy.grants]\n{LOOPBACK_GRANTS}\n");
    let gw = TestGateway::start(&["dummy"], &plugins).await;
    gw.add_account("dummy", json!({})).await;
    gw
}

fn openai_request(model: &str, text: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]})
}

async fn post(gw: &TestGateway, path: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(gw.url(path))
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn unprefixed_and_anthropic_routes_find_the_channel_by_model() {
    let gw = gateway().await;
    for path in ["/v1/messages", "/anthropic/v1/messages", "/dummy/v1/messages"] {
        let resp = post(&gw, path, &claude_request("echo", "routed by model", false)).await;
        assert_eq!(resp.status(), 200, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["content"][0]["text"], "routed by model", "{path}");
    }
    let resp = post(&gw, "/v1/messages", &claude_request("nope", "x", false)).await;
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "not_found_error");
}

#[tokio::test]
async fn openai_chat_completions_non_stream_and_stream() {
    let gw = gateway().await;
    let resp = post(
        &gw,
        "/dummy/v1/chat/completions",
        &openai_request("echo", "hi there", false),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], "hi there");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() > 0);

    let mut req = openai_request("tools", "weather", true);
    req["stream_options"] = json!({"include_usage": true});
    let text = post(&gw, "/v1/chat/completions", &req)
        .await
        .text()
        .await
        .unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let chunks: Vec<Value> = text
        .split("\n\n")
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let starts: Vec<(u64, String)> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0].as_object().cloned())
        .filter(|t| t.contains_key("id"))
        .map(|t| (t["index"].as_u64().unwrap(), t["id"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(starts, [(0, "call_a".to_owned()), (1, "call_b".to_owned())]);
    let finish: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0].get("finish_reason"))
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finish, [&json!("tool_calls")]);
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert!(usage["usage"]["total_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn errors_use_each_apis_shape() {
    let gw = gateway().await;
    let resp = post(
        &gw,
        "/v1/chat/completions",
        &openai_request("missing-model", "x", false),
    )
    .await;
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("model not found")
    );

    let limited = gateway().await; // the pool cools the account after a 429
    let resp = post(
        &limited,
        "/dummy/v1/chat/completions",
        &openai_request("error-rate", "x", false),
    )
    .await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    let resp = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let resp = reqwest::Client::new()
        .get(gw.url("/v1/chat/completions"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);

    let midstream = post(
        &gw,
        "/dummy/v1/chat/completions",
        &openai_request("error-midstream", "x", true),
    )
    .await;
    let text = midstream.text().await.unwrap();
    assert!(text.contains("\"error\""), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"));
    // The mid-stream upstream failure cooled that account; use a fresh gateway.
    let fresh = gateway().await;
    let claude = post(
        &fresh,
        "/dummy/v1/messages",
        &claude_request("error-midstream", "x", true),
    )
    .await;
    assert_eq!(
        sse_events(&claude.text().await.unwrap()).last().unwrap().0,
        "error"
    );
}

#[tokio::test]
async fn count_tokens_and_model_listing() {
    let gw = gateway().await;
    let short = post(
        &gw,
        "/v1/messages/count_tokens?beta=true",
        &claude_request("echo", "hello", false),
    )
    .await;
    assert_eq!(short.status(), 200);
    let short: Value = short.json().await.unwrap();
    let long: Value = post(
        &gw,
        "/dummy/v1/messages/count_tokens",
        &claude_request("echo", &"hello world ".repeat(200), false),
    )
    .await
    .json()
    .await
    .unwrap();
    let (s, l) = (
        short["input_tokens"].as_u64().unwrap(),
        long["input_tokens"].as_u64().unwrap(),
    );
    assert!(s > 0 && l > s + 300, "{s} vs {l}");

    let models: Value = reqwest::get(gw.url("/v1/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list");
    assert!(
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "echo" && m["owned_by"] == "dummy")
    );
    let one: Value = reqwest::get(gw.url("/dummy/v1/models/echo"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["id"], "echo");
    assert_eq!(
        reqwest::get(gw.url("/v1/models/nope")).await.unwrap().status(),
        404
    );
    let anthropic: Value = reqwest::Client::new()
        .get(gw.url("/v1/models"))
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(anthropic["data"][0]["type"], "model");
}
