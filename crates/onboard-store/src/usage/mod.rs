//! Product usage linked to accounts at intake.
//!
//! The Segment-compatible intake hands the store [`UsageCall`]s: events of the product's
//! users, who are known by their own ids, not by account. In the transaction that appends
//! them, the store decides which account each event belongs to, from what it knows:
//!
//! 1. the user's link (`product_users`), or the link of the user an alias named;
//! 2. the email the user identified with, when exactly one account has a person with it
//!    (`people_index`); when several do, the account the user's group is linked to;
//! 3. the user's group (`product_groups`), linked by its domain or website when exactly one
//!    account has that domain, or because its id is an account id.
//!
//! An event of a linked user is appended to the log under the account, with `data.email`
//! (the email the user was linked with, when known). An event of a user not linked yet is
//! held (`usage_held`); when the user is linked, by a later call or because the processor
//! added a person with their email ([`link_people`]), their held events move into the log
//! in their original order, in the same transaction.
//!
//! What is decided here is pure ([`plan`]); the reads and writes go through [`UsageTx`],
//! which each backend implements with its own SQL (`sqlite.rs`, `postgres.rs` here).
//! Nothing in this module knows SQL.

pub(crate) mod postgres;
pub(crate) mod sqlite;

use crate::{Appended, Result, StoreError};
use async_trait::async_trait;
use onboard_core::{EventType, NewEvent, Timestamp};
use std::collections::{HashMap, HashSet};

/// One call of the product-usage intake, validated.
#[derive(Debug, Clone, PartialEq)]
pub enum UsageCall {
    /// An event of a product user (track, page, identify, group).
    Event(UsageEvent),
    /// `previous` and `user` are the same person: whichever is linked links the other.
    Alias { previous: String, user: String },
}

/// An event of a product user, before it is known which account it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageEvent {
    /// The dedupe key (`segment:<messageId>`).
    pub key: String,
    /// `product.track`, `product.page`, `product.identify` or `product.group`.
    pub kind: EventType,
    /// The product user: the userId, or `anon:<anonymousId>`.
    pub user: String,
    pub at: Timestamp,
    /// The event's data as logged (`data.email` is added when the user is linked).
    pub data: serde_json::Value,
    /// The email the user identifies with (lower case), from an identify's traits or any
    /// call's `context.traits`.
    pub email: Option<String>,
    /// The group the user is in: a group call's groupId, or any call's `context.groupId`.
    pub group: Option<String>,
    /// The group's domain (a group call's `traits.domain` or `traits.website` host).
    pub domain: Option<String>,
}

/// What became of one usage call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageOutcome {
    /// In the log at this position, under the user's account.
    Appended(i64),
    /// Kept until the user is linked to an account.
    Held,
    /// Its key is already in the log or held: nothing changed.
    Duplicate,
    /// An alias, recorded.
    Aliased,
}

/// What `append_intake` did: one answer per event and per usage call, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IntakeAppended {
    pub events: Vec<Appended>,
    pub usage: Vec<UsageOutcome>,
}

/// A product user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductUser {
    pub user: String,
    /// The account the user is linked to, once linked.
    pub account: Option<String>,
    pub email: Option<String>,
    pub group: Option<String>,
    pub linked_at: Option<Timestamp>,
}

/// A product user's row as the linking reads and writes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct UserRow {
    pub account: Option<String>,
    pub email: Option<String>,
    pub group: Option<String>,
    pub alias_of: Option<String>,
    pub first_seen_at: i64,
    pub linked_at: Option<i64>,
}

/// An event kept until its user is linked.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HeldEvent {
    pub key: String,
    pub user: String,
    pub kind: String,
    pub at: i64,
    /// The data as JSON text, without `email`.
    pub data: String,
}

