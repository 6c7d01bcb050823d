//! Runs each test against every backend, and the fixtures the tests share.
//!
//! The databases come from `onboard_store::testing`: SQLite always, the in-memory store
//! always, PostgreSQL whenever reachable (and always when `CI` or `ONBOARD_REQUIRE_PG` is
//! set), each dropped afterwards. Tests that need a database other processes can open (a
//! second connection, SQL, query plans) run on [`for_each_shared_backend`], without the
//! in-memory store.

use futures::FutureExt;
use onboard_core::event::NewEvent;
use onboard_core::state::{AccountState, Decisions, NewMessage, NewTimer};
use onboard_core::{Duration, EventType, Timestamp};
use onboard_store::postgres::PgStore;
use onboard_store::sqlite::SqliteStore;
use onboard_store::testing::TestDatabase;
use onboard_store::{Lease, Now, ProcessedBatch, Store};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// One backend's fresh database, migrated.
pub struct Db {
    pub store: Arc<dyn Store>,
    /// `sqlite`, `postgres` or `memory`.
    pub backend: &'static str,
    pub url: String,
}

impl Db {
    /// Another store on the same database: a second connection. The in-memory store has
    /// none (connecting to `memory:` makes a new, empty store), so its tests never ask.
    pub async fn reopen(&self) -> Arc<dyn Store> {
        assert_ne!(
            self.backend, "memory",
            "the in-memory store cannot be reopened: use for_each_shared_backend"
        );
        onboard_store::connect(&self.url).await.unwrap()
    }

    /// A second node racing this one: a second connection to the same database, or on the
    /// in-memory store, which lives in this process only, another handle on the same store
    /// (its nodes are tasks of one process, serialised by its lock).
    pub async fn another_node(&self) -> Arc<dyn Store> {
        match self.backend {
            "memory" => self.store.clone(),
            _ => self.reopen().await,
        }
    }

    /// The backend's plan for the timer claim.
    pub async fn explain_claim_due_timers(&self) -> String {
        match self.backend {
            "sqlite" => SqliteStore::connect(&self.url)
                .await
                .unwrap()
                .explain_claim_due_timers()
                .await
                .unwrap(),
            _ => PgStore::connect(&self.url)
                .await
                .unwrap()
                .explain_claim_due_timers()
                .await
                .unwrap(),
        }
    }
}

/// Runs `test` against a fresh SQLite database, a fresh in-memory store, then a fresh
/// PostgreSQL database.
pub async fn for_each_backend<F, Fut>(test: F)
where
    F: Fn(Db) -> Fut,
    Fut: Future<Output = ()>,
{
    run(TestDatabase::sqlite().unwrap(), &test).await;
    run(TestDatabase::memory(), &test).await;
    with_postgres(test).await;
}

/// Runs `test` against a fresh SQLite database, then a fresh PostgreSQL one: the backends
/// whose database outlives a store (another connection can open it, SQL can reach it). Not
/// the in-memory store, whose tables are its own.
pub async fn for_each_shared_backend<F, Fut>(test: F)
where
    F: Fn(Db) -> Fut,
    Fut: Future<Output = ()>,
{
    run(TestDatabase::sqlite().unwrap(), &test).await;
    with_postgres(test).await;
}

/// Runs `test` against a fresh PostgreSQL database, if a server is reachable.
pub async fn with_postgres<F, Fut>(test: F)
where
    F: Fn(Db) -> Fut,
    Fut: Future<Output = ()>,
{
    if let Some(db) = TestDatabase::postgres().await {
        run(db, &test).await;
    }
}

async fn run<F, Fut>(db: TestDatabase, test: &F)
where
    F: Fn(Db) -> Fut,
    Fut: Future<Output = ()>,
{
    let store = onboard_store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let outcome = AssertUnwindSafe(test(Db {
        store,
        backend: db.backend,
        url: db.url.clone(),
    }))
    .catch_unwind()
    .await;
    let backend = db.backend;
    db.finish().await;
    if let Err(panic) = outcome {
        eprintln!("(the failure above is on {backend})");
        std::panic::resume_unwind(panic);
    }
}

