//! The fake's routes and handlers: the request gate (log, injected failures, bearer token)
//! and one handler per HubSpot endpoint, each answering in HubSpot's documented shape.

use crate::{now, Data, Deal, LoggedRequest, Owner, Record, Shared};
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::sync::Arc;

type Params = Query<Vec<(String, String)>>;

/// HubSpot's type id of the unlabeled deal → contact association.
const DEAL_TO_CONTACT: u32 = 3;
/// HubSpot's type id of the primary deal → company association.
const DEAL_TO_PRIMARY_COMPANY: u32 = 5;
/// HubSpot's type id of the unlabeled deal → company association.
const DEAL_TO_COMPANY_UNLABELED: u32 = 341;
/// The most inputs one batch read takes.
const BATCH_LIMIT: usize = 100;
/// The largest `limit` the v4 association list accepts.
const V4_LIMIT: usize = 500;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/crm/v3/objects/deals/{deal_id}", get(read_deal))
        .route(
            "/crm/v4/objects/deals/{deal_id}/associations/{to_object_type}",
            get(list_deal_associations),
        )
        .route(
            "/crm/v3/objects/contacts/batch/read",
            post(batch_read_contacts),
        )
        .route("/crm/v3/objects/companies/{company_id}", get(read_company))
        .route("/crm/v3/owners/{owner_id}", get(read_owner))
        .fallback(unknown_route)
        .layer(middleware::from_fn_with_state(Arc::clone(&shared), gate))
        .with_state(shared)
}

/// Logs the request, then answers an injected failure or a missing/wrong token, else passes
/// the request on.
async fn gate(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
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
            authorization: authorization.clone(),
        });
        data.take_failure()
    };
    if let Some((status, retry_after)) = failure {
        return injected_failure(status, retry_after);
    }
    let token = authorization.as_deref().and_then(|value| {
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    match token {
        None => error(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication \
             and you can find more details at \
             https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        ),
        Some(token) if token != shared.options.token => error(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            "The access token provided is invalid or has expired.",
        ),
        Some(_) => next.run(request).await,
    }
}

fn injected_failure(status: u16, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = if status == StatusCode::TOO_MANY_REQUESTS {
        // HubSpot's rate-limit body adds `errorType` and `policyName` to the usual fields.
        let body = json!({
            "status": "error",
            "message": "You have reached your secondly limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": correlation_id(),
            "policyName": "SECONDLY",
            "category": "RATE_LIMITS",
        });
        (status, Json(body)).into_response()
    } else {
        let (category, message) = match status.as_u16() {
            401 => (
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found.",
            ),
            403 => (
                "MISSING_SCOPES",
                "This app hasn't been granted all required scopes to make this call.",
            ),
            404 => ("OBJECT_NOT_FOUND", "resource not found"),
            500..=599 => ("INTERNAL_ERROR", "internal error"),
            _ => ("VALIDATION_ERROR", "injected failure"),
        };
        error(status, category, message)
    };
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// `GET /crm/v3/objects/deals/{dealId}`: the deal with the properties asked for and the
/// associations asked for, each list's first page embedded.
async fn read_deal(
    State(shared): State<Arc<Shared>>,
    Path(deal_id): Path<String>,
    Query(params): Params,
) -> Response {
    let data = shared.lock();
    let Some(deal) = data.deals.get(&deal_id) else {
        return not_found();
    };
    let mut body = object_json(&deal_id, &deal.record, &list_param(&params, "properties"));
    let mut associations = Map::new();
    for to in list_param(&params, "associations") {
        let Some(kind) = AssociationKind::parse(&to) else {
            continue;
        };
        let rows = v3_rows(deal, kind);
        if rows.is_empty() {
            // HubSpot leaves out the lists of association kinds that have none.
            continue;
        }
        let page_size = shared.options.association_page_size;
        let mut list = json!({"results": rows.iter().take(page_size).collect::<Vec<_>>()});
        if rows.len() > page_size {
            list["paging"] = json!({"next": {"after": cursor(page_size)}});
        }
        associations.insert(kind.plural().to_owned(), list);
    }
    if !associations.is_empty() {
        body["associations"] = Value::Object(associations);
    }
    Json(body).into_response()
}

/// `GET /crm/v4/objects/deals/{dealId}/associations/{toObjectType}?after=…&limit=…`.
async fn list_deal_associations(
    State(shared): State<Arc<Shared>>,
    Path((deal_id, to_object_type)): Path<(String, String)>,
    Query(params): Params,
) -> Response {
    let Some(kind) = AssociationKind::parse(&to_object_type) else {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            &format!("Unable to infer object type from: {to_object_type}"),
        );
    };
    let limit = match single_param(&params, "limit").map(str::parse::<usize>) {
        None => V4_LIMIT,
        Some(Ok(limit)) if (1..=V4_LIMIT).contains(&limit) => limit,
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                &format!("limit must be a number from 1 to {V4_LIMIT}"),
            )
        }
    };
    let start = match single_param(&params, "after").map(offset) {
        None => 0,
        Some(Some(start)) => start,
        Some(None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                "Invalid paging cursor in `after`",
            )
        }
    };
    let data = shared.lock();
    let Some(deal) = data.deals.get(&deal_id) else {
        return not_found();
    };
    let rows = v4_rows(deal, kind);
    let end = rows
        .len()
        .min(start.saturating_add(limit.min(shared.options.v4_page_size)));
    let mut body = json!({"results": rows.get(start..end).unwrap_or_default()});
    if end < rows.len() {
        body["paging"] = json!({"next": {"after": cursor(end)}});
    }
    Json(body).into_response()
}

