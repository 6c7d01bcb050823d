//! The linking's reads and writes on PostgreSQL, where intake transactions overlap (and
//! overlap the processor's). Two locks keep the linking race-free: each transaction locks
//! the rows of the users it resolves (creating missing rows first, in id order, so that
//! there is a row to lock), and takes a transaction-scoped advisory lock per email it reads
//! or adds in `people_index`, before any row lock, in one order. Lists are bound as arrays.

use super::{HeldEvent, UsageTx, UserRow};
use crate::Result;
use async_trait::async_trait;
use onboard_core::{NewEvent, Timestamp};
use sqlx::postgres::PgConnection;
use std::collections::{HashMap, HashSet};

/// The linking inside one PostgreSQL transaction.
pub(crate) struct PgUsage<'c>(pub &'c mut PgConnection);

type UserTuple = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
);

fn user_row(row: UserTuple) -> (String, UserRow) {
    let (id, account, email, group, alias_of, first_seen_at, linked_at) = row;
    (
        id,
        UserRow {
            account,
            email,
            group,
            alias_of,
            first_seen_at,
            linked_at,
        },
    )
}

const USER_COLUMNS: &str =
    "user_id, account_id, email, group_id, alias_of, first_seen_at, linked_at";

/// Groups `(key, value)` rows (sorted by key, then value) into lists by key.
fn grouped(rows: Vec<(String, String)>) -> HashMap<String, Vec<String>> {
    let mut found: HashMap<String, Vec<String>> = HashMap::new();
    for (key, value) in rows {
        found.entry(key).or_default().push(value);
    }
    found
}

