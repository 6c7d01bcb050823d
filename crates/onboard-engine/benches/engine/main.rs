//! Throughput of the engine on SQLite and PostgreSQL, with the real example program, a
//! manual clock and the development mailbox. `cargo bench -p onboard-engine`.
//!
//! - `intake/<backend>`: [`Engine::ingest`] of N events, one event per call, from 64
//!   concurrent tasks: the durable group-commit path of `POST /api/events` without HTTP
//!   (nothing is processed meanwhile). Compare with `bench/intake.sh` for the HTTP cost.
//! - `process/<backend>`: [`Engine::settle`] processing N simple events (`usage.ping`, a type
//!   no rule of the program names) spread round-robin over 10,000 accounts that already
//!   exist, so every batch loads and rewrites as many accounts as it has events.
//!   Target: 20,000 events/s.
//! - `process/<backend>/product.track`: [`Engine::settle`] processing N product events
//!   (`product.track` as the usage intake logs them, of the key features and the Aha event)
//!   from 5 linked product users at each of 2,000 won accounts: every event updates the
//!   account's usage health, and the program's Aha, milestone and goal logic reads it.
//!   Target: 25,000 events/s.
//! - `timers/<backend>/fire/<P>_pending`: the scheduler's firing alone, done as the engine
//!   does it (store `claim_due_timers` + `fire_timers`, `timer_batch` at a time), of N due
//!   timers while P timers (10,000, then 1,000,000) are pending for the far future.
//!   Target: 50,000 timers/s, the same with 1,000,000 pending as with 10,000.
//! - `timers/<backend>/settle/<P>_pending`: [`Engine::settle`] firing the same N due timers
//!   and processing the `timer.fired` events they append: the whole path, for comparison.
//!
//! Only `settle` (or the firing loop) is timed; appending the events and seeding the timers
//! are set-up. Each group runs on a fresh database (PostgreSQL on the server of
//! `ONBOARD_TEST_PG_URL`, see `onboard_store::testing`). After each group it prints where
//! the timed span went, per store call.
//!
//! Environment:
//! - `ONBOARD_BENCH_SCALE=10` divides every size by 10 (a quick run);
//! - `ONBOARD_BENCH_BACKEND=sqlite` or `postgres` runs one backend (default: both, PostgreSQL
//!   when reachable);
//! - `ONBOARD_BENCH_ONLY=intake`, `process` or `timers` skips the other groups' set-up (criterion's
//!   own filter argument only hides their results).
//!
//! The HTTP intake and the start-up targets are measured by `bench/intake.sh` and
//! `bench/startup.sh`; `BENCHMARKS.md` has the figures.

#![allow(clippy::unwrap_used)]

mod timed_store;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode,
    Throughput,
};
use onboard_core::event::types;
use onboard_core::program::{ProgramSource, SourceFile};
use onboard_core::state::{Decisions, NewTimer};
use onboard_core::{Duration, EventType, NewEvent, Timestamp};
use onboard_engine::clock::ManualClock;
use onboard_engine::mail::DevMailbox;
use onboard_engine::{Engine, EngineConfig};
use onboard_store::testing::TestDatabase;
use onboard_store::{Lease, Now, ProcessedBatch, Store};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use timed_store::{print_breakdown, CallStats, TimedStore};
use tokio::runtime::Runtime;

/// The allocator `onboard serve` runs with, so the engine is measured as it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The manual clock's time in every benchmark (2026-01-01T00:00:00Z).
const T0: Timestamp = Timestamp(1_767_225_600_000);
/// This engine's node name (claims, leases).
const NODE: &str = "bench";
/// Events appended per `append_events` call in set-up (the HTTP intake's largest request).
const APPEND_CHUNK: usize = 1_000;
/// Timers written per `commit_batch` call when seeding.
const SEED_CHUNK: usize = 10_000;
/// A timer rule of the example program (absence of `academy.login` after `deal.won`).
const TIMER_RULE: &str = "no-login-nudge";

/// `n` divided by `ONBOARD_BENCH_SCALE` (default 1).
fn scale(n: usize) -> usize {
    let divisor: usize = std::env::var("ONBOARD_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    (n / divisor.max(1)).max(1)
}

/// The backends to run: `ONBOARD_BENCH_BACKEND`, else both.
fn backends() -> Vec<&'static str> {
    match std::env::var("ONBOARD_BENCH_BACKEND").as_deref() {
        Ok("sqlite") => vec!["sqlite"],
        Ok("postgres") => vec!["postgres"],
        Ok("") | Err(_) => vec!["sqlite", "postgres"],
        Ok(other) => panic!("ONBOARD_BENCH_BACKEND `{other}`: use sqlite or postgres"),
    }
}

