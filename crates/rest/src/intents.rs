//! Intent maps over the agent API, one per workspace; the operations are the core's
//! ([`callforce_app::intents`]).
//!
//! ```text
//! GET  /v1/intents         the workspace's map, whether it is active, its last report, and its
//!                          status on each of the workspace's connections
//! PUT  /v1/intents         {map} -> checked against every connected org of the workspace;
//!                          stored and active only if it passes on all of them
//! POST /v1/intents/check   {map} (or no body: the stored map) -> the reports, nothing stored
//! POST /v1/intents/recheck  after a schema change: describe again, re-check the active map
//! POST /v1/calls/{id}/actions/record_intent   {"arguments": {"intent": ..., ...}}
//! ```

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use callforce_app::{App, Caller, Error, Kind};
use callforce_intents::IntentMap;
use serde_json::Value;

use super::{ErrorBody, answer, require_key};

/// The intent map routes, behind the API key check.
pub fn router(app: Arc<App>) -> axum::Router {
    axum::Router::new()
        .route("/v1/intents", get(get_map).put(put_map))
        .route("/v1/intents/check", post(check_map))
        .route("/v1/intents/recheck", post(recheck_map))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            require_key,
        ))
        .with_state(app)
}

/// The workspace's intent map and where it stands.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct IntentMapState {
    /// The map, as stored.
    #[schema(value_type = Object)]
    pub map: Value,
    /// Whether it is active (it passed its check on every connection).
    pub active: bool,
    /// Its last check's report.
    #[schema(value_type = Option<Object>)]
    pub report: Option<Value>,
    /// When it was stored.
    pub updated_at: Value,
    /// Its status on each of the workspace's connections.
    pub connections: Value,
}

/// What checking a map against the workspace's orgs found.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct IntentCheck {
    /// `PUT` and recheck: whether the map is active now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// The check's report against the default connection's org.
    pub report: Value,
    /// The report on each of the workspace's connections.
    pub connections: Value,
}

fn parse(body: &[u8]) -> Result<IntentMap, Error> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Error::new(Kind::Invalid, "invalid_map", "the body must be UTF-8 JSON"))?;
    IntentMap::from_json(text).map_err(|e| Error::new(Kind::Invalid, "invalid_map", e.to_string()))
}

fn reply(r: Result<Value, Error>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => answer(e),
    }
}

#[utoipa::path(
    get,
    operation_id = "get_intent_map",
    path = "/v1/intents",
    tag = "intents",
    responses(
        (status = 200, description = "The map and its status", body = IntentMapState),
        (status = 404, description = "The workspace has no intent map", body = ErrorBody),
    )
)]
async fn get_map(State(app): State<Arc<App>>, Extension(caller): Extension<Caller>) -> Response {
    reply(app.intents().get_map(caller.workspace).await)
}

#[utoipa::path(
    put,
    operation_id = "put_intent_map",
    path = "/v1/intents",
    tag = "intents",
    request_body(content = Object, description = "The intent map"),
    responses(
        (status = 200, description = "Checked, stored and active", body = IntentCheck),
        (status = 400, description = "The body is not an intent map", body = ErrorBody),
        (status = 422, description = "The check failed on a connection (its reports beside the error); the previous map stays", body = ErrorBody),
        (status = 409, description = "The workspace has no connected org", body = ErrorBody),
        (status = 502, description = "An org could not be described", body = ErrorBody),
        (status = 503, description = "No connection can be used now", body = ErrorBody),
    )
)]
async fn put_map(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Response {
    match parse(&body) {
        Ok(map) => reply(app.intents().put_map(&caller, map).await),
        Err(e) => answer(e),
    }
}

#[utoipa::path(
    post,
    operation_id = "recheck_intent_map",
    path = "/v1/intents/recheck",
    tag = "intents",
    responses(
        (status = 200, description = "Described again and checked", body = IntentCheck),
        (status = 404, description = "The workspace has no intent map", body = ErrorBody),
        (status = 409, description = "The workspace has no connected org", body = ErrorBody),
        (status = 502, description = "An org could not be described", body = ErrorBody),
        (status = 503, description = "No connection can be used now", body = ErrorBody),
    )
)]
async fn recheck_map(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    reply(app.intents().recheck(caller.workspace).await)
}

#[utoipa::path(
    post,
    operation_id = "check_intent_map",
    path = "/v1/intents/check",
    tag = "intents",
    request_body(content = Option<Object>, description = "The intent map to check (no body: the stored one)"),
    responses(
        (status = 200, description = "The reports (nothing stored)", body = IntentCheck),
        (status = 400, description = "The body is not an intent map", body = ErrorBody),
        (status = 404, description = "No body and no stored map", body = ErrorBody),
        (status = 409, description = "The workspace has no connected org", body = ErrorBody),
        (status = 502, description = "An org could not be described", body = ErrorBody),
        (status = 503, description = "No connection can be used now", body = ErrorBody),
    )
)]
async fn check_map(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Response {
    let map = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match parse(&body) {
            Ok(m) => Some(m),
            Err(e) => return answer(e),
        }
    };
    reply(app.intents().check_map(caller.workspace, map).await)
}
