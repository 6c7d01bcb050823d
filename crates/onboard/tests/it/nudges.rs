//! In-app nudges end to end: the example program's `import-nudge` rule (finishing the
//! Academy's import module points the learner at the product's Import button, with a
//! celebration), polled by the product with the write key or a user token, acknowledged,
//! explained, and shown by `/sdk/nudges.js` in headless Chromium on a product page of
//! another origin.

use crate::browser::{Browser, Site};
use crate::support::*;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const WRITE_KEY: &str = "wk-nudges";
const NUDGE_SECRET: &str = "nudge-secret";
const USER: &str = "u-ada";

fn basic() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{WRITE_KEY}:"))
    )
}

fn user_token(user: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(NUDGE_SECRET.as_bytes()).unwrap();
    mac.update(user.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn start(data: &std::path::Path, db: &TestDatabase) -> Server {
    ServerConfig::new(data, db)
        .env("ONBOARD_WRITE_KEY", WRITE_KEY)
        .env("ONBOARD_NUDGE_SECRET", NUDGE_SECRET)
        .start()
        .await
}

/// Acme's deal is won, the product identifies Ada as `u-ada`, and she finishes the
/// Academy's import module.
async fn ada_finishes_the_import_module(server: &Server) {
    server.post_events(&deal_won("acme")).await;
    let identified = server
        .client
        .post(server.url("/v1/identify"))
        .header("Authorization", basic())
        .json(&json!({
            "userId": USER,
            "traits": { "email": admin_email("acme"), "name": "Ada Admin" },
            "messageId": "identify-ada",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(identified.status(), 200);
    server.advance("1m").await;
    server
        .post_events(&json!({
            "id": "ada-import-done",
            "type": "module.completed",
            "account": "acme",
            "data": {
                "email": admin_email("acme"),
                "journey": "admin-essentials",
                "module": "04-import-your-data",
            },
        }))
        .await;
    server.advance("1m").await;
}

/// `GET /v1/nudges` for `user`, authenticated by `auth` (a header), whatever the outcome.
async fn poll(server: &Server, user: &str, header: (&str, String)) -> reqwest::Response {
    server
        .client
        .get(server.url(&format!("/v1/nudges?userId={user}")))
        .header(header.0, header.1)
        .send()
        .await
        .unwrap()
}

async fn nudges(server: &Server) -> Vec<Value> {
    let response = poll(server, USER, ("Authorization", basic())).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["nudges"].as_array().cloned().unwrap_or_default()
}

async fn ack(server: &Server, id: &str, action: &str) -> reqwest::Response {
    server
        .client
        .post(server.url(&format!("/v1/nudges/{id}/ack")))
        .header("Authorization", basic())
        .json(&json!({ "userId": USER, "action": action }))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finishing_the_import_module_nudges_the_learner_to_the_import_button() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = start(data.path(), &db).await;
        ada_finishes_the_import_module(&server).await;

        let pending = nudges(&server).await;
        assert_eq!(pending.len(), 1, "{pending:#?}");
        assert_eq!(pending[0]["selector"], "#import-button");
        assert_eq!(pending[0]["style"], "celebration");
        assert_eq!(
            pending[0]["title"],
            "Nice work, Ada: now bring your data in"
        );
        assert!(text(&pending[0]["text"]).contains("Press Import"));

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_polls_with_the_users_token_and_not_with_another_users() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = start(data.path(), &db).await;
        ada_finishes_the_import_module(&server).await;

        let own = poll(&server, USER, ("X-Onboard-User-Token", user_token(USER))).await;
        assert_eq!(own.status(), 200);
        let own: Value = own.json().await.unwrap();
        assert_eq!(own["nudges"].as_array().map(Vec::len), Some(1));

        let forged = poll(
            &server,
            USER,
            ("X-Onboard-User-Token", user_token("u-mallory")),
        )
        .await;
        assert_eq!(forged.status(), 401);
        let error: Value = forged.json().await.unwrap();
        assert!(text(&error["error"]["message"]).contains("does not match"));

        let nobody = poll(&server, USER, ("X-Nothing", String::new())).await;
        assert_eq!(nobody.status(), 401);

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nudge_shown_three_times_rests_until_the_next_day_and_a_click_ends_it() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = start(data.path(), &db).await;
        ada_finishes_the_import_module(&server).await;
        let id = text(&nudges(&server).await[0]["id"]);

        for _ in 0..3 {
            assert_eq!(ack(&server, &id, "shown").await.status(), 200);
            server.advance("1m").await;
        }
        assert!(nudges(&server).await.is_empty(), "at most 3 a day");
        let why = server
            .get(&format!("/api/nudges/explain?user={USER}"))
            .await;
        let eligibility = &why["nudges"][0]["eligibility"];
        assert_eq!(eligibility["eligible"], false, "{why:#}");
        assert!(text(&eligibility["reason"]).contains("at most 3 per 1d"));

        server.advance("1d").await;
        assert_eq!(nudges(&server).await.len(), 1, "shown again the next day");
        assert_eq!(ack(&server, &id, "clicked").await.status(), 200);
        server.advance("1m").await;
        assert!(nudges(&server).await.is_empty());
        let clicked = server.events("type=nudge.clicked&account=acme").await;
        assert_eq!(clicked.len(), 1);
        assert_eq!(clicked[0]["data"]["nudge"], id.as_str());

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_acknowledgements_are_refused_and_change_nothing() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = start(data.path(), &db).await;
        ada_finishes_the_import_module(&server).await;
        let id = text(&nudges(&server).await[0]["id"]);

        let wrong_action = ack(&server, &id, "liked").await;
        assert_eq!(wrong_action.status(), 400);
        let body: Value = wrong_action.json().await.unwrap();
        assert_eq!(body["error"]["details"][0]["at"], "/action");

        let unknown = ack(&server, "ndg_nothing", "clicked").await;
        assert_eq!(unknown.status(), 404);

        let not_json = server
            .client
            .post(server.url(&format!("/v1/nudges/{id}/ack")))
            .header("Authorization", basic())
            .body("{")
            .send()
            .await
            .unwrap();
        assert_eq!(not_json.status(), 400);

        let no_user = server
            .client
            .get(server.url("/v1/nudges"))
            .header("Authorization", basic())
            .send()
            .await
            .unwrap();
        assert_eq!(no_user.status(), 400);

        server.advance("1m").await;
        assert!(server.events("type=nudge.clicked").await.is_empty());
        assert_eq!(nudges(&server).await.len(), 1);

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explanation_says_when_the_product_user_is_not_linked_to_a_person() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = start(data.path(), &db).await;
        let why = server.get("/api/nudges/explain?user=u-stranger").await;
        assert_eq!(why["linked"], false);
        assert!(text(&why["reason"]).contains("sent nothing about this user"));

        ada_finishes_the_import_module(&server).await;
        let why = server
            .get(&format!(
                "/api/nudges/explain?account=acme&email={}",
                admin_email("acme")
            ))
            .await;
        assert_eq!(why["linked"], true);
        assert_eq!(why["nudges"][0]["eligibility"]["eligible"], true);
        assert_eq!(why["rules"][0]["rule"], "import-nudge");
        assert_eq!(why["rules"][0]["last"]["outcome"], "fired");

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_shows_the_nudge_next_to_its_target_and_records_the_click() {
    // The page and the script run in a real browser; SQLite is enough for the storage.
    let db = TestDatabase::sqlite().unwrap();
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path(), &db).await;
    ada_finishes_the_import_module(&server).await;

    let page = format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Pipeflow</title></head>
<body style="margin:0;font-family:sans-serif">
<nav style="padding:40px 0 0 300px"><button id="import-button">Import</button></nav>
<script src="{base}/sdk/nudges.js" data-user-id="{USER}" data-user-token="{token}"></script>
</body></html>"#,
        base = server.base,
        token = user_token(USER),
    );
    let site = Site::start(&[("app.html", &page)]).await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/app.html", site.base)).await;

    let prompt = browser.wait_for(".onboard-nudge").await;
    let shown = browser.text(&prompt).await;
    assert!(shown.contains("Nice work, Ada"), "{shown}");
    assert!(shown.contains("Press Import"), "{shown}");
    let button = browser.wait_for("#import-button").await;
    let (bx, by, _, bh) = browser.rect(&button).await;
    let (px, py, _, _) = browser.rect(&prompt).await;
    assert!(
        py >= by + bh && py <= by + bh + 40.0,
        "the prompt sits just below its target: {py} vs {by}+{bh}"
    );
    assert!(
        (px - bx).abs() < 40.0,
        "aligned with its target: {px} vs {bx}"
    );
    let class = browser
        .execute("return document.querySelector('.onboard-nudge').className")
        .await;
    assert!(text(&class).contains("onboard-celebration"), "{class}");

    let go = browser.wait_for(".onboard-nudge .onboard-go").await;
    browser.click(&go).await;
    eventually("the click to be recorded", DEADLINE, || async {
        let clicked = server.events("type=nudge.clicked&account=acme").await;
        (clicked.len() == 1).then_some(())
    })
    .await;
    assert!(
        browser.find(".onboard-nudge").await.is_none(),
        "the prompt is gone"
    );
    let shown = server.events("type=nudge.shown&account=acme").await;
    assert_eq!(shown.len(), 1, "the showing is recorded too");

    drop(browser);
    drop(site);
    drop(server);
    db.finish().await;
}
