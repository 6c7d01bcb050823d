//! One account: its timeline (events, messages and the decisions behind them, each with its
//! trace), the project plan with task states, goals with their forecast chart, each
//! person's Academy progress, usage with its chart, alerts and team tasks.

use super::charts::{self, GoalCourse};
use super::portfolio::duration_words;
use super::{pages, require};
use crate::error::ApiResult;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use onboard_core::state::{AlertStatus, TaskStatus, TeamTaskStatus, TraceOutcome};
use onboard_core::{Duration, Timestamp};
use onboard_store::{EventFilter, MessageFilter};

/// How far back the timeline reads events.
const TIMELINE_DAYS: i64 = 60;
/// Entries the timeline shows.
const TIMELINE_ENTRIES: usize = 150;
const DAY_MS: i64 = 86_400_000;

pub(super) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let session = match require(&state, &headers).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    let store = state.engine.store();
    let Some(account) = store.account(&id).await? else {
        return pages::not_found(&state, &session);
    };
    let now = state.engine.now();
    let program = state.engine.program_of(&account.program_version).await?;
    let health = onboard_core::health::assess(&account, &program.health, now);
    let summary = state.engine.summary(&account);

    // ---- timeline ----
    let events = store
        .list_events(&EventFilter {
            account: Some(id.clone()),
            from: Some(Timestamp(now.0 - TIMELINE_DAYS * DAY_MS)),
            limit: 1000,
            ..EventFilter::default()
        })
        .await?;
    let messages = store
        .list_messages(&MessageFilter {
            account: Some(id.clone()),
            limit: 200,
            ..MessageFilter::default()
        })
        .await?;
    let traces = store.traces(&id, 1000).await?;
    let mut timeline: Vec<(Timestamp, serde_json::Value)> = Vec::new();
    for event in events
        .iter()
        .filter(|e| !e.kind.as_str().starts_with("product."))
    {
        timeline.push((
            event.at,
            serde_json::json!({
                "kind": "event",
                "at": event.at.to_rfc3339(),
                "title": event.kind.as_str(),
                "detail": event_detail(&event.data),
            }),
        ));
    }
    for message in &messages {
        let why: Vec<serde_json::Value> = traces
            .iter()
            .filter(|t| t.rule == message.rule && t.event == message.cause)
            .map(|t| {
                serde_json::json!({
                    "rule": t.rule, "outcome": t.outcome.as_str(), "reason": t.reason,
                    "at": t.at.to_rfc3339(),
                })
            })
            .collect();
        timeline.push((
            message.created_at,
            serde_json::json!({
                "kind": "message",
                "at": message.created_at.to_rfc3339(),
                "title": format!("{} to {}: {}", message.channel, message.to_email, message.subject),
                "detail": format!("{} · rule {} · {} attempt(s)", message.status, message.rule, message.attempts),
                "status": message.status,
                "traces": why,
            }),
        ));
    }
    for trace in traces
        .iter()
        .filter(|t| !matches!(t.outcome, TraceOutcome::Skipped))
        .filter(|t| {
            !messages
                .iter()
                .any(|m| m.rule == t.rule && m.cause == t.event)
        })
    {
        timeline.push((
            trace.at,
            serde_json::json!({
                "kind": "decision",
                "at": trace.at.to_rfc3339(),
                "title": format!("rule {} {}", trace.rule, trace.outcome.as_str()),
                "detail": trace.reason,
                "traces": [],
            }),
        ));
    }
    timeline.sort_by_key(|e| std::cmp::Reverse(e.0));
    timeline.truncate(TIMELINE_ENTRIES);

    // ---- plan ----
    let projects: Vec<serde_json::Value> = account
        .projects
        .iter()
        .map(|p| {
            let done = p
                .tasks
                .iter()
                .filter(|t| t.status == TaskStatus::Done)
                .count();
            serde_json::json!({
                "title": p.title,
                "template": p.template,
                "status": p.status.as_str(),
                "done": done,
                "total": p.tasks.len(),
                "launched_at": p.launched_at.map(|t| t.to_rfc3339()),
                "tasks": p.tasks.iter().map(|t| serde_json::json!({
                    "title": t.title,
                    "owner": t.owner,
                    "assignee": t.assignee,
                    "status": t.status.as_str(),
                    "overdue": t.overdue && t.status != TaskStatus::Done,
                    "milestone": t.milestone,
                    "due_at": t.due_at.map(|d| d.to_rfc3339()),
                    "unlock_at": t.unlock_at.map(|d| d.to_rfc3339()),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();

    // ---- goals ----
    let goals: Vec<serde_json::Value> = onboard_core::decide::goals_as_of(&program, &account, now)
        .iter()
        .map(|g| {
            let chart = charts::goal(&GoalCourse {
                title: &g.name,
                target: g.target,
                value: g.value,
                forecast: g.forecast,
                start: g.started_at.0,
                now: now.0.min(g.deadline_at.0),
                deadline: g.deadline_at.0,
            });
            serde_json::json!({
                "name": g.name,
                "status": g.status.as_str(),
                "status_label": g.status.as_str().replace('_', " "),
                "value": g.value,
                "target": g.target,
                "forecast": g.forecast.map(|f| (f * 10.0).round() / 10.0),
                "deadline": g.deadline_at.to_rfc3339(),
                "chart": chart,
            })
        })
        .collect();

    // ---- people and the Academy ----
    let people: Vec<serde_json::Value> = account
        .people
        .iter()
        .map(|p| {
            let journey = p
                .journey
                .as_deref()
                .and_then(|j| program.journeys.iter().find(|x| x.name == j));
            let done = p
                .journey
                .as_deref()
                .and_then(|j| p.modules_completed.get(j))
                .map_or(0, |m| {
                    journey.map_or(m.len(), |jj| {
                        jj.core.iter().filter(|x| m.contains_key(&x.slug)).count()
                    })
                });
            let total = journey.map_or(0, |j| j.core.len());
            serde_json::json!({
                "name": p.name,
                "email": p.email,
                "persona": p.persona,
                "journey": journey.map(|j| j.title.clone()).or_else(|| p.journey.clone()),
                "done": done,
                "total": total,
                "signed_in": p.seen.get("academy.login").map(|t| t.to_rfc3339()),
                "aha_at": p.aha_at.map(|t| t.to_rfc3339()),
                "active_at": p.active_at.map(|t| t.to_rfc3339()),
            })
        })
        .collect();

    // ---- usage ----
    let today = now.0.div_euclid(DAY_MS);
    let window = health.window_days.max(1);
    let per_day: Vec<(String, f64)> = (0..window)
        .rev()
        .map(|back| {
            let day = today - back;
            let users = account
                .usage
                .days
                .iter()
                .find(|d| d.day == day)
                .map_or(0, |d| d.users);
            (
                Timestamp(day * DAY_MS).to_rfc3339()[..10].to_owned(),
                f64::from(users),
            )
        })
        .collect();
    let usage_chart = charts::bars(
        "Active users per day",
        &format!(
            "{} active users of {} seats over the last {} days",
            health.active_users, health.seats, window
        ),
        &per_day,
        (health.seats > 0).then(|| (f64::from(health.seats), "seats")),
    );

    let alerts: Vec<serde_json::Value> = account
        .alerts
        .iter()
        .filter(|a| a.status == AlertStatus::Open)
        .map(|a| {
            serde_json::json!({
                "id": a.id(), "rule": a.rule, "reason": a.reason, "channel": a.channel,
                "count": a.count, "updated_at": a.updated_at.to_rfc3339(),
            })
        })
        .collect();
    let team_tasks: Vec<serde_json::Value> = account
        .team_tasks
        .iter()
        .filter(|t| t.status == TeamTaskStatus::Open)
        .map(|t| {
            serde_json::json!({
                "title": t.title, "reason": t.reason, "assignee": t.assignee_email.clone().unwrap_or_else(|| t.assignee_role.clone()),
                "created_at": t.created_at.to_rfc3339(),
            })
        })
        .collect();
    let deal = summary.deal_won_at;
    pages::console_page(
        StatusCode::OK,
        "account.html",
        &state,
        &session,
        serde_json::json!({
            "section": "portfolio",
            "account": {
                "id": account.id,
                "name": account.name,
                "status": account.status.as_str(),
                "csm": account.csm,
                "domain": account.domain,
                "program_version": account.program_version,
                "stage": summary.stage.replace('_', " "),
                "progress": summary.progress,
                "deal_won_at": deal.map(|t| t.to_rfc3339()),
                "days_since_deal": deal.map(|won| (now.0 - won.0).div_euclid(DAY_MS)),
                "ttv": match (deal, summary.aha_at) {
                    (Some(won), Some(aha)) => Some(format!("Aha reached {} after the deal", duration_words(aha.0 - won.0))),
                    (Some(won), None) => Some(format!("No Aha yet, {} after the deal", duration_words(now.0 - won.0))),
                    _ => None,
                },
                "stalled": summary.stalled(now),
                "power_user": summary.power_user,
                "overdue_tasks": summary.overdue_tasks,
            },
            "health": {
                "score": health.score,
                "band": health.band,
                "active_users": health.active_users,
                "seats": health.seats,
                "reasons": health.reasons,
                "features": health.features.iter().map(|f| serde_json::json!({
                    "feature": f.feature, "users": f.users, "share": (f.share * 100.0).round(),
                })).collect::<Vec<_>>(),
                "chart": usage_chart,
            },
            "timeline": timeline.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
            "projects": projects,
            "goals": goals,
            "people": people,
            "alerts": alerts,
            "team_tasks": team_tasks,
            "autopilot": account.autopilot.as_ref().map(|run| serde_json::json!({
                "segment": run.segment,
                "active": run.active(),
                "since": run.since.to_rfc3339(),
                "watched": run.tasks.len(),
                "pending": run.approvals.iter().filter(|a| a.status == onboard_core::state::ApprovalStatus::Pending).count(),
                "escalations": run.escalations.iter().rev().take(5).map(|e| serde_json::json!({
                    "at": e.at.to_rfc3339(), "reason": e.reason, "subject": e.subject, "evidence": e.evidence,
                })).collect::<Vec<_>>(),
                "posts": run.posts.iter().rev().take(3).map(|p| serde_json::json!({
                    "at": p.at.to_rfc3339(), "title": p.title, "text": p.text,
                })).collect::<Vec<_>>(),
            })),
            "window_days": window,
            "stall_after_hours": Duration(onboard_core::portfolio::STALL_AFTER.0).millis() / 3_600_000,
        }),
    )
}

/// Fields of the engine's own bookkeeping, which tell a reader nothing (a program version's
/// hash, a timer's id).
const BOOKKEEPING: [&str; 2] = ["program_version", "timer"];

/// An event's data in one line: its short string fields, instants (`…_at` in epoch
/// milliseconds) as dates.
fn event_detail(data: &serde_json::Value) -> String {
    let Some(object) = data.as_object() else {
        return String::new();
    };
    object
        .iter()
        .filter(|(k, _)| !BOOKKEEPING.contains(&k.as_str()))
        .filter_map(|(k, v)| match v {
            serde_json::Value::Number(n) if k.ends_with("_at") => n.as_i64().map(|ms| {
                let at = onboard_core::Timestamp(ms).to_rfc3339();
                format!("{k}: {}", at.get(..16).unwrap_or(&at).replace('T', " "))
            }),
            serde_json::Value::String(s) if s.len() <= 80 => Some(format!("{k}: {s}")),
            serde_json::Value::Number(n) => Some(format!("{k}: {n}")),
            serde_json::Value::Bool(b) => Some(format!("{k}: {b}")),
            _ => None,
        })
        .take(6)
        .collect::<Vec<_>>()
        .join(" · ")
}
