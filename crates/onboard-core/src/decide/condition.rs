//! What a rule's `when` reads: the account, the person the event is about (its
//! `data.email`), the project it names (`data.project`, else the latest), the goal it names
//! (`data.goal`), and the event, as the condition language's values.

use crate::event::Event;
use crate::expr::{lookup_json, Env, Value};
use crate::state::{AccountState, Person};

/// The fields of one decision: an account, an event, and the person it names, if any.
pub(super) struct RuleEnv<'a> {
    state: &'a AccountState,
    event: &'a Event,
    person: Option<&'a Person>,
}

impl<'a> RuleEnv<'a> {
    pub(super) fn new(state: &'a AccountState, event: &'a Event) -> Self {
        let email = event
            .data
            .get("email")
            .and_then(|v| v.as_str())
            .map(str::to_lowercase);
        let person = email.and_then(|email| state.people.iter().find(|p| p.email == email));
        Self {
            state,
            event,
            person,
        }
    }

    fn account(&self, field: &str) -> Value {
        let state = self.state;
        // The plan and seats of the latest deal; the time of the first.
        let latest = state.deals.last();
        if let Some(path) = field.strip_prefix("fields") {
            let path = path.strip_prefix('.').unwrap_or(path);
            let (head, rest) = path.split_once('.').unwrap_or((path, ""));
            return state
                .fields
                .get(head)
                .map_or(Value::Null, |json| lookup_json(json, rest));
        }
        match field {
            "id" => Value::from(state.id.as_str()),
            "name" => Value::from(state.name.as_str()),
            "domain" => Value::from(state.domain.clone()),
            "plan" => Value::from(latest.and_then(|d| d.plan.clone())),
            "seats" => Value::from(latest.and_then(|d| d.seats)),
            "csm" => Value::from(state.csm.clone()),
            "status" => Value::from(state.status.as_str()),
            "won_at" => Value::from(state.deals.first().map(|d| d.won_at)),
            _ => Value::Null,
        }
    }

    fn person(&self, field: &str) -> Value {
        let Some(person) = self.person else {
            return Value::Null;
        };
        if let Some(path) = field.strip_prefix("properties") {
            let path = path.strip_prefix('.').unwrap_or(path);
            let (head, rest) = path.split_once('.').unwrap_or((path, ""));
            return person
                .properties
                .get(head)
                .map_or(Value::Null, |json| lookup_json(json, rest));
        }
        match field {
            "email" => Value::from(person.email.as_str()),
            "name" => Value::from(person.name.as_str()),
            "title" => Value::from(person.title.clone()),
            "persona" => Value::from(person.persona.clone()),
            "enrolled_at" => Value::from(person.enrolled_at),
            _ => Value::Null,
        }
    }

    fn event(&self, field: &str) -> Value {
        if let Some(path) = field.strip_prefix("data") {
            return lookup_json(&self.event.data, path.strip_prefix('.').unwrap_or(path));
        }
        match field {
            "type" => Value::from(self.event.kind.as_str()),
            "at" => Value::from(self.event.at),
            _ => Value::Null,
        }
    }
}

impl RuleEnv<'_> {
    /// The project the event names (`data.project`), else the latest one.
    fn project(&self, field: &str) -> Value {
        let named = self.event.data.get("project").and_then(|v| v.as_str());
        let project = match named {
            Some(id) => self.state.projects.iter().find(|p| p.id == id),
            None => self.state.projects.last(),
        };
        let Some(project) = project else {
            return Value::Null;
        };
        match field {
            "template" => Value::from(project.template.as_str()),
            "status" => Value::from(project.status.as_str()),
            "launched_at" => Value::from(project.launched_at),
            "progress" => {
                let done = project
                    .tasks
                    .iter()
                    .filter(|t| t.status == crate::state::TaskStatus::Done)
                    .count();
                let all = project.tasks.len().max(1);
                Value::from(done as f64 / all as f64)
            }
            _ => Value::Null,
        }
    }

    /// The goal the event names (`data.goal`), e.g. on `goal.at_risk`.
    fn goal(&self, field: &str) -> Value {
        let Some(name) = self.event.data.get("goal").and_then(|v| v.as_str()) else {
            return Value::Null;
        };
        let Some(goal) = self.state.goals.iter().find(|g| g.name == name) else {
            return Value::Null;
        };
        match field {
            "name" => Value::from(goal.name.as_str()),
            "status" => Value::from(goal.status.as_str()),
            "progress" if goal.target > 0.0 => Value::from(goal.value / goal.target),
            "deadline" => Value::from(goal.deadline_at),
            _ => Value::Null,
        }
    }
}

impl Env for RuleEnv<'_> {
    fn value(&self, path: &str) -> Value {
        let (scope, field) = path.split_once('.').unwrap_or((path, ""));
        match scope {
            "account" => self.account(field),
            "person" => self.person(field),
            "event" => self.event(field),
            "project" => self.project(field),
            "goal" => self.goal(field),
            _ => Value::Null,
        }
    }
}
