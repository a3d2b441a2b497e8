//! Per-request store data (`HostState`): WASI context, resource table, limits and call context.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::config::PluginGrants;
use crate::metrics::Metrics;
use crate::outbound::Outbound;
use crate::store::Store;

/// Upper bound on live resources (bodies, sockets, streams) in one store, so a guest cannot
/// grow the host-side table without limit.
const MAX_TABLE_ENTRIES: usize = 1_024;

/// What the host knows about the call a store serves.
#[derive(Clone)]
pub(crate) struct CallContext {
    pub plugin: Arc<str>,
    pub request_id: Arc<str>,
    /// The leased account, if the call has one.
    pub account_id: Option<String>,
}

/// Shared host services the imports use.
#[derive(Clone)]
pub(crate) struct HostServices {
    pub outbound: Outbound,
    pub store: Store,
    pub metrics: Arc<Metrics>,
}

pub(crate) struct HostState {
    wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: MemoryLimiter,
    pub grants: Arc<PluginGrants>,
    pub config: Arc<HashMap<String, String>>,
    pub ctx: CallContext,
    pub services: HostServices,
    pub cpu: CpuMeter,
    /// Outbound connections (HTTP bodies in flight, WebSockets) currently open.
    pub open_connections: usize,
}

impl HostState {
    pub(crate) fn new(
        grants: Arc<PluginGrants>,
        config: Arc<HashMap<String, String>>,
        ctx: CallContext,
        services: HostServices,
    ) -> Self {
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_TABLE_ENTRIES);
        HostState {
            // No preopens, no env, no args, no inherited stdio, no sockets (denied by default).
            wasi: WasiCtx::builder().build(),
            table,
            limiter: MemoryLimiter::new(grants.memory_bytes),
            cpu: CpuMeter::new(grants.cpu_per_call),
            grants,
            config,
            ctx,
            services,
            open_connections: 0,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps linear memory and table growth, and remembers that it refused so a later trap can be
/// reported as a memory-cap hit rather than a generic trap.
pub(crate) struct MemoryLimiter {
    max_memory: usize,
    pub hit: bool,
}

impl MemoryLimiter {
    fn new(max_memory: usize) -> Self {
        MemoryLimiter {
            max_memory,
            hit: false,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// CPU budget of one export call: wall time since the call started minus time spent awaiting
/// host I/O inside imports. Checked on every epoch tick while the guest runs.
pub(crate) struct CpuMeter {
    budget: Duration,
    call_started: Instant,
    io: Duration,
    pub exceeded: bool,
}

impl CpuMeter {
    fn new(budget: Duration) -> Self {
        CpuMeter {
            budget,
            call_started: Instant::now(),
            io: Duration::ZERO,
            exceeded: false,
        }
    }

    /// Starts the budget of a new export call.
    pub(crate) fn start_call(&mut self) {
        self.call_started = Instant::now();
        self.io = Duration::ZERO;
    }

    pub(crate) fn add_io(&mut self, waited: Duration) {
        self.io += waited;
    }

    pub(crate) fn used(&self) -> Duration {
        self.call_started.elapsed().saturating_sub(self.io)
    }

    /// Whether the budget is spent; remembers it so the resulting trap is labelled.
    pub(crate) fn check(&mut self) -> bool {
        if self.used() > self.budget {
            self.exceeded = true;
        }
        self.exceeded
    }
}
