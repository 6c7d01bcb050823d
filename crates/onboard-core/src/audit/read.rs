//! Reading the CSV: the header matched to the columns the audit needs (case-insensitive,
//! with common alternative names), then each row checked field by field (UTF-8, date,
//! minutes, CSM) and added to a [`Tally`], or listed as a [`BadRow`] with its line.
//!
//! Rows are read as byte records into one reused buffer, and notes lower-cased into another,
//! so a row costs no allocation unless it brings a new CSM, week or example note.

use super::categories::{lower_into, Categories};
use super::report::Tally;
use serde::Serialize;
use std::fmt;

/// The date formats a timestamp may have; those without an offset are read as UTC.
pub const ACCEPTED_DATE_FORMATS: &str = "RFC 3339 (2024-03-05T14:30:00Z, 2024-03-05T14:30:00+01:00), YYYY-MM-DD HH:MM[:SS] (also with a T), YYYY-MM-DD, MM/DD/YYYY [HH:MM[:SS]]";

/// A column the audit reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Column {
    Timestamp,
    Csm,
    Account,
    Channel,
    Minutes,
    Note,
}

impl Column {
    pub const ALL: [Column; 6] = [
        Column::Timestamp,
        Column::Csm,
        Column::Account,
        Column::Channel,
        Column::Minutes,
        Column::Note,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Timestamp => "timestamp",
            Self::Csm => "csm",
            Self::Account => "account",
            Self::Channel => "channel",
            Self::Minutes => "minutes",
            Self::Note => "note",
        }
    }

    /// The header names read as this column, best first (compared lower-cased, with spaces
    /// and dashes as underscores).
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Self::Timestamp => &[
                "timestamp",
                "date",
                "time",
                "created_at",
                "datetime",
                "date_time",
                "created",
                "occurred_at",
            ],
            Self::Csm => &[
                "csm",
                "owner",
                "agent",
                "user",
                "csm_name",
                "csm_email",
                "rep",
            ],
            Self::Account => &[
                "account",
                "company",
                "customer",
                "account_name",
                "company_name",
                "customer_name",
                "organization",
                "organisation",
                "client",
            ],
            Self::Channel => &[
                "channel",
                "type",
                "medium",
                "activity_type",
                "interaction_type",
            ],
            Self::Minutes => &[
                "minutes",
                "duration",
                "duration_minutes",
                "duration_mins",
                "mins",
                "time_spent",
                "minutes_spent",
            ],
            Self::Note => &[
                "note",
                "notes",
                "description",
                "summary",
                "subject",
                "comment",
                "comments",
                "details",
            ],
        }
    }

    /// Whether a file without this column cannot be audited (account and channel are only
    /// carried along).
    pub fn required(self) -> bool {
        !matches!(self, Self::Account | Self::Channel)
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A row that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRow {
    /// 1-based line where the row starts (the header is line 1).
    pub line: u64,
    /// The column at fault, when one is.
    pub column: Option<Column>,
    /// The value at fault, as read (invalid UTF-8 replaced).
    pub value: Option<String>,
    pub problem: String,
}

impl fmt::Display for BadRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(column) = self.column {
            write!(f, ", {column}")?;
        }
        if let Some(value) = &self.value {
            write!(f, " {value:?}")?;
        }
        write!(f, ": {}", self.problem)
    }
}

/// Why a file cannot be audited at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuditError {
    #[error("the file is empty: it has no header line")]
    Empty,
    #[error("{}", missing_columns(missing, found))]
    MissingColumns {
        missing: Vec<Column>,
        found: Vec<String>,
    },
    #[error("no row could be read: all {} rows have problems", n_bad_rows)]
    NoGoodRows {
        n_bad_rows: u64,
        bad_rows: Vec<BadRow>,
    },
    #[error("cannot read line {line}: {message}")]
    Read { line: u64, message: String },
}

fn missing_columns(missing: &[Column], found: &[String]) -> String {
    let names = |columns: &mut dyn Iterator<Item = String>| columns.collect::<Vec<_>>().join(", ");
    let missing_text = names(&mut missing.iter().map(|c| {
        format!(
            "{c} (or {})",
            c.aliases().get(1..).unwrap_or_default().join(", ")
        )
    }));
    let found_text = names(&mut found.iter().map(|h| format!("{h:?}")));
    let mut text = format!("missing column(s): {missing_text}; the header has {found_text}");
    text.push_str(
        ". The first line must name the columns timestamp, csm, account, channel, minutes and note (account and channel may be left out)",
    );
    text
}

