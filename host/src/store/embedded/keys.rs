//! API keys in the embedded store: records, the hash index, usage counters and rate windows.

use std::sync::atomic::Ordering;

use redb::{Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::{EmbeddedStore, now_ms};
use crate::keys::{ApiKey, KeyPatch, KeyUsage};
use crate::store::StoreError;

/// key id → JSON `ApiKey`.
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("api_keys");
/// Hex SHA-256 of a key → its id, written in the same transactions as `KEYS`.
const KEY_HASHES: TableDefinition<&str, &str> = TableDefinition::new("api_key_hashes");
/// key id → (requests, last use in Unix ms); apart from the record, so edits never reset it.
const KEY_USAGE: TableDefinition<&str, (u64, Option<u64>)> = TableDefinition::new("api_key_usage");
/// `bucket \0 window start` (20 digits, so keys sort by time) → (hits, window end in Unix ms).
const RATE: TableDefinition<&str, (u64, u64)> = TableDefinition::new("rate_windows");

/// Counter writes commit durably at most this often (see `write_counters`).
const COUNTER_SYNC_MS: u64 = 1_000;
/// Ended rate windows are purged at most this often, by whichever hit comes next.
const RATE_SWEEP_MS: u64 = 60_000;

pub(super) fn create_tables(tx: &WriteTransaction) -> Result<(), StoreError> {
    tx.open_table(KEYS)?;
    tx.open_table(KEY_HASHES)?;
    tx.open_table(KEY_USAGE)?;
    tx.open_table(RATE)?;
    Ok(())
}

impl EmbeddedStore {
    pub(in crate::store) fn create_key(&self, mut key: ApiKey) -> Result<ApiKey, StoreError> {
        key.version = 1;
        let tx = self.db.begin_write()?;
        {
            let mut keys = tx.open_table(KEYS)?;
            let mut hashes = tx.open_table(KEY_HASHES)?;
            let id_taken = keys.get(key.id.as_str())?.is_some();
            if id_taken || hashes.get(key.hash.as_str())?.is_some() {
                return Err(StoreError::Conflict { current: 0 });
            }
            keys.insert(key.id.as_str(), encode(&key)?.as_slice())?;
            hashes.insert(key.hash.as_str(), key.id.as_str())?;
        }
        tx.commit()?;
        Ok(key)
    }

    /// Every key, in id order (`Store::list_keys` sorts).
    pub(in crate::store) fn list_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(KEYS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (_, v) = entry?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    pub(in crate::store) fn get_key(&self, id: &str) -> Result<ApiKey, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(KEYS)?;
        let v = table.get(id)?.ok_or(StoreError::NotFound)?;
        decode(v.value())
    }

    pub(in crate::store) fn find_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let tx = self.db.begin_read()?;
        let hashes = tx.open_table(KEY_HASHES)?;
        let Some(id) = hashes.get(hash)? else {
            return Ok(None);
        };
        let keys = tx.open_table(KEYS)?;
        let v = keys
            .get(id.value())?
            .ok_or_else(|| StoreError::Corrupt(format!("hash index names missing key {}", id.value())))?;
        decode(v.value()).map(Some)
    }

    pub(in crate::store) fn update_key(
        &self,
        id: &str,
        patch: &KeyPatch,
        expected_version: Option<u64>,
    ) -> Result<ApiKey, StoreError> {
        let tx = self.db.begin_write()?;
        let key = {
            let mut keys = tx.open_table(KEYS)?;
            let mut key = match keys.get(id)? {
                Some(v) => decode(v.value())?,
                None => return Err(StoreError::NotFound),
            };
            if let Some(expected) = expected_version
                && expected != key.version
            {
                return Err(StoreError::Conflict { current: key.version });
            }
            // A patch never touches the hash, so the index stays valid.
            patch.apply(&mut key);
            key.version += 1;
            keys.insert(id, encode(&key)?.as_slice())?;
            key
        };
        tx.commit()?;
        Ok(key)
    }

    pub(in crate::store) fn delete_key(&self, id: &str) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut keys = tx.open_table(KEYS)?;
            let key = match keys.remove(id)? {
                Some(v) => decode(v.value())?,
                None => return Err(StoreError::NotFound),
            };
            tx.open_table(KEY_HASHES)?.remove(key.hash.as_str())?;
            tx.open_table(KEY_USAGE)?.remove(id)?;
        }
        tx.commit()?;
        Ok(())
    }

    pub(in crate::store) fn has_keys(&self) -> Result<bool, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(KEYS)?;
        Ok(table.first()?.is_some())
    }

    pub(in crate::store) fn record_key_use(&self, id: &str, now_ms: u64) -> Result<(), StoreError> {
        self.write_counters(|tx, _| {
            // Checked in the same transaction, so a use racing a delete cannot revive the usage.
            let keys = tx.open_table(KEYS)?;
            if keys.get(id)?.is_none() {
                return Err(StoreError::NotFound);
            }
            let mut usage = tx.open_table(KEY_USAGE)?;
            let requests = usage.get(id)?.map_or(0, |u| u.value().0);
            usage.insert(id, (requests + 1, Some(now_ms)))?;
            Ok(())
        })
    }

    pub(in crate::store) fn key_usage(&self, id: &str) -> Result<KeyUsage, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(KEY_USAGE)?;
        Ok(table.get(id)?.map_or_else(KeyUsage::default, |u| {
            let (requests, last_used_ms) = u.value();
            KeyUsage {
                requests,
                last_used_ms,
            }
        }))
    }

    pub(in crate::store) fn rate_hit(&self, bucket: &str, window_ms: u64) -> Result<u64, StoreError> {
        self.write_counters(|tx, now| {
            let start = now - now % window_ms;
            let key = format!("{bucket}\0{start:020}");
            let mut table = tx.open_table(RATE)?;
            let hits = table.get(key.as_str())?.map_or(0, |v| v.value().0) + 1;
            table.insert(key.as_str(), (hits, start + window_ms))?;
            // Only writers touch the sweep time and redb runs one writer at a time.
            if now.saturating_sub(self.rate_swept_ms.load(Ordering::Relaxed)) >= RATE_SWEEP_MS {
                self.rate_swept_ms.store(now, Ordering::Relaxed);
                table.retain(|_, (_, end)| end > now)?;
            }
            Ok(hits)
        })
    }

    /// Hits counted so far in the current `window_ms` window of `bucket` (without counting one).
    pub(in crate::store) fn rate_count(&self, bucket: &str, window_ms: u64) -> Result<u64, StoreError> {
        let now = now_ms();
        let start = now - now % window_ms;
        let tx = self.db.begin_read()?;
        let table = tx.open_table(RATE)?;
        Ok(table
            .get(format!("{bucket}\0{start:020}").as_str())?
            .map_or(0, |v| v.value().0))
    }

    /// Runs `f` in a write transaction for per-request counters, with the time read once the
    /// transaction holds redb's write lock. Such writes come with every request and an fsync
    /// each would cap throughput, so they commit without one except at most once per
    /// `COUNTER_SYNC_MS`. A crash loses the counts written since the last durable commit (about
    /// a second's worth; closing the database commits durably), and the periodic durable commit
    /// also lets redb release the pages that non-durable commits replaced (it cannot before one).
    /// Atomicity and isolation are the same either way.
    fn write_counters<T>(
        &self,
        f: impl FnOnce(&WriteTransaction, u64) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut tx = self.db.begin_write()?;
        let now = now_ms();
        let durable = now.saturating_sub(self.counters_synced_ms.load(Ordering::Relaxed)) >= COUNTER_SYNC_MS;
        if !durable {
            tx.set_durability(Durability::None)?;
        }
        let out = f(&tx, now)?;
        tx.commit()?;
        if durable {
            // After the write lock is released another writer may also pick a durable commit:
            // an extra fsync, never a lost one.
            self.counters_synced_ms.fetch_max(now, Ordering::Relaxed);
        }
        Ok(out)
    }
}

