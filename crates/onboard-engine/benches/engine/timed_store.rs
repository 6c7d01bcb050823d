//! A [`Store`] that forwards every call to another and adds up the wall time spent in each
//! method, so a benchmark can say which store call its time goes to
//! (`ONBOARD_BENCH_PROFILE=1`). It changes nothing else: same results, same errors.

use async_trait::async_trait;
use onboard_core::event::NewEvent;
use onboard_core::state::AccountState;
use onboard_core::{Duration, Event, Timestamp};
use onboard_store::{
    AccountFilter, Appended, Backlog, ClaimedMessage, ClaimedTimer, DeliveryOutcome, DueWork,
    EventFilter, Lease, MessageFilter, MessageRecord, NewSession, NewSignInToken, Now,
    OutboxCounts, ProcessedBatch, Result, SessionRecord, SignInGrant, Store, TimerCounts,
    TimerRecord, TraceRecord,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Calls and time of one store method.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallStats {
    pub n_calls: u64,
    pub total: std::time::Duration,
}

/// The wrapper.
pub struct TimedStore {
    inner: Arc<dyn Store>,
    stats: Mutex<BTreeMap<&'static str, CallStats>>,
}

impl TimedStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            stats: Mutex::new(BTreeMap::new()),
        }
    }

    /// The figures so far, and forgets them.
    pub fn take(&self) -> BTreeMap<&'static str, CallStats> {
        self.stats
            .lock()
            .map(|mut s| std::mem::take(&mut *s))
            .unwrap_or_default()
    }

    async fn timed<T>(&self, name: &'static str, call: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = call.await;
        let elapsed = started.elapsed();
        if let Ok(mut stats) = self.stats.lock() {
            let entry = stats.entry(name).or_default();
            entry.n_calls += 1;
            entry.total += elapsed;
        }
        out
    }
}

/// Prints a breakdown, biggest first, as a share of `wall` (the timed span).
pub fn print_breakdown(title: &str, stats: &BTreeMap<&'static str, CallStats>, wall: f64) {
    let mut rows: Vec<_> = stats.iter().collect();
    rows.sort_by_key(|(_, s)| std::cmp::Reverse(s.total));
    let in_store: f64 = rows.iter().map(|(_, s)| s.total.as_secs_f64()).sum();
    println!(
        "  profile {title}: {wall:.3}s timed, {in_store:.3}s in store calls ({:.0} %)",
        100.0 * in_store / wall.max(f64::EPSILON)
    );
    for (name, s) in rows {
        let total = s.total.as_secs_f64();
        println!(
            "    {name:<22} {:>7} calls {total:>8.3}s {:>5.1} % {:>9.3} ms/call",
            s.n_calls,
            100.0 * total / wall.max(f64::EPSILON),
            1000.0 * total / (s.n_calls.max(1) as f64)
        );
    }
}

