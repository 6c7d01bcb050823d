//! Outbound channels besides email: Slack incoming webhooks ([`slack`]) and signed Standard
//! Webhooks ([`webhook`]), both HTTP POSTs to an endpoint the server's configuration names
//! (a message's `to_email` holds the endpoint's name; the URL is a secret and never in a
//! program, a message, a log line or an API answer). Every request goes through the
//! outbound address guard ([`guard`]).
//!
//! Not here: queueing, retries and dead letters (the engine's dispatcher, with the outbox's
//! backoff), the disabled state of endpoints (the store), configuration files (the binary).

pub mod guard;
pub mod slack;
pub mod webhook;

use onboard_core::Timestamp;
use std::sync::Arc;
use std::time::Duration;

/// The outbox channel of Slack messages.
pub const SLACK_CHANNEL: &str = "slack";
/// The outbox channel of signed webhooks.
pub const WEBHOOK_CHANNEL: &str = "webhook";

/// How long one request may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of an answer's body an error quotes.
const QUOTED_BODY: usize = 200;

/// What an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointKind {
    /// A Slack incoming webhook: the body is Slack's JSON payload, unsigned (the URL is the
    /// credential).
    Slack,
    /// A Standard Webhooks receiver: the body is signed with the endpoint's `whsec_` secret.
    Webhook,
}

impl EndpointKind {
    /// `slack` or `webhook`, also the outbox channel of its messages.
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointKind::Slack => SLACK_CHANNEL,
            EndpointKind::Webhook => WEBHOOK_CHANNEL,
        }
    }

    /// Parses `slack` or `webhook`.
    pub fn parse(kind: &str) -> Result<Self, String> {
        match kind {
            SLACK_CHANNEL => Ok(EndpointKind::Slack),
            WEBHOOK_CHANNEL => Ok(EndpointKind::Webhook),
            other => Err(format!(
                "unknown endpoint kind `{other}`: use `slack` or `webhook`"
            )),
        }
    }
}

/// One configured outbound endpoint. Its `Debug` shows neither the URL's path nor the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The name messages use (in `to_email`), e.g. `sales-slack`.
    pub name: String,
    pub kind: EndpointKind,
    /// Where to POST; for Slack the URL is the credential.
    pub url: String,
    /// For webhooks: the signing secret, `whsec_` + base64 of 24 to 64 random bytes.
    pub secret: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("host", &self.host())
            .field("url", &"***")
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A problem with an endpoint's configuration: the field at fault (`name`, `kind`, `url`
/// or `secret`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointProblem {
    pub field: &'static str,
    pub message: String,
}

impl Endpoint {
    /// The host (and port, when not the scheme's default) the URL names: all of it that may
    /// be shown.
    pub fn host(&self) -> Option<String> {
        let url = reqwest::Url::parse(&self.url).ok()?;
        let host = url.host_str()?;
        Some(match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        })
    }

    /// Checks the endpoint can be used: a name of lower-case letters, digits and `-`; an
    /// http(s) URL (https for Slack unless private targets are allowed); for a webhook, a
    /// `whsec_` secret of 24 to 64 base64 bytes.
    pub fn validate(&self, allow_private_targets: bool) -> Result<(), EndpointProblem> {
        let problem = |field, message: String| Err(EndpointProblem { field, message });
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return problem(
                "name",
                format!(
                    "endpoint name `{}` must be lower-case letters, digits and `-`",
                    self.name
                ),
            );
        }
        // The URL itself is never quoted: it may be the credential.
        let url = match reqwest::Url::parse(&self.url) {
            Ok(url) => url,
            Err(error) => return problem("url", format!("not a URL ({error})")),
        };
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return problem("url", "must be an http:// or https:// URL".to_owned());
        }
        if self.kind == EndpointKind::Slack && url.scheme() != "https" && !allow_private_targets {
            return problem(
                "url",
                "a Slack webhook URL must be https:// (http is only for private test targets)"
                    .to_owned(),
            );
        }
        match (self.kind, &self.secret) {
            (EndpointKind::Webhook, None) => problem(
                "secret",
                "a webhook endpoint needs a signing secret (`whsec_` + base64)".to_owned(),
            ),
            (EndpointKind::Webhook, Some(secret)) => match webhook::decode_secret(secret) {
                Ok(_) => Ok(()),
                Err(message) => problem("secret", message),
            },
            (EndpointKind::Slack, _) => Ok(()),
        }
    }
}

