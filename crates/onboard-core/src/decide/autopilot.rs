//! Autopilot: accounts in the program's autopilot segments are run by the engine alone. It
//! watches each open customer task and reminds its assignee on the program's escalating
//! cadence (within the contact budget), posts progress to the Shared Space, and hands the
//! account to a person of the team when something needs one: reminders ignored, a goal at
//! risk, a comment asking for help or showing frustration, a failed integration. Each thing
//! it does is announced as `autopilot.acted` (the account's autopilot log), and the actions
//! the program names wait for a person's approval.
//!
//! Its actions run as rules of its own (`autopilot/remind`, `autopilot/escalate`) through
//! the same code as the program's rules, so messages, alerts, traces and the budget behave
//! alike.

use super::{
    budget, condition, derived_event_key, derived_id, derived_id_at, projects, recipients, render,
    run_rule, Audience,
};
use super::{csm, Settings};
use crate::event::{types, Event, EventType, NewEvent};
use crate::program::{
    Action, Autopilot, AutopilotAction, Program, Recipient, Reentry, Rule, Signal, Trigger,
};
use crate::state::{
    AccountState, Approval, ApprovalStatus, AutopilotState, Decisions, Escalation, NewTimer, Post,
    TaskStatus, TaskWatch, TimerCancel, Trace, TraceOutcome,
};
use crate::time::Timestamp;
use serde_json::{json, Value};

/// The `rule` of autopilot's timers start with this.
pub const TIMER_PREFIX: &str = "autopilot/";
/// The timer of a watched task: `autopilot/task/<project>/<task>`.
const TASK_TIMER: &str = "autopilot/task/";
/// The timer of the next progress digest.
const DIGEST_TIMER: &str = "autopilot/digest";
/// The `rule` of autopilot's traces that are not a rule's run.
pub const TRACE_RULE: &str = "autopilot";

/// Escalation reasons.
pub const REMINDERS_IGNORED: &str = "reminders_ignored";
pub const GOAL_AT_RISK: &str = "goal_at_risk";
pub const INTEGRATION_FAILED: &str = "integration_failed";
/// A comment's signal: `comment:<signal>`.
pub const COMMENT: &str = "comment";

/// Autopilot's part in one event (not a fired timer), for an active account.
pub(super) fn on_event(
    program: &Program,
    settings: &Settings,
    state: &mut AccountState,
    event: &Event,
    out: &mut Decisions,
) {
    let Some(autopilot) = &program.autopilot else {
        return;
    };
    let kind = event.kind.as_str();
    if !kind.starts_with("product.") && kind != types::AUTOPILOT_ACTED {
        membership(autopilot, state, event, out);
    }
    let active = state.autopilot.as_ref().is_some_and(AutopilotState::active);
    match kind {
        types::AUTOPILOT_APPROVED | types::AUTOPILOT_REJECTED => {
            decide_approval(program, settings, state, event, out);
        }
        _ if !active => {}
        types::TASK_UNLOCKED if text(event, "owner") == "customer" => {
            watch(
                autopilot,
                state,
                &text(event, "project"),
                &text(event, "task"),
                event,
                out,
            );
        }
        types::TASK_COMPLETED => {
            let (project, task) = (text(event, "project"), text(event, "task"));
            unwatch(state, &project, &task, out);
            let done = state
                .project(&project)
                .and_then(|p| p.tasks.iter().find(|t| t.key == task))
                .is_some_and(|t| t.status == TaskStatus::Done);
            if done {
                post(
                    program,
                    settings,
                    state,
                    event,
                    "completed",
                    &project,
                    &task,
                    out,
                );
            }
        }
        types::TASK_REOPENED => {
            // Reopened work is watched again once it unlocks (`task.unlocked`).
            unwatch(state, &text(event, "project"), &text(event, "task"), out);
        }
        types::PROJECT_LAUNCHED => {
            let project = text(event, "project");
            post(
                program, settings, state, event, "launched", &project, "", out,
            );
            schedule_digest(autopilot, state, event, out);
        }
        "goal.at_risk" => {
            let evidence = goal_evidence(event);
            let subject = text(event, "title");
            let goal = text(event, "goal");
            escalate(
                program,
                settings,
                state,
                event,
                Case {
                    reason: GOAL_AT_RISK.to_owned(),
                    key: goal,
                    subject,
                    evidence,
                },
                out,
            );
        }
        types::COMMENT_POSTED => {
            let said = text(event, "text");
            if let Some((signal, keyword)) = Signal::find(&autopilot.signals, &said) {
                let case = comment_case(state, event, signal, keyword, &said);
                escalate(program, settings, state, event, case, out);
            }
        }
        types::INTEGRATION_FAILED => {
            let integration = match text(event, "integration") {
                i if i.is_empty() => "an integration".to_owned(),
                i => i,
            };
            let error = text(event, "error");
            let evidence = if error.is_empty() {
                format!("{integration} failed")
            } else {
                format!("{integration} failed: {error}")
            };
            escalate(
                program,
                settings,
                state,
                event,
                Case {
                    reason: INTEGRATION_FAILED.to_owned(),
                    key: integration.clone(),
                    subject: integration,
                    evidence,
                },
                out,
            );
        }
        _ => {}
    }
}

