//! Intent maps, one per workspace: the map as JSON text, whether it is active, and the report
//! of its last check. The map's meaning belongs to `callforce-intents`; the store only keeps it.
//! The `*_audited` variants write the change and its audit entry in one transaction.
//!
//! A live map found broken is deactivated ([`Store::deactivate_intent_map`]) or alerted about
//! ([`Store::alert_intent_map_once`]) only if it is still the active map of the version the
//! caller checked: several instances on one database finding the same break alert once.

use chrono::{DateTime, Utc};

use crate::alerts::{INSERT_ALERT, NewAlert};
use crate::audit::{NewAuditEntry, append_in_tx, check_entry};
use crate::keys::WorkspaceId;
use crate::{Backend, Error, Result, Store, from_ms, ms, with_pool};

/// A workspace's stored intent map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIntentMap {
    /// The workspace.
    pub workspace: WorkspaceId,
    /// The map (JSON).
    pub map: String,
    /// Whether it passed its check and is in use.
    pub active: bool,
    /// The report of its last check (JSON), if it was checked.
    pub report: Option<String>,
    /// When it was last written.
    pub updated_at: DateTime<Utc>,
}

impl Store {
    /// Stores `workspace`'s intent map, replacing the previous one.
    ///
    /// # Errors
    /// [`Error::InvalidJson`] when `map` or `report` is not JSON; database errors.
    pub async fn put_intent_map(
        &self,
        workspace: WorkspaceId,
        map: &str,
        active: bool,
        report: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.put_intent_map_impl(workspace, map, active, report, now, None)
            .await
    }

    /// As [`Store::put_intent_map`], and appends `entry` to the workspace's audit log in the
    /// same transaction.
    ///
    /// # Errors
    /// As [`Store::put_intent_map`]; [`Error::InvalidJson`] for an entry that is not JSON;
    /// [`Error::NotFound`] for an unknown workspace.
    pub async fn put_intent_map_audited(
        &self,
        workspace: WorkspaceId,
        map: &str,
        active: bool,
        report: Option<&str>,
        now: DateTime<Utc>,
        entry: &NewAuditEntry,
    ) -> Result<()> {
        self.put_intent_map_impl(workspace, map, active, report, now, Some(entry))
            .await
    }

