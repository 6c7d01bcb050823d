//! Self-serve kickoff booking in the Shared Space, on the manual clock (Monday 5 January
//! 2026, 09:00 UTC). The example program's CSM Dana takes calls Monday to Friday, 10:00 to
//! 12:30 in UTC-5 (15:00 to 17:30 UTC), 45 minutes each, with a day's notice: the Space
//! offers those slots, minus any another account booked; booking one emails the person and
//! Dana an iCalendar invite through a real SMTP server and dates the kickoff task; moving
//! it sends new invites with the same UID and the next SEQUENCE; a slot taken meanwhile or
//! past is refused with a message; another account's person cannot book for this one.

use crate::pages::*;
use crate::support::*;
use serde_json::Value;
use std::path::Path;

const ACCOUNT: &str = "acme";
const OTHER: &str = "globex";
/// Dana's first slots from the clock's start: Tuesday's and Wednesday's.
const FIRST_SLOTS: [&str; 4] = [
    "2026-01-06T15:00:00Z",
    "2026-01-06T15:45:00Z",
    "2026-01-06T16:30:00Z",
    "2026-01-07T15:00:00Z",
];

async fn booking_server(data: &Path, db: &TestDatabase, smtp: Option<&Smtp>) -> Server {
    let mut config = ServerConfig::new(data, db);
    if let Some(smtp) = smtp {
        config = config.smtp(&smtp.url());
    }
    let server = config.start().await;
    server.post_events(&deal_won(ACCOUNT)).await;
    server.post_events(&deal_won(OTHER)).await;
    server.advance("1s").await;
    server
}

/// A person of `account` signed in: through their welcome email in the mailbox, or, with
/// an SMTP server, through a sign-in link asked for on the Academy's page.
async fn person(server: &Server, smtp: Option<&Smtp>, account: &str) -> Browser {
    let email = admin_email(account);
    let Some(smtp) = smtp else {
        return sign_in(server, &email).await;
    };
    let welcome = eventually("the welcome email", DEADLINE, || async {
        smtp.emails().into_iter().find(|e| {
            e.header("To").is_some_and(|to| to.contains(&email))
                && e.body.contains("/academy/sign-in?token=")
        })
    })
    .await;
    let start =
        welcome.body.find("/academy/sign-in?token=").unwrap() + "/academy/sign-in?token=".len();
    let token: String = welcome.body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let browser = Browser::new(server);
    let signed_in = browser.post("/academy/sign-in", &[("token", &token)]).await;
    assert_eq!(signed_in.status(), 303, "{email} signs in");
    browser
}

/// The Space's booking form: its action, the slots it offers and the CSRF token.
async fn booking_form(who: &Browser) -> (String, Vec<String>, String) {
    let page = who.get("/space").await;
    assert_eq!(page.status, 200);
    let action = page.attr("#kickoff form.book", "action");
    let slots = page
        .all("#kickoff input[name=start]")
        .into_iter()
        .filter_map(|i| i.attr("value").map(str::to_owned))
        .collect();
    let csrf = page.attr("#kickoff input[name=csrf]", "value");
    (action, slots, csrf)
}

async fn book(who: &Browser, action: &str, csrf: &str, start: &str) -> Page {
    who.submit(action, &[("csrf", csrf), ("start", start)])
        .await
}

/// The kickoff task as the API shows it.
async fn kickoff_task(server: &Server, account: &str) -> Value {
    let projects = server
        .get(&format!("/api/accounts/{account}/projects"))
        .await;
    projects["projects"][0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "kickoff")
        .cloned()
        .unwrap()
}

