//! Onboard's persistence: the [`Store`] trait and its implementations, SQLite
//! ([`sqlite::SqliteStore`], the default, WAL mode), PostgreSQL ([`postgres::PgStore`]) and,
//! for simulations and tests, an in-process store that keeps every table in Rust collections
//! ([`memory::MemoryStore`], nothing durable). Migrations live in `migrations/<backend>/`,
//! one commented `.sql` file per step.
//!
//! Invariant: this is the only crate that knows SQL. Every table that grows with customers
//! carries the account id. Work that several nodes may race for (timers, outbox messages,
//! the processor) is claimed with a lease whose attempt number or epoch fences completion.

mod approvals;
mod files;
mod nudges;
mod portfolio;
mod rows;
mod types;
mod usage;

pub mod memory;
pub mod postgres;
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

pub use approvals::ApprovalQuery;
pub use files::{FileRecord, KickoffSlot, SLOT_TAKEN};
pub use portfolio::{Flag, PortfolioPage, PortfolioQuery, SortKey};

/// The purpose of a one-time sign-in code's row among the sign-in tokens: a code is revoked
/// only by a newer code, never spent as a link's token, and counts its wrong tries.
pub const SIGN_IN_CODE: &str = "code";
pub use types::*;
pub use usage::{IntakeAppended, ProductUser, UsageCall, UsageEvent, UsageOutcome};

use async_trait::async_trait;
use onboard_core::event::NewEvent;
use onboard_core::state::{AccountState, Decisions, NewMessage};
use onboard_core::{Duration, Event, Timestamp};
use std::sync::Arc;

/// Store errors. `Conflict` carries the name of the unique constraint that refused a write.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict on {0}")]
    Conflict(String),
    #[error("the lease `{0}` is no longer held by this node")]
    LeaseLost(String),
    #[error("unsupported database url `{0}`: use sqlite://PATH, postgres://… or memory:")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
    /// An error of SQLite's direct connection (see `sqlite::direct`).
    #[error("database error: {0}")]
    Sqlite(#[source] rusqlite::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The in-memory store cannot serve: its lock was poisoned by a panic during a write.
    #[error("in-memory store: {0}")]
    Memory(&'static str),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Sorts database errors: a unique violation becomes `Conflict` with the constraint's name
/// (PostgreSQL names it; SQLite only names the columns, e.g. `events.event_key`), a value
/// that does not decode becomes `Corrupt`, anything else is `Other`.
impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                let message = db.message();
                let name = db.constraint().unwrap_or_else(|| {
                    message
                        .rsplit_once("failed: ")
                        .map_or(message, |(_, columns)| columns)
                });
                StoreError::Conflict(name.to_owned())
            }
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. } => StoreError::Corrupt(error.to_string()),
            _ => StoreError::Other(error),
        }
    }
}

/// Sorts SQLite's errors on the direct connection as [`From<sqlx::Error>`] does: a unique
/// violation becomes `Conflict` with the columns SQLite names, a value that does not convert
/// becomes `Corrupt`, anything else is `Sqlite`.
impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        match &error {
            rusqlite::Error::SqliteFailure(failure, message)
                if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                let message = message.as_deref().unwrap_or("unique constraint");
                let name = message
                    .rsplit_once("failed: ")
                    .map_or(message, |(_, columns)| columns);
                StoreError::Conflict(name.to_owned())
            }
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::InvalidColumnIndex(_)
            | rusqlite::Error::InvalidColumnName(_) => StoreError::Corrupt(error.to_string()),
            _ => StoreError::Sqlite(error),
        }
    }
}

