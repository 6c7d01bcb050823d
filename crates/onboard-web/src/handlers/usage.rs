//! Product usage and the way to value: `GET /api/accounts/{id}/health` (an account's usage
//! health now, its Aha and time to value, and where each of its people stands) and
//! `GET /api/ttv` (the distribution of time to value across accounts, per persona or per
//! cohort). The numbers come from the core (`onboard_core::health`); nothing is computed
//! ahead of time, so health read later has decayed with the time that passed.

use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, Params};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use onboard_core::health::{self, Health};
use onboard_core::program::Program;
use onboard_core::state::AccountState;
use onboard_core::Timestamp;
use onboard_store::AccountFilter;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

const HOUR_MS: f64 = 3_600_000.0;
/// Accounts read per page when going through all of them.
const PAGE: i64 = 500;

/// An account's product-usage health now, with its Aha and its people.
#[derive(Serialize, ToSchema)]
pub struct AccountHealth {
    pub account: String,
    /// The time the health is assessed at (the engine's clock).
    #[schema(format = DateTime)]
    pub at: String,
    /// 0 to 100: half seat activation, 30 % key-feature adoption, 20 % trend.
    pub score: u32,
    #[schema(value_type = HealthBand)]
    pub band: &'static str,
    /// The rolling window of activity, in days (`[health] window`).
    pub window_days: i64,
    /// Product users active in the window.
    pub active_users: u32,
    /// Seats of the latest deal, else the account's people.
    pub seats: u32,
    /// Active users per seat.
    pub seat_share: f64,
    /// Adoption of each key feature (`[health] key_features`), in the program's order.
    pub features: Vec<FeatureView>,
    pub trend: TrendView,
    /// Why, in words, with the numbers.
    pub reasons: Vec<String>,
    /// The account's first Aha event; null until reached.
    pub aha: Option<AhaView>,
    /// The account's people and where each stands on the way to value.
    pub people: Vec<PersonUsage>,
}

/// `good` (score from 70), `fair` (from 40) or `poor`.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Describes `health::Band::as_str`.
pub enum HealthBand {
    Good,
    Fair,
    Poor,
}

/// How many active users used one key feature in the window.
#[derive(Serialize, ToSchema)]
pub struct FeatureView {
    /// The product event's name.
    pub feature: String,
    pub users: u32,
    /// Of the active users, 0 to 1.
    pub share: f64,
}

/// This window's average daily active users against the window before's.
#[derive(Serialize, ToSchema)]
pub struct TrendView {
    #[schema(value_type = TrendDirection)]
    pub direction: &'static str,
    pub daily_active: f64,
    /// Null while there is less than one window of history.
    pub previous_daily_active: Option<f64>,
}

/// `rising` (+10 % or more), `falling` (−10 % or more), `steady`, or `new` (less than one
/// window of history).
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Describes `health::Direction::as_str`.
pub enum TrendDirection {
    Rising,
    Steady,
    Falling,
    New,
}

/// An account's first Aha event.
#[derive(Serialize, ToSchema)]
pub struct AhaView {
    #[schema(format = DateTime)]
    pub at: String,
    /// The person who reached it; null when the product user is linked to nobody.
    pub email: Option<String>,
    pub persona: Option<String>,
    /// The product event's name.
    pub event: String,
    /// Time to value, from the first won deal; null when no deal is known.
    pub ttv_ms: Option<i64>,
    pub ttv_hours: Option<f64>,
}

/// One person on the way to value.
#[derive(Serialize, ToSchema)]
pub struct PersonUsage {
    pub email: String,
    pub name: String,
    pub persona: Option<String>,
    /// The last product use by a product user linked to the person.
    #[schema(format = DateTime)]
    pub last_active_at: Option<String>,
    /// Their first Aha event (their persona's).
    #[schema(format = DateTime)]
    pub aha_at: Option<String>,
    /// Their persona's micro-milestones, in the program's order.
    pub milestones: Vec<MilestoneView>,
}

/// A micro-milestone and when the person first reached it.
#[derive(Serialize, ToSchema)]
pub struct MilestoneView {
    /// As the program writes it: a product event name or `module:<name>`.
    pub milestone: String,
    /// Null while not reached.
    #[schema(format = DateTime)]
    pub reached_at: Option<String>,
}

