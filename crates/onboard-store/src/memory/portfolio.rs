//! A page of the portfolio from the in-memory rows: the filters, flags, order and counts of
//! `crate::portfolio`'s SQL, evaluated on each row (a book is thousands of rows at most).

use crate::portfolio::{search_needle, Flag, PortfolioPage, PortfolioQuery, SortKey};
use crate::rows::page_limit;
use onboard_core::portfolio::Summary;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Whether a row carries a flag at `now`.
fn has(flag: Flag, s: &Summary, now: i64) -> bool {
    match flag {
        Flag::Stalled => s.status == "active" && s.stalled_from.is_some_and(|t| t.0 <= now),
        Flag::Overdue => s.overdue_tasks > 0,
        Flag::AtRisk => matches!(s.goal_status.as_deref(), Some("at_risk" | "missed")),
        Flag::PowerUser => s.power_user,
        Flag::Alerts => s.open_alerts > 0,
        Flag::NoAha => s.aha_at.is_none() && s.deal_won_at.is_some(),
    }
}

/// The order of a sort key: unknown values last whichever the direction, then the value in
/// the direction, then the account id in the direction (so pages are stable).
fn order(sort: SortKey, descending: bool, a: &Summary, b: &Summary) -> Ordering {
    /// Nulls last, then the values.
    fn nullable<T: Ord>(a: Option<T>, b: Option<T>, descending: bool) -> Ordering {
        match (a, b) {
            (Some(a), Some(b)) => directed(a.cmp(&b), descending),
            (None, None) => Ordering::Equal,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
        }
    }
    let by_value = match sort {
        SortKey::Name => directed(a.name.cmp(&b.name), descending),
        SortKey::Progress => directed(a.progress.cmp(&b.progress), descending),
        SortKey::Stage => directed(a.stage.cmp(&b.stage), descending),
        SortKey::Deal => nullable(a.deal_won_at, b.deal_won_at, descending),
        SortKey::Health => nullable(a.health, b.health, descending),
        SortKey::Alert => nullable(a.last_alert_at, b.last_alert_at, descending),
    };
    by_value.then_with(|| directed(a.account.cmp(&b.account), descending))
}

fn directed(ordering: Ordering, descending: bool) -> Ordering {
    if descending {
        ordering.reverse()
    } else {
        ordering
    }
}

/// A page of `rows` (by account: the summary and its search text).
pub(super) fn page(
    rows: &BTreeMap<String, (Summary, String)>,
    q: &PortfolioQuery,
) -> PortfolioPage {
    let needle = q
        .search
        .as_deref()
        .map(search_needle)
        .filter(|s| !s.is_empty());
    let book: Vec<&Summary> = rows
        .values()
        .filter(|(s, search)| {
            q.csm.as_ref().is_none_or(|csm| s.csm.as_ref() == Some(csm))
                && q.status.as_ref().is_none_or(|status| s.status == *status)
                && q.stage.as_ref().is_none_or(|stage| s.stage == *stage)
                && needle
                    .as_ref()
                    .is_none_or(|needle| search.contains(needle.as_str()))
        })
        .map(|(s, _)| s)
        .collect();
    let now = q.now.0;
    let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let flags: Vec<(Flag, i64)> = Flag::ALL
        .into_iter()
        .map(|flag| {
            (
                flag,
                count(book.iter().filter(|s| has(flag, s, now)).count()),
            )
        })
        .collect();
    let mut chosen: Vec<&Summary> = book
        .iter()
        .copied()
        .filter(|s| q.flag.is_none_or(|flag| has(flag, s, now)))
        .collect();
    let total = count(chosen.len());
    chosen.sort_by(|a, b| order(q.sort, q.descending, a, b));
    let offset = usize::try_from(q.offset.max(0)).unwrap_or(usize::MAX);
    let limit = usize::try_from(page_limit(q.limit)).unwrap_or(usize::MAX);
    PortfolioPage {
        rows: chosen
            .into_iter()
            .skip(offset)
            .take(limit)
            .cloned()
            .collect(),
        total,
        book: count(book.len()),
        flags,
    }
}
