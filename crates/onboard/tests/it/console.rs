//! The team's console, through a browser's eyes: a CSM signs in with a link emailed to them
//! (or a password set in the console), finds the stalled account in their portfolio, opens
//! it and reads why the stall email went out; the portfolio filters, searches and pages;
//! sign-in is rate-limited; sales looks but does not act; every page wants a team session.

use crate::pages::*;
use crate::support::*;
use serde_json::json;
use std::path::Path;

const SALES_EMAIL: &str = "tom@pipeflow.example";
const CONSOLE_LINK: &str = "/console/sign-in?token=";

/// A server with ACME (two people) and Globex, both Dana's, won at the clock's start.
async fn console_server(data: &Path, db: &TestDatabase) -> Server {
    let server = ServerConfig::new(data, db).start().await;
    server.post_events(&deal_won("acme")).await;
    server.post_events(&deal_won("globex")).await;
    server.advance("1s").await;
    server
}

/// The newest console sign-in link emailed to `email`, if any.
async fn console_link(server: &Server, email: &str) -> Option<String> {
    let mailbox = server.get("/api/mailbox").await;
    let mut found = None;
    for entry in mailbox["emails"].as_array().unwrap() {
        if !entry["to"].as_str().is_some_and(|to| to.contains(email)) {
            continue;
        }
        let raw = server
            .client
            .get(server.url(&format!("/api/mailbox/{}", text(&entry["file"]))))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let raw = quoted_printable::decode(raw.as_bytes(), quoted_printable::ParseMode::Robust)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or(raw);
        if let Some(start) = raw.find(CONSOLE_LINK) {
            let token: String = raw[start + CONSOLE_LINK.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            found = Some(token);
        }
    }
    found
}

/// Asks for a link for `email` and signs in with it.
async fn team_sign_in(server: &Server, email: &str) -> Browser {
    let browser = Browser::new(server);
    let sent = browser
        .submit("/console/sign-in", &[("email", email)])
        .await;
    assert_eq!(sent.status, 200, "{}", sent.html.html());
    server.advance("1s").await;
    let token = eventually("the console link", DEADLINE, || async {
        console_link(server, email).await
    })
    .await;
    let page = browser.get(&format!("{CONSOLE_LINK}{token}")).await;
    assert_eq!(page.all("form[action='/console/sign-in/link']").len(), 1);
    let signed_in = browser
        .post("/console/sign-in/link", &[("token", &token)])
        .await;
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for part in [
        "onboard_console=",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/console",
    ] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    browser
}

/// The CSRF token of the page's forms.
fn csrf(page: &Page) -> String {
    page.all("input[name=csrf]")
        .first()
        .and_then(|input| input.attr("value"))
        .unwrap()
        .to_owned()
}

fn accounts(page: &Page) -> Vec<String> {
    page.all("#portfolio tbody tr[data-account]")
        .into_iter()
        .filter_map(|row| row.attr("data-account").map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csm_finds_the_stalled_account_and_reads_why_the_stall_email_went_out() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = console_server(data.path(), &db).await;
        // Globex's admin signs in to the Academy; ACME's never does.
        let _ada = sign_in(&server, &admin_email("globex")).await;
        server.advance("73h").await;

        let dana = team_sign_in(&server, CSM_EMAIL).await;
        let portfolio = dana.get("/console").await;
        assert_eq!(portfolio.status, 200);
        assert_eq!(accounts(&portfolio), ["acme", "globex"], "Dana's book");
        let stalled = dana.get("/console?flag=stalled").await;
        assert_eq!(accounts(&stalled), ["acme"]);
        let chip = stalled.one("a[data-flag=stalled]");
        assert!(squash(&chip.text().collect::<String>()).contains("Stalled 1"));

        let account = dana.get("/console/accounts/acme").await;
        assert_eq!(account.status, 200);
        let timeline = squash(&account.text("#timeline"));
        assert!(timeline.contains(&admin_email("acme")), "{timeline}");
        assert!(
            timeline.contains("Why: rule no-login-nudge fired"),
            "the stall email with its trace: {timeline}"
        );
        assert!(account.text("#people").contains("never"));
        assert_eq!(account.all("#usage svg.chart").len(), 1);
        assert!(account.all("script").is_empty());

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portfolio_searches_sorts_and_pages() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = ServerConfig::new(data.path(), &db).start().await;
        let deals: Vec<_> = (0..55).map(|i| deal_won(&format!("acct-{i:02}"))).collect();
        server.post_events(&json!(deals)).await;
        server.advance("1s").await;
        let dana = team_sign_in(&server, CSM_EMAIL).await;

        let first = dana.get("/console").await;
        assert_eq!(accounts(&first).len(), 50);
        assert!(first.text("#count").contains("55 of 55 accounts"));
        let next = first.attr("a[rel=next]", "href");
        let second = dana.get(&next).await;
        assert_eq!(
            accounts(&second),
            ["acct-50", "acct-51", "acct-52", "acct-53", "acct-54"]
        );
        let down = dana.get("/console?sort=name&dir=desc").await;
        assert_eq!(accounts(&down)[0], "acct-54");
        let found = dana.get("/console?q=ACCT-4").await;
        assert_eq!(accounts(&found).len(), 10);
        // A bad parameter is ignored, not an error.
        assert_eq!(
            dana.get("/console?page=-3&sort=nope&flag=x").await.status,
            200
        );

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_works_once_and_an_unknown_address_gets_the_same_answer_and_no_email() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = console_server(data.path(), &db).await;
        let _dana = team_sign_in(&server, CSM_EMAIL).await;
        let token = console_link(&server, CSM_EMAIL).await.unwrap();
        let again = Browser::new(&server)
            .submit("/console/sign-in/link", &[("token", &token)])
            .await;
        assert_eq!(again.status, 400);
        assert_eq!(again.all("a[href='/console/sign-in']").len(), 1);

        let stranger = Browser::new(&server)
            .submit("/console/sign-in", &[("email", "mallory@evil.example")])
            .await;
        assert_eq!(stranger.status, 200);
        assert!(stranger
            .text("main")
            .contains("If mallory@evil.example belongs to the team"));
        server.advance("1s").await;
        assert_eq!(console_link(&server, "mallory@evil.example").await, None);
        // A customer's Academy link does not open the console.
        let (_learner, _) = sign_in_with_answer(&server, &admin_email("acme")).await;
        let missing = Browser::new(&server)
            .submit("/console/sign-in", &[("email", "")])
            .await;
        assert_eq!(missing.status, 400);
        assert!(missing
            .text("#email-error")
            .contains("Enter your work email"));

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_set_in_the_console_signs_in_and_a_wrong_one_is_refused() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = console_server(data.path(), &db).await;
        let dana = team_sign_in(&server, CSM_EMAIL).await;
        let form = dana.get("/console/password").await;
        let token = csrf(&form);
        let short = dana
            .submit(
                "/console/password",
                &[
                    ("csrf", &token),
                    ("password", "short"),
                    ("confirm", "short"),
                ],
            )
            .await;
        assert_eq!(short.status, 400);
        assert!(short.text("#password-error").contains("at least 12"));
        let differ = dana
            .submit(
                "/console/password",
                &[
                    ("csrf", &token),
                    ("password", "correct horse battery"),
                    ("confirm", "correct horse battery staple"),
                ],
            )
            .await;
        assert!(differ.text("#confirm-error").contains("differ"));
        let forged = dana
            .submit(
                "/console/password",
                &[
                    ("csrf", "forged"),
                    ("password", "correct horse battery"),
                    ("confirm", "correct horse battery"),
                ],
            )
            .await;
        assert_eq!(forged.status, 403);
        let saved = dana
            .submit(
                "/console/password",
                &[
                    ("csrf", &token),
                    ("password", "correct horse battery"),
                    ("confirm", "correct horse battery"),
                ],
            )
            .await;
        assert_eq!(saved.status, 200);

        let wrong = Browser::new(&server)
            .submit(
                "/console/sign-in",
                &[
                    ("email", CSM_EMAIL),
                    ("password", "incorrect horse battery"),
                ],
            )
            .await;
        assert_eq!(wrong.status, 401);
        assert!(wrong.text("#password-error").contains("do not match"));
        let right = Browser::new(&server)
            .post(
                "/console/sign-in",
                &[
                    ("email", "Dana@Pipeflow.example"),
                    ("password", "correct horse battery"),
                ],
            )
            .await;
        assert_eq!(right.status(), 303);

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_attempts_are_limited_per_address_until_time_passes() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = console_server(data.path(), &db).await;
        let browser = Browser::new(&server);
        let attempt = || async {
            browser
                .submit(
                    "/console/sign-in",
                    &[("email", SALES_EMAIL), ("password", "guessing wrong 123")],
                )
                .await
                .status
        };
        for _ in 0..5 {
            assert_eq!(attempt().await, 401);
        }
        assert_eq!(attempt().await, 429);
        server.advance("15m").await;
        assert_eq!(attempt().await, 401, "the limit lifts with time");

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_sees_every_account_but_cannot_act_and_pages_need_a_team_session() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = console_server(data.path(), &db).await;
        for path in [
            "/console",
            "/console/accounts/acme",
            "/console/alerts",
            "/console/outbox",
            "/console/program",
        ] {
            let answer = Browser::new(&server)
                .client
                .get(format!("{}{path}", server.base))
                .send()
                .await
                .unwrap();
            assert_eq!(answer.status(), 303, "{path}");
            assert_eq!(answer.headers()["location"], "/console/sign-in");
        }
        // A learner's session is not a team session.
        let learner = sign_in(&server, &admin_email("acme")).await;
        assert_eq!(
            learner
                .client
                .get(format!("{}/console", server.base))
                .send()
                .await
                .unwrap()
                .status(),
            303
        );

        let tom = team_sign_in(&server, SALES_EMAIL).await;
        let portfolio = tom.get("/console").await;
        assert_eq!(
            accounts(&portfolio),
            ["acme", "globex"],
            "sales sees every book"
        );
        let csp = portfolio.headers["content-security-policy"]
            .to_str()
            .unwrap();
        assert!(
            csp.contains("default-src 'none'") && !csp.contains("script-src"),
            "{csp}"
        );
        assert_eq!(portfolio.headers["x-frame-options"], "DENY");
        let program = tom.get("/console/program").await;
        assert_eq!(program.status, 200);
        assert_eq!(program.all("#rules tr[data-rule=no-login-nudge]").len(), 1);
        let outbox = tom.get("/console/outbox").await;
        let refused = tom
            .submit("/console/outbox/nope/retry", &[("csrf", &csrf(&outbox))])
            .await;
        assert_eq!(refused.status, 403);
        assert!(refused.text("main").contains("can look but not change"));
        assert_eq!(tom.get("/console/accounts/nope").await.status, 404);

        drop(server);
        db.finish().await;
    }
}
