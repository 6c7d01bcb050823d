//! The harness: the real `onboard` binary as a child process, a real SMTP server (Python
//! aiosmtpd writing a maildir), fresh databases on every backend, and polling with a deadline
//! instead of sleeps. Every child process is killed when its handle is dropped; when a test
//! panics, the tail of each server's log is printed.

use serde_json::{json, Value};
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use onboard_store::testing::TestDatabase;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_onboard");
/// The admin token every server of the suite runs with.
pub const TOKEN: &str = "test-token";
/// Where every manual clock starts.
pub const START: &str = "2026-01-05T09:00:00Z";
/// The longest wait for anything that should happen "soon".
pub const DEADLINE: Duration = Duration::from_secs(20);
/// How long a server may take to start: migrations on a fresh PostgreSQL database take
/// seconds on a busy machine. Only a server that never starts waits this long.
pub const START_DEADLINE: Duration = Duration::from_secs(90);
/// The example program shipped with the repository.
pub const EXAMPLE_PROGRAM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../program");

/// The `onboard` command, cut off from the test process's `ONBOARD_*` variables and from
/// any `onboard.toml` in the working directory.
pub fn onboard(cwd: &Path) -> Command {
    let mut command = Command::new(BIN);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ONBOARD_") {
            command.env_remove(key);
        }
    }
    command.current_dir(cwd);
    command
}

/// Polls `probe` every 50 ms until it gives a value, for at most `timeout`; panics with
/// `what` when it never does.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TCP port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

// ------------------------------------------------------------------------------ the server

/// How to start `onboard serve`; reusable to restart on the same data and database.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub database_url: String,
    pub smtp_url: Option<String>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl ServerConfig {
    /// A manual-clock server on `db`, keeping its files in `data_dir`.
    pub fn new(data_dir: &Path, db: &TestDatabase) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            database_url: db.url.clone(),
            smtp_url: None,
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn smtp(mut self, url: &str) -> Self {
        self.smtp_url = Some(url.to_owned());
        self
    }

    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Starts the server and waits until it answers `/readyz`.
    pub async fn start(&self) -> Server {
        Server::start(self).await
    }
}

/// A running `onboard serve`, killed on drop.
pub struct Server {
    child: Child,
    pub api: Api,
    log: PathBuf,
    _logs: tempfile::TempDir,
}

impl std::ops::Deref for Server {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Server {
    async fn start(config: &ServerConfig) -> Server {
        let logs = tempfile::tempdir().unwrap();
        let log = logs.path().join("server.log");
        let mut command = onboard(&config.data_dir);
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&config.data_dir)
            .args(["--clock", "manual", "--clock-start", START])
            .args(["--database-url", &config.database_url]);
        if let Some(url) = &config.smtp_url {
            command.args(["--smtp-url", url]);
        }
        command
            .args(&config.args)
            .env("ONBOARD_ADMIN_TOKEN", TOKEN)
            .env("NO_COLOR", "1")
            .envs(config.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = command.spawn().unwrap();

        // The address is on stdout; the rest of stdout is drained so the server never blocks.
        let stdout = child.stdout.take().unwrap();
        let (sender, address) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Some(address) = line.strip_prefix("onboard listening on ") {
                    let _ = sender.send(address.trim().to_owned());
                }
            }
        });
        let deadline = Instant::now() + START_DEADLINE;
        let url = loop {
            if let Ok(url) = address.try_recv() {
                break url;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "onboard serve exited with {status} before listening:\n{}",
                    tail(&log, 60)
                );
            }
            assert!(
                Instant::now() < deadline,
                "onboard serve did not print its address within {START_DEADLINE:?}:\n{}",
                tail(&log, 60)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let server = Server {
            child,
            api: Api::new(&url),
            log,
            _logs: logs,
        };
        eventually("the server to answer /readyz", DEADLINE, || async {
            let response = server
                .api
                .client
                .get(server.api.url("/readyz"))
                .send()
                .await;
            response
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        })
        .await;
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM; returns the exit status, or panics when the process is still running after
    /// `timeout`.
    pub async fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM failed");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "onboard serve still runs {timeout:?} after SIGTERM; log:\n{}",
                tail(&self.log, 40)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- log of the server at {} ----\n{}",
                self.api.base,
                tail(&self.log, 80)
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// --------------------------------------------------------------------------------- the API

/// A client of one server's HTTP API, authenticated with the admin token. Cheap to clone.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
}

