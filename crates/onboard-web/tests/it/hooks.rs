//! The CRM hooks: `POST /hooks/hubspot`, `POST /hooks/pipedrive`, `POST /hooks/deals`.
//! Signatures are computed here with `hmac` directly, not with the server's own signer.

use crate::harness::{
    app_with_config, example_program, for_each_backend, App, DEALS_SECRET, HUBSPOT_SECRET,
    PIPEDRIVE_AUTH, PUBLIC_URL, T0,
};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use onboard_web::{HookSecrets, Secret};
use serde_json::{json, Value};
use sha2::Sha256;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn hmac_base64(key: &[u8], parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    B64.encode(mac.finalize().into_bytes())
}

/// The v3 signature HubSpot would send for a POST to `uri`.
fn hubspot_signature(secret: &str, uri: &str, body: &str, timestamp: &str) -> String {
    hmac_base64(
        secret.as_bytes(),
        &[
            b"POST",
            uri.as_bytes(),
            body.as_bytes(),
            timestamp.as_bytes(),
        ],
    )
}

/// A POST to `path` with `headers`.
fn request(path: &str, headers: &[(&str, String)], body: impl Into<Body>) -> Request<Body> {
    let mut request = Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.body(body.into()).unwrap()
}

/// A HubSpot delivery to `/hooks/hubspot`, signed now (the wall clock).
fn hubspot(app: &App, body: &str) -> Request<Body> {
    let timestamp = app.wall_clock().to_string();
    let signature = hubspot_signature(
        HUBSPOT_SECRET,
        &format!("{PUBLIC_URL}/hooks/hubspot"),
        body,
        &timestamp,
    );
    request(
        "/hooks/hubspot",
        &[
            ("X-HubSpot-Signature-v3", signature),
            ("X-HubSpot-Request-Timestamp", timestamp),
        ],
        body.to_owned(),
    )
}

fn hubspot_event(event_id: u64, kind: &str, extra: Value) -> Value {
    let mut event = json!({"eventId": event_id, "subscriptionId": 2100450, "portalId": 44112233,
        "appId": 987654, "occurredAt": 1767603600000i64, "subscriptionType": kind, "attemptNumber": 0,
        "objectId": 18000000042u64, "changeSource": "CRM_UI", "sourceId": "userId:5550001"});
    for (key, value) in extra.as_object().unwrap() {
        event[key] = value.clone();
    }
    event
}

/// One won stage change, one change of another property, one change to another stage.
fn mixed_batch() -> String {
    json!([
        hubspot_event(
            1,
            "deal.propertyChange",
            json!({"propertyName": "dealstage", "propertyValue": "closedwon"})
        ),
        hubspot_event(
            2,
            "deal.propertyChange",
            json!({"propertyName": "amount", "propertyValue": "12000"})
        ),
        hubspot_event(
            3,
            "deal.propertyChange",
            json!({"propertyName": "dealstage", "propertyValue": "closedlost"})
        ),
    ])
    .to_string()
}

fn pipedrive_auth(credentials: &str) -> (&'static str, String) {
    (
        "authorization",
        format!("Basic {}", B64.encode(credentials)),
    )
}

fn pipedrive_v2(status: &str, previous_status: &str) -> String {
    json!({"meta": {"action": "change", "entity": "deal", "entity_id": "746", "id": "2f0e8a1c-uuid",
            "correlation_id": "c1", "company_id": "123", "user_id": "456", "version": "2.0",
            "webhook_id": "99", "change_source": "app", "attempt": 1, "host": "acme.pipedrive.com",
            "is_bulk_edit": false, "timestamp": "2026-01-05T08:59:59.000Z", "type": "general"},
           "data": {"id": 746, "title": "ACME – Pro", "status": status, "stage_id": 5, "pipeline_id": 1,
            "value": 12000, "currency": "USD", "person_id": 3, "org_id": 2, "owner_id": 456,
            "won_time": "2026-01-05 08:59:58", "update_time": "2026-01-05T08:59:59Z"},
           "previous": {"status": previous_status}})
    .to_string()
}

