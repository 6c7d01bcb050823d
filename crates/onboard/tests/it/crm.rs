//! Deal won → customer live: a CRM webhook to the real binary, the account and its people,
//! and each person's sign-in link arriving at a real SMTP server, spent through the
//! scanner-safe page.

use crate::support::*;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::{SystemTime, UNIX_EPOCH};

const DEALS_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const HUBSPOT_SECRET: &str = "hubspot-client-secret";

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The generic won-deal body of ACME with three contacts.
fn acme_deal() -> Value {
    json!({
        "type": "deal.won",
        "timestamp": START,
        "data": {
            "deal": { "id": "D-1001", "name": "ACME – Pro", "plan": "pro", "seats": 25,
                      "amount": 12000, "owner_email": "tom@pipeflow.example" },
            "account": { "name": "ACME", "domain": "acme.example" },
            "contacts": [
                { "email": "ada@acme.example", "name": "Ada Byron", "title": "IT Administrator" },
                { "email": "vic@acme.example", "name": "Vic Chief", "title": "VP Sales" },
                { "email": "eve@acme.example", "name": "Eve Seller", "title": "Account Executive" }
            ]
        }
    })
}

/// Posts `body` to `/hooks/deals` signed with Standard Webhooks headers.
async fn post_deal(server: &Server, webhook_id: &str, body: &Value) -> reqwest::Response {
    let body = serde_json::to_string(body).unwrap();
    let timestamp = (unix_now() / 1000).to_string();
    let key = base64::engine::general_purpose::STANDARD
        .decode(DEALS_SECRET.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{webhook_id}.{timestamp}.{body}").as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    reqwest::Client::new()
        .post(server.url("/hooks/deals"))
        .header("content-type", "application/json")
        .header("webhook-id", webhook_id)
        .header("webhook-timestamp", timestamp)
        .header("webhook-signature", format!("v1,{signature}"))
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A server taking generic deal webhooks and sending through `smtp`.
async fn deals_server(data: &std::path::Path, db: &TestDatabase, smtp: &Smtp) -> Server {
    ServerConfig::new(data, db)
        .smtp(&smtp.url())
        .env("ONBOARD_DEALS_WEBHOOK_SECRET", DEALS_SECRET)
        .start()
        .await
}

/// The sign-in link in an email body.
fn sign_in_link(body: &str) -> String {
    let start = body
        .find("http")
        .and_then(|_| body.find("/academy/sign-in?token="))
        .unwrap_or_else(|| panic!("no sign-in link in:\n{body}"));
    let begin = body[..start].rfind("http").unwrap();
    let end = body[start..]
        .find(|c: char| c.is_whitespace() || c == ')' || c == '>')
        .map_or(body.len(), |i| start + i);
    body[begin..end].to_owned()
}

fn token_of(link: &str) -> String {
    link.split("token=").nth(1).unwrap().to_owned()
}

/// A browser-like client that keeps cookies and does not follow redirects.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn welcome_email(smtp: &Smtp, server: &Server, to: &str) -> Email {
    let messages = server
        .messages_of_rule("acme.example", "welcome-email")
        .await;
    let message = messages
        .iter()
        .find(|m| m["to"]["email"] == to)
        .unwrap_or_else(|| panic!("no welcome to {to}: {messages:#?}"));
    smtp.wait_for(&text(&message["message_id"])).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deal_won_in_any_crm_gives_each_contact_a_sign_in_link_that_signs_them_in() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let smtp = Smtp::start().await;
        let server = deals_server(data.path(), &db, &smtp).await;

        let answer = post_deal(&server, "msg_1", &acme_deal()).await;
        assert_eq!(answer.status(), 200);
        server.advance("1s").await;

        let account = server.get("/api/accounts/acme.example").await;
        assert_eq!(account["name"], "ACME");
        assert_eq!(account["csm"], CSM_EMAIL, "Tom's deals go to Dana");
        let personas: Vec<(String, String, String)> = account["people"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (text(&p["email"]), text(&p["persona"]), text(&p["journey"])))
            .collect();
        assert_eq!(
            personas,
            [
                (
                    "ada@acme.example".into(),
                    "admin".into(),
                    "admin-essentials".into()
                ),
                (
                    "vic@acme.example".into(),
                    "executive".into(),
                    "executive-insights".into()
                ),
                (
                    "eve@acme.example".into(),
                    "end_user".into(),
                    "everyday-selling".into()
                ),
            ]
        );

        let email = welcome_email(&smtp, &server, "ada@acme.example").await;
        let from = email.header("From").unwrap();
        assert!(from.contains(CSM_NAME), "from the CSM: {from}");
        let link = sign_in_link(&email.body);
        assert!(
            link.starts_with(&server.url("/academy/sign-in?token=")),
            "{link}"
        );
        let token = token_of(&link);
        assert_eq!(token.len(), 43, "256 random bits, base64url");

        // A mail scanner opening the link spends nothing.
        let ada = browser();
        for _ in 0..2 {
            let page = ada.get(&link).send().await.unwrap();
            assert_eq!(page.status(), 200);
            assert_eq!(
                page.headers()["referrer-policy"].to_str().unwrap(),
                "no-referrer"
            );
            let html = page.text().await.unwrap();
            assert!(html.contains("method=\"post\""), "{html}");
        }

        let signed_in = ada
            .post(server.url("/academy/sign-in"))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(signed_in.status(), 303);
        let cookie = signed_in.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        let home = ada
            .get(server.url("/academy"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(home.contains("Welcome, Ada Byron"), "{home}");
        assert!(home.contains("Admin essentials"), "{home}");

        let again = browser()
            .post(server.url("/academy/sign-in"))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 400, "a link signs in once");

        server.advance("1s").await;
        let logins = server.events("type=academy.login").await;
        assert_eq!(logins.len(), 1);
        assert_eq!(logins[0]["data"]["email"], "ada@acme.example");
        server.assert_settled(0).await;

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sign_in_link_expires_after_seven_days() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let smtp = Smtp::start().await;
        let server = deals_server(data.path(), &db, &smtp).await;
        post_deal(&server, "msg_1", &acme_deal()).await;
        server.advance("1s").await;
        let email = welcome_email(&smtp, &server, "eve@acme.example").await;
        let token = token_of(&sign_in_link(&email.body));

        server.advance("7d").await;
        let late = browser()
            .post(server.url("/academy/sign-in"))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(late.status(), 400, "expired after seven days");

        drop(server);
        db.finish().await;
    }
}

/// Asks for a new sign-in link on the Academy's page, as its form does.
async fn ask_for_new_link(server: &Server, email: &str) -> (u16, String) {
    let answer = browser()
        .post(server.url("/academy/sign-in/new"))
        .form(&[("email", email)])
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap())
}

