//! The kickoff brief: before a kickoff call (a project task whose template marks it with
//! `kickoff = { prerequisites, attendees }`), what each attendee did in the Academy and in
//! the product, so the call starts at strategy rather than basics.
//!
//! [`kickoff_brief`] computes it from an account's state alone, at a given time: per
//! attendee, the prerequisite modules of their journey and when each was completed, their
//! Academy sign-in, and what they did in the product since their first prerequisite
//! completion (or since enrolment when they completed none): Aha, micro-milestones, the
//! health model's key features, last use. Then a summary (ready, partly, not started) and
//! talking points in plain English, derived deterministically from the same data. The
//! brief is the API's answer and the context of the CSM's email (`brief` in message
//! templates).
//!
//! What does not live here: reading the state (the web crate and the decision function
//! hand it in) and any I/O.

use crate::event::types;
use crate::program::{Kickoff, Program};
use crate::state::{AccountState, Person, ProjectTask};
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;

/// Why there is no brief for a task.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BriefError {
    #[error("no project `{project}` at account `{account}`")]
    NoProject { account: String, project: String },
    #[error("no task `{task}` in project `{project}`")]
    NoTask { project: String, task: String },
    #[error("task `{task}` of project `{project}` is not a kickoff task: its template gives it no `kickoff = {{ prerequisites, attendees }}`")]
    NotKickoff { project: String, task: String },
}

/// Everything the CSM should know before a kickoff call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KickoffBrief {
    /// The account's key and name.
    pub account: String,
    pub account_name: String,
    pub project: String,
    /// The kickoff task's key and title, and when it is due (RFC 3339).
    pub task: String,
    pub title: String,
    pub due_at: Option<String>,
    /// The time the brief describes (RFC 3339).
    pub as_of: String,
    /// The modules the kickoff expects, in the program's order.
    pub prerequisites: Vec<ModuleRef>,
    /// The personas expected (empty: every person of the account).
    pub attendee_personas: Vec<String>,
    /// The people expected at the call, in the account's order.
    pub attendees: Vec<AttendeeBrief>,
    pub summary: BriefSummary,
    /// What to make of it, one sentence each: per attendee, then the whole.
    pub talking_points: Vec<String>,
}

/// A prerequisite module.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModuleRef {
    pub journey: String,
    /// The file stem, e.g. `01-welcome`.
    pub slug: String,
    /// The module's title (its slug when the program no longer has it).
    pub title: String,
}

/// Where an attendee stands with the prerequisites.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    /// Every prerequisite of their journey done (also when their journey has none).
    Ready,
    /// Some done.
    Partly,
    /// None done.
    NotStarted,
}

impl Readiness {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Partly => "partly",
            Self::NotStarted => "not_started",
        }
    }
}

/// One attendee's progress and product use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttendeeBrief {
    pub email: String,
    pub name: String,
    pub persona: Option<String>,
    pub readiness: Readiness,
    /// The prerequisites of the journey they follow (a person completes only their own
    /// journey's modules), each with when it was completed.
    pub modules: Vec<ModuleProgress>,
    pub n_done: usize,
    pub n_total: usize,
    /// Whether they used the Academy: signed in, or completed a module.
    pub signed_in: bool,
    /// Their last Academy sign-in (RFC 3339).
    pub last_sign_in_at: Option<String>,
    /// Product use below counts from here: their first prerequisite completion, else
    /// their enrolment, else the deal (RFC 3339; null: all of it).
    pub since: Option<String>,
    /// Their persona's Aha event, when they reached it (at any time).
    pub aha_at: Option<String>,
    /// Their persona's micro-milestones reached since, in time order.
    pub milestones: Vec<Reached>,
    /// Key features of the health model used since, by last use, most recent first.
    pub features: Vec<Reached>,
    /// Their last use of the product (RFC 3339).
    pub last_product_use_at: Option<String>,
    /// Whether they used the product at all since `since`.
    pub used_product_since: bool,
}

/// A prerequisite and the attendee's completion of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModuleProgress {
    pub journey: String,
    pub slug: String,
    pub title: String,
    pub done: bool,
    pub completed_at: Option<String>,
}

/// Something reached or used, and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reached {
    pub name: String,
    pub at: String,
}

/// The attendees by readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BriefSummary {
    pub n_attendees: usize,
    pub n_ready: usize,
    pub n_partly: usize,
    pub n_not_started: usize,
}

