//! Slack and signed-webhook messages delivered by the engine's dispatcher to a local
//! receiver over real HTTP (127.0.0.1, so private targets are allowed except where the
//! guard is under test). Messages are queued as the processor would: a `NewMessage` in a
//! committed batch. Every test runs on SQLite, and on PostgreSQL when reachable.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use onboard_core::state::{Decisions, NewMessage};
use onboard_core::{Duration, Timestamp};
use onboard_engine::channels::{Endpoint, EndpointKind};
use onboard_engine::clock::ManualClock;
use onboard_engine::mail::DevMailbox;
use onboard_engine::{Engine, EngineConfig};
use onboard_store::testing::TestDatabase;
use onboard_store::{MessageRecord, Now, ProcessedBatch};
use sha2::Sha256;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// 2026-01-05T09:00:00Z.
const T0: Timestamp = Timestamp(1_767_603_600_000);
const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const SLACK: &str = "team-slack";
const HOOK: &str = "crm-hook";

// ---- the receiver ----

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header in {self:?}"))
    }
}

/// An answer the receiver gives once: status, `Retry-After`, body.
type Scripted = (u16, Option<u64>, &'static str);

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    script: VecDeque<Scripted>,
}

/// A local HTTP receiver: records every request and answers from its script, then 200 `ok`.
#[derive(Clone)]
struct Receiver {
    log: Arc<Mutex<Log>>,
    port: u16,
}

impl Receiver {
    async fn start() -> Self {
        let log = Arc::new(Mutex::new(Log::default()));
        let app = axum::Router::new()
            .route("/{*path}", axum::routing::post(receive))
            .with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let port = listener.local_addr().expect("an address").port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { log, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Answers the next request with `status` (and `Retry-After`, and body).
    fn answer_next(&self, scripted: Scripted) {
        self.log.lock().expect("the log").script.push_back(scripted);
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().expect("the log").received.clone()
    }
}

async fn receive(
    State(log): State<Arc<Mutex<Log>>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, &'static str) {
    let mut log = log.lock().expect("the log");
    log.received.push(Received {
        path: uri.path().to_owned(),
        headers,
        body,
    });
    let (status, retry_after, text) = log.script.pop_front().unwrap_or((200, None, "ok"));
    let mut answer = HeaderMap::new();
    if let Some(seconds) = retry_after {
        answer.insert("retry-after", seconds.into());
    }
    (
        StatusCode::from_u16(status).expect("a status"),
        answer,
        text,
    )
}

/// The receiver's own Standard Webhooks verification, written from the spec (§5.3): the
/// three headers present, the timestamp within ±300 s of `now_seconds`, and one `v1,`
/// entry of exactly 32 bytes that is the HMAC-SHA256 of `{id}.{timestamp}.{body}` under the
/// base64-decoded secret, compared in constant time. Returns the webhook id.
fn verify(secret: &str, request: &Received, now_seconds: i64) -> Result<String, String> {
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(format!("missing {name}"))
    };
    let id = header("webhook-id")?;
    let timestamp = header("webhook-timestamp")?;
    let signatures = header("webhook-signature")?;
    let seconds: i64 = timestamp.parse().map_err(|_| "bad timestamp".to_owned())?;
    if (seconds - now_seconds).abs() > 300 {
        return Err(format!("timestamp {seconds} out of tolerance"));
    }
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").ok_or("no whsec_ prefix")?)
        .map_err(|e| e.to_string())?;
    for entry in signatures.split(' ') {
        let Some(encoded) = entry.strip_prefix("v1,") else {
            continue;
        };
        let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
            continue;
        };
        if signature.len() != 32 {
            continue;
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(&request.body);
        if mac.verify_slice(&signature).is_ok() {
            return Ok(id.to_owned());
        }
    }
    Err("no valid v1 signature".to_owned())
}

// ---- the engine ----

/// An engine on `db` with the example program, a manual clock at [`T0`], and two endpoints
/// at the receiver: a Slack webhook and a signed webhook.
async fn engine(
    db: &TestDatabase,
    endpoints: Vec<Endpoint>,
    allow_private_targets: bool,
) -> (Arc<Engine>, tempfile::TempDir) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../program");
    let source = onboard_engine::read_program_dir(&dir).expect("the example program reads");
    let program = onboard_core::program::load(&source).expect("the example program loads");
    let store = onboard_store::connect(&db.url)
        .await
        .expect("the store connects");
    store.migrate().await.expect("the store migrates");
    let mailbox = tempfile::tempdir().expect("a temporary directory");
    let mut config = EngineConfig::new("test-node", "https://onboard.test");
    config.endpoints = endpoints;
    config.allow_private_targets = allow_private_targets;
    let engine = Engine::start(
        config,
        store,
        Arc::new(ManualClock::new(T0)),
        Arc::new(DevMailbox::new(&mailbox.path().join("mailbox"))),
        program,
        &source,
    )
    .await
    .expect("the engine starts");
    (engine, mailbox)
}

