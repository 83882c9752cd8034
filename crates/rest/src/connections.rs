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
use serde_json::Value;

use super::{ErrorBody, answer, require_key};

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

/// A connection as the API shows it (never a secret).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectionView {
    /// Its id.
    pub id: String,
    /// Its display name.
    pub name: Option<String>,
    /// `web_server`, `jwt` or `client_credentials`.
    pub kind: String,
    /// `production`, `sandbox` or `custom`.
    pub environment: Option<String>,
    /// Where it logs in.
    pub login_url: Option<String>,
    /// The org's instance.
    pub instance_url: Option<String>,
    /// The org's id.
    pub org_id: Option<String>,
    /// The Salesforce user's id.
    pub user_id: Option<String>,
    /// The Salesforce username.
    pub username: Option<String>,
    /// The scopes it was granted.
    pub scopes: Vec<String>,
    /// The scope profile it was connected with.
    pub profile: Option<String>,
    /// The org's API version it speaks.
    pub api_version: Option<String>,
    /// `connected`, `needs_reauth`, `disconnected`...
    pub status: String,
    /// Why it is in that status.
    pub status_reason: Option<String>,
    /// Whether it is the workspace's default connection.
    pub default: bool,
    /// Its limits: `{daily_share, max_concurrent}` (null: none).
    #[schema(value_type = Object)]
    pub limits: Value,
    /// The org's latest API usage `{used, max}`, when known.
    #[schema(value_type = Option<Object>)]
    pub api_usage: Option<Value>,
    /// When it was made.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it last changed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// The answer of `GET /v1/connections`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectionList {
    /// The workspace's connections.
    pub connections: Vec<ConnectionView>,
}

/// What `POST /v1/connections/{id}/test` found with the connection's token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Tested {
    /// `true`.
    pub ok: bool,
    /// The connection.
    pub connection: String,
    /// The org's id.
    pub org_id: Option<String>,
    /// The Salesforce username.
    pub username: Option<String>,
    /// The org's latest API usage `{used, max}`, when known.
    #[schema(value_type = Option<Object>)]
    pub api_usage: Option<Value>,
}

/// A disconnected connection.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Disconnected {
    /// The connection.
    pub id: String,
    /// `disconnected`.
    pub status: String,
    /// Whether the org accepted the token's revocation.
    pub revoked_at_org: bool,
}

/// A new API key, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedKey {
    /// Its id.
    pub id: i64,
    /// What it is for.
    pub name: String,
    /// Its first characters, to recognise it.
    pub prefix: String,
    /// When it was made.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The key (only its hash is stored).
    pub key: String,
    /// A reminder that it is shown once.
    pub note: String,
}

/// The answer of `GET /v1/keys`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyList {
    /// The workspace's keys (never a key itself): id, name, prefix, when made, last used and
    /// revoked.
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<Value>,
}

/// A revoked API key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RevokedKey {
    /// Its id.
    pub id: i64,
    /// `true`.
    pub revoked: bool,
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

#[utoipa::path(
    post,
    operation_id = "link_connection",
    path = "/v1/connections/link",
    tag = "connections",
    request_body(content = Option<ConnectParams>, description = "What to connect (no body: production, standard profile)"),
    responses(
        (status = 201, description = "A link to open in a browser, once", body = callforce_app::connections::Link),
        (status = 400, description = "The body is not a connect request", body = ErrorBody),
    )
)]
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

#[utoipa::path(
    post,
    operation_id = "create_connection",
    path = "/v1/connections",
    tag = "connections",
    request_body(content = NewGrant, description = "A grant that needs no person"),
    responses(
        (status = 201, description = "The connection", body = ConnectionView),
        (status = 400, description = "The body is not a grant", body = ErrorBody),
        (status = 422, description = "The org refused or a parameter is missing", body = ErrorBody),
    )
)]
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

