//! The writes of each call instance within the duplicate window, so that the same action with
//! the same arguments asked for again in a call (a platform's retry, a request cancelled and
//! sent again, a model repeating itself) answers the first one's result and writes nothing.
//!
//! A row is keyed by workspace, call id, call instance, action and the hash of the canonical
//! arguments. It is `pending` while the first request runs the write (a second identical request
//! then waits for it, on this instance or another sharing the database) and `done` with the
//! answer once it ran; a write that failed is released (deleted), so a retry runs it again.
//!
//! Whether a repeat is the same write also depends on what else the call wrote to the same
//! target in between ([`WriteTarget`]): a create's target is always new, so a repeat is always
//! the same write; an update is the same write only while it is the last write of the call to
//! its record (`Working`, `Escalated`, `Working` is three writes). Rows older than the window are
//! deleted by each claim (one indexed `DELETE`), so the table holds only the window's writes.

use chrono::{DateTime, TimeDelta, Utc};

use crate::{Result, Store, WorkspaceId, WritePool as _, ms, with_pool};

/// What a write touches, for deciding whether a repeat of it is the same write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteTarget<'a> {
    /// A new record (a create): no other write can touch it, so a repeat is the same write.
    New,
    /// One record (`Case:500...`): a repeat is the same write while nothing else was written
    /// to it (or to an unknown target) in between.
    Record(&'a str),
    /// Not known (a raw request, a bulk update): a repeat is the same write only while it is
    /// the call's last write.
    Unknown,
}

impl WriteTarget<'_> {
    fn stored(&self) -> &str {
        match self {
            Self::New => "new",
            Self::Record(r) => r,
            Self::Unknown => "*",
        }
    }
}

/// One write of a call, as the duplicate window knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallWrite<'a> {
    /// The call's workspace.
    pub workspace: WorkspaceId,
    /// The call's id.
    pub call_id: &'a str,
    /// The call's instance (new at each start of the call).
    pub instance: &'a str,
    /// The action.
    pub action: &'a str,
    /// The hash of its canonical arguments.
    pub args_hash: &'a str,
    /// What it touches.
    pub target: WriteTarget<'a>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// No such write in the window: the caller runs it, then finishes or releases it.
    First,
    /// The same write is being run by another request (since this time): wait and claim again.
    Pending(DateTime<Utc>),
    /// The same write ran already and answered this (JSON).
    Done(String),
}

