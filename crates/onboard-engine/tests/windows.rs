//! Advancing the manual clock a window at a time (`Engine::advance_in_windows`, for
//! simulations) decides exactly what stepping from due time to due time
//! (`Engine::advance_to`) decides: the same events at the same times, the same traces, the
//! same messages. A small cohort runs both ways on fresh databases and the logs are compared;
//! the in-memory store must also decide what SQLite decides.

#![allow(clippy::unwrap_used)]

use onboard_core::{Duration, EventType, NewEvent, Timestamp};
use onboard_engine::clock::ManualClock;
use onboard_engine::mail::DevMailbox;
use onboard_engine::{Engine, EngineConfig};
use onboard_store::testing::TestDatabase;
use onboard_store::{EventFilter, MessageFilter};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

const T0: Timestamp = Timestamp(1_767_225_600_000);
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const ACCOUNTS: usize = 12;
const DAYS: i64 = 16;

async fn engine(db: &TestDatabase) -> (Arc<Engine>, tempfile::TempDir) {
    engine_deciding_in_parallel_from(db, EngineConfig::new("n", "u").parallel_decide_accounts).await
}

/// An engine that decides a batch on two threads from `accounts` accounts on.
async fn engine_deciding_in_parallel_from(
    db: &TestDatabase,
    accounts: usize,
) -> (Arc<Engine>, tempfile::TempDir) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../program");
    let source = onboard_engine::read_program_dir(&dir).unwrap();
    let program = onboard_core::program::load(&source).unwrap();
    let store = onboard_store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let mailbox = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new("test-node", "https://onboard.test");
    config.parallel_decide_accounts = accounts;
    let engine = Engine::start(
        config,
        store,
        Arc::new(ManualClock::new(T0)),
        Arc::new(DevMailbox::new(&mailbox.path().join("mailbox"))),
        program,
        &source,
    )
    .await
    .unwrap();
    (engine, mailbox)
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

/// Account `n`'s events of `day`: deals won through day 0 at odd minutes, some people sign
/// in on day 1 or 2 and some never, some use the product from day 3, one finishes a module.
fn day_events(n: usize, day: i64) -> Vec<NewEvent> {
    let won = T0.0 + i64::try_from(n).unwrap() * 97 * 60_000;
    let account = format!("w{n}");
    let person = |who: &str| format!("{who}@w{n}.example");
    let mut events = Vec::new();
    if day == 0 {
        events.push(event(
            format!("deal-{n}"),
            "deal.won",
            &account,
            won,
            json!({
                "deal_id": format!("{n}"),
                "account_name": format!("W {n}"),
                "seats": 5 + n,
                "contacts": [
                    { "email": person("admin"), "name": "Ada", "title": "IT admin" },
                    { "email": person("rep"), "name": "Rob", "title": "Account Executive" },
                ],
            }),
        ));
    }
    if (n.is_multiple_of(3) && day == 1) || (n % 3 == 1 && day == 2) {
        events.push(event(
            format!("login-{n}"),
            "academy.login",
            &account,
            won + day * DAY + 2 * HOUR,
            json!({ "email": person("admin") }),
        ));
    }
    if n.is_multiple_of(2) && day >= 3 {
        events.push(event(
            format!("use-{n}-{day}"),
            "product.track",
            &account,
            won + day * DAY + 5 * HOUR,
            json!({ "email": person("rep"), "event": "Lead Imported" }),
        ));
    }
    events
}

