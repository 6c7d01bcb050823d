//! The lifecycle of projects and their tasks, and of team tasks. A project is created from a
//! template (by a rule's `launch` action, by `project.launch_requested` from the API, or by
//! the `next` of a completed project), as a draft or launched at once. Launching dates its
//! tasks, opens those that are neither snoozed nor waiting for another, and sets durable
//! timers (unlock, due soon, overdue, overdue reminder) whose rule names start with
//! [`TIMER_PREFIX`]; a fired timer re-checks the task first. Changes to tasks come in as
//! events from the API. Everything here is announced as derived events for the program's
//! rules; nothing is sent directly. The caller runs this for active accounts only, so a
//! churned or paused account gets no project news.

use super::apply::text;
use super::{derived_event_key, derived_id, derived_id_at};
use crate::event::{types, Event, EventType, NewEvent};
use crate::program::{Completion, Program, Side, Template};
use crate::state::{
    AccountState, Comment, Decisions, NewTimer, Project, ProjectStatus, ProjectTask, TaskStatus,
    TeamTask, TeamTaskStatus, Trace, TraceOutcome,
};
use crate::time::{Duration, Timestamp};
use serde_json::{json, Value};

/// The rule names of project timers start with this: `project/<project>/<task>/<what>`.
/// Program rule names cannot hold a `/`, so these never clash with a rule.
pub const TIMER_PREFIX: &str = "project/";

/// The title of the CSM's task when a project completes.
pub const REVIEW_TITLE: &str = "Review the onboarding outcome";

const UNLOCK: &str = "unlock";
pub(super) const DUE_SOON: &str = "due-soon";
pub(super) const OVERDUE: &str = "overdue";
pub(super) const OVERDUE_REMINDER: &str = "overdue-reminder";

/// The id of the project a `project.launch_requested` event creates, so the API can answer
/// with it before the event is processed.
pub fn requested_project_id(account: &str, event_key: &str) -> String {
    derived_id("prj", &[account, event_key])
}

/// Applies a project or task event from the API (other events are left alone).
pub(super) fn on_event(
    program: &Program,
    state: &mut AccountState,
    event: &Event,
    out: &mut Decisions,
) {
    let data = &event.data;
    match event.kind.as_str() {
        types::PROJECT_LAUNCH_REQUESTED => {
            let name = text(data, "template").unwrap_or_default();
            let Some(template) = program.template(&name) else {
                return skip(state, event, "", format!("no template `{name}`"), out);
            };
            let draft = data
                .get("draft")
                .and_then(Value::as_bool)
                .unwrap_or(template.draft);
            let id = requested_project_id(&state.id, &event.key);
            create(state, template, &id, draft, event, out);
        }
        types::PROJECT_LAUNCH => {
            let Some(index) = project_index(state, event, out) else {
                return;
            };
            if state.projects[index].status != ProjectStatus::Draft {
                let reason = "the project is not a draft: nothing to launch".to_owned();
                let id = state.projects[index].id.clone();
                return skip(state, event, &id, reason, out);
            }
            activate(state, index, event, out);
        }
        types::PROJECT_COMPLETE => {
            let Some(index) = project_index(state, event, out) else {
                return;
            };
            if state.projects[index].status != ProjectStatus::Active {
                let reason = "the project is not active: nothing to complete".to_owned();
                let id = state.projects[index].id.clone();
                return skip(state, event, &id, reason, out);
            }
            complete(program, state, index, event, out);
        }
        types::TASK_COMPLETED
        | types::TASK_REOPENED
        | types::TASK_REASSIGNED
        | types::COMMENT_POSTED => {
            on_task_event(program, state, event, out);
            if event.kind.as_str() == types::COMMENT_POSTED {
                mentions(state, event, out);
            }
        }
        types::KICKOFF_BOOKED => super::booking::on_booked(program, state, event, out),
        types::TEAM_TASK_COMPLETED => {
            let id = text(data, "task").unwrap_or_default();
            if let Some(task) = state.team_tasks.iter_mut().find(|t| t.id == id) {
                task.status = TeamTaskStatus::Done;
                task.updated_at = event.at;
            }
        }
        _ => {}
    }
}

