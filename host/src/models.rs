//! Model registry: which channel serves which model id; seeded from plugins, kept in the store.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::store::{ModelEntry, Store, StoreError};
use crate::wasm::PluginRegistry;

/// In-memory snapshot of the store's models, refreshed whenever plugins change.
pub struct ModelRegistry {
    store: Store,
    snapshot: ArcSwap<Vec<ModelEntry>>,
}

impl ModelRegistry {
    pub fn new(store: Store) -> Self {
        ModelRegistry {
            store,
            snapshot: ArcSwap::from_pointee(Vec::new()),
        }
    }

    /// Seeds the models every loaded plugin describes, then reloads the snapshot.
    pub async fn sync(&self, plugins: &PluginRegistry) -> Result<(), StoreError> {
        for p in plugins.list() {
            let entries = p
                .info
                .models
                .iter()
                .map(|m| ModelEntry {
                    id: m.id.clone(),
                    channel: p.name.to_string(),
                    upstream_name: m.upstream_name.clone(),
                    display_name: m.display_name.clone(),
                    kind: m.kind,
                    enabled: true,
                    is_default: m.is_default,
                    version: 0,
                })
                .collect();
            let inserted = self.store.seed_models(entries).await?;
            if inserted > 0 {
                tracing::info!(channel = %p.name, inserted, "seeded models from plugin");
            }
        }
        self.refresh().await
    }

    pub async fn refresh(&self) -> Result<(), StoreError> {
        let mut models = self.store.list_models().await?;
        models.sort_by(|a, b| (&a.channel, &a.id).cmp(&(&b.channel, &b.id)));
        self.snapshot.store(Arc::new(models));
        Ok(())
    }

    /// The enabled model `id`, on `channel` if given, among channels `loaded` says are live.
    pub fn resolve(
        &self,
        channel: Option<&str>,
        id: &str,
        loaded: impl Fn(&str) -> bool,
    ) -> Option<ModelEntry> {
        self.snapshot
            .load()
            .iter()
            .find(|m| m.enabled && m.id == id && channel.is_none_or(|c| c == m.channel) && loaded(&m.channel))
            .cloned()
    }

    /// Enabled models, optionally of one channel, among live channels.
    pub fn list(&self, channel: Option<&str>, loaded: impl Fn(&str) -> bool) -> Vec<ModelEntry> {
        self.snapshot
            .load()
            .iter()
            .filter(|m| m.enabled && channel.is_none_or(|c| c == m.channel) && loaded(&m.channel))
            .cloned()
            .collect()
    }
}