/// Whether the group `name` should run (`ONBOARD_BENCH_ONLY`).
fn wanted(name: &str) -> bool {
    std::env::var("ONBOARD_BENCH_ONLY")
        .map(|only| only.is_empty() || only == name)
        .unwrap_or(true)
}

/// Reads the example program folder as `onboard serve --program program` does: every file
/// but hidden ones, paths relative to the folder with `/`, sorted.
fn read_program(dir: &Path) -> ProgramSource {
    fn walk(root: &Path, dir: &Path, files: &mut Vec<SourceFile>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, files);
            } else {
                let relative = path.strip_prefix(root).unwrap();
                files.push(SourceFile {
                    path: relative.to_string_lossy().replace('\\', "/"),
                    contents: std::fs::read_to_string(&path).unwrap(),
                });
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    ProgramSource { files }
}

/// Store time spent during the timed spans of one benchmark.
#[derive(Default)]
struct Profile {
    stats: BTreeMap<&'static str, CallStats>,
    wall: f64,
}

impl Profile {
    fn add(&mut self, stats: BTreeMap<&'static str, CallStats>, wall: std::time::Duration) {
        for (name, s) in stats {
            let entry = self.stats.entry(name).or_default();
            entry.n_calls += s.n_calls;
            entry.total += s.total;
        }
        self.wall += wall.as_secs_f64();
    }

    fn print(&self, title: &str) {
        if self.wall > 0.0 {
            print_breakdown(title, &self.stats, self.wall);
        }
    }
}

/// An engine on a fresh, migrated database.
struct Fixture {
    db: TestDatabase,
    engine: Arc<Engine>,
    /// The store itself, for set-up writes that must not count in the profile.
    store: Arc<dyn Store>,
    /// The same store as the engine sees it, timing each call.
    timed: Arc<TimedStore>,
    /// A lease of its own for set-up `commit_batch` calls (not the processor's).
    setup_lease: Lease,
    /// Next unique number for event keys and timer ids.
    next_id: u64,
    _mailbox: tempfile::TempDir,
}

