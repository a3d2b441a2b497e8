//! Public API keys: open mode until the first key, then every public route needs a valid key.

use gateway_tests::{LOOPBACK_GRANTS, TestGateway, claude_request};
use serde_json::{Value, json};

const ADMIN: &str = "test-admin-token-0123456789";

async fn gateway() -> TestGateway {
    let plugins =
        format!("[plugins.dummy]\ncomponent = \"dummy.wasm\"\n[plugins.dummy.grants]\n{LOOPBACK_GRANTS}\n");
    let gw = TestGateway::start(&["dummy"], &plugins).await;
    gw.add_account_with("dummy", json!({}), 16).await;
    gw
}

async fn create_key(gw: &TestGateway, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .post(gw.url("/api/keys"))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    resp.json().await.unwrap()
}

async fn claude(gw: &TestGateway, key: Option<&str>, model: &str) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(gw.url("/v1/messages"))
        .json(&claude_request(model, "hi", false));
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn keys_are_required_once_one_exists_and_shown_only_once() {
    let gw = gateway().await;
    assert_eq!(
        claude(&gw, None, "echo").await.status(),
        200,
        "open mode before any key"
    );

    let created = create_key(&gw, json!({"name": "ci"})).await;
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("gwk-"));

    assert_eq!(claude(&gw, None, "echo").await.status(), 401);
    let wrong = claude(&gw, Some("gwk-not-a-real-key"), "echo").await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        wrong.json::<Value>().await.unwrap()["error"]["type"],
        "authentication_error"
    );
    assert_eq!(claude(&gw, Some(&key), "echo").await.status(), 200);
    let bearer = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "echo", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
    let unauth_openai = reqwest::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "echo", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauth_openai.status(), 401);
    assert!(unauth_openai.json::<Value>().await.unwrap()["error"]["message"].is_string());
    assert_eq!(reqwest::get(gw.url("/v1/models")).await.unwrap().status(), 401);

    // Listing shows a preview and usage, never the key or its hash.
    let list = reqwest::Client::new()
        .get(gw.url("/api/keys"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!list.contains(&key), "the key leaked: {list}");
    assert!(!list.contains(&gateway_host::keys::hash(&key)), "the hash leaked");
    let listed: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(listed["keys"][0]["preview"], created["preview"]);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let usage: Value = reqwest::Client::new()
        .get(gw.url(&format!("/api/keys/{}", created["id"].as_str().unwrap())))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(usage["usage"]["requests"].as_u64().unwrap() >= 2);

    // Disabled keys stop working; deleting the last key returns to open mode.
    let id = created["id"].as_str().unwrap();
    let disabled = reqwest::Client::new()
        .put(gw.url(&format!("/api/keys/{id}")))
        .bearer_auth(ADMIN)
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 200);
    assert_eq!(claude(&gw, Some(&key), "echo").await.status(), 401);
    let deleted = reqwest::Client::new()
        .delete(gw.url(&format!("/api/keys/{id}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(claude(&gw, None, "echo").await.status(), 200);
}

#[tokio::test]
async fn keys_can_be_scoped_and_rate_limited() {
    let gw = gateway().await;
    let scoped = create_key(&gw, json!({"allowed_models": ["echo"], "rate_limit_per_min": 3})).await;
    let key = scoped["key"].as_str().unwrap();
    let other = claude(&gw, Some(key), "version").await;
    assert_eq!(other.status(), 403);
    assert_eq!(
        other.json::<Value>().await.unwrap()["error"]["type"],
        "permission_error"
    );
    // 3 requests per minute (the scope refusal above counted too): a 429 must come within a
    // few requests, even if a minute boundary resets the window once.
    let mut limited = None;
    for _ in 0..6 {
        let resp = claude(&gw, Some(key), "echo").await;
        if resp.status() == 429 {
            limited = Some(resp);
            break;
        }
        assert_eq!(resp.status(), 200);
    }
    let limited = limited.expect("rate limit never applied");
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(
        limited.json::<Value>().await.unwrap()["error"]["type"],
        "rate_limit_error"
    );
}