fn on_task_event(program: &Program, state: &mut AccountState, event: &Event, out: &mut Decisions) {
    let Some(index) = project_index(state, event, out) else {
        return;
    };
    let project_id = state.projects[index].id.clone();
    let key = text(&event.data, "task").unwrap_or_default();
    let Some(task_index) = state.projects[index]
        .tasks
        .iter()
        .position(|t| t.key == key)
    else {
        return skip(state, event, &project_id, format!("no task `{key}`"), out);
    };
    let at = event.at;
    let data = &event.data;
    let project = &mut state.projects[index];
    let task = &mut project.tasks[task_index];
    match event.kind.as_str() {
        types::TASK_REASSIGNED => {
            if let Some(assignee) = text(data, "assignee") {
                task.assignee = assignee;
            }
        }
        types::COMMENT_POSTED => {
            if let Some(comment) = text(data, "text") {
                task.comments.push(Comment {
                    at,
                    author: text(data, "author").unwrap_or_default(),
                    text: comment,
                });
            }
        }
        types::TASK_COMPLETED => {
            if project.status != ProjectStatus::Active || task.status == TaskStatus::Done {
                let reason = format!(
                    "task `{key}` is {} in a {} project: nothing to complete",
                    task.status.as_str(),
                    project.status.as_str()
                );
                return skip(state, event, &project_id, reason, out);
            }
            task.status = TaskStatus::Done;
            task.completed_at = Some(at);
            task.completed_by = text(data, "by").map(|b| b.to_lowercase());
            if task.milestone {
                out.events.push(derived(
                    state,
                    event,
                    types::MILESTONE_REACHED,
                    &project_id,
                    &key,
                    json!({ "project": project_id, "task": key }),
                ));
            }
            refresh(state, index, event, out);
            if is_complete(&state.projects[index]) {
                complete(program, state, index, event, out);
            }
        }
        types::TASK_REOPENED => {
            if project.status != ProjectStatus::Active || task.status != TaskStatus::Done {
                let reason = format!("task `{key}` is not done in an active project");
                return skip(state, event, &project_id, reason, out);
            }
            task.status = TaskStatus::Snoozed;
            task.completed_at = None;
            task.completed_by = None;
            refresh(state, index, event, out);
        }
        _ => {}
    }
}

/// A rule's `launch` action: a project from `template`, launched unless it is a draft.
pub(super) fn launch(
    program: &Program,
    state: &mut AccountState,
    template: &str,
    draft: bool,
    id: &str,
    cause: &Event,
    out: &mut Decisions,
) {
    if let Some(template) = program.template(template) {
        create(state, template, id, draft || template.draft, cause, out);
    }
}

/// Creates a project from a template as a draft, then launches it unless `draft`.
fn create(
    state: &mut AccountState,
    template: &Template,
    id: &str,
    draft: bool,
    cause: &Event,
    out: &mut Decisions,
) {
    if state.project(id).is_some() {
        return;
    }
    state.projects.push(Project {
        id: id.to_owned(),
        template: template.name.clone(),
        title: template.title.clone(),
        status: ProjectStatus::Draft,
        created_at: cause.at,
        launched_at: None,
        completed_at: None,
        due_at: None,
        due_days: template.due_days,
        program_version: state.program_version.clone(),
        completion: match template.completion {
            Completion::FinalTask => "final_task",
            Completion::AllTasks => "all_tasks",
            Completion::Manual => "manual",
        }
        .to_owned(),
        next: template.next.clone(),
        cause: cause.key.clone(),
        tasks: template
            .tasks
            .iter()
            .map(|t| ProjectTask {
                key: t.key.clone(),
                title: t.title.clone(),
                description: t.description.clone(),
                owner: side(t.owner).to_owned(),
                assignee: t.assignee.clone(),
                status: TaskStatus::Snoozed,
                snooze_days: t.snooze_days,
                due_days: t.due_days,
                depends_on: t.depends_on.clone(),
                unlock_at: None,
                due_at: None,
                completed_at: None,
                completed_by: None,
                overdue: false,
                milestone: t.milestone,
                comments: Vec::new(),
                kickoff: t.kickoff.clone(),
                booking: None,
            })
            .collect(),
    });
    if !draft {
        let index = state.projects.len() - 1;
        activate(state, index, cause, out);
    }
}

