//! One behavioural suite, run against every backend: the embedded redb store and Redis.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::{Account, AccountPatch, EmbeddedStore, KvQuota, ModelEntry, RedisStore, Store, StoreError};
use crate::canonical::ModelKind;
use crate::test_redis::TestRedis;

const QUOTA: KvQuota = KvQuota {
    max_keys: 100,
    max_value_bytes: 1024,
};

/// A store under test and what keeps it alive (its directory or its server).
struct Backend {
    store: Store,
    _guard: Box<dyn std::any::Any + Send>,
}

async fn embedded() -> Option<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::Embedded(Arc::new(EmbeddedStore::open(dir.path()).unwrap()));
    Some(Backend {
        store,
        _guard: Box::new(dir),
    })
}

async fn redis() -> Option<Backend> {
    let server = TestRedis::start()?;
    let store = Store::Redis(Arc::new(RedisStore::open(&server.url()).await.unwrap()));
    Some(Backend {
        store,
        _guard: Box::new(server),
    })
}

/// One test module per backend, each running every shared test (functions of the invoking
/// module) against a fresh store.
macro_rules! suite {
    ($($test:ident),* $(,)?) => {
        suite!(@backend embedded: $($test),*);
        suite!(@backend redis: $($test),*);
    };
    (@backend $backend:ident: $($test:ident),*) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(backend) = crate::store::tests::$backend().await {
                        super::$test(&backend.store).await;
                    }
                }
            )*
        }
    };
}

// Declared after `suite!`, which they use.
mod admin;
mod batch;
mod credentials;
pub(super) mod keys;
mod models;

suite!(
    kv_set_get_delete,
    kv_ttl_expires,
    kv_key_quota,
    kv_value_size_quota,
    kv_namespaces_are_isolated,
    accounts_put_get_list,
    merge_credentials_is_field_wise,
    update_account_patches_and_checks_version,
    delete_account_removes_it,
    models_seed_once,
    concurrent_merges_all_survive,
    concurrent_sets_never_exceed_quota,
);

pub(super) fn account(id: &str, channel: &str, credentials: Value) -> Account {
    let Value::Object(credentials) = credentials else {
        panic!("credentials must be an object")
    };
    Account {
        id: id.into(),
        channel: channel.into(),
        name: format!("{id} name"),
        credentials,
        enabled: true,
        weight: 1,
        max_inflight: 4,
        version: 0,
    }
}

pub(super) fn object(v: Value) -> Map<String, Value> {
    let Value::Object(m) = v else {
        panic!("not an object")
    };
    m
}

pub(super) fn model(channel: &str, id: &str) -> ModelEntry {
    ModelEntry {
        id: id.into(),
        channel: channel.into(),
        upstream_name: format!("{id}-upstream"),
        display_name: None,
        kind: ModelKind::Chat,
        enabled: true,
        is_default: false,
        version: 1,
    }
}

async fn kv_set_get_delete(s: &Store) {
    assert_eq!(s.kv_get("ns", "k").await.unwrap(), None);
    s.kv_set("ns", "k", b"v1".to_vec(), None, QUOTA).await.unwrap();
    assert_eq!(s.kv_get("ns", "k").await.unwrap(), Some(b"v1".to_vec()));
    s.kv_set("ns", "k", b"v2".to_vec(), None, QUOTA).await.unwrap();
    assert_eq!(s.kv_get("ns", "k").await.unwrap(), Some(b"v2".to_vec()));
    assert_eq!(s.kv_len("ns").await.unwrap(), 1);
    // Binary values and keys with separators survive unchanged.
    s.kv_set("ns", "a:b}\0c", vec![0, 255, 10], None, QUOTA)
        .await
        .unwrap();
    assert_eq!(s.kv_get("ns", "a:b}\0c").await.unwrap(), Some(vec![0, 255, 10]));
    assert_eq!(s.kv_len("ns").await.unwrap(), 2);
    s.kv_delete("ns", "k").await.unwrap();
    assert_eq!(s.kv_get("ns", "k").await.unwrap(), None);
    assert_eq!(s.kv_len("ns").await.unwrap(), 1);
    s.kv_delete("ns", "k").await.unwrap(); // deleting an absent key is not an error
    assert_eq!(s.kv_len("ns").await.unwrap(), 1);
}

