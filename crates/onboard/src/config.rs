//! Configuration: one typed struct filled from defaults, then `onboard.toml`, then `ONBOARD_*`
//! environment variables, then flags (clap reads flags and variables together; the file only
//! fills what neither gave).

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use onboard_web::{Secret, WebhookSecret};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// HubSpot's API, where deals are read after a webhook.
pub const DEFAULT_HUBSPOT_API_BASE: &str = "https://api.hubapi.com";
/// Pipedrive's API, where deals, people and organizations are read after a webhook.
pub const DEFAULT_PIPEDRIVE_API_BASE: &str = "https://api.pipedrive.com";

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

// Parsed once at start; the size of `serve`'s arguments does not matter.
#[allow(clippy::large_enum_variant)]
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
    /// HubSpot app client secret: checks the signatures of POST /hooks/hubspot (the hook is
    /// off without it).
    #[arg(long, env = "ONBOARD_HUBSPOT_CLIENT_SECRET", hide_env_values = true)]
    pub hubspot_client_secret: Option<Secret>,
    /// HubSpot private-app or OAuth access token, for reading deals, contacts and companies.
    #[arg(long, env = "ONBOARD_HUBSPOT_ACCESS_TOKEN", hide_env_values = true)]
    pub hubspot_access_token: Option<Secret>,
    /// HubSpot API base URL (default: https://api.hubapi.com).
    #[arg(long, env = "ONBOARD_HUBSPOT_API_BASE")]
    pub hubspot_api_base: Option<String>,
    /// HTTP Basic credentials `user:password` Pipedrive sends to POST /hooks/pipedrive (the
    /// hook is off without them).
    #[arg(long, env = "ONBOARD_PIPEDRIVE_BASIC_AUTH", hide_env_values = true)]
    pub pipedrive_basic_auth: Option<Secret>,
    /// Pipedrive API token, for reading won deals, their people, organization and owner
    /// (without it, a deal is built from the webhook alone, with no people).
    #[arg(long, env = "ONBOARD_PIPEDRIVE_API_TOKEN", hide_env_values = true)]
    pub pipedrive_api_token: Option<Secret>,
    /// Pipedrive API base URL (default: https://api.pipedrive.com).
    #[arg(long, env = "ONBOARD_PIPEDRIVE_API_BASE")]
    pub pipedrive_api_base: Option<String>,
    /// Standard Webhooks secret `whsec_<base64>` of POST /hooks/deals (the hook is off
    /// without it).
    #[arg(long, env = "ONBOARD_DEALS_WEBHOOK_SECRET", hide_env_values = true)]
    pub deals_webhook_secret: Option<Secret>,
    /// How long a person's first sign-in link lives (default 7d).
    #[arg(long, env = "ONBOARD_FIRST_LINK_TTL")]
    pub first_link_ttl: Option<String>,
    /// How long every later sign-in link lives (default 15m).
    #[arg(long, env = "ONBOARD_LINK_TTL")]
    pub link_ttl: Option<String>,
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
    pub hubspot_client_secret: Option<Secret>,
    pub hubspot_access_token: Option<Secret>,
    pub hubspot_api_base: Option<String>,
    pub pipedrive_basic_auth: Option<Secret>,
    pub pipedrive_api_token: Option<Secret>,
    pub pipedrive_api_base: Option<String>,
    pub deals_webhook_secret: Option<Secret>,
    pub first_link_ttl: Option<String>,
    pub link_ttl: Option<String>,
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

