//! Hostile guests: each ends only its own request with a 502 and a metric.

use std::time::Duration;

use axum::routing::get;
use gateway_tests::{FakeUpstream, TestGateway, claude_request};
use serde_json::Value;

const KV_MAX_KEYS: u64 = 50;

/// A fake that serves a 1 GiB body lazily (64 KiB at a time) and counts bytes sent.
async fn giant_upstream() -> FakeUpstream {
    FakeUpstream::start(axum::Router::new().route(
        "/giant",
        get(|| async {
            let chunk = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
            let body =
                futures::stream::iter((0..16 * 1024).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
            axum::body::Body::from_stream(body)
        }),
    ))
    .await
}

async fn hostile_gateway(fake: &FakeUpstream) -> TestGateway {
    let plugins = format!(
        r#"
[plugins.hostile]
component = "hostile.wasm"
[plugins.hostile.grants]
allowed_hosts = ["http://127.0.0.1:{port}"]
memory_mb = 32
cpu_ms_per_call = 300
max_response_bytes = 8388608
max_output_bytes = 4194304
kv_max_keys = {KV_MAX_KEYS}
[plugins.hostile.config]
upstream_url = "{url}"
forbidden_url = "http://127.0.0.1:1/secret"
# Upstream failures (the giant body) must not take the one account out of rotation here.
[pool]
transient_cooldown_secs = 0
"#,
        port = fake.addr.port(),
        url = fake.url(""),
    );
    let gw = TestGateway::start(&["hostile"], &plugins).await;
    gw.add_account_with("hostile", serde_json::json!({}), 64).await;
    gw
}

async fn call(gw: &TestGateway, model: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(gw.url("/hostile/v1/messages"))
        .json(&claude_request(model, "go", false))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_guests_fail_alone_with_502_and_metrics() {
    let fake = giant_upstream().await;
    let gw = hostile_gateway(&fake).await;
    let rss_before = rss_kib();

    // Well-behaved traffic runs throughout and must be unaffected.
    let good_gw = gw.url("/hostile/v1/messages");
    let good = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut ok = 0;
        for _ in 0..40 {
            let resp = client
                .post(&good_gw)
                .json(&claude_request("ok", "x", false))
                .send()
                .await
                .unwrap();
            assert_eq!(
                resp.status(),
                200,
                "well-behaved request failed next to a hostile one"
            );
            ok += 1;
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        ok
    });

    let cases = [
        (
            "loop",
            "gateway_plugin_traps_total{kind=\"cpu_deadline\",plugin=\"hostile\"}",
        ),
        (
            "loop-stream",
            "gateway_plugin_cpu_deadline_hits_total{plugin=\"hostile\"}",
        ),
        (
            "membomb",
            "gateway_plugin_traps_total{kind=\"memory\",plugin=\"hostile\"}",
        ),
        (
            "trap",
            "gateway_plugin_traps_total{kind=\"trap\",plugin=\"hostile\"}",
        ),
        (
            "forbidden",
            "gateway_outbound_denied_total{plugin=\"hostile\",transport=\"http\"}",
        ),
        (
            "giant-body",
            "gateway_outbound_too_large_total{plugin=\"hostile\"}",
        ),
        (
            "giant-output",
            "gateway_plugin_traps_total{kind=\"output_limit\",plugin=\"hostile\"}",
        ),
        ("kvflood", "gateway_plugin_kv_denied_total{plugin=\"hostile\"}"),
    ];
    let hostile = cases.iter().map(|(model, metric)| {
        let gw = &gw;
        async move {
            let before = gw.metric(metric).await;
            let (status, body) = call(gw, model).await;
            assert_eq!(status, 502, "{model}: {body}");
            assert_eq!(body["type"], "error", "{model}");
            assert_eq!(body["error"]["type"], "api_error", "{model}");
            let after = gw.metric(metric).await;
            assert!(
                after > before,
                "{model}: metric {metric} did not move ({before} -> {after})"
            );
        }
    });
    futures::future::join_all(hostile).await;
    assert_eq!(good.await.unwrap(), 40);

    // Nothing leaked: the KV flood stopped at the quota, instances are all gone.
    assert_eq!(
        gw.app.store().kv_len("plugin:hostile").await.unwrap(),
        KV_MAX_KEYS
    );
    assert_eq!(
        gw.metric("gateway_plugin_instances_active{plugin=\"hostile\"}")
            .await,
        0.0
    );
    let grown_mib = rss_kib().saturating_sub(rss_before) / 1024;
    eprintln!("RSS grew by {grown_mib} MiB across all hostile guests");
    assert!(grown_mib < 512, "host RSS grew by {grown_mib} MiB");

    // And the gateway still serves.
    assert_eq!(call(&gw, "ok").await.0, 200);
}
