//! Agents and custom actions per workspace, kept in the store: listed, read, saved and deleted
//! here (the REST front door serves them under `/v1/agents` and `/v1/actions`).
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

use callforce_actions::{Action, Agent, Catalog, CustomAction};
use callforce_store::{DefinitionKind, Store, WorkspaceId};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::caller::Caller;
use crate::changes::{self, Actor};

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

/// A custom action that the workspace does not define, or a built-in one, cannot be deleted.
fn no_custom_action(name: &str) -> Error {
    Error::new(
        Kind::NotFound,
        "unknown_action",
        format!(
            "this workspace has no custom action '{name}' (built-in actions and shipped examples cannot be deleted)"
        ),
    )
}

fn store_failed(e: &callforce_store::Error) -> Error {
    tracing::error!(error = %e, "the store failed");
    Error::new(
        Kind::Internal,
        "internal",
        "the service could not read or save its state; try again",
    )
}

/// Checks the name of an agent or custom action: a letter, then letters, digits, `_` and `-`;
/// at most 64.
///
/// # Errors
/// `invalid_name`, saying the rule.
pub fn check_name(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            Kind::Invalid,
            "invalid_name",
            format!(
                "'{name}' is not a valid name: start with a letter; letters, digits, '_' and '-' only; at most 64"
            ),
        ))
    }
}

/// `json` parsed as a `what`, or `invalid_body` saying what it must be.
fn parse<T: serde::de::DeserializeOwned>(json: &[u8], what: &str) -> Result<T, Error> {
    serde_json::from_slice(json).map_err(|e| {
        Error::new(
            Kind::Invalid,
            "invalid_body",
            format!("the body must be a JSON {what}: {e}"),
        )
    })
}

/// An action as the API shows it: its tool, effect, kind, whether it needs confirmation, and a
/// custom action's definition.
pub fn describe(a: &Action) -> Value {
    let tool = a.tool();
    let mut v = json!({
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.parameters,
        "effect": a.effect(),
        "kind": match a { Action::Template(_) => "builtin", Action::Custom(_) => "custom" },
        "needs_confirmation": callforce_actions::agent::default_needs_confirmation(a),
    });
    if let Action::Custom(c) = a {
        v["definition"] = serde_json::to_value(c).unwrap_or_default();
    }
    v
}

impl Workspaces {
    /// The workspace's agents, as stored.
    ///
    /// # Errors
    /// The store failed.
    pub async fn agents(&self, ws: WorkspaceId) -> Result<Value, Error> {
        let defs = self
            .store
            .definitions(DefinitionKind::Agent, ws)
            .await
            .map_err(|e| store_failed(&e))?;
        Ok(json!({ "agents": defs }))
    }

    /// One agent of the workspace, as stored.
    ///
    /// # Errors
    /// No such agent (`unknown_agent`), the store failed.
    pub async fn agent(&self, ws: WorkspaceId, name: &str) -> Result<Value, Error> {
        match self.store.definition(DefinitionKind::Agent, ws, name).await {
            Ok(Some(d)) => Ok(serde_json::to_value(d).unwrap_or_default()),
            Ok(None) => Err(no_agent(name)),
            Err(e) => Err(store_failed(&e)),
        }
    }

