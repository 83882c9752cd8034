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
//! [`callforce_app::changes`]) in the transaction of the change.
//!
//! Each workspace sees the built-in catalog and the shipped custom examples, plus its own custom
//! actions (one of the same name as an example replaces it). Definitions are validated before
//! they are stored. The resolved view of a workspace is cached in memory and dropped when this
//! instance changes it; another instance sharing the database sees the change after
//! [`WORKSPACE_CACHE_TTL`].

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json};
use callforce_actions::{Action, ActionError, Agent, Catalog, CustomAction};
use callforce_store::DefinitionKind;
use serde_json::{Value, json};

use callforce_app::workspaces::no_agent;
use callforce_app::{App, Caller, Error, Kind};

use super::{answer, error};
use callforce_app::changes::{self, Actor};

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

fn check_name(name: &str) -> Result<(), Error> {
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

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| {
        Error::new(
            Kind::Invalid,
            "invalid_body",
            format!("the body must be a JSON {what}: {e}"),
        )
    })
}

async fn list_agents(
    State(api): State<Arc<App>>,
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
    State(api): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    match api
        .store()
        .definition(DefinitionKind::Agent, caller.workspace, &name)
        .await
    {
        Ok(Some(d)) => Json(d).into_response(),
        Ok(None) => answer(no_agent(&name)),
        Err(e) => store_failed(&e),
    }
}

async fn put_agent(
    State(api): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = check_name(&name) {
        return answer(r);
    }
    let agent: Agent = match parse(
        &body,
        "agent {actions, objects, confirm_writes, confirm, skip_confirmation, description}",
    ) {
        Ok(a) => a,
        Err(r) => return answer(r),
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
    State(api): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Response {
    delete_definition(&api, caller, DefinitionKind::Agent, &name, || {
        answer(no_agent(&name))
    })
    .await
}

/// Deletes a stored definition of the caller's workspace and drops the workspace's cached
/// definitions; `missing` answers when there is no such definition.
async fn delete_definition(
    api: &App,
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
    State(api): State<Arc<App>>,
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
    State(api): State<Arc<App>>,
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
    State(api): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let mut def: Value = match parse(&body, "custom action") {
        Ok(v) => v,
        Err(r) => return answer(r),
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
        Err(r) => return answer(r),
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
    State(api): State<Arc<App>>,
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
