//! The operations log: every action an agent ran in a call (reads too), as the admin console's
//! Calls page and overview show them.
//!
//! The service records operations off the hot path and inserts them in batches
//! ([`Store::record_operations`], one transaction per batch). Arguments and results arrive
//! already redacted and compacted (JSON text); the store keeps them as they are. Reads group them
//! by call ([`Store::list_calls`], newest first, with a cursor), list one call's in order
//! ([`Store::call_operations`]) and sum them up per time bucket for the overview chart
//! ([`Store::operation_activity`]: counts, errors, and latency percentiles computed here in Rust,
//! so both backends answer alike). [`Store::delete_expired`] applies the retention.
//!
//! Each workspace also keeps the names of its sensitive fields ([`Store::sensitive_fields`]):
//! the values the service replaces with `"[redacted]"` before recording an operation.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// The operation a call's start records for its caller lookup: a step of the call's timeline,
/// not one of the tool calls counted in the activity.
pub const CALLER_LOOKUP: &str = "caller_context";

use crate::keys::WorkspaceId;
use crate::{Error, Result, Store, WritePool, from_ms, ms, with_pool};

/// The outcomes that are not errors; every other outcome is an error code.
pub const OK_OUTCOMES: [&str; 2] = ["ok", "confirm"];

/// Whether an outcome is an error (not `ok` nor `confirm`).
pub fn is_error(outcome: &str) -> bool {
    !OK_OUTCOMES.contains(&outcome)
}

/// The id of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct OperationId(pub i64);

/// An operation to record with [`Store::record_operations`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOperation {
    /// The workspace of the call.
    pub workspace: WorkspaceId,
    /// The call's id, as the caller named it.
    pub call_id: String,
    /// The call's instance (new at each start of a call id), when known.
    pub call_instance: Option<String>,
    /// The agent handling the call.
    pub agent: Option<String>,
    /// The connection the action ran on (`None`: no connection could be used).
    pub connection_id: Option<String>,
    /// The action's name.
    pub action: String,
    /// The arguments, redacted, as JSON text.
    pub arguments: String,
    /// The result, or the error, redacted and compacted, as JSON text.
    pub result: String,
    /// `ok`, `confirm`, or the error code.
    pub outcome: String,
    /// How long the action took, in microseconds.
    pub latency_us: u64,
    /// How many requests it sent to the org.
    pub round_trips: u32,
    /// The caller's phone number, as the telephony gave it.
    pub caller_phone: Option<String>,
    /// When the action started.
    pub started_at: DateTime<Utc>,
}

/// An operation as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Operation {
    /// Its id.
    pub id: OperationId,
    /// The call's id.
    pub call_id: String,
    /// The call's instance, when known.
    pub call_instance: Option<String>,
    /// The agent handling the call.
    pub agent: Option<String>,
    /// The connection the action ran on.
    pub connection_id: Option<String>,
    /// The action's name.
    pub action: String,
    /// The arguments, redacted.
    pub arguments: serde_json::Value,
    /// The result or the error, redacted and compacted.
    pub result: serde_json::Value,
    /// `ok`, `confirm`, or the error code.
    pub outcome: String,
    /// How long the action took, in microseconds.
    pub latency_us: u64,
    /// How many requests it sent to the org.
    pub round_trips: u32,
    /// The caller's phone number.
    pub caller_phone: Option<String>,
    /// When the action started.
    pub started_at: DateTime<Utc>,
}

/// Which calls [`Store::list_calls`] lists: those with at least one operation matching every
/// filter given, newest last operation first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFilter {
    /// The caller's phone number, exactly as recorded.
    pub caller_phone: Option<String>,
    /// The agent.
    pub agent: Option<String>,
    /// An action the call ran.
    pub action: Option<String>,
    /// An outcome one of its operations had.
    pub outcome: Option<String>,
    /// Operations at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Operations before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only calls after this one in the list (the previous page's [`CallSummary::cursor`]).
    pub after: Option<CallCursor>,
    /// At most this many calls (100 when `None`, at most 1,000).
    pub limit: Option<u32>,
}

