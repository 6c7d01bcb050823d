//! `POST /api/events` and `GET /api/events`.

use crate::harness::{deal_won, for_each_backend};
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn an_event_is_acknowledged_with_its_position_in_the_log() {
    for_each_backend(|app| async move {
        let (status, body) = app.post("/api/events", &deal_won("d1", "acme")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "new");
        assert_eq!(body["id"], "d1");
        assert!(body["seq"].as_i64().unwrap() > 0);
        app
    })
    .await;
}

#[tokio::test]
async fn a_redelivered_event_is_accepted_and_changes_nothing() {
    for_each_backend(|app| async move {
        let (_, first) = app.post("/api/events", &deal_won("d1", "acme")).await;
        app.advance("1s").await;
        let messages_before = app.get("/api/messages").await.1["messages"]
            .as_array()
            .unwrap()
            .len();
        let (status, second) = app.post("/api/events", &deal_won("d1", "acme")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(second["status"], "duplicate");
        assert_eq!(second["seq"], first["seq"]);
        app.advance("1s").await;
        assert_eq!(app.all_events("&type=deal.won").await.len(), 1);
        let messages_after = app.get("/api/messages").await.1["messages"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(messages_before, messages_after);
        app
    })
    .await;
}

#[tokio::test]
async fn an_array_of_events_is_appended_in_one_go_with_duplicates_reported() {
    for_each_backend(|app| async move {
        let body = json!([
            {"id": "a", "type": "usage.ping", "account": "acme"},
            {"id": "b", "type": "usage.ping", "account": "acme"},
            {"id": "a", "type": "usage.ping", "account": "acme"},
        ])
        .to_string();
        let (status, body) = app.post("/api/events", &body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["accepted"], 2);
        assert_eq!(body["duplicates"], 1);
        let results = body["results"].as_array().unwrap();
        assert_eq!(results[2]["status"], "duplicate");
        assert_eq!(results[2]["seq"], results[0]["seq"]);
        app.advance("1s").await;
        app
    })
    .await;
}

#[tokio::test]
async fn events_are_listed_by_account_type_and_time_in_pages() {
    for_each_backend(|app| async move {
        for i in 0..5 {
            let event = json!({"id": format!("p{i}"), "type": "usage.ping", "account": "acme",
                "at": format!("2026-01-0{}T00:00:00Z", i + 1)});
            app.post("/api/events", &event.to_string()).await;
        }
        app.post(
            "/api/events",
            &json!({"id": "o1", "type": "usage.ping", "account": "other"}).to_string(),
        )
        .await;
        app.post(
            "/api/events",
            &json!({"id": "x1", "type": "other.thing", "account": "acme"}).to_string(),
        )
        .await;
        app.advance("1s").await;

        let (_, page1) = app
            .get("/api/events?account=acme&type=usage.ping&limit=2")
            .await;
        let ids: Vec<&str> = page1["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["p0", "p1"]);
        let next = page1["next"].as_str().unwrap();
        let (_, page2) = app
            .get(&format!(
                "/api/events?account=acme&type=usage.ping&limit=2&after={next}"
            ))
            .await;
        let ids: Vec<&str> = page2["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["p2", "p3"]);

        let (_, window) = app
            .get("/api/events?account=acme&from=2026-01-02T00:00:00Z&until=2026-01-04T00:00:00Z")
            .await;
        let ids: Vec<&str> = window["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["p1", "p2"]);
        assert!(window["next"].is_null());
        app
    })
    .await;
}

#[tokio::test]
async fn a_processed_event_shows_when_it_was_processed() {
    for_each_backend(|app| async move {
        app.post("/api/events", &deal_won("d1", "acme")).await;
        app.advance("1s").await;
        let events = app.all_events("&type=deal.won").await;
        assert_eq!(events.len(), 1);
        assert!(events[0]["processed_at"].is_string(), "{}", events[0]);
        assert_eq!(events[0]["data"]["account_name"], "acme Inc.");
        app
    })
    .await;
}

#[tokio::test]
async fn a_won_deal_creates_the_account_with_its_people_and_csm() {
    for_each_backend(|app| async move {
        app.post("/api/events", &deal_won("d1", "acme")).await;
        app.advance("1s").await;
        let (status, account) = app.get("/api/accounts/acme").await;
        assert_eq!(status, StatusCode::OK, "{account}");
        assert_eq!(account["name"], "acme Inc.");
        assert_eq!(account["status"], "active");
        assert_eq!(account["people"][0]["email"], "ann@acme.test");
        assert!(account["csm"]
            .as_str()
            .unwrap()
            .ends_with("@pipeflow.example"));
        assert_eq!(account["program_version"], app.engine.program().version.0);
        app
    })
    .await;
}
