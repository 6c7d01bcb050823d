//! The Academy, the learners' portal. Its way in: the scanner-safe sign-in page of a magic
//! link and the learner's session. `GET /academy/sign-in?token=…` only shows a button; the
//! `POST` it sends spends the token (single use, expiring), opens a session (an HttpOnly,
//! SameSite=Lax cookie holding a random id that is stored only as its hash; at `/`, so the
//! Shared Space, `crate::space`, shares it) and logs `academy.login`.
//! `POST /academy/sign-in/new` lets a person whose link expired ask for a new one by email
//! address: it logs `academy.link_requested` in each account where that address was sent a
//! link (at most one per person per five minutes), which the program's rule answers with an
//! email, and says the same whether the address is known or not. A person may ask for a
//! one-time code instead and type it in (`code.rs`). Requests for links and codes are
//! rate-limited per address and per client address (a 429 page that says when to retry,
//! nothing sent). `POST /academy/sign-out` wants the session's CSRF token.
//!
//! What a signed-in learner does is in `learn.rs` (their journey, module pages, completing
//! a module); the pages are in `pages.rs`, a module's Markdown made safe HTML in
//! `markdown.rs`.

use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, ClientAddr, Door, Limited};
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::header::RETRY_AFTER;
use axum::http::header::{CACHE_CONTROL, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use onboard_core::event::types;
use onboard_core::{EventType, NewEvent};
use onboard_store::{EventFilter, NewSession, SessionRecord};
use pages::page;
use serde::Deserialize;

mod code;
mod learn;
pub(crate) mod markdown;
pub(crate) mod pages;

/// The learner session cookie.
pub const SESSION_COOKIE: &str = "onboard_academy";
/// How long a learner stays signed in.
const SESSION_DAYS: i64 = 14;

/// The Academy routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/academy", get(learn::home))
        .route("/academy/modules/{slug}", get(learn::module_page))
        .route("/academy/modules/{slug}/complete", post(learn::complete))
        .route("/academy/sign-in", get(sign_in_page).post(sign_in))
        .route("/academy/sign-in/new", post(new_link))
        .route("/academy/sign-in/code", get(code::form).post(code::send))
        .route("/academy/sign-in/code/verify", post(code::verify))
        .route("/academy/sign-out", post(sign_out))
}

#[derive(Deserialize)]
pub struct TokenParam {
    #[serde(default)]
    token: String,
}

/// The page a magic link opens: a button, and nothing spent (mail scanners open links).
async fn sign_in_page(
    State(state): State<AppState>,
    query: Result<Query<TokenParam>, QueryRejection>,
) -> ApiResult<Response> {
    let program = state.engine.program().name.clone();
    let token = query.map(|q| q.0.token).unwrap_or_default();
    if token.is_empty() || token.len() > 200 {
        return page(
            StatusCode::BAD_REQUEST,
            "refused.html",
            serde_json::json!({ "program": program }),
        );
    }
    page(
        StatusCode::OK,
        "sign_in.html",
        serde_json::json!({ "program": program, "token": token }),
    )
}

#[derive(Deserialize)]
struct EmailParam {
    email: String,
}

/// How long one request for a new link holds back the next one of the same person.
const NEW_LINK_EVERY_MS: i64 = 5 * 60_000;

/// A person asks for a new sign-in link. The answer is the same whether the address was
/// ever sent a link or not, so the page tells no one who is a customer.
async fn new_link(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    form: Result<Form<EmailParam>, FormRejection>,
) -> ApiResult<Response> {
    let program = state.engine.program().name.clone();
    let email = form
        .map(|f| f.0.email.trim().to_lowercase())
        .unwrap_or_default();
    if let Some(error) = email_error(&email) {
        return page(
            StatusCode::BAD_REQUEST,
            "bad_email.html",
            serde_json::json!({ "program": program, "email": email, "email_error": error }),
        );
    }
    if let Err(limited) = state.sign_in_limits.check(Door::Academy, &email, &client) {
        return too_many(&state, &headers, limited);
    }
    let now = state.engine.now();
    let accounts = state.engine.store().sign_in_accounts(&email).await?;
    if !accounts.is_empty() {
        let kind = EventType::parse(types::ACADEMY_LINK_REQUESTED).map_err(ApiError::internal)?;
        let window = now.millis().div_euclid(NEW_LINK_EVERY_MS);
        let events = accounts
            .into_iter()
            .map(|account| NewEvent {
                key: format!(
                    "academy.link_requested:{}:{window}",
                    &onboard_core::token::hash(&format!("{account}\n{email}"))[..32]
                ),
                kind: kind.clone(),
                account,
                at: now,
                data: serde_json::json!({ "email": email }),
            })
            .collect();
        state.engine.ingest(events).await?;
    }
    page(
        StatusCode::OK,
        "link_requested.html",
        serde_json::json!({
            "program": program,
            "email": email,
            "minutes": state.engine.config().link_ttl.millis() / 60_000,
        }),
    )
}

