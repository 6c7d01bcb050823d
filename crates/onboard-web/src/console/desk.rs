//! The console's other pages: the alerts inbox (open alerts across the book, closed by an
//! admin or CSM), the outbox (messages by status, dead letters retried by hand), and the
//! program (its version, each rule with how often it fired today and this week, templates,
//! journeys).

use super::{pages, require};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use onboard_core::event::types;
use onboard_core::program::{Action, Trigger};
use onboard_core::state::{AlertStatus, TEAM_ACCOUNT};
use onboard_core::{EventType, NewEvent, Timestamp};
use onboard_store::{Flag, MessageFilter, PortfolioQuery, SortKey};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Accounts with open alerts the inbox reads at most.
const INBOX_ACCOUNTS: i64 = 200;
const DAY_MS: i64 = 86_400_000;

#[derive(Deserialize, Default)]
pub(super) struct BookParam {
    #[serde(default)]
    book: Option<String>,
}

impl BookParam {
    /// Whether a page shows the member's own accounts: `book=mine` or `book=all`, else a
    /// CSM's own and everyone's for the other roles.
    pub(super) fn mine(
        params: Result<Query<BookParam>, QueryRejection>,
        session: &super::TeamSession,
    ) -> bool {
        match params.ok().and_then(|p| p.0.book).as_deref() {
            Some("all") => false,
            Some("mine") => true,
            _ => session.member.role == "csm",
        }
    }
}

pub(super) async fn alerts(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<BookParam>, QueryRejection>,
) -> ApiResult<Response> {
    let session = match require(&state, &headers).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    let mine = BookParam::mine(params, &session);
    let now = state.engine.now();
    let store = state.engine.store();
    let found = store
        .portfolio(&PortfolioQuery {
            csm: mine.then(|| session.member.email.to_lowercase()),
            flag: Some(Flag::Alerts),
            sort: SortKey::Alert,
            descending: true,
            limit: INBOX_ACCOUNTS,
            ..PortfolioQuery::at(now)
        })
        .await?;
    let ids: Vec<String> = found.rows.iter().map(|r| r.account.clone()).collect();
    let mut alerts: Vec<(Timestamp, serde_json::Value)> = Vec::new();
    for account in store.load_accounts(&ids).await? {
        for alert in account
            .alerts
            .iter()
            .filter(|a| a.status == AlertStatus::Open)
        {
            alerts.push((
                alert.updated_at,
                serde_json::json!({
                    "id": alert.id(),
                    "account": account.id,
                    "account_name": account.name,
                    "rule": alert.rule,
                    "reason": alert.reason,
                    "channel": alert.channel,
                    "count": alert.count,
                    "opened_at": alert.opened_at.to_rfc3339(),
                    "updated_at": alert.updated_at.to_rfc3339(),
                }),
            ));
        }
    }
    alerts.sort_by_key(|a| std::cmp::Reverse(a.0));
    pages::console_page(
        StatusCode::OK,
        "alerts.html",
        &state,
        &session,
        serde_json::json!({
            "section": "alerts",
            "alerts": alerts.into_iter().map(|(_, a)| a).collect::<Vec<_>>(),
            "mine": mine,
        }),
    )
}

#[derive(Deserialize, Default)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Closes an open alert (admins and CSMs), through the same event as the API.
pub(super) async fn close_alert(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, alert)): Path<(String, String)>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> ApiResult<Response> {
    let session = match require(&state, &headers).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    if !session.csrf_ok(&form.map(|f| f.0.csrf).unwrap_or_default()) {
        return pages::form_expired(&session);
    }
    if !session.may_act() {
        return pages::forbidden(&state, &session);
    }
    let Some(account) = state.engine.store().account(&id).await? else {
        return pages::not_found(&state, &session);
    };
    let open = account
        .alerts
        .iter()
        .any(|a| a.id() == alert && a.status == AlertStatus::Open);
    if open {
        let now = state.engine.now();
        let kind = EventType::parse(types::ALERT_CLOSED).map_err(ApiError::internal)?;
        state
            .engine
            .ingest(vec![NewEvent {
                key: format!("alert.closed:{alert}:{}", now.millis()),
                kind,
                account: id.clone(),
                at: now,
                data: serde_json::json!({ "alert": alert, "by": session.member.email }),
            }])
            .await?;
    }
    Ok(super::redirect("/console/alerts"))
}

#[derive(Deserialize, Default)]
pub(super) struct OutboxParams {
    #[serde(default)]
    status: Option<String>,
}