fn pipedrive(body: &str) -> Request<Body> {
    request(
        "/hooks/pipedrive",
        &[pipedrive_auth(PIPEDRIVE_AUTH)],
        body.to_owned(),
    )
}

fn deals_key() -> Vec<u8> {
    B64.decode(DEALS_SECRET.strip_prefix("whsec_").unwrap())
        .unwrap()
}

fn deals_signature(key: &[u8], id: &str, timestamp: &str, body: &str) -> String {
    format!(
        "v1,{}",
        hmac_base64(
            key,
            &[
                id.as_bytes(),
                b".",
                timestamp.as_bytes(),
                b".",
                body.as_bytes()
            ]
        )
    )
}

fn won_deal_payload() -> String {
    json!({"type": "deal.won", "timestamp": "2026-01-05T08:59:00Z", "data": {
        "deal": {"id": "D-1001", "name": "ACME – Pro", "plan": "pro", "seats": 25, "amount": 12000,
                 "owner_email": "tom@pipeflow.example"},
        "account": {"name": "ACME", "domain": "acme.example", "id": "c-77"},
        "contacts": [{"email": "ada@acme.example", "name": "Ada Lovelace", "title": "IT Administrator",
                      "id": "p-1", "properties": {"team": "platform"}}]}})
    .to_string()
}

/// A delivery to `/hooks/deals` with the given headers (`None` leaves one out).
fn deals_with(
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &str,
) -> Request<Body> {
    let mut headers = Vec::new();
    if let Some(id) = id {
        headers.push(("webhook-id", id.to_owned()));
    }
    if let Some(timestamp) = timestamp {
        headers.push(("webhook-timestamp", timestamp.to_owned()));
    }
    if let Some(signature) = signature {
        headers.push(("webhook-signature", signature.to_owned()));
    }
    request("/hooks/deals", &headers, body.to_owned())
}

/// A delivery to `/hooks/deals`, signed now (the wall clock).
fn deals(app: &App, id: &str, body: &str) -> Request<Body> {
    let timestamp = (app.wall_clock() / 1000).to_string();
    let signature = deals_signature(&deals_key(), id, &timestamp, body);
    deals_with(Some(id), Some(&timestamp), Some(&signature), body)
}

fn assert_refused(status: StatusCode, body: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "{body}");
    assert!(body["error"]["code"].is_string(), "{body}");
    assert!(
        !body["error"]["message"].as_str().unwrap().is_empty(),
        "{body}"
    );
}

async fn assert_nothing_written(app: &App) {
    assert_eq!(app.all_events("").await, Vec::<Value>::new());
}

fn places(body: &Value) -> Vec<&str> {
    body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["at"].as_str().unwrap())
        .collect()
}

// HubSpot

#[tokio::test]
async fn a_signed_hubspot_batch_starts_one_deal_and_ignores_other_properties_and_stages() {
    for_each_backend(|app| async move {
        let (status, _, body) = app.send(hubspot(&app, &mixed_batch())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({"accepted": 1, "duplicates": 0, "ignored": 2}));
        let events = app.all_events("&type=hubspot.deal").await;
        assert_eq!(events.len(), 1);
        assert_eq!(
            events[0]["id"],
            "hubspot:44112233:2100450:18000000042:1:1767603600000"
        );
        assert_eq!(events[0]["account"], "hubspot-portal-44112233");
        assert_eq!(events[0]["at"], "2026-01-05T09:00:00Z");
        assert_eq!(
            events[0]["data"],
            json!({"portal_id": 44112233, "deal_id": "18000000042", "trigger": "stage_change",
                "stage": "closedwon", "subscription_type": "deal.propertyChange", "event_id": 1,
                "change_source": "CRM_UI"})
        );
        assert_eq!(app.all_events("").await.len(), 1);
        app
    })
    .await;
}

