//! One loaded plugin version (`LoadedPlugin`) and the per-call instances made from it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::{Component, Linker, ResourceAny};
use wasmtime::{Engine, Store, UpdateDeadline};

use super::bindings::{Plugin as Translator, PluginPre as TranslatorPre};
use super::convert;
use super::state::{CallContext, HostServices, HostState};
use super::{PluginError, TrapKind};
use crate::canonical::{AccountCheck, ChatRequest, Event, ModelInfo, PluginInfo, Quota};
use crate::config::{PluginConfig, PluginGrants};

/// How long a request waits for a free instance slot before the plugin counts as busy.
const SLOT_WAIT: Duration = Duration::from_secs(5);
/// Upper bound for the `describe` call that validates a new component.
const DESCRIBE_DEADLINE: Duration = Duration::from_secs(10);

/// A compiled, validated plugin version, ready to instantiate. Requests hold an `Arc` to the
/// version they started on, so a hot swap never disturbs them.
pub struct LoadedPlugin {
    pub name: Arc<str>,
    pub info: PluginInfo,
    /// Hex SHA-256 of the component file.
    pub digest: String,
    pub loaded_at: SystemTime,
    pub path: PathBuf,
    pub grants: Arc<PluginGrants>,
    /// The plugin's configuration, shared by its versions; replaced live by admin config edits.
    config: LiveConfig,
    pre: TranslatorPre<HostState>,
    /// Shared by every version of the same plugin, so `max_instances` holds across swaps.
    slots: Arc<Semaphore>,
    services: HostServices,
}

/// A plugin's operator configuration, swapped as a whole when an admin edit applies.
pub(crate) type LiveConfig = Arc<arc_swap::ArcSwap<HashMap<String, String>>>;

/// The upstream account a call runs under.
pub struct CallAccount<'a> {
    pub id: &'a str,
    pub credentials: &'a serde_json::Map<String, serde_json::Value>,
}

/// One account-scoped export on a fresh instance: instantiate, arm the CPU budget, call, then
/// tell a trap from the plugin's own typed error. A macro because every export is its own
/// method of the generated bindings.
macro_rules! call_with_account {
    ($plugin:expr, $request_id:expr, $account:expr, $export:ident, $convert:path) => {{
        let account: CallAccount<'_> = $account;
        let mut inst = $plugin.instantiate($request_id, Some(account.id)).await?;
        inst.store.data_mut().cpu.start_call();
        let acc = convert::account(account.id, account.credentials);
        let result = inst
            .bindings
            .gateway_provider_translator()
            .$export(&mut inst.store, &acc)
            .await
            .map_err(|e| $plugin.trap_error(&inst.store, e))?;
        result
            .map($convert)
            .map_err(|e| PluginError::Provider(convert::provider_error(e)))
    }};
}

// === impl LoadedPlugin ===

impl LoadedPlugin {
    /// Compiles `cfg.component` (blocking: run off the request path), links it, instantiates it
    /// once and calls `describe` to validate it.
    pub(super) async fn load(
        engine: &Engine,
        linker: &Linker<HostState>,
        cfg: &PluginConfig,
        (slots, config): (Arc<Semaphore>, LiveConfig),
        services: HostServices,
    ) -> Result<Arc<LoadedPlugin>, PluginError> {
        let path = cfg.component.clone();
        let engine2 = engine.clone();
        let (component, digest) = tokio::task::spawn_blocking(move || {
            let bytes = std::fs::read(&path)
                .map_err(|e| PluginError::Invalid(format!("cannot read {}: {e}", path.display())))?;
            let digest = hex::encode(Sha256::digest(&bytes));
            let component = Component::new(&engine2, &bytes)
                .map_err(|e| PluginError::Invalid(format!("not a valid component: {e:#}")))?;
            Ok::<_, PluginError>((component, digest))
        })
        .await
        .map_err(|e| PluginError::Engine(e.to_string()))??;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::Invalid(format!("imports do not match the host: {e:#}")))?;
        let pre = TranslatorPre::new(instance_pre)
            .map_err(|e| PluginError::Invalid(format!("exports do not match the contract: {e:#}")))?;

