//! The kickoff brief end to end: the example program's `kickoff-brief-csm` rule emails the
//! CSM, through a real SMTP server, the day before the onboarding's kickoff call is due,
//! with each attendee's Academy progress and the talking points.

use crate::support::*;
use serde_json::json;

const RULE: &str = "kickoff-brief-csm";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_csm_gets_the_kickoff_brief_by_email_the_day_before_the_call() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let smtp = Smtp::start().await;
        let server = ServerConfig::new(data.path(), &db)
            .smtp(&smtp.url())
            .start()
            .await;
        let mut deal = deal_won("acme");
        deal["at"] = json!(START);
        deal["data"]["contacts"]
            .as_array_mut()
            .unwrap()
            .push(json!({
                "email": "eve@acme.example",
                "name": "Eve Stone",
                "title": "VP Sales",
                "persona": "executive",
            }));
        server.post_events(&deal).await;
        server.advance("1h").await;
        let ada = admin_email("acme");
        server
            .post_events(&json!([
                { "id": "ada-login", "type": "academy.login", "account": "acme",
                  "data": { "email": ada } },
                { "id": "ada-welcome", "type": "module.completed", "account": "acme",
                  "data": { "email": ada, "module": "01-welcome" } },
                { "id": "ada-invite", "type": "module.completed", "account": "acme",
                  "data": { "email": ada, "module": "02-invite-your-team" } },
            ]))
            .await;

        // The kickoff is due seven days after the deal (2026-01-12T09:00): nothing before
        // the day before.
        server.advance("5d").await;
        assert!(server.messages_of_rule("acme", RULE).await.is_empty());
        server.advance("23h").await;
        assert_eq!(server.now().await, "2026-01-11T09:00:00Z");

        let briefs = server.messages_of_rule("acme", RULE).await;
        assert_eq!(briefs.len(), 1, "{briefs:#?}");
        assert_eq!(briefs[0]["to"]["email"], CSM_EMAIL);
        assert_eq!(briefs[0]["created_at"], "2026-01-11T09:00:00Z");
        let email = smtp.wait_for(&text(&briefs[0]["message_id"])).await;
        assert_eq!(
            email.header("To").map(|to| to.contains(CSM_EMAIL)),
            Some(true)
        );
        assert!(
            email
                .header("Subject")
                .is_some_and(|s| s.contains("1 of 2 attendees ready")),
            "{:?}",
            email.header("Subject")
        );
        for expected in [
            "Ada Admin (admin, ada@acme.example)",
            "Prerequisites: 2 of 2 done, ready.",
            "[x] Invite your team, done 2026-01-05",
            "Eve Stone (executive, eve@acme.example)",
            "[ ] What Pipeflow tells you about your sales, not done",
            "Eve has not signed in to the Academy yet: send their sign-in link before the call",
        ] {
            assert!(
                email.body.contains(expected),
                "{expected:?} is not in the email:\n{}",
                email.body
            );
        }
        server.assert_settled(0).await;

        drop(server);
        db.finish().await;
    }
}
