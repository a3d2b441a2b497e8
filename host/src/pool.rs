//! Account pool: least-loaded pick, leases released on every path, cooldowns per error class.
//!
//! The policy (which account, which cooldown for which failure) lives here; the state (leases,
//! cooldowns, disables, counters) lives in the store, so instances sharing a Redis share it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::canonical::ProviderError;
use crate::config::PoolConfig;
use crate::store::{Account, LeaseCandidate, LeaseOutcome, Store, StoreError};

/// Why no account could be leased.
#[derive(Debug)]
pub enum PoolError {
    /// Every usable account is cooling down; the earliest is free again after this long.
    AllCooling(Duration),
    /// No enabled, healthy account with spare capacity.
    NoneAvailable,
    /// The store holding the pool state did not answer.
    Store(StoreError),
}

/// Pool policy of one gateway over the store's shared state.
pub struct AccountPool {
    config: ArcSwap<PoolConfig>,
    store: Store,
}

/// One unit of an account's capacity, held for the whole request (stream included).
/// Dropping it, on any path, gives the capacity back.
pub struct Lease {
    pool: Arc<AccountPool>,
    pub account: Account,
    id: String,
    /// Keeps a shared lease alive while it is held; aborted on drop.
    heartbeat: Option<tokio::task::JoinHandle<()>>,
}

impl Lease {
    /// Records a failure of the leased account (see [`AccountPool::report_failure`]).
    pub async fn report_failure(&self, err: &ProviderError) -> bool {
        self.pool.report_failure(&self.account.id, err).await
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        self.pool.store.lease_release_detached(&self.account.id, &self.id);
    }
}

/// What the admin API shows per account.
#[derive(Debug, Clone, Serialize)]
pub struct AccountStatus {
    pub id: String,
    pub name: String,
    pub channel: String,
    /// `available`, `in_use`, `full`, `cooling_down` or `disabled`.
    pub status: &'static str,
    pub enabled: bool,
    pub weight: u32,
    pub max_inflight: u32,
    pub inflight: u32,
    pub cooldown_until_ms: Option<u64>,
    /// Why the pool disabled the account (an auth failure), until an edit or a passing check.
    pub disabled_reason: Option<String>,
    pub last_error: Option<String>,
    pub requests: u64,
    pub failures: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

// === impl AccountPool ===

impl AccountPool {
    pub fn new(config: PoolConfig, store: Store) -> Self {
        AccountPool {
            config: ArcSwap::from_pointee(config),
            store,
        }
    }

    pub fn config(&self) -> Arc<PoolConfig> {
        self.config.load_full()
    }

    /// Applies a new policy to requests that start from now on.
    pub fn set_config(&self, config: PoolConfig) {
        self.config.store(Arc::new(config));
    }

    pub fn max_attempts(&self) -> u32 {
        self.config.load().max_attempts
    }

    /// Leases the least-loaded usable account (in-flight / weight, random among ties),
    /// skipping `exclude` (accounts already tried by this request).
    pub async fn acquire(
        self: &Arc<Self>,
        accounts: &[Account],
        exclude: &HashSet<String>,
    ) -> Result<Lease, PoolError> {
        let mut usable: Vec<&Account> = accounts
            .iter()
            .filter(|a| a.enabled && !exclude.contains(&a.id))
            .collect();
        // The store takes the first of equally loaded accounts: shuffling makes that random.
        usable.shuffle(&mut rand::rng());
        let candidates: Vec<LeaseCandidate> = usable
            .iter()
            .map(|a| LeaseCandidate {
                id: a.id.clone(),
                max_inflight: a.max_inflight,
                weight: a.weight,
            })
            .collect();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let ttl = self.config.load().lease_ttl;
        let outcome = self
            .store
            .lease_acquire(&candidates, &id, ttl)
            .await
            .map_err(PoolError::Store)?;
        let account = match outcome {
            LeaseOutcome::Leased(i) => usable[i].clone(),
            LeaseOutcome::AllCooling(wait) => return Err(PoolError::AllCooling(wait)),
            LeaseOutcome::NoneAvailable => return Err(PoolError::NoneAvailable),
        };
        let heartbeat = matches!(self.store, Store::Redis(_)).then(|| {
            let (store, account, id) = (self.store.clone(), account.id.clone(), id.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(ttl / 3);
                tick.tick().await; // the first tick is immediate
                loop {
                    tick.tick().await;
                    match store.lease_renew(&account, &id, ttl).await {
                        Ok(true) => {}
                        Ok(false) => tracing::warn!(account, "lease lapsed while held (store outage?)"),
                        Err(e) => tracing::warn!(account, error = %e, "lease renewal failed"),
                    }
                }
            })
        });
        Ok(Lease {
            pool: self.clone(),
            account,
            id,
            heartbeat,
        })
    }

