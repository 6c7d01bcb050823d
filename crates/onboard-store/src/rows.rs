//! Rows as both backends return them, and their conversion into domain types and store
//! records; also the small helpers both backends share (page limits, batch chunking,
//! duplicate bookkeeping). No SQL lives here: the queries are in `sqlite.rs` and
//! `postgres.rs`, which select columns under the names these structs expect.

use crate::{
    Appended, AttemptRecord, ClaimedMessage, ClaimedTimer, MessageRecord, Result, SessionRecord,
    SignInGrant, StoreError, TimerRecord, TraceRecord,
};
use onboard_core::state::{AccountState, TraceOutcome};
use onboard_core::stored::{PartSet, StatePart};
use onboard_core::{Event, EventType, NewEvent, Timestamp};
use std::collections::HashMap;

/// The most rows one page of a list returns.
pub(crate) const MAX_PAGE: i64 = 1000;

/// The page size to use for a filter's `limit`: at most [`MAX_PAGE`]; zero or negative
/// (an unset limit) means a full page.
pub(crate) fn page_limit(limit: i64) -> i64 {
    if limit <= 0 {
        MAX_PAGE
    } else {
        limit.min(MAX_PAGE)
    }
}

/// Row counts for the multi-row statements of SQLite. A batch is cut into pieces of these
/// sizes (largest first), so each statement has one of a few shapes and stays in the
/// prepared-statement cache, while a batch of n rows costs O(log n) round trips.
const CHUNK_SIZES: [usize; 5] = [256, 64, 16, 4, 1];

/// Cuts `items` into consecutive pieces whose lengths are [`CHUNK_SIZES`].
pub(crate) fn chunks<T>(items: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        let size = CHUNK_SIZES
            .iter()
            .copied()
            .find(|&size| size <= rest.len())?;
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

/// Sorted, distinct numbers as runs of consecutive ones, `(first, last)`, in order.
pub(crate) fn runs(numbers: &[i64]) -> Vec<(i64, i64)> {
    let mut sorted = numbers.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for n in sorted {
        match runs.last_mut() {
            Some((_, last)) if last.checked_add(1) == Some(n) => *last = n,
            _ => runs.push((n, n)),
        }
    }
    runs
}

/// A batch's timer cancels as two sets, each named once: accounts whose every pending timer
/// goes, and (account, rule) pairs of accounts not already in the first set. Cancelling is
/// idempotent, so this is the same net effect in a few statements instead of one per cancel.
pub(crate) struct CancelSets<'a> {
    pub whole: Vec<&'a str>,
    pub rules: Vec<(&'a str, &'a str)>,
}

pub(crate) fn cancel_sets(cancels: &[onboard_core::state::TimerCancel]) -> CancelSets<'_> {
    let whole: std::collections::BTreeSet<&str> = cancels
        .iter()
        .filter(|c| c.rule.is_none())
        .map(|c| c.account.as_str())
        .collect();
    let rules: std::collections::BTreeSet<(&str, &str)> = cancels
        .iter()
        .filter_map(|c| Some((c.account.as_str(), c.rule.as_deref()?)))
        .filter(|(account, _)| !whole.contains(account))
        .collect();
    CancelSets {
        whole: whole.into_iter().collect(),
        rules: rules.into_iter().collect(),
    }
}

/// Builds the answer of `append_events` from the sequence numbers the inserts returned
/// (`inserted`, by key) and those of keys that were already in the log (`existing`): the
/// first occurrence of a newly inserted key is `New`, every other occurrence `Duplicate`.
pub(crate) fn appended(
    events: &[NewEvent],
    inserted: &HashMap<String, i64>,
    existing: &HashMap<String, i64>,
) -> Result<Vec<Appended>> {
    let mut reported: HashMap<&str, i64> = HashMap::with_capacity(events.len());
    events
        .iter()
        .map(|event| {
            let key = event.key.as_str();
            if let Some(&seq) = reported.get(key) {
                return Ok(Appended::Duplicate(seq));
            }
            if let Some(&seq) = inserted.get(key) {
                reported.insert(key, seq);
                return Ok(Appended::New(seq));
            }
            match existing.get(key) {
                Some(&seq) => Ok(Appended::Duplicate(seq)),
                None => Err(StoreError::Corrupt(format!(
                    "event `{key}` was neither inserted nor found in the log"
                ))),
            }
        })
        .collect()
}

