//! The `enrol` and `set` actions of rules: people moved into a journey like the enrolment at
//! the deal, account fields and person properties written, each change announced (and none
//! when nothing changes), and what they did in the rule's trace.

use super::*;
use crate::program::{load, ProgramSource, SourceFile};
use crate::state::TraceOutcome;
use crate::time::Timestamp;
use serde_json::{json, Value};

const T0: Timestamp = Timestamp(1_767_603_600_000);
const HOUR: i64 = 3_600_000;

const PROGRAM: &str = r##"[program]
name = "Test program"
sender = { name = "Onboard Team", email = "team@onboard.example" }

[[personas]]
name = "admin"
journey = "setup"

[[personas]]
name = "end_user"
journey = "daily"

[[personas]]
name = "guest"

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
name = "welcome"
on = "person.enrolled"
[[rules.actions]]
send = "welcome"
to = "person"

[[rules]]
name = "move"
on = "move.requested"
reentry = { every = "1m" }
[[rules.actions]]
enrol = "daily"

[[rules]]
name = "move-admins"
on = "admins.move"
[[rules.actions]]
enrol = "daily"
to = "persona:admin"

[[rules]]
name = "engaged"
on = "engagement.seen"
reentry = { every = "1m" }
[[rules.actions]]
set = "account.fields.engaged"
value = true

[[rules]]
name = "tier"
on = "plan.changed"
reentry = { every = "1m" }
[[rules.actions]]
set = "account.fields.tier"
value_from = "event.data.plan.tier"

[[rules]]
name = "gate"
on = "gate.checked"
reentry = { every = "1m" }
when = "account.fields.engaged == true and account.fields.tier == \"gold\""
[[rules.actions]]
emit = "gate.passed"

[[rules]]
name = "champion"
on = "champion.named"
reentry = { every = "1m" }
[[rules.actions]]
set = "person.properties.champion"
value = "yes"

[[rules]]
name = "tag-admins"
on = "admins.tagged"
[[rules.actions]]
set = "person.properties.seats_owned"
value = 12
to = "persona:admin"

[[rules]]
name = "broken"
on = "broken.tried"
[[rules.actions]]
set = "account.fields.broken"
value = 1.5
[[rules.actions]]
enrol = "daily"
[[rules.actions]]
send = "broken"
to = "person"
"##;

fn program() -> Program {
    let files = [
        ("program.toml", PROGRAM),
        (
            "messages/welcome.md",
            "+++\nsubject = \"Welcome, {{ person.first_name }}\"\n+++\nHi.\n",
        ),
        (
            "messages/broken.md",
            "+++\nsubject = \"Broken\"\n+++\n{{ person.name | no_such_filter }}\n",
        ),
        (
            "academy/setup/01-start.md",
            "+++\ntitle = \"Start\"\n+++\nHello.\n",
        ),
        (
            "academy/daily/01-first-day.md",
            "+++\ntitle = \"First day\"\n+++\nHello.\n",
        ),
    ];
    let files = files
        .into_iter()
        .map(|(path, contents)| SourceFile {
            path: path.to_owned(),
            contents: contents.to_owned(),
        })
        .collect();
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

fn at(millis: i64) -> Timestamp {
    Timestamp(T0.millis() + millis)
}

const ADA: &str = "ada@acme.example";
const BO: &str = "bo@acme.example";
const GUS: &str = "gus@acme.example";

/// An account with an admin (Ada, journey `setup`), an end user (Bo, `daily`) and a guest
/// (Gus, no journey).
fn account(program: &Program) -> AccountState {
    let mut state = AccountState::new("acme", &program.version.0, T0);
    run(
        program,
        &mut state,
        event(
            "won",
            "deal.won",
            T0,
            json!({
                "account_name": "ACME",
                "contacts": [
                    {"email": ADA, "name": "Ada Lovelace", "persona": "admin"},
                    {"email": BO, "name": "Bo Chen", "persona": "end_user"},
                    {"email": GUS, "name": "Gus Grant", "persona": "guest"},
                ],
            }),
        ),
    );
    state
}

fn run(program: &Program, state: &mut AccountState, event: Event) -> Decisions {
    decide(program, &Settings::new("https://x"), state, &event)
}

/// Decides `event` and then, as the processor does, the events it derives, in order.
fn cascade(program: &Program, state: &mut AccountState, first: Event) -> Decisions {
    let mut all = Decisions::default();
    let mut queue = std::collections::VecDeque::from([first]);
    while let Some(next) = queue.pop_front() {
        let out = run(program, state, next);
        for derived in &out.events {
            queue.push_back(Event {
                seq: 0,
                key: derived.key.clone(),
                kind: derived.kind.clone(),
                account: derived.account.clone(),
                at: derived.at,
                received_at: derived.at,
                processed_at: None,
                data: derived.data.clone(),
            });
        }
        all.events.extend(out.events);
        all.messages.extend(out.messages);
        all.traces.extend(out.traces);
    }
    all
}

fn person<'s>(state: &'s AccountState, email: &str) -> &'s crate::state::Person {
    state
        .people
        .iter()
        .find(|p| p.email == email)
        .expect("a person of the account")
}

