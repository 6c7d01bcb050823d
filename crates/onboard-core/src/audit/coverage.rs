//! Whether the program already automates a trap, and with what: the category's `covered_by`
//! names what to look for (rules on an event that write to the customer, rules with an
//! action of a kind, the Academy's journeys, kickoff tasks), and each rule, journey or
//! template found is named. The time saved per month is the trap's hours per month times
//! the category's automation share, when anything covers it.

use super::categories::Category;
use crate::program::{Action, AutomationSource, Program, Recipient, Rule, Trigger};
use serde::Serialize;

/// A trap's automation by the program.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    pub automated: bool,
    /// What the category looks for, as the program writes it (`on:…`, `action:…`, …).
    pub looked_for: Vec<String>,
    /// What was found, in program order, each once.
    pub covered_by: Vec<CoveredBy>,
    /// The share of the trap's time saved (the category's, 0 when nothing covers it).
    pub automation: f64,
    pub saved_hours_per_month: f64,
}

/// A rule, journey or template that automates a trap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoveredBy {
    /// `rule`, `journey` or `template`.
    pub kind: &'static str,
    /// The rule's or journey's name; `<template>/<task>` for a kickoff task.
    pub key: String,
    /// Which of the category's sources found it.
    pub via: String,
}

/// The coverage of `category` by `program` (none: nothing is automated), with the trap's
/// hours per month.
pub fn coverage(category: &Category, program: Option<&Program>, hours_per_month: f64) -> Coverage {
    let mut found: Vec<CoveredBy> = Vec::new();
    if let Some(program) = program {
        for source in &category.covered_by {
            let via = source.as_text();
            let mut add = |kind: &'static str, key: String| {
                if !found.iter().any(|f| f.kind == kind && f.key == key) {
                    found.push(CoveredBy {
                        kind,
                        key,
                        via: via.clone(),
                    });
                }
            };
            match source {
                AutomationSource::On(event) => {
                    for rule in &program.rules {
                        if triggered_by(rule, event.as_str()) && writes_to_customer(rule) {
                            add("rule", rule.name.clone());
                        }
                    }
                }
                AutomationSource::Action(kind) => {
                    for rule in &program.rules {
                        if rule.actions.iter().any(|a| action_kind(a) == kind) {
                            add("rule", rule.name.clone());
                        }
                    }
                }
                AutomationSource::Journeys => {
                    for journey in &program.journeys {
                        if !journey.core.is_empty() {
                            add("journey", journey.name.clone());
                        }
                    }
                }
                AutomationSource::Kickoff => {
                    for template in &program.templates {
                        for task in &template.tasks {
                            if task.kickoff.is_some() {
                                add("template", format!("{}/{}", template.name, task.key));
                            }
                        }
                    }
                }
            }
        }
    }
    let automated = !found.is_empty();
    let automation = if automated { category.automation } else { 0.0 };
    Coverage {
        automated,
        looked_for: category.covered_by.iter().map(|s| s.as_text()).collect(),
        covered_by: found,
        automation,
        saved_hours_per_month: ((hours_per_month * automation) * 100.0).round() / 100.0,
    }
}

fn triggered_by(rule: &Rule, event: &str) -> bool {
    match &rule.trigger {
        Trigger::On { event: on } => on.as_str() == event,
        Trigger::After { since, .. } => since.as_str() == event,
    }
}

/// Whether a rule sends something to the customer's people (not only to the team).
fn writes_to_customer(rule: &Rule) -> bool {
    rule.actions.iter().any(|action| match action {
        Action::Send { to, .. } | Action::Nudge { to, .. } => *to != Recipient::Csm,
        Action::Enrol { .. } => true,
        _ => false,
    })
}

fn action_kind(action: &Action) -> &'static str {
    match action {
        Action::Send { .. } => "send",
        Action::Emit { .. } => "emit",
        Action::Launch { .. } => "launch",
        Action::Task { .. } => "task",
        Action::Alert { .. } => "alert",
        Action::Nudge { .. } => "nudge",
        Action::Enrol { .. } => "enrol",
        Action::Set { .. } => "set",
    }
}