impl Fixture {
    /// `None` when the backend is PostgreSQL and no server is reachable.
    async fn start(backend: &str) -> Option<Self> {
        let db = match backend {
            "sqlite" => TestDatabase::sqlite().unwrap(),
            _ => match TestDatabase::postgres().await {
                Some(db) => db,
                None => {
                    eprintln!("PostgreSQL unreachable: its benchmarks are skipped");
                    return None;
                }
            },
        };
        let store = onboard_store::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        let timed = Arc::new(TimedStore::new(store.clone()));
        let clock = Arc::new(ManualClock::new(T0));
        let mailbox = tempfile::tempdir().unwrap();
        let mailer = Arc::new(DevMailbox::new(mailbox.path()));
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../program");
        let source = read_program(&dir);
        let program = onboard_core::program::load(&source).unwrap_or_else(|diagnostics| {
            panic!("the example program does not load: {}", diagnostics[0])
        });
        let engine = Engine::start(
            EngineConfig::new(NODE, "http://127.0.0.1:8080"),
            timed.clone(),
            clock,
            mailer,
            program,
            &source,
        )
        .await
        .unwrap();
        let setup_lease = store
            .acquire_lease(
                "bench-setup",
                NODE,
                Now::Manual(T0),
                Duration(365 * 86_400_000),
            )
            .await
            .unwrap()
            .unwrap();
        Some(Self {
            db,
            engine,
            store,
            timed,
            setup_lease,
            next_id: 0,
            _mailbox: mailbox,
        })
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Appends `n` new `usage.ping` events, round-robin over `n_accounts` accounts.
    async fn append_pings(&mut self, n: usize, n_accounts: usize) {
        let kind = EventType::parse("usage.ping").unwrap();
        let events: Vec<NewEvent> = (0..n)
            .map(|i| NewEvent {
                key: format!("ping-{}", self.next_id()),
                kind: kind.clone(),
                account: format!("acct-{}", i % n_accounts),
                at: Timestamp(T0.0 - 60_000),
                data: serde_json::json!({}),
            })
            .collect();
        for chunk in events.chunks(APPEND_CHUNK) {
            self.store.append_events(chunk, T0).await.unwrap();
        }
    }

    /// Appends and settles a won deal of 5 people for each of `n_accounts` accounts (the
    /// first an admin, the others end users), with 5 seats.
    async fn won_accounts(&mut self, n_accounts: usize) {
        let kind = EventType::parse(types::DEAL_WON).unwrap();
        let events: Vec<NewEvent> = (0..n_accounts)
            .map(|a| NewEvent {
                key: format!("won-{a}"),
                kind: kind.clone(),
                account: format!("acct-{a}"),
                at: Timestamp(T0.0 - 86_400_000),
                data: serde_json::json!({
                    "account_name": format!("Account {a}"),
                    "seats": 5,
                    "contacts": (0..5).map(|p| serde_json::json!({
                        "email": format!("p{p}@acct-{a}.example"),
                        "name": format!("Person {p}"),
                        "persona": if p == 0 { "admin" } else { "end_user" },
                    })).collect::<Vec<_>>(),
                }),
            })
            .collect();
        for chunk in events.chunks(APPEND_CHUNK) {
            self.store.append_events(chunk, T0).await.unwrap();
        }
        self.engine.settle().await.unwrap();
    }

    /// Appends `n` product events as the usage intake logs them: round-robin over the 5
    /// people of `n_accounts` accounts (product user `u-<account>-<person>`), cycling
    /// through the example program's key features and Aha event, a second apart.
    async fn append_tracks(&mut self, n: usize, n_accounts: usize) {
        const NAMES: [&str; 5] = [
            "Lead Imported",
            "Deal Created",
            "Activity Logged",
            "Dashboard Viewed",
            "Pipeline Configured",
        ];
        let kind = EventType::parse(types::PRODUCT_TRACK).unwrap();
        let events: Vec<NewEvent> = (0..n)
            .map(|i| {
                let id = self.next_id();
                let account = i % n_accounts;
                let person = (i / n_accounts) % 5;
                NewEvent {
                    key: format!("segment:track-{id}"),
                    kind: kind.clone(),
                    account: format!("acct-{account}"),
                    at: Timestamp(T0.0 - 60_000 + (i / n_accounts) as i64 * 1_000),
                    data: serde_json::json!({
                        "user": format!("u-{account}-{person}"),
                        "message_id": format!("track-{id}"),
                        "event": NAMES[i % NAMES.len()],
                        "properties": { "rows": i % 100 },
                        "email": format!("p{person}@acct-{account}.example"),
                    }),
                }
            })
            .collect();
        for chunk in events.chunks(APPEND_CHUNK) {
            self.store.append_events(chunk, T0).await.unwrap();
        }
    }

    /// Writes `n` pending timers of [`TIMER_RULE`] due from `first_due` on (1 ms apart).
    async fn seed_timers(&mut self, n: usize, n_accounts: usize, first_due: Timestamp) {
        let version = self.engine.program().version.0.clone();
        let mut written = 0;
        while written < n {
            let size = SEED_CHUNK.min(n - written);
            let timers: Vec<NewTimer> = (written..written + size)
                .map(|i| NewTimer {
                    id: format!("bench-timer-{}", self.next_id()),
                    account: format!("acct-{}", i % n_accounts),
                    rule: TIMER_RULE.to_owned(),
                    due_at: Timestamp(first_due.0 + i as i64),
                    since_at: T0,
                    program_version: version.clone(),
                })
                .collect();
            let batch = ProcessedBatch {
                processed_at: T0,
                decisions: Decisions {
                    timers,
                    ..Decisions::default()
                },
                ..ProcessedBatch::default()
            };
            self.store
                .commit_batch(&self.setup_lease, &batch)
                .await
                .unwrap();
            written += size;
        }
    }

    async fn finish(self) {
        self.engine.stop_intake();
        drop(self.engine);
        self.db.finish().await;
    }
}

/// Fires every due timer the way the engine's scheduler does (`Engine::fire_due_timers`):
/// claim up to `timer_batch`, turn each claim into its `timer.fired` event, fire them in one
/// transaction, until a claim comes back short. Returns how many fired.
async fn fire_due_timers(store: &dyn Store, config: &EngineConfig) -> usize {
    let kind = EventType::parse(types::TIMER_FIRED).unwrap();
    let mut fired = 0;
    loop {
        let claims = store
            .claim_due_timers(NODE, Now::Manual(T0), config.lease, config.timer_batch)
            .await
            .unwrap();
        let n_claimed = claims.len();
        if n_claimed == 0 {
            return fired;
        }
        let batch: Vec<_> = claims
            .into_iter()
            .map(|claim| {
                let event = NewEvent {
                    key: onboard_core::decide::timer_fired_key(&claim.id, claim.due_at),
                    kind: kind.clone(),
                    account: claim.account.clone(),
                    at: claim.due_at,
                    data: serde_json::json!({
                        "timer": claim.id,
                        "rule": claim.rule,
                        "since_at": claim.since_at.millis(),
                        "program_version": claim.program_version,
                    }),
                };
                (claim, event)
            })
            .collect();
        fired += store.fire_timers(NODE, &batch, T0).await.unwrap();
        if (n_claimed as i64) < config.timer_batch {
            return fired;
        }
    }
}

/// Few samples of long iterations (each one is a whole settle of thousands of events), in
/// about `seconds` including set-up.
fn configure(group: &mut BenchmarkGroup<'_, WallTime>, seconds: u64) {
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(seconds));
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Concurrent clients of the intake, as in the HTTP target.
const N_CLIENTS: usize = 64;

/// `intake/<backend>`: N single-event `ingest` calls from 64 concurrent tasks.
fn intake(c: &mut Criterion) {
    if !wanted("intake") {
        return;
    }
    let rt = runtime();
    let n_events = scale(20_000);
    let kind = EventType::parse("bench.event").unwrap();
    for backend in backends() {
        let Some(mut fx) = rt.block_on(Fixture::start(backend)) else {
            continue;
        };
        let mut profile = Profile::default();
        let mut group = c.benchmark_group(format!("intake/{backend}"));
        configure(&mut group, 20);
        group.throughput(Throughput::Elements(n_events as u64));
        group.bench_function(BenchmarkId::new("64_clients", n_events), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut timed = std::time::Duration::ZERO;
                    for _ in 0..iters {
                        let round = fx.next_id();
                        let next = Arc::new(AtomicUsize::new(0));
                        fx.timed.take();
                        let started = Instant::now();
                        let clients: Vec<_> = (0..N_CLIENTS)
                            .map(|_| {
                                let engine = fx.engine.clone();
                                let next = next.clone();
                                let kind = kind.clone();
                                tokio::spawn(async move {
                                    loop {
                                        let i = next.fetch_add(1, Ordering::Relaxed);
                                        if i >= n_events {
                                            return;
                                        }
                                        let event = NewEvent {
                                            key: format!("intake-{round}-{i}"),
                                            kind: kind.clone(),
                                            account: format!("acct-{}", i % 10_000),
                                            at: T0,
                                            data: serde_json::json!({}),
                                        };
                                        engine.ingest(vec![event]).await.unwrap();
                                    }
                                })
                            })
                            .collect();
                        for client in clients {
                            client.await.unwrap();
                        }
                        let elapsed = started.elapsed();
                        profile.add(fx.timed.take(), elapsed);
                        timed += elapsed;
                    }
                    timed
                })
            });
        });
        group.finish();
        profile.print(&format!(
            "intake/{backend} ({n_events} single-event ingests, {N_CLIENTS} clients)"
        ));
        rt.block_on(fx.finish());
    }
}

