//! Accounts through the API: the list with its cursor, one account with its people and
//! timeline, and a persona changed by hand, which moves the person to another journey.

use crate::harness::{deal_won, for_each_backend};
use axum::http::{Method, StatusCode};

#[tokio::test]
async fn accounts_are_listed_in_id_order_page_by_page() {
    for_each_backend(|app| async move {
        for (id, account) in [("d1", "globex"), ("d2", "acme"), ("d3", "initech")] {
            app.post("/api/events", &deal_won(id, account)).await;
        }
        app.advance("1s").await;

        let (status, first) = app.get("/api/accounts?limit=2").await;
        assert_eq!(status, StatusCode::OK, "{first}");
        let ids: Vec<&str> = first["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["acme", "globex"]);
        assert_eq!(first["accounts"][0]["people"], 1);
        assert_eq!(first["next_after"], "globex");
        let (_, rest) = app.get("/api/accounts?limit=2&after=globex").await;
        assert_eq!(rest["accounts"][0]["id"], "initech");
        assert!(rest["next_after"].is_null());
        app
    })
    .await;
}

#[tokio::test]
async fn an_account_shows_its_people_and_a_timeline_of_events_and_messages() {
    for_each_backend(|app| async move {
        app.post("/api/events", &deal_won("d1", "acme")).await;
        app.advance("1s").await;
        let (status, account) = app.get("/api/accounts/acme").await;
        assert_eq!(status, StatusCode::OK, "{account}");
        let ann = &account["people"][0];
        assert_eq!(ann["email"], "ann@acme.test");
        assert_eq!(ann["persona"], "admin");
        assert_eq!(ann["journey"], "admin-essentials");
        let kinds: Vec<&str> = account["timeline"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert!(kinds.contains(&"deal.won"), "{kinds:?}");
        assert!(kinds.contains(&"person.enrolled"), "{kinds:?}");
        assert!(account["timeline"]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["rule"] == "welcome-email"));
        app
    })
    .await;
}

#[tokio::test]
async fn a_persona_set_by_hand_moves_the_person_to_its_journey() {
    for_each_backend(|app| async move {
        app.post("/api/events", &deal_won("d1", "acme")).await;
        app.advance("1s").await;
        let (status, answer) = app
            .call(
                Method::PUT,
                "/api/accounts/acme/people/Ann@acme.test/persona",
                Some(r#"{"persona": "executive"}"#),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        app.advance("1s").await;
        let (_, account) = app.get("/api/accounts/acme").await;
        let ann = &account["people"][0];
        assert_eq!(ann["persona"], "executive");
        assert_eq!(ann["persona_source"], "manual");
        assert_eq!(ann["journey"], "executive-insights");
        app
    })
    .await;
}

#[tokio::test]
async fn an_unknown_persona_or_person_is_refused_and_changes_nothing() {
    for_each_backend(|app| async move {
        app.post("/api/events", &deal_won("d1", "acme")).await;
        app.advance("1s").await;
        let (_, before) = app.get("/api/events").await;

        let (status, error) = app
            .call(
                Method::PUT,
                "/api/accounts/acme/people/ann@acme.test/persona",
                Some(r#"{"persona": "wizard"}"#),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert_eq!(error["error"]["details"][0]["at"], "persona");
        let (status, _) = app
            .call(
                Method::PUT,
                "/api/accounts/acme/people/nobody@acme.test/persona",
                Some(r#"{"persona": "admin"}"#),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app
            .call(
                Method::PUT,
                "/api/accounts/nowhere/people/ann@acme.test/persona",
                Some(r#"{"persona": "admin"}"#),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let (_, after) = app.get("/api/events").await;
        assert_eq!(before, after, "nothing was written");
        app
    })
    .await;
}

#[tokio::test]
async fn the_trace_says_where_every_rule_stands_for_an_account() {
    for_each_backend(|app| async move {
        app.post("/api/events", &deal_won("d1", "acme")).await;
        app.advance("1s").await;
        let (status, trace) = app.get("/api/accounts/acme/trace").await;
        assert_eq!(status, StatusCode::OK, "{trace}");
        let rules = trace["rules"].as_array().expect("rules");
        assert_eq!(rules.len(), app.engine.program().rules.len());
        let rule = |name: &str| {
            rules
                .iter()
                .find(|r| r["rule"] == name)
                .unwrap_or_else(|| panic!("no rule {name} in {trace}"))
                .clone()
        };
        let welcome = rule("welcome-email");
        assert_eq!(welcome["status"], "fired", "{welcome}");
        assert_eq!(welcome["runs"], 1);
        assert_eq!(welcome["trigger"], "on person.enrolled");
        let nudge = rule("no-login-nudge");
        assert_eq!(nudge["status"], "scheduled", "{nudge}");
        assert!(nudge["why"]
            .as_str()
            .unwrap()
            .starts_with("timer pending until "));
        assert_eq!(nudge["pending"].as_array().map(Vec::len), Some(1));
        let celebration = rule("milestone-celebration");
        assert_eq!(celebration["status"], "waiting", "{celebration}");

        let (status, missing) = app.get("/api/accounts/nobody/trace").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
        app
    })
    .await;
}

#[tokio::test]
async fn a_power_user_alerts_sales_once_until_someone_closes_the_alert() {
    for_each_backend(|app| async move {
        app.post(
            "/api/events",
            r#"{"id": "d1", "type": "deal.won", "account": "acme", "data": {
                "deal_id": "42", "account_name": "Acme", "contacts": [
                    {"email": "ann@acme.test", "name": "Ann Lee", "persona": "admin"}]}}"#,
        )
        .await;
        app.advance("2h").await;
        let done = |n: u32| {
            format!(
                r#"{{"id": "j{n}", "type": "journey.completed", "account": "acme", "data": {{"email": "ann@acme.test"}}}}"#
            )
        };
        app.post("/api/events", &done(1)).await;
        app.advance("1h").await;
        app.post("/api/events", &done(2)).await;
        app.advance("1h").await;
        let (status, list) = app.get("/api/accounts/acme/alerts").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let alerts = list["alerts"].as_array().unwrap();
        assert_eq!(alerts.len(), 1, "{list}");
        assert_eq!(alerts[0]["channel"], "sales");
        assert_eq!(alerts[0]["status"], "open");
        assert_eq!(alerts[0]["count"], 2, "the second firing updated it");
        let (_, messages) = app.get("/api/messages?account=acme").await;
        let posts = messages["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["rule"] == "power-user-sales")
            .count();
        assert_eq!(posts, 1, "posted once: {messages}");

        let path = format!(
            "/api/accounts/acme/alerts/{}/close",
            alerts[0]["id"].as_str().unwrap()
        );
        let (status, body) = app.post(&path, "{}").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        app.advance("1s").await;
        let (_, list) = app.get("/api/accounts/acme/alerts").await;
        assert_eq!(list["alerts"][0]["status"], "closed", "{list}");
        let (status, _) = app.post(&path, "{}").await;
        assert_eq!(status, StatusCode::CONFLICT);
        let (status, _) = app.post("/api/accounts/acme/alerts/nope/close", "{}").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        app
    })
    .await;
}
