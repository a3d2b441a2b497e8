//! Account pool: least-loaded pick, leases released on every path, cooldowns per error class.
//!
//! Runtime state (in-flight counts, cooldowns, auth disables, last errors) lives in this
//! process; accounts themselves live in the store. Sharing this state across instances through
//! Redis is the next step (see the store issue).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::seq::IndexedRandom;
use serde::Serialize;

use crate::canonical::ProviderError;
use crate::config::PoolConfig;
use crate::store::Account;

/// Why no account could be leased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolError {
    /// Every usable account is cooling down; the earliest is free again after this long.
    AllCooling(Duration),
    /// No enabled, healthy account with spare capacity.
    NoneAvailable,
}

#[derive(Debug, Default)]
struct Runtime {
    inflight: u32,
    /// Unix ms until which the account is not picked.
    cooldown_until_ms: u64,
    /// Set by an auth failure; cleared by an admin edit or a successful check.
    disabled: Option<String>,
    last_error: Option<String>,
    requests: u64,
    failures: u64,
}

/// Pool state shared by every request of one gateway.
pub struct AccountPool {
    config: PoolConfig,
    state: Mutex<HashMap<String, Runtime>>,
}

/// One unit of an account's capacity, held for the whole request (stream included).
/// Dropping it, on any path, gives the capacity back.
pub struct Lease {
    pool: Arc<AccountPool>,
    pub account: Account,
}

