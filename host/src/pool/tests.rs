//! Pool policy over both store backends; Redis also shows state shared by two pools.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::{AccountPool, PoolError};
use crate::canonical::ProviderError;
use crate::config::PoolConfig;
use crate::store::{Account, EmbeddedStore, LeaseCandidate, LeaseOutcome, RedisStore, Store};
use crate::test_redis::TestRedis;

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

fn pool(store: &Store) -> Arc<AccountPool> {
    Arc::new(AccountPool::new(PoolConfig::default(), store.clone()))
}

async fn inflight(p: &AccountPool, accounts: &[Account]) -> Vec<u32> {
    p.status(accounts)
        .await
        .unwrap()
        .iter()
        .map(|s| s.inflight)
        .collect()
}

/// Waits for released leases (a Redis release runs on a spawned task).
async fn settle(p: &AccountPool, accounts: &[Account], expected: &[u32]) {
    for _ in 0..100 {
        if inflight(p, accounts).await == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(inflight(p, accounts).await, expected);
}

async fn leases_respect_max_inflight_and_come_back_on_drop(store: &Store) {
    let p = pool(store);
    let accounts = [account("a", 2)];
    let none = HashSet::new();
    let l1 = p.acquire(&accounts, &none).await.unwrap();
    let l2 = p.acquire(&accounts, &none).await.unwrap();
    assert!(matches!(
        p.acquire(&accounts, &none).await,
        Err(PoolError::NoneAvailable)
    ));
    drop(l1);
    settle(&p, &accounts, &[1]).await;
    let l3 = p.acquire(&accounts, &none).await.unwrap();
    drop((l2, l3));
    settle(&p, &accounts, &[0]).await;
    assert_eq!(p.status(&accounts).await.unwrap()[0].requests, 3);
}

async fn least_loaded_account_is_picked(store: &Store) {
    let p = pool(store);
    let accounts = [account("a", 4), account("b", 4)];
    let none = HashSet::new();
    let first = p.acquire(&accounts, &none).await.unwrap();
    let second = p.acquire(&accounts, &none).await.unwrap();
    assert_ne!(first.account.id, second.account.id);
    let tried: HashSet<String> = [first.account.id.clone()].into();
    let third = p.acquire(&accounts, &tried).await.unwrap();
    assert_eq!(
        third.account.id, second.account.id,
        "excluded accounts are skipped"
    );
}

async fn failures_cool_down_or_disable_by_class(store: &Store) {
    let p = pool(store);
    let accounts = [account("a", 4), account("b", 4)];
    let none = HashSet::new();
    assert!(
        p.report_failure("a", &ProviderError::AuthFailed("bad token".into()))
            .await
    );
    let status = p.status(&accounts).await.unwrap();
    assert_eq!(status[0].status, "disabled");
    assert!(
        status[0]
            .disabled_reason
            .as_deref()
            .unwrap()
            .contains("bad token")
    );
    let rate = ProviderError::RateLimited {
        retry_after_ms: Some(5_000),
        message: "slow down".into(),
    };
    assert!(p.report_failure("b", &rate).await);
    match p.acquire(&accounts, &none).await {
        Err(PoolError::AllCooling(d)) => assert!(d <= Duration::from_secs(5) && d > Duration::from_secs(3)),
        other => panic!(
            "expected AllCooling, got {:?}",
            other.map(|l| l.account.id.clone())
        ),
    }
    let status = p.status(&accounts).await.unwrap();
    assert_eq!(status[1].status, "cooling_down");
    assert_eq!(status[1].failures, 1);
    assert!(status[1].last_error.as_deref().unwrap().contains("slow down"));
    assert!(
        !p.report_failure("b", &ProviderError::BadRequest("x".into()))
            .await,
        "no failover for bad requests"
    );
    p.reset("a").await.unwrap();
    assert_eq!(p.acquire(&accounts, &none).await.unwrap().account.id, "a");
}

/// `transient_cooldown_secs = 0` means "never cool": failures landing between other requests'
/// acquisitions must not bench the account for even a millisecond (that was a 429 with
/// `retry-after: 1`).
async fn a_zero_cooldown_never_cools_under_concurrent_failures(store: &Store) {
    let config = PoolConfig {
        transient_cooldown: Duration::ZERO,
        ..PoolConfig::default()
    };
    let p = Arc::new(AccountPool::new(config, store.clone()));
    let accounts = [account("z", 100_000)];
    let failing = {
        let p = p.clone();
        tokio::spawn(async move {
            for _ in 0..2_000 {
                p.report_failure("z", &ProviderError::Transient("blip".into()))
                    .await;
            }
        })
    };
    let none = HashSet::new();
    while !failing.is_finished() {
        if let Err(e) = p.acquire(&accounts, &none).await {
            panic!("a zero cooldown cooled the account: {e:?}");
        }
    }
    failing.await.unwrap();
    assert_eq!(p.status(&accounts).await.unwrap()[0].failures, 2_000);
}

async fn deleting_an_account_forgets_its_state(store: &Store) {
    let p = pool(store);
    store.put_account(account("gone", 1)).await.unwrap();
    p.report_failure("gone", &ProviderError::AuthFailed("x".into()))
        .await;
    store.delete_account("gone").await.unwrap();
    let fresh = store.put_account(account("gone", 1)).await.unwrap();
    assert_eq!(p.status(&[fresh]).await.unwrap()[0].status, "available");
}

macro_rules! both_backends {
    ($($test:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = super::Store::Embedded(std::sync::Arc::new(
                        super::EmbeddedStore::open(dir.path()).unwrap(),
                    ));
                    super::$test(&store).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(server) = super::TestRedis::start() else { return };
                    let store = super::Store::Redis(std::sync::Arc::new(
                        super::RedisStore::open(&server.url()).await.unwrap(),
                    ));
                    super::$test(&store).await;
                }
            )*
        }
    };
}

