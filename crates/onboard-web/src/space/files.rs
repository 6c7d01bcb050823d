//! Files in the Shared Space: a person of the account uploads one (`POST /space/files`, a
//! multipart form with the session's CSRF token) and the account's people download it
//! (`GET /space/files/{id}`).
//!
//! An upload is checked for size ([`MAX_UPLOAD`]) and for type by both its extension and
//! its content's magic bytes ([`content_type`]): PDF, PNG, JPEG, GIF, WebP, the Office
//! formats (zip-based), and plain text, CSV or Markdown that does not start like markup.
//! HTML, SVG, scripts and executables are refused. A refusal shows the Space again with
//! the reason next to the file field, and nothing is stored. An accepted file is written
//! to a temporary file beside its final place, synced, then renamed to
//! `<files>/<account>/<id>` (so a crash never leaves a half file under a real name), then
//! recorded in the store and logged as `file.uploaded`.
//!
//! A download is only for a session of the file's account (404 otherwise, unknown ids
//! alike), always as an attachment, with the stored type (never HTML), `nosniff` and the
//! Space's content policy.

use super::{signed_out, space, stakeholder, Said, Stakeholder};
use crate::academy::{csrf_token, pages::CSP, same_secret};
use crate::error::{ApiError, ApiResult};
use crate::handlers::projects::append;
use crate::state::AppState;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::{Path, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use onboard_core::event::types;
use onboard_store::FileRecord;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::{Path as FsPath, PathBuf};
use tokio::io::AsyncWriteExt;

/// The largest file accepted, in bytes (10 MiB).
pub(crate) const MAX_UPLOAD: usize = 10 * 1024 * 1024;

/// The body limit of `POST /space/files`: twice the largest file, so that a file somewhat
/// over the limit is read to its end and answered with the page that says so (a browser
/// shows a connection reset, not a page, when the answer comes before its upload ends).
pub(crate) const UPLOAD_BODY_LIMIT: usize = 2 * MAX_UPLOAD + 64 * 1024;

/// How much of the start of a file the type check reads.
const HEAD: usize = 8 * 1024;

/// Longest file name kept, in characters.
const MAX_NAME: usize = 255;

/// What the page says the allowed types are.
const ALLOWED: &str = "PDF, PNG, JPEG, GIF, WebP, Word (.docx), Excel (.xlsx), PowerPoint (.pptx), CSV, plain text (.txt) or Markdown (.md)";

/// The content type a file is stored and served with, from its name's extension and the
/// first bytes of its content; or why it is refused. Both must agree: a `.png` whose bytes
/// are HTML is refused, and so is a PNG named `.txt`.
pub(crate) fn content_type(name: &str, head: &[u8]) -> Result<&'static str, String> {
    let extension = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let detected = infer::get(head).map(|t| t.mime_type());
    let binary = |expected: &'static str, what: &str| match detected {
        Some(found) if found == expected => Ok(expected),
        _ => Err(format!(
            "“{name}” is not a real {what} file: its content does not match its .{extension} name."
        )),
    };
    let office = |mime: &'static str, what: &str| {
        if head.starts_with(b"PK\x03\x04") {
            Ok(mime)
        } else {
            Err(format!(
                "“{name}” is not a real {what} file: its content does not match its .{extension} name."
            ))
        }
    };
    match extension.as_str() {
        "pdf" => binary("application/pdf", "PDF"),
        "png" => binary("image/png", "PNG"),
        "jpg" | "jpeg" => binary("image/jpeg", "JPEG"),
        "gif" => binary("image/gif", "GIF"),
        "webp" => binary("image/webp", "WebP"),
        "docx" => office(
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "Word",
        ),
        "xlsx" => office(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "Excel",
        ),
        "pptx" => office(
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "PowerPoint",
        ),
        "csv" | "txt" | "md" => {
            if !is_plain_text(head) || detected.is_some() {
                return Err(format!(
                    "“{name}” is not plain text: only text that is not markup or a program can be uploaded as .{extension}."
                ));
            }
            Ok(match extension.as_str() {
                "csv" => "text/csv; charset=utf-8",
                "md" => "text/markdown; charset=utf-8",
                _ => "text/plain; charset=utf-8",
            })
        }
        "" => Err(format!(
            "“{name}” has no file type in its name. You can upload {ALLOWED}."
        )),
        other => Err(format!(
            ".{other} files cannot be uploaded here. You can upload {ALLOWED}."
        )),
    }
}

