//! The OpenAPI 3.1 document of the HTTP surface, served without a token at
//! `GET /api/openapi.json` (it holds no data).
//!
//! The operations of `handlers/` are described by `#[utoipa::path]` on the handlers
//! themselves, their bodies by the `ToSchema` types they serialize. What lives here: the
//! common error body and the reusable error answers, the security schemes, the description
//! of the routes whose handlers live in `hooks/` and `academy/` (documentation-only
//! functions below), and the `#[derive(OpenApi)]` that collects everything. The web tests
//! compare the document's operations with [`crate::router::ROUTES`] and its schemas with
//! real answers.

use crate::error::{ApiError, ApiResult};
use crate::handlers::{accounts, clock, endpoints, events, health, mailbox, messages, projects};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use std::sync::OnceLock;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};

/// The document: every operation of [`crate::router::ROUTES`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Onboard",
        description = "Onboard's HTTP surface: the JSON API (`/api/...`, bearer admin token), \
            the CRM webhooks (`/hooks/...`, each with its sender's authentication), the \
            Academy's sign-in pages, health and metrics. Every 4xx and 5xx answer of the JSON \
            API and the hooks is an `ErrorBody`, and so are the answers to an unknown path (404) \
            and to a method a path does not take (405)."
    ),
    paths(
        events::append,
        events::list,
        messages::list,
        messages::one,
        messages::retry,
        endpoints::list,
        endpoints::enable,
        accounts::list,
        accounts::one,
        accounts::traces,
        accounts::trace,
        accounts::alerts,
        accounts::close_alert,
        accounts::set_persona,
        projects::list,
        projects::create,
        projects::launch,
        projects::complete,
        projects::complete_task,
        projects::reopen_task,
        projects::reassign_task,
        projects::comment_task,
        projects::brief,
        projects::team_tasks,
        projects::complete_team_task,
        crate::handlers::autopilot::account,
        crate::handlers::autopilot::approvals,
        crate::handlers::autopilot::decide_approval,
        mailbox::list,
        mailbox::one,
        clock::now,
        clock::advance,
        document,
        hubspot_hook,
        pipedrive_hook,
        deals_hook,
        academy_home,
        academy_sign_in_page,
        academy_sign_in,
        academy_new_link,
        academy_code_form,
        academy_send_code,
        academy_verify_code,
        academy_sign_out,
        academy_module,
        academy_complete_module,
        space_home,
        space_complete_task,
        space_comment,
        space_invite,
        space_upload,
        space_book_kickoff,
        space_download,
        crate::handlers::files::list,
        crate::console::docs::console_portfolio,
        crate::console::docs::console_account,
        crate::console::docs::console_close_alert,
        crate::console::docs::console_alerts,
        crate::console::docs::console_autopilot,
        crate::console::docs::console_decide_approval,
        crate::console::docs::console_outbox,
        crate::console::docs::console_retry,
        crate::console::docs::console_program,
        crate::console::docs::console_audit_form,
        crate::console::docs::console_audit,
        crate::console::docs::console_sign_in_page,
        crate::console::docs::console_sign_in,
        crate::console::docs::console_sign_in_link,
        crate::console::docs::console_sign_out,
        crate::console::docs::console_password_page,
        crate::console::docs::console_set_password,
        crate::ingest::track,
        crate::ingest::identify,
        crate::ingest::group,
        crate::ingest::page,
        crate::ingest::screen,
        crate::ingest::alias,
        crate::ingest::batch,
        crate::nudges::list,
        crate::nudges::ack,
        crate::nudges::sdk,
        crate::nudges::explain,
        health::healthz,
        health::readyz,
        health::metrics,
        crate::handlers::usage::account_health,
        crate::handlers::usage::time_to_value,
    ),
    components(
        schemas(ErrorBody),
        responses(BadRequest, Unauthorized, TooLarge, Unavailable, Internal)
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "events", description = "The event log: custom events in, the log out"),
        (name = "messages", description = "The outbox, with each message's attempts"),
        (name = "endpoints", description = "Outbound Slack and webhook endpoints (configured on the server) and whether each is disabled"),
        (name = "accounts", description = "Accounts as the processor sees them"),
        (name = "projects", description = "Projects from templates, their tasks, and team tasks; changes go in as events"),
        (name = "autopilot", description = "Accounts the engine runs alone: their segment, reminders, progress posts, escalations and log; the approval queue"),
        (name = "mailbox", description = "The development mailbox (when no SMTP server is set)"),
        (name = "clock", description = "The engine's clock; moving it needs `--clock manual`"),
        (name = "hooks", description = "Won deals from CRMs; each hook answers 404 until its secret is configured"),
        (name = "academy", description = "The Academy's scanner-safe sign-in, the learner's journey and module pages (HTML)"),
        (name = "space", description = "The customer's Shared Space: the plan, their tasks, goals and activity; marking tasks done and commenting, files, booking the kickoff call (HTML, the Academy's session)"),
        (name = "console", description = "The team's console: portfolio, accounts, alerts, outbox, program, audit (HTML, team sign-in)"),
        (name = "usage", description = "Product-usage health, Aha moments and time to value"),
        (name = "ingest", description = "Product usage, compatible with Segment's HTTP Tracking API: events of the product's users, linked to accounts"),
        (name = "nudges", description = "In-app nudges: polled and acknowledged by the product, shown by its script, explained to the team"),
        (name = "ops", description = "Health, readiness, metrics and this document"),
    )
)]
pub struct ApiDoc;

