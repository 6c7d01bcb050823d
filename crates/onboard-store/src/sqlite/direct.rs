//! The writer's direct connection: a whole write transaction runs on one connection of the
//! SQLite C library (through `rusqlite`), on the calling thread, with prepared statements
//! kept between transactions.
//!
//! sqlx hands every statement to its connection's own thread and waits for the answer: a
//! batch of fifteen statements is thirty thread switches, and the statements of a batch
//! vary in length (multi-row `VALUES`), so each is prepared anew. Here a transaction is one
//! call: one row per execution of a statement prepared once, no switch in between.
//!
//! The direct connection writes beside the sqlx writer's, to the same database. Every write
//! holds the store's write gate for its whole length, so the two never write at once and
//! neither waits in SQLite's busy handler for the other. A transaction runs in place on the
//! runtime's thread: it takes from microseconds to a few milliseconds (a durable commit's
//! flush), and the runtime's other worker threads serve meanwhile. `block_in_place` was
//! tried and not kept: it hands the worker's queue to another thread at every call and
//! starts threads, for no measurable gain.

use crate::Result;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// Prepared statements kept per connection: every statement of the direct writes.
const STATEMENT_CACHE: usize = 128;

/// How the direct connection flushes its commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flush {
    /// `synchronous=FULL`: the commit survives a power cut (the event log's writes).
    Durable,
    /// `synchronous=NORMAL`: derived writes, whose content follows from what is already
    /// durable (the event log, the timers), so that losing one to a power cut loses nothing:
    /// the events are processed again, the timers claimed and fired again, with the same
    /// keys. In WAL mode the next durable commit flushes the WAL with every frame before its
    /// own, and a crash of the process alone loses nothing either way.
    Derived,
}

/// The connection and the `synchronous` setting it has now.
struct Inner {
    conn: Connection,
    /// The `synchronous` pragma in force; `None` on a scratch or in-memory database, whose
    /// commits are never flushed.
    synchronous: Option<Flush>,
}

/// The direct connection. It is only used while the store's write gate is held (see
/// [`super::SqliteStore`]'s `direct` and `direct_read`).
pub(crate) struct Direct {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct").finish_non_exhaustive()
    }
}

impl Direct {
    /// Opens a connection to the database the sqlx pools use: the file at `path`, or, for
    /// an in-memory database, the shared-cache database of that name.
    pub(crate) fn open(
        path: &Path,
        in_memory: bool,
        durable: bool,
        busy_timeout: std::time::Duration,
    ) -> Result<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let flags = if in_memory {
            flags | OpenFlags::SQLITE_OPEN_MEMORY | OpenFlags::SQLITE_OPEN_SHARED_CACHE
        } else {
            flags
        };
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(busy_timeout)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // The store's checkpointer task keeps the WAL short; this connection checkpoints
        // only if the WAL reaches ~400 MB all the same, so no commit waits for a checkpoint.
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; PRAGMA temp_store = memory; PRAGMA cache_size = -16384; \
             PRAGMA wal_autocheckpoint = 100000;",
        )?;
        let synchronous = if durable {
            conn.pragma_update(None, "synchronous", "FULL")?;
            Some(Flush::Durable)
        } else {
            conn.pragma_update(None, "synchronous", "OFF")?;
            None
        };
        Ok(Self {
            inner: Mutex::new(Inner { conn, synchronous }),
        })
    }

    /// The connection. A panic while it was held (a bug in a caller's closure) leaves it
    /// usable: the lock is taken back and a transaction left open is rolled back.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        let inner = self.inner.lock().unwrap_or_else(|poisoned| {
            self.inner.clear_poison();
            poisoned.into_inner()
        });
        if !inner.conn.is_autocommit() {
            if let Err(error) = inner.conn.execute_batch("ROLLBACK") {
                tracing::error!(error = %error, "rolling back a direct SQLite transaction failed");
            }
        }
        inner
    }

    /// Runs `f` in one `BEGIN IMMEDIATE … COMMIT`, flushed as `flush` says; rolls back if
    /// `f` or the commit fails. The caller holds the store's write gate.
    pub(crate) fn transaction<R>(
        &self,
        flush: Flush,
        f: impl FnOnce(&mut Connection) -> Result<R>,
    ) -> Result<R> {
        let mut inner = self.lock();
        if let Some(current) = inner.synchronous {
            if current != flush {
                let value = match flush {
                    Flush::Durable => "FULL",
                    Flush::Derived => "NORMAL",
                };
                inner.conn.pragma_update(None, "synchronous", value)?;
                inner.synchronous = Some(flush);
            }
        }
        let conn = &mut inner.conn;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let result = f(conn).and_then(|value| {
            conn.execute_batch("COMMIT")?;
            Ok(value)
        });
        if result.is_err() && !conn.is_autocommit() {
            if let Err(error) = conn.execute_batch("ROLLBACK") {
                tracing::error!(error = %error, "rolling back a direct SQLite transaction failed");
            }
        }
        result
    }

    /// Runs reads outside any transaction of its own (each statement sees the last commit).
    /// The caller holds the store's write gate, as for a transaction.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
        let inner = self.lock();
        f(&inner.conn)
    }

    /// `PRAGMA synchronous` of the connection now (0 OFF, 1 NORMAL, 2 FULL): what its last
    /// transaction committed with.
    pub(crate) fn synchronous(&self) -> Result<i64> {
        let inner = self.lock();
        Ok(inner
            .conn
            .pragma_query_value(None, "synchronous", |row| row.get(0))?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{Direct, Flush};

    #[test]
    fn a_panic_inside_a_transaction_rolls_it_back_and_leaves_the_connection_usable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("direct.db");
        // The store's sqlx pools create the file; the direct connection only opens it.
        drop(rusqlite::Connection::open(&path).unwrap());
        let direct = Direct::open(&path, false, true, std::time::Duration::from_secs(1)).unwrap();
        direct
            .transaction(Flush::Durable, |conn| {
                conn.execute_batch("CREATE TABLE t (x INTEGER)")?;
                Ok(())
            })
            .unwrap();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            direct.transaction(Flush::Durable, |conn| -> crate::Result<()> {
                conn.execute_batch("INSERT INTO t VALUES (1)")?;
                panic!("a bug in the closure");
            })
        }));
        assert!(panicked.is_err());
        direct
            .transaction(Flush::Durable, |conn| {
                conn.execute_batch("INSERT INTO t VALUES (2)")?;
                Ok(())
            })
            .unwrap();
        let rows: Vec<i64> = direct
            .read(|conn| {
                let mut select = conn.prepare("SELECT x FROM t ORDER BY x")?;
                let rows = select
                    .query_map([], |row| row.get(0))?
                    .collect::<rusqlite::Result<Vec<i64>>>()?;
                Ok(rows)
            })
            .unwrap();
        assert_eq!(rows, vec![2]);
    }
}
