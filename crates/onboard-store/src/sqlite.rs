//! SQLite: the default backend, one database file in WAL mode.
//!
//! Writes go through a pool of exactly one connection and every write transaction starts
//! with `BEGIN IMMEDIATE`: writers queue inside the process instead of racing for the file
//! lock, and a transaction never fails half-way when it upgrades from reading to writing.
//! Reads use a separate pool of read-only connections, which WAL lets run beside the
//! writer. `synchronous=FULL` makes every commit durable (an acknowledged event survives a
//! power cut), and batches keep the cost of that fsync per commit, not per row.
//!
//! Here lives only SQLite's SQL; the row model shared with PostgreSQL is in `rows.rs`.

use crate::rows::{self, chunks, page_limit};
use crate::usage::{self, sqlite::SqliteUsage};
use crate::{
    AccountFilter, Appended, Backlog, ClaimedMessage, ClaimedTimer, DeliveryOutcome, DueWork,
    EventFilter, Lease, MessageDraft, MessageFilter, MessageRecord, NewSession, NewSignInToken,
    Now, OutboxCounts, ProcessedBatch, Result, SessionRecord, SignInGrant, Store, StoreError,
    TimerCounts, TimerRecord, TraceRecord,
};
use crate::{IntakeAppended, ProductUser, UsageCall};
use async_trait::async_trait;
use onboard_core::event::NewEvent;
use onboard_core::state::AccountState;
use onboard_core::{Duration, Event, Timestamp};
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection, QueryBuilder, Row, Sqlite, Transaction};
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
/// it hands over rowids, which the update finds without a second index. `INDEXED BY`
/// pins the plan (and fails loudly should the index ever be missing).
const CLAIM_TIMERS: &str = "\
UPDATE timers SET locked_by = ?1, locked_until = ?2 + ?3, attempts = attempts + 1
WHERE rowid IN (
    SELECT rowid FROM timers INDEXED BY timers_pending_due
    WHERE state = 'pending' AND due_at <= ?2
      AND (locked_until IS NULL OR locked_until < ?2)
    ORDER BY due_at
    LIMIT ?4)
RETURNING id, account_id, rule, due_at, since_at, program_version, attempts";

/// Claims due pending timers like [`CLAIM_TIMERS`], the earliest of each account only (by
/// due time, then id); the other timers of the account are looked up through
/// `timers_account`.
const CLAIM_EARLIEST_TIMERS: &str = "\
UPDATE timers SET locked_by = ?1, locked_until = ?2 + ?3, attempts = attempts + 1
WHERE rowid IN (
    SELECT t.rowid FROM timers AS t INDEXED BY timers_pending_due
    WHERE t.state = 'pending' AND t.due_at <= ?2
      AND (t.locked_until IS NULL OR t.locked_until < ?2)
      AND NOT EXISTS (
          SELECT 1 FROM timers AS u INDEXED BY timers_account
          WHERE u.account_id = t.account_id AND u.state = 'pending'
            AND (u.due_at < t.due_at OR (u.due_at = t.due_at AND u.id < t.id)))
    ORDER BY t.due_at
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
    /// One connection: every write.
    writer: SqlitePool,
    /// Read-only connections: every read outside a write transaction.
    reader: SqlitePool,
    /// The task that moves the WAL into the database file beside the writer.
    checkpointer: Option<tokio::task::AbortHandle>,
    /// Whether commits flush to disk (`synchronous=FULL`); a scratch or in-memory
    /// database's do not.
    durable: bool,
}

/// The writer's connection for a derived write: one whose content follows from what is
/// already durable (the event log, the timers), so that losing it to a power cut loses
/// nothing — the events are processed again, the timers claimed and fired again, with the
/// same keys. Its commits do not flush the WAL (`synchronous=NORMAL`); in WAL mode a later
/// durable commit flushes the WAL file with all the frames before its own, and a crash of
/// the process alone loses nothing either way.
///
/// [`Relaxed::restore`] puts `synchronous=FULL` back before the connection returns to the
/// pool. Should that fail, or the write be cancelled before it, the connection is closed
/// instead of returned, and the pool opens a new one with the store's settings: a durable
/// write never runs on a relaxed connection.
struct Relaxed {
    conn: PoolConnection<Sqlite>,
    restored: bool,
}

impl Relaxed {
    /// Puts `synchronous=FULL` back. A failure is only logged: the write itself is done
    /// (or failed on its own), and the connection is then closed rather than reused.
    async fn restore(mut self) {
        if self.restored {
            return;
        }
        match sqlx::query("PRAGMA synchronous = FULL")
            .execute(&mut *self.conn)
            .await
        {
            Ok(_) => self.restored = true,
            Err(error) => {
                tracing::warn!(error = %error, "restoring synchronous=FULL failed; the writer's connection is closed");
            }
        }
    }
}

impl std::ops::Deref for Relaxed {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Relaxed {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }
}

