//! Behaviour of [`decide`]: which rules fire for an event and what they decide (messages,
//! timers, cancels, derived events, traces), how events change an account's state, how a
//! leaving account is shut out, and that every decision and id is deterministic. Each test
//! builds a small program in memory with [`load`], so the rules under test are in sight.

use super::{decide, Settings};
use crate::event::{Event, EventType};
use crate::program::{load, Program, ProgramSource, SourceFile};
use crate::state::{
    AccountState, AccountStatus, Decisions, NewMessage, NewTimer, TimerCancel, Trace, TraceOutcome,
};
use crate::time::{Duration, Timestamp};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

// ------------------------------------------------------------------------------ fixtures

const ACCOUNT: &str = "acme";
const PUBLIC_URL: &str = "https://onboard.example.com";
/// 2026-01-01T00:00:00Z.
const T0: Timestamp = Timestamp(1_767_225_600_000);

const HEAD: &str = r#"[program]
name = "Test program"
sender = { name = "Onboard Team", email = "team@onboard.example" }

[[personas]]
name = "admin"

[[personas]]
name = "end_user"
"#;

/// Two CSMs and a sales rep.
const TEAM: &str = r#"
[[team]]
name = "Ann Carter"
email = "ann@onboard.example"
role = "csm"

[[team]]
name = "Ben Doyle"
email = "ben@onboard.example"
role = "csm"

[[team]]
name = "Sam Seller"
email = "sam@onboard.example"
role = "sales"
"#;

/// A team without any CSM: accounts keep no CSM and mail comes from the program sender.
const TEAM_WITHOUT_CSM: &str = r#"
[[team]]
name = "Sam Seller"
email = "sam@onboard.example"
role = "sales"
"#;

const MESSAGES: &[(&str, &str)] = &[
    (
        "messages/hello.md",
        "+++\nsubject = \"Hello {{ person.name }} at {{ account.name }}\"\n+++\n\
         Hi {{ person.name }} <{{ person.email }}>, \
         {% if csm %}your CSM is {{ csm.name }}{% else %}no CSM yet{% endif %}. \
         Sign in: {{ sign_in_url }}\n",
    ),
    (
        "messages/note.md",
        "+++\nsubject = \"About {{ account.name }}\"\n+++\nFor {{ person.name }}.\n",
    ),
    (
        "messages/broken.md",
        "+++\nsubject = \"Broken\"\n+++\n{{ account.name | no_such_filter }}\n",
    ),
    (
        "messages/broken-for-admins.md",
        "+++\nsubject = \"Partly broken\"\n+++\n\
         {% if person.persona == \"admin\" %}{{ account.name | no_such_filter }}{% endif %}ok\n",
    ),
];

/// The test program with these `[[rules]]`, the usual team and the test messages.
fn program(rules: &str) -> Program {
    program_with(TEAM, rules)
}

/// The test program with this team and these `[[rules]]`.
fn program_with(team: &str, rules: &str) -> Program {
    let mut files = vec![SourceFile {
        path: "program.toml".to_owned(),
        contents: format!("{HEAD}{team}\n{rules}"),
    }];
    files.extend(MESSAGES.iter().map(|(path, contents)| SourceFile {
        path: (*path).to_owned(),
        contents: (*contents).to_owned(),
    }));
    match load(&ProgramSource { files }) {
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

fn settings() -> Settings {
    Settings::new(PUBLIC_URL)
}

fn account() -> AccountState {
    AccountState::new(ACCOUNT, "v1", T0)
}

/// `T0` plus some hours.
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

/// A plain event without data.
fn plain(key: &str, kind: &str, at: Timestamp) -> Event {
    event(key, kind, at, json!({}))
}

/// Deal won for "Acme Corp" with an admin and an end user, and Ann as the CSM.
fn deal_won(key: &str, at: Timestamp) -> Event {
    event(
        key,
        "deal.won",
        at,
        json!({
            "account_name": "Acme Corp",
            "csm": "ann@onboard.example",
            "contacts": [
                { "email": "Alice@Acme.example", "name": "Alice Admin", "persona": "admin" },
                { "email": "eve@acme.example", "name": "Eve User", "persona": "end_user" },
            ],
        }),
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

/// Decides each event in turn on `state`, returning every event's decisions.
fn run(program: &Program, state: &mut AccountState, events: &[Event]) -> Vec<Decisions> {
    let settings = settings();
    events
        .iter()
        .map(|e| decide(program, &settings, state, e))
        .collect()
}

/// The traces of one rule.
fn traces<'d>(decisions: &'d Decisions, rule: &str) -> Vec<&'d Trace> {
    decisions.traces.iter().filter(|t| t.rule == rule).collect()
}

/// The single trace of one rule.
#[track_caller]
fn trace<'d>(decisions: &'d Decisions, rule: &str) -> &'d Trace {
    match traces(decisions, rule).as_slice() {
        [one] => one,
        other => panic!("expected one trace for `{rule}`, got {other:#?}"),
    }
}

/// The recipients of the messages, in order.
fn recipients(decisions: &Decisions) -> Vec<&str> {
    decisions
        .messages
        .iter()
        .map(|m| m.to_email.as_str())
        .collect()
}

fn message_to<'d>(decisions: &'d Decisions, email: &str) -> &'d NewMessage {
    decisions
        .messages
        .iter()
        .find(|m| m.to_email == email)
        .unwrap_or_else(|| panic!("no message to {email} in {:#?}", decisions.messages))
}

const WELCOME: &str = r#"
[[rules]]
name = "welcome"
on = "deal.won"

[[rules.actions]]
send = "hello"
to = "people"

[[rules.actions]]
emit = "welcome.sent"
"#;

const NO_LOGIN: &str = r#"
[[rules]]
name = "no-login"
after = "72h"
since = "deal.won"
unless = "academy.login"

[[rules.actions]]
send = "hello"
to = "people"
"#;

/// A rule on `task.overdue` that tells the CSM, with the given re-entry policy.
fn overdue_rule(reentry: &str) -> String {
    format!(
        r#"
[[rules]]
name = "overdue"
on = "task.overdue"
reentry = {reentry}

[[rules.actions]]
send = "note"
to = "csm"
"#
    )
}

// ----------------------------------------------------------------------------- triggers

#[test]
fn an_on_rule_fires_for_its_event_type_and_says_what_it_did() {
    let program = program(WELCOME);
    let decisions = decide(
        &program,
        &settings(),
        &mut account(),
        &deal_won("d1", hours(0)),
    );

    let trace = trace(&decisions, "welcome");
    assert_eq!(trace.outcome, TraceOutcome::Fired);
    assert_eq!(trace.event, "d1");
    assert_eq!(trace.account, ACCOUNT);
    assert_eq!(trace.at, hours(0));
    for done in [
        "send `hello` to alice@acme.example",
        "send `hello` to eve@acme.example",
        "emit `welcome.sent`",
    ] {
        assert!(
            trace.reason.contains(done),
            "{done:?} missing in {:?}",
            trace.reason
        );
    }
}

#[test]
fn an_on_rule_does_nothing_for_other_event_types() {
    let program = program(WELCOME);
    let mut state = account();
    let decisions = decide(
        &program,
        &settings(),
        &mut state,
        &plain("p1", "product.track", hours(1)),
    );

    assert_eq!(decisions, Decisions::default());
    assert!(state.rule_runs.is_empty());
}

// -------------------------------------------------------------------------------- sends

#[test]
fn a_send_to_people_renders_each_person_s_message_with_the_placeholders() {
    let program = program(WELCOME);
    let decisions = decide(
        &program,
        &settings(),
        &mut account(),
        &deal_won("d1", hours(0)),
    );

    assert_eq!(
        recipients(&decisions),
        ["alice@acme.example", "eve@acme.example"]
    );
    let alice = message_to(&decisions, "alice@acme.example");
    assert_eq!(alice.to_name, "Alice Admin");
    assert_eq!(alice.subject, "Hello Alice Admin at Acme Corp");
    assert_eq!(
        alice.body.trim(),
        "Hi Alice Admin <alice@acme.example>, your CSM is Ann Carter. \
         Sign in: %ONBOARD_SIGN_IN_URL%"
    );
    assert_eq!(alice.sign_in_email.as_deref(), Some("alice@acme.example"));
    assert_eq!(alice.channel, "email");
    assert_eq!(alice.account, ACCOUNT);
    assert_eq!(alice.rule, "welcome");
    assert_eq!(alice.cause, "d1");
    let eve = message_to(&decisions, "eve@acme.example");
    assert_eq!(eve.subject, "Hello Eve User at Acme Corp");
    assert!(eve.body.starts_with("Hi Eve User <eve@acme.example>"));
}

#[test]
fn messages_come_from_the_account_s_csm() {
    let program = program(WELCOME);
    let decisions = decide(
        &program,
        &settings(),
        &mut account(),
        &deal_won("d1", hours(0)),
    );

    assert_eq!(decisions.messages.len(), 2);
    for message in &decisions.messages {
        assert_eq!(message.from_name, "Ann Carter");
        assert_eq!(message.from_email, "ann@onboard.example");
        assert!(
            message.message_id.ends_with("@onboard.example>"),
            "{}",
            message.message_id
        );
    }
}

