//! `GET /api/accounts/{id}/files`: the files an account's people uploaded to their Shared
//! Space, for the team (the bytes are downloaded from the Space, by the account's people).

use crate::error::{ApiError, ApiResult};
use crate::extract::Admin;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use onboard_store::FileRecord;
use serde::Serialize;
use utoipa::ToSchema;

/// A file of an account's Shared Space.
#[derive(Serialize, ToSchema)]
pub struct FileView {
    pub id: String,
    /// The name the uploader's browser gave.
    pub name: String,
    /// In bytes.
    pub size: i64,
    /// Decided from the extension and the content's magic bytes (never `text/html`).
    pub content_type: String,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// The uploader's email.
    pub uploaded_by: String,
    #[schema(format = DateTime)]
    pub uploaded_at: String,
    /// The project it belongs to, when the uploader chose one.
    pub project: Option<String>,
    /// Where the account's people download it (their Shared Space session).
    pub download: String,
}

impl From<FileRecord> for FileView {
    fn from(file: FileRecord) -> Self {
        Self {
            download: format!("/space/files/{}", file.id),
            id: file.id,
            name: file.name,
            size: file.size,
            content_type: file.content_type,
            sha256: file.sha256,
            uploaded_by: file.uploaded_by,
            uploaded_at: file.uploaded_at.to_rfc3339(),
            project: file.project,
        }
    }
}

/// An account's files, newest first.
#[derive(Serialize, ToSchema)]
pub struct FileList {
    pub files: Vec<FileView>,
}

/// The files uploaded to an account's Shared Space, newest first.
#[utoipa::path(
    get,
    path = "/api/accounts/{id}/files",
    tag = "accounts",
    operation_id = "account_files",
    params(("id" = String, Path, description = "The account key")),
    responses(
        (status = 200, description = "The account's files", body = FileList),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 404, description = "No account has this key", body = crate::openapi::ErrorBody),
        (status = 500, response = crate::openapi::Internal),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<FileList>> {
    let store = state.engine.store();
    if store.account(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("no account `{id}`")));
    }
    let files = store.account_files(&id).await?;
    Ok(Json(FileList {
        files: files.into_iter().map(FileView::from).collect(),
    }))
}
