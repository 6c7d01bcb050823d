//! The contact budget: how often one person may be contacted, across channels. A message a
//! rule would send to a person whose window is full is held: dropped, or deferred to the
//! first moment the window has room, by a timer that sends it then. Messages of `urgent`
//! rules and messages to the team are neither counted nor held.

use super::{derived_id_at, email_message, trace, Settings};
use crate::event::Event;
use crate::program::{Action, ContactBudget, Program};
use crate::state::{AccountState, Decisions, NewTimer, TraceOutcome};
use crate::time::Timestamp;

/// The `rule` of a deferral timer: `budget/<rule>/<action index>/<email>`.
pub const TIMER_PREFIX: &str = "budget/";

/// The earliest time at or after `at` when `email` may be contacted once more, counting
/// the contacts the state knows and those `staged` by the rule running now.
pub(super) fn slot_for(
    budget: &ContactBudget,
    state: &AccountState,
    staged: &[(String, Timestamp)],
    email: &str,
    at: Timestamp,
) -> Timestamp {
    let mut known = contacts(state, email);
    known.extend(staged.iter().filter(|(e, _)| e == email).map(|(_, t)| *t));
    next_slot(budget, &known, at)
}

/// The earliest time at or after `at` when one more contact keeps every window of
/// `budget.per` around it within `budget.max` (contacts already deferred count where they
/// will happen).
pub(super) fn next_slot(
    budget: &ContactBudget,
    contacts: &[Timestamp],
    at: Timestamp,
) -> Timestamp {
    let per = budget.per.millis();
    let max = usize::try_from(budget.max).unwrap_or(usize::MAX);
    let fits = |x: i64| {
        contacts
            .iter()
            .filter(|c| c.millis() > x - per && c.millis() < x + per)
            .count()
            < max
    };
    let mut candidates: Vec<i64> = std::iter::once(at.millis())
        .chain(contacts.iter().map(|c| c.millis() + per))
        .filter(|&x| x >= at.millis())
        .collect();
    candidates.sort_unstable();
    let slot = candidates.into_iter().find(|&x| fits(x));
    // Past every contact's window there is always room.
    Timestamp(slot.unwrap_or_else(|| {
        contacts
            .iter()
            .map(|c| c.millis() + per)
            .max()
            .unwrap_or(at.millis())
            .max(at.millis())
    }))
}

/// Records a contact of `email` at `when`, forgetting those that no window can reach.
pub(super) fn record(
    state: &mut AccountState,
    budget: &ContactBudget,
    email: &str,
    when: Timestamp,
    now: Timestamp,
) {
    if let Some(person) = state.people.iter_mut().find(|p| p.email == email) {
        let horizon = now.millis() - budget.per.millis();
        person.contacts.retain(|c| c.millis() > horizon);
        person.contacts.push(when);
        person.contacts.sort_unstable();
    }
}

/// The contacts of `email` so far (deferred ones included).
pub(super) fn contacts(state: &AccountState, email: &str) -> Vec<Timestamp> {
    state
        .people
        .iter()
        .find(|p| p.email == email)
        .map(|p| p.contacts.clone())
        .unwrap_or_default()
}

/// The timer that sends a deferred message at `due`.
pub(super) fn deferral_timer(
    state: &AccountState,
    rule: &str,
    index: usize,
    email: &str,
    cause: &Event,
    due: Timestamp,
) -> NewTimer {
    let name = format!("{TIMER_PREFIX}{rule}/{index}/{email}");
    NewTimer {
        id: derived_id_at("tmr", due, &[&state.id, &name, &cause.key]),
        account: state.id.clone(),
        rule: name,
        due_at: due,
        since_at: cause.at,
        program_version: state.program_version.clone(),
    }
}

/// A deferral timer fired: sends the message it held (its slot was reserved when it was
/// deferred), unless the person is gone.
pub(super) fn fire_timer(
    program: &Program,
    settings: &Settings,
    state: &mut AccountState,
    event: &Event,
    timer_rule: &str,
    out: &mut Decisions,
) {
    let Some(rest) = timer_rule.strip_prefix(TIMER_PREFIX) else {
        return;
    };
    let mut parts = rest.splitn(3, '/');
    let (Some(rule_name), Some(index), Some(email)) = (parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    let Some(rule) = program.rule(rule_name) else {
        return;
    };
    let Some(index) = index.parse::<usize>().ok() else {
        return;
    };
    let Some(Action::Send { message, .. }) = rule.actions.get(index) else {
        return;
    };
    let Some(name) = state
        .people
        .iter()
        .find(|p| p.email == email)
        .map(|p| p.name.clone())
    else {
        out.traces.push(trace(
            state,
            rule,
            event,
            TraceOutcome::Skipped,
            format!("the message `{message}` held for {email} was not sent: they are no longer at the account"),
        ));
        return;
    };
    match email_message(
        program, settings, state, event, rule, index, message, &name, email,
    ) {
        Ok(sent) => {
            out.messages.push(sent);
            out.traces.push(trace(
                state,
                rule,
                event,
                TraceOutcome::Fired,
                format!("send `{message}` to {email}: held by the contact budget until now"),
            ));
        }
        Err(error) => out.traces.push(trace(
            state,
            rule,
            event,
            TraceOutcome::Failed,
            format!("message `{message}` could not be rendered for {email}: {error}"),
        )),
    }
}