#[test]
fn messages_come_from_the_program_sender_when_the_account_has_no_csm() {
    let program = program_with(TEAM_WITHOUT_CSM, WELCOME);
    let mut state = account();
    let decisions = decide(&program, &settings(), &mut state, &deal_won("d1", hours(0)));

    assert_eq!(state.csm, None);
    assert_eq!(decisions.messages.len(), 2);
    for message in &decisions.messages {
        assert_eq!(message.from_name, "Onboard Team");
        assert_eq!(message.from_email, "team@onboard.example");
        assert!(message.body.contains("no CSM yet"), "{}", message.body);
    }
}

#[test]
fn a_person_s_sign_in_link_is_left_for_delivery_and_others_get_the_academy_page() {
    let program = program_with(
        TEAM,
        r#"
[[rules]]
name = "csm-hello"
on = "deal.won"
[[rules.actions]]
send = "hello"
to = "csm"
"#,
    );
    let settings = Settings::new(&format!("{PUBLIC_URL}/"));
    let decisions = decide(
        &program,
        &settings,
        &mut account(),
        &deal_won("d1", hours(0)),
    );

    let to_csm = &decisions.messages[0];
    assert!(
        to_csm
            .body
            .contains("Sign in: https://onboard.example.com/academy"),
        "{}",
        to_csm.body
    );
    assert!(!to_csm.body.contains("//academy"), "{}", to_csm.body);
    assert_eq!(to_csm.sign_in_email, None);
}

#[test]
fn message_ids_are_the_same_for_the_same_inputs_and_distinct_per_recipient() {
    let program = program(WELCOME);
    let first = decide(
        &program,
        &settings(),
        &mut account(),
        &deal_won("d1", hours(0)),
    );
    let again = decide(
        &program,
        &settings(),
        &mut account(),
        &deal_won("d1", hours(0)),
    );
    let other_event = decide(
        &program,
        &settings(),
        &mut account(),
        &deal_won("d2", hours(0)),
    );

    let ids = |d: &Decisions| -> Vec<(String, String)> {
        d.messages
            .iter()
            .map(|m| (m.id.clone(), m.message_id.clone()))
            .collect()
    };
    assert_eq!(ids(&first), ids(&again));
    let [(alice_id, alice_header), (eve_id, eve_header)] =
        ids(&first).try_into().expect("two messages");
    assert_ne!(alice_id, eve_id);
    assert_ne!(alice_header, eve_header);
    assert!(alice_header.starts_with(&format!("<{alice_id}@")));
    for (id, _) in ids(&other_event) {
        assert!(
            id != alice_id && id != eve_id,
            "{id} reused for another event"
        );
    }
}

#[test]
fn a_send_to_a_persona_reaches_only_that_persona() {
    let program = program(
        r#"
[[rules]]
name = "admins"
on = "deal.won"

[[rules.actions]]
send = "note"
to = "persona:admin"
"#,
    );
    let decisions = decide(
        &program,
        &settings(),
        &mut account(),
        &deal_won("d1", hours(0)),
    );

    assert_eq!(recipients(&decisions), ["alice@acme.example"]);
}

#[test]
fn a_send_to_the_csm_reaches_the_csm() {
    let program = program(&overdue_rule("\"once\""));
    let mut state = account();
    run(&program, &mut state, &[deal_won("d1", hours(0))]);

    let decisions = decide(
        &program,
        &settings(),
        &mut state,
        &plain("o1", "task.overdue", hours(1)),
    );

    assert_eq!(recipients(&decisions), ["ann@onboard.example"]);
    let message = &decisions.messages[0];
    assert_eq!(message.to_name, "Ann Carter");
    assert_eq!(message.subject, "About Acme Corp");
    assert_eq!(message.body.trim(), "For Ann Carter.");
}

#[test]
fn a_send_without_any_recipient_still_fires_and_says_so() {
    let program = program(WELCOME);
    let decisions = decide(
        &program,
        &settings(),
        &mut account(),
        &plain("d1", "deal.won", hours(0)),
    );

    assert!(decisions.messages.is_empty());
    let trace = trace(&decisions, "welcome");
    assert_eq!(trace.outcome, TraceOutcome::Fired);
    assert!(trace.reason.contains("no recipient"), "{}", trace.reason);
}

// ----------------------------------------------------------------------------- re-entry

#[test]
fn a_once_rule_refuses_a_second_run_and_says_why() {
    let program = program(&overdue_rule("\"once\""));
    let mut state = account();
    let decisions = run(
        &program,
        &mut state,
        &[
            plain("o1", "task.overdue", hours(0)),
            plain("o2", "task.overdue", hours(500)),
        ],
    );

    assert_eq!(trace(&decisions[0], "overdue").outcome, TraceOutcome::Fired);
    let second = trace(&decisions[1], "overdue");
    assert_eq!(second.outcome, TraceOutcome::Skipped);
    assert!(second.reason.contains("runs once"), "{}", second.reason);
    assert!(decisions[1].messages.is_empty());
    assert_eq!(state.rule_runs["overdue"].n, 1);
}

#[test]
fn an_every_rule_runs_again_only_once_its_gap_of_event_time_has_passed() {
    let program = program(&overdue_rule("{ every = \"24h\" }"));
    let mut state = account();
    let decisions = run(
        &program,
        &mut state,
        &[
            plain("o1", "task.overdue", hours(0)),
            plain("o2", "task.overdue", hours(23)),
            plain("o3", "task.overdue", hours(24)),
            plain("o4", "task.overdue", hours(30)),
        ],
    );

    let outcomes: Vec<TraceOutcome> = decisions
        .iter()
        .map(|d| trace(d, "overdue").outcome)
        .collect();
    assert_eq!(
        outcomes,
        [
            TraceOutcome::Fired,
            TraceOutcome::Skipped,
            TraceOutcome::Fired,
            TraceOutcome::Skipped
        ]
    );
    let refused = trace(&decisions[1], "overdue");
    assert!(
        refused.reason.contains("at most every"),
        "{}",
        refused.reason
    );
    assert_eq!(decisions[2].messages.len(), 1);
    assert_eq!(state.rule_runs["overdue"].last_at, hours(24));
}

#[test]
fn an_at_most_rule_runs_that_many_times_and_no_more() {
    let program = program(&overdue_rule("{ at_most = 2 }"));
    let mut state = account();
    let decisions = run(
        &program,
        &mut state,
        &[
            plain("o1", "task.overdue", hours(0)),
            plain("o2", "task.overdue", hours(1)),
            plain("o3", "task.overdue", hours(2)),
        ],
    );

    assert_eq!(trace(&decisions[0], "overdue").outcome, TraceOutcome::Fired);
    assert_eq!(trace(&decisions[1], "overdue").outcome, TraceOutcome::Fired);
    let third = trace(&decisions[2], "overdue");
    assert_eq!(third.outcome, TraceOutcome::Skipped);
    assert!(third.reason.contains("at most 2"), "{}", third.reason);
    assert!(decisions[2].messages.is_empty());
    assert_eq!(state.rule_runs["overdue"].n, 2);
}

// ---------------------------------------------------------------- after … since … unless

#[test]
fn an_after_rule_schedules_a_timer_at_the_event_time_plus_its_delay() {
    let program = program(NO_LOGIN);
    let mut state = account();
    let decisions = decide(&program, &settings(), &mut state, &deal_won("d1", hours(5)));

    let [timer] = decisions.timers.as_slice() else {
        panic!("expected one timer, got {:#?}", decisions.timers);
    };
    assert_eq!(timer.account, ACCOUNT);
    assert_eq!(timer.rule, "no-login");
    assert_eq!(timer.due_at, hours(5 + 72));
    assert_eq!(timer.since_at, hours(5));
    assert_eq!(timer.program_version, "v1");
    assert!(decisions.messages.is_empty());
    let trace = trace(&decisions, "no-login");
    assert_eq!(trace.outcome, TraceOutcome::Scheduled);
    assert!(trace.reason.contains(&timer.id), "{}", trace.reason);
    assert!(trace.reason.contains("academy.login"), "{}", trace.reason);
}

#[test]
fn timer_ids_are_the_same_for_the_same_event_and_differ_between_events() {
    let program = program(NO_LOGIN);
    let timer_of = |key: &str| {
        let decisions = decide(
            &program,
            &settings(),
            &mut account(),
            &deal_won(key, hours(0)),
        );
        decisions.timers[0].id.clone()
    };

    assert_eq!(timer_of("d1"), timer_of("d1"));
    assert_ne!(timer_of("d1"), timer_of("d2"));
}

