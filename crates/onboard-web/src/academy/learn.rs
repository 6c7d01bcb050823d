//! What a signed-in learner does in the Academy: `GET /academy` shows their journey (the
//! core path in order with each module done, next or to do, their progress, and the
//! optional library apart), `GET /academy/modules/{slug}` one module of their journey, and
//! `POST /academy/modules/{slug}/complete` (CSRF-checked; a checkpoint answered right when
//! the module has one) logs `module.completed`, once per person and module, then goes back
//! to the module. Every page reads the session's person only.
//!
//! Progress is what the processor recorded on the person, plus completions already logged
//! and not yet processed, so the page shows a module done as soon as its form was sent.

use super::markdown::module_html;
use super::{learner_session, page, same_secret, unprocessed_events, LearnerSession};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use onboard_core::event::types;
use onboard_core::program::{Journey, Module, Program};
use onboard_core::{EventType, NewEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The signed-in learner, as their pages need them.
struct Learner {
    session: LearnerSession,
    /// The program the learner's account runs under: its journeys and modules are the ones
    /// this learner was enrolled in, even after the program changed.
    program: Arc<Program>,
    account_name: Option<String>,
    name: String,
    persona: Option<String>,
    /// The journey the person is enrolled in, when the program has it.
    journey: Option<String>,
    /// The slugs of the journey's modules the person completed.
    done: BTreeSet<String>,
}

impl Learner {
    fn journey<'p>(&self, program: &'p Program) -> Option<&'p Journey> {
        self.journey
            .as_deref()
            .and_then(|name| program.journey(name))
    }

    /// The per-session token the forms carry: derived from the secret session id, so only
    /// a page served to this session can hold it.
    fn csrf_token(&self) -> String {
        super::csrf_token(&self.session.id)
    }
}

/// The learner the request's session belongs to, with their progress; `None` when signed
/// out.
async fn learner(state: &AppState, headers: &HeaderMap) -> ApiResult<Option<Learner>> {
    let Some(session) = learner_session(state, headers).await? else {
        return Ok(None);
    };
    // The log first, then the state: a completion the processor commits in between is in
    // the state read after it, and one it has not is still unprocessed in the log, so none
    // is missed whatever the timing.
    let logged = logged_completions(state, &session.record.account, &session.record.email).await?;
    let account = state
        .engine
        .store()
        .account(&session.record.account)
        .await?;
    let person = account.as_ref().and_then(|a| {
        a.people
            .iter()
            .find(|p| p.email.eq_ignore_ascii_case(&session.record.email))
    });
    let program = match account.as_ref() {
        Some(account) => match state.engine.program_of(&account.program_version).await {
            Ok(program) => program,
            Err(error) => {
                tracing::warn!(
                    account = %account.id,
                    version = %account.program_version,
                    error = %error,
                    "the account's program version cannot be read; the Academy shows the current program"
                );
                state.engine.program().clone()
            }
        },
        None => state.engine.program().clone(),
    };
    let journey = person.and_then(|p| p.journey.clone());
    let mut done = BTreeSet::new();
    if let (Some(person), Some(journey)) = (person, &journey) {
        if let Some(recorded) = person.modules_completed.get(journey) {
            done.extend(recorded.keys().cloned());
        }
        done.extend(
            logged
                .into_iter()
                .filter(|(of, _)| of == journey)
                .map(|(_, module)| module),
        );
    }
    Ok(Some(Learner {
        account_name: account.as_ref().map(|a| a.name.clone()),
        name: person.map_or_else(|| session.record.email.clone(), |p| p.name.clone()),
        persona: person.and_then(|p| p.persona.clone()),
        journey,
        done,
        session,
        program,
    }))
}

/// The modules (journey, module) whose completion by `email` is in the log but not yet
/// processed.
async fn logged_completions(
    state: &AppState,
    account: &str,
    email: &str,
) -> ApiResult<BTreeSet<(String, String)>> {
    let mut modules = BTreeSet::new();
    for event in unprocessed_events(state, account, types::MODULE_COMPLETED).await? {
        let field = |name: &str| event.data.get(name).and_then(Value::as_str);
        if field("email").is_some_and(|e| e.eq_ignore_ascii_case(email)) {
            if let (Some(journey), Some(module)) = (field("journey"), field("module")) {
                modules.insert((journey.to_owned(), module.to_owned()));
            }
        }
    }
    Ok(modules)
}

