//! Configuration: one typed struct filled from defaults, then `onboard.toml`, then `ONBOARD_*`
//! environment variables, then flags (clap reads flags and variables together; the file only
//! fills what neither gave).

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use onboard_engine::channels::{Endpoint, EndpointKind};
use onboard_engine::LlmSettings;
use onboard_web::{Secret, WebhookSecret};
use serde::Deserialize;
use std::collections::BTreeMap;
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
    /// Audit a CSV export of CSM interactions: time per category, CSM and week, and which
    /// manual traps the program already automates.
    Audit(crate::audit::AuditArgs),
    /// Run a synthetic, seeded cohort through a program on a virtual clock (sending nothing)
    /// and report time to value, journeys, goals, messages and CSM load; `--compare` runs a
    /// second program on the same cohort, side by side.
    Simulate(crate::simulate::SimulateArgs),
    /// Replay a database's recorded events through a program in test mode: what it would
    /// have sent and to whom, beside what was sent. Sends nothing.
    DryRun(crate::simulate::DryRunArgs),
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
    /// Write key of the product-usage intake (`/v1/*`, Segment-compatible), given as the
    /// HTTP Basic user; the intake answers 401 without it.
    #[arg(long, env = "ONBOARD_WRITE_KEY", hide_env_values = true)]
    pub write_key: Option<Secret>,
    /// Key of the user tokens browsers show nudges with (`GET /v1/nudges`): the product's
    /// server gives each page the hex HMAC-SHA256 of the user id under it.
    #[arg(long, env = "ONBOARD_NUDGE_SECRET", hide_env_values = true)]
    pub nudge_secret: Option<Secret>,
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
    /// Let outbound endpoints (Slack, webhooks) be loopback, private or link-local addresses,
    /// and Slack URLs plain http (tests, a receiver on the same network). Endpoints are read
    /// from `[endpoints.<name>]` in onboard.toml and ONBOARD_ENDPOINT_<NAME>_{URL,KIND,SECRET}.
    #[arg(
        long,
        env = "ONBOARD_ALLOW_PRIVATE_TARGETS",
        num_args = 0..=1,
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub allow_private_targets: Option<bool>,
    /// Base URL of an OpenAI-compatible API (e.g. http://127.0.0.1:11434/v1) whose model
    /// drafts a more personal text of autopilot emails; the template is sent on any error
    /// or timeout. Off without it.
    #[arg(long, env = "ONBOARD_LLM_URL")]
    pub llm_url: Option<String>,
    /// The model to ask (required with --llm-url).
    #[arg(long, env = "ONBOARD_LLM_MODEL")]
    pub llm_model: Option<String>,
    /// Bearer key of the LLM endpoint, when it wants one.
    #[arg(long, env = "ONBOARD_LLM_KEY", hide_env_values = true)]
    pub llm_key: Option<Secret>,
    /// How long a draft may take before the template is sent (default 8s; 100ms to 25s).
    #[arg(long, env = "ONBOARD_LLM_TIMEOUT")]
    pub llm_timeout: Option<String>,
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
    pub write_key: Option<Secret>,
    pub nudge_secret: Option<Secret>,
    pub deals_webhook_secret: Option<Secret>,
    pub first_link_ttl: Option<String>,
    pub link_ttl: Option<String>,
    pub allow_private_targets: Option<bool>,
    pub llm_url: Option<String>,
    pub llm_model: Option<String>,
    pub llm_key: Option<Secret>,
    pub llm_timeout: Option<String>,
    /// Outbound endpoints, `[endpoints.<name>]`.
    #[serde(default)]
    pub endpoints: BTreeMap<String, FileEndpoint>,
}

/// `[endpoints.<name>]` in `onboard.toml`: a Slack incoming webhook or a signed webhook.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEndpoint {
    /// `slack` or `webhook`.
    pub kind: Option<String>,
    /// The URL is a secret (for Slack, the credential itself).
    pub url: Option<Secret>,
    /// For webhooks: `whsec_` + base64.
    pub secret: Option<Secret>,
}

/// Prefix of the environment variables that configure endpoints:
/// `ONBOARD_ENDPOINT_<NAME>_URL`, `_KIND`, `_SECRET`.
const ENDPOINT_VARIABLE: &str = "ONBOARD_ENDPOINT_";

/// One endpoint's settings as gathered, each with the setting it came from (for errors).
#[derive(Default)]
struct EndpointSettings {
    kind: Option<(String, String)>,
    url: Option<(Secret, String)>,
    secret: Option<(Secret, String)>,
}