#[tokio::test]
async fn a_redelivered_hubspot_batch_is_answered_as_duplicates() {
    for_each_backend(|app| async move {
        app.send(hubspot(&app, &mixed_batch())).await;
        // A retry carries a new attempt number; the key ignores it.
        let retry = mixed_batch().replace("\"attemptNumber\":0", "\"attemptNumber\":1");
        assert_ne!(retry, mixed_batch());
        let (status, _, body) = app.send(hubspot(&app, &retry)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({"accepted": 0, "duplicates": 1, "ignored": 2}));
        assert_eq!(app.all_events("&type=hubspot.deal").await.len(), 1);
        app
    })
    .await;
}

#[test]
fn the_test_signer_reproduces_the_published_hubspot_vector_h1() {
    assert_eq!(
        hubspot_signature(
            "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
            "https://www.example.com/webhook_uri",
            "{'example_field':'example_value'}",
            "1693657560000"
        ),
        "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="
    );
}

#[tokio::test]
async fn a_hubspot_request_signed_like_vector_h1_is_accepted_at_its_time() {
    for_each_backend(|mut app| async move {
        let secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
        app.reconfigure(|state| {
            state.hooks.hubspot_client_secret = Some(Secret::new(secret.to_owned()));
            state.hooks.public_url = "https://www.example.com".to_owned();
        });
        app.set_wall_clock(1_693_657_560_000);
        let body = json!([hubspot_event(7, "deal.creation", json!({}))]).to_string();
        let signature = hubspot_signature(
            secret,
            "https://www.example.com/hooks/hubspot",
            &body,
            "1693657560000",
        );
        let headers = [
            ("x-hubspot-signature-v3", signature),
            ("x-hubspot-request-timestamp", "1693657560000".to_owned()),
        ];
        let (status, _, answer) = app
            .send(request("/hooks/hubspot", &headers, body.clone()))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["accepted"], 1);
        // Five minutes and a millisecond later, the same request is refused.
        app.set_wall_clock(1_693_657_560_000 + 300_001);
        let (status, _, answer) = app.send(request("/hooks/hubspot", &headers, body)).await;
        assert_refused(status, &answer, StatusCode::UNAUTHORIZED);
        app
    })
    .await;
}

#[tokio::test]
async fn the_hubspot_query_string_is_signed_as_received_with_listed_escapes_decoded() {
    for_each_backend(|app| async move {
        let body = json!([hubspot_event(8, "deal.creation", json!({}))]).to_string();
        let timestamp = app.wall_clock().to_string();
        let signature = hubspot_signature(
            HUBSPOT_SECRET,
            &format!("{PUBLIC_URL}/hooks/hubspot?portal=a:b&x=%20"),
            &body,
            &timestamp,
        );
        let headers = [
            ("X-HubSpot-Signature-V3", signature),
            ("X-HubSpot-Request-Timestamp", timestamp),
        ];
        let (status, _, answer) = app
            .send(request("/hooks/hubspot?portal=a%3Ab&x=%20", &headers, body))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["accepted"], 1);
        app
    })
    .await;
}