// Names of the security schemes, as the operations' `security(...)` cite them.
const BEARER: &str = "bearer";
const HUBSPOT_SIGNATURE: &str = "hubspot_signature";
const PIPEDRIVE_BASIC: &str = "pipedrive_basic";
const STANDARD_WEBHOOKS: &str = "standard_webhooks";
const ACADEMY_SESSION: &str = "academy_session";
const WRITE_KEY: &str = "write_key";
const USER_TOKEN: &str = "user_token";

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The admin token: `ONBOARD_ADMIN_TOKEN`, else `<data-dir>/admin-token`",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            HUBSPOT_SIGNATURE,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                crate::hooks::hubspot::SIGNATURE_HEADER,
                "HubSpot's v3 signature: base64 of HMAC-SHA256 keyed with the app's client secret \
                 (`ONBOARD_HUBSPOT_CLIENT_SECRET`) over method + public URL + path and query + \
                 body + `X-HubSpot-Request-Timestamp`",
            ))),
        );
        components.add_security_scheme(
            PIPEDRIVE_BASIC,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "The `user:password` set on the Pipedrive webhook \
                         (`ONBOARD_PIPEDRIVE_BASIC_AUTH`)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            STANDARD_WEBHOOKS,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                crate::hooks::deals::SIGNATURE_HEADER,
                "Standard Webhooks 1.0.0: space-separated `v1,<base64>` entries, each \
                 HMAC-SHA256 keyed with the base64-decoded bytes after `whsec_` \
                 (`ONBOARD_DEALS_WEBHOOK_SECRET`) over `{webhook-id}.{webhook-timestamp}.{body}`; \
                 one matching entry is enough",
            ))),
        );
        components.add_security_scheme(
            WRITE_KEY,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "The usage intake's write key (`ONBOARD_WRITE_KEY`) as the user, the \
                         password empty (or anything: it is ignored); or `writeKey` in the body",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            USER_TOKEN,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Onboard-User-Token",
                "A product user's token for browsers: the hex HMAC-SHA256 of the userId keyed \
                 with the nudge secret (`ONBOARD_NUDGE_SECRET`), computed by the product's \
                 server; also `userToken` in the query or body",
            ))),
        );
        components.add_security_scheme(
            "console_session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::console::SESSION_COOKIE,
                "A team member's console session, opened by a password or an emailed link",
            ))),
        );
        components.add_security_scheme(
            ACADEMY_SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::academy::SESSION_COOKIE,
                "The customer's session opened by `POST /academy/sign-in` (`Path=/`): the Academy's and the Shared Space's",
            ))),
        );
    }
}

/// The document as JSON, built once.
pub fn document_json() -> ApiResult<&'static str> {
    static JSON: OnceLock<Result<String, String>> = OnceLock::new();
    JSON.get_or_init(|| ApiDoc::openapi().to_json().map_err(|e| e.to_string()))
        .as_deref()
        .map_err(ApiError::internal)
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "ops",
    operation_id = "openapi",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this server", body = Object),
        (status = 500, response = Internal),
    )
)]
pub async fn document() -> ApiResult<impl IntoResponse> {
    Ok(([(CONTENT_TYPE, "application/json")], document_json()?))
}

// ------------------------------------------------------------------------------ errors

/// The body of every 4xx and 5xx answer of the JSON API and the hooks.
#[derive(ToSchema)]
#[schema(example = json!({"error": {"code": "invalid",
    "message": "1 problem(s) in the events; nothing was written",
    "details": [{"at": "/0/type", "message": "`type` is required"}]}}))]
#[allow(dead_code)] // Describes `crate::error::ApiError`'s body.
pub struct ErrorBody {
    error: ErrorInner,
}

#[derive(ToSchema)]
#[schema(as = Error)]
#[allow(dead_code)]
struct ErrorInner {
    code: ErrorCode,
    /// What went wrong, for a human; a 5xx says no more than "internal error".
    message: String,
    /// Each problem of the input and where it is; absent when there is none.
    #[schema(required = false)]
    details: Vec<ErrorDetail>,
}

