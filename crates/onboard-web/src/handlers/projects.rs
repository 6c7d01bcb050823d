//! Projects, their tasks, and team tasks: `GET /api/accounts/{id}/projects` (each project
//! with its tasks), `GET /api/accounts/{id}/tasks` (team tasks), and the changes:
//! `POST …/projects` (ask for a project from a template, maybe as a draft),
//! `POST …/projects/{project}/launch` (launch a draft), `…/complete` (complete by hand), and
//! `POST …/projects/{project}/tasks/{task}/complete`, `/reopen`, `/reassign`, `/comments`;
//! and `GET …/projects/{project}/tasks/{task}/brief`, the CSM's brief before a kickoff call
//! (computed by `onboard_core::brief` from the account's state at the engine's time).
//!
//! Each change is checked against the account's current state and the program (unknown
//! account, project, task or template: 404; a bad body: 400 naming the field; a change the
//! current state does not allow: 409), then appended as one event and answered 202 with its
//! key; the processor applies it (`onboard_core::decide`). Nothing here writes state.

use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_json, Admin};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use bytes::Bytes;
use onboard_core::brief::{kickoff_brief, BriefError, KickoffBrief};
use onboard_core::decide::{derived_id, requested_project_id};
use onboard_core::event::{json_kind, types, InputError};
use onboard_core::state::{
    AccountState, AccountStatus, Project, ProjectStatus, ProjectTask, TaskStatus, TeamTask,
};
use onboard_core::{EventType, NewEvent, Timestamp};
use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

// ------------------------------------------------------------------------------- views

/// A project: one account's instance of a template, with its tasks in template order.
#[derive(Serialize, ToSchema)]
#[schema(as = Project)]
pub struct ProjectView {
    pub id: String,
    /// The template's name.
    pub template: String,
    pub title: String,
    #[schema(value_type = ProjectStatusSchema)]
    pub status: &'static str,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub launched_at: Option<String>,
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
    /// Launch plus the template's `due_days`.
    #[schema(format = DateTime)]
    pub due_at: Option<String>,
    /// The program version the project started with.
    pub program_version: String,
    /// `final_task`, `all_tasks` or `manual`.
    pub completion: String,
    /// The template launched when it completes.
    pub next: Option<String>,
    pub tasks: Vec<TaskView>,
}

/// A task of a project.
#[derive(Serialize, ToSchema)]
#[schema(as = ProjectTask)]
pub struct TaskView {
    /// The task's key in its template.
    pub key: String,
    pub title: String,
    /// Markdown.
    pub description: String,
    /// `team` or `customer`.
    pub owner: String,
    /// A team role, a persona, or whoever it was reassigned to.
    pub assignee: String,
    #[schema(value_type = TaskStatusSchema)]
    pub status: &'static str,
    /// Keys of the tasks that must be done first.
    pub depends_on: Vec<String>,
    /// When it shows (launch plus its snooze days); null in a draft.
    #[schema(format = DateTime)]
    pub unlock_at: Option<String>,
    #[schema(format = DateTime)]
    pub due_at: Option<String>,
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
    pub completed_by: Option<String>,
    /// Its due time passed before it was done.
    pub overdue: bool,
    pub milestone: bool,
    pub comments: Vec<CommentView>,
}

/// A comment on a task.
#[derive(Serialize, ToSchema)]
#[schema(as = Comment)]
pub struct CommentView {
    #[schema(format = DateTime)]
    pub at: String,
    pub author: String,
    pub text: String,
}

/// A project's status.
#[derive(ToSchema)]
#[schema(as = ProjectStatus)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Describes `ProjectStatus::as_str`.
pub enum ProjectStatusSchema {
    Draft,
    Active,
    Completed,
}

/// A task's status: hidden until its unlock time (`snoozed`), waiting for a task it
/// depends on, open, or done.
#[derive(ToSchema)]
#[schema(as = TaskStatus)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Describes `TaskStatus::as_str`.
pub enum TaskStatusSchema {
    Snoozed,
    Waiting,
    Open,
    Done,
}

