//! The durable write queue: jobs with leases, connection pauses, and dead letters.
//!
//! A job moves `queued -> leased -> done`, or back to `queued` by [`Store::retry`], or to `dead`
//! by [`Store::dead`] (which opens a [`DeadLetter`]). A lease whose `lease_until` has passed is
//! void: the job is leasable again, and the old owner's `complete`/`retry`/`dead` fail with
//! [`Error::LeaseLost`] once another worker has taken it.
//!
//! Leasing rule (per-record order): a job is due when `next_run_at <= now`, its connection is not
//! paused (and, with [`Store::lease_ready`], is one of the connections the caller holds ready), no earlier job (lower id) with the same workspace and ordering key is `queued` or
//! `leased`, and no other job with that ordering key holds a live lease. On PostgreSQL the rows
//! are taken with `FOR UPDATE SKIP LOCKED`, so several instances can lease from one queue.
//!
//! Order is the order of job ids: for enqueues of one ordering key made one after another (each
//! awaited), that is the order they were made in; concurrent enqueues of one key have no defined
//! order between them.
//!
//! Worker operations (`lease`, `complete`, `retry`, `dead`) span workspaces: a worker serves the
//! whole queue and is authorised by its lease, not by a workspace. Everything else is scoped by
//! workspace.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::{NewAuditEntry, append_all_in_tx, append_in_tx, check_entry};
use crate::keys::WorkspaceId;
use crate::{Backend, Error, Result, Store, from_ms, from_ms_opt, ms, with_pool};

/// The id of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub i64);

/// The id of a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeadLetterId(pub i64);

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for `next_run_at` and a worker.
    Queued,
    /// Held by a worker until `lease_until`.
    Leased,
    /// Finished successfully.
    Done,
    /// Failed for good; a dead letter holds it.
    Dead,
}

impl JobStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Leased => "leased",
            JobStatus::Done => "done",
            JobStatus::Dead => "dead",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "queued" => JobStatus::Queued,
            "leased" => JobStatus::Leased,
            "done" => JobStatus::Done,
            "dead" => JobStatus::Dead,
            _ => return Err(Error::Corrupt("job status")),
        })
    }
}

/// One failed attempt of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptError {
    /// The attempt number, from 1.
    pub attempt: u32,
    /// When the failure was recorded.
    pub at: DateTime<Utc>,
    /// What went wrong (as the worker described it).
    pub error: String,
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The workspace that owns it.
    pub workspace: WorkspaceId,
    /// The org connection it writes to.
    pub connection_id: String,
    /// Unique per workspace: enqueueing the same key again returns the existing job.
    pub idempotency_key: String,
    /// Jobs with the same ordering key run one at a time, in id order (e.g. `Contact:ext-42`).
    pub ordering_key: String,
    /// What the job does, for the worker (e.g. `create`, `composite`).
    pub kind: String,
    /// The request, as JSON text.
    pub payload: String,
    /// The call it came from.
    pub call_id: Option<String>,
    /// The agent that asked for it.
    pub agent: Option<String>,
    /// The earliest time it may run.
    pub run_at: DateTime<Utc>,
}

/// What [`Store::enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    /// The job's id (the existing job's when the idempotency key was known).
    pub id: JobId,
    /// `false` when a job with this idempotency key already existed and nothing was added.
    pub created: bool,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// The workspace that owns it.
    pub workspace: WorkspaceId,
    /// The org connection it writes to.
    pub connection_id: String,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// Its ordering key.
    pub ordering_key: String,
    /// Its kind.
    pub kind: String,
    /// Its payload (JSON text).
    pub payload: String,
    /// Its status.
    pub status: JobStatus,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The earliest time it may run (again).
    pub next_run_at: DateTime<Utc>,
    /// The worker holding it, while leased.
    pub lease_owner: Option<String>,
    /// When the lease ends, while leased.
    pub lease_until: Option<DateTime<Utc>>,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// Every failed attempt, oldest first.
    pub errors: Vec<AttemptError>,
    /// The result recorded by [`Store::complete`] (JSON text).
    pub result: Option<String>,
    /// The call it came from.
    pub call_id: Option<String>,
    /// The agent that asked for it.
    pub agent: Option<String>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Only on a job just leased from a worker whose lease ran out (it stopped, or was killed,
    /// without recording an outcome): when that worker leased it. Its write may have reached
    /// the org at any time since.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abandoned_lease_from: Option<DateTime<Utc>>,
}

/// A leased job that succeeded, for [`Store::complete_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The job.
    pub id: JobId,
    /// Its workspace (whose audit chain gets the entry).
    pub workspace: WorkspaceId,
    /// When the attempt's answer came.
    pub at: DateTime<Utc>,
    /// The result to keep (JSON text).
    pub result: Option<String>,
    /// The attempt's audit entry.
    pub audit: NewAuditEntry,
}

/// How many jobs are in each unfinished or failed state (see [`Store::count_jobs`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct JobCounts {
    /// Waiting to run (or to run again).
    pub queued: u64,
    /// Held by a worker.
    pub leased: u64,
    /// Failed for good (their dead letters may since be replayed: those are queued again).
    pub dead: u64,
}

impl JobCounts {
    /// The counts of `(status, count)` rows.
    fn from_rows(rows: Vec<(String, i64)>) -> Result<Self> {
        let mut counts = Self::default();
        for (status, n) in rows {
            let n = u64::try_from(n).map_err(|_| Error::Corrupt("job count"))?;
            match JobStatus::parse(&status)? {
                JobStatus::Queued => counts.queued = n,
                JobStatus::Leased => counts.leased = n,
                JobStatus::Dead => counts.dead = n,
                JobStatus::Done => {}
            }
        }
        Ok(counts)
    }
}

/// Where a dead letter is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterStatus {
    /// Waiting for a person.
    Open,
    /// Replayed: its job is queued again.
    Replayed,
    /// Discarded: nothing more will happen.
    Discarded,
}

