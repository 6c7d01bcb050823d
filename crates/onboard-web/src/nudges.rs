//! In-app nudges for the product: `GET /v1/nudges?userId=…` lists the pending nudges a
//! product user may be shown now, `POST /v1/nudges/{id}/ack` records that one was shown,
//! clicked or dismissed (as `nudge.*` events), and `GET /sdk/nudges.js` is the script a
//! product page includes to show them. A server calls with the write key (HTTP Basic user,
//! as the usage intake); a browser with the user's token, the hex HMAC-SHA256 of the user
//! id under the nudge secret (`X-Onboard-User-Token` or `userToken=`), which the product's
//! server computes so that one user cannot read another's nudges. Cross-origin calls are
//! allowed: no cookie is involved.
//!
//! `GET /api/nudges/explain` answers "why didn't my nudge show?" for a product user or a
//! person: whether the user is linked to a person, each of the person's nudges with its
//! eligibility, and the last decision of every rule that nudges.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, Params};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use onboard_core::event::{types, InputError};
use onboard_core::program::{Action, NudgeFrequency};
use onboard_core::state::Nudge;
use onboard_core::{EventType, NewEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;
use tower_http::cors::{Any, CorsLayer};

/// The header a browser sends the user token in.
pub const USER_TOKEN_HEADER: &str = "x-onboard-user-token";

const SDK: &str = include_str!("nudges.js");

/// The nudge routes of the product (`/v1/nudges…`, `/sdk/nudges.js`), open to any origin.
pub fn routes() -> Router<AppState> {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            CONTENT_TYPE,
            axum::http::header::AUTHORIZATION,
            axum::http::HeaderName::from_static(USER_TOKEN_HEADER),
        ]);
    // Each route takes `OPTIONS`, which the CORS layer answers as a preflight (without a
    // route for it, the method would be refused before the layer saw it).
    let preflight = || async { axum::http::StatusCode::NO_CONTENT };
    Router::new()
        .route(
            "/v1/nudges",
            get(list).options(preflight).layer(cors.clone()),
        )
        .route(
            "/v1/nudges/{id}/ack",
            post(ack).options(preflight).layer(cors.clone()),
        )
        .route("/sdk/nudges.js", get(sdk).layer(cors))
}

/// The user token of a product user: hex HMAC-SHA256 of the user id under the secret.
pub fn user_token(secret: &str, user: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(user.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Checks that the caller may act for `user`: the write key (a server), or the user's
/// token (a browser).
fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    token: Option<&str>,
    user: &str,
) -> ApiResult<()> {
    // A Basic header must carry the write key (another key is refused); without one, the
    // user's token decides.
    let basic = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.len() > 6 && v[..6].eq_ignore_ascii_case("basic "));
    if basic && crate::ingest::authorized_by_header(state, headers)? {
        return Ok(());
    }
    let token = token.or_else(|| {
        headers
            .get(USER_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|t| !t.is_empty())
    });
    match (token, state.nudge_secret.as_ref()) {
        (Some(token), Some(secret)) => {
            let expected = crate::state::Secret::new(user_token(secret.expose(), user));
            if expected.matches(token) {
                Ok(())
            } else {
                Err(ApiError::unauthorized(
                    "the user token does not match this userId: compute it on your server as the hex HMAC-SHA256 of the userId under the nudge secret",
                ))
            }
        }
        (Some(_), None) => Err(ApiError::unauthorized(
            "user tokens are not accepted: the server has no nudge secret (ONBOARD_NUDGE_SECRET); call with the write key",
        )),
        (None, _) => Err(ApiError::unauthorized(
            "give the write key as the HTTP Basic user, or the user's token in X-Onboard-User-Token",
        )),
    }
}

fn user_param(params: &HashMap<String, String>) -> ApiResult<String> {
    match params.get("userId").map(|s| s.trim()) {
        Some(user) if !user.is_empty() && user.len() <= 200 => Ok(user.to_owned()),
        Some(user) if !user.is_empty() => Err(bad_request(
            "`userId` is too long",
            vec![input_error("/userId", "at most 200 characters")],
        )),
        _ => Err(bad_request(
            "`userId` is required",
            vec![input_error(
                "/userId",
                "give the product's id of the user, e.g. ?userId=u-123",
            )],
        )),
    }
}

/// A 400 with the places at fault: the `/v1` routes answer bad input as Segment does (its
/// clients retry anything but a 400).
fn bad_request(message: impl Into<String>, details: Vec<InputError>) -> ApiError {
    ApiError {
        status: axum::http::StatusCode::BAD_REQUEST,
        code: "invalid",
        message: message.into(),
        details,
    }
}

fn input_error(at: &str, message: impl Into<String>) -> InputError {
    InputError {
        at: at.to_owned(),
        message: message.into(),
    }
}

