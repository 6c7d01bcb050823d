//! `onboard audit FILE.csv`: the binary on small CSV files written here (exact figures per
//! category, CSM and week, each row's category by line in `--json`, the example program's
//! rules named as coverage, the HTML report, every kind of bad input reported by line with
//! the good rows still counted), and on the committed sample, whose seeded figures are fixed.

use crate::support::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;

const SAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../samples/interactions.csv"
);

const SMALL: &str = "timestamp,csm,account,channel,minutes,note
2025-03-03T09:00:00Z,Ann,Acme,email,30,Reset password for Bob
2025-03-03T10:00:00Z,Ann,Acme,chat,15,Where is the export button?
2025-03-04 11:00,Cid,Bolt,email,20,Sent the welcome email and guide
2025-03-05,Cid,Bolt,email,25,Rescheduled the kickoff to Friday
03/06/2025,Ann,Bolt,meeting,90,QBR with the exec sponsor
2025-03-10T09:00:00Z,Cid,Acme,call,60,Invoice question for billing
2025-03-11T09:00:00Z,Ann,Acme,email,10,Sent new creds to Bob
";

/// Runs `onboard audit` in a fresh folder holding `csv` as `in.csv`, with `--json out.json`
/// and any other arguments; the JSON is `Null` when none was written.
fn audit(csv: &[u8], args: &[&str]) -> (Output, Value, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), csv).unwrap();
    let output = onboard(dir.path())
        .args(["audit", "in.csv", "--json", "out.json"])
        .args(args)
        .output()
        .unwrap();
    let json = std::fs::read_to_string(dir.path().join("out.json"))
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap_or(Value::Null);
    (output, json, dir)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn category<'a>(json: &'a Value, key: &str) -> &'a Value {
    json["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == key)
        .unwrap_or_else(|| panic!("no category {key}"))
}

