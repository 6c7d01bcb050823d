//! Autopilot emails drafted by a language model behind an OpenAI-compatible Chat
//! Completions endpoint: a local fake over real HTTP (127.0.0.1, so private targets are
//! allowed) that refuses requests of the wrong shape or without the bearer key. Messages are
//! queued with `Store::enqueue_messages`; what the mailer got is recorded. Every test runs
//! on SQLite, and on PostgreSQL when reachable.

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use onboard_core::state::{NewMessage, SIGN_IN_URL_PLACEHOLDER};
use onboard_core::Timestamp;
use onboard_engine::clock::ManualClock;
use onboard_engine::mail::{Mailer, SendError};
use onboard_engine::{Engine, EngineConfig, LlmSettings};
use onboard_store::testing::TestDatabase;
use onboard_store::{ClaimedMessage, MessageRecord};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// 2026-01-05T09:00:00Z.
const T0: Timestamp = Timestamp(1_767_603_600_000);
const MODEL: &str = "pipeflow-writer-8b";
const KEY: &str = "sk-test-7f3a9c";
const GUIDE: &str = "https://docs.pipeflow.example/start";
const SUBJECT: &str = "Your first module is waiting";
const NAME: &str = "Ada Lovelace";

/// The template's body: a sign-in placeholder and a URL.
fn template_body() -> String {
    format!(
        "Hi Ada,\n\nYour first Pipeflow module takes ten minutes. Sign in: {SIGN_IN_URL_PLACEHOLDER}\n\nThe setup guide: {GUIDE}\n"
    )
}

// ---- the fake endpoint ----

/// How the fake answers one request.
enum Reply {
    /// 200 with a chat completion whose `choices[0].message.content` is this text.
    Content(String),
    /// An error status with OpenAI's error body.
    Status(u16),
    /// Never answers.
    Hang,
    /// Answers with this content once the mailer has sent the message with this id.
    AfterSent(&'static str, String),
}

#[derive(Default)]
struct FakeLog {
    /// Every request of the right shape, as JSON.
    requests: Vec<Value>,
    /// What was wrong with each refused request.
    refused: Vec<String>,
    script: VecDeque<Reply>,
}

#[derive(Clone)]
struct FakeLlm {
    log: Arc<Mutex<FakeLog>>,
    sent: Arc<Sent>,
    port: u16,
}

impl FakeLlm {
    async fn start(sent: Arc<Sent>) -> Self {
        let log = Arc::new(Mutex::new(FakeLog::default()));
        let fake = Self { log, sent, port: 0 };
        let app = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(chat))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let port = listener.local_addr().expect("an address").port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { port, ..fake }
    }

    fn settings(&self, timeout: Duration) -> LlmSettings {
        LlmSettings {
            url: format!("http://127.0.0.1:{}/v1", self.port),
            model: MODEL.to_owned(),
            key: Some(KEY.to_owned()),
            timeout,
        }
    }

    fn answer_next(&self, reply: Reply) {
        self.log.lock().expect("the log").script.push_back(reply);
    }

    fn requests(&self) -> Vec<Value> {
        let log = self.log.lock().expect("the log");
        assert!(
            log.refused.is_empty(),
            "refused requests: {:?}",
            log.refused
        );
        log.requests.clone()
    }
}

/// What a request of the Chat Completions shape must hold; the problem otherwise.
fn shape_problem(headers: &HeaderMap, body: &[u8]) -> Option<(StatusCode, String)> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {KEY}") {
        return Some((
            StatusCode::UNAUTHORIZED,
            format!("bad authorization `{auth}`"),
        ));
    }
    let bad = |why: String| Some((StatusCode::BAD_REQUEST, why));
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type != "application/json" {
        return bad(format!("content-type `{content_type}`"));
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return bad("the body is not JSON".to_owned());
    };
    if request["model"] != MODEL {
        return bad(format!("model {}", request["model"]));
    }
    if !request["temperature"].is_number() {
        return bad("no temperature".to_owned());
    }
    let roles: Vec<&str> = request["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|m| m["role"].as_str()).collect())
        .unwrap_or_default();
    if roles != ["system", "user"] {
        return bad(format!("roles {roles:?}"));
    }
    let contents_are_text = request["messages"]
        .as_array()
        .is_some_and(|m| m.iter().all(|m| m["content"].is_string()));
    if !contents_are_text {
        return bad("a message's content is not text".to_owned());
    }
    None
}

