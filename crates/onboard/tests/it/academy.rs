//! The learner's Academy, through a browser's eyes: signed in with the link of their
//! welcome email, a learner sees their journey's core path with their progress and the
//! optional library apart, reads modules (Markdown made safe HTML), answers checkpoints and
//! completes modules with a CSRF-protected form; the completions reach the event log, the
//! account's state and the API, and the last core module completes the journey once.

use crate::pages::*;
use crate::support::*;
use scraper::Selector;
use serde_json::{json, Value};
use std::path::Path;

const ACCOUNT: &str = "acme";
const EVE: &str = "eve@acme.example";
const SAM: &str = "sam@acme.example";
const JOURNEY: &str = "everyday-selling";
/// The core path of `everyday-selling` in the example program, in order.
const CORE: [&str; 4] = [
    "01-your-first-day",
    "02-import-your-leads",
    "03-work-your-pipeline",
    "04-log-your-activities",
];
const LIBRARY: &str = "05-email-templates";
/// The module of the journey with a checkpoint, and its right answer.
const CHECKPOINT: &str = "02-import-your-leads";
const RIGHT_ANSWER: &str = "2";

/// ACME's deal with an admin and two end users (journey `everyday-selling`).
fn team_deal() -> Value {
    json!({
        "id": "deal-acme",
        "type": "deal.won",
        "account": ACCOUNT,
        "data": {
            "account_name": "ACME Inc.",
            "csm": CSM_EMAIL,
            "contacts": [
                { "email": admin_email(ACCOUNT), "name": "Ada Admin", "persona": "admin" },
                { "email": EVE, "name": "Eve Seller", "persona": "end_user" },
                { "email": SAM, "name": "Sam Seller", "persona": "end_user" },
            ],
        },
    })
}

impl Page {
    /// `(slug, status)` of each module of a list (`.core` or `.library`).
    fn modules(&self, list: &str) -> Vec<(String, String)> {
        self.all(&format!(".modules.{list} li"))
            .into_iter()
            .map(|li| {
                let status = li
                    .select(&Selector::parse(".status").unwrap())
                    .next()
                    .map(|s| squash(&s.text().collect::<String>()))
                    .unwrap_or_default();
                (li.attr("data-slug").unwrap_or_default().to_owned(), status)
            })
            .collect()
    }
}

impl Browser {
    /// The CSRF token the forms of this learner's pages carry.
    async fn module_csrf(&self, slug: &str) -> String {
        let page = self.get(&format!("/academy/modules/{slug}")).await;
        assert_eq!(page.status, 200);
        page.attr("form.complete input[name=csrf]", "value")
    }

    /// Sends the form of a module page, as the browser would (with `answer` for a
    /// checkpoint).
    async fn complete(&self, slug: &str, answer: Option<&str>) -> reqwest::Response {
        let csrf = self.module_csrf(slug).await;
        let mut form = vec![("csrf", csrf.as_str())];
        if let Some(answer) = answer {
            form.push(("answer", answer));
        }
        self.post(&format!("/academy/modules/{slug}/complete"), &form)
            .await
    }

    /// Completes a module (the checkpoint answered right), expecting the redirect back.
    async fn finish(&self, slug: &str) {
        let answer = (slug == CHECKPOINT).then_some(RIGHT_ANSWER);
        let answer = self.complete(slug, answer).await;
        assert_eq!(answer.status(), 303, "completing {slug}");
    }
}

/// A server keeping its emails in the development mailbox, with ACME won and everyone
/// welcomed; on `program` when given, else the example program.
async fn academy_server(data: &Path, db: &TestDatabase, program: Option<&Path>) -> Server {
    let mut config = ServerConfig::new(data, db);
    if let Some(program) = program {
        config = config.arg("--program").arg(program.to_str().unwrap());
    }
    let server = config.start().await;
    server.post_events(&team_deal()).await;
    server.advance("1s").await;
    server
}

/// The `module.completed` events in the log, once processed.
async fn completions(server: &Server) -> Vec<Value> {
    server.advance("1s").await;
    server.events("type=module.completed").await
}