/// The configured endpoints, by name.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    /// In name order.
    list: Vec<Endpoint>,
}

impl Endpoints {
    /// The registry of these endpoints, each validated; names are unique.
    pub fn new(mut endpoints: Vec<Endpoint>, allow_private_targets: bool) -> Result<Self, String> {
        endpoints.sort_by(|a, b| a.name.cmp(&b.name));
        for pair in endpoints.windows(2) {
            if pair[0].name == pair[1].name {
                return Err(format!("endpoint `{}` is configured twice", pair[0].name));
            }
        }
        for endpoint in &endpoints {
            endpoint
                .validate(allow_private_targets)
                .map_err(|p| format!("endpoint `{}`: {}: {}", endpoint.name, p.field, p.message))?;
        }
        Ok(Self { list: endpoints })
    }

    /// The endpoint with this name.
    pub fn get(&self, name: &str) -> Option<&Endpoint> {
        self.list
            .binary_search_by(|e| e.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.list[i])
    }

    /// Every endpoint, in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Endpoint> {
        self.list.iter()
    }
}

/// Why a delivery to an endpoint failed. A `permanent` error will not go away by retrying;
/// a transient one may, after `retry_after` when the endpoint said so; `disable` says the
/// endpoint itself is gone (410 Gone, a revoked or archived Slack webhook) and should get
/// nothing more until an operator enables it again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub permanent: bool,
    pub disable: bool,
    /// How long the endpoint asked us to wait (`Retry-After`, in seconds), when it said.
    pub retry_after: Option<Duration>,
    /// What went wrong; never the URL's path or the secret.
    pub message: String,
}

impl DeliveryError {
    fn permanent(message: impl Into<String>) -> Self {
        Self {
            permanent: true,
            disable: false,
            retry_after: None,
            message: message.into(),
        }
    }

    fn transient(message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Self {
            permanent: false,
            disable: false,
            retry_after,
            message: message.into(),
        }
    }

    fn disabling(message: impl Into<String>) -> Self {
        Self {
            permanent: true,
            disable: true,
            retry_after: None,
            message: message.into(),
        }
    }
}

/// One message as an endpoint receives it.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// The outbox message's id: Standard Webhooks' `webhook-id`, the same on every retry.
    pub id: &'a str,
    /// The JSON body, sent byte for byte as stored.
    pub body: &'a str,
}

/// The HTTP client of the outbound channels, guarded unless private targets are allowed.
pub struct Channels {
    endpoints: Arc<Endpoints>,
    http: reqwest::Client,
    allow_private_targets: bool,
}

impl Channels {
    /// Validates the endpoints and builds the client: 10 s timeout, no redirects followed
    /// (a redirect could lead past the guard; the operator should fix the URL), no proxy
    /// from the environment, and the guarded resolver.
    pub fn new(endpoints: Vec<Endpoint>, allow_private_targets: bool) -> Result<Self, String> {
        let endpoints = Endpoints::new(endpoints, allow_private_targets)?;
        let mut builder = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("Onboard/", env!("CARGO_PKG_VERSION")));
        if !allow_private_targets {
            builder = builder.dns_resolver(Arc::new(guard::GuardedResolver));
        }
        let http = builder
            .build()
            .map_err(|e| format!("the outbound HTTP client cannot start: {e}"))?;
        Ok(Self {
            endpoints: Arc::new(endpoints),
            http,
            allow_private_targets,
        })
    }

    pub fn endpoints(&self) -> &Arc<Endpoints> {
        &self.endpoints
    }

    /// Delivers a message to an endpoint, by its kind; `now` (the engine's clock) is the
    /// attempt's time.
    pub async fn deliver(
        &self,
        endpoint: &Endpoint,
        message: Outgoing<'_>,
        now: Timestamp,
    ) -> Result<(), DeliveryError> {
        let url = reqwest::Url::parse(&endpoint.url)
            .map_err(|_| DeliveryError::permanent("the endpoint's URL does not parse"))?;
        if !self.allow_private_targets {
            guard::check_url_host(&url).map_err(|r| DeliveryError::permanent(r.to_string()))?;
        }
        match endpoint.kind {
            EndpointKind::Slack => slack::deliver(&self.http, url, message.body).await,
            EndpointKind::Webhook => {
                let secret = endpoint.secret.as_deref().unwrap_or_default();
                let key = webhook::decode_secret(secret).map_err(DeliveryError::permanent)?;
                webhook::deliver(&self.http, url, &key, message, now).await
            }
        }
    }
}

