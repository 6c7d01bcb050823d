//! The portfolio: one small row per account ([`Summary`]), written with each processed
//! batch for the accounts whose summary changed, and read a page at a time with filters,
//! sort and search, for the console. Both backends; the query is built once for either.

use crate::Result;
use onboard_core::portfolio::Summary;
use onboard_core::Timestamp;
use serde::Serialize;
use sqlx::postgres::{PgConnection, Postgres};
use sqlx::sqlite::Sqlite;
use sqlx::{Database, QueryBuilder};

/// The flags a portfolio can be narrowed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Someone has not signed in to the Academy 72 hours after the deal.
    Stalled,
    /// A project task is past due.
    Overdue,
    /// A goal is at risk or missed.
    AtRisk,
    /// Someone finished their core journey within a day of the deal.
    PowerUser,
    /// An alert is open.
    Alerts,
    /// No Aha moment yet.
    NoAha,
}

impl Flag {
    pub const ALL: [Flag; 6] = [
        Flag::Stalled,
        Flag::Overdue,
        Flag::AtRisk,
        Flag::PowerUser,
        Flag::Alerts,
        Flag::NoAha,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Flag::Stalled => "stalled",
            Flag::Overdue => "overdue",
            Flag::AtRisk => "at_risk",
            Flag::PowerUser => "power_user",
            Flag::Alerts => "alerts",
            Flag::NoAha => "no_aha",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// What the portfolio can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    #[default]
    Name,
    /// The deal's date (newest first when descending).
    Deal,
    Health,
    Progress,
    Stage,
    /// The latest alert.
    Alert,
}

impl SortKey {
    pub const ALL: [SortKey; 6] = [
        SortKey::Name,
        SortKey::Deal,
        SortKey::Health,
        SortKey::Progress,
        SortKey::Stage,
        SortKey::Alert,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Deal => "deal",
            SortKey::Health => "health",
            SortKey::Progress => "progress",
            SortKey::Stage => "stage",
            SortKey::Alert => "alert",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the column may be null (unknown).
    fn nullable(self) -> bool {
        matches!(self, SortKey::Deal | SortKey::Health | SortKey::Alert)
    }

    fn column(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Deal => "deal_won_at",
            SortKey::Health => "health",
            SortKey::Progress => "progress",
            SortKey::Stage => "stage",
            SortKey::Alert => "last_alert_at",
        }
    }
}

/// A page of the portfolio to read.
#[derive(Debug, Clone)]
pub struct PortfolioQuery {
    /// Only this CSM's book (email).
    pub csm: Option<String>,
    /// `active`, `paused` or `churned`.
    pub status: Option<String>,
    pub stage: Option<String>,
    pub flag: Option<Flag>,
    /// Part of the account's name or key, any case.
    pub search: Option<String>,
    pub sort: SortKey,
    pub descending: bool,
    pub offset: i64,
    pub limit: i64,
    /// The time flags that come with time (stalled) are judged at.
    pub now: Timestamp,
}

impl PortfolioQuery {
    /// The first page of every account, by name, at `now`.
    pub fn at(now: Timestamp) -> Self {
        Self {
            csm: None,
            status: None,
            stage: None,
            flag: None,
            search: None,
            sort: SortKey::Name,
            descending: false,
            offset: 0,
            limit: 50,
            now,
        }
    }
}

/// A page of the portfolio and the counts of the whole book it was cut from.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PortfolioPage {
    pub rows: Vec<Summary>,
    /// Accounts matching every filter (the page is a slice of them).
    pub total: i64,
    /// Accounts matching the book's filters (CSM, status, stage, search), and how many of
    /// them carry each flag.
    pub book: i64,
    pub flags: Vec<(Flag, i64)>,
}

const COLUMNS: &str = "account_id, name, status, csm, stage, progress, deal_won_at, aha_at, \
                       health, goal_status, overdue_tasks, open_alerts, last_alert_at, \
                       open_team_tasks, stalled_from, power_user, people, updated_at";

/// The text a search looks in: the name and the key, lower-cased, one per line (a search
/// holds no line break, so it never matches across the two).
pub(crate) fn search_text(summary: &Summary) -> String {
    format!(
        "{}\n{}",
        summary.name.to_lowercase(),
        summary.account.to_lowercase()
    )
}

/// A search as the `search` column is compared with: lower-cased, control characters left
/// out.
pub(crate) fn search_needle(search: &str) -> String {
    search
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

/// The SQL function that finds a substring (haystack, needle), > 0 when found.
#[derive(Clone, Copy)]
enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    fn position(self) -> &'static str {
        match self {
            Dialect::Sqlite => "instr",
            Dialect::Postgres => "strpos",
        }
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    account_id: String,
    name: String,
    status: String,
    csm: Option<String>,
    stage: String,
    progress: i64,
    deal_won_at: Option<i64>,
    aha_at: Option<i64>,
    health: Option<i64>,
    goal_status: Option<String>,
    overdue_tasks: i64,
    open_alerts: i64,
    last_alert_at: Option<i64>,
    open_team_tasks: i64,
    stalled_from: Option<i64>,
    power_user: i64,
    people: i64,
    updated_at: i64,
}

