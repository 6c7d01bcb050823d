//! The Academy's way in: the scanner-safe sign-in page of a magic link and the learner's
//! session. `GET /academy/sign-in?token=…` only shows a button; the `POST` it sends spends
//! the token (single use, expiring), opens a session (an HttpOnly, SameSite=Lax cookie
//! holding a random id that is stored only as its hash) and logs `academy.login`.
//! `GET /academy` shows the signed-in learner their journey. `POST /academy/sign-in/new`
//! lets a person whose link expired ask for a new one by email address: it logs
//! `academy.link_requested` in each account where that address was sent a link (at most
//! one per person per five minutes), which the program's rule answers with an email, and
//! says the same whether the address is known or not.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use onboard_core::event::types;
use onboard_core::{EventType, NewEvent};
use onboard_store::NewSession;
use serde::Deserialize;
use std::sync::OnceLock;

/// The learner session cookie.
pub const SESSION_COOKIE: &str = "onboard_academy";
/// How long a learner stays signed in.
const SESSION_DAYS: i64 = 14;

/// The Academy routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/academy", get(home))
        .route("/academy/sign-in", get(sign_in_page).post(sign_in))
        .route("/academy/sign-in/new", post(new_link))
        .route("/academy/sign-out", post(sign_out))
}

const LAYOUT: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{% block title %}{% endblock %} · {{ program }} Academy</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; color: #1f2933; line-height: 1.5; }
h1 { font-size: 1.6rem; }
button { font: inherit; padding: .6rem 1.4rem; border: 0; border-radius: .4rem; background: #2f6fde; color: #fff; cursor: pointer; }
button:focus { outline: 3px solid #9fc0ff; outline-offset: 2px; }
.muted { color: #52606d; }
ol li, ul li { margin: .3rem 0; }
</style>
</head>
<body>
<main>
{% block main %}{% endblock %}
</main>
</body>
</html>
"#;

const SIGN_IN: &str = r#"{% extends "layout.html" %}
{% block title %}Sign in{% endblock %}
{% block main %}
<h1>Sign in to the {{ program }} Academy</h1>
<p>Press the button to sign in. The link in your email works once.</p>
<form method="post" action="/academy/sign-in">
<input type="hidden" name="token" value="{{ token }}">
<button type="submit">Continue to the Academy</button>
</form>
{% endblock %}
"#;

const REFUSED: &str = r#"{% extends "layout.html" %}
{% block title %}Link not valid{% endblock %}
{% block main %}
<h1>This sign-in link cannot be used</h1>
<p>It has expired, was already used, or was replaced by a newer link. Use the newest link
we emailed you, or have a new one sent to you:</p>
{% include "new_link_form.html" %}
{% endblock %}
"#;

const SIGNED_OUT: &str = r#"{% extends "layout.html" %}
{% block title %}Academy{% endblock %}
{% block main %}
<h1>The {{ program }} Academy</h1>
<p>Sign in with the personal link we emailed you. Lost it, or did it expire? Have a new
one sent to you:</p>
{% include "new_link_form.html" %}
{% endblock %}
"#;

const NEW_LINK_FORM: &str = r#"<form method="post" action="/academy/sign-in/new">
<label for="email">Your work email</label>
<input id="email" name="email" type="email" required maxlength="254" autocomplete="email">
<button type="submit">Email me a sign-in link</button>
</form>
"#;

const LINK_REQUESTED: &str = r#"{% extends "layout.html" %}
{% block title %}Check your email{% endblock %}
{% block main %}
<h1>Check your email</h1>
<p>If {{ email }} belongs to someone we are onboarding, a new sign-in link is on its way.
It works once, for {{ minutes }} minutes.</p>
{% endblock %}
"#;

const BAD_EMAIL: &str = r#"{% extends "layout.html" %}
{% block title %}Email address needed{% endblock %}
{% block main %}
<h1>That is not an email address</h1>
<p>Enter the work email address our emails reach you at.</p>
{% include "new_link_form.html" %}
{% endblock %}
"#;

const HOME: &str = r#"{% extends "layout.html" %}
{% block title %}Your journey{% endblock %}
{% block main %}
<h1>Welcome, {{ person.name }}</h1>
<p class="muted">{{ account }}{% if persona %} · {{ persona }}{% endif %}</p>
{% if journey %}
<h2>{{ journey.title }}</h2>
<ol>
{% for module in journey.core %}<li>{{ module }}</li>
{% endfor %}
</ol>
{% if journey.library %}
<h3>Library</h3>
<ul>
{% for module in journey.library %}<li>{{ module }}</li>
{% endfor %}
</ul>
{% endif %}
{% else %}
<p>You are not enrolled in a journey yet.</p>
{% endif %}
<form method="post" action="/academy/sign-out"><button type="submit">Sign out</button></form>
{% endblock %}
"#;

fn templates() -> &'static minijinja::Environment<'static> {
    static ENV: OnceLock<minijinja::Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = minijinja::Environment::new();
        for (name, source) in [
            ("layout.html", LAYOUT),
            ("sign_in.html", SIGN_IN),
            ("refused.html", REFUSED),
            ("signed_out.html", SIGNED_OUT),
            ("home.html", HOME),
            ("new_link_form.html", NEW_LINK_FORM),
            ("link_requested.html", LINK_REQUESTED),
            ("bad_email.html", BAD_EMAIL),
        ] {
            if let Err(error) = env.add_template(name, source) {
                tracing::error!(template = name, error = %error, "a built-in page does not compile");
            }
        }
        env
    })
}

/// An HTML page: never cached, never sending a referrer (the URL may hold a token).
fn page(status: StatusCode, name: &str, context: serde_json::Value) -> ApiResult<Response> {
    let html = templates()
        .get_template(name)
        .and_then(|t| t.render(context))
        .map_err(ApiError::internal)?;
    Ok((
        status,
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
            (axum::http::header::REFERRER_POLICY, "no-referrer"),
        ],
        html,
    )
        .into_response())
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
    form: Result<Form<EmailParam>, FormRejection>,
) -> ApiResult<Response> {
    let program = state.engine.program().name.clone();
    let email = form
        .map(|f| f.0.email.trim().to_lowercase())
        .unwrap_or_default();
    if email.len() > 254 || !crate::hooks::looks_like_email(&email) {
        return page(
            StatusCode::BAD_REQUEST,
            "bad_email.html",
            serde_json::json!({ "program": program }),
        );
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
    let session = random_id();
    let session_hash = onboard_core::token::hash(&session);
    store
        .create_session(&NewSession {
            id_hash: session_hash.clone(),
            account: grant.account.clone(),
            email: grant.email.clone(),
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
            account: grant.account.clone(),
            at: now,
            data: serde_json::json!({ "email": grant.email }),
        }])
        .await?;
    let secure = state.hooks.public_url.starts_with("https://");
    let cookie = format!(
        "{SESSION_COOKIE}={session}; Path=/academy; HttpOnly; SameSite=Lax; Max-Age={}{}",
        SESSION_DAYS * 86_400,
        if secure { "; Secure" } else { "" }
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

async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(session) = session_cookie(&headers) {
        state
            .engine
            .store()
            .end_session(&onboard_core::token::hash(&session), state.engine.now())
            .await?;
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(LOCATION, HeaderValue::from_static("/academy"));
    headers.insert(
        SET_COOKIE,
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}=; Path=/academy; HttpOnly; SameSite=Lax; Max-Age=0"
        ))
        .map_err(ApiError::internal)?,
    );
    Ok(response)
}

