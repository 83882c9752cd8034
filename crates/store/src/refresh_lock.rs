//! One refresh at a time per connection across every instance sharing a PostgreSQL database.
//!
//! [`Store::lock_connection_refresh`] opens a transaction, takes a transaction-scoped advisory
//! lock derived from the connection's id (`pg_advisory_xact_lock`) and reads the connection's
//! sealed secrets as they are now. The caller compares them with its own tokens: when another
//! instance refreshed while it waited, it takes the stored tokens and [`RefreshLock::release`]s;
//! otherwise it refreshes at the org and [`RefreshLock::save`]s the new tokens in the same
//! transaction. The lock is released when the transaction ends (commit, rollback, a dropped
//! guard, or a lost database connection), so a killed instance never holds it.

use std::fmt;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::{Postgres, Transaction};

use crate::keys::WorkspaceId;
use crate::{Error, Inner, Result, Store, ms};

/// How long an instance waits for another's refresh of the same connection before giving up.
const LOCK_TIMEOUT: &str = "30s";

/// The advisory lock key of a connection: the first 8 bytes of SHA-256 over a domain tag and
/// the id, so no other use of advisory locks in the database collides with it by accident.
pub fn refresh_lock_key(connection_id: &str) -> i64 {
    let mut h = Sha256::new();
    h.update(b"callforce.refresh.v1\0");
    h.update(connection_id.as_bytes());
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    i64::from_be_bytes(first)
}

/// A held refresh lock of one connection and its secrets as read under the lock.
pub struct RefreshLock {
    tx: Transaction<'static, Postgres>,
    workspace: WorkspaceId,
    id: String,
    secrets: Vec<u8>,
    key_version: i64,
    instance_url: String,
}

impl fmt::Debug for RefreshLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshLock")
            .field("workspace", &self.workspace)
            .field("id", &self.id)
            .field("key_version", &self.key_version)
            .finish_non_exhaustive()
    }
}

impl RefreshLock {
    /// The connection's sealed secrets as stored when the lock was taken.
    pub fn secrets(&self) -> &[u8] {
        &self.secrets
    }

    /// The connection's instance URL as stored when the lock was taken.
    pub fn instance_url(&self) -> &str {
        &self.instance_url
    }

    /// The key version that sealed [`RefreshLock::secrets`].
    pub fn key_version(&self) -> i64 {
        self.key_version
    }

    /// Writes the new sealed secrets and commits, which releases the lock. Secrets sealed
    /// under a key version older than the newest are refused, as by
    /// [`Store::save_connection_secrets`].
    ///
    /// # Errors
    /// [`Error::InvalidState`] for an outdated key version (nothing is written); database
    /// errors (nothing is written).
    pub async fn save(
        mut self,
        secrets: &[u8],
        key_version: i64,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE connections SET secrets = $3, key_version = $4, updated_at = $5 \
             WHERE workspace_id = $1 AND id = $2 \
             AND $4 >= (SELECT COALESCE(MAX(version), 0) FROM vault_keys)",
        )
        .bind(self.workspace.0)
        .bind(&self.id)
        .bind(secrets)
        .bind(key_version)
        .bind(ms(now))
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        if done != 1 {
            self.tx.rollback().await?;
            return Err(Error::InvalidState(
                "the master key was rotated since this process started; restart it with the new key",
            ));
        }
        self.tx.commit().await?;
        Ok(())
    }

    /// Releases the lock without writing anything.
    ///
    /// # Errors
    /// Database errors (the lock goes with the connection's transaction all the same).
    pub async fn release(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

impl Store {
    /// Takes the connection's refresh lock shared by every instance on this database, waiting
    /// (up to 30 s) while another instance holds it, and reads its sealed secrets under it.
    ///
    /// Only PostgreSQL shares a database between instances; on SQLite the one process
    /// serialises its refreshes itself.
    ///
    /// # Errors
    /// [`Error::InvalidState`] on SQLite; [`Error::NotFound`] when the workspace has no such
    /// connection; database errors, a lock wait beyond 30 s included.
    pub async fn lock_connection_refresh(
        &self,
        workspace: WorkspaceId,
        id: &str,
    ) -> Result<RefreshLock> {
        let Inner::Postgres(pool) = &self.inner else {
            return Err(Error::InvalidState(
                "refresh locks across instances need PostgreSQL",
            ));
        };
        let mut tx = pool.begin().await?;
        sqlx::query(&format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(refresh_lock_key(id))
            .execute(&mut *tx)
            .await?;
        let row: Option<(Vec<u8>, i64, String)> = sqlx::query_as(
            "SELECT secrets, key_version, instance_url FROM connections \
             WHERE workspace_id = $1 AND id = $2",
        )
        .bind(workspace.0)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((secrets, key_version, instance_url)) = row else {
            tx.rollback().await?;
            return Err(Error::NotFound);
        };
        Ok(RefreshLock {
            tx,
            workspace,
            id: id.to_owned(),
            secrets,
            key_version,
            instance_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::refresh_lock_key;

    #[test]
    fn lock_keys_differ_per_connection_and_are_stable() {
        assert_eq!(refresh_lock_key("con_1"), refresh_lock_key("con_1"));
        assert_ne!(refresh_lock_key("con_1"), refresh_lock_key("con_2"));
    }
}