/// An account's projects, oldest first.
#[derive(Serialize, ToSchema)]
pub struct ProjectList {
    pub projects: Vec<ProjectView>,
}

/// A task for our team.
#[derive(Serialize, ToSchema)]
#[schema(as = TeamTask)]
pub struct TeamTaskView {
    pub id: String,
    /// `<account>/<rule or project>/<reason>`: one open task per identity.
    pub identity: String,
    pub title: String,
    pub reason: String,
    /// The team role it is for, e.g. `csm`.
    pub assignee_role: String,
    pub assignee_email: Option<String>,
    /// `open` or `done`.
    pub status: &'static str,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// How often it fired.
    pub n_firings: u32,
    /// The rule (or `project/<id>`) and the event of the last firing.
    pub rule: String,
    pub event: String,
}

/// An account's team tasks, oldest first.
#[derive(Serialize, ToSchema)]
pub struct TeamTaskList {
    pub tasks: Vec<TeamTaskView>,
}

/// The answer to a change: the event that carries it.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    /// The key of the event appended.
    pub event: String,
    /// The project concerned (for a new project: the id it will have).
    pub project: String,
}

fn time(t: Option<Timestamp>) -> Option<String> {
    t.map(Timestamp::to_rfc3339)
}

impl From<&ProjectTask> for TaskView {
    fn from(t: &ProjectTask) -> Self {
        Self {
            key: t.key.clone(),
            title: t.title.clone(),
            description: t.description.clone(),
            owner: t.owner.clone(),
            assignee: t.assignee.clone(),
            status: t.status.as_str(),
            depends_on: t.depends_on.clone(),
            unlock_at: time(t.unlock_at),
            due_at: time(t.due_at),
            completed_at: time(t.completed_at),
            completed_by: t.completed_by.clone(),
            overdue: t.overdue,
            milestone: t.milestone,
            comments: t
                .comments
                .iter()
                .map(|c| CommentView {
                    at: c.at.to_rfc3339(),
                    author: c.author.clone(),
                    text: c.text.clone(),
                })
                .collect(),
        }
    }
}

impl From<&Project> for ProjectView {
    fn from(p: &Project) -> Self {
        Self {
            id: p.id.clone(),
            template: p.template.clone(),
            title: p.title.clone(),
            status: p.status.as_str(),
            created_at: p.created_at.to_rfc3339(),
            launched_at: time(p.launched_at),
            completed_at: time(p.completed_at),
            due_at: time(p.due_at),
            program_version: p.program_version.clone(),
            completion: p.completion.clone(),
            next: p.next.clone(),
            tasks: p.tasks.iter().map(TaskView::from).collect(),
        }
    }
}

impl From<&TeamTask> for TeamTaskView {
    fn from(t: &TeamTask) -> Self {
        Self {
            id: t.id.clone(),
            identity: t.identity.clone(),
            title: t.title.clone(),
            reason: t.reason.clone(),
            assignee_role: t.assignee_role.clone(),
            assignee_email: t.assignee_email.clone(),
            status: t.status.as_str(),
            created_at: t.created_at.to_rfc3339(),
            updated_at: t.updated_at.to_rfc3339(),
            n_firings: t.n_firings,
            rule: t.rule.clone(),
            event: t.event.clone(),
        }
    }
}

// ------------------------------------------------------------------------------- reads

/// An account's projects with their tasks, oldest first.
#[utoipa::path(
    get,
    path = "/api/accounts/{id}/projects",
    tag = "projects",
    operation_id = "account_projects",
    params(("id" = String, Path, description = "The account key")),
    responses(
        (status = 200, description = "The account's projects", body = ProjectList),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No account has this key", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<ProjectList>> {
    let account = account(&state, &id).await?;
    Ok(Json(ProjectList {
        projects: account.projects.iter().map(ProjectView::from).collect(),
    }))
}

