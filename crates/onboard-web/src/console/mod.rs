//! The console (`/console`), where our team watches the portfolio and acts where a human is
//! needed. This module is its way in: team members are the program's `[[team]]`; they sign
//! in with a password (argon2, set once signed in) or a link sent to their email (made at
//! delivery, single use, like a customer's, but opening the console). Sessions are
//! HttpOnly, SameSite=Lax cookies at `/console` holding a random id stored only as its hash;
//! every form carries a CSRF token derived from the session id. Sign-in attempts and link
//! requests are rate-limited per address and per client address, on the engine's clock.
//!
//! Roles: `admin` and `csm` may act (retry a message, close an alert); `sales` sees the
//! portfolio, accounts and alerts but changes nothing. A CSM sees their own book by default.
//!
//! The pages are in `portfolio.rs` (every account at a glance), `account.rs` (one account:
//! timeline with traces, plan, goals, Academy, usage), `desk.rs` (alerts, outbox, program),
//! `audit.rs` (the infrastructure audit of an uploaded CSV), their templates in `pages.rs`
//! and the server-rendered SVG charts in `charts.rs`.

use crate::academy::same_secret;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use onboard_core::program::TeamMember;
use onboard_core::state::{NewMessage, SIGN_IN_URL_PLACEHOLDER, TEAM_ACCOUNT};
use onboard_store::NewSession;
use pages::page;
use serde::Deserialize;
use std::net::SocketAddr;

mod account;
mod audit;
mod autopilot;
mod charts;
mod desk;
pub(crate) mod docs;
mod pages;
mod portfolio;

/// The team session cookie.
pub const SESSION_COOKIE: &str = "onboard_console";
/// How long a team member stays signed in.
const SESSION_HOURS: i64 = 12;
/// The shortest password the console accepts.
const MIN_PASSWORD: usize = 12;

/// The console routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(portfolio::page))
        .route("/console/accounts/{id}", get(account::page))
        .route(
            "/console/accounts/{id}/alerts/{alert}/close",
            post(desk::close_alert),
        )
        .route("/console/alerts", get(desk::alerts))
        .route("/console/autopilot", get(autopilot::page))
        .route(
            "/console/accounts/{id}/autopilot/approvals/{approval}",
            post(autopilot::decide),
        )
        .route("/console/outbox", get(desk::outbox))
        .route("/console/outbox/{id}/retry", post(desk::retry))
        .route("/console/program", get(desk::program))
        .route(
            "/console/audit",
            get(audit::form)
                .post(audit::run)
                .layer(axum::extract::DefaultBodyLimit::max(
                    audit::AUDIT_BODY_LIMIT,
                )),
        )
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-in/link", post(sign_in_by_link))
        .route("/console/sign-out", post(sign_out))
        .route("/console/password", get(password_page).post(set_password))
}

/// A signed-in team member.
pub(crate) struct TeamSession {
    id: String,
    pub member: TeamMember,
}

impl TeamSession {
    /// The token the session's forms carry.
    pub fn csrf(&self) -> String {
        onboard_core::token::hash(&format!("console-csrf\n{}", self.id))
    }

    /// Whether a form's token is this session's.
    pub fn csrf_ok(&self, given: &str) -> bool {
        same_secret(given, &self.csrf())
    }

    /// Admins and CSMs act; sales looks.
    pub fn may_act(&self) -> bool {
        matches!(self.member.role.as_str(), "admin" | "csm")
    }

    /// What every page's layout needs to know of the member.
    pub fn context(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.member.name,
            "email": self.member.email,
            "role": self.member.role,
            "csrf": self.csrf(),
            "may_act": self.may_act(),
        })
    }
}

/// The session the request's cookie opens, if current and its member still in the team.
pub(crate) async fn team_session(
    state: &AppState,
    headers: &HeaderMap,
) -> ApiResult<Option<TeamSession>> {
    let Some(id) = cookie(headers) else {
        return Ok(None);
    };
    let record = state
        .engine
        .store()
        .session(&onboard_core::token::hash(&id), state.engine.now())
        .await?;
    let Some(record) = record.filter(|s| s.kind == "team" && s.account == TEAM_ACCOUNT) else {
        return Ok(None);
    };
    Ok(member(state, &record.email).map(|member| TeamSession { id, member }))
}

/// The signed-in member, or the answer that sends the browser to the sign-in page.
pub(crate) async fn require(
    state: &AppState,
    headers: &HeaderMap,
) -> ApiResult<Result<TeamSession, Response>> {
    Ok(match team_session(state, headers).await? {
        Some(session) => Ok(session),
        None => Err(redirect("/console/sign-in")),
    })
}

