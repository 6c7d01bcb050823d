//! The built-in effects of events on an account, before any rule runs: the account's name,
//! domain and deals, its people and their identities, personas and journey enrolments,
//! the CSM, the status, and what was seen when. Enrolments are announced as derived
//! `person.enrolled` events, which rules act on (the welcome email with a sign-in link).

use super::{derived_event_key, Settings};
use crate::event::{types, Event, EventType, NewEvent};
use crate::program::{Program, TeamMember};
use crate::state::{AccountState, AccountStatus, DealRecord, Person, Seen};
use crate::time::Timestamp;
use serde_json::Value;

/// Persona sources, from weakest to strongest.
const FROM_SEGMENT: &str = "segment";
const FROM_CRM: &str = "crm";
const FROM_MANUAL: &str = "manual";

/// Applies `event` to `state`; returns the derived events it implies.
pub(super) fn apply(
    program: &Program,
    settings: &Settings,
    state: &mut AccountState,
    event: &Event,
) -> Vec<NewEvent> {
    let seen = state
        .seen
        .entry(event.kind.as_str().to_owned())
        .or_insert(Seen {
            n: 0,
            first_at: event.at,
            last_at: event.at,
        });
    seen.n += 1;
    seen.first_at = seen.first_at.min(event.at);
    seen.last_at = seen.last_at.max(event.at);
    state.updated_at = state.updated_at.max(event.at);

    let data = &event.data;
    let mut touched: Vec<String> = Vec::new();
    match event.kind.as_str() {
        types::DEAL_WON => {
            let account = data.get("account");
            if let Some(name) = account
                .and_then(|a| text(a, "name"))
                .or_else(|| text(data, "account_name"))
                .or_else(|| text(data, "name"))
            {
                state.name = name;
            }
            if let Some(domain) = account.and_then(|a| text(a, "domain")) {
                state.domain = crate::crm::clean_domain(&domain).or(state.domain.take());
            }
            record_deal(state, data, event.at);
            let source = text(data, "source");
            if let Some(contacts) = data.get("contacts").and_then(Value::as_array) {
                for contact in contacts {
                    if let Some(email) = add_person(program, state, contact, source.as_deref()) {
                        touched.push(email);
                    }
                }
            }
            if state.csm.is_none() {
                let owner = text(data, "owner_email").or_else(|| text(data, "csm"));
                state.csm = owner.and_then(|owner| csm_for_owner(program, &owner));
            }
        }
        types::PERSON_ADDED => {
            if let Some(email) = add_person(program, state, data, text(data, "source").as_deref()) {
                touched.push(email);
            }
        }
        types::PERSON_RESEGMENTED => {
            if let (Some(email), Some(persona)) = (text(data, "email"), text(data, "persona")) {
                let email = email.to_lowercase();
                if program.persona(&persona).is_some() {
                    if let Some(person) = state.people.iter_mut().find(|p| p.email == email) {
                        person.persona = Some(persona);
                        person.persona_source = Some(FROM_MANUAL.to_owned());
                        // A persona set by hand takes the person to its journey, also
                        // from one a rule chose.
                        person.journey_by_rule = false;
                        touched.push(email);
                    }
                }
            }
        }
        types::ACCOUNT_CHURNED => state.status = AccountStatus::Churned,
        types::ACCOUNT_PAUSED => state.status = AccountStatus::Paused,
        types::ACCOUNT_RESUMED if state.status == AccountStatus::Paused => {
            state.status = AccountStatus::Active;
        }
        _ => {}
    }
    if state.csm.is_none() {
        state.csm = least_loaded_csm(program, settings).map(|m| m.email.clone());
    }
    touched.dedup();
    let mut derived = Vec::new();
    for email in touched {
        if let Some(enrolled) = enrol(program, state, &email, event) {
            derived.push(enrolled);
        }
    }
    derived
}

