//! Autopilot: `GET /api/accounts/{id}/autopilot` (the account's segment, the tasks it
//! watches, its posts, escalations and approvals, and its log: the `autopilot.*` events),
//! `GET /api/autopilot/approvals` (the queue across accounts) and
//! `POST /api/accounts/{id}/autopilot/approvals/{approval}` (a person's decision, appended as
//! `autopilot.approved` or `autopilot.rejected` for the processor to act on). The console's
//! approvals page decides through [`decide`] too.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, Params};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use bytes::Bytes;
use onboard_core::event::types;
use onboard_core::state::{Approval, ApprovalStatus, AutopilotState};
use onboard_core::{EventType, NewEvent, Timestamp};
use onboard_store::{ApprovalQuery, EventFilter};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

/// How many log entries the account's view shows, newest last.
const LOG_LIMIT: i64 = 500;

/// One account's autopilot.
#[derive(Serialize, ToSchema)]
pub struct AutopilotView {
    pub account: String,
    /// Whether the engine runs the account now.
    pub active: bool,
    /// The program's segment it is (or was last) in; null if it never was in one.
    pub segment: Option<String>,
    #[schema(format = DateTime)]
    pub since: Option<String>,
    #[schema(format = DateTime)]
    pub stopped_at: Option<String>,
    /// The customer tasks being watched, with the reminders sent so far.
    pub tasks: Vec<WatchView>,
    /// Progress posted to the Shared Space, oldest first.
    pub posts: Vec<PostView>,
    /// The times the account was handed to a person, oldest first.
    pub escalations: Vec<EscalationView>,
    /// Queued actions and recent decisions, oldest first.
    pub approvals: Vec<ApprovalView>,
    /// The autopilot log: `autopilot.started`, `autopilot.stopped` and each
    /// `autopilot.acted` (action, outcome, reason, subject, evidence), oldest first.
    #[schema(value_type = Vec<Object>)]
    pub log: Vec<Value>,
}

/// An action autopilot queued for a person's approval, and its decision.
#[derive(Serialize, ToSchema)]
#[schema(as = AutopilotApproval)]
pub struct ApprovalView {
    pub id: String,
    pub account: String,
    /// `remind`, `post` or `escalate`.
    pub action: String,
    /// Why autopilot wants to act.
    pub reason: String,
    /// What it is about: a task, a goal, a comment, an integration.
    pub subject: String,
    /// What autopilot saw.
    pub evidence: String,
    /// What would happen, in words (recipients, subject).
    pub summary: String,
    /// The text that would go out.
    pub preview: String,
    /// `pending`, `approved`, `rejected`, or `moot` (approved when no longer needed).
    pub status: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub decided_at: Option<String>,
    pub decided_by: Option<String>,
    /// The decision's note, or why it was moot.
    pub note: Option<String>,
}

impl From<&Approval> for ApprovalView {
    fn from(a: &Approval) -> Self {
        Self {
            id: a.id.clone(),
            account: a.account.clone(),
            action: a.action.clone(),
            reason: a.reason.clone(),
            subject: a.subject.clone(),
            evidence: a.evidence.clone(),
            summary: a.summary.clone(),
            preview: a.preview.clone(),
            status: a.status.as_str().to_owned(),
            created_at: time(a.created_at),
            decided_at: a.decided_at.map(time),
            decided_by: a.decided_by.clone(),
            note: a.note.clone(),
        }
    }
}

/// A customer task autopilot watches.
#[derive(Serialize, ToSchema)]
pub struct WatchView {
    pub project: String,
    pub task: String,
    #[schema(format = DateTime)]
    pub unlocked_at: String,
    /// When each reminder went out (or was queued), in order.
    pub reminders: Vec<String>,
    #[schema(format = DateTime)]
    pub escalated_at: Option<String>,
    /// The approval a reminder waits for, if any.
    pub waiting_for: Option<String>,
}

/// A progress post.
#[derive(Serialize, ToSchema)]
pub struct PostView {
    #[schema(format = DateTime)]
    pub at: String,
    pub title: String,
    pub text: String,
}

/// An escalation.
#[derive(Serialize, ToSchema)]
pub struct EscalationView {
    #[schema(format = DateTime)]
    pub at: String,
    /// `reminders_ignored`, `goal_at_risk`, `comment:<signal>` or `integration_failed`.
    pub reason: String,
    pub subject: String,
    pub evidence: String,
    /// The event that caused it.
    pub cause: String,
}

fn time(t: Timestamp) -> String {
    t.to_rfc3339()
}

