//! The in-process store: every table kept in Rust collections, for simulations (`onboard
//! simulate` runs a synthetic cohort through the real engine) and tests. Nothing is
//! durable and nothing is shared between processes; [`crate::connect`] gives a fresh,
//! empty one for the URL `memory:`.
//!
//! Its observable behaviour is the SQLite store's (`sqlite.rs`, with `rows.rs`, the shared
//! row logic, and the migrations in `migrations/sqlite/`), method for method: the same
//! orders (SQLite's byte-wise TEXT order is `String`'s), the same ties, the same fences.
//! What it does not do is SQL or serialisation: account states, nudges, approvals and
//! summaries are kept as the values they are (an account state's parts are copy-on-write,
//! so storing and loading one is a few reference counts).
//!
//! All tables live in one `Inner` behind one mutex. Every method takes the lock once, does
//! all its work under it and never awaits while holding it, so each method is one
//! transaction. A method that fails changes nothing: it checks everything that can fail
//! before it writes (the usage intake, whose logic is shared with the SQL stores, writes
//! through `usage::MemoryUsage`, which keeps its appends aside until the end and can undo
//! its other writes).
//!
//! Here live the tables and the work on them; the `Store` methods are in `store.rs`, the
//! portfolio's page in `portfolio.rs`, the usage intake's reads and writes in `usage.rs`.
//! No SQL anywhere.

mod portfolio;
mod store;
mod usage;

use crate::files::{FileRecord, KickoffSlot};
use crate::rows::{self, page_limit};
use crate::usage::{self as intake, IntakeAppended, UsageCall, UserRow};
use crate::{
    Appended, AttemptRecord, ClaimedMessage, ClaimedTimer, DeliveryOutcome, EventFilter, Lease,
    MessageRecord, NewSignInToken, ProcessedBatch, Result, SessionRecord, SignInGrant, StoreError,
    TimerRecord, TraceRecord,
};
use onboard_core::event::NewEvent;
use onboard_core::portfolio::Summary;
use onboard_core::state::{AccountState, Approval, NewMessage, NewTimer, Nudge, TraceOutcome};
use onboard_core::stored::{PartSet, StatePart};
use onboard_core::{Duration, Event, Timestamp};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use usage::MemoryUsage;

/// The in-process store. Each value is its own, empty database.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// A new, empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The tables, locked for one method's work. A lock poisoned by a panic half-way through
    /// a write may guard half-written tables: it is an error, never a panic.
    fn lock(&self) -> Result<MutexGuard<'_, Inner>> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Memory("the lock was poisoned by a panic"))
    }
}

/// Runs a future that never waits (the usage intake's, on [`MemoryUsage`], whose methods
/// are async only because the trait is) to its end, synchronously, under the lock.
fn run_now<F: Future>(future: F) -> Result<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => Ok(output),
        std::task::Poll::Pending => Err(StoreError::Memory(
            "the usage intake waited, which the in-memory store never makes it do",
        )),
    }
}

/// How many rows a `LIMIT ?` bound to `limit` lets through on SQLite: a negative limit
/// means no limit there.
fn sqlite_limit(limit: i64) -> usize {
    usize::try_from(limit).unwrap_or(usize::MAX)
}

/// `a + b` as the store computes lease ends, without overflow.
fn plus(a: i64, b: i64) -> i64 {
    a.saturating_add(b)
}

// ------------------------------------------------------------------------------- tables

/// A named lease (`leases`).
#[derive(Debug, Clone)]
struct LeaseRow {
    holder: String,
    epoch: i64,
    expires_at: i64,
}

/// An account (`accounts` and `account_parts`): the whole state, and the lookup columns
/// (status, CSM, domain) as last written, which a batch leaves alone when it says they did
/// not change, exactly as SQLite's upsert does; lists and filters read the columns.
#[derive(Debug, Clone)]
struct AccountRow {
    state: AccountState,
    status: String,
    csm: Option<String>,
    domain: Option<String>,
}

/// `timers.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimerState {
    Pending,
    Fired,
    Cancelled,
}

impl TimerState {
    fn as_str(self) -> &'static str {
        match self {
            TimerState::Pending => "pending",
            TimerState::Fired => "fired",
            TimerState::Cancelled => "cancelled",
        }
    }
}

/// A timer (`timers`). Ties of due time are broken by id in the claims, as in SQLite's index
/// on `due_at` (whose entries end with the id, the table's key).
#[derive(Debug, Clone)]
struct TimerRow {
    id: String,
    account: String,
    rule: String,
    due_at: i64,
    since_at: i64,
    program_version: String,
    state: TimerState,
    attempts: i64,
    locked_by: Option<String>,
    locked_until: Option<i64>,
    fired_at: Option<i64>,
}

impl TimerRow {
    /// Not claimed, or claimed under a lease that ended before `now`.
    fn claimable(&self, now: i64) -> bool {
        self.locked_until.is_none_or(|until| until < now)
    }

