//! Liveness, readiness and metrics.

use crate::harness::{deal_won, for_each_backend};
use axum::http::{Method, StatusCode};

#[tokio::test]
async fn health_and_readiness_answer_without_a_token() {
    for_each_backend(|app| async move {
        let (status, body) = app.call_with(Method::GET, "/healthz", None, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["status"], "ok");
        let (status, body) = app.call_with(Method::GET, "/readyz", None, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["database"], app.backend);
        app
    })
    .await;
}

#[tokio::test]
async fn metrics_show_backlog_timers_and_outbox() {
    for_each_backend(|app| async move {
        app.post("/api/events", &deal_won("d1", "acme")).await;
        app.advance("1s").await;
        let (status, bytes) = app.raw(Method::GET, "/metrics", None, None).await;
        assert_eq!(status, StatusCode::OK);
        let text = String::from_utf8(bytes).unwrap();
        for name in [
            "onboard_events_unprocessed 0",
            "onboard_timers_pending",
            "onboard_timers_due 0",
            "onboard_outbox_queued 0",
            "onboard_outbox_dead 0",
        ] {
            assert!(text.contains(name), "{name} missing in:\n{text}");
        }
        app
    })
    .await;
}
