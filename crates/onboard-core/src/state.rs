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
    /// When rules contacted this person (or will: a message deferred by the contact
    /// budget), within the budget's window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contacts: Vec<Timestamp>,
    /// The person's last use of the product or the Academy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_at: Option<Timestamp>,
    /// When each event type last named this person (`data.email`): what a person's
    /// `unless` window checks.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub seen: BTreeMap<String, Timestamp>,
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
            contacts: Vec::new(),
            active_at: None,
            seen: BTreeMap::new(),
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
    /// The account's projects (instances of the program's templates), oldest first.
    #[serde(default)]
    pub projects: Vec<Project>,
    /// Tasks for our team (CSM and others), oldest first.
    #[serde(default)]
    pub team_tasks: Vec<TeamTask>,
    /// The program's goals as they stand for this account.
    #[serde(default)]
    pub goals: Vec<GoalState>,
    /// Alerts raised to channels, by identity (account, rule, reason).
    #[serde(default)]
    pub alerts: Vec<Alert>,
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
            projects: Vec::new(),
            team_tasks: Vec::new(),
            goals: Vec::new(),
            alerts: Vec::new(),
        }
    }

    /// The project with this id.
    pub fn project(&self, id: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.id == id)
    }
}

/// One account's instance of a template: its plan of tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    /// Deterministic id, from the cause that created it.
    pub id: String,
    /// The template's name, and its title when the project was created.
    pub template: String,
    pub title: String,
    pub status: ProjectStatus,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launched_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
    /// Launch plus the template's `due_days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_days: Option<u32>,
    /// The program version the project started with; it keeps it until migrated.
    pub program_version: String,
    /// How it completes: `final_task`, `all_tasks` or `manual` (copied from the template).
    pub completion: String,
    /// The template launched when it completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// The key of the event that created it.
    pub cause: String,
    /// In template order.
    pub tasks: Vec<ProjectTask>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProjectStatus {
    /// Created, not launched: nothing reaches the customer.
    Draft,
    Active,
    Completed,
}

impl ProjectStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProjectStatus::Draft => "draft",
            ProjectStatus::Active => "active",
            ProjectStatus::Completed => "completed",
        }
    }
}

/// A task of a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectTask {
    /// The key of the template's task, unique in the project.
    pub key: String,
    pub title: String,
    /// Markdown.
    pub description: String,
    /// `team` or `customer`.
    pub owner: String,
    /// A team role, a persona, or whoever it was reassigned to (e.g. an email).
    pub assignee: String,
    pub status: TaskStatus,
    pub snooze_days: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_days: Option<u32>,
    /// Keys of the tasks that must be done first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Launch plus `snooze_days`; unset while the project is a draft.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlock_at: Option<Timestamp>,
    /// Launch plus `due_days`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_by: Option<String>,
    /// Set when its due time passed before it was done; cleared when it is done.
    #[serde(default)]
    pub overdue: bool,
    #[serde(default)]
    pub milestone: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<Comment>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Hidden until its `unlock_at` (or until the project launches).
    Snoozed,
    /// Unlocked, but a task it depends on is not done.
    Waiting,
    Open,
    Done,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Snoozed => "snoozed",
            TaskStatus::Waiting => "waiting",
            TaskStatus::Open => "open",
            TaskStatus::Done => "done",
        }
    }
}

/// A comment on a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub at: Timestamp,
    pub author: String,
    pub text: String,
}

/// A task for our team, opened by a rule or by a project. Its identity (account, cause and
/// reason) keeps one open task per reason: a second firing updates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamTask {
    /// Deterministic id, from the first firing.
    pub id: String,
    /// `<account>/<rule or project>/<reason>`.
    pub identity: String,
    pub title: String,
    pub reason: String,
    /// The team role it is for (`csm`), and the member's email when known.
    pub assignee_role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_email: Option<String>,
    pub status: TeamTaskStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// How often it fired (1 when created).
    pub n_firings: u32,
    /// The rule (or `project/<id>`) and the event that caused the last firing.
    pub rule: String,
    pub event: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeamTaskStatus {
    Open,
    Done,
}

impl TeamTaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TeamTaskStatus::Open => "open",
            TeamTaskStatus::Done => "done",
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

/// One goal of the program, for one account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoalState {
    pub name: String,
    pub target: f64,
    /// When it is measured from (the deal was won) and its deadline.
    pub started_at: Timestamp,
    pub deadline_at: Timestamp,
    pub status: GoalStatus,
    /// The value measured at `updated_at`.
    pub value: f64,
    /// Where the value is headed by the deadline, when there is enough to go on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<f64>,
    /// For event-count goals: the events counted so far.
    #[serde(default)]
    pub count: u64,
    pub updated_at: Timestamp,
}

/// Where a goal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoalStatus {
    OnTrack,
    AtRisk,
    Achieved,
    Missed,
}

impl GoalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            GoalStatus::OnTrack => "on_track",
            GoalStatus::AtRisk => "at_risk",
            GoalStatus::Achieved => "achieved",
            GoalStatus::Missed => "missed",
        }
    }
}

/// An alert a rule raised to a channel. Its identity is the account, the rule and the
/// reason: while it is open, another firing updates it instead of posting again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub identity: String,
    pub rule: String,
    pub channel: String,
    pub reason: String,
    pub status: AlertStatus,
    pub opened_at: Timestamp,
    pub updated_at: Timestamp,
    /// How many times it was raised.
    pub count: u32,
    /// The key of the event that first raised it.
    pub cause: String,
}

impl Alert {
    /// The alert's id: a digest of its identity, stable while the identity is.
    pub fn id(&self) -> String {
        crate::decide::derived_id("alert", &[&self.identity])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Open,
    Closed,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Closed => "closed",
        }
    }
}
