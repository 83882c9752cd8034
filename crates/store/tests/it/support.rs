//! Test databases: a temporary SQLite file, or a fresh PostgreSQL schema per test.

use std::str::FromStr;

use anyhow::Result;
use callforce_store::{Backend, Store};
use callforce_testkit::PgSchema;
use chrono::{DateTime, TimeZone, Utc};
use sqlx::postgres::PgConnectOptions;

/// A store on a database made for one test, removed when it is dropped (pass, fail or panic).
pub struct Db {
    pub store: Store,
    /// The SQLite file's directory (kept alive for the test).
    pub dir: Option<tempfile::TempDir>,
    /// The PostgreSQL schema, dropped with this.
    pg: Option<PgSchema>,
}

impl Db {
    pub async fn sqlite() -> Result<Db> {
        let dir = tempfile::tempdir()?;
        let store = Store::open_sqlite(&dir.path().join("store.db")).await?;
        Ok(Db {
            store,
            dir: Some(dir),
            pg: None,
        })
    }

    /// `None` (after printing why) when `DATABASE_URL` is not set.
    pub async fn postgres(test: &str) -> Result<Option<Db>> {
        let Some(schema) = PgSchema::for_test(test).await? else {
            return Ok(None);
        };
        let store = Store::connect_postgres(PgConnectOptions::from_str(&schema.url())?, 8).await?;
        Ok(Some(Db {
            store,
            dir: None,
            pg: Some(schema),
        }))
    }

    /// A second, independent store on the same database: another process or instance.
    pub async fn second_store(&self) -> Result<Store> {
        Ok(match (&self.pg, &self.dir) {
            (Some(schema), _) => {
                Store::connect_postgres(PgConnectOptions::from_str(&schema.url())?, 8).await?
            }
            (None, Some(dir)) => Store::open_sqlite(&dir.path().join("store.db")).await?,
            (None, None) => anyhow::bail!("no database"),
        })
    }

    /// Runs raw SQL against the test database (to tamper with it).
    pub async fn exec(&self, sql: &str) -> Result<u64> {
        Ok(match self.store.backend() {
            Backend::Sqlite => {
                let pool = self.store.sqlite_pool().expect("sqlite");
                sqlx::query(sql).execute(pool).await?.rows_affected()
            }
            Backend::Postgres => {
                let pool = self.store.pg_pool().expect("postgres");
                sqlx::query(sql).execute(pool).await?.rows_affected()
            }
        })
    }

    /// Closes the store's connections, then removes the database. A test that panics never
    /// gets here; its database still goes when `Db` is dropped.
    pub async fn cleanup(self) {
        self.store.close().await;
    }
}

/// A fixed instant plus `secs` seconds: tests own the clock.
pub fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0)
        .single()
        .expect("valid time")
}

/// Declares `mod $name { sqlite, postgres }` running `$name(&Db)` on each backend.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() -> anyhow::Result<()> {
                let db = $crate::support::Db::sqlite().await?;
                let r = super::$name(&db).await;
                db.cleanup().await;
                r
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() -> anyhow::Result<()> {
                let Some(db) = $crate::support::Db::postgres(stringify!($name)).await? else {
                    return Ok(());
                };
                let r = super::$name(&db).await;
                db.cleanup().await;
                r
            }
        }
    };
}
