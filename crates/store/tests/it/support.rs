//! Test databases: a temporary SQLite file, or a fresh PostgreSQL schema per test.

use std::str::FromStr;

use anyhow::Result;
use callforce_store::{Backend, Store};
use chrono::{DateTime, TimeZone, Utc};
use rand::RngCore;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};

/// A store on a database made for one test, removed by [`Db::cleanup`].
pub struct Db {
    pub store: Store,
    /// The SQLite file's directory (kept alive for the test).
    pub dir: Option<tempfile::TempDir>,
    /// The PostgreSQL schema and the URL it lives in.
    pg: Option<(String, String)>,
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
        let Ok(url) = std::env::var("DATABASE_URL") else {
            println!("SKIPPED: {test} on PostgreSQL: DATABASE_URL not set");
            eprintln!("SKIPPED: {test} on PostgreSQL: DATABASE_URL not set");
            return Ok(None);
        };
        let mut raw = [0u8; 8];
        rand::rng().fill_bytes(&mut raw);
        let schema = format!(
            "t_{}",
            raw.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let mut conn = PgConnection::connect(&url).await?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let opts = PgConnectOptions::from_str(&url)?.options([("search_path", schema.as_str())]);
        let store = Store::connect_postgres(opts, 8).await?;
        Ok(Some(Db {
            store,
            dir: None,
            pg: Some((url, schema)),
        }))
    }

    /// A second, independent store on the same database: another process or instance.
    pub async fn second_store(&self) -> Result<Store> {
        Ok(match (&self.pg, &self.dir) {
            (Some((url, schema)), _) => {
                let opts =
                    PgConnectOptions::from_str(url)?.options([("search_path", schema.as_str())]);
                Store::connect_postgres(opts, 8).await?
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

    pub async fn cleanup(self) -> Result<()> {
        self.store.close().await;
        if let Some((url, schema)) = self.pg {
            let mut conn = PgConnection::connect(&url).await?;
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut conn)
                .await?;
            conn.close().await?;
        }
        Ok(())
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
                db.cleanup().await?;
                r
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() -> anyhow::Result<()> {
                let Some(db) = $crate::support::Db::postgres(stringify!($name)).await? else {
                    return Ok(());
                };
                let r = super::$name(&db).await;
                db.cleanup().await?;
                r
            }
        }
    };
}
