//! [`Store`] for [`MemoryStore`]: each method locks the tables once and does its work on
//! `Inner` (in `mod.rs`), or reads them here when that is all it does.

use super::{
    plus, portfolio, sqlite_limit, LeaseRow, MemoryStore, NudgeRow, SessionRow, TimerRow, TokenRow,
};
use crate::files::{FileRecord, KickoffSlot, SLOT_TAKEN};
use crate::rows::page_limit;
use crate::usage::{IntakeAppended, ProductUser, UsageCall};
use crate::{
    AccountFilter, Appended, Backlog, ClaimedMessage, ClaimedTimer, DeliveryOutcome, DueWork,
    EventFilter, Lease, MessageDraft, MessageFilter, MessageRecord, NewSession, NewSignInToken,
    Now, OutboxCounts, ProcessedBatch, Result, SessionRecord, SignInGrant, Store, StoreError,
    TimerCounts, TimerRecord, TraceRecord,
};
use async_trait::async_trait;
use onboard_core::event::NewEvent;
use onboard_core::portfolio::Summary;
use onboard_core::state::{AccountState, Approval, NewMessage, Nudge};
use onboard_core::{Duration, Event, Timestamp};
use std::collections::{BTreeSet, HashSet};

#[async_trait]
impl Store for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn migrate(&self) -> Result<()> {
        Ok(())
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }

    async fn save_program_version(
        &self,
        version: &str,
        source: &str,
        _at: Timestamp,
    ) -> Result<()> {
        let mut inner = self.lock()?;
        inner
            .programs
            .entry(version.to_owned())
            .or_insert_with(|| source.to_owned());
        Ok(())
    }

    async fn program_source(&self, version: &str) -> Result<Option<String>> {
        Ok(self.lock()?.programs.get(version).cloned())
    }

    async fn append_events(
        &self,
        events: &[NewEvent],
        received_at: Timestamp,
    ) -> Result<Vec<Appended>> {
        Ok(self.lock()?.append_events(events, received_at.0))
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
        self.lock()?.append_intake(events, usage, received_at)
    }

    async fn product_user(&self, id: &str) -> Result<Option<ProductUser>> {
        let inner = self.lock()?;
        Ok(inner.product_users.get(id).map(|row| ProductUser {
            user: id.to_owned(),
            account: row.account.clone(),
            email: row.email.clone(),
            group: row.group.clone(),
            linked_at: row.linked_at.map(Timestamp),
        }))
    }

    async fn user_nudges(&self, user: &str, now: Timestamp) -> Result<Vec<Nudge>> {
        let inner = self.lock()?;
        let Some(row) = inner.product_users.get(user) else {
            return Ok(Vec::new());
        };
        // The join on (account, email) matches nothing while either is unknown.
        let (Some(account), Some(email)) = (&row.account, &row.email) else {
            return Ok(Vec::new());
        };
        let mut nudges: Vec<&NudgeRow> = inner
            .pending_nudges
            .get(&(account.clone(), email.clone()))
            .into_iter()
            .flatten()
            .filter_map(|id| inner.nudges.get(id))
            .filter(|n| n.expires_at > now.0)
            .collect();
        nudges.sort_by(|a, b| {
            a.updated_at
                .cmp(&b.updated_at)
                .then_with(|| a.body.id.cmp(&b.body.id))
        });
        Ok(nudges
            .into_iter()
            .take(100)
            .map(|n| n.body.clone())
            .collect())
    }

    async fn nudge(&self, id: &str) -> Result<Option<Nudge>> {
        Ok(self.lock()?.nudges.get(id).map(|n| n.body.clone()))
    }

    async fn approvals(&self, query: &crate::ApprovalQuery) -> Result<Vec<Approval>> {
        let inner = self.lock()?;
        let index = match (&query.account, &query.status) {
            (Some(account), _) => inner.approvals_by_account.get(account),
            (None, Some(status)) => inner.approvals_by_status.get(status),
            (None, None) => Some(&inner.approvals_ordered),
        };
        let limit = sqlite_limit(query.limit());
        Ok(index
            .into_iter()
            .flatten()
            .filter_map(|(_, id)| inner.approvals.get(id))
            .filter(|row| {
                query.status.as_ref().is_none_or(|s| row.status == *s)
                    && query.account.as_ref().is_none_or(|a| row.account == *a)
            })
            .take(limit)
            .map(|row| row.body.clone())
            .collect())
    }

    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<Event>> {
        Ok(self.lock()?.list_events(filter))
    }

    async fn unprocessed_events(&self, limit: i64) -> Result<Vec<Event>> {
        let inner = self.lock()?;
        Ok(inner
            .unprocessed
            .iter()
            .take(sqlite_limit(limit.max(0)))
            .filter_map(|seq| inner.events.get(seq))
            .cloned()
            .collect())
    }

    async fn processing_backlog(&self) -> Result<Backlog> {
        let inner = self.lock()?;
        Ok(Backlog {
            n_events: i64::try_from(inner.unprocessed.len()).unwrap_or(i64::MAX),
            oldest_received_at: inner
                .unprocessed
                .first()
                .and_then(|seq| inner.events.get(seq))
                .map(|e| e.received_at),
        })
    }

    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: Now,
        ttl: Duration,
    ) -> Result<Option<Lease>> {
        let mut inner = self.lock()?;
        let now = now.local().0;
        let expires_at = plus(now, ttl.0);
        // The holder renews its own lease (same epoch); anyone else takes it only once it
        // has expired, with the next epoch.
        let epoch = match inner.leases.get_mut(name) {
            None => {
                inner.leases.insert(
                    name.to_owned(),
                    LeaseRow {
                        holder: holder.to_owned(),
                        epoch: 1,
                        expires_at,
                    },
                );
                Some(1)
            }
            Some(row) if row.holder == holder || row.expires_at < now => {
                if row.holder != holder {
                    row.epoch += 1;
                    row.holder = holder.to_owned();
                }
                row.expires_at = expires_at;
                Some(row.epoch)
            }
            Some(_) => None,
        };
        Ok(epoch.map(|epoch| Lease {
            name: name.to_owned(),
            holder: holder.to_owned(),
            epoch,
        }))
    }

    async fn release_lease(&self, lease: &Lease) -> Result<()> {
        let mut inner = self.lock()?;
        if let Some(row) = inner.leases.get_mut(&lease.name) {
            if row.holder == lease.holder && row.epoch == lease.epoch {
                // The row stays, so the next holder's epoch keeps growing.
                row.expires_at = i64::MIN;
            }
        }
        Ok(())
    }

    async fn load_accounts(&self, ids: &[String]) -> Result<Vec<AccountState>> {
        let inner = self.lock()?;
        let mut seen = HashSet::with_capacity(ids.len());
        Ok(ids
            .iter()
            .filter(|id| seen.insert(id.as_str()))
            .filter_map(|id| inner.accounts.get(id))
            .map(|row| row.state.clone())
            .collect())
    }

    async fn account(&self, id: &str) -> Result<Option<AccountState>> {
        Ok(self.lock()?.accounts.get(id).map(|row| row.state.clone()))
    }

    async fn list_accounts(&self, filter: &AccountFilter) -> Result<Vec<AccountState>> {
        let inner = self.lock()?;
        let range = match &filter.after {
            Some(after) => inner
                .accounts
                .range::<String, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded)),
            None => inner.accounts.range::<String, _>(..),
        };
        Ok(range
            .map(|(_, row)| row)
            .filter(|row| {
                filter
                    .csm
                    .as_ref()
                    .is_none_or(|csm| row.csm.as_ref() == Some(csm))
                    && filter.status.as_ref().is_none_or(|s| row.status == *s)
            })
            .take(sqlite_limit(page_limit(filter.limit)))
            .map(|row| row.state.clone())
            .collect())
    }

    async fn csm_loads(&self) -> Result<Vec<(String, i64)>> {
        let inner = self.lock()?;
        Ok(inner
            .active_by_csm
            .iter()
            .map(|(csm, n)| (csm.clone(), *n))
            .collect())
    }

    async fn commit_batch(&self, lease: &Lease, batch: &ProcessedBatch) -> Result<()> {
        self.lock()?.commit_batch(lease, batch)
    }

    async fn portfolio(&self, query: &crate::PortfolioQuery) -> Result<crate::PortfolioPage> {
        Ok(portfolio::page(&self.lock()?.portfolio, query))
    }

    async fn accounts_without_summary(&self, limit: i64) -> Result<Vec<String>> {
        let inner = self.lock()?;
        Ok(inner
            .accounts
            .keys()
            .filter(|id| !inner.portfolio.contains_key(*id))
            .take(sqlite_limit(limit))
            .cloned()
            .collect())
    }

    async fn write_summaries(&self, rows: &[Summary]) -> Result<()> {
        self.lock()?.upsert_summaries(rows);
        Ok(())
    }

    async fn enqueue_messages(&self, messages: &[NewMessage], at: Timestamp) -> Result<()> {
        self.lock()?.insert_messages(messages, at.0);
        Ok(())
    }

    async fn team_password(&self, email: &str) -> Result<Option<String>> {
        Ok(self.lock()?.team_credentials.get(email).cloned())
    }

    async fn set_team_password(&self, email: &str, hash: &str, _at: Timestamp) -> Result<()> {
        self.lock()?
            .team_credentials
            .insert(email.to_owned(), hash.to_owned());
        Ok(())
    }

    async fn rule_firings(&self, since: Timestamp) -> Result<Vec<(String, i64)>> {
        let inner = self.lock()?;
        Ok(inner
            .fired_by_rule
            .iter()
            .map(|(rule, times)| (rule.clone(), times.range(since.0..).map(|(_, n)| n).sum()))
            .filter(|(_, n): &(String, i64)| *n > 0)
            .collect())
    }

    async fn traces(&self, account: &str, limit: i64) -> Result<Vec<TraceRecord>> {
        let inner = self.lock()?;
        Ok(inner
            .traces_by_account
            .get(account)
            .into_iter()
            .flat_map(|positions| positions.iter().rev())
            .take(sqlite_limit(limit.max(0)))
            .filter_map(|&i| inner.traces.get(i))
            .cloned()
            .collect())
    }

    async fn claim_due_timers(
        &self,
        holder: &str,
        now: Now,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedTimer>> {
        let mut inner = self.lock()?;
        let now = now.local().0;
        let candidates = inner.due_candidates(&inner.pending_due, now, limit);
        Ok(inner.claim_timers(candidates, holder, now, lease))
    }

    async fn claim_earliest_timers(
        &self,
        holder: &str,
        now: Now,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedTimer>> {
        let mut inner = self.lock()?;
        let now = now.local().0;
        // Only each account's earliest pending timer may be claimed; an account whose
        // earliest is claimed by someone else has none to give.
        let candidates = inner.due_candidates(&inner.earliest, now, limit);
        Ok(inner.claim_timers(candidates, holder, now, lease))
    }

    async fn fire_timers(
        &self,
        holder: &str,
        fired: &[(ClaimedTimer, NewEvent)],
        received_at: Timestamp,
    ) -> Result<usize> {
        Ok(self.lock()?.fire_timers(holder, fired, received_at.0))
    }

    async fn next_timer_due(&self) -> Result<Option<Timestamp>> {
        let inner = self.lock()?;
        Ok(inner.pending_due.first().map(|(due, _)| Timestamp(*due)))
    }

    async fn timer_counts(&self, now: Now) -> Result<TimerCounts> {
        let inner = self.lock()?;
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        Ok(TimerCounts {
            pending: count(inner.pending_due.len()),
            due: count(
                inner
                    .pending_due
                    .range(..(now.local().0.saturating_add(1), String::new()))
                    .count(),
            ),
        })
    }

    async fn due_work(&self, now: Now) -> Result<DueWork> {
        let inner = self.lock()?;
        let now = now.local().0;
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        Ok(DueWork {
            timers: count(
                inner
                    .pending_due
                    .range(..(now.saturating_add(1), String::new()))
                    .count(),
            ),
            messages: count(inner.queued_due.range(..=(now, i64::MAX)).count()),
        })
    }

    async fn timer(&self, id: &str) -> Result<Option<TimerRecord>> {
        Ok(self.lock()?.timers.get(id).map(TimerRow::record))
    }

    async fn pending_timers(&self, account: &str, limit: i64) -> Result<Vec<TimerRecord>> {
        let inner = self.lock()?;
        Ok(inner
            .pending_by_account
            .get(account)
            .into_iter()
            .flatten()
            .take(sqlite_limit(limit))
            .filter_map(|(_, id)| inner.timers.get(id))
            .map(TimerRow::record)
            .collect())
    }

    async fn claim_due_messages(
        &self,
        holder: &str,
        now: Now,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<ClaimedMessage>> {
        let mut inner = self.lock()?;
        let now = now.local().0;
        let candidates: Vec<String> = inner
            .queued_due
            .range(..=(now, i64::MAX))
            .filter_map(|(_, id)| inner.messages.get(id))
            .filter(|row| row.locked_until.is_none_or(|until| until < now))
            .take(sqlite_limit(limit.max(0)))
            .map(|row| row.record.id.clone())
            .collect();
        let mut claimed: Vec<(Option<Timestamp>, ClaimedMessage)> = candidates
            .iter()
            .filter_map(|id| {
                let row = inner.messages.get_mut(id)?;
                row.locked_by = Some(holder.to_owned());
                row.locked_until = Some(plus(now, lease.0));
                row.record.attempts += 1;
                let m = &row.record;
                Some((
                    m.next_attempt_at,
                    ClaimedMessage {
                        id: m.id.clone(),
                        account: m.account.clone(),
                        channel: m.channel.clone(),
                        to_email: m.to_email.clone(),
                        to_name: m.to_name.clone(),
                        from_email: m.from_email.clone(),
                        from_name: m.from_name.clone(),
                        subject: m.subject.clone(),
                        body: m.body.clone(),
                        message_id: m.message_id.clone(),
                        rule: m.rule.clone(),
                        sign_in_email: m.sign_in_email.clone(),
                        calendar: m.calendar.clone(),
                        drafted_by: m.drafted_by.clone(),
                        holder: holder.to_owned(),
                        attempts: m.attempts,
                    },
                ))
            })
            .collect();
        claimed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
        Ok(claimed.into_iter().map(|(_, claim)| claim).collect())
    }

    async fn complete_message(
        &self,
        claim: &ClaimedMessage,
        outcome: &DeliveryOutcome,
        at: Timestamp,
    ) -> Result<bool> {
        Ok(self.lock()?.complete_one(claim, outcome, at.0))
    }

    async fn complete_messages(
        &self,
        done: &[(ClaimedMessage, DeliveryOutcome)],
        at: Timestamp,
    ) -> Result<usize> {
        let mut inner = self.lock()?;
        // As SQLite does: the delivered ones first (a claim named twice once), then the
        // others in order.
        let mut n = 0;
        let mut seen = HashSet::new();
        for (claim, outcome) in done {
            if matches!(outcome, DeliveryOutcome::Delivered) && seen.insert(claim.id.as_str()) {
                n += usize::from(inner.complete_one(claim, outcome, at.0));
            }
        }
        for (claim, outcome) in done {
            if !matches!(outcome, DeliveryOutcome::Delivered) {
                n += usize::from(inner.complete_one(claim, outcome, at.0));
            }
        }
        Ok(n)
    }

    async fn record_draft(
        &self,
        claim: &ClaimedMessage,
        draft: &MessageDraft,
        at: Timestamp,
    ) -> Result<bool> {
        let mut inner = self.lock()?;
        let Some(row) = inner.held_message(claim) else {
            return Ok(false);
        };
        row.record.subject.clone_from(&draft.subject);
        row.record.body.clone_from(&draft.body);
        row.record.drafted_by = Some(draft.drafted_by.clone());
        row.record.drafted_at = Some(at);
        Ok(true)
    }

    async fn next_message_due(&self) -> Result<Option<Timestamp>> {
        let inner = self.lock()?;
        Ok(inner
            .queued_due
            .first_key_value()
            .map(|((next, _), _)| Timestamp(*next)))
    }

    async fn list_messages(&self, filter: &MessageFilter) -> Result<Vec<MessageRecord>> {
        let inner = self.lock()?;
        let index = match &filter.account {
            Some(account) => inner.messages_by_account.get(account),
            None => Some(&inner.messages_created),
        };
        let Some(index) = index else {
            return Ok(Vec::new());
        };
        let newest_first: Box<dyn Iterator<Item = &(i64, String)>> = match &filter.before {
            Some((created_at, id)) => Box::new(index.range(..(created_at.0, id.clone())).rev()),
            None => Box::new(index.iter().rev()),
        };
        Ok(newest_first
            .filter_map(|(_, id)| inner.messages.get(id))
            .filter(|row| {
                filter
                    .status
                    .as_ref()
                    .is_none_or(|s| row.record.status == *s)
            })
            .take(sqlite_limit(page_limit(filter.limit)))
            .map(|row| row.record.clone())
            .collect())
    }

    async fn message(&self, id: &str) -> Result<Option<MessageRecord>> {
        Ok(self.lock()?.messages.get(id).map(|row| row.record.clone()))
    }

    async fn retry_message(&self, id: &str, at: Timestamp) -> Result<()> {
        let mut inner = self.lock()?;
        let Some(row) = inner
            .messages
            .get_mut(id)
            .filter(|r| r.record.status == "dead")
        else {
            return Err(StoreError::NotFound);
        };
        // The attempt counter keeps growing, so attempt numbers stay unique.
        row.record.status = "queued".to_owned();
        row.record.next_attempt_at = Some(at);
        row.locked_by = None;
        row.locked_until = None;
        let key = (at.0, row.rowid);
        inner.queued_due.insert(key, id.to_owned());
        inner.n_dead -= 1;
        Ok(())
    }

    async fn outbox_counts(&self) -> Result<OutboxCounts> {
        let inner = self.lock()?;
        Ok(OutboxCounts {
            queued: i64::try_from(inner.queued_due.len()).unwrap_or(i64::MAX),
            dead: inner.n_dead,
        })
    }

    async fn issue_sign_in_token(&self, token: &NewSignInToken) -> Result<()> {
        self.lock()?.issue_tokens(std::slice::from_ref(token))
    }

    async fn issue_sign_in_tokens(&self, tokens: &[NewSignInToken]) -> Result<()> {
        self.lock()?.issue_tokens(tokens)
    }

    async fn sign_in_accounts(&self, email: &str) -> Result<Vec<String>> {
        let inner = self.lock()?;
        let accounts: BTreeSet<&str> = inner
            .tokens_by_email
            .get(email)
            .into_iter()
            .flatten()
            .filter_map(|hash| inner.tokens.get(hash))
            .map(|row| row.account.as_str())
            .filter(|account| !account.is_empty())
            .collect();
        Ok(accounts.into_iter().map(str::to_owned).collect())
    }

    async fn sign_in_links_before(
        &self,
        account: &str,
        email: &str,
        other_than_message: Option<&str>,
    ) -> Result<i64> {
        Ok(self
            .lock()?
            .links_before(account, email, other_than_message))
    }

    async fn sign_in_links_before_each(
        &self,
        wanted: &[(String, String, String)],
    ) -> Result<Vec<i64>> {
        let inner = self.lock()?;
        Ok(wanted
            .iter()
            .map(|(account, email, message)| inner.links_before(account, email, Some(message)))
            .collect())
    }

    async fn consume_sign_in_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<SignInGrant>> {
        let mut inner = self.lock()?;
        let Some(row) = inner
            .tokens
            .get_mut(token_hash)
            .filter(|row| row.live(now.0) && row.purpose != crate::SIGN_IN_CODE)
        else {
            return Ok(None);
        };
        row.used_at = Some(now.0);
        Ok(Some(row.grant()))
    }

    async fn consume_sign_in_code(
        &self,
        email: &str,
        code_hashes: &[String],
        max_failures: i64,
        now: Timestamp,
    ) -> Result<Option<SignInGrant>> {
        let mut inner = self.lock()?;
        let usable = |row: &TokenRow| {
            row.purpose == crate::SIGN_IN_CODE
                && row.email == email
                && row.live(now.0)
                && row.failed_attempts < max_failures
        };
        for hash in code_hashes {
            if let Some(row) = inner.tokens.get_mut(hash).filter(|row| usable(row)) {
                row.used_at = Some(now.0);
                return Ok(Some(row.grant()));
            }
        }
        let hashes = inner
            .tokens_by_email
            .get(email)
            .cloned()
            .unwrap_or_default();
        for hash in hashes {
            if let Some(row) = inner.tokens.get_mut(&hash).filter(|row| usable(row)) {
                row.failed_attempts += 1;
            }
        }
        Ok(None)
    }

    async fn create_session(&self, session: &NewSession) -> Result<()> {
        let mut inner = self.lock()?;
        if inner.sessions.contains_key(&session.id_hash) {
            return Err(StoreError::Conflict("sessions.id_hash".to_owned()));
        }
        inner.sessions.insert(
            session.id_hash.clone(),
            SessionRow {
                record: SessionRecord {
                    account: session.account.clone(),
                    email: session.email.clone(),
                    kind: session.kind.clone(),
                    created_at: session.created_at,
                    expires_at: session.expires_at,
                },
                ended_at: None,
            },
        );
        Ok(())
    }

    async fn session(&self, id_hash: &str, now: Timestamp) -> Result<Option<SessionRecord>> {
        let inner = self.lock()?;
        Ok(inner
            .sessions
            .get(id_hash)
            .filter(|s| s.ended_at.is_none() && s.record.expires_at > now)
            .map(|s| s.record.clone()))
    }

    async fn end_session(&self, id_hash: &str, at: Timestamp) -> Result<()> {
        let mut inner = self.lock()?;
        if let Some(session) = inner.sessions.get_mut(id_hash) {
            if session.ended_at.is_none() {
                session.ended_at = Some(at.0);
            }
        }
        Ok(())
    }

    async fn disable_endpoint(&self, name: &str, at: Timestamp, reason: &str) -> Result<()> {
        self.lock()?
            .endpoints
            .entry(name.to_owned())
            .or_insert_with(|| (at.0, reason.to_owned()));
        Ok(())
    }

    async fn enable_endpoint(&self, name: &str) -> Result<bool> {
        Ok(self.lock()?.endpoints.remove(name).is_some())
    }

    async fn disabled_endpoints(&self) -> Result<Vec<(String, Timestamp, String)>> {
        let inner = self.lock()?;
        Ok(inner
            .endpoints
            .iter()
            .map(|(name, (at, reason))| (name.clone(), Timestamp(*at), reason.clone()))
            .collect())
    }

    async fn insert_file(&self, file: &FileRecord) -> Result<()> {
        let mut inner = self.lock()?;
        if inner.files.contains_key(&file.id) {
            return Err(StoreError::Conflict("files.id".to_owned()));
        }
        inner
            .files_by_account
            .entry(file.account.clone())
            .or_default()
            .push(file.id.clone());
        inner.files.insert(file.id.clone(), file.clone());
        Ok(())
    }

    async fn file(&self, id: &str) -> Result<Option<FileRecord>> {
        Ok(self.lock()?.files.get(id).cloned())
    }

    async fn account_files(&self, account: &str) -> Result<Vec<FileRecord>> {
        let inner = self.lock()?;
        let mut files: Vec<FileRecord> = inner
            .files_by_account
            .get(account)
            .into_iter()
            .flatten()
            .filter_map(|id| inner.files.get(id))
            .cloned()
            .collect();
        // Newest first; ties by id.
        files.sort_by(|a, b| {
            b.uploaded_at
                .cmp(&a.uploaded_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(files)
    }

    async fn reserve_kickoff_slot(&self, slot: &KickoffSlot) -> Result<()> {
        let mut inner = self.lock()?;
        let task = (
            slot.account.clone(),
            slot.project.clone(),
            slot.task.clone(),
        );
        let wanted = (slot.csm.clone(), slot.start_at.0);
        let before = inner.slot_of_task.get(&task).cloned();
        // A slot another task holds is refused before anything changes.
        if inner.slots.contains_key(&wanted) && before.as_ref() != Some(&wanted) {
            return Err(StoreError::Conflict(SLOT_TAKEN.to_owned()));
        }
        if let Some(before) = before {
            inner.slots.remove(&before);
        }
        inner.slots.insert(wanted.clone(), slot.clone());
        inner.slot_of_task.insert(task, wanted);
        Ok(())
    }

    async fn csm_kickoff_slots(
        &self,
        csm: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<KickoffSlot>> {
        let inner = self.lock()?;
        Ok(inner
            .slots
            .range((csm.to_owned(), i64::MIN)..(csm.to_owned(), to.0))
            .map(|(_, slot)| slot)
            .filter(|slot| slot.end_at > from)
            .cloned()
            .collect())
    }
}
