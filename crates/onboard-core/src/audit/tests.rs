//! Behaviour of the audit: header matching, the date formats, bad rows reported by line and
//! skipped, classification by keywords (built in, then the program's), the totals per
//! category, CSM and week, and coverage of the traps by a program.

#![allow(clippy::unwrap_used)]

use super::read::parse_timestamp;
use super::*;
use crate::program::{load, AutomationSource, Program, ProgramSource, SourceFile};

const HEADER: &str = "timestamp,csm,account,channel,minutes,note\n";

fn run(csv: &str) -> Report {
    audit(csv.as_bytes(), &Categories::builtin(), None).unwrap()
}

fn category_hours(report: &Report, key: &str) -> f64 {
    report
        .categories
        .iter()
        .find(|c| c.key == key)
        .unwrap()
        .hours
}

fn rows(report: &Report) -> Vec<(u64, String)> {
    report
        .rows
        .iter()
        .map(|(line, key)| (line, key.to_owned()))
        .collect()
}

fn program(toml: &str) -> Result<Program, Vec<crate::program::Diagnostic>> {
    let mut files = vec![SourceFile {
        path: "program.toml".to_owned(),
        contents: toml.to_owned(),
    }];
    files.push(SourceFile {
        path: "messages/link.md".to_owned(),
        contents: "+++\nsubject = \"Your link\"\n+++\nHere it is.\n".to_owned(),
    });
    load(&ProgramSource { files })
}

const PROGRAM: &str = r#"[program]
name = "Mini"
sender = { name = "CS", email = "cs@mini.example" }

[[rules]]
name = "new-link"
on = "academy.link_requested"

[[rules.actions]]
send = "link"
to = "person"

[[rules]]
name = "csm-told"
on = "person.enrolled"

[[rules.actions]]
send = "link"
to = "csm"
"#;

// ------------------------------------------------------------------------------ header

#[test]
fn headers_are_matched_case_insensitively_and_by_their_common_names() {
    let csv = "Created At,Owner,Company,Type,Duration,Summary\n\
               2025-01-06 09:00,Ann,Acme,email,30,reset password for Bob\n";
    let report = run(csv);
    assert_eq!(report.n_good_rows, 1);
    assert_eq!(report.csms[0].csm, "Ann");
    assert_eq!(category_hours(&report, "password_reset"), 0.5);
}

#[test]
fn account_and_channel_may_be_left_out() {
    let report = run("date,csm,minutes,notes\n2025-01-06,Ann,60,QBR with Bob\n");
    assert_eq!(category_hours(&report, "strategic"), 1.0);
}

