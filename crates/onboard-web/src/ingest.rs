//! The product-usage intake, compatible with Segment's HTTP Tracking API so that Segment's
//! and RudderStack's clients work unchanged: `POST /v1/track`, `/v1/identify`, `/v1/group`,
//! `/v1/page`, `/v1/screen`, `/v1/alias` and `/v1/batch`.
//!
//! The write key comes as the HTTP Basic user (the password is ignored), or as `writeKey` in
//! the body (with or without a bearer token). Bodies may be gzip-compressed. A call becomes
//! a [`UsageCall`] for the engine, which links it to an account as it appends it (see the
//! store's `usage` module); the answer, `200 {"success": true}`, goes out after the commit.
//! Limits: 32 KB per call or batch item, 500 KB per batch, 2,500 items per batch; a limit
//! crossed, malformed JSON, or a single call with a bad field is a 400 that says what and
//! where. A batch keeps its good items and lists the rejected ones in its 200 answer. The
//! write key is checked first: a wrong Basic key is a 401 before the body is read, and a
//! body that must carry the key answers 401 for whatever keeps its key from being checked
//! (too large, bad gzip, not JSON) as for a missing or wrong key.
//!
//! Here lives only the HTTP side: parsing, authentication, the event shapes.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use onboard_core::event::{types, InputError};
use onboard_core::{EventType, Timestamp};
use onboard_store::{UsageCall, UsageEvent};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::io::Read;

/// Most bytes of one call, or of one item of a batch.
pub const MAX_EVENT_BYTES: usize = 32 * 1024;
/// Most bytes of a batch (after decompression).
pub const MAX_BATCH_BYTES: usize = 500 * 1024;
/// Most items in one batch.
pub const MAX_BATCH_EVENTS: usize = 2_500;
/// Longest accepted messageId.
const MAX_MESSAGE_ID: usize = 100;
/// Longest accepted user, anonymous, group or previous id.
const MAX_ID: usize = 150;

/// The intake's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/track", post(track))
        .route("/v1/identify", post(identify))
        .route("/v1/group", post(group))
        .route("/v1/page", post(page))
        .route("/v1/screen", post(screen))
        .route("/v1/alias", post(alias))
        .route("/v1/batch", post(batch))
}

/// The answers of one call (`/v1/track`, `/v1/identify` …), as documented.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
enum SingleCallAnswers {
    /// Stored (or held until the user is linked to an account, or a duplicate messageId)
    #[response(status = 200)]
    Stored(Accepted),
    /// Malformed JSON, a body over 32 KB, a bad gzip body, or a bad field (each in `details`, e.g. `userId`); nothing was written
    #[response(status = 400)]
    Invalid(crate::openapi::ErrorBody),
    /// No write key, or not the server's
    #[response(status = 401)]
    BadKey(crate::openapi::ErrorBody),
    #[response(status = 500)]
    Internal(#[ref_response] crate::openapi::Internal),
    #[response(status = 503)]
    Unavailable(#[ref_response] crate::openapi::Unavailable),
}

/// The answer of an accepted call.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Accepted {
    /// Always `true`.
    pub success: bool,
    /// Items of a batch that were rejected (the others were accepted), each with where it
    /// is and what is wrong.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub rejected: Vec<InputError>,
}

/// A Segment message (Segment's HTTP Tracking API spec); unknown fields are ignored.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Describes `Message`.
pub struct SegmentMessage {
    /// `identify`, `track`, `page`, `screen`, `group` or `alias`: required in a batch,
    /// implied by the route otherwise.
    #[schema(required = false)]
    r#type: String,
    /// The product's id of the user; this or `anonymousId` is required.
    #[schema(required = false, rename = "userId")]
    user_id: String,
    #[schema(required = false, rename = "anonymousId")]
    anonymous_id: String,
    /// The dedupe key (fewer than 100 characters): a second message with it changes nothing.
    #[schema(required = false, rename = "messageId")]
    message_id: String,
    /// When it happened (ISO 8601), by the client's clock; corrected by `sentAt`.
    #[schema(required = false)]
    timestamp: String,
    #[schema(required = false, rename = "sentAt")]
    sent_at: String,
    /// `groupId` and `traits.email` are read; the rest is ignored.
    #[schema(required = false, value_type = Object)]
    context: (),
    /// `track`: the event's name, e.g. `Lead Imported` (required).
    #[schema(required = false)]
    event: String,
    /// `page` / `screen`: the page's name.
    #[schema(required = false)]
    name: String,
    #[schema(required = false, value_type = Object)]
    properties: (),
    /// `identify`: the user's traits (`email` links them); `group`: the company's (`domain`
    /// or `website` links the group).
    #[schema(required = false, value_type = Object)]
    traits: (),
    /// `group`: the company's id (required).
    #[schema(required = false, rename = "groupId")]
    group_id: String,
    /// `alias`: the user's former id (required).
    #[schema(required = false, rename = "previousId")]
    previous_id: String,
    /// The write key, when not given as the HTTP Basic user.
    #[schema(required = false, rename = "writeKey")]
    write_key: String,
}

/// A batch of Segment messages.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Describes `BatchBody`.
pub struct SegmentBatch {
    /// At most 2,500 messages of at most 32 KB each.
    batch: Vec<SegmentMessage>,
    /// Merged into each message's `context`.
    #[schema(required = false, value_type = Object)]
    context: (),
    #[schema(required = false, value_type = Object)]
    integrations: (),
    #[schema(required = false, rename = "sentAt")]
    sent_at: String,
    #[schema(required = false, rename = "writeKey")]
    write_key: String,
}

/// The kinds of call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Track,
    Identify,
    Group,
    Page,
    Screen,
    Alias,
}