/// Creates or replaces each key in `tx`, at the stored version plus one, moving its hash index
/// entry; `Conflict { current: 0 }` when another key holds its hash (the caller then drops `tx`).
/// Usage counters live apart and stay.
pub(super) fn put_all(tx: &WriteTransaction, keys: Vec<ApiKey>) -> Result<Vec<ApiKey>, StoreError> {
    let mut records = tx.open_table(KEYS)?;
    let mut hashes = tx.open_table(KEY_HASHES)?;
    keys.into_iter()
        .map(|mut key| {
            let owner = hashes.get(key.hash.as_str())?.map(|v| v.value().to_owned());
            if owner.is_some_and(|owner| owner != key.id) {
                return Err(StoreError::Conflict { current: 0 });
            }
            let previous = match records.get(key.id.as_str())? {
                Some(v) => Some(decode(v.value())?),
                None => None,
            };
            if let Some(old) = &previous
                && old.hash != key.hash
            {
                hashes.remove(old.hash.as_str())?;
            }
            key.version = previous.map_or(0, |k| k.version) + 1;
            records.insert(key.id.as_str(), encode(&key)?.as_slice())?;
            hashes.insert(key.hash.as_str(), key.id.as_str())?;
            Ok(key)
        })
        .collect()
}

fn encode(key: &ApiKey) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(key).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode(bytes: &[u8]) -> Result<ApiKey, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use redb::{ReadableDatabase, ReadableTableMetadata};

    use super::{EmbeddedStore, RATE};

    fn rate_windows(store: &EmbeddedStore) -> u64 {
        let tx = store.db.begin_read().unwrap();
        tx.open_table(RATE).unwrap().len().unwrap()
    }

    #[test]
    fn ended_rate_windows_are_swept_at_most_once_a_minute() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store.rate_hit("short", 20).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        store.rate_hit("long", 60_000).unwrap();
        assert_eq!(
            rate_windows(&store),
            2,
            "the first hit swept; the next sweep is a minute away"
        );
        store.rate_swept_ms.store(0, Ordering::Relaxed); // as if a minute had passed
        assert_eq!(store.rate_hit("long", 60_000).unwrap(), 2);
        assert_eq!(
            rate_windows(&store),
            1,
            "the ended window is gone, the live one kept"
        );
    }

    #[test]
    fn counters_committed_without_fsync_survive_a_clean_close() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store
            .create_key(crate::store::tests::keys::api_key("a", 1))
            .unwrap();
        // The first counter write is durable; those within the next second are not.
        for now in 1..=10 {
            store.record_key_use("a", now).unwrap();
        }
        drop(store);
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let usage = store.key_usage("a").unwrap();
        assert_eq!((usage.requests, usage.last_used_ms), (10, Some(10)));
    }
}
