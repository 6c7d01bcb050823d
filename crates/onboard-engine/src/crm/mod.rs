//! Reads from CRMs after their webhooks, which carry only ids: each client fetches what an
//! onboarding needs and returns the canonical [`onboard_core::crm::WonDeal`]. Deciding what
//! to do with it, and retrying, belong to the engine's jobs, not here.
//!
//! - [`hubspot`]: HubSpot's CRM v3 API (deal, paged contact associations, contacts batch read,
//!   company, owner).
//! - [`pipedrive`]: Pipedrive's API (deal, person, paged participants, organization, owner).

pub mod hubspot;
pub mod pipedrive;

use std::time::Duration;

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