fn summary(row: Row) -> Summary {
    let n = |v: i64| u32::try_from(v).unwrap_or(0);
    Summary {
        account: row.account_id,
        name: row.name,
        status: row.status,
        csm: row.csm,
        stage: row.stage,
        progress: n(row.progress),
        deal_won_at: row.deal_won_at.map(Timestamp),
        aha_at: row.aha_at.map(Timestamp),
        health: row.health.map(n),
        goal_status: row.goal_status,
        overdue_tasks: n(row.overdue_tasks),
        open_alerts: n(row.open_alerts),
        last_alert_at: row.last_alert_at.map(Timestamp),
        open_team_tasks: n(row.open_team_tasks),
        stalled_from: row.stalled_from.map(Timestamp),
        power_user: row.power_user != 0,
        people: n(row.people),
        updated_at: Timestamp(row.updated_at),
    }
}

/// The condition of a flag, at `now` (bound).
fn push_flag<'a, DB>(query: &mut QueryBuilder<'a, DB>, flag: Flag, now: i64)
where
    DB: Database,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    match flag {
        Flag::Stalled => {
            query
                .push("(status = 'active' AND stalled_from <= ")
                .push_bind(now)
                .push(")");
        }
        Flag::Overdue => {
            query.push("overdue_tasks > 0");
        }
        Flag::AtRisk => {
            query.push("goal_status IN ('at_risk', 'missed')");
        }
        Flag::PowerUser => {
            query.push("power_user <> 0");
        }
        Flag::Alerts => {
            query.push("open_alerts > 0");
        }
        Flag::NoAha => {
            query.push("(aha_at IS NULL AND deal_won_at IS NOT NULL)");
        }
    }
}

/// The book's filters: `WHERE …` without the flag.
fn push_book<'a, DB>(query: &mut QueryBuilder<'a, DB>, q: &'a PortfolioQuery, dialect: Dialect)
where
    DB: Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    query.push(" WHERE 1 = 1");
    if let Some(csm) = &q.csm {
        query.push(" AND csm = ").push_bind(csm.as_str());
    }
    if let Some(status) = &q.status {
        query.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(stage) = &q.stage {
        query.push(" AND stage = ").push_bind(stage.as_str());
    }
    if let Some(needle) = q
        .search
        .as_deref()
        .map(search_needle)
        .filter(|s| !s.is_empty())
    {
        // A substring test of the lower-cased text the writer stored: no pattern to escape,
        // nothing lower-cased per row.
        query
            .push(format!(" AND {}(search, ", dialect.position()))
            .push_bind(needle)
            .push(") > 0");
    }
}

fn page_query<'a, DB>(q: &'a PortfolioQuery, dialect: Dialect) -> QueryBuilder<'a, DB>
where
    DB: Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut query = QueryBuilder::new(format!("SELECT {COLUMNS} FROM portfolio"));
    push_book(&mut query, q, dialect);
    if let Some(flag) = q.flag {
        query.push(" AND ");
        push_flag(&mut query, flag, q.now.0);
    }
    let column = q.sort.column();
    let direction = if q.descending { "DESC" } else { "ASC" };
    // Unknown values last whichever the direction; the key breaks ties, so pages are stable.
    // A column that is never null is ordered by itself, so that an index can give the order
    // (by name, the default, `portfolio_name`: the first page stops after its rows).
    if q.sort.nullable() {
        query.push(format!(
            " ORDER BY ({column} IS NULL), {column} {direction}, account_id {direction} LIMIT "
        ));
    } else {
        query.push(format!(
            " ORDER BY {column} {direction}, account_id {direction} LIMIT "
        ));
    }
    query.push_bind(crate::rows::page_limit(q.limit));
    query.push(" OFFSET ").push_bind(q.offset.max(0));
    query
}

fn counts_query<'a, DB>(q: &'a PortfolioQuery, dialect: Dialect) -> QueryBuilder<'a, DB>
where
    DB: Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut query = QueryBuilder::new("SELECT count(*)");
    for flag in Flag::ALL {
        query.push(", count(*) FILTER (WHERE ");
        push_flag(&mut query, flag, q.now.0);
        query.push(")");
    }
    query.push(" FROM portfolio");
    push_book(&mut query, q, dialect);
    query
}

type Counts = (i64, i64, i64, i64, i64, i64, i64);

fn page(q: &PortfolioQuery, rows: Vec<Row>, counts: Counts) -> PortfolioPage {
    let flags = vec![
        (Flag::Stalled, counts.1),
        (Flag::Overdue, counts.2),
        (Flag::AtRisk, counts.3),
        (Flag::PowerUser, counts.4),
        (Flag::Alerts, counts.5),
        (Flag::NoAha, counts.6),
    ];
    let total = match q.flag {
        None => counts.0,
        Some(flag) => flags
            .iter()
            .find(|(f, _)| *f == flag)
            .map_or(0, |(_, n)| *n),
    };
    PortfolioPage {
        rows: rows.into_iter().map(summary).collect(),
        total,
        book: counts.0,
        flags,
    }
}

