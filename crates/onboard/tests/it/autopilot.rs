//! Autopilot end to end on the manual clock: accounts of an autopilot segment get reminders
//! about their open tasks on the escalating cadence (within the contact budget), progress
//! posts, and a person when something needs one (reminders ignored, a goal at risk, a
//! comment asking for help, a failed integration); the program can ask for approval first.
//! Most tests run a small program written here, so the timeline under test is in sight.

use crate::support::*;
use serde_json::{json, Value};
use std::path::Path;

const PROGRAM: &str = r#"[program]
name = "Autopilot test"
sender = { name = "Onboard", email = "team@onboard.example" }

[[personas]]
name = "admin"

[[team]]
name = "Dana Whitfield"
email = "dana@pipeflow.example"
role = "csm"

[[team]]
name = "Tom Becker"
email = "tom@pipeflow.example"
role = "sales"

[[templates]]
name = "onboarding"
title = "Onboarding"

[[templates.tasks]]
key = "setup"
title = "Set up your workspace"
owner = "customer"
assignee = "admin"
due_days = 6

[[templates.tasks]]
key = "import"
title = "Import your data"
owner = "customer"
assignee = "admin"
depends_on = ["setup"]
due_days = 20

[[templates.tasks]]
key = "review"
title = "Onboarding review"
owner = "team"
assignee = "csm"
depends_on = ["import"]
due_days = 30

[[rules]]
name = "launch"
on = "deal.won"

[[rules.actions]]
launch = "onboarding"

[autopilot]
remind = "reminder"
cadence = ["2d", "3d", "5d"]
grace = "2d"
escalation = "escalation"
progress = "progress"
"#;

const SEGMENT: &str = r#"
[[autopilot.segments]]
name = "self-serve"
when = "account.seats < 10"
"#;

const REMINDER: &str = "+++\nsubject = \"{% if event.data.reminder == event.data.of %}Last reminder{% else %}Reminder{% endif %}: {{ task.title }}\"\n+++\nHi {{ person.first_name }}, {{ task.title }} is waiting for you: {{ sign_in_url }}\n";
const ESCALATION: &str = "+++\nsubject = \"{{ account.name }} needs a person: {{ event.data.title }}\"\n+++\nWhy: {{ event.data.title }}\nEvidence: {{ event.data.evidence }}\n";
const PROGRESS: &str = "+++\nsubject = \"{% if event.data.occasion == 'launched' %}Your plan is ready{% else %}Done: {{ event.data.task }}{% endif %}\"\n+++\n{{ event.data.done }} of {{ event.data.total }} steps done.{% for step in event.data.next %} Next: {{ step.title }}.{% endfor %}\n";

/// Writes the test program, with `extra` appended to `[autopilot]` (before the segment) and
/// `tail` after it.
fn write_program(dir: &Path, extra: &str, tail: &str) {
    std::fs::create_dir_all(dir.join("messages")).unwrap();
    std::fs::write(
        dir.join("program.toml"),
        format!("{PROGRAM}{extra}\n{SEGMENT}\n{tail}"),
    )
    .unwrap();
    for (name, text) in [
        ("reminder", REMINDER),
        ("escalation", ESCALATION),
        ("progress", PROGRESS),
        ("welcome", "+++\nsubject = \"Welcome\"\n+++\nHello.\n"),
    ] {
        std::fs::write(dir.join("messages").join(format!("{name}.md")), text).unwrap();
    }
}

async fn server_with(data: &Path, db: &TestDatabase, extra: &str, tail: &str) -> Server {
    configured(data, db, extra, tail, |config| config).await
}

async fn configured(
    data: &Path,
    db: &TestDatabase,
    extra: &str,
    tail: &str,
    more: impl FnOnce(ServerConfig) -> ServerConfig,
) -> Server {
    let program = data.join("program");
    write_program(&program, extra, tail);
    std::fs::create_dir_all(data.join("server")).unwrap();
    more(
        ServerConfig::new(&data.join("server"), db)
            .arg("--program")
            .arg(program.to_str().unwrap()),
    )
    .start()
    .await
}

