//! Accounts as the processor sees them: `GET /api/accounts` (a page of accounts),
//! `GET /api/accounts/{id}` (people with personas and journeys, CSM, deals, and a timeline of
//! events and messages), `GET /api/accounts/{id}/traces` (why each rule fired or did not, one
//! decision at a time), `GET /api/accounts/{id}/trace` (every rule of the program, where it
//! stands for the account),
//! and `PUT /api/accounts/{id}/people/{email}/persona` (re-segment a person by hand).

use crate::error::{ApiError, ApiResult};
use crate::extract::{Admin, JsonValue, Params};
use crate::handlers::events::EventView;
use crate::handlers::messages::MessageView;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use onboard_core::event::{types, InputError};
use onboard_core::state::AccountState;
use onboard_core::{EventType, NewEvent};
use onboard_store::{AccountFilter, EventFilter, MessageFilter};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use utoipa::ToSchema;

fn account_json(account: &AccountState) -> ApiResult<Value> {
    let mut value = serde_json::to_value(account).map_err(ApiError::internal)?;
    if let Some(object) = value.as_object_mut() {
        object.insert("created_at".into(), json!(account.created_at.to_rfc3339()));
        object.insert("updated_at".into(), json!(account.updated_at.to_rfc3339()));
    }
    Ok(value)
}