/// The keys of `events` that `inserted` lacks, each once: those already in the log.
pub(crate) fn missing_keys(events: &[NewEvent], inserted: &HashMap<String, i64>) -> Vec<String> {
    let mut missing: Vec<String> = events
        .iter()
        .filter(|e| !inserted.contains_key(&e.key))
        .map(|e| e.key.clone())
        .collect();
    missing.sort_unstable();
    missing.dedup();
    missing
}

/// The last state of each account in `accounts`, in first-seen order: an upsert must not
/// touch one row twice (PostgreSQL refuses it), and the last state is the newest.
pub(crate) fn latest_accounts(accounts: &[AccountState]) -> Vec<&AccountState> {
    let mut position: HashMap<&str, usize> = HashMap::with_capacity(accounts.len());
    let mut latest: Vec<&AccountState> = Vec::with_capacity(accounts.len());
    for account in accounts {
        match position.get(account.id.as_str()) {
            Some(&i) => latest[i] = account,
            None => {
                position.insert(&account.id, latest.len());
                latest.push(account);
            }
        }
    }
    latest
}

/// An event's data as stored.
pub(crate) fn event_data(event: &NewEvent) -> Result<String> {
    serde_json::to_string(&event.data)
        .map_err(|e| StoreError::Corrupt(format!("event `{}` data: {e}", event.key)))
}

/// An account's state as a batch stores it: the core, and the parts it changed (see
/// [`onboard_core::stored`]).
pub(crate) struct AccountDocument<'a> {
    pub(crate) account: &'a AccountState,
    /// Whether the account's lookup columns (status, CSM, domain) are as stored: its row
    /// is then updated without touching them, so their indexes are left alone.
    pub(crate) lookups_unchanged: bool,
    pub(crate) core: String,
    pub(crate) parts: Vec<(StatePart, String)>,
}

/// What an upsert of accounts sets when a row exists: every column.
pub(crate) const ACCOUNT_SET_ALL: &str = "name = excluded.name, status = excluded.status, \
     program_version = excluded.program_version, csm = excluded.csm, \
     created_at = excluded.created_at, updated_at = excluded.updated_at, \
     state = excluded.state, domain = excluded.domain";

/// What it sets when the lookup columns are as stored: not them, so the indexes on them are
/// not rewritten (a third of the cost of rewriting a row, measured on SQLite).
pub(crate) const ACCOUNT_SET_NO_LOOKUPS: &str = "name = excluded.name, \
     program_version = excluded.program_version, created_at = excluded.created_at, \
     updated_at = excluded.updated_at, state = excluded.state";