/// One problem of the input.
#[derive(ToSchema)]
#[allow(dead_code)]
struct ErrorDetail {
    /// Where: a JSON pointer into the body (`/0/type`), a field path (`data.contacts[2].email`)
    /// or a field name.
    at: String,
    message: String,
}

/// The kind of error, for programs.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum ErrorCode {
    BadRequest,
    BadBody,
    Invalid,
    Unauthorized,
    NotFound,
    MethodNotAllowed,
    Conflict,
    TooLarge,
    Unavailable,
    Internal,
}

/// The request cannot be used: an unknown, repeated or out-of-range query parameter, or a
/// body that is empty, not JSON, or not of the expected shape.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct BadRequest(ErrorBody);

/// No `Authorization: Bearer <admin token>`, or not the admin token.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct Unauthorized(ErrorBody);

/// The body is larger than the endpoint accepts (4 MiB or 1,000 events for
/// `POST /api/events`, 1 MiB for the hooks, 64 KiB elsewhere).
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct TooLarge(ErrorBody);

/// The server is shutting down, or its database does not answer; try again.
#[derive(ToResponse)]
#[response(headers(("retry-after" = u32, description = "Seconds to wait: 1")))]
#[allow(dead_code)]
pub struct Unavailable(ErrorBody);

/// Something failed inside; the cause is in the server's log, not in the answer.
#[derive(ToResponse)]
#[allow(dead_code)]
pub struct Internal(ErrorBody);

// ------------------------------------------------------------------------------- hooks
// The handlers are in `crate::hooks`; these functions only carry their description.

/// What a hook did with a request.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes `crate::hooks::answer`.
pub struct HookAnswer {
    /// Events that were new in the log.
    accepted: usize,
    /// Events already in the log (a redelivery): nothing changed.
    duplicates: usize,
    /// Parts of the request that do not start an onboarding (another event type, a deal
    /// that did not become won, …).
    ignored: usize,
}

/// An id sent as an integer or a string (1 to 100 characters).
fn id_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Integer))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(crate::hooks::MAX_ID_LEN)),
        )
        .into()
}

/// One event of a HubSpot webhook batch. Deals created, or moved into one of the
/// program's `crm.hubspot_won_stages`, become a `hubspot.deal` event; the rest is ignored.
#[derive(ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct HubSpotEvent {
    #[schema(schema_with = id_schema)]
    event_id: String,
    #[schema(schema_with = id_schema, required = false)]
    subscription_id: String,
    /// The HubSpot account (an integer, or a string of digits).
    portal_id: i64,
    /// Epoch milliseconds.
    occurred_at: i64,
    /// `deal.creation`, `deal.propertyChange`, `object.creation`, `object.propertyChange`, …
    #[schema(example = "deal.propertyChange")]
    subscription_type: String,
    #[schema(schema_with = id_schema)]
    object_id: String,
    /// `0-3` for deals in `object.*` events.
    #[schema(required = false)]
    object_type_id: String,
    #[schema(required = false, example = "dealstage")]
    property_name: String,
    #[schema(required = false, example = "closedwon")]
    property_value: String,
    #[schema(required = false)]
    change_source: String,
    #[schema(required = false)]
    attempt_number: u32,
}

/// A Pipedrive deal webhook, v2 (`meta.version` `"2.0"`: `meta`, `data`, `previous`) or
/// legacy v1 (`v: 1`: `event`, `current`, `previous`). A deal whose `status` just became
/// `won` becomes one `deal.won` event; everything else is answered 200 and ignored.
#[derive(ToSchema)]
#[schema(example = json!({
    "meta": {"action": "change", "entity": "deal", "entity_id": "746", "version": "2.0",
             "company_id": "6001", "timestamp": "2026-11-21T09:13:19Z"},
    "data": {"id": 746, "title": "ACME – Pro", "status": "won", "value": 12000,
             "org_id": 12, "won_time": "2026-11-21T09:13:19Z"},
    "previous": {"status": "open"}}))]
#[allow(dead_code)]
pub struct PipedriveWebhook {
    /// v2: `entity`, `action`, `entity_id`, `company_id`, `timestamp`, `version`.
    #[schema(required = false, value_type = Object)]
    meta: (),
    /// v2: the deal after the change.
    #[schema(required = false, value_type = Object)]
    data: (),
    /// The fields that changed, before the change.
    #[schema(required = false, value_type = Object)]
    previous: (),
    /// v1: `1`.
    #[schema(required = false)]
    v: i64,
    /// v1: `updated.deal`.
    #[schema(required = false)]
    event: String,
    /// v1: the deal after the change (`person_id` as an object carries the contact).
    #[schema(required = false, value_type = Object)]
    current: (),
}

