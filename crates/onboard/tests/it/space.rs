//! The customer's Shared Space, through a browser's eyes: a person of the account signs in
//! with the link of their welcome email (the Academy's session), sees the plan of the
//! launched project with snoozed tasks hidden until the clock passes their unlock, their own
//! tasks first, the goals with their status, how the team uses the product, marks their task
//! done and comments (the API then shows both), and is refused, with nothing appended,
//! whatever the plan does not allow them: a team task, a bad comment, a bad CSRF token,
//! another account's ids.

use crate::pages::*;
use crate::support::*;
use scraper::Selector;
use serde_json::{json, Value};
use std::path::Path;

const ACCOUNT: &str = "acme";
const OTHER: &str = "globex";
const EVE: &str = "eve@acme.example";
/// A team task of the example program's onboarding template, open at launch.
const TEAM_TASK: &str = "kickoff";
/// The admin's task that opens once the kickoff is done (no snooze).
const ADMIN_TASK: &str = "confirm-goals";
/// Customer tasks snoozed for one and two days after launch.
const SNOOZED: [&str; 2] = ["configure-pipeline", "invite-users"];

/// ACME's deal with an admin and an end user.
fn acme_deal() -> Value {
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
            ],
        },
    })
}

impl Page {
    /// The `data-task` keys of the elements `selector` finds, in page order.
    fn tasks(&self, selector: &str) -> Vec<String> {
        self.all(selector)
            .into_iter()
            .filter_map(|e| e.attr("data-task").map(str::to_owned))
            .collect()
    }

    /// The task of the plan with this key.
    fn task(&self, key: &str) -> scraper::ElementRef<'_> {
        self.one(&format!(".plan li[data-task='{key}']"))
    }

    fn csrf(&self) -> String {
        self.all("input[name=csrf]")
            .first()
            .and_then(|input| input.attr("value"))
            .unwrap_or_else(|| panic!("no CSRF token in:\n{}", self.html.html()))
            .to_owned()
    }
}

impl Browser {
    /// The Space page's CSRF token.
    async fn space_csrf(&self) -> String {
        let page = self.get("/space").await;
        assert_eq!(page.status, 200);
        page.csrf()
    }
}

/// A server keeping its emails in the development mailbox, with ACME and Globex won and
/// everyone welcomed.
async fn space_server(data: &Path, db: &TestDatabase) -> Server {
    let server = ServerConfig::new(data, db).start().await;
    server.post_events(&acme_deal()).await;
    server.post_events(&deal_won(OTHER)).await;
    server.advance("1s").await;
    server
}

/// The account's onboarding project, as the API shows it.
async fn project(server: &Server, account: &str) -> Value {
    let projects = server
        .get(&format!("/api/accounts/{account}/projects"))
        .await;
    projects["projects"][0].clone()
}

