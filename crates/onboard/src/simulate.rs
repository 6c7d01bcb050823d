//! `onboard simulate` and `onboard dry-run`: the what-if runs of
//! `onboard_engine::simulate`, each on a scratch store in memory (the in-process store by
//! default; nothing to keep, so nothing to write to disk), printed as terminal tables and
//! written as JSON on request.
//! How long a run took is measured here, the only place that reads the wall clock for it.

use anyhow::Context;
use clap::Args;
use onboard_core::program::ProgramSource;
use onboard_engine::simulate::{self, Cohort, DayDone, DryRun, Report};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The scratch store of a dry run: in memory, gone with the process.
const SCRATCH_DATABASE: &str = "memory:";
/// Shards of a simulation unless `--shards` says otherwise. Fixed rather than the machine's
/// core count, so that a seed gives the same figures on every machine; four keep two cores
/// busy while each shard's engine waits on its database in turn.
const DEFAULT_SHARDS: u16 = 4;
/// How many messages the terminal lists per section (`--json` has them all).
const N_MESSAGES_SHOWN: usize = 25;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The program to simulate (default: the bundled example program).
    #[arg(long, value_name = "DIR", env = "ONBOARD_PROGRAM")]
    pub program: Option<PathBuf>,
    /// Also run this program on the same seeded cohort and show both side by side.
    #[arg(long, value_name = "OTHER_DIR")]
    pub compare: Option<PathBuf>,
    /// The cohort and its behaviour as TOML (format in README.md); the flags below win.
    #[arg(long, value_name = "FILE")]
    pub cohort: Option<PathBuf>,
    /// Accounts in the cohort (default 200).
    #[arg(long)]
    pub accounts: Option<usize>,
    /// Days simulated (default 30).
    #[arg(long)]
    pub days: Option<u32>,
    /// Seed of the cohort: the same seed gives the same figures (default 1).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Split the cohort into this many shards by account, each run at once on an engine
    /// and in-memory database of its own (default 4). The figures do not depend on it,
    /// except which CSM gets which account: load is balanced within a shard.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SHARDS,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub shards: u16,
    /// Where each shard keeps its tables: `memory` (the in-process store) or `sqlite` (an
    /// in-memory SQLite database, slower). The figures are the same on both.
    #[arg(long, value_enum, default_value_t = Scratch::Memory)]
    pub store: Scratch,
    /// Also write the report as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// The scratch store of a simulation's shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scratch {
    /// The in-process store (`memory:`).
    Memory,
    /// An in-memory SQLite database (`sqlite::memory:`).
    Sqlite,
}

impl Scratch {
    fn url(self) -> &'static str {
        match self {
            Scratch::Memory => "memory:",
            Scratch::Sqlite => "sqlite::memory:",
        }
    }
}

#[derive(Debug, Args)]
pub struct DryRunArgs {
    /// The program to run in test mode.
    #[arg(long, value_name = "DIR")]
    pub program: PathBuf,
    /// The database whose event log is replayed (read only).
    #[command(flatten)]
    pub database: crate::config::DatabaseArgs,
    /// Also write the result as JSON, with every message.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// A report with how long it took: every field but `performance` depends only on the
/// program, the cohort and its seed.
#[derive(Serialize)]
struct Timed<'a> {
    #[serde(flatten)]
    report: &'a Report,
    performance: Performance,
}

#[derive(Serialize, Clone, Copy)]
struct Performance {
    wall_seconds: f64,
    /// The cohort's external events per second of wall time.
    simulated_events_per_second: f64,
    /// Events the processor decided (derived ones and fired timers included) per second.
    processed_events_per_second: f64,
}

#[derive(Serialize)]
struct Compared<'a> {
    base: Timed<'a>,
    compare: Timed<'a>,
}

