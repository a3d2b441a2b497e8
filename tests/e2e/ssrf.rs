//! Outbound grants: loopback, metadata and redirect targets outside the grants are refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::Query;
use axum::routing::get;
use gateway_tests::{FakeUpstream, TestGateway, claude_request};
use serde_json::Value;

#[tokio::test]
async fn destinations_outside_the_grants_are_refused_even_through_redirects() {
    let secret_hits = Arc::new(AtomicUsize::new(0));
    let hits = secret_hits.clone();
    // The "internal service" the plugin must never reach.
    let internal = FakeUpstream::start(axum::Router::new().route(
        "/secret",
        get(move || {
            hits.fetch_add(1, Ordering::SeqCst);
            async { "internal secret" }
        }),
    ))
    .await;
    // The granted upstream, which also tries to bounce the plugin elsewhere.
    let granted = FakeUpstream::start(axum::Router::new().route("/hello", get(|| async { "hi" })).route(
        "/redirect",
        get(
            |Query(q): Query<std::collections::HashMap<String, String>>| async move {
                axum::response::Redirect::temporary(&q["to"])
            },
        ),
    ))
    .await;
    let plugins = format!(
        "[plugins.dummy]\ncomponent = \"dummy.wasm\"\n[plugins.dummy.grants]\nallowed_hosts = [\"http://127.0.0.1:{}\"]\n",
        granted.addr.port()
    );
    let gw = TestGateway::start(&["dummy"], &plugins).await;
    gw.add_account("dummy", serde_json::json!({})).await;
    let fetch = |url: String| {
        let gw = &gw;
        async move {
            let resp = reqwest::Client::new()
                .post(gw.url("/dummy/v1/messages"))
                .json(&claude_request("fetch", &url, false))
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };

    // Control: the granted destination works.
    let (status, body) = fetch(granted.url("/hello")).await;
    assert_eq!(status, 200);
    assert_eq!(body["content"][0]["text"], "200 hi");

    let denied_before = gw
        .metric("gateway_outbound_denied_total{plugin=\"dummy\",transport=\"http\"}")
        .await;
    let secret = internal.url("/secret");
    for url in [
        secret.clone(),
        secret.replace("127.0.0.1", "localhost"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::1]:1/".to_owned(),
        granted.url(&format!("/redirect?to={secret}")),
        granted.url("/redirect?to=http://169.254.169.254/latest/meta-data/"),
        "file:///etc/passwd".to_owned(),
    ] {
        let (status, body) = fetch(url.clone()).await;
        assert_eq!(status, 502, "{url}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("denied"), "{url}: {message}");
    }
    assert_eq!(
        secret_hits.load(Ordering::SeqCst),
        0,
        "the internal service was reached"
    );
    let denied_after = gw
        .metric("gateway_outbound_denied_total{plugin=\"dummy\",transport=\"http\"}")
        .await;
    assert!(
        denied_after >= denied_before + 6.0,
        "denials not counted: {denied_before} -> {denied_after}"
    );
}