async fn sign_in_with(server: &Server, token: &str) -> u16 {
    browser()
        .post(server.url("/academy/sign-in"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_whose_link_expired_asks_for_a_new_one_that_lives_fifteen_minutes() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let smtp = Smtp::start().await;
        let server = deals_server(data.path(), &db, &smtp).await;
        post_deal(&server, "msg_1", &acme_deal()).await;
        server.advance("1s").await;
        welcome_email(&smtp, &server, "eve@acme.example").await;
        server.advance("8d").await;

        let (status, page) = ask_for_new_link(&server, "  Eve@ACME.example ").await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Check your email"), "{page}");
        assert!(page.contains("15 minutes"), "{page}");
        // A second press within five minutes sends nothing more.
        ask_for_new_link(&server, "eve@acme.example").await;
        server.advance("1s").await;
        let sent = server
            .messages_of_rule("acme.example", "new-sign-in-link")
            .await;
        assert_eq!(sent.len(), 1, "{sent:#?}");
        assert_eq!(sent[0]["to"]["email"], "eve@acme.example");
        let first_id = sent[0]["message_id"].clone();
        let email = smtp.wait_for(&text(&first_id)).await;
        let subject = email.header("Subject").unwrap_or_default();
        assert!(subject.contains("sign-in link"), "{subject}");
        let first = token_of(&sign_in_link(&email.body));

        // Later links live 15 minutes: this one is still good after 14.
        server.advance("14m").await;
        assert_eq!(sign_in_with(&server, &first).await, 303);

        // Five minutes on, another request is answered; its link is refused after 15.
        ask_for_new_link(&server, "eve@acme.example").await;
        server.advance("1s").await;
        let sent = server
            .messages_of_rule("acme.example", "new-sign-in-link")
            .await;
        assert_eq!(sent.len(), 2, "{sent:#?}");
        let newest = sent
            .iter()
            .find(|m| m["message_id"] != first_id)
            .expect("a second message");
        let email = smtp.wait_for(&text(&newest["message_id"])).await;
        let second = token_of(&sign_in_link(&email.body));
        assert_ne!(first, second);
        server.advance("15m").await;
        assert_eq!(sign_in_with(&server, &second).await, 400);

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_a_link_for_an_unknown_address_says_the_same_and_sends_nothing() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let smtp = Smtp::start().await;
        let server = deals_server(data.path(), &db, &smtp).await;
        post_deal(&server, "msg_1", &acme_deal()).await;
        server.advance("1s").await;

        let (status, page) = ask_for_new_link(&server, "mallory@acme.example").await;
        assert_eq!(status, 200);
        assert!(page.contains("Check your email"), "{page}");
        let (status, page) = ask_for_new_link(&server, "not an address").await;
        assert_eq!(status, 400, "{page}");
        assert!(page.contains("not an email address"), "{page}");
        server.advance("1s").await;
        assert!(server
            .events("type=academy.link_requested")
            .await
            .is_empty());
        assert!(server
            .messages_of_rule("acme.example", "new-sign-in-link")
            .await
            .is_empty());

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_deal_delivered_again_creates_nothing_more() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = ServerConfig::new(data.path(), &db)
            .env("ONBOARD_DEALS_WEBHOOK_SECRET", DEALS_SECRET)
            .start()
            .await;
        for id in ["msg_1", "msg_1", "msg_2"] {
            let answer = post_deal(&server, id, &acme_deal()).await;
            assert_eq!(answer.status(), 200);
        }
        server.advance("1s").await;
        assert_eq!(server.events("type=deal.won").await.len(), 1);
        assert_eq!(
            server
                .messages_of_rule("acme.example", "welcome-email")
                .await
                .len(),
            3,
            "one welcome per person"
        );
        let accounts = server.get("/api/accounts").await;
        assert_eq!(accounts["accounts"].as_array().unwrap().len(), 1);

        drop(server);
        db.finish().await;
    }
}

// ------------------------------------------------------------------------------- HubSpot

fn hubspot_signature(method: &str, uri: &str, body: &str, timestamp: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(HUBSPOT_SECRET.as_bytes()).unwrap();
    mac.update(format!("{method}{uri}{body}{timestamp}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn post_hubspot(server: &Server, public_url: &str, batch: &Value) -> reqwest::Response {
    let body = serde_json::to_string(batch).unwrap();
    let timestamp = unix_now().to_string();
    let signature = hubspot_signature(
        "POST",
        &format!("{public_url}/hooks/hubspot"),
        &body,
        &timestamp,
    );
    reqwest::Client::new()
        .post(server.url("/hooks/hubspot"))
        .header("content-type", "application/json")
        .header("X-HubSpot-Signature-v3", signature)
        .header("X-HubSpot-Request-Timestamp", timestamp)
        .body(body)
        .send()
        .await
        .unwrap()
}

fn stage_change(deal: i64, stage: &str) -> Value {
    json!({
        "eventId": 3121500001_i64, "subscriptionId": 2100450, "portalId": 44112233,
        "appId": 987654, "occurredAt": 1767603600123_i64,
        "subscriptionType": "deal.propertyChange", "attemptNumber": 0,
        "objectId": deal, "propertyName": "dealstage", "propertyValue": stage,
        "changeSource": "CRM_UI", "sourceId": "userId:5550001"
    })
}

async fn fake_hubspot_with_acme() -> fake_hubspot::FakeHubSpot {
    let hubspot = fake_hubspot::FakeHubSpot::start().await;
    hubspot.add_owner("6166860", "tom@pipeflow.example", "Tom", "Becker");
    hubspot.add_company("9001", json!({ "name": "ACME", "domain": "acme.example" }));
    for (id, first, last, title) in [
        ("501", "Ada", "Byron", "IT Administrator"),
        ("502", "Vic", "Chief", "VP Sales"),
        ("503", "Eve", "Seller", "Account Executive"),
    ] {
        hubspot.add_contact(
            id,
            json!({ "email": format!("{}@acme.example", first.to_lowercase()),
                    "firstname": first, "lastname": last, "jobtitle": title }),
        );
    }
    hubspot.add_deal(
        "18000000042",
        json!({ "dealname": "ACME – Pro plan", "amount": "12000", "dealstage": "closedwon",
                "pipeline": "default", "hs_is_closed_won": "true",
                "hubspot_owner_id": "6166860" }),
        &["501", "502", "503"],
        &["9001"],
    );
    hubspot
}

fn hubspot_server(
    data: &std::path::Path,
    db: &TestDatabase,
    smtp: &Smtp,
    hubspot: &fake_hubspot::FakeHubSpot,
    public_url: &str,
) -> ServerConfig {
    ServerConfig::new(data, db)
        .smtp(&smtp.url())
        .arg("--public-url")
        .arg(public_url)
        .env("ONBOARD_HUBSPOT_CLIENT_SECRET", HUBSPOT_SECRET)
        .env(
            "ONBOARD_HUBSPOT_ACCESS_TOKEN",
            fake_hubspot::FakeHubSpot::TOKEN,
        )
        .env("ONBOARD_HUBSPOT_API_BASE", hubspot.base_url())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hubspot_deal_moved_to_closed_won_is_fetched_and_onboarded() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let smtp = Smtp::start().await;
        let hubspot = fake_hubspot_with_acme().await;
        let public_url = "https://onboard.example.com";
        let server = hubspot_server(data.path(), &db, &smtp, &hubspot, public_url)
            .start()
            .await;

        let batch = json!([
            stage_change(18000000042, "closedwon"),
            stage_change(18000000043, "appointmentscheduled")
        ]);
        let answer = post_hubspot(&server, public_url, &batch).await;
        assert_eq!(answer.status(), 200);
        server.advance("1s").await;

        let account = server.get("/api/accounts/acme.example").await;
        assert_eq!(account["csm"], CSM_EMAIL);
        assert_eq!(
            account["people"].as_array().unwrap().len(),
            3,
            "{account:#}"
        );
        assert_eq!(account["deals"][0]["id"], "18000000042");
        let email = welcome_email(&smtp, &server, "vic@acme.example").await;
        assert!(
            sign_in_link(&email.body)
                .starts_with("https://onboard.example.com/academy/sign-in?token="),
            "links use the public URL"
        );

        // HubSpot retries the same delivery: nothing more happens.
        post_hubspot(&server, public_url, &batch).await;
        server.advance("1s").await;
        assert_eq!(server.events("type=deal.won").await.len(), 1);
        server.assert_settled(0).await;

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_hubspot_api_is_retried_with_backoff() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let smtp = Smtp::start().await;
        let hubspot = fake_hubspot_with_acme().await;
        hubspot.fail_next(1, 503);
        let public_url = "https://onboard.example.com";
        let server = hubspot_server(data.path(), &db, &smtp, &hubspot, public_url)
            .start()
            .await;

        post_hubspot(
            &server,
            public_url,
            &json!([stage_change(18000000042, "closedwon")]),
        )
        .await;
        server.advance("1s").await;
        assert!(server.events("type=deal.won").await.is_empty());
        let fetches = server.messages("account=hubspot-portal-44112233").await;
        assert_eq!(fetches.len(), 1, "{fetches:#?}");
        assert_eq!(fetches[0]["status"], "queued");
        assert_eq!(fetches[0]["attempt_log"][0]["outcome"], "failed");

        server.advance("1m").await;
        assert_eq!(server.events("type=deal.won").await.len(), 1);
        let fetch = server.message(&text(&fetches[0]["id"])).await;
        assert_eq!(fetch["status"], "delivered");
        server.assert_settled(0).await;

        drop(server);
        db.finish().await;
    }
}

// ------------------------------------------------------------------------------ Pipedrive

const PIPEDRIVE_AUTH: &str = "pipedrive:hook-password";

/// ACME's won deal as Pipedrive's API holds it: Ada as the deal's person, Vic and Eve as
/// participants (two pages of two, Ada listed again), the organization with its
/// website, and Tom as the owner.
async fn fake_pipedrive_with_acme() -> fake_pipedrive::FakePipedrive {
    let pipedrive = fake_pipedrive::FakePipedrive::start().await;
    pipedrive.add_user(456, "tom@pipeflow.example", "Tom Becker");
    pipedrive.add_org(
        2,
        json!({ "name": "ACME", "website": "https://acme.example" }),
    );
    for (id, name, title) in [
        (3, "Ada Byron", "IT Administrator"),
        (4, "Vic Chief", "VP Sales"),
        (5, "Eve Seller", "Account Executive"),
    ] {
        let email = format!("{}@acme.example", name[..3].to_lowercase());
        pipedrive.add_person(
            id,
            json!({ "name": name, "job_title": title, "org_id": 2,
                    "emails": [{ "value": email, "primary": true, "label": "work" }] }),
        );
        pipedrive.add_participant(746, id);
    }
    pipedrive.add_participant(746, 3);
    pipedrive.add_deal(
        746,
        json!({ "title": "ACME – Pro", "status": "won", "value": 12000, "currency": "USD",
                "person_id": 3, "org_id": 2, "owner_id": 456,
                "won_time": "2026-01-05T08:59:59Z" }),
    );
    pipedrive
}

/// A v2 webhook: deal 746 of company 123 changed from `open` to `won`; ids only.
fn pipedrive_deal_won(delivery: &str) -> Value {
    json!({
        "meta": { "action": "change", "entity": "deal", "entity_id": "746", "id": delivery,
                  "company_id": "123", "user_id": "456", "version": "2.0",
                  "webhook_id": "99", "attempt": 1, "host": "acme.pipedrive.com",
                  "timestamp": "2026-01-05T09:00:00.000Z", "type": "general" },
        "data": { "id": 746, "title": "ACME – Pro", "status": "won", "value": 12000,
                  "currency": "USD", "person_id": 3, "org_id": 2, "owner_id": 456,
                  "won_time": "2026-01-05 08:59:59" },
        "previous": { "status": "open" }
    })
}

async fn post_pipedrive(server: &Server, body: &Value) -> reqwest::Response {
    let (user, password) = PIPEDRIVE_AUTH.split_once(':').unwrap();
    reqwest::Client::new()
        .post(server.url("/hooks/pipedrive"))
        .basic_auth(user, Some(password))
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipedrive_deal_won_webhook_fetches_its_people_and_each_gets_a_sign_in_email() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let smtp = Smtp::start().await;
        let pipedrive = fake_pipedrive_with_acme().await;
        let server = ServerConfig::new(data.path(), &db)
            .smtp(&smtp.url())
            .env("ONBOARD_PIPEDRIVE_BASIC_AUTH", PIPEDRIVE_AUTH)
            .env(
                "ONBOARD_PIPEDRIVE_API_TOKEN",
                fake_pipedrive::FakePipedrive::TOKEN,
            )
            .env("ONBOARD_PIPEDRIVE_API_BASE", pipedrive.base_url())
            .start()
            .await;

        let answer = post_pipedrive(&server, &pipedrive_deal_won("2f0e-uuid-1")).await;
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.json::<Value>().await.unwrap()["accepted"], 1);
        server.advance("1s").await;

        let account = server.get("/api/accounts/acme.example").await;
        assert_eq!(
            account["csm"], CSM_EMAIL,
            "Tom, the owner read from Pipedrive"
        );
        let people: Vec<String> = account["people"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| text(&p["email"]))
            .collect();
        assert_eq!(
            people,
            ["ada@acme.example", "vic@acme.example", "eve@acme.example"],
            "{account:#}"
        );
        // Vic is only a participant: he is known from Pipedrive's API, not the webhook.
        let email = welcome_email(&smtp, &server, "vic@acme.example").await;
        let link = sign_in_link(&email.body);
        assert!(
            link.starts_with(&server.url("/academy/sign-in?token=")),
            "{link}"
        );

        // Pipedrive delivers the same change again: nothing more happens.
        post_pipedrive(&server, &pipedrive_deal_won("2f0e-uuid-1")).await;
        server.advance("1s").await;
        assert_eq!(server.events("type=deal.won").await.len(), 1);
        assert_eq!(
            server.messages("account=pipedrive-company-123").await.len(),
            1
        );
        server.assert_settled(0).await;

        drop(server);
        db.finish().await;
    }
}
