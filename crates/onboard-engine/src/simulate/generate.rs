//! The seeded generator: the cohort's accounts and people, and the external events each
//! simulated day brings (`deal.won`, `academy.login`, `module.completed`, `product.track`).
//!
//! Every random draw comes from a ChaCha8 stream seeded by the cohort's seed and what the
//! draw is about (account, person, day, purpose), never from a shared stream: the same seed
//! gives the same cohort whatever order things are asked in, and one person's reaction to an
//! email changes nobody else's draws.
//!
//! Each person's plan is drawn once: whether and when they first sign in to the Academy
//! (from the deal), whether they take their journey's core modules and the gap before each
//! (until they drop out), whether and when they first use the product, whether and when
//! their persona's Aha event follows. Their timeline (hours from day 0) follows from the plan
//! and their sign-in. The program changes it in one cheap way: someone who has not signed in
//! yet and gets an email after the deal's day signs in the next day with the cohort's
//! `reaction.signin_after_email` chance (one draw per person and day), which moves their
//! modules and, since people who sign in use the product more often, may start their use.
//!
//! Times are whole hours within the cohort's working hours, so many events and the timers
//! they set share an instant and the clock stops at few of them.

use super::cohort::Cohort;
use onboard_core::program::Program;
use onboard_core::{EventType, NewEvent, Timestamp};
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::collections::HashMap;

const HOUR_MS: i64 = 3_600_000;
/// The product event of a first use when the persona names no other.
const APP_OPENED: &str = "App Opened";

/// What a random stream is for: part of its seed.
#[derive(Clone, Copy)]
enum Purpose {
    Account = 1,
    Plan = 2,
    Use = 3,
    Reaction = 4,
    Subscription = 5,
}