fn task_of(project: &Value, key: &str) -> Value {
    project["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == key)
        .cloned()
        .unwrap_or_else(|| panic!("no task {key} in {project}"))
}

fn task_path(project: &Value, task: &str, what: &str) -> String {
    format!(
        "/space/projects/{}/tasks/{task}/{what}",
        text(&project["id"])
    )
}

/// The kickoff done through the API, which opens the admin's `confirm-goals`.
async fn kickoff_done(server: &Server) {
    let project = project(server, ACCOUNT).await;
    server
        .post(
            &format!(
                "/api/accounts/{ACCOUNT}/projects/{}/tasks/{TEAM_TASK}/complete",
                text(&project["id"])
            ),
            &json!({ "by": CSM_EMAIL }),
        )
        .await;
    server.advance("1s").await;
}

/// The events of a type in the log, once processed.
async fn logged(server: &Server, kind: &str) -> Vec<Value> {
    server.advance("1s").await;
    server.events(&format!("type={kind}")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_out_visitor_gets_the_way_in_page() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = space_server(data.path(), &db).await;

        let page = Browser::new(&server).get("/space").await;
        assert_eq!(page.status, 200);
        assert!(page.text("h1").contains("Shared Space"));
        assert_eq!(page.all("form[action='/academy/sign-in/new']").len(), 1);
        assert!(page.all(".plan, .mine, .goals").is_empty(), "no plan shown");

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn space_and_academy_pages_carry_the_security_headers_and_share_the_session_cookie() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = space_server(data.path(), &db).await;

        let (ada, signed_in) = sign_in_with_answer(&server, &admin_email(ACCOUNT)).await;
        let cookie = signed_in.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_owned();
        for part in ["HttpOnly", "SameSite=Lax", "Path=/;"] {
            assert!(cookie.contains(part), "{part} in {cookie}");
        }
        for page in [
            ada.get("/space").await,
            Browser::new(&server).get("/space").await,
            ada.get("/academy").await,
            ada.get("/academy/modules/01-welcome").await,
            Browser::new(&server).get("/academy/sign-in").await,
        ] {
            let csp = page.headers["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
            assert!(csp.contains("default-src 'none'"), "{csp}");
            assert!(!csp.contains("script-src"), "no script allowed: {csp}");
            assert_eq!(page.headers["x-frame-options"], "DENY");
            assert_eq!(page.headers["x-content-type-options"], "nosniff");
            assert_eq!(page.headers["cache-control"], "no-store");
            assert_eq!(page.headers["referrer-policy"], "no-referrer");
            assert!(page.all("script").is_empty());
        }

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snoozed_tasks_stay_hidden_until_the_clock_passes_their_unlock() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = space_server(data.path(), &db).await;
        let ada = sign_in(&server, &admin_email(ACCOUNT)).await;

        let page = ada.get("/space").await;
        assert_eq!(page.status, 200);
        let shown = page.tasks(".plan li");
        assert!(shown.contains(&TEAM_TASK.to_owned()), "{shown:?}");
        assert!(shown.contains(&ADMIN_TASK.to_owned()), "{shown:?}");
        for key in SNOOZED {
            assert!(
                !shown.contains(&key.to_owned()),
                "{key} is snoozed: {shown:?}"
            );
        }
        let kickoff = page.task(TEAM_TASK);
        let kickoff_text = squash(&kickoff.text().collect::<String>());
        assert!(kickoff_text.contains("Milestone"), "{kickoff_text}");
        assert!(kickoff_text.contains("Our side"), "{kickoff_text}");
        assert!(kickoff_text.contains("Due"), "{kickoff_text}");

        server.advance("2d").await;
        let shown = ada.get("/space").await.tasks(".plan li");
        for key in SNOOZED {
            assert!(shown.contains(&key.to_owned()), "{key} unlocked: {shown:?}");
        }

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_sees_their_own_tasks_first() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = space_server(data.path(), &db).await;
        let ada = sign_in(&server, &admin_email(ACCOUNT)).await;
        let eve = sign_in(&server, EVE).await;
        server.advance("2d").await;

        let page = ada.get("/space").await;
        let headings: Vec<String> = page
            .all("main h2")
            .into_iter()
            .map(|h| squash(&h.text().collect::<String>()))
            .collect();
        assert_eq!(headings[0], "Your tasks", "{headings:?}");
        // The admin's customer tasks, soonest due first; no team task, no one else's.
        let mine = page.tasks(".mine li");
        assert_eq!(
            mine,
            vec![ADMIN_TASK, "invite-users", "configure-pipeline"],
            "{mine:?}"
        );
        for li in page.all(".mine li") {
            assert!(squash(&li.text().collect::<String>()).contains("Due"));
        }
        // Eve, an end user, has nothing of the admin's.
        assert!(eve.get("/space").await.tasks(".mine li").is_empty());

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_sees_the_goals_with_their_status_and_progress() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = space_server(data.path(), &db).await;
        let ada = sign_in(&server, &admin_email(ACCOUNT)).await;
        let account = server.get(&format!("/api/accounts/{ACCOUNT}")).await;
        let goals = account["goals"].as_array().unwrap().clone();
        assert!(!goals.is_empty(), "{account}");

        let page = ada.get("/space").await;
        let shown = page.all(".goals li");
        assert_eq!(shown.len(), goals.len());
        for goal in &goals {
            let name = text(&goal["name"]);
            let li = page.one(&format!(".goals li[data-goal='{name}']"));
            let words = squash(&li.text().collect::<String>());
            let status = match goal["status"].as_str().unwrap() {
                "on_track" => "On track",
                "at_risk" => "At risk",
                "achieved" => "Achieved",
                other => {
                    assert_eq!(other, "missed");
                    "Missed"
                }
            };
            assert!(words.contains(status), "{status} in {words}");
            assert!(words.contains("Deadline"), "{words}");
            let progress = li
                .select(&Selector::parse("progress").unwrap())
                .next()
                .unwrap_or_else(|| panic!("a progress bar for {name}"));
            assert_eq!(progress.attr("max"), Some("100"));
            assert!(progress.attr("aria-labelledby").is_some());
        }
        let first_pipeline = squash(
            &page
                .one(".goals li[data-goal='first-pipeline']")
                .text()
                .collect::<String>(),
        );
        assert!(
            first_pipeline.contains("The team works real leads in a configured pipeline"),
            "{first_pipeline}"
        );
        assert!(first_pipeline.contains("0 of 50"), "{first_pipeline}");

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_sees_how_their_team_uses_the_product() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = space_server(data.path(), &db).await;
        let ada = sign_in(&server, &admin_email(ACCOUNT)).await;
        let before = squash(&ada.get("/space").await.text(".usage"));
        assert!(
            before.contains("No one has used the product yet"),
            "{before}"
        );

        for (n, (user, email, event)) in [
            ("u-ada", admin_email(ACCOUNT), "Pipeline Configured"),
            ("u-ada", admin_email(ACCOUNT), "Lead Imported"),
            ("u-eve", EVE.to_owned(), "Lead Imported"),
        ]
        .into_iter()
        .enumerate()
        {
            server
                .post_events(&json!({
                    "id": format!("use-{n}"),
                    "type": "product.track",
                    "account": ACCOUNT,
                    "data": { "user": user, "email": email, "event": event },
                }))
                .await;
        }
        server.advance("1h").await;
        let usage = squash(&ada.get("/space").await.text(".usage"));
        assert!(
            usage.contains("2 of 2 seats active in the last 35 days (100%)"),
            "{usage}"
        );
        assert!(
            usage.contains("First value moment: Pipeline Configured by Ada Admin"),
            "{usage}"
        );
        assert!(
            usage.contains("Lead Imported: 2 people (100% of active)"),
            "{usage}"
        );

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_marks_their_task_done_and_the_api_shows_it_done_by_them() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = space_server(data.path(), &db).await;
        kickoff_done(&server).await;
        let ada = sign_in(&server, &admin_email(ACCOUNT)).await;

        let page = ada.get("/space").await;
        let task = page.task(ADMIN_TASK);
        let form = task
            .select(&Selector::parse("form.complete").unwrap())
            .next()
            .expect("a form to mark the task done");
        let action = form.attr("action").unwrap().to_owned();
        let project = project(&server, ACCOUNT).await;
        assert_eq!(action, task_path(&project, ADMIN_TASK, "complete"));

        let csrf = page.csrf();
        let answer = ada.post(&action, &[("csrf", &csrf)]).await;
        assert_eq!(answer.status(), 303);
        assert_eq!(answer.headers()["location"], "/space");
        // Shown done at once, processed or not, and not offered again.
        let page = ada.get("/space").await;
        assert_eq!(page.task(ADMIN_TASK).attr("data-status"), Some("done"));
        let again = ada.submit(&action, &[("csrf", &csrf)]).await;
        assert_eq!(again.status, 409);
        assert!(again.text(".page-error").contains("done already"));
        server.advance("1s").await;
        let by_ada: Vec<Value> = server
            .events("type=task.completed")
            .await
            .into_iter()
            .filter(|e| e["data"]["by"] == admin_email(ACCOUNT))
            .collect();
        assert_eq!(by_ada.len(), 1, "{by_ada:?}");

        let done = task_of(&project_after(&server).await, ADMIN_TASK);
        assert_eq!(done["status"], "done");
        assert_eq!(done["completed_by"], admin_email(ACCOUNT));
        let page = ada.get("/space").await;
        assert_eq!(page.task(ADMIN_TASK).attr("data-status"), Some("done"));
        assert!(!page.tasks(".mine li").contains(&ADMIN_TASK.to_owned()));
        let feed = page.text(".activity li:first-child");
        assert!(feed.contains("Ada Admin completed"), "{feed}");

        drop(server);
        db.finish().await;
    }
}

async fn project_after(server: &Server) -> Value {
    project(server, ACCOUNT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_cannot_complete_a_team_task() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = space_server(data.path(), &db).await;
        let ada = sign_in(&server, &admin_email(ACCOUNT)).await;
        let project = project(&server, ACCOUNT).await;

        let page = ada.get("/space").await;
        assert!(page
            .task(TEAM_TASK)
            .select(&Selector::parse("form.complete").unwrap())
            .next()
            .is_none());
        let page = ada
            .submit(
                &task_path(&project, TEAM_TASK, "complete"),
                &[("csrf", &page.csrf())],
            )
            .await;
        assert_eq!(page.status, 403);
        assert!(page.text(".page-error").contains("our team"));
        // Nor one that waits for it.
        let page = ada
            .submit(
                &task_path(&project, ADMIN_TASK, "complete"),
                &[("csrf", &page.csrf())],
            )
            .await;
        assert_eq!(page.status, 409);
        assert!(page.text(".page-error").contains("earlier step"));

        assert!(logged(&server, "task.completed").await.is_empty());
        assert_eq!(
            task_of(&project_after(&server).await, TEAM_TASK)["status"],
            "open"
        );

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_comments_on_a_task_and_the_api_shows_the_comment() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = space_server(data.path(), &db).await;
        let ada = sign_in(&server, &admin_email(ACCOUNT)).await;
        let project = project(&server, ACCOUNT).await;

        let csrf = ada.space_csrf().await;
        let answer = ada
            .post(
                &task_path(&project, TEAM_TASK, "comments"),
                &[
                    ("csrf", &csrf),
                    ("text", "  Tuesday 10:00 works for us <b>!</b>  "),
                ],
            )
            .await;
        assert_eq!(answer.status(), 303);
        server.advance("1s").await;

        let comments = task_of(&project_after(&server).await, TEAM_TASK)["comments"].clone();
        assert_eq!(comments.as_array().unwrap().len(), 1, "{comments}");
        assert_eq!(comments[0]["author"], admin_email(ACCOUNT));
        assert_eq!(comments[0]["text"], "Tuesday 10:00 works for us <b>!</b>");
        let page = ada.get("/space").await;
        let comment = squash(
            &page
                .task(TEAM_TASK)
                .select(&Selector::parse(".comments li").unwrap())
                .next()
                .expect("the comment on its task")
                .text()
                .collect::<String>(),
        );
        assert!(comment.contains("Ada Admin"), "{comment}");
        assert!(
            comment.contains("works for us <b>!</b>"),
            "escaped: {comment}"
        );
        assert!(page
            .text(".activity li:first-child")
            .contains("commented on"));

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_tells_the_csm_and_emails_the_colleague_it_mentions() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = space_server(data.path(), &db).await;
        let ada = sign_in(&server, &admin_email(ACCOUNT)).await;
        let project = project(&server, ACCOUNT).await;
        let csrf = ada.space_csrf().await;

        let answer = ada
            .post(
                &task_path(&project, TEAM_TASK, "comments"),
                &[("csrf", &csrf), ("text", "Can @Eve join the call?")],
            )
            .await;
        assert_eq!(answer.status(), 303);
        server.advance("1s").await;

        let to_eve = subjects_to(&server, EVE).await;
        assert!(
            to_eve.iter().any(|s| s.contains("mentioned you")),
            "{to_eve:?}"
        );
        let to_csm = subjects_to(&server, CSM_EMAIL).await;
        assert!(
            to_csm.iter().any(|s| s.contains("commented on")),
            "{to_csm:?}"
        );

        drop(server);
        db.finish().await;
    }
}

/// The subjects of the development mailbox's emails to `who`.
async fn subjects_to(server: &Server, who: &str) -> Vec<String> {
    let mailbox = server.get("/api/mailbox").await;
    mailbox["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["to"].as_str().is_some_and(|to| to.contains(who)))
        .map(|e| text(&e["subject"]))
        .collect()
}

/// The emails of the account's people, as the API shows them.
async fn people(server: &Server) -> Vec<String> {
    let account = server.get(&format!("/api/accounts/{ACCOUNT}")).await;
    account["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| text(&p["email"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_colleague_at_the_company_s_domain_is_invited_at_once_and_gets_a_sign_in_link() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = space_server(data.path(), &db).await;
        let ada = sign_in(&server, &admin_email(ACCOUNT)).await;
        let csrf = ada.space_csrf().await;

        let answer = ada
            .post(
                "/space/invite",
                &[
                    ("csrf", &csrf),
                    ("name", " Zoe Park "),
                    ("email", "Zoe@ACME.example"),
                ],
            )
            .await;
        assert_eq!(answer.status(), 303);
        assert_eq!(answer.headers()["location"], "/space?invited=added");
        let page = ada.get("/space?invited=added").await;
        assert!(page.text("p.notice[role=status]").contains("sign-in link"));
        server.advance("1s").await;

        assert!(people(&server)
            .await
            .contains(&"zoe@acme.example".to_owned()));
        let added = server.events("type=person.added").await;
        let zoe = added
            .iter()
            .find(|e| e["data"]["email"] == "zoe@acme.example")
            .expect("Zoe's person.added");
        assert_eq!(zoe["data"]["invited_by"], admin_email(ACCOUNT));
        assert_eq!(zoe["data"]["source"], "invite");
        let to_zoe = welcome_email(&server, "zoe@acme.example").await;
        assert!(to_zoe.contains("/academy/sign-in?token="));

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_colleague_from_another_domain_waits_for_the_csm() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = space_server(data.path(), &db).await;
        let ada = sign_in(&server, &admin_email(ACCOUNT)).await;
        let csrf = ada.space_csrf().await;

        let answer = ada
            .post(
                "/space/invite",
                &[
                    ("csrf", &csrf),
                    ("name", "Pat Agency"),
                    ("email", "pat@agency.example"),
                ],
            )
            .await;
        assert_eq!(answer.headers()["location"], "/space?invited=requested");
        server.advance("1s").await;

        assert!(!people(&server)
            .await
            .contains(&"pat@agency.example".to_owned()));
        let requested = server.events("type=invite.requested").await;
        assert_eq!(requested.len(), 1, "{requested:?}");
        assert_eq!(requested[0]["data"]["email"], "pat@agency.example");
        let to_csm = subjects_to(&server, CSM_EMAIL).await;
        assert!(
            to_csm.iter().any(|s| s.contains("invited Pat Agency")),
            "{to_csm:?}"
        );
        assert!(subjects_to(&server, "pat@agency.example").await.is_empty());

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_with_a_bad_field_or_token_or_to_a_paused_account_shows_why_and_sends_nothing(
) {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = space_server(data.path(), &db).await;
        let ada = sign_in(&server, &admin_email(ACCOUNT)).await;
        let csrf = ada.space_csrf().await;
        let before = people(&server).await;

        let page = ada
            .submit(
                "/space/invite",
                &[("csrf", &csrf), ("name", "  "), ("email", "not-an-email")],
            )
            .await;
        assert_eq!(page.status, 422);
        assert!(page.text("#invite-name-error").contains("name"));
        assert!(page.text("#invite-email-error").contains("not an email"));
        assert_eq!(page.attr("#invite-email", "value"), "not-an-email");
        assert_eq!(page.attr("#invite-email", "aria-invalid"), "true");

        let page = ada
            .submit(
                "/space/invite",
                &[("csrf", &csrf), ("name", "Eve"), ("email", EVE)],
            )
            .await;
        assert_eq!(page.status, 422);
        assert!(page.text("#invite-email-error").contains("already"));

        let page = ada
            .submit(
                "/space/invite",
                &[
                    ("csrf", "0000"),
                    ("name", "Zoe Park"),
                    ("email", "zoe@acme.example"),
                ],
            )
            .await;
        assert_eq!(page.status, 403);
        let signed_out = Browser::new(&server)
            .post(
                "/space/invite",
                &[
                    ("csrf", &csrf),
                    ("name", "Zoe Park"),
                    ("email", "zoe@acme.example"),
                ],
            )
            .await;
        assert_eq!(signed_out.status(), 401);

        // A paused account takes no one new.
        server
            .post_events(&json!({ "id": "pause-1", "type": "account.paused", "account": ACCOUNT }))
            .await;
        server.advance("1s").await;
        let page = ada
            .submit(
                "/space/invite",
                &[
                    ("csrf", &csrf),
                    ("name", "Zoe Park"),
                    ("email", "zoe@acme.example"),
                ],
            )
            .await;
        assert_eq!(page.status, 409);
        assert!(page.text(".page-error").contains("paused"));

        server.advance("1s").await;
        assert_eq!(people(&server).await, before);
        assert!(server.events("type=invite.requested").await.is_empty());
        assert!(server
            .events("type=person.added")
            .await
            .iter()
            .all(|e| e["data"]["email"] != "zoe@acme.example"));

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_or_too_long_comment_is_refused_with_the_error_next_to_the_field() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = space_server(data.path(), &db).await;
        let ada = sign_in(&server, &admin_email(ACCOUNT)).await;
        let project = project(&server, ACCOUNT).await;
        let csrf = ada.space_csrf().await;
        let long = "x".repeat(2001);

        for (text_sent, says) in [
            ("   \n ", "Write a comment"),
            (long.as_str(), "at most 2000"),
        ] {
            let page = ada
                .submit(
                    &task_path(&project, TEAM_TASK, "comments"),
                    &[("csrf", &csrf), ("text", text_sent)],
                )
                .await;
            assert_eq!(page.status, 422);
            let task = page.task(TEAM_TASK);
            let field = task
                .select(&Selector::parse("textarea[name=text]").unwrap())
                .next()
                .unwrap();
            assert_eq!(field.attr("aria-invalid"), Some("true"));
            let error_id = field.attr("aria-describedby").unwrap();
            let error = page.text(&format!("#{error_id}"));
            assert!(error.contains(says), "{says} in {error}");
            // The text is kept for the person to fix.
            assert_eq!(field.text().collect::<String>(), text_sent);
            // The other tasks' fields are empty and not marked.
            let other = page.task(ADMIN_TASK);
            let other = other
                .select(&Selector::parse("textarea[name=text]").unwrap())
                .next()
                .unwrap();
            assert_eq!(other.text().collect::<String>(), "");
            assert_eq!(other.attr("aria-invalid"), None);
        }
        let exactly = "y".repeat(2000);
        let answer = ada
            .post(
                &task_path(&project, TEAM_TASK, "comments"),
                &[("csrf", &csrf), ("text", &exactly)],
            )
            .await;
        assert_eq!(answer.status(), 303, "2,000 characters are fine");
        assert_eq!(logged(&server, "comment.posted").await.len(), 1);

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_accounts_project_and_task_ids_answer_404() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = space_server(data.path(), &db).await;
        kickoff_done(&server).await;
        let ada = sign_in(&server, &admin_email(ACCOUNT)).await;
        let csrf = ada.space_csrf().await;
        let own = project(&server, ACCOUNT).await;
        let other = project(&server, OTHER).await;
        assert_ne!(own["id"], other["id"]);

        for path in [
            task_path(&other, ADMIN_TASK, "complete"),
            task_path(&other, TEAM_TASK, "comments"),
            task_path(&own, "no-such-task", "complete"),
            task_path(&own, "no-such-task", "comments"),
            "/space/projects/no-such-project/tasks/kickoff/complete".to_owned(),
        ] {
            let answer = ada.post(&path, &[("csrf", &csrf), ("text", "hello")]).await;
            let page = Browser::page(answer).await;
            assert_eq!(page.status, 404, "{path}");
            assert!(page.text("h1").contains("not in your Shared Space"));
        }
        // Globex's admin, signed in, sees only Globex.
        let globex = sign_in(&server, &admin_email(OTHER)).await;
        let page = globex.get("/space").await;
        assert_eq!(page.all("section.project").len(), 1);
        assert_eq!(
            page.one("section.project").attr("data-project"),
            other["id"].as_str()
        );
        assert!(!page.html.html().contains("ACME"));

        assert!(logged(&server, "comment.posted").await.is_empty());
        let completed = logged(&server, "task.completed").await;
        assert_eq!(completed.len(), 1, "only the kickoff: {completed:?}");

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_csrf_token_changes_nothing() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = space_server(data.path(), &db).await;
        kickoff_done(&server).await;
        let ada = sign_in(&server, &admin_email(ACCOUNT)).await;
        let eve = sign_in(&server, EVE).await;
        let eves_token = eve.space_csrf().await;
        let project = project(&server, ACCOUNT).await;
        let zeros = "0".repeat(64);

        for what in ["complete", "comments"] {
            let path = task_path(&project, ADMIN_TASK, what);
            for form in [
                vec![("text", "hello")],
                vec![("csrf", ""), ("text", "hello")],
                vec![("csrf", zeros.as_str()), ("text", "hello")],
                vec![("csrf", eves_token.as_str()), ("text", "hello")],
            ] {
                let page = ada.submit(&path, &form).await;
                assert_eq!(page.status, 403, "{what} {form:?}");
                assert!(page.text(".page-error").contains("nothing was saved"));
            }
            let signed_out = Browser::new(&server)
                .post(&path, &[("csrf", &eves_token), ("text", "hello")])
                .await;
            assert_eq!(signed_out.status(), 401);
        }
        assert!(logged(&server, "comment.posted").await.is_empty());
        assert_eq!(logged(&server, "task.completed").await.len(), 1);
        assert_eq!(
            task_of(&project_after(&server).await, ADMIN_TASK)["status"],
            "open"
        );

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_a_stakeholder_signs_in_from_the_email_marks_a_task_done_and_comments() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = space_server(data.path(), &db).await;
        kickoff_done(&server).await;
        let raw = welcome_email(&server, &admin_email(ACCOUNT)).await;
        let start = raw
            .find("/academy/sign-in?token=")
            .unwrap_or_else(|| panic!("no sign-in link in:\n{raw}"));
        let link: String = raw[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "/-_?=.".contains(*c))
            .collect();
        let chromium = crate::browser::Browser::start().await;

        // The link of the email, then the button of the scanner-safe page.
        chromium.goto(&format!("{}{link}", server.base)).await;
        let button = chromium
            .wait_for("form[action='/academy/sign-in'] button")
            .await;
        chromium.click(&button).await;
        let to_space = chromium.wait_for("header.site a[href='/space']").await;
        chromium.click(&to_space).await;
        let task = format!(".plan li[data-task='{ADMIN_TASK}']");
        let done = chromium
            .wait_for(&format!("{task}[data-status='open'] form.complete button"))
            .await;
        chromium.screenshot(&format!("space-{}", db.backend)).await;

        chromium.click(&done).await;
        chromium
            .wait_for(&format!("{task}[data-status='done']"))
            .await;
        // The comment form opens from its summary, as a person would open it.
        let open = chromium.wait_for(&format!("{task} details summary")).await;
        chromium.click(&open).await;
        let area = chromium
            .wait_for(&format!("{task} textarea[name=text]"))
            .await;
        chromium
            .type_text(&area, "Targets confirmed with the sales leads")
            .await;
        let post = chromium
            .wait_for(&format!("{task} form.comment button"))
            .await;
        chromium.click(&post).await;
        // The answer is a new page: the feed is looked up afresh each time.
        eventually("the comment in the activity feed", DEADLINE, || async {
            let activity = chromium.find(".activity").await?;
            chromium
                .text(&activity)
                .await
                .contains("Targets confirmed with the sales leads")
                .then_some(())
        })
        .await;
        chromium
            .screenshot(&format!("space-after-{}", db.backend))
            .await;

        server.advance("1s").await;
        let task = task_of(&project_after(&server).await, ADMIN_TASK);
        assert_eq!(task["status"], "done");
        assert_eq!(task["completed_by"], admin_email(ACCOUNT));
        assert_eq!(
            task["comments"][0]["text"],
            "Targets confirmed with the sales leads"
        );

        drop(chromium);
        drop(server);
        db.finish().await;
    }
}
