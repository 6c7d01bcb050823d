//! The outbox through the API: messages with their state and attempts, and the
//! development mailbox.

use crate::harness::{deal_won, for_each_backend};
use axum::http::{Method, StatusCode};

#[tokio::test]
async fn a_decided_email_is_delivered_to_the_mailbox_with_its_message_id() {
    for_each_backend(|app| async move {
        app.post("/api/events", &deal_won("d1", "acme")).await;
        app.advance("1s").await;
        let (status, body) = app.get("/api/messages?account=acme").await;
        assert_eq!(status, StatusCode::OK);
        let welcome = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["rule"] == "welcome-email")
            .expect("a welcome email")
            .clone();
        assert_eq!(welcome["status"], "delivered");
        assert_eq!(welcome["attempts"], 1);
        assert_eq!(welcome["attempt_log"][0]["outcome"], "delivered");
        assert_eq!(welcome["to"]["email"], "ann@acme.test");
        // The personal sign-in link is made at delivery; the outbox keeps its place.
        assert_eq!(welcome["sign_in_for"], "ann@acme.test");
        assert!(welcome["body"]
            .as_str()
            .unwrap()
            .contains("%ONBOARD_SIGN_IN_URL%"));

        let (_, mailbox) = app.get("/api/mailbox").await;
        let email = mailbox["emails"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["message_id"] == welcome["message_id"])
            .expect("the email is in the mailbox")
            .clone();
        let (status, raw) = app
            .raw(
                Method::GET,
                &format!("/api/mailbox/{}", email["file"].as_str().unwrap()),
                None,
                Some(crate::harness::TOKEN),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let raw = String::from_utf8(raw).unwrap();
        assert!(
            raw.contains(&format!(
                "Message-ID: {}",
                welcome["message_id"].as_str().unwrap()
            )),
            "{raw}"
        );
        app
    })
    .await;
}

#[tokio::test]
async fn a_message_is_shown_whole_by_its_id() {
    for_each_backend(|app| async move {
        app.post("/api/events", &deal_won("d1", "acme")).await;
        app.advance("1s").await;
        let (_, list) = app.get("/api/messages?limit=1").await;
        let id = list["messages"][0]["id"].as_str().unwrap().to_owned();
        assert!(list["next"].is_string());
        let (status, one) = app.get(&format!("/api/messages/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(one["id"], id.as_str());
        let (status, body) = app.post(&format!("/api/messages/{id}/retry"), "").await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "only dead messages can be retried: {body}"
        );
        app
    })
    .await;
}

#[tokio::test]
async fn mailbox_files_outside_the_mailbox_cannot_be_read() {
    for_each_backend(|app| async move {
        for name in ["..%2F..%2Fetc%2Fpasswd", "..", ".hidden.eml", "x.txt"] {
            let (status, _) = app.get(&format!("/api/mailbox/{name}")).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{name}");
        }
        app
    })
    .await;
}
