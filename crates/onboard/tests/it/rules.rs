//! Rules of the example program end to end on the manual clock: the timed `no-login-nudge`
//! ("72h after deal.won, unless academy.login", held while the account is paused), and the
//! `enrol` and `set` actions of
//! `admin-next-journey` and `executive-engaged`.

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
async fn a_reminder_due_while_the_account_is_paused_is_sent_when_it_resumes() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = ServerConfig::new(data.path(), &db).start().await;
        let mut deal = deal_won("acme");
        deal["at"] = json!(START);
        server.post_events(&deal).await;
        server.advance("24h").await;
        server
            .post_events(&json!({ "id": "pause-1", "type": "account.paused", "account": "acme" }))
            .await;

        // The reminder comes due at 72h while the account is paused: held, nothing sent.
        server.advance("76h").await;
        assert!(server.messages_of_rule("acme", RULE).await.is_empty());
        let last = outcomes(&server, "acme").await;
        assert_eq!(last.last().map(String::as_str), Some("skipped"), "{last:?}");

        server
            .post_events(&json!({ "id": "resume-1", "type": "account.resumed", "account": "acme" }))
            .await;
        server.advance("1s").await;
        let reminders = server.messages_of_rule("acme", RULE).await;
        assert_eq!(reminders.len(), 1, "{reminders:#?}");
        assert_eq!(
            reminders[0]["created_at"], "2026-01-09T13:00:00Z",
            "at the resume"
        );
        assert_eq!(
            outcomes(&server, "acme").await.last().map(String::as_str),
            Some("fired")
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

/// `module.completed` events for `email`, one per module of `modules`, keyed by `prefix`.
fn completions(email: &str, journey: &str, modules: &[&str], prefix: &str) -> serde_json::Value {
    let events: Vec<_> = modules
        .iter()
        .map(|module| {
            json!({
                "id": format!("{prefix}-{module}"),
                "type": "module.completed",
                "account": "acme",
                "data": { "email": email, "journey": journey, "module": module },
            })
        })
        .collect();
    json!(events)
}

/// The account's person with `email`.
fn person_of(account: &serde_json::Value, email: &str) -> serde_json::Value {
    account["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["email"] == email)
        .unwrap_or_else(|| panic!("no {email} in {account:#}"))
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_who_finishes_the_admin_essentials_is_enrolled_in_everyday_selling() {
    const RULE: &str = "admin-next-journey";
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = ServerConfig::new(data.path(), &db).start().await;
        server.post_events(&deal_won("acme")).await;
        server.advance("1h").await;
        let ada = admin_email("acme");
        let account = server.get("/api/accounts/acme").await;
        assert_eq!(person_of(&account, &ada)["journey"], "admin-essentials");

        let core = [
            "01-welcome",
            "02-invite-your-team",
            "03-configure-your-pipeline",
            "04-import-your-data",
        ];
        server
            .post_events(&completions(&ada, "admin-essentials", &core, "ada"))
            .await;
        server.advance("1h").await;

        let account = server.get("/api/accounts/acme").await;
        let person = person_of(&account, &ada);
        assert_eq!(person["journey"], "everyday-selling", "{person:#}");
        assert_eq!(
            person["modules_completed"]["admin-essentials"]
                .as_object()
                .map(|m| m.len()),
            Some(4),
            "the finished admin modules stay on record: {person:#}"
        );
        assert!(person["journeys_completed"]["admin-essentials"].is_number());

        let enrolled = server.events("type=person.enrolled&account=acme").await;
        let moved: Vec<_> = enrolled
            .iter()
            .filter(|e| e["data"]["rule"] == RULE)
            .collect();
        assert_eq!(moved.len(), 1, "{enrolled:#?}");
        assert_eq!(moved[0]["data"]["email"], ada.as_str());
        assert_eq!(moved[0]["data"]["journey"], "everyday-selling");
        assert_eq!(moved[0]["data"]["previous_journey"], "admin-essentials");

        let traces = server.traces("acme", RULE).await;
        assert_eq!(traces.len(), 1, "{traces:#?}");
        assert_eq!(traces[0]["outcome"], "fired");
        let reason = text(&traces[0]["reason"]);
        assert!(
            reason.contains(&format!(
                "enrol {ada} in `everyday-selling` (was in `admin-essentials`)"
            )),
            "{reason}"
        );
        let sent = server.messages_of_rule("acme", RULE).await;
        assert_eq!(sent.len(), 1, "{sent:#?}");
        assert_eq!(sent[0]["to"]["email"], ada.as_str());
        // Ada was welcomed at the deal; the welcome rule runs once per person.
        assert_eq!(
            server.messages_of_rule("acme", "welcome-email").await.len(),
            1
        );

        // Learning goes on in the new journey.
        server
            .post_events(&completions(
                &ada,
                "everyday-selling",
                &["01-your-first-day"],
                "ada-sell",
            ))
            .await;
        server.advance("1h").await;
        let account = server.get("/api/accounts/acme").await;
        let person = person_of(&account, &ada);
        assert!(
            person["modules_completed"]["everyday-selling"]["01-your-first-day"].is_number(),
            "{person:#}"
        );
        server.assert_settled(0).await;

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executive_who_finishes_their_journey_sets_the_account_field_once() {
    const RULE: &str = "executive-engaged";
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = ServerConfig::new(data.path(), &db).start().await;
        let mut deal = deal_won("acme");
        deal["data"]["contacts"]
            .as_array_mut()
            .unwrap()
            .push(json!({
                "email": "eve@acme.example",
                "name": "Eve Exec",
                "title": "VP Sales",
                "persona": "executive",
            }));
        server.post_events(&deal).await;
        server.advance("1h").await;
        let account = server.get("/api/accounts/acme").await;
        assert!(account.get("fields").is_none(), "no field yet: {account:#}");

        let core = [
            "01-what-pipeflow-tells-you",
            "02-dashboards",
            "03-forecasting",
        ];
        server
            .post_events(&completions(
                "eve@acme.example",
                "executive-insights",
                &core,
                "eve",
            ))
            .await;
        server.advance("1h").await;

        let account = server.get("/api/accounts/acme").await;
        assert_eq!(account["fields"], json!({ "exec_engaged": true }));
        let eve = person_of(&account, "eve@acme.example");
        assert_eq!(eve["properties"]["academy_completed"], "executive-insights");

        let set = server.events("type=field.set&account=acme").await;
        assert_eq!(set.len(), 2, "{set:#?}");
        let field = set
            .iter()
            .find(|e| e["data"]["target"] == "account.fields")
            .expect("the account field's announcement");
        assert_eq!(field["data"]["name"], "exec_engaged");
        assert_eq!(field["data"]["value"], true);
        assert_eq!(field["data"]["previous"], serde_json::Value::Null);
        let property = set
            .iter()
            .find(|e| e["data"]["target"] == "person.properties")
            .expect("the person property's announcement");
        assert_eq!(property["data"]["email"], "eve@acme.example");
        assert_eq!(property["data"]["value"], "executive-insights");

        let traces = server.traces("acme", RULE).await;
        assert_eq!(traces.len(), 1, "{traces:#?}");
        assert_eq!(traces[0]["outcome"], "fired");
        assert_eq!(
            traces[0]["reason"],
            "set account.fields.exec_engaged = true (was unset); set person.properties.academy_completed = \"executive-insights\" for eve@acme.example (was unset)"
        );
        // Setting fields contacts nobody.
        assert!(server.messages_of_rule("acme", RULE).await.is_empty());
        server.assert_settled(0).await;

        drop(server);
        db.finish().await;
    }
}
