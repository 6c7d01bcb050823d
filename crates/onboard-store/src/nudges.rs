//! The table of in-app nudges the product polls: written with each processed batch (the
//! last copy of a nudge in the batch wins), read by person. Both backends.

use crate::Result;
use onboard_core::state::Nudge;
use sqlx::postgres::PgConnection;

fn latest(nudges: &[Nudge]) -> Result<Vec<(&Nudge, String)>> {
    crate::rows::latest_documents(nudges, |x| x.id.as_str(), "nudge")
}

/// Parses stored bodies.
pub(crate) fn parse(bodies: Vec<(String,)>) -> Result<Vec<Nudge>> {
    crate::rows::parse_documents(bodies, "nudge")
}

pub(crate) fn upsert_sqlite(conn: &rusqlite::Connection, nudges: &[Nudge], at: i64) -> Result<()> {
    let rows = latest(nudges)?;
    if rows.is_empty() {
        return Ok(());
    }
    let mut upsert = conn.prepare_cached(
        "INSERT INTO nudges (id, account_id, email, status, expires_at, updated_at, body) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
             expires_at = excluded.expires_at, updated_at = excluded.updated_at, \
             body = excluded.body",
    )?;
    for (nudge, body) in rows {
        upsert.execute(rusqlite::params![
            nudge.id,
            nudge.account,
            nudge.email,
            nudge.status.as_str(),
            nudge.expires_at.0,
            at,
            body
        ])?;
    }
    Ok(())
}

pub(crate) async fn upsert_postgres(
    conn: &mut PgConnection,
    nudges: &[Nudge],
    at: i64,
) -> Result<()> {
    let rows = latest(nudges)?;
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = rows.iter().map(|(n, _)| n.id.as_str()).collect();
    let accounts: Vec<&str> = rows.iter().map(|(n, _)| n.account.as_str()).collect();
    let emails: Vec<&str> = rows.iter().map(|(n, _)| n.email.as_str()).collect();
    let statuses: Vec<&str> = rows.iter().map(|(n, _)| n.status.as_str()).collect();
    let expires: Vec<i64> = rows.iter().map(|(n, _)| n.expires_at.0).collect();
    let bodies: Vec<&str> = rows.iter().map(|(_, b)| b.as_str()).collect();
    sqlx::query(
        "INSERT INTO nudges (id, account_id, email, status, expires_at, updated_at, body) \
         SELECT id, account_id, email, status, expires_at, $6, body \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $7::text[]) \
             AS t(id, account_id, email, status, expires_at, body) \
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
             expires_at = excluded.expires_at, updated_at = excluded.updated_at, \
             body = excluded.body",
    )
    .bind(&ids)
    .bind(&accounts)
    .bind(&emails)
    .bind(&statuses)
    .bind(&expires)
    .bind(at)
    .bind(&bodies)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