impl Api {
    pub fn new(base: &str) -> Self {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(180))
            .build()
            .unwrap();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A GET answered with 2xx; its JSON.
    pub async fn get(&self, path: &str) -> Value {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        json_of(response, "GET", path).await
    }

    /// A POST answered with 2xx; its JSON.
    pub async fn post(&self, path: &str, body: &Value) -> Value {
        let response = self.post_raw(path, body).await.unwrap();
        json_of(response, "POST", path).await
    }

    /// A POST, whatever the outcome.
    pub async fn post_raw(&self, path: &str, body: &Value) -> reqwest::Result<reqwest::Response> {
        self.client
            .post(self.url(path))
            .bearer_auth(TOKEN)
            .json(body)
            .send()
            .await
    }

    /// Appends events (one object or an array).
    pub async fn post_events(&self, events: &Value) -> Value {
        self.post("/api/events", events).await
    }

    /// Moves the manual clock by a duration such as `72h`; returns once settled.
    pub async fn advance(&self, by: &str) -> Value {
        self.post("/api/clock/advance", &json!({ "by": by })).await
    }

    pub async fn now(&self) -> String {
        text(&self.get("/api/clock").await["now"])
    }

    /// Every event matching `query` (e.g. `type=timer.fired`), following `next`.
    pub async fn events(&self, query: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut path = format!("/api/events?limit=1000&{query}");
            if let Some(after) = &after {
                path.push_str(&format!("&after={after}"));
            }
            let page = self.get(&path).await;
            all.extend(page["events"].as_array().unwrap().iter().cloned());
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => return all,
            }
        }
    }

    /// Messages matching `query` (e.g. `account=acme&status=dead`), newest first.
    pub async fn messages(&self, query: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let mut path = format!("/api/messages?limit=500&{query}");
            if let Some(before) = &before {
                path.push_str(&format!("&before={before}"));
            }
            let page = self.get(&path).await;
            all.extend(page["messages"].as_array().unwrap().iter().cloned());
            match page["next"].as_str() {
                Some(next) => before = Some(next.to_owned()),
                None => return all,
            }
        }
    }

    /// The messages of `account` sent by `rule`.
    pub async fn messages_of_rule(&self, account: &str, rule: &str) -> Vec<Value> {
        self.messages(&format!("account={account}"))
            .await
            .into_iter()
            .filter(|m| m["rule"] == rule)
            .collect()
    }

    pub async fn message(&self, id: &str) -> Value {
        self.get(&format!("/api/messages/{id}")).await
    }

    /// The traces of `account` for `rule`, oldest first.
    pub async fn traces(&self, account: &str, rule: &str) -> Vec<Value> {
        let all = self
            .get(&format!("/api/accounts/{account}/traces?limit=1000"))
            .await;
        let mut traces: Vec<Value> = all["traces"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["rule"] == rule)
            .cloned()
            .collect();
        traces.reverse();
        traces
    }

    /// A gauge of `/metrics`.
    pub async fn gauge(&self, name: &str) -> f64 {
        let text = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| {
                let (key, value) = l.split_once(' ')?;
                (key == name).then(|| value.trim().parse().ok())?
            })
            .unwrap_or_else(|| panic!("no gauge {name} in /metrics:\n{text}"))
    }

    /// Nothing stranded at the clock's time: every event processed, no timer overdue, and
    /// `queued` messages waiting in the outbox (0 unless the test expects some).
    pub async fn assert_settled(&self, queued: u64) {
        assert_eq!(self.gauge("onboard_events_unprocessed").await, 0.0);
        assert_eq!(self.gauge("onboard_timers_due").await, 0.0);
        assert_eq!(
            self.gauge("onboard_outbox_queued").await,
            queued as f64,
            "messages waiting in the outbox"
        );
    }
}