/// A stream of its own for one purpose, from the seed and the ids of what it is about.
fn stream(seed: u64, purpose: Purpose, ids: &[u64]) -> ChaCha8Rng {
    let mut h = splitmix(seed ^ (purpose as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    for id in ids {
        h = splitmix(h ^ id.wrapping_add(0x632B_E59B_D9B4_E019));
    }
    ChaCha8Rng::seed_from_u64(h)
}

/// SplitMix64's finaliser: spreads close inputs over the whole range.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One simulated account.
#[derive(Debug, Clone)]
pub struct SimAccount {
    /// Its place in the cohort (from 0): part of the seed of its draws, whatever shard
    /// (see [`Generator::split`]) it is simulated in.
    pub index: usize,
    pub id: String,
    pub domain: String,
    /// The hour (from day 0, 00:00) its deal is won.
    pub won: i64,
    pub seats: u32,
    /// The plan its deal is won on, when the cohort draws plans.
    pub plan: Option<String>,
    pub people: Vec<SimPerson>,
}

/// One simulated person: who they are, their plan and their timeline.
#[derive(Debug, Clone)]
pub struct SimPerson {
    pub email: String,
    pub name: String,
    pub persona: String,
    journey: Option<String>,
    /// The core modules of the persona's journey, in order.
    modules: Vec<String>,
    aha_event: Option<String>,
    /// The persona's milestone product events other than the Aha: what they use before it.
    first_events: Vec<String>,
    plan: Plan,
    timeline: Timeline,
    /// The last day a reaction to an email was drawn for (one draw per day).
    reacted_on: Option<i64>,
}

/// A person's draws, made once.
#[derive(Debug, Clone)]
struct Plan {
    learns: bool,
    /// The gap before each core module.
    gaps: Vec<f64>,
    /// How many modules they complete before they drop out.
    n_modules: usize,
    /// Compared with the product probability, which depends on whether they signed in.
    product_draw: f64,
    use_delay: f64,
    aha: bool,
    aha_delay: f64,
}

/// When things happen to a person, in hours from day 0, 00:00.
#[derive(Debug, Clone, Default, PartialEq)]
struct Timeline {
    login: Option<i64>,
    modules: Vec<i64>,
    first_use: Option<i64>,
    aha: Option<i64>,
}

/// The cohort, drawn from its seed, and the events it makes day by day.
pub struct Generator {
    cohort: Cohort,
    start: Timestamp,
    accounts: Vec<SimAccount>,
    /// Person email → (account, person) indexes.
    people: HashMap<String, (usize, usize)>,
}

impl Generator {
    /// Draws the cohort's accounts and people for `program` (its personas, journeys and Aha
    /// events). Fails when the cohort names a persona the program does not have.
    pub fn new(cohort: &Cohort, program: &Program) -> Result<Self, String> {
        cohort.check()?;
        let start = cohort.start()?;
        if program.personas.is_empty() {
            return Err("the program has no personas to simulate".to_owned());
        }
        let (names, weights): (Vec<&str>, Vec<f64>) = if cohort.personas.is_empty() {
            program
                .personas
                .iter()
                .map(|p| (p.name.as_str(), 1.0))
                .unzip()
        } else {
            cohort
                .personas
                .iter()
                .map(|(name, weight)| (name.as_str(), *weight))
                .unzip()
        };
        for name in &names {
            if program.persona(name).is_none() {
                let known: Vec<&str> = program.personas.iter().map(|p| p.name.as_str()).collect();
                return Err(format!(
                    "personas.{name}: the program has no such persona (it has {})",
                    known.join(", ")
                ));
            }
        }
        let mix = WeightedIndex::new(&weights)
            .map_err(|e| format!("personas: the weights cannot be drawn from: {e}"))?;
        let first_persona = program.personas[0].name.as_str();
        let plans: Vec<&String> = cohort.plans.keys().collect();
        let plan_mix = if plans.is_empty() {
            None
        } else {
            Some(
                WeightedIndex::new(cohort.plans.values())
                    .map_err(|e| format!("plans: the weights cannot be drawn from: {e}"))?,
            )
        };

        let mut accounts = Vec::with_capacity(cohort.accounts);
        let mut people = HashMap::new();
        let n_accounts = cohort.accounts as u64;
        for n in 0..cohort.accounts {
            let mut rng = stream(cohort.seed, Purpose::Account, &[n as u64]);
            let id = format!("sim-{n:05}");
            let domain = format!("{id}.example");
            let day = (n as u64 * u64::from(cohort.won_over_days) / n_accounts) as i64;
            let won = day * 24 + working_hour(cohort, &mut rng);
            let n_people = rng.random_range(cohort.people.min..=cohort.people.max);
            let extra = rng.random_range(cohort.extra_seats.min..=cohort.extra_seats.max);
            let mut account = SimAccount {
                index: n,
                id,
                domain,
                won,
                seats: n_people + extra,
                // A stream of its own, so that drawing plans changes no other draw.
                plan: plan_mix.as_ref().map(|mix| {
                    let mut rng = stream(cohort.seed, Purpose::Subscription, &[n as u64]);
                    plans[mix.sample(&mut rng)].clone()
                }),
                people: Vec::with_capacity(n_people as usize),
            };
            for i in 0..n_people as usize {
                let persona = if i == 0 {
                    first_persona
                } else {
                    names[mix.sample(&mut rng)]
                };
                let person = person(cohort, program, &account, n, i, persona);
                people.insert(person.email.clone(), (n, i));
                account.people.push(person);
            }
            accounts.push(account);
        }
        Ok(Self {
            cohort: cohort.clone(),
            start,
            accounts,
            people,
        })
    }

    /// Splits the cohort into `shards` generators (at least one) that together make the
    /// same events and take the same reactions as this one: account `n` goes to shard
    /// `n % shards`, so deals won over the cohort's first days spread evenly. Accounts of a
    /// cohort never meet (each draw is the account's or its people's own), so each shard can
    /// run on an engine and store of its own.
    pub fn split(self, shards: usize) -> Vec<Generator> {
        let shards = shards.max(1);
        let mut parts: Vec<Generator> = (0..shards)
            .map(|_| Generator {
                cohort: self.cohort.clone(),
                start: self.start,
                accounts: Vec::new(),
                people: HashMap::new(),
            })
            .collect();
        for account in self.accounts {
            let part = &mut parts[account.index % shards];
            let local = part.accounts.len();
            for (i, person) in account.people.iter().enumerate() {
                part.people.insert(person.email.clone(), (local, i));
            }
            part.accounts.push(account);
        }
        parts
    }

    pub fn accounts(&self) -> &[SimAccount] {
        &self.accounts
    }

    /// The number of people in the cohort.
    pub fn n_people(&self) -> usize {
        self.people.len()
    }

    /// The persona of a person of the cohort, by email.
    pub fn persona_of(&self, email: &str) -> Option<&str> {
        let (n, i) = self.people.get(email)?;
        Some(self.accounts[*n].people[*i].persona.as_str())
    }

    /// The instant an hour (from day 0, 00:00) stands for.
    pub fn time(&self, hour: i64) -> Timestamp {
        Timestamp(self.start.millis() + hour * HOUR_MS)
    }

    /// The external events of day `day` (from 0), in time order.
    pub fn events_of_day(&self, day: u32) -> Vec<NewEvent> {
        let day = i64::from(day);
        let (first, last) = (day * 24, day * 24 + 24);
        let within = |h: i64| h >= first && h < last;
        let mut events: Vec<(i64, NewEvent)> = Vec::new();
        for account in &self.accounts {
            let n = account.index;
            if within(account.won) {
                events.push((account.won, self.deal_won(account)));
            }
            for (i, p) in account.people.iter().enumerate() {
                let t = &p.timeline;
                if let Some(h) = t.login.filter(|h| within(*h)) {
                    events.push((
                        h,
                        self.event(
                            format!("{}-login", key(account, i)),
                            "academy.login",
                            account,
                            h,
                            json!({ "email": p.email }),
                        ),
                    ));
                }
                for (slug, h) in p.modules.iter().zip(&t.modules) {
                    if within(*h) {
                        events.push((
                            *h,
                            self.event(
                                format!("{}-module-{slug}", key(account, i)),
                                "module.completed",
                                account,
                                *h,
                                json!({ "email": p.email, "journey": p.journey, "module": slug }),
                            ),
                        ));
                    }
                }
                if let Some(h) = t.first_use.filter(|h| within(*h)) {
                    let name = p.first_events.first().map_or(APP_OPENED, String::as_str);
                    events.push((h, self.track(account, i, p, h, name)));
                }
                if let (Some(h), Some(name)) = (t.aha.filter(|h| within(*h)), &p.aha_event) {
                    events.push((h, self.track(account, i, p, h, name)));
                }
                // Use on later days, once a day at most.
                if let Some(first_use) = t.first_use.filter(|h| *h < first) {
                    let mut rng = stream(
                        self.cohort.seed,
                        Purpose::Use,
                        &[n as u64, i as u64, day as u64],
                    );
                    if rng.random_bool(self.cohort.product.daily) {
                        let h = first + working_hour(&self.cohort, &mut rng);
                        let name = match (&p.aha_event, t.aha) {
                            (Some(aha), Some(at)) if at <= h => aha.as_str(),
                            _ if p.first_events.is_empty() => APP_OPENED,
                            _ => {
                                let k = (day - first_use / 24).max(0) as usize;
                                p.first_events[k % p.first_events.len()].as_str()
                            }
                        };
                        events.push((h, self.track(account, i, p, h, name)));
                    }
                }
            }
        }
        // Stable: events of one instant keep the order they were made in (a person's
        // sign-in before their modules).
        events.sort_by_key(|(h, _)| *h);
        events.into_iter().map(|(_, e)| e).collect()
    }

    /// A person of the cohort got an email at `at`: someone not signed in yet may sign in
    /// the next day (one draw per person and day; the deal's own day does not count, the
    /// welcome is what the sign-in plan already answers). Others are left alone.
    pub fn react_to_email(&mut self, to: &str, at: Timestamp) {
        let Some(&(local, i)) = self.people.get(to) else {
            return;
        };
        let hour = (at.millis() - self.start.millis()).div_euclid(HOUR_MS);
        let day = hour.div_euclid(24);
        let account = &self.accounts[local];
        let n = account.index;
        let won_day = account.won.div_euclid(24);
        let person = &account.people[i];
        let next_day = (day + 1) * 24;
        if day <= won_day
            || person.reacted_on == Some(day)
            || person.timeline.login.is_some_and(|h| h < next_day + 24)
        {
            return;
        }
        let mut rng = stream(
            self.cohort.seed,
            Purpose::Reaction,
            &[n as u64, i as u64, day as u64],
        );
        let signs_in = rng.random_bool(self.cohort.reaction.signin_after_email);
        let login = next_day + working_hour(&self.cohort, &mut rng);
        let cohort = &self.cohort;
        let account = &mut self.accounts[local];
        let won = account.won;
        let person = &mut account.people[i];
        person.reacted_on = Some(day);
        if signs_in {
            person.timeline = timeline(cohort, won, person, Some(login), next_day);
        }
    }

    fn deal_won(&self, account: &SimAccount) -> NewEvent {
        let contacts: Vec<serde_json::Value> = account
            .people
            .iter()
            .map(|p| {
                json!({
                    "email": p.email,
                    "name": p.name,
                    "title": p.persona,
                    "persona": p.persona,
                })
            })
            .collect();
        let mut data = json!({
            "deal_id": account.id,
            "account_name": format!("Simulated {}", account.id),
            "domain": account.domain,
            "seats": account.seats,
            "contacts": contacts,
        });
        if let Some(plan) = &account.plan {
            data["plan"] = json!(plan);
        }
        self.event(
            format!("{}-deal", account.id),
            "deal.won",
            account,
            account.won,
            data,
        )
    }

    fn track(&self, account: &SimAccount, i: usize, p: &SimPerson, h: i64, name: &str) -> NewEvent {
        self.event(
            format!("{}-use-{h}-{name}", key(account, i)),
            "product.track",
            account,
            h,
            json!({ "email": p.email, "user": p.email, "event": name }),
        )
    }

    fn event(
        &self,
        key: String,
        kind: &str,
        account: &SimAccount,
        hour: i64,
        data: serde_json::Value,
    ) -> NewEvent {
        NewEvent {
            key,
            kind: EventType::parse(kind).unwrap_or_else(|_| unreachable!("a known event type")),
            account: account.id.clone(),
            at: self.time(hour),
            data,
        }
    }
}

/// The key prefix of a person's events.
fn key(account: &SimAccount, i: usize) -> String {
    format!("{}-p{i}", account.id)
}

/// An hour of the working day, uniformly.
fn working_hour(cohort: &Cohort, rng: &mut impl Rng) -> i64 {
    let [from, to] = cohort.working_hours;
    i64::from(rng.random_range(from..to))
}

/// The first whole hour at or after `hours` that falls within working hours.
fn at_or_after(cohort: &Cohort, hours: f64) -> i64 {
    let [from, to] = cohort.working_hours;
    let (from, to) = (i64::from(from), i64::from(to));
    let h = hours.ceil() as i64;
    let (day, hour) = (h.div_euclid(24), h.rem_euclid(24));
    if hour < from {
        day * 24 + from
    } else if hour >= to {
        (day + 1) * 24 + from
    } else {
        h
    }
}

/// Draws person `i` of account `n` and their timeline.
fn person(
    cohort: &Cohort,
    program: &Program,
    account: &SimAccount,
    n: usize,
    i: usize,
    persona: &str,
) -> SimPerson {
    let profile = program.persona(persona);
    let journey = profile.and_then(|p| p.journey.clone());
    let modules: Vec<String> = journey
        .as_deref()
        .and_then(|j| program.journey(j))
        .map(|j| j.core.iter().map(|m| m.slug.clone()).collect())
        .unwrap_or_default();
    let aha_event = profile.and_then(|p| p.aha_event.clone());
    let first_events: Vec<String> = profile
        .map(|p| {
            p.milestones
                .iter()
                .filter_map(|m| match &m.reached_by {
                    onboard_core::program::MilestoneTrigger::Event(name)
                        if Some(name) != aha_event.as_ref() =>
                    {
                        Some(name.clone())
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();

    let mut rng = stream(cohort.seed, Purpose::Plan, &[n as u64, i as u64]);
    let signs_in = rng.random_bool(cohort.signin.probability);
    let signin_delay = cohort.signin.delay.sample_hours(&mut rng);
    let learns = rng.random_bool(cohort.learning.probability);
    let gaps: Vec<f64> = modules
        .iter()
        .map(|_| cohort.learning.gap.sample_hours(&mut rng))
        .collect();
    let mut n_modules = 0;
    for k in 0..modules.len() {
        if k > 0 && rng.random_bool(cohort.learning.dropout) {
            break;
        }
        n_modules += 1;
    }
    let product_draw: f64 = rng.random();
    let use_delay = cohort.product.delay.sample_hours(&mut rng);
    let aha = rng.random_bool(cohort.aha.probability);
    let aha_delay = cohort.aha.delay.sample_hours(&mut rng);
    let plan = Plan {
        learns,
        gaps,
        n_modules,
        product_draw,
        use_delay,
        aha,
        aha_delay,
    };
    let mut person = SimPerson {
        email: format!("{persona}-{i}@{}", account.domain).replace('_', "-"),
        name: format!("Person {i} of {}", account.id),
        persona: persona.to_owned(),
        journey,
        modules,
        aha_event,
        first_events,
        plan,
        timeline: Timeline::default(),
        reacted_on: None,
    };
    let login = signs_in.then(|| at_or_after(cohort, account.won as f64 + signin_delay));
    person.timeline = timeline(cohort, account.won, &person, login, account.won);
    person
}

/// A person's timeline from their plan, signing in at `login`. What happened before `now`
/// (hours) stays as it was: only the future is drawn again.
fn timeline(
    cohort: &Cohort,
    won: i64,
    person: &SimPerson,
    login: Option<i64>,
    now: i64,
) -> Timeline {
    let plan = &person.plan;
    let old = &person.timeline;
    let mut modules = Vec::new();
    if let (Some(login), true) = (login, plan.learns) {
        let mut t = login;
        for gap in plan.gaps.iter().take(plan.n_modules) {
            t = at_or_after(cohort, t as f64 + gap).max(t);
            modules.push(t);
        }
    }
    let (first_use, aha) = match old.first_use {
        Some(h) if h < now => (Some(h), old.aha),
        _ => {
            let p = if login.is_some() {
                cohort.product.probability_signed_in
            } else {
                cohort.product.probability
            };
            if plan.product_draw < p {
                let mut h = at_or_after(cohort, won as f64 + plan.use_delay);
                if h < now {
                    // Newly drawn into use by a late sign-in: they try it after signing in.
                    h = login.map_or(now, |l| at_or_after(cohort, l as f64 + 1.0));
                }
                let aha = (plan.aha && person.aha_event.is_some())
                    .then(|| at_or_after(cohort, h as f64 + plan.aha_delay));
                (Some(h), aha)
            } else {
                (None, None)
            }
        }
    };
    Timeline {
        login,
        modules,
        first_use,
        aha,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn example_program() -> Program {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../program");
        let source = crate::read_program_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        onboard_core::program::load(&source).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn events(cohort: &Cohort, days: u32) -> Vec<NewEvent> {
        let generator = Generator::new(cohort, &example_program()).unwrap();
        (0..days).flat_map(|d| generator.events_of_day(d)).collect()
    }

    fn small(seed: u64) -> Cohort {
        Cohort {
            accounts: 20,
            days: 20,
            seed,
            ..Cohort::default()
        }
    }

    #[test]
    fn the_same_seed_makes_the_same_events() {
        let a = events(&small(7), 20);
        assert!(a.len() > 100, "{} events", a.len());
        assert_eq!(a, events(&small(7), 20));
    }

    #[test]
    fn another_seed_makes_other_events() {
        assert_ne!(events(&small(7), 20), events(&small(8), 20));
    }

    #[test]
    fn every_account_wins_its_deal_first_and_events_come_in_time_order() {
        let all = events(&small(3), 20);
        let mut seen_deal = std::collections::HashSet::new();
        for e in &all {
            if e.kind.as_str() == "deal.won" {
                seen_deal.insert(e.account.clone());
            } else {
                assert!(seen_deal.contains(&e.account), "{} before its deal", e.key);
            }
        }
        assert_eq!(seen_deal.len(), 20);
        assert!(all.windows(2).all(|w| w[0].at <= w[1].at));
    }

    #[test]
    fn events_fall_on_whole_hours_within_working_hours() {
        let cohort = small(5);
        let generator = Generator::new(&cohort, &example_program()).unwrap();
        for e in (0..20).flat_map(|d| generator.events_of_day(d)) {
            let ms = e.at.millis() - generator.time(0).millis();
            assert_eq!(ms % HOUR_MS, 0, "{}", e.key);
            let hour = (ms / HOUR_MS) % 24;
            assert!((8..18).contains(&hour), "{} at hour {hour}", e.key);
        }
    }

    #[test]
    fn modules_follow_the_journey_in_order() {
        let all = events(&small(11), 20);
        let mut by_person: HashMap<String, Vec<String>> = HashMap::new();
        for e in all.iter().filter(|e| e.kind.as_str() == "module.completed") {
            by_person
                .entry(e.data["email"].as_str().unwrap().to_owned())
                .or_default()
                .push(e.data["module"].as_str().unwrap().to_owned());
        }
        assert!(!by_person.is_empty());
        for modules in by_person.values() {
            let mut sorted = modules.clone();
            sorted.sort();
            assert_eq!(modules, &sorted);
        }
    }

    #[test]
    fn shards_together_make_the_events_and_reactions_of_the_whole_cohort() {
        let cohort = Cohort {
            accounts: 23,
            ..small(8)
        };
        let mut whole = Generator::new(&cohort, &example_program()).unwrap();
        let mut shards = Generator::new(&cohort, &example_program())
            .unwrap()
            .split(3);
        let sizes: Vec<usize> = shards.iter().map(|s| s.accounts().len()).collect();
        assert_eq!(sizes, [8, 8, 7]);
        assert_eq!(
            shards.iter().map(Generator::n_people).sum::<usize>(),
            whole.n_people()
        );
        let by_key = |mut events: Vec<NewEvent>| {
            events.sort_by(|a, b| a.key.cmp(&b.key));
            events
        };
        for day in 0..20 {
            let split: Vec<NewEvent> = shards.iter().flat_map(|s| s.events_of_day(day)).collect();
            let all = whole.events_of_day(day);
            assert!(day > 0 || !all.is_empty());
            assert_eq!(by_key(split), by_key(all), "day {day}");
            // Everyone gets an email every day: each shard hears only of its own people.
            let emails: Vec<String> = whole
                .accounts()
                .iter()
                .flat_map(|a| a.people.iter().map(|p| p.email.clone()))
                .collect();
            let at = whole.time(i64::from(day) * 24 + 12);
            for email in &emails {
                whole.react_to_email(email, at);
                for shard in &mut shards {
                    shard.react_to_email(email, at);
                }
            }
        }
    }

    #[test]
    fn an_email_can_bring_someone_to_sign_in_the_next_day() {
        let cohort = Cohort {
            accounts: 30,
            signin: crate::simulate::cohort::SignIn {
                probability: 0.0,
                ..Default::default()
            },
            reaction: crate::simulate::cohort::Reaction {
                signin_after_email: 1.0,
            },
            ..Cohort::default()
        };
        let mut generator = Generator::new(&cohort, &example_program()).unwrap();
        assert!(!generator
            .events_of_day(3)
            .iter()
            .any(|e| e.kind.as_str() == "academy.login"));
        let email = generator.accounts()[0].people[0].email.clone();
        generator.react_to_email(&email, generator.time(2 * 24 + 9));
        let logins: Vec<NewEvent> = generator
            .events_of_day(3)
            .into_iter()
            .filter(|e| e.kind.as_str() == "academy.login")
            .collect();
        assert_eq!(logins.len(), 1);
        assert_eq!(logins[0].data["email"], email.as_str());
    }

    #[test]
    fn a_persona_the_program_lacks_is_refused() {
        let cohort = Cohort {
            personas: [("astronaut".to_owned(), 1.0)].into(),
            ..Cohort::default()
        };
        let error = Generator::new(&cohort, &example_program())
            .err()
            .unwrap_or_default();
        assert!(error.contains("astronaut"), "{error}");
    }
}
