//! Signing in with a one-time code, for a person who cannot use a link (a mail scanner
//! spends nothing, but some mail clients open links in another browser than the one the
//! person uses). `POST /academy/sign-in/code` emails a code to the address typed in, in each
//! account where that address was sent a sign-in link; the code is made at delivery (six
//! random digits, kept only as their hash, working once for 15 minutes, revoking the
//! person's earlier codes), so it is never in the outbox. The answer is the same whether the
//! address is known or not, and requests are rate-limited like requests for links.
//! `GET /academy/sign-in/code` is the form to type the code in, and `POST
//! /academy/sign-in/code/verify` checks it (with the session's CSRF token when the browser
//! has a session): a right code opens a session as the link does; a wrong one shows the
//! form again with the error next to the field, and five wrong tries kill the code.

use super::{
    csrf_token, email_error, learner_session, open_session, page, same_secret, too_many,
    LearnerSession,
};
use crate::error::ApiResult;
use crate::state::{AppState, ClientAddr, Door};
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use onboard_core::state::{NewMessage, SIGN_IN_CODE_PLACEHOLDER};
use onboard_core::token::{code_hash, CODE_MAX_FAILURES, CODE_TTL_MS};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize, Default)]
pub(super) struct EmailForm {
    #[serde(default)]
    email: String,
}

#[derive(Deserialize, Default)]
pub(super) struct CodeForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    csrf: String,
}

/// What the code form says beyond its fields.
#[derive(Default)]
struct Said<'a> {
    /// A code was just asked for.
    sent: bool,
    /// About the whole form (an expired one).
    error: Option<&'a str>,
    email_error: Option<&'a str>,
    code_error: Option<&'a str>,
}

/// The form to type a code in, with what the last attempt said next to its field.
fn code_page(
    state: &AppState,
    status: StatusCode,
    session: Option<&LearnerSession>,
    email: &str,
    said: Said<'_>,
) -> ApiResult<Response> {
    let csrf = session.map(|s| csrf_token(&s.id));
    page(
        status,
        "code.html",
        json!({
            "program": state.engine.program().name,
            "signed_in": session.is_some(),
            "session_csrf": csrf,
            "csrf": csrf,
            "email": email,
            "sent": said.sent,
            "error": said.error,
            "email_error": said.email_error,
            "code_error": said.code_error,
            "minutes": CODE_TTL_MS / 60_000,
        }),
    )
}

/// An email address as forms carry it: trimmed, lower case (as people's emails are kept).
fn normalised(email: &str) -> String {
    email.trim().to_lowercase()
}

/// `GET /academy/sign-in/code`: the form to type a code in (`?email=` fills the address).
pub(super) async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<EmailForm>, QueryRejection>,
) -> ApiResult<Response> {
    let session = learner_session(&state, &headers).await?;
    let email = query.map(|q| normalised(&q.0.email)).unwrap_or_default();
    let email = if email.len() > 254 { "" } else { &email };
    code_page(
        &state,
        StatusCode::OK,
        session.as_ref(),
        email,
        Said::default(),
    )
}

