//! Account state and the records the processor decides to write: timers, outbox messages,
//! traces. The engine loads [`AccountState`]s, [`crate::decide`] changes them, the store
//! writes them back in the same transaction as everything decided.

use crate::event::NewEvent;
use crate::program::{NudgeFrequency, NudgeStyle};
use crate::shared::{Shared, SharedMap};
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
    pub ids: SharedMap<String, String>,
    /// Other contact properties from the CRM, for segmentation and templates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: SharedMap<String, serde_json::Value>,
    /// The Academy journey the person is enrolled in, and since when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journey: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolled_at: Option<Timestamp>,
    /// Set when a rule's `enrol` chose the journey: the enrolment by persona (at a deal, a
    /// new contact, a resegmentation) then leaves the person where the rule put them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub journey_by_rule: bool,
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
    pub seen: SharedMap<String, Timestamp>,
    /// The Academy modules the person completed, by journey, then by module slug: when.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub modules_completed: SharedMap<String, BTreeMap<String, Timestamp>>,
    /// The journeys whose every core module the person completed: when.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub journeys_completed: SharedMap<String, Timestamp>,
    /// The person's first Aha event (their persona's), when they reached it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aha_at: Option<Timestamp>,
    /// Their persona's micro-milestones they reached, by name as the program writes it:
    /// when first.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub milestones: SharedMap<String, Timestamp>,
}

impl Person {
    pub fn new(email: &str, name: &str) -> Self {
        Self {
            email: email.to_owned(),
            name: name.to_owned(),
            title: None,
            persona: None,
            persona_source: None,
            ids: SharedMap::default(),
            properties: SharedMap::default(),
            journey: None,
            enrolled_at: None,
            journey_by_rule: false,
            contacts: Vec::new(),
            active_at: None,
            seen: SharedMap::default(),
            modules_completed: SharedMap::default(),
            journeys_completed: SharedMap::default(),
            aha_at: None,
            milestones: SharedMap::default(),
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
    pub deals: Shared<DealRecord>,
    #[serde(default)]
    pub people: Shared<Person>,
    #[serde(default)]
    pub seen: SharedMap<String, Seen>,
    #[serde(default)]
    pub rule_runs: SharedMap<String, RuleRuns>,
    /// The account's projects (instances of the program's templates), oldest first.
    #[serde(default)]
    pub projects: Shared<Project>,
    /// Tasks for our team (CSM and others), oldest first.
    #[serde(default)]
    pub team_tasks: Shared<TeamTask>,
    /// The program's goals as they stand for this account.
    #[serde(default)]
    pub goals: Shared<GoalState>,
    /// Alerts raised to channels, by identity (account, rule, reason).
    #[serde(default)]
    pub alerts: Shared<Alert>,
    /// In-app nudges for the account's people, oldest first; ended ones are dropped a while
    /// after they end.
    #[serde(default, skip_serializing_if = "<[Nudge]>::is_empty")]
    pub nudges: Shared<Nudge>,
    /// The account's first Aha event, once reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aha: Option<Aha>,
    /// Product usage as health needs it (bounded; see [`crate::health`]).
    #[serde(default, skip_serializing_if = "crate::health::Usage::is_empty")]
    pub usage: crate::health::Usage,
    /// Timers that came due while the account was paused, as their `timer.fired` data, in
    /// the order they came due: each fires when the account resumes (a churn drops them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_timers: Vec<serde_json::Value>,
    /// The account's own fields, written by rules' `set = "account.fields.<name>"` and read
    /// by conditions as `account.fields.<name>`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: SharedMap<String, serde_json::Value>,
    /// The account's autopilot, once it has been in one of the program's autopilot
    /// segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autopilot: Option<AutopilotState>,
    /// The windows of `after` rules that may still have a pending timer, by the timer's
    /// rule name (the rule's, or `<rule>#<email>` for one person's window), with how many
    /// timers of that name are pending. An `unless` event cancels only these, so an event
    /// that closes no window writes nothing. `None` for a state stored before windows were
    /// kept: there, every `unless` event cancels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_windows: Option<BTreeMap<String, u32>>,
    /// When the goals' pending check is due (the `goals/daily` timer): the first tick of
    /// the account's daily grid at which a goal's status can change with nothing arriving.
    /// `None` before goals started, once none is open, and for a state stored before checks
    /// were planned (its daily timer still fires).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goals_check_at: Option<Timestamp>,
}

/// An account's first Aha event: the moment it got value from the product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aha {
    pub at: Timestamp,
    /// The person who reached it, when the product user is linked to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whose Aha event it is: the person's persona, or the first persona with that event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persona: Option<String>,
    /// The product event's name.
    pub event: String,
    /// Time to value: from the first won deal to the Aha (0 when the Aha came first);
    /// absent when no deal is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttv_ms: Option<i64>,
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
            deals: Shared::default(),
            created_at: at,
            updated_at: at,
            people: Shared::default(),
            seen: SharedMap::default(),
            rule_runs: SharedMap::default(),
            projects: Shared::default(),
            team_tasks: Shared::default(),
            goals: Shared::default(),
            alerts: Shared::default(),
            nudges: Shared::default(),
            aha: None,
            usage: Default::default(),
            fields: SharedMap::default(),
            held_timers: Vec::new(),
            autopilot: None,
            open_windows: Some(BTreeMap::new()),
            goals_check_at: None,
        }
    }

    /// Notes that a timer of this name (an `after` rule's window) is pending.
    pub fn open_window(&mut self, timer_rule: &str) {
        if let Some(open) = &mut self.open_windows {
            *open.entry(timer_rule.to_owned()).or_default() += 1;
        }
    }

    /// Closes a window, its pending timers cancelled: whether a timer of this name may have
    /// been pending (always, for a state that does not know its windows).
    pub fn close_window(&mut self, timer_rule: &str) -> bool {
        match &mut self.open_windows {
            Some(open) => open.remove(timer_rule).is_some(),
            None => true,
        }
    }

    /// A timer of this name fired: one fewer is pending.
    pub fn window_timer_fired(&mut self, timer_rule: &str) {
        if let Some(open) = &mut self.open_windows {
            if let Some(pending) = open.get_mut(timer_rule) {
                *pending = pending.saturating_sub(1);
                if *pending == 0 {
                    open.remove(timer_rule);
                }
            }
        }
    }

    /// Every pending timer of the account is gone.
    pub fn close_all_windows(&mut self) {
        self.open_windows = Some(BTreeMap::new());
    }

    /// When the account's first deal was won: its first deal record, else its first
    /// `deal.won` (the start of time to value).
    pub fn won_at(&self) -> Option<Timestamp> {
        self.deals.first().map(|d| d.won_at).or_else(|| {
            self.seen
                .get(crate::event::types::DEAL_WON)
                .map(|s| s.first_at)
        })
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
    /// Set when the task is a kickoff call: its prerequisites and attendees as the program
    /// said at launch, for the CSM's brief ([`crate::brief`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kickoff: Option<crate::program::Kickoff>,
    /// A kickoff call booked in the Shared Space (`kickoff.booked`): when, and the invite's
    /// UID and SEQUENCE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking: Option<Booking>,
}

