//! An app per backend: store, engine on a manual clock at T0, the example program, a
//! development mailbox, and the router; plus a request helper.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use onboard_engine::clock::ManualClock;
use onboard_engine::mail::DevMailbox;
use onboard_engine::{Engine, EngineConfig};
use onboard_store::testing::TestDatabase;
use onboard_web::{AppState, HookSecrets, Secret, WallClock, WebhookSecret};
use serde_json::Value;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tower::ServiceExt;

pub const TOKEN: &str = "test-token";
/// 2026-01-05T09:00:00Z.
pub const T0: &str = "2026-01-05T09:00:00Z";
/// The base URL the hooks are configured to be called at.
pub const PUBLIC_URL: &str = "https://onboard.test";
/// The HubSpot app's client secret.
pub const HUBSPOT_SECRET: &str = "hubspot-client-secret-for-tests";
/// Pipedrive's Basic credentials, `user:password`.
pub const PIPEDRIVE_AUTH: &str = "pipedrive:hook-password";
/// The Standard Webhooks secret of `/hooks/deals`.
pub const DEALS_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The write key of the usage intake and the key of nudge user tokens.
pub const WRITE_KEY: &str = "write-key-for-tests";
pub const NUDGE_SECRET: &str = "nudge-secret-for-tests";

pub struct App {
    pub router: Router,
    pub engine: Arc<Engine>,
    pub backend: &'static str,
    /// The state the router was built with; see [`App::reconfigure`].
    pub state: AppState,
    /// The wall clock of signature checks, in unix milliseconds (starts at T0).
    pub wall_millis: Arc<AtomicI64>,
    _mailbox_dir: tempfile::TempDir,
}

impl App {
    /// Rebuilds the router with a changed state (e.g. hooks not configured).
    pub fn reconfigure(&mut self, change: impl FnOnce(&mut AppState)) {
        change(&mut self.state);
        self.router = onboard_web::router(self.state.clone());
    }

    /// Sets the wall clock (unix milliseconds).
    pub fn set_wall_clock(&self, millis: i64) {
        self.wall_millis.store(millis, Ordering::SeqCst);
    }

    /// The wall clock, in unix milliseconds.
    pub fn wall_clock(&self) -> i64 {
        self.wall_millis.load(Ordering::SeqCst)
    }

    /// Sends any request; returns the status, the headers and the JSON body (Null when the
    /// body is not JSON).
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Sends a request with the admin token; returns the status and the JSON body (Null
    /// when the body is not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        self.call_with(method, path, body, Some(TOKEN)).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let (status, bytes) = self
            .raw(method, path, body.map(|b| b.as_bytes().to_vec()), token)
            .await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        token: Option<&str>,
    ) -> (StatusCode, Vec<u8>) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, bytes.to_vec())
    }

    pub async fn post(&self, path: &str, body: &str) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    /// Moves the manual clock and waits for the engine to settle.
    pub async fn advance(&self, by: &str) -> Value {
        let (status, body) = self
            .post("/api/clock/advance", &format!(r#"{{"by": "{by}"}}"#))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Every event of the log (all pages).
    pub async fn all_events(&self, query: &str) -> Vec<Value> {
        let mut events = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut path = format!("/api/events?limit=1000{query}");
            if let Some(after) = &after {
                path.push_str(&format!("&after={after}"));
            }
            let (status, body) = self.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            events.extend(body["events"].as_array().unwrap().iter().cloned());
            match body["next"].as_str() {
                Some(next) => after = Some(next.to_owned()),
                None => return events,
            }
        }
    }

    /// Nothing is stranded: no unprocessed event, no due timer, no queued message due now.
    pub async fn assert_settled(&self) {
        let store = self.engine.store();
        let backlog = store.processing_backlog().await.unwrap();
        assert_eq!(backlog.n_events, 0, "unprocessed events remain");
        let now = self.engine.now();
        let timers = store
            .timer_counts(onboard_store::Now::Manual(now))
            .await
            .unwrap();
        assert_eq!(timers.due, 0, "due timers remain");
        if let Some(due) = store.next_message_due().await.unwrap() {
            assert!(
                due > now,
                "a message due at {due} was not attempted by {now}"
            );
        }
    }
}

/// The process-wide Prometheus recorder, installed once for the whole test binary.
fn metrics_handle() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .install_recorder()
                .unwrap()
        })
        .clone()
}

