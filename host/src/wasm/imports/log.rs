//! `log` import: guest log lines into the gateway's tracing output, tagged and bounded.

use crate::wasm::bindings::gateway::provider::log::{Host, Level};
use crate::wasm::state::HostState;

/// Longer guest messages are truncated so a plugin cannot flood the log with one call.
const MAX_MESSAGE_BYTES: usize = 4 * 1024;

impl Host for HostState {
    async fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        let mut message = message;
        if message.len() > MAX_MESSAGE_BYTES {
            let mut cut = MAX_MESSAGE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let plugin = &*self.ctx.plugin;
        let request_id = &*self.ctx.request_id;
        match level {
            Level::Trace => tracing::trace!(target: "plugin", plugin, request_id, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", plugin, request_id, "{message}"),
            Level::Info => tracing::info!(target: "plugin", plugin, request_id, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", plugin, request_id, "{message}"),
            Level::Error => tracing::error!(target: "plugin", plugin, request_id, "{message}"),
        }
        Ok(())
    }
}