/// An answer read whole (or the failure to get one), for the channels to judge.
struct Reply {
    status: reqwest::StatusCode,
    retry_after: Option<Duration>,
    /// The start of the body, for error messages.
    text: String,
}

/// Sends a request and reads the answer; a failure to get an answer is an error here,
/// permanent when the guard refused the target, transient otherwise (timeouts, resets).
async fn send(request: reqwest::RequestBuilder, what: &str) -> Result<Reply, DeliveryError> {
    let response = request.send().await.map_err(|e| transport_error(what, e))?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // A body that does not arrive whole still leaves the status to judge by.
    let body = response.bytes().await.unwrap_or_default();
    let text: String = String::from_utf8_lossy(&body)
        .trim()
        .chars()
        .take(QUOTED_BODY)
        .collect();
    Ok(Reply {
        status,
        retry_after,
        text,
    })
}

fn transport_error(what: &str, error: reqwest::Error) -> DeliveryError {
    if let Some(refused) = guard::find_refusal(&error) {
        return DeliveryError::permanent(refused.to_string());
    }
    // The URL is (or holds) the credential: never in a message.
    let error = error.without_url();
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let mut message = format!("{what}: the request {kind}: {error}");
    let mut cause = std::error::Error::source(&error);
    while let Some(c) = cause {
        message.push_str(&format!(": {c}"));
        cause = c.source();
    }
    DeliveryError::transient(message, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(kind: EndpointKind, url: &str, secret: Option<&str>) -> Endpoint {
        Endpoint {
            name: "crm-hook".to_owned(),
            kind,
            url: url.to_owned(),
            secret: secret.map(str::to_owned),
        }
    }

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

    #[test]
    fn the_debug_form_shows_the_host_but_neither_the_path_nor_the_secret() {
        let e = endpoint(
            EndpointKind::Webhook,
            "https://hooks.example.com:8443/T000/B000/XXXX",
            Some(SECRET),
        );
        let shown = format!("{e:?}");
        assert!(shown.contains("hooks.example.com:8443"), "{shown}");
        assert!(
            !shown.contains("XXXX") && !shown.contains("whsec_"),
            "{shown}"
        );
    }

    #[test]
    fn endpoints_are_validated() {
        let field = |e: Endpoint, private| e.validate(private).map_err(|p| p.field);
        assert_eq!(
            field(
                endpoint(EndpointKind::Webhook, "https://a.example/h", Some(SECRET)),
                false
            ),
            Ok(())
        );
        assert_eq!(
            field(
                endpoint(EndpointKind::Webhook, "https://a.example/h", None),
                false
            ),
            Err("secret")
        );
        assert_eq!(
            field(
                endpoint(
                    EndpointKind::Webhook,
                    "https://a.example/h",
                    Some("C2FVsBQI")
                ),
                false
            ),
            Err("secret")
        );
        assert_eq!(
            field(
                endpoint(EndpointKind::Webhook, "ftp://a.example/h", Some(SECRET)),
                false
            ),
            Err("url")
        );
        assert_eq!(
            field(
                endpoint(
                    EndpointKind::Slack,
                    "http://hooks.slack.com/services/x",
                    None
                ),
                false
            ),
            Err("url")
        );
        assert_eq!(
            field(
                endpoint(EndpointKind::Slack, "http://127.0.0.1:9/x", None),
                true
            ),
            Ok(())
        );
        let mut bad_name = endpoint(EndpointKind::Slack, "https://hooks.slack.com/x", None);
        bad_name.name = "Sales Slack".to_owned();
        assert_eq!(field(bad_name, false), Err("name"));
    }

    #[test]
    fn the_registry_finds_endpoints_by_name_and_refuses_duplicates() {
        let slack = Endpoint {
            name: "sales-slack".to_owned(),
            ..endpoint(
                EndpointKind::Slack,
                "https://hooks.slack.com/services/x",
                None,
            )
        };
        let hook = endpoint(EndpointKind::Webhook, "https://a.example/h", Some(SECRET));
        let endpoints = Endpoints::new(vec![slack.clone(), hook.clone()], false)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(endpoints.get("sales-slack"), Some(&slack));
        assert_eq!(endpoints.get("crm-hook"), Some(&hook));
        assert_eq!(endpoints.get("nope"), None);
        assert!(Endpoints::new(vec![hook.clone(), hook], false).is_err());
    }
}