impl Lease {
    /// Records a failure of the leased account (see [`AccountPool::report_failure`]).
    pub fn report_failure(&self, err: &ProviderError) -> bool {
        self.pool.report_failure(&self.account.id, err)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(r) = self.pool.lock().get_mut(&self.account.id) {
            r.inflight = r.inflight.saturating_sub(1);
        }
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
    pub fn new(config: PoolConfig) -> Self {
        AccountPool {
            config,
            state: Mutex::new(HashMap::new()),
        }
    }

    pub fn max_attempts(&self) -> u32 {
        self.config.max_attempts
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Runtime>> {
        // A poisoned lock only means a panic elsewhere; the counters are still meaningful.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Leases the least-loaded usable account (in-flight / weight, random among ties),
    /// skipping `exclude` (accounts already tried by this request).
    pub fn acquire(
        self: &Arc<Self>,
        accounts: &[Account],
        exclude: &HashSet<String>,
    ) -> Result<Lease, PoolError> {
        let now = now_ms();
        let mut state = self.lock();
        let mut best: Vec<&Account> = Vec::new();
        let mut best_score = f64::INFINITY;
        let mut soonest_free: Option<u64> = None;
        for a in accounts.iter().filter(|a| a.enabled && !exclude.contains(&a.id)) {
            let r = state.entry(a.id.clone()).or_default();
            if r.disabled.is_some() {
                continue;
            }
            if r.cooldown_until_ms > now {
                soonest_free = Some(soonest_free.map_or(r.cooldown_until_ms, |s| s.min(r.cooldown_until_ms)));
                continue;
            }
            if r.inflight >= a.max_inflight.max(1) {
                continue;
            }
            let score = f64::from(r.inflight) / f64::from(a.weight.max(1));
            if score < best_score {
                best_score = score;
                best.clear();
            }
            if score <= best_score {
                best.push(a);
            }
        }
        let Some(chosen) = best.choose(&mut rand::rng()).map(|a| (*a).clone()) else {
            return Err(match soonest_free {
                Some(t) => PoolError::AllCooling(Duration::from_millis(t.saturating_sub(now))),
                None => PoolError::NoneAvailable,
            });
        };
        let r = state.entry(chosen.id.clone()).or_default();
        r.inflight += 1;
        r.requests += 1;
        drop(state);
        Ok(Lease {
            pool: self.clone(),
            account: chosen,
        })
    }

    /// Records a failure of `account_id` and applies its cooldown. Returns whether another
    /// account may be tried (never for errors that another account cannot fix).
    pub fn report_failure(&self, account_id: &str, err: &ProviderError) -> bool {
        let now = now_ms();
        let c = &self.config;
        let (cooldown, disable, failover) = match err {
            ProviderError::AuthFailed(_) => (None, true, true),
            ProviderError::RateLimited { retry_after_ms, .. } => (
                Some(retry_after_ms.map_or(c.rate_limit_cooldown, Duration::from_millis)),
                false,
                true,
            ),
            ProviderError::QuotaExhausted { reset_at_ms, .. } => (
                Some(reset_at_ms.map_or(c.quota_cooldown, |t| Duration::from_millis(t.saturating_sub(now)))),
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
        let mut state = self.lock();
        let r = state.entry(account_id.to_owned()).or_default();
        r.failures += 1;
        r.last_error = Some(err.to_string());
        if let Some(d) = cooldown {
            r.cooldown_until_ms = now.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        }
        if disable {
            r.disabled = Some(err.to_string());
        }
        failover
    }

    /// Clears an auth disable and any cooldown (after an admin edit or a successful check).
    pub fn reset(&self, account_id: &str) {
        if let Some(r) = self.lock().get_mut(account_id) {
            r.disabled = None;
            r.cooldown_until_ms = 0;
        }
    }

    /// Runtime status of `accounts`, for the admin API.
    pub fn status(&self, accounts: &[Account]) -> Vec<AccountStatus> {
        let now = now_ms();
        let state = self.lock();
        accounts
            .iter()
            .map(|a| {
                let empty = Runtime::default();
                let r = state.get(&a.id).unwrap_or(&empty);
                let cooling = r.cooldown_until_ms > now;
                let status = if !a.enabled || r.disabled.is_some() {
                    "disabled"
                } else if cooling {
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
                    cooldown_until_ms: cooling.then_some(r.cooldown_until_ms),
                    last_error: r.last_error.clone(),
                    requests: r.requests,
                    failures: r.failures,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(id: &str, max_inflight: u32) -> Account {
        Account {
            id: id.into(),
            channel: "c".into(),
            name: id.into(),
            credentials: Default::default(),
            enabled: true,
            weight: 1,
            max_inflight,
            version: 1,
        }
    }

    fn pool() -> Arc<AccountPool> {
        Arc::new(AccountPool::new(PoolConfig::default()))
    }

    #[test]
    fn leases_respect_max_inflight_and_come_back_on_drop() {
        let p = pool();
        let accounts = [account("a", 2)];
        let l1 = p.acquire(&accounts, &HashSet::new()).unwrap();
        let l2 = p.acquire(&accounts, &HashSet::new()).unwrap();
        assert_eq!(
            p.acquire(&accounts, &HashSet::new()).err(),
            Some(PoolError::NoneAvailable)
        );
        drop(l1);
        let l3 = p.acquire(&accounts, &HashSet::new()).unwrap();
        drop((l2, l3));
        assert_eq!(p.status(&accounts)[0].inflight, 0);
    }

    #[test]
    fn least_loaded_account_is_picked() {
        let p = pool();
        let accounts = [account("a", 4), account("b", 4)];
        let first = p.acquire(&accounts, &HashSet::new()).unwrap();
        let second = p.acquire(&accounts, &HashSet::new()).unwrap();
        assert_ne!(first.account.id, second.account.id);
    }

    #[test]
    fn failures_cool_down_or_disable_by_class() {
        let p = pool();
        let accounts = [account("a", 4), account("b", 4)];
        assert!(p.report_failure("a", &ProviderError::AuthFailed("x".into())));
        assert_eq!(p.status(&accounts)[0].status, "disabled");
        let rate = ProviderError::RateLimited {
            retry_after_ms: Some(5_000),
            message: "x".into(),
        };
        assert!(p.report_failure("b", &rate));
        match p.acquire(&accounts, &HashSet::new()) {
            Err(PoolError::AllCooling(d)) => {
                assert!(d <= Duration::from_secs(5) && d > Duration::from_secs(3))
            }
            other => panic!(
                "expected AllCooling, got {:?}",
                other.map(|l| l.account.id.clone())
            ),
        }
        assert!(
            !p.report_failure("b", &ProviderError::BadRequest("x".into())),
            "no failover for bad requests"
        );
        p.reset("a");
        assert_eq!(p.acquire(&accounts, &HashSet::new()).unwrap().account.id, "a");
    }
}
