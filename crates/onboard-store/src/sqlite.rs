//! SQLite: the default backend, one database file in WAL mode.
//!
//! Writes go through one writer at a time and every write transaction starts with `BEGIN
//! IMMEDIATE`: writers queue inside the process instead of racing for the file lock, and a
//! transaction never fails half-way when it upgrades from reading to writing. The busy
//! writes (the event log's appends, the processor's batches, timers' and messages' claims
//! and outcomes) run on the direct connection (`direct`, `writes`: a whole transaction in
//! one call of the SQLite C library), the others through sqlx's pool of exactly one
//! connection; one gate (an async mutex) serialises both. The engine's own reads (the
//! events waiting, the next due times) also run on the direct connection, whose page cache
//! stays warm; the others use a separate pool of read-only connections, which WAL lets run
//! beside the writer. `synchronous=FULL` makes every commit durable (an acknowledged event
//! survives a power cut), and batches keep the cost of that fsync per commit, not per row.
//!
//! Here lives only SQLite's SQL; the row model shared with PostgreSQL is in `rows.rs`.

mod direct;
pub(crate) mod writes;

use crate::rows::{self, chunks, page_limit};
use crate::{
    AccountFilter, Appended, Backlog, ClaimedMessage, ClaimedTimer, DeliveryOutcome, DueWork,
    EventFilter, Lease, MessageDraft, MessageFilter, MessageRecord, NewSession, NewSignInToken,
    Now, OutboxCounts, ProcessedBatch, Result, SessionRecord, SignInGrant, Store, StoreError,
    TimerCounts, TimerRecord, TraceRecord,
};
use crate::{IntakeAppended, ProductUser, UsageCall};
use async_trait::async_trait;
use direct::{Direct, Flush};
use onboard_core::event::NewEvent;
use onboard_core::state::AccountState;
use onboard_core::{Duration, Event, Timestamp};
use rusqlite::OptionalExtension;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, Transaction};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another process's write lock before it fails.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Connections of the read pool.
const READERS: u32 = 4;

/// `expires_at` of a released lease: before any time, so anyone may take it.
const RELEASED: i64 = i64::MIN;

/// The columns `rows::EventRow` reads.
const EVENT_COLUMNS: &str = "seq, event_key, kind, account_id, at, data, received_at, processed_at";

/// The columns `rows::MessageRow` reads.
const MESSAGE_COLUMNS: &str = "id, account_id, channel, to_email, to_name, from_email, \
     from_name, subject, body, message_id, rule, cause, sign_in_email, calendar, drafted_by, \
     drafted_at, status, attempts, next_attempt_at, last_error, created_at, delivered_at";

/// Claims due pending timers (`?1` holder, `?2` now, `?3` lease, `?4` limit). The inner
/// select walks `timers_pending_due` from the earliest due time and stops at the limit;
/// it hands over ids, the table's own key (it is clustered by id, which begins with the due
/// time), so the update finds each row without a second index. `INDEXED BY` pins the plan
/// (and fails loudly should the index ever be missing).
const CLAIM_TIMERS: &str = "\
UPDATE timers SET locked_by = ?1, locked_until = ?2 + ?3, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM timers INDEXED BY timers_pending_due
    WHERE state = 'pending' AND due_at <= ?2
      AND (locked_until IS NULL OR locked_until < ?2)
    ORDER BY due_at
    LIMIT ?4)
RETURNING id, account_id, rule, due_at, since_at, program_version, attempts";

/// Claims due pending timers like [`CLAIM_TIMERS`], the earliest of each account only (by
/// due time, then id). Any pending timer earlier than a due one is due as well, so the
/// earliest of an account among the due pending timers is its earliest of all: one walk of
/// `timers_pending_due` up to now numbers each account's due timers, and only the first of
/// each may be claimed. (Asking, for each due timer, whether its account has an earlier
/// pending one read every timer the account ever had, fired and cancelled ones included:
/// 13 % of the samples of a cohort of 10,000 accounts.) The walk covers every due timer,
/// which the windows of `advance_in_windows`, its only user, keep to about an hour's.
const CLAIM_EARLIEST_TIMERS: &str = "\
UPDATE timers SET locked_by = ?1, locked_until = ?2 + ?3, attempts = attempts + 1
WHERE id IN (
    SELECT r FROM (
        SELECT t.id AS r, t.due_at AS due_at, t.locked_until AS locked_until,
               row_number() OVER (PARTITION BY t.account_id ORDER BY t.due_at, t.id) AS n
        FROM timers AS t INDEXED BY timers_pending_due
        WHERE t.state = 'pending' AND t.due_at <= ?2)
    WHERE n = 1 AND (locked_until IS NULL OR locked_until < ?2)
    ORDER BY due_at, r
    LIMIT ?4)
RETURNING id, account_id, rule, due_at, since_at, program_version, attempts";