#[async_trait]
impl Store for TimedStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn migrate(&self) -> Result<()> {
        self.timed("migrate", self.inner.migrate()).await
    }

    async fn ping(&self) -> Result<()> {
        self.timed("ping", self.inner.ping()).await
    }

    async fn save_program_version(&self, version: &str, source: &str, at: Timestamp) -> Result<()> {
        self.timed(
            "save_program_version",
            self.inner.save_program_version(version, source, at),
        )
        .await
    }

    async fn program_source(&self, version: &str) -> Result<Option<String>> {
        self.timed("program_source", self.inner.program_source(version))
            .await
    }

    async fn append_events(
        &self,
        events: &[NewEvent],
        received_at: Timestamp,
    ) -> Result<Vec<Appended>> {
        self.timed(
            "append_events",
            self.inner.append_events(events, received_at),
        )
        .await
    }

    async fn append_intake(
        &self,
        events: &[NewEvent],
        usage: Vec<onboard_store::UsageCall>,
        received_at: Timestamp,
    ) -> Result<onboard_store::IntakeAppended> {
        self.timed(
            "append_intake",
            self.inner.append_intake(events, usage, received_at),
        )
        .await
    }

    async fn product_user(&self, id: &str) -> Result<Option<onboard_store::ProductUser>> {
        self.timed("product_user", self.inner.product_user(id))
            .await
    }

    async fn user_nudges(
        &self,
        user: &str,
        now: Timestamp,
    ) -> Result<Vec<onboard_core::state::Nudge>> {
        self.timed("user_nudges", self.inner.user_nudges(user, now))
            .await
    }

    async fn nudge(&self, id: &str) -> Result<Option<onboard_core::state::Nudge>> {
        self.timed("nudge", self.inner.nudge(id)).await
    }

    async fn approvals(
        &self,
        query: &onboard_store::ApprovalQuery,
    ) -> Result<Vec<onboard_core::state::Approval>> {
        self.timed("approvals", self.inner.approvals(query)).await
    }

    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>> {
        self.timed("list_events", self.inner.list_events(filter))
            .await
    }

    async fn unprocessed_events(&self, limit: i64) -> Result<Vec<Event>> {
        self.timed("unprocessed_events", self.inner.unprocessed_events(limit))
            .await
    }

    async fn processing_backlog(&self) -> Result<Backlog> {
        self.timed("processing_backlog", self.inner.processing_backlog())
            .await
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: Now,
        ttl: Duration,
    ) -> Result<Option<Lease>> {
        self.timed(
            "acquire_lease",
            self.inner.acquire_lease(name, holder, now, ttl),
        )
        .await
    }

    async fn release_lease(&self, lease: &Lease) -> Result<()> {
        self.timed("release_lease", self.inner.release_lease(lease))
            .await
    }

    async fn load_accounts(&self, ids: &[String]) -> Result<Vec<AccountState>> {
        self.timed("load_accounts", self.inner.load_accounts(ids))
            .await
    }

    async fn account(&self, id: &str) -> Result<Option<AccountState>> {
        self.timed("account", self.inner.account(id)).await
    }

    async fn list_accounts(&self, filter: &AccountFilter) -> Result<Vec<AccountState>> {
        self.timed("list_accounts", self.inner.list_accounts(filter))
            .await
    }

    async fn csm_loads(&self) -> Result<Vec<(String, i64)>> {
        self.timed("csm_loads", self.inner.csm_loads()).await
    }

    async fn commit_batch(&self, lease: &Lease, batch: &ProcessedBatch) -> Result<()> {
        self.timed("commit_batch", self.inner.commit_batch(lease, batch))
            .await
    }

    async fn portfolio(
        &self,
        query: &onboard_store::PortfolioQuery,
    ) -> Result<onboard_store::PortfolioPage> {
        self.inner.portfolio(query).await
    }

    async fn accounts_without_summary(&self, limit: i64) -> Result<Vec<String>> {
        self.inner.accounts_without_summary(limit).await
    }

    async fn write_summaries(&self, rows: &[onboard_core::portfolio::Summary]) -> Result<()> {
        self.inner.write_summaries(rows).await
    }

    async fn enqueue_messages(
        &self,
        messages: &[onboard_core::state::NewMessage],
        at: Timestamp,
    ) -> Result<()> {
        self.inner.enqueue_messages(messages, at).await
    }

    async fn team_password(&self, email: &str) -> Result<Option<String>> {
        self.inner.team_password(email).await
    }

    async fn set_team_password(&self, email: &str, hash: &str, at: Timestamp) -> Result<()> {
        self.inner.set_team_password(email, hash, at).await
    }

    async fn rule_firings(&self, since: Timestamp) -> Result<Vec<(String, i64)>> {
        self.inner.rule_firings(since).await
    }

    async fn traces(&self, account: &str, limit: i64) -> Result<Vec<TraceRecord>> {
        self.timed("traces", self.inner.traces(account, limit))
            .await
    }

    async fn claim_due_timers(
        &self,
        holder: &str,
        now: Now,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedTimer>> {
        self.timed(
            "claim_due_timers",
            self.inner.claim_due_timers(holder, now, lease, limit),
        )
        .await
    }

    async fn claim_earliest_timers(
        &self,
        holder: &str,
        now: Now,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedTimer>> {
        self.inner
            .claim_earliest_timers(holder, now, lease, limit)
            .await
    }

    async fn complete_messages(
        &self,
        done: &[(ClaimedMessage, DeliveryOutcome)],
        at: Timestamp,
    ) -> Result<usize> {
        self.timed("complete_messages", self.inner.complete_messages(done, at))
            .await
    }

    async fn issue_sign_in_tokens(&self, tokens: &[NewSignInToken]) -> Result<()> {
        self.timed(
            "issue_sign_in_tokens",
            self.inner.issue_sign_in_tokens(tokens),
        )
        .await
    }

    async fn fire_timers(
        &self,
        holder: &str,
        fired: &[(ClaimedTimer, NewEvent)],
        received_at: Timestamp,
    ) -> Result<usize> {
        self.timed(
            "fire_timers",
            self.inner.fire_timers(holder, fired, received_at),
        )
        .await
    }

    async fn next_timer_due(&self) -> Result<Option<Timestamp>> {
        self.timed("next_timer_due", self.inner.next_timer_due())
            .await
    }

    async fn timer_counts(&self, now: Now) -> Result<TimerCounts> {
        self.timed("timer_counts", self.inner.timer_counts(now))
            .await
    }

    async fn due_work(&self, now: Now) -> Result<DueWork> {
        self.timed("due_work", self.inner.due_work(now)).await
    }

    async fn timer(&self, id: &str) -> Result<Option<TimerRecord>> {
        self.timed("timer", self.inner.timer(id)).await
    }

    async fn pending_timers(&self, account: &str, limit: i64) -> Result<Vec<TimerRecord>> {
        self.timed("pending_timers", self.inner.pending_timers(account, limit))
            .await
    }

    async fn claim_due_messages(
        &self,
        holder: &str,
        now: Now,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedMessage>> {
        self.timed(
            "claim_due_messages",
            self.inner.claim_due_messages(holder, now, lease, limit),
        )
        .await
    }

    async fn complete_message(
        &self,
        claim: &ClaimedMessage,
        outcome: &DeliveryOutcome,
        at: Timestamp,
    ) -> Result<bool> {
        self.timed(
            "complete_message",
            self.inner.complete_message(claim, outcome, at),
        )
        .await
    }

    async fn record_draft(
        &self,
        claim: &ClaimedMessage,
        draft: &onboard_store::MessageDraft,
        at: Timestamp,
    ) -> Result<bool> {
        self.timed("record_draft", self.inner.record_draft(claim, draft, at))
            .await
    }

    async fn next_message_due(&self) -> Result<Option<Timestamp>> {
        self.timed("next_message_due", self.inner.next_message_due())
            .await
    }

    async fn list_messages(&self, filter: &MessageFilter) -> Result<Vec<MessageRecord>> {
        self.timed("list_messages", self.inner.list_messages(filter))
            .await
    }

    async fn message(&self, id: &str) -> Result<Option<MessageRecord>> {
        self.timed("message", self.inner.message(id)).await
    }

    async fn retry_message(&self, id: &str, at: Timestamp) -> Result<()> {
        self.timed("retry_message", self.inner.retry_message(id, at))
            .await
    }

    async fn outbox_counts(&self) -> Result<OutboxCounts> {
        self.timed("outbox_counts", self.inner.outbox_counts())
            .await
    }

    async fn issue_sign_in_token(&self, token: &NewSignInToken) -> Result<()> {
        self.timed("issue_sign_in_token", self.inner.issue_sign_in_token(token))
            .await
    }

    async fn sign_in_accounts(&self, email: &str) -> Result<Vec<String>> {
        self.timed("sign_in_accounts", self.inner.sign_in_accounts(email))
            .await
    }

    async fn sign_in_links_before_each(
        &self,
        wanted: &[(String, String, String)],
    ) -> Result<Vec<i64>> {
        self.timed(
            "sign_in_links_before_each",
            self.inner.sign_in_links_before_each(wanted),
        )
        .await
    }

    async fn sign_in_links_before(
        &self,
        account: &str,
        email: &str,
        other_than_message: Option<&str>,
    ) -> Result<i64> {
        self.timed(
            "sign_in_links_before",
            self.inner
                .sign_in_links_before(account, email, other_than_message),
        )
        .await
    }

    async fn consume_sign_in_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<SignInGrant>> {
        self.timed(
            "consume_sign_in_token",
            self.inner.consume_sign_in_token(token_hash, now),
        )
        .await
    }

    async fn consume_sign_in_code(
        &self,
        email: &str,
        code_hashes: &[String],
        max_failures: i64,
        now: Timestamp,
    ) -> Result<Option<SignInGrant>> {
        self.timed(
            "consume_sign_in_code",
            self.inner
                .consume_sign_in_code(email, code_hashes, max_failures, now),
        )
        .await
    }

    async fn create_session(&self, session: &NewSession) -> Result<()> {
        self.timed("create_session", self.inner.create_session(session))
            .await
    }

    async fn session(&self, id_hash: &str, now: Timestamp) -> Result<Option<SessionRecord>> {
        self.timed("session", self.inner.session(id_hash, now))
            .await
    }

    async fn end_session(&self, id_hash: &str, at: Timestamp) -> Result<()> {
        self.timed("end_session", self.inner.end_session(id_hash, at))
            .await
    }

    async fn disable_endpoint(&self, name: &str, at: Timestamp, reason: &str) -> Result<()> {
        self.timed(
            "disable_endpoint",
            self.inner.disable_endpoint(name, at, reason),
        )
        .await
    }

    async fn enable_endpoint(&self, name: &str) -> Result<bool> {
        self.timed("enable_endpoint", self.inner.enable_endpoint(name))
            .await
    }

    async fn disabled_endpoints(&self) -> Result<Vec<(String, Timestamp, String)>> {
        self.timed("disabled_endpoints", self.inner.disabled_endpoints())
            .await
    }

    async fn insert_file(&self, file: &onboard_store::FileRecord) -> Result<()> {
        self.timed("insert_file", self.inner.insert_file(file))
            .await
    }

    async fn file(&self, id: &str) -> Result<Option<onboard_store::FileRecord>> {
        self.timed("file", self.inner.file(id)).await
    }

    async fn account_files(&self, account: &str) -> Result<Vec<onboard_store::FileRecord>> {
        self.timed("account_files", self.inner.account_files(account))
            .await
    }

    async fn reserve_kickoff_slot(&self, slot: &onboard_store::KickoffSlot) -> Result<()> {
        self.timed(
            "reserve_kickoff_slot",
            self.inner.reserve_kickoff_slot(slot),
        )
        .await
    }

    async fn csm_kickoff_slots(
        &self,
        csm: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<onboard_store::KickoffSlot>> {
        self.timed(
            "csm_kickoff_slots",
            self.inner.csm_kickoff_slots(csm, from, to),
        )
        .await
    }
}
