//! The write transactions that run on the direct connection (see [`super::direct`]): the
//! event log's appends, the processor's batches, the usage linking's writes. Each statement
//! is prepared once per connection and executed once per row.

use crate::rows;
use crate::usage::{self, sqlite::SqliteUsage};
use crate::{
    Appended, ClaimedMessage, ClaimedTimer, DeliveryOutcome, IntakeAppended, Lease, NewSignInToken,
    ProcessedBatch, Result, StoreError, UsageCall,
};
use onboard_core::event::NewEvent;
use onboard_core::Timestamp;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{HashMap, HashSet};

/// Inserts one event unless its key is in the log; returns its sequence number if it was
/// inserted.
fn insert_event(
    conn: &Connection,
    event: &NewEvent,
    received_at: Timestamp,
) -> Result<Option<i64>> {
    insert_event_processed_at(conn, event, received_at, None)
}

/// Inserts one event, already processed at `processed_at` if given, unless its key is in
/// the log; returns its sequence number if it was inserted.
fn insert_event_processed_at(
    conn: &Connection,
    event: &NewEvent,
    received_at: Timestamp,
    processed_at: Option<Timestamp>,
) -> Result<Option<i64>> {
    let data = rows::event_data(event)?;
    let n = conn
        .prepare_cached(
            "INSERT INTO events (event_key, kind, account_id, at, data, received_at, processed_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (event_key) DO NOTHING",
        )?
        .execute(params![
            event.key,
            event.kind.as_str(),
            event.account,
            event.at.0,
            data,
            received_at.0,
            processed_at.map(|at| at.0)
        ])?;
    Ok((n == 1).then(|| conn.last_insert_rowid()))
}

/// The sequence number of a key in the log.
fn event_seq(conn: &Connection, key: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT seq FROM events WHERE event_key = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()?)
}

/// Inserts the events whose keys are not in the log (the first of each key) and returns
/// their sequence numbers by key.
pub(crate) fn insert_new_events(
    conn: &Connection,
    events: &[NewEvent],
    received_at: Timestamp,
) -> Result<HashMap<String, i64>> {
    let mut inserted = HashMap::with_capacity(events.len());
    for event in events {
        if inserted.contains_key(&event.key) {
            continue;
        }
        if let Some(seq) = insert_event(conn, event, received_at)? {
            inserted.insert(event.key.clone(), seq);
        }
    }
    Ok(inserted)
}

/// Appends events: those whose keys are new are inserted, the others answered with the
/// sequence number already in the log.
pub(crate) fn append_in(
    conn: &Connection,
    events: &[NewEvent],
    received_at: Timestamp,
) -> Result<Vec<Appended>> {
    let inserted = insert_new_events(conn, events, received_at)?;
    let mut existing = HashMap::new();
    let mut looked_up = HashSet::new();
    for event in events {
        let key = event.key.as_str();
        if inserted.contains_key(key) || !looked_up.insert(key) {
            continue;
        }
        if let Some(seq) = event_seq(conn, key)? {
            existing.insert(key.to_owned(), seq);
        }
    }
    rows::appended(events, &inserted, &existing)
}

/// [`crate::Store::append_intake`]: the events, then the usage calls, in one transaction.
pub(crate) fn append_intake(
    conn: &mut Connection,
    events: &[NewEvent],
    calls: Vec<UsageCall>,
    received_at: Timestamp,
) -> Result<IntakeAppended> {
    let appended = append_in(conn, events, received_at)?;
    let taken: HashSet<&str> = events.iter().map(|e| e.key.as_str()).collect();
    // The usage code is shared with PostgreSQL and written as async; here every step
    // completes at once (nothing in it waits), so polling it to the end runs it in place.
    let usage = futures::executor::block_on(usage::ingest(
        &mut SqliteUsage(conn),
        calls,
        &taken,
        received_at,
    ))?;
    Ok(IntakeAppended {
        events: appended,
        usage,
    })
}

