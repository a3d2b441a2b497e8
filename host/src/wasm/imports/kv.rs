//! `kv` import: a per-plugin namespace in the gateway store, bounded by the plugin's grants.

use std::time::{Duration, Instant};

use crate::store::{KvQuota, StoreError, kv_namespace};
use crate::wasm::bindings::gateway::provider::kv::{Host, KvError};
use crate::wasm::state::HostState;

/// Longest key a plugin may use; keys are namespaced, so this only bounds storage per entry.
const MAX_KEY_BYTES: usize = 512;

impl Host for HostState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, KvError>> {
        let ns = kv_namespace(&self.ctx.plugin);
        let started = Instant::now();
        let result = self.services.store.kv_get(&ns, &key).await;
        self.cpu.add_io(started.elapsed());
        Ok(result.map_err(|e| self.kv_error(e)))
    }

    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_ms: Option<u64>,
    ) -> wasmtime::Result<Result<(), KvError>> {
        if key.len() > MAX_KEY_BYTES {
            return Ok(Err(self.kv_error(StoreError::QuotaExceeded(format!(
                "key longer than {MAX_KEY_BYTES} bytes"
            )))));
        }
        let ns = kv_namespace(&self.ctx.plugin);
        let quota = KvQuota {
            max_keys: self.grants.kv_max_keys,
            max_value_bytes: self.grants.kv_max_value_bytes,
        };
        let started = Instant::now();
        let result = self
            .services
            .store
            .kv_set(&ns, &key, value, ttl_ms.map(Duration::from_millis), quota)
            .await;
        self.cpu.add_io(started.elapsed());
        Ok(result.map_err(|e| self.kv_error(e)))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), KvError>> {
        let ns = kv_namespace(&self.ctx.plugin);
        let started = Instant::now();
        let result = self.services.store.kv_delete(&ns, &key).await;
        self.cpu.add_io(started.elapsed());
        Ok(result.map_err(|e| self.kv_error(e)))
    }
}

impl HostState {
    fn kv_error(&self, e: StoreError) -> KvError {
        match e {
            StoreError::QuotaExceeded(m) => {
                self.services
                    .metrics
                    .kv_denied
                    .with_label_values(&[&*self.ctx.plugin])
                    .inc();
                KvError::QuotaExceeded(m)
            }
            other => KvError::Unavailable(other.to_string()),
        }
    }
}