/// A kickoff call booked for a task: its slot and the calendar invite's identity. A
/// rebooking keeps the UID and counts the SEQUENCE up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    pub start: Timestamp,
    pub end: Timestamp,
    /// Who booked it (email).
    pub by: String,
    pub booked_at: Timestamp,
    /// The invite's UID, stable for the task.
    pub uid: String,
    /// 0 for the first booking, one more for each change.
    pub sequence: u32,
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
    /// A calendar invite sent beside the text (an iCalendar object, `METHOD:REQUEST`, see
    /// [`crate::calendar`]): a kickoff booked in the Shared Space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<String>,
}

/// Stands for a person's sign-in link in a rendered message until delivery.
pub const SIGN_IN_URL_PLACEHOLDER: &str = "%ONBOARD_SIGN_IN_URL%";

/// Stands for a person's one-time sign-in code in a message until delivery, where the code
/// is made (like a link's token) and kept only as its hash.
pub const SIGN_IN_CODE_PLACEHOLDER: &str = "%ONBOARD_SIGN_IN_CODE%";

/// The account of what belongs to our team rather than to a customer: a team member's
/// console sign-in links and the messages that carry them. No customer account has it.
pub const TEAM_ACCOUNT: &str = "";

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
    /// Nudges made or changed, as they now stand (the last copy of an id wins), for the
    /// store's table of nudges that the product polls.
    pub nudges: Vec<Nudge>,
    /// Autopilot approvals queued or decided, as they now stand (the last copy of an id
    /// wins), for the store's table that the console lists across accounts.
    pub approvals: Vec<Approval>,
}

impl Decisions {
    /// Adds another event's decisions to these.
    pub fn extend(&mut self, other: Decisions) {
        self.nudges.extend(other.nudges);
        self.approvals.extend(other.approvals);
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

/// An in-app prompt for one person, made by a rule's `nudge` action and shown by the
/// product (`GET /v1/nudges`). One is open per person, rule and message: another firing
/// while it is pending refreshes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nudge {
    pub id: String,
    pub account: String,
    /// The person it is for.
    pub email: String,
    pub rule: String,
    /// The message it shows (`messages/<name>.md`): its subject as the title, its body as
    /// the text, both rendered when the nudge was made.
    pub message: String,
    pub title: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    pub style: NudgeStyle,
    pub frequency: NudgeFrequency,
    pub created_at: Timestamp,
    /// Not shown before (the contact budget may hold it back until then).
    pub available_at: Timestamp,
    pub expires_at: Timestamp,
    pub status: NudgeStatus,
    /// When it was shown, most recent last (at most the frequency's count of them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shown: Vec<Timestamp>,
    /// How many times it was shown in all.
    #[serde(default)]
    pub shown_count: u32,
    /// When it was clicked or dismissed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// The key of the event whose rule made it.
    pub cause: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NudgeStatus {
    Pending,
    Clicked,
    Dismissed,
}

impl NudgeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Clicked => "clicked",
            Self::Dismissed => "dismissed",
        }
    }
}

