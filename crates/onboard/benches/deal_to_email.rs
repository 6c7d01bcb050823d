//! Deal won → sign-in email accepted by SMTP, end to end, through the real release binary.
//! `cargo bench -p onboard --bench deal_to_email`; the figures are in `BENCHMARKS.md` §5.
//!
//! Targets (SQLite, a 2-core machine): from the webhook request to the sign-in email accepted
//! by the SMTP server, p50 under 10 ms and p99 under 50 ms at a steady 50 deals/s; at least
//! 4,000 deal webhooks/s acknowledged at saturation. Speed is measured and printed, never
//! asserted: nothing here fails on timing.
//!
//! What runs:
//!
//! - **The server**: `onboard serve --listen 127.0.0.1:0 --data-dir <temp> --smtp-url
//!   smtp://127.0.0.1:<sink>`, the binary cargo built for this bench (release profile), on
//!   the system clock, the bundled program and SQLite in the data directory, with
//!   `ONBOARD_DEALS_WEBHOOK_SECRET` set so `POST /hooks/deals` is open.
//! - **The SMTP sink**: an SMTP server in this process (below, [`Sink`]). It is the server
//!   whose acceptance is measured: for every recipient of a message it records the moment
//!   the message's final `.` line arrived, then answers `250`.
//! - **Phase 1, the SMTP hand-off**: 200 emails sent to the sink one after another through
//!   lettre's transport (`builder_dangerous`, no pool, no `TCP_NODELAY`), then 200 as the
//!   engine sends them (`crates/onboard-engine/src/mail.rs`: lettre's client on a socket it
//!   opens with `TCP_NODELAY`, one connection per email). The second is the raw cost of one
//!   hand-off, which every end-to-end figure contains once; the difference between the two
//!   is Nagle's algorithm waiting for a delayed ACK (see `measure_handoff`).
//! - **Phase 2, latency at a steady rate**: one signed deal webhook every 20 ms on a fixed
//!   schedule (50 deals/s, open loop: a slow answer does not delay the next request) for
//!   `DEALS_SECONDS`. Deal n has one contact `p{n}@bench{n}.example`; its latency is the
//!   sink's record for that recipient minus the instant just before its request was sent.
//!   The CSM's `csm-new-account` email of each deal is accepted but not measured.
//! - **Phase 3, saturation**: `SATURATION_CLIENTS` tasks post unique signed deals back to
//!   back for `SATURATION_SECONDS`; a 200 means the deal was durably logged. Every request is
//!   built and signed before the clock starts, so the generator's own cost in the timed span
//!   is sending and reading. The generator, the sink and the server share the machine's cores.
//!
//! Environment knobs: `DEALS_SECONDS` (20), `SATURATION_CLIENTS` (64), `SATURATION_SECONDS`
//! (10), `SATURATION_REQUESTS` (120,000 pre-signed requests), `ONBOARD_BENCH_DATABASE_URL`
//! (`postgres://…`: run on PostgreSQL instead; give it an empty database, since the deals'
//! accounts must be new for the welcome emails to go out).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use lettre::message::header::ContentType;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::Sha256;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

/// The binary cargo built for this bench.
const BIN: &str = env!("CARGO_BIN_EXE_onboard");
/// The webhook secret of the server (the Standard Webhooks test vector's secret).
const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const ADMIN_TOKEN: &str = "bench";
/// The steady rate of phase 2: one deal every 20 ms.
const DEAL_INTERVAL: Duration = Duration::from_millis(20);
/// How long after the last deal of phase 2 its emails may still arrive.
const EMAIL_GRACE: Duration = Duration::from_secs(30);
/// Emails sent in phase 1.
const N_HANDOFFS: usize = 200;

// Targets, printed against the figures.
const TARGET_P50: Duration = Duration::from_millis(10);
const TARGET_P99: Duration = Duration::from_millis(50);
const TARGET_ACK_RATE: f64 = 4_000.0;

