//! Goals: each of the program's goals is followed per account from the won deal (or from the
//! launch of its template's project) to its deadline. Its value is measured as data arrives,
//! its status comes from a forecast of the value's trajectory, and a timer recomputes it when
//! nothing arrives (a stalled account drifts to `at_risk` on its own). A change of status is
//! a derived event (`goal.at_risk`, `goal.on_track`, `goal.achieved`, `goal.missed`) that
//! rules can act on.
//!
//! The checks keep to a daily grid (a day apart from when the goals started), but a check is
//! planned only for the first tick at which a status can change with nothing arriving
//! ([`next_change`]): when the forecast starts, when the forecast falls below the target, when
//! an active user leaves the window, at the deadline. A stalled account's goals are checked a
//! few times in their span, not every day, and each status changes on the same tick as with a
//! check every day. An event that brings such an instant nearer plans an earlier check; a
//! check that a nearer one superseded does nothing when it fires
//! ([`AccountState::goals_check_at`]).
//!
//! The forecast is linear: the value reached so far, extended over the whole span at the
//! pace since the start. It says nothing during the first quarter of the span (too little
//! to go on); after that a goal whose forecast falls short of its target is `at_risk`. A
//! task goal is at risk when its task is overdue or due after the goal's deadline.

use super::{derived_event_key, derived_id_at};
use crate::event::{types, Event, EventType, NewEvent};
use crate::program::{Goal, GoalMetric, HealthModel, Program};
use crate::state::{AccountState, Decisions, GoalState, GoalStatus, NewTimer, TaskStatus};
use crate::time::{Duration, Timestamp};

/// The `rule` of an account's daily goal timer.
pub const TIMER_RULE: &str = "goals/daily";

/// Part of a goal's span before a forecast is trusted.
const FORECAST_AFTER: f64 = 0.25;

/// Follows every goal through one event: records activity, starts goals, measures, and
/// announces changes of status.
pub(super) fn on_event(
    program: &Program,
    state: &mut AccountState,
    event: &Event,
    out: &mut Decisions,
) {
    if program.goals.is_empty() || event.kind.as_str() == types::TIMER_FIRED {
        return;
    }
    record_activity(state, event);
    let started = start_goals(program, state, event.at);
    for goal in &program.goals {
        if let Some(counted) = counts(goal, event) {
            if let Some(g) = state.goals.iter_mut().find(|g| g.name == goal.name) {
                if counted && event.at <= g.deadline_at {
                    g.count += 1;
                }
            }
        }
    }
    update(program, state, event, event.at, out);
    // The pending check, unless it is already past (cancelled by a churn, or held by a
    // pause): the grid goes on from it; without one, a new grid starts now.
    let pending = state.goals_check_at.filter(|&at| at > event.at);
    if pending.is_none() && !started && state.goals_check_at.is_none() {
        // No goal open since the last check, or a state stored before checks were planned,
        // whose daily timer still runs (its firing plans the next check).
        return;
    }
    let origin = pending.unwrap_or(event.at);
    if let Some(tick) = next_check(program, state, origin, event.at) {
        if pending.is_none_or(|pending| tick < pending) {
            schedule(state, tick, event.at, out);
        }
    }
}

/// The goals' timer: unless a nearer check superseded it, recomputes every open goal at the
/// timer's time and plans the next check.
pub(super) fn fire_timer(
    program: &Program,
    state: &mut AccountState,
    event: &Event,
    out: &mut Decisions,
) {
    if state.goals_check_at.is_some_and(|at| at > event.at) {
        return;
    }
    update(program, state, event, event.at, out);
    match next_check(program, state, event.at, event.at) {
        Some(tick) => schedule(state, tick, event.at, out),
        None => state.goals_check_at = None,
    }
}

/// Marks the person an event names as active when it is product usage or an Academy visit.
fn record_activity(state: &mut AccountState, event: &Event) {
    let active = matches!(
        event.kind.as_str(),
        "product.track" | "product.page" | types::ACADEMY_LOGIN | "module.completed"
    );
    if !active {
        return;
    }
    let Some(email) = event.data.get("email").and_then(|v| v.as_str()) else {
        return;
    };
    let email = email.to_lowercase();
    if let Some(person) = state.people.iter_mut().find(|p| p.email == email) {
        if person.active_at.is_none_or(|at| at < event.at) {
            person.active_at = Some(event.at);
        }
    }
}

