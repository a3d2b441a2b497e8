//! Models in Redis: the `models` hash and the `models:seeded` markers.

use std::sync::LazyLock;

use redis::Script;

use super::{MAX_CAS_ATTEMPTS, RedisStore, corrupt, names};
use crate::store::models::model_field;
use crate::store::{ModelEntry, ModelPatch, StoreError};

pub(super) fn decode(json: &str) -> Result<ModelEntry, StoreError> {
    serde_json::from_str(json).map_err(corrupt)
}

impl RedisStore {
    pub(in crate::store) async fn seed_models(&self, models: Vec<ModelEntry>) -> Result<usize, StoreError> {
        let mut entries = Vec::with_capacity(models.len());
        for m in &models {
            entries.push((
                model_field(&m.channel, &m.id),
                serde_json::to_string(m).map_err(corrupt)?,
            ));
        }
        let keys = [names::models(), names::models_seeded()];
        self.call(|mut c| async move {
            let mut inv = SEED_MODELS.prepare_invoke();
            inv.key(&keys[..]);
            for (field, json) in &entries {
                inv.arg(field).arg(json);
            }
            inv.invoke_async(&mut c).await
        })
        .await
    }

    pub(in crate::store) async fn list_models(&self) -> Result<Vec<ModelEntry>, StoreError> {
        let models = names::models();
        let raw: Vec<String> = self
            .call(|mut c| async move { redis::cmd("HVALS").arg(models).query_async(&mut c).await })
            .await?;
        let mut out = raw.iter().map(|j| decode(j)).collect::<Result<Vec<_>, _>>()?;
        // The embedded store lists in key order; keep both backends alike.
        out.sort_by(|a, b| (&a.channel, &a.id).cmp(&(&b.channel, &b.id)));
        Ok(out)
    }

    pub(in crate::store) async fn get_model(&self, field: &str) -> Result<ModelEntry, StoreError> {
        self.get_model_json(field)
            .await?
            .ok_or(StoreError::NotFound)
            .and_then(|json| decode(&json))
    }

    /// Writes only if the field is still absent when the script runs, so two creates of one
    /// model never both succeed.
    pub(in crate::store) async fn create_model(&self, model: ModelEntry) -> Result<ModelEntry, StoreError> {
        let field = model_field(&model.channel, &model.id);
        for _ in 0..MAX_CAS_ATTEMPTS {
            if let Some(old) = self.get_model_json(&field).await? {
                return Err(StoreError::Conflict {
                    current: decode(&old)?.version,
                });
            }
            if self.swap(&field, None, &model).await? {
                return Ok(model);
            }
            // Created meanwhile: read it again.
        }
        Err(too_many_races(&field))
    }

    pub(in crate::store) async fn update_model(
        &self,
        field: &str,
        patch: &ModelPatch,
        expected_version: Option<u64>,
    ) -> Result<ModelEntry, StoreError> {
        for _ in 0..MAX_CAS_ATTEMPTS {
            let old = self.get_model_json(field).await?.ok_or(StoreError::NotFound)?;
            let mut model = decode(&old)?;
            if let Some(expected) = expected_version
                && expected != model.version
            {
                return Err(StoreError::Conflict {
                    current: model.version,
                });
            }
            patch.apply(&mut model);
            model.version += 1;
            if self.swap(field, Some(old), &model).await? {
                return Ok(model);
            }
        }
        Err(too_many_races(field))
    }

    pub(in crate::store) async fn delete_model(&self, field: &str) -> Result<(), StoreError> {
        // One command on one key: atomic without a script. The seeded marker stays.
        let (models, field) = (names::models(), field.to_owned());
        let removed: u64 = self
            .call(|mut c| async move {
                redis::cmd("HDEL")
                    .arg(models)
                    .arg(field)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        if removed == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn get_model_json(&self, field: &str) -> Result<Option<String>, StoreError> {
        let (models, field) = (names::models(), field.to_owned());
        self.call(|mut c| async move {
            redis::cmd("HGET")
                .arg(models)
                .arg(field)
                .query_async(&mut c)
                .await
        })
        .await
    }

    /// Writes `model` (and marks it seeded) if the stored JSON is still `old`; true when it wrote.
    async fn swap(&self, field: &str, old: Option<String>, model: &ModelEntry) -> Result<bool, StoreError> {
        let new = serde_json::to_string(model).map_err(corrupt)?;
        let keys = [names::models(), names::models_seeded()];
        let field = field.to_owned();
        self.call(|mut c| async move {
            SWAP_MODEL
                .key(&keys[..])
                .arg(field)
                .arg(old.unwrap_or_default())
                .arg(new)
                .invoke_async(&mut c)
                .await
        })
        .await
    }
}

fn too_many_races(field: &str) -> StoreError {
    StoreError::Unavailable(format!(
        "model {} changed under each of {MAX_CAS_ATTEMPTS} write attempts",
        field.replace('\0', ":")
    ))
}

scripts! {
    /// KEYS: models, seeded. ARGV: (field, JSON) pairs. Inserts the never-seeded ones; returns
    /// how many.
    SEED_MODELS = r"
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('SADD', KEYS[2], ARGV[i]) == 1 then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    n = n + 1
  end
end
return n
";

    /// KEYS: models, seeded. ARGV: field, the JSON last read ('' = absent; never valid JSON),
    /// the new JSON. Writes and marks the model seeded only if the record is still the one
    /// read; returns 1 when it wrote.
    SWAP_MODEL = r"
if (redis.call('HGET', KEYS[1], ARGV[1]) or '') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
";
}