fn member(state: &AppState, email: &str) -> Option<TeamMember> {
    state
        .engine
        .program()
        .team
        .iter()
        .find(|m| m.email.eq_ignore_ascii_case(email))
        .cloned()
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    crate::academy::cookie_value(headers, SESSION_COOKIE)
}

pub(crate) fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
}

pub use crate::state::SignInLimits;

#[derive(Deserialize, Default)]
struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
struct TokenParam {
    #[serde(default)]
    token: String,
}

/// The sign-in form; with `?token=` (a link from an email) a button that spends it, so a
/// mail scanner opening the link signs no one in.
async fn sign_in_page(
    State(state): State<AppState>,
    query: Result<Query<TokenParam>, QueryRejection>,
) -> ApiResult<Response> {
    let program = state.engine.program().name.clone();
    let token = query.map(|q| q.0.token).unwrap_or_default();
    if !token.is_empty() && token.len() <= 200 {
        return page(
            StatusCode::OK,
            "sign_in_link.html",
            serde_json::json!({ "program": program, "token": token }),
        );
    }
    page(
        StatusCode::OK,
        "sign_in.html",
        serde_json::json!({ "program": program }),
    )
}

/// Signs in with a password, or, without one, sends a sign-in link. The answer does not
/// tell whether an address belongs to the team.
async fn sign_in(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> ApiResult<Response> {
    let connect = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .cloned();
    let form: Result<Form<SignInForm>, FormRejection> =
        <Form<SignInForm> as axum::extract::FromRequest<AppState>>::from_request(request, &state)
            .await;
    let program = state.engine.program().name.clone();
    let form = form.map(|f| f.0).unwrap_or_default();
    let email = form.email.trim().to_lowercase();
    let again = |status, error: &str, field: &str| {
        page(
            status,
            "sign_in.html",
            serde_json::json!({
                "program": program, "email": email, "error": error, "field": field,
            }),
        )
    };
    if email.is_empty() {
        return again(
            StatusCode::BAD_REQUEST,
            "Enter your work email address.",
            "email",
        );
    }
    if email.len() > 254 || !crate::hooks::looks_like_email(&email) {
        return again(
            StatusCode::BAD_REQUEST,
            "That is not an email address.",
            "email",
        );
    }
    if form.password.len() > 1024 {
        return again(
            StatusCode::BAD_REQUEST,
            "That password is too long.",
            "password",
        );
    }
    let client = crate::state::client_address(connect.as_ref());
    if let Err(limited) = state
        .sign_in_limits
        .check(crate::state::Door::Console, &email, &client)
    {
        let mut answer = again(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "Too many sign-in attempts. Try again {}.",
                crate::academy::retry_words(limited, state.engine.now())
            ),
            "email",
        )?;
        crate::academy::set_retry_after(&mut answer, limited);
        return Ok(answer);
    }
    let member = member(&state, &email);
    if form.password.is_empty() {
        if let Some(member) = &member {
            send_link(&state, member).await?;
        }
        return page(
            StatusCode::OK,
            "link_sent.html",
            serde_json::json!({
                "program": program,
                "email": email,
                "minutes": state.engine.config().link_ttl.millis() / 60_000,
            }),
        );
    }
    let stored = match &member {
        Some(m) => state.engine.store().team_password(&m.email).await?,
        None => None,
    };
    let verified = stored.as_deref().is_some_and(|hash| {
        PasswordHash::new(hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(form.password.as_bytes(), &parsed)
                .is_ok()
        })
    });
    match member.filter(|_| verified) {
        Some(member) => open_session(&state, &member.email, "password").await,
        None => again(
            StatusCode::UNAUTHORIZED,
            "That email and password do not match. Leave the password empty to get a sign-in link by email.",
            "password",
        ),
    }
}

/// Queues an email with a sign-in link for a team member (the link is made at delivery).
/// At most one per member per five minutes: the message id holds the window.
async fn send_link(state: &AppState, member: &TeamMember) -> ApiResult<()> {
    let now = state.engine.now();
    let window = now.millis().div_euclid(5 * 60_000);
    let key = format!("team-link:{}:{window}", member.email.to_lowercase());
    let id = onboard_core::decide::derived_id("message", &[&key]);
    let program = state.engine.program();
    let from = program
        .team
        .iter()
        .find(|m| m.role == "admin")
        .map_or_else(|| member.email.clone(), |m| m.email.clone());
    let message = NewMessage {
        message_id: format!("<{id}@onboard>"),
        id,
        account: TEAM_ACCOUNT.to_owned(),
        channel: "email".to_owned(),
        to_email: member.email.clone(),
        to_name: member.name.clone(),
        from_email: from,
        from_name: format!("{} console", program.name),
        subject: format!("Your sign-in link to the {} console", program.name),
        body: format!(
            "Hello {},\n\nSign in to the {} console with this link (it works once):\n\n{}\n\nIf you did not ask for it, you can ignore this email.\n",
            member.name, program.name, SIGN_IN_URL_PLACEHOLDER
        ),
        rule: "console-sign-in".to_owned(),
        cause: key,
        sign_in_email: Some(member.email.clone()),
        calendar: None,
    };
    state
        .engine
        .store()
        .enqueue_messages(&[message], now)
        .await?;
    state.engine.wake();
    Ok(())
}

