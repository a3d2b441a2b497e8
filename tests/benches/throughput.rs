//! Load benchmark: requests through the gateway's `openai` plugin vs straight to the fake
//! upstream (fixed latency), non-streaming and streaming, in one run. Figures, not pass/fail:
//! `make bench` (release). Under `cargo test --all-targets` it runs a short smoke version.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    reason = "a benchmark binary reports on stdout"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::response::IntoResponse;
use axum::routing::post;
use gateway_tests::{FakeUpstream, TestGateway};
use serde_json::{Value, json};

/// Fixed upstream latency before the first byte.
const UPSTREAM_LATENCY: Duration = Duration::from_millis(20);

/// An OpenAI-compatible upstream that waits `UPSTREAM_LATENCY`, then answers with five content
/// chunks (SSE) or one `chat.completion` (JSON).
async fn fixed_latency_upstream() -> FakeUpstream {
    FakeUpstream::start(axum::Router::new().route(
        "/v1/chat/completions",
        post(|body: axum::Json<Value>| async move {
            tokio::time::sleep(UPSTREAM_LATENCY).await;
            let model = body["model"].as_str().unwrap_or("m").to_owned();
            if body["stream"] == true {
                let mut sse = String::new();
                for word in ["The ", "quick ", "brown ", "fox ", "jumps."] {
                    let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": model,
                        "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": null}]});
                    sse.push_str(&format!("data: {chunk}\n\n"));
                }
                let last = json!({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": model,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}});
                sse.push_str(&format!("data: {last}\n\ndata: [DONE]\n\n"));
                ([("content-type", "text/event-stream")], sse).into_response()
            } else {
                let msg = json!({"id": "c", "object": "chat.completion", "created": 0, "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "The quick brown fox jumps."}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}});
                axum::Json(msg).into_response()
            }
        }),
    ))
    .await
}

struct Figures {
    requests: usize,
    elapsed: Duration,
    /// Time to first body byte, per request.
    ttfb: Vec<Duration>,
    total: Vec<Duration>,
}

impl Figures {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

fn pct(sorted: &[Duration], p: usize) -> Duration {
    sorted
        .get(sorted.len().saturating_sub(1) * p / 100)
        .copied()
        .unwrap_or_default()
}

/// `concurrency` clients issue requests back to back for `duration`.
async fn load(url: String, body: Value, concurrency: usize, duration: Duration) -> Figures {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let started = Instant::now();
    let results = Arc::new(std::sync::Mutex::new((Vec::new(), Vec::new())));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, body, results) = (client.clone(), url.clone(), body.clone(), results.clone());
        tasks.push(tokio::spawn(async move {
            while started.elapsed() < duration {
                let t = Instant::now();
                let mut resp = client.post(&url).json(&body).send().await.unwrap();
                assert_eq!(resp.status(), 200, "{url}");
                let mut first = None;
                while let Some(chunk) = resp.chunk().await.unwrap() {
                    if first.is_none() && !chunk.is_empty() {
                        first = Some(t.elapsed());
                    }
                }
                let mut r = results.lock().unwrap();
                r.0.push(first.unwrap_or_default());
                r.1.push(t.elapsed());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    let (mut ttfb, mut total) = std::mem::take(&mut *results.lock().unwrap());
    ttfb.sort();
    total.sort();
    Figures {
        requests: total.len(),
        elapsed,
        ttfb,
        total,
    }
}

fn row(name: &str, f: &Figures) {
    println!(
        "{name:<34} {:>8.0} req/s   p50 {:>8.2?}  p99 {:>8.2?}   ttfb p50 {:>8.2?}  p99 {:>8.2?}",
        f.rps(),
        pct(&f.total, 50),
        pct(&f.total, 99),
        pct(&f.ttfb, 50),
        pct(&f.ttfb, 99)
    );
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (concurrency, duration) = if full {
        (32, Duration::from_secs(5))
    } else {
        (4, Duration::from_millis(300))
    };
    let upstream = fixed_latency_upstream().await;
    let plugins = format!(
        "[plugins.openai]\ncomponent = \"openai.wasm\"\n[plugins.openai.grants]\n\
         allowed_hosts = [\"http://127.0.0.1:{}\"]\nmax_instances = 256\n\
         [plugins.openai.config]\nbase_url = \"{}\"\nmodels = \"bench-model\"\n",
        upstream.addr.port(),
        upstream.url("/v1")
    );
    let gw = TestGateway::start(&["openai"], &plugins).await;
    gw.add_account_with("openai", json!({"api_key": "sk-bench"}), 1024)
        .await;
    let request = |stream: bool| {
        json!({"model": "bench-model", "stream": stream, "max_tokens": 64,
               "messages": [{"role": "user", "content": "Say something about foxes."}]})
    };

    println!(
        "throughput: {concurrency} concurrent clients, {duration:?} per scenario, upstream latency {UPSTREAM_LATENCY:?}"
    );
    let direct = load(
        upstream.url("/v1/chat/completions"),
        request(false),
        concurrency,
        duration,
    )
    .await;
    row("direct, non-stream", &direct);
    let via = load(
        gw.url("/openai/v1/chat/completions"),
        request(false),
        concurrency,
        duration,
    )
    .await;
    row("gateway (wasm openai), non-stream", &via);
    let direct_s = load(
        upstream.url("/v1/chat/completions"),
        request(true),
        concurrency,
        duration,
    )
    .await;
    row("direct, stream", &direct_s);
    let via_s = load(
        gw.url("/openai/v1/chat/completions"),
        request(true),
        concurrency,
        duration,
    )
    .await;
    row("gateway (wasm openai), stream", &via_s);
    println!(
        "\nnon-stream throughput ratio gateway/direct: {:.2}; added p50 latency {:.2?}, p99 {:.2?}",
        via.rps() / direct.rps(),
        pct(&via.total, 50).saturating_sub(pct(&direct.total, 50)),
        pct(&via.total, 99).saturating_sub(pct(&direct.total, 99)),
    );
    println!(
        "stream throughput ratio gateway/direct: {:.2}; added TTFB p50 {:.2?}, p99 {:.2?}",
        via_s.rps() / direct_s.rps(),
        pct(&via_s.ttfb, 50).saturating_sub(pct(&direct_s.ttfb, 50)),
        pct(&via_s.ttfb, 99).saturating_sub(pct(&direct_s.ttfb, 99)),
    );
}