impl Kind {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "track" => Kind::Track,
            "identify" => Kind::Identify,
            "group" => Kind::Group,
            "page" => Kind::Page,
            "screen" => Kind::Screen,
            "alias" => Kind::Alias,
            _ => return None,
        })
    }
}

/// A user did something: logged as `product.track` (`data.event`, `data.properties`).
#[utoipa::path(
    post,
    path = "/v1/track",
    tag = "ingest",
    operation_id = "segment_track",
    request_body = SegmentMessage,
    responses(SingleCallAnswers),
    security(("write_key" = []), ())
)]
pub async fn track(
    state: State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Accepted>> {
    single(state, headers, body, Kind::Track).await
}

/// Who a user is: `product.identify` (`data.traits`); `traits.email` links the user to the person with that email.
#[utoipa::path(
    post,
    path = "/v1/identify",
    tag = "ingest",
    operation_id = "segment_identify",
    request_body = SegmentMessage,
    responses(SingleCallAnswers),
    security(("write_key" = []), ())
)]
pub async fn identify(
    state: State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Accepted>> {
    single(state, headers, body, Kind::Identify).await
}

/// The company a user belongs to: `product.group` (`data.group`, `data.traits`); a group is linked to the account with its `traits.domain` or `traits.website`, or whose id it is.
#[utoipa::path(
    post,
    path = "/v1/group",
    tag = "ingest",
    operation_id = "segment_group",
    request_body = SegmentMessage,
    responses(SingleCallAnswers),
    security(("write_key" = []), ())
)]
pub async fn group(
    state: State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Accepted>> {
    single(state, headers, body, Kind::Group).await
}

/// A page view: `product.page` (`data.name`, `data.properties`).
#[utoipa::path(
    post,
    path = "/v1/page",
    tag = "ingest",
    operation_id = "segment_page",
    request_body = SegmentMessage,
    responses(SingleCallAnswers),
    security(("write_key" = []), ())
)]
pub async fn page(
    state: State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Accepted>> {
    single(state, headers, body, Kind::Page).await
}

/// A screen view of a mobile app: `product.page` with `data.screen: true`.
#[utoipa::path(
    post,
    path = "/v1/screen",
    tag = "ingest",
    operation_id = "segment_screen",
    request_body = SegmentMessage,
    responses(SingleCallAnswers),
    security(("write_key" = []), ())
)]
pub async fn screen(
    state: State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Accepted>> {
    single(state, headers, body, Kind::Screen).await
}

/// `previousId` and `userId` are the same user: whichever is linked to an account links the other.
#[utoipa::path(
    post,
    path = "/v1/alias",
    tag = "ingest",
    operation_id = "segment_alias",
    request_body = SegmentMessage,
    responses(SingleCallAnswers),
    security(("write_key" = []), ())
)]
pub async fn alias(
    state: State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Accepted>> {
    single(state, headers, body, Kind::Alias).await
}

/// One call (`/v1/track` …): any problem refuses it with a 400.
async fn single(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
    kind: Kind,
) -> ApiResult<Json<Accepted>> {
    let key_in_header = authorized_by_header(&state, &headers)?;
    let bytes = until_authorized(
        read_body(&headers, body, MAX_EVENT_BYTES, "32 KB per call").await,
        key_in_header,
    )?;
    let value = until_authorized(parse_json(&bytes), key_in_header)?;
    if !key_in_header {
        authorize_by_body(&state, &value)?;
    }
    let now = state.engine.now();
    let calls = message(&value, "", Some(kind), None, now)
        .map_err(|errors| invalid(format!("the {} call is not valid", kind_name(kind)), errors))?;
    state.engine.ingest_usage(calls).await?;
    Ok(Json(Accepted {
        success: true,
        rejected: Vec::new(),
    }))
}

/// The top level of a batch, each item left as its JSON text: its size is read from it and
/// it is parsed once, on its own.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBatch<'a> {
    #[serde(borrow)]
    batch: Vec<&'a RawValue>,
    #[serde(default)]
    context: Option<Map<String, Value>>,
    #[serde(default)]
    integrations: Option<Map<String, Value>>,
    #[serde(default)]
    sent_at: Option<String>,
    #[serde(default)]
    write_key: Option<String>,
}