impl AutopilotView {
    fn of(account: &str, run: Option<&AutopilotState>, log: Vec<Value>) -> Self {
        let Some(run) = run else {
            return Self {
                account: account.to_owned(),
                active: false,
                segment: None,
                since: None,
                stopped_at: None,
                tasks: Vec::new(),
                posts: Vec::new(),
                escalations: Vec::new(),
                approvals: Vec::new(),
                log,
            };
        };
        Self {
            account: account.to_owned(),
            active: run.active(),
            segment: Some(run.segment.clone()),
            since: Some(time(run.since)),
            stopped_at: run.stopped_at.map(time),
            tasks: run
                .tasks
                .values()
                .map(|w| WatchView {
                    project: w.project.clone(),
                    task: w.task.clone(),
                    unlocked_at: time(w.unlocked_at),
                    reminders: w.reminders.iter().copied().map(time).collect(),
                    escalated_at: w.escalated_at.map(time),
                    waiting_for: w.waiting.clone(),
                })
                .collect(),
            posts: run
                .posts
                .iter()
                .map(|p| PostView {
                    at: time(p.at),
                    title: p.title.clone(),
                    text: p.text.clone(),
                })
                .collect(),
            escalations: run
                .escalations
                .iter()
                .map(|e| EscalationView {
                    at: time(e.at),
                    reason: e.reason.clone(),
                    subject: e.subject.clone(),
                    evidence: e.evidence.clone(),
                    cause: e.cause.clone(),
                })
                .collect(),
            approvals: run.approvals.iter().map(ApprovalView::from).collect(),
            log,
        }
    }
}

/// The autopilot log of an account: its `autopilot.*` events, oldest first.
pub(crate) async fn log(state: &AppState, account: &str) -> ApiResult<Vec<Value>> {
    let mut log = Vec::new();
    for kind in [
        types::AUTOPILOT_STARTED,
        types::AUTOPILOT_STOPPED,
        types::AUTOPILOT_ACTED,
    ] {
        let events = state
            .engine
            .store()
            .list_events(&EventFilter {
                account: Some(account.to_owned()),
                kind: Some(kind.to_owned()),
                limit: LOG_LIMIT,
                ..Default::default()
            })
            .await?;
        log.extend(events);
    }
    log.sort_by_key(|e| e.seq);
    Ok(log
        .into_iter()
        .map(|e| {
            json!({
                "seq": e.seq,
                "type": e.kind.as_str(),
                "at": e.at.to_rfc3339(),
                "data": e.data,
            })
        })
        .collect())
}

/// An account's autopilot: its segment, the tasks it watches with the reminders sent, its
/// progress posts, escalations (reason and evidence), approvals, and its log.
#[utoipa::path(
    get,
    path = "/api/accounts/{id}/autopilot",
    tag = "autopilot",
    operation_id = "account_autopilot",
    params(("id" = String, Path, description = "The account key")),
    responses(
        (status = 200, description = "The account's autopilot", body = AutopilotView),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No account has this key", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("bearer" = []))
)]
pub async fn account(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<AutopilotView>> {
    let account = state
        .engine
        .store()
        .account(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no account `{id}`")))?;
    let log = log(&state, &id).await?;
    Ok(Json(AutopilotView::of(
        &id,
        account.autopilot.as_ref(),
        log,
    )))
}

/// Autopilot's approvals across accounts, oldest first.
#[derive(Serialize, ToSchema)]
pub struct ApprovalList {
    pub approvals: Vec<ApprovalView>,
}

/// Parses the approvals query; a bad value or an unknown parameter is a 400 naming it.
fn approval_query(params: &Params) -> ApiResult<ApprovalQuery> {
    params.only(&["status", "account", "limit"])?;
    let status = match params.text("status") {
        None | Some("pending") => Some("pending".to_owned()),
        Some("all") => None,
        Some(s @ ("approved" | "rejected" | "moot")) => Some(s.to_owned()),
        Some(other) => {
            return Err(super::projects::field_error(
                "status",
                format!("`status` is `{other}`; use pending, approved, rejected, moot or all"),
            ))
        }
    };
    Ok(ApprovalQuery {
        status,
        account: params.text("account").map(str::to_owned),
        limit: params.int("limit", 1, 1_000)?,
    })
}

/// The approval queue: what autopilot wants to do and the program asks a person to approve
/// first (by default the pending ones, oldest first).
#[utoipa::path(
    get,
    path = "/api/autopilot/approvals",
    tag = "autopilot",
    operation_id = "autopilot_approvals",
    params(
        ("status" = Option<String>, Query, description = "`pending` (default), `approved`, `rejected`, `moot` or `all`"),
        ("account" = Option<String>, Query, description = "Only this account's approvals"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "At most this many; 100 by default"),
    ),
    responses(
        (status = 200, description = "The approvals", body = ApprovalList),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("bearer" = []))
)]
pub async fn approvals(
    State(state): State<AppState>,
    _admin: Admin,
    params: Params,
) -> ApiResult<Json<ApprovalList>> {
    let query = approval_query(&params)?;
    let approvals = state.engine.store().approvals(&query).await?;
    Ok(Json(ApprovalList {
        approvals: approvals.iter().map(ApprovalView::from).collect(),
    }))
}

