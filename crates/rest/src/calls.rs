//! The agent REST API (`/v1`): tools for a model, call sessions, and actions run inside a call.
//!
//! ```text
//! GET  /v1/tools?agent=&connection=       the catalog (or the agent's tools) as function-calling
//!                                         tools, for a call on that connection (default: the
//!                                         workspace's default)
//! POST /v1/calls                          {caller_phone | caller_email | caller_id, agent,
//!                                          call_id?, metadata?, connection?, time_zone?}
//!                                         -> {call_id, connection, caller_context}
//! GET  /v1/calls/{id}/context             the caller context (once a late lookup is done)
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
use callforce_actions::{ActionError, CallVars, ErrorCode, Who};
use callforce_app::calls::CallerLookup;
use callforce_app::calls::IDEMPOTENCY_KEY_HEADER;
use callforce_app::{App, CallError, Caller};
use serde_json::{Value, json};

use super::{ErrorBody, answer, error, require_key};

/// The `/v1` routes, behind the API key check.
pub fn router(api: Arc<App>) -> axum::Router {
    axum::Router::new()
        .route("/v1/tools", get(tools))
        .route("/v1/calls", post(start_call))
        .route("/v1/calls/{id}/context", get(caller_context))
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
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ToolsQuery {
    /// The agent whose tools to list (default: the whole catalog).
    #[serde(default)]
    agent: Option<String>,
    /// The connection the call runs on (default: the workspace's default).
    #[serde(default)]
    connection: Option<String>,
}

/// The answer of `GET /v1/tools`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Tools {
    /// Function-calling tools: each a `{type: "function", function: {name, description,
    /// parameters}}` a model is given.
    #[schema(value_type = Vec<Object>)]
    pub tools: Vec<callforce_actions::Tool>,
}

#[utoipa::path(
    get,
    operation_id = "list_tools",
    path = "/v1/tools",
    tag = "calls",
    params(ToolsQuery),
    responses(
        (status = 200, description = "The tools", body = Tools),
        (status = 400, description = "An unknown query parameter", body = ErrorBody),
        (status = 404, description = "No such agent or connection", body = ErrorBody),
        (status = 503, description = "The connection cannot be used now", body = ErrorBody),
    )
)]
async fn tools(
    State(api): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ToolsQuery>,
) -> Response {
    match api
        .tool_definitions(&caller, q.agent.as_deref(), q.connection.as_deref())
        .await
    {
        Ok(tools) => Json(Tools { tools }).into_response(),
        Err(e) => answer(e),
    }
}

/// The body of `POST /v1/calls` (every field optional; no body is `{}`).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartCall {
    /// The call's id (default: a new one).
    #[serde(default)]
    call_id: Option<String>,
    /// The caller's phone number (any format): the caller is looked up by it at once.
    #[serde(default)]
    caller_phone: Option<String>,
    /// The caller's email, to look the caller up by when the phone is not known.
    #[serde(default)]
    caller_email: Option<String>,
    /// The caller's record id (a Contact, Lead or Person Account), when already known.
    #[serde(default)]
    caller_id: Option<String>,
    /// The agent that answers the call (its actions and objects).
    #[serde(default)]
    agent: Option<String>,
    /// Anything the call carries, given to its actions.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Map<String, Value>>,
    /// The connection to run on (default: the workspace's default).
    #[serde(default)]
    connection: Option<String>,
    /// The call's time zone, an IANA name (`America/New_York`): date-times without an offset
    /// are read in it and `{{now}}` is given in it (default: the agent's, else the connected
    /// org user's, else UTC).
    #[serde(default)]
    time_zone: Option<String>,
}

/// A started call.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Started {
    /// The call's id, for its actions.
    pub call_id: String,
    /// The connection the call runs on.
    pub connection: String,
    /// Who is calling, looked up at start: `{"status", "summary", "context"}`, where `status`
    /// is `found`, `ambiguous`, `not_found`, `pending` (the deadline passed: ask
    /// `GET /v1/calls/{id}/context`), `failed` or `not_asked`; `summary` is one paragraph for a
    /// system prompt.
    #[schema(value_type = Object)]
    pub caller_context: Value,
}