#[tokio::test]
async fn a_hubspot_request_with_a_wrong_or_missing_signature_is_refused_and_writes_nothing() {
    for_each_backend(|app| async move {
        let body = mixed_batch();
        let timestamp = app.wall_clock().to_string();
        let uri = format!("{PUBLIC_URL}/hooks/hubspot");
        let cases = [
            vec![
                (
                    "X-HubSpot-Signature-v3",
                    hubspot_signature("other-secret", &uri, &body, &timestamp),
                ),
                ("X-HubSpot-Request-Timestamp", timestamp.clone()),
            ],
            vec![
                (
                    "X-HubSpot-Signature-v3",
                    hubspot_signature(
                        HUBSPOT_SECRET,
                        "https://elsewhere.test/hooks/hubspot",
                        &body,
                        &timestamp,
                    ),
                ),
                ("X-HubSpot-Request-Timestamp", timestamp.clone()),
            ],
            vec![("X-HubSpot-Request-Timestamp", timestamp.clone())],
            vec![(
                "X-HubSpot-Signature-v3",
                hubspot_signature(HUBSPOT_SECRET, &uri, &body, &timestamp),
            )],
            vec![
                ("X-HubSpot-Signature-v3", String::new()),
                ("X-HubSpot-Request-Timestamp", timestamp.clone()),
            ],
            // Only the older versions, which are not accepted.
            vec![
                (
                    "X-HubSpot-Signature",
                    "69fc6631a867edd4f9e9e627fc5c1148e3fbdd8b21837b6d2b8901c1fa57f750".to_owned(),
                ),
                ("X-HubSpot-Signature-Version", "v1".to_owned()),
            ],
        ];
        for headers in cases {
            let (status, _, answer) = app
                .send(request("/hooks/hubspot", &headers, body.clone()))
                .await;
            assert_refused(status, &answer, StatusCode::UNAUTHORIZED);
        }
        // A signed body changed on the way.
        let mut tampered = hubspot(&app, &body);
        *tampered.body_mut() = Body::from(body.replace("closedlost", "closedwon"));
        let (status, _, answer) = app.send(tampered).await;
        assert_refused(status, &answer, StatusCode::UNAUTHORIZED);
        assert_nothing_written(&app).await;
        app
    })
    .await;
}

#[tokio::test]
async fn a_hubspot_request_more_than_five_minutes_old_or_ahead_is_refused() {
    for_each_backend(|app| async move {
        let body = mixed_batch();
        let now = app.wall_clock();
        for sent_at in [now - 300_001, now + 300_001, now - 3_600_000] {
            let timestamp = sent_at.to_string();
            let signature = hubspot_signature(
                HUBSPOT_SECRET,
                &format!("{PUBLIC_URL}/hooks/hubspot"),
                &body,
                &timestamp,
            );
            let headers = [
                ("X-HubSpot-Signature-v3", signature),
                ("X-HubSpot-Request-Timestamp", timestamp),
            ];
            let (status, _, answer) = app
                .send(request("/hooks/hubspot", &headers, body.clone()))
                .await;
            assert_refused(status, &answer, StatusCode::UNAUTHORIZED);
        }
        assert_nothing_written(&app).await;
        app
    })
    .await;
}

#[tokio::test]
async fn a_truncated_hubspot_signature_is_refused() {
    for_each_backend(|app| async move {
        let body = mixed_batch();
        let timestamp = app.wall_clock().to_string();
        let signature = hubspot_signature(
            HUBSPOT_SECRET,
            &format!("{PUBLIC_URL}/hooks/hubspot"),
            &body,
            &timestamp,
        );
        let tag = B64.decode(&signature).unwrap();
        for truncated in [signature[..20].to_owned(), B64.encode(&tag[..31])] {
            let headers = [
                ("X-HubSpot-Signature-v3", truncated),
                ("X-HubSpot-Request-Timestamp", timestamp.clone()),
            ];
            let (status, _, answer) = app
                .send(request("/hooks/hubspot", &headers, body.clone()))
                .await;
            assert_refused(status, &answer, StatusCode::UNAUTHORIZED);
        }
        assert_nothing_written(&app).await;
        app
    })
    .await;
}

#[tokio::test]
async fn a_non_numeric_hubspot_timestamp_is_refused() {
    for_each_backend(|app| async move {
        let body = mixed_batch();
        for timestamp in ["yesterday", "1767603600000.0", "-1767603600000"] {
            let signature = hubspot_signature(
                HUBSPOT_SECRET,
                &format!("{PUBLIC_URL}/hooks/hubspot"),
                &body,
                timestamp,
            );
            let headers = [
                ("X-HubSpot-Signature-v3", signature),
                ("X-HubSpot-Request-Timestamp", timestamp.to_owned()),
            ];
            let (status, _, answer) = app
                .send(request("/hooks/hubspot", &headers, body.clone()))
                .await;
            assert_refused(status, &answer, StatusCode::UNAUTHORIZED);
        }
        assert_nothing_written(&app).await;
        app
    })
    .await;
}

