//! Tracing setup: `RUST_LOG`-driven filter, ANSI only on a terminal, JSON on request.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

const DEFAULT_FILTER: &str = "gateway_host=info,plugin=info,wasmtime=warn,cranelift_codegen=warn";

/// Installs the global subscriber; `json` switches to one JSON object per line.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if json {
        builder.json().try_init()
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).try_init()
    };
    // A second init (tests) keeps the first subscriber.
    let _ = result;
}
