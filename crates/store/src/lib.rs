//! Persistence for callforce: workspaces, API keys, the durable write queue, dead letters and the
//! tamper-evident audit log, on SQLite (the embedded default) or PostgreSQL (several instances
//! sharing one database).
//!
//! Modules:
//! - [`keys`]: workspaces and API keys (stored as SHA-256 hashes, shown once).
//! - [`connections`]: connections to orgs (secrets sealed by the caller's vault), one-time
//!   tokens of the connect flow, and the vault's key checks.
//! - [`queue`]: the durable write queue (jobs with leases), connection pauses and dead letters.
//! - `pending`: [`Store::has_unfinished`] and [`Store::release`], for the write pipeline.
//! - [`audit`]: the append-only, keyed, hash-chained audit log and its verifier (against the
//!   database's own head row, and against checkpoints kept outside it).
//! - [`call_writes`]: the writes of each call in the duplicate window (a repeat answers the
//!   first one's result), shared by the instances on one database.
//! - [`alerts`]: the alert outbox (a dead letter, a connection needing re-authorisation), written
//!   in the transaction of the event and delivered by the service's webhook sender.
//! - [`definitions`]: agents and custom actions per workspace (JSON definitions).
//! - [`describes`]: the describes each connection's non-blocking writes are checked against.
//! - [`intents`]: each workspace's intent map and the report of its last check.
//! - [`operations`]: the operations log (every action run in a call, for the console), each
//!   workspace's sensitive fields, the retention.
//! - [`settings`]: each workspace's own settings (its alert webhook, its retention) and the
//!   retention sweep of its operations log and resolved dead letters.
//! - [`refresh_lock`]: one token refresh at a time per connection across the instances sharing
//!   a PostgreSQL database (an advisory lock held in a transaction).
//!
//! One [`Store`] handle fronts either backend; every operation is written once and runs on both
//! (the SQL uses `$n` placeholders, which SQLite accepts too), with per-backend statements only
//! where the engines differ (`FOR UPDATE SKIP LOCKED`, row locks on the audit chain head).
//! Migrations live in `migrations/sqlite` and `migrations/postgres` and run on open.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use callforce_store::{NewJob, Store};
//! use chrono::{TimeDelta, Utc};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open_sqlite(&dir.path().join("callforce.db")).await?;
//! let now = Utc::now();
//! let ws = store.create_workspace("acme", now).await?;
//! let job = NewJob {
//!     workspace: ws.id,
//!     connection_id: "conn-1".into(),
//!     idempotency_key: "call-42/log_call/0".into(),
//!     ordering_key: "Task:call-42".into(),
//!     kind: "create".into(),
//!     payload: r#"{"Subject":"Call"}"#.into(),
//!     call_id: Some("call-42".into()),
//!     agent: None,
//!     run_at: now,
//! };
//! let queued = store.enqueue(&job, now).await?; // committed when this returns
//! let leased = store.lease("worker-1", now, TimeDelta::seconds(30), 10).await?;
//! assert_eq!(leased[0].id, queued.id);
//! store.complete(queued.id, "worker-1", now, Some(r#"{"id":"00T000000000001AAA"}"#)).await?;
//! # Ok(()) }
//! ```
//!
//! The design decisions a newcomer must know:
//! - **Time is passed in.** Every operation that depends on the clock takes `now`; nothing here
//!   reads the system clock, so schedules and lease expiry are tested without sleeping. Times are
//!   stored as Unix milliseconds (UTC) on both backends.
//! - **Per-record order.** A job is leasable only when no earlier job (lower id) with the same
//!   workspace and ordering key is still unfinished (`queued` or `leased`). So at most one job per
//!   ordering key is ever leased, and a later update never overtakes an earlier one. Dead jobs
//!   count as finished (a dead letter does not block its record forever); replaying one requeues
//!   the original job row, so later unfinished jobs for that record wait behind it again.
//! - **Audit chain.** Each workspace has its own chain: `hash = HMAC-SHA256(key,
//!   "callforce.audit.v2\0" || key version || prev_hash || canonical entry bytes)` with the
//!   [`AuditKeys`] the caller passes in ([`Store::with_audit_keys`]; the store never sees the
//!   vault), the key's version stored in the entry; entries written without a key (before keys
//!   existed) are `SHA-256("callforce.audit.v1\0" || prev_hash || canonical entry bytes)` and
//!   verify as they are. The first `prev_hash` is 32 zero bytes; see [`audit::entry_hash`] for
//!   the exact byte layout. A chain-head row per workspace serialises appenders and lets the
//!   verifier catch a truncated tail (but it is in the same database: a checkpoint outside it,
//!   [`Store::verify_audit_against`], catches a tail deleted with its head moved back).
//! - **SQLite** runs in WAL mode with `synchronous=NORMAL` and a 5 s `busy_timeout`, through a
//!   single connection (one writer); write transactions begin `IMMEDIATE`, so another process
//!   on the same file (the CLI beside `serve`) waits its turn instead of failing. A commit survives a process crash; the last commits before
//!   an operating-system crash or power loss may be rolled back (the database stays consistent).

