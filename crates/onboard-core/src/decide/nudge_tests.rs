//! In-app nudges: made by rules, one open per person, rule and message, shown as often as
//! their frequency allows until clicked, dismissed or expired, and held by the contact
//! budget like any other contact.

use super::*;
use crate::program::{load, NudgeFrequency, NudgeStyle, ProgramSource, SourceFile};
use crate::state::{Nudge, NudgeStatus};
use crate::time::Timestamp;
use serde_json::{json, Value};

const T0: Timestamp = Timestamp(1_767_603_600_000);
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

const PROGRAM: &str = r##"[program]
name = "Test program"
sender = { name = "Onboard Team", email = "team@onboard.example" }

[[personas]]
name = "end_user"
journey = "daily"

[[team]]
name = "Ann Carter"
email = "ann@onboard.example"
role = "csm"

[[journeys]]
name = "daily"
title = "Daily work"

[budget]
max = 2
per = "7d"

[[rules]]
name = "import-celebration"
on = "module.completed"
when = "event.data.module == \"02-import\""
[[rules.actions]]
nudge = "import-nudge"
selector = "#import-button"
style = "celebration"
expires = "3d"

[[rules]]
name = "pipeline-tip"
on = "tip.wanted"
reentry = { every = "1h" }
[[rules.actions]]
nudge = "pipeline-tip"
to = "people"
frequency = { at_most = 2, per = "1d" }
"##;

fn program(source: &str) -> Program {
    let files = vec![
        SourceFile {
            path: "program.toml".to_owned(),
            contents: source.to_owned(),
        },
        SourceFile {
            path: "messages/import-nudge.md".to_owned(),
            contents: "+++\nsubject = \"Nice work, {{ person.first_name }}!\"\n+++\n\
                       Now bring your leads in with Import.\n"
                .to_owned(),
        },
        SourceFile {
            path: "messages/pipeline-tip.md".to_owned(),
            contents: "+++\nsubject = \"Tip\"\n+++\nDrag a deal to move it.\n".to_owned(),
        },
        SourceFile {
            path: "academy/daily/01-start.md".to_owned(),
            contents: "+++\ntitle = \"Start\"\n+++\nHello.\n".to_owned(),
        },
        SourceFile {
            path: "academy/daily/02-import.md".to_owned(),
            contents: "+++\ntitle = \"Import\"\n+++\nImport.\n".to_owned(),
        },
    ];
    match load(&ProgramSource { files }) {
        Ok(program) => program,
        Err(diagnostics) => panic!("{diagnostics:?}"),
    }
}

fn event(key: &str, kind: &str, at: Timestamp, data: Value) -> Event {
    Event {
        seq: 0,
        key: key.to_owned(),
        kind: EventType::parse(kind).expect("a valid event type"),
        account: "acme".to_owned(),
        at,
        received_at: at,
        processed_at: None,
        data,
    }
}

/// An account with two end users, Ada and Bo.
fn account(program: &Program) -> AccountState {
    let mut state = AccountState::new("acme", &program.version.0, T0);
    decide(
        program,
        &Settings::new("https://x"),
        &mut state,
        &event(
            "won",
            "deal.won",
            T0,
            json!({
                "account_name": "ACME",
                "contacts": [
                    {"email": "ada@acme.example", "name": "Ada Lovelace", "persona": "end_user"},
                    {"email": "bo@acme.example", "name": "Bo Chen", "persona": "end_user"},
                ],
            }),
        ),
    );
    state
}

fn run(program: &Program, state: &mut AccountState, event: Event) -> Decisions {
    decide(program, &Settings::new("https://x"), state, &event)
}

fn completed(key: &str, at: Timestamp, email: &str, module: &str) -> Event {
    event(
        key,
        "module.completed",
        at,
        json!({"email": email, "journey": "daily", "module": module}),
    )
}