pub(crate) async fn read_sqlite(
    pool: &sqlx::SqlitePool,
    q: &PortfolioQuery,
) -> Result<PortfolioPage> {
    let rows: Vec<Row> = page_query::<Sqlite>(q, Dialect::Sqlite)
        .build_query_as()
        .fetch_all(pool)
        .await?;
    let counts: Counts = counts_query::<Sqlite>(q, Dialect::Sqlite)
        .build_query_as()
        .fetch_one(pool)
        .await?;
    Ok(page(q, rows, counts))
}

pub(crate) async fn read_postgres(
    pool: &sqlx::PgPool,
    q: &PortfolioQuery,
) -> Result<PortfolioPage> {
    let rows: Vec<Row> = page_query::<Postgres>(q, Dialect::Postgres)
        .build_query_as()
        .fetch_all(pool)
        .await?;
    let counts: Counts = counts_query::<Postgres>(q, Dialect::Postgres)
        .build_query_as()
        .fetch_one(pool)
        .await?;
    Ok(page(q, rows, counts))
}

/// What an upsert of summaries does with an account's row already there.
const UPSERT_CONFLICT: &str = " ON CONFLICT (account_id) DO UPDATE SET name = excluded.name, \
         status = excluded.status, csm = excluded.csm, stage = excluded.stage, \
         progress = excluded.progress, deal_won_at = excluded.deal_won_at, \
         aha_at = excluded.aha_at, health = excluded.health, \
         goal_status = excluded.goal_status, overdue_tasks = excluded.overdue_tasks, \
         open_alerts = excluded.open_alerts, last_alert_at = excluded.last_alert_at, \
         open_team_tasks = excluded.open_team_tasks, stalled_from = excluded.stalled_from, \
         power_user = excluded.power_user, people = excluded.people, \
         updated_at = excluded.updated_at, search = excluded.search";

fn upsert<'a, DB>(rows: &'a [Summary]) -> QueryBuilder<'a, DB>
where
    DB: Database,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<&'a str>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut query = QueryBuilder::new(format!("INSERT INTO portfolio ({COLUMNS}, search) "));
    query.push_values(rows, |mut row, s| {
        row.push_bind(s.account.as_str())
            .push_bind(s.name.as_str())
            .push_bind(s.status.as_str())
            .push_bind(s.csm.as_deref())
            .push_bind(s.stage.as_str())
            .push_bind(i64::from(s.progress))
            .push_bind(s.deal_won_at.map(|t| t.0))
            .push_bind(s.aha_at.map(|t| t.0))
            .push_bind(s.health.map(i64::from))
            .push_bind(s.goal_status.as_deref())
            .push_bind(i64::from(s.overdue_tasks))
            .push_bind(i64::from(s.open_alerts))
            .push_bind(s.last_alert_at.map(|t| t.0))
            .push_bind(i64::from(s.open_team_tasks))
            .push_bind(s.stalled_from.map(|t| t.0))
            .push_bind(i64::from(s.power_user))
            .push_bind(i64::from(s.people))
            .push_bind(s.updated_at.0)
            .push_bind(search_text(s));
    });
    query.push(UPSERT_CONFLICT);
    query
}

/// Writes summaries (the last of an account's wins).
pub(crate) fn upsert_sqlite(conn: &rusqlite::Connection, rows: &[Summary]) -> Result<()> {
    let rows = latest(rows);
    if rows.is_empty() {
        return Ok(());
    }
    let mut upsert = conn.prepare_cached(&format!(
        "INSERT INTO portfolio ({COLUMNS}, search) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
         ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19){UPSERT_CONFLICT}"
    ))?;
    for s in &rows {
        upsert.execute(rusqlite::params![
            s.account,
            s.name,
            s.status,
            s.csm,
            s.stage,
            i64::from(s.progress),
            s.deal_won_at.map(|t| t.0),
            s.aha_at.map(|t| t.0),
            s.health.map(i64::from),
            s.goal_status,
            i64::from(s.overdue_tasks),
            i64::from(s.open_alerts),
            s.last_alert_at.map(|t| t.0),
            i64::from(s.open_team_tasks),
            s.stalled_from.map(|t| t.0),
            i64::from(s.power_user),
            i64::from(s.people),
            s.updated_at.0,
            search_text(s)
        ])?;
    }
    Ok(())
}

pub(crate) async fn upsert_postgres(conn: &mut PgConnection, rows: &[Summary]) -> Result<()> {
    let rows = latest(rows);
    for chunk in rows.chunks(256) {
        upsert::<Postgres>(chunk)
            .build()
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// One summary per account, the last given; sorted by account so that concurrent writers
/// lock rows in one order.
fn latest(rows: &[Summary]) -> Vec<Summary> {
    let mut by_account: std::collections::BTreeMap<&str, &Summary> = Default::default();
    for row in rows {
        by_account.insert(&row.account, row);
    }
    by_account.into_values().cloned().collect()
}
