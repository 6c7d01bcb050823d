//! What every handler can reach: the engine, the secrets of the API and of the CRM hooks,
//! and the wall clock that signature timestamps are checked against.

use base64::Engine as _;
use governor::{Quota, RateLimiter};
use metrics_exporter_prometheus::PrometheusHandle;
use onboard_engine::Engine;
use sha2::{Digest, Sha256};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;

/// A secret value that never prints.
#[derive(Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Compares in time independent of where the values differ.
    pub fn matches(&self, candidate: &str) -> bool {
        let a = Sha256::digest(self.0.as_bytes());
        let b = Sha256::digest(candidate.as_bytes());
        a.iter()
            .zip(b.iter())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Shared state of the HTTP surface.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    /// Bearer token of the JSON API.
    pub admin_token: Secret,
    /// Renders `/metrics`.
    pub metrics: Option<PrometheusHandle>,
    /// The development mailbox folder, when emails are kept there.
    pub mailbox: Option<PathBuf>,
    /// Where the Shared Space keeps uploaded files (`<data-dir>/files`, one folder per
    /// account); uploads are refused without it.
    pub files_dir: Option<PathBuf>,
    /// Secrets of the CRM hooks (`/hooks/...`) and the public URL they are called at.
    pub hooks: HookSecrets,
    /// Real time, for the replay windows of signed hooks (never the engine's clock, which
    /// may be a manual one).
    pub wall_clock: WallClock,
    /// Write key of the usage intake (`/v1/*`) and of servers' nudge calls; off without it.
    pub write_key: Option<Secret>,
    /// Key of the user tokens browsers fetch nudges with (hex HMAC-SHA256 of the user id).
    pub nudge_secret: Option<Secret>,
    /// Sign-in attempts and requests for links and codes (the console's and the
    /// Academy's), per address and per client.
    pub sign_in_limits: SignInLimits,
}

/// The ways in that are rate-limited, each with buckets of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Door {
    /// The console's sign-in form: password attempts and link requests.
    Console,
    /// The Academy's (and so the Shared Space's) requests for a new link or a code.
    Academy,
}

impl Door {
    fn as_str(self) -> &'static str {
        match self {
            Door::Console => "console",
            Door::Academy => "academy",
        }
    }
}

/// A request held back by a rate limit: when the next one may go ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    /// The engine's time (Unix milliseconds) from which a new attempt is allowed.
    pub retry_at: i64,
    /// Whole seconds from now until then (at least 1), for `Retry-After`.
    pub retry_after_secs: u64,
}

/// Rate limits on signing in and on asking for sign-in links and codes: per email address
/// and per client address, for each [`Door`] apart, on the engine's clock (a manual clock in
/// tests moves them).
#[derive(Clone)]
pub struct SignInLimits {
    per_address: Arc<Limiter>,
    per_client: Arc<Limiter>,
    clock: EngineTime,
}

type Limiter = RateLimiter<
    String,
    governor::state::keyed::HashMapStateStore<String>,
    EngineTime,
    governor::middleware::NoOpMiddleware<std::time::Duration>,
>;

/// The engine's clock as the rate limiter's.
#[derive(Clone)]
struct EngineTime(Arc<dyn Fn() -> i64 + Send + Sync>);

impl governor::clock::Clock for EngineTime {
    type Instant = std::time::Duration;
    fn now(&self) -> std::time::Duration {
        std::time::Duration::from_millis(u64::try_from((self.0)()).unwrap_or(0))
    }
}

impl SignInLimits {
    /// The limits on the engine's clock.
    pub fn for_engine(engine: &Arc<Engine>) -> Self {
        let engine = engine.clone();
        Self::new(Arc::new(move || engine.now().millis()))
    }

    /// For each door: five attempts per address per 15 minutes, 20 per client address per
    /// 15 minutes (bursts of that size, then one more every 3 minutes, resp. 45 seconds).
    pub fn new(now: Arc<dyn Fn() -> i64 + Send + Sync>) -> Self {
        let quota = |burst: u32, every_secs: u64| {
            Quota::with_period(std::time::Duration::from_secs(every_secs))
                .map(|q| q.allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN)))
        };
        let clock = EngineTime(now);
        let limiter = |q: Option<Quota>| {
            Arc::new(RateLimiter::hashmap_with_clock(
                q.unwrap_or_else(|| Quota::per_hour(NonZeroU32::MIN)),
                clock.clone(),
            ))
        };
        Self {
            per_address: limiter(quota(5, 180)),
            per_client: limiter(quota(20, 45)),
            clock,
        }
    }

    /// Whether one more attempt at `door` for `email` from `client` may go ahead (it is
    /// counted either way), or when it may.
    pub fn check(&self, door: Door, email: &str, client: &str) -> Result<(), Limited> {
        use governor::clock::Clock as _;
        let now = self.clock.now();
        // Both are counted, so a client that cycles addresses is held by its own limit.
        let by_client = self
            .per_client
            .check_key(&format!("{}\n{client}", door.as_str()));
        let by_address =
            self.per_address
                .check_key(&format!("{}\n{}", door.as_str(), email.to_lowercase()));
        if self.per_client.len() > 10_000 {
            self.per_client.retain_recent();
            self.per_address.retain_recent();
        }
        let wait = [by_client.err(), by_address.err()]
            .into_iter()
            .flatten()
            .map(|not_until| not_until.wait_time_from(now))
            .max();
        match wait {
            None => Ok(()),
            Some(wait) => {
                let wait_ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
                let now_ms = i64::try_from(now.as_millis()).unwrap_or(i64::MAX);
                Err(Limited {
                    retry_at: now_ms.saturating_add(wait_ms),
                    retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                })
            }
        }
    }
}

