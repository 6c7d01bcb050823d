//! Email delivery through a real SMTP server: the welcome email, retries while the server is
//! down, the dead letter and the retry by hand. The Message-ID never changes.

use crate::support::*;
use serde_json::Value;

/// The one welcome email of `account` in the outbox.
async fn welcome(api: &Api, account: &str) -> Value {
    let mut welcome = api.messages_of_rule(account, "welcome-email").await;
    assert_eq!(welcome.len(), 1, "one welcome email: {welcome:#?}");
    welcome.pop().unwrap()
}

fn outcomes(message: &Value) -> Vec<String> {
    message["attempt_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| text(&a["outcome"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_won_deal_sends_welcome_emails_through_a_real_smtp_server() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let smtp = Smtp::start().await;
        let server = ServerConfig::new(data.path(), &db)
            .smtp(&smtp.url())
            .start()
            .await;

        server.post_events(&deal_won("acme")).await;
        server.advance("1s").await;

        let message = welcome(&server, "acme").await;
        assert_eq!(message["status"], "delivered", "{message:#}");
        assert_eq!(message["attempts"], 1, "{message:#}");
        assert_eq!(outcomes(&message), ["delivered"], "{message:#}");
        let message_id = text(&message["message_id"]);
        let email = smtp.wait_for(&message_id).await;
        let from = email.header("From").unwrap();
        assert!(
            from.contains(CSM_EMAIL) && from.contains(CSM_NAME),
            "From: {from}"
        );
        let to = email.header("To").unwrap();
        assert!(to.contains(&admin_email("acme")), "To: {to}");
        assert_eq!(email.header("Subject"), message["subject"].as_str());
        assert!(email.body.contains("Hi Ada Admin,"), "{}", email.body);
        assert_eq!(
            smtp.emails_with_id(&message_id).len(),
            1,
            "delivered exactly once"
        );
        server.assert_settled(0).await;

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_survives_an_smtp_server_that_is_down() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let port = free_port();
        let server = ServerConfig::new(data.path(), &db)
            .smtp(&format!("smtp://127.0.0.1:{port}"))
            .start()
            .await;

        server.post_events(&deal_won("acme")).await;
        server.advance("1s").await;
        let failed = welcome(&server, "acme").await;
        assert_eq!(failed["status"], "queued", "{failed:#}");
        assert_eq!(failed["attempts"], 1, "{failed:#}");
        assert!(failed["last_error"].is_string(), "{failed:#}");
        assert!(failed["next_attempt_at"].is_string(), "{failed:#}");
        assert_eq!(outcomes(&failed), ["failed"], "{failed:#}");

        let smtp = Smtp::start_on(port).await;
        server.advance("1h").await;
        let delivered = server.message(&text(&failed["id"])).await;
        assert_eq!(delivered["status"], "delivered", "{delivered:#}");
        assert_eq!(delivered["message_id"], failed["message_id"]);
        assert_eq!(
            outcomes(&delivered),
            ["failed", "delivered"],
            "{delivered:#}"
        );
        let message_id = text(&delivered["message_id"]);
        smtp.wait_for(&message_id).await;
        assert_eq!(smtp.emails_with_id(&message_id).len(), 1);
        server.assert_settled(0).await;

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_dead_after_the_last_retry_and_can_be_retried_by_hand() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let port = free_port();
        let server = ServerConfig::new(data.path(), &db)
            .smtp(&format!("smtp://127.0.0.1:{port}"))
            .start()
            .await;

        server.post_events(&deal_won("acme")).await;
        server.advance("1s").await;
        let id = text(&welcome(&server, "acme").await["id"]);
        // Backoff is at most 4 h + 20 %: every 6-hour step makes one more attempt.
        let mut dead = None;
        for _ in 0..20 {
            server.advance("6h").await;
            let message = server.message(&id).await;
            if message["status"] == "dead" {
                dead = Some(message);
                break;
            }
            assert_eq!(message["status"], "queued", "{message:#}");
        }
        let dead = dead.expect("the message is dead after 20 six-hour steps");
        assert_eq!(dead["attempts"], 15, "max_attempts is 15: {dead:#}");
        assert!(dead["last_error"].is_string(), "{dead:#}");
        let log = outcomes(&dead);
        assert_eq!(log.len(), 15, "{dead:#}");
        assert!(log[..14].iter().all(|o| o == "failed"), "{log:?}");
        assert_eq!(log[14], "dead");
        let listed = server.messages("status=dead").await;
        assert!(
            listed.iter().any(|m| m["id"] == id.as_str()),
            "GET /api/messages?status=dead lists it: {listed:#?}"
        );

        let smtp = Smtp::start_on(port).await;
        let retried = server
            .post(&format!("/api/messages/{id}/retry"), &serde_json::json!({}))
            .await;
        assert_ne!(retried["status"], "dead", "{retried:#}");
        server.advance("1s").await;
        let delivered = server.message(&id).await;
        assert_eq!(delivered["status"], "delivered", "{delivered:#}");
        assert_eq!(delivered["message_id"], dead["message_id"]);
        assert_eq!(outcomes(&delivered).last().unwrap(), "delivered");
        let message_id = text(&delivered["message_id"]);
        smtp.wait_for(&message_id).await;
        assert_eq!(smtp.emails_with_id(&message_id).len(), 1);

        drop(server);
        db.finish().await;
    }
}
