//! The fake's routes and handlers: the request gate (log, injected failures, API token,
//! rate-limit headers) and one handler per Pipedrive endpoint, each answering in Pipedrive's
//! documented shape.

use crate::{now_v1, Data, LoggedRequest, Shared};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The header the API token travels in.
const TOKEN_HEADER: &str = "x-api-token";
/// The text Pipedrive puts in `error_info` of every error.
const ERROR_INFO: &str =
    "Please check developers.pipedrive.com for more information about Pipedrive API.";
/// Requests per 2-second window the fake reports (Pipedrive's Professional plan).
const RATE_LIMIT: u32 = 80;
/// The largest `limit` a v1 list accepts.
const V1_LIMIT: u64 = 500;

type Params = Query<HashMap<String, String>>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v2/deals/{id}", get(read_deal))
        .route("/api/v2/persons/{id}", get(read_person))
        .route("/api/v1/deals/{id}/participants", get(list_participants))
        .route("/api/v2/organizations/{id}", get(read_organization))
        .route("/api/v1/users/{id}", get(read_user))
        .fallback(unknown_route)
        .layer(middleware::from_fn_with_state(Arc::clone(&shared), gate))
        .with_state(shared)
}

/// Logs the request, then answers an injected failure or a missing/wrong token, else passes
/// the request on; every answer carries the rate-limit headers.
async fn gate(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let path_and_query = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    let failure = {
        let mut data = shared.lock();
        data.log.push(LoggedRequest {
            method: request.method().as_str().to_owned(),
            path_and_query,
            api_token: token.clone(),
        });
        data.take_failure()
    };
    let mut response = if let Some((status, retry_after)) = failure {
        injected_failure(status, retry_after)
    } else if token.as_deref() != Some(shared.options.token.as_str()) {
        error(StatusCode::UNAUTHORIZED, "unauthorized access")
    } else {
        next.run(request).await
    };
    let exhausted = response.status() == StatusCode::TOO_MANY_REQUESTS;
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-ratelimit-limit", RATE_LIMIT),
        (
            "x-ratelimit-remaining",
            if exhausted { 0 } else { RATE_LIMIT - 1 },
        ),
        ("x-ratelimit-reset", 2),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
    response
}

fn injected_failure(status: u16, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = match status.as_u16() {
        401 => "unauthorized access",
        402 => "Company account is not open",
        403 => "You do not have permissions to perform this action",
        404 => "Item not found",
        429 => "Request over limit",
        503 => "Requested service is not available",
        500..=599 => "Internal server error",
        _ => "injected failure",
    };
    let mut response = error(status, message);
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// `GET /api/v2/deals/{id}`.
async fn read_deal(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let data = shared.lock();
    match id.parse().ok().and_then(|id: u64| data.deals.get(&id)) {
        Some(deal) => success(deal.clone(), Value::Null),
        None => error(StatusCode::NOT_FOUND, "Deal not found"),
    }
}

/// `GET /api/v2/persons/{id}`.
async fn read_person(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let data = shared.lock();
    match id.parse().ok().and_then(|id: u64| data.persons.get(&id)) {
        Some(person) => success(person.clone(), Value::Null),
        None => error(StatusCode::NOT_FOUND, "Person not found"),
    }
}

/// `GET /api/v1/deals/{id}/participants?start=…&limit=…`: one page, in the order added.
async fn list_participants(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Query(params): Params,
) -> Response {
    let number = |name: &str, default: u64| match params.get(name) {
        None => Ok(default),
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| format!("Parameter '{name}' must be a non-negative integer")),
    };
    let (start, limit) = match (number("start", 0), number("limit", 100)) {
        (Ok(start), Ok(limit)) if (1..=V1_LIMIT).contains(&limit) => (start, limit),
        (Err(message), _) | (_, Err(message)) => return error(StatusCode::BAD_REQUEST, &message),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("Parameter 'limit' must be between 1 and {V1_LIMIT}"),
            )
        }
    };
    let data = shared.lock();
    let Some(deal_id) = id
        .parse::<u64>()
        .ok()
        .filter(|id| data.deals.contains_key(id))
    else {
        return error(StatusCode::NOT_FOUND, "Deal not found");
    };
    let all = data
        .participants
        .get(&deal_id)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let page_size = limit.min(shared.options.participants_page_size as u64);
    let begin = usize::try_from(start).unwrap_or(usize::MAX).min(all.len());
    let end = begin
        .saturating_add(usize::try_from(page_size).unwrap_or(usize::MAX))
        .min(all.len());
    let mut items = Vec::new();
    let mut related_persons = serde_json::Map::new();
    for &(participant_id, person_id) in &all[begin..end] {
        let person = v1_person(&data, shared.options.company_id, person_id);
        related_persons.insert(
            person_id.to_string(),
            json!({"active_flag": true, "id": person_id, "name": person["name"],
                   "email": person["email"], "phone": person["phone"]}),
        );
        items.push(json!({
            "id": participant_id,
            "person_id": {
                "active_flag": person["active_flag"], "name": person["name"],
                "email": person["email"], "phone": person["phone"],
                "owner_id": person["owner_id"], "company_id": shared.options.company_id,
                "value": person_id,
            },
            "add_time": now_v1(),
            "active_flag": true,
            "related_item_data": {"deal_id": deal_summary(&data, deal_id)},
            "person": person,
            "added_by_user_id": 1,
            "related_item_type": "deal",
            "related_item_id": deal_id,
        }));
    }
    let more = end < all.len();
    let mut pagination =
        json!({"start": start, "limit": page_size, "more_items_in_collection": more});
    if more {
        pagination["next_start"] = json!(end);
    }
    let mut body = json!({
        "success": true,
        "data": if items.is_empty() { Value::Null } else { Value::Array(items) },
        "additional_data": {"pagination": pagination},
    });
    if !related_persons.is_empty() {
        body["related_objects"] = json!({"person": related_persons});
    }
    Json(body).into_response()
}

