//! Export/import: a lossless round trip between two gateways, idempotent, all-or-nothing checks.

use gateway_tests::{LOOPBACK_GRANTS, TestGateway, claude_request};
use reqwest::Method;
use serde_json::{Value, json};

const SECRET: &str = "sk-export-only-credential-7731";
const CONFIG_SECRET: &str = "plugin-config-secret-5521";

async fn gateway() -> TestGateway {
    let plugins =
        format!("[plugins.dummy]\ncomponent = \"dummy.wasm\"\n[plugins.dummy.grants]\n{LOOPBACK_GRANTS}\n");
    TestGateway::start(&["dummy"], &plugins).await
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn export(gw: &TestGateway) -> Value {
    let resp = gw.admin(Method::GET, "/api/export").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(
        resp.headers()["content-disposition"],
        "attachment; filename=\"gateway-export.json\""
    );
    resp.json().await.unwrap()
}

async fn import(gw: &TestGateway, doc: &Value) -> (u16, Value) {
    send(gw.admin(Method::POST, "/api/import").json(doc)).await
}

/// The document without what may differ between two stores holding the same records.
fn comparable(doc: &Value) -> Value {
    let mut doc = doc.clone();
    doc.as_object_mut().unwrap().remove("exported_at_ms");
    for section in ["accounts", "models", "keys"] {
        for record in doc[section].as_array_mut().unwrap() {
            record.as_object_mut().unwrap().remove("version");
        }
    }
    doc
}

async fn chat(gw: &TestGateway, key: Option<&str>) -> u16 {
    let mut req = reqwest::Client::new()
        .post(gw.url("/v1/messages"))
        .json(&claude_request("echo", "hi", false));
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    req.send().await.unwrap().status().as_u16()
}

/// Fills a gateway with accounts (credentials), a custom and a disabled model, a runtime config
/// override with a secret, and a key;
/// returns the key.
async fn populate(gw: &TestGateway) -> String {
    for account in [
        json!({"channel": "dummy", "name": "primary", "weight": 3,
               "credentials": {"api_key": SECRET, "nested": {"list": [1, 2]}}}),
        json!({"channel": "dummy", "name": "spare", "enabled": false, "credentials": {"name": "two"}}),
    ] {
        let (status, body) = send(gw.admin(Method::POST, "/api/accounts").json(&account)).await;
        assert_eq!(status, 201, "{body}");
    }
    let custom = json!({"channel": "dummy", "id": "custom", "upstream_name": "echo", "display_name": "Mine"});
    assert_eq!(
        send(gw.admin(Method::POST, "/api/models").json(&custom)).await.0,
        201
    );
    let disable = json!({"enabled": false});
    assert_eq!(
        send(gw.admin(Method::PUT, "/api/models/dummy:version").json(&disable))
            .await
            .0,
        200
    );
    let config =
        json!({"pool": {"max_attempts": 2}, "plugins": {"dummy": {"upstream_token": CONFIG_SECRET}}});
    assert_eq!(
        send(gw.admin(Method::POST, "/api/config").json(&config)).await.0,
        200
    );
    let new_key = json!({"name": "ci", "allowed_models": ["echo", "custom"], "rate_limit_per_min": 100});
    let (status, key) = send(gw.admin(Method::POST, "/api/keys").json(&new_key)).await;
    assert_eq!(status, 201);
    key["key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn export_import_round_trip_is_lossless_and_idempotent() {
    let a = gateway().await;
    let secret_key = populate(&a).await;
    let exported = export(&a).await;
    assert_eq!(
        (&exported["format"], &exported["version"]),
        (&json!("ai-gateway-export"), &json!(1))
    );
    assert!(exported["exported_at_ms"].as_u64().unwrap() > 0);
    assert!(
        exported.to_string().contains(SECRET) && exported.to_string().contains(CONFIG_SECRET),
        "the export carries credentials and config secrets"
    );
    assert!(
        !exported.to_string().contains(&secret_key),
        "keys are never stored, so never exported"
    );

    let b = gateway().await;
    let models = reqwest::get(b.url("/v1/models")).await.unwrap();
    assert_eq!(models.status(), 200, "B starts in open mode");
    let seeded = b.app.store().list_models().await.unwrap().len();
    let (status, counts) = import(&b, &exported).await;
    assert_eq!(status, 200, "{counts}");
    assert_eq!(
        counts,
        json!({
            "accounts": {"created": 2, "updated": 0},
            // B seeded the dummy's models itself; only the custom one is new.
            "models": {"created": 1, "updated": seeded},
            "keys": {"created": 1, "updated": 0},
            "config": {"version": 1},
        })
    );
    let (_, config) = send(b.admin(Method::GET, "/api/config")).await;
    assert_eq!(config["live"]["pool"]["max_attempts"], 2);
    assert_eq!(config["live"]["plugins"]["dummy"]["upstream_token"], "<redacted>");
    let round_trip = export(&b).await;
    assert_eq!(comparable(&round_trip), comparable(&exported));

    // The imported key works on B, and B now requires keys.
    assert_eq!(chat(&b, Some(&secret_key)).await, 200);
    assert_eq!(chat(&b, None).await, 401);
    assert_eq!(chat(&b, Some("gwk-wrong")).await, 401);

    // Importing again duplicates nothing.
    let (status, again) = import(&b, &exported).await;
    assert_eq!(status, 200);
    assert_eq!(again["accounts"], json!({"created": 0, "updated": 2}));
    assert_eq!(again["keys"], json!({"created": 0, "updated": 1}));
    assert_eq!(again["models"]["created"], 0);
    assert_eq!(comparable(&export(&b).await), comparable(&exported));

    // Only the export carries the credential values.
    let (_, accounts) = send(b.admin(Method::GET, "/api/accounts")).await;
    let id = accounts["accounts"][0]["id"].as_str().unwrap().to_owned();
    for path in [
        "/api/accounts".to_owned(),
        format!("/api/accounts/{id}"),
        "/api/keys".to_owned(),
        "/api/config".to_owned(),
    ] {
        let text = b
            .admin(Method::GET, &path)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!text.contains(SECRET), "{path} leaks a credential: {text}");
        assert!(
            !text.contains(CONFIG_SECRET),
            "{path} leaks a config secret: {text}"
        );
    }
}

#[tokio::test]
async fn invalid_documents_are_refused_whole() {
    let gw = gateway().await;
    populate(&gw).await;
    let before = export(&gw).await;

    // A valid new account followed by a broken one: nothing at all is written.
    let mut doc = before.clone();
    let accounts = doc["accounts"].as_array_mut().unwrap();
    accounts.push(json!({"id": "new-account", "channel": "dummy"}));
    accounts.push(json!({"id": "broken", "credentials": {}}));
    doc["models"][0]["upstream_name"] = json!("changed");
    let (status, body) = import(&gw, &doc).await;
    assert_eq!(status, 400);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("accounts[3]") && message.contains("channel"),
        "{message}"
    );

    let oversized = json!({"format": "ai-gateway-export", "version": 1, "accounts": [
        {"id": "big", "channel": "dummy", "credentials": {"blob": "x".repeat(70 * 1024)}}]});
    let (status, body) = import(&gw, &oversized).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("65536"),
        "{body}"
    );

    for bad in [
        json!({"format": "something-else", "version": 1}),
        json!({"format": "ai-gateway-export", "version": 99}),
        json!({"format": "ai-gateway-export", "version": 1, "models": [{"id": "m"}]}),
    ] {
        assert_eq!(import(&gw, &bad).await.0, 400, "{bad}");
    }
    let not_json = gw
        .admin(Method::POST, "/api/import")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);

    let after = export(&gw).await;
    assert_eq!(comparable(&after), comparable(&before), "nothing changed");
    assert_eq!(after["accounts"], before["accounts"], "not even a version");
}
