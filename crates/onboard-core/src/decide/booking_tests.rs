//! Behaviour of a kickoff call booked in the Shared Space (`kickoff.booked`) in [`decide`]:
//! the booking recorded on the kickoff task with the task's due date moved to the call, the
//! two emails carrying the same calendar invite, a move keeping the UID and counting the
//! SEQUENCE up, and the bookings that change nothing (a call already begun, a task done).

use super::{decide, Settings};
use crate::event::{Event, EventType};
use crate::program::{load, Program, ProgramSource, SourceFile};
use crate::state::{AccountState, Decisions, ProjectTask, TaskStatus, TraceOutcome};
use crate::time::{Duration, Timestamp};
use serde_json::{json, Value};

const ACCOUNT: &str = "acme";
/// 2026-01-05T09:00:00Z, a Monday.
const T0: Timestamp = Timestamp(1_767_603_600_000);

const PROGRAM: &str = r#"[program]
name = "Pipeflow"
sender = { name = "Onboard Team", email = "team@onboard.example" }

[[personas]]
name = "admin"

[[team]]
name = "Ann Carter"
email = "ann@onboard.example"
role = "csm"
availability = { days = ["mon", "tue"], from = "10:00", to = "12:00", utc_offset = "-05:00" }

[[templates]]
name = "onboarding"
title = "Onboarding"

[[templates.tasks]]
key = "kickoff"
title = "Kickoff call"
owner = "team"
assignee = "csm"
due_days = 7
kickoff = { prerequisites = [], attendees = ["admin"] }

[[templates.tasks]]
key = "review"
title = "Review"
owner = "team"
assignee = "csm"
depends_on = ["kickoff"]

[[rules]]
name = "launch-onboarding"
on = "deal.won"

[[rules.actions]]
launch = "onboarding"
"#;

fn program() -> Program {
    let loaded = load(&ProgramSource {
        files: vec![SourceFile {
            path: "program.toml".to_owned(),
            contents: PROGRAM.to_owned(),
        }],
    });
    match loaded {
        Ok(program) => program,
        Err(diagnostics) => panic!("the test program should load: {diagnostics:?}"),
    }
}

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).expect("a valid time")
}

fn event(key: &str, kind: &str, at: Timestamp, data: Value) -> Event {
    Event {
        seq: 0,
        key: key.to_owned(),
        kind: EventType::parse(kind).expect("a valid event type"),
        account: ACCOUNT.to_owned(),
        at,
        data,
        received_at: at,
        processed_at: None,
    }
}

/// The account after its won deal launched the onboarding.
fn launched(program: &Program) -> AccountState {
    let mut state = AccountState::new(ACCOUNT, "v1", T0);
    let deal = event(
        "deal-1",
        "deal.won",
        T0,
        json!({
            "account_name": "ACME Inc.",
            "csm": "ann@onboard.example",
            "contacts": [{ "email": "ada@acme.example", "name": "Ada Admin", "persona": "admin" }],
        }),
    );
    decide(
        program,
        &Settings::new("https://onboard.example.com"),
        &mut state,
        &deal,
    );
    state
}

fn book(
    state: &mut AccountState,
    program: &Program,
    key: &str,
    when: Timestamp,
    start: &str,
) -> Decisions {
    let project = state.projects[0].id.clone();
    let start = at(start);
    let booked = event(
        key,
        "kickoff.booked",
        when,
        json!({
            "project": project,
            "task": "kickoff",
            "start": start.to_rfc3339(),
            "end": start.plus(Duration(30 * 60_000)).to_rfc3339(),
            "by": "ada@acme.example",
        }),
    );
    decide(
        program,
        &Settings::new("https://onboard.example.com"),
        state,
        &booked,
    )
}

fn kickoff(state: &AccountState) -> &ProjectTask {
    &state.projects[0].tasks[0]
}

fn line<'c>(calendar: &'c str, name: &str) -> &'c str {
    calendar
        .split("\r\n")
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in {calendar}"))
}

#[test]
fn a_booking_is_recorded_on_the_kickoff_task_and_moves_its_due_date_to_the_call() {
    let program = program();
    let mut state = launched(&program);
    let decided = book(&mut state, &program, "b1", T0, "2026-01-06T15:00:00Z");

    let booking = kickoff(&state).booking.clone().expect("booked");
    assert_eq!(booking.start, at("2026-01-06T15:00:00Z"));
    assert_eq!(booking.end, at("2026-01-06T15:30:00Z"));
    assert_eq!(booking.sequence, 0);
    assert_eq!(booking.by, "ada@acme.example");
    assert_eq!(kickoff(&state).due_at, Some(at("2026-01-06T15:30:00Z")));
    // The old due-date timers are cancelled and new ones set at the call.
    assert!(decided.cancels.iter().any(|c| c
        .rule
        .as_deref()
        .is_some_and(|r| r.ends_with("/kickoff/overdue"))));
    let overdue = decided
        .timers
        .iter()
        .find(|t| t.rule.ends_with("/kickoff/overdue"))
        .expect("an overdue timer at the call's end");
    assert_eq!(overdue.due_at, at("2026-01-06T15:30:00Z"));
}