/// The reads and writes of the linking, inside one transaction of one backend.
#[async_trait]
pub(crate) trait UsageTx: Send {
    /// Serialises the transactions that read or add these emails in `people_index` (so a
    /// person added while an identify with their email is held cannot miss it).
    async fn lock_emails(&mut self, emails: &[String]) -> Result<()>;
    /// The rows of these users, created (first seen at `at`) when missing, and locked until
    /// commit where transactions overlap. `ids` are sorted.
    async fn product_users(&mut self, ids: &[String], at: i64) -> Result<HashMap<String, UserRow>>;
    /// The accounts that know each of these emails, in id order.
    async fn people(&mut self, emails: &[String]) -> Result<HashMap<String, Vec<String>>>;
    /// The accounts these groups are linked to.
    async fn groups(&mut self, ids: &[String]) -> Result<HashMap<String, String>>;
    /// The accounts with each of these domains, in id order.
    async fn accounts_by_domain(
        &mut self,
        domains: &[String],
    ) -> Result<HashMap<String, Vec<String>>>;
    /// Those of these ids that are accounts.
    async fn accounts(&mut self, ids: &[String]) -> Result<HashSet<String>>;
    /// Those of these keys that are in the log or held.
    async fn known_keys(&mut self, keys: &[String]) -> Result<HashSet<String>>;
    /// The held events of these users, in arrival order.
    async fn held_events(&mut self, users: &[String]) -> Result<Vec<HeldEvent>>;
    /// Appends, in order, the events whose keys are not in the log yet; their sequence
    /// numbers by key. One whose key is there is left out: a held event whose key reached the
    /// log meanwhile, as an ordinary event of another intake.
    async fn append(&mut self, events: &[NewEvent], at: i64) -> Result<HashMap<String, i64>>;
    async fn hold(&mut self, events: &[HeldEvent], at: i64) -> Result<()>;
    async fn release(&mut self, users: &[String]) -> Result<()>;
    async fn save_users(&mut self, users: &[(String, UserRow)]) -> Result<()>;
    async fn save_groups(&mut self, groups: &[(String, String)], at: i64) -> Result<()>;
    /// Records which accounts know which emails: `(account, email)`.
    async fn save_people(&mut self, people: &[(String, String)]) -> Result<()>;
    /// The users not linked yet who identified with one of these emails (locked until
    /// commit where transactions overlap), in id order.
    async fn unlinked_users_with_email(
        &mut self,
        emails: &[String],
    ) -> Result<Vec<(String, UserRow)>>;
}