#[test]
fn the_unless_event_cancels_the_rule_s_pending_timers() {
    let program = program(NO_LOGIN);
    let mut state = account();
    let decisions = run(
        &program,
        &mut state,
        &[
            deal_won("d1", hours(0)),
            plain("l1", "academy.login", hours(10)),
        ],
    );

    assert_eq!(
        decisions[1].cancels,
        [TimerCancel {
            account: ACCOUNT.to_owned(),
            rule: Some("no-login".to_owned()),
        }]
    );
    assert_eq!(
        trace(&decisions[1], "no-login").outcome,
        TraceOutcome::Cancelled
    );
    assert!(decisions[1].timers.is_empty());
    assert!(decisions[1].messages.is_empty());
}

/// What an Academy sign-in at `at` decides for the account (the `unless` event of
/// [`NO_LOGIN`]).
fn sign_in(program: &Program, state: &mut AccountState, at: Timestamp) -> Decisions {
    decide(
        program,
        &settings(),
        state,
        &plain("login", "academy.login", at),
    )
}

#[test]
fn an_unless_event_with_no_window_open_cancels_nothing_and_traces_nothing() {
    let program = program(NO_LOGIN);

    let decisions = sign_in(&program, &mut account(), hours(1));

    assert!(decisions.cancels.is_empty());
    assert!(traces(&decisions, "no-login").is_empty());
}

#[test]
fn a_window_is_cancelled_once_and_a_later_unless_event_writes_nothing() {
    let program = program(NO_LOGIN);
    let mut state = account();
    run(&program, &mut state, &[deal_won("d1", hours(0))]);

    let first = sign_in(&program, &mut state, hours(10));
    let second = sign_in(&program, &mut state, hours(11));

    assert_eq!(first.cancels.len(), 1);
    assert!(second.cancels.is_empty());
    assert!(traces(&second, "no-login").is_empty());
}

#[test]
fn a_fired_timer_closes_its_window() {
    let program = program(NO_LOGIN);
    let mut state = account();
    let scheduled = run(&program, &mut state, &[deal_won("d1", hours(0))]);
    run(&program, &mut state, &[fired(&scheduled[0].timers[0])]);

    assert!(sign_in(&program, &mut state, hours(80)).cancels.is_empty());
}

#[test]
fn a_window_opened_twice_stays_open_until_both_timers_fired() {
    let program = program(NO_LOGIN);
    let mut state = account();
    let scheduled = run(
        &program,
        &mut state,
        &[deal_won("d1", hours(0)), deal_won("d2", hours(1))],
    );
    run(&program, &mut state, &[fired(&scheduled[0].timers[0])]);

    assert_eq!(sign_in(&program, &mut state, hours(72)).cancels.len(), 1);
}

#[test]
fn a_state_that_does_not_know_its_windows_cancels_on_every_unless_event() {
    let program = program(NO_LOGIN);
    let mut state = account();
    state.open_windows = None;

    assert_eq!(
        sign_in(&program, &mut state, hours(1)).cancels,
        [TimerCancel {
            account: ACCOUNT.to_owned(),
            rule: Some("no-login".to_owned()),
        }]
    );
}

#[test]
fn a_fired_timer_runs_its_rule() {
    let program = program(NO_LOGIN);
    let mut state = account();
    let scheduled = run(&program, &mut state, &[deal_won("d1", hours(0))]);
    let timer = &scheduled[0].timers[0];

    let decisions = decide(&program, &settings(), &mut state, &fired(timer));

    let trace = trace(&decisions, "no-login");
    assert_eq!(trace.outcome, TraceOutcome::Fired);
    assert_eq!(trace.at, hours(72));
    assert_eq!(
        recipients(&decisions),
        ["alice@acme.example", "eve@acme.example"]
    );
    assert!(decisions.messages.iter().all(|m| m.rule == "no-login"));
    assert_eq!(state.rule_runs["no-login"].n, 1);
}

#[test]
fn a_fired_timer_is_skipped_when_the_unless_event_happened_since_the_window_opened() {
    let program = program(NO_LOGIN);
    let mut state = account();
    let scheduled = run(&program, &mut state, &[deal_won("d1", hours(0))]);
    let timer = scheduled[0].timers[0].clone();
    // The login came in while the timer was already claimed (or its cancel was lost).
    run(
        &program,
        &mut state,
        &[plain("l1", "academy.login", hours(10))],
    );

    let decisions = decide(&program, &settings(), &mut state, &fired(&timer));

    let trace = trace(&decisions, "no-login");
    assert_eq!(trace.outcome, TraceOutcome::Skipped);
    assert!(trace.reason.contains("academy.login"), "{}", trace.reason);
    assert!(decisions.messages.is_empty());
    assert!(!state.rule_runs.contains_key("no-login"));
}

#[test]
fn an_unless_event_at_the_very_moment_the_window_opened_counts() {
    let program = program(NO_LOGIN);
    let mut state = account();
    let scheduled = run(&program, &mut state, &[deal_won("d1", hours(0))]);
    let timer = scheduled[0].timers[0].clone();
    run(
        &program,
        &mut state,
        &[plain("l1", "academy.login", hours(0))],
    );

    let decisions = decide(&program, &settings(), &mut state, &fired(&timer));

    assert_eq!(trace(&decisions, "no-login").outcome, TraceOutcome::Skipped);
    assert!(decisions.messages.is_empty());
}

#[test]
fn an_unless_event_from_before_the_window_does_not_stop_the_timer() {
    let program = program(NO_LOGIN);
    let mut state = account();
    let scheduled = run(
        &program,
        &mut state,
        &[
            plain("l1", "academy.login", hours(-10)),
            deal_won("d1", hours(0)),
        ],
    );
    let timer = scheduled[1].timers[0].clone();

    let decisions = decide(&program, &settings(), &mut state, &fired(&timer));

    assert_eq!(trace(&decisions, "no-login").outcome, TraceOutcome::Fired);
    assert_eq!(decisions.messages.len(), 2);
}

// --------------------------------------------------------------------------------- emit

#[test]
fn emit_derives_an_event_with_a_deterministic_key_the_cause_s_time_and_its_origin() {
    let program = program(
        r#"
[[rules]]
name = "launch"
on = "deal.won"

[[rules.actions]]
emit = "project.launched"

[[rules.actions]]
emit = "welcome.sent"
"#,
    );
    let cause = deal_won("d1", hours(3));
    let decisions = decide(&program, &settings(), &mut account(), &cause);
    let again = decide(&program, &settings(), &mut account(), &cause);

    let [launched, welcomed] = decisions.events.as_slice() else {
        panic!("expected two events, got {:#?}", decisions.events);
    };
    assert_eq!(launched.kind.as_str(), "project.launched");
    assert_eq!(welcomed.kind.as_str(), "welcome.sent");
    assert_eq!(launched.account, ACCOUNT);
    assert_eq!(launched.at, hours(3));
    assert_eq!(launched.data, json!({ "rule": "launch", "cause": "d1" }));
    assert_ne!(launched.key, welcomed.key);
    assert_ne!(launched.key, "d1");
    assert_eq!(decisions.events, again.events);
}

// ----------------------------------------------------------------------------- deal.won

#[test]
fn deal_won_names_the_account_and_adds_its_contacts_with_lower_cased_emails() {
    let program = program(WELCOME);
    let mut state = account();
    run(&program, &mut state, &[deal_won("d1", hours(0))]);

    assert_eq!(state.name, "Acme Corp");
    let people: Vec<(&str, &str, Option<&str>)> = state
        .people
        .iter()
        .map(|p| (p.email.as_str(), p.name.as_str(), p.persona.as_deref()))
        .collect();
    assert_eq!(
        people,
        [
            ("alice@acme.example", "Alice Admin", Some("admin")),
            ("eve@acme.example", "Eve User", Some("end_user")),
        ]
    );
}

#[test]
fn a_second_deal_won_with_the_same_contact_updates_the_person_instead_of_adding_one() {
    let program = program("");
    let mut state = account();
    run(
        &program,
        &mut state,
        &[
            deal_won("d1", hours(0)),
            event(
                "d2",
                "deal.won",
                hours(1),
                json!({ "contacts": [
                    { "email": "ALICE@acme.example", "name": "Alice A. Admin", "title": "CTO" },
                ] }),
            ),
        ],
    );

    assert_eq!(state.people.len(), 2);
    let alice = &state.people[0];
    assert_eq!(alice.email, "alice@acme.example");
    assert_eq!(alice.name, "Alice A. Admin");
    assert_eq!(alice.title.as_deref(), Some("CTO"));
    assert_eq!(alice.persona.as_deref(), Some("admin"), "persona kept");
}

#[test]
fn a_later_contact_without_a_name_keeps_the_person_s_known_name() {
    let program = program("");
    let mut state = account();
    run(
        &program,
        &mut state,
        &[
            deal_won("d1", hours(0)),
            event(
                "p1",
                "person.added",
                hours(1),
                json!({ "email": "alice@acme.example", "title": "CTO" }),
            ),
        ],
    );

    assert_eq!(state.people[0].title.as_deref(), Some("CTO"));
    assert_eq!(state.people[0].name, "Alice Admin");
}

