//! Product-usage health: what an account's product events say about its adoption, kept as a
//! small state that every event updates in constant time ([`Usage::record`]), and assessed
//! at any `now` from that state alone ([`assess`]), so health decays on its own when the
//! events stop and no batch job is needed.
//!
//! The state holds, per product user (`data.user`, with the person's email once linked), the
//! last use and the last use of each of the program's key features, plus one count of active
//! users per day for the trend. It is bounded: users idle for two windows are dropped when a
//! new day starts, at most [`MAX_USERS`] are kept (the longest idle go first), and the daily
//! counts cover two windows. Anonymous users (`anon:…`) are not seat holders and are not
//! counted.
//!
//! The assessment, for a window of `W` days (default 35):
//! - **active users**: users whose last use is within the window; against the seats of the
//!   latest deal (else the account's people);
//! - **adoption** of each key feature: the share of active users who used it in the window;
//! - **trend**: the average daily active users of the window against those of the window
//!   before it (over the part of it since the first use): `rising` from +10 %, `falling`
//!   from −10 %, else `steady`; `new` while there is less than one window of history;
//! - **score** 0–100: 50 % seat activation (active users / seats, at most 1), 30 % mean
//!   adoption of the key features (left out when the program names none, the rest scaled
//!   up), 20 % trend (rising 1, steady and new 0.5, falling 0); `good` from 70, `fair` from
//!   40, else `poor`; with the reasons in words and numbers.
//!
//! What does not live here: which events count (the decision function calls
//! [`Usage::record`]) and any I/O.

use crate::program::HealthModel;
use crate::state::AccountState;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most product users kept per account.
pub const MAX_USERS: usize = 5_000;

const DAY_MS: i64 = 86_400_000;

/// Weights of the score's parts.
const ACTIVATION_WEIGHT: f64 = 50.0;
const ADOPTION_WEIGHT: f64 = 30.0;
const TREND_WEIGHT: f64 = 20.0;
/// Bands of the score.
pub const GOOD_FROM: u32 = 70;
pub const FAIR_FROM: u32 = 40;

/// An account's usage, as far as health needs it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Product users by id (`data.user`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub users: crate::shared::SharedMap<String, ProductUser>,
    /// Active users per day with any use, oldest first, over the last two windows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<DailyActive>,
    /// The first use recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_at: Option<Timestamp>,
}

/// One product user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductUser {
    /// The person's email (lower case), once the product linked the user to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The last use of the product.
    pub last_at: Timestamp,
    /// The last use of each key feature.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub features: BTreeMap<String, Timestamp>,
}

/// How many users used the product on one day (days since the epoch, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyActive {
    pub day: i64,
    pub users: u32,
}