async fn kv_ttl_expires(s: &Store) {
    let ttl = Some(Duration::from_millis(300));
    s.kv_set("ns", "short", b"x".to_vec(), ttl, QUOTA).await.unwrap();
    s.kv_set("ns", "long", b"y".to_vec(), Some(Duration::from_secs(60)), QUOTA)
        .await
        .unwrap();
    s.kv_set("ns", "forever", b"z".to_vec(), None, QUOTA)
        .await
        .unwrap();
    assert_eq!(s.kv_get("ns", "short").await.unwrap(), Some(b"x".to_vec()));
    assert_eq!(s.kv_len("ns").await.unwrap(), 3);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(s.kv_get("ns", "short").await.unwrap(), None);
    assert_eq!(s.kv_get("ns", "long").await.unwrap(), Some(b"y".to_vec()));
    assert_eq!(s.kv_len("ns").await.unwrap(), 2, "expired keys do not count");
    // Overwriting without a TTL makes a key permanent.
    s.kv_set("ns", "long", b"y2".to_vec(), None, QUOTA).await.unwrap();
    assert_eq!(s.kv_get("ns", "long").await.unwrap(), Some(b"y2".to_vec()));
}

async fn kv_key_quota(s: &Store) {
    let quota = KvQuota {
        max_keys: 3,
        max_value_bytes: 64,
    };
    for k in ["a", "b", "c"] {
        s.kv_set("ns", k, b"v".to_vec(), None, quota).await.unwrap();
    }
    let err = s.kv_set("ns", "d", b"v".to_vec(), None, quota).await.unwrap_err();
    assert!(matches!(err, StoreError::QuotaExceeded(_)), "{err:?}");
    // Replacing an existing key needs no room.
    s.kv_set("ns", "a", b"w".to_vec(), None, quota).await.unwrap();
    s.kv_delete("ns", "b").await.unwrap();
    s.kv_set("ns", "d", b"v".to_vec(), None, quota).await.unwrap();
    assert_eq!(s.kv_len("ns").await.unwrap(), 3);
    // Expired keys make room again.
    s.kv_delete("ns", "c").await.unwrap();
    s.kv_set("ns", "t", b"v".to_vec(), Some(Duration::from_millis(100)), quota)
        .await
        .unwrap();
    assert!(s.kv_set("ns", "e", b"v".to_vec(), None, quota).await.is_err());
    tokio::time::sleep(Duration::from_millis(250)).await;
    s.kv_set("ns", "e", b"v".to_vec(), None, quota).await.unwrap();
    assert_eq!(s.kv_len("ns").await.unwrap(), 3);
}

async fn kv_value_size_quota(s: &Store) {
    let quota = KvQuota {
        max_keys: 10,
        max_value_bytes: 8,
    };
    s.kv_set("ns", "fits", vec![1; 8], None, quota).await.unwrap();
    let err = s.kv_set("ns", "big", vec![1; 9], None, quota).await.unwrap_err();
    assert!(matches!(err, StoreError::QuotaExceeded(_)), "{err:?}");
    assert_eq!(s.kv_get("ns", "big").await.unwrap(), None);
    assert_eq!(s.kv_len("ns").await.unwrap(), 1);
}

async fn kv_namespaces_are_isolated(s: &Store) {
    let quota = KvQuota {
        max_keys: 1,
        max_value_bytes: 64,
    };
    s.kv_set("plugin:a", "k", b"a".to_vec(), None, quota)
        .await
        .unwrap();
    s.kv_set("plugin:b", "k", b"b".to_vec(), None, quota)
        .await
        .unwrap();
    // `plugin:a` + `b:k` must not alias `plugin:a:b` + `k`.
    s.kv_set("plugin:a:b", "k", b"ab".to_vec(), None, quota)
        .await
        .unwrap();
    assert_eq!(s.kv_get("plugin:a", "k").await.unwrap(), Some(b"a".to_vec()));
    assert_eq!(s.kv_get("plugin:b", "k").await.unwrap(), Some(b"b".to_vec()));
    assert_eq!(s.kv_get("plugin:a", "b:k").await.unwrap(), None);
    assert_eq!(s.kv_len("plugin:a").await.unwrap(), 1);
    s.kv_delete("plugin:a", "k").await.unwrap();
    assert_eq!(s.kv_get("plugin:b", "k").await.unwrap(), Some(b"b".to_vec()));
    assert_eq!(s.kv_len("plugin:a").await.unwrap(), 0);
    assert_eq!(s.kv_len("plugin:b").await.unwrap(), 1);
}

