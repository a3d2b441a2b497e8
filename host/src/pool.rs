//! Account selection per channel. (Leases, cooldowns and failover arrive with the store issue.)

use rand::seq::IndexedRandom;

use crate::error::ApiError;
use crate::store::{Account, Store};

/// Picks an enabled account of `channel` at random, or 503 when there is none.
pub async fn pick(store: &Store, channel: &str) -> Result<Account, ApiError> {
    let accounts = store
        .list_accounts(Some(channel))
        .await
        .map_err(|e| ApiError::unavailable(format!("store unavailable: {e}")))?;
    let enabled: Vec<_> = accounts.into_iter().filter(|a| a.enabled).collect();
    enabled
        .choose(&mut rand::rng())
        .cloned()
        .ok_or_else(|| ApiError::unavailable(format!("no account available for channel `{channel}`")))
}
