//! The `onboard` binary: wires configuration, store, engine and web server together.
//! `serve` runs everything; `check` validates a program folder; `migrate` applies migrations;
//! `audit` reports where CSM time goes in a CSV of interactions; `simulate` and `dry-run`
//! show what a program would do, on a synthetic cohort or a database's recorded events.

mod audit;
mod config;
mod program_files;
mod simulate;

use anyhow::{bail, Context};
use clap::Parser;
use config::{Cli, ClockMode, Command, FileConfig, Settings};
use onboard_engine::clock::{Clock, ManualClock, SystemClock};
use onboard_engine::mail::{DevMailbox, Mailer, SmtpMailer};
use onboard_engine::{Engine, EngineConfig, HubSpotSettings, PipedriveSettings};
use onboard_web::{AppState, HookSecrets, Secret, WallClock};
use std::process::ExitCode;
use std::sync::Arc;
use tokio::sync::Notify;

/// The intake parses and drops many small JSON values per event, from every worker thread:
/// mimalloc's per-thread free lists keep that cheap where the system allocator's arenas
/// spent a third of the server's time under load (see BENCHMARKS.md). The workspace builds
/// mimalloc with `override`, so SQLite's allocations go to it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { dir } => check(&dir),
        Command::Audit(args) => audit::run(&args),
        command => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let result = runtime.block_on(async move {
                let file = FileConfig::load(cli.config.as_deref())?;
                match command {
                    Command::Serve(args) => serve(Settings::resolve(args, file)?).await,
                    Command::Migrate(args) => migrate(&args, &file).await,
                    Command::Simulate(args) => simulate::run(&args).await,
                    Command::DryRun(args) => simulate::dry_run(&args, &file).await,
                    Command::Check { .. } | Command::Audit(_) => Ok(()),
                }
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// `onboard check DIR`: every problem with file, line, column and hint; exit 1 on any.
fn check(dir: &std::path::Path) -> ExitCode {
    let source = match onboard_engine::read_program_dir(dir) {
        Ok(source) => source,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    match onboard_core::program::load(&source) {
        Ok(program) => {
            println!(
                "ok: {} (version {}): {} personas, {} journeys, {} templates, {} goals, {} rules, {} messages",
                program.name,
                &program.version.0[..12.min(program.version.0.len())],
                program.personas.len(),
                program.journeys.len(),
                program.templates.len(),
                program.goals.len(),
                program.rules.len(),
                program.messages.len()
            );
            ExitCode::SUCCESS
        }
        Err(diagnostics) => {
            for d in &diagnostics {
                eprintln!("{}", prefix_path(dir, d));
            }
            eprintln!("{} error(s) in {}", diagnostics.len(), dir.display());
            ExitCode::FAILURE
        }
    }
}

fn prefix_path(dir: &std::path::Path, d: &onboard_core::program::Diagnostic) -> String {
    let mut d = d.clone();
    d.file = dir.join(&d.file).display().to_string();
    d.to_string()
}

async fn migrate(args: &config::DatabaseArgs, file: &FileConfig) -> anyhow::Result<()> {
    init_logs();
    let (data_dir, url) = config::database(args, file);
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
    let store = onboard_store::connect(&url)
        .await
        .context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    println!("migrations applied ({})", store.backend());
    Ok(())
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("ONBOARD_LOG_FORMAT").as_deref() == Ok("json") {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}

/// The admin token: from the settings, else kept in `<data-dir>/admin-token` (made once).
fn admin_token(settings: &Settings) -> anyhow::Result<Secret> {
    if let Some(token) = &settings.admin_token {
        return Ok(Secret::new(token.clone()));
    }
    let path = settings.data_dir.join("admin-token");
    if let Ok(token) = std::fs::read_to_string(&path) {
        let token = token.trim().to_owned();
        if !token.is_empty() {
            eprintln!(
                "API token: in {} (set ONBOARD_ADMIN_TOKEN to choose one)",
                path.display()
            );
            return Ok(Secret::new(token));
        }
    }
    let token = format!("obt_{}", uuid::Uuid::new_v4().simple());
    write_private(&path, &token)?;
    eprintln!(
        "API token: written to {} (set ONBOARD_ADMIN_TOKEN to choose one)",
        path.display()
    );
    Ok(Secret::new(token))
}

/// Holds an exclusive lock on the data directory for the life of the process: one node per
/// data directory, so a node's name (kept there) is never used by two live processes.
fn lock_data_dir(dir: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let path = dir.join("node.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another onboard process uses the data directory {}; give each node its own --data-dir",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// This node's name, made once and kept in `<data-dir>/node-id`, so that a node restarted
/// after a crash takes its own leases back at once instead of waiting for them to expire.
fn node_name(dir: &std::path::Path) -> anyhow::Result<String> {
    let path = dir.join("node-id");
    if let Ok(name) = std::fs::read_to_string(&path) {
        let name = name.trim();
        if !name.is_empty() {
            return Ok(name.to_owned());
        }
    }
    let name = format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    std::fs::write(&path, &name).with_context(|| format!("writing {}", path.display()))?;
    Ok(name)
}

fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    init_logs();
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "creating the data directory {}",
            settings.data_dir.display()
        )
    })?;

    let source = match &settings.program {
        Some(dir) => onboard_engine::read_program_dir(dir).map_err(anyhow::Error::msg)?,
        None => program_files::bundled(),
    };
    let program = match onboard_core::program::load(&source) {
        Ok(program) => program,
        Err(diagnostics) => {
            let dir = settings
                .program
                .clone()
                .unwrap_or_else(|| std::path::PathBuf::from("(bundled program)"));
            for d in &diagnostics {
                eprintln!("{}", prefix_path(&dir, d));
            }
            bail!(
                "the program has {} error(s); `onboard check` shows them too",
                diagnostics.len()
            );
        }
    };

    let store = onboard_store::connect(&settings.database_url)
        .await
        .context("opening the database")?;
    store.migrate().await.context("applying migrations")?;

    let clock: Arc<dyn Clock> = match settings.clock {
        ClockMode::System => Arc::new(SystemClock),
        ClockMode::Manual => {
            let start = match &settings.clock_start {
                Some(text) => onboard_core::Timestamp::parse_rfc3339(text)
                    .map_err(|e| anyhow::anyhow!("--clock-start: {e}"))?,
                None => SystemClock.now(),
            };
            Arc::new(ManualClock::new(start))
        }
    };
    let (mailer, mailbox): (Arc<dyn Mailer>, _) = match &settings.smtp_url {
        Some(url) => (
            Arc::new(SmtpMailer::from_url(url).map_err(|e| anyhow::anyhow!("--smtp-url: {e}"))?),
            None,
        ),
        None => {
            let dir = settings.data_dir.join("mailbox");
            (Arc::new(DevMailbox::new(&dir)), Some(dir))
        }
    };
    let token = admin_token(&settings)?;
    let _data_dir_lock = lock_data_dir(&settings.data_dir)?;
    let node = match &settings.node {
        Some(node) => node.clone(),
        None => node_name(&settings.data_dir)?,
    };
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let address = listener.local_addr()?;
    // Links point at the configured public URL, else at the address bound (port 0 included).
    let public_url = if settings.public_url_given {
        settings.public_url.clone()
    } else {
        format!("http://{address}")
    };
    let mut engine_config = EngineConfig::new(&node, &public_url);
    engine_config.first_link_ttl = settings.first_link_ttl;
    engine_config.link_ttl = settings.link_ttl;
    engine_config.hubspot = settings
        .hubspot_access_token
        .as_ref()
        .map(|token| HubSpotSettings {
            api_base: settings.hubspot_api_base.clone(),
            access_token: token.expose().to_owned(),
        });
    engine_config.pipedrive =
        settings
            .pipedrive_api_token
            .as_ref()
            .map(|token| PipedriveSettings {
                api_base: settings.pipedrive_api_base.clone(),
                api_token: token.expose().to_owned(),
            });
    if settings.pipedrive_basic_auth.is_some() && engine_config.pipedrive.is_none() {
        tracing::warn!(
            "the Pipedrive hook is on but ONBOARD_PIPEDRIVE_API_TOKEN is not set: won deals are \
             built from the webhook alone, and their people cannot be fetched (no sign-in emails)"
        );
    }
    engine_config.endpoints = settings.endpoints.clone();
    // The program names its channels; the server knows where they are.
    for channel in &program.channels {
        match settings.endpoints.iter().find(|e| e.name == channel.name) {
            None => tracing::warn!(
                channel = %channel.name,
                "the program's channel `{}` has no endpoint: set ONBOARD_ENDPOINT_{}_URL (or \
                 [endpoints.{}] in onboard.toml); until then its alerts are dead letters",
                channel.name,
                channel.name.to_uppercase().replace('-', "_"),
                channel.name
            ),
            Some(endpoint) if endpoint.kind.as_str() != channel.kind => tracing::warn!(
                channel = %channel.name,
                "the program's channel `{}` is a {} channel, but its endpoint is a {} endpoint: \
                 its alerts are formatted for the wrong receiver",
                channel.name,
                channel.kind,
                endpoint.kind.as_str()
            ),
            Some(_) => {}
        }
    }
    engine_config.allow_private_targets = settings.allow_private_targets;
    engine_config.llm = settings.llm.clone();
    if let Some(llm) = &settings.llm {
        tracing::info!(model = %llm.model, timeout = ?llm.timeout, "autopilot emails are drafted by a language model (the template is sent on any error)");
    }
    let engine = Engine::start(engine_config, store, clock, mailer, program, &source).await?;

    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .ok();
    let state = AppState {
        engine: engine.clone(),
        admin_token: token,
        metrics: metrics.clone(),
        mailbox,
        files_dir: Some(settings.data_dir.join("files")),
        hooks: HookSecrets {
            hubspot_client_secret: settings.hubspot_client_secret.clone(),
            pipedrive_basic_auth: settings.pipedrive_basic_auth.clone(),
            deals_webhook_secret: settings.deals_webhook_secret.clone(),
            public_url: public_url.clone(),
        },
        wall_clock: WallClock::system(),
        write_key: settings.write_key.clone(),
        nudge_secret: settings.nudge_secret.clone(),
        sign_in_limits: onboard_web::SignInLimits::for_engine(&engine),
    };
    let app = onboard_web::router(state);
    tracing::info!(
        address = %address,
        database = engine.store().backend(),
        program = %engine.program().name,
        program.version = %engine.program().version.0,
        clock = ?settings.clock,
        node = %node,
        "onboard is ready"
    );
    println!("onboard listening on http://{address}");

    let stop = Arc::new(Notify::new());
    let worker = tokio::spawn(engine.clone().run(stop.clone()));
    if let Some(handle) = metrics {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                handle.run_upkeep();
            }
        });
    }
    // The client's address reaches handlers (the console's sign-in limits per client).
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("serving HTTP")?;
    tracing::info!("stopping: intake closed, draining work in flight");
    engine.stop_intake();
    stop.notify_one();
    let _ = worker.await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
