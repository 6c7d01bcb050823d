//! The tables of `program.toml` read into draft values ([`Draft`] and friends) that keep the
//! place of every name and reference, for the cross-checks in `check`. Each field is read
//! on its own; a bad one is reported and replaced by a default so that reading goes on.
//! References are only checked for form here, not for existence.

use super::fields::{Cx, Table, Text};
use super::tree::{Loc, Node, Value};
use crate::event::EventType;
use crate::program::{
    Completion, Literal, NudgeFrequency, NudgeStyle, Reentry, Sender, SetTarget, SetValue, Side,
    Trigger, NUDGE_EXPIRES_DEFAULT,
};
use crate::time::Duration;

/// Everything `program.toml` says, before cross-checking.
#[derive(Debug, Default)]
pub(crate) struct Draft {
    pub name: Option<String>,
    pub sender: Option<Sender>,
    pub personas: Vec<DraftPersona>,
    pub team: Vec<DraftMember>,
    pub journeys: Vec<DraftJourney>,
    pub templates: Vec<DraftTemplate>,
    pub goals: Vec<DraftGoal>,
    pub rules: Vec<DraftRule>,
    /// `[crm] hubspot_won_stages`, when given.
    pub hubspot_won_stages: Option<Vec<Text>>,
    /// `[[crm.owners]]`: CRM owner email → CSM email.
    pub owners: Vec<(Text, Text)>,
    /// `[segmentation] default`.
    pub default_persona: Option<Text>,
    /// `[[segmentation.rules]]`.
    pub segments: Vec<DraftSegment>,
    /// `[budget]`, when given and valid.
    pub budget: Option<crate::program::ContactBudget>,
    /// `[[channels]]`: name and kind.
    pub channels: Vec<(Text, Text)>,
    /// `[health]`, when given.
    pub health: Option<DraftHealth>,
    /// `[audit]`: categories of CSM work (empty when not given).
    pub audit: crate::program::AuditSettings,
    /// `[autopilot]`, when given.
    pub autopilot: Option<super::autopilot::DraftAutopilot>,
}

/// `[health]`: the window (checked here) and the key features.
#[derive(Debug)]
pub(crate) struct DraftHealth {
    pub window: Option<Duration>,
    pub key_features: Vec<Text>,
}

#[derive(Debug)]
pub(crate) struct DraftSegment {
    pub persona: Option<Text>,
    pub property: Option<Text>,
    pub matches: Option<(Text, regex::Regex)>,
}

#[derive(Debug)]
pub(crate) struct DraftPersona {
    pub name: Option<Text>,
    pub description: String,
    pub journey: Option<Text>,
    pub aha_event: Option<String>,
    /// Product event names and `module:<name>` references, checked in `check`.
    pub milestones: Vec<Text>,
}

#[derive(Debug)]
pub(crate) struct DraftMember {
    pub name: Option<String>,
    pub email: Option<Text>,
    pub role: Option<Text>,
    pub availability: Option<crate::program::Availability>,
}

#[derive(Debug)]
pub(crate) struct DraftJourney {
    pub name: Option<Text>,
    pub title: Option<String>,
}

#[derive(Debug)]
pub(crate) struct DraftTemplate {
    pub name: Option<Text>,
    pub title: Option<String>,
    pub completion: Completion,
    pub next: Option<Text>,
    pub draft: bool,
    pub due_days: Option<u32>,
    pub tasks: Vec<DraftTask>,
}

#[derive(Debug)]
pub(crate) struct DraftTask {
    pub key: Option<Text>,
    pub title: Option<String>,
    pub description: String,
    pub owner: Option<Side>,
    pub assignee: Option<Text>,
    pub snooze_days: u32,
    pub due_days: Option<u32>,
    pub depends_on: Vec<Text>,
    pub milestone: bool,
    /// `kickoff = { prerequisites, attendees }`, checked against the folder in `check`.
    pub kickoff: Option<DraftKickoff>,
}

/// A task's `kickoff` table: module references and personas, with their places.
#[derive(Debug)]
pub(crate) struct DraftKickoff {
    pub prerequisites: Vec<Text>,
    pub attendees: Vec<Text>,
}

#[derive(Debug)]
pub(crate) struct DraftGoal {
    pub name: Option<Text>,
    pub title: Option<String>,
    pub template: Option<Text>,
    pub persona: Option<Text>,
    pub deadline_days: Option<u32>,
    pub metric: Option<DraftMetric>,
    pub target: Option<f64>,
    pub key_tasks: Vec<Text>,
}

#[derive(Debug)]
pub(crate) enum DraftMetric {
    ActiveUsers,
    SeatShareActive,
    EventCount(String),
    Task(Text),
}

#[derive(Debug)]
pub(crate) struct DraftRule {
    pub name: Option<Text>,
    pub description: String,
    pub trigger: Option<Trigger>,
    /// The condition's text, checked against the program in `check`.
    pub when: Option<Text>,
    pub urgent: bool,
    pub reentry: Reentry,
    pub actions: Vec<DraftAction>,
}

#[derive(Debug)]
pub(crate) enum DraftAction {
    Send {
        message: Text,
        to: DraftRecipient,
    },
    Emit {
        event: EventType,
    },
    Launch {
        template: Text,
        draft: bool,
    },
    Task {
        title: Text,
        assignee: Text,
        reason: Option<Text>,
    },
    Alert {
        channel: Text,
        message: Text,
        reason: Option<Text>,
    },
    Nudge {
        message: Text,
        to: DraftRecipient,
        selector: Option<Text>,
        style: NudgeStyle,
        expires: Duration,
        frequency: NudgeFrequency,
    },
    Enrol {
        journey: Text,
        to: DraftRecipient,
    },
    Set {
        target: SetTarget,
        value: SetValue,
        to: Option<DraftRecipient>,
    },
}

#[derive(Debug)]
pub(crate) enum DraftRecipient {
    Csm,
    Person,
    Assignee,
    People { persona: Option<Text> },
}