/// Links and appends or holds the usage calls of one intake transaction. `taken` are the
/// keys the transaction's other events use (a usage event with one of them is a duplicate).
pub(crate) async fn ingest<T: UsageTx>(
    tx: &mut T,
    mut calls: Vec<UsageCall>,
    taken: &HashSet<&str>,
    received_at: Timestamp,
) -> Result<Vec<UsageOutcome>> {
    if calls.is_empty() {
        return Ok(Vec::new());
    }
    let at = received_at.0;
    let mut emails = sorted(calls.iter().filter_map(|c| match c {
        UsageCall::Event(e) => e.email.clone(),
        UsageCall::Alias { .. } => None,
    }));
    tx.lock_emails(&emails).await?;
    let ids = sorted(calls.iter().flat_map(|c| match c {
        UsageCall::Event(e) => vec![e.user.clone()],
        UsageCall::Alias { previous, user } => vec![previous.clone(), user.clone()],
    }));
    let mut users = tx.product_users(&ids, at).await?;
    let aliased = sorted(
        users
            .values()
            .filter(|u| u.account.is_none())
            .filter_map(|u| u.alias_of.clone())
            .filter(|id| !users.contains_key(id)),
    );
    if !aliased.is_empty() {
        users.extend(tx.product_users(&aliased, at).await?);
    }
    // Emails and groups the unlinked users already told us count as much as the calls'.
    emails.extend(
        users
            .values()
            .filter(|u| u.account.is_none())
            .filter_map(|u| u.email.clone()),
    );
    let emails = sorted(emails);
    let group_ids = sorted(
        calls
            .iter()
            .filter_map(|c| match c {
                UsageCall::Event(e) => e.group.clone(),
                UsageCall::Alias { .. } => None,
            })
            .chain(
                users
                    .values()
                    .filter(|u| u.account.is_none())
                    .filter_map(|u| u.group.clone()),
            ),
    );
    let domains = sorted(calls.iter().filter_map(|c| match c {
        UsageCall::Event(e) => e.domain.clone(),
        UsageCall::Alias { .. } => None,
    }));
    let people = if emails.is_empty() {
        HashMap::new()
    } else {
        tx.people(&emails).await?
    };
    let groups = if group_ids.is_empty() {
        HashMap::new()
    } else {
        tx.groups(&group_ids).await?
    };
    let unlinked_groups: Vec<String> = group_ids
        .iter()
        .filter(|g| !groups.contains_key(*g))
        .cloned()
        .collect();
    let accounts = if unlinked_groups.is_empty() {
        HashSet::new()
    } else {
        tx.accounts(&unlinked_groups).await?
    };
    let domains = if domains.is_empty() {
        HashMap::new()
    } else {
        tx.accounts_by_domain(&domains).await?
    };
    let keys = sorted(calls.iter().filter_map(|c| match c {
        UsageCall::Event(e) if !taken.contains(e.key.as_str()) => Some(e.key.clone()),
        _ => None,
    }));
    let mut known_keys = tx.known_keys(&keys).await?;
    known_keys.extend(taken.iter().map(|k| (*k).to_owned()));
    let known = Known {
        users,
        people,
        groups,
        domains,
        accounts,
        keys: known_keys,
    };
    let plan = plan(&mut calls, known, received_at);
    let held = if plan.released.is_empty() {
        Vec::new()
    } else {
        tx.held_events(&plan.released).await?
    };
    let (appends, holds) = expand(plan.steps, held)?;
    let seqs = if appends.is_empty() {
        HashMap::new()
    } else {
        let seqs = tx.append(&appends, at).await?;
        warn_dropped(appends.len(), seqs.len());
        seqs
    };
    if !plan.released.is_empty() {
        tx.release(&plan.released).await?;
    }
    if !holds.is_empty() {
        tx.hold(&holds, at).await?;
    }
    if !plan.users.is_empty() {
        tx.save_users(&plan.users).await?;
    }
    if !plan.groups.is_empty() {
        tx.save_groups(&plan.groups, at).await?;
    }
    let held_keys: HashSet<&str> = holds.iter().map(|h| h.key.as_str()).collect();
    Ok(plan
        .outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Planned::Key(key) => match seqs.get(&key) {
                Some(seq) => UsageOutcome::Appended(*seq),
                None if held_keys.contains(key.as_str()) => UsageOutcome::Held,
                None => UsageOutcome::Duplicate,
            },
            Planned::Duplicate => UsageOutcome::Duplicate,
            Planned::Aliased => UsageOutcome::Aliased,
        })
        .collect())
}

/// Records the people a processed batch added (`(account, email)`), and links the users who
/// identified with their emails and were not linked yet, moving their held events into the
/// log, all in the caller's transaction.
pub(crate) async fn link_people<T: UsageTx>(
    tx: &mut T,
    people: &[(String, String)],
    processed_at: Timestamp,
) -> Result<()> {
    if people.is_empty() {
        return Ok(());
    }
    let at = processed_at.0;
    let emails = sorted(people.iter().map(|(_, email)| email.clone()));
    tx.lock_emails(&emails).await?;
    tx.save_people(people).await?;
    let candidates = tx.unlinked_users_with_email(&emails).await?;
    if candidates.is_empty() {
        return Ok(());
    }
    let known_people = tx.people(&emails).await?;
    let group_ids = sorted(candidates.iter().filter_map(|(_, u)| u.group.clone()));
    let groups = if group_ids.is_empty() {
        HashMap::new()
    } else {
        tx.groups(&group_ids).await?
    };
    let mut linked = Vec::new();
    let mut steps = Vec::new();
    for (id, mut user) in candidates {
        let Some(email) = user.email.clone() else {
            continue;
        };
        let group_account = user.group.as_ref().and_then(|g| groups.get(g));
        let Some(account) = by_email(&id, &email, &known_people, group_account) else {
            continue;
        };
        user.account = Some(account.clone());
        user.linked_at = Some(at);
        steps.push(Some(Step::Release {
            user: id.clone(),
            account,
            email: Some(email),
        }));
        linked.push((id, user));
    }
    if linked.is_empty() {
        return Ok(());
    }
    let released: Vec<String> = linked.iter().map(|(id, _)| id.clone()).collect();
    let held = tx.held_events(&released).await?;
    let (appends, _) = expand(steps, held)?;
    let moved = if appends.is_empty() {
        0
    } else {
        let seqs = tx.append(&appends, at).await?;
        warn_dropped(appends.len(), seqs.len());
        seqs.len()
    };
    tx.release(&released).await?;
    tx.save_users(&linked).await?;
    tracing::info!(
        n_users = linked.len(),
        n_events = moved,
        "product users linked to new people; their held events moved to the log"
    );
    Ok(())
}