    /// Saves agent `name` of `caller`'s workspace from its JSON definition, after checking it
    /// against the workspace's catalog; audited in the same transaction.
    ///
    /// # Errors
    /// A bad name or definition (400), one the catalog refuses (422 with the actions' error),
    /// the store failed.
    pub async fn put_agent(
        &self,
        caller: &Caller,
        name: &str,
        json: &[u8],
    ) -> Result<Value, Error> {
        check_name(name)?;
        let agent: Agent = parse(
            json,
            "agent {actions, objects, confirm_writes, confirm, skip_confirmation, description, time_zone}",
        )?;
        let view = self
            .view(caller.workspace)
            .await
            .map_err(|e| store_failed(&e))?;
        agent.validate(&view.catalog).map_err(Error::refused)?;
        let def = serde_json::to_value(&agent).unwrap_or_default();
        // Stored to the millisecond: the answer shows the time a later read shows.
        let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 3);
        let entry = changes::agent_put(Actor::of(caller), name, &def);
        self.store
            .put_definition_audited(
                DefinitionKind::Agent,
                caller.workspace,
                name,
                &def,
                now,
                &entry,
            )
            .await
            .map_err(|e| store_failed(&e))?;
        self.invalidate(caller.workspace);
        Ok(json!({"name": name, "definition": def, "updated_at": now}))
    }

    /// Deletes agent `name` of `caller`'s workspace; audited.
    ///
    /// # Errors
    /// No such agent (`unknown_agent`), the store failed.
    pub async fn delete_agent(&self, caller: &Caller, name: &str) -> Result<Value, Error> {
        self.delete(caller, DefinitionKind::Agent, name)
            .await?
            .ok_or_else(|| no_agent(name))
    }

    /// Every action of the workspace (built-in, shipped examples and its custom ones).
    ///
    /// # Errors
    /// The store failed.
    pub async fn actions(&self, ws: WorkspaceId) -> Result<Value, Error> {
        let view = self.view(ws).await.map_err(|e| store_failed(&e))?;
        Ok(json!({
            "actions": view.catalog.actions().iter().map(describe).collect::<Vec<_>>()
        }))
    }

    /// One action of the workspace ([`describe`]).
    ///
    /// # Errors
    /// No such action (`unknown_action`), the store failed.
    pub async fn action(&self, ws: WorkspaceId, name: &str) -> Result<Value, Error> {
        let view = self.view(ws).await.map_err(|e| store_failed(&e))?;
        view.catalog.get(name).map(describe).ok_or_else(|| {
            Error::new(
                Kind::NotFound,
                "unknown_action",
                format!("there is no action '{name}'"),
            )
        })
    }

    /// Saves custom action `name` of `caller`'s workspace from its JSON definition (which takes
    /// the name from the path), after checking it; audited.
    ///
    /// # Errors
    /// A bad definition or one naming another action (400), one its check refuses (422 with the
    /// actions' error), a built-in action's name (409 `builtin_action`), the store failed.
    pub async fn put_action(
        &self,
        caller: &Caller,
        name: &str,
        json: &[u8],
    ) -> Result<Value, Error> {
        let mut def: Value = parse(json, "custom action")?;
        // The name is the path's; a body naming another is a mistake worth reporting.
        if let Some(Value::String(n)) = def.get("name")
            && n != name
        {
            return Err(Error::new(
                Kind::Invalid,
                "invalid_body",
                format!(
                    "the body names '{n}' but the path '{name}'; leave 'name' out or make them equal"
                ),
            ));
        }
        if let Value::Object(m) = &mut def {
            m.insert("name".into(), Value::String(name.to_owned()));
        }
        let action: CustomAction = parse(
            def.to_string().as_bytes(),
            "custom action {description, method, endpoint, body?, object?, parameters: [{name, location, type?, required?, description?}], confirmation?, destructive?}",
        )?;
        action.validate().map_err(Error::refused)?;
        if let Some(Action::Template(_)) = Catalog::builtin().get(name) {
            return Err(Error::new(
                Kind::Conflict,
                "builtin_action",
                format!("'{name}' is a built-in action; give the custom action another name"),
            ));
        }
        let stored = serde_json::to_value(&action).unwrap_or_default();
        let entry = changes::action_put(Actor::of(caller), name, &stored);
        self.store
            .put_definition_audited(
                DefinitionKind::CustomAction,
                caller.workspace,
                name,
                &stored,
                chrono::Utc::now(),
                &entry,
            )
            .await
            .map_err(|e| store_failed(&e))?;
        self.invalidate(caller.workspace);
        Ok(describe(&Action::Custom(action)))
    }

    /// Deletes custom action `name` of `caller`'s workspace; audited.
    ///
    /// # Errors
    /// No such custom action (`unknown_action`), the store failed.
    pub async fn delete_action(&self, caller: &Caller, name: &str) -> Result<Value, Error> {
        self.delete(caller, DefinitionKind::CustomAction, name)
            .await?
            .ok_or_else(|| no_custom_action(name))
    }

    /// Deletes a stored definition of `caller`'s workspace (audited) and drops the workspace's
    /// cached view; `None` when there is no such definition.
    async fn delete(
        &self,
        caller: &Caller,
        kind: DefinitionKind,
        name: &str,
    ) -> Result<Option<Value>, Error> {
        let actor = Actor::of(caller);
        let entry = match kind {
            DefinitionKind::Agent => changes::agent_delete(actor, name),
            DefinitionKind::CustomAction => changes::action_delete(actor, name),
        };
        match self
            .store
            .delete_definition_audited(kind, caller.workspace, name, chrono::Utc::now(), &entry)
            .await
        {
            Ok(()) => {
                self.invalidate(caller.workspace);
                Ok(Some(json!({"name": name, "deleted": true})))
            }
            Err(callforce_store::Error::NotFound) => Ok(None),
            Err(e) => Err(store_failed(&e)),
        }
    }
}