#[tokio::main]
async fn main() {
    let deals_seconds = knob("DEALS_SECONDS", 20);
    let clients = knob("SATURATION_CLIENTS", 64);
    let saturation_seconds = knob("SATURATION_SECONDS", 10);
    let saturation_requests = knob("SATURATION_REQUESTS", 120_000);
    let database_url = std::env::var("ONBOARD_BENCH_DATABASE_URL").ok();
    // Deal ids and webhook ids are unique per run.
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the system clock is after 1970")
        .as_millis();

    println!("deal won → sign-in email accepted by SMTP (run {run})");
    println!(
        "machine: {} cores available, load average {} (before)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average()
    );
    println!(
        "backend: {}",
        if database_url.is_some() {
            "PostgreSQL (ONBOARD_BENCH_DATABASE_URL)"
        } else {
            "SQLite (in the data directory)"
        }
    );

    let sink = Sink::start().await;
    let server = Server::start(sink.port, database_url.as_deref()).await;
    println!(
        "server: pid {}, {}; SMTP sink on 127.0.0.1:{}",
        server.child.id(),
        server.base,
        sink.port
    );
    let signer = Signer::new();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("building the HTTP client");

    let handoff = measure_handoff(&sink).await;
    let latency = measure_latency(&server, &sink, &signer, &client, run, deals_seconds).await;
    let first_saturation_deal = latency.n_sent;
    let saturation = measure_saturation(
        &server,
        &sink,
        &signer,
        run,
        first_saturation_deal,
        Saturation {
            clients,
            seconds: saturation_seconds,
            requests: saturation_requests,
        },
    )
    .await;

    // What the engine still had to do when the load stopped (its lag, not a target).
    let unprocessed = server.gauge(&client, "onboard_events_unprocessed").await;
    let queued = server.gauge(&client, "onboard_outbox_queued").await;
    println!(
        "when the load stopped: {unprocessed} events unprocessed, {queued} messages queued in \
         the outbox; the sink had accepted {} messages in all",
        sink.n_messages.load(Ordering::SeqCst)
    );
    drop(server); // kills the server and removes its data directory

    print_summary(&handoff, &latency, &saturation);
    println!("load average {} (after)", load_average());
}