#[tokio::test]
async fn a_hubspot_batch_of_more_than_a_hundred_events_is_refused() {
    for_each_backend(|app| async move {
        let events: Vec<Value> = (0..101)
            .map(|i| hubspot_event(i, "deal.creation", json!({})))
            .collect();
        let (status, _, body) = app
            .send(hubspot(&app, &Value::Array(events).to_string()))
            .await;
        assert_refused(status, &body, StatusCode::BAD_REQUEST);
        assert_nothing_written(&app).await;
        app
    })
    .await;
}

#[tokio::test]
async fn a_signed_hubspot_body_that_is_not_json_is_refused() {
    for_each_backend(|app| async move {
        let (status, _, body) = app.send(hubspot(&app, "[{\"eventId\": 1,")).await;
        assert_refused(status, &body, StatusCode::BAD_REQUEST);
        let (status, _, body) = app
            .send(hubspot(&app, "{'example_field':'example_value'}"))
            .await;
        assert_refused(status, &body, StatusCode::BAD_REQUEST);
        assert_nothing_written(&app).await;
        app
    })
    .await;
}

#[tokio::test]
async fn hubspot_events_missing_fields_are_named_by_index_and_field() {
    for_each_backend(|app| async move {
        let mut incomplete = hubspot_event(2, "deal.creation", json!({}));
        incomplete.as_object_mut().unwrap().remove("portalId");
        incomplete.as_object_mut().unwrap().remove("occurredAt");
        let batch = json!([hubspot_event(1, "deal.creation", json!({})), incomplete]).to_string();
        let (status, _, body) = app.send(hubspot(&app, &batch)).await;
        assert_refused(status, &body, StatusCode::BAD_REQUEST);
        assert_eq!(places(&body), ["[1].portalId", "[1].occurredAt"]);
        assert_nothing_written(&app).await;
        app
    })
    .await;
}

#[tokio::test]
async fn an_oversized_hook_body_is_refused_with_413() {
    for_each_backend(|app| async move {
        let big = format!("[{}]", "0,".repeat(600_000) + "0");
        for path in ["/hooks/hubspot", "/hooks/pipedrive", "/hooks/deals"] {
            let (status, _, body) = app
                .send(request(
                    path,
                    &[pipedrive_auth(PIPEDRIVE_AUTH)],
                    big.clone(),
                ))
                .await;
            assert_refused(status, &body, StatusCode::PAYLOAD_TOO_LARGE);
        }
        assert_nothing_written(&app).await;
        app
    })
    .await;
}

#[tokio::test]
async fn a_hook_without_its_secret_is_not_found() {
    for_each_backend(|mut app| async move {
        app.reconfigure(|state| {
            state.hooks = HookSecrets {
                public_url: PUBLIC_URL.to_owned(),
                ..HookSecrets::default()
            }
        });
        let (status, _, body) = app.send(hubspot(&app, &mixed_batch())).await;
        assert_refused(status, &body, StatusCode::NOT_FOUND);
        assert_eq!(body["error"]["code"], "not_found");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("ONBOARD_HUBSPOT_CLIENT_SECRET"),
            "{body}"
        );
        let (status, _, _) = app.send(pipedrive(&pipedrive_v2("won", "open"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _, _) = app.send(deals(&app, "msg_1", &won_deal_payload())).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_nothing_written(&app).await;
        app
    })
    .await;
}

// Pipedrive

#[tokio::test]
async fn a_pipedrive_v2_deal_that_became_won_is_one_deal_won_event() {
    for_each_backend(|app| async move {
        let (status, _, body) = app.send(pipedrive(&pipedrive_v2("won", "open"))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({"accepted": 1, "duplicates": 0, "ignored": 0}));
        let events = app.all_events("&type=deal.won").await;
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event["id"], "pipedrive-123:deal:746:won");
        assert_eq!(event["account"], "pipedrive-123-company-2");
        assert_eq!(event["at"], "2026-01-05T08:59:58Z");
        assert_eq!(
            event["data"],
            json!({"source": "pipedrive", "tenant": "123", "deal_id": "746", "deal_name": "ACME – Pro",
                "account": {"name": "ACME – Pro", "crm_id": "2"}, "amount": 12000.0, "contacts": []})
        );
        app
    })
    .await;
}

