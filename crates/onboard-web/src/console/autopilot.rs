//! The console's autopilot page: the actions autopilot queued for a person's approval
//! (what, why, the evidence and the text that would go out), approved or rejected here by an
//! admin or CSM through the same event as the API, and the latest decisions.

use super::desk::BookParam;
use super::{pages, require};
use crate::error::ApiResult;
use crate::handlers::autopilot::ApprovalView;
use crate::state::AppState;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use onboard_store::ApprovalQuery;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Approvals the page lists at most, per list.
const LISTED: i64 = 200;
/// Decided approvals shown below the queue.
const RECENT: usize = 20;

pub(super) const TEMPLATE: &str = r#"{% extends "layout.html" %}
{% block title %}Autopilot{% endblock %}
{% block main %}
<h1>Autopilot</h1>
<p>{% if mine %}<strong>My accounts</strong> · <a href="/console/autopilot?book=all">All accounts</a>{% else %}<a href="/console/autopilot?book=mine">My accounts</a> · <strong>All accounts</strong>{% endif %}</p>
<h2>Waiting for approval</h2>
{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}
<div class="scroll"><table id="approvals"><thead><tr><th scope="col">Account</th><th scope="col">Autopilot would</th><th scope="col">Because</th><th scope="col">Queued</th><th scope="col"></th></tr></thead><tbody>
{% for a in pending %}<tr data-approval="{{ a.id }}"><td><a href="/console/accounts/{{ a.account }}">{{ a.account_name }}</a></td>
<td><strong>{{ a.action }}</strong>: {{ a.summary }}{% if a.preview %}<details><summary>Text</summary><pre class="preview">{{ a.preview }}</pre></details>{% endif %}</td>
<td>{{ a.reason }}: {{ a.evidence }}</td><td class="nowrap">{{ a.created_at[:16]|replace("T", " ") }}</td>
<td>{% if me.may_act %}<form method="post" action="/console/accounts/{{ a.account }}/autopilot/approvals/{{ a.id }}"><input type="hidden" name="csrf" value="{{ me.csrf }}"><label>Note <input name="note" maxlength="2000"></label> <button type="submit" name="decision" value="approve">Approve</button> <button class="quiet" type="submit" name="decision" value="reject">Reject</button></form>{% endif %}</td></tr>
{% else %}<tr><td colspan="5">Nothing is waiting.</td></tr>{% endfor %}
</tbody></table></div>
<h2>Decided lately</h2>
<div class="scroll"><table id="decided"><thead><tr><th scope="col">Account</th><th scope="col">Action</th><th scope="col">Decision</th><th scope="col">By</th><th scope="col">When</th></tr></thead><tbody>
{% for a in decided %}<tr><td><a href="/console/accounts/{{ a.account }}">{{ a.account_name }}</a></td><td><strong>{{ a.action }}</strong>: {{ a.summary }}</td><td><span class="status {{ a.status }}">{{ a.status }}</span>{% if a.note %} <span class="muted">{{ a.note }}</span>{% endif %}</td><td>{{ a.decided_by or "" }}</td><td class="nowrap">{{ (a.decided_at or "")[:16]|replace("T", " ") }}</td></tr>
{% else %}<tr><td colspan="5">No decisions yet.</td></tr>{% endfor %}
</tbody></table></div>
{% endblock %}
"#;

pub(super) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<BookParam>, QueryRejection>,
) -> ApiResult<Response> {
    let session = match require(&state, &headers).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    let mine = BookParam::mine(params, &session);
    render(&state, &session, mine, None, StatusCode::OK).await
}

async fn render(
    state: &AppState,
    session: &super::TeamSession,
    mine: bool,
    error: Option<String>,
    status: StatusCode,
) -> ApiResult<Response> {
    let store = state.engine.store();
    let list = |status: &str| ApprovalQuery {
        status: Some(status.to_owned()),
        account: None,
        limit: Some(LISTED),
    };
    let pending = store.approvals(&list("pending")).await?;
    let mut decided = Vec::new();
    for status in ["approved", "rejected", "moot"] {
        decided.extend(store.approvals(&list(status)).await?);
    }
    decided.sort_by_key(|a| std::cmp::Reverse(a.decided_at));
    decided.truncate(RECENT);
    let mut ids: Vec<String> = pending
        .iter()
        .chain(&decided)
        .map(|a| a.account.clone())
        .collect();
    ids.sort();
    ids.dedup();
    let accounts: BTreeMap<String, (String, Option<String>)> = store
        .load_accounts(&ids)
        .await?
        .into_iter()
        .map(|a| (a.id.clone(), (a.name.clone(), a.csm.clone())))
        .collect();
    let me = session.member.email.to_lowercase();
    let view = |a: &onboard_core::state::Approval| {
        let (name, csm) = accounts.get(&a.account).cloned().unwrap_or_default();
        if mine && csm.as_deref() != Some(me.as_str()) {
            return None;
        }
        let mut value = serde_json::to_value(ApprovalView::from(a)).ok()?;
        value["account_name"] = serde_json::Value::String(if name.is_empty() {
            a.account.clone()
        } else {
            name
        });
        Some(value)
    };
    pages::console_page(
        status,
        "autopilot.html",
        state,
        session,
        serde_json::json!({
            "section": "autopilot",
            "mine": mine,
            "error": error,
            "pending": pending.iter().filter_map(view).collect::<Vec<_>>(),
            "decided": decided.iter().filter_map(view).collect::<Vec<_>>(),
        }),
    )
}

#[derive(Deserialize, Default)]
pub(super) struct DecisionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    note: String,
}

/// Approves or rejects a queued action (admins and CSMs), through the same event as the API.
pub(super) async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, approval)): Path<(String, String)>,
    form: Result<Form<DecisionForm>, FormRejection>,
) -> ApiResult<Response> {
    let session = match require(&state, &headers).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    let form = form.map(|f| f.0).unwrap_or_default();
    if !session.csrf_ok(&form.csrf) {
        return pages::form_expired(&session);
    }
    if !session.may_act() {
        return pages::forbidden(&state, &session);
    }
    let approve = match form.decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => {
            let error = "Choose Approve or Reject.".to_owned();
            return render(
                &state,
                &session,
                false,
                Some(error),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    let note = form.note.trim();
    if note.chars().count() > 2_000 {
        let error = "The note is longer than 2,000 characters.".to_owned();
        return render(
            &state,
            &session,
            false,
            Some(error),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let note = (!note.is_empty()).then_some(note);
    match crate::handlers::autopilot::decide(
        &state,
        &id,
        &approval,
        approve,
        &session.member.email,
        note,
    )
    .await
    {
        Ok(_) => Ok(super::redirect("/console/autopilot")),
        Err(error) if error.status == StatusCode::NOT_FOUND => pages::not_found(&state, &session),
        Err(error) if error.status == StatusCode::CONFLICT => {
            let message = format!("{} — someone decided it first.", error.message);
            render(&state, &session, false, Some(message), StatusCode::CONFLICT).await
        }
        Err(error) => Err(error),
    }
}