/// A whole-number environment knob, or its default.
fn knob(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value} is not a whole number")),
        Err(_) => default,
    }
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat` (in
/// `USER_HZ` ticks, 100 a second on Linux); zero where that cannot be read.
fn cpu_time(pid: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // The fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

// ------------------------------------------------------------------------------ the sink

/// A minimal SMTP server: `220` greeting; `EHLO` (multi-line) / `HELO` → `250`; `MAIL FROM`
/// → `250`; `RCPT TO` → `250`, recording the recipient; `DATA` → `354`, then lines up to a
/// line `.`, whose arrival is recorded for each recipient before `250 OK` is sent;
/// `RSET` / `NOOP` → `250`; `QUIT` → `221` and close; anything else → `502`.
struct Sink {
    port: u16,
    /// Recipient (lower case) → when the final `.` of the first message to it arrived.
    accepted: Arc<Mutex<HashMap<String, Instant>>>,
    n_messages: Arc<AtomicU64>,
}

impl Sink {
    async fn start() -> Sink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the SMTP sink to a free port");
        let port = listener
            .local_addr()
            .expect("the SMTP sink's address")
            .port();
        let accepted = Arc::new(Mutex::new(HashMap::new()));
        let n_messages = Arc::new(AtomicU64::new(0));
        let (map, count) = (accepted.clone(), n_messages.clone());
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let (map, count) = (map.clone(), count.clone());
                        tokio::spawn(async move {
                            if let Err(error) = smtp_session(stream, &map, &count).await {
                                eprintln!("SMTP sink: session failed: {error}");
                            }
                        });
                    }
                    Err(error) => eprintln!("SMTP sink: accept failed: {error}"),
                }
            }
        });
        Sink {
            port,
            accepted,
            n_messages,
        }
    }

    /// When the message to `recipient` was accepted, if it was.
    fn accepted_at(&self, recipient: &str) -> Option<Instant> {
        self.accepted
            .lock()
            .expect("the sink's map")
            .get(recipient)
            .copied()
    }

    fn n_accepted(&self, recipients: &[String]) -> usize {
        let map = self.accepted.lock().expect("the sink's map");
        recipients.iter().filter(|r| map.contains_key(*r)).count()
    }
}

/// One SMTP connection, until `QUIT` or the client hangs up.
async fn smtp_session(
    stream: tokio::net::TcpStream,
    accepted: &Mutex<HashMap<String, Instant>>,
    n_messages: &AtomicU64,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(read);
    write.write_all(b"220 sink.bench ESMTP ready\r\n").await?;
    let mut line = Vec::with_capacity(256);
    let mut recipients: Vec<String> = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line);
        let command = command.trim_end();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink.bench\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "HELO" => b"250 sink.bench\r\n",
            "MAIL" => {
                recipients.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                let address = command
                    .split_once('<')
                    .and_then(|(_, rest)| rest.split_once('>'))
                    .map(|(address, _)| address.to_ascii_lowercase());
                match address {
                    Some(address) => {
                        recipients.push(address);
                        b"250 OK\r\n"
                    }
                    None => b"501 Syntax: RCPT TO:<address>\r\n",
                }
            }
            "DATA" if recipients.is_empty() => b"503 RCPT first\r\n",
            "DATA" => {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                loop {
                    line.clear();
                    if reader.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(()); // hung up mid-message: nothing accepted
                    }
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                }
                // The moment of acceptance: the final "." has arrived.
                let at = Instant::now();
                {
                    let mut map = accepted.lock().expect("the sink's map");
                    for recipient in recipients.drain(..) {
                        map.entry(recipient).or_insert(at);
                    }
                }
                n_messages.fetch_add(1, Ordering::SeqCst);
                b"250 OK\r\n"
            }
            "RSET" => {
                recipients.clear();
                b"250 OK\r\n"
            }
            "NOOP" => b"250 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 Command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

// ---------------------------------------------------------------------------- the server

/// `onboard serve` as a child process, killed (and its directory removed) on drop.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(sink_port: u16, database_url: Option<&str>) -> Server {
        let dir = tempfile::tempdir().expect("creating the bench's temporary directory");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("creating the data directory");
        let log = dir.path().join("server.log");
        let mut command = Command::new(BIN);
        // Cut off from this process's ONBOARD_* variables and from any onboard.toml.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ONBOARD_") {
                command.env_remove(key);
            }
        }
        command
            .current_dir(dir.path())
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&data)
            .args(["--smtp-url", &format!("smtp://127.0.0.1:{sink_port}")]);
        if let Some(url) = database_url {
            command.args(["--database-url", url]);
        }
        command
            .env("ONBOARD_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("ONBOARD_DEALS_WEBHOOK_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("creating the server's log file"));
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {BIN}: {e}"));

        // The address is on stdout; the rest of stdout is drained so the server never blocks.
        let stdout = child.stdout.take().expect("the server's stdout");
        let (sender, address) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if let Some(address) = line.strip_prefix("onboard listening on ") {
                    let _ = sender.send(address.trim().to_owned());
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let base = loop {
            if let Ok(base) = address.try_recv() {
                break base;
            }
            if let Some(status) = child.try_wait().expect("polling the server process") {
                panic!(
                    "onboard serve exited with {status} before listening:\n{}",
                    tail(&log)
                );
            }
            assert!(
                Instant::now() < deadline,
                "onboard serve printed no address within 20 s:\n{}",
                tail(&log)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let server = Server {
            child,
            base: base.trim_end_matches('/').to_owned(),
            log,
            _dir: dir,
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("building the HTTP client");
        loop {
            let ready = client.get(server.url("/readyz")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not answer /readyz within 20 s:\n{}",
                tail(&server.log)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A gauge of `/metrics`, as text ("?" when it cannot be read).
    async fn gauge(&self, client: &reqwest::Client, name: &str) -> String {
        let text = match client.get(self.url("/metrics")).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| {
                let (key, value) = l.split_once(' ')?;
                (key == name).then(|| value.trim().to_owned())
            })
            .unwrap_or_else(|| "?".to_owned())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- server log ----\n{}", tail(&self.log));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

// --------------------------------------------------------------------------- the deals

/// Signs webhook requests with Standard Webhooks headers, exactly as `post_deal` in
/// `tests/it/crm.rs`: `v1,` + base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`, keyed
/// with the base64-decoded bytes after `whsec_`.
struct Signer {
    keyed: Hmac<Sha256>,
}