/// Where each column is in the rows.
struct Layout {
    /// By [`Column::ALL`] order.
    positions: [Option<usize>; 6],
    n_fields: usize,
}

impl Layout {
    fn from_header(header: &csv::ByteRecord) -> Result<Self, AuditError> {
        let names: Vec<String> = header
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let text = String::from_utf8_lossy(field);
                let text = if i == 0 {
                    text.trim_start_matches('\u{feff}')
                } else {
                    &text
                };
                text.trim().to_owned()
            })
            .collect();
        let normalized: Vec<String> = names
            .iter()
            .map(|n| n.to_lowercase().replace([' ', '-'], "_"))
            .collect();
        let mut positions = [None; 6];
        let mut missing = Vec::new();
        for (slot, column) in positions.iter_mut().zip(Column::ALL) {
            *slot = column
                .aliases()
                .iter()
                .find_map(|alias| normalized.iter().position(|n| n == alias));
            if slot.is_none() && column.required() {
                missing.push(column);
            }
        }
        if !missing.is_empty() {
            return Err(AuditError::MissingColumns {
                missing,
                found: names,
            });
        }
        Ok(Self {
            positions,
            n_fields: header.len(),
        })
    }

    fn position(&self, column: Column) -> Option<usize> {
        let index = Column::ALL.iter().position(|c| *c == column)?;
        self.positions.get(index).copied().flatten()
    }
}

/// One good row, borrowed from the record.
pub(crate) struct Row<'a> {
    pub line: u64,
    /// Seconds since the Unix epoch, UTC.
    pub at: i64,
    pub csm: &'a str,
    pub minutes: f64,
    pub note: &'a str,
}

/// Reads every row of `input` into a tally.
pub(crate) fn read(
    input: impl std::io::Read,
    categories: &Categories,
) -> Result<Tally, AuditError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut record = csv::ByteRecord::new();
    let read_error = |e: csv::Error| AuditError::Read {
        line: e.position().map_or(0, |p| p.line()),
        message: e.to_string(),
    };
    if !reader.read_byte_record(&mut record).map_err(read_error)? {
        return Err(AuditError::Empty);
    }
    let layout = Layout::from_header(&record)?;
    let mut tally = Tally::new(categories);
    let mut lowered = String::new();
    let mut problems: Vec<BadRow> = Vec::new();
    while reader.read_byte_record(&mut record).map_err(read_error)? {
        let line = record.position().map_or(0, |p| p.line());
        problems.clear();
        if let Some(row) = check_row(&record, line, &layout, &mut problems) {
            lower_into(row.note, &mut lowered);
            let category = categories.classify_lowered(&lowered);
            tally.add(&row, category);
        } else {
            tally.add_bad(problems.drain(..));
        }
    }
    if tally.n_good_rows() == 0 {
        let (n_bad_rows, bad_rows) = tally.into_bad_rows();
        return Err(AuditError::NoGoodRows {
            n_bad_rows,
            bad_rows,
        });
    }
    Ok(tally)
}

