//! Self-serve kickoff booking in the Shared Space. While the account's launched project has
//! a kickoff task not done, and its CSM has `availability` in the program, the page offers
//! the CSM's next free slots from the engine's time ([`onboard_core::booking`]), minus the
//! slots any account of that CSM has booked. Booking one (`POST
//! /space/projects/{project}/tasks/{task}/book`, CSRF-checked) first takes the slot in the
//! store, whose unique key refuses a slot another account took meanwhile, then appends
//! `kickoff.booked`, which the processor records on the task with the calendar invites. A
//! booked call can be moved the same way: same UID, SEQUENCE one more.

use super::{not_found, signed_out, space, stakeholder, Said};
use crate::academy::{csrf_token, same_secret};
use crate::error::ApiResult;
use crate::handlers::projects::append;
use crate::state::AppState;
use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use onboard_core::booking::{is_offered, offered, Slot};
use onboard_core::event::types;
use onboard_core::program::{Availability, Program};
use onboard_core::state::{AccountState, AccountStatus, Booking, ProjectStatus, TaskStatus};
use onboard_core::{Duration, Timestamp};
use onboard_store::{KickoffSlot, StoreError, SLOT_TAKEN};
use serde::Deserialize;
use serde_json::json;

/// How many free slots the page offers.
const N_SLOTS: usize = 12;

/// What the page offers for the kickoff call.
pub(super) struct Offer {
    pub project: String,
    pub task: String,
    pub title: String,
    pub csm_name: String,
    pub booking: Option<Booking>,
    /// The next free slots.
    pub slots: Vec<Slot>,
}

/// The account's kickoff task open for booking, with the CSM's email and hours: the first
/// task marked `kickoff` and not done, in the first active project that has one.
fn bookable<'a>(
    account: &'a AccountState,
    program: &'a Program,
) -> Option<(
    &'a str,
    &'a onboard_core::state::ProjectTask,
    &'a str,
    &'a Availability,
)> {
    let csm = account.csm.as_deref()?;
    let member = program.team.iter().find(|m| m.email == csm)?;
    let hours = member.availability.as_ref()?;
    account
        .projects
        .iter()
        .filter(|p| p.status == ProjectStatus::Active)
        .find_map(|p| {
            p.tasks
                .iter()
                .find(|t| t.kickoff.is_some() && t.status != TaskStatus::Done)
                .map(|t| (p.id.as_str(), t))
        })
        .map(|(project, task)| (project, task, member.name.as_str(), hours))
}

/// The slots booked in the CSM's calendar from `now` to the end of the offered days, but
/// the one of this task (which the page shows as its booking).
async fn taken(
    state: &AppState,
    csm: &str,
    hours: &Availability,
    now: Timestamp,
    account: &str,
    project: &str,
    task: &str,
) -> ApiResult<Vec<Slot>> {
    let horizon = now.plus(Duration(
        (i64::from(hours.days_ahead) + 2) * Duration::DAY.millis(),
    ));
    Ok(state
        .engine
        .store()
        .csm_kickoff_slots(csm, now, horizon)
        .await?
        .into_iter()
        .filter(|s| !(s.account == account && s.project == project && s.task == task))
        .map(|s| Slot {
            start: s.start_at,
            end: s.end_at,
        })
        .collect())
}

/// What the page offers for the account's kickoff call, if anything.
pub(super) async fn offer(
    state: &AppState,
    account: &AccountState,
    program: &Program,
) -> ApiResult<Option<Offer>> {
    if account.status != AccountStatus::Active {
        return Ok(None);
    }
    let Some((project, task, csm_name, hours)) = bookable(account, program) else {
        return Ok(None);
    };
    let csm = account.csm.as_deref().unwrap_or_default();
    let now = state.engine.now();
    let taken = taken(state, csm, hours, now, &account.id, project, &task.key).await?;
    Ok(Some(Offer {
        project: project.to_owned(),
        task: task.key.clone(),
        title: task.title.clone(),
        csm_name: csm_name.to_owned(),
        booking: task.booking.clone(),
        slots: offered(hours, now, &taken, N_SLOTS)
            .into_iter()
            .filter(|s| task.booking.as_ref().is_none_or(|b| b.start != s.start))
            .collect(),
    }))
}