/// A link lifetime such as `7d` or `15m`, at least a minute.
fn ttl(flag: &str, value: Option<String>, default: &str) -> anyhow::Result<onboard_core::Duration> {
    let text = value.unwrap_or_else(|| default.to_owned());
    let duration =
        onboard_core::Duration::parse(&text).map_err(|e| anyhow::anyhow!("{flag}: {e}"))?;
    if duration.millis() < 60_000 {
        bail!("{flag}: `{text}` is too short: a sign-in link must live at least a minute");
    }
    Ok(duration)
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
    /// Whether the public URL was configured; if not, it is the address actually bound.
    pub public_url_given: bool,
    /// Lifetimes of a person's first sign-in link and of later ones.
    pub first_link_ttl: onboard_core::Duration,
    pub link_ttl: onboard_core::Duration,
    pub clock: ClockMode,
    pub clock_start: Option<String>,
    pub admin_token: Option<String>,
    pub node: Option<String>,
    /// Key of the v3 signatures of `POST /hooks/hubspot`; the hook is off without it.
    pub hubspot_client_secret: Option<Secret>,
    /// Token for HubSpot's CRM API.
    pub hubspot_access_token: Option<Secret>,
    /// HubSpot's API base URL, without a trailing slash.
    pub hubspot_api_base: String,
    /// `user:password` expected from Pipedrive; the hook is off without it.
    pub pipedrive_basic_auth: Option<Secret>,
    /// Token for Pipedrive's API; without it the hook builds deals from the webhook alone.
    pub pipedrive_api_token: Option<Secret>,
    /// Pipedrive's API base URL, without a trailing slash.
    pub pipedrive_api_base: String,
    /// The decoded secret of `POST /hooks/deals`; the hook is off without it.
    pub deals_webhook_secret: Option<WebhookSecret>,
}