pub mod alerts;
pub mod audit;
pub mod call_writes;
pub mod connections;
pub mod definitions;
pub mod describes;
pub mod intents;
pub mod keys;
pub mod operations;
mod pending;
pub mod queue;
pub mod refresh_lock;
pub mod sessions;
pub mod settings;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use alerts::{Alert, AlertId, AlertStatus, NewAlert};
pub use audit::{
    AuditEntry, AuditFilter, AuditHead, AuditKeys, BreakReason, ChainBreak, Checkpoint,
    NewAuditEntry, Verdict,
};
pub use call_writes::{CallWrite, Claimed, WriteTarget};
pub use connections::{
    ConnectionStatus, OneTimeKind, OneTimeToken, SealedValue, StoredConnection, Taken,
};
pub use definitions::{Definition, DefinitionKind};
pub use describes::StoredDescribe;
pub use intents::StoredIntentMap;
pub use keys::{ApiKey, ApiKeyId, CreatedApiKey, Workspace, WorkspaceId};
pub use operations::{
    ActivityBucket, CALLER_LOOKUP, CallCursor, CallFilter, CallSummary, NewOperation, Operation,
    OperationId,
};
pub use queue::{
    AttemptError, Completion, DeadLetter, DeadLetterFilter, DeadLetterId, DeadLetterStatus,
    Enqueued, Job, JobCounts, JobId, JobStatus, NewJob,
};
pub use refresh_lock::RefreshLock;
pub use sessions::ConsoleSession;
pub use settings::{Expired, WorkspaceSettings};

/// Runs `$body` with `$pool` bound to the backend's pool; the body is compiled once per backend.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.inner {
            $crate::Inner::Sqlite($pool) => $body,
            $crate::Inner::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Errors of the store. Their text is safe to log; none of it is meant for API clients.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database failed (connection, constraint, I/O). The source holds the detail for logs.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// Running the migrations failed.
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The database URL is neither `sqlite:` nor `postgres:`/`postgresql:`.
    #[error("unsupported database URL scheme (expected sqlite: or postgres:)")]
    UnsupportedUrl,
    /// No such row in this workspace.
    #[error("not found")]
    NotFound,
    /// The job is not leased by this owner any more (its lease expired and another worker took
    /// it, or it already finished).
    #[error("the job is not leased by this owner")]
    LeaseLost,
    /// The row is not in a state that allows the operation (for example replaying a dead letter
    /// that was already replayed).
    #[error("invalid state: {0}")]
    InvalidState(&'static str),
    /// A payload or request/response text is not valid JSON.
    #[error("not valid JSON: {0}")]
    InvalidJson(&'static str),
    /// A stored value could not be decoded (unknown status, time out of range, bad JSON).
    #[error("corrupt stored value: {0}")]
    Corrupt(&'static str),
    /// The database file could not be created.
    #[error("creating the database file failed")]
    Io(#[source] std::io::Error),
    /// The database has a vault key (or the chain holds keyed entries) and this store has no
    /// audit key: an unkeyed entry could be forged by anyone who can write the database. Open
    /// the store with the vault's master key.
    #[error(
        "the audit log is keyed: appending to it needs the vault's master key (the data directory's master.key or CALLFORCE_MASTER_KEY)"
    )]
    AuditKeyRequired,
    /// The vault's sealed values changed while a key rotation was being prepared.
    #[error("the vault's sealed values changed during the key rotation: run it again")]
    SealedValuesChanged,
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Database(e)
    }
}

/// The result type of the store.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, embedded.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