#[tokio::test]
async fn with_pipedrives_api_a_won_deal_is_logged_raw_and_its_fetch_queued() {
    for db in onboard_store::testing::TestDatabase::all().await {
        // Nothing listens there: the fetch fails as a transient error and waits in the queue.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let mut config = onboard_engine::EngineConfig::new("test-node", "https://onboard.test");
        config.pipedrive = Some(onboard_engine::PipedriveSettings {
            api_base: format!("http://127.0.0.1:{port}"),
            api_token: "pd-token".to_owned(),
        });
        let (_, source) = example_program();
        let app = app_with_config(&db, source, T0, config).await;

        let (status, _, body) = app.send(pipedrive(&pipedrive_v2("won", "open"))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({"accepted": 1, "duplicates": 0, "ignored": 0}));
        let (_, _, body) = app.send(pipedrive(&pipedrive_v2("won", "open"))).await;
        assert_eq!(body, json!({"accepted": 0, "duplicates": 1, "ignored": 0}));
        let raw = app.all_events("&type=pipedrive.deal").await;
        assert_eq!(raw.len(), 1);
        assert_eq!(raw[0]["id"], "pipedrive:123:746:2f0e8a1c-uuid");
        assert_eq!(raw[0]["account"], "pipedrive-company-123");
        assert_eq!(raw[0]["at"], "2026-01-05T08:59:58Z");

        app.engine.settle().await.unwrap();
        assert!(app.all_events("&type=deal.won").await.is_empty());
        let (_, messages) = app.get("/api/messages?account=pipedrive-company-123").await;
        let fetch = &messages["messages"][0];
        assert_eq!(fetch["channel"], "pipedrive", "{messages}");
        assert_eq!(fetch["status"], "queued", "{messages}");
        app.assert_settled().await;
        drop(app);
        db.finish().await;
    }
}

#[tokio::test]
async fn a_redelivered_pipedrive_webhook_is_a_duplicate() {
    for_each_backend(|app| async move {
        app.send(pipedrive(&pipedrive_v2("won", "open"))).await;
        let (status, _, body) = app.send(pipedrive(&pipedrive_v2("won", "open"))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({"accepted": 0, "duplicates": 1, "ignored": 0}));
        assert_eq!(app.all_events("&type=deal.won").await.len(), 1);
        app
    })
    .await;
}

#[tokio::test]
async fn a_pipedrive_v2_change_to_lost_is_ignored() {
    for_each_backend(|app| async move {
        let (status, _, body) = app.send(pipedrive(&pipedrive_v2("lost", "open"))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({"accepted": 0, "duplicates": 0, "ignored": 1}));
        let (_, _, body) = app.send(pipedrive(&pipedrive_v2("won", "won"))).await;
        assert_eq!(body["ignored"], 1);
        assert_nothing_written(&app).await;
        app
    })
    .await;
}

#[tokio::test]
async fn a_pipedrive_v1_deal_that_became_won_is_accepted() {
    for_each_backend(|app| async move {
        let body = json!({"v": 1, "event": "updated.deal", "retry": 0,
            "meta": {"v": 1, "action": "updated", "object": "deal", "id": 746, "company_id": 123,
                     "user_id": 456, "host": "acme.pipedrive.com", "timestamp": 1767603500},
            "current": {"id": 746, "title": "ACME – Pro", "status": "won", "value": 12000, "org_id": 2,
                        "org_name": "ACME", "person_name": "Ada Lovelace",
                        "person_id": {"value": 3, "name": "Ada Lovelace",
                                      "email": [{"value": "ada@acme.example", "primary": true}]}},
            "previous": {"id": 746, "title": "ACME – Pro", "status": "open"}})
        .to_string();
        let (status, _, answer) = app.send(pipedrive(&body)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["accepted"], 1);
        let events = app.all_events("&type=deal.won").await;
        assert_eq!(events[0]["account"], "pipedrive-123-company-2");
        assert_eq!(events[0]["data"]["account"]["name"], "ACME");
        assert_eq!(events[0]["data"]["contacts"][0]["email"], "ada@acme.example");
        app
    })
    .await;
}

