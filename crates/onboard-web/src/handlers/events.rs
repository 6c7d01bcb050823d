//! The event log: `POST /api/events` (custom events from any system) and `GET /api/events`.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, JsonValue, Params};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use onboard_core::event::{parse_input_event, InputError};
use onboard_core::{Event, NewEvent};
use onboard_store::{Appended, EventFilter};
use serde_json::{json, Value};

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

pub async fn append(
    State(state): State<AppState>,
    _admin: Admin,
    JsonValue(body): JsonValue,
) -> ApiResult<Json<Value>> {
    let single = !body.is_array();
    let events = parse_events(&body, state.engine.now())?;
    let keys: Vec<String> = events.iter().map(|e| e.key.clone()).collect();
    let outcomes = state.engine.ingest(events).await?;
    let results: Vec<Value> = keys
        .iter()
        .zip(&outcomes)
        .map(|(key, outcome)| match outcome {
            Appended::New(seq) => json!({ "id": key, "seq": seq, "status": "new" }),
            Appended::Duplicate(seq) => json!({ "id": key, "seq": seq, "status": "duplicate" }),
        })
        .collect();
    if single {
        return Ok(Json(results.into_iter().next().unwrap_or(Value::Null)));
    }
    let n_new = outcomes
        .iter()
        .filter(|o| matches!(o, Appended::New(_)))
        .count();
    Ok(Json(json!({
        "accepted": n_new,
        "duplicates": outcomes.len() - n_new,
        "results": results,
    })))
}

/// An event as the API shows it.
pub fn event_json(event: &Event) -> Value {
    json!({
        "seq": event.seq,
        "id": event.key,
        "type": event.kind.as_str(),
        "account": event.account,
        "at": event.at.to_rfc3339(),
        "data": event.data,
        "received_at": event.received_at.to_rfc3339(),
        "processed_at": event.processed_at.map(|t| t.to_rfc3339()),
    })
}

pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    params: Params,
) -> ApiResult<Json<Value>> {
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
    Ok(Json(json!({
        "events": events.iter().map(event_json).collect::<Vec<_>>(),
        "next": next,
    })))
}
