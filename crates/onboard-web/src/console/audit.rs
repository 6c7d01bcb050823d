//! The infrastructure audit in the console: a CSV export of CSM interactions uploaded through
//! a form (multipart, the session's CSRF token), audited against the current program with
//! `onboard_core::audit` and shown as the same report `onboard audit --html` writes, as a
//! fragment inside the console's layout. Nothing is stored: the file is read in memory,
//! audited and dropped. Admins and CSMs only; a bad file gives the form again with the
//! reason next to the field.

use super::{pages, require, TeamSession};
use crate::audit::{render_audit, AuditHtml, AUDIT_STYLE};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use onboard_core::audit::{AuditError, Categories};
use std::fmt::Write as _;
use std::sync::OnceLock;

/// The largest CSV the console audits.
pub const MAX_AUDIT_FILE: usize = 20 * 1024 * 1024;
/// The body limit of the upload: the file and the form around it.
pub const AUDIT_BODY_LIMIT: usize = MAX_AUDIT_FILE + 64 * 1024;
/// How many unreadable rows the form's error lists when no row could be read.
const N_BAD_ROWS_LISTED: usize = 5;

/// `GET /console/audit`: the upload form.
pub(super) async fn form(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let session = match require(&state, &headers).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    if !session.may_act() {
        return pages::forbidden(&state, &session);
    }
    page(&state, &session, StatusCode::OK, serde_json::json!({}))
}

/// What the upload's form carried.
#[derive(Default)]
struct Received {
    csrf: String,
    name: String,
    bytes: Vec<u8>,
    too_large: bool,
}

/// `POST /console/audit`: audits the uploaded CSV (fields `csrf` and `file`) and shows the
/// report.
pub(super) async fn run(
    State(state): State<AppState>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    let session = match require(&state, &headers).await? {
        Ok(session) => session,
        Err(redirect) => return Ok(redirect),
    };
    if !session.may_act() {
        return pages::forbidden(&state, &session);
    }
    let refused = |status: StatusCode, error: String| {
        page(
            &state,
            &session,
            status,
            serde_json::json!({ "error": error }),
        )
    };
    let Ok(mut multipart) = multipart else {
        return refused(
            StatusCode::BAD_REQUEST,
            "Choose a CSV file with the form below.".to_owned(),
        );
    };
    let received = match read_form(&mut multipart).await {
        Ok(received) => received,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Received {
            too_large: true,
            ..Received::default()
        },
        Err(e) => {
            tracing::debug!(error = %e, "an audit upload did not arrive whole");
            return refused(
                StatusCode::BAD_REQUEST,
                "That upload did not arrive whole. Please try again.".to_owned(),
            );
        }
    };
    if received.too_large {
        return refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "That file is larger than {} MB, the most the console audits. Run `onboard audit FILE.csv` for larger files.",
                MAX_AUDIT_FILE / (1024 * 1024)
            ),
        );
    }
    if !session.csrf_ok(&received.csrf) {
        return pages::form_expired(&session);
    }
    if received.name.is_empty() && received.bytes.is_empty() {
        return refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose a CSV file to audit.".to_owned(),
        );
    }
    let program = state.engine.program().clone();
    let Received { name, bytes, .. } = received;
    // Auditing a large file is CPU work: off the async workers.
    let outcome = tokio::task::spawn_blocking(move || {
        let categories = Categories::for_program(&program.audit);
        onboard_core::audit::audit(bytes.as_slice(), &categories, Some(&program))
    })
    .await
    .map_err(ApiError::internal)?;
    let report = match outcome {
        Ok(report) => report,
        Err(e) => return refused(StatusCode::UNPROCESSABLE_ENTITY, explain(&e)),
    };
    let title = if name.is_empty() {
        "Infrastructure audit".to_owned()
    } else {
        format!("Infrastructure audit of {name}")
    };
    let html = render_audit(&report, &title, AuditHtml::Fragment).map_err(ApiError::internal)?;
    page(
        &state,
        &session,
        StatusCode::OK,
        serde_json::json!({ "report": html, "file": name }),
    )
}

/// Reads the form's fields; the file is kept in memory up to [`MAX_AUDIT_FILE`] bytes.
async fn read_form(multipart: &mut Multipart) -> Result<Received, MultipartError> {
    let mut received = Received::default();
    let mut seen_file = false;
    while let Some(mut field) = multipart.next_field().await? {
        match field.name().unwrap_or_default() {
            "csrf" => received.csrf = field.text().await?,
            "file" if !seen_file => {
                seen_file = true;
                received.name = clean_name(field.file_name().unwrap_or_default());
                while let Some(chunk) = field.chunk().await? {
                    if received.too_large {
                        continue;
                    }
                    if received.bytes.len() + chunk.len() > MAX_AUDIT_FILE {
                        received.too_large = true;
                        received.bytes = Vec::new();
                        continue;
                    }
                    received.bytes.extend_from_slice(&chunk);
                }
            }
            // An unknown field (or a second file) is read and ignored.
            _ => while field.chunk().await?.is_some() {},
        }
    }
    Ok(received)
}

/// The file's name as the page shows it: its last path segment, without control
/// characters, at most 120 characters.
fn clean_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    last.chars()
        .filter(|c| !c.is_control())
        .take(120)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Why a file cannot be audited, in a sentence or a few for the form.
fn explain(error: &AuditError) -> String {
    match error {
        AuditError::NoGoodRows {
            n_bad_rows,
            bad_rows,
        } => {
            let listed: Vec<String> = bad_rows
                .iter()
                .take(N_BAD_ROWS_LISTED)
                .map(ToString::to_string)
                .collect();
            let mut text = format!(
                "No row could be read: all {n_bad_rows} have problems ({}",
                listed.join("; ")
            );
            if bad_rows.len() > N_BAD_ROWS_LISTED {
                let _ = write!(text, "; and {} more", bad_rows.len() - N_BAD_ROWS_LISTED);
            }
            text.push_str(").");
            text
        }
        other => {
            let mut text = other.to_string();
            if let Some(first) = text.get(..1) {
                text = first.to_uppercase() + &text[1..];
            }
            if !text.ends_with('.') {
                text.push('.');
            }
            text
        }
    }
}

/// The rules of the audit's stylesheet that style the report itself (its `audit-` classes),
/// for the console's layout, which brings its own page styles.
fn report_style() -> &'static str {
    static STYLE: OnceLock<String> = OnceLock::new();
    STYLE.get_or_init(|| {
        AUDIT_STYLE
            .lines()
            .filter(|line| line.starts_with(".audit-"))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn page(
    state: &AppState,
    session: &TeamSession,
    status: StatusCode,
    mut context: serde_json::Value,
) -> ApiResult<Response> {
    if let Some(object) = context.as_object_mut() {
        object.insert("section".to_owned(), "audit".into());
        object.insert("audit_style".to_owned(), report_style().into());
        object.insert("max_mb".to_owned(), (MAX_AUDIT_FILE / (1024 * 1024)).into());
    }
    pages::console_page(status, "audit.html", state, session, context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_keeps_its_last_segment_without_control_characters() {
        assert_eq!(clean_name("C:\\exports\\q3.csv"), "q3.csv");
        assert_eq!(clean_name("../../etc/pass\u{7}wd"), "passwd");
    }

    #[test]
    fn the_report_style_is_only_the_audit_classes() {
        assert!(report_style().contains(".audit-kpis"));
        assert!(!report_style().contains("body {"));
    }
}
