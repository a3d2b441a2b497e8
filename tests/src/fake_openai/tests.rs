//! Unit tests of the fake OpenAI upstream itself.

use super::*;

async fn post(fake: &FakeOpenAi, key: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = reqwest::Client::new().post(fake.url(CHAT_PATH)).json(&body);
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    req.send().await.unwrap()
}

fn request(text: Value, stream: bool) -> Value {
    let mut body = json!({"model": "my-model", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": text},
    ]});
    if stream {
        body["stream"] = true.into();
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

/// Streams a request and returns its parsed chunks, checking the framing on the way.
async fn stream_chunks(fake: &FakeOpenAi, body: Value) -> Vec<Value> {
    let resp = post(fake, Some(API_KEY), body).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = resp.text().await.unwrap();
    let data = sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{text}");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-fake"), "{id}");
    for c in &chunks {
        assert_eq!(c["id"], id);
        assert_eq!(c["object"], "chat.completion.chunk");
        assert!(c["created"].as_u64().unwrap() > 0);
        assert_eq!(c["model"], "my-model");
    }
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "", "refusal": null})
    );
    let with_choices: Vec<&Value> = chunks
        .iter()
        .filter(|c| !c["choices"].as_array().unwrap().is_empty())
        .collect();
    let (last, rest) = with_choices.split_last().unwrap();
    assert!(last["choices"][0]["finish_reason"].is_string());
    for c in rest {
        assert_eq!(c["choices"][0]["index"], 0);
        assert!(c["choices"][0]["finish_reason"].is_null());
    }
    chunks
}

fn content_of(chunks: &[Value], field: &str) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"][field].as_str())
        .collect()
}

#[tokio::test]
async fn echo_streams_valid_chunks_then_usage_then_done() {
    let fake = FakeOpenAi::start().await;
    let chunks = stream_chunks(&fake, request(json!("hello there"), true)).await;
    assert_eq!(content_of(&chunks, "content"), "You said: hello there");
    let content_chunks = chunks
        .iter()
        .filter(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        })
        .count();
    assert!(content_chunks >= 3, "{content_chunks} content chunks");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    let u = &usage["usage"];
    assert!(u["prompt_tokens"].as_u64().unwrap() > 0);
    assert!(u["completion_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        u["total_tokens"].as_u64().unwrap(),
        u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap()
    );
    let finish = &chunks[chunks.len() - 2]["choices"][0];
    assert_eq!(finish["finish_reason"], "stop");
    assert!(chunks[..chunks.len() - 1].iter().all(|c| c["usage"].is_null()));
    assert_eq!(fake.completed(), 1);
    assert_eq!(fake.cancelled(), 0);
}

#[tokio::test]
async fn no_usage_chunk_unless_asked_and_text_parts_are_read() {
    let fake = FakeOpenAi::start().await;
    let mut body = request(
        json!([{"type": "text", "text": "parts"}, {"type": "text", "text": "work"}]),
        false,
    );
    body["stream"] = true.into();
    let chunks = stream_chunks(&fake, body).await;
    assert!(
        chunks
            .iter()
            .all(|c| !c["choices"].as_array().unwrap().is_empty())
    );
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert_eq!(content_of(&chunks, "content"), "You said: parts work");
}

#[tokio::test]
async fn rejects_a_missing_or_wrong_key_with_openai_error_json() {
    let fake = FakeOpenAi::start().await;
    for key in [None, Some("sk-wrong")] {
        let resp = post(&fake, key, request(json!("hi"), false)).await;
        assert_eq!(resp.status(), 401);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["code"], "invalid_api_key");
        assert!(body["error"]["param"].is_null());
        assert!(body["error"]["message"].is_string());
    }
    let resp = reqwest::get(fake.url("/v1/models")).await.unwrap();
    assert_eq!(resp.status(), 401);
    // Rejected requests are recorded too.
    let recorded = fake.requests();
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[1].header("authorization"), Some("Bearer sk-wrong"));
    assert_eq!(recorded[1].body["messages"][1]["content"], "hi");
}

