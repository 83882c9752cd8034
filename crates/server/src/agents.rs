//! Agents and custom actions per workspace, managed through the API and kept in the store.
//!
//! ```text
//! GET    /v1/agents                 the workspace's agents
//! GET    /v1/agents/{name}          one agent
//! PUT    /v1/agents/{name}          {actions?, objects?, confirm_writes?, confirm?, skip_confirmation?, description?}
//! DELETE /v1/agents/{name}
//! GET    /v1/actions                every action of the workspace (built-in and custom)
//! GET    /v1/actions/{name}         one action (custom ones with their definition)
//! PUT    /v1/actions/{name}         a custom action {description, method, endpoint, body?, object?, parameters, confirmation?, destructive?}
//! DELETE /v1/actions/{name}         a custom action
//! ```
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

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json};
use callforce_actions::{Action, ActionError, Agent, Catalog, CustomAction};
use callforce_store::{DefinitionKind, Store, WorkspaceId};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::api::{Api, ApiError, Caller, error};
use crate::changes::{self, Actor};

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

/// The agent and custom-action routes (mounted behind the API key check by [`crate::api`]).
pub fn routes() -> axum::Router<Arc<Api>> {
    axum::Router::new()
        .route("/v1/agents", get(list_agents))
        .route(
            "/v1/agents/{name}",
            get(get_agent).put(put_agent).delete(delete_agent),
        )
        .route("/v1/actions", get(list_actions))
        .route(
            "/v1/actions/{name}",
            get(get_action).put(put_action).delete(delete_action),
        )
}

fn store_failed(e: &callforce_store::Error) -> Response {
    tracing::error!(error = %e, "the store failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the service could not read or save its state; try again",
    )
}

fn invalid(e: &ActionError) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({ "error": e })),
    )
        .into_response()
}

fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_name",
            format!(
                "'{name}' is not a valid name: start with a letter; letters, digits, '_' and '-' only; at most 64"
            ),
        ))
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("the body must be a JSON {what}: {e}"),
        )
    })
}

async fn list_agents(
    State(api): State<Arc<Api>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    match api
        .store()
        .definitions(DefinitionKind::Agent, caller.workspace)
        .await
    {
        Ok(defs) => Json(json!({ "agents": defs })).into_response(),
        Err(e) => store_failed(&e),
    }
}

async fn get_agent(
    State(api): State<Arc<Api>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    match api
        .store()
        .definition(DefinitionKind::Agent, caller.workspace, &name)
        .await
    {
        Ok(Some(d)) => Json(d).into_response(),
        Ok(None) => no_agent(&name).into_response(),
        Err(e) => store_failed(&e),
    }
}

pub(crate) fn no_agent(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_agent",
        format!("no agent '{name}' in this workspace; define it with PUT /v1/agents/{name}"),
    )
}

async fn put_agent(
    State(api): State<Arc<Api>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = check_name(&name) {
        return r.into_response();
    }
    let agent: Agent = match parse(
        &body,
        "agent {actions, objects, confirm_writes, confirm, skip_confirmation, description}",
    ) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    let view = match api.workspaces().view(caller.workspace).await {
        Ok(v) => v,
        Err(e) => return store_failed(&e),
    };
    if let Err(e) = agent.validate(&view.catalog) {
        return invalid(&e);
    }
    let def = serde_json::to_value(&agent).unwrap_or_default();
    // Stored to the millisecond: the answer shows the time a later GET shows.
    let now = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 3);
    let entry = changes::agent_put(Actor::of(&caller), &name, &def);
    if let Err(e) = api
        .store()
        .put_definition_audited(
            DefinitionKind::Agent,
            caller.workspace,
            &name,
            &def,
            now,
            &entry,
        )
        .await
    {
        return store_failed(&e);
    }
    api.workspaces().invalidate(caller.workspace);
    Json(json!({"name": name, "definition": def, "updated_at": now})).into_response()
}

async fn delete_agent(
    State(api): State<Arc<Api>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    delete_definition(&api, caller, DefinitionKind::Agent, &name, || {
        no_agent(&name).into_response()
    })
    .await
}