fn report(key: &str, kind: &str, at: Timestamp, nudge: &str) -> Event {
    event(
        key,
        kind,
        at,
        json!({"nudge": nudge, "email": "ada@acme.example"}),
    )
}

fn at(millis: i64) -> Timestamp {
    Timestamp(T0.millis() + millis)
}

#[test]
fn completing_the_import_module_nudges_the_person_to_the_import_button_with_a_celebration() {
    let program = program(PROGRAM);
    let mut state = account(&program);
    let out = run(
        &program,
        &mut state,
        completed("m1", at(HOUR), "ada@acme.example", "02-import"),
    );
    assert_eq!(state.nudges.len(), 1);
    let nudge = &state.nudges[0];
    assert_eq!(nudge.email, "ada@acme.example");
    assert_eq!(nudge.title, "Nice work, Ada!");
    assert_eq!(nudge.text.trim(), "Now bring your leads in with Import.");
    assert_eq!(nudge.selector.as_deref(), Some("#import-button"));
    assert_eq!(nudge.style, NudgeStyle::Celebration);
    assert_eq!(nudge.frequency, NudgeFrequency::Once);
    assert_eq!(nudge.expires_at, at(HOUR + 3 * DAY));
    assert_eq!(out.nudges, vec![nudge.clone()], "handed to the store");
    assert!(nudge.eligibility(at(2 * HOUR)).eligible);
}

#[test]
fn another_module_makes_no_nudge() {
    let program = program(PROGRAM);
    let mut state = account(&program);
    run(
        &program,
        &mut state,
        completed("m1", at(HOUR), "ada@acme.example", "01-start"),
    );
    assert!(state.nudges.is_empty());
}

#[test]
fn a_once_nudge_is_not_eligible_after_it_was_shown() {
    let program = program(PROGRAM);
    let mut state = account(&program);
    run(
        &program,
        &mut state,
        completed("m1", at(HOUR), "ada@acme.example", "02-import"),
    );
    let id = state.nudges[0].id.clone();
    let out = run(
        &program,
        &mut state,
        report("s1", "nudge.shown", at(2 * HOUR), &id),
    );
    assert_eq!(out.nudges.len(), 1);
    let eligibility = state.nudges[0].eligibility(at(3 * HOUR));
    assert!(!eligibility.eligible);
    assert!(
        eligibility.reason.contains("shown once"),
        "{}",
        eligibility.reason
    );
}

#[test]
fn a_nudge_shown_at_most_twice_a_day_is_eligible_again_when_a_day_has_passed() {
    let program = program(PROGRAM);
    let mut state = account(&program);
    run(
        &program,
        &mut state,
        event("t1", "tip.wanted", at(HOUR), json!({})),
    );
    assert_eq!(
        state.nudges.len(),
        2,
        "one for each of the account's people"
    );
    let id = state.nudges[0].id.clone();
    run(
        &program,
        &mut state,
        report("s1", "nudge.shown", at(2 * HOUR), &id),
    );
    assert!(state.nudges[0].eligibility(at(3 * HOUR)).eligible);
    run(
        &program,
        &mut state,
        report("s2", "nudge.shown", at(4 * HOUR), &id),
    );
    let held = state.nudges[0].eligibility(at(5 * HOUR));
    assert!(!held.eligible);
    assert_eq!(held.next_at, Some(at(2 * HOUR + DAY)));
    assert!(held.reason.contains("at most 2 per 1d"), "{}", held.reason);
    assert!(state.nudges[0].eligibility(at(2 * HOUR + DAY)).eligible);
    assert!(
        state.nudges[1].eligibility(at(5 * HOUR)).eligible,
        "Bo's nudge is his own"
    );
}

