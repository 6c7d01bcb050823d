//! The event log: `POST /api/events` (custom events from any system) and `GET /api/events`.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, JsonValue, Params};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use onboard_core::event::{parse_input_event, InputError};
use onboard_core::{Event, NewEvent};
use onboard_store::{Appended, EventFilter};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// Most events accepted in one request.
pub const MAX_EVENTS_PER_REQUEST: usize = 1_000;

/// Validates every event of the body (one object or an array); nothing is written unless
/// all are valid.
pub fn parse_events(body: &Value, now: onboard_core::Timestamp) -> ApiResult<Vec<NewEvent>> {
    let items: Vec<(String, &Value)> = match body {
        Value::Array(items) => {
            if items.is_empty() {
                return Err(ApiError::bad_request("the array of events is empty"));
            }
            if items.len() > MAX_EVENTS_PER_REQUEST {
                return Err(ApiError::new(
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!(
                        "{} events in one request; send at most {MAX_EVENTS_PER_REQUEST}",
                        items.len()
                    ),
                ));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("/{i}"), v))
                .collect()
        }
        other => vec![(String::new(), other)],
    };
    let mut events = Vec::with_capacity(items.len());
    let mut errors: Vec<InputError> = Vec::new();
    for (path, value) in items {
        match parse_input_event(value, &path, now) {
            Ok(event) => events.push(event),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(events)
    } else {
        Err(ApiError::invalid(
            format!(
                "{} problem(s) in the events; nothing was written",
                errors.len()
            ),
            errors,
        ))
    }
}

/// An event to append: what `parse_input_event` accepts (it refuses other fields).
#[derive(ToSchema)]
#[schema(
    as = NewEvent,
    example = json!({"id": "deal-1001-won", "type": "deal.won", "account": "acme",
                     "data": {"account_name": "Acme Corp"}})
)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Describes the body only; the handler validates a `Value`.
pub struct NewEventBody {
    /// The dedupe key: a second event with the same id is answered `duplicate` and changes
    /// nothing.
    #[schema(min_length = 1, max_length = 200)]
    id: String,
    /// The event type: lower-case letters, digits, `_`, `-` and `.`, starting with a letter.
    #[serde(rename = "type")]
    #[schema(pattern = "^[a-z][a-z0-9_.-]{0,99}$", example = "deal.won")]
    kind: String,
    /// The account key.
    #[schema(min_length = 1, max_length = 200)]
    account: String,
    /// When it happened (RFC 3339); the intake time when absent.
    #[schema(format = DateTime)]
    at: Option<String>,
    /// The event's data; `{}` when absent.
    #[schema(value_type = Option<Object>)]
    data: Option<Value>,
}

/// The body of `POST /api/events`: one event, or an array of 1 to 1,000.
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Describes the body only.
pub enum NewEvents {
    One(NewEventBody),
    Many(Vec<NewEventBody>),
}

/// What became of one appended event.
#[derive(Serialize, ToSchema)]
pub struct EventOutcome {
    /// The event's id (its dedupe key).
    pub id: String,
    /// Its position in the log (the earlier event's, for a duplicate).
    pub seq: i64,
    pub status: OutcomeStatus,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    /// Appended now.
    New,
    /// Already in the log: nothing changed.
    Duplicate,
}

/// The answer to an array of events.
#[derive(Serialize, ToSchema)]
pub struct BatchOutcome {
    /// How many events were new.
    pub accepted: usize,
    /// How many were already in the log.
    pub duplicates: usize,
    /// One outcome per event, in the order sent.
    pub results: Vec<EventOutcome>,
}

/// One outcome for one event sent as an object; counts and outcomes for an array.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum AppendAnswer {
    One(EventOutcome),
    Many(BatchOutcome),
}