/// The row if every field is good; otherwise each problem goes to `problems`.
fn check_row<'r>(
    record: &'r csv::ByteRecord,
    line: u64,
    layout: &Layout,
    problems: &mut Vec<BadRow>,
) -> Option<Row<'r>> {
    if record.len() != layout.n_fields {
        problems.push(BadRow {
            line,
            column: None,
            value: None,
            problem: format!(
                "{} field(s) where the header has {}; a note with commas must be in double quotes",
                record.len(),
                layout.n_fields
            ),
        });
        return None;
    }
    let mut field = |column: Column| -> Option<&'r str> {
        let bytes = record.get(layout.position(column)?)?;
        match std::str::from_utf8(bytes) {
            Ok(text) => Some(text.trim()),
            Err(e) => {
                problems.push(BadRow {
                    line,
                    column: Some(column),
                    value: Some(String::from_utf8_lossy(bytes).into_owned()),
                    problem: format!(
                        "not UTF-8 (byte {} of the field); save the file as UTF-8",
                        e.valid_up_to() + 1
                    ),
                });
                None
            }
        }
    };
    let timestamp = field(Column::Timestamp);
    let csm = field(Column::Csm);
    let minutes = field(Column::Minutes);
    let note = field(Column::Note);
    // Carried along only, but a file with a broken byte there is still broken.
    let account_ok = layout.position(Column::Account).is_none() || field(Column::Account).is_some();
    let channel_ok = layout.position(Column::Channel).is_none() || field(Column::Channel).is_some();

    let mut bad = |column: Column, value: &str, problem: String| {
        problems.push(BadRow {
            line,
            column: Some(column),
            value: Some(value.to_owned()),
            problem,
        });
    };
    let at = timestamp.and_then(|text| {
        let at = parse_timestamp(text);
        if at.is_none() {
            bad(
                Column::Timestamp,
                text,
                format!("not a date; accepted formats: {ACCEPTED_DATE_FORMATS}"),
            );
        }
        at
    });
    let minutes = minutes.and_then(|text| {
        let problem = match text.parse::<f64>() {
            Ok(m) if m.is_finite() && m >= 0.0 => return Some(m),
            Ok(m) if m < 0.0 => "negative minutes; give the time spent, 0 or more",
            _ if text.is_empty() => "no minutes; give the time spent, e.g. 15",
            _ => "not a number of minutes; give a number such as 15 or 7.5",
        };
        bad(Column::Minutes, text, problem.to_owned());
        None
    });
    let csm = csm.and_then(|text| {
        if text.is_empty() {
            bad(
                Column::Csm,
                text,
                "no CSM; every interaction needs the CSM who spent the time".to_owned(),
            );
            None
        } else {
            Some(text)
        }
    });
    match (at, csm, minutes, note, account_ok && channel_ok) {
        (Some(at), Some(csm), Some(minutes), Some(note), true) => Some(Row {
            line,
            at,
            csm,
            minutes,
            note,
        }),
        _ => None,
    }
}

/// Seconds since the Unix epoch of a timestamp in one of the [`ACCEPTED_DATE_FORMATS`].
pub(crate) fn parse_timestamp(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() >= 10 && b[4] == b'-' && b[7] == b'-' {
        let day = epoch_day(number(&b[0..4])?, number(&b[5..7])?, number(&b[8..10])?)?;
        let rest = text.get(10..)?;
        if rest.is_empty() {
            return Some(day * 86_400);
        }
        if !matches!(rest.as_bytes()[0], b' ' | b'T' | b't') {
            return None;
        }
        if let Some(seconds) = time_of_day(rest.get(1..)?) {
            return Some(day * 86_400 + seconds);
        }
        // With an offset: RFC 3339.
        return text
            .parse::<jiff::Timestamp>()
            .ok()
            .map(jiff::Timestamp::as_second);
    }
    if b.len() >= 10 && b[2] == b'/' && b[5] == b'/' {
        let day = epoch_day(number(&b[6..10])?, number(&b[0..2])?, number(&b[3..5])?)?;
        let rest = text.get(10..)?;
        if rest.is_empty() {
            return Some(day * 86_400);
        }
        let time = rest.strip_prefix(' ')?;
        return Some(day * 86_400 + time_of_day(time)?);
    }
    None
}

/// `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fff` (fraction dropped) in seconds.
fn time_of_day(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 5 || b[2] != b':' {
        return None;
    }
    let hours = number(&b[0..2])?;
    let minutes = number(&b[3..5])?;
    let seconds = match b.len() {
        5 => 0,
        8.. if b[5] == b':' => {
            let fraction_ok = b.len() == 8
                || (b[8] == b'.' && b.len() > 9 && b[9..].iter().all(u8::is_ascii_digit));
            if !fraction_ok {
                return None;
            }
            number(&b[6..8])?
        }
        _ => return None,
    };
    (hours < 24 && minutes < 60 && seconds < 60).then_some(hours * 3600 + minutes * 60 + seconds)
}

fn number(digits: &[u8]) -> Option<i64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0i64, |n, d| n * 10 + i64::from(d - b'0')),
    )
}

/// Days since 1970-01-01 of a valid calendar date.
fn epoch_day(year: i64, month: i64, day: i64) -> Option<i64> {
    let date = jiff::civil::Date::new(
        i16::try_from(year).ok()?,
        i8::try_from(month).ok()?,
        i8::try_from(day).ok()?,
    )
    .ok()?;
    Some(days_from_civil(
        i64::from(date.year()),
        i64::from(date.month()),
        i64::from(date.day()),
    ))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}