/// The brief for task `task` of project `project` of the account, as of `now`.
pub fn kickoff_brief(
    program: &Program,
    state: &AccountState,
    project: &str,
    task: &str,
    now: Timestamp,
) -> Result<KickoffBrief, BriefError> {
    let found = state
        .project(project)
        .ok_or_else(|| BriefError::NoProject {
            account: state.id.clone(),
            project: project.to_owned(),
        })?;
    let item = found
        .tasks
        .iter()
        .find(|t| t.key == task)
        .ok_or_else(|| BriefError::NoTask {
            project: project.to_owned(),
            task: task.to_owned(),
        })?;
    let kickoff = item
        .kickoff
        .as_ref()
        .ok_or_else(|| BriefError::NotKickoff {
            project: project.to_owned(),
            task: task.to_owned(),
        })?;
    Ok(brief(program, state, &found.id, item, kickoff, now))
}

fn brief(
    program: &Program,
    state: &AccountState,
    project: &str,
    task: &ProjectTask,
    kickoff: &Kickoff,
    now: Timestamp,
) -> KickoffBrief {
    let prerequisites: Vec<ModuleRef> = kickoff
        .prerequisites
        .iter()
        .map(|p| ModuleRef {
            journey: p.journey.clone(),
            slug: p.slug.clone(),
            title: program
                .journey(&p.journey)
                .and_then(|j| j.module(&p.slug))
                .map_or_else(|| p.slug.clone(), |m| m.title.clone()),
        })
        .collect();
    let attendees: Vec<AttendeeBrief> = state
        .people
        .iter()
        .filter(|p| {
            kickoff.attendees.is_empty()
                || p.persona
                    .as_ref()
                    .is_some_and(|persona| kickoff.attendees.contains(persona))
        })
        .map(|person| attendee(state, person, &prerequisites))
        .collect();
    let count = |r: Readiness| attendees.iter().filter(|a| a.readiness == r).count();
    let summary = BriefSummary {
        n_attendees: attendees.len(),
        n_ready: count(Readiness::Ready),
        n_partly: count(Readiness::Partly),
        n_not_started: count(Readiness::NotStarted),
    };
    let talking_points = talking_points(program, &attendees, &summary);
    KickoffBrief {
        account: state.id.clone(),
        account_name: state.name.clone(),
        project: project.to_owned(),
        task: task.key.clone(),
        title: task.title.clone(),
        due_at: task.due_at.map(Timestamp::to_rfc3339),
        as_of: now.to_rfc3339(),
        prerequisites,
        attendee_personas: kickoff.attendees.clone(),
        attendees,
        summary,
        talking_points,
    }
}

fn attendee(state: &AccountState, person: &Person, prerequisites: &[ModuleRef]) -> AttendeeBrief {
    let modules: Vec<ModuleProgress> = prerequisites
        .iter()
        .filter(|m| person.journey.as_deref() == Some(m.journey.as_str()))
        .map(|m| {
            let completed_at = person
                .modules_completed
                .get(&m.journey)
                .and_then(|done| done.get(&m.slug))
                .copied();
            ModuleProgress {
                journey: m.journey.clone(),
                slug: m.slug.clone(),
                title: m.title.clone(),
                done: completed_at.is_some(),
                completed_at: completed_at.map(Timestamp::to_rfc3339),
            }
        })
        .collect();
    let first_done = prerequisites
        .iter()
        .filter_map(|m| person.modules_completed.get(&m.journey)?.get(&m.slug))
        .min()
        .copied();
    let n_done = modules.iter().filter(|m| m.done).count();
    let n_total = modules.len();
    let readiness = if n_done == n_total {
        Readiness::Ready
    } else if n_done == 0 {
        Readiness::NotStarted
    } else {
        Readiness::Partly
    };
    let last_sign_in = person.seen.get(types::ACADEMY_LOGIN).copied();
    let signed_in =
        last_sign_in.is_some() || person.modules_completed.values().any(|m| !m.is_empty());
    let since = first_done.or(person.enrolled_at).or_else(|| state.won_at());
    let after = |at: Timestamp| since.is_none_or(|since| at >= since);

    let mut milestones: Vec<(Timestamp, &String)> = person
        .milestones
        .iter()
        .filter(|(_, at)| after(**at))
        .map(|(name, at)| (*at, name))
        .collect();
    milestones.sort();
    let mut features: BTreeMap<&String, Timestamp> = BTreeMap::new();
    let mut last_use: Option<Timestamp> = None;
    for user in state
        .usage
        .users
        .values()
        .filter(|u| u.email.as_deref() == Some(person.email.as_str()))
    {
        last_use = last_use.max(Some(user.last_at));
        for (feature, at) in &user.features {
            let last = features.entry(feature).or_insert(*at);
            *last = (*last).max(*at);
        }
    }
    let mut features: Vec<(Timestamp, &String)> = features
        .into_iter()
        .filter(|(_, at)| after(*at))
        .map(|(name, at)| (at, name))
        .collect();
    // Most recent first; ties by name.
    features.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    let reached = |(at, name): (Timestamp, &String)| Reached {
        name: name.clone(),
        at: at.to_rfc3339(),
    };
    AttendeeBrief {
        email: person.email.clone(),
        name: person.name.clone(),
        persona: person.persona.clone(),
        readiness,
        modules,
        n_done,
        n_total,
        signed_in,
        last_sign_in_at: last_sign_in.map(Timestamp::to_rfc3339),
        since: since.map(Timestamp::to_rfc3339),
        aha_at: person.aha_at.map(Timestamp::to_rfc3339),
        milestones: milestones.into_iter().map(reached).collect(),
        features: features.into_iter().map(reached).collect(),
        last_product_use_at: last_use.map(Timestamp::to_rfc3339),
        used_product_since: last_use.is_some_and(after),
    }
}

