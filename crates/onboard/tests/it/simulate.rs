//! `onboard simulate` and `onboard dry-run`: the simulator on the example program with a
//! small seeded cohort (its figures pinned, the same JSON on every run, a program without the
//! no-login reminder compared side by side), and a dry run against the database of a server
//! run here (what a changed program would send and to whom, with nothing sent).

use crate::support::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;

/// Runs `onboard simulate` with `--json out.json` and `args` in a fresh folder.
fn simulate(args: &[&str]) -> (Output, Value) {
    let dir = tempfile::tempdir().unwrap();
    let output = onboard(dir.path())
        .args([
            "simulate",
            "--program",
            EXAMPLE_PROGRAM,
            "--json",
            "out.json",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "onboard simulate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("out.json")).unwrap();
    (output, serde_json::from_str(&text).unwrap())
}

/// The report without its wall-clock figures: what a seed decides.
fn seeded(report: &Value) -> Value {
    let mut report = report.clone();
    report.as_object_mut().unwrap().remove("performance");
    report
}

/// A copy of the example program in `dir` without the rule `rule`.
fn example_without_rule(dir: &Path, rule: &str) {
    copy_dir(Path::new(EXAMPLE_PROGRAM), dir);
    let path = dir.join("program.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text
        .find(&format!("[[rules]]\nname = \"{rule}\""))
        .unwrap_or_else(|| panic!("no rule {rule}"));
    let end = text[start + 1..]
        .find("[[rules]]\n")
        .map_or(text.len(), |n| start + 1 + n);
    std::fs::write(&path, format!("{}{}", &text[..start], &text[end..])).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_seeded_cohort_through_the_example_program_gives_its_pinned_figures() {
    let (output, report) = simulate(&["--accounts", "40", "--days", "21", "--seed", "7"]);
    assert_eq!(
        report["cohort"],
        json!({ "accounts": 40, "people": 148, "days": 21, "seed": 7 })
    );
    assert_eq!(
        report["time_to_value"],
        json!({
            "accounts_with_aha": 35,
            "share_with_aha": 0.875,
            "p50_hours": 52.0,
            "p90_hours": 138.0,
            "share_within_48h": 0.35,
        })
    );
    let persona = |people, signed_in, signed_in_share, completed, completion, aha, aha_share| {
        json!({
            "people": people,
            "signed_in": signed_in,
            "signed_in_share": signed_in_share,
            "journey_completed": completed,
            "journey_completion": completion,
            "aha": aha,
            "aha_share": aha_share,
        })
    };
    assert_eq!(
        report["personas"],
        json!({
            "admin": persona(72, 51, 0.7083, 32, 0.4444, 32, 0.4444),
            "end_user": persona(36, 25, 0.6944, 13, 0.3611, 18, 0.5),
            "executive": persona(40, 24, 0.6, 19, 0.475, 14, 0.35),
        })
    );
    let goal = |accounts, achieved, share: f64, on_track, at_risk| {
        json!({
            "accounts": accounts,
            "achieved": achieved,
            "achieved_share": share,
            "on_track": on_track,
            "at_risk": at_risk,
            "missed": 0,
        })
    };
    assert_eq!(
        report["goals"],
        json!({
            "active-users": goal(40, 0, 0.0, 40, 0),
            "first-pipeline": goal(40, 0, 0.0, 0, 40),
            "onboarding-complete": goal(40, 0, 0.0, 40, 0),
            "team-active": goal(40, 2, 0.05, 21, 17),
            "weekly-review-habit": goal(0, 0, 0.0, 0, 0),
        })
    );
    assert_eq!(report["messages"]["per_person"], json!(1.912));
    assert_eq!(report["messages"]["to_people"], 283);
    assert_eq!(report["messages"]["to_team"], 482);
    assert_eq!(
        report["messages"]["by_rule"]["no-login-nudge"],
        json!({ "total": 99, "to_people": 99, "per_person": 0.669 })
    );
    assert_eq!(
        report["csm"],
        json!({
            "team_tasks": 80,
            "alerts": 0,
            "alert_firings": 0,
            "minutes_per_task": 15.0,
            "minutes_per_alert": 10.0,
            "hours": 20.0,
        })
    );
    assert_eq!(
        report["events"],
        json!({ "simulated": 1323, "processed": 4099, "timers_fired": 1274 })
    );
    assert!(report["performance"]["wall_seconds"].as_f64().unwrap() > 0.0);
    assert!(
        report["performance"]["simulated_events_per_second"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("time to value p50"), "{stdout}");
    assert!(stdout.contains("simulated events / s"), "{stdout}");
}

#[test]
fn two_runs_of_one_seed_write_the_same_json() {
    let args = ["--accounts", "15", "--days", "10", "--seed", "3"];
    let (_, first) = simulate(&args);
    let (_, second) = simulate(&args);
    assert_eq!(seeded(&first), seeded(&second));
    let (_, other_seed) = simulate(&["--accounts", "15", "--days", "10", "--seed", "4"]);
    assert_ne!(seeded(&first), seeded(&other_seed));
}

#[test]
fn the_number_of_shards_changes_no_figure() {
    let args = ["--accounts", "15", "--days", "10", "--seed", "3"];
    let (_, one) = simulate(&[&args[..], &["--shards", "1"]].concat());
    let (_, five) = simulate(&[&args[..], &["--shards", "5"]].concat());
    assert_eq!(seeded(&one), seeded(&five));
}

#[test]
fn zero_shards_are_refused_with_the_flag_named() {
    let dir = tempfile::tempdir().unwrap();
    let output = onboard(dir.path())
        .args(["simulate", "--shards", "0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--shards"), "{stderr}");
}

#[test]
fn comparing_with_a_program_without_the_no_login_reminder_shows_fewer_messages() {
    let other = tempfile::tempdir().unwrap();
    example_without_rule(other.path(), "no-login-nudge");
    let (output, report) = simulate(&[
        "--accounts",
        "30",
        "--days",
        "14",
        "--seed",
        "5",
        "--compare",
        other.path().to_str().unwrap(),
    ]);
    let (base, compare) = (&report["base"], &report["compare"]);
    assert_eq!(base["cohort"], compare["cohort"], "the same cohort");
    let reminders = base["messages"]["by_rule"]["no-login-nudge"]["total"]
        .as_u64()
        .unwrap();
    assert!(reminders > 0);
    assert_eq!(
        compare["messages"]["by_rule"]["no-login-nudge"],
        Value::Null
    );
    let emails = |r: &Value| r["messages"]["to_people"].as_u64().unwrap();
    assert!(emails(compare) < emails(base), "{report:#}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("messages: no-login-nudge"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.trim_end().ends_with(&format!("-{reminders}")),
        "the difference column: {line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_lists_what_a_changed_program_would_send_and_sends_nothing() {
    let changed = tempfile::tempdir().unwrap();
    example_without_rule(changed.path(), "no-login-nudge");
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let smtp = Smtp::start().await;
        let data = tempfile::tempdir().unwrap();
        let mut server = ServerConfig::new(data.path(), &db)
            .smtp(&smtp.url())
            .start()
            .await;
        for account in ["acme", "bolt"] {
            let mut deal = deal_won(account);
            deal["at"] = json!(START);
            server.post_events(&deal).await;
        }
        server
            .post_events(&json!({
                "id": "bolt-login",
                "type": "academy.login",
                "account": "bolt",
                "at": "2026-01-06T09:00:00Z",
                "data": { "email": admin_email("bolt") },
            }))
            .await;
        server.advance("80h").await;
        let reminders = server.messages_of_rule("acme", "no-login-nudge").await;
        assert_eq!(reminders.len(), 1);
        let n_messages = server.messages("").await.len();
        let n_emails = eventually("every email delivered", DEADLINE, || async {
            let n = smtp.emails().len();
            let queued = server.messages("status=queued").await;
            (queued.is_empty() && n > 0).then_some(n)
        })
        .await;
        server.terminate(DEADLINE).await;

        let out = tempfile::tempdir().unwrap();
        let run = |program: &Path| {
            onboard(out.path())
                .args(["dry-run", "--program"])
                .arg(program)
                .args(["--database-url", &db.url, "--json", "dry-run.json"])
                .output()
                .unwrap()
        };
        let output = run(changed.path());
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let result: Value = serde_json::from_str(
            &std::fs::read_to_string(out.path().join("dry-run.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(result["events_replayed"], 3);
        assert_eq!(result["sent"].as_array().unwrap().len(), n_messages);
        let would_send = result["would_send"].as_array().unwrap();
        assert!(would_send.iter().any(|m| m["rule"] == "welcome-email"
            && m["to"] == admin_email("acme").as_str()
            && m["account"] == "acme"));
        assert!(!would_send.iter().any(|m| m["rule"] == "no-login-nudge"));
        assert_eq!(
            result["by_rule"]["no-login-nudge"],
            json!({ "would_send": 0, "sent": 1 })
        );
        let only_sent = result["only_sent"].as_array().unwrap();
        assert_eq!(only_sent.len(), 1, "{only_sent:#?}");
        assert_eq!(only_sent[0]["to"], admin_email("acme").as_str());
        assert_eq!(result["only_would_send"], json!([]));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("nothing was sent"), "{stdout}");

        // The program that ran decides again exactly what it sent.
        let output = run(Path::new(EXAMPLE_PROGRAM));
        assert!(output.status.success());
        let same: Value = serde_json::from_str(
            &std::fs::read_to_string(out.path().join("dry-run.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(same["only_sent"], json!([]), "{same:#}");
        assert_eq!(same["only_would_send"], json!([]), "{same:#}");

        assert_eq!(smtp.emails().len(), n_emails, "the dry runs sent nothing");
        db.finish().await;
    }
}

#[test]
fn a_starter_cohort_shows_the_csm_work_autopilot_brings_against_the_program_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let cohort = dir.path().join("cohort.toml");
    std::fs::write(
        &cohort,
        "extra_seats = { min = 0, max = 3 }\n[plans]\nstarter = 1\n",
    )
    .unwrap();
    let without = dir.path().join("program");
    copy_dir(Path::new(EXAMPLE_PROGRAM), &without);
    let path = without.join("program.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text
        .find("\n[autopilot]\n")
        .expect("the example's autopilot");
    let end = text[start..]
        .find("\n# ---")
        .map(|n| start + n)
        .expect("the next section");
    std::fs::write(&path, format!("{}{}", &text[..start], &text[end..])).unwrap();

    let (_, report) = simulate(&[
        "--cohort",
        cohort.to_str().unwrap(),
        "--accounts",
        "20",
        "--days",
        "21",
        "--seed",
        "3",
        "--compare",
        without.to_str().unwrap(),
    ]);
    let (base, compare) = (&report["base"], &report["compare"]);
    // Nobody in the cohort does the team's kickoff, so customer tasks never open: what
    // autopilot does here is bring in the CSM when a goal turns at risk.
    let escalations = base["messages"]["by_rule"]["autopilot/escalate"]["total"]
        .as_u64()
        .unwrap_or(0);
    assert!(escalations > 0, "{base:#}");
    assert_eq!(
        compare["messages"]["by_rule"]["autopilot/escalate"],
        Value::Null,
        "no autopilot, no escalations"
    );
    let tasks = |r: &Value| r["csm"]["team_tasks"].as_u64().unwrap();
    assert!(tasks(base) > tasks(compare), "{report:#}");
}

#[test]
fn the_sample_cohort_file_is_the_default_cohort() {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../../samples/cohort.toml");
    let args = ["--accounts", "8", "--days", "4"];
    let (_, from_file) = simulate(&[&args[..], &["--cohort", sample]].concat());
    let (_, defaults) = simulate(&args);
    assert_eq!(seeded(&from_file), seeded(&defaults));
}

#[test]
fn a_cohort_file_with_an_unknown_field_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cohort.toml"),
        "[signin]\nprobabilty = 0.5\n",
    )
    .unwrap();
    let output = onboard(dir.path())
        .args(["simulate", "--cohort", "cohort.toml"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("signin"), "{stderr}");
    assert!(stderr.contains("probabilty"), "{stderr}");
}
