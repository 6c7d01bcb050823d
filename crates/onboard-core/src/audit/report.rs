//! Adding rows up ([`Tally`]) and the finished [`Report`]: hours and share per category, per
//! CSM and per week (weeks start on Monday, UTC), the most frequent notes of each trap, and
//! each trap's coverage by the program with the time it saves per month. Figures are rounded
//! once, here: hours to 2 decimals, shares to 4.

use super::categories::{Categories, CategoryKind};
use super::coverage::{coverage, Coverage};
use super::read::{BadRow, Row};
use crate::program::Program;
use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};
use std::collections::HashMap;

/// How many example notes a trap lists.
const N_EXAMPLES: usize = 5;
/// How many distinct notes per trap are counted for the examples: beyond it only notes
/// already seen are counted, so a file of unique notes keeps memory bounded.
const MAX_DISTINCT_NOTES: usize = 10_000;
/// The average length of a month in days (365.25 / 12).
const DAYS_PER_MONTH: f64 = 30.4375;

/// Everything read so far, unrounded.
pub(crate) struct Tally {
    n_categories: usize,
    traps: Vec<bool>,
    minutes: Vec<f64>,
    counts: Vec<u64>,
    csm_index: HashMap<Box<str>, usize>,
    /// Per CSM: name, minutes per category, interactions per category.
    csms: Vec<(Box<str>, Vec<f64>, Vec<u64>)>,
    /// Monday's day number (since 1970-01-01) → minutes per category.
    weeks: HashMap<i64, Vec<f64>>,
    first: i64,
    last: i64,
    /// Per category (traps only): note → (count, minutes, first line).
    notes: Vec<HashMap<Box<str>, (u64, f64, u64)>>,
    rows: Vec<(u64, u32)>,
    n_bad_rows: u64,
    bad_rows: Vec<BadRow>,
}

impl Tally {
    pub fn new(categories: &Categories) -> Self {
        let n = categories.list().len();
        Self {
            n_categories: n,
            traps: categories
                .list()
                .iter()
                .map(|c| c.kind == CategoryKind::Trap)
                .collect(),
            minutes: vec![0.0; n],
            counts: vec![0; n],
            csm_index: HashMap::new(),
            csms: Vec::new(),
            weeks: HashMap::new(),
            first: i64::MAX,
            last: i64::MIN,
            notes: (0..n).map(|_| HashMap::new()).collect(),
            rows: Vec::new(),
            n_bad_rows: 0,
            bad_rows: Vec::new(),
        }
    }

    pub fn add(&mut self, row: &Row<'_>, category: usize) {
        let n = self.n_categories;
        if let Some(m) = self.minutes.get_mut(category) {
            *m += row.minutes;
        }
        if let Some(c) = self.counts.get_mut(category) {
            *c += 1;
        }
        let csm = match self.csm_index.get(row.csm) {
            Some(&index) => index,
            None => {
                self.csms.push((row.csm.into(), vec![0.0; n], vec![0; n]));
                self.csm_index.insert(row.csm.into(), self.csms.len() - 1);
                self.csms.len() - 1
            }
        };
        if let Some((_, minutes, counts)) = self.csms.get_mut(csm) {
            if let Some(m) = minutes.get_mut(category) {
                *m += row.minutes;
            }
            if let Some(c) = counts.get_mut(category) {
                *c += 1;
            }
        }
        let day = row.at.div_euclid(86_400);
        // 1970-01-01 was a Thursday: 3 days after a Monday.
        let monday = day - (day + 3).rem_euclid(7);
        if let Some(m) = self
            .weeks
            .entry(monday)
            .or_insert_with(|| vec![0.0; n])
            .get_mut(category)
        {
            *m += row.minutes;
        }
        self.first = self.first.min(row.at);
        self.last = self.last.max(row.at);
        if self.traps.get(category).copied().unwrap_or(false) {
            if let Some(notes) = self.notes.get_mut(category) {
                if let Some(seen) = notes.get_mut(row.note) {
                    seen.0 += 1;
                    seen.1 += row.minutes;
                } else if notes.len() < MAX_DISTINCT_NOTES && !row.note.is_empty() {
                    notes.insert(row.note.into(), (1, row.minutes, row.line));
                }
            }
        }
        self.rows
            .push((row.line, u32::try_from(category).unwrap_or(u32::MAX)));
    }

    /// One bad row, with each of its problems.
    pub fn add_bad(&mut self, problems: impl Iterator<Item = BadRow>) {
        self.n_bad_rows += 1;
        self.bad_rows.extend(problems);
    }

