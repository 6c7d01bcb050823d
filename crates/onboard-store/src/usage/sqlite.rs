//! The linking's reads and writes on SQLite, on the direct connection (see
//! `crate::sqlite::direct`). The caller holds the write lock (`BEGIN IMMEDIATE`), so nothing
//! else writes meanwhile: rows need no locks, and a missing user row is simply written at
//! the end. Lists go through one prepared statement executed per value.

use super::{HeldEvent, UsageTx, UserRow};
use crate::Result;
use async_trait::async_trait;
use onboard_core::{NewEvent, Timestamp};
use rusqlite::{params, Connection, Row};
use std::collections::{HashMap, HashSet};

/// The linking inside one SQLite write transaction. Every method completes without
/// waiting: the trait is async for PostgreSQL's sake.
pub(crate) struct SqliteUsage<'c>(pub &'c mut Connection);

/// Runs `sql` (one `?1` parameter) for each of `values` and collects the rows.
fn select_each<T>(
    conn: &Connection,
    sql: &str,
    values: &[String],
    row: impl Fn(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>> {
    let mut select = conn.prepare_cached(sql)?;
    let mut found = Vec::new();
    for value in values {
        for item in select.query_map([value], &row)? {
            found.push(item?);
        }
    }
    Ok(found)
}

fn user_row(row: &Row<'_>) -> rusqlite::Result<(String, UserRow)> {
    Ok((
        row.get(0)?,
        UserRow {
            account: row.get(1)?,
            email: row.get(2)?,
            group: row.get(3)?,
            alias_of: row.get(4)?,
            first_seen_at: row.get(5)?,
            linked_at: row.get(6)?,
        },
    ))
}

fn pair(row: &Row<'_>) -> rusqlite::Result<(String, String)> {
    Ok((row.get(0)?, row.get(1)?))
}

/// The second of each pair by the first, in the pairs' order.
fn grouped(pairs: Vec<(String, String)>) -> HashMap<String, Vec<String>> {
    let mut groups: HashMap<String, Vec<String>> = HashMap::new();
    for (key, value) in pairs {
        groups.entry(key).or_default().push(value);
    }
    groups
}

const USER_COLUMNS: &str =
    "user_id, account_id, email, group_id, alias_of, first_seen_at, linked_at";

#[async_trait]
impl UsageTx for SqliteUsage<'_> {
    async fn lock_emails(&mut self, _emails: &[String]) -> Result<()> {
        // The write lock already serialises every writer.
        Ok(())
    }

    async fn product_users(
        &mut self,
        ids: &[String],
        _at: i64,
    ) -> Result<HashMap<String, UserRow>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM product_users WHERE user_id = ?1");
        Ok(select_each(self.0, &sql, ids, user_row)?
            .into_iter()
            .collect())
    }

    async fn people(&mut self, emails: &[String]) -> Result<HashMap<String, Vec<String>>> {
        let rows = select_each(
            self.0,
            "SELECT email, account_id FROM people_index WHERE email = ?1 ORDER BY account_id",
            emails,
            pair,
        )?;
        Ok(grouped(rows))
    }

    async fn groups(&mut self, ids: &[String]) -> Result<HashMap<String, String>> {
        let rows = select_each(
            self.0,
            "SELECT group_id, account_id FROM product_groups WHERE group_id = ?1",
            ids,
            pair,
        )?;
        Ok(rows.into_iter().collect())
    }

    async fn accounts_by_domain(
        &mut self,
        domains: &[String],
    ) -> Result<HashMap<String, Vec<String>>> {
        let rows = select_each(
            self.0,
            "SELECT domain, id FROM accounts WHERE domain = ?1 ORDER BY id",
            domains,
            pair,
        )?;
        Ok(grouped(rows))
    }

    async fn accounts(&mut self, ids: &[String]) -> Result<HashSet<String>> {
        let rows = select_each(
            self.0,
            "SELECT id FROM accounts WHERE id = ?1",
            ids,
            |row| row.get(0),
        )?;
        Ok(rows.into_iter().collect())
    }

    async fn known_keys(&mut self, keys: &[String]) -> Result<HashSet<String>> {
        let logged: Vec<String> = select_each(
            self.0,
            "SELECT event_key FROM events WHERE event_key = ?1",
            keys,
            |row| row.get(0),
        )?;
        let held: Vec<String> = select_each(
            self.0,
            "SELECT key FROM usage_held WHERE key = ?1",
            keys,
            |row| row.get(0),
        )?;
        Ok(logged.into_iter().chain(held).collect())
    }

    async fn held_events(&mut self, users: &[String]) -> Result<Vec<HeldEvent>> {
        let mut rows = select_each(
            self.0,
            "SELECT rowid, key, user_id, kind, at, data FROM usage_held WHERE user_id = ?1",
            users,
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    HeldEvent {
                        key: row.get(1)?,
                        user: row.get(2)?,
                        kind: row.get(3)?,
                        at: row.get(4)?,
                        data: row.get(5)?,
                    },
                ))
            },
        )?;
        rows.sort_by_key(|(rowid, _)| *rowid);
        Ok(rows.into_iter().map(|(_, event)| event).collect())
    }

    async fn append(&mut self, events: &[NewEvent], at: i64) -> Result<HashMap<String, i64>> {
        crate::sqlite::writes::insert_new_events(self.0, events, Timestamp(at))
    }

    async fn hold(&mut self, events: &[HeldEvent], at: i64) -> Result<()> {
        let mut insert = self.0.prepare_cached(
            "INSERT INTO usage_held (key, user_id, kind, at, data, received_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (key) DO NOTHING",
        )?;
        for event in events {
            insert.execute(params![
                event.key, event.user, event.kind, event.at, event.data, at
            ])?;
        }
        Ok(())
    }

    async fn release(&mut self, users: &[String]) -> Result<()> {
        let mut delete = self
            .0
            .prepare_cached("DELETE FROM usage_held WHERE user_id = ?1")?;
        for user in users {
            delete.execute([user])?;
        }
        Ok(())
    }

    async fn save_users(&mut self, users: &[(String, UserRow)]) -> Result<()> {
        let mut upsert = self.0.prepare_cached(&format!(
            "INSERT INTO product_users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (user_id) DO UPDATE SET account_id = excluded.account_id, \
             email = excluded.email, group_id = excluded.group_id, \
             alias_of = excluded.alias_of, linked_at = excluded.linked_at"
        ))?;
        for (id, user) in users {
            upsert.execute(params![
                id,
                user.account,
                user.email,
                user.group,
                user.alias_of,
                user.first_seen_at,
                user.linked_at
            ])?;
        }
        Ok(())
    }

    async fn save_groups(&mut self, groups: &[(String, String)], at: i64) -> Result<()> {
        let mut insert = self.0.prepare_cached(
            "INSERT INTO product_groups (group_id, account_id, linked_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (group_id) DO NOTHING",
        )?;
        for (group, account) in groups {
            insert.execute(params![group, account, at])?;
        }
        Ok(())
    }

    async fn save_people(&mut self, people: &[(String, String)]) -> Result<()> {
        let mut insert = self.0.prepare_cached(
            "INSERT INTO people_index (email, account_id) VALUES (?1, ?2) \
             ON CONFLICT (email, account_id) DO NOTHING",
        )?;
        for (account, email) in people {
            insert.execute([email, account])?;
        }
        Ok(())
    }

    async fn unlinked_users_with_email(
        &mut self,
        emails: &[String],
    ) -> Result<Vec<(String, UserRow)>> {
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM product_users \
             WHERE account_id IS NULL AND email IS NOT NULL AND email = ?1"
        );
        let mut users = select_each(self.0, &sql, emails, user_row)?;
        users.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(users)
    }
}
