//! The agent REST API (`/v1`): tools for a model, call sessions, and actions run inside a call.
//!
//! ```text
//! GET  /v1/tools                          the catalog as function-calling tools
//! POST /v1/calls                          {caller_phone, agent, call_id?, metadata?} -> {call_id}
//! POST /v1/calls/{id}/actions/{name}      {arguments} -> {result} | {error}
//! POST /v1/calls/{id}/end                 ends the call
//! ```
//!
//! Every request carries `Authorization: Bearer <API key>`. A tool that ran and failed answers
//! 422 with an error a model can act on (`code`, `message`, `field`, `valid_values`,
//! `suggestion`, `missing`); an unknown call or action is 404. Call sessions live in memory.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use callforce_actions::{Action, ActionError, Actions, CallSession, CallVars, ErrorCode, Tool};
use callforce_store::{ApiKeyId, WorkspaceId};
use parking_lot::Mutex;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The API's state: the actions bound to the org, the open calls, the keys it accepts.
pub struct Api {
    actions: Actions,
    /// Open calls by workspace and call id: a call id opens nothing in another workspace.
    calls: Mutex<HashMap<(WorkspaceId, String), SharedCall>>,
    /// The hash of the key from `CALLFORCE_API_KEY`, if one was given.
    env_key_hash: Option<[u8; 32]>,
    /// The workspace the `CALLFORCE_API_KEY` key opens.
    default_workspace: WorkspaceId,
    /// Keys created in the store (hashed there).
    store: callforce_store::Store,
}

/// An open call, shared by the requests that run actions in it (one at a time).
pub type SharedCall = Arc<tokio::sync::Mutex<CallSession>>;

/// Why a call could not be started or found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// A call with this id is already open in the workspace.
    #[error("call '{0}' is already open")]
    Exists(String),
    /// No call with this id is open in the workspace.
    #[error("no open call '{0}'")]
    Unknown(String),
}

/// Who is calling: put on every authenticated request as an extension, so that every handler
/// reads and writes only its workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The workspace the API key belongs to.
    pub workspace: WorkspaceId,
    /// The stored key used, or `None` for the key from `CALLFORCE_API_KEY`.
    pub key: Option<ApiKeyId>,
}

impl Api {
    /// An API over `actions`, accepting the keys of `store`, and `env_key` if given (which opens
    /// `default_workspace`).
    pub fn new(
        actions: Actions,
        store: callforce_store::Store,
        env_key: Option<&str>,
        default_workspace: WorkspaceId,
    ) -> Self {
        Self {
            actions,
            calls: Mutex::new(HashMap::new()),
            env_key_hash: env_key.map(|k| Sha256::digest(k.as_bytes()).into()),
            default_workspace,
            store,
        }
    }

    /// The actions bound to the org.
    pub fn actions(&self) -> &Actions {
        &self.actions
    }

    /// The tools `caller` may offer a model, for `agent` when given: what `/v1/tools` and MCP's
    /// `tools/list` both show, in catalog order.
    pub fn tools(&self, caller: &Caller, agent: Option<&str>) -> Vec<&Action> {
        // Every workspace and agent sees the whole catalog until agents narrow it.
        let _ = (caller, agent);
        self.actions.catalog().actions().iter().collect()
    }

    /// Starts a call in `caller`'s workspace; an empty `vars.call_id` gets a fresh id. Returns
    /// the call id.
    ///
    /// # Errors
    /// [`CallError::Exists`] when the id is already open in the workspace.
    pub fn start_call(&self, caller: &Caller, mut vars: CallVars) -> Result<String, CallError> {
        if vars.call_id.trim().is_empty() {
            vars.call_id = new_call_id();
        }
        let id = vars.call_id.clone();
        let mut calls = self.calls.lock();
        let key = (caller.workspace, id.clone());
        if calls.contains_key(&key) {
            return Err(CallError::Exists(id));
        }
        calls.insert(
            key,
            Arc::new(tokio::sync::Mutex::new(CallSession::new(vars))),
        );
        Ok(id)
    }

