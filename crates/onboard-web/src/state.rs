//! What every handler can reach: the engine, the secrets of the API and of the CRM hooks,
//! and the wall clock that signature timestamps are checked against.

use base64::Engine as _;
use metrics_exporter_prometheus::PrometheusHandle;
use onboard_engine::Engine;
use sha2::{Digest, Sha256};
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
    /// Sign-in attempts to the console, per address and per client.
    pub sign_in_limits: crate::console::SignInLimits,
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