    pub fn n_good_rows(&self) -> u64 {
        self.rows.len() as u64
    }

    pub fn into_bad_rows(self) -> (u64, Vec<BadRow>) {
        (self.n_bad_rows, self.bad_rows)
    }
}

/// The audit of one file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Rows after the header, good and bad.
    pub n_rows: u64,
    pub n_good_rows: u64,
    pub n_bad_rows: u64,
    /// The earliest and latest interaction (RFC 3339, UTC).
    pub first: String,
    pub last: String,
    /// Calendar days from the first interaction's to the last's, both included.
    pub span_days: i64,
    /// The span in months of 30.4375 days: what "per month" figures divide by.
    pub months: f64,
    pub total_hours: f64,
    /// In priority order, `other` last; every figure per category below is in this order.
    pub categories: Vec<CategoryReport>,
    pub traps: TrapSummary,
    /// By hours, most first.
    pub csms: Vec<CsmReport>,
    /// By week, earliest first; weeks without interactions are left out.
    pub weeks: Vec<WeekReport>,
    /// Every problem of every skipped row, by line.
    pub bad_rows: Vec<BadRow>,
    /// The category of each good row, by line.
    pub rows: RowCategories,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryReport {
    pub key: String,
    pub label: String,
    pub kind: CategoryKind,
    pub n_interactions: u64,
    pub hours: f64,
    /// Share of all hours (0 to 1).
    pub share: f64,
    pub hours_per_month: f64,
    /// A trap's most frequent notes, most first.
    pub examples: Vec<Example>,
    /// A trap's automation by the program.
    pub coverage: Option<Coverage>,
}

/// A note as written, how often it came, and where first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Example {
    pub note: String,
    pub count: u64,
    pub hours: f64,
    pub first_line: u64,
}

/// The traps together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrapSummary {
    pub hours: f64,
    pub share: f64,
    pub hours_per_month: f64,
    /// Hours per month the program's automations save.
    pub saved_hours_per_month: f64,
    pub n_traps: usize,
    pub n_covered: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CsmReport {
    pub csm: String,
    pub n_interactions: u64,
    pub hours: f64,
    pub trap_hours: f64,
    /// Share of this CSM's hours spent on traps.
    pub trap_share: f64,
    /// In the order of [`Report::categories`].
    pub hours_by_category: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeekReport {
    /// The week's Monday, `YYYY-MM-DD`.
    pub week: String,
    pub hours: f64,
    pub trap_hours: f64,
    pub strategic_hours: f64,
    pub other_hours: f64,
    /// In the order of [`Report::categories`].
    pub hours_by_category: Vec<f64>,
}

/// The category of every good row; serialized as `[{"line": 2, "category": "…"}, …]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RowCategories {
    keys: Vec<String>,
    rows: Vec<(u64, u32)>,
}

impl RowCategories {
    /// Each good row's line and category key, in file order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &str)> {
        self.rows.iter().map(|&(line, category)| {
            let key = usize::try_from(category)
                .ok()
                .and_then(|c| self.keys.get(c))
                .map_or("", String::as_str);
            (line, key)
        })
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl Serialize for RowCategories {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Row<'a> {
            line: u64,
            category: &'a str,
        }
        let mut seq = serializer.serialize_seq(Some(self.rows.len()))?;
        for (line, category) in self.iter() {
            seq.serialize_element(&Row { line, category })?;
        }
        seq.end()
    }
}

fn hours(minutes: f64) -> f64 {
    round(minutes / 60.0, 2)
}

fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

fn share(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        round(part / whole, 4)
    } else {
        0.0
    }
}

fn rfc3339(seconds: i64) -> String {
    crate::time::Timestamp(seconds.saturating_mul(1000)).to_rfc3339()
}

