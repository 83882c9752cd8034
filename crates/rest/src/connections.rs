//! The workspace's connections and API keys over the agent API; the operations, and the
//! connect flow a browser follows, are the core's ([`callforce_app::connections`]).
//!
//! ```text
//! POST   /v1/connections/link             {environment, domain?, profile?, connection?} -> {url, expires_at}
//! POST   /v1/connections                  {kind: jwt|client_credentials, ...} -> the connection
//! GET    /v1/connections                  the workspace's connections
//! GET    /v1/connections/{id}             one, with the org's API usage and its limits
//! PATCH  /v1/connections/{id}             {name?, default?, daily_share?, max_concurrent?}
//! POST   /v1/connections/{id}/test        userinfo and limits with its token
//! POST   /v1/connections/{id}/reconnect   JWT / client credentials: logs in again; web server: a new link
//! DELETE /v1/connections/{id}             revokes the token at the org; status disconnected
//! POST   /v1/keys  GET /v1/keys  DELETE /v1/keys/{id}
//! ```
//!
//! The link's pages (`/connect/salesforce` and its callback) are the HTML front door's
//! (`callforce-web`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json};
use callforce_app::connections::{
    ConnectParams, Connections, NewGrant, NewKey, Reconnected, SettingsChange,
};
use callforce_app::{Caller, Error, Kind};
use serde::Serialize;

use super::{answer, require_key};

/// The routes `/v1/connections*` and `/v1/keys*`, behind the API key check.
pub fn router(connections: Arc<Connections>) -> axum::Router {
    axum::Router::new()
        .route("/v1/connections", get(list).post(create))
        .route("/v1/connections/link", post(link))
        .route(
            "/v1/connections/{id}",
            get(show).patch(update).delete(disconnect),
        )
        .route("/v1/connections/{id}/test", post(test))
        .route("/v1/connections/{id}/reconnect", post(reconnect))
        .route("/v1/keys", get(list_keys).post(create_key))
        .route("/v1/keys/{id}", delete(revoke_key))
        .layer(axum::middleware::from_fn_with_state(
            connections.app().clone(),
            require_key,
        ))
        .with_state(connections)
}

/// A body parsed as `T` (no body: `{}`), or `invalid_body` naming the `shape` expected.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8], shape: &str) -> Result<T, Error> {
    serde_json::from_slice(if body.is_empty() { b"{}" } else { body }).map_err(|e| {
        Error::new(
            Kind::Invalid,
            "invalid_body",
            format!("the body must be JSON {shape}: {e}"),
        )
    })
}

/// The core's answer with `status`, or its error.
fn reply<T: Serialize>(status: StatusCode, r: Result<T, Error>) -> Response {
    match r {
        Ok(v) => (status, Json(v)).into_response(),
        Err(e) => answer(e),
    }
}

async fn link(
    State(s): State<Arc<Connections>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Response {
    match parse_body::<ConnectParams>(&body, "{environment, domain, profile, connection}") {
        Ok(p) => reply(StatusCode::CREATED, s.link(&caller, p).await),
        Err(e) => answer(e),
    }
}

async fn create(
    State(s): State<Arc<Connections>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Response {
    match parse_body::<NewGrant>(
        &body,
        "{kind: jwt|client_credentials, environment, domain, username, private_key, client_id, client_secret, name}",
    ) {
        Ok(b) => reply(StatusCode::CREATED, s.create(&caller, b).await),
        Err(e) => answer(e),
    }
}

async fn list(State(s): State<Arc<Connections>>, Extension(caller): Extension<Caller>) -> Response {
    reply(StatusCode::OK, s.list(&caller).await)
}

async fn show(
    State(s): State<Arc<Connections>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    reply(StatusCode::OK, s.show(&caller, &id).await)
}

async fn update(
    State(s): State<Arc<Connections>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    match parse_body::<SettingsChange>(&body, "{name, default, daily_share, max_concurrent}") {
        Ok(b) => reply(StatusCode::OK, s.update(&caller, &id, b).await),
        Err(e) => answer(e),
    }
}

async fn test(
    State(s): State<Arc<Connections>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    reply(StatusCode::OK, s.test(&caller, &id).await)
}

async fn reconnect(
    State(s): State<Arc<Connections>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    match s.reconnect(&caller, &id).await {
        // A web-server connection needs a person: a new link, made like POST /link's.
        Ok(Reconnected::Link(l)) => (StatusCode::CREATED, Json(l)).into_response(),
        Ok(Reconnected::Connection(c)) => Json(c).into_response(),
        Err(e) => answer(e),
    }
}

async fn disconnect(
    State(s): State<Arc<Connections>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    reply(StatusCode::OK, s.disconnect(&caller, &id).await)
}

async fn create_key(
    State(s): State<Arc<Connections>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Response {
    match parse_body::<NewKey>(&body, "{name}") {
        Ok(b) => reply(StatusCode::CREATED, s.keys().create(&caller, b).await),
        Err(e) => answer(e),
    }
}

async fn list_keys(
    State(s): State<Arc<Connections>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    reply(StatusCode::OK, s.keys().list(&caller).await)
}

async fn revoke_key(
    State(s): State<Arc<Connections>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Response {
    reply(StatusCode::OK, s.keys().revoke(&caller, id).await)
}
