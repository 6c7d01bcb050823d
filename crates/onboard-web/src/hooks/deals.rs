//! `POST /hooks/deals`: won deals from any CRM, signed with Standard Webhooks 1.0.0
//! (REFERENCE §5).
//!
//! Headers: `webhook-id`, `webhook-timestamp` (unix seconds, within 300 s of the wall clock
//! either way) and `webhook-signature`, a space-separated list of `v1,<base64>` entries,
//! each `HMAC-SHA256(key, "{id}.{timestamp}.{body}")` with the key the base64-decoded bytes
//! after `whsec_`. The request passes when any `v1` entry of exactly 32 bytes matches;
//! other versions (`v1a`, ...) are skipped. Empty and truncated signatures never match.
//!
//! Body (minified JSON; only `type: "deal.won"` is acted on, other types get 200 and are
//! ignored):
//!
//! ```json
//! {"type": "deal.won", "timestamp": "2026-11-21T09:13:20Z",
//!  "data": {
//!    "deal": {"id": "D-1001", "name": "ACME – Pro", "plan": "pro", "seats": 25,
//!             "amount": 12000, "owner_email": "tom@pipeflow.example"},
//!    "account": {"name": "ACME", "domain": "acme.example", "id": "optional CRM company id"},
//!    "contacts": [{"email": "ada@acme.example", "name": "Ada Lovelace",
//!                  "title": "IT Administrator", "id": "optional",
//!                  "properties": {"any": "value"}}]}}
//! ```
//!
//! Required: `data.deal.id` (string or integer), `data.account.name`, and each contact's
//! `email`; at most 1,000 contacts. Every bad field is reported at once (400, `details`
//! with `at` such as `data.contacts[2].email`). The deal becomes one `deal.won` event (a
//! [`WonDeal`] with source `deals`) at `timestamp` (else the engine's now); its key is one
//! per deal, so a redelivery is answered `duplicates: 1` and changes nothing.

use crate::error::{ApiError, ApiResult};
use crate::extract::parse_json;
use crate::hooks::{
    answer, field, id_text, invalid, looks_like_email, problem, RawBody, MAX_ID_LEN,
};
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use onboard_core::crm::{DealAccount, DealContact, WonDeal};
use onboard_core::event::InputError;
use onboard_core::Timestamp;
use serde_json::{Map, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// Largest accepted distance between `webhook-timestamp` and the wall clock, in seconds.
pub const TOLERANCE_SECONDS: i64 = 300;
/// Most contacts accepted with one deal.
pub const MAX_CONTACTS: usize = 1_000;
/// The only `type` acted on.
pub const DEAL_WON: &str = "deal.won";

/// Why a Standard Webhooks signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request has no webhook-id header")]
    MissingId,
    #[error("the request has no webhook-timestamp header")]
    MissingTimestamp,
    #[error("the request has no webhook-signature header")]
    MissingSignature,
    #[error("webhook-timestamp must be unix seconds in decimal digits")]
    BadTimestamp,
    #[error("webhook-timestamp is more than 300 seconds away from the server's time")]
    OutsideWindow,
    #[error("no v1 signature in webhook-signature matches")]
    Mismatch,
}

fn mac(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `v1,<base64>` signature of a message, as a sender puts it in `webhook-signature`.
pub fn sign(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    let tag = mac(key, id, timestamp, body).finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(tag)
    )
}

/// Checks the three headers of a delivery against `key` (the decoded secret) and
/// `now_millis` (the wall clock). Constant-time: each candidate is decoded, must be 32
/// bytes, and goes through `Mac::verify_slice`.
pub fn verify(
    key: &[u8],
    id: Option<&str>,
    timestamp: Option<&str>,
    signatures: Option<&str>,
    body: &[u8],
    now_millis: i64,
) -> Result<(), SignatureError> {
    let id = id
        .filter(|s| !s.is_empty())
        .ok_or(SignatureError::MissingId)?;
    let timestamp = timestamp.ok_or(SignatureError::MissingTimestamp)?;
    let signatures = signatures.ok_or(SignatureError::MissingSignature)?;
    let sent_at = super::decimal(timestamp).ok_or(SignatureError::BadTimestamp)?;
    let now = now_millis.div_euclid(1000);
    if now.abs_diff(sent_at) > TOLERANCE_SECONDS.unsigned_abs() {
        return Err(SignatureError::OutsideWindow);
    }
    let expected = mac(key, id, timestamp, body);
    let matched = signatures
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        })
        .filter(|tag| tag.len() == 32)
        .any(|tag| expected.clone().verify_slice(&tag).is_ok());
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// What a delivery asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// A won deal, at the payload's `timestamp` when it has one.
    Won(Box<WonDeal>, Option<Timestamp>),
    /// Another `type`, ignored.
    Ignored(String),
}