/// What the run decided: events (key, type, account, time), traces and messages.
async fn run(
    engine: &Engine,
    windowed: Option<Duration>,
) -> (BTreeSet<String>, BTreeSet<String>, BTreeSet<String>) {
    for day in 0..DAYS {
        let events: Vec<NewEvent> = (0..ACCOUNTS).flat_map(|n| day_events(n, day)).collect();
        engine.ingest(events).await.unwrap();
        let end = Timestamp(T0.0 + (day + 1) * DAY);
        match windowed {
            Some(window) => engine.advance_in_windows(end, window).await.unwrap(),
            None => engine.advance_to(end).await.unwrap(),
        };
    }
    let store = engine.store();
    let mut events = BTreeSet::new();
    let mut after_seq = None;
    loop {
        let page = store
            .list_events(&EventFilter {
                after_seq,
                limit: 1000,
                ..EventFilter::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after_seq = Some(last.seq);
        events.extend(
            page.iter()
                .map(|e| format!("{} {} {} {}", e.at, e.kind.as_str(), e.account, e.key)),
        );
    }
    let mut traces = BTreeSet::new();
    for n in 0..ACCOUNTS {
        for t in store.traces(&format!("w{n}"), 10_000).await.unwrap() {
            traces.insert(format!(
                "{} {} {} {} {}",
                t.account,
                t.at,
                t.rule,
                t.event,
                t.outcome.as_str()
            ));
        }
    }
    let messages = store
        .list_messages(&MessageFilter {
            limit: 1000,
            ..MessageFilter::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|m| format!("{} {} {} {}", m.id, m.rule, m.to_email, m.subject))
        .collect();
    (events, traces, messages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn advancing_in_windows_decides_what_stepping_timer_by_timer_decides() {
    // What SQLite decided, stepping: the in-memory store must decide the same.
    let mut on_sqlite = None;
    for backend in ["sqlite", "memory", "postgres"] {
        let fresh = || async {
            match backend {
                "sqlite" => Some(TestDatabase::sqlite().unwrap()),
                "memory" => Some(TestDatabase::memory()),
                _ => TestDatabase::postgres().await,
            }
        };
        let (Some(exact_db), Some(windowed_db)) = (fresh().await, fresh().await) else {
            continue;
        };
        eprintln!("backend: {backend}");
        let (exact, _a) = engine(&exact_db).await;
        let (windowed, _b) = engine(&windowed_db).await;
        let (events, traces, messages) = run(&exact, None).await;
        let (w_events, w_traces, w_messages) = run(&windowed, Some(Duration(6 * HOUR))).await;
        assert!(
            events.len() > 100,
            "a cohort that does something: {}",
            events.len()
        );
        assert!(!messages.is_empty());
        assert_eq!(
            events.symmetric_difference(&w_events).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "the same events at the same times"
        );
        assert_eq!(
            traces.symmetric_difference(&w_traces).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "the same decisions"
        );
        assert_eq!(messages, w_messages, "the same messages");
        match (backend, &on_sqlite) {
            ("sqlite", _) => on_sqlite = Some((events, traces, messages)),
            ("memory", Some((s_events, s_traces, s_messages))) => {
                assert_eq!(
                    s_events.symmetric_difference(&events).collect::<Vec<_>>(),
                    Vec::<&String>::new(),
                    "the same events on SQLite and in memory"
                );
                assert_eq!(
                    s_traces.symmetric_difference(&traces).collect::<Vec<_>>(),
                    Vec::<&String>::new(),
                    "the same decisions on SQLite and in memory"
                );
                assert_eq!(
                    s_messages, &messages,
                    "the same messages on SQLite and in memory"
                );
            }
            _ => {}
        }
        drop((exact, windowed));
        exact_db.finish().await;
        windowed_db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deciding_a_batch_on_two_threads_decides_what_one_thread_decides() {
    for backend in ["sqlite", "memory"] {
        let fresh = || match backend {
            "sqlite" => TestDatabase::sqlite().unwrap(),
            _ => TestDatabase::memory(),
        };
        let (one_db, two_db) = (fresh(), fresh());
        let (one, _a) = engine_deciding_in_parallel_from(&one_db, usize::MAX).await;
        let (two, _b) = engine_deciding_in_parallel_from(&two_db, 2).await;
        let (events, traces, messages) = run(&one, Some(Duration(6 * HOUR))).await;
        let (t_events, t_traces, t_messages) = run(&two, Some(Duration(6 * HOUR))).await;
        assert!(traces.len() > 100, "a cohort that does something");
        assert_eq!(
            events, t_events,
            "{backend}: the same events at the same times"
        );
        assert_eq!(traces, t_traces, "{backend}: the same decisions");
        assert_eq!(messages, t_messages, "{backend}: the same messages");
        for n in 0..ACCOUNTS {
            let id = format!("w{n}");
            assert_eq!(
                one.store().account(&id).await.unwrap(),
                two.store().account(&id).await.unwrap(),
                "{backend}: the same state of {id}"
            );
        }
        drop((one, two));
        one_db.finish().await;
        two_db.finish().await;
    }
}
