//! WebAssembly-extensible AI gateway: the native host.
//!
//! Start at [`app::App::build`] (wiring), [`routes::router`] (HTTP surface) and
//! [`wasm::PluginRegistry`] (the plugin runtime). `ARCHITECTURE.md` has the map.

pub mod admin_auth;
pub mod api;
pub mod app;
pub mod canonical;
pub mod config;
pub mod error;
pub mod keys;
pub mod live;
pub mod metrics;
pub mod models;
pub mod outbound;
pub mod pool;
pub mod routes;
pub mod server;
pub mod store;
pub mod telemetry;
#[cfg(any(test, feature = "test-support"))]
pub mod test_redis;
pub mod tokens;
pub mod wasm;

pub use app::App;
pub use config::Config;
pub use server::Server;