/// An account's team tasks (for the CSM and others), oldest first.
#[utoipa::path(
    get,
    path = "/api/accounts/{id}/tasks",
    tag = "projects",
    operation_id = "account_team_tasks",
    params(("id" = String, Path, description = "The account key")),
    responses(
        (status = 200, description = "The account's team tasks", body = TeamTaskList),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No account has this key", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("bearer" = []))
)]
pub async fn team_tasks(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<TeamTaskList>> {
    let account = account(&state, &id).await?;
    Ok(Json(TeamTaskList {
        tasks: account.team_tasks.iter().map(TeamTaskView::from).collect(),
    }))
}

/// The brief for a kickoff task, before the call: who of the expected attendees completed
/// which prerequisite modules, their Academy sign-in, and what they did in the product
/// since, with a summary and talking points.
#[utoipa::path(
    get,
    path = "/api/accounts/{id}/projects/{project}/tasks/{task}/brief",
    tag = "projects",
    operation_id = "kickoff_brief",
    params(
        ("id" = String, Path, description = "The account key"),
        ("project" = String, Path, description = "The project's id"),
        ("task" = String, Path, description = "The task's key"),
    ),
    responses(
        (status = 200, description = "The brief, as of the engine's time", body = KickoffBriefSchema),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such account, project or task", body = crate::openapi::ErrorBody),
        (status = 422, description = "The task is not a kickoff task", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("bearer" = []))
)]
pub async fn brief(
    State(state): State<AppState>,
    _admin: Admin,
    Path((id, project, task)): Path<(String, String, String)>,
) -> ApiResult<Json<KickoffBrief>> {
    let account = account(&state, &id).await?;
    let now = state.engine.now();
    match kickoff_brief(state.engine.program(), &account, &project, &task, now) {
        Ok(brief) => Ok(Json(brief)),
        Err(error @ (BriefError::NoProject { .. } | BriefError::NoTask { .. })) => {
            Err(ApiError::not_found(error.to_string()))
        }
        Err(error @ BriefError::NotKickoff { .. }) => {
            Err(ApiError::invalid(error.to_string(), Vec::new()))
        }
    }
}

/// The brief before a kickoff call (`GET …/tasks/{task}/brief`, and `brief` in the CSM's
/// email). Times are RFC 3339.
#[derive(ToSchema)]
#[schema(as = KickoffBrief)]
#[allow(dead_code)] // Describes `onboard_core::brief::KickoffBrief`, which the handler answers.
pub struct KickoffBriefSchema {
    /// The account's key and name.
    account: String,
    account_name: String,
    project: String,
    /// The kickoff task's key, title and due time.
    task: String,
    title: String,
    #[schema(format = DateTime)]
    due_at: Option<String>,
    /// The time the brief describes.
    #[schema(format = DateTime)]
    as_of: String,
    /// The modules the kickoff expects, in the program's order.
    prerequisites: Vec<BriefModuleSchema>,
    /// The personas expected; empty: every person of the account.
    attendee_personas: Vec<String>,
    attendees: Vec<BriefAttendeeSchema>,
    summary: BriefSummarySchema,
    /// Plain-English sentences: one per attendee, then one for the call.
    talking_points: Vec<String>,
}

/// A prerequisite module of a kickoff.
#[derive(ToSchema)]
#[schema(as = BriefModule)]
#[allow(dead_code)] // Describes `onboard_core::brief::ModuleRef`.
pub struct BriefModuleSchema {
    journey: String,
    /// The module's file stem, e.g. `01-welcome`.
    slug: String,
    title: String,
}