/// Whether the start of a file is UTF-8 text (a multi-byte character cut at the end of the
/// head is fine) without NUL bytes, and does not open like markup (`<` first, as HTML, SVG
/// and XML do), which a browser could be talked into rendering.
fn is_plain_text(head: &[u8]) -> bool {
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(e) if e.error_len().is_none() => {
            // Cut inside a character at the end: the part before is whole.
            let valid = e.valid_up_to();
            std::str::from_utf8(&head[..valid]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    let body = text.trim_start_matches('\u{feff}').trim_start();
    !text.contains('\0') && !body.starts_with('<')
}

/// The file name as shown: without any folder a browser may send, control characters or
/// surrounding space, at most [`MAX_NAME`] characters (keeping the extension).
fn clean_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim();
    if cleaned.chars().count() <= MAX_NAME {
        return cleaned.to_owned();
    }
    let extension = cleaned
        .rsplit_once('.')
        .map(|(_, e)| e)
        .filter(|e| e.chars().count() < 16)
        .unwrap_or_default();
    let keep = MAX_NAME - extension.chars().count() - 1;
    let stem: String = cleaned.chars().take(keep).collect();
    format!("{stem}.{extension}")
}

/// The folder of an account's files: its key with every byte but ASCII letters, digits,
/// `-` and `_` percent-encoded, so no key can name another folder (`..`, `/`).
fn account_folder(files: &FsPath, account: &str) -> PathBuf {
    let mut name = String::with_capacity(account.len());
    for byte in account.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_') {
            name.push(char::from(byte));
        } else {
            name.push_str(&format!("%{byte:02X}"));
        }
    }
    files.join(name)
}

