//! Admin credentials end to end: login sessions, Basic auth, the token, failed-login limiting,
//! the configured password's precedence, config read/update with secrets redacted, and the optional `/metrics` token.

use gateway_tests::{TestGateway, claude_request, sse_text};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";
const METRICS_TOKEN: &str = "metrics-token-0123456789";

async fn gateway() -> TestGateway {
    TestGateway::start_with_env(
        &["dummy"],
        "[plugins.dummy]\ncomponent = \"dummy.wasm\"\n[plugins.dummy.config]\n\
         greeting = \"hello\"\napi_key = \"env::DUMMY_SECRET\"\n",
        &[
            ("GATEWAY__ADMIN__PASSWORD", PASSWORD),
            ("GATEWAY__SERVER__METRICS_TOKEN", METRICS_TOKEN),
            ("DUMMY_SECRET", "sk-plugin-secret-value"),
        ],
    )
    .await
}

#[tokio::test]
async fn login_sets_a_strict_http_only_session_and_logout_ends_it() {
    let gw = gateway().await;
    let client = reqwest::Client::new();
    assert!(
        gw.app.generated_password().is_none(),
        "a configured password is never generated"
    );
    let wrong = client
        .post(gw.url("/api/login"))
        .json(&json!({"username": "admin", "password": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());

    let login = client
        .post(gw.url("/api/login"))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(cookie.contains(attribute), "{attribute} missing from {cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_owned();
    let accounts = |session: String| {
        client
            .get(gw.url("/api/accounts"))
            .header("cookie", session)
            .send()
    };
    assert_eq!(accounts(session.clone()).await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        accounts("session_token=forged".into()).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );

    let logout = client
        .post(gw.url("/api/logout"))
        .header("cookie", session.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert!(
        logout.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        accounts(session).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn basic_auth_and_tokens_work_and_wrong_passwords_are_throttled() {
    let gw = gateway().await;
    let client = reqwest::Client::new();
    let plugins = |user: &str, password: &str| {
        client
            .get(gw.url("/api/plugins"))
            .basic_auth(user, Some(password))
            .send()
    };
    assert_eq!(
        plugins("anyone", PASSWORD).await.unwrap().status(),
        StatusCode::OK
    );
    let bare_token = client
        .get(gw.url("/api/plugins"))
        .header("authorization", gateway_tests::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bare_token.status(), StatusCode::OK);

    // Five failures a minute are allowed; then even the right password is refused unchecked.
    for _ in 0..5 {
        assert_eq!(
            plugins("admin", "guess").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let throttled = plugins("admin", PASSWORD).await.unwrap();
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers().contains_key("retry-after"));
    let login = client
        .post(gw.url("/api/login"))
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::TOO_MANY_REQUESTS);
    // The token is not a guessable password: it still works.
    assert_eq!(
        gw.admin(Method::GET, "/api/plugins")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn config_reads_redact_secrets_and_updates_apply_at_once() {
    let gw = gateway().await;
    gw.add_account("dummy", json!({})).await;
    let read = || gw.admin_get("/api/config");
    let before = read().await;
    let text = before.to_string();
    assert!(!text.contains("sk-plugin-secret-value"), "{text}");
    assert!(
        !text.contains(PASSWORD)
            && !text.contains(gateway_tests::ADMIN_TOKEN)
            && !text.contains(METRICS_TOKEN)
    );
    assert_eq!(before["live"]["plugins"]["dummy"]["api_key"], "<redacted>");
    assert_eq!(before["live"]["plugins"]["dummy"]["greeting"], "hello");
    assert_eq!(before["version"], 0);

    let update = |body: Value| gw.admin(Method::POST, "/api/config").json(&body).send();
    let ok =
        update(json!({"version": 0, "pool": {"max_attempts": 1}, "plugins": {"dummy": {"greeting": "hi"}}}))
            .await
            .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let after: Value = ok.json().await.unwrap();
    assert_eq!(after["version"], 1);
    assert_eq!(after["live"]["pool"]["max_attempts"], 1);
    let chat = reqwest::Client::new()
        .post(gw.url("/dummy/v1/messages"))
        .json(&claude_request("config", "greeting", true))
        .send()
        .await
        .unwrap();
    assert_eq!(
        sse_text(&chat.text().await.unwrap()),
        "hi",
        "the plugin sees the new value at once"
    );

    let stale = update(json!({"version": 0, "pool": {"max_attempts": 2}}))
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    for bad in [
        json!({"pool": {"max_attempts": 0}}),
        json!({"pool": {"max_atempts": 2}}),
        json!({"plugins": {"nope": {"a": "b"}}}),
        json!({"server": {"listen": "0.0.0.0:1"}}),
        json!([1]),
    ] {
        let resp = update(bad.clone()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    // `null` restores the file's value.
    let restored: Value = update(json!({"plugins": {"dummy": {"greeting": null}}}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(restored["live"]["plugins"]["dummy"]["greeting"], "hello");
    assert_eq!(restored["version"], 2);
}

#[tokio::test]
async fn metrics_can_require_a_token() {
    let gw = gateway().await;
    let client = reqwest::Client::new();
    let plain = client.get(gw.url("/metrics")).send().await.unwrap();
    assert_eq!(plain.status(), StatusCode::UNAUTHORIZED);
    let wrong = client
        .get(gw.url("/metrics"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let ok = client
        .get(gw.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.text().await.unwrap().contains("gateway_"));
}

#[tokio::test]
async fn a_configured_password_cannot_be_changed_through_the_api() {
    let gw = gateway().await;
    let resp = reqwest::Client::new()
        .post(gw.url("/api/admin/password"))
        .basic_auth("admin", Some(PASSWORD))
        .json(&json!({"current_password": PASSWORD, "new_password": "another long password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("config file"));
    let still = reqwest::Client::new()
        .get(gw.url("/api/plugins"))
        .basic_auth("admin", Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), StatusCode::OK);
}

#[tokio::test]
async fn behind_a_trusted_proxy_failed_logins_count_per_forwarded_client() {
    let gw = TestGateway::start_with_env(
        &[],
        "",
        &[
            ("GATEWAY__ADMIN__PASSWORD", PASSWORD),
            ("GATEWAY__SERVER__TRUSTED_PROXIES", r#"["127.0.0.0/8"]"#),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let login = |from: &str, password: &str| {
        client
            .post(gw.url("/api/login"))
            .header("x-forwarded-for", format!("198.51.100.1, {from}"))
            .json(&json!({"password": password}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(
            login("203.0.113.1", "guess").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login("203.0.113.1", PASSWORD).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same proxy is not locked out by the first one's guesses.
    assert_eq!(
        login("203.0.113.2", PASSWORD).await.unwrap().status(),
        StatusCode::OK
    );
}