/// The top level of a batch as a tree: what a batch that is not a [`RawBatch`] is checked
/// against, for errors that say where the problem is.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // Only its errors are used.
struct BatchBody {
    batch: Vec<Value>,
    #[serde(default)]
    context: Option<Map<String, Value>>,
    #[serde(default)]
    integrations: Option<Map<String, Value>>,
    #[serde(default)]
    sent_at: Option<String>,
}

/// Many calls at once (what the server-side clients send): each item has its `type`; the
/// batch's `context` and `integrations` merge into every item.
#[utoipa::path(
    post,
    path = "/v1/batch",
    tag = "ingest",
    operation_id = "segment_batch",
    request_body = SegmentBatch,
    responses(
        (status = 200, description = "The good items stored (or held, or duplicates); bad ones listed in `rejected`", body = Accepted),
        (status = 400, description = "Malformed JSON, a bad gzip body, or a limit crossed, named in the message: 500 KB per batch, 32 KB per event, 2,500 events; nothing was written", body = crate::openapi::ErrorBody),
        (status = 401, description = "No write key, or not the server's", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("write_key" = []), ())
)]
pub async fn batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Accepted>> {
    let key_in_header = authorized_by_header(&state, &headers)?;
    let bytes = until_authorized(
        read_body(&headers, body, MAX_BATCH_BYTES, "500 KB per batch").await,
        key_in_header,
    )?;
    let Ok(top) = serde_json::from_slice::<RawBatch>(&bytes) else {
        return Err(batch_error(&state, &bytes, key_in_header));
    };
    if !key_in_header {
        authorize(&state, top.write_key.as_deref())?;
    }
    if top.batch.len() > MAX_BATCH_EVENTS {
        return Err(too_large(format!(
            "the batch has {} events; the limit is {MAX_BATCH_EVENTS} events per batch",
            top.batch.len()
        )));
    }
    for (i, item) in top.batch.iter().enumerate() {
        let size = item.get().len();
        if size > MAX_EVENT_BYTES {
            return Err(too_large(format!(
                "batch[{i}] is {size} bytes; the limit is 32 KB per event"
            )));
        }
    }
    let now = state.engine.now();
    let shared = Shared {
        context: top.context.as_ref(),
        integrations: top.integrations.as_ref(),
        sent_at: top.sent_at.as_deref(),
    };
    let mut calls = Vec::with_capacity(top.batch.len());
    let mut rejected = Vec::new();
    for (i, item) in top.batch.iter().enumerate() {
        // Valid JSON already: the whole body parsed.
        let item: Value = serde_json::from_str(item.get()).unwrap_or(Value::Null);
        let item = shared.merge_into(item);
        match message(&item, &format!("batch[{i}]"), None, shared.sent_at, now) {
            Ok(mut these) => calls.append(&mut these),
            Err(mut errors) => rejected.append(&mut errors),
        }
    }
    if !rejected.is_empty() {
        metrics::counter!("onboard_usage_rejected_total").increment(rejected.len() as u64);
        tracing::warn!(
            n_rejected = rejected.len(),
            n_accepted = calls.len(),
            first.at = %rejected[0].at,
            first.message = %rejected[0].message,
            "usage batch: some events rejected, the others accepted"
        );
    }
    if !calls.is_empty() {
        state.engine.ingest_usage(calls).await?;
    }
    Ok(Json(Accepted {
        success: true,
        rejected,
    }))
}