/// Starts the goals that apply from now: those of no template once a deal is won, those of a
/// template once a project of it is active. Returns whether any started.
fn start_goals(program: &Program, state: &mut AccountState, now: Timestamp) -> bool {
    let won = state
        .deals
        .first()
        .map(|d| d.won_at)
        .or_else(|| state.seen.get(types::DEAL_WON).map(|s| s.first_at));
    let Some(won) = won else {
        return false;
    };
    let mut started = false;
    for goal in &program.goals {
        if state.goals.iter().any(|g| g.name == goal.name) {
            continue;
        }
        let applies = match &goal.template {
            None => true,
            Some(template) => state
                .projects
                .iter()
                .any(|p| &p.template == template && p.launched_at.is_some()),
        };
        if !applies {
            continue;
        }
        state.goals.push(GoalState {
            name: goal.name.clone(),
            target: goal.target,
            started_at: won,
            deadline_at: won.plus(Duration(i64::from(goal.deadline_days) * 86_400_000)),
            status: GoalStatus::OnTrack,
            value: 0.0,
            forecast: None,
            count: 0,
            updated_at: now,
        });
        started = true;
    }
    started
}

/// Whether `event` adds one to the goal's count: `Some(true)` when it does, `None` when the
/// goal is not a count. An `event_count` goal counts events of that type and product events
/// of that name (`product.track` with `data.event`).
fn counts(goal: &Goal, event: &Event) -> Option<bool> {
    let GoalMetric::EventCount { event: name } = &goal.metric else {
        return None;
    };
    let named = event.kind.as_str() == "product.track"
        && event.data.get("event").and_then(|v| v.as_str()) == Some(name.as_str());
    Some(named || event.kind.as_str() == name)
}

/// The goal's value now. Active users are the product users active in the health window
/// (`[health] window`); a goal of one persona counts those linked to a person of it.
fn measure(
    goal: &Goal,
    health: &HealthModel,
    state: &AccountState,
    g: &GoalState,
    now: Timestamp,
) -> f64 {
    let active = || {
        let persona_of = |email: &str| {
            state
                .people
                .iter()
                .find(|p| p.email == email)
                .and_then(|p| p.persona.as_deref())
        };
        state
            .usage
            .active_users(health, now)
            .filter(|(_, u)| match &goal.persona {
                None => true,
                Some(persona) => u.email.as_deref().and_then(persona_of) == Some(persona.as_str()),
            })
            .count() as f64
    };
    match &goal.metric {
        GoalMetric::EventCount { .. } => g.count as f64,
        GoalMetric::ActiveUsers => active(),
        GoalMetric::SeatShareActive => {
            let seats = f64::from(crate::health::seats(state));
            if seats > 0.0 {
                active() / seats
            } else {
                0.0
            }
        }
        GoalMetric::Task { task } => {
            let done = state
                .projects
                .iter()
                .flat_map(|p| &p.tasks)
                .any(|t| &t.key == task && t.status == TaskStatus::Done);
            if done {
                1.0
            } else {
                0.0
            }
        }
    }
}

/// The status a goal has at `now`, with the forecast behind it.
fn assess(
    goal: &Goal,
    state: &AccountState,
    g: &GoalState,
    value: f64,
    now: Timestamp,
) -> (GoalStatus, Option<f64>) {
    if value >= g.target {
        return (GoalStatus::Achieved, Some(value));
    }
    if now >= g.deadline_at {
        return (GoalStatus::Missed, Some(value));
    }
    let span = (g.deadline_at.millis() - g.started_at.millis()).max(1) as f64;
    let elapsed = (now.millis() - g.started_at.millis()).max(0) as f64;
    if let GoalMetric::Task { task } = &goal.metric {
        let late = state
            .projects
            .iter()
            .flat_map(|p| &p.tasks)
            .filter(|t| &t.key == task)
            .any(|t| t.overdue || t.due_at.is_some_and(|due| due > g.deadline_at));
        let status = if late {
            GoalStatus::AtRisk
        } else {
            GoalStatus::OnTrack
        };
        return (status, None);
    }
    if elapsed / span < FORECAST_AFTER {
        return (GoalStatus::OnTrack, None);
    }
    let forecast = value * span / elapsed.max(1.0);
    let status = if forecast < g.target {
        GoalStatus::AtRisk
    } else {
        GoalStatus::OnTrack
    };
    (status, Some(forecast))
}

/// Measures and assesses every goal that is still open, announcing each change of status.
fn update(
    program: &Program,
    state: &mut AccountState,
    cause: &Event,
    now: Timestamp,
    out: &mut Decisions,
) {
    for goal in &program.goals {
        let Some(index) = state.goals.iter().position(|g| g.name == goal.name) else {
            continue;
        };
        let g = &state.goals[index];
        if matches!(g.status, GoalStatus::Achieved | GoalStatus::Missed) {
            continue;
        }
        let value = measure(goal, &program.health, state, g, now);
        let (status, forecast) = assess(goal, state, g, value, now);
        let changed = status != g.status;
        let g = &mut state.goals[index];
        g.value = value;
        g.forecast = forecast;
        g.updated_at = now;
        if changed {
            g.status = status;
            let kind = format!("goal.{}", status.as_str());
            if let Ok(kind) = EventType::parse(&kind) {
                out.events.push(NewEvent {
                    key: derived_event_key(
                        now,
                        &[&state.id, &goal.name, status.as_str(), &cause.key],
                    ),
                    kind,
                    account: state.id.clone(),
                    at: now,
                    data: serde_json::json!({
                        "goal": goal.name,
                        "title": goal.title,
                        "value": value,
                        "target": goal.target,
                        "forecast": forecast,
                        "deadline_at": state.goals[index].deadline_at.millis(),
                    }),
                });
            }
        }
    }
}