async fn accounts_put_get_list(s: &Store) {
    let a = s
        .put_account(account(
            "a1",
            "orchids",
            json!({"token": "t", "n": 1, "list": [], "o": {}}),
        ))
        .await
        .unwrap();
    assert_eq!(a.version, 1);
    assert_eq!(s.get_account("a1").await.unwrap(), a);
    s.put_account(account("a2", "orchids", json!({}))).await.unwrap();
    s.put_account(account("b1", "warp", json!({}))).await.unwrap();

    let ids = |v: Vec<Account>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(ids(s.list_accounts(None).await.unwrap()), ["a1", "a2", "b1"]);
    assert_eq!(ids(s.list_accounts(Some("orchids")).await.unwrap()), ["a1", "a2"]);
    assert_eq!(ids(s.list_accounts(Some("warp")).await.unwrap()), ["b1"]);
    assert!(s.list_accounts(Some("grok")).await.unwrap().is_empty());

    // Replacing bumps the version and may move the account to another channel.
    let mut moved = account("a1", "warp", json!({"other": true}));
    moved.weight = 7;
    moved.version = 42; // ignored: the store owns versions
    let moved = s.put_account(moved).await.unwrap();
    assert_eq!(moved.version, 2);
    let stored = s.get_account("a1").await.unwrap();
    assert_eq!(stored, moved);
    assert_eq!(
        stored.credentials,
        object(json!({"other": true})),
        "replaced, not merged"
    );
    assert_eq!(ids(s.list_accounts(Some("orchids")).await.unwrap()), ["a2"]);
    assert_eq!(ids(s.list_accounts(Some("warp")).await.unwrap()), ["a1", "b1"]);
    assert!(matches!(s.get_account("nope").await, Err(StoreError::NotFound)));
}

async fn merge_credentials_is_field_wise(s: &Store) {
    s.put_account(account(
        "a",
        "c",
        json!({"keep": "k", "drop": 1, "rotate": "old"}),
    ))
    .await
    .unwrap();
    let merged = s
        .merge_credentials(
            "a",
            object(json!({"rotate": "new", "drop": null, "add": {"x": [1, 2]}})),
        )
        .await
        .unwrap();
    let want = object(json!({"keep": "k", "rotate": "new", "add": {"x": [1, 2]}}));
    assert_eq!(merged.credentials, want);
    assert_eq!(merged.version, 2);
    assert_eq!(merged.name, "a name", "other fields untouched");
    assert_eq!(s.get_account("a").await.unwrap(), merged);
    let err = s.merge_credentials("missing", Map::new()).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}

async fn update_account_patches_and_checks_version(s: &Store) {
    let original = s
        .put_account(account("a", "c", json!({"token": "t", "refresh": "r"})))
        .await
        .unwrap();
    let patch = AccountPatch {
        enabled: Some(false),
        weight: Some(5),
        credentials: Some(object(json!({"token": "t2", "refresh": null}))),
        ..AccountPatch::default()
    };
    let updated = s
        .update_account("a", patch, Some(original.version))
        .await
        .unwrap();
    assert_eq!(updated.version, original.version + 1);
    assert!(!updated.enabled);
    assert_eq!(updated.weight, 5);
    assert_eq!((updated.name.as_str(), updated.max_inflight), ("a name", 4));
    assert_eq!(updated.channel, "c");
    assert_eq!(updated.credentials, object(json!({"token": "t2"})));
    assert_eq!(s.get_account("a").await.unwrap(), updated);

    // A stale version is refused and changes nothing.
    let stale = AccountPatch {
        name: Some("stale".into()),
        ..AccountPatch::default()
    };
    let err = s.update_account("a", stale.clone(), Some(original.version)).await;
    assert!(
        matches!(err, Err(StoreError::Conflict { current }) if current == updated.version),
        "{err:?}"
    );
    assert_eq!(s.get_account("a").await.unwrap(), updated);
    // Without an expected version the edit applies.
    let renamed = s.update_account("a", stale, None).await.unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.version),
        ("stale", updated.version + 1)
    );
    // An empty patch still bumps the version.
    let touched = s
        .update_account("a", AccountPatch::default(), None)
        .await
        .unwrap();
    assert_eq!(touched.version, renamed.version + 1);
    let err = s
        .update_account("missing", AccountPatch::default(), Some(1))
        .await;
    assert!(matches!(err, Err(StoreError::NotFound)), "{err:?}");
}

async fn delete_account_removes_it(s: &Store) {
    s.put_account(account("a", "c", json!({"t": 1}))).await.unwrap();
    s.put_account(account("b", "c", json!({}))).await.unwrap();
    s.delete_account("a").await.unwrap();
    assert!(matches!(s.get_account("a").await, Err(StoreError::NotFound)));
    assert!(matches!(s.delete_account("a").await, Err(StoreError::NotFound)));
    assert!(matches!(
        s.merge_credentials("a", Map::new()).await,
        Err(StoreError::NotFound)
    ));
    let left: Vec<_> = s.list_accounts(Some("c")).await.unwrap();
    assert_eq!(left.iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["b"]);
    assert_eq!(s.list_accounts(None).await.unwrap().len(), 1);
    // Re-creating starts afresh: no stale credentials, version 1.
    let again = s.put_account(account("a", "c", json!({}))).await.unwrap();
    assert_eq!(again.version, 1);
    assert!(s.get_account("a").await.unwrap().credentials.is_empty());
}