/// Claims due queued messages, like [`CLAIM_TIMERS`]. Without the pin, SQLite would
/// rather read every queued message through `messages_status` and sort them.
const CLAIM_MESSAGES: &str = "\
UPDATE messages SET locked_by = ?1, locked_until = ?2 + ?3, attempts = attempts + 1
WHERE rowid IN (
    SELECT rowid FROM messages INDEXED BY messages_queued_due
    WHERE status = 'queued' AND next_attempt_at <= ?2
      AND (locked_until IS NULL OR locked_until < ?2)
    ORDER BY next_attempt_at
    LIMIT ?4)
RETURNING id, account_id, channel, to_email, to_name, from_email, from_name, subject, body,
          message_id, rule, sign_in_email, calendar, drafted_by, next_attempt_at, attempts";

/// The SQLite store. Cloning it shares its pools.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// One connection: the writes that do not go through `direct`.
    writer: SqlitePool,
    /// Held by every write, direct or through `writer`, for its length: writes never
    /// overlap, and none waits inside SQLite's busy handler for another of this process.
    gate: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// An in-memory database: the pools share one connection, which direct work holds too
    /// (a shared-cache database's readers take table locks that do not wait).
    in_memory: bool,
    /// The direct connection: the busy writes (see `writes`) and the engine's own reads.
    direct: std::sync::Arc<Direct>,
    /// Read-only connections: every read outside a write transaction.
    reader: SqlitePool,
    /// The task that moves the WAL into the database file beside the writer.
    checkpointer: Option<tokio::task::AbortHandle>,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Some(task) = &self.checkpointer {
            task.abort();
        }
    }
}

/// From how many accounts on a batch's states are serialised beside its transaction, on a
/// thread of their own (below, the thread would cost more than it saves).
const DOCUMENTS_APART: usize = 32;

/// How often the checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Copies what the WAL holds into the database file, on a connection of its own, so that
/// no commit ever waits for a checkpoint (SQLite would otherwise run one inside the commit
/// that crosses `wal_autocheckpoint`, and that commit's caller would wait for it). A PASSIVE
/// checkpoint takes no lock that writers or readers wait for.
async fn checkpoint_forever(pool: SqlitePool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %error, "WAL checkpoint failed; the next one retries");
        }
    }
}

impl SqliteStore {
    /// Opens (creating it if missing) the database a URL names: `sqlite:///abs/path.db`,
    /// `sqlite://relative.db`, or `sqlite::memory:` for a private in-memory database.
    pub async fn connect(url: &str) -> Result<Self> {
        // WAL + FULL: a committed transaction survives a power cut. NORMAL would only
        // survive a crash of the process, and the event log promises more.
        Self::open(url, SqliteSynchronous::Full).await
    }

    /// Opens a scratch database, for simulations and dry runs whose database nobody needs
    /// after a crash: commits are not flushed to disk (`synchronous=OFF`), so the many small
    /// transactions of a simulated cohort cost no disk flush each.
    pub async fn scratch(url: &str) -> Result<Self> {
        Self::open(url, SqliteSynchronous::Off).await
    }

