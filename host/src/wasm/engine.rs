//! The process-wide wasmtime `Engine` and `Linker`, and the epoch ticker that drives deadlines.

use std::path::Path;
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::PluginError;
use super::bindings::Plugin as Translator;
use super::state::HostState;

/// How often the epoch advances. Each tick lets a running guest yield to the executor and
/// have its CPU budget checked, so it bounds both unfairness and deadline overshoot.
pub(super) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Sizing of the instance pool, derived from the config.
pub(crate) struct EngineLimits {
    pub max_instances: u32,
    /// The largest memory any plugin is granted.
    pub max_memory_bytes: usize,
}

pub(super) fn build_engine(limits: &EngineLimits, cache_dir: &Path) -> Result<Engine, PluginError> {
    let mut config = Config::new();
    // Deadlines: epochs are far cheaper than fuel and let the executor interleave guests.
    config.epoch_interruption(true);
    config.wasm_component_model(true);

    // Compile once per component version; cache artefacts on disk so restarts skip cranelift.
    let mut cache_config = CacheConfig::new();
    cache_config.with_directory(cache_dir);
    match Cache::new(cache_config) {
        Ok(cache) => {
            config.cache(Some(cache));
        }
        Err(e) => tracing::warn!(error = %e, dir = %cache_dir.display(), "compiled-module cache disabled"),
    }

    // Pooling allocator: instantiation reuses pre-reserved slots (and copy-on-write memory
    // images), which is what makes a fresh instance per request cost microseconds.
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(limits.max_instances);
    // A Rust wasip2 component has a handful of core instances/memories/tables of its own.
    pool.total_core_instances(limits.max_instances.saturating_mul(4));
    pool.total_memories(limits.max_instances.saturating_mul(2));
    pool.total_tables(limits.max_instances.saturating_mul(4));
    pool.total_stacks(limits.max_instances);
    pool.max_memory_size(limits.max_memory_bytes);
    // Batch the madvise calls that reset returned slots, instead of one syscall per drop.
    pool.decommit_batch_size(8);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));

    Engine::new(&config).map_err(|e| PluginError::Engine(e.to_string()))
}

pub(super) fn build_linker(engine: &Engine) -> Result<Linker<HostState>, PluginError> {
    let mut linker = Linker::new(engine);
    // WASI gives guests clocks, random and (empty) stdio; the WasiCtx grants no files,
    // no environment and no sockets, so the only way out is our own imports.
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| PluginError::Engine(e.to_string()))?;
    Translator::add_to_linker::<HostState, wasmtime::component::HasSelf<HostState>>(&mut linker, |s| s)
        .map_err(|e| PluginError::Engine(e.to_string()))?;
    Ok(linker)
}

/// Advances the engine's epoch until dropped. Holds only a weak engine reference so it never
/// keeps an engine alive, and joins its thread on drop.
pub(crate) struct EpochTicker {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    pub(super) fn start(engine: &Engine) -> Self {
        let weak = engine.weak();
        let (stop, rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(EPOCH_TICK) {
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .ok();
        EpochTicker {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
