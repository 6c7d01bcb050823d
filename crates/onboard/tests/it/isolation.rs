//! Isolation, swept over every route the server has (`onboard_web::router::ROUTES`): each
//! route is called with its path parameters filled with the ids of ANOTHER account (Globex's
//! key, project, task, file, message, alert, person, mailbox email), once with no credentials
//! and once with the Academy session of ACME's admin. A stakeholder's session reaches none of
//! Globex's pages, files or API (404), the team's routes want a team session, the API its
//! bearer token, the CRM hooks and the usage intake their secrets; no attempt reveals
//! Globex's data or appends anything to the event log. A route the sweep cannot fill fails
//! the test, so a new route is swept from the day it is added.

use crate::pages::*;
use crate::support::*;
use onboard_web::router::ROUTES;
use serde_json::{json, Value};

/// The account whose session is used.
const OWN: &str = "acme";
/// The account whose ids are tried.
const OTHER: &str = "globex";
const WRITE_KEY: &str = "sweep-write-key";
const NUDGE_SECRET: &str = "sweep-nudge-secret";
const DEALS_SECRET: &str = "whsec_c3dlZXAtZGVhbHMtc2VjcmV0LXN3ZWVwLXN3ZWVw";
const PIPEDRIVE_AUTH: &str = "sweep:pipedrive-secret";
const HUBSPOT_SECRET: &str = "sweep-hubspot-secret";

/// Globex's real ids, one for each kind of path parameter.
struct Ids {
    project: String,
    task: String,
    file: String,
    message: String,
    alert: String,
    email: String,
    mailbox_file: String,
    slug: String,
    endpoint: String,
    nudge: String,
}

impl Ids {
    /// `path` with each `{parameter}` replaced by Globex's id of that kind; panics on a
    /// parameter the sweep does not know.
    fn fill(&self, path: &str) -> String {
        let segments: Vec<&str> = path.split('/').collect();
        let mut filled = Vec::new();
        for (i, segment) in segments.iter().enumerate() {
            let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
                filled.push((*segment).to_owned());
                continue;
            };
            let before = i.checked_sub(1).map_or("", |j| segments[j]);
            let value = match (name, before) {
                ("id", "accounts") => OTHER,
                ("id", "messages" | "outbox") => &self.message,
                ("id", "files") => &self.file,
                ("id", "nudges") => &self.nudge,
                ("project", _) => &self.project,
                ("task", _) => &self.task,
                ("alert", _) => &self.alert,
                // Globex has no approval queued; any id is refused before it is looked up.
                ("approval", _) => "apv_globex",
                ("email", _) => &self.email,
                ("file", "mailbox") => &self.mailbox_file,
                ("slug", _) => &self.slug,
                ("name", "endpoints") => &self.endpoint,
                _ => panic!(
                    "the isolation sweep does not know how to fill {{{name}}} in {path}: \
                     teach `Ids::fill` (and `expected`) about the new route"
                ),
            };
            filled.push(value.to_owned());
        }
        filled.join("/")
    }
}

/// Who calls.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Caller {
    Nobody,
    /// ACME's admin, signed in to the Academy (the cookie the Shared Space shares).
    OwnStakeholder,
}

