//! The kickoff brief through the API: after a won deal, people complete Academy modules and
//! sign in, and `GET …/projects/{project}/tasks/kickoff/brief` shows who did what; unknown
//! accounts, projects and tasks answer 404 and a task that is not a kickoff 422, each with
//! the common JSON error.

use crate::harness::{for_each_backend, App};
use axum::http::StatusCode;
use serde_json::{json, Value};

/// Acme wins with an admin (Ann), an executive (Eve) and an end user (Uma), and its
/// onboarding project launches; returns the project's id.
async fn onboarding(app: &App) -> String {
    let deal = json!({
        "id": "d1",
        "type": "deal.won",
        "account": "acme",
        "data": {
            "account_name": "Acme Inc.",
            "contacts": [
                {"email": "ann@acme.test", "name": "Ann Lee", "persona": "admin"},
                {"email": "eve@acme.test", "name": "Eve Stone", "persona": "executive"},
                {"email": "uma@acme.test", "name": "Uma Park", "persona": "end_user"},
            ]
        }
    });
    let (status, body) = app.post("/api/events", &deal.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.advance("1s").await;
    let (status, body) = app.get("/api/accounts/acme/projects").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["projects"][0]["id"].as_str().unwrap().to_owned()
}

async fn post_event(app: &App, id: &str, kind: &str, data: Value) {
    let event = json!({ "id": id, "type": kind, "account": "acme", "data": data });
    let (status, body) = app.post("/api/events", &event.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn attendee<'a>(brief: &'a Value, email: &str) -> &'a Value {
    brief["attendees"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == email)
        .unwrap_or_else(|| panic!("{email} is not in {brief}"))
}

#[tokio::test]
async fn the_kickoff_brief_shows_which_attendees_completed_which_prerequisites() {
    for_each_backend(|app| async move {
        let project = onboarding(&app).await;
        post_event(
            &app,
            "ann-login",
            "academy.login",
            json!({ "email": "ann@acme.test" }),
        )
        .await;
        for (id, module) in [("ann-m1", "01-welcome"), ("ann-m2", "02-invite-your-team")] {
            post_event(
                &app,
                id,
                "module.completed",
                json!({ "email": "ann@acme.test", "module": module }),
            )
            .await;
        }
        post_event(
            &app,
            "eve-login",
            "academy.login",
            json!({ "email": "eve@acme.test" }),
        )
        .await;
        app.advance("1h").await;

        let (status, brief) = app
            .get(&format!(
                "/api/accounts/acme/projects/{project}/tasks/kickoff/brief"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{brief}");
        assert_eq!(brief["task"], "kickoff");
        assert_eq!(brief["title"], "Kickoff call");
        assert_eq!(brief["attendee_personas"], json!(["admin", "executive"]));
        let emails: Vec<&str> = brief["attendees"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["email"].as_str().unwrap())
            .collect();
        assert_eq!(emails, ["ann@acme.test", "eve@acme.test"]);

        let ann = attendee(&brief, "ann@acme.test");
        assert_eq!(ann["readiness"], "ready");
        assert_eq!(
            (ann["n_done"].as_u64(), ann["n_total"].as_u64()),
            (Some(2), Some(2))
        );
        assert_eq!(ann["modules"][0]["slug"], "01-welcome");
        assert_eq!(ann["modules"][0]["done"], true);
        assert_eq!(ann["modules"][0]["completed_at"], "2026-01-05T09:00:01Z");
        assert_eq!(ann["signed_in"], true);

        let eve = attendee(&brief, "eve@acme.test");
        assert_eq!(eve["readiness"], "not_started");
        assert_eq!(eve["modules"][0]["slug"], "01-what-pipeflow-tells-you");
        assert_eq!(eve["modules"][0]["done"], false);
        assert_eq!(eve["modules"][0]["completed_at"], Value::Null);
        assert_eq!(eve["last_sign_in_at"], "2026-01-05T09:00:01Z");

        assert_eq!(
            brief["summary"],
            json!({ "n_attendees": 2, "n_ready": 1, "n_partly": 0, "n_not_started": 1 })
        );
        let points = brief["talking_points"].as_array().unwrap();
        assert_eq!(points.len(), 3, "{points:?}");
        assert!(
            points[0]
                .as_str()
                .unwrap()
                .starts_with("Ann finished every prerequisite"),
            "{points:?}"
        );
        app
    })
    .await;
}

#[tokio::test]
async fn the_brief_of_an_unknown_account_project_or_task_is_not_found() {
    for_each_backend(|app| async move {
        let project = onboarding(&app).await;
        for (path, message) in [
            (
                format!("/api/accounts/nope/projects/{project}/tasks/kickoff/brief"),
                "no account `nope`".to_owned(),
            ),
            (
                "/api/accounts/acme/projects/prj_nope/tasks/kickoff/brief".to_owned(),
                "no project `prj_nope` at account `acme`".to_owned(),
            ),
            (
                format!("/api/accounts/acme/projects/{project}/tasks/nope/brief"),
                format!("no task `nope` in project `{project}`"),
            ),
        ] {
            let (status, body) = app.get(&path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
            assert_eq!(body["error"]["code"], "not_found", "{body}");
            assert_eq!(body["error"]["message"], message.as_str(), "{body}");
        }
        app
    })
    .await;
}

#[tokio::test]
async fn the_brief_of_a_task_that_is_not_a_kickoff_is_refused() {
    for_each_backend(|app| async move {
        let project = onboarding(&app).await;
        let (status, body) = app
            .get(&format!(
                "/api/accounts/acme/projects/{project}/tasks/import-data/brief"
            ))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "invalid", "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("`import-data` of project"),
            "{body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("is not a kickoff task"),
            "{body}"
        );
        app
    })
    .await;
}

#[tokio::test]
async fn the_brief_needs_the_admin_token() {
    for_each_backend(|app| async move {
        let project = onboarding(&app).await;
        let request = axum::http::Request::get(format!(
            "/api/accounts/acme/projects/{project}/tasks/kickoff/brief"
        ))
        .body(axum::body::Body::empty())
        .unwrap();
        let (status, _, body) = app.send(request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"]["code"], "unauthorized");
        app
    })
    .await;
}
