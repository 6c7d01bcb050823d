//! Migrations, connection URLs and the query plans the store's speed depends on.

use crate::harness::{account, at, for_each_shared_backend, lease, now, HOUR, MINUTE};
use onboard_core::stored::PartSet;
use onboard_core::Duration;
use onboard_store::{ProcessedBatch, StoreError};
use std::str::FromStr;

// Not on the in-memory store: it has no migrations, and no second connection to migrate.
#[tokio::test]
async fn migrations_are_idempotent() {
    for_each_shared_backend(|db| async move {
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

// Not on the in-memory store: it has no query plans (its claim walks an ordered index of
// pending timers by construction).
#[tokio::test]
async fn timer_claim_uses_the_due_time_index() {
    for_each_shared_backend(|db| async move {
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

    // `memory:` is a new, empty in-process store each time.
    let first = onboard_store::connect("memory:").await.unwrap();
    assert_eq!(first.backend(), "memory");
    first.migrate().await.unwrap();
    first.ping().await.unwrap();
    first
        .save_program_version("v1", "{}", at(HOUR))
        .await
        .unwrap();
    let second = onboard_store::connect("memory:").await.unwrap();
    assert_eq!(second.program_source("v1").await.unwrap(), None);
    assert!(first.program_source("v1").await.unwrap().is_some());

    let refused = onboard_store::connect("mysql://localhost/onboard").await;
    assert!(matches!(refused, Err(StoreError::UnsupportedUrl(_))));
}

/// A database migrated up to (not including) `version`, from the store's own migrations.
async fn migrated_before(db: &onboard_store::testing::TestDatabase, version: i64) {
    let dir = tempfile::tempdir().unwrap();
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(db.backend);
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let number: i64 = name[..4].parse().unwrap();
        if number < version {
            std::fs::copy(&path, dir.path().join(&name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    match db.backend {
        "sqlite" => {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url)
                .unwrap()
                .create_if_missing(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            migrator.run(&pool).await.unwrap();
            pool.close().await;
        }
        _ => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            migrator.run(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

/// Runs one statement on the database, with text parameters.
async fn execute(db: &onboard_store::testing::TestDatabase, sql: &str, params: &[&str]) {
    match db.backend {
        "sqlite" => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            let mut query = sqlx::query(sql);
            for p in params {
                query = query.bind(*p);
            }
            query.execute(&pool).await.unwrap();
            pool.close().await;
        }
        _ => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let mut query = sqlx::query(sql);
            for p in params {
                query = query.bind(*p);
            }
            query.execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

/// Stores an account's row as an older version wrote it, `state` its document.
async fn insert_account_row(
    db: &onboard_store::testing::TestDatabase,
    account: &onboard_core::state::AccountState,
    state: &str,
) {
    let placeholders = match db.backend {
        "sqlite" => "?1, ?2, 'active', 'v1', ?3, 0, 0, ?4",
        _ => "$1, $2, 'active', 'v1', $3, 0, 0, $4",
    };
    execute(
        db,
        &format!(
            "INSERT INTO accounts (id, name, status, program_version, csm, created_at, \
             updated_at, state) VALUES ({placeholders})"
        ),
        &[
            &account.id,
            &account.name,
            account.csm.as_deref().unwrap(),
            state,
        ],
    )
    .await;
}

/// Commits `written` with every part marked unchanged (a batch that changed only the core)
/// and checks that the account then reads back as `expected`: its stored parts kept.
async fn commit_core_only(
    store: &dyn onboard_store::Store,
    written: onboard_core::state::AccountState,
    expected: &onboard_core::state::AccountState,
    backend: &str,
) {
    let lease = lease(store, "node-a", 0).await;
    let id = written.id.clone();
    store
        .commit_batch(
            &lease,
            &ProcessedBatch {
                accounts: vec![written],
                unchanged: [(id.clone(), PartSet::all())].into(),
                ..ProcessedBatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.account(&id).await.unwrap().as_ref(),
        Some(expected),
        "{backend}"
    );
}

#[tokio::test]
async fn states_stored_whole_before_parts_existed_are_split_by_the_migration() {
    for db in onboard_store::testing::TestDatabase::all().await {
        migrated_before(&db, 13).await;
        let mut whole = account("acme", at(0));
        whole.people.push(
            serde_json::from_value(serde_json::json!({"email": "ada@acme.test", "name": "Ada"}))
                .unwrap(),
        );
        whole
            .fields
            .insert("tier".into(), serde_json::json!("gold"));
        let backend = db.backend;
        insert_account_row(&db, &whole, &serde_json::to_string(&whole).unwrap()).await;

        let store = onboard_store::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        assert_eq!(
            store.account("acme").await.unwrap().unwrap(),
            whole,
            "{backend}: reads back whole"
        );
        // The people are a part of their own now: a batch that changes only the core
        // keeps them.
        let mut next = whole.clone();
        next.fields.clear();
        let mut core_only = next.clone();
        core_only.people.clear();
        commit_core_only(&*store, core_only, &next, backend).await;
        drop(store);
        db.finish().await;
    }
}

#[tokio::test]
async fn rule_runs_stored_in_the_core_become_a_part_of_their_own_by_the_migration() {
    for db in onboard_store::testing::TestDatabase::all().await {
        migrated_before(&db, 14).await;
        let mut state = account("acme", at(0));
        state.rule_runs.insert(
            "welcome".into(),
            onboard_core::state::RuleRuns {
                n: 2,
                last_at: at(5),
            },
        );
        // The core as stored before: every field of the state but its parts, rule runs
        // included.
        let mut core: serde_json::Value = serde_json::to_value(&state).unwrap();
        for part in [
            "deals",
            "people",
            "projects",
            "team_tasks",
            "goals",
            "alerts",
        ] {
            core.as_object_mut().unwrap().remove(part);
        }
        let backend = db.backend;
        insert_account_row(&db, &state, &core.to_string()).await;

        let store = onboard_store::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        assert_eq!(
            store.account("acme").await.unwrap().unwrap(),
            state,
            "{backend}: reads back with its rule runs"
        );
        // A batch that changes only the core keeps the rule runs.
        let mut next = state.clone();
        next.fields.insert("tier".into(), serde_json::json!("gold"));
        let mut core_only = next.clone();
        core_only.rule_runs.clear();
        commit_core_only(&*store, core_only, &next, backend).await;
        drop(store);
        db.finish().await;
    }
}

// SQLite only: migration 0015 (timers clustered by id) changes where timers are, not what
// they say.
#[tokio::test]
async fn timers_set_before_the_sqlite_timers_migration_read_and_fire_as_before() {
    let db = onboard_store::testing::TestDatabase::sqlite().unwrap();
    migrated_before(&db, 15).await;
    execute(
        &db,
        &format!(
            "INSERT INTO timers (id, account_id, rule, due_at, since_at, program_version, \
             created_at) VALUES ('tmr_set_before', 'acme', 'welcome', {}, 0, 'v1', 0)",
            at(1000).0
        ),
        &[],
    )
    .await;

    let store = onboard_store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let timer = store.timer("tmr_set_before").await.unwrap().unwrap();
    assert_eq!(
        (timer.account.as_str(), timer.due_at, timer.state.as_str()),
        ("acme", at(1000), "pending")
    );
    let claims = store
        .claim_due_timers("node-a", now(2000), Duration(MINUTE), 10)
        .await
        .unwrap();
    let ids: Vec<&str> = claims.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["tmr_set_before"]);
    drop(store);
    db.finish().await;
}