/// A Standard Webhooks delivery of `POST /hooks/deals` (minified JSON, at most 1 MiB).
/// Only `type: "deal.won"` is acted on; for it `data.deal.id`, `data.account.name` and each
/// contact's `email` are required. The account key is `account.domain` (lower case,
/// without `www.`), else `deals-company-{account.id}`, else `deals-deal-{deal.id}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DealsWebhook {
    #[serde(rename = "type")]
    #[schema(example = "deal.won")]
    kind: String,
    /// When the deal was won (RFC 3339); else the time it arrives.
    #[schema(format = DateTime)]
    timestamp: Option<String>,
    /// Required for `deal.won`.
    #[schema(required = false)]
    data: DealsData,
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct DealsData {
    deal: DealsDeal,
    account: DealsAccount,
    /// At most 1,000.
    #[schema(required = false)]
    contacts: Vec<DealsContact>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct DealsDeal {
    #[schema(schema_with = id_schema)]
    id: String,
    #[schema(required = false)]
    name: String,
    #[schema(required = false)]
    plan: String,
    #[schema(required = false)]
    seats: u32,
    #[schema(required = false)]
    amount: f64,
    /// The deal owner; the CSM is chosen from it when the program maps it.
    #[schema(required = false, format = Email)]
    owner_email: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct DealsAccount {
    name: String,
    #[schema(required = false, example = "acme.example")]
    domain: String,
    /// The CRM's company id.
    #[schema(schema_with = id_schema, required = false)]
    id: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
struct DealsContact {
    #[schema(format = Email)]
    email: String,
    #[schema(required = false)]
    name: String,
    #[schema(required = false)]
    title: String,
    #[schema(schema_with = id_schema, required = false)]
    id: String,
    /// Any other properties, for segmentation and templates.
    #[schema(required = false, value_type = Object)]
    properties: (),
}

/// HubSpot's push webhooks (v3 signatures only).
#[utoipa::path(
    post,
    path = "/hooks/hubspot",
    tag = "hooks",
    operation_id = "hubspot_hook",
    params(
        ("X-HubSpot-Request-Timestamp" = i64, Header, description = "Epoch milliseconds; refused more than 5 minutes from the server's wall clock"),
    ),
    request_body(content = Vec<HubSpotEvent>, description = "A batch of at most 100 events"),
    responses(
        (status = 200, description = "Stored (or ignored); HubSpot does not retry", body = HookAnswer),
        (status = 400, description = "Not JSON, not an array, more than 100 events, or bad fields (each in `details`, e.g. `[2].portalId`); nothing was written", body = ErrorBody),
        (status = 401, description = "Missing, stale or wrong signature", body = ErrorBody),
        (status = 404, description = "The hook is not configured (`ONBOARD_HUBSPOT_CLIENT_SECRET`)", body = ErrorBody),
        (status = 413, response = TooLarge),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security(("hubspot_signature" = []))
)]
#[allow(dead_code)]
fn hubspot_hook() {}

/// Pipedrive deal webhooks, v2 and legacy v1, with HTTP Basic credentials.
#[utoipa::path(
    post,
    path = "/hooks/pipedrive",
    tag = "hooks",
    operation_id = "pipedrive_hook",
    request_body = PipedriveWebhook,
    responses(
        (status = 200, description = "Stored, a duplicate, or ignored", body = HookAnswer),
        (status = 400, description = "Not JSON, or a won deal without an id; nothing was written", body = ErrorBody),
        (status = 401, description = "Missing or wrong credentials", body = ErrorBody,
            headers(("www-authenticate" = String, description = "`Basic realm=\"onboard\"`"))),
        (status = 404, description = "The hook is not configured (`ONBOARD_PIPEDRIVE_BASIC_AUTH`)", body = ErrorBody),
        (status = 413, response = TooLarge),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security(("pipedrive_basic" = []))
)]
#[allow(dead_code)]
fn pipedrive_hook() {}

/// Won deals from any CRM, signed with Standard Webhooks.
#[utoipa::path(
    post,
    path = "/hooks/deals",
    tag = "hooks",
    operation_id = "deals_hook",
    params(
        ("webhook-id" = String, Header, description = "The message id, the same on every retry"),
        ("webhook-timestamp" = i64, Header, description = "Unix seconds of this attempt; refused more than 300 s from the server's wall clock"),
    ),
    request_body = DealsWebhook,
    responses(
        (status = 200, description = "`accepted: 1` once the deal is stored; `duplicates: 1` for the same deal again; `ignored: 1` for another `type`", body = HookAnswer),
        (status = 400, description = "Not JSON, or bad fields (every one in `details`, e.g. `data.contacts[2].email`); nothing was written", body = ErrorBody),
        (status = 401, description = "A missing, wrong or stale signature", body = ErrorBody),
        (status = 404, description = "The hook is not configured (`ONBOARD_DEALS_WEBHOOK_SECRET`)", body = ErrorBody),
        (status = 413, response = TooLarge),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security(("standard_webhooks" = []))
)]
#[allow(dead_code)]
fn deals_hook() {}

