//! End-to-end tests: the real host, real components, real HTTP over loopback.
#![allow(
    clippy::print_stderr,
    clippy::unwrap_used,
    reason = "tests report figures on stderr and fail loudly"
)]

mod admin;
mod api;
mod hostile;
mod keys;
mod pool;
mod reload;
mod runtime;
mod sdk;
mod ssrf;
mod streams;
