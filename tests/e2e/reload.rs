//! Hot reload under load: swaps without failed requests, old streams finish on the old version.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::routing::post;
use gateway_tests::{FakeUpstream, LOOPBACK_GRANTS, TestGateway, claude_request, sse_events, sse_text, wasm};
use serde_json::Value;

/// An upstream that streams one `tick` every 100 ms for ~2 s, so a client stream stays open
/// across the swap.
async fn slow_upstream() -> FakeUpstream {
    FakeUpstream::start(axum::Router::new().route(
        "/stream",
        post(|| async {
            let ticks = futures::stream::unfold(0u32, |n| async move {
                if n > 20 {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                let line = if n == 20 {
                    "data: [DONE]\n\n".to_owned()
                } else {
                    "data: tick\n\n".to_owned()
                };
                Some((Ok::<_, std::io::Error>(line), n + 1))
            });
            axum::response::Response::builder()
                .header("content-type", "text/event-stream")
                .body(axum::body::Body::from_stream(ticks))
                .unwrap()
        }),
    ))
    .await
}

/// Replaces a file the way deploy tools do: write beside it, then rename over it.
fn replace_atomically(target: &std::path::Path, bytes: &[u8]) {
    let tmp = target.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, target).unwrap();
}

async fn version_of(client: &reqwest::Client, gw: &TestGateway) -> Result<String, String> {
    let resp = client
        .post(gw.url("/dummy/v1/messages"))
        .json(&claude_request("version", "", false))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if resp.status() != 200 {
        return Err(format!("status {}", resp.status()));
    }
    let body: Value = resp.json().await.map_err(|e| e.to_string())?;
    Ok(body["content"][0]["text"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hot_swap_under_load_loses_nothing() {
    let fake = slow_upstream().await;
    let plugins = format!(
        "[plugins.dummy]\ncomponent = \"dummy.wasm\"\n[plugins.dummy.grants]\n{LOOPBACK_GRANTS}\n\
         [plugins.dummy.config]\nupstream_url = \"{}\"\n",
        fake.url("")
    );
    let gw = Arc::new(TestGateway::start(&["dummy"], &plugins).await);
    // Room for the load generator's 4 clients plus the open stream.
    gw.add_account_with("dummy", serde_json::json!({}), 16).await;
    let client = reqwest::Client::new();
    assert_eq!(version_of(&client, &gw).await.unwrap(), "1.0.0");

    // A stream that opens on v1 and must finish on v1, after the swap.
    let stream_gw = gw.clone();
    let open_stream = tokio::spawn(async move {
        let resp = reqwest::Client::new()
            .post(stream_gw.url("/dummy/v1/messages"))
            .json(&claude_request("http", "slow", true))
            .send()
            .await
            .unwrap();
        let version = resp.headers()["x-gateway-plugin-version"]
            .to_str()
            .unwrap()
            .to_owned();
        (version, resp.text().await.unwrap())
    });

    // Steady load from 4 clients for the whole test.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (gw, stop, failures, served) = (gw.clone(), stop.clone(), failures.clone(), served.clone());
        load.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                match version_of(&client, &gw).await {
                    Ok(_) => served.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        eprintln!("request failed during reload: {e}");
                        failures.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(300)).await;
    let target = gw.plugin_dir().join("dummy.wasm");
    let swapped_at = Instant::now();
    replace_atomically(&target, &std::fs::read(wasm("dummy-v2")).unwrap());
    let seen_after = loop {
        if version_of(&client, &gw).await.unwrap() == "2.0.0" {
            break swapped_at.elapsed();
        }
        assert!(
            swapped_at.elapsed() < Duration::from_secs(10),
            "new version never became visible"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!(
        "new version visible {} ms after the file was replaced",
        seen_after.as_millis()
    );
    // Debounce (250 ms) + compile/validate; generous bound for a loaded 2-core CI machine.
    assert!(seen_after < Duration::from_secs(3), "swap took {seen_after:?}");

    let (stream_version, stream_body) = open_stream.await.unwrap();
    assert_eq!(stream_version, "1.0.0", "the open stream started on v1");
    assert_eq!(
        sse_text(&stream_body),
        "tick".repeat(20),
        "the open stream completed on v1"
    );
    assert_eq!(sse_events(&stream_body).last().unwrap().0, "message_stop");

    // A corrupt file is rejected; v2 keeps serving.
    let failures_before = gw
        .metric("gateway_plugin_reload_failures_total{plugin=\"dummy\"}")
        .await;
    replace_atomically(&target, b"\0asm garbage that is not a component");
    let rejected = Instant::now();
    while gw
        .metric("gateway_plugin_reload_failures_total{plugin=\"dummy\"}")
        .await
        <= failures_before
    {
        assert!(
            rejected.elapsed() < Duration::from_secs(10),
            "corrupt component never rejected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(version_of(&client, &gw).await.unwrap(), "2.0.0");

    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "requests failed during the swap"
    );
    assert!(
        served.load(Ordering::Relaxed) > 10,
        "the load generator barely ran"
    );

    // Removing the file unpublishes the plugin.
    std::fs::remove_file(&target).unwrap();
    let removed = Instant::now();
    while version_of(&client, &gw).await.is_ok() {
        assert!(
            removed.elapsed() < Duration::from_secs(10),
            "plugin still served after removal"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let resp = client
        .post(gw.url("/dummy/v1/messages"))
        .json(&claude_request("version", "", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn restart_reuses_compiled_artefacts() {
    // Two gateways loading the same component: the second compile is served from the cache,
    // which the listing shows as the same digest (and the test suite as a fast start).
    let plugins = "[plugins.dummy]\ncomponent = \"dummy.wasm\"\n";
    let a = TestGateway::start(&["dummy"], plugins).await;
    let started = Instant::now();
    let b = TestGateway::start(&["dummy"], plugins).await;
    eprintln!(
        "second start with a warm cache took {} ms",
        started.elapsed().as_millis()
    );
    let da = a.app.plugins().get("dummy").unwrap().digest.clone();
    let db = b.app.plugins().get("dummy").unwrap().digest.clone();
    assert_eq!(da, db);
    let cache = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-wasm-cache");
    assert!(
        std::fs::read_dir(cache).map(|d| d.count() > 0).unwrap_or(false),
        "no compiled artefacts cached"
    );
}