/// Whether a nudge may be shown now, and why (not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Eligibility {
    pub eligible: bool,
    pub reason: String,
    /// When it may be shown again, if it may later.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_at: Option<Timestamp>,
}

impl Nudge {
    /// Whether the product may show it at `now`.
    pub fn eligibility(&self, now: Timestamp) -> Eligibility {
        let no = |reason: String, next_at: Option<Timestamp>| Eligibility {
            eligible: false,
            reason,
            next_at,
        };
        if let Some(at) = self
            .ended_at
            .filter(|_| self.status != NudgeStatus::Pending)
        {
            return no(format!("it was {} at {at}", self.status.as_str()), None);
        }
        if now >= self.expires_at {
            return no(format!("it expired at {}", self.expires_at), None);
        }
        if now < self.available_at {
            return no(
                format!(
                    "the contact budget holds it back until {}",
                    self.available_at
                ),
                Some(self.available_at),
            );
        }
        match self.frequency {
            NudgeFrequency::Once if self.shown_count > 0 => {
                let at = self.shown.last().copied().unwrap_or(self.created_at);
                return no(format!("it is shown once and was shown at {at}"), None);
            }
            NudgeFrequency::AtMost { n, per } => {
                let since = now.millis() - per.millis();
                let recent: Vec<Timestamp> = self
                    .shown
                    .iter()
                    .copied()
                    .filter(|t| t.millis() > since)
                    .collect();
                if recent.len() >= n as usize {
                    let next = recent
                        .iter()
                        .rev()
                        .nth(n as usize - 1)
                        .map(|t| Timestamp(t.millis() + per.millis()))
                        .filter(|t| *t < self.expires_at);
                    return no(
                        format!(
                            "it was shown {} times in the last {per} (at most {n} per {per})",
                            recent.len()
                        ),
                        next,
                    );
                }
            }
            NudgeFrequency::Once => {}
        }
        Eligibility {
            eligible: true,
            reason: "pending: the product may show it now".to_owned(),
            next_at: None,
        }
    }
}

/// How autopilot runs one account: its segment, what it watches and what it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutopilotState {
    /// The program's segment the account is in (the last one, once it left).
    pub segment: String,
    pub since: Timestamp,
    /// When the account left every autopilot segment (a person runs it again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<Timestamp>,
    /// The customer tasks being watched, by `<project>/<task>`.
    #[serde(default)]
    pub tasks: BTreeMap<String, TaskWatch>,
    /// Progress posted to the Shared Space, oldest first (the latest
    /// [`AutopilotState::MAX_POSTS`]).
    #[serde(default)]
    pub posts: Vec<Post>,
    /// The times autopilot handed the account to a person, oldest first.
    #[serde(default)]
    pub escalations: Vec<Escalation>,
    /// Actions waiting for, or decided by, a person of the team (the latest
    /// [`AutopilotState::MAX_DECIDED`] decided ones are kept).
    #[serde(default)]
    pub approvals: Vec<Approval>,
    /// When the next progress digest is due, while one is scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_digest: Option<Timestamp>,
}

impl AutopilotState {
    pub const MAX_POSTS: usize = 50;
    pub const MAX_DECIDED: usize = 50;

    pub fn active(&self) -> bool {
        self.stopped_at.is_none()
    }
}

/// One open customer task autopilot reminds about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskWatch {
    pub project: String,
    pub task: String,
    pub unlocked_at: Timestamp,
    /// When each reminder was sent (or queued for approval), in order.
    #[serde(default)]
    pub reminders: Vec<Timestamp>,
    /// When it was escalated as ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated_at: Option<Timestamp>,
    /// Set while a reminder waits for approval: the cadence goes on once it is decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
}

/// A progress update posted to the Shared Space's activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    pub at: Timestamp,
    pub title: String,
    pub text: String,
}

/// Autopilot handing an account to a person, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    pub at: Timestamp,
    /// `reminders_ignored`, `goal_at_risk`, `comment:<signal>`, `integration_failed`.
    pub reason: String,
    /// What it is about: a task, goal, comment or integration.
    pub subject: String,
    /// What autopilot saw, in words.
    pub evidence: String,
    /// The event that caused it.
    pub cause: String,
}

/// An autopilot action the program wants a person to approve first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub id: String,
    pub account: String,
    /// `remind`, `post` or `escalate`.
    pub action: String,
    pub reason: String,
    pub subject: String,
    pub evidence: String,
    /// What would happen, in words (recipients, subject).
    pub summary: String,
    /// The text that would go out, as rendered when queued.
    #[serde(default)]
    pub preview: String,
    /// What the action needs to run when approved.
    pub data: serde_json::Value,
    pub status: ApprovalStatus,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// The decision's note, or why the action was no longer needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
    /// Approved, but no longer needed when it was (the task was done meanwhile, or the
    /// account left autopilot).
    Moot,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Moot => "moot",
        }
    }
}