#[test]
fn deal_won_assigns_the_csm_it_names_when_they_are_on_the_team() {
    let program = program("");
    let mut state = account();
    run(
        &program,
        &mut state,
        &[event(
            "d1",
            "deal.won",
            hours(0),
            json!({ "csm": "ben@onboard.example" }),
        )],
    );

    assert_eq!(state.csm.as_deref(), Some("ben@onboard.example"));
}

#[test]
fn a_csm_named_in_another_letter_case_is_still_recognised() {
    let program = program("");
    let mut state = account();
    run(
        &program,
        &mut state,
        &[event(
            "d1",
            "deal.won",
            hours(0),
            json!({ "csm": "Ben@Onboard.example" }),
        )],
    );

    assert_eq!(state.csm.as_deref(), Some("ben@onboard.example"));
}

#[test]
fn an_unknown_csm_is_ignored_and_the_least_loaded_csm_is_assigned() {
    let program = program("");
    let mut settings = settings();
    settings
        .csm_load
        .insert("ann@onboard.example".to_owned(), 12);
    settings
        .csm_load
        .insert("ben@onboard.example".to_owned(), 3);
    let mut state = account();
    decide(
        &program,
        &settings,
        &mut state,
        &event(
            "d1",
            "deal.won",
            hours(0),
            json!({ "owner_email": "stranger@elsewhere.example" }),
        ),
    );
    assert_eq!(state.csm.as_deref(), Some("ben@onboard.example"));
}

#[test]
fn with_equal_loads_the_first_csm_of_the_team_is_assigned() {
    let program = program("");
    let mut state = account();
    decide(&program, &settings(), &mut state, &deal_won("d1", hours(0)));
    assert_eq!(state.csm.as_deref(), Some("ann@onboard.example"));
}

// ------------------------------------------------------------------------ exit: churn, pause

const CHURN_PROGRAM: &str = r#"
[[rules]]
name = "overdue"
on = "task.overdue"
reentry = { every = "1h" }

[[rules.actions]]
send = "note"
to = "csm"

[[rules]]
name = "no-login"
after = "72h"
since = "deal.won"
unless = "academy.login"

[[rules.actions]]
send = "hello"
to = "people"

[[rules]]
name = "offboarding"
on = "account.churned"

[[rules.actions]]
send = "hello"
to = "people"

[[rules.actions]]
send = "note"
to = "csm"

[[rules.actions]]
emit = "offboarding.started"
"#;

#[test]
fn account_churned_marks_the_account_churned_and_cancels_all_its_timers() {
    let program = program(CHURN_PROGRAM);
    let mut state = account();
    let decisions = run(
        &program,
        &mut state,
        &[
            deal_won("d1", hours(0)),
            plain("c1", "account.churned", hours(1)),
        ],
    );

    assert_eq!(state.status, AccountStatus::Churned);
    assert_eq!(
        decisions[1].cancels,
        [TimerCancel {
            account: ACCOUNT.to_owned(),
            rule: None,
        }]
    );
}

#[test]
fn a_churned_account_skips_every_rule_and_says_it_is_churned() {
    let program = program(CHURN_PROGRAM);
    let mut state = account();
    let before = run(
        &program,
        &mut state,
        &[
            deal_won("d1", hours(0)),
            plain("c1", "account.churned", hours(1)),
        ],
    );
    let timer = before[0].timers[0].clone();

    let decisions = run(
        &program,
        &mut state,
        &[
            plain("o1", "task.overdue", hours(2)),
            deal_won("d2", hours(3)),
            fired(&timer),
        ],
    );

    for (decisions, rule) in decisions.iter().zip(["overdue", "no-login", "no-login"]) {
        let trace = trace(decisions, rule);
        assert_eq!(trace.outcome, TraceOutcome::Skipped);
        assert!(
            trace.reason.contains("account is churned"),
            "{}",
            trace.reason
        );
        assert!(decisions.messages.is_empty());
        assert!(decisions.timers.is_empty());
        assert!(decisions.events.is_empty());
    }
}

#[test]
fn an_account_churned_rule_still_runs_but_sends_nothing_to_the_customer() {
    let program = program(CHURN_PROGRAM);
    let mut state = account();
    let decisions = run(
        &program,
        &mut state,
        &[
            deal_won("d1", hours(0)),
            plain("c1", "account.churned", hours(1)),
        ],
    );
    let churned = &decisions[1];

    assert_eq!(recipients(churned), ["ann@onboard.example"]);
    let [offboarding] = churned.events.as_slice() else {
        panic!("expected one derived event, got {:#?}", churned.events);
    };
    assert_eq!(offboarding.kind.as_str(), "offboarding.started");
    let trace = trace(churned, "offboarding");
    assert_eq!(trace.outcome, TraceOutcome::Fired);
    assert!(trace.reason.contains("not sent"), "{}", trace.reason);
}

#[test]
fn a_paused_then_resumed_account_runs_its_rules_again() {
    let program = program(CHURN_PROGRAM);
    let mut state = account();
    let decisions = run(
        &program,
        &mut state,
        &[
            deal_won("d1", hours(0)),
            plain("p1", "account.paused", hours(1)),
            plain("o1", "task.overdue", hours(2)),
            plain("r1", "account.resumed", hours(3)),
            plain("o2", "task.overdue", hours(4)),
        ],
    );

    assert!(decisions[1].cancels.is_empty(), "a pause keeps the timers");
    let paused = trace(&decisions[2], "overdue");
    assert_eq!(paused.outcome, TraceOutcome::Skipped);
    assert!(
        paused.reason.contains("account is paused"),
        "{}",
        paused.reason
    );
    assert!(decisions[2].messages.is_empty());
    assert_eq!(state.status, AccountStatus::Active);
    assert_eq!(trace(&decisions[4], "overdue").outcome, TraceOutcome::Fired);
    assert_eq!(recipients(&decisions[4]), ["ann@onboard.example"]);
}

#[test]
fn a_timer_that_comes_due_while_paused_is_held_and_fires_when_the_account_resumes() {
    let program = program(CHURN_PROGRAM);
    let mut state = account();
    let won = run(&program, &mut state, &[deal_won("d1", hours(0))]);
    let timer = won[0]
        .timers
        .iter()
        .find(|t| t.rule == "no-login")
        .cloned()
        .expect("the no-login timer");
    let decisions = run(
        &program,
        &mut state,
        &[
            plain("p1", "account.paused", hours(24)),
            fired(&timer),
            plain("r1", "account.resumed", hours(100)),
        ],
    );

    let held = trace(&decisions[1], "no-login");
    assert_eq!(held.outcome, TraceOutcome::Skipped);
    assert!(held.reason.contains("held"), "{}", held.reason);
    assert!(decisions[1].messages.is_empty());
    let [refired] = decisions[2].events.as_slice() else {
        panic!("expected the held timer, got {:#?}", decisions[2].events);
    };
    assert_eq!(refired.kind.as_str(), "timer.fired");
    assert_eq!(refired.at, hours(100));
    assert_eq!(refired.data["timer"], timer.id.as_str());
    assert!(state.held_timers.is_empty());

    let resumed = run(
        &program,
        &mut state,
        &[event(
            &refired.key,
            "timer.fired",
            refired.at,
            refired.data.clone(),
        )],
    );
    assert_eq!(trace(&resumed[0], "no-login").outcome, TraceOutcome::Fired);
    assert_eq!(resumed[0].messages.len(), 2, "hello to both people");
}

#[test]
fn a_held_timer_whose_awaited_event_came_during_the_pause_sends_nothing_on_resume() {
    let program = program(CHURN_PROGRAM);
    let mut state = account();
    let won = run(&program, &mut state, &[deal_won("d1", hours(0))]);
    let timer = won[0]
        .timers
        .iter()
        .find(|t| t.rule == "no-login")
        .cloned()
        .expect("the no-login timer");
    let decisions = run(
        &program,
        &mut state,
        &[
            plain("p1", "account.paused", hours(24)),
            plain("l1", "academy.login", hours(30)),
            fired(&timer),
            plain("r1", "account.resumed", hours(100)),
        ],
    );
    let refired = decisions[3].events[0].clone();
    let resumed = run(
        &program,
        &mut state,
        &[event(&refired.key, "timer.fired", refired.at, refired.data)],
    );
    assert!(resumed[0].messages.is_empty(), "{:#?}", resumed[0].messages);
}

#[test]
fn a_churn_drops_the_timers_held_during_a_pause() {
    let program = program(CHURN_PROGRAM);
    let mut state = account();
    let won = run(&program, &mut state, &[deal_won("d1", hours(0))]);
    let timer = won[0]
        .timers
        .iter()
        .find(|t| t.rule == "no-login")
        .cloned()
        .expect("the no-login timer");
    let decisions = run(
        &program,
        &mut state,
        &[
            plain("p1", "account.paused", hours(24)),
            fired(&timer),
            plain("c1", "account.churned", hours(90)),
            plain("r1", "account.resumed", hours(100)),
        ],
    );
    assert!(state.held_timers.is_empty());
    assert!(decisions[3].events.is_empty(), "{:#?}", decisions[3].events);
}

