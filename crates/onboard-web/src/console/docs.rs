//! The console's routes as the OpenAPI document describes them (HTML pages and forms). The
//! handlers are beside this module; these functions only carry their description.
#![allow(dead_code)]

use crate::openapi::Internal;

/// The portfolio: the signed-in member's book (a CSM's own accounts by default; `book=all`
/// for everyone's), filtered by flag, stage, status and search, sorted, 50 per page.
#[utoipa::path(get, path = "/console", tag = "console", operation_id = "console_portfolio",
    params(
        ("book" = Option<String>, Query, description = "`mine` or `all`"),
        ("flag" = Option<String>, Query, description = "`stalled`, `overdue`, `at_risk`, `power_user`, `alerts` or `no_aha`"),
        ("stage" = Option<String>, Query, description = "`not_started`, `draft`, a template's name, or `completed`"),
        ("status" = Option<String>, Query, description = "`active`, `paused` or `churned`"),
        ("q" = Option<String>, Query, description = "Part of the account's name or key"),
        ("sort" = Option<String>, Query, description = "`name`, `deal`, `health`, `progress`, `stage` or `alert`"),
        ("dir" = Option<String>, Query, description = "`asc` or `desc`"),
        ("page" = Option<u32>, Query, description = "From 1"),
    ),
    responses(
        (status = 200, description = "The portfolio page", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to `/console/sign-in`"),
        (status = 500, response = Internal),
    ),
    security(("console_session" = []))
)]
fn console_portfolio() {}

/// One account: timeline with the trace of each decision, plan, goals with forecast charts,
/// people's Academy progress, usage chart, open alerts and team tasks.
#[utoipa::path(get, path = "/console/accounts/{id}", tag = "console", operation_id = "console_account",
    params(("id" = String, Path, description = "The account key")),
    responses(
        (status = 200, description = "The account page", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to `/console/sign-in`"),
        (status = 404, description = "No such account", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
    ),
    security(("console_session" = []))
)]
fn console_account() {}

/// Closes an open alert (admins and CSMs; the form carries the session's `csrf`).
#[utoipa::path(post, path = "/console/accounts/{id}/alerts/{alert}/close", tag = "console", operation_id = "console_close_alert",
    params(("id" = String, Path, description = "The account key"), ("alert" = String, Path, description = "The alert's id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`csrf`"),
    responses(
        (status = 303, description = "Closed (or already closed): to `/console/alerts`"),
        (status = 403, description = "Out-of-date form, or the role (sales) may not act", body = String, content_type = "text/html"),
        (status = 404, description = "No such account", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
    ),
    security(("console_session" = []))
)]
fn console_close_alert() {}

/// Open alerts across the book, newest first.
#[utoipa::path(get, path = "/console/alerts", tag = "console", operation_id = "console_alerts",
    params(("book" = Option<String>, Query, description = "`mine` or `all`")),
    responses(
        (status = 200, description = "The alerts inbox", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to `/console/sign-in`"),
        (status = 500, response = Internal),
    ),
    security(("console_session" = []))
)]
fn console_alerts() {}

/// Autopilot's approval queue (what it would do, why, the evidence and the text) and the
/// latest decisions.
#[utoipa::path(get, path = "/console/autopilot", tag = "console", operation_id = "console_autopilot",
    params(("book" = Option<String>, Query, description = "`mine` or `all`")),
    responses(
        (status = 200, description = "The autopilot page", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to `/console/sign-in`"),
        (status = 500, response = Internal),
    ),
    security(("console_session" = []))
)]
fn console_autopilot() {}

/// Approves or rejects an action autopilot queued (admins and CSMs; the form carries the
/// session's `csrf`, `decision` = `approve` or `reject`, and an optional `note`).
#[utoipa::path(post, path = "/console/accounts/{id}/autopilot/approvals/{approval}", tag = "console", operation_id = "console_decide_approval",
    params(("id" = String, Path, description = "The account key"), ("approval" = String, Path, description = "The approval's id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`csrf`, `decision`, `note`"),
    responses(
        (status = 303, description = "Decided: to `/console/autopilot`"),
        (status = 400, description = "No decision, or a note too long: the page again with the error", body = String, content_type = "text/html"),
        (status = 403, description = "Out-of-date form, or the role (sales) may not act", body = String, content_type = "text/html"),
        (status = 404, description = "No such account or approval", body = String, content_type = "text/html"),
        (status = 409, description = "Already decided: the page again with the error", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
    ),
    security(("console_session" = []))
)]
fn console_decide_approval() {}

/// Outbox messages by status, with dead letters to retry.
#[utoipa::path(get, path = "/console/outbox", tag = "console", operation_id = "console_outbox",
    params(("status" = Option<String>, Query, description = "`queued`, `delivered` or `dead`")),
    responses(
        (status = 200, description = "The outbox page", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to `/console/sign-in`"),
        (status = 500, response = Internal),
    ),
    security(("console_session" = []))
)]
fn console_outbox() {}

/// Queues a dead message again (admins and CSMs; the form carries `csrf`).
#[utoipa::path(post, path = "/console/outbox/{id}/retry", tag = "console", operation_id = "console_retry",
    params(("id" = String, Path, description = "The message's id")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`csrf`"),
    responses(
        (status = 303, description = "Queued: to the outbox"),
        (status = 403, description = "Out-of-date form, or the role may not act", body = String, content_type = "text/html"),
        (status = 404, description = "No dead message with that id", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
    ),
    security(("console_session" = []))
)]
fn console_retry() {}

