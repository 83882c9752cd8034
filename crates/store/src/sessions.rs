//! Sessions of the admin console: a browser signed in with an API key of a workspace.
//!
//! Only the SHA-256 of a session token is stored (a token is random and long, like an API key),
//! with the workspace, the key that signed in (none for the key from the environment), the
//! session's CSRF token and its expiry. A session ends when it expires, when it is ended (sign
//! out), or when the key that signed in is revoked.
//!
//! A one-time sign-in link (`callforce console-link`) is a row of the same table with no CSRF
//! token: never a session itself, it is taken (deleted) by the one sign-in it opens.

use chrono::{DateTime, Utc};

use crate::keys::hash_key;
use crate::{ApiKeyId, Result, Store, WorkspaceId, from_ms, ms, with_pool};

/// A console session that is still valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// The workspace it shows.
    pub workspace: WorkspaceId,
    /// The key that signed in (`None`: the key from the environment).
    pub key: Option<ApiKeyId>,
    /// The token every form of the session must carry.
    pub csrf: String,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

impl Store {
    /// Records a console session under `token` (stored hashed); sessions expired by `now` are
    /// deleted on the way.
    ///
    /// # Errors
    /// Database errors.
    pub async fn create_console_session(
        &self,
        token: &str,
        session: &ConsoleSession,
        now: DateTime<Utc>,
    ) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1")
                .bind(ms(now))
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO console_sessions \
                 (token_hash, workspace_id, api_key_id, csrf, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(hash_key(token))
            .bind(session.workspace.0)
            .bind(session.key.map(|k| k.0))
            .bind(&session.csrf)
            .bind(ms(now))
            .bind(ms(session.expires_at))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The session `token` opens at `now`: not expired, not ended, and signed in with a key
    /// that is not revoked.
    ///
    /// # Errors
    /// Database errors.
    pub async fn console_session(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ConsoleSession>> {
        let row: Option<(i64, Option<i64>, String, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT s.workspace_id, s.api_key_id, s.csrf, s.expires_at \
                 FROM console_sessions s LEFT JOIN api_keys k ON k.id = s.api_key_id \
                 WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.csrf <> '' \
                 AND (s.api_key_id IS NULL OR k.revoked_at IS NULL)",
            )
            .bind(hash_key(token))
            .bind(ms(now))
            .fetch_optional(pool)
            .await?
        });
        row.map(|(ws, key, csrf, expires)| {
            Ok(ConsoleSession {
                workspace: WorkspaceId(ws),
                key: key.map(ApiKeyId),
                csrf,
                expires_at: from_ms(expires)?,
            })
        })
        .transpose()
    }

    /// Ends the session `token` (signing out); ending an unknown one does nothing.
    ///
    /// # Errors
    /// Database errors.
    pub async fn end_console_session(&self, token: &str) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1")
                .bind(hash_key(token))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Records a one-time sign-in link under `token` (stored hashed) for `key` of `workspace`,
    /// valid until `expires_at`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn create_console_link(
        &self,
        token: &str,
        workspace: WorkspaceId,
        key: ApiKeyId,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO console_sessions \
                 (token_hash, workspace_id, api_key_id, csrf, created_at, expires_at) \
                 VALUES ($1, $2, $3, '', $4, $5)",
            )
            .bind(hash_key(token))
            .bind(workspace.0)
            .bind(key.0)
            .bind(ms(now))
            .bind(ms(expires_at))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Takes the sign-in link `token` at `now`: its workspace and key when it is unused,
    /// unexpired and its key is not revoked. It is gone after this, whatever the answer.
    ///
    /// # Errors
    /// Database errors.
    pub async fn take_console_link(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(WorkspaceId, ApiKeyId)>> {
        let row: Option<(i64, Option<i64>, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "DELETE FROM console_sessions WHERE token_hash = $1 AND csrf = '' \
                 RETURNING workspace_id, api_key_id, expires_at",
            )
            .bind(hash_key(token))
            .fetch_optional(pool)
            .await?
        });
        let Some((ws, Some(key), expires)) = row else {
            return Ok(None);
        };
        if expires <= ms(now) {
            return Ok(None);
        }
        let revoked = self
            .list_api_keys(WorkspaceId(ws))
            .await?
            .iter()
            .any(|k| k.id.0 == key && k.revoked_at.is_some());
        Ok((!revoked).then_some((WorkspaceId(ws), ApiKeyId(key))))
    }
}