/// Why a body is not a batch, checked the slow way: no valid write key when the body must
/// carry it (401, also when the body is no JSON to find it in), not JSON (400), or the
/// place where it differs from a batch (400).
fn batch_error(state: &AppState, bytes: &[u8], key_in_header: bool) -> ApiError {
    let value = match until_authorized(parse_json(bytes), key_in_header) {
        Ok(value) => value,
        Err(error) => return error,
    };
    if !key_in_header {
        if let Err(error) = authorize_by_body(state, &value) {
            return error;
        }
    }
    let at_fault = serde_path_to_error::deserialize::<_, BatchBody>(&value).err();
    let (at, message) = at_fault.map_or_else(
        || ("/".to_owned(), "not a batch".to_owned()),
        |e| (e.path().to_string(), e.inner().to_string()),
    );
    invalid(
        "the batch is not valid: expected {\"batch\": [...], \"context\"?, \"integrations\"?, \"sentAt\"?}",
        vec![input_error(&at, message)],
    )
}

/// What a batch's top level gives each item.
struct Shared<'a> {
    context: Option<&'a Map<String, Value>>,
    integrations: Option<&'a Map<String, Value>>,
    sent_at: Option<&'a str>,
}

impl Shared<'_> {
    /// The item with the batch's `context` and `integrations` merged in (the item's own
    /// keys win).
    fn merge_into(&self, mut item: Value) -> Value {
        if let Some(object) = item.as_object_mut() {
            for (field, shared) in [
                ("context", self.context),
                ("integrations", self.integrations),
            ] {
                let Some(shared) = shared else { continue };
                match object.get_mut(field) {
                    Some(Value::Object(own)) => {
                        for (key, value) in shared {
                            own.entry(key.clone()).or_insert_with(|| value.clone());
                        }
                    }
                    None | Some(Value::Null) => {
                        object.insert(field.to_owned(), Value::Object(shared.clone()));
                    }
                    // A wrong type is reported where it is.
                    Some(_) => {}
                }
            }
        }
        item
    }
}

