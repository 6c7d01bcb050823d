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
use onboard_store::Store;
use std::sync::Arc;

/// The base of links in simulated messages: a reserved name that resolves nowhere.
const PUBLIC_URL: &str = "https://onboard.invalid";
/// Events handed to the intake at once.
const INGEST_CHUNK: usize = 1_000;

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
                let progress = engine.advance_to(instant[0].at).await?;
                counts.processed += progress.events_processed;
                counts.timers_fired += progress.timers_fired;
                for chunk in instant.chunks(INGEST_CHUNK) {
                    engine.ingest(chunk.to_vec()).await?;
                }
            }
            let end = generator.time((i64::from(day) + 1) * 24);
            let progress = engine.advance_to(end).await?;
            counts.processed += progress.events_processed;
            counts.timers_fired += progress.timers_fired;
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