#[test]
fn a_booking_sends_the_same_invite_to_the_person_and_to_the_csm() {
    let program = program();
    let mut state = launched(&program);
    let decided = book(&mut state, &program, "b1", T0, "2026-01-06T15:00:00Z");

    let to: Vec<&str> = decided
        .messages
        .iter()
        .map(|m| m.to_email.as_str())
        .collect();
    assert_eq!(to, ["ada@acme.example", "ann@onboard.example"]);
    let calendars: Vec<&str> = decided
        .messages
        .iter()
        .map(|m| m.calendar.as_deref().expect("an invite"))
        .collect();
    assert_eq!(calendars[0], calendars[1]);
    let calendar = calendars[0];
    assert_eq!(line(calendar, "METHOD:"), "METHOD:REQUEST");
    assert_eq!(line(calendar, "SEQUENCE:"), "SEQUENCE:0");
    assert_eq!(line(calendar, "DTSTART:"), "DTSTART:20260106T150000Z");
    assert_eq!(line(calendar, "DTEND:"), "DTEND:20260106T153000Z");
    assert_eq!(line(calendar, "DTSTAMP:"), "DTSTAMP:20260105T090000Z");
    assert!(line(calendar, "ORGANIZER").ends_with(":mailto:ann@onboard.example"));
    // The CSM's email carries the brief's summary and where the whole brief is.
    let to_csm = &decided.messages[1];
    assert!(
        to_csm.body.contains("Brief: of 1 attendees"),
        "{}",
        to_csm.body
    );
    assert!(
        to_csm.body.contains("/tasks/kickoff/brief"),
        "{}",
        to_csm.body
    );
    assert_eq!(to_csm.from_email, "ann@onboard.example");
}

#[test]
fn moving_the_call_keeps_the_uid_and_counts_the_sequence_up() {
    let program = program();
    let mut state = launched(&program);
    let first = book(&mut state, &program, "b1", T0, "2026-01-06T15:00:00Z");
    let moved = book(
        &mut state,
        &program,
        "b2",
        T0.plus(Duration::HOUR),
        "2026-01-12T16:00:00Z",
    );

    let uid = |d: &Decisions| {
        line(
            d.messages[0].calendar.as_deref().unwrap_or_default(),
            "UID:",
        )
        .to_owned()
    };
    assert_eq!(uid(&first), uid(&moved));
    let calendar = moved.messages[0].calendar.clone().unwrap_or_default();
    assert_eq!(line(&calendar, "SEQUENCE:"), "SEQUENCE:1");
    assert_eq!(line(&calendar, "DTSTART:"), "DTSTART:20260112T160000Z");
    assert_ne!(first.messages[0].id, moved.messages[0].id, "new emails");
    assert!(
        moved.messages[0].subject.starts_with("Moved"),
        "{}",
        moved.messages[0].subject
    );
    assert_eq!(
        kickoff(&state).booking.as_ref().map(|b| b.sequence),
        Some(1)
    );
    // The timers set by the first booking are replaced, not kept beside the new ones.
    let ids = |d: &Decisions| d.timers.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
    assert!(ids(&first).iter().all(|id| !ids(&moved).contains(id)));
}

#[test]
fn a_call_already_begun_or_a_kickoff_done_is_not_booked() {
    let program = program();
    let mut state = launched(&program);
    let late = book(
        &mut state,
        &program,
        "b1",
        at("2026-01-06T15:10:00Z"),
        "2026-01-06T15:00:00Z",
    );
    assert!(late.messages.is_empty());
    assert!(kickoff(&state).booking.is_none());
    assert_eq!(late.traces[0].outcome, TraceOutcome::Skipped);
    assert!(
        late.traces[0].reason.contains("already begun"),
        "{}",
        late.traces[0].reason
    );

    state.projects[0].tasks[0].status = TaskStatus::Done;
    let done = book(&mut state, &program, "b2", T0, "2026-01-06T15:00:00Z");
    assert!(done.messages.is_empty());
    assert!(kickoff(&state).booking.is_none());
}
