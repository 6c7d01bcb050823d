//! `/healthz` (the process answers), `/readyz` (the database answers, not shutting down) and
//! `/metrics` (Prometheus text, with the store's gauges refreshed at each scrape).

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use onboard_store::Now;
use serde::Serialize;
use utoipa::ToSchema;

/// The process answers.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The database answers and the server is not shutting down.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    #[schema(example = "ready")]
    pub status: &'static str,
    /// The database backend: `sqlite` or `postgres`.
    #[schema(example = "postgres")]
    pub database: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    operation_id = "healthz",
    responses((status = 200, description = "Alive", body = Health))
)]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the database answers and the server is not shutting down.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Readiness>> {
    if state.engine.is_stopping() {
        return Err(ApiError::unavailable("the server is shutting down"));
    }
    state
        .engine
        .store()
        .ping()
        .await
        .map_err(|e| ApiError::unavailable(format!("the database does not answer: {e}")))?;
    Ok(Json(Readiness {
        status: "ready",
        database: state.engine.store().backend(),
    }))
}

/// Prometheus metrics, with the store's gauges refreshed at each scrape.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    operation_id = "metrics",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 500, response = crate::openapi::Internal),
    )
)]
pub async fn metrics(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let store = state.engine.store();
    let now = state.engine.now();
    let backlog = store.processing_backlog().await?;
    let timers = store
        .timer_counts(if state.engine.clock().manual().is_some() {
            Now::Manual(now)
        } else {
            Now::System(now)
        })
        .await?;
    let outbox = store.outbox_counts().await?;
    metrics::gauge!("onboard_events_unprocessed").set(backlog.n_events as f64);
    metrics::gauge!("onboard_processing_backlog_age_seconds").set(
        backlog
            .oldest_received_at
            .map(|t| (now.millis() - t.millis()).max(0) as f64 / 1000.0)
            .unwrap_or(0.0),
    );
    metrics::gauge!("onboard_timers_pending").set(timers.pending as f64);
    metrics::gauge!("onboard_timers_due").set(timers.due as f64);
    metrics::gauge!("onboard_outbox_queued").set(outbox.queued as f64);
    metrics::gauge!("onboard_outbox_dead").set(outbox.dead as f64);
    let text = state
        .metrics
        .as_ref()
        .map(|h| h.render())
        .unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}
