//! Usage: what product events and Academy completions say about the way to value. Each event
//! is folded into the account's state in constant time:
//!
//! - product use (`product.track`, `product.page`) updates the health state
//!   ([`crate::health::Usage`]); `product.identify` links a product user to a person;
//! - the **Aha**: the first `product.track` whose name is the Aha event of the persona of the
//!   person it names (`data.email`), or, when it names none of the account's people (or one
//!   without a persona), the Aha event of any persona. The account records its first
//!   ([`crate::state::Aha`], with time to value from the first won deal) and announces it
//!   once as `aha.reached`; each person records their own first in `aha_at`, without an
//!   event of its own;
//! - **micro-milestones** of the person's persona: a product event name, reached by a
//!   `product.track` of that name, or `module:<name>`, reached by a `module.completed` of that
//!   module; each is recorded once per person, in whatever order they come, and announced as
//!   `usage.milestone`.

use super::derived_event_key;
use crate::event::{types, Event, EventType, NewEvent};
use crate::program::{MilestoneTrigger, Program};
use crate::state::{AccountState, Aha, Decisions};

/// Folds one event into the account's usage, Aha and milestones.
pub(super) fn on_event(
    program: &Program,
    state: &mut AccountState,
    event: &Event,
    out: &mut Decisions,
) {
    let data = &event.data;
    let email = data
        .get("email")
        .and_then(|v| v.as_str())
        .map(str::to_lowercase);
    match event.kind.as_str() {
        types::PRODUCT_TRACK | types::PRODUCT_PAGE => {
            let name = data
                .get("event")
                .and_then(|v| v.as_str())
                .filter(|_| event.kind.as_str() == types::PRODUCT_TRACK);
            let user = data
                .get("user")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .or_else(|| email.clone());
            if let Some(user) = user {
                let model = &program.health;
                let feature = name.filter(|n| model.key_features.iter().any(|f| f == n));
                state
                    .usage
                    .record(model, &user, email.as_deref(), feature, event.at);
            }
            if let Some(name) = name {
                aha(program, state, event, name, email.as_deref(), out);
                if let Some(email) = &email {
                    milestones(
                        program,
                        state,
                        event,
                        email,
                        out,
                        |trigger| matches!(trigger, MilestoneTrigger::Event(e) if e == name),
                    );
                }
            }
        }
        types::PRODUCT_IDENTIFY => {
            if let (Some(user), Some(email)) = (data.get("user").and_then(|v| v.as_str()), &email) {
                state.usage.link(user, email);
            }
        }
        types::MODULE_COMPLETED => {
            let (Some(email), Some(module)) = (&email, data.get("module").and_then(|v| v.as_str()))
            else {
                return;
            };
            let given_journey = data.get("journey").and_then(|v| v.as_str());
            milestones(program, state, event, email, out, |trigger| match trigger {
                MilestoneTrigger::Module { journey, slug } => {
                    given_journey.is_none_or(|j| j == journey) && same_module(slug, module)
                }
                MilestoneTrigger::Event(_) => false,
            });
        }
        _ => {}
    }
}

/// Records the Aha when `name` is the Aha event that counts for this event's person.
fn aha(
    program: &Program,
    state: &mut AccountState,
    event: &Event,
    name: &str,
    email: Option<&str>,
    out: &mut Decisions,
) {
    let person = email.and_then(|e| state.people.iter().position(|p| p.email == e));
    let own_persona = person.and_then(|i| state.people[i].persona.as_deref());
    let persona = match own_persona {
        Some(own) => program
            .persona(own)
            .filter(|p| p.aha_event.as_deref() == Some(name)),
        None => program
            .personas
            .iter()
            .find(|p| p.aha_event.as_deref() == Some(name)),
    };
    let Some(persona) = persona else {
        return;
    };
    if let Some(i) = person {
        let reached = &mut state.people[i].aha_at;
        if reached.is_none_or(|at| event.at < at) {
            *reached = Some(event.at);
        }
    }
    if state.aha.is_some() {
        return;
    }
    let ttv_ms = state
        .won_at()
        .map(|won| (event.at.millis() - won.millis()).max(0));
    let linked = person.map(|i| state.people[i].email.clone());
    state.aha = Some(Aha {
        at: event.at,
        email: linked.clone(),
        persona: Some(persona.name.clone()),
        event: name.to_owned(),
        ttv_ms,
    });
    if let Ok(kind) = EventType::parse(types::AHA_REACHED) {
        out.events.push(NewEvent {
            key: derived_event_key(event.at, &[&state.id, types::AHA_REACHED, &event.key]),
            kind,
            account: state.id.clone(),
            at: event.at,
            data: serde_json::json!({
                "email": linked,
                "persona": persona.name,
                "event": name,
                "ttv_ms": ttv_ms,
            }),
        });
    }
}

/// Records the milestones of the person's persona that `reached` says this event reaches,
/// the first time each, and announces each.
fn milestones(
    program: &Program,
    state: &mut AccountState,
    event: &Event,
    email: &str,
    out: &mut Decisions,
    reached: impl Fn(&MilestoneTrigger) -> bool,
) {
    let Some(index) = state.people.iter().position(|p| p.email == email) else {
        return;
    };
    let Some(persona) = state.people[index]
        .persona
        .as_deref()
        .and_then(|p| program.persona(p))
    else {
        return;
    };
    // Most events reach no new milestone: the people are copied only when one does.
    let person = &state.people[index];
    if !persona
        .milestones
        .iter()
        .any(|m| reached(&m.reached_by) && !person.milestones.contains_key(&m.name))
    {
        return;
    }
    let account = state.id.clone();
    let person = &mut state.people[index];
    let of = persona.milestones.len();
    for (index, milestone) in persona.milestones.iter().enumerate() {
        if !reached(&milestone.reached_by) || person.milestones.contains_key(&milestone.name) {
            continue;
        }
        person.milestones.insert(milestone.name.clone(), event.at);
        let n_reached = persona
            .milestones
            .iter()
            .filter(|m| person.milestones.contains_key(&m.name))
            .count();
        if let Ok(kind) = EventType::parse(types::USAGE_MILESTONE) {
            out.events.push(NewEvent {
                key: derived_event_key(
                    event.at,
                    &[
                        &account,
                        types::USAGE_MILESTONE,
                        email,
                        &milestone.name,
                        &event.key,
                    ],
                ),
                kind,
                account: account.clone(),
                at: event.at,
                data: serde_json::json!({
                    "email": email,
                    "persona": persona.name,
                    "milestone": milestone.name,
                    "index": index + 1,
                    "of": of,
                    "reached": n_reached,
                }),
            });
        }
    }
}

/// Whether two module slugs name the same module: equal, or equal without their number
/// (`02-import-your-leads` and `import-your-leads`).
fn same_module(a: &str, b: &str) -> bool {
    fn short(slug: &str) -> &str {
        match slug.split_once('-') {
            Some((digits, rest))
                if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) =>
            {
                rest
            }
            _ => slug,
        }
    }
    a == b || short(a) == short(b)
}
