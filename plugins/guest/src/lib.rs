//! Rust guest SDK for gateway translator plugins: one copy of the WIT bindings, the host imports
//! as small traits (real over WIT, faked in tests), the typed errors, canonical events and SSE.
//!
//! A plugin implements `bindings::exports::gateway::provider::translator::Guest`, calls
//! `gateway_guest::bindings::export!(Plugin)` (on `wasm32` only), and keeps its logic generic
//! over the traits in [`host`] so it runs natively in unit tests against a fake host.

pub mod error;
pub mod events;
pub mod host;
pub mod sse;
mod wit_host;

pub use error::{KvError, NetError, ProviderError};
pub use events::{Event, StopReason, Usage};
pub use wit_host::{WitBody, WitHost, WitSocket};

/// The generated bindings of world `gateway:provider/plugin`, shared by every Rust plugin.
// The generated code is unsafe FFI glue and not written to our lint set, so the lints are
// relaxed for this module only.
#[allow(unsafe_code, unreachable_pub, clippy::unwrap_used, missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "plugin",
        pub_export_macro: true,
        default_bindings_module: "gateway_guest::bindings",
    });
}