    fn record(&self) -> TimerRecord {
        TimerRecord {
            id: self.id.clone(),
            account: self.account.clone(),
            rule: self.rule.clone(),
            due_at: Timestamp(self.due_at),
            since_at: Timestamp(self.since_at),
            state: self.state.as_str().to_owned(),
            attempts: self.attempts,
            fired_at: self.fired_at.map(Timestamp),
        }
    }

    fn claimed(&self) -> ClaimedTimer {
        ClaimedTimer {
            id: self.id.clone(),
            account: self.account.clone(),
            rule: self.rule.clone(),
            due_at: Timestamp(self.due_at),
            since_at: Timestamp(self.since_at),
            program_version: self.program_version.clone(),
            attempts: self.attempts,
        }
    }
}

/// An outbox message (`messages` with its `message_attempts`): the record as listed, and
/// the claim's columns.
#[derive(Debug, Clone)]
struct MessageRow {
    record: MessageRecord,
    locked_by: Option<String>,
    locked_until: Option<i64>,
    /// SQLite's insertion order: ties of the next attempt's time in the claim.
    rowid: i64,
}

/// A sign-in token or code (`sign_in_tokens`).
#[derive(Debug, Clone)]
struct TokenRow {
    account: String,
    email: String,
    purpose: String,
    message_id: Option<String>,
    expires_at: i64,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
    failed_attempts: i64,
}

impl TokenRow {
    fn live(&self, now: i64) -> bool {
        self.used_at.is_none() && self.revoked_at.is_none() && self.expires_at > now
    }

    fn grant(&self) -> SignInGrant {
        SignInGrant {
            account: self.account.clone(),
            email: self.email.clone(),
            purpose: self.purpose.clone(),
        }
    }
}

/// A session (`sessions`).
#[derive(Debug, Clone)]
struct SessionRow {
    record: SessionRecord,
    ended_at: Option<i64>,
}

/// A nudge (`nudges`). The account and email are those of its first write: an upsert
/// changes only the status, expiry, time and body, as SQLite's does.
#[derive(Debug, Clone)]
struct NudgeRow {
    account: String,
    email: String,
    status: String,
    expires_at: i64,
    updated_at: i64,
    body: Nudge,
}

/// An approval (`approvals`). The account and creation time are those of its first write.
#[derive(Debug, Clone)]
struct ApprovalRow {
    account: String,
    status: String,
    created_at: i64,
    body: Approval,
}

/// An event held until its product user is linked (`usage_held`).
#[derive(Debug, Clone)]
struct HeldRow {
    rowid: i64,
    user: String,
    kind: String,
    at: i64,
    data: String,
}

/// Every table, and the indexes that keep the engine's hot paths cheap.
#[derive(Debug, Default)]
struct Inner {
    /// `program_versions`: version → source.
    programs: HashMap<String, String>,

    // ---- the event log ----
    /// `events` by sequence number.
    events: BTreeMap<i64, Event>,
    /// The dedupe key's unique index: key → seq.
    event_keys: HashMap<String, i64>,
    /// The processor's queue (`events_unprocessed`): only unprocessed events, so reading
    /// the backlog never walks the processed log.
    unprocessed: BTreeSet<i64>,
    /// One account's history and one type's, in log order (`events_account`,
    /// `events_kind`): seqs only grow, so these stay sorted by appending.
    events_by_account: HashMap<String, Vec<i64>>,
    events_by_kind: HashMap<String, Vec<i64>>,
    /// The last seq handed out (AUTOINCREMENT: never reused).
    last_seq: i64,

    leases: HashMap<String, LeaseRow>,

    // ---- accounts ----
    /// By id, in id order for lists and pages.
    accounts: BTreeMap<String, AccountRow>,
    /// How many active accounts each CSM has (`accounts_active_csm`), by email; a CSM with
    /// none is absent.
    active_by_csm: BTreeMap<String, i64>,
    /// Accounts by their domain column, for the usage intake's groups (`accounts_domain`).
    accounts_by_domain: HashMap<String, BTreeSet<String>>,

    // ---- timers ----
    timers: HashMap<String, TimerRow>,
    /// Pending timers by (due time, id) (`timers_pending_due`): the claim's way in.
    pending_due: BTreeSet<(i64, String)>,
    /// Each account's pending timers by (due time, id): its earliest, its cancels, its
    /// pending list.
    pending_by_account: HashMap<String, BTreeSet<(i64, String)>>,
    /// The earliest pending timer of each account that has one, by (due time, id):
    /// `claim_earliest_timers` walks this instead of every account.
    earliest: BTreeSet<(i64, String)>,
    /// Where each account's earliest is in [`Inner::earliest`].
    earliest_of: HashMap<String, (i64, String)>,

