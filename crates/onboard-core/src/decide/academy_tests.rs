//! The Academy in the state: a `module.completed` is recorded on the person it names, once;
//! finishing every core module of their journey derives `journey.completed` once; the
//! optional library never counts; a module outside the person's journey changes nothing and
//! says why in a trace.

use super::*;
use crate::program::{load, ProgramSource, SourceFile};
use crate::state::Person;
use crate::time::Timestamp;
use serde_json::json;
use std::collections::BTreeMap;

const T0: Timestamp = Timestamp(1_767_603_600_000);
const HOUR: i64 = 3_600_000;

const PROGRAM: &str = r#"[program]
name = "Test program"
sender = { name = "Onboard Team", email = "team@onboard.example" }

[[personas]]
name = "admin"
journey = "setup"

[[personas]]
name = "end_user"
journey = "daily"

[[team]]
name = "Ann Carter"
email = "ann@onboard.example"
role = "csm"

[[journeys]]
name = "setup"
title = "Setup"

[[journeys]]
name = "daily"
title = "Daily work"

[[rules]]
name = "congratulate"
on = "journey.completed"
[[rules.actions]]
send = "congrats"
to = "person"
"#;

fn module(title: &str, optional: bool) -> String {
    format!("+++\ntitle = \"{title}\"\noptional = {optional}\n+++\nText.\n")
}

fn program() -> Program {
    let mut files = vec![
        SourceFile {
            path: "program.toml".to_owned(),
            contents: PROGRAM.to_owned(),
        },
        SourceFile {
            path: "messages/congrats.md".to_owned(),
            contents: "+++\nsubject = \"Well done, {{ person.name }}\"\n+++\nAll done.\n"
                .to_owned(),
        },
    ];
    for (path, title, optional) in [
        ("academy/setup/01-start.md", "Start", false),
        ("academy/setup/02-invite.md", "Invite", false),
        ("academy/setup/03-extras.md", "Extras", true),
        ("academy/daily/01-start.md", "Start", false),
        ("academy/daily/02-pipeline.md", "Pipeline", false),
    ] {
        files.push(SourceFile {
            path: path.to_owned(),
            contents: module(title, optional),
        });
    }
    match load(&ProgramSource { files }) {
        Ok(program) => program,
        Err(diagnostics) => panic!("{diagnostics:?}"),
    }
}

fn event(key: &str, kind: &str, at: Timestamp, data: serde_json::Value) -> Event {
    Event {
        seq: 1,
        key: key.to_owned(),
        kind: EventType::parse(kind).expect("an event type"),
        account: "acme.example".to_owned(),
        at,
        received_at: at,
        processed_at: None,
        data,
    }
}

/// ACME with Ada (admin: journey `setup`) and Eve (end user: journey `daily`), enrolled.
fn acme(program: &Program) -> AccountState {
    let mut state = AccountState::new("acme.example", "v1", T0);
    for (email, name, persona) in [
        ("ada@acme.example", "Ada", "admin"),
        ("eve@acme.example", "Eve", "end_user"),
    ] {
        let added = event(
            &format!("add-{email}"),
            types::PERSON_ADDED,
            T0,
            json!({ "email": email, "name": name, "persona": persona }),
        );
        decide(program, &Settings::new("https://x"), &mut state, &added);
    }
    state
}

/// Decides a `module.completed` of `email` for `module` at `T0` plus `hours`.
fn complete(
    program: &Program,
    state: &mut AccountState,
    email: &str,
    module: &str,
    hours: i64,
) -> Decisions {
    let completed = event(
        &format!("module.completed:{email}:{module}:{hours}"),
        types::MODULE_COMPLETED,
        Timestamp(T0.0 + hours * HOUR),
        json!({ "email": email, "module": module }),
    );
    decide(program, &Settings::new("https://x"), state, &completed)
}

fn person<'s>(state: &'s AccountState, email: &str) -> &'s Person {
    state
        .people
        .iter()
        .find(|p| p.email == email)
        .expect("a person of the account")
}

/// What the Academy records of each person: who, modules and journeys completed.
type Progress = Vec<(
    String,
    BTreeMap<String, BTreeMap<String, Timestamp>>,
    BTreeMap<String, Timestamp>,
)>;

fn progress(state: &AccountState) -> Progress {
    state
        .people
        .iter()
        .map(|p| {
            (
                p.email.clone(),
                (*p.modules_completed).clone(),
                (*p.journeys_completed).clone(),
            )
        })
        .collect()
}

fn journeys_completed(decisions: &Decisions) -> Vec<&NewEvent> {
    decisions
        .events
        .iter()
        .filter(|e| e.kind.as_str() == types::JOURNEY_COMPLETED)
        .collect()
}

#[test]
fn a_completed_module_is_recorded_on_the_person_with_its_time() {
    let program = program();
    let mut state = acme(&program);
    let decisions = complete(&program, &mut state, "ada@acme.example", "01-start", 1);
    let ada = person(&state, "ada@acme.example");
    assert_eq!(
        ada.modules_completed["setup"]["01-start"],
        Timestamp(T0.0 + HOUR)
    );
    assert_eq!(ada.modules_completed["setup"].len(), 1);
    assert!(journeys_completed(&decisions).is_empty());
    assert!(decisions.traces.iter().all(|t| t.rule != ACADEMY_TRACE));
}