#[test]
fn a_missing_column_is_named_with_the_headers_found() {
    let error = audit(
        "when,csm,account,channel,note\n".as_bytes(),
        &Categories::builtin(),
        None,
    )
    .unwrap_err();
    match &error {
        AuditError::MissingColumns { missing, found } => {
            assert_eq!(missing, &[Column::Timestamp, Column::Minutes]);
            assert_eq!(found, &["when", "csm", "account", "channel", "note"]);
        }
        other => panic!("{other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains("timestamp (or date, time, created_at"),
        "{text}"
    );
    assert!(text.contains("\"when\""), "{text}");
}

#[test]
fn an_empty_file_is_an_error() {
    let error = audit("".as_bytes(), &Categories::builtin(), None).unwrap_err();
    assert_eq!(error, AuditError::Empty);
}

// ------------------------------------------------------------------------------- dates

#[test]
fn dates_are_read_in_every_accepted_format_as_utc() {
    let at = 1_736_154_000; // 2025-01-06T09:00:00Z
    assert_eq!(parse_timestamp("2025-01-06T09:00:00Z"), Some(at));
    assert_eq!(parse_timestamp("2025-01-06T10:00:00+01:00"), Some(at));
    assert_eq!(parse_timestamp("2025-01-06 09:00:00"), Some(at));
    assert_eq!(parse_timestamp("2025-01-06 09:00"), Some(at));
    assert_eq!(parse_timestamp("2025-01-06T09:00:00.250"), Some(at));
    assert_eq!(parse_timestamp("2025-01-06"), Some(at - 9 * 3600));
    assert_eq!(parse_timestamp("01/06/2025"), Some(at - 9 * 3600));
    assert_eq!(parse_timestamp("01/06/2025 09:00"), Some(at));
}

#[test]
fn impossible_or_unknown_dates_are_refused() {
    for text in [
        "2025-02-30",
        "13/01/2025",
        "06.01.2025",
        "2025-01-06 25:00",
        "2025-01-06 09:00:00 PM",
        "yesterday",
        "",
    ] {
        assert_eq!(parse_timestamp(text), None, "{text}");
    }
}

// ----------------------------------------------------------------------------- bad rows

#[test]
fn bad_rows_are_listed_with_line_and_column_and_the_good_rows_still_count() {
    let csv = format!(
        "{HEADER}\
         2025-01-06 09:00,Ann,Acme,email,30,reset password\n\
         2025-13-06 09:00,Ann,Acme,email,30,reset password\n\
         2025-01-06 09:00,Ann,Acme,email,-5,reset password\n\
         2025-01-06 09:00,Ann,Acme,email,ten,reset password\n\
         2025-01-06 09:00,Ann,Acme,email,30\n\
         2025-01-06 09:00,,Acme,email,30,reset password\n\
         2025-01-07 10:00,Bob,Acme,email,15,QBR\n"
    );
    let report = run(&csv);
    assert_eq!(report.n_rows, 7);
    assert_eq!(report.n_good_rows, 2);
    assert_eq!(report.n_bad_rows, 5);
    let found: Vec<(u64, Option<Column>, Option<&str>)> = report
        .bad_rows
        .iter()
        .map(|b| (b.line, b.column, b.value.as_deref()))
        .collect();
    assert_eq!(
        found,
        [
            (3, Some(Column::Timestamp), Some("2025-13-06 09:00")),
            (4, Some(Column::Minutes), Some("-5")),
            (5, Some(Column::Minutes), Some("ten")),
            (6, None, None),
            (7, Some(Column::Csm), Some("")),
        ]
    );
    assert!(report.bad_rows[0].problem.contains("RFC 3339"));
    assert!(report.bad_rows[1].problem.contains("negative"));
    assert!(report.bad_rows[3]
        .problem
        .contains("5 field(s) where the header has 6"));
    assert_eq!(report.total_hours, 0.75);
}

#[test]
fn a_field_that_is_not_utf8_is_reported_at_its_line() {
    let mut csv = format!("{HEADER}2025-01-06 09:00,Ann,Acme,email,30,ok\n").into_bytes();
    csv.extend_from_slice(b"2025-01-06 09:00,Ann,Acme,email,30,caf\xe9 menu\n");
    let report = audit(csv.as_slice(), &Categories::builtin(), None).unwrap();
    assert_eq!(report.n_bad_rows, 1);
    let bad = &report.bad_rows[0];
    assert_eq!((bad.line, bad.column), (3, Some(Column::Note)));
    assert!(bad.problem.contains("not UTF-8"), "{}", bad.problem);
}

#[test]
fn a_quoted_note_over_several_lines_keeps_the_lines_after_it_right() {
    let csv = format!(
        "{HEADER}\
         2025-01-06 09:00,Ann,Acme,email,30,\"line one,\nline two\"\n\
         2025-01-06 09:00,Ann,Acme,email,x,reset password\n"
    );
    let report = run(&csv);
    assert_eq!(rows(&report), [(2, "other".to_owned())]);
    assert_eq!(report.bad_rows[0].line, 4);
}

#[test]
fn a_file_without_a_good_row_is_an_error_listing_the_bad_ones() {
    let csv = format!("{HEADER}2025-01-06,Ann,Acme,email,-1,x\n");
    match audit(csv.as_bytes(), &Categories::builtin(), None).unwrap_err() {
        AuditError::NoGoodRows {
            n_bad_rows,
            bad_rows,
        } => {
            assert_eq!(n_bad_rows, 1);
            assert_eq!(bad_rows[0].line, 2);
        }
        other => panic!("{other:?}"),
    }
}

// ------------------------------------------------------------------------ classification

#[test]
fn notes_fall_into_the_built_in_categories_by_keyword() {
    let categories = Categories::builtin();
    let key = |note: &str| categories.list()[categories.classify(note)].key.clone();
    assert_eq!(
        key("Bob is LOCKED OUT, reset his password"),
        "password_reset"
    );
    assert_eq!(key("Where do I find the export button?"), "ui_navigation");
    assert_eq!(
        key("Sent the welcome email and the guide"),
        "welcome_guides"
    );
    assert_eq!(key("Rescheduling the kickoff again"), "scheduling");
    assert_eq!(key("QBR: renewal and expansion"), "strategic");
    assert_eq!(key("Invoice question passed to billing"), "other");
    assert_eq!(key(""), "other");
}

#[test]
fn a_keyword_matches_only_at_the_start_of_a_word() {
    let categories = Categories::builtin();
    let key = |note: &str| categories.list()[categories.classify(note)].key.clone();
    assert_eq!(key("Went over the lessons learned"), "other");
    assert_eq!(key("SSO broken for the team"), "password_reset");
}

#[test]
fn the_first_category_in_order_wins_when_several_match() {
    let categories = Categories::builtin();
    let note = "QBR moved: rescheduled after the password reset";
    assert_eq!(
        categories.list()[categories.classify(note)].key,
        "password_reset"
    );
}

#[test]
fn non_ascii_notes_are_lower_cased_before_matching() {
    let categories = Categories::builtin();
    let note = "Ärger: PASSWORD für Jürgen zurückgesetzt";
    assert_eq!(
        categories.list()[categories.classify(note)].key,
        "password_reset"
    );
}

#[test]
fn a_programs_categories_extend_the_built_in_ones_by_key() {
    let program = program(&format!(
        "{PROGRAM}\n\
         [[audit.categories]]\n\
         key = \"password_reset\"\n\
         keywords = [\"Zugangsdaten\"]\n\
         automation = 0.5\n\n\
         [[audit.categories]]\n\
         key = \"data_import\"\n\
         label = \"Data imports\"\n\
         trap = true\n\
         keywords = [\"import\"]\n\
         covered_by = [\"action:nudge\"]\n"
    ))
    .unwrap();
    let categories = Categories::for_program(&program.audit);
    let keys: Vec<&str> = categories.list().iter().map(|c| c.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "password_reset",
            "ui_navigation",
            "welcome_guides",
            "scheduling",
            "strategic",
            "data_import",
            "other"
        ]
    );
    let reset = &categories.list()[0];
    assert!(reset.keywords.contains(&"password".to_owned()));
    assert!(reset.keywords.contains(&"zugangsdaten".to_owned()));
    assert_eq!(reset.automation, 0.5);
    let key = |note: &str| categories.list()[categories.classify(note)].key.clone();
    assert_eq!(key("Neue Zugangsdaten geschickt"), "password_reset");
    assert_eq!(key("CSV import of contacts"), "data_import");
    let import = &categories.list()[5];
    assert_eq!(import.kind, CategoryKind::Trap);
    assert_eq!(
        import.covered_by,
        [AutomationSource::Action("nudge".to_owned())]
    );
}

#[test]
fn replace_keywords_drops_the_built_in_ones() {
    let program = program(&format!(
        "{PROGRAM}\n[[audit.categories]]\nkey = \"scheduling\"\nkeywords = [\"termin\"]\nreplace_keywords = true\n"
    ))
    .unwrap();
    let categories = Categories::for_program(&program.audit);
    assert_eq!(categories.list()[3].keywords, ["termin"]);
    assert_eq!(
        categories.list()[categories.classify("calendar invite")].key,
        "other"
    );
}

#[test]
fn audit_section_mistakes_are_reported_at_their_place() {
    let toml = format!(
        "{PROGRAM}\n\
         [[audit.categories]]\n\
         key = \"scheduling\"\n\
         covered_by = [\"kickof\"]\n\
         automation = 1.5\n\n\
         [[audit.categories]]\n\
         key = \"scheduling\"\n\
         trap = true\n\
         strategic = true\n\
         colour = \"red\"\n"
    );
    let diagnostics = program(&toml).unwrap_err();
    let base = PROGRAM.lines().count() as u32 + 1;
    let found: Vec<(u32, u32, &str)> = diagnostics
        .iter()
        .map(|d| (d.line, d.column, d.message.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (
                base + 3,
                15,
                "`kickof` is not something a program automates with"
            ),
            (
                base + 4,
                14,
                "`automation` in [[audit.categories]] must be a number from 0 to 1"
            ),
            (
                base + 7,
                1,
                "the audit category `scheduling` is given twice"
            ),
            (
                base + 9,
                1,
                "an audit category cannot be both a trap and strategic work"
            ),
            (
                base + 10,
                1,
                "unknown field `colour` in [[audit.categories]]"
            ),
        ],
        "{diagnostics:#?}"
    );
}

// ------------------------------------------------------------------------------ totals

const WEEKS: &str = "timestamp,csm,account,channel,minutes,note\n\
    2025-01-06 09:00,Ann,Acme,email,30,Password reset for Bob\n\
    2025-01-07 09:00,Ann,Acme,call,90,QBR with the exec sponsor\n\
    2025-01-08 09:00,Cid,Bolt,chat,15,Where is the export?\n\
    2025-01-13 09:00,Cid,Bolt,email,45,Rescheduled the kickoff\n\
    2025-01-19 17:00,Ann,Bolt,email,60,Invoice question\n\
    2025-02-04 09:00,Cid,Acme,email,30,Sent the welcome email\n";

#[test]
fn hours_and_shares_are_added_up_per_category() {
    let report = run(WEEKS);
    let figures: Vec<(&str, u64, f64, f64)> = report
        .categories
        .iter()
        .map(|c| (c.key.as_str(), c.n_interactions, c.hours, c.share))
        .collect();
    assert_eq!(
        figures,
        [
            ("password_reset", 1, 0.5, 0.1111),
            ("ui_navigation", 1, 0.25, 0.0556),
            ("welcome_guides", 1, 0.5, 0.1111),
            ("scheduling", 1, 0.75, 0.1667),
            ("strategic", 1, 1.5, 0.3333),
            ("other", 1, 1.0, 0.2222),
        ]
    );
    assert_eq!(report.total_hours, 4.5);
    assert_eq!(report.traps.hours, 2.0);
    assert_eq!(report.traps.share, 0.4444);
}

#[test]
fn hours_are_added_up_per_csm_most_first() {
    let report = run(WEEKS);
    let csms: Vec<(&str, u64, f64, f64)> = report
        .csms
        .iter()
        .map(|c| (c.csm.as_str(), c.n_interactions, c.hours, c.trap_hours))
        .collect();
    assert_eq!(csms, [("Ann", 3, 3.0, 0.5), ("Cid", 3, 1.5, 1.5)]);
    assert_eq!(
        report.csms[0].hours_by_category,
        [0.5, 0.0, 0.0, 0.0, 1.5, 1.0]
    );
}

#[test]
fn weeks_start_on_monday_and_empty_ones_are_left_out() {
    let report = run(WEEKS);
    let weeks: Vec<(&str, f64, f64, f64, f64)> = report
        .weeks
        .iter()
        .map(|w| {
            (
                w.week.as_str(),
                w.hours,
                w.trap_hours,
                w.strategic_hours,
                w.other_hours,
            )
        })
        .collect();
    assert_eq!(
        weeks,
        [
            ("2025-01-06", 2.25, 0.75, 1.5, 0.0),
            ("2025-01-13", 1.75, 0.75, 0.0, 1.0),
            ("2025-02-03", 0.5, 0.5, 0.0, 0.0),
        ]
    );
}

#[test]
fn the_span_runs_from_the_first_day_to_the_last_both_included() {
    let report = run(WEEKS);
    assert_eq!(report.first, "2025-01-06T09:00:00Z");
    assert_eq!(report.last, "2025-02-04T09:00:00Z");
    assert_eq!(report.span_days, 30);
    assert_eq!(report.months, 0.99);
}

#[test]
fn every_good_row_has_its_category_by_line() {
    let report = run(WEEKS);
    let keys: Vec<(u64, String)> = rows(&report);
    assert_eq!(
        keys,
        [
            (2, "password_reset".to_owned()),
            (3, "strategic".to_owned()),
            (4, "ui_navigation".to_owned()),
            (5, "scheduling".to_owned()),
            (6, "other".to_owned()),
            (7, "welcome_guides".to_owned()),
        ]
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["rows"][0],
        serde_json::json!({"line": 2, "category": "password_reset"})
    );
}

#[test]
fn a_traps_examples_are_its_most_frequent_notes() {
    let csv = format!(
        "{HEADER}\
         2025-01-06,Ann,A,email,10,Reset password\n\
         2025-01-06,Ann,A,email,10,Locked out\n\
         2025-01-06,Ann,A,email,10,Locked out\n\
         2025-01-06,Ann,A,email,10,QBR\n"
    );
    let report = run(&csv);
    let examples: Vec<(&str, u64, u64)> = report.categories[0]
        .examples
        .iter()
        .map(|e| (e.note.as_str(), e.count, e.first_line))
        .collect();
    assert_eq!(examples, [("Locked out", 2, 3), ("Reset password", 1, 2)]);
    assert!(
        report.categories[4].examples.is_empty(),
        "strategic work is no trap"
    );
}

// ------------------------------------------------------------------------------ coverage

#[test]
fn a_trap_is_covered_by_the_rules_that_write_to_the_customer_on_its_event() {
    let program = program(PROGRAM).unwrap();
    let categories = Categories::for_program(&program.audit);
    let report = audit(WEEKS.as_bytes(), &categories, Some(&program)).unwrap();
    let reset = report.categories[0].coverage.as_ref().unwrap();
    assert!(reset.automated);
    assert_eq!(
        reset.covered_by,
        [CoveredBy {
            kind: "rule",
            key: "new-link".to_owned(),
            via: "on:academy.link_requested".to_owned(),
        }]
    );
    // 0.5 h over 30 days: 0.51 h a month, 80 % of it saved.
    assert_eq!(report.categories[0].hours_per_month, 0.51);
    assert_eq!(reset.saved_hours_per_month, 0.41);

    // The rule on person.enrolled writes only to the CSM: welcome emails are not automated.
    let welcome = report.categories[2].coverage.as_ref().unwrap();
    assert!(!welcome.automated);
    assert_eq!(welcome.automation, 0.0);
    assert_eq!(welcome.saved_hours_per_month, 0.0);
    assert_eq!(report.traps.n_covered, 1);
    assert!(report.categories[4].coverage.is_none());
}

#[test]
fn without_a_program_nothing_is_automated() {
    let report = run(WEEKS);
    assert_eq!(report.traps.saved_hours_per_month, 0.0);
    assert!(report
        .categories
        .iter()
        .filter_map(|c| c.coverage.as_ref())
        .all(|c| !c.automated && c.covered_by.is_empty()));
}