#[test]
fn a_second_firing_refreshes_the_pending_nudge_instead_of_adding_another() {
    let program = program(PROGRAM);
    let mut state = account(&program);
    run(
        &program,
        &mut state,
        event("t1", "tip.wanted", at(HOUR), json!({})),
    );
    run(
        &program,
        &mut state,
        event("t2", "tip.wanted", at(3 * HOUR), json!({})),
    );
    assert_eq!(state.nudges.len(), 2);
    assert_eq!(state.nudges[0].expires_at, at(3 * HOUR + 14 * DAY));
    assert_eq!(state.nudges[0].created_at, at(HOUR));
}

#[test]
fn a_click_ends_the_nudge_and_a_later_firing_makes_a_new_one() {
    let program = program(PROGRAM);
    let mut state = account(&program);
    run(
        &program,
        &mut state,
        event("t1", "tip.wanted", at(HOUR), json!({})),
    );
    let id = state.nudges[0].id.clone();
    run(
        &program,
        &mut state,
        report("c1", "nudge.clicked", at(2 * HOUR), &id),
    );
    assert_eq!(state.nudges[0].status, NudgeStatus::Clicked);
    let ended = state.nudges[0].eligibility(at(2 * HOUR));
    assert!(!ended.eligible);
    assert!(ended.reason.contains("clicked"), "{}", ended.reason);
    run(
        &program,
        &mut state,
        event("t2", "tip.wanted", at(3 * HOUR), json!({})),
    );
    let ada: Vec<&Nudge> = state
        .nudges
        .iter()
        .filter(|n| n.email == "ada@acme.example")
        .collect();
    assert_eq!(ada.len(), 2);
    assert_ne!(ada[0].id, ada[1].id);
}

#[test]
fn a_dismissed_nudge_is_not_shown_again() {
    let program = program(PROGRAM);
    let mut state = account(&program);
    run(
        &program,
        &mut state,
        event("t1", "tip.wanted", at(HOUR), json!({})),
    );
    let id = state.nudges[0].id.clone();
    run(
        &program,
        &mut state,
        report("d1", "nudge.dismissed", at(2 * HOUR), &id),
    );
    assert_eq!(state.nudges[0].status, NudgeStatus::Dismissed);
    assert!(!state.nudges[0].eligibility(at(3 * HOUR)).eligible);
}

#[test]
fn a_report_about_an_unknown_nudge_changes_nothing() {
    let program = program(PROGRAM);
    let mut state = account(&program);
    run(
        &program,
        &mut state,
        event("t1", "tip.wanted", at(HOUR), json!({})),
    );
    let before = state.clone();
    let out = run(
        &program,
        &mut state,
        report("c1", "nudge.clicked", at(2 * HOUR), "ndg_unknown"),
    );
    assert!(out.nudges.is_empty());
    assert_eq!(state.nudges, before.nudges);
}

#[test]
fn an_expired_nudge_is_not_eligible_and_says_when_it_expired() {
    let program = program(PROGRAM);
    let mut state = account(&program);
    run(
        &program,
        &mut state,
        completed("m1", at(HOUR), "ada@acme.example", "02-import"),
    );
    let late = state.nudges[0].eligibility(at(HOUR + 3 * DAY));
    assert!(!late.eligible);
    assert!(late.reason.contains("expired"), "{}", late.reason);
}

#[test]
fn ended_nudges_are_forgotten_a_month_after_they_end() {
    let program = program(PROGRAM);
    let mut state = account(&program);
    run(
        &program,
        &mut state,
        completed("m1", at(HOUR), "ada@acme.example", "02-import"),
    );
    run(
        &program,
        &mut state,
        event("x1", "other.thing", at(20 * DAY), json!({})),
    );
    assert_eq!(state.nudges.len(), 1);
    run(
        &program,
        &mut state,
        event("x2", "other.thing", at(40 * DAY), json!({})),
    );
    assert!(state.nudges.is_empty());
}

