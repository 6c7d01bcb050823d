//! The cohort a simulation runs: how many accounts, over how many days, from which seed, who
//! is in them and how they behave. Every field has a default, so `Cohort::default()` (or an
//! empty `--cohort` file) is a sensible cohort; a TOML file overrides what it names and
//! refuses fields it does not know.
//!
//! The format, with the defaults:
//!
//! ```toml
//! accounts = 200             # accounts in the cohort
//! days = 30                  # simulated days
//! seed = 1                   # same seed, same cohort, same figures
//! start = "2026-01-05T00:00:00Z"   # day 0, 00:00 (a Monday)
//! won_over_days = 1          # deals are won over the first N days, one account after another
//! working_hours = [8, 18]    # people act from the first hour (UTC) to before the second
//! people = { min = 2, max = 5 }    # people per account, uniformly
//! extra_seats = { min = 0, max = 10 } # seats bought beyond the people named in the deal
//! csm_minutes_per_task = 15  # CSM time a team task implies
//! csm_minutes_per_alert = 10 # and an alert
//!
//! [plans]                    # weights of the plans deals are won on (the deal's `plan`,
//! starter = 3                # which rules and autopilot segments read as account.plan);
//! pro = 1                    # empty: deals name no plan
//!
//! [personas]                 # weights of the persona mix; empty: every persona of the
//! admin = 1                  # program, equally (the first person of each account always
//! end_user = 3               # has the program's first persona, so every account has one)
//! executive = 1
//!
//! [signin]                   # first sign-in to the Academy, from the deal
//! probability = 0.6
//! delay = { kind = "lognormal", median = "30h", sigma = 1.0 }
//!
//! [learning]                 # modules of the persona's journey, in order, after sign-in
//! probability = 0.8          # of those who sign in, the share who take modules
//! gap = { kind = "exponential", mean = "20h" }   # before each module (the first: after sign-in)
//! dropout = 0.08             # the chance to stop before each next module
//!
//! [product]                  # first use of the product, from the deal
//! probability = 0.5          # for people who never sign in to the Academy
//! probability_signed_in = 0.85     # for people who do
//! delay = { kind = "lognormal", median = "36h", sigma = 1.0 }
//! daily = 0.45               # the chance of use on each later day
//!
//! [aha]                      # the persona's Aha event, after the first use
//! probability = 0.7
//! delay = { kind = "exponential", mean = "24h" }
//!
//! [reaction]                 # how people answer the program
//! signin_after_email = 0.25  # someone not yet signed in who gets an email (after the
//!                            # deal's day) signs in the next day with this chance
//! ```
//!
//! Delays are `{ kind = "fixed", value = "1d" }`, `{ kind = "uniform", min = "1h", max =
//! "3d" }`, `{ kind = "exponential", mean = "20h" }` or `{ kind = "lognormal", median =
//! "30h", sigma = 1.0 }`, durations as the program writes them.