impl Store {
    /// Claims `write` at `now`: [`Claimed::First`] when the caller is to run it, else what the
    /// same write earlier in the window is. Rows older than `window` are deleted first; a
    /// pending row older than `stale` (its request died) is taken over.
    ///
    /// # Errors
    /// Database errors.
    pub async fn claim_call_write(
        &self,
        write: &CallWrite<'_>,
        now: DateTime<Utc>,
        window: TimeDelta,
        stale: TimeDelta,
    ) -> Result<Claimed> {
        let (ws, call, inst) = (write.workspace.0, write.call_id, write.instance);
        let target = write.target.stored();
        let postgres = self.backend() == crate::Backend::Postgres;
        // The latest row that decides: for a create its own (the unique key); for a record the
        // last write to it or to an unknown target; for an unknown target the call's last write.
        // NB: each statement binds the same six values; PostgreSQL must see every one used.
        let latest_sql = match write.target {
            WriteTarget::New => {
                "SELECT action, args_hash, state, result, created_at FROM call_writes \
                 WHERE workspace = $1 AND call_id = $2 AND instance = $3 AND action = $4 \
                 AND args_hash = $5 AND target = $6"
            }
            WriteTarget::Record(_) => {
                "SELECT action, args_hash, state, result, created_at FROM call_writes \
                 WHERE workspace = $1 AND call_id = $2 AND instance = $3 \
                 AND target IN ($6, '*') AND CAST($4 AS TEXT) <> '' \
                 AND CAST($5 AS TEXT) <> '' ORDER BY id DESC LIMIT 1"
            }
            WriteTarget::Unknown => {
                "SELECT action, args_hash, state, result, created_at FROM call_writes \
                 WHERE workspace = $1 AND call_id = $2 AND instance = $3 \
                 AND CAST($4 AS TEXT) <> '' AND CAST($5 AS TEXT) <> '' \
                 AND CAST($6 AS TEXT) = '*' ORDER BY id DESC LIMIT 1"
            }
        };
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM call_writes WHERE created_at <= $1")
                .bind(ms(now - window))
                .execute(pool)
                .await?;
            let mut tx = pool.begin_write().await?;
            // NB: claims of one call run one at a time across instances, so the read below sees
            // every claim committed before it (SQLite's write transaction already does that).
            if postgres {
                // NB: the rows are seen by other sessions at commit either way; not waiting for
                // the WAL flush only risks losing the last rows if the database itself crashes
                // (a repeat then writes again, guarded by the write's idempotency key).
                sqlx::query("SET LOCAL synchronous_commit TO OFF")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                    .bind(format!("callforce.call_writes/{ws}/{}:{call}/{inst}", call.len()))
                    .execute(&mut *tx)
                    .await?;
            }
            let latest: Option<(String, String, String, Option<String>, i64)> =
                sqlx::query_as(latest_sql)
                    .bind(ws)
                    .bind(call)
                    .bind(inst)
                    .bind(write.action)
                    .bind(write.args_hash)
                    .bind(target)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some((action, hash, state, result, created)) = latest
                && action == write.action
                && hash == write.args_hash
            {
                if state == "done" {
                    tx.commit().await?;
                    return Ok(Claimed::Done(result.unwrap_or_else(|| "null".into())));
                }
                if created > ms(now - stale) {
                    tx.commit().await?;
                    return Ok(Claimed::Pending(crate::from_ms(created)?));
                }
            }
            // NB: the same write earlier in the call, no longer the last to its target (or
            // abandoned), makes way for this one: a value set back is written again.
            sqlx::query(
                "DELETE FROM call_writes WHERE workspace = $1 AND call_id = $2 \
                 AND instance = $3 AND action = $4 AND args_hash = $5",
            )
            .bind(ws)
            .bind(call)
            .bind(inst)
            .bind(write.action)
            .bind(write.args_hash)
            .execute(&mut *tx)
            .await?;
            // The unique key is a second guard: a row that is there after all is the same
            // write pending.
            let inserted = sqlx::query(
                "INSERT INTO call_writes (workspace, call_id, instance, action, args_hash, \
                 target, state, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(ws)
            .bind(call)
            .bind(inst)
            .bind(write.action)
            .bind(write.args_hash)
            .bind(target)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(if inserted == 1 {
                Claimed::First
            } else {
                Claimed::Pending(now)
            })
        })
    }

    /// Records what the claimed `write` answered (`result`, JSON): a repeat in the window now
    /// gets it.
    ///
    /// # Errors
    /// Database errors.
    pub async fn finish_call_write(&self, write: &CallWrite<'_>, result: &str) -> Result<()> {
        let postgres = self.backend() == crate::Backend::Postgres;
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            if postgres {
                // As in the claim: visible at commit, not waiting for the WAL flush.
                sqlx::query("SET LOCAL synchronous_commit TO OFF")
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "UPDATE call_writes SET state = 'done', result = $6 WHERE workspace = $1 \
                 AND call_id = $2 AND instance = $3 AND action = $4 AND args_hash = $5",
            )
            .bind(write.workspace.0)
            .bind(write.call_id)
            .bind(write.instance)
            .bind(write.action)
            .bind(write.args_hash)
            .bind(result)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Releases the claimed `write`, which did not run (it failed): a repeat runs it again.
    ///
    /// # Errors
    /// Database errors.
    pub async fn release_call_write(&self, write: &CallWrite<'_>) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query(
                "DELETE FROM call_writes WHERE workspace = $1 AND call_id = $2 \
                 AND instance = $3 AND action = $4 AND args_hash = $5 AND state = 'pending'",
            )
            .bind(write.workspace.0)
            .bind(write.call_id)
            .bind(write.instance)
            .bind(write.action)
            .bind(write.args_hash)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
