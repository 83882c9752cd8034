//! A workspace's API keys: created (the plaintext shown once, only its hash stored), listed and
//! revoked, each change audited with the admin's key as the actor.

use callforce_client::ExposeSecret;
use callforce_store::{ApiKeyId, Store};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::internal;
use crate::caller::Caller;
use crate::changes::{self, Actor};
use crate::error::{Error, Kind};

/// The workspaces' API keys.
pub struct Keys {
    store: Store,
}

/// The body of `POST /v1/keys`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// What the key is for (`unnamed` by default).
    #[serde(default)]
    pub name: Option<String>,
}

impl Keys {
    /// The keys of `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Creates a key in the caller's workspace: its id, name, prefix and the key itself, shown
    /// once.
    ///
    /// # Errors
    /// The store failing (`internal`).
    pub async fn create(&self, caller: &Caller, new: NewKey) -> Result<Value, Error> {
        let name = new.name.unwrap_or_else(|| "unnamed".into());
        let actor = Actor::of(caller);
        let k = self
            .store
            .create_api_key_audited(caller.workspace, &name, Utc::now(), |k| {
                changes::key_create(actor, k)
            })
            .await
            .map_err(|e| internal(&e))?;
        Ok(json!({
            "id": k.key.id,
            "name": k.key.name,
            "prefix": k.key.prefix,
            "created_at": k.key.created_at,
            "key": k.plaintext.expose_secret(),
            "note": "shown once: only its hash is stored",
        }))
    }

    /// The caller's workspace's keys (never a key itself): `{"keys": [...]}`.
    ///
    /// # Errors
    /// The store failing (`internal`).
    pub async fn list(&self, caller: &Caller) -> Result<Value, Error> {
        let keys = self
            .store
            .list_api_keys(caller.workspace)
            .await
            .map_err(|e| internal(&e))?;
        Ok(json!({ "keys": keys }))
    }

    /// Revokes a key of the caller's workspace.
    ///
    /// # Errors
    /// `unknown_key`, or the store failing (`internal`).
    pub async fn revoke(&self, caller: &Caller, id: i64) -> Result<Value, Error> {
        match self
            .store
            .revoke_api_key_audited(
                caller.workspace,
                ApiKeyId(id),
                Utc::now(),
                &changes::key_revoke(Actor::of(caller), ApiKeyId(id)),
            )
            .await
        {
            Ok(()) => Ok(json!({"id": id, "revoked": true})),
            Err(callforce_store::Error::NotFound) => Err(Error::new(
                Kind::NotFound,
                "unknown_key",
                format!("no API key {id} in this workspace"),
            )),
            Err(e) => Err(internal(&e)),
        }
    }
}
