//! A kickoff call booked in the Shared Space (`kickoff.booked`): recorded on the project's
//! kickoff task (its slot, and the invite's stable UID with a SEQUENCE counted up on each
//! change), the task's due date moved to the end of the call with its due-soon and overdue
//! timers, and two emails decided, each carrying the iCalendar invite: one to the person who
//! booked, one to the CSM with the kickoff brief's summary. Whether the slot was free in the
//! CSM's calendar was settled when the booking was taken (the store's slot table); here the
//! event is checked against the task: a task done, not a kickoff, or a call already begun
//! changes nothing, and the trace says why.

use super::apply::text;
use super::projects::{skip, DUE_SOON, OVERDUE, OVERDUE_REMINDER, TIMER_PREFIX};
use super::{csm, derived_id, derived_id_at};
use crate::calendar::{Attendee, Invite, Party};
use crate::event::Event;
use crate::program::Program;
use crate::state::{
    AccountState, Booking, Decisions, NewMessage, NewTimer, ProjectStatus, TaskStatus, TimerCancel,
    Trace, TraceOutcome,
};
use crate::time::{Duration, Timestamp};

/// The rule name of the booking's messages and traces.
pub const BOOKING_RULE: &str = "kickoff-booking";

/// A time as the emails say it: `Tue 6 Jan 2026, 14:00 UTC`.
fn words(t: Timestamp) -> String {
    jiff::Timestamp::from_millisecond(t.millis())
        .map(|ts| ts.strftime("%a %-d %b %Y, %H:%M UTC").to_string())
        .unwrap_or_else(|_| t.to_rfc3339())
}