/// What the product shows of a nudge.
fn shown(nudge: &Nudge) -> Value {
    json!({
        "id": nudge.id,
        "title": nudge.title,
        "text": nudge.text,
        "selector": nudge.selector,
        "style": nudge.style.as_str(),
        "expires_at": nudge.expires_at.to_rfc3339(),
    })
}

/// The person a product user is linked to, if any: (account, email).
async fn person_of(state: &AppState, user: &str) -> ApiResult<Option<(String, String)>> {
    let linked = state.engine.store().product_user(user).await?;
    Ok(linked.and_then(|u| Some((u.account?, u.email?))))
}

/// The product user's nudges that may be shown now.
#[utoipa::path(
    get,
    path = "/v1/nudges",
    tag = "nudges",
    operation_id = "nudges_list",
    params(
        ("userId" = String, Query, description = "The product's id of the user"),
        ("userToken" = Option<String>, Query, description = "The user's token, instead of the header"),
    ),
    responses(
        (status = 200, description = "`{\"nudges\": [{\"id\", \"title\", \"text\", \"selector\", \"style\", \"expires_at\"}]}`, oldest first; none for a user not linked to a person", body = Object),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("write_key" = []), ("user_token" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let user = user_param(&params)?;
    authorize(
        &state,
        &headers,
        params.get("userToken").map(String::as_str),
        &user,
    )?;
    let now = state.engine.now();
    let nudges: Vec<Value> = state
        .engine
        .store()
        .user_nudges(&user, now)
        .await?
        .iter()
        .filter(|n| n.eligibility(now).eligible)
        .map(shown)
        .collect();
    let mut response = Json(json!({ "nudges": nudges })).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Ack {
    user_id: String,
    action: String,
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    user_token: Option<String>,
}

/// What the product did with a nudge: shown, clicked or dismissed.
#[utoipa::path(
    post,
    path = "/v1/nudges/{id}/ack",
    tag = "nudges",
    operation_id = "nudges_ack",
    params(("id" = String, Path, description = "The nudge's id")),
    request_body(content = Object, description = "`{\"userId\", \"action\": \"shown\" | \"clicked\" | \"dismissed\", \"messageId\"?, \"userToken\"?}`; a `messageId` makes a retry change nothing"),
    responses(
        (status = 200, description = "`{\"success\": true}`: logged as `nudge.shown`, `nudge.clicked` or `nudge.dismissed`", body = Object),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such nudge for this user", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("write_key" = []), ("user_token" = []))
)]
pub async fn ack(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let value = crate::extract::parse_json(&body)?;
    let ack: Ack = serde_json::from_value(value).map_err(|e| {
        bad_request(
            "the acknowledgement is not `{\"userId\", \"action\": \"shown\" | \"clicked\" | \"dismissed\"}`",
            vec![input_error("/body", e.to_string())],
        )
    })?;
    let kind = match ack.action.as_str() {
        "shown" => types::NUDGE_SHOWN,
        "clicked" => types::NUDGE_CLICKED,
        "dismissed" => types::NUDGE_DISMISSED,
        other => {
            return Err(bad_request(
                format!("`{other}` is not an acknowledgement"),
                vec![input_error("/action", "one of shown, clicked, dismissed")],
            ))
        }
    };
    if ack
        .message_id
        .as_ref()
        .is_some_and(|m| m.is_empty() || m.len() > 100)
    {
        return Err(bad_request(
            "`messageId` must have 1 to 100 characters",
            vec![input_error("/messageId", "e.g. a UUID")],
        ));
    }
    authorize(&state, &headers, ack.user_token.as_deref(), &ack.user_id)?;
    // Unknown, or another person's: the same answer, so ids cannot be probed.
    let not_found = || ApiError::not_found(format!("nudge `{id}` of user `{}`", ack.user_id));
    let nudge = state
        .engine
        .store()
        .nudge(&id)
        .await?
        .ok_or_else(not_found)?;
    match person_of(&state, &ack.user_id).await? {
        Some((account, email)) if account == nudge.account && email == nudge.email => {}
        _ => return Err(not_found()),
    }
    let now = state.engine.now();
    let key = match (&ack.message_id, kind) {
        (Some(message), _) => format!("nudge:{id}:{}:{message}", ack.action),
        (None, types::NUDGE_SHOWN) => format!("nudge:{id}:shown:{}", now.millis()),
        (None, _) => format!("nudge:{id}:{}", ack.action),
    };
    let kind = EventType::parse(kind).map_err(ApiError::internal)?;
    state
        .engine
        .ingest(vec![NewEvent {
            key,
            kind,
            account: nudge.account.clone(),
            at: now,
            data: json!({ "nudge": id, "email": nudge.email, "user": ack.user_id }),
        }])
        .await?;
    Ok(Json(json!({ "success": true })))
}

/// The script a product page includes to show nudges.
#[utoipa::path(
    get,
    path = "/sdk/nudges.js",
    tag = "nudges",
    operation_id = "nudges_sdk",
    responses((status = 200, description = "JavaScript, no dependencies: `<script src=\".../sdk/nudges.js\" data-user-id=\"…\" data-user-token=\"…\"></script>`", content_type = "text/javascript")),
)]
pub async fn sdk() -> Response {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=300"),
        ],
        SDK,
    )
        .into_response()
}

