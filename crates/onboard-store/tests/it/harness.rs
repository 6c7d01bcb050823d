//! Runs each test against every backend, and the fixtures the tests share.
//!
//! SQLite always: a new file in a temporary directory. PostgreSQL whenever reachable: a
//! new database `onboard_t_<random>` on the server named by `ONBOARD_TEST_PG_URL`
//! (default `postgres://root@127.0.0.1:5432/postgres`), dropped afterwards. When the
//! server is unreachable the suite says so loudly and runs SQLite only, unless `CI` or
//! `ONBOARD_REQUIRE_PG` is set, in which case it fails.

use futures::FutureExt;
use onboard_core::event::NewEvent;
use onboard_core::state::{AccountState, Decisions, NewMessage, NewTimer};
use onboard_core::{Duration, EventType, Timestamp};
use onboard_store::postgres::PgStore;
use onboard_store::sqlite::SqliteStore;
use onboard_store::{Lease, Now, ProcessedBatch, Store};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use std::future::Future;
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::str::FromStr;
use std::sync::{Arc, Once};

const DEFAULT_PG_URL: &str = "postgres://root@127.0.0.1:5432/postgres";

/// One backend's fresh database, migrated.
pub struct Db {
    pub store: Arc<dyn Store>,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    pub url: String,
}

impl Db {
    /// Another store on the same database: a second node.
    pub async fn reopen(&self) -> Arc<dyn Store> {
        onboard_store::connect(&self.url).await.unwrap()
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

/// Runs `test` against a fresh SQLite database, then a fresh PostgreSQL one.
pub async fn for_each_backend<F, Fut>(test: F)
where
    F: Fn(Db) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("onboard.db").display());
    let store = SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    test(Db {
        store: Arc::new(store),
        backend: "sqlite",
        url,
    })
    .await;
    with_postgres(test).await;
}

/// Runs `test` against a fresh PostgreSQL database, if a server is reachable.
pub async fn with_postgres<F, Fut>(test: F)
where
    F: Fn(Db) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(mut admin) = admin_connection().await else {
        return;
    };
    let name = format!("onboard_t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let url = database_url(&base_url(), &name);
    let outcome = AssertUnwindSafe(async {
        let store = PgStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        test(Db {
            store: Arc::new(store),
            backend: "postgres",
            url: url.clone(),
        })
        .await;
    })
    .catch_unwind()
    .await;
    // Best effort: FORCE ends the test's connections still open.
    let dropped = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await;
    if let Err(e) = dropped {
        eprintln!("could not drop test database {name}: {e}");
    }
    if let Err(panic) = outcome {
        eprintln!("(the failure above is on PostgreSQL)");
        std::panic::resume_unwind(panic);
    }
}

fn base_url() -> String {
    std::env::var("ONBOARD_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

/// The server's URL with the database replaced by `name`.
fn database_url(base: &str, name: &str) -> String {
    let (scheme, rest) = base.split_once("://").unwrap();
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, format!("?{query}")),
        None => (rest, String::new()),
    };
    let authority = rest.split('/').next().unwrap();
    format!("{scheme}://{authority}/{name}{query}")
}

/// A connection to the server, or `None` (after a loud notice) when it is unreachable and
/// not required.
async fn admin_connection() -> Option<PgConnection> {
    let url = base_url();
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .disable_statement_logging();
    let connected = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        PgConnection::connect_with(&options).await
    })
    .await;
    let error = match connected {
        Ok(Ok(connection)) => return Some(connection),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "timed out".to_owned(),
    };
    let required =
        std::env::var_os("CI").is_some() || std::env::var_os("ONBOARD_REQUIRE_PG").is_some();
    assert!(!required, "PostgreSQL at {url} is required (CI or ONBOARD_REQUIRE_PG is set) but unreachable: {error}");
    static NOTICE: Once = Once::new();
    NOTICE.call_once(|| {
        // Straight to stderr: the test harness captures `eprintln!`.
        let _ = writeln!(
            std::io::stderr(),
            "\n********************************************************************\n\
             *  PostgreSQL at {url} is unreachable ({error}).\n\
             *  The store tests ran on SQLite ONLY. Set ONBOARD_TEST_PG_URL to a\n\
             *  server, or CI / ONBOARD_REQUIRE_PG to make this an error.\n\
             ********************************************************************\n"
        );
    });
    None
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
                processed_at: when,
                accounts: Vec::new(),
                decisions,
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

#[test]
fn the_database_is_swapped_in_the_server_url() {
    assert_eq!(
        database_url("postgres://root@127.0.0.1:5432/postgres", "t1"),
        "postgres://root@127.0.0.1:5432/t1"
    );
    assert_eq!(
        database_url("postgres://u:p@db:5/x?sslmode=disable", "t1"),
        "postgres://u:p@db:5/t1?sslmode=disable"
    );
    assert_eq!(database_url("postgres://db", "t1"), "postgres://db/t1");
}