/// An id: a string, or a number taken as its decimal text.
#[derive(Debug, Clone)]
struct Id(String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Id;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Id, E> {
                Ok(Id(v.to_owned()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// One message as Segment's clients send it; unknown fields are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    user_id: Option<Id>,
    #[serde(default)]
    anonymous_id: Option<Id>,
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    original_timestamp: Option<String>,
    #[serde(default)]
    sent_at: Option<String>,
    #[serde(default)]
    context: Option<Context>,
    #[serde(default)]
    #[allow(dead_code)]
    integrations: Option<Map<String, Value>>,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    properties: Option<Map<String, Value>>,
    #[serde(default)]
    traits: Option<Map<String, Value>>,
    #[serde(default)]
    group_id: Option<Id>,
    #[serde(default)]
    previous_id: Option<Id>,
}

/// The parts of `context` that matter here; the rest is ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Context {
    #[serde(default)]
    group_id: Option<Id>,
    #[serde(default)]
    traits: Option<Map<String, Value>>,
}

/// Turns one message into usage calls (an identify with both ids also aliases the
/// anonymous user to the user). `route` is the call's type when the route implies it;
/// `path` prefixes error locations (`batch[3]`).
fn message(
    value: &Value,
    path: &str,
    route: Option<Kind>,
    batch_sent_at: Option<&str>,
    now: Timestamp,
) -> Result<Vec<UsageCall>, Vec<InputError>> {
    let at = |field: &str| {
        if path.is_empty() {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        }
    };
    if !value.is_object() {
        let place = if path.is_empty() { "/" } else { path };
        return Err(vec![input_error(
            place,
            "expected a message object".to_owned(),
        )]);
    }
    let message: Message = serde_path_to_error::deserialize(value).map_err(|e| {
        vec![input_error(
            &at(&e.path().to_string()),
            e.inner().to_string(),
        )]
    })?;
    let mut errors = Vec::new();
    let kind = match (route, message.kind.as_deref()) {
        (Some(kind), _) => Some(kind),
        (None, Some(text)) => {
            let kind = Kind::parse(text);
            if kind.is_none() {
                errors.push(input_error(
                    &at("type"),
                    format!(
                        "`{text}` is not a message type: use identify, track, page, screen, group or alias"
                    ),
                ));
            }
            kind
        }
        (None, None) => {
            errors.push(input_error(
                &at("type"),
                "`type` is required in a batch item (identify, track, page, screen, group or alias)"
                    .to_owned(),
            ));
            None
        }
    };
    let id = |field: &str, value: &Option<Id>, errors: &mut Vec<InputError>| -> Option<String> {
        let text = value.as_ref()?.0.trim().to_owned();
        if text.is_empty() {
            return None;
        }
        if text.len() > MAX_ID {
            errors.push(input_error(
                &at(field),
                format!("`{field}` is longer than {MAX_ID} characters"),
            ));
            return None;
        }
        Some(text)
    };
    let user_id = id("userId", &message.user_id, &mut errors);
    let anonymous_id = id("anonymousId", &message.anonymous_id, &mut errors);
    let group_id = id("groupId", &message.group_id, &mut errors);
    let previous_id = id("previousId", &message.previous_id, &mut errors);
    if user_id.is_none() && anonymous_id.is_none() && kind != Some(Kind::Alias) {
        errors.push(input_error(
            &at("userId"),
            "no_user_anon_id: a message needs a `userId` or an `anonymousId`".to_owned(),
        ));
    }
    if let Some(message_id) = &message.message_id {
        if message_id.chars().count() >= MAX_MESSAGE_ID {
            errors.push(input_error(
                &at("messageId"),
                format!("`messageId` must be shorter than {MAX_MESSAGE_ID} characters"),
            ));
        }
    }
    let time = |field: &str, text: Option<&str>, errors: &mut Vec<InputError>| {
        let text = text?;
        match Timestamp::parse_rfc3339(text) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push(input_error(
                    &at(field),
                    format!("`{field}` is not an ISO-8601 time: {e}"),
                ));
                None
            }
        }
    };
    let original = match message.timestamp.as_deref() {
        Some(text) => time("timestamp", Some(text), &mut errors),
        None => time(
            "originalTimestamp",
            message.original_timestamp.as_deref(),
            &mut errors,
        ),
    };
    let sent_at = match message.sent_at.as_deref() {
        Some(text) => time("sentAt", Some(text), &mut errors),
        None => batch_sent_at.and_then(|text| Timestamp::parse_rfc3339(text).ok()),
    };
    match kind {
        Some(Kind::Track) if message.event.as_deref().is_none_or(|e| e.trim().is_empty()) => {
            errors.push(input_error(
                &at("event"),
                "a track call needs `event`".to_owned(),
            ));
        }
        Some(Kind::Group) if group_id.is_none() => {
            errors.push(input_error(
                &at("groupId"),
                "a group call needs `groupId`".to_owned(),
            ));
        }
        Some(Kind::Alias) => {
            if user_id.is_none() {
                errors.push(input_error(
                    &at("userId"),
                    "an alias call needs `userId`".to_owned(),
                ));
            }
            if previous_id.is_none() {
                errors.push(input_error(
                    &at("previousId"),
                    "an alias call needs `previousId`".to_owned(),
                ));
            }
        }
        _ => {}
    }
    let Some(kind) = kind else {
        return Err(errors);
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    if kind == Kind::Alias {
        return match (previous_id, user_id) {
            (Some(previous), Some(user)) => Ok(vec![UsageCall::Alias { previous, user }]),
            _ => Err(errors),
        };
    }
    // Segment's clock-skew correction: the client's clock may be off, but the time between
    // the event and the send is right.
    let at_time = match (original, sent_at) {
        (Some(original), Some(sent)) => {
            Timestamp(now.0.saturating_sub(sent.0.saturating_sub(original.0)))
        }
        (Some(original), None) => original,
        _ => now,
    };
    let user = match (&user_id, &anonymous_id) {
        (Some(user), _) => user.clone(),
        (None, Some(anonymous)) => format!("anon:{anonymous}"),
        (None, None) => return Err(errors),
    };
    let key = match &message.message_id {
        Some(id) if !id.trim().is_empty() => format!("segment:{id}"),
        _ => format!("segment:sha256:{}", content_hash(value)),
    };
    let context_group = message
        .context
        .as_ref()
        .and_then(|c| c.group_id.as_ref())
        .map(|g| g.0.trim().to_owned())
        .filter(|g| !g.is_empty());
    let email = match kind {
        Kind::Identify => message.traits.as_ref().and_then(email_of),
        _ => None,
    }
    .or_else(|| {
        message
            .context
            .as_ref()
            .and_then(|c| c.traits.as_ref())
            .and_then(email_of)
    });
    let mut data = Map::new();
    data.insert("user".to_owned(), Value::from(user.clone()));
    if let Some(id) = &message.message_id {
        data.insert("message_id".to_owned(), Value::from(id.clone()));
    }
    let properties = || Value::Object(message.properties.clone().unwrap_or_default());
    let traits = || Value::Object(message.traits.clone().unwrap_or_default());
    let (event_type, group, domain) = match kind {
        Kind::Track => {
            data.insert("event".to_owned(), Value::from(message.event.clone()));
            data.insert("properties".to_owned(), properties());
            (types::PRODUCT_TRACK, context_group.clone(), None)
        }
        Kind::Page | Kind::Screen => {
            if let Some(name) = &message.name {
                data.insert("name".to_owned(), Value::from(name.clone()));
            }
            if let Some(category) = &message.category {
                data.insert("category".to_owned(), Value::from(category.clone()));
            }
            data.insert("properties".to_owned(), properties());
            if kind == Kind::Screen {
                data.insert("screen".to_owned(), Value::Bool(true));
            }
            (types::PRODUCT_PAGE, context_group.clone(), None)
        }
        Kind::Identify => {
            data.insert("traits".to_owned(), traits());
            (types::PRODUCT_IDENTIFY, context_group.clone(), None)
        }
        Kind::Group => {
            data.insert("group".to_owned(), Value::from(group_id.clone()));
            data.insert("traits".to_owned(), traits());
            let domain = message.traits.as_ref().and_then(|t| {
                ["domain", "website"]
                    .iter()
                    .filter_map(|field| t.get(*field).and_then(Value::as_str))
                    .find_map(onboard_core::crm::clean_domain)
            });
            (types::PRODUCT_GROUP, group_id.clone(), domain)
        }
        Kind::Alias => return Err(errors),
    };
    if let Some(group) = &context_group {
        data.insert(
            "context".to_owned(),
            serde_json::json!({ "groupId": group }),
        );
    }
    let Ok(event_type) = EventType::parse(event_type) else {
        return Err(errors);
    };
    let mut calls = vec![UsageCall::Event(UsageEvent {
        key,
        kind: event_type,
        user: user.clone(),
        at: at_time,
        data: Value::Object(data),
        email,
        group,
        domain,
    })];
    if let (Kind::Identify, Some(_), Some(anonymous)) = (kind, &user_id, &anonymous_id) {
        calls.push(UsageCall::Alias {
            previous: format!("anon:{anonymous}"),
            user,
        });
    }
    Ok(calls)
}

/// A person's email in traits: `email`, trimmed, lower case, when it looks like one.
fn email_of(traits: &Map<String, Value>) -> Option<String> {
    let email = traits.get("email")?.as_str()?.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    (!local.is_empty() && domain.contains('.') && !email.contains(char::is_whitespace))
        .then_some(email)
}

/// The dedupe key of a message without messageId: a hash of its content, without the
/// fields a resend changes (`sentAt`, `writeKey`).
fn content_hash(value: &Value) -> String {
    let mut value = value.clone();
    if let Some(object) = value.as_object_mut() {
        object.remove("sentAt");
        object.remove("writeKey");
        object.remove("receivedAt");
    }
    let digest = Sha256::digest(value.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Track => "track",
        Kind::Identify => "identify",
        Kind::Group => "group",
        Kind::Page => "page",
        Kind::Screen => "screen",
        Kind::Alias => "alias",
    }
}

fn input_error(at: &str, message: String) -> InputError {
    InputError {
        at: at.to_owned(),
        message,
    }
}

fn invalid(message: impl Into<String>, details: Vec<InputError>) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "invalid",
        message: message.into(),
        details,
    }
}