/// Says so when held events met their keys in the log as they moved there (each key of a
/// transaction's own calls was checked before; only a held one can meet itself logged).
fn warn_dropped(planned: usize, appended: usize) {
    if appended < planned {
        tracing::warn!(
            n_dropped = planned - appended,
            "held usage events left out: their keys reached the log meanwhile as other events"
        );
    }
}

/// Sorted, without repeats.
fn sorted(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut items: Vec<String> = items.into_iter().collect();
    items.sort_unstable();
    items.dedup();
    items
}

/// What the linking reads before it decides.
#[derive(Debug, Default)]
pub(crate) struct Known {
    pub users: HashMap<String, UserRow>,
    pub people: HashMap<String, Vec<String>>,
    pub groups: HashMap<String, String>,
    pub domains: HashMap<String, Vec<String>>,
    pub accounts: HashSet<String>,
    /// Keys already in the log, held, or taken by the transaction's other events.
    pub keys: HashSet<String>,
}

/// One step of the log's writes, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    Append(NewEvent),
    Hold(HeldEvent),
    /// The user's events held by earlier transactions move into the log here.
    Release {
        user: String,
        account: String,
        email: Option<String>,
    },
}

/// What one call will come to, once written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Planned {
    /// Appended or held, by its key.
    Key(String),
    Duplicate,
    Aliased,
}

/// What [`plan`] decided.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub steps: Vec<Option<Step>>,
    /// Users whose held events (of earlier transactions) move into the log.
    pub released: Vec<String>,
    /// User rows to write (new or changed).
    pub users: Vec<(String, UserRow)>,
    /// Groups newly linked to accounts.
    pub groups: Vec<(String, String)>,
    pub outcomes: Vec<Planned>,
}

