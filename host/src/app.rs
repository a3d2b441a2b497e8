//! `App`: everything one gateway instance owns, built once from a validated `Config`.

use std::sync::Arc;

use rand::distr::{Alphanumeric, SampleString};
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::keys::KeyPresence;
use crate::metrics::Metrics;
use crate::models::ModelRegistry;
use crate::outbound::Outbound;
use crate::pool::AccountPool;
use crate::store::{Store, StoreError};
use crate::tokens::TokenCounter;
use crate::wasm::{HostServices, PluginError, PluginRegistry, Watcher};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("plugins: {0}")]
    Plugin(#[from] PluginError),
    #[error("outbound client: {0}")]
    Outbound(String),
    #[error("{0}")]
    Other(String),
}

/// Shared state of one gateway; cheap to clone into handlers.
#[derive(Clone)]
pub struct App {
    inner: Arc<AppInner>,
}

struct AppInner {
    config: Config,
    store: Store,
    registry: Arc<PluginRegistry>,
    models: Arc<ModelRegistry>,
    pool: Arc<AccountPool>,
    key_presence: KeyPresence,
    tokens: TokenCounter,
    metrics: Arc<Metrics>,
    /// The admin token in force: configured, or generated for this run when none is.
    admin_token: String,
    admin_token_generated: bool,
    /// Background work (open streams) that graceful shutdown waits for.
    tasks: TaskTracker,
    _watcher: Option<Watcher>,
}

// === impl App ===

impl App {
    /// Opens the store, loads every plugin and starts the hot-reload watcher.
    pub async fn build(config: Config) -> Result<App, StartupError> {
        let store = Store::open(&config.store).await?;
        let metrics = Arc::new(Metrics::new());
        let services = HostServices {
            outbound: Outbound::new().map_err(|e| StartupError::Outbound(e.to_string()))?,
            store: store.clone(),
            metrics: metrics.clone(),
        };
        let registry = Arc::new(PluginRegistry::start(&config, services).await?);
        let models = Arc::new(ModelRegistry::new(store.clone()));
        models.sync(&registry).await?;
        // Keep the model registry in step with hot reloads.
        let mut changes = registry.subscribe();
        let (weak_registry, weak_models) = (Arc::downgrade(&registry), Arc::downgrade(&models));
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let (Some(r), Some(m)) = (weak_registry.upgrade(), weak_models.upgrade()) else {
                    break;
                };
                if let Err(e) = m.sync(&r).await {
                    tracing::error!(error = %e, "model registry sync failed");
                }
            }
        });
        tokio::task::spawn_blocking(TokenCounter::warm_up);
        let watcher = if config.runtime.watch {
            Some(Watcher::start(registry.clone())?)
        } else {
            None
        };
        // Never a default credential: without a configured token, mint one for this run.
        let (admin_token, admin_token_generated) = match &config.admin.token {
            Some(t) => (t.clone(), false),
            None => (Alphanumeric.sample_string(&mut rand::rng(), 32), true),
        };
        let pool = Arc::new(AccountPool::new(config.pool.clone()));
        Ok(App {
            inner: Arc::new(AppInner {
                config,
                store,
                registry,
                models,
                pool,
                key_presence: KeyPresence::default(),
                tokens: TokenCounter::default(),
                metrics,
                admin_token,
                admin_token_generated,
                tasks: TaskTracker::new(),
                _watcher: watcher,
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn plugins(&self) -> &Arc<PluginRegistry> {
        &self.inner.registry
    }

    pub fn models(&self) -> &ModelRegistry {
        &self.inner.models
    }

    pub fn pool(&self) -> &Arc<AccountPool> {
        &self.inner.pool
    }

    pub fn key_presence(&self) -> &KeyPresence {
        &self.inner.key_presence
    }

    pub fn tokens(&self) -> &TokenCounter {
        &self.inner.tokens
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }

    pub fn admin_token(&self) -> &str {
        &self.inner.admin_token
    }

    /// Whether the admin token was generated at startup (and must be shown to the operator).
    pub fn admin_token_generated(&self) -> bool {
        self.inner.admin_token_generated
    }

    /// Tracker for spawned request work; shutdown waits for it to drain.
    pub fn tasks(&self) -> &TaskTracker {
        &self.inner.tasks
    }
}