/// Records the won deal on the account, once per deal; a deal won again is counted.
fn record_deal(state: &mut AccountState, data: &Value, at: Timestamp) {
    let Some(id) = text(data, "deal_id") else {
        return;
    };
    let source = text(data, "source").unwrap_or_else(|| "api".to_owned());
    let tenant = text(data, "tenant");
    if let Some(known) = state
        .deals
        .iter_mut()
        .find(|d| d.id == id && d.source == source && d.tenant == tenant)
    {
        known.won_again += 1;
        return;
    }
    state.deals.push(DealRecord {
        source,
        tenant,
        id,
        name: text(data, "deal_name"),
        owner_email: text(data, "owner_email").map(|e| e.to_lowercase()),
        plan: text(data, "plan"),
        seats: data
            .get("seats")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok()),
        amount: data.get("amount").and_then(Value::as_f64),
        won_at: at,
        won_again: 0,
    });
}

/// Adds or updates the person a contact describes (matched by email, never duplicated);
/// returns their email when the contact was usable.
fn add_person(
    program: &Program,
    state: &mut AccountState,
    contact: &Value,
    source: Option<&str>,
) -> Option<String> {
    let email = text(contact, "email")?.to_lowercase();
    if !looks_like_email(&email) {
        return None;
    }
    let index = match state.people.iter().position(|p| p.email == email) {
        Some(index) => index,
        None => {
            state.people.push(Person::new(&email, &email));
            state.people.len() - 1
        }
    };
    let person = &mut state.people[index];
    if let Some(name) = text(contact, "name") {
        person.name = name;
    }
    if let Some(title) = text(contact, "title") {
        person.title = Some(title);
    }
    if let (Some(source), Some(id)) = (source, text(contact, "crm_id")) {
        person.ids.insert(source.to_owned(), id);
    }
    if let Some(properties) = contact.get("properties").and_then(Value::as_object) {
        for (key, value) in properties {
            person.properties.insert(key.clone(), value.clone());
        }
    }
    if person.persona_source.as_deref() != Some(FROM_MANUAL) {
        let given = text(contact, "persona").filter(|p| program.persona(p).is_some());
        match given {
            Some(persona) => {
                person.persona = Some(persona);
                person.persona_source = Some(FROM_CRM.to_owned());
            }
            None if person.persona_source.as_deref() != Some(FROM_CRM) => {
                if let Some(persona) = segment(program, person) {
                    person.persona = Some(persona);
                    person.persona_source = Some(FROM_SEGMENT.to_owned());
                }
            }
            None => {}
        }
    }
    Some(email)
}

/// The persona the program's segmentation gives a person: the first rule whose property
/// matches, else the default.
pub fn segment(program: &Program, person: &Person) -> Option<String> {
    for rule in &program.segments {
        let value = match rule.property.as_str() {
            "title" => person.title.clone(),
            "email" => Some(person.email.clone()),
            "name" => Some(person.name.clone()),
            other => person.properties.get(other).and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            }),
        };
        if value.is_some_and(|v| rule.matches.is_match(&v)) {
            return Some(rule.persona.clone());
        }
    }
    program.default_persona.clone()
}

/// Enrols a person in their persona's journey when they are not already in it, unless a
/// rule chose their journey; returns the `person.enrolled` event announcing it.
fn enrol(
    program: &Program,
    state: &mut AccountState,
    email: &str,
    cause: &Event,
) -> Option<NewEvent> {
    let person = state
        .people
        .iter_mut()
        .find(|p| p.email == email && !p.journey_by_rule)?;
    let persona = person.persona.clone()?;
    let journey = program.persona(&persona)?.journey.clone()?;
    if person.journey.as_deref() == Some(journey.as_str()) {
        return None;
    }
    let previous = person.journey.replace(journey.clone());
    person.enrolled_at = Some(cause.at);
    Some(NewEvent {
        key: derived_event_key(cause.at, &[&cause.key, "enrol", email, &journey]),
        kind: EventType::parse(types::PERSON_ENROLLED).unwrap_or_else(|_| unreachable!()),
        account: state.id.clone(),
        at: cause.at,
        data: serde_json::json!({
            "email": email,
            "name": person.name,
            "persona": persona,
            "journey": journey,
            "previous_journey": previous,
            "cause": cause.key,
        }),
    })
}

