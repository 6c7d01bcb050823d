//! A cohort of accounts run through 90 days of the example program on the manual clock:
//! `cargo bench -p onboard-engine --bench cohort`.
//!
//! Every account's deal is won on day 0 (spread over the day), with three contacts (an admin,
//! a sales rep, a VP). People then behave by a fixed pattern, so every run is the same:
//! some sign in to the Academy on day 1 or 2 and some never do; some accounts show product
//! usage and some stall. Each simulated day, that day's events go in through
//! [`Engine::ingest`] at their own times, and the clock is advanced to the end of the day
//! with [`Engine::advance_in_windows`] (windows of `ONBOARD_COHORT_WINDOW`, default 1h;
//! `exact` for [`Engine::advance_to`], which stops at every due time): every timer's event
//! keeps its own time, the decisions are the same. Only the
//! 90 days are timed; the figures are printed at the end, with the rule evaluations (traces
//! written), timers fired and messages sent per second. Target: 10,000 accounts in under
//! 60 s on SQLite.
//!
//! Environment: `ONBOARD_COHORT_ACCOUNTS` (10000), `ONBOARD_COHORT_DAYS` (90),
//! `ONBOARD_BENCH_BACKEND` (`sqlite`, `postgres` on the server of `ONBOARD_TEST_PG_URL`, or
//! `memory`, the in-process store), `ONBOARD_COHORT_MAILER` (`mailbox`, the development
//! mailbox, which writes a file per email; or `accept`, a mailer that takes each email and
//! keeps nothing, as a relay that accepts at once would).

#![allow(clippy::unwrap_used)]

#[path = "engine/timed_store.rs"]
#[allow(dead_code)]
mod timed_store;

use onboard_core::{EventType, NewEvent, Timestamp};
use onboard_engine::clock::ManualClock;
use onboard_engine::mail::{DevMailbox, Mailer, SendError};
use onboard_engine::{read_program_dir, Engine, EngineConfig, Progress};
use onboard_store::testing::TestDatabase;
use onboard_store::ClaimedMessage;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// The allocator `onboard serve` runs with, so the engine is measured as it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A mailer that takes every email and keeps nothing.
struct Accepting;

#[async_trait::async_trait]
impl Mailer for Accepting {
    async fn send(&self, _message: &ClaimedMessage) -> Result<(), SendError> {
        Ok(())
    }
}

/// Day 0, 00:00 UTC (2026-01-01).
const T0: Timestamp = Timestamp(1_767_225_600_000);
const DAY: i64 = 86_400_000;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn event(key: String, kind: &str, account: &str, at: i64, data: serde_json::Value) -> NewEvent {
    NewEvent {
        key,
        kind: EventType::parse(kind).unwrap(),
        account: account.to_owned(),
        at: Timestamp(at),
        data,
    }
}

