//! The Shared Space's files (their metadata: the bytes live under the data directory) and
//! the kickoff slots booked in CSMs' calendars, whose unique key refuses a slot booked twice.
//! Both backends; `sqlite.rs` and `postgres.rs` call these from their `Store` methods.

use crate::{Result, StoreError};
use onboard_core::Timestamp;
use serde::Serialize;
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::sqlite::{SqliteConnection, SqlitePool};

/// A file uploaded to an account's Shared Space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileRecord {
    /// Random; also the file's name on disk.
    pub id: String,
    pub account: String,
    /// The name the uploader's browser gave.
    pub name: String,
    /// In bytes.
    pub size: i64,
    /// Decided from the extension and the content's magic bytes; never `text/html`.
    pub content_type: String,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// The uploader's email.
    pub uploaded_by: String,
    pub uploaded_at: Timestamp,
    /// The project it belongs to, when one was chosen.
    pub project: Option<String>,
}

/// A slot of a CSM's calendar taken by an account's kickoff booking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KickoffSlot {
    /// The CSM's email.
    pub csm: String,
    pub start_at: Timestamp,
    pub end_at: Timestamp,
    pub account: String,
    pub project: String,
    pub task: String,
    pub booked_at: Timestamp,
}

/// The name [`StoreError::Conflict`] carries when a slot is already taken.
pub const SLOT_TAKEN: &str = "kickoff_slots_taken";

type FileRow = (
    String,
    String,
    String,
    i64,
    String,
    String,
    String,
    i64,
    Option<String>,
);

const FILE_COLUMNS: &str =
    "id, account_id, name, size, content_type, sha256, uploaded_by, uploaded_at, project";

fn file(row: FileRow) -> FileRecord {
    let (id, account, name, size, content_type, sha256, uploaded_by, uploaded_at, project) = row;
    FileRecord {
        id,
        account,
        name,
        size,
        content_type,
        sha256,
        uploaded_by,
        uploaded_at: Timestamp(uploaded_at),
        project,
    }
}

type SlotRow = (String, i64, i64, String, String, String, i64);

const SLOT_COLUMNS: &str = "csm, start_at, end_at, account_id, project, task, booked_at";

fn slot(row: SlotRow) -> KickoffSlot {
    let (csm, start_at, end_at, account, project, task, booked_at) = row;
    KickoffSlot {
        csm,
        start_at: Timestamp(start_at),
        end_at: Timestamp(end_at),
        account,
        project,
        task,
        booked_at: Timestamp(booked_at),
    }
}

/// A unique violation while taking a slot, under one name on both backends (SQLite names
/// only the columns): the slot was taken meanwhile, or the same task was booked at once by
/// another request (which got there first).
fn taken(error: StoreError) -> StoreError {
    match error {
        StoreError::Conflict(_) => StoreError::Conflict(SLOT_TAKEN.to_owned()),
        other => other,
    }
}

// ---------------------------------------------------------------------------------- SQLite

pub(crate) async fn insert_file_sqlite(pool: &SqlitePool, file: &FileRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO files (id, account_id, name, size, content_type, sha256, uploaded_by, \
         uploaded_at, project) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .bind(&file.id)
    .bind(&file.account)
    .bind(&file.name)
    .bind(file.size)
    .bind(&file.content_type)
    .bind(&file.sha256)
    .bind(&file.uploaded_by)
    .bind(file.uploaded_at.0)
    .bind(file.project.as_deref())
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn file_sqlite(pool: &SqlitePool, id: &str) -> Result<Option<FileRecord>> {
    let row: Option<FileRow> =
        sqlx::query_as(&format!("SELECT {FILE_COLUMNS} FROM files WHERE id = ?1"))
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(file))
}

pub(crate) async fn account_files_sqlite(
    pool: &SqlitePool,
    account: &str,
) -> Result<Vec<FileRecord>> {
    let rows: Vec<FileRow> = sqlx::query_as(&format!(
        "SELECT {FILE_COLUMNS} FROM files WHERE account_id = ?1 \
         ORDER BY uploaded_at DESC, id"
    ))
    .bind(account)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(file).collect())
}