/// Deletes a stored definition of the caller's workspace and drops the workspace's cached
/// definitions; `missing` answers when there is no such definition.
async fn delete_definition(
    api: &Api,
    caller: Caller,
    kind: DefinitionKind,
    name: &str,
    missing: impl FnOnce() -> Response,
) -> Response {
    let actor = Actor::of(&caller);
    let entry = match kind {
        DefinitionKind::Agent => changes::agent_delete(actor, name),
        DefinitionKind::CustomAction => changes::action_delete(actor, name),
    };
    match api
        .store()
        .delete_definition_audited(kind, caller.workspace, name, chrono::Utc::now(), &entry)
        .await
    {
        Ok(()) => {
            api.workspaces().invalidate(caller.workspace);
            Json(json!({"name": name, "deleted": true})).into_response()
        }
        Err(callforce_store::Error::NotFound) => missing(),
        Err(e) => store_failed(&e),
    }
}

fn describe(a: &Action) -> Value {
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

async fn list_actions(
    State(api): State<Arc<Api>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    match api.workspaces().view(caller.workspace).await {
        Ok(v) => Json(json!({
            "actions": v.catalog.actions().iter().map(describe).collect::<Vec<_>>()
        }))
        .into_response(),
        Err(e) => store_failed(&e),
    }
}

async fn get_action(
    State(api): State<Arc<Api>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    let view = match api.workspaces().view(caller.workspace).await {
        Ok(v) => v,
        Err(e) => return store_failed(&e),
    };
    match view.catalog.get(&name) {
        Some(a) => Json(describe(a)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "unknown_action",
            &format!("there is no action '{name}'"),
        ),
    }
}

async fn put_action(
    State(api): State<Arc<Api>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let mut def: Value = match parse(&body, "custom action") {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    // The name is the path's; a body naming another is a mistake worth reporting.
    match def.get("name") {
        Some(Value::String(n)) if *n != name => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                &format!(
                    "the body names '{n}' but the path '{name}'; leave 'name' out or make them equal"
                ),
            );
        }
        _ => {}
    }
    if let Value::Object(m) = &mut def {
        m.insert("name".into(), Value::String(name.clone()));
    }
    let action: CustomAction = match parse(
        def.to_string().as_bytes(),
        "custom action {description, method, endpoint, body?, object?, parameters: [{name, location, type?, required?, description?}], confirmation?, destructive?}",
    ) {
        Ok(a) => a,
        Err(r) => return r.into_response(),
    };
    if let Err(e) = action.validate() {
        return invalid(&e);
    }
    if let Some(Action::Template(_)) = Catalog::builtin().get(&name) {
        return error(
            StatusCode::CONFLICT,
            "builtin_action",
            &format!("'{name}' is a built-in action; give the custom action another name"),
        );
    }
    let stored = serde_json::to_value(&action).unwrap_or_default();
    let now = chrono::Utc::now();
    let entry = changes::action_put(Actor::of(&caller), &name, &stored);
    if let Err(e) = api
        .store()
        .put_definition_audited(
            DefinitionKind::CustomAction,
            caller.workspace,
            &name,
            &stored,
            now,
            &entry,
        )
        .await
    {
        return store_failed(&e);
    }
    api.workspaces().invalidate(caller.workspace);
    Json(describe(&Action::Custom(action))).into_response()
}