impl DeadLetterStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterStatus::Open => "open",
            DeadLetterStatus::Replayed => "replayed",
            DeadLetterStatus::Discarded => "discarded",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "open" => DeadLetterStatus::Open,
            "replayed" => DeadLetterStatus::Replayed,
            "discarded" => DeadLetterStatus::Discarded,
            _ => return Err(Error::Corrupt("dead letter status")),
        })
    }
}

/// A job that failed for good, with everything needed to fix and replay it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// Its id.
    pub id: DeadLetterId,
    /// The workspace that owns it.
    pub workspace: WorkspaceId,
    /// The job it came from (a replay requeues this job).
    pub job_id: JobId,
    /// The org connection.
    pub connection_id: String,
    /// The job's idempotency key (kept by a replay).
    pub idempotency_key: String,
    /// The job's ordering key.
    pub ordering_key: String,
    /// The job's kind.
    pub kind: String,
    /// The payload (JSON text); editable while open.
    pub payload: String,
    /// Every attempt's error, oldest first.
    pub errors: Vec<AttemptError>,
    /// How many attempts were made.
    pub attempts: u32,
    /// The call it came from.
    pub call_id: Option<String>,
    /// The agent that asked for it.
    pub agent: Option<String>,
    /// Open, replayed or discarded.
    pub status: DeadLetterStatus,
    /// When the job died.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Filters for [`Store::list_dead_letters`]; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterFilter {
    /// Only this connection's.
    pub connection_id: Option<String>,
    /// Only this call's.
    pub call_id: Option<String>,
    /// Only in this status.
    pub status: Option<DeadLetterStatus>,
    /// Only those whose payload is a JSON object with this `action` (the catalog action that made
    /// the write).
    pub action: Option<String>,
    /// At most this many (default 100).
    pub limit: Option<u32>,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: i64,
    workspace_id: i64,
    connection_id: String,
    idempotency_key: String,
    ordering_key: String,
    kind: String,
    payload: String,
    status: String,
    attempts: i64,
    next_run_at: i64,
    lease_owner: Option<String>,
    lease_until: Option<i64>,
    last_error: Option<String>,
    errors: String,
    result: Option<String>,
    call_id: Option<String>,
    agent: Option<String>,
    created_at: i64,
    updated_at: i64,
}

const JOB_COLUMNS: &str = "id, workspace_id, connection_id, idempotency_key, ordering_key, kind, \
    payload, status, attempts, next_run_at, lease_owner, lease_until, last_error, errors, result, \
    call_id, agent, created_at, updated_at";

fn parse_errors(s: &str) -> Result<Vec<AttemptError>> {
    serde_json::from_str(s).map_err(|_| Error::Corrupt("attempt errors"))
}

fn attempts(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::Corrupt("attempts"))
}

impl JobRow {
    fn into_job(self) -> Result<Job> {
        Ok(Job {
            id: JobId(self.id),
            workspace: WorkspaceId(self.workspace_id),
            connection_id: self.connection_id,
            idempotency_key: self.idempotency_key,
            ordering_key: self.ordering_key,
            kind: self.kind,
            payload: self.payload,
            status: JobStatus::parse(&self.status)?,
            attempts: attempts(self.attempts)?,
            next_run_at: from_ms(self.next_run_at)?,
            lease_owner: self.lease_owner,
            lease_until: from_ms_opt(self.lease_until)?,
            last_error: self.last_error,
            errors: parse_errors(&self.errors)?,
            result: self.result,
            call_id: self.call_id,
            agent: self.agent,
            created_at: from_ms(self.created_at)?,
            updated_at: from_ms(self.updated_at)?,
            abandoned_lease_from: None,
        })
    }
}

#[derive(sqlx::FromRow)]
struct DeadLetterRow {
    id: i64,
    workspace_id: i64,
    job_id: i64,
    connection_id: String,
    idempotency_key: String,
    ordering_key: String,
    kind: String,
    payload: String,
    errors: String,
    attempts: i64,
    call_id: Option<String>,
    agent: Option<String>,
    status: String,
    created_at: i64,
    updated_at: i64,
}

const DEAD_LETTER_COLUMNS: &str = "id, workspace_id, job_id, connection_id, idempotency_key, \
    ordering_key, kind, payload, errors, attempts, call_id, agent, status, created_at, updated_at";

impl DeadLetterRow {
    fn into_dead_letter(self) -> Result<DeadLetter> {
        Ok(DeadLetter {
            id: DeadLetterId(self.id),
            workspace: WorkspaceId(self.workspace_id),
            job_id: JobId(self.job_id),
            connection_id: self.connection_id,
            idempotency_key: self.idempotency_key,
            ordering_key: self.ordering_key,
            kind: self.kind,
            payload: self.payload,
            errors: parse_errors(&self.errors)?,
            attempts: attempts(self.attempts)?,
            call_id: self.call_id,
            agent: self.agent,
            status: DeadLetterStatus::parse(&self.status)?,
            created_at: from_ms(self.created_at)?,
            updated_at: from_ms(self.updated_at)?,
        })
    }
}

fn check_json(s: &str, what: &'static str) -> Result<()> {
    serde_json::from_str::<serde::de::IgnoredAny>(s)
        .map(|_| ())
        .map_err(|_| Error::InvalidJson(what))
}