const TOP: &[&str] = &[
    "program",
    "personas",
    "team",
    "journeys",
    "templates",
    "goals",
    "rules",
    "crm",
    "segmentation",
    "budget",
    "channels",
    "health",
    "audit",
    "autopilot",
];
const HEALTH: &[&str] = &["window", "key_features"];
const BUDGET: &[&str] = &["max", "per", "over"];
const CHANNEL: &[&str] = &["name", "kind"];
const PROGRAM: &[&str] = &["name", "sender"];
const CRM: &[&str] = &["hubspot_won_stages", "owners"];
const OWNER: &[&str] = &["owner", "csm"];
const SEGMENTATION: &[&str] = &["default", "rules"];
const SEGMENT: &[&str] = &["persona", "property", "matches"];
const SENDER: &[&str] = &["name", "email"];
const PERSONA: &[&str] = &["name", "description", "journey", "aha_event", "milestones"];
const MEMBER: &[&str] = &["name", "email", "role", "availability"];
const AVAILABILITY: &[&str] = &[
    "days",
    "from",
    "to",
    "utc_offset",
    "time_zone",
    "slot",
    "days_ahead",
    "notice",
];
const JOURNEY: &[&str] = &["name", "title"];
const TEMPLATE: &[&str] = &[
    "name",
    "title",
    "completion",
    "next",
    "draft",
    "due_days",
    "tasks",
];
const TASK: &[&str] = &[
    "key",
    "title",
    "description",
    "owner",
    "assignee",
    "snooze_days",
    "due_days",
    "depends_on",
    "milestone",
    "kickoff",
];
const KICKOFF: &[&str] = &["prerequisites", "attendees"];
const GOAL: &[&str] = &[
    "name",
    "title",
    "template",
    "persona",
    "deadline_days",
    "metric",
    "target",
    "key_tasks",
];
const METRIC_TABLE: &[&str] = &["event_count", "task"];
const RULE: &[&str] = &[
    "name",
    "description",
    "on",
    "after",
    "since",
    "unless",
    "when",
    "urgent",
    "reentry",
    "actions",
];
const REENTRY_TABLE: &[&str] = &["every", "at_most"];
const ACTION: &[&str] = &[
    "send",
    "to",
    "emit",
    "launch",
    "draft",
    "task",
    "assignee",
    "reason",
    "alert",
    "message",
    "nudge",
    "selector",
    "style",
    "expires",
    "frequency",
    "enrol",
    "set",
    "value",
    "value_from",
];
const FREQUENCY_TABLE: &[&str] = &["at_most", "per"];
/// Keys that only a `nudge` action takes.
const NUDGE_ONLY: &[&str] = &["selector", "style", "expires", "frequency"];

const DURATION_HINT: &str =
    "write a number and a unit (s, m, h, d or w), e.g. \"30m\", \"72h\", \"3d\", \"1w\" or \"1d12h\"";
const TRIGGER_HINT: &str = "a rule fires either on an event (`on = \"deal.won\"`) or some time after one (`after = \"72h\"` with `since = \"deal.won\"`, and optionally `unless = \"academy.login\"`)";

/// Reads the whole of `program.toml` from its root table.
pub(crate) fn read_program(cx: &mut Cx<'_>, root: &Node) -> Draft {
    let mut draft = Draft::default();
    let Some(top) = cx.table(root, "program.toml", TOP) else {
        return draft;
    };
    match top.get("program") {
        Some(node) => {
            if let Some(t) = cx.table(node, "[program]", PROGRAM) {
                draft.name = cx.string(&t, "name").map(|t| t.value);
                draft.sender = match t.get("sender") {
                    Some(node) => read_sender(cx, node),
                    None => {
                        cx.error(
                            t.loc,
                            "[program] has no `sender`",
                            "add `sender = { name = \"Customer Success\", email = \"success@example.com\" }` to [program]: emails go out from it when an account has no CSM",
                        );
                        None
                    }
                };
            }
        }
        None => cx.error(
            Loc::START,
            "program.toml has no [program] table",
            "start the file with [program], giving `name = \"…\"` and `sender = { name = \"…\", email = \"…\" }`",
        ),
    }
    for node in cx.tables(&top, "personas") {
        if let Some(t) = cx.table(node, "[[personas]]", PERSONA) {
            draft.personas.push(DraftPersona {
                name: cx.name(&t, "name"),
                description: cx.text(&t, "description"),
                journey: cx.optional_name(&t, "journey"),
                aha_event: cx.optional_string(&t, "aha_event").map(|t| t.value),
                milestones: cx.strings(&t, "milestones"),
            });
        }
    }
    for node in cx.tables(&top, "team") {
        if let Some(t) = cx.table(node, "[[team]]", MEMBER) {
            draft.team.push(DraftMember {
                name: cx.string(&t, "name").map(|t| t.value),
                email: cx.string(&t, "email").and_then(|e| check_email(cx, e)),
                role: cx.name(&t, "role"),
                availability: t
                    .get("availability")
                    .and_then(|node| read_availability(cx, node)),
            });
        }
    }
    for node in cx.tables(&top, "journeys") {
        if let Some(t) = cx.table(node, "[[journeys]]", JOURNEY) {
            draft.journeys.push(DraftJourney {
                name: cx.name(&t, "name"),
                title: cx.string(&t, "title").map(|t| t.value),
            });
        }
    }
    for node in cx.tables(&top, "templates") {
        if let Some(t) = cx.table(node, "[[templates]]", TEMPLATE) {
            draft.templates.push(read_template(cx, &t));
        }
    }
    for node in cx.tables(&top, "goals") {
        if let Some(t) = cx.table(node, "[[goals]]", GOAL) {
            draft.goals.push(read_goal(cx, &t));
        }
    }
    for node in cx.tables(&top, "rules") {
        if let Some(t) = cx.table(node, "[[rules]]", RULE) {
            draft.rules.push(read_rule(cx, &t));
        }
    }
    if let Some(node) = top.get("crm") {
        if let Some(t) = cx.table(node, "[crm]", CRM) {
            if t.get("hubspot_won_stages").is_some() {
                let stages = cx.strings(&t, "hubspot_won_stages");
                if stages.is_empty() {
                    cx.error(
                        t.key_loc("hubspot_won_stages"),
                        "`hubspot_won_stages` is empty: no HubSpot deal would ever start an onboarding",
                        "list the internal ids of your won stages, e.g. `hubspot_won_stages = [\"closedwon\"]` (custom pipelines have numeric ids)",
                    );
                }
                draft.hubspot_won_stages = Some(stages);
            }
            for node in cx.tables(&t, "owners") {
                if let Some(o) = cx.table(node, "[[crm.owners]]", OWNER) {
                    let owner = cx.string(&o, "owner").and_then(|e| check_email(cx, e));
                    let csm = cx.string(&o, "csm").and_then(|e| check_email(cx, e));
                    if let (Some(owner), Some(csm)) = (owner, csm) {
                        draft.owners.push((owner, csm));
                    }
                }
            }
        }
    }
    for node in cx.tables(&top, "channels") {
        if let Some(t) = cx.table(node, "[[channels]]", CHANNEL) {
            let name = cx.name(&t, "name");
            let kind = cx.string(&t, "kind").and_then(|kind| {
                if matches!(kind.value.as_str(), "slack" | "webhook") {
                    Some(kind)
                } else {
                    cx.error(
                        kind.loc,
                        format!("`kind = \"{}\"` is neither `slack` nor `webhook`", kind.value),
                        "`slack` posts to a Slack incoming webhook; `webhook` sends a signed JSON request (Standard Webhooks)",
                    );
                    None
                }
            });
            if let (Some(name), Some(kind)) = (name, kind) {
                draft.channels.push((name, kind));
            }
        }
    }
    if let Some(node) = top.get("budget") {
        if let Some(t) = cx.table(node, "[budget]", BUDGET) {
            draft.budget = read_budget(cx, &t);
        }
    }
    if let Some(node) = top.get("health") {
        if let Some(t) = cx.table(node, "[health]", HEALTH) {
            draft.health = Some(read_health(cx, &t));
        }
    }
    if let Some(node) = top.get("audit") {
        draft.audit = super::audit::read_audit(cx, node);
    }
    if let Some(node) = top.get("autopilot") {
        draft.autopilot = super::autopilot::read_autopilot(cx, node);
    }
    if let Some(node) = top.get("segmentation") {
        if let Some(t) = cx.table(node, "[segmentation]", SEGMENTATION) {
            draft.default_persona = cx.optional_name(&t, "default");
            for node in cx.tables(&t, "rules") {
                if let Some(r) = cx.table(node, "[[segmentation.rules]]", SEGMENT) {
                    draft.segments.push(read_segment(cx, &r));
                }
            }
        }
    }
    draft
}