    // ---- the outbox ----
    messages: HashMap<String, MessageRow>,
    last_message_rowid: i64,
    /// Queued messages by (next attempt, rowid) (`messages_queued_due`): the claim's way
    /// in; its length is the queue's.
    queued_due: BTreeMap<(i64, i64), String>,
    /// All messages by (created, id), and one account's (`messages_created`,
    /// `messages_account`): lists are newest first.
    messages_created: BTreeSet<(i64, String)>,
    messages_by_account: HashMap<String, BTreeSet<(i64, String)>>,
    n_dead: i64,

    // ---- traces ----
    /// `traces`, in id order (a trace's id is its position plus one).
    traces: Vec<TraceRecord>,
    /// One account's traces by position (`traces_account`).
    traces_by_account: HashMap<String, Vec<usize>>,
    /// Fired traces by rule: how many at each time (`traces_fired`), for `rule_firings`.
    fired_by_rule: BTreeMap<String, BTreeMap<i64, i64>>,

    // ---- documents the console and the product read ----
    nudges: HashMap<String, NudgeRow>,
    /// Pending nudges by (account, email) (`nudges_pending`).
    pending_nudges: HashMap<(String, String), BTreeSet<String>>,
    approvals: HashMap<String, ApprovalRow>,
    /// Approvals by (created, id), all and by status and account (`approvals_by_status`,
    /// `approvals_by_account`).
    approvals_ordered: BTreeSet<(i64, String)>,
    approvals_by_status: HashMap<String, BTreeSet<(i64, String)>>,
    approvals_by_account: HashMap<String, BTreeSet<(i64, String)>>,
    /// `portfolio`: each account's summary and its search text.
    portfolio: BTreeMap<String, (Summary, String)>,
    team_credentials: HashMap<String, String>,

    // ---- sign-in ----
    tokens: HashMap<String, TokenRow>,
    /// Token hashes by person (account, email) and by email, in issue order.
    tokens_by_person: HashMap<(String, String), Vec<String>>,
    tokens_by_email: HashMap<String, Vec<String>>,
    sessions: HashMap<String, SessionRow>,
    /// Disabled endpoints by name: (since, reason).
    endpoints: BTreeMap<String, (i64, String)>,

    // ---- Shared Space ----
    files: HashMap<String, FileRecord>,
    files_by_account: HashMap<String, Vec<String>>,
    /// Kickoff slots by (CSM, start) (`kickoff_slots_taken`), and the slot of each (account,
    /// project, task) (`kickoff_slots_task`).
    slots: BTreeMap<(String, i64), KickoffSlot>,
    slot_of_task: HashMap<(String, String, String), (String, i64)>,

    // ---- the usage intake ----
    product_users: HashMap<String, UserRow>,
    /// Users not linked yet who identified with an email (`product_users_unlinked_email`).
    unlinked_by_email: HashMap<String, BTreeSet<String>>,
    /// `people_index`: email → the accounts that know it.
    people: HashMap<String, BTreeSet<String>>,
    /// `product_groups`: group → account.
    groups: HashMap<String, String>,
    /// `usage_held` by key, and each user's held keys by rowid (arrival order).
    held: HashMap<String, HeldRow>,
    held_by_user: HashMap<String, BTreeMap<i64, String>>,
    last_held_rowid: i64,
}

// ------------------------------------------------------------------------------ events

impl Inner {
    /// Appends one event whose key is new, as the next seq.
    fn insert_event(&mut self, event: &NewEvent, received_at: i64) -> i64 {
        self.last_seq += 1;
        let seq = self.last_seq;
        self.event_keys.insert(event.key.clone(), seq);
        self.unprocessed.insert(seq);
        self.events_by_account
            .entry(event.account.clone())
            .or_default()
            .push(seq);
        self.events_by_kind
            .entry(event.kind.as_str().to_owned())
            .or_default()
            .push(seq);
        self.events.insert(
            seq,
            Event {
                seq,
                key: event.key.clone(),
                kind: event.kind.clone(),
                account: event.account.clone(),
                at: event.at,
                data: event.data.clone(),
                received_at: Timestamp(received_at),
                processed_at: None,
            },
        );
        seq
    }

    /// Marks one event processed at `at`, unless it already is.
    fn mark_processed(&mut self, seq: i64, at: i64) {
        if let Some(event) = self.events.get_mut(&seq) {
            if event.processed_at.is_none() {
                event.processed_at = Some(Timestamp(at));
                self.unprocessed.remove(&seq);
            }
        }
    }

    /// `append_events`: keys already in the log (or earlier in `events`) are duplicates.
    fn append_events(&mut self, events: &[NewEvent], received_at: i64) -> Vec<Appended> {
        events
            .iter()
            .map(|event| match self.event_keys.get(&event.key) {
                Some(&seq) => Appended::Duplicate(seq),
                None => Appended::New(self.insert_event(event, received_at)),
            })
            .collect()
    }