/// The lease statement for `ready` connections (`$3`, `$4`... bound in pairs), or for every
/// connection not paused. One ready connection (the common case) is matched by equality, so the
/// `jobs_pending` index yields its jobs in due order and the scan stops at the limit; several
/// become one list of workspaces, one of connection ids and the exact pairs (one statement text
/// per count, so prepared statements are reused while the count is stable).
fn lease_select(backend: Backend, ready: Option<&[&(WorkspaceId, String)]>) -> String {
    let only = match ready {
        None => "AND NOT EXISTS (SELECT 1 FROM connection_pauses p \
                   WHERE p.workspace_id = j.workspace_id AND p.connection_id = j.connection_id \
                     AND p.paused_until > $1) "
            .to_owned(),
        Some([_]) => "AND j.workspace_id = $3 AND j.connection_id = $4 ".to_owned(),
        Some(r) => {
            let ws: Vec<String> = (0..r.len()).map(|i| format!("${}", 3 + 2 * i)).collect();
            let conns: Vec<String> = (0..r.len()).map(|i| format!("${}", 4 + 2 * i)).collect();
            let pairs: Vec<String> = ws
                .iter()
                .zip(&conns)
                .map(|(w, c)| format!("({w}, {c})"))
                .collect();
            format!(
                "AND j.workspace_id IN ({}) AND j.connection_id IN ({}) \
                 AND (j.workspace_id, j.connection_id) IN (VALUES {}) ",
                ws.join(", "),
                conns.join(", "),
                pairs.join(", ")
            )
        }
    };
    let base = LEASE_SELECT.replace("{only}", &only);
    match backend {
        Backend::Sqlite => base,
        Backend::Postgres => format!("{base} FOR UPDATE OF j SKIP LOCKED"),
    }
}

/// `count` numbered placeholders from `$first`: `$4, $5, $6`.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_fk_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_foreign_key_violation())
}

/// The due-job selection; `{only}` is the connection filter (the ready connections that are
/// not paused, or no paused one), and on PostgreSQL `FOR UPDATE OF j SKIP LOCKED` follows.
const LEASE_SELECT: &str = "SELECT j.id, j.status, j.updated_at FROM jobs j \
    WHERE j.status IN ('queued', 'leased') AND (j.status = 'queued' OR j.lease_until <= $1) \
      AND j.next_run_at <= $1 {only}\
      AND NOT EXISTS (SELECT 1 FROM jobs o \
            WHERE o.workspace_id = j.workspace_id AND o.ordering_key = j.ordering_key \
              AND o.id <> j.id \
              AND ((o.id < j.id AND o.status IN ('queued', 'leased')) \
                   OR (o.status = 'leased' AND o.lease_until > $1))) \
    ORDER BY j.next_run_at, j.id \
    LIMIT $2";