/// Validates a payload, reporting every bad field at once.
pub fn parse_payload(body: &Value) -> Result<Delivery, Vec<InputError>> {
    let Value::Object(root) = body else {
        return Err(vec![problem("", "the body must be a JSON object")]);
    };
    let mut problems = Vec::new();
    let kind = match root.get("type") {
        Some(Value::String(kind)) if !kind.is_empty() => kind.clone(),
        _ => {
            return Err(vec![problem(
                "type",
                "`type` is required: a string such as \"deal.won\"",
            )])
        }
    };
    if kind != DEAL_WON {
        return Ok(Delivery::Ignored(kind));
    }
    let at = match root.get("timestamp") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => match Timestamp::parse_rfc3339(text) {
            Ok(at) => Some(at),
            Err(e) => {
                problems.push(problem("timestamp", e.to_string()));
                None
            }
        },
        Some(_) => {
            problems.push(problem("timestamp", "must be an RFC 3339 string"));
            None
        }
    };
    let data = object(root.get("data"), "data", &mut problems);
    let deal = data.and_then(|d| object(d.get("deal"), "data.deal", &mut problems));
    let account = data.and_then(|d| object(d.get("account"), "data.account", &mut problems));
    let empty = Map::new();

    let deal_id = deal.and_then(|deal| match deal.get("id").and_then(id_text) {
        Some(id) => Some(id),
        None => {
            problems.push(problem(
                "data.deal.id",
                format!("required: a string of 1 to {MAX_ID_LEN} characters or an integer"),
            ));
            None
        }
    });
    let deal = deal.unwrap_or(&empty);
    let deal_name = optional_text(deal, "data.deal", "name", &mut problems);
    let plan = optional_text(deal, "data.deal", "plan", &mut problems);
    let seats = match deal.get("seats") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => Some(n),
            None => {
                problems.push(problem("data.deal.seats", "must be a whole number from 0"));
                None
            }
        },
    };
    let amount = match deal.get("amount") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(_) => {
            problems.push(problem("data.deal.amount", "must be a number"));
            None
        }
    };
    let owner_email = optional_text(deal, "data.deal", "owner_email", &mut problems);
    if let Some(email) = &owner_email {
        if !looks_like_email(email) {
            problems.push(problem(
                "data.deal.owner_email",
                format!("`{email}` is not an email address"),
            ));
        }
    }

    let account_name = account.and_then(|account| {
        let n_before = problems.len();
        let name = optional_text(account, "data.account", "name", &mut problems);
        if name.is_none() && problems.len() == n_before {
            problems.push(problem(
                "data.account.name",
                "required: the customer company's name",
            ));
        }
        name
    });
    let account = account.unwrap_or(&empty);
    let domain = optional_text(account, "data.account", "domain", &mut problems);
    let crm_id = optional_id(account, "data.account", &mut problems);
    let data = data.unwrap_or(&empty);

    let contacts = match data.get("contacts") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) if items.len() > MAX_CONTACTS => {
            problems.push(problem(
                "data.contacts",
                format!("{} contacts; send at most {MAX_CONTACTS}", items.len()),
            ));
            Vec::new()
        }
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                parse_contact(item, &format!("data.contacts[{i}]"), &mut problems)
            })
            .collect(),
        Some(_) => {
            problems.push(problem("data.contacts", "must be an array of contacts"));
            Vec::new()
        }
    };

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Delivery::Won(
        Box::new(WonDeal {
            source: "deals".to_owned(),
            tenant: None,
            deal_id: deal_id.unwrap_or_default(),
            deal_name,
            account: DealAccount {
                name: account_name.unwrap_or_default(),
                domain,
                crm_id,
            },
            owner_email,
            seats,
            plan,
            amount,
            contacts,
        }),
        at,
    ))
}

