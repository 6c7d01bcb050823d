//! Behaviour of projects, their tasks and team tasks in [`decide`]: launching (at once or
//! as a draft), the timers of tasks and their fire-time checks, task changes from the API,
//! completion and chaining, team tasks' identity, and determinism. Each test builds a small
//! program in memory with [`load`], so the templates under test are in sight.

use super::{decide, Settings};
use crate::event::{Event, EventType};
use crate::program::{load, Program, ProgramSource, SourceFile};
use crate::state::{
    AccountState, AccountStatus, Decisions, NewTimer, Project, ProjectStatus, TaskStatus,
    TeamTaskStatus,
};
use crate::time::{Duration, Timestamp};
use serde_json::{json, Value};

const ACCOUNT: &str = "acme";
/// 2026-01-01T00:00:00Z.
const T0: Timestamp = Timestamp(1_767_225_600_000);

/// Onboarding: kickoff (team, due day 2, milestone) → setup (customer, day 1 to 5) →
/// import (customer, day 3 to 10) → review (team, final, due day 20); chained into a
/// one-task adoption template.
const PROGRAM: &str = r#"[program]
name = "Test program"
sender = { name = "Onboard Team", email = "team@onboard.example" }

[[personas]]
name = "admin"

[[team]]
name = "Ann Carter"
email = "ann@onboard.example"
role = "csm"

[[templates]]
name = "onboarding"
title = "Onboarding"
next = "adoption"
due_days = 30

[[templates.tasks]]
key = "kickoff"
title = "Kickoff call"
owner = "team"
assignee = "csm"
due_days = 2
milestone = true

[[templates.tasks]]
key = "setup"
title = "Set up your workspace"
owner = "customer"
assignee = "admin"
snooze_days = 1
due_days = 5
depends_on = ["kickoff"]

[[templates.tasks]]
key = "import"
title = "Import your data"
owner = "customer"
assignee = "admin"
snooze_days = 3
due_days = 10
depends_on = ["setup"]

[[templates.tasks]]
key = "review"
title = "Onboarding review"
owner = "team"
assignee = "csm"
due_days = 20
depends_on = ["import"]

[[templates]]
name = "adoption"
title = "Adoption"
completion = "all_tasks"

[[templates.tasks]]
key = "plan"
title = "Agree the adoption plan"
owner = "team"
assignee = "csm"

[[rules]]
name = "call-them"
on = "account.stalled"
reentry = { every = "1h" }

[[rules.actions]]
task = "Call the sponsor"
assignee = "csm"
reason = "stalled"
"#;

const LAUNCH: &str = r#"
[[rules]]
name = "launch-onboarding"
on = "deal.won"

[[rules.actions]]
launch = "onboarding"
"#;

const LAUNCH_DRAFT: &str = r#"
[[rules]]
name = "launch-onboarding"
on = "deal.won"

[[rules.actions]]
launch = "onboarding"
draft = true
"#;

fn load_program(text: &str) -> Result<Program, Vec<crate::program::Diagnostic>> {
    load(&ProgramSource {
        files: vec![SourceFile {
            path: "program.toml".to_owned(),
            contents: text.to_owned(),
        }],
    })
}

