//! `POST /hooks/hubspot`: HubSpot's push webhooks (REFERENCE §1).
//!
//! Only v3 signatures count: `X-HubSpot-Signature-v3` is
//! `base64(HMAC-SHA256(client secret, method + uri + body + timestamp))`, where `uri` is the
//! configured public URL plus the path and query as received (with HubSpot's short list of
//! escapes decoded) and the timestamp (`X-HubSpot-Request-Timestamp`, epoch milliseconds)
//! is within 5 minutes of the wall clock, either way.
//!
//! The body is a JSON array of at most 100 events. A deal that moved into a won stage
//! (`deal.propertyChange`, or `object.propertyChange` on object type `0-3`, with
//! `propertyName` `dealstage` and a `propertyValue` among the program's
//! `crm.hubspot_won_stages`) or a deal that was created (`deal.creation`, `object.creation`
//! on `0-3`) becomes one `hubspot.deal` event on the portal's stream; the engine fetches the
//! deal later. Everything else is ignored, with a 200, so HubSpot does not retry it.

use crate::error::{ApiError, ApiResult};
use crate::extract::parse_json;
use crate::hooks::{
    answer, field, id_text, integer, invalid, preview, problem, text, RawBody, MAX_ID_LEN,
};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::Json;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use onboard_core::crm;
use onboard_core::event::{EventType, InputError, MAX_KEY_LEN};
use onboard_core::{NewEvent, Timestamp};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The v3 signature header (header names are case-insensitive).
pub const SIGNATURE_HEADER: &str = "x-hubspot-signature-v3";
/// The request time header, epoch milliseconds.
pub const TIMESTAMP_HEADER: &str = "x-hubspot-request-timestamp";
/// Largest accepted distance between the request timestamp and the wall clock.
pub const MAX_SKEW_MILLIS: i64 = 5 * 60 * 1000;
/// Most events HubSpot sends in one request.
pub const MAX_EVENTS: usize = 100;
/// HubSpot's object type id of deals in generic `object.*` events.
pub const DEAL_OBJECT_TYPE: &str = "0-3";

/// Why a request's v3 signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request has no X-HubSpot-Signature-v3 header")]
    MissingSignature,
    #[error("the request has no X-HubSpot-Request-Timestamp header")]
    MissingTimestamp,
    #[error("X-HubSpot-Request-Timestamp must be epoch milliseconds in decimal digits")]
    BadTimestamp,
    #[error("X-HubSpot-Request-Timestamp is more than 5 minutes away from the server's time")]
    OutsideWindow,
    #[error("the X-HubSpot-Signature-v3 signature does not match")]
    Mismatch,
}

/// HubSpot's URL decoding before signing: exactly these escapes become their character
/// (hex digits in either case); every other `%xx` stays as it is.
pub fn decode_uri(uri: &str) -> String {
    const ESCAPES: [(&str, char); 12] = [
        ("3A", ':'),
        ("2F", '/'),
        ("3F", '?'),
        ("40", '@'),
        ("21", '!'),
        ("24", '$'),
        ("27", '\''),
        ("28", '('),
        ("29", ')'),
        ("2A", '*'),
        ("2C", ','),
        ("3B", ';'),
    ];
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let decoded = after.get(..2).and_then(|hex| {
            ESCAPES
                .iter()
                .find(|(code, _)| code.eq_ignore_ascii_case(hex))
                .map(|(_, c)| *c)
        });
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &after[2..];
            }
            None => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn mac(client_secret: &str, method: &str, uri: &str, body: &[u8], timestamp: &str) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(client_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(method.as_bytes());
    mac.update(uri.as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    mac
}

/// The v3 signature of a request, as HubSpot sends it: `uri` is signed exactly as given
/// (HubSpot signs the decoded form; see [`decode_uri`]).
pub fn sign_v3(
    client_secret: &str,
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp: &str,
) -> String {
    let tag = mac(client_secret, method, uri, body, timestamp)
        .finalize()
        .into_bytes();
    base64::engine::general_purpose::STANDARD.encode(tag)
}

/// Checks a request's v3 signature and its timestamp against `now_millis` (the wall
/// clock). `uri` is the full URL called, as received; it is decoded with [`decode_uri`].
/// The comparison is constant-time; a signature of the wrong length fails.
pub fn verify_v3(
    client_secret: &str,
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    now_millis: i64,
) -> Result<(), SignatureError> {
    let signature = signature.ok_or(SignatureError::MissingSignature)?;
    let timestamp = timestamp.ok_or(SignatureError::MissingTimestamp)?;
    let sent_at = super::decimal(timestamp).ok_or(SignatureError::BadTimestamp)?;
    if now_millis.abs_diff(sent_at) > MAX_SKEW_MILLIS.unsigned_abs() {
        return Err(SignatureError::OutsideWindow);
    }
    let tag = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| SignatureError::Mismatch)?;
    mac(client_secret, method, &decode_uri(uri), body, timestamp)
        .verify_slice(&tag)
        .map_err(|_| SignatureError::Mismatch)
}

