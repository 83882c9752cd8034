//! Each workspace's own settings (`NULL`: the service's default): the webhook its alerts are
//! posted to, and how many days its operations log and resolved dead letters are kept. Changes
//! are appended to the audit log in their transaction. [`Store::delete_expired`] is the
//! retention sweep of one workspace; it never touches the audit log.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::audit::{NewAuditEntry, append_in_tx, check_entry};
use crate::keys::WorkspaceId;
use crate::{Error, Result, Store, ms, with_pool};

/// Rows one statement of the sweep deletes, so SQLite's writer is never held long.
const DELETE_CHUNK: i64 = 5_000;

/// A workspace's own settings; `None` is the service's default.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct WorkspaceSettings {
    /// The webhook the workspace's alerts are posted to (a credential: never printed).
    pub alert_webhook: Option<String>,
    /// How many days the operations log and resolved dead letters are kept.
    pub retention_days: Option<u32>,
}

impl fmt::Debug for WorkspaceSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkspaceSettings")
            .field(
                "alert_webhook",
                &self.alert_webhook.as_ref().map(|_| "<redacted>"),
            )
            .field("retention_days", &self.retention_days)
            .finish()
    }
}

/// What one workspace's sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expired {
    /// Operations log rows.
    pub operations: u64,
    /// Replayed or discarded dead letters.
    pub dead_letters: u64,
}

/// One setting's new value.
enum Value<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
}

impl Store {
    /// The workspace's own settings.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown workspace; database errors.
    pub async fn workspace_settings(&self, workspace: WorkspaceId) -> Result<WorkspaceSettings> {
        let row: Option<(Option<String>, Option<i64>)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT alert_webhook_url, retention_days FROM workspaces WHERE id = $1")
                .bind(workspace.0)
                .fetch_optional(pool)
                .await?
        });
        let (alert_webhook, days) = row.ok_or(Error::NotFound)?;
        Ok(WorkspaceSettings {
            alert_webhook,
            retention_days: days
                .map(u32::try_from)
                .transpose()
                .map_err(|_| Error::Corrupt("retention days"))?,
        })
    }

    /// Every workspace with its own retention (`None`: the service's default), by id.
    ///
    /// # Errors
    /// Database errors.
    pub async fn retentions(&self) -> Result<Vec<(WorkspaceId, Option<u32>)>> {
        let rows: Vec<(i64, Option<i64>)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT id, retention_days FROM workspaces ORDER BY id")
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, d)| (WorkspaceId(id), d.and_then(|d| u32::try_from(d).ok())))
            .collect())
    }

    /// Sets (or clears, `None`) the workspace's alert webhook and appends `entry` to its audit
    /// log in the same transaction.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown workspace; [`Error::InvalidJson`] for an entry whose
    /// request is not JSON; database errors.
    pub async fn set_alert_webhook_as(
        &self,
        workspace: WorkspaceId,
        webhook: Option<&str>,
        now: DateTime<Utc>,
        entry: &NewAuditEntry,
    ) -> Result<()> {
        self.set_setting_as(
            workspace,
            "UPDATE workspaces SET alert_webhook_url = $2 WHERE id = $1",
            Value::Text(webhook),
            now,
            entry,
        )
        .await
    }

    /// Sets (or clears, `None`) the workspace's retention in days and appends `entry` to its
    /// audit log in the same transaction.
    ///
    /// # Errors
    /// As [`Store::set_alert_webhook_as`].
    pub async fn set_retention_as(
        &self,
        workspace: WorkspaceId,
        days: Option<u32>,
        now: DateTime<Utc>,
        entry: &NewAuditEntry,
    ) -> Result<()> {
        self.set_setting_as(
            workspace,
            "UPDATE workspaces SET retention_days = $2 WHERE id = $1",
            Value::Int(days.map(i64::from)),
            now,
            entry,
        )
        .await
    }

    async fn set_setting_as(
        &self,
        workspace: WorkspaceId,
        sql: &str,
        value: Value<'_>,
        now: DateTime<Utc>,
        entry: &NewAuditEntry,
    ) -> Result<()> {
        check_entry(entry)?;
        let appender = self.audit_appender();
        with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            let q = sqlx::query(sql).bind(workspace.0);
            let q = match value {
                Value::Text(t) => q.bind(t),
                Value::Int(n) => q.bind(n),
            };
            if q.execute(&mut *tx).await?.rows_affected() == 0 {
                return Err(Error::NotFound);
            }
            append_in_tx!(tx, appender, workspace, now, entry);
            tx.commit().await?;
            Ok(())
        })
    }

    /// The retention sweep of one workspace: deletes its operations started before `cutoff`
    /// and its dead letters replayed or discarded before it (open ones stay, whatever their
    /// age), in chunks. Alerts about a deleted dead letter stay, without the link. The audit
    /// log is never touched.
    ///
    /// # Errors
    /// Database errors (what was deleted before stays deleted).
    pub async fn delete_expired(
        &self,
        workspace: WorkspaceId,
        cutoff: DateTime<Utc>,
    ) -> Result<Expired> {
        let mut expired = Expired::default();
        let chunk = u64::try_from(DELETE_CHUNK).unwrap_or(u64::MAX);
        loop {
            let n = with_pool!(self, pool => {
                sqlx::query(
                    "DELETE FROM operations WHERE id IN (SELECT id FROM operations \
                     WHERE workspace_id = $1 AND started_at < $2 LIMIT $3)",
                )
                .bind(workspace.0)
                .bind(ms(cutoff))
                .bind(DELETE_CHUNK)
                .execute(pool)
                .await?
                .rows_affected()
            });
            expired.operations += n;
            if n < chunk {
                break;
            }
        }
        let resolved = "SELECT id FROM dead_letters WHERE workspace_id = $1 \
            AND status IN ('replayed', 'discarded') AND updated_at < $2 ORDER BY id LIMIT $3";
        loop {
            let n = with_pool!(self, pool => {
                let mut tx = crate::WritePool::begin_write(pool).await?;
                let ids: Vec<(i64,)> = sqlx::query_as(resolved)
                    .bind(workspace.0)
                    .bind(ms(cutoff))
                    .bind(DELETE_CHUNK)
                    .fetch_all(&mut *tx)
                    .await?;
                if let (Some((first,)), Some((last,))) = (ids.first(), ids.last()) {
                    // NB: an alert refers to its dead letter; it outlives it, unlinked.
                    sqlx::query(&format!(
                        "UPDATE alerts SET dead_letter_id = NULL WHERE dead_letter_id IN \
                         ({resolved_in})",
                        resolved_in = "SELECT id FROM dead_letters WHERE workspace_id = $1 \
                           AND status IN ('replayed', 'discarded') AND updated_at < $2 \
                           AND id BETWEEN $3 AND $4"
                    ))
                    .bind(workspace.0)
                    .bind(ms(cutoff))
                    .bind(first)
                    .bind(last)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "DELETE FROM dead_letters WHERE workspace_id = $1 \
                         AND status IN ('replayed', 'discarded') AND updated_at < $2 \
                         AND id BETWEEN $3 AND $4",
                    )
                    .bind(workspace.0)
                    .bind(ms(cutoff))
                    .bind(first)
                    .bind(last)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                ids.len() as u64
            });
            expired.dead_letters += n;
            if n < chunk {
                return Ok(expired);
            }
        }
    }
}
