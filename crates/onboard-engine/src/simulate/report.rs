//! A simulation's outcome, read from the scratch store once the last day is settled: time to
//! value, Aha within 48 hours, journey completion per persona, goals, messages per person and
//! per rule, alerts and team tasks with the CSM hours they imply. Every figure is a function
//! of the program, the cohort and its seed; wall-clock figures are the caller's to add.

use super::cohort::Cohort;
use super::generate::Generator;
use onboard_core::program::Program;
use onboard_core::state::{AccountState, GoalStatus};
use onboard_store::{AccountFilter, Store};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// Rows read from the store per query.
const PAGE: i64 = 500;
const HOUR_MS: f64 = 3_600_000.0;

/// What a simulation found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub program: ProgramRef,
    pub cohort: CohortFigures,
    pub time_to_value: TimeToValue,
    /// By persona name.
    pub personas: BTreeMap<String, PersonaOutcome>,
    /// By goal name.
    pub goals: BTreeMap<String, GoalOutcome>,
    pub messages: Messages,
    pub csm: CsmLoad,
    pub events: EventCounts,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProgramRef {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CohortFigures {
    pub accounts: usize,
    pub people: usize,
    pub days: u32,
    pub seed: u64,
}

/// Time from the deal to the account's first Aha event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeToValue {
    pub accounts_with_aha: usize,
    pub share_with_aha: f64,
    /// Over the accounts that reached it; none when no account did.
    pub p50_hours: Option<f64>,
    pub p90_hours: Option<f64>,
    /// Of all accounts: the Aha within 48 hours of the deal.
    pub share_within_48h: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonaOutcome {
    pub people: usize,
    /// Signed in to the Academy at least once.
    pub signed_in: usize,
    pub signed_in_share: f64,
    /// Completed the core path of their persona's journey.
    pub journey_completed: usize,
    pub journey_completion: f64,
    /// Reached their persona's Aha event.
    pub aha: usize,
    pub aha_share: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GoalOutcome {
    /// Accounts the goal applies to.
    pub accounts: usize,
    pub achieved: usize,
    pub achieved_share: f64,
    pub on_track: usize,
    pub at_risk: usize,
    pub missed: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Messages {
    /// Every outbox message the program decided.
    pub total: usize,
    /// Emails to the customers' people, and their mean per person of the cohort.
    pub to_people: usize,
    pub per_person: f64,
    /// Emails to our team (CSMs, sales).
    pub to_team: usize,
    /// Posts to Slack or webhooks (alerts).
    pub posts: usize,
    /// By rule.
    pub by_rule: BTreeMap<String, RuleMessages>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleMessages {
    pub total: usize,
    pub to_people: usize,
    pub per_person: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CsmLoad {
    /// Team tasks created (one per identity: a second firing updates the open one).
    pub team_tasks: usize,
    /// Alerts raised (one per identity), and how often they were raised in all.
    pub alerts: usize,
    pub alert_firings: u64,
    pub minutes_per_task: f64,
    pub minutes_per_alert: f64,
    /// What the tasks and alerts imply at those minutes each.
    pub hours: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EventCounts {
    /// External events the cohort made (deals, sign-ins, modules, product use).
    pub simulated: usize,
    /// Events the processor decided, derived ones and fired timers included.
    pub processed: usize,
    pub timers_fired: usize,
}

/// A share rounded to four places (so that reports compare and read well).
fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        round(part as f64 / whole as f64, 4)
    }
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// What one shard's store holds at the end of a run: the figures that add up across shards.
#[derive(Default)]
pub(super) struct Partial {
    tally: Tally,
    n_accounts: usize,
    n_people: usize,
    messages: MessageTally,
    events: EventCounts,
}

/// Messages counted by kind, and by rule as (total, to people).
#[derive(Default)]
struct MessageTally {
    total: usize,
    to_people: usize,
    to_team: usize,
    posts: usize,
    by_rule: BTreeMap<String, (usize, usize)>,
}

impl Partial {
    fn merge(&mut self, other: Partial) {
        self.tally.merge(other.tally);
        self.n_accounts += other.n_accounts;
        self.n_people += other.n_people;
        let (m, o) = (&mut self.messages, other.messages);
        m.total += o.total;
        m.to_people += o.to_people;
        m.to_team += o.to_team;
        m.posts += o.posts;
        for (rule, (total, to_people)) in o.by_rule {
            let entry = m.by_rule.entry(rule).or_default();
            entry.0 += total;
            entry.1 += to_people;
        }
        self.events.simulated += other.events.simulated;
        self.events.processed += other.events.processed;
        self.events.timers_fired += other.events.timers_fired;
    }
}

/// Reads one shard's figures from its store: the accounts and people of `generator` (the
/// shard's part of the cohort) and every message the store holds.
pub(super) async fn collect(
    store: &dyn Store,
    program: &Program,
    generator: &Generator,
    events: EventCounts,
) -> onboard_store::Result<Partial> {
    let mut tally = Tally::default();
    for account in generator.accounts() {
        for p in &account.people {
            tally.personas.entry(p.persona.clone()).or_default().0 += 1;
        }
    }
    // Page by page: a large cohort's states do not fit in memory at once.
    let mut after = None;
    loop {
        let page = store
            .list_accounts(&AccountFilter {
                after: after.clone(),
                limit: PAGE,
                ..AccountFilter::default()
            })
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for account in &page {
            tally.add(account, program, generator);
        }
    }

    let team: HashSet<String> = program
        .team
        .iter()
        .map(|m| m.email.to_lowercase())
        .collect();
    let mut messages = MessageTally::default();
    super::each_message_page(store, PAGE, |page| {
        for m in &page {
            messages.total += 1;
            let rule = messages.by_rule.entry(m.rule.clone()).or_default();
            rule.0 += 1;
            if m.channel != "email" {
                messages.posts += 1;
            } else if team.contains(&m.to_email.to_lowercase()) {
                messages.to_team += 1;
            } else if generator.persona_of(&m.to_email.to_lowercase()).is_some() {
                messages.to_people += 1;
                rule.1 += 1;
            }
        }
    })
    .await?;
    Ok(Partial {
        tally,
        n_accounts: generator.accounts().len(),
        n_people: generator.n_people(),
        messages,
        events,
    })
}

/// The report of a run from its shards' figures.
pub(super) fn finish(shards: Vec<Partial>, program: &Program, cohort: &Cohort) -> Report {
    let mut all = Partial::default();
    for goal in &program.goals {
        all.tally
            .goals
            .insert(goal.name.clone(), GoalOutcome::default());
    }
    for shard in shards {
        all.merge(shard);
    }
    let Partial {
        tally,
        n_accounts,
        n_people,
        messages: m,
        events,
    } = all;

    let mut ttv = tally.ttv_hours;
    ttv.sort_by(f64::total_cmp);
    let within_48h = ttv.iter().filter(|h| **h <= 48.0).count();
    let time_to_value = TimeToValue {
        accounts_with_aha: ttv.len(),
        share_with_aha: share(ttv.len(), n_accounts),
        p50_hours: percentile(&ttv, 0.5).map(|h| round(h, 2)),
        p90_hours: percentile(&ttv, 0.9).map(|h| round(h, 2)),
        share_within_48h: share(within_48h, n_accounts),
    };
    let personas = tally
        .personas
        .into_iter()
        .map(|(name, (people, signed_in, completed, aha))| {
            (
                name,
                PersonaOutcome {
                    people,
                    signed_in,
                    signed_in_share: share(signed_in, people),
                    journey_completed: completed,
                    journey_completion: share(completed, people),
                    aha,
                    aha_share: share(aha, people),
                },
            )
        })
        .collect();
    let mut goals = tally.goals;
    for goal in goals.values_mut() {
        goal.achieved_share = share(goal.achieved, goal.accounts);
    }

    let per_person = |n: usize| round(n as f64 / n_people.max(1) as f64, 3);
    let messages = Messages {
        total: m.total,
        to_people: m.to_people,
        per_person: per_person(m.to_people),
        to_team: m.to_team,
        posts: m.posts,
        by_rule: m
            .by_rule
            .into_iter()
            .map(|(rule, (total, to_people))| {
                (
                    rule,
                    RuleMessages {
                        total,
                        to_people,
                        per_person: per_person(to_people),
                    },
                )
            })
            .collect(),
    };

    let (team_tasks, alerts, alert_firings) = (tally.team_tasks, tally.alerts, tally.alert_firings);
    let minutes = team_tasks as f64 * cohort.csm_minutes_per_task
        + alerts as f64 * cohort.csm_minutes_per_alert;
    let csm = CsmLoad {
        team_tasks,
        alerts,
        alert_firings,
        minutes_per_task: cohort.csm_minutes_per_task,
        minutes_per_alert: cohort.csm_minutes_per_alert,
        hours: round(minutes / 60.0, 2),
    };

    Report {
        program: ProgramRef {
            name: program.name.clone(),
            version: program.version.0.clone(),
        },
        cohort: CohortFigures {
            accounts: n_accounts,
            people: n_people,
            days: cohort.days,
            seed: cohort.seed,
        },
        time_to_value,
        personas,
        goals,
        messages,
        csm,
        events,
    }
}

/// The figures read off account states, one page at a time.
#[derive(Default)]
struct Tally {
    ttv_hours: Vec<f64>,
    /// Persona → (people, signed in, journey completed, Aha).
    personas: BTreeMap<String, (usize, usize, usize, usize)>,
    goals: BTreeMap<String, GoalOutcome>,
    team_tasks: usize,
    alerts: usize,
    alert_firings: u64,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.ttv_hours.extend(other.ttv_hours);
        for (persona, (people, signed_in, completed, aha)) in other.personas {
            let entry = self.personas.entry(persona).or_default();
            entry.0 += people;
            entry.1 += signed_in;
            entry.2 += completed;
            entry.3 += aha;
        }
        for (name, goal) in other.goals {
            let entry = self.goals.entry(name).or_default();
            entry.accounts += goal.accounts;
            entry.achieved += goal.achieved;
            entry.on_track += goal.on_track;
            entry.at_risk += goal.at_risk;
            entry.missed += goal.missed;
        }
        self.team_tasks += other.team_tasks;
        self.alerts += other.alerts;
        self.alert_firings += other.alert_firings;
    }

    fn add(&mut self, account: &AccountState, program: &Program, generator: &Generator) {
        if let Some(ms) = account.aha.as_ref().and_then(|a| a.ttv_ms) {
            self.ttv_hours.push(ms as f64 / HOUR_MS);
        }
        for person in &account.people {
            let Some(persona) = generator.persona_of(&person.email) else {
                continue;
            };
            let journey = program.persona(persona).and_then(|p| p.journey.as_deref());
            let entry = self.personas.entry(persona.to_owned()).or_default();
            if person.seen.contains_key("academy.login") {
                entry.1 += 1;
            }
            if journey.is_some_and(|j| person.journeys_completed.contains_key(j)) {
                entry.2 += 1;
            }
            if person.aha_at.is_some() {
                entry.3 += 1;
            }
        }
        for goal in &account.goals {
            let entry = self.goals.entry(goal.name.clone()).or_default();
            entry.accounts += 1;
            match goal.status {
                GoalStatus::Achieved => entry.achieved += 1,
                GoalStatus::OnTrack => entry.on_track += 1,
                GoalStatus::AtRisk => entry.at_risk += 1,
                GoalStatus::Missed => entry.missed += 1,
            }
        }
        self.team_tasks += account.team_tasks.len();
        self.alerts += account.alerts.len();
        self.alert_firings += account
            .alerts
            .iter()
            .map(|a| u64::from(a.count))
            .sum::<u64>();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.5), Some(5.0));
        assert_eq!(percentile(&values, 0.9), Some(9.0));
        assert_eq!(percentile(&[3.0], 0.9), Some(3.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