fn of_type<'d>(out: &'d Decisions, kind: &str) -> Vec<&'d NewEvent> {
    out.events
        .iter()
        .filter(|e| e.kind.as_str() == kind)
        .collect()
}

fn fired(out: &Decisions, rule: &str) -> String {
    let trace = out
        .traces
        .iter()
        .find(|t| t.rule == rule)
        .unwrap_or_else(|| panic!("no trace of `{rule}`: {:#?}", out.traces));
    assert_eq!(trace.outcome, TraceOutcome::Fired, "{trace:?}");
    trace.reason.clone()
}

#[test]
fn enrol_moves_the_person_the_event_names_and_announces_the_previous_journey() {
    let program = program();
    let mut state = account(&program);
    assert_eq!(person(&state, ADA).journey.as_deref(), Some("setup"));
    let out = run(
        &program,
        &mut state,
        event("m1", "move.requested", at(HOUR), json!({"email": ADA})),
    );
    let ada = person(&state, ADA);
    assert_eq!(ada.journey.as_deref(), Some("daily"));
    assert_eq!(ada.enrolled_at, Some(at(HOUR)));
    let enrolled = of_type(&out, "person.enrolled");
    assert_eq!(enrolled.len(), 1, "{:#?}", out.events);
    assert_eq!(enrolled[0].at, at(HOUR));
    assert_eq!(enrolled[0].data["email"], ADA);
    assert_eq!(enrolled[0].data["journey"], "daily");
    assert_eq!(enrolled[0].data["previous_journey"], "setup");
    assert_eq!(enrolled[0].data["persona"], "admin");
    assert_eq!(enrolled[0].data["rule"], "move");
    assert_eq!(
        fired(&out, "move"),
        format!("enrol {ADA} in `daily` (was in `setup`)")
    );
}

#[test]
fn a_rule_s_enrolment_stays_when_the_person_is_added_again_until_a_persona_is_set_by_hand() {
    let program = program();
    let mut state = account(&program);
    run(
        &program,
        &mut state,
        event("m1", "move.requested", at(HOUR), json!({"email": ADA})),
    );
    assert_eq!(person(&state, ADA).journey.as_deref(), Some("daily"));

    let out = run(
        &program,
        &mut state,
        event(
            "p1",
            "person.added",
            at(2 * HOUR),
            json!({"email": ADA, "name": "Ada", "persona": "admin"}),
        ),
    );
    assert_eq!(person(&state, ADA).journey.as_deref(), Some("daily"));
    assert!(
        of_type(&out, "person.enrolled").is_empty(),
        "{:#?}",
        out.events
    );

    let out = run(
        &program,
        &mut state,
        event(
            "r1",
            "person.resegmented",
            at(3 * HOUR),
            json!({"email": ADA, "persona": "admin"}),
        ),
    );
    assert_eq!(person(&state, ADA).journey.as_deref(), Some("setup"));
    assert!(!person(&state, ADA).journey_by_rule);
    assert_eq!(
        of_type(&out, "person.enrolled").len(),
        1,
        "{:#?}",
        out.events
    );
}

#[test]
fn a_person_already_in_the_journey_is_left_alone_and_the_trace_says_so() {
    let program = program();
    let mut state = account(&program);
    let before = person(&state, BO).enrolled_at;
    let out = run(
        &program,
        &mut state,
        event("m1", "move.requested", at(HOUR), json!({"email": BO})),
    );
    assert_eq!(person(&state, BO).enrolled_at, before, "not enrolled again");
    assert!(
        of_type(&out, "person.enrolled").is_empty(),
        "{:#?}",
        out.events
    );
    assert_eq!(
        fired(&out, "move"),
        format!("enrol {BO} in `daily`: already in it")
    );
}

