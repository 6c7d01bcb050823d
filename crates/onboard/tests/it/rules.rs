//! Timed rules on the manual clock: the example program's `no-login-nudge` ("72h after
//! deal.won, unless academy.login").

use crate::support::*;
use serde_json::json;

const RULE: &str = "no-login-nudge";

/// The outcomes of the rule's traces for `account`, oldest first.
async fn outcomes(api: &Api, account: &str) -> Vec<String> {
    api.traces(account, RULE)
        .await
        .iter()
        .map(|t| text(&t["outcome"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_no_login_reminder_fires_72_hours_later_at_its_hour() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = ServerConfig::new(data.path(), &db).start().await;
        let mut deal = deal_won("acme");
        deal["at"] = json!(START);
        server.post_events(&deal).await;

        server.advance("71h").await;
        assert!(server.messages_of_rule("acme", RULE).await.is_empty());
        assert_eq!(outcomes(&server, "acme").await, ["scheduled"]);

        server.advance("1h").await;
        assert_eq!(server.now().await, "2026-01-08T09:00:00Z");
        let reminders = server.messages_of_rule("acme", RULE).await;
        assert_eq!(reminders.len(), 1, "{reminders:#?}");
        assert_eq!(reminders[0]["to"]["email"], admin_email("acme"));
        assert_eq!(reminders[0]["status"], "delivered");
        assert_eq!(reminders[0]["created_at"], "2026-01-08T09:00:00Z");
        assert_eq!(outcomes(&server, "acme").await, ["scheduled", "fired"]);
        let fired: Vec<_> = server
            .events("type=timer.fired&account=acme")
            .await
            .into_iter()
            .filter(|e| e["data"]["rule"] == RULE)
            .collect();
        assert_eq!(fired.len(), 1, "{fired:#?}");
        assert_eq!(fired[0]["at"], "2026-01-08T09:00:00Z", "deal time + 72h");
        server.assert_settled(0).await;

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_before_the_deadline_cancels_the_reminder() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = ServerConfig::new(data.path(), &db).start().await;
        server.post_events(&deal_won("acme")).await;
        server.advance("10h").await;
        server
            .post_events(&json!({
                "id": "login-1",
                "type": "academy.login",
                "account": "acme",
                "data": { "email": admin_email("acme") },
            }))
            .await;

        server.advance("80h").await;
        assert!(server.messages_of_rule("acme", RULE).await.is_empty());
        let outcomes = outcomes(&server, "acme").await;
        assert_eq!(outcomes.first().map(String::as_str), Some("scheduled"));
        assert!(
            outcomes[1..]
                .iter()
                .all(|o| o == "cancelled" || o == "skipped")
                && outcomes.len() > 1,
            "{outcomes:?}"
        );
        server.assert_settled(0).await;

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_jump_past_several_timers_fires_each_at_its_own_time() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = ServerConfig::new(data.path(), &db).start().await;
        let mut deal = deal_won("acme");
        deal["at"] = json!(START);
        server.post_events(&deal).await;

        server.advance("10d").await;
        for (rule, due) in [
            ("no-login-nudge", "2026-01-08T09:00:00Z"),
            ("admin-setup-reminder", "2026-01-10T09:00:00Z"),
            ("stalled-account-csm", "2026-01-12T09:00:00Z"),
        ] {
            let fired: Vec<_> = server
                .events("type=timer.fired&account=acme")
                .await
                .into_iter()
                .filter(|e| e["data"]["rule"] == rule)
                .collect();
            assert_eq!(fired.len(), 1, "{rule}: {fired:#?}");
            assert_eq!(fired[0]["at"], due, "{rule}");
            let sent = server.messages_of_rule("acme", rule).await;
            assert_eq!(sent.len(), 1, "{rule}: {sent:#?}");
            assert_eq!(sent[0]["created_at"], due, "{rule} decided at its own time");
        }
        server.assert_settled(0).await;

        drop(server);
        db.finish().await;
    }
}
