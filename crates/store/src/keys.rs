//! Workspaces (tenants) and their API keys.
//!
//! An API key is `cf_` followed by 48 hex digits (192 random bits). Only its SHA-256 (hex) and a
//! short display prefix are stored; the plaintext is returned once, by [`Store::create_api_key`].
//! A plain SHA-256 is enough here (no salt, no slow hash) because the key is random and long, not
//! a password; lookup by hash keeps [`Store::authenticate`] a single indexed read.

use std::fmt;

use chrono::{DateTime, Utc};
use rand::RngCore;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::{NewAuditEntry, append_in_tx, check_entry};
use crate::{Error, Result, Store, from_ms, from_ms_opt, ms, with_pool};

/// The id of a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WorkspaceId(pub i64);

impl fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The id of an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApiKeyId(pub i64);

/// A workspace: the tenant that owns keys, jobs, dead letters and audit entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Workspace {
    /// Its id.
    pub id: WorkspaceId,
    /// Its display name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// An API key as stored (never the plaintext).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    /// Its id.
    pub id: ApiKeyId,
    /// The workspace it opens.
    pub workspace: WorkspaceId,
    /// Its name, given at creation.
    pub name: String,
    /// The first characters of the key (`cf_` and 6 more), for display.
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key just created: the stored record and the plaintext, which is shown once and never again.
pub struct CreatedApiKey {
    /// The stored record.
    pub key: ApiKey,
    /// The plaintext key (`cf_...`).
    pub plaintext: SecretString,
}

impl fmt::Debug for CreatedApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedApiKey")
            .field("key", &self.key)
            .field("plaintext", &"[redacted]")
            .finish()
    }
}