/// One request to `POST /hooks/deals`: body and headers, ready to send.
struct SignedDeal {
    n: u64,
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

impl Signer {
    fn new() -> Signer {
        let key = base64::engine::general_purpose::STANDARD
            .decode(SECRET.trim_start_matches("whsec_"))
            .expect("the secret is base64 after whsec_");
        Signer {
            keyed: Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length"),
        }
    }

    /// Deal n of this run, won now, with one contact `p{n}@bench{n}.example`.
    fn deal(&self, run: u128, n: u64) -> SignedDeal {
        let now = jiff::Timestamp::now();
        let body = serde_json::json!({
            "type": "deal.won",
            "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "data": {
                "deal": { "id": format!("bench-{run}-{n}"), "name": format!("Bench {n} – Pro") },
                "account": { "name": format!("Bench {n}"), "domain": format!("bench{n}.example") },
                "contacts": [{
                    "email": recipient(n),
                    "name": format!("P {n}"),
                    "title": "Account Executive",
                }],
            },
        })
        .to_string();
        let id = format!("msg_bench_{run}_{n}");
        let timestamp = now.as_second().to_string();
        let mut mac = self.keyed.clone();
        mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
        let signature = format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        );
        SignedDeal {
            n,
            id,
            timestamp,
            signature,
            body,
        }
    }
}

/// The contact of deal n: the recipient of its sign-in email.
fn recipient(n: u64) -> String {
    format!("p{n}@bench{n}.example")
}

/// Posts a signed deal; the status and the answer's body.
async fn post_deal(
    client: &reqwest::Client,
    url: &str,
    deal: &SignedDeal,
) -> reqwest::Result<(reqwest::StatusCode, String)> {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &deal.id)
        .header("webhook-timestamp", &deal.timestamp)
        .header("webhook-signature", &deal.signature)
        .body(deal.body.clone())
        .send()
        .await?;
    let status = response.status();
    // Read to the end, so the connection goes back to the pool.
    let body = response.text().await?;
    Ok((status, body))
}

// ----------------------------------------------------------------------- phase 1: hand-off

struct Handoff {
    n_sent: usize,
    n_failed: usize,
    p50: Duration,
    p99: Duration,
    /// The diagnostic: the same client code on a socket with `TCP_NODELAY`.
    nodelay_p50: Duration,
    nodelay_p99: Duration,
}