/// The client's address as the listener saw it ("unknown" when it was not recorded).
pub(crate) fn client_address(
    connect: Option<&axum::extract::ConnectInfo<std::net::SocketAddr>>,
) -> String {
    connect.map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string())
}

/// The client's address, as an extractor (never refuses).
pub(crate) struct ClientAddr(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(client_address(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>(),
        )))
    }
}

/// Unix time in milliseconds from a real clock; a fixed one in tests.
#[derive(Clone)]
pub struct WallClock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl WallClock {
    /// The system's clock.
    pub fn system() -> Self {
        Self(Arc::new(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
                .unwrap_or(0)
        }))
    }

    /// A clock that always says `millis`.
    pub fn fixed(millis: i64) -> Self {
        Self(Arc::new(move || millis))
    }

    /// A clock read through `now` (e.g. one a test moves).
    pub fn from_fn(now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    /// Now, in milliseconds since the Unix epoch.
    pub fn now_millis(&self) -> i64 {
        (self.0)()
    }
}

impl std::fmt::Debug for WallClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WallClock({})", self.now_millis())
    }
}

/// The secrets of the CRM hooks; a hook whose secret is `None` answers 404.
#[derive(Clone, Debug, Default)]
pub struct HookSecrets {
    /// The HubSpot app's client secret (key of the v3 signatures of `POST /hooks/hubspot`).
    pub hubspot_client_secret: Option<Secret>,
    /// `user:password` of the HTTP Basic credentials Pipedrive sends to `POST /hooks/pipedrive`.
    pub pipedrive_basic_auth: Option<Secret>,
    /// The Standard Webhooks secret of `POST /hooks/deals`.
    pub deals_webhook_secret: Option<WebhookSecret>,
    /// The base URL the hooks are called at, e.g. `https://onboard.example.com`, without a
    /// trailing slash: HubSpot signs the full URL it called.
    pub public_url: String,
}

/// A Standard Webhooks symmetric secret (`whsec_` + base64), kept as its decoded key bytes.
#[derive(Clone)]
pub struct WebhookSecret(Arc<[u8]>);

impl WebhookSecret {
    /// Decodes `whsec_<base64>` (the prefix may be left out). The spec asks for 24 to 64
    /// random bytes; shorter keys are accepted, an empty key or invalid base64 is not.
    pub fn parse(text: &str) -> Result<Self, String> {
        let encoded = text.trim();
        let encoded = encoded.strip_prefix("whsec_").unwrap_or(encoded);
        let key = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            // The decoder's message would quote part of the secret.
            .map_err(|_| {
                "the webhook secret must be `whsec_` followed by base64 (standard alphabet, padded)"
                    .to_owned()
            })?;
        if key.is_empty() {
            return Err("the webhook secret is empty: use `whsec_` followed by the base64 of 24 to 64 random bytes".to_owned());
        }
        if key.len() > 64 {
            return Err(format!(
                "the webhook secret decodes to {} bytes; use 24 to 64",
                key.len()
            ));
        }
        Ok(Self(key.into()))
    }

    /// The HMAC key: the decoded bytes.
    pub fn key(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_wall_clock_stays_put_and_the_system_one_moves_on() {
        assert_eq!(
            WallClock::fixed(1_693_657_560_000).now_millis(),
            1_693_657_560_000
        );
        // 2020-01-01T00:00:00Z.
        assert!(WallClock::system().now_millis() > 1_577_836_800_000);
    }

    #[test]
    fn a_limit_holds_an_address_and_says_when_to_retry_on_the_clock_it_was_given() {
        let now = Arc::new(std::sync::atomic::AtomicI64::new(1_000_000));
        let clock = now.clone();
        let limits = SignInLimits::new(Arc::new(move || {
            clock.load(std::sync::atomic::Ordering::SeqCst)
        }));
        for _ in 0..5 {
            assert!(limits
                .check(Door::Academy, "a@x.example", "1.2.3.4")
                .is_ok());
        }
        let held = limits
            .check(Door::Academy, "A@x.example", "5.6.7.8")
            .unwrap_err();
        assert_eq!(held.retry_at, 1_000_000 + 180_000);
        assert_eq!(held.retry_after_secs, 180);
        // Another door keeps its own count.
        assert!(limits
            .check(Door::Console, "a@x.example", "1.2.3.4")
            .is_ok());
        now.store(1_000_000 + 180_000, std::sync::atomic::Ordering::SeqCst);
        assert!(limits
            .check(Door::Academy, "a@x.example", "1.2.3.4")
            .is_ok());
    }

    #[test]
    fn secrets_never_print() {
        let hooks = HookSecrets {
            hubspot_client_secret: Some(Secret::new("hs-secret".to_owned())),
            pipedrive_basic_auth: Some(Secret::new("user:pd-secret".to_owned())),
            deals_webhook_secret: Some(WebhookSecret::parse("whsec_AQID").unwrap()),
            public_url: "https://onboard.test".to_owned(),
        };
        let printed = format!("{hooks:?}");
        assert!(
            !printed.contains("hs-secret") && !printed.contains("pd-secret"),
            "{printed}"
        );
        assert!(!printed.contains("AQID"), "{printed}");
    }

    #[test]
    fn a_bad_webhook_secret_is_refused_without_quoting_it() {
        let error = WebhookSecret::parse("whsec_s3cr3t!!").err().unwrap();
        assert!(!error.contains("s3cr3t"), "{error}");
    }
}
