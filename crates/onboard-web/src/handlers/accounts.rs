//! Accounts as the processor sees them: `GET /api/accounts/{id}` and its traces
//! (`GET /api/accounts/{id}/traces`: why each rule fired or did not).

use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, Params};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

pub async fn one(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let account = state
        .engine
        .store()
        .account(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no account `{id}`")))?;
    let mut value = serde_json::to_value(&account).map_err(ApiError::internal)?;
    if let Some(object) = value.as_object_mut() {
        object.insert("created_at".into(), json!(account.created_at.to_rfc3339()));
        object.insert("updated_at".into(), json!(account.updated_at.to_rfc3339()));
    }
    Ok(Json(value))
}

pub async fn traces(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Json<Value>> {
    params.only(&["limit"])?;
    let limit = params.int("limit", 1, 1_000)?.unwrap_or(200);
    let traces = state.engine.store().traces(&id, limit).await?;
    Ok(Json(json!({
        "traces": traces.iter().map(|t| json!({
            "rule": t.rule,
            "event": t.event,
            "at": t.at.to_rfc3339(),
            "outcome": t.outcome.as_str(),
            "reason": t.reason,
        })).collect::<Vec<_>>(),
    })))
}