    /// Records a failure of `account_id` and applies its cooldown. Returns whether another
    /// account may be tried (never for errors that another account cannot fix).
    pub async fn report_failure(&self, account_id: &str, err: &ProviderError) -> bool {
        let c = self.config.load();
        let (cooldown, disable, failover) = match err {
            ProviderError::AuthFailed(_) => (None, true, true),
            ProviderError::RateLimited { retry_after_ms, .. } => (
                Some(retry_after_ms.map_or(c.rate_limit_cooldown, Duration::from_millis)),
                false,
                true,
            ),
            ProviderError::QuotaExhausted { reset_at_ms, .. } => (
                Some(reset_at_ms.map_or(c.quota_cooldown, |t| {
                    Duration::from_millis(t.saturating_sub(now_ms()))
                })),
                false,
                true,
            ),
            ProviderError::Transient(_) => (Some(c.transient_cooldown), false, true),
            // A 4xx is usually the request's fault: no cooldown (or any client could bench every
            // account), except timeouts and rate limits, which are the account's.
            ProviderError::Upstream { status, .. } => {
                let account_side = *status >= 500 || matches!(status, 408 | 429);
                (account_side.then_some(c.transient_cooldown), false, account_side)
            }
            ProviderError::BadRequest(_) | ProviderError::ModelNotFound(_) | ProviderError::Internal(_) => {
                (None, false, false)
            }
        };
        if let Err(e) = self
            .store
            .pool_failure(account_id, &err.to_string(), cooldown, disable)
            .await
        {
            // The request already failed; losing its bookkeeping must not fail it twice.
            tracing::warn!(account = account_id, error = %e, "could not record an account failure");
        }
        failover
    }

    /// Clears an auth disable and any cooldown (after an admin edit or a successful check).
    pub async fn reset(&self, account_id: &str) -> Result<(), StoreError> {
        self.store.pool_reset(account_id).await
    }

    /// Runtime status of `accounts`, for the admin API.
    pub async fn status(&self, accounts: &[Account]) -> Result<Vec<AccountStatus>, StoreError> {
        let ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
        let runtime = self.store.pool_runtime(&ids).await?;
        Ok(accounts
            .iter()
            .zip(runtime)
            .map(|(a, r)| {
                let status = if !a.enabled || r.disabled.is_some() {
                    "disabled"
                } else if r.cooldown_until_ms.is_some() {
                    "cooling_down"
                } else if r.inflight >= a.max_inflight.max(1) {
                    "full"
                } else if r.inflight > 0 {
                    "in_use"
                } else {
                    "available"
                };
                AccountStatus {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    channel: a.channel.clone(),
                    status,
                    enabled: a.enabled,
                    weight: a.weight,
                    max_inflight: a.max_inflight,
                    inflight: r.inflight,
                    cooldown_until_ms: r.cooldown_until_ms,
                    disabled_reason: r.disabled,
                    last_error: r.last_error,
                    requests: r.requests,
                    failures: r.failures,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
