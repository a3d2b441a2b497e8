//! The API key part of the shared suite: records, hash index, usage and rate windows.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::keys::{ApiKey, KeyPatch, KeyUsage};
use crate::store::{Store, StoreError};

suite!(
    keys_create_get_list_find,
    keys_duplicate_id_or_hash_conflicts,
    update_key_patches_checks_version_and_clears_limit,
    concurrent_key_updates_all_apply,
    delete_key_removes_index_and_usage,
    has_keys_follows_creates_and_deletes,
    concurrent_key_uses_all_count,
    key_usage_survives_update,
    rate_hit_counts_per_window,
    concurrent_rate_hits_are_distinct,
    put_key_upserts_and_moves_the_hash_index,
    concurrent_key_puts_all_apply,
);

pub(in crate::store) fn api_key(id: &str, created_at_ms: u64) -> ApiKey {
    ApiKey {
        id: id.into(),
        name: format!("{id} name"),
        hash: format!("hash-of-{id}"),
        preview: "gwk-abcd…wxyz".into(),
        enabled: true,
        allowed_channels: Vec::new(),
        allowed_models: vec!["m1".into()],
        rate_limit_per_min: Some(60),
        created_at_ms,
        version: 0,
    }
}

fn ids(keys: &[ApiKey]) -> Vec<&str> {
    keys.iter().map(|k| k.id.as_str()).collect()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Waits for the next window when fewer than `needed` ms are left in the current one, so a
/// test's hits all land in one window (windows are aligned to the epoch; Redis runs on this
/// machine, so its clock is ours).
async fn room_in_window(window: Duration, needed: Duration) {
    let (window, needed) = (window.as_millis() as u64, needed.as_millis() as u64);
    let left = window - now_ms() % window;
    if left < needed {
        tokio::time::sleep(Duration::from_millis(left + 5)).await;
    }
}

async fn keys_create_get_list_find(s: &Store) {
    assert!(s.list_keys().await.unwrap().is_empty());
    let mut b = api_key("b", 100);
    b.version = 42; // ignored: the store owns versions
    let b = s.create_key(b).await.unwrap();
    assert_eq!(b.version, 1);
    s.create_key(api_key("a", 200)).await.unwrap();
    s.create_key(api_key("c", 100)).await.unwrap();

    assert_eq!(s.get_key("b").await.unwrap(), b);
    assert!(matches!(s.get_key("nope").await, Err(StoreError::NotFound)));
    // Oldest first, ties by id.
    assert_eq!(ids(&s.list_keys().await.unwrap()), ["b", "c", "a"]);

    assert_eq!(s.find_key_by_hash("hash-of-b").await.unwrap(), Some(b));
    assert_eq!(s.find_key_by_hash("hash-of-a").await.unwrap().unwrap().id, "a");
    assert_eq!(s.find_key_by_hash("hash-of-nope").await.unwrap(), None);
}

async fn keys_duplicate_id_or_hash_conflicts(s: &Store) {
    let original = s.create_key(api_key("a", 1)).await.unwrap();
    let mut same_id = api_key("a", 2);
    same_id.hash = "another hash".into();
    let err = s.create_key(same_id).await;
    assert!(matches!(err, Err(StoreError::Conflict { current: 0 })), "{err:?}");
    let mut same_hash = api_key("b", 2);
    same_hash.hash = original.hash.clone();
    let err = s.create_key(same_hash).await;
    assert!(matches!(err, Err(StoreError::Conflict { current: 0 })), "{err:?}");

    // Refused creates leave nothing behind.
    assert_eq!(s.get_key("a").await.unwrap(), original);
    assert!(matches!(s.get_key("b").await, Err(StoreError::NotFound)));
    assert_eq!(s.find_key_by_hash("another hash").await.unwrap(), None);
    assert_eq!(ids(&s.list_keys().await.unwrap()), ["a"]);
}

async fn update_key_patches_checks_version_and_clears_limit(s: &Store) {
    let original = s.create_key(api_key("a", 1)).await.unwrap();
    let patch = KeyPatch {
        enabled: Some(false),
        allowed_channels: Some(vec!["warp".into()]),
        ..KeyPatch::default()
    };
    let updated = s.update_key("a", patch, Some(1)).await.unwrap();
    assert_eq!(updated.version, 2);
    assert!(!updated.enabled);
    assert_eq!(updated.allowed_channels, ["warp"]);
    // Untouched fields keep their values.
    assert_eq!(updated.name, "a name");
    assert_eq!(updated.allowed_models, ["m1"]);
    assert_eq!(updated.rate_limit_per_min, Some(60));
    assert_eq!(
        (&updated.hash, &updated.preview, updated.created_at_ms),
        (&original.hash, &original.preview, 1)
    );
    assert_eq!(s.get_key("a").await.unwrap(), updated);

    // A stale version is refused and changes nothing.
    let rename = KeyPatch {
        name: Some("renamed".into()),
        ..KeyPatch::default()
    };
    let err = s.update_key("a", rename.clone(), Some(1)).await;
    assert!(matches!(err, Err(StoreError::Conflict { current: 2 })), "{err:?}");
    assert_eq!(s.get_key("a").await.unwrap(), updated);
    let renamed = s.update_key("a", rename, None).await.unwrap();
    assert_eq!((renamed.name.as_str(), renamed.version), ("renamed", 3));

    // `Some(None)` clears the limit, `Some(Some(n))` sets it, an empty list allows everything.
    let cleared = KeyPatch {
        rate_limit_per_min: Some(None),
        allowed_channels: Some(Vec::new()),
        ..KeyPatch::default()
    };
    let cleared = s.update_key("a", cleared, Some(3)).await.unwrap();
    assert_eq!(cleared.rate_limit_per_min, None);
    assert!(cleared.allowed_channels.is_empty());
    assert_eq!(s.get_key("a").await.unwrap(), cleared);
    let limited = KeyPatch {
        rate_limit_per_min: Some(Some(5)),
        ..KeyPatch::default()
    };
    assert_eq!(
        s.update_key("a", limited, None).await.unwrap().rate_limit_per_min,
        Some(5)
    );
    // An empty patch still bumps the version; the hash index follows the record.
    let touched = s.update_key("a", KeyPatch::default(), None).await.unwrap();
    assert_eq!(touched.version, 6);
    assert_eq!(s.find_key_by_hash(&original.hash).await.unwrap(), Some(touched));

    let err = s.update_key("missing", KeyPatch::default(), Some(1)).await;
    assert!(matches!(err, Err(StoreError::NotFound)), "{err:?}");
    let err = s.update_key("missing", KeyPatch::default(), None).await;
    assert!(matches!(err, Err(StoreError::NotFound)), "{err:?}");
}

async fn concurrent_key_updates_all_apply(s: &Store) {
    s.create_key(api_key("a", 1)).await.unwrap();
    let updates = (0..20).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            let patch = KeyPatch {
                name: Some(format!("n{i}")),
                ..KeyPatch::default()
            };
            s.update_key("a", patch, None).await
        })
    });
    let mut versions: Vec<u64> = futures::future::join_all(updates)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap().version)
        .collect();
    versions.sort_unstable();
    // Every edit applied exactly once, each on top of the previous one.
    assert_eq!(versions, (2..=21).collect::<Vec<_>>());
    assert_eq!(s.get_key("a").await.unwrap().version, 21);
}

