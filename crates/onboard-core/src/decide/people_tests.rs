//! People at an account: identities, personas from the program's segmentation, journey
//! enrolment, the CSM from the CRM owner, and the welcome with a personal sign-in link.

use super::*;
use crate::crm::{DealAccount, DealContact, WonDeal};
use crate::program::{load, ProgramSource, SourceFile};
use crate::time::Timestamp;
use serde_json::json;

const T0: Timestamp = Timestamp(1_767_603_600_000);

const PROGRAM: &str = r#"[program]
name = "Test program"
sender = { name = "Onboard Team", email = "team@onboard.example" }

[[personas]]
name = "admin"
journey = "setup"

[[personas]]
name = "end_user"
journey = "daily"

[[personas]]
name = "executive"
journey = "insights"

[[team]]
name = "Ann Carter"
email = "ann@onboard.example"
role = "csm"

[[team]]
name = "Ben Doyle"
email = "ben@onboard.example"
role = "csm"

[[journeys]]
name = "setup"
title = "Setup"

[[journeys]]
name = "daily"
title = "Daily work"

[[journeys]]
name = "insights"
title = "Insights"

[crm]
hubspot_won_stages = ["closedwon", "12345"]

[[crm.owners]]
owner = "Sam@Sales.example"
csm = "ben@onboard.example"

[segmentation]
default = "end_user"

[[segmentation.rules]]
persona = "executive"
property = "title"
matches = "\\b(vp|director|chief|head)\\b"

[[segmentation.rules]]
persona = "admin"
property = "title"
matches = "\\b(admin|it|ops)\\b"

[[segmentation.rules]]
persona = "admin"
property = "department"
matches = "^it$"

[[rules]]
name = "welcome"
on = "person.enrolled"
[[rules.actions]]
send = "welcome"
to = "person"
"#;

fn program() -> Program {
    let mut files = vec![
        SourceFile {
            path: "program.toml".to_owned(),
            contents: PROGRAM.to_owned(),
        },
        SourceFile {
            path: "messages/welcome.md".to_owned(),
            contents: "+++\nsubject = \"Welcome {{ person.first_name }}\"\n+++\n\
                       {{ csm.name }} here. Your link: {{ sign_in_url }}\n"
                .to_owned(),
        },
    ];
    for journey in ["setup", "daily", "insights"] {
        files.push(SourceFile {
            path: format!("academy/{journey}/01-start.md"),
            contents: "+++\ntitle = \"Start\"\n+++\nHello.\n".to_owned(),
        });
    }
    match load(&ProgramSource { files }) {
        Ok(program) => program,
        Err(diagnostics) => panic!("{diagnostics:?}"),
    }
}

fn contact(email: &str, name: &str, title: &str) -> DealContact {
    DealContact {
        email: email.to_owned(),
        name: Some(name.to_owned()),
        title: Some(title.to_owned()),
        crm_id: Some(format!("c-{name}")),
        properties: Default::default(),
    }
}

fn won(contacts: Vec<DealContact>, owner: Option<&str>) -> WonDeal {
    WonDeal {
        source: "hubspot".to_owned(),
        tenant: Some("1".to_owned()),
        deal_id: "42".to_owned(),
        deal_name: Some("ACME – Pro".to_owned()),
        account: DealAccount {
            name: "ACME".to_owned(),
            domain: Some("acme.example".to_owned()),
            crm_id: Some("9".to_owned()),
        },
        owner_email: owner.map(str::to_owned),
        seats: Some(25),
        plan: Some("pro".to_owned()),
        amount: Some(12000.0),
        contacts,
    }
}

fn stored(new: NewEvent, seq: i64) -> Event {
    Event {
        seq,
        key: new.key,
        kind: new.kind,
        account: new.account,
        at: new.at,
        received_at: new.at,
        processed_at: None,
        data: new.data,
    }
}

