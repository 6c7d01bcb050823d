//! The portfolio: every account of the book at a glance, with its onboarding stage, days
//! since the deal, health, goal status, time to value (or time without the Aha), and the
//! flags that call for a human (stalled, overdue, at risk, power user, open alerts). The
//! store filters, sorts and pages the accounts' summary rows; only the rows shown are read
//! whole, for their current health.

use super::{pages, require};
use crate::error::ApiResult;
use crate::state::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use onboard_core::portfolio::Summary;
use onboard_core::Timestamp;
use onboard_store::{Flag, PortfolioQuery, SortKey};
use serde::Deserialize;
use std::collections::HashMap;

/// Accounts per page.
const PAGE_SIZE: i64 = 50;
const DAY_MS: i64 = 86_400_000;

#[derive(Deserialize, Default)]
pub(super) struct Params {
    /// `mine` (a CSM's default) or `all`.
    #[serde(default)]
    book: Option<String>,
    #[serde(default)]
    flag: Option<String>,
    #[serde(default)]
    stage: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    sort: Option<String>,
    #[serde(default)]
    dir: Option<String>,
    #[serde(default)]
    page: Option<String>,
}

pub(super) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<Params>, QueryRejection>,
) -> ApiResult<Response> {
    let session = match require(&state, &headers).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    let params = params.map(|p| p.0).unwrap_or_default();
    let now = state.engine.now();
    let is_csm = session.member.role == "csm";
    let mine = match params.book.as_deref() {
        Some("all") => false,
        Some("mine") => true,
        _ => is_csm,
    };
    let nonempty = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let flag = nonempty(&params.flag).and_then(|f| Flag::parse(&f));
    let sort = nonempty(&params.sort)
        .and_then(|s| SortKey::parse(&s))
        .unwrap_or_default();
    let descending = params.dir.as_deref() == Some("desc");
    let page_no = params
        .page
        .as_deref()
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| (1..=100_000).contains(p))
        .unwrap_or(1);
    let status =
        nonempty(&params.status).filter(|s| ["active", "paused", "churned"].contains(&s.as_str()));
    let search: Option<String> = nonempty(&params.q).map(|q| q.chars().take(100).collect());
    let query = PortfolioQuery {
        csm: mine.then(|| session.member.email.to_lowercase()),
        status: status.clone(),
        stage: nonempty(&params.stage).map(|s| s.chars().take(100).collect()),
        flag,
        search: search.clone(),
        sort,
        descending,
        offset: (page_no - 1) * PAGE_SIZE,
        limit: PAGE_SIZE,
        now,
    };
    let store = state.engine.store();
    let found = store.portfolio(&query).await?;
    // The rows shown, read whole for the health they have now (it decays without events).
    let ids: Vec<String> = found.rows.iter().map(|r| r.account.clone()).collect();
    let health: HashMap<String, onboard_core::health::Health> = store
        .load_accounts(&ids)
        .await?
        .iter()
        .map(|a| {
            let model = &state.engine.program().health;
            (a.id.clone(), onboard_core::health::assess(a, model, now))
        })
        .collect();
    let team: HashMap<String, String> = state
        .engine
        .program()
        .team
        .iter()
        .map(|m| (m.email.to_lowercase(), m.name.clone()))
        .collect();
    let rows: Vec<serde_json::Value> = found
        .rows
        .iter()
        .map(|r| row(r, health.get(&r.account), &team, now))
        .collect();
    let pages_total = (found.total + PAGE_SIZE - 1) / PAGE_SIZE;
    // The link of this view with one parameter changed.
    let link = |key: &str, value: Option<&str>| {
        let mut pairs: Vec<(&str, String)> =
            vec![("book", if mine { "mine" } else { "all" }.to_owned())];
        let mut put = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                pairs.push((k, v));
            }
        };
        put("flag", flag.map(|f| f.as_str().to_owned()));
        put("stage", query.stage.clone());
        put("status", status.clone());
        put("q", search.clone());
        put("sort", Some(sort.as_str().to_owned()));
        put(
            "dir",
            Some(if descending { "desc" } else { "asc" }.to_owned()),
        );
        pairs.retain(|(k, _)| *k != key && *k != "page");
        if let Some(v) = value {
            pairs.push((key_static(key), v.to_owned()));
        }
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        format!("/console?{}", query.join("&"))
    };
    let flags: Vec<serde_json::Value> = found
        .flags
        .iter()
        .map(|(f, n)| {
            serde_json::json!({
                "key": f.as_str(), "label": flag_label(*f), "count": n,
                "active": Some(*f) == flag,
                "href": link("flag", if Some(*f) == flag { None } else { Some(f.as_str()) }),
            })
        })
        .collect();
    let columns: Vec<serde_json::Value> = [
        (SortKey::Name, "Account"),
        (SortKey::Stage, "Stage"),
        (SortKey::Deal, "Since deal"),
        (SortKey::Health, "Health"),
    ]
    .into_iter()
    .map(|(key, label)| {
        let current = key == sort;
        let next_dir = if current && !descending { "desc" } else { "asc" };
        let mut href = link("sort", Some(key.as_str()));
        href = href.replace(
            &format!("dir={}", if descending { "desc" } else { "asc" }),
            &format!("dir={next_dir}"),
        );
        serde_json::json!({
            "label": label, "href": href,
            "sort": if current { if descending { "descending" } else { "ascending" } } else { "none" },
        })
    })
    .collect();
    let stages: Vec<String> = {
        let program = state.engine.program();
        let mut stages = vec!["not_started".to_owned(), "draft".to_owned()];
        stages.extend(program.templates.iter().map(|t| t.name.clone()));
        stages.push("completed".to_owned());
        stages
    };
    pages::console_page(
        StatusCode::OK,
        "portfolio.html",
        &state,
        &session,
        serde_json::json!({
            "section": "portfolio",
            "rows": rows,
            "total": found.total,
            "book": found.book,
            "flags": flags,
            "columns": columns,
            "mine": mine,
            "is_csm": is_csm,
            "mine_href": link("book", Some("mine")),
            "all_href": link("book", Some("all")),
            "q": search,
            "stage": query.stage,
            "stages": stages,
            "status": status,
            "flag": flag.map(Flag::as_str),
            "sort": sort.as_str(),
            "dir": if descending { "desc" } else { "asc" },
            "page": page_no,
            "pages": pages_total,
            "prev_href": (page_no > 1).then(|| format!("{}&page={}", link("page", None), page_no - 1)),
            "next_href": (page_no < pages_total).then(|| format!("{}&page={}", link("page", None), page_no + 1)),
        }),
    )
}