impl Store {
    /// Enqueues a job, committed before this returns. A job with the same idempotency key in
    /// the workspace is returned instead of adding a duplicate (`created: false`), whatever its
    /// status.
    ///
    /// # Errors
    /// [`Error::InvalidJson`] for a payload that is not JSON; [`Error::NotFound`] for an unknown
    /// workspace; database errors.
    pub async fn enqueue(&self, job: &NewJob, now: DateTime<Utc>) -> Result<Enqueued> {
        check_json(&job.payload, "payload")?;
        let inserted: Option<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as(
                "INSERT INTO jobs (workspace_id, connection_id, idempotency_key, ordering_key, kind, \
                   payload, status, attempts, next_run_at, call_id, agent, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'queued', 0, $7, $8, $9, $10, $10) \
                 ON CONFLICT (workspace_id, idempotency_key) DO NOTHING RETURNING id",
            )
            .bind(job.workspace.0)
            .bind(&job.connection_id)
            .bind(&job.idempotency_key)
            .bind(&job.ordering_key)
            .bind(&job.kind)
            .bind(&job.payload)
            .bind(ms(job.run_at))
            .bind(&job.call_id)
            .bind(&job.agent)
            .bind(ms(now))
            .fetch_optional(pool)
            .await
            .map_err(|e| if is_fk_violation(&e) { Error::NotFound } else { Error::Database(e) })?
        });
        if let Some((id,)) = inserted {
            return Ok(Enqueued {
                id: JobId(id),
                created: true,
            });
        }
        let existing: Option<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id FROM jobs WHERE workspace_id = $1 AND idempotency_key = $2")
                .bind(job.workspace.0)
                .bind(&job.idempotency_key)
                .fetch_optional(pool)
                .await?
        });
        // NB: the conflicting row is committed (the insert waited for it), so it is visible here.
        let (id,) = existing.ok_or(Error::Corrupt("idempotency conflict without a row"))?;
        Ok(Enqueued {
            id: JobId(id),
            created: false,
        })
    }

    /// The job with this id in this workspace.
    ///
    /// # Errors
    /// Database errors.
    pub async fn job(&self, workspace: WorkspaceId, id: JobId) -> Result<Option<Job>> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE workspace_id = $1 AND id = $2");
        let row: Option<JobRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(workspace.0).bind(id.0).fetch_optional(pool).await?
        });
        row.map(JobRow::into_job).transpose()
    }

    /// The workspace's jobs, by id, optionally only those in `status`, at most `limit`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_jobs(
        &self,
        workspace: WorkspaceId,
        status: Option<JobStatus>,
        limit: u32,
    ) -> Result<Vec<Job>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE workspace_id = $1 \
             AND ($2 IS NULL OR status = $2) ORDER BY id LIMIT $3"
        );
        let rows: Vec<JobRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql)
                .bind(workspace.0)
                .bind(status.map(JobStatus::as_str))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(JobRow::into_job).collect()
    }

    /// Leases up to `limit` due jobs to `owner` until `now + lease_for` (see the module doc for
    /// which jobs are due), whatever their connection. Jobs come back oldest due first. A worker
    /// that sends through connections uses [`Store::lease_ready`] instead.
    ///
    /// # Errors
    /// Database errors.
    pub async fn lease(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_for: TimeDelta,
        limit: u32,
    ) -> Result<Vec<Job>> {
        self.lease_impl(owner, now, lease_for, limit, None).await
    }

    /// As [`Store::lease`], but only jobs of the connections in `ready` (workspace and
    /// connection id: those the caller can send through now). Every other job is left as it
    /// is: not leased, no attempt counted. An empty `ready` leases nothing.
    ///
    /// # Errors
    /// Database errors.
    pub async fn lease_ready(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_for: TimeDelta,
        limit: u32,
        ready: &[(WorkspaceId, String)],
    ) -> Result<Vec<Job>> {
        if ready.is_empty() {
            return Ok(Vec::new());
        }
        self.lease_impl(owner, now, lease_for, limit, Some(ready))
            .await
    }

    async fn lease_impl(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_for: TimeDelta,
        limit: u32,
        ready: Option<&[(WorkspaceId, String)]>,
    ) -> Result<Vec<Job>> {
        let until = ms(now + lease_for);
        let (picked, mut rows): (Vec<(i64, String, i64)>, Vec<JobRow>) = with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            let paused: Vec<(i64, String)> = sqlx::query_as(
                "SELECT workspace_id, connection_id FROM connection_pauses WHERE paused_until > $1",
            )
            .bind(ms(now))
            .fetch_all(&mut *tx)
            .await?;
            let ready: Option<Vec<&(WorkspaceId, String)>> = ready.map(|r| {
                r.iter()
                    .filter(|(ws, c)| !paused.iter().any(|(pw, pc)| *pw == ws.0 && pc == c))
                    .collect()
            });
            if ready.as_ref().is_some_and(Vec::is_empty) {
                return Ok(Vec::new());
            }
            let select = lease_select(self.backend(), ready.as_deref());
            let mut q = sqlx::query_as(&select).bind(ms(now)).bind(i64::from(limit));
            for (ws, conn) in ready.unwrap_or_default() {
                q = q.bind(ws.0).bind(conn.as_str());
            }
            let picked: Vec<(i64, String, i64)> = q.fetch_all(&mut *tx).await?;
            if picked.is_empty() {
                return Ok(Vec::new());
            }
            let update = format!(
                "UPDATE jobs SET status = 'leased', lease_owner = $1, lease_until = $2, \
                   updated_at = $3 WHERE id IN ({}) RETURNING {JOB_COLUMNS}",
                placeholders(4, picked.len())
            );
            let mut u = sqlx::query_as(&update).bind(owner).bind(until).bind(ms(now));
            for (id, _, _) in &picked {
                u = u.bind(id);
            }
            let rows = u.fetch_all(&mut *tx).await?;
            tx.commit().await?;
            (picked, rows)
        });
        // NB: RETURNING has no defined order; the selection's is due time, then id.
        rows.sort_by_key(|r| (r.next_run_at, r.id));
        let abandoned: std::collections::HashMap<i64, i64> = picked
            .into_iter()
            .filter(|(_, status, _)| status == JobStatus::Leased.as_str())
            .map(|(id, _, leased_at)| (id, leased_at))
            .collect();
        rows.into_iter()
            .map(|row| {
                let from = abandoned.get(&row.id).copied();
                let mut job = row.into_job()?;
                job.abandoned_lease_from = from.map(from_ms).transpose()?;
                Ok(job)
            })
            .collect()
    }

    /// How many jobs of every workspace are `queued`, `leased` and `dead` (done jobs are not
    /// counted), for the metrics.
    ///
    /// # Errors
    /// Database errors.
    pub async fn count_jobs(&self) -> Result<JobCounts> {
        let rows: Vec<(String, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT status, COUNT(*) FROM jobs \
                 WHERE status IN ('queued', 'leased', 'dead') GROUP BY status",
            )
            .fetch_all(pool)
            .await?
        });
        JobCounts::from_rows(rows)
    }

    /// How many jobs of `workspace` are `queued`, `leased` and `dead`, and how many of its dead
    /// letters are open (for the console's overview).
    ///
    /// # Errors
    /// Database errors.
    pub async fn count_jobs_in(&self, workspace: WorkspaceId) -> Result<(JobCounts, u64)> {
        let (rows, open): (Vec<(String, i64)>, i64) = with_pool!(self, pool => {
            let rows = sqlx::query_as(
                "SELECT status, COUNT(*) FROM jobs WHERE workspace_id = $1 \
                 AND status IN ('queued', 'leased', 'dead') GROUP BY status",
            )
            .bind(workspace.0)
            .fetch_all(pool)
            .await?;
            let open: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM dead_letters WHERE workspace_id = $1 AND status = 'open'",
            )
            .bind(workspace.0)
            .fetch_one(pool)
            .await?;
            (rows, open)
        });
        let open = u64::try_from(open).map_err(|_| Error::Corrupt("dead letter count"))?;
        Ok((JobCounts::from_rows(rows)?, open))
    }

    /// Marks a leased job done, with an optional result (JSON text).
    ///
    /// # Errors
    /// [`Error::LeaseLost`] when `owner` does not hold the job; [`Error::InvalidJson`]; database
    /// errors.
    pub async fn complete(
        &self,
        id: JobId,
        owner: &str,
        now: DateTime<Utc>,
        result: Option<&str>,
    ) -> Result<()> {
        if let Some(r) = result {
            check_json(r, "result")?;
        }
        let n = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE jobs SET status = 'done', result = $3, lease_owner = NULL, \
                   lease_until = NULL, updated_at = $4 \
                 WHERE id = $1 AND status = 'leased' AND lease_owner = $2",
            )
            .bind(id.0)
            .bind(owner)
            .bind(result)
            .bind(ms(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        if n == 0 {
            Err(Error::LeaseLost)
        } else {
            Ok(())
        }
    }

    /// Marks leased jobs done and appends each one's audit entry, all in one transaction: a
    /// worker's round commits once, not twice per job. Entries are appended in the order given
    /// (per workspace), even for a job whose lease was lost meanwhile, since its attempt did
    /// happen; those jobs are left as they are and their ids returned.
    ///
    /// # Errors
    /// [`Error::InvalidJson`] for a result or entry that is not JSON (nothing is recorded);
    /// [`Error::NotFound`] for an unknown workspace; database errors.
    pub async fn complete_all(&self, owner: &str, done: &[Completion]) -> Result<Vec<JobId>> {
        for c in done {
            if let Some(r) = &c.result {
                check_json(r, "result")?;
            }
            check_entry(&c.audit)?;
        }
        // NB: workspaces' chain heads are locked in id order, so two workers' rounds cannot
        // deadlock on them.
        let mut by_workspace: std::collections::BTreeMap<WorkspaceId, Vec<_>> =
            std::collections::BTreeMap::new();
        for c in done {
            by_workspace
                .entry(c.workspace)
                .or_default()
                .push((c.at, &c.audit));
        }
        let appender = self.audit_appender();
        let mut marked = std::collections::HashSet::new();
        with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            // The jobs first, so the chain heads are locked (on PostgreSQL) for less time.
            for chunk in done.chunks(crate::audit::ROWS_PER_INSERT) {
                let mut q = sqlx::QueryBuilder::new("WITH v (id, result, at) AS (");
                q.push_values(chunk, |mut b, c| {
                    b.push_bind(c.id.0).push_bind(c.result.as_deref()).push_bind(ms(c.at));
                });
                q.push(
                    ") UPDATE jobs SET status = 'done', result = v.result, lease_owner = NULL, \
                       lease_until = NULL, updated_at = v.at \
                     FROM v WHERE jobs.id = v.id AND jobs.status = 'leased' AND jobs.lease_owner = ",
                );
                q.push_bind(owner);
                q.push(" RETURNING jobs.id");
                let ids: Vec<(i64,)> = q.build_query_as().fetch_all(&mut *tx).await?;
                marked.extend(ids.into_iter().map(|(id,)| id));
            }
            for (workspace, entries) in &by_workspace {
                append_all_in_tx!(tx, appender, *workspace, entries);
            }
            tx.commit().await?;
        });
        Ok(done
            .iter()
            .map(|c| c.id)
            .filter(|id| !marked.contains(&id.0))
            .collect())
    }

    /// Records a failed attempt and queues the job again at `next_run_at` (attempts + 1).
    ///
    /// # Errors
    /// [`Error::LeaseLost`] when `owner` does not hold the job; database errors.
    pub async fn retry(
        &self,
        id: JobId,
        owner: &str,
        now: DateTime<Utc>,
        next_run_at: DateTime<Utc>,
        error: &str,
    ) -> Result<()> {
        self.fail(id, owner, now, error, Some(next_run_at), None)
            .await
            .map(|_| ())
    }

    /// As [`Store::retry`], and replaces the job's payload in the same transaction (a write
    /// that keeps what its next attempt must know, such as when an unanswered attempt was sent).
    ///
    /// # Errors
    /// [`Error::InvalidJson`] for a payload that is not JSON; as [`Store::retry`].
    pub async fn retry_with_payload(
        &self,
        id: JobId,
        owner: &str,
        now: DateTime<Utc>,
        next_run_at: DateTime<Utc>,
        error: &str,
        payload: &str,
    ) -> Result<()> {
        check_json(payload, "payload")?;
        self.fail(id, owner, now, error, Some(next_run_at), Some(payload))
            .await
            .map(|_| ())
    }

    /// Records the final failed attempt and moves the job to the dead letters (attempts + 1).
    ///
    /// # Errors
    /// [`Error::LeaseLost`] when `owner` does not hold the job; database errors.
    pub async fn dead(
        &self,
        id: JobId,
        owner: &str,
        now: DateTime<Utc>,
        error: &str,
    ) -> Result<DeadLetterId> {
        let dl = self.fail(id, owner, now, error, None, None).await?;
        dl.ok_or(Error::Corrupt("dead letter not created"))
    }

    /// As [`Store::dead`], with `payload` replacing the job's payload (the dead letter holds
    /// it too), in the same transaction.
    ///
    /// # Errors
    /// [`Error::InvalidJson`] for a payload that is not JSON; as [`Store::dead`].
    pub async fn dead_with_payload(
        &self,
        id: JobId,
        owner: &str,
        now: DateTime<Utc>,
        error: &str,
        payload: &str,
    ) -> Result<DeadLetterId> {
        check_json(payload, "payload")?;
        let dl = self
            .fail(id, owner, now, error, None, Some(payload))
            .await?;
        dl.ok_or(Error::Corrupt("dead letter not created"))
    }

    /// A failed attempt: requeue at `next_run_at`, or with `None` kill the job; `payload`
    /// replaces the job's payload when given.
    async fn fail(
        &self,
        id: JobId,
        owner: &str,
        now: DateTime<Utc>,
        error: &str,
        next_run_at: Option<DateTime<Utc>>,
        payload: Option<&str>,
    ) -> Result<Option<DeadLetterId>> {
        let select = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND status = 'leased' AND lease_owner = $2"
        );
        with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            let row: Option<JobRow> =
                sqlx::query_as(&select).bind(id.0).bind(owner).fetch_optional(&mut *tx).await?;
            let mut job = row.ok_or(Error::LeaseLost)?.into_job()?;
            if let Some(p) = payload {
                p.clone_into(&mut job.payload);
            }
            let mut errors = job.errors.clone();
            errors.push(AttemptError { attempt: job.attempts + 1, at: now, error: error.to_owned() });
            let errors_json =
                serde_json::to_string(&errors).map_err(|_| Error::Corrupt("attempt errors"))?;
            let (status, run_at) = match next_run_at {
                Some(t) => ("queued", ms(t)),
                None => ("dead", ms(job.next_run_at)),
            };
            // The WHERE repeats the lease check: on PostgreSQL another worker may have taken an
            // expired lease between the read and this write.
            let n = sqlx::query(
                "UPDATE jobs SET status = $3, attempts = attempts + 1, next_run_at = $4, \
                   last_error = $5, errors = $6, lease_owner = NULL, lease_until = NULL, \
                   updated_at = $7, payload = $8 \
                 WHERE id = $1 AND status = 'leased' AND lease_owner = $2",
            )
            .bind(id.0)
            .bind(owner)
            .bind(status)
            .bind(run_at)
            .bind(error)
            .bind(&errors_json)
            .bind(ms(now))
            .bind(&job.payload)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(Error::LeaseLost);
            }
            let dl = if next_run_at.is_none() {
                // A replayed job that fails again re-opens its dead letter: one id, and every
                // attempt since the first in its history.
                let earlier: Option<(i64, String, i64)> = sqlx::query_as(
                    "SELECT id, errors, attempts FROM dead_letters \
                     WHERE workspace_id = $1 AND job_id = $2 ORDER BY id DESC LIMIT 1",
                )
                .bind(job.workspace.0)
                .bind(job.id.0)
                .fetch_optional(&mut *tx)
                .await?;
                let (dl_id, attempts) = match earlier {
                    Some((dl_id, before, attempts_before)) => {
                        let mut history: Vec<AttemptError> = serde_json::from_str(&before)
                            .map_err(|_| Error::Corrupt("attempt errors"))?;
                        let offset = u32::try_from(attempts_before)
                            .map_err(|_| Error::Corrupt("dead letter attempts"))?;
                        history.extend(errors.iter().map(|e| AttemptError {
                            attempt: e.attempt + offset,
                            ..e.clone()
                        }));
                        let history = serde_json::to_string(&history)
                            .map_err(|_| Error::Corrupt("attempt errors"))?;
                        let attempts = attempts_before + i64::from(job.attempts) + 1;
                        sqlx::query(
                            "UPDATE dead_letters SET status = 'open', payload = $3, errors = $4, \
                               attempts = $5, updated_at = $6 \
                             WHERE workspace_id = $1 AND id = $2",
                        )
                        .bind(job.workspace.0)
                        .bind(dl_id)
                        .bind(&job.payload)
                        .bind(&history)
                        .bind(attempts)
                        .bind(ms(now))
                        .execute(&mut *tx)
                        .await?;
                        (dl_id, attempts)
                    }
                    None => {
                let (dl_id,): (i64,) = sqlx::query_as(
                    "INSERT INTO dead_letters (workspace_id, job_id, connection_id, idempotency_key, \
                       ordering_key, kind, payload, errors, attempts, call_id, agent, status, \
                       created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'open', $12, $12) \
                     RETURNING id",
                )
                .bind(job.workspace.0)
                .bind(job.id.0)
                .bind(&job.connection_id)
                .bind(&job.idempotency_key)
                .bind(&job.ordering_key)
                .bind(&job.kind)
                .bind(&job.payload)
                .bind(&errors_json)
                .bind(i64::from(job.attempts) + 1)
                .bind(&job.call_id)
                .bind(&job.agent)
                .bind(ms(now))
                .fetch_one(&mut *tx)
                .await?;
                (dl_id, i64::from(job.attempts) + 1)
                    }
                };
                // The alert commits with the dead letter: one alert per dead letter, never lost.
                let action = serde_json::from_str::<serde_json::Value>(&job.payload)
                    .ok()
                    .and_then(|p| p.get("action")?.as_str().map(str::to_owned));
                let details = serde_json::json!({
                    "dead_letter_id": dl_id,
                    "action": action,
                    "job_id": job.id.0,
                    "kind": job.kind,
                    "connection_id": job.connection_id,
                    "call_id": job.call_id,
                    "agent": job.agent,
                    "attempts": attempts,
                    "error": error,
                    "idempotency_key": job.idempotency_key,
                });
                // A dead letter failing again re-opens its alert: pending, to be seen again.
                let reopened = sqlx::query(
                    "UPDATE alerts SET status = 'pending', details = $2, attempts = 0, \
                       next_attempt_at = $3, last_error = NULL, sent_at = NULL, \
                       acknowledged_at = NULL, acknowledged_by = NULL \
                     WHERE dead_letter_id = $1",
                )
                .bind(dl_id)
                .bind(details.to_string())
                .bind(ms(now))
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if reopened == 0 {
                    sqlx::query(crate::alerts::INSERT_ALERT)
                        .bind(job.workspace.0)
                        .bind(crate::alerts::KIND_DEAD_LETTER)
                        .bind(dl_id)
                        .bind(details.to_string())
                        .bind(ms(now))
                        .execute(&mut *tx)
                        .await?;
                }
                Some(DeadLetterId(dl_id))
            } else {
                None
            };
            tx.commit().await?;
            Ok(dl)
        })
    }

    /// Pauses a connection's jobs until `until` (e.g. its daily API allowance is spent): they
    /// stay queued and keep their attempts. Pausing again replaces the time.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown workspace; database errors.
    pub async fn pause_connection(
        &self,
        workspace: WorkspaceId,
        connection_id: &str,
        until: DateTime<Utc>,
    ) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO connection_pauses (workspace_id, connection_id, paused_until) \
                 VALUES ($1, $2, $3) ON CONFLICT (workspace_id, connection_id) \
                 DO UPDATE SET paused_until = excluded.paused_until",
            )
            .bind(workspace.0)
            .bind(connection_id)
            .bind(ms(until))
            .execute(pool)
            .await
            .map_err(|e| if is_fk_violation(&e) { Error::NotFound } else { Error::Database(e) })?;
        });
        Ok(())
    }

    /// Lifts a connection's pause now (a pause also ends by itself at its time).
    ///
    /// # Errors
    /// Database errors.
    pub async fn resume_connection(
        &self,
        workspace: WorkspaceId,
        connection_id: &str,
    ) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM connection_pauses WHERE workspace_id = $1 AND connection_id = $2")
                .bind(workspace.0)
                .bind(connection_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Until when the connection is paused, if it is paused at `now`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn connection_paused_until(
        &self,
        workspace: WorkspaceId,
        connection_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let row: Option<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT paused_until FROM connection_pauses \
                 WHERE workspace_id = $1 AND connection_id = $2 AND paused_until > $3",
            )
            .bind(workspace.0)
            .bind(connection_id)
            .bind(ms(now))
            .fetch_optional(pool)
            .await?
        });
        row.map(|(t,)| from_ms(t)).transpose()
    }

    /// The workspace's dead letters matching `filter`, oldest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_dead_letters(
        &self,
        workspace: WorkspaceId,
        filter: &DeadLetterFilter,
    ) -> Result<Vec<DeadLetter>> {
        let action = match self.backend() {
            Backend::Sqlite => {
                "CASE WHEN json_type(payload) = 'object' \
                THEN json_extract(payload, '$.action') END"
            }
            Backend::Postgres => {
                "CASE WHEN json_typeof(payload::json) = 'object' \
                THEN payload::json ->> 'action' END"
            }
        };
        let sql = format!(
            "SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE workspace_id = $1 \
             AND ($2 IS NULL OR connection_id = $2) AND ($3 IS NULL OR call_id = $3) \
             AND ($4 IS NULL OR status = $4) AND ($6 IS NULL OR {action} = $6) \
             ORDER BY id LIMIT $5"
        );
        let rows: Vec<DeadLetterRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql)
                .bind(workspace.0)
                .bind(&filter.connection_id)
                .bind(&filter.call_id)
                .bind(filter.status.map(DeadLetterStatus::as_str))
                .bind(i64::from(filter.limit.unwrap_or(100)))
                .bind(&filter.action)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(DeadLetterRow::into_dead_letter)
            .collect()
    }

    /// The dead letter with this id in this workspace.
    ///
    /// # Errors
    /// Database errors.
    pub async fn dead_letter(
        &self,
        workspace: WorkspaceId,
        id: DeadLetterId,
    ) -> Result<Option<DeadLetter>> {
        let sql = format!(
            "SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE workspace_id = $1 AND id = $2"
        );
        let row: Option<DeadLetterRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(workspace.0).bind(id.0).fetch_optional(pool).await?
        });
        row.map(DeadLetterRow::into_dead_letter).transpose()
    }

    /// Replaces an open dead letter's payload (to fix a field before replaying it).
    ///
    /// # Errors
    /// [`Error::NotFound`]; [`Error::InvalidState`] when it is not open; [`Error::InvalidJson`];
    /// database errors.
    pub async fn edit_dead_letter_payload(
        &self,
        workspace: WorkspaceId,
        id: DeadLetterId,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.edit_dead_letter_impl(workspace, id, payload, now, None)
            .await
    }

    /// As [`Store::edit_dead_letter_payload`], and appends a `deadletter.edit` entry (the payload
    /// before and after, `actor` as its agent) to the audit log in the same transaction.
    ///
    /// # Errors
    /// As [`Store::edit_dead_letter_payload`].
    pub async fn edit_dead_letter_payload_as(
        &self,
        workspace: WorkspaceId,
        id: DeadLetterId,
        payload: &str,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<()> {
        self.edit_dead_letter_impl(workspace, id, payload, now, Some(actor))
            .await
    }

    async fn edit_dead_letter_impl(
        &self,
        workspace: WorkspaceId,
        id: DeadLetterId,
        payload: &str,
        now: DateTime<Utc>,
        actor: Option<&str>,
    ) -> Result<()> {
        check_json(payload, "payload")?;
        let select = format!(
            "SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE workspace_id = $1 AND id = $2"
        );
        let appender = self.audit_appender();
        with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            let row: Option<DeadLetterRow> =
                sqlx::query_as(&select).bind(workspace.0).bind(id.0).fetch_optional(&mut *tx).await?;
            let dl = row.ok_or(Error::NotFound)?.into_dead_letter()?;
            let n = sqlx::query(
                "UPDATE dead_letters SET payload = $3, updated_at = $4 \
                 WHERE workspace_id = $1 AND id = $2 AND status = 'open'",
            )
            .bind(workspace.0)
            .bind(id.0)
            .bind(payload)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(Error::InvalidState("the dead letter is not open"));
            }
            if let Some(actor) = actor {
                let request = serde_json::json!({
                    "dead_letter_id": id.0,
                    "job_id": dl.job_id.0,
                    "payload_before": json_value(&dl.payload),
                    "payload_after": json_value(payload),
                });
                let entry = admin_entry("deadletter.edit", &dl, actor, request);
                append_in_tx!(tx, appender, workspace, now, &entry);
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Replays an open dead letter: its job is queued again (due at `now`, attempts reset, with
    /// the dead letter's possibly edited payload, same id and idempotency key) and the dead
    /// letter is marked replayed. Returns the job's id.
    ///
    /// # Errors
    /// [`Error::NotFound`]; [`Error::InvalidState`] when it is not open; database errors.
    pub async fn replay_dead_letter(
        &self,
        workspace: WorkspaceId,
        id: DeadLetterId,
        now: DateTime<Utc>,
    ) -> Result<JobId> {
        self.replay_dead_letter_impl(workspace, id, now, None).await
    }

    /// As [`Store::replay_dead_letter`], and appends a `deadletter.replay` entry (`actor` as its
    /// agent) to the audit log in the same transaction.
    ///
    /// # Errors
    /// As [`Store::replay_dead_letter`].
    pub async fn replay_dead_letter_as(
        &self,
        workspace: WorkspaceId,
        id: DeadLetterId,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<JobId> {
        self.replay_dead_letter_impl(workspace, id, now, Some(actor))
            .await
    }

    async fn replay_dead_letter_impl(
        &self,
        workspace: WorkspaceId,
        id: DeadLetterId,
        now: DateTime<Utc>,
        actor: Option<&str>,
    ) -> Result<JobId> {
        let appender = self.audit_appender();
        let select = format!(
            "SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE workspace_id = $1 AND id = $2"
        );
        let siblings_lock = match self.backend() {
            Backend::Sqlite => None,
            Backend::Postgres => Some(
                "SELECT id FROM jobs WHERE workspace_id = $1 AND ordering_key = $2 \
                 AND status IN ('queued', 'leased') FOR UPDATE",
            ),
        };
        with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            let row: Option<DeadLetterRow> =
                sqlx::query_as(&select).bind(workspace.0).bind(id.0).fetch_optional(&mut *tx).await?;
            let dl = row.ok_or(Error::NotFound)?.into_dead_letter()?;
            if dl.status != DeadLetterStatus::Open {
                return Err(Error::InvalidState("the dead letter is not open"));
            }
            if let Some(lock) = siblings_lock {
                // NB: waits for any lease of a later job of this record being taken right now,
                // so a lease that starts after this commit sees that job's live lease and does
                // not lease the replayed job beside it.
                sqlx::query(lock)
                    .bind(workspace.0)
                    .bind(&dl.ordering_key)
                    .execute(&mut *tx)
                    .await?;
            }
            let n = sqlx::query(
                "UPDATE dead_letters SET status = 'replayed', updated_at = $3 \
                 WHERE workspace_id = $1 AND id = $2 AND status = 'open'",
            )
            .bind(workspace.0)
            .bind(id.0)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(Error::InvalidState("the dead letter is not open"));
            }
            let n = sqlx::query(
                "UPDATE jobs SET status = 'queued', payload = $3, attempts = 0, next_run_at = $4, \
                   lease_owner = NULL, lease_until = NULL, last_error = NULL, errors = '[]', \
                   result = NULL, updated_at = $4 \
                 WHERE workspace_id = $1 AND id = $2 AND status = 'dead'",
            )
            .bind(workspace.0)
            .bind(dl.job_id.0)
            .bind(&dl.payload)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(Error::InvalidState("the dead letter's job is not dead"));
            }
            if let Some(actor) = actor {
                let request = serde_json::json!({
                    "dead_letter_id": id.0,
                    "job_id": dl.job_id.0,
                    "idempotency_key": dl.idempotency_key,
                    "payload": json_value(&dl.payload),
                });
                let entry = admin_entry("deadletter.replay", &dl, actor, request);
                append_in_tx!(tx, appender, workspace, now, &entry);
            }
            tx.commit().await?;
            Ok(dl.job_id)
        })
    }

    /// Replays every open dead letter matching `filter` (its `status` is ignored), oldest
    /// first, each as [`Store::replay_dead_letter`] does; returns the requeued job ids. A dead
    /// letter replayed or discarded meanwhile by someone else is skipped.
    ///
    /// # Errors
    /// Database errors (the dead letters replayed before the error stay replayed).
    pub async fn replay_dead_letters(
        &self,
        workspace: WorkspaceId,
        filter: &DeadLetterFilter,
        now: DateTime<Utc>,
    ) -> Result<Vec<JobId>> {
        self.replay_dead_letters_impl(workspace, filter, now, None)
            .await
    }

    /// As [`Store::replay_dead_letters`], each replay audited as [`Store::replay_dead_letter_as`]
    /// does.
    ///
    /// # Errors
    /// As [`Store::replay_dead_letters`].
    pub async fn replay_dead_letters_as(
        &self,
        workspace: WorkspaceId,
        filter: &DeadLetterFilter,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<Vec<JobId>> {
        self.replay_dead_letters_impl(workspace, filter, now, Some(actor))
            .await
    }

    async fn replay_dead_letters_impl(
        &self,
        workspace: WorkspaceId,
        filter: &DeadLetterFilter,
        now: DateTime<Utc>,
        actor: Option<&str>,
    ) -> Result<Vec<JobId>> {
        let filter = DeadLetterFilter {
            status: Some(DeadLetterStatus::Open),
            ..filter.clone()
        };
        let mut jobs = Vec::new();
        for dl in self.list_dead_letters(workspace, &filter).await? {
            match self
                .replay_dead_letter_impl(workspace, dl.id, now, actor)
                .await
            {
                Ok(job) => jobs.push(job),
                Err(Error::InvalidState(_) | Error::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(jobs)
    }

    /// Discards an open dead letter: its job stays dead and nothing more happens to it.
    ///
    /// # Errors
    /// [`Error::NotFound`]; [`Error::InvalidState`] when it is not open; database errors.
    pub async fn discard_dead_letter(
        &self,
        workspace: WorkspaceId,
        id: DeadLetterId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.discard_dead_letter_impl(workspace, id, now, None)
            .await
    }

    /// As [`Store::discard_dead_letter`], and appends a `deadletter.discard` entry (`actor` as
    /// its agent) to the audit log in the same transaction.
    ///
    /// # Errors
    /// As [`Store::discard_dead_letter`].
    pub async fn discard_dead_letter_as(
        &self,
        workspace: WorkspaceId,
        id: DeadLetterId,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<()> {
        self.discard_dead_letter_impl(workspace, id, now, Some(actor))
            .await
    }

    async fn discard_dead_letter_impl(
        &self,
        workspace: WorkspaceId,
        id: DeadLetterId,
        now: DateTime<Utc>,
        actor: Option<&str>,
    ) -> Result<()> {
        let select = format!(
            "SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE workspace_id = $1 AND id = $2"
        );
        let appender = self.audit_appender();
        with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            let row: Option<DeadLetterRow> =
                sqlx::query_as(&select).bind(workspace.0).bind(id.0).fetch_optional(&mut *tx).await?;
            let dl = row.ok_or(Error::NotFound)?.into_dead_letter()?;
            let n = sqlx::query(
                "UPDATE dead_letters SET status = 'discarded', updated_at = $3 \
                 WHERE workspace_id = $1 AND id = $2 AND status = 'open'",
            )
            .bind(workspace.0)
            .bind(id.0)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Err(Error::InvalidState("the dead letter is not open"));
            }
            if let Some(actor) = actor {
                let request = serde_json::json!({"dead_letter_id": id.0, "job_id": dl.job_id.0});
                let entry = admin_entry("deadletter.discard", &dl, actor, request);
                append_in_tx!(tx, appender, workspace, now, &entry);
            }
            tx.commit().await?;
            Ok(())
        })
    }
}

/// JSON text as a value for an audit request (stored text is JSON; anything else as a string).
fn json_value(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|_| serde_json::Value::String(s.to_owned()))
}

/// The audit entry of an admin's action on a dead letter.
fn admin_entry(
    kind: &str,
    dl: &DeadLetter,
    actor: &str,
    request: serde_json::Value,
) -> crate::audit::NewAuditEntry {
    crate::audit::NewAuditEntry {
        kind: kind.to_owned(),
        call_id: dl.call_id.clone(),
        agent: Some(actor.to_owned()),
        record_ids: Vec::new(),
        request: Some(request.to_string()),
        response: None,
    }
}