/// A module's place on the learner's page.
fn status(journey: &Journey, done: &BTreeSet<String>, module: &Module) -> &'static str {
    if done.contains(&module.slug) {
        "done"
    } else if module.optional {
        "optional"
    } else if next_module(journey, done).is_some_and(|next| next.slug == module.slug) {
        "next"
    } else {
        "todo"
    }
}

/// The first core module not done yet.
fn next_module<'j>(journey: &'j Journey, done: &BTreeSet<String>) -> Option<&'j Module> {
    journey.core.iter().find(|m| !done.contains(&m.slug))
}

fn journey_context(journey: &Journey, done: &BTreeSet<String>) -> Value {
    let list = |modules: &[Module]| -> Vec<Value> {
        modules
            .iter()
            .map(|m| {
                json!({
                    "slug": m.slug,
                    "title": m.title,
                    "minutes": m.minutes,
                    "status": status(journey, done, m),
                })
            })
            .collect()
    };
    let n_core = journey.core.len();
    let n_done = journey
        .core
        .iter()
        .filter(|m| done.contains(&m.slug))
        .count();
    json!({
        "title": journey.title,
        "core": list(&journey.core),
        "library": list(&journey.library),
        "n_core": n_core,
        "n_done": n_done,
        "percent": (n_done * 100).checked_div(n_core).unwrap_or(100),
        "complete": n_core > 0 && n_done == n_core,
        "next": next_module(journey, done).map(|m| json!({ "slug": m.slug, "title": m.title })),
    })
}

/// The learner's home: their journey and progress, or how to sign in.
pub(super) async fn home(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let Some(learner) = learner(&state, &headers).await? else {
        return page(
            StatusCode::OK,
            "signed_out.html",
            json!({ "program": state.engine.program().name }),
        );
    };
    let program = learner.program.clone();
    let journey = learner
        .journey(&program)
        .map(|j| journey_context(j, &learner.done));
    page(
        StatusCode::OK,
        "home.html",
        json!({
            "program": program.name,
            "signed_in": true,
            "session_csrf": learner.csrf_token(),
            "account": learner.account_name,
            "person": { "name": learner.name },
            "persona": learner.persona,
            "journey": journey,
        }),
    )
}

/// The page of a signed-out visitor who asked for a learner's page.
fn signed_out(program: &Program) -> ApiResult<Response> {
    page(
        StatusCode::UNAUTHORIZED,
        "signed_out.html",
        json!({ "program": program.name }),
    )
}

fn not_found(program: &Program, learner: &Learner) -> ApiResult<Response> {
    page(
        StatusCode::NOT_FOUND,
        "not_found.html",
        json!({
            "program": program.name,
            "signed_in": true,
            "session_csrf": learner.csrf_token(),
        }),
    )
}

/// What a module page says beyond the module: a refused answer, and the option chosen.
#[derive(Default)]
struct Attempt<'a> {
    error: Option<&'a str>,
    chosen: Option<u32>,
}

fn module_response(
    program: &Program,
    learner: &Learner,
    journey: &Journey,
    module: &Module,
    status_code: StatusCode,
    attempt: Attempt<'_>,
) -> ApiResult<Response> {
    let link = |m: &Module| json!({ "slug": m.slug, "title": m.title });
    let position = journey.core.iter().position(|m| m.slug == module.slug);
    let (previous, next) = match position {
        Some(i) => (
            i.checked_sub(1).and_then(|p| journey.core.get(p)).map(link),
            journey.core.get(i + 1).map(link),
        ),
        None => (None, None),
    };
    page(
        status_code,
        "module.html",
        json!({
            "program": program.name,
            "signed_in": true,
            "session_csrf": learner.csrf_token(),
            "journey": { "title": journey.title, "n_core": journey.core.len() },
            "module": {
                "slug": module.slug,
                "title": module.title,
                "minutes": module.minutes,
                "optional": module.optional,
                "position": position.map(|i| i + 1),
                "done": learner.done.contains(&module.slug),
            },
            "body": module_html(&module.body),
            "checkpoint": module.checkpoint.as_ref().map(|c| json!({
                "question": c.question,
                "options": c.options,
            })),
            "csrf": learner.csrf_token(),
            "previous": previous,
            "next": next,
            "error": attempt.error,
            "chosen": attempt.chosen,
        }),
    )
}