/// One attendee of a kickoff call.
#[derive(ToSchema)]
#[schema(as = BriefAttendee)]
#[allow(dead_code)] // Describes `onboard_core::brief::AttendeeBrief`.
pub struct BriefAttendeeSchema {
    email: String,
    name: String,
    persona: Option<String>,
    readiness: ReadinessSchema,
    /// The prerequisites of the journey they follow, with their completion.
    modules: Vec<BriefModuleProgressSchema>,
    n_done: usize,
    n_total: usize,
    /// Whether they used the Academy (signed in or completed a module).
    signed_in: bool,
    #[schema(format = DateTime)]
    last_sign_in_at: Option<String>,
    /// Product use counts from here: the first prerequisite completion, else enrolment,
    /// else the deal.
    #[schema(format = DateTime)]
    since: Option<String>,
    /// When they reached their persona's Aha event.
    #[schema(format = DateTime)]
    aha_at: Option<String>,
    /// Micro-milestones reached since.
    milestones: Vec<BriefReachedSchema>,
    /// Key features used since, most recent first.
    features: Vec<BriefReachedSchema>,
    #[schema(format = DateTime)]
    last_product_use_at: Option<String>,
    used_product_since: bool,
}

/// A prerequisite with the attendee's completion of it.
#[derive(ToSchema)]
#[schema(as = BriefModuleProgress)]
#[allow(dead_code)] // Describes `onboard_core::brief::ModuleProgress`.
pub struct BriefModuleProgressSchema {
    journey: String,
    slug: String,
    title: String,
    done: bool,
    #[schema(format = DateTime)]
    completed_at: Option<String>,
}

/// A milestone reached or a feature used, and when.
#[derive(ToSchema)]
#[schema(as = BriefReached)]
#[allow(dead_code)] // Describes `onboard_core::brief::Reached`.
pub struct BriefReachedSchema {
    name: String,
    #[schema(format = DateTime)]
    at: String,
}

/// The attendees by readiness.
#[derive(ToSchema)]
#[schema(as = BriefSummary)]
#[allow(dead_code)] // Describes `onboard_core::brief::BriefSummary`.
pub struct BriefSummarySchema {
    n_attendees: usize,
    n_ready: usize,
    n_partly: usize,
    n_not_started: usize,
}

/// Where an attendee stands: every prerequisite of their journey done, some, or none.
#[derive(ToSchema)]
#[schema(as = Readiness)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Describes `onboard_core::brief::Readiness`.
pub enum ReadinessSchema {
    Ready,
    Partly,
    NotStarted,
}

/// The answer of a team task's completion: the event that carries it.
#[derive(Serialize, ToSchema)]
pub struct TeamTaskAccepted {
    /// The key of the `team_task.completed` event appended.
    pub event: String,
    pub task: String,
}

