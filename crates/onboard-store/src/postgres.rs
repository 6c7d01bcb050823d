//! PostgreSQL: the backend for scale, shared by several `onboard serve` nodes.
//!
//! Work that nodes race for is claimed with `FOR UPDATE SKIP LOCKED` and fenced by the
//! claim's attempt number (timers, messages) or the lease's epoch (the processor). Due
//! times and leases are compared with the database's clock (`clock_timestamp()` in epoch
//! milliseconds), evaluated once per statement, unless the engine runs on a manual clock,
//! whose time is used instead: every statement that needs "now" takes it as
//! `coalesce($manual, database clock)`. Batches are written with one statement per table,
//! binding arrays and reading them back with `UNNEST`.
//!
//! Derived writes — the processor's batches and timer firings — commit asynchronously
//! ([`relax`]): everything they write follows from what is already durable, and
//! PostgreSQL flushes them with the next synchronous commit.
//!
//! Here lives only PostgreSQL's SQL; the row model shared with SQLite is in `rows.rs`.

use crate::rows::{self, page_limit};
use crate::usage::{self, postgres::PgUsage};
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
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{Postgres, QueryBuilder, Transaction};
use std::collections::{HashMap, HashSet};

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per node.
const CONNECTIONS: u32 = 10;

/// `expires_at` of a released lease: before any time, so anyone may take it.
const RELEASED: i64 = i64::MIN;

/// The columns `rows::EventRow` reads.
const EVENT_COLUMNS: &str = "seq, event_key, kind, account_id, at, data, received_at, processed_at";

/// The columns `rows::MessageRow` reads.
const MESSAGE_COLUMNS: &str = "id, account_id, channel, to_email, to_name, from_email, \
     from_name, subject, body, message_id, rule, cause, sign_in_email, calendar, drafted_by, \
     drafted_at, status, attempts, next_attempt_at, last_error, created_at, delivered_at";

/// Claims due pending timers (`$1` holder, `$2` manual time or NULL, `$3` lease, `$4`
/// limit). "Now" is computed once (a CTE read through scalar subqueries, which the planner
/// evaluates before the scan), so it can bound the scan of `timers_pending_due`.
const CLAIM_TIMERS: &str = "\
WITH now AS (SELECT coalesce($2::bigint, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) AS ms)
UPDATE timers SET locked_by = $1, locked_until = (SELECT ms FROM now) + $3, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM timers
    WHERE state = 'pending' AND due_at <= (SELECT ms FROM now)
      AND (locked_until IS NULL OR locked_until < (SELECT ms FROM now))
    ORDER BY due_at
    LIMIT $4
    FOR UPDATE SKIP LOCKED)
RETURNING id, account_id, rule, due_at, since_at, program_version, attempts";

/// Claims due pending timers like [`CLAIM_TIMERS`], the earliest of each account only (by
/// due time, then id).
const CLAIM_EARLIEST_TIMERS: &str = "\
WITH now AS (SELECT coalesce($2::bigint, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) AS ms)
UPDATE timers SET locked_by = $1, locked_until = (SELECT ms FROM now) + $3, attempts = attempts + 1
WHERE id IN (
    SELECT t.id FROM timers AS t
    WHERE t.state = 'pending' AND t.due_at <= (SELECT ms FROM now)
      AND (t.locked_until IS NULL OR t.locked_until < (SELECT ms FROM now))
      AND NOT EXISTS (
          SELECT 1 FROM timers AS u
          WHERE u.account_id = t.account_id AND u.state = 'pending'
            AND (u.due_at < t.due_at OR (u.due_at = t.due_at AND u.id < t.id)))
    ORDER BY t.due_at
    LIMIT $4
    FOR UPDATE SKIP LOCKED)
RETURNING id, account_id, rule, due_at, since_at, program_version, attempts";

/// Claims due queued messages, like [`CLAIM_TIMERS`].
const CLAIM_MESSAGES: &str = "\
WITH now AS (SELECT coalesce($2::bigint, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) AS ms)
UPDATE messages SET locked_by = $1, locked_until = (SELECT ms FROM now) + $3, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM messages
    WHERE status = 'queued' AND next_attempt_at <= (SELECT ms FROM now)
      AND (locked_until IS NULL OR locked_until < (SELECT ms FROM now))
    ORDER BY next_attempt_at
    LIMIT $4
    FOR UPDATE SKIP LOCKED)
RETURNING id, account_id, channel, to_email, to_name, from_email, from_name, subject, body,
          message_id, rule, sign_in_email, calendar, drafted_by, next_attempt_at, attempts";

/// The manual time to bind as "now", or NULL for the database's clock.
fn manual(now: Now) -> Option<i64> {
    match now {
        Now::System(_) => None,
        Now::Manual(t) => Some(t.0),
    }
}