#[async_trait]
impl UsageTx for PgUsage<'_> {
    async fn lock_emails(&mut self, emails: &[String]) -> Result<()> {
        if emails.is_empty() {
            return Ok(());
        }
        // In one order (of the lock keys) in every transaction, so two never deadlock.
        sqlx::query(
            "SELECT pg_advisory_xact_lock(k) FROM ( \
                 SELECT DISTINCT hashtextextended('people_index:' || e, 0) AS k \
                 FROM UNNEST($1::text[]) AS e ORDER BY 1) AS keys",
        )
        .bind(emails)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn product_users(&mut self, ids: &[String], at: i64) -> Result<HashMap<String, UserRow>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        sqlx::query(
            "INSERT INTO product_users (user_id, first_seen_at) \
             SELECT id, $2 FROM UNNEST($1::text[]) AS id ORDER BY id \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(ids)
        .bind(at)
        .execute(&mut *self.0)
        .await?;
        let rows: Vec<UserTuple> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM product_users WHERE user_id = ANY($1) \
             ORDER BY user_id FOR UPDATE"
        ))
        .bind(ids)
        .fetch_all(&mut *self.0)
        .await?;
        Ok(rows.into_iter().map(user_row).collect())
    }

    async fn people(&mut self, emails: &[String]) -> Result<HashMap<String, Vec<String>>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT email, account_id FROM people_index WHERE email = ANY($1) \
             ORDER BY email, account_id",
        )
        .bind(emails)
        .fetch_all(&mut *self.0)
        .await?;
        Ok(grouped(rows))
    }

    async fn groups(&mut self, ids: &[String]) -> Result<HashMap<String, String>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT group_id, account_id FROM product_groups WHERE group_id = ANY($1)",
        )
        .bind(ids)
        .fetch_all(&mut *self.0)
        .await?;
        Ok(rows.into_iter().collect())
    }

    async fn accounts_by_domain(
        &mut self,
        domains: &[String],
    ) -> Result<HashMap<String, Vec<String>>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT domain, id FROM accounts WHERE domain = ANY($1) ORDER BY domain, id",
        )
        .bind(domains)
        .fetch_all(&mut *self.0)
        .await?;
        Ok(grouped(rows))
    }

    async fn accounts(&mut self, ids: &[String]) -> Result<HashSet<String>> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT id FROM accounts WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(&mut *self.0)
            .await?;
        Ok(rows.into_iter().collect())
    }

    async fn known_keys(&mut self, keys: &[String]) -> Result<HashSet<String>> {
        if keys.is_empty() {
            return Ok(HashSet::new());
        }
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT event_key FROM events WHERE event_key = ANY($1) \
             UNION ALL SELECT key FROM usage_held WHERE key = ANY($1)",
        )
        .bind(keys)
        .fetch_all(&mut *self.0)
        .await?;
        Ok(rows.into_iter().collect())
    }

    async fn held_events(&mut self, users: &[String]) -> Result<Vec<HeldEvent>> {
        let rows: Vec<(String, String, String, i64, String)> = sqlx::query_as(
            "SELECT key, user_id, kind, at, data FROM usage_held WHERE user_id = ANY($1) \
             ORDER BY n",
        )
        .bind(users)
        .fetch_all(&mut *self.0)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(key, user, kind, at, data)| HeldEvent {
                key,
                user,
                kind,
                at,
                data,
            })
            .collect())
    }

    async fn append(&mut self, events: &[NewEvent], at: i64) -> Result<HashMap<String, i64>> {
        let refs: Vec<&NewEvent> = events.iter().collect();
        crate::postgres::insert_events(self.0, &refs, Timestamp(at)).await
    }

    async fn hold(&mut self, events: &[HeldEvent], at: i64) -> Result<()> {
        let keys: Vec<&str> = events.iter().map(|e| e.key.as_str()).collect();
        let users: Vec<&str> = events.iter().map(|e| e.user.as_str()).collect();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        let ats: Vec<i64> = events.iter().map(|e| e.at).collect();
        let data: Vec<&str> = events.iter().map(|e| e.data.as_str()).collect();
        sqlx::query(
            "INSERT INTO usage_held (key, user_id, kind, at, data, received_at) \
             SELECT key, user_id, kind, at, data, $6 \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) \
                  WITH ORDINALITY AS h(key, user_id, kind, at, data, ord) \
             ORDER BY ord \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(&keys)
        .bind(&users)
        .bind(&kinds)
        .bind(&ats)
        .bind(&data)
        .bind(at)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn release(&mut self, users: &[String]) -> Result<()> {
        sqlx::query("DELETE FROM usage_held WHERE user_id = ANY($1)")
            .bind(users)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn save_users(&mut self, users: &[(String, UserRow)]) -> Result<()> {
        let ids: Vec<&str> = users.iter().map(|(id, _)| id.as_str()).collect();
        let accounts: Vec<Option<&str>> = users.iter().map(|(_, u)| u.account.as_deref()).collect();
        let emails: Vec<Option<&str>> = users.iter().map(|(_, u)| u.email.as_deref()).collect();
        let groups: Vec<Option<&str>> = users.iter().map(|(_, u)| u.group.as_deref()).collect();
        let aliases: Vec<Option<&str>> = users.iter().map(|(_, u)| u.alias_of.as_deref()).collect();
        let first_seen: Vec<i64> = users.iter().map(|(_, u)| u.first_seen_at).collect();
        let linked: Vec<Option<i64>> = users.iter().map(|(_, u)| u.linked_at).collect();
        sqlx::query(&format!(
            "INSERT INTO product_users ({USER_COLUMNS}) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                                  $6::bigint[], $7::bigint[]) \
             ON CONFLICT (user_id) DO UPDATE SET account_id = excluded.account_id, \
                 email = excluded.email, group_id = excluded.group_id, \
                 alias_of = excluded.alias_of, linked_at = excluded.linked_at"
        ))
        .bind(&ids)
        .bind(&accounts)
        .bind(&emails)
        .bind(&groups)
        .bind(&aliases)
        .bind(&first_seen)
        .bind(&linked)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn save_groups(&mut self, groups: &[(String, String)], at: i64) -> Result<()> {
        let ids: Vec<&str> = groups.iter().map(|(g, _)| g.as_str()).collect();
        let accounts: Vec<&str> = groups.iter().map(|(_, a)| a.as_str()).collect();
        sqlx::query(
            "INSERT INTO product_groups (group_id, account_id, linked_at) \
             SELECT g, a, $3 FROM UNNEST($1::text[], $2::text[]) AS x(g, a) \
             ON CONFLICT (group_id) DO NOTHING",
        )
        .bind(&ids)
        .bind(&accounts)
        .bind(at)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn save_people(&mut self, people: &[(String, String)]) -> Result<()> {
        let accounts: Vec<&str> = people.iter().map(|(a, _)| a.as_str()).collect();
        let emails: Vec<&str> = people.iter().map(|(_, e)| e.as_str()).collect();
        sqlx::query(
            "INSERT INTO people_index (email, account_id) \
             SELECT e, a FROM UNNEST($1::text[], $2::text[]) AS x(e, a) ORDER BY e, a \
             ON CONFLICT (email, account_id) DO NOTHING",
        )
        .bind(&emails)
        .bind(&accounts)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn unlinked_users_with_email(
        &mut self,
        emails: &[String],
    ) -> Result<Vec<(String, UserRow)>> {
        let rows: Vec<UserTuple> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM product_users \
             WHERE account_id IS NULL AND email IS NOT NULL AND email = ANY($1) \
             ORDER BY user_id FOR UPDATE"
        ))
        .bind(emails)
        .fetch_all(&mut *self.0)
        .await?;
        Ok(rows.into_iter().map(user_row).collect())
    }
}
