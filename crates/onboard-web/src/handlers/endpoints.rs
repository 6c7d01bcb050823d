//! Outbound endpoints (Slack incoming webhooks, signed webhooks): `GET /api/endpoints` and
//! `POST /api/endpoints/{name}/enable`. The endpoints themselves are the server's
//! configuration; what changes here is only whether one is disabled (after a 410 Gone, or
//! Slack's revoked / archived answers). An endpoint's URL is a secret: only its host is shown,
//! never its path, and never the signing secret.

use crate::error::{ApiError, ApiResult};
use crate::extract::Admin;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use onboard_core::Timestamp;
use onboard_engine::channels::Endpoint;
use serde::Serialize;
use utoipa::ToSchema;

/// A configured outbound endpoint, as far as it may be shown.
#[derive(Serialize, ToSchema)]
#[schema(as = Endpoint)]
pub struct EndpointView {
    /// The name messages use.
    #[schema(example = "sales-slack")]
    pub name: String,
    /// `slack` or `webhook`.
    #[schema(example = "slack")]
    pub kind: String,
    /// The host (and port) the URL names; the path is a secret.
    #[schema(example = "hooks.slack.com")]
    pub host: Option<String>,
    /// When deliveries to it stopped; null while it is enabled.
    #[schema(format = DateTime)]
    pub disabled_at: Option<String>,
    /// Why it was disabled (the endpoint's answer); null while it is enabled.
    pub reason: Option<String>,
}

/// Every configured outbound endpoint, in name order.
#[derive(Serialize, ToSchema)]
pub struct EndpointList {
    pub endpoints: Vec<EndpointView>,
}

fn view(endpoint: &Endpoint, disabled: Option<&(String, Timestamp, String)>) -> EndpointView {
    EndpointView {
        name: endpoint.name.clone(),
        kind: endpoint.kind.as_str().to_owned(),
        host: endpoint.host(),
        disabled_at: disabled.map(|(_, at, _)| at.to_rfc3339()),
        reason: disabled.map(|(_, _, reason)| reason.clone()),
    }
}

/// Lists the configured outbound endpoints and which of them are disabled.
#[utoipa::path(
    get,
    path = "/api/endpoints",
    tag = "endpoints",
    operation_id = "list_endpoints",
    responses(
        (status = 200, description = "The configured endpoints", body = EndpointList),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("bearer" = []))
)]
pub async fn list(State(state): State<AppState>, _admin: Admin) -> ApiResult<Json<EndpointList>> {
    let disabled = state.engine.store().disabled_endpoints().await?;
    let endpoints = state
        .engine
        .endpoints()
        .iter()
        .map(|e| view(e, disabled.iter().find(|(name, _, _)| *name == e.name)))
        .collect();
    Ok(Json(EndpointList { endpoints }))
}

/// Enables a disabled endpoint again: later deliveries go out (dead messages stay dead until
/// retried with `POST /api/messages/{id}/retry`). Enabling an enabled endpoint changes
/// nothing.
#[utoipa::path(
    post,
    path = "/api/endpoints/{name}/enable",
    tag = "endpoints",
    operation_id = "enable_endpoint",
    params(("name" = String, Path, description = "The endpoint's name")),
    responses(
        (status = 200, description = "The endpoint, enabled", body = EndpointView),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No endpoint has this name", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("bearer" = []))
)]
pub async fn enable(
    State(state): State<AppState>,
    _admin: Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<EndpointView>> {
    let endpoint = state
        .engine
        .endpoints()
        .get(&name)
        .ok_or_else(|| ApiError::not_found(format!("no endpoint `{name}`")))?;
    if state.engine.store().enable_endpoint(&name).await? {
        tracing::info!(endpoint = %name, "endpoint enabled again");
    }
    Ok(Json(view(endpoint, None)))
}
