//! `PluginRegistry`: the loaded plugin versions, swapped atomically on (re)load.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use serde::Serialize;
use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::Linker;

use super::PluginError;
use super::engine::{EngineLimits, EpochTicker, build_engine, build_linker};
use super::plugin::{LiveConfig, LoadedPlugin};
use super::state::{HostServices, HostState};
use crate::config::{Config, PluginConfig};

type PluginMap = HashMap<String, Arc<LoadedPlugin>>;

/// Every configured plugin and its currently published version.
pub struct PluginRegistry {
    engine: Engine,
    linker: Linker<HostState>,
    configs: BTreeMap<String, PluginConfig>,
    slots: HashMap<String, Arc<Semaphore>>,
    /// Each plugin's live configuration, shared by all its versions.
    live_configs: HashMap<String, LiveConfig>,
    plugins: ArcSwap<PluginMap>,
    services: HostServices,
    /// Bumped on every publish/unpublish, so dependents (the model registry) can resync.
    generation: tokio::sync::watch::Sender<u64>,
    _ticker: EpochTicker,
}

/// What the admin API shows about a loaded plugin.
#[derive(Debug, Clone, Serialize)]
pub struct PluginSummary {
    pub name: String,
    pub version: String,
    pub description: String,
    pub digest: String,
    /// Unix ms.
    pub loaded_at: u64,
    pub component: String,
    pub capabilities: Vec<String>,
    pub models: Vec<String>,
    pub grants: GrantsSummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct GrantsSummary {
    pub allowed_hosts: Vec<String>,
    pub memory_bytes: usize,
    pub cpu_ms_per_call: u128,
    pub timeout_secs: u64,
    pub max_request_bytes: u64,
    pub max_response_bytes: u64,
    pub max_output_bytes: u64,
    pub max_instances: usize,
    pub kv_max_keys: u64,
}

// === impl PluginRegistry ===

impl PluginRegistry {
    /// Builds the engine and loads every configured plugin; any failure stops startup.
    pub(crate) async fn start(config: &Config, services: HostServices) -> Result<Self, PluginError> {
        let limits = EngineLimits {
            max_instances: config.runtime.max_total_instances,
            max_memory_bytes: config
                .plugins
                .values()
                .map(|p| p.grants.memory_bytes)
                .max()
                .unwrap_or(64 << 20),
        };
        std::fs::create_dir_all(&config.runtime.cache_dir).ok();
        let engine = build_engine(&limits, &config.runtime.cache_dir)?;
        let linker = build_linker(&engine)?;
        let ticker = EpochTicker::start(&engine);
        let slots = config
            .plugins
            .iter()
            .map(|(name, p)| (name.clone(), Arc::new(Semaphore::new(p.grants.max_instances))))
            .collect();
        let live_configs = config
            .plugins
            .iter()
            .map(|(name, p)| (name.clone(), Arc::new(ArcSwap::from_pointee(p.config.clone()))))
            .collect();
        let registry = PluginRegistry {
            engine,
            linker,
            configs: config.plugins.clone(),
            slots,
            live_configs,
            plugins: ArcSwap::from_pointee(HashMap::new()),
            services,
            generation: tokio::sync::watch::Sender::new(0),
            _ticker: ticker,
        };
        for name in registry.configs.keys() {
            registry.reload(name).await.map_err(|e| match e {
                PluginError::Invalid(m) => PluginError::Invalid(format!("plugin `{name}`: {m}")),
                other => other,
            })?;
        }
        Ok(registry)
    }

    /// Notifies on every change of the published set.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// The published version of `name`.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        self.plugins.load().get(name).cloned()
    }

