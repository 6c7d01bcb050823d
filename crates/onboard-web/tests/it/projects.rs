//! Projects through the API: a won deal launches the example program's onboarding, tasks
//! change over the API and their dependants open, drafts wait for their launch, a project
//! completed by hand chains into the next and leaves the CSM a review task, and bad input is
//! refused with the common JSON error without writing anything.

use crate::harness::{deal_won, for_each_backend, App};
use axum::http::StatusCode;
use serde_json::Value;

/// The account's projects, as `GET …/projects` shows them.
async fn projects(app: &App, account: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/api/accounts/{account}/projects")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["projects"].as_array().unwrap().clone()
}

fn task<'a>(project: &'a Value, key: &str) -> &'a Value {
    project["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == key)
        .unwrap_or_else(|| panic!("no task {key} in {project}"))
}

/// Acme after a won deal, with its onboarding project's id.
async fn onboarding(app: &App) -> String {
    app.post("/api/events", &deal_won("d1", "acme")).await;
    app.advance("1s").await;
    projects(app, "acme").await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_won_deal_launches_the_onboarding_project() {
    for_each_backend(|app| async move {
        onboarding(&app).await;
        let projects = projects(&app, "acme").await;
        assert_eq!(projects.len(), 1);
        let project = &projects[0];
        assert_eq!(project["template"], "onboarding");
        assert_eq!(project["status"], "active");
        assert_eq!(project["launched_at"], "2026-01-05T09:00:00Z");
        assert_eq!(project["due_at"], "2026-02-19T09:00:00Z");
        assert_eq!(task(project, "kickoff")["status"], "open");
        assert_eq!(task(project, "kickoff")["due_at"], "2026-01-12T09:00:00Z");
        assert_eq!(task(project, "confirm-goals")["status"], "waiting");
        assert_eq!(task(project, "invite-users")["status"], "snoozed");
        assert_eq!(
            task(project, "invite-users")["unlock_at"],
            "2026-01-07T09:00:00Z"
        );
        let kinds: Vec<String> = app
            .all_events("&account=acme")
            .await
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect();
        assert!(kinds.contains(&"project.launched".to_owned()), "{kinds:?}");
        assert!(kinds.contains(&"task.unlocked".to_owned()), "{kinds:?}");
        app
    })
    .await;
}

#[tokio::test]
async fn completing_a_task_over_the_api_unlocks_the_next() {
    for_each_backend(|app| async move {
        let id = onboarding(&app).await;
        let (status, answer) = app
            .post(
                &format!("/api/accounts/acme/projects/{id}/tasks/kickoff/complete"),
                r#"{"by": "dana@pipeflow.example"}"#,
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        assert_eq!(answer["project"], id.as_str());
        app.advance("1s").await;

        let project = &projects(&app, "acme").await[0];
        assert_eq!(task(project, "kickoff")["status"], "done");
        assert_eq!(
            task(project, "kickoff")["completed_by"],
            "dana@pipeflow.example"
        );
        assert_eq!(task(project, "confirm-goals")["status"], "open");
        // Snoozed for two days: done dependencies do not open it early.
        assert_eq!(task(project, "invite-users")["status"], "snoozed");

        app.advance("2d").await;
        let project = &projects(&app, "acme").await[0];
        assert_eq!(task(project, "invite-users")["status"], "open");
        app
    })
    .await;
}

#[tokio::test]
async fn a_task_is_commented_reassigned_and_reopened_over_the_api() {
    for_each_backend(|app| async move {
        let id = onboarding(&app).await;
        let base = format!("/api/accounts/acme/projects/{id}/tasks/kickoff");
        for (path, body) in [
            (
                "comments",
                r#"{"author": "ann@acme.test", "text": "Tuesday works"}"#,
            ),
            ("reassign", r#"{"assignee": "marcus@pipeflow.example"}"#),
            ("complete", ""),
        ] {
            let (status, answer) = app.post(&format!("{base}/{path}"), body).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{path}: {answer}");
            app.advance("1s").await;
        }
        let (status, answer) = app.post(&format!("{base}/reopen"), "").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        app.advance("1s").await;

        let project = &projects(&app, "acme").await[0];
        let kickoff = task(project, "kickoff");
        assert_eq!(kickoff["status"], "open");
        assert_eq!(kickoff["assignee"], "marcus@pipeflow.example");
        assert_eq!(kickoff["comments"][0]["text"], "Tuesday works");
        assert_eq!(kickoff["comments"][0]["author"], "ann@acme.test");
        app
    })
    .await;
}

#[tokio::test]
async fn a_draft_project_waits_for_its_launch() {
    for_each_backend(|app| async move {
        onboarding(&app).await;
        let (status, answer) = app
            .post(
                "/api/accounts/acme/projects",
                r#"{"template": "adoption", "draft": true}"#,
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        let id = answer["project"].as_str().unwrap().to_owned();
        app.advance("1s").await;
        let draft = projects(&app, "acme")
            .await
            .into_iter()
            .find(|p| p["id"] == id.as_str())
            .unwrap();
        assert_eq!(draft["status"], "draft");
        assert!(draft["launched_at"].is_null());

        let (status, answer) = app
            .post(&format!("/api/accounts/acme/projects/{id}/launch"), "")
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        app.advance("1s").await;
        let launched = projects(&app, "acme")
            .await
            .into_iter()
            .find(|p| p["id"] == id.as_str())
            .unwrap();
        assert_eq!(launched["status"], "active");

        let (status, error) = app
            .post(&format!("/api/accounts/acme/projects/{id}/launch"), "")
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{error}");
        app
    })
    .await;
}

#[tokio::test]
async fn a_project_completed_by_hand_chains_into_the_next_and_asks_the_csm_for_a_review() {
    for_each_backend(|app| async move {
        let id = onboarding(&app).await;
        let (status, answer) = app
            .post(&format!("/api/accounts/acme/projects/{id}/complete"), "")
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        app.advance("1s").await;

        let projects = projects(&app, "acme").await;
        assert_eq!(projects[0]["status"], "completed");
        assert_eq!(projects[1]["template"], "adoption");
        assert_eq!(projects[1]["status"], "active");
        let (status, tasks) = app.get("/api/accounts/acme/tasks").await;
        assert_eq!(status, StatusCode::OK, "{tasks}");
        let review = &tasks["tasks"][0];
        assert_eq!(review["title"], "Review the onboarding outcome");
        assert_eq!(review["assignee_role"], "csm");
        assert_eq!(review["status"], "open");
        assert!(review["assignee_email"].is_string(), "{review}");
        app
    })
    .await;
}

#[tokio::test]
async fn bad_input_gets_a_json_error_and_writes_nothing() {
    for_each_backend(|app| async move {
        let id = onboarding(&app).await;
        let before = app.all_events("").await;
        let project = format!("/api/accounts/acme/projects/{id}");
        let cases: Vec<(String, &str, StatusCode, Option<&str>)> = vec![
            (
                "/api/accounts/nowhere/projects".into(),
                r#"{"template": "onboarding"}"#,
                StatusCode::NOT_FOUND,
                None,
            ),
            (
                "/api/accounts/acme/projects".into(),
                r#"{"template": "onbording"}"#,
                StatusCode::NOT_FOUND,
                None,
            ),
            (
                "/api/accounts/acme/projects".into(),
                r#"{"template": 3}"#,
                StatusCode::BAD_REQUEST,
                Some("template"),
            ),
            (
                "/api/accounts/acme/projects".into(),
                r#"{"template": "adoption", "draft": "yes"}"#,
                StatusCode::BAD_REQUEST,
                Some("draft"),
            ),
            (
                "/api/accounts/acme/projects".into(),
                r#"{"template": "adoption", "colour": "red"}"#,
                StatusCode::BAD_REQUEST,
                Some("colour"),
            ),
            (
                "/api/accounts/acme/projects".into(),
                "not json",
                StatusCode::BAD_REQUEST,
                None,
            ),
            (
                "/api/accounts/acme/projects/prj_missing/launch".into(),
                "",
                StatusCode::NOT_FOUND,
                None,
            ),
            (format!("{project}/launch"), "", StatusCode::CONFLICT, None),
            (
                format!("{project}/tasks/no-such-task/complete"),
                "",
                StatusCode::NOT_FOUND,
                None,
            ),
            (
                format!("{project}/tasks/kickoff/reopen"),
                "",
                StatusCode::CONFLICT,
                None,
            ),
            (
                format!("{project}/tasks/kickoff/reassign"),
                "{}",
                StatusCode::BAD_REQUEST,
                Some("assignee"),
            ),
            (
                format!("{project}/tasks/kickoff/comments"),
                r#"{"author": "ann@acme.test", "text": ""}"#,
                StatusCode::BAD_REQUEST,
                Some("text"),
            ),
            (
                format!("{project}/tasks/kickoff/complete"),
                r#"{"by": 7}"#,
                StatusCode::BAD_REQUEST,
                Some("by"),
            ),
        ];
        for (path, body, expected, field) in cases {
            let (status, error) = app.post(&path, body).await;
            assert_eq!(status, expected, "{path} {body}: {error}");
            assert!(error["error"]["code"].is_string(), "{path}: {error}");
            assert!(error["error"]["message"].is_string(), "{path}: {error}");
            if let Some(field) = field {
                assert_eq!(error["error"]["details"][0]["at"], field, "{path}: {error}");
            }
        }
        let (status, _) = app.get("/api/accounts/nowhere/projects").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app.get("/api/accounts/nowhere/tasks").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(app.all_events("").await, before, "nothing was written");
        app
    })
    .await;
}

#[tokio::test]
async fn a_churned_account_s_projects_take_no_changes() {
    for_each_backend(|app| async move {
        let id = onboarding(&app).await;
        let churn = r#"{"id": "churn-1", "type": "account.churned", "account": "acme"}"#;
        let (status, body) = app.post("/api/events", churn).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        app.advance("1s").await;
        let (status, error) = app
            .post(
                &format!("/api/accounts/acme/projects/{id}/tasks/kickoff/complete"),
                "",
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{error}");
        app
    })
    .await;
}

/// The account's messages of one rule, oldest first.
async fn sent_by(app: &App, rule: &str) -> Vec<Value> {
    let (_, body) = app.get("/api/messages?account=acme&limit=500").await;
    let mut sent: Vec<Value> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["rule"] == rule)
        .cloned()
        .collect();
    sent.sort_by(|a, b| a["created_at"].as_str().cmp(&b["created_at"].as_str()));
    sent
}

#[tokio::test]
async fn a_customer_task_reminds_its_assignee_when_it_opens_the_day_before_and_the_day_after_it_is_due(
) {
    for_each_backend(|app| async move {
        let project = onboarding(&app).await;
        let (status, body) = app
            .post(
                &format!("/api/accounts/acme/projects/{project}/tasks/kickoff/complete"),
                "{}",
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        app.advance("1s").await;
        let ready = sent_by(&app, "task-unlocked-customer").await;
        let confirm = ready
            .iter()
            .find(|m| m["subject"].as_str().unwrap_or("").contains("Confirm your"))
            .unwrap_or_else(|| panic!("no reminder for confirm-goals in {ready:#?}"));
        assert_eq!(
            confirm["to"]["email"], "ann@acme.test",
            "the admin it is assigned to"
        );

        // confirm-goals is due on day 10 (2026-01-15 09:00): reminded the day before, at its hour.
        app.advance("9d").await;
        let soon = sent_by(&app, "task-due-soon-customer").await;
        let soon: Vec<&Value> = soon
            .iter()
            .filter(|m| m["subject"].as_str().unwrap_or("").contains("Confirm your"))
            .collect();
        let (_, traces) = app.get("/api/accounts/acme/traces?limit=1000").await;
        let seen: Vec<&Value> = traces["traces"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["rule"] == "task-due-soon-customer")
            .collect();
        assert_eq!(soon.len(), 1, "{soon:#?} {seen:#?}");
        assert_eq!(soon[0]["created_at"], "2026-01-14T09:00:00Z");

        // Not done by its due date: the CSM is flagged; the day after, the assignee is reminded.
        app.advance("2d").await;
        let late = sent_by(&app, "task-late-customer").await;
        assert!(
            late.iter()
                .any(|m| m["created_at"] == "2026-01-16T09:00:00Z"
                    && m["subject"].as_str().unwrap_or("").contains("Confirm your")),
            "{late:#?}"
        );
        let (_, tasks) = app.get("/api/accounts/acme/tasks").await;
        assert!(
            tasks["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["title"] == "Follow up on an overdue task" && t["status"] == "open"),
            "{tasks}"
        );
        app
    })
    .await;
}

#[tokio::test]
async fn the_csm_checks_in_on_day_14_and_closes_the_team_task_over_the_api() {
    for_each_backend(|app| async move {
        onboarding(&app).await;
        app.advance("14d").await;
        let (_, tasks) = app.get("/api/accounts/acme/tasks").await;
        let check_in = tasks["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["title"] == "Two-week check-in with the customer")
            .unwrap_or_else(|| panic!("no check-in task in {tasks}"))
            .clone();
        assert_eq!(check_in["status"], "open");
        let id = check_in["id"].as_str().unwrap();

        let path = format!("/api/accounts/acme/tasks/{id}/complete");
        let (status, body) = app.post(&path, "{}").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        app.advance("1s").await;
        let (_, tasks) = app.get("/api/accounts/acme/tasks").await;
        let done = tasks["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()
            .clone();
        assert_eq!(done["status"], "done", "{done}");

        let (status, body) = app.post(&path, "{}").await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let (status, body) = app
            .post("/api/accounts/acme/tasks/no-such-task/complete", "{}")
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no-such-task"));
        app
    })
    .await;
}