fn endpoints(receiver: &Receiver) -> Vec<Endpoint> {
    vec![
        Endpoint {
            name: SLACK.to_owned(),
            kind: EndpointKind::Slack,
            url: receiver.url("/services/T000/B000/XXXX"),
            secret: None,
        },
        Endpoint {
            name: HOOK.to_owned(),
            kind: EndpointKind::Webhook,
            url: receiver.url("/hooks/onboard"),
            secret: Some(SECRET.to_owned()),
        },
    ]
}

/// Runs `test` against a fresh receiver, engine and database for each backend.
async fn for_each_backend<F, Fut>(test: F)
where
    F: Fn(Arc<Engine>, Receiver) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let receiver = Receiver::start().await;
        let (engine, _mailbox) = engine(&db, endpoints(&receiver), true).await;
        test(engine.clone(), receiver).await;
        assert_settled(&engine).await;
        drop(engine);
        db.finish().await;
    }
}

/// Nothing is stranded: no unprocessed event, no due timer, no message due now.
async fn assert_settled(engine: &Engine) {
    engine.settle().await.expect("the engine settles");
    let store = engine.store();
    let backlog = store.processing_backlog().await.expect("backlog");
    assert_eq!(backlog.n_events, 0, "unprocessed events remain");
    let now = engine.now();
    let timers = store.timer_counts(Now::Manual(now)).await.expect("timers");
    assert_eq!(timers.due, 0, "due timers remain");
    if let Some(due) = store.next_message_due().await.expect("next due") {
        assert!(
            due > now,
            "a message due at {due} was not attempted by {now}"
        );
    }
}

/// Queues a message to an endpoint as the processor would, due now, and settles.
async fn queue(engine: &Engine, id: &str, channel: &str, endpoint: &str, body: &str) {
    let store = engine.store();
    let now = engine.now();
    let lease = store
        .acquire_lease("processor", "test-node", Now::Manual(now), Duration(30_000))
        .await
        .expect("the lease")
        .expect("the lease is free");
    let message = NewMessage {
        id: id.to_owned(),
        account: "acme".to_owned(),
        channel: channel.to_owned(),
        to_email: endpoint.to_owned(),
        to_name: String::new(),
        from_email: String::new(),
        from_name: String::new(),
        subject: String::new(),
        body: body.to_owned(),
        message_id: String::new(),
        rule: "announce".to_owned(),
        cause: "e1".to_owned(),
        sign_in_email: None,
        calendar: None,
    };
    store
        .commit_batch(
            &lease,
            &ProcessedBatch {
                processed_at: now,
                decisions: Decisions {
                    messages: vec![message],
                    ..Decisions::default()
                },
                ..ProcessedBatch::default()
            },
        )
        .await
        .expect("the batch commits");
    engine.settle().await.expect("settles");
}

async fn message(engine: &Engine, id: &str) -> MessageRecord {
    engine
        .store()
        .message(id)
        .await
        .expect("reads")
        .expect("the message exists")
}

const WEBHOOK_BODY: &str = r#"{"type":"customer.onboarding_started","timestamp":"2026-01-05T09:00:00.000Z","data":{"account_id":"acme"}}"#;

fn seconds(at: Timestamp) -> i64 {
    at.millis() / 1_000
}