/// `process/<backend>`: settle N simple events over accounts that exist.
fn process(c: &mut Criterion) {
    if !wanted("process") {
        return;
    }
    let rt = runtime();
    let n_events = scale(20_000);
    let n_accounts = scale(10_000);
    for backend in backends() {
        let Some(mut fx) = rt.block_on(Fixture::start(backend)) else {
            continue;
        };
        // Every account exists before anything is timed.
        rt.block_on(async {
            fx.append_pings(n_accounts, n_accounts).await;
            fx.engine.settle().await.unwrap();
        });
        let mut profile = Profile::default();
        let mut group = c.benchmark_group(format!("process/{backend}"));
        configure(&mut group, 20);
        group.throughput(Throughput::Elements(n_events as u64));
        group.bench_function(BenchmarkId::new("usage.ping", n_events), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut timed = std::time::Duration::ZERO;
                    for _ in 0..iters {
                        fx.append_pings(n_events, n_accounts).await;
                        fx.timed.take();
                        let started = Instant::now();
                        let progress = fx.engine.settle().await.unwrap();
                        let elapsed = started.elapsed();
                        assert_eq!(progress.events_processed, n_events);
                        profile.add(fx.timed.take(), elapsed);
                        timed += elapsed;
                    }
                    timed
                })
            });
        });
        profile.print(&format!(
            "process/{backend} ({n_events} events over {n_accounts} accounts per settle)"
        ));
        // Product usage: won accounts with linked users, every event a health update.
        let n_won = scale(2_000);
        rt.block_on(fx.won_accounts(n_won));
        let mut profile = Profile::default();
        group.bench_function(BenchmarkId::new("product.track", n_events), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut timed = std::time::Duration::ZERO;
                    for _ in 0..iters {
                        fx.append_tracks(n_events, n_won).await;
                        fx.timed.take();
                        let started = Instant::now();
                        let progress = fx.engine.settle().await.unwrap();
                        let elapsed = started.elapsed();
                        assert!(progress.events_processed >= n_events);
                        profile.add(fx.timed.take(), elapsed);
                        timed += elapsed;
                    }
                    timed
                })
            });
        });
        group.finish();
        profile.print(&format!(
            "process/{backend} (product.track: {n_events} events over {n_won} accounts of 5 users per settle)"
        ));
        rt.block_on(fx.finish());
    }
}

