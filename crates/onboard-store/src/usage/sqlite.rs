//! The linking's reads and writes on SQLite. The caller holds the write lock (`BEGIN
//! IMMEDIATE`), so nothing else writes meanwhile: rows need no locks, and a missing user
//! row is simply written at the end. Lists go through multi-row statements in the shared
//! chunk sizes.

use super::{HeldEvent, UsageTx, UserRow};
use crate::rows::chunks;
use crate::Result;
use async_trait::async_trait;
use onboard_core::{NewEvent, Timestamp};
use sqlx::sqlite::SqliteConnection;
use sqlx::{QueryBuilder, Sqlite};
use std::collections::{HashMap, HashSet};

/// The linking inside one SQLite write transaction.
pub(crate) struct SqliteUsage<'c>(pub &'c mut SqliteConnection);

/// `SELECT <columns> FROM <from> WHERE <column> IN (…)` over `values`, chunk by chunk.
async fn select_in<T>(
    conn: &mut SqliteConnection,
    head: &str,
    values: &[String],
    tail: &str,
) -> Result<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
{
    let mut rows = Vec::new();
    for chunk in chunks(values) {
        let mut select = QueryBuilder::<Sqlite>::new(head);
        select.push(" (");
        let mut list = select.separated(", ");
        for value in chunk {
            list.push_bind(value);
        }
        select.push(")");
        select.push(tail);
        rows.extend(select.build_query_as::<T>().fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}

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
        let rows: Vec<UserTuple> = select_in(
            self.0,
            &format!("SELECT {USER_COLUMNS} FROM product_users WHERE user_id IN"),
            ids,
            "",
        )
        .await?;
        Ok(rows.into_iter().map(user_row).collect())
    }

    async fn people(&mut self, emails: &[String]) -> Result<HashMap<String, Vec<String>>> {
        let rows: Vec<(String, String)> = select_in(
            self.0,
            "SELECT email, account_id FROM people_index WHERE email IN",
            emails,
            " ORDER BY email, account_id",
        )
        .await?;
        let mut people: HashMap<String, Vec<String>> = HashMap::new();
        for (email, account) in rows {
            people.entry(email).or_default().push(account);
        }
        Ok(people)
    }

    async fn groups(&mut self, ids: &[String]) -> Result<HashMap<String, String>> {
        let rows: Vec<(String, String)> = select_in(
            self.0,
            "SELECT group_id, account_id FROM product_groups WHERE group_id IN",
            ids,
            "",
        )
        .await?;
        Ok(rows.into_iter().collect())
    }

    async fn accounts_by_domain(
        &mut self,
        domains: &[String],
    ) -> Result<HashMap<String, Vec<String>>> {
        let rows: Vec<(String, String)> = select_in(
            self.0,
            "SELECT domain, id FROM accounts WHERE domain IN",
            domains,
            " ORDER BY domain, id",
        )
        .await?;
        let mut found: HashMap<String, Vec<String>> = HashMap::new();
        for (domain, account) in rows {
            found.entry(domain).or_default().push(account);
        }
        Ok(found)
    }

    async fn accounts(&mut self, ids: &[String]) -> Result<HashSet<String>> {
        let rows: Vec<(String,)> =
            select_in(self.0, "SELECT id FROM accounts WHERE id IN", ids, "").await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    async fn known_keys(&mut self, keys: &[String]) -> Result<HashSet<String>> {
        let logged: Vec<(String,)> = select_in(
            self.0,
            "SELECT event_key FROM events WHERE event_key IN",
            keys,
            "",
        )
        .await?;
        let held: Vec<(String,)> =
            select_in(self.0, "SELECT key FROM usage_held WHERE key IN", keys, "").await?;
        Ok(logged.into_iter().chain(held).map(|(k,)| k).collect())
    }

    async fn held_events(&mut self, users: &[String]) -> Result<Vec<HeldEvent>> {
        let rows: Vec<(i64, String, String, String, i64, String)> = select_in(
            self.0,
            "SELECT rowid, key, user_id, kind, at, data FROM usage_held WHERE user_id IN",
            users,
            "",
        )
        .await?;
        let mut rows = rows;
        rows.sort_by_key(|row| row.0);
        Ok(rows
            .into_iter()
            .map(|(_, key, user, kind, at, data)| HeldEvent {
                key,
                user,
                kind,
                at,
                data,
            })
            .collect())
    }

    async fn append(&mut self, events: &[NewEvent], at: i64) -> Result<HashMap<String, i64>> {
        let mut keys: Vec<String> = events.iter().map(|e| e.key.clone()).collect();
        keys.sort_unstable();
        keys.dedup();
        let logged = crate::sqlite::event_seqs(self.0, &keys).await?;
        let mut first = HashSet::with_capacity(events.len());
        let fresh: Vec<&NewEvent> = events
            .iter()
            .filter(|e| !logged.contains_key(&e.key) && first.insert(e.key.as_str()))
            .collect();
        crate::sqlite::insert_new_events(self.0, &fresh, Timestamp(at)).await
    }

    async fn hold(&mut self, events: &[HeldEvent], at: i64) -> Result<()> {
        for chunk in chunks(events) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO usage_held (key, user_id, kind, at, data, received_at) ",
            );
            insert.push_values(chunk, |mut row, event| {
                row.push_bind(&event.key)
                    .push_bind(&event.user)
                    .push_bind(&event.kind)
                    .push_bind(event.at)
                    .push_bind(&event.data)
                    .push_bind(at);
            });
            insert.push(" ON CONFLICT (key) DO NOTHING");
            insert.build().execute(&mut *self.0).await?;
        }
        Ok(())
    }

    async fn release(&mut self, users: &[String]) -> Result<()> {
        for chunk in chunks(users) {
            let mut delete =
                QueryBuilder::<Sqlite>::new("DELETE FROM usage_held WHERE user_id IN (");
            let mut list = delete.separated(", ");
            for user in chunk {
                list.push_bind(user);
            }
            delete.push(")");
            delete.build().execute(&mut *self.0).await?;
        }
        Ok(())
    }

    async fn save_users(&mut self, users: &[(String, UserRow)]) -> Result<()> {
        for chunk in chunks(users) {
            let mut upsert =
                QueryBuilder::<Sqlite>::new(format!("INSERT INTO product_users ({USER_COLUMNS}) "));
            upsert.push_values(chunk, |mut row, (id, user)| {
                row.push_bind(id)
                    .push_bind(&user.account)
                    .push_bind(&user.email)
                    .push_bind(&user.group)
                    .push_bind(&user.alias_of)
                    .push_bind(user.first_seen_at)
                    .push_bind(user.linked_at);
            });
            upsert.push(
                " ON CONFLICT (user_id) DO UPDATE SET account_id = excluded.account_id, \
                 email = excluded.email, group_id = excluded.group_id, \
                 alias_of = excluded.alias_of, linked_at = excluded.linked_at",
            );
            upsert.build().execute(&mut *self.0).await?;
        }
        Ok(())
    }

    async fn save_groups(&mut self, groups: &[(String, String)], at: i64) -> Result<()> {
        for chunk in chunks(groups) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO product_groups (group_id, account_id, linked_at) ",
            );
            insert.push_values(chunk, |mut row, (group, account)| {
                row.push_bind(group).push_bind(account).push_bind(at);
            });
            insert.push(" ON CONFLICT (group_id) DO NOTHING");
            insert.build().execute(&mut *self.0).await?;
        }
        Ok(())
    }

    async fn save_people(&mut self, people: &[(String, String)]) -> Result<()> {
        for chunk in chunks(people) {
            let mut insert =
                QueryBuilder::<Sqlite>::new("INSERT INTO people_index (email, account_id) ");
            insert.push_values(chunk, |mut row, (account, email)| {
                row.push_bind(email).push_bind(account);
            });
            insert.push(" ON CONFLICT (email, account_id) DO NOTHING");
            insert.build().execute(&mut *self.0).await?;
        }
        Ok(())
    }

    async fn unlinked_users_with_email(
        &mut self,
        emails: &[String],
    ) -> Result<Vec<(String, UserRow)>> {
        let rows: Vec<UserTuple> = select_in(
            self.0,
            &format!(
                "SELECT {USER_COLUMNS} FROM product_users \
                 WHERE account_id IS NULL AND email IS NOT NULL AND email IN"
            ),
            emails,
            "",
        )
        .await?;
        let mut users: Vec<(String, UserRow)> = rows.into_iter().map(user_row).collect();
        users.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(users)
    }
}