/// `POST /academy/sign-in/code`: emails a one-time code to the address, in each account where
/// it was sent a sign-in link; answers the same whether it was or not.
pub(super) async fn send(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    form: Result<Form<EmailForm>, FormRejection>,
) -> ApiResult<Response> {
    let email = form.map(|f| normalised(&f.0.email)).unwrap_or_default();
    if let Some(error) = email_error(&email) {
        return page(
            StatusCode::BAD_REQUEST,
            "bad_email.html",
            json!({
                "program": state.engine.program().name,
                "email": email,
                "email_error": error,
            }),
        );
    }
    if let Err(limited) = state.sign_in_limits.check(Door::Academy, &email, &client) {
        return too_many(&state, &headers, limited);
    }
    let now = state.engine.now();
    let store = state.engine.store();
    let program = state.engine.program().clone();
    let mut messages = Vec::new();
    for account in store.sign_in_accounts(&email).await? {
        let Some(account) = store.account(&account).await? else {
            continue;
        };
        let Some(person) = account.people.iter().find(|p| p.email == email) else {
            continue;
        };
        // Each request is a message of its own: the code is made when it is delivered.
        let key = format!(
            "sign-in-code:{}:{}:{}",
            &onboard_core::token::hash(&format!("{}\n{email}", account.id))[..32],
            now.millis(),
            &super::random_id()[..16]
        );
        let id = onboard_core::decide::derived_id("message", &[&key]);
        let domain = program
            .sender
            .email
            .rsplit('@')
            .next()
            .unwrap_or("onboard")
            .to_owned();
        messages.push(NewMessage {
            message_id: format!("<{id}@{domain}>"),
            id,
            account: account.id.clone(),
            channel: "email".to_owned(),
            to_email: email.clone(),
            to_name: person.name.clone(),
            from_email: program.sender.email.clone(),
            from_name: program.sender.name.clone(),
            subject: format!("Your sign-in code for the {} Academy", program.name),
            body: format!(
                "Hello {name},\n\nYour code to sign in to the {program} Academy ({company}) is:\n\n    {code}\n\nType it, with your email address, on the page where you asked for it, or at {url}/academy/sign-in/code\n\nIt works once, for {minutes} minutes. If you did not ask for it, you can ignore this email: nobody can sign in as you without it.\n",
                name = person.name,
                program = program.name,
                company = account.name,
                code = SIGN_IN_CODE_PLACEHOLDER,
                url = state.engine.config().public_url.trim_end_matches('/'),
                minutes = CODE_TTL_MS / 60_000,
            ),
            rule: "academy-sign-in-code".to_owned(),
            cause: key,
            sign_in_email: Some(email.clone()),
            calendar: None,
        });
    }
    if !messages.is_empty() {
        store.enqueue_messages(&messages, now).await?;
        state.engine.wake();
    }
    let session = learner_session(&state, &headers).await?;
    code_page(
        &state,
        StatusCode::OK,
        session.as_ref(),
        &email,
        Said {
            sent: true,
            ..Said::default()
        },
    )
}

/// `POST /academy/sign-in/code/verify`: signs in with the email address and the code.
pub(super) async fn verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<CodeForm>, FormRejection>,
) -> ApiResult<Response> {
    let session = learner_session(&state, &headers).await?;
    let form = form.map(|f| f.0).unwrap_or_default();
    let email = normalised(&form.email);
    let email = if email.len() > 254 {
        String::new()
    } else {
        email
    };
    let again = |status, said| code_page(&state, status, session.as_ref(), &email, said);
    if let Some(current) = &session {
        if !same_secret(&form.csrf, &csrf_token(&current.id)) {
            return again(
                StatusCode::FORBIDDEN,
                Said {
                    error: Some("This form has expired: nothing was checked. Type the code again."),
                    ..Said::default()
                },
            );
        }
    }
    if let Some(error) = email_error(&email) {
        return again(
            StatusCode::BAD_REQUEST,
            Said {
                email_error: Some(error),
                ..Said::default()
            },
        );
    }
    let code: String = form
        .code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if code.is_empty() {
        return again(
            StatusCode::BAD_REQUEST,
            Said {
                code_error: Some("Enter the 6-digit code from the email."),
                ..Said::default()
            },
        );
    }
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return again(
            StatusCode::BAD_REQUEST,
            Said {
                code_error: Some("The code is the 6 digits in the email we sent you."),
                ..Said::default()
            },
        );
    }
    let store = state.engine.store();
    let hashes: Vec<String> = store
        .sign_in_accounts(&email)
        .await?
        .iter()
        .map(|account| code_hash(account, &email, &code))
        .collect();
    let grant = store
        .consume_sign_in_code(&email, &hashes, CODE_MAX_FAILURES, state.engine.now())
        .await?;
    match grant {
        Some(grant) => open_session(&state, &grant.account, &grant.email, session.as_ref()).await,
        None => again(
            StatusCode::UNAUTHORIZED,
            Said {
                code_error: Some(
                    "That code is not right, or it has expired or was already used. Use the code of the newest email we sent you, or have a new one sent.",
                ),
                ..Said::default()
            },
        ),
    }
}
