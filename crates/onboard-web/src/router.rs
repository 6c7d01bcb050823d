//! Every route of the server, in one place.

use crate::error::ApiError;
use crate::handlers::{accounts, clock, endpoints, events, health, mailbox, messages, projects};
use crate::hooks::{self, HOOK_BODY_LIMIT};
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;

/// Body limit of `POST /api/events` (up to 1,000 events).
pub const EVENTS_BODY_LIMIT: usize = 4 * 1024 * 1024;
/// Body limit of every other endpoint.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Every route [`router`] serves, as (method, path): the list the OpenAPI document
/// ([`crate::openapi`]) must match, which the web tests check both ways (each route answers
/// on the router; the document lists exactly these). Add a route here when you add it below.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/events"),
    ("GET", "/api/events"),
    ("GET", "/api/messages"),
    ("GET", "/api/messages/{id}"),
    ("POST", "/api/messages/{id}/retry"),
    ("GET", "/api/endpoints"),
    ("POST", "/api/endpoints/{name}/enable"),
    ("GET", "/api/accounts"),
    ("GET", "/api/accounts/{id}"),
    ("PUT", "/api/accounts/{id}/people/{email}/persona"),
    ("GET", "/api/accounts/{id}/traces"),
    ("GET", "/api/accounts/{id}/projects"),
    ("POST", "/api/accounts/{id}/projects"),
    ("POST", "/api/accounts/{id}/projects/{project}/launch"),
    ("POST", "/api/accounts/{id}/projects/{project}/complete"),
    (
        "POST",
        "/api/accounts/{id}/projects/{project}/tasks/{task}/complete",
    ),
    (
        "POST",
        "/api/accounts/{id}/projects/{project}/tasks/{task}/reopen",
    ),
    (
        "POST",
        "/api/accounts/{id}/projects/{project}/tasks/{task}/reassign",
    ),
    (
        "POST",
        "/api/accounts/{id}/projects/{project}/tasks/{task}/comments",
    ),
    (
        "GET",
        "/api/accounts/{id}/projects/{project}/tasks/{task}/brief",
    ),
    ("GET", "/api/accounts/{id}/tasks"),
    ("GET", "/api/accounts/{id}/autopilot"),
    ("POST", "/api/accounts/{id}/autopilot/approvals/{approval}"),
    ("GET", "/api/autopilot/approvals"),
    ("GET", "/api/accounts/{id}/files"),
    ("POST", "/api/accounts/{id}/tasks/{task}/complete"),
    ("GET", "/api/accounts/{id}/trace"),
    ("GET", "/api/accounts/{id}/alerts"),
    ("GET", "/api/accounts/{id}/health"),
    ("GET", "/api/ttv"),
    ("POST", "/api/accounts/{id}/alerts/{alert}/close"),
    ("GET", "/api/mailbox"),
    ("GET", "/api/mailbox/{file}"),
    ("GET", "/api/clock"),
    ("POST", "/api/clock/advance"),
    ("GET", "/api/openapi.json"),
    ("POST", "/hooks/hubspot"),
    ("POST", "/hooks/pipedrive"),
    ("POST", "/hooks/deals"),
    ("GET", "/academy"),
    ("GET", "/academy/sign-in"),
    ("POST", "/academy/sign-in"),
    ("POST", "/academy/sign-in/new"),
    ("GET", "/academy/sign-in/code"),
    ("POST", "/academy/sign-in/code"),
    ("POST", "/academy/sign-in/code/verify"),
    ("POST", "/academy/sign-out"),
    ("GET", "/academy/modules/{slug}"),
    ("POST", "/academy/modules/{slug}/complete"),
    ("GET", "/console"),
    ("GET", "/console/accounts/{id}"),
    ("POST", "/console/accounts/{id}/alerts/{alert}/close"),
    ("GET", "/console/alerts"),
    ("GET", "/console/autopilot"),
    (
        "POST",
        "/console/accounts/{id}/autopilot/approvals/{approval}",
    ),
    ("GET", "/console/outbox"),
    ("POST", "/console/outbox/{id}/retry"),
    ("GET", "/console/program"),
    ("GET", "/console/audit"),
    ("POST", "/console/audit"),
    ("GET", "/console/sign-in"),
    ("POST", "/console/sign-in"),
    ("POST", "/console/sign-in/link"),
    ("POST", "/console/sign-out"),
    ("GET", "/console/password"),
    ("POST", "/console/password"),
    ("GET", "/space"),
    ("POST", "/space/projects/{project}/tasks/{task}/complete"),
    ("POST", "/space/projects/{project}/tasks/{task}/comments"),
    ("POST", "/space/invite"),
    ("POST", "/space/files"),
    ("POST", "/space/projects/{project}/tasks/{task}/book"),
    ("GET", "/space/files/{id}"),
    ("GET", "/v1/nudges"),
    ("POST", "/v1/nudges/{id}/ack"),
    ("GET", "/sdk/nudges.js"),
    ("GET", "/api/nudges/explain"),
    ("POST", "/v1/track"),
    ("POST", "/v1/identify"),
    ("POST", "/v1/group"),
    ("POST", "/v1/page"),
    ("POST", "/v1/screen"),
    ("POST", "/v1/alias"),
    ("POST", "/v1/batch"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
];

