//! Models in the embedded store: records and the "ever seeded" markers, one write transaction each.

use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::EmbeddedStore;
use crate::store::models::model_field;
use crate::store::{ModelEntry, ModelPatch, StoreError};

/// `channel \0 model id` → JSON `ModelEntry`.
const MODELS: TableDefinition<&str, &[u8]> = TableDefinition::new("models");
/// `channel \0 model id` of every model ever seeded or written by an operator, so plugin seeding
/// never overwrites or resurrects an operator's choice.
const SEEDED: TableDefinition<&str, ()> = TableDefinition::new("models_seeded");

pub(super) fn create_tables(tx: &WriteTransaction) -> Result<(), StoreError> {
    tx.open_table(MODELS)?;
    tx.open_table(SEEDED)?;
    Ok(())
}

impl EmbeddedStore {
    pub(in crate::store) fn seed_models(&self, models: Vec<ModelEntry>) -> Result<usize, StoreError> {
        let tx = self.db.begin_write()?;
        let mut inserted = 0;
        {
            let mut table = tx.open_table(MODELS)?;
            let mut seeded = tx.open_table(SEEDED)?;
            for m in models {
                let key = model_field(&m.channel, &m.id);
                if seeded.get(key.as_str())?.is_some() {
                    continue;
                }
                table.insert(key.as_str(), encode(&m)?.as_slice())?;
                seeded.insert(key.as_str(), ())?;
                inserted += 1;
            }
        }
        tx.commit()?;
        Ok(inserted)
    }

    pub(in crate::store) fn list_models(&self) -> Result<Vec<ModelEntry>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(MODELS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (_, v) = entry?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    pub(in crate::store) fn create_model(&self, model: ModelEntry) -> Result<ModelEntry, StoreError> {
        let key = model_field(&model.channel, &model.id);
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(MODELS)?;
            if let Some(v) = table.get(key.as_str())? {
                return Err(StoreError::Conflict {
                    current: decode(v.value())?.version,
                });
            }
            table.insert(key.as_str(), encode(&model)?.as_slice())?;
            tx.open_table(SEEDED)?.insert(key.as_str(), ())?;
        }
        tx.commit()?;
        Ok(model)
    }

    pub(in crate::store) fn get_model(&self, key: &str) -> Result<ModelEntry, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(MODELS)?;
        let v = table.get(key)?.ok_or(StoreError::NotFound)?;
        decode(v.value())
    }

    pub(in crate::store) fn update_model(
        &self,
        key: &str,
        patch: &ModelPatch,
        expected_version: Option<u64>,
    ) -> Result<ModelEntry, StoreError> {
        let tx = self.db.begin_write()?;
        let model = {
            let mut table = tx.open_table(MODELS)?;
            let mut model = match table.get(key)? {
                Some(v) => decode(v.value())?,
                None => return Err(StoreError::NotFound),
            };
            if let Some(expected) = expected_version
                && expected != model.version
            {
                return Err(StoreError::Conflict {
                    current: model.version,
                });
            }
            patch.apply(&mut model);
            model.version += 1;
            table.insert(key, encode(&model)?.as_slice())?;
            model
        };
        tx.commit()?;
        Ok(model)
    }

    pub(in crate::store) fn delete_model(&self, key: &str) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        if tx.open_table(MODELS)?.remove(key)?.is_none() {
            return Err(StoreError::NotFound);
        }
        tx.commit()?;
        Ok(())
    }
}

/// Creates or replaces each model in `tx`, at the stored version plus one, marking it seeded.
pub(super) fn put_all(tx: &WriteTransaction, models: Vec<ModelEntry>) -> Result<Vec<ModelEntry>, StoreError> {
    let mut table = tx.open_table(MODELS)?;
    let mut seeded = tx.open_table(SEEDED)?;
    models
        .into_iter()
        .map(|mut model| {
            let key = model_field(&model.channel, &model.id);
            let previous = match table.get(key.as_str())? {
                Some(v) => decode(v.value())?.version,
                None => 0,
            };
            model.version = previous + 1;
            table.insert(key.as_str(), encode(&model)?.as_slice())?;
            seeded.insert(key.as_str(), ())?;
            Ok(model)
        })
        .collect()
}

fn encode(m: &ModelEntry) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(m).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode(bytes: &[u8]) -> Result<ModelEntry, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}