/// `onboard simulate`.
pub async fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    let mut cohort = match &args.cohort {
        Some(path) => read_cohort(path)?,
        None => Cohort::default(),
    };
    cohort.accounts = args.accounts.unwrap_or(cohort.accounts);
    cohort.days = args.days.unwrap_or(cohort.days);
    cohort.seed = args.seed.unwrap_or(cohort.seed);
    cohort
        .check()
        .map_err(|e| anyhow::anyhow!("the cohort: {e}"))?;

    let base_source = program_source(args.program.as_deref())?;
    let base_name = program_label(args.program.as_deref());
    eprintln!(
        "simulating {} accounts over {} days (seed {}) through {base_name}",
        cohort.accounts, cohort.days, cohort.seed
    );
    let (base, base_time) = run_one(&base_source, &cohort, args.shards, args.store).await?;
    let mut out = String::new();
    match &args.compare {
        None => {
            out.push_str(&terminal(&[(&base_name, &base, base_time)]));
            if let Some(path) = &args.json {
                write_json(
                    path,
                    &Timed {
                        report: &base,
                        performance: base_time,
                    },
                )?;
                let _ = writeln!(out, "JSON report written to {}", path.display());
            }
        }
        Some(other) => {
            let other_source = program_source(Some(other))?;
            let other_name = program_label(Some(other));
            eprintln!("and through {other_name}, on the same cohort");
            let (compare, compare_time) =
                run_one(&other_source, &cohort, args.shards, args.store).await?;
            out.push_str(&terminal(&[
                (&base_name, &base, base_time),
                (&other_name, &compare, compare_time),
            ]));
            if let Some(path) = &args.json {
                write_json(
                    path,
                    &Compared {
                        base: Timed {
                            report: &base,
                            performance: base_time,
                        },
                        compare: Timed {
                            report: &compare,
                            performance: compare_time,
                        },
                    },
                )?;
                let _ = writeln!(out, "JSON report written to {}", path.display());
            }
        }
    }
    print!("{out}");
    Ok(())
}

/// One program through the cohort, on one scratch store per shard, timed.
async fn run_one(
    source: &ProgramSource,
    cohort: &Cohort,
    shards: u16,
    store: Scratch,
) -> anyhow::Result<(Report, Performance)> {
    let mut stores = Vec::with_capacity(usize::from(shards));
    for _ in 0..shards {
        stores.push(
            onboard_store::connect(store.url())
                .await
                .context("opening a scratch database")?,
        );
    }
    let started = Instant::now();
    let days = cohort.days;
    let mut on_day = |done: DayDone| {
        if done.days.is_multiple_of(10) || done.days == days {
            eprintln!(
                "  day {:>3}/{days}: {} events, {:.1} s",
                done.days,
                done.events,
                started.elapsed().as_secs_f64()
            );
        }
    };
    let report = simulate::simulate(stores, source, cohort, &mut on_day).await?;
    let wall = started.elapsed().as_secs_f64();
    let rate = |n: usize| if wall > 0.0 { n as f64 / wall } else { 0.0 };
    let performance = Performance {
        wall_seconds: (wall * 100.0).round() / 100.0,
        simulated_events_per_second: rate(report.events.simulated).round(),
        processed_events_per_second: rate(report.events.processed).round(),
    };
    Ok((report, performance))
}

/// `onboard dry-run`.
pub async fn dry_run(args: &DryRunArgs, file: &crate::config::FileConfig) -> anyhow::Result<()> {
    let source_program = program_source(Some(&args.program))?;
    let (data_dir, url) = crate::config::database(&args.database, file);
    if url.starts_with("sqlite:") && args.database.database_url.is_none() && !data_dir.exists() {
        anyhow::bail!(
            "no data directory at {}: give the server's --data-dir or --database-url",
            data_dir.display()
        );
    }
    let source = onboard_store::connect(&url)
        .await
        .context("opening the database")?;
    let scratch = onboard_store::connect(SCRATCH_DATABASE)
        .await
        .context("opening the scratch database")?;
    let result = simulate::dry_run(source.as_ref(), Arc::clone(&scratch), &source_program).await?;
    let mut out = dry_run_terminal(&result, &args.program);
    if let Some(path) = &args.json {
        write_json(path, &result)?;
        let _ = writeln!(out, "JSON written to {}", path.display());
    }
    print!("{out}");
    Ok(())
}

fn read_cohort(path: &Path) -> anyhow::Result<Cohort> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let value: toml::Value =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    let value = serde_json::to_value(value).context("reading the cohort")?;
    Cohort::from_value(value).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn program_source(dir: Option<&Path>) -> anyhow::Result<ProgramSource> {
    let source = match dir {
        Some(dir) => onboard_engine::read_program_dir(dir).map_err(anyhow::Error::msg)?,
        None => crate::program_files::bundled(),
    };
    if let Err(diagnostics) = onboard_core::program::load(&source) {
        let shown = dir.map_or_else(|| PathBuf::from("(bundled program)"), Path::to_path_buf);
        let mut text = String::new();
        for d in &diagnostics {
            let _ = writeln!(text, "{}", crate::prefix_path(&shown, d));
        }
        anyhow::bail!(
            "{text}the program has {} error(s); `onboard check` shows them too",
            diagnostics.len()
        );
    }
    Ok(source)
}

fn program_label(dir: Option<&Path>) -> String {
    dir.map_or_else(
        || "the bundled program".to_owned(),
        |d| d.display().to_string(),
    )
}