/// Records a `kickoff.booked` on its task and decides the invites.
pub(super) fn on_booked(
    program: &Program,
    state: &mut AccountState,
    event: &Event,
    out: &mut Decisions,
) {
    let data = &event.data;
    let project_id = text(data, "project").unwrap_or_default();
    let key = text(data, "task").unwrap_or_default();
    let by = text(data, "by").unwrap_or_default().to_lowercase();
    let time = |field: &str| text(data, field).and_then(|t| Timestamp::parse_rfc3339(&t).ok());
    let (start, end) = match (time("start"), time("end")) {
        (Some(start), Some(end)) if start < end => (start, end),
        _ => {
            let reason = "no valid `start` and `end` (RFC 3339, start before end)".to_owned();
            return skip(state, event, &project_id, reason, out);
        }
    };
    if start <= event.at {
        let reason = format!("the call at {} has already begun", start.to_rfc3339());
        return skip(state, event, &project_id, reason, out);
    }
    let Some(csm) = csm(program, state).cloned() else {
        let reason = "the account has no CSM of the program's team to meet".to_owned();
        return skip(state, event, &project_id, reason, out);
    };
    let Some(booker) = state.people.iter().find(|p| p.email == by).cloned() else {
        let reason = format!("`{by}` is not a person of the account");
        return skip(state, event, &project_id, reason, out);
    };
    let Some(index) = state.projects.iter().position(|p| p.id == project_id) else {
        return skip(
            state,
            event,
            &project_id,
            format!("no project `{project_id}`"),
            out,
        );
    };
    let account = state.id.clone();
    let account_name = state.name.clone();
    let version = state.program_version.clone();
    let project = &mut state.projects[index];
    let project_title = project.title.clone();
    let active = project.status == ProjectStatus::Active;
    let Some(task) = project.tasks.iter_mut().find(|t| t.key == key) else {
        return skip(state, event, &project_id, format!("no task `{key}`"), out);
    };
    let refusal = if !active {
        Some("the project is not active".to_owned())
    } else if task.kickoff.is_none() {
        Some(format!("task `{key}` is not a kickoff call"))
    } else if task.status == TaskStatus::Done {
        Some(format!("task `{key}` is done"))
    } else {
        None
    };
    if let Some(reason) = refusal {
        return skip(state, event, &project_id, reason, out);
    }
    let previous = task.booking.clone();
    if previous
        .as_ref()
        .is_some_and(|b| b.start == start && b.end == end)
    {
        let reason = "the call is already booked at that time".to_owned();
        return skip(state, event, &project_id, reason, out);
    }
    let domain = csm.email.rsplit('@').next().unwrap_or("onboard").to_owned();
    let booking = Booking {
        start,
        end,
        by: by.clone(),
        booked_at: event.at,
        uid: previous.as_ref().map_or_else(
            || {
                format!(
                    "{}@{domain}",
                    derived_id("kickoff", &[&account, &project_id, &key])
                )
            },
            |b| b.uid.clone(),
        ),
        sequence: previous.as_ref().map_or(0, |b| b.sequence + 1),
    };
    task.booking = Some(booking.clone());
    // The call is the task: due when it ends, with its reminders moved along.
    task.due_at = Some(end);
    task.overdue = false;
    let task_title = task.title.clone();
    let sequence = booking.sequence.to_string();
    for what in [DUE_SOON, OVERDUE, OVERDUE_REMINDER] {
        let rule = format!("{TIMER_PREFIX}{project_id}/{key}/{what}");
        out.cancels.push(TimerCancel {
            account: account.clone(),
            rule: Some(rule.clone()),
        });
        let due_at = match what {
            DUE_SOON => Timestamp(end.millis() - Duration::DAY.millis()),
            OVERDUE => end,
            _ => end.plus(Duration::DAY),
        };
        if due_at <= event.at {
            continue;
        }
        out.timers.push(NewTimer {
            id: derived_id_at(
                "tmr",
                due_at,
                &[&account, &project_id, &key, what, "booking", &sequence],
            ),
            account: account.clone(),
            rule,
            due_at,
            since_at: event.at,
            program_version: version.clone(),
        });
    }

    let invite = Invite {
        uid: booking.uid.clone(),
        sequence: booking.sequence,
        stamp: event.at,
        start,
        end,
        summary: format!("{account_name} kickoff call with {}", program.name),
        description: format!(
            "The kickoff call of “{project_title}”, booked by {} in the Shared Space, where it can be moved.",
            booker.name
        ),
        location: None,
        organizer: Party {
            name: csm.name.clone(),
            email: csm.email.clone(),
        },
        attendees: vec![
            Attendee {
                party: Party {
                    name: booker.name.clone(),
                    email: booker.email.clone(),
                },
                accepted: false,
            },
            Attendee {
                party: Party {
                    name: csm.name.clone(),
                    email: csm.email.clone(),
                },
                accepted: true,
            },
        ],
        reminder: Some(Duration(15 * Duration::MINUTE.millis())),
    }
    .request();
    let minutes = (end.millis() - start.millis()) / Duration::MINUTE.millis();
    let when = words(start);
    let moved = previous
        .as_ref()
        .map(|b| format!(" (moved from {})", words(b.start)))
        .unwrap_or_default();
    let (verb, title_verb) = if previous.is_some() {
        ("moved", "Moved")
    } else {
        ("booked", "Booked")
    };
    let customer_body = format!(
        "Hi {},\n\nYour kickoff call with {} is {verb} for {when} ({minutes} minutes){moved}.\n\
         The calendar invite is attached: accept it to add the call to your calendar.\n\n\
         To move the call, pick another time in your Shared Space.\n\n{}\n",
        booker.name, csm.name, csm.name
    );
    let brief = crate::brief::kickoff_brief(program, state, &project_id, &key, event.at);
    let brief_text = match &brief {
        Ok(brief) => {
            let s = &brief.summary;
            let mut lines = vec![format!(
                "Brief: of {} attendees, {} finished the prerequisites, {} partly, {} not started.",
                s.n_attendees, s.n_ready, s.n_partly, s.n_not_started
            )];
            lines.extend(brief.talking_points.iter().map(|p| format!("- {p}")));
            lines.join("\n")
        }
        Err(e) => format!("No brief: {e}."),
    };
    let csm_body = format!(
        "{} ({}) of {account_name} {verb} the kickoff call of “{project_title}” for {when} \
         ({minutes} minutes){moved}. The invite is attached.\n\n{brief_text}\n\n\
         The whole brief: GET /api/accounts/{account}/projects/{project_id}/tasks/{key}/brief\n",
        booker.name, booker.email
    );
    let message = |to_name: &str, to_email: &str, subject: String, body: String| {
        let id = derived_id_at("msg", event.at, &[&event.key, BOOKING_RULE, to_email]);
        NewMessage {
            message_id: format!("<{id}@{domain}>"),
            id,
            account: account.clone(),
            channel: "email".to_owned(),
            to_email: to_email.to_owned(),
            to_name: to_name.to_owned(),
            from_email: csm.email.clone(),
            from_name: csm.name.clone(),
            subject,
            body,
            rule: BOOKING_RULE.to_owned(),
            cause: event.key.clone(),
            sign_in_email: None,
            calendar: Some(invite.clone()),
        }
    };
    out.messages.push(message(
        &booker.name,
        &booker.email,
        format!("{title_verb}: your kickoff call, {when}"),
        customer_body,
    ));
    out.messages.push(message(
        &csm.name,
        &csm.email,
        format!("{title_verb}: {account_name}'s kickoff call ({task_title}), {when}"),
        csm_body,
    ));
    out.traces.push(Trace {
        account: account.clone(),
        rule: BOOKING_RULE.to_owned(),
        event: event.key.clone(),
        at: event.at,
        outcome: TraceOutcome::Fired,
        reason: format!(
            "kickoff `{key}` of project `{project_id}` {verb} for {} by {by} (invite SEQUENCE {}): invites to {by} and {}",
            start.to_rfc3339(),
            booking.sequence,
            csm.email
        ),
    });
}
