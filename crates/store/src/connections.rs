//! Connections to orgs, one-time tokens (OAuth `state`s and connect links) and the vault's key
//! checks.
//!
//! The store never sees a secret in plain text: a connection's tokens, JWT key or client secret
//! arrive as one sealed blob (`secrets`, with the `key_version` of the master key that sealed
//! it), and a one-time token's secret (a PKCE verifier) likewise. Sealing and opening is the
//! caller's vault. One-time tokens are looked up by the SHA-256 of their value, so the database
//! holds nothing a forged callback could replay.
//!
//! The `*_audited` variants write the change and its audit entry in one transaction.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::{NewAuditEntry, append_in_tx, check_entry};
use crate::keys::{ApiKeyId, WorkspaceId};
use crate::{Error, Result, Store, from_ms, ms, with_pool};

/// The status of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Tokens work (as far as the last request knows).
    Connected,
    /// The grant was refused (revoked, expired): a person must connect it again.
    NeedsReauth,
    /// Disconnected by an admin (tokens revoked at the org).
    Disconnected,
}

impl ConnectionStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "connected",
            Self::NeedsReauth => "needs_reauth",
            Self::Disconnected => "disconnected",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "connected" => Self::Connected,
            "needs_reauth" => Self::NeedsReauth,
            "disconnected" => Self::Disconnected,
            _ => return Err(Error::Corrupt("connection status")),
        })
    }
}

/// A value the vault sealed, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedValue {
    /// What it is (`audit.hmac.1`, `audit.checkpoint.ed25519`).
    pub name: String,
    /// The master-key version it is sealed under.
    pub key_version: i64,
    /// The sealed bytes.
    pub sealed: Vec<u8>,
}

impl std::fmt::Debug for SealedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedValue")
            .field("name", &self.name)
            .field("key_version", &self.key_version)
            .finish_non_exhaustive()
    }
}

/// A connection as stored. `secrets` is sealed by the caller's vault; it is never printed.
#[derive(Clone, PartialEq)]
pub struct StoredConnection {
    /// Its id (`con_` and 16 hex digits), chosen by the caller so it can be bound to the sealed
    /// secrets before the row exists.
    pub id: String,
    /// The workspace that owns it.
    pub workspace: WorkspaceId,
    /// A display name.
    pub name: String,
    /// How it was obtained: `web_server`, `jwt` or `client_credentials`.
    pub kind: String,
    /// `production`, `sandbox`, `custom` (a My Domain) or `embedded` (the service's own dev org).
    pub environment: String,
    /// The login host's base URL tokens are renewed at.
    pub login_url: String,
    /// The connected app's consumer key when it is not the service's own.
    pub client_id: Option<String>,
    /// Where REST requests go.
    pub instance_url: String,
    /// The org's id.
    pub org_id: String,
    /// The connected user's id.
    pub user_id: String,
    /// The connected user's username.
    pub username: String,
    /// The scopes granted, space separated.
    pub scopes: String,
    /// The REST API version (`v59.0`).
    pub api_version: String,
    /// The scope profile asked for: `standard`, `extended` or `privileged`.
    pub profile: String,
    /// Its status.
    pub status: ConnectionStatus,
    /// Why it is not connected, when it is not (no secret in it).
    pub status_reason: Option<String>,
    /// Whether it is its workspace's default connection.
    pub is_default: bool,
    /// The share of the org's daily API allowance callforce may use (0 < share <= 1).
    pub daily_share: Option<f64>,
    /// The most requests in flight at once to this org.
    pub max_concurrent: Option<i64>,
    /// The sealed secrets.
    pub secrets: Vec<u8>,
    /// The master key version that sealed `secrets`.
    pub key_version: i64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl fmt::Debug for StoredConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredConnection")
            .field("id", &self.id)
            .field("workspace", &self.workspace)
            .field("kind", &self.kind)
            .field("environment", &self.environment)
            .field("instance_url", &self.instance_url)
            .field("status", &self.status)
            .field("secrets", &"[sealed]")
            .field("key_version", &self.key_version)
            .finish_non_exhaustive()
    }
}

