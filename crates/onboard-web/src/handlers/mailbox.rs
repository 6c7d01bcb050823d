//! The development mailbox: `GET /api/mailbox` lists the `.eml` files kept when no SMTP
//! server is configured (newest first), `GET /api/mailbox/{file}` returns one.

use crate::error::{ApiError, ApiResult};
use crate::extract::Admin;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// An email kept in the development mailbox, by its headers.
#[derive(Serialize, ToSchema)]
pub struct MailboxEmail {
    /// The file name, for `GET /api/mailbox/{file}`.
    #[schema(example = "1767603600000-welcome.eml")]
    pub file: String,
    pub message_id: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject: Option<String>,
    /// Size in bytes.
    pub size: usize,
}

/// The development mailbox, newest first.
#[derive(Serialize, ToSchema)]
pub struct Mailbox {
    pub emails: Vec<MailboxEmail>,
}

/// The value of a header in a raw email (first occurrence, unfolded).
fn header_value(raw: &str, name: &str) -> Option<String> {
    let mut lines = raw.lines().take_while(|l| !l.is_empty()).peekable();
    while let Some(line) = lines.next() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if key.eq_ignore_ascii_case(name) {
            let mut value = value.trim().to_owned();
            while let Some(next) = lines.peek() {
                if next.starts_with([' ', '\t']) {
                    value.push(' ');
                    value.push_str(next.trim());
                    lines.next();
                } else {
                    break;
                }
            }
            return Some(value);
        }
    }
    None
}

/// The emails kept when no SMTP server is configured, newest first.
#[utoipa::path(
    get,
    path = "/api/mailbox",
    tag = "mailbox",
    operation_id = "mailbox",
    responses(
        (status = 200, description = "The kept emails", body = Mailbox),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "Emails go to an SMTP server: there is no development mailbox", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("bearer" = []))
)]
pub async fn list(State(state): State<AppState>, _admin: Admin) -> ApiResult<Json<Mailbox>> {
    let Some(dir) = state.mailbox.clone() else {
        return Err(ApiError::not_found(
            "emails go to an SMTP server; there is no development mailbox",
        ));
    };
    let mut entries = Vec::new();
    let mut read = match tokio::fs::read_dir(&dir).await {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Json(Mailbox { emails: Vec::new() }));
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    while let Some(entry) = read.next_entry().await.map_err(ApiError::internal)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".eml") || name.starts_with('.') {
            continue;
        }
        let modified = entry
            .metadata()
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let raw = tokio::fs::read_to_string(entry.path())
            .await
            .unwrap_or_default();
        entries.push((
            modified,
            MailboxEmail {
                message_id: header_value(&raw, "Message-ID"),
                from: header_value(&raw, "From"),
                to: header_value(&raw, "To"),
                subject: header_value(&raw, "Subject"),
                size: raw.len(),
                file: name,
            },
        ));
    }
    entries.sort_by_key(|e| std::cmp::Reverse(e.0));
    Ok(Json(Mailbox {
        emails: entries.into_iter().map(|(_, v)| v).collect(),
    }))
}

/// One kept email, as sent (RFC 5322).
#[utoipa::path(
    get,
    path = "/api/mailbox/{file}",
    tag = "mailbox",
    operation_id = "mailbox_email",
    params(("file" = String, Path, description = "A `file` from the list (`….eml`)")),
    responses(
        (status = 200, description = "The raw email", body = String, content_type = "message/rfc822"),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No such email, or no development mailbox", body = crate::openapi::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn one(
    State(state): State<AppState>,
    _admin: Admin,
    Path(file): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let Some(dir) = state.mailbox.clone() else {
        return Err(ApiError::not_found("there is no development mailbox"));
    };
    let valid = file.ends_with(".eml")
        && !file.starts_with('.')
        && file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid {
        return Err(ApiError::not_found(format!("no email `{file}`")));
    }
    let raw = tokio::fs::read(dir.join(&file))
        .await
        .map_err(|_| ApiError::not_found(format!("no email `{file}`")))?;
    Ok(([(header::CONTENT_TYPE, "message/rfc822")], raw))
}