/// Records a `module.completed` on the person it names (`data.email`, `data.module`, and
/// `data.journey` when given); returns the `journey.completed` it implies once every core
/// module of the journey is done, the first time only. A module already recorded changes
/// nothing. An event that names no person of the account, or a module outside the person's
/// journey, is refused with the reason, for the trace, and changes nothing.
pub(super) fn complete_module(
    program: &Program,
    state: &mut AccountState,
    event: &Event,
) -> Result<Option<NewEvent>, String> {
    let data = &event.data;
    let email = text(data, "email")
        .map(|e| e.to_lowercase())
        .ok_or("it names no person (`data.email`)")?;
    let slug = text(data, "module").ok_or("it names no module (`data.module`)")?;
    let account = state.id.clone();
    let person = state
        .people
        .iter_mut()
        .find(|p| p.email == email)
        .ok_or_else(|| format!("{email} is not a person of the account"))?;
    let name = person
        .journey
        .clone()
        .ok_or_else(|| format!("{email} is not enrolled in a journey"))?;
    if let Some(given) = text(data, "journey").filter(|given| given != &name) {
        return Err(format!(
            "it is about journey `{given}`, but {email} follows `{name}`"
        ));
    }
    let journey = program
        .journey(&name)
        .ok_or_else(|| format!("journey `{name}` is not in the program"))?;
    if journey.module(&slug).is_none() {
        return Err(format!(
            "module `{slug}` is not in journey `{name}` of {email}"
        ));
    }
    let done = person.modules_completed.entry(name.clone()).or_default();
    if done.contains_key(&slug) {
        return Ok(None);
    }
    done.insert(slug, event.at);
    let complete =
        !journey.core.is_empty() && journey.core.iter().all(|m| done.contains_key(&m.slug));
    if !complete || person.journeys_completed.contains_key(&name) {
        return Ok(None);
    }
    person.journeys_completed.insert(name.clone(), event.at);
    Ok(Some(NewEvent {
        key: derived_event_key(event.at, &[&event.key, "journey", &email, &name]),
        kind: EventType::parse(types::JOURNEY_COMPLETED).unwrap_or_else(|_| unreachable!()),
        account,
        at: event.at,
        data: serde_json::json!({
            "email": email,
            "name": person.name,
            "persona": person.persona,
            "journey": name,
            "cause": event.key,
        }),
    }))
}

/// The CSM a CRM deal owner maps to: the program's `[[crm.owners]]` entry, or the owner
/// themself when they are one of the program's CSMs.
fn csm_for_owner(program: &Program, owner: &str) -> Option<String> {
    let owner = owner.to_lowercase();
    let mapped = program.crm.owners.get(&owner).unwrap_or(&owner);
    program
        .csms()
        .find(|m| m.email.eq_ignore_ascii_case(mapped))
        .map(|m| m.email.clone())
}

/// The CSM with the fewest active accounts (ties: the first in the program's team).
fn least_loaded_csm<'p>(program: &'p Program, settings: &Settings) -> Option<&'p TeamMember> {
    program.csms().min_by_key(|m| {
        settings
            .csm_load
            .get(&m.email.to_lowercase())
            .copied()
            .unwrap_or(0)
    })
}

fn looks_like_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.contains(char::is_whitespace)
        }
        None => false,
    }
}

pub(super) fn text(data: &Value, field: &str) -> Option<String> {
    data.get(field)
        .and_then(|v| match v {
            Value::String(s) => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .filter(|s| !s.is_empty())
}
