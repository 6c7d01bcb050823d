//! What-if runs of a program on a virtual clock, through the real engine, sending nothing.
//!
//! - [`simulate`]: a synthetic, seeded [`Cohort`] ([`cohort`]: its configuration and file
//!   format; [`generate`]: the accounts, people and their events, day by day) through a
//!   program on a fresh store, and its [`Report`] ([`report`]).
//! - [`dry_run`]: a program against the recorded event log of a database, replayed into a
//!   fresh store: what it would have sent and to whom, beside what was sent ([`dry_run`]).
//!
//! Both start an [`Engine`] on a [`ManualClock`] with the [`Inbox`] as mailer (it sends and
//! writes nothing) and no outbound endpoints or CRM APIs configured, so nothing leaves the
//! process. Wall-clock figures (how long a run took) are the caller's: the engine reads time
//! only from its clock.

pub mod cohort;
mod dry_run;
pub mod generate;
mod inbox;
pub mod report;

pub use cohort::Cohort;
pub use dry_run::{dry_run, DryRun, MessageSummary, RuleCounts};
pub use generate::Generator;
pub use inbox::Inbox;
pub use report::Report;

use crate::clock::ManualClock;
use crate::{Engine, EngineConfig, EngineError};
use onboard_core::program::{Program, ProgramSource};
use onboard_core::{Duration, Timestamp};
use onboard_store::Store;
use std::sync::Arc;

/// The base of links in simulated messages: a reserved name that resolves nowhere.
const PUBLIC_URL: &str = "https://onboard.invalid";
/// Events handed to the intake at once.
const INGEST_CHUNK: usize = 1_000;
/// The longest window of time whose due timers fire together (see
/// [`Engine::advance_in_windows`]). The clock never passes the next instant of generated
/// events, nor the last millisecond of a day, so a window stays inside the hour it is in.
const WINDOW: Duration = Duration(24 * 60 * 60 * 1_000);

/// How a simulation moves its clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Advance {
    /// Stop at every due timer ([`Engine::advance_to`]).
    EveryDueTime,
    /// Fire the timers due before the next generated events (or the day's end) in rounds,
    /// each account's in order ([`Engine::advance_in_windows`]). The decisions are the same
    /// as stopping at every due time; only messages are sent at the window's end, which
    /// stays inside the day they were decided on, so the people's reactions are the same too.
    Windows,
}

async fn advance(engine: &Engine, to: Timestamp, how: Advance) -> Result<crate::Progress> {
    Ok(match how {
        Advance::EveryDueTime => engine.advance_to(to).await?,
        Advance::Windows => engine.advance_in_windows(to, WINDOW).await?,
    })
}

/// Why a simulation or dry run could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] onboard_store::StoreError),
    #[error("the cohort: {0}")]
    Cohort(String),
    #[error("the program has {0} error(s); `onboard check` shows them")]
    Program(usize),
    #[error("a simulation needs at least one store to run on")]
    NoStore,
    #[error("a shard of the simulation was stopped before it finished")]
    Stopped,
}

pub type Result<T, E = SimulateError> = std::result::Result<T, E>;

/// How far a simulation got, for a caller that shows progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayDone {
    /// Days simulated so far (from 1).
    pub days: u32,
    /// External events ingested so far.
    pub events: usize,
}

/// Runs `cohort` through the program of `source`, day by day: each hour's generated events
/// go in when the clock reaches that hour, the clock moves to the end of the day (every timer
/// firing at its own time), and the emails of the day are shown to the people they went to,
/// who may answer by signing in the next day. `on_day` hears after each day that every shard
/// has finished.
///
/// The cohort is split into one shard per store of `stores` (each fresh: it is migrated
/// here), account `n` to shard `n % stores.len()` ([`Generator::split`]), and the shards run
/// at once, each on an engine of its own. Accounts of a simulated cohort never meet, so the
/// report is the same for any number of shards, with one exception: a new account gets the
/// CSM with the least load among its own shard's accounts, so which CSM has which account
/// depends on the split (the report counts no CSM by name).
pub async fn simulate(
    stores: Vec<Arc<dyn Store>>,
    source: &ProgramSource,
    cohort: &Cohort,
    on_day: &mut (dyn FnMut(DayDone) + Send),
) -> Result<Report> {
    simulate_by(stores, source, cohort, on_day, Advance::Windows).await
}