async fn delete_action(
    State(api): State<Arc<Api>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    delete_definition(&api, caller, DefinitionKind::CustomAction, &name, || {
        error(
            StatusCode::NOT_FOUND,
            "unknown_action",
            &format!(
                "this workspace has no custom action '{name}' (built-in actions and shipped examples cannot be deleted)"
            ),
        )
    })
    .await
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicI64, Ordering};

    use callforce_client::ExposeSecret;
    use serde_json::{Value, json};

    use crate::api::CallSettings;
    use crate::serve::{ServeConfig, Started, start};

    struct Client {
        base: String,
        key: String,
        http: reqwest::Client,
    }

    impl Client {
        async fn send(
            &self,
            method: reqwest::Method,
            path: &str,
            body: Option<Value>,
        ) -> (u16, Value) {
            let mut req = self
                .http
                .request(method, format!("{}{path}", self.base))
                .bearer_auth(&self.key);
            if let Some(b) = body {
                req = req.json(&b);
            }
            let resp = req.send().await.expect("request");
            let status = resp.status().as_u16();
            let text = resp.text().await.expect("body");
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        }
        async fn get(&self, path: &str) -> (u16, Value) {
            self.send(reqwest::Method::GET, path, None).await
        }
        async fn put(&self, path: &str, body: Value) -> (u16, Value) {
            self.send(reqwest::Method::PUT, path, Some(body)).await
        }
        async fn post(&self, path: &str, body: Value) -> (u16, Value) {
            self.send(reqwest::Method::POST, path, Some(body)).await
        }
        async fn delete(&self, path: &str) -> (u16, Value) {
            self.send(reqwest::Method::DELETE, path, None).await
        }
        async fn call(&self, agent: &str) -> String {
            let (s, b) = self
                .post(
                    "/v1/calls",
                    json!({"caller_phone": "+15551234567", "agent": agent}),
                )
                .await;
            assert_eq!(s, 201, "{b}");
            b["call_id"].as_str().expect("id").to_owned()
        }
    }

    async fn serve(dir: &tempfile::TempDir, calls: CallSettings) -> (Started, Client) {
        let started = start(ServeConfig {
            calls,
            ..ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().to_owned())
        })
        .await
        .expect("starts");
        let client = Client {
            base: format!("http://{}", started.addr),
            key: started.api_key.clone().expect("first key"),
            http: reqwest::Client::new(),
        };
        (started, client)
    }

    fn names(tools: &Value) -> Vec<&str> {
        tools["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect()
    }

    #[tokio::test]
    async fn an_agent_gets_its_tools_and_only_its_actions_and_objects() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_s, c) = serve(&dir, CallSettings::default()).await;
        let (st, b) = c
            .put(
                "/v1/agents/aria",
                json!({"actions": ["search_contact", "search_lead", "create_case", "delete_case"], "objects": ["Contact", "Case"]}),
            )
            .await;
        assert_eq!(st, 200, "{b}");
        let (st, saved) = c.get("/v1/agents/aria").await;
        assert_eq!(st, 200, "{saved}");
        assert_eq!(saved["updated_at"], b["updated_at"], "{saved} {b}");
        let (st, tools) = c.get("/v1/tools?agent=aria").await;
        assert_eq!(st, 200, "{tools}");
        assert_eq!(
            names(&tools),
            [
                "search_contact",
                "search_lead",
                "create_case",
                "delete_case"
            ]
        );
        let delete = &tools["tools"][3];
        assert!(
            delete["parameters"]["properties"]["confirmation_token"].is_object(),
            "{delete}"
        );
        let (st, _) = c.get("/v1/tools?agent=nobody").await;
        assert_eq!(st, 404);
        let (st, all) = c.get("/v1/tools").await;
        assert_eq!(st, 200);
        assert!(names(&all).len() > 60);

        // Bad definitions are refused with what to fix.
        let (st, b) = c
            .put("/v1/agents/bad", json!({"actions": ["serch_contact"]}))
            .await;
        assert_eq!(st, 422, "{b}");
        assert_eq!(b["error"]["suggestion"], "search_contact", "{b}");
        let (st, b) = c.put("/v1/agents/bad", json!({"actoins": []})).await;
        assert_eq!(st, 400, "{b}");
        let (st, _) = c.put("/v1/agents/bad%20name", json!({})).await;
        assert_eq!(st, 400);
        let (st, b) = c.get("/v1/agents").await;
        assert_eq!(st, 200);
        assert_eq!(b["agents"].as_array().map(Vec::len), Some(1), "{b}");

        // In a call of that agent: an action it may not run, an object it may not touch.
        let id = c.call("aria").await;
        let (st, b) = c
            .post(&format!("/v1/calls/{id}/actions/search_account"), json!({}))
            .await;
        assert_eq!(st, 403, "{b}");
        assert_eq!(b["error"]["code"], "forbidden");
        let (st, b) = c
            .post(&format!("/v1/calls/{id}/actions/search_lead"), json!({}))
            .await;
        assert_eq!(st, 403, "{b}");
        assert!(
            b["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("Lead")),
            "{b}"
        );
        let (st, b) = c
            .post(
                &format!("/v1/calls/{id}/actions/search_contact"),
                json!({"arguments": {"search_term": "{{caller_phone}}"}}),
            )
            .await;
        assert_eq!(st, 200, "{b}");

        // A delete previews first, runs with its token, and the token works once.
        let (st, case) = c
            .post(
                &format!("/v1/calls/{id}/actions/create_case"),
                json!({"arguments": {"Subject": "To delete", "ContactId": "{{search_contact.Id}}"}}),
            )
            .await;
        assert_eq!(st, 200, "{case}");
        let case_id = case["result"]["id"].as_str().expect("id").to_owned();
        let path = format!("/v1/calls/{id}/actions/delete_case");
        let (st, p) = c
            .post(&path, json!({"arguments": {"record_id": case_id}}))
            .await;
        assert_eq!(st, 200, "{p}");
        let token = p["result"]["confirmation_required"]["token"]
            .as_str()
            .expect("token")
            .to_owned();
        assert_eq!(
            p["result"]["confirmation_required"]["preview"]["arguments"]["record_id"],
            case_id.as_str()
        );
        let (st, b) = c
            .post(
                &path,
                json!({"arguments": {"record_id": case_id, "confirmation_token": "v1.9.xyz"}}),
            )
            .await;
        assert_eq!(
            (st, &b["error"]["code"]),
            (422, &json!("confirmation_invalid")),
            "{b}"
        );
        let confirmed = json!({"arguments": {"record_id": case_id, "confirmation_token": token}});
        let (st, b) = c.post(&path, confirmed.clone()).await;
        assert_eq!(st, 200, "{b}");
        assert_eq!(b["result"]["deleted"], true, "{b}");
        let (st, b) = c.post(&path, confirmed).await;
        assert_eq!(st, 422, "{b}");

        // Deleted agents are gone; calls naming an undefined agent get the default policy.
        let (st, _) = c.delete("/v1/agents/aria").await;
        assert_eq!(st, 200);
        let (st, _) = c.delete("/v1/agents/aria").await;
        assert_eq!(st, 404);
        let (st, b) = c
            .post(&format!("/v1/calls/{id}/actions/search_account"), json!({}))
            .await;
        assert_eq!(st, 200, "{b}");
    }

    #[tokio::test]
    async fn custom_actions_and_agents_belong_to_their_workspace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_s, c) = serve(&dir, CallSettings::default()).await;
        let lookup = json!({
            "description": "Find a contact by email",
            "method": "GET",
            "endpoint": "/services/data/v59.0/query/?q=SELECT Id, Name FROM Contact WHERE Email = '{{email}}'",
            "object": "Contact",
            "parameters": [{"name": "email", "location": "query", "required": true, "description": "Email"}]
        });
        let (st, b) = c.put("/v1/actions/find_by_email", lookup.clone()).await;
        assert_eq!(st, 200, "{b}");
        let (st, b) = c.get("/v1/actions/find_by_email").await;
        assert_eq!(st, 200, "{b}");
        assert_eq!(b["kind"], "custom");
        let (_, tools) = c.get("/v1/tools").await;
        assert!(names(&tools).contains(&"find_by_email"));
        let id = c.call("any").await;
        let (st, b) = c
            .post(
                &format!("/v1/calls/{id}/actions/find_by_email"),
                json!({"arguments": {"email": "sarah.johnson@acmecorp.example"}}),
            )
            .await;
        assert_eq!(st, 200, "{b}");
        assert_eq!(b["result"]["records"][0]["Name"], "Sarah Johnson", "{b}");

        // Invalid definitions: a clear 4xx.
        let mut bad = lookup.clone();
        bad["endpoint"] = json!("/etc/passwd");
        let (st, b) = c.put("/v1/actions/bad_one", bad).await;
        assert_eq!(st, 422, "{b}");
        let (st, b) = c.put("/v1/actions/search_contact", lookup.clone()).await;
        assert_eq!(st, 409, "{b}");
        let (st, _) = c
            .put("/v1/actions/find_by_email", json!({"method": 5}))
            .await;
        assert_eq!(st, 400);
        let (st, b) = c
            .put("/v1/agents/scoped", json!({"actions": ["find_by_email"]}))
            .await;
        assert_eq!(st, 200, "{b}");

        // Another workspace sees neither.
        let store = callforce_store::Store::open_sqlite(&dir.path().join("callforce.db"))
            .await
            .expect("store");
        let now = chrono::Utc::now();
        let ws = store.create_workspace("other", now).await.expect("ws");
        let key = store
            .create_api_key(ws.id, "other", now)
            .await
            .expect("key");
        let other = Client {
            base: c.base.clone(),
            key: key.plaintext.expose_secret().to_owned(),
            http: reqwest::Client::new(),
        };
        let (st, _) = other.get("/v1/actions/find_by_email").await;
        assert_eq!(st, 404);
        let (st, _) = other.get("/v1/agents/scoped").await;
        assert_eq!(st, 404);
        let (st, _) = other.get("/v1/tools?agent=scoped").await;
        assert_eq!(st, 404);
        let (st, b) = other
            .post(&format!("/v1/calls/{id}/actions/search_contact"), json!({}))
            .await;
        assert_eq!(st, 404, "another workspace's call is not found: {b}");
        let (st, _) = other.post(&format!("/v1/calls/{id}/end"), json!({})).await;
        assert_eq!(st, 404);

        let (st, _) = c.delete("/v1/actions/find_by_email").await;
        assert_eq!(st, 200);
        let (st, _) = c.delete("/v1/actions/find_by_email").await;
        assert_eq!(st, 404);
        let (st, _) = c.delete("/v1/actions/search_contact").await;
        assert_eq!(st, 404);
    }

    #[tokio::test]
    async fn idle_calls_expire_and_are_swept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = std::sync::Arc::new(AtomicI64::new(1_800_000_000_000));
        let clock = now.clone();
        let settings = CallSettings {
            idle_timeout: std::time::Duration::from_secs(60),
            clock: std::sync::Arc::new(move || {
                chrono::DateTime::from_timestamp_millis(clock.load(Ordering::SeqCst))
                    .unwrap_or_default()
            }),
        };
        let (s, c) = serve(&dir, settings).await;
        let active = c.call("a").await;
        let idle = c.call("a").await;
        now.fetch_add(50_000, Ordering::SeqCst);
        let (st, _) = c
            .post(
                &format!("/v1/calls/{active}/actions/search_contact"),
                json!({}),
            )
            .await;
        assert_eq!(st, 200);
        now.fetch_add(20_000, Ordering::SeqCst);
        // 70 s idle: gone even before a sweep; 20 s idle: still open.
        let (st, b) = c
            .post(
                &format!("/v1/calls/{idle}/actions/search_contact"),
                json!({}),
            )
            .await;
        assert_eq!(st, 404, "{b}");
        let (st, _) = c
            .post(
                &format!("/v1/calls/{active}/actions/search_contact"),
                json!({}),
            )
            .await;
        assert_eq!(st, 200);
        let third = c.call("a").await;
        assert_eq!(s.api.open_calls(), 3);
        now.fetch_add(30_000, Ordering::SeqCst);
        let (st, _) = c
            .post(
                &format!("/v1/calls/{third}/actions/search_contact"),
                json!({}),
            )
            .await;
        assert_eq!(st, 200);
        now.fetch_add(31_000, Ordering::SeqCst);
        // The sweeper ends the two idle calls and keeps the one just used.
        assert_eq!(s.api.sweep(), 2);
        assert_eq!(s.api.open_calls(), 1);
    }
}