/// `timers/<backend>`: N due timers among P pending, for P = 10,000 and 1,000,000.
fn timers(c: &mut Criterion) {
    if !wanted("timers") {
        return;
    }
    let rt = runtime();
    let n_due = scale(50_000);
    let n_accounts = scale(10_000);
    for backend in backends() {
        for n_pending in [scale(10_000), scale(1_000_000)] {
            let Some(mut fx) = rt.block_on(Fixture::start(backend)) else {
                continue;
            };
            let started = Instant::now();
            // Pending for the far future (a year from now): never due while measured.
            rt.block_on(fx.seed_timers(n_pending, n_accounts, Timestamp(T0.0 + 365 * 86_400_000)));
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "timers/{backend}: seeded {n_pending} pending timers in {seconds:.1}s ({:.0}/s)",
                n_pending as f64 / seconds
            );
            let mut group = c.benchmark_group(format!("timers/{backend}"));
            configure(&mut group, 45);
            group.throughput(Throughput::Elements(n_due as u64));
            let id = format!("{n_pending}_pending");

            // First the whole path: it leaves no unprocessed event behind, whereas the
            // firing alone leaves its `timer.fired` events unprocessed.
            let mut profile = Profile::default();
            group.bench_function(BenchmarkId::new("settle", &id), |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let mut timed = std::time::Duration::ZERO;
                        for _ in 0..iters {
                            fx.seed_timers(n_due, n_accounts, Timestamp(T0.0 - 3_600_000))
                                .await;
                            fx.timed.take();
                            let started = Instant::now();
                            let progress = fx.engine.settle().await.unwrap();
                            let elapsed = started.elapsed();
                            assert_eq!(progress.timers_fired, n_due);
                            assert_eq!(progress.events_processed, n_due);
                            profile.add(fx.timed.take(), elapsed);
                            timed += elapsed;
                        }
                        timed
                    })
                });
            });
            profile.print(&format!(
                "timers/{backend}/settle/{id} (fire + process {n_due} per settle)"
            ));

            let mut profile = Profile::default();
            group.bench_function(BenchmarkId::new("fire", &id), |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let mut timed = std::time::Duration::ZERO;
                        for _ in 0..iters {
                            fx.seed_timers(n_due, n_accounts, Timestamp(T0.0 - 3_600_000))
                                .await;
                            fx.timed.take();
                            let started = Instant::now();
                            let fired =
                                fire_due_timers(fx.timed.as_ref(), fx.engine.config()).await;
                            let elapsed = started.elapsed();
                            assert_eq!(fired, n_due);
                            profile.add(fx.timed.take(), elapsed);
                            timed += elapsed;
                        }
                        timed
                    })
                });
            });
            group.finish();
            profile.print(&format!(
                "timers/{backend}/fire/{id} (claim + fire {n_due} per loop)"
            ));

            let counts = rt.block_on(fx.store.timer_counts(Now::Manual(T0))).unwrap();
            assert_eq!(
                counts.pending as usize, n_pending,
                "pending timers at the end"
            );
            assert_eq!(counts.due, 0, "due timers left at the end");
            rt.block_on(fx.finish());
        }
    }
}

criterion_group!(benches, intake, process, timers);
criterion_main!(benches);