/// 200 emails through lettre, one after another, each on a new connection as the engine's
/// transport does (no pool): connect, greeting, EHLO, MAIL, RCPT, DATA, message, QUIT.
///
/// Then, as a diagnostic, 200 more through lettre's own SMTP client code
/// (`AsyncSmtpConnection`, the same commands and writes) on a socket with `TCP_NODELAY`
/// set, which the transport does not set: lettre writes a message's body and its final
/// `.` line in two writes, and with Nagle's algorithm on, the second waits for the
/// receiver's delayed acknowledgement of the first (40 ms on Linux). The difference
/// between the two figures is that wait.
async fn measure_handoff(sink: &Sink) -> Handoff {
    println!("\n-- phase 1: raw SMTP hand-off, {N_HANDOFFS} emails through lettre, one at a time");
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(sink.port)
        .timeout(Some(Duration::from_secs(10)))
        .build();
    let mut times = Vec::with_capacity(N_HANDOFFS);
    let mut n_failed = 0;
    for i in 0..N_HANDOFFS {
        // Built before the clock, as the engine builds its email before the hand-off.
        let email = handoff_email(i);
        let start = Instant::now();
        match transport.send(email).await {
            Ok(_) => times.push(start.elapsed()),
            Err(error) => {
                n_failed += 1;
                eprintln!("hand-off {i} failed: {error}");
            }
        }
    }
    times.sort();

    let hello = ClientId::default();
    let mut nodelay = Vec::with_capacity(N_HANDOFFS);
    for i in N_HANDOFFS..2 * N_HANDOFFS {
        let email = handoff_email(i);
        let (envelope, bytes) = (email.envelope().clone(), email.formatted());
        let start = Instant::now();
        let sent = async {
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", sink.port)).await?;
            stream.set_nodelay(true)?;
            let mut connection =
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello).await?;
            connection.send(&envelope, &bytes).await?;
            connection.abort().await; // QUIT and close, as the transport does without a pool
            Ok::<_, Box<dyn std::error::Error>>(())
        };
        match sent.await {
            Ok(()) => nodelay.push(start.elapsed()),
            Err(error) => eprintln!("diagnostic hand-off {i} failed: {error}"),
        }
    }
    nodelay.sort();

    let handoff = Handoff {
        n_sent: times.len(),
        n_failed,
        p50: percentile(&times, 50.0),
        p99: percentile(&times, 99.0),
        nodelay_p50: percentile(&nodelay, 50.0),
        nodelay_p99: percentile(&nodelay, 99.0),
    };
    println!(
        "sent {}/{N_HANDOFFS}; one hand-off: p50 {}, p99 {}, max {}",
        handoff.n_sent,
        ms(handoff.p50),
        ms(handoff.p99),
        ms(times.last().copied().unwrap_or_default())
    );
    println!(
        "diagnostic, the same client code with TCP_NODELAY: sent {}/{N_HANDOFFS}; p50 {}, p99 {}",
        nodelay.len(),
        ms(handoff.nodelay_p50),
        ms(handoff.nodelay_p99)
    );
    handoff
}

/// Hand-off email i: about the size of a welcome email.
fn handoff_email(i: usize) -> Message {
    Message::builder()
        .message_id(Some(format!("<handoff-{i}@bench.example>")))
        .from(
            "Pipeflow Customer Success <success@pipeflow.example>"
                .parse()
                .expect("a valid From"),
        )
        .to(format!("P {i} <handoff{i}@sink.example>")
            .parse()
            .expect("a valid To"))
        .subject("Welcome to Pipeflow: your sign-in link")
        .header(ContentType::TEXT_PLAIN)
        .body(format!(
            "Hello P {i},\n\nSign in to the Pipeflow Academy: \
             http://127.0.0.1:1/academy/sign-in?token={}\n\n{}",
            "x".repeat(43),
            "Your journey starts with three short modules.\n".repeat(12)
        ))
        .expect("building the email")
}

// ----------------------------------------------------------------------- phase 2: latency

struct Latency {
    n_sent: u64,
    n_acknowledged: u64,
    n_received: usize,
    /// Webhook sent → sign-in email accepted, sorted.
    end_to_end: Vec<Duration>,
    /// Webhook sent → its answer read, sorted.
    acknowledgement: Vec<Duration>,
    /// The largest delay between a request's slot in the schedule and its sending.
    max_slip: Duration,
}