/// Decides, call by call in order, which account each event belongs to, what is appended,
/// held and released, and which links are new. An appended event's properties move out of
/// its call (a tree of values, not worth copying).
pub(crate) fn plan(calls: &mut [UsageCall], mut known: Known, received_at: Timestamp) -> Plan {
    let at = received_at.0;
    let mut plan = Plan::default();
    let mut changed: HashSet<String> = HashSet::new();
    // Users that were stored unlinked: they may have events held by earlier transactions.
    let stored_unlinked: HashSet<String> = known
        .users
        .iter()
        .filter(|(_, u)| u.account.is_none())
        .map(|(id, _)| id.clone())
        .collect();
    // Steps of this transaction's held events, by user, to move when the user is linked.
    let mut holding: HashMap<String, Vec<usize>> = HashMap::new();
    for call in calls {
        match call {
            UsageCall::Event(event) => {
                if !known.keys.insert(event.key.clone()) {
                    plan.outcomes.push(Planned::Duplicate);
                    continue;
                }
                plan.outcomes.push(Planned::Key(event.key.clone()));
                let mut user = known
                    .users
                    .get(&event.user)
                    .cloned()
                    .unwrap_or_else(|| UserRow {
                        first_seen_at: at,
                        ..UserRow::default()
                    });
                if let Some(email) = &event.email {
                    if user.account.is_none() || user.email.is_none() {
                        user.email = Some(email.clone());
                    }
                }
                if let Some(group) = &event.group {
                    user.group = Some(group.clone());
                    if !known.groups.contains_key(group) {
                        let by_domain = event
                            .domain
                            .as_ref()
                            .and_then(|d| known.domains.get(d))
                            .filter(|accounts| accounts.len() == 1)
                            .and_then(|accounts| accounts.first());
                        let account = by_domain
                            .cloned()
                            .or_else(|| known.accounts.contains(group).then(|| group.clone()));
                        if let Some(account) = account {
                            known.groups.insert(group.clone(), account.clone());
                            plan.groups.push((group.clone(), account));
                        }
                    }
                }
                if user.account.is_none() {
                    if let Some(account) = resolve(&event.user, &user, &known) {
                        link(
                            &mut plan,
                            &mut holding,
                            &stored_unlinked,
                            &event.user,
                            &mut user,
                            account,
                            at,
                        );
                    }
                }
                // `known.users` still holds the row as it was before this call.
                if known.users.get(&event.user) != Some(&user) {
                    changed.insert(event.user.clone());
                }
                let step = match &user.account {
                    Some(account) => Step::Append(NewEvent {
                        key: event.key.clone(),
                        kind: event.kind.clone(),
                        account: account.clone(),
                        at: event.at,
                        data: with_email(std::mem::take(&mut event.data), user.email.as_deref()),
                    }),
                    None => {
                        holding
                            .entry(event.user.clone())
                            .or_default()
                            .push(plan.steps.len());
                        Step::Hold(HeldEvent {
                            key: event.key.clone(),
                            user: event.user.clone(),
                            kind: event.kind.as_str().to_owned(),
                            at: event.at.0,
                            data: event.data.to_string(),
                        })
                    }
                };
                plan.steps.push(Some(step));
                known.users.insert(event.user.clone(), user);
            }
            UsageCall::Alias { previous, user } => {
                plan.outcomes.push(Planned::Aliased);
                let fresh = || UserRow {
                    first_seen_at: at,
                    ..UserRow::default()
                };
                let mut from = known.users.get(previous).cloned().unwrap_or_else(fresh);
                let mut to = known.users.get(user).cloned().unwrap_or_else(fresh);
                if previous == user {
                    continue;
                }
                match (from.account.clone(), to.account.clone()) {
                    (None, Some(account)) => {
                        if from.email.is_none() {
                            from.email.clone_from(&to.email);
                        }
                        link(
                            &mut plan,
                            &mut holding,
                            &stored_unlinked,
                            previous,
                            &mut from,
                            account,
                            at,
                        );
                    }
                    (Some(account), None) => {
                        if to.email.is_none() {
                            to.email.clone_from(&from.email);
                        }
                        link(
                            &mut plan,
                            &mut holding,
                            &stored_unlinked,
                            user,
                            &mut to,
                            account,
                            at,
                        );
                    }
                    (None, None) => from.alias_of = Some(user.clone()),
                    (Some(_), Some(_)) => {}
                }
                changed.insert(previous.clone());
                changed.insert(user.clone());
                known.users.insert(previous.clone(), from);
                known.users.insert(user.clone(), to);
            }
        }
    }
    let mut users: Vec<(String, UserRow)> = changed
        .into_iter()
        .filter_map(|id| known.users.get(&id).cloned().map(|row| (id, row)))
        .collect();
    users.sort_by(|a, b| a.0.cmp(&b.0));
    plan.users = users;
    plan
}

/// The account an unlinked user belongs to, if what is known says so: the user an alias
/// named, their email, their group.
fn resolve(id: &str, user: &UserRow, known: &Known) -> Option<String> {
    if let Some(account) = user
        .alias_of
        .as_ref()
        .and_then(|other| known.users.get(other))
        .and_then(|other| other.account.clone())
    {
        return Some(account);
    }
    let group_account = user.group.as_ref().and_then(|g| known.groups.get(g));
    if let Some(email) = &user.email {
        if let Some(account) = by_email(id, email, &known.people, group_account) {
            return Some(account);
        }
        if known.people.get(email).is_some_and(|a| a.len() > 1) {
            // Several accounts know the email and the group names none of them: wait.
            return None;
        }
    }
    group_account.cloned()
}