/// A secret given as a flag, variable or file key; an empty value counts as none.
fn secret(flag: Option<Secret>, file: Option<Secret>) -> Option<Secret> {
    flag.or(file).filter(|s| !s.expose().trim().is_empty())
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
        let public_url_given = args.public_url.is_some() || file.public_url.is_some();
        let public_url = args
            .public_url
            .or(file.public_url)
            .unwrap_or_else(|| format!("http://{listen}"));
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            bail!("--public-url must start with http:// or https://, not `{public_url}`");
        }
        let hubspot_api_base = args
            .hubspot_api_base
            .or(file.hubspot_api_base)
            .unwrap_or_else(|| DEFAULT_HUBSPOT_API_BASE.to_owned());
        if !(hubspot_api_base.starts_with("http://") || hubspot_api_base.starts_with("https://")) {
            bail!(
                "--hubspot-api-base must start with http:// or https://, not `{hubspot_api_base}`"
            );
        }
        let pipedrive_api_base = args
            .pipedrive_api_base
            .or(file.pipedrive_api_base)
            .unwrap_or_else(|| DEFAULT_PIPEDRIVE_API_BASE.to_owned());
        if !(pipedrive_api_base.starts_with("http://")
            || pipedrive_api_base.starts_with("https://"))
        {
            bail!(
                "--pipedrive-api-base must start with http:// or https://, not `{pipedrive_api_base}`"
            );
        }
        let pipedrive_basic_auth = secret(args.pipedrive_basic_auth, file.pipedrive_basic_auth);
        if pipedrive_basic_auth
            .as_ref()
            .is_some_and(|auth| !auth.expose().contains(':'))
        {
            bail!("--pipedrive-basic-auth must be `user:password`");
        }
        let deals_webhook_secret = secret(args.deals_webhook_secret, file.deals_webhook_secret)
            .map(|s| WebhookSecret::parse(s.expose()))
            .transpose()
            .map_err(|e| anyhow::anyhow!("--deals-webhook-secret: {e}"))?;
        Ok(Self {
            listen,
            data_dir,
            database_url,
            program: args.program.or(file.program),
            smtp_url: args.smtp_url.or(file.smtp_url),
            public_url: public_url.trim_end_matches('/').to_owned(),
            public_url_given,
            first_link_ttl: ttl(
                "--first-link-ttl",
                args.first_link_ttl.or(file.first_link_ttl),
                "7d",
            )?,
            link_ttl: ttl("--link-ttl", args.link_ttl.or(file.link_ttl), "15m")?,
            clock: args.clock.or(file.clock).unwrap_or(ClockMode::System),
            clock_start: args.clock_start.or(file.clock_start),
            admin_token: std::env::var("ONBOARD_ADMIN_TOKEN")
                .ok()
                .filter(|t| !t.is_empty())
                .or(file.admin_token),
            node: args.node.or(file.node),
            hubspot_client_secret: secret(args.hubspot_client_secret, file.hubspot_client_secret),
            hubspot_access_token: secret(args.hubspot_access_token, file.hubspot_access_token),
            hubspot_api_base: hubspot_api_base.trim_end_matches('/').to_owned(),
            pipedrive_basic_auth,
            pipedrive_api_token: secret(args.pipedrive_api_token, file.pipedrive_api_token),
            pipedrive_api_base: pipedrive_api_base.trim_end_matches('/').to_owned(),
            deals_webhook_secret,
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

    fn serve_args(args: &[&str]) -> ServeArgs {
        let cli = Cli::try_parse_from([&["onboard", "serve"], args].concat())
            .unwrap_or_else(|e| panic!("{e}"));
        match cli.command {
            Command::Serve(args) => args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hook_secrets_are_read_and_never_printed() {
        let args = serve_args(&[
            "--hubspot-client-secret",
            "hs-secret-value",
            "--hubspot-access-token",
            "pat-token-value",
            "--pipedrive-basic-auth",
            "user:pd-password",
            "--pipedrive-api-token",
            "pd-api-token-value",
            "--deals-webhook-secret",
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        ]);
        let printed = format!("{args:?}");
        let settings =
            Settings::resolve(args, FileConfig::default()).unwrap_or_else(|e| panic!("{e}"));
        let printed = format!("{printed}{settings:?}");
        for value in [
            "hs-secret-value",
            "pat-token-value",
            "pd-password",
            "pd-api-token-value",
            "C2FVsBQ",
        ] {
            assert!(!printed.contains(value), "{value} printed in {printed}");
        }
        assert_eq!(
            settings.hubspot_client_secret.as_ref().map(Secret::expose),
            Some("hs-secret-value")
        );
        assert_eq!(settings.hubspot_api_base, DEFAULT_HUBSPOT_API_BASE);
        assert_eq!(
            settings.pipedrive_api_token.as_ref().map(Secret::expose),
            Some("pd-api-token-value")
        );
        assert_eq!(settings.pipedrive_api_base, DEFAULT_PIPEDRIVE_API_BASE);
        assert_eq!(
            settings
                .deals_webhook_secret
                .as_ref()
                .map(|s| s.key().len()),
            Some(24)
        );
    }

    #[test]
    fn sign_in_links_live_seven_days_first_then_fifteen_minutes_unless_configured() {
        let settings = Settings::resolve(serve_args(&[]), FileConfig::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.first_link_ttl.millis(), 7 * 86_400_000);
        assert_eq!(settings.link_ttl.millis(), 15 * 60_000);
        let settings = Settings::resolve(
            serve_args(&["--first-link-ttl", "3d", "--link-ttl", "10m"]),
            FileConfig::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.first_link_ttl.millis(), 3 * 86_400_000);
        assert_eq!(settings.link_ttl.millis(), 10 * 60_000);
    }

    #[test]
    fn a_sign_in_link_lifetime_under_a_minute_is_refused() {
        let error = Settings::resolve(serve_args(&["--link-ttl", "30s"]), FileConfig::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("--link-ttl"), "{error}");
    }

    #[test]
    fn hook_secrets_come_from_the_file_too() {
        let file: FileConfig = toml::from_str(
            "hubspot_client_secret = \"from-file\"\nhubspot_api_base = \"http://127.0.0.1:9999/\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let settings =
            Settings::resolve(ServeArgs::default(), file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            settings.hubspot_client_secret.as_ref().map(Secret::expose),
            Some("from-file")
        );
        assert_eq!(settings.hubspot_api_base, "http://127.0.0.1:9999");
        assert!(settings.pipedrive_basic_auth.is_none());
        assert!(settings.pipedrive_api_token.is_none());
    }

    #[test]
    fn the_pipedrive_api_comes_from_the_file_too_and_must_be_http() {
        let file: FileConfig = toml::from_str(
            "pipedrive_api_token = \"pd-from-file\"\npipedrive_api_base = \"https://acme.pipedrive.com/\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let settings =
            Settings::resolve(ServeArgs::default(), file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            settings.pipedrive_api_token.as_ref().map(Secret::expose),
            Some("pd-from-file")
        );
        assert_eq!(settings.pipedrive_api_base, "https://acme.pipedrive.com");
        let args = serve_args(&["--pipedrive-api-base", "api.pipedrive.com"]);
        let error = Settings::resolve(args, FileConfig::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("--pipedrive-api-base"), "{error}");
    }

    #[test]
    fn a_deals_secret_that_is_not_base64_stops_the_start() {
        let args = serve_args(&["--deals-webhook-secret", "whsec_not base64!"]);
        let error = Settings::resolve(args, FileConfig::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("--deals-webhook-secret"), "{error}");
        let args = serve_args(&["--pipedrive-basic-auth", "no-colon"]);
        assert!(Settings::resolve(args, FileConfig::default()).is_err());
    }
}