/// One deal every 20 ms for `seconds`, each request on its own task so the schedule never
/// waits for an answer; then up to 30 s for the emails.
async fn measure_latency(
    server: &Server,
    sink: &Sink,
    signer: &Signer,
    client: &reqwest::Client,
    run: u128,
    seconds: u64,
) -> Latency {
    let n_deals = seconds * 1_000 / DEAL_INTERVAL.as_millis() as u64;
    println!(
        "\n-- phase 2: latency at a steady 50 deals/s, {n_deals} deals over {seconds} s \
         (one every 20 ms, open loop)"
    );
    let url = server.url("/hooks/deals");
    let start = Instant::now() + Duration::from_millis(50);
    let mut max_slip = Duration::ZERO;
    let mut requests = Vec::with_capacity(n_deals as usize);
    let mut sent_at = Vec::with_capacity(n_deals as usize);
    for n in 0..n_deals {
        let slot = start + DEAL_INTERVAL * n as u32;
        tokio::time::sleep_until(slot.into()).await;
        let deal = signer.deal(run, n);
        let sent = Instant::now();
        max_slip = max_slip.max(sent.saturating_duration_since(slot));
        sent_at.push(sent);
        let (client, url) = (client.clone(), url.clone());
        requests.push(tokio::spawn(async move {
            let answer = post_deal(&client, &url, &deal).await;
            (deal.n, answer, sent.elapsed())
        }));
    }
    let last_sent = Instant::now();

    let mut acknowledgement = Vec::with_capacity(requests.len());
    let mut n_refused = 0;
    for request in requests {
        let (n, answer, elapsed) = request.await.expect("a request task");
        match answer {
            Ok((status, _)) if status == reqwest::StatusCode::OK => acknowledgement.push(elapsed),
            Ok((status, body)) => {
                n_refused += 1;
                if n_refused <= 5 {
                    eprintln!("deal {n}: answered {status}: {body}");
                }
            }
            Err(error) => {
                n_refused += 1;
                if n_refused <= 5 {
                    eprintln!("deal {n}: request failed: {error}");
                }
            }
        }
    }
    acknowledgement.sort();

    // Wait for every sign-in email, or 30 s after the last request.
    let recipients: Vec<String> = (0..n_deals).map(recipient).collect();
    while sink.n_accepted(&recipients) < recipients.len() && last_sent.elapsed() < EMAIL_GRACE {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut end_to_end: Vec<Duration> = recipients
        .iter()
        .zip(&sent_at)
        .filter_map(|(to, sent)| Some(sink.accepted_at(to)?.saturating_duration_since(*sent)))
        .collect();
    end_to_end.sort();

    let latency = Latency {
        n_sent: n_deals,
        n_acknowledged: acknowledgement.len() as u64,
        n_received: end_to_end.len(),
        end_to_end,
        acknowledgement,
        max_slip,
    };
    println!(
        "webhooks acknowledged (200): {}/{}; sign-in emails accepted by the sink: {}/{}",
        latency.n_acknowledged, latency.n_sent, latency.n_received, latency.n_sent
    );
    let e2e = &latency.end_to_end;
    println!(
        "webhook → SMTP accepted: p50 {}, p90 {}, p99 {}, max {}",
        ms(percentile(e2e, 50.0)),
        ms(percentile(e2e, 90.0)),
        ms(percentile(e2e, 99.0)),
        ms(e2e.last().copied().unwrap_or_default())
    );
    let ack = &latency.acknowledgement;
    println!(
        "webhook acknowledgement (HTTP round trip): p50 {}, p99 {}, max {}",
        ms(percentile(ack, 50.0)),
        ms(percentile(ack, 99.0)),
        ms(ack.last().copied().unwrap_or_default())
    );
    println!(
        "schedule: largest slip of a request behind its 20 ms slot {}",
        ms(latency.max_slip)
    );
    latency
}

// -------------------------------------------------------------------- phase 3: saturation

struct Saturation {
    clients: u64,
    seconds: u64,
    requests: u64,
}

struct SaturationResult {
    clients: u64,
    n_ok: u64,
    n_refused: u64,
    n_errors: u64,
    elapsed: Duration,
    ran_out: bool,
    ack_p50: Duration,
    ack_p99: Duration,
    n_emails: u64,
    /// Cores used during the timed span: the server's, and this process's (load generator
    /// and SMTP sink).
    server_cores: f64,
    generator_cores: f64,
}

impl SaturationResult {
    fn rate(&self) -> f64 {
        self.n_ok as f64 / self.elapsed.as_secs_f64()
    }
}

/// `clients` tasks posting pre-signed unique deals back to back for `seconds`. The rate is
/// the 200 answers over the span from the first request to the last answer (a request in
/// flight when the time is up is waited for and counted).
async fn measure_saturation(
    server: &Server,
    sink: &Sink,
    signer: &Signer,
    run: u128,
    first_deal: u64,
    load: Saturation,
) -> SaturationResult {
    println!(
        "\n-- phase 3: saturation, {} clients posting back to back for {} s",
        load.clients, load.seconds
    );
    // Every request signed before the clock starts (its timestamp stays well inside the
    // server's 300 s window for the whole phase).
    let build = Instant::now();
    let deals: Arc<Vec<SignedDeal>> = Arc::new(
        (first_deal..first_deal + load.requests)
            .map(|n| signer.deal(run, n))
            .collect(),
    );
    let build = build.elapsed();
    println!(
        "pre-signed {} requests in {} ({:.1} µs each, outside the timed span)",
        deals.len(),
        ms(build),
        build.as_secs_f64() * 1e6 / deals.len().max(1) as f64
    );
    println!(
        "note: the load generator and the SMTP sink run in this process, on the same cores \
         as the server"
    );

    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(load.clients as usize)
        .build()
        .expect("building the HTTP client");
    let url = server.url("/hooks/deals");
    let cursor = Arc::new(AtomicUsize::new(0));
    let ran_out = Arc::new(AtomicBool::new(false));
    let emails_before = sink.n_messages.load(Ordering::SeqCst);
    let server_pid = server.child.id().to_string();
    let (server_cpu, own_cpu) = (cpu_time(&server_pid), cpu_time("self"));
    let start = Instant::now();
    let stop_at = start + Duration::from_secs(load.seconds);
    let tasks: Vec<_> = (0..load.clients)
        .map(|_| {
            let (client, url, deals) = (client.clone(), url.clone(), deals.clone());
            let (cursor, ran_out) = (cursor.clone(), ran_out.clone());
            tokio::spawn(async move {
                let (mut ok, mut refused, mut errors) = (0u64, 0u64, 0u64);
                let mut acks = Vec::new();
                while Instant::now() < stop_at {
                    let Some(deal) = deals.get(cursor.fetch_add(1, Ordering::Relaxed)) else {
                        ran_out.store(true, Ordering::Relaxed);
                        break;
                    };
                    let sent = Instant::now();
                    match post_deal(&client, &url, deal).await {
                        Ok((status, _)) if status == reqwest::StatusCode::OK => {
                            ok += 1;
                            acks.push(sent.elapsed());
                        }
                        Ok((status, body)) => {
                            refused += 1;
                            if refused <= 2 {
                                eprintln!("deal {}: answered {status}: {body}", deal.n);
                            }
                        }
                        Err(error) => {
                            errors += 1;
                            if errors <= 2 {
                                eprintln!("deal {}: request failed: {error}", deal.n);
                            }
                        }
                    }
                }
                (ok, refused, errors, acks)
            })
        })
        .collect();
    let (mut n_ok, mut n_refused, mut n_errors) = (0, 0, 0);
    let mut acks = Vec::new();
    for task in tasks {
        let (ok, refused, errors, task_acks) = task.await.expect("a client task");
        n_ok += ok;
        n_refused += refused;
        n_errors += errors;
        acks.extend(task_acks);
    }
    let elapsed = start.elapsed();
    let server_cpu = cpu_time(&server_pid).saturating_sub(server_cpu);
    let own_cpu = cpu_time("self").saturating_sub(own_cpu);
    acks.sort();
    let result = SaturationResult {
        clients: load.clients,
        n_ok,
        n_refused,
        n_errors,
        elapsed,
        ran_out: ran_out.load(Ordering::Relaxed),
        ack_p50: percentile(&acks, 50.0),
        ack_p99: percentile(&acks, 99.0),
        n_emails: sink.n_messages.load(Ordering::SeqCst) - emails_before,
        server_cores: server_cpu.as_secs_f64() / elapsed.as_secs_f64(),
        generator_cores: own_cpu.as_secs_f64() / elapsed.as_secs_f64(),
    };
    println!(
        "acknowledged (200): {}, refused (non-200): {}, errors: {}, in {:.2} s{}",
        result.n_ok,
        result.n_refused,
        result.n_errors,
        result.elapsed.as_secs_f64(),
        if result.ran_out {
            " (ran out of pre-signed requests: raise SATURATION_REQUESTS)"
        } else {
            ""
        }
    );
    println!(
        "acknowledged webhooks/s: {:.0}; acknowledgement p50 {}, p99 {}; emails accepted by the \
         sink meanwhile: {}",
        result.rate(),
        ms(result.ack_p50),
        ms(result.ack_p99),
        result.n_emails
    );
    println!(
        "CPU during the span: server {:.2} cores, this process (load generator + SMTP sink) \
         {:.2} cores, of {} available",
        result.server_cores,
        result.generator_cores,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    result
}

// -------------------------------------------------------------------------- the summary

fn print_summary(handoff: &Handoff, latency: &Latency, saturation: &SaturationResult) {
    let verdict = |met: bool| if met { "met" } else { "NOT MET" };
    let e2e = &latency.end_to_end;
    let all_received = latency.n_received as u64 == latency.n_sent;
    // A missing email counts as an infinite latency: the percentiles are not met then.
    let (p50, p99) = (percentile(e2e, 50.0), percentile(e2e, 99.0));
    // The engine sends as the TCP_NODELAY path does (crates/onboard-engine/src/mail.rs).
    let engine_share = p50.saturating_sub(handoff.nodelay_p50);
    println!("\n================================ summary ================================");
    println!(
        "sign-in emails accepted              {}/{} ({})",
        latency.n_received,
        latency.n_sent,
        if all_received { "all" } else { "SOME MISSING" }
    );
    println!(
        "webhook → SMTP p50 at 50 deals/s     {:>10}   target < 10 ms    {}",
        ms(p50),
        verdict(all_received && p50 < TARGET_P50)
    );
    println!(
        "webhook → SMTP p90                   {:>10}",
        ms(percentile(e2e, 90.0))
    );
    println!(
        "webhook → SMTP p99 at 50 deals/s     {:>10}   target < 50 ms    {}",
        ms(p99),
        verdict(all_received && p99 < TARGET_P99)
    );
    println!(
        "webhook → SMTP max                   {:>10}",
        ms(e2e.last().copied().unwrap_or_default())
    );
    println!(
        "webhook acknowledgement p50 / p99    {:>10} / {}",
        ms(percentile(&latency.acknowledgement, 50.0)),
        ms(percentile(&latency.acknowledgement, 99.0))
    );
    println!(
        "lettre's transport p50 / p99         {:>10} / {} (new connection, no TCP_NODELAY, {} \
         sent, {} failed)",
        ms(handoff.p50),
        ms(handoff.p99),
        handoff.n_sent,
        handoff.n_failed
    );
    println!(
        "one SMTP hand-off as the engine sends {:>9} / {} (new connection with TCP_NODELAY; \
         the transport's extra is Nagle's algorithm waiting for a delayed ACK)",
        ms(handoff.nodelay_p50),
        ms(handoff.nodelay_p99)
    );
    println!(
        "engine's own share ≈ p50(webhook→SMTP) − p50(hand-off as the engine sends) = {}",
        ms(engine_share)
    );
    println!(
        "acknowledged webhooks/s, {} clients  {:>10.0}   target ≥ 4,000/s  {}  ({} ok, {} \
         non-200, {} errors in {:.2} s; the generator shares the cores with the server)",
        saturation.clients,
        saturation.rate(),
        verdict(saturation.rate() >= TARGET_ACK_RATE),
        saturation.n_ok,
        saturation.n_refused,
        saturation.n_errors,
        saturation.elapsed.as_secs_f64()
    );
    println!(
        "  CPU meanwhile: server {:.2} cores, load generator + sink {:.2} cores",
        saturation.server_cores, saturation.generator_cores
    );
    println!("==========================================================================");
}

/// The nearest-rank percentile of sorted durations (zero when there are none).
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}
