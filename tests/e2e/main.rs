//! End-to-end tests: the real host, real components, real HTTP over loopback.
#![allow(
    clippy::print_stderr,
    clippy::unwrap_used,
    reason = "tests report figures on stderr and fail loudly"
)]

mod admin;
mod admin_auth;
mod api;
mod cluster;
mod hostile;
mod keys;
mod models;
mod operations;
mod outage;
mod pool;
mod reload;
mod runtime;
mod sdk;
mod ssrf;
mod streams;
mod transfer;