fn write_json(path: &Path, value: &impl Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("writing JSON")?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

// ------------------------------------------------------------------------------ terminal

/// How a figure reads.
#[derive(Clone, Copy)]
enum Unit {
    Count,
    Share,
    Hours,
    Number,
}

struct Row {
    label: String,
    values: Vec<Option<f64>>,
    unit: Unit,
}

fn row(label: impl Into<String>, unit: Unit, values: Vec<Option<f64>>) -> Row {
    Row {
        label: label.into(),
        values,
        unit,
    }
}

fn show(value: Option<f64>, unit: Unit) -> String {
    match value {
        None => "-".to_owned(),
        Some(v) => match unit {
            Unit::Count => format!("{v:.0}"),
            Unit::Share => format!("{:.1} %", v * 100.0),
            Unit::Hours => format!("{v:.1} h"),
            Unit::Number => format!("{v:.2}"),
        },
    }
}

fn difference(a: Option<f64>, b: Option<f64>, unit: Unit) -> String {
    let (Some(a), Some(b)) = (a, b) else {
        return String::new();
    };
    let d = b - a;
    match unit {
        Unit::Count => format!("{d:+.0}"),
        Unit::Share => format!("{:+.1} pp", d * 100.0),
        Unit::Hours => format!("{d:+.1} h"),
        Unit::Number => format!("{d:+.2}"),
    }
}

/// The reports as one table: a column per program, and the difference of the second.
fn terminal(runs: &[(&str, &Report, Performance)]) -> String {
    let reports: Vec<&Report> = runs.iter().map(|(_, r, _)| *r).collect();
    let each = |f: &dyn Fn(&Report) -> Option<f64>| reports.iter().map(|r| f(r)).collect();
    let count = |n: usize| Some(n as f64);
    let mut rows = vec![
        row("accounts", Unit::Count, each(&|r| count(r.cohort.accounts))),
        row("people", Unit::Count, each(&|r| count(r.cohort.people))),
        row(
            "time to value p50",
            Unit::Hours,
            each(&|r| r.time_to_value.p50_hours),
        ),
        row(
            "time to value p90",
            Unit::Hours,
            each(&|r| r.time_to_value.p90_hours),
        ),
        row(
            "accounts with an Aha",
            Unit::Share,
            each(&|r| Some(r.time_to_value.share_with_aha)),
        ),
        row(
            "Aha within 48 h",
            Unit::Share,
            each(&|r| Some(r.time_to_value.share_within_48h)),
        ),
    ];
    let mut personas: Vec<&String> = reports.iter().flat_map(|r| r.personas.keys()).collect();
    personas.sort();
    personas.dedup();
    for name in &personas {
        rows.push(row(
            format!("signed in: {name}"),
            Unit::Share,
            each(&|r| r.personas.get(*name).map(|p| p.signed_in_share)),
        ));
    }
    for name in &personas {
        rows.push(row(
            format!("journey completed: {name}"),
            Unit::Share,
            each(&|r| r.personas.get(*name).map(|p| p.journey_completion)),
        ));
    }
    let mut goals: Vec<&String> = reports.iter().flat_map(|r| r.goals.keys()).collect();
    goals.sort();
    goals.dedup();
    for name in &goals {
        rows.push(row(
            format!("goal achieved: {name}"),
            Unit::Share,
            each(&|r| r.goals.get(*name).map(|g| g.achieved_share)),
        ));
    }
    rows.push(row(
        "emails per person",
        Unit::Number,
        each(&|r| Some(r.messages.per_person)),
    ));
    rows.push(row(
        "emails to people",
        Unit::Count,
        each(&|r| count(r.messages.to_people)),
    ));
    rows.push(row(
        "emails to the team",
        Unit::Count,
        each(&|r| count(r.messages.to_team)),
    ));
    rows.push(row(
        "alert posts",
        Unit::Count,
        each(&|r| count(r.messages.posts)),
    ));
    let mut rules: Vec<&String> = reports
        .iter()
        .flat_map(|r| r.messages.by_rule.keys())
        .collect();
    rules.sort();
    rules.dedup();
    for name in &rules {
        rows.push(row(
            format!("messages: {name}"),
            Unit::Count,
            each(&|r| count(r.messages.by_rule.get(*name).map_or(0, |m| m.total))),
        ));
    }
    rows.push(row(
        "team tasks created",
        Unit::Count,
        each(&|r| count(r.csm.team_tasks)),
    ));
    rows.push(row(
        "alerts raised",
        Unit::Count,
        each(&|r| count(r.csm.alerts)),
    ));
    rows.push(row(
        "CSM hours implied",
        Unit::Number,
        each(&|r| Some(r.csm.hours)),
    ));
    rows.push(row(
        "simulated events",
        Unit::Count,
        each(&|r| count(r.events.simulated)),
    ));
    rows.push(row(
        "events processed",
        Unit::Count,
        each(&|r| count(r.events.processed)),
    ));
    rows.push(row(
        "timers fired",
        Unit::Count,
        each(&|r| count(r.events.timers_fired)),
    ));
    let times: Vec<Performance> = runs.iter().map(|(_, _, t)| *t).collect();
    rows.push(row(
        "wall time (s)",
        Unit::Number,
        times.iter().map(|t| Some(t.wall_seconds)).collect(),
    ));
    rows.push(row(
        "simulated events / s",
        Unit::Count,
        times
            .iter()
            .map(|t| Some(t.simulated_events_per_second))
            .collect(),
    ));
    rows.push(row(
        "processed events / s",
        Unit::Count,
        times
            .iter()
            .map(|t| Some(t.processed_events_per_second))
            .collect(),
    ));

    let mut headers: Vec<(String, bool)> = vec![(String::new(), false)];
    headers.extend(runs.iter().map(|(name, _, _)| ((*name).to_owned(), true)));
    if runs.len() == 2 {
        headers.push(("difference".to_owned(), true));
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cells = vec![r.label.clone()];
            cells.extend(r.values.iter().map(|v| show(*v, r.unit)));
            if r.values.len() == 2 {
                cells.push(difference(r.values[0], r.values[1], r.unit));
            }
            cells
        })
        .collect();
    let first = reports[0];
    let mut s = format!(
        "What-if simulation: {} accounts, {} people, {} days, seed {}\n\n",
        first.cohort.accounts, first.cohort.people, first.cohort.days, first.cohort.seed
    );
    s.push_str(&table(&headers, &cells));
    s
}