#[derive(Clone, Debug)]
pub(crate) enum Inner {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The store handle: cheap to clone (it holds a connection pool and the audit keys).
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) inner: Inner,
    /// The keys audit entries are keyed and verified with (none by default).
    pub(crate) audit_keys: std::sync::Arc<AuditKeys>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Opens the database named by `url` (`sqlite:path`, `postgres://...`) and migrates it.
    ///
    /// # Errors
    /// [`Error::UnsupportedUrl`] for another scheme; database and migration errors.
    pub async fn open(url: &str) -> Result<Store> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Store::open_sqlite(Path::new(path)).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)?;
            Store::connect_postgres(opts, 16).await
        } else {
            Err(Error::UnsupportedUrl)
        }
    }

    /// Opens (creating it if missing) the SQLite database at `path` and migrates it.
    ///
    /// WAL journal, `synchronous=NORMAL`, `busy_timeout` 5 s, foreign keys on, one connection.
    /// A new database file is created readable by its owner only (0600, whatever the umask);
    /// SQLite gives its `-wal` and `-shm` files the database file's mode.
    ///
    /// # Errors
    /// Database and migration errors; [`Error::Io`] when the file cannot be created.
    pub async fn open_sqlite(path: &Path) -> Result<Store> {
        create_private(path).map_err(Error::Io)?;
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        // NB: one connection is the single writer SQLite wants; several would only queue on its
        // write lock (and deferred transactions upgrading to writes can fail with SQLITE_BUSY).
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await?;
        SQLITE_MIGRATIONS.run(&pool).await.map_err(Error::Migrate)?;
        Ok(Store {
            inner: Inner::Sqlite(pool),
            audit_keys: Default::default(),
        })
    }

    /// Connects to PostgreSQL with up to `max_connections` connections and migrates it.
    ///
    /// # Errors
    /// Database and migration errors.
    pub async fn connect_postgres(opts: PgConnectOptions, max_connections: u32) -> Result<Store> {
        // One connection first, so a database that refuses or does not answer is reported at
        // once with its cause, instead of after the pool's 30 s wait as "pool timed out".
        let probe = tokio::time::timeout(
            Duration::from_secs(10),
            sqlx::Connection::connect_with(&opts),
        )
        .await
        .map_err(|_| {
            Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the database did not answer within 10 s",
            ))
        })?;
        let conn: sqlx::PgConnection = probe?;
        sqlx::Connection::close(conn).await?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .connect_with(opts)
            .await?;
        POSTGRES_MIGRATIONS
            .run(&pool)
            .await
            .map_err(Error::Migrate)?;
        Ok(Store {
            inner: Inner::Postgres(pool),
            audit_keys: Default::default(),
        })
    }

    /// This store with `keys`: new audit entries are keyed with the current one, and the
    /// verifier checks the entries of every version held. Clones made after this share them.
    #[must_use]
    pub fn with_audit_keys(mut self, keys: AuditKeys) -> Store {
        self.audit_keys = std::sync::Arc::new(keys);
        self
    }

    /// The audit keys this store holds.
    pub fn audit_keys(&self) -> &AuditKeys {
        &self.audit_keys
    }

    /// Which backend this store runs on.
    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite pool, for tooling and tests (`None` on PostgreSQL).
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.inner {
            Inner::Sqlite(p) => Some(p),
            Inner::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool, for tooling and tests (`None` on SQLite).
    pub fn pg_pool(&self) -> Option<&PgPool> {
        match &self.inner {
            Inner::Postgres(p) => Some(p),
            Inner::Sqlite(_) => None,
        }
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}

/// Starts a transaction that will write.
pub(crate) trait WritePool {
    /// The backend.
    type Db: sqlx::Database;
    /// Begins a write transaction.
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, Self::Db>>;
}

impl WritePool for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        // NB: IMMEDIATE takes the write lock up front (waiting up to busy_timeout). A deferred
        // transaction that reads and then writes fails at once with SQLITE_BUSY when another
        // process (say the CLI on the same file) committed in between.
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl WritePool for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.begin().await
    }
}

/// A time as stored: Unix milliseconds.
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A stored Unix-milliseconds value back to a time.
pub(crate) fn from_ms(v: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(v).ok_or(Error::Corrupt("time out of range"))
}

/// An optional stored time back to a time.
pub(crate) fn from_ms_opt(v: Option<i64>) -> Result<Option<DateTime<Utc>>> {
    v.map(from_ms).transpose()
}

/// Creates `path` as an empty file with mode 0600 when it does not exist (an existing file is
/// left as it is; the service checks its mode at start).
fn create_private(path: &Path) -> std::io::Result<()> {
    // NB: `:memory:` names no file (SQLite keeps that database in memory).
    if path.as_os_str() == ":memory:" {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}
