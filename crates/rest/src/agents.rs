//! Agents and custom actions per workspace over the API; the operations are the core's
//! ([`callforce_app::workspaces`]).
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

use super::answer;

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

fn reply(r: Result<Value, Error>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => answer(e),
    }
}

async fn list_agents(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    reply(app.workspaces().agents(caller.workspace).await)
}

async fn get_agent(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    reply(app.workspaces().agent(caller.workspace, &name).await)
}

async fn put_agent(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    reply(app.workspaces().put_agent(&caller, &name, &body).await)
}

async fn delete_agent(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    reply(app.workspaces().delete_agent(&caller, &name).await)
}

async fn list_actions(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    reply(app.workspaces().actions(caller.workspace).await)
}

async fn get_action(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    reply(app.workspaces().action(caller.workspace, &name).await)
}

async fn put_action(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    reply(app.workspaces().put_action(&caller, &name, &body).await)
}

async fn delete_action(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    reply(app.workspaces().delete_action(&caller, &name).await)
}