impl Usage {
    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.days.is_empty() && self.first_at.is_none()
    }

    /// Records one use of the product by `user` at `at`: `feature` is the event's name when
    /// it is one of the model's key features. Anonymous users are ignored. A use older than
    /// the user's last one on an earlier day adds nothing to the daily counts.
    pub fn record(
        &mut self,
        model: &HealthModel,
        user: &str,
        email: Option<&str>,
        feature: Option<&str>,
        at: Timestamp,
    ) {
        if user.is_empty() || user.starts_with("anon:") {
            return;
        }
        let day = at.millis().div_euclid(DAY_MS);
        if !self.users.contains_key(user) && self.users.len() >= MAX_USERS {
            self.forget_stale(model, at);
            if self.users.len() >= MAX_USERS {
                let idlest = self
                    .users
                    .iter()
                    .min_by_key(|(_, u)| u.last_at)
                    .map(|(id, _)| id.clone());
                if let Some(id) = idlest {
                    self.users.remove(&id);
                }
            }
        }
        let known = self.users.get(user).map(|u| u.last_at);
        let first_today = known.is_none_or(|last| last.millis().div_euclid(DAY_MS) < day);
        let entry = self
            .users
            .entry(user.to_owned())
            .or_insert_with(|| ProductUser {
                email: None,
                last_at: at,
                features: BTreeMap::new(),
            });
        if entry.last_at < at {
            entry.last_at = at;
        }
        if let Some(email) = email {
            entry.email = Some(email.to_lowercase());
        }
        if let Some(feature) = feature {
            let last = entry.features.entry(feature.to_owned()).or_insert(at);
            if *last < at {
                *last = at;
            }
        }
        if self.first_at.is_none_or(|first| at < first) {
            self.first_at = Some(at);
        }
        if first_today {
            self.count_day(model, day, at);
        }
    }

    /// Links a known product user to a person's email (`product.identify`).
    pub fn link(&mut self, user: &str, email: &str) {
        if let Some(entry) = self.users.get_mut(user) {
            entry.email = Some(email.to_lowercase());
        }
    }

    /// Adds one active user to `day`; a new day also trims the ring and forgets stale users.
    fn count_day(&mut self, model: &HealthModel, day: i64, at: Timestamp) {
        match self.days.last_mut() {
            Some(last) if last.day == day => last.users += 1,
            Some(last) if last.day > day => match self.days.binary_search_by_key(&day, |d| d.day) {
                Ok(i) => self.days[i].users += 1,
                Err(i) => self.days.insert(i, DailyActive { day, users: 1 }),
            },
            _ => {
                self.days.push(DailyActive { day, users: 1 });
                self.forget_stale(model, at);
            }
        }
        let keep_from = self.days.last().map_or(day, |d| d.day) - 2 * model.window_days() + 1;
        let stale = self.days.partition_point(|d| d.day < keep_from);
        self.days.drain(..stale);
    }

    /// Drops the users idle for two windows or more.
    fn forget_stale(&mut self, model: &HealthModel, at: Timestamp) {
        let horizon = at.millis() - 2 * model.window.millis();
        self.users.retain(|_, u| u.last_at.millis() > horizon);
    }

    /// Users active in the window ending at `now`.
    pub fn active_users(
        &self,
        model: &HealthModel,
        now: Timestamp,
    ) -> impl Iterator<Item = (&String, &ProductUser)> {
        let since = now.millis() - model.window.millis();
        self.users
            .iter()
            .filter(move |(_, u)| u.last_at.millis() > since)
    }

    /// The last use by any product user linked to `email`.
    pub fn last_active(&self, email: &str) -> Option<Timestamp> {
        self.users
            .values()
            .filter(|u| u.email.as_deref() == Some(email))
            .map(|u| u.last_at)
            .max()
    }
}

/// Where an account's product usage stands at one time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    /// 0 to 100.
    pub score: u32,
    pub band: Band,
    pub window_days: i64,
    pub active_users: u32,
    /// Seats of the latest deal, else the account's people.
    pub seats: u32,
    /// Active users per seat, 0 to 1 (and more when more users than seats are active).
    pub seat_share: f64,
    pub features: Vec<FeatureAdoption>,
    pub trend: Trend,
    /// Why, in words, with the numbers.
    pub reasons: Vec<String>,
}

/// Good, fair or poor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    Good,
    Fair,
    Poor,
}

impl Band {
    pub fn of(score: u32) -> Self {
        if score >= GOOD_FROM {
            Band::Good
        } else if score >= FAIR_FROM {
            Band::Fair
        } else {
            Band::Poor
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Band::Good => "good",
            Band::Fair => "fair",
            Band::Poor => "poor",
        }
    }
}

/// How many active users used one key feature in the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureAdoption {
    pub feature: String,
    pub users: u32,
    /// Of the active users, 0 to 1.
    pub share: f64,
}

/// The direction of usage: this window's average daily active users against the last's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    pub direction: Direction,
    /// Average daily active users over the window.
    pub daily_active: f64,
    /// The same over the window before, when there is one.
    pub previous_daily_active: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Rising,
    Steady,
    Falling,
    /// Less than one window of history.
    New,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Rising => "rising",
            Direction::Steady => "steady",
            Direction::Falling => "falling",
            Direction::New => "new",
        }
    }
}

