//! `onboard audit FILE.csv`: the infrastructure audit of a CSV export of CSM interactions.
//! Reads the file through `onboard_core::audit` with the categories of the program (the
//! bundled example unless `--program DIR`), prints the report as terminal tables, and writes
//! it as HTML (`--html`, rendered by `onboard_web::audit`) and JSON (`--json`, every figure
//! and each row's category by line) when asked.

use anyhow::Context;
use clap::Args;
use onboard_core::audit::{AuditError, Categories, CategoryKind, Report};
use onboard_core::program::Program;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// How many skipped rows the terminal lists (`--json` has them all).
const N_BAD_ROWS_SHOWN: usize = 10;
/// How many example notes per trap the terminal shows.
const N_EXAMPLES_SHOWN: usize = 3;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The CSV export: columns timestamp, csm, account, channel, minutes, note (header names
    /// are matched case-insensitively; date, owner, company, type, duration, notes… work too).
    pub file: PathBuf,
    /// Also write the report as an HTML page with charts.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Also write the whole report as JSON, with the category of every row by line.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// The program whose `[audit]` categories and automations to use (default: the bundled
    /// example program).
    #[arg(long, value_name = "DIR", env = "ONBOARD_PROGRAM")]
    pub program: Option<PathBuf>,
}

/// Runs the audit; exit 1 when the file cannot be audited (missing columns, no good row,
/// unreadable) or the program has errors.
pub fn run(args: &AuditArgs) -> ExitCode {
    match audit(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn audit(args: &AuditArgs) -> anyhow::Result<()> {
    let program = load_program(args.program.as_deref())?;
    let categories = Categories::for_program(&program.audit);
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let report = match onboard_core::audit::audit(file, &categories, Some(&program)) {
        Ok(report) => report,
        Err(AuditError::NoGoodRows {
            n_bad_rows,
            bad_rows,
        }) => {
            let mut text = String::new();
            for bad in bad_rows.iter().take(N_BAD_ROWS_SHOWN) {
                let _ = writeln!(text, "  {bad}");
            }
            if bad_rows.len() > N_BAD_ROWS_SHOWN {
                let _ = writeln!(text, "  … and {} more", bad_rows.len() - N_BAD_ROWS_SHOWN);
            }
            anyhow::bail!(
                "{}: no row could be read, all {n_bad_rows} have problems:\n{}",
                args.file.display(),
                text.trim_end()
            );
        }
        Err(e) => return Err(anyhow::Error::new(e).context(args.file.display().to_string())),
    };

    let mut out = std::io::stdout().lock();
    out.write_all(terminal(&report, &args.file, &program).as_bytes())?;

    if let Some(path) = &args.html {
        let title = format!(
            "Infrastructure audit of {}",
            args.file.file_name().map_or_else(
                || args.file.display().to_string(),
                |n| n.to_string_lossy().into_owned()
            )
        );
        let html = onboard_web::audit::render_audit(
            &report,
            &title,
            onboard_web::audit::AuditHtml::Document,
        )
        .context("rendering the HTML report")?;
        std::fs::write(path, html).with_context(|| format!("writing {}", path.display()))?;
        writeln!(out, "HTML report written to {}", path.display())?;
    }
    if let Some(path) = &args.json {
        let file =
            std::fs::File::create(path).with_context(|| format!("writing {}", path.display()))?;
        let mut writer = std::io::BufWriter::new(file);
        serde_json::to_writer(
            &mut writer,
            &JsonReport {
                file: &args.file.display().to_string(),
                program: &program.name,
                report: &report,
            },
        )
        .with_context(|| format!("writing {}", path.display()))?;
        writer
            .flush()
            .with_context(|| format!("writing {}", path.display()))?;
        writeln!(out, "JSON report written to {}", path.display())?;
    }
    Ok(())
}

/// The JSON file: which CSV and program, then the report's fields.
#[derive(serde::Serialize)]
struct JsonReport<'a> {
    file: &'a str,
    program: &'a str,
    #[serde(flatten)]
    report: &'a Report,
}

fn load_program(dir: Option<&Path>) -> anyhow::Result<Program> {
    let source = match dir {
        Some(dir) => onboard_engine::read_program_dir(dir).map_err(anyhow::Error::msg)?,
        None => crate::program_files::bundled(),
    };
    onboard_core::program::load(&source).map_err(|diagnostics| {
        let shown = dir.map_or_else(|| PathBuf::from("(bundled program)"), Path::to_path_buf);
        let mut text = String::new();
        for d in &diagnostics {
            let _ = writeln!(text, "{}", crate::prefix_path(&shown, d));
        }
        anyhow::anyhow!(
            "{}the program has {} error(s); `onboard check` shows them too",
            text,
            diagnostics.len()
        )
    })
}

/// The report as text tables.
fn terminal(report: &Report, file: &Path, program: &Program) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Infrastructure audit of {}", file.display());
    let _ = writeln!(
        s,
        "{} interactions from {} to {} ({} days, {} months), program \"{}\"",
        report.n_good_rows,
        day(&report.first),
        day(&report.last),
        report.span_days,
        number(report.months),
        program.name
    );
    if report.n_bad_rows > 0 {
        let _ = writeln!(
            s,
            "{} of {} rows skipped (listed below)",
            report.n_bad_rows, report.n_rows
        );
    }

    s.push_str("\nTime per category\n");
    let mut rows: Vec<Vec<String>> = report
        .categories
        .iter()
        .map(|c| {
            let automated = match &c.coverage {
                None => String::new(),
                Some(cov) if cov.automated => format!(
                    "yes: {}",
                    cov.covered_by
                        .iter()
                        .map(|by| format!("{} {}", by.kind, by.key))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some(_) => "no".to_owned(),
            };
            vec![
                c.label.clone(),
                c.kind.as_str().to_owned(),
                c.n_interactions.to_string(),
                number(c.hours),
                percent(c.share),
                number(c.hours_per_month),
                c.coverage
                    .as_ref()
                    .map(|cov| number(cov.saved_hours_per_month))
                    .unwrap_or_default(),
                automated,
            ]
        })
        .collect();
    rows.push(vec![
        "Total".to_owned(),
        String::new(),
        report.n_good_rows.to_string(),
        number(report.total_hours),
        percent(1.0),
        number(report.categories.iter().map(|c| c.hours_per_month).sum()),
        number(report.traps.saved_hours_per_month),
        String::new(),
    ]);
    s.push_str(&table(
        &[
            ("Category", false),
            ("Kind", false),
            ("Rows", true),
            ("Hours", true),
            ("Share", true),
            ("h/month", true),
            ("Saved h/month", true),
            ("Automated by the program", false),
        ],
        &rows,
    ));
    let _ = writeln!(
        s,
        "\nManual traps: {} h ({}), {} h a month; the program automates {} of {} and saves about {} h a month",
        number(report.traps.hours),
        percent(report.traps.share),
        number(report.traps.hours_per_month),
        report.traps.n_covered,
        report.traps.n_traps,
        number(report.traps.saved_hours_per_month)
    );

    for c in report
        .categories
        .iter()
        .filter(|c| c.kind == CategoryKind::Trap)
    {
        let _ = write!(
            s,
            "\n{}: {} h, {}",
            c.label,
            number(c.hours),
            percent(c.share)
        );
        match &c.coverage {
            Some(cov) if cov.automated => {
                let by: Vec<String> = cov
                    .covered_by
                    .iter()
                    .map(|by| format!("{} {} ({})", by.kind, by.key, by.via))
                    .collect();
                let _ = writeln!(
                    s,
                    "\n  automated by {}\n  saves about {} h a month ({} of {} h)",
                    by.join(", "),
                    number(cov.saved_hours_per_month),
                    percent(cov.automation),
                    number(c.hours_per_month)
                );
            }
            Some(cov) => {
                let _ = writeln!(
                    s,
                    "\n  NOT automated: the program has nothing of {}",
                    if cov.looked_for.is_empty() {
                        "what this category names (covered_by is empty)".to_owned()
                    } else {
                        cov.looked_for.join(", ")
                    }
                );
            }
            None => s.push('\n'),
        }
        for e in c.examples.iter().take(N_EXAMPLES_SHOWN) {
            let _ = writeln!(s, "  × {:<4} \"{}\"", e.count, e.note);
        }
    }

    s.push_str("\nTime per CSM\n");
    let rows: Vec<Vec<String>> = report
        .csms
        .iter()
        .map(|c| {
            vec![
                c.csm.clone(),
                c.n_interactions.to_string(),
                number(c.hours),
                number(c.trap_hours),
                percent(c.trap_share),
            ]
        })
        .collect();
    s.push_str(&table(
        &[
            ("CSM", false),
            ("Rows", true),
            ("Hours", true),
            ("Trap hours", true),
            ("Trap share", true),
        ],
        &rows,
    ));

    s.push_str("\nTime per week (weeks start on Monday)\n");
    let rows: Vec<Vec<String>> = report
        .weeks
        .iter()
        .map(|w| {
            vec![
                w.week.clone(),
                number(w.hours),
                number(w.trap_hours),
                number(w.strategic_hours),
                number(w.other_hours),
            ]
        })
        .collect();
    s.push_str(&table(
        &[
            ("Week of", false),
            ("Hours", true),
            ("Traps", true),
            ("Strategic", true),
            ("Other", true),
        ],
        &rows,
    ));

    if !report.bad_rows.is_empty() {
        let _ = writeln!(s, "\nSkipped rows ({})", report.n_bad_rows);
        for bad in report.bad_rows.iter().take(N_BAD_ROWS_SHOWN) {
            let _ = writeln!(s, "  {bad}");
        }
        if report.bad_rows.len() > N_BAD_ROWS_SHOWN {
            let _ = writeln!(
                s,
                "  … and {} more problem(s); --json lists them all",
                report.bad_rows.len() - N_BAD_ROWS_SHOWN
            );
        }
    }
    s
}

/// Columns padded to their widest cell; `true` aligns a column right.
fn table(headers: &[(&str, bool)], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|(h, _)| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut s = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for ((cell, width), (_, right)) in cells.zip(&widths).zip(headers) {
            let pad = width.saturating_sub(cell.chars().count());
            if *right {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&" ".repeat(pad));
            }
            text.push_str("  ");
        }
        s.push_str(text.trim_end());
        s.push('\n');
    };
    line(&mut headers.iter().map(|(h, _)| *h));
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    s
}

/// Hours with 2 decimals, so that columns line up.
fn number(value: f64) -> String {
    format!("{value:.2}")
}

fn percent(share: f64) -> String {
    format!("{:.1} %", share * 100.0)
}

fn day(timestamp: &str) -> &str {
    timestamp.get(..10).unwrap_or(timestamp)
}