/// The external events of day `day` for account number `n`, which won its deal at `won`.
fn day_events(n: usize, day: i64, won: i64) -> Vec<NewEvent> {
    let account = format!("cohort-{n}.example");
    let person = |who: &str| format!("{who}@cohort-{n}.example");
    let mut events = Vec::new();
    if day == 0 {
        events.push(event(
            format!("deal-{n}"),
            "deal.won",
            &account,
            won,
            json!({
                "deal_id": format!("{n}"),
                "account_name": format!("Cohort {n}"),
                "domain": format!("cohort-{n}.example"),
                "seats": 5 + n % 20,
                "plan": if n.is_multiple_of(3) { "enterprise" } else { "pro" },
                "contacts": [
                    { "email": person("admin"), "name": "Ada Admin", "title": "IT admin" },
                    { "email": person("rep"), "name": "Rob Rep", "title": "Account Executive" },
                    { "email": person("vp"), "name": "Vera VP", "title": "VP Sales" },
                ],
            }),
        ));
    }
    // Three in five accounts sign in on day 1, one in five on day 2, one never.
    let login_day = match n % 5 {
        0..=2 => Some(1),
        3 => Some(2),
        _ => None,
    };
    if login_day == Some(day) {
        for who in ["admin", "rep"] {
            events.push(event(
                format!("login-{n}-{who}"),
                "academy.login",
                &account,
                won + day * DAY + 3_600_000,
                json!({ "email": person(who) }),
            ));
        }
    }
    // Half the accounts use the product every weekday from day 3; the rest stall.
    if n.is_multiple_of(2) && day >= 3 && day % 7 < 5 {
        events.push(event(
            format!("usage-{n}-{day}"),
            "product.track",
            &account,
            won + day * DAY + 7_200_000,
            json!({ "email": person("rep"), "event": "Lead Imported" }),
        ));
    }
    events
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let accounts = env_number("ONBOARD_COHORT_ACCOUNTS", 10_000);
    let days = i64::try_from(env_number("ONBOARD_COHORT_DAYS", 90)).unwrap();
    let backend = std::env::var("ONBOARD_BENCH_BACKEND").unwrap_or_else(|_| "sqlite".into());
    // `exact` steps from due time to due time; a duration (default 1h) advances a window at a
    // time, with the same decisions.
    let window = match std::env::var("ONBOARD_COHORT_WINDOW").as_deref() {
        Ok("exact") => None,
        Ok(text) => Some(onboard_core::Duration::parse(text).unwrap()),
        Err(_) => Some(onboard_core::Duration(3_600_000)),
    };
    let db = match backend.as_str() {
        "postgres" => TestDatabase::postgres()
            .await
            .expect("PostgreSQL at ONBOARD_TEST_PG_URL"),
        "memory" => TestDatabase::memory(),
        _ => TestDatabase::sqlite().unwrap(),
    };
    // SQLite as a simulation opens it: a scratch database, commits not flushed to disk.
    let store: Arc<dyn onboard_store::Store> = if backend == "postgres" || backend == "memory" {
        onboard_store::connect(&db.url).await.unwrap()
    } else {
        Arc::new(
            onboard_store::sqlite::SqliteStore::scratch(&db.url)
                .await
                .unwrap(),
        )
    };
    store.migrate().await.unwrap();
    // With ONBOARD_BENCH_PROFILE=1, the time of each store call is added up and printed.
    let timed = std::env::var("ONBOARD_BENCH_PROFILE")
        .is_ok_and(|v| v == "1")
        .then(|| Arc::new(timed_store::TimedStore::new(store.clone())));
    let store: Arc<dyn onboard_store::Store> = match &timed {
        Some(timed) => timed.clone(),
        None => store,
    };
    let clock = Arc::new(ManualClock::new(T0));
    let mailbox = tempfile::tempdir().unwrap();
    let mailer: Arc<dyn Mailer> = match std::env::var("ONBOARD_COHORT_MAILER").as_deref() {
        Ok("accept") => Arc::new(Accepting),
        _ => Arc::new(DevMailbox::new(mailbox.path())),
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../program");
    let source = read_program_dir(&dir).unwrap();
    let program = onboard_core::program::load(&source).unwrap();
    let engine = Engine::start(
        EngineConfig::new("cohort", "http://127.0.0.1:8080"),
        store.clone(),
        clock,
        mailer,
        program,
        &source,
    )
    .await
    .unwrap();

    println!(
        "cohort: {accounts} accounts through {days} days of the example program ({backend}, manual clock, {})",
        window.map_or_else(|| "timer by timer".to_owned(), |w| format!("windows of {w}"))
    );
    // Deals are won through day 0, one every DAY / accounts.
    let spacing = DAY / i64::try_from(accounts.max(1)).unwrap();
    let won = |n: usize| T0.0 + i64::try_from(n).unwrap() * spacing;
    let started = Instant::now();
    let mut total = Progress::default();
    let mut ingested = 0usize;
    for day in 0..days {
        let events: Vec<NewEvent> = (0..accounts)
            .flat_map(|n| day_events(n, day, won(n)))
            .collect();
        ingested += events.len();
        for chunk in events.chunks(1_000) {
            engine.ingest(chunk.to_vec()).await.unwrap();
        }
        let end = Timestamp(T0.0 + (day + 1) * DAY);
        let progress = match window {
            Some(window) => engine.advance_in_windows(end, window).await.unwrap(),
            None => engine.advance_to(end).await.unwrap(),
        };
        total.timers_fired += progress.timers_fired;
        total.events_processed += progress.events_processed;
        total.messages_attempted += progress.messages_attempted;
        if day % 10 == 9 || day == days - 1 {
            println!(
                "  day {:>3}: {:>6.1} s, {} events processed, {} timers fired, {} messages",
                day + 1,
                started.elapsed().as_secs_f64(),
                total.events_processed,
                total.timers_fired,
                total.messages_attempted
            );
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(timed) = &timed {
        timed_store::print_breakdown("store calls", &timed.take(), elapsed);
    }
    let mut evaluations = 0usize;
    for n in 0..accounts {
        evaluations += store
            .traces(&format!("cohort-{n}.example"), 100_000)
            .await
            .unwrap()
            .len();
    }
    println!("external events ingested: {ingested}");
    println!(
        "timed span: {elapsed:.1} s for {accounts} accounts x {days} days (target: 10,000 accounts in < 60 s on SQLite)"
    );
    let rate = |n: usize| n as f64 / elapsed;
    println!(
        "rule evaluations: {evaluations} ({:.0}/s); timers fired: {} ({:.0}/s); messages sent: {} ({:.0}/s); events processed: {} ({:.0}/s)",
        rate(evaluations),
        total.timers_fired,
        rate(total.timers_fired),
        total.messages_attempted,
        rate(total.messages_attempted),
        total.events_processed,
        rate(total.events_processed),
    );
    drop(engine);
    db.finish().await;
}