/// The seats health counts against: the latest deal's, else the account's people.
pub fn seats(state: &AccountState) -> u32 {
    state
        .deals
        .last()
        .and_then(|d| d.seats)
        .unwrap_or_else(|| u32::try_from(state.people.len()).unwrap_or(u32::MAX))
}

/// The account's usage health at `now`.
pub fn assess(state: &AccountState, model: &HealthModel, now: Timestamp) -> Health {
    let usage = &state.usage;
    let days = model.window_days();
    let active: Vec<&ProductUser> = usage.active_users(model, now).map(|(_, u)| u).collect();
    let n_active = u32::try_from(active.len()).unwrap_or(u32::MAX);
    let seats = seats(state);
    let seat_share = if seats > 0 {
        f64::from(n_active) / f64::from(seats)
    } else {
        0.0
    };
    let mut reasons = Vec::new();
    if seats > 0 {
        reasons.push(format!(
            "{n_active} of {seats} seats active in the last {days} days ({} %)",
            percent(seat_share)
        ));
    } else {
        reasons.push(format!(
            "{n_active} users active in the last {days} days; no seats are known"
        ));
    }

    let since = now.millis() - model.window.millis();
    let features: Vec<FeatureAdoption> = model
        .key_features
        .iter()
        .map(|feature| {
            let users = active
                .iter()
                .filter(|u| u.features.get(feature).is_some_and(|t| t.millis() > since))
                .count();
            let users = u32::try_from(users).unwrap_or(u32::MAX);
            let share = if n_active > 0 {
                f64::from(users) / f64::from(n_active)
            } else {
                0.0
            };
            FeatureAdoption {
                feature: feature.clone(),
                users,
                share,
            }
        })
        .collect();
    for f in &features {
        if f.users == 0 {
            reasons.push(format!("nobody used {} in the last {days} days", f.feature));
        } else {
            reasons.push(format!(
                "{} used by {} of {n_active} active users ({} %)",
                f.feature,
                f.users,
                percent(f.share)
            ));
        }
    }

    let trend = trend(usage, model, now);
    reasons.push(match trend.direction {
        Direction::New => format!("less than {days} days of usage: no trend yet"),
        direction => format!(
            "usage {}: {:.1} daily active users on average over the last {days} days, against {:.1} the {days} days before",
            direction.as_str(),
            trend.daily_active,
            trend.previous_daily_active.unwrap_or(0.0)
        ),
    });

    let activation = seat_share.min(1.0);
    let trend_value = match trend.direction {
        Direction::Rising => 1.0,
        Direction::Steady | Direction::New => 0.5,
        Direction::Falling => 0.0,
    };
    let (mut total, mut weights) = (
        ACTIVATION_WEIGHT * activation + TREND_WEIGHT * trend_value,
        ACTIVATION_WEIGHT + TREND_WEIGHT,
    );
    if !features.is_empty() {
        let adoption = features.iter().map(|f| f.share).sum::<f64>() / features.len() as f64;
        total += ADOPTION_WEIGHT * adoption;
        weights += ADOPTION_WEIGHT;
    }
    let score = (100.0 * total / weights).round().clamp(0.0, 100.0) as u32;
    Health {
        score,
        band: Band::of(score),
        window_days: days,
        active_users: n_active,
        seats,
        seat_share,
        features,
        trend,
        reasons,
    }
}