impl Drop for Relaxed {
    fn drop(&mut self) {
        if !self.restored {
            self.conn.close_on_drop();
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        if let Some(task) = &self.checkpointer {
            task.abort();
        }
    }
}

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
            reader,
            checkpointer,
            // An in-memory database has no disk to flush to.
            durable: matches!(synchronous, SqliteSynchronous::Full) && !in_memory,
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

    /// The writer's `synchronous` level as it would run the next write: 2 (FULL) for a
    /// store opened with [`SqliteStore::connect`], whatever derived writes ran before; 0
    /// (OFF) for a scratch one.
    pub async fn writer_synchronous(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&self.writer)
            .await?)
    }

    /// A write transaction that holds the write lock from its first statement.
    async fn write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// The writer's connection for a derived write, its commits not flushed (see
    /// [`Relaxed`]). Call [`Relaxed::restore`] when done.
    async fn relaxed(&self) -> Result<Relaxed> {
        let mut conn = self.writer.acquire().await?;
        if self.durable {
            sqlx::query("PRAGMA synchronous = NORMAL")
                .execute(&mut *conn)
                .await?;
        }
        Ok(Relaxed {
            conn,
            restored: !self.durable,
        })
    }
}

/// Most distinct events `append_events` writes with one autocommit INSERT; larger appends
/// go through a transaction of chunked statements.
const ONE_STATEMENT_APPEND: usize = 1_000;

/// `INSERT INTO events … VALUES …` for one chunk of events and their JSON data.
fn events_insert<'q>(
    chunk: &'q [&'q NewEvent],
    data: &'q [String],
    received_at: Timestamp,
) -> QueryBuilder<'q, Sqlite> {
    let mut insert = QueryBuilder::<Sqlite>::new(
        "INSERT INTO events (event_key, kind, account_id, at, data, received_at) ",
    );
    insert.push_values(chunk.iter().zip(data), |mut row, (event, data)| {
        row.push_bind(&event.key)
            .push_bind(event.kind.as_str())
            .push_bind(&event.account)
            .push_bind(event.at.0)
            .push_bind(data)
            .push_bind(received_at.0);
    });
    insert
}

