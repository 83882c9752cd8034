//! Agents and custom actions per workspace, kept in the store (the REST front door manages them
//! under `/v1/agents` and `/v1/actions`).
//!
//! Every save and delete is audited (`config.agent.*`, `config.action.*`, see
//! [`crate::changes`]) in the transaction of the change.
//!
//! Each workspace sees the built-in catalog and the shipped custom examples, plus its own custom
//! actions (one of the same name as an example replaces it). Definitions are validated before
//! they are stored. The resolved view of a workspace is cached in memory and dropped when this
//! instance changes it; another instance sharing the database sees the change after
//! [`WORKSPACE_CACHE_TTL`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use callforce_actions::{Agent, Catalog, CustomAction};
use callforce_store::{DefinitionKind, Store, WorkspaceId};
use parking_lot::Mutex;

use crate::error::{Error, Kind};

/// How long a workspace's agents and custom actions are cached before being read again.
pub const WORKSPACE_CACHE_TTL: Duration = Duration::from_secs(10);

/// What a workspace sees: its catalog (built-in, examples, its custom actions) and its agents.
pub struct WorkspaceView {
    /// The catalog.
    pub catalog: Catalog,
    /// The agents by name.
    pub agents: HashMap<String, Agent>,
}

/// The workspaces' views, loaded from the store on first use.
pub struct Workspaces {
    base: Catalog,
    store: Store,
    cache: Mutex<HashMap<WorkspaceId, (Instant, Arc<WorkspaceView>)>>,
}

impl Workspaces {
    /// Views over `base` (the built-in catalog with the examples) and the definitions in `store`.
    pub fn new(base: Catalog, store: Store) -> Self {
        Self {
            base,
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The view of `ws`.
    ///
    /// # Errors
    /// The store failed.
    pub async fn view(
        &self,
        ws: WorkspaceId,
    ) -> Result<Arc<WorkspaceView>, callforce_store::Error> {
        if let Some((at, v)) = self.cache.lock().get(&ws)
            && at.elapsed() < WORKSPACE_CACHE_TTL
        {
            return Ok(v.clone());
        }
        let mut catalog = self.base.clone();
        for d in self
            .store
            .definitions(DefinitionKind::CustomAction, ws)
            .await?
        {
            match serde_json::from_value::<CustomAction>(d.definition) {
                Ok(a) => {
                    catalog.remove_custom(&a.name);
                    if let Err(e) = catalog.add_custom(a) {
                        tracing::warn!(workspace = %ws, action = %d.name, error = %e, "stored custom action no longer valid; skipped");
                    }
                }
                Err(e) => {
                    tracing::warn!(workspace = %ws, action = %d.name, error = %e, "stored custom action unreadable; skipped");
                }
            }
        }
        let mut agents = HashMap::new();
        for d in self.store.definitions(DefinitionKind::Agent, ws).await? {
            match serde_json::from_value::<Agent>(d.definition) {
                Ok(a) => {
                    agents.insert(d.name, a);
                }
                Err(e) => {
                    tracing::warn!(workspace = %ws, agent = %d.name, error = %e, "stored agent unreadable; skipped");
                }
            }
        }
        let view = Arc::new(WorkspaceView { catalog, agents });
        self.cache.lock().insert(ws, (Instant::now(), view.clone()));
        Ok(view)
    }

    /// Drops the cached view of `ws` (after a change).
    pub fn invalidate(&self, ws: WorkspaceId) {
        self.cache.lock().remove(&ws);
    }
}
/// The error for an agent `name` that the workspace does not define.
pub fn no_agent(name: &str) -> Error {
    Error::new(
        Kind::NotFound,
        "unknown_agent",
        format!("no agent '{name}' in this workspace; define it with PUT /v1/agents/{name}"),
    )
}
