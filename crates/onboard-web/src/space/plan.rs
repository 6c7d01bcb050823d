//! What the Space page shows, computed from the signed-in person's account state at the
//! engine's time (never the wall clock): each launched project's visible tasks, the person's
//! own open tasks, the goals with their progress, and the latest completions and comments.
//! Pure: no I/O; the handlers in `mod.rs` read the state and render the result.

use super::Stakeholder;
use crate::academy::markdown::module_html;
use onboard_core::event::types;
use onboard_core::program::GoalMetric;
use onboard_core::state::{
    AccountState, Booking, Comment, GoalState, GoalStatus, Project, ProjectStatus, ProjectTask,
    TaskStatus,
};
use onboard_core::{Event, Timestamp};
use serde_json::{json, Value};

/// How many items the activity feed shows.
const N_ACTIVITY: usize = 10;

/// What the last form said, shown on the page it answers with.
#[derive(Default)]
pub(super) struct Said {
    /// A refusal, shown at the top.
    pub error: Option<String>,
    /// A comment refused, shown in its task's form with the reason next to the field.
    pub draft: Option<Draft>,
    /// What went well, shown at the top.
    pub notice: Option<String>,
    /// An invitation refused, shown in its form with the reasons next to the fields.
    pub invite: Option<InviteDraft>,
    /// An upload refused, shown next to the file field.
    pub upload_error: Option<String>,
    /// A booking refused, shown in the kickoff section.
    pub booking_error: Option<String>,
}

/// The invitation form as sent, with what is wrong with each field.
#[derive(Default)]
pub(super) struct InviteDraft {
    pub name: String,
    pub email: String,
    pub name_error: Option<String>,
    pub email_error: Option<String>,
}

pub(super) struct Draft {
    pub project: String,
    pub task: String,
    pub text: String,
    pub error: String,
}

