//! The Shared Space (`/space`), where a customer's people see their onboarding: the plan of
//! each launched project (visible tasks only: a snoozed task stays hidden until it unlocks),
//! their own tasks first, the account's goals with their progress, and recent activity
//! (`plan.rs` builds what the page shows from the account's state at the engine's time; the
//! templates are in `pages.rs`).
//!
//! Sign-in is the Academy's: the scanner-safe magic link opens a learner session whose
//! cookie is valid here too, and a page reads only the session's account. A visitor
//! without a session gets the way-in page with the Academy's "email me a new link" form.
//!
//! Changes are forms with the session's CSRF token: `POST
//! /space/projects/{project}/tasks/{task}/complete` marks an open, visible customer task
//! done and `…/comments` posts a comment (1 to 2,000 characters), each appended as the same
//! event the JSON API appends (`handlers::projects`), then a 303 back to `/space`. A project
//! or task not in the session's account is a 404; a change the task does not allow shows
//! the page again with the reason, and appends nothing. Completions and comments already
//! logged but not yet processed are applied to the state a page reads, so a change shows as
//! soon as its form was sent and a task is not offered for completion twice.

use crate::academy::{
    csrf_token, learner_session, same_secret, unprocessed_events, LearnerSession,
};
use crate::error::ApiResult;
use crate::handlers::projects::{append, append_comment, append_task_completed};
use crate::state::AppState;
use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use onboard_core::event::types;
use onboard_core::program::Program;
use onboard_core::state::{AccountState, AccountStatus, ProjectStatus, TaskStatus};
use pages::page;
use plan::{Draft, InviteDraft, Said};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

mod booking;
mod files;
mod pages;
mod plan;

pub(crate) use files::UPLOAD_BODY_LIMIT;

/// Longest comment accepted, in characters (after trimming).
const MAX_COMMENT: usize = 2_000;

/// The Shared Space routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/space", get(home))
        .route(
            "/space/projects/{project}/tasks/{task}/complete",
            post(complete),
        )
        .route(
            "/space/projects/{project}/tasks/{task}/comments",
            post(comment),
        )
        .route("/space/invite", post(invite))
        .route(
            "/space/files",
            post(files::upload).layer(axum::extract::DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)),
        )
        .route("/space/files/{id}", get(files::download))
        .route(
            "/space/projects/{project}/tasks/{task}/book",
            post(booking::book),
        )
}

/// A signed-in person of the account, with what their pages need.
pub(crate) struct Stakeholder {
    session: LearnerSession,
    account: AccountState,
    /// The program the account runs under (its goals' titles and metrics).
    program: Arc<Program>,
    /// Lower case, as the account's people are keyed.
    email: String,
    name: String,
    persona: Option<String>,
    /// The account's files, newest first.
    files: Vec<onboard_store::FileRecord>,
    /// The kickoff call the page offers to book or move, if any.
    kickoff: Option<booking::Offer>,
}

/// The person the request's session belongs to, with their account's state; `None` when
/// signed out (or when the account has no state, which a session never outlives).
async fn stakeholder(state: &AppState, headers: &HeaderMap) -> ApiResult<Option<Stakeholder>> {
    let Some(session) = learner_session(state, headers).await? else {
        return Ok(None);
    };
    // The log first, then the state: a change the processor commits in between is in the
    // state read after it, and one it has not is still unprocessed in the log, so the page
    // shows every change sent, whatever the timing.
    let account_id = &session.record.account;
    let mut pending = unprocessed_events(state, account_id, types::TASK_COMPLETED).await?;
    pending.extend(unprocessed_events(state, account_id, types::COMMENT_POSTED).await?);
    pending.extend(unprocessed_events(state, account_id, types::KICKOFF_BOOKED).await?);
    pending.sort_by_key(|e| e.seq);
    let Some(mut account) = state.engine.store().account(account_id).await? else {
        return Ok(None);
    };
    plan::apply_pending(&mut account, &pending);
    let program = match state.engine.program_of(&account.program_version).await {
        Ok(program) => program,
        Err(error) => {
            tracing::warn!(
                account = %account.id,
                version = %account.program_version,
                error = %error,
                "the account's program version cannot be read; the Shared Space uses the current program"
            );
            state.engine.program().clone()
        }
    };
    let email = session.record.email.to_lowercase();
    let person = account.people.iter().find(|p| p.email == email);
    let files = state.engine.store().account_files(&account.id).await?;
    let kickoff = booking::offer(state, &account, &program).await?;
    Ok(Some(Stakeholder {
        files,
        kickoff,
        name: person.map_or_else(|| email.clone(), |p| p.name.clone()),
        persona: person.and_then(|p| p.persona.clone()),
        email,
        program,
        account,
        session,
    }))
}

