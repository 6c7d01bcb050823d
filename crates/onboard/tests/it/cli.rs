//! The command line: `check`, `migrate`, and where `serve` takes its configuration from.

use crate::support::*;
use std::path::Path;

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

/// 1-based line and column of the first `needle` in `text`.
fn position(text: &str, needle: &str) -> (usize, usize) {
    let offset = text.find(needle).unwrap();
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap().chars().count() + 1;
    (line, column)
}

#[test]
fn check_reports_errors_with_file_line_and_column_and_exits_1() {
    let cwd = tempfile::tempdir().unwrap();
    let ok = onboard(cwd.path())
        .args(["check", EXAMPLE_PROGRAM])
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "the example program is valid: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("ok: "));

    let program = cwd.path().join("program");
    copy_dir(Path::new(EXAMPLE_PROGRAM), &program);
    let toml = std::fs::read_to_string(program.join("program.toml")).unwrap();
    let broken = toml.replacen("send = \"welcome\"", "send = \"welcom\"", 1);
    assert_ne!(broken, toml);
    std::fs::write(program.join("program.toml"), &broken).unwrap();

    let output = onboard(cwd.path())
        .arg("check")
        .arg(&program)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr:\n{stderr}");
    let (line, column) = position(&broken, "\"welcom\"");
    let located = format!("program.toml:{line}:{column}: error:");
    let report = stderr
        .lines()
        .position(|l| l.contains(&located))
        .unwrap_or_else(|| panic!("no `{located}` in:\n{stderr}"));
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(lines[report].contains("welcom"), "{stderr}");
    assert!(
        lines[report + 1].trim_start().starts_with("hint:")
            && lines[report + 1].contains("`welcome`"),
        "a hint follows the error:\n{stderr}"
    );
}

#[tokio::test]
async fn migrate_applies_migrations_and_is_idempotent() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        for run in 1..=2 {
            let output = onboard(data.path())
                .arg("migrate")
                .arg("--data-dir")
                .arg(data.path())
                .args(["--database-url", &db.url])
                .output()
                .unwrap();
            assert_eq!(
                output.status.code(),
                Some(0),
                "run {run}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert!(
                String::from_utf8_lossy(&output.stdout).contains("migrations applied"),
                "run {run}"
            );
        }
        // The migrated database serves.
        let server = ServerConfig::new(data.path(), &db).start().await;
        server.post_events(&deal_won("acme")).await;
        server.advance("1s").await;
        server.assert_settled(0).await;

        drop(server);
        db.finish().await;
    }
}

#[tokio::test]
async fn configuration_comes_from_flags_env_and_onboard_toml_in_that_order() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let data = tempfile::tempdir().unwrap();
        let file = data.path().join("custom.toml");
        std::fs::write(&file, "public_url = \"https://file.example\"\n").unwrap();
        let file = file.to_str().unwrap();
        let smtp = Smtp::start().await;
        let base = ServerConfig::new(data.path(), &db)
            .smtp(&smtp.url())
            .arg("--config")
            .arg(file);
        let layers = [
            ("file", base.clone(), "https://file.example"),
            (
                "env",
                base.clone()
                    .env("ONBOARD_PUBLIC_URL", "https://env.example"),
                "https://env.example",
            ),
            (
                "flag",
                base.clone()
                    .env("ONBOARD_PUBLIC_URL", "https://env.example")
                    .arg("--public-url")
                    .arg("https://flag.example"),
                "https://flag.example",
            ),
        ];
        for (layer, config, expected) in layers {
            let mut server = config.start().await;
            let account = format!("acct-{layer}");
            server.post_events(&deal_won(&account)).await;
            server.advance("1s").await;
            let welcome = server.messages_of_rule(&account, "welcome-email").await;
            assert_eq!(welcome.len(), 1, "{layer}: {welcome:#?}");
            let email = smtp.wait_for(&text(&welcome[0]["message_id"])).await;
            assert!(
                email
                    .body
                    .contains(&format!("({expected}/academy/sign-in?token=")),
                "{layer}: the sign-in link is on {expected}:\n{}",
                email.body
            );
            // Stopped cleanly: the next layer's server takes over the same database.
            let status = server.terminate(DEADLINE).await;
            assert!(status.success(), "{layer}: exit status {status}");
        }

        db.finish().await;
    }
}