use onboard_core::{Duration, Timestamp};
use rand::Rng;
use rand_distr::{Distribution, Exp, LogNormal};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The cohort and its behaviour (see the module documentation for the file format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cohort {
    pub accounts: usize,
    pub days: u32,
    pub seed: u64,
    /// Day 0, 00:00 (RFC 3339).
    pub start: String,
    pub won_over_days: u32,
    pub working_hours: [u32; 2],
    pub people: Range,
    pub extra_seats: Range,
    pub csm_minutes_per_task: f64,
    pub csm_minutes_per_alert: f64,
    pub plans: BTreeMap<String, f64>,
    pub personas: BTreeMap<String, f64>,
    pub signin: SignIn,
    pub learning: Learning,
    pub product: Product,
    pub aha: AhaBehaviour,
    pub reaction: Reaction,
}

impl Default for Cohort {
    fn default() -> Self {
        Self {
            accounts: 200,
            days: 30,
            seed: 1,
            start: "2026-01-05T00:00:00Z".to_owned(),
            won_over_days: 1,
            working_hours: [8, 18],
            people: Range { min: 2, max: 5 },
            extra_seats: Range { min: 0, max: 10 },
            csm_minutes_per_task: 15.0,
            csm_minutes_per_alert: 10.0,
            plans: BTreeMap::new(),
            personas: BTreeMap::new(),
            signin: SignIn::default(),
            learning: Learning::default(),
            product: Product::default(),
            aha: AhaBehaviour::default(),
            reaction: Reaction::default(),
        }
    }
}

/// Whole numbers from `min` to `max`, both included, uniformly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub min: u32,
    pub max: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignIn {
    pub probability: f64,
    pub delay: Delay,
}

impl Default for SignIn {
    fn default() -> Self {
        Self {
            probability: 0.6,
            delay: Delay::LogNormal {
                median: Span(Duration(30 * Duration::HOUR.0)),
                sigma: 1.0,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Learning {
    pub probability: f64,
    pub gap: Delay,
    pub dropout: f64,
}

impl Default for Learning {
    fn default() -> Self {
        Self {
            probability: 0.8,
            gap: Delay::Exponential {
                mean: Span(Duration(20 * Duration::HOUR.0)),
            },
            dropout: 0.08,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Product {
    pub probability: f64,
    pub probability_signed_in: f64,
    pub delay: Delay,
    pub daily: f64,
}

impl Default for Product {
    fn default() -> Self {
        Self {
            probability: 0.5,
            probability_signed_in: 0.85,
            delay: Delay::LogNormal {
                median: Span(Duration(36 * Duration::HOUR.0)),
                sigma: 1.0,
            },
            daily: 0.45,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AhaBehaviour {
    pub probability: f64,
    pub delay: Delay,
}

impl Default for AhaBehaviour {
    fn default() -> Self {
        Self {
            probability: 0.7,
            delay: Delay::Exponential {
                mean: Span(Duration(24 * Duration::HOUR.0)),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Reaction {
    pub signin_after_email: f64,
}

impl Default for Reaction {
    fn default() -> Self {
        Self {
            signin_after_email: 0.25,
        }
    }
}

/// A duration written as the program writes them (`"30h"`, `"2d"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Span(pub Duration);

impl TryFrom<String> for Span {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Duration::parse(&text).map(Span).map_err(|e| e.to_string())
    }
}

impl From<Span> for String {
    fn from(span: Span) -> Self {
        span.0.to_string()
    }
}

impl Span {
    fn hours(self) -> f64 {
        self.0.millis() as f64 / Duration::HOUR.0 as f64
    }
}

/// How long something takes: a distribution of delays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Delay {
    Fixed { value: Span },
    Uniform { min: Span, max: Span },
    Exponential { mean: Span },
    LogNormal { median: Span, sigma: f64 },
}

impl Delay {
    /// One delay, in hours.
    pub(super) fn sample_hours(&self, rng: &mut impl Rng) -> f64 {
        match self {
            Delay::Fixed { value } => value.hours(),
            Delay::Uniform { min, max } => {
                let (a, b) = (min.hours(), max.hours());
                if b > a {
                    rng.random_range(a..b)
                } else {
                    a
                }
            }
            Delay::Exponential { mean } => match Exp::new(1.0 / mean.hours()) {
                Ok(exp) => exp.sample(rng),
                Err(_) => mean.hours(),
            },
            Delay::LogNormal { median, sigma } => {
                match LogNormal::new(median.hours().ln(), *sigma) {
                    Ok(log_normal) => log_normal.sample(rng),
                    Err(_) => median.hours(),
                }
            }
        }
    }

    fn check(&self, what: &str) -> Result<(), String> {
        match self {
            Delay::Uniform { min, max } if max.0 < min.0 => {
                Err(format!("{what}: the uniform delay's max is below its min"))
            }
            Delay::LogNormal { sigma, .. } if !(sigma.is_finite() && *sigma >= 0.0) => Err(
                format!("{what}: a lognormal delay's sigma must be a number >= 0"),
            ),
            _ => Ok(()),
        }
    }
}

impl Cohort {
    /// Reads a cohort from a parsed file (TOML read into a JSON value): fields not given keep
    /// their defaults; an error names the field.
    pub fn from_value(value: serde_json::Value) -> Result<Self, String> {
        let cohort: Cohort = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                e.inner().to_string()
            } else {
                format!("{path}: {}", e.inner())
            }
        })?;
        cohort.check()?;
        Ok(cohort)
    }

    /// Day 0, 00:00.
    pub fn start(&self) -> Result<Timestamp, String> {
        Timestamp::parse_rfc3339(&self.start).map_err(|e| format!("start: {e}"))
    }

    /// Refuses what cannot be simulated, saying which field is wrong.
    pub fn check(&self) -> Result<(), String> {
        let probabilities = [
            ("signin.probability", self.signin.probability),
            ("learning.probability", self.learning.probability),
            ("learning.dropout", self.learning.dropout),
            ("product.probability", self.product.probability),
            (
                "product.probability_signed_in",
                self.product.probability_signed_in,
            ),
            ("product.daily", self.product.daily),
            ("aha.probability", self.aha.probability),
            (
                "reaction.signin_after_email",
                self.reaction.signin_after_email,
            ),
        ];
        for (name, p) in probabilities {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} must be between 0 and 1, not {p}"));
            }
        }
        if self.accounts == 0 {
            return Err("accounts must be at least 1".to_owned());
        }
        if self.days == 0 {
            return Err("days must be at least 1".to_owned());
        }
        if self.won_over_days == 0 || self.won_over_days > self.days {
            return Err(format!(
                "won_over_days must be from 1 to days ({}), not {}",
                self.days, self.won_over_days
            ));
        }
        let [from, to] = self.working_hours;
        if from >= to || to > 24 {
            return Err(format!(
                "working_hours must be [from, to] with from < to <= 24, not [{from}, {to}]"
            ));
        }
        for (name, range) in [("people", self.people), ("extra_seats", self.extra_seats)] {
            if range.max < range.min {
                return Err(format!("{name}: max is below min"));
            }
        }
        if self.people.min == 0 {
            return Err("people.min must be at least 1".to_owned());
        }
        for (name, weight) in &self.personas {
            if !(weight.is_finite() && *weight >= 0.0) {
                return Err(format!("personas.{name}: a weight must be a number >= 0"));
            }
        }
        for (name, weight) in &self.plans {
            if !(weight.is_finite() && *weight >= 0.0) {
                return Err(format!("plans.{name}: a weight must be a number >= 0"));
            }
        }
        if !self.plans.is_empty() && self.plans.values().all(|w| *w == 0.0) {
            return Err("plans: at least one plan needs a weight above 0".to_owned());
        }
        for (name, minutes) in [
            ("csm_minutes_per_task", self.csm_minutes_per_task),
            ("csm_minutes_per_alert", self.csm_minutes_per_alert),
        ] {
            if !(minutes.is_finite() && minutes >= 0.0) {
                return Err(format!("{name} must be a number >= 0"));
            }
        }
        self.signin.delay.check("signin.delay")?;
        self.learning.gap.check("learning.gap")?;
        self.product.delay.check("product.delay")?;
        self.aha.delay.check("aha.delay")?;
        self.start()?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_empty_file_is_the_default_cohort() {
        assert_eq!(Cohort::from_value(json!({})).unwrap(), Cohort::default());
    }

    #[test]
    fn a_file_overrides_what_it_names() {
        let cohort = Cohort::from_value(json!({
            "accounts": 50,
            "signin": { "delay": { "kind": "uniform", "min": "1h", "max": "2d" } },
            "personas": { "admin": 1.0, "end_user": 4.0 },
        }))
        .unwrap();
        assert_eq!(cohort.accounts, 50);
        assert_eq!(cohort.signin.probability, SignIn::default().probability);
        assert_eq!(
            cohort.signin.delay,
            Delay::Uniform {
                min: Span(Duration::HOUR),
                max: Span(Duration(2 * Duration::DAY.0)),
            }
        );
        assert_eq!(cohort.personas.len(), 2);
    }

    #[test]
    fn an_unknown_field_is_refused_with_its_path() {
        let error = Cohort::from_value(json!({ "signin": { "probabilty": 0.5 } })).unwrap_err();
        assert!(error.starts_with("signin"), "{error}");
        assert!(error.contains("probabilty"), "{error}");
    }

    #[test]
    fn a_probability_above_one_is_refused() {
        let error = Cohort::from_value(json!({ "product": { "daily": 1.5 } })).unwrap_err();
        assert!(error.contains("product.daily"), "{error}");
    }

    #[test]
    fn a_bad_duration_is_refused() {
        let error = Cohort::from_value(json!({
            "aha": { "delay": { "kind": "exponential", "mean": "soon" } }
        }))
        .unwrap_err();
        assert!(error.contains("aha.delay"), "{error}");
    }
}