    fn list_events(&self, filter: &EventFilter) -> Vec<Event> {
        let limit = sqlite_limit(page_limit(filter.limit));
        let after = filter.after_seq.unwrap_or(i64::MIN);
        let wanted = |event: &&Event| {
            filter.account.as_ref().is_none_or(|a| event.account == *a)
                && filter
                    .kind
                    .as_ref()
                    .is_none_or(|k| event.kind.as_str() == k.as_str())
                && filter.from.is_none_or(|from| event.at >= from)
                && filter.until.is_none_or(|until| event.at < until)
        };
        // The narrowest index: the account's events, or the type's, or the whole log.
        let seqs = match (&filter.account, &filter.kind) {
            (Some(account), _) => self.events_by_account.get(account),
            (None, Some(kind)) => self.events_by_kind.get(kind),
            (None, None) => {
                return self
                    .events
                    .range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
                    .map(|(_, e)| e)
                    .filter(wanted)
                    .take(limit)
                    .cloned()
                    .collect();
            }
        };
        let Some(seqs) = seqs else {
            return Vec::new();
        };
        let start = seqs.partition_point(|&seq| seq <= after);
        seqs[start..]
            .iter()
            .filter_map(|seq| self.events.get(seq))
            .filter(wanted)
            .take(limit)
            .cloned()
            .collect()
    }
}

// ---------------------------------------------------------------------------- accounts

impl Inner {
    /// Moves an account's lookup columns, keeping the CSM and domain indexes right.
    fn set_lookups(
        &mut self,
        id: &str,
        before: Option<(&str, Option<&str>, Option<&str>)>,
        after: (&str, Option<&str>, Option<&str>),
    ) {
        if let Some((status, csm, domain)) = before {
            if let (true, Some(csm)) = (status == "active", csm) {
                if let Some(n) = self.active_by_csm.get_mut(csm) {
                    *n -= 1;
                    if *n <= 0 {
                        self.active_by_csm.remove(csm);
                    }
                }
            }
            if let Some(domain) = domain {
                if let Some(ids) = self.accounts_by_domain.get_mut(domain) {
                    ids.remove(id);
                    if ids.is_empty() {
                        self.accounts_by_domain.remove(domain);
                    }
                }
            }
        }
        let (status, csm, domain) = after;
        if let (true, Some(csm)) = (status == "active", csm) {
            *self.active_by_csm.entry(csm.to_owned()).or_default() += 1;
        }
        if let Some(domain) = domain {
            self.accounts_by_domain
                .entry(domain.to_owned())
                .or_default()
                .insert(id.to_owned());
        }
    }

    /// Inserts or updates the last state of each account of a batch: the parts `unchanged`
    /// names stay as stored (or empty, for an account not stored yet, as SQLite's rows
    /// would), and so do the lookup columns when it says they did not change.
    fn upsert_accounts(&mut self, accounts: &[AccountState], unchanged: &HashMap<String, PartSet>) {
        for account in rows::latest_accounts(accounts) {
            let same = unchanged.get(&account.id).copied().unwrap_or_default();
            let stored = self.accounts.get(&account.id);
            let mut state = account.clone();
            for part in StatePart::ALL {
                if same.contains(part) {
                    keep_part(&mut state, stored.map(|row| &row.state), part);
                }
            }
            let columns = (
                account.status.as_str().to_owned(),
                account.csm.clone(),
                account.domain.clone(),
            );
            let before =
                stored.map(|row| (row.status.clone(), row.csm.clone(), row.domain.clone()));
            let keep_lookups = same.lookups() && before.is_some();
            let (status, csm, domain) = match (&before, keep_lookups) {
                (Some(before), true) => before.clone(),
                _ => columns,
            };
            if !keep_lookups {
                self.set_lookups(
                    &account.id,
                    before
                        .as_ref()
                        .map(|(s, c, d)| (s.as_str(), c.as_deref(), d.as_deref())),
                    (status.as_str(), csm.as_deref(), domain.as_deref()),
                );
            }
            self.accounts.insert(
                account.id.clone(),
                AccountRow {
                    state,
                    status,
                    csm,
                    domain,
                },
            );
        }
    }
}

/// Sets one part of `state` to the stored state's (a few reference counts: parts are
/// shared), or to an empty one when the account is not stored yet: SQLite has no row of
/// that part then.
fn keep_part(state: &mut AccountState, stored: Option<&AccountState>, part: StatePart) {
    match part {
        StatePart::Deals => state.deals = stored.map(|s| s.deals.clone()).unwrap_or_default(),
        StatePart::People => state.people = stored.map(|s| s.people.clone()).unwrap_or_default(),
        StatePart::Projects => {
            state.projects = stored.map(|s| s.projects.clone()).unwrap_or_default();
        }
        StatePart::TeamTasks => {
            state.team_tasks = stored.map(|s| s.team_tasks.clone()).unwrap_or_default();
        }
        StatePart::Goals => state.goals = stored.map(|s| s.goals.clone()).unwrap_or_default(),
        StatePart::Alerts => state.alerts = stored.map(|s| s.alerts.clone()).unwrap_or_default(),
        StatePart::RuleRuns => {
            state.rule_runs = stored.map(|s| s.rule_runs.clone()).unwrap_or_default();
        }
    }
}