// ----------------------------------------------------------------------------- academy
// The handlers are in `crate::academy`; these functions only carry their description.

/// The form the sign-in page posts.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes `crate::academy::TokenParam`.
pub struct SignInForm {
    /// The token of the emailed link.
    #[schema(max_length = 200)]
    token: String,
}

/// The learner's page: their journey when signed in, else how to sign in.
#[utoipa::path(
    get,
    path = "/academy",
    tag = "academy",
    operation_id = "academy_home",
    responses(
        (status = 200, description = "The learner's journey, or the signed-out page", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
    ),
    security((), ("academy_session" = []))
)]
#[allow(dead_code)]
fn academy_home() {}

/// The page a magic link opens: a button that posts the token, and nothing spent (mail
/// scanners open links).
#[utoipa::path(
    get,
    path = "/academy/sign-in",
    tag = "academy",
    operation_id = "academy_sign_in_page",
    params(("token" = String, Query, description = "The token of the emailed link")),
    responses(
        (status = 200, description = "The sign-in button", body = String, content_type = "text/html",
            headers(("cache-control" = String, description = "`no-store`"), ("referrer-policy" = String, description = "`no-referrer`"))),
        (status = 400, description = "No token, one longer than 200 characters, or a query string that cannot be read: the link-not-valid page", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
    )
)]
#[allow(dead_code)]
fn academy_sign_in_page() {}

/// Spends the token (single use, expiring) and opens a learner session.
#[utoipa::path(
    post,
    path = "/academy/sign-in",
    tag = "academy",
    operation_id = "academy_sign_in",
    request_body(content = SignInForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in; on to `/academy`",
            headers(
                ("location" = String, description = "`/academy`"),
                ("set-cookie" = String, description = "The session: `onboard_academy=…; Path=/; HttpOnly; SameSite=Lax` (and `Secure` when the public URL is https), for 14 days"),
            )),
        (status = 400, description = "The token is expired, used, replaced by a newer one or unknown, or the body is not the page's form (wrong type, too large, malformed): the link-not-valid page; nothing is spent", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
#[allow(dead_code)]
fn academy_sign_in() {}

/// The form that asks for a new sign-in link.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes `crate::academy::EmailParam`.
pub struct NewLinkForm {
    /// The person's email address (trimmed, compared in lower case).
    #[schema(max_length = 254)]
    email: String,
}

/// Asks for a new sign-in link by email address. Logs `academy.link_requested` in every
/// account where that address was ever sent a link (one request per person per 5 minutes
/// gets through), for the program's rules to answer; the page is the same whether the
/// address is known or not.
#[utoipa::path(
    post,
    path = "/academy/sign-in/new",
    tag = "academy",
    operation_id = "academy_new_link",
    request_body(content = NewLinkForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The check-your-email page, whatever the address", body = String, content_type = "text/html"),
        (status = 400, description = "Not an email address, or not the page's form: the page asks again; nothing is logged", body = String, content_type = "text/html"),
        (status = 429, description = "Too many requests for this address (5 per 15 minutes) or from this client (20 per 15 minutes), links and codes together: a page that says when to try again (the error shape, code `rate_limited`, to a client that accepts only JSON); nothing is logged",
            body = String, content_type = "text/html",
            headers(("retry-after" = u64, description = "Seconds until a request may go ahead"))),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
#[allow(dead_code)]
fn academy_new_link() {}

/// The form to sign in with a one-time code: email address and code.
#[utoipa::path(
    get,
    path = "/academy/sign-in/code",
    tag = "academy",
    operation_id = "academy_code_form",
    params(("email" = Option<String>, Query, description = "Fills the address field")),
    responses(
        (status = 200, description = "The form (with the session's CSRF token when the browser has a session)", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
    )
)]
#[allow(dead_code)]
fn academy_code_form() {}

/// Emails a one-time sign-in code (six digits, made at delivery, single use, 15 minutes, a
/// newer code revokes the older) to the address, in every account where it was sent a
/// sign-in link; the page is the same whether the address is known or not.
#[utoipa::path(
    post,
    path = "/academy/sign-in/code",
    tag = "academy",
    operation_id = "academy_send_code",
    request_body(content = NewLinkForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The code form, saying a code is on its way, whatever the address", body = String, content_type = "text/html"),
        (status = 400, description = "No email address or not one: the form again with the error next to the field; nothing is sent", body = String, content_type = "text/html"),
        (status = 429, description = "Over the limits of link and code requests (as for `/academy/sign-in/new`): a page that says when to try again; nothing is sent",
            body = String, content_type = "text/html",
            headers(("retry-after" = u64, description = "Seconds until a request may go ahead"))),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
#[allow(dead_code)]
fn academy_send_code() {}

/// The form that signs in with a code.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes `crate::academy::code::CodeForm`.
pub struct CodeForm {
    /// The person's email address (trimmed, compared in lower case).
    #[schema(max_length = 254)]
    email: String,
    /// The six digits of the email (spaces and dashes ignored).
    code: String,
    /// The session's CSRF token, required when the browser has a session.
    csrf: Option<String>,
}

/// Signs in with an emailed one-time code. A code works once, for 15 minutes; five wrong
/// tries kill it.
#[utoipa::path(
    post,
    path = "/academy/sign-in/code/verify",
    tag = "academy",
    operation_id = "academy_verify_code",
    request_body(content = CodeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in; on to `/academy` (the cookie as for `/academy/sign-in`)",
            headers(
                ("location" = String, description = "`/academy`"),
                ("set-cookie" = String, description = "The session: `onboard_academy=…; Path=/; HttpOnly; SameSite=Lax` (and `Secure` when the public URL is https), for 14 days"),
            )),
        (status = 400, description = "A field missing or malformed: the form again with the error next to the field; no try is counted", body = String, content_type = "text/html"),
        (status = 401, description = "The code is wrong, expired, used, replaced by a newer one, dead after five wrong tries, or the address has none: the form again with the error next to the code", body = String, content_type = "text/html"),
        (status = 403, description = "The browser has a session and the form lacks its CSRF token: the form again; nothing is checked", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    )
)]
#[allow(dead_code)]
fn academy_verify_code() {}