/// `POST /crm/v3/objects/contacts/batch/read`: the contacts found (in no promised order;
/// the fake answers in reverse input order so that clients cannot rely on it), and a 207 with
/// `errors` when some ids are missing.
async fn batch_read_contacts(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let started_at = now();
    let input = match BatchReadInput::parse(&body) {
        Ok(input) => input,
        Err(message) => return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", &message),
    };
    let data = shared.lock();
    let mut results = Vec::new();
    let mut missing = Vec::new();
    let mut seen = Vec::new();
    for id in input.ids.iter().rev() {
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        match data.contacts.get(id) {
            Some(record) => results.push(object_json(id, record, &input.properties)),
            None => missing.push(id.clone()),
        }
    }
    missing.reverse();
    let mut body = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": started_at,
        "completedAt": now(),
    });
    if missing.is_empty() {
        return Json(body).into_response();
    }
    body["numErrors"] = json!(1);
    body["errors"] = json!([{
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": "Could not get some CONTACT objects, they may be deleted or not exist. \
                    Check that ids are valid.",
        "context": {"ids": missing},
    }]);
    (StatusCode::MULTI_STATUS, Json(body)).into_response()
}

/// `GET /crm/v3/objects/companies/{companyId}?properties=…`.
async fn read_company(
    State(shared): State<Arc<Shared>>,
    Path(company_id): Path<String>,
    Query(params): Params,
) -> Response {
    let data = shared.lock();
    match data.companies.get(&company_id) {
        Some(record) => {
            let properties = list_param(&params, "properties");
            Json(object_json(&company_id, record, &properties)).into_response()
        }
        None => not_found(),
    }
}

/// `GET /crm/v3/owners/{ownerId}?idProperty=id|userId`.
async fn read_owner(
    State(shared): State<Arc<Shared>>,
    Path(owner_id): Path<String>,
    Query(params): Params,
) -> Response {
    let data = shared.lock();
    let owner = match single_param(&params, "idProperty").unwrap_or("id") {
        "id" => data.owners.get(&owner_id),
        "userId" => find_owner_by_user_id(&data, &owner_id),
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                "VALIDATION_ERROR",
                &format!("idProperty must be `id` or `userId`, not `{other}`"),
            )
        }
    };
    match owner {
        Some(owner) => Json(owner_json(owner)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            &format!("No owner found with id {owner_id}"),
        ),
    }
}

async fn unknown_route() -> Response {
    not_found()
}

fn find_owner_by_user_id<'d>(data: &'d Data, user_id: &str) -> Option<&'d Owner> {
    data.owners
        .values()
        .find(|owner| owner.user_id.to_string() == user_id)
}

fn owner_json(owner: &Owner) -> Value {
    json!({
        "id": owner.id,
        "email": owner.email,
        "type": "PERSON",
        "firstName": owner.first_name,
        "lastName": owner.last_name,
        "userId": owner.user_id,
        "userIdIncludingInactive": owner.user_id,
        "createdAt": owner.created_at,
        "updatedAt": owner.created_at,
        "archived": false,
        "teams": [],
    })
}

/// A `SimplePublicObject`: the properties asked for (null when unset) plus the bookkeeping
/// properties HubSpot always returns.
fn object_json(id: &str, record: &Record, asked: &[String]) -> Value {
    let mut properties = Map::new();
    for (name, value) in &record.properties {
        if is_bookkeeping(name) {
            properties.insert(name.clone(), json!(value));
        }
    }
    for name in asked {
        let value = record.properties.get(name).cloned().flatten();
        properties.insert(name.clone(), json!(value));
    }
    json!({
        "id": id,
        "properties": properties,
        "createdAt": record.created_at,
        "updatedAt": record.created_at,
        "archived": false,
    })
}

fn is_bookkeeping(name: &str) -> bool {
    matches!(
        name,
        "hs_object_id" | "createdate" | "lastmodifieddate" | "hs_lastmodifieddate"
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AssociationKind {
    Contacts,
    Companies,
}

impl AssociationKind {
    /// HubSpot accepts the plural name, the singular, or the object type id.
    fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "contacts" | "contact" | "0-1" => Some(Self::Contacts),
            "companies" | "company" | "0-2" => Some(Self::Companies),
            _ => None,
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Self::Contacts => "contacts",
            Self::Companies => "companies",
        }
    }
}

