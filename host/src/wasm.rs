//! The plugin runtime: the only module that names `wasmtime`. Re-exports what the host needs.

mod bindings;
mod convert;
mod engine;
pub(crate) mod imports;
mod plugin;
mod registry;
mod reload;
mod state;

pub use plugin::{CallAccount, ChatStream, LoadedPlugin};
pub use registry::{PluginRegistry, PluginSummary};
pub use reload::Watcher;
pub(crate) use state::HostServices;

use crate::canonical::ProviderError;

/// Errors at the runtime boundary.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("no plugin serves channel `{0}`")]
    NotFound(String),
    #[error("plugin `{0}` has no free instance slot")]
    Busy(String),
    #[error("plugin `{plugin}` failed ({}): {message}", kind.label())]
    Trap {
        plugin: String,
        kind: TrapKind,
        message: String,
    },
    #[error("plugin output exceeded its {0}-byte cap")]
    OutputLimit(u64),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("invalid component: {0}")]
    Invalid(String),
    #[error("wasm engine: {0}")]
    Engine(String),
}

/// Why a guest call ended abnormally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrapKind {
    /// The guest trapped (panic, unreachable, out-of-bounds access).
    Trap,
    /// The call used up its CPU budget.
    CpuDeadline,
    /// The guest hit its memory cap (and then trapped).
    Memory,
}

impl TrapKind {
    pub fn label(self) -> &'static str {
        match self {
            TrapKind::Trap => "trap",
            TrapKind::CpuDeadline => "cpu_deadline",
            TrapKind::Memory => "memory",
        }
    }
}