pub(super) async fn outbox(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<OutboxParams>, QueryRejection>,
) -> ApiResult<Response> {
    let session = match require(&state, &headers).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    let status = params
        .ok()
        .and_then(|p| p.0.status)
        .filter(|s| ["queued", "delivered", "dead"].contains(&s.as_str()));
    let store = state.engine.store();
    let counts = store.outbox_counts().await?;
    let messages = store
        .list_messages(&MessageFilter {
            status: status.clone(),
            limit: 200,
            ..MessageFilter::default()
        })
        .await?;
    let rows: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            serde_json::json!({
                "id": m.id,
                "account": if m.account == TEAM_ACCOUNT { None } else { Some(&m.account) },
                "channel": m.channel,
                "to": m.to_email,
                "subject": m.subject,
                "rule": m.rule,
                "drafted_by": m.drafted_by,
                "status": m.status,
                "attempts": m.attempts,
                "last_error": m.last_error,
                "created_at": m.created_at.to_rfc3339(),
                "next_attempt_at": m.next_attempt_at.map(|t| t.to_rfc3339()),
            })
        })
        .collect();
    pages::console_page(
        StatusCode::OK,
        "outbox.html",
        &state,
        &session,
        serde_json::json!({
            "section": "outbox",
            "status": status,
            "counts": { "queued": counts.queued, "dead": counts.dead },
            "messages": rows,
        }),
    )
}

/// Retries a dead message (admins and CSMs).
pub(super) async fn retry(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> ApiResult<Response> {
    let session = match require(&state, &headers).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    if !session.csrf_ok(&form.map(|f| f.0.csrf).unwrap_or_default()) {
        return pages::form_expired(&session);
    }
    if !session.may_act() {
        return pages::forbidden(&state, &session);
    }
    match state.engine.retry_message(&id).await {
        Ok(()) => Ok(super::redirect("/console/outbox?status=queued")),
        Err(onboard_engine::EngineError::Store(onboard_store::StoreError::NotFound)) => {
            pages::not_found(&state, &session)
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn program(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let session = match require(&state, &headers).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    let now = state.engine.now();
    let store = state.engine.store();
    let today: BTreeMap<String, i64> = store
        .rule_firings(Timestamp(now.0.div_euclid(DAY_MS) * DAY_MS))
        .await?
        .into_iter()
        .collect();
    let week: BTreeMap<String, i64> = store
        .rule_firings(Timestamp(now.0 - 7 * DAY_MS))
        .await?
        .into_iter()
        .collect();
    let program = state.engine.program();
    let rules: Vec<serde_json::Value> = program
        .rules
        .iter()
        .map(|r| {
            let trigger = match &r.trigger {
                Trigger::On { event } => format!("on {}", event.as_str()),
                Trigger::After {
                    delay,
                    since,
                    unless,
                } => format!(
                    "{} after {}{}",
                    delay,
                    since.as_str(),
                    unless
                        .as_ref()
                        .map(|u| format!(" unless {}", u.as_str()))
                        .unwrap_or_default()
                ),
            };
            serde_json::json!({
                "name": r.name,
                "description": r.description,
                "trigger": trigger,
                "actions": r.actions.iter().map(action_words).collect::<Vec<_>>(),
                "today": today.get(&r.name).copied().unwrap_or(0),
                "week": week.get(&r.name).copied().unwrap_or(0),
            })
        })
        .collect();
    let templates: Vec<serde_json::Value> = program
        .templates
        .iter()
        .map(|t| {
            serde_json::json!({
                "name": t.name, "title": t.title, "tasks": t.tasks.len(), "next": t.next,
            })
        })
        .collect();
    let journeys: Vec<serde_json::Value> = program
        .journeys
        .iter()
        .map(|j| {
            serde_json::json!({
                "name": j.name, "title": j.title, "core": j.core.len(), "library": j.library.len(),
            })
        })
        .collect();
    pages::console_page(
        StatusCode::OK,
        "program.html",
        &state,
        &session,
        serde_json::json!({
            "section": "program",
            "version": program.version.0,
            "rules": rules,
            "templates": templates,
            "journeys": journeys,
        }),
    )
}

/// An action in a few words.
fn action_words(action: &Action) -> String {
    match action {
        Action::Send { message, .. } => format!("email `{message}`"),
        Action::Emit { event } => format!("emit {}", event.as_str()),
        Action::Launch { template, .. } => format!("launch `{template}`"),
        Action::Task {
            title, assignee, ..
        } => format!("task for {assignee}: {title}"),
        Action::Alert { channel, .. } => format!("alert to {channel}"),
        Action::Nudge { message, .. } => format!("nudge `{message}`"),
        Action::Enrol { journey, .. } => format!("enrol in `{journey}`"),
        Action::Set { .. } => "set a field".to_owned(),
    }
}