#[derive(sqlx::FromRow)]
struct ConnectionRow {
    id: String,
    workspace_id: i64,
    name: String,
    kind: String,
    environment: String,
    login_url: String,
    client_id: Option<String>,
    instance_url: String,
    org_id: String,
    user_id: String,
    username: String,
    scopes: String,
    api_version: String,
    profile: String,
    status: String,
    status_reason: Option<String>,
    is_default: bool,
    daily_share: Option<f64>,
    max_concurrent: Option<i64>,
    secrets: Vec<u8>,
    key_version: i64,
    created_at: i64,
    updated_at: i64,
}

impl ConnectionRow {
    fn into_connection(self) -> Result<StoredConnection> {
        Ok(StoredConnection {
            id: self.id,
            workspace: WorkspaceId(self.workspace_id),
            name: self.name,
            kind: self.kind,
            environment: self.environment,
            login_url: self.login_url,
            client_id: self.client_id,
            instance_url: self.instance_url,
            org_id: self.org_id,
            user_id: self.user_id,
            username: self.username,
            scopes: self.scopes,
            api_version: self.api_version,
            profile: self.profile,
            status: ConnectionStatus::parse(&self.status)?,
            status_reason: self.status_reason,
            is_default: self.is_default,
            daily_share: self.daily_share,
            max_concurrent: self.max_concurrent,
            secrets: self.secrets,
            key_version: self.key_version,
            created_at: from_ms(self.created_at)?,
            updated_at: from_ms(self.updated_at)?,
        })
    }
}

const CONNECTION_COLUMNS: &str = "id, workspace_id, name, kind, environment, login_url, client_id, \
    instance_url, org_id, user_id, username, scopes, api_version, profile, status, status_reason, \
    is_default, daily_share, max_concurrent, secrets, key_version, created_at, updated_at";

/// What a one-time token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OneTimeKind {
    /// An OAuth `state` of a web-server flow in progress.
    State,
    /// A short-lived link that starts the connect flow in a browser.
    Link,
}

impl OneTimeKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::State => "state",
            Self::Link => "link",
        }
    }
}