// ---- fixtures ----

/// 2026-01-01T00:00:00Z: the tests' clock starts here.
pub const T0: Timestamp = Timestamp(1_767_225_600_000);

pub const SECOND: i64 = 1_000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;

/// T0 plus `ms` milliseconds.
pub fn at(ms: i64) -> Timestamp {
    Timestamp(T0.0 + ms)
}

/// The manual clock at T0 plus `ms`.
pub fn now(ms: i64) -> Now {
    Now::Manual(at(ms))
}

pub fn event(key: &str, kind: &str, account: &str, when: Timestamp) -> NewEvent {
    NewEvent {
        key: key.to_owned(),
        kind: EventType::parse(kind).unwrap(),
        account: account.to_owned(),
        at: when,
        data: serde_json::json!({ "key": key, "nested": { "n": 1 } }),
    }
}

pub fn account(id: &str, when: Timestamp) -> AccountState {
    let mut account = AccountState::new(id, "v1", when);
    account.name = format!("{id} Inc.");
    account.csm = Some("csm@example.com".to_owned());
    account
}

pub fn timer(id: &str, account: &str, rule: &str, due_at: Timestamp) -> NewTimer {
    NewTimer {
        id: id.to_owned(),
        account: account.to_owned(),
        rule: rule.to_owned(),
        due_at,
        since_at: T0,
        program_version: "v1".to_owned(),
    }
}

pub fn message(id: &str, account: &str) -> NewMessage {
    NewMessage {
        id: id.to_owned(),
        account: account.to_owned(),
        channel: "email".to_owned(),
        to_email: "ada@example.com".to_owned(),
        to_name: "Ada".to_owned(),
        from_email: "csm@example.com".to_owned(),
        from_name: "Grace".to_owned(),
        subject: format!("Welcome ({id})"),
        body: "Hello".to_owned(),
        message_id: format!("<{id}@onboard.test>"),
        rule: "welcome".to_owned(),
        cause: "e1".to_owned(),
        sign_in_email: None,
        calendar: None,
    }
}

/// The processor lease for `holder` on the manual clock at T0 + `ms`.
pub async fn lease(store: &dyn Store, holder: &str, ms: i64) -> Lease {
    store
        .acquire_lease("processor", holder, now(ms), Duration(HOUR))
        .await
        .unwrap()
        .unwrap()
}

/// Commits decisions under a fresh processor lease, processed at `when`.
pub async fn commit(store: &dyn Store, when: Timestamp, decisions: Decisions) {
    let lease = lease(store, "node-a", when.0 - T0.0).await;
    store
        .commit_batch(
            &lease,
            &ProcessedBatch {
                processed: Vec::new(),
                handled: Vec::new(),
                processed_at: when,
                decisions,
                ..ProcessedBatch::default()
            },
        )
        .await
        .unwrap();
}

/// Writes accounts' states, as the processor would.
pub async fn add_accounts(store: &dyn Store, accounts: Vec<AccountState>) {
    let lease = lease(store, "node-a", 0).await;
    store
        .commit_batch(
            &lease,
            &ProcessedBatch {
                processed_at: T0,
                accounts,
                ..ProcessedBatch::default()
            },
        )
        .await
        .unwrap();
}

/// Writes pending timers, as the processor would.
pub async fn add_timers(store: &dyn Store, timers: Vec<NewTimer>) {
    commit(
        store,
        T0,
        Decisions {
            timers,
            ..Decisions::default()
        },
    )
    .await;
}

/// Writes queued messages, first attempt due at `when`.
pub async fn add_messages(store: &dyn Store, when: Timestamp, messages: Vec<NewMessage>) {
    commit(
        store,
        when,
        Decisions {
            messages,
            ..Decisions::default()
        },
    )
    .await;
}