    /// The open call `id` of `caller`'s workspace, or a new one started with `vars` (whose
    /// `call_id` is `id`): for transports where the first action starts the call (MCP).
    pub fn call_or_start(&self, caller: &Caller, vars: CallVars) -> SharedCall {
        let key = (caller.workspace, vars.call_id.clone());
        self.calls
            .lock()
            .entry(key)
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(CallSession::new(vars))))
            .clone()
    }

    /// The open call `id` of `caller`'s workspace.
    ///
    /// # Errors
    /// [`CallError::Unknown`] when no such call is open.
    pub fn call(&self, caller: &Caller, id: &str) -> Result<SharedCall, CallError> {
        self.calls
            .lock()
            .get(&(caller.workspace, id.to_owned()))
            .cloned()
            .ok_or_else(|| CallError::Unknown(id.to_owned()))
    }

    /// Runs action `name` with `arguments` inside `call` for `caller`: the result is remembered
    /// in the call, so later templates can use it.
    ///
    /// # Errors
    /// An [`ActionError`] a model can act on.
    pub async fn run_action(
        &self,
        caller: &Caller,
        call: &mut CallSession,
        name: &str,
        arguments: Value,
    ) -> Result<Value, ActionError> {
        // Its writes are queued and audited in the caller's workspace.
        call.vars.workspace = Some(caller.workspace.0);
        self.actions.run(call, name, arguments).await
    }

    /// Ends the call `id` of `caller`'s workspace.
    ///
    /// # Errors
    /// [`CallError::Unknown`] when no such call is open.
    pub fn end_call(&self, caller: &Caller, id: &str) -> Result<(), CallError> {
        match self.calls.lock().remove(&(caller.workspace, id.to_owned())) {
            Some(_) => Ok(()),
            None => Err(CallError::Unknown(id.to_owned())),
        }
    }

    /// The caller a key identifies, if the key is valid.
    pub(crate) async fn caller(&self, key: &str) -> Option<Caller> {
        // Comparing hashes keeps the comparison's timing independent of the key.
        let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        if self.env_key_hash == Some(hash) {
            return Some(Caller {
                workspace: self.default_workspace,
                key: None,
            });
        }
        match self.store.authenticate(key).await {
            Ok(found) => found.map(|(workspace, key)| Caller {
                workspace,
                key: Some(key),
            }),
            Err(e) => {
                tracing::error!(error = %e, "API key check: the store failed");
                None
            }
        }
    }
}

/// The `/v1` routes, behind the API key check.
pub fn router(api: Arc<Api>) -> axum::Router {
    axum::Router::new()
        .route("/v1/tools", get(tools))
        .route("/v1/calls", post(start_call))
        .route("/v1/calls/{id}/actions/{name}", post(run_action))
        .route("/v1/calls/{id}/end", post(end_call))
        .merge(crate::deadletters::router(api.store.clone()))
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            require_key,
        ))
        .with_state(api)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

pub(crate) async fn require_key(
    State(api): State<Arc<Api>>,
    mut req: Request,
    next: Next,
) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|k| k.trim().to_owned());
    let caller = match &given {
        Some(k) => api.caller(k).await,
        None => None,
    };
    let Some(caller) = caller else {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send an API key as 'Authorization: Bearer <key>' (printed by 'callforce serve' at its first start, or set with CALLFORCE_API_KEY)",
        );
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

async fn tools(State(api): State<Arc<Api>>, Extension(caller): Extension<Caller>) -> Json<Value> {
    let tools: Vec<Tool> = api
        .tools(&caller, None)
        .into_iter()
        .map(Action::tool)
        .collect();
    Json(json!({ "tools": tools }))
}

/// The body of `POST /v1/calls`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StartCall {
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default)]
    caller_phone: Option<String>,
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    metadata: Option<serde_json::Map<String, Value>>,
}

async fn start_call(
    State(api): State<Arc<Api>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Response {
    let start: StartCall = match serde_json::from_slice(if body.is_empty() { b"{}" } else { &body })
    {
        Ok(s) => s,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                &format!("the body must be JSON {{caller_phone, agent, call_id, metadata}}: {e}"),
            );
        }
    };
    let vars = CallVars {
        call_id: start.call_id.unwrap_or_default(),
        caller_phone: start.caller_phone,
        agent: start.agent,
        metadata: start.metadata.unwrap_or_default(),
        workspace: Some(caller.workspace.0),
    };
    match api.start_call(&caller, vars) {
        Ok(call_id) => (StatusCode::CREATED, Json(json!({ "call_id": call_id }))).into_response(),
        Err(e) => call_error(&e),
    }
}

fn call_error(e: &CallError) -> Response {
    match e {
        CallError::Exists(_) => error(StatusCode::CONFLICT, "call_exists", &e.to_string()),
        CallError::Unknown(_) => error(
            StatusCode::NOT_FOUND,
            "unknown_call",
            &format!("{e}; start one with POST /v1/calls"),
        ),
    }
}

/// A fresh call id.
pub fn new_call_id() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("call-{n:016x}")
}

/// The body of `POST /v1/calls/{id}/actions/{name}`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RunAction {
    #[serde(default)]
    arguments: Value,
}

async fn run_action(
    State(api): State<Arc<Api>>,
    Extension(caller): Extension<Caller>,
    Path((id, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let run: RunAction = match serde_json::from_slice(if body.is_empty() { b"{}" } else { &body }) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                &format!("the body must be JSON {{\"arguments\": {{...}}}}: {e}"),
            );
        }
    };
    let session = match api.call(&caller, &id) {
        Ok(s) => s,
        Err(e) => return call_error(&e),
    };
    let arguments = if run.arguments.is_null() {
        json!({})
    } else {
        run.arguments
    };
    let mut session = session.lock().await;
    match api
        .run_action(&caller, &mut session, &name, arguments)
        .await
    {
        Ok(result) => Json(json!({ "result": result })).into_response(),
        Err(e) => action_error(&e),
    }
}

fn action_error(e: &ActionError) -> Response {
    let status = match e.code {
        ErrorCode::UnknownAction => StatusCode::NOT_FOUND,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    (status, Json(json!({ "error": e }))).into_response()
}

async fn end_call(
    State(api): State<Arc<Api>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    match api.end_call(&caller, &id) {
        Ok(()) => Json(json!({ "call_id": id, "ended": true })).into_response(),
        Err(e) => call_error(&e),
    }
}