/// A fired autopilot timer: the next step for a watched task, or a progress digest.
pub(super) fn fire_timer(
    program: &Program,
    settings: &Settings,
    state: &mut AccountState,
    event: &Event,
    rule: &str,
    out: &mut Decisions,
) {
    let Some(autopilot) = &program.autopilot else {
        return;
    };
    if !state.autopilot.as_ref().is_some_and(AutopilotState::active) {
        out.traces.push(note(
            state,
            event,
            TraceOutcome::Skipped,
            "the account is no longer on autopilot".to_owned(),
        ));
        return;
    }
    if rule == DIGEST_TIMER {
        return digest(program, settings, autopilot, state, event, out);
    }
    if let Some(rest) = rule.strip_prefix(TASK_TIMER) {
        if let Some((project, task)) = rest.split_once('/') {
            step(
                program, settings, autopilot, state, event, project, task, out,
            );
        }
    }
}

/// Puts the account on autopilot when it enters a segment, and takes it off when it is in
/// none any more.
fn membership(autopilot: &Autopilot, state: &mut AccountState, event: &Event, out: &mut Decisions) {
    let env = condition::RuleEnv::new(state, event);
    let segment = autopilot
        .segments
        .iter()
        .find(|s| s.when.eval(&env, event.at).result)
        .map(|s| s.name.clone());
    let current = state
        .autopilot
        .as_ref()
        .filter(|a| a.active())
        .map(|a| a.segment.clone());
    match (segment, current) {
        (Some(segment), None) => {
            let restarted = state.autopilot.take();
            let mut run = AutopilotState {
                segment: segment.clone(),
                since: event.at,
                stopped_at: None,
                tasks: Default::default(),
                posts: Vec::new(),
                escalations: Vec::new(),
                approvals: Vec::new(),
                next_digest: None,
            };
            if let Some(before) = restarted {
                run.posts = before.posts;
                run.escalations = before.escalations;
                run.approvals = before.approvals;
            }
            state.autopilot = Some(run);
            announce(
                state,
                event,
                types::AUTOPILOT_STARTED,
                json!({ "segment": segment }),
                out,
            );
            // Customer tasks already open are watched from now.
            let open: Vec<(String, String)> = state
                .projects
                .iter()
                .filter(|p| p.status == crate::state::ProjectStatus::Active)
                .flat_map(|p| {
                    p.tasks
                        .iter()
                        .filter(|t| t.owner == "customer" && t.status == TaskStatus::Open)
                        .map(|t| (p.id.clone(), t.key.clone()))
                })
                .collect();
            for (project, task) in open {
                watch(autopilot, state, &project, &task, event, out);
            }
            if state
                .projects
                .iter()
                .any(|p| p.status == crate::state::ProjectStatus::Active)
            {
                schedule_digest(autopilot, state, event, out);
            }
        }
        (Some(segment), Some(current)) if segment != current => {
            if let Some(run) = state.autopilot.as_mut() {
                run.segment = segment.clone();
            }
            announce(
                state,
                event,
                types::AUTOPILOT_STARTED,
                json!({ "segment": segment, "previous": current }),
                out,
            );
        }
        (None, Some(segment)) => stop(state, event, &segment, out),
        _ => {}
    }
}

/// Takes the account off autopilot: its timers end, queued actions become moot.
fn stop(state: &mut AccountState, event: &Event, segment: &str, out: &mut Decisions) {
    let account = state.id.clone();
    let Some(run) = state.autopilot.as_mut() else {
        return;
    };
    run.stopped_at = Some(event.at);
    run.next_digest = None;
    for watch in std::mem::take(&mut run.tasks).into_values() {
        out.cancels.push(TimerCancel {
            account: account.clone(),
            rule: Some(task_timer(&watch.project, &watch.task)),
        });
    }
    out.cancels.push(TimerCancel {
        account: account.clone(),
        rule: Some(DIGEST_TIMER.to_owned()),
    });
    for approval in run
        .approvals
        .iter_mut()
        .filter(|a| a.status == ApprovalStatus::Pending)
    {
        approval.status = ApprovalStatus::Moot;
        approval.decided_at = Some(event.at);
        approval.note = Some("the account left autopilot".to_owned());
        out.approvals.push(approval.clone());
    }
    announce(
        state,
        event,
        types::AUTOPILOT_STOPPED,
        json!({ "segment": segment }),
        out,
    );
}

fn task_timer(project: &str, task: &str) -> String {
    format!("{TASK_TIMER}{project}/{task}")
}

fn watch_key(project: &str, task: &str) -> String {
    format!("{project}/{task}")
}

