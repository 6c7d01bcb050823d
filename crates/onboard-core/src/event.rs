//! Events: facts that happened, as they enter the log ([`NewEvent`]) and as they are stored
//! ([`Event`]). Parsing of external input into these types happens here, so every intake
//! (the generic `/api/events`, CRM hooks, usage) produces the same validated shape.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Largest accepted length of an event id (dedupe key), type or account key.
pub const MAX_KEY_LEN: usize = 200;

/// An event type such as `deal.won`, `academy.login` or `timer.fired`: lower-case ASCII
/// letters, digits, `_`, `-` and `.`, 1 to 100 characters, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventType(String);

impl EventType {
    pub fn parse(text: &str) -> Result<Self, String> {
        let ok = !text.is_empty()
            && text.len() <= 100
            && text.starts_with(|c: char| c.is_ascii_lowercase())
            && text.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.')
            });
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "`{text}` is not an event type: use 1 to 100 lower-case letters, digits, `_`, `-` or `.`, starting with a letter (e.g. `deal.won`)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EventType {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        EventType::parse(&value)
    }
}

impl From<EventType> for String {
    fn from(value: EventType) -> Self {
        value.0
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Event types the engine itself understands.
pub mod types {
    pub const DEAL_WON: &str = "deal.won";
    pub const PERSON_ADDED: &str = "person.added";
    /// A person's persona set by hand (`data.email`, `data.persona`).
    pub const PERSON_RESEGMENTED: &str = "person.resegmented";
    /// Derived: a person was enrolled in a journey: their persona's, or the one a rule's
    /// `enrol` names (`data.email`, `data.name`, `data.persona`, `data.journey`,
    /// `data.previous_journey`: the one they left, or null).
    pub const PERSON_ENROLLED: &str = "person.enrolled";
    /// Derived: a rule's `set` changed an account field or a person property
    /// (`data.target`: `account.fields` or `person.properties`, `data.name`, `data.value`,
    /// `data.previous`: null when unset, `data.email` for a person, `data.rule`).
    pub const FIELD_SET: &str = "field.set";
    pub const ACCOUNT_CHURNED: &str = "account.churned";
    pub const ACCOUNT_PAUSED: &str = "account.paused";
    pub const ACCOUNT_RESUMED: &str = "account.resumed";
    pub const TIMER_FIRED: &str = "timer.fired";
    /// A learner signed in to the Academy (`data.email`).
    pub const ACADEMY_LOGIN: &str = "academy.login";
    /// A person asked for a new sign-in link (`data.email`) on the Academy's pages.
    pub const ACADEMY_LINK_REQUESTED: &str = "academy.link_requested";

    // Projects and tasks. From the API: a project asked for (`data.template`, `data.draft`),
    // a draft launched or a project completed by hand (`data.project`), and changes to a
    // task (`data.project`, `data.task`, plus `by`, `assignee`, `author` and `text`).
    pub const PROJECT_LAUNCH_REQUESTED: &str = "project.launch_requested";
    pub const PROJECT_LAUNCH: &str = "project.launch";
    pub const PROJECT_COMPLETE: &str = "project.complete";
    pub const TASK_COMPLETED: &str = "task.completed";
    pub const TASK_REOPENED: &str = "task.reopened";
    pub const TASK_REASSIGNED: &str = "task.reassigned";
    pub const COMMENT_POSTED: &str = "comment.posted";
    /// A comment named a person of the account (`@first-name` or `@email`); data: email,
    /// author, project, task, text.
    pub const PERSON_MENTIONED: &str = "person.mentioned";
    /// A person of the account invited a colleague from another email domain to the Shared
    /// Space: the CSM decides (adding them is a `person.added`); data: email, name,
    /// invited_by.
    pub const INVITE_REQUESTED: &str = "invite.requested";
    /// A person of the account uploaded a file to the Shared Space; data: file (its id),
    /// name, size, content_type, by (their email), project (or null).
    pub const FILE_UPLOADED: &str = "file.uploaded";
    /// A person of the account booked (or moved) the kickoff call of a project's kickoff task
    /// in a slot of the CSM's calendar; data: project, task, start and end (RFC 3339, UTC),
    /// by (their email). The processor records it on the task and sends the invites.
    pub const KICKOFF_BOOKED: &str = "kickoff.booked";
    /// A team task done (`data.task`: its id).
    pub const TEAM_TASK_COMPLETED: &str = "team_task.completed";
    /// An open alert closed by hand (`data.alert`: its id): the next firing posts again.
    pub const ALERT_CLOSED: &str = "alert.closed";
    // Derived: what the projects' lifecycle announces, for rules to act on.
    pub const PROJECT_LAUNCHED: &str = "project.launched";
    pub const PROJECT_COMPLETED: &str = "project.completed";
    pub const TASK_UNLOCKED: &str = "task.unlocked";
    pub const TASK_DUE_SOON: &str = "task.due_soon";
    pub const TASK_OVERDUE: &str = "task.overdue";
    pub const TASK_OVERDUE_REMINDER: &str = "task.overdue_reminder";
    pub const MILESTONE_REACHED: &str = "milestone.reached";

    // The Academy. A learner finished a module (`data.email`, `data.journey`,
    // `data.module`: its slug, `data.answer` when it has a checkpoint); derived: a learner
    // finished every core module of their journey (`data.email`, `data.journey`).
    pub const MODULE_COMPLETED: &str = "module.completed";
    pub const JOURNEY_COMPLETED: &str = "journey.completed";

    // Product usage from the Segment-compatible intake (`/v1/*`), on the stream of the
    // account the product user is linked to. Every one carries `data.user` (the userId, or
    // `anon:<anonymousId>` when there is none), `data.email` (the person's email, once the
    // user is linked to a person) and `data.message_id`. `product.track`: `data.event` (the
    // event name, e.g. "Lead Imported") and `data.properties`; `product.page`: `data.name`
    // and `data.properties`; `product.identify`: `data.traits`; `product.group`:
    // `data.group` (the groupId) and `data.traits`.
    pub const PRODUCT_TRACK: &str = "product.track";
    pub const PRODUCT_PAGE: &str = "product.page";
    pub const PRODUCT_IDENTIFY: &str = "product.identify";
    pub const PRODUCT_GROUP: &str = "product.group";
    /// Derived: an account's first Aha event (`data.email`, `data.persona`, `data.event`,
    /// `data.ttv_ms`: time since the deal was won).
    pub const AHA_REACHED: &str = "aha.reached";
    /// Derived: a person reached one of their persona's micro-milestones for the first time
    /// (`data.email`, `data.persona`, `data.milestone`: its name as the program writes it,
    /// `data.index`: its place in the persona's list from 1, `data.of`: how many the list
    /// has, `data.reached`: how many of them the person has reached now).
    pub const USAGE_MILESTONE: &str = "usage.milestone";

    // In-app nudges, as the product reports them (`POST /v1/nudges/{id}/ack`): `data.nudge`
    // (its id), `data.email`, `data.user`.
    pub const NUDGE_SHOWN: &str = "nudge.shown";
    pub const NUDGE_CLICKED: &str = "nudge.clicked";
    pub const NUDGE_DISMISSED: &str = "nudge.dismissed";

    // Autopilot (`[autopilot]`). Announced: an account entering a segment
    // (`autopilot.started`, data `segment`) or leaving every one (`autopilot.stopped`), and
    // each thing it does or queues (`autopilot.acted`: `action` remind | post | escalate,
    // `outcome` done | queued | approved | rejected | moot, `reason`, `subject`,
    // `evidence`, `approval`, `by`): the account's autopilot log. Taken in: a person's
    // decision on a queued action (`autopilot.approved` / `autopilot.rejected`, data
    // `approval`, `by`, `note`), and an integration of the customer's failing
    // (`integration.failed`, data `integration`, `error`), from the product or any system.
    pub const AUTOPILOT_STARTED: &str = "autopilot.started";
    pub const AUTOPILOT_STOPPED: &str = "autopilot.stopped";
    pub const AUTOPILOT_ACTED: &str = "autopilot.acted";
    pub const AUTOPILOT_APPROVED: &str = "autopilot.approved";
    pub const AUTOPILOT_REJECTED: &str = "autopilot.rejected";
    pub const INTEGRATION_FAILED: &str = "integration.failed";
}

/// An event on its way into the log, already validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// The dedupe key: a second event with the same key changes nothing.
    pub key: String,
    pub kind: EventType,
    /// The account key (the id every growing table carries).
    pub account: String,
    /// When it happened (the sender's time, else the intake time).
    pub at: Timestamp,
    pub data: serde_json::Value,
}

/// An event as stored in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the log, increasing in append order.
    pub seq: i64,
    pub key: String,
    pub kind: EventType,
    pub account: String,
    pub at: Timestamp,
    pub data: serde_json::Value,
    /// When the intake accepted it.
    pub received_at: Timestamp,
    /// When the processor handled it, if it has.
    pub processed_at: Option<Timestamp>,
}