/// `GET /api/v2/organizations/{id}`.
async fn read_organization(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let data = shared.lock();
    match id.parse().ok().and_then(|id: u64| data.orgs.get(&id)) {
        Some(org) => success(org.clone(), Value::Null),
        None => error(StatusCode::NOT_FOUND, "Organization not found"),
    }
}

/// `GET /api/v1/users/{id}`.
async fn read_user(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let data = shared.lock();
    let Some((user_id, user)) = id
        .parse::<u64>()
        .ok()
        .and_then(|id| data.users.get(&id).map(|u| (id, u)))
    else {
        return error(StatusCode::NOT_FOUND, "User not found");
    };
    let user = json!({
        "id": user_id, "name": user.name, "default_currency": "USD", "locale": "en_US",
        "lang": 1, "email": user.email, "phone": null, "activated": true,
        "last_login": user.created, "created": user.created, "modified": user.created,
        "has_created_company": false, "access": [{"app": "sales", "admin": false, "permission_set_id": "1"}],
        "active_flag": true, "timezone_name": "Europe/Tallinn", "timezone_offset": "+02:00",
        "role_id": 1, "icon_url": null, "is_you": false, "is_deleted": false,
    });
    success(user, Value::Null)
}

async fn unknown_route() -> Response {
    error(StatusCode::NOT_FOUND, "Unknown method .")
}

/// A participant's person in the v1 shape: `email`/`phone` arrays, `active_flag`.
fn v1_person(data: &Data, company_id: u64, person_id: u64) -> Value {
    let person = data.persons.get(&person_id).cloned().unwrap_or_else(|| {
        json!({"id": person_id, "name": format!("Person {person_id}"), "emails": [], "phones": []})
    });
    let field = |name: &str| person.get(name).cloned().unwrap_or(Value::Null);
    let mut v1 = json!({
        "id": person_id, "company_id": company_id, "owner_id": field("owner_id"),
        "org_id": field("org_id"), "name": field("name"), "first_name": field("first_name"),
        "last_name": field("last_name"), "email": field("emails"), "phone": field("phones"),
        "active_flag": !person.get("is_deleted").and_then(Value::as_bool).unwrap_or(false),
        "add_time": now_v1(), "update_time": now_v1(), "visible_to": "3",
    });
    if let Some(title) = person.get("job_title") {
        v1["job_title"] = title.clone();
    }
    v1
}

/// The deal as `related_item_data.deal_id` shows it.
fn deal_summary(data: &Data, deal_id: u64) -> Value {
    let deal = data.deals.get(&deal_id).cloned().unwrap_or(Value::Null);
    let field = |name: &str| deal.get(name).cloned().unwrap_or(Value::Null);
    json!({
        "id": deal_id, "title": field("title"), "status": field("status"),
        "value": field("value"), "currency": field("currency"),
        "stage_id": field("stage_id"), "pipeline_id": field("pipeline_id"),
    })
}

/// `{"success": true, "data": …, "additional_data": …}`.
fn success(data: Value, additional_data: Value) -> Response {
    Json(json!({"success": true, "data": data, "additional_data": additional_data})).into_response()
}

/// Pipedrive's error body.
fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "success": false,
        "error": message,
        "error_info": ERROR_INFO,
        "data": null,
        "additional_data": null,
    });
    (status, Json(body)).into_response()
}
