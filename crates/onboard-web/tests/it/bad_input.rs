//! Bad input of every kind gets a 4xx JSON error that says what and where, and writes
//! nothing.

use crate::harness::{deal_won, for_each_backend, App};
use axum::http::{Method, StatusCode};
use proptest::prelude::*;
use serde_json::json;

/// The error body has the common shape.
fn assert_error(status: StatusCode, body: &serde_json::Value, expected: StatusCode) {
    assert_eq!(status, expected, "{body}");
    assert!(body["error"]["code"].is_string(), "{body}");
    assert!(
        !body["error"]["message"].as_str().unwrap().is_empty(),
        "{body}"
    );
}

async fn n_events(app: &App) -> usize {
    app.all_events("").await.len()
}

#[tokio::test]
async fn malformed_json_is_refused_with_its_position() {
    for_each_backend(|app| async move {
        let (status, body) = app.post("/api/events", r#"{"id": "a", "type": "#).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST);
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("line 1"),
            "{body}"
        );
        let (status, body) = app.post("/api/events", "").await;
        assert_error(status, &body, StatusCode::BAD_REQUEST);
        assert_eq!(n_events(&app).await, 0);
        app
    })
    .await;
}

#[tokio::test]
async fn wrong_types_and_missing_fields_are_named_with_their_place() {
    for_each_backend(|app| async move {
        let (status, body) = app
            .post(
                "/api/events",
                r#"{"id": 5, "account": "acme", "at": "noon", "data": []}"#,
            )
            .await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        let places: Vec<&str> = body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["at"].as_str().unwrap())
            .collect();
        assert_eq!(places.len(), 4, "{body}");
        for place in ["/id", "/type", "/at", "/data"] {
            assert!(places.contains(&place), "{place} in {places:?}");
        }
        assert_eq!(n_events(&app).await, 0);
        app
    })
    .await;
}

#[tokio::test]
async fn one_bad_event_in_an_array_writes_none_of_them() {
    for_each_backend(|app| async move {
        let body = json!([
            {"id": "ok1", "type": "usage.ping", "account": "acme"},
            {"id": "bad", "type": "Not A Type", "account": "acme"},
        ]);
        let (status, body) = app.post("/api/events", &body.to_string()).await;
        assert_error(status, &body, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["details"][0]["at"], "/1/type");
        assert_eq!(n_events(&app).await, 0);
        app
    })
    .await;
}

#[tokio::test]
async fn oversized_bodies_and_batches_are_refused() {
    for_each_backend(|app| async move {
        let huge = format!(
            r#"{{"id": "a", "type": "x", "account": "acme", "data": {{"blob": "{}"}}}}"#,
            "x".repeat(5 * 1024 * 1024)
        );
        let (status, body) = app.post("/api/events", &huge).await;
        assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE);
        let many: Vec<_> = (0..1001)
            .map(|i| json!({"id": format!("e{i}"), "type": "x", "account": "a"}))
            .collect();
        let (status, body) = app.post("/api/events", &json!(many).to_string()).await;
        assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE);
        let big_advance = format!(r#"{{"by": "{}"}}"#, "1".repeat(100 * 1024));
        let (status, body) = app.post("/api/clock/advance", &big_advance).await;
        assert_error(status, &body, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(n_events(&app).await, 0);
        app
    })
    .await;
}

#[tokio::test]
async fn requests_without_the_right_token_are_refused() {
    for_each_backend(|app| async move {
        for token in [None, Some("wrong"), Some("")] {
            let (status, body) = app
                .call_with(
                    Method::POST,
                    "/api/events",
                    Some(&deal_won("d1", "acme")),
                    token,
                )
                .await;
            assert_error(status, &body, StatusCode::UNAUTHORIZED);
            let (status, body) = app
                .call_with(Method::GET, "/api/messages", None, token)
                .await;
            assert_error(status, &body, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(n_events(&app).await, 0);
        app
    })
    .await;
}

#[tokio::test]
async fn bad_query_parameters_are_named() {
    for_each_backend(|app| async move {
        for (path, word) in [
            ("/api/events?limit=0", "limit"),
            ("/api/events?limit=abc", "limit"),
            ("/api/events?from=yesterday", "from"),
            ("/api/events?colour=red", "colour"),
            ("/api/events?after=-4", "after"),
            ("/api/messages?status=lost", "status"),
            ("/api/messages?before=nonsense", "before"),
            ("/api/events?account=%ZZ", "%ZZ"),
        ] {
            let (status, body) = app.get(path).await;
            assert_error(status, &body, StatusCode::BAD_REQUEST);
            assert!(
                body["error"]["message"].as_str().unwrap().contains(word),
                "{path}: {body}"
            );
        }
        app
    })
    .await;
}

#[tokio::test]
async fn bad_clock_moves_are_refused_and_the_clock_stays() {
    for_each_backend(|app| async move {
        for body in [
            r#"{"by": "soon"}"#,
            r#"{"by": 72}"#,
            r#"{"by": "1h", "to": "2027-01-01T00:00:00Z"}"#,
            r#"{}"#,
            r#"[]"#,
            r#"{"by": "1h", "extra": 1}"#,
            r#"{"to": "2026-13-45T00:00:00Z"}"#,
        ] {
            let (status, response) = app.post("/api/clock/advance", body).await;
            assert_error(status, &response, StatusCode::UNPROCESSABLE_ENTITY);
        }
        assert_eq!(app.get("/api/clock").await.1["now"], crate::harness::T0);
        app
    })
    .await;
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json() {
    for_each_backend(|app| async move {
        let (status, body) = app.get("/api/nothing-here").await;
        assert_error(status, &body, StatusCode::NOT_FOUND);
        let (status, body) = app.call(Method::DELETE, "/api/events", None).await;
        assert_error(status, &body, StatusCode::METHOD_NOT_ALLOWED);
        let (status, body) = app.get("/api/messages/msg_missing").await;
        assert_error(status, &body, StatusCode::NOT_FOUND);
        let (status, body) = app.get("/api/accounts/missing").await;
        assert_error(status, &body, StatusCode::NOT_FOUND);
        app
    })
    .await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Random bytes at the intake never panic or fail with a 5xx, and are never half-written.
    #[test]
    fn random_bytes_at_the_intake_get_a_clear_answer(
        bodies in proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..300),
                "[\\[{\"a-z:, 0-9\\]}]{0,120}".prop_map(String::into_bytes),
                Just(br#"{"id":"x","type":"t","account":"a","data":{"k":[1,2,{"z":null}]}}"#.to_vec()),
            ],
            1..8,
        )
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let db = onboard_store::testing::TestDatabase::sqlite().unwrap();
            let app = crate::harness::app(&db).await;
            for body in bodies {
                let (status, bytes) = app.raw(Method::POST, "/api/events", Some(body), Some(crate::harness::TOKEN)).await;
                assert!(!status.is_server_error(), "{status}");
                let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                if status.is_client_error() {
                    assert!(json["error"]["message"].is_string());
                }
            }
            app.advance("1s").await;
            app.assert_settled().await;
        });
    }
}