/// Marks a team task done (the CSM followed up). A later firing of its rule with the same
/// identity opens a new one.
#[utoipa::path(
    post,
    path = "/api/accounts/{id}/tasks/{task}/complete",
    tag = "projects",
    operation_id = "complete_team_task",
    params(
        ("id" = String, Path, description = "The account key"),
        ("task" = String, Path, description = "The team task's id"),
    ),
    responses(
        (status = 202, description = "The completion is in the event log", body = TeamTaskAccepted),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such account or team task", body = crate::openapi::ErrorBody),
        (status = 409, description = "The team task is already done", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
pub async fn complete_team_task(
    State(state): State<AppState>,
    _admin: Admin,
    Path((id, task)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<TeamTaskAccepted>)> {
    let account = account(&state, &id).await?;
    let found = account
        .team_tasks
        .iter()
        .find(|t| t.id == task)
        .ok_or_else(|| ApiError::not_found(format!("no team task `{task}` at account `{id}`")))?;
    if found.status == onboard_core::state::TeamTaskStatus::Done {
        return Err(ApiError::conflict(format!(
            "team task `{task}` is already done"
        )));
    }
    let data = json!({ "task": task });
    let key = append(&state, &id, types::TEAM_TASK_COMPLETED, &task, data).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(TeamTaskAccepted { event: key, task }),
    ))
}

// ----------------------------------------------------------------------------- changes

/// The body of `POST /api/accounts/{id}/projects`.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the body only; the handler reads a `Value`.
pub struct NewProject {
    /// One of the program's templates.
    #[schema(example = "onboarding")]
    template: String,
    /// Create it as a draft (nothing reaches the customer until it is launched); by
    /// default, what the template says.
    #[schema(required = false)]
    draft: bool,
}

/// Asks for a project from a template, launched at once or as a draft. Answers 202 with
/// the event's key and the id the project will have.
#[utoipa::path(
    post,
    path = "/api/accounts/{id}/projects",
    tag = "projects",
    operation_id = "create_project",
    params(("id" = String, Path, description = "The account key")),
    request_body = NewProject,
    responses(
        (status = 202, description = "The request is in the event log; the project follows once it is processed", body = Accepted),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such account, or no such template", body = crate::openapi::ErrorBody),
        (status = 409, description = "The account is churned or paused", body = crate::openapi::ErrorBody),
        (status = 413, response = crate::openapi::TooLarge),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let body = object(&body, &["template", "draft"], true)?;
    let template = required_text(&body, "template")?;
    let draft = match body.get("draft") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            return Err(field_error(
                "draft",
                format!("`draft` must be a boolean, not {}", json_kind(other)),
            ))
        }
    };
    let account = active_account(&state, &id).await?;
    if state.engine.program().template(&template).is_none() {
        let program = state.engine.program();
        let known: Vec<&str> = program.templates.iter().map(|t| t.name.as_str()).collect();
        return Err(ApiError::not_found(format!(
            "no template `{template}`; the program has {}",
            known.join(", ")
        )));
    }
    let mut data = json!({ "template": template });
    if let Some(draft) = draft {
        data["draft"] = json!(draft);
    }
    let key = append(
        &state,
        &account.id,
        types::PROJECT_LAUNCH_REQUESTED,
        "",
        data,
    )
    .await?;
    let project = requested_project_id(&account.id, &key);
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            event: key,
            project,
        }),
    ))
}

/// Launches a draft project.
#[utoipa::path(
    post,
    path = "/api/accounts/{id}/projects/{project}/launch",
    tag = "projects",
    operation_id = "launch_project",
    params(
        ("id" = String, Path, description = "The account key"),
        ("project" = String, Path, description = "The project's id"),
    ),
    responses(
        (status = 202, description = "The launch is in the event log", body = Accepted),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such account or project", body = crate::openapi::ErrorBody),
        (status = 409, description = "The project is not a draft, or the account is churned or paused", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
pub async fn launch(
    State(state): State<AppState>,
    _admin: Admin,
    Path((id, project)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let account = active_account(&state, &id).await?;
    let found = find_project(&account, &project)?;
    if found.status != ProjectStatus::Draft {
        return Err(ApiError::conflict(format!(
            "project `{project}` is {}, not a draft: only a draft can be launched",
            found.status.as_str()
        )));
    }
    let data = json!({ "project": project });
    let key = append(&state, &id, types::PROJECT_LAUNCH, &project, data).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            event: key,
            project,
        }),
    ))
}

/// Completes an active project by hand (whatever its template's completion mode).
#[utoipa::path(
    post,
    path = "/api/accounts/{id}/projects/{project}/complete",
    tag = "projects",
    operation_id = "complete_project",
    params(
        ("id" = String, Path, description = "The account key"),
        ("project" = String, Path, description = "The project's id"),
    ),
    responses(
        (status = 202, description = "The completion is in the event log", body = Accepted),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such account or project", body = crate::openapi::ErrorBody),
        (status = 409, description = "The project is not active, or the account is churned or paused", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
pub async fn complete(
    State(state): State<AppState>,
    _admin: Admin,
    Path((id, project)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let account = active_account(&state, &id).await?;
    let found = find_project(&account, &project)?;
    if found.status != ProjectStatus::Active {
        return Err(ApiError::conflict(format!(
            "project `{project}` is {}: only an active project can be completed",
            found.status.as_str()
        )));
    }
    let data = json!({ "project": project });
    let key = append(&state, &id, types::PROJECT_COMPLETE, &project, data).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            event: key,
            project,
        }),
    ))
}

