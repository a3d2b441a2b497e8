//! Account-pool runtime state: leases, cooldowns and auth disables, per backend.
//!
//! With Redis the state is shared by every instance (`redis/pool.rs`). The embedded store is
//! opened by one process only, so its pool state lives in that process's memory: leases die with
//! the process anyway, and cooldowns and disables start clean after a restart.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Store, StoreError};

/// An account the pool may lease, with its limits.
#[derive(Debug, Clone)]
pub struct LeaseCandidate {
    pub id: String,
    pub max_inflight: u32,
    pub weight: u32,
}

/// The result of one lease attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// The candidate at this index was leased.
    Leased(usize),
    /// Every usable candidate cools down; the first is free again after this long.
    AllCooling(Duration),
    /// No candidate is usable or has a free slot.
    NoneAvailable,
}

/// One account's pool state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountRuntime {
    pub inflight: u32,
    /// When the cooldown ends (Unix ms on the store's clock), while it lasts.
    pub cooldown_until_ms: Option<u64>,
    pub cooldown_remaining: Duration,
    /// Why the account is disabled (an auth failure), until an edit or a successful check.
    pub disabled: Option<String>,
    pub last_error: Option<String>,
    pub requests: u64,
    pub failures: u64,
}

/// In-process pool state of the embedded backend.
#[derive(Debug, Default)]
pub(super) struct LocalPool {
    accounts: Mutex<HashMap<String, LocalState>>,
}

#[derive(Debug, Default)]
struct LocalState {
    leases: HashSet<String>,
    cooldown_until_ms: u64,
    disabled: Option<String>,
    last_error: Option<String>,
    requests: u64,
    failures: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn saturating_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

// === impl LocalPool ===

impl LocalPool {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, LocalState>> {
        // A poisoned lock only means a panic elsewhere; the state is still consistent.
        self.accounts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn acquire(&self, candidates: &[LeaseCandidate], lease_id: &str) -> LeaseOutcome {
        let mut state = self.lock();
        // Read under the lock: a clock read before it could predate a cooldown that another
        // request's failure set (from its own, later, read) meanwhile, and see it as running.
        let now = now_ms();
        let mut best: Option<(usize, f64)> = None;
        let mut soonest: Option<u64> = None;
        for (i, c) in candidates.iter().enumerate() {
            let s = state.entry(c.id.clone()).or_default();
            if s.disabled.is_some() {
                continue;
            }
            if s.cooldown_until_ms > now {
                soonest = Some(soonest.map_or(s.cooldown_until_ms, |t| t.min(s.cooldown_until_ms)));
                continue;
            }
            let inflight = s.leases.len() as u32;
            if inflight >= c.max_inflight.max(1) {
                continue;
            }
            let score = f64::from(inflight) / f64::from(c.weight.max(1));
            if best.is_none_or(|(_, b)| score < b) {
                best = Some((i, score));
            }
        }
        match (best, soonest) {
            (Some((i, _)), _) => {
                let s = state.entry(candidates[i].id.clone()).or_default();
                s.leases.insert(lease_id.to_owned());
                s.requests += 1;
                LeaseOutcome::Leased(i)
            }
            (None, Some(t)) => LeaseOutcome::AllCooling(Duration::from_millis(t - now)),
            (None, None) => LeaseOutcome::NoneAvailable,
        }
    }

    fn release(&self, account: &str, lease_id: &str) {
        if let Some(s) = self.lock().get_mut(account) {
            s.leases.remove(lease_id);
        }
    }

    fn failure(&self, account: &str, error: &str, cooldown: Option<Duration>, disable: bool) {
        let mut state = self.lock();
        let s = state.entry(account.to_owned()).or_default();
        s.failures += 1;
        s.last_error = Some(error.to_owned());
        if let Some(d) = cooldown {
            s.cooldown_until_ms = now_ms().saturating_add(saturating_ms(d));
        }
        if disable {
            s.disabled = Some(error.to_owned());
        }
    }

    fn reset(&self, account: &str) {
        if let Some(s) = self.lock().get_mut(account) {
            s.disabled = None;
            s.cooldown_until_ms = 0;
        }
    }