/// Launches a project: dates its tasks, sets their timers, announces the launch, and opens
/// the tasks that can be worked on now.
fn activate(state: &mut AccountState, index: usize, cause: &Event, out: &mut Decisions) {
    let at = cause.at;
    let account = state.id.clone();
    let version = state.program_version.clone();
    let project = &mut state.projects[index];
    project.status = ProjectStatus::Active;
    project.launched_at = Some(at);
    let days = |n: u32| Duration(i64::from(n) * Duration::DAY.millis());
    project.due_at = project.due_days.map(|d| at.plus(days(d)));
    for task in &mut project.tasks {
        let unlock_at = at.plus(days(task.snooze_days));
        task.unlock_at = Some(unlock_at);
        task.due_at = task.due_days.map(|d| at.plus(days(d)));
        let mut timer = |what: &str, due_at: Timestamp| {
            out.timers.push(NewTimer {
                id: derived_id_at("tmr", due_at, &[&account, &project.id, &task.key, what]),
                account: account.clone(),
                rule: format!("{TIMER_PREFIX}{}/{}/{what}", project.id, task.key),
                due_at,
                since_at: at,
                program_version: version.clone(),
            });
        };
        if task.snooze_days > 0 {
            timer(UNLOCK, unlock_at);
        }
        if let Some(due_at) = task.due_at {
            let soon = Timestamp(due_at.millis() - Duration::DAY.millis());
            if soon > at {
                timer(DUE_SOON, soon);
            }
            timer(OVERDUE, due_at);
            timer(OVERDUE_REMINDER, due_at.plus(Duration::DAY));
        }
    }
    let (id, template) = (project.id.clone(), project.template.clone());
    out.events.push(derived(
        state,
        cause,
        types::PROJECT_LAUNCHED,
        &id,
        "",
        json!({ "project": id, "template": template }),
    ));
    refresh(state, index, cause, out);
}

/// Recomputes the status of every task not done at the cause's time: snoozed until its
/// unlock time, then waiting while a dependency is not done, then open. A task that opens
/// is announced with `task.unlocked`.
fn refresh(state: &mut AccountState, index: usize, cause: &Event, out: &mut Decisions) {
    let at = cause.at;
    let project = &state.projects[index];
    if project.status != ProjectStatus::Active {
        return;
    }
    let done: Vec<&str> = project
        .tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Done)
        .map(|t| t.key.as_str())
        .collect();
    let statuses: Vec<TaskStatus> = project
        .tasks
        .iter()
        .map(|task| {
            if task.status == TaskStatus::Done {
                TaskStatus::Done
            } else if task.unlock_at.is_none_or(|u| at < u) {
                TaskStatus::Snoozed
            } else if task.depends_on.iter().any(|d| !done.contains(&d.as_str())) {
                TaskStatus::Waiting
            } else {
                TaskStatus::Open
            }
        })
        .collect();
    // Most refreshes change nothing: the projects are copied only for one that does.
    if project
        .tasks
        .iter()
        .zip(&statuses)
        .all(|(task, status)| task.status == *status)
    {
        return;
    }
    let mut unlocked = Vec::new();
    let project = &mut state.projects[index];
    for (task, status) in project.tasks.iter_mut().zip(statuses) {
        if status == TaskStatus::Open && task.status != TaskStatus::Open {
            unlocked.push(json!({
                "project": project.id,
                "task": task.key,
                "assignee": task.assignee,
                "owner": task.owner,
            }));
        }
        task.status = status;
    }
    let id = project.id.clone();
    for data in unlocked {
        let key = data["task"].as_str().unwrap_or_default().to_owned();
        out.events
            .push(derived(state, cause, types::TASK_UNLOCKED, &id, &key, data));
    }
}