/// A one-time token as stored (found by the hash of its value).
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeToken {
    /// The workspace it is bound to.
    pub workspace: WorkspaceId,
    /// The API key of the admin who made it (`None` for the `CALLFORCE_API_KEY` key).
    pub api_key: Option<ApiKeyId>,
    /// What the flow needs back (JSON chosen by the caller; no secret in it).
    pub payload: String,
    /// A sealed secret (the PKCE verifier).
    pub secret: Option<Vec<u8>>,
    /// The master key version that sealed `secret`.
    pub key_version: Option<i64>,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for OneTimeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneTimeToken")
            .field("workspace", &self.workspace)
            .field("api_key", &self.api_key)
            .field("payload", &self.payload)
            .field("secret", &self.secret.as_ref().map(|_| "[sealed]"))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The outcome of [`Store::take_one_time`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// The token was valid and is now used up.
    Fresh(OneTimeToken),
    /// No such token (forged, or of another kind).
    Unknown,
    /// It was used before.
    Reused,
    /// It expired (and is now used up).
    Expired,
}

#[derive(sqlx::FromRow)]
struct OneTimeRow {
    workspace_id: i64,
    api_key_id: Option<i64>,
    payload: String,
    secret: Option<Vec<u8>>,
    key_version: Option<i64>,
    expires_at: i64,
}

impl Store {
    /// Stores a new connection. The workspace's first live connection becomes its default.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown workspace; database errors (a duplicate id).
    pub async fn insert_connection(&self, c: &StoredConnection) -> Result<StoredConnection> {
        self.insert_connection_impl(c, None).await
    }

    /// As [`Store::insert_connection`], and appends `entry` (at `c.updated_at`) to the
    /// workspace's audit log in the same transaction.
    ///
    /// # Errors
    /// As [`Store::insert_connection`]; [`Error::InvalidJson`] for an entry that is not JSON.
    pub async fn insert_connection_audited(
        &self,
        c: &StoredConnection,
        entry: &NewAuditEntry,
    ) -> Result<StoredConnection> {
        self.insert_connection_impl(c, Some(entry)).await
    }

    async fn insert_connection_impl(
        &self,
        c: &StoredConnection,
        entry: Option<&NewAuditEntry>,
    ) -> Result<StoredConnection> {
        if let Some(e) = entry {
            check_entry(e)?;
        }
        if self.workspace(c.workspace).await?.is_none() {
            return Err(Error::NotFound);
        }
        let sql = format!(
            "INSERT INTO connections ({CONNECTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, \
             $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             NOT EXISTS (SELECT 1 FROM connections WHERE workspace_id = $2 AND is_default \
                         AND status <> 'disconnected'), \
             $17, $18, $19, $20, $21, $22) RETURNING {CONNECTION_COLUMNS}"
        );
        let appender = self.audit_appender();
        let row: ConnectionRow = with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            let row = sqlx::query_as(&sql)
                .bind(&c.id)
                .bind(c.workspace.0)
                .bind(&c.name)
                .bind(&c.kind)
                .bind(&c.environment)
                .bind(&c.login_url)
                .bind(&c.client_id)
                .bind(&c.instance_url)
                .bind(&c.org_id)
                .bind(&c.user_id)
                .bind(&c.username)
                .bind(&c.scopes)
                .bind(&c.api_version)
                .bind(&c.profile)
                .bind(c.status.as_str())
                .bind(&c.status_reason)
                .bind(c.daily_share)
                .bind(c.max_concurrent)
                .bind(&c.secrets)
                .bind(c.key_version)
                .bind(ms(c.created_at))
                .bind(ms(c.updated_at))
                .fetch_one(&mut *tx)
                .await?;
            if let Some(entry) = entry {
                append_in_tx!(tx, appender, c.workspace, c.updated_at, entry);
            }
            tx.commit().await?;
            row
        });
        row.into_connection()
    }

    /// Writes every mutable column of a connection of its workspace (metadata, status, limits)
    /// but its sealed secrets (see [`Store::save_connection_secrets`]: a rotated refresh token
    /// written meanwhile is never overwritten by a settings change), and returns it as stored.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the workspace has no such connection; database errors.
    pub async fn save_connection(&self, c: &StoredConnection) -> Result<StoredConnection> {
        self.save_connection_impl(c, false, false, None).await
    }

    /// An admin's change of a connection's settings: as [`Store::save_connection`], and when
    /// `c.is_default` it becomes the workspace's only default; `entry` is appended (at
    /// `c.updated_at`) to the workspace's audit log, all in one transaction.
    ///
    /// # Errors
    /// As [`Store::save_connection`]; [`Error::InvalidJson`] for an entry that is not JSON.
    pub async fn save_connection_audited(
        &self,
        c: &StoredConnection,
        entry: &NewAuditEntry,
    ) -> Result<StoredConnection> {
        self.save_connection_impl(c, false, c.is_default, Some(entry))
            .await
    }

    /// A connection connected again or disconnected: every mutable column of
    /// [`Store::save_connection`] and the sealed secrets (refused as
    /// [`Store::save_connection_secrets`] refuses them when sealed under an older key), with
    /// `entry` appended (at `c.updated_at`) to the workspace's audit log, in one transaction.
    ///
    /// # Errors
    /// As [`Store::save_connection`] and [`Store::save_connection_secrets`];
    /// [`Error::InvalidJson`] for an entry that is not JSON.
    pub async fn replace_connection_audited(
        &self,
        c: &StoredConnection,
        entry: &NewAuditEntry,
    ) -> Result<StoredConnection> {
        self.save_connection_impl(c, true, false, Some(entry)).await
    }

    async fn save_connection_impl(
        &self,
        c: &StoredConnection,
        with_secrets: bool,
        only_default: bool,
        entry: Option<&NewAuditEntry>,
    ) -> Result<StoredConnection> {
        if let Some(e) = entry {
            check_entry(e)?;
        }
        let sql = format!(
            "UPDATE connections SET name = $3, kind = $4, environment = $5, login_url = $6, \
             client_id = $7, instance_url = $8, org_id = $9, user_id = $10, username = $11, \
             scopes = $12, api_version = $13, profile = $14, status = $15, status_reason = $16, \
             is_default = $17, daily_share = $18, max_concurrent = $19, updated_at = $20 \
             WHERE workspace_id = $1 AND id = $2 RETURNING {CONNECTION_COLUMNS}"
        );
        let appender = self.audit_appender();
        with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            if with_secrets {
                let done = sqlx::query(
                    "UPDATE connections SET secrets = $3, key_version = $4 \
                     WHERE workspace_id = $1 AND id = $2 \
                     AND $4 >= (SELECT COALESCE(MAX(version), 0) FROM vault_keys)",
                )
                .bind(c.workspace.0)
                .bind(&c.id)
                .bind(&c.secrets)
                .bind(c.key_version)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done == 0 {
                    let exists: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM connections WHERE workspace_id = $1 AND id = $2",
                    )
                    .bind(c.workspace.0)
                    .bind(&c.id)
                    .fetch_one(&mut *tx)
                    .await?;
                    return Err(if exists == 0 {
                        Error::NotFound
                    } else {
                        Error::InvalidState(
                            "the master key was rotated since this process started; restart it with the new key",
                        )
                    });
                }
            }
            let row: Option<ConnectionRow> = sqlx::query_as(&sql)
                .bind(c.workspace.0)
                .bind(&c.id)
                .bind(&c.name)
                .bind(&c.kind)
                .bind(&c.environment)
                .bind(&c.login_url)
                .bind(&c.client_id)
                .bind(&c.instance_url)
                .bind(&c.org_id)
                .bind(&c.user_id)
                .bind(&c.username)
                .bind(&c.scopes)
                .bind(&c.api_version)
                .bind(&c.profile)
                .bind(c.status.as_str())
                .bind(&c.status_reason)
                .bind(c.is_default)
                .bind(c.daily_share)
                .bind(c.max_concurrent)
                .bind(ms(c.updated_at))
                .fetch_optional(&mut *tx)
                .await?;
            let row = row.ok_or(Error::NotFound)?;
            if only_default {
                sqlx::query(
                    "UPDATE connections SET is_default = FALSE WHERE workspace_id = $1 AND id <> $2",
                )
                .bind(c.workspace.0)
                .bind(&c.id)
                .execute(&mut *tx)
                .await?;
            }
            if let Some(entry) = entry {
                append_in_tx!(tx, appender, c.workspace, c.updated_at, entry);
            }
            tx.commit().await?;
            row.into_connection()
        })
    }

    /// Replaces only the sealed secrets of a connection (a rotated refresh token), atomically.
    /// Secrets sealed under a key version older than the newest registered one are refused, so
    /// an instance still running on the old master key after `callforce keys rotate` cannot
    /// write a row that the new key would not open.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the workspace has no such connection; [`Error::InvalidState`]
    /// when `key_version` is older than the newest vault key; database errors.
    pub async fn save_connection_secrets(
        &self,
        workspace: WorkspaceId,
        id: &str,
        secrets: &[u8],
        key_version: i64,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let done = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE connections SET secrets = $3, key_version = $4, updated_at = $5 \
                 WHERE workspace_id = $1 AND id = $2 \
                 AND $4 >= (SELECT COALESCE(MAX(version), 0) FROM vault_keys)",
            )
            .bind(workspace.0)
            .bind(id)
            .bind(secrets)
            .bind(key_version)
            .bind(ms(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        if done == 1 {
            Ok(())
        } else if self.connection(workspace, id).await?.is_some() {
            Err(Error::InvalidState(
                "the master key was rotated since this process started; restart it with the new key",
            ))
        } else {
            Err(Error::NotFound)
        }
    }

    /// Sets a connection's status and the reason for it.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the workspace has no such connection; database errors.
    pub async fn set_connection_status(
        &self,
        workspace: WorkspaceId,
        id: &str,
        status: ConnectionStatus,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.set_connection_status_impl(workspace, id, status, reason, now, None)
            .await
    }

    /// As [`Store::set_connection_status`], and appends `entry` to the workspace's audit log in
    /// the same transaction.
    ///
    /// # Errors
    /// As [`Store::set_connection_status`]; [`Error::InvalidJson`] for an entry that is not JSON.
    pub async fn set_connection_status_audited(
        &self,
        workspace: WorkspaceId,
        id: &str,
        status: ConnectionStatus,
        reason: Option<&str>,
        now: DateTime<Utc>,
        entry: &NewAuditEntry,
    ) -> Result<()> {
        self.set_connection_status_impl(workspace, id, status, reason, now, Some(entry))
            .await
    }

    async fn set_connection_status_impl(
        &self,
        workspace: WorkspaceId,
        id: &str,
        status: ConnectionStatus,
        reason: Option<&str>,
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
                "UPDATE connections SET status = $3, status_reason = $4, updated_at = $5 \
                 WHERE workspace_id = $1 AND id = $2",
            )
            .bind(workspace.0)
            .bind(id)
            .bind(status.as_str())
            .bind(reason)
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

    /// A connection of this workspace.
    ///
    /// # Errors
    /// Database errors.
    pub async fn connection(
        &self,
        workspace: WorkspaceId,
        id: &str,
    ) -> Result<Option<StoredConnection>> {
        let sql = format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE workspace_id = $1 AND id = $2"
        );
        let row: Option<ConnectionRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(workspace.0).bind(id).fetch_optional(pool).await?
        });
        row.map(ConnectionRow::into_connection).transpose()
    }

    /// The workspace's connections, oldest first.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_connections(&self, workspace: WorkspaceId) -> Result<Vec<StoredConnection>> {
        let sql = format!(
            "SELECT {CONNECTION_COLUMNS} FROM connections WHERE workspace_id = $1 \
             ORDER BY created_at, id"
        );
        let rows: Vec<ConnectionRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(workspace.0).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(ConnectionRow::into_connection)
            .collect()
    }

    /// Every connection of every workspace (loading the registry at start, rotating the key).
    ///
    /// # Errors
    /// Database errors.
    pub async fn all_connections(&self) -> Result<Vec<StoredConnection>> {
        let sql = format!("SELECT {CONNECTION_COLUMNS} FROM connections ORDER BY workspace_id, id");
        let rows: Vec<ConnectionRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(ConnectionRow::into_connection)
            .collect()
    }

    /// Makes `id` the workspace's default connection (and no other).
    ///
    /// # Errors
    /// [`Error::NotFound`] when the workspace has no such connection; database errors.
    pub async fn set_default_connection(&self, workspace: WorkspaceId, id: &str) -> Result<()> {
        with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            let found = sqlx::query(
                "UPDATE connections SET is_default = TRUE WHERE workspace_id = $1 AND id = $2",
            )
            .bind(workspace.0)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if found == 0 {
                return Err(Error::NotFound);
            }
            sqlx::query(
                "UPDATE connections SET is_default = FALSE WHERE workspace_id = $1 AND id <> $2",
            )
            .bind(workspace.0)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Stores a one-time token by the SHA-256 hex of its value.
    ///
    /// # Errors
    /// Database errors.
    pub async fn create_one_time(
        &self,
        kind: OneTimeKind,
        token_hash: &str,
        token: &OneTimeToken,
        now: DateTime<Utc>,
    ) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO one_time_tokens (token_hash, kind, workspace_id, api_key_id, payload, \
                 secret, key_version, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(token_hash)
            .bind(kind.as_str())
            .bind(token.workspace.0)
            .bind(token.api_key.map(|k| k.0))
            .bind(&token.payload)
            .bind(&token.secret)
            .bind(token.key_version)
            .bind(ms(token.expires_at))
            .bind(ms(now))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Uses up a one-time token: it is marked used in the same statement that reads it, so two
    /// callbacks racing with one `state` cannot both win.
    ///
    /// # Errors
    /// Database errors.
    pub async fn take_one_time(
        &self,
        kind: OneTimeKind,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Taken> {
        let (row, exists): (Option<OneTimeRow>, bool) = with_pool!(self, pool => {
            let row: Option<OneTimeRow> = sqlx::query_as(
                "UPDATE one_time_tokens SET used_at = $3 \
                 WHERE token_hash = $1 AND kind = $2 AND used_at IS NULL \
                 RETURNING workspace_id, api_key_id, payload, secret, key_version, expires_at",
            )
            .bind(token_hash)
            .bind(kind.as_str())
            .bind(ms(now))
            .fetch_optional(pool)
            .await?;
            let exists = if row.is_some() {
                true
            } else {
                sqlx::query_scalar::<_, i64>(
                    "SELECT COUNT(*) FROM one_time_tokens WHERE token_hash = $1 AND kind = $2",
                )
                .bind(token_hash)
                .bind(kind.as_str())
                .fetch_one(pool)
                .await?
                    > 0
            };
            (row, exists)
        });
        let Some(row) = row else {
            return Ok(if exists {
                Taken::Reused
            } else {
                Taken::Unknown
            });
        };
        let expires_at = from_ms(row.expires_at)?;
        if expires_at <= now {
            return Ok(Taken::Expired);
        }
        Ok(Taken::Fresh(OneTimeToken {
            workspace: WorkspaceId(row.workspace_id),
            api_key: row.api_key_id.map(ApiKeyId),
            payload: row.payload,
            secret: row.secret,
            key_version: row.key_version,
            expires_at,
        }))
    }

    /// The newest vault key version and its check value, if any key was ever registered.
    ///
    /// # Errors
    /// Database errors.
    pub async fn latest_vault_key(&self) -> Result<Option<(i64, Vec<u8>)>> {
        with_pool!(self, pool => {
            Ok(sqlx::query_as::<_, (i64, Vec<u8>)>(
                "SELECT version, check_value FROM vault_keys ORDER BY version DESC LIMIT 1",
            )
            .fetch_optional(pool)
            .await?)
        })
    }

    /// Registers the first vault key's check value (version 1). Returns `false` when a key is
    /// registered already (another instance won the race).
    ///
    /// # Errors
    /// Database errors.
    pub async fn register_first_vault_key(
        &self,
        check_value: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO vault_keys (version, check_value, created_at) VALUES (1, $1, $2) \
                 ON CONFLICT (version) DO NOTHING",
            )
            .bind(check_value)
            .bind(ms(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// The vault's sealed values (the audit keys of older master-key versions, the checkpoint
    /// signing key), by name.
    ///
    /// # Errors
    /// Database errors.
    pub async fn sealed_values(&self) -> Result<Vec<SealedValue>> {
        let rows: Vec<(String, i64, Vec<u8>)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT name, key_version, sealed FROM vault_sealed ORDER BY name")
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(name, key_version, sealed)| SealedValue {
                name,
                key_version,
                sealed,
            })
            .collect())
    }

    /// Stores a sealed value under `name` unless one is stored already; returns whether this
    /// call stored it (another instance may have won the race: read it back).
    ///
    /// # Errors
    /// Database errors.
    pub async fn insert_sealed_value(
        &self,
        name: &str,
        key_version: i64,
        sealed: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO vault_sealed (name, key_version, sealed, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(key_version)
            .bind(sealed)
            .bind(ms(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Moves every connection to a new master key in one transaction: the resealed secrets,
    /// the new key's check value under `version`, and pending one-time tokens dropped (their
    /// sealed verifiers would not open any more; a flow in progress is simply started again).
    ///
    /// # Errors
    /// [`Error::InvalidState`] when `version` is not newer than the latest;
    /// [`Error::SealedValuesChanged`] when the vault holds sealed values (they must be re-sealed
    /// too: [`Store::rotate_vault_key_audited`]); database errors.
    pub async fn rotate_vault_key(
        &self,
        version: i64,
        check_value: &[u8],
        resealed: &[(String, Vec<u8>)],
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.rotate_vault_key_audited(version, check_value, resealed, &[], now, &[])
            .await
    }

    /// As [`Store::rotate_vault_key`], also replacing the vault's sealed values with `sealed`
    /// (every one stored now, re-sealed under the new key, and any new ones by name), and
    /// appending each of `entries` to its workspace's audit log in the same transaction.
    ///
    /// # Errors
    /// As [`Store::rotate_vault_key`]; [`Error::SealedValuesChanged`] when a stored sealed value
    /// is not among `sealed` (one was added since they were read: nothing is changed);
    /// [`Error::InvalidJson`] for an entry that is not JSON; [`Error::NotFound`] for an unknown
    /// workspace.
    pub async fn rotate_vault_key_audited(
        &self,
        version: i64,
        check_value: &[u8],
        resealed: &[(String, Vec<u8>)],
        sealed: &[(String, Vec<u8>)],
        now: DateTime<Utc>,
        entries: &[(WorkspaceId, NewAuditEntry)],
    ) -> Result<()> {
        for (_, e) in entries {
            check_entry(e)?;
        }
        let appender = self.audit_appender();
        with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            let latest: Option<i64> =
                sqlx::query_scalar("SELECT MAX(version) FROM vault_keys")
                    .fetch_one(&mut *tx)
                    .await?;
            if latest.is_some_and(|l| l >= version) {
                return Err(Error::InvalidState("the new key version must be the newest"));
            }
            sqlx::query("INSERT INTO vault_keys (version, check_value, created_at) VALUES ($1, $2, $3)")
                .bind(version)
                .bind(check_value)
                .bind(ms(now))
                .execute(&mut *tx)
                .await?;
            for (id, secrets) in resealed {
                sqlx::query("UPDATE connections SET secrets = $2, key_version = $3 WHERE id = $1")
                    .bind(id)
                    .bind(secrets)
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM one_time_tokens WHERE used_at IS NULL")
                .execute(&mut *tx)
                .await?;
            // NB: a value sealed by another process after the caller read them would be left
            // under the old key, which no longer opens after this commit.
            let stored: Vec<(String,)> = sqlx::query_as("SELECT name FROM vault_sealed")
                .fetch_all(&mut *tx)
                .await?;
            if stored.iter().any(|(n,)| !sealed.iter().any(|(m, _)| m == n)) {
                return Err(Error::SealedValuesChanged);
            }
            for (name, value) in sealed {
                sqlx::query(
                    "INSERT INTO vault_sealed (name, key_version, sealed, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO UPDATE \
                     SET key_version = excluded.key_version, sealed = excluded.sealed",
                )
                .bind(name)
                .bind(version)
                .bind(value)
                .bind(ms(now))
                .execute(&mut *tx)
                .await?;
            }
            for (workspace, entry) in entries {
                append_in_tx!(tx, appender, *workspace, now, entry);
            }
            tx.commit().await?;
            Ok(())
        })
    }
}
