//! The outbox: `GET /api/messages`, `GET /api/messages/{id}`, `POST /api/messages/{id}/retry`.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, Params};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use onboard_store::{AttemptRecord, MessageFilter, MessageRecord};
use serde::Serialize;
use utoipa::ToSchema;

/// An outbox message as the API shows it, with its attempts.
#[derive(Serialize, ToSchema)]
#[schema(as = Message)]
pub struct MessageView {
    pub id: String,
    /// The account key.
    pub account: String,
    /// How it is delivered: `email`, or `hubspot` (a deal fetched from HubSpot).
    #[schema(example = "email")]
    pub channel: String,
    pub to: Party,
    pub from: Party,
    pub subject: String,
    pub body: String,
    /// The RFC 5322 Message-ID, fixed before the first attempt.
    pub message_id: String,
    /// The rule that decided it.
    pub rule: String,
    /// The key of the event that caused it.
    pub cause: String,
    /// The person whose personal sign-in link the body holds, if any.
    pub sign_in_for: Option<String>,
    /// Who wrote the text of an autopilot email when a language model is configured: the
    /// model's name (subject and body are its draft), or `template: <reason>` when its
    /// draft was not used (an error, a timeout, an answer that dropped a link…); null
    /// when no draft was tried.
    #[schema(example = "template: timeout after 8s")]
    pub drafted_by: Option<String>,
    #[schema(value_type = MessageStatus)]
    pub status: String,
    pub attempts: i64,
    /// When the next attempt is due; null once delivered or dead.
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub delivered_at: Option<String>,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<AttemptView>,
}

/// A sender or recipient.
#[derive(Serialize, ToSchema)]
pub struct Party {
    pub name: String,
    pub email: String,
}

/// One delivery attempt.
#[derive(Serialize, ToSchema)]
#[schema(as = Attempt)]
pub struct AttemptView {
    /// 1 for the first attempt.
    pub n: i64,
    #[schema(format = DateTime)]
    pub at: String,
    /// `delivered`, `failed` (retried later) or `dead` (no more retries).
    #[schema(example = "delivered")]
    pub outcome: String,
    pub error: Option<String>,
}

/// Where a message stands.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Describes `MessageRecord::status`, which the store keeps as text.
pub enum MessageStatus {
    Queued,
    Delivered,
    Dead,
}

impl From<&AttemptRecord> for AttemptView {
    fn from(a: &AttemptRecord) -> Self {
        Self {
            n: a.n,
            at: a.at.to_rfc3339(),
            outcome: a.outcome.clone(),
            error: a.error.clone(),
        }
    }
}

impl From<&MessageRecord> for MessageView {
    fn from(m: &MessageRecord) -> Self {
        Self {
            id: m.id.clone(),
            account: m.account.clone(),
            channel: m.channel.clone(),
            to: Party {
                name: m.to_name.clone(),
                email: m.to_email.clone(),
            },
            from: Party {
                name: m.from_name.clone(),
                email: m.from_email.clone(),
            },
            subject: m.subject.clone(),
            body: m.body.clone(),
            message_id: m.message_id.clone(),
            rule: m.rule.clone(),
            cause: m.cause.clone(),
            sign_in_for: m.sign_in_email.clone(),
            drafted_by: m.drafted_by.clone(),
            status: m.status.clone(),
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at.map(|t| t.to_rfc3339()),
            last_error: m.last_error.clone(),
            created_at: m.created_at.to_rfc3339(),
            delivered_at: m.delivered_at.map(|t| t.to_rfc3339()),
            attempt_log: m.attempt_log.iter().map(AttemptView::from).collect(),
        }
    }
}

/// A page of the outbox, newest first.
#[derive(Serialize, ToSchema)]
pub struct MessagePage {
    pub messages: Vec<MessageView>,
    /// The `before` of the next page; null on the last one.
    pub next: Option<String>,
}

/// The outbox, newest first.
#[utoipa::path(
    get,
    path = "/api/messages",
    tag = "messages",
    operation_id = "list_messages",
    params(
        ("account" = Option<String>, Query, description = "Only this account's messages"),
        ("status" = Option<MessageStatus>, Query, description = "Only messages in this state"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Page size; 100 by default"),
        ("before" = Option<String>, Query, description = "The `next` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of messages", body = MessagePage),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    params: Params,
) -> ApiResult<Json<MessagePage>> {
    params.only(&["account", "status", "limit", "before"])?;
    let status = params.text("status");
    if let Some(status) = status {
        if !matches!(status, "queued" | "delivered" | "dead") {
            return Err(ApiError::bad_request(format!(
                "`status` must be queued, delivered or dead, not `{status}`"
            )));
        }
    }
    let limit = params.int("limit", 1, 500)?.unwrap_or(100);
    let before = params
        .text("before")
        .map(|cursor| {
            cursor
                .split_once('~')
                .and_then(|(t, id)| Some((onboard_core::Timestamp(t.parse().ok()?), id.to_owned())))
                .ok_or_else(|| ApiError::bad_request("`before` must be a cursor from `next`"))
        })
        .transpose()?;
    let filter = MessageFilter {
        account: params.text("account").map(str::to_owned),
        status: status.map(str::to_owned),
        before,
        limit,
    };
    let messages = state.engine.store().list_messages(&filter).await?;
    let next = if messages.len() as i64 == limit {
        messages
            .last()
            .map(|m| format!("{}~{}", m.created_at.millis(), m.id))
    } else {
        None
    };
    Ok(Json(MessagePage {
        messages: messages.iter().map(MessageView::from).collect(),
        next,
    }))
}

/// One message with its attempts.
#[utoipa::path(
    get,
    path = "/api/messages/{id}",
    tag = "messages",
    operation_id = "message",
    params(("id" = String, Path, description = "The message id")),
    responses(
        (status = 200, description = "The message", body = MessageView),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No message has this id", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("bearer" = []))
)]
pub async fn one(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<MessageView>> {
    let message = state
        .engine
        .store()
        .message(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no message `{id}`")))?;
    Ok(Json(MessageView::from(&message)))
}

/// Puts a dead message back in the queue, due now.
#[utoipa::path(
    post,
    path = "/api/messages/{id}/retry",
    tag = "messages",
    operation_id = "retry_message",
    params(("id" = String, Path, description = "The id of a dead message")),
    responses(
        (status = 200, description = "The message, queued again", body = MessageView),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No dead message has this id", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("bearer" = []))
)]
pub async fn retry(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<MessageView>> {
    match state.engine.retry_message(&id).await {
        Ok(()) => {}
        Err(onboard_engine::EngineError::Store(onboard_store::StoreError::NotFound)) => {
            return Err(ApiError::not_found(format!("no dead message `{id}`")))
        }
        Err(e) => return Err(e.into()),
    }
    let message = state
        .engine
        .store()
        .message(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no message `{id}`")))?;
    Ok(Json(MessageView::from(&message)))
}