fn parse_contact(item: &Value, at: &str, problems: &mut Vec<InputError>) -> Option<DealContact> {
    let Value::Object(contact) = item else {
        problems.push(problem(
            at,
            "each contact must be an object with an `email`",
        ));
        return None;
    };
    let n_before = problems.len();
    let email = optional_text(contact, at, "email", problems);
    match &email {
        None if problems.len() == n_before => problems.push(problem(
            field(at, "email"),
            "required: the contact's email address",
        )),
        Some(email) if !looks_like_email(email) => problems.push(problem(
            field(at, "email"),
            format!("`{email}` is not an email address"),
        )),
        _ => {}
    }
    let name = optional_text(contact, at, "name", problems);
    let title = optional_text(contact, at, "title", problems);
    let crm_id = optional_id(contact, at, problems);
    let properties = match contact.get("properties") {
        None | Some(Value::Null) => Default::default(),
        Some(Value::Object(map)) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(_) => {
            problems.push(problem(field(at, "properties"), "must be an object"));
            Default::default()
        }
    };
    if problems.len() != n_before {
        return None;
    }
    Some(DealContact {
        email: email.unwrap_or_default(),
        name,
        title,
        crm_id,
        properties,
    })
}

/// A required object at `at`.
fn object<'a>(
    value: Option<&'a Value>,
    at: &str,
    problems: &mut Vec<InputError>,
) -> Option<&'a Map<String, Value>> {
    match value {
        Some(Value::Object(map)) => Some(map),
        None | Some(Value::Null) => {
            problems.push(problem(at, "required: an object"));
            None
        }
        Some(_) => {
            problems.push(problem(at, "must be an object"));
            None
        }
    }
}

/// An optional string field; blank counts as absent, another type is a problem.
fn optional_text(
    map: &Map<String, Value>,
    base: &str,
    name: &str,
    problems: &mut Vec<InputError>,
) -> Option<String> {
    match map.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Some(_) => {
            problems.push(problem(field(base, name), "must be a string"));
            None
        }
    }
}

/// The optional `id` (string or integer).
fn optional_id(
    map: &Map<String, Value>,
    base: &str,
    problems: &mut Vec<InputError>,
) -> Option<String> {
    match map.get("id") {
        None | Some(Value::Null) => None,
        Some(value) => {
            let id = id_text(value);
            let blank = value.as_str().is_some_and(|s| s.trim().is_empty());
            if id.is_none() && !blank {
                problems.push(problem(
                    field(base, "id"),
                    format!("must be a string of at most {MAX_ID_LEN} characters or an integer"),
                ));
            }
            id
        }
    }
}

