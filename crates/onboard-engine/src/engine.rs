//! The engine: one struct that owns the intake, runs the processor, scheduler and
//! dispatcher rounds, and settles the system up to a time for the manual clock.

use crate::channels::{self, Channels, Endpoint, Outgoing};
use crate::clock::Clock;
use crate::crm::hubspot::{FetchedDeal, HubSpotClient};
use crate::crm::pipedrive::{self, PipedriveClient};
use crate::crm::FetchError;
use crate::intake::Intake;
use crate::llm::{self, Drafter, LlmSettings};
use crate::mail::Mailer;
use crate::programs::{program_to_json, Programs};
use crate::{EngineError, Result};
use onboard_core::crm::{self, HubSpotFetch, PipedriveFetch, WonDeal};
use onboard_core::decide::{decide, Settings};
use onboard_core::event::types;
use onboard_core::portfolio::Summary;
use onboard_core::program::{Program, ProgramSource};
use onboard_core::state::{
    AccountState, Decisions, NewTimer, TimerCancel, SIGN_IN_URL_PLACEHOLDER, TEAM_ACCOUNT,
};
use onboard_core::stored::PartsBefore;
use onboard_core::{Duration, Event, EventType, NewEvent, Timestamp};
use onboard_store::{
    Appended, ClaimedMessage, DeliveryOutcome, Lease, MessageDraft, NewSignInToken, Now,
    ProcessedBatch, Store, StoreError, UsageCall, UsageOutcome,
};
use rand::Rng;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{Mutex, Notify};

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// This node's name in leases and claims (unique per process).
    pub node: String,
    /// Base of every link sent.
    pub public_url: String,
    /// Events processed per transaction while intake is active: a batch holds the store's
    /// writer (one, on SQLite) for its whole transaction, and intake commits wait for it.
    pub process_batch: i64,
    /// Events processed per transaction when no intake request came since the last batch
    /// and none waits for its answer (a backlog, a clock advance, a restart): a batch writes
    /// each account it touches once, so the more of an account's events it holds, the fewer
    /// writes per event.
    pub process_batch_quiet: i64,
    /// Timers fired per transaction.
    pub timer_batch: i64,
    /// Messages claimed per dispatch round.
    pub dispatch_batch: i64,
    /// A processed batch of at least this many accounts (none new, each with a CSM) is
    /// decided on two threads, half of its accounts each; `usize::MAX` never.
    pub parallel_decide_accounts: usize,
    /// Delivery attempts before a message is dead.
    pub max_attempts: i64,
    /// First retry delay; doubles each attempt, capped at `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Length of claims on timers, messages and the processor.
    pub lease: Duration,
    /// Intake transactions in flight at once on PostgreSQL (SQLite writes one at a time).
    pub intake_writers_postgres: usize,
    /// Longest pause of the background loop when nothing wakes it (system clock).
    pub idle_poll: std::time::Duration,
    /// How long a person's first sign-in link lives, and every later one.
    pub first_link_ttl: Duration,
    pub link_ttl: Duration,
    /// HubSpot's CRM API, for the deals its webhooks name.
    pub hubspot: Option<HubSpotSettings>,
    /// Pipedrive's API, for the deals its webhooks name (without it, the Pipedrive hook
    /// builds the deal from the webhook alone).
    pub pipedrive: Option<PipedriveSettings>,
    /// Outbound endpoints (Slack incoming webhooks, signed webhooks) that `slack` and
    /// `webhook` messages name in `to_email`.
    pub endpoints: Vec<Endpoint>,
    /// Lets outbound endpoints resolve to loopback, private, link-local… addresses (tests, a
    /// receiver on the same network). Off by default: the address guard refuses them.
    pub allow_private_targets: bool,
    /// An OpenAI-compatible chat endpoint that drafts autopilot emails before their first
    /// delivery; without it, every email is its template.
    pub llm: Option<LlmSettings>,
    /// Account states the processor keeps between batches (0: none; see `state_cache.rs`).
    pub state_cache: usize,
}

/// Where and how to reach HubSpot's CRM API.
#[derive(Clone)]
pub struct HubSpotSettings {
    /// e.g. `https://api.hubapi.com`.
    pub api_base: String,
    pub access_token: String,
}

impl std::fmt::Debug for HubSpotSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubSpotSettings")
            .field("api_base", &self.api_base)
            .field("access_token", &"***")
            .finish()
    }
}

/// Where and how to reach Pipedrive's API.
#[derive(Clone)]
pub struct PipedriveSettings {
    /// e.g. `https://api.pipedrive.com`.
    pub api_base: String,
    pub api_token: String,
}

impl std::fmt::Debug for PipedriveSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipedriveSettings")
            .field("api_base", &self.api_base)
            .field("api_token", &"***")
            .finish()
    }
}

impl EngineConfig {
    pub fn new(node: &str, public_url: &str) -> Self {
        Self {
            node: node.to_owned(),
            public_url: public_url.to_owned(),
            process_batch: 2_000,
            process_batch_quiet: 10_000,
            timer_batch: 2_000,
            dispatch_batch: 50,
            parallel_decide_accounts: 64,
            max_attempts: 15,
            base_backoff: Duration(30_000),
            max_backoff: Duration(4 * 3_600_000),
            lease: Duration(30_000),
            intake_writers_postgres: 4,
            idle_poll: std::time::Duration::from_millis(250),
            first_link_ttl: Duration(7 * 24 * 3_600_000),
            link_ttl: Duration(15 * 60_000),
            hubspot: None,
            pipedrive: None,
            endpoints: Vec::new(),
            allow_private_targets: false,
            llm: None,
            state_cache: 20_000,
        }
    }
}

/// What one round or one settle did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    pub timers_fired: usize,
    pub events_processed: usize,
    pub messages_attempted: usize,
}

impl Progress {
    fn add(&mut self, other: Progress) {
        self.timers_fired += other.timers_fired;
        self.events_processed += other.events_processed;
        self.messages_attempted += other.messages_attempted;
    }
    fn is_idle(&self) -> bool {
        *self == Progress::default()
    }
}

/// The running engine. Cheap to share as `Arc<Engine>`.
pub struct Engine {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    mailer: Arc<dyn Mailer>,
    programs: Programs,
    config: EngineConfig,
    settings: Settings,
    intake: Intake,
    /// The intake's request count when the processor last took a batch (see
    /// `EngineConfig::process_batch_quiet`).
    intake_seen: std::sync::atomic::AtomicU64,
    appended: Arc<Notify>,
    /// Set while [`Engine::advance_in_windows`] runs: timers are claimed the earliest per
    /// account at a time.
    windowed: AtomicBool,
    /// One round of work at a time in this process (background loop or clock advance).
    work: Mutex<()>,
    /// The processor lease while held, with the engine time it was taken or renewed at.
    processor_lease: Mutex<Option<(Lease, Timestamp)>>,
    /// Account states as the processor last committed them under its lease.
    states: std::sync::Mutex<crate::state_cache::StateCache>,
    stopping: AtomicBool,
    hubspot: Option<Arc<HubSpotClient>>,
    pipedrive: Option<Arc<PipedriveClient>>,
    /// The outbound endpoints and their HTTP client.
    channels: Channels,
    /// The model that drafts autopilot emails, when configured.
    drafter: Option<Arc<Drafter>>,
    /// This engine, for work that runs on beyond a round (CRM fetches, drafts).
    me: std::sync::Weak<Engine>,
}

