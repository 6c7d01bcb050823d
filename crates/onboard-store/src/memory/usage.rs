//! The usage intake's reads and writes on the in-memory tables ([`UsageTx`]), so that the
//! linking logic of `crate::usage` (shared with SQLite and PostgreSQL) runs unchanged.
//!
//! The methods are async only because the trait is: none of them waits. What makes this a
//! transaction: events appended here are staged, not written, until the caller has seen
//! the whole intake succeed (an append can still meet a key already taken, which fails it
//! as SQLite's unique index would), and every other write is undone by [`MemoryUsage::undo`]
//! when the intake fails after it.

use super::{HeldRow, Inner};
use crate::usage::{HeldEvent, UsageTx, UserRow};
use crate::{Appended, Result};
use async_trait::async_trait;
use onboard_core::NewEvent;
use std::collections::{HashMap, HashSet};

/// A write of the intake and what undoes it.
#[derive(Debug)]
enum Undo {
    /// `(email, account)` was added to the people index.
    Person(String, String),
    /// A user's row was written over this one (`None`: it was new).
    User(String, Option<UserRow>),
    /// A group was linked.
    Group(String),
    /// An event was held under this key.
    Held(String),
    /// A held event was released (deleted).
    Released(String, HeldRow),
}

/// One intake's transaction on the tables.
pub(super) struct MemoryUsage<'a> {
    inner: &'a mut Inner,
    /// Events to append once the intake succeeded, in log order, with their receipt time.
    staged: Vec<(NewEvent, i64)>,
    /// The staged events' keys and the seqs they will get.
    staged_keys: HashMap<String, i64>,
    undo: Vec<Undo>,
}

impl<'a> MemoryUsage<'a> {
    pub(super) fn new(inner: &'a mut Inner) -> Self {
        Self {
            inner,
            staged: Vec::new(),
            staged_keys: HashMap::new(),
            undo: Vec::new(),
        }
    }

    /// The seq the next staged event will get.
    fn next_seq(&self) -> i64 {
        self.inner.last_seq + i64::try_from(self.staged.len()).unwrap_or(i64::MAX) + 1
    }

    /// Stages events as `append_events` appends them: a key in the log or staged already is
    /// a duplicate, and nothing is staged for it.
    pub(super) fn stage(&mut self, events: &[NewEvent], received_at: i64) -> Vec<Appended> {
        events
            .iter()
            .map(|event| {
                if let Some(&seq) = self.inner.event_keys.get(&event.key) {
                    return Appended::Duplicate(seq);
                }
                if let Some(&seq) = self.staged_keys.get(&event.key) {
                    return Appended::Duplicate(seq);
                }
                let seq = self.next_seq();
                self.staged_keys.insert(event.key.clone(), seq);
                self.staged.push((event.clone(), received_at));
                Appended::New(seq)
            })
            .collect()
    }

    /// How many events are staged.
    pub(super) fn n_staged(&self) -> usize {
        self.staged.len()
    }

    /// The staged events, to append in this order (each then gets the seq it was promised).
    pub(super) fn into_staged(self) -> Vec<(NewEvent, i64)> {
        self.staged
    }

    /// Undoes every write but the staged events (which were never written), newest first.
    pub(super) fn undo(mut self) {
        while let Some(undo) = self.undo.pop() {
            let inner = &mut *self.inner;
            match undo {
                Undo::Person(email, account) => {
                    if let Some(accounts) = inner.people.get_mut(&email) {
                        accounts.remove(&account);
                        if accounts.is_empty() {
                            inner.people.remove(&email);
                        }
                    }
                }
                Undo::User(id, before) => {
                    let after = inner.product_users.remove(&id);
                    unindex_user(inner, &id, after.as_ref());
                    if let Some(before) = before {
                        index_user(inner, &id, &before);
                        inner.product_users.insert(id, before);
                    }
                }
                Undo::Group(group) => {
                    inner.groups.remove(&group);
                }
                Undo::Held(key) => {
                    if let Some(row) = inner.held.remove(&key) {
                        remove_held_of_user(inner, &row.user, row.rowid);
                    }
                }
                Undo::Released(key, row) => {
                    inner
                        .held_by_user
                        .entry(row.user.clone())
                        .or_default()
                        .insert(row.rowid, key.clone());
                    inner.held.insert(key, row);
                }
            }
        }
    }
}