/// A problem with one input event, located by a JSON pointer-like path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputError {
    /// Where in the input, e.g. `/2/type`.
    pub at: String,
    pub message: String,
}

/// Validates one raw event of the generic intake: `{"id", "type", "account", "at"?, "data"?}`.
/// `path` prefixes error locations (e.g. `/3` for the fourth of an array); `now` is the
/// intake time used when `at` is absent.
pub fn parse_input_event(
    value: &serde_json::Value,
    path: &str,
    now: Timestamp,
) -> Result<NewEvent, Vec<InputError>> {
    let mut errors = Vec::new();
    let mut err = |field: &str, message: String| {
        errors.push(InputError {
            at: format!("{path}/{field}"),
            message,
        })
    };
    let Some(object) = value.as_object() else {
        return Err(vec![InputError {
            at: if path.is_empty() {
                "/".to_owned()
            } else {
                path.to_owned()
            },
            message: "expected an event object {\"id\", \"type\", \"account\", \"at\", \"data\"}"
                .to_owned(),
        }]);
    };
    for field in object.keys() {
        if !matches!(field.as_str(), "id" | "type" | "account" | "at" | "data") {
            err(
                field,
                format!("unknown field `{field}`; an event has id, type, account, at and data"),
            );
        }
    }
    let key_field = |name: &str, err: &mut dyn FnMut(&str, String)| -> Option<String> {
        match object.get(name) {
            None | Some(serde_json::Value::Null) => {
                err(name, format!("`{name}` is required"));
                None
            }
            Some(serde_json::Value::String(s)) if s.trim().is_empty() => {
                err(name, format!("`{name}` must not be empty"));
                None
            }
            Some(serde_json::Value::String(s)) if s.len() > MAX_KEY_LEN => {
                err(name, format!("`{name}` is longer than {MAX_KEY_LEN} bytes"));
                None
            }
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(other) => {
                err(
                    name,
                    format!("`{name}` must be a string, not {}", json_kind(other)),
                );
                None
            }
        }
    };
    let key = key_field("id", &mut err);
    let kind = key_field("type", &mut err).and_then(|t| match EventType::parse(&t) {
        Ok(t) => Some(t),
        Err(message) => {
            err("type", message);
            None
        }
    });
    let account = key_field("account", &mut err);
    let at = match object.get("at") {
        None | Some(serde_json::Value::Null) => Some(now),
        Some(serde_json::Value::String(s)) => match Timestamp::parse_rfc3339(s) {
            Ok(t) => Some(t),
            Err(e) => {
                err("at", e.to_string());
                None
            }
        },
        Some(other) => {
            err(
                "at",
                format!("`at` must be an RFC 3339 string, not {}", json_kind(other)),
            );
            None
        }
    };
    let data = match object.get("data") {
        None | Some(serde_json::Value::Null) => Some(serde_json::Value::Object(Default::default())),
        Some(v @ serde_json::Value::Object(_)) => Some(v.clone()),
        Some(other) => {
            err(
                "data",
                format!("`data` must be an object, not {}", json_kind(other)),
            );
            None
        }
    };
    match (key, kind, account, at, data) {
        (Some(key), Some(kind), Some(account), Some(at), Some(data)) if errors.is_empty() => {
            Ok(NewEvent {
                key,
                kind,
                account,
                at,
                data,
            })
        }
        _ => Err(errors),
    }
}