    fn runtime(&self, ids: &[String]) -> Vec<AccountRuntime> {
        let now = now_ms();
        let state = self.lock();
        ids.iter()
            .map(|id| {
                let Some(s) = state.get(id) else {
                    return AccountRuntime::default();
                };
                let cooling = s.cooldown_until_ms > now;
                AccountRuntime {
                    inflight: s.leases.len() as u32,
                    cooldown_until_ms: cooling.then_some(s.cooldown_until_ms),
                    cooldown_remaining: Duration::from_millis(s.cooldown_until_ms.saturating_sub(now)),
                    disabled: s.disabled.clone(),
                    last_error: s.last_error.clone(),
                    requests: s.requests,
                    failures: s.failures,
                }
            })
            .collect()
    }

    pub(super) fn forget(&self, account: &str) {
        self.lock().remove(account);
    }
}

/// Pool state, shared across instances when the backend is.
impl Store {
    /// Leases a slot of the least-loaded usable candidate (in-flight / weight); among equals the
    /// first wins, so callers shuffle for a random tie-break. `ttl` bounds how long a lease
    /// outlives its holder's last renewal (a crashed instance's leases lapse after it).
    pub async fn lease_acquire(
        &self,
        candidates: &[LeaseCandidate],
        lease_id: &str,
        ttl: Duration,
    ) -> Result<LeaseOutcome, StoreError> {
        match self {
            Store::Embedded(s) => Ok(s.pool().acquire(candidates, lease_id)),
            Store::Redis(s) => s.lease_acquire(candidates, lease_id, ttl).await,
        }
    }

    /// Extends a lease by `ttl`; false when it lapsed (the slot may have been taken again).
    pub async fn lease_renew(
        &self,
        account: &str,
        lease_id: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        match self {
            Store::Embedded(_) => Ok(true), // in-process leases never lapse
            Store::Redis(s) => s.lease_renew(account, lease_id, ttl).await,
        }
    }

    pub async fn lease_release(&self, account: &str, lease_id: &str) -> Result<(), StoreError> {
        match self {
            Store::Embedded(s) => {
                s.pool().release(account, lease_id);
                Ok(())
            }
            Store::Redis(s) => s.lease_release(account, lease_id).await,
        }
    }

    /// Releases from a synchronous context (a `Drop`): at once in process, else on a spawned
    /// task. Without a runtime, or when the release fails, a Redis lease lapses by its TTL.
    pub fn lease_release_detached(&self, account: &str, lease_id: &str) {
        match self {
            Store::Embedded(s) => s.pool().release(account, lease_id),
            Store::Redis(s) => {
                let Ok(rt) = tokio::runtime::Handle::try_current() else {
                    return;
                };
                let (s, account, lease_id) = (s.clone(), account.to_owned(), lease_id.to_owned());
                rt.spawn(async move {
                    if let Err(e) = s.lease_release(&account, &lease_id).await {
                        tracing::warn!(account, error = %e, "lease release failed; it lapses by its TTL");
                    }
                });
            }
        }
    }

    /// Counts a failure of `account`, starting a cooldown and/or an auth disable. A zero
    /// cooldown starts none (not even a millisecond that a concurrent request would see).
    pub async fn pool_failure(
        &self,
        account: &str,
        error: &str,
        cooldown: Option<Duration>,
        disable: bool,
    ) -> Result<(), StoreError> {
        let cooldown = cooldown.filter(|d| !d.is_zero());
        match self {
            Store::Embedded(s) => {
                s.pool().failure(account, error, cooldown, disable);
                Ok(())
            }
            Store::Redis(s) => s.pool_failure(account, error, cooldown, disable).await,
        }
    }

    /// Clears a cooldown and an auth disable (after an admin edit or a successful check).
    pub async fn pool_reset(&self, account: &str) -> Result<(), StoreError> {
        match self {
            Store::Embedded(s) => {
                s.pool().reset(account);
                Ok(())
            }
            Store::Redis(s) => s.pool_reset(account).await,
        }
    }

    /// Pool state of each account in `ids`, in order (defaults for unknown ids).
    pub async fn pool_runtime(&self, ids: &[String]) -> Result<Vec<AccountRuntime>, StoreError> {
        match self {
            Store::Embedded(s) => Ok(s.pool().runtime(ids)),
            Store::Redis(s) => s.pool_runtime(ids).await,
        }
    }
}