/// What is wrong with an email address typed into a form, if anything (lower-cased and
/// trimmed first).
pub(crate) fn email_error(email: &str) -> Option<&'static str> {
    if email.is_empty() {
        Some("Enter your work email address.")
    } else if email.len() > 254 || !crate::hooks::looks_like_email(email) {
        Some("That is not an email address. Enter the work email address our emails reach you at.")
    } else {
        None
    }
}

/// The answer to a request over a rate limit: a page that says when to try again (the error
/// shape for a client that asks for JSON), with `Retry-After`.
fn too_many(state: &AppState, headers: &HeaderMap, limited: Limited) -> ApiResult<Response> {
    let wants_json = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json") && !accept.contains("text/html"));
    if wants_json {
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "Too many requests for sign-in emails; nothing was sent. Try again {}.",
                retry_words(limited, state.engine.now())
            ),
        )
        .into_response();
        set_retry_after(&mut response, limited);
        return Ok(response);
    }
    let mut response = page(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many.html",
        serde_json::json!({
            "program": state.engine.program().name,
            "retry": retry_words(limited, state.engine.now()),
            "retry_at": onboard_core::Timestamp(limited.retry_at).to_rfc3339(),
        }),
    )?;
    set_retry_after(&mut response, limited);
    Ok(response)
}

/// When a held-back request may be sent again, in words: "at 14:05:30 UTC (in 3 minutes)".
pub(crate) fn retry_words(limited: Limited, now: onboard_core::Timestamp) -> String {
    let wait_ms = (limited.retry_at - now.millis()).max(0);
    let minutes = (wait_ms + 59_999).div_euclid(60_000).max(1);
    let at = onboard_core::Timestamp(limited.retry_at).to_rfc3339();
    let clock = at.get(11..19).unwrap_or("soon");
    if minutes == 1 {
        format!("at {clock} UTC (in about a minute)")
    } else {
        format!("at {clock} UTC (in {minutes} minutes)")
    }
}

/// `Retry-After` in seconds.
pub(crate) fn set_retry_after(response: &mut Response, limited: Limited) {
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(limited.retry_after_secs));
}

/// Spends the token and opens a session. A body that is not the page's form (wrong type,
/// too large, malformed) is refused like a bad token: the same page, nothing spent.
async fn sign_in(
    State(state): State<AppState>,
    form: Result<Form<TokenParam>, FormRejection>,
) -> ApiResult<Response> {
    let program = state.engine.program().name.clone();
    let now = state.engine.now();
    let store = state.engine.store();
    let token = form.map(|f| f.0.token).unwrap_or_default();
    let grant = if token.is_empty() || token.len() > 200 {
        None
    } else {
        store
            .consume_sign_in_token(&onboard_core::token::hash(&token), now)
            .await?
    };
    let Some(grant) = grant else {
        return page(
            StatusCode::BAD_REQUEST,
            "refused.html",
            serde_json::json!({ "program": program }),
        );
    };
    open_session(&state, &grant.account, &grant.email, None).await
}

/// Opens a learner session for `email` in `account` (ending `previous`, the session the
/// browser had, if any), logs `academy.login`, and sends the browser to the Academy with
/// the session's cookie.
pub(crate) async fn open_session(
    state: &AppState,
    account: &str,
    email: &str,
    previous: Option<&LearnerSession>,
) -> ApiResult<Response> {
    let now = state.engine.now();
    let store = state.engine.store();
    if let Some(previous) = previous {
        store
            .end_session(&onboard_core::token::hash(&previous.id), now)
            .await?;
    }
    let session = random_id();
    let session_hash = onboard_core::token::hash(&session);
    store
        .create_session(&NewSession {
            id_hash: session_hash.clone(),
            account: account.to_owned(),
            email: email.to_owned(),
            kind: "learner".to_owned(),
            created_at: now,
            expires_at: now.plus(onboard_core::Duration(SESSION_DAYS * 86_400_000)),
        })
        .await?;
    let kind = EventType::parse(types::ACADEMY_LOGIN).map_err(ApiError::internal)?;
    state
        .engine
        .ingest(vec![NewEvent {
            key: format!("academy.login:{}", &session_hash[..32]),
            kind,
            account: account.to_owned(),
            at: now,
            data: serde_json::json!({ "email": email }),
        }])
        .await?;
    // `Path=/`: one session for the account's Academy and its Shared Space (`/space`).
    let cookie = format!(
        "{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        SESSION_DAYS * 86_400,
        secure_attribute(state)
    );
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(LOCATION, HeaderValue::from_static("/academy"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(ApiError::internal)?,
    );
    Ok(response)
}

/// `; Secure` when the server is reached over https (its public URL), so the browser sends
/// the cookie over https only.
pub(crate) fn secure_attribute(state: &AppState) -> &'static str {
    if state
        .hooks
        .public_url
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    {
        "; Secure"
    } else {
        ""
    }
}

