//! The Segment-compatible usage intake (`/v1/*`) end to end, through the real server: write
//! keys, limits and errors, partial batches, dedupe, gzip, clock-skew correction, product
//! users linked to accounts (by a known email, by their group's domain, by a person a deal
//! adds later), and Segment's official Python and Node.js clients, unchanged.

use crate::support::*;
use base64::Engine as _;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;

const WRITE_KEY: &str = "wk-segment";
const CLIENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients");

fn basic(key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    )
}

async fn start(data: &Path, db: &TestDatabase) -> Server {
    ServerConfig::new(data, db)
        .env("ONBOARD_WRITE_KEY", WRITE_KEY)
        .start()
        .await
}

/// Posts raw bytes to a `/v1/*` route with the write key as the Basic user.
async fn send_bytes(server: &Server, route: &str, body: Vec<u8>, gzip: bool) -> (u16, Value) {
    let mut request = server
        .client
        .post(server.url(route))
        .header("Authorization", basic(WRITE_KEY))
        .header("Content-Type", "application/json");
    if gzip {
        request = request.header("Content-Encoding", "gzip");
    }
    let response = request.body(body).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, body)
}

/// Posts JSON to a `/v1/*` route with the write key as the Basic user.
async fn send(server: &Server, route: &str, body: &Value) -> (u16, Value) {
    send_bytes(server, route, serde_json::to_vec(body).unwrap(), false).await
}

/// A won deal for `account` (domain `<account>.example`) with Ada as its admin.
fn deal_with_domain(account: &str) -> Value {
    let mut deal = deal_won(account);
    deal["data"]["account"] = json!({
        "name": format!("{account} Inc."),
        "domain": format!("{account}.example"),
    });
    deal
}

/// The product events logged on `account`.
async fn product_events(server: &Server, account: &str) -> Vec<Value> {
    server
        .events(&format!("account={account}"))
        .await
        .into_iter()
        .filter(|e| text(&e["type"]).starts_with("product."))
        .collect()
}