/// Inserts queued messages, first attempt due at `at`, skipping ids already present.
pub(crate) fn insert_messages(
    conn: &Connection,
    messages: &[onboard_core::state::NewMessage],
    at: Timestamp,
) -> Result<()> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO messages (id, account_id, channel, to_email, to_name, from_email, \
         from_name, subject, body, message_id, rule, cause, sign_in_email, calendar, \
         status, attempts, next_attempt_at, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 'queued', 0, \
         ?15, ?15) ON CONFLICT (id) DO NOTHING",
    )?;
    for m in messages {
        insert.execute(params![
            m.id,
            m.account,
            m.channel,
            m.to_email,
            m.to_name,
            m.from_email,
            m.from_name,
            m.subject,
            m.body,
            m.message_id,
            m.rule,
            m.cause,
            m.sign_in_email,
            m.calendar,
            at.0
        ])?;
    }
    Ok(())
}

/// Marks events processed (those not already), a run of consecutive numbers a statement.
fn mark_processed(conn: &Connection, seqs: &[i64], at: Timestamp) -> Result<()> {
    let mut update = conn.prepare_cached(
        "UPDATE events SET processed_at = ?1 WHERE seq BETWEEN ?2 AND ?3 AND processed_at IS NULL",
    )?;
    for (first, last) in rows::runs(seqs) {
        update.execute(params![at.0, first, last])?;
    }
    Ok(())
}

/// Inserts or updates accounts (their columns and core) and the parts a batch changed.
fn upsert_accounts(conn: &Connection, documents: &[rows::AccountDocument<'_>]) -> Result<()> {
    for document in documents {
        let set = if document.lookups_unchanged {
            rows::ACCOUNT_SET_NO_LOOKUPS
        } else {
            rows::ACCOUNT_SET_ALL
        };
        let account = document.account;
        conn.prepare_cached(&format!(
            "INSERT INTO accounts \
             (id, name, status, program_version, csm, created_at, updated_at, state, domain) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) DO UPDATE SET {set}"
        ))?
        .execute(params![
            account.id,
            account.name,
            account.status.as_str(),
            account.program_version,
            account.csm,
            account.created_at.0,
            account.updated_at.0,
            document.core,
            account.domain
        ])?;
    }
    let mut upsert = conn.prepare_cached(
        "INSERT INTO account_parts (account_id, part, doc) VALUES (?1, ?2, ?3) \
         ON CONFLICT (account_id, part) DO UPDATE SET doc = excluded.doc",
    )?;
    for (account, part, doc) in rows::part_rows(documents) {
        upsert.execute(params![account, part, doc])?;
    }
    Ok(())
}

/// [`crate::Store::commit_batch`]: everything a processed batch decided, fenced by the
/// processor's lease. The states' documents are asked for last, after every other write, so
/// that they can be serialised meanwhile.
pub(crate) fn commit_batch<'a>(
    conn: &mut Connection,
    lease: &Lease,
    batch: &ProcessedBatch,
    documents: impl FnOnce() -> Result<Vec<rows::AccountDocument<'a>>>,
) -> Result<()> {
    // The fence: nothing is written unless this node still holds the lease.
    let held = conn
        .prepare_cached(
            "UPDATE leases SET expires_at = expires_at \
             WHERE name = ?1 AND holder = ?2 AND epoch = ?3",
        )?
        .execute(params![lease.name, lease.holder, lease.epoch])?;
    if held != 1 {
        return Err(StoreError::LeaseLost(lease.name.clone()));
    }
    let at = batch.processed_at;
    let decisions = &batch.decisions;
    mark_processed(conn, &batch.processed, at)?;
    crate::nudges::upsert_sqlite(conn, &decisions.nudges, at.0)?;
    crate::approvals::upsert_sqlite(conn, &decisions.approvals, at.0)?;
    crate::portfolio::upsert_sqlite(conn, &batch.summaries)?;
    // Cancels before inserts: decisions are net (see the trait).
    let cancels = rows::cancel_sets(&decisions.cancels);
    if !cancels.whole.is_empty() {
        let mut cancel = conn.prepare_cached(
            "UPDATE timers SET state = 'cancelled' WHERE state = 'pending' AND account_id = ?1",
        )?;
        for account in &cancels.whole {
            cancel.execute([account])?;
        }
    }
    if !cancels.rules.is_empty() {
        let mut cancel = conn.prepare_cached(
            "UPDATE timers SET state = 'cancelled' \
             WHERE state = 'pending' AND account_id = ?1 AND rule = ?2",
        )?;
        for (account, rule) in &cancels.rules {
            cancel.execute([account, rule])?;
        }
    }
    if !decisions.timers.is_empty() {
        let mut insert = conn.prepare_cached(
            "INSERT INTO timers (id, account_id, rule, due_at, since_at, program_version, \
             state, attempts, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7) \
             ON CONFLICT (id) DO NOTHING",
        )?;
        for timer in &decisions.timers {
            insert.execute(params![
                timer.id,
                timer.account,
                timer.rule,
                timer.due_at.0,
                timer.since_at.0,
                timer.program_version,
                at.0
            ])?;
        }
    }
    insert_messages(conn, &decisions.messages, at)?;
    // The derived events the batch handled go in already processed: they never enter the
    // index of waiting events only to leave it in the same transaction. A handled key that
    // was in the log already is marked processed there, as it would have been.
    let handled: HashSet<&str> = batch.handled.iter().map(String::as_str).collect();
    let mut logged_before = Vec::new();
    for event in &decisions.events {
        if !handled.contains(event.key.as_str()) {
            insert_event(conn, event, at)?;
        } else if insert_event_processed_at(conn, event, at, Some(at))?.is_none() {
            logged_before.push(event.key.as_str());
        }
    }
    let inserted: HashSet<&str> = decisions.events.iter().map(|e| e.key.as_str()).collect();
    logged_before.extend(handled.iter().filter(|key| !inserted.contains(*key)));
    if !logged_before.is_empty() {
        let mut mark = conn.prepare_cached(
            "UPDATE events SET processed_at = ?1 WHERE processed_at IS NULL AND event_key = ?2",
        )?;
        for key in logged_before {
            mark.execute(params![at.0, key])?;
        }
    }
    if !decisions.traces.is_empty() {
        let mut insert = conn.prepare_cached(
            "INSERT INTO traces (account_id, rule, event_key, at, outcome, reason) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for trace in &decisions.traces {
            insert.execute(params![
                trace.account,
                trace.rule,
                trace.event,
                trace.at.0,
                trace.outcome.as_str(),
                trace.reason
            ])?;
        }
    }
    upsert_accounts(conn, &documents()?)?;
    // Shared async code whose steps complete at once (see `append_intake`).
    futures::executor::block_on(usage::link_people(
        &mut SqliteUsage(conn),
        &batch.people,
        at,
    ))
}