#[test]
fn the_contact_budget_holds_a_nudge_back_until_the_window_has_room() {
    let program = program(PROGRAM);
    let mut state = account(&program);
    // Two tips an hour apart use up Ada's budget of two a week.
    run(
        &program,
        &mut state,
        event("t1", "tip.wanted", at(HOUR), json!({})),
    );
    let id = state.nudges[0].id.clone();
    run(
        &program,
        &mut state,
        report("c1", "nudge.clicked", at(90 * 60_000), &id),
    );
    run(
        &program,
        &mut state,
        event("t2", "tip.wanted", at(2 * HOUR), json!({})),
    );
    run(
        &program,
        &mut state,
        completed("m1", at(3 * HOUR), "ada@acme.example", "02-import"),
    );
    let held = state
        .nudges
        .iter()
        .find(|n| n.rule == "import-celebration")
        .expect("the celebration is made");
    assert_eq!(held.available_at, at(HOUR + 7 * DAY));
    let eligibility = held.eligibility(at(4 * HOUR));
    assert!(!eligibility.eligible);
    assert!(eligibility.reason.contains("contact budget"));
    assert_eq!(eligibility.next_at, Some(at(HOUR + 7 * DAY)));
}

#[test]
fn a_paused_account_gets_no_nudge() {
    let program = program(PROGRAM);
    let mut state = account(&program);
    run(
        &program,
        &mut state,
        event("p", "account.paused", at(HOUR), json!({})),
    );
    run(
        &program,
        &mut state,
        event("t1", "tip.wanted", at(2 * HOUR), json!({})),
    );
    assert!(state.nudges.is_empty());
}

fn errors(source: &str) -> Vec<String> {
    let files = vec![
        SourceFile {
            path: "program.toml".to_owned(),
            contents: source.to_owned(),
        },
        SourceFile {
            path: "messages/import-nudge.md".to_owned(),
            contents: "+++\nsubject = \"Hi\"\n+++\nHi.\n".to_owned(),
        },
        SourceFile {
            path: "messages/pipeline-tip.md".to_owned(),
            contents: "+++\nsubject = \"Hi\"\n+++\nHi.\n".to_owned(),
        },
    ];
    match load(&ProgramSource { files }) {
        Ok(_) => Vec::new(),
        Err(diagnostics) => diagnostics.iter().map(|d| d.to_string()).collect(),
    }
}

/// The one error of a program whose rule has `action` as its action.
fn only_error(action: &str) -> String {
    let found = errors(&format!("{BASE}{action}"));
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

const BASE: &str = r#"[program]
name = "Test program"
sender = { name = "Onboard Team", email = "team@onboard.example" }

[[rules]]
name = "r"
on = "x.y"
[[rules.actions]]
"#;

#[test]
fn a_nudge_for_the_csm_is_refused_with_the_recipients_it_takes() {
    let error = only_error("nudge = \"import-nudge\"\nto = \"csm\"\n");
    assert!(error.contains("program.toml:10:6"), "{error}");
    assert!(error.contains("not to the CSM"), "{error}");
}

#[test]
fn an_unknown_nudge_style_is_refused() {
    let error = only_error("nudge = \"import-nudge\"\nstyle = \"party\"\n");
    assert!(error.contains("`party` is not a nudge style"), "{error}");
}

#[test]
fn a_frequency_without_its_period_is_refused() {
    let error = only_error("nudge = \"import-nudge\"\nfrequency = { at_most = 3 }\n");
    assert!(error.contains("needs both `at_most` and `per`"), "{error}");
}

#[test]
fn a_selector_without_a_nudge_is_refused() {
    let error = only_error("send = \"import-nudge\"\nto = \"people\"\nselector = \"#x\"\n");
    assert!(
        error.contains("`selector` only goes with `nudge`"),
        "{error}"
    );
}

#[test]
fn a_nudge_of_an_unknown_message_is_refused() {
    let error = only_error("nudge = \"import-nuge\"\n");
    assert!(error.contains("import-nudge"), "did you mean: {error}");
}