async fn models_seed_once(s: &Store) {
    assert!(s.list_models().await.unwrap().is_empty());
    let seed = vec![model("warp", "m2"), model("orchids", "m1"), model("warp", "m1")];
    assert_eq!(s.seed_models(seed.clone()).await.unwrap(), 3);
    let mut changed = model("warp", "m1");
    changed.upstream_name = "changed".into();
    // Seeding again inserts only the new model; seeded ones are not overwritten.
    let again = vec![changed, model("warp", "m3")];
    assert_eq!(s.seed_models(again).await.unwrap(), 1);
    let listed = s.list_models().await.unwrap();
    let keys: Vec<_> = listed
        .iter()
        .map(|m| (m.channel.as_str(), m.id.as_str()))
        .collect();
    assert_eq!(
        keys,
        [("orchids", "m1"), ("warp", "m1"), ("warp", "m2"), ("warp", "m3")]
    );
    assert_eq!(listed[1], seed[2]);
}

async fn concurrent_merges_all_survive(s: &Store) {
    s.put_account(account("a", "c", json!({}))).await.unwrap();
    let merges = (0..50).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            s.merge_credentials("a", object(json!({format!("f{i}"): i})))
                .await
        })
    });
    for m in futures::future::join_all(merges).await {
        m.unwrap().unwrap();
    }
    let stored = s.get_account("a").await.unwrap();
    assert_eq!(stored.credentials.len(), 50);
    for i in 0..50 {
        assert_eq!(stored.credentials[&format!("f{i}")], json!(i));
    }
    assert_eq!(stored.version, 51);
}

async fn concurrent_sets_never_exceed_quota(s: &Store) {
    let quota = KvQuota {
        max_keys: 10,
        max_value_bytes: 64,
    };
    let sets = (0..50).map(|i| {
        let s = s.clone();
        tokio::spawn(async move { s.kv_set("ns", &format!("k{i}"), b"v".to_vec(), None, quota).await })
    });
    let results = futures::future::join_all(sets).await;
    let stored = results.into_iter().filter(|r| matches!(r, Ok(Ok(())))).count();
    assert_eq!(stored, 10);
    assert_eq!(s.kv_len("ns").await.unwrap(), 10);
}

#[tokio::test]
async fn store_open_picks_the_backend() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::config::StoreConfig {
        data_dir: dir.path().join("data"),
        redis_url: None,
    };
    assert!(matches!(Store::open(&config).await.unwrap(), Store::Embedded(_)));
    let Some(server) = TestRedis::start() else { return };
    config.redis_url = Some(server.url());
    let store = Store::open(&config).await.unwrap();
    assert!(matches!(store, Store::Redis(_)));
    store.ping().await.unwrap();
}

#[tokio::test]
async fn redis_open_failure_names_the_url_but_not_the_password() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://user:hunter2@127.0.0.1:{port}/0");
    let started = Instant::now();
    let Err(StoreError::Unavailable(msg)) = RedisStore::open(&url).await else {
        panic!("opening a closed port must fail");
    };
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    assert_eq!(super::redis::redacted("not a url"), "<unparseable URL>");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_fails_fast_then_recovers() {
    let Some(mut server) = TestRedis::start() else {
        return;
    };
    let store = Store::Redis(Arc::new(RedisStore::open(&server.url()).await.unwrap()));
    store.kv_set("ns", "k", b"v".to_vec(), None, QUOTA).await.unwrap();
    store.put_account(account("a", "c", json!({}))).await.unwrap();

    server.kill();
    for _ in 0..3 {
        let started = Instant::now();
        let results = [
            store.ping().await.err(),
            store.kv_get("ns", "k").await.err(),
            store.kv_set("ns", "k", b"v".to_vec(), None, QUOTA).await.err(),
            store.get_account("a").await.err(),
            store.merge_credentials("a", Map::new()).await.err(),
        ];
        for r in results {
            assert!(matches!(r, Some(StoreError::Unavailable(_))), "{r:?}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
    }

    server.restart();
    // The connection manager reconnects on the next calls; `/readyz` polls just like this.
    let deadline = Instant::now() + Duration::from_secs(5);
    while store.ping().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "ping never recovered after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The restarted server is empty (it never persists); the store works again.
    assert_eq!(store.kv_get("ns", "k").await.unwrap(), None);
    store
        .kv_set("ns", "k", b"again".to_vec(), None, QUOTA)
        .await
        .unwrap();
    assert_eq!(store.kv_get("ns", "k").await.unwrap(), Some(b"again".to_vec()));
    assert_eq!(
        store
            .put_account(account("a", "c", json!({})))
            .await
            .unwrap()
            .version,
        1
    );
}
