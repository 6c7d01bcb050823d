//! The manual clock: `GET /api/clock`, `POST /api/clock/advance`.

use crate::harness::{deal_won, for_each_backend, T0};
use axum::http::StatusCode;

#[tokio::test]
async fn the_clock_tells_its_time_and_mode() {
    for_each_backend(|app| async move {
        let (status, body) = app.get("/api/clock").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["now"], T0);
        assert_eq!(body["mode"], "manual");
        app
    })
    .await;
}

#[tokio::test]
async fn the_clock_moves_by_a_duration_or_to_a_time() {
    for_each_backend(|app| async move {
        let body = app.advance("72h").await;
        assert_eq!(body["now"], "2026-01-08T09:00:00Z");
        let (status, body) = app
            .post("/api/clock/advance", r#"{"to": "2026-02-01T00:00:00Z"}"#)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["now"], "2026-02-01T00:00:00Z");
        app
    })
    .await;
}

#[tokio::test]
async fn the_clock_never_moves_back() {
    for_each_backend(|app| async move {
        let (status, body) = app
            .post("/api/clock/advance", r#"{"to": "2020-01-01T00:00:00Z"}"#)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["details"][0]["at"], "/to");
        assert_eq!(app.get("/api/clock").await.1["now"], T0);
        app
    })
    .await;
}

#[tokio::test]
async fn an_advance_returns_with_every_due_timer_fired_at_its_own_time() {
    for_each_backend(|app| async move {
        app.post("/api/events", &deal_won("d1", "acme")).await;
        let body = app.advance("27d").await;
        assert!(
            body["settled"]["timers_fired"].as_u64().unwrap() >= 2,
            "{body}"
        );
        let fired = app.all_events("&type=timer.fired").await;
        assert!(!fired.is_empty());
        let deal_at = onboard_core::Timestamp::parse_rfc3339(T0).unwrap();
        for event in &fired {
            // Each timer fired at its due time, within the advance (a timer due at its very
            // end fires then).
            let at = onboard_core::Timestamp::parse_rfc3339(event["at"].as_str().unwrap()).unwrap();
            assert!(
                at > deal_at && at <= deal_at.plus(onboard_core::Duration::parse("27d").unwrap())
            );
            assert!(event["processed_at"].is_string(), "{event}");
        }
        let (_, traces) = app.get("/api/accounts/acme/traces").await;
        let reminder = traces["traces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["rule"] == "no-login-nudge" && t["outcome"] == "fired")
            .expect("the no-login reminder fired");
        assert_eq!(reminder["at"], "2026-01-08T09:00:00Z");
        app
    })
    .await;
}

#[tokio::test]
async fn an_absence_rule_is_cancelled_by_the_awaited_event() {
    for_each_backend(|app| async move {
        app.post("/api/events", &deal_won("d1", "acme")).await;
        app.advance("10h").await;
        app.post(
            "/api/events",
            r#"{"id": "l1", "type": "academy.login", "account": "acme", "data": {"email": "ann@acme.test"}}"#,
        )
        .await;
        app.advance("5d").await;
        let (_, messages) = app.get("/api/messages?account=acme").await;
        assert!(
            messages["messages"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["rule"] != "no-login-nudge"),
            "{messages}"
        );
        let (_, traces) = app.get("/api/accounts/acme/traces").await;
        assert!(traces["traces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["rule"] == "no-login-nudge" && t["outcome"] == "cancelled"));
        app
    })
    .await;
}

#[tokio::test]
async fn a_churned_account_leaves_every_rule() {
    for_each_backend(|app| async move {
        app.post("/api/events", &deal_won("d1", "acme")).await;
        app.advance("1h").await;
        app.post(
            "/api/events",
            r#"{"id": "c1", "type": "account.churned", "account": "acme"}"#,
        )
        .await;
        app.advance("30d").await;
        let (_, messages) = app.get("/api/messages?account=acme").await;
        assert!(messages["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["rule"] != "no-login-nudge" && m["rule"] != "stalled-account-csm"));
        assert!(app
            .all_events("&type=timer.fired&account=acme")
            .await
            .is_empty());
        app
    })
    .await;
}

/// The times at which messages of `rule` were decided.
async fn decided_at(app: &crate::harness::App, rule: &str) -> Vec<String> {
    let (_, messages) = app.get("/api/messages?account=acme&limit=500").await;
    let mut times: Vec<String> = messages["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["rule"] == rule)
        .map(|m| m["created_at"].as_str().unwrap().to_owned())
        .collect();
    times.sort();
    times
}

#[tokio::test]
async fn a_stalled_account_reminds_its_csm_every_week_until_usage_starts() {
    for_each_backend(|app| async move {
        app.post("/api/events", &deal_won("d1", "acme")).await;
        app.advance("22d").await;
        assert_eq!(
            decided_at(&app, "stalled-account-csm").await,
            [
                "2026-01-12T09:00:00Z",
                "2026-01-19T09:00:00Z",
                "2026-01-26T09:00:00Z"
            ]
        );
        app.post(
            "/api/events",
            r#"{"id": "u1", "type": "product.track", "account": "acme"}"#,
        )
        .await;
        app.advance("30d").await;
        assert_eq!(decided_at(&app, "stalled-account-csm").await.len(), 3);
        app
    })
    .await;
}

#[tokio::test]
async fn a_person_who_has_not_signed_in_after_72_hours_alone_gets_a_reminder_from_their_csm() {
    for_each_backend(|app| async move {
        app.post(
            "/api/events",
            r#"{"id": "d1", "type": "deal.won", "account": "acme", "data": {
                "account_name": "Acme", "contacts": [
                    {"email": "ann@acme.test", "name": "Ann Lee", "persona": "admin"},
                    {"email": "bob@acme.test", "name": "Bob Roe", "persona": "end_user"}]}}"#,
        )
        .await;
        app.advance("10h").await;
        app.post(
            "/api/events",
            r#"{"id": "l1", "type": "academy.login", "account": "acme", "data": {"email": "ann@acme.test"}}"#,
        )
        .await;
        app.advance("3d").await;
        let (_, account) = app.get("/api/accounts/acme").await;
        let (_, messages) = app.get("/api/messages?account=acme").await;
        let reminders: Vec<&serde_json::Value> = messages["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["rule"] == "no-login-nudge")
            .collect();
        assert_eq!(reminders.len(), 1, "{messages}");
        assert_eq!(reminders[0]["to"]["email"], "bob@acme.test");
        assert_eq!(reminders[0]["from"]["email"], account["csm"], "from the CSM");
        app
    })
    .await;
}
