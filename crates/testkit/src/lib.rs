//! `callforce-testkit`: what the crates' tests share (a dev-dependency only, never published).
//!
//! [`PgSchema`] gives a test its own PostgreSQL schema in the database of `DATABASE_URL` and
//! drops it when the guard is dropped, so a test cleans up whether it passes, fails or panics.
//! Without `DATABASE_URL` it prints `SKIPPED: ...` and the test returns early: a test that needs
//! PostgreSQL never skips silently.
//!
//! The one design decision: the schema is dropped from `Drop`, which cannot `.await` and may
//! run on a runtime's thread, so the drop runs on a fresh thread with its own current-thread
//! runtime and a connection of its own. Whatever still holds locks in the schema when it goes
//! (a panicked test's open transaction, a killed child's session) is waited for briefly and then
//! ended; nothing outside the schema the guard created is ever touched.

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

    /// `DATABASE_URL` with this schema as the `search_path` of every session opened with it.
    pub fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-c%20search_path%3D{}", self.base, self.name)
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

/// Drops schema `name` of the database at `base`, ending the sessions that keep holding locks
/// on its objects.
async fn drop_schema(base: &str, name: &str) -> Result<(), sqlx::Error> {
    let mut conn = PgConnection::connect(base).await?;
    sqlx::query(&format!("SET lock_timeout = '{LOCK_WAIT}'"))
        .execute(&mut conn)
        .await?;
    let mut attempt = 1;
    loop {
        let dropped = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
            .execute(&mut conn)
            .await;
        match dropped {
            Ok(_) => break,
            Err(sqlx::Error::Database(e))
                if matches!(e.code().as_deref(), Some("55P03" | "40P01"))
                    && attempt < DROP_ATTEMPTS =>
            {
                // 55P03 lock_not_available, 40P01 deadlock_detected: a session still works in
                // this schema (the test is over, so it is one of the test's own, e.g. a
                // service's worker that outlives it until its runtime ends).
                sqlx::query(
                    "SELECT pg_terminate_backend(l.pid) FROM pg_locks l \
                     JOIN pg_class c ON c.oid = l.relation \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = $1 AND l.pid <> pg_backend_pid() \
                     GROUP BY l.pid",
                )
                .bind(name)
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
mod tests {
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
}