/// Claims timers with `sql` ([`super::CLAIM_TIMERS`] or [`super::CLAIM_EARLIEST_TIMERS`]).
pub(crate) fn claim_timers(
    conn: &Connection,
    sql: &str,
    holder: &str,
    now: i64,
    lease: i64,
    limit: i64,
) -> Result<Vec<ClaimedTimer>> {
    let mut claim = conn.prepare_cached(sql)?;
    let rows = claim
        .query_map(params![holder, now, lease, limit.max(0)], |row| {
            rows::ClaimedTimerRow::from_sqlite(row)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows::claimed_timers(rows))
}

/// [`crate::Store::fire_timers`], for timers distinct by id: each timer still pending and
/// held by this claim (holder and attempt) is marked fired and its event appended.
pub(crate) fn fire_timers(
    conn: &Connection,
    holder: &str,
    fired: &[&(ClaimedTimer, NewEvent)],
    received_at: Timestamp,
) -> Result<usize> {
    let mut mark = conn.prepare_cached(
        "UPDATE timers SET state = 'fired', fired_at = ?1 \
         WHERE id = ?2 AND attempts = ?3 AND state = 'pending' AND locked_by = ?4",
    )?;
    let mut n_fired = 0;
    for (claim, event) in fired {
        if mark.execute(params![received_at.0, claim.id, claim.attempts, holder])? == 1 {
            insert_event(conn, event, received_at)?;
            n_fired += 1;
        }
    }
    Ok(n_fired)
}

/// Claims due queued messages ([`super::CLAIM_MESSAGES`]).
pub(crate) fn claim_messages(
    conn: &Connection,
    holder: &str,
    now: i64,
    lease: i64,
    limit: i64,
) -> Result<Vec<ClaimedMessage>> {
    let mut claim = conn.prepare_cached(super::CLAIM_MESSAGES)?;
    let rows = claim
        .query_map(params![holder, now, lease, limit.max(0)], |row| {
            rows::ClaimedMessageRow::from_sqlite(row)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows::claimed_messages(rows, holder))
}

/// Records one attempt's outcome, only if `claim` still holds the message (fenced by id,
/// holder and attempt). Returns whether it did.
pub(crate) fn complete_message(
    conn: &Connection,
    claim: &ClaimedMessage,
    outcome: &DeliveryOutcome,
    at: Timestamp,
) -> Result<bool> {
    // Every statement is fenced by ?1 id, ?2 holder, ?3 attempt.
    let (id, holder, attempt) = (&claim.id, &claim.holder, claim.attempts);
    let updated = match outcome {
        DeliveryOutcome::Delivered => conn
            .prepare_cached(
                "UPDATE messages SET status = 'delivered', delivered_at = ?4, \
                 next_attempt_at = NULL, locked_by = NULL, locked_until = NULL \
                 WHERE id = ?1 AND locked_by = ?2 AND attempts = ?3 AND status = 'queued'",
            )?
            .execute(params![id, holder, attempt, at.0])?,
        DeliveryOutcome::Retry { at: next, error } => conn
            .prepare_cached(
                "UPDATE messages SET next_attempt_at = ?4, last_error = ?5, \
                 locked_by = NULL, locked_until = NULL \
                 WHERE id = ?1 AND locked_by = ?2 AND attempts = ?3 AND status = 'queued'",
            )?
            .execute(params![id, holder, attempt, next.0, error])?,
        DeliveryOutcome::Dead { error } => conn
            .prepare_cached(
                "UPDATE messages SET status = 'dead', dead_at = ?4, last_error = ?5, \
                 next_attempt_at = NULL, locked_by = NULL, locked_until = NULL \
                 WHERE id = ?1 AND locked_by = ?2 AND attempts = ?3 AND status = 'queued'",
            )?
            .execute(params![id, holder, attempt, at.0, error])?,
    };
    if updated != 1 {
        return Ok(false);
    }
    let (word, error) = rows::attempt_outcome(outcome);
    conn.prepare_cached(
        "INSERT INTO message_attempts (message_id, account_id, n, at, outcome, error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        claim.id,
        claim.account,
        claim.attempts,
        at.0,
        word,
        error
    ])?;
    Ok(true)
}

/// [`crate::Store::acquire_lease`]: the holder renews its own lease (same epoch); anyone
/// else takes it only once it has expired, with the next epoch.
pub(crate) fn acquire_lease(
    conn: &Connection,
    name: &str,
    holder: &str,
    now: i64,
    ttl: i64,
) -> Result<Option<Lease>> {
    let epoch: Option<i64> = conn
        .prepare_cached(
            "INSERT INTO leases (name, holder, epoch, expires_at) VALUES (?1, ?2, 1, ?3 + ?4) \
             ON CONFLICT (name) DO UPDATE SET \
                 epoch = CASE WHEN leases.holder = excluded.holder \
                              THEN leases.epoch ELSE leases.epoch + 1 END, \
                 holder = excluded.holder, \
                 expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at < ?3 \
             RETURNING epoch",
        )?
        .query_row(params![name, holder, now, ttl], |row| row.get(0))
        .optional()?;
    Ok(epoch.map(|epoch| Lease {
        name: name.to_owned(),
        holder: holder.to_owned(),
        epoch,
    }))
}

/// [`crate::Store::release_lease`]: the row stays, so the next holder's epoch keeps growing.
pub(crate) fn release_lease(conn: &Connection, lease: &Lease) -> Result<()> {
    conn.prepare_cached(
        "UPDATE leases SET expires_at = ?4 WHERE name = ?1 AND holder = ?2 AND epoch = ?3",
    )?
    .execute(params![
        lease.name,
        lease.holder,
        lease.epoch,
        super::RELEASED
    ])?;
    Ok(())
}

/// Records a sign-in token and revokes the person's earlier unused ones.
pub(crate) fn issue_sign_in_token(conn: &Connection, token: &NewSignInToken) -> Result<()> {
    conn.prepare_cached(
        "UPDATE sign_in_tokens SET revoked_at = ?3 \
         WHERE account_id = ?1 AND email = ?2 AND purpose = ?4 \
           AND used_at IS NULL AND revoked_at IS NULL",
    )?
    .execute(params![
        token.account,
        token.email,
        token.created_at.0,
        token.purpose
    ])?;
    conn.prepare_cached(
        "INSERT INTO sign_in_tokens (token_hash, account_id, email, purpose, message_id, \
                                     created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        token.token_hash,
        token.account,
        token.email,
        token.purpose,
        token.message_id,
        token.created_at.0,
        token.expires_at.0
    ])?;
    Ok(())
}