/// The outbound endpoints of `[endpoints.<name>]` in the file and of the variables
/// `ONBOARD_ENDPOINT_<NAME>_{URL,KIND,SECRET}` among `variables` (which win, setting by
/// setting). `NAME` is the endpoint's name upper-cased with `-` as `_`. Every endpoint is
/// validated; an error names the setting at fault.
pub fn endpoints(
    file: &BTreeMap<String, FileEndpoint>,
    variables: impl IntoIterator<Item = (String, String)>,
    allow_private_targets: bool,
) -> anyhow::Result<Vec<Endpoint>> {
    let mut gathered: BTreeMap<String, EndpointSettings> = BTreeMap::new();
    for (name, endpoint) in file {
        let place = |field: &str| format!("`{field}` of [endpoints.{name}] in onboard.toml");
        let settings = gathered.entry(name.clone()).or_default();
        settings.kind = endpoint.kind.clone().map(|k| (k, place("kind")));
        settings.url = endpoint.url.clone().map(|u| (u, place("url")));
        settings.secret = endpoint.secret.clone().map(|s| (s, place("secret")));
    }
    for (variable, value) in variables {
        let Some(rest) = variable.strip_prefix(ENDPOINT_VARIABLE) else {
            continue;
        };
        let (upper, field) = if let Some(upper) = rest.strip_suffix("_URL") {
            (upper, "url")
        } else if let Some(upper) = rest.strip_suffix("_KIND") {
            (upper, "kind")
        } else if let Some(upper) = rest.strip_suffix("_SECRET") {
            (upper, "secret")
        } else {
            bail!("{variable}: an endpoint variable ends in _URL, _KIND or _SECRET");
        };
        if upper.is_empty() {
            bail!("{variable}: the endpoint's name is missing");
        }
        if value.trim().is_empty() {
            continue;
        }
        let name = upper.to_lowercase().replace('_', "-");
        let settings = gathered.entry(name).or_default();
        match field {
            "url" => settings.url = Some((Secret::new(value), variable)),
            "kind" => settings.kind = Some((value, variable)),
            _ => settings.secret = Some((Secret::new(value), variable)),
        }
    }
    let mut endpoints = Vec::with_capacity(gathered.len());
    for (name, settings) in gathered {
        let variable = |field: &str| {
            format!(
                "{ENDPOINT_VARIABLE}{}_{field}",
                name.to_uppercase().replace('-', "_")
            )
        };
        let Some((kind, kind_place)) = settings.kind else {
            bail!(
                "endpoint `{name}` has no kind: set {} or `kind` in [endpoints.{name}] (`slack` or `webhook`)",
                variable("KIND")
            );
        };
        let kind =
            EndpointKind::parse(kind.trim()).map_err(|e| anyhow::anyhow!("{kind_place}: {e}"))?;
        let Some((url, url_place)) = settings.url else {
            bail!(
                "endpoint `{name}` has no URL: set {} or `url` in [endpoints.{name}]",
                variable("URL")
            );
        };
        let secret_place = settings.secret.as_ref().map(|(_, place)| place.clone());
        let endpoint = Endpoint {
            name: name.clone(),
            kind,
            url: url.expose().trim().to_owned(),
            secret: settings.secret.map(|(s, _)| s.expose().trim().to_owned()),
        };
        if let Err(problem) = endpoint.validate(allow_private_targets) {
            let place = match problem.field {
                "url" => url_place,
                "secret" => secret_place.unwrap_or_else(|| {
                    format!("{} or `secret` in [endpoints.{name}]", variable("SECRET"))
                }),
                "kind" => kind_place,
                _ => format!("endpoint name `{name}`"),
            };
            bail!("{place}: {}", problem.message);
        }
        endpoints.push(endpoint);
    }
    Ok(endpoints)
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

/// The default of `--llm-timeout`.
const DEFAULT_LLM_TIMEOUT: &str = "8s";

/// The drafting model's settings: none without a URL; with one, a model is required.
fn llm(
    url: Option<String>,
    model: Option<String>,
    key: Option<Secret>,
    timeout: Option<String>,
) -> anyhow::Result<Option<LlmSettings>> {
    let Some(url) = url.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!("--llm-url must start with http:// or https://, not `{url}`");
    }
    let Some(model) = model.map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()) else {
        bail!(
            "ONBOARD_LLM_URL is set but no model is named: set ONBOARD_LLM_MODEL (or --llm-model, \
             or llm_model in onboard.toml) to the model to ask, e.g. llama3.1:8b"
        );
    };
    let text = timeout.unwrap_or_else(|| DEFAULT_LLM_TIMEOUT.to_owned());
    let trimmed = text.trim();
    let millis = match trimmed.strip_suffix("ms") {
        Some(number) => number.trim().parse::<i64>().ok(),
        None => onboard_core::Duration::parse(trimmed)
            .ok()
            .map(onboard_core::Duration::millis),
    };
    let Some(millis) = millis.filter(|ms| (100..=25_000).contains(ms)) else {
        bail!("--llm-timeout: `{text}` must be a duration from 100ms to 25s, e.g. 8s or 1500ms");
    };
    Ok(Some(LlmSettings {
        url: url.trim_end_matches('/').to_owned(),
        model,
        key: secret(key, None).map(|k| k.expose().trim().to_owned()),
        timeout: std::time::Duration::from_millis(millis.unsigned_abs()),
    }))
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
    /// Write key of the usage intake; it is off without it.
    pub write_key: Option<Secret>,
    /// Key of browsers' user tokens for nudges; only the write key works without it.
    pub nudge_secret: Option<Secret>,
    /// The decoded secret of `POST /hooks/deals`; the hook is off without it.
    pub deals_webhook_secret: Option<WebhookSecret>,
    /// Outbound endpoints for `slack` and `webhook` messages (their `Debug` hides URLs and
    /// secrets).
    pub endpoints: Vec<Endpoint>,
    /// Whether outbound endpoints may be private addresses.
    pub allow_private_targets: bool,
    /// The model that drafts autopilot emails, if any (its `Debug` hides the key).
    pub llm: Option<LlmSettings>,
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
        let allow_private_targets = args
            .allow_private_targets
            .or(file.allow_private_targets)
            .unwrap_or(false);
        let endpoints = endpoints(&file.endpoints, std::env::vars(), allow_private_targets)?;
        let llm = llm(
            args.llm_url.or(file.llm_url),
            args.llm_model.or(file.llm_model),
            args.llm_key.or(file.llm_key),
            args.llm_timeout.or(file.llm_timeout),
        )?;
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
            write_key: secret(args.write_key, file.write_key),
            nudge_secret: secret(args.nudge_secret, file.nudge_secret),
            deals_webhook_secret,
            endpoints,
            allow_private_targets,
            llm,
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

    const WHSEC: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

    fn variables(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn endpoint_error(
        toml_text: &str,
        env: &[(&str, &str)],
        allow_private_targets: bool,
    ) -> String {
        let file: FileConfig = toml::from_str(toml_text).unwrap_or_else(|e| panic!("{e}"));
        endpoints(&file.endpoints, variables(env), allow_private_targets)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn endpoints_come_from_the_file_and_the_environment_which_wins() {
        let file: FileConfig = toml::from_str(&format!(
            "allow_private_targets = false\n\
             [endpoints.sales-slack]\nkind = \"slack\"\nurl = \"https://hooks.slack.com/services/T0/B0/SLACKPATH\"\n\
             [endpoints.crm-hook]\nkind = \"webhook\"\nurl = \"https://old.example.com/hook\"\nsecret = \"{WHSEC}\"\n"
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let env = variables(&[
            (
                "ONBOARD_ENDPOINT_CRM_HOOK_URL",
                "https://crm.example.com/hooks/onboard",
            ),
            ("ONBOARD_ENDPOINT_BILLING_KIND", "webhook"),
            (
                "ONBOARD_ENDPOINT_BILLING_URL",
                "https://billing.example.com/in",
            ),
            ("ONBOARD_ENDPOINT_BILLING_SECRET", WHSEC),
            ("ONBOARD_DATABASE_URL", "sqlite://x.db"),
        ]);
        let endpoints = endpoints(&file.endpoints, env, false).unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = endpoints.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["billing", "crm-hook", "sales-slack"]);
        assert_eq!(endpoints[1].url, "https://crm.example.com/hooks/onboard");
        assert_eq!(endpoints[1].kind, EndpointKind::Webhook);
        assert_eq!(endpoints[1].secret.as_deref(), Some(WHSEC));
        assert_eq!(endpoints[2].kind, EndpointKind::Slack);
        let printed = format!("{endpoints:?}");
        assert!(
            !printed.contains("SLACKPATH") && !printed.contains("whsec_"),
            "{printed}"
        );
    }

    #[test]
    fn a_bad_endpoint_stops_the_start_naming_the_setting() {
        let error = endpoint_error(
            "",
            &[
                ("ONBOARD_ENDPOINT_CRM_HOOK_KIND", "webhook"),
                ("ONBOARD_ENDPOINT_CRM_HOOK_URL", "https://crm.example.com/h"),
            ],
            false,
        );
        assert!(
            error.contains("ONBOARD_ENDPOINT_CRM_HOOK_SECRET"),
            "{error}"
        );
        let error = endpoint_error(
            "",
            &[
                ("ONBOARD_ENDPOINT_CRM_HOOK_KIND", "webhook"),
                ("ONBOARD_ENDPOINT_CRM_HOOK_URL", "https://crm.example.com/h"),
                ("ONBOARD_ENDPOINT_CRM_HOOK_SECRET", "whsec_not base64!"),
            ],
            false,
        );
        assert!(
            error.contains("ONBOARD_ENDPOINT_CRM_HOOK_SECRET"),
            "{error}"
        );
        let error = endpoint_error(
            "[endpoints.crm-hook]\nkind = \"webhook\"\nurl = \"ftp://crm.example.com/SECRETPATH\"\n",
            &[],
            false,
        );
        assert!(error.contains("`url` of [endpoints.crm-hook]"), "{error}");
        assert!(
            !error.contains("SECRETPATH"),
            "the URL is a secret: {error}"
        );
        let error = endpoint_error(
            "[endpoints.crm-hook]\nkind = \"teams\"\nurl = \"https://a.example/h\"\n",
            &[],
            false,
        );
        assert!(error.contains("`kind` of [endpoints.crm-hook]"), "{error}");
        let error = endpoint_error(
            "",
            &[("ONBOARD_ENDPOINT_CRM_HOOK_URL", "https://a.example/h")],
            false,
        );
        assert!(error.contains("ONBOARD_ENDPOINT_CRM_HOOK_KIND"), "{error}");
        // Slack needs https, unless private targets are allowed.
        let slack = [
            ("ONBOARD_ENDPOINT_TEAM_KIND", "slack"),
            ("ONBOARD_ENDPOINT_TEAM_URL", "http://127.0.0.1:9000/slack"),
        ];
        let error = endpoint_error("", &slack, false);
        assert!(error.contains("ONBOARD_ENDPOINT_TEAM_URL"), "{error}");
        assert_eq!(endpoint_error("", &slack, true), "");
    }

    #[test]
    fn no_llm_url_means_no_drafting() {
        let settings = Settings::resolve(
            serve_args(&["--llm-model", "llama3.1"]),
            FileConfig::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.llm, None);
    }

    #[test]
    fn an_llm_url_without_a_model_stops_the_start() {
        let args = serve_args(&["--llm-url", "http://127.0.0.1:11434/v1"]);
        let error = Settings::resolve(args, FileConfig::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("ONBOARD_LLM_MODEL"), "{error}");
    }

    #[test]
    fn the_llm_settings_come_from_flags_or_the_file_and_the_key_is_never_printed() {
        let args = serve_args(&[
            "--llm-url",
            "https://llm.example/v1/",
            "--llm-model",
            "gpt-4o-mini",
            "--llm-key",
            "sk-llm-secret",
        ]);
        let printed = format!("{args:?}");
        let settings =
            Settings::resolve(args, FileConfig::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{printed}{settings:?}").contains("sk-llm-secret"));
        let llm = settings
            .llm
            .unwrap_or_else(|| panic!("drafting is configured"));
        assert_eq!(llm.url, "https://llm.example/v1");
        assert_eq!(llm.model, "gpt-4o-mini");
        assert_eq!(llm.key.as_deref(), Some("sk-llm-secret"));
        assert_eq!(llm.timeout, std::time::Duration::from_secs(8));
        let file: FileConfig = toml::from_str(
            "llm_url = \"http://127.0.0.1:11434/v1\"\nllm_model = \"llama3.1\"\nllm_timeout = \"1500ms\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let settings =
            Settings::resolve(ServeArgs::default(), file).unwrap_or_else(|e| panic!("{e}"));
        let llm = settings
            .llm
            .unwrap_or_else(|| panic!("drafting is configured"));
        assert_eq!(llm.timeout, std::time::Duration::from_millis(1_500));
        assert_eq!(llm.key, None);
        let args = serve_args(&[
            "--llm-url",
            "http://127.0.0.1:11434/v1",
            "--llm-model",
            "llama3.1",
            "--llm-timeout",
            "2m",
        ]);
        let error = Settings::resolve(args, FileConfig::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("--llm-timeout"), "{error}");
    }

    #[test]
    fn private_targets_are_refused_unless_allowed_by_flag_variable_or_file() {
        let settings = Settings::resolve(serve_args(&[]), FileConfig::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!settings.allow_private_targets);
        let settings = Settings::resolve(
            serve_args(&["--allow-private-targets"]),
            FileConfig::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(settings.allow_private_targets);
        let file: FileConfig =
            toml::from_str("allow_private_targets = true\n").unwrap_or_else(|e| panic!("{e}"));
        let settings =
            Settings::resolve(ServeArgs::default(), file).unwrap_or_else(|e| panic!("{e}"));
        assert!(settings.allow_private_targets);
    }
}