#[test]
fn account_resumed_does_not_bring_back_a_churned_account() {
    let program = program(CHURN_PROGRAM);
    let mut state = account();
    let decisions = run(
        &program,
        &mut state,
        &[
            deal_won("d1", hours(0)),
            plain("c1", "account.churned", hours(1)),
            plain("r1", "account.resumed", hours(2)),
            plain("o1", "task.overdue", hours(3)),
        ],
    );

    assert_eq!(state.status, AccountStatus::Churned);
    assert_eq!(
        trace(&decisions[3], "overdue").outcome,
        TraceOutcome::Skipped
    );
}

// ------------------------------------------------------------------------ render failures

#[test]
fn a_message_that_fails_to_render_gives_a_failed_trace_and_no_message() {
    let program = program(
        r#"
[[rules]]
name = "broken"
on = "deal.won"

[[rules.actions]]
send = "broken"
to = "people"
"#,
    );
    let decisions = decide(
        &program,
        &settings(),
        &mut account(),
        &deal_won("d1", hours(0)),
    );

    assert!(decisions.messages.is_empty());
    let trace = trace(&decisions, "broken");
    assert_eq!(trace.outcome, TraceOutcome::Failed);
    assert!(
        trace.reason.contains("`broken` could not be rendered"),
        "{}",
        trace.reason
    );
}

#[test]
fn a_rule_whose_message_fails_for_one_recipient_sends_to_nobody() {
    let program = program(
        r#"
[[rules]]
name = "partly-broken"
on = "deal.won"

[[rules.actions]]
send = "broken-for-admins"
to = "people"
"#,
    );
    let won = event(
        "d1",
        "deal.won",
        hours(0),
        json!({ "contacts": [
            { "email": "eve@acme.example", "name": "Eve User", "persona": "end_user" },
            { "email": "alice@acme.example", "name": "Alice Admin", "persona": "admin" },
        ] }),
    );
    let decisions = decide(&program, &settings(), &mut account(), &won);

    assert_eq!(
        trace(&decisions, "partly-broken").outcome,
        TraceOutcome::Failed
    );
    assert_eq!(recipients(&decisions), Vec::<&str>::new());
}

#[test]
fn a_rule_that_fails_to_render_emits_nothing() {
    let program = program(
        r#"
[[rules]]
name = "broken"
on = "deal.won"

[[rules.actions]]
emit = "welcome.sent"

[[rules.actions]]
send = "broken"
to = "people"
"#,
    );
    let decisions = decide(
        &program,
        &settings(),
        &mut account(),
        &deal_won("d1", hours(0)),
    );

    assert_eq!(trace(&decisions, "broken").outcome, TraceOutcome::Failed);
    assert_eq!(decisions.events, []);
}

// -------------------------------------------------------------------------- determinism

/// A program with a rule of every kind, like the bundled example's.
const FULL_PROGRAM: &str = r#"
[[rules]]
name = "welcome"
on = "deal.won"

[[rules.actions]]
send = "hello"
to = "people"

[[rules.actions]]
emit = "welcome.sent"

[[rules]]
name = "csm-new-account"
on = "deal.won"

[[rules.actions]]
send = "note"
to = "csm"

[[rules]]
name = "no-login"
after = "72h"
since = "deal.won"
unless = "academy.login"

[[rules.actions]]
send = "hello"
to = "people"

[[rules]]
name = "stalled"
after = "7d"
since = "deal.won"
unless = "product.track"
reentry = { every = "7d" }

[[rules.actions]]
send = "note"
to = "csm"

[[rules.actions]]
emit = "account.stalled"

[[rules]]
name = "milestone"
on = "milestone.reached"
reentry = { at_most = 2 }

[[rules.actions]]
send = "note"
to = "persona:admin"

[[rules]]
name = "overdue"
on = "task.overdue"
reentry = { every = "24h" }

[[rules.actions]]
send = "note"
to = "csm"

[[rules]]
name = "offboarding"
on = "account.churned"

[[rules.actions]]
send = "hello"
to = "people"

[[rules.actions]]
emit = "offboarding.started"
"#;

#[test]
fn the_same_events_from_the_same_state_give_the_same_decisions_and_state() {
    let program = program(FULL_PROGRAM);
    // The timers the deal sets, to fire them in the history below.
    let timers = decide(
        &program,
        &settings(),
        &mut account(),
        &deal_won("d1", hours(0)),
    )
    .timers;
    let events = vec![
        deal_won("d1", hours(0)),
        plain("m1", "milestone.reached", hours(2)),
        plain("o1", "task.overdue", hours(30)),
        fired(&timers[0]),
        plain("m2", "milestone.reached", hours(80)),
        plain("m3", "milestone.reached", hours(90)),
        fired(&timers[1]),
        plain("c1", "account.churned", hours(200)),
        plain("o2", "task.overdue", hours(300)),
    ];

    let mut state_a = account();
    let mut state_b = account();
    let decisions_a = run(&program, &mut state_a, &events);
    let decisions_b = run(&program, &mut state_b, &events);

    assert_eq!(decisions_a, decisions_b);
    assert_eq!(state_a, state_b);
    assert!(decisions_a.iter().any(|d| !d.messages.is_empty()));
}

/// One step of a random history: an external event, or the firing of a pending timer.
#[derive(Debug, Clone)]
enum Step {
    External { kind: usize, hour: i64 },
    FireTimer { pick: usize },
}

const KINDS: &[&str] = &[
    "deal.won",
    "academy.login",
    "product.track",
    "milestone.reached",
    "task.overdue",
    "person.added",
    "account.paused",
    "account.resumed",
    "account.churned",
];

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..KINDS.len(), 0i64..400).prop_map(|(kind, hour)| Step::External { kind, hour }),
        1 => any::<usize>().prop_map(|pick| Step::FireTimer { pick }),
    ]
}

/// What one step decided, and the account's status after it.
#[derive(Debug, Clone, PartialEq)]
struct Played {
    event: Event,
    decisions: Decisions,
    status: AccountStatus,
}

/// Plays a history like the engine would: timers are kept until fired or cancelled, and a
/// fired timer becomes its `timer.fired` event. Returns every step's outcome and the final
/// state.
fn play(program: &Program, steps: &[Step]) -> (Vec<Played>, AccountState) {
    let settings = settings();
    let mut state = account();
    let mut pending: Vec<NewTimer> = Vec::new();
    let mut played = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let event = match step {
            Step::External { kind, hour } => {
                let kind = KINDS[*kind];
                let data = match kind {
                    "deal.won" => deal_won("x", hours(0)).data,
                    "person.added" => {
                        json!({ "email": format!("p{}@acme.example", i % 3), "name": "P" })
                    }
                    _ => json!({}),
                };
                event(&format!("e{i}"), kind, hours(*hour), data)
            }
            Step::FireTimer { pick } if !pending.is_empty() => {
                fired(&pending.remove(pick % pending.len()))
            }
            Step::FireTimer { .. } => continue,
        };
        let decisions = decide(program, &settings, &mut state, &event);
        for cancel in &decisions.cancels {
            pending.retain(|t| cancel.rule.as_ref().is_some_and(|rule| rule != &t.rule));
        }
        pending.extend(decisions.timers.iter().cloned());
        played.push(Played {
            event,
            decisions,
            status: state.status,
        });
    }
    (played, state)
}

proptest! {
    #[test]
    fn random_histories_never_panic_and_give_stable_unique_ids(
        steps in proptest::collection::vec(step(), 0..40)
    ) {
        let program = program(FULL_PROGRAM);
        let (first, first_state) = play(&program, &steps);
        let (second, second_state) = play(&program, &steps);

        prop_assert_eq!(&first, &second);
        prop_assert_eq!(&first_state, &second_state);

        let mut message_ids = BTreeSet::new();
        let mut timer_ids = BTreeSet::new();
        let mut event_keys = BTreeSet::new();
        for Played { decisions, .. } in &first {
            for message in &decisions.messages {
                prop_assert!(message_ids.insert(message.id.clone()), "message id {} twice", message.id);
                let header = format!("<{}@", message.id);
                prop_assert!(message.message_id.starts_with(&header), "{}", message.message_id);
            }
            for timer in &decisions.timers {
                prop_assert!(timer_ids.insert(timer.id.clone()), "timer id {} twice", timer.id);
                prop_assert!(timer.due_at > timer.since_at);
            }
            for derived in &decisions.events {
                prop_assert!(event_keys.insert(derived.key.clone()), "event key {} twice", derived.key);
            }
        }
    }

    #[test]
    fn nothing_reaches_the_customer_while_the_account_is_churned_or_paused(
        steps in proptest::collection::vec(step(), 0..40)
    ) {
        let program = program(FULL_PROGRAM);
        let team: BTreeSet<&str> = program.team.iter().map(|m| m.email.as_str()).collect();
        let (played, _) = play(&program, &steps);

        for Played { event, decisions, status } in &played {
            if *status != AccountStatus::Active {
                prop_assert!(
                    decisions.messages.iter().all(|m| team.contains(m.to_email.as_str())),
                    "{} on a {} account sent {:#?}", event.kind, status.as_str(), decisions.messages
                );
                prop_assert!(decisions.timers.is_empty());
            }
        }
    }
}