/// Decides `event` and then every derived event, as the processor does; returns all
/// decisions.
fn run(
    program: &Program,
    settings: &Settings,
    state: &mut AccountState,
    event: Event,
) -> Decisions {
    let mut all = Decisions::default();
    let mut queue = vec![event];
    let mut seq = 100;
    while let Some(event) = queue.pop() {
        let decided = decide(program, settings, state, &event);
        for derived in &decided.events {
            seq += 1;
            queue.insert(0, stored(derived.clone(), seq));
        }
        all.extend(decided);
    }
    all
}

fn acme() -> AccountState {
    AccountState::new("acme.example", "v1", T0)
}

#[test]
fn segmentation_gives_each_contact_the_persona_of_the_first_matching_rule() {
    let program = program();
    let mut state = acme();
    let deal = won(
        vec![
            contact("ada@acme.example", "Ada", "Head of IT"),
            contact("ivan@acme.example", "Ivan", "IT Administrator"),
            contact("eve@acme.example", "Eve", "Account Executive"),
        ],
        None,
    );
    run(
        &program,
        &Settings::new("https://x"),
        &mut state,
        stored(deal.to_event(T0), 1),
    );
    let personas: Vec<(&str, Option<&str>)> = state
        .people
        .iter()
        .map(|p| (p.email.as_str(), p.persona.as_deref()))
        .collect();
    assert_eq!(
        personas,
        [
            ("ada@acme.example", Some("executive")),
            ("ivan@acme.example", Some("admin")),
            ("eve@acme.example", Some("end_user")),
        ]
    );
}

#[test]
fn segmentation_reads_any_contact_property() {
    let program = program();
    let mut state = acme();
    let mut it = contact("kim@acme.example", "Kim", "Engineer");
    it.properties.insert("department".to_owned(), json!("IT"));
    run(
        &program,
        &Settings::new("https://x"),
        &mut state,
        stored(won(vec![it], None).to_event(T0), 1),
    );
    assert_eq!(state.people[0].persona.as_deref(), Some("admin"));
}

#[test]
fn each_enrolled_person_gets_one_welcome_with_a_sign_in_link_left_for_delivery() {
    let program = program();
    let mut state = acme();
    let deal = won(
        vec![
            contact("ada@acme.example", "Ada Byron", "VP Sales"),
            contact("eve@acme.example", "Eve", "Rep"),
        ],
        None,
    );
    let decisions = run(
        &program,
        &Settings::new("https://x"),
        &mut state,
        stored(deal.to_event(T0), 1),
    );
    let mut to: Vec<(&str, Option<&str>)> = decisions
        .messages
        .iter()
        .map(|m| (m.to_email.as_str(), m.sign_in_email.as_deref()))
        .collect();
    to.sort();
    assert_eq!(
        to,
        [
            ("ada@acme.example", Some("ada@acme.example")),
            ("eve@acme.example", Some("eve@acme.example")),
        ]
    );
    let ada = decisions
        .messages
        .iter()
        .find(|m| m.to_email == "ada@acme.example")
        .expect("a welcome for Ada");
    assert_eq!(ada.subject, "Welcome Ada");
    assert!(ada.body.contains(SIGN_IN_URL_PLACEHOLDER), "{}", ada.body);
    assert_eq!(
        state.people[0].journey.as_deref(),
        Some("insights"),
        "Ada is enrolled in the executive journey"
    );
    assert_eq!(state.people[0].enrolled_at, Some(T0));
}

#[test]
fn the_same_deal_won_again_adds_nobody_and_sends_nothing_more() {
    let program = program();
    let settings = Settings::new("https://x");
    let mut state = acme();
    let deal = won(vec![contact("eve@acme.example", "Eve", "Rep")], None);
    run(
        &program,
        &settings,
        &mut state,
        stored(deal.to_event(T0), 1),
    );
    let mut again = stored(deal.to_event(T0.plus(crate::Duration(1000))), 2);
    again.key = "redelivered".to_owned();
    let decisions = run(&program, &settings, &mut state, again);
    assert!(decisions.messages.is_empty());
    assert_eq!(state.people.len(), 1);
    assert_eq!(state.deals.len(), 1);
    assert_eq!(state.deals[0].won_again, 1);
}

