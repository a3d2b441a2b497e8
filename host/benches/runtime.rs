//! Runtime benchmarks (figures, not pass/fail): fresh instance, one export call, and a 10 KiB
//! canonical request round trip through the dummy plugin versus the same translation natively.
//!
//! Run with `make bench` (needs `make plugins`). Prints one table; compare ratios within a run.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    reason = "a benchmark binary reports on stdout"
)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway_host::canonical::{ChatRequest, ClientApi, ContentPart, Message, Role};
use gateway_host::wasm::{CallAccount, LoadedPlugin};
use gateway_host::{App, Config};

/// Runs `op` for at least `budget`, returns (mean, p50, p99) per iteration.
async fn measure<F, Fut>(budget: Duration, mut op: F) -> (Duration, Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..50 {
        op().await; // warm-up: caches, pool slots, branch predictors
    }
    let mut samples = Vec::new();
    let started = Instant::now();
    while started.elapsed() < budget || samples.len() < 100 {
        let t = Instant::now();
        op().await;
        samples.push(t.elapsed());
    }
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    (
        mean,
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    )
}

fn request_10k() -> ChatRequest {
    let words: Vec<String> = (0..1800).map(|i| format!("w{i:04}")).collect();
    let text = words.join(" ");
    assert!(text.len() >= 10 * 1024);
    ChatRequest {
        model: "echo".into(),
        upstream_model: "echo".into(),
        client_api: ClientApi::ClaudeMessages,
        system: vec!["You are a benchmark.".into()],
        messages: vec![Message {
            role: Role::User,
            content: vec![ContentPart::Text(text)],
        }],
        tools: vec![],
        tool_choice: None,
        parallel_tool_calls: None,
        max_tokens: Some(1024),
        temperature: None,
        top_p: None,
        top_k: None,
        stop_sequences: vec![],
        thinking_budget: None,
        reasoning_effort: None,
        response_format_json: None,
        metadata_json: None,
        stream: false,
        extra_json: "{}".into(),
    }
}

async fn round_trip(
    plugin: &Arc<LoadedPlugin>,
    req: &ChatRequest,
    creds: &serde_json::Map<String, serde_json::Value>,
) -> usize {
    let account = CallAccount {
        id: "bench",
        credentials: creds,
    };
    let mut stream = plugin.chat("bench", account, req).await.unwrap();
    let mut events = 0;
    while let Some(batch) = stream.next().await.unwrap() {
        events += batch.len();
    }
    events
}

fn row(name: &str, (mean, p50, p99): (Duration, Duration, Duration)) {
    println!(
        "{name:<44} mean {:>10.2?}  p50 {:>10.2?}  p99 {:>10.2?}",
        mean, p50, p99
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let wasm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins/dummy.wasm");
    assert!(wasm.is_file(), "{} missing: run `make plugins`", wasm.display());
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[store]\ndata_dir = \"data\"\n[runtime]\nwatch = false\nmax_total_instances = 16\n\
         [plugins.dummy]\ncomponent = \"{}\"\n",
        wasm.display()
    );
    let config = Config::parse(&text, dir.path(), &Default::default()).unwrap();
    let app = App::build(config).await.unwrap();
    let plugin = app.plugins().get("dummy").unwrap();
    // `cargo bench` passes `--bench`; under `cargo test --all-targets` this is a quick smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let budget = if full {
        Duration::from_secs(2)
    } else {
        Duration::from_millis(20)
    };
    let creds = serde_json::Map::new();
    let req = request_10k();

    println!("runtime benchmarks (one run; compare ratios)");
    let inst = measure(budget, || async { plugin.instantiate_and_drop().await.unwrap() }).await;
    row("fresh instance (instantiate + drop)", inst);
    let describe = measure(budget, || async {
        plugin.describe("bench").await.unwrap();
    })
    .await;
    row("instance + one export call (describe)", describe);
    let wasm_rt = measure(budget, || async {
        round_trip(&plugin, &req, &creds).await;
    })
    .await;
    row("10 KiB request round trip, WASM (echo)", wasm_rt);
    let native_rt = measure(budget, || async {
        std::hint::black_box(plugin_dummy::native::echo_round_trip(std::hint::black_box(
            &req_text(&req),
        )));
    })
    .await;
    row("10 KiB request round trip, native (echo)", native_rt);
    let events = round_trip(&plugin, &req, &creds).await;
    println!(
        "\nexport call over instantiation: {:.2} µs; WASM/native round trip: {:.2}x ({} events)",
        describe.0.saturating_sub(inst.0).as_secs_f64() * 1e6,
        wasm_rt.0.as_secs_f64() / native_rt.0.as_secs_f64(),
        events
    );
}

fn req_text(req: &ChatRequest) -> String {
    match &req.messages[0].content[0] {
        ContentPart::Text(t) => t.clone(),
        _ => String::new(),
    }
}