fn program(rules: &str) -> Program {
    match load_program(&format!("{PROGRAM}{rules}")) {
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

fn hours(n: i64) -> Timestamp {
    T0.plus(Duration(n * Duration::HOUR.millis()))
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

fn deal_won(at: Timestamp) -> Event {
    event(
        "deal-1",
        "deal.won",
        at,
        json!({ "account_name": "Acme", "csm": "ann@onboard.example" }),
    )
}

/// The `timer.fired` event the engine's scheduler appends for a due timer.
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

/// A fresh account that decides `events` in turn; every event's decisions.
fn run(program: &Program, state: &mut AccountState, events: &[Event]) -> Vec<Decisions> {
    let settings = Settings::new("https://onboard.example.com");
    events
        .iter()
        .map(|e| decide(program, &settings, state, e))
        .collect()
}

fn account() -> AccountState {
    AccountState::new(ACCOUNT, "v1", T0)
}

/// The account after a won deal launched the onboarding, with that deal's decisions.
fn launched() -> (Program, AccountState, Decisions) {
    let program = program(LAUNCH);
    let mut state = account();
    let mut decisions = run(&program, &mut state, &[deal_won(T0)]);
    let decided = decisions.remove(0);
    (program, state, decided)
}

fn project(state: &AccountState) -> &Project {
    state.projects.first().expect("a project")
}

fn status(state: &AccountState, task: &str) -> TaskStatus {
    project(state)
        .tasks
        .iter()
        .find(|t| t.key == task)
        .map(|t| t.status)
        .expect("the task")
}

/// The derived events of this type, as (type, data.task).
fn derived<'d>(decisions: &'d Decisions, kind: &str) -> Vec<&'d Value> {
    decisions
        .events
        .iter()
        .filter(|e| e.kind.as_str() == kind)
        .map(|e| &e.data)
        .collect()
}

fn tasks_of(events: &[&Value]) -> Vec<String> {
    events
        .iter()
        .map(|d| d["task"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The timer of a task for one purpose (`unlock`, `due-soon`, `overdue`, …).
fn timer<'d>(decisions: &'d Decisions, task: &str, what: &str) -> &'d NewTimer {
    decisions
        .timers
        .iter()
        .find(|t| t.rule.ends_with(&format!("/{task}/{what}")))
        .unwrap_or_else(|| panic!("no {what} timer of {task} in {:#?}", decisions.timers))
}

fn task_event(key: &str, kind: &str, at: Timestamp, project: &str, task: &str) -> Event {
    event(
        key,
        kind,
        at,
        json!({ "project": project, "task": task, "by": "Ann@Acme.example" }),
    )
}

// ------------------------------------------------------------------------------ launch

#[test]
fn launching_creates_the_tasks_open_snoozed_or_waiting_with_their_dates() {
    let (_, state, decided) = launched();
    let project = project(&state);
    assert_eq!(project.status, ProjectStatus::Active);
    assert_eq!(project.template, "onboarding");
    assert_eq!(project.launched_at, Some(T0));
    assert_eq!(project.due_at, Some(hours(30 * 24)));
    assert_eq!(project.program_version, "v1");
    let statuses: Vec<(&str, TaskStatus)> = project
        .tasks
        .iter()
        .map(|t| (t.key.as_str(), t.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("kickoff", TaskStatus::Open),
            ("setup", TaskStatus::Snoozed),
            ("import", TaskStatus::Snoozed),
            ("review", TaskStatus::Waiting),
        ]
    );
    let setup = &project.tasks[1];
    assert_eq!(setup.unlock_at, Some(hours(24)));
    assert_eq!(setup.due_at, Some(hours(5 * 24)));
    assert_eq!(
        derived(&decided, "project.launched")[0]["template"],
        "onboarding"
    );
    let unlocked = derived(&decided, "task.unlocked");
    assert_eq!(tasks_of(&unlocked), ["kickoff"]);
    assert_eq!(unlocked[0]["assignee"], "csm");
    assert_eq!(unlocked[0]["owner"], "team");
    assert_eq!(timer(&decided, "setup", "unlock").due_at, hours(24));
    assert_eq!(timer(&decided, "setup", "due-soon").due_at, hours(4 * 24));
    assert_eq!(timer(&decided, "setup", "overdue").due_at, hours(5 * 24));
    assert_eq!(
        timer(&decided, "setup", "overdue-reminder").due_at,
        hours(6 * 24)
    );
}

#[test]
fn a_draft_sends_nothing_until_it_is_launched() {
    let program = program(LAUNCH_DRAFT);
    let mut state = account();
    let decided = run(&program, &mut state, &[deal_won(T0)]).remove(0);
    assert_eq!(project(&state).status, ProjectStatus::Draft);
    assert!(decided.timers.is_empty(), "{:#?}", decided.timers);
    assert!(decided.messages.is_empty());
    assert!(derived(&decided, "project.launched").is_empty());
    assert!(derived(&decided, "task.unlocked").is_empty());

    let id = project(&state).id.clone();
    let launch = event(
        "launch-1",
        "project.launch",
        hours(48),
        json!({ "project": id }),
    );
    let decided = run(&program, &mut state, &[launch]).remove(0);
    assert_eq!(project(&state).status, ProjectStatus::Active);
    assert_eq!(project(&state).launched_at, Some(hours(48)));
    assert_eq!(derived(&decided, "project.launched").len(), 1);
    assert_eq!(tasks_of(&derived(&decided, "task.unlocked")), ["kickoff"]);
    assert_eq!(timer(&decided, "setup", "unlock").due_at, hours(72));
}

#[test]
fn a_project_asked_for_over_the_api_can_start_as_a_draft() {
    let program = program("");
    let mut state = account();
    let ask = event(
        "ask-1",
        "project.launch_requested",
        T0,
        json!({ "template": "adoption", "draft": true }),
    );
    let decided = run(&program, &mut state, &[ask]).remove(0);
    assert_eq!(project(&state).template, "adoption");
    assert_eq!(project(&state).status, ProjectStatus::Draft);
    assert!(decided.events.is_empty() && decided.timers.is_empty());
}

// ------------------------------------------------------------------------------ timers

#[test]
fn the_unlock_timer_opens_a_task_at_its_exact_hour() {
    let (program, mut state, decided) = launched();
    let id = project(&state).id.clone();
    let unlock = fired(timer(&decided, "setup", "unlock"));
    run(
        &program,
        &mut state,
        &[task_event(
            "done-1",
            "task.completed",
            hours(2),
            &id,
            "kickoff",
        )],
    );
    assert_eq!(status(&state, "setup"), TaskStatus::Snoozed);

    assert_eq!(unlock.at, hours(24));
    let decided = run(&program, &mut state, &[unlock]).remove(0);
    assert_eq!(status(&state, "setup"), TaskStatus::Open);
    assert_eq!(tasks_of(&derived(&decided, "task.unlocked")), ["setup"]);
    assert_eq!(decided.events[0].at, hours(24));
}

#[test]
fn completing_a_task_unlocks_its_dependants_whose_snooze_has_passed() {
    let (program, mut state, decided) = launched();
    let id = project(&state).id.clone();
    let unlock_setup = fired(timer(&decided, "setup", "unlock"));
    run(&program, &mut state, &[unlock_setup]);
    assert_eq!(status(&state, "setup"), TaskStatus::Waiting);

    let done = task_event("done-1", "task.completed", hours(30), &id, "kickoff");
    let decided = run(&program, &mut state, &[done]).remove(0);
    assert_eq!(status(&state, "kickoff"), TaskStatus::Done);
    assert_eq!(status(&state, "setup"), TaskStatus::Open);
    // Import depends on setup and is still snoozed: it does not open.
    assert_eq!(status(&state, "import"), TaskStatus::Snoozed);
    assert_eq!(tasks_of(&derived(&decided, "task.unlocked")), ["setup"]);
    let kickoff = &project(&state).tasks[0];
    assert_eq!(kickoff.completed_at, Some(hours(30)));
    assert_eq!(kickoff.completed_by.as_deref(), Some("ann@acme.example"));
}

#[test]
fn the_overdue_timer_flags_only_an_unfinished_task() {
    let (program, mut state, decided) = launched();
    let id = project(&state).id.clone();
    let kickoff_overdue = fired(timer(&decided, "kickoff", "overdue"));
    let setup_overdue = fired(timer(&decided, "setup", "overdue"));
    run(
        &program,
        &mut state,
        &[task_event(
            "done-1",
            "task.completed",
            hours(1),
            &id,
            "kickoff",
        )],
    );

    let nothing = run(&program, &mut state, &[kickoff_overdue]).remove(0);
    assert!(nothing.events.is_empty(), "{:#?}", nothing.events);
    assert!(!project(&state).tasks[0].overdue);

    let decided = run(&program, &mut state, &[setup_overdue]).remove(0);
    assert_eq!(tasks_of(&derived(&decided, "task.overdue")), ["setup"]);
    assert!(project(&state).tasks[1].overdue);
}

#[test]
fn due_soon_and_the_overdue_reminder_are_announced_for_an_unfinished_task() {
    let (program, mut state, decided) = launched();
    let soon = fired(timer(&decided, "kickoff", "due-soon"));
    let reminder = fired(timer(&decided, "kickoff", "overdue-reminder"));
    let decided = run(&program, &mut state, &[soon, reminder]);
    assert_eq!(
        tasks_of(&derived(&decided[0], "task.due_soon")),
        ["kickoff"]
    );
    assert_eq!(
        tasks_of(&derived(&decided[1], "task.overdue_reminder")),
        ["kickoff"]
    );
}

#[test]
fn a_task_announced_due_soon_says_whether_its_person_can_act_on_it_yet() {
    let (program, mut state, decided) = launched();
    // Setup is not open (its unlock has not come, and it waits for the kickoff): due
    // soon, but nothing its person can do yet.
    let soon = fired(timer(&decided, "setup", "due-soon"));
    let kickoff_soon = fired(timer(&decided, "kickoff", "due-soon"));
    let decided = run(&program, &mut state, &[kickoff_soon, soon]);
    assert_eq!(derived(&decided[0], "task.due_soon")[0]["status"], "open");
    assert_eq!(
        derived(&decided[1], "task.due_soon")[0]["status"],
        "snoozed"
    );
}

// ---------------------------------------------------------------------- task changes

#[test]
fn completing_a_milestone_task_announces_the_milestone() {
    let (program, mut state, _) = launched();
    let id = project(&state).id.clone();
    let done = task_event("done-1", "task.completed", hours(1), &id, "kickoff");
    let decided = run(&program, &mut state, &[done]).remove(0);
    let reached = derived(&decided, "milestone.reached");
    assert_eq!(reached.len(), 1);
    assert_eq!(reached[0]["project"], id.as_str());
    assert_eq!(reached[0]["task"], "kickoff");
}

#[test]
fn a_comment_mentions_people_by_email_or_by_a_first_name_no_one_else_has() {
    let (program, mut state, _) = launched();
    let id = project(&state).id.clone();
    let person = |key: &str, email: &str, name: &str| {
        event(
            key,
            "person.added",
            hours(1),
            json!({ "email": email, "name": name, "persona": "admin" }),
        )
    };
    run(
        &program,
        &mut state,
        &[
            person("p1", "ann@acme.example", "Ann Lee"),
            person("p2", "eve@acme.example", "Eve Stone"),
            person("p3", "bob.stone@acme.example", "Bob Stone"),
            person("p4", "bob.miller@acme.example", "Bob Miller"),
        ],
    );
    let decided = run(
        &program,
        &mut state,
        &[event(
            "c-1",
            "comment.posted",
            hours(2),
            json!({
                "project": id,
                "task": "kickoff",
                "author": "ann@acme.example",
                "text": "Thanks @Eve! Can @bob.stone@acme.example join? @Bob, @ann, @nobody and @eve again.",
            }),
        )],
    );
    let mentioned = derived(&decided[0], "person.mentioned");
    let emails: Vec<&str> = mentioned
        .iter()
        .map(|d| d["email"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(emails, ["eve@acme.example", "bob.stone@acme.example"]);
    assert_eq!(mentioned[0]["author"], "ann@acme.example");
    assert_eq!(mentioned[0]["task"], "kickoff");
    assert!(mentioned[0]["text"]
        .as_str()
        .is_some_and(|t| t.starts_with("Thanks @Eve!")));
}

#[test]
fn a_comment_on_an_unknown_task_mentions_no_one() {
    let (program, mut state, _) = launched();
    let id = project(&state).id.clone();
    run(
        &program,
        &mut state,
        &[event(
            "p1",
            "person.added",
            hours(1),
            json!({ "email": "eve@acme.example", "name": "Eve Stone" }),
        )],
    );
    let decided = run(
        &program,
        &mut state,
        &[event(
            "c-1",
            "comment.posted",
            hours(2),
            json!({ "project": id, "task": "no-such-task", "author": "ann@acme.example", "text": "@Eve" }),
        )],
    );
    assert!(derived(&decided[0], "person.mentioned").is_empty());
}

#[test]
fn a_task_can_be_reassigned_commented_and_reopened() {
    let (program, mut state, _) = launched();
    let id = project(&state).id.clone();
    let events = [
        event(
            "re-1",
            "task.reassigned",
            hours(1),
            json!({ "project": id, "task": "kickoff", "assignee": "ben@onboard.example" }),
        ),
        event(
            "c-1",
            "comment.posted",
            hours(2),
            json!({ "project": id, "task": "kickoff", "author": "ann@acme.example", "text": "Tuesday?" }),
        ),
        task_event("done-1", "task.completed", hours(3), &id, "kickoff"),
        task_event("open-1", "task.reopened", hours(4), &id, "kickoff"),
    ];
    run(&program, &mut state, &events);
    let kickoff = &project(&state).tasks[0];
    assert_eq!(kickoff.assignee, "ben@onboard.example");
    assert_eq!(kickoff.comments.len(), 1);
    assert_eq!(kickoff.comments[0].text, "Tuesday?");
    assert_eq!(kickoff.status, TaskStatus::Open);
    assert_eq!(kickoff.completed_at, None);
}

#[test]
fn completing_the_final_task_completes_the_project_launches_the_next_and_asks_for_a_review() {
    let (program, mut state, _) = launched();
    let id = project(&state).id.clone();
    let events: Vec<Event> = ["kickoff", "setup", "import", "review"]
        .iter()
        .enumerate()
        .map(|(i, task)| {
            task_event(
                &format!("done-{i}"),
                "task.completed",
                hours(100 + i as i64),
                &id,
                task,
            )
        })
        .collect();
    let decided = run(&program, &mut state, &events).pop().expect("decisions");
    let onboarding = project(&state);
    assert_eq!(onboarding.status, ProjectStatus::Completed);
    assert_eq!(onboarding.completed_at, Some(hours(103)));
    assert_eq!(derived(&decided, "project.completed").len(), 1);

    let adoption = &state.projects[1];
    assert_eq!(adoption.template, "adoption");
    assert_eq!(adoption.status, ProjectStatus::Active);
    assert_eq!(adoption.launched_at, Some(hours(103)));
    assert_eq!(
        derived(&decided, "project.launched")[0]["template"],
        "adoption"
    );

    let review = &state.team_tasks[0];
    assert_eq!(review.title, "Review the onboarding outcome");
    assert_eq!(review.identity, format!("{ACCOUNT}/{id}/review"));
    assert_eq!(review.assignee_role, "csm");
    assert_eq!(
        review.assignee_email.as_deref(),
        Some("ann@onboard.example")
    );
    assert_eq!(review.status, TeamTaskStatus::Open);
}

#[test]
fn an_all_tasks_project_completes_only_when_every_task_is_done() {
    let program = program("");
    let mut state = account();
    let ask = event(
        "ask-1",
        "project.launch_requested",
        T0,
        json!({ "template": "adoption" }),
    );
    run(&program, &mut state, &[ask]);
    let id = project(&state).id.clone();
    let decided = run(
        &program,
        &mut state,
        &[task_event(
            "done-1",
            "task.completed",
            hours(1),
            &id,
            "plan",
        )],
    )
    .remove(0);
    assert_eq!(project(&state).status, ProjectStatus::Completed);
    assert_eq!(derived(&decided, "project.completed").len(), 1);
}

// -------------------------------------------------------------------------- team tasks

#[test]
fn a_second_team_task_firing_with_the_same_identity_updates_the_open_one() {
    let program = program("");
    let mut state = account();
    let stalled = |key: &str, at| event(key, "account.stalled", at, json!({}));
    run(&program, &mut state, &[deal_won(T0)]);
    run(
        &program,
        &mut state,
        &[stalled("s-1", hours(1)), stalled("s-2", hours(5))],
    );
    assert_eq!(state.team_tasks.len(), 1, "{:#?}", state.team_tasks);
    let task = &state.team_tasks[0];
    assert_eq!(task.title, "Call the sponsor");
    assert_eq!(task.reason, "stalled");
    assert_eq!(task.identity, format!("{ACCOUNT}/call-them/stalled"));
    assert_eq!(task.n_firings, 2);
    assert_eq!(task.created_at, hours(1));
    assert_eq!(task.updated_at, hours(5));
    assert_eq!(task.event, "s-2");

    // Once done, the next firing opens a new one.
    let done = event(
        "tt-done",
        "team_task.completed",
        hours(6),
        json!({ "task": task.id }),
    );
    run(&program, &mut state, &[done, stalled("s-3", hours(7))]);
    assert_eq!(state.team_tasks.len(), 2);
    assert_eq!(state.team_tasks[0].status, TeamTaskStatus::Done);
    assert_eq!(state.team_tasks[1].status, TeamTaskStatus::Open);
    assert_ne!(state.team_tasks[0].id, state.team_tasks[1].id);
}

// ------------------------------------------------------------------- exit, determinism

#[test]
fn a_churned_account_gets_no_project() {
    let program = program(LAUNCH);
    let mut state = account();
    let churned = event("churn", "account.churned", T0, json!({}));
    let ask = event(
        "ask-1",
        "project.launch_requested",
        hours(1),
        json!({ "template": "onboarding" }),
    );
    let decided = run(&program, &mut state, &[churned, deal_won(hours(1)), ask]);
    assert_eq!(state.status, AccountStatus::Churned);
    assert!(state.projects.is_empty());
    for d in &decided {
        assert!(d.events.is_empty() && d.timers.is_empty() && d.messages.is_empty());
    }
}

#[test]
fn the_same_events_give_the_same_decisions_ids_and_state() {
    let play = || {
        let (program, mut state, first) = launched();
        let id = project(&state).id.clone();
        let unlock = fired(timer(&first, "setup", "unlock"));
        let mut all = vec![first];
        all.extend(run(
            &program,
            &mut state,
            &[
                task_event("done-1", "task.completed", hours(2), &id, "kickoff"),
                unlock,
            ],
        ));
        (all, state)
    };
    let (a, state_a) = play();
    let (b, state_b) = play();
    assert_eq!(a, b);
    assert_eq!(state_a, state_b);
    let mut keys: Vec<&str> = a
        .iter()
        .flat_map(|d| d.events.iter().map(|e| e.key.as_str()))
        .collect();
    let mut timers: Vec<&str> = a
        .iter()
        .flat_map(|d| d.timers.iter().map(|t| t.id.as_str()))
        .collect();
    let (n_keys, n_timers) = (keys.len(), timers.len());
    keys.sort_unstable();
    keys.dedup();
    timers.sort_unstable();
    timers.dedup();
    assert_eq!(
        (keys.len(), timers.len()),
        (n_keys, n_timers),
        "ids are unique"
    );
}

// ----------------------------------------------------------------------------- program

#[test]
fn a_launch_of_an_unknown_template_is_an_error_at_its_place_with_a_suggestion() {
    let text = format!("{PROGRAM}\n[[rules]]\nname = \"x\"\non = \"deal.won\"\n\n[[rules.actions]]\nlaunch = \"onbording\"\n");
    let line = u32::try_from(text.lines().count()).expect("few lines");
    let diagnostics = load_program(&text).expect_err("an unknown template");
    let error = diagnostics
        .iter()
        .find(|d| d.message == "unknown template `onbording`")
        .unwrap_or_else(|| panic!("{diagnostics:#?}"));
    assert_eq!((error.line, error.column), (line, 10));
    assert!(
        error
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("did you mean `onboarding`?")),
        "{error:?}"
    );
}

#[test]
fn a_team_task_needs_a_known_role() {
    let text = format!("{PROGRAM}\n[[rules]]\nname = \"x\"\non = \"deal.won\"\n\n[[rules.actions]]\ntask = \"Call\"\nassignee = \"cms\"\n");
    let diagnostics = load_program(&text).expect_err("an unknown role");
    assert!(
        diagnostics
            .iter()
            .any(|d| d.message == "unknown team role `cms`"
                && d.hint.as_deref().is_some_and(|h| h.contains("`csm`"))),
        "{diagnostics:#?}"
    );
}
