//! Behaviour of [`kickoff_brief`]: who is expected, what each attendee completed of their
//! journey's prerequisites, their Academy sign-in and product use since, the summary and
//! talking points; and, through [`decide`], the kickoff copied onto the project at launch,
//! `task.due_soon` saying `kickoff`, and the brief in the CSM's email. The account's state
//! is built by deciding real events against a small program loaded from TOML.

use super::*;
use crate::decide::{decide, Settings};
use crate::event::{Event, EventType};
use crate::program::{load, Prerequisite, ProgramSource, SourceFile};
use crate::state::{Decisions, NewTimer};
use crate::time::Duration;
use serde_json::{json, Value};

const ACCOUNT: &str = "acme";
/// 2026-01-01T00:00:00Z.
const T0: Timestamp = Timestamp(1_767_225_600_000);

/// Admins follow `setup` (two modules), executives `insights` (one); end users none. The
/// kickoff (due day 3) expects admins and executives to have done all three.
const PROGRAM: &str = r#"[program]
name = "Test program"
sender = { name = "Onboard Team", email = "team@onboard.example" }

[[personas]]
name = "admin"
journey = "setup"
aha_event = "Pipeline Configured"
milestones = ["module:invite", "User Invited"]

[[personas]]
name = "executive"
journey = "insights"
aha_event = "Dashboard Viewed"

[[personas]]
name = "end_user"

[health]
key_features = ["Lead Imported", "Pipeline Configured"]

[[team]]
name = "Ann Carter"
email = "ann@onboard.example"
role = "csm"

[[journeys]]
name = "setup"
title = "Setup"

[[journeys]]
name = "insights"
title = "Insights"

[[templates]]
name = "onboarding"
title = "Onboarding"

[[templates.tasks]]
key = "kickoff"
title = "Kickoff call"
owner = "team"
assignee = "csm"
due_days = 3
kickoff = { prerequisites = ["01-welcome", "invite", "insights/01-overview"], attendees = ["admin", "executive"] }

[[templates.tasks]]
key = "setup"
title = "Set up"
owner = "customer"
assignee = "admin"
due_days = 5
depends_on = ["kickoff"]

[[rules]]
name = "launch"
on = "deal.won"

[[rules.actions]]
launch = "onboarding"

[[rules]]
name = "kickoff-brief-csm"
on = "task.due_soon"
when = "event.data.kickoff == true"
reentry = { every = "1m" }

[[rules.actions]]
send = "csm-kickoff-brief"
to = "csm"
"#;