#[utoipa::path(
    post,
    path = "/v1/calls",
    tag = "calls",
    request_body(content = Option<StartCall>, description = "The call (no body: a call with a new id on the default connection)"),
    responses(
        (status = 201, description = "The call started", body = Started),
        (status = 400, description = "The body is not a call, or its time zone is not an IANA name", body = ErrorBody),
        (status = 404, description = "No such agent or connection", body = ErrorBody),
        (status = 409, description = "A call with this id is running", body = ErrorBody),
        (status = 503, description = "The connection cannot be used now", body = ErrorBody),
    )
)]
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
                    "the body must be JSON {{caller_phone, caller_email, caller_id, agent, call_id, metadata, connection, time_zone}}: {e}"
                ),
            );
        }
    };
    let who = match (&start.caller_id, &start.caller_phone, &start.caller_email) {
        (Some(id), _, _) => Some(Who::Id(id.trim().to_owned())),
        (None, Some(p), _) if !p.trim().is_empty() => Some(Who::Phone(p.trim().to_owned())),
        (None, _, Some(e)) => Some(Who::Email(e.trim().to_owned())),
        _ => None,
    };
    if let Some(Who::Email(e)) = &who
        && !e.contains('@')
    {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            &format!("caller_email '{e}' is not an email address (name@example.com)"),
        );
    }
    let vars = CallVars {
        call_id: start.call_id.unwrap_or_default(),
        caller_phone: start.caller_phone,
        agent: start.agent,
        metadata: start.metadata.unwrap_or_default(),
        workspace: Some(caller.workspace.0),
        time_zone: start.time_zone,
    };
    let (call_id, connection) = match api.start_call_on(&caller, vars, start.connection.as_deref())
    {
        Ok(started) => started,
        Err(e) => return answer(e),
    };
    let lookup = match who {
        Some(who) => api.look_up_caller(&caller, &call_id, who).await,
        None => CallerLookup::NotAsked,
    };
    (
        StatusCode::CREATED,
        Json(Started {
            call_id,
            connection,
            caller_context: lookup.to_json(),
        }),
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/v1/calls/{id}/context",
    tag = "calls",
    params(("id" = String, Path, description = "The call")),
    responses(
        (status = 200, description = "Where the caller lookup stands: `{status, summary, context}` as in the answer of POST /v1/calls", body = Object),
        (status = 404, description = "No such call", body = ErrorBody),
    )
)]
async fn caller_context(
    State(api): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    match api.caller_lookup(&caller, &id) {
        Ok(lookup) => Json(lookup.to_json()).into_response(),
        Err(e) => call_error(&e),
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

/// The body of `POST /v1/calls/{id}/actions/{name}` (no body: no arguments).
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunAction {
    /// The action's arguments, as its tool's parameters describe them; with
    /// `confirmation_token` to run a write that asked for confirmation.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    arguments: Value,
}

/// What an action answered: its result, or `{"confirmation_required": {preview, token,
/// expires_at}}` for a write that needs the caller's confirmation.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ActionResult {
    /// The result (its shape is the action's).
    pub result: Value,
}

#[utoipa::path(
    post,
    path = "/v1/calls/{id}/actions/{name}",
    tag = "calls",
    params(
        ("id" = String, Path, description = "The call"),
        ("name" = String, Path, description = "The action (a tool's name)"),
        ("Idempotency-Key" = Option<String>, Header, description = "The caller's own key for the action's write"),
    ),
    request_body(content = Option<RunAction>, description = "The arguments"),
    responses(
        (status = 200, description = "The action ran (or asks for confirmation)", body = ActionResult),
        (status = 400, description = "The body or the idempotency key is not valid", body = ErrorBody),
        (status = 403, description = "The call's agent may not run this action", body = ErrorBody),
        (status = 404, description = "No such call or action", body = ErrorBody),
        (status = 409, description = "The call cannot run actions", body = ErrorBody),
        (status = 422, description = "The action failed: what to fix", body = ErrorBody),
        (status = 429, description = "A limit of the connection was reached", body = ErrorBody),
        (status = 503, description = "The org cannot be used now", body = ErrorBody),
    )
)]
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
    match api
        .run_in_shared_call(
            &caller,
            session,
            &name,
            arguments,
            key,
            std::future::pending(),
        )
        .await
    {
        Ok(result) => Json(ActionResult { result }).into_response(),
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

/// An ended call.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Ended {
    /// The call.
    pub call_id: String,
    /// `true`.
    pub ended: bool,
}

#[utoipa::path(
    post,
    path = "/v1/calls/{id}/end",
    tag = "calls",
    params(("id" = String, Path, description = "The call")),
    responses(
        (status = 200, description = "The call ended", body = Ended),
        (status = 404, description = "No such call", body = ErrorBody),
        (status = 409, description = "The call cannot end", body = ErrorBody),
    )
)]
async fn end_call(
    State(api): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    match api.end_call(&caller, &id) {
        Ok(()) => Json(Ended {
            call_id: id,
            ended: true,
        })
        .into_response(),
        Err(e) => call_error(&e),
    }
}