async fn json_of(response: reqwest::Response, method: &str, path: &str) -> Value {
    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(
        status.is_success(),
        "{method} {path} answered {status}: {body}"
    );
    serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {body}"))
}

/// A JSON string's text (panics on anything else).
pub fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
        .to_owned()
}

// ------------------------------------------------------------------------------- fixtures

/// The CSM the fixtures assign (a `[[team]]` member of the example program).
pub const CSM_NAME: &str = "Dana Whitfield";
pub const CSM_EMAIL: &str = "dana@pipeflow.example";

/// The admin contact of `account` in [`deal_won`].
pub fn admin_email(account: &str) -> String {
    format!("ada@{account}.example")
}

/// A `deal.won` for `account`, at the clock's time, with one admin contact and Dana as CSM.
pub fn deal_won(account: &str) -> Value {
    json!({
        "id": format!("deal-{account}"),
        "type": "deal.won",
        "account": account,
        "data": {
            "account_name": format!("{account} Inc."),
            "csm": CSM_EMAIL,
            "contacts": [{
                "email": admin_email(account),
                "name": "Ada Admin",
                "title": "Head of Sales Ops",
                "persona": "admin",
            }],
        },
    })
}

// ------------------------------------------------------------------------- the SMTP server

/// A real SMTP server (aiosmtpd) that keeps every email it accepts in a maildir.
pub struct Smtp {
    child: Child,
    pub port: u16,
    maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Smtp {
    /// On a free port.
    pub async fn start() -> Smtp {
        Self::start_on(free_port()).await
    }

    /// On `port`; returns once it accepts connections.
    pub async fn start_on(port: u16) -> Smtp {
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("maildir");
        let mut child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("smtp.log")).unwrap())
            .spawn()
            .expect("python3 with aiosmtpd (scripts/test installs it)");
        let deadline = Instant::now() + DEADLINE;
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "aiosmtpd exited with {status}:\n{}",
                    tail(&dir.path().join("smtp.log"), 30)
                );
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not accept connections on port {port} within {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Smtp {
            child,
            port,
            maildir,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every email received so far.
    pub fn emails(&self) -> Vec<Email> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .map(|raw| Email::parse(&raw))
            .collect()
    }

    /// The emails received with this Message-ID.
    pub fn emails_with_id(&self, message_id: &str) -> Vec<Email> {
        self.emails()
            .into_iter()
            .filter(|e| e.header("Message-ID") == Some(message_id))
            .collect()
    }

    /// Waits until an email with this Message-ID has arrived.
    pub async fn wait_for(&self, message_id: &str) -> Email {
        eventually(
            &format!("an email with Message-ID {message_id}"),
            DEADLINE,
            || async { self.emails_with_id(message_id).pop() },
        )
        .await
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A received email: unfolded headers and the body.
#[derive(Debug)]
pub struct Email {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Email {
    fn parse(raw: &str) -> Email {
        let raw = raw.replace("\r\n", "\n");
        let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.lines() {
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = headers.last_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        // The body as a mail client shows it: transfer encodings undone.
        let encoding = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Content-Transfer-Encoding"))
            .map(|(_, v)| v.to_ascii_lowercase());
        let body = match encoding.as_deref() {
            Some("quoted-printable") => String::from_utf8(
                quoted_printable::decode(body.as_bytes(), quoted_printable::ParseMode::Robust)
                    .unwrap(),
            )
            .unwrap(),
            Some("base64") => {
                use base64::Engine as _;
                let compact: String = body.split_whitespace().collect();
                String::from_utf8(
                    base64::engine::general_purpose::STANDARD
                        .decode(compact)
                        .unwrap(),
                )
                .unwrap()
            }
            _ => body.to_owned(),
        };
        Email { headers, body }
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
