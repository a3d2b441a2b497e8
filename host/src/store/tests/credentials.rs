//! The credential size cap in the shared suite: refused whole, checked atomically with merges.

use serde_json::{Map, Value, json};

use super::{account, object};
use crate::store::{AccountPatch, MAX_CREDENTIALS_BYTES, Store, StoreError, credentials_size};

suite!(
    credentials_over_the_cap_are_refused_and_nothing_is_stored,
    concurrent_merges_never_exceed_the_cap,
);

/// One string field `name` sized so the credentials measure exactly `size` bytes.
fn sized(name: &str, size: usize) -> Map<String, Value> {
    // The value's JSON is the string plus its two quotes.
    let creds = object(json!({ name: "x".repeat(size - name.len() - 2) }));
    assert_eq!(credentials_size(&creds), size);
    creds
}

async fn credentials_over_the_cap_are_refused_and_nothing_is_stored(s: &Store) {
    let mut big = account("big", "c", json!({}));
    big.credentials = sized("token", MAX_CREDENTIALS_BYTES + 1);
    let err = s.put_account(big).await;
    assert!(matches!(err, Err(StoreError::QuotaExceeded(_))), "{err:?}");
    assert!(matches!(s.get_account("big").await, Err(StoreError::NotFound)));

    // Exactly at the cap fits.
    let mut full = account("a", "c", json!({}));
    full.credentials = sized("token", MAX_CREDENTIALS_BYTES);
    let full = s.put_account(full).await.unwrap();

    // A merge that would cross it is refused whole: not even the other fields change.
    let err = s
        .merge_credentials(
            "a",
            object(json!({"more": 1, "token": "x".repeat(MAX_CREDENTIALS_BYTES)})),
        )
        .await;
    let Err(StoreError::QuotaExceeded(msg)) = err else {
        panic!("over the cap: {err:?}")
    };
    assert!(msg.contains(&MAX_CREDENTIALS_BYTES.to_string()), "{msg}");
    let patch = AccountPatch {
        name: Some("renamed".into()),
        credentials: Some(object(json!({"k": true}))),
        ..AccountPatch::default()
    };
    let err = s.update_account("a", patch, None).await;
    assert!(matches!(err, Err(StoreError::QuotaExceeded(_))), "{err:?}");
    assert_eq!(s.get_account("a").await.unwrap(), full, "nothing changed");

    // Replacing or removing a field to make room works in the same merge.
    let merged = s
        .merge_credentials("a", object(json!({"token": "short", "more": 1})))
        .await
        .unwrap();
    assert_eq!(merged.credentials, object(json!({"token": "short", "more": 1})));
    let removed = s
        .merge_credentials("a", object(json!({"token": null, "big": "y".repeat(60_000)})))
        .await
        .unwrap();
    assert_eq!(removed.credentials.len(), 2);
    assert_eq!(removed.version, full.version + 2);
}

async fn concurrent_merges_never_exceed_the_cap(s: &Store) {
    let mut base = account("a", "c", json!({}));
    base.credentials = sized("base", 30_000);
    s.put_account(base).await.unwrap();
    // Each merge fits on its own, but no two fit together.
    let merges = (0..10).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            let field = format!("f{i}");
            s.merge_credentials("a", sized(&field, 30_000)).await
        })
    });
    let results = futures::future::join_all(merges).await;
    let won = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    assert_eq!(won, 1, "exactly one merge fits");
    for r in results {
        let r = r.unwrap();
        assert!(matches!(r, Ok(_) | Err(StoreError::QuotaExceeded(_))), "{r:?}");
    }
    let stored = s.get_account("a").await.unwrap();
    assert_eq!(stored.credentials.len(), 2);
    assert!(credentials_size(&stored.credentials) <= MAX_CREDENTIALS_BYTES);
    assert_eq!(stored.version, 2);
}
