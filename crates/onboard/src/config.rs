//! Configuration: one typed struct filled from defaults, then `onboard.toml`, then `ONBOARD_*`
//! environment variables, then flags (clap reads flags and variables together; the file only
//! fills what neither gave).

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Parser)]
#[command(
    name = "onboard",
    version,
    about = "Automated customer onboarding engine"
)]
pub struct Cli {
    /// Configuration file (default: ./onboard.toml when it exists).
    #[arg(long, global = true, env = "ONBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the engine and the web server.
    Serve(ServeArgs),
    /// Validate a program folder; exit 1 on any error.
    Check {
        /// The program folder (with program.toml).
        dir: PathBuf,
    },
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClockMode {
    /// The system clock.
    System,
    /// A manual clock that moves only through POST /api/clock/advance.
    Manual,
}

#[derive(Debug, Args, Default)]
pub struct DatabaseArgs {
    /// Data directory (SQLite database, development mailbox).
    #[arg(long, env = "ONBOARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://… (default: SQLite in the data directory).
    #[arg(long, env = "ONBOARD_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address to listen on.
    #[arg(long, env = "ONBOARD_LISTEN")]
    pub listen: Option<String>,
    /// Program folder (default: the bundled example program).
    #[arg(long, env = "ONBOARD_PROGRAM")]
    pub program: Option<PathBuf>,
    /// SMTP server for emails, smtp://host:port (default: the development mailbox).
    #[arg(long, env = "ONBOARD_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Base URL of every link sent.
    #[arg(long, env = "ONBOARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Clock: system, or manual (moves only through the API).
    #[arg(long, env = "ONBOARD_CLOCK", value_enum)]
    pub clock: Option<ClockMode>,
    /// Start time of the manual clock (RFC 3339; default now).
    #[arg(long, env = "ONBOARD_CLOCK_START")]
    pub clock_start: Option<String>,
    /// This node's name in claims and leases (default: random).
    #[arg(long, env = "ONBOARD_NODE")]
    pub node: Option<String>,
}

/// `onboard.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub program: Option<PathBuf>,
    pub smtp_url: Option<String>,
    pub public_url: Option<String>,
    pub clock: Option<ClockMode>,
    pub clock_start: Option<String>,
    pub admin_token: Option<String>,
    pub node: Option<String>,
}

impl FileConfig {
    /// Reads the named file, or `./onboard.toml` when it exists, or nothing.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from("onboard.toml"), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .with_context(|| format!("reading configuration {}", path.display())),
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("reading configuration {}", path.display())),
        }
    }
}

/// The settings `serve` runs with.
#[derive(Debug)]
pub struct Settings {
    pub listen: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub program: Option<PathBuf>,
    pub smtp_url: Option<String>,
    pub public_url: String,
    pub clock: ClockMode,
    pub clock_start: Option<String>,
    pub admin_token: Option<String>,
    pub node: Option<String>,
}

/// The database settings alone (for `migrate`).
pub fn database(args: &DatabaseArgs, file: &FileConfig) -> (PathBuf, String) {
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("onboard-data"));
    let url = args
        .database_url
        .clone()
        .or_else(|| file.database_url.clone())
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("onboard.db").display()));
    (data_dir, url)
}

impl Settings {
    pub fn resolve(args: ServeArgs, file: FileConfig) -> anyhow::Result<Self> {
        let (data_dir, database_url) = database(&args.database, &file);
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let public_url = args
            .public_url
            .or(file.public_url)
            .unwrap_or_else(|| format!("http://{listen}"));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            bail!("--public-url must start with http:// or https://, not `{public_url}`");
        }
        Ok(Self {
            listen,
            data_dir,
            database_url,
            program: args.program.or(file.program),
            smtp_url: args.smtp_url.or(file.smtp_url),
            public_url: public_url.trim_end_matches('/').to_owned(),
            clock: args.clock.or(file.clock).unwrap_or(ClockMode::System),
            clock_start: args.clock_start.or(file.clock_start),
            admin_token: std::env::var("ONBOARD_ADMIN_TOKEN")
                .ok()
                .filter(|t| !t.is_empty())
                .or(file.admin_token),
            node: args.node.or(file.node),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