/// A Slack incoming webhook played locally: the JSON bodies posted to it.
struct Slack {
    posts: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    url: String,
}

impl Slack {
    async fn start() -> Slack {
        let posts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = posts.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: String| {
                let kept = kept.clone();
                async move {
                    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
                    kept.lock().unwrap().push(value);
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Slack { posts, url }
    }

    fn posts(&self) -> Vec<Value> {
        self.posts.lock().unwrap().clone()
    }
}

/// ACME won at the clock's time with `seats` seats and Ada, its admin.
fn deal(seats: u32) -> Value {
    let mut deal = deal_won("acme");
    deal["data"]["deal_id"] = json!(format!("d-{seats}"));
    deal["data"]["seats"] = json!(seats);
    deal
}

async fn autopilot(server: &Server) -> Value {
    server.get("/api/accounts/acme/autopilot").await
}

/// The autopilot log's entries as `action outcome` (or the event type), oldest first.
async fn log(server: &Server) -> Vec<String> {
    autopilot(server).await["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| match e["type"].as_str() {
            Some("autopilot.acted") => {
                format!(
                    "{} {}",
                    text(&e["data"]["action"]),
                    text(&e["data"]["outcome"])
                )
            }
            other => other.unwrap_or_default().to_owned(),
        })
        .collect()
}

/// The emails of a rule (not its posts to channels), oldest first, as (created_at, to,
/// subject, body).
async fn emails(server: &Server, rule: &str) -> Vec<(String, String, String, String)> {
    let mut all: Vec<_> = server
        .messages_of_rule("acme", rule)
        .await
        .into_iter()
        .filter(|m| m["channel"] == "email")
        .map(|m| {
            (
                text(&m["created_at"]),
                text(&m["to"]["email"]),
                text(&m["subject"]),
                text(&m["body"]),
            )
        })
        .collect();
    all.sort();
    all
}

async fn reminders(server: &Server) -> Vec<(String, String, String, String)> {
    emails(server, "autopilot/remind").await
}

async fn escalation_emails(server: &Server) -> Vec<(String, String, String, String)> {
    emails(server, "autopilot/escalate").await
}

/// An `integration.failed` of ACME's, processed.
async fn integration_failed(server: &Server, integration: &str, error: &str) {
    server
        .post_events(&json!({
            "id": format!("failed-{integration}"),
            "type": "integration.failed",
            "account": "acme",
            "data": { "integration": integration, "error": error },
        }))
        .await;
    server.advance("1s").await;
}

async fn team_tasks(server: &Server) -> Vec<Value> {
    server.get("/api/accounts/acme/tasks").await["tasks"]
        .as_array()
        .unwrap()
        .clone()
}

async fn project_id(server: &Server) -> String {
    text(&server.get("/api/accounts/acme/projects").await["projects"][0]["id"])
}

async fn complete(server: &Server, task: &str) {
    let project = project_id(server).await;
    server
        .post(
            &format!("/api/accounts/acme/projects/{project}/tasks/{task}/complete"),
            &json!({ "by": admin_email("acme") }),
        )
        .await;
}

async fn comment(server: &Server, task: &str, said: &str) {
    let project = project_id(server).await;
    server
        .post(
            &format!("/api/accounts/acme/projects/{project}/tasks/{task}/comments"),
            &json!({ "author": admin_email("acme"), "text": said }),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_of_an_autopilot_segment_runs_on_autopilot_and_a_bigger_one_does_not() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = server_with(data.path(), &db, "", "").await;
        server.post_events(&deal(5)).await;
        let mut big = deal_won("globex");
        big["data"]["seats"] = json!(40);
        big["data"]["deal_id"] = json!("d-globex");
        server.post_events(&big).await;
        server.advance("1s").await;

        let acme = autopilot(&server).await;
        assert_eq!(acme["active"], true, "{acme:#}");
        assert_eq!(acme["segment"], "self-serve");
        assert_eq!(acme["since"], START);
        assert_eq!(
            acme["tasks"][0]["task"], "setup",
            "the open customer task is watched"
        );
        assert_eq!(log(&server).await, ["autopilot.started", "post done"]);
        let globex = server.get("/api/accounts/globex/autopilot").await;
        assert_eq!(globex["active"], false, "{globex:#}");
        assert_eq!(globex["segment"], Value::Null);
        assert!(globex["log"].as_array().unwrap().is_empty());

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_task_gets_reminders_after_2_3_and_5_days_then_the_csm_gets_it_with_the_evidence() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let slack = Slack::start().await;
        let channel = "\n[[channels]]\nname = \"success\"\nkind = \"slack\"\n";
        let server = configured(data.path(), &db, "alert = \"success\"", channel, |config| {
            config
                .arg("--allow-private-targets")
                .env("ONBOARD_ENDPOINT_SUCCESS_URL", &slack.url)
                .env("ONBOARD_ENDPOINT_SUCCESS_KIND", "slack")
        })
        .await;
        server.post_events(&deal(5)).await;

        server.advance("47h").await;
        assert!(reminders(&server).await.is_empty());
        server.advance("1h").await;
        let sent = reminders(&server).await;
        assert_eq!(sent.len(), 1, "{sent:#?}");
        assert_eq!(
            sent[0].0, "2026-01-07T09:00:00Z",
            "two days after the unlock"
        );
        assert_eq!(sent[0].1, admin_email("acme"));
        assert_eq!(sent[0].2, "Reminder: Set up your workspace");

        server.advance("8d").await;
        let sent = reminders(&server).await;
        let times: Vec<&str> = sent.iter().map(|s| s.0.as_str()).collect();
        assert_eq!(
            times,
            [
                "2026-01-07T09:00:00Z",
                "2026-01-10T09:00:00Z",
                "2026-01-15T09:00:00Z"
            ],
            "then three days, then five"
        );
        assert_eq!(sent[2].2, "Last reminder: Set up your workspace");
        assert!(
            escalation_emails(&server).await.is_empty(),
            "two days' grace"
        );

        server.advance("2d").await;
        let escalated = escalation_emails(&server).await;
        assert_eq!(escalated.len(), 1, "{escalated:#?}");
        let (at, to, subject, body) = &escalated[0];
        assert_eq!(at, "2026-01-17T09:00:00Z");
        assert_eq!(to, CSM_EMAIL);
        assert_eq!(
            subject,
            "acme Inc. needs a person: Autopilot: reminders ignored: Set up your workspace"
        );
        assert!(
            body.contains("is still not done after 3 reminders to Ada Admin <ada@acme.example> (sent 2026-01-07, 2026-01-10, 2026-01-15)"),
            "{body}"
        );
        let tasks = team_tasks(&server).await;
        let task = tasks
            .iter()
            .find(|t| text(&t["title"]).starts_with("Autopilot:"))
            .unwrap_or_else(|| panic!("an escalation task in {tasks:#?}"));
        assert_eq!(
            task["title"],
            "Autopilot: reminders ignored: Set up your workspace"
        );
        assert_eq!(task["assignee_email"], CSM_EMAIL);
        assert!(
            text(&task["reason"]).contains("after 3 reminders"),
            "{task:#}"
        );
        let posts = eventually("the Slack alert", DEADLINE, || async {
            let posts = slack.posts();
            (!posts.is_empty()).then_some(posts)
        })
        .await;
        assert_eq!(posts.len(), 1, "{posts:#?}");
        let said = text(&posts[0]["text"]);
        assert!(
            said.contains("Autopilot: reminders ignored: Set up your workspace")
                && said.contains("is still not done after 3 reminders"),
            "{said}"
        );
        let view = autopilot(&server).await;
        assert_eq!(view["escalations"][0]["reason"], "reminders_ignored");
        assert_eq!(view["tasks"][0]["escalated_at"], "2026-01-17T09:00:00Z");
        assert_eq!(
            log(&server).await,
            [
                "autopilot.started",
                "post done",
                "remind done",
                "remind done",
                "remind done",
                "escalate done"
            ]
        );

        // A person has it now: no more reminders about it.
        server.advance("10d").await;
        assert_eq!(reminders(&server).await.len(), 3);
        assert_eq!(escalation_emails(&server).await.len(), 1);
        server.assert_settled(0).await;

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_done_ends_its_reminders_and_posts_progress_for_the_shared_space() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = server_with(data.path(), &db, "", "").await;
        server.post_events(&deal(5)).await;
        server.advance("2d").await;
        assert_eq!(reminders(&server).await.len(), 1);
        server.advance("1h").await;
        complete(&server, "setup").await;
        server.advance("1s").await;

        let view = autopilot(&server).await;
        let posts: Vec<(String, String)> = view["posts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (text(&p["title"]), text(&p["text"])))
            .collect();
        assert_eq!(
            posts,
            [
                (
                    "Your plan is ready".to_owned(),
                    "0 of 3 steps done. Next: Set up your workspace.".to_owned()
                ),
                (
                    "Done: Set up your workspace".to_owned(),
                    "1 of 3 steps done. Next: Import your data.".to_owned()
                ),
            ]
        );
        // The Shared Space shows the posts in its activity, from the CSM.
        let ada = crate::pages::sign_in(&server, &admin_email("acme")).await;
        let space = ada.get("/space").await;
        assert_eq!(space.status, 200);
        let posted: Vec<String> = space
            .all(".activity li.post")
            .iter()
            .map(|li| crate::pages::squash(&li.text().collect::<String>()))
            .collect();
        assert_eq!(posted.len(), 2, "{posted:?}");
        assert!(
            posted[0].ends_with(
                "Dana Whitfield posted Done: Set up your workspace: 1 of 3 steps done. Next: Import your data."
            ),
            "newest first: {posted:?}"
        );
        let watched: Vec<String> = view["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| text(&t["task"]))
            .collect();
        assert_eq!(
            watched,
            ["import"],
            "the next task is watched, the done one not"
        );

        server.advance("20d").await;
        let subjects: Vec<String> = reminders(&server).await.into_iter().map(|r| r.2).collect();
        assert_eq!(
            subjects
                .iter()
                .filter(|s| s.ends_with("Set up your workspace"))
                .count(),
            1,
            "{subjects:?}"
        );
        assert_eq!(
            reminders(&server)
                .await
                .iter()
                .find(|r| r.2.ends_with("Import your data"))
                .map(|r| r.0.clone()),
            Some("2026-01-09T10:00:00Z".to_owned()),
            "two days after the import unlocked"
        );

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_waits_for_room_in_the_contact_budget() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let budget = r#"
[budget]
max = 1
per = "7d"

[[rules]]
name = "welcome"
on = "deal.won"

[[rules.actions]]
send = "welcome"
to = "people"
"#;
        let server = server_with(data.path(), &db, "", budget).await;
        server.post_events(&deal(5)).await;
        server.advance("6d").await;
        assert!(
            reminders(&server).await.is_empty(),
            "the welcome used the week's one message"
        );
        let held = server.traces("acme", "autopilot").await;
        assert!(
            held.iter().any(|t| text(&t["reason"]).contains(
                "reminder 1 about “Set up your workspace” held by the contact budget (1 per 7d) until"
            )),
            "{held:#?}"
        );
        server.advance("1d").await;
        let sent = reminders(&server).await;
        assert_eq!(sent.len(), 1, "{sent:#?}");
        assert_eq!(
            sent[0].0, "2026-01-12T09:00:00Z",
            "a week after the welcome"
        );

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comment_asking_for_help_hands_the_account_to_the_csm_with_the_comment() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = server_with(data.path(), &db, "", "").await;
        server.post_events(&deal(5)).await;
        server.advance("1h").await;
        comment(&server, "setup", "Done with the first part, thanks!").await;
        server.advance("1s").await;
        assert!(
            escalation_emails(&server).await.is_empty(),
            "nothing to escalate"
        );

        comment(
            &server,
            "setup",
            "I'm stuck: the SSO settings page will not save",
        )
        .await;
        server.advance("1s").await;
        let escalated = escalation_emails(&server).await;
        assert_eq!(escalated.len(), 1, "{escalated:#?}");
        assert!(
            escalated[0].3.contains(
                "Ada Admin <ada@acme.example> wrote on “Set up your workspace”: “I'm stuck: the SSO settings page will not save” (matched “stuck”)"
            ),
            "{}",
            escalated[0].3
        );
        let view = autopilot(&server).await;
        assert_eq!(view["escalations"][0]["reason"], "comment:help");

        // Frustration from the same person updates the open task rather than emailing again.
        comment(&server, "setup", "Still stuck, this is getting frustrating").await;
        server.advance("1s").await;
        assert_eq!(escalation_emails(&server).await.len(), 1);
        let tasks: Vec<Value> = team_tasks(&server)
            .await
            .into_iter()
            .filter(|t| text(&t["title"]).starts_with("Autopilot:"))
            .collect();
        assert_eq!(tasks.len(), 1, "{tasks:#?}");
        assert_eq!(tasks[0]["n_firings"], 2, "{tasks:#?}");

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_integration_hands_the_account_to_the_csm_at_once() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = server_with(data.path(), &db, "", "").await;
        server.post_events(&deal(5)).await;
        server.advance("3h").await;
        integration_failed(&server, "Salesforce sync", "401 invalid token").await;
        let escalated = escalation_emails(&server).await;
        assert_eq!(escalated.len(), 1, "{escalated:#?}");
        assert_eq!(escalated[0].0, "2026-01-05T12:00:00Z");
        assert!(
            escalated[0]
                .3
                .contains("Salesforce sync failed: 401 invalid token"),
            "{}",
            escalated[0].3
        );
        assert_eq!(
            autopilot(&server).await["escalations"][0]["reason"],
            "integration_failed"
        );

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_goal_turning_at_risk_hands_the_account_to_the_csm() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let goal = r#"
[[goals]]
name = "set-up"
title = "Workspace set up in the first month"
template = "onboarding"
deadline_days = 30
metric = { task = "setup" }
target = 1
"#;
        let server = server_with(data.path(), &db, "", goal).await;
        server.post_events(&deal(5)).await;
        server.advance("143h").await;
        let goal_escalations = |view: Value| -> Vec<Value> {
            view["escalations"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["reason"] == "goal_at_risk")
                .cloned()
                .collect()
        };
        assert!(goal_escalations(autopilot(&server).await).is_empty());
        // The task goes overdue at day 6, and with it the goal.
        server.advance("1h").await;
        let escalations = goal_escalations(autopilot(&server).await);
        assert_eq!(escalations.len(), 1, "{escalations:#?}");
        assert_eq!(
            escalations[0]["subject"],
            "Workspace set up in the first month"
        );
        assert!(
            text(&escalations[0]["evidence"])
                .starts_with("goal “Workspace set up in the first month” is at risk: 0 of 1 now"),
            "{escalations:#?}"
        );

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_reminder_goes_out_when_approved_and_the_cadence_goes_on_from_there() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = server_with(data.path(), &db, "approve = [\"remind\"]", "").await;
        server.post_events(&deal(5)).await;
        server.advance("2d").await;
        assert!(reminders(&server).await.is_empty(), "waiting for a person");
        let queue = server.get("/api/autopilot/approvals").await;
        let pending = queue["approvals"].as_array().unwrap();
        assert_eq!(pending.len(), 1, "{queue:#}");
        assert_eq!(pending[0]["action"], "remind");
        assert_eq!(pending[0]["account"], "acme");
        assert_eq!(
            pending[0]["summary"],
            "email “Reminder: Set up your workspace” to Ada Admin <ada@acme.example>"
        );
        assert!(text(&pending[0]["preview"]).contains("Set up your workspace is waiting for you"));
        let id = text(&pending[0]["id"]);

        server.advance("5h").await;
        assert!(reminders(&server).await.is_empty());
        let answer = server
            .post(
                &format!("/api/accounts/acme/autopilot/approvals/{id}"),
                &json!({ "decision": "approve", "by": CSM_EMAIL, "note": "fine" }),
            )
            .await;
        assert_eq!(answer["approval"], id.as_str());
        server.advance("1s").await;
        let sent = reminders(&server).await;
        assert_eq!(sent.len(), 1, "{sent:#?}");
        assert_eq!(sent[0].0, "2026-01-07T14:00:00Z", "when it was approved");
        let queue = server.get("/api/autopilot/approvals").await;
        assert!(
            queue["approvals"].as_array().unwrap().is_empty(),
            "{queue:#}"
        );
        let decided = server.get("/api/autopilot/approvals?status=approved").await;
        assert_eq!(decided["approvals"][0]["decided_by"], CSM_EMAIL);
        assert_eq!(
            log(&server).await[2..],
            ["remind queued", "remind approved"]
        );

        // The next reminder is three days after the approved one, queued again.
        server.advance("3d").await;
        let queue = server.get("/api/autopilot/approvals").await;
        assert_eq!(queue["approvals"].as_array().unwrap().len(), 1, "{queue:#}");
        assert_eq!(queue["approvals"][0]["created_at"], "2026-01-10T14:00:00Z");

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_reminder_is_not_sent_and_ends_the_reminders_about_that_task() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = server_with(data.path(), &db, "approve = [\"remind\"]", "").await;
        server.post_events(&deal(5)).await;
        server.advance("2d").await;
        let queue = server.get("/api/autopilot/approvals").await;
        let id = text(&queue["approvals"][0]["id"]);
        server
            .post(
                &format!("/api/accounts/acme/autopilot/approvals/{id}"),
                &json!({ "decision": "reject", "by": CSM_EMAIL, "note": "I will call them" }),
            )
            .await;
        server.advance("20d").await;
        assert!(reminders(&server).await.is_empty());
        assert!(escalation_emails(&server).await.is_empty());
        let rejected = server.get("/api/autopilot/approvals?status=rejected").await;
        assert_eq!(rejected["approvals"][0]["note"], "I will call them");
        assert!(autopilot(&server).await["tasks"]
            .as_array()
            .unwrap()
            .is_empty());

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_decision_is_refused_with_the_field_and_changes_nothing() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = server_with(data.path(), &db, "approve = [\"remind\"]", "").await;
        server.post_events(&deal(5)).await;
        server.advance("2d").await;
        let id = text(&server.get("/api/autopilot/approvals").await["approvals"][0]["id"]);
        let path = format!("/api/accounts/acme/autopilot/approvals/{id}");
        for (body, status, at) in [
            (
                json!({ "decision": "maybe", "by": CSM_EMAIL }),
                400,
                "decision",
            ),
            (json!({ "by": CSM_EMAIL }), 400, "decision"),
            (json!({ "decision": "approve" }), 400, "by"),
            (json!({ "decision": "approve", "by": 7 }), 400, "by"),
            (
                json!({ "decision": "approve", "by": CSM_EMAIL, "when": "now" }),
                400,
                "when",
            ),
        ] {
            let answer = server.post_raw(&path, &body).await.unwrap();
            assert_eq!(answer.status(), status, "{body}");
            let error: Value = answer.json().await.unwrap();
            assert_eq!(error["error"]["details"][0]["at"], at, "{error:#}");
        }
        let answer = server
            .post_raw(
                "/api/accounts/acme/autopilot/approvals/apv_nope",
                &json!({ "decision": "approve", "by": CSM_EMAIL }),
            )
            .await
            .unwrap();
        assert_eq!(answer.status(), 404);
        let answer = server
            .post_raw(
                &format!("/api/accounts/globex/autopilot/approvals/{id}"),
                &json!({ "decision": "approve", "by": CSM_EMAIL }),
            )
            .await
            .unwrap();
        assert_eq!(answer.status(), 404, "another account's path");
        let bad = server
            .post_raw("/api/autopilot/approvals?status=maybe", &json!({}))
            .await
            .unwrap();
        assert_eq!(bad.status(), 405);
        for query in ["status=maybe", "limit=abc", "limit=0", "colour=red"] {
            let bad = reqwest::Client::new()
                .get(server.url(&format!("/api/autopilot/approvals?{query}")))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap();
            assert_eq!(bad.status(), 400, "{query}");
            let error: Value = bad.json().await.unwrap();
            assert_eq!(error["error"]["code"], "bad_request", "{query}: {error:#}");
        }
        server.advance("1s").await;
        assert_eq!(
            server.get("/api/autopilot/approvals").await["approvals"][0]["status"],
            "pending",
            "nothing changed"
        );

        server
            .post(&path, &json!({ "decision": "approve", "by": CSM_EMAIL }))
            .await;
        server.advance("1s").await;
        let again = server
            .post_raw(&path, &json!({ "decision": "reject", "by": CSM_EMAIL }))
            .await
            .unwrap();
        assert_eq!(again.status(), 409, "already decided");

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_that_leaves_the_segment_is_run_by_people_again() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = server_with(data.path(), &db, "", "").await;
        server.post_events(&deal(5)).await;
        server.advance("1d").await;
        let mut bigger = deal(25);
        bigger["id"] = json!("deal-acme-expansion");
        server.post_events(&bigger).await;
        server.advance("20d").await;
        assert!(reminders(&server).await.is_empty());
        let view = autopilot(&server).await;
        assert_eq!(view["active"], false, "{view:#}");
        assert_eq!(view["stopped_at"], "2026-01-06T09:00:00Z");
        assert_eq!(
            log(&server).await,
            ["autopilot.started", "post done", "autopilot.stopped"]
        );
        server.assert_settled(0).await;

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_program_runs_small_starter_accounts_on_autopilot() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = ServerConfig::new(data.path(), &db).start().await;
        let mut starter = deal_won("acme");
        starter["data"]["seats"] = json!(5);
        starter["data"]["plan"] = json!("starter");
        starter["data"]["deal_id"] = json!("d-acme");
        server.post_events(&starter).await;
        let mut pro = deal_won("globex");
        pro["data"]["seats"] = json!(5);
        pro["data"]["plan"] = json!("pro");
        pro["data"]["deal_id"] = json!("d-globex");
        server.post_events(&pro).await;
        server.advance("1s").await;
        let acme = autopilot(&server).await;
        assert_eq!(acme["segment"], "self-serve", "{acme:#}");
        assert_eq!(acme["posts"][0]["title"], "Your onboarding plan is ready");
        let globex = server.get("/api/accounts/globex/autopilot").await;
        assert_eq!(globex["active"], false);

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csm_approves_a_queued_escalation_in_the_console_and_sales_cannot() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = server_with(data.path(), &db, "approve = [\"escalate\"]", "").await;
        server.post_events(&deal(5)).await;
        server.advance("1h").await;
        integration_failed(&server, "Gmail", "token revoked").await;
        assert!(
            escalation_emails(&server).await.is_empty(),
            "waiting for approval"
        );

        let dana = crate::console::team_sign_in(&server, CSM_EMAIL).await;
        let page = dana.get("/console/autopilot").await;
        assert_eq!(page.status, 200);
        let rows = page.all("#approvals tbody tr[data-approval]");
        assert_eq!(rows.len(), 1, "{}", page.html.html());
        let row = crate::pages::squash(&rows[0].text().collect::<String>());
        assert!(row.contains("escalate"), "{row}");
        assert!(row.contains("Gmail failed: token revoked"), "{row}");
        let action = page.attr("#approvals form", "action");
        let csrf = crate::console::csrf(&page);

        let tom = crate::console::team_sign_in(&server, "tom@pipeflow.example").await;
        let seen = tom.get("/console/autopilot").await;
        assert_eq!(
            seen.all("#approvals form").len(),
            0,
            "sales looks, does not act"
        );
        let refused = tom
            .post(
                &action,
                &[
                    ("csrf", &crate::console::csrf(&tom.get("/console").await)),
                    ("decision", "approve"),
                ],
            )
            .await;
        assert_eq!(refused.status(), 403);

        let stale = dana
            .post(
                &action,
                &[("csrf", "not-the-token"), ("decision", "approve")],
            )
            .await;
        assert_eq!(
            stale.status(),
            403,
            "a form without the session's token changes nothing"
        );
        let done = dana
            .post(
                &action,
                &[
                    ("csrf", &csrf),
                    ("decision", "approve"),
                    ("note", "go ahead"),
                ],
            )
            .await;
        assert_eq!(done.status(), 303);
        server.advance("1s").await;
        let escalated = escalation_emails(&server).await;
        assert_eq!(escalated.len(), 1, "{escalated:#?}");
        let page = dana.get("/console/autopilot").await;
        assert!(page.all("#approvals tbody tr[data-approval]").is_empty());
        let decided = crate::pages::squash(&page.text("#decided tbody"));
        for part in ["approved", "go ahead", CSM_EMAIL] {
            assert!(decided.contains(part), "{part} in {decided}");
        }
        let account = dana.get("/console/accounts/acme").await;
        let section = crate::pages::squash(&account.text("#autopilot"));
        assert!(section.contains("segment self-serve"), "{section}");
        assert!(
            section.contains("Handed over: integration_failed")
                && section.contains("Gmail failed: token revoked"),
            "{section}"
        );
        let again = dana
            .post(&action, &[("csrf", &csrf), ("decision", "reject")])
            .await;
        assert_eq!(again.status(), 409, "already decided");

        drop(server);
        db.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_model_configured_a_reminder_goes_out_in_its_words_and_says_so() {
    // An OpenAI-compatible endpoint that rewrites every reminder the same way.
    let draft = json!({
        "subject": "Ada, your workspace is one click away",
        "body": "Hi Ada! Setting up your workspace takes two minutes: %ONBOARD_SIGN_IN_URL%",
    });
    let answer = json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "test-model",
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": draft.to_string() },
            "finish_reason": "stop",
        }],
    });
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move || {
            let answer = answer.clone();
            async move { axum::Json(answer) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let server = configured(data.path(), &db, "", "", |config| {
            config
                .arg("--allow-private-targets")
                .env("ONBOARD_LLM_URL", &base)
                .env("ONBOARD_LLM_MODEL", "test-model")
        })
        .await;
        server.post_events(&deal(5)).await;
        server.advance("2d").await;
        let sent = eventually("the drafted reminder", DEADLINE, || async {
            server
                .messages_of_rule("acme", "autopilot/remind")
                .await
                .into_iter()
                .find(|m| m["status"] == "delivered")
        })
        .await;
        assert_eq!(sent["drafted_by"], "test-model", "{sent:#}");
        assert_eq!(sent["subject"], "Ada, your workspace is one click away");
        assert!(text(&sent["body"]).starts_with("Hi Ada! Setting up your workspace"));

        drop(server);
        db.finish().await;
    }
}