/// Starts watching an open customer task: its first reminder is due after the cadence's
/// first wait.
fn watch(
    autopilot: &Autopilot,
    state: &mut AccountState,
    project: &str,
    task: &str,
    event: &Event,
    out: &mut Decisions,
) {
    let Some(first) = autopilot.cadence.first().copied() else {
        return;
    };
    let Some(run) = state.autopilot.as_mut() else {
        return;
    };
    run.tasks.insert(
        watch_key(project, task),
        TaskWatch {
            project: project.to_owned(),
            task: task.to_owned(),
            unlocked_at: event.at,
            reminders: Vec::new(),
            escalated_at: None,
            waiting: None,
        },
    );
    let due = event.at.plus(first);
    out.timers
        .push(timer(state, &task_timer(project, task), due, event));
}

fn unwatch(state: &mut AccountState, project: &str, task: &str, out: &mut Decisions) {
    let account = state.id.clone();
    let Some(run) = state.autopilot.as_mut() else {
        return;
    };
    if run.tasks.remove(&watch_key(project, task)).is_some() {
        out.cancels.push(TimerCancel {
            account,
            rule: Some(task_timer(project, task)),
        });
    }
}

fn timer(state: &AccountState, rule: &str, due: Timestamp, cause: &Event) -> NewTimer {
    NewTimer {
        id: derived_id_at("tmr", due, &[&state.id, rule, &cause.key]),
        account: state.id.clone(),
        rule: rule.to_owned(),
        due_at: due,
        since_at: cause.at,
        program_version: state.program_version.clone(),
    }
}

/// The next step for a watched task: a reminder while the cadence has one, then, the grace
/// over, an escalation.
#[allow(clippy::too_many_arguments)]
fn step(
    program: &Program,
    settings: &Settings,
    autopilot: &Autopilot,
    state: &mut AccountState,
    event: &Event,
    project: &str,
    task: &str,
    out: &mut Decisions,
) {
    let key = watch_key(project, task);
    let Some(watch) = state
        .autopilot
        .as_ref()
        .and_then(|a| a.tasks.get(&key))
        .cloned()
    else {
        return;
    };
    let Some((title, assignee, due_at, open)) = state.project(project).and_then(|p| {
        p.tasks.iter().find(|t| t.key == task).map(|t| {
            (
                t.title.clone(),
                t.assignee.clone(),
                t.due_at,
                t.status == TaskStatus::Open && p.status == crate::state::ProjectStatus::Active,
            )
        })
    }) else {
        return;
    };
    if !open {
        unwatch(state, project, task, out);
        out.traces.push(note(
            state,
            event,
            TraceOutcome::Skipped,
            format!("“{title}” is no longer open: nothing to remind"),
        ));
        return;
    }
    if watch.waiting.is_some() || watch.escalated_at.is_some() {
        return;
    }
    let n = watch.reminders.len();
    if n >= autopilot.cadence.len() {
        let case = Case {
            reason: REMINDERS_IGNORED.to_owned(),
            key: key.clone(),
            subject: title.clone(),
            evidence: ignored_evidence(state, &watch, &title, due_at, &assignee),
        };
        if let Some(w) = state.autopilot.as_mut().and_then(|a| a.tasks.get_mut(&key)) {
            w.escalated_at = Some(event.at);
        }
        escalate(program, settings, state, event, case, out);
        return;
    }
    let about = reminder_event(
        event,
        project,
        task,
        &assignee,
        n + 1,
        autopilot.cadence.len(),
    );
    let people = remind_recipients(program, state, &about);
    if people.is_empty() {
        out.traces.push(note(
            state,
            event,
            TraceOutcome::Skipped,
            format!("no one at the account to remind about “{title}”"),
        ));
        return;
    }
    // Within the contact budget: the reminder waits until every recipient has room.
    if let Some(budget) = &program.budget {
        let slot = people
            .iter()
            .map(|(_, email)| budget::slot_for(budget, state, &[], email, event.at))
            .max()
            .unwrap_or(event.at);
        if slot > event.at {
            out.timers
                .push(timer(state, &task_timer(project, task), slot, event));
            out.traces.push(note(
                state,
                event,
                TraceOutcome::Scheduled,
                format!(
                    "reminder {} about “{title}” held by the contact budget ({} per {}) until {slot}",
                    n + 1,
                    budget.max,
                    budget.per
                ),
            ));
            return;
        }
    }
    let evidence = format!(
        "“{title}” open since {}{}; reminder {} of {}",
        day(watch.unlocked_at),
        due_at
            .map(|d| format!(", due {}", day(d)))
            .unwrap_or_default(),
        n + 1,
        autopilot.cadence.len()
    );
    if autopilot.approve.contains(&AutopilotAction::Remind) {
        let (preview, summary) = reminder_preview(program, settings, state, &about, &people);
        let id = queue(
            state,
            event,
            Queued {
                action: AutopilotAction::Remind,
                reason: "task open".to_owned(),
                subject: title,
                evidence,
                summary,
                preview,
                data: about.data.clone(),
            },
            out,
        );
        if let Some(w) = state.autopilot.as_mut().and_then(|a| a.tasks.get_mut(&key)) {
            w.waiting = Some(id);
        }
        return;
    }
    if remind(program, settings, state, &about, out) {
        log(
            state,
            event,
            AutopilotAction::Remind,
            "done",
            "task open",
            &title,
            &evidence,
            json!({ "to": people.iter().map(|(_, e)| e).collect::<Vec<_>>() }),
            out,
        );
        next_step(autopilot, state, event, project, task, out);
    }
}