fn program_from(toml: &str) -> Program {
    let file = |path: &str, contents: &str| SourceFile {
        path: path.to_owned(),
        contents: contents.to_owned(),
    };
    let source = ProgramSource {
        files: vec![
            file("program.toml", toml),
            file(
                "academy/setup/01-welcome.md",
                "+++\ntitle = \"Welcome\"\n+++\n\nHello.\n",
            ),
            file(
                "academy/setup/02-invite.md",
                "+++\ntitle = \"Invite your team\"\n+++\n\nInvite.\n",
            ),
            file(
                "academy/insights/01-overview.md",
                "+++\ntitle = \"What the numbers say\"\n+++\n\nNumbers.\n",
            ),
            // The bundled message, so the example's template is rendered for real.
            file(
                "messages/csm-kickoff-brief.md",
                include_str!("../../../../program/messages/csm-kickoff-brief.md"),
            ),
        ],
    };
    match load(&source) {
        Ok(program) => program,
        Err(diagnostics) => panic!(
            "the test program should load:\n{}",
            diagnostics
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn program() -> Program {
    program_from(PROGRAM)
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

/// Acme wins at T0 with two admins, an executive and an end user; Ann is the CSM.
fn deal_won() -> Event {
    event(
        "deal",
        "deal.won",
        T0,
        json!({
            "account_name": "Acme Corp",
            "csm": "ann@onboard.example",
            "contacts": [
                { "email": "alice@acme.example", "name": "Alice Admin", "persona": "admin" },
                { "email": "erin@acme.example", "name": "Erin Exec", "persona": "executive" },
                { "email": "uma@acme.example", "name": "Uma User", "persona": "end_user" },
                { "email": "bob@acme.example", "name": "Bob Builder", "persona": "admin" },
            ],
        }),
    )
}

fn login(key: &str, at: Timestamp, email: &str) -> Event {
    event(key, "academy.login", at, json!({ "email": email }))
}

fn completed(key: &str, at: Timestamp, email: &str, module: &str) -> Event {
    event(
        key,
        "module.completed",
        at,
        json!({ "email": email, "module": module }),
    )
}

fn track(key: &str, at: Timestamp, email: &str, name: &str) -> Event {
    event(
        key,
        "product.track",
        at,
        json!({ "user": format!("u-{email}"), "email": email, "event": name, "properties": {} }),
    )
}

/// Decides each event in turn; returns all decisions.
fn run(program: &Program, state: &mut AccountState, events: &[Event]) -> Decisions {
    let settings = Settings::new("https://onboard.example.com");
    let mut all = Decisions::default();
    let mut queue: std::collections::VecDeque<Event> = events.iter().cloned().collect();
    while let Some(e) = queue.pop_front() {
        let decided = decide(program, &settings, state, &e);
        // Derived events are decided right after their cause, as the processor does.
        for derived in decided.events.iter().rev() {
            queue.push_front(event(
                &derived.key,
                derived.kind.as_str(),
                derived.at,
                derived.data.clone(),
            ));
        }
        all.extend(decided);
    }
    all
}

/// Alice finished both admin prerequisites, then reached her Aha and a milestone; Erin
/// signed in only; Bob did nothing; Uma is not an attendee.
fn story(program: &Program) -> (AccountState, Decisions) {
    let mut state = AccountState::new(ACCOUNT, "v1", T0);
    let decisions = run(
        program,
        &mut state,
        &[
            deal_won(),
            login("l1", hours(1), "alice@acme.example"),
            // Before her first prerequisite: not "since".
            track("t0", hours(1), "alice@acme.example", "Lead Imported"),
            completed("m1", hours(2), "alice@acme.example", "01-welcome"),
            completed("m2", hours(3), "alice@acme.example", "02-invite"),
            track("t1", hours(4), "alice@acme.example", "User Invited"),
            track("t2", hours(5), "alice@acme.example", "Pipeline Configured"),
            login("l2", hours(6), "erin@acme.example"),
            track("t3", hours(7), "uma@acme.example", "Lead Imported"),
        ],
    );
    (state, decisions)
}

fn project_id(state: &AccountState) -> String {
    state.projects[0].id.clone()
}

fn the_brief(program: &Program, state: &AccountState) -> KickoffBrief {
    kickoff_brief(program, state, &project_id(state), "kickoff", hours(8)).expect("a brief")
}

fn attendee<'b>(brief: &'b KickoffBrief, email: &str) -> &'b AttendeeBrief {
    brief
        .attendees
        .iter()
        .find(|a| a.email == email)
        .unwrap_or_else(|| panic!("{email} is not an attendee"))
}

fn due_soon_timer(decisions: &Decisions, task: &str) -> NewTimer {
    decisions
        .timers
        .iter()
        .find(|t| t.rule.ends_with(&format!("/{task}/due-soon")))
        .cloned()
        .unwrap_or_else(|| panic!("no due-soon timer for {task}"))
}

fn fired(timer: &NewTimer) -> Event {
    event(
        &format!("timer.fired:{}", timer.id),
        "timer.fired",
        timer.due_at,
        json!({
            "timer": timer.id,
            "rule": timer.rule,
            "since_at": timer.since_at.millis(),
            "program_version": timer.program_version,
        }),
    )
}

#[test]
fn launching_copies_the_kickoff_onto_the_project_task() {
    let program = program();
    let (state, _) = story(&program);
    let tasks = &state.projects[0].tasks;
    let kickoff = tasks[0].kickoff.as_ref().expect("the kickoff task has one");
    assert_eq!(
        kickoff.prerequisites,
        [
            Prerequisite {
                journey: "setup".to_owned(),
                slug: "01-welcome".to_owned()
            },
            Prerequisite {
                journey: "setup".to_owned(),
                slug: "02-invite".to_owned()
            },
            Prerequisite {
                journey: "insights".to_owned(),
                slug: "01-overview".to_owned()
            },
        ]
    );
    assert_eq!(kickoff.attendees, ["admin", "executive"]);
    assert_eq!(tasks[1].kickoff, None);
    // Other tasks keep their stored shape: no `kickoff` field at all.
    let stored = serde_json::to_value(&tasks[1]).expect("serialisable");
    assert!(stored.get("kickoff").is_none(), "{stored}");
}

#[test]
fn the_brief_lists_the_people_of_the_attendee_personas_in_account_order() {
    let program = program();
    let (state, _) = story(&program);
    let brief = the_brief(&program, &state);
    let emails: Vec<&str> = brief.attendees.iter().map(|a| a.email.as_str()).collect();
    assert_eq!(
        emails,
        [
            "alice@acme.example",
            "erin@acme.example",
            "bob@acme.example"
        ]
    );
    assert_eq!(brief.attendee_personas, ["admin", "executive"]);
    assert_eq!(brief.account_name, "Acme Corp");
    assert_eq!(brief.title, "Kickoff call");
    assert_eq!(brief.due_at.as_deref(), Some("2026-01-04T00:00:00Z"));
    assert_eq!(brief.as_of, "2026-01-01T08:00:00Z");
    let titles: Vec<&str> = brief
        .prerequisites
        .iter()
        .map(|m| m.title.as_str())
        .collect();
    assert_eq!(
        titles,
        ["Welcome", "Invite your team", "What the numbers say"]
    );
}

#[test]
fn without_attendees_every_person_of_the_account_is_expected() {
    let program = program_from(&PROGRAM.replace(", attendees = [\"admin\", \"executive\"]", ""));
    let (state, _) = story(&program);
    let brief = the_brief(&program, &state);
    assert_eq!(brief.attendees.len(), 4);
    assert!(brief.attendee_personas.is_empty());
    // Uma's persona has no journey: nothing is expected of her.
    let uma = attendee(&brief, "uma@acme.example");
    assert_eq!((uma.n_done, uma.n_total), (0, 0));
    assert_eq!(uma.readiness, Readiness::Ready);
}

#[test]
fn each_attendee_has_the_prerequisites_of_their_own_journey_with_completion_times() {
    let program = program();
    let (state, _) = story(&program);
    let brief = the_brief(&program, &state);
    let alice = attendee(&brief, "alice@acme.example");
    let modules: Vec<(&str, Option<&str>)> = alice
        .modules
        .iter()
        .map(|m| (m.slug.as_str(), m.completed_at.as_deref()))
        .collect();
    assert_eq!(
        modules,
        [
            ("01-welcome", Some("2026-01-01T02:00:00Z")),
            ("02-invite", Some("2026-01-01T03:00:00Z")),
        ]
    );
    assert_eq!((alice.n_done, alice.n_total), (2, 2));
    assert_eq!(alice.readiness, Readiness::Ready);

    let erin = attendee(&brief, "erin@acme.example");
    assert_eq!(erin.modules.len(), 1);
    assert_eq!(erin.modules[0].title, "What the numbers say");
    assert!(!erin.modules[0].done);
    assert_eq!(erin.readiness, Readiness::NotStarted);
}

#[test]
fn an_attendee_with_some_prerequisites_done_is_partly_ready() {
    let program = program();
    let (mut state, _) = story(&program);
    run(
        &program,
        &mut state,
        &[completed("m3", hours(7), "bob@acme.example", "02-invite")],
    );
    let brief = the_brief(&program, &state);
    let bob = attendee(&brief, "bob@acme.example");
    assert_eq!(bob.readiness, Readiness::Partly);
    assert_eq!((bob.n_done, bob.n_total), (1, 2));
    assert_eq!(
        brief.summary,
        BriefSummary {
            n_attendees: 3,
            n_ready: 1,
            n_partly: 1,
            n_not_started: 1
        }
    );
}

#[test]
fn the_summary_counts_attendees_ready_partly_and_not_started() {
    let program = program();
    let (state, _) = story(&program);
    assert_eq!(
        the_brief(&program, &state).summary,
        BriefSummary {
            n_attendees: 3,
            n_ready: 1,
            n_partly: 0,
            n_not_started: 2
        }
    );
}

#[test]
fn academy_sign_in_is_reported_with_its_last_time() {
    let program = program();
    let (state, _) = story(&program);
    let brief = the_brief(&program, &state);
    let erin = attendee(&brief, "erin@acme.example");
    assert!(erin.signed_in);
    assert_eq!(
        erin.last_sign_in_at.as_deref(),
        Some("2026-01-01T06:00:00Z")
    );
    let bob = attendee(&brief, "bob@acme.example");
    assert!(!bob.signed_in);
    assert_eq!(bob.last_sign_in_at, None);
}

#[test]
fn product_use_counts_from_the_first_prerequisite_completion() {
    let program = program();
    let (state, _) = story(&program);
    let brief = the_brief(&program, &state);
    let alice = attendee(&brief, "alice@acme.example");
    assert_eq!(alice.since.as_deref(), Some("2026-01-01T02:00:00Z"));
    assert_eq!(alice.aha_at.as_deref(), Some("2026-01-01T05:00:00Z"));
    let milestones: Vec<(&str, &str)> = alice
        .milestones
        .iter()
        .map(|m| (m.name.as_str(), m.at.as_str()))
        .collect();
    assert_eq!(
        milestones,
        [
            ("module:invite", "2026-01-01T03:00:00Z"),
            ("User Invited", "2026-01-01T04:00:00Z"),
        ]
    );
    // `Lead Imported` was used before her first prerequisite: not in the brief.
    let features: Vec<&str> = alice.features.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(features, ["Pipeline Configured"]);
    assert_eq!(
        alice.last_product_use_at.as_deref(),
        Some("2026-01-01T05:00:00Z")
    );
    assert!(alice.used_product_since);
}

#[test]
fn without_a_completed_prerequisite_product_use_counts_from_enrolment() {
    let program = program();
    let (mut state, _) = story(&program);
    run(
        &program,
        &mut state,
        &[track("t9", hours(7), "erin@acme.example", "Lead Imported")],
    );
    let brief = the_brief(&program, &state);
    let erin = attendee(&brief, "erin@acme.example");
    assert_eq!(erin.since.as_deref(), Some("2026-01-01T00:00:00Z"));
    assert_eq!(erin.features[0].name, "Lead Imported");
    assert_eq!(erin.features[0].at, "2026-01-01T07:00:00Z");
    let bob = attendee(&brief, "bob@acme.example");
    assert!(bob.features.is_empty() && bob.milestones.is_empty());
    assert_eq!(bob.last_product_use_at, None);
    assert!(!bob.used_product_since);
}

#[test]
fn talking_points_say_what_to_do_with_each_attendee_and_the_whole() {
    let program = program();
    let (state, _) = story(&program);
    let brief = the_brief(&program, &state);
    assert_eq!(
        brief.talking_points,
        [
            "Alice finished every prerequisite and reached their Aha (Pipeline Configured), used Pipeline Configured, and reached User Invited: start from strategy, not basics",
            "Erin signed in but has not started the prerequisites (What the numbers say): expect to cover the basics",
            "Bob has not signed in to the Academy yet: send their sign-in link before the call",
            "1 of 3 attendees ready, 0 partly, 2 not started",
        ]
    );
}

#[test]
fn talking_points_ask_a_partly_ready_attendee_to_finish_and_note_a_ready_one_without_product_use() {
    let program = program();
    let mut state = AccountState::new(ACCOUNT, "v1", T0);
    run(
        &program,
        &mut state,
        &[
            deal_won(),
            completed("m1", hours(1), "alice@acme.example", "01-welcome"),
            completed("m2", hours(1), "erin@acme.example", "01-overview"),
        ],
    );
    let brief = the_brief(&program, &state);
    assert_eq!(
        brief.talking_points[0],
        "Alice finished 1 of 2 prerequisites; still to do: Invite your team: ask them to finish before the call, or cover it briefly"
    );
    assert_eq!(
        brief.talking_points[1],
        "Erin finished every prerequisite but has not used the product since: plan a first hands-on step together"
    );
}

#[test]
fn the_brief_is_deterministic() {
    let program = program();
    let (state, _) = story(&program);
    let (again, _) = story(&program);
    assert_eq!(the_brief(&program, &state), the_brief(&program, &again));
    assert_eq!(
        serde_json::to_string(&the_brief(&program, &state)).expect("serialisable"),
        serde_json::to_string(&the_brief(&program, &again)).expect("serialisable")
    );
}

#[test]
fn a_task_that_is_not_a_kickoff_has_no_brief() {
    let program = program();
    let (state, _) = story(&program);
    let error = kickoff_brief(&program, &state, &project_id(&state), "setup", hours(8))
        .expect_err("not a kickoff");
    assert!(matches!(error, BriefError::NotKickoff { .. }), "{error}");
    assert!(error.to_string().contains("not a kickoff task"), "{error}");
}

#[test]
fn an_unknown_project_or_task_has_no_brief() {
    let program = program();
    let (state, _) = story(&program);
    let error =
        kickoff_brief(&program, &state, "prj_nope", "kickoff", hours(8)).expect_err("no project");
    assert_eq!(
        error,
        BriefError::NoProject {
            account: ACCOUNT.to_owned(),
            project: "prj_nope".to_owned()
        }
    );
    let error = kickoff_brief(&program, &state, &project_id(&state), "nope", hours(8))
        .expect_err("no task");
    assert!(matches!(error, BriefError::NoTask { .. }), "{error}");
}

#[test]
fn a_kickoff_task_s_due_soon_says_kickoff_and_others_do_not() {
    let program = program();
    let (mut state, decisions) = story(&program);
    let kickoff = run(
        &program,
        &mut state,
        &[fired(&due_soon_timer(&decisions, "kickoff"))],
    );
    let due = kickoff
        .events
        .iter()
        .find(|e| e.kind.as_str() == "task.due_soon")
        .expect("due soon");
    assert_eq!(due.data["kickoff"], true);
    let setup = run(
        &program,
        &mut state,
        &[fired(&due_soon_timer(&decisions, "setup"))],
    );
    let due = setup
        .events
        .iter()
        .find(|e| e.kind.as_str() == "task.due_soon")
        .expect("due soon");
    assert!(due.data.get("kickoff").is_none(), "{}", due.data);
}

#[test]
fn the_csm_gets_the_brief_by_email_the_day_before_the_kickoff() {
    let program = program();
    let (mut state, decisions) = story(&program);
    let timer = due_soon_timer(&decisions, "kickoff");
    assert_eq!(
        timer.due_at,
        Timestamp(T0.millis() + 2 * Duration::DAY.millis())
    );
    let decided = run(&program, &mut state, &[fired(&timer)]);
    let email = decided
        .messages
        .iter()
        .find(|m| m.rule == "kickoff-brief-csm")
        .expect("the brief is sent");
    assert_eq!(email.to_email, "ann@onboard.example");
    assert_eq!(
        email.subject,
        "Kickoff brief for Acme Corp: 1 of 3 attendees ready"
    );
    for expected in [
        "Alice Admin (admin, alice@acme.example)",
        "Prerequisites: 2 of 2 done, ready.",
        "[x] Invite your team, done 2026-01-01",
        "Erin Exec (executive, erin@acme.example)",
        "[ ] What the numbers say, not done",
        "Bob Builder (admin, bob@acme.example)",
        "has not signed in yet",
        "Used Pipeline Configured, last on 2026-01-01",
        "Bob has not signed in to the Academy yet: send their sign-in link before the call",
    ] {
        assert!(
            email.body.contains(expected),
            "{expected:?} in:\n{}",
            email.body
        );
    }
    assert!(!email.body.contains("Uma"), "{}", email.body);
}

#[test]
fn the_email_keeps_the_brief_as_of_when_it_was_decided() {
    let program = program();
    let (mut state, decisions) = story(&program);
    let timer = due_soon_timer(&decisions, "kickoff");
    // Bob finishes both modules after the email was decided: the email does not change.
    let first = run(&program, &mut state, &[fired(&timer)]);
    run(
        &program,
        &mut state,
        &[
            completed(
                "b1",
                timer.due_at.plus(Duration::HOUR),
                "bob@acme.example",
                "01-welcome",
            ),
            completed(
                "b2",
                timer.due_at.plus(Duration::HOUR),
                "bob@acme.example",
                "02-invite",
            ),
        ],
    );
    let body = &first.messages[0].body;
    assert!(body.contains("has not signed in yet"), "{body}");
    let later = kickoff_brief(
        &program,
        &state,
        &project_id(&state),
        "kickoff",
        timer.due_at.plus(Duration::DAY),
    )
    .expect("a brief");
    assert_eq!(
        attendee(&later, "bob@acme.example").readiness,
        Readiness::Ready
    );
}