// ------------------------------------------------------------------------------ timers

impl Inner {
    /// Puts a pending timer in the pending indexes.
    fn index_pending(&mut self, id: &str) {
        let Some(timer) = self.timers.get(id) else {
            return;
        };
        let (due, account) = (timer.due_at, timer.account.clone());
        self.pending_due.insert((due, id.to_owned()));
        self.pending_by_account
            .entry(account.clone())
            .or_default()
            .insert((due, id.to_owned()));
        self.refresh_earliest(&account);
    }

    /// Takes a timer that stops being pending out of the pending indexes.
    fn unindex_pending(&mut self, id: &str) {
        let Some(timer) = self.timers.get(id) else {
            return;
        };
        let (due, account) = (timer.due_at, timer.account.clone());
        self.pending_due.remove(&(due, id.to_owned()));
        if let Some(set) = self.pending_by_account.get_mut(&account) {
            set.remove(&(due, id.to_owned()));
            if set.is_empty() {
                self.pending_by_account.remove(&account);
            }
        }
        self.refresh_earliest(&account);
    }

    /// Puts the account's earliest pending timer (by due time, then id) in
    /// [`Inner::earliest`], in place of the one there before.
    fn refresh_earliest(&mut self, account: &str) {
        if let Some(old) = self.earliest_of.remove(account) {
            self.earliest.remove(&old);
        }
        let first = self
            .pending_by_account
            .get(account)
            .and_then(|set| set.first())
            .and_then(|(_, id)| self.timers.get(id));
        if let Some(timer) = first {
            let key = (timer.due_at, timer.id.clone());
            self.earliest.insert(key.clone());
            self.earliest_of.insert(account.to_owned(), key);
        }
    }

    /// Inserts a pending timer, unless its id is taken (`ON CONFLICT (id) DO NOTHING`).
    fn insert_timer(&mut self, timer: &NewTimer) {
        if self.timers.contains_key(&timer.id) {
            return;
        }
        self.timers.insert(
            timer.id.clone(),
            TimerRow {
                id: timer.id.clone(),
                account: timer.account.clone(),
                rule: timer.rule.clone(),
                due_at: timer.due_at.0,
                since_at: timer.since_at.0,
                program_version: timer.program_version.clone(),
                state: TimerState::Pending,
                attempts: 0,
                locked_by: None,
                locked_until: None,
                fired_at: None,
            },
        );
        self.index_pending(&timer.id);
    }

    /// Cancels an account's pending timers, all or one rule's. An account has a few pending
    /// timers, so a rule's cancel filters them rather than keep an index by (account, rule).
    fn cancel_timers(&mut self, account: &str, rule: Option<&str>) {
        let ids: Vec<String> = self
            .pending_by_account
            .get(account)
            .into_iter()
            .flatten()
            .map(|(_, id)| id)
            .filter(|id| {
                rule.is_none_or(|rule| self.timers.get(*id).is_some_and(|t| t.rule == rule))
            })
            .cloned()
            .collect();
        for id in ids {
            self.unindex_pending(&id);
            if let Some(timer) = self.timers.get_mut(&id) {
                timer.state = TimerState::Cancelled;
            }
        }
    }

    /// Claims the timers of `candidates` (ids, in claim order) that are claimable at `now`,
    /// at most `limit`, and returns them earliest due first, then by id.
    fn claim_timers(
        &mut self,
        candidates: Vec<String>,
        holder: &str,
        now: i64,
        lease: Duration,
    ) -> Vec<ClaimedTimer> {
        let mut claimed: Vec<ClaimedTimer> = candidates
            .iter()
            .filter_map(|id| {
                let timer = self.timers.get_mut(id)?;
                timer.locked_by = Some(holder.to_owned());
                timer.locked_until = Some(plus(now, lease.0));
                timer.attempts += 1;
                Some(timer.claimed())
            })
            .collect();
        claimed.sort_by(|a, b| a.due_at.cmp(&b.due_at).then_with(|| a.id.cmp(&b.id)));
        claimed
    }

    /// The ids of `index`'s timers due at `now` and claimable, in index order, at most
    /// `limit`.
    fn due_candidates(&self, index: &BTreeSet<(i64, String)>, now: i64, limit: i64) -> Vec<String> {
        index
            .range(..(now.saturating_add(1), String::new()))
            .filter_map(|(_, id)| self.timers.get(id))
            .filter(|timer| timer.claimable(now))
            .take(usize::try_from(limit.max(0)).unwrap_or(usize::MAX))
            .map(|timer| timer.id.clone())
            .collect()
    }

