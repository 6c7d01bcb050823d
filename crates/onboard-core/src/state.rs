//! Account state and the records the processor decides to write: timers, outbox messages,
//! traces. The engine loads [`AccountState`]s, [`crate::decide`] changes them, the store
//! writes them back in the same transaction as everything decided.

use crate::event::NewEvent;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    Active,
    Paused,
    Churned,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Paused => "paused",
            AccountStatus::Churned => "churned",
        }
    }
}

/// A human at an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    /// The person's email, lower case: their identity at the account.
    pub email: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persona: Option<String>,
    /// Where the persona came from: `segment` (the program's segmentation), `crm` (given
    /// with the contact) or `manual` (set by hand, which later CRM data does not change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persona_source: Option<String>,
    /// Ids of this person elsewhere: `hubspot`, `pipedrive`, `deals` (CRM contact ids),
    /// later `product` (the product's user id).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ids: BTreeMap<String, String>,
    /// Other contact properties from the CRM, for segmentation and templates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, serde_json::Value>,
    /// The Academy journey the person is enrolled in, and since when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journey: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolled_at: Option<Timestamp>,
}

impl Person {
    pub fn new(email: &str, name: &str) -> Self {
        Self {
            email: email.to_owned(),
            name: name.to_owned(),
            title: None,
            persona: None,
            persona_source: None,
            ids: BTreeMap::new(),
            properties: BTreeMap::new(),
            journey: None,
            enrolled_at: None,
        }
    }
}

/// A won deal recorded on its account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DealRecord {
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seats: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    pub won_at: Timestamp,
    /// How many more times the deal was reported won (reopened and won again).
    #[serde(default)]
    pub won_again: u32,
}

/// How often an event type has been seen for an account, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub n: u64,
    pub first_at: Timestamp,
    pub last_at: Timestamp,
}

/// How often a rule has run for an account, and when last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRuns {
    pub n: u32,
    pub last_at: Timestamp,
}

/// Everything the processor knows about one account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountState {
    /// The account key, as given by the intake.
    pub id: String,
    pub name: String,
    pub status: AccountStatus,
    /// The program version this account's onboarding runs under.
    pub program_version: String,
    /// The assigned CSM's email.
    pub csm: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The company's web domain, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default)]
    pub deals: Vec<DealRecord>,
    #[serde(default)]
    pub people: Vec<Person>,
    #[serde(default)]
    pub seen: BTreeMap<String, Seen>,
    #[serde(default)]
    pub rule_runs: BTreeMap<String, RuleRuns>,
}

impl AccountState {
    /// A new account, first seen at `at`, under the given program version.
    pub fn new(id: &str, program_version: &str, at: Timestamp) -> Self {
        Self {
            id: id.to_owned(),
            name: id.to_owned(),
            status: AccountStatus::Active,
            program_version: program_version.to_owned(),
            csm: None,
            domain: None,
            deals: Vec::new(),
            created_at: at,
            updated_at: at,
            people: Vec::new(),
            seen: BTreeMap::new(),
            rule_runs: BTreeMap::new(),
        }
    }
}

/// A durable timer the processor decided to set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTimer {
    /// Deterministic id: the same event and rule always give the same timer.
    pub id: String,
    pub account: String,
    pub rule: String,
    pub due_at: Timestamp,
    /// The time of the event that started the window (for `unless` re-checks).
    pub since_at: Timestamp,
    pub program_version: String,
}

/// Pending timers of an account to cancel: those of one rule, or all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerCancel {
    pub account: String,
    pub rule: Option<String>,
}

/// An email the processor decided to send, rendered and ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMessage {
    /// Deterministic id; also the basis of the stable Message-ID header.
    pub id: String,
    pub account: String,
    pub channel: String,
    pub to_email: String,
    pub to_name: String,
    pub from_email: String,
    pub from_name: String,
    pub subject: String,
    pub body: String,
    /// The RFC 5322 Message-ID, fixed before the first attempt.
    pub message_id: String,
    /// The rule and event that caused it.
    pub rule: String,
    pub cause: String,
    /// When the text holds [`SIGN_IN_URL_PLACEHOLDER`]: the person (email) whose personal
    /// sign-in link replaces it. The link's token is random, so it is made at delivery,
    /// not decided here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_in_email: Option<String>,
}

/// Stands for a person's sign-in link in a rendered message until delivery.
pub const SIGN_IN_URL_PLACEHOLDER: &str = "%ONBOARD_SIGN_IN_URL%";

/// What happened to one rule for one event: the answer to "why did (not) it fire?".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    pub account: String,
    pub rule: String,
    /// The key of the event evaluated.
    pub event: String,
    pub at: Timestamp,
    pub outcome: TraceOutcome,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraceOutcome {
    Fired,
    Scheduled,
    Cancelled,
    Skipped,
    Failed,
}

impl TraceOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            TraceOutcome::Fired => "fired",
            TraceOutcome::Scheduled => "scheduled",
            TraceOutcome::Cancelled => "cancelled",
            TraceOutcome::Skipped => "skipped",
            TraceOutcome::Failed => "failed",
        }
    }
}

/// Everything decided for one event, to be written in one transaction with the state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decisions {
    pub timers: Vec<NewTimer>,
    pub cancels: Vec<TimerCancel>,
    pub messages: Vec<NewMessage>,
    pub events: Vec<NewEvent>,
    pub traces: Vec<Trace>,
}

impl Decisions {
    /// Adds another event's decisions to these.
    pub fn extend(&mut self, other: Decisions) {
        self.timers.extend(other.timers);
        self.cancels.extend(other.cancels);
        self.messages.extend(other.messages);
        self.events.extend(other.events);
        self.traces.extend(other.traces);
    }
}