fn too_large(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "too_large", message)
}

fn parse_json(bytes: &[u8]) -> ApiResult<Value> {
    crate::extract::parse_json(bytes)
}

/// Whether the Authorization header carries the write key: `Ok(true)` for Basic with the
/// key as user (any password), `Ok(false)` when the key must be in the body (no header, or a
/// bearer token), 401 for a Basic header with another key, or when no key is configured.
pub(crate) fn authorized_by_header(state: &AppState, headers: &HeaderMap) -> ApiResult<bool> {
    let Some(key) = state.write_key.as_ref() else {
        return Err(ApiError::unauthorized(
            "the usage intake is off: the server has no write key (ONBOARD_WRITE_KEY)",
        ));
    };
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(false);
    };
    let value = value.to_str().unwrap_or("");
    let Some((scheme, credentials)) = value.split_once(' ') else {
        return Err(bad_key());
    };
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(false);
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad_key());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(bad_key)?;
    // The password is ignored (RudderStack's clients send a literal `""`).
    let user = decoded
        .split_once(':')
        .map_or(decoded.as_str(), |(user, _)| user);
    if key.matches(user) {
        Ok(true)
    } else {
        Err(bad_key())
    }
}

/// What reading a body gave, while the caller is not yet authorized: a body whose write key
/// is still to be found in it is refused as unauthorized (401) whatever else is wrong with
/// it, so nobody learns about the intake's checks without the key.
fn until_authorized<T>(result: ApiResult<T>, key_in_header: bool) -> ApiResult<T> {
    if key_in_header {
        result
    } else {
        result.map_err(|_| bad_key())
    }
}