/// The documents of the last state of each account in `accounts` (see
/// [`latest_accounts`]): every part but those `unchanged` names for the account.
pub(crate) fn account_documents<'a>(
    accounts: &'a [AccountState],
    unchanged: &HashMap<String, PartSet>,
) -> Result<Vec<AccountDocument<'a>>> {
    let corrupt = |account: &AccountState, e: serde_json::Error| {
        StoreError::Corrupt(format!("account `{}` state: {e}", account.id))
    };
    latest_accounts(accounts)
        .into_iter()
        .map(|account| {
            let same = unchanged.get(&account.id).copied().unwrap_or_default();
            let parts = StatePart::ALL
                .into_iter()
                .filter(|part| !same.contains(*part))
                .map(|part| {
                    Ok((
                        part,
                        account.part_json(part).map_err(|e| corrupt(account, e))?,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(AccountDocument {
                account,
                lookups_unchanged: same.lookups(),
                core: account.core_json().map_err(|e| corrupt(account, e))?,
                parts,
            })
        })
        .collect()
}

/// The parts' rows of `documents`, as `(account, part, doc)`.
pub(crate) fn part_rows<'a>(
    documents: &'a [AccountDocument<'_>],
) -> Vec<(&'a str, &'static str, &'a str)> {
    documents
        .iter()
        .flat_map(|d| {
            d.parts
                .iter()
                .map(move |(part, doc)| (d.account.id.as_str(), part.as_str(), doc.as_str()))
        })
        .collect()
}

/// What follows a `WITH chosen AS (SELECT id, state FROM accounts …)` to read the chosen
/// accounts' states in one statement (one snapshot: a core and its parts always match):
/// each core as a row without a part, then its parts.
pub(crate) const STATES_OF_CHOSEN: &str = " SELECT id, CAST(NULL AS TEXT) AS part, state AS doc \
     FROM chosen UNION ALL SELECT p.account_id, p.part, p.doc \
     FROM account_parts p JOIN chosen c ON c.id = p.account_id";

/// A row of [`STATES_OF_CHOSEN`].
#[derive(sqlx::FromRow)]
pub(crate) struct StateRow {
    id: String,
    part: Option<String>,
    doc: String,
}

/// Account states from the rows of [`STATES_OF_CHOSEN`], in the order of their cores.
pub(crate) fn assemble(rows: Vec<StateRow>) -> Result<Vec<AccountState>> {
    let (cores, parts): (Vec<StateRow>, Vec<StateRow>) =
        rows.into_iter().partition(|row| row.part.is_none());
    let mut accounts = cores
        .into_iter()
        .map(|row| {
            AccountState::try_from(AccountRow {
                id: row.id,
                state: row.doc,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let position: HashMap<String, usize> = accounts
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.clone(), i))
        .collect();
    for row in parts {
        let name = row.part.unwrap_or_default();
        // A part this version does not know is left alone.
        let (Some(&i), Some(part)) = (position.get(&row.id), StatePart::parse(&name)) else {
            continue;
        };
        accounts[i]
            .set_part_json(part, &row.doc)
            .map_err(|e| StoreError::Corrupt(format!("account `{}` {name}: {e}", row.id)))?;
    }
    Ok(accounts)
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    seq: i64,
    event_key: String,
    kind: String,
    account_id: String,
    at: i64,
    data: String,
    received_at: i64,
    processed_at: Option<i64>,
}

impl TryFrom<EventRow> for Event {
    type Error = StoreError;

    fn try_from(row: EventRow) -> Result<Self> {
        let kind = EventType::parse(&row.kind)
            .map_err(|e| StoreError::Corrupt(format!("event {}: {e}", row.seq)))?;
        let data = serde_json::from_str(&row.data)
            .map_err(|e| StoreError::Corrupt(format!("event {} data: {e}", row.seq)))?;
        Ok(Event {
            seq: row.seq,
            key: row.event_key,
            kind,
            account: row.account_id,
            at: Timestamp(row.at),
            data,
            received_at: Timestamp(row.received_at),
            processed_at: row.processed_at.map(Timestamp),
        })
    }
}

/// Converts event rows, in their order.
pub(crate) fn events(rows: Vec<EventRow>) -> Result<Vec<Event>> {
    rows.into_iter().map(Event::try_from).collect()
}

#[derive(sqlx::FromRow)]
pub(crate) struct AccountRow {
    id: String,
    state: String,
}

impl TryFrom<AccountRow> for AccountState {
    type Error = StoreError;

    fn try_from(row: AccountRow) -> Result<Self> {
        serde_json::from_str(&row.state)
            .map_err(|e| StoreError::Corrupt(format!("account `{}` state: {e}", row.id)))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClaimedTimerRow {
    id: String,
    account_id: String,
    rule: String,
    due_at: i64,
    since_at: i64,
    program_version: String,
    attempts: i64,
}

/// Converts claimed timers, earliest due first (`RETURNING` promises no order).
pub(crate) fn claimed_timers(rows: Vec<ClaimedTimerRow>) -> Vec<ClaimedTimer> {
    let mut timers: Vec<ClaimedTimer> = rows
        .into_iter()
        .map(|row| ClaimedTimer {
            id: row.id,
            account: row.account_id,
            rule: row.rule,
            due_at: Timestamp(row.due_at),
            since_at: Timestamp(row.since_at),
            program_version: row.program_version,
            attempts: row.attempts,
        })
        .collect();
    timers.sort_by(|a, b| a.due_at.cmp(&b.due_at).then_with(|| a.id.cmp(&b.id)));
    timers
}

#[derive(sqlx::FromRow)]
pub(crate) struct TimerRow {
    id: String,
    account_id: String,
    rule: String,
    due_at: i64,
    since_at: i64,
    state: String,
    attempts: i64,
    fired_at: Option<i64>,
}

impl From<TimerRow> for TimerRecord {
    fn from(row: TimerRow) -> Self {
        TimerRecord {
            id: row.id,
            account: row.account_id,
            rule: row.rule,
            due_at: Timestamp(row.due_at),
            since_at: Timestamp(row.since_at),
            state: row.state,
            attempts: row.attempts,
            fired_at: row.fired_at.map(Timestamp),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClaimedMessageRow {
    id: String,
    account_id: String,
    channel: String,
    to_email: String,
    to_name: String,
    from_email: String,
    from_name: String,
    subject: String,
    body: String,
    message_id: String,
    rule: String,
    sign_in_email: Option<String>,
    calendar: Option<String>,
    drafted_by: Option<String>,
    next_attempt_at: Option<i64>,
    attempts: i64,
}

/// Converts claimed messages, earliest due first, each marked with its `holder`.
pub(crate) fn claimed_messages(rows: Vec<ClaimedMessageRow>, holder: &str) -> Vec<ClaimedMessage> {
    let mut rows = rows;
    rows.sort_by(|a, b| {
        a.next_attempt_at
            .cmp(&b.next_attempt_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    rows.into_iter()
        .map(|row| ClaimedMessage {
            id: row.id,
            account: row.account_id,
            channel: row.channel,
            to_email: row.to_email,
            to_name: row.to_name,
            from_email: row.from_email,
            from_name: row.from_name,
            subject: row.subject,
            body: row.body,
            message_id: row.message_id,
            rule: row.rule,
            sign_in_email: row.sign_in_email,
            calendar: row.calendar,
            drafted_by: row.drafted_by,
            holder: holder.to_owned(),
            attempts: row.attempts,
        })
        .collect()
}

#[derive(sqlx::FromRow)]
pub(crate) struct MessageRow {
    id: String,
    account_id: String,
    channel: String,
    to_email: String,
    to_name: String,
    from_email: String,
    from_name: String,
    subject: String,
    body: String,
    message_id: String,
    rule: String,
    cause: String,
    sign_in_email: Option<String>,
    calendar: Option<String>,
    drafted_by: Option<String>,
    drafted_at: Option<i64>,
    status: String,
    attempts: i64,
    next_attempt_at: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    delivered_at: Option<i64>,
}

impl MessageRow {
    pub(crate) fn id(&self) -> &str {
        &self.id
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AttemptRow {
    message_id: String,
    n: i64,
    at: i64,
    outcome: String,
    error: Option<String>,
}

/// Joins messages (in their order) with their attempts (in any order).
pub(crate) fn messages(rows: Vec<MessageRow>, attempts: Vec<AttemptRow>) -> Vec<MessageRecord> {
    let mut logs: HashMap<String, Vec<AttemptRecord>> = HashMap::new();
    for attempt in attempts {
        logs.entry(attempt.message_id)
            .or_default()
            .push(AttemptRecord {
                n: attempt.n,
                at: Timestamp(attempt.at),
                outcome: attempt.outcome,
                error: attempt.error,
            });
    }
    rows.into_iter()
        .map(|row| {
            let mut attempt_log = logs.remove(&row.id).unwrap_or_default();
            attempt_log.sort_by_key(|a| a.n);
            MessageRecord {
                id: row.id,
                account: row.account_id,
                channel: row.channel,
                to_email: row.to_email,
                to_name: row.to_name,
                from_email: row.from_email,
                from_name: row.from_name,
                subject: row.subject,
                body: row.body,
                message_id: row.message_id,
                rule: row.rule,
                cause: row.cause,
                sign_in_email: row.sign_in_email,
                calendar: row.calendar,
                drafted_by: row.drafted_by,
                drafted_at: row.drafted_at.map(Timestamp),
                status: row.status,
                attempts: row.attempts,
                next_attempt_at: row.next_attempt_at.map(Timestamp),
                last_error: row.last_error,
                created_at: Timestamp(row.created_at),
                delivered_at: row.delivered_at.map(Timestamp),
                attempt_log,
            }
        })
        .collect()
}

#[derive(sqlx::FromRow)]
pub(crate) struct TraceRow {
    account_id: String,
    rule: String,
    event_key: String,
    at: i64,
    outcome: String,
    reason: String,
}

impl TryFrom<TraceRow> for TraceRecord {
    type Error = StoreError;

    fn try_from(row: TraceRow) -> Result<Self> {
        let outcome: TraceOutcome = serde_json::from_value(serde_json::Value::String(
            row.outcome.clone(),
        ))
        .map_err(|_| StoreError::Corrupt(format!("trace outcome `{}` is unknown", row.outcome)))?;
        Ok(TraceRecord {
            account: row.account_id,
            rule: row.rule,
            event: row.event_key,
            at: Timestamp(row.at),
            outcome,
            reason: row.reason,
        })
    }
}

/// Orders CSM loads by email, byte by byte, so that both backends agree whatever
/// PostgreSQL's collation.
pub(crate) fn csm_loads(mut loads: Vec<(String, i64)>) -> Vec<(String, i64)> {
    loads.sort_unstable();
    loads
}

#[derive(sqlx::FromRow)]
pub(crate) struct SignInGrantRow {
    account_id: String,
    email: String,
    purpose: String,
}

impl From<SignInGrantRow> for SignInGrant {
    fn from(row: SignInGrantRow) -> Self {
        SignInGrant {
            account: row.account_id,
            email: row.email,
            purpose: row.purpose,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    account_id: String,
    email: String,
    kind: String,
    created_at: i64,
    expires_at: i64,
}

impl From<SessionRow> for SessionRecord {
    fn from(row: SessionRow) -> Self {
        SessionRecord {
            account: row.account_id,
            email: row.email,
            kind: row.kind,
            created_at: Timestamp(row.created_at),
            expires_at: Timestamp(row.expires_at),
        }
    }
}

/// The word stored for a delivery outcome in `message_attempts.outcome`.
pub(crate) fn attempt_outcome(outcome: &crate::DeliveryOutcome) -> (&'static str, Option<&str>) {
    match outcome {
        crate::DeliveryOutcome::Delivered => ("delivered", None),
        crate::DeliveryOutcome::Retry { error, .. } => ("failed", Some(error)),
        crate::DeliveryOutcome::Dead { error } => ("dead", Some(error)),
    }
}

/// The last copy of each item (by `id`) with its JSON body, in first-seen order: what a
/// batch writes to a table of documents (nudges, approvals) where the last decision wins.
pub(crate) fn latest_documents<'a, T: serde::Serialize>(
    items: &'a [T],
    id: fn(&T) -> &str,
    what: &str,
) -> Result<Vec<(&'a T, String)>> {
    latest_by_id(items, id)
        .into_iter()
        .map(|item| {
            serde_json::to_string(item)
                .map(|body| (item, body))
                .map_err(|e| StoreError::Corrupt(format!("{what} {}: {e}", id(item))))
        })
        .collect()
}

/// The last copy of each item (by `id`), in first-seen order.
pub(crate) fn latest_by_id<T>(items: &[T], id: fn(&T) -> &str) -> Vec<&T> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut rows: Vec<&T> = Vec::new();
    for item in items {
        match index.get(id(item)) {
            Some(&i) => rows[i] = item,
            None => {
                index.insert(id(item), rows.len());
                rows.push(item);
            }
        }
    }
    rows
}

/// Stored JSON bodies parsed back into documents.
pub(crate) fn parse_documents<T: serde::de::DeserializeOwned>(
    bodies: Vec<(String,)>,
    what: &str,
) -> Result<Vec<T>> {
    bodies
        .into_iter()
        .map(|(body,)| {
            serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
        })
        .collect()
}

impl EventRow {
    /// A row of `EVENT_COLUMNS` (in the struct's order) on SQLite's direct connection.
    pub(crate) fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            seq: row.get(0)?,
            event_key: row.get(1)?,
            kind: row.get(2)?,
            account_id: row.get(3)?,
            at: row.get(4)?,
            data: row.get(5)?,
            received_at: row.get(6)?,
            processed_at: row.get(7)?,
        })
    }
}

impl ClaimedTimerRow {
    /// A row of a claim's `RETURNING id, account_id, rule, due_at, since_at,
    /// program_version, attempts` on SQLite's direct connection.
    pub(crate) fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            account_id: row.get(1)?,
            rule: row.get(2)?,
            due_at: row.get(3)?,
            since_at: row.get(4)?,
            program_version: row.get(5)?,
            attempts: row.get(6)?,
        })
    }
}

impl ClaimedMessageRow {
    /// A row of a claim's `RETURNING` (the struct's columns in order) on SQLite's direct
    /// connection.
    pub(crate) fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            account_id: row.get(1)?,
            channel: row.get(2)?,
            to_email: row.get(3)?,
            to_name: row.get(4)?,
            from_email: row.get(5)?,
            from_name: row.get(6)?,
            subject: row.get(7)?,
            body: row.get(8)?,
            message_id: row.get(9)?,
            rule: row.get(10)?,
            sign_in_email: row.get(11)?,
            calendar: row.get(12)?,
            drafted_by: row.get(13)?,
            next_attempt_at: row.get(14)?,
            attempts: row.get(15)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_item_once_in_few_shapes() {
        for n in [0_usize, 1, 3, 4, 5, 255, 256, 257, 1000, 1337] {
            let items: Vec<usize> = (0..n).collect();
            let pieces: Vec<&[usize]> = chunks(&items).collect();
            let joined: Vec<usize> = pieces.iter().flat_map(|p| p.iter().copied()).collect();
            assert_eq!(joined, items);
            assert!(pieces.iter().all(|p| CHUNK_SIZES.contains(&p.len())));
        }
    }

    #[test]
    fn runs_join_consecutive_numbers_whatever_their_order() {
        assert_eq!(runs(&[]), []);
        assert_eq!(runs(&[7]), [(7, 7)]);
        assert_eq!(
            runs(&[5, 1, 2, 3, 3, 9, 10, 12]),
            [(1, 3), (5, 5), (9, 10), (12, 12)]
        );
        assert_eq!(runs(&[i64::MAX, i64::MAX - 1]), [(i64::MAX - 1, i64::MAX)]);
    }

    #[test]
    fn cancels_are_named_once_and_a_whole_account_covers_its_rules() {
        use onboard_core::state::TimerCancel;
        let cancel = |account: &str, rule: Option<&str>| TimerCancel {
            account: account.to_owned(),
            rule: rule.map(str::to_owned),
        };
        let cancels = [
            cancel("b", Some("r1")),
            cancel("a", Some("r1")),
            cancel("b", Some("r1")),
            cancel("c", Some("r2")),
            cancel("c", None),
            cancel("a", Some("r2")),
        ];
        let sets = cancel_sets(&cancels);
        assert_eq!(sets.whole, ["c"]);
        assert_eq!(sets.rules, [("a", "r1"), ("a", "r2"), ("b", "r1")]);
    }

    #[test]
    fn page_limits_are_capped_and_default_to_a_full_page() {
        assert_eq!(page_limit(0), MAX_PAGE);
        assert_eq!(page_limit(-5), MAX_PAGE);
        assert_eq!(page_limit(10), 10);
        assert_eq!(page_limit(5000), MAX_PAGE);
    }
}
