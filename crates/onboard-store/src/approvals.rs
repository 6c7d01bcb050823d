//! The table of autopilot's approvals the console lists across accounts: written with each
//! processed batch (the last copy of an approval in the batch wins), read by status or
//! account, oldest first. Both backends.

use crate::Result;
use onboard_core::state::Approval;
use sqlx::postgres::PgConnection;

/// Which approvals to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalQuery {
    /// `pending`, `approved`, `rejected`, `moot`; none: all.
    pub status: Option<String>,
    /// One account's only.
    pub account: Option<String>,
    /// At most this many (default 100, at most 1,000).
    pub limit: Option<i64>,
}

impl ApprovalQuery {
    pub(crate) fn limit(&self) -> i64 {
        self.limit.unwrap_or(100).clamp(1, 1_000)
    }
}

fn latest(approvals: &[Approval]) -> Result<Vec<(&Approval, String)>> {
    crate::rows::latest_documents(approvals, |x| x.id.as_str(), "approval")
}

/// Parses stored bodies.
pub(crate) fn parse(bodies: Vec<(String,)>) -> Result<Vec<Approval>> {
    crate::rows::parse_documents(bodies, "approval")
}

pub(crate) fn upsert_sqlite(
    conn: &rusqlite::Connection,
    approvals: &[Approval],
    at: i64,
) -> Result<()> {
    let rows = latest(approvals)?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut upsert = conn.prepare_cached(
        "INSERT INTO approvals (id, account_id, status, created_at, updated_at, body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
             updated_at = excluded.updated_at, body = excluded.body",
    )?;
    for (approval, body) in rows {
        upsert.execute(rusqlite::params![
            approval.id,
            approval.account,
            approval.status.as_str(),
            approval.created_at.0,
            at,
            body
        ])?;
    }
    Ok(())
}

pub(crate) async fn upsert_postgres(
    conn: &mut PgConnection,
    approvals: &[Approval],
    at: i64,
) -> Result<()> {
    let rows = latest(approvals)?;
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = rows.iter().map(|(a, _)| a.id.as_str()).collect();
    let accounts: Vec<&str> = rows.iter().map(|(a, _)| a.account.as_str()).collect();
    let statuses: Vec<&str> = rows.iter().map(|(a, _)| a.status.as_str()).collect();
    let created: Vec<i64> = rows.iter().map(|(a, _)| a.created_at.0).collect();
    let bodies: Vec<&str> = rows.iter().map(|(_, b)| b.as_str()).collect();
    sqlx::query(
        "INSERT INTO approvals (id, account_id, status, created_at, updated_at, body) \
         SELECT id, account_id, status, created_at, $5, body \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $6::text[]) \
             AS t(id, account_id, status, created_at, body) \
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
             updated_at = excluded.updated_at, body = excluded.body",
    )
    .bind(&ids)
    .bind(&accounts)
    .bind(&statuses)
    .bind(&created)
    .bind(at)
    .bind(&bodies)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The listing's SQL, with `?` placeholders numbered for the backend by `placeholder`.
pub(crate) fn list_sql(query: &ApprovalQuery, placeholder: fn(usize) -> String) -> String {
    let mut sql = "SELECT body FROM approvals WHERE 1 = 1".to_owned();
    let mut n = 0;
    if query.status.is_some() {
        n += 1;
        sql.push_str(&format!(" AND status = {}", placeholder(n)));
    }
    if query.account.is_some() {
        n += 1;
        sql.push_str(&format!(" AND account_id = {}", placeholder(n)));
    }
    n += 1;
    sql.push_str(&format!(
        " ORDER BY created_at, id LIMIT {}",
        placeholder(n)
    ));
    sql
}