fn key_static(key: &str) -> &'static str {
    match key {
        "book" => "book",
        "flag" => "flag",
        "stage" => "stage",
        "status" => "status",
        "q" => "q",
        "sort" => "sort",
        "dir" => "dir",
        _ => "page",
    }
}

pub(super) fn flag_label(flag: Flag) -> &'static str {
    match flag {
        Flag::Stalled => "Stalled",
        Flag::Overdue => "Overdue tasks",
        Flag::AtRisk => "Goal at risk",
        Flag::PowerUser => "Power user",
        Flag::Alerts => "Open alerts",
        Flag::NoAha => "No Aha yet",
    }
}

/// One account's row as the template shows it.
fn row(
    r: &Summary,
    health: Option<&onboard_core::health::Health>,
    team: &HashMap<String, String>,
    now: Timestamp,
) -> serde_json::Value {
    let days_since_deal = r.deal_won_at.map(|won| (now.0 - won.0).div_euclid(DAY_MS));
    let ttv = match (r.deal_won_at, r.aha_at) {
        (Some(won), Some(aha)) => Some(format!("Aha in {}", duration_words(aha.0 - won.0))),
        (Some(won), None) => Some(format!("no Aha for {}", duration_words(now.0 - won.0))),
        _ => None,
    };
    let mut flags = Vec::new();
    if r.stalled(now) {
        flags.push(("stalled", "Stalled"));
    }
    if r.overdue_tasks > 0 {
        flags.push(("overdue", "Overdue"));
    }
    if matches!(r.goal_status.as_deref(), Some("at_risk" | "missed")) {
        flags.push(("at_risk", "At risk"));
    }
    if r.power_user {
        flags.push(("power_user", "Power user"));
    }
    if r.open_alerts > 0 {
        flags.push(("alerts", "Alert"));
    }
    serde_json::json!({
        "id": r.account,
        "name": r.name,
        "status": r.status,
        "csm": r.csm.as_ref().map(|c| team.get(&c.to_lowercase()).cloned().unwrap_or_else(|| c.clone())),
        "stage": r.stage.replace('_', " "),
        "progress": r.progress,
        "days_since_deal": days_since_deal,
        "health": health.map(|h| serde_json::json!({ "score": h.score, "band": h.band })),
        "goal_status": r.goal_status,
        "goal_label": r.goal_status.as_deref().map(|s| s.replace('_', " ")),
        "ttv": ttv,
        "flags": flags.iter().map(|(k, l)| serde_json::json!({ "key": k, "label": l })).collect::<Vec<_>>(),
    })
}

/// "3 days", "5 hours", "40 minutes".
pub(super) fn duration_words(ms: i64) -> String {
    let ms = ms.max(0);
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if ms >= 2 * DAY_MS {
        plural(ms / DAY_MS, "day")
    } else if ms >= 3_600_000 {
        plural(ms / 3_600_000, "hour")
    } else {
        plural(ms / 60_000, "minute")
    }
}

/// Percent-encodes a query value.
fn urlencode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