/// The sign-out form.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes `crate::academy::CsrfForm`.
pub struct SignOutForm {
    /// The session's CSRF token (every page of a signed-in learner carries it).
    csrf: String,
}

/// Ends the learner session, if any (with the session's CSRF token).
#[utoipa::path(
    post,
    path = "/academy/sign-out",
    tag = "academy",
    operation_id = "academy_sign_out",
    request_body(content = SignOutForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed out (or had no session); on to `/academy`",
            headers(
                ("location" = String, description = "`/academy`"),
                ("set-cookie" = String, description = "Clears the session cookie"),
            )),
        (status = 403, description = "The browser has a session and the form lacks its CSRF token: still signed in, a page with a fresh sign-out button", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
    ),
    security((), ("academy_session" = []))
)]
#[allow(dead_code)]
fn academy_sign_out() {}

/// One module of the learner's journey (core path or library): its Markdown as sanitised
/// HTML, its status, the checkpoint question if it has one, the form that completes it, and
/// links to the previous and next modules of the core path.
#[utoipa::path(
    get,
    path = "/academy/modules/{slug}",
    tag = "academy",
    operation_id = "academy_module",
    params(("slug" = String, Path, description = "The module's file stem, e.g. `01-welcome`")),
    responses(
        (status = 200, description = "The module page", body = String, content_type = "text/html"),
        (status = 401, description = "Not signed in: the signed-out page", body = String, content_type = "text/html"),
        (status = 404, description = "No module of that name in the learner's journey", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
    ),
    security(("academy_session" = []))
)]
#[allow(dead_code)]
fn academy_module() {}

/// The form of a module page.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes `crate::academy::learn::CompleteForm`.
pub struct CompleteModuleForm {
    /// The session's CSRF token, as the module page gives it.
    csrf: String,
    /// The number (from 1) of the option chosen, when the module has a checkpoint.
    #[schema(required = false)]
    answer: u32,
}

/// Marks a module of the learner's journey complete: logs `module.completed` (`data.email`,
/// `data.journey`, `data.module`, and `data.answer` for a checkpoint) once per person and
/// module; completing it again changes nothing.
#[utoipa::path(
    post,
    path = "/academy/modules/{slug}/complete",
    tag = "academy",
    operation_id = "academy_complete_module",
    params(("slug" = String, Path, description = "The module's file stem, e.g. `01-welcome`")),
    request_body(content = CompleteModuleForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Completed (or already complete); back to the module page",
            headers(("location" = String, description = "`/academy/modules/{slug}`"))),
        (status = 400, description = "Not the page's form: the form-expired page; nothing is logged", body = String, content_type = "text/html"),
        (status = 401, description = "Not signed in: the signed-out page", body = String, content_type = "text/html"),
        (status = 403, description = "The CSRF token is missing or not this session's: the form-expired page; nothing is logged", body = String, content_type = "text/html"),
        (status = 404, description = "No module of that name in the learner's journey", body = String, content_type = "text/html"),
        (status = 422, description = "The checkpoint is unanswered or answered wrong: the module page says so; nothing is logged", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
        (status = 503, response = Unavailable),
    ),
    security(("academy_session" = []))
)]
#[allow(dead_code)]
fn academy_complete_module() {}