async fn simulate_by(
    stores: Vec<Arc<dyn Store>>,
    source: &ProgramSource,
    cohort: &Cohort,
    on_day: &mut (dyn FnMut(DayDone) + Send),
    how: Advance,
) -> Result<Report> {
    let program = load(source)?;
    if stores.is_empty() {
        return Err(SimulateError::NoStore);
    }
    let generators = Generator::new(cohort, &program)
        .map_err(SimulateError::Cohort)?
        .split(stores.len());
    let (progress, mut heard) = tokio::sync::mpsc::unbounded_channel();
    let mut shards = tokio::task::JoinSet::new();
    for (k, (store, generator)) in stores.into_iter().zip(generators).enumerate() {
        let shard = Shard {
            k,
            store,
            source: source.clone(),
            program: program.clone(),
            cohort: cohort.clone(),
            generator,
            progress: progress.clone(),
        };
        shards.spawn(shard.run(how));
    }
    drop(progress);

    let mut latest = vec![DayDone { days: 0, events: 0 }; shards.len()];
    let mut told = 0;
    let mut tell = |latest: &[DayDone]| {
        let days = latest.iter().map(|d| d.days).min().unwrap_or(0);
        if days > told {
            told = days;
            on_day(DayDone {
                days,
                events: latest.iter().map(|d| d.events).sum(),
            });
        }
    };
    let mut partials = Vec::with_capacity(latest.len());
    loop {
        tokio::select! {
            Some((k, done)) = heard.recv() => {
                latest[k] = done;
                tell(&latest);
            }
            joined = shards.join_next() => match joined {
                None => break,
                Some(Ok(partial)) => partials.push(partial?),
                // Dropping the set on the way out stops the other shards.
                Some(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Some(Err(_)) => return Err(SimulateError::Stopped),
            },
        }
    }
    while let Ok((k, done)) = heard.try_recv() {
        latest[k] = done;
        tell(&latest);
    }
    Ok(report::finish(partials, &program, cohort))
}

/// One shard of a simulation: its part of the cohort on a store and engine of its own.
struct Shard {
    k: usize,
    store: Arc<dyn Store>,
    source: ProgramSource,
    program: Program,
    cohort: Cohort,
    generator: Generator,
    progress: tokio::sync::mpsc::UnboundedSender<(usize, DayDone)>,
}

impl Shard {
    async fn run(self, how: Advance) -> Result<report::Partial> {
        let Shard {
            k,
            store,
            source,
            program,
            cohort,
            mut generator,
            progress,
        } = self;
        store.migrate().await?;
        let clock = Arc::new(ManualClock::new(generator.time(0)));
        let inbox = Arc::new(Inbox::new(clock.clone()));
        let engine = Engine::start(
            EngineConfig::new("simulate", PUBLIC_URL),
            store.clone(),
            clock,
            inbox.clone(),
            program.clone(),
            &source,
        )
        .await?;

        let mut counts = report::EventCounts::default();
        let outcome = async {
            for day in 0..cohort.days {
                let events = generator.events_of_day(day);
                counts.simulated += events.len();
                for instant in events.chunk_by(|a, b| a.at == b.at) {
                    let progress = advance(&engine, instant[0].at, how).await?;
                    counts.processed += progress.events_processed;
                    counts.timers_fired += progress.timers_fired;
                    for chunk in instant.chunks(INGEST_CHUNK) {
                        engine.ingest(chunk.to_vec()).await?;
                    }
                }
                // The day's last millisecond, then its end: an email sent at the end is the
                // next day's, so a window must not reach it.
                let end = generator.time((i64::from(day) + 1) * 24);
                for (to, how) in [
                    (Timestamp(end.millis() - 1), how),
                    (end, Advance::EveryDueTime),
                ] {
                    let progress = advance(&engine, to, how).await?;
                    counts.processed += progress.events_processed;
                    counts.timers_fired += progress.timers_fired;
                }
                for (to, at) in inbox.drain() {
                    generator.react_to_email(&to, at);
                }
                // Nobody listening any more only means the run is being stopped.
                let _ = progress.send((
                    k,
                    DayDone {
                        days: day + 1,
                        events: counts.simulated,
                    },
                ));
            }
            Ok::<_, SimulateError>(())
        }
        .await;
        engine.stop_intake();
        outcome?;
        Ok(report::collect(store.as_ref(), &program, &generator, counts).await?)
    }
}

/// Hands a store's outbox to `each` a page at a time, newest message first.
async fn each_message_page(
    store: &dyn Store,
    page_size: i64,
    mut each: impl FnMut(Vec<onboard_store::MessageRecord>),
) -> onboard_store::Result<()> {
    let mut before = None;
    loop {
        let page = store
            .list_messages(&onboard_store::MessageFilter {
                account: None,
                status: None,
                before: before.clone(),
                limit: page_size,
            })
            .await?;
        let Some(last) = page.last() else {
            return Ok(());
        };
        before = Some((last.created_at, last.id.clone()));
        each(page);
    }
}

fn load(source: &ProgramSource) -> Result<Program> {
    onboard_core::program::load(source)
        .map_err(|diagnostics| SimulateError::Program(diagnostics.len()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use onboard_store::testing::TestDatabase;

    fn example() -> ProgramSource {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../program");
        crate::read_program_dir(&dir).unwrap_or_else(|e| panic!("{e}"))
    }

    fn cohort() -> Cohort {
        Cohort {
            accounts: 12,
            days: 10,
            seed: 3,
            ..Cohort::default()
        }
    }

    async fn run(db: &TestDatabase) -> Report {
        let store = onboard_store::connect(&db.url).await.unwrap();
        simulate(vec![store], &example(), &cohort(), &mut |_| {})
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn firing_timers_in_windows_gives_the_same_report_as_stopping_at_every_due_time() {
        let mut reports = Vec::new();
        for how in [Advance::EveryDueTime, Advance::Windows] {
            let db = TestDatabase::sqlite().unwrap();
            let store = onboard_store::connect(&db.url).await.unwrap();
            let cohort = Cohort {
                accounts: 20,
                days: 21,
                ..cohort()
            };
            let report = simulate_by(vec![store], &example(), &cohort, &mut |_| {}, how)
                .await
                .unwrap();
            reports.push(report);
            db.finish().await;
        }
        assert!(reports[0].events.timers_fired > 0);
        assert_eq!(reports[0], reports[1]);
    }

    #[tokio::test]
    async fn a_cohort_split_into_shards_gives_the_same_report_as_on_one_store() {
        let mut reports = Vec::new();
        for shards in [1, 3] {
            let dbs: Vec<TestDatabase> = (0..shards)
                .map(|_| TestDatabase::sqlite().unwrap())
                .collect();
            let mut stores = Vec::new();
            for db in &dbs {
                stores.push(onboard_store::connect(&db.url).await.unwrap());
            }
            let mut days = Vec::new();
            let report = simulate(stores, &example(), &cohort(), &mut |d| days.push(d.days))
                .await
                .unwrap();
            assert_eq!(days, (1..=cohort().days).collect::<Vec<_>>());
            reports.push(report);
            for db in dbs {
                db.finish().await;
            }
        }
        assert!(reports[0].messages.to_people > 0);
        assert_eq!(reports[0], reports[1]);
    }

    #[tokio::test]
    async fn a_simulation_without_a_store_is_refused() {
        let outcome = simulate(Vec::new(), &example(), &cohort(), &mut |_| {}).await;
        assert!(
            matches!(outcome, Err(SimulateError::NoStore)),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn a_cohort_gives_the_same_report_on_every_backend_and_run() {
        let mut reports = Vec::new();
        let mut dbs = TestDatabase::all().await;
        dbs.push(TestDatabase::memory());
        for db in dbs {
            reports.push((db.backend, run(&db).await));
            db.finish().await;
        }
        let again = TestDatabase::sqlite().unwrap();
        let (_, first) = &reports[0];
        assert_eq!(&run(&again).await, first);
        again.finish().await;
        for (backend, report) in &reports {
            assert_eq!(report, first, "{backend}");
        }
        assert_eq!(first.cohort.accounts, 12);
        assert!(first.events.simulated > 0);
        assert!(first.messages.to_people > 0);
    }
}