/// An account's usage health now: active users against seats over the rolling window,
/// adoption of the key features, trend, a 0–100 score with its band and reasons; its Aha
/// and time to value; and per person their last use, first Aha and milestones.
#[utoipa::path(
    get,
    path = "/api/accounts/{id}/health",
    tag = "usage",
    operation_id = "account_health",
    params(("id" = String, Path, description = "The account key")),
    responses(
        (status = 200, description = "The account's usage health now", body = AccountHealth),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No account has this key", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("bearer" = []))
)]
pub async fn account_health(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<AccountHealth>> {
    let account = state
        .engine
        .store()
        .account(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no account `{id}`")))?;
    let program = state.engine.program();
    let now = state.engine.now();
    let health = health::assess(&account, &program.health, now);
    Ok(Json(health_view(&account, program, health, now)))
}

fn health_view(
    account: &AccountState,
    program: &Program,
    health: Health,
    now: Timestamp,
) -> AccountHealth {
    let people = account
        .people
        .iter()
        .map(|p| {
            let milestones = p
                .persona
                .as_deref()
                .and_then(|name| program.persona(name))
                .map(|persona| {
                    persona
                        .milestones
                        .iter()
                        .map(|m| MilestoneView {
                            milestone: m.name.clone(),
                            reached_at: p.milestones.get(&m.name).map(|t| t.to_rfc3339()),
                        })
                        .collect()
                })
                .unwrap_or_default();
            PersonUsage {
                email: p.email.clone(),
                name: p.name.clone(),
                persona: p.persona.clone(),
                last_active_at: account.usage.last_active(&p.email).map(|t| t.to_rfc3339()),
                aha_at: p.aha_at.map(|t| t.to_rfc3339()),
                milestones,
            }
        })
        .collect();
    AccountHealth {
        account: account.id.clone(),
        at: now.to_rfc3339(),
        score: health.score,
        band: health.band.as_str(),
        window_days: health.window_days,
        active_users: health.active_users,
        seats: health.seats,
        seat_share: health.seat_share,
        features: health
            .features
            .into_iter()
            .map(|f| FeatureView {
                feature: f.feature,
                users: f.users,
                share: f.share,
            })
            .collect(),
        trend: TrendView {
            direction: health.trend.direction.as_str(),
            daily_active: health.trend.daily_active,
            previous_daily_active: health.trend.previous_daily_active,
        },
        reasons: health.reasons,
        aha: account.aha.as_ref().map(|aha| AhaView {
            at: aha.at.to_rfc3339(),
            email: aha.email.clone(),
            persona: aha.persona.clone(),
            event: aha.event.clone(),
            ttv_ms: aha.ttv_ms,
            ttv_hours: aha.ttv_ms.map(hours),
        }),
        people,
    }
}

/// Time to value across accounts.
#[derive(Serialize, ToSchema)]
pub struct TtvReport {
    /// `persona` or `cohort`.
    pub by: String,
    /// Every account with a won deal.
    pub overall: TtvStats,
    /// One group per persona (name order) or per cohort (month the deal was won, `YYYY-MM`,
    /// oldest first).
    pub groups: Vec<TtvGroup>,
}

/// The distribution of time to value of one group.
#[derive(Serialize, ToSchema)]
pub struct TtvGroup {
    /// The persona, or the cohort's month (`YYYY-MM`).
    pub group: String,
    #[serde(flatten)]
    pub stats: TtvStats,
}

/// How many reached value and how fast: percentiles (nearest rank) in hours, null when none
/// reached it.
#[derive(Serialize, ToSchema)]
pub struct TtvStats {
    pub reached: usize,
    pub not_yet: usize,
    pub p25_hours: Option<f64>,
    pub p50_hours: Option<f64>,
    pub p75_hours: Option<f64>,
    pub p90_hours: Option<f64>,
}

/// The distribution of time to value (deal won → first Aha) across accounts with a won
/// deal: how many reached it and how many not yet, with percentiles in hours, overall and
/// per group. `by=persona` (default): per persona, from the first Aha of the account's
/// people of that persona (an account counts for each persona it has people of);
/// `by=cohort`: per month the deal was won (`cohort=month`, the only cohort so far).
#[utoipa::path(
    get,
    path = "/api/ttv",
    tag = "usage",
    operation_id = "time_to_value",
    params(
        ("by" = Option<String>, Query, description = "`persona` (default) or `cohort`"),
        ("cohort" = Option<String>, Query, description = "The cohort's period with `by=cohort`: `month` (default)"),
    ),
    responses(
        (status = 200, description = "Time to value, overall and per group", body = TtvReport),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("bearer" = []))
)]
pub async fn time_to_value(
    State(state): State<AppState>,
    _admin: Admin,
    params: Params,
) -> ApiResult<Json<TtvReport>> {
    params.only(&["by", "cohort"])?;
    let by = params.text("by").unwrap_or("persona");
    if !matches!(by, "persona" | "cohort") {
        return Err(ApiError::bad_request(format!(
            "`by` must be persona or cohort, not `{by}`"
        )));
    }
    if let Some(cohort) = params.text("cohort").filter(|c| *c != "month") {
        return Err(ApiError::bad_request(format!(
            "`cohort` must be month, not `{cohort}`"
        )));
    }
    let store = state.engine.store();
    let mut overall = Vec::new();
    let mut groups: BTreeMap<String, Vec<Option<i64>>> = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_accounts(&AccountFilter {
                after: after.clone(),
                limit: PAGE,
                csm: None,
                status: None,
            })
            .await?;
        for account in &page {
            let Some(won) = account.won_at() else {
                continue;
            };
            let ttv = account.aha.as_ref().map(|aha| ttv_ms(won, aha.at));
            overall.push(ttv);
            if by == "cohort" {
                let month: String = won.to_rfc3339().chars().take(7).collect();
                groups.entry(month).or_default().push(ttv);
            } else {
                for (persona, ttv) in persona_ttvs(account, won) {
                    groups.entry(persona).or_default().push(ttv);
                }
            }
        }
        if (page.len() as i64) < PAGE {
            break;
        }
        after = page.last().map(|a| a.id.clone());
    }
    Ok(Json(TtvReport {
        by: by.to_owned(),
        overall: stats(&overall),
        groups: groups
            .into_iter()
            .map(|(group, ttvs)| TtvGroup {
                group,
                stats: stats(&ttvs),
            })
            .collect(),
    }))
}

