//! How an account's state is stored: a **core** (everything small that most events change:
//! status, what was seen, usage, the Aha, fields, …) and **parts**, the bulk of a state that
//! most events leave as it is (deals, people, projects, team tasks, goals, alerts, and the
//! rule runs, which change only when a rule fires), each stored apart. A batch writes the
//! core of every account it touched and only the parts that changed: a product event
//! rewrites a few hundred bytes, not the whole state's 7–9 KB.
//!
//! The core's JSON is an [`AccountState`] document whose parts are absent; a state stored
//! whole (before parts existed) still reads as one, its parts filled from the document.

use crate::shared::Shared;
use crate::shared::SharedMap;
use crate::state::{
    AccountState, Alert, DealRecord, GoalState, Person, Project, RuleRuns, TeamTask,
};
use serde::Serialize;

/// A part of an account's state stored apart from its core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatePart {
    Deals,
    People,
    Projects,
    TeamTasks,
    Goals,
    Alerts,
    RuleRuns,
}

impl StatePart {
    pub const ALL: [StatePart; 7] = [
        StatePart::Deals,
        StatePart::People,
        StatePart::Projects,
        StatePart::TeamTasks,
        StatePart::Goals,
        StatePart::Alerts,
        StatePart::RuleRuns,
    ];

    /// The part's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            StatePart::Deals => "deals",
            StatePart::People => "people",
            StatePart::Projects => "projects",
            StatePart::TeamTasks => "team_tasks",
            StatePart::Goals => "goals",
            StatePart::Alerts => "alerts",
            StatePart::RuleRuns => "rule_runs",
        }
    }

    pub fn parse(name: &str) -> Option<StatePart> {
        StatePart::ALL.into_iter().find(|p| p.as_str() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The bit of [`PartSet::with_lookups`], beside the parts'.
const LOOKUPS: u8 = 1 << 7;

/// A set of parts (and, apart, whether the lookup columns are unchanged).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartSet(u8);

impl PartSet {
    pub const NONE: PartSet = PartSet(0);

    pub fn all() -> PartSet {
        StatePart::ALL
            .into_iter()
            .fold(PartSet::NONE, |set, p| set.with(p))
    }

    pub fn with(self, part: StatePart) -> PartSet {
        PartSet(self.0 | part.bit())
    }

    pub fn without(self, part: StatePart) -> PartSet {
        PartSet(self.0 & !part.bit())
    }

    /// The set that also says the account's lookup columns (status, CSM, domain: what
    /// accounts are found by) are as stored.
    pub fn with_lookups(self) -> PartSet {
        PartSet(self.0 | LOOKUPS)
    }

    /// Whether the account's lookup columns are as stored.
    pub fn lookups(self) -> bool {
        self.0 & LOOKUPS != 0
    }

    pub fn contains(self, part: StatePart) -> bool {
        self.0 & part.bit() != 0
    }
}

/// The parts of a state as they were, to tell after a batch which ones it changed. An
/// account not stored yet had every part empty: a part missing from storage reads as empty,
/// so one still empty need not be written.
#[derive(Debug, Clone, Default)]
pub struct PartsBefore {
    deals: Shared<DealRecord>,
    people: Shared<Person>,
    projects: Shared<Project>,
    team_tasks: Shared<TeamTask>,
    goals: Shared<GoalState>,
    alerts: Shared<Alert>,
    rule_runs: SharedMap<String, RuleRuns>,
    /// Status, CSM and domain, for a state that was stored.
    lookups: Option<(crate::state::AccountStatus, Option<String>, Option<String>)>,
}

impl PartsBefore {
    /// The parts as they stand: a reference to each ([`Shared`]), so keeping them copies
    /// nothing, and a part the batch writes is copied then, the first time.
    pub fn of(state: &AccountState) -> Self {
        Self {
            lookups: Some((state.status, state.csm.clone(), state.domain.clone())),
            deals: state.deals.clone(),
            people: state.people.clone(),
            projects: state.projects.clone(),
            team_tasks: state.team_tasks.clone(),
            goals: state.goals.clone(),
            alerts: state.alerts.clone(),
            rule_runs: state.rule_runs.clone(),
        }
    }

    /// The parts `state` has exactly as they were: a part not written since is the same
    /// list; one written is compared item by item (a write may have changed nothing).
    pub fn unchanged_in(&self, state: &AccountState) -> PartSet {
        let mut same = PartSet::NONE;
        let mut keep = |equal: bool, part| {
            if equal {
                same = same.with(part);
            }
        };
        keep(self.deals == state.deals, StatePart::Deals);
        keep(self.people == state.people, StatePart::People);
        keep(self.projects == state.projects, StatePart::Projects);
        keep(self.team_tasks == state.team_tasks, StatePart::TeamTasks);
        keep(self.goals == state.goals, StatePart::Goals);
        keep(self.alerts == state.alerts, StatePart::Alerts);
        keep(self.rule_runs == state.rule_runs, StatePart::RuleRuns);
        let lookups = self.lookups.as_ref().is_some_and(|(status, csm, domain)| {
            *status == state.status && *csm == state.csm && *domain == state.domain
        });
        if lookups {
            same = same.with_lookups();
        }
        same
    }

    /// The emails of the people `state` has and did not have before, in its order; none
    /// without a look at them when the people were not written.
    pub fn people_added<'a>(&self, state: &'a AccountState) -> Vec<&'a str> {
        if self.people.same_as(&state.people) {
            return Vec::new();
        }
        let before: std::collections::HashSet<&str> =
            self.people.iter().map(|p| p.email.as_str()).collect();
        state
            .people
            .iter()
            .map(|p| p.email.as_str())
            .filter(|email| !before.contains(email))
            .collect()
    }
}