/// The body of `POST …/tasks/{task}/complete` (optional).
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the body only.
pub struct TaskDone {
    /// Who did it (an email).
    #[schema(required = false, format = Email)]
    by: String,
}

/// Marks a task done; its dependants open once their snooze has passed, and the project
/// completes when its template says so.
#[utoipa::path(
    post,
    path = "/api/accounts/{id}/projects/{project}/tasks/{task}/complete",
    tag = "projects",
    operation_id = "complete_task",
    params(
        ("id" = String, Path, description = "The account key"),
        ("project" = String, Path, description = "The project's id"),
        ("task" = String, Path, description = "The task's key"),
    ),
    request_body(content = TaskDone, description = "Optional"),
    responses(
        (status = 202, description = "The completion is in the event log", body = Accepted),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such account, project or task", body = crate::openapi::ErrorBody),
        (status = 409, description = "The task is done already, the project is not active, or the account is churned or paused", body = crate::openapi::ErrorBody),
        (status = 413, response = crate::openapi::TooLarge),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
pub async fn complete_task(
    State(state): State<AppState>,
    _admin: Admin,
    Path((id, project, task)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let body = object(&body, &["by"], false)?;
    let by = optional_text(&body, "by")?;
    let account = active_account(&state, &id).await?;
    let (found, item) = find_task(&account, &project, &task)?;
    active_project(found)?;
    if item.status == TaskStatus::Done {
        return Err(ApiError::conflict(format!("task `{task}` is done already")));
    }
    let key = append_task_completed(&state, &id, &project, &task, by.as_deref()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            event: key,
            project,
        }),
    ))
}

/// Reopens a done task.
#[utoipa::path(
    post,
    path = "/api/accounts/{id}/projects/{project}/tasks/{task}/reopen",
    tag = "projects",
    operation_id = "reopen_task",
    params(
        ("id" = String, Path, description = "The account key"),
        ("project" = String, Path, description = "The project's id"),
        ("task" = String, Path, description = "The task's key"),
    ),
    responses(
        (status = 202, description = "The change is in the event log", body = Accepted),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such account, project or task", body = crate::openapi::ErrorBody),
        (status = 409, description = "The task is not done, the project is not active, or the account is churned or paused", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
pub async fn reopen_task(
    State(state): State<AppState>,
    _admin: Admin,
    Path((id, project, task)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let account = active_account(&state, &id).await?;
    let (found, item) = find_task(&account, &project, &task)?;
    active_project(found)?;
    if item.status != TaskStatus::Done {
        return Err(ApiError::conflict(format!(
            "task `{task}` is {}, not done: only a done task can be reopened",
            item.status.as_str()
        )));
    }
    let data = json!({ "project": project, "task": task });
    let key = append(&state, &id, types::TASK_REOPENED, &task, data).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            event: key,
            project,
        }),
    ))
}

/// The body of `POST …/tasks/{task}/reassign`.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the body only.
pub struct Reassignment {
    /// A team role, a persona or a person's email.
    #[schema(example = "dana@pipeflow.example")]
    assignee: String,
}

/// Gives a task to someone else.
#[utoipa::path(
    post,
    path = "/api/accounts/{id}/projects/{project}/tasks/{task}/reassign",
    tag = "projects",
    operation_id = "reassign_task",
    params(
        ("id" = String, Path, description = "The account key"),
        ("project" = String, Path, description = "The project's id"),
        ("task" = String, Path, description = "The task's key"),
    ),
    request_body = Reassignment,
    responses(
        (status = 202, description = "The change is in the event log", body = Accepted),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such account, project or task", body = crate::openapi::ErrorBody),
        (status = 409, description = "The account is churned or paused", body = crate::openapi::ErrorBody),
        (status = 413, response = crate::openapi::TooLarge),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
pub async fn reassign_task(
    State(state): State<AppState>,
    _admin: Admin,
    Path((id, project, task)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let body = object(&body, &["assignee"], true)?;
    let assignee = required_text(&body, "assignee")?;
    let account = active_account(&state, &id).await?;
    find_task(&account, &project, &task)?;
    let data = json!({ "project": project, "task": task, "assignee": assignee });
    let key = append(&state, &id, types::TASK_REASSIGNED, &task, data).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            event: key,
            project,
        }),
    ))
}