    fn fire_timers(
        &mut self,
        holder: &str,
        fired: &[(ClaimedTimer, NewEvent)],
        received_at: i64,
    ) -> usize {
        let mut seen = HashSet::with_capacity(fired.len());
        let mut n = 0;
        for (claim, event) in fired {
            if !seen.insert(claim.id.as_str()) {
                continue;
            }
            // Only a timer still pending and held by this claim (holder and attempt) fires.
            let held = self.timers.get(&claim.id).is_some_and(|timer| {
                timer.state == TimerState::Pending
                    && timer.attempts == claim.attempts
                    && timer.locked_by.as_deref() == Some(holder)
            });
            if !held {
                continue;
            }
            if !self.event_keys.contains_key(&event.key) {
                self.insert_event(event, received_at);
            }
            self.unindex_pending(&claim.id);
            if let Some(timer) = self.timers.get_mut(&claim.id) {
                timer.state = TimerState::Fired;
                timer.fired_at = Some(received_at);
            }
            n += 1;
        }
        n
    }
}

// ------------------------------------------------------------------------------ outbox

impl Inner {
    /// Inserts queued messages, first attempt due at `at`, skipping ids already present.
    fn insert_messages(&mut self, messages: &[NewMessage], at: i64) {
        for message in messages {
            if self.messages.contains_key(&message.id) {
                continue;
            }
            self.last_message_rowid += 1;
            let rowid = self.last_message_rowid;
            let record = MessageRecord {
                id: message.id.clone(),
                account: message.account.clone(),
                channel: message.channel.clone(),
                to_email: message.to_email.clone(),
                to_name: message.to_name.clone(),
                from_email: message.from_email.clone(),
                from_name: message.from_name.clone(),
                subject: message.subject.clone(),
                body: message.body.clone(),
                message_id: message.message_id.clone(),
                rule: message.rule.clone(),
                cause: message.cause.clone(),
                sign_in_email: message.sign_in_email.clone(),
                calendar: message.calendar.clone(),
                drafted_by: None,
                drafted_at: None,
                status: "queued".to_owned(),
                attempts: 0,
                next_attempt_at: Some(Timestamp(at)),
                last_error: None,
                created_at: Timestamp(at),
                delivered_at: None,
                attempt_log: Vec::new(),
            };
            self.queued_due.insert((at, rowid), message.id.clone());
            self.messages_created.insert((at, message.id.clone()));
            self.messages_by_account
                .entry(message.account.clone())
                .or_default()
                .insert((at, message.id.clone()));
            self.messages.insert(
                message.id.clone(),
                MessageRow {
                    record,
                    locked_by: None,
                    locked_until: None,
                    rowid,
                },
            );
        }
    }

    /// The message `claim` still holds (same holder and attempt, still queued).
    fn held_message(&mut self, claim: &ClaimedMessage) -> Option<&mut MessageRow> {
        self.messages.get_mut(&claim.id).filter(|row| {
            row.locked_by.as_deref() == Some(claim.holder.as_str())
                && row.record.attempts == claim.attempts
                && row.record.status == "queued"
        })
    }

    /// Records one attempt's outcome, only if `claim` still holds the message.
    fn complete_one(&mut self, claim: &ClaimedMessage, outcome: &DeliveryOutcome, at: i64) -> bool {
        let Some(row) = self.held_message(claim) else {
            return false;
        };
        let old_key = row.record.next_attempt_at.map(|next| (next.0, row.rowid));
        row.locked_by = None;
        row.locked_until = None;
        let mut requeue = None;
        let mut dead = false;
        match outcome {
            DeliveryOutcome::Delivered => {
                row.record.status = "delivered".to_owned();
                row.record.delivered_at = Some(Timestamp(at));
                row.record.next_attempt_at = None;
            }
            DeliveryOutcome::Retry { at: next, error } => {
                row.record.next_attempt_at = Some(*next);
                row.record.last_error = Some(error.clone());
                requeue = Some((next.0, row.rowid));
            }
            DeliveryOutcome::Dead { error } => {
                row.record.status = "dead".to_owned();
                row.record.last_error = Some(error.clone());
                row.record.next_attempt_at = None;
                dead = true;
            }
        }
        let (word, error) = rows::attempt_outcome(outcome);
        row.record.attempt_log.push(AttemptRecord {
            n: claim.attempts,
            at: Timestamp(at),
            outcome: word.to_owned(),
            error: error.map(str::to_owned),
        });
        if let Some(key) = old_key {
            self.queued_due.remove(&key);
        }
        if let Some(key) = requeue {
            self.queued_due.insert(key, claim.id.clone());
        }
        if dead {
            self.n_dead += 1;
        }
        true
    }
}

// ------------------------------------------------------------------------- sign-in