#[derive(Deserialize, Default)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Ends the session of the browser (with the session's CSRF token, so another site cannot
/// sign a learner out) and clears its cookie.
async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> ApiResult<Response> {
    let form = form.map(|f| f.0).unwrap_or_default();
    if let Some(session) = learner_session(&state, &headers).await? {
        let csrf = csrf_token(&session.id);
        if !same_secret(&form.csrf, &csrf) {
            return page(
                StatusCode::FORBIDDEN,
                "sign_out_expired.html",
                serde_json::json!({
                    "program": state.engine.program().name,
                    "signed_in": true,
                    "session_csrf": csrf,
                }),
            );
        }
        state
            .engine
            .store()
            .end_session(&onboard_core::token::hash(&session.id), state.engine.now())
            .await?;
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    let secure = secure_attribute(&state);
    let headers = response.headers_mut();
    headers.insert(LOCATION, HeaderValue::from_static("/academy"));
    // Clears the cookie at `/` and, for sessions opened before it moved there, at `/academy`.
    for path in ["/", "/academy"] {
        headers.append(
            SET_COOKIE,
            HeaderValue::from_str(&format!(
                "{SESSION_COOKIE}=; Path={path}; HttpOnly; SameSite=Lax; Max-Age=0{secure}"
            ))
            .map_err(ApiError::internal)?,
        );
    }
    Ok(response)
}

/// A signed-in learner's session: the record, and the id from the cookie (which the
/// session's CSRF token derives from).
pub(crate) struct LearnerSession {
    pub id: String,
    pub record: SessionRecord,
}

/// The learner session the request's cookie opens, if it is current. The Shared Space
/// (`crate::space`) signs people in with the same session.
pub(crate) async fn learner_session(
    state: &AppState,
    headers: &HeaderMap,
) -> ApiResult<Option<LearnerSession>> {
    let Some(id) = session_cookie(headers) else {
        return Ok(None);
    };
    let record = state
        .engine
        .store()
        .session(&onboard_core::token::hash(&id), state.engine.now())
        .await?;
    Ok(record
        .filter(|s| s.kind == "learner")
        .map(|record| LearnerSession { id, record }))
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, SESSION_COOKIE)
}

/// The value of the cookie `name`, when present, non-empty and of a sane length.
pub(crate) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 200)
}

/// The per-session token the forms of the Academy and the Shared Space carry: derived from
/// the secret session id, so only a page served to this session can hold it.
pub(crate) fn csrf_token(session_id: &str) -> String {
    onboard_core::token::hash(&format!("academy-csrf\n{session_id}"))
}

/// Compares two secrets in time that does not depend on where they differ.
pub(crate) fn same_secret(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The account's events of `kind` that are in the log but not yet processed, in log order:
/// what a page adds to the state so that a change shows as soon as its form was sent.
pub(crate) async fn unprocessed_events(
    state: &AppState,
    account: &str,
    kind: &str,
) -> ApiResult<Vec<onboard_core::Event>> {
    let store = state.engine.store();
    let mut unprocessed = Vec::new();
    let mut after_seq = None;
    loop {
        let events = store
            .list_events(&EventFilter {
                account: Some(account.to_owned()),
                kind: Some(kind.to_owned()),
                after_seq,
                limit: 500,
                ..EventFilter::default()
            })
            .await?;
        let Some(last) = events.last() else {
            return Ok(unprocessed);
        };
        after_seq = Some(last.seq);
        unprocessed.extend(events.into_iter().filter(|e| e.processed_at.is_none()));
    }
}

/// 256 random bits, base64url without padding.
pub(crate) fn random_id() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
