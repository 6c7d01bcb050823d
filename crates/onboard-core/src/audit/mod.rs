//! The infrastructure audit: where CSM time goes. A CSV export of CSM interactions
//! (timestamp, CSM, account, channel, minutes, note) is read row by row ([`audit`]), each
//! note is put in a category by keywords (the manual traps, strategic work, other:
//! [`Categories`], built in and extended by the program's `[audit]`), and the time is added
//! up per category, CSM and week into a [`Report`] that also says, for each trap, what in the
//! program already automates it and how much time that saves per month ([`coverage`]).
//!
//! Pure like the rest of the crate: rows come from any [`std::io::Read`]; dates are the
//! rows' own, never the clock's. Bad rows are skipped and listed with their line; the
//! terminal, HTML and JSON renderings of a report live in the binary and the web crate.

mod categories;
mod coverage;
mod read;
mod report;

#[cfg(test)]
mod tests;

pub use categories::{Categories, Category, CategoryKind};
pub use coverage::{coverage, Coverage, CoveredBy};
pub use read::{AuditError, BadRow, Column, ACCEPTED_DATE_FORMATS};
pub use report::{
    CategoryReport, CsmReport, Example, Report, RowCategories, TrapSummary, WeekReport,
};

use crate::program::Program;

/// Audits the CSV in `input` with these categories; coverage is read from `program` (none:
/// nothing counts as automated). A file whose header lacks a column, or with no good row, is
/// an error; bad rows are otherwise skipped and listed in the report.
pub fn audit(
    input: impl std::io::Read,
    categories: &Categories,
    program: Option<&Program>,
) -> Result<Report, AuditError> {
    let tally = read::read(input, categories)?;
    Ok(report::build(tally, categories, program))
}
