//! Fresh databases for tests, on both backends (feature `testing`), and the in-memory store
//! for the tests that want it too ([`TestDatabase::memory`], not among
//! [`TestDatabase::all`]).
//!
//! SQLite always: a new file in a temporary directory. PostgreSQL whenever reachable: a new
//! database `onboard_t_<random>` on the server named by `ONBOARD_TEST_PG_URL` (default
//! `postgres://root@127.0.0.1:5432/postgres`), dropped by [`TestDatabase::finish`]. When the
//! server is unreachable the tests say so loudly and run on SQLite only, unless `CI` or
//! `ONBOARD_REQUIRE_PG` is set, in which case they fail.

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};
use std::str::FromStr;
use std::sync::Once;

const DEFAULT_PG_URL: &str = "postgres://root@127.0.0.1:5432/postgres";

/// A fresh, empty (not yet migrated) database.
pub struct TestDatabase {
    /// `sqlite`, `postgres` or `memory`.
    pub backend: &'static str,
    /// Its URL, for `onboard_store::connect` or `--database-url`.
    pub url: String,
    dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDatabase {
    /// A new SQLite database file in a temporary directory.
    pub fn sqlite() -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("onboard.db").display());
        Ok(Self {
            backend: "sqlite",
            url,
            dir: Some(dir),
            pg_name: None,
        })
    }

    /// The in-memory store's URL (`memory:`): each `onboard_store::connect` of it makes a new,
    /// empty store, so a second connection is another database, not a second node.
    pub fn memory() -> Self {
        Self {
            backend: "memory",
            url: "memory:".to_owned(),
            dir: None,
            pg_name: None,
        }
    }

    /// A new PostgreSQL database, or `None` when no server is reachable and none is required.
    ///
    /// # Panics
    /// When a server is required (`CI` or `ONBOARD_REQUIRE_PG`) and unreachable, or refuses
    /// to create the database.
    pub async fn postgres() -> Option<Self> {
        let mut admin = admin_connection().await?;
        drop_abandoned(&mut admin).await;
        let name = format!(
            "onboard_t_{}_{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        if let Err(e) = sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
        {
            panic!("cannot create the test database {name}: {e}");
        }
        Some(Self {
            backend: "postgres",
            url: database_url(&base_url(), &name),
            dir: None,
            pg_name: Some(name),
        })
    }

    /// SQLite, then PostgreSQL when reachable.
    ///
    /// # Panics
    /// As [`TestDatabase::postgres`], or when no temporary directory can be made.
    pub async fn all() -> Vec<Self> {
        let mut all = Vec::new();
        match Self::sqlite() {
            Ok(db) => all.push(db),
            Err(e) => panic!("cannot create a temporary directory: {e}"),
        }
        all.extend(Self::postgres().await);
        all
    }

    /// A directory that lives as long as this database (SQLite's, or a new one).
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(|d| d.path())
    }

    /// Drops the PostgreSQL database (ending its connections); removes SQLite's directory.
    pub async fn finish(self) {
        if let Some(name) = &self.pg_name {
            if let Some(mut admin) = admin_connection().await {
                let dropped = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await;
                if let Err(e) = dropped {
                    eprintln!("could not drop test database {name}: {e}");
                }
            }
        }
    }
}

/// Drops the test databases of test processes that are gone (a test that panicked never
/// reaches `finish`). The creating process id is the name's second part.
async fn drop_abandoned(admin: &mut PgConnection) {
    let names: Vec<(String,)> =
        match sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'onboard_t_%'")
            .fetch_all(&mut *admin)
            .await
        {
            Ok(names) => names,
            Err(_) => return,
        };
    for (name,) in names {
        let pid = name
            .strip_prefix("onboard_t_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let gone = match pid {
            Some(pid) => !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            None => false,
        };
        if gone {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut *admin)
                .await;
        }
    }
}

fn base_url() -> String {
    std::env::var("ONBOARD_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

/// The server's URL with the database replaced by `name`.
pub fn database_url(base: &str, name: &str) -> String {
    let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", base));
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, format!("?{query}")),
        None => (rest, String::new()),
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    format!("{scheme}://{authority}/{name}{query}")
}

/// A connection to the server, or `None` (after a loud notice) when it is unreachable and
/// not required.
async fn admin_connection() -> Option<PgConnection> {
    let url = base_url();
    let options = match PgConnectOptions::from_str(&url) {
        Ok(options) => options.disable_statement_logging(),
        Err(e) => panic!("ONBOARD_TEST_PG_URL `{url}` is not a PostgreSQL URL: {e}"),
    };
    let connected = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        PgConnection::connect_with(&options).await
    })
    .await;
    let error = match connected {
        Ok(Ok(connection)) => return Some(connection),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "timed out".to_owned(),
    };
    let required =
        std::env::var_os("CI").is_some() || std::env::var_os("ONBOARD_REQUIRE_PG").is_some();
    assert!(
        !required,
        "PostgreSQL at {url} is required (CI or ONBOARD_REQUIRE_PG is set) but unreachable: {error}"
    );
    static NOTICE: Once = Once::new();
    NOTICE.call_once(|| {
        // Straight to the process's stderr: the test harness captures `eprintln!`.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n********************************************************************\n\
             *  PostgreSQL at {url} is unreachable ({error}).\n\
             *  These tests ran on SQLite ONLY. Set ONBOARD_TEST_PG_URL to a\n\
             *  server, or CI / ONBOARD_REQUIRE_PG to make this an error.\n\
             ********************************************************************\n"
        );
    });
    None
}

#[cfg(test)]
mod tests {
    use super::database_url;

    #[test]
    fn the_database_is_swapped_in_the_server_url() {
        assert_eq!(
            database_url("postgres://root@127.0.0.1:5432/postgres", "t1"),
            "postgres://root@127.0.0.1:5432/t1"
        );
        assert_eq!(
            database_url("postgres://u:p@db:5/x?sslmode=disable", "t1"),
            "postgres://u:p@db:5/t1?sslmode=disable"
        );
        assert_eq!(database_url("postgres://db", "t1"), "postgres://db/t1");
    }
}