/// Takes a user out of the index of unlinked users by email.
fn unindex_user(inner: &mut Inner, id: &str, row: Option<&UserRow>) {
    let Some(UserRow {
        account: None,
        email: Some(email),
        ..
    }) = row
    else {
        return;
    };
    if let Some(ids) = inner.unlinked_by_email.get_mut(email) {
        ids.remove(id);
        if ids.is_empty() {
            inner.unlinked_by_email.remove(email);
        }
    }
}

/// Puts a user in the index of unlinked users by email, if it is one.
fn index_user(inner: &mut Inner, id: &str, row: &UserRow) {
    if let (None, Some(email)) = (&row.account, &row.email) {
        inner
            .unlinked_by_email
            .entry(email.clone())
            .or_default()
            .insert(id.to_owned());
    }
}

fn remove_held_of_user(inner: &mut Inner, user: &str, rowid: i64) {
    if let Some(keys) = inner.held_by_user.get_mut(user) {
        keys.remove(&rowid);
        if keys.is_empty() {
            inner.held_by_user.remove(user);
        }
    }
}

#[async_trait]
impl UsageTx for MemoryUsage<'_> {
    async fn lock_emails(&mut self, _emails: &[String]) -> Result<()> {
        // The store's lock already serialises every write.
        Ok(())
    }

    async fn product_users(
        &mut self,
        ids: &[String],
        _at: i64,
    ) -> Result<HashMap<String, UserRow>> {
        // As on SQLite, a missing user is not created here: the linking writes every user it
        // saw (a new one differs from no row) at the end.
        Ok(ids
            .iter()
            .filter_map(|id| Some((id.clone(), self.inner.product_users.get(id)?.clone())))
            .collect())
    }

    async fn people(&mut self, emails: &[String]) -> Result<HashMap<String, Vec<String>>> {
        Ok(emails
            .iter()
            .filter_map(|email| {
                let accounts = self.inner.people.get(email)?;
                Some((email.clone(), accounts.iter().cloned().collect()))
            })
            .collect())
    }

    async fn groups(&mut self, ids: &[String]) -> Result<HashMap<String, String>> {
        Ok(ids
            .iter()
            .filter_map(|id| Some((id.clone(), self.inner.groups.get(id)?.clone())))
            .collect())
    }

    async fn accounts_by_domain(
        &mut self,
        domains: &[String],
    ) -> Result<HashMap<String, Vec<String>>> {
        Ok(domains
            .iter()
            .filter_map(|domain| {
                let ids = self.inner.accounts_by_domain.get(domain)?;
                Some((domain.clone(), ids.iter().cloned().collect()))
            })
            .collect())
    }

    async fn accounts(&mut self, ids: &[String]) -> Result<HashSet<String>> {
        Ok(ids
            .iter()
            .filter(|id| self.inner.accounts.contains_key(*id))
            .cloned()
            .collect())
    }

    async fn known_keys(&mut self, keys: &[String]) -> Result<HashSet<String>> {
        Ok(keys
            .iter()
            .filter(|key| {
                self.inner.event_keys.contains_key(*key)
                    || self.staged_keys.contains_key(*key)
                    || self.inner.held.contains_key(*key)
            })
            .cloned()
            .collect())
    }

    async fn held_events(&mut self, users: &[String]) -> Result<Vec<HeldEvent>> {
        let mut held: Vec<(i64, HeldEvent)> = users
            .iter()
            .filter_map(|user| self.inner.held_by_user.get(user))
            .flatten()
            .filter_map(|(_, key)| {
                let row = self.inner.held.get(key)?;
                Some((
                    row.rowid,
                    HeldEvent {
                        key: key.clone(),
                        user: row.user.clone(),
                        kind: row.kind.clone(),
                        at: row.at,
                        data: row.data.clone(),
                    },
                ))
            })
            .collect();
        // Arrival order across the users, as SQLite's rowid order.
        held.sort_by_key(|(rowid, _)| *rowid);
        Ok(held.into_iter().map(|(_, event)| event).collect())
    }

    async fn append(&mut self, events: &[NewEvent], at: i64) -> Result<HashMap<String, i64>> {
        let mut seqs = HashMap::with_capacity(events.len());
        for event in events {
            if self.inner.event_keys.contains_key(&event.key)
                || self.staged_keys.contains_key(&event.key)
            {
                continue;
            }
            let seq = self.next_seq();
            self.staged_keys.insert(event.key.clone(), seq);
            self.staged.push((event.clone(), at));
            seqs.insert(event.key.clone(), seq);
        }
        Ok(seqs)
    }

    async fn hold(&mut self, events: &[HeldEvent], _at: i64) -> Result<()> {
        for event in events {
            if self.inner.held.contains_key(&event.key) {
                continue;
            }
            self.inner.last_held_rowid += 1;
            let rowid = self.inner.last_held_rowid;
            self.inner
                .held_by_user
                .entry(event.user.clone())
                .or_default()
                .insert(rowid, event.key.clone());
            self.inner.held.insert(
                event.key.clone(),
                HeldRow {
                    rowid,
                    user: event.user.clone(),
                    kind: event.kind.clone(),
                    at: event.at,
                    data: event.data.clone(),
                },
            );
            self.undo.push(Undo::Held(event.key.clone()));
        }
        Ok(())
    }

    async fn release(&mut self, users: &[String]) -> Result<()> {
        for user in users {
            let Some(keys) = self.inner.held_by_user.remove(user) else {
                continue;
            };
            for key in keys.into_values() {
                if let Some(row) = self.inner.held.remove(&key) {
                    self.undo.push(Undo::Released(key, row));
                }
            }
        }
        Ok(())
    }

    async fn save_users(&mut self, users: &[(String, UserRow)]) -> Result<()> {
        for (id, user) in users {
            let before = self.inner.product_users.get(id).cloned();
            unindex_user(self.inner, id, before.as_ref());
            // An existing row keeps the time it was first seen.
            let mut row = user.clone();
            if let Some(before) = &before {
                row.first_seen_at = before.first_seen_at;
            }
            index_user(self.inner, id, &row);
            self.inner.product_users.insert(id.clone(), row);
            self.undo.push(Undo::User(id.clone(), before));
        }
        Ok(())
    }

    async fn save_groups(&mut self, groups: &[(String, String)], _at: i64) -> Result<()> {
        for (group, account) in groups {
            if !self.inner.groups.contains_key(group) {
                self.inner.groups.insert(group.clone(), account.clone());
                self.undo.push(Undo::Group(group.clone()));
            }
        }
        Ok(())
    }

    async fn save_people(&mut self, people: &[(String, String)]) -> Result<()> {
        for (account, email) in people {
            if self
                .inner
                .people
                .entry(email.clone())
                .or_default()
                .insert(account.clone())
            {
                self.undo.push(Undo::Person(email.clone(), account.clone()));
            }
        }
        Ok(())
    }

    async fn unlinked_users_with_email(
        &mut self,
        emails: &[String],
    ) -> Result<Vec<(String, UserRow)>> {
        let mut users: Vec<(String, UserRow)> = emails
            .iter()
            .filter_map(|email| self.inner.unlinked_by_email.get(email))
            .flatten()
            .filter_map(|id| Some((id.clone(), self.inner.product_users.get(id)?.clone())))
            .collect();
        users.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(users)
    }
}
