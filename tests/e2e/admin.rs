//! Admin API: accounts CRUD with redaction and version checks, check/usage through the plugin.

use gateway_tests::{LOOPBACK_GRANTS, TestGateway, claude_request};
use serde_json::{Value, json};

const ADMIN: &str = "test-admin-token-0123456789";
const SECRET: &str = "sk-very-secret-credential-value-0042";

async fn gateway() -> TestGateway {
    let plugins =
        format!("[plugins.dummy]\ncomponent = \"dummy.wasm\"\n[plugins.dummy.grants]\n{LOOPBACK_GRANTS}\n");
    TestGateway::start(&["dummy"], &plugins).await
}

fn admin(gw: &TestGateway, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .request(method, gw.url(path))
        .bearer_auth(ADMIN)
}

#[tokio::test]
async fn accounts_crud_never_returns_secrets_and_refuses_stale_edits() {
    let gw = gateway().await;
    let created = admin(&gw, reqwest::Method::POST, "/api/accounts")
        .json(&json!({"channel": "dummy", "name": "primary", "credentials": {"api_key": SECRET}, "max_inflight": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["max_inflight"], 3);

    // The account serves traffic.
    let resp = reqwest::Client::new()
        .post(gw.url("/dummy/v1/messages"))
        .json(&claude_request("account", "", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    for path in [
        "/api/accounts".to_owned(),
        format!("/api/accounts/{id}"),
        "/api/queue".to_owned(),
    ] {
        let text = admin(&gw, reqwest::Method::GET, &path)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            !text.contains(SECRET) && !text.contains(&SECRET[8..]),
            "{path} leaks the credential: {text}"
        );
    }
    let got: Value = admin(&gw, reqwest::Method::GET, &format!("/api/accounts/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        got["credentials"]["api_key"]
            .as_str()
            .unwrap()
            .starts_with("sk-v")
    );
    let version = got["version"].as_u64().unwrap();

    // A partial edit keeps the other fields; a stale version is refused with 409.
    let edited: Value = admin(&gw, reqwest::Method::PUT, &format!("/api/accounts/{id}"))
        .json(&json!({"version": version, "weight": 5}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(edited["weight"], 5);
    assert_eq!(edited["name"], "primary");
    let stale = admin(&gw, reqwest::Method::PUT, &format!("/api/accounts/{id}"))
        .json(&json!({"version": version, "weight": 7}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 409);
    let stored = gw.app.store().get_account(&id).await.unwrap();
    assert_eq!(
        stored.credentials["api_key"], SECRET,
        "the credential survived the edits"
    );

    let check: Value = admin(&gw, reqwest::Method::GET, &format!("/api/accounts/{id}/check"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(check["ok"], true);
    assert_eq!(check["check"]["identity"], "dummy@example.test");
    let usage: Value = admin(&gw, reqwest::Method::GET, &format!("/api/accounts/{id}/usage"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(usage["usage"]["remaining"], 99);

    assert_eq!(
        admin(&gw, reqwest::Method::DELETE, &format!("/api/accounts/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        admin(&gw, reqwest::Method::GET, &format!("/api/accounts/{id}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let bad = admin(&gw, reqwest::Method::POST, "/api/accounts")
        .json(&json!({"channel": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn every_admin_route_refuses_without_credentials() {
    let gw = gateway().await;
    for (method, path) in [
        (reqwest::Method::GET, "/api/plugins"),
        (reqwest::Method::POST, "/api/plugins/dummy/reload"),
        (reqwest::Method::GET, "/api/queue"),
        (reqwest::Method::GET, "/api/accounts"),
        (reqwest::Method::POST, "/api/accounts"),
        (reqwest::Method::GET, "/api/accounts/x"),
        (reqwest::Method::PUT, "/api/accounts/x"),
        (reqwest::Method::DELETE, "/api/accounts/x"),
        (reqwest::Method::GET, "/api/accounts/x/check"),
        (reqwest::Method::GET, "/api/accounts/x/usage"),
        (reqwest::Method::POST, "/api/accounts/x/test"),
        (reqwest::Method::POST, "/api/accounts/test-all"),
        (reqwest::Method::GET, "/api/models"),
        (reqwest::Method::POST, "/api/models"),
        (reqwest::Method::GET, "/api/models/dummy:echo"),
        (reqwest::Method::PUT, "/api/models/dummy:echo"),
        (reqwest::Method::DELETE, "/api/models/dummy:echo"),
        (reqwest::Method::GET, "/api/export"),
        (reqwest::Method::POST, "/api/import"),
        (reqwest::Method::GET, "/api/config/cache/stats"),
        (reqwest::Method::POST, "/api/config/cache/clear"),
        (reqwest::Method::GET, "/api/config"),
        (reqwest::Method::PUT, "/api/config"),
        (reqwest::Method::POST, "/api/admin/password"),
        (reqwest::Method::GET, "/api/keys"),
        (reqwest::Method::POST, "/api/keys"),
    ] {
        let resp = reqwest::Client::new()
            .request(method.clone(), gw.url(path))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{method} {path}");
    }
}

#[tokio::test]
async fn malformed_admin_bodies_get_json_errors_and_change_nothing() {
    let gw = gateway().await;
    let json = "application/json";
    for (method, path, content_type, body, want, mentions) in [
        (
            reqwest::Method::POST,
            "/api/accounts",
            json,
            "{\"channel\":",
            400,
            "EOF",
        ),
        (
            reqwest::Method::POST,
            "/api/accounts",
            json,
            "{\"channel\": 7}",
            400,
            "channel",
        ),
        (
            reqwest::Method::POST,
            "/api/accounts",
            json,
            "{\"channel\": \"dummy\", \"surprise\": 1}",
            400,
            "surprise",
        ),
        (
            reqwest::Method::POST,
            "/api/accounts",
            "text/plain",
            "{\"channel\": \"dummy\"}",
            415,
            "Content-Type",
        ),
        (
            reqwest::Method::PUT,
            "/api/accounts/x",
            json,
            "[]",
            400,
            "expected",
        ),
        (
            reqwest::Method::POST,
            "/api/keys",
            json,
            "{\"name\": [1]}",
            400,
            "name",
        ),
        (
            reqwest::Method::POST,
            "/api/models",
            json,
            "not json",
            400,
            "JSON",
        ),
        (reqwest::Method::PUT, "/api/config", json, "{", 400, "EOF"),
    ] {
        let resp = admin(&gw, method.clone(), path)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let error: Value = resp.json().await.expect("a JSON error body");
        assert_eq!(status, want, "{method} {path} {body}: {error}");
        assert_eq!(error["type"], "error", "{error}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(mentions), "{method} {path} {body}: {message}");
    }
    // Nothing was written, and the gateway still serves.
    assert_eq!(gw.admin_get("/api/accounts").await["accounts"], json!([]));
    assert_eq!(gw.admin_get("/api/keys").await["keys"], json!([]));
}