#[utoipa::path(
    get,
    operation_id = "list_connections",
    path = "/v1/connections",
    tag = "connections",
    responses(
        (status = 200, description = "The connections", body = ConnectionList),
    )
)]
async fn list(State(s): State<Arc<Connections>>, Extension(caller): Extension<Caller>) -> Response {
    reply(StatusCode::OK, s.list(&caller).await)
}

#[utoipa::path(
    get,
    operation_id = "show_connection",
    path = "/v1/connections/{id}",
    tag = "connections",
    params(("id" = String, Path, description = "The connection")),
    responses(
        (status = 200, description = "The connection", body = ConnectionView),
        (status = 404, description = "No such connection", body = ErrorBody),
    )
)]
async fn show(
    State(s): State<Arc<Connections>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    reply(StatusCode::OK, s.show(&caller, &id).await)
}

#[utoipa::path(
    patch,
    operation_id = "update_connection",
    path = "/v1/connections/{id}",
    tag = "connections",
    params(("id" = String, Path, description = "The connection")),
    request_body(content = Option<SettingsChange>, description = "What to change (a null limit removes it)"),
    responses(
        (status = 200, description = "The connection, changed", body = ConnectionView),
        (status = 400, description = "The body is not a settings change", body = ErrorBody),
        (status = 404, description = "No such connection", body = ErrorBody),
        (status = 409, description = "The connection cannot be changed in its status", body = ErrorBody),
    )
)]
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

#[utoipa::path(
    post,
    operation_id = "test_connection",
    path = "/v1/connections/{id}/test",
    tag = "connections",
    params(("id" = String, Path, description = "The connection")),
    responses(
        (status = 200, description = "The org answered", body = Tested),
        (status = 404, description = "No such connection", body = ErrorBody),
        (status = 409, description = "The connection is not connected", body = ErrorBody),
        (status = 502, description = "The org refused the token or did not answer", body = ErrorBody),
    )
)]
async fn test(
    State(s): State<Arc<Connections>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    reply(StatusCode::OK, s.test(&caller, &id).await)
}

#[utoipa::path(
    post,
    operation_id = "reconnect_connection",
    path = "/v1/connections/{id}/reconnect",
    tag = "connections",
    params(("id" = String, Path, description = "The connection")),
    responses(
        (status = 200, description = "Logged in again", body = ConnectionView),
        (status = 201, description = "A web-server connection: a new link to open in a browser", body = callforce_app::connections::Link),
        (status = 404, description = "No such connection", body = ErrorBody),
        (status = 422, description = "The org refused", body = ErrorBody),
        (status = 502, description = "The org did not answer the login", body = ErrorBody),
    )
)]
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

#[utoipa::path(
    delete,
    operation_id = "disconnect_connection",
    path = "/v1/connections/{id}",
    tag = "connections",
    params(("id" = String, Path, description = "The connection")),
    responses(
        (status = 200, description = "Disconnected", body = Disconnected),
        (status = 404, description = "No such connection", body = ErrorBody),
    )
)]
async fn disconnect(
    State(s): State<Arc<Connections>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    reply(StatusCode::OK, s.disconnect(&caller, &id).await)
}

#[utoipa::path(
    post,
    path = "/v1/keys",
    tag = "connections",
    request_body(content = Option<NewKey>, description = "The key's name (no body: unnamed)"),
    responses(
        (status = 201, description = "The key, shown once", body = CreatedKey),
        (status = 400, description = "The body is not {name}", body = ErrorBody),
    )
)]
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

#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "connections",
    responses(
        (status = 200, description = "The keys", body = KeyList),
    )
)]
async fn list_keys(
    State(s): State<Arc<Connections>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    reply(StatusCode::OK, s.keys().list(&caller).await)
}

#[utoipa::path(
    delete,
    path = "/v1/keys/{id}",
    tag = "connections",
    params(("id" = i64, Path, description = "The key's id")),
    responses(
        (status = 200, description = "Revoked", body = RevokedKey),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such key", body = ErrorBody),
    )
)]
async fn revoke_key(
    State(s): State<Arc<Connections>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Response {
    reply(StatusCode::OK, s.keys().revoke(&caller, id).await)
}