/// `[budget] max = 3, per = "7d", over = "defer" | "drop"` (`over` defaults to `defer`).
fn read_budget(cx: &mut Cx<'_>, t: &Table<'_>) -> Option<crate::program::ContactBudget> {
    use crate::program::{ContactBudget, OverBudget};
    let max = cx.count(t, "max", 1);
    let per = match cx.string(t, "per") {
        Some(text) => parse_duration(cx, &text),
        None => None,
    };
    let over = match cx.optional_string(t, "over") {
        None => Some(OverBudget::Defer),
        Some(text) => match text.value.as_str() {
            "defer" => Some(OverBudget::Defer),
            "drop" => Some(OverBudget::Drop),
            other => {
                cx.error(
                    text.loc,
                    format!("`over = \"{other}\"` is neither `defer` nor `drop`"),
                    "`defer` sends a held message once the person's window has room; `drop` does not send it",
                );
                None
            }
        },
    };
    Some(ContactBudget {
        max: max?,
        per: per?,
        over: over?,
    })
}

/// A team member's `availability = { days = ["mon", …], from = "09:00", to = "12:00",
/// utc_offset = "-05:00", slot = "30m", days_ahead = 14, notice = "24h" }`: `days`, `from`
/// and `to` are required; the rest have defaults (UTC, 30 minutes, 14 days, 24 hours).
fn read_availability(cx: &mut Cx<'_>, node: &Node) -> Option<crate::program::Availability> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let t = cx.table(node, "`availability`", AVAILABILITY)?;
    let mut ok = true;
    let mut days = Vec::new();
    for day in cx.strings(&t, "days") {
        match DAYS.iter().position(|d| day.value.eq_ignore_ascii_case(d)) {
            Some(i) if !days.contains(&(i as u8)) => days.push(i as u8),
            Some(_) => {}
            None => {
                ok = false;
                cx.error(
                    day.loc,
                    format!("`{}` is not a day of the week", day.value),
                    "write days as `mon`, `tue`, `wed`, `thu`, `fri`, `sat` or `sun`",
                );
            }
        }
    }
    if days.is_empty() && ok {
        ok = false;
        cx.error(
            t.loc,
            "`availability` has no `days`",
            "say which weekdays calls can be booked, e.g. `days = [\"mon\", \"wed\"]`",
        );
    }
    days.sort_unstable();
    let minute = |cx: &mut Cx<'_>, key: &str| -> Option<u32> {
        let text = cx.string(&t, key)?;
        let parsed = text.value.split_once(':').and_then(|(h, m)| {
            let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
            if !(1..=2).contains(&h.len()) || m.len() != 2 || !digits(h) || !digits(m) {
                return None;
            }
            let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
            (m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
        });
        if parsed.is_none() {
            cx.error(
                text.loc,
                format!("`{key} = \"{}\"` is not a time of day", text.value),
                "write times as hours and minutes in the member's local time, e.g. `\"09:00\"` or `\"17:30\"`",
            );
        }
        parsed
    };
    let from = minute(cx, "from");
    let to = minute(cx, "to");
    if let (Some(f), Some(t2)) = (from, to) {
        if f >= t2 {
            ok = false;
            cx.error(
                t.key_loc("to"),
                "`to` must be later than `from` in `availability`",
                "calls are offered from `from` until `to`, on the same day",
            );
        }
    }
    let utc_offset = match cx.optional_string(&t, "utc_offset") {
        None => Some(0),
        Some(text) => {
            let v = text.value.as_str();
            let parsed = v
                .strip_prefix('+')
                .map(|r| (1, r))
                .or_else(|| v.strip_prefix('-').map(|r| (-1, r)))
                .and_then(|(sign, rest)| {
                    let (h, m) = rest.split_once(':')?;
                    let (h, m) = (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?);
                    (h <= 14 && m < 60 && h.to_string().len() <= 2).then_some(sign * (h * 60 + m))
                });
            if parsed.is_none() {
                cx.error(
                    text.loc,
                    format!("`utc_offset = \"{v}\"` is not an offset from UTC"),
                    "write the member's local time minus UTC as `\"+01:00\"` or `\"-05:00\"` (a fixed offset: daylight saving is not followed)",
                );
            }
            parsed
        }
    };
    let time_zone = match cx.optional_string(&t, "time_zone") {
        None => None,
        Some(text) => {
            if t.get("utc_offset").is_some() {
                ok = false;
                cx.error(
                    text.loc,
                    "`availability` gives both `time_zone` and `utc_offset`",
                    "keep `time_zone` (it follows daylight saving); `utc_offset` is a fixed offset for members who keep one all year",
                );
            }
            let zone = crate::program::Zone::named(&text.value);
            if zone.is_none() {
                ok = false;
                cx.error(
                    text.loc,
                    format!("`{}` is not a time zone", text.value),
                    "write an IANA time zone name such as \"America/New_York\", \"Europe/Berlin\" or \"Asia/Kolkata\"",
                );
            }
            zone
        }
    };
    let duration = |cx: &mut Cx<'_>, key: &str, default: Duration| match cx.optional_string(&t, key)
    {
        None => Some(default),
        Some(text) => parse_duration(cx, &text),
    };
    let slot = duration(cx, "slot", Duration(30 * Duration::MINUTE.millis()));
    let notice = duration(cx, "notice", Duration(24 * Duration::HOUR.millis()));
    if let Some(s) = slot.filter(|s| s.millis() < Duration::MINUTE.millis() * 5) {
        ok = false;
        cx.error(
            t.key_loc("slot"),
            format!("a call of {s} is too short to book"),
            "give calls at least five minutes, e.g. `slot = \"30m\"`",
        );
    }
    let days_ahead = cx.optional_count(&t, "days_ahead", 1).unwrap_or(14);
    if !ok {
        return None;
    }
    Some(crate::program::Availability {
        days,
        from_minute: from?,
        to_minute: to?,
        utc_offset_minutes: utc_offset?,
        time_zone,
        slot: slot?,
        days_ahead: days_ahead.min(90),
        notice: notice?,
    })
}