/// This window's average daily active users against the window before's.
fn trend(usage: &Usage, model: &HealthModel, now: Timestamp) -> Trend {
    let w = model.window_days();
    let today = now.millis().div_euclid(DAY_MS);
    let sum = |from: i64, to: i64| -> u64 {
        usage
            .days
            .iter()
            .filter(|d| d.day > from && d.day <= to)
            .map(|d| u64::from(d.users))
            .sum()
    };
    let current = sum(today - w, today) as f64 / w as f64;
    let first_day = usage.first_at.map(|t| t.millis().div_euclid(DAY_MS));
    let Some(first_day) = first_day.filter(|&first| first <= today - w) else {
        return Trend {
            direction: Direction::New,
            daily_active: current,
            previous_daily_active: None,
        };
    };
    let covered = (today - w - first_day + 1).clamp(1, w);
    let previous = sum(today - 2 * w, today - w) as f64 / covered as f64;
    let direction = if current >= previous * 1.1 && current > previous {
        Direction::Rising
    } else if current <= previous * 0.9 && current < previous {
        Direction::Falling
    } else {
        Direction::Steady
    };
    Trend {
        direction,
        daily_active: current,
        previous_daily_active: Some(previous),
    }
}

/// A share as a whole percentage.
fn percent(share: f64) -> i64 {
    (share * 100.0).round() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::DealRecord;

    /// 2026-01-01T00:00:00Z.
    const T0: Timestamp = Timestamp(1_767_225_600_000);

    fn day(n: i64) -> Timestamp {
        Timestamp(T0.millis() + n * DAY_MS)
    }

    fn model(features: &[&str]) -> HealthModel {
        HealthModel {
            key_features: features.iter().map(|f| (*f).to_owned()).collect(),
            ..HealthModel::default()
        }
    }

    /// An account with a deal of `seats` seats won at `T0`.
    fn account(seats: u32) -> AccountState {
        let mut state = AccountState::new("acme", "v1", T0);
        state.deals.push(DealRecord {
            source: "deals".to_owned(),
            tenant: None,
            id: "d1".to_owned(),
            name: None,
            owner_email: None,
            plan: None,
            seats: Some(seats),
            amount: None,
            won_at: T0,
            won_again: 0,
        });
        state
    }

    /// `user` used the product at `at` (event `name`, a key feature when the model says so).
    fn used(state: &mut AccountState, model: &HealthModel, user: &str, name: &str, at: Timestamp) {
        let feature = model.key_features.iter().any(|f| f == name).then_some(name);
        state.usage.record(model, user, None, feature, at);
    }

    #[test]
    fn active_users_in_the_window_are_counted_against_the_seats() {
        let model = model(&[]);
        let mut state = account(20);
        for n in 0..4 {
            used(&mut state, &model, &format!("u{n}"), "Opened", day(1));
        }
        // Active 40 days before: outside the 35-day window.
        used(&mut state, &model, "old", "Opened", day(-30));
        let health = assess(&state, &model, day(10));
        assert_eq!(health.active_users, 4);
        assert_eq!(health.seats, 20);
        assert!((health.seat_share - 0.2).abs() < 1e-9);
        assert_eq!(
            health.reasons[0],
            "4 of 20 seats active in the last 35 days (20 %)"
        );
    }

    #[test]
    fn anonymous_users_are_not_counted() {
        let model = model(&[]);
        let mut state = account(5);
        used(&mut state, &model, "anon:123", "Opened", day(1));
        assert_eq!(assess(&state, &model, day(1)).active_users, 0);
        assert!(state.usage.users.is_empty());
    }

    #[test]
    fn adoption_is_the_share_of_active_users_who_used_each_key_feature() {
        let model = model(&["Lead Imported", "Deal Created"]);
        let mut state = account(4);
        for user in ["a", "b", "c", "d"] {
            used(&mut state, &model, user, "Opened", day(1));
        }
        used(&mut state, &model, "a", "Lead Imported", day(2));
        used(&mut state, &model, "b", "Lead Imported", day(2));
        used(&mut state, &model, "c", "Lead Imported", day(3));
        let health = assess(&state, &model, day(5));
        let adoption: Vec<(&str, u32, f64)> = health
            .features
            .iter()
            .map(|f| (f.feature.as_str(), f.users, f.share))
            .collect();
        assert_eq!(
            adoption,
            [("Lead Imported", 3, 0.75), ("Deal Created", 0, 0.0)]
        );
        assert!(health
            .reasons
            .contains(&"Lead Imported used by 3 of 4 active users (75 %)".to_owned()));
        assert!(health
            .reasons
            .contains(&"nobody used Deal Created in the last 35 days".to_owned()));
    }

    #[test]
    fn a_fully_active_account_using_every_feature_is_good() {
        let model = model(&["Lead Imported"]);
        let mut state = account(2);
        for user in ["a", "b"] {
            used(&mut state, &model, user, "Lead Imported", day(1));
        }
        let health = assess(&state, &model, day(2));
        // 50 (all seats) + 30 (full adoption) + 10 (new: no trend yet) of 100.
        assert_eq!(health.score, 90);
        assert_eq!(health.band, Band::Good);
        assert_eq!(health.trend.direction, Direction::New);
        assert!(health
            .reasons
            .contains(&"less than 35 days of usage: no trend yet".to_owned()));
    }

    #[test]
    fn half_the_seats_active_without_the_key_feature_is_fair() {
        let model = model(&["Lead Imported"]);
        let mut state = account(2);
        used(&mut state, &model, "a", "Opened", day(1));
        let health = assess(&state, &model, day(2));
        // 25 (half the seats) + 0 (no adoption) + 10 (new) of 100.
        assert_eq!(health.score, 35);
        assert_eq!(health.band, Band::Poor);
        used(&mut state, &model, "a", "Lead Imported", day(2));
        let health = assess(&state, &model, day(2));
        assert_eq!(health.score, 65);
        assert_eq!(health.band, Band::Fair);
    }

    #[test]
    fn health_decays_without_events() {
        let model = model(&["Lead Imported"]);
        let mut state = account(2);
        for user in ["a", "b"] {
            used(&mut state, &model, user, "Lead Imported", day(1));
        }
        assert_eq!(assess(&state, &model, day(2)).band, Band::Good);
        let later = assess(&state, &model, day(60));
        assert_eq!(later.active_users, 0);
        assert_eq!(later.trend.direction, Direction::Falling);
        assert_eq!(later.score, 0);
        assert_eq!(later.band, Band::Poor);
        assert_eq!(
            later.reasons[0],
            "0 of 2 seats active in the last 35 days (0 %)"
        );
    }

    #[test]
    fn more_daily_use_than_the_window_before_is_a_rising_trend() {
        let model = model(&[]);
        let mut state = account(3);
        for d in 0..35 {
            used(&mut state, &model, "a", "Opened", day(d));
        }
        for d in 35..70 {
            for user in ["a", "b", "c"] {
                used(&mut state, &model, user, "Opened", day(d));
            }
        }
        let trend = assess(&state, &model, day(69)).trend;
        assert_eq!(trend.direction, Direction::Rising);
        assert_eq!(trend.daily_active, 3.0);
        assert_eq!(trend.previous_daily_active, Some(1.0));
    }

    #[test]
    fn the_state_stays_bounded_for_a_user_active_for_400_days() {
        let model = model(&["Lead Imported"]);
        let mut state = account(1);
        for d in 0..400 {
            used(&mut state, &model, "a", "Lead Imported", day(d));
            used(&mut state, &model, &format!("once-{d}"), "Opened", day(d));
        }
        assert!(state.usage.days.len() <= 70, "{}", state.usage.days.len());
        // Users idle for two windows are forgotten.
        assert!(state.usage.users.len() <= 71, "{}", state.usage.users.len());
        assert_eq!(state.usage.users["a"].features.len(), 1);
        assert_eq!(assess(&state, &model, day(399)).active_users, 36);
    }

    #[test]
    fn one_user_counts_once_a_day_however_often_they_use_the_product() {
        let model = model(&[]);
        let mut state = account(1);
        for hour in 0..10 {
            let at = Timestamp(day(3).millis() + hour * 3_600_000);
            used(&mut state, &model, "a", "Opened", at);
        }
        assert_eq!(
            state.usage.days,
            [DailyActive {
                day: day(3).millis() / DAY_MS,
                users: 1
            }]
        );
    }
}