async fn chat(
    State(fake): State<FakeLlm>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let reply = {
        let mut log = fake.log.lock().expect("the log");
        if let Some((status, why)) = shape_problem(&headers, &body) {
            log.refused.push(why.clone());
            let error = json!({ "error": { "message": why, "type": "invalid_request_error" } });
            return (status, error.to_string());
        }
        log.requests
            .push(serde_json::from_slice(&body).expect("checked above"));
        log.script.pop_front()
    };
    let content = match reply {
        Some(Reply::Content(content)) => content,
        Some(Reply::Status(status)) => {
            let error = json!({ "error": { "message": "The server had an error", "type": "server_error" } });
            return (
                StatusCode::from_u16(status).expect("a status"),
                error.to_string(),
            );
        }
        Some(Reply::Hang) => std::future::pending().await,
        Some(Reply::AfterSent(id, content)) => {
            while !fake.sent.ids().iter().any(|sent| sent == id) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            content
        }
        None => {
            let why = "no answer scripted".to_owned();
            fake.log.lock().expect("the log").refused.push(why.clone());
            return (StatusCode::INTERNAL_SERVER_ERROR, why);
        }
    };
    let completion = json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_767_603_600,
        "model": MODEL,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "finish_reason": "stop"
        }],
        "usage": { "prompt_tokens": 120, "completion_tokens": 80, "total_tokens": 200 }
    });
    (StatusCode::OK, completion.to_string())
}

/// A model's answer: the JSON object the prompt asks for.
fn draft(subject: &str, body: &str) -> String {
    json!({ "subject": subject, "body": body }).to_string()
}

const DRAFT_SUBJECT: &str = "Ada, ten minutes to your first Pipeflow win";

fn draft_body() -> String {
    format!(
        "Hi Ada,\n\nIt's great to have you with us! Your first module takes just ten minutes, and you can start right here: {SIGN_IN_URL_PLACEHOLDER}\n\nIf you'd like a head start, the setup guide is at {GUIDE}\n"
    )
}

// ---- the mailer ----

/// Records every email sent, in order; fails the first `failures` sends (a relay down).
#[derive(Default)]
struct Sent {
    emails: Mutex<Vec<ClaimedMessage>>,
    failures: Mutex<usize>,
}

impl Sent {
    fn all(&self) -> Vec<ClaimedMessage> {
        self.emails.lock().expect("the mailer's log").clone()
    }

    fn ids(&self) -> Vec<String> {
        self.all().into_iter().map(|m| m.id).collect()
    }

    fn one(&self, id: &str) -> ClaimedMessage {
        let sent: Vec<ClaimedMessage> = self.all().into_iter().filter(|m| m.id == id).collect();
        assert_eq!(sent.len(), 1, "{id} sent {} times", sent.len());
        sent.into_iter().next().expect("one email")
    }
}

#[async_trait]
impl Mailer for Sent {
    async fn send(&self, message: &ClaimedMessage) -> Result<(), SendError> {
        {
            let mut failures = self.failures.lock().expect("the mailer's failures");
            if *failures > 0 {
                *failures -= 1;
                return Err(SendError {
                    permanent: false,
                    message: "the relay is down".to_owned(),
                });
            }
        }
        self.emails
            .lock()
            .expect("the mailer's log")
            .push(message.clone());
        Ok(())
    }
}

// ---- the engine ----

/// An engine on `db` with the example program and a manual clock at [`T0`], drafting with
/// `llm` when given.
async fn engine(db: &TestDatabase, sent: Arc<Sent>, llm: Option<LlmSettings>) -> Arc<Engine> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../program");
    let source = onboard_engine::read_program_dir(&dir).expect("the example program reads");
    let program = onboard_core::program::load(&source).expect("the example program loads");
    let store = onboard_store::connect(&db.url)
        .await
        .expect("the store connects");
    store.migrate().await.expect("the store migrates");
    let mut config = EngineConfig::new("test-node", "https://onboard.test");
    config.allow_private_targets = true;
    config.llm = llm;
    Engine::start(
        config,
        store,
        Arc::new(ManualClock::new(T0)),
        sent,
        program,
        &source,
    )
    .await
    .expect("the engine starts")
}

/// Runs `test` against a fresh fake endpoint, mailer, engine (drafting with the fake within
/// `timeout`, or not at all) and database for each backend.
async fn for_each_backend<F, Fut>(timeout: Option<Duration>, test: F)
where
    F: Fn(Arc<Engine>, FakeLlm, Arc<Sent>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for db in TestDatabase::all().await {
        eprintln!("backend: {}", db.backend);
        let sent = Arc::new(Sent::default());
        let fake = FakeLlm::start(sent.clone()).await;
        let llm = timeout.map(|t| fake.settings(t));
        let engine = engine(&db, sent.clone(), llm).await;
        test(engine.clone(), fake, sent).await;
        drop(engine);
        db.finish().await;
    }
}