/// Turns a batch into `hubspot.deal` events for the deals that started onboarding, and
/// counts the events ignored. Every malformed element is reported (`[2].portalId`).
pub fn parse_batch(body: &Value, won_stages: &[String]) -> ApiResult<(Vec<NewEvent>, usize)> {
    let Value::Array(items) = body else {
        return Err(ApiError::bad_request(
            "the body must be a JSON array of HubSpot events",
        ));
    };
    if items.len() > MAX_EVENTS {
        return Err(ApiError::bad_request(format!(
            "{} events in one request; HubSpot sends at most {MAX_EVENTS}",
            items.len()
        )));
    }
    let mut events = Vec::new();
    let mut n_ignored = 0;
    let mut problems = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match parse_event(item, &format!("[{i}]"), won_stages) {
            Ok(Some(event)) => events.push(event),
            Ok(None) => n_ignored += 1,
            Err(mut errors) => problems.append(&mut errors),
        }
    }
    if problems.is_empty() {
        Ok((events, n_ignored))
    } else {
        Err(invalid(problems))
    }
}

/// One element: `Ok(None)` when it is not about a deal starting.
fn parse_event(
    item: &Value,
    at: &str,
    won_stages: &[String],
) -> Result<Option<NewEvent>, Vec<InputError>> {
    let Value::Object(object) = item else {
        return Err(vec![problem(at, "each event must be a JSON object")]);
    };
    let ids = format!("an integer or a string of at most {MAX_ID_LEN} characters");
    let mut need = Need {
        object,
        at,
        problems: Vec::new(),
    };
    let portal = need.field("portalId", "an integer", integer);
    let object_id = need.field("objectId", &ids, id_text);
    let event_id = need.field("eventId", &ids, id_text);
    let occurred = need.field("occurredAt", "epoch milliseconds", integer);
    let subscription_type = need.field("subscriptionType", "a string", |v| text(Some(v)));
    let (Some(portal), Some(object_id), Some(event_id), Some(occurred), Some(subscription_type)) =
        (portal, object_id, event_id, occurred, subscription_type)
    else {
        return Err(need.problems);
    };

    let object_type = text(object.get("objectTypeId"));
    let is_deal = match subscription_type.as_str() {
        "deal.propertyChange" | "deal.creation" => true,
        "object.propertyChange" | "object.creation" => {
            object_type.as_deref() == Some(DEAL_OBJECT_TYPE)
        }
        _ => false,
    };
    if !is_deal {
        return Ok(None);
    }
    let (trigger, stage) = if subscription_type.ends_with(".creation") {
        ("creation", None)
    } else {
        let property = text(object.get("propertyName"));
        let value = object.get("propertyValue").and_then(|v| match v {
            Value::Number(n) => Some(n.to_string()),
            other => text(Some(other)),
        });
        match value {
            Some(stage)
                if property.as_deref() == Some("dealstage") && won_stages.contains(&stage) =>
            {
                ("stage_change", Some(stage))
            }
            _ => return Ok(None),
        }
    };
    let subscription_id = object
        .get("subscriptionId")
        .and_then(id_text)
        .unwrap_or_default();
    let mut key = format!("hubspot:{portal}:{subscription_id}:{object_id}:{event_id}:{occurred}");
    if key.len() > MAX_KEY_LEN {
        // Only string ids this long get here; a digest keeps the key unique and short.
        let digest: String = Sha256::digest(key.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        key = format!("hubspot:{portal}:sha256:{digest}");
    }
    let kind = EventType::parse(crm::raw::HUBSPOT_DEAL)
        .map_err(|e| vec![problem(at, format!("internal: {e}"))])?;
    Ok(Some(NewEvent {
        key,
        kind,
        account: crm::hubspot_stream(portal),
        at: Timestamp(occurred),
        data: json!({
            "portal_id": portal,
            "deal_id": object_id,
            "trigger": trigger,
            "stage": stage,
            "subscription_type": subscription_type,
            "event_id": object.get("eventId").cloned().unwrap_or(Value::Null),
            "change_source": text(object.get("changeSource")),
        }),
    }))
}

/// The required fields of one event, with the problems found so far.
struct Need<'a> {
    object: &'a serde_json::Map<String, Value>,
    at: &'a str,
    problems: Vec<InputError>,
}