/// One sentence per attendee, then one for the whole call.
fn talking_points(
    program: &Program,
    attendees: &[AttendeeBrief],
    summary: &BriefSummary,
) -> Vec<String> {
    let mut points = Vec::new();
    for a in attendees {
        let who = first_name(a);
        let missing: Vec<&str> = a
            .modules
            .iter()
            .filter(|m| !m.done)
            .map(|m| m.title.as_str())
            .collect();
        let activity = activity(program, a);
        let point = match a.readiness {
            _ if !a.signed_in => format!(
                "{who} has not signed in to the Academy yet: send their sign-in link before the call"
            ),
            Readiness::Ready if a.n_total == 0 => match activity {
                Some(activity) => format!(
                    "{who} has no prerequisites in their journey and {activity}: ask what they want from the call"
                ),
                None => format!(
                    "{who} has no prerequisites in their journey and has not used the product yet: ask what they want from the call"
                ),
            },
            Readiness::Ready => match activity {
                Some(activity) => format!(
                    "{who} finished every prerequisite and {activity}: start from strategy, not basics"
                ),
                None => format!(
                    "{who} finished every prerequisite but has not used the product since: plan a first hands-on step together"
                ),
            },
            Readiness::Partly => format!(
                "{who} finished {} of {} prerequisites; still to do: {}: ask them to finish before the call, or cover it briefly",
                a.n_done,
                a.n_total,
                and_list(&missing)
            ),
            Readiness::NotStarted => format!(
                "{who} signed in but has not started the prerequisites ({}): expect to cover the basics",
                and_list(&missing)
            ),
        };
        points.push(point);
    }
    let overall = if summary.n_attendees == 0 {
        "Nobody at the account is expected at the call yet: add the attendees' contacts before the call".to_owned()
    } else if summary.n_ready == summary.n_attendees {
        format!(
            "All {} attendees are ready: skip the basics and start from their goals",
            summary.n_attendees
        )
    } else {
        format!(
            "{} of {} attendees ready, {} partly, {} not started",
            summary.n_ready, summary.n_attendees, summary.n_partly, summary.n_not_started
        )
    };
    points.push(overall);
    points
}

/// What an attendee did in the product since, in words (`None`: nothing).
fn activity(program: &Program, a: &AttendeeBrief) -> Option<String> {
    let mut parts = Vec::new();
    if a.aha_at.is_some() {
        let event = a
            .persona
            .as_deref()
            .and_then(|p| program.persona(p))
            .and_then(|p| p.aha_event.as_deref());
        parts.push(match event {
            Some(event) => format!("reached their Aha ({event})"),
            None => "reached their Aha".to_owned(),
        });
    }
    if !a.features.is_empty() {
        let names: Vec<&str> = a.features.iter().map(|f| f.name.as_str()).collect();
        parts.push(format!("used {}", and_list(&names)));
    }
    let product_milestones: Vec<&str> = a
        .milestones
        .iter()
        .map(|m| m.name.as_str())
        .filter(|m| !m.starts_with("module:"))
        .collect();
    if !product_milestones.is_empty() {
        parts.push(format!("reached {}", and_list(&product_milestones)));
    }
    if parts.is_empty() {
        // Product use with no key feature or milestone still counts.
        return a
            .used_product_since
            .then(|| "has used the product".to_owned());
    }
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    Some(and_list(&parts))
}

/// `a`, `a and b`, `a, b, and c`.
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [a, b] => format!("{a} and {b}"),
        [rest @ .., last] => format!("{}, and {last}", rest.join(", ")),
    }
}

fn first_name(a: &AttendeeBrief) -> &str {
    a.name.split_whitespace().next().unwrap_or(a.email.as_str())
}

#[cfg(test)]
mod tests;