/// The body of `POST …/tasks/{task}/comments`.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the body only.
pub struct NewComment {
    /// Who writes (a name or an email).
    author: String,
    /// At most 10,000 characters.
    text: String,
}

/// Posts a comment on a task.
#[utoipa::path(
    post,
    path = "/api/accounts/{id}/projects/{project}/tasks/{task}/comments",
    tag = "projects",
    operation_id = "comment_task",
    params(
        ("id" = String, Path, description = "The account key"),
        ("project" = String, Path, description = "The project's id"),
        ("task" = String, Path, description = "The task's key"),
    ),
    request_body = NewComment,
    responses(
        (status = 202, description = "The comment is in the event log", body = Accepted),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such account, project or task", body = crate::openapi::ErrorBody),
        (status = 409, description = "The account is churned or paused", body = crate::openapi::ErrorBody),
        (status = 413, response = crate::openapi::TooLarge),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
pub async fn comment_task(
    State(state): State<AppState>,
    _admin: Admin,
    Path((id, project, task)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let body = object(&body, &["author", "text"], true)?;
    let author = required_text(&body, "author")?;
    let text = required_text(&body, "text")?;
    if text.chars().count() > MAX_COMMENT {
        return Err(field_error(
            "text",
            format!("`text` is longer than {MAX_COMMENT} characters"),
        ));
    }
    let account = active_account(&state, &id).await?;
    find_task(&account, &project, &task)?;
    let key = append_comment(&state, &id, &project, &task, &author, &text).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            event: key,
            project,
        }),
    ))
}

// ----------------------------------------------------------------------------- helpers

/// Longest comment accepted, in characters.
const MAX_COMMENT: usize = 10_000;

async fn account(state: &AppState, id: &str) -> ApiResult<AccountState> {
    state
        .engine
        .store()
        .account(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no account `{id}`")))
}

/// The account, which must be active: a churned or paused account takes no changes.
async fn active_account(state: &AppState, id: &str) -> ApiResult<AccountState> {
    let account = account(state, id).await?;
    if account.status != AccountStatus::Active {
        return Err(ApiError::conflict(format!(
            "account `{id}` is {}: its projects take no changes",
            account.status.as_str()
        )));
    }
    Ok(account)
}

fn find_project<'a>(account: &'a AccountState, project: &str) -> ApiResult<&'a Project> {
    account.project(project).ok_or_else(|| {
        ApiError::not_found(format!(
            "no project `{project}` at account `{}`",
            account.id
        ))
    })
}

fn find_task<'a>(
    account: &'a AccountState,
    project: &str,
    task: &str,
) -> ApiResult<(&'a Project, &'a ProjectTask)> {
    let found = find_project(account, project)?;
    let item =
        found.tasks.iter().find(|t| t.key == task).ok_or_else(|| {
            ApiError::not_found(format!("no task `{task}` in project `{project}`"))
        })?;
    Ok((found, item))
}

fn active_project(project: &Project) -> ApiResult<()> {
    if project.status == ProjectStatus::Active {
        Ok(())
    } else {
        Err(ApiError::conflict(format!(
            "project `{}` is {}: its tasks change only while it is active",
            project.id,
            project.status.as_str()
        )))
    }
}

/// A 400 that names the field at fault.
pub(crate) fn field_error(field: &str, message: String) -> ApiError {
    let mut error = ApiError::bad_request(message.clone());
    error.details = vec![InputError {
        at: field.to_owned(),
        message,
    }];
    error
}

