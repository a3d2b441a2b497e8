//! Settings (admin password hash, runtime config) and admin sessions in the embedded store.

use redb::{ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};

use super::{EmbeddedStore, now_ms};
use crate::store::StoreError;

/// setting name → value.
const SETTINGS: TableDefinition<&str, &str> = TableDefinition::new("settings");
/// hex SHA-256 of a session token → expiry (Unix ms).
const SESSIONS: TableDefinition<&str, u64> = TableDefinition::new("admin_sessions");

pub(super) fn create_tables(tx: &WriteTransaction) -> Result<(), StoreError> {
    tx.open_table(SETTINGS)?;
    tx.open_table(SESSIONS)?;
    Ok(())
}

impl EmbeddedStore {
    pub(in crate::store) fn setting_get(&self, name: &str) -> Result<Option<String>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(SETTINGS)?;
        Ok(table.get(name)?.map(|v| v.value().to_owned()))
    }

    /// Writes `value` when the stored value is `expected` (`None`: absent); false otherwise.
    pub(in crate::store) fn setting_swap(
        &self,
        name: &str,
        expected: Option<&str>,
        value: &str,
    ) -> Result<bool, StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(SETTINGS)?;
            let current = table.get(name)?.map(|v| v.value().to_owned());
            if current.as_deref() != expected {
                return Ok(false);
            }
            table.insert(name, value)?;
        }
        tx.commit()?;
        Ok(true)
    }

    pub(in crate::store) fn session_create(&self, hash: &str, ttl_ms: u64) -> Result<(), StoreError> {
        let now = now_ms();
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(SESSIONS)?;
            // Logins are rare: sweeping ended sessions here keeps the table small.
            table.retain(|_, expires| expires > now)?;
            table.insert(hash, now.saturating_add(ttl_ms))?;
        }
        tx.commit()?;
        Ok(())
    }

    pub(in crate::store) fn session_valid(&self, hash: &str) -> Result<bool, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(SESSIONS)?;
        Ok(table.get(hash)?.is_some_and(|v| v.value() > now_ms()))
    }

    pub(in crate::store) fn session_delete(&self, hash: &str) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        tx.open_table(SESSIONS)?.remove(hash)?;
        tx.commit()?;
        Ok(())
    }
}