/// `GET /api/nudges/explain?user=…` or `?account=…&email=…`: why a person's nudges show or
/// not.
#[utoipa::path(
    get,
    path = "/api/nudges/explain",
    tag = "nudges",
    operation_id = "nudges_explain",
    params(
        ("user" = Option<String>, Query, description = "A product user's id"),
        ("account" = Option<String>, Query, description = "Or an account, with `email`"),
        ("email" = Option<String>, Query, description = "A person of `account`"),
    ),
    responses(
        (status = 200, description = "Whether the user is linked to a person; each of the person's nudges with its `eligibility` (`eligible`, `reason`, `next_at`); the last decision of each rule that nudges", body = Object),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such account or person", body = crate::openapi::ErrorBody),
        (status = 422, description = "Neither a user nor an account and email", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("bearer" = []))
)]
pub async fn explain(
    State(state): State<AppState>,
    _admin: Admin,
    params: Params,
) -> ApiResult<Json<Value>> {
    params.only(&["user", "account", "email"])?;
    let now = state.engine.now();
    let store = state.engine.store();
    let (account, email, user) = match (
        params.text("user"),
        params.text("account"),
        params.text("email"),
    ) {
        (Some(user), None, None) => {
            let Some(found) = store.product_user(user).await? else {
                return Ok(Json(json!({
                    "user": user,
                    "linked": false,
                    "reason": "the product has sent nothing about this user: no nudge can be shown until it does (identify them with their email)",
                    "nudges": [],
                })));
            };
            match (found.account, found.email) {
                (Some(account), Some(email)) => (account, email, Some(user.to_owned())),
                (account, email) => {
                    return Ok(Json(json!({
                        "user": user,
                        "linked": false,
                        "account": account,
                        "email": email,
                        "reason": "the user is not linked to a person yet: an identify call with the email of a person of an account links them",
                        "nudges": [],
                    })));
                }
            }
        }
        (None, Some(account), Some(email)) => (account.to_owned(), email.to_lowercase(), None),
        _ => {
            return Err(ApiError::invalid(
                "say whose nudges: `?user=<product user id>` or `?account=<id>&email=<address>`",
                vec![input_error("/user", "or account and email")],
            ))
        }
    };
    let Some(state_of) = store.account(&account).await? else {
        return Err(ApiError::not_found(format!("account `{account}`")));
    };
    if !state_of.people.iter().any(|p| p.email == email) {
        return Err(ApiError::not_found(format!(
            "person `{email}` of account `{account}`"
        )));
    }
    let nudges: Vec<Value> = state_of
        .nudges
        .iter()
        .filter(|n| n.email == email)
        .map(|n| {
            let eligibility = n.eligibility(now);
            json!({
                "id": n.id,
                "rule": n.rule,
                "message": n.message,
                "title": n.title,
                "text": n.text,
                "selector": n.selector,
                "style": n.style.as_str(),
                "frequency": match n.frequency {
                    NudgeFrequency::Once => "once".to_owned(),
                    NudgeFrequency::AtMost { n, per } => format!("at most {n} per {per}"),
                },
                "status": n.status.as_str(),
                "created_at": n.created_at.to_rfc3339(),
                "available_at": n.available_at.to_rfc3339(),
                "expires_at": n.expires_at.to_rfc3339(),
                "ended_at": n.ended_at.map(|t| t.to_rfc3339()),
                "shown_count": n.shown_count,
                "last_shown_at": n.shown.last().map(|t| t.to_rfc3339()),
                "cause": n.cause,
                "eligibility": {
                    "eligible": eligibility.eligible,
                    "reason": eligibility.reason,
                    "next_at": eligibility.next_at.map(|t| t.to_rfc3339()),
                },
            })
        })
        .collect();
    // The last decision of each rule that nudges, for this account.
    let program = state.engine.program();
    let nudging: Vec<&str> = program
        .rules
        .iter()
        .filter(|r| r.actions.iter().any(|a| matches!(a, Action::Nudge { .. })))
        .map(|r| r.name.as_str())
        .collect();
    let traces = store.traces(&account, 500).await?;
    let rules: Vec<Value> = nudging
        .iter()
        .map(|rule| {
            let last = traces.iter().find(|t| t.rule == *rule);
            json!({
                "rule": rule,
                "last": last.map(|t| json!({
                    "at": t.at.to_rfc3339(),
                    "outcome": t.outcome.as_str(),
                    "reason": t.reason,
                    "event": t.event,
                })),
            })
        })
        .collect();
    Ok(Json(json!({
        "user": user,
        "linked": true,
        "account": account,
        "email": email,
        "now": now.to_rfc3339(),
        "nudges": nudges,
        "rules": rules,
    })))
}