/// `[health] window = "35d", key_features = ["Lead Imported", …]`: the window is whole days,
/// from one day to a year.
fn read_health(cx: &mut Cx<'_>, t: &Table<'_>) -> DraftHealth {
    let window = cx.optional_string(t, "window").and_then(|text| {
        let window = parse_duration(cx, &text)?;
        let day = Duration::DAY.millis();
        if window.millis() % day != 0 || !(1..=366).contains(&(window.millis() / day)) {
            cx.error(
                text.loc,
                format!("`window = \"{}\"` is not a whole number of days from 1 to 366", text.value),
                "health counts active users per day: write the window in days or weeks, e.g. `window = \"35d\"` or `window = \"4w\"`",
            );
            return None;
        }
        Some(window)
    });
    DraftHealth {
        window,
        key_features: cx.strings(t, "key_features"),
    }
}

fn read_segment(cx: &mut Cx<'_>, t: &Table<'_>) -> DraftSegment {
    let matches = cx.string(t, "matches").and_then(|text| {
        match regex::RegexBuilder::new(&text.value)
            .case_insensitive(true)
            .size_limit(1 << 20)
            .build()
        {
            Ok(re) => Some((text, re)),
            Err(error) => {
                let detail = error.to_string();
                let last = detail.lines().last().unwrap_or("").trim().to_owned();
                cx.error(
                    text.loc,
                    format!("`{}` is not a regular expression: {last}", text.value),
                    "write a pattern such as `\\b(admin|it|ops)\\b` (case is ignored; use `|` between alternatives and `\\b` for word boundaries)",
                );
                None
            }
        }
    });
    DraftSegment {
        persona: cx.name(t, "persona"),
        property: cx.string(t, "property"),
        matches,
    }
}

fn read_sender(cx: &mut Cx<'_>, node: &Node) -> Option<Sender> {
    let t = cx.table(node, "`sender`", SENDER)?;
    let name = cx.string(&t, "name");
    let email = cx.string(&t, "email").and_then(|e| check_email(cx, e));
    Some(Sender {
        name: name?.value,
        email: email?.value,
    })
}

/// Whether `email` looks like an address (`local@domain`, no spaces); reports it when not.
fn check_email(cx: &mut Cx<'_>, email: Text) -> Option<Text> {
    let ok = match email.value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && !email.value.contains(char::is_whitespace)
        }
        None => false,
    };
    if ok {
        Some(email)
    } else {
        cx.error(
            email.loc,
            format!("`{}` is not an email address", email.value),
            "write a plain address such as `dana@example.com`, without a display name",
        );
        None
    }
}

fn read_template(cx: &mut Cx<'_>, t: &Table<'_>) -> DraftTemplate {
    let name = cx.name(t, "name");
    let completion = match cx.optional_string(t, "completion") {
        None => Completion::FinalTask,
        Some(text) => match text.value.as_str() {
            "final_task" => Completion::FinalTask,
            "all_tasks" => Completion::AllTasks,
            "manual" => Completion::Manual,
            other => {
                cx.error(
                    text.loc,
                    format!("`{other}` is not a completion mode"),
                    "use `final_task` (done when the last task is done), `all_tasks` or `manual`",
                );
                Completion::FinalTask
            }
        },
    };
    let template_name = name.as_ref().map_or("?", |n| n.value.as_str()).to_owned();
    let mut tasks = Vec::new();
    for node in cx.tables(t, "tasks") {
        let what = format!("a task of template `{template_name}`");
        if let Some(task) = cx.table(node, &what, TASK) {
            tasks.push(read_task(cx, &task));
        }
    }
    if tasks.is_empty() && completion != Completion::Manual {
        cx.error(
            t.loc,
            format!("template `{template_name}` has no tasks"),
            "add tasks with [[templates.tasks]] sections after the template, or set `completion = \"manual\"`",
        );
    }
    DraftTemplate {
        name,
        title: cx.string(t, "title").map(|t| t.value),
        completion,
        next: cx.optional_name(t, "next"),
        draft: cx.boolean(t, "draft", false),
        due_days: cx.optional_count(t, "due_days", 1),
        tasks,
    }
}

