//! Records the store reads and writes that are not domain types of the core.

use onboard_core::state::TraceOutcome;
use onboard_core::Timestamp;
use serde::Serialize;

/// The time to compare due times and leases with. On PostgreSQL, `System` means the
/// database's own clock (`clock_timestamp()`), so that every node agrees; SQLite uses the
/// given instant. `Manual` is the engine's manual clock, used as given on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Now {
    System(Timestamp),
    Manual(Timestamp),
}

impl Now {
    /// The instant as this node sees it.
    pub fn local(self) -> Timestamp {
        match self {
            Now::System(t) | Now::Manual(t) => t,
        }
    }
}

/// The result of appending one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "seq", rename_all = "snake_case")]
pub enum Appended {
    /// Appended at this position.
    New(i64),
    /// Already in the log at this position; nothing changed.
    Duplicate(i64),
}

/// Selects events of the log.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub account: Option<String>,
    pub kind: Option<String>,
    /// Events that happened at or after this time.
    pub from: Option<Timestamp>,
    /// Events that happened before this time.
    pub until: Option<Timestamp>,
    /// Only events after this sequence number (the pagination cursor).
    pub after_seq: Option<i64>,
    pub limit: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    pub n_events: i64,
    pub oldest_received_at: Option<Timestamp>,
}

/// A lease held by one node; `epoch` fences writes made under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    pub epoch: i64,
}

/// A timer claimed by a node; `attempts` is the fencing token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedTimer {
    pub id: String,
    pub account: String,
    pub rule: String,
    pub due_at: Timestamp,
    pub since_at: Timestamp,
    pub program_version: String,
    pub attempts: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimerCounts {
    pub pending: i64,
    pub due: i64,
}

/// Work due at a time and not yet done (see [`crate::Store::due_work`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DueWork {
    pub timers: i64,
    pub messages: i64,
}

impl DueWork {
    pub fn total(&self) -> i64 {
        self.timers + self.messages
    }
}

/// A timer as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimerRecord {
    pub id: String,
    pub account: String,
    pub rule: String,
    pub due_at: Timestamp,
    pub since_at: Timestamp,
    /// `pending`, `fired` or `cancelled`.
    pub state: String,
    pub attempts: i64,
    pub fired_at: Option<Timestamp>,
}

/// An outbox message claimed for one delivery attempt; `attempts` (this attempt's number)
/// fences completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMessage {
    pub id: String,
    pub account: String,
    pub channel: String,
    pub to_email: String,
    pub to_name: String,
    pub from_email: String,
    pub from_name: String,
    pub subject: String,
    pub body: String,
    pub message_id: String,
    /// The rule that decided it (`autopilot/…` for the autopilot's emails).
    pub rule: String,
    /// The person whose sign-in link the body stands for, made at delivery (see
    /// `onboard_core::state::NewMessage::sign_in_email`).
    pub sign_in_email: Option<String>,
    /// The calendar invite sent beside the text, when there is one (an iCalendar object).
    pub calendar: Option<String>,
    /// Who wrote the text, once drafting was tried: the model's name, or `template: <why
    /// the model's draft was not used>`; `None` when no draft was tried.
    pub drafted_by: Option<String>,
    pub holder: String,
    pub attempts: i64,
}

/// The text a message is sent with, and who wrote it (see [`ClaimedMessage::drafted_by`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageDraft {
    pub subject: String,
    pub body: String,
    pub drafted_by: String,
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    /// Failed; try again at this time.
    Retry {
        at: Timestamp,
        error: String,
    },
    /// Failed for good (attempts exhausted or permanent error).
    Dead {
        error: String,
    },
}

/// Selects outbox messages.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub account: Option<String>,
    /// `queued`, `delivered` or `dead`.
    pub status: Option<String>,
    /// Messages created before this one (id order is creation order within a batch only,
    /// so the cursor is the created time and id).
    pub before: Option<(Timestamp, String)>,
    pub limit: i64,
}

/// One delivery attempt of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptRecord {
    pub n: i64,
    pub at: Timestamp,
    /// `delivered`, `failed` or `dead`.
    pub outcome: String,
    pub error: Option<String>,
}

/// An outbox message as stored, with its attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageRecord {
    pub id: String,
    pub account: String,
    pub channel: String,
    pub to_email: String,
    pub to_name: String,
    pub from_email: String,
    pub from_name: String,
    pub subject: String,
    pub body: String,
    pub message_id: String,
    pub rule: String,
    pub cause: String,
    /// The person whose sign-in link the body stands for.
    pub sign_in_email: Option<String>,
    /// The calendar invite sent beside the text, when there is one (an iCalendar object).
    pub calendar: Option<String>,
    /// Who wrote the text (see [`ClaimedMessage::drafted_by`]), and when.
    pub drafted_by: Option<String>,
    pub drafted_at: Option<Timestamp>,
    /// `queued`, `delivered` or `dead`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
    pub attempt_log: Vec<AttemptRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxCounts {
    pub queued: i64,
    pub dead: i64,
}

/// A stored trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceRecord {
    pub account: String,
    pub rule: String,
    pub event: String,
    pub at: Timestamp,
    pub outcome: TraceOutcome,
    pub reason: String,
}

/// Selects accounts, in id order.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    /// Only accounts whose id comes after this one (the pagination cursor).
    pub after: Option<String>,
    pub limit: i64,
    /// Only the accounts of this CSM (email).
    pub csm: Option<String>,
    /// `active`, `paused` or `churned`.
    pub status: Option<String>,
}

/// A sign-in link's token to record. Only its hash is stored, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSignInToken {
    /// SHA-256 of the token (or an HMAC with a server-side pepper), as text.
    pub token_hash: String,
    pub account: String,
    /// The person it signs in.
    pub email: String,
    /// What the link is for, e.g. `sign_in`.
    pub purpose: String,
    /// The outbox message that carries the link, if one does.
    pub message_id: Option<String>,
    pub created_at: Timestamp,
    /// The first instant at which the token is refused.
    pub expires_at: Timestamp,
}

/// Who a consumed sign-in token signs in, and what for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInGrant {
    pub account: String,
    pub email: String,
    pub purpose: String,
}

/// A session to record. Only the hash of its id is stored, never the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// SHA-256 of the session id (the cookie's value), as text.
    pub id_hash: String,
    pub account: String,
    pub email: String,
    /// What signed the person in, e.g. `magic_link`.
    pub kind: String,
    pub created_at: Timestamp,
    /// The first instant at which the session is no longer valid.
    pub expires_at: Timestamp,
}

/// A live session as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionRecord {
    pub account: String,
    pub email: String,
    pub kind: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}
