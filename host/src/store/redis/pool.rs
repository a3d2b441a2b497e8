//! Account-pool state in Redis, shared by every instance: leases, cooldowns, auth disables.
//!
//! A lease is a member of the account's `lease:` sorted set scored by its expiry (server ms), so
//! the in-flight count is the number of live members and a crashed instance's leases lapse on
//! their own. Every decision that reads and then writes is one script, so two instances never
//! both take an account's last slot.

use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use super::{RedisStore, names};
use crate::store::StoreError;
use crate::store::pool::{AccountRuntime, LeaseCandidate, LeaseOutcome};

/// Keys of the pool state of `account`, for `DELETE_ACCOUNT`.
pub(super) fn account_pool_keys(account: &str) -> [String; 2] {
    [names::lease(account), names::pool_state(account)]
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisStore {
    /// Leases a slot of the least-loaded usable candidate (first one among equals: the caller
    /// shuffles for a random tie-break).
    pub(crate) async fn lease_acquire(
        &self,
        candidates: &[LeaseCandidate],
        lease_id: &str,
        ttl: Duration,
    ) -> Result<LeaseOutcome, StoreError> {
        if candidates.is_empty() {
            return Ok(LeaseOutcome::NoneAvailable);
        }
        let keys: Vec<String> = candidates
            .iter()
            .flat_map(|c| [names::lease(&c.id), names::pool_state(&c.id)])
            .collect();
        let lease_id = lease_id.to_owned();
        let limits: Vec<u32> = candidates
            .iter()
            .flat_map(|c| [c.max_inflight.max(1), c.weight.max(1)])
            .collect();
        let (index, wait_ms): (i64, u64) = self
            .call(|mut c| async move {
                let mut inv = ACQUIRE.prepare_invoke();
                inv.key(&keys[..]).arg(lease_id).arg(ms(ttl)).arg(&limits[..]);
                inv.invoke_async(&mut c).await
            })
            .await?;
        Ok(match index {
            i if i > 0 => LeaseOutcome::Leased((i - 1) as usize),
            0 => LeaseOutcome::AllCooling(Duration::from_millis(wait_ms)),
            _ => LeaseOutcome::NoneAvailable,
        })
    }

    /// Pushes a live lease's expiry out by `ttl`; false when it already lapsed.
    pub(crate) async fn lease_renew(
        &self,
        account: &str,
        lease_id: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (k, lease_id) = (names::lease(account), lease_id.to_owned());
        self.call(|mut c| async move { RENEW.key(k).arg(lease_id).arg(ms(ttl)).invoke_async(&mut c).await })
            .await
    }

    pub(crate) async fn lease_release(&self, account: &str, lease_id: &str) -> Result<(), StoreError> {
        let (k, lease_id) = (names::lease(account), lease_id.to_owned());
        self.call(|mut c| async move {
            redis::cmd("ZREM")
                .arg(k)
                .arg(lease_id)
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    /// Counts a failure; starts a cooldown of `cooldown` (server clock) and/or disables the
    /// account until [`RedisStore::pool_reset`].
    pub(crate) async fn pool_failure(
        &self,
        account: &str,
        error: &str,
        cooldown: Option<Duration>,
        disable: bool,
    ) -> Result<(), StoreError> {
        let k = names::pool_state(account);
        let (error, cooldown) = (error.to_owned(), cooldown.map_or(0, ms));
        self.call(|mut c| async move {
            FAILURE
                .key(k)
                .arg(error)
                .arg(cooldown)
                .arg(u8::from(disable))
                .invoke_async::<()>(&mut c)
                .await
        })
        .await
    }

    /// Clears a cooldown and an auth disable.
    pub(crate) async fn pool_reset(&self, account: &str) -> Result<(), StoreError> {
        let k = names::pool_state(account);
        self.call(|mut c| async move {
            redis::cmd("HDEL")
                .arg(k)
                .arg("cooldown_until")
                .arg("disabled")
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    /// Runtime state of each account in `ids`, in order.
    pub(crate) async fn pool_runtime(&self, ids: &[String]) -> Result<Vec<AccountRuntime>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids
            .iter()
            .flat_map(|id| [names::lease(id), names::pool_state(id)])
            .collect();
        let rows: Vec<(u32, u64, u64, String, String, u64, u64)> = self
            .call(|mut c| async move { STATUS.key(&keys[..]).invoke_async(&mut c).await })
            .await?;
        Ok(rows
            .into_iter()
            .map(
                |(inflight, until, remaining, disabled, last_error, requests, failures)| AccountRuntime {
                    inflight,
                    cooldown_until_ms: (remaining > 0).then_some(until),
                    cooldown_remaining: Duration::from_millis(remaining),
                    disabled: (!disabled.is_empty()).then_some(disabled),
                    last_error: (!last_error.is_empty()).then_some(last_error),
                    requests,
                    failures,
                },
            )
            .collect())
    }
}

scripts! {
    /// KEYS: (lease set, state) per candidate. ARGV: lease id, ttl ms, (max in-flight, weight)
    /// per candidate. Returns {1-based index, 0} when leased, {0, ms until the first cooldown
    /// ends} when every usable candidate cools down, {-1, 0} when none has a free slot.
    ACQUIRE = concat!(lua_now!(), r"
local ttl = tonumber(ARGV[2])
local best, best_score, soonest = nil, nil, nil
for i = 1, #KEYS / 2 do
  local leases, state = KEYS[2 * i - 1], KEYS[2 * i]
  local s = redis.call('HMGET', state, 'disabled', 'cooldown_until')
  if not s[1] then
    local until_ms = tonumber(s[2] or '0')
    if until_ms > now then
      if not soonest or until_ms < soonest then soonest = until_ms end
    else
      redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
      local inflight = redis.call('ZCARD', leases)
      if inflight < tonumber(ARGV[2 * i + 1]) then
        local score = inflight / tonumber(ARGV[2 * i + 2])
        if not best_score or score < best_score then best, best_score = i, score end
      end
    end
  end
end
if best then
  local leases = KEYS[2 * best - 1]
  redis.call('ZADD', leases, now + ttl, ARGV[1])
  -- Every member expires within ttl of now, so the set outlives them all; an idle account
  -- leaves no key behind.
  redis.call('PEXPIRE', leases, 2 * ttl)
  redis.call('HINCRBY', KEYS[2 * best], 'requests', 1)
  return {best, 0}
end
if soonest then return {0, soonest - now} end
return {-1, 0}
");

    /// KEYS: lease set. ARGV: lease id, ttl ms. Returns 1 when renewed, 0 when it lapsed.
    RENEW = concat!(lua_now!(), r"
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
return 1
");

    /// KEYS: state. ARGV: error, cooldown ms (0 = none), disable (1/0).
    FAILURE = concat!(lua_now!(), r"
redis.call('HINCRBY', KEYS[1], 'failures', 1)
redis.call('HSET', KEYS[1], 'last_error', ARGV[1])
local cooldown = tonumber(ARGV[2])
if cooldown > 0 then redis.call('HSET', KEYS[1], 'cooldown_until', now + cooldown) end
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'disabled', ARGV[1]) end
");

    /// KEYS: (lease set, state) per account. Returns per account {in-flight, cooldown end,
    /// ms left of it, disabled reason or '', last error or '', requests, failures}.
    STATUS = concat!(lua_now!(), r"
local out = {}
for i = 1, #KEYS / 2 do
  local s = redis.call('HMGET', KEYS[2 * i], 'cooldown_until', 'disabled', 'last_error', 'requests', 'failures')
  local until_ms = tonumber(s[1] or '0')
  out[i] = {
    redis.call('ZCOUNT', KEYS[2 * i - 1], '(' .. now, '+inf'),
    until_ms,
    math.max(0, until_ms - now),
    s[2] or '',
    s[3] or '',
    tonumber(s[4] or '0'),
    tonumber(s[5] or '0'),
  }
end
return out
");
}