// ------------------------------------------------------------------------ shared space
// The handlers are in `crate::space`; these functions only carry their description.

/// The signed-in person's Shared Space: the account's launched projects with their visible
/// tasks (snoozed ones stay hidden), the person's own open tasks first, goal progress and the
/// latest activity. Signed out: how to get in, with the form that emails a new link.
#[utoipa::path(
    get,
    path = "/space",
    tag = "space",
    operation_id = "space_home",
    responses(
        (status = 200, description = "The Space, or the way-in page when signed out", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
    ),
    security((), ("academy_session" = []))
)]
#[allow(dead_code)]
fn space_home() {}

/// The form that marks a task done.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the Space's task form.
pub struct SpaceTaskForm {
    /// The session's CSRF token, as the Space page gives it.
    csrf: String,
}

/// The form of a comment on a task.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the Space's comment form.
pub struct SpaceCommentForm {
    /// The session's CSRF token, as the Space page gives it.
    csrf: String,
    /// The comment: 1 to 2,000 characters after trimming.
    text: String,
}

/// Marks an open customer task of the person's account done, as the API does (`by` is the
/// person's email), then back to the Space.
#[utoipa::path(
    post,
    path = "/space/projects/{project}/tasks/{task}/complete",
    tag = "space",
    operation_id = "space_complete_task",
    params(
        ("project" = String, Path, description = "A launched project of the session's account"),
        ("task" = String, Path, description = "The task's key"),
    ),
    request_body(content = SpaceTaskForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Done; back to the Space", headers(("location" = String, description = "`/space`"))),
        (status = 401, description = "Not signed in: the way-in page", body = String, content_type = "text/html"),
        (status = 403, description = "A team task, or the CSRF token is not this session's: the Space with the reason; nothing is logged", body = String, content_type = "text/html"),
        (status = 404, description = "No such visible task in a launched project of the session's account", body = String, content_type = "text/html"),
        (status = 409, description = "Done already, or waiting for an earlier step: the Space with the reason", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
    ),
    security(("academy_session" = []))
)]
#[allow(dead_code)]
fn space_complete_task() {}

/// Comments on a task of the person's account, as the API does (the author is the
/// person's email), then back to the Space.
#[utoipa::path(
    post,
    path = "/space/projects/{project}/tasks/{task}/comments",
    tag = "space",
    operation_id = "space_comment",
    params(
        ("project" = String, Path, description = "A launched project of the session's account"),
        ("task" = String, Path, description = "The task's key"),
    ),
    request_body(content = SpaceCommentForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Commented; back to the Space", headers(("location" = String, description = "`/space`"))),
        (status = 401, description = "Not signed in: the way-in page", body = String, content_type = "text/html"),
        (status = 403, description = "The CSRF token is not this session's: nothing is logged", body = String, content_type = "text/html"),
        (status = 404, description = "No such visible task in a launched project of the session's account", body = String, content_type = "text/html"),
        (status = 422, description = "Empty or longer than 2,000 characters: the Space with the error next to the field", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
    ),
    security(("academy_session" = []))
)]
#[allow(dead_code)]
fn space_comment() {}

/// The invitation form.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the Space's invitation form.
pub struct SpaceInviteForm {
    /// The session's CSRF token, as the Space page gives it.
    csrf: String,
    /// The colleague's name: 1 to 200 characters after trimming.
    name: String,
    /// The colleague's email address.
    email: String,
}

/// Invites a colleague: one at the inviter's email domain or the account's domain is added
/// at once (`person.added`, source `invite`: enrolled, and sent their sign-in link by the
/// program); anyone else is asked of the CSM (`invite.requested`).
#[utoipa::path(
    post,
    path = "/space/invite",
    tag = "space",
    operation_id = "space_invite",
    request_body(content = SpaceInviteForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Sent; back to the Space, which says how it went",
            headers(("location" = String, description = "`/space?invited=added` or `/space?invited=requested`"))),
        (status = 401, description = "Not signed in: the way-in page", body = String, content_type = "text/html"),
        (status = 403, description = "The CSRF token is not this session's: nothing is logged", body = String, content_type = "text/html"),
        (status = 409, description = "The account is paused or churned: nothing is logged", body = String, content_type = "text/html"),
        (status = 422, description = "A missing or bad name or email, or someone who already has access: the Space with the errors next to the fields; nothing is logged", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
    ),
    security(("academy_session" = []))
)]
#[allow(dead_code)]
fn space_invite() {}