fn read_task(cx: &mut Cx<'_>, t: &Table<'_>) -> DraftTask {
    let owner = cx.string(t, "owner").and_then(|text| match text.value.as_str() {
        "team" => Some(Side::Team),
        "customer" => Some(Side::Customer),
        other => {
            cx.error(
                text.loc,
                format!("`{other}` is not a task owner"),
                "use `owner = \"team\"` (our side, assigned by role) or `owner = \"customer\"` (assigned to a persona)",
            );
            None
        }
    });
    let snooze_days = cx.optional_count(t, "snooze_days", 0).unwrap_or(0);
    let due_days = cx.optional_count(t, "due_days", 0);
    if let Some(due) = due_days.filter(|&due| due < snooze_days) {
        cx.error(
            t.get("due_days").map_or(t.loc, |n| n.loc),
            format!("the task is due on day {due}, before it shows on day {snooze_days}"),
            "make `due_days` at least `snooze_days`, both counted from the project's launch",
        );
    }
    DraftTask {
        key: cx.name(t, "key"),
        title: cx.string(t, "title").map(|t| t.value),
        description: cx.text(t, "description"),
        owner,
        assignee: cx.string(t, "assignee"),
        snooze_days,
        due_days,
        depends_on: cx.strings(t, "depends_on"),
        milestone: cx.boolean(t, "milestone", false),
        kickoff: t.get("kickoff").and_then(|node| read_kickoff(cx, node)),
    }
}

/// `kickoff = { prerequisites = ["01-welcome", …], attendees = ["admin", …] }`:
/// `prerequisites` is required (it may be empty), `attendees` defaults to everyone.
fn read_kickoff(cx: &mut Cx<'_>, node: &Node) -> Option<DraftKickoff> {
    let t = cx.table(node, "`kickoff`", KICKOFF)?;
    if t.get("prerequisites").is_none() {
        cx.error(
            t.loc,
            "`kickoff` has no `prerequisites`",
            "list the Academy modules attendees should finish before the call, e.g. `kickoff = { prerequisites = [\"01-welcome\"], attendees = [\"admin\"] }`",
        );
    }
    Some(DraftKickoff {
        prerequisites: cx.strings(&t, "prerequisites"),
        attendees: cx.strings(&t, "attendees"),
    })
}

fn read_goal(cx: &mut Cx<'_>, t: &Table<'_>) -> DraftGoal {
    let metric = match t.get("metric") {
        None => {
            cx.error(
                t.loc,
                "[[goals]] has no `metric`",
                "add `metric = \"active_users\"`, `\"seat_share_active\"`, `{ event_count = \"Lead Imported\" }` or `{ task = \"kickoff\" }`",
            );
            None
        }
        Some(node) => read_metric(cx, node),
    };
    let target = cx.non_negative_number(t, "target");
    if let (Some(DraftMetric::SeatShareActive), Some(target)) = (&metric, target) {
        if target > 1.0 {
            cx.error(
                t.get("target").map_or(t.loc, |n| n.loc),
                format!("a seat share target is a fraction from 0 to 1, not {target}"),
                "write 80% as `target = 0.8`",
            );
        }
    }
    DraftGoal {
        name: cx.name(t, "name"),
        title: cx.string(t, "title").map(|t| t.value),
        template: cx.optional_name(t, "template"),
        persona: cx.optional_name(t, "persona"),
        deadline_days: cx.count(t, "deadline_days", 1),
        metric,
        target,
        key_tasks: cx.strings(t, "key_tasks"),
    }
}

fn read_metric(cx: &mut Cx<'_>, node: &Node) -> Option<DraftMetric> {
    const HINT: &str = "use `metric = \"active_users\"`, `\"seat_share_active\"`, `{ event_count = \"Lead Imported\" }` or `{ task = \"kickoff\" }`";
    match &node.value {
        Value::String(s) => match s.as_str() {
            "active_users" => Some(DraftMetric::ActiveUsers),
            "seat_share_active" => Some(DraftMetric::SeatShareActive),
            other => {
                cx.error(node.loc, format!("`{other}` is not a goal metric"), HINT);
                None
            }
        },
        Value::Table(_) => {
            let t = cx.table(node, "`metric`", METRIC_TABLE)?;
            let event = cx.optional_string(&t, "event_count");
            let task = cx.optional_string(&t, "task");
            match (event, task) {
                (Some(event), None) => Some(DraftMetric::EventCount(event.value)),
                (None, Some(task)) => cx.check_name(&task, "task key").map(DraftMetric::Task),
                (Some(_), Some(_)) => {
                    cx.error(
                        node.loc,
                        "a metric counts either events or a task, not both",
                        HINT,
                    );
                    None
                }
                (None, None) => {
                    if t.get("event_count").is_none() && t.get("task").is_none() {
                        cx.error(node.loc, "the metric table is empty", HINT);
                    }
                    None
                }
            }
        }
        other => {
            cx.error(
                node.loc,
                format!("`metric` must be a string or a table, not {}", other.kind()),
                HINT,
            );
            None
        }
    }
}

fn read_rule(cx: &mut Cx<'_>, t: &Table<'_>) -> DraftRule {
    let name = cx.name(t, "name");
    let rule_name = name.as_ref().map_or("?", |n| n.value.as_str()).to_owned();
    let on = read_event(cx, t, "on");
    let after = read_duration(cx, t, "after");
    let since = read_event(cx, t, "since");
    let unless = read_event(cx, t, "unless");
    let has = |key: &str| t.get(key).is_some();
    let trigger = match (has("on"), has("after")) {
        (true, true) => {
            cx.error(
                t.key_loc("after"),
                format!("rule `{rule_name}` has both `on` and `after`"),
                format!("keep one of them: {TRIGGER_HINT}"),
            );
            None
        }
        (false, false) => {
            cx.error(
                t.loc,
                format!("rule `{rule_name}` has no trigger"),
                format!("add one: {TRIGGER_HINT}"),
            );
            None
        }
        (true, false) => {
            for key in ["since", "unless"] {
                if has(key) {
                    cx.error(
                        t.key_loc(key),
                        format!("`{key}` in rule `{rule_name}` only goes with `after`"),
                        format!("remove `{key}`, or replace `on` by `after`: {TRIGGER_HINT}"),
                    );
                }
            }
            on.map(|event| Trigger::On { event })
        }
        (false, true) => {
            if !has("since") {
                cx.error(
                    t.key_loc("after"),
                    format!("rule `{rule_name}` says `after` but not since which event"),
                    "add `since = \"deal.won\"` (or another event type) next to `after`",
                );
            }
            match (after, since) {
                (Some(delay), Some(since)) => Some(Trigger::After {
                    delay,
                    since,
                    unless,
                }),
                _ => None,
            }
        }
    };
    let reentry = match t.get("reentry") {
        None => Reentry::Once,
        Some(node) => read_reentry(cx, node).unwrap_or(Reentry::Once),
    };
    let mut actions = Vec::new();
    for node in cx.tables(t, "actions") {
        let what = format!("an action of rule `{rule_name}`");
        if let Some(action) = cx.table(node, &what, ACTION) {
            actions.extend(read_action(cx, &action));
        }
    }
    let no_actions = t
        .get("actions")
        .is_none_or(|n| matches!(&n.value, Value::Array(items) if items.is_empty()));
    if no_actions {
        cx.error(
            t.loc,
            format!("rule `{rule_name}` has no actions"),
            "add [[rules.actions]] sections after the rule, e.g. `send = \"welcome\"` with `to = \"people\"`, or `emit = \"welcome.sent\"`",
        );
    }
    DraftRule {
        name,
        description: cx.text(t, "description"),
        trigger,
        when: cx.optional_string(t, "when"),
        urgent: cx.boolean(t, "urgent", false),
        reentry,
        actions,
    }
}

