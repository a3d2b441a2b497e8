//! The `openai` channel end to end: the official `openai` and `anthropic` Python SDKs
//! (`tests/sdk/conformance.py`, run from the `make sdk-venv` virtualenv) against the gateway in
//! front of the fake OpenAI upstream; cancellation of the upstream stream when a client leaves;
//! what exactly the upstream receives.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use gateway_tests::TestGateway;
use gateway_tests::fake_openai::{API_KEY, FakeOpenAi, RecordedRequest};
use serde_json::{Value, json};

const MODEL: &str = "gpt-4o-mini";

/// The SDK virtualenv's interpreter, failing fast with the fix when it is missing.
fn sdk_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/sdk-venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run `make sdk-venv` first",
        python.display()
    );
    python
}

/// Runs `conformance.py` and returns whether it passed and everything it printed.
async fn conformance(python: &Path, base_url: &str, api_key: &str, extra: &[&str]) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk/conformance.py");
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(script)
        .args(["--base-url", base_url, "--api-key", api_key])
        .args(extra)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
    let out = tokio::time::timeout(Duration::from_secs(180), cmd.output())
        .await
        .expect("conformance.py finishes within 180 s")
        .expect("conformance.py starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("conformance.py --base-url {base_url} {}\n{text}", extra.join(" "));
    (out.status.success(), text)
}

/// A gateway whose `openai` channel points at `fake`, with one account holding the fake's key.
async fn openai_gateway(fake: &FakeOpenAi) -> TestGateway {
    let plugins = format!(
        "[plugins.openai]\ncomponent = \"openai.wasm\"\n[plugins.openai.grants]\nallowed_hosts = [\"{origin}\"]\n\
         [plugins.openai.config]\nbase_url = \"{base}\"\n\
         [pool]\ntransient_cooldown_secs = 0\n",
        origin = fake.origin(),
        base = fake.base_url(),
    );
    let gw = TestGateway::start(&["openai"], &plugins).await;
    gw.add_account("openai", json!({"api_key": API_KEY})).await;
    gw
}

/// Text of an OpenAI message `content` (a string or text parts).
fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn last_chat_request(fake: &FakeOpenAi) -> RecordedRequest {
    fake.chat_requests()
        .pop()
        .expect("the upstream received a chat request")
}

#[tokio::test]
async fn the_fake_upstream_satisfies_the_openai_sdk() {
    let python = sdk_python();
    let fake = FakeOpenAi::start().await;
    let (ok, output) = conformance(&python, &fake.origin(), API_KEY, &["--target", "fake"]).await;
    assert!(ok, "the OpenAI SDK rejects the fake upstream:\n{output}");
    assert!(output.contains(" passed, 0 failed"), "{output}");
}

#[tokio::test]
async fn official_sdks_pass_the_conformance_suite_through_the_openai_channel() {
    let python = sdk_python();
    let fake = FakeOpenAi::start().await;
    let gw = openai_gateway(&fake).await;
    let (ok, output) = conformance(&python, &gw.url(""), "anything", &[]).await;
    assert!(ok, "SDK conformance failed through the gateway:\n{output}");

    // Every upstream call used the account's key and streamed with usage, whatever the client asked.
    let sent = fake.chat_requests();
    assert!(!sent.is_empty());
    for r in &sent {
        assert_eq!(r.header("authorization"), Some("Bearer sk-test"), "{}", r.body);
        assert_eq!(r.body["stream"], true, "{}", r.body);
        assert_eq!(r.body["stream_options"]["include_usage"], true, "{}", r.body);
    }
    // Both the OpenAI image part and the Claude base64 image block reached it as a PNG data URL.
    let images = fake.image_urls();
    assert!(images.len() >= 2, "{images:?}");
    for url in &images {
        assert!(url.starts_with("data:image/png;base64,iVBORw0KGgo"), "{url:.60}");
    }
    assert!(images.windows(2).all(|w| w[0] == w[1]), "the same PNG both ways");
}

#[tokio::test]
async fn a_departed_client_cancels_the_upstream_stream() {
    let fake = FakeOpenAi::start().await;
    let gw = openai_gateway(&fake).await;
    let client = reqwest::Client::new();
    let mut resp = client
        .post(gw.url("/openai/v1/chat/completions"))
        .json(&json!({
            "model": MODEL,
            "stream": true,
            "messages": [{"role": "user", "content": "SLOW: count for a minute"}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
        .await
        .expect("a first chunk within 10 s")
        .unwrap()
        .expect("the stream has a first chunk");
    assert!(!first.is_empty());
    assert_eq!(fake.chat_requests().len(), 1);
    assert_eq!(fake.cancelled(), 0, "the upstream is still streaming");

    drop(resp);
    drop(client);
    assert!(
        fake.wait_for_cancelled(1, Duration::from_secs(10)).await,
        "the upstream stream was not cancelled within 10 s of the client leaving"
    );
    assert_eq!(fake.completed(), 0);
}

#[tokio::test]
async fn the_upstream_gets_the_account_key_and_the_system_prompt_first() {
    let fake = FakeOpenAi::start().await;
    let gw = openai_gateway(&fake).await;
    let client = reqwest::Client::new();
    let systems = [
        json!("You are terse."),
        json!([{"type": "text", "text": "You are terse."}, {"type": "text", "text": "Answer in French."}]),
    ];
    for system in systems {
        let resp = client
            .post(gw.url("/openai/v1/messages"))
            .header("x-api-key", "client-key-must-not-leak")
            .header("anthropic-version", "2023-06-01")
            .json(&json!({
                "model": MODEL,
                "max_tokens": 64,
                "system": system,
                "messages": [{"role": "user", "content": "hello"}],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "system {system}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["content"][0]["text"], "You said: hello", "{body}");

        let sent = last_chat_request(&fake);
        assert_eq!(sent.header("authorization"), Some("Bearer sk-test"));
        assert_eq!(
            sent.header("x-api-key"),
            None,
            "client credentials stay at the gateway"
        );
        assert_eq!(sent.body["model"], MODEL);
        assert_eq!(sent.body["stream"], true);
        assert_eq!(sent.body["stream_options"]["include_usage"], true);
        let messages = sent.body["messages"].as_array().expect("messages");
        assert_eq!(messages[0]["role"], "system", "{}", sent.body);
        let system_text = content_text(&messages[0]["content"]);
        assert!(system_text.contains("You are terse."), "{system_text}");
        if system.is_array() {
            assert!(system_text.contains("Answer in French."), "{system_text}");
        }
        assert_eq!(messages.len(), 2, "{}", sent.body);
        assert_eq!(messages[1]["role"], "user");
        assert_eq!(content_text(&messages[1]["content"]), "hello");
    }
}