#[test]
fn modules_finished_in_the_old_journey_stay_recorded_under_it() {
    let program = program();
    let mut state = account(&program);
    let out = run(
        &program,
        &mut state,
        event(
            "c1",
            "module.completed",
            at(HOUR),
            json!({"email": ADA, "journey": "setup", "module": "01-start"}),
        ),
    );
    assert_eq!(of_type(&out, "journey.completed").len(), 1);
    run(
        &program,
        &mut state,
        event("m1", "move.requested", at(2 * HOUR), json!({"email": ADA})),
    );
    let ada = person(&state, ADA);
    assert_eq!(ada.journey.as_deref(), Some("daily"));
    assert_eq!(ada.modules_completed["setup"]["01-start"], at(HOUR));
    assert_eq!(ada.journeys_completed["setup"], at(HOUR));
    // The new journey's modules count from now on.
    let out = run(
        &program,
        &mut state,
        event(
            "c2",
            "module.completed",
            at(3 * HOUR),
            json!({"email": ADA, "journey": "daily", "module": "01-first-day"}),
        ),
    );
    let completed = of_type(&out, "journey.completed");
    assert_eq!(completed.len(), 1, "{:#?}", out.traces);
    assert_eq!(completed[0].data["journey"], "daily");
}

#[test]
fn the_announced_enrolment_is_answered_by_the_welcome_rule() {
    let program = program();
    let mut state = account(&program);
    assert_eq!(person(&state, GUS).journey, None, "a guest has no journey");
    let out = cascade(
        &program,
        &mut state,
        event("m1", "move.requested", at(HOUR), json!({"email": GUS})),
    );
    assert_eq!(person(&state, GUS).journey.as_deref(), Some("daily"));
    let enrolled = of_type(&out, "person.enrolled");
    assert_eq!(enrolled[0].data["previous_journey"], Value::Null);
    assert_eq!(fired(&out, "move"), format!("enrol {GUS} in `daily`"));
    let welcome: Vec<_> = out
        .messages
        .iter()
        .filter(|m| m.rule == "welcome")
        .collect();
    assert_eq!(welcome.len(), 1, "{:#?}", out.traces);
    assert_eq!(welcome[0].to_email, GUS);
    assert_eq!(welcome[0].subject, "Welcome, Gus");
}

#[test]
fn enrol_to_a_persona_enrols_each_of_its_people() {
    let program = program();
    let mut state = account(&program);
    let out = run(
        &program,
        &mut state,
        event("a1", "admins.move", at(HOUR), json!({})),
    );
    assert_eq!(person(&state, ADA).journey.as_deref(), Some("daily"));
    assert_eq!(person(&state, BO).enrolled_at, Some(T0), "not an admin");
    assert_eq!(of_type(&out, "person.enrolled").len(), 1);
}

#[test]
fn enrol_on_an_event_that_names_nobody_enrols_nobody() {
    let program = program();
    let mut state = account(&program);
    let out = run(
        &program,
        &mut state,
        event("m1", "move.requested", at(HOUR), json!({})),
    );
    assert!(of_type(&out, "person.enrolled").is_empty());
    assert_eq!(fired(&out, "move"), "enrol in `daily`: no person");
}

#[test]
fn set_writes_an_account_field_that_conditions_then_read() {
    let program = program();
    let mut state = account(&program);
    let out = run(
        &program,
        &mut state,
        event("g1", "gate.checked", at(HOUR), json!({})),
    );
    assert!(of_type(&out, "gate.passed").is_empty(), "fields unset yet");

    let out = run(
        &program,
        &mut state,
        event("e1", "engagement.seen", at(2 * HOUR), json!({})),
    );
    assert_eq!(state.fields["engaged"], json!(true));
    let set = of_type(&out, "field.set");
    assert_eq!(set.len(), 1);
    assert_eq!(
        set[0].data,
        json!({"target": "account.fields", "name": "engaged", "value": true,
               "previous": null, "rule": "engaged", "cause": "e1"})
    );
    assert_eq!(
        fired(&out, "engaged"),
        "set account.fields.engaged = true (was unset)"
    );
    run(
        &program,
        &mut state,
        event(
            "p1",
            "plan.changed",
            at(3 * HOUR),
            json!({"plan": {"tier": "gold"}}),
        ),
    );
    assert_eq!(state.fields["tier"], json!("gold"));
    let out = run(
        &program,
        &mut state,
        event("g2", "gate.checked", at(4 * HOUR), json!({})),
    );
    assert_eq!(of_type(&out, "gate.passed").len(), 1, "{:#?}", out.traces);
}