fn read_event(cx: &mut Cx<'_>, t: &Table<'_>, key: &str) -> Option<EventType> {
    let text = cx.optional_string(t, key)?;
    match EventType::parse(&text.value) {
        Ok(event) => Some(event),
        Err(message) => {
            cx.error(
                text.loc,
                message,
                "event types are lower-case and dotted, e.g. `deal.won`, `academy.login` or `product.track`",
            );
            None
        }
    }
}

fn read_duration(cx: &mut Cx<'_>, t: &Table<'_>, key: &str) -> Option<Duration> {
    let text = cx.optional_string(t, key)?;
    parse_duration(cx, &text)
}

fn parse_duration(cx: &mut Cx<'_>, text: &Text) -> Option<Duration> {
    match Duration::parse(&text.value) {
        Ok(d) => Some(d),
        Err(_) => {
            cx.error(
                text.loc,
                format!("`{}` is not a duration", text.value),
                DURATION_HINT,
            );
            None
        }
    }
}

fn read_reentry(cx: &mut Cx<'_>, node: &Node) -> Option<Reentry> {
    const HINT: &str =
        "use `reentry = \"once\"`, `reentry = { every = \"7d\" }` or `reentry = { at_most = 3 }`";
    match &node.value {
        Value::String(s) if s == "once" => Some(Reentry::Once),
        Value::String(s) => {
            cx.error(node.loc, format!("`{s}` is not a re-entry policy"), HINT);
            None
        }
        Value::Table(_) => {
            let t = cx.table(node, "`reentry`", REENTRY_TABLE)?;
            let every = cx.optional_string(&t, "every");
            let at_most = cx.optional_count(&t, "at_most", 1);
            match (t.get("every").is_some(), t.get("at_most").is_some()) {
                (true, true) => {
                    cx.error(node.loc, "`reentry` has both `every` and `at_most`", HINT);
                    None
                }
                (false, false) => {
                    cx.error(node.loc, "`reentry` is empty", HINT);
                    None
                }
                (true, false) => every
                    .and_then(|text| parse_duration(cx, &text))
                    .map(Reentry::Every),
                (false, true) => at_most.map(Reentry::AtMost),
            }
        }
        other => {
            cx.error(
                node.loc,
                format!(
                    "`reentry` must be a string or a table, not {}",
                    other.kind()
                ),
                HINT,
            );
            None
        }
    }
}

fn read_action(cx: &mut Cx<'_>, t: &Table<'_>) -> Option<DraftAction> {
    const HINT: &str = "an action either sends a message (`send = \"welcome\"` with `to = \"people\"`, `\"csm\"` or `\"persona:admin\"`), emits an event (`emit = \"welcome.sent\"`), launches a project (`launch = \"onboarding\"`), opens a team task (`task = \"Call them\"` with `assignee = \"csm\"`), posts an alert (`alert = \"sales\"` with `message`) nudges in the product (`nudge = \"import-tip\"`), enrols in a journey (`enrol = \"everyday-selling\"`) or sets a field (`set = \"account.fields.<name>\"` with `value`)";
    if t.get("nudge").is_some() {
        return read_nudge(cx, t, HINT);
    }
    if t.get("enrol").is_some() {
        return read_enrol(cx, t, HINT);
    }
    if t.get("set").is_some() {
        return read_set(cx, t, HINT);
    }
    for key in ["value", "value_from"] {
        if t.get(key).is_some() {
            cx.error(
                t.key_loc(key),
                format!("`{key}` only goes with `set`"),
                "write `set = \"account.fields.<name>\"` or `set = \"person.properties.<name>\"` with `value` or `value_from`",
            );
        }
    }
    for key in NUDGE_ONLY {
        if t.get(key).is_some() {
            cx.error(
                t.key_loc(key),
                format!("`{key}` only goes with `nudge`"),
                HINT,
            );
        }
    }
    if t.get("alert").is_some() {
        for key in ["send", "emit", "launch", "task", "to", "draft", "assignee"] {
            if t.get(key).is_some() {
                cx.error(
                    t.key_loc(key),
                    format!("`{key}` does not go with `alert`"),
                    HINT,
                );
            }
        }
        let channel = cx
            .string(t, "alert")
            .and_then(|text| cx.check_name(&text, "channel name"));
        let message = cx
            .string(t, "message")
            .and_then(|text| cx.check_name(&text, "message name"));
        return Some(DraftAction::Alert {
            channel: channel?,
            message: message?,
            reason: cx.optional_string(t, "reason"),
        });
    }
    if t.get("message").is_some() {
        cx.error(
            t.key_loc("message"),
            "`message` only goes with `alert`",
            "write `send = \"<message>\"` to email it, or `alert = \"<channel>\"` with `message` to post it",
        );
    }
    if t.get("launch").is_some() || t.get("task").is_some() {
        return read_project_action(cx, t, HINT);
    }
    for key in ["draft", "assignee", "reason"] {
        if t.get(key).is_some() {
            cx.error(
                t.key_loc(key),
                format!("`{key}` only goes with `launch` or `task`"),
                HINT,
            );
        }
    }
    let send = cx.optional_string(t, "send");
    let emit = read_event(cx, t, "emit");
    match (t.get("send").is_some(), t.get("emit").is_some()) {
        (true, true) => {
            cx.error(
                t.key_loc("emit"),
                "an action has both `send` and `emit`",
                HINT,
            );
            None
        }
        (false, false) => {
            cx.error(t.loc, "an action has neither `send` nor `emit`", HINT);
            None
        }
        (false, true) => {
            if t.get("to").is_some() {
                cx.error(
                    t.key_loc("to"),
                    "`to` only goes with `send`",
                    "remove `to`: an emitted event belongs to the account, not to a recipient",
                );
            }
            emit.map(|event| DraftAction::Emit { event })
        }
        (true, false) => {
            let message = send.and_then(|text| cx.check_name(&text, "message name"));
            let to = match cx.string(t, "to") {
                None => None,
                Some(text) => read_recipient(cx, text),
            };
            Some(DraftAction::Send {
                message: message?,
                to: to?,
            })
        }
    }
}