/// An account in the list.
#[derive(Serialize, ToSchema)]
pub struct AccountSummary {
    /// The account key.
    pub id: String,
    pub name: String,
    /// The company's web domain, when known.
    pub domain: Option<String>,
    #[schema(value_type = AccountStatusSchema)]
    pub status: &'static str,
    /// The assigned CSM's email.
    pub csm: Option<String>,
    /// How many people the account has.
    pub people: usize,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// A page of accounts in id order.
#[derive(Serialize, ToSchema)]
pub struct AccountPage {
    pub accounts: Vec<AccountSummary>,
    /// The `after` of the next page; null on the last one.
    pub next_after: Option<String>,
}

/// An account's status.
#[derive(ToSchema)]
#[schema(as = AccountStatus)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Describes `AccountStatus::as_str`; see `status_names_are_documented`.
pub enum AccountStatusSchema {
    Active,
    Paused,
    Churned,
}

/// A page of accounts in id order: `?after=<id>&limit=&csm=&status=`.
#[utoipa::path(
    get,
    path = "/api/accounts",
    tag = "accounts",
    operation_id = "list_accounts",
    params(
        ("after" = Option<String>, Query, description = "The `next_after` of the previous page: accounts whose id sorts after it"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "Page size; 100 by default"),
        ("csm" = Option<String>, Query, description = "Only the accounts of this CSM (email, any case)"),
        ("status" = Option<AccountStatusSchema>, Query, description = "Only accounts in this status"),
    ),
    responses(
        (status = 200, description = "A page of accounts", body = AccountPage),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    params: Params,
) -> ApiResult<Json<AccountPage>> {
    params.only(&["after", "limit", "csm", "status"])?;
    let limit = params.int("limit", 1, 500)?.unwrap_or(100);
    let status = params.text("status").map(str::to_owned);
    if let Some(status) = &status {
        if !["active", "paused", "churned"].contains(&status.as_str()) {
            return Err(ApiError::bad_request(format!(
                "`status` must be active, paused or churned, not `{status}`"
            )));
        }
    }
    let accounts = state
        .engine
        .store()
        .list_accounts(&AccountFilter {
            after: params.text("after").map(str::to_owned),
            limit,
            csm: params.text("csm").map(str::to_lowercase),
            status,
        })
        .await?;
    let next = (accounts.len() as i64 == limit)
        .then(|| accounts.last().map(|a| a.id.clone()))
        .flatten();
    Ok(Json(AccountPage {
        accounts: accounts
            .iter()
            .map(|a| AccountSummary {
                id: a.id.clone(),
                name: a.name.clone(),
                domain: a.domain.clone(),
                status: a.status.as_str(),
                csm: a.csm.clone(),
                people: a.people.len(),
                created_at: a.created_at.to_rfc3339(),
            })
            .collect(),
        next_after: next,
    }))
}

/// An account's latest events and messages, newest first.
#[derive(Serialize, ToSchema)]
pub struct Timeline {
    /// The latest 200 events.
    pub events: Vec<EventView>,
    /// The latest 200 messages.
    pub messages: Vec<MessageView>,
}

/// One account with its timeline: its latest events and messages, newest first.
#[utoipa::path(
    get,
    path = "/api/accounts/{id}",
    tag = "accounts",
    operation_id = "account",
    params(("id" = String, Path, description = "The account key")),
    responses(
        (status = 200, description = "The account's state and timeline", body = AccountSchema),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No account has this key", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("bearer" = []))
)]
pub async fn one(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let store = state.engine.store();
    let account = store
        .account(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no account `{id}`")))?;
    let mut value = account_json(&account)?;
    let mut events = store
        .list_events(&EventFilter {
            account: Some(id.clone()),
            limit: 1_000,
            ..EventFilter::default()
        })
        .await?;
    events.reverse();
    events.truncate(200);
    let messages = store
        .list_messages(&MessageFilter {
            account: Some(id.clone()),
            limit: 200,
            ..MessageFilter::default()
        })
        .await?;
    let timeline = Timeline {
        events: events.iter().map(EventView::from).collect(),
        messages: messages.iter().map(MessageView::from).collect(),
    };
    if let Some(object) = value.as_object_mut() {
        object.insert(
            "timeline".into(),
            serde_json::to_value(timeline).map_err(ApiError::internal)?,
        );
    }
    Ok(Json(value))
}

/// Why a rule fired, or did not, for one event.
#[derive(Serialize, ToSchema)]
#[schema(as = Trace)]
pub struct TraceView {
    pub rule: String,
    /// The key of the event evaluated.
    pub event: String,
    #[schema(format = DateTime)]
    pub at: String,
    #[schema(value_type = TraceOutcomeSchema)]
    pub outcome: &'static str,
    pub reason: String,
}

/// What a rule did with an event.
#[derive(ToSchema)]
#[schema(as = TraceOutcome)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Describes `TraceOutcome::as_str`; see `status_names_are_documented`.
pub enum TraceOutcomeSchema {
    Fired,
    Scheduled,
    Cancelled,
    Skipped,
    Failed,
}

/// An account's traces, newest first.
#[derive(Serialize, ToSchema)]
pub struct TracePage {
    pub traces: Vec<TraceView>,
}

/// Why each rule fired or did not, newest first; an unknown account has none.
#[utoipa::path(
    get,
    path = "/api/accounts/{id}/traces",
    tag = "accounts",
    operation_id = "account_traces",
    params(
        ("id" = String, Path, description = "The account key"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "How many; 200 by default"),
    ),
    responses(
        (status = 200, description = "The latest traces", body = TracePage),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("bearer" = []))
)]
pub async fn traces(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Json<TracePage>> {
    params.only(&["limit"])?;
    let limit = params.int("limit", 1, 1_000)?.unwrap_or(200);
    let traces = state.engine.store().traces(&id, limit).await?;
    Ok(Json(TracePage {
        traces: traces
            .iter()
            .map(|t| TraceView {
                rule: t.rule.clone(),
                event: t.event.clone(),
                at: t.at.to_rfc3339(),
                outcome: t.outcome.as_str(),
                reason: t.reason.clone(),
            })
            .collect(),
    }))
}

/// Where one rule of the program stands for an account.
#[derive(Serialize, ToSchema)]
pub struct RuleStanding {
    pub rule: String,
    /// The trigger as written: `on deal.won`, `after 72h since deal.won unless academy.login`.
    pub trigger: String,
    /// The rule's condition, if it has one.
    pub when: Option<String>,
    /// `fired`, `skipped`, `failed`, `cancelled`: the latest decision; `scheduled`: a timer
    /// is pending; `waiting`: nothing has triggered it yet.
    pub status: &'static str,
    /// Why, in words: what it did, why not (a false condition with the values it read,
    /// re-entry, an exit), or until when its timer waits.
    pub why: String,
    /// How many times it ran for this account (all its people together).
    pub runs: u32,
    /// The latest decision about it, if any.
    pub latest: Option<TraceView>,
    /// Its pending timers, earliest first.
    pub pending: Vec<PendingTimer>,
}

/// A timer waiting to fire.
#[derive(Serialize, ToSchema)]
pub struct PendingTimer {
    pub id: String,
    #[schema(format = DateTime)]
    pub due_at: String,
}

/// Every rule of the program and where it stands for one account.
#[derive(Serialize, ToSchema)]
pub struct AccountTrace {
    pub account: String,
    /// The program version the account runs under.
    pub program_version: String,
    pub rules: Vec<RuleStanding>,
}

/// Every rule of the program, for one account: whether it fired, when and what it did, or
/// why not (condition false with the values seen, timer pending until a time, cancelled,
/// held by re-entry, exited), from the latest traces and the pending timers.
#[utoipa::path(
    get,
    path = "/api/accounts/{id}/trace",
    tag = "accounts",
    operation_id = "account_trace",
    params(("id" = String, Path, description = "The account key")),
    responses(
        (status = 200, description = "Each rule and where it stands", body = AccountTrace),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No account has this key", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("bearer" = []))
)]
pub async fn trace(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<AccountTrace>> {
    let store = state.engine.store();
    let account = store
        .account(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no account `{id}`")))?;
    let traces = store.traces(&id, 1_000).await?;
    let timers = store.pending_timers(&id, 1_000).await?;
    let program = state.engine.program();
    let rules = program
        .rules
        .iter()
        .map(|rule| {
            let latest = traces.iter().find(|t| t.rule == rule.name);
            let pending: Vec<PendingTimer> = timers
                .iter()
                // The rule's timers: the account's, and each person's (`<rule>#<email>`).
                .filter(|t| {
                    t.rule
                        .split_once('#')
                        .map_or(t.rule.as_str(), |(name, _)| name)
                        == rule.name
                })
                .map(|t| PendingTimer {
                    id: t.id.clone(),
                    due_at: t.due_at.to_rfc3339(),
                })
                .collect();
            let runs = account
                .rule_runs
                .iter()
                .filter(|(key, _)| {
                    key.as_str() == rule.name
                        || key
                            .strip_prefix(rule.name.as_str())
                            .is_some_and(|rest| rest.starts_with('/'))
                })
                .map(|(_, runs)| runs.n)
                .sum();
            let trigger = match &rule.trigger {
                onboard_core::program::Trigger::On { event } => format!("on {event}"),
                onboard_core::program::Trigger::After {
                    delay,
                    since,
                    unless,
                } => match unless {
                    Some(unless) => format!("after {delay} since {since} unless {unless}"),
                    None => format!("after {delay} since {since}"),
                },
            };
            let (status, why) = match (pending.first(), latest) {
                (Some(first), _) => ("scheduled", format!("timer pending until {}", first.due_at)),
                (None, Some(t)) => (t.outcome.as_str(), t.reason.clone()),
                (None, None) => {
                    let first = match &rule.trigger {
                        onboard_core::program::Trigger::On { event } => event,
                        onboard_core::program::Trigger::After { since, .. } => since,
                    };
                    ("waiting", format!("no `{first}` for this account yet"))
                }
            };
            RuleStanding {
                rule: rule.name.clone(),
                trigger,
                when: rule.when.as_ref().map(|w| w.source().to_owned()),
                status,
                why,
                runs,
                latest: latest.map(|t| TraceView {
                    rule: t.rule.clone(),
                    event: t.event.clone(),
                    at: t.at.to_rfc3339(),
                    outcome: t.outcome.as_str(),
                    reason: t.reason.clone(),
                }),
                pending,
            }
        })
        .collect();
    Ok(Json(AccountTrace {
        account: account.id.clone(),
        program_version: account.program_version.clone(),
        rules,
    }))
}

/// The body of `PUT /api/accounts/{id}/people/{email}/persona`.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the body only; the handler reads a `Value`.
pub struct PersonaChange {
    /// One of the program's personas.
    #[schema(example = "admin")]
    persona: String,
}

/// The answer of a persona change: the event that carries it.
#[derive(Serialize, ToSchema)]
pub struct PersonaSet {
    /// The key of the `person.resegmented` event appended.
    pub event: String,
    pub persona: String,
}

/// Sets a person's persona by hand (`{"persona": "admin"}`); their journey follows once the
/// `person.resegmented` event is processed. Answers 202 with the event's key.
#[utoipa::path(
    put,
    path = "/api/accounts/{id}/people/{email}/persona",
    tag = "accounts",
    operation_id = "set_persona",
    params(
        ("id" = String, Path, description = "The account key"),
        ("email" = String, Path, description = "The person's email (any case)"),
    ),
    request_body = PersonaChange,
    responses(
        (status = 202, description = "The change is in the event log; the person's journey follows once it is processed", body = PersonaSet),
        (status = 400, response = crate::openapi::BadRequest),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such account, or no such person at it", body = crate::openapi::ErrorBody),
        (status = 413, response = crate::openapi::TooLarge),
        (status = 422, description = "`persona` is not one of the program's; `details` names them", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
pub async fn set_persona(
    State(state): State<AppState>,
    _admin: Admin,
    Path((id, email)): Path<(String, String)>,
    JsonValue(body): JsonValue,
) -> ApiResult<(axum::http::StatusCode, Json<PersonaSet>)> {
    let program = state.engine.program().clone();
    let persona = body.get("persona").and_then(Value::as_str).unwrap_or("");
    if program.persona(persona).is_none() {
        let known: Vec<&str> = program.personas.iter().map(|p| p.name.as_str()).collect();
        return Err(ApiError::invalid(
            "the persona is not one of the program's",
            vec![InputError {
                at: "persona".to_owned(),
                message: format!("use one of {}", known.join(", ")),
            }],
        ));
    }
    let email = email.to_lowercase();
    let account = state
        .engine
        .store()
        .account(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no account `{id}`")))?;
    if !account.people.iter().any(|p| p.email == email) {
        return Err(ApiError::not_found(format!(
            "no person `{email}` at account `{id}`"
        )));
    }
    let now = state.engine.now();
    let kind = EventType::parse(types::PERSON_RESEGMENTED).map_err(ApiError::internal)?;
    let key = format!("person.resegmented:{id}:{email}:{}", now.millis());
    state
        .engine
        .ingest(vec![NewEvent {
            key: key.clone(),
            kind,
            account: id,
            at: now,
            data: json!({ "email": email, "persona": persona }),
        }])
        .await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(PersonaSet {
            event: key,
            persona: persona.to_owned(),
        }),
    ))
}

/// An alert a rule raised to a channel.
#[derive(Serialize, ToSchema)]
pub struct AlertView {
    /// Its id, for closing it.
    pub id: String,
    /// `<account>/<rule>/<reason>`: while open, another firing updates it.
    pub identity: String,
    pub rule: String,
    pub channel: String,
    pub reason: String,
    /// `open` or `closed`.
    pub status: &'static str,
    #[schema(format = DateTime)]
    pub opened_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// How many times it was raised.
    pub count: u32,
    /// The key of the event that first raised it.
    pub cause: String,
}

/// An account's alerts, oldest first.
#[derive(Serialize, ToSchema)]
pub struct AlertList {
    pub alerts: Vec<AlertView>,
}

/// An account's alerts: raised by rules to channels, open or closed.
#[utoipa::path(
    get,
    path = "/api/accounts/{id}/alerts",
    tag = "accounts",
    operation_id = "account_alerts",
    params(("id" = String, Path, description = "The account key")),
    responses(
        (status = 200, description = "The account's alerts", body = AlertList),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No account has this key", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("bearer" = []))
)]
pub async fn alerts(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<AlertList>> {
    let account = state
        .engine
        .store()
        .account(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no account `{id}`")))?;
    Ok(Json(AlertList {
        alerts: account
            .alerts
            .iter()
            .map(|a| AlertView {
                id: a.id(),
                identity: a.identity.clone(),
                rule: a.rule.clone(),
                channel: a.channel.clone(),
                reason: a.reason.clone(),
                status: a.status.as_str(),
                opened_at: a.opened_at.to_rfc3339(),
                updated_at: a.updated_at.to_rfc3339(),
                count: a.count,
                cause: a.cause.clone(),
            })
            .collect(),
    }))
}

/// The answer of an alert's closing: the event that carries it.
#[derive(Serialize, ToSchema)]
pub struct AlertClosed {
    /// The key of the `alert.closed` event appended.
    pub event: String,
    pub alert: String,
}

/// Closes an open alert (someone took it up): the next firing of its rule posts again.
#[utoipa::path(
    post,
    path = "/api/accounts/{id}/alerts/{alert}/close",
    tag = "accounts",
    operation_id = "close_alert",
    params(
        ("id" = String, Path, description = "The account key"),
        ("alert" = String, Path, description = "The alert's id"),
    ),
    responses(
        (status = 202, description = "The closing is in the event log", body = AlertClosed),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such account or alert", body = crate::openapi::ErrorBody),
        (status = 409, description = "The alert is already closed", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
        (status = 503, response = crate::openapi::Unavailable),
    ),
    security(("bearer" = []))
)]
pub async fn close_alert(
    State(state): State<AppState>,
    _admin: Admin,
    Path((id, alert)): Path<(String, String)>,
) -> ApiResult<(axum::http::StatusCode, Json<AlertClosed>)> {
    let account = state
        .engine
        .store()
        .account(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no account `{id}`")))?;
    let found = account
        .alerts
        .iter()
        .find(|a| a.id() == alert)
        .ok_or_else(|| ApiError::not_found(format!("no alert `{alert}` at account `{id}`")))?;
    if found.status == onboard_core::state::AlertStatus::Closed {
        return Err(ApiError::conflict(format!(
            "alert `{alert}` is already closed"
        )));
    }
    let now = state.engine.now();
    let kind = EventType::parse(types::ALERT_CLOSED).map_err(ApiError::internal)?;
    let key = format!("alert.closed:{alert}:{}", now.millis());
    state
        .engine
        .ingest(vec![NewEvent {
            key: key.clone(),
            kind,
            account: id,
            at: now,
            data: json!({ "alert": alert }),
        }])
        .await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        Json(AlertClosed { event: key, alert }),
    ))
}

/// The account document: the processor's `AccountState` as serialized (times of the account
/// itself in RFC 3339, the others in epoch milliseconds), plus its timeline. Described here
/// by hand; the web tests compare it with real answers.
#[derive(ToSchema)]
#[schema(as = Account)]
#[allow(dead_code)] // Describes `account_json` plus `timeline`.
pub struct AccountSchema {
    /// The account key.
    id: String,
    name: String,
    #[schema(value_type = AccountStatusSchema)]
    status: String,
    /// The program version this account's onboarding runs under.
    program_version: String,
    /// The assigned CSM's email.
    csm: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    /// The company's web domain; absent when unknown.
    #[schema(required = false)]
    domain: String,
    /// The won deals recorded on the account.
    deals: Vec<DealSchema>,
    people: Vec<PersonSchema>,
    /// How often each event type was seen, by type.
    seen: BTreeMap<String, SeenSchema>,
    /// How often each rule ran, by rule.
    rule_runs: BTreeMap<String, RuleRunsSchema>,
    /// The account's projects with their tasks, as stored (times in epoch milliseconds);
    /// `GET /api/accounts/{id}/projects` shows them with RFC 3339 times.
    #[schema(value_type = Vec<Object>)]
    projects: Vec<Value>,
    /// The account's team tasks, as stored; see `GET /api/accounts/{id}/tasks`.
    #[schema(value_type = Vec<Object>)]
    team_tasks: Vec<Value>,
    /// The program's goals for this account: `name`, `target`, `started_at` and
    /// `deadline_at` (epoch milliseconds), `status` (`on_track`, `at_risk`, `achieved`,
    /// `missed`), the measured `value`, the `forecast` at the deadline when there is enough to
    /// go on, `count` (events counted), `updated_at`.
    #[schema(value_type = Vec<Object>)]
    goals: Vec<Value>,
    /// Alerts rules raised to channels: `identity` (account, rule, reason), `rule`,
    /// `channel`, `reason`, `status` (`open`, `closed`), `opened_at` and `updated_at` (epoch
    /// milliseconds), `count` (times raised), `cause` (the first event's key).
    #[schema(value_type = Vec<Object>)]
    alerts: Vec<Value>,
    /// The account's first Aha event: `at` (epoch milliseconds), `email` (absent when the
    /// product user is linked to nobody), `persona`, `event` (the product event's name),
    /// `ttv_ms` (from the first won deal; absent when no deal is known). Absent until
    /// reached; see `GET /api/accounts/{id}/health`.
    #[schema(required = false, value_type = Object)]
    aha: Value,
    /// Product usage as health keeps it: `users` (by product user id: `email` once linked,
    /// `last_at`, `features`: last use of each key feature), `days` (active users per day,
    /// `day` since the epoch and `users`, over two windows), `first_at`. Absent before any
    /// use; `GET /api/accounts/{id}/health` assesses it.
    #[schema(required = false, value_type = Object)]
    usage: Value,
    /// The account's own fields, by name, as rules' `set = "account.fields.<name>"` wrote
    /// them (a string, number or boolean; conditions read `account.fields.<name>`). Absent
    /// while none is set.
    #[schema(required = false, value_type = Object)]
    fields: BTreeMap<String, Value>,
    /// The windows of `after` rules still waiting (a pending timer), by the timer's rule (the
    /// rule's name, or `<rule>#<email>` for one person's window), with how many timers of
    /// that name are pending: the rule's `unless` event closes them. Absent for an account
    /// stored before windows were kept.
    #[schema(required = false)]
    open_windows: BTreeMap<String, u32>,
    /// When the goals are next checked with nothing arriving (epoch milliseconds): the
    /// first day, counted from when the goals started, on which a goal's status can change
    /// by time alone (its forecast starts or falls short, an active user goes quiet, its
    /// deadline). Absent while no goal is open.
    #[schema(required = false)]
    goals_check_at: i64,
    timeline: Timeline,
}

/// A human at an account. Fields without a value are absent.
#[derive(ToSchema)]
#[schema(as = Person)]
#[allow(dead_code)] // Describes `onboard_core::state::Person`.
pub struct PersonSchema {
    /// Lower case: the person's identity at the account.
    email: String,
    name: String,
    #[schema(required = false)]
    title: String,
    /// One of the program's personas.
    #[schema(required = false)]
    persona: String,
    /// Where the persona came from.
    #[schema(required = false, value_type = PersonaSource)]
    persona_source: String,
    /// Ids of this person elsewhere, by system: `hubspot`, `pipedrive`, `deals`.
    #[schema(required = false)]
    ids: BTreeMap<String, String>,
    /// Other contact properties from the CRM.
    #[schema(required = false, value_type = Object)]
    properties: BTreeMap<String, Value>,
    /// The Academy journey the person is enrolled in.
    #[schema(required = false)]
    journey: String,
    /// Since when, in epoch milliseconds.
    #[schema(required = false)]
    enrolled_at: i64,
    /// When rules contacted the person within the contact budget's window (epoch
    /// milliseconds; a deferred message counts at the time it will go).
    #[schema(required = false)]
    contacts: Vec<i64>,
    /// The person's last use of the product or the Academy, in epoch milliseconds.
    #[schema(required = false)]
    active_at: i64,
    /// When each event type last named the person, by type, in epoch milliseconds.
    #[schema(required = false)]
    seen: BTreeMap<String, i64>,
    /// The Academy modules the person completed: by journey, then by module slug, when
    /// (epoch milliseconds).
    #[schema(required = false)]
    modules_completed: BTreeMap<String, BTreeMap<String, i64>>,
    /// The journeys whose every core module the person completed: when (epoch
    /// milliseconds).
    #[schema(required = false)]
    journeys_completed: BTreeMap<String, i64>,
    /// The person's first Aha event (their persona's), in epoch milliseconds.
    #[schema(required = false)]
    aha_at: i64,
    /// Their persona's micro-milestones they reached, by name: when first, in epoch
    /// milliseconds.
    #[schema(required = false)]
    milestones: BTreeMap<String, i64>,
}

/// Where a persona came from: the program's segmentation, the CRM, or set by hand (which
/// later CRM data does not change).
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Describes `Person::persona_source`, kept as text.
pub enum PersonaSource {
    Segment,
    Crm,
    Manual,
}

/// A won deal recorded on an account. Fields without a value are absent.
#[derive(ToSchema)]
#[schema(as = Deal)]
#[allow(dead_code)] // Describes `onboard_core::state::DealRecord`.
pub struct DealSchema {
    /// The CRM it came from: `hubspot`, `pipedrive`, `deals`, ….
    source: String,
    /// The CRM account (HubSpot portal, Pipedrive company).
    #[schema(required = false)]
    tenant: String,
    /// The deal's id in its CRM.
    id: String,
    #[schema(required = false)]
    name: String,
    #[schema(required = false)]
    owner_email: String,
    #[schema(required = false)]
    plan: String,
    #[schema(required = false)]
    seats: u32,
    #[schema(required = false)]
    amount: f64,
    /// When it was won, in epoch milliseconds.
    won_at: i64,
    /// How many more times it was reported won (reopened and won again).
    won_again: u32,
}

/// How often an event type was seen for an account, and when (epoch milliseconds).
#[derive(ToSchema)]
#[schema(as = Seen)]
#[allow(dead_code)] // Describes `onboard_core::state::Seen`.
pub struct SeenSchema {
    n: u64,
    first_at: i64,
    last_at: i64,
}

/// How often a rule ran for an account, and when last (epoch milliseconds).
#[derive(ToSchema)]
#[schema(as = RuleRuns)]
#[allow(dead_code)] // Describes `onboard_core::state::RuleRuns`.
pub struct RuleRunsSchema {
    n: u32,
    last_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use onboard_core::state::{AccountStatus, TraceOutcome};

    use crate::openapi::documented;

    #[test]
    fn status_names_are_documented() {
        // A variant added in the core breaks these matches, and so this test.
        let statuses = [
            AccountStatus::Active,
            AccountStatus::Paused,
            AccountStatus::Churned,
        ];
        for status in statuses {
            match status {
                AccountStatus::Active | AccountStatus::Paused | AccountStatus::Churned => {}
            }
        }
        let outcomes = [
            TraceOutcome::Fired,
            TraceOutcome::Scheduled,
            TraceOutcome::Cancelled,
            TraceOutcome::Skipped,
            TraceOutcome::Failed,
        ];
        for outcome in outcomes {
            match outcome {
                TraceOutcome::Fired
                | TraceOutcome::Scheduled
                | TraceOutcome::Cancelled
                | TraceOutcome::Skipped
                | TraceOutcome::Failed => {}
            }
        }
        assert_eq!(
            documented::<AccountStatusSchema>(),
            statuses.map(|s| s.as_str().to_owned())
        );
        assert_eq!(
            documented::<TraceOutcomeSchema>(),
            outcomes.map(|o| o.as_str().to_owned())
        );
    }
}
