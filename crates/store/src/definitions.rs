//! Named JSON definitions per workspace: agents (which actions and objects each may use) and
//! custom actions. The store keeps them as text; the service validates them before saving.
//! The `*_audited` variants write the change and its audit entry in one transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::{NewAuditEntry, append_in_tx, check_entry};
use crate::{Error, Result, Store, WorkspaceId, from_ms, ms, with_pool};

/// Which kind of definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefinitionKind {
    /// An agent: enabled actions, allowed objects, confirmation overrides.
    Agent,
    /// A custom action: method, endpoint and body templates, parameters.
    CustomAction,
}

impl DefinitionKind {
    fn table(self) -> &'static str {
        match self {
            Self::Agent => "agents",
            Self::CustomAction => "custom_actions",
        }
    }
}

/// A stored definition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Definition {
    /// Its name, unique per workspace and kind.
    pub name: String,
    /// The definition (JSON).
    pub definition: serde_json::Value,
    /// When it was last saved.
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    name: String,
    definition: String,
    updated_at: i64,
}

impl Row {
    fn into_definition(self) -> Result<Definition> {
        Ok(Definition {
            name: self.name,
            definition: serde_json::from_str(&self.definition)
                .map_err(|_| Error::Corrupt("definition is not JSON"))?,
            updated_at: from_ms(self.updated_at)?,
        })
    }
}

impl Store {
    /// Saves (creates or replaces) the definition `name` of `kind` in `workspace`.
    ///
    /// # Errors
    /// Database errors (an unknown workspace is a constraint error).
    pub async fn put_definition(
        &self,
        kind: DefinitionKind,
        workspace: WorkspaceId,
        name: &str,
        definition: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.put_definition_impl(kind, workspace, name, definition, now, None)
            .await
    }

    /// As [`Store::put_definition`], and appends `entry` to the workspace's audit log in the
    /// same transaction: the definition is saved with its entry or not at all.
    ///
    /// # Errors
    /// As [`Store::put_definition`]; [`Error::InvalidJson`] for an entry that is not JSON;
    /// [`Error::NotFound`] for an unknown workspace.
    pub async fn put_definition_audited(
        &self,
        kind: DefinitionKind,
        workspace: WorkspaceId,
        name: &str,
        definition: &serde_json::Value,
        now: DateTime<Utc>,
        entry: &NewAuditEntry,
    ) -> Result<()> {
        self.put_definition_impl(kind, workspace, name, definition, now, Some(entry))
            .await
    }

    async fn put_definition_impl(
        &self,
        kind: DefinitionKind,
        workspace: WorkspaceId,
        name: &str,
        definition: &serde_json::Value,
        now: DateTime<Utc>,
        entry: Option<&NewAuditEntry>,
    ) -> Result<()> {
        if let Some(e) = entry {
            check_entry(e)?;
        }
        let sql = format!(
            "INSERT INTO {} (workspace_id, name, definition, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (workspace_id, name) DO UPDATE SET definition = excluded.definition, \
             updated_at = excluded.updated_at",
            kind.table()
        );
        let text = definition.to_string();
        let appender = self.audit_appender();
        with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            sqlx::query(&sql)
                .bind(workspace.0)
                .bind(name)
                .bind(&text)
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

    /// The definition `name` of `kind` in `workspace`.
    ///
    /// # Errors
    /// Database errors; [`Error::Corrupt`] for a stored value that is not JSON.
    pub async fn definition(
        &self,
        kind: DefinitionKind,
        workspace: WorkspaceId,
        name: &str,
    ) -> Result<Option<Definition>> {
        let sql = format!(
            "SELECT name, definition, updated_at FROM {} WHERE workspace_id = $1 AND name = $2",
            kind.table()
        );
        with_pool!(self, pool => {
            let row: Option<Row> = sqlx::query_as(&sql)
                .bind(workspace.0)
                .bind(name)
                .fetch_optional(pool)
                .await?;
            row.map(Row::into_definition).transpose()
        })
    }

    /// Every definition of `kind` in `workspace`, by name.
    ///
    /// # Errors
    /// Database errors; [`Error::Corrupt`] for a stored value that is not JSON.
    pub async fn definitions(
        &self,
        kind: DefinitionKind,
        workspace: WorkspaceId,
    ) -> Result<Vec<Definition>> {
        let sql = format!(
            "SELECT name, definition, updated_at FROM {} WHERE workspace_id = $1 ORDER BY name",
            kind.table()
        );
        with_pool!(self, pool => {
            let rows: Vec<Row> = sqlx::query_as(&sql)
                .bind(workspace.0)
                .fetch_all(pool)
                .await?;
            rows.into_iter().map(Row::into_definition).collect()
        })
    }

    /// Deletes the definition `name` of `kind` in `workspace`.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is none; database errors.
    pub async fn delete_definition(
        &self,
        kind: DefinitionKind,
        workspace: WorkspaceId,
        name: &str,
    ) -> Result<()> {
        self.delete_definition_impl(kind, workspace, name, None)
            .await
    }

    /// As [`Store::delete_definition`], and appends `entry` (at `now`) to the workspace's audit
    /// log in the same transaction. Nothing is appended when there was nothing to delete.
    ///
    /// # Errors
    /// As [`Store::delete_definition`]; [`Error::InvalidJson`] for an entry that is not JSON.
    pub async fn delete_definition_audited(
        &self,
        kind: DefinitionKind,
        workspace: WorkspaceId,
        name: &str,
        now: DateTime<Utc>,
        entry: &NewAuditEntry,
    ) -> Result<()> {
        self.delete_definition_impl(kind, workspace, name, Some((now, entry)))
            .await
    }

    async fn delete_definition_impl(
        &self,
        kind: DefinitionKind,
        workspace: WorkspaceId,
        name: &str,
        audit: Option<(DateTime<Utc>, &NewAuditEntry)>,
    ) -> Result<()> {
        if let Some((_, e)) = audit {
            check_entry(e)?;
        }
        let sql = format!(
            "DELETE FROM {} WHERE workspace_id = $1 AND name = $2",
            kind.table()
        );
        let appender = self.audit_appender();
        with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            let done = sqlx::query(&sql)
                .bind(workspace.0)
                .bind(name)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(Error::NotFound);
            }
            if let Some((now, entry)) = audit {
                append_in_tx!(tx, appender, workspace, now, entry);
            }
            tx.commit().await?;
            Ok(())
        })
    }
}