        let mut plugin = Arc::new(LoadedPlugin {
            name: Arc::from(cfg.name.as_str()),
            info: PluginInfo {
                name: cfg.name.clone(),
                version: String::new(),
                description: String::new(),
                models: Vec::new(),
                capabilities: Vec::new(),
                config_schema_json: String::new(),
            },
            digest,
            loaded_at: SystemTime::now(),
            path: cfg.component.clone(),
            grants: Arc::new(cfg.grants.clone()),
            config,
            pre,
            slots,
            services,
        });
        // `describe` must not do I/O, but a hostile guest could wait on an import forever (import
        // waits are not CPU time): bound validation so a reload can never hang.
        let info = tokio::time::timeout(DESCRIBE_DEADLINE, plugin.describe("load"))
            .await
            .map_err(|_| PluginError::Invalid("describe did not return within 10 s".into()))??;
        if info.name != cfg.name {
            return Err(PluginError::Invalid(format!(
                "component describes itself as `{}` but is configured as `{}`",
                info.name, cfg.name
            )));
        }
        // The validation instance is gone, so this is the only reference.
        Arc::get_mut(&mut plugin)
            .ok_or_else(|| PluginError::Engine("plugin still referenced after validation".into()))?
            .info = info;
        Ok(plugin)
    }

    /// A fresh instance with its own store, memory cap and CPU budget.
    pub(super) async fn instantiate(
        self: &Arc<Self>,
        request_id: &str,
        account_id: Option<&str>,
    ) -> Result<Instance, PluginError> {
        let permit = tokio::time::timeout(SLOT_WAIT, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| PluginError::Busy(self.name.to_string()))?
            .map_err(|_| PluginError::Busy(self.name.to_string()))?;
        let ctx = CallContext {
            plugin: self.name.clone(),
            request_id: Arc::from(request_id),
            account_id: account_id.map(str::to_owned),
        };
        let state = HostState::new(
            self.grants.clone(),
            self.config.load_full(),
            ctx,
            self.services.clone(),
        );
        let mut store = Store::new(self.pre.engine(), state);
        store.limiter(|s| &mut s.limiter);
        // Check the CPU budget on every epoch tick; yield to the executor between ticks so a
        // busy guest never monopolises a worker thread.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            if ctx.data_mut().cpu.check() {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        let metrics = &self.services.metrics;
        metrics
            .plugin_instantiations
            .with_label_values(&[&*self.name])
            .inc();
        let bindings = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| self.trap_error(&store, e))?;
        metrics
            .plugin_instances_active
            .with_label_values(&[&*self.name])
            .inc();
        Ok(Instance {
            store,
            bindings,
            plugin: self.clone(),
            _permit: permit,
        })
    }

    /// Instantiates and immediately drops an instance (benchmarks, warm-up).
    pub async fn instantiate_and_drop(self: &Arc<Self>) -> Result<(), PluginError> {
        self.instantiate("probe", None).await.map(drop)
    }

    /// Calls `describe` on a fresh instance.
    pub async fn describe(self: &Arc<Self>, request_id: &str) -> Result<PluginInfo, PluginError> {
        let mut inst = self.instantiate(request_id, None).await?;
        inst.store.data_mut().cpu.start_call();
        let info = inst
            .bindings
            .gateway_provider_translator()
            .call_describe(&mut inst.store)
            .await
            .map_err(|e| self.trap_error(&inst.store, e))?;
        Ok(convert::plugin_info(info))
    }

    /// Starts a chat under `account`; the stream keeps this version alive until dropped.
    pub async fn chat(
        self: &Arc<Self>,
        request_id: &str,
        account: CallAccount<'_>,
        request: &ChatRequest,
    ) -> Result<ChatStream, PluginError> {
        let mut inst = self.instantiate(request_id, Some(account.id)).await?;
        inst.store.data_mut().cpu.start_call();
        let wit_account = convert::account(account.id, account.credentials);
        let wit_request = convert::chat_request(request);
        let result = inst
            .bindings
            .gateway_provider_translator()
            .call_chat(&mut inst.store, &wit_account, &wit_request)
            .await
            .map_err(|e| self.trap_error(&inst.store, e))?;
        let stream = result.map_err(|e| PluginError::Provider(convert::provider_error(e)))?;
        Ok(ChatStream {
            inst: Some(inst),
            stream,
            output_bytes: 0,
        })
    }

    pub async fn check_account(
        self: &Arc<Self>,
        request_id: &str,
        account: CallAccount<'_>,
    ) -> Result<AccountCheck, PluginError> {
        call_with_account!(
            self,
            request_id,
            account,
            call_check_account,
            convert::account_check
        )
    }

    pub async fn usage(
        self: &Arc<Self>,
        request_id: &str,
        account: CallAccount<'_>,
    ) -> Result<Quota, PluginError> {
        call_with_account!(self, request_id, account, call_usage, convert::quota)
    }

    pub async fn list_models(
        self: &Arc<Self>,
        request_id: &str,
        account: CallAccount<'_>,
    ) -> Result<Vec<ModelInfo>, PluginError> {
        call_with_account!(self, request_id, account, call_list_models, convert::models)
    }

    /// Labels a wasmtime error by what caused it and counts it.
    fn trap_error(&self, store: &Store<HostState>, e: wasmtime::Error) -> PluginError {
        let state = store.data();
        let kind = if state.cpu.exceeded {
            TrapKind::CpuDeadline
        } else if state.limiter.hit {
            TrapKind::Memory
        } else {
            TrapKind::Trap
        };
        let metrics = &self.services.metrics;
        metrics
            .plugin_traps
            .with_label_values(&[&*self.name, kind.label()])
            .inc();
        if kind == TrapKind::CpuDeadline {
            metrics
                .plugin_cpu_deadline_hits
                .with_label_values(&[&*self.name])
                .inc();
        }
        tracing::warn!(plugin = %self.name, request_id = %state.ctx.request_id, kind = kind.label(), error = %format!("{e:#}"), "plugin call failed");
        PluginError::Trap {
            plugin: self.name.to_string(),
            kind,
            message: format!("{e:#}"),
        }
    }
}