#[test]
fn the_last_core_module_derives_journey_completed_for_the_person() {
    let program = program();
    let mut state = acme(&program);
    let first = complete(&program, &mut state, "ada@acme.example", "01-start", 1);
    assert!(journeys_completed(&first).is_empty());
    let last = complete(&program, &mut state, "ada@acme.example", "02-invite", 2);
    let derived = journeys_completed(&last);
    assert_eq!(derived.len(), 1, "{:#?}", last.events);
    assert_eq!(derived[0].data["email"], "ada@acme.example");
    assert_eq!(derived[0].data["journey"], "setup");
    assert_eq!(derived[0].at, Timestamp(T0.0 + 2 * HOUR));
    assert_eq!(
        person(&state, "ada@acme.example").journeys_completed["setup"],
        Timestamp(T0.0 + 2 * HOUR)
    );
}

#[test]
fn journey_completed_is_derived_once_whatever_comes_after() {
    let program = program();
    let mut state = acme(&program);
    complete(&program, &mut state, "ada@acme.example", "01-start", 1);
    complete(&program, &mut state, "ada@acme.example", "02-invite", 2);
    for (module, hours) in [("02-invite", 3), ("01-start", 4), ("03-extras", 5)] {
        let later = complete(&program, &mut state, "ada@acme.example", module, hours);
        assert!(journeys_completed(&later).is_empty(), "{module}");
    }
}

#[test]
fn a_module_completed_twice_keeps_its_first_time() {
    let program = program();
    let mut state = acme(&program);
    complete(&program, &mut state, "ada@acme.example", "01-start", 1);
    let before = person(&state, "ada@acme.example").clone();
    complete(&program, &mut state, "ada@acme.example", "01-start", 5);
    let after = person(&state, "ada@acme.example");
    assert_eq!(after.modules_completed, before.modules_completed);
    assert_eq!(
        after.modules_completed["setup"]["01-start"],
        Timestamp(T0.0 + HOUR)
    );
}

#[test]
fn library_modules_are_recorded_but_never_complete_the_journey() {
    let program = program();
    let mut state = acme(&program);
    complete(&program, &mut state, "ada@acme.example", "01-start", 1);
    let extras = complete(&program, &mut state, "ada@acme.example", "03-extras", 2);
    assert!(journeys_completed(&extras).is_empty());
    let ada = person(&state, "ada@acme.example");
    assert!(ada.modules_completed["setup"].contains_key("03-extras"));
    assert!(ada.journeys_completed.is_empty());
}

#[test]
fn a_module_of_another_journey_is_ignored_with_a_trace() {
    let program = program();
    let mut state = acme(&program);
    let before = progress(&state);
    let decisions = complete(&program, &mut state, "ada@acme.example", "02-pipeline", 1);
    assert_eq!(progress(&state), before);
    let trace = decisions
        .traces
        .iter()
        .find(|t| t.rule == ACADEMY_TRACE)
        .expect("a trace says why");
    assert_eq!(trace.outcome, TraceOutcome::Skipped);
    assert!(
        trace
            .reason
            .contains("module `02-pipeline` is not in journey `setup`"),
        "{}",
        trace.reason
    );
}

#[test]
fn an_unknown_module_a_stranger_or_another_journey_named_changes_nothing() {
    let program = program();
    for data in [
        json!({ "email": "ada@acme.example", "module": "99-nothing" }),
        json!({ "email": "mallory@acme.example", "module": "01-start" }),
        json!({ "email": "ada@acme.example", "module": "01-start", "journey": "daily" }),
        json!({ "email": "ada@acme.example" }),
        json!({ "module": "01-start" }),
    ] {
        let mut state = acme(&program);
        let before = progress(&state);
        let completed = event("m", types::MODULE_COMPLETED, T0, data.clone());
        let decisions = decide(
            &program,
            &Settings::new("https://x"),
            &mut state,
            &completed,
        );
        assert_eq!(progress(&state), before, "{data}");
        assert!(journeys_completed(&decisions).is_empty(), "{data}");
        assert!(
            decisions.traces.iter().any(|t| t.rule == ACADEMY_TRACE),
            "{data}: {:#?}",
            decisions.traces
        );
    }
}

#[test]
fn each_learner_progresses_on_their_own_journey() {
    let program = program();
    let mut state = acme(&program);
    complete(&program, &mut state, "ada@acme.example", "01-start", 1);
    complete(&program, &mut state, "eve@acme.example", "01-start", 2);
    let last = complete(&program, &mut state, "eve@acme.example", "02-pipeline", 3);
    let derived = journeys_completed(&last);
    assert_eq!(derived.len(), 1);
    assert_eq!(derived[0].data["email"], "eve@acme.example");
    assert_eq!(derived[0].data["journey"], "daily");
    let ada = person(&state, "ada@acme.example");
    assert_eq!(ada.modules_completed["setup"].len(), 1);
    assert!(ada.journeys_completed.is_empty());
}

#[test]
fn rules_on_journey_completed_speak_to_the_learner() {
    let program = program();
    let mut state = acme(&program);
    complete(&program, &mut state, "eve@acme.example", "01-start", 1);
    let last = complete(&program, &mut state, "eve@acme.example", "02-pipeline", 2);
    let derived = journeys_completed(&last)[0].clone();
    let stored = event(
        &derived.key,
        derived.kind.as_str(),
        derived.at,
        derived.data,
    );
    let decisions = decide(&program, &Settings::new("https://x"), &mut state, &stored);
    let to: Vec<&str> = decisions
        .messages
        .iter()
        .filter(|m| m.rule == "congratulate")
        .map(|m| m.to_email.as_str())
        .collect();
    assert_eq!(to, ["eve@acme.example"]);
}
