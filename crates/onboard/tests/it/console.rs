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
    emails_to(server, email).await.into_iter().find_map(|raw| {
        let start = raw.find(CONSOLE_LINK)?;
        Some(
            raw[start + CONSOLE_LINK.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect(),
        )
    })
}

/// Asks for a link for `email` and signs in with it.
pub(crate) async fn team_sign_in(server: &Server, email: &str) -> Browser {
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
pub(crate) fn csrf(page: &Page) -> String {
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

/// Sends the console's audit form with a CSV of this name and content.
async fn upload_audit(who: &Browser, csrf: &str, name: &str, csv: &[u8]) -> Page {
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(csv.to_vec())
                .file_name(name.to_owned())
                .mime_str("text/csv")
                .unwrap(),
        );
    let answer = who
        .client
        .post(format!("{}/console/audit", who.base))
        .multipart(form)
        .send()
        .await
        .unwrap();
    Browser::page(answer).await
}

const AUDIT_CSV: &str = "timestamp,csm,account,channel,minutes,note
2025-03-03T10:00:00Z,Ann Lee,Acme,chat,90,Password reset for Bob again
2025-03-04T10:00:00Z,Ann Lee,Acme,meeting,30,Quarterly business review with the VP
2025-03-05T10:00:00Z,Raj Patel,Globex,email,60,<b>Where is the export button</b>
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_csv_is_audited_in_the_console_and_nothing_is_logged() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = console_server(data.path(), &db).await;
        let dana = team_sign_in(&server, CSM_EMAIL).await;
        let portfolio = dana.get("/console").await;
        assert_eq!(portfolio.all("nav a[href='/console/audit']").len(), 1);
        let events_before = server.events("").await.len();

        let form = dana.get("/console/audit").await;
        assert_eq!(form.status, 200);
        assert_eq!(
            form.attr("form[action='/console/audit']", "enctype"),
            "multipart/form-data"
        );
        let report = upload_audit(&dana, &csrf(&form), "q1-export.csv", AUDIT_CSV.as_bytes()).await;
        assert_eq!(report.status, 200, "{}", report.html.html());
        assert!(report
            .text("#audit-title")
            .contains("Infrastructure audit of q1-export.csv"));
        let kpis: Vec<String> = report
            .all(".audit-kpis li strong")
            .iter()
            .map(|k| squash(&k.text().collect::<String>()))
            .collect();
        assert_eq!(kpis[0], "3 h", "total time");
        assert_eq!(
            kpis[1], "2.5 h · 83.3 %",
            "the password reset and the button"
        );
        assert!(report.text("section.audit").contains("3 interactions"));
        assert!(report.all("section.audit svg.audit-chart").len() >= 3);
        let csms: Vec<String> = report
            .all(".audit-table")
            .last()
            .unwrap()
            .select(&scraper::Selector::parse("tbody tr").unwrap())
            .map(|row| {
                row.select(&scraper::Selector::parse("td").unwrap())
                    .map(|cell| squash(&cell.text().collect::<String>()))
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect();
        assert_eq!(
            csms,
            ["Ann Lee|2|2|1.5|75.0 %", "Raj Patel|1|1|1|100.0 %"],
            "interactions, hours, trap hours and share per CSM"
        );
        // The note is the CSV's text, escaped; the page still runs no script.
        assert!(report.all("section.audit b").is_empty());
        assert!(report.all("script").is_empty());
        // The form stays, for another file.
        assert_eq!(
            report
                .all("form[action='/console/audit'] input[type=file]")
                .len(),
            1
        );

        assert_eq!(
            server.events("").await.len(),
            events_before,
            "nothing is logged"
        );
        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_that_cannot_be_audited_gives_the_form_again_with_the_reason() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = console_server(data.path(), &db).await;
        let dana = team_sign_in(&server, CSM_EMAIL).await;
        let token = csrf(&dana.get("/console/audit").await);

        for (csv, says) in [
            (
                &b"when,owner,company,type,notes\nx,y,z,w,v\n"[..],
                "Missing column(s): timestamp",
            ),
            (
                &b"timestamp,csm,minutes,note\nsoon,Ann,5,x\n"[..],
                "No row could be read: all 1 have problems (line 2, timestamp \"soon\"",
            ),
            (&b""[..], "empty"),
        ] {
            let page = upload_audit(&dana, &token, "bad.csv", csv).await;
            assert_eq!(page.status, 422);
            assert_eq!(page.attr("input[type=file]", "aria-invalid"), "true");
            let error = page.text("#file-error");
            assert!(error.contains(says), "{says} in {error}");
            assert!(page.all("section.audit").is_empty());
        }
        let forged = upload_audit(&dana, "forged", "q1.csv", AUDIT_CSV.as_bytes()).await;
        assert_eq!(forged.status, 403);

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_cannot_run_the_audit_and_signed_out_visitors_are_sent_to_sign_in() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = console_server(data.path(), &db).await;
        let tom = team_sign_in(&server, SALES_EMAIL).await;
        let portfolio = tom.get("/console").await;
        assert!(portfolio.all("nav a[href='/console/audit']").is_empty());
        assert_eq!(tom.get("/console/audit").await.status, 403);
        let refused = upload_audit(&tom, &csrf(&portfolio), "q1.csv", AUDIT_CSV.as_bytes()).await;
        assert_eq!(refused.status, 403);
        assert!(refused.all("section.audit").is_empty());

        let stranger = Browser::new(&server);
        let answer = stranger
            .client
            .get(format!("{}/console/audit", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 303);
        let posted = upload_audit(&stranger, "", "q1.csv", AUDIT_CSV.as_bytes()).await;
        assert_eq!(posted.status, 303);

        drop(server);
        db.finish().await;
    }
}

/// Whether the page in Chromium is no wider than its window (nothing to scroll sideways).
async fn fits_the_width(chromium: &crate::browser::Browser) -> bool {
    let widths = chromium
        .execute("return [document.documentElement.scrollWidth, window.innerWidth]")
        .await;
    let n = |i: usize| widths[i].as_f64().unwrap_or(f64::NAN);
    n(0) <= n(1)
}

/// Clicks the console's navigation link to `path` and waits for the page's heading.
async fn open_from_nav(chromium: &crate::browser::Browser, path: &str, heading: &str) {
    let link = chromium
        .wait_for(&format!("header.site nav a[href='{path}']"))
        .await;
    chromium.click(&link).await;
    eventually(&format!("the page of {path}"), DEADLINE, || async {
        let h1 = chromium.find("main h1").await?;
        chromium.text(&h1).await.starts_with(heading).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_chromium_a_csm_signs_in_by_link_finds_the_stalled_account_and_reads_why() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = console_server(data.path(), &db).await;
        let _ada = sign_in(&server, &admin_email("globex")).await;
        server.advance("73h").await;
        let shot = |page: &str| format!("console-{page}-{}", db.backend);
        let chromium = crate::browser::Browser::start().await;

        // The sign-in page: the email typed, no password, a link asked for.
        chromium
            .goto(&format!("{}/console/sign-in", server.base))
            .await;
        let email = chromium.wait_for("form input#email").await;
        chromium.screenshot(&shot("sign-in")).await;
        chromium.type_text(&email, CSM_EMAIL).await;
        let ask = chromium
            .wait_for("form[action='/console/sign-in'] button[type=submit]")
            .await;
        chromium.click(&ask).await;
        let sent = chromium.wait_for("main p.notice").await;
        assert!(chromium.text(&sent).await.contains(CSM_EMAIL));

        // The link of the email, then the button that spends it.
        server.advance("1s").await;
        let token = eventually("the console link", DEADLINE, || async {
            console_link(&server, CSM_EMAIL).await
        })
        .await;
        chromium
            .goto(&format!("{}{CONSOLE_LINK}{token}", server.base))
            .await;
        let button = chromium
            .wait_for("form[action='/console/sign-in/link'] button")
            .await;
        chromium.click(&button).await;
        chromium
            .wait_for("#portfolio tbody tr[data-account='acme']")
            .await;
        chromium.screenshot(&shot("portfolio")).await;

        // The "Stalled" chip leaves ACME alone in the table.
        let chip = chromium.wait_for("a[data-flag=stalled]").await;
        chromium.click(&chip).await;
        chromium
            .wait_for("a[data-flag=stalled][aria-current=true]")
            .await;
        assert!(chromium
            .find("#portfolio tbody tr[data-account='globex']")
            .await
            .is_none());
        let acme = chromium
            .wait_for("#portfolio tbody tr[data-account='acme'] td a")
            .await;
        chromium.click(&acme).await;
        let timeline = chromium.wait_for("#timeline").await;
        let text = chromium.text(&timeline).await;
        assert!(
            text.contains("Why: rule no-login-nudge fired"),
            "the stall email with its trace: {text}"
        );
        assert!(text.contains(&admin_email("acme")), "{text}");
        // The whole page, in a window as tall as it.
        let height = chromium
            .execute("return document.documentElement.scrollHeight")
            .await
            .as_u64()
            .unwrap_or(900);
        chromium
            .resize(1280, u32::try_from(height.clamp(900, 4000)).unwrap())
            .await;
        chromium.screenshot(&shot("account")).await;
        chromium.resize(1280, 900).await;

        open_from_nav(&chromium, "/console/alerts", "Alerts").await;
        chromium.screenshot(&shot("alerts")).await;
        open_from_nav(&chromium, "/console/outbox", "Outbox").await;
        chromium.screenshot(&shot("outbox")).await;
        open_from_nav(&chromium, "/console/program", "Program").await;
        chromium.screenshot(&shot("program")).await;
        open_from_nav(&chromium, "/console/audit", "Infrastructure audit").await;
        let csv = data.path().join("interactions.csv");
        std::fs::write(&csv, AUDIT_CSV).unwrap();
        let file = chromium.wait_for("input[type=file]").await;
        chromium.type_text(&file, &csv.to_string_lossy()).await;
        let run = chromium
            .wait_for("form[action='/console/audit'] button")
            .await;
        chromium.click(&run).await;
        chromium.wait_for("section.audit svg.audit-chart").await;
        chromium.screenshot(&shot("audit")).await;

        // At a phone's width, every page fits: nothing to scroll sideways.
        chromium.resize(390, 844).await;
        for (path, name) in [
            ("/console?book=all", "portfolio-narrow"),
            ("/console/accounts/acme", "account-narrow"),
            ("/console/outbox", "outbox-narrow"),
            ("/console/program", "program-narrow"),
        ] {
            chromium.goto(&format!("{}{path}", server.base)).await;
            chromium.wait_for("main h1").await;
            chromium.screenshot(&shot(name)).await;
            assert!(fits_the_width(&chromium).await, "{path} at 390 px");
        }

        drop(chromium);
        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_sign_in_says_when_to_try_again() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = console_server(data.path(), &db).await;
        let browser = Browser::new(&server);
        let form = [("email", SALES_EMAIL), ("password", "guessing wrong 123")];
        for _ in 0..5 {
            browser.post("/console/sign-in", &form).await;
        }
        let held = browser.post("/console/sign-in", &form).await;
        assert_eq!(held.status(), 429);
        assert_eq!(held.headers()["retry-after"], "180");
        let page = Browser::page(held).await;
        assert!(
            page.text("main")
                .contains("Try again at 09:03:01 UTC (in 3 minutes)"),
            "{}",
            page.html.html()
        );

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_cookie_is_secure_when_the_public_url_is_https() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = ServerConfig::new(data.path(), &db)
            .env("ONBOARD_PUBLIC_URL", "https://onboard.example")
            .start()
            .await;
        let browser = Browser::new(&server);
        browser
            .submit("/console/sign-in", &[("email", SALES_EMAIL)])
            .await;
        server.advance("1s").await;
        let token = eventually("the console link", DEADLINE, || async {
            console_link(&server, SALES_EMAIL).await
        })
        .await;
        let signed_in = browser
            .post("/console/sign-in/link", &[("token", &token)])
            .await;
        assert_eq!(signed_in.status(), 303);
        let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
        assert!(cookie.contains("; Secure"), "{cookie}");

        drop(server);
        db.finish().await;
    }
}