/// A person of the account, as the API shows them.
async fn person(server: &Server, email: &str) -> Value {
    let account = server.get(&format!("/api/accounts/{ACCOUNT}")).await;
    account["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["email"] == email)
        .cloned()
        .unwrap_or_else(|| panic!("no {email} in {account}"))
}

fn pairs(slugs: &[&str], statuses: &[&str]) -> Vec<(String, String)> {
    slugs
        .iter()
        .zip(statuses)
        .map(|(slug, status)| ((*slug).to_owned(), (*status).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journey_page_shows_the_core_path_in_order_with_progress_and_the_library_apart() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let eve = sign_in(&server, EVE).await;

        let home = eve.get("/academy").await;
        assert_eq!(home.status, 200);
        assert_eq!(home.text("h1"), "Welcome, Eve Seller");
        assert_eq!(
            home.text("header.site a[href='/space']"),
            "Your Shared Space"
        );
        assert_eq!(
            home.text("#journey-title"),
            "Everyday selling with Pipeflow"
        );
        assert_eq!(
            home.modules("core"),
            pairs(&CORE, &["Next", "To do", "To do", "To do"])
        );
        assert_eq!(home.text(".progress-label"), "0 of 4 core modules done");
        assert_eq!(home.attr("progress", "value"), "0");
        assert_eq!(home.attr("progress", "max"), "4");
        assert_eq!(home.modules("library"), pairs(&[LIBRARY], &["Optional"]));
        assert!(home.text("#library-title").contains("optional"));

        eve.finish(CORE[0]).await;
        let home = eve.get("/academy").await;
        assert_eq!(
            home.modules("core"),
            pairs(&CORE, &["Done", "Next", "To do", "To do"])
        );
        assert_eq!(home.text(".progress-label"), "1 of 4 core modules done");
        assert_eq!(home.attr("progress", "value"), "1");
        assert!(home.all(".journey-complete").is_empty());

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_modules_are_marked_done_but_never_count_toward_progress() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let eve = sign_in(&server, EVE).await;

        eve.finish(LIBRARY).await;
        let home = eve.get("/academy").await;
        assert_eq!(home.modules("library"), pairs(&[LIBRARY], &["Done"]));
        assert_eq!(home.text(".progress-label"), "0 of 4 core modules done");
        assert_eq!(home.modules("core")[0].1, "Next");

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_page_shows_the_module_with_links_along_the_core_path() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let eve = sign_in(&server, EVE).await;

        let page = eve.get("/academy/modules/03-work-your-pipeline").await;
        assert_eq!(page.status, 200);
        assert_eq!(page.text("h1"), "Work your pipeline");
        assert!(page.text(".module-place").starts_with("Module 3 of 4"));
        assert!(!page.all(".content p").is_empty(), "the Markdown is HTML");
        assert_eq!(
            page.attr("a[rel=prev]", "href"),
            "/academy/modules/02-import-your-leads"
        );
        assert_eq!(
            page.attr("a[rel=next]", "href"),
            "/academy/modules/04-log-your-activities"
        );
        assert_eq!(page.all("form.complete button[type=submit]").len(), 1);

        let first = eve.get(&format!("/academy/modules/{}", CORE[0])).await;
        assert!(first.all("a[rel=prev]").is_empty());
        let last = eve.get(&format!("/academy/modules/{}", CORE[3])).await;
        assert!(last.all("a[rel=next]").is_empty());

        let library = eve.get(&format!("/academy/modules/{LIBRARY}")).await;
        assert_eq!(library.status, 200);
        assert!(library.text(".module-place").contains("optional"));

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_of_another_journey_or_an_unknown_one_is_not_found() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let eve = sign_in(&server, EVE).await;
        let csrf = eve.module_csrf(CORE[0]).await;

        // `01-welcome` is a module of the admins' journey.
        for slug in ["01-welcome", "99-nothing", "..%2F01-your-first-day"] {
            let page = eve.get(&format!("/academy/modules/{slug}")).await;
            assert_eq!(page.status, 404, "{slug}");
            assert!(page.text("h1").contains("not in your journey"), "{slug}");
            let post = eve
                .post(
                    &format!("/academy/modules/{slug}/complete"),
                    &[("csrf", &csrf)],
                )
                .await;
            assert_eq!(post.status(), 404, "{slug}");
        }
        assert!(completions(&server).await.is_empty());

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completing_a_module_logs_it_and_shows_it_done() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let eve = sign_in(&server, EVE).await;

        let answer = eve.complete(CORE[0], None).await;
        assert_eq!(answer.status(), 303);
        assert_eq!(
            answer.headers()["location"],
            format!("/academy/modules/{}", CORE[0]).as_str()
        );
        let page = eve.get(&format!("/academy/modules/{}", CORE[0])).await;
        assert_eq!(page.all(".module-done").len(), 1, "shown done at once");
        assert!(page.all("form.complete").is_empty());

        let logged = completions(&server).await;
        assert_eq!(logged.len(), 1);
        assert_eq!(
            logged[0]["data"],
            json!({ "email": EVE, "journey": JOURNEY, "module": CORE[0] })
        );
        let eve_state = person(&server, EVE).await;
        assert!(
            eve_state["modules_completed"][JOURNEY][CORE[0]].is_i64(),
            "{eve_state}"
        );
        server.assert_settled(0).await;

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completing_a_module_again_changes_nothing() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let eve = sign_in(&server, EVE).await;
        let csrf = eve.module_csrf(CORE[0]).await;
        let path = format!("/academy/modules/{}/complete", CORE[0]);

        assert_eq!(eve.post(&path, &[("csrf", &csrf)]).await.status(), 303);
        server.advance("1s").await;
        let first = person(&server, EVE).await;
        assert!(first["modules_completed"][JOURNEY][CORE[0]].is_i64());
        server.advance("1h").await;
        assert_eq!(eve.post(&path, &[("csrf", &csrf)]).await.status(), 303);

        assert_eq!(completions(&server).await.len(), 1);
        let again = person(&server, EVE).await;
        assert_eq!(again["modules_completed"], first["modules_completed"]);

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_without_the_sessions_csrf_token_is_refused_and_logs_nothing() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let eve = sign_in(&server, EVE).await;
        let sam = sign_in(&server, SAM).await;
        let sams_token = sam.module_csrf(CORE[0]).await;
        let path = format!("/academy/modules/{}/complete", CORE[0]);

        for form in [
            vec![],
            vec![("csrf", "")],
            vec![("csrf", "0".repeat(64).as_str())],
            vec![("csrf", sams_token.as_str())],
        ] {
            let answer = eve.post(&path, &form).await;
            assert_eq!(answer.status(), 403, "{form:?}");
            let page = Browser::page(answer).await;
            assert!(page.text("h1").contains("expired"));
        }
        let signed_out = Browser::new(&server)
            .post(&path, &[("csrf", &sams_token)])
            .await;
        assert_eq!(signed_out.status(), 401);
        assert!(completions(&server).await.is_empty());

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_completes_its_module_only_when_answered_right() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let eve = sign_in(&server, EVE).await;

        let page = eve.get(&format!("/academy/modules/{CHECKPOINT}")).await;
        assert_eq!(
            page.text("form.complete legend"),
            "Where do you start importing a spreadsheet of leads?"
        );
        let radios = page.all("form.complete input[type=radio][name=answer]");
        assert_eq!(radios.len(), 3);
        for radio in radios {
            let id = radio.attr("id").unwrap();
            assert_eq!(page.all(&format!("label[for={id}]")).len(), 1, "{id}");
        }

        let wrong = eve.complete(CHECKPOINT, Some("1")).await;
        assert_eq!(wrong.status(), 422);
        let wrong = Browser::page(wrong).await;
        assert!(wrong.text("[role=alert]").contains("not the right answer"));
        assert_eq!(wrong.attr("input[name=answer][checked]", "value"), "1");
        assert!(wrong.all(".module-done").is_empty());

        for unanswered in [None, Some(""), Some("4"), Some("two")] {
            let answer = eve.complete(CHECKPOINT, unanswered).await;
            assert_eq!(answer.status(), 422, "{unanswered:?}");
        }
        assert!(completions(&server).await.is_empty(), "nothing logged");

        let right = eve.complete(CHECKPOINT, Some(RIGHT_ANSWER)).await;
        assert_eq!(right.status(), 303);
        let logged = completions(&server).await;
        assert_eq!(logged.len(), 1);
        assert_eq!(logged[0]["data"]["module"], CHECKPOINT);
        assert_eq!(logged[0]["data"]["answer"], 2);
        let page = eve.get(&format!("/academy/modules/{CHECKPOINT}")).await;
        assert_eq!(page.all(".module-done").len(), 1);

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_core_module_completes_the_journey_once() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let eve = sign_in(&server, EVE).await;

        for slug in CORE.iter().take(3) {
            eve.finish(slug).await;
        }
        server.advance("1s").await;
        assert!(server.events("type=journey.completed").await.is_empty());
        eve.finish(CORE[3]).await;
        eve.finish(LIBRARY).await;
        server.advance("1s").await;

        let completed = server.events("type=journey.completed").await;
        assert_eq!(completed.len(), 1, "{completed:#?}");
        assert_eq!(completed[0]["data"]["email"], EVE);
        assert_eq!(completed[0]["data"]["journey"], JOURNEY);
        let eve_state = person(&server, EVE).await;
        assert!(
            eve_state["journeys_completed"][JOURNEY].is_i64(),
            "{eve_state}"
        );
        assert_eq!(
            eve_state["modules_completed"][JOURNEY]
                .as_object()
                .unwrap()
                .len(),
            5
        );

        let home = eve.get("/academy").await;
        assert_eq!(home.all(".journey-complete").len(), 1);
        assert_eq!(home.text(".progress-label"), "4 of 4 core modules done");
        assert_eq!(
            home.modules("core"),
            pairs(&CORE, &["Done", "Done", "Done", "Done"])
        );
        // The program's rule tells the CSM.
        assert_eq!(
            server
                .messages_of_rule(ACCOUNT, "journey-complete-csm")
                .await
                .len(),
            1
        );

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_learners_of_one_account_each_see_their_own_progress() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let eve = sign_in(&server, EVE).await;
        let sam = sign_in(&server, SAM).await;

        eve.finish(CORE[0]).await;
        eve.finish(CORE[1]).await;
        sam.finish(CORE[2]).await;
        server.advance("1s").await;

        let eves = eve.get("/academy").await;
        assert_eq!(eves.text("h1"), "Welcome, Eve Seller");
        assert_eq!(
            eves.modules("core"),
            pairs(&CORE, &["Done", "Done", "Next", "To do"])
        );
        let sams = sam.get("/academy").await;
        assert_eq!(sams.text("h1"), "Welcome, Sam Seller");
        assert_eq!(
            sams.modules("core"),
            pairs(&CORE, &["Next", "To do", "Done", "To do"])
        );
        assert_eq!(sams.text(".progress-label"), "1 of 4 core modules done");
        let page = sam.get(&format!("/academy/modules/{}", CORE[0])).await;
        assert!(page.all(".module-done").is_empty());

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn module_pages_ask_a_visitor_without_a_session_to_sign_in() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;

        let visitor = Browser::new(&server);
        let page = visitor.get(&format!("/academy/modules/{}", CORE[0])).await;
        assert_eq!(page.status, 401);
        assert_eq!(page.all("form[action='/academy/sign-in/new']").len(), 1);
        assert!(page.all(".content").is_empty(), "no module content");

        drop(server);
        db.finish().await;
    }
}

/// Copies a folder, recursively.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_page_strips_scripts_event_handlers_and_javascript_links() {
    let program = tempfile::tempdir().unwrap();
    copy_dir(Path::new(EXAMPLE_PROGRAM), program.path());
    std::fs::write(
        program
            .path()
            .join("academy/everyday-selling/03-work-your-pipeline.md"),
        "+++\ntitle = \"Work your pipeline\"\n+++\n\n\
         Drag a card <script>alert('s')</script>to move it.\n\n\
         <img src=\"board.png\" alt=\"The board\" onerror=\"alert('e')\">\n\n\
         [Open the board](javascript:alert('j')) or <a href=\"javascript:alert('a')\" \
         onclick=\"alert('c')\">this</a>, or [read more](https://help.pipeflow.example/board).\n",
    )
    .unwrap();
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, Some(program.path())).await;
        let eve = sign_in(&server, EVE).await;

        let page = eve.get("/academy/modules/03-work-your-pipeline").await;
        assert_eq!(page.status, 200);
        assert!(page.all("script").is_empty(), "{}", page.html.html());
        for element in page.all(".content *") {
            for (name, value) in element.value().attrs() {
                assert!(!name.starts_with("on"), "{name}={value}");
                assert!(!value.contains("javascript:"), "{name}={value}");
            }
        }
        assert!(!page.html.html().contains("alert("));
        assert_eq!(page.attr(".content img", "alt"), "The board");
        assert_eq!(
            page.attr(".content a[href^='https://']", "rel"),
            "noopener noreferrer nofollow"
        );

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_keeps_the_modules_of_the_program_version_their_account_started_with() {
    // The next program renames the first module of `everyday-selling`.
    let next = tempfile::tempdir().unwrap();
    copy_dir(Path::new(EXAMPLE_PROGRAM), next.path());
    let first = next
        .path()
        .join(format!("academy/{JOURNEY}/{}.md", CORE[0]));
    let text = std::fs::read_to_string(&first).unwrap();
    std::fs::write(
        &first,
        text.replace(
            "title = \"Your first day in Pipeflow\"",
            "title = \"Day one with the new Pipeflow\"",
        ),
    )
    .unwrap();
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let eve = sign_in(&server, EVE).await;
        let before = eve.get(&format!("/academy/modules/{}", CORE[0])).await;
        assert_eq!(before.text("h1#module-title"), "Your first day in Pipeflow");
        drop(server);

        // The server restarts with the next program: ACME stays on its version.
        let server = ServerConfig::new(data.path(), &db)
            .arg("--program")
            .arg(next.path().to_str().unwrap())
            .start()
            .await;
        let eve = eve.at(&server);
        let home = eve.get("/academy").await;
        assert_eq!(home.status, 200);
        assert_eq!(
            home.text(&format!("li[data-slug='{}'] a", CORE[0])),
            "Your first day in Pipeflow"
        );
        let page = eve.get(&format!("/academy/modules/{}", CORE[0])).await;
        assert_eq!(page.text("h1#module-title"), "Your first day in Pipeflow");
        eve.finish(CORE[0]).await;
        let done = completions(&server).await;
        assert_eq!(done.len(), 1, "{done:?}");

        // An account won now learns from the next program.
        server
            .post_events(&json!({
                "id": "deal-globex",
                "type": "deal.won",
                "account": "globex",
                "data": {
                    "account_name": "Globex",
                    "csm": CSM_EMAIL,
                    "contacts": [{ "email": "gil@globex.example", "name": "Gil", "persona": "end_user" }],
                },
            }))
            .await;
        server.advance("1s").await;
        let gil = sign_in(&server, "gil@globex.example").await;
        let page = gil.get(&format!("/academy/modules/{}", CORE[0])).await;
        assert_eq!(
            page.text("h1#module-title"),
            "Day one with the new Pipeflow"
        );

        drop(server);
        db.finish().await;
    }
}