/// After a reminder: the next one after the cadence's next wait, or the grace before the
/// escalation after the last.
fn next_step(
    autopilot: &Autopilot,
    state: &mut AccountState,
    event: &Event,
    project: &str,
    task: &str,
    out: &mut Decisions,
) {
    let key = watch_key(project, task);
    let Some(w) = state.autopilot.as_mut().and_then(|a| a.tasks.get_mut(&key)) else {
        return;
    };
    w.reminders.push(event.at);
    w.waiting = None;
    let n = w.reminders.len();
    let wait = autopilot.cadence.get(n).copied().unwrap_or(autopilot.grace);
    out.timers.push(timer(
        state,
        &task_timer(project, task),
        event.at.plus(wait),
        event,
    ));
}

/// The event a reminder is about: the task, its assignee, which reminder of how many.
fn reminder_event(
    cause: &Event,
    project: &str,
    task: &str,
    assignee: &str,
    n: usize,
    of: usize,
) -> Event {
    let mut about = cause.clone();
    about.data = json!({
        "project": project,
        "task": task,
        "assignee": assignee,
        "owner": "customer",
        "reminder": n,
        "of": of,
    });
    about
}

/// Who a reminder goes to: the task's assignee (a person, or the people of a persona), else
/// every person of the account.
fn remind_recipients(
    program: &Program,
    state: &AccountState,
    about: &Event,
) -> Vec<(String, String)> {
    let people = recipients(program, state, about, &Recipient::Assignee);
    if people.is_empty() {
        recipients(program, state, about, &Recipient::People { persona: None })
    } else {
        people
    }
}

/// Sends a reminder as the rule `autopilot/remind`; false if it could not be rendered.
fn remind(
    program: &Program,
    settings: &Settings,
    state: &mut AccountState,
    about: &Event,
    out: &mut Decisions,
) -> bool {
    let Some(autopilot) = &program.autopilot else {
        return false;
    };
    // The assignee, else everyone at the account (a reminder approved after its person
    // left finds no one, and its trace says so).
    let to = if recipients(program, state, about, &Recipient::Assignee).is_empty() {
        Recipient::People { persona: None }
    } else {
        Recipient::Assignee
    };
    let rule = own_rule(
        "remind",
        vec![Action::Send {
            message: autopilot.remind.clone(),
            to,
        }],
    );
    run_rule(
        program,
        settings,
        state,
        &rule,
        about,
        Audience::Everyone,
        out,
    )
}

/// The reminder's text for an approval: the first recipient's email as it would go out.
fn reminder_preview(
    program: &Program,
    settings: &Settings,
    state: &AccountState,
    about: &Event,
    people: &[(String, String)],
) -> (String, String) {
    let Some(autopilot) = &program.autopilot else {
        return (String::new(), String::new());
    };
    let names = people
        .iter()
        .map(|(n, e)| format!("{n} <{e}>"))
        .collect::<Vec<_>>()
        .join(", ");
    let (name, email) = people.first().cloned().unwrap_or_default();
    match render(
        program,
        settings,
        state,
        about,
        &autopilot.remind,
        &name,
        &email,
    ) {
        Ok((subject, body)) => (
            format!("Subject: {subject}\n\n{body}"),
            format!("email “{subject}” to {names}"),
        ),
        Err(error) => (
            String::new(),
            format!("email to {names} (not renderable: {error})"),
        ),
    }
}

/// One reason to hand the account to a person.
struct Case {
    /// `reminders_ignored`, `goal_at_risk`, `comment:<signal>`, `integration_failed`.
    reason: String,
    /// What makes it one case: the task, goal, comment or integration.
    key: String,
    /// What it is about, in words.
    subject: String,
    evidence: String,
}

/// Hands the account to a person: a team task for the program's `escalate_to` role, an
/// alert to the program's channel, and an email to the CSM, each with the reason and the
/// evidence; or queues that for approval. While the task of the same reason and subject is
/// open, a repeat only updates the task and the alert.
fn escalate(
    program: &Program,
    settings: &Settings,
    state: &mut AccountState,
    event: &Event,
    case: Case,
    out: &mut Decisions,
) {
    let Some(autopilot) = &program.autopilot else {
        return;
    };
    if autopilot.approve.contains(&AutopilotAction::Escalate) {
        let summary = format!(
            "a task for the {} “{}”{}, and an email to the CSM",
            autopilot.escalate_to,
            escalation_title(&case),
            autopilot
                .alert
                .as_deref()
                .map(|c| format!(", an alert to {c}"))
                .unwrap_or_default(),
        );
        queue(
            state,
            event,
            Queued {
                action: AutopilotAction::Escalate,
                reason: case.reason.clone(),
                subject: case.subject.clone(),
                evidence: case.evidence.clone(),
                summary,
                preview: case.evidence.clone(),
                data: json!({
                    "reason": case.reason,
                    "key": case.key,
                    "subject": case.subject,
                    "evidence": case.evidence,
                }),
            },
            out,
        );
        return;
    }
    hand_over(program, settings, state, event, &case, out);
}