// ---- the tests ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_payload_is_posted_as_is() {
    for_each_backend(|engine, receiver| async move {
        let payload = r#"{"text":"New customer ACME closed-won — onboarding started","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"*ACME* — <https://onboard.test/accounts/acme|open plan>"}}]}"#;
        queue(&engine, "msg-slack-1", "slack", SLACK, payload).await;

        let received = receiver.received();
        assert_eq!(received.len(), 1, "{received:?}");
        assert_eq!(received[0].path, "/services/T000/B000/XXXX");
        assert_eq!(received[0].header("content-type"), "application/json");
        assert_eq!(received[0].body, payload.as_bytes());
        let message = message(&engine, "msg-slack-1").await;
        assert_eq!(message.status, "delivered", "{message:#?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_rejection_is_dead_at_once_with_slacks_reason() {
    for_each_backend(|engine, receiver| async move {
        receiver.answer_next((400, None, "invalid_payload"));
        queue(&engine, "msg-slack-2", "slack", SLACK, r#"{"txt":"typo"}"#).await;

        let message = message(&engine, "msg-slack-2").await;
        assert_eq!(message.status, "dead", "{message:#?}");
        let error = message.last_error.unwrap_or_default();
        assert!(error.contains("invalid_payload"), "{error}");
        assert!(!error.contains("XXXX"), "the URL is a secret: {error}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_slack_webhook_disables_the_endpoint() {
    for_each_backend(|engine, receiver| async move {
        receiver.answer_next((404, None, "no_service"));
        queue(&engine, "msg-slack-4", "slack", SLACK, r#"{"text":"hi"}"#).await;
        let dead = message(&engine, "msg-slack-4").await;
        assert_eq!(dead.status, "dead", "{dead:#?}");
        assert!(dead.last_error.unwrap_or_default().contains("no_service"));
        let disabled = engine.store().disabled_endpoints().await.expect("reads");
        assert_eq!(disabled.len(), 1);
        assert_eq!(disabled[0].0, SLACK);
        assert!(disabled[0].2.contains("no_service"), "{disabled:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed_and_is_dead_at_once() {
    for_each_backend(|engine, receiver| async move {
        receiver.answer_next((307, None, ""));
        queue(&engine, "msg-hook-7", "webhook", HOOK, WEBHOOK_BODY).await;
        let dead = message(&engine, "msg-hook-7").await;
        assert_eq!(dead.status, "dead", "{dead:#?}");
        assert!(dead.last_error.unwrap_or_default().contains("redirect"));
        assert_eq!(receiver.received().len(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_is_signed_on_the_engines_clock_and_verifies() {
    for_each_backend(|engine, receiver| async move {
        queue(&engine, "msg-hook-1", "webhook", HOOK, WEBHOOK_BODY).await;

        let received = receiver.received();
        assert_eq!(received.len(), 1, "{received:?}");
        let request = &received[0];
        assert_eq!(request.path, "/hooks/onboard");
        assert_eq!(request.header("content-type"), "application/json");
        assert_eq!(request.body, WEBHOOK_BODY.as_bytes());
        // The engine's (manual) clock, not the wall clock.
        assert_eq!(request.header("webhook-timestamp"), seconds(T0).to_string());
        assert_eq!(
            verify(SECRET, request, seconds(T0)),
            Ok("msg-hook-1".to_owned())
        );
        // A wrong secret does not verify.
        let other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        assert!(verify(other, request, seconds(T0)).is_err());
        assert_eq!(message(&engine, "msg-hook-1").await.status, "delivered");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_503_keeps_the_webhook_id_and_signs_its_own_time() {
    for_each_backend(|engine, receiver| async move {
        receiver.answer_next((503, None, "busy"));
        queue(&engine, "msg-hook-2", "webhook", HOOK, WEBHOOK_BODY).await;

        let failed = message(&engine, "msg-hook-2").await;
        assert_eq!(failed.status, "queued", "{failed:#?}");
        assert!(failed.last_error.as_deref().unwrap_or("").contains("503"));
        let retry_at = failed.next_attempt_at.expect("a next attempt");
        // The first pause: 30 s, plus up to 20 % of jitter.
        assert!(retry_at >= T0.plus(Duration(30_000)), "{retry_at}");
        assert!(retry_at <= T0.plus(Duration(36_000)), "{retry_at}");
        engine.advance_to(retry_at).await.expect("advances");

        let received = receiver.received();
        assert_eq!(received.len(), 2, "{received:?}");
        assert_eq!(received[0].header("webhook-id"), "msg-hook-2");
        assert_eq!(received[1].header("webhook-id"), "msg-hook-2");
        assert_eq!(
            received[1].header("webhook-timestamp"),
            seconds(retry_at).to_string()
        );
        assert_eq!(
            verify(SECRET, &received[1], seconds(retry_at)),
            Ok("msg-hook-2".to_owned())
        );
        let delivered = message(&engine, "msg-hook-2").await;
        assert_eq!(delivered.status, "delivered");
        assert_eq!(delivered.attempts, 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    for_each_backend(|engine, receiver| async move {
        // Longer than the first pause (at most 36 s): the wait is the receiver's.
        receiver.answer_next((429, Some(120), "slow down"));
        queue(&engine, "msg-hook-3", "webhook", HOOK, WEBHOOK_BODY).await;

        let failed = message(&engine, "msg-hook-3").await;
        assert_eq!(failed.status, "queued");
        assert_eq!(failed.next_attempt_at, Some(T0.plus(Duration(120_000))));
        engine
            .advance_to(T0.plus(Duration(119_000)))
            .await
            .expect("advances");
        assert_eq!(receiver.received().len(), 1, "not before Retry-After");
        engine
            .advance_to(T0.plus(Duration(120_000)))
            .await
            .expect("advances");
        assert_eq!(receiver.received().len(), 2);
        assert_eq!(message(&engine, "msg-hook-3").await.status, "delivered");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_disables_the_endpoint_until_it_is_enabled_again() {
    for_each_backend(|engine, receiver| async move {
        receiver.answer_next((410, None, "gone"));
        queue(&engine, "msg-hook-4", "webhook", HOOK, WEBHOOK_BODY).await;

        let gone = message(&engine, "msg-hook-4").await;
        assert_eq!(gone.status, "dead", "{gone:#?}");
        assert!(
            gone.last_error.as_deref().unwrap_or("").contains("410"),
            "{gone:#?}"
        );
        let disabled = engine.store().disabled_endpoints().await.expect("reads");
        assert_eq!(disabled.len(), 1);
        assert_eq!((disabled[0].0.as_str(), disabled[0].1), (HOOK, T0));

        // The next message is not sent: it is dead, saying why.
        queue(&engine, "msg-hook-5", "webhook", HOOK, WEBHOOK_BODY).await;
        let refused = message(&engine, "msg-hook-5").await;
        assert_eq!(refused.status, "dead", "{refused:#?}");
        let error = refused.last_error.unwrap_or_default();
        assert!(error.contains("disabled"), "{error}");
        assert_eq!(receiver.received().len(), 1);
        // Other endpoints are not affected.
        queue(&engine, "msg-slack-3", "slack", SLACK, r#"{"text":"hi"}"#).await;
        assert_eq!(message(&engine, "msg-slack-3").await.status, "delivered");

        // Enabled again, a replayed message goes through.
        assert!(engine.store().enable_endpoint(HOOK).await.expect("enables"));
        engine.retry_message("msg-hook-5").await.expect("replays");
        engine.settle().await.expect("settles");
        assert_eq!(message(&engine, "msg-hook-5").await.status, "delivered");
        let received = receiver.received();
        assert_eq!(received.len(), 3);
        assert_eq!(received[2].header("webhook-id"), "msg-hook-5");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_an_unknown_endpoint_is_dead_naming_the_setting() {
    for_each_backend(|engine, _receiver| async move {
        queue(
            &engine,
            "msg-hook-6",
            "webhook",
            "billing-hook",
            WEBHOOK_BODY,
        )
        .await;
        let dead = message(&engine, "msg-hook-6").await;
        assert_eq!(dead.status, "dead");
        let error = dead.last_error.unwrap_or_default();
        assert!(
            error.contains("ONBOARD_ENDPOINT_BILLING_HOOK_URL"),
            "{error}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_target_is_refused_unless_private_targets_are_allowed() {
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let receiver = Receiver::start().await;
        let guarded = vec![
            Endpoint {
                name: "by-address".to_owned(),
                kind: EndpointKind::Webhook,
                url: receiver.url("/hooks/onboard"),
                secret: Some(SECRET.to_owned()),
            },
            Endpoint {
                name: "by-name".to_owned(),
                kind: EndpointKind::Webhook,
                url: format!("http://localhost:{}/hooks/onboard", receiver.port),
                secret: Some(SECRET.to_owned()),
            },
        ];
        let (engine, _mailbox) = engine(&db, guarded, false).await;
        queue(
            &engine,
            "msg-guard-1",
            "webhook",
            "by-address",
            WEBHOOK_BODY,
        )
        .await;
        queue(&engine, "msg-guard-2", "webhook", "by-name", WEBHOOK_BODY).await;

        for id in ["msg-guard-1", "msg-guard-2"] {
            let refused = message(&engine, id).await;
            assert_eq!(refused.status, "dead", "{refused:#?}");
            let error = refused.last_error.unwrap_or_default();
            assert!(error.contains("refused target"), "{error}");
            assert!(error.contains("loopback"), "{error}");
        }
        assert!(
            receiver.received().is_empty(),
            "nothing reached the receiver"
        );
        assert_settled(&engine).await;
        drop(engine);
        db.finish().await;
    }
}