/// An email to Ada from `rule`, with the template's text, due now.
fn message(id: &str, rule: &str) -> NewMessage {
    NewMessage {
        id: id.to_owned(),
        account: "acme".to_owned(),
        channel: "email".to_owned(),
        to_email: "ada@acme.example".to_owned(),
        to_name: NAME.to_owned(),
        from_email: "dana@pipeflow.example".to_owned(),
        from_name: "Dana Whitfield".to_owned(),
        subject: SUBJECT.to_owned(),
        body: template_body(),
        message_id: format!("<{id}@pipeflow.example>"),
        rule: rule.to_owned(),
        cause: "e1".to_owned(),
        sign_in_email: Some("ada@acme.example".to_owned()),
        calendar: None,
    }
}

/// Queues messages and settles.
async fn queue(engine: &Engine, messages: &[NewMessage]) {
    engine
        .store()
        .enqueue_messages(messages, engine.now())
        .await
        .expect("the messages are queued");
    engine.settle().await.expect("settles");
}

async fn stored(engine: &Engine, id: &str) -> MessageRecord {
    engine
        .store()
        .message(id)
        .await
        .expect("reads")
        .expect("the message exists")
}

/// The sign-in link the dispatcher put in place of the placeholder.
const LINK: &str = "https://onboard.test/academy/sign-in?token=";

/// The template was sent as is (its link made) and the message records why.
async fn assert_template_sent(engine: &Engine, sent: &Sent, id: &str, reason: &str) {
    let message = stored(engine, id).await;
    assert_eq!(message.status, "delivered", "{message:#?}");
    let drafted_by = message.drafted_by.clone().unwrap_or_default();
    assert!(
        drafted_by.starts_with(&format!("template: {reason}")),
        "{drafted_by}"
    );
    assert_eq!(message.subject, SUBJECT);
    assert_eq!(message.body, template_body());
    let email = sent.one(id);
    assert_eq!(email.subject, SUBJECT);
    assert!(email
        .body
        .starts_with("Hi Ada,\n\nYour first Pipeflow module"));
    assert!(email.body.contains(LINK), "{}", email.body);
}