fn escalation_title(case: &Case) -> String {
    let what = match case.reason.as_str() {
        REMINDERS_IGNORED => "reminders ignored".to_owned(),
        GOAL_AT_RISK => "goal at risk".to_owned(),
        INTEGRATION_FAILED => "integration failed".to_owned(),
        other => match other.strip_prefix("comment:") {
            Some(signal) => format!("comment ({signal})"),
            None => other.to_owned(),
        },
    };
    format!("Autopilot: {what}: {}", case.subject)
}

/// The escalation itself.
fn hand_over(
    program: &Program,
    settings: &Settings,
    state: &mut AccountState,
    event: &Event,
    case: &Case,
    out: &mut Decisions,
) {
    let Some(autopilot) = &program.autopilot else {
        return;
    };
    let identity = format!("{}/autopilot/{}/{}", state.id, case.reason, case.key);
    let already = state
        .team_tasks
        .iter()
        .any(|t| t.identity == identity && t.status == crate::state::TeamTaskStatus::Open);
    let mut about = event.clone();
    about.data = json!({
        "reason": case.reason,
        "subject": case.subject,
        "evidence": case.evidence,
        "title": escalation_title(case),
        "cause": event.key,
        "cause_type": event.kind.as_str(),
    });
    let mut actions = Vec::new();
    if let Some(channel) = &autopilot.alert {
        actions.push(Action::Alert {
            channel: channel.clone(),
            message: autopilot.escalation.clone(),
            reason: Some(format!("{}/{}", case.reason, case.key)),
        });
    }
    if !already && csm(program, state).is_some() {
        actions.push(Action::Send {
            message: autopilot.escalation.clone(),
            to: Recipient::Csm,
        });
    }
    let rule = own_rule("escalate", actions);
    if !rule.actions.is_empty()
        && !run_rule(
            program,
            settings,
            state,
            &rule,
            &about,
            Audience::Everyone,
            out,
        )
    {
        return;
    }
    projects::open_team_task(
        program,
        state,
        &identity,
        &escalation_title(case),
        &case.evidence,
        &autopilot.escalate_to,
        &rule.name,
        event,
    );
    if let Some(run) = state.autopilot.as_mut() {
        run.escalations.push(Escalation {
            at: event.at,
            reason: case.reason.clone(),
            subject: case.subject.clone(),
            evidence: case.evidence.clone(),
            cause: event.key.clone(),
        });
    }
    log(
        state,
        event,
        AutopilotAction::Escalate,
        "done",
        &case.reason,
        &case.subject,
        &case.evidence,
        json!({ "repeat": already }),
        out,
    );
}

/// A progress post: on a project's launch, a task completed, or the digest.
#[allow(clippy::too_many_arguments)]
fn post(
    program: &Program,
    settings: &Settings,
    state: &mut AccountState,
    event: &Event,
    occasion: &str,
    project: &str,
    task: &str,
    out: &mut Decisions,
) {
    let Some(autopilot) = &program.autopilot else {
        return;
    };
    let Some(message) = &autopilot.progress else {
        return;
    };
    let mut about = event.clone();
    about.data = progress(state, occasion, project, task);
    let (name, email) = csm(program, state)
        .map(|m| (m.name.clone(), m.email.clone()))
        .unwrap_or_else(|| (program.sender.name.clone(), program.sender.email.clone()));
    let (title, text) = match render(program, settings, state, &about, message, &name, &email) {
        Ok(rendered) => rendered,
        Err(error) => {
            out.traces.push(note(
                state,
                event,
                TraceOutcome::Failed,
                format!(
                    "progress post `{message}` could not be rendered: {error}; nothing was posted"
                ),
            ));
            return;
        }
    };
    let subject = about.data["title"].as_str().unwrap_or_default().to_owned();
    let evidence = format!(
        "{} of {} steps done",
        about.data["done"], about.data["total"]
    );
    if autopilot.approve.contains(&AutopilotAction::Post) {
        queue(
            state,
            event,
            Queued {
                action: AutopilotAction::Post,
                reason: occasion.to_owned(),
                subject,
                evidence,
                summary: format!("post “{title}” to the Shared Space"),
                preview: text.clone(),
                data: json!({ "title": title, "text": text }),
            },
            out,
        );
        return;
    }
    publish(
        state, event, occasion, &subject, &evidence, title, text, out,
    );
}