/// In the caller's write transaction: the task's previous slot is given up, the new one
/// taken.
pub(crate) async fn reserve_slot_sqlite(
    conn: &mut SqliteConnection,
    slot: &KickoffSlot,
) -> Result<()> {
    sqlx::query("DELETE FROM kickoff_slots WHERE account_id = ?1 AND project = ?2 AND task = ?3")
        .bind(&slot.account)
        .bind(&slot.project)
        .bind(&slot.task)
        .execute(&mut *conn)
        .await?;
    sqlx::query(&format!(
        "INSERT INTO kickoff_slots ({SLOT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))
    .bind(&slot.csm)
    .bind(slot.start_at.0)
    .bind(slot.end_at.0)
    .bind(&slot.account)
    .bind(&slot.project)
    .bind(&slot.task)
    .bind(slot.booked_at.0)
    .execute(&mut *conn)
    .await
    .map_err(|e| taken(e.into()))?;
    Ok(())
}

pub(crate) async fn csm_slots_sqlite(
    pool: &SqlitePool,
    csm: &str,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<KickoffSlot>> {
    let rows: Vec<SlotRow> = sqlx::query_as(&format!(
        "SELECT {SLOT_COLUMNS} FROM kickoff_slots \
         WHERE csm = ?1 AND end_at > ?2 AND start_at < ?3 ORDER BY start_at"
    ))
    .bind(csm)
    .bind(from.0)
    .bind(to.0)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(slot).collect())
}

// ------------------------------------------------------------------------------ PostgreSQL

pub(crate) async fn insert_file_postgres(pool: &PgPool, file: &FileRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO files (id, account_id, name, size, content_type, sha256, uploaded_by, \
         uploaded_at, project) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&file.id)
    .bind(&file.account)
    .bind(&file.name)
    .bind(file.size)
    .bind(&file.content_type)
    .bind(&file.sha256)
    .bind(&file.uploaded_by)
    .bind(file.uploaded_at.0)
    .bind(file.project.as_deref())
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn file_postgres(pool: &PgPool, id: &str) -> Result<Option<FileRecord>> {
    let row: Option<FileRow> =
        sqlx::query_as(&format!("SELECT {FILE_COLUMNS} FROM files WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(file))
}

pub(crate) async fn account_files_postgres(
    pool: &PgPool,
    account: &str,
) -> Result<Vec<FileRecord>> {
    let rows: Vec<FileRow> = sqlx::query_as(&format!(
        "SELECT {FILE_COLUMNS} FROM files WHERE account_id = $1 \
         ORDER BY uploaded_at DESC, id"
    ))
    .bind(account)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(file).collect())
}

/// In the caller's transaction: the task's previous slot is given up, the new one taken.
pub(crate) async fn reserve_slot_postgres(
    conn: &mut PgConnection,
    slot: &KickoffSlot,
) -> Result<()> {
    sqlx::query("DELETE FROM kickoff_slots WHERE account_id = $1 AND project = $2 AND task = $3")
        .bind(&slot.account)
        .bind(&slot.project)
        .bind(&slot.task)
        .execute(&mut *conn)
        .await?;
    sqlx::query(&format!(
        "INSERT INTO kickoff_slots ({SLOT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(&slot.csm)
    .bind(slot.start_at.0)
    .bind(slot.end_at.0)
    .bind(&slot.account)
    .bind(&slot.project)
    .bind(&slot.task)
    .bind(slot.booked_at.0)
    .execute(&mut *conn)
    .await
    .map_err(|e| taken(e.into()))?;
    Ok(())
}

pub(crate) async fn csm_slots_postgres(
    pool: &PgPool,
    csm: &str,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<KickoffSlot>> {
    let rows: Vec<SlotRow> = sqlx::query_as(&format!(
        "SELECT {SLOT_COLUMNS} FROM kickoff_slots \
         WHERE csm = $1 AND end_at > $2 AND start_at < $3 ORDER BY start_at"
    ))
    .bind(csm)
    .bind(from.0)
    .bind(to.0)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(slot).collect())
}