/// Spends a link's token and opens a session.
async fn sign_in_by_link(
    State(state): State<AppState>,
    form: Result<Form<TokenParam>, FormRejection>,
) -> ApiResult<Response> {
    let token = form.map(|f| f.0.token).unwrap_or_default();
    let grant = if token.is_empty() || token.len() > 200 {
        None
    } else {
        state
            .engine
            .store()
            .consume_sign_in_token(&onboard_core::token::hash(&token), state.engine.now())
            .await?
    };
    match grant.filter(|g| g.account == TEAM_ACCOUNT && member(&state, &g.email).is_some()) {
        Some(grant) => open_session(&state, &grant.email, "magic_link").await,
        None => page(
            StatusCode::BAD_REQUEST,
            "link_refused.html",
            serde_json::json!({ "program": state.engine.program().name }),
        ),
    }
}

async fn open_session(state: &AppState, email: &str, how: &str) -> ApiResult<Response> {
    let now = state.engine.now();
    let id = crate::academy::random_id();
    state
        .engine
        .store()
        .create_session(&NewSession {
            id_hash: onboard_core::token::hash(&id),
            account: TEAM_ACCOUNT.to_owned(),
            email: email.to_lowercase(),
            kind: "team".to_owned(),
            created_at: now,
            expires_at: now.plus(onboard_core::Duration(SESSION_HOURS * 3_600_000)),
        })
        .await?;
    tracing::info!(how, "team member signed in to the console");
    let cookie = format!(
        "{SESSION_COOKIE}={id}; Path=/console; HttpOnly; SameSite=Lax; Max-Age={}{}",
        SESSION_HOURS * 3_600,
        crate::academy::secure_attribute(state)
    );
    let mut response = redirect("/console");
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(ApiError::internal)?,
    );
    Ok(response)
}

#[derive(Deserialize, Default)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> ApiResult<Response> {
    let form = form.map(|f| f.0).unwrap_or_default();
    if let Some(session) = team_session(&state, &headers).await? {
        if !session.csrf_ok(&form.csrf) {
            return pages::form_expired(&session);
        }
        state
            .engine
            .store()
            .end_session(&onboard_core::token::hash(&session.id), state.engine.now())
            .await?;
    }
    let mut response = redirect("/console/sign-in");
    response.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}=; Path=/console; HttpOnly; SameSite=Lax; Max-Age=0{}",
            crate::academy::secure_attribute(&state)
        ))
        .map_err(ApiError::internal)?,
    );
    Ok(response)
}

async fn password_page(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let session = match require(&state, &headers).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    pages::console_page(
        StatusCode::OK,
        "password.html",
        &state,
        &session,
        serde_json::json!({}),
    )
}

#[derive(Deserialize, Default)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

/// Sets the signed-in member's password.
async fn set_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> ApiResult<Response> {
    let session = match require(&state, &headers).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    let form = form.map(|f| f.0).unwrap_or_default();
    if !session.csrf_ok(&form.csrf) {
        return pages::form_expired(&session);
    }
    let error = |field: &str, error: &str| {
        pages::console_page(
            StatusCode::BAD_REQUEST,
            "password.html",
            &state,
            &session,
            serde_json::json!({ "error": error, "field": field }),
        )
    };
    if form.password.chars().count() < MIN_PASSWORD {
        return error(
            "password",
            &format!("Use at least {MIN_PASSWORD} characters."),
        );
    }
    if form.password.len() > 1024 {
        return error("password", "That password is too long.");
    }
    if form.password != form.confirm {
        return error("confirm", "The two passwords differ.");
    }
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(ApiError::internal)?;
    let hash = Argon2::default()
        .hash_password(form.password.as_bytes(), &salt)
        .map_err(ApiError::internal)?
        .to_string();
    state
        .engine
        .store()
        .set_team_password(
            &session.member.email.to_lowercase(),
            &hash,
            state.engine.now(),
        )
        .await?;
    pages::console_page(
        StatusCode::OK,
        "password.html",
        &state,
        &session,
        serde_json::json!({ "saved": true }),
    )
}
