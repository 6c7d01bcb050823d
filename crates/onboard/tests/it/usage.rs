//! Product usage end to end on the manual clock: product events posted to `/api/events`
//! become the account's Aha, time to value, milestones and usage health, read from
//! `GET /api/accounts/{id}/health` and `GET /api/ttv`; health decays as the clock moves on.

use crate::support::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const EVE: &str = "eve@acme.example";

/// A won deal for `acme` with four seats, its admin and an end user.
fn acme_won() -> Value {
    json!({
        "id": "deal-acme",
        "type": "deal.won",
        "account": "acme",
        "data": {
            "account_name": "Acme Inc.",
            "deal_id": "D-1",
            "seats": 4,
            "csm": CSM_EMAIL,
            "contacts": [
                { "email": admin_email("acme"), "name": "Ada Admin", "persona": "admin" },
                { "email": EVE, "name": "Eve Seller", "persona": "end_user" },
            ],
        },
    })
}

/// A product event by Eve's product user.
fn eve_tracks(id: &str, name: &str) -> Value {
    json!({
        "id": id,
        "type": "product.track",
        "account": "acme",
        "data": { "user": "u-eve", "email": EVE, "event": name, "properties": {} },
    })
}

/// The group named `name` of a `/api/ttv` answer.
fn group<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == name)
        .unwrap_or_else(|| panic!("no group {name} in {report}"))
}

/// The health answer has exactly the fields its OpenAPI schema documents.
async fn assert_documented(api: &Api, health: &Value) {
    let document = api.get("/api/openapi.json").await;
    let reference = text(
        &document["paths"]["/api/accounts/{id}/health"]["get"]["responses"]["200"]["content"]
            ["application/json"]["schema"]["$ref"],
    );
    let name = reference.rsplit('/').next().unwrap();
    let documented: BTreeSet<&String> = document["components"]["schemas"][name]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    let answered: BTreeSet<&String> = health.as_object().unwrap().keys().collect();
    assert_eq!(answered, documented);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_aha_gives_time_to_value_and_health_decays_when_usage_stops() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = ServerConfig::new(data.path(), &db).start().await;
        let mut deal = acme_won();
        deal["at"] = json!(START);
        server.post_events(&deal).await;
        server.advance("30h").await;
        server
            .post_events(&json!([
                eve_tracks("t1", "Pipeline Created"),
                eve_tracks("t2", "Lead Imported"),
            ]))
            .await;
        server.advance("1h").await;
        server.post_events(&eve_tracks("t3", "Lead Imported")).await;
        server.advance("1s").await;

        let aha = server.events("type=aha.reached&account=acme").await;
        assert_eq!(aha.len(), 1, "{aha:#?}");
        assert_eq!(aha[0]["data"]["email"], EVE);

        let health = server.get("/api/accounts/acme/health").await;
        assert_eq!(health["aha"]["event"], "Lead Imported");
        assert_eq!(health["aha"]["persona"], "end_user");
        assert_eq!(health["aha"]["ttv_hours"], 30.0);
        assert_eq!(health["active_users"], 1);
        assert_eq!(health["seats"], 4);
        assert_eq!(health["window_days"], 35);
        let lead = &health["features"][0];
        assert_eq!(lead["feature"], "Lead Imported");
        assert_eq!(
            (lead["users"].clone(), lead["share"].clone()),
            (json!(1), json!(1.0))
        );
        assert_eq!(
            health["reasons"][0],
            "1 of 4 seats active in the last 35 days (25 %)"
        );
        let eve = health["people"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["email"] == EVE)
            .unwrap();
        assert_eq!(eve["aha_at"], "2026-01-06T15:00:00Z");
        assert_eq!(eve["last_active_at"], "2026-01-06T16:00:00Z");
        let reached: Vec<&str> = eve["milestones"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| !m["reached_at"].is_null())
            .map(|m| m["milestone"].as_str().unwrap())
            .collect();
        assert_eq!(reached, ["Pipeline Created", "Lead Imported"]);
        assert_documented(&server, &health).await;
        let told = server.messages_of_rule("acme", "aha-reached-csm").await;
        assert_eq!(told.len(), 1, "{told:#?}");
        assert_eq!(told[0]["to"]["email"], CSM_EMAIL);
        let milestones = server.events("type=usage.milestone&account=acme").await;
        assert_eq!(milestones.len(), 2, "{milestones:#?}");

        let by_persona = server.get("/api/ttv?by=persona").await;
        assert_eq!(by_persona["overall"]["reached"], 1);
        assert_eq!(group(&by_persona, "end_user")["p50_hours"], 30.0);
        assert_eq!(group(&by_persona, "admin")["not_yet"], 1);
        let by_cohort = server.get("/api/ttv?by=cohort&cohort=month").await;
        assert_eq!(group(&by_cohort, "2026-01")["reached"], 1);

        // Nothing more from the product: five weeks on, nobody is active.
        server.advance("36d").await;
        let later = server.get("/api/accounts/acme/health").await;
        assert_eq!(later["active_users"], 0);
        assert_eq!(later["band"], "poor");
        assert_eq!(
            later["reasons"][0],
            "0 of 4 seats active in the last 35 days (0 %)"
        );
        assert!(later["score"].as_u64().unwrap() < health["score"].as_u64().unwrap());

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_time_to_value_refuse_bad_requests_with_the_error_shape() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = ServerConfig::new(data.path(), &db).start().await;
        let client = &server.client;
        for (path, status) in [
            ("/api/accounts/nobody/health", 404),
            ("/api/ttv?by=plan", 400),
            ("/api/ttv?by=cohort&cohort=week", 400),
            ("/api/ttv?group=persona", 400),
        ] {
            let response = client
                .get(server.url(path))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), status, "{path}");
            let body: Value = response.json().await.unwrap();
            assert!(body["error"]["code"].is_string(), "{path}: {body}");
            assert!(body["error"]["message"].is_string(), "{path}: {body}");
        }
        let response = client.get(server.url("/api/ttv")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401);
        let empty = server.get("/api/ttv").await;
        assert_eq!(empty["by"], "persona");
        assert_eq!(empty["overall"]["reached"], 0);
        assert!(empty["overall"]["p50_hours"].is_null());

        drop(server);
        db.finish().await;
    }
}