/// The account a person with this email belongs to: the only one that knows the email, or
/// among several, the user's group's.
fn by_email(
    id: &str,
    email: &str,
    people: &HashMap<String, Vec<String>>,
    group_account: Option<&String>,
) -> Option<String> {
    let accounts = people.get(email)?;
    match accounts.as_slice() {
        [] => None,
        [only] => Some(only.clone()),
        several => {
            let chosen = group_account.filter(|g| several.contains(g)).cloned();
            if chosen.is_none() {
                tracing::info!(
                    product.user = id,
                    n_accounts = several.len(),
                    "product user held: their email belongs to people of several accounts, \
                     and their group names none of them"
                );
            }
            chosen
        }
    }
}

/// Links a user to an account: events they had held move into the log here.
fn link(
    plan: &mut Plan,
    holding: &mut HashMap<String, Vec<usize>>,
    stored_unlinked: &HashSet<String>,
    id: &str,
    user: &mut UserRow,
    account: String,
    at: i64,
) {
    user.account = Some(account.clone());
    user.linked_at = Some(at);
    if stored_unlinked.contains(id) && !plan.released.iter().any(|r| r == id) {
        plan.released.push(id.to_owned());
        plan.steps.push(Some(Step::Release {
            user: id.to_owned(),
            account: account.clone(),
            email: user.email.clone(),
        }));
    }
    for index in holding.remove(id).unwrap_or_default() {
        if let Some(Some(Step::Hold(held))) = plan.steps.get_mut(index).map(Option::take) {
            let data = serde_json::from_str(&held.data).unwrap_or(serde_json::Value::Null);
            if let Ok(kind) = EventType::parse(&held.kind) {
                plan.steps.push(Some(Step::Append(NewEvent {
                    key: held.key,
                    kind,
                    account: account.clone(),
                    at: Timestamp(held.at),
                    data: with_email(data, user.email.as_deref()),
                })));
            }
        }
    }
}

/// The data of a linked user's event: `email` added when known.
fn with_email(mut data: serde_json::Value, email: Option<&str>) -> serde_json::Value {
    if let (Some(email), Some(object)) = (email, data.as_object_mut()) {
        object.insert("email".to_owned(), serde_json::Value::from(email));
    }
    data
}

/// The events to append, in order (held events of earlier transactions in place of their
/// release), and those to hold.
pub(crate) fn expand(
    steps: Vec<Option<Step>>,
    held: Vec<HeldEvent>,
) -> Result<(Vec<NewEvent>, Vec<HeldEvent>)> {
    let mut by_user: HashMap<String, Vec<HeldEvent>> = HashMap::new();
    for event in held {
        by_user.entry(event.user.clone()).or_default().push(event);
    }
    let mut appends = Vec::new();
    let mut holds = Vec::new();
    for step in steps.into_iter().flatten() {
        match step {
            Step::Append(event) => appends.push(event),
            Step::Hold(event) => holds.push(event),
            Step::Release {
                user,
                account,
                email,
            } => {
                for event in by_user.remove(&user).unwrap_or_default() {
                    let data: serde_json::Value =
                        serde_json::from_str(&event.data).map_err(|e| {
                            StoreError::Corrupt(format!("held event `{}` data: {e}", event.key))
                        })?;
                    let kind = EventType::parse(&event.kind).map_err(|e| {
                        StoreError::Corrupt(format!("held event `{}` type: {e}", event.key))
                    })?;
                    appends.push(NewEvent {
                        key: event.key,
                        kind,
                        account: account.clone(),
                        at: Timestamp(event.at),
                        data: with_email(data, email.as_deref()),
                    });
                }
            }
        }
    }
    Ok((appends, holds))
}

/// A `product_users` row as `Store::product_user` reads it.
#[derive(sqlx::FromRow)]
pub(crate) struct ProductUserRow {
    user_id: String,
    account_id: Option<String>,
    email: Option<String>,
    group_id: Option<String>,
    linked_at: Option<i64>,
}

impl From<ProductUserRow> for ProductUser {
    fn from(row: ProductUserRow) -> Self {
        Self {
            user: row.user_id,
            account: row.account_id,
            email: row.email,
            group: row.group_id,
            linked_at: row.linked_at.map(Timestamp),
        }
    }
}
