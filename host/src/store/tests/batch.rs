//! The batch part of the shared suite: several records written as one, all or none.

use serde_json::json;

use super::keys::api_key;
use super::{account, model};
use crate::store::{Account, Records, Store, StoreError};

suite!(
    put_records_writes_every_record_and_counts_versions,
    a_refused_batch_writes_nothing,
    a_batch_key_may_take_a_hash_an_earlier_one_gave_up,
);

fn account_ids(accounts: &[Account]) -> Vec<&str> {
    accounts.iter().map(|a| a.id.as_str()).collect()
}

async fn put_records_writes_every_record_and_counts_versions(s: &Store) {
    let records = Records {
        accounts: vec![
            account("a1", "dummy", json!({"token": "t1"})),
            account("a2", "other", json!({})),
        ],
        models: vec![model("dummy", "m1"), model("other", "m2")],
        keys: vec![api_key("k1", 1), api_key("k2", 2)],
    };
    let written = s.put_records(records.clone()).await.unwrap();
    let versions = |r: &Records| -> Vec<u64> {
        let accounts = r.accounts.iter().map(|a| a.version);
        let models = r.models.iter().map(|m| m.version);
        accounts
            .chain(models)
            .chain(r.keys.iter().map(|k| k.version))
            .collect()
    };
    assert_eq!(versions(&written), [1; 6], "new records start at version 1");
    assert_eq!(s.get_account("a1").await.unwrap(), written.accounts[0]);
    assert_eq!(
        account_ids(&s.list_accounts(Some("dummy")).await.unwrap()),
        ["a1"]
    );
    assert_eq!(s.list_models().await.unwrap(), written.models);
    assert_eq!(
        s.find_key_by_hash("hash-of-k2").await.unwrap(),
        Some(written.keys[1].clone())
    );
    s.record_key_use("k1", 5).await.unwrap();

    // The same batch again, one account moved to another channel: replaced, never duplicated.
    let mut again = records;
    again.accounts[0].channel = "other".into();
    let written = s.put_records(again).await.unwrap();
    assert_eq!(versions(&written), [2; 6]);
    assert!(s.list_accounts(Some("dummy")).await.unwrap().is_empty());
    let other = s.list_accounts(Some("other")).await.unwrap();
    assert_eq!(account_ids(&other), ["a1", "a2"]);
    assert_eq!(other[0].credentials, written.accounts[0].credentials);
    assert_eq!(s.list_keys().await.unwrap().len(), 2);
    assert_eq!(s.key_usage("k1").await.unwrap().requests, 1, "usage is kept");

    // A model a batch wrote counts as the operator's: seeding never brings it back.
    s.delete_model("dummy", "m1").await.unwrap();
    assert_eq!(s.seed_models(vec![model("dummy", "m1")]).await.unwrap(), 0);
}

async fn a_refused_batch_writes_nothing(s: &Store) {
    let held = s.create_key(api_key("held", 1)).await.unwrap();
    let before = s
        .put_account(account("a1", "dummy", json!({"token": "old"})))
        .await
        .unwrap();
    let mut thief = api_key("thief", 3);
    thief.hash = held.hash.clone();
    let batch = Records {
        accounts: vec![
            account("a1", "dummy", json!({"token": "new"})),
            account("a2", "dummy", json!({})),
        ],
        models: vec![model("dummy", "m1")],
        keys: vec![api_key("k1", 2), thief],
    };
    let unchanged = |s: &Store| {
        let (s, before) = (s.clone(), before.clone());
        async move {
            assert_eq!(s.get_account("a1").await.unwrap(), before);
            assert!(matches!(s.get_account("a2").await, Err(StoreError::NotFound)));
            assert!(s.list_models().await.unwrap().is_empty());
            assert!(matches!(s.get_key("k1").await, Err(StoreError::NotFound)));
            assert_eq!(s.find_key_by_hash("hash-of-k1").await.unwrap(), None);
            assert_eq!(s.list_keys().await.unwrap().len(), 1);
        }
    };

    // The last key's hash is taken: the records before it do not land either.
    let err = s.put_records(batch.clone()).await;
    assert!(matches!(err, Err(StoreError::Conflict { current: 0 })), "{err:?}");
    unchanged(s).await;

    let mut oversized = batch;
    oversized.keys.pop();
    oversized.accounts[1].credentials = super::object(json!({"k": "x".repeat(70_000)}));
    let err = s.put_records(oversized).await;
    assert!(matches!(err, Err(StoreError::QuotaExceeded(_))), "{err:?}");
    unchanged(s).await;
}

async fn a_batch_key_may_take_a_hash_an_earlier_one_gave_up(s: &Store) {
    let a = s.create_key(api_key("a", 1)).await.unwrap();
    let mut moved = api_key("a", 1);
    moved.hash = "new hash of a".into();
    let mut taker = api_key("b", 2);
    taker.hash.clone_from(&a.hash);

    // In this order `b` asks for a hash that `a` still holds.
    let swapped = Records {
        keys: vec![taker.clone(), moved.clone()],
        ..Records::default()
    };
    let err = s.put_records(swapped).await;
    assert!(matches!(err, Err(StoreError::Conflict { current: 0 })), "{err:?}");
    assert_eq!(s.find_key_by_hash(&a.hash).await.unwrap(), Some(a.clone()));
    assert!(matches!(s.get_key("b").await, Err(StoreError::NotFound)));

    let ordered = Records {
        keys: vec![moved, taker],
        ..Records::default()
    };
    let written = s.put_records(ordered).await.unwrap();
    assert_eq!(written.keys.iter().map(|k| k.version).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(s.find_key_by_hash(&a.hash).await.unwrap().unwrap().id, "b");
    assert_eq!(
        s.find_key_by_hash("new hash of a").await.unwrap().unwrap().id,
        "a"
    );
}

/// Redis reads what a batch replaces; an unreadable key record must stop the batch, or its old
/// hash index entry would outlive it and keep authenticating.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_batch_refuses_to_replace_an_unreadable_key() {
    let Some(server) = crate::test_redis::TestRedis::start() else {
        return;
    };
    let store = crate::store::RedisStore::open(&server.url()).await.unwrap();
    let s = Store::Redis(std::sync::Arc::new(store));
    s.create_key(api_key("a", 1)).await.unwrap();
    let mut raw = ::redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    ::redis::cmd("SET")
        .arg("gateway:apikey:a")
        .arg("{not json")
        .query_async::<()>(&mut raw)
        .await
        .unwrap();

    let mut replacement = api_key("a", 1);
    replacement.hash = "new hash".into();
    let err = s.put_key(replacement).await;
    assert!(matches!(err, Err(StoreError::Corrupt(_))), "{err:?}");
    assert_eq!(s.find_key_by_hash("new hash").await.unwrap(), None);
    let index: Option<String> = ::redis::cmd("GET")
        .arg("gateway:apikey-hash:hash-of-a")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(index.as_deref(), Some("a"), "the old index entry is untouched");
}
