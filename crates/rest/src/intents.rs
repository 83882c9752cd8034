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

use super::{answer, require_key};

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

async fn get_map(State(app): State<Arc<App>>, Extension(caller): Extension<Caller>) -> Response {
    reply(app.intents().get_map(caller.workspace).await)
}

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

async fn recheck_map(
    State(app): State<Arc<App>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    reply(app.intents().recheck(caller.workspace).await)
}

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