/// The PostgreSQL store. Cloning it shares its pool.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to the database a `postgres://` URL names.
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(CONNECTIONS)
            .connect(url)
            .await?;
        Ok(Self { pool })
    }

    /// PostgreSQL's plan for the timer claim: shows that due timers can come from the
    /// `timers_pending_due` index. Sequential scans are disabled while planning, because on
    /// a small table the planner rightly prefers one; what matters at scale is that the
    /// index can serve the claim.
    pub async fn explain_claim_due_timers(&self) -> Result<String> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET LOCAL enable_seqscan = off")
            .execute(&mut *tx)
            .await?;
        let lines: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {CLAIM_TIMERS}"))
            .bind("explain")
            .bind(Some(0_i64))
            .bind(0_i64)
            .bind(1_i64)
            .fetch_all(&mut *tx)
            .await?;
        tx.rollback().await?;
        Ok(lines.join("\n"))
    }
}

/// Inserts events, skipping keys already in the log; returns the sequence numbers of
/// those inserted, by key. Sequence numbers follow the order of `events`.
pub(crate) async fn insert_events(
    conn: &mut PgConnection,
    events: &[&NewEvent],
    received_at: Timestamp,
) -> Result<HashMap<String, i64>> {
    let data = events
        .iter()
        .map(|e| rows::event_data(e))
        .collect::<Result<Vec<_>>>()?;
    let keys: Vec<&str> = events.iter().map(|e| e.key.as_str()).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let accounts: Vec<&str> = events.iter().map(|e| e.account.as_str()).collect();
    let ats: Vec<i64> = events.iter().map(|e| e.at.0).collect();
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "INSERT INTO events (event_key, kind, account_id, at, data, received_at) \
         SELECT key, kind, account, at, data, $6 \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) \
              WITH ORDINALITY AS e(key, kind, account, at, data, ord) \
         ORDER BY ord \
         ON CONFLICT (event_key) DO NOTHING \
         RETURNING event_key, seq",
    )
    .bind(&keys)
    .bind(&kinds)
    .bind(&accounts)
    .bind(&ats)
    .bind(&data)
    .bind(received_at.0)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Appends events in the caller's transaction, reporting keys already in the log as
/// duplicates.
async fn append_in(
    conn: &mut PgConnection,
    events: &[NewEvent],
    received_at: Timestamp,
) -> Result<Vec<Appended>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let refs: Vec<&NewEvent> = events.iter().collect();
    let inserted = insert_events(conn, &refs, received_at).await?;
    let missing = rows::missing_keys(events, &inserted);
    let existing: HashMap<String, i64> = if missing.is_empty() {
        HashMap::new()
    } else {
        // A key another transaction is inserting made ours wait for it, so by now it is
        // committed (and visible to this new statement) or rolled back (and ours inserted it).
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT event_key, seq FROM events WHERE event_key = ANY($1)")
                .bind(&missing)
                .fetch_all(&mut *conn)
                .await?;
        rows.into_iter().collect()
    };
    rows::appended(events, &inserted, &existing)
}

