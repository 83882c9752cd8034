//! Agents and custom actions per workspace over the API; the operations are the core's
//! ([`callforce_app::workspaces`]).
//!
//! ```text
//! GET    /v1/agents                 the workspace's agents
//! GET    /v1/agents/{name}          one agent
//! PUT    /v1/agents/{name}          {actions?, objects?, confirm_writes?, confirm?, skip_confirmation?, description?, time_zone?}
//! DELETE /v1/agents/{name}
//! GET    /v1/actions                every action of the workspace (built-in and custom)
//! GET    /v1/actions/{name}         one action (custom ones with their definition)
//! PUT    /v1/actions/{name}         a custom action {description, method, endpoint, body?, object?, parameters, confirmation?, destructive?}
//! DELETE /v1/actions/{name}         a custom action
//! ```
//!
//! Every save and delete is audited (`config.agent.*`, `config.action.*`, see
//! [`callforce_app::changes`]) in the transaction of the change.
//!
//! Each workspace sees the built-in catalog and the shipped custom examples, plus its own custom
//! actions (one of the same name as an example replaces it). Definitions are validated before
//! they are stored. The resolved view of a workspace is cached in memory and dropped when this
//! instance changes it; another instance sharing the database sees the change after
//! [`callforce_app::workspaces::WORKSPACE_CACHE_TTL`].

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json};
use callforce_app::{App, Caller, Error};
use serde_json::Value;

use super::{ErrorBody, answer};

/// The agent and custom-action routes (mounted behind the API key check by [`super::calls::router`]).
pub fn routes() -> axum::Router<Arc<App>> {
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

/// The answer of `GET /v1/agents`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AgentList {
    /// The workspace's agents, as stored (each as `GET /v1/agents/{name}` answers it).
    #[schema(value_type = Vec<Object>)]
    pub agents: Vec<Value>,
}

/// A saved agent.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SavedAgent {
    /// The agent's name.
    pub name: String,
    /// Its definition, as stored.
    #[schema(value_type = Object)]
    pub definition: Value,
    /// When it was saved.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// A deleted agent or custom action.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Deleted {
    /// Its name.
    pub name: String,
    /// `true`.
    pub deleted: bool,
}

/// An action of the workspace: its tool and what it does.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ActionView {
    /// The action's (and its tool's) name.
    pub name: String,
    /// What the tool tells a model.
    pub description: String,
    /// The tool's parameters, a JSON Schema.
    #[schema(value_type = Object)]
    pub parameters: Value,
    /// What it does to the org: `read`, `write` or `destroy`.
    pub effect: String,
    /// `builtin` or `custom`.
    pub kind: String,
    /// Whether a write asks the caller to confirm by default.
    pub needs_confirmation: bool,
    /// A custom action's definition.
    #[schema(value_type = Option<Object>)]
    pub definition: Option<Value>,
}

/// The answer of `GET /v1/actions`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ActionList {
    /// Every action of the workspace.
    pub actions: Vec<ActionView>,
}

fn reply(r: Result<Value, Error>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => answer(e),
    }
}

#[utoipa::path(
    get,
    path = "/v1/agents",
    tag = "agents",
    responses(
        (status = 200, description = "The agents", body = AgentList),
    )
)]
async fn list_agents(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    reply(app.workspaces().agents(caller.workspace).await)
}

#[utoipa::path(
    get,
    path = "/v1/agents/{name}",
    tag = "agents",
    params(("name" = String, Path, description = "The agent")),
    responses(
        (status = 200, description = "The agent's definition", body = Object),
        (status = 404, description = "No such agent", body = ErrorBody),
    )
)]
async fn get_agent(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    reply(app.workspaces().agent(caller.workspace, &name).await)
}

#[utoipa::path(
    put,
    path = "/v1/agents/{name}",
    tag = "agents",
    params(("name" = String, Path, description = "The agent")),
    request_body(content = Object, description = "The agent: {actions?, objects?, confirm_writes?, confirm?, skip_confirmation?, description?, time_zone?}"),
    responses(
        (status = 200, description = "The agent, saved", body = SavedAgent),
        (status = 400, description = "The body is not an agent", body = ErrorBody),
        (status = 422, description = "The definition is refused by its check", body = ErrorBody),
    )
)]
async fn put_agent(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    reply(app.workspaces().put_agent(&caller, &name, &body).await)
}

#[utoipa::path(
    delete,
    path = "/v1/agents/{name}",
    tag = "agents",
    params(("name" = String, Path, description = "The agent")),
    responses(
        (status = 200, description = "The agent is deleted", body = Deleted),
        (status = 404, description = "No such agent", body = ErrorBody),
    )
)]
async fn delete_agent(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    reply(app.workspaces().delete_agent(&caller, &name).await)
}

#[utoipa::path(
    get,
    path = "/v1/actions",
    tag = "agents",
    responses(
        (status = 200, description = "The actions", body = ActionList),
    )
)]
async fn list_actions(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    reply(app.workspaces().actions(caller.workspace).await)
}

#[utoipa::path(
    get,
    path = "/v1/actions/{name}",
    tag = "agents",
    params(("name" = String, Path, description = "The action")),
    responses(
        (status = 200, description = "The action", body = ActionView),
        (status = 404, description = "No such action", body = ErrorBody),
    )
)]
async fn get_action(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    reply(app.workspaces().action(caller.workspace, &name).await)
}

#[utoipa::path(
    put,
    path = "/v1/actions/{name}",
    tag = "agents",
    params(("name" = String, Path, description = "The action")),
    request_body(content = Object, description = "A custom action: {description, method, endpoint, body?, object?, parameters, confirmation?, destructive?}"),
    responses(
        (status = 200, description = "The custom action, saved", body = ActionView),
        (status = 400, description = "The body is not a custom action", body = ErrorBody),
        (status = 409, description = "A built-in action has this name", body = ErrorBody),
        (status = 422, description = "The definition is refused by its check", body = ErrorBody),
    )
)]
async fn put_action(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    reply(app.workspaces().put_action(&caller, &name, &body).await)
}

#[utoipa::path(
    delete,
    path = "/v1/actions/{name}",
    tag = "agents",
    params(("name" = String, Path, description = "The action")),
    responses(
        (status = 200, description = "The custom action is deleted", body = Deleted),
        (status = 404, description = "No such custom action", body = ErrorBody),
    )
)]
async fn delete_action(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    reply(app.workspaces().delete_action(&caller, &name).await)
}