fn types_of(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| text(&e["type"])).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_key_is_required_as_basic_user_or_in_the_body() {
    for db in TestDatabase::all().await {
        let data = tempfile::tempdir().unwrap();
        let server = start(data.path(), &db).await;
        let call = json!({ "userId": "u1", "event": "Signed Up", "messageId": "m1" });
        let refused = |response: reqwest::Response| async move {
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            assert_eq!(status, 401, "{body}");
            assert_eq!(body["error"]["code"], "unauthorized");
        };
        let url = server.url("/v1/track");
        refused(
            server
                .client
                .post(&url)
                .header("Authorization", basic("not-the-key"))
                .json(&call)
                .send()
                .await
                .unwrap(),
        )
        .await;
        refused(server.client.post(&url).json(&call).send().await.unwrap()).await;

        // The password is ignored (RudderStack's clients send a literal `""`).
        let with_password = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{WRITE_KEY}:\"\""))
        );
        let ok = server
            .client
            .post(&url)
            .header("Authorization", with_password)
            .json(&call)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(
            ok.json::<Value>().await.unwrap(),
            json!({ "success": true })
        );

        // `writeKey` in the body, alone or beside a bearer token.
        let mut keyed = call.clone();
        keyed["writeKey"] = json!(WRITE_KEY);
        keyed["messageId"] = json!("m2");
        let ok = server.client.post(&url).json(&keyed).send().await.unwrap();
        assert_eq!(ok.status(), 200);
        keyed["messageId"] = json!("m3");
        let ok = server
            .client
            .post(&url)
            .bearer_auth("an-oauth-token")
            .json(&keyed)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        drop(server);

        // Without a configured write key, the intake is off.
        let data = tempfile::tempdir().unwrap();
        let keyless = ServerConfig::new(data.path(), &db).start().await;
        let mut keyed = call.clone();
        keyed["writeKey"] = json!(WRITE_KEY);
        refused(
            keyless
                .client
                .post(keyless.url("/v1/track"))
                .header("Authorization", basic(WRITE_KEY))
                .json(&keyed)
                .send()
                .await
                .unwrap(),
        )
        .await;
        drop(keyless);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_without_the_write_key_gets_a_401_whatever_its_body() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = start(data.path(), &db).await;
        for route in ["/v1/batch", "/v1/track"] {
            // Just over the route's limit (so the unread rest fits the socket's buffers).
            let over = if route == "/v1/batch" { 505 } else { 34 };
            let big = json!({ "batch": [], "padding": "x".repeat(over * 1024) });
            let bodies: [(&str, Vec<u8>, bool); 5] = [
                ("not JSON", b"{ not json".to_vec(), false),
                ("not a batch", br#"{"batch": 3}"#.to_vec(), false),
                ("a bad gzip body", b"not gzip at all".to_vec(), true),
                ("too large", serde_json::to_vec(&big).unwrap(), false),
                (
                    "a bad field",
                    br#"{"batch": [{"type": "track"}]}"#.to_vec(),
                    false,
                ),
            ];
            for (what, body, gzip) in &bodies {
                // A wrong key in the header is refused before the body is read: a large
                // body would meet a closed connection.
                let wrong_key = (*what != "too large").then(|| basic("not-the-key"));
                for auth in [None, wrong_key] {
                    let mut request = server
                        .client
                        .post(server.url(route))
                        .header("Content-Type", "application/json");
                    if let Some(auth) = &auth {
                        request = request.header("Authorization", auth);
                    }
                    if *gzip {
                        request = request.header("Content-Encoding", "gzip");
                    }
                    let response = request.body(body.clone()).send().await.unwrap();
                    let status = response.status().as_u16();
                    let text = response.text().await.unwrap();
                    let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
                        panic!("{route}, {what}, {auth:?}: {status} {e}: {text}")
                    });
                    assert_eq!(status, 401, "{route}, {what}, {auth:?}: {answer}");
                    assert_eq!(answer["error"]["code"], "unauthorized");
                }
            }
        }
        // With the key, the same bodies are refused for what is wrong with them.
        let (status, answer) =
            send_bytes(&server, "/v1/batch", b"{ not json".to_vec(), false).await;
        assert_eq!(status, 400, "{answer}");
        assert!(server.events("").await.is_empty(), "nothing was appended");

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_calls_get_a_400_that_says_what_and_where() {
    for db in TestDatabase::all().await {
        let data = tempfile::tempdir().unwrap();
        let server = start(data.path(), &db).await;

        let (status, body) = send(&server, "/v1/track", &json!({ "event": "Signed Up" })).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["details"][0]["at"], "userId");
        assert!(text(&body["error"]["details"][0]["message"]).contains("no_user_anon_id"));

        let (status, body) = send(
            &server,
            "/v1/track",
            &json!({ "userId": ["u1"], "event": "x" }),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["details"][0]["at"], "userId");

        let (status, body) = send(&server, "/v1/group", &json!({ "userId": "u1" })).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["details"][0]["at"], "groupId");

        let (status, body) =
            send_bytes(&server, "/v1/identify", b"{\"userId\": ".to_vec(), false).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            text(&body["error"]["message"]).contains("not valid JSON"),
            "{body}"
        );

        let big = "x".repeat(33 * 1024);
        let (status, body) = send(
            &server,
            "/v1/track",
            &json!({ "userId": "u1", "event": "x", "properties": { "big": big } }),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(text(&body["error"]["message"]).contains("32 KB"), "{body}");

        let item = |i: usize| json!({ "type": "track", "userId": "u1", "event": "x", "messageId": format!("b{i}") });
        let (status, body) = send(
            &server,
            "/v1/batch",
            &json!({ "batch": [item(0), { "type": "track", "userId": "u1", "event": "x", "properties": { "big": big } }] }),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            text(&body["error"]["message"]).contains("32 KB per event"),
            "{body}"
        );

        let chunk = "y".repeat(30 * 1024);
        let many: Vec<Value> = (0..20)
            .map(|i| json!({ "type": "track", "userId": "u1", "event": "x", "properties": { "c": chunk }, "messageId": format!("c{i}") }))
            .collect();
        let (status, body) = send(&server, "/v1/batch", &json!({ "batch": many })).await;
        assert_eq!(status, 400, "{body}");
        assert!(text(&body["error"]["message"]).contains("500 KB"), "{body}");

        let too_many: Vec<Value> = (0..2_501).map(item).collect();
        let (status, body) = send(&server, "/v1/batch", &json!({ "batch": too_many })).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            text(&body["error"]["message"]).contains("2500 events"),
            "{body}"
        );

        server.advance("1s").await;
        assert!(server.events("type=product.track").await.is_empty());
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_keeps_its_good_events_and_reports_the_bad_ones() {
    for db in TestDatabase::all().await {
        let data = tempfile::tempdir().unwrap();
        let server = start(data.path(), &db).await;
        server.post_events(&deal_with_domain("acme")).await;
        server.advance("1s").await;
        let (status, body) = send(
            &server,
            "/v1/batch",
            &json!({
                "batch": [
                    { "type": "identify", "userId": "u-ada", "traits": { "email": admin_email("acme") }, "messageId": "ok-1" },
                    { "type": "track", "event": "Lead Imported", "messageId": "no-ids" },
                    { "type": "track", "userId": { "id": 1 }, "event": "Lead Imported" },
                    { "type": "track", "userId": "u-ada", "messageId": "no-event" },
                    { "type": "launch", "userId": "u-ada" },
                    { "type": "track", "userId": "u-ada", "event": "Lead Imported", "messageId": "ok-2" },
                ],
            }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["success"], true);
        let places: Vec<String> = body["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| text(&r["at"]))
            .collect();
        assert_eq!(
            places,
            vec![
                "batch[1].userId",
                "batch[2].userId",
                "batch[3].event",
                "batch[4].type"
            ]
        );
        server.advance("1s").await;
        let logged = product_events(&server, "acme").await;
        assert_eq!(types_of(&logged), vec!["product.identify", "product.track"]);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_id_sent_twice_is_stored_once() {
    for db in TestDatabase::all().await {
        let data = tempfile::tempdir().unwrap();
        let server = start(data.path(), &db).await;
        server.post_events(&deal_with_domain("acme")).await;
        server.advance("1s").await;
        let identify = json!({ "userId": "u-ada", "traits": { "email": admin_email("acme") }, "messageId": "id-1" });
        let track = json!({ "userId": "u-ada", "event": "Lead Imported", "messageId": "tr-1" });
        for _ in 0..2 {
            assert_eq!(send(&server, "/v1/identify", &identify).await.0, 200);
            assert_eq!(send(&server, "/v1/track", &track).await.0, 200);
        }
        // A held event sent again is a duplicate as well.
        let stranger =
            json!({ "userId": "u-nobody", "event": "Lead Imported", "messageId": "tr-2" });
        assert_eq!(send(&server, "/v1/track", &stranger).await.0, 200);
        assert_eq!(send(&server, "/v1/track", &stranger).await.0, 200);
        server.advance("1s").await;
        let logged = product_events(&server, "acme").await;
        assert_eq!(types_of(&logged), vec!["product.identify", "product.track"]);
        assert_eq!(logged[1]["id"], "segment:tr-1");
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_bodies_are_unpacked_and_a_bad_one_is_a_400() {
    for db in TestDatabase::all().await {
        let data = tempfile::tempdir().unwrap();
        let server = start(data.path(), &db).await;
        server.post_events(&deal_with_domain("acme")).await;
        server.advance("1s").await;
        let batch = json!({ "batch": [
            { "type": "identify", "userId": "u-ada", "traits": { "email": admin_email("acme") }, "messageId": "gz-1" },
            { "type": "page", "userId": "u-ada", "name": "Pipeline", "messageId": "gz-2" },
        ]});
        let mut packer = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        packer
            .write_all(&serde_json::to_vec(&batch).unwrap())
            .unwrap();
        let (status, body) = send_bytes(&server, "/v1/batch", packer.finish().unwrap(), true).await;
        assert_eq!((status, body), (200, json!({ "success": true })));

        let (status, body) = send_bytes(&server, "/v1/batch", b"not gzip".to_vec(), true).await;
        assert_eq!(status, 400, "{body}");
        assert!(text(&body["error"]["message"]).contains("gzip"), "{body}");

        server.advance("1s").await;
        let logged = product_events(&server, "acme").await;
        assert_eq!(types_of(&logged), vec!["product.identify", "product.page"]);
        assert_eq!(logged[1]["data"]["name"], "Pipeline");
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_times_are_corrected_for_the_clients_clock() {
    for db in TestDatabase::all().await {
        let data = tempfile::tempdir().unwrap();
        let server = start(data.path(), &db).await;
        server.post_events(&deal_with_domain("acme")).await;
        server.advance("1s").await;
        let now = server.now().await;
        // The client's clock is years off, but the event happened 90 s before it was sent.
        let (status, _) = send(
            &server,
            "/v1/batch",
            &json!({
                "sentAt": "2020-03-01T12:01:30Z",
                "batch": [{ "type": "identify", "userId": "u-ada", "messageId": "skew-1",
                            "traits": { "email": admin_email("acme") },
                            "timestamp": "2020-03-01T12:00:00Z" }],
            }),
        )
        .await;
        assert_eq!(status, 200);
        server.advance("1s").await;
        let logged = product_events(&server, "acme").await;
        let expected = jiff::Timestamp::from_millisecond(
            now.parse::<jiff::Timestamp>().unwrap().as_millisecond() - 90_000,
        )
        .unwrap();
        let at: jiff::Timestamp = text(&logged[0]["at"]).parse().unwrap();
        assert_eq!(at, expected);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_an_unknown_user_wait_until_an_identify_names_a_known_person() {
    for db in TestDatabase::all().await {
        let data = tempfile::tempdir().unwrap();
        let server = start(data.path(), &db).await;
        server.post_events(&deal_with_domain("acme")).await;
        server.advance("1s").await;
        let track = json!({ "userId": "u-ada", "event": "Pipeline Created", "messageId": "t-1" });
        assert_eq!(send(&server, "/v1/track", &track).await.0, 200);
        server.advance("1s").await;
        assert!(
            product_events(&server, "acme").await.is_empty(),
            "held: not linked yet"
        );

        let identify = json!({ "userId": "u-ada", "traits": { "email": "Ada@Acme.example" }, "messageId": "i-1" });
        assert_eq!(send(&server, "/v1/identify", &identify).await.0, 200);
        server.advance("1s").await;
        let logged = product_events(&server, "acme").await;
        assert_eq!(types_of(&logged), vec!["product.track", "product.identify"]);
        for event in &logged {
            assert_eq!(event["data"]["user"], "u-ada");
            assert_eq!(event["data"]["email"], admin_email("acme"));
        }
        assert_eq!(logged[0]["data"]["event"], "Pipeline Created");
        server.assert_settled(0).await;
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_with_the_accounts_domain_links_the_users_in_it() {
    for db in TestDatabase::all().await {
        let data = tempfile::tempdir().unwrap();
        let server = start(data.path(), &db).await;
        server.post_events(&deal_with_domain("acme")).await;
        server.advance("1s").await;
        let group = json!({ "userId": "u-zed", "groupId": "org-7", "messageId": "g-1",
                            "traits": { "name": "Acme", "website": "https://www.acme.example/about" } });
        assert_eq!(send(&server, "/v1/group", &group).await.0, 200);
        // Another user of the same group, named only by `context.groupId`.
        let page = json!({ "anonymousId": "a-1", "name": "Pricing", "messageId": "p-1",
                           "context": { "groupId": "org-7" } });
        assert_eq!(send(&server, "/v1/page", &page).await.0, 200);
        server.advance("1s").await;
        let logged = product_events(&server, "acme").await;
        assert_eq!(types_of(&logged), vec!["product.group", "product.page"]);
        assert_eq!(logged[0]["data"]["group"], "org-7");
        assert_eq!(logged[1]["data"]["user"], "anon:a-1");
        assert_eq!(logged[1]["data"]["context"]["groupId"], "org-7");
        assert!(logged[1]["data"].get("email").is_none(), "no person known");
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_added_later_by_a_deal_links_the_user_who_identified_before() {
    for db in TestDatabase::all().await {
        let data = tempfile::tempdir().unwrap();
        let server = start(data.path(), &db).await;
        let (status, _) = send(
            &server,
            "/v1/batch",
            &json!({ "batch": [
                { "type": "identify", "userId": "u-ada", "traits": { "email": admin_email("globex") }, "messageId": "i-1" },
                { "type": "track", "userId": "u-ada", "event": "Lead Imported", "messageId": "t-1" },
            ]}),
        )
        .await;
        assert_eq!(status, 200);
        server.advance("1h").await;
        assert!(server.events("type=product.track").await.is_empty());

        server.post_events(&deal_won("globex")).await;
        server.advance("1s").await;
        let logged = product_events(&server, "globex").await;
        assert_eq!(types_of(&logged), vec!["product.identify", "product.track"]);
        assert_eq!(logged[1]["data"]["email"], admin_email("globex"));
        server.assert_settled(0).await;
        db.finish().await;
    }
}

/// Runs a client script; panics with its output when it fails.
fn run_client(program: &str, args: &[&str], dir: &str) {
    let output = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (scripts/test installs it): {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}); scripts/test installs the clients.\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Asserts that `user`'s identify, group, track and page landed on `account`.
async fn assert_client_events_landed(server: &Server, account: &str, user: &str) {
    server.advance("1s").await;
    let logged: Vec<Value> = product_events(server, account)
        .await
        .into_iter()
        .filter(|e| e["data"]["user"] == user)
        .collect();
    assert_eq!(
        types_of(&logged),
        vec![
            "product.identify",
            "product.group",
            "product.track",
            "product.page"
        ],
        "{logged:#?}"
    );
    for event in &logged {
        assert_eq!(event["data"]["email"], admin_email(account));
        assert!(text(&event["id"]).starts_with("segment:"));
    }
    assert_eq!(logged[2]["data"]["event"], "Lead Imported");
    assert_eq!(logged[2]["data"]["properties"]["count"], 12);
    assert_eq!(logged[3]["data"]["name"], "Pipeline");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_python_client_works_unchanged() {
    for db in TestDatabase::all().await {
        let data = tempfile::tempdir().unwrap();
        let server = start(data.path(), &db).await;
        server.post_events(&deal_with_domain("acme")).await;
        server.advance("1s").await;
        run_client(
            "python3",
            &[
                "segment_python.py",
                &server.base,
                WRITE_KEY,
                "py-ada",
                &admin_email("acme"),
                "acme.example",
            ],
            CLIENTS,
        );
        assert_client_events_landed(&server, "acme", "py-ada").await;
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_node_client_works_unchanged() {
    for db in TestDatabase::all().await {
        let data = tempfile::tempdir().unwrap();
        let server = start(data.path(), &db).await;
        server.post_events(&deal_with_domain("acme")).await;
        server.advance("1s").await;
        run_client(
            "node",
            &[
                "send.mjs",
                &server.base,
                WRITE_KEY,
                "node-ada",
                &admin_email("acme"),
                "acme.example",
            ],
            &format!("{CLIENTS}/node"),
        );
        assert_client_events_landed(&server, "acme", "node-ada").await;
        db.finish().await;
    }
}