/// The attempts of these messages, in any order.
async fn message_attempts(pool: &PgPool, ids: &[&str]) -> Result<Vec<rows::AttemptRow>> {
    Ok(sqlx::query_as(
        "SELECT message_id, n, at, outcome, error FROM message_attempts \
         WHERE message_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?)
}

/// Inserts or replaces accounts: their columns, their states' cores and the parts written.
async fn upsert_accounts(
    conn: &mut PgConnection,
    accounts: &[AccountState],
    unchanged: &HashMap<String, onboard_core::stored::PartSet>,
) -> Result<()> {
    let documents = rows::account_documents(accounts, unchanged)?;
    if documents.is_empty() {
        return Ok(());
    }
    let (slim, whole): (Vec<_>, Vec<_>) = documents.iter().partition(|d| d.lookups_unchanged);
    for (group, set) in [
        (whole, rows::ACCOUNT_SET_ALL),
        (slim, rows::ACCOUNT_SET_NO_LOOKUPS),
    ] {
        if group.is_empty() {
            continue;
        }
        let latest: Vec<&AccountState> = group.iter().map(|d| d.account).collect();
        let states: Vec<&str> = group.iter().map(|d| d.core.as_str()).collect();
        let ids: Vec<&str> = latest.iter().map(|a| a.id.as_str()).collect();
        let names: Vec<&str> = latest.iter().map(|a| a.name.as_str()).collect();
        let statuses: Vec<&str> = latest.iter().map(|a| a.status.as_str()).collect();
        let versions: Vec<&str> = latest.iter().map(|a| a.program_version.as_str()).collect();
        let csms: Vec<Option<&str>> = latest.iter().map(|a| a.csm.as_deref()).collect();
        let created: Vec<i64> = latest.iter().map(|a| a.created_at.0).collect();
        let updated: Vec<i64> = latest.iter().map(|a| a.updated_at.0).collect();
        let domains: Vec<Option<&str>> = latest.iter().map(|a| a.domain.as_deref()).collect();
        sqlx::query(&format!(
            "INSERT INTO accounts \
                 (id, name, status, program_version, csm, created_at, updated_at, state, domain) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                                  $6::bigint[], $7::bigint[], $8::text[], $9::text[]) \
             ON CONFLICT (id) DO UPDATE SET {set}"
        ))
        .bind(&ids)
        .bind(&names)
        .bind(&statuses)
        .bind(&versions)
        .bind(&csms)
        .bind(&created)
        .bind(&updated)
        .bind(&states)
        .bind(&domains)
        .execute(&mut *conn)
        .await?;
    }
    let parts = rows::part_rows(&documents);
    if !parts.is_empty() {
        let accounts: Vec<&str> = parts.iter().map(|(a, _, _)| *a).collect();
        let names: Vec<&str> = parts.iter().map(|(_, p, _)| *p).collect();
        let docs: Vec<&str> = parts.iter().map(|(_, _, d)| *d).collect();
        sqlx::query(
            "INSERT INTO account_parts (account_id, part, doc) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) \
             ON CONFLICT (account_id, part) DO UPDATE SET doc = excluded.doc",
        )
        .bind(&accounts)
        .bind(&names)
        .bind(&docs)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Inserts new pending timers, skipping ids already present.
async fn insert_timers(
    conn: &mut PgConnection,
    timers: &[onboard_core::state::NewTimer],
    at: Timestamp,
) -> Result<()> {
    if timers.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = timers.iter().map(|t| t.id.as_str()).collect();
    let accounts: Vec<&str> = timers.iter().map(|t| t.account.as_str()).collect();
    let rules: Vec<&str> = timers.iter().map(|t| t.rule.as_str()).collect();
    let due: Vec<i64> = timers.iter().map(|t| t.due_at.0).collect();
    let since: Vec<i64> = timers.iter().map(|t| t.since_at.0).collect();
    let versions: Vec<&str> = timers.iter().map(|t| t.program_version.as_str()).collect();
    sqlx::query(
        "INSERT INTO timers (id, account_id, rule, due_at, since_at, program_version, \
                             state, attempts, created_at) \
         SELECT id, account, rule, due, since, version, 'pending', 0, $7 \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], \
                     $6::text[]) AS t(id, account, rule, due, since, version) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&ids)
    .bind(&accounts)
    .bind(&rules)
    .bind(&due)
    .bind(&since)
    .bind(&versions)
    .bind(at.0)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Inserts new queued messages, first attempt due at `at`, skipping ids already present.
async fn insert_messages(
    conn: &mut PgConnection,
    messages: &[onboard_core::state::NewMessage],
    at: Timestamp,
) -> Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&onboard_core::state::NewMessage) -> &str| -> Vec<&str> {
        messages.iter().map(f).collect()
    };
    let sign_in_emails: Vec<Option<&str>> = messages
        .iter()
        .map(|m| m.sign_in_email.as_deref())
        .collect();
    let calendars: Vec<Option<&str>> = messages.iter().map(|m| m.calendar.as_deref()).collect();
    sqlx::query(
        "INSERT INTO messages (id, account_id, channel, to_email, to_name, from_email, \
             from_name, subject, body, message_id, rule, cause, sign_in_email, calendar, \
             status, attempts, next_attempt_at, created_at) \
         SELECT id, account, channel, to_email, to_name, from_email, from_name, subject, \
                body, message_id, rule, cause, sign_in_email, calendar, 'queued', 0, $14, $14 \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                     $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], \
                     $11::text[], $12::text[], $13::text[], $15::text[]) \
              AS m(id, account, channel, to_email, to_name, from_email, from_name, \
                   subject, body, message_id, rule, cause, sign_in_email, calendar) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(column(|m| &m.id))
    .bind(column(|m| &m.account))
    .bind(column(|m| &m.channel))
    .bind(column(|m| &m.to_email))
    .bind(column(|m| &m.to_name))
    .bind(column(|m| &m.from_email))
    .bind(column(|m| &m.from_name))
    .bind(column(|m| &m.subject))
    .bind(column(|m| &m.body))
    .bind(column(|m| &m.message_id))
    .bind(column(|m| &m.rule))
    .bind(column(|m| &m.cause))
    .bind(&sign_in_emails)
    .bind(at.0)
    .bind(&calendars)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Appends traces.
async fn insert_traces(
    conn: &mut PgConnection,
    traces: &[onboard_core::state::Trace],
) -> Result<()> {
    if traces.is_empty() {
        return Ok(());
    }
    let accounts: Vec<&str> = traces.iter().map(|t| t.account.as_str()).collect();
    let rules: Vec<&str> = traces.iter().map(|t| t.rule.as_str()).collect();
    let events: Vec<&str> = traces.iter().map(|t| t.event.as_str()).collect();
    let ats: Vec<i64> = traces.iter().map(|t| t.at.0).collect();
    let outcomes: Vec<&str> = traces.iter().map(|t| t.outcome.as_str()).collect();
    let reasons: Vec<&str> = traces.iter().map(|t| t.reason.as_str()).collect();
    sqlx::query(
        "INSERT INTO traces (account_id, rule, event_key, at, outcome, reason) \
         SELECT account, rule, event, at, outcome, reason \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], \
                     $6::text[]) WITH ORDINALITY \
              AS t(account, rule, event, at, outcome, reason, ord) \
         ORDER BY ord",
    )
    .bind(&accounts)
    .bind(&rules)
    .bind(&events)
    .bind(&ats)
    .bind(&outcomes)
    .bind(&reasons)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Lets a transaction of derived writes commit without waiting for its WAL flush
/// (`synchronous_commit = off`, for this transaction only): losing it to a crash of the
/// database loses nothing that is not written again, and a later synchronous commit
/// flushes it first.
async fn relax(tx: &mut Transaction<'_, Postgres>) -> Result<()> {
    sqlx::query("SET LOCAL synchronous_commit = off")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn save_program_version(&self, version: &str, source: &str, at: Timestamp) -> Result<()> {
        sqlx::query(
            "INSERT INTO program_versions (version, source, loaded_at) VALUES ($1, $2, $3) \
             ON CONFLICT (version) DO NOTHING",
        )
        .bind(version)
        .bind(source)
        .bind(at.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn program_source(&self, version: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT source FROM program_versions WHERE version = $1")
                .bind(version)
                .fetch_optional(&self.pool)
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
        let mut tx = self.pool.begin().await?;
        let appended = append_in(&mut tx, events, received_at).await?;
        tx.commit().await?;
        Ok(appended)
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
        let mut tx = self.pool.begin().await?;
        let appended = append_in(&mut tx, events, received_at).await?;
        let taken: HashSet<&str> = events.iter().map(|e| e.key.as_str()).collect();
        let usage = usage::ingest(&mut PgUsage(&mut tx), usage, &taken, received_at).await?;
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
             WHERE u.user_id = $1 AND n.status = 'pending' AND n.expires_at > $2 \
             ORDER BY n.updated_at, n.id LIMIT 100",
        )
        .bind(user)
        .bind(now.0)
        .fetch_all(&self.pool)
        .await?;
        crate::nudges::parse(rows)
    }

    async fn approvals(
        &self,
        query: &crate::ApprovalQuery,
    ) -> Result<Vec<onboard_core::state::Approval>> {
        let sql = crate::approvals::list_sql(query, |n| format!("${n}"));
        let mut q = sqlx::query_as(&sql);
        if let Some(status) = &query.status {
            q = q.bind(status);
        }
        if let Some(account) = &query.account {
            q = q.bind(account);
        }
        let rows: Vec<(String,)> = q.bind(query.limit()).fetch_all(&self.pool).await?;
        crate::approvals::parse(rows)
    }

    async fn nudge(&self, id: &str) -> Result<Option<onboard_core::state::Nudge>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT body FROM nudges WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(crate::nudges::parse(row.into_iter().collect())?.pop())
    }

    async fn product_user(&self, id: &str) -> Result<Option<ProductUser>> {
        let row: Option<usage::ProductUserRow> = sqlx::query_as(
            "SELECT user_id, account_id, email, group_id, linked_at FROM product_users \
             WHERE user_id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(ProductUser::from))
    }

    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>> {
        let mut select =
            QueryBuilder::<Postgres>::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE true"));
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
        rows::events(select.build_query_as().fetch_all(&self.pool).await?)
    }

    async fn unprocessed_events(&self, limit: i64) -> Result<Vec<Event>> {
        let rows = sqlx::query_as(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE processed_at IS NULL ORDER BY seq LIMIT $1"
        ))
        .bind(limit.max(0))
        .fetch_all(&self.pool)
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
        .fetch_one(&self.pool)
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
        // has expired, with the next epoch. "Now" is the new expiry minus the ttl.
        let epoch: Option<i64> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, epoch, expires_at) \
             SELECT $1, $2, 1, \
                    coalesce($3::bigint, (extract(epoch FROM clock_timestamp()) * 1000)::bigint) \
                    + $4 \
             ON CONFLICT (name) DO UPDATE SET \
                 epoch = CASE WHEN leases.holder = excluded.holder \
                              THEN leases.epoch ELSE leases.epoch + 1 END, \
                 holder = excluded.holder, \
                 expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder \
                OR leases.expires_at < excluded.expires_at - $4 \
             RETURNING epoch",
        )
        .bind(name)
        .bind(holder)
        .bind(manual(now))
        .bind(ttl.0)
        .fetch_optional(&self.pool)
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
            "UPDATE leases SET expires_at = $4 WHERE name = $1 AND holder = $2 AND epoch = $3",
        )
        .bind(&lease.name)
        .bind(&lease.holder)
        .bind(lease.epoch)
        .bind(RELEASED)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn load_accounts(&self, ids: &[String]) -> Result<Vec<AccountState>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query_as(&format!(
            "WITH chosen AS (SELECT id, state FROM accounts WHERE id = ANY($1)){}",
            rows::STATES_OF_CHOSEN
        ))
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        let mut accounts: HashMap<String, AccountState> = rows::assemble(rows)?
            .into_iter()
            .map(|a| (a.id.clone(), a))
            .collect();
        // In the order asked for.
        Ok(ids.iter().filter_map(|id| accounts.remove(id)).collect())
    }

    async fn account(&self, id: &str) -> Result<Option<AccountState>> {
        let rows = sqlx::query_as(&format!(
            "WITH chosen AS (SELECT id, state FROM accounts WHERE id = $1){}",
            rows::STATES_OF_CHOSEN
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::assemble(rows)?.pop())
    }

    async fn list_accounts(&self, filter: &AccountFilter) -> Result<Vec<AccountState>> {
        let mut select = QueryBuilder::<Postgres>::new(
            "WITH chosen AS (SELECT id, state FROM accounts WHERE true",
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
        let rows = select.build_query_as().fetch_all(&self.pool).await?;
        rows::assemble(rows)
    }

    async fn csm_loads(&self) -> Result<Vec<(String, i64)>> {
        let loads = sqlx::query_as(
            "SELECT csm, count(*) FROM accounts \
             WHERE status = 'active' AND csm IS NOT NULL GROUP BY csm",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows::csm_loads(loads))
    }

    async fn commit_batch(&self, lease: &Lease, batch: &ProcessedBatch) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Derived: the batch follows from the events it marks processed.
        relax(&mut tx).await?;
        // The fence: nothing is written unless this node still holds the lease. The row
        // lock it takes also keeps another node from taking the lease over until commit.
        let held = sqlx::query(
            "UPDATE leases SET expires_at = expires_at \
             WHERE name = $1 AND holder = $2 AND epoch = $3",
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
        if !batch.processed.is_empty() {
            sqlx::query(
                "UPDATE events SET processed_at = $1 \
                 WHERE processed_at IS NULL AND seq = ANY($2)",
            )
            .bind(at.0)
            .bind(&batch.processed)
            .execute(&mut *tx)
            .await?;
        }
        upsert_accounts(&mut tx, &batch.accounts, &batch.unchanged).await?;
        crate::nudges::upsert_postgres(&mut tx, &decisions.nudges, at.0).await?;
        crate::approvals::upsert_postgres(&mut tx, &decisions.approvals, at.0).await?;
        crate::portfolio::upsert_postgres(&mut tx, &batch.summaries).await?;
        // Cancels before inserts: decisions are net (see the trait).
        let cancels = rows::cancel_sets(&decisions.cancels);
        if !cancels.whole.is_empty() {
            sqlx::query(
                "UPDATE timers SET state = 'cancelled' \
                 WHERE state = 'pending' AND account_id = ANY($1)",
            )
            .bind(&cancels.whole)
            .execute(&mut *tx)
            .await?;
        }
        if !cancels.rules.is_empty() {
            let (accounts, rules): (Vec<&str>, Vec<&str>) = cancels.rules.iter().copied().unzip();
            sqlx::query(
                "UPDATE timers SET state = 'cancelled' \
                 WHERE state = 'pending' \
                   AND (account_id, rule) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))",
            )
            .bind(&accounts)
            .bind(&rules)
            .execute(&mut *tx)
            .await?;
        }
        insert_timers(&mut tx, &decisions.timers, at).await?;
        insert_messages(&mut tx, &decisions.messages, at).await?;
        if !decisions.events.is_empty() {
            let derived: Vec<&NewEvent> = decisions.events.iter().collect();
            insert_events(&mut tx, &derived, at).await?;
        }
        if !batch.handled.is_empty() {
            sqlx::query(
                "UPDATE events SET processed_at = $1 \
                 WHERE event_key = ANY($2) AND processed_at IS NULL",
            )
            .bind(at.0)
            .bind(&batch.handled)
            .execute(&mut *tx)
            .await?;
        }
        insert_traces(&mut tx, &decisions.traces).await?;
        usage::link_people(&mut PgUsage(&mut tx), &batch.people, at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn portfolio(&self, query: &crate::PortfolioQuery) -> Result<crate::PortfolioPage> {
        crate::portfolio::read_postgres(&self.pool, query).await
    }

    async fn accounts_without_summary(&self, limit: i64) -> Result<Vec<String>> {
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM accounts a WHERE NOT EXISTS \
             (SELECT 1 FROM portfolio p WHERE p.account_id = a.id) ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }

    async fn write_summaries(&self, rows: &[onboard_core::portfolio::Summary]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        crate::portfolio::upsert_postgres(&mut tx, rows).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn enqueue_messages(
        &self,
        messages: &[onboard_core::state::NewMessage],
        at: Timestamp,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        insert_messages(&mut tx, messages, at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn team_password(&self, email: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT password_hash FROM team_credentials WHERE email = $1")
                .bind(email)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn set_team_password(&self, email: &str, hash: &str, at: Timestamp) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO team_credentials (email, password_hash, updated_at) VALUES ($1, $2, $3) \
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
            "SELECT rule, count(*) FROM traces WHERE outcome = 'fired' AND at >= $1 \
             GROUP BY rule ORDER BY rule",
        )
        .bind(since.0)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn traces(&self, account: &str, limit: i64) -> Result<Vec<TraceRecord>> {
        let rows: Vec<rows::TraceRow> = sqlx::query_as(
            "SELECT account_id, rule, event_key, at, outcome, reason FROM traces \
             WHERE account_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(account)
        .bind(limit.max(0))
        .fetch_all(&self.pool)
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
        let rows = sqlx::query_as(CLAIM_TIMERS)
            .bind(holder)
            .bind(manual(now))
            .bind(lease.0)
            .bind(limit.max(0))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows::claimed_timers(rows))
    }

    async fn claim_earliest_timers(
        &self,
        holder: &str,
        now: Now,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedTimer>> {
        let rows = sqlx::query_as(CLAIM_EARLIEST_TIMERS)
            .bind(holder)
            .bind(manual(now))
            .bind(lease.0)
            .bind(limit.max(0))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows::claimed_timers(rows))
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
        let ids: Vec<&str> = fired.iter().map(|(claim, _)| claim.id.as_str()).collect();
        let attempts: Vec<i64> = fired.iter().map(|(claim, _)| claim.attempts).collect();
        let mut tx = self.pool.begin().await?;
        // Derived: a firing lost to a power cut leaves its timers pending, and they fire
        // again with the same event keys.
        relax(&mut tx).await?;
        // Only timers still pending and held by this claim (holder and attempt) fire.
        let marked: Vec<String> = sqlx::query_scalar(
            "UPDATE timers SET state = 'fired', fired_at = $3 \
             FROM UNNEST($1::text[], $2::bigint[]) AS claim(id, attempts) \
             WHERE timers.id = claim.id AND timers.attempts = claim.attempts \
               AND timers.state = 'pending' AND timers.locked_by = $4 \
             RETURNING timers.id",
        )
        .bind(&ids)
        .bind(&attempts)
        .bind(received_at.0)
        .bind(holder)
        .fetch_all(&mut *tx)
        .await?;
        let marked: HashSet<String> = marked.into_iter().collect();
        let events: Vec<&NewEvent> = fired
            .iter()
            .filter(|(claim, _)| marked.contains(&claim.id))
            .map(|(_, event)| event)
            .collect();
        if !events.is_empty() {
            insert_events(&mut tx, &events, received_at).await?;
        }
        tx.commit().await?;
        Ok(marked.len())
    }

    async fn next_timer_due(&self) -> Result<Option<Timestamp>> {
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT due_at FROM timers WHERE state = 'pending' ORDER BY due_at LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(due.map(Timestamp))
    }

    async fn timer_counts(&self, now: Now) -> Result<TimerCounts> {
        let (pending, due): (i64, i64) = sqlx::query_as(
            "WITH now AS (SELECT coalesce($1::bigint, \
                 (extract(epoch FROM clock_timestamp()) * 1000)::bigint) AS ms) \
             SELECT count(*), count(*) FILTER (WHERE due_at <= (SELECT ms FROM now)) \
             FROM timers WHERE state = 'pending'",
        )
        .bind(manual(now))
        .fetch_one(&self.pool)
        .await?;
        Ok(TimerCounts { pending, due })
    }

    async fn due_work(&self, now: Now) -> Result<DueWork> {
        let (timers, messages): (i64, i64) = sqlx::query_as(
            "WITH now AS (SELECT coalesce($1::bigint, \
                 (extract(epoch FROM clock_timestamp()) * 1000)::bigint) AS ms) \
             SELECT (SELECT count(*) FROM timers \
                     WHERE state = 'pending' AND due_at <= (SELECT ms FROM now)), \
                    (SELECT count(*) FROM messages \
                     WHERE status = 'queued' AND next_attempt_at <= (SELECT ms FROM now))",
        )
        .bind(manual(now))
        .fetch_one(&self.pool)
        .await?;
        Ok(DueWork { timers, messages })
    }

    async fn timer(&self, id: &str) -> Result<Option<TimerRecord>> {
        let row: Option<rows::TimerRow> = sqlx::query_as(
            "SELECT id, account_id, rule, due_at, since_at, state, attempts, fired_at \
             FROM timers WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(TimerRecord::from))
    }

    async fn pending_timers(&self, account: &str, limit: i64) -> Result<Vec<TimerRecord>> {
        let rows: Vec<rows::TimerRow> = sqlx::query_as(
            "SELECT id, account_id, rule, due_at, since_at, state, attempts, fired_at \
             FROM timers WHERE account_id = $1 AND state = 'pending' \
             ORDER BY due_at, id LIMIT $2",
        )
        .bind(account)
        .bind(limit)
        .fetch_all(&self.pool)
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
            .bind(manual(now))
            .bind(lease.0)
            .bind(limit.max(0))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows::claimed_messages(rows, holder))
    }

    async fn complete_message(
        &self,
        claim: &ClaimedMessage,
        outcome: &DeliveryOutcome,
        at: Timestamp,
    ) -> Result<bool> {
        // Every statement is fenced by $1 id, $2 holder, $3 attempt.
        let update = match outcome {
            DeliveryOutcome::Delivered => sqlx::query(
                "UPDATE messages SET status = 'delivered', delivered_at = $4, \
                 next_attempt_at = NULL, locked_by = NULL, locked_until = NULL \
                 WHERE id = $1 AND locked_by = $2 AND attempts = $3 AND status = 'queued'",
            )
            .bind(&claim.id)
            .bind(&claim.holder)
            .bind(claim.attempts)
            .bind(at.0),
            DeliveryOutcome::Retry { at: next, error } => sqlx::query(
                "UPDATE messages SET next_attempt_at = $4, last_error = $5, \
                 locked_by = NULL, locked_until = NULL \
                 WHERE id = $1 AND locked_by = $2 AND attempts = $3 AND status = 'queued'",
            )
            .bind(&claim.id)
            .bind(&claim.holder)
            .bind(claim.attempts)
            .bind(next.0)
            .bind(error),
            DeliveryOutcome::Dead { error } => sqlx::query(
                "UPDATE messages SET status = 'dead', dead_at = $4, last_error = $5, \
                 next_attempt_at = NULL, locked_by = NULL, locked_until = NULL \
                 WHERE id = $1 AND locked_by = $2 AND attempts = $3 AND status = 'queued'",
            )
            .bind(&claim.id)
            .bind(&claim.holder)
            .bind(claim.attempts)
            .bind(at.0)
            .bind(error),
        };
        let mut tx = self.pool.begin().await?;
        if update.execute(&mut *tx).await?.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let (word, error) = rows::attempt_outcome(outcome);
        sqlx::query(
            "INSERT INTO message_attempts (message_id, account_id, n, at, outcome, error) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&claim.id)
        .bind(&claim.account)
        .bind(claim.attempts)
        .bind(at.0)
        .bind(word)
        .bind(error)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn record_draft(
        &self,
        claim: &ClaimedMessage,
        draft: &MessageDraft,
        at: Timestamp,
    ) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE messages SET subject = $4, body = $5, drafted_by = $6, drafted_at = $7 \
             WHERE id = $1 AND locked_by = $2 AND attempts = $3 AND status = 'queued'",
        )
        .bind(&claim.id)
        .bind(&claim.holder)
        .bind(claim.attempts)
        .bind(&draft.subject)
        .bind(&draft.body)
        .bind(&draft.drafted_by)
        .bind(at.0)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(updated == 1)
    }

    async fn next_message_due(&self) -> Result<Option<Timestamp>> {
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT next_attempt_at FROM messages WHERE status = 'queued' \
             ORDER BY next_attempt_at LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(due.map(Timestamp))
    }

    async fn list_messages(&self, filter: &MessageFilter) -> Result<Vec<MessageRecord>> {
        let mut select = QueryBuilder::<Postgres>::new(format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE true"
        ));
        if let Some(account) = &filter.account {
            select.push(" AND account_id = ").push_bind(account);
        }
        if let Some(status) = &filter.status {
            select.push(" AND status = ").push_bind(status);
        }
        if let Some((created_at, id)) = &filter.before {
            select
                .push(" AND (created_at, id) < (")
                .push_bind(created_at.0)
                .push(", ")
                .push_bind(id)
                .push(")");
        }
        select
            .push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(page_limit(filter.limit));
        let rows: Vec<rows::MessageRow> = select.build_query_as().fetch_all(&self.pool).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = rows.iter().map(rows::MessageRow::id).collect();
        let attempts = message_attempts(&self.pool, &ids).await?;
        Ok(rows::messages(rows, attempts))
    }

    async fn message(&self, id: &str) -> Result<Option<MessageRecord>> {
        let row: Option<rows::MessageRow> = sqlx::query_as(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let attempts = message_attempts(&self.pool, &[id]).await?;
        Ok(rows::messages(vec![row], attempts).pop())
    }

    async fn retry_message(&self, id: &str, at: Timestamp) -> Result<()> {
        // The attempt counter keeps growing, so attempt numbers stay unique.
        let updated = sqlx::query(
            "UPDATE messages SET status = 'queued', next_attempt_at = $2, dead_at = NULL, \
             locked_by = NULL, locked_until = NULL \
             WHERE id = $1 AND status = 'dead'",
        )
        .bind(id)
        .bind(at.0)
        .execute(&self.pool)
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
        .fetch_one(&self.pool)
        .await?;
        Ok(OutboxCounts { queued, dead })
    }

    async fn issue_sign_in_token(&self, token: &NewSignInToken) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Issues for one person take turns: without the lock, two at once would each revoke
        // only the tokens committed before them, and both new tokens would stay valid.
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended($1::text || chr(10) || $2::text, 0))",
        )
        .bind(&token.account)
        .bind(&token.email)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE sign_in_tokens SET revoked_at = $3 \
             WHERE account_id = $1 AND email = $2 AND purpose = $4 \
               AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(&token.account)
        .bind(&token.email)
        .bind(token.created_at.0)
        .bind(&token.purpose)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO sign_in_tokens (token_hash, account_id, email, purpose, message_id, \
                                         created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&token.token_hash)
        .bind(&token.account)
        .bind(&token.email)
        .bind(&token.purpose)
        .bind(token.message_id.as_deref())
        .bind(token.created_at.0)
        .bind(token.expires_at.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sign_in_accounts(&self, email: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT account_id FROM sign_in_tokens WHERE email = $1 AND account_id <> '' \
             ORDER BY account_id",
        )
        .bind(email)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn sign_in_links_before(
        &self,
        account: &str,
        email: &str,
        other_than_message: Option<&str>,
    ) -> Result<i64> {
        // `IS DISTINCT FROM` is the null-safe `<>`: tokens of no message are counted.
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM sign_in_tokens \
             WHERE account_id = $1 AND email = $2 \
               AND ($3::text IS NULL OR message_id IS DISTINCT FROM $3) AND purpose <> $4",
        )
        .bind(account)
        .bind(email)
        .bind(other_than_message)
        .bind(crate::SIGN_IN_CODE)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn sign_in_links_before_each(
        &self,
        wanted: &[(String, String, String)],
    ) -> Result<Vec<i64>> {
        let accounts: Vec<&str> = wanted.iter().map(|(a, _, _)| a.as_str()).collect();
        let emails: Vec<&str> = wanted.iter().map(|(_, e, _)| e.as_str()).collect();
        let messages: Vec<&str> = wanted.iter().map(|(_, _, m)| m.as_str()).collect();
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT (SELECT count(*) FROM sign_in_tokens t \
                     WHERE t.account_id = w.account_id AND t.email = w.email \
                       AND t.message_id IS DISTINCT FROM w.message_id AND t.purpose <> $4) \
             FROM UNNEST($1::text[], $2::text[], $3::text[]) WITH ORDINALITY \
                 AS w(account_id, email, message_id, i) \
             ORDER BY w.i",
        )
        .bind(&accounts)
        .bind(&emails)
        .bind(&messages)
        .bind(crate::SIGN_IN_CODE)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    async fn consume_sign_in_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<SignInGrant>> {
        // One statement: a second caller waits for the first's row lock, then re-checks
        // `used_at` and finds the token used.
        let row: Option<rows::SignInGrantRow> = sqlx::query_as(
            "UPDATE sign_in_tokens SET used_at = $2 \
             WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL \
               AND expires_at > $2 AND purpose <> $3 \
             RETURNING account_id, email, purpose",
        )
        .bind(token_hash)
        .bind(now.0)
        .bind(crate::SIGN_IN_CODE)
        .fetch_optional(&self.pool)
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
        let mut tx = self.pool.begin().await?;
        // Tries for one address take turns, so a right code is used once and wrong tries
        // add up exactly.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('sign-in-code' || chr(10) || $1::text, 0))")
            .bind(email)
            .execute(&mut *tx)
            .await?;
        let row: Option<rows::SignInGrantRow> = sqlx::query_as(
            "UPDATE sign_in_tokens SET used_at = $3 \
             WHERE token_hash = ANY($1) AND email = $2 AND purpose = $4 \
               AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $3 \
               AND failed_attempts < $5 \
             RETURNING account_id, email, purpose",
        )
        .bind(code_hashes)
        .bind(email)
        .bind(now.0)
        .bind(crate::SIGN_IN_CODE)
        .bind(max_failures)
        .fetch_optional(&mut *tx)
        .await?;
        if row.is_none() {
            sqlx::query(
                "UPDATE sign_in_tokens SET failed_attempts = failed_attempts + 1 \
                 WHERE email = $1 AND purpose = $3 AND used_at IS NULL AND revoked_at IS NULL \
                   AND expires_at > $2 AND failed_attempts < $4",
            )
            .bind(email)
            .bind(now.0)
            .bind(crate::SIGN_IN_CODE)
            .bind(max_failures)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(row.map(SignInGrant::from))
    }

    async fn create_session(&self, session: &NewSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, account_id, email, kind, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&session.id_hash)
        .bind(&session.account)
        .bind(&session.email)
        .bind(&session.kind)
        .bind(session.created_at.0)
        .bind(session.expires_at.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(&self, id_hash: &str, now: Timestamp) -> Result<Option<SessionRecord>> {
        let row: Option<rows::SessionRow> = sqlx::query_as(
            "SELECT account_id, email, kind, created_at, expires_at FROM sessions \
             WHERE id_hash = $1 AND ended_at IS NULL AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(SessionRecord::from))
    }

    async fn end_session(&self, id_hash: &str, at: Timestamp) -> Result<()> {
        sqlx::query("UPDATE sessions SET ended_at = $2 WHERE id_hash = $1 AND ended_at IS NULL")
            .bind(id_hash)
            .bind(at.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn disable_endpoint(&self, name: &str, at: Timestamp, reason: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO endpoints (name, disabled_at, reason) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(at.0)
        .bind(reason)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn enable_endpoint(&self, name: &str) -> Result<bool> {
        let deleted = sqlx::query("DELETE FROM endpoints WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn disabled_endpoints(&self) -> Result<Vec<(String, Timestamp, String)>> {
        let rows: Vec<(String, i64, String)> =
            sqlx::query_as("SELECT name, disabled_at, reason FROM endpoints ORDER BY name")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(name, at, reason)| (name, Timestamp(at), reason))
            .collect())
    }

    async fn insert_file(&self, file: &crate::FileRecord) -> Result<()> {
        crate::files::insert_file_postgres(&self.pool, file).await
    }

    async fn file(&self, id: &str) -> Result<Option<crate::FileRecord>> {
        crate::files::file_postgres(&self.pool, id).await
    }

    async fn account_files(&self, account: &str) -> Result<Vec<crate::FileRecord>> {
        crate::files::account_files_postgres(&self.pool, account).await
    }

    async fn reserve_kickoff_slot(&self, slot: &crate::KickoffSlot) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        crate::files::reserve_slot_postgres(&mut tx, slot).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn csm_kickoff_slots(
        &self,
        csm: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<crate::KickoffSlot>> {
        crate::files::csm_slots_postgres(&self.pool, csm, from, to).await
    }
}