/// The whole HTTP surface, ready to serve or to call in tests.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/events",
            post(events::append)
                .get(events::list)
                .layer(DefaultBodyLimit::max(EVENTS_BODY_LIMIT)),
        )
        .route("/messages", get(messages::list))
        .route("/messages/{id}", get(messages::one))
        .route("/messages/{id}/retry", post(messages::retry))
        .route("/endpoints", get(endpoints::list))
        .route("/endpoints/{name}/enable", post(endpoints::enable))
        .route("/accounts", get(accounts::list))
        .route("/accounts/{id}", get(accounts::one))
        .route(
            "/accounts/{id}/people/{email}/persona",
            axum::routing::put(accounts::set_persona),
        )
        .route("/accounts/{id}/traces", get(accounts::traces))
        .route("/nudges/explain", get(crate::nudges::explain))
        .route(
            "/accounts/{id}/projects",
            get(projects::list).post(projects::create),
        )
        .route(
            "/accounts/{id}/projects/{project}/launch",
            post(projects::launch),
        )
        .route(
            "/accounts/{id}/projects/{project}/complete",
            post(projects::complete),
        )
        .route(
            "/accounts/{id}/projects/{project}/tasks/{task}/complete",
            post(projects::complete_task),
        )
        .route(
            "/accounts/{id}/projects/{project}/tasks/{task}/reopen",
            post(projects::reopen_task),
        )
        .route(
            "/accounts/{id}/projects/{project}/tasks/{task}/reassign",
            post(projects::reassign_task),
        )
        .route(
            "/accounts/{id}/projects/{project}/tasks/{task}/comments",
            post(projects::comment_task),
        )
        .route(
            "/accounts/{id}/projects/{project}/tasks/{task}/brief",
            get(projects::brief),
        )
        .route("/accounts/{id}/tasks", get(projects::team_tasks))
        .route(
            "/accounts/{id}/autopilot",
            get(crate::handlers::autopilot::account),
        )
        .route(
            "/accounts/{id}/autopilot/approvals/{approval}",
            post(crate::handlers::autopilot::decide_approval),
        )
        .route(
            "/autopilot/approvals",
            get(crate::handlers::autopilot::approvals),
        )
        .route("/accounts/{id}/files", get(crate::handlers::files::list))
        .route(
            "/accounts/{id}/tasks/{task}/complete",
            post(projects::complete_team_task),
        )
        .route("/accounts/{id}/trace", get(accounts::trace))
        .route("/accounts/{id}/alerts", get(accounts::alerts))
        .route(
            "/accounts/{id}/health",
            get(crate::handlers::usage::account_health),
        )
        .route("/ttv", get(crate::handlers::usage::time_to_value))
        .route(
            "/accounts/{id}/alerts/{alert}/close",
            post(accounts::close_alert),
        )
        .route("/mailbox", get(mailbox::list))
        .route("/mailbox/{file}", get(mailbox::one))
        .route("/clock", get(clock::now))
        .route("/clock/advance", post(clock::advance))
        .route("/openapi.json", get(crate::openapi::document))
        .fallback(api_not_found);
    let hooks = Router::new()
        .route("/hooks/hubspot", post(hooks::hubspot::receive))
        .route("/hooks/pipedrive", post(hooks::pipedrive::receive))
        .route("/hooks/deals", post(hooks::deals::receive))
        .layer(DefaultBodyLimit::max(HOOK_BODY_LIMIT));
    Router::new()
        .nest("/api", api)
        .merge(hooks)
        .merge(crate::academy::routes())
        .merge(crate::space::routes())
        .merge(crate::console::routes())
        .merge(crate::nudges::routes())
        .merge(crate::ingest::routes())
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(DEFAULT_BODY_LIMIT))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(on_panic))
        .layer(
            // Spans name the path only: a query may hold a sign-in token.
            tower_http::trace::TraceLayer::new_for_http().make_span_with(
                |request: &axum::http::Request<axum::body::Body>| {
                    tracing::debug_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path()
                    )
                },
            ),
        )
        .with_state(state)
}

async fn api_not_found() -> ApiError {
    ApiError::not_found("no such API endpoint")
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such page")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this method is not allowed on this path",
    )
}

fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    use axum::response::IntoResponse;
    ApiError::internal("a handler panicked").into_response()
}