/// The program: version, each rule with how often it fired today and in 7 days, templates,
/// journeys.
#[utoipa::path(get, path = "/console/program", tag = "console", operation_id = "console_program",
    responses(
        (status = 200, description = "The program page", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to `/console/sign-in`"),
        (status = 500, response = Internal),
    ),
    security(("console_session" = []))
)]
fn console_program() {}

/// The infrastructure audit's upload form (admins and CSMs).
#[utoipa::path(get, path = "/console/audit", tag = "console", operation_id = "console_audit_form",
    responses(
        (status = 200, description = "The form", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to `/console/sign-in`"),
        (status = 403, description = "The role (sales) may not run audits", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
    ),
    security(("console_session" = []))
)]
fn console_audit_form() {}

/// Audits an uploaded CSV of CSM interactions against the current program and shows the
/// report (the same as `onboard audit --html`); nothing is stored. Multipart fields `csrf`
/// and `file` (up to 20 MiB).
#[utoipa::path(post, path = "/console/audit", tag = "console", operation_id = "console_audit",
    request_body(content = String, content_type = "multipart/form-data", description = "`csrf`, `file` (a CSV)"),
    responses(
        (status = 200, description = "The report, with the form for another file", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to `/console/sign-in`"),
        (status = 400, description = "Not a multipart form, or it did not arrive whole: the form with the reason", body = String, content_type = "text/html"),
        (status = 403, description = "Out-of-date form, or the role (sales) may not run audits", body = String, content_type = "text/html"),
        (status = 413, description = "Over 20 MiB: the form with the reason", body = String, content_type = "text/html"),
        (status = 422, description = "No file, or a file that cannot be audited (missing columns, no readable row): the form with the reason next to the field", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
    ),
    security(("console_session" = []))
)]
fn console_audit() {}

/// The sign-in form; with `token` (from an emailed link), a button that spends it.
#[utoipa::path(get, path = "/console/sign-in", tag = "console", operation_id = "console_sign_in_page",
    params(("token" = Option<String>, Query, description = "A sign-in link's token")),
    responses((status = 200, description = "The page", body = String, content_type = "text/html")),
    security(())
)]
fn console_sign_in_page() {}

/// Signs in with `email` and `password`; without a password, emails a sign-in link (the
/// answer is the same for any address). Rate-limited per address and per client.
#[utoipa::path(post, path = "/console/sign-in", tag = "console", operation_id = "console_sign_in",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`email`, `password`"),
    responses(
        (status = 200, description = "Link sent (if the address is a team member's)", body = String, content_type = "text/html"),
        (status = 303, description = "Signed in: the session cookie is set; to `/console`"),
        (status = 400, description = "The form again with the error next to the field", body = String, content_type = "text/html"),
        (status = 401, description = "Email and password do not match", body = String, content_type = "text/html"),
        (status = 429, description = "Too many attempts for the address (5 per 15 minutes) or from the client (20 per 15 minutes): the form again, saying when to try again; nothing is sent",
            body = String, content_type = "text/html",
            headers(("retry-after" = u64, description = "Seconds until an attempt may go ahead"))),
        (status = 500, response = Internal),
    ),
    security(())
)]
fn console_sign_in() {}

/// Spends a sign-in link's `token` (single use) and opens a session.
#[utoipa::path(post, path = "/console/sign-in/link", tag = "console", operation_id = "console_sign_in_link",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`token`"),
    responses(
        (status = 303, description = "Signed in: to `/console`"),
        (status = 400, description = "Used, expired or unknown: a page offering a new link", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
    ),
    security(())
)]
fn console_sign_in_link() {}

/// Ends the session (the form carries `csrf`).
#[utoipa::path(post, path = "/console/sign-out", tag = "console", operation_id = "console_sign_out",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`csrf`"),
    responses(
        (status = 303, description = "Signed out: to `/console/sign-in`"),
        (status = 403, description = "Out-of-date form", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
    ),
    security(("console_session" = []))
)]
fn console_sign_out() {}

/// The form that sets the member's password.
#[utoipa::path(get, path = "/console/password", tag = "console", operation_id = "console_password_page",
    responses(
        (status = 200, description = "The form", body = String, content_type = "text/html"),
        (status = 303, description = "Not signed in: to `/console/sign-in`"),
        (status = 500, response = Internal),
    ),
    security(("console_session" = []))
)]
fn console_password_page() {}

/// Sets the member's password (argon2): `password` twice (`confirm`), at least 12
/// characters, and `csrf`.
#[utoipa::path(post, path = "/console/password", tag = "console", operation_id = "console_set_password",
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`csrf`, `password`, `confirm`"),
    responses(
        (status = 200, description = "Saved", body = String, content_type = "text/html"),
        (status = 400, description = "The form again with the error next to the field", body = String, content_type = "text/html"),
        (status = 403, description = "Out-of-date form", body = String, content_type = "text/html"),
        (status = 500, response = Internal),
    ),
    security(("console_session" = []))
)]
fn console_set_password() {}
