//! Reads from CRMs after their webhooks, which carry only ids: each client fetches what an
//! onboarding needs and returns the canonical [`onboard_core::crm::WonDeal`]. Deciding what
//! to do with it, and retrying, belong to the engine's jobs, not here.
//!
//! - [`hubspot`]: HubSpot's CRM v3 API (deal, paged contact associations, contacts batch read,
//!   company, owner).
//! - [`pipedrive`]: Pipedrive's API (deal, person, paged participants, organization, owner).

pub mod hubspot;
pub mod pipedrive;

use reqwest::header::HeaderValue;
use reqwest::Url;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The base URL of a CRM's API (`crm` names it in errors, `example` shows a good one): an
/// http(s) URL without query or fragment.
pub(crate) fn api_base(crm: &str, api_base: &str, example: &str) -> Result<Url, String> {
    let base = Url::parse(api_base.trim())
        .map_err(|e| format!("the {crm} API base `{api_base}` is not a URL: {e}"))?;
    if !matches!(base.scheme(), "http" | "https")
        || base.cannot_be_a_base()
        || base.query().is_some()
        || base.fragment().is_some()
    {
        return Err(format!(
            "the {crm} API base `{api_base}` must be an http(s) URL without query or \
             fragment, e.g. `{example}`"
        ));
    }
    Ok(base)
}

/// A credential as a header value, marked sensitive (never printed): `value` with the
/// trimmed token in place of `{}`.
pub(crate) fn credential(
    crm: &str,
    what: &str,
    token: &str,
    value: &str,
) -> Result<HeaderValue, String> {
    let token = token.trim();
    if token.is_empty() {
        return Err(format!("the {crm} {what} is empty"));
    }
    let mut header = HeaderValue::from_str(&value.replacen("{}", token, 1))
        .map_err(|_| format!("the {crm} {what} has characters a header cannot carry"))?;
    header.set_sensitive(true);
    Ok(header)
}

/// An excerpt of an error answer a CRM sent in no shape we know: `: <first 200 characters,
/// whitespace collapsed>`, or nothing when it is empty.
pub(crate) fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return String::new();
    }
    let excerpt: String = text.chars().take(200).collect();
    format!(": {excerpt}")
}

/// A request to `crm`'s API that got no answer (`what` it asked for): always worth retrying.
pub(crate) fn transport_error(crm: &str, what: &str, error: &reqwest::Error) -> FetchError {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let mut message = format!("{crm} {what} {kind}: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    FetchError::transient(message)
}

/// The HTTP client of a CRM's API: timeouts, and our user agent.
pub(crate) fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("onboard/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Why a deal could not be fetched from a CRM. A `permanent` error will not go away by
/// retrying; a transient one may, after `retry_after` when the CRM said so.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    /// Retrying cannot help (the deal does not exist, the CRM refused the request, or
    /// answered in a shape we do not know).
    pub permanent: bool,
    /// How long the CRM asked us to wait (`Retry-After`, in seconds), when it said.
    pub retry_after: Option<Duration>,
    /// What went wrong, with the CRM's own error message and ids when it sent them.
    pub message: String,
}

impl FetchError {
    pub(crate) fn permanent(message: impl Into<String>) -> Self {
        Self {
            permanent: true,
            retry_after: None,
            message: message.into(),
        }
    }

    pub(crate) fn transient(message: impl Into<String>) -> Self {
        Self {
            permanent: false,
            retry_after: None,
            message: message.into(),
        }
    }
}