/// Per persona the account has people of: the time to the first Aha of one of them (or the
/// account's Aha of that persona by a product user linked to nobody), if any.
fn persona_ttvs(account: &AccountState, won: Timestamp) -> BTreeMap<String, Option<i64>> {
    let mut out: BTreeMap<String, Option<i64>> = BTreeMap::new();
    let mut reach = |persona: &str, at: Option<Timestamp>| {
        let slot = out.entry(persona.to_owned()).or_insert(None);
        if let Some(at) = at {
            let ttv = ttv_ms(won, at);
            if slot.is_none_or(|known| ttv < known) {
                *slot = Some(ttv);
            }
        }
    };
    for person in &account.people {
        if let Some(persona) = &person.persona {
            reach(persona, person.aha_at);
        }
    }
    if let Some(aha) = &account.aha {
        if let (Some(persona), None) = (&aha.persona, &aha.email) {
            reach(persona, Some(aha.at));
        }
    }
    out
}

fn ttv_ms(won: Timestamp, at: Timestamp) -> i64 {
    (at.millis() - won.millis()).max(0)
}

fn stats(ttvs: &[Option<i64>]) -> TtvStats {
    let mut reached: Vec<i64> = ttvs.iter().flatten().copied().collect();
    reached.sort_unstable();
    let percentile = |p: f64| -> Option<f64> {
        if reached.is_empty() {
            return None;
        }
        let rank = (p * reached.len() as f64).ceil().max(1.0) as usize;
        reached.get(rank - 1).map(|&ms| hours(ms))
    };
    TtvStats {
        reached: reached.len(),
        not_yet: ttvs.len() - reached.len(),
        p25_hours: percentile(0.25),
        p50_hours: percentile(0.50),
        p75_hours: percentile(0.75),
        p90_hours: percentile(0.90),
    }
}

/// Milliseconds as hours, to one decimal.
fn hours(ms: i64) -> f64 {
    (ms as f64 / HOUR_MS * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use onboard_core::health::{Band, Direction};

    use crate::openapi::documented;

    #[test]
    fn bands_and_trend_directions_are_documented() {
        let bands = [Band::Good, Band::Fair, Band::Poor];
        for band in bands {
            match band {
                Band::Good | Band::Fair | Band::Poor => {}
            }
        }
        let directions = [
            Direction::Rising,
            Direction::Steady,
            Direction::Falling,
            Direction::New,
        ];
        for direction in directions {
            match direction {
                Direction::Rising | Direction::Steady | Direction::Falling | Direction::New => {}
            }
        }
        assert_eq!(
            documented::<HealthBand>(),
            bands.map(|b| b.as_str().to_owned())
        );
        assert_eq!(
            documented::<TrendDirection>(),
            directions.map(|d| d.as_str().to_owned())
        );
    }

    #[test]
    fn percentiles_are_nearest_rank_in_hours() {
        let h = |n: i64| Some(n * 3_600_000);
        let stats = stats(&[h(1), h(2), h(3), h(4), None]);
        assert_eq!((stats.reached, stats.not_yet), (4, 1));
        assert_eq!(stats.p25_hours, Some(1.0));
        assert_eq!(stats.p50_hours, Some(2.0));
        assert_eq!(stats.p75_hours, Some(3.0));
        assert_eq!(stats.p90_hours, Some(4.0));
        assert_eq!(super::stats(&[None]).p50_hours, None);
    }
}