/// The way in, for a visitor without a session.
fn signed_out(state: &AppState, status: StatusCode) -> ApiResult<Response> {
    page(
        status,
        "signed_out.html",
        json!({ "program": state.engine.program().name }),
    )
}

fn not_found(who: &Stakeholder) -> ApiResult<Response> {
    page(
        StatusCode::NOT_FOUND,
        "not_found.html",
        json!({
            "account": who.account.name,
            "signed_in": true,
            "session_csrf": csrf_token(&who.session.id),
        }),
    )
}

/// The Space page, with what the last form said.
fn space(
    state: &AppState,
    who: &Stakeholder,
    status: StatusCode,
    said: Said,
) -> ApiResult<Response> {
    let context = plan::context(who, state.engine.now(), &csrf_token(&who.session.id), said);
    page(status, "space.html", context)
}

/// `GET /space`: the plan, the person's tasks, goals and activity; or the way in.
/// `?invited=added|requested` says how the invitation just sent went.
async fn home(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult<Response> {
    let notice = query.ok().and_then(|Query(q)| match q.get("invited").map(String::as_str) {
        Some("added") => Some(
            "Your colleague is in: they get an email with their sign-in link now.".to_owned(),
        ),
        Some("requested") => Some(
            "Your Customer Success Manager will confirm the invitation; your colleague gets their sign-in link then."
                .to_owned(),
        ),
        _ if q.contains_key("booked") => Some(
            "Your kickoff call is booked: the calendar invite is on its way to you and your Customer Success Manager."
                .to_owned(),
        ),
        _ if q.contains_key("uploaded") => Some(
            "Your file is uploaded: everyone on your plan can download it below.".to_owned(),
        ),
        _ => None,
    });
    match stakeholder(&state, &headers).await? {
        Some(who) => space(
            &state,
            &who,
            StatusCode::OK,
            Said {
                notice,
                ..Said::default()
            },
        ),
        None => signed_out(&state, StatusCode::OK),
    }
}

/// The invitation form.
#[derive(Deserialize)]
struct InviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
}

/// Longest name an invitation takes, in characters.
const MAX_NAME: usize = 200;

/// The domain of an email address that looks like one (`local@domain.tld`, no spaces).
fn email_domain(email: &str) -> Option<&str> {
    let (local, domain) = email.split_once('@')?;
    let plausible = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.chars().any(char::is_whitespace)
        && email.len() <= 254;
    plausible.then_some(domain)
}