/// The SHA-256 of a key, in lowercase hex: what is stored and looked up.
pub fn hash_key(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

/// Lowercase hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[derive(sqlx::FromRow)]
struct WorkspaceRow {
    id: i64,
    name: String,
    created_at: i64,
}

impl WorkspaceRow {
    fn into_workspace(self) -> Result<Workspace> {
        Ok(Workspace {
            id: WorkspaceId(self.id),
            name: self.name,
            created_at: from_ms(self.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: i64,
    workspace_id: i64,
    name: String,
    prefix: String,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl ApiKeyRow {
    fn into_key(self) -> Result<ApiKey> {
        Ok(ApiKey {
            id: ApiKeyId(self.id),
            workspace: WorkspaceId(self.workspace_id),
            name: self.name,
            prefix: self.prefix,
            created_at: from_ms(self.created_at)?,
            revoked_at: from_ms_opt(self.revoked_at)?,
        })
    }
}

const KEY_COLUMNS: &str = "id, workspace_id, name, prefix, created_at, revoked_at";

impl Store {
    /// Creates a workspace (and the head of its audit chain).
    ///
    /// # Errors
    /// Database errors.
    pub async fn create_workspace(&self, name: &str, now: DateTime<Utc>) -> Result<Workspace> {
        self.create_workspace_impl(name, now, None::<fn(&Workspace) -> NewAuditEntry>)
            .await
    }

    /// As [`Store::create_workspace`], and appends the entry `entry` makes of the new workspace
    /// as the first of its audit chain, in the same transaction.
    ///
    /// # Errors
    /// As [`Store::create_workspace`]; [`Error::InvalidJson`] for an entry that is not JSON.
    pub async fn create_workspace_audited(
        &self,
        name: &str,
        now: DateTime<Utc>,
        entry: impl FnOnce(&Workspace) -> NewAuditEntry,
    ) -> Result<Workspace> {
        self.create_workspace_impl(name, now, Some(entry)).await
    }

    async fn create_workspace_impl(
        &self,
        name: &str,
        now: DateTime<Utc>,
        entry: Option<impl FnOnce(&Workspace) -> NewAuditEntry>,
    ) -> Result<Workspace> {
        let appender = self.audit_appender();
        with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            let row: WorkspaceRow = sqlx::query_as(
                "INSERT INTO workspaces (name, created_at) VALUES ($1, $2) RETURNING id, name, created_at",
            )
            .bind(name)
            .bind(ms(now))
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO audit_heads (workspace_id, seq, hash) VALUES ($1, 0, $2)")
                .bind(row.id)
                .bind(crate::audit::GENESIS_HEX)
                .execute(&mut *tx)
                .await?;
            let ws = row.into_workspace()?;
            if let Some(make) = entry {
                let entry = make(&ws);
                check_entry(&entry)?;
                append_in_tx!(tx, appender, ws.id, now, &entry);
            }
            tx.commit().await?;
            Ok(ws)
        })
    }

    /// The workspace with this id.
    ///
    /// # Errors
    /// Database errors.
    pub async fn workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>> {
        with_pool!(self, pool => {
            let row: Option<WorkspaceRow> =
                sqlx::query_as("SELECT id, name, created_at FROM workspaces WHERE id = $1")
                    .bind(id.0)
                    .fetch_optional(pool)
                    .await?;
            row.map(WorkspaceRow::into_workspace).transpose()
        })
    }

    /// The oldest workspace with this name.
    ///
    /// # Errors
    /// Database errors.
    pub async fn workspace_by_name(&self, name: &str) -> Result<Option<Workspace>> {
        with_pool!(self, pool => {
            let row: Option<WorkspaceRow> = sqlx::query_as(
                "SELECT id, name, created_at FROM workspaces WHERE name = $1 ORDER BY id LIMIT 1",
            )
            .bind(name)
            .fetch_optional(pool)
            .await?;
            row.map(WorkspaceRow::into_workspace).transpose()
        })
    }

    /// Creates an API key for `workspace`; the plaintext is in the result and nowhere else.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown workspace; database errors.
    pub async fn create_api_key(
        &self,
        workspace: WorkspaceId,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<CreatedApiKey> {
        self.create_api_key_impl(workspace, name, now, None::<fn(&ApiKey) -> NewAuditEntry>)
            .await
    }

    /// As [`Store::create_api_key`], and appends the entry `entry` makes of the stored key
    /// (never given the plaintext) to the workspace's audit log in the same transaction.
    ///
    /// # Errors
    /// As [`Store::create_api_key`]; [`Error::InvalidJson`] for an entry that is not JSON.
    pub async fn create_api_key_audited(
        &self,
        workspace: WorkspaceId,
        name: &str,
        now: DateTime<Utc>,
        entry: impl FnOnce(&ApiKey) -> NewAuditEntry,
    ) -> Result<CreatedApiKey> {
        self.create_api_key_impl(workspace, name, now, Some(entry))
            .await
    }

    async fn create_api_key_impl(
        &self,
        workspace: WorkspaceId,
        name: &str,
        now: DateTime<Utc>,
        entry: Option<impl FnOnce(&ApiKey) -> NewAuditEntry>,
    ) -> Result<CreatedApiKey> {
        if self.workspace(workspace).await?.is_none() {
            return Err(Error::NotFound);
        }
        let mut raw = [0u8; 24];
        rand::rng().fill_bytes(&mut raw);
        let plaintext = format!("cf_{}", hex(&raw));
        let prefix = plaintext[..9].to_owned();
        let sql = format!(
            "INSERT INTO api_keys (workspace_id, name, prefix, key_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {KEY_COLUMNS}"
        );
        let appender = self.audit_appender();
        let key = with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            let row: ApiKeyRow = sqlx::query_as(&sql)
                .bind(workspace.0)
                .bind(name)
                .bind(&prefix)
                .bind(hash_key(&plaintext))
                .bind(ms(now))
                .fetch_one(&mut *tx)
                .await?;
            let key = row.into_key()?;
            if let Some(make) = entry {
                let entry = make(&key);
                check_entry(&entry)?;
                append_in_tx!(tx, appender, workspace, now, &entry);
            }
            tx.commit().await?;
            key
        });
        Ok(CreatedApiKey {
            key,
            plaintext: SecretString::from(plaintext),
        })
    }

    /// The workspace and key id a plaintext key opens, if it exists and is not revoked.
    ///
    /// # Errors
    /// Database errors.
    pub async fn authenticate(&self, key: &str) -> Result<Option<(WorkspaceId, ApiKeyId)>> {
        if !key.starts_with("cf_") {
            return Ok(None);
        }
        let row: Option<(i64, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT workspace_id, id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
            )
            .bind(hash_key(key))
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(w, k)| (WorkspaceId(w), ApiKeyId(k))))
    }

    /// The workspace's API keys, oldest first, revoked ones included.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_api_keys(&self, workspace: WorkspaceId) -> Result<Vec<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE workspace_id = $1 ORDER BY id");
        let rows: Vec<ApiKeyRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(workspace.0).fetch_all(pool).await?
        });
        rows.into_iter().map(ApiKeyRow::into_key).collect()
    }

    /// Revokes a key of this workspace. Revoking a revoked key keeps the first revocation time.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the workspace has no such key; database errors.
    pub async fn revoke_api_key(
        &self,
        workspace: WorkspaceId,
        id: ApiKeyId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.revoke_api_key_impl(workspace, id, now, None).await
    }

    /// As [`Store::revoke_api_key`], and appends `entry` to the workspace's audit log in the
    /// same transaction.
    ///
    /// # Errors
    /// As [`Store::revoke_api_key`]; [`Error::InvalidJson`] for an entry that is not JSON.
    pub async fn revoke_api_key_audited(
        &self,
        workspace: WorkspaceId,
        id: ApiKeyId,
        now: DateTime<Utc>,
        entry: &NewAuditEntry,
    ) -> Result<()> {
        self.revoke_api_key_impl(workspace, id, now, Some(entry))
            .await
    }

    async fn revoke_api_key_impl(
        &self,
        workspace: WorkspaceId,
        id: ApiKeyId,
        now: DateTime<Utc>,
        entry: Option<&NewAuditEntry>,
    ) -> Result<()> {
        if let Some(e) = entry {
            check_entry(e)?;
        }
        let appender = self.audit_appender();
        with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            let done = sqlx::query(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3) \
                 WHERE workspace_id = $1 AND id = $2",
            )
            .bind(workspace.0)
            .bind(id.0)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done == 0 {
                return Err(Error::NotFound);
            }
            if let Some(entry) = entry {
                append_in_tx!(tx, appender, workspace, now, entry);
            }
            tx.commit().await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_key_is_sha256_hex() {
        let cases = [
            (
                "",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ),
            (
                "abc",
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(hash_key(input), want, "{input:?}");
        }
    }
}