/// A place in the list of calls: the last call of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallCursor {
    /// Its last operation's start.
    pub last_at: DateTime<Utc>,
    /// Its id.
    pub call_id: String,
}

/// One call, summed up from its operations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallSummary {
    /// The call's id.
    pub call_id: String,
    /// The caller's phone number.
    pub caller_phone: Option<String>,
    /// The agent.
    pub agent: Option<String>,
    /// The connection.
    pub connection_id: Option<String>,
    /// Its first operation's start.
    pub first_at: DateTime<Utc>,
    /// Its last operation's start.
    pub last_at: DateTime<Utc>,
    /// How many operations it ran.
    pub operations: u64,
    /// How many of them failed.
    pub errors: u64,
}

impl CallSummary {
    /// The cursor of the page after this call.
    pub fn cursor(&self) -> CallCursor {
        CallCursor {
            last_at: self.last_at,
            call_id: self.call_id.clone(),
        }
    }
}

/// The operations of one time bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivityBucket {
    /// The bucket's start.
    pub start: DateTime<Utc>,
    /// Operations started in it.
    pub operations: u64,
    /// How many of them failed.
    pub errors: u64,
    /// The median latency, microseconds (`None`: no operation).
    pub p50_us: Option<u64>,
    /// The 95th percentile latency, microseconds (`None`: no operation).
    pub p95_us: Option<u64>,
}

/// A value bound to a query built at run time.
enum Arg {
    Int(i64),
    Text(String),
}

/// Binds `args` in order to `$q`.
macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::Int(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.clone()),
            };
        }
        q
    }};
}

const OPERATION_COLUMNS: &str = "id, call_id, call_instance, agent, connection_id, action, \
     arguments, result, outcome, latency_us, caller_phone, started_at, round_trips";

type OperationRow = (
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    i64,
    i64,
);

fn operation(row: OperationRow) -> Result<Operation> {
    let (id, call_id, call_instance, agent, connection_id, action, args, result, outcome) = (
        row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8,
    );
    Ok(Operation {
        id: OperationId(id),
        call_id,
        call_instance,
        agent,
        connection_id,
        action,
        arguments: serde_json::from_str(&args)
            .map_err(|_| Error::Corrupt("operation arguments"))?,
        result: serde_json::from_str(&result).map_err(|_| Error::Corrupt("operation result"))?,
        outcome,
        latency_us: u64::try_from(row.9).unwrap_or(0),
        round_trips: u32::try_from(row.12).unwrap_or(0),
        caller_phone: row.10,
        started_at: from_ms(row.11)?,
    })
}

/// The value at percentile `p` (0..=1) of `sorted`, nearest rank.
fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    // NB: nearest rank: the smallest value with at least p of the values at or below it.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len() - 1))
        .copied()
}

