//! A program in test mode against the recorded event log of a database: the log's external
//! events (not derived ones, not fired timers, not the raw CRM webhooks whose fetched deals
//! are in the log themselves) are replayed in time order into a fresh scratch store on a
//! manual clock, each when the clock reaches its recorded time, and the clock is moved on to
//! the log's last instant so that timers due by then fire. What the program decided to send
//! is read from the scratch outbox and set beside what the source database's outbox holds.
//! Nothing is delivered: the scratch engine's mailer is the [`super::Inbox`], and it has no
//! outbound endpoints and no CRM APIs.

use super::{load, Inbox, Result, INGEST_CHUNK, PUBLIC_URL};
use crate::clock::ManualClock;
use crate::{Engine, EngineConfig};
use onboard_core::crm::{raw, HUBSPOT_CHANNEL, PIPEDRIVE_CHANNEL};
use onboard_core::event::types;
use onboard_core::program::ProgramSource;
use onboard_core::state::TEAM_ACCOUNT;
use onboard_core::{Event, NewEvent, Timestamp};
use onboard_store::{EventFilter, Store};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

const PAGE: i64 = 1_000;

/// What a program would have sent, and what was sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DryRun {
    pub program: String,
    pub version: String,
    /// External events replayed, and the span of time they cover.
    pub events_replayed: usize,
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Every message the program decided, oldest first.
    pub would_send: Vec<MessageSummary>,
    /// Every message of the source database's outbox over the same span, oldest first.
    pub sent: Vec<MessageSummary>,
    /// Both counted by rule.
    pub by_rule: BTreeMap<String, RuleCounts>,
    /// Messages the program would send that were not sent (by account, rule, channel and
    /// recipient), and messages sent that it would not send.
    pub only_would_send: Vec<MessageSummary>,
    pub only_sent: Vec<MessageSummary>,
}

/// One message: to whom, from which rule, about what.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct MessageSummary {
    pub at: Timestamp,
    pub account: String,
    pub rule: String,
    pub channel: String,
    pub to: String,
    pub subject: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RuleCounts {
    pub would_send: usize,
    pub sent: usize,
}

/// Whether a logged event came from outside: what the replay feeds in. Derived events are
/// keyed by the processor's digests (`evt_…`) and recomputed by the replay itself.
fn is_external(event: &Event) -> bool {
    let kind = event.kind.as_str();
    let derived_key = event.key.strip_prefix("evt_").is_some_and(|rest| {
        // 36 digits (time and digest) since keys sort by time; 24 (digest) before.
        matches!(rest.len(), 24 | 36) && rest.bytes().all(|b| b.is_ascii_hexdigit())
    });
    !derived_key
        && !matches!(
            kind,
            types::TIMER_FIRED
                | types::PERSON_ENROLLED
                | types::FIELD_SET
                | types::PROJECT_LAUNCHED
                | types::PROJECT_COMPLETED
                | types::TASK_UNLOCKED
                | types::TASK_DUE_SOON
                | types::TASK_OVERDUE
                | types::TASK_OVERDUE_REMINDER
                | types::MILESTONE_REACHED
                | types::JOURNEY_COMPLETED
                | types::AHA_REACHED
                | types::USAGE_MILESTONE
                | types::PERSON_MENTIONED
                | raw::HUBSPOT_DEAL
                | raw::PIPEDRIVE_DEAL
        )
}

/// Messages worth comparing: to an account's people, its CSM or a channel, not the CRM
/// fetches or the team's own sign-in links.
fn is_compared(account: &str, channel: &str) -> bool {
    account != TEAM_ACCOUNT && channel != HUBSPOT_CHANNEL && channel != PIPEDRIVE_CHANNEL
}