/// Whether the project's completion rule says it is done.
fn is_complete(project: &Project) -> bool {
    match project.completion.as_str() {
        "final_task" => project
            .tasks
            .last()
            .is_some_and(|t| t.status == TaskStatus::Done),
        "all_tasks" => project.tasks.iter().all(|t| t.status == TaskStatus::Done),
        _ => false,
    }
}

/// Completes a project: announces it, asks the CSM to review the outcome, and launches the
/// next template at once.
fn complete(
    program: &Program,
    state: &mut AccountState,
    index: usize,
    cause: &Event,
    out: &mut Decisions,
) {
    let project = &mut state.projects[index];
    project.status = ProjectStatus::Completed;
    project.completed_at = Some(cause.at);
    let (id, template, next) = (
        project.id.clone(),
        project.template.clone(),
        project.next.clone(),
    );
    out.events.push(derived(
        state,
        cause,
        types::PROJECT_COMPLETED,
        &id,
        "",
        json!({ "project": id, "template": template, "next": next }),
    ));
    let identity = format!("{}/{id}/review", state.id);
    open_team_task(
        program,
        state,
        &identity,
        REVIEW_TITLE,
        &format!("project `{template}` completed"),
        "csm",
        &format!("{TIMER_PREFIX}{id}"),
        cause,
    );
    if let Some(next) = next.as_deref().and_then(|n| program.template(n)) {
        let next_id = derived_id("prj", &[&state.id, &id, "next"]);
        create(state, next, &next_id, next.draft, cause, out);
    }
}

/// Opens a team task, or, when one with the same identity is open, counts the firing on it.
#[allow(clippy::too_many_arguments)]
pub(super) fn open_team_task(
    program: &Program,
    state: &mut AccountState,
    identity: &str,
    title: &str,
    reason: &str,
    role: &str,
    rule: &str,
    cause: &Event,
) {
    if let Some(open) = state
        .team_tasks
        .iter_mut()
        .find(|t| t.identity == identity && t.status == TeamTaskStatus::Open)
    {
        open.n_firings += 1;
        open.updated_at = open.updated_at.max(cause.at);
        open.title = title.to_owned();
        open.rule = rule.to_owned();
        open.event = cause.key.clone();
        return;
    }
    let assignee_email = match role {
        "csm" => state.csm.clone(),
        _ => program
            .team
            .iter()
            .find(|m| m.role == role)
            .map(|m| m.email.clone()),
    };
    state.team_tasks.push(TeamTask {
        id: derived_id("ttk", &[identity, &cause.key]),
        identity: identity.to_owned(),
        title: title.to_owned(),
        reason: reason.to_owned(),
        assignee_role: role.to_owned(),
        assignee_email,
        status: TeamTaskStatus::Open,
        created_at: cause.at,
        updated_at: cause.at,
        n_firings: 1,
        rule: rule.to_owned(),
        event: cause.key.clone(),
    });
}

