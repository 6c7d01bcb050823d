//! Migrations, connection URLs and the query plans the store's speed depends on.

use crate::harness::{account, at, for_each_backend, lease, HOUR};
use onboard_store::{ProcessedBatch, StoreError};

#[tokio::test]
async fn migrations_are_idempotent() {
    for_each_backend(|db| async move {
        let store = db.store.clone();
        let lease = lease(&*store, "node-a", 0).await;
        let batch = ProcessedBatch {
            accounts: vec![account("acme", at(0))],
            ..ProcessedBatch::default()
        };
        store.commit_batch(&lease, &batch).await.unwrap();
        store.migrate().await.unwrap();
        db.reopen().await.migrate().await.unwrap();
        store.ping().await.unwrap();
        assert!(
            store.account("acme").await.unwrap().is_some(),
            "data survives"
        );
    })
    .await;
}

#[tokio::test]
async fn timer_claim_uses_the_due_time_index() {
    for_each_backend(|db| async move {
        let plan = db.explain_claim_due_timers().await;
        let uses_index = match db.backend {
            "sqlite" => plan.contains("USING INDEX timers_pending_due (due_at<?)"),
            _ => plan.contains("Index Scan using timers_pending_due on timers"),
        };
        assert!(uses_index, "{} plan:\n{plan}", db.backend);
        assert!(!plan.contains("Seq Scan"), "{plan}");
    })
    .await;
}

#[tokio::test]
async fn the_url_scheme_picks_the_backend() {
    let dir = tempfile::tempdir().unwrap();
    let relative_to_nothing = format!("sqlite://{}", dir.path().join("new.db").display());
    let store = onboard_store::connect(&relative_to_nothing).await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    store.migrate().await.unwrap();
    assert!(dir.path().join("new.db").exists(), "created when missing");

    let memory = onboard_store::connect("sqlite::memory:").await.unwrap();
    memory.migrate().await.unwrap();
    memory
        .save_program_version("v1", "{}", at(HOUR))
        .await
        .unwrap();
    assert_eq!(
        memory.program_source("v1").await.unwrap().as_deref(),
        Some("{}")
    );

    let refused = onboard_store::connect("mysql://localhost/onboard").await;
    assert!(matches!(refused, Err(StoreError::UnsupportedUrl(_))));
}