/// The account's state with the task completions, comments and kickoff bookings already
/// logged but not yet
/// processed (`pending`, in log order) applied as the processor will apply them, so a
/// change shows as soon as its form was sent and is not offered twice.
pub(super) fn apply_pending(account: &mut AccountState, pending: &[Event]) {
    for event in pending {
        let field = |name: &str| event.data.get(name).and_then(Value::as_str);
        let (Some(project), Some(key)) = (field("project"), field("task")) else {
            continue;
        };
        let Some(project) = account.projects.iter_mut().find(|p| p.id == project) else {
            continue;
        };
        let active = project.status == ProjectStatus::Active;
        let Some(task) = project.tasks.iter_mut().find(|t| t.key == key) else {
            continue;
        };
        match event.kind.as_str() {
            types::TASK_COMPLETED if active && task.status != TaskStatus::Done => {
                task.status = TaskStatus::Done;
                task.completed_at = Some(event.at);
                task.completed_by = field("by").map(str::to_lowercase);
            }
            types::KICKOFF_BOOKED if active && task.status != TaskStatus::Done => {
                let time = |name: &str| field(name).and_then(|t| Timestamp::parse_rfc3339(t).ok());
                if let (Some(start), Some(end)) = (time("start"), time("end")) {
                    let previous = task.booking.take();
                    task.booking = Some(Booking {
                        start,
                        end,
                        by: field("by").unwrap_or_default().to_lowercase(),
                        booked_at: event.at,
                        uid: previous.as_ref().map(|b| b.uid.clone()).unwrap_or_default(),
                        sequence: previous.map_or(0, |b| b.sequence + 1),
                    });
                }
            }
            types::COMMENT_POSTED => {
                if let Some(text) = field("text") {
                    let comment = Comment {
                        at: event.at,
                        author: field("author").unwrap_or_default().to_owned(),
                        text: text.to_owned(),
                    };
                    if !task.comments.contains(&comment) {
                        task.comments.push(comment);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Whether the customer sees a task: not while it is snoozed (its unlock time is still to
/// come, or the processor has not unlocked it yet); a done task always.
pub(super) fn visible(task: &ProjectTask, now: Timestamp) -> bool {
    task.status == TaskStatus::Done
        || (task.status != TaskStatus::Snoozed && task.unlock_at.is_some_and(|at| at <= now))
}

/// Whether the task is one for this person: a customer task assigned to their email or
/// their persona.
fn is_mine(task: &ProjectTask, who: &Stakeholder) -> bool {
    task.owner == "customer"
        && (task.assignee.eq_ignore_ascii_case(&who.email)
            || who.persona.as_deref() == Some(task.assignee.as_str()))
}

/// The page's context.
pub(super) fn context(who: &Stakeholder, now: Timestamp, csrf: &str, said: Said) -> Value {
    let account = &who.account;
    let launched: Vec<&Project> = account
        .projects
        .iter()
        .filter(|p| p.status != ProjectStatus::Draft)
        .collect();

    let mut mine: Vec<(&Project, usize, &ProjectTask)> = Vec::new();
    let mut projects = Vec::new();
    for (pi, project) in launched.iter().enumerate() {
        let mut tasks = Vec::new();
        for task in project.tasks.iter().filter(|t| visible(t, now)) {
            let ti = tasks.len();
            if task.status != TaskStatus::Done && is_mine(task, who) {
                mine.push((project, pi, task));
            }
            tasks.push(task_context(who, project, pi, ti, task, now, &said));
        }
        projects.push(json!({
            "id": project.id,
            "title": project.title,
            "status_words": match project.status {
                ProjectStatus::Completed => "Completed",
                _ => "In progress",
            },
            "due": project.due_at.map(|t| when(t, false)),
            "tasks": tasks,
        }));
    }
    // Soonest due first; tasks without a due date last, in plan order.
    mine.sort_by_key(|(_, _, task)| (task.due_at.is_none(), task.due_at));
    let mine: Vec<Value> = mine
        .into_iter()
        .map(|(project, pi, task)| {
            let ti = project
                .tasks
                .iter()
                .filter(|t| visible(t, now))
                .position(|t| t.key == task.key)
                .unwrap_or_default();
            json!({
                "project": project.id,
                "project_title": project.title,
                "key": task.key,
                "title": task.title,
                "anchor": anchor(pi, ti),
                "status": task.status.as_str(),
                "status_words": status_words(task.status),
                "due": task.due_at.map(|t| when(t, false)),
                "overdue": is_overdue(task, now),
            })
        })
        .collect();

    let goals: Vec<Value> = onboard_core::decide::goals_as_of(&who.program, account, now)
        .iter()
        .map(|g| goal(who, g))
        .collect();

    json!({
        "program": who.program.name,
        "signed_in": true,
        "session_csrf": csrf,
        "account": account.name,
        "person": { "name": who.name, "persona": who.persona.as_deref().map(words) },
        "now": when(now, true),
        "csrf": csrf,
        "error": said.error,
        "notice": said.notice,
        "invite": said.invite.as_ref().map(|i| json!({
            "name": i.name,
            "email": i.email,
            "name_error": i.name_error,
            "email_error": i.email_error,
        })),
        "upload_error": said.upload_error,
        "booking_error": said.booking_error,
        "kickoff": who.kickoff.as_ref().map(|k| json!({
            "title": k.title,
            "csm": k.csm_name,
            "path": format!(
                "/space/projects/{}/tasks/{}/book",
                path_segment(&k.project),
                path_segment(&k.task)
            ),
            "booked": k.booking.as_ref().map(|b| json!({
                "start": when(b.start, true),
                "minutes": (b.end.millis() - b.start.millis()) / 60_000,
            })),
            "slots": k.slots.iter().map(|s| json!({
                "start": s.start.to_rfc3339(),
                "words": when(s.start, true)["words"],
            })).collect::<Vec<_>>(),
        })),
        "files": who.files.iter().map(|f| json!({
            "id": f.id,
            "name": f.name,
            "href": format!("/space/files/{}", path_segment(&f.id)),
            "size": super::files::size_words(f.size),
            "who": person_words(who, &f.uploaded_by),
            "when": when(f.uploaded_at, true),
        })).collect::<Vec<_>>(),
        "mine": mine,
        "goals": goals,
        "projects": projects,
        "activity": activity(who, &launched, now),
        "usage": usage(who, now),
    })
}

/// How the team uses the product, in the customer's words: active people against seats over
/// the health window, each key feature's reach, the trend, and the first value moment.
fn usage(who: &Stakeholder, now: Timestamp) -> Value {
    let account = &who.account;
    let health = onboard_core::health::assess(account, &who.program.health, now);
    let percent = |share: f64| (share * 100.0).round() as u32;
    let trend = match health.trend.direction {
        onboard_core::health::Direction::Rising => "Use is rising",
        onboard_core::health::Direction::Steady => "Use is steady",
        onboard_core::health::Direction::Falling => "Use is falling",
        onboard_core::health::Direction::New => "Just getting started",
    };
    json!({
        "used": health.active_users > 0 || account.aha.is_some(),
        "active": health.active_users,
        "seats": health.seats,
        "seat_percent": percent(health.seat_share).min(100),
        "window_days": health.window_days,
        "trend": trend,
        "features": health.features.iter().map(|f| json!({
            "feature": f.feature,
            "users": f.users,
            "percent": percent(f.share),
        })).collect::<Vec<_>>(),
        "aha": account.aha.as_ref().map(|aha| json!({
            "when": when(aha.at, false),
            "event": aha.event,
            "who": aha.email.as_deref().map(|e| person_words(who, e)),
        })),
    })
}

fn task_context(
    who: &Stakeholder,
    project: &Project,
    pi: usize,
    ti: usize,
    task: &ProjectTask,
    now: Timestamp,
    said: &Said,
) -> Value {
    let draft = said
        .draft
        .as_ref()
        .filter(|d| d.project == project.id && d.task == task.key);
    json!({
        "key": task.key,
        "title": task.title,
        "anchor": anchor(pi, ti),
        "path": format!(
            "/space/projects/{}/tasks/{}",
            path_segment(&project.id),
            path_segment(&task.key)
        ),
        "owner": task.owner,
        "owner_words": if task.owner == "customer" { "Your side" } else { "Our side" },
        "assignee_words": assignee_words(task, who),
        "status": task.status.as_str(),
        "status_words": status_words(task.status),
        "due": task.due_at.map(|t| when(t, false)),
        "overdue": is_overdue(task, now),
        "milestone": task.milestone,
        "completed": task.completed_at.map(|t| when(t, true)),
        "completed_by": task.completed_by.as_deref().map(|by| person_words(who, by)),
        "description": (!task.description.trim().is_empty()).then(|| module_html(&task.description)),
        "can_complete": project.status == ProjectStatus::Active
            && task.owner == "customer"
            && task.status == TaskStatus::Open,
        "comments": task.comments.iter().map(|c| json!({
            "author": person_words(who, &c.author),
            "when": when(c.at, true),
            "text": c.text,
        })).collect::<Vec<_>>(),
        "comment_error": draft.map(|d| d.error.clone()),
        "comment_text": draft.map(|d| d.text.clone()).unwrap_or_default(),
    })
}

/// The latest completions and comments on the tasks the customer sees, newest first.
fn activity(who: &Stakeholder, launched: &[&Project], now: Timestamp) -> Vec<Value> {
    let mut items: Vec<(Timestamp, Value)> = Vec::new();
    for project in launched {
        for task in project.tasks.iter().filter(|t| visible(t, now)) {
            if let Some(at) = task.completed_at {
                let who_did = match task.completed_by.as_deref() {
                    Some(by) => person_words(who, by),
                    None if task.owner == "team" => "Our team".to_owned(),
                    None => "Your team".to_owned(),
                };
                items.push((
                    at,
                    json!({ "when": when(at, true), "who": who_did, "what": "completed", "task": task.title }),
                ));
            }
            for comment in &task.comments {
                items.push((
                    comment.at,
                    json!({
                        "when": when(comment.at, true),
                        "who": person_words(who, &comment.author),
                        "what": "commented on",
                        "task": task.title,
                        "text": excerpt(&comment.text),
                    }),
                ));
            }
        }
    }
    // Autopilot's progress posts, from the CSM (or the program's sender).
    if let Some(run) = &who.account.autopilot {
        let from = who
            .account
            .csm
            .as_deref()
            .and_then(|email| who.program.team.iter().find(|m| m.email == email))
            .map_or_else(|| who.program.sender.name.clone(), |m| m.name.clone());
        for post in run.posts.iter().filter(|p| p.at <= now) {
            items.push((
                post.at,
                json!({
                    "when": when(post.at, true),
                    "who": from,
                    "what": "posted",
                    "title": post.title,
                    "text": post.text,
                    "post": true,
                }),
            ));
        }
    }
    for file in &who.files {
        items.push((
            file.uploaded_at,
            json!({
                "when": when(file.uploaded_at, true),
                "who": person_words(who, &file.uploaded_by),
                "what": "uploaded",
                "task": file.name,
            }),
        ));
    }
    items.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    items
        .into_iter()
        .take(N_ACTIVITY)
        .map(|(_, item)| item)
        .collect()
}

fn goal(who: &Stakeholder, goal: &GoalState) -> Value {
    let defined = who.program.goals.iter().find(|g| g.name == goal.name);
    let share = matches!(
        defined.map(|g| &g.metric),
        Some(GoalMetric::SeatShareActive)
    );
    let number = |v: f64| {
        if share {
            format!("{:.0}%", v * 100.0)
        } else if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    let percent = if goal.status == GoalStatus::Achieved {
        100.0
    } else if goal.target > 0.0 {
        (goal.value / goal.target * 100.0).clamp(0.0, 100.0).round()
    } else {
        0.0
    };
    json!({
        "name": goal.name,
        "title": defined.map_or_else(|| words(&goal.name), |g| g.title.clone()),
        "status": goal.status.as_str(),
        "status_words": match goal.status {
            GoalStatus::OnTrack => "On track",
            GoalStatus::AtRisk => "At risk",
            GoalStatus::Achieved => "Achieved",
            GoalStatus::Missed => "Missed",
        },
        "value": number(goal.value),
        "target": number(goal.target),
        "percent": if percent.is_finite() { format!("{percent:.0}") } else { "0".to_owned() },
        "deadline": when(goal.deadline_at, false),
    })
}

fn status_words(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Snoozed => "Not started",
        TaskStatus::Waiting => "Waiting on an earlier step",
        TaskStatus::Open => "To do",
        TaskStatus::Done => "Done",
    }
}

fn is_overdue(task: &ProjectTask, now: Timestamp) -> bool {
    task.status != TaskStatus::Done && (task.overdue || task.due_at.is_some_and(|due| due < now))
}

/// Who a task is for, in words: "You", a person's name, "Your admin", the CSM's name.
fn assignee_words(task: &ProjectTask, who: &Stakeholder) -> String {
    let assignee = task.assignee.as_str();
    if assignee.contains('@') {
        return person_words(who, assignee);
    }
    if task.owner == "team" {
        return match (assignee, who.account.csm.as_deref()) {
            ("csm", Some(csm)) => person_words(who, csm),
            ("csm", None) => "Your customer success manager".to_owned(),
            (role, _) => format!("Our {}", words(role)),
        };
    }
    if who.persona.as_deref() == Some(assignee) {
        format!("Your {} (you)", words(assignee))
    } else {
        format!("Your {}", words(assignee))
    }
}

/// Someone by name: one of the account's people, or of our team (the account's CSM said
/// as such); anyone else as given.
fn person_words(who: &Stakeholder, email_or_name: &str) -> String {
    let same = |email: &str| email.eq_ignore_ascii_case(email_or_name);
    if let Some(person) = who.account.people.iter().find(|p| same(&p.email)) {
        return person.name.clone();
    }
    let member = who.program.team.iter().find(|m| same(&m.email));
    if who.account.csm.as_deref().is_some_and(same) {
        return match member {
            Some(member) => format!("{}, your customer success manager", member.name),
            None => "Your customer success manager".to_owned(),
        };
    }
    match member {
        Some(member) => member.name.clone(),
        None => email_or_name.to_owned(),
    }
}

/// `end_user` as "end user".
fn words(name: &str) -> String {
    name.replace(['_', '-'], " ")
}

fn excerpt(text: &str) -> String {
    const MAX: usize = 140;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(MAX - 1).collect();
        short.push('…');
        short
    }
}

fn anchor(project: usize, task: usize) -> String {
    format!("task-{}-{}", project + 1, task + 1)
}

/// A time for the page: machine-readable (`at`, RFC 3339) and in words, UTC.
fn when(t: Timestamp, with_time: bool) -> Value {
    let format = if with_time {
        "%a %-d %b %Y, %H:%M UTC"
    } else {
        "%a %-d %b %Y"
    };
    let words = jiff::Timestamp::from_millisecond(t.millis())
        .map(|ts| ts.strftime(format).to_string())
        .unwrap_or_else(|_| t.to_rfc3339());
    json!({ "at": t.to_rfc3339(), "words": words })
}

/// A path segment with everything but unreserved characters percent-encoded.
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(path_segment("a/b c?"), "a%2Fb%20c%3F");
    }

    #[test]
    fn long_comments_are_shortened_in_the_feed() {
        assert_eq!(excerpt("short"), "short");
        let long = "x".repeat(300);
        assert_eq!(excerpt(&long).chars().count(), 140);
    }
}