/// The embedded v3 association rows: one `{id, type}` per association type, so the primary
/// company comes twice (`deal_to_company`, then `deal_to_company_unlabeled`), first.
fn v3_rows(deal: &Deal, kind: AssociationKind) -> Vec<Value> {
    match kind {
        AssociationKind::Contacts => deal
            .contact_ids
            .iter()
            .map(|id| json!({"id": id, "type": "deal_to_contact"}))
            .collect(),
        AssociationKind::Companies => {
            let mut rows = Vec::new();
            if let Some(primary) = deal.company_ids.first() {
                rows.push(json!({"id": primary, "type": "deal_to_company"}));
            }
            for id in &deal.company_ids {
                rows.push(json!({"id": id, "type": "deal_to_company_unlabeled"}));
            }
            rows
        }
    }
}

/// The v4 association rows: one per associated object, with all its association types.
fn v4_rows(deal: &Deal, kind: AssociationKind) -> Vec<Value> {
    let spec = |type_id: u32, label: Option<&str>| json!({"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": label});
    match kind {
        AssociationKind::Contacts => deal
            .contact_ids
            .iter()
            .map(|id| {
                json!({
                    "toObjectId": object_id_json(id),
                    "associationTypes": [spec(DEAL_TO_CONTACT, None)],
                })
            })
            .collect(),
        AssociationKind::Companies => deal
            .company_ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let mut types = Vec::new();
                if i == 0 {
                    types.push(spec(DEAL_TO_PRIMARY_COMPANY, Some("Primary")));
                }
                types.push(spec(DEAL_TO_COMPANY_UNLABELED, None));
                json!({"toObjectId": object_id_json(id), "associationTypes": types})
            })
            .collect(),
    }
}

/// v4 writes object ids as numbers (a non-numeric test id stays a string).
fn object_id_json(id: &str) -> Value {
    id.parse::<u64>().map_or_else(|_| json!(id), |n| json!(n))
}

/// An opaque paging cursor for the row at `offset`.
fn cursor(offset: usize) -> String {
    format!("offset-{offset}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The offset a cursor made by [`cursor`] stands for.
fn offset(cursor: &str) -> Option<usize> {
    if !cursor.len().is_multiple_of(2) || !cursor.is_ascii() {
        return None;
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&cursor[i..i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("offset-")?
        .parse()
        .ok()
}

/// The values of a list parameter, given comma-separated and/or repeated.
fn list_param(params: &[(String, String)], name: &str) -> Vec<String> {
    let mut values: Vec<String> = Vec::new();
    for (key, value) in params {
        if key != name {
            continue;
        }
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if !values.iter().any(|v| v == item) {
                values.push(item.to_owned());
            }
        }
    }
    values
}

fn single_param<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// The body of a batch read, checked as HubSpot checks it: `inputs`, `properties` and
/// `propertiesWithHistory` are required.
struct BatchReadInput {
    ids: Vec<String>,
    properties: Vec<String>,
}

impl BatchReadInput {
    fn parse(body: &[u8]) -> Result<Self, String> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("Invalid input JSON: {e}"))?;
        let Value::Object(fields) = value else {
            return Err("Invalid input JSON: expected an object".to_owned());
        };
        let missing: Vec<&str> = ["inputs", "properties", "propertiesWithHistory"]
            .into_iter()
            .filter(|name| !fields.contains_key(*name))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "Invalid input JSON: Cannot build BatchReadInputSimplePublicObjectId, some of \
                 required attributes are not set [{}]",
                missing.join(", ")
            ));
        }
        if fields.contains_key("idProperty") {
            return Err("idProperty is not supported by the fake".to_owned());
        }
        let strings = |name: &str| -> Result<Vec<String>, String> {
            fields
                .get(name)
                .and_then(Value::as_array)
                .ok_or_else(|| format!("Invalid input JSON: `{name}` must be an array"))?
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| format!("Invalid input JSON: `{name}` must hold strings"))
                })
                .collect()
        };
        let properties = strings("properties")?;
        strings("propertiesWithHistory")?;
        let ids = fields
            .get("inputs")
            .and_then(Value::as_array)
            .ok_or("Invalid input JSON: `inputs` must be an array")?
            .iter()
            .map(|input| {
                input
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        "Invalid input JSON: each input must be {\"id\": \"<string>\"}".to_owned()
                    })
            })
            .collect::<Result<Vec<String>, String>>()?;
        if ids.len() > BATCH_LIMIT {
            return Err(format!(
                "Batch input size is {}; the limit is {BATCH_LIMIT}",
                ids.len()
            ));
        }
        Ok(Self { ids, properties })
    }
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "OBJECT_NOT_FOUND",
        "resource not found",
    )
}

/// HubSpot's error body.
fn error(status: StatusCode, category: &str, message: &str) -> Response {
    let body = json!({
        "status": "error",
        "message": message,
        "correlationId": correlation_id(),
        "category": category,
    });
    (status, Json(body)).into_response()
}

fn correlation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