#[test]
fn setting_the_current_value_again_changes_nothing_and_announces_nothing() {
    let program = program();
    let mut state = account(&program);
    run(
        &program,
        &mut state,
        event("e1", "engagement.seen", at(HOUR), json!({})),
    );
    let out = run(
        &program,
        &mut state,
        event("e2", "engagement.seen", at(2 * HOUR), json!({})),
    );
    assert!(of_type(&out, "field.set").is_empty(), "{:#?}", out.events);
    assert_eq!(
        fired(&out, "engaged"),
        "set account.fields.engaged = true: unchanged, already true"
    );
}

#[test]
fn value_from_copies_the_event_value_and_the_previous_one_is_announced() {
    let program = program();
    let mut state = account(&program);
    let plan = |key: &str, hours: i64, tier: Value| {
        event(
            key,
            "plan.changed",
            at(hours * HOUR),
            json!({"plan": {"tier": tier}}),
        )
    };
    run(&program, &mut state, plan("p1", 1, json!("silver")));
    let out = run(&program, &mut state, plan("p2", 2, json!("gold")));
    assert_eq!(state.fields["tier"], json!("gold"));
    let set = of_type(&out, "field.set");
    assert_eq!(set[0].data["previous"], "silver");
    assert_eq!(set[0].data["value"], "gold");
}

#[test]
fn value_from_a_path_the_event_lacks_sets_nothing_and_says_so() {
    let program = program();
    let mut state = account(&program);
    let out = run(
        &program,
        &mut state,
        event("p1", "plan.changed", at(HOUR), json!({"plan": {}})),
    );
    assert!(state.fields.is_empty());
    assert!(of_type(&out, "field.set").is_empty());
    assert_eq!(
        fired(&out, "tier"),
        "set account.fields.tier: not set, the event has no `event.data.plan.tier`"
    );
}

#[test]
fn set_a_person_property_on_the_person_the_event_names() {
    let program = program();
    let mut state = account(&program);
    let out = run(
        &program,
        &mut state,
        event(
            "c1",
            "champion.named",
            at(HOUR),
            json!({"email": "BO@acme.example"}),
        ),
    );
    assert_eq!(person(&state, BO).properties["champion"], json!("yes"));
    assert!(!person(&state, ADA).properties.contains_key("champion"));
    let set = of_type(&out, "field.set");
    assert_eq!(set.len(), 1);
    assert_eq!(set[0].data["target"], "person.properties");
    assert_eq!(set[0].data["email"], BO);
    assert_eq!(set[0].data["name"], "champion");
    assert_eq!(
        fired(&out, "champion"),
        format!("set person.properties.champion = \"yes\" for {BO} (was unset)")
    );
    let again = run(
        &program,
        &mut state,
        event("c2", "champion.named", at(2 * HOUR), json!({"email": BO})),
    );
    assert!(of_type(&again, "field.set").is_empty());
}

#[test]
fn set_a_person_property_on_the_people_of_a_persona() {
    let program = program();
    let mut state = account(&program);
    let out = run(
        &program,
        &mut state,
        event("t1", "admins.tagged", at(HOUR), json!({})),
    );
    assert_eq!(person(&state, ADA).properties["seats_owned"], json!(12));
    assert!(!person(&state, BO).properties.contains_key("seats_owned"));
    assert_eq!(of_type(&out, "field.set").len(), 1);
}

#[test]
fn a_rule_whose_later_action_fails_enrols_and_sets_nothing() {
    let program = program();
    let mut state = account(&program);
    let out = run(
        &program,
        &mut state,
        event("b1", "broken.tried", at(HOUR), json!({"email": ADA})),
    );
    let trace = out
        .traces
        .iter()
        .find(|t| t.rule == "broken")
        .expect("a trace of the rule");
    assert_eq!(trace.outcome, TraceOutcome::Failed, "{trace:?}");
    assert!(state.fields.is_empty());
    assert_eq!(person(&state, ADA).journey.as_deref(), Some("setup"));
    assert!(out.events.is_empty(), "{:#?}", out.events);
}

#[test]
fn account_fields_are_absent_from_the_stored_state_until_one_is_set() {
    let program = program();
    let mut state = account(&program);
    let stored = serde_json::to_value(&state).expect("serializable");
    assert!(stored.get("fields").is_none());
    run(
        &program,
        &mut state,
        event("e1", "engagement.seen", at(HOUR), json!({})),
    );
    let stored = serde_json::to_value(&state).expect("serializable");
    assert_eq!(stored["fields"], json!({"engaged": true}));
    let back: AccountState = serde_json::from_value(stored).expect("deserializable");
    assert_eq!(back.fields, state.fields);
}
