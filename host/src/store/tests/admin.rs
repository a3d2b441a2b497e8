//! Settings, admin sessions and failure-only rate counting, against every backend.

use std::time::Duration;

use crate::store::Store;

async fn settings_compare_and_set(store: &Store) {
    assert_eq!(store.setting_get("s").await.unwrap(), None);
    assert!(store.setting_swap("s", None, "one").await.unwrap());
    assert!(!store.setting_swap("s", None, "two").await.unwrap(), "init twice");
    assert!(!store.setting_swap("s", Some("stale"), "two").await.unwrap());
    assert_eq!(store.setting_get("s").await.unwrap().as_deref(), Some("one"));
    assert!(store.setting_swap("s", Some("one"), "two").await.unwrap());
    assert_eq!(store.setting_get("s").await.unwrap().as_deref(), Some("two"));
    assert_eq!(store.setting_get("other").await.unwrap(), None);
}

/// Of many racing initialisations exactly one wins (the generated admin password relies on it).
async fn settings_init_race_has_one_winner(store: &Store) {
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.setting_swap("race", None, &i.to_string()).await.unwrap()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap());
    }
    assert_eq!(winners, 1);
}

async fn sessions_expire_and_can_be_deleted(store: &Store) {
    store.session_create("h1", Duration::from_secs(60)).await.unwrap();
    store
        .session_create("h2", Duration::from_millis(150))
        .await
        .unwrap();
    assert!(store.session_valid("h1").await.unwrap());
    assert!(store.session_valid("h2").await.unwrap());
    assert!(!store.session_valid("nope").await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!store.session_valid("h2").await.unwrap(), "expired");
    store.session_delete("h1").await.unwrap();
    assert!(!store.session_valid("h1").await.unwrap(), "logged out");
    store.session_delete("h1").await.unwrap();
}

async fn rate_count_reads_without_counting(store: &Store) {
    let w = Duration::from_secs(3600);
    assert_eq!(store.rate_count("b", w).await.unwrap(), 0);
    store.rate_hit("b", w).await.unwrap();
    store.rate_hit("b", w).await.unwrap();
    assert_eq!(store.rate_count("b", w).await.unwrap(), 2);
    assert_eq!(store.rate_count("b", w).await.unwrap(), 2);
    assert_eq!(store.rate_count("other", w).await.unwrap(), 0);
}

suite!(
    settings_compare_and_set,
    settings_init_race_has_one_winner,
    sessions_expire_and_can_be_deleted,
    rate_count_reads_without_counting,
);
