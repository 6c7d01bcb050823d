//! The outbox: `GET /api/messages`, `GET /api/messages/{id}`, `POST /api/messages/{id}/retry`.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, Params};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use onboard_store::{MessageFilter, MessageRecord};
use serde_json::{json, Value};

fn message_json(m: &MessageRecord) -> Value {
    json!({
        "id": m.id,
        "account": m.account,
        "channel": m.channel,
        "to": { "name": m.to_name, "email": m.to_email },
        "from": { "name": m.from_name, "email": m.from_email },
        "subject": m.subject,
        "body": m.body,
        "message_id": m.message_id,
        "rule": m.rule,
        "cause": m.cause,
        "status": m.status,
        "attempts": m.attempts,
        "next_attempt_at": m.next_attempt_at.map(|t| t.to_rfc3339()),
        "last_error": m.last_error,
        "created_at": m.created_at.to_rfc3339(),
        "delivered_at": m.delivered_at.map(|t| t.to_rfc3339()),
        "attempt_log": m.attempt_log.iter().map(|a| json!({
            "n": a.n,
            "at": a.at.to_rfc3339(),
            "outcome": a.outcome,
            "error": a.error,
        })).collect::<Vec<_>>(),
    })
}

pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    params: Params,
) -> ApiResult<Json<Value>> {
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
    Ok(Json(json!({
        "messages": messages.iter().map(message_json).collect::<Vec<_>>(),
        "next": next,
    })))
}

pub async fn one(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let message = state
        .engine
        .store()
        .message(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no message `{id}`")))?;
    Ok(Json(message_json(&message)))
}

pub async fn retry(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
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
    Ok(Json(message_json(&message)))
}
