//! The model part of the shared suite: operator writes, versions, and seeding that respects them.

use super::model;
use crate::canonical::ModelKind;
use crate::store::{ModelPatch, Store, StoreError};

suite!(
    models_put_get_update_delete,
    create_model_refuses_an_existing_model,
    seeding_never_overwrites_or_resurrects_operator_models,
    concurrent_model_updates_all_apply,
);

async fn models_put_get_update_delete(s: &Store) {
    let mut m = model("warp", "gpt:4o"); // ids may hold ':'
    m.version = 42; // ignored: the store owns versions
    let created = s.put_model(m.clone()).await.unwrap();
    assert_eq!(created.version, 1);
    assert_eq!(s.get_model("warp", "gpt:4o").await.unwrap(), created);
    assert!(matches!(
        s.get_model("warp", "gpt").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.get_model("orchids", "gpt:4o").await,
        Err(StoreError::NotFound)
    ));

    // Replacing bumps the version.
    m.upstream_name = "replaced".into();
    let replaced = s.put_model(m).await.unwrap();
    assert_eq!(
        (replaced.version, replaced.upstream_name.as_str()),
        (2, "replaced")
    );
    assert_eq!(s.list_models().await.unwrap(), std::slice::from_ref(&replaced));

    let patch = ModelPatch {
        enabled: Some(false),
        display_name: Some(Some("GPT".into())),
        kind: Some(ModelKind::Image),
        ..ModelPatch::default()
    };
    let updated = s.update_model("warp", "gpt:4o", patch, Some(2)).await.unwrap();
    assert_eq!(updated.version, 3);
    assert!(!updated.enabled);
    assert_eq!(updated.display_name.as_deref(), Some("GPT"));
    assert_eq!(updated.kind, ModelKind::Image);
    assert_eq!(
        updated.upstream_name, "replaced",
        "untouched fields keep their values"
    );
    assert_eq!(s.get_model("warp", "gpt:4o").await.unwrap(), updated);

    // A stale version is refused and changes nothing.
    let enable = ModelPatch {
        enabled: Some(true),
        display_name: Some(None),
        ..ModelPatch::default()
    };
    let err = s.update_model("warp", "gpt:4o", enable.clone(), Some(2)).await;
    assert!(matches!(err, Err(StoreError::Conflict { current: 3 })), "{err:?}");
    assert_eq!(s.get_model("warp", "gpt:4o").await.unwrap(), updated);
    // `Some(None)` clears the display name.
    let enabled = s.update_model("warp", "gpt:4o", enable, None).await.unwrap();
    assert_eq!(
        (enabled.enabled, enabled.display_name, enabled.version),
        (true, None, 4)
    );
    let err = s.update_model("warp", "nope", ModelPatch::default(), None).await;
    assert!(matches!(err, Err(StoreError::NotFound)), "{err:?}");

    s.delete_model("warp", "gpt:4o").await.unwrap();
    assert!(matches!(
        s.get_model("warp", "gpt:4o").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.delete_model("warp", "gpt:4o").await,
        Err(StoreError::NotFound)
    ));
    let err = s
        .update_model("warp", "gpt:4o", ModelPatch::default(), None)
        .await;
    assert!(matches!(err, Err(StoreError::NotFound)), "{err:?}");
    assert!(s.list_models().await.unwrap().is_empty());
    // Re-creating starts afresh at version 1.
    assert_eq!(s.put_model(model("warp", "gpt:4o")).await.unwrap().version, 1);
}

async fn create_model_refuses_an_existing_model(s: &Store) {
    let first = s.create_model(model("warp", "m")).await.unwrap();
    assert_eq!(first.version, 1);
    let mut second = model("warp", "m");
    second.upstream_name = "other".into();
    let err = s.create_model(second).await;
    assert!(matches!(err, Err(StoreError::Conflict { current: 1 })), "{err:?}");
    assert_eq!(s.get_model("warp", "m").await.unwrap(), first);
    // The same id on another channel is another model.
    assert_eq!(s.create_model(model("orchids", "m")).await.unwrap().version, 1);
    // Only one of many racing creates wins.
    let creates = (0..10).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            let mut m = model("grok", "raced");
            m.upstream_name = format!("u{i}");
            s.create_model(m).await
        })
    });
    let won = futures::future::join_all(creates)
        .await
        .into_iter()
        .filter(|r| matches!(r, Ok(Ok(_))))
        .count();
    assert_eq!(won, 1);
    assert_eq!(s.get_model("grok", "raced").await.unwrap().version, 1);
}

async fn seeding_never_overwrites_or_resurrects_operator_models(s: &Store) {
    // Seeded models start at version 1.
    assert_eq!(s.seed_models(vec![model("warp", "seeded")]).await.unwrap(), 1);
    assert_eq!(s.get_model("warp", "seeded").await.unwrap().version, 1);

    // An operator's model is never overwritten by a later seed of the same id...
    let mut mine = model("warp", "custom");
    mine.upstream_name = "operator choice".into();
    s.put_model(mine.clone()).await.unwrap();
    let mut theirs = model("warp", "custom");
    theirs.upstream_name = "plugin choice".into();
    assert_eq!(s.seed_models(vec![theirs.clone()]).await.unwrap(), 0);
    assert_eq!(
        s.get_model("warp", "custom").await.unwrap().upstream_name,
        "operator choice"
    );
    // ...nor brought back once deleted, seeded or not.
    s.delete_model("warp", "custom").await.unwrap();
    s.delete_model("warp", "seeded").await.unwrap();
    assert_eq!(
        s.seed_models(vec![theirs, model("warp", "seeded")])
            .await
            .unwrap(),
        0
    );
    assert!(s.list_models().await.unwrap().is_empty());
    // An operator may still re-create one explicitly.
    assert_eq!(s.put_model(model("warp", "seeded")).await.unwrap().version, 1);
}

async fn concurrent_model_updates_all_apply(s: &Store) {
    s.put_model(model("warp", "m")).await.unwrap();
    let updates = (0..20).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            let patch = ModelPatch {
                upstream_name: Some(format!("u{i}")),
                ..ModelPatch::default()
            };
            s.update_model("warp", "m", patch, None).await
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
    assert_eq!(s.get_model("warp", "m").await.unwrap().version, 21);
}
