//! The `enrol` and `set` actions of rules: a person moved into a journey (announced as
//! `person.enrolled`, like the enrolment at the deal) and an account field or a person
//! property written (announced as `field.set`). What they change is staged while the rule
//! runs and applied only when every action of the rule succeeded; a later action of the same
//! rule sees what an earlier one staged. Nothing changes, and nothing is announced, when the
//! person is already in the journey or the value is already the current one.

use super::derived_event_key;
use crate::event::{types, Event, EventType, NewEvent};
use crate::expr::lookup_json_value;
use crate::program::{Rule, SetTarget, SetValue};
use crate::state::AccountState;
use serde_json::Value;

/// What `enrol` and `set` actions of one rule run will change.
#[derive(Debug, Default)]
pub(super) struct Staged {
    /// (email, journey), in order.
    journeys: Vec<(String, String)>,
    /// (name, value), in order.
    fields: Vec<(String, Value)>,
    /// (email, name, value), in order.
    properties: Vec<(String, String, Value)>,
}

impl Staged {
    fn journey(&self, state: &AccountState, email: &str) -> Option<String> {
        match self.journeys.iter().rev().find(|(e, _)| e == email) {
            Some((_, journey)) => Some(journey.clone()),
            None => state
                .people
                .iter()
                .find(|p| p.email == email)
                .and_then(|p| p.journey.clone()),
        }
    }

    fn field(&self, state: &AccountState, name: &str) -> Option<Value> {
        match self.fields.iter().rev().find(|(n, _)| n == name) {
            Some((_, value)) => Some(value.clone()),
            None => state.fields.get(name).cloned(),
        }
    }

    fn property(&self, state: &AccountState, email: &str, name: &str) -> Option<Value> {
        match self
            .properties
            .iter()
            .rev()
            .find(|(e, n, _)| e == email && n == name)
        {
            Some((_, _, value)) => Some(value.clone()),
            None => state
                .people
                .iter()
                .find(|p| p.email == email)
                .and_then(|p| p.properties.get(name).cloned()),
        }
    }

    /// Writes the staged changes into the account.
    pub(super) fn apply(self, state: &mut AccountState, event: &Event) {
        for (email, journey) in self.journeys {
            if let Some(person) = state.people.iter_mut().find(|p| p.email == email) {
                person.journey = Some(journey);
                person.enrolled_at = Some(event.at);
                person.journey_by_rule = true;
            }
        }
        for (name, value) in self.fields {
            state.fields.insert(name, value);
        }
        for (email, name, value) in self.properties {
            if let Some(person) = state.people.iter_mut().find(|p| p.email == email) {
                person.properties.insert(name, value);
            }
        }
    }
}

/// One run of an `enrol` or `set` action: the rule, the event, the action's place in the
/// rule, and where its trace lines and announcements go.
pub(super) struct Run<'a> {
    pub state: &'a AccountState,
    pub rule: &'a Rule,
    pub event: &'a Event,
    pub index: usize,
    pub staged: &'a mut Staged,
    pub done: &'a mut Vec<String>,
    pub events: &'a mut Vec<NewEvent>,
}

impl Run<'_> {
    fn announce(&mut self, kind: &str, subject: &str, data: Value) {
        let Ok(kind) = EventType::parse(kind) else {
            return;
        };
        self.events.push(NewEvent {
            key: derived_event_key(
                self.event.at,
                &[
                    &self.event.key,
                    &self.rule.name,
                    &self.index.to_string(),
                    subject,
                ],
            ),
            kind,
            account: self.state.id.clone(),
            at: self.event.at,
            data,
        });
    }

    /// Enrols each recipient (name, email) in `journey`.
    pub(super) fn enrol(&mut self, journey: &str, recipients: &[(String, String)]) {
        if recipients.is_empty() {
            self.done.push(format!("enrol in `{journey}`: no person"));
        }
        for (_, email) in recipients {
            let Some(person) = self.state.people.iter().find(|p| &p.email == email) else {
                continue;
            };
            let previous = self.staged.journey(self.state, email);
            if previous.as_deref() == Some(journey) {
                self.done
                    .push(format!("enrol {email} in `{journey}`: already in it"));
                continue;
            }
            self.done.push(match &previous {
                Some(previous) => format!("enrol {email} in `{journey}` (was in `{previous}`)"),
                None => format!("enrol {email} in `{journey}`"),
            });
            self.staged
                .journeys
                .push((email.clone(), journey.to_owned()));
            let data = serde_json::json!({
                "email": email,
                "name": person.name,
                "persona": person.persona,
                "journey": journey,
                "previous_journey": previous,
                "rule": self.rule.name,
                "cause": self.event.key,
            });
            self.announce(types::PERSON_ENROLLED, email, data);
        }
    }

    /// Sets `target` to `value`; for a person property, on each recipient.
    pub(super) fn set(
        &mut self,
        target: &SetTarget,
        value: &SetValue,
        recipients: &[(String, String)],
    ) {
        let path = target.path();
        let value = match value {
            SetValue::Literal(literal) => literal.0.clone(),
            SetValue::FromEvent(from) => match lookup_json_value(&self.event.data, from) {
                Some(value) if !value.is_null() => value.clone(),
                _ => {
                    let from = if from.is_empty() {
                        "event.data".to_owned()
                    } else {
                        format!("event.data.{from}")
                    };
                    self.done
                        .push(format!("set {path}: not set, the event has no `{from}`"));
                    return;
                }
            },
        };
        match target {
            SetTarget::AccountField(name) => {
                let previous = self.staged.field(self.state, name);
                if previous.as_ref() == Some(&value) {
                    self.done
                        .push(format!("set {path} = {value}: unchanged, already {value}"));
                    return;
                }
                self.done.push(format!(
                    "set {path} = {value} (was {})",
                    previous
                        .as_ref()
                        .map_or("unset".to_owned(), Value::to_string)
                ));
                self.staged.fields.push((name.clone(), value.clone()));
                let data = serde_json::json!({
                    "target": "account.fields",
                    "name": name,
                    "value": value,
                    "previous": previous,
                    "rule": self.rule.name,
                    "cause": self.event.key,
                });
                self.announce(types::FIELD_SET, &path, data);
            }
            SetTarget::PersonProperty(name) => {
                if recipients.is_empty() {
                    self.done.push(format!("set {path}: no person"));
                }
                for (_, email) in recipients {
                    let previous = self.staged.property(self.state, email, name);
                    if previous.as_ref() == Some(&value) {
                        self.done.push(format!(
                            "set {path} = {value} for {email}: unchanged, already {value}"
                        ));
                        continue;
                    }
                    self.done.push(format!(
                        "set {path} = {value} for {email} (was {})",
                        previous
                            .as_ref()
                            .map_or("unset".to_owned(), Value::to_string)
                    ));
                    self.staged
                        .properties
                        .push((email.clone(), name.clone(), value.clone()));
                    let data = serde_json::json!({
                        "target": "person.properties",
                        "name": name,
                        "value": value,
                        "previous": previous,
                        "email": email,
                        "rule": self.rule.name,
                        "cause": self.event.key,
                    });
                    self.announce(types::FIELD_SET, &format!("{path}/{email}"), data);
                }
            }
        }
    }
}