impl Need<'_> {
    /// The field `name` parsed, or a problem noted when it is missing or malformed.
    fn field<T>(
        &mut self,
        name: &str,
        expected: &str,
        parse: impl Fn(&Value) -> Option<T>,
    ) -> Option<T> {
        let value = self.object.get(name).filter(|v| !v.is_null());
        let parsed = value.and_then(parse);
        if parsed.is_none() {
            let message = match value {
                None => format!("`{name}` is missing: {expected}"),
                Some(other) => format!("`{name}` must be {expected}, not {}", preview(other)),
            };
            self.problems.push(problem(field(self.at, name), message));
        }
        parsed
    }
}

/// `POST /hooks/hubspot`.
pub async fn receive(
    State(state): State<AppState>,
    method: Method,
    // The hook routes are not nested, so this is the path as received.
    uri: Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Json<Value>> {
    let Some(secret) = &state.hooks.hubspot_client_secret else {
        return Err(ApiError::not_found(
            "the HubSpot hook is not configured (set ONBOARD_HUBSPOT_CLIENT_SECRET)",
        ));
    };
    let mut full_uri = format!("{}{}", state.hooks.public_url, uri.path());
    if let Some(query) = uri.query() {
        full_uri.push('?');
        full_uri.push_str(query);
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    verify_v3(
        secret.expose(),
        method.as_str(),
        &full_uri,
        &body,
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        state.wall_clock.now_millis(),
    )
    .map_err(|e| {
        tracing::warn!(hook = "hubspot", reason = %e, "refused a webhook");
        ApiError::unauthorized(e.to_string())
    })?;
    let batch = parse_json(&body)?;
    let (events, n_ignored) = parse_batch(&batch, &state.engine.program().crm.hubspot_won_stages)?;
    let outcomes = if events.is_empty() {
        Vec::new()
    } else {
        state.engine.ingest(events).await?
    };
    let answer = answer(&outcomes, n_ignored);
    tracing::info!(hook = "hubspot", result = %answer, "webhook received");
    Ok(Json(answer))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
    const URI: &str = "https://www.example.com/webhook_uri";
    const BODY: &[u8] = b"{'example_field':'example_value'}";
    const TS: &str = "1693657560000";
    const NOW: i64 = 1_693_657_560_000;
    /// Published vector H1 (HubSpot/hubspot-api-python:tests/spec/utils/test_signature.py).
    const H1: &str = "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=";

    fn verify(
        uri: &str,
        body: &[u8],
        ts: &str,
        signature: &str,
        now: i64,
    ) -> Result<(), SignatureError> {
        verify_v3(SECRET, "POST", uri, body, Some(ts), Some(signature), now)
    }

    #[test]
    fn the_published_vector_h1_is_reproduced_and_accepted() {
        assert_eq!(sign_v3(SECRET, "POST", URI, BODY, TS), H1);
        assert_eq!(verify(URI, BODY, TS, H1, NOW), Ok(()));
    }

    #[test]
    fn a_tampered_body_uri_timestamp_or_secret_fails() {
        let mismatch = Err(SignatureError::Mismatch);
        assert_eq!(
            verify(URI, b"{'example_field':'example_valuE'}", TS, H1, NOW),
            mismatch
        );
        assert_eq!(
            verify("https://www.example.com/webhook_urj", BODY, TS, H1, NOW),
            mismatch
        );
        assert_eq!(verify(URI, BODY, "1693657560001", H1, NOW), mismatch);
        assert_eq!(
            verify_v3(
                "zyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
                "POST",
                URI,
                BODY,
                Some(TS),
                Some(H1),
                NOW
            ),
            mismatch
        );
        assert_eq!(
            verify_v3(SECRET, "GET", URI, BODY, Some(TS), Some(H1), NOW),
            mismatch
        );
    }

    #[test]
    fn truncated_empty_and_non_base64_signatures_fail() {
        let mismatch = Err(SignatureError::Mismatch);
        assert_eq!(verify(URI, BODY, TS, "", NOW), mismatch);
        assert_eq!(verify(URI, BODY, TS, &H1[..20], NOW), mismatch);
        assert_eq!(
            verify(
                URI,
                BODY,
                TS,
                "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/",
                NOW
            ),
            mismatch
        );
        // The right 32 bytes minus the last one, properly encoded.
        let tag = base64::engine::general_purpose::STANDARD
            .decode(H1)
            .unwrap();
        let short = base64::engine::general_purpose::STANDARD.encode(&tag[..31]);
        assert_eq!(verify(URI, BODY, TS, &short, NOW), mismatch);
        let long = base64::engine::general_purpose::STANDARD.encode([&tag[..], &[0]].concat());
        assert_eq!(verify(URI, BODY, TS, &long, NOW), mismatch);
        assert_eq!(verify(URI, BODY, TS, "not base64 at all!", NOW), mismatch);
    }

    #[test]
    fn missing_headers_fail() {
        assert_eq!(
            verify_v3(SECRET, "POST", URI, BODY, Some(TS), None, NOW),
            Err(SignatureError::MissingSignature)
        );
        assert_eq!(
            verify_v3(SECRET, "POST", URI, BODY, None, Some(H1), NOW),
            Err(SignatureError::MissingTimestamp)
        );
    }

    #[test]
    fn timestamps_more_than_five_minutes_away_either_way_fail() {
        let five_minutes = 300_000;
        assert_eq!(verify(URI, BODY, TS, H1, NOW + five_minutes), Ok(()));
        assert_eq!(verify(URI, BODY, TS, H1, NOW - five_minutes), Ok(()));
        assert_eq!(
            verify(URI, BODY, TS, H1, NOW + five_minutes + 1),
            Err(SignatureError::OutsideWindow)
        );
        assert_eq!(
            verify(URI, BODY, TS, H1, NOW - five_minutes - 1),
            Err(SignatureError::OutsideWindow)
        );
    }

    #[test]
    fn a_non_numeric_timestamp_fails() {
        for ts in [
            "",
            "abc",
            "1693657560000.0",
            "+1693657560000",
            " 1693657560000",
            "-1",
        ] {
            assert_eq!(
                verify(URI, BODY, ts, H1, NOW),
                Err(SignatureError::BadTimestamp),
                "{ts}"
            );
        }
    }

    #[test]
    fn only_the_listed_escapes_are_decoded() {
        assert_eq!(
            decode_uri("https://x.example/a%3Ab%2fc%3F%40%21%24%27%28%29%2A%2C%3B?q=%20%25%3a"),
            "https://x.example/a:b/c?@!$'()*,;?q=%20%25:"
        );
        assert_eq!(decode_uri("100%"), "100%");
        assert_eq!(decode_uri("%3"), "%3");
        assert_eq!(decode_uri("%é3A"), "%é3A");
    }

    #[test]
    fn a_signature_over_the_decoded_uri_verifies_against_the_escaped_one() {
        let signature = sign_v3(SECRET, "POST", "https://x.example/h?a=b:c", BODY, TS);
        assert_eq!(
            verify("https://x.example/h?a=b%3Ac", BODY, TS, &signature, NOW),
            Ok(())
        );
    }

    proptest! {
        #[test]
        fn random_signatures_fail(tag in proptest::collection::vec(any::<u8>(), 0..64), raw in ".{0,60}") {
            let encoded = base64::engine::general_purpose::STANDARD.encode(&tag);
            prop_assume!(encoded != H1 && raw != H1);
            prop_assert_eq!(verify(URI, BODY, TS, &encoded, NOW), Err(SignatureError::Mismatch));
            prop_assert_eq!(verify(URI, BODY, TS, &raw, NOW), Err(SignatureError::Mismatch));
        }

        #[test]
        fn uri_decoding_never_panics(uri in ".{0,80}") {
            let _ = decode_uri(&uri);
        }
    }

    fn stages() -> Vec<String> {
        vec!["closedwon".to_owned(), "12345".to_owned()]
    }

    fn event(kind: &str, extra: Value) -> Value {
        let mut event = json!({"eventId": 3121500001u64, "subscriptionId": 2100450, "portalId": 44112233,
            "appId": 987654, "occurredAt": 1763810000123i64, "subscriptionType": kind, "attemptNumber": 2,
            "objectId": 18000000042u64, "changeSource": "CRM_UI"});
        for (k, v) in extra.as_object().unwrap() {
            event[k] = v.clone();
        }
        event
    }

    #[test]
    fn a_won_stage_change_becomes_a_hubspot_deal_event() {
        let body = json!([event(
            "deal.propertyChange",
            json!({"propertyName": "dealstage", "propertyValue": "closedwon"})
        )]);
        let (events, n_ignored) = parse_batch(&body, &stages()).unwrap();
        assert_eq!(n_ignored, 0);
        let event = &events[0];
        assert_eq!(
            event.key,
            "hubspot:44112233:2100450:18000000042:3121500001:1763810000123"
        );
        assert_eq!(event.kind.as_str(), "hubspot.deal");
        assert_eq!(event.account, "hubspot-portal-44112233");
        assert_eq!(event.at, Timestamp(1763810000123));
        assert_eq!(
            event.data,
            json!({"portal_id": 44112233, "deal_id": "18000000042", "trigger": "stage_change",
                "stage": "closedwon", "subscription_type": "deal.propertyChange",
                "event_id": 3121500001u64, "change_source": "CRM_UI"})
        );
    }

    #[test]
    fn generic_deal_events_and_creations_count_other_objects_do_not() {
        let body = json!([
            event(
                "object.propertyChange",
                json!({"objectTypeId": "0-3", "propertyName": "dealstage", "propertyValue": "12345", "objectId": "77"})
            ),
            event(
                "object.propertyChange",
                json!({"objectTypeId": "0-1", "propertyName": "dealstage", "propertyValue": "closedwon"})
            ),
            event("deal.creation", json!({})),
            event("object.creation", json!({"objectTypeId": "0-3"})),
            event("object.creation", json!({"objectTypeId": "0-2"})),
            event("contact.creation", json!({})),
            event(
                "deal.propertyChange",
                json!({"propertyName": "amount", "propertyValue": "closedwon"})
            ),
            event(
                "deal.propertyChange",
                json!({"propertyName": "dealstage", "propertyValue": "closedlost"})
            ),
        ]);
        let (events, n_ignored) = parse_batch(&body, &stages()).unwrap();
        assert_eq!(n_ignored, 5);
        let triggers: Vec<(&str, &Value)> = events
            .iter()
            .map(|e| (e.data["trigger"].as_str().unwrap(), &e.data["stage"]))
            .collect();
        assert_eq!(
            triggers,
            [
                ("stage_change", &json!("12345")),
                ("creation", &Value::Null),
                ("creation", &Value::Null)
            ]
        );
        assert_eq!(events[0].data["deal_id"], "77");
    }

    #[test]
    fn the_attempt_number_is_not_part_of_the_key() {
        let first = event("deal.creation", json!({"attemptNumber": 0}));
        let retry = event("deal.creation", json!({"attemptNumber": 3}));
        let (a, _) = parse_batch(&json!([first]), &stages()).unwrap();
        let (b, _) = parse_batch(&json!([retry]), &stages()).unwrap();
        assert_eq!(a[0].key, b[0].key);
    }

    #[test]
    fn missing_fields_are_named_with_their_element() {
        let body = json!([
            event("deal.creation", json!({})),
            {"subscriptionType": "deal.creation", "objectId": [1]},
            "nope",
        ]);
        let error = parse_batch(&body, &stages()).unwrap_err();
        assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST);
        let places: Vec<&str> = error.details.iter().map(|d| d.at.as_str()).collect();
        assert_eq!(
            places,
            [
                "[1].portalId",
                "[1].objectId",
                "[1].eventId",
                "[1].occurredAt",
                "[2]"
            ]
        );
    }

    #[test]
    fn an_overlong_object_id_is_refused_with_a_short_message() {
        let body = json!([event(
            "deal.creation",
            json!({"objectId": "9".repeat(5000)})
        )]);
        let error = parse_batch(&body, &stages()).unwrap_err();
        assert_eq!(error.details[0].at, "[0].objectId");
        assert!(
            error.details[0].message.len() < 200,
            "{}",
            error.details[0].message
        );
    }

    #[test]
    fn keys_of_long_string_ids_stay_short_and_distinct() {
        let long = |c: &str| {
            event(
                "deal.creation",
                json!({"objectId": c.repeat(100), "eventId": "e".repeat(100)}),
            )
        };
        let (events, _) = parse_batch(&json!([long("a"), long("b")]), &stages()).unwrap();
        assert!(events[0].key.len() <= MAX_KEY_LEN, "{}", events[0].key);
        assert!(events[0].key.starts_with("hubspot:44112233:sha256:"));
        assert_ne!(events[0].key, events[1].key);
        assert_eq!(events[0].data["deal_id"], "a".repeat(100));
    }

    #[test]
    fn more_than_a_hundred_events_or_a_non_array_is_refused() {
        let body = Value::Array(vec![event("contact.creation", json!({})); 101]);
        assert_eq!(
            parse_batch(&body, &stages()).unwrap_err().status,
            axum::http::StatusCode::BAD_REQUEST
        );
        let body = Value::Array(vec![event("contact.creation", json!({})); 100]);
        assert_eq!(parse_batch(&body, &stages()).unwrap().1, 100);
        assert!(parse_batch(&json!({}), &stages()).is_err());
    }
}
