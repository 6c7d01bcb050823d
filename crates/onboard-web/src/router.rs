//! Every route of the server, in one place.

use crate::error::ApiError;
use crate::handlers::{accounts, clock, events, health, mailbox, messages};
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;

/// Body limit of `POST /api/events` (up to 1,000 events).
pub const EVENTS_BODY_LIMIT: usize = 4 * 1024 * 1024;
/// Body limit of every other endpoint.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

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
        .route("/accounts/{id}", get(accounts::one))
        .route("/accounts/{id}/traces", get(accounts::traces))
        .route("/mailbox", get(mailbox::list))
        .route("/mailbox/{file}", get(mailbox::one))
        .route("/clock", get(clock::now))
        .route("/clock/advance", post(clock::advance))
        .fallback(api_not_found);
    Router::new()
        .nest("/api", api)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(DEFAULT_BODY_LIMIT))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(on_panic))
        .layer(tower_http::trace::TraceLayer::new_for_http())
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