fn covered_by(json: &Value, key: &str) -> Vec<String> {
    category(json, key)["coverage"]["covered_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["kind"].as_str().unwrap(),
                c["key"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn hours_are_given_per_category_csm_and_week() {
    let (output, json, _dir) = audit(SMALL.as_bytes(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let hours: Vec<(String, f64)> = json["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap().to_owned(),
                c["hours"].as_f64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("password_reset", 0.67),
        ("ui_navigation", 0.25),
        ("welcome_guides", 0.33),
        ("scheduling", 0.42),
        ("strategic", 1.5),
        ("other", 1.0),
    ];
    assert_eq!(
        hours,
        expected.map(|(k, h)| (k.to_owned(), h)),
        "the example program adds \"creds\" to the password resets"
    );
    assert_eq!(json["total_hours"], 4.17);
    assert_eq!(json["traps"]["hours"], 1.67);
    assert_eq!(json["span_days"], 9);
    let csms: Vec<(&str, f64, f64)> = json["csms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["csm"].as_str().unwrap(),
                c["hours"].as_f64().unwrap(),
                c["trap_hours"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(csms, [("Ann", 2.42, 0.92), ("Cid", 1.75, 0.75)]);
    let weeks: Vec<(&str, f64)> = json["weeks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["week"].as_str().unwrap(), w["hours"].as_f64().unwrap()))
        .collect();
    assert_eq!(weeks, [("2025-03-03", 3.0), ("2025-03-10", 1.17)]);

    let text = stdout(&output);
    assert!(
        text.contains("7 interactions from 2025-03-03 to 2025-03-11"),
        "{text}"
    );
    let reset = text
        .lines()
        .find(|l| l.starts_with("Password or permission resets "))
        .unwrap();
    assert!(
        reset.contains(" 0.67 ") && reset.contains("16.0 %"),
        "{reset}"
    );
    let ann = text.lines().find(|l| l.starts_with("Ann ")).unwrap();
    assert!(ann.contains(" 2.42 ") && ann.contains(" 0.92 "), "{ann}");
}

#[test]
fn the_json_gives_every_rows_category_by_line() {
    let (output, json, _dir) = audit(SMALL.as_bytes(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows: Vec<(u64, &str)> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["category"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rows,
        [
            (2, "password_reset"),
            (3, "ui_navigation"),
            (4, "welcome_guides"),
            (5, "scheduling"),
            (6, "strategic"),
            (7, "other"),
            (8, "password_reset"),
        ]
    );
    assert_eq!(json["file"], "in.csv");
    assert_eq!(json["program"], "Pipeflow CRM onboarding");
}

#[test]
fn coverage_names_the_example_programs_rules_journeys_and_kickoff() {
    let (output, json, _dir) = audit(SMALL.as_bytes(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        covered_by(&json, "password_reset"),
        ["rule new-sign-in-link"]
    );
    assert_eq!(
        covered_by(&json, "welcome_guides"),
        ["rule welcome-email", "rule no-login-nudge"]
    );
    assert_eq!(
        covered_by(&json, "ui_navigation"),
        [
            "journey admin-essentials",
            "journey everyday-selling",
            "journey executive-insights",
            "rule import-nudge"
        ]
    );
    assert_eq!(
        covered_by(&json, "scheduling"),
        ["template onboarding/kickoff"]
    );
    // 0.67 h over 9 days is 2.25 h a month, of which 80 % is saved.
    let reset = category(&json, "password_reset");
    assert_eq!(reset["hours_per_month"], 2.25);
    assert_eq!(reset["coverage"]["saved_hours_per_month"], 1.8);
    assert!(category(&json, "strategic")["coverage"].is_null());
    let text = stdout(&output);
    assert!(
        text.contains("automated by rule new-sign-in-link (on:academy.link_requested)"),
        "{text}"
    );
}

#[test]
fn a_program_folder_brings_its_own_categories_and_automations() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("program");
    std::fs::create_dir_all(program.join("messages")).unwrap();
    std::fs::write(
        program.join("program.toml"),
        r#"[program]
name = "Tiny"
sender = { name = "CS", email = "cs@tiny.example" }

[[rules]]
name = "import-help"
on = "import.failed"

[[rules.actions]]
send = "import-help"
to = "people"

[[audit.categories]]
key = "data_import"
label = "Data imports"
trap = true
keywords = ["import"]
covered_by = ["on:import.failed"]
automation = 0.5
"#,
    )
    .unwrap();
    std::fs::write(
        program.join("messages/import-help.md"),
        "+++\nsubject = \"Importing\"\n+++\nHere is how.\n",
    )
    .unwrap();
    let csv = "timestamp,csm,minutes,note\n2025-03-03,Ann,60,CSV import failed again\n";
    let program_arg = program.to_str().unwrap();
    let (output, json, _tmp) = audit(csv.as_bytes(), &["--program", program_arg]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(json["rows"][0]["category"], "data_import");
    assert_eq!(covered_by(&json, "data_import"), ["rule import-help"]);
    assert_eq!(
        category(&json, "data_import")["coverage"]["automation"],
        0.5
    );
    assert_eq!(
        covered_by(&json, "password_reset"),
        Vec::<String>::new(),
        "this program answers no sign-in link request"
    );
}

#[test]
fn the_html_report_has_svg_charts_no_script_and_escaped_notes() {
    let csv = format!(
        "{SMALL}2025-03-11T10:00:00Z,Ann,Acme,email,5,<script>alert('x')</script> password again\n"
    );
    let (output, _json, dir) = audit(csv.as_bytes(), &["--html", "report.html"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("<svg"));
    assert!(!html.to_lowercase().contains("<script"));
    assert!(html.contains("&lt;script&gt;alert("), "the note is escaped");
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http"),
        "no external assets"
    );
    assert!(stdout(&output).contains("HTML report written to report.html"));
}

#[test]
fn bad_rows_are_reported_by_line_and_the_good_rows_still_count() {
    let mut csv = b"timestamp,csm,account,channel,minutes,note
2025-03-03T09:00:00Z,Ann,Acme,email,30,Reset password
2025-02-30,Ann,Acme,email,30,bad date
2025-03-03,Ann,Acme,email,-10,negative
2025-03-03,Ann,Acme,email,ten,not a number
"
    .to_vec();
    csv.extend_from_slice(b"2025-03-03,Ann,Acme,email,10,caf\xe9\n");
    csv.extend_from_slice(
        b"2025-03-03,Ann,Acme,email,30
2025-03-03,Ann,Acme,email,30,a,b
2025-03-04,Cid,Acme,call,60,QBR
",
    );
    let (output, json, _dir) = audit(&csv, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(json["n_good_rows"], 2);
    assert_eq!(json["n_bad_rows"], 6);
    assert_eq!(json["total_hours"], 1.5);
    let bad: Vec<(u64, &str)> = json["bad_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["line"].as_u64().unwrap(),
                b["column"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        bad,
        [
            (3, "timestamp"),
            (4, "minutes"),
            (5, "minutes"),
            (6, "note"),
            (7, "-"),
            (8, "-")
        ]
    );
    let text = stdout(&output);
    for expected in [
        "6 of 8 rows skipped",
        "line 3, timestamp \"2025-02-30\": not a date; accepted formats: RFC 3339",
        "line 4, minutes \"-10\": negative minutes",
        "line 5, minutes \"ten\": not a number of minutes",
        "line 6, note \"caf\u{fffd}\": not UTF-8",
        "line 7: 5 field(s) where the header has 6",
        "line 8: 7 field(s) where the header has 6",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
}

#[test]
fn missing_columns_are_named_with_the_headers_found_and_exit_1() {
    let (output, json, _dir) = audit(b"when,owner,company,type,notes\nx,y,z,w,v\n", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(json.is_null(), "nothing is written");
    let text = stderr(&output);
    assert!(
        text.contains("missing column(s): timestamp (or date"),
        "{text}"
    );
    assert!(text.contains("minutes (or duration"), "{text}");
    assert!(
        text.contains(r#""when", "owner", "company", "type", "notes""#),
        "{text}"
    );
}

#[test]
fn a_file_without_a_good_row_is_an_error_listing_its_rows() {
    let (output, _json, _dir) = audit(
        b"timestamp,csm,minutes,note\nsoon,Ann,5,x\n2025-03-03,Ann,-5,y\n",
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.contains("no row could be read, all 2 have problems"),
        "{text}"
    );
    assert!(text.contains("line 2, timestamp \"soon\""), "{text}");
    assert!(text.contains("line 3, minutes \"-5\""), "{text}");
}

#[test]
fn a_missing_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = onboard(dir.path())
        .args(["audit", "nowhere.csv"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("cannot open nowhere.csv"));
}

#[test]
fn the_committed_sample_has_its_seeded_figures() {
    let dir = tempfile::tempdir().unwrap();
    let sample = PathBuf::from(SAMPLE);
    let output = onboard(dir.path())
        .arg("audit")
        .arg(&sample)
        .args(["--json", "out.json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out.json")).unwrap())
            .unwrap();
    assert_sample_figures(&json);
}

/// The figures of `samples/interactions.csv` (`scripts/interactions.py --rows 3000 --seed 7`)
/// with the example program.
fn assert_sample_figures(json: &Value) {
    assert_eq!(json["n_rows"], 3000);
    assert_eq!(json["n_bad_rows"], 0);
    assert_eq!(json["first"], SAMPLE_FIRST);
    assert_eq!(json["last"], SAMPLE_LAST);
    let hours: Vec<(&str, u64, f64)> = json["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap(),
                c["n_interactions"].as_u64().unwrap(),
                c["hours"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(hours, SAMPLE_CATEGORIES);
    assert_eq!(json["total_hours"], SAMPLE_TOTAL_HOURS);
    assert_eq!(
        json["traps"]["saved_hours_per_month"],
        SAMPLE_SAVED_PER_MONTH
    );
    assert_eq!(json["csms"].as_array().unwrap().len(), 6);
    assert_eq!(json["weeks"].as_array().unwrap().len(), SAMPLE_WEEKS);
}

const SAMPLE_FIRST: &str = "2025-01-06T08:09:00Z";
const SAMPLE_LAST: &str = "2025-04-04T17:25:00Z";
const SAMPLE_CATEGORIES: [(&str, u64, f64); 6] = [
    ("password_reset", 423, 87.85),
    ("ui_navigation", 616, 235.22),
    ("welcome_guides", 302, 100.63),
    ("scheduling", 403, 102.05),
    ("strategic", 832, 833.25),
    ("other", 424, 197.45),
];
const SAMPLE_TOTAL_HOURS: f64 = 1556.45;
const SAMPLE_SAVED_PER_MONTH: f64 = 143.84;
const SAMPLE_WEEKS: usize = 13;