/// The `text/calendar` part of an email: its Content-Type and the iCalendar object.
fn invite(email: &Email) -> (String, String) {
    use base64::Engine as _;
    let lines: Vec<&str> = email.body.lines().collect();
    let at = lines
        .iter()
        .position(|l| {
            l.to_ascii_lowercase()
                .starts_with("content-type: text/calendar")
        })
        .unwrap_or_else(|| panic!("no text/calendar part in:\n{}", email.body));
    let mut content_type = lines[at].trim().to_owned();
    let mut i = at + 1;
    while i < lines.len() && !lines[i].trim().is_empty() {
        if lines[i].starts_with([' ', '\t']) {
            content_type.push(' ');
            content_type.push_str(lines[i].trim());
        }
        i += 1;
    }
    let encoded: String = lines[i..]
        .iter()
        .take_while(|l| !l.starts_with("--"))
        .map(|l| l.trim())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    (content_type, String::from_utf8(bytes).unwrap())
}

/// The value of an unfolded content line of an iCalendar object.
fn property(calendar: &str, name: &str) -> String {
    calendar
        .replace("\r\n ", "")
        .split("\r\n")
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_owned))
        .unwrap_or_else(|| panic!("no {name} in:\n{calendar}"))
}

/// The booking emails of `account` from its `n`th booking (0 first), delivered, by
/// recipient: the person's, then the CSM's.
async fn invites(server: &Server, smtp: &Smtp, n: usize) -> (Email, Email) {
    let messages = server.messages_of_rule(ACCOUNT, "kickoff-booking").await;
    let mut of_booking: Vec<&Value> = messages.iter().collect();
    // Newest first: the `n`th booking's two messages counted from the oldest.
    of_booking.reverse();
    let pair = &of_booking[2 * n..2 * n + 2];
    let mut person = None;
    let mut csm = None;
    for message in pair {
        let email = smtp.wait_for(&text(&message["message_id"])).await;
        if message["to"]["email"] == CSM_EMAIL {
            csm = Some(email);
        } else {
            person = Some(email);
        }
    }
    (
        person.expect("the person's invite"),
        csm.expect("the CSM's invite"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_space_offers_the_csm_s_next_free_slots_from_the_program_s_hours() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = booking_server(data.path(), &db, None).await;
        let ada = person(&server, None, ACCOUNT).await;

        let page = ada.get("/space").await;
        assert!(page
            .text("#kickoff-title")
            .contains("Book your kickoff call"));
        let (_, slots, _) = booking_form(&ada).await;
        assert_eq!(slots.len(), 12, "{slots:?}");
        assert_eq!(slots[..4], FIRST_SLOTS, "{slots:?}");
        // Weekdays only, at 15:00, 15:45 or 16:30 UTC.
        for slot in &slots {
            let time = &slot[11..16];
            assert!(["15:00", "15:45", "16:30"].contains(&time), "{slot}");
        }
        assert_eq!(
            slots[11], "2026-01-09T16:30:00Z",
            "through Friday: {slots:?}"
        );

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booking_a_slot_sends_both_sides_an_invite_and_dates_the_kickoff_task() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let smtp = Smtp::start().await;
        let server = booking_server(data.path(), &db, Some(&smtp)).await;
        let ada = person(&server, Some(&smtp), ACCOUNT).await;
        let (action, slots, csrf) = booking_form(&ada).await;

        let answer = ada
            .post(&action, &[("csrf", &csrf), ("start", &slots[1])])
            .await;
        assert_eq!(answer.status(), 303);
        assert_eq!(answer.headers()["location"], "/space?booked=1#kickoff");
        // Shown booked at once.
        let page = ada.get("/space?booked=1").await;
        assert_eq!(page.attr("#kickoff .booked", "data-start"), slots[1]);
        server.advance("1s").await;

        let (to_ada, to_dana) = invites(&server, &smtp, 0).await;
        assert!(to_ada.header("To").unwrap().contains(&admin_email(ACCOUNT)));
        assert!(to_dana.header("To").unwrap().contains(CSM_EMAIL));
        let (content_type, calendar) = invite(&to_ada);
        assert!(
            content_type.contains("text/calendar") && content_type.contains("method=REQUEST"),
            "{content_type}"
        );
        assert!(calendar.contains("\r\nMETHOD:REQUEST\r\n"), "{calendar}");
        assert_eq!(property(&calendar, "SEQUENCE"), "0");
        assert_eq!(property(&calendar, "DTSTART"), "20260106T154500Z");
        assert_eq!(property(&calendar, "DTEND"), "20260106T163000Z");
        assert!(calendar
            .lines()
            .any(|l| l.starts_with("ORGANIZER") && l.ends_with(&format!("mailto:{CSM_EMAIL}"))));
        let (_, dana_calendar) = invite(&to_dana);
        assert_eq!(property(&dana_calendar, "UID"), property(&calendar, "UID"));
        let to_csm = server
            .messages_of_rule(ACCOUNT, "kickoff-booking")
            .await
            .into_iter()
            .find(|m| m["to"]["email"] == CSM_EMAIL)
            .unwrap();
        let body = text(&to_csm["body"]);
        assert!(body.contains("Brief:"), "{body}");
        assert!(body.contains("/tasks/kickoff/brief"), "{body}");

        let task = kickoff_task(&server, ACCOUNT).await;
        assert_eq!(task["due_at"], "2026-01-06T16:30:00Z", "{task}");
        let booked = server.events("type=kickoff.booked").await;
        assert_eq!(booked.len(), 1);
        assert_eq!(booked[0]["data"]["by"], admin_email(ACCOUNT));

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_the_call_sends_new_invites_with_the_same_uid_and_the_next_sequence() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let smtp = Smtp::start().await;
        let server = booking_server(data.path(), &db, Some(&smtp)).await;
        let ada = person(&server, Some(&smtp), ACCOUNT).await;
        let (action, slots, csrf) = booking_form(&ada).await;
        assert_eq!(book(&ada, &action, &csrf, &slots[0]).await.status, 303);
        server.advance("1s").await;
        let (first, _) = invites(&server, &smtp, 0).await;
        let (_, first) = invite(&first);

        let page = ada.get("/space").await;
        assert!(page.text("#kickoff legend").contains("Move it"));
        let (_, slots, _) = booking_form(&ada).await;
        assert!(
            !slots.contains(&FIRST_SLOTS[0].to_owned()),
            "its own slot is not offered again"
        );
        assert_eq!(
            book(&ada, &action, &csrf, "2026-01-08T16:30:00Z")
                .await
                .status,
            303
        );
        server.advance("1s").await;

        let (to_ada, to_dana) = invites(&server, &smtp, 1).await;
        let (_, moved) = invite(&to_ada);
        assert_eq!(property(&moved, "UID"), property(&first, "UID"));
        assert_eq!(property(&moved, "SEQUENCE"), "1");
        assert_eq!(property(&moved, "DTSTART"), "20260108T163000Z");
        assert!(to_dana.header("Subject").unwrap().starts_with("Moved"));
        assert_eq!(
            kickoff_task(&server, ACCOUNT).await["due_at"],
            "2026-01-08T17:15:00Z"
        );
        // The first slot is free again for everyone.
        let globex = person(&server, Some(&smtp), OTHER).await;
        let (_, offered, _) = booking_form(&globex).await;
        assert_eq!(offered[0], FIRST_SLOTS[0]);

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_taken_meanwhile_or_too_soon_is_refused_with_a_message() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = booking_server(data.path(), &db, None).await;
        let ada = person(&server, None, ACCOUNT).await;
        let globex = person(&server, None, OTHER).await;
        let (action, slots, csrf) = booking_form(&ada).await;
        assert_eq!(slots[0], FIRST_SLOTS[0]);

        // Globex's admin takes Dana's first slot while Ada's page still shows it.
        let (other_action, _, other_csrf) = booking_form(&globex).await;
        assert_eq!(
            book(&globex, &other_action, &other_csrf, FIRST_SLOTS[0])
                .await
                .status,
            303
        );
        let page = book(&ada, &action, &csrf, FIRST_SLOTS[0]).await;
        assert_eq!(page.status, 409);
        assert!(page.text("#booking-error").contains("Someone just booked"));
        let (_, slots, _) = booking_form(&ada).await;
        assert_eq!(slots[0], FIRST_SLOTS[1], "no longer offered");

        for (start, says) in [
            ("2026-01-05T15:00:00Z", "too soon"),
            ("2026-01-02T15:00:00Z", "passed"),
            (
                "2026-01-06T15:10:00Z",
                "not one your Customer Success Manager offers",
            ),
            ("tomorrow", "Pick one of the times"),
        ] {
            let page = book(&ada, &action, &csrf, start).await;
            assert_eq!(page.status, 422, "{start}");
            assert!(
                page.text("#booking-error").contains(says),
                "{start}: {}",
                page.text("#booking-error")
            );
        }
        let page = book(&ada, &action, &"0".repeat(64), FIRST_SLOTS[2]).await;
        assert_eq!(page.status, 403);

        server.advance("1s").await;
        let booked: Vec<Value> = server
            .events("type=kickoff.booked")
            .await
            .into_iter()
            .filter(|e| e["account"] == ACCOUNT)
            .collect();
        assert!(booked.is_empty(), "{booked:?}");
        assert!(kickoff_task(&server, ACCOUNT).await["due_at"] != "2026-01-06T15:45:00Z");

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stakeholder_of_another_account_cannot_book_for_this_one() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = booking_server(data.path(), &db, None).await;
        let ada = person(&server, None, ACCOUNT).await;
        let globex = person(&server, None, OTHER).await;
        let (acme_action, _, _) = booking_form(&ada).await;
        let (_, _, globex_csrf) = booking_form(&globex).await;

        let page = book(&globex, &acme_action, &globex_csrf, FIRST_SLOTS[0]).await;
        assert_eq!(page.status, 404);
        assert!(page.text("h1").contains("not in your Shared Space"));
        let signed_out = Browser::new(&server)
            .post(
                &acme_action,
                &[("csrf", &globex_csrf), ("start", FIRST_SLOTS[0])],
            )
            .await;
        assert_eq!(signed_out.status(), 401);

        server.advance("1s").await;
        assert!(server.events("type=kickoff.booked").await.is_empty());
        let (_, slots, _) = booking_form(&ada).await;
        assert_eq!(slots[0], FIRST_SLOTS[0], "still free");

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_a_stakeholder_books_the_kickoff_call_from_the_space() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = booking_server(data.path(), &db, None).await;
        let raw = welcome_email(&server, &admin_email(ACCOUNT)).await;
        let start = raw
            .find("/academy/sign-in?token=")
            .unwrap_or_else(|| panic!("no sign-in link in:\n{raw}"));
        let link: String = raw[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "/-_?=.".contains(*c))
            .collect();
        let chromium = crate::browser::Browser::start().await;

        chromium.goto(&format!("{}{link}", server.base)).await;
        let button = chromium
            .wait_for("form[action='/academy/sign-in'] button")
            .await;
        chromium.click(&button).await;
        let to_space = chromium.wait_for("header.site a[href='/space']").await;
        chromium.click(&to_space).await;
        let second = chromium
            .wait_for(&format!("#kickoff input[value='{}']", FIRST_SLOTS[1]))
            .await;
        chromium.click(&second).await;
        chromium
            .screenshot(&format!("space-kickoff-{}", db.backend))
            .await;
        let send = chromium.wait_for("#kickoff form.book button").await;
        chromium.click(&send).await;
        let booked = chromium.wait_for("#kickoff .booked").await;
        let words = chromium.text(&booked).await;
        assert!(words.contains("Tue 6 Jan 2026, 15:45 UTC"), "{words}");
        chromium
            .screenshot(&format!("space-kickoff-booked-{}", db.backend))
            .await;

        server.advance("1s").await;
        assert_eq!(
            kickoff_task(&server, ACCOUNT).await["due_at"],
            "2026-01-06T16:30:00Z"
        );
        let to_dana = server.messages_of_rule(ACCOUNT, "kickoff-booking").await;
        assert_eq!(to_dana.len(), 2, "{to_dana:?}");

        drop(chromium);
        drop(server);
        db.finish().await;
    }
}
