//! Two nodes on one PostgreSQL database handing the processor lease back and forth: a node
//! keeps the account states it committed between batches, and must never decide on one
//! another node has changed since. Each event here counts itself on the account
//! (`AccountState::seen`), so a decision made on a stale state shows as a lost count.

#![allow(clippy::unwrap_used)]

use onboard_core::{EventType, NewEvent, Timestamp};
use onboard_engine::clock::ManualClock;
use onboard_engine::mail::DevMailbox;
use onboard_engine::{Engine, EngineConfig};
use onboard_store::testing::TestDatabase;
use serde_json::json;
use std::sync::Arc;

const T0: Timestamp = Timestamp(1_767_225_600_000);
const SECOND: i64 = 1_000;

async fn node(
    db: &TestDatabase,
    name: &str,
    clock: Arc<ManualClock>,
    mailbox: &std::path::Path,
) -> Arc<Engine> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../program");
    let source = onboard_engine::read_program_dir(&dir).unwrap();
    let program = onboard_core::program::load(&source).unwrap();
    let store = onboard_store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    Engine::start(
        EngineConfig::new(name, "https://onboard.test"),
        store,
        clock,
        Arc::new(DevMailbox::new(&mailbox.join(name))),
        program,
        &source,
    )
    .await
    .unwrap()
}

fn note(n: i64) -> NewEvent {
    NewEvent {
        key: format!("note-{n}"),
        kind: EventType::parse("note.added").unwrap(),
        account: "acme".to_owned(),
        at: T0.plus(onboard_core::Duration(n * 60 * SECOND)),
        data: json!({ "n": n }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_taking_the_lease_back_decides_on_what_the_other_node_committed() {
    let Some(db) = TestDatabase::postgres().await else {
        eprintln!("no PostgreSQL: skipped");
        return;
    };
    let mailbox = tempfile::tempdir().unwrap();
    let (clock_a, clock_b) = (
        Arc::new(ManualClock::new(T0)),
        Arc::new(ManualClock::new(T0)),
    );
    let a = node(&db, "node-a", clock_a.clone(), mailbox.path()).await;
    let b = node(&db, "node-b", clock_b.clone(), mailbox.path()).await;

    // A processes the first event and keeps ACME's state.
    a.ingest(vec![note(0)]).await.unwrap();
    a.settle().await.unwrap();
    // A's lease runs out (30 s) without A; B takes it and processes the second.
    clock_b.set(T0.plus(onboard_core::Duration(60 * SECOND)));
    b.ingest(vec![note(1)]).await.unwrap();
    b.settle().await.unwrap();
    // B's lease runs out in turn; A takes the lease back for the third.
    clock_a.set(T0.plus(onboard_core::Duration(120 * SECOND)));
    a.ingest(vec![note(2)]).await.unwrap();
    a.settle().await.unwrap();

    let state = a.store().account("acme").await.unwrap().unwrap();
    assert_eq!(
        state.seen.get("note.added").map(|s| s.n),
        Some(3),
        "every event counted once, none decided on a stale state"
    );
    drop((a, b));
    db.finish().await;
}