    /// Published plugins in name order.
    pub fn list(&self) -> Vec<Arc<LoadedPlugin>> {
        let mut all: Vec<_> = self.plugins.load().values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    pub fn summaries(&self) -> Vec<PluginSummary> {
        self.list().iter().map(|p| summary(p)).collect()
    }

    /// The configured plugin whose component file is `path`.
    pub(super) fn name_for_path(&self, path: &Path) -> Option<String> {
        self.configs
            .values()
            .find(|c| c.component == path || c.component.file_name() == path.file_name())
            .map(|c| c.name.clone())
    }

    /// Compiles and validates the component of `name` off the request path, then publishes it
    /// with one atomic swap. On failure the current version keeps serving.
    pub async fn reload(&self, name: &str) -> Result<(), PluginError> {
        let cfg = self
            .configs
            .get(name)
            .ok_or_else(|| PluginError::NotFound(name.to_owned()))?;
        let slots = self
            .slots
            .get(name)
            .cloned()
            .unwrap_or_else(|| Arc::new(Semaphore::new(1)));
        let live = self
            .live_configs
            .get(name)
            .cloned()
            .unwrap_or_else(|| Arc::new(ArcSwap::from_pointee(cfg.config.clone())));
        let metrics = &self.services.metrics;
        let shared = (slots, live);
        match LoadedPlugin::load(&self.engine, &self.linker, cfg, shared, self.services.clone()).await {
            Ok(plugin) => {
                if self.get(name).is_some_and(|old| old.digest == plugin.digest) {
                    return Ok(()); // same bytes (e.g. a touch): nothing to swap
                }
                tracing::info!(plugin = name, version = %plugin.info.version, digest = %&plugin.digest[..12], "plugin loaded");
                self.plugins.rcu(|map| {
                    let mut map = PluginMap::clone(map);
                    map.insert(name.to_owned(), plugin.clone());
                    map
                });
                metrics.plugin_reloads.with_label_values(&[name, "ok"]).inc();
                self.generation.send_modify(|g| *g += 1);
                Ok(())
            }
            Err(e) => {
                tracing::error!(plugin = name, error = %e, "plugin rejected; previous version keeps serving");
                metrics.plugin_reloads.with_label_values(&[name, "failed"]).inc();
                metrics.plugin_reload_failures.with_label_values(&[name]).inc();
                Err(e)
            }
        }
    }

    /// Replaces the configuration `name` sees through the `config` import, from its next
    /// instance on (requests already running keep the one they started with).
    pub fn set_config(&self, name: &str, config: HashMap<String, String>) {
        if let Some(live) = self.live_configs.get(name) {
            live.store(Arc::new(config));
        }
    }

    /// Unpublishes `name`; requests already running finish on the version they hold.
    pub fn unload(&self, name: &str) {
        let mut removed = false;
        self.plugins.rcu(|map| {
            let mut map = PluginMap::clone(map);
            removed = map.remove(name).is_some();
            map
        });
        if removed {
            tracing::info!(plugin = name, "plugin unloaded (component file removed)");
            self.services
                .metrics
                .plugin_reloads
                .with_label_values(&[name, "removed"])
                .inc();
        }
    }

    pub(crate) fn plugin_dir_paths(&self) -> Vec<std::path::PathBuf> {
        let mut dirs: Vec<_> = self
            .configs
            .values()
            .filter_map(|c| c.component.parent().map(Path::to_path_buf))
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }
}

fn summary(p: &LoadedPlugin) -> PluginSummary {
    let g = &p.grants;
    PluginSummary {
        name: p.name.to_string(),
        version: p.info.version.clone(),
        description: p.info.description.clone(),
        digest: p.digest.clone(),
        loaded_at: p
            .loaded_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        component: p.path.display().to_string(),
        capabilities: p.info.capabilities.clone(),
        models: p.info.models.iter().map(|m| m.id.clone()).collect(),
        grants: GrantsSummary {
            allowed_hosts: g.allowed_hosts.iter().map(|h| h.text.clone()).collect(),
            memory_bytes: g.memory_bytes,
            cpu_ms_per_call: g.cpu_per_call.as_millis(),
            timeout_secs: g.timeout.as_secs(),
            max_request_bytes: g.max_request_bytes,
            max_response_bytes: g.max_response_bytes,
            max_output_bytes: g.max_output_bytes,
            max_instances: g.max_instances,
            kv_max_keys: g.kv_max_keys,
        },
    }
}