const PROCESSOR_LEASE: &str = "processor";
const PROCESSOR_LEASE_RENEW_MS: i64 = 5_000;
/// Event batches a round processes before it fires timers and dispatches messages again.
const BATCHES_PER_ROUND: usize = 4;
/// How deep the events an event derives (and theirs, and so on) are decided in its own batch;
/// deeper ones wait in the log for the next batch, so a rule loop cannot hold a batch.
const INLINE_DEPTH: usize = 8;
/// Events processed in one settle from which the engine counts as busy, and lets intake
/// gather before the next one.
const BUSY_EVENTS: usize = 64;
/// How long the background loop lets new events gather before processing them when busy.
/// Under a stream of single-event requests, each batch then decides a few hundred events
/// at once instead of a few dozen, and competes less with the intake for the CPU and the
/// writer (25 ms gave 12,400–14,000 intake requests/s where 5 ms gave 11,200–11,800, run in
/// turn; BENCHMARKS.md §1). A lone event on a quiet engine is still decided at once.
const INTAKE_GATHER: std::time::Duration = std::time::Duration::from_millis(25);
/// Polls (10 ms apart) without progress of another processor before settling stops waiting.
const STALLED_HOLDER_POLLS: u32 = 200;

impl Engine {
    /// Records the program version and starts the intake writer.
    pub async fn start(
        config: EngineConfig,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        mailer: Arc<dyn Mailer>,
        program: Program,
        source: &ProgramSource,
    ) -> Result<Arc<Self>> {
        store
            .save_program_version(&program.version.0, &program_to_json(source), clock.now())
            .await?;
        let appended = Arc::new(Notify::new());
        let state_cache = config.state_cache;
        let writers = match store.backend() {
            "postgres" => config.intake_writers_postgres,
            _ => 1,
        };
        let intake = Intake::start(store.clone(), clock.clone(), appended.clone(), writers);
        let settings = Settings::new(&config.public_url);
        let hubspot = match &config.hubspot {
            Some(h) => Some(Arc::new(
                HubSpotClient::new(&h.api_base, &h.access_token).map_err(EngineError::Config)?,
            )),
            None => None,
        };
        let pipedrive = match &config.pipedrive {
            Some(p) => Some(Arc::new(
                PipedriveClient::new(&p.api_base, &p.api_token).map_err(EngineError::Config)?,
            )),
            None => None,
        };
        let channels = Channels::new(config.endpoints.clone(), config.allow_private_targets)
            .map_err(EngineError::Config)?;
        let drafter = match &config.llm {
            Some(settings) => {
                // A draft must end while its claim holds, or another node sends the message.
                let lease = std::time::Duration::from_millis(config.lease.millis().max(0) as u64);
                if settings.timeout >= lease {
                    return Err(EngineError::Config(format!(
                        "the LLM timeout ({}) must be shorter than the claim lease ({})",
                        llm::shown(settings.timeout),
                        llm::shown(lease)
                    )));
                }
                Some(Arc::new(
                    Drafter::new(settings, config.allow_private_targets)
                        .map_err(EngineError::Config)?,
                ))
            }
            None => None,
        };
        Ok(Arc::new_cyclic(|me| Self {
            hubspot,
            pipedrive,
            channels,
            drafter,
            me: me.clone(),
            store,
            clock,
            mailer,
            programs: Programs::new(program),
            config,
            settings,
            intake,
            intake_seen: std::sync::atomic::AtomicU64::new(0),
            appended,
            windowed: AtomicBool::new(false),
            work: Mutex::new(()),
            processor_lease: Mutex::new(None),
            states: std::sync::Mutex::new(crate::state_cache::StateCache::new(state_cache)),
            stopping: AtomicBool::new(false),
        }))
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn program(&self) -> &Arc<Program> {
        self.programs.current()
    }

    /// The program of a version an account runs under (loaded from the store once, then
    /// kept): what that account's pages and decisions follow, not the current program.
    pub async fn program_of(&self, version: &str) -> Result<Arc<Program>> {
        let current = self.programs.current();
        if current.version.0 == version {
            return Ok(current.clone());
        }
        self.programs.version(self.store.as_ref(), version).await
    }

    /// Wakes the engine's loop for a round now (after work was queued outside the intake,
    /// such as a message to a team member).
    pub fn wake(&self) {
        self.appended.notify_one();
    }

    /// An account's portfolio row.
    pub fn summary(&self, account: &AccountState) -> Summary {
        Summary::of(account, &self.programs.current().health)
    }

    /// Writes the portfolio rows of accounts that have none (they were created before the
    /// portfolio existed). Returns how many.
    pub async fn backfill_portfolio(&self) -> Result<usize> {
        let mut written = 0;
        loop {
            let ids = self.store.accounts_without_summary(500).await?;
            if ids.is_empty() {
                return Ok(written);
            }
            let rows: Vec<Summary> = self
                .store
                .load_accounts(&ids)
                .await?
                .iter()
                .map(|a| self.summary(a))
                .collect();
            if rows.is_empty() {
                return Ok(written);
            }
            self.store.write_summaries(&rows).await?;
            written += rows.len();
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The configured outbound endpoints.
    pub fn endpoints(&self) -> &channels::Endpoints {
        self.channels.endpoints()
    }

    /// Whether the engine is shutting down (it takes no more events).
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The time the store compares due times with (the database clock on PostgreSQL).
    fn store_now(&self) -> Now {
        let now = self.clock.now();
        if self.clock.manual().is_some() {
            Now::Manual(now)
        } else {
            Now::System(now)
        }
    }

    /// Appends events durably (group commit) and returns once committed.
    pub async fn ingest(&self, events: Vec<NewEvent>) -> Result<Vec<Appended>> {
        if self.stopping.load(Ordering::SeqCst) {
            return Err(EngineError::ShuttingDown);
        }
        self.intake.append(events).await
    }

    /// Links product-usage calls to accounts and appends (or holds) them durably, in the
    /// same group commit as [`Engine::ingest`]; returns once committed.
    pub async fn ingest_usage(&self, calls: Vec<UsageCall>) -> Result<Vec<UsageOutcome>> {
        if self.stopping.load(Ordering::SeqCst) {
            return Err(EngineError::ShuttingDown);
        }
        self.intake.append_usage(calls).await
    }

    /// Runs rounds of work until nothing is left to do at the current time.
    pub async fn settle(&self) -> Result<Progress> {
        let _guard = self.work.lock().await;
        self.settle_locked().await
    }

    async fn settle_locked(&self) -> Result<Progress> {
        let mut total = Progress::default();
        let mut waiting = 0u32;
        let mut last_backlog = i64::MAX;
        loop {
            let round = self.round().await?;
            total.add(round);
            if round.is_idle() {
                // Work this node could not take is another node's: events while it holds
                // the processor lease, timers and messages while it holds their claims.
                // Due work first: work finished elsewhere appends its events before it is
                // marked done (a CRM fetch logs its deal, then completes), so this order
                // never misses both.
                let due = self.store.due_work(self.store_now()).await?;
                let events = self.store.processing_backlog().await?.n_events;
                let outstanding = events + due.total();
                if outstanding == 0 || self.stopping.load(Ordering::SeqCst) {
                    return Ok(total);
                }
                // Wait while the other node makes progress (its work may leave more due
                // here, which the next round takes). A holder that makes none (it died;
                // its leases run out with time) is not waited for: moving the clock on is
                // what hands its work over.
                if outstanding < last_backlog {
                    waiting = 0;
                } else {
                    waiting += 1;
                }
                last_backlog = outstanding;
                if waiting >= STALLED_HOLDER_POLLS {
                    tracing::warn!(
                        n_events = events,
                        n_timers = due.timers,
                        n_messages = due.messages,
                        "work due is held by another node that makes no progress"
                    );
                    return Ok(total);
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }

    /// One round: fire due timers, process waiting events, attempt due messages.
    async fn round(&self) -> Result<Progress> {
        let timers_fired = self.fire_due_timers().await?;
        let events_processed = self.process_waiting().await?;
        let messages_attempted = self.dispatch_due().await?;
        Ok(Progress {
            timers_fired,
            events_processed,
            messages_attempted,
        })
    }

    /// Moves the manual clock to `to`, stopping at every due timer on the way so each fires
    /// at its own time, and returns once everything due up to `to` is settled.
    pub async fn advance_to(&self, to: Timestamp) -> Result<Progress> {
        let manual = self.clock.manual().ok_or(EngineError::NotManual)?;
        let now = self.clock.now();
        if to < now {
            return Err(EngineError::ClockBackwards { to, now });
        }
        let _guard = self.work.lock().await;
        let mut total = self.settle_locked().await?;
        loop {
            let now = self.clock.now();
            let next = self.store.next_timer_due().await?;
            match next {
                Some(due) if due > now && due <= to => {
                    manual.set(due);
                }
                _ => break,
            }
            total.add(self.settle_locked().await?);
        }
        manual.set(to);
        total.add(self.settle_locked().await?);
        Ok(total)
    }

    /// Moves the manual clock to `to` a time window at a time, for simulations: where
    /// [`Engine::advance_to`] stops at every distinct due time, this stops at the first due
    /// timer plus `window` and fires every account's timers due by then in rounds, the earliest
    /// timer of each account per round, so each account's timers still fire in order and
    /// what one schedules inside the window fires in a later round. Every timer's event keeps
    /// its own due time, so decisions are the same as with [`Engine::advance_to`]; only the
    /// clock's time at processing and sending (messages' attempts) is the window's end.
    pub async fn advance_in_windows(&self, to: Timestamp, window: Duration) -> Result<Progress> {
        let manual = self.clock.manual().ok_or(EngineError::NotManual)?;
        let now = self.clock.now();
        if to < now {
            return Err(EngineError::ClockBackwards { to, now });
        }
        let _guard = self.work.lock().await;
        self.windowed.store(true, Ordering::SeqCst);
        let result = async {
            let mut total = self.settle_locked().await?;
            loop {
                let now = self.clock.now();
                match self.store.next_timer_due().await? {
                    Some(due) if due > now && due <= to => {
                        manual.set(Timestamp(due.0.saturating_add(window.0.max(0)).min(to.0)));
                    }
                    _ => break,
                }
                total.add(self.settle_locked().await?);
            }
            manual.set(to);
            total.add(self.settle_locked().await?);
            Ok(total)
        }
        .await;
        self.windowed.store(false, Ordering::SeqCst);
        result
    }

    /// The background loop: rounds of work whenever events arrive or time passes, until
    /// `stop` is notified; then finishes the round in flight and returns.
    pub async fn run(self: Arc<Self>, stop: Arc<Notify>) {
        match self.backfill_portfolio().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(accounts = n, "portfolio rows written for older accounts"),
            Err(error) => tracing::error!(error = %error, "portfolio rows not written"),
        }
        let mut backoff = std::time::Duration::from_millis(100);
        let mut busy = false;
        loop {
            let pause = match self.settle().await {
                Ok(progress) => {
                    backoff = std::time::Duration::from_millis(100);
                    busy = progress.events_processed >= BUSY_EVENTS;
                    self.idle_pause().await
                }
                Err(error) => {
                    tracing::error!(error = %error, "engine round failed; retrying");
                    backoff = (backoff * 2).min(std::time::Duration::from_secs(10));
                    backoff
                }
            };
            tokio::select! {
                _ = stop.notified() => break,
                _ = self.appended.notified() => {
                    // Under load, let a burst of intake gather, so it is processed in one
                    // batch; a lone event (a deal won on a quiet day) goes through at once.
                    if busy && self.clock.manual().is_none() {
                        tokio::time::sleep(INTAKE_GATHER).await;
                    }
                }
                _ = tokio::time::sleep(pause) => {}
            }
        }
        self.release_processor_lease().await;
    }

    /// How long to wait for new work: until the next timer or message is due (on the system
    /// clock), at most `idle_poll`.
    async fn idle_pause(&self) -> std::time::Duration {
        let poll = self.config.idle_poll;
        if self.clock.manual().is_some() {
            return poll;
        }
        let now = self.clock.now().millis();
        let mut next = now + i64::try_from(poll.as_millis()).unwrap_or(i64::MAX);
        if let Ok(Some(due)) = self.store.next_timer_due().await {
            next = next.min(due.millis());
        }
        if let Ok(Some(due)) = self.store.next_message_due().await {
            next = next.min(due.millis());
        }
        std::time::Duration::from_millis(u64::try_from((next - now).max(5)).unwrap_or(5))
    }

    /// Stops taking events: `ingest` answers `ShuttingDown` from now on. Called once the HTTP
    /// server has stopped, when every request in flight has had its answer (an answer comes
    /// only after its commit), so the intake holds nothing.
    pub fn stop_intake(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Whether work due at `due` may be due now. A cheap read that spares the claim (a
    /// write) when nothing is due; on the system clock it allows for the database clock
    /// (which the claim uses on PostgreSQL) running a little ahead of this node's.
    fn is_due(&self, due: Option<Timestamp>) -> bool {
        let margin = if self.clock.manual().is_some() {
            0
        } else {
            1_000
        };
        due.is_some_and(|due| due.millis() <= self.clock.now().millis() + margin)
    }

    // ---- scheduler ----

    /// Claims due timers and turns each into a `timer.fired` event.
    async fn fire_due_timers(&self) -> Result<usize> {
        if !self.is_due(self.store.next_timer_due().await?) {
            return Ok(0);
        }
        let mut fired = 0;
        loop {
            let claims = if self.windowed.load(Ordering::SeqCst) {
                self.store
                    .claim_earliest_timers(
                        &self.config.node,
                        self.store_now(),
                        self.config.lease,
                        self.config.timer_batch,
                    )
                    .await?
            } else {
                self.store
                    .claim_due_timers(
                        &self.config.node,
                        self.store_now(),
                        self.config.lease,
                        self.config.timer_batch,
                    )
                    .await?
            };
            if claims.is_empty() {
                return Ok(fired);
            }
            let n_claimed = claims.len();
            let batch: Vec<_> = claims
                .into_iter()
                .filter_map(|claim| {
                    let kind = EventType::parse(types::TIMER_FIRED).ok()?;
                    let event = NewEvent {
                        key: onboard_core::decide::timer_fired_key(&claim.id, claim.due_at),
                        kind,
                        account: claim.account.clone(),
                        at: claim.due_at,
                        data: onboard_core::decide::timer_fired_data(
                            &claim.id,
                            &claim.rule,
                            claim.since_at,
                            &claim.program_version,
                        ),
                    };
                    Some((claim, event))
                })
                .collect();
            let n = self
                .store
                .fire_timers(&self.config.node, &batch, self.clock.now())
                .await?;
            metrics::counter!("onboard_timers_fired_total").increment(n as u64);
            fired += n;
            if (n_claimed as i64) < self.config.timer_batch {
                return Ok(fired);
            }
        }
    }

    // ---- processor ----

    /// The processor lease: the one held, while fresh; else taken or renewed in the store.
    async fn processor_lease(&self) -> Result<Option<Lease>> {
        let mut held = self.processor_lease.lock().await;
        let now = self.clock.now();
        if let Some((lease, at)) = held.as_ref() {
            if (0..PROCESSOR_LEASE_RENEW_MS).contains(&(now.millis() - at.millis())) {
                return Ok(Some(lease.clone()));
            }
        }
        let lease = self
            .store
            .acquire_lease(
                PROCESSOR_LEASE,
                &self.config.node,
                self.store_now(),
                self.config.lease,
            )
            .await?;
        *held = lease.clone().map(|lease| (lease, now));
        Ok(lease)
    }

    async fn release_processor_lease(&self) {
        let lease = self.processor_lease.lock().await.take();
        if let Some((lease, _)) = lease {
            if let Err(error) = self.store.release_lease(&lease).await {
                tracing::warn!(error = %error, "releasing the processor lease failed");
            }
        }
    }

    /// Processes waiting events in batches while this node holds the processor lease.
    /// At most [`BATCHES_PER_ROUND`] batches, so that under steady intake the round still
    /// reaches the dispatcher (emails wait for no lull in the intake).
    async fn process_waiting(&self) -> Result<usize> {
        let mut processed = 0;
        for _ in 0..BATCHES_PER_ROUND {
            let (requests, waiting) = self.intake.activity();
            let quiet = self.intake_seen.swap(requests, Ordering::Relaxed) == requests && !waiting;
            let limit = if quiet {
                self.config
                    .process_batch_quiet
                    .max(self.config.process_batch)
            } else {
                self.config.process_batch
            };
            let events = self.store.unprocessed_events(limit).await?;
            if events.is_empty() {
                return Ok(processed);
            }
            let Some(lease) = self.processor_lease().await? else {
                return Ok(processed);
            };
            let n = match self.process_batch(&lease, events).await {
                Ok(decided) => decided,
                Err(EngineError::Store(StoreError::LeaseLost(_))) => {
                    tracing::warn!(node = %self.config.node, "processor lease lost; batch dropped");
                    *self.processor_lease.lock().await = None;
                    if let Ok(mut cache) = self.states.lock() {
                        cache.clear();
                    }
                    return Ok(processed);
                }
                Err(error) => return Err(error),
            };
            processed += n;
            metrics::counter!("onboard_events_processed_total").increment(n as u64);
        }
        Ok(processed)
    }

    /// Decides a batch of events and commits everything in one transaction. Returns how many
    /// events were decided: the batch's and those they derived for their own accounts.
    async fn process_batch(&self, lease: &Lease, events: Vec<Event>) -> Result<usize> {
        let mut ids: Vec<String> = events.iter().map(|e| e.account.clone()).collect();
        ids.sort();
        ids.dedup();
        let (cached, missing) = match self.states.lock() {
            Ok(mut cache) => cache.take(lease.epoch, &ids),
            Err(_) => (Vec::new(), ids.clone()),
        };
        // The portfolio rows as they stand: only those the batch changes are written.
        let mut before: HashMap<String, Summary> = HashMap::with_capacity(ids.len());
        let mut accounts: HashMap<String, AccountState> = HashMap::with_capacity(ids.len());
        for (account, summary) in cached {
            before.insert(account.id.clone(), summary);
            accounts.insert(account.id.clone(), account);
        }
        if !missing.is_empty() {
            for account in self.store.load_accounts(&missing).await? {
                before.insert(account.id.clone(), self.summary(&account));
                accounts.insert(account.id.clone(), account);
            }
        }
        // The parts of the states as they stand: only those the batch changes are written.
        let parts_before: HashMap<String, PartsBefore> = accounts
            .values()
            .map(|a| (a.id.clone(), PartsBefore::of(a)))
            .collect();
        let current = self.programs.current().clone();
        // The program of each account's version, fetched before deciding (a state keeps the
        // version it started with; new accounts start on the current one).
        let mut programs: HashMap<String, Arc<Program>> = HashMap::new();
        programs.insert(current.version.0.clone(), current.clone());
        for account in accounts.values() {
            if !programs.contains_key(&account.program_version) {
                let program = self
                    .programs
                    .version(self.store.as_ref(), &account.program_version)
                    .await?;
                programs.insert(account.program_version.clone(), program);
            }
        }
        let now = self.clock.now();
        // New accounts get the CSM with the least load: count it once per batch that has one.
        let mut settings = self.settings.clone();
        let new_account = events
            .iter()
            .any(|e| !crm::is_connector_stream(&e.account) && !accounts.contains_key(&e.account));
        if new_account {
            settings.csm_load = self
                .store
                .csm_loads()
                .await?
                .into_iter()
                .map(|(csm, n)| (csm.to_lowercase(), u64::try_from(n).unwrap_or(0)))
                .collect();
        }
        let runs = Runs {
            programs: &programs,
            current: &current,
            now,
        };
        // Accounts are decided independently of each other, but for the CSM a new account
        // (or one without a CSM) gets by least load, and for the raw CRM events: a batch of
        // many accounts with neither is decided on two threads, half of its accounts each.
        let independent = accounts.len() >= self.config.parallel_decide_accounts
            && !new_account
            && accounts.values().all(|a| a.csm.is_some())
            && !events.iter().any(|e| crm::is_connector_stream(&e.account));
        let Decided {
            decisions,
            processed,
            handled,
        } = if independent {
            let (first, second) = halves(&events);
            let mut theirs: HashMap<String, AccountState> = second
                .iter()
                .filter_map(|e| accounts.remove_entry(&e.account))
                .collect();
            let mut their_settings = settings.clone();
            let (mut mine, theirs_decided) = std::thread::scope(|scope| {
                let other = scope.spawn(|| runs.decide(&second, &mut theirs, &mut their_settings));
                let mine = runs.decide(&first, &mut accounts, &mut settings);
                let theirs = other
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (mine, theirs)
            });
            accounts.extend(theirs);
            mine.append(theirs_decided);
            mine
        } else {
            runs.decide(
                &events.iter().collect::<Vec<_>>(),
                &mut accounts,
                &mut settings,
            )
        };
        let lag = events
            .iter()
            .map(|e| self.clock.now().millis() - e.received_at.millis())
            .max()
            .unwrap_or(0);
        metrics::gauge!("onboard_processing_lag_seconds").set(lag as f64 / 1000.0);
        // The people the batch added are indexed by email at commit, for the usage intake
        // to link product users to them.
        let mut people: Vec<(String, String)> = accounts
            .values()
            .flat_map(|a| {
                parts_before
                    .get(&a.id)
                    .map_or_else(
                        || PartsBefore::default().people_added(a),
                        |b| b.people_added(a),
                    )
                    .into_iter()
                    .map(|email| (a.id.clone(), email.to_owned()))
            })
            .collect();
        people.sort();
        let mut after: HashMap<String, Summary> = accounts
            .values()
            .map(|a| (a.id.clone(), self.summary(a)))
            .collect();
        let summaries = after
            .values()
            .filter(|s| {
                !before
                    .get(&s.account)
                    .is_some_and(|b| b.shows_the_same_as(s))
            })
            .cloned()
            .collect();
        let unchanged = accounts
            .values()
            .map(|a| {
                let before = parts_before.get(&a.id);
                let unchanged = before.map_or_else(
                    || PartsBefore::default().unchanged_in(a),
                    |b| b.unchanged_in(a),
                );
                (a.id.clone(), unchanged)
            })
            .collect();
        let batch = ProcessedBatch {
            processed,
            handled,
            processed_at: now,
            accounts: accounts.into_values().collect(),
            unchanged,
            decisions,
            people,
            summaries,
        };
        self.store.commit_batch(lease, &batch).await?;
        let decided = batch.processed.len() + batch.handled.len();
        if let Ok(mut cache) = self.states.lock() {
            let committed = batch
                .accounts
                .into_iter()
                .filter_map(|a| after.remove(&a.id).map(|summary| (a, summary)))
                .collect();
            cache.keep(lease.epoch, committed);
        }
        Ok(decided)
    }

    // ---- dispatcher ----

    /// Attempts every message due now, once each.
    async fn dispatch_due(&self) -> Result<usize> {
        if !self.is_due(self.store.next_message_due().await?) {
            return Ok(0);
        }
        let mut attempted = 0;
        loop {
            let claims = self
                .store
                .claim_due_messages(
                    &self.config.node,
                    self.store_now(),
                    self.config.lease,
                    self.config.dispatch_batch,
                )
                .await?;
            if claims.is_empty() {
                return Ok(attempted);
            }
            let n_claimed = claims.len();
            let mut emails = Vec::with_capacity(claims.len());
            let mut posts = Vec::new();
            for claim in claims {
                match claim.channel.as_str() {
                    "email" if self.drafts(&claim) => {
                        // A draft waits for a model: it runs beside the rounds, so a slow
                        // endpoint delays only its own message, by at most the timeout.
                        if let Some(engine) = self.me.upgrade() {
                            tokio::spawn(async move { engine.draft_and_send(claim).await });
                        }
                        attempted += 1;
                    }
                    "email" => emails.push(claim),
                    channels::SLACK_CHANNEL | channels::WEBHOOK_CHANNEL => posts.push(claim),
                    crm::HUBSPOT_CHANNEL | crm::PIPEDRIVE_CHANNEL => {
                        // CRM calls can be slow: they run beside the rounds, so one slow
                        // account never holds up the others.
                        if let Some(engine) = self.me.upgrade() {
                            tokio::spawn(async move { engine.fetch_deal(claim).await });
                        }
                        attempted += 1;
                    }
                    other => {
                        let error = crate::mail::SendError {
                            permanent: true,
                            message: format!("no dispatcher for channel `{other}`"),
                        };
                        self.record_delivery(&claim, Err(error), None).await?;
                        attempted += 1;
                    }
                }
            }
            // Sign-in links first: each person's earlier links in one read, the new ones
            // recorded in one write; then the sends.
            let earlier = self.earlier_links(&emails).await?;
            let links = futures::future::join_all(
                emails
                    .iter()
                    .zip(earlier)
                    .map(|(c, earlier)| self.personalise(c, earlier)),
            )
            .await;
            let mut tokens = Vec::new();
            let mut prepared = Vec::with_capacity(links.len());
            for (claim, link) in emails.into_iter().zip(links) {
                match link {
                    Ok((email, token)) => {
                        tokens.extend(token);
                        prepared.push((claim, Ok(email)));
                    }
                    Err(error) => prepared.push((claim, Err(error.to_string()))),
                }
            }
            if let Err(error) = self.store.issue_sign_in_tokens(&tokens).await {
                let message = error.to_string();
                for (claim, email) in &mut prepared {
                    if claim.sign_in_email.is_some() && email.is_ok() {
                        *email = Err(message.clone());
                    }
                }
            }
            let sends = prepared.into_iter().map(|(claim, email)| async move {
                let result = match email {
                    Ok(email) => self.mailer.send(&email).await,
                    Err(error) => Err(crate::mail::SendError {
                        permanent: false,
                        message: format!("the sign-in link could not be issued: {error}"),
                    }),
                };
                (claim, result)
            });
            let posts = posts.into_iter().map(|claim| async move {
                let (result, not_before) = match self.post(&claim).await {
                    Ok(()) => (Ok(()), None),
                    Err((error, not_before)) => (Err(error), not_before),
                };
                (claim, result, not_before)
            });
            let (sent, posted) = futures::join!(
                futures::future::join_all(sends),
                futures::future::join_all(posts)
            );
            let outcomes: Vec<(ClaimedMessage, DeliveryOutcome)> = sent
                .into_iter()
                .map(|(claim, result)| (claim, result, None))
                .chain(posted)
                .map(|(claim, result, not_before)| {
                    let outcome = self.outcome(&claim, result, not_before);
                    (claim, outcome)
                })
                .collect();
            attempted += outcomes.len();
            let recorded = self
                .store
                .complete_messages(&outcomes, self.clock.now())
                .await?;
            if recorded < outcomes.len() {
                tracing::warn!(
                    n = outcomes.len() - recorded,
                    "delivery results dropped: their claims were taken over"
                );
            }
            if (n_claimed as i64) < self.config.dispatch_batch {
                return Ok(attempted);
            }
        }
    }

    /// Whether this claim is an autopilot email to draft before its first delivery: drafting
    /// is configured and its text was not recorded yet (a retry sends the recorded text).
    fn drafts(&self, claim: &ClaimedMessage) -> bool {
        self.drafter.is_some()
            && claim.channel == "email"
            && llm::is_autopilot(&claim.rule)
            && claim.drafted_by.is_none()
    }

    /// Has the model draft an autopilot email (or keeps its template, with the reason, on
    /// any error, refusal or timeout), records the text on the message under the claim, and
    /// sends it; the attempt's outcome is recorded like any delivery.
    async fn draft_and_send(self: Arc<Self>, mut claim: ClaimedMessage) {
        let Some(drafter) = self.drafter.clone() else {
            return;
        };
        let template = llm::Template {
            subject: &claim.subject,
            body: &claim.body,
            to_name: &claim.to_name,
        };
        let draft = match drafter.draft(&template).await {
            Ok(draft) => {
                metrics::counter!("onboard_drafts_total", "outcome" => "drafted").increment(1);
                tracing::info!(message.id = %claim.id, account.id = %claim.account, model = %drafter.model(), "email drafted by the model");
                MessageDraft {
                    subject: draft.subject,
                    body: draft.body,
                    drafted_by: drafter.model().to_owned(),
                }
            }
            Err(reason) => {
                metrics::counter!("onboard_drafts_total", "outcome" => "template").increment(1);
                tracing::warn!(message.id = %claim.id, account.id = %claim.account, reason = %reason, "the model's draft is not used: the template is sent");
                MessageDraft {
                    subject: claim.subject.clone(),
                    body: claim.body.clone(),
                    drafted_by: format!("template: {reason}"),
                }
            }
        };
        let result = match self
            .store
            .record_draft(&claim, &draft, self.clock.now())
            .await
        {
            Ok(true) => {
                claim.subject = draft.subject;
                claim.body = draft.body;
                claim.drafted_by = Some(draft.drafted_by);
                self.send_one_email(&claim).await
            }
            Ok(false) => {
                tracing::warn!(message.id = %claim.id, "draft dropped: the claim was taken over");
                self.appended.notify_one();
                return;
            }
            Err(error) => Err(crate::mail::SendError {
                permanent: false,
                message: format!("the draft could not be recorded: {error}"),
            }),
        };
        if let Err(error) = self.record_delivery(&claim, result, None).await {
            tracing::warn!(message.id = %claim.id, error = %error, "recording a drafted email's delivery failed; it is retried when its claim runs out");
        }
        self.appended.notify_one();
    }

    /// Sends one email outside a round's batch: its sign-in link made and recorded, then
    /// the mailer.
    async fn send_one_email(&self, claim: &ClaimedMessage) -> Result<(), crate::mail::SendError> {
        let link_failed = |error: String| crate::mail::SendError {
            permanent: false,
            message: format!("the sign-in link could not be issued: {error}"),
        };
        let earlier = self
            .earlier_links(std::slice::from_ref(claim))
            .await
            .map_err(|e| link_failed(e.to_string()))?;
        let (email, token) = self
            .personalise(claim, earlier.first().copied().unwrap_or(0))
            .await
            .map_err(|e| link_failed(e.to_string()))?;
        if let Some(token) = token {
            self.store
                .issue_sign_in_tokens(std::slice::from_ref(&token))
                .await
                .map_err(|e| link_failed(e.to_string()))?;
        }
        self.mailer.send(&email).await
    }

    /// The email as sent: a person's sign-in link, made now, in place of its placeholder.
    /// The token is random and kept only as its hash; a person's first link lives longer
    /// than later ones, and a new link revokes the unused earlier ones. An email that holds
    /// the code placeholder instead gets a one-time code: six random digits, kept only as
    /// their hash, living 15 minutes, revoking the person's earlier codes.
    /// For each claim, how many sign-in links its person got before (zero for one that
    /// makes no link), in one read.
    async fn earlier_links(&self, claims: &[ClaimedMessage]) -> Result<Vec<i64>> {
        let wanted: Vec<(usize, (String, String, String))> = claims
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let email = c.sign_in_email.as_ref()?;
                let link = c.subject.contains(SIGN_IN_URL_PLACEHOLDER)
                    || c.body.contains(SIGN_IN_URL_PLACEHOLDER);
                link.then(|| (i, (c.account.clone(), email.clone(), c.id.clone())))
            })
            .collect();
        let mut counts = vec![0; claims.len()];
        if wanted.is_empty() {
            return Ok(counts);
        }
        let keys: Vec<(String, String, String)> = wanted.iter().map(|(_, k)| k.clone()).collect();
        let found = self.store.sign_in_links_before_each(&keys).await?;
        for ((i, _), n) in wanted.iter().zip(found) {
            counts[*i] = n;
        }
        Ok(counts)
    }

    /// `earlier`: how many sign-in links the person got before this message's.
    async fn personalise(
        &self,
        claim: &ClaimedMessage,
        earlier: i64,
    ) -> Result<(ClaimedMessage, Option<NewSignInToken>)> {
        use onboard_core::state::SIGN_IN_CODE_PLACEHOLDER;
        let Some(email) = &claim.sign_in_email else {
            return Ok((claim.clone(), None));
        };
        if claim.body.contains(SIGN_IN_CODE_PLACEHOLDER)
            || claim.subject.contains(SIGN_IN_CODE_PLACEHOLDER)
        {
            let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
            let now = self.clock.now();
            let issued = NewSignInToken {
                token_hash: onboard_core::token::code_hash(&claim.account, email, &code),
                account: claim.account.clone(),
                email: email.clone(),
                purpose: onboard_store::SIGN_IN_CODE.to_owned(),
                message_id: Some(claim.id.clone()),
                created_at: now,
                expires_at: now.plus(Duration(onboard_core::token::CODE_TTL_MS)),
            };
            let mut sent = claim.clone();
            sent.subject = sent.subject.replace(SIGN_IN_CODE_PLACEHOLDER, &code);
            sent.body = sent.body.replace(SIGN_IN_CODE_PLACEHOLDER, &code);
            return Ok((sent, Some(issued)));
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill(&mut bytes);
        let token = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        };
        let now = self.clock.now();
        let ttl = if earlier == 0 {
            self.config.first_link_ttl
        } else {
            self.config.link_ttl
        };
        let issued = NewSignInToken {
            token_hash: onboard_core::token::hash(&token),
            account: claim.account.clone(),
            email: email.clone(),
            purpose: "sign_in".to_owned(),
            message_id: Some(claim.id.clone()),
            created_at: now,
            expires_at: now.plus(ttl),
        };
        // A team member's link opens the console; a customer's, the Academy.
        let portal = if claim.account == TEAM_ACCOUNT {
            "console"
        } else {
            "academy"
        };
        let url = format!(
            "{}/{portal}/sign-in?token={token}",
            self.config.public_url.trim_end_matches('/')
        );
        let mut email = claim.clone();
        email.subject = email.subject.replace(SIGN_IN_URL_PLACEHOLDER, &url);
        email.body = email.body.replace(SIGN_IN_URL_PLACEHOLDER, &url);
        Ok((email, Some(issued)))
    }

    /// Delivers a `slack` or `webhook` message to the endpoint its `to_email` names, unless
    /// that endpoint is disabled; an answer that says the endpoint is gone disables it.
    async fn post(&self, claim: &ClaimedMessage) -> Result<(), FetchFailure> {
        let name = claim.to_email.as_str();
        let Some(endpoint) = self.channels.endpoints().get(name) else {
            let variable = name.to_uppercase().replace('-', "_");
            return Err(fetch_failed_for_good(format!(
                "no endpoint named `{name}` is configured (set ONBOARD_ENDPOINT_{variable}_URL or [endpoints.{name}] in onboard.toml)"
            )));
        };
        if endpoint.kind.as_str() != claim.channel {
            return Err(fetch_failed_for_good(format!(
                "the endpoint `{name}` is a {} endpoint, not {}",
                endpoint.kind.as_str(),
                claim.channel
            )));
        }
        let disabled = self.store.disabled_endpoints().await.map_err(|e| {
            (
                crate::mail::SendError {
                    permanent: false,
                    message: format!("the endpoint's state could not be read: {e}"),
                },
                None,
            )
        })?;
        if let Some((_, at, reason)) = disabled.iter().find(|(n, _, _)| n == name) {
            return Err(fetch_failed_for_good(format!(
                "the endpoint `{name}` is disabled (since {at}: {reason}); enable it with POST /api/endpoints/{name}/enable, then retry the message"
            )));
        }
        let message = Outgoing {
            id: &claim.id,
            body: &claim.body,
        };
        let now = self.clock.now();
        match self.channels.deliver(endpoint, message, now).await {
            Ok(()) => Ok(()),
            Err(error) => {
                if error.disable {
                    tracing::warn!(endpoint = %name, message.id = %claim.id, reason = %error, "endpoint disabled: it gets nothing more until enabled again");
                    if let Err(e) = self.store.disable_endpoint(name, now, &error.message).await {
                        tracing::warn!(endpoint = %name, error = %e, "the endpoint could not be marked disabled");
                    }
                }
                Err((
                    crate::mail::SendError {
                        permanent: error.permanent,
                        message: error.message,
                    },
                    error
                        .retry_after
                        .map(|d| Duration(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))),
                ))
            }
        }
    }

    /// Delivers a CRM fetch (HubSpot or Pipedrive, by the claim's channel): asks the CRM for
    /// the deal and, when it is won, appends the `deal.won` that starts the onboarding; the
    /// outcome is recorded like any delivery (retries with backoff, `Retry-After`, dead).
    async fn fetch_deal(self: Arc<Self>, claim: ClaimedMessage) {
        let outcome = if claim.channel == crm::PIPEDRIVE_CHANNEL {
            self.try_fetch_pipedrive(&claim).await
        } else {
            self.try_fetch_hubspot(&claim).await
        };
        let (result, not_before) = match outcome {
            Ok(()) => (Ok(()), None),
            Err((error, retry_after)) => (Err(error), retry_after),
        };
        if let Err(error) = self.record_delivery(&claim, result, not_before).await {
            tracing::warn!(message.id = %claim.id, channel = %claim.channel, error = %error, "recording a CRM fetch failed; it is retried when its claim runs out");
        }
        self.appended.notify_one();
    }

    async fn try_fetch_hubspot(&self, claim: &ClaimedMessage) -> Result<(), FetchFailure> {
        let Some(client) = &self.hubspot else {
            return Err(fetch_failed_for_good(
                "HubSpot's API is not configured: set ONBOARD_HUBSPOT_ACCESS_TOKEN",
            ));
        };
        let fetch: HubSpotFetch = serde_json::from_str(&claim.body)
            .map_err(|e| fetch_failed_for_good(format!("not a HubSpot fetch: {e}")))?;
        match client
            .fetch_deal(fetch.portal, &fetch.deal_id)
            .await
            .map_err(fetch_failed)?
        {
            FetchedDeal::Won(deal) => {
                self.start_onboarding(&deal, fetch.occurred_at).await?;
                tracing::info!(deal = %fetch.deal_id, portal = fetch.portal, "HubSpot deal won: onboarding starts");
            }
            FetchedDeal::NotWon { stage } => {
                tracing::info!(deal = %fetch.deal_id, portal = fetch.portal, stage = ?stage, "HubSpot deal is not closed won: nothing to do");
            }
        }
        Ok(())
    }

    async fn try_fetch_pipedrive(&self, claim: &ClaimedMessage) -> Result<(), FetchFailure> {
        let Some(client) = &self.pipedrive else {
            return Err(fetch_failed_for_good(
                "Pipedrive's API is not configured: set ONBOARD_PIPEDRIVE_API_TOKEN",
            ));
        };
        let fetch: PipedriveFetch = serde_json::from_str(&claim.body)
            .map_err(|e| fetch_failed_for_good(format!("not a Pipedrive fetch: {e}")))?;
        match client
            .fetch_deal(fetch.company_id, &fetch.deal_id)
            .await
            .map_err(fetch_failed)?
        {
            pipedrive::FetchedDeal::Won(deal) => {
                self.start_onboarding(&deal, fetch.occurred_at).await?;
                tracing::info!(deal = %fetch.deal_id, company = fetch.company_id, n_people = deal.contacts.len(), "Pipedrive deal won: onboarding starts");
            }
            pipedrive::FetchedDeal::NotWon { status } => {
                tracing::info!(deal = %fetch.deal_id, company = fetch.company_id, status = ?status, "Pipedrive deal is not won: nothing to do");
            }
        }
        Ok(())
    }

    /// Appends the `deal.won` of a deal fetched from a CRM, at `at`.
    async fn start_onboarding(&self, deal: &WonDeal, at: Timestamp) -> Result<(), FetchFailure> {
        self.ingest(vec![deal.to_event(at)]).await.map_err(|e| {
            (
                crate::mail::SendError {
                    permanent: false,
                    message: format!("the deal could not be logged: {e}"),
                },
                None,
            )
        })?;
        Ok(())
    }

    async fn record_delivery(
        &self,
        claim: &ClaimedMessage,
        result: Result<(), crate::mail::SendError>,
        not_before: Option<Duration>,
    ) -> Result<()> {
        let outcome = self.outcome(claim, result, not_before);
        if !self
            .store
            .complete_message(claim, &outcome, self.clock.now())
            .await?
        {
            tracing::warn!(message.id = %claim.id, "delivery result dropped: the claim was taken over");
        }
        Ok(())
    }

    /// What an attempt's result makes of the message: delivered, retried later (with
    /// backoff, or not before the receiver's `Retry-After`), or dead.
    fn outcome(
        &self,
        claim: &ClaimedMessage,
        result: Result<(), crate::mail::SendError>,
        not_before: Option<Duration>,
    ) -> DeliveryOutcome {
        let now = self.clock.now();
        match result {
            Ok(()) => {
                metrics::counter!("onboard_deliveries_total", "outcome" => "delivered")
                    .increment(1);
                tracing::info!(message.id = %claim.id, account.id = %claim.account, attempt = claim.attempts, "message delivered");
                DeliveryOutcome::Delivered
            }
            Err(error) if error.permanent || claim.attempts >= self.config.max_attempts => {
                metrics::counter!("onboard_deliveries_total", "outcome" => "dead").increment(1);
                tracing::warn!(message.id = %claim.id, account.id = %claim.account, attempt = claim.attempts, error = %error, "message dead");
                DeliveryOutcome::Dead {
                    error: error.message,
                }
            }
            Err(error) => {
                metrics::counter!("onboard_deliveries_total", "outcome" => "failed").increment(1);
                let wait = self.backoff(claim.attempts);
                let at =
                    now.plus(not_before.map_or(wait, |n| Duration(n.millis().max(wait.millis()))));
                tracing::warn!(message.id = %claim.id, account.id = %claim.account, attempt = claim.attempts, retry_at = %at, error = %error, "delivery failed; will retry");
                DeliveryOutcome::Retry {
                    at,
                    error: error.message,
                }
            }
        }
    }

    /// The pause before retry number `attempts`: exponential, capped, with up to 20 % of
    /// jitter added.
    fn backoff(&self, attempts: i64) -> Duration {
        backoff(&self.config, attempts, rand::rng().random_range(1.0..1.2))
    }

    /// Puts a dead message back in the queue, due now.
    pub async fn retry_message(&self, id: &str) -> Result<()> {
        self.store.retry_message(id, self.clock.now()).await?;
        self.appended.notify_one();
        Ok(())
    }
}

/// The pause before retry number `attempts` (from 1), times `jitter`. Jitter only lengthens
/// the pause, so the schedule without it is the shortest: with the defaults (15 attempts,
/// 30 s doubling, capped at 4 h) the last attempt comes at least 24 h 15 min after the
/// first, the horizon Standard Webhooks senders should cover (see the test below).
fn backoff(config: &EngineConfig, attempts: i64, jitter: f64) -> Duration {
    let exponent = u32::try_from((attempts - 1).clamp(0, 30)).unwrap_or(30);
    let base = config
        .base_backoff
        .millis()
        .saturating_mul(1_i64 << exponent)
        .min(config.max_backoff.millis());
    Duration((base as f64 * jitter) as i64)
}

/// Why a CRM fetch did not deliver, and how long the CRM asked us to wait.
type FetchFailure = (crate::mail::SendError, Option<Duration>);

/// A CRM fetch that retrying cannot fix (not configured, not a fetch).
fn fetch_failed_for_good(message: impl Into<String>) -> FetchFailure {
    (
        crate::mail::SendError {
            permanent: true,
            message: message.into(),
        },
        None,
    )
}

/// A CRM client's error as a delivery failure, with its `Retry-After`.
fn fetch_failed(error: FetchError) -> FetchFailure {
    (
        crate::mail::SendError {
            permanent: error.permanent,
            message: error.message,
        },
        error
            .retry_after
            .map(|d| Duration(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))),
    )
}

/// What deciding a run of a batch's events gave.
#[derive(Default)]
struct Decided {
    decisions: Decisions,
    /// The events decided, by log position.
    processed: Vec<i64>,
    /// The keys of derived events decided with their cause.
    handled: Vec<String>,
}

impl Decided {
    /// Adds what another run of the same batch decided (for other accounts).
    fn append(&mut self, other: Decided) {
        self.decisions.extend(other.decisions);
        self.processed.extend(other.processed);
        self.processed.sort_unstable();
        self.handled.extend(other.handled);
    }
}

/// What every run of a batch decides with: the programs of the accounts' versions, and the
/// processor's time.
struct Runs<'a> {
    programs: &'a HashMap<String, Arc<Program>>,
    current: &'a Arc<Program>,
    now: Timestamp,
}

impl Runs<'_> {
    /// Decides `events` in order against `accounts` (new accounts are added to it).
    fn decide(
        &self,
        events: &[&Event],
        accounts: &mut HashMap<String, AccountState>,
        settings: &mut Settings,
    ) -> Decided {
        let current = self.current;
        let mut decisions = Decisions::default();
        let mut batch_timers = BatchTimers::default();
        let mut processed = Vec::with_capacity(events.len());
        let mut handled = Vec::new();
        for &event in events {
            if crm::is_connector_stream(&event.account) {
                // Raw CRM input: no account of its own; it asks the CRM for the deal.
                decisions
                    .messages
                    .extend(crm::hubspot_fetch(event).or_else(|| crm::pipedrive_fetch(event)));
                processed.push(event.seq);
                continue;
            }
            // What an event derives for its own account is decided right after it, in the
            // same transaction: a cause and its consequences commit together, and the order
            // of decisions does not depend on where batches happen to split.
            let mut pending = VecDeque::from([(Cow::Borrowed(event), 0usize)]);
            while let Some((event, depth)) = pending.pop_front() {
                let had_csm = accounts.get(&event.account).and_then(|a| a.csm.clone());
                let state = accounts.entry(event.account.clone()).or_insert_with(|| {
                    AccountState::new(&event.account, &current.version.0, event.at)
                });
                // Every version of the batch's accounts was fetched; a new account's is the
                // current one.
                let program = self.programs.get(&state.program_version).unwrap_or(current);
                let decided = decide(program, settings, state, &event);
                if had_csm.is_none() {
                    if let Some(csm) = &state.csm {
                        *settings.csm_load.entry(csm.to_lowercase()).or_default() += 1;
                    }
                }
                // A cancel only reaches timers set before this batch; drop the batch's own.
                for cancel in &decided.cancels {
                    batch_timers.cancel(&decisions.timers, cancel);
                }
                if depth < INLINE_DEPTH {
                    for derived in decided.events.iter().filter(|d| d.account == event.account) {
                        handled.push(derived.key.clone());
                        pending.push_back((
                            Cow::Owned(Event {
                                seq: event.seq,
                                key: derived.key.clone(),
                                kind: derived.kind.clone(),
                                account: derived.account.clone(),
                                at: derived.at,
                                data: derived.data.clone(),
                                received_at: self.now,
                                processed_at: None,
                            }),
                            depth + 1,
                        ));
                    }
                }
                let first = decisions.timers.len();
                decisions.extend(decided);
                batch_timers.added(&decisions.timers, first);
            }
            processed.push(event.seq);
        }
        batch_timers.drop_cancelled(&mut decisions.timers);
        Decided {
            decisions,
            processed,
            handled,
        }
    }
}

/// A batch's events split in two by account, each account's events in order in one half,
/// the halves about even in events.
fn halves(events: &[Event]) -> (Vec<&Event>, Vec<&Event>) {
    let mut per_account: HashMap<&str, usize> = HashMap::new();
    for event in events {
        *per_account.entry(event.account.as_str()).or_default() += 1;
    }
    let mut order: Vec<(&str, usize)> = per_account.into_iter().collect();
    // Largest first, then by key: the split is the same for the same batch.
    order.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let (mut sizes, mut second_accounts) = ([0usize; 2], HashSet::new());
    for (account, n) in order {
        if sizes[1] < sizes[0] {
            sizes[1] += n;
            second_accounts.insert(account);
        } else {
            sizes[0] += n;
        }
    }
    events
        .iter()
        .partition(|e| !second_accounts.contains(e.account.as_str()))
}

/// Which of a batch's own timers its later decisions cancelled, indexed by account so that a
/// cancel looks only at its account's timers.
#[derive(Default)]
struct BatchTimers {
    /// Positions of the timers not cancelled, by account.
    live: HashMap<String, Vec<usize>>,
    /// Positions of those cancelled.
    cancelled: HashSet<usize>,
}

impl BatchTimers {
    /// Notes the timers from position `first` on, just added.
    fn added(&mut self, timers: &[NewTimer], first: usize) {
        for (i, timer) in timers.iter().enumerate().skip(first) {
            self.live.entry(timer.account.clone()).or_default().push(i);
        }
    }

