//! `config` import: the operator's per-plugin configuration, secrets already resolved.

use crate::wasm::bindings::gateway::provider::config::Host;
use crate::wasm::state::HostState;

impl Host for HostState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.config.get(&key).cloned())
    }
}