    async fn open(url: &str, synchronous: SqliteSynchronous) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            // Claims return up to thousands of rows; the default buffer of 50 would make
            // the worker thread wait for the caller every 50 rows.
            .row_buffer_size(1024);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            // The connection is local: taking it needs no round trip to its thread.
            .test_before_acquire(false)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", "-65536")
                    // The checkpointer task keeps the WAL short; the writer checkpoints
                    // only if the WAL reaches ~400 MB all the same (e.g. a reader held it).
                    .pragma("wal_autocheckpoint", "100000"),
            )
            .await?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        // An in-memory database has no disk to flush to.
        let durable = matches!(synchronous, SqliteSynchronous::Full) && !in_memory;
        let direct = std::sync::Arc::new(Direct::open(
            options.get_filename(),
            in_memory,
            durable,
            BUSY_TIMEOUT,
        )?);
        let reader = if in_memory {
            // An in-memory database lives only as long as its connections, and WAL does
            // not apply to it: one connection serves reads and writes alike.
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(READERS)
                .connect_with(
                    options
                        .clone()
                        .create_if_missing(false)
                        .pragma("cache_size", "-16384")
                        .pragma("query_only", "ON"),
                )
                .await?
        };
        let checkpointer = if in_memory {
            None
        } else {
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options.create_if_missing(false))
                .await?;
            Some(tokio::spawn(checkpoint_forever(pool)).abort_handle())
        };
        Ok(Self {
            writer,
            gate: std::sync::Arc::default(),
            in_memory,
            direct,
            reader,
            checkpointer,
        })
    }

    /// SQLite's plan for the timer claim, one step a line: shows that due timers come from
    /// the `timers_pending_due` index and not from a scan of the table.
    pub async fn explain_claim_due_timers(&self) -> Result<String> {
        let steps = sqlx::query(&format!("EXPLAIN QUERY PLAN {CLAIM_TIMERS}"))
            .bind("explain")
            .bind(0_i64)
            .bind(0_i64)
            .bind(1_i64)
            .fetch_all(&self.writer)
            .await?;
        let lines = steps
            .iter()
            .map(|step| step.try_get::<String, _>("detail"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(lines.join("\n"))
    }

    /// The sqlx writer's `synchronous` level: 2 (FULL) for a store opened with
    /// [`SqliteStore::connect`], always; 0 (OFF) for a scratch one.
    pub async fn writer_synchronous(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&self.writer)
            .await?)
    }

    /// The `synchronous` level the direct connection's last transaction committed with: 2
    /// (FULL) after a durable write, 1 (NORMAL) after a derived one, 0 (OFF) on a scratch
    /// database.
    pub fn last_direct_synchronous(&self) -> Result<i64> {
        self.direct.synchronous()
    }

    /// A write transaction through sqlx that holds the write lock from its first statement.
    async fn write(&self) -> Result<Gated> {
        let gate = self.gate.clone().lock_owned().await;
        Ok(Gated {
            tx: self.writer.begin_with("BEGIN IMMEDIATE").await?,
            _gate: gate,
        })
    }

    /// Holds the write gate for work on the direct connection; on an in-memory database,
    /// the pools' one connection too.
    async fn hold_for_direct(
        &self,
    ) -> Result<(
        tokio::sync::MutexGuard<'_, ()>,
        Option<sqlx::pool::PoolConnection<Sqlite>>,
    )> {
        let gate = self.gate.lock().await;
        let shared = if self.in_memory {
            Some(self.writer.acquire().await?)
        } else {
            None
        };
        Ok((gate, shared))
    }

    /// Runs reads on the direct connection, whose page cache the busy writes keep warm
    /// (a read-only connection's is dropped whenever another connection wrote).
    async fn direct_read<R>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> Result<R>,
    ) -> Result<R> {
        let _held = self.hold_for_direct().await?;
        self.direct.read(f)
    }

    /// Runs `f` as one transaction on the direct connection, holding the write gate.
    async fn direct<R>(
        &self,
        flush: Flush,
        f: impl FnOnce(&mut rusqlite::Connection) -> Result<R>,
    ) -> Result<R> {
        let _held = self.hold_for_direct().await?;
        self.direct.transaction(flush, f)
    }
}

/// A write transaction through sqlx and the write gate, released after the transaction
/// (fields drop in order).
struct Gated {
    tx: Transaction<'static, Sqlite>,
    _gate: tokio::sync::OwnedMutexGuard<()>,
}

impl Gated {
    async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

impl std::ops::Deref for Gated {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for Gated {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}

/// The attempts of these messages, in any order.
async fn message_attempts(pool: &SqlitePool, ids: &[&str]) -> Result<Vec<rows::AttemptRow>> {
    let mut attempts = Vec::new();
    for chunk in chunks(ids) {
        let mut select = QueryBuilder::<Sqlite>::new(
            "SELECT message_id, n, at, outcome, error FROM message_attempts WHERE message_id IN (",
        );
        let mut list = select.separated(", ");
        for id in chunk {
            list.push_bind(*id);
        }
        select.push(")");
        attempts.extend(select.build_query_as().fetch_all(pool).await?);
    }
    Ok(attempts)
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> Result<()> {
        let _gate = self.gate.lock().await;
        MIGRATOR.run(&self.writer).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn save_program_version(&self, version: &str, source: &str, at: Timestamp) -> Result<()> {
        let _gate = self.gate.lock().await;
        sqlx::query(
            "INSERT INTO program_versions (version, source, loaded_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (version) DO NOTHING",
        )
        .bind(version)
        .bind(source)
        .bind(at.0)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn program_source(&self, version: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT source FROM program_versions WHERE version = ?1")
                .bind(version)
                .fetch_optional(&self.reader)
                .await?,
        )
    }

    async fn append_events(
        &self,
        events: &[NewEvent],
        received_at: Timestamp,
    ) -> Result<Vec<Appended>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        self.direct(Flush::Durable, |conn| {
            writes::append_in(conn, events, received_at)
        })
        .await
    }

    async fn append_intake(
        &self,
        events: &[NewEvent],
        usage: Vec<UsageCall>,
        received_at: Timestamp,
    ) -> Result<IntakeAppended> {
        if events.is_empty() && usage.is_empty() {
            return Ok(IntakeAppended::default());
        }
        self.direct(Flush::Durable, |conn| {
            writes::append_intake(conn, events, usage, received_at)
        })
        .await
    }

    async fn user_nudges(
        &self,
        user: &str,
        now: Timestamp,
    ) -> Result<Vec<onboard_core::state::Nudge>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT n.body FROM product_users u \
             JOIN nudges n ON n.account_id = u.account_id AND n.email = u.email \
             WHERE u.user_id = ?1 AND n.status = 'pending' AND n.expires_at > ?2 \
             ORDER BY n.updated_at, n.id LIMIT 100",
        )
        .bind(user)
        .bind(now.0)
        .fetch_all(&self.reader)
        .await?;
        crate::nudges::parse(rows)
    }