/// `POST /space/invite`: invites a colleague. One at the inviter's email domain or the
/// account's domain is added to the account at once (`person.added`, which enrols them and,
/// in the example program, sends their welcome and sign-in link); anyone else is asked of
/// the CSM (`invite.requested`).
async fn invite(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<InviteForm>, FormRejection>,
) -> ApiResult<Response> {
    let Some(who) = stakeholder(&state, &headers).await? else {
        return signed_out(&state, StatusCode::UNAUTHORIZED);
    };
    let form = form.ok().map(|f| f.0);
    let valid = form
        .as_ref()
        .is_some_and(|f| same_secret(&f.csrf, &csrf_token(&who.session.id)));
    let Some(form) = form.filter(|_| valid) else {
        return space(
            &state,
            &who,
            StatusCode::FORBIDDEN,
            Said {
                error: Some(
                    "That form had expired, so nothing was sent. Please try again from this page."
                        .to_owned(),
                ),
                ..Said::default()
            },
        );
    };
    if who.account.status != AccountStatus::Active {
        let message = format!(
            "Your onboarding is {} for now, so no one can be invited.",
            who.account.status.as_str()
        );
        return space(
            &state,
            &who,
            StatusCode::CONFLICT,
            Said {
                error: Some(message),
                ..Said::default()
            },
        );
    }
    let name = form.name.trim().to_owned();
    let email = form.email.trim().to_lowercase();
    let mut draft = InviteDraft {
        name: name.clone(),
        email: email.clone(),
        ..InviteDraft::default()
    };
    if name.is_empty() {
        draft.name_error = Some("Write your colleague's name.".to_owned());
    } else if name.chars().count() > MAX_NAME {
        draft.name_error = Some(format!("A name has at most {MAX_NAME} characters."));
    }
    let domain = email_domain(&email);
    if email.is_empty() {
        draft.email_error = Some("Write your colleague's email address.".to_owned());
    } else if domain.is_none() {
        draft.email_error = Some("That is not an email address.".to_owned());
    } else if who.account.people.iter().any(|p| p.email == email) {
        draft.email_error = Some(format!("{email} can already sign in to this Shared Space."));
    }
    if draft.name_error.is_some() || draft.email_error.is_some() {
        return space(
            &state,
            &who,
            StatusCode::UNPROCESSABLE_ENTITY,
            Said {
                invite: Some(draft),
                ..Said::default()
            },
        );
    }
    let same_company = domain.is_some_and(|d| {
        email_domain(&who.email) == Some(d)
            || who
                .account
                .domain
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(d))
    });
    let data = json!({ "email": email, "name": name, "invited_by": who.email });
    let outcome = if same_company {
        let mut data = data;
        data["source"] = json!("invite");
        append(&state, &who.account.id, types::PERSON_ADDED, &email, data).await?;
        "added"
    } else {
        append(
            &state,
            &who.account.id,
            types::INVITE_REQUESTED,
            &email,
            data,
        )
        .await?;
        "requested"
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(
        LOCATION,
        HeaderValue::from_static(if outcome == "added" {
            "/space?invited=added"
        } else {
            "/space?invited=requested"
        }),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The fields of the Space's forms.
#[derive(Deserialize)]
struct TaskForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    text: String,
}

/// Where a form is sent: the signed-in person, a task in a launched project of their
/// account, and the form as sent (`None` when it is not the page's form).
struct Target {
    who: Stakeholder,
    project: String,
    task: String,
    form: Option<TaskForm>,
}

/// The form's target, or the answer already made (signed out, or 404).
async fn target(
    state: &AppState,
    headers: &HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    form: Result<Form<TaskForm>, FormRejection>,
) -> ApiResult<Result<Target, Response>> {
    let Some(who) = stakeholder(state, headers).await? else {
        return Ok(Err(signed_out(state, StatusCode::UNAUTHORIZED)?));
    };
    let Ok(Path((project, task))) = path else {
        return Ok(Err(not_found(&who)?));
    };
    let known = who
        .account
        .project(&project)
        .filter(|p| p.status != ProjectStatus::Draft)
        .is_some_and(|p| p.tasks.iter().any(|t| t.key == task));
    if !known {
        return Ok(Err(not_found(&who)?));
    }
    Ok(Ok(Target {
        who,
        project,
        task,
        form: form.ok().map(|f| f.0),
    }))
}

/// Why a change cannot be made to the task now, with the answer's status; `None` when it
/// can. Checks what completing and commenting share: the form, the account, the task shown.
fn refusal(
    who: &Stakeholder,
    now: onboard_core::Timestamp,
    project: &str,
    task: &str,
    form: Option<&TaskForm>,
) -> Option<(StatusCode, String)> {
    let valid = form.is_some_and(|f| same_secret(&f.csrf, &csrf_token(&who.session.id)));
    if !valid {
        return Some((
            StatusCode::FORBIDDEN,
            "That form had expired, so nothing was saved. Please try again from this page."
                .to_owned(),
        ));
    }
    if who.account.status != AccountStatus::Active {
        return Some((
            StatusCode::CONFLICT,
            format!(
                "Your onboarding is {} for now, so the plan takes no changes.",
                who.account.status.as_str()
            ),
        ));
    }
    let found = who.account.project(project)?;
    let item = found.tasks.iter().find(|t| t.key == task)?;
    if !plan::visible(item, now) {
        return Some((
            StatusCode::NOT_FOUND,
            "That task is not in your plan yet.".to_owned(),
        ));
    }
    if found.status != ProjectStatus::Active {
        return Some((
            StatusCode::CONFLICT,
            format!(
                "“{}” is complete, so its tasks no longer change.",
                found.title
            ),
        ));
    }
    None
}

fn back_to_space() -> ApiResult<Response> {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(LOCATION, HeaderValue::from_static("/space"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `POST /space/projects/{project}/tasks/{task}/complete`: marks an open customer task of
/// the plan done, by the signed-in person, as the API's task completion does.
async fn complete(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    form: Result<Form<TaskForm>, FormRejection>,
) -> ApiResult<Response> {
    let Target {
        who,
        project,
        task,
        form,
    } = match target(&state, &headers, path, form).await? {
        Ok(target) => target,
        Err(answer) => return Ok(answer),
    };
    let now = state.engine.now();
    let refuse = |status, message: String| {
        space(
            &state,
            &who,
            status,
            Said {
                error: Some(message),
                ..Said::default()
            },
        )
    };
    if let Some((status, message)) = refusal(&who, now, &project, &task, form.as_ref()) {
        return refuse(status, message);
    }
    let Some(item) = who
        .account
        .project(&project)
        .and_then(|p| p.tasks.iter().find(|t| t.key == task))
    else {
        return not_found(&who);
    };
    if item.owner != "customer" {
        return refuse(
            StatusCode::FORBIDDEN,
            format!(
                "“{}” is a task for our team: we mark it done on our side.",
                item.title
            ),
        );
    }
    match item.status {
        TaskStatus::Open => {}
        TaskStatus::Done => {
            return refuse(
                StatusCode::CONFLICT,
                format!("“{}” is done already.", item.title),
            )
        }
        TaskStatus::Waiting | TaskStatus::Snoozed => {
            return refuse(
                StatusCode::CONFLICT,
                format!(
                    "“{}” waits for an earlier step of the plan to be done first.",
                    item.title
                ),
            )
        }
    }
    append_task_completed(&state, &who.account.id, &project, &task, Some(&who.email)).await?;
    back_to_space()
}

/// `POST /space/projects/{project}/tasks/{task}/comments`: posts the signed-in person's
/// comment on a task of the plan, as the API's comment does.
async fn comment(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    form: Result<Form<TaskForm>, FormRejection>,
) -> ApiResult<Response> {
    let Target {
        who,
        project,
        task,
        form,
    } = match target(&state, &headers, path, form).await? {
        Ok(target) => target,
        Err(answer) => return Ok(answer),
    };
    let now = state.engine.now();
    if let Some((status, message)) = refusal(&who, now, &project, &task, form.as_ref()) {
        return space(
            &state,
            &who,
            status,
            Said {
                error: Some(message),
                ..Said::default()
            },
        );
    }
    let text = form.map(|f| f.text).unwrap_or_default();
    let trimmed = text.trim();
    let n_chars = trimmed.chars().count();
    let problem = if n_chars == 0 {
        Some("Write a comment before posting it.".to_owned())
    } else if n_chars > MAX_COMMENT {
        Some(format!(
            "A comment is at most {MAX_COMMENT} characters; this one has {n_chars}."
        ))
    } else {
        None
    };
    if let Some(problem) = problem {
        return space(
            &state,
            &who,
            StatusCode::UNPROCESSABLE_ENTITY,
            Said {
                draft: Some(Draft {
                    project,
                    task,
                    text,
                    error: problem,
                }),
                ..Said::default()
            },
        );
    }
    append_comment(
        &state,
        &who.account.id,
        &project,
        &task,
        &who.email,
        trimmed,
    )
    .await?;
    back_to_space()
}
