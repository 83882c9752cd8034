//! Token refreshes serialised across instances sharing one PostgreSQL database.
//!
//! Each live connection's client gets a [`StoreCoordinator`]: before refreshing, it takes the
//! connection's advisory lock ([`callforce_store::Store::lock_connection_refresh`]) and opens the
//! secrets stored under it. If another instance refreshed while this one waited, the client takes
//! those tokens; otherwise it refreshes and the new access and refresh tokens are sealed and
//! written in the lock's transaction, so the next instance to take the lock finds them. Where the
//! org rotates refresh tokens this is what keeps a second instance from presenting a spent token
//! (which the org answers with `invalid_grant`, and the connection would need a person).

use std::sync::Arc;

use callforce_client::token::{BoxFuture, RefreshCoordinator, RefreshTicket, StoredTokens};
use callforce_client::{ExposeSecret, SecretString};
use callforce_store::{RefreshLock, Store, WorkspaceId};
use chrono::Utc;
use parking_lot::Mutex;

use crate::vault::{CONNECTION, Secrets, Vault};

/// The refresh coordinator of one stored connection.
pub struct StoreCoordinator {
    store: Store,
    vault: Arc<Vault>,
    /// The live connection's copy of its secrets (what it seals when it writes them).
    secrets: Arc<Mutex<Secrets>>,
    workspace: WorkspaceId,
    id: String,
}

impl StoreCoordinator {
    /// The coordinator of connection `id` of `workspace`, keeping `secrets` (the live
    /// connection's copy) in step with what it stores or takes.
    pub fn new(
        store: Store,
        vault: Arc<Vault>,
        secrets: Arc<Mutex<Secrets>>,
        workspace: WorkspaceId,
        id: String,
    ) -> Self {
        Self {
            store,
            vault,
            secrets,
            workspace,
            id,
        }
    }
}

impl RefreshCoordinator for StoreCoordinator {
    fn lock(&self) -> BoxFuture<'_, Result<Box<dyn RefreshTicket>, String>> {
        Box::pin(async move {
            let lock = self
                .store
                .lock_connection_refresh(self.workspace, &self.id)
                .await
                .map_err(|e| format!("connection {}: {e}", self.id))?;
            let stored = match self.vault.open(
                CONNECTION,
                &self.id,
                lock.key_version(),
                lock.secrets(),
            ) {
                Ok(plain) => serde_json::from_slice::<Secrets>(&plain).ok(),
                Err(e) => {
                    // Sealed under another key (a rotation since this process started): not
                    // taken; this process refreshes with its own tokens.
                    tracing::warn!(connection = %self.id, error = %e, "the stored secrets do not open");
                    None
                }
            };
            Ok(Box::new(StoreTicket {
                lock,
                stored,
                vault: self.vault.clone(),
                secrets: self.secrets.clone(),
                id: self.id.clone(),
            }) as Box<dyn RefreshTicket>)
        })
    }
}

/// A held lock and what was stored under it.
struct StoreTicket {
    lock: RefreshLock,
    stored: Option<Secrets>,
    vault: Arc<Vault>,
    secrets: Arc<Mutex<Secrets>>,
    id: String,
}

impl RefreshTicket for StoreTicket {
    fn stored(&self) -> Option<StoredTokens> {
        let s = self.stored.as_ref()?;
        let access = s.access_token.clone().filter(|t| !t.is_empty())?;
        Some(StoredTokens {
            access_token: SecretString::from(access),
            refresh_token: s.refresh_token.clone().map(SecretString::from),
            instance_url: Some(self.lock.instance_url().to_owned()),
        })
    }

    fn save(self: Box<Self>, tokens: StoredTokens) -> BoxFuture<'static, Result<(), String>> {
        let sealed = {
            let mut s = self.secrets.lock();
            s.access_token = Some(tokens.access_token.expose_secret().to_owned());
            if let Some(r) = &tokens.refresh_token {
                s.refresh_token = Some(r.expose_secret().to_owned());
            }
            s.seal(&self.vault, &self.id)
        };
        let version = self.vault.version();
        Box::pin(async move {
            let id = self.id;
            self.lock
                .save(&sealed, version, Utc::now())
                .await
                .map_err(|e| format!("storing the refreshed tokens of {id}: {e}"))
        })
    }

    fn release(self: Box<Self>, took_stored: bool) -> BoxFuture<'static, ()> {
        // The client now holds the stored tokens: the live copy follows, so a later seal (a
        // rotation hook, a revoke at disconnect) uses the current ones.
        if took_stored && let Some(stored) = &self.stored {
            let mut s = self.secrets.lock();
            if stored.access_token.is_some() {
                s.access_token.clone_from(&stored.access_token);
            }
            if stored.refresh_token.is_some() {
                s.refresh_token.clone_from(&stored.refresh_token);
            }
        }
        Box::pin(async move {
            if let Err(e) = self.lock.release().await {
                tracing::warn!(connection = %self.id, error = %e, "releasing the refresh lock failed");
            }
        })
    }
}