impl Store {
    /// Records `operations` in one transaction (all or none).
    ///
    /// # Errors
    /// [`Error::InvalidJson`] when arguments or a result are not JSON (nothing is recorded);
    /// database errors.
    pub async fn record_operations(&self, operations: &[NewOperation]) -> Result<()> {
        if operations.is_empty() {
            return Ok(());
        }
        for op in operations {
            serde_json::from_str::<serde::de::IgnoredAny>(&op.arguments)
                .map_err(|_| Error::InvalidJson("operation arguments"))?;
            serde_json::from_str::<serde::de::IgnoredAny>(&op.result)
                .map_err(|_| Error::InvalidJson("operation result"))?;
        }
        with_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for op in operations {
                sqlx::query(
                    "INSERT INTO operations (workspace_id, call_id, call_instance, agent, \
                     connection_id, action, arguments, result, outcome, latency_us, \
                     caller_phone, started_at, round_trips) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(op.workspace.0)
                .bind(&op.call_id)
                .bind(&op.call_instance)
                .bind(&op.agent)
                .bind(&op.connection_id)
                .bind(&op.action)
                .bind(&op.arguments)
                .bind(&op.result)
                .bind(&op.outcome)
                .bind(i64::try_from(op.latency_us).unwrap_or(i64::MAX))
                .bind(&op.caller_phone)
                .bind(ms(op.started_at))
                .bind(i64::from(op.round_trips))
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The calls of `workspace` with an operation matching `filter`, by their last operation,
    /// newest first; each summed up over all its operations.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_calls(
        &self,
        workspace: WorkspaceId,
        filter: &CallFilter,
    ) -> Result<Vec<CallSummary>> {
        let mut args = vec![Arg::Int(workspace.0)];
        let mut matching = Vec::new();
        let mut push = |args: &mut Vec<Arg>, sql: &str, arg: Arg| {
            args.push(arg);
            matching.push(format!("{sql} ${}", args.len()));
        };
        for (column, value) in [
            ("caller_phone =", &filter.caller_phone),
            ("agent =", &filter.agent),
            ("action =", &filter.action),
            ("outcome =", &filter.outcome),
        ] {
            if let Some(v) = value {
                push(&mut args, column, Arg::Text(v.clone()));
            }
        }
        if let Some(t) = filter.since {
            push(&mut args, "started_at >=", Arg::Int(ms(t)));
        }
        if let Some(t) = filter.until {
            push(&mut args, "started_at <", Arg::Int(ms(t)));
        }
        // NB: without filters every call matches; the subquery would only cost time.
        let calls = if matching.is_empty() {
            String::new()
        } else {
            format!(
                " AND call_id IN (SELECT call_id FROM operations WHERE workspace_id = $1 AND {})",
                matching.join(" AND ")
            )
        };
        let having = match &filter.after {
            Some(c) => {
                args.push(Arg::Int(ms(c.last_at)));
                args.push(Arg::Text(c.call_id.clone()));
                let (a, b) = (args.len() - 1, args.len());
                format!(
                    " HAVING MAX(started_at) < ${a} OR (MAX(started_at) = ${a} AND call_id < ${b})"
                )
            }
            None => String::new(),
        };
        args.push(Arg::Int(i64::from(filter.limit.unwrap_or(100).min(1_000))));
        let sql = format!(
            "SELECT call_id, MAX(caller_phone), MAX(agent), MAX(connection_id), \
             MIN(started_at), MAX(started_at), COUNT(*), \
             CAST(SUM(CASE WHEN outcome IN ('ok', 'confirm') THEN 0 ELSE 1 END) AS BIGINT) \
             FROM operations WHERE workspace_id = $1{calls} GROUP BY call_id{having} \
             ORDER BY MAX(started_at) DESC, call_id DESC LIMIT ${}",
            args.len()
        );
        type Row = (
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            i64,
            i64,
            i64,
            i64,
        );
        let rows: Vec<Row> = with_pool!(self, pool => {
            bind_args!(sqlx::query_as(&sql), &args).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(call_id, phone, agent, conn, first, last, n, errors)| {
                Ok(CallSummary {
                    call_id,
                    caller_phone: phone,
                    agent,
                    connection_id: conn,
                    first_at: from_ms(first)?,
                    last_at: from_ms(last)?,
                    operations: u64::try_from(n).unwrap_or(0),
                    errors: u64::try_from(errors).unwrap_or(0),
                })
            })
            .collect()
    }

    /// The operations of call `call_id` in `workspace`, in the order they started (at most
    /// 10,000).
    ///
    /// # Errors
    /// Database errors; [`Error::Corrupt`] for stored text that is not JSON.
    pub async fn call_operations(
        &self,
        workspace: WorkspaceId,
        call_id: &str,
    ) -> Result<Vec<Operation>> {
        let sql = format!(
            "SELECT {OPERATION_COLUMNS} FROM operations WHERE workspace_id = $1 AND call_id = $2 \
             ORDER BY started_at, id LIMIT 10000"
        );
        let rows: Vec<OperationRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql)
                .bind(workspace.0)
                .bind(call_id)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(operation).collect()
    }

    /// The operations of `workspace` started in `[since, until)`, per `bucket` from `since`
    /// (every bucket, empty ones too): counts, errors, and the p50 and p95 latencies.
    ///
    /// # Errors
    /// Database errors; [`Error::InvalidState`] for a bucket that is not positive.
    pub async fn operation_activity(
        &self,
        workspace: WorkspaceId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        bucket: TimeDelta,
    ) -> Result<Vec<ActivityBucket>> {
        let width = bucket.num_milliseconds();
        if width <= 0 {
            return Err(Error::InvalidState("the bucket must be positive"));
        }
        let rows: Vec<(i64, String, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT started_at, outcome, latency_us FROM operations \
                 WHERE workspace_id = $1 AND started_at >= $2 AND started_at < $3 \
                 AND action <> $4",
            )
            .bind(workspace.0)
            .bind(ms(since))
            .bind(ms(until))
            .bind(CALLER_LOOKUP)
            .fetch_all(pool)
            .await?
        });
        let span = (ms(until) - ms(since)).max(0);
        let n = usize::try_from((span + width - 1) / width).unwrap_or(0);
        let mut latencies: Vec<Vec<u64>> = vec![Vec::new(); n];
        let mut errors = vec![0u64; n];
        for (at, outcome, latency) in rows {
            let Ok(i) = usize::try_from((at - ms(since)) / width) else {
                continue;
            };
            if let Some(l) = latencies.get_mut(i) {
                l.push(u64::try_from(latency).unwrap_or(0));
                errors[i] += u64::from(is_error(&outcome));
            }
        }
        latencies
            .into_iter()
            .zip(errors)
            .enumerate()
            .map(|(i, (mut l, errors))| {
                l.sort_unstable();
                let offset = i64::try_from(i).unwrap_or(i64::MAX).saturating_mul(width);
                Ok(ActivityBucket {
                    start: from_ms(ms(since) + offset)?,
                    operations: l.len() as u64,
                    errors,
                    p50_us: percentile(&l, 0.50),
                    p95_us: percentile(&l, 0.95),
                })
            })
            .collect()
    }