/// Inserts events, skipping keys already in the log.
async fn insert_events(
    conn: &mut SqliteConnection,
    events: &[&NewEvent],
    received_at: Timestamp,
) -> Result<()> {
    for chunk in chunks(events) {
        let data = chunk
            .iter()
            .map(|e| rows::event_data(e))
            .collect::<Result<Vec<_>>>()?;
        let mut insert = events_insert(chunk, &data, received_at);
        insert.push(" ON CONFLICT (event_key) DO NOTHING");
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Inserts events whose keys are in neither the log nor each other (the caller holds the
/// write lock) and returns their sequence numbers by key: each INSERT gives its rows
/// consecutive numbers ending at its last rowid.
pub(crate) async fn insert_new_events(
    conn: &mut SqliteConnection,
    events: &[&NewEvent],
    received_at: Timestamp,
) -> Result<HashMap<String, i64>> {
    let mut inserted = HashMap::with_capacity(events.len());
    for chunk in chunks(events) {
        let data = chunk
            .iter()
            .map(|e| rows::event_data(e))
            .collect::<Result<Vec<_>>>()?;
        let result = events_insert(chunk, &data, received_at)
            .build()
            .execute(&mut *conn)
            .await?;
        let n = i64::try_from(chunk.len()).unwrap_or(i64::MAX);
        if result.rows_affected() != u64::try_from(n).unwrap_or(u64::MAX) {
            return Err(StoreError::Corrupt(format!(
                "{} of {n} events inserted",
                result.rows_affected()
            )));
        }
        let first = result.last_insert_rowid() - n + 1;
        for (i, event) in chunk.iter().enumerate() {
            inserted.insert(
                event.key.clone(),
                first + i64::try_from(i).unwrap_or(i64::MAX),
            );
        }
    }
    Ok(inserted)
}

/// Appends events under the caller's write lock: looks up the keys already in the log
/// (usually none, so no row travels back), inserts the rest without RETURNING, and derives
/// their sequence numbers, which one INSERT assigns consecutively.
async fn append_in(
    conn: &mut SqliteConnection,
    events: &[NewEvent],
    received_at: Timestamp,
) -> Result<Vec<Appended>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut keys: Vec<String> = events.iter().map(|e| e.key.clone()).collect();
    keys.sort_unstable();
    keys.dedup();
    let existing = event_seqs(conn, &keys).await?;
    let mut first = HashSet::with_capacity(events.len());
    let fresh: Vec<&NewEvent> = events
        .iter()
        .filter(|e| !existing.contains_key(&e.key) && first.insert(e.key.as_str()))
        .collect();
    let inserted = insert_new_events(conn, &fresh, received_at).await?;
    rows::appended(events, &inserted, &existing)
}

/// The sequence numbers of these keys, by key (those in the log).
pub(crate) async fn event_seqs(
    conn: &mut SqliteConnection,
    keys: &[String],
) -> Result<HashMap<String, i64>> {
    let mut found = HashMap::with_capacity(keys.len());
    for chunk in chunks(keys) {
        let mut select =
            QueryBuilder::<Sqlite>::new("SELECT event_key, seq FROM events WHERE event_key IN (");
        let mut list = select.separated(", ");
        for key in chunk {
            list.push_bind(key);
        }
        select.push(")");
        let rows: Vec<(String, i64)> = select.build_query_as().fetch_all(&mut *conn).await?;
        found.extend(rows);
    }
    Ok(found)
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

/// Marks events processed (those not already).
async fn mark_processed(conn: &mut SqliteConnection, seqs: &[i64], at: Timestamp) -> Result<()> {
    // A batch is mostly consecutive events: a run is one range of the log, a statement of
    // three parameters, where a list would bind every seq.
    let mut singles = Vec::new();
    for (first, last) in rows::runs(seqs) {
        if last - first < 3 {
            singles.extend(first..=last);
            continue;
        }
        sqlx::query(
            "UPDATE events SET processed_at = ?1 \
             WHERE seq BETWEEN ?2 AND ?3 AND processed_at IS NULL",
        )
        .bind(at.0)
        .bind(first)
        .bind(last)
        .execute(&mut *conn)
        .await?;
    }
    for chunk in chunks(&singles) {
        let mut update = QueryBuilder::<Sqlite>::new("UPDATE events SET processed_at = ");
        update.push_bind(at.0);
        update.push(" WHERE processed_at IS NULL AND seq IN (");
        let mut list = update.separated(", ");
        for seq in chunk {
            list.push_bind(*seq);
        }
        update.push(")");
        update.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Inserts new queued messages, first attempt due at `at`, skipping ids already present.
async fn insert_messages(
    conn: &mut SqliteConnection,
    messages: &[onboard_core::state::NewMessage],
    at: Timestamp,
) -> Result<()> {
    for chunk in chunks(messages) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO messages (id, account_id, channel, to_email, to_name, from_email, \
             from_name, subject, body, message_id, rule, cause, sign_in_email, calendar, \
             status, attempts, next_attempt_at, created_at) ",
        );
        insert.push_values(chunk, |mut row, message| {
            row.push_bind(&message.id)
                .push_bind(&message.account)
                .push_bind(&message.channel)
                .push_bind(&message.to_email)
                .push_bind(&message.to_name)
                .push_bind(&message.from_email)
                .push_bind(&message.from_name)
                .push_bind(&message.subject)
                .push_bind(&message.body)
                .push_bind(&message.message_id)
                .push_bind(&message.rule)
                .push_bind(&message.cause)
                .push_bind(message.sign_in_email.as_deref())
                .push_bind(message.calendar.as_deref())
                .push("'queued'")
                .push("0")
                .push_bind(at.0)
                .push_bind(at.0);
        });
        insert.push(" ON CONFLICT (id) DO NOTHING");
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Records one attempt's outcome in the transaction, only if `claim` still holds the
/// message (fenced by id, holder and attempt). Returns whether it did.
async fn complete_one(
    conn: &mut SqliteConnection,
    claim: &ClaimedMessage,
    outcome: &DeliveryOutcome,
    at: Timestamp,
) -> Result<bool> {
    // Every statement is fenced by ?1 id, ?2 holder, ?3 attempt.
    let update = match outcome {
        DeliveryOutcome::Delivered => sqlx::query(
            "UPDATE messages SET status = 'delivered', delivered_at = ?4, \
             next_attempt_at = NULL, locked_by = NULL, locked_until = NULL \
             WHERE id = ?1 AND locked_by = ?2 AND attempts = ?3 AND status = 'queued'",
        )
        .bind(&claim.id)
        .bind(&claim.holder)
        .bind(claim.attempts)
        .bind(at.0),
        DeliveryOutcome::Retry { at: next, error } => sqlx::query(
            "UPDATE messages SET next_attempt_at = ?4, last_error = ?5, \
             locked_by = NULL, locked_until = NULL \
             WHERE id = ?1 AND locked_by = ?2 AND attempts = ?3 AND status = 'queued'",
        )
        .bind(&claim.id)
        .bind(&claim.holder)
        .bind(claim.attempts)
        .bind(next.0)
        .bind(error),
        DeliveryOutcome::Dead { error } => sqlx::query(
            "UPDATE messages SET status = 'dead', dead_at = ?4, last_error = ?5, \
             next_attempt_at = NULL, locked_by = NULL, locked_until = NULL \
             WHERE id = ?1 AND locked_by = ?2 AND attempts = ?3 AND status = 'queued'",
        )
        .bind(&claim.id)
        .bind(&claim.holder)
        .bind(claim.attempts)
        .bind(at.0)
        .bind(error),
    };
    if update.execute(&mut *conn).await?.rows_affected() != 1 {
        return Ok(false);
    }
    let (word, error) = rows::attempt_outcome(outcome);
    sqlx::query(
        "INSERT INTO message_attempts (message_id, account_id, n, at, outcome, error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(&claim.id)
    .bind(&claim.account)
    .bind(claim.attempts)
    .bind(at.0)
    .bind(word)
    .bind(error)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Delivered messages, a chunk at a time: one update fenced like [`complete_one`]'s (id,
/// holder, attempt, still queued) and one insert of an attempt for each message it
/// updated, where one by one took two statements per message.
async fn complete_delivered(
    conn: &mut SqliteConnection,
    delivered: &[&ClaimedMessage],
    at: Timestamp,
) -> Result<usize> {
    let mut n = 0;
    for chunk in chunks(delivered) {
        let mut update = QueryBuilder::<Sqlite>::new(
            "UPDATE messages SET status = 'delivered', delivered_at = ",
        );
        update.push_bind(at.0);
        // `id IN` finds the rows by the key; the row values fence each one.
        update.push(
            ", next_attempt_at = NULL, locked_by = NULL, locked_until = NULL \
             WHERE status = 'queued' AND id IN (",
        );
        let mut ids = update.separated(", ");
        for claim in chunk {
            ids.push_bind(&claim.id);
        }
        update.push(") AND (id, locked_by, attempts) IN (VALUES ");
        let mut fences = update.separated(", ");
        for claim in chunk {
            fences
                .push("(")
                .push_bind_unseparated(&claim.id)
                .push_unseparated(", ")
                .push_bind_unseparated(&claim.holder)
                .push_unseparated(", ")
                .push_bind_unseparated(claim.attempts)
                .push_unseparated(")");
        }
        update.push(") RETURNING id");
        let updated: HashSet<String> = update
            .build_query_as::<(String,)>()
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|(id,)| id)
            .collect();
        let attempts: Vec<&&ClaimedMessage> =
            chunk.iter().filter(|c| updated.contains(&c.id)).collect();
        if attempts.is_empty() {
            continue;
        }
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO message_attempts (message_id, account_id, n, at, outcome, error) ",
        );
        insert.push_values(&attempts, |mut row, claim| {
            row.push_bind(&claim.id)
                .push_bind(&claim.account)
                .push_bind(claim.attempts)
                .push_bind(at.0)
                .push("'delivered'")
                .push("NULL");
        });
        insert.build().execute(&mut *conn).await?;
        n += attempts.len();
    }
    Ok(n)
}

/// Records tokens of distinct people (account, email, purpose), a chunk at a time: one
/// update revokes their earlier unused tokens, one insert records the new ones; the same as
/// [`issue_one`] for each, in two statements per chunk instead of two per token.
async fn issue_for_distinct_people(
    conn: &mut SqliteConnection,
    tokens: &[NewSignInToken],
) -> Result<()> {
    for chunk in chunks(tokens) {
        let mut revoke = QueryBuilder::<Sqlite>::new(
            "UPDATE sign_in_tokens SET revoked_at = person.column4 FROM (",
        );
        revoke.push_values(chunk, |mut row, token| {
            row.push_bind(&token.account)
                .push_bind(&token.email)
                .push_bind(&token.purpose)
                .push_bind(token.created_at.0);
        });
        revoke.push(
            ") AS person WHERE sign_in_tokens.account_id = person.column1 \
             AND sign_in_tokens.email = person.column2 \
             AND sign_in_tokens.purpose = person.column3 \
             AND sign_in_tokens.used_at IS NULL AND sign_in_tokens.revoked_at IS NULL",
        );
        revoke.build().execute(&mut *conn).await?;
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO sign_in_tokens (token_hash, account_id, email, purpose, message_id, \
                                         created_at, expires_at) ",
        );
        insert.push_values(chunk, |mut row, token| {
            row.push_bind(&token.token_hash)
                .push_bind(&token.account)
                .push_bind(&token.email)
                .push_bind(&token.purpose)
                .push_bind(token.message_id.as_deref())
                .push_bind(token.created_at.0)
                .push_bind(token.expires_at.0);
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Records a sign-in token and revokes the person's earlier unused ones.
async fn issue_one(conn: &mut SqliteConnection, token: &NewSignInToken) -> Result<()> {
    sqlx::query(
        "UPDATE sign_in_tokens SET revoked_at = ?3 \
         WHERE account_id = ?1 AND email = ?2 AND purpose = ?4 \
           AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(&token.account)
    .bind(&token.email)
    .bind(token.created_at.0)
    .bind(&token.purpose)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO sign_in_tokens (token_hash, account_id, email, purpose, message_id, \
                                     created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .bind(&token.token_hash)
    .bind(&token.account)
    .bind(&token.email)
    .bind(&token.purpose)
    .bind(token.message_id.as_deref())
    .bind(token.created_at.0)
    .bind(token.expires_at.0)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// [`Store::fire_timers`] on the writer's connection, for timers distinct by id.
async fn fire_timers_on(
    conn: &mut SqliteConnection,
    holder: &str,
    fired: &[&(ClaimedTimer, NewEvent)],
    received_at: Timestamp,
) -> Result<usize> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let mut n_fired = 0;
    for chunk in chunks(fired) {
        // Only timers still pending and held by this claim (holder and attempt) fire:
        // first their events are appended, then they are marked, under the same
        // condition and the same write lock, so both statements see the same timers and
        // no row has to travel back to tell which.
        let data = chunk
            .iter()
            .map(|(_, event)| rows::event_data(event))
            .collect::<Result<Vec<_>>>()?;
        let mut append = QueryBuilder::<Sqlite>::new(
            "INSERT INTO events (event_key, kind, account_id, at, data, received_at) \
             SELECT fired.column4, fired.column5, fired.column6, fired.column7, \
                    fired.column8, ",
        );
        append.push_bind(received_at.0);
        append.push(" FROM (");
        append.push_values(
            chunk.iter().zip(&data).enumerate(),
            |mut row, (n, ((claim, event), data))| {
                row.push_bind(i64::try_from(n).unwrap_or(i64::MAX))
                    .push_bind(&claim.id)
                    .push_bind(claim.attempts)
                    .push_bind(&event.key)
                    .push_bind(event.kind.as_str())
                    .push_bind(&event.account)
                    .push_bind(event.at.0)
                    .push_bind(data);
            },
        );
        append.push(
            ") AS fired JOIN timers \
             ON timers.id = fired.column2 AND timers.attempts = fired.column3 \
             WHERE timers.state = 'pending' AND timers.locked_by = ",
        );
        append.push_bind(holder);
        append.push(" ORDER BY fired.column1 ON CONFLICT (event_key) DO NOTHING");
        append.build().execute(&mut *tx).await?;

        let mut mark =
            QueryBuilder::<Sqlite>::new("UPDATE timers SET state = 'fired', fired_at = ");
        mark.push_bind(received_at.0);
        mark.push(" FROM (");
        mark.push_values(chunk, |mut row, (claim, _)| {
            row.push_bind(&claim.id).push_bind(claim.attempts);
        });
        mark.push(
            ") AS claim WHERE timers.id = claim.column1 AND timers.attempts = claim.column2 \
             AND timers.state = 'pending' AND timers.locked_by = ",
        );
        mark.push_bind(holder);
        n_fired += mark.build().execute(&mut *tx).await?.rows_affected();
    }
    tx.commit().await?;
    Ok(usize::try_from(n_fired).unwrap_or(usize::MAX))
}

/// [`Store::commit_batch`] on the writer's connection.
async fn commit_batch_on(
    conn: &mut SqliteConnection,
    lease: &Lease,
    batch: &ProcessedBatch,
    documents: &[rows::AccountDocument<'_>],
) -> Result<()> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    // The fence: nothing is written unless this node still holds the lease.
    let held = sqlx::query(
        "UPDATE leases SET expires_at = expires_at \
         WHERE name = ?1 AND holder = ?2 AND epoch = ?3",
    )
    .bind(&lease.name)
    .bind(&lease.holder)
    .bind(lease.epoch)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if held != 1 {
        tx.rollback().await?;
        return Err(StoreError::LeaseLost(lease.name.clone()));
    }
    let at = batch.processed_at;
    let decisions = &batch.decisions;
    mark_processed(&mut tx, &batch.processed, at).await?;
    upsert_accounts(&mut tx, documents).await?;
    crate::nudges::upsert_sqlite(&mut tx, &decisions.nudges, at.0).await?;
    crate::approvals::upsert_sqlite(&mut tx, &decisions.approvals, at.0).await?;
    crate::portfolio::upsert_sqlite(&mut tx, &batch.summaries).await?;
    // Cancels before inserts: decisions are net (see the trait).
    let cancels = rows::cancel_sets(&decisions.cancels);
    for chunk in chunks(&cancels.whole) {
        let mut update = QueryBuilder::<Sqlite>::new(
            "UPDATE timers SET state = 'cancelled' WHERE state = 'pending' AND account_id IN (",
        );
        let mut list = update.separated(", ");
        for account in chunk {
            list.push_bind(*account);
        }
        update.push(")");
        update.build().execute(&mut *tx).await?;
    }
    for chunk in chunks(&cancels.rules) {
        let mut update = QueryBuilder::<Sqlite>::new(
            "UPDATE timers SET state = 'cancelled' WHERE state = 'pending' \
             AND (account_id, rule) IN (VALUES ",
        );
        let mut list = update.separated(", ");
        for (account, rule) in chunk {
            list.push("(")
                .push_bind_unseparated(*account)
                .push_unseparated(", ")
                .push_bind_unseparated(*rule)
                .push_unseparated(")");
        }
        update.push(")");
        update.build().execute(&mut *tx).await?;
    }
    for chunk in chunks(&decisions.timers) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO timers (id, account_id, rule, due_at, since_at, program_version, \
             state, attempts, created_at) ",
        );
        insert.push_values(chunk, |mut row, timer| {
            row.push_bind(&timer.id)
                .push_bind(&timer.account)
                .push_bind(&timer.rule)
                .push_bind(timer.due_at.0)
                .push_bind(timer.since_at.0)
                .push_bind(&timer.program_version)
                .push("'pending'")
                .push("0")
                .push_bind(at.0);
        });
        insert.push(" ON CONFLICT (id) DO NOTHING");
        insert.build().execute(&mut *tx).await?;
    }
    insert_messages(&mut tx, &decisions.messages, at).await?;
    if !decisions.events.is_empty() {
        let derived: Vec<&NewEvent> = decisions.events.iter().collect();
        insert_events(&mut tx, &derived, at).await?;
    }
    for chunk in chunks(&batch.handled) {
        let mut update = QueryBuilder::<Sqlite>::new("UPDATE events SET processed_at = ");
        update.push_bind(at.0);
        update.push(" WHERE processed_at IS NULL AND event_key IN (");
        let mut list = update.separated(", ");
        for key in chunk {
            list.push_bind(key);
        }
        update.push(")");
        update.build().execute(&mut *tx).await?;
    }
    for chunk in chunks(&decisions.traces) {
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO traces (account_id, rule, event_key, at, outcome, reason) ",
        );
        insert.push_values(chunk, |mut row, trace| {
            row.push_bind(&trace.account)
                .push_bind(&trace.rule)
                .push_bind(&trace.event)
                .push_bind(trace.at.0)
                .push_bind(trace.outcome.as_str())
                .push_bind(&trace.reason);
        });
        insert.build().execute(&mut *tx).await?;
    }
    usage::link_people(&mut SqliteUsage(&mut tx), &batch.people, at).await?;
    tx.commit().await?;
    Ok(())
}

/// Inserts or updates accounts (their columns and core) and the parts a batch changed,
/// each state serialized before the write lock was taken.
async fn upsert_accounts(
    conn: &mut SqliteConnection,
    documents: &[rows::AccountDocument<'_>],
) -> Result<()> {
    let (slim, whole): (Vec<_>, Vec<_>) = documents.iter().partition(|d| d.lookups_unchanged);
    for (chunk, set) in chunks(&whole)
        .map(|c| (c, rows::ACCOUNT_SET_ALL))
        .chain(chunks(&slim).map(|c| (c, rows::ACCOUNT_SET_NO_LOOKUPS)))
    {
        let mut upsert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO accounts \
             (id, name, status, program_version, csm, created_at, updated_at, state, domain) ",
        );
        upsert.push_values(chunk, |mut row, document| {
            let account = document.account;
            row.push_bind(&account.id)
                .push_bind(&account.name)
                .push_bind(account.status.as_str())
                .push_bind(&account.program_version)
                .push_bind(account.csm.as_deref())
                .push_bind(account.created_at.0)
                .push_bind(account.updated_at.0)
                .push_bind(&document.core)
                .push_bind(account.domain.as_deref());
        });
        upsert.push(" ON CONFLICT (id) DO UPDATE SET ").push(set);
        upsert.build().execute(&mut *conn).await?;
    }
    for chunk in chunks(&rows::part_rows(documents)) {
        let mut upsert =
            QueryBuilder::<Sqlite>::new("INSERT INTO account_parts (account_id, part, doc) ");
        upsert.push_values(chunk, |mut row, (account, part, doc)| {
            row.push_bind(*account).push_bind(*part).push_bind(*doc);
        });
        upsert.push(" ON CONFLICT (account_id, part) DO UPDATE SET doc = excluded.doc");
        upsert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.writer).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn save_program_version(&self, version: &str, source: &str, at: Timestamp) -> Result<()> {
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
        let mut first = HashSet::with_capacity(events.len());
        let distinct: Vec<&NewEvent> = events
            .iter()
            .filter(|e| first.insert(e.key.as_str()))
            .collect();
        if distinct.len() > ONE_STATEMENT_APPEND {
            let mut tx = self.write().await?;
            let appended = append_in(&mut tx, events, received_at).await?;
            tx.commit().await?;
            return Ok(appended);
        }
        // One INSERT in autocommit is its own transaction: the events commit together (or
        // not at all) in one trip to the writer's thread, instead of four (begin, look up
        // the keys, insert, commit). Keys already in the log are skipped; RETURNING names
        // the rows inserted, and the sequence numbers of the others are read afterwards.
        let data = distinct
            .iter()
            .map(|e| rows::event_data(e))
            .collect::<Result<Vec<_>>>()?;
        let mut insert = events_insert(&distinct, &data, received_at);
        insert.push(" ON CONFLICT (event_key) DO NOTHING RETURNING event_key, seq");
        let mut conn = self.writer.acquire().await?;
        let inserted: HashMap<String, i64> = insert
            .build_query_as::<(String, i64)>()
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
        let known: Vec<String> = distinct
            .iter()
            .filter(|e| !inserted.contains_key(&e.key))
            .map(|e| e.key.clone())
            .collect();
        let existing = if known.is_empty() {
            HashMap::new()
        } else {
            event_seqs(&mut conn, &known).await?
        };
        rows::appended(events, &inserted, &existing)
    }

    async fn append_intake(
        &self,
        events: &[NewEvent],
        usage: &[UsageCall],
        received_at: Timestamp,
    ) -> Result<IntakeAppended> {
        if events.is_empty() && usage.is_empty() {
            return Ok(IntakeAppended::default());
        }
        let mut tx = self.write().await?;
        let appended = append_in(&mut tx, events, received_at).await?;
        let taken: HashSet<&str> = events.iter().map(|e| e.key.as_str()).collect();
        let usage = usage::ingest(&mut SqliteUsage(&mut tx), usage, &taken, received_at).await?;
        tx.commit().await?;
        Ok(IntakeAppended {
            events: appended,
            usage,
        })
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
        let row: Option<usage::ProductUserRow> = sqlx::query_as(
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
        let rows = sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE processed_at IS NULL ORDER BY seq LIMIT ?1"
        ))
        .bind(limit.max(0))
        .fetch_all(&self.reader)
        .await?;
        rows::events(rows)
    }

    async fn processing_backlog(&self) -> Result<Backlog> {
        // Both read only `events_unprocessed` (and one row for the oldest): the log's
        // length does not matter. Sequence order is arrival order.
        let (n_events, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM events WHERE processed_at IS NULL), \
                    (SELECT received_at FROM events WHERE processed_at IS NULL \
                     ORDER BY seq LIMIT 1)",
        )
        .fetch_one(&self.reader)
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
        // The holder renews its own lease (same epoch); anyone else takes it only once it
        // has expired, with the next epoch.
        let epoch: Option<i64> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, epoch, expires_at) VALUES (?1, ?2, 1, ?3 + ?4) \
             ON CONFLICT (name) DO UPDATE SET \
                 epoch = CASE WHEN leases.holder = excluded.holder \
                              THEN leases.epoch ELSE leases.epoch + 1 END, \
                 holder = excluded.holder, \
                 expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at < ?3 \
             RETURNING epoch",
        )
        .bind(name)
        .bind(holder)
        .bind(now.local().0)
        .bind(ttl.0)
        .fetch_optional(&self.writer)
        .await?;
        Ok(epoch.map(|epoch| Lease {
            name: name.to_owned(),
            holder: holder.to_owned(),
            epoch,
        }))
    }

    async fn release_lease(&self, lease: &Lease) -> Result<()> {
        // The row stays, so the next holder's epoch keeps growing.
        sqlx::query(
            "UPDATE leases SET expires_at = ?4 WHERE name = ?1 AND holder = ?2 AND epoch = ?3",
        )
        .bind(&lease.name)
        .bind(&lease.holder)
        .bind(lease.epoch)
        .bind(RELEASED)
        .execute(&self.writer)
        .await?;
        Ok(())
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
        let documents = rows::account_documents(&batch.accounts, &batch.unchanged)?;
        // Derived: the batch follows from the events it marks processed.
        let mut conn = self.relaxed().await?;
        let result = commit_batch_on(&mut conn, lease, batch, &documents).await;
        conn.restore().await;
        result
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
        let mut tx = self.write().await?;
        crate::portfolio::upsert_sqlite(&mut tx, rows).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn enqueue_messages(
        &self,
        messages: &[onboard_core::state::NewMessage],
        at: Timestamp,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        insert_messages(&mut tx, messages, at).await?;
        tx.commit().await?;
        Ok(())
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
        let mut conn = self.relaxed().await?;
        let rows = sqlx::query_as(CLAIM_TIMERS)
            .bind(holder)
            .bind(now.local().0)
            .bind(lease.0)
            .bind(limit.max(0))
            .fetch_all(&mut *conn)
            .await;
        conn.restore().await;
        Ok(rows::claimed_timers(rows?))
    }

    async fn claim_earliest_timers(
        &self,
        holder: &str,
        now: Now,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedTimer>> {
        // Derived: a claim lost to a power cut only lets the timers be claimed again.
        let mut conn = self.relaxed().await?;
        let rows = sqlx::query_as(CLAIM_EARLIEST_TIMERS)
            .bind(holder)
            .bind(now.local().0)
            .bind(lease.0)
            .bind(limit.max(0))
            .fetch_all(&mut *conn)
            .await;
        conn.restore().await;
        Ok(rows::claimed_timers(rows?))
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
        let mut conn = self.relaxed().await?;
        let result = fire_timers_on(&mut conn, holder, &fired, received_at).await;
        conn.restore().await;
        result
    }

    async fn next_timer_due(&self) -> Result<Option<Timestamp>> {
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT due_at FROM timers WHERE state = 'pending' ORDER BY due_at LIMIT 1",
        )
        .fetch_optional(&self.reader)
        .await?;
        Ok(due.map(Timestamp))
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
        let (timers, messages): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM timers WHERE state = 'pending' AND due_at <= ?1), \
                    (SELECT count(*) FROM messages \
                     WHERE status = 'queued' AND next_attempt_at <= ?1)",
        )
        .bind(now.local().0)
        .fetch_one(&self.reader)
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
        let rows = sqlx::query_as(CLAIM_MESSAGES)
            .bind(holder)
            .bind(now.local().0)
            .bind(lease.0)
            .bind(limit.max(0))
            .fetch_all(&self.writer)
            .await?;
        Ok(rows::claimed_messages(rows, holder))
    }

    async fn complete_message(
        &self,
        claim: &ClaimedMessage,
        outcome: &DeliveryOutcome,
        at: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.write().await?;
        let done = complete_one(&mut tx, claim, outcome, at).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn complete_messages(
        &self,
        done: &[(ClaimedMessage, DeliveryOutcome)],
        at: Timestamp,
    ) -> Result<usize> {
        if done.is_empty() {
            return Ok(0);
        }
        let (delivered, others): (Vec<_>, Vec<_>) = done
            .iter()
            .partition(|(_, outcome)| matches!(outcome, DeliveryOutcome::Delivered));
        // A claim named twice is recorded once, as one by one would (the second finds the
        // message delivered).
        let mut seen = HashSet::with_capacity(delivered.len());
        let delivered: Vec<&ClaimedMessage> = delivered
            .into_iter()
            .map(|(c, _)| c)
            .filter(|c| seen.insert(c.id.as_str()))
            .collect();
        let mut tx = self.write().await?;
        let mut n = complete_delivered(&mut tx, &delivered, at).await?;
        for (claim, outcome) in others {
            n += usize::from(complete_one(&mut tx, claim, outcome, at).await?);
        }
        tx.commit().await?;
        Ok(n)
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
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT next_attempt_at FROM messages WHERE status = 'queued' \
             ORDER BY next_attempt_at LIMIT 1",
        )
        .fetch_optional(&self.reader)
        .await?;
        Ok(due.map(Timestamp))
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
        let mut tx = self.write().await?;
        issue_one(&mut tx, token).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn issue_sign_in_tokens(&self, tokens: &[NewSignInToken]) -> Result<()> {
        if tokens.is_empty() {
            return Ok(());
        }
        let mut people = HashSet::with_capacity(tokens.len());
        let distinct = tokens
            .iter()
            .all(|t| people.insert((t.account.as_str(), t.email.as_str(), t.purpose.as_str())));
        let mut tx = self.write().await?;
        if distinct {
            issue_for_distinct_people(&mut tx, tokens).await?;
        } else {
            // A person named twice: the later token revokes the earlier, in order.
            for token in tokens {
                issue_one(&mut tx, token).await?;
            }
        }
        tx.commit().await?;
        Ok(())
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
        let mut counts = Vec::with_capacity(wanted.len());
        for chunk in wanted.chunks(200) {
            let mut query = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "WITH wanted(i, account_id, email, message_id) AS (",
            );
            query.push_values(
                chunk.iter().enumerate(),
                |mut row, (i, (account, email, message))| {
                    row.push_bind(i as i64)
                        .push_bind(account)
                        .push_bind(email)
                        .push_bind(message);
                },
            );
            query.push(
                ") SELECT (SELECT count(*) FROM sign_in_tokens t \
                 WHERE t.account_id = w.account_id AND t.email = w.email \
                   AND t.message_id IS NOT w.message_id AND t.purpose <> ",
            );
            query.push_bind(crate::SIGN_IN_CODE);
            query.push(") FROM wanted w ORDER BY w.i");
            let rows: Vec<(i64,)> = query.build_query_as().fetch_all(&self.reader).await?;
            counts.extend(rows.into_iter().map(|(n,)| n));
        }
        Ok(counts)
    }

    async fn consume_sign_in_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<SignInGrant>> {
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
        sqlx::query("UPDATE sessions SET ended_at = ?2 WHERE id_hash = ?1 AND ended_at IS NULL")
            .bind(id_hash)
            .bind(at.0)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn disable_endpoint(&self, name: &str, at: Timestamp, reason: &str) -> Result<()> {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::SqliteStore;

    #[tokio::test]
    async fn a_derived_write_dropped_before_restoring_never_lends_its_connection_again() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("onboard.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let relaxed = store.relaxed().await.unwrap();
        drop(relaxed);
        assert_eq!(store.writer_synchronous().await.unwrap(), 2);

        let relaxed = store.relaxed().await.unwrap();
        relaxed.restore().await;
        assert_eq!(store.writer_synchronous().await.unwrap(), 2);
    }
}
