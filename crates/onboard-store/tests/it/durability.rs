//! SQLite's flushes. Whatever must survive a power cut is flushed to disk at its own commit
//! (`synchronous=FULL`). Derived writes — the processor's batches, timer claims and timer
//! firings — follow from what is already durable, so they commit without a flush of their
//! own (`NORMAL`) and are flushed with the next durable commit; whatever happens to them,
//! the next durable write flushes. A scratch database (simulations) never flushes.

use crate::harness::{account, add_timers, at, event, lease, now, timer, HOUR, MINUTE};
use onboard_core::Duration;
use onboard_store::sqlite::SqliteStore;
use onboard_store::testing::TestDatabase;
use onboard_store::{ProcessedBatch, Store, StoreError};

/// `PRAGMA synchronous`: 0 is OFF, 1 is NORMAL, 2 is FULL.
const OFF: i64 = 0;
const NORMAL: i64 = 1;
const FULL: i64 = 2;

async fn open(db: &TestDatabase) -> SqliteStore {
    let store = SqliteStore::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

#[tokio::test]
async fn derived_writes_commit_without_a_flush_and_durable_writes_with_one() {
    let db = TestDatabase::sqlite().unwrap();
    let store = open(&db).await;

    // A processor batch.
    add_timers(
        &store,
        vec![
            timer("t1", "acme", "r", at(HOUR)),
            timer("t2", "globex", "r", at(HOUR)),
        ],
    )
    .await;
    assert_eq!(store.last_direct_synchronous().unwrap(), NORMAL);

    // Timer claims, both kinds, and a firing.
    let claims = store
        .claim_earliest_timers("a", now(2 * HOUR), Duration(MINUTE), 1)
        .await
        .unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(store.last_direct_synchronous().unwrap(), NORMAL);
    let mut claims = claims;
    claims.extend(
        store
            .claim_due_timers("a", now(2 * HOUR), Duration(MINUTE), 10)
            .await
            .unwrap(),
    );
    assert_eq!(claims.len(), 2);
    let fired: Vec<_> = claims
        .iter()
        .map(|c| {
            let key = format!("timer:{}", c.id);
            (c.clone(), event(&key, "timer.fired", &c.account, c.due_at))
        })
        .collect();
    assert_eq!(
        store.fire_timers("a", &fired, at(2 * HOUR)).await.unwrap(),
        2
    );
    assert_eq!(store.last_direct_synchronous().unwrap(), NORMAL);

    // The durable writes in between flush.
    store
        .append_events(&[event("e1", "deal.won", "acme", at(HOUR))], at(HOUR))
        .await
        .unwrap();
    assert_eq!(store.last_direct_synchronous().unwrap(), FULL);
    // The writes that go through sqlx always flush.
    assert_eq!(store.writer_synchronous().await.unwrap(), FULL);
    db.finish().await;
}

#[tokio::test]
async fn a_derived_write_that_fails_writes_nothing_and_the_next_durable_write_flushes() {
    let db = TestDatabase::sqlite().unwrap();
    let store = open(&db).await;
    let held = lease(&store, "node-a", 0).await;
    let stale = onboard_store::Lease {
        epoch: held.epoch + 1,
        ..held
    };
    let batch = ProcessedBatch {
        accounts: vec![account("acme", at(0))],
        ..ProcessedBatch::default()
    };
    let refused = store.commit_batch(&stale, &batch).await;
    assert!(
        matches!(refused, Err(StoreError::LeaseLost(_))),
        "{refused:?}"
    );
    assert!(
        store.account("acme").await.unwrap().is_none(),
        "nothing written"
    );
    store
        .append_events(&[event("e1", "deal.won", "acme", at(HOUR))], at(HOUR))
        .await
        .unwrap();
    assert_eq!(store.last_direct_synchronous().unwrap(), FULL);
    db.finish().await;
}

#[tokio::test]
async fn a_scratch_database_never_flushes() {
    let db = TestDatabase::sqlite().unwrap();
    let store = SqliteStore::scratch(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    add_timers(&store, vec![timer("t1", "acme", "r", at(HOUR))]).await;
    assert_eq!(store.last_direct_synchronous().unwrap(), OFF);
    store
        .append_events(&[event("e1", "deal.won", "acme", at(HOUR))], at(HOUR))
        .await
        .unwrap();
    assert_eq!(store.last_direct_synchronous().unwrap(), OFF);
    assert_eq!(store.writer_synchronous().await.unwrap(), OFF);
    db.finish().await;
}

#[tokio::test]
async fn an_in_memory_database_is_one_database_for_the_direct_writes_and_the_pools() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    // Appended on the direct connection, read through the pool.
    store
        .append_events(&[event("e1", "deal.won", "acme", at(HOUR))], at(HOUR))
        .await
        .unwrap();
    let waiting = store.unprocessed_events(10).await.unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].key, "e1");
    // Nothing to flush to.
    assert_eq!(store.last_direct_synchronous().unwrap(), OFF);
}