// ------------------------------------------------------------ signing in with a code, limits

/// The one-time codes emailed to `email` so far, from the development mailbox.
async fn codes_emailed(server: &Server, email: &str) -> Vec<String> {
    const LEAD: &str = "Academy (ACME Inc.) is:";
    let mut codes = Vec::new();
    for raw in emails_to(server, email).await {
        if let Some(start) = raw.find(LEAD) {
            let code: String = raw[start + LEAD.len()..]
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            codes.push(code);
        }
    }
    codes
}

/// Asks for a code for `email` on the sign-in page, as its form does; returns the page.
async fn ask_for_code(browser: &Browser, email: &str) -> Page {
    browser
        .submit("/academy/sign-in/code", &[("email", email)])
        .await
}

/// Asks for a code for `email` and waits for the email that carries it; returns the code.
async fn new_code(server: &Server, email: &str) -> String {
    let before = codes_emailed(server, email).await;
    let page = ask_for_code(&Browser::new(server), email).await;
    assert_eq!(page.status, 200, "{}", page.html.html());
    server.advance("1s").await;
    eventually(&format!("a new code for {email}"), DEADLINE, || async {
        codes_emailed(server, email)
            .await
            .into_iter()
            .find(|code| !before.contains(code))
    })
    .await
}

/// Sends the code form from a browser without a session.
async fn enter_code(server: &Server, email: &str, code: &str) -> Page {
    Browser::new(server)
        .submit(
            "/academy/sign-in/code/verify",
            &[("email", email), ("code", code)],
        )
        .await
}

