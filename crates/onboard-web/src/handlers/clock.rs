//! The manual clock: `GET /api/clock`, `POST /api/clock/advance` with `{"by": "72h"}` or
//! `{"to": "<RFC 3339>"}`; the advance answers once the engine has settled up to the new time.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, JsonValue};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use onboard_core::event::{json_kind, InputError};
use onboard_core::{Duration, Timestamp};
use onboard_engine::Progress;
use serde::Serialize;
use utoipa::ToSchema;

/// The engine's time.
#[derive(Serialize, ToSchema)]
pub struct ClockView {
    #[schema(format = DateTime)]
    pub now: String,
    pub mode: ClockMode,
}

/// `manual` when the server runs with `--clock manual`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClockMode {
    Manual,
    System,
}

/// The body of `POST /api/clock/advance`: exactly one of `by` and `to`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Describes the body only; the handler reads a `Value`.
pub struct ClockMove {
    /// A duration such as `72h`, `3d`, `1h30m`.
    #[schema(example = "72h")]
    by: Option<String>,
    /// A time at or after the clock's (RFC 3339).
    #[schema(format = DateTime)]
    to: Option<String>,
}

/// The clock after an advance, and what was done to get there.
#[derive(Serialize, ToSchema)]
pub struct Advanced {
    #[schema(format = DateTime)]
    pub now: String,
    pub settled: Settled,
}

/// What the engine did while the clock moved.
#[derive(Serialize, ToSchema)]
pub struct Settled {
    pub timers_fired: usize,
    pub events_processed: usize,
    pub messages_attempted: usize,
}

impl From<Progress> for Settled {
    fn from(p: Progress) -> Self {
        Self {
            timers_fired: p.timers_fired,
            events_processed: p.events_processed,
            messages_attempted: p.messages_attempted,
        }
    }
}

/// The engine's time and whether it is a manual clock.
#[utoipa::path(
    get,
    path = "/api/clock",
    tag = "clock",
    operation_id = "clock",
    responses(
        (status = 200, description = "The clock", body = ClockView),
        (status = 401, response = crate::openapi::Unauthorized),
    ),
    security(("bearer" = []))
)]
pub async fn now(State(state): State<AppState>, _admin: Admin) -> Json<ClockView> {
    let manual = state.engine.clock().manual().is_some();
    Json(ClockView {
        now: state.engine.now().to_rfc3339(),
        mode: if manual {
            ClockMode::Manual
        } else {
            ClockMode::System
        },
    })
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

/// Moves the manual clock forward, firing every timer due on the way at its own time;
/// answers once everything due up to the new time has happened.
#[utoipa::path(
    post,
    path = "/api/clock/advance",
    tag = "clock",
    operation_id = "advance_clock",
    request_body(content = ClockMove, example = json!({"by": "72h"})),
    responses(
        (status = 200, description = "The clock moved and the engine settled", body = Advanced),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 409, description = "The server runs on the system clock", body = crate::openapi::ErrorBody),
        (status = 413, response = crate::openapi::TooLarge),
        (status = 422, description = "Neither or both of `by` and `to`, an unknown field, a bad duration or time, or a time in the past; `details` says where", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
pub async fn advance(
    State(state): State<AppState>,
    _admin: Admin,
    JsonValue(body): JsonValue,
) -> ApiResult<Json<Advanced>> {
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
    Ok(Json(Advanced {
        now: state.engine.now().to_rfc3339(),
        settled: progress.into(),
    }))
}
