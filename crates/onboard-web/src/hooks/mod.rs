//! The CRM webhook intakes: `POST /hooks/hubspot`, `POST /hooks/pipedrive` and
//! `POST /hooks/deals`. Each one checks the sender (signature or credentials) on the raw
//! body before parsing it, turns what it understands into events and appends them through
//! the engine's intake; a refused request writes nothing.
//!
//! Each module holds its pure parts (signature checks, payload parsing), tested on their
//! own, and its handler. What lives elsewhere: the `deal.won` shape ([`onboard_core::crm`]),
//! the common error ([`crate::error::ApiError`]).

pub mod deals;
pub mod hubspot;
pub mod pipedrive;

use crate::error::ApiError;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use bytes::Bytes;
use onboard_core::event::InputError;
use onboard_store::Appended;
use serde_json::{json, Value};

/// Body limit of every hook (HubSpot sends at most 100 small events per request).
pub const HOOK_BODY_LIMIT: usize = 1024 * 1024;

/// The request body exactly as received, for signature checks; too large → 413.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(request, state)
            .await
            .map(RawBody)
            .map_err(|rejection| {
                let status = rejection.status();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        status,
                        "too_large",
                        format!("the request body is larger than {HOOK_BODY_LIMIT} bytes"),
                    )
                } else {
                    ApiError::new(
                        status,
                        "bad_body",
                        format!("cannot read the request body: {rejection}"),
                    )
                }
            })
    }
}

/// The answer of every hook: how many events were new, already in the log, or not for us.
pub fn answer(outcomes: &[Appended], n_ignored: usize) -> Value {
    let n_accepted = outcomes
        .iter()
        .filter(|o| matches!(o, Appended::New(_)))
        .count();
    json!({
        "accepted": n_accepted,
        "duplicates": outcomes.len() - n_accepted,
        "ignored": n_ignored,
    })
}

/// 400 listing every bad field; nothing was written.
pub fn invalid(details: Vec<InputError>) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "invalid",
        message: format!(
            "{} problem(s) in the request; nothing was written",
            details.len()
        ),
        details,
    }
}

/// One problem at `at`.
pub(crate) fn problem(at: impl Into<String>, message: impl Into<String>) -> InputError {
    InputError {
        at: at.into(),
        message: message.into(),
    }
}

/// `base.field`, or `field` at the top.
pub(crate) fn field(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_owned()
    } else {
        format!("{base}.{name}")
    }
}

/// Longest id accepted from a CRM (ids become part of event keys).
pub const MAX_ID_LEN: usize = 100;

/// An id sent as a string (1 to [`MAX_ID_LEN`] characters) or an integer, as text; `None`
/// for anything else.
pub(crate) fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim())
            .filter(|s| !s.is_empty() && s.chars().count() <= MAX_ID_LEN)
            .map(str::to_owned),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// A value shown in an error message, cut to a readable length.
pub(crate) fn preview(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(60) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

/// An integer sent as a JSON integer or as a string of digits.
pub(crate) fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => decimal(s),
        _ => None,
    }
}

/// A non-empty run of ASCII digits that fits an `i64` (no sign, no spaces).
pub(crate) fn decimal(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A non-empty trimmed string.
pub(crate) fn text(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Whether `text` looks like an email address: `local@domain.tld`, no spaces, one `@`.
pub(crate) fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    text.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_digits_are_decimal() {
        assert_eq!(decimal("1693657560000"), Some(1_693_657_560_000));
        for bad in [
            "",
            "+1",
            "-1",
            " 1",
            "1.0",
            "1e3",
            "99999999999999999999",
            "１",
        ] {
            assert_eq!(decimal(bad), None, "{bad}");
        }
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(looks_like_email("ada@acme.example"));
        for bad in [
            "ada",
            "ada@",
            "@acme.example",
            "ada@acme",
            "a b@acme.example",
            "a@b@c.d",
        ] {
            assert!(!looks_like_email(bad), "{bad}");
        }
    }
}
