//! Autopilot in [`decide`]: which accounts it runs (segments), checked here on single
//! events; its timelines are tested end to end through the engine.

use super::{decide, Settings};
use crate::event::{Event, EventType};
use crate::program::{load, Program, ProgramSource, SourceFile};
use crate::state::AccountState;
use crate::time::Timestamp;
use serde_json::{json, Value};

const T0: Timestamp = Timestamp(1_767_225_600_000);

const PROGRAM: &str = r#"[program]
name = "Test"
sender = { name = "Onboard", email = "team@onboard.example" }

[[team]]
name = "Dana"
email = "dana@onboard.example"
role = "csm"

[autopilot]
remind = "reminder"
escalation = "reminder"

[[autopilot.segments]]
name = "self-serve"
when = "account.seats < 10"
"#;

fn program() -> Program {
    let source = ProgramSource {
        files: vec![
            SourceFile {
                path: "program.toml".to_owned(),
                contents: PROGRAM.to_owned(),
            },
            SourceFile {
                path: "messages/reminder.md".to_owned(),
                contents: "+++\nsubject = \"Hi\"\n+++\nHello\n".to_owned(),
            },
        ],
    };
    match load(&source) {
        Ok(p) => p,
        Err(d) => panic!("{d:#?}"),
    }
}

fn deal(seats: u64) -> Event {
    event(
        "deal-1",
        "deal.won",
        json!({ "account_name": "Acme", "deal_id": "d1", "seats": seats }),
    )
}

fn event(key: &str, kind: &str, data: Value) -> Event {
    Event {
        seq: 0,
        key: key.to_owned(),
        kind: EventType::parse(kind).expect("a valid type"),
        account: "acme".to_owned(),
        at: T0,
        data,
        received_at: T0,
        processed_at: None,
    }
}

#[test]
fn an_account_in_a_segment_goes_on_autopilot_and_says_so() {
    let program = program();
    assert!(program.autopilot.is_some());
    let mut state = AccountState::new("acme", "v1", T0);
    let out = decide(&program, &Settings::default(), &mut state, &deal(5));
    let run = state.autopilot.as_ref().expect("on autopilot");
    assert_eq!(run.segment, "self-serve");
    assert!(run.active());
    let started: Vec<_> = out
        .events
        .iter()
        .filter(|e| e.kind.as_str() == "autopilot.started")
        .collect();
    assert_eq!(started.len(), 1, "{:#?}", out.events);
    assert_eq!(started[0].data["segment"], "self-serve");
}

#[test]
fn an_account_in_no_segment_stays_with_people() {
    let program = program();
    let mut state = AccountState::new("acme", "v1", T0);
    decide(&program, &Settings::default(), &mut state, &deal(25));
    assert!(state.autopilot.is_none());
}