#[allow(clippy::too_many_arguments)]
fn publish(
    state: &mut AccountState,
    event: &Event,
    occasion: &str,
    subject: &str,
    evidence: &str,
    title: String,
    text: String,
    out: &mut Decisions,
) {
    let Some(run) = state.autopilot.as_mut() else {
        return;
    };
    run.posts.push(Post {
        at: event.at,
        title: title.clone(),
        text,
    });
    if run.posts.len() > AutopilotState::MAX_POSTS {
        let extra = run.posts.len() - AutopilotState::MAX_POSTS;
        run.posts.drain(..extra);
    }
    log(
        state,
        event,
        AutopilotAction::Post,
        "done",
        occasion,
        subject,
        evidence,
        json!({ "title": title }),
        out,
    );
}

/// What a progress post says, as its message's `event.data`: the project, the task just
/// done, how many steps of how many are done, and the customer's next open steps.
fn progress(state: &AccountState, occasion: &str, project: &str, task: &str) -> Value {
    let Some(p) = state.project(project).or_else(|| {
        state
            .projects
            .iter()
            .rev()
            .find(|p| p.status == crate::state::ProjectStatus::Active)
    }) else {
        return json!({ "occasion": occasion, "done": 0, "total": 0, "next": [] });
    };
    let done = p
        .tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Done)
        .count();
    let completed = p.tasks.iter().find(|t| t.key == task);
    let next: Vec<Value> = p
        .tasks
        .iter()
        .filter(|t| t.owner == "customer" && t.status == TaskStatus::Open)
        .take(3)
        .map(|t| {
            json!({
                "title": t.title,
                "due_date": t.due_at.map(day),
            })
        })
        .collect();
    json!({
        "occasion": occasion,
        "project": p.id,
        "project_title": p.title,
        "title": completed.map_or(p.title.as_str(), |t| t.title.as_str()),
        "task": completed.map(|t| t.title.clone()),
        "milestone": completed.is_some_and(|t| t.milestone),
        "completed_by": completed.and_then(|t| t.completed_by.clone()),
        "done": done,
        "total": p.tasks.len(),
        "next": next,
    })
}

fn schedule_digest(
    autopilot: &Autopilot,
    state: &mut AccountState,
    event: &Event,
    out: &mut Decisions,
) {
    let (Some(every), Some(_)) = (autopilot.digest_every, &autopilot.progress) else {
        return;
    };
    let Some(run) = state.autopilot.as_mut() else {
        return;
    };
    if run.next_digest.is_some_and(|at| at > event.at) {
        return;
    }
    let due = event.at.plus(every);
    run.next_digest = Some(due);
    out.timers.push(timer(state, DIGEST_TIMER, due, event));
}

fn digest(
    program: &Program,
    settings: &Settings,
    autopilot: &Autopilot,
    state: &mut AccountState,
    event: &Event,
    out: &mut Decisions,
) {
    let due = state.autopilot.as_ref().and_then(|a| a.next_digest);
    if due != Some(event.at) && due.is_some_and(|d| d > event.at) {
        return;
    }
    if let Some(run) = state.autopilot.as_mut() {
        run.next_digest = None;
    }
    let active = state
        .projects
        .iter()
        .any(|p| p.status == crate::state::ProjectStatus::Active);
    if !active {
        return;
    }
    post(program, settings, state, event, "digest", "", "", out);
    schedule_digest(autopilot, state, event, out);
}

/// An action waiting for a person.
struct Queued {
    action: AutopilotAction,
    reason: String,
    subject: String,
    evidence: String,
    summary: String,
    preview: String,
    data: Value,
}

/// Queues an action for approval; its id.
fn queue(state: &mut AccountState, event: &Event, queued: Queued, out: &mut Decisions) -> String {
    let id = derived_id(
        "apv",
        &[
            &state.id,
            &event.key,
            queued.action.as_str(),
            &queued.subject,
        ],
    );
    let approval = Approval {
        id: id.clone(),
        account: state.id.clone(),
        action: queued.action.as_str().to_owned(),
        reason: queued.reason.clone(),
        subject: queued.subject.clone(),
        evidence: queued.evidence.clone(),
        summary: queued.summary.clone(),
        preview: queued.preview,
        data: queued.data,
        status: ApprovalStatus::Pending,
        created_at: event.at,
        decided_at: None,
        decided_by: None,
        note: None,
    };
    out.approvals.push(approval.clone());
    if let Some(run) = state.autopilot.as_mut() {
        run.approvals.push(approval);
    }
    log(
        state,
        event,
        queued.action,
        "queued",
        &queued.reason,
        &queued.subject,
        &queued.evidence,
        json!({ "approval": id, "summary": queued.summary }),
        out,
    );
    id
}