/// Replays the external events of `source` through the program of `program_source` on
/// `scratch` (fresh: migrated here) and compares the outboxes.
pub async fn dry_run(
    source: &dyn Store,
    scratch: Arc<dyn Store>,
    program_source: &ProgramSource,
) -> Result<DryRun> {
    let program = load(program_source)?;
    let mut events: Vec<NewEvent> = Vec::new();
    let mut last_logged: Option<Timestamp> = None;
    let mut after_seq = None;
    loop {
        let page = source
            .list_events(&EventFilter {
                after_seq,
                limit: PAGE,
                ..EventFilter::default()
            })
            .await?;
        let Some(last) = page.last() else { break };
        after_seq = Some(last.seq);
        for event in page {
            last_logged = last_logged.max(Some(event.at));
            if is_external(&event) {
                events.push(NewEvent {
                    key: event.key,
                    kind: event.kind,
                    account: event.account,
                    at: event.at,
                    data: event.data,
                });
            }
        }
    }
    // In time order; events of one instant keep their order in the log.
    events.sort_by_key(|e| e.at);
    let from = events.first().map(|e| e.at);
    let until = last_logged;

    scratch.migrate().await?;
    let clock = Arc::new(ManualClock::new(from.unwrap_or(Timestamp(0))));
    let engine = Engine::start(
        EngineConfig::new("dry-run", PUBLIC_URL),
        scratch.clone(),
        clock.clone(),
        Arc::new(Inbox::new(clock)),
        program.clone(),
        program_source,
    )
    .await?;
    let replay = async {
        for instant in events.chunk_by(|a, b| a.at == b.at) {
            engine.advance_to(instant[0].at).await?;
            for chunk in instant.chunks(INGEST_CHUNK) {
                engine.ingest(chunk.to_vec()).await?;
            }
        }
        if let Some(until) = until {
            engine.advance_to(until.max(engine.now())).await?;
        }
        Ok::<_, super::SimulateError>(())
    }
    .await;
    engine.stop_intake();
    replay?;

    let would_send = outbox(scratch.as_ref(), None).await?;
    let sent = outbox(source, until).await?;
    let mut by_rule: BTreeMap<String, RuleCounts> = BTreeMap::new();
    for m in &would_send {
        by_rule.entry(m.rule.clone()).or_default().would_send += 1;
    }
    for m in &sent {
        by_rule.entry(m.rule.clone()).or_default().sent += 1;
    }
    let only_would_send = unmatched(&would_send, &sent);
    let only_sent = unmatched(&sent, &would_send);
    Ok(DryRun {
        program: program.name.clone(),
        version: program.version.0.clone(),
        events_replayed: events.len(),
        from,
        until,
        would_send,
        sent,
        by_rule,
        only_would_send,
        only_sent,
    })
}

/// The compared messages of a store's outbox created up to `until`, oldest first.
async fn outbox(store: &dyn Store, until: Option<Timestamp>) -> Result<Vec<MessageSummary>> {
    let mut all = Vec::new();
    super::each_message_page(store, PAGE, |page| {
        all.extend(
            page.into_iter()
                .filter(|m| is_compared(&m.account, &m.channel))
                .filter(|m| until.is_none_or(|until| m.created_at <= until))
                .map(|m| MessageSummary {
                    at: m.created_at,
                    account: m.account,
                    rule: m.rule,
                    channel: m.channel,
                    to: m.to_email,
                    subject: m.subject,
                }),
        );
    })
    .await?;
    all.sort();
    Ok(all)
}

/// The messages of `these` with no counterpart (same account, rule, channel, recipient) in
/// `those`, counting duplicates.
fn unmatched(these: &[MessageSummary], those: &[MessageSummary]) -> Vec<MessageSummary> {
    let mut left: BTreeMap<(&str, &str, &str, &str), usize> = BTreeMap::new();
    for m in those {
        *left
            .entry((&m.account, &m.rule, &m.channel, &m.to))
            .or_default() += 1;
    }
    these
        .iter()
        .filter(|m| {
            match left.get_mut(&(
                m.account.as_str(),
                m.rule.as_str(),
                m.channel.as_str(),
                m.to.as_str(),
            )) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    false
                }
                _ => true,
            }
        })
        .cloned()
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(key: &str, kind: &str) -> Event {
        Event {
            seq: 1,
            key: key.to_owned(),
            kind: onboard_core::EventType::parse(kind).unwrap_or_else(|e| panic!("{e}")),
            account: "acme".to_owned(),
            at: Timestamp(0),
            data: json!({}),
            received_at: Timestamp(0),
            processed_at: None,
        }
    }

    #[test]
    fn what_came_from_outside_is_replayed_and_what_the_processor_made_is_not() {
        assert!(is_external(&event("deal-1", "deal.won")));
        assert!(is_external(&event("login-1", "academy.login")));
        assert!(!is_external(&event("t-1", "timer.fired")));
        assert!(!is_external(&event("x", "journey.completed")));
        assert!(!is_external(&event(
            "evt_0123456789abcdef01234567",
            "account.stalled"
        )));
        assert!(!is_external(&event(
            &onboard_core::decide::derived_event_key(Timestamp(1_767_225_600_000), &["x"]),
            "account.stalled"
        )));
        assert!(is_external(&event("evt_not-a-digest", "account.stalled")));
        assert!(!is_external(&event("hubspot:1:2", "hubspot.deal")));
    }

    fn summary(rule: &str, to: &str) -> MessageSummary {
        MessageSummary {
            at: Timestamp(0),
            account: "acme".to_owned(),
            rule: rule.to_owned(),
            channel: "email".to_owned(),
            to: to.to_owned(),
            subject: "s".to_owned(),
        }
    }

    #[test]
    fn unmatched_messages_count_duplicates() {
        let these = vec![summary("a", "x"), summary("a", "x"), summary("b", "y")];
        let those = vec![summary("a", "x")];
        assert_eq!(
            unmatched(&these, &those),
            vec![summary("a", "x"), summary("b", "y")]
        );
    }
}
