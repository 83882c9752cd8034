//! Intent maps, one per workspace: the map as JSON text, whether it is active, and the report
//! of its last check. The map's meaning belongs to `callforce-intents`; the store only keeps it.
//! The `*_audited` variants write the change and its audit entry in one transaction.

use chrono::{DateTime, Utc};

use crate::audit::{NewAuditEntry, append_in_tx, check_entry, head_sql};
use crate::keys::WorkspaceId;
use crate::{Error, Result, Store, from_ms, ms, with_pool};

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
        let head_sql = head_sql(self.backend());
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
                append_in_tx!(tx, head_sql, workspace, now, entry);
            }
            tx.commit().await?;
            Ok(())
        })
    }

    /// Marks `workspace`'s intent map active or not, with the report of the check that decided.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the workspace has no map; database errors.
    pub async fn set_intent_map_state(
        &self,
        workspace: WorkspaceId,
        active: bool,
        report: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.set_intent_map_state_impl(workspace, active, report, now, None)
            .await
    }

    /// As [`Store::set_intent_map_state`], and appends `entry` to the workspace's audit log in
    /// the same transaction.
    ///
    /// # Errors
    /// As [`Store::set_intent_map_state`]; [`Error::InvalidJson`] for an entry that is not JSON.
    pub async fn set_intent_map_state_audited(
        &self,
        workspace: WorkspaceId,
        active: bool,
        report: &str,
        now: DateTime<Utc>,
        entry: &NewAuditEntry,
    ) -> Result<()> {
        self.set_intent_map_state_impl(workspace, active, report, now, Some(entry))
            .await
    }

    async fn set_intent_map_state_impl(
        &self,
        workspace: WorkspaceId,
        active: bool,
        report: &str,
        now: DateTime<Utc>,
        entry: Option<&NewAuditEntry>,
    ) -> Result<()> {
        if let Some(e) = entry {
            check_entry(e)?;
        }
        let head_sql = head_sql(self.backend());
        with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            let done = sqlx::query(
                "UPDATE intent_maps SET active = $2, report = $3, updated_at = $4 WHERE workspace_id = $1",
            )
            .bind(workspace.0)
            .bind(active)
            .bind(report)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Err(Error::NotFound);
            }
            if let Some(entry) = entry {
                append_in_tx!(tx, head_sql, workspace, now, entry);
            }
            tx.commit().await?;
            Ok(())
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