/// The booking form.
#[derive(Deserialize)]
pub(super) struct BookForm {
    #[serde(default)]
    csrf: String,
    /// The slot's start, RFC 3339.
    #[serde(default)]
    start: String,
}

/// `POST /space/projects/{project}/tasks/{task}/book`: books (or moves) the kickoff call in
/// one of the offered slots.
pub(super) async fn book(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    form: Result<Form<BookForm>, FormRejection>,
) -> ApiResult<Response> {
    let Some(who) = stakeholder(&state, &headers).await? else {
        return signed_out(&state, StatusCode::UNAUTHORIZED);
    };
    let Ok(Path((project, task))) = path else {
        return not_found(&who);
    };
    let known = who
        .account
        .project(&project)
        .filter(|p| p.status != ProjectStatus::Draft)
        .is_some_and(|p| p.tasks.iter().any(|t| t.key == task));
    if !known {
        return not_found(&who);
    }
    let refuse = |status, message: String| {
        space(
            &state,
            &who,
            status,
            Said {
                booking_error: Some(message),
                ..Said::default()
            },
        )
    };
    let form = form.ok().map(|f| f.0);
    let Some(form) = form.filter(|f| same_secret(&f.csrf, &csrf_token(&who.session.id))) else {
        return refuse(
            StatusCode::FORBIDDEN,
            "That form had expired, so nothing was booked. Please try again from this page."
                .to_owned(),
        );
    };
    if who.account.status != AccountStatus::Active {
        return refuse(
            StatusCode::CONFLICT,
            format!(
                "Your onboarding is {} for now, so no call can be booked.",
                who.account.status.as_str()
            ),
        );
    }
    let Some((open_project, open_task, _, hours)) =
        bookable(&who.account, &who.program).filter(|(p, t, _, _)| *p == project && t.key == task)
    else {
        return refuse(
            StatusCode::CONFLICT,
            "That call cannot be booked here: it is done, or not one your Customer Success Manager offers times for."
                .to_owned(),
        );
    };
    let now = state.engine.now();
    let Ok(start) = Timestamp::parse_rfc3339(form.start.trim()) else {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Pick one of the times below.".to_owned(),
        );
    };
    let slot = Slot {
        start,
        end: start.plus(hours.slot),
    };
    if !is_offered(hours, now, slot) {
        let message = if start <= now.plus(hours.notice) {
            "That time has passed or is too soon to book. Please pick one of the times below."
        } else {
            "That time is not one your Customer Success Manager offers. Please pick one of the times below."
        };
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, message.to_owned());
    }
    let csm = who.account.csm.clone().unwrap_or_default();
    let reserved = state
        .engine
        .store()
        .reserve_kickoff_slot(&KickoffSlot {
            csm,
            start_at: slot.start,
            end_at: slot.end,
            account: who.account.id.clone(),
            project: open_project.to_owned(),
            task: open_task.key.clone(),
            booked_at: now,
        })
        .await;
    match reserved {
        Ok(()) => {}
        Err(StoreError::Conflict(name)) if name == SLOT_TAKEN => {
            return refuse(
                StatusCode::CONFLICT,
                "Someone just booked that time. Please pick another one below.".to_owned(),
            )
        }
        Err(e) => return Err(e.into()),
    }
    append(
        &state,
        &who.account.id,
        types::KICKOFF_BOOKED,
        &task,
        json!({
            "project": project,
            "task": task,
            "start": slot.start.to_rfc3339(),
            "end": slot.end.to_rfc3339(),
            "by": who.email,
        }),
    )
    .await?;
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(
        LOCATION,
        HeaderValue::from_static("/space?booked=1#kickoff"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
