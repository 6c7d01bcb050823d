//! An account at a glance: what the console's portfolio filters and sorts by, kept beside
//! the account's state so that a page of 10,000 accounts reads small rows, not documents.
//!
//! A [`Summary`] is a function of the state alone. Flags that become true with time alone
//! are kept as the instant they become true (`stalled_from`), so a query can compare them
//! with its own `now`; everything else changes only with an event, when the summary is
//! written again.

use crate::health;
use crate::program::HealthModel;
use crate::state::{AccountState, AlertStatus, GoalStatus, ProjectStatus, TaskStatus};
use crate::time::{Duration, Timestamp};
use serde::{Deserialize, Serialize};

/// A person with no Academy sign-in this long after the deal (or after they were added, if
/// later) makes the account stalled.
pub const STALL_AFTER: Duration = Duration(72 * 3_600_000);
/// A person who completed their whole core journey within this long of the deal is a power
/// user.
pub const POWER_USER_WITHIN: Duration = Duration(24 * 3_600_000);

/// One account's row in the portfolio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub account: String,
    pub name: String,
    /// `active`, `paused` or `churned`.
    pub status: String,
    pub csm: Option<String>,
    /// Where the onboarding is: `not_started` (no project), `draft`, the template key of
    /// the newest running project (e.g. `onboarding`, `adoption`), or `completed`.
    pub stage: String,
    /// Share of the running project's tasks done, 0 to 100 (100 when completed).
    pub progress: u32,
    /// The first won deal.
    pub deal_won_at: Option<Timestamp>,
    /// The account's first Aha moment.
    pub aha_at: Option<Timestamp>,
    /// Usage health when the summary was written (it decays with time; the page computes
    /// the current one for the rows it shows).
    pub health: Option<u32>,
    /// The worst status among the goals still open, else `achieved` when every goal is, else
    /// none.
    pub goal_status: Option<String>,
    /// Open project tasks past their due time.
    pub overdue_tasks: u32,
    /// Open alerts, and when the newest was raised or raised again.
    pub open_alerts: u32,
    pub last_alert_at: Option<Timestamp>,
    /// Open tasks for our team.
    pub open_team_tasks: u32,
    /// When the account is stalled: the earliest instant a person still without an Academy
    /// sign-in reached [`STALL_AFTER`]. Stalled at `now` when this is at or before `now`.
    pub stalled_from: Option<Timestamp>,
    /// Someone completed their core journey within [`POWER_USER_WITHIN`] of the deal.
    pub power_user: bool,
    pub people: u32,
    /// The account's time when the summary last changed (an event that changes nothing
    /// shown here leaves the stored row as it is).
    pub updated_at: Timestamp,
}

impl Summary {
    /// The summary of an account's state.
    pub fn of(state: &AccountState, model: &HealthModel) -> Self {
        // The first recorded deal, else the first `deal.won` (one without a deal id).
        let deal_won_at = state
            .deals
            .iter()
            .map(|d| d.won_at)
            .min()
            .or_else(|| state.seen.get("deal.won").map(|s| s.first_at));
        let running = state
            .projects
            .iter()
            .rev()
            .find(|p| p.status == ProjectStatus::Active);
        let (stage, progress) = match running {
            Some(project) => {
                let total = project.tasks.len();
                let done = project
                    .tasks
                    .iter()
                    .filter(|t| t.status == TaskStatus::Done)
                    .count();
                let progress = (done * 100)
                    .checked_div(total)
                    .map_or(0, |p| u32::try_from(p).unwrap_or(100));
                (project.template.clone(), progress)
            }
            None if state.projects.is_empty() => ("not_started".to_owned(), 0),
            None if state
                .projects
                .iter()
                .all(|p| p.status == ProjectStatus::Completed) =>
            {
                ("completed".to_owned(), 100)
            }
            None => ("draft".to_owned(), 0),
        };
        let overdue_tasks = state
            .projects
            .iter()
            .filter(|p| p.status == ProjectStatus::Active)
            .flat_map(|p| &p.tasks)
            .filter(|t| t.overdue && t.status != TaskStatus::Done)
            .count();
        let open: Vec<_> = state
            .alerts
            .iter()
            .filter(|a| a.status == AlertStatus::Open)
            .collect();
        let stalled_from = deal_won_at.and_then(|won| {
            state
                .people
                .iter()
                .filter(|p| !p.seen.contains_key(crate::event::types::ACADEMY_LOGIN))
                .map(|p| p.enrolled_at.unwrap_or(won).max(won).plus(STALL_AFTER))
                .min()
        });
        let power_user = deal_won_at.is_some_and(|won| {
            let by = won.plus(POWER_USER_WITHIN);
            state
                .people
                .iter()
                .any(|p| p.journeys_completed.values().any(|at| *at <= by))
        });
        let health =
            (!state.usage.is_empty()).then(|| health::assess(state, model, state.updated_at).score);
        Self {
            account: state.id.clone(),
            name: state.name.clone(),
            status: state.status.as_str().to_owned(),
            csm: state.csm.clone(),
            stage,
            progress,
            deal_won_at,
            aha_at: state.aha.as_ref().map(|a| a.at),
            health,
            goal_status: goal_status(state).map(|s| s.as_str().to_owned()),
            overdue_tasks: count(overdue_tasks),
            open_alerts: count(open.len()),
            last_alert_at: open.iter().map(|a| a.updated_at).max(),
            open_team_tasks: count(
                state
                    .team_tasks
                    .iter()
                    .filter(|t| t.status == crate::state::TeamTaskStatus::Open)
                    .count(),
            ),
            stalled_from,
            power_user,
            people: count(state.people.len()),
            updated_at: state.updated_at,
        }
    }