/// A short name of a JSON value's type, for error messages.
pub fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: Timestamp = Timestamp(1_700_000_000_000);

    #[test]
    fn a_complete_event_is_accepted() {
        let e = parse_input_event(
            &json!({"id": "e1", "type": "deal.won", "account": "acme", "at": "2026-01-01T00:00:00Z", "data": {"seats": 5}}),
            "",
            NOW,
        )
        .expect("valid");
        assert_eq!(e.kind.as_str(), "deal.won");
        assert_eq!(
            e.at,
            Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").expect("valid")
        );
    }

    #[test]
    fn a_missing_time_means_the_intake_time() {
        let e = parse_input_event(&json!({"id": "e1", "type": "x", "account": "a"}), "", NOW)
            .expect("valid");
        assert_eq!(e.at, NOW);
        assert_eq!(e.data, json!({}));
    }

    #[test]
    fn every_problem_is_reported_with_its_location() {
        let errors = parse_input_event(
            &json!({"type": 3, "account": "", "at": "soon", "data": [], "extra": 1}),
            "/2",
            NOW,
        )
        .expect_err("invalid");
        let places: Vec<&str> = errors.iter().map(|e| e.at.as_str()).collect();
        for place in [
            "/2/id",
            "/2/type",
            "/2/account",
            "/2/at",
            "/2/data",
            "/2/extra",
        ] {
            assert!(places.contains(&place), "{place} missing in {places:?}");
        }
    }
}