/// The body as a JSON object with only `allowed` fields; an empty body is an empty object
/// unless `required`.
pub(crate) fn object(
    bytes: &[u8],
    allowed: &[&str],
    required: bool,
) -> ApiResult<Map<String, Value>> {
    if !required && bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let value = parse_json(bytes)?;
    let Value::Object(map) = value else {
        return Err(ApiError::bad_request(format!(
            "the body must be a JSON object, not {}",
            json_kind(&value)
        )));
    };
    if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(field_error(
            unknown,
            format!(
                "unknown field `{unknown}`; this endpoint takes {}",
                allowed.join(", ")
            ),
        ));
    }
    Ok(map)
}

pub(crate) fn optional_text(body: &Map<String, Value>, field: &str) -> ApiResult<Option<String>> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(field_error(field, format!("`{field}` must not be empty")))
        }
        Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
        Some(other) => Err(field_error(
            field,
            format!("`{field}` must be a string, not {}", json_kind(other)),
        )),
    }
}

pub(crate) fn required_text(body: &Map<String, Value>, field: &str) -> ApiResult<String> {
    optional_text(body, field)?.ok_or_else(|| field_error(field, format!("`{field}` is required")))
}

/// Appends the `task.completed` of a task, done `by` someone (an email) when known; returns
/// the event's key. The Shared Space (`crate::space`) completes tasks through it too.
pub(crate) async fn append_task_completed(
    state: &AppState,
    account: &str,
    project: &str,
    task: &str,
    by: Option<&str>,
) -> ApiResult<String> {
    let mut data = json!({ "project": project, "task": task });
    if let Some(by) = by {
        data["by"] = json!(by);
    }
    append(state, account, types::TASK_COMPLETED, task, data).await
}

/// Appends the `comment.posted` of a comment on a task; returns the event's key. The Shared
/// Space (`crate::space`) posts comments through it too.
pub(crate) async fn append_comment(
    state: &AppState,
    account: &str,
    project: &str,
    task: &str,
    author: &str,
    text: &str,
) -> ApiResult<String> {
    let data = json!({ "project": project, "task": task, "author": author, "text": text });
    append(state, account, types::COMMENT_POSTED, task, data).await
}

/// Appends one event for the account at the engine's time; returns its key.
pub(crate) async fn append(
    state: &AppState,
    account: &str,
    kind: &str,
    subject: &str,
    data: Value,
) -> ApiResult<String> {
    let now = state.engine.now();
    let kind = EventType::parse(kind).map_err(ApiError::internal)?;
    // The same request at the same time is one event; two different ones never collide.
    let key = format!(
        "{kind}:{}",
        derived_id(
            "api",
            &[
                account,
                subject,
                &data.to_string(),
                &now.millis().to_string()
            ]
        )
    );
    state
        .engine
        .ingest(vec![NewEvent {
            key: key.clone(),
            kind,
            account: account.to_owned(),
            at: now,
            data,
        }])
        .await?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::openapi::documented;

    #[test]
    fn project_and_task_statuses_are_documented() {
        // A variant added in the core breaks these matches, and so this test.
        let projects = [
            ProjectStatus::Draft,
            ProjectStatus::Active,
            ProjectStatus::Completed,
        ];
        for status in projects {
            match status {
                ProjectStatus::Draft | ProjectStatus::Active | ProjectStatus::Completed => {}
            }
        }
        let tasks = [
            TaskStatus::Snoozed,
            TaskStatus::Waiting,
            TaskStatus::Open,
            TaskStatus::Done,
        ];
        for status in tasks {
            match status {
                TaskStatus::Snoozed | TaskStatus::Waiting | TaskStatus::Open | TaskStatus::Done => {
                }
            }
        }
        assert_eq!(
            documented::<ProjectStatusSchema>(),
            projects.map(|s| s.as_str().to_owned())
        );
        assert_eq!(
            documented::<TaskStatusSchema>(),
            tasks.map(|s| s.as_str().to_owned())
        );
    }
}