async fn delete_key_removes_index_and_usage(s: &Store) {
    let a = s.create_key(api_key("a", 1)).await.unwrap();
    s.create_key(api_key("b", 2)).await.unwrap();
    s.record_key_use("a", 1_000).await.unwrap();
    s.delete_key("a").await.unwrap();

    assert!(matches!(s.get_key("a").await, Err(StoreError::NotFound)));
    assert_eq!(s.find_key_by_hash(&a.hash).await.unwrap(), None);
    assert_eq!(s.key_usage("a").await.unwrap(), KeyUsage::default());
    assert_eq!(ids(&s.list_keys().await.unwrap()), ["b"]);
    assert!(matches!(s.delete_key("a").await, Err(StoreError::NotFound)));
    let err = s.update_key("a", KeyPatch::default(), None).await;
    assert!(matches!(err, Err(StoreError::NotFound)), "{err:?}");
    // A use racing the delete counts nothing and leaves nothing behind.
    assert!(matches!(
        s.record_key_use("a", 2_000).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.key_usage("a").await.unwrap(), KeyUsage::default());

    // The id and the hash are free again; the new key starts afresh.
    let again = s.create_key(api_key("a", 3)).await.unwrap();
    assert_eq!(again.version, 1);
    assert_eq!(s.find_key_by_hash(&a.hash).await.unwrap(), Some(again));
    assert_eq!(s.key_usage("a").await.unwrap(), KeyUsage::default());
}

async fn has_keys_follows_creates_and_deletes(s: &Store) {
    assert!(!s.has_keys().await.unwrap());
    s.create_key(api_key("a", 1)).await.unwrap();
    assert!(s.has_keys().await.unwrap());
    // Disabled keys count too.
    let disable = KeyPatch {
        enabled: Some(false),
        ..KeyPatch::default()
    };
    s.update_key("a", disable, None).await.unwrap();
    assert!(s.has_keys().await.unwrap());
    s.delete_key("a").await.unwrap();
    assert!(!s.has_keys().await.unwrap());
}

async fn concurrent_key_uses_all_count(s: &Store) {
    s.create_key(api_key("a", 1)).await.unwrap();
    s.create_key(api_key("b", 2)).await.unwrap();
    assert_eq!(s.key_usage("a").await.unwrap(), KeyUsage::default());
    let uses = (0..100).map(|i| {
        let s = s.clone();
        tokio::spawn(async move { s.record_key_use("a", 1_000 + i).await })
    });
    for r in futures::future::join_all(uses).await {
        r.unwrap().unwrap();
    }
    let usage = s.key_usage("a").await.unwrap();
    assert_eq!(usage.requests, 100);
    // Uses run in any order; the last one to run wins.
    assert!(
        usage.last_used_ms.is_some_and(|t| (1_000..1_100).contains(&t)),
        "{usage:?}"
    );
    assert_eq!(s.key_usage("b").await.unwrap(), KeyUsage::default());
    assert_eq!(s.key_usage("never-created").await.unwrap(), KeyUsage::default());
}

async fn key_usage_survives_update(s: &Store) {
    s.create_key(api_key("a", 1)).await.unwrap();
    s.record_key_use("a", 5_000).await.unwrap();
    s.record_key_use("a", 6_000).await.unwrap();
    let patch = KeyPatch {
        name: Some("renamed".into()),
        rate_limit_per_min: Some(None),
        ..KeyPatch::default()
    };
    s.update_key("a", patch, Some(1)).await.unwrap();
    let want = KeyUsage {
        requests: 2,
        last_used_ms: Some(6_000),
    };
    assert_eq!(s.key_usage("a").await.unwrap(), want);
    s.record_key_use("a", 7_000).await.unwrap();
    assert_eq!(s.key_usage("a").await.unwrap().requests, 3);
    assert_eq!(
        s.get_key("a").await.unwrap().version,
        2,
        "uses do not bump the version"
    );
}

async fn rate_hit_counts_per_window(s: &Store) {
    let window = Duration::from_millis(200);
    room_in_window(window, Duration::from_millis(150)).await;
    for want in 1..=3 {
        assert_eq!(s.rate_hit("key:a", window).await.unwrap(), want);
    }
    // Buckets are independent.
    assert_eq!(s.rate_hit("key:b", window).await.unwrap(), 1);
    tokio::time::sleep(window + Duration::from_millis(20)).await;
    // A new window starts from one.
    assert_eq!(s.rate_hit("key:a", window).await.unwrap(), 1);
}

async fn concurrent_rate_hits_are_distinct(s: &Store) {
    let window = Duration::from_secs(10);
    room_in_window(window, Duration::from_secs(3)).await;
    let hits = (0..50).map(|_| {
        let s = s.clone();
        tokio::spawn(async move { s.rate_hit("key:a", window).await })
    });
    let mut counts: Vec<u64> = futures::future::join_all(hits)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=50).collect::<Vec<_>>());
}