/// Opens the store a URL names: `sqlite://PATH` (created if missing), `postgres://…`, or
/// `memory:` for a new, empty in-process store ([`memory::MemoryStore`]: each call makes
/// another one, and its tables go with it; nothing is written anywhere).
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    if url == "memory:" {
        Ok(Arc::new(memory::MemoryStore::new()))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(postgres::PgStore::connect(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}

/// Persistence for the engine. All methods are safe to call from several nodes at once.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite`, `postgres` or `memory`.
    fn backend(&self) -> &'static str;

    /// Applies pending migrations.
    async fn migrate(&self) -> Result<()>;

    /// Checks the database answers.
    async fn ping(&self) -> Result<()>;

    // ---- programs ----

    /// Records a program version with its source (JSON), once; later calls change nothing.
    async fn save_program_version(&self, version: &str, source: &str, at: Timestamp) -> Result<()>;

    /// The source of a recorded program version.
    async fn program_source(&self, version: &str) -> Result<Option<String>>;

    // ---- event log ----

    /// Appends events in one transaction. An event whose key is already in the log changes
    /// nothing and is reported as a duplicate with the stored event's sequence number.
    async fn append_events(
        &self,
        events: &[NewEvent],
        received_at: Timestamp,
    ) -> Result<Vec<Appended>>;

    /// Appends events and product-usage calls in one transaction: the events as
    /// [`Store::append_events`] does; each usage event under the account its product user
    /// is linked to (linking the user first when the call says enough: see the `usage`
    /// module), or held until the user is linked. A user linked here has their held events
    /// moved into the log, in their original order, before the event that linked them. A
    /// usage key already in the log or held is a duplicate and changes nothing. The calls are
    /// taken: their properties move into the log.
    async fn append_intake(
        &self,
        events: &[NewEvent],
        usage: Vec<UsageCall>,
        received_at: Timestamp,
    ) -> Result<IntakeAppended>;

    /// A product user of the usage intake, and the account they are linked to.
    async fn product_user(&self, id: &str) -> Result<Option<ProductUser>>;

    /// The pending nudges of the person a product user is linked to that have not expired at
    /// `now`, oldest first (whether each may be shown now is the nudge's own
    /// `eligibility`); none for a user not linked to a person. One indexed read.
    async fn user_nudges(
        &self,
        user: &str,
        now: Timestamp,
    ) -> Result<Vec<onboard_core::state::Nudge>>;

    /// A nudge by id, as the processor last wrote it.
    async fn nudge(&self, id: &str) -> Result<Option<onboard_core::state::Nudge>>;

    /// Autopilot's approvals as the processor last wrote them, oldest first, by status and
    /// account (see [`ApprovalQuery`]). One indexed read.
    async fn approvals(&self, query: &ApprovalQuery) -> Result<Vec<onboard_core::state::Approval>>;

    /// Events matching the filter, in sequence order.
    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>>;

    /// The oldest unprocessed events, in sequence order.
    async fn unprocessed_events(&self, limit: i64) -> Result<Vec<Event>>;

    /// How many events await processing, and when the oldest of them was received.
    async fn processing_backlog(&self) -> Result<Backlog>;

    // ---- processor ----

    /// Takes or renews a named lease for `holder`. Returns the lease when held (the epoch
    /// grows each time the lease changes hands), `None` while another holder's is live.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: Now,
        ttl: Duration,
    ) -> Result<Option<Lease>>;

    /// Gives a lease up.
    async fn release_lease(&self, lease: &Lease) -> Result<()>;

    /// The stored state of these accounts (those that exist).
    async fn load_accounts(&self, ids: &[String]) -> Result<Vec<AccountState>>;

    /// One account's state.
    async fn account(&self, id: &str) -> Result<Option<AccountState>>;

    /// Accounts matching the filter, in id order, each with its whole state.
    async fn list_accounts(&self, filter: &AccountFilter) -> Result<Vec<AccountState>>;

    /// How many `active` accounts each CSM (by email) has, in byte order of the email.
    /// A CSM none of whose accounts is active is absent (a load of zero).
    async fn csm_loads(&self) -> Result<Vec<(String, i64)>>;

    /// Writes a processed batch in one transaction: marks its events processed, upserts the
    /// accounts, inserts timers, cancels timers, inserts outbox messages (first attempt due
    /// at `batch.processed_at`), appends derived events (those in `batch.handled` already
    /// processed), writes traces, records the people added (`batch.people`) and links the
    /// product users waiting for them. Fenced: fails with
    /// `LeaseLost` and writes nothing unless `lease` is still held.
    ///
    /// `batch.decisions` is taken as net: cancels are applied before the new timers are
    /// inserted, so a cancel only reaches timers set by earlier batches. The engine removes
    /// timers that a later event of the same batch cancels before it commits.
    async fn commit_batch(&self, lease: &Lease, batch: &ProcessedBatch) -> Result<()>;

    /// A page of the portfolio (one summary per account, written with each batch), with the
    /// counts of the book it is cut from.
    async fn portfolio(&self, query: &PortfolioQuery) -> Result<PortfolioPage>;

    /// Accounts that have no portfolio row yet (they predate it), at most `limit`.
    async fn accounts_without_summary(&self, limit: i64) -> Result<Vec<String>>;

    /// Writes portfolio rows outside a batch (for accounts that predate them).
    async fn write_summaries(&self, rows: &[onboard_core::portfolio::Summary]) -> Result<()>;

    /// Queues messages decided outside the processor (a team member's sign-in link), first
    /// attempt due at `at`; ids already present are skipped.
    async fn enqueue_messages(&self, messages: &[NewMessage], at: Timestamp) -> Result<()>;

    /// A team member's console password (an argon2 PHC string), if they set one.
    async fn team_password(&self, email: &str) -> Result<Option<String>>;

    /// Sets a team member's console password hash.
    async fn set_team_password(&self, email: &str, hash: &str, at: Timestamp) -> Result<()>;

    /// How many times each rule fired at or after `since`, by rule name.
    async fn rule_firings(&self, since: Timestamp) -> Result<Vec<(String, i64)>>;

    /// Traces of one account, newest first.
    async fn traces(&self, account: &str, limit: i64) -> Result<Vec<TraceRecord>>;

    // ---- timers ----

    /// Claims up to `limit` pending timers due at `now`, earliest first, with a lease of
    /// `lease`; claims whose lease expired may be taken over. Uses the index on due time.
    async fn claim_due_timers(
        &self,
        holder: &str,
        now: Now,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedTimer>>;

    /// Like [`Store::claim_due_timers`], but only the earliest pending timer of each
    /// account (by due time, then id): what a timer fired for an account schedules can then
    /// never fall before another of its timers claimed in the same round. The manual clock
    /// uses it to fire many accounts' timers of a time window in one round.
    async fn claim_earliest_timers(
        &self,
        holder: &str,
        now: Now,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedTimer>>;

    /// Fires claimed timers: for each one still held by `holder` at the claimed attempt, marks
    /// it fired and appends its event, all in one transaction. Returns how many fired.
    async fn fire_timers(
        &self,
        holder: &str,
        fired: &[(ClaimedTimer, NewEvent)],
        received_at: Timestamp,
    ) -> Result<usize>;

    /// The due time of the earliest pending timer.
    async fn next_timer_due(&self) -> Result<Option<Timestamp>>;

    /// Pending timers, and those of them due at `now`.
    async fn timer_counts(&self, now: Now) -> Result<TimerCounts>;

    /// Timers and messages due at `now` and not yet done: claimed by a node that is still
    /// at work on them, or not claimed yet. Counted through the due-time indexes.
    async fn due_work(&self, now: Now) -> Result<DueWork>;

    /// One timer.
    async fn timer(&self, id: &str) -> Result<Option<TimerRecord>>;

    /// An account's pending timers, earliest due first (at most `limit`).
    async fn pending_timers(&self, account: &str, limit: i64) -> Result<Vec<TimerRecord>>;

    // ---- outbox ----

    /// Claims up to `limit` queued messages whose next attempt is due, with a lease; the
    /// attempt counter grows with each claim and fences completion.
    async fn claim_due_messages(
        &self,
        holder: &str,
        now: Now,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedMessage>>;

    /// Records the outcome of one attempt, only if `claim` still holds the message. Returns
    /// whether it did.
    async fn complete_message(
        &self,
        claim: &ClaimedMessage,
        outcome: &DeliveryOutcome,
        at: Timestamp,
    ) -> Result<bool>;

    /// Records the outcomes of several attempts, each only if its claim still holds the
    /// message, at once (one transaction where the backend gains by it). Returns how many
    /// were recorded.
    async fn complete_messages(
        &self,
        done: &[(ClaimedMessage, DeliveryOutcome)],
        at: Timestamp,
    ) -> Result<usize> {
        let mut n = 0;
        for (claim, outcome) in done {
            n += usize::from(self.complete_message(claim, outcome, at).await?);
        }
        Ok(n)
    }

    /// Records the text a claimed message is sent with (a model's draft, or its template)
    /// and who wrote it, at `at`, before its first delivery; retries send the same text.
    /// Only if `claim` still holds the message. Returns whether it did.
    async fn record_draft(
        &self,
        claim: &ClaimedMessage,
        draft: &MessageDraft,
        at: Timestamp,
    ) -> Result<bool>;

    /// The earliest time a queued message is next due.
    async fn next_message_due(&self) -> Result<Option<Timestamp>>;

    /// Messages matching the filter, newest first, each with its attempts.
    async fn list_messages(&self, filter: &MessageFilter) -> Result<Vec<MessageRecord>>;

    /// One message with its attempts.
    async fn message(&self, id: &str) -> Result<Option<MessageRecord>>;

    /// Puts a dead message back in the queue, due at `at` (NotFound if no such dead message).
    async fn retry_message(&self, id: &str, at: Timestamp) -> Result<()>;

    /// How many messages are queued, and how many are dead.
    async fn outbox_counts(&self) -> Result<OutboxCounts>;

    // ---- sign-in links ----

    /// Records a sign-in token, in one transaction with the revocation (at `created_at`) of
    /// every token of the same person (account and email) and purpose that is neither used
    /// nor revoked: only the newest link works, and only the newest code (purpose
    /// [`SIGN_IN_CODE`]). Issuing again for the same message is allowed (a retried
    /// delivery makes a fresh token). A token hash already stored is a `Conflict`.
    async fn issue_sign_in_token(&self, token: &NewSignInToken) -> Result<()>;

    /// Records several tokens as [`Store::issue_sign_in_token`] does, in order, at once (one
    /// transaction where the backend gains by it).
    async fn issue_sign_in_tokens(&self, tokens: &[NewSignInToken]) -> Result<()> {
        for token in tokens {
            self.issue_sign_in_token(token).await?;
        }
        Ok(())
    }

    /// The accounts, in id order, where this email address was ever issued a sign-in link
    /// (compared as stored: the caller lower-cases it like people's emails).
    async fn sign_in_accounts(&self, email: &str) -> Result<Vec<String>>;

    /// [`Store::sign_in_links_before`] for each (account, email, message) of a delivery
    /// round, in order; one read where the backend can.
    async fn sign_in_links_before_each(
        &self,
        wanted: &[(String, String, String)],
    ) -> Result<Vec<i64>> {
        let mut counts = Vec::with_capacity(wanted.len());
        for (account, email, message) in wanted {
            counts.push(
                self.sign_in_links_before(account, email, Some(message))
                    .await?,
            );
        }
        Ok(counts)
    }

    /// How many links were ever issued for this person (account and email), not counting
    /// those issued for the message `other_than_message` nor codes: zero while the person's
    /// first link is being made.
    async fn sign_in_links_before(
        &self,
        account: &str,
        email: &str,
        other_than_message: Option<&str>,
    ) -> Result<i64>;

    /// Uses a token up, atomically: at most one caller ever gets its grant. `None` for a
    /// token unknown, already used, revoked, or expired (`now` at or after its expiry)
    /// alike, so that the caller cannot tell them apart either. A code is never a token.
    async fn consume_sign_in_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<SignInGrant>>;

    /// Signs `email` in with a one-time code, atomically. `code_hashes` are the hashes the
    /// code the person typed would have in each account they may hold a code in. A live code
    /// (not used, revoked or expired, fewer than `max_failures` wrong tries) with one of
    /// those hashes is used up and its grant returned; otherwise every live code of `email`
    /// counts one more wrong try (a code at `max_failures` is dead) and the answer is
    /// `None`, the same for an unknown address, a wrong, used or expired code.
    async fn consume_sign_in_code(
        &self,
        email: &str,
        code_hashes: &[String],
        max_failures: i64,
        now: Timestamp,
    ) -> Result<Option<SignInGrant>>;

    // ---- sessions ----

    /// Records a new session. A session id hash already stored is a `Conflict`.
    async fn create_session(&self, session: &NewSession) -> Result<()>;

    /// The session with this id hash, while it lives: `None` when unknown, ended, or
    /// expired (`now` at or after its expiry).
    async fn session(&self, id_hash: &str, now: Timestamp) -> Result<Option<SessionRecord>>;

    /// Ends a session (signing out) at `at`. Ending an unknown or ended session changes
    /// nothing.
    async fn end_session(&self, id_hash: &str, at: Timestamp) -> Result<()>;

    // ---- outbound endpoints ----

    /// Disables an outbound endpoint (by its configured name) from `at`, for `reason`: the
    /// dispatcher sends it nothing more until it is enabled again. Disabling an endpoint
    /// already disabled keeps the first time and reason.
    async fn disable_endpoint(&self, name: &str, at: Timestamp, reason: &str) -> Result<()>;

    /// Enables an outbound endpoint again. Returns whether it was disabled.
    async fn enable_endpoint(&self, name: &str) -> Result<bool>;

    /// The disabled endpoints, by name: `(name, disabled_at, reason)`.
    async fn disabled_endpoints(&self) -> Result<Vec<(String, Timestamp, String)>>;

    // ---- Shared Space files ----

    /// Records an uploaded file's metadata (its bytes are already on disk). An id already
    /// stored is a `Conflict`.
    async fn insert_file(&self, file: &FileRecord) -> Result<()>;

    /// A file by id, whatever its account (the caller checks the account).
    async fn file(&self, id: &str) -> Result<Option<FileRecord>>;

    /// An account's files, newest first.
    async fn account_files(&self, account: &str) -> Result<Vec<FileRecord>>;

    // ---- kickoff bookings ----

    /// Takes a slot of a CSM's calendar for an account's kickoff task, giving up the slot
    /// the task held before (a rebooking), in one transaction. A slot another task holds is
    /// a `Conflict` named [`SLOT_TAKEN`], and nothing changes.
    async fn reserve_kickoff_slot(&self, slot: &KickoffSlot) -> Result<()>;

    /// The slots of a CSM's calendar taken between `from` and `to` (overlapping them),
    /// earliest first.
    async fn csm_kickoff_slots(
        &self,
        csm: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<KickoffSlot>>;
}

/// What `commit_batch` writes.
#[derive(Debug, Clone)]
pub struct ProcessedBatch {
    /// Sequence numbers of the events handled.
    pub processed: Vec<i64>,
    /// Keys of derived events (among `decisions.events`) that this batch already decided:
    /// they are logged as processed.
    pub handled: Vec<String>,
    pub processed_at: Timestamp,
    /// Accounts created or changed.
    pub accounts: Vec<AccountState>,
    /// The parts of these accounts' states (see [`onboard_core::stored`]) that are stored
    /// as they are: only the others are written. An account not named has all its parts
    /// written.
    pub unchanged: std::collections::HashMap<String, onboard_core::stored::PartSet>,
    pub decisions: Decisions,
    /// People this batch added, as `(account, email)`: recorded in the index of who knows
    /// which email, and product users who identified with one of these emails and were
    /// not linked yet are linked (their held events move into the log).
    pub people: Vec<(String, String)>,
    /// Portfolio rows of the accounts whose summary changed.
    pub summaries: Vec<onboard_core::portfolio::Summary>,
}

impl Default for ProcessedBatch {
    /// An empty batch processed at the epoch.
    fn default() -> Self {
        Self {
            processed: Vec::new(),
            handled: Vec::new(),
            processed_at: Timestamp(0),
            accounts: Vec::new(),
            unchanged: std::collections::HashMap::new(),
            decisions: Decisions::default(),
            people: Vec::new(),
            summaries: Vec::new(),
        }
    }
}