/// What a route must answer.
#[derive(Debug)]
enum Expected {
    Status(u16),
    /// A redirect to the console's sign-in page.
    ToConsoleSignIn,
    /// A refusal: one of these.
    OneOf(&'static [u16]),
}

/// Routes anyone may call (sign-in pages and forms, probes, documents): they must still not
/// reveal Globex or log anything when called with nothing to act on.
const PUBLIC: &[(&str, &str)] = &[
    ("GET", "/api/openapi.json"),
    ("GET", "/academy/sign-in"),
    ("POST", "/academy/sign-in"),
    ("POST", "/academy/sign-in/new"),
    ("GET", "/academy/sign-in/code"),
    ("POST", "/academy/sign-in/code"),
    ("POST", "/academy/sign-in/code/verify"),
    ("GET", "/console/sign-in"),
    ("POST", "/console/sign-in"),
    ("POST", "/console/sign-in/link"),
    ("GET", "/sdk/nudges.js"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
];

/// What `method path` (with Globex's ids) must answer to `caller`.
fn expected(method: &str, path: &str, caller: Caller) -> Expected {
    let scoped = path.contains('{');
    let own = caller == Caller::OwnStakeholder;
    if PUBLIC.contains(&(method, path)) {
        // 403: a sign-in form sent from a browser with a session, without its CSRF token.
        return Expected::OneOf(&[200, 400, 401, 403, 422]);
    }
    // Signing out ends the caller's own session (none, or ACME's), nobody else's; a session
    // is ended only with its CSRF token, which the sweep does not send.
    if (method, path) == ("POST", "/academy/sign-out") {
        return Expected::Status(if own { 403 } else { 303 });
    }
    match path.split('/').nth(1) {
        Some("api") => Expected::Status(401),
        Some("hooks") => Expected::OneOf(&[401, 403]),
        Some("v1") => Expected::Status(401),
        Some("console") if method == "GET" => Expected::ToConsoleSignIn,
        Some("console") => Expected::ToConsoleSignIn,
        // Globex's ids are not in ACME's Shared Space.
        Some("space") if own && scoped => Expected::Status(404),
        Some("space") if own && method == "GET" => Expected::Status(200),
        // ACME's own forms, sent without their CSRF token or fields: refused.
        Some("space") if own => Expected::OneOf(&[400, 403, 422]),
        // The way in: a page that asks for a sign-in link.
        Some("space") if method == "GET" && !scoped => Expected::Status(200),
        Some("space") => Expected::OneOf(&[401, 404]),
        // Module pages are the program's, not an account's: ACME's admin may read them.
        Some("academy") if own && method == "GET" => Expected::Status(200),
        Some("academy") if own => Expected::Status(403),
        Some("academy") if method == "GET" => Expected::OneOf(&[200, 401]),
        Some("academy") => Expected::OneOf(&[401, 403]),
        _ => panic!(
            "the isolation sweep does not know what {method} {path} must answer: \
             teach `expected` about the new route"
        ),
    }
}

/// A server with ACME and Globex won.
async fn two_accounts(data: &std::path::Path, db: &TestDatabase) -> Server {
    let server = ServerConfig::new(data, db)
        .env("ONBOARD_WRITE_KEY", WRITE_KEY)
        .env("ONBOARD_NUDGE_SECRET", NUDGE_SECRET)
        .env("ONBOARD_DEALS_WEBHOOK_SECRET", DEALS_SECRET)
        .env("ONBOARD_PIPEDRIVE_BASIC_AUTH", PIPEDRIVE_AUTH)
        .env("ONBOARD_HUBSPOT_CLIENT_SECRET", HUBSPOT_SECRET)
        .start()
        .await;
    server.post_events(&deal_won(OWN)).await;
    let mut other = deal_won(OTHER);
    other["data"]["deal_id"] = json!("D-1001");
    server.post_events(&other).await;
    server.advance("1s").await;
    server
}

/// Globex's ids, read through the team's API once Globex's admin has shared a file in the
/// Space and gone through their whole core journey on the first day (a power user: an open
/// alert to Sales).
async fn other_ids(server: &Server) -> Ids {
    let globex = sign_in(server, &admin_email(OTHER)).await;
    let space = globex.get("/space").await;
    let csrf = space
        .all("input[name=csrf]")
        .first()
        .and_then(|i| i.attr("value"))
        .unwrap()
        .to_owned();
    let form = reqwest::multipart::Form::new().text("csrf", csrf).part(
        "file",
        reqwest::multipart::Part::bytes(b"globex targets\n".to_vec())
            .file_name("targets.txt")
            .mime_str("text/plain")
            .unwrap(),
    );
    let uploaded = globex
        .client
        .post(format!("{}/space/files", globex.base))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 303, "Globex's file is uploaded");
    let admin = admin_email(OTHER);
    let modules: Vec<Value> = [
        "01-welcome",
        "02-invite-your-team",
        "03-configure-your-pipeline",
        "04-import-your-data",
        "05-roles-and-permissions",
        "06-connect-email-and-calendar",
    ]
    .iter()
    .map(|module| {
        json!({ "id": format!("globex-{module}"), "type": "module.completed", "account": OTHER,
                "data": { "email": admin, "journey": "admin-essentials", "module": module } })
    })
    .collect();
    server.post_events(&json!(modules)).await;
    server.advance("1h").await;

    let projects = server.get(&format!("/api/accounts/{OTHER}/projects")).await;
    let project = &projects["projects"][0];
    let files = server.get(&format!("/api/accounts/{OTHER}/files")).await;
    let alerts = server.get(&format!("/api/accounts/{OTHER}/alerts")).await;
    let messages = server.messages(&format!("account={OTHER}")).await;
    let mailbox = server.get("/api/mailbox").await;
    let mailbox_file = mailbox["emails"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to"].as_str().is_some_and(|to| to.contains(OTHER)))
        .map(|e| text(&e["file"]))
        .expect("an email to Globex in the mailbox");
    let first = |value: &Value, what: &str| -> String {
        value
            .as_array()
            .and_then(|a| a.first())
            .map(|v| text(&v["id"]))
            .unwrap_or_else(|| panic!("Globex has no {what}: {value}"))
    };
    Ids {
        project: text(&project["id"]),
        task: text(&project["tasks"][0]["key"]),
        file: first(&files["files"], "file"),
        message: text(&messages[0]["id"]),
        alert: first(&alerts["alerts"], "alert"),
        email: admin_email(OTHER),
        mailbox_file,
        slug: "01-welcome".to_owned(),
        endpoint: "sales".to_owned(),
        // Nudges are the product's; Globex has none open, so its id is made up.
        nudge: "nudge_globex".to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_keeps_another_accounts_data_from_a_stakeholder_and_from_strangers() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = two_accounts(data.path(), &db).await;
        let ids = other_ids(&server).await;
        let ada = sign_in(&server, &admin_email(OWN)).await;
        let own_csrf = ada
            .get("/space")
            .await
            .all("input[name=csrf]")
            .first()
            .and_then(|i| i.attr("value"))
            .unwrap()
            .to_owned();
        let n_events = server.events("").await.len();
        let n_messages = server.messages("").await.len();
        let nobody = Browser::new(&server);

        let mut failures = Vec::new();
        // The sign-out routes last: they end the session the sweep uses.
        let mut routes: Vec<(&str, &str)> = ROUTES.to_vec();
        routes.sort_by_key(|(_, path)| path.ends_with("/sign-out"));
        for caller in [Caller::Nobody, Caller::OwnStakeholder] {
            let browser = match caller {
                Caller::Nobody => &nobody,
                Caller::OwnStakeholder => &ada,
            };
            for (method, route) in &routes {
                let path = ids.fill(route);
                let in_space = route.starts_with("/space/") && route.contains('{');
                // Globex's ids go with ACME's valid CSRF token, so only the scope can refuse.
                let csrf = if in_space && caller == Caller::OwnStakeholder {
                    own_csrf.as_str()
                } else {
                    ""
                };
                // The product's calls name a user of the other account.
                let query = if route.starts_with("/v1/nudges") {
                    "?userId=u-globex"
                } else {
                    ""
                };
                let url = format!("{}{path}{query}", server.base);
                let machine = ["/api/", "/v1/", "/hooks/"]
                    .iter()
                    .any(|prefix| route.starts_with(prefix));
                let answer = match *method {
                    "GET" => browser.client.get(&url).send().await.unwrap(),
                    // A well-formed body, so a refusal is for the missing credentials.
                    "POST" if route.ends_with("/ack") => browser
                        .client
                        .post(&url)
                        .json(&json!({ "userId": "u-globex", "action": "shown" }))
                        .send()
                        .await
                        .unwrap(),
                    "POST" if machine => browser
                        .client
                        .post(&url)
                        .json(&json!({
                            "type": "track", "userId": "u-globex", "event": "Signed Up",
                            "by": CSM_EMAIL, "account": OTHER,
                        }))
                        .send()
                        .await
                        .unwrap(),
                    "POST" => browser
                        .client
                        .post(&url)
                        .form(&[
                            ("csrf", csrf),
                            ("text", "hello from acme"),
                            ("start", "2026-01-20T15:00:00Z"),
                            ("by", CSM_EMAIL),
                        ])
                        .send()
                        .await
                        .unwrap(),
                    "PUT" => browser
                        .client
                        .put(&url)
                        .json(&json!({ "persona": "admin" }))
                        .send()
                        .await
                        .unwrap(),
                    other => panic!("the sweep does not send {other} ({route})"),
                };
                let status = answer.status().as_u16();
                let location = answer
                    .headers()
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let body = answer.text().await.unwrap_or_default();
                let want = expected(method, route, caller);
                let ok = match &want {
                    Expected::Status(s) => status == *s,
                    Expected::ToConsoleSignIn => status == 303 && location == "/console/sign-in",
                    Expected::OneOf(all) => all.contains(&status),
                };
                if !ok {
                    failures.push(format!(
                        "{caller:?} {method} {path}: answered {status} {location}, wanted {want:?}"
                    ));
                }
                if body.contains("globex Inc.") || body.contains(&ids.project) {
                    failures.push(format!(
                        "{caller:?} {method} {path}: the answer shows Globex's data"
                    ));
                }
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} attempts went wrong:\n{}",
            failures.len(),
            2 * routes.len(),
            failures.join("\n")
        );
        assert_eq!(
            server.events("").await.len(),
            n_events,
            "nothing is appended to the log"
        );
        assert_eq!(
            server.messages("").await.len(),
            n_messages,
            "nothing is sent"
        );

        drop(server);
        db.finish().await;
    }
}