/// `POST /hooks/deals`.
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Json<Value>> {
    let Some(secret) = &state.hooks.deals_webhook_secret else {
        return Err(ApiError::not_found(
            "the deals hook is not configured (set ONBOARD_DEALS_WEBHOOK_SECRET)",
        ));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let webhook_id = header(ID_HEADER);
    verify(
        secret.key(),
        webhook_id,
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        &body,
        state.wall_clock.now_millis(),
    )
    .map_err(|e| {
        tracing::warn!(hook = "deals", reason = %e, "refused a webhook");
        ApiError::unauthorized(e.to_string())
    })?;
    let payload = parse_json(&body)?;
    let (deal, at) = match parse_payload(&payload).map_err(invalid)? {
        Delivery::Won(deal, at) => (deal, at),
        Delivery::Ignored(kind) => {
            tracing::info!(
                hook = "deals",
                webhook.id = webhook_id,
                kind,
                "ignored a webhook"
            );
            return Ok(Json(answer(&[], 1)));
        }
    };
    let event = deal.to_event(at.unwrap_or_else(|| state.engine.now()));
    let outcomes = state.engine.ingest(vec![event]).await?;
    let answer = answer(&outcomes, 0);
    tracing::info!(hook = "deals", webhook.id = webhook_id, deal.id = %deal.deal_id, result = %answer, "webhook received");
    Ok(Json(answer))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::state::WebhookSecret;
    use serde_json::json;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TS: &str = "1649367553";
    const NOW: i64 = 1_649_367_553_000;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    /// Published vector (standard-webhooks/standard-webhooks:libraries/rust/src/lib.rs).
    const EXPECTED: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn key() -> Vec<u8> {
        WebhookSecret::parse(SECRET).unwrap().key().to_vec()
    }

    fn check(signatures: &str) -> Result<(), SignatureError> {
        verify(&key(), Some(ID), Some(TS), Some(signatures), BODY, NOW)
    }

    #[test]
    fn the_published_vector_is_reproduced_and_accepted() {
        assert_eq!(key().len(), 24);
        assert_eq!(sign(&key(), ID, TS, BODY), EXPECTED);
        assert_eq!(check(EXPECTED), Ok(()));
    }

    #[test]
    fn an_empty_signature_fails() {
        assert_eq!(check("v1,"), Err(SignatureError::Mismatch));
        assert_eq!(check(""), Err(SignatureError::Mismatch));
        assert_eq!(check(" "), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_truncated_signature_fails() {
        assert_eq!(check("v1,tZ1I4/hD"), Err(SignatureError::Mismatch));
        assert_eq!(
            check("v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kk"),
            Err(SignatureError::Mismatch)
        );
        let tag = base64::engine::general_purpose::STANDARD
            .decode(&EXPECTED[3..])
            .unwrap();
        let short = format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(&tag[..31])
        );
        assert_eq!(check(&short), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_v1a_only_header_fails() {
        assert_eq!(
            check(&EXPECTED.replacen("v1,", "v1a,", 1)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn several_signatures_pass_when_one_v1_matches() {
        let header = format!(
            "v1a,hnO3f9T8 v1,Zm9vYmFy v1,{} {EXPECTED}",
            "A".repeat(43) + "="
        );
        assert_eq!(check(&header), Ok(()));
        assert_eq!(
            check("v1,Zm9vYmFy v1a,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_tampered_body_id_or_timestamp_fails() {
        let key = key();
        assert_eq!(
            verify(&key, Some(ID), Some(TS), Some(EXPECTED), b"{}", NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&key, Some("msg_other"), Some(TS), Some(EXPECTED), BODY, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                &key,
                Some(ID),
                Some("1649367554"),
                Some(EXPECTED),
                BODY,
                NOW
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_headers_fail() {
        let key = key();
        assert_eq!(
            verify(&key, None, Some(TS), Some(EXPECTED), BODY, NOW),
            Err(SignatureError::MissingId)
        );
        assert_eq!(
            verify(&key, Some(""), Some(TS), Some(EXPECTED), BODY, NOW),
            Err(SignatureError::MissingId)
        );
        assert_eq!(
            verify(&key, Some(ID), None, Some(EXPECTED), BODY, NOW),
            Err(SignatureError::MissingTimestamp)
        );
        assert_eq!(
            verify(&key, Some(ID), Some(TS), None, BODY, NOW),
            Err(SignatureError::MissingSignature)
        );
    }

    #[test]
    fn a_timestamp_301_seconds_old_or_ahead_fails_300_passes() {
        let key = key();
        let at = |now: i64| verify(&key, Some(ID), Some(TS), Some(EXPECTED), BODY, now);
        assert_eq!(at(NOW + 300_000), Ok(()));
        assert_eq!(at(NOW - 300_000), Ok(()));
        assert_eq!(at(NOW + 301_000), Err(SignatureError::OutsideWindow));
        assert_eq!(at(NOW - 301_000), Err(SignatureError::OutsideWindow));
    }

    #[test]
    fn a_non_numeric_timestamp_fails() {
        let key = key();
        for ts in [
            "",
            "soon",
            "1649367553.0",
            "+1649367553",
            "-1649367553",
            "1649367553 ",
        ] {
            assert_eq!(
                verify(&key, Some(ID), Some(ts), Some(EXPECTED), BODY, NOW),
                Err(SignatureError::BadTimestamp),
                "{ts:?}"
            );
        }
    }

    #[test]
    fn secrets_must_be_base64_after_the_prefix() {
        assert!(WebhookSecret::parse("whsec_not base64!").is_err());
        assert!(WebhookSecret::parse("whsec_").is_err());
        assert_eq!(WebhookSecret::parse("whsec_AQ==").unwrap().key(), [1]);
        assert_eq!(
            WebhookSecret::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD")
                .unwrap()
                .key(),
            key()
        );
    }

    #[test]
    fn a_full_payload_becomes_a_won_deal() {
        let body = json!({"type": "deal.won", "timestamp": "2026-11-21T09:13:20Z", "data": {
            "deal": {"id": 1001, "name": "ACME – Pro", "plan": "pro", "seats": 25, "amount": 12000, "owner_email": "tom@pipeflow.example"},
            "account": {"name": "ACME", "domain": "acme.example", "id": "c-9"},
            "contacts": [{"email": "ada@acme.example", "name": "Ada Lovelace", "title": "IT Administrator", "id": 7, "properties": {"team": "ops"}}]}});
        let Delivery::Won(deal, at) = parse_payload(&body).unwrap() else {
            panic!("not won")
        };
        assert_eq!(
            at,
            Some(Timestamp::parse_rfc3339("2026-11-21T09:13:20Z").unwrap())
        );
        assert_eq!(deal.source, "deals");
        assert_eq!(deal.tenant, None);
        assert_eq!(deal.deal_id, "1001");
        assert_eq!(deal.seats, Some(25));
        assert_eq!(deal.amount, Some(12000.0));
        assert_eq!(deal.account.crm_id.as_deref(), Some("c-9"));
        assert_eq!(deal.contacts[0].crm_id.as_deref(), Some("7"));
        assert_eq!(deal.contacts[0].properties["team"], "ops");
        assert_eq!(deal.account_key(), "acme.example");
    }

    #[test]
    fn other_types_are_ignored() {
        assert_eq!(
            parse_payload(&json!({"type": "deal.lost", "data": {}})).unwrap(),
            Delivery::Ignored("deal.lost".to_owned())
        );
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let body = json!({"type": "deal.won", "timestamp": "yesterday", "data": {
            "deal": {"name": 5, "seats": -1},
            "account": {"domain": "acme.example"},
            "contacts": [{"email": "ada@acme.example"}, {"name": "no email"}, {"email": "not-an-email"}, 3]}});
        let problems = parse_payload(&body).unwrap_err();
        let places: Vec<&str> = problems.iter().map(|p| p.at.as_str()).collect();
        assert_eq!(
            places,
            [
                "timestamp",
                "data.deal.id",
                "data.deal.name",
                "data.deal.seats",
                "data.account.name",
                "data.contacts[1].email",
                "data.contacts[2].email",
                "data.contacts[3]",
            ]
        );
    }

    #[test]
    fn missing_sections_are_named() {
        let problems = parse_payload(&json!({"type": "deal.won"})).unwrap_err();
        let places: Vec<&str> = problems.iter().map(|p| p.at.as_str()).collect();
        assert_eq!(places, ["data"]);
        let problems = parse_payload(&json!({"type": "deal.won", "data": {}})).unwrap_err();
        let places: Vec<&str> = problems.iter().map(|p| p.at.as_str()).collect();
        assert_eq!(places, ["data.deal", "data.account"]);
        let problems = parse_payload(&json!({"data": {}})).unwrap_err();
        assert_eq!(problems[0].at, "type");
    }

    #[test]
    fn overlong_ids_are_refused() {
        let long = "x".repeat(101);
        let body = json!({"type": "deal.won", "data": {"deal": {"id": long}, "account": {"name": "A", "id": long}}});
        let problems = parse_payload(&body).unwrap_err();
        let places: Vec<&str> = problems.iter().map(|p| p.at.as_str()).collect();
        assert_eq!(places, ["data.deal.id", "data.account.id"]);
    }

    #[test]
    fn more_than_a_thousand_contacts_are_refused() {
        let contacts = vec![json!({"email": "a@b.example"}); 1001];
        let body = json!({"type": "deal.won", "data": {"deal": {"id": "1"}, "account": {"name": "A"}, "contacts": contacts}});
        assert_eq!(parse_payload(&body).unwrap_err()[0].at, "data.contacts");
    }
}
