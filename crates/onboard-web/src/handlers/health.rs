//! `/healthz` (the process answers), `/readyz` (the database answers, not shutting down) and
//! `/metrics` (Prometheus text, with the store's gauges refreshed at each scrape).

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use onboard_store::Now;
use serde_json::{json, Value};

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    if state.engine.is_stopping() {
        return Err(ApiError::unavailable("the server is shutting down"));
    }
    state
        .engine
        .store()
        .ping()
        .await
        .map_err(|e| ApiError::unavailable(format!("the database does not answer: {e}")))?;
    Ok(Json(
        json!({ "status": "ready", "database": state.engine.store().backend() }),
    ))
}

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
