//! Throughput of the store's hot paths on SQLite (and on PostgreSQL when
//! `ONBOARD_BENCH_PG_URL` names an empty, writable database): appending events, processing
//! them (read the queue, load accounts, commit a batch) and firing due timers among many
//! pending ones. Run with `cargo bench -p onboard-store`; sizes shrink with
//! `ONBOARD_BENCH_SCALE` (a divisor, e.g. 10) for a quick look, and
//! `ONBOARD_BENCH_ONLY=timers` skips the event phases.
//!
//! Targets (SQLite, on a laptop-class machine): 20,000 events/s appended and processed,
//! 50,000 timers/s fired with 1,000,000 pending.

#![allow(clippy::unwrap_used)]

use onboard_core::event::NewEvent;
use onboard_core::state::{AccountState, Decisions, NewTimer, Trace, TraceOutcome};
use onboard_core::{Duration, EventType, Timestamp};
use onboard_store::{Lease, Now, ProcessedBatch, Store};
use std::sync::Arc;
use std::time::Instant;

const T0: Timestamp = Timestamp(1_767_225_600_000);

fn scale(n: usize) -> usize {
    let divisor: usize = std::env::var("ONBOARD_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    (n / divisor.max(1)).max(1)
}

/// CPU seconds this process has used (user + system), from `/proc/self/stat`; zero where
/// there is no such file.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; the
    // clock tick is 100 Hz on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

/// Wall-clock time and CPU time since a start.
struct Clock {
    wall: Instant,
    cpu: f64,
}

fn start() -> Clock {
    Clock {
        wall: Instant::now(),
        cpu: cpu_seconds(),
    }
}

/// Prints the rate by wall-clock time, and by CPU time (what a quiet machine would reach if
/// the disk kept up; the machine running the bench may be busy with other work).
fn report(what: &str, n: usize, started: Clock) {
    let seconds = started.wall.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - started.cpu;
    println!(
        "{what:<52} {n:>8} in {seconds:>6.2}s = {:>7.0}/s (cpu {cpu:>5.2}s = {:>7.0}/s)",
        n as f64 / seconds,
        n as f64 / cpu.max(0.01)
    );
}

async fn run(store: Arc<dyn Store>) {
    store.migrate().await.unwrap();
    let n_events = scale(200_000);
    let n_accounts = scale(10_000);

    let lease = store
        .acquire_lease("processor", "bench", Now::Manual(T0), Duration(3_600_000))
        .await
        .unwrap()
        .unwrap();
    if std::env::var("ONBOARD_BENCH_ONLY").as_deref() != Ok("timers") {
        events(&*store, &lease, n_events, n_accounts).await;
    }
    timers(&*store, &lease, n_accounts).await;
}

async fn events(store: &dyn Store, lease: &Lease, n_events: usize, n_accounts: usize) {
    let kind = EventType::parse("product.track").unwrap();
    // Intake: batches of 500, as the HTTP intake would send them.
    let started = start();
    let events: Vec<NewEvent> = (0..n_events)
        .map(|i| NewEvent {
            key: format!("evt-{i:08}"),
            kind: kind.clone(),
            account: format!("acct-{}", i % n_accounts),
            at: Timestamp(T0.0 + i as i64),
            data: serde_json::json!({ "event": "Lead Imported", "userId": format!("u{}", i % 97) }),
        })
        .collect();
    for batch in events.chunks(500) {
        store.append_events(batch, T0).await.unwrap();
    }
    report("append_events (batches of 500)", n_events, started);

    // Processing: read the queue, load the accounts, commit (processed mark, account
    // upsert, one trace per event).
    let started = start();
    let mut n_processed = 0;
    loop {
        let queue = store.unprocessed_events(500).await.unwrap();
        if queue.is_empty() {
            break;
        }
        let mut ids: Vec<String> = queue.iter().map(|e| e.account.clone()).collect();
        ids.sort();
        ids.dedup();
        let mut accounts = store.load_accounts(&ids).await.unwrap();
        for id in &ids {
            if !accounts.iter().any(|a| &a.id == id) {
                accounts.push(AccountState::new(id, "v1", T0));
            }
        }
        for account in &mut accounts {
            account.updated_at = T0;
        }
        let traces = queue
            .iter()
            .map(|e| Trace {
                account: e.account.clone(),
                rule: "aha".to_owned(),
                event: e.key.clone(),
                at: e.at,
                outcome: TraceOutcome::Skipped,
                reason: "condition false".to_owned(),
            })
            .collect();
        let batch = ProcessedBatch {
            processed: queue.iter().map(|e| e.seq).collect(),
            handled: Vec::new(),
            processed_at: T0,
            accounts,
            decisions: Decisions {
                traces,
                ..Decisions::default()
            },
            ..ProcessedBatch::default()
        };
        store.commit_batch(lease, &batch).await.unwrap();
        n_processed += queue.len();
    }
    report(
        "process (queue + load + commit, 500/batch)",
        n_processed,
        started,
    );
}

async fn timers(store: &dyn Store, lease: &Lease, n_accounts: usize) {
    // Timers: many pending, a tenth of them due.
    let n_pending = scale(1_000_000);
    let n_due = n_pending / 10;
    let started = start();
    let timers: Vec<NewTimer> = (0..n_pending)
        .map(|i| NewTimer {
            id: format!("timer-{i:08}"),
            account: format!("acct-{}", i % n_accounts),
            rule: "welcome".to_owned(),
            // The due ones first in time, the rest spread over the future.
            due_at: Timestamp(T0.0 + (i as i64) * 10),
            since_at: T0,
            program_version: "v1".to_owned(),
        })
        .collect();
    for chunk in timers.chunks(10_000) {
        let batch = ProcessedBatch {
            processed_at: T0,
            decisions: Decisions {
                timers: chunk.to_vec(),
                ..Decisions::default()
            },
            ..ProcessedBatch::default()
        };
        store.commit_batch(lease, &batch).await.unwrap();
    }
    report("commit timers (batches of 10,000)", n_pending, started);

    let now = Now::Manual(Timestamp(T0.0 + (n_due as i64) * 10 - 1));
    let started = start();
    let mut n_fired = 0;
    let (mut claiming, mut firing) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    loop {
        let step = Instant::now();
        let claims = store
            .claim_due_timers("bench", now, Duration(60_000), 1000)
            .await
            .unwrap();
        claiming += step.elapsed();
        if claims.is_empty() {
            break;
        }
        let step = Instant::now();
        let fired: Vec<_> = claims
            .into_iter()
            .map(|claim| {
                let event = NewEvent {
                    key: format!("fired:{}", claim.id),
                    kind: EventType::parse("timer.fired").unwrap(),
                    account: claim.account.clone(),
                    at: claim.due_at,
                    data: serde_json::json!({ "rule": claim.rule }),
                };
                (claim, event)
            })
            .collect();
        n_fired += store.fire_timers("bench", &fired, T0).await.unwrap();
        firing += step.elapsed();
    }
    println!("  (claiming {claiming:.2?}, firing {firing:.2?})");
    report(
        &format!("claim + fire timers ({n_pending} pending, 1000/claim)"),
        n_fired,
        started,
    );
    assert_eq!(n_fired, n_due);
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        println!("SQLite ({url})");
        run(onboard_store::connect(&url).await.unwrap()).await;
        if let Ok(url) = std::env::var("ONBOARD_BENCH_PG_URL") {
            println!("PostgreSQL");
            run(onboard_store::connect(&url).await.unwrap()).await;
        }
    });
}