    /// Cancels the timers added so far that `cancel` covers.
    fn cancel(&mut self, timers: &[NewTimer], cancel: &TimerCancel) {
        let Some(live) = self.live.get_mut(&cancel.account) else {
            return;
        };
        live.retain(|&i| {
            let covered = timers
                .get(i)
                .is_some_and(|t| cancel.rule.as_ref().is_none_or(|r| r == &t.rule));
            if covered {
                self.cancelled.insert(i);
            }
            !covered
        });
    }

    /// Takes the cancelled timers out, keeping the others in order.
    fn drop_cancelled(self, timers: &mut Vec<NewTimer>) {
        if self.cancelled.is_empty() {
            return;
        }
        let mut i = 0;
        timers.retain(|_| {
            let keep = !self.cancelled.contains(&i);
            i += 1;
            keep
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_retry_schedule_covers_at_least_a_day() {
        let config = EngineConfig::new("node", "https://onboard.test");
        let pauses: Vec<i64> = (1..config.max_attempts)
            .map(|attempt| backoff(&config, attempt, 1.0).millis())
            .collect();
        assert_eq!(&pauses[..3], &[30_000, 60_000, 120_000]);
        assert_eq!(pauses[pauses.len() - 1], 4 * 3_600_000, "capped at 4 h");
        // Jitter only lengthens pauses (1.0 to 1.2), so this is the shortest horizon.
        let horizon: i64 = pauses.iter().sum();
        assert!(horizon >= 24 * 3_600_000, "{horizon} ms");
        assert_eq!(horizon, (24 * 3_600 + 15 * 60 + 30) * 1_000);
        let longest: i64 = (1..config.max_attempts)
            .map(|attempt| backoff(&config, attempt, 1.2).millis())
            .sum();
        assert!(longest < 30 * 3_600_000, "{longest} ms");
    }

    fn timer(id: &str, account: &str, rule: &str) -> NewTimer {
        NewTimer {
            id: id.to_owned(),
            account: account.to_owned(),
            rule: rule.to_owned(),
            due_at: Timestamp(0),
            since_at: Timestamp(0),
            program_version: "v1".to_owned(),
        }
    }

    fn cancel(account: &str, rule: Option<&str>) -> TimerCancel {
        TimerCancel {
            account: account.to_owned(),
            rule: rule.map(str::to_owned),
        }
    }

    #[test]
    fn a_cancel_drops_the_batchs_earlier_timers_it_covers_and_no_later_ones() {
        let mut timers = Vec::new();
        let mut batch = BatchTimers::default();
        timers.extend([
            timer("1", "acme", "welcome"),
            timer("2", "acme", "stall"),
            timer("3", "globex", "welcome"),
        ]);
        batch.added(&timers, 0);
        batch.cancel(&timers, &cancel("acme", Some("welcome")));
        timers.push(timer("4", "acme", "welcome"));
        batch.added(&timers, 3);
        batch.cancel(&timers, &cancel("globex", None));
        timers.push(timer("5", "globex", "stall"));
        batch.added(&timers, 4);
        batch.cancel(&timers, &cancel("initech", None));
        batch.drop_cancelled(&mut timers);
        let ids: Vec<&str> = timers.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["2", "4", "5"]);
    }
}