impl Inner {
    /// Records tokens in order, each revoking its person's live tokens of the same purpose.
    /// A hash already stored (or given twice) is a `Conflict`, and then nothing changes.
    fn issue_tokens(&mut self, tokens: &[NewSignInToken]) -> Result<()> {
        let mut hashes = HashSet::with_capacity(tokens.len());
        for token in tokens {
            if self.tokens.contains_key(&token.token_hash)
                || !hashes.insert(token.token_hash.as_str())
            {
                return Err(StoreError::Conflict("sign_in_tokens.token_hash".to_owned()));
            }
        }
        for token in tokens {
            let person = (token.account.clone(), token.email.clone());
            for hash in self.tokens_by_person.get(&person).into_iter().flatten() {
                if let Some(row) = self.tokens.get_mut(hash) {
                    if row.purpose == token.purpose
                        && row.used_at.is_none()
                        && row.revoked_at.is_none()
                    {
                        row.revoked_at = Some(token.created_at.0);
                    }
                }
            }
            self.tokens_by_person
                .entry(person)
                .or_default()
                .push(token.token_hash.clone());
            self.tokens_by_email
                .entry(token.email.clone())
                .or_default()
                .push(token.token_hash.clone());
            self.tokens.insert(
                token.token_hash.clone(),
                TokenRow {
                    account: token.account.clone(),
                    email: token.email.clone(),
                    purpose: token.purpose.clone(),
                    message_id: token.message_id.clone(),
                    expires_at: token.expires_at.0,
                    used_at: None,
                    revoked_at: None,
                    failed_attempts: 0,
                },
            );
        }
        Ok(())
    }

    /// How many of the person's tokens are links (not codes) of a message other than
    /// `other_than` (`IS NOT`: tokens of no message count).
    fn links_before(&self, account: &str, email: &str, other_than: Option<&str>) -> i64 {
        let person = (account.to_owned(), email.to_owned());
        let n = self
            .tokens_by_person
            .get(&person)
            .into_iter()
            .flatten()
            .filter_map(|hash| self.tokens.get(hash))
            .filter(|row| {
                row.purpose != crate::SIGN_IN_CODE
                    && other_than.is_none_or(|m| row.message_id.as_deref() != Some(m))
            })
            .count();
        i64::try_from(n).unwrap_or(i64::MAX)
    }
}

// ---------------------------------------------------------------------- batch and intake

impl Inner {
    /// [`crate::Store::commit_batch`], under the lock.
    fn commit_batch(&mut self, lease: &Lease, batch: &ProcessedBatch) -> Result<()> {
        // The fence: nothing is written unless this node still holds the lease.
        let held = self
            .leases
            .get(&lease.name)
            .is_some_and(|row| row.holder == lease.holder && row.epoch == lease.epoch);
        if !held {
            return Err(StoreError::LeaseLost(lease.name.clone()));
        }
        let at = batch.processed_at.0;
        let decisions = &batch.decisions;
        // The only step that can fail (on a held event stored corrupt) comes first: linking
        // product users to the people added, whose appends wait in the transaction behind
        // the derived events. It writes tables nothing else of the batch reads, and undoes
        // its writes when it fails.
        let mut tx = MemoryUsage::new(self);
        tx.stage(&decisions.events, at);
        let n_derived = tx.n_staged();
        if let Err(error) = run_now(intake::link_people(
            &mut tx,
            &batch.people,
            batch.processed_at,
        ))
        .and_then(|linked| linked)
        {
            tx.undo();
            return Err(error);
        }
        let staged = tx.into_staged();
        for &seq in &batch.processed {
            self.mark_processed(seq, at);
        }
        self.upsert_accounts(&batch.accounts, &batch.unchanged);
        self.upsert_nudges(&decisions.nudges, at);
        self.upsert_approvals(&decisions.approvals);
        self.upsert_summaries(&batch.summaries);
        // Cancels before inserts: decisions are net (see the trait).
        let cancels = rows::cancel_sets(&decisions.cancels);
        for account in cancels.whole {
            self.cancel_timers(account, None);
        }
        for (account, rule) in cancels.rules {
            self.cancel_timers(account, Some(rule));
        }
        for timer in &decisions.timers {
            self.insert_timer(timer);
        }
        self.insert_messages(&decisions.messages, at);
        let (derived, linked) = staged.split_at(n_derived.min(staged.len()));
        for (event, received_at) in derived {
            self.insert_event(event, *received_at);
        }
        for key in &batch.handled {
            if let Some(&seq) = self.event_keys.get(key) {
                self.mark_processed(seq, at);
            }
        }
        for trace in &decisions.traces {
            self.insert_trace(trace);
        }
        for (event, received_at) in linked {
            self.insert_event(event, *received_at);
        }
        Ok(())
    }