/// The example program shipped in the repository.
pub fn example_program() -> (
    onboard_core::program::Program,
    onboard_core::program::ProgramSource,
) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../program");
    let source = onboard_engine::read_program_dir(&dir).unwrap();
    let program = onboard_core::program::load(&source).unwrap();
    (program, source)
}

pub async fn app(db: &TestDatabase) -> App {
    let (_, source) = example_program();
    app_with_program(db, source, T0).await
}

/// An app running `source` on `db`, its manual clock starting at `start`.
pub async fn app_with_program(
    db: &TestDatabase,
    source: onboard_core::program::ProgramSource,
    start: &str,
) -> App {
    app_with_config(
        db,
        source,
        start,
        EngineConfig::new("test-node", "https://onboard.test"),
    )
    .await
}

/// An app as [`app_with_program`] makes, its engine configured by `config` (e.g. with a
/// CRM's API).
pub async fn app_with_config(
    db: &TestDatabase,
    source: onboard_core::program::ProgramSource,
    start: &str,
    config: EngineConfig,
) -> App {
    let program = onboard_core::program::load(&source).unwrap();
    let store = onboard_store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(
        onboard_core::Timestamp::parse_rfc3339(start).unwrap(),
    ));
    let mailbox_dir = tempfile::tempdir().unwrap();
    let mailbox = mailbox_dir.path().join("mailbox");
    let engine = Engine::start(
        config,
        store,
        clock,
        Arc::new(DevMailbox::new(&mailbox)),
        program,
        &source,
    )
    .await
    .unwrap();
    let wall_millis = Arc::new(AtomicI64::new(
        onboard_core::Timestamp::parse_rfc3339(start)
            .unwrap()
            .millis(),
    ));
    let wall = wall_millis.clone();
    let state = AppState {
        engine: engine.clone(),
        admin_token: Secret::new(TOKEN.to_owned()),
        metrics: Some(metrics_handle()),
        mailbox: Some(mailbox.clone()),
        files_dir: None,
        hooks: HookSecrets {
            hubspot_client_secret: Some(Secret::new(HUBSPOT_SECRET.to_owned())),
            pipedrive_basic_auth: Some(Secret::new(PIPEDRIVE_AUTH.to_owned())),
            deals_webhook_secret: Some(WebhookSecret::parse(DEALS_SECRET).unwrap()),
            public_url: PUBLIC_URL.to_owned(),
        },
        wall_clock: WallClock::from_fn(move || wall.load(Ordering::SeqCst)),
        write_key: Some(Secret::new(WRITE_KEY.to_owned())),
        nudge_secret: Some(Secret::new(NUDGE_SECRET.to_owned())),
        sign_in_limits: onboard_web::SignInLimits::for_engine(&engine),
    };
    App {
        router: onboard_web::router(state.clone()),
        engine,
        backend: db.backend,
        state,
        wall_millis,
        _mailbox_dir: mailbox_dir,
    }
}

/// Runs `test` on a fresh app for each backend, then checks nothing is stranded.
pub async fn for_each_backend<F, Fut>(test: F)
where
    F: Fn(App) -> Fut,
    Fut: Future<Output = App>,
{
    for db in TestDatabase::all().await {
        let app = app(&db).await;
        let app = test(app).await;
        app.engine.settle().await.unwrap();
        app.assert_settled().await;
        drop(app);
        db.finish().await;
    }
}

/// A `deal.won` event for account `account` with one admin contact.
pub fn deal_won(id: &str, account: &str) -> String {
    serde_json::json!({
        "id": id,
        "type": "deal.won",
        "account": account,
        "data": {
            "account_name": format!("{account} Inc."),
            "contacts": [{"email": format!("ann@{account}.test"), "name": "Ann Lee", "title": "IT admin", "persona": "admin"}]
        }
    })
    .to_string()
}