/// One module of the learner's journey (core or library).
pub(super) async fn module_page(
    State(state): State<AppState>,
    slug: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let Some(learner) = learner(&state, &headers).await? else {
        return signed_out(state.engine.program());
    };
    let program = learner.program.clone();
    let Some((journey, module)) = own_module(&program, &learner, slug) else {
        return not_found(&program, &learner);
    };
    module_response(
        &program,
        &learner,
        journey,
        module,
        StatusCode::OK,
        Attempt::default(),
    )
}

/// The module `slug` names, when it is in the learner's journey.
fn own_module<'p>(
    program: &'p Arc<Program>,
    learner: &Learner,
    slug: Result<Path<String>, PathRejection>,
) -> Option<(&'p Journey, &'p Module)> {
    let Path(slug) = slug.ok()?;
    let journey = learner.journey(program)?;
    Some((journey, journey.module(&slug)?))
}

/// The form of a module page.
#[derive(Deserialize)]
pub(super) struct CompleteForm {
    #[serde(default)]
    csrf: String,
    /// The number (from 1) of the option chosen, when the module has a checkpoint.
    #[serde(default)]
    answer: Option<String>,
}

/// Marks a module of the learner's journey complete: the form must carry the session's
/// CSRF token and, when the module has a checkpoint, the right answer. Logs
/// `module.completed` (once per person and module), then goes back to the module's page.
pub(super) async fn complete(
    State(state): State<AppState>,
    slug: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    form: Result<Form<CompleteForm>, FormRejection>,
) -> ApiResult<Response> {
    let Some(learner) = learner(&state, &headers).await? else {
        return signed_out(state.engine.program());
    };
    let program = learner.program.clone();
    let Some((journey, module)) = own_module(&program, &learner, slug) else {
        return not_found(&program, &learner);
    };
    let expired = |status| {
        page(
            status,
            "form_expired.html",
            json!({
                "program": program.name,
                "signed_in": true,
                "session_csrf": learner.csrf_token(),
                "slug": module.slug,
            }),
        )
    };
    let Ok(Form(form)) = form else {
        return expired(StatusCode::BAD_REQUEST);
    };
    if !same_secret(&form.csrf, &learner.csrf_token()) {
        return expired(StatusCode::FORBIDDEN);
    }
    let mut answer = None;
    if let Some(checkpoint) = &module.checkpoint {
        let chosen = form
            .answer
            .as_deref()
            .and_then(|a| a.trim().parse::<u32>().ok())
            .filter(|n| (1..=checkpoint.options.len()).contains(&(*n as usize)));
        let error = match chosen {
            None => Some("Choose one of the answers to complete this module."),
            Some(n) if n != checkpoint.answer => {
                Some("That is not the right answer. Have another look at the module and try again.")
            }
            Some(_) => None,
        };
        if error.is_some() && !learner.done.contains(&module.slug) {
            return module_response(
                &program,
                &learner,
                journey,
                module,
                StatusCode::UNPROCESSABLE_ENTITY,
                Attempt { error, chosen },
            );
        }
        answer = chosen;
    }
    if !learner.done.contains(&module.slug) {
        log_completion(&state, &learner, journey, module, answer).await?;
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(
        LOCATION,
        HeaderValue::from_str(&format!("/academy/modules/{}", module.slug))
            .map_err(ApiError::internal)?,
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Logs `module.completed` under a key of the person and module, so a second one is a
/// duplicate that changes nothing.
async fn log_completion(
    state: &AppState,
    learner: &Learner,
    journey: &Journey,
    module: &Module,
    answer: Option<u32>,
) -> ApiResult<()> {
    let session = &learner.session.record;
    let email = session.email.to_lowercase();
    let mut data = json!({
        "email": email,
        "journey": journey.name,
        "module": module.slug,
    });
    if let (Some(answer), Some(data)) = (answer, data.as_object_mut()) {
        data.insert("answer".to_owned(), json!(answer));
    }
    let identity = onboard_core::token::hash(&format!(
        "{}\n{email}\n{}\n{}",
        session.account, journey.name, module.slug
    ));
    state
        .engine
        .ingest(vec![NewEvent {
            key: format!("module.completed:{}", &identity[..32]),
            kind: EventType::parse(types::MODULE_COMPLETED).map_err(ApiError::internal)?,
            account: session.account.clone(),
            at: state.engine.now(),
            data,
        }])
        .await?;
    Ok(())
}