/// Checks `writeKey` in the body.
fn authorize_by_body(state: &AppState, body: &Value) -> ApiResult<()> {
    authorize(state, body.get("writeKey").and_then(Value::as_str))
}

/// Checks the `writeKey` a body gave.
fn authorize(state: &AppState, given: Option<&str>) -> ApiResult<()> {
    match (state.write_key.as_ref(), given) {
        (Some(key), Some(given)) if key.matches(given) => Ok(()),
        _ => Err(bad_key()),
    }
}

fn bad_key() -> ApiError {
    ApiError::unauthorized(
        "a valid write key is required: give it as the HTTP Basic user (password empty), or as `writeKey` in the body",
    )
}

/// Reads the body (gunzipped when `Content-Encoding: gzip`), refusing more than `limit`
/// bytes with a 400 that names the limit.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize, named: &str) -> ApiResult<Bytes> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let over = || too_large(format!("the body is larger than the limit of {named}"));
    match encoding.as_str() {
        "" | "identity" => axum::body::to_bytes(body, limit).await.map_err(|_| over()),
        "gzip" | "x-gzip" => {
            // A compressed body is at most as large as the limit it unpacks to, give or take
            // gzip's framing; the unpacked size is checked as it is read.
            let compressed = axum::body::to_bytes(body, limit + 1024)
                .await
                .map_err(|_| over())?;
            let mut unpacked = Vec::new();
            let read = flate2::read::GzDecoder::new(compressed.as_ref())
                .take(u64::try_from(limit).unwrap_or(u64::MAX) + 1)
                .read_to_end(&mut unpacked);
            match read {
                Err(e) => Err(ApiError::bad_request(format!(
                    "the body says Content-Encoding: gzip but does not unpack: {e}"
                ))),
                Ok(n) if n > limit => Err(over()),
                Ok(_) => Ok(Bytes::from(unpacked)),
            }
        }
        other => Err(ApiError::bad_request(format!(
            "Content-Encoding `{other}` is not supported: send gzip or no encoding"
        ))),
    }
}