    async fn put_intent_map_impl(
        &self,
        workspace: WorkspaceId,
        map: &str,
        active: bool,
        report: Option<&str>,
        now: DateTime<Utc>,
        entry: Option<&NewAuditEntry>,
    ) -> Result<()> {
        if serde_json::from_str::<serde_json::Value>(map).is_err() {
            return Err(Error::InvalidJson("intent map"));
        }
        if report.is_some_and(|r| serde_json::from_str::<serde_json::Value>(r).is_err()) {
            return Err(Error::InvalidJson("intent map report"));
        }
        if let Some(e) = entry {
            check_entry(e)?;
        }
        let appender = self.audit_appender();
        with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            sqlx::query(
                "INSERT INTO intent_maps (workspace_id, map, active, report, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (workspace_id) DO UPDATE SET map = excluded.map, \
                 active = excluded.active, report = excluded.report, updated_at = excluded.updated_at",
            )
            .bind(workspace.0)
            .bind(map)
            .bind(active)
            .bind(report)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
            if let Some(entry) = entry {
                append_in_tx!(tx, appender, workspace, now, entry);
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Deactivates `workspace`'s intent map if it is still the active map stored at `version`
    /// (its `updated_at`), with `report` (the check it failed), and in the same transaction
    /// appends `entry` to the audit log and records `alert`. Returns whether it did: `false`
    /// when the map was deactivated or replaced meanwhile (by another instance on the same
    /// database, say), and then nothing is written. However many instances find the same map
    /// broken at once, exactly one deactivates it and alerts.
    ///
    /// # Errors
    /// [`Error::InvalidJson`] for a report or entry that is not JSON; database errors.
    pub async fn deactivate_intent_map(
        &self,
        workspace: WorkspaceId,
        version: DateTime<Utc>,
        report: &str,
        now: DateTime<Utc>,
        entry: &NewAuditEntry,
        alert: &NewAlert,
    ) -> Result<bool> {
        if serde_json::from_str::<serde_json::Value>(report).is_err() {
            return Err(Error::InvalidJson("intent map report"));
        }
        check_entry(entry)?;
        let details =
            serde_json::to_string(&alert.details).map_err(|_| Error::Corrupt("alert details"))?;
        let appender = self.audit_appender();
        with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            // NB: on PostgreSQL a second instance's UPDATE waits for the first one's row lock,
            // then evaluates its WHERE again on the committed row: no longer active, no change.
            let done = sqlx::query(
                "UPDATE intent_maps SET active = $2, report = $3, updated_at = $4 \
                 WHERE workspace_id = $1 AND active = $5 AND updated_at = $6",
            )
            .bind(workspace.0)
            .bind(false)
            .bind(report)
            .bind(ms(now))
            .bind(true)
            .bind(ms(version))
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            append_in_tx!(tx, appender, workspace, now, entry);
            sqlx::query(INSERT_ALERT)
                .bind(workspace.0)
                .bind(&alert.kind)
                .bind(None::<i64>)
                .bind(&details)
                .bind(ms(now))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Records `alert` about `workspace`'s intent map stored at `version` (its `updated_at`),
    /// unless that map is no longer the active one, or an alert of the same kind and details
    /// was recorded since `version` (before a restart, or by another instance on the same
    /// database). Returns whether it recorded it. The look and the insert hold the map's row
    /// (on SQLite, the write lock), so instances that find the same problem at once record
    /// it once between them.
    ///
    /// # Errors
    /// Database errors.
    pub async fn alert_intent_map_once(
        &self,
        workspace: WorkspaceId,
        version: DateTime<Utc>,
        alert: &NewAlert,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let details =
            serde_json::to_string(&alert.details).map_err(|_| Error::Corrupt("alert details"))?;
        let lock = match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE",
        };
        let sql = format!(
            "SELECT workspace_id FROM intent_maps \
             WHERE workspace_id = $1 AND active = $2 AND updated_at = $3 {lock}"
        );
        with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            let live: Option<(i64,)> = sqlx::query_as(&sql)
                .bind(workspace.0)
                .bind(true)
                .bind(ms(version))
                .fetch_optional(&mut *tx)
                .await?;
            if live.is_none() {
                return Ok(false);
            }
            let sent: Vec<(String,)> = sqlx::query_as(
                "SELECT details FROM alerts WHERE workspace_id = $1 AND kind = $2 AND created_at >= $3",
            )
            .bind(workspace.0)
            .bind(&alert.kind)
            .bind(ms(version))
            .fetch_all(&mut *tx)
            .await?;
            let known = sent.iter().any(|(d,)| {
                serde_json::from_str::<serde_json::Value>(d).is_ok_and(|d| d == alert.details)
            });
            if known {
                return Ok(false);
            }
            sqlx::query(INSERT_ALERT)
                .bind(workspace.0)
                .bind(&alert.kind)
                .bind(None::<i64>)
                .bind(&details)
                .bind(ms(now))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The workspaces whose stored intent map is active, in id order: the maps a starting
    /// service loads and polls before any call uses them.
    ///
    /// # Errors
    /// Database errors.
    pub async fn active_intent_map_workspaces(&self) -> Result<Vec<WorkspaceId>> {
        with_pool!(self, pool => {
            let rows: Vec<(i64,)> = sqlx::query_as(
                "SELECT workspace_id FROM intent_maps WHERE active = $1 ORDER BY workspace_id",
            )
            .bind(true)
            .fetch_all(pool)
            .await?;
            Ok(rows.into_iter().map(|(w,)| WorkspaceId(w)).collect())
        })
    }

    /// `workspace`'s intent map, if it has one.
    ///
    /// # Errors
    /// Database errors.
    pub async fn intent_map(&self, workspace: WorkspaceId) -> Result<Option<StoredIntentMap>> {
        with_pool!(self, pool => {
            let row: Option<(String, bool, Option<String>, i64)> = sqlx::query_as(
                "SELECT map, active, report, updated_at FROM intent_maps WHERE workspace_id = $1",
            )
            .bind(workspace.0)
            .fetch_optional(pool)
            .await?;
            row.map(|(map, active, report, at)| {
                Ok(StoredIntentMap {
                    workspace,
                    map,
                    active,
                    report,
                    updated_at: from_ms(at)?,
                })
            })
            .transpose()
        })
    }
}