    async fn approvals(
        &self,
        query: &crate::ApprovalQuery,
    ) -> Result<Vec<onboard_core::state::Approval>> {
        let sql = crate::approvals::list_sql(query, |n| format!("?{n}"));
        let mut q = sqlx::query_as(&sql);
        if let Some(status) = &query.status {
            q = q.bind(status);
        }
        if let Some(account) = &query.account {
            q = q.bind(account);
        }
        let rows: Vec<(String,)> = q.bind(query.limit()).fetch_all(&self.reader).await?;
        crate::approvals::parse(rows)
    }

    async fn nudge(&self, id: &str) -> Result<Option<onboard_core::state::Nudge>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT body FROM nudges WHERE id = ?1")
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        Ok(crate::nudges::parse(row.into_iter().collect())?.pop())
    }

    async fn product_user(&self, id: &str) -> Result<Option<ProductUser>> {
        let row: Option<crate::usage::ProductUserRow> = sqlx::query_as(
            "SELECT user_id, account_id, email, group_id, linked_at FROM product_users \
             WHERE user_id = ?1",
        )
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(ProductUser::from))
    }

    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>> {
        let mut select =
            QueryBuilder::<Sqlite>::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1"));
        if let Some(account) = &filter.account {
            select.push(" AND account_id = ").push_bind(account);
        }
        if let Some(kind) = &filter.kind {
            select.push(" AND kind = ").push_bind(kind);
        }
        if let Some(from) = filter.from {
            select.push(" AND at >= ").push_bind(from.0);
        }
        if let Some(until) = filter.until {
            select.push(" AND at < ").push_bind(until.0);
        }
        if let Some(after) = filter.after_seq {
            select.push(" AND seq > ").push_bind(after);
        }
        select
            .push(" ORDER BY seq LIMIT ")
            .push_bind(page_limit(filter.limit));
        rows::events(select.build_query_as().fetch_all(&self.reader).await?)
    }

    async fn unprocessed_events(&self, limit: i64) -> Result<Vec<Event>> {
        self.direct_read(|conn| {
            let mut select = conn.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE processed_at IS NULL ORDER BY seq LIMIT ?1"
            ))?;
            let rows = select
                .query_map([limit.max(0)], rows::EventRow::from_sqlite)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            rows::events(rows)
        })
        .await
    }

    async fn processing_backlog(&self) -> Result<Backlog> {
        // Both read only `events_unprocessed` (and one row for the oldest): the log's
        // length does not matter. Sequence order is arrival order.
        let (n_events, oldest): (i64, Option<i64>) = self
            .direct_read(|conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT (SELECT count(*) FROM events WHERE processed_at IS NULL), \
                                (SELECT received_at FROM events WHERE processed_at IS NULL \
                                 ORDER BY seq LIMIT 1)",
                    )?
                    .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?)
            })
            .await?;
        Ok(Backlog {
            n_events,
            oldest_received_at: oldest.map(Timestamp),
        })
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: Now,
        ttl: Duration,
    ) -> Result<Option<Lease>> {
        self.direct(Flush::Durable, |conn| {
            writes::acquire_lease(conn, name, holder, now.local().0, ttl.0)
        })
        .await
    }

    async fn release_lease(&self, lease: &Lease) -> Result<()> {
        self.direct(Flush::Durable, |conn| writes::release_lease(conn, lease))
            .await
    }

    async fn load_accounts(&self, ids: &[String]) -> Result<Vec<AccountState>> {
        let mut accounts = HashMap::with_capacity(ids.len());
        for chunk in chunks(ids) {
            let mut select = QueryBuilder::<Sqlite>::new(
                "WITH chosen AS (SELECT id, state FROM accounts WHERE id IN (",
            );
            let mut list = select.separated(", ");
            for id in chunk {
                list.push_bind(id);
            }
            select.push("))").push(rows::STATES_OF_CHOSEN);
            let rows = select.build_query_as().fetch_all(&self.reader).await?;
            for account in rows::assemble(rows)? {
                accounts.insert(account.id.clone(), account);
            }
        }
        // In the order asked for.
        Ok(ids.iter().filter_map(|id| accounts.remove(id)).collect())
    }

    async fn account(&self, id: &str) -> Result<Option<AccountState>> {
        let rows = sqlx::query_as(&format!(
            "WITH chosen AS (SELECT id, state FROM accounts WHERE id = ?1){}",
            rows::STATES_OF_CHOSEN
        ))
        .bind(id)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows::assemble(rows)?.pop())
    }

    async fn list_accounts(&self, filter: &AccountFilter) -> Result<Vec<AccountState>> {
        let mut select = QueryBuilder::<Sqlite>::new(
            "WITH chosen AS (SELECT id, state FROM accounts WHERE 1 = 1",
        );
        if let Some(after) = &filter.after {
            select.push(" AND id > ").push_bind(after);
        }
        if let Some(csm) = &filter.csm {
            select.push(" AND csm = ").push_bind(csm);
        }
        if let Some(status) = &filter.status {
            select.push(" AND status = ").push_bind(status);
        }
        select
            .push(" ORDER BY id LIMIT ")
            .push_bind(page_limit(filter.limit))
            .push(")")
            .push(rows::STATES_OF_CHOSEN)
            .push(" ORDER BY id");
        let rows = select.build_query_as().fetch_all(&self.reader).await?;
        rows::assemble(rows)
    }

    async fn csm_loads(&self) -> Result<Vec<(String, i64)>> {
        // Read off `accounts_active_csm`, which holds exactly the active accounts.
        let loads = sqlx::query_as(
            "SELECT csm, count(*) FROM accounts \
             WHERE status = 'active' AND csm IS NOT NULL GROUP BY csm",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows::csm_loads(loads))
    }

    async fn commit_batch(&self, lease: &Lease, batch: &ProcessedBatch) -> Result<()> {
        let serialise = || rows::account_documents(&batch.accounts, &batch.unchanged);
        if batch.accounts.len() < DOCUMENTS_APART {
            let documents = serialise()?;
            // Derived: the batch follows from the events it marks processed.
            return self
                .direct(Flush::Derived, |conn| {
                    writes::commit_batch(conn, lease, batch, || Ok(documents))
                })
                .await;
        }
        // A large batch's states are serialised on a thread of their own while the
        // transaction writes everything else: the processor's two halves overlap.
        self.direct(Flush::Derived, |conn| {
            std::thread::scope(|scope| {
                let apart = scope.spawn(serialise);
                writes::commit_batch(conn, lease, batch, || {
                    apart
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
            })
        })
        .await
    }

    async fn portfolio(&self, query: &crate::PortfolioQuery) -> Result<crate::PortfolioPage> {
        crate::portfolio::read_sqlite(&self.reader, query).await
    }

    async fn accounts_without_summary(&self, limit: i64) -> Result<Vec<String>> {
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM accounts a WHERE NOT EXISTS \
             (SELECT 1 FROM portfolio p WHERE p.account_id = a.id) ORDER BY id LIMIT ?1",
        )
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }

    async fn write_summaries(&self, rows: &[onboard_core::portfolio::Summary]) -> Result<()> {
        self.direct(Flush::Durable, |conn| {
            crate::portfolio::upsert_sqlite(conn, rows)
        })
        .await
    }

    async fn enqueue_messages(
        &self,
        messages: &[onboard_core::state::NewMessage],
        at: Timestamp,
    ) -> Result<()> {
        self.direct(Flush::Durable, |conn| {
            writes::insert_messages(conn, messages, at)
        })
        .await
    }

    async fn team_password(&self, email: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT password_hash FROM team_credentials WHERE email = ?1")
                .bind(email)
                .fetch_optional(&self.reader)
                .await?,
        )
    }

    async fn set_team_password(&self, email: &str, hash: &str, at: Timestamp) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO team_credentials (email, password_hash, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (email) DO UPDATE SET password_hash = excluded.password_hash, \
             updated_at = excluded.updated_at",
        )
        .bind(email)
        .bind(hash)
        .bind(at.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn rule_firings(&self, since: Timestamp) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT rule, count(*) FROM traces WHERE outcome = 'fired' AND at >= ?1 \
             GROUP BY rule ORDER BY rule",
        )
        .bind(since.0)
        .fetch_all(&self.reader)
        .await?)
    }

    async fn traces(&self, account: &str, limit: i64) -> Result<Vec<TraceRecord>> {
        let rows: Vec<rows::TraceRow> = sqlx::query_as(
            "SELECT account_id, rule, event_key, at, outcome, reason FROM traces \
             WHERE account_id = ?1 ORDER BY id DESC LIMIT ?2",
        )
        .bind(account)
        .bind(limit.max(0))
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(TraceRecord::try_from).collect()
    }

    async fn claim_due_timers(
        &self,
        holder: &str,
        now: Now,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedTimer>> {
        // Derived: a claim lost to a power cut only lets the timers be claimed again.
        self.direct(Flush::Derived, |conn| {
            writes::claim_timers(conn, CLAIM_TIMERS, holder, now.local().0, lease.0, limit)
        })
        .await
    }

    async fn claim_earliest_timers(
        &self,
        holder: &str,
        now: Now,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedTimer>> {
        // Derived, as above.
        self.direct(Flush::Derived, |conn| {
            let now = now.local().0;
            writes::claim_timers(conn, CLAIM_EARLIEST_TIMERS, holder, now, lease.0, limit)
        })
        .await
    }

    async fn fire_timers(
        &self,
        holder: &str,
        fired: &[(ClaimedTimer, NewEvent)],
        received_at: Timestamp,
    ) -> Result<usize> {
        let mut seen = HashSet::with_capacity(fired.len());
        let fired: Vec<&(ClaimedTimer, NewEvent)> = fired
            .iter()
            .filter(|(claim, _)| seen.insert(claim.id.as_str()))
            .collect();
        if fired.is_empty() {
            return Ok(0);
        }
        // Derived: a firing lost to a power cut leaves its timers pending, and they fire
        // again with the same event keys.
        self.direct(Flush::Derived, |conn| {
            writes::fire_timers(conn, holder, &fired, received_at)
        })
        .await
    }

    async fn next_timer_due(&self) -> Result<Option<Timestamp>> {
        self.direct_read(|conn| {
            let due: Option<i64> = conn
                .prepare_cached(
                    "SELECT due_at FROM timers WHERE state = 'pending' ORDER BY due_at LIMIT 1",
                )?
                .query_row([], |row| row.get(0))
                .optional()?;
            Ok(due.map(Timestamp))
        })
        .await
    }

    async fn timer_counts(&self, now: Now) -> Result<TimerCounts> {
        let (pending, due): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE due_at <= ?1) \
             FROM timers WHERE state = 'pending'",
        )
        .bind(now.local().0)
        .fetch_one(&self.reader)
        .await?;
        Ok(TimerCounts { pending, due })
    }

    async fn due_work(&self, now: Now) -> Result<DueWork> {
        let (timers, messages) = self
            .direct_read(|conn| {
                Ok(conn
                    .prepare_cached(
                        "SELECT (SELECT count(*) FROM timers \
                                 WHERE state = 'pending' AND due_at <= ?1), \
                                (SELECT count(*) FROM messages \
                                 WHERE status = 'queued' AND next_attempt_at <= ?1)",
                    )?
                    .query_row([now.local().0], |row| Ok((row.get(0)?, row.get(1)?)))?)
            })
            .await?;
        Ok(DueWork { timers, messages })
    }

    async fn timer(&self, id: &str) -> Result<Option<TimerRecord>> {
        let row: Option<rows::TimerRow> = sqlx::query_as(
            "SELECT id, account_id, rule, due_at, since_at, state, attempts, fired_at \
             FROM timers WHERE id = ?1",
        )
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(TimerRecord::from))
    }

    async fn pending_timers(&self, account: &str, limit: i64) -> Result<Vec<TimerRecord>> {
        let rows: Vec<rows::TimerRow> = sqlx::query_as(
            "SELECT id, account_id, rule, due_at, since_at, state, attempts, fired_at \
             FROM timers WHERE account_id = ?1 AND state = 'pending' \
             ORDER BY due_at, id LIMIT ?2",
        )
        .bind(account)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(TimerRecord::from).collect())
    }

    async fn claim_due_messages(
        &self,
        holder: &str,
        now: Now,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedMessage>> {
        self.direct(Flush::Durable, |conn| {
            writes::claim_messages(conn, holder, now.local().0, lease.0, limit)
        })
        .await
    }

    async fn complete_message(
        &self,
        claim: &ClaimedMessage,
        outcome: &DeliveryOutcome,
        at: Timestamp,
    ) -> Result<bool> {
        self.direct(Flush::Durable, |conn| {
            writes::complete_message(conn, claim, outcome, at)
        })
        .await
    }

    async fn complete_messages(
        &self,
        done: &[(ClaimedMessage, DeliveryOutcome)],
        at: Timestamp,
    ) -> Result<usize> {
        if done.is_empty() {
            return Ok(0);
        }
        // One by one in one transaction: a claim named twice is recorded once (the second
        // finds the message no longer held).
        self.direct(Flush::Durable, |conn| {
            let mut n = 0;
            for (claim, outcome) in done {
                n += usize::from(writes::complete_message(conn, claim, outcome, at)?);
            }
            Ok(n)
        })
        .await
    }

    async fn record_draft(
        &self,
        claim: &ClaimedMessage,
        draft: &MessageDraft,
        at: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.write().await?;
        let updated = sqlx::query(
            "UPDATE messages SET subject = ?4, body = ?5, drafted_by = ?6, drafted_at = ?7 \
             WHERE id = ?1 AND locked_by = ?2 AND attempts = ?3 AND status = 'queued'",
        )
        .bind(&claim.id)
        .bind(&claim.holder)
        .bind(claim.attempts)
        .bind(&draft.subject)
        .bind(&draft.body)
        .bind(&draft.drafted_by)
        .bind(at.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(updated == 1)
    }

    async fn next_message_due(&self) -> Result<Option<Timestamp>> {
        self.direct_read(|conn| {
            let due: Option<i64> = conn
                .prepare_cached(
                    "SELECT next_attempt_at FROM messages WHERE status = 'queued' \
                     ORDER BY next_attempt_at LIMIT 1",
                )?
                .query_row([], |row| row.get(0))
                .optional()?
                .flatten();
            Ok(due.map(Timestamp))
        })
        .await
    }

    async fn list_messages(&self, filter: &MessageFilter) -> Result<Vec<MessageRecord>> {
        let mut select = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE 1 = 1"
        ));
        if let Some(account) = &filter.account {
            select.push(" AND account_id = ").push_bind(account);
        }
        if let Some(status) = &filter.status {
            select.push(" AND status = ").push_bind(status);
        }
        if let Some((created_at, id)) = &filter.before {
            select
                .push(" AND (created_at < ")
                .push_bind(created_at.0)
                .push(" OR (created_at = ")
                .push_bind(created_at.0)
                .push(" AND id < ")
                .push_bind(id)
                .push("))");
        }
        select
            .push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(page_limit(filter.limit));
        let rows: Vec<rows::MessageRow> = select.build_query_as().fetch_all(&self.reader).await?;
        let ids: Vec<&str> = rows.iter().map(rows::MessageRow::id).collect();
        let attempts = message_attempts(&self.reader, &ids).await?;
        Ok(rows::messages(rows, attempts))
    }

    async fn message(&self, id: &str) -> Result<Option<MessageRecord>> {
        let row: Option<rows::MessageRow> = sqlx::query_as(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let attempts = message_attempts(&self.reader, &[id]).await?;
        Ok(rows::messages(vec![row], attempts).pop())
    }

    async fn retry_message(&self, id: &str, at: Timestamp) -> Result<()> {
        let _gate = self.gate.lock().await;
        // The attempt counter keeps growing, so attempt numbers stay unique.
        let updated = sqlx::query(
            "UPDATE messages SET status = 'queued', next_attempt_at = ?2, dead_at = NULL, \
             locked_by = NULL, locked_until = NULL \
             WHERE id = ?1 AND status = 'dead'",
        )
        .bind(id)
        .bind(at.0)
        .execute(&self.writer)
        .await?
        .rows_affected();
        if updated == 1 {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    async fn outbox_counts(&self) -> Result<OutboxCounts> {
        let (queued, dead): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM messages WHERE status = 'queued'), \
                    (SELECT count(*) FROM messages WHERE status = 'dead')",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(OutboxCounts { queued, dead })
    }

    async fn issue_sign_in_token(&self, token: &NewSignInToken) -> Result<()> {
        // Under the write lock, so no other token of the person slips in between.
        self.direct(Flush::Durable, |conn| {
            writes::issue_sign_in_token(conn, token)
        })
        .await
    }

    async fn issue_sign_in_tokens(&self, tokens: &[NewSignInToken]) -> Result<()> {
        if tokens.is_empty() {
            return Ok(());
        }
        // In order: a person named twice gets the later token, which revokes the earlier.
        self.direct(Flush::Durable, |conn| {
            tokens
                .iter()
                .try_for_each(|token| writes::issue_sign_in_token(conn, token))
        })
        .await
    }

    async fn sign_in_accounts(&self, email: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT account_id FROM sign_in_tokens WHERE email = ?1 AND account_id <> '' \
             ORDER BY account_id",
        )
        .bind(email)
        .fetch_all(&self.reader)
        .await?)
    }

    async fn sign_in_links_before(
        &self,
        account: &str,
        email: &str,
        other_than_message: Option<&str>,
    ) -> Result<i64> {
        // `IS NOT` is SQLite's null-safe `<>`: tokens of no message are counted.
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM sign_in_tokens \
             WHERE account_id = ?1 AND email = ?2 AND (?3 IS NULL OR message_id IS NOT ?3) \
               AND purpose <> ?4",
        )
        .bind(account)
        .bind(email)
        .bind(other_than_message)
        .bind(crate::SIGN_IN_CODE)
        .fetch_one(&self.reader)
        .await?)
    }

    async fn sign_in_links_before_each(
        &self,
        wanted: &[(String, String, String)],
    ) -> Result<Vec<i64>> {
        // On the direct connection: its page cache is warm from the writes (the readers'
        // is emptied by each of them), and there is no hand-off to a pool's thread. One
        // prepared statement, run once per person, reads their few entries of
        // `sign_in_tokens_email`.
        self.direct_read(|conn| {
            let mut count = conn.prepare_cached(
                "SELECT count(*) FROM sign_in_tokens \
                 WHERE account_id = ?1 AND email = ?2 AND message_id IS NOT ?3 \
                   AND purpose <> ?4",
            )?;
            let mut counts = Vec::with_capacity(wanted.len());
            for (account, email, message) in wanted {
                counts.push(count.query_row(
                    rusqlite::params![account, email, message, crate::SIGN_IN_CODE],
                    |row| row.get(0),
                )?);
            }
            Ok(counts)
        })
        .await
    }

    async fn consume_sign_in_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<SignInGrant>> {
        let _gate = self.gate.lock().await;
        // One statement on the single writer connection: no two callers can both see the
        // token unused.
        let row: Option<rows::SignInGrantRow> = sqlx::query_as(
            "UPDATE sign_in_tokens SET used_at = ?2 \
             WHERE token_hash = ?1 AND used_at IS NULL AND revoked_at IS NULL \
               AND expires_at > ?2 AND purpose <> ?3 \
             RETURNING account_id, email, purpose",
        )
        .bind(token_hash)
        .bind(now.0)
        .bind(crate::SIGN_IN_CODE)
        .fetch_optional(&self.writer)
        .await?;
        Ok(row.map(SignInGrant::from))
    }

    async fn consume_sign_in_code(
        &self,
        email: &str,
        code_hashes: &[String],
        max_failures: i64,
        now: Timestamp,
    ) -> Result<Option<SignInGrant>> {
        // Under the write lock: a right code is used once, and wrong tries add up exactly.
        let mut tx = self.write().await?;
        for hash in code_hashes {
            let row: Option<rows::SignInGrantRow> = sqlx::query_as(
                "UPDATE sign_in_tokens SET used_at = ?3 \
                 WHERE token_hash = ?1 AND email = ?2 AND purpose = ?4 \
                   AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?3 \
                   AND failed_attempts < ?5 \
                 RETURNING account_id, email, purpose",
            )
            .bind(hash)
            .bind(email)
            .bind(now.0)
            .bind(crate::SIGN_IN_CODE)
            .bind(max_failures)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = row {
                tx.commit().await?;
                return Ok(Some(SignInGrant::from(row)));
            }
        }
        sqlx::query(
            "UPDATE sign_in_tokens SET failed_attempts = failed_attempts + 1 \
             WHERE email = ?1 AND purpose = ?3 AND used_at IS NULL AND revoked_at IS NULL \
               AND expires_at > ?2 AND failed_attempts < ?4",
        )
        .bind(email)
        .bind(now.0)
        .bind(crate::SIGN_IN_CODE)
        .bind(max_failures)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(None)
    }

    async fn create_session(&self, session: &NewSession) -> Result<()> {
        let _gate = self.gate.lock().await;
        sqlx::query(
            "INSERT INTO sessions (id_hash, account_id, email, kind, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&session.id_hash)
        .bind(&session.account)
        .bind(&session.email)
        .bind(&session.kind)
        .bind(session.created_at.0)
        .bind(session.expires_at.0)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn session(&self, id_hash: &str, now: Timestamp) -> Result<Option<SessionRecord>> {
        let row: Option<rows::SessionRow> = sqlx::query_as(
            "SELECT account_id, email, kind, created_at, expires_at FROM sessions \
             WHERE id_hash = ?1 AND ended_at IS NULL AND expires_at > ?2",
        )
        .bind(id_hash)
        .bind(now.0)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(SessionRecord::from))
    }

    async fn end_session(&self, id_hash: &str, at: Timestamp) -> Result<()> {
        let _gate = self.gate.lock().await;
        sqlx::query("UPDATE sessions SET ended_at = ?2 WHERE id_hash = ?1 AND ended_at IS NULL")
            .bind(id_hash)
            .bind(at.0)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn disable_endpoint(&self, name: &str, at: Timestamp, reason: &str) -> Result<()> {
        let _gate = self.gate.lock().await;
        sqlx::query(
            "INSERT INTO endpoints (name, disabled_at, reason) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(at.0)
        .bind(reason)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn enable_endpoint(&self, name: &str) -> Result<bool> {
        let _gate = self.gate.lock().await;
        let deleted = sqlx::query("DELETE FROM endpoints WHERE name = ?1")
            .bind(name)
            .execute(&self.writer)
            .await?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn disabled_endpoints(&self) -> Result<Vec<(String, Timestamp, String)>> {
        let rows: Vec<(String, i64, String)> =
            sqlx::query_as("SELECT name, disabled_at, reason FROM endpoints ORDER BY name")
                .fetch_all(&self.reader)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(name, at, reason)| (name, Timestamp(at), reason))
            .collect())
    }

    async fn insert_file(&self, file: &crate::FileRecord) -> Result<()> {
        let _gate = self.gate.lock().await;
        crate::files::insert_file_sqlite(&self.writer, file).await
    }

    async fn file(&self, id: &str) -> Result<Option<crate::FileRecord>> {
        crate::files::file_sqlite(&self.reader, id).await
    }

    async fn account_files(&self, account: &str) -> Result<Vec<crate::FileRecord>> {
        crate::files::account_files_sqlite(&self.reader, account).await
    }

    async fn reserve_kickoff_slot(&self, slot: &crate::KickoffSlot) -> Result<()> {
        let mut tx = self.write().await?;
        crate::files::reserve_slot_sqlite(&mut tx, slot).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn csm_kickoff_slots(
        &self,
        csm: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<crate::KickoffSlot>> {
        crate::files::csm_slots_sqlite(&self.reader, csm, from, to).await
    }
}