/// Appends one event or an array; answers once they are committed to the log.
#[utoipa::path(
    post,
    path = "/api/events",
    tag = "events",
    operation_id = "append_events",
    request_body(content = NewEvents, description = "One event, or an array of up to 1,000 (at most 4 MiB); one bad event refuses them all"),
    responses(
        (status = 200, description = "Every event is in the log: an `EventOutcome` for an object, a `BatchOutcome` for an array", body = AppendAnswer),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 413, response = crate::openapi::TooLarge),
        (status = 422, description = "Some events are not valid; each problem is in `details`, `at` pointing into the body (`/0/type`); nothing was written", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
pub async fn append(
    State(state): State<AppState>,
    _admin: Admin,
    JsonValue(body): JsonValue,
) -> ApiResult<Json<AppendAnswer>> {
    let single = !body.is_array();
    let events = parse_events(&body, state.engine.now())?;
    let keys: Vec<String> = events.iter().map(|e| e.key.clone()).collect();
    let outcomes = state.engine.ingest(events).await?;
    let mut results: Vec<EventOutcome> = keys
        .into_iter()
        .zip(&outcomes)
        .map(|(id, outcome)| match outcome {
            Appended::New(seq) => EventOutcome {
                id,
                seq: *seq,
                status: OutcomeStatus::New,
            },
            Appended::Duplicate(seq) => EventOutcome {
                id,
                seq: *seq,
                status: OutcomeStatus::Duplicate,
            },
        })
        .collect();
    if single {
        if let Some(one) = results.pop() {
            return Ok(Json(AppendAnswer::One(one)));
        }
    }
    let n_new = outcomes
        .iter()
        .filter(|o| matches!(o, Appended::New(_)))
        .count();
    Ok(Json(AppendAnswer::Many(BatchOutcome {
        accepted: n_new,
        duplicates: outcomes.len() - n_new,
        results,
    })))
}

/// An event as the API shows it.
#[derive(Serialize, ToSchema)]
#[schema(as = Event)]
pub struct EventView {
    /// Position in the log, increasing in append order; the `after` cursor of the list.
    pub seq: i64,
    /// The dedupe key given at intake.
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "deal.won")]
    pub kind: String,
    /// The account key.
    pub account: String,
    /// When it happened.
    #[schema(format = DateTime)]
    pub at: String,
    #[schema(value_type = Object)]
    pub data: Value,
    /// When the intake accepted it.
    #[schema(format = DateTime)]
    pub received_at: String,
    /// When the processor handled it; null while it waits.
    #[schema(format = DateTime)]
    pub processed_at: Option<String>,
}

impl From<&Event> for EventView {
    fn from(event: &Event) -> Self {
        Self {
            seq: event.seq,
            id: event.key.clone(),
            kind: event.kind.as_str().to_owned(),
            account: event.account.clone(),
            at: event.at.to_rfc3339(),
            data: event.data.clone(),
            received_at: event.received_at.to_rfc3339(),
            processed_at: event.processed_at.map(|t| t.to_rfc3339()),
        }
    }
}

/// A page of the event log, oldest first.
#[derive(Serialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<EventView>,
    /// The `after` of the next page; null on the last one.
    pub next: Option<String>,
}

/// The event log, oldest first, with filters.
#[utoipa::path(
    get,
    path = "/api/events",
    tag = "events",
    operation_id = "list_events",
    params(
        ("account" = Option<String>, Query, description = "Only this account's events"),
        ("type" = Option<String>, Query, description = "Only events of this type"),
        ("from" = Option<String>, Query, format = DateTime, description = "Only events at or after this time (RFC 3339)"),
        ("until" = Option<String>, Query, format = DateTime, description = "Only events before this time (RFC 3339)"),
        ("after" = Option<i64>, Query, minimum = 0, description = "The `next` of the previous page"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "Page size; 100 by default"),
    ),
    responses(
        (status = 200, description = "A page of events", body = EventPage),
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
) -> ApiResult<Json<EventPage>> {
    params.only(&["account", "type", "from", "until", "after", "limit"])?;
    let limit = params.int("limit", 1, 1_000)?.unwrap_or(100);
    let filter = EventFilter {
        account: params.text("account").map(str::to_owned),
        kind: params.text("type").map(str::to_owned),
        from: params.time("from")?,
        until: params.time("until")?,
        after_seq: params.int("after", 0, i64::MAX)?,
        limit,
    };
    let events = state.engine.store().list_events(&filter).await?;
    let next = if events.len() as i64 == limit {
        events.last().map(|e| e.seq.to_string())
    } else {
        None
    };
    Ok(Json(EventPage {
        events: events.iter().map(EventView::from).collect(),
        next,
    }))
}
