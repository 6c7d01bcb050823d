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

/// Runs `cohort` through the program of `source` on `store` (fresh: it is migrated here),
/// day by day: each hour's generated events go in when the clock reaches that hour, the
/// clock moves to the end of the day (every timer firing at its own time), and the emails of
/// the day are shown to the people they went to, who may answer by signing in the next day.
/// `on_day` hears after each day.
pub async fn simulate(
    store: Arc<dyn Store>,
    source: &ProgramSource,
    cohort: &Cohort,
    on_day: &mut (dyn FnMut(DayDone) + Send),
) -> Result<Report> {
    simulate_by(store, source, cohort, on_day, Advance::Windows).await
}

async fn simulate_by(
    store: Arc<dyn Store>,
    source: &ProgramSource,
    cohort: &Cohort,
    on_day: &mut (dyn FnMut(DayDone) + Send),
    how: Advance,
) -> Result<Report> {
    let program = load(source)?;
    let mut generator = Generator::new(cohort, &program).map_err(SimulateError::Cohort)?;
    store.migrate().await?;
    let clock = Arc::new(ManualClock::new(generator.time(0)));
    let inbox = Arc::new(Inbox::new(clock.clone()));
    let engine = Engine::start(
        EngineConfig::new("simulate", PUBLIC_URL),
        store.clone(),
        clock,
        inbox.clone(),
        program.clone(),
        source,
    )
    .await?;

    let mut counts = report::EventCounts {
        simulated: 0,
        processed: 0,
        timers_fired: 0,
    };
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
            // The day's last millisecond, then its end: an email sent at the end is the next
            // day's, so a window must not reach it.
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
            on_day(DayDone {
                days: day + 1,
                events: counts.simulated,
            });
        }
        Ok::<_, SimulateError>(())
    }
    .await;
    engine.stop_intake();
    outcome?;
    Ok(report::build(store.as_ref(), &program, cohort, &generator, counts).await?)
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
        simulate(store, &example(), &cohort(), &mut |_| {})
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
            let report = simulate_by(store, &example(), &cohort, &mut |_| {}, how)
                .await
                .unwrap();
            reports.push(report);
            db.finish().await;
        }
        assert!(reports[0].events.timers_fired > 0);
        assert_eq!(reports[0], reports[1]);
    }

    #[tokio::test]
    async fn a_cohort_gives_the_same_report_on_every_backend_and_run() {
        let mut reports = Vec::new();
        for db in TestDatabase::all().await {
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