/// The state's core as a document, its parts left out.
#[derive(Serialize)]
struct Core<'a> {
    id: &'a String,
    name: &'a String,
    status: &'a crate::state::AccountStatus,
    program_version: &'a String,
    csm: &'a Option<String>,
    created_at: &'a crate::time::Timestamp,
    updated_at: &'a crate::time::Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: &'a Option<String>,
    seen: &'a std::collections::BTreeMap<String, crate::state::Seen>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    nudges: &'a Vec<crate::state::Nudge>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aha: &'a Option<crate::state::Aha>,
    #[serde(skip_serializing_if = "crate::health::Usage::is_empty")]
    usage: &'a crate::health::Usage,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    held_timers: &'a Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    fields: &'a std::collections::BTreeMap<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    autopilot: &'a Option<crate::state::AutopilotState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    open_windows: &'a Option<std::collections::BTreeMap<String, u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    goals_check_at: &'a Option<crate::time::Timestamp>,
}

impl AccountState {
    /// The state's core as stored: every field but the parts. (The destructuring names
    /// every field, so a field added to the state cannot be left out of storage unnoticed.)
    pub fn core_json(&self) -> serde_json::Result<String> {
        let AccountState {
            id,
            name,
            status,
            program_version,
            csm,
            created_at,
            updated_at,
            domain,
            deals: _,
            people: _,
            seen,
            rule_runs: _,
            projects: _,
            team_tasks: _,
            goals: _,
            alerts: _,
            nudges,
            aha,
            usage,
            held_timers,
            fields,
            autopilot,
            open_windows,
            goals_check_at,
        } = self;
        serde_json::to_string(&Core {
            id,
            name,
            status,
            program_version,
            csm,
            created_at,
            updated_at,
            domain,
            seen,
            nudges,
            aha,
            usage,
            held_timers,
            fields,
            autopilot,
            open_windows,
            goals_check_at,
        })
    }

    /// One part as stored.
    pub fn part_json(&self, part: StatePart) -> serde_json::Result<String> {
        match part {
            StatePart::Deals => serde_json::to_string(&self.deals),
            StatePart::People => serde_json::to_string(&self.people),
            StatePart::Projects => serde_json::to_string(&self.projects),
            StatePart::TeamTasks => serde_json::to_string(&self.team_tasks),
            StatePart::Goals => serde_json::to_string(&self.goals),
            StatePart::Alerts => serde_json::to_string(&self.alerts),
            StatePart::RuleRuns => serde_json::to_string(&self.rule_runs),
        }
    }

