//! Models in the store: plugin seeding, operator CRUD with versions, the "ever seeded" markers.

use serde::{Deserialize, Serialize};

use super::{Store, StoreError, default_true};
use crate::canonical::ModelKind;

/// One client-facing model of a channel; unique per (channel, id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    pub id: String,
    pub channel: String,
    pub upstream_name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    pub kind: ModelKind,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub is_default: bool,
    /// Bumped on every write; admin edits compare it to reject stale copies.
    #[serde(default)]
    pub version: u64,
}

/// A partial model edit: only the fields that are `Some` change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPatch {
    pub upstream_name: Option<String>,
    /// `Some(None)` (JSON `null`) removes the display name.
    #[serde(default, with = "double_option")]
    pub display_name: Option<Option<String>>,
    pub kind: Option<ModelKind>,
    pub enabled: Option<bool>,
    pub is_default: Option<bool>,
}

impl ModelPatch {
    /// Applies the `Some` fields to `model`; the store owns the version and bumps it itself.
    pub fn apply(&self, model: &mut ModelEntry) {
        if let Some(upstream) = &self.upstream_name {
            model.upstream_name.clone_from(upstream);
        }
        if let Some(display) = &self.display_name {
            model.display_name.clone_from(display);
        }
        if let Some(kind) = self.kind {
            model.kind = kind;
        }
        if let Some(enabled) = self.enabled {
            model.enabled = enabled;
        }
        if let Some(is_default) = self.is_default {
            model.is_default = is_default;
        }
    }
}

/// Distinguishes an absent field (leave as is) from `null` (clear it).
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<Option<String>>, s: S) -> Result<S::Ok, S::Error> {
        v.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

/// The key both backends store a model under: `channel \0 id` (channel names never hold `\0`).
pub(super) fn model_field(channel: &str, id: &str) -> String {
    format!("{channel}\0{id}")
}

impl Store {
    /// Inserts each model that was never seeded (nor written by an operator) before, at
    /// version 1, so a model an operator deleted or edited stays as they left it; returns how
    /// many were inserted.
    pub async fn seed_models(&self, mut models: Vec<ModelEntry>) -> Result<usize, StoreError> {
        models.iter_mut().for_each(|m| m.version = 1);
        match self {
            Store::Embedded(s) => s.clone().blocking(move |s| s.seed_models(models)).await,
            Store::Redis(s) => s.seed_models(models).await,
        }
    }

    /// Every model, ordered by channel then id.
    pub async fn list_models(&self) -> Result<Vec<ModelEntry>, StoreError> {
        match self {
            Store::Embedded(s) => s.clone().blocking(|s| s.list_models()).await,
            Store::Redis(s) => s.list_models().await,
        }
    }

    /// Creates a model at version 1 when no such model exists, else `Conflict { current }`
    /// with the stored version and nothing changes. The model counts as seeded from then on.
    pub async fn create_model(&self, mut model: ModelEntry) -> Result<ModelEntry, StoreError> {
        model.version = 1;
        match self {
            Store::Embedded(s) => s.clone().blocking(move |s| s.create_model(model)).await,
            Store::Redis(s) => s.create_model(model).await,
        }
    }

    pub async fn get_model(&self, channel: &str, id: &str) -> Result<ModelEntry, StoreError> {
        match self {
            Store::Embedded(s) => {
                let field = model_field(channel, id);
                s.clone().blocking(move |s| s.get_model(&field)).await
            }
            Store::Redis(s) => s.get_model(&model_field(channel, id)).await,
        }
    }

    /// Applies the `Some` fields of `patch` atomically and bumps the version. With
    /// `expected_version`, a stored version that differs fails with `Conflict` and changes nothing.
    pub async fn update_model(
        &self,
        channel: &str,
        id: &str,
        patch: ModelPatch,
        expected_version: Option<u64>,
    ) -> Result<ModelEntry, StoreError> {
        let field = model_field(channel, id);
        match self {
            Store::Embedded(s) => {
                s.clone()
                    .blocking(move |s| s.update_model(&field, &patch, expected_version))
                    .await
            }
            Store::Redis(s) => s.update_model(&field, &patch, expected_version).await,
        }
    }

    /// Removes a model; `NotFound` when there is none. It stays marked as seeded, so the plugin
    /// that describes it does not bring it back.
    pub async fn delete_model(&self, channel: &str, id: &str) -> Result<(), StoreError> {
        let field = model_field(channel, id);
        match self {
            Store::Embedded(s) => s.clone().blocking(move |s| s.delete_model(&field)).await,
            Store::Redis(s) => s.delete_model(&field).await,
        }
    }
}