/// The goals as they stand at `now`, for views: each open goal's value and forecast measured
/// at `now` as a check would, its status the last one decided. Between checks the stored
/// value is the one of the last event or check, which may have aged (an active user gone
/// quiet since).
pub fn as_of(program: &Program, state: &AccountState, now: Timestamp) -> Vec<GoalState> {
    let mut goals = state.goals.to_vec();
    for g in &mut goals {
        if !matches!(g.status, GoalStatus::OnTrack | GoalStatus::AtRisk) || now <= g.updated_at {
            continue;
        }
        let Some(goal) = program.goals.iter().find(|d| d.name == g.name) else {
            continue;
        };
        let value = measure(goal, &program.health, state, g, now);
        let (_, forecast) = assess(goal, state, g, value, now);
        g.value = value;
        g.forecast = forecast;
        g.updated_at = now;
    }
    goals
}

/// The first instant after `now` at which an open goal's status can change with nothing
/// arriving; `None` when no goal is open. It errs early, never late: a check there that finds
/// nothing changed plans the next one.
fn next_change(program: &Program, state: &AccountState, now: Timestamp) -> Option<Timestamp> {
    let health = &program.health;
    // The first instant an active user is no longer active (active while `last_at` is
    // within the window).
    let leaves = || {
        state
            .usage
            .active_users(health, now)
            .map(|(_, u)| u.last_at.millis().saturating_add(health.window.millis()))
            .min()
    };
    let mut next: Option<i64> = None;
    let mut consider = |at: i64| next = Some(next.map_or(at, |n| n.min(at)));
    for goal in &program.goals {
        let Some(g) = state.goals.iter().find(|g| g.name == goal.name) else {
            continue;
        };
        if !matches!(g.status, GoalStatus::OnTrack | GoalStatus::AtRisk) {
            continue;
        }
        consider(g.deadline_at.millis());
        if matches!(goal.metric, GoalMetric::Task { .. }) {
            // Its status moves with its task, which only events change.
            continue;
        }
        let start = g.started_at.millis();
        let span = (g.deadline_at.millis() - start).max(1) as f64;
        let elapsed = (now.millis() - start).max(0) as f64;
        if elapsed / span < FORECAST_AFTER {
            consider(start + (span * FORECAST_AFTER).floor() as i64);
            continue;
        }
        if g.status == GoalStatus::AtRisk {
            // The forecast only falls while nothing arrives: at risk until the deadline.
            continue;
        }
        // On track: the forecast (value × span / elapsed) falls below the target once
        // `elapsed` passes value × span / target, sooner if the value drops.
        if g.target > 0.0 {
            consider(start + (g.value * span / g.target).floor() as i64);
        }
        if matches!(
            goal.metric,
            GoalMetric::ActiveUsers | GoalMetric::SeatShareActive
        ) {
            if let Some(at) = leaves() {
                consider(at);
            }
        }
    }
    next.map(Timestamp)
}

/// The tick of the daily grid through `origin` for the next check after `now`: the first at
/// or after [`next_change`].
fn next_check(
    program: &Program,
    state: &AccountState,
    origin: Timestamp,
    now: Timestamp,
) -> Option<Timestamp> {
    let change = next_change(program, state, now)?;
    let from = change.millis().max(now.millis() + 1);
    // Whole days from the origin, rounded up (the grid runs both ways from it).
    let days = -(origin.millis() - from).div_euclid(DAY_MS);
    Some(Timestamp(
        origin.millis().saturating_add(days.saturating_mul(DAY_MS)),
    ))
}

const DAY_MS: i64 = 86_400_000;

/// Sets the goals' check at `due`.
fn schedule(state: &mut AccountState, due: Timestamp, now: Timestamp, out: &mut Decisions) {
    state.goals_check_at = Some(due);
    out.timers.push(NewTimer {
        id: derived_id_at(
            "tmr",
            due,
            &[&state.id, TIMER_RULE, &due.millis().to_string()],
        ),
        account: state.id.clone(),
        rule: TIMER_RULE.to_owned(),
        due_at: due,
        since_at: now,
        program_version: state.program_version.clone(),
    });
}