/// The learner's home: their journey, or how to sign in.
async fn home(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let program = state.engine.program().clone();
    let store = state.engine.store();
    let session = match session_cookie(&headers) {
        Some(id) => {
            store
                .session(&onboard_core::token::hash(&id), state.engine.now())
                .await?
        }
        None => None,
    };
    let Some(session) = session.filter(|s| s.kind == "learner") else {
        return page(
            StatusCode::OK,
            "signed_out.html",
            serde_json::json!({ "program": program.name }),
        );
    };
    let account = store.account(&session.account).await?;
    let person = account
        .as_ref()
        .and_then(|a| a.people.iter().find(|p| p.email == session.email));
    let journey = person
        .and_then(|p| p.journey.as_deref())
        .and_then(|name| program.journeys.iter().find(|j| j.name == name))
        .map(|j| {
            serde_json::json!({
                "title": j.title,
                "core": j.core.iter().map(|m| &m.title).collect::<Vec<_>>(),
                "library": j.library.iter().map(|m| &m.title).collect::<Vec<_>>(),
            })
        });
    page(
        StatusCode::OK,
        "home.html",
        serde_json::json!({
            "program": program.name,
            "account": account.as_ref().map(|a| a.name.clone()),
            "person": { "name": person.map_or(session.email.clone(), |p| p.name.clone()) },
            "persona": person.and_then(|p| p.persona.clone()),
            "journey": journey,
        }),
    )
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 200)
}

/// 256 random bits, base64url without padding.
fn random_id() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
