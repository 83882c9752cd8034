//! `callforce-testkit`: what the crates' tests share (a dev-dependency only, never published).
//!
//! [`PgSchema`] gives a test its own PostgreSQL schema in the database of `DATABASE_URL` and
//! drops it when the guard is dropped, so a test cleans up whether it passes, fails or panics.
//! Without `DATABASE_URL` it prints `SKIPPED: ...` and the test returns early: a test that needs
//! PostgreSQL never skips silently.
//!
//! The one design decision: the schema is dropped from `Drop`, which cannot `.await` and may
//! run on a runtime's thread, so the drop runs on a fresh thread with its own current-thread
//! runtime and a connection of its own. Whatever still works in the schema when it goes (a
//! panicked test's open transaction, a service's workers that outlive the test until its runtime
//! ends) is waited for briefly, then the schema is renamed aside and those sessions are ended;
//! nothing outside the schema the guard created is ever touched.

use rand::RngCore;
use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The variable naming the PostgreSQL database the tests use.
const DATABASE_URL: &str = "DATABASE_URL";

/// How long the drop waits for a lock in the schema before ending the sessions holding one.
const LOCK_WAIT: &str = "2s";

/// How many times the drop ends lock holders and tries again before giving up.
const DROP_ATTEMPTS: u32 = 3;

/// A fresh schema `t_<16 hex digits>` in the database of `DATABASE_URL`, dropped (with
/// everything in it) when this guard is dropped.
#[derive(Debug)]
pub struct PgSchema {
    base: String,
    name: String,
}

impl PgSchema {
    /// Creates a schema for the test `test`, or returns `None` after printing (to stdout and
    /// stderr, so a captured run shows it either way) that `test` is skipped because
    /// `DATABASE_URL` is not set.
    ///
    /// # Errors
    /// The database cannot be reached or the schema cannot be created.
    pub async fn for_test(test: &str) -> Result<Option<PgSchema>, sqlx::Error> {
        let Ok(base) = std::env::var(DATABASE_URL) else {
            println!("SKIPPED: {test} on PostgreSQL: {DATABASE_URL} not set");
            eprintln!("SKIPPED: {test} on PostgreSQL: {DATABASE_URL} not set");
            return Ok(None);
        };
        let mut raw = [0u8; 8];
        rand::rng().fill_bytes(&mut raw);
        let name = format!(
            "t_{}",
            raw.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let mut conn = PgConnection::connect(&base).await?;
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        Ok(Some(PgSchema { base, name }))
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `DATABASE_URL` with this schema as the `search_path` (and the `application_name`, so
    /// the drop can tell them) of every session opened with it.
    pub fn url(&self) -> String {
        let (base, name) = (&self.base, &self.name);
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}options=-c%20search_path%3D{name}&application_name={name}")
    }
}

impl Drop for PgSchema {
    /// Drops the schema.
    ///
    /// # Panics
    /// When the schema cannot be dropped, unless the thread is already panicking (then it says
    /// so on stderr): a schema left behind is a failure to see, not to hide.
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(drop_schema(&base, &name))
        })
        .join();
        let problem = match dropped {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(_) => "the dropping thread panicked".to_owned(),
        };
        let message = format!("could not drop test schema {}: {problem}", self.name);
        if std::thread::panicking() {
            eprintln!("{message}");
        } else {
            panic!("{message}");
        }
    }
}