/// A person's decision on a queued action: approved, it runs now (if it is still needed);
/// rejected, it is dropped (a rejected reminder ends the reminders about that task: a person
/// has it in hand).
fn decide_approval(
    program: &Program,
    settings: &Settings,
    state: &mut AccountState,
    event: &Event,
    out: &mut Decisions,
) {
    let id = text(event, "approval");
    let by = text(event, "by");
    let note_text = text(event, "note");
    let approved = event.kind.as_str() == types::AUTOPILOT_APPROVED;
    let Some(approval) = state
        .autopilot
        .as_ref()
        .and_then(|a| a.approvals.iter().find(|x| x.id == id))
        .cloned()
    else {
        out.traces.push(note(
            state,
            event,
            TraceOutcome::Skipped,
            format!("no autopilot approval `{id}` at this account"),
        ));
        return;
    };
    if approval.status != ApprovalStatus::Pending {
        out.traces.push(note(
            state,
            event,
            TraceOutcome::Skipped,
            format!(
                "approval `{id}` was already decided ({})",
                approval.status.as_str()
            ),
        ));
        return;
    }
    let action = AutopilotAction::parse(&approval.action);
    let still_needed = if !state.autopilot.as_ref().is_some_and(AutopilotState::active) {
        Err("the account left autopilot".to_owned())
    } else if action == Some(AutopilotAction::Remind) {
        let project = approval.data["project"].as_str().unwrap_or_default();
        let task = approval.data["task"].as_str().unwrap_or_default();
        let open = state
            .project(project)
            .and_then(|p| p.tasks.iter().find(|t| t.key == task))
            .is_some_and(|t| t.status == TaskStatus::Open);
        if open {
            Ok(())
        } else {
            Err(format!("“{}” was done meanwhile", approval.subject))
        }
    } else {
        Ok(())
    };
    let (status, outcome) = match (&still_needed, approved) {
        (_, false) => (ApprovalStatus::Rejected, "rejected"),
        (Ok(()), true) => (ApprovalStatus::Approved, "approved"),
        (Err(_), true) => (ApprovalStatus::Moot, "moot"),
    };
    let decided_note = match (&still_needed, approved) {
        (Err(why), true) => Some(why.clone()),
        _ => (!note_text.is_empty()).then(|| note_text.clone()),
    };
    if let Some(a) = state
        .autopilot
        .as_mut()
        .and_then(|a| a.approvals.iter_mut().find(|x| x.id == id))
    {
        a.status = status;
        a.decided_at = Some(event.at);
        a.decided_by = (!by.is_empty()).then(|| by.clone());
        a.note = decided_note;
        out.approvals.push(a.clone());
    }
    trim_decided(state);
    log(
        state,
        event,
        action.unwrap_or(AutopilotAction::Remind),
        outcome,
        &approval.reason,
        &approval.subject,
        &approval.evidence,
        json!({ "approval": id, "by": by, "note": note_text }),
        out,
    );
    let project = approval.data["project"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let task = approval.data["task"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if status != ApprovalStatus::Approved {
        if action == Some(AutopilotAction::Remind) {
            unwatch(state, &project, &task, out);
        }
        return;
    }
    match action {
        Some(AutopilotAction::Remind) => {
            let mut about = event.clone();
            about.data = approval.data.clone();
            if remind(program, settings, state, &about, out) {
                if let Some(autopilot) = &program.autopilot {
                    next_step(autopilot, state, event, &project, &task, out);
                }
            }
        }
        Some(AutopilotAction::Post) => {
            let title = approval.data["title"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let text = approval.data["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            publish(
                state,
                event,
                &approval.reason,
                &approval.subject,
                &approval.evidence,
                title,
                text,
                out,
            );
        }
        Some(AutopilotAction::Escalate) => {
            let case = Case {
                reason: approval.reason.clone(),
                key: approval.data["key"].as_str().unwrap_or_default().to_owned(),
                subject: approval.subject.clone(),
                evidence: approval.evidence.clone(),
            };
            hand_over(program, settings, state, event, &case, out);
        }
        None => {}
    }
}

/// Keeps the latest decided approvals, and every pending one.
fn trim_decided(state: &mut AccountState) {
    let Some(run) = state.autopilot.as_mut() else {
        return;
    };
    let decided = run
        .approvals
        .iter()
        .filter(|a| a.status != ApprovalStatus::Pending)
        .count();
    let mut extra = decided.saturating_sub(AutopilotState::MAX_DECIDED);
    run.approvals.retain(|a| {
        if extra > 0 && a.status != ApprovalStatus::Pending {
            extra -= 1;
            false
        } else {
            true
        }
    });
}

/// Announces one entry of the autopilot log (`autopilot.acted`).
#[allow(clippy::too_many_arguments)]
fn log(
    state: &AccountState,
    cause: &Event,
    action: AutopilotAction,
    outcome: &str,
    reason: &str,
    subject: &str,
    evidence: &str,
    extra: Value,
    out: &mut Decisions,
) {
    let mut data = json!({
        "action": action.as_str(),
        "outcome": outcome,
        "reason": reason,
        "subject": subject,
        "evidence": evidence,
        "cause": cause.key,
    });
    if let (Some(data), Value::Object(extra)) = (data.as_object_mut(), extra) {
        data.extend(extra);
    }
    out.traces.push(note(
        state,
        cause,
        if outcome == "queued" {
            TraceOutcome::Scheduled
        } else {
            TraceOutcome::Fired
        },
        format!(
            "{} {outcome}: {reason}: {subject} ({evidence})",
            action.as_str()
        ),
    ));
    announce(state, cause, types::AUTOPILOT_ACTED, data, out);
}

fn announce(state: &AccountState, cause: &Event, kind: &str, data: Value, out: &mut Decisions) {
    let Ok(kind_type) = EventType::parse(kind) else {
        return;
    };
    let n = out
        .events
        .iter()
        .filter(|e| e.kind.as_str() == kind)
        .count()
        .to_string();
    out.events.push(NewEvent {
        key: derived_event_key(cause.at, &[&cause.key, kind, &n]),
        kind: kind_type,
        account: state.id.clone(),
        at: cause.at,
        data,
    });
}

fn note(state: &AccountState, event: &Event, outcome: TraceOutcome, reason: String) -> Trace {
    Trace {
        account: state.id.clone(),
        rule: TRACE_RULE.to_owned(),
        event: event.key.clone(),
        at: event.at,
        outcome,
        reason,
    }
}

/// One of autopilot's own rules, e.g. `autopilot/remind`: no condition, no limit on
/// re-entry (autopilot decides when), the program's budget.
fn own_rule(name: &str, actions: Vec<Action>) -> Rule {
    Rule {
        name: format!("{TRACE_RULE}/{name}"),
        description: String::new(),
        trigger: Trigger::On {
            event: EventType::parse(types::TIMER_FIRED).unwrap_or_else(|_| unreachable!()),
        },
        when: None,
        urgent: false,
        reentry: Reentry::AtMost(u32::MAX),
        actions,
    }
}

fn text(event: &Event, field: &str) -> String {
    event
        .data
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A date as `2026-12-01`.
fn day(at: Timestamp) -> String {
    at.to_rfc3339().chars().take(10).collect()
}

fn ignored_evidence(
    state: &AccountState,
    watch: &TaskWatch,
    title: &str,
    due_at: Option<Timestamp>,
    assignee: &str,
) -> String {
    let who = state
        .people
        .iter()
        .filter(|p| p.email == assignee || p.persona.as_deref() == Some(assignee))
        .map(|p| format!("{} <{}>", p.name, p.email))
        .collect::<Vec<_>>();
    let who = if who.is_empty() {
        "the account's people".to_owned()
    } else {
        who.join(", ")
    };
    let sent = watch
        .reminders
        .iter()
        .map(|t| day(*t))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "“{title}” (open since {}{}) is still not done after {} reminder{} to {who} (sent {sent})",
        day(watch.unlocked_at),
        due_at
            .map(|d| format!(", due {}", day(d)))
            .unwrap_or_default(),
        watch.reminders.len(),
        if watch.reminders.len() == 1 { "" } else { "s" },
    )
}

fn goal_evidence(event: &Event) -> String {
    let number = |field: &str| event.data.get(field).and_then(Value::as_f64);
    let fmt = |v: f64| {
        if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.2}")
        }
    };
    let mut evidence = format!("goal “{}” is at risk", text(event, "title"));
    if let (Some(value), Some(target)) = (number("value"), number("target")) {
        evidence.push_str(&format!(": {} of {} now", fmt(value), fmt(target)));
    }
    if let Some(forecast) = number("forecast") {
        evidence.push_str(&format!(", heading for {}", fmt(forecast)));
    }
    if let Some(deadline) = event.data.get("deadline_at").and_then(Value::as_i64) {
        evidence.push_str(&format!(" by {}", day(Timestamp(deadline))));
    }
    evidence
}

fn comment_case(
    state: &AccountState,
    event: &Event,
    signal: &Signal,
    keyword: &str,
    said: &str,
) -> Case {
    let author = text(event, "author").to_lowercase();
    let who = state
        .people
        .iter()
        .find(|p| p.email == author)
        .map(|p| format!("{} <{}>", p.name, p.email))
        .unwrap_or_else(|| {
            if author.is_empty() {
                "someone".to_owned()
            } else {
                author.clone()
            }
        });
    let project = text(event, "project");
    let task = text(event, "task");
    let place = state
        .project(&project)
        .and_then(|p| p.tasks.iter().find(|t| t.key == task))
        .map(|t| format!(" on “{}”", t.title))
        .unwrap_or_default();
    let excerpt: String = said.chars().take(300).collect();
    Case {
        reason: format!("{COMMENT}:{}", signal.name),
        // One case per person and signal: their next such comment updates the open task.
        key: if author.is_empty() {
            event.key.clone()
        } else {
            author.clone()
        },
        subject: format!("a comment by {who}{place}"),
        evidence: format!("{who} wrote{place}: “{excerpt}” (matched “{keyword}”)"),
    }
}