/// A `launch = "<template>"` (with `draft`) or `task = "<title>"` (with `assignee` and
/// `reason`) action; the template and the role are checked in `check`.
fn read_project_action(cx: &mut Cx<'_>, t: &Table<'_>, hint: &str) -> Option<DraftAction> {
    let given: Vec<&str> = ["send", "emit", "launch", "task"]
        .into_iter()
        .filter(|k| t.get(k).is_some())
        .collect();
    if given.len() > 1 {
        cx.error(
            t.key_loc(given[1]),
            format!(
                "an action has both `{}` and `{}`; it does one thing",
                given[0], given[1]
            ),
            hint,
        );
        return None;
    }
    let only = |cx: &mut Cx<'_>, keys: &[&str], with: &str| {
        for key in keys {
            if t.get(key).is_some() {
                cx.error(
                    t.key_loc(key),
                    format!("`{key}` does not go with `{with}`"),
                    hint,
                );
            }
        }
    };
    if t.get("launch").is_some() {
        only(cx, &["to", "assignee", "reason"], "launch");
        let template = cx
            .string(t, "launch")
            .and_then(|text| cx.check_name(&text, "template name"));
        let draft = cx.boolean(t, "draft", false);
        return Some(DraftAction::Launch {
            template: template?,
            draft,
        });
    }
    only(cx, &["to", "draft"], "task");
    let title = cx.string(t, "task");
    let assignee = cx.name(t, "assignee");
    let reason = cx.optional_string(t, "reason");
    Some(DraftAction::Task {
        title: title?,
        assignee: assignee?,
        reason,
    })
}

/// A `nudge = "<message>"` action, with `to` (default `person`), `selector`, `style`,
/// `expires` and `frequency`.
fn read_nudge(cx: &mut Cx<'_>, t: &Table<'_>, hint: &str) -> Option<DraftAction> {
    for key in [
        "send",
        "emit",
        "launch",
        "task",
        "alert",
        "message",
        "draft",
        "assignee",
        "reason",
        "enrol",
        "set",
        "value",
        "value_from",
    ] {
        if t.get(key).is_some() {
            cx.error(
                t.key_loc(key),
                format!("`{key}` does not go with `nudge`"),
                hint,
            );
        }
    }
    let message = cx
        .string(t, "nudge")
        .and_then(|text| cx.check_name(&text, "message name"));
    let to = match cx.optional_string(t, "to") {
        None => Some(DraftRecipient::Person),
        Some(text) if text.value == "csm" => {
            cx.error(
                text.loc,
                "a nudge is shown in the product to the account's people, not to the CSM",
                "use `to = \"person\"` (the person the event names), `\"people\"` or `\"persona:<name>\"`; reach the CSM with `send` or `task`",
            );
            None
        }
        Some(text) => read_recipient(cx, text),
    };
    let selector = cx.optional_string(t, "selector");
    if let Some(selector) = &selector {
        if selector.value.trim().is_empty() || selector.value.contains(['\n', '<', '>', '{']) {
            cx.error(
                selector.loc,
                format!("`{}` is not a CSS selector", selector.value),
                "give the selector of the element to point at, e.g. `#import-button` or `[data-onboard=\"import\"]`",
            );
        }
    }
    let style = match cx.optional_string(t, "style") {
        None => Some(NudgeStyle::Tip),
        Some(text) => match text.value.as_str() {
            "tip" => Some(NudgeStyle::Tip),
            "celebration" => Some(NudgeStyle::Celebration),
            other => {
                cx.error(
                    text.loc,
                    format!("`{other}` is not a nudge style"),
                    "use `style = \"tip\"` (the default) or `style = \"celebration\"`",
                );
                None
            }
        },
    };
    let expires = match t.get("expires") {
        None => Some(NUDGE_EXPIRES_DEFAULT),
        Some(_) => read_duration(cx, t, "expires"),
    };
    let frequency = match t.get("frequency") {
        None => Some(NudgeFrequency::Once),
        Some(node) => read_frequency(cx, node),
    };
    Some(DraftAction::Nudge {
        message: message?,
        to: to?,
        selector,
        style: style?,
        expires: expires?,
        frequency: frequency?,
    })
}

fn read_frequency(cx: &mut Cx<'_>, node: &Node) -> Option<NudgeFrequency> {
    const HINT: &str = "use `frequency = \"once\"` or `frequency = { at_most = 3, per = \"7d\" }`";
    match &node.value {
        Value::String(s) if s == "once" => Some(NudgeFrequency::Once),
        Value::String(s) => {
            cx.error(node.loc, format!("`{s}` is not a nudge frequency"), HINT);
            None
        }
        Value::Table(_) => {
            let t = cx.table(node, "`frequency`", FREQUENCY_TABLE)?;
            let n = cx.optional_count(&t, "at_most", 1);
            let per = cx.optional_string(&t, "per");
            if t.get("at_most").is_none() || t.get("per").is_none() {
                cx.error(node.loc, "`frequency` needs both `at_most` and `per`", HINT);
                return None;
            }
            let per = parse_duration(cx, &per?)?;
            if per.millis() <= 0 {
                cx.error(node.loc, "`per` must be longer than zero", HINT);
                return None;
            }
            Some(NudgeFrequency::AtMost { n: n?, per })
        }
        other => {
            cx.error(
                node.loc,
                format!(
                    "`frequency` must be a string or a table, not {}",
                    other.kind()
                ),
                HINT,
            );
            None
        }
    }
}

fn read_recipient(cx: &mut Cx<'_>, text: Text) -> Option<DraftRecipient> {
    match text.value.as_str() {
        "csm" => Some(DraftRecipient::Csm),
        "people" => Some(DraftRecipient::People { persona: None }),
        "person" => Some(DraftRecipient::Person),
        "assignee" => Some(DraftRecipient::Assignee),
        other => match other.strip_prefix("persona:") {
            Some(persona) => {
                let persona = Text {
                    value: persona.to_owned(),
                    loc: text.loc,
                };
                cx.check_name(&persona, "persona")
                    .map(|persona| DraftRecipient::People {
                        persona: Some(persona),
                    })
            }
            None => {
                cx.error(
                    text.loc,
                    format!("`{other}` is not a recipient"),
                    "use `to = \"people\"` (the account's people), `to = \"person\"` (the person the event is about, e.g. on `person.enrolled`), `to = \"persona:admin\"` (those of one persona), `to = \"assignee\"` (whom a task event names) or `to = \"csm\"` (the account's CSM)",
                );
                None
            }
        },
    }
}