/// A fired project timer: re-checks its task against the state now, then announces what
/// is still true (a task done meanwhile gets nothing).
pub(super) fn fire_timer(state: &mut AccountState, event: &Event, out: &mut Decisions) {
    let rule = event
        .data
        .get("rule")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut parts = rule.trim_start_matches(TIMER_PREFIX).splitn(3, '/');
    let (Some(project_id), Some(key), Some(what)) = (parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    let Some(index) = state.projects.iter().position(|p| p.id == project_id) else {
        return;
    };
    // Read first: the projects are copied (while the store holds them) only when written.
    let project = &state.projects[index];
    if project.status != ProjectStatus::Active {
        return;
    }
    let Some(position) = project.tasks.iter().position(|t| t.key == key) else {
        return;
    };
    if what == UNLOCK {
        return refresh(state, index, event, out);
    }
    if project.tasks[position].status == TaskStatus::Done {
        return;
    }
    let kind = match what {
        DUE_SOON => types::TASK_DUE_SOON,
        OVERDUE => types::TASK_OVERDUE,
        OVERDUE_REMINDER => types::TASK_OVERDUE_REMINDER,
        _ => return,
    };
    if what == OVERDUE && !project.tasks[position].overdue {
        state.projects[index].tasks[position].overdue = true;
    }
    let project = &state.projects[index];
    let task = &project.tasks[position];
    let mut data = json!({
        "project": project.id,
        "task": task.key,
        "assignee": task.assignee,
        "owner": task.owner,
        "due_at": task.due_at.map(Timestamp::millis),
        // `open`, or `waiting`/`snoozed` for a task its person cannot act on yet (a task it
        // depends on is not done): rules that write to the customer check it.
        "status": task.status.as_str(),
    });
    if task.kickoff.is_some() {
        // Rules can tell a kickoff call (`when = "event.data.kickoff"`); its messages get
        // the brief.
        data["kickoff"] = json!(true);
    }
    let (id, key) = (project.id.clone(), task.key.clone());
    out.events
        .push(derived(state, event, kind, &id, &key, data));
}

/// The project an event names in `data.project`, or a trace saying there is none.
fn project_index(state: &AccountState, event: &Event, out: &mut Decisions) -> Option<usize> {
    let id = text(&event.data, "project").unwrap_or_default();
    let index = state.projects.iter().position(|p| p.id == id);
    if index.is_none() {
        skip(state, event, &id, format!("no project `{id}`"), out);
    }
    index
}

/// Says in a trace why a project event changed nothing.
pub(super) fn skip(
    state: &AccountState,
    event: &Event,
    project: &str,
    reason: String,
    out: &mut Decisions,
) {
    out.traces.push(Trace {
        account: state.id.clone(),
        rule: format!("{TIMER_PREFIX}{project}"),
        event: event.key.clone(),
        at: event.at,
        outcome: TraceOutcome::Skipped,
        reason: format!("`{}`: {reason}", event.kind),
    });
}

/// A derived event of the lifecycle, keyed by its cause, type, project and task.
fn derived(
    state: &AccountState,
    cause: &Event,
    kind: &str,
    project: &str,
    task: &str,
    data: Value,
) -> NewEvent {
    NewEvent {
        key: derived_event_key(cause.at, &[&cause.key, kind, project, task]),
        kind: EventType::parse(kind).unwrap_or_else(|_| unreachable!()),
        account: state.id.clone(),
        at: cause.at,
        data,
    }
}

/// Announces `person.mentioned` for each person of the account a comment on a task names:
/// `@` and their email, or `@` and their first name when no one else at the account has it
/// (not the author, each person once).
fn mentions(state: &AccountState, event: &Event, out: &mut Decisions) {
    let data = &event.data;
    let (Some(project), Some(task), Some(comment)) = (
        text(data, "project"),
        text(data, "task"),
        text(data, "text"),
    ) else {
        return;
    };
    let known = state
        .project(&project)
        .is_some_and(|p| p.tasks.iter().any(|t| t.key == task));
    if !known {
        return;
    }
    let author = text(data, "author").unwrap_or_default().to_lowercase();
    let first_name = |name: &str| {
        name.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_lowercase()
    };
    let mut named: Vec<&str> = Vec::new();
    for word in comment.split_whitespace() {
        let Some(handle) = word.strip_prefix('@') else {
            continue;
        };
        let handle = handle
            .trim_end_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase();
        if handle.is_empty() {
            continue;
        }
        let by_email = state.people.iter().find(|p| p.email == handle);
        let by_name: Vec<_> = state
            .people
            .iter()
            .filter(|p| first_name(&p.name) == handle)
            .collect();
        let person = match (by_email, by_name.as_slice()) {
            (Some(person), _) | (None, &[person]) => person,
            _ => continue,
        };
        if person.email != author && !named.contains(&person.email.as_str()) {
            named.push(&person.email);
        }
    }
    let Ok(kind) = EventType::parse(types::PERSON_MENTIONED) else {
        return;
    };
    for email in named {
        out.events.push(NewEvent {
            key: derived_event_key(event.at, &[&event.key, types::PERSON_MENTIONED, email]),
            kind: kind.clone(),
            account: state.id.clone(),
            at: event.at,
            data: json!({
                "email": email,
                "author": author,
                "project": project,
                "task": task,
                "text": comment,
            }),
        });
    }
}

fn side(side: Side) -> &'static str {
    match side {
        Side::Team => "team",
        Side::Customer => "customer",
    }
}
