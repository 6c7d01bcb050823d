//! Behaviour of usage in [`decide`]: the first Aha of an account and of each person, with
//! time to value; whose Aha event counts; micro-milestones from product events and module
//! completions; and goals that read active users from the health state.

use super::{decide, Settings};
use crate::event::{Event, EventType};
use crate::program::{load, Program, ProgramSource, SourceFile};
use crate::state::{AccountState, Decisions};
use crate::time::{Duration, Timestamp};
use serde_json::{json, Value};

const ACCOUNT: &str = "acme";
/// 2026-01-01T00:00:00Z.
const T0: Timestamp = Timestamp(1_767_225_600_000);

const PROGRAM: &str = r#"[program]
name = "Usage test"
sender = { name = "CS", email = "cs@onboard.example" }

[[personas]]
name = "admin"
journey = "setup"
aha_event = "Pipeline Configured"

[[personas]]
name = "end_user"
journey = "selling"
aha_event = "Lead Imported"
milestones = ["Pipeline Created", "module:import-your-leads", "Lead Imported"]

[[journeys]]
name = "setup"
title = "Setup"

[[journeys]]
name = "selling"
title = "Selling"

[health]
window = "35d"
key_features = ["Lead Imported"]

[[goals]]
name = "sellers-active"
title = "Two sellers active"
persona = "end_user"
deadline_days = 90
metric = "active_users"
target = 2
"#;

const MODULE: &str = "+++\ntitle = \"A module\"\n+++\n\nText.\n";

fn program() -> Program {
    let files = [
        ("program.toml", PROGRAM),
        ("academy/setup/01-welcome.md", MODULE),
        ("academy/selling/01-your-first-day.md", MODULE),
        ("academy/selling/02-import-your-leads.md", MODULE),
    ]
    .iter()
    .map(|(path, contents)| SourceFile {
        path: (*path).to_owned(),
        contents: (*contents).to_owned(),
    })
    .collect();
    match load(&ProgramSource { files }) {
        Ok(program) => program,
        Err(diagnostics) => panic!("the test program should load: {diagnostics:#?}"),
    }
}

fn hours(n: i64) -> Timestamp {
    Timestamp(T0.millis() + n * Duration::HOUR.millis())
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

/// Deal won at `T0` with an admin and an end user.
fn deal_won() -> Event {
    event(
        "deal",
        "deal.won",
        T0,
        json!({
            "account_name": "Acme Corp",
            "seats": 10,
            "contacts": [
                { "email": "alice@acme.example", "name": "Alice Admin", "persona": "admin" },
                { "email": "eve@acme.example", "name": "Eve User", "persona": "end_user" },
            ],
        }),
    )
}

/// A product event `name` by `user`, linked to `email` when given.
fn track(key: &str, at: Timestamp, user: &str, email: Option<&str>, name: &str) -> Event {
    let mut data = json!({ "user": user, "event": name, "properties": {} });
    if let Some(email) = email {
        data["email"] = json!(email);
    }
    event(key, "product.track", at, data)
}

fn run(program: &Program, state: &mut AccountState, events: &[Event]) -> Vec<Decisions> {
    let settings = Settings::new("https://onboard.example.com");
    events
        .iter()
        .map(|e| decide(program, &settings, state, e))
        .collect()
}

/// The derived events of one type, with their data.
fn derived(decisions: &[Decisions], kind: &str) -> Vec<Value> {
    decisions
        .iter()
        .flat_map(|d| &d.events)
        .filter(|e| e.kind.as_str() == kind)
        .map(|e| e.data.clone())
        .collect()
}

fn person<'s>(state: &'s AccountState, email: &str) -> &'s crate::state::Person {
    state
        .people
        .iter()
        .find(|p| p.email == email)
        .expect("the person")
}

#[test]
fn the_first_aha_is_recorded_once_with_its_time_to_value() {
    let program = program();
    let mut state = AccountState::new(ACCOUNT, "v1", T0);
    let decisions = run(
        &program,
        &mut state,
        &[
            deal_won(),
            track(
                "t1",
                hours(30),
                "u-eve",
                Some("eve@acme.example"),
                "Lead Imported",
            ),
            track(
                "t2",
                hours(40),
                "u-eve",
                Some("eve@acme.example"),
                "Lead Imported",
            ),
        ],
    );
    let announced = derived(&decisions, "aha.reached");
    assert_eq!(
        announced,
        [json!({
            "email": "eve@acme.example",
            "persona": "end_user",
            "event": "Lead Imported",
            "ttv_ms": 30 * Duration::HOUR.millis(),
        })]
    );
    let aha = state.aha.as_ref().expect("the account's Aha");
    assert_eq!(aha.at, hours(30));
    assert_eq!(aha.ttv_ms, Some(30 * Duration::HOUR.millis()));
    assert_eq!(person(&state, "eve@acme.example").aha_at, Some(hours(30)));
}

