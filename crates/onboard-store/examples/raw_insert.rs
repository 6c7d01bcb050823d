//! The raw SQLite insert rate of rows the server logged: the yardstick of the usage intake's
//! benchmark (`bench/usage.sh`).
//!
//! ```text
//! raw_insert --from DATA_DIR/onboard.db --to FRESH.db [--kind product.track] [--rows-per-tx 100]
//! ```
//!
//! Reads the events of one kind from a database the server wrote, in log order, creates a
//! fresh database with the server's own migrations (the same tables and indexes), and then
//! times inserting the same rows into its `events` table with nothing in between: one
//! prepared statement through the SQLite C library, `rows-per-tx` rows per `BEGIN
//! IMMEDIATE … COMMIT`, WAL and `synchronous=FULL` like the server. Prints `RAW rows=N
//! seconds=S rate=R` (rows per second).
//!
//! It runs on the server's allocator (mimalloc, which the workspace builds as SQLite's
//! allocator too), so the yardstick is SQLite at its best here, not SQLite on glibc's.

use onboard_store::sqlite::SqliteStore;
use onboard_store::Store;
use rusqlite::{params, Connection, OpenFlags};
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Row {
    key: String,
    kind: String,
    account: String,
    at: i64,
    data: String,
    received_at: i64,
}

struct Args {
    from: String,
    to: String,
    kind: String,
    rows_per_tx: usize,
}

fn args() -> Result<Args, String> {
    let mut from = None;
    let mut to = None;
    let mut kind = "product.track".to_owned();
    let mut rows_per_tx = 100;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--from" => from = Some(value),
            "--to" => to = Some(value),
            "--kind" => kind = value,
            "--rows-per-tx" => {
                rows_per_tx = value
                    .parse()
                    .map_err(|_| format!("--rows-per-tx: not a number: {value}"))?;
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(Args {
        from: from.ok_or("--from is required")?,
        to: to.ok_or("--to is required")?,
        kind,
        rows_per_tx: rows_per_tx.max(1),
    })
}

fn read_rows(path: &str, kind: &str) -> rusqlite::Result<Vec<Row>> {
    let source = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut select = source.prepare(
        "SELECT event_key, kind, account_id, at, data, received_at FROM events \
         WHERE kind = ?1 ORDER BY seq",
    )?;
    let rows = select.query_map([kind], |row| {
        Ok(Row {
            key: row.get(0)?,
            kind: row.get(1)?,
            account: row.get(2)?,
            at: row.get(3)?,
            data: row.get(4)?,
            received_at: row.get(5)?,
        })
    })?;
    rows.collect()
}

fn insert(path: &str, rows: &[Row], rows_per_tx: usize) -> rusqlite::Result<f64> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -65536)?;
    let started = Instant::now();
    for chunk in rows.chunks(rows_per_tx) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (event_key, kind, account_id, at, data, received_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for row in chunk {
                insert.execute(params![
                    row.key,
                    row.kind,
                    row.account,
                    row.at,
                    row.data,
                    row.received_at
                ])?;
            }
        }
        tx.commit()?;
    }
    Ok(started.elapsed().as_secs_f64())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args().map_err(|e| format!("raw_insert: {e}"))?;
    let rows = read_rows(&args.from, &args.kind)?;
    if rows.is_empty() {
        return Err(format!("raw_insert: no {} events in {}", args.kind, args.from).into());
    }
    // The server's schema, made by the server's migrations.
    let store = SqliteStore::connect(&format!("sqlite://{}", args.to)).await?;
    store.migrate().await?;
    drop(store);
    let seconds = insert(&args.to, &rows, args.rows_per_tx)?;
    println!(
        "RAW rows={} rows_per_tx={} seconds={seconds:.3} rate={:.0}",
        rows.len(),
        args.rows_per_tx,
        rows.len() as f64 / seconds
    );
    Ok(())
}