#[test]
fn a_contact_matched_by_email_in_any_case_is_updated_not_duplicated() {
    let program = program();
    let settings = Settings::new("https://x");
    let mut state = acme();
    run(
        &program,
        &settings,
        &mut state,
        stored(
            won(vec![contact("Eve@ACME.example", "Eve", "Rep")], None).to_event(T0),
            1,
        ),
    );
    let mut second = won(vec![contact("eve@acme.example", "Eve Adams", "Rep")], None);
    second.deal_id = "43".to_owned();
    run(
        &program,
        &settings,
        &mut state,
        stored(second.to_event(T0), 2),
    );
    assert_eq!(state.people.len(), 1);
    assert_eq!(state.people[0].name, "Eve Adams");
    assert_eq!(
        state.people[0].ids.get("hubspot").map(String::as_str),
        Some("c-Eve Adams")
    );
}

#[test]
fn the_crm_owner_maps_to_the_program_s_csm() {
    let program = program();
    let mut state = acme();
    let mut settings = Settings::new("https://x");
    settings
        .csm_load
        .insert("ben@onboard.example".to_owned(), 50);
    run(
        &program,
        &settings,
        &mut state,
        stored(won(vec![], Some("sam@sales.example")).to_event(T0), 1),
    );
    assert_eq!(state.csm.as_deref(), Some("ben@onboard.example"));
}

#[test]
fn a_persona_set_by_hand_moves_the_person_to_its_journey_and_survives_crm_updates() {
    let program = program();
    let settings = Settings::new("https://x");
    let mut state = acme();
    let deal = won(vec![contact("eve@acme.example", "Eve", "Rep")], None);
    run(
        &program,
        &settings,
        &mut state,
        stored(deal.to_event(T0), 1),
    );

    let resegment = Event {
        seq: 2,
        key: "reseg-1".to_owned(),
        kind: EventType::parse("person.resegmented").expect("type"),
        account: state.id.clone(),
        at: T0,
        received_at: T0,
        processed_at: None,
        data: json!({ "email": "eve@acme.example", "persona": "admin" }),
    };
    let decisions = decide(&program, &settings, &mut state, &resegment);
    assert_eq!(state.people[0].persona.as_deref(), Some("admin"));
    assert_eq!(state.people[0].persona_source.as_deref(), Some("manual"));
    assert_eq!(state.people[0].journey.as_deref(), Some("setup"));
    let enrolled = &decisions.events[0];
    assert_eq!(enrolled.kind.as_str(), "person.enrolled");
    assert_eq!(enrolled.data["journey"], "setup");
    assert_eq!(enrolled.data["previous_journey"], "daily");

    let mut later = won(vec![contact("eve@acme.example", "Eve", "Rep")], None);
    later.deal_id = "77".to_owned();
    run(
        &program,
        &settings,
        &mut state,
        stored(later.to_event(T0), 3),
    );
    assert_eq!(state.people[0].persona.as_deref(), Some("admin"));
}

#[test]
fn a_bad_segmentation_pattern_is_reported_where_it_is() {
    let source = PROGRAM.replace("^it$", "(unclosed");
    let files = vec![SourceFile {
        path: "program.toml".to_owned(),
        contents: source,
    }];
    let diagnostics = load(&ProgramSource { files }).expect_err("a bad pattern");
    let bad = diagnostics
        .iter()
        .find(|d| d.message.contains("not a regular expression"))
        .unwrap_or_else(|| panic!("{diagnostics:?}"));
    assert!(bad.line > 60, "{bad:?}");
}

#[test]
fn an_owner_mapped_to_someone_who_is_not_a_csm_is_an_error() {
    let source = PROGRAM.replace(
        "csm = \"ben@onboard.example\"",
        "csm = \"nobody@onboard.example\"",
    );
    let files = vec![SourceFile {
        path: "program.toml".to_owned(),
        contents: source,
    }];
    let diagnostics = load(&ProgramSource { files }).expect_err("an unknown CSM");
    assert!(
        diagnostics
            .iter()
            .any(|d| d.message.contains("not the email of a CSM")),
        "{diagnostics:?}"
    );
}