#[test]
fn the_aha_event_of_another_persona_does_not_count_for_a_person() {
    let program = program();
    let mut state = AccountState::new(ACCOUNT, "v1", T0);
    // Alice is an admin: "Lead Imported" is the end users' Aha, not hers.
    let decisions = run(
        &program,
        &mut state,
        &[
            deal_won(),
            track(
                "t1",
                hours(5),
                "u-alice",
                Some("alice@acme.example"),
                "Lead Imported",
            ),
        ],
    );
    assert!(derived(&decisions, "aha.reached").is_empty());
    assert_eq!(state.aha, None);
    assert_eq!(person(&state, "alice@acme.example").aha_at, None);

    run(
        &program,
        &mut state,
        &[track(
            "t2",
            hours(6),
            "u-alice",
            Some("alice@acme.example"),
            "Pipeline Configured",
        )],
    );
    let aha = state.aha.as_ref().expect("the admin's own Aha counts");
    assert_eq!(aha.persona.as_deref(), Some("admin"));
    assert_eq!(aha.email.as_deref(), Some("alice@acme.example"));
}

#[test]
fn a_product_user_linked_to_nobody_reaches_the_aha_of_any_persona() {
    let program = program();
    let mut state = AccountState::new(ACCOUNT, "v1", T0);
    let decisions = run(
        &program,
        &mut state,
        &[
            deal_won(),
            track("t1", hours(2), "u-9", None, "Lead Imported"),
        ],
    );
    let announced = derived(&decisions, "aha.reached");
    assert_eq!(announced.len(), 1);
    assert_eq!(announced[0]["email"], Value::Null);
    assert_eq!(announced[0]["persona"], "end_user");
}

#[test]
fn milestones_are_recorded_once_each_in_order_including_module_completions() {
    let program = program();
    let mut state = AccountState::new(ACCOUNT, "v1", T0);
    let eve = Some("eve@acme.example");
    let decisions = run(
        &program,
        &mut state,
        &[
            deal_won(),
            track("t1", hours(1), "u-eve", eve, "Pipeline Created"),
            track("t2", hours(2), "u-eve", eve, "Pipeline Created"),
            event(
                "m1",
                "module.completed",
                hours(3),
                json!({ "email": "eve@acme.example", "journey": "selling", "module": "02-import-your-leads" }),
            ),
            track("t3", hours(4), "u-eve", eve, "Lead Imported"),
        ],
    );
    let reached: Vec<(String, u64, u64)> = derived(&decisions, "usage.milestone")
        .iter()
        .map(|d| {
            (
                d["milestone"].as_str().unwrap_or("").to_owned(),
                d["index"].as_u64().unwrap_or(0),
                d["of"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        reached,
        [
            ("Pipeline Created".to_owned(), 1, 3),
            ("module:import-your-leads".to_owned(), 2, 3),
            ("Lead Imported".to_owned(), 3, 3),
        ]
    );
    let eve = person(&state, "eve@acme.example");
    assert_eq!(eve.milestones.get("Pipeline Created"), Some(&hours(1)));
    assert_eq!(
        eve.milestones.get("module:import-your-leads"),
        Some(&hours(3))
    );
}

#[test]
fn another_persona_s_milestones_are_not_recorded() {
    let program = program();
    let mut state = AccountState::new(ACCOUNT, "v1", T0);
    let decisions = run(
        &program,
        &mut state,
        &[
            deal_won(),
            track(
                "t1",
                hours(1),
                "u-alice",
                Some("alice@acme.example"),
                "Pipeline Created",
            ),
        ],
    );
    assert!(derived(&decisions, "usage.milestone").is_empty());
    assert!(person(&state, "alice@acme.example").milestones.is_empty());
}

#[test]
fn an_active_users_goal_counts_product_users_of_its_persona_in_the_health_window() {
    let program = program();
    let mut state = AccountState::new(ACCOUNT, "v1", T0);
    let decisions = run(
        &program,
        &mut state,
        &[
            deal_won(),
            // An admin and an unlinked user do not count for the end users' goal.
            track(
                "t1",
                hours(1),
                "u-alice",
                Some("alice@acme.example"),
                "Opened",
            ),
            track("t2", hours(2), "u-9", None, "Opened"),
            track("t3", hours(3), "u-eve", Some("eve@acme.example"), "Opened"),
        ],
    );
    assert_eq!(state.goals[0].value, 1.0);
    assert!(derived(&decisions, "goal.achieved").is_empty());
}
