//! The agent REST API (`/v1`): tools for a model, call sessions, and actions run inside a call.
//!
//! ```text
//! GET  /v1/tools?agent=&connection=       the catalog (or the agent's tools) as function-calling
//!                                         tools, for a call on that connection (default: the
//!                                         workspace's default)
//! POST /v1/calls                          {caller_phone, agent, call_id?, metadata?, connection?}
//!                                         -> {call_id, connection}
//! POST /v1/calls/{id}/actions/{name}      {arguments} -> {result} | {error}
//! POST /v1/calls/{id}/end                 ends the call
//! ```
//! plus the routes of [`super::agents`] and [`super::deadletters`]. The calls themselves live in
//! [`callforce_app::calls`].
//!
//! Every request carries `Authorization: Bearer <API key>`, and sees only its workspace (calls,
//! agents, custom actions). A tool that ran and failed answers 422 with an error a model can act
//! on (`code`, `message`, `field`, `valid_values`, `suggestion`, `missing`); an unknown call or
//! action is 404, an action the call's agent may not run 403. A write that needs the caller's
//! confirmation answers 200 with `{"result": {"confirmation_required": {preview, token,
//! expires_at}}}`; the same call with `confirmation_token` in the arguments runs it.
//!
//! A call runs on one of the workspace's connections ([`callforce_app::registry`]): the one named by
//! `connection` in `POST /v1/calls`, else the workspace's default. An action needing a scope the
//! connection was not granted is refused before any request (422 `missing_scope`, naming the
//! profile to pick), and a read beyond the connection's limits is refused (429 `limit_reached`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use callforce_actions::{ActionError, CallVars, ErrorCode};
use callforce_app::calls::IDEMPOTENCY_KEY_HEADER;
use callforce_app::{App, CallError, Caller};
use serde_json::{Value, json};

use super::{answer, error, require_key};

/// The `/v1` routes, behind the API key check.
pub fn router(api: Arc<App>) -> axum::Router {
    axum::Router::new()
        .route("/v1/tools", get(tools))
        .route("/v1/calls", post(start_call))
        .route("/v1/calls/{id}/actions/{name}", post(run_action))
        .route("/v1/calls/{id}/end", post(end_call))
        .merge(super::deadletters::router(api.store().clone()))
        .merge(super::agents::routes())
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            require_key,
        ))
        .with_state(api)
}

/// The query of `GET /v1/tools`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolsQuery {
    #[serde(default)]
    agent: Option<String>,
    /// The connection the call runs on (default: the workspace's default).
    #[serde(default)]
    connection: Option<String>,
}

async fn tools(
    State(api): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ToolsQuery>,
) -> Response {
    match api
        .tool_definitions(&caller, q.agent.as_deref(), q.connection.as_deref())
        .await
    {
        Ok(tools) => Json(json!({ "tools": tools })).into_response(),
        Err(e) => answer(e),
    }
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
    /// The connection to run on (default: the workspace's default).
    #[serde(default)]
    connection: Option<String>,
}

async fn start_call(
    State(api): State<Arc<App>>,
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
                &format!(
                    "the body must be JSON {{caller_phone, agent, call_id, metadata, connection}}: {e}"
                ),
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
    match api.start_call_on(&caller, vars, start.connection.as_deref()) {
        Ok((call_id, connection)) => (
            StatusCode::CREATED,
            Json(json!({ "call_id": call_id, "connection": connection })),
        )
            .into_response(),
        Err(e) => answer(e),
    }
}

fn call_error(e: &CallError) -> Response {
    match e {
        CallError::Exists(_) => error(StatusCode::CONFLICT, "call_exists", &e.to_string()),
        CallError::Unknown(_) => error(
            StatusCode::NOT_FOUND,
            "unknown_call",
            &format!("{e} (a call ends after being idle); start one with POST /v1/calls"),
        ),
        _ => error(StatusCode::CONFLICT, "call", &e.to_string()),
    }
}

/// The body of `POST /v1/calls/{id}/actions/{name}`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RunAction {
    #[serde(default)]
    arguments: Value,
}

async fn run_action(
    State(api): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path((id, name)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let key = match idempotency_key(&headers) {
        Ok(k) => k,
        Err(m) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                &format!("Idempotency-Key: {m}"),
            );
        }
    };
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
        .run_action(&caller, &mut session, &name, arguments, key)
        .await
    {
        Ok(result) => Json(json!({ "result": result })).into_response(),
        Err(e) => action_error(&e),
    }
}

/// The `Idempotency-Key` header of a request, checked: the caller's own key for the action's
/// write (see `docs/writes.md`), or what to fix.
fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<Option<String>, String> {
    let Some(v) = headers.get(IDEMPOTENCY_KEY_HEADER) else {
        return Ok(None);
    };
    let checked = v
        .to_str()
        .map_err(|_| "an idempotency key must be printable ASCII".to_owned())
        .and_then(|k| callforce_actions::idempotency::check_caller_key(k).map(|()| k));
    checked.map(|k| Some(k.to_owned()))
}

fn action_error(e: &ActionError) -> Response {
    let status = match e.code {
        ErrorCode::UnknownAction => StatusCode::NOT_FOUND,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::Unavailable | ErrorCode::NeedsReauth => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::LimitReached => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    (status, Json(json!({ "error": e }))).into_response()
}

async fn end_call(
    State(api): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    match api.end_call(&caller, &id) {
        Ok(()) => Json(json!({ "call_id": id, "ended": true })).into_response(),
        Err(e) => call_error(&e),
    }
}
