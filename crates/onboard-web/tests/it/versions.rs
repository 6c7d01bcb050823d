//! Program versions: a running onboarding keeps the program version it started with.

use crate::harness::{app, app_with_program, deal_won, example_program};
use onboard_store::testing::TestDatabase;

/// The example program with the welcome email's subject changed.
fn changed_program() -> onboard_core::program::ProgramSource {
    let (_, mut source) = example_program();
    let welcome = source
        .files
        .iter_mut()
        .find(|f| f.path == "messages/welcome.md")
        .unwrap();
    welcome.contents = welcome.contents.replace(
        "Welcome to Pipeflow, {{ account.name }}",
        "Your Pipeflow workspace is ready",
    );
    source
}

fn subjects(messages: &serde_json::Value, rule: &str) -> Vec<String> {
    messages["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["rule"] == rule)
        .map(|m| m["subject"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_account_keeps_the_program_version_it_started_with() {
    for db in TestDatabase::all().await {
        let old = app(&db).await;
        old.post("/api/events", &deal_won("d1", "acme")).await;
        old.advance("1s").await;
        let old_version = old.engine.program().version.0.clone();
        let clock = old.get("/api/clock").await.1["now"]
            .as_str()
            .unwrap()
            .to_owned();
        drop(old);

        // The server restarts with a changed program: a new version.
        let new = app_with_program(&db, changed_program(), &clock).await;
        assert_ne!(new.engine.program().version.0, old_version);
        // acme started under the old version and gains a contact; globex starts now.
        new.post(
            "/api/events",
            r#"{"id": "p2", "type": "person.added", "account": "acme",
                "data": {"email": "bo@acme.test", "name": "Bo", "persona": "admin"}}"#,
        )
        .await;
        new.post("/api/events", &deal_won("d2", "globex")).await;
        new.advance("1s").await;

        let (_, account) = new.get("/api/accounts/acme").await;
        assert_eq!(account["program_version"], old_version.as_str());
        let (_, globex) = new.get("/api/accounts/globex").await;
        assert_eq!(
            globex["program_version"],
            new.engine.program().version.0.as_str()
        );

        let (_, acme) = new.get("/api/messages?account=acme").await;
        // Ann's welcome, and Bo's: added later, still welcomed under the old version.
        assert_eq!(
            subjects(&acme, "welcome-email"),
            [
                "Welcome to Pipeflow, acme Inc.",
                "Welcome to Pipeflow, acme Inc."
            ]
        );
        let (_, globex) = new.get("/api/messages?account=globex").await;
        assert_eq!(
            subjects(&globex, "welcome-email"),
            ["Your Pipeflow workspace is ready"]
        );

        // The old version's timers still fire under it.
        new.advance("72h").await;
        let (_, acme) = new.get("/api/messages?account=acme").await;
        assert_eq!(subjects(&acme, "no-login-nudge").len(), 2, "{acme}");
        new.engine.settle().await.unwrap();
        new.assert_settled().await;
        drop(new);
        db.finish().await;
    }
}