    fn insert_trace(&mut self, trace: &onboard_core::state::Trace) {
        let position = self.traces.len();
        self.traces.push(TraceRecord {
            account: trace.account.clone(),
            rule: trace.rule.clone(),
            event: trace.event.clone(),
            at: trace.at,
            outcome: trace.outcome,
            reason: trace.reason.clone(),
        });
        self.traces_by_account
            .entry(trace.account.clone())
            .or_default()
            .push(position);
        if trace.outcome == TraceOutcome::Fired {
            *self
                .fired_by_rule
                .entry(trace.rule.clone())
                .or_default()
                .entry(trace.at.0)
                .or_default() += 1;
        }
    }

    /// The nudges of a batch, the last copy of each id winning.
    fn upsert_nudges(&mut self, nudges: &[Nudge], at: i64) {
        for nudge in rows::latest_by_id(nudges, |n| n.id.as_str()) {
            let status = nudge.status.as_str().to_owned();
            let row = self
                .nudges
                .entry(nudge.id.clone())
                .or_insert_with(|| NudgeRow {
                    account: nudge.account.clone(),
                    email: nudge.email.clone(),
                    status: String::new(),
                    expires_at: 0,
                    updated_at: 0,
                    body: nudge.clone(),
                });
            let person = (row.account.clone(), row.email.clone());
            let was_pending = row.status == "pending";
            row.status = status;
            row.expires_at = nudge.expires_at.0;
            row.updated_at = at;
            row.body = nudge.clone();
            let is_pending = row.status == "pending";
            if was_pending && !is_pending {
                if let Some(ids) = self.pending_nudges.get_mut(&person) {
                    ids.remove(&nudge.id);
                    if ids.is_empty() {
                        self.pending_nudges.remove(&person);
                    }
                }
            } else if is_pending && !was_pending {
                self.pending_nudges
                    .entry(person)
                    .or_default()
                    .insert(nudge.id.clone());
            }
        }
    }

    /// The approvals of a batch, the last copy of each id winning.
    /// (SQLite also writes the time, `updated_at`, which no method reads.)
    fn upsert_approvals(&mut self, approvals: &[Approval]) {
        for approval in rows::latest_by_id(approvals, |a| a.id.as_str()) {
            let status = approval.status.as_str().to_owned();
            match self.approvals.get_mut(&approval.id) {
                Some(row) => {
                    let key = (row.created_at, approval.id.clone());
                    if row.status != status {
                        if let Some(set) = self.approvals_by_status.get_mut(&row.status) {
                            set.remove(&key);
                        }
                        self.approvals_by_status
                            .entry(status.clone())
                            .or_default()
                            .insert(key);
                    }
                    row.status = status;
                    row.body = approval.clone();
                }
                None => {
                    let key = (approval.created_at.0, approval.id.clone());
                    self.approvals_ordered.insert(key.clone());
                    self.approvals_by_status
                        .entry(status.clone())
                        .or_default()
                        .insert(key.clone());
                    self.approvals_by_account
                        .entry(approval.account.clone())
                        .or_default()
                        .insert(key);
                    self.approvals.insert(
                        approval.id.clone(),
                        ApprovalRow {
                            account: approval.account.clone(),
                            status,
                            created_at: approval.created_at.0,
                            body: approval.clone(),
                        },
                    );
                }
            }
        }
    }

    /// Portfolio rows, the last of an account's winning.
    fn upsert_summaries(&mut self, summaries: &[Summary]) {
        for summary in summaries {
            let search = crate::portfolio::search_text(summary);
            self.portfolio
                .insert(summary.account.clone(), (summary.clone(), search));
        }
    }

    /// [`crate::Store::append_intake`], under the lock.
    fn append_intake(
        &mut self,
        events: &[NewEvent],
        usage: Vec<UsageCall>,
        received_at: Timestamp,
    ) -> Result<IntakeAppended> {
        let mut tx = MemoryUsage::new(self);
        let appended = tx.stage(events, received_at.0);
        let taken: HashSet<&str> = events.iter().map(|e| e.key.as_str()).collect();
        let outcomes = match run_now(intake::ingest(&mut tx, usage, &taken, received_at))
            .and_then(|ingested| ingested)
        {
            Ok(outcomes) => outcomes,
            Err(error) => {
                tx.undo();
                return Err(error);
            }
        };
        for (event, at) in tx.into_staged() {
            self.insert_event(&event, at);
        }
        Ok(IntakeAppended {
            events: appended,
            usage: outcomes,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::MemoryStore;
    use crate::{Store, StoreError};

    #[tokio::test]
    async fn a_lock_poisoned_by_a_panic_is_an_error_not_a_panic() {
        let store = MemoryStore::new();
        let poisoned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _tables = store.inner.lock().unwrap();
            panic!("a write that panics half-way");
        }));
        assert!(poisoned.is_err());
        let refused = store.account("acme").await;
        assert!(matches!(refused, Err(StoreError::Memory(_))), "{refused:?}");
    }
}
