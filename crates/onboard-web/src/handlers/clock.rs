//! The manual clock: `GET /api/clock`, `POST /api/clock/advance` with `{"by": "72h"}` or
//! `{"to": "<RFC 3339>"}`; the advance answers once the engine has settled up to the new time.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, JsonValue};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use onboard_core::event::{json_kind, InputError};
use onboard_core::{Duration, Timestamp};
use serde_json::{json, Value};

pub async fn now(State(state): State<AppState>, _admin: Admin) -> Json<Value> {
    let manual = state.engine.clock().manual().is_some();
    Json(json!({
        "now": state.engine.now().to_rfc3339(),
        "mode": if manual { "manual" } else { "system" },
    }))
}

fn detail(at: &str, message: String) -> ApiError {
    ApiError::invalid(
        "the clock can move by a duration or to a time".to_owned(),
        vec![InputError {
            at: at.to_owned(),
            message,
        }],
    )
}

pub async fn advance(
    State(state): State<AppState>,
    _admin: Admin,
    JsonValue(body): JsonValue,
) -> ApiResult<Json<Value>> {
    if state.engine.clock().manual().is_none() {
        return Err(ApiError::conflict(
            "the clock is the system clock; start the server with --clock manual to move it",
        ));
    }
    let object = body
        .as_object()
        .ok_or_else(|| detail("/", format!("expected an object, not {}", json_kind(&body))))?;
    for key in object.keys() {
        if key != "by" && key != "to" {
            return Err(detail(
                &format!("/{key}"),
                format!("unknown field `{key}`; give `by` or `to`"),
            ));
        }
    }
    let now = state.engine.now();
    let to = match (object.get("by"), object.get("to")) {
        (Some(by), None) => {
            let text = by.as_str().ok_or_else(|| {
                detail(
                    "/by",
                    format!("`by` must be a string like \"72h\", not {}", json_kind(by)),
                )
            })?;
            let d = Duration::parse(text).map_err(|e| detail("/by", e.to_string()))?;
            now.plus(d)
        }
        (None, Some(to)) => {
            let text = to.as_str().ok_or_else(|| {
                detail(
                    "/to",
                    format!("`to` must be an RFC 3339 string, not {}", json_kind(to)),
                )
            })?;
            let t = Timestamp::parse_rfc3339(text).map_err(|e| detail("/to", e.to_string()))?;
            if t < now {
                return Err(detail(
                    "/to",
                    format!("{t} is before the clock's time {now}; the clock only moves forward"),
                ));
            }
            t
        }
        (Some(_), Some(_)) => {
            return Err(detail("/", "give either `by` or `to`, not both".to_owned()))
        }
        (None, None) => {
            return Err(detail(
                "/",
                "give `by` (e.g. \"72h\") or `to` (an RFC 3339 time)".to_owned(),
            ))
        }
    };
    let progress = state.engine.advance_to(to).await?;
    Ok(Json(json!({
        "now": state.engine.now().to_rfc3339(),
        "settled": progress,
    })))
}