async fn put_key_upserts_and_moves_the_hash_index(s: &Store) {
    let mut a = api_key("a", 1);
    a.version = 42; // ignored: the store owns versions
    let created = s.put_key(a.clone()).await.unwrap();
    assert_eq!(created.version, 1, "a new key starts at version 1");
    assert_eq!(s.find_key_by_hash(&a.hash).await.unwrap(), Some(created));
    s.record_key_use("a", 1_000).await.unwrap();

    // The same record again: replaced in place, never duplicated.
    a.name = "renamed".into();
    let replaced = s.put_key(a.clone()).await.unwrap();
    assert_eq!((replaced.version, replaced.name.as_str()), (2, "renamed"));
    assert_eq!(ids(&s.list_keys().await.unwrap()), ["a"]);
    assert_eq!(s.get_key("a").await.unwrap(), replaced);

    // A new hash moves the index entry: the old hash stops resolving.
    let old_hash = a.hash.clone();
    a.hash = "rotated hash".into();
    let rotated = s.put_key(a.clone()).await.unwrap();
    assert_eq!(rotated.version, 3);
    assert_eq!(s.find_key_by_hash(&old_hash).await.unwrap(), None);
    assert_eq!(
        s.find_key_by_hash("rotated hash").await.unwrap(),
        Some(rotated.clone())
    );
    assert_eq!(s.key_usage("a").await.unwrap().requests, 1, "usage is kept");

    // Another key may not take a hash in use; nothing changes.
    let mut thief = api_key("b", 2);
    thief.hash = "rotated hash".into();
    let err = s.put_key(thief).await;
    assert!(matches!(err, Err(StoreError::Conflict { current: 0 })), "{err:?}");
    assert!(matches!(s.get_key("b").await, Err(StoreError::NotFound)));
    assert_eq!(s.find_key_by_hash("rotated hash").await.unwrap(), Some(rotated));
    // The freed hash is free for anyone.
    let mut reuse = api_key("b", 2);
    reuse.hash = old_hash.clone();
    s.create_key(reuse).await.unwrap();
    assert_eq!(s.find_key_by_hash(&old_hash).await.unwrap().unwrap().id, "b");
    assert!(s.has_keys().await.unwrap());
}

async fn concurrent_key_puts_all_apply(s: &Store) {
    let puts = (0..20).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            let mut key = api_key("a", 1);
            key.name = format!("n{i}");
            s.put_key(key).await
        })
    });
    let mut versions: Vec<u64> = futures::future::join_all(puts)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap().version)
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=20).collect::<Vec<_>>());
    assert_eq!(ids(&s.list_keys().await.unwrap()), ["a"]);
}