    /// Reads one stored part into the state.
    pub fn set_part_json(&mut self, part: StatePart, json: &str) -> serde_json::Result<()> {
        match part {
            StatePart::Deals => self.deals = serde_json::from_str(json)?,
            StatePart::People => self.people = serde_json::from_str(json)?,
            StatePart::Projects => self.projects = serde_json::from_str(json)?,
            StatePart::TeamTasks => self.team_tasks = serde_json::from_str(json)?,
            StatePart::Goals => self.goals = serde_json::from_str(json)?,
            StatePart::Alerts => self.alerts = serde_json::from_str(json)?,
            StatePart::RuleRuns => self.rule_runs = serde_json::from_str(json)?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    fn won() -> AccountState {
        let mut state = AccountState::new("acme", "v1", Timestamp(1_000));
        state.csm = Some("dana@vendor.test".into());
        state
            .fields
            .insert("tier".into(), serde_json::json!("gold"));
        state.people.push(
            serde_json::from_value(serde_json::json!({
                "email": "ada@acme.test", "name": "Ada", "persona": "admin"
            }))
            .expect("a person"),
        );
        state.rule_runs.insert(
            "welcome".into(),
            crate::state::RuleRuns {
                n: 1,
                last_at: Timestamp(1_000),
            },
        );
        state
    }

    #[test]
    fn a_state_stored_as_core_and_parts_reads_back_the_same() {
        let state = won();
        let core = state.core_json().expect("core");
        assert!(!core.contains("ada@acme.test"), "people are a part: {core}");
        assert!(!core.contains("welcome"), "rule runs are a part: {core}");
        let mut read: AccountState = serde_json::from_str(&core).expect("core reads");
        for part in StatePart::ALL {
            read.set_part_json(part, &state.part_json(part).expect("part"))
                .expect("part reads");
        }
        assert_eq!(read, state);
    }

    #[test]
    fn a_state_stored_whole_reads_as_a_core_with_its_parts() {
        let state = won();
        let whole = serde_json::to_string(&state).expect("whole");
        let read: AccountState = serde_json::from_str(&whole).expect("reads");
        assert_eq!(read, state);
    }

    #[test]
    fn the_people_added_are_those_not_there_before() {
        let mut state = won();
        let before = PartsBefore::of(&state);
        assert!(before.people_added(&state).is_empty());
        state.people[0]
            .seen
            .insert("academy.login".into(), Timestamp(2_000));
        assert!(before.people_added(&state).is_empty(), "a person written");
        state
            .people
            .push(crate::state::Person::new("bob@acme.test", "Bob"));
        assert_eq!(before.people_added(&state), ["bob@acme.test"]);
        assert_eq!(
            PartsBefore::default().people_added(&state),
            ["ada@acme.test", "bob@acme.test"],
            "an account not stored before"
        );
    }

    #[test]
    fn only_the_parts_a_change_touched_are_unchanged_no_more() {
        let mut state = won();
        let before = PartsBefore::of(&state);
        state.usage = Default::default();
        state.seen.clear();
        assert_eq!(before.unchanged_in(&state), PartSet::all().with_lookups());
        state.csm = Some("lee@vendor.test".into());
        assert_eq!(
            before.unchanged_in(&state),
            PartSet::all(),
            "the CSM is a lookup"
        );
        state.people[0].name = "Ada L.".into();
        let unchanged = before.unchanged_in(&state);
        assert!(!unchanged.contains(StatePart::People));
        assert!(unchanged.contains(StatePart::Projects));
        // A new account: only its parts that are not empty differ from nothing stored.
        let new = PartsBefore::default().unchanged_in(&state);
        assert!(!new.contains(StatePart::People));
        assert!(new.contains(StatePart::Projects) && new.contains(StatePart::Deals));
        assert!(!new.lookups(), "a new account's row is written whole");
        assert!(StatePart::ALL
            .into_iter()
            .all(|p| StatePart::parse(p.as_str()) == Some(p)));
    }
}