    /// The names of the fields whose values the operations log redacts in `workspace` (none
    /// by default).
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown workspace; database errors.
    pub async fn sensitive_fields(&self, workspace: WorkspaceId) -> Result<Vec<String>> {
        let row: Option<(String,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT sensitive_fields FROM workspaces WHERE id = $1")
                .bind(workspace.0)
                .fetch_optional(pool)
                .await?
        });
        let (text,) = row.ok_or(Error::NotFound)?;
        serde_json::from_str(&text).map_err(|_| Error::Corrupt("sensitive fields"))
    }

    /// Sets the names of the fields whose values the operations log redacts in `workspace`.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown workspace; database errors.
    pub async fn set_sensitive_fields(
        &self,
        workspace: WorkspaceId,
        fields: &[String],
    ) -> Result<()> {
        let text = serde_json::to_string(fields).map_err(|_| Error::InvalidJson("fields"))?;
        let n = with_pool!(self, pool => {
            sqlx::query("UPDATE workspaces SET sensitive_fields = $2 WHERE id = $1")
                .bind(workspace.0)
                .bind(text)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if n == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[7], 0.5), Some(7));
        assert_eq!(percentile(&[7], 0.95), Some(7));
        assert_eq!(percentile(&[1, 2, 3, 4], 0.5), Some(2));
        assert_eq!(percentile(&[1, 2, 3, 4, 5], 0.5), Some(3));
        let hundred: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&hundred, 0.5), Some(50));
        assert_eq!(percentile(&hundred, 0.95), Some(95));
    }

    #[test]
    fn outcomes_other_than_ok_and_confirm_are_errors() {
        assert!(!is_error("ok"));
        assert!(!is_error("confirm"));
        assert!(is_error("salesforce"));
        assert!(is_error("invalid"));
    }
}