/// A code of six digits that is not `code`.
fn wrong(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emailed_code_signs_in_once_and_never_sits_in_the_outbox() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let code = new_code(&server, EVE).await;
        assert_eq!(code.len(), 6, "{code}");

        let eve = Browser::new(&server);
        let signed_in = eve
            .post(
                "/academy/sign-in/code/verify",
                &[("email", "  Eve@ACME.example "), ("code", &code)],
            )
            .await;
        assert_eq!(signed_in.status(), 303);
        assert_eq!(signed_in.headers()["location"], "/academy");
        let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
        assert_eq!(eve.get("/academy").await.text("h1"), "Welcome, Eve Seller");
        assert_eq!(eve.get("/space").await.status, 200, "the Space shares it");

        let again = enter_code(&server, EVE, &code).await;
        assert_eq!(again.status, 401, "a code signs in once");
        assert!(again.text("#code-error").contains("not right"));

        let sent = server
            .messages_of_rule(ACCOUNT, "academy-sign-in-code")
            .await;
        assert_eq!(sent.len(), 1);
        let body = text(&sent[0]["body"]);
        assert!(!body.contains(&code), "the outbox keeps no code: {body}");
        assert!(body.contains("%ONBOARD_SIGN_IN_CODE%"), "{body}");
        server.advance("1s").await;
        let logins = server.events("type=academy.login").await;
        assert_eq!(logins.len(), 1);
        assert_eq!(logins[0]["data"]["email"], EVE);

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_expires_fifteen_minutes_after_it_was_sent() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let code = new_code(&server, EVE).await;

        server.advance("15m").await;
        let late = enter_code(&server, EVE, &code).await;
        assert_eq!(late.status, 401);
        assert!(late.text("#code-error").contains("expired"));

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_tries_kill_the_code() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let code = new_code(&server, EVE).await;

        for _ in 0..5 {
            let tried = enter_code(&server, EVE, &wrong(&code)).await;
            assert_eq!(tried.status, 401);
            assert_eq!(tried.attr("#code", "aria-invalid"), "true");
            assert_eq!(tried.attr("#code-email", "value"), EVE, "the address stays");
        }
        let right_too_late = enter_code(&server, EVE, &code).await;
        assert_eq!(right_too_late.status, 401, "the code is dead");

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_wrong_tries_leave_the_code_working() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let code = new_code(&server, EVE).await;

        for _ in 0..4 {
            assert_eq!(enter_code(&server, EVE, &wrong(&code)).await.status, 401);
        }
        let eve = Browser::new(&server);
        let signed_in = eve
            .post(
                "/academy/sign-in/code/verify",
                &[("email", EVE), ("code", &code)],
            )
            .await;
        assert_eq!(signed_in.status(), 303);

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_code_revokes_the_older_one() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let older = new_code(&server, EVE).await;
        let newer = new_code(&server, EVE).await;
        assert_ne!(older, newer);

        assert_eq!(enter_code(&server, EVE, &older).await.status, 401);
        let eve = Browser::new(&server);
        let signed_in = eve
            .post(
                "/academy/sign-in/code/verify",
                &[("email", EVE), ("code", &newer)],
            )
            .await;
        assert_eq!(signed_in.status(), 303);

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_does_not_revoke_the_persons_sign_in_link() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let welcome = welcome_email(&server, EVE).await;
        let start = welcome.find("/academy/sign-in?token=").unwrap() + 23;
        let token: String = welcome[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        new_code(&server, EVE).await;

        let eve = Browser::new(&server);
        let signed_in = eve.post("/academy/sign-in", &[("token", &token)]).await;
        assert_eq!(signed_in.status(), 303, "the link still works");

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_address_gets_the_same_answer_and_no_code() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let n_messages = server.messages("").await.len();

        let browser = Browser::new(&server);
        let unknown = ask_for_code(&browser, "nobody@acme.example").await;
        let known = ask_for_code(&browser, EVE).await;
        assert_eq!((unknown.status, known.status), (200, 200));
        assert_eq!(
            unknown
                .text("main")
                .replace("nobody@acme.example", "ADDRESS"),
            known.text("main").replace(EVE, "ADDRESS")
        );
        server.advance("1s").await;
        assert_eq!(
            server.messages("").await.len(),
            n_messages + 1,
            "Eve's only"
        );
        assert_eq!(
            enter_code(&server, "nobody@acme.example", "123456")
                .await
                .status,
            401
        );

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_form_with_a_missing_field_comes_back_with_the_error_next_to_it() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;

        let no_email = enter_code(&server, "", "123456").await;
        assert_eq!(no_email.status, 400);
        assert_eq!(
            no_email.text("#code-email-error"),
            "Enter your work email address."
        );
        assert_eq!(no_email.attr("#code-email", "aria-invalid"), "true");
        assert!(no_email.all("#code-error").is_empty());

        let no_code = enter_code(&server, EVE, " ").await;
        assert_eq!(no_code.status, 400);
        assert_eq!(
            no_code.text("#code-error"),
            "Enter the 6-digit code from the email."
        );
        assert_eq!(no_code.attr("#code-email", "value"), EVE);

        let no_address = Browser::new(&server)
            .submit("/academy/sign-in/code", &[("email", "")])
            .await;
        assert_eq!(no_address.status, 400);
        assert_eq!(
            no_address.text("#email-error"),
            "Enter your work email address."
        );
        assert!(server
            .messages_of_rule(ACCOUNT, "academy-sign-in-code")
            .await
            .is_empty());

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_form_sent_from_a_browser_with_a_session_needs_its_csrf_token() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let sam = sign_in(&server, SAM).await;
        let code = new_code(&server, EVE).await;

        let forged = sam
            .submit(
                "/academy/sign-in/code/verify",
                &[("email", EVE), ("code", &code)],
            )
            .await;
        assert_eq!(forged.status, 403);
        assert_eq!(sam.get("/academy").await.text("h1"), "Welcome, Sam Seller");

        let form = sam.get(&format!("/academy/sign-in/code?email={EVE}")).await;
        let csrf = form.attr("form.enter-code input[name=csrf]", "value");
        let switched = sam
            .post(
                "/academy/sign-in/code/verify",
                &[("email", EVE), ("code", &code), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(
            switched.status(),
            303,
            "the code was not spent by the refusal"
        );
        assert_eq!(sam.get("/academy").await.text("h1"), "Welcome, Eve Seller");

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_and_code_requests_are_limited_per_address_until_the_clock_moves() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let browser = Browser::new(&server);
        for i in 0..5 {
            let path = if i % 2 == 0 {
                "/academy/sign-in/new"
            } else {
                "/academy/sign-in/code"
            };
            assert_eq!(browser.submit(path, &[("email", EVE)]).await.status, 200);
        }
        server.advance("1s").await;
        let n_messages = server.messages("").await.len();
        let n_events = server.events("").await.len();

        for path in ["/academy/sign-in/code", "/academy/sign-in/new"] {
            let held = browser.post(path, &[("email", EVE)]).await;
            assert_eq!(held.status(), 429, "{path}");
            let retry_after: u64 = held.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=180).contains(&retry_after), "{retry_after}");
            let page = Browser::page(held).await;
            assert!(page.text("main").contains("Nothing was sent"));
            assert!(page.text("main").contains("Try again at"));
        }
        let json = browser
            .client
            .post(format!("{}/academy/sign-in/code", browser.base))
            .header("accept", "application/json")
            .form(&[("email", EVE)])
            .send()
            .await
            .unwrap();
        assert_eq!(json.status(), 429);
        let body: Value = json.json().await.unwrap();
        assert_eq!(body["error"]["code"], "rate_limited");
        server.advance("1s").await;
        assert_eq!(server.messages("").await.len(), n_messages, "nothing sent");
        assert_eq!(server.events("").await.len(), n_events, "nothing logged");

        // Another address from the same client is not held by Eve's limit.
        assert_eq!(
            browser
                .submit("/academy/sign-in/code", &[("email", SAM)])
                .await
                .status,
            200
        );
        server.advance("3m").await;
        assert_eq!(
            browser
                .submit("/academy/sign-in/code", &[("email", EVE)])
                .await
                .status,
            200,
            "the limit lifts with time"
        );

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_and_code_requests_are_limited_per_client() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let browser = Browser::new(&server);
        for i in 0..20 {
            let email = format!("person{i}@elsewhere.example");
            let page = browser
                .submit("/academy/sign-in/new", &[("email", &email)])
                .await;
            assert_eq!(page.status, 200, "request {i}");
        }
        let held = browser
            .submit("/academy/sign-in/code", &[("email", EVE)])
            .await;
        assert_eq!(held.status, 429, "a client that cycles addresses is held");

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_needs_the_sessions_csrf_token() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let eve = sign_in(&server, EVE).await;

        let forged = eve.post("/academy/sign-out", &[]).await;
        assert_eq!(forged.status(), 403);
        assert!(forged.headers().get("set-cookie").is_none());
        let home = eve.get("/academy").await;
        assert_eq!(home.text("h1"), "Welcome, Eve Seller", "still signed in");

        let csrf = home.attr("form[action='/academy/sign-out'] input[name=csrf]", "value");
        let signed_out = eve.post("/academy/sign-out", &[("csrf", &csrf)]).await;
        assert_eq!(signed_out.status(), 303);
        let home = eve.get("/academy").await;
        assert!(home.all(".modules").is_empty(), "signed out");
        assert_eq!(eve.get("/space").await.all(".plan").len(), 0);

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_signed_in_page_offers_a_sign_out_that_works() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        for path in [
            "/academy",
            "/academy/modules/01-your-first-day",
            "/academy/modules/no-such-module",
            "/space",
        ] {
            let code = new_code(&server, EVE).await;
            let eve = Browser::new(&server);
            let signed_in = eve
                .post(
                    "/academy/sign-in/code/verify",
                    &[("email", EVE), ("code", &code)],
                )
                .await;
            assert_eq!(signed_in.status(), 303);
            let page = eve.get(path).await;
            let csrf = page.attr("form[action='/academy/sign-out'] input[name=csrf]", "value");
            assert!(!csrf.is_empty(), "{path}");
            let signed_out = eve.post("/academy/sign-out", &[("csrf", &csrf)]).await;
            assert_eq!(signed_out.status(), 303, "from {path}");
        }

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_is_secure_when_the_public_url_is_https() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = ServerConfig::new(data.path(), &db)
            .env("ONBOARD_PUBLIC_URL", "https://onboard.example")
            .start()
            .await;
        server.post_events(&team_deal()).await;
        server.advance("1s").await;
        let (eve, signed_in) = sign_in_with_answer(&server, EVE).await;
        let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
        assert!(cookie.contains("; Secure"), "{cookie}");

        let csrf = eve
            .get("/academy")
            .await
            .attr("form[action='/academy/sign-out'] input[name=csrf]", "value");
        let signed_out = eve.post("/academy/sign-out", &[("csrf", &csrf)]).await;
        for cleared in signed_out.headers().get_all("set-cookie") {
            assert!(
                cleared.to_str().unwrap().contains("; Secure"),
                "{cleared:?}"
            );
        }

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_is_not_secure_on_plain_http() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let (_, signed_in) = sign_in_with_answer(&server, EVE).await;
        let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
        assert!(!cookie.contains("Secure"), "{cookie}");

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_way_in_offers_a_code_as_well_as_a_new_link() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = academy_server(data.path(), &db, None).await;
        let visitor = Browser::new(&server);
        // The signed-out pages, and the page of a link that cannot be used.
        for path in ["/academy", "/space", "POST /academy/sign-in"] {
            let page = if path.starts_with("POST") {
                visitor
                    .submit("/academy/sign-in", &[("token", "spent-or-unknown")])
                    .await
            } else {
                visitor.get(path).await
            };
            assert_eq!(
                page.all("form[action='/academy/sign-in/new'] button[formaction='/academy/sign-in/code']")
                    .len(),
                1,
                "{path}"
            );
            assert_eq!(
                page.all("a[href='/academy/sign-in/code']").len(),
                1,
                "{path}"
            );
        }
        let form = visitor.get("/academy/sign-in/code").await;
        assert_eq!(form.status, 200);
        assert_eq!(
            form.all("form[action='/academy/sign-in/code/verify'] input[name=code]")
                .len(),
            1
        );
        assert!(
            form.all("input[name=csrf]").is_empty(),
            "no session, no token"
        );

        drop(server);
        db.finish().await;
    }
}