/// Reports every key of an action that does not go with its kind (`with`).
fn only_keys(cx: &mut Cx<'_>, t: &Table<'_>, allowed: &[&str], with: &str, hint: &str) {
    for key in ACTION {
        if !allowed.contains(key) && t.get(key).is_some() {
            cx.error(
                t.key_loc(key),
                format!("`{key}` does not go with `{with}`"),
                hint,
            );
        }
    }
}

/// A recipient of an action that concerns the account's people (`enrol`, `set` of a person
/// property): anything but the team.
fn read_people_recipient(cx: &mut Cx<'_>, text: Text, what: &str) -> Option<DraftRecipient> {
    if text.value == "csm" {
        cx.error(
            text.loc,
            format!("{what} the account's people, not the CSM"),
            "use `to = \"person\"` (the person the event names), `\"people\"`, `\"persona:<name>\"` or `\"assignee\"`",
        );
        return None;
    }
    read_recipient(cx, text)
}

/// An `enrol = "<journey>"` action, with `to` (default `person`); the journey is checked in
/// `check`.
fn read_enrol(cx: &mut Cx<'_>, t: &Table<'_>, hint: &str) -> Option<DraftAction> {
    only_keys(cx, t, &["enrol", "to"], "enrol", hint);
    let journey = cx
        .string(t, "enrol")
        .and_then(|text| cx.check_name(&text, "journey name"));
    let to = match cx.optional_string(t, "to") {
        None => Some(DraftRecipient::Person),
        Some(text) => read_people_recipient(cx, text, "`enrol` enrols"),
    };
    Some(DraftAction::Enrol {
        journey: journey?,
        to: to?,
    })
}

/// A `set = "account.fields.<name>"` or `"person.properties.<name>"` action, with `value`
/// (a string, number or boolean) or `value_from = "event.data.<path>"`, and for a person
/// property `to`.
fn read_set(cx: &mut Cx<'_>, t: &Table<'_>, hint: &str) -> Option<DraftAction> {
    const TARGET_HINT: &str = "write `set = \"account.fields.<name>\"` (a field of the account, read by conditions as `account.fields.<name>`) or `set = \"person.properties.<name>\"` (a property of the person the event names), with a name of letters, digits, `-` and `_`";
    const VALUE_HINT: &str = "give `value = true` (a string, number or boolean) or `value_from = \"event.data.<path>\"` (copied from the event)";
    only_keys(cx, t, &["set", "to", "value", "value_from"], "set", hint);
    let text = cx.string(t, "set")?;
    let target = {
        let (kind, name) = if let Some(name) = text.value.strip_prefix("account.fields.") {
            (true, name)
        } else if let Some(name) = text.value.strip_prefix("person.properties.") {
            (false, name)
        } else {
            (true, "")
        };
        let well_formed = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !well_formed {
            cx.error(
                text.loc,
                format!("`{}` is not a field `set` can write", text.value),
                TARGET_HINT,
            );
            None
        } else if kind {
            Some(SetTarget::AccountField(name.to_owned()))
        } else {
            Some(SetTarget::PersonProperty(name.to_owned()))
        }
    };
    let to = match cx.optional_string(t, "to") {
        None => Some(None),
        Some(to) => match &target {
            Some(SetTarget::AccountField(_)) => {
                cx.error(
                    to.loc,
                    "`to` does not go with `set` of an account field",
                    "remove `to`: an account field belongs to the account; `to` chooses whose `person.properties.<name>` is set",
                );
                None
            }
            _ => read_people_recipient(cx, to, "`set` of a person property writes to").map(Some),
        },
    };
    let value = match (t.get("value"), t.get("value_from")) {
        (Some(_), Some(_)) => {
            cx.error(
                t.key_loc("value_from"),
                "an action has both `value` and `value_from`",
                format!("keep one of them: {VALUE_HINT}"),
            );
            None
        }
        (None, None) => {
            cx.error(
                t.key_loc("set"),
                format!("`set = \"{}\"` has no `value`", text.value),
                VALUE_HINT,
            );
            None
        }
        (Some(node), None) => {
            let json = match &node.value {
                Value::String(s) => Some(serde_json::Value::from(s.clone())),
                Value::Integer(n) => Some(serde_json::Value::from(*n)),
                Value::Float(f) => serde_json::Number::from_f64(*f).map(serde_json::Value::Number),
                Value::Boolean(b) => Some(serde_json::Value::from(*b)),
                _ => None,
            };
            if json.is_none() {
                cx.error(
                    node.loc,
                    format!(
                        "`value` must be a string, a number or a boolean, not {}",
                        node.value.kind()
                    ),
                    VALUE_HINT,
                );
            }
            json.map(|json| SetValue::Literal(Literal(json)))
        }
        (None, Some(_)) => {
            let from = cx.string(t, "value_from")?;
            match from.value.strip_prefix("event.") {
                None => {
                    cx.error(
                        from.loc,
                        format!("`value_from = \"{}\"` does not start with `event.`", from.value),
                        "copy a value from the event at hand: `value_from = \"event.data.<path>\"`, e.g. `\"event.data.plan\"`",
                    );
                    None
                }
                Some(rest) => match rest.strip_prefix("data") {
                    Some(path)
                        if path.is_empty()
                            || (path.starts_with('.')
                                && !path[1..].split('.').any(str::is_empty)) =>
                    {
                        Some(SetValue::FromEvent(
                            path.strip_prefix('.').unwrap_or(path).to_owned(),
                        ))
                    }
                    _ => {
                        cx.error(
                            from.loc,
                            format!("`value_from = \"{}\"` is not under the event's data", from.value),
                            "copy a value from the event's data: `value_from = \"event.data.<path>\"`, e.g. `\"event.data.plan\"`",
                        );
                        None
                    }
                },
            }
        }
    };
    Some(DraftAction::Set {
        target: target?,
        value: value?,
        to: to?,
    })
}