/// The body of a decision.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the body only; the handler reads a `Value`.
pub struct Decision {
    /// `approve` or `reject`.
    #[schema(example = "approve")]
    decision: String,
    /// Who decided (a team member's email).
    #[schema(example = "dana@pipeflow.example")]
    by: String,
    /// Why, for the log (optional).
    #[schema(required = false)]
    note: String,
}

/// The answer to a decision.
#[derive(Serialize, ToSchema)]
pub struct DecisionAccepted {
    /// The key of the `autopilot.approved` or `autopilot.rejected` event.
    pub event: String,
    pub approval: String,
}

/// A person's decision on a queued action: appended as `autopilot.approved` or
/// `autopilot.rejected`; the processor then runs the action (if it is still needed) or
/// drops it, and logs either.
#[utoipa::path(
    post,
    path = "/api/accounts/{id}/autopilot/approvals/{approval}",
    tag = "autopilot",
    operation_id = "decide_autopilot_approval",
    params(
        ("id" = String, Path, description = "The account key"),
        ("approval" = String, Path, description = "The approval's id"),
    ),
    request_body = Decision,
    responses(
        (status = 202, description = "The decision is in the event log", body = DecisionAccepted),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such account or approval", body = crate::openapi::ErrorBody),
        (status = 409, description = "The approval was already decided", body = crate::openapi::ErrorBody),
        (status = 413, response = crate::openapi::TooLarge),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
pub async fn decide_approval(
    State(state): State<AppState>,
    _admin: Admin,
    Path((id, approval)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<DecisionAccepted>)> {
    use super::projects::{field_error, object, optional_text, required_text};
    let body = object(&body, &["decision", "by", "note"], true)?;
    let approve = match required_text(&body, "decision")?.as_str() {
        "approve" => true,
        "reject" => false,
        other => {
            return Err(field_error(
                "decision",
                format!("`decision` is `{other}`; use approve or reject"),
            ))
        }
    };
    let by = required_text(&body, "by")?;
    let note = optional_text(&body, "note")?;
    if note.as_ref().is_some_and(|n| n.chars().count() > 2_000) {
        return Err(field_error(
            "note",
            "`note` is longer than 2000 characters".to_owned(),
        ));
    }
    let event = decide(&state, &id, &approval, approve, &by, note.as_deref()).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(DecisionAccepted { event, approval }),
    ))
}

/// Checks that the approval is pending at the account, then appends the decision; the
/// event's key. One key per approval and decision: deciding twice the same way is one event.
pub(crate) async fn decide(
    state: &AppState,
    account: &str,
    approval: &str,
    approve: bool,
    by: &str,
    note: Option<&str>,
) -> ApiResult<String> {
    let found = state
        .engine
        .store()
        .account(account)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no account `{account}`")))?
        .autopilot
        .and_then(|run| run.approvals.into_iter().find(|a| a.id == approval))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no autopilot approval `{approval}` at account `{account}`"
            ))
        })?;
    if found.status != ApprovalStatus::Pending {
        return Err(ApiError::conflict(format!(
            "approval `{approval}` is already {}",
            found.status.as_str()
        )));
    }
    let kind = if approve {
        types::AUTOPILOT_APPROVED
    } else {
        types::AUTOPILOT_REJECTED
    };
    let key = format!("{kind}:{approval}");
    let mut data = json!({ "approval": approval, "by": by });
    if let Some(note) = note {
        data["note"] = json!(note);
    }
    state
        .engine
        .ingest(vec![NewEvent {
            key: key.clone(),
            kind: EventType::parse(kind).map_err(ApiError::internal)?,
            account: account.to_owned(),
            at: state.engine.now(),
            data,
        }])
        .await?;
    Ok(key)
}