// ---- the tests ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_autopilot_email_is_sent_with_the_models_draft_and_records_the_model() {
    for_each_backend(
        Some(Duration::from_secs(5)),
        |engine, fake, sent| async move {
            fake.answer_next(Reply::Content(draft(DRAFT_SUBJECT, &draft_body())));
            queue(&engine, &[message("m-remind", "autopilot/remind")]).await;

            let requests = fake.requests();
            assert_eq!(requests.len(), 1, "{requests:?}");
            let user = requests[0]["messages"][1]["content"]
                .as_str()
                .unwrap_or_default();
            for part in [NAME, SUBJECT, template_body().as_str()] {
                assert!(user.contains(part), "the prompt lacks {part:?}: {user}");
            }
            // The text sent is recorded, placeholder and all, so a retry sends the same.
            let message = stored(&engine, "m-remind").await;
            assert_eq!(message.status, "delivered", "{message:#?}");
            assert_eq!(message.drafted_by.as_deref(), Some(MODEL));
            assert_eq!(message.drafted_at, Some(T0));
            assert_eq!(message.subject, DRAFT_SUBJECT);
            assert_eq!(message.body, draft_body());
            let email = sent.one("m-remind");
            assert_eq!(email.subject, DRAFT_SUBJECT);
            assert!(email
                .body
                .starts_with("Hi Ada,\n\nIt's great to have you with us!"));
            assert!(email.body.contains(LINK), "{}", email.body);
            assert!(email.body.contains(GUIDE));
            assert!(!email.body.contains(SIGN_IN_URL_PLACEHOLDER));
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_sends_the_recorded_draft_without_asking_the_model_again() {
    for_each_backend(
        Some(Duration::from_secs(5)),
        |engine, fake, sent| async move {
            fake.answer_next(Reply::Content(draft(DRAFT_SUBJECT, &draft_body())));
            *sent.failures.lock().expect("the mailer's failures") = 1;
            queue(&engine, &[message("m-retry", "autopilot/remind")]).await;
            let failed = stored(&engine, "m-retry").await;
            assert_eq!(failed.status, "queued", "{failed:#?}");
            assert_eq!(failed.drafted_by.as_deref(), Some(MODEL));

            let retry_at = failed.next_attempt_at.expect("a next attempt");
            engine.advance_to(retry_at).await.expect("advances");

            assert_eq!(fake.requests().len(), 1, "drafted once");
            let delivered = stored(&engine, "m-retry").await;
            assert_eq!(delivered.status, "delivered");
            assert_eq!(delivered.attempts, 2);
            assert_eq!(delivered.drafted_at, Some(T0));
            assert_eq!(sent.one("m-retry").subject, DRAFT_SUBJECT);
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_answering_500_sends_the_template_and_records_why() {
    for_each_backend(
        Some(Duration::from_secs(5)),
        |engine, fake, sent| async move {
            fake.answer_next(Reply::Status(500));
            queue(&engine, &[message("m-500", "autopilot/remind")]).await;

            assert_eq!(fake.requests().len(), 1);
            assert_template_sent(&engine, &sent, "m-500", "endpoint answered 500").await;
            let drafted_by = stored(&engine, "m-500").await.drafted_by;
            assert_eq!(
                drafted_by.as_deref(),
                Some("template: endpoint answered 500")
            );
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_slower_than_the_timeout_sends_the_template_and_other_mail_goes_first() {
    for_each_backend(
        Some(Duration::from_millis(300)),
        |engine, fake, sent| async move {
            fake.answer_next(Reply::Hang);
            queue(
                &engine,
                &[
                    message("m-slow", "autopilot/remind"),
                    message("m-welcome", "welcome"),
                ],
            )
            .await;

            assert_template_sent(&engine, &sent, "m-slow", "timeout after 300ms").await;
            // The other email did not wait for the draft: it went out first, untouched.
            assert_eq!(sent.ids(), ["m-welcome", "m-slow"]);
            let welcome = stored(&engine, "m-welcome").await;
            assert_eq!(welcome.status, "delivered");
            assert_eq!(welcome.drafted_by, None);
            assert_eq!(
                fake.requests().len(),
                1,
                "only the autopilot email is drafted"
            );
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draft_in_progress_holds_up_no_other_email() {
    // The endpoint answers only once the other email is sent: were the dispatcher waiting
    // for the draft, it would time out and the template would go.
    for_each_backend(
        Some(Duration::from_secs(20)),
        |engine, fake, sent| async move {
            fake.answer_next(Reply::AfterSent(
                "m-welcome",
                draft(DRAFT_SUBJECT, &draft_body()),
            ));
            queue(
                &engine,
                &[
                    message("m-remind", "autopilot/remind"),
                    message("m-welcome", "welcome"),
                ],
            )
            .await;

            assert_eq!(sent.ids(), ["m-welcome", "m-remind"]);
            let remind = stored(&engine, "m-remind").await;
            assert_eq!(remind.status, "delivered");
            assert_eq!(remind.drafted_by.as_deref(), Some(MODEL));
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_drops_the_sign_in_link_sends_the_template() {
    for_each_backend(
        Some(Duration::from_secs(5)),
        |engine, fake, sent| async move {
            let body = format!("Hi Ada, sign in on our website and read {GUIDE}");
            fake.answer_next(Reply::Content(draft(DRAFT_SUBJECT, &body)));
            queue(&engine, &[message("m-nolink", "autopilot/remind")]).await;

            assert_template_sent(
                &engine,
                &sent,
                "m-nolink",
                "the answer drops the placeholder %ONBOARD_SIGN_IN_URL%",
            )
            .await;
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_drops_a_url_sends_the_template() {
    for_each_backend(
        Some(Duration::from_secs(5)),
        |engine, fake, sent| async move {
            let body = format!("Hi Ada, start here: {SIGN_IN_URL_PLACEHOLDER}");
            fake.answer_next(Reply::Content(draft(DRAFT_SUBJECT, &body)));
            queue(&engine, &[message("m-nourl", "autopilot/remind")]).await;

            assert_template_sent(
                &engine,
                &sent,
                "m-nourl",
                &format!("the answer drops the URL {GUIDE}"),
            )
            .await;
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_is_not_json_sends_the_template() {
    for_each_backend(
        Some(Duration::from_secs(5)),
        |engine, fake, sent| async move {
            fake.answer_next(Reply::Content(
                "Sure! Here is a warmer version of your email.".to_owned(),
            ));
            queue(&engine, &[message("m-prose", "autopilot/remind")]).await;

            assert_template_sent(&engine, &sent, "m-prose", "the answer is not a JSON object")
                .await;
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_not_from_the_autopilot_is_never_sent_to_the_endpoint() {
    for_each_backend(
        Some(Duration::from_secs(5)),
        |engine, fake, sent| async move {
            queue(&engine, &[message("m-welcome", "welcome")]).await;

            assert!(fake.requests().is_empty());
            let welcome = stored(&engine, "m-welcome").await;
            assert_eq!(welcome.status, "delivered");
            assert_eq!(welcome.drafted_by, None);
            assert_eq!(sent.one("m-welcome").subject, SUBJECT);
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_model_configured_the_template_is_sent_and_no_endpoint_called() {
    for_each_backend(None, |engine, fake, sent| async move {
        queue(&engine, &[message("m-remind", "autopilot/remind")]).await;

        assert!(fake.requests().is_empty());
        let remind = stored(&engine, "m-remind").await;
        assert_eq!(remind.status, "delivered");
        assert_eq!(remind.drafted_by, None);
        let email = sent.one("m-remind");
        assert_eq!(email.subject, SUBJECT);
        assert!(email.body.contains(LINK));
    })
    .await;
}