// ------------------------------------------------------------------------ repeating timers

/// An absence rule that repeats with the given re-entry policy.
fn stalled_rule(reentry: &str) -> String {
    format!(
        r#"
[[rules]]
name = "stalled"
after = "7d"
since = "deal.won"
unless = "product.track"
reentry = {reentry}

[[rules.actions]]
send = "note"
to = "csm"
"#
    )
}

#[test]
fn an_every_absence_rule_sets_its_next_timer_when_it_fires() {
    let program = program(&stalled_rule(r#"{ every = "7d" }"#));
    let mut state = account();
    let scheduled = run(&program, &mut state, &[deal_won("d1", hours(0))]);
    let first = scheduled[0].timers[0].clone();
    let decided = run(&program, &mut state, &[fired(&first)]);
    assert_eq!(decided[0].messages.len(), 1);
    let next = &decided[0].timers[0];
    assert_eq!(next.due_at, hours(14 * 24));
    assert_eq!(next.since_at, hours(7 * 24));
    assert_ne!(next.id, first.id);
}

#[test]
fn a_repeating_absence_rule_stops_when_the_awaited_event_happens() {
    let program = program(&stalled_rule(r#"{ every = "7d" }"#));
    let mut state = account();
    let scheduled = run(&program, &mut state, &[deal_won("d1", hours(0))]);
    let first = scheduled[0].timers[0].clone();
    let decided = run(&program, &mut state, &[fired(&first)]);
    let second = decided[0].timers[0].clone();
    let later = run(
        &program,
        &mut state,
        &[plain("u1", "product.track", hours(8 * 24)), fired(&second)],
    );
    assert_eq!(later[0].cancels.len(), 1);
    assert!(later[1].messages.is_empty());
    assert!(later[1].timers.is_empty());
    assert_eq!(trace(&later[1], "stalled").outcome, TraceOutcome::Skipped);
}

#[test]
fn an_at_most_absence_rule_repeats_until_its_count() {
    let program = program(&stalled_rule("{ at_most = 2 }"));
    let mut state = account();
    let scheduled = run(&program, &mut state, &[deal_won("d1", hours(0))]);
    let first = scheduled[0].timers[0].clone();
    let decided = run(&program, &mut state, &[fired(&first)]);
    let second = decided[0].timers[0].clone();
    let last = run(&program, &mut state, &[fired(&second)]);
    assert_eq!(last[0].messages.len(), 1);
    assert!(last[0].timers.is_empty(), "no third run");
}

#[test]
fn a_once_absence_rule_does_not_repeat() {
    let program = program(NO_LOGIN);
    let mut state = account();
    let scheduled = run(&program, &mut state, &[deal_won("d1", hours(0))]);
    let decided = run(&program, &mut state, &[fired(&scheduled[0].timers[0])]);
    assert!(decided[0].timers.is_empty());
}

// ----------------------------------------------------------------------------- conditions

const BIG_ACCOUNTS: &str = r#"
[[rules]]
name = "big-account"
on = "deal.won"
when = "account.seats >= 10 and account.name != \"Test\""

[[rules.actions]]
send = "note"
to = "csm"
"#;

/// A deal won with this many seats.
fn deal_won_with_seats(key: &str, seats: u32) -> Event {
    let mut deal = deal_won(key, T0);
    deal.data["deal_id"] = json!(key);
    deal.data["seats"] = json!(seats);
    deal
}

#[test]
fn a_rule_whose_condition_holds_runs() {
    let program = program(BIG_ACCOUNTS);
    let mut state = account();
    let [decisions] = run(&program, &mut state, &[deal_won_with_seats("d1", 12)])
        .try_into()
        .expect("one event");
    assert_eq!(recipients(&decisions), ["ann@onboard.example"]);
    assert_eq!(
        trace(&decisions, "big-account").outcome,
        TraceOutcome::Fired
    );
}

#[test]
fn a_rule_whose_condition_is_false_runs_nothing_and_says_the_values_it_saw() {
    let program = program(BIG_ACCOUNTS);
    let mut state = account();
    let [decisions] = run(&program, &mut state, &[deal_won_with_seats("d1", 3)])
        .try_into()
        .expect("one event");
    assert!(decisions.messages.is_empty());
    let skipped = trace(&decisions, "big-account");
    assert_eq!(skipped.outcome, TraceOutcome::Skipped);
    assert!(
        skipped.reason.contains("account.seats = 3"),
        "{}",
        skipped.reason
    );
    assert!(
        skipped.reason.contains("account.seats >= 10"),
        "{}",
        skipped.reason
    );
    // A false condition is not a run: re-entry has nothing to count.
    assert!(state.rule_runs.is_empty());
}

#[test]
fn a_condition_reads_the_event_data_and_the_person_the_event_names() {
    let program = program(
        r#"
[[rules]]
name = "admin-on-pro"
on = "plan.changed"
when = "event.data.plan in [\"pro\", \"enterprise\"] and person.persona == \"admin\""
reentry = { every = "1m" }

[[rules.actions]]
send = "note"
to = "csm"
"#,
    );
    let mut state = account();
    let changed = |key: &str, email: &str, plan: &str| {
        event(
            key,
            "plan.changed",
            hours(1),
            json!({ "email": email, "plan": plan }),
        )
    };
    let decisions = run(
        &program,
        &mut state,
        &[
            deal_won("d1", T0),
            changed("p1", "alice@acme.example", "pro"),
            changed("p2", "eve@acme.example", "pro"),
            changed("p3", "alice@acme.example", "free"),
        ],
    );
    let outcomes: Vec<TraceOutcome> = decisions[1..]
        .iter()
        .map(|d| trace(d, "admin-on-pro").outcome)
        .collect();
    assert_eq!(
        outcomes,
        [
            TraceOutcome::Fired,
            TraceOutcome::Skipped,
            TraceOutcome::Skipped
        ]
    );
    assert!(trace(&decisions[2], "admin-on-pro")
        .reason
        .contains("person.persona = \"end_user\""));
}

// ------------------------------------------------------------------------- contact budget

/// Two rules that write to the person an event names, and one to the CSM, under a budget of
/// two messages per person a week (`over` as given).
fn budget_program(over: &str) -> Program {
    program(&format!(
        r#"
[budget]
max = 2
per = "7d"
over = "{over}"

[[rules]]
name = "tip"
on = "tip.due"
reentry = {{ every = "1m" }}

[[rules.actions]]
send = "hello"
to = "person"

[[rules]]
name = "security-alert"
on = "security.alert"
urgent = true
reentry = {{ every = "1m" }}

[[rules.actions]]
send = "hello"
to = "person"

[[rules]]
name = "csm-note"
on = "tip.due"
reentry = {{ every = "1m" }}

[[rules.actions]]
send = "note"
to = "csm"
"#
    ))
}

fn for_alice(key: &str, kind: &str, at: Timestamp) -> Event {
    event(key, kind, at, json!({ "email": "alice@acme.example" }))
}

#[test]
fn a_message_over_the_contact_budget_is_deferred_until_the_window_has_room() {
    let program = budget_program("defer");
    let mut state = account();
    let decisions = run(
        &program,
        &mut state,
        &[
            deal_won("d1", T0),
            for_alice("t1", "tip.due", hours(1)),
            for_alice("t2", "tip.due", hours(2)),
            for_alice("t3", "tip.due", hours(3)),
        ],
    );
    let to_alice = |d: &Decisions| {
        d.messages
            .iter()
            .filter(|m| m.to_email == "alice@acme.example")
            .count()
    };
    assert_eq!(to_alice(&decisions[1]) + to_alice(&decisions[2]), 2);
    let held = &decisions[3];
    assert_eq!(to_alice(held), 0);
    let reason = &trace(held, "tip").reason;
    assert!(
        reason.contains("held by the contact budget (2 per 7d)"),
        "{reason}"
    );
    let [timer] = held.timers.as_slice() else {
        panic!("one deferral timer, got {:#?}", held.timers);
    };
    // The week after the first tip, the window has room again.
    assert_eq!(timer.due_at, hours(1 + 7 * 24));
    // Messages to the team are not counted.
    assert_eq!(recipients(held), ["ann@onboard.example"]);

    let [sent] = run(&program, &mut state, &[fired(timer)])
        .try_into()
        .expect("one event");
    assert_eq!(recipients(&sent), ["alice@acme.example"]);
    assert!(trace(&sent, "tip")
        .reason
        .contains("held by the contact budget until now"));
}

#[test]
fn a_message_over_the_contact_budget_is_dropped_when_the_program_says_so() {
    let program = budget_program("drop");
    let mut state = account();
    let decisions = run(
        &program,
        &mut state,
        &[
            deal_won("d1", T0),
            for_alice("t1", "tip.due", hours(1)),
            for_alice("t2", "tip.due", hours(2)),
            for_alice("t3", "tip.due", hours(3)),
            for_alice("t4", "tip.due", hours(1 + 7 * 24)),
        ],
    );
    assert!(decisions[3].timers.is_empty());
    assert!(trace(&decisions[3], "tip").reason.contains("dropped"));
    assert_eq!(
        recipients(&decisions[4]),
        ["alice@acme.example", "ann@onboard.example"],
        "a week after the first tip there is room again"
    );
}

#[test]
fn an_urgent_rule_is_neither_held_nor_counted_by_the_contact_budget() {
    let program = budget_program("drop");
    let mut state = account();
    let decisions = run(
        &program,
        &mut state,
        &[
            deal_won("d1", T0),
            for_alice("a1", "security.alert", hours(1)),
            for_alice("a2", "security.alert", hours(2)),
            for_alice("a3", "security.alert", hours(3)),
            for_alice("t1", "tip.due", hours(4)),
            for_alice("t2", "tip.due", hours(5)),
        ],
    );
    for d in &decisions[1..] {
        assert!(
            recipients(d).contains(&"alice@acme.example"),
            "{:#?}",
            d.traces
        );
    }
}

// ---------------------------------------------------------------------------------- goals

/// A 30-day goal of 50 imported leads, and its rule.
const LEADS_GOAL: &str = r#"
[[goals]]
name = "leads"
title = "Fifty leads imported"
deadline_days = 30
metric = { event_count = "Lead Imported" }
target = 50

[[rules]]
name = "goal-alert"
on = "goal.at_risk"

[[rules.actions]]
send = "note"
to = "csm"
"#;

fn lead_imported(day: i64, n: i64) -> Event {
    event(
        &format!("lead-{day}-{n}"),
        "product.track",
        hours(day * 24 + 1),
        json!({ "email": "eve@acme.example", "event": "Lead Imported" }),
    )
}

/// Fires the account's daily goal timers one after another until `days` have passed,
/// returning every decision.
fn run_days(
    program: &Program,
    state: &mut AccountState,
    first: Decisions,
    days: i64,
) -> Vec<Decisions> {
    let mut all = vec![first];
    loop {
        let next = all
            .iter()
            .rev()
            .find_map(|d| d.timers.iter().find(|t| t.rule == "goals/daily").cloned());
        let Some(timer) = next else { break };
        if timer.due_at > hours(days * 24) {
            break;
        }
        let [decided] = run(program, state, &[fired(&timer)])
            .try_into()
            .expect("one");
        all.push(decided);
    }
    all
}

#[test]
fn a_goal_that_will_be_missed_at_this_pace_is_at_risk_well_before_day_14() {
    let program = program(LEADS_GOAL);
    let mut state = account();
    let [won] = run(&program, &mut state, &[deal_won("d1", T0)])
        .try_into()
        .expect("one");
    // One lead a day: 30 by day 30, short of 50.
    for day in 1..=6 {
        run(&program, &mut state, &[lead_imported(day, 0)]);
    }
    let decisions = run_days(&program, &mut state, won, 14);
    let at_risk = decisions
        .iter()
        .flat_map(|d| &d.events)
        .find(|e| e.kind.as_str() == "goal.at_risk")
        .expect("goal.at_risk by day 14");
    assert!(at_risk.at <= hours(14 * 24), "at risk at {}", at_risk.at);
    assert_eq!(at_risk.data["goal"], "leads");
    let goal = &state.goals[0];
    assert_eq!(goal.status.as_str(), "at_risk");
    assert!(goal.forecast.is_some_and(|f| f < 50.0), "{goal:?}");
}

#[test]
fn a_goal_on_pace_stays_on_track_and_is_achieved_when_it_reaches_its_target() {
    let program = program(LEADS_GOAL);
    let mut state = account();
    run(&program, &mut state, &[deal_won("d1", T0)]);
    let mut events = Vec::new();
    for day in 1..=10 {
        for n in 0..5 {
            events.push(lead_imported(day, n));
        }
    }
    let decisions = run(&program, &mut state, &events);
    let kinds: Vec<&str> = decisions
        .iter()
        .flat_map(|d| &d.events)
        .map(|e| e.kind.as_str())
        .filter(|k| k.starts_with("goal."))
        .collect();
    assert_eq!(kinds, ["goal.achieved"]);
    assert_eq!(state.goals[0].value, 50.0);
}

/// Decides `events` in time order, firing the goals' timers as they come due (a timer before
/// an event of the same time), until `days` have passed. Returns every decision and the due
/// times of the goals' timers fired.
fn run_with_checks(
    program: &Program,
    state: &mut AccountState,
    mut events: Vec<Event>,
    days: i64,
) -> (Vec<Decisions>, Vec<Timestamp>) {
    events.sort_by_key(|e| e.at);
    let mut events = std::collections::VecDeque::from(events);
    let mut pending: Vec<NewTimer> = Vec::new();
    let mut all = Vec::new();
    let mut checks = Vec::new();
    loop {
        pending.sort_by_key(|t| std::cmp::Reverse(t.due_at));
        let timer_first = match (pending.last(), events.front()) {
            (Some(t), Some(e)) => t.due_at <= e.at,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let next = if timer_first {
            let timer = pending.pop().expect("a timer");
            if timer.due_at > hours(days * 24) {
                break;
            }
            checks.push(timer.due_at);
            fired(&timer)
        } else {
            match events.pop_front() {
                Some(event) => event,
                None => break,
            }
        };
        let [decided] = run(program, state, &[next]).try_into().expect("one");
        pending.extend(
            decided
                .timers
                .iter()
                .filter(|t| t.rule == "goals/daily")
                .cloned(),
        );
        all.push(decided);
    }
    (all, checks)
}

/// The goal events of `decisions`, as (type, time).
fn goal_events(decisions: &[Decisions]) -> Vec<(String, Timestamp)> {
    decisions
        .iter()
        .flat_map(|d| &d.events)
        .filter(|e| e.kind.as_str().starts_with("goal."))
        .map(|e| (e.kind.as_str().to_owned(), e.at))
        .collect()
}

#[test]
fn a_stalled_accounts_goal_is_checked_when_its_status_can_change_not_every_day() {
    let program = program(LEADS_GOAL);
    let mut state = account();
    let (decisions, checks) = run_with_checks(&program, &mut state, vec![deal_won("d1", T0)], 40);
    // The forecast starts a quarter into the 30 days (day 7.5): the first tick after it is
    // day 8, where nothing imported is at risk; the next change is the deadline.
    assert_eq!(checks, [hours(8 * 24), hours(30 * 24)]);
    assert_eq!(
        goal_events(&decisions),
        [
            ("goal.at_risk".to_owned(), hours(8 * 24)),
            ("goal.missed".to_owned(), hours(30 * 24))
        ]
    );
    assert_eq!(state.goals_check_at, None, "no goal is open");
}

#[test]
fn a_goal_on_track_is_checked_when_its_forecast_would_fall_short() {
    let program = program(LEADS_GOAL);
    let mut state = account();
    // 20 leads on day 1: a forecast of 75 on day 8, which falls below 50 once more than
    // 20 × 30 / 50 = 12 days have passed: at risk on day 13, as a daily check finds it, and
    // the days between 8 and 12 are not checked.
    let mut events = vec![deal_won("d1", T0)];
    events.extend((0..20).map(|n| lead_imported(1, n)));
    let (decisions, checks) = run_with_checks(&program, &mut state, events, 40);
    assert_eq!(
        goal_events(&decisions)[0],
        ("goal.at_risk".to_owned(), hours(13 * 24))
    );
    assert_eq!(checks[0], hours(8 * 24));
    assert!(
        !checks
            .iter()
            .any(|&at| at > hours(8 * 24) && at < hours(12 * 24)),
        "{checks:?}"
    );
}

/// A 40-day goal of three product users active in a 7-day window.
const TEAM_GOAL: &str = r#"
[health]
window = "7d"

[[goals]]
name = "team"
title = "Three active users"
deadline_days = 40
metric = "active_users"
target = 3
"#;

#[test]
fn a_goal_of_active_users_is_checked_when_an_active_user_goes_quiet() {
    let program = program(TEAM_GOAL);
    let mut state = account();
    let mut events = vec![deal_won("d1", T0)];
    for day in 1..=9 {
        for who in ["alice@acme.example", "eve@acme.example"] {
            events.push(event(
                &format!("use-{day}-{who}"),
                "product.track",
                hours(day * 24 + 1),
                json!({ "email": who, "user_id": who, "event": "Report Viewed" }),
            ));
        }
    }
    let (decisions, checks) = run_with_checks(&program, &mut state, events, 40);
    // Checked on day 10, when the forecast starts: two users, a forecast of 8, on track.
    // Both last used the product on day 9 at 01:00, so they leave the 7-day window on day
    // 16 at 01:00: the next check is on day 17, as a daily check would have found it, and
    // the days between are not checked. Then the deadline.
    assert_eq!(checks, [hours(10 * 24), hours(17 * 24), hours(40 * 24)]);
    assert_eq!(
        goal_events(&decisions),
        [
            ("goal.at_risk".to_owned(), hours(17 * 24)),
            ("goal.missed".to_owned(), hours(40 * 24))
        ]
    );
}

#[test]
fn a_views_goal_counts_the_users_active_now_between_checks() {
    let program = program(TEAM_GOAL);
    let mut state = account();
    let used = event(
        "use-1",
        "product.track",
        hours(24),
        json!({ "email": "eve@acme.example", "user_id": "eve", "event": "Report Viewed" }),
    );
    run(&program, &mut state, &[deal_won("d1", T0), used]);
    assert_eq!(state.goals[0].value, 1.0);
    // Day 9: no check has run since day 1, and Eve left the 7-day window on day 8.
    let now = hours(9 * 24);
    let [goal] = super::goals_as_of(&program, &state, now)
        .try_into()
        .expect("one goal");
    assert_eq!((goal.value, goal.updated_at), (0.0, now));
    assert_eq!(
        goal.status, state.goals[0].status,
        "the status is the last check's"
    );
    assert_eq!(state.goals[0].value, 1.0, "the state is untouched");
}

#[test]
fn a_goals_check_superseded_by_a_nearer_one_does_nothing_when_it_fires() {
    let program = program(LEADS_GOAL);
    let mut state = account();
    let [won] = run(&program, &mut state, &[deal_won("d1", T0)])
        .try_into()
        .expect("one");
    let planned = won
        .timers
        .iter()
        .find(|t| t.rule == "goals/daily")
        .cloned()
        .expect("a check");
    assert_eq!(state.goals_check_at, Some(planned.due_at));
    // A check of the same grid due before the planned one (as when a nearer one was planned
    // after it) finds the planned one still ahead: it recomputes and plans nothing.
    let earlier = NewTimer {
        id: "tmr-older".into(),
        due_at: hours(24),
        ..planned.clone()
    };
    let [decided] = run(&program, &mut state, &[fired(&earlier)])
        .try_into()
        .expect("one");
    assert!(decided.timers.is_empty() && decided.events.is_empty());
    assert_eq!(state.goals_check_at, Some(planned.due_at));
    assert_eq!(state.goals[0].updated_at, T0, "not recomputed");
}

#[test]
fn a_state_stored_before_checks_were_planned_keeps_its_daily_timer() {
    let program = program(LEADS_GOAL);
    let mut state = account();
    run(&program, &mut state, &[deal_won("d1", T0)]);
    state.goals_check_at = None;
    // Its pending daily timer fires on day 1 and plans the next check on the grid.
    let daily = NewTimer {
        id: "tmr-daily".into(),
        account: ACCOUNT.into(),
        rule: "goals/daily".into(),
        due_at: hours(24),
        since_at: T0,
        program_version: "v1".into(),
    };
    let [decided] = run(&program, &mut state, &[fired(&daily)])
        .try_into()
        .expect("one");
    let next: Vec<Timestamp> = decided.timers.iter().map(|t| t.due_at).collect();
    assert_eq!(next, [hours(8 * 24)]);
    assert_eq!(state.goals_check_at, Some(hours(8 * 24)));
}

// --------------------------------------------------------------------------------- alerts

const SALES_ALERT: &str = r#"
[[channels]]
name = "sales"
kind = "slack"

[[channels]]
name = "crm-hook"
kind = "webhook"

[[rules]]
name = "power-user"
on = "usage.spike"
reentry = { every = "1m" }

[[rules.actions]]
alert = "sales"
message = "note"
reason = "expansion"

[[rules.actions]]
alert = "crm-hook"
message = "note"
"#;

#[test]
fn an_alert_is_posted_to_its_channel_in_the_channel_s_format() {
    let program = program(SALES_ALERT);
    let mut state = account();
    let decisions = run(
        &program,
        &mut state,
        &[deal_won("d1", T0), plain("s1", "usage.spike", hours(1))],
    );
    let posts = &decisions[1].messages;
    let slack = posts
        .iter()
        .find(|m| m.channel == "slack")
        .expect("a Slack post");
    assert_eq!(slack.to_email, "sales");
    let body: Value = serde_json::from_str(&slack.body).expect("JSON");
    assert!(
        body["text"]
            .as_str()
            .unwrap_or("")
            .starts_with("*About Acme Corp*"),
        "{body}"
    );
    let hook = posts
        .iter()
        .find(|m| m.channel == "webhook")
        .expect("a webhook");
    let body: Value = serde_json::from_str(&hook.body).expect("JSON");
    assert_eq!(body["type"], "onboard.alert");
    assert_eq!(body["data"]["rule"], "power-user");
    assert_eq!(body["data"]["reason"], "note");
}

#[test]
fn a_second_firing_of_an_open_alert_updates_it_instead_of_posting_again() {
    let program = program(SALES_ALERT);
    let mut state = account();
    let decisions = run(
        &program,
        &mut state,
        &[
            deal_won("d1", T0),
            plain("s1", "usage.spike", hours(1)),
            plain("s2", "usage.spike", hours(2)),
        ],
    );
    assert!(
        decisions[2].messages.is_empty(),
        "{:#?}",
        decisions[2].messages
    );
    assert!(trace(&decisions[2], "power-user")
        .reason
        .contains("already open, updated"));
    let sales = state
        .alerts
        .iter()
        .find(|a| a.channel == "sales")
        .expect("the sales alert");
    assert_eq!((sales.count, sales.updated_at), (2, hours(2)));
    assert_eq!(sales.reason, "expansion");
}

// ----------------------------------------------------------------- a person's own window

const PERSON_NUDGE: &str = r#"
[[rules]]
name = "no-login"
after = "72h"
since = "person.enrolled"
unless = "academy.login"

[[rules.actions]]
send = "hello"
to = "person"
"#;

fn enrolled(email: &str) -> Event {
    event(
        &format!("enrolled-{email}"),
        "person.enrolled",
        T0,
        json!({ "email": email }),
    )
}

#[test]
fn a_window_opened_by_a_person_s_event_is_theirs_and_speaks_of_them_when_it_fires() {
    let program = program(PERSON_NUDGE);
    let mut state = account();
    let decisions = run(
        &program,
        &mut state,
        &[
            deal_won("d1", T0),
            enrolled("alice@acme.example"),
            enrolled("eve@acme.example"),
            // Alice signs in; Eve does not.
            for_alice("login-1", "academy.login", hours(5)),
        ],
    );
    let timers: Vec<&NewTimer> = decisions.iter().flat_map(|d| &d.timers).collect();
    let rules: Vec<&str> = timers.iter().map(|t| t.rule.as_str()).collect();
    assert_eq!(
        rules,
        ["no-login#alice@acme.example", "no-login#eve@acme.example"]
    );
    // Alice's sign-in cancels her timer only.
    assert!(decisions[3]
        .cancels
        .iter()
        .any(|c| c.rule.as_deref() == Some("no-login#alice@acme.example")));

    // Fired anyway (say the cancel came too late), Alice's timer sees her sign-in...
    let [alice] = run(&program, &mut state, &[fired(timers[0])])
        .try_into()
        .expect("one");
    assert!(alice.messages.is_empty());
    assert_eq!(trace(&alice, "no-login").outcome, TraceOutcome::Skipped);
    // ...and Eve's reminds Eve alone, from her CSM.
    let [eve] = run(&program, &mut state, &[fired(timers[1])])
        .try_into()
        .expect("one");
    assert_eq!(recipients(&eve), ["eve@acme.example"]);
    assert_eq!(eve.messages[0].from_email, "ann@onboard.example");
}

#[test]
fn a_closed_alert_is_posted_again_at_the_next_firing() {
    let program = program(SALES_ALERT);
    let mut state = account();
    run(
        &program,
        &mut state,
        &[deal_won("d1", T0), plain("s1", "usage.spike", hours(1))],
    );
    let sales = state
        .alerts
        .iter()
        .find(|a| a.channel == "sales")
        .expect("the sales alert")
        .id();
    let decisions = run(
        &program,
        &mut state,
        &[
            event("c1", "alert.closed", hours(2), json!({ "alert": sales })),
            plain("s2", "usage.spike", hours(3)),
        ],
    );
    let posted: Vec<&str> = decisions[1]
        .messages
        .iter()
        .map(|m| m.to_email.as_str())
        .collect();
    assert!(posted.contains(&"sales"), "{posted:?}");
    let alert = state.alerts.iter().find(|a| a.id() == sales).expect("kept");
    assert_eq!((alert.status.as_str(), alert.count), ("open", 2));
}