/// `attachment` with the name as UTF-8 (RFC 6266 / 8187) and an ASCII fallback.
fn attachment(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

/// A file size in words: `812 bytes`, `14.2 KB`, `3.1 MB`.
pub(super) fn size_words(size: i64) -> String {
    const KB: f64 = 1024.0;
    let size_f = size as f64;
    if size < 1024 {
        format!("{size} bytes")
    } else if size_f < KB * KB {
        format!("{:.1} KB", size_f / KB)
    } else {
        format!("{:.1} MB", size_f / (KB * KB))
    }
}

/// What came in with the form.
#[derive(Default)]
struct Received {
    csrf: String,
    project: Option<String>,
    /// The file as sent, once its field was read.
    file: Option<Upload>,
}

/// A file field read into a temporary file (removed unless it is kept).
struct Upload {
    name: String,
    /// Where it was written; `None` once too large (nothing more was written).
    temp: Option<PathBuf>,
    size: usize,
    head: Vec<u8>,
    sha256: String,
}

impl Upload {
    async fn discard(&mut self) {
        if let Some(temp) = self.temp.take() {
            let _ = tokio::fs::remove_file(temp).await;
        }
    }
}

/// Why reading the form stopped.
enum ReadError {
    /// The body was over the route's limit, or a field was refused by the parser.
    Multipart(MultipartError),
    Io(std::io::Error),
}

/// Reads the form's fields, writing the file to `folder/.<id>.part` while it arrives (up to
/// [`MAX_UPLOAD`] bytes: a larger file is read to its end and dropped).
async fn read_form(
    multipart: &mut Multipart,
    folder: &FsPath,
    id: &str,
    received: &mut Received,
) -> Result<(), ReadError> {
    while let Some(mut field) = multipart.next_field().await.map_err(ReadError::Multipart)? {
        match field.name().unwrap_or_default() {
            "csrf" => received.csrf = field.text().await.map_err(ReadError::Multipart)?,
            "project" => {
                let project = field.text().await.map_err(ReadError::Multipart)?;
                received.project = Some(project.trim().to_owned()).filter(|p| !p.is_empty());
            }
            "file" if received.file.is_none() => {
                let name = clean_name(field.file_name().unwrap_or_default());
                let mut upload = Upload {
                    name,
                    temp: None,
                    size: 0,
                    head: Vec::new(),
                    sha256: String::new(),
                };
                if upload.name.is_empty() {
                    // No file chosen: browsers send an empty part without a name.
                    while field.chunk().await.map_err(ReadError::Multipart)?.is_some() {}
                    received.file = Some(upload);
                    continue;
                }
                tokio::fs::create_dir_all(folder)
                    .await
                    .map_err(ReadError::Io)?;
                let temp = folder.join(format!(".{id}.part"));
                let mut out = Some(
                    tokio::fs::File::create(&temp)
                        .await
                        .map_err(ReadError::Io)?,
                );
                upload.temp = Some(temp);
                received.file = Some(upload);
                let Some(upload) = received.file.as_mut() else {
                    continue;
                };
                let mut hasher = Sha256::new();
                while let Some(chunk) = field.chunk().await.map_err(ReadError::Multipart)? {
                    upload.size += chunk.len();
                    let Some(file) = out.as_mut() else {
                        continue;
                    };
                    if upload.size > MAX_UPLOAD {
                        // Too large: nothing more is written, and what was is removed.
                        out = None;
                        upload.discard().await;
                        continue;
                    }
                    if upload.head.len() < HEAD {
                        let take = (HEAD - upload.head.len()).min(chunk.len());
                        upload.head.extend_from_slice(&chunk[..take]);
                    }
                    hasher.update(&chunk);
                    file.write_all(&chunk).await.map_err(ReadError::Io)?;
                }
                if let Some(mut file) = out {
                    file.flush().await.map_err(ReadError::Io)?;
                    file.sync_all().await.map_err(ReadError::Io)?;
                    upload.sha256 = hex::encode(hasher.finalize());
                }
            }
            _ => {
                // An unknown field (or a second file) is read and ignored.
                while field.chunk().await.map_err(ReadError::Multipart)?.is_some() {}
            }
        }
    }
    Ok(())
}

/// The Space again with an upload refused: the reason next to the file field.
fn refused(
    state: &AppState,
    who: &Stakeholder,
    status: StatusCode,
    why: String,
) -> ApiResult<Response> {
    space(
        state,
        who,
        status,
        Said {
            upload_error: Some(why),
            ..Said::default()
        },
    )
}

/// `POST /space/files`: uploads a file to the account's Shared Space (fields `csrf`,
/// `file`, and optionally `project`), then back to the Space.
pub(super) async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    let Some(who) = stakeholder(&state, &headers).await? else {
        return signed_out(&state, StatusCode::UNAUTHORIZED);
    };
    let Some(files) = state.files_dir.clone() else {
        return refused(
            &state,
            &who,
            StatusCode::SERVICE_UNAVAILABLE,
            "This server keeps no files, so nothing was uploaded.".to_owned(),
        );
    };
    let Ok(mut multipart) = multipart else {
        return refused(
            &state,
            &who,
            StatusCode::BAD_REQUEST,
            "Choose a file with the form below to upload it.".to_owned(),
        );
    };
    let folder = account_folder(&files, &who.account.id);
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut received = Received::default();
    let read = read_form(&mut multipart, &folder, &id, &mut received).await;
    let outcome = accept(&state, &who, &folder, &id, &mut received, read).await;
    if let Some(upload) = received.file.as_mut() {
        upload.discard().await;
    }
    outcome
}