    /// Whether two summaries say the same in everything the portfolio shows, filters or
    /// sorts by: the time alone does not count, so an event that changes nothing shown does
    /// not rewrite the row.
    pub fn shows_the_same_as(&self, other: &Summary) -> bool {
        let Summary {
            account,
            name,
            status,
            csm,
            stage,
            progress,
            deal_won_at,
            aha_at,
            health,
            goal_status,
            overdue_tasks,
            open_alerts,
            last_alert_at,
            open_team_tasks,
            stalled_from,
            power_user,
            people,
            updated_at: _,
        } = self;
        *account == other.account
            && *name == other.name
            && *status == other.status
            && *csm == other.csm
            && *stage == other.stage
            && *progress == other.progress
            && *deal_won_at == other.deal_won_at
            && *aha_at == other.aha_at
            && *health == other.health
            && *goal_status == other.goal_status
            && *overdue_tasks == other.overdue_tasks
            && *open_alerts == other.open_alerts
            && *last_alert_at == other.last_alert_at
            && *open_team_tasks == other.open_team_tasks
            && *stalled_from == other.stalled_from
            && *power_user == other.power_user
            && *people == other.people
    }

    /// Stalled at `now`.
    pub fn stalled(&self, now: Timestamp) -> bool {
        self.status == "active" && self.stalled_from.is_some_and(|from| from <= now)
    }
}

/// Missed before at risk before on track; `achieved` only when every goal is.
fn goal_status(state: &AccountState) -> Option<GoalStatus> {
    let rank = |s: GoalStatus| match s {
        GoalStatus::Missed => 0,
        GoalStatus::AtRisk => 1,
        GoalStatus::OnTrack => 2,
        GoalStatus::Achieved => 3,
    };
    state
        .goals
        .iter()
        .map(|g| g.status)
        .min_by_key(|s| rank(*s))
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{DealRecord, Person};

    fn won(state: &mut AccountState, at: i64) {
        state.deals.push(DealRecord {
            source: "deals".into(),
            tenant: None,
            id: "d1".into(),
            name: None,
            owner_email: None,
            plan: None,
            seats: Some(10),
            amount: None,
            won_at: Timestamp(at),
            won_again: 0,
        });
    }

    #[test]
    fn summaries_that_differ_only_in_time_show_the_same() {
        let mut state = AccountState::new("acme", "v1", Timestamp(0));
        let before = Summary::of(&state, &HealthModel::default());
        state.updated_at = Timestamp(60_000);
        let later = Summary::of(&state, &HealthModel::default());
        won(&mut state, 60_000);
        let won = Summary::of(&state, &HealthModel::default());

        assert!(later.shows_the_same_as(&before));
        assert!(!won.shows_the_same_as(&before));
    }

    #[test]
    fn an_account_without_a_project_has_not_started() {
        let state = AccountState::new("acme", "v1", Timestamp(0));
        let summary = Summary::of(&state, &HealthModel::default());
        assert_eq!(summary.stage, "not_started");
        assert_eq!(summary.goal_status, None);
        assert!(!summary.stalled(Timestamp(i64::MAX)));
    }

    #[test]
    fn a_person_without_a_sign_in_stalls_the_account_72_hours_after_the_deal() {
        let mut state = AccountState::new("acme", "v1", Timestamp(0));
        won(&mut state, 1_000);
        state.people.push(Person::new("ann@acme.example", "Ann"));
        let mut signed_in = Person::new("bob@acme.example", "Bob");
        signed_in
            .seen
            .insert("academy.login".into(), Timestamp(2_000));
        state.people.push(signed_in);
        let summary = Summary::of(&state, &HealthModel::default());
        let due = Timestamp(1_000).plus(STALL_AFTER);
        assert_eq!(summary.stalled_from, Some(due));
        assert!(!summary.stalled(Timestamp(due.0 - 1)));
        assert!(summary.stalled(due));
    }

    #[test]
    fn a_core_journey_done_within_a_day_of_the_deal_makes_a_power_user() {
        let mut state = AccountState::new("acme", "v1", Timestamp(0));
        won(&mut state, 0);
        let mut ann = Person::new("ann@acme.example", "Ann");
        ann.journeys_completed
            .insert("admin-essentials".into(), Timestamp(POWER_USER_WITHIN.0));
        state.people.push(ann);
        assert!(Summary::of(&state, &HealthModel::default()).power_user);
        state.people[0].journeys_completed.insert(
            "admin-essentials".into(),
            Timestamp(POWER_USER_WITHIN.0 + 1),
        );
        assert!(!Summary::of(&state, &HealthModel::default()).power_user);
    }
}