#[tokio::test]
async fn non_stream_returns_one_chat_completion() {
    let fake = FakeOpenAi::start().await;
    let resp = post(&fake, Some(API_KEY), request(json!("hello"), false)).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_fake")
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-fake"));
    assert_eq!(body["model"], "my-model");
    let choice = &body["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "You said: hello");
    assert_eq!(choice["finish_reason"], "stop");
    assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    let recorded = fake.chat_requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].header("authorization"), Some("Bearer sk-test"));
    assert_eq!(recorded[0].body["messages"][0]["role"], "system");
}

#[tokio::test]
async fn parallel_tool_calls_interleave_and_reassemble() {
    let fake = FakeOpenAi::start().await;
    let chunks = stream_chunks(&fake, request(json!("TOOLS please"), true)).await;
    let mut order = Vec::new();
    let mut calls: Vec<(String, String, String)> = vec![Default::default(); 2];
    for c in &chunks {
        for tc in c["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let i = tc["index"].as_u64().unwrap() as usize;
            order.push(i);
            if let Some(id) = tc["id"].as_str() {
                calls[i].0 = id.to_owned();
                assert_eq!(tc["type"], "function");
            }
            if let Some(name) = tc["function"]["name"].as_str() {
                calls[i].1 = name.to_owned();
            }
            calls[i].2.push_str(tc["function"]["arguments"].as_str().unwrap());
        }
    }
    assert!(
        order.windows(2).filter(|w| w[0] != w[1]).count() >= 3,
        "interleaved: {order:?}"
    );
    assert_ne!(calls[0].0, calls[1].0);
    assert!(calls[0].0.starts_with("call_"));
    assert_eq!(calls[0].1, "get_weather");
    assert_eq!(calls[1].1, "get_time");
    let args = |s: &str| serde_json::from_str::<Value>(s).unwrap();
    assert_eq!(args(&calls[0].2), json!({"city": "Paris"}));
    assert_eq!(args(&calls[1].2), json!({"tz": "UTC"}));
    let finish = &chunks[chunks.len() - 2]["choices"][0];
    assert_eq!(finish["finish_reason"], "tool_calls");

    // Non-streaming: the same calls in one message, content null.
    let body: Value = post(&fake, Some(API_KEY), request(json!("TOOLS"), false))
        .await
        .json()
        .await
        .unwrap();
    let message = &body["choices"][0]["message"];
    assert!(message["content"].is_null());
    assert_eq!(
        message["tool_calls"][1]["function"]["arguments"],
        r#"{"tz":"UTC"}"#
    );
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn tool_results_must_answer_the_preceding_calls() {
    let fake = FakeOpenAi::start().await;
    let call = |id: &str| json!({"id": id, "type": "function", "function": {"name": "f", "arguments": "{}"}});
    let conversation = |tool_ids: &[&str]| {
        let mut messages = vec![
            json!({"role": "user", "content": "TOOLS"}),
            json!({"role": "assistant", "content": null, "tool_calls": [call("call_a"), call("call_b")]}),
        ];
        for (k, id) in tool_ids.iter().enumerate() {
            messages.push(json!({"role": "tool", "tool_call_id": id, "content": format!("r{k}")}));
        }
        json!({"model": "m", "messages": messages})
    };
    let body: Value = post(&fake, Some(API_KEY), conversation(&["call_b", "call_a"]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "Tool results: r0 | r1");
    for ids in [&["call_a"][..], &["call_a", "call_x"][..]] {
        let resp = post(&fake, Some(API_KEY), conversation(ids)).await;
        assert_eq!(resp.status(), 400, "{ids:?}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }
    let orphan = json!({"model": "m", "messages": [
        {"role": "user", "content": "x"},
        {"role": "tool", "tool_call_id": "call_a", "content": "r"},
    ]});
    assert_eq!(post(&fake, Some(API_KEY), orphan).await.status(), 400);
}

#[tokio::test]
async fn rejects_malformed_requests() {
    let fake = FakeOpenAi::start().await;
    let cases = [
        json!({"messages": [{"role": "user", "content": "x"}]}),
        json!({"model": "m", "messages": []}),
        json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}),
        json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image", "data": "x"}]}]}),
        json!({"model": "m", "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "x"}]}),
        json!({"model": "m", "tools": [{"name": "f"}], "messages": [{"role": "user", "content": "x"}]}),
    ];
    for body in cases {
        let resp = post(&fake, Some(API_KEY), body.clone()).await;
        assert_eq!(resp.status(), 400, "{body}");
        let err: Value = resp.json().await.unwrap();
        assert!(err["error"]["message"].is_string(), "{body}");
    }
    let resp = reqwest::Client::new()
        .post(fake.url(CHAT_PATH))
        .bearer_auth(API_KEY)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(fake.requests().last().unwrap().body, "{not json");
}

#[tokio::test]
async fn thinking_streams_reasoning_content_before_the_answer() {
    let fake = FakeOpenAi::start().await;
    let chunks = stream_chunks(&fake, request(json!("THINK hard"), true)).await;
    assert_eq!(content_of(&chunks, "reasoning_content"), "Let me think about it.");
    assert_eq!(content_of(&chunks, "content"), "The answer is 42.");
    let first_content = chunks
        .iter()
        .position(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        })
        .unwrap();
    let last_reasoning = chunks
        .iter()
        .rposition(|c| c["choices"][0]["delta"]["reasoning_content"].is_string())
        .unwrap();
    assert!(last_reasoning < first_content);
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 2);
}

#[tokio::test]
async fn image_parts_are_counted_and_recorded() {
    let fake = FakeOpenAi::start().await;
    let url = "data:image/png;base64,iVBORw0KGgo=";
    let parts = json!([
        {"type": "text", "text": "IMAGE what is this"},
        {"type": "image_url", "image_url": {"url": url}},
        {"type": "image_url", "image_url": {"url": "https://example.invalid/x.png", "detail": "low"}},
    ]);
    let chunks = stream_chunks(&fake, request(parts, true)).await;
    assert_eq!(content_of(&chunks, "content"), "I see 2 image(s)");
    assert_eq!(fake.image_urls(), [url, "https://example.invalid/x.png"]);
}

#[tokio::test]
async fn upstream_errors_have_openai_shape_and_retry_after() {
    let fake = FakeOpenAi::start().await;
    let resp = post(&fake, Some(API_KEY), request(json!("ERROR500"), true)).await;
    assert_eq!(resp.status(), 500);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "server_error");
    let resp = post(&fake, Some(API_KEY), request(json!("RATE429"), false)).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
}

#[tokio::test]
async fn models_are_listed_and_unknown_paths_are_404() {
    let fake = FakeOpenAi::start().await;
    let c = reqwest::Client::new();
    let list: Value = c
        .get(fake.url("/v1/models"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["object"], "list");
    assert_eq!(
        list["data"][0],
        json!({"id": "gpt-4o-mini", "object": "model", "created": 0, "owned_by": "fake"})
    );
    let one = c
        .get(fake.url("/v1/models/gpt-4o"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    let missing = c
        .get(fake.url("/v1/models/nope"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let wrong = c
        .post(fake.url("/v1/v1/chat/completions"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    assert_eq!(fake.requests().last().unwrap().path, "/v1/v1/chat/completions");
}

#[tokio::test]
async fn a_dropped_slow_stream_counts_as_cancelled() {
    let fake = FakeOpenAi::start().await;
    let client = reqwest::Client::new();
    let mut resp = client
        .post(fake.url(CHAT_PATH))
        .bearer_auth(API_KEY)
        .json(&request(json!("SLOW"), true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut got = String::new();
    while !got.contains("tick 2 ") {
        got.push_str(&String::from_utf8_lossy(&resp.chunk().await.unwrap().unwrap()));
    }
    assert_eq!(fake.cancelled(), 0);
    drop(resp);
    drop(client);
    assert!(fake.wait_for_cancelled(1, Duration::from_secs(5)).await);
    assert_eq!(fake.completed(), 0);
}

#[test]
fn chunk_text_splits_on_characters() {
    assert_eq!(chunk_text("You said: héllo", 3).concat(), "You said: héllo");
    assert!(chunk_text("You said: hi", 3).len() >= 3);
    assert_eq!(chunk_text("ab", 3), ["a", "b"]);
    assert_eq!(chunk_text("", 3), [""]);
}

#[test]
fn sse_data_reads_payloads() {
    let body = "data: {\"a\":1}\n\n: comment\n\ndata:[DONE]\n\n";
    assert_eq!(sse_data(body), ["{\"a\":1}", "[DONE]"]);
}