#[tokio::test]
async fn pipedrive_without_the_right_credentials_is_refused_with_a_basic_challenge() {
    for_each_backend(|app| async move {
        let body = pipedrive_v2("won", "open");
        for headers in [
            vec![],
            vec![pipedrive_auth("pipedrive:wrong")],
            vec![("authorization", format!("Bearer {PIPEDRIVE_AUTH}"))],
            vec![("authorization", "Basic not-base64!".to_owned())],
        ] {
            let (status, response_headers, answer) = app
                .send(request("/hooks/pipedrive", &headers, body.clone()))
                .await;
            assert_refused(status, &answer, StatusCode::UNAUTHORIZED);
            assert_eq!(
                response_headers["www-authenticate"],
                r#"Basic realm="onboard""#
            );
        }
        assert_nothing_written(&app).await;
        app
    })
    .await;
}

// Generic deals (Standard Webhooks)

#[tokio::test]
async fn a_signed_won_deal_becomes_a_deal_won_event_for_its_domain() {
    for_each_backend(|app| async move {
        let (status, _, body) = app
            .send(deals(&app, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", &won_deal_payload()))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({"accepted": 1, "duplicates": 0, "ignored": 0}));
        let events = app.all_events("&type=deal.won").await;
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(event["account"], "acme.example");
        assert_eq!(event["id"], "deals:deal:D-1001:won");
        assert_eq!(event["at"], "2026-01-05T08:59:00Z");
        assert_eq!(
            event["data"],
            json!({"source": "deals", "deal_id": "D-1001", "deal_name": "ACME – Pro",
                "account": {"name": "ACME", "domain": "acme.example", "crm_id": "c-77"},
                "owner_email": "tom@pipeflow.example", "seats": 25, "plan": "pro", "amount": 12000.0,
                "contacts": [{"email": "ada@acme.example", "name": "Ada Lovelace",
                    "title": "IT Administrator", "crm_id": "p-1", "properties": {"team": "platform"}}]})
        );
        app
    })
    .await;
}

#[tokio::test]
async fn the_same_deals_webhook_delivered_again_is_a_duplicate() {
    for_each_backend(|app| async move {
        app.send(deals(&app, "msg_1", &won_deal_payload())).await;
        app.set_wall_clock(app.wall_clock() + 5_000);
        let (status, _, body) = app.send(deals(&app, "msg_1", &won_deal_payload())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({"accepted": 0, "duplicates": 1, "ignored": 0}));
        assert_eq!(app.all_events("&type=deal.won").await.len(), 1);
        app
    })
    .await;
}

#[tokio::test]
async fn deals_webhooks_of_other_types_are_ignored() {
    for_each_backend(|app| async move {
        let body = json!({"type": "deal.lost", "timestamp": "2026-01-05T08:59:00Z", "data": {}})
            .to_string();
        let (status, _, answer) = app.send(deals(&app, "msg_2", &body)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(
            answer,
            json!({"accepted": 0, "duplicates": 0, "ignored": 1})
        );
        assert_nothing_written(&app).await;
        app
    })
    .await;
}

#[tokio::test]
async fn a_deals_signature_among_several_passes_when_one_v1_entry_matches() {
    for_each_backend(|app| async move {
        let body = won_deal_payload();
        let timestamp = (app.wall_clock() / 1000).to_string();
        let old = deals_signature(b"the previous secret", "msg_3", &timestamp, &body);
        let good = deals_signature(&deals_key(), "msg_3", &timestamp, &body);
        let header = format!("v1a,hnO3f9T8Aa== {old} {good}");
        let (status, _, answer) = app
            .send(deals_with(
                Some("msg_3"),
                Some(&timestamp),
                Some(&header),
                &body,
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        app
    })
    .await;
}

/// A case's name, then its `webhook-id`, `webhook-timestamp` and `webhook-signature`.
type PitfallCase = (
    &'static str,
    Option<&'static str>,
    Option<String>,
    Option<String>,
);

#[tokio::test]
async fn every_deals_signature_pitfall_is_refused_and_writes_nothing() {
    for_each_backend(|app| async move {
        let body = won_deal_payload();
        let now = app.wall_clock() / 1000;
        let ts = now.to_string();
        let good = deals_signature(&deals_key(), "msg_4", &ts, &body);
        let tag = B64.decode(&good[3..]).unwrap();
        let signed_at = |at: i64| deals_signature(&deals_key(), "msg_4", &at.to_string(), &body);
        let cases: Vec<PitfallCase> = vec![
            (
                "empty",
                Some("msg_4"),
                Some(ts.clone()),
                Some("v1,".to_owned()),
            ),
            (
                "truncated",
                Some("msg_4"),
                Some(ts.clone()),
                Some(good[..14].to_owned()),
            ),
            (
                "31 bytes",
                Some("msg_4"),
                Some(ts.clone()),
                Some(format!("v1,{}", B64.encode(&tag[..31]))),
            ),
            (
                "v1a only",
                Some("msg_4"),
                Some(ts.clone()),
                Some(good.replacen("v1,", "v1a,", 1)),
            ),
            (
                "wrong secret",
                Some("msg_4"),
                Some(ts.clone()),
                Some(deals_signature(b"another key", "msg_4", &ts, &body)),
            ),
            (
                "other id",
                Some("msg_5"),
                Some(ts.clone()),
                Some(good.clone()),
            ),
            ("no id", None, Some(ts.clone()), Some(good.clone())),
            ("no timestamp", Some("msg_4"), None, Some(good.clone())),
            ("no signature", Some("msg_4"), Some(ts.clone()), None),
            (
                "301 s old",
                Some("msg_4"),
                Some((now - 301).to_string()),
                Some(signed_at(now - 301)),
            ),
            (
                "301 s ahead",
                Some("msg_4"),
                Some((now + 301).to_string()),
                Some(signed_at(now + 301)),
            ),
            (
                "non-numeric",
                Some("msg_4"),
                Some("soon".to_owned()),
                Some(good.clone()),
            ),
        ];
        for (case, id, timestamp, signature) in cases {
            let (status, _, answer) = app
                .send(deals_with(
                    id,
                    timestamp.as_deref(),
                    signature.as_deref(),
                    &body,
                ))
                .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{case}: {answer}");
            assert_refused(status, &answer, StatusCode::UNAUTHORIZED);
        }
        assert_nothing_written(&app).await;
        app
    })
    .await;
}

#[tokio::test]
async fn a_deals_payload_with_bad_fields_is_refused_listing_every_field() {
    for_each_backend(|app| async move {
        let body = json!({"type": "deal.won", "data": {
            "deal": {"name": "no id", "seats": "many"},
            "account": {"domain": "acme.example"},
            "contacts": [{"email": "ada@acme.example"}, {"email": "not an email"}, {"name": "Bob"}]}})
        .to_string();
        let (status, _, answer) = app.send(deals(&app, "msg_6", &body)).await;
        assert_refused(status, &answer, StatusCode::BAD_REQUEST);
        assert_eq!(
            places(&answer),
            [
                "data.deal.id",
                "data.deal.seats",
                "data.account.name",
                "data.contacts[1].email",
                "data.contacts[2].email"
            ]
        );
        let (status, _, answer) = app.send(deals(&app, "msg_7", "{\"type\": ")).await;
        assert_refused(status, &answer, StatusCode::BAD_REQUEST);
        assert_nothing_written(&app).await;
        app
    })
    .await;
}