/// Checks what [`read_form`] received and keeps the file, or says why not.
async fn accept(
    state: &AppState,
    who: &Stakeholder,
    folder: &FsPath,
    id: &str,
    received: &mut Received,
    read: Result<(), ReadError>,
) -> ApiResult<Response> {
    let too_large = || {
        format!(
            "That file is larger than {} MB, the most a file can be here. Nothing was uploaded.",
            MAX_UPLOAD / (1024 * 1024)
        )
    };
    match read {
        Ok(()) => {}
        Err(ReadError::Multipart(e)) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refused(state, who, StatusCode::PAYLOAD_TOO_LARGE, too_large());
        }
        Err(ReadError::Multipart(e)) => {
            tracing::debug!(error = %e, "a Space upload did not arrive whole");
            return refused(
                state,
                who,
                StatusCode::BAD_REQUEST,
                "That upload did not arrive whole, so nothing was kept. Please try again."
                    .to_owned(),
            );
        }
        Err(ReadError::Io(e)) => return Err(ApiError::internal(e)),
    }
    if !same_secret(&received.csrf, &csrf_token(&who.session.id)) {
        return refused(
            state,
            who,
            StatusCode::FORBIDDEN,
            "That form had expired, so nothing was uploaded. Please try again from this page."
                .to_owned(),
        );
    }
    let Some(upload) = received.file.as_mut().filter(|u| !u.name.is_empty()) else {
        return refused(
            state,
            who,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose a file to upload.".to_owned(),
        );
    };
    if upload.size > MAX_UPLOAD {
        return refused(state, who, StatusCode::PAYLOAD_TOO_LARGE, too_large());
    }
    if upload.size == 0 {
        return refused(
            state,
            who,
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("“{}” is empty. Nothing was uploaded.", upload.name),
        );
    }
    let content_type = match content_type(&upload.name, &upload.head) {
        Ok(content_type) => content_type,
        Err(why) => {
            return refused(
                state,
                who,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("{why} Nothing was uploaded."),
            )
        }
    };
    let project = received
        .project
        .clone()
        .filter(|p| who.account.project(p).is_some());
    let Some(temp) = upload.temp.take() else {
        return Err(ApiError::internal("an accepted upload has no file"));
    };
    let path = folder.join(id);
    if let Err(e) = tokio::fs::rename(&temp, &path).await {
        let _ = tokio::fs::remove_file(&temp).await;
        return Err(ApiError::internal(e));
    }
    // The rename is durable once the folder is synced.
    if let Ok(dir) = tokio::fs::File::open(folder).await {
        let _ = dir.sync_all().await;
    }
    let record = FileRecord {
        id: id.to_owned(),
        account: who.account.id.clone(),
        name: upload.name.clone(),
        size: i64::try_from(upload.size).unwrap_or(i64::MAX),
        content_type: content_type.to_owned(),
        sha256: upload.sha256.clone(),
        uploaded_by: who.email.clone(),
        uploaded_at: state.engine.now(),
        project: project.clone(),
    };
    if let Err(e) = state.engine.store().insert_file(&record).await {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(e.into());
    }
    tracing::info!(account.id = %record.account, file.id = %record.id, size = record.size, "a file was uploaded to the Shared Space");
    append(
        state,
        &who.account.id,
        types::FILE_UPLOADED,
        id,
        json!({
            "file": id,
            "name": record.name,
            "size": record.size,
            "content_type": record.content_type,
            "by": record.uploaded_by,
            "project": project,
        }),
    )
    .await?;
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(
        LOCATION,
        HeaderValue::from_static("/space?uploaded=1#files"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET /space/files/{id}`: a file of the session's account, as an attachment.
pub(super) async fn download(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let Some(who) = stakeholder(&state, &headers).await? else {
        return signed_out(&state, StatusCode::UNAUTHORIZED);
    };
    let record = state
        .engine
        .store()
        .file(&id)
        .await?
        .filter(|f| f.account == who.account.id);
    let (Some(record), Some(files)) = (record, state.files_dir.as_deref()) else {
        return super::not_found(&who);
    };
    let path = account_folder(files, &record.account).join(&record.id);
    let bytes = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!(account.id = %record.account, file.id = %record.id, error = %e, "a recorded file cannot be read");
            return super::not_found(&who);
        }
    };
    let header = |text: &str| {
        HeaderValue::from_str(text).map_err(|e| ApiError::internal(format!("header: {e}")))
    };
    let mut response = bytes.into_response();
    let out = response.headers_mut();
    out.insert(CONTENT_TYPE, header(&record.content_type)?);
    out.insert(CONTENT_DISPOSITION, header(&attachment(&record.name))?);
    out.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    out.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    out.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    out.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    out.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] =
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    const PDF: &[u8] = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n";

    #[test]
    fn a_file_is_typed_by_its_extension_and_its_magic_bytes_together() {
        assert_eq!(content_type("logo.PNG", PNG), Ok("image/png"));
        assert_eq!(content_type("plan.pdf", PDF), Ok("application/pdf"));
        assert_eq!(
            content_type("leads.csv", b"name,email\nAda,ada@acme.example\n"),
            Ok("text/csv; charset=utf-8")
        );
        assert_eq!(
            content_type("notes.md", "# Kickoff – notes\n".as_bytes()),
            Ok("text/markdown; charset=utf-8")
        );
        assert!(content_type("deck.pptx", b"PK\x03\x04\x14\0\x06\0\x08\0\0\0!\0").is_ok());
        // The name and the bytes must agree.
        assert!(content_type("logo.png", PDF).is_err());
        assert!(content_type("logo.png", b"<html><script>alert(1)</script>").is_err());
        assert!(content_type("notes.txt", PNG).is_err());
        assert!(content_type("deck.docx", b"not a zip").is_err());
    }

    #[test]
    fn markup_scripts_and_programs_are_refused_whatever_their_name() {
        for (name, bytes) in [
            ("page.html", &b"<!doctype html><p>hi"[..]),
            ("page.htm", b"<p>hi"),
            ("image.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>"),
            ("app.js", b"alert(1)"),
            ("setup.exe", b"MZ\x90\0"),
            ("notes.txt", b"  <html><body>hi"),
            ("data.csv", b"\xef\xbb\xbf<script>alert(1)</script>"),
            ("binary.txt", b"a\0b"),
            ("README", b"plain"),
        ] {
            assert!(content_type(name, bytes).is_err(), "{name}");
        }
    }

    #[test]
    fn a_text_head_cut_inside_a_character_is_still_text() {
        let text = "é".repeat(10);
        let bytes = text.as_bytes();
        assert!(is_plain_text(&bytes[..bytes.len() - 1]));
        assert!(!is_plain_text(b"\xff\xfe"));
    }

    #[test]
    fn names_lose_folders_and_control_characters_and_keep_their_extension() {
        assert_eq!(clean_name("C:\\Users\\ada\\plan.pdf"), "plan.pdf");
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name(" a\u{7}b.txt "), "ab.txt");
        let long = format!("{}.pdf", "x".repeat(400));
        let kept = clean_name(&long);
        assert_eq!(kept.chars().count(), MAX_NAME);
        assert!(kept.ends_with(".pdf"));
    }

    #[test]
    fn an_account_key_names_one_folder_only() {
        let root = FsPath::new("/data/files");
        assert_eq!(account_folder(root, "acme"), root.join("acme"));
        assert_eq!(account_folder(root, "../x"), root.join("%2E%2E%2Fx"));
    }

    #[test]
    fn a_download_is_an_attachment_with_its_name_in_utf8() {
        assert_eq!(
            attachment("Plan de démarrage \"v2\".pdf"),
            "attachment; filename=\"Plan de d_marrage _v2_.pdf\"; filename*=UTF-8''Plan%20de%20d%C3%A9marrage%20%22v2%22.pdf"
        );
    }

    #[test]
    fn sizes_read_as_words() {
        assert_eq!(size_words(812), "812 bytes");
        assert_eq!(size_words(14_540), "14.2 KB");
        assert_eq!(size_words(3 * 1024 * 1024), "3.0 MB");
    }
}