/// The upload form.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the Space's upload form.
pub struct SpaceUploadForm {
    /// The session's CSRF token, as the Space page gives it.
    csrf: String,
    /// The file: at most 10 MiB; PDF, PNG, JPEG, GIF, WebP, .docx, .xlsx, .pptx, CSV,
    /// plain text or Markdown, its extension and its content's magic bytes agreeing.
    #[schema(format = Binary)]
    file: String,
    /// A project of the account the file belongs to (optional).
    project: Option<String>,
}

/// Uploads a file to the account's Shared Space: stored under the data directory,
/// recorded, and logged as `file.uploaded`; then back to the Space.
#[utoipa::path(
    post,
    path = "/space/files",
    tag = "space",
    operation_id = "space_upload",
    request_body(content = SpaceUploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 303, description = "Uploaded; back to the Space, which says so",
            headers(("location" = String, description = "`/space?uploaded=1#files`"))),
        (status = 400, description = "Not a multipart form, or cut short: the Space with the reason; nothing is stored", body = String, content_type = "text/html"),
        (status = 401, description = "Not signed in: the way-in page", body = String, content_type = "text/html"),
        (status = 403, description = "The CSRF token is not this session's: nothing is stored", body = String, content_type = "text/html"),
        (status = 413, description = "Larger than 10 MiB: the Space with the reason next to the file field; nothing is stored", body = String, content_type = "text/html"),
        (status = 415, description = "A type that is not allowed, or content that does not match its name: the Space with the reason next to the file field; nothing is stored", body = String, content_type = "text/html"),
        (status = 422, description = "No file chosen, or an empty one: nothing is stored", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
    ),
    security(("academy_session" = []))
)]
#[allow(dead_code)]
fn space_upload() {}

/// The kickoff booking form.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the Space's booking form.
pub struct SpaceBookForm {
    /// The session's CSRF token, as the Space page gives it.
    csrf: String,
    /// The start of one of the offered slots, RFC 3339 (UTC).
    #[schema(format = DateTime)]
    start: String,
}

/// Books (or moves) the kickoff call of a kickoff task in one of the CSM's free slots: the
/// slot is taken in the CSM's calendar, then `kickoff.booked` is logged, which records the
/// booking on the task and emails the person and the CSM a calendar invite (the same UID,
/// SEQUENCE one more on each move); then back to the Space.
#[utoipa::path(
    post,
    path = "/space/projects/{project}/tasks/{task}/book",
    tag = "space",
    operation_id = "space_book_kickoff",
    params(
        ("project" = String, Path, description = "A launched project of the session's account"),
        ("task" = String, Path, description = "Its kickoff task's key"),
    ),
    request_body(content = SpaceBookForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Booked; back to the Space, which says so",
            headers(("location" = String, description = "`/space?booked=1#kickoff`"))),
        (status = 401, description = "Not signed in: the way-in page", body = String, content_type = "text/html"),
        (status = 403, description = "The CSRF token is not this session's: nothing is booked", body = String, content_type = "text/html"),
        (status = 404, description = "No such task in a launched project of the session's account", body = String, content_type = "text/html"),
        (status = 409, description = "The slot was just taken by someone else, the task is done or not bookable, or the account is paused: the Space with the reason", body = String, content_type = "text/html"),
        (status = 422, description = "Not one of the offered slots, past, or too soon: the Space with the reason", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
    ),
    security(("academy_session" = []))
)]
#[allow(dead_code)]
fn space_book_kickoff() {}

/// Downloads a file of the session's account: always an attachment, with the type it was
/// stored with (never HTML), `X-Content-Type-Options: nosniff` and the Space's content
/// policy.
#[utoipa::path(
    get,
    path = "/space/files/{id}",
    tag = "space",
    operation_id = "space_download",
    params(("id" = String, Path, description = "The file's id")),
    responses(
        (status = 200, description = "The file's bytes", body = Vec<u8>, content_type = "application/octet-stream",
            headers(("content-disposition" = String, description = "`attachment; filename=\"…\"; filename*=UTF-8''…`"))),
        (status = 401, description = "Not signed in: the way-in page", body = String, content_type = "text/html"),
        (status = 404, description = "No file with this id in the session's account", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
    ),
    security(("academy_session" = []))
)]
#[allow(dead_code)]
fn space_download() {}

/// The `enum` values of a documented string enum: what the schema tests of the handlers
/// compare with the core's variants.
#[cfg(test)]
pub(crate) fn documented<T: utoipa::PartialSchema>() -> Vec<String> {
    let schema = serde_json::to_value(T::schema()).unwrap_or_default();
    schema["enum"]
        .as_array()
        .map(|values| {
            values
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
