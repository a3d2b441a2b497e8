//! Admin model CRUD: writes change serving at once, stale edits are refused, deletions stick.

use gateway_tests::{LOOPBACK_GRANTS, TestGateway, claude_request};
use reqwest::Method;
use serde_json::{Value, json};

async fn gateway() -> TestGateway {
    let plugins =
        format!("[plugins.dummy]\ncomponent = \"dummy.wasm\"\n[plugins.dummy.grants]\n{LOOPBACK_GRANTS}\n");
    let gw = TestGateway::start(&["dummy"], &plugins).await;
    gw.add_account("dummy", json!({})).await;
    gw
}

async fn chat(gw: &TestGateway, model: &str, text: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(gw.url("/v1/messages"))
        .json(&claude_request(model, text, false))
        .send()
        .await
        .unwrap()
}

async fn listed(gw: &TestGateway) -> Vec<String> {
    let body: Value = reqwest::get(gw.url("/v1/models"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn models_crud_changes_serving_at_once_and_deletions_stick() {
    let gw = gateway().await;
    let key = "dummy:custom:v1"; // model ids may hold ':'; the channel ends at the first one
    let path = format!("/api/models/{key}");

    let (status, created) = send(gw.admin(Method::POST, "/api/models").json(&json!({
        "channel": "dummy", "id": "custom:v1", "display_name": "Custom",
    })))
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["key"], key);
    assert_eq!(created["upstream_name"], "custom:v1", "defaults to the id");
    assert_eq!(
        (&created["kind"], &created["enabled"], &created["version"]),
        (&json!("chat"), &json!(true), &json!(1))
    );

    // Served at once: listed, and a chat on the dummy (which echoes unknown models) works.
    assert!(listed(&gw).await.contains(&"custom:v1".to_owned()));
    let resp = chat(&gw, "custom:v1", "hello custom").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["content"][0]["text"], "hello custom");

    // Refused creates.
    for (body, want) in [
        (json!({"channel": "dummy", "id": "custom:v1"}), 409),
        (json!({"channel": "nope", "id": "x"}), 400),
        (json!({"channel": "dummy", "id": " "}), 400),
        (json!({"channel": "dummy", "id": "x", "surprise": 1}), 400),
    ] {
        let (status, error) = send(gw.admin(Method::POST, "/api/models").json(&body)).await;
        assert_eq!(status, want, "{body}");
        assert!(error["error"]["message"].is_string(), "{body}: {error}");
    }

    let (status, got) = send(gw.admin(Method::GET, &path)).await;
    assert_eq!(
        (status, &got["key"], &got["display_name"]),
        (200, &json!(key), &json!("Custom"))
    );
    let (_, all) = send(gw.admin(Method::GET, "/api/models?channel=dummy")).await;
    let keys: Vec<&str> = all["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&key) && keys.contains(&"dummy:echo"), "{keys:?}");

    // Disabling takes effect at once; a stale version is refused and changes nothing.
    let (status, disabled) = send(
        gw.admin(Method::PUT, &path)
            .json(&json!({"version": 1, "enabled": false})),
    )
    .await;
    assert_eq!(
        (status, &disabled["enabled"], &disabled["version"]),
        (200, &json!(false), &json!(2))
    );
    assert_eq!(chat(&gw, "custom:v1", "x").await.status(), 404);
    assert!(!listed(&gw).await.contains(&"custom:v1".to_owned()));
    let (status, _) = send(
        gw.admin(Method::PUT, &path)
            .json(&json!({"version": 1, "enabled": true})),
    )
    .await;
    assert_eq!(status, 409);
    let (_, still) = send(gw.admin(Method::GET, &path)).await;
    assert_eq!((&still["enabled"], &still["version"]), (&json!(false), &json!(2)));
    assert_eq!(chat(&gw, "custom:v1", "x").await.status(), 404);

    // Deleting: gone, and not brought back by plugin seeding, even for a model the plugin
    // describes.
    assert_eq!(
        gw.admin(Method::DELETE, &path).send().await.unwrap().status(),
        204
    );
    assert_eq!(gw.admin(Method::GET, &path).send().await.unwrap().status(), 404);
    assert_eq!(
        gw.admin(Method::DELETE, &path).send().await.unwrap().status(),
        404
    );
    assert_eq!(chat(&gw, "version", "x").await.status(), 200);
    let seeded = gw
        .admin(Method::DELETE, "/api/models/dummy:version")
        .send()
        .await
        .unwrap();
    assert_eq!(seeded.status(), 204);
    assert_eq!(chat(&gw, "version", "x").await.status(), 404);
    let reload = gw
        .admin(Method::POST, "/api/plugins/dummy/reload")
        .send()
        .await
        .unwrap();
    assert_eq!(reload.status(), 200);
    // The reload's own sync runs in the background; run one here too, so the checks below
    // certainly follow a seeding pass.
    gw.app.models().sync(gw.app.plugins()).await.unwrap();
    for gone in ["/api/models/dummy:version", path.as_str()] {
        assert_eq!(
            gw.admin(Method::GET, gone).send().await.unwrap().status(),
            404,
            "{gone}"
        );
    }
    assert_eq!(chat(&gw, "version", "x").await.status(), 404);
    assert!(!listed(&gw).await.contains(&"version".to_owned()));
    assert_eq!(chat(&gw, "echo", "still here").await.status(), 200);

    let (status, _) = send(gw.admin(Method::GET, "/api/models/no-colon")).await;
    assert_eq!(status, 400);
}