fn date(day: i64) -> String {
    jiff::Timestamp::from_second(day.saturating_mul(86_400))
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The finished report of a tally with at least one good row.
pub(crate) fn build(tally: Tally, categories: &Categories, program: Option<&Program>) -> Report {
    let list = categories.list();
    let total_minutes: f64 = tally.minutes.iter().sum();
    let span_days = tally.last.div_euclid(86_400) - tally.first.div_euclid(86_400) + 1;
    let months = span_days as f64 / DAYS_PER_MONTH;
    let per_month = |minutes: f64| round(minutes / 60.0 / months, 2);
    let kind_of = |index: usize| list.get(index).map_or(CategoryKind::Other, |c| c.kind);

    let mut reports = Vec::with_capacity(list.len());
    for (index, category) in list.iter().enumerate() {
        let minutes = tally.minutes.get(index).copied().unwrap_or(0.0);
        let mut examples: Vec<Example> = tally
            .notes
            .get(index)
            .map(|notes| {
                notes
                    .iter()
                    .map(|(note, &(count, minutes, first_line))| Example {
                        note: note.to_string(),
                        count,
                        hours: minutes,
                        first_line,
                    })
                    .collect()
            })
            .unwrap_or_default();
        examples.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(b.hours.total_cmp(&a.hours))
                .then(a.first_line.cmp(&b.first_line))
        });
        examples.truncate(N_EXAMPLES);
        for example in &mut examples {
            example.hours = hours(example.hours);
        }
        let hours_per_month = per_month(minutes);
        reports.push(CategoryReport {
            key: category.key.clone(),
            label: category.label.clone(),
            kind: category.kind,
            n_interactions: tally.counts.get(index).copied().unwrap_or(0),
            hours: hours(minutes),
            share: share(minutes, total_minutes),
            hours_per_month,
            examples,
            coverage: (category.kind == CategoryKind::Trap)
                .then(|| coverage(category, program, hours_per_month)),
        });
    }

    let trap_minutes: f64 = (0..list.len())
        .filter(|&i| kind_of(i) == CategoryKind::Trap)
        .filter_map(|i| tally.minutes.get(i))
        .sum();
    let traps: Vec<&CategoryReport> = reports
        .iter()
        .filter(|r| r.kind == CategoryKind::Trap)
        .collect();
    let trap_summary = TrapSummary {
        hours: hours(trap_minutes),
        share: share(trap_minutes, total_minutes),
        hours_per_month: per_month(trap_minutes),
        saved_hours_per_month: round(
            traps
                .iter()
                .filter_map(|r| r.coverage.as_ref())
                .map(|c| c.saved_hours_per_month)
                .sum(),
            2,
        ),
        n_traps: traps.len(),
        n_covered: traps
            .iter()
            .filter(|r| r.coverage.as_ref().is_some_and(|c| c.automated))
            .count(),
    };

    let mut csms: Vec<CsmReport> = tally
        .csms
        .iter()
        .map(|(name, minutes, counts)| {
            let all: f64 = minutes.iter().sum();
            let trap: f64 = minutes
                .iter()
                .enumerate()
                .filter(|&(i, _)| kind_of(i) == CategoryKind::Trap)
                .map(|(_, m)| m)
                .sum();
            CsmReport {
                csm: name.to_string(),
                n_interactions: counts.iter().sum(),
                hours: hours(all),
                trap_hours: hours(trap),
                trap_share: share(trap, all),
                hours_by_category: minutes.iter().map(|&m| hours(m)).collect(),
            }
        })
        .collect();
    csms.sort_by(|a, b| b.hours.total_cmp(&a.hours).then(a.csm.cmp(&b.csm)));

    let mut week_days: Vec<&i64> = tally.weeks.keys().collect();
    week_days.sort();
    let weeks = week_days
        .into_iter()
        .filter_map(|day| {
            let minutes = tally.weeks.get(day)?;
            let of_kind = |kind: CategoryKind| -> f64 {
                minutes
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| kind_of(i) == kind)
                    .map(|(_, m)| m)
                    .sum()
            };
            Some(WeekReport {
                week: date(*day),
                hours: hours(minutes.iter().sum()),
                trap_hours: hours(of_kind(CategoryKind::Trap)),
                strategic_hours: hours(of_kind(CategoryKind::Strategic)),
                other_hours: hours(of_kind(CategoryKind::Other)),
                hours_by_category: minutes.iter().map(|&m| hours(m)).collect(),
            })
        })
        .collect();

    let mut bad_rows = tally.bad_rows;
    bad_rows.sort_by_key(|b| b.line);
    let n_good_rows = tally.rows.len() as u64;
    Report {
        n_rows: n_good_rows + tally.n_bad_rows,
        n_good_rows,
        n_bad_rows: tally.n_bad_rows,
        first: rfc3339(tally.first),
        last: rfc3339(tally.last),
        span_days,
        months: round(months, 2),
        total_hours: hours(total_minutes),
        categories: reports,
        traps: trap_summary,
        csms,
        weeks,
        bad_rows,
        rows: RowCategories {
            keys: list.iter().map(|c| c.key.clone()).collect(),
            rows: tally.rows,
        },
    }
}
