//! `credentials` import: field-wise persistence of the leased account's refreshed credentials.

use std::time::Instant;

use crate::wasm::bindings::gateway::provider::credentials::Host;
use crate::wasm::state::HostState;

/// Bound on one patch, so a guest cannot bloat account records.
const MAX_PATCH_BYTES: usize = 64 * 1024;

impl Host for HostState {
    async fn update(&mut self, patch_json: String) -> wasmtime::Result<Result<(), String>> {
        let Some(account) = self.ctx.account_id.clone() else {
            return Ok(Err("this call has no account".into()));
        };
        if patch_json.len() > MAX_PATCH_BYTES {
            return Ok(Err(format!("patch larger than {MAX_PATCH_BYTES} bytes")));
        }
        let patch = match serde_json::from_str::<serde_json::Value>(&patch_json) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(_) => return Ok(Err("patch must be a JSON object".into())),
            Err(e) => return Ok(Err(format!("patch is not JSON: {e}"))),
        };
        let started = Instant::now();
        // The store refuses (atomically, storing nothing) a merge that would take the account's
        // credentials past `MAX_CREDENTIALS_BYTES`; the guest gets that error as text.
        let result = self.services.store.merge_credentials(&account, patch).await;
        self.cpu.add_io(started.elapsed());
        Ok(result.map(|_| ()).map_err(|e| e.to_string()))
    }
}