both_backends!(
    leases_respect_max_inflight_and_come_back_on_drop,
    least_loaded_account_is_picked,
    failures_cool_down_or_disable_by_class,
    a_zero_cooldown_never_cools_under_concurrent_failures,
    deleting_an_account_forgets_its_state,
);

async fn redis_store(server: &TestRedis) -> Store {
    Store::Redis(Arc::new(RedisStore::open(&server.url()).await.unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_redis_share_capacity_and_cooldowns() {
    let Some(server) = TestRedis::start() else { return };
    let (one, two) = (
        pool(&redis_store(&server).await),
        pool(&redis_store(&server).await),
    );
    let accounts = [account("a", 2), account("b", 1)];
    let none = HashSet::new();
    let held = [
        one.acquire(&accounts, &none).await.unwrap(),
        two.acquire(&accounts, &none).await.unwrap(),
        one.acquire(&accounts, &none).await.unwrap(),
    ];
    assert!(matches!(
        two.acquire(&accounts, &none).await,
        Err(PoolError::NoneAvailable)
    ));
    assert_eq!(inflight(&two, &accounts).await, [2, 1]);
    drop(held);
    settle(&one, &accounts, &[0, 0]).await;

    let rate = ProviderError::RateLimited {
        retry_after_ms: Some(60_000),
        message: "x".into(),
    };
    one.report_failure("a", &rate).await;
    two.report_failure("b", &ProviderError::AuthFailed("x".into()))
        .await;
    assert!(matches!(
        two.acquire(&accounts, &none).await,
        Err(PoolError::AllCooling(_))
    ));
    one.reset("a").await.unwrap();
    assert_eq!(two.acquire(&accounts, &none).await.unwrap().account.id, "a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_holders_lease_lapses_and_a_live_one_is_renewed() {
    let Some(server) = TestRedis::start() else { return };
    let store = redis_store(&server).await;
    let only = [LeaseCandidate {
        id: "a".into(),
        max_inflight: 1,
        weight: 1,
    }];
    // A holder that never renews nor releases: a crashed instance.
    let ttl = Duration::from_millis(300);
    assert_eq!(
        store.lease_acquire(&only, "dead", ttl).await.unwrap(),
        LeaseOutcome::Leased(0)
    );
    assert_eq!(
        store.lease_acquire(&only, "x", ttl).await.unwrap(),
        LeaseOutcome::NoneAvailable
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        store.lease_acquire(&only, "x", ttl).await.unwrap(),
        LeaseOutcome::Leased(0)
    );
    store.lease_release("a", "x").await.unwrap();

    // A held lease outlives its TTL because the pool renews it.
    let config = PoolConfig {
        lease_ttl: ttl,
        ..PoolConfig::default()
    };
    let p = Arc::new(AccountPool::new(config, store.clone()));
    let accounts = [account("a", 1)];
    let lease = p.acquire(&accounts, &HashSet::new()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(inflight(&p, &accounts).await, [1]);
    drop(lease);
    settle(&p, &accounts, &[0]).await;
}