/// Drops schema `name` of the database at `base`. When sessions still at work in it stand in
/// the way, it is first renamed (so no new session finds its tables through `search_path`) and
/// those sessions are ended: the ones opened with [`PgSchema::url`] (known by their
/// `application_name`) and any other holding a lock on its tables.
async fn drop_schema(base: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut conn = PgConnection::connect(base).await?;
    sqlx::query(&format!("SET lock_timeout = '{LOCK_WAIT}'"))
        .execute(&mut conn)
        .await?;
    let mut current = name.to_owned();
    let mut attempt = 1;
    loop {
        let dropped = sqlx::query(&format!("DROP SCHEMA IF EXISTS {current} CASCADE"))
            .execute(&mut conn)
            .await;
        match dropped {
            Ok(_) => break,
            Err(sqlx::Error::Database(e))
                if matches!(e.code().as_deref(), Some("55P03" | "40P01"))
                    && attempt < DROP_ATTEMPTS =>
            {
                // 55P03 lock_not_available, 40P01 deadlock_detected: the test is over, so
                // what still works here is its own (a panicked test's transaction, a service's
                // workers that outlive it until the runtime ends, a pool that reconnects).
                if current == name {
                    let aside = format!("{name}_dropped");
                    sqlx::query(&format!("ALTER SCHEMA {name} RENAME TO {aside}"))
                        .execute(&mut conn)
                        .await?;
                    current = aside;
                }
                sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM ( \
                       SELECT pid FROM pg_stat_activity WHERE application_name = $1 \
                       UNION \
                       SELECT l.pid FROM pg_locks l \
                       JOIN pg_class c ON c.oid = l.relation \
                       JOIN pg_namespace n ON n.oid = c.relnamespace \
                       WHERE n.nspname = $2 \
                     ) s WHERE pid <> pg_backend_pid()",
                )
                .bind(name)
                .bind(&current)
                .fetch_all(&mut conn)
                .await?;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
    conn.close().await
}

#[cfg(test)]
mod postgres {
    //! Every test here needs PostgreSQL (the module's name says so to the test command's filter).

    use super::*;

    /// Whether schema `name` exists in the database of `DATABASE_URL`.
    async fn exists(name: &str) -> bool {
        let base = std::env::var(DATABASE_URL).expect("DATABASE_URL");
        let mut conn = PgConnection::connect(&base).await.expect("connect");
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM pg_namespace WHERE nspname = $1")
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .expect("count");
        n == 1
    }

    #[tokio::test]
    async fn the_schema_is_the_search_path_and_goes_when_the_guard_drops() {
        let Some(schema) = PgSchema::for_test("guard drop").await.expect("schema") else {
            return;
        };
        let name = schema.name().to_owned();
        assert!(name.starts_with("t_") && name.len() == 18, "{name}");
        let mut conn = PgConnection::connect(&schema.url()).await.expect("scoped");
        let (current,): (String,) = sqlx::query_as("SELECT current_schema()")
            .fetch_one(&mut conn)
            .await
            .expect("current schema");
        assert_eq!(current, name);
        sqlx::query("CREATE TABLE t (id INT)")
            .execute(&mut conn)
            .await
            .expect("a table in the schema");
        conn.close().await.expect("close");
        assert!(exists(&name).await);
        drop(schema);
        assert!(!exists(&name).await, "{name} is dropped with its table");
    }

    #[tokio::test]
    async fn a_panicking_test_drops_its_schema() {
        if std::env::var(DATABASE_URL).is_err() {
            println!("SKIPPED: panicking test on PostgreSQL: DATABASE_URL not set");
            return;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let test = tokio::spawn(async move {
            let schema = PgSchema::for_test("panics").await.expect("schema");
            let schema = schema.expect("DATABASE_URL is set");
            tx.send(schema.name().to_owned()).expect("send");
            panic!("the test fails");
        });
        assert!(test.await.expect_err("it panicked").is_panic());
        let name = rx.await.expect("the schema's name");
        assert!(!exists(&name).await, "{name} is dropped on unwind");
    }

    #[tokio::test]
    async fn a_session_still_holding_locks_does_not_keep_the_schema() {
        let Some(schema) = PgSchema::for_test("locks held").await.expect("schema") else {
            return;
        };
        let name = schema.name().to_owned();
        let mut held = PgConnection::connect(&schema.url()).await.expect("scoped");
        sqlx::query("CREATE TABLE t (id INT)")
            .execute(&mut held)
            .await
            .expect("table");
        // Left open, as by a test that panicked mid-transaction: it holds an ACCESS EXCLUSIVE
        // lock on `t` until its session ends.
        sqlx::query("BEGIN")
            .execute(&mut held)
            .await
            .expect("begin");
        sqlx::query("LOCK TABLE t")
            .execute(&mut held)
            .await
            .expect("lock");
        drop(schema);
        assert!(!exists(&name).await, "{name} is dropped");
        assert!(
            sqlx::query("SELECT 1").execute(&mut held).await.is_err(),
            "the session holding the lock was ended"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_service_still_at_work_in_the_schema_does_not_keep_it() {
        let Some(schema) = PgSchema::for_test("service at work").await.expect("schema") else {
            return;
        };
        let name = schema.name().to_owned();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(4)
            .connect(&schema.url())
            .await
            .expect("pool");
        sqlx::raw_sql("CREATE TABLE a (n INT); CREATE TABLE b (n INT)")
            .execute(&pool)
            .await
            .expect("tables");
        // Four sessions that keep taking locks on both tables, in both orders, reconnecting
        // when ended, as the workers of a service still running would.
        let work = (0..4).map(|i| {
            let pool = pool.clone();
            let order = if i % 2 == 0 { ["a", "b"] } else { ["b", "a"] };
            tokio::spawn(async move {
                loop {
                    let Ok(mut tx) = pool.begin().await else {
                        tokio::task::yield_now().await;
                        continue;
                    };
                    for table in order {
                        let _ = sqlx::query(&format!("INSERT INTO {table} VALUES (1)"))
                            .execute(&mut *tx)
                            .await;
                    }
                    let _ = tx.commit().await;
                }
            })
        });
        let work: Vec<_> = work.collect();
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        drop(schema);
        assert!(!exists(&name).await, "{name} is dropped");
        assert!(!exists(&format!("{name}_dropped")).await, "nor left aside");
        for w in work {
            w.abort();
        }
    }
}