/// One live instance: its store, bindings and the slot it occupies.
pub(super) struct Instance {
    store: Store<HostState>,
    bindings: Translator,
    plugin: Arc<LoadedPlugin>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let metrics = &self.plugin.services.metrics;
        metrics
            .plugin_instances_active
            .with_label_values(&[&*self.plugin.name])
            .dec();
    }
}

/// The events of one chat response, pulled batch by batch from the guest's `chat-stream`.
pub struct ChatStream {
    /// `None` once the stream ended or failed: the instance is gone with it.
    inst: Option<Instance>,
    stream: ResourceAny,
    output_bytes: u64,
}

impl ChatStream {
    /// The version this stream runs on.
    pub fn plugin_version(&self) -> Option<&str> {
        self.inst.as_ref().map(|i| i.plugin.info.version.as_str())
    }

    /// The next batch, `Ok(None)` at the end. After an error the stream is finished.
    pub async fn next(&mut self) -> Result<Option<Vec<Event>>, PluginError> {
        let Some(inst) = self.inst.as_mut() else {
            return Ok(None);
        };
        inst.store.data_mut().cpu.start_call();
        let result = inst
            .bindings
            .gateway_provider_translator()
            .chat_stream()
            .call_next(&mut inst.store, self.stream)
            .await;
        let plugin = inst.plugin.clone();
        let batch = match result {
            Err(e) => {
                let err = plugin.trap_error(&inst.store, e);
                self.inst = None;
                return Err(err);
            }
            Ok(Err(e)) => {
                self.inst = None;
                return Err(PluginError::Provider(convert::provider_error(e)));
            }
            Ok(Ok(None)) => {
                self.inst = None;
                return Ok(None);
            }
            Ok(Ok(Some(batch))) => batch,
        };
        let events: Vec<Event> = batch.into_iter().map(convert::event).collect();
        self.output_bytes += events.iter().map(|e| e.payload_len() as u64).sum::<u64>();
        if self.output_bytes > plugin.grants.max_output_bytes {
            self.inst = None;
            plugin
                .services
                .metrics
                .plugin_traps
                .with_label_values(&[&*plugin.name, "output_limit"])
                .inc();
            return Err(PluginError::OutputLimit(plugin.grants.max_output_bytes));
        }
        Ok(Some(events))
    }
}