fn dry_run_terminal(result: &DryRun, program: &Path) -> String {
    let mut s = String::new();
    let span = match (result.from, result.until) {
        (Some(from), Some(until)) => format!(" from {from} to {until}"),
        _ => String::new(),
    };
    let _ = writeln!(
        s,
        "Dry run of {} ({}) against {} recorded events{span}; nothing was sent\n",
        program.display(),
        result.program,
        result.events_replayed
    );
    let rows: Vec<Vec<String>> = result
        .by_rule
        .iter()
        .map(|(rule, c)| {
            vec![
                rule.clone(),
                c.would_send.to_string(),
                c.sent.to_string(),
                format!("{:+}", c.would_send as i64 - c.sent as i64),
            ]
        })
        .collect();
    let headers = [
        ("rule".to_owned(), false),
        ("would send".to_owned(), true),
        ("sent".to_owned(), true),
        ("difference".to_owned(), true),
    ];
    s.push_str(&table(&headers, &rows));
    let _ = writeln!(
        s,
        "total: would send {}, sent {}",
        result.would_send.len(),
        result.sent.len()
    );
    for (title, list) in [
        ("Would send", &result.would_send),
        ("Would send, not sent", &result.only_would_send),
        ("Sent, would not send", &result.only_sent),
    ] {
        let _ = writeln!(s, "\n{title} ({}):", list.len());
        for m in list.iter().take(N_MESSAGES_SHOWN) {
            let _ = writeln!(
                s,
                "  {}  {}  {}  {} {}: {}",
                m.at, m.account, m.rule, m.channel, m.to, m.subject
            );
        }
        if list.len() > N_MESSAGES_SHOWN {
            let _ = writeln!(
                s,
                "  … and {} more (--json has them all)",
                list.len() - N_MESSAGES_SHOWN
            );
        }
    }
    s
}

/// Columns padded to their widest cell; `true` aligns a column right.
fn table(headers: &[(String, bool)], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|(h, _)| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut s = String::new();
    let mut line = |cells: &[&str]| {
        let mut text = String::new();
        for ((cell, width), (_, right)) in cells.iter().zip(&widths).zip(headers) {
            let pad = " ".repeat(width.saturating_sub(cell.chars().count()));
            if *right {
                text.push_str(&pad);
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&pad);
            }
            text.push_str("  ");
        }
        s.push_str(text.trim_end());
        s.push('\n');
    };
    line(&headers.iter().map(|(h, _)| h.as_str()).collect::<Vec<_>>());
    for row in rows {
        line(&row.iter().map(String::as_str).collect::<Vec<_>>());
    }
    s
}
