//! Connecting orgs, and the workspace's connections and API keys.
//!
//! ```text
//! POST   /v1/connections/link             {environment, domain?, profile?, connection?} -> {url, expires_at}
//! GET    /connect/salesforce?link=...     (a browser) -> the org's login page (web-server flow, PKCE S256)
//! GET    /connect/salesforce?environment=production|sandbox|custom&domain=...&profile=standard|extended|privileged
//!                                         (with Authorization: Bearer <key>, for clients that are not browsers)
//! GET    /connect/salesforce/callback     the org sends the browser back here -> "Connected" page
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
//! A browser cannot send an `Authorization` header, and an API key in a URL ends up in browser
//! history and proxy logs, so a browser starts the flow with a *link*: one-time, bound to the
//! workspace and the key that made it, valid ten minutes. The flow's `state` is one-time too,
//! stored by its hash with the workspace, the admin's key, the PKCE verifier (sealed) and the
//! hash of a cookie set on the browser that started it: a callback with a state that is unknown
//! (forged), used, expired, or from another browser (another workspace's flow) is refused.
//!
//! Connects, reconnects, tests, disconnects, settings changes and keys created or revoked are
//! audited ([`callforce_app::changes`]) with the admin's key as the actor; a browser's connect is
//! attributed to the key that made its link.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json};
use callforce_client::ExposeSecret;
use callforce_client::auth::Pkce;
use callforce_store::{ApiKeyId, OneTimeKind, OneTimeToken, StoredConnection, Taken, WorkspaceId};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use callforce_app::changes::{self, Actor};
use callforce_app::registry::{
    APP_PROFILE, Connected, LookupError, NewConnection, Registry, profile_scopes,
};
use callforce_app::vault::{STATE, Secrets};
use callforce_app::{App, Caller};

/// The connect routes' state.
pub struct Connect {
    /// The live connections.
    pub registry: Arc<Registry>,
    /// The API (its key check).
    pub api: Arc<App>,
    /// The service's public base URL (links are made from it).
    pub public_url: String,
    /// How long a link and a flow's `state` are accepted.
    pub ttl: Duration,
}

const COOKIE: &str = "cf_connect";

/// The routes: `/v1/connections*` and `/v1/keys*` behind the API key check, and the two
/// `/connect/salesforce` routes a browser follows.
pub fn router(state: Arc<Connect>) -> axum::Router {
    let v1 = axum::Router::new()
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
            state.api.clone(),
            super::require_key,
        ))
        .with_state(state.clone());
    let browser = axum::Router::new()
        .route("/connect/salesforce", get(start))
        .route("/connect/salesforce/callback", get(callback))
        .with_state(state);
    v1.merge(browser)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

fn internal(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "connections: internal error");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error (logged)",
    )
}

fn sha256_hex(s: &str) -> String {
    callforce_store::keys::hash_key(s)
}

fn random_token() -> String {
    use rand::RngCore;
    let mut raw = [0u8; 24];
    rand::rng().fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// HTML-escapes text.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} | callforce</title>\
<style>body{{font-family:sans-serif;max-width:34rem;margin:3rem auto}}dt{{font-weight:bold}}</style></head>\
<body><h1>{t}</h1>{body}</body></html>\n",
        t = escape(title)
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

fn refused(status: StatusCode, why: &str) -> Response {
    page(
        status,
        "Not connected",
        &format!(
            "<p role=\"alert\">{}</p><p>Start again from callforce (POST /v1/connections/link gives a new link).</p>",
            escape(why)
        ),
    )
}

/// What a connect flow is asked to do (a link's payload, or the query of a direct start).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ConnectParams {
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    profile: Option<String>,
    /// The connection to authorise again.
    #[serde(default)]
    connection: Option<String>,
}

/// The checked parameters: environment, login URL, profile.
struct Checked {
    environment: String,
    domain: Option<String>,
    login_url: String,
    profile: String,
    connection: Option<String>,
}

async fn check_params(
    reg: &Registry,
    workspace: WorkspaceId,
    p: &ConnectParams,
) -> Result<Checked, String> {
    let environment = p.environment.clone().unwrap_or_else(|| "production".into());
    let profile = p.profile.clone().unwrap_or_else(|| "standard".into());
    if profile_scopes(&profile).is_none() {
        return Err(format!(
            "unknown profile '{profile}': use standard (the default), extended or privileged"
        ));
    }
    let login_url = reg.app().login_url(&environment, p.domain.as_deref())?;
    if let Some(id) = &p.connection {
        match reg.store().connection(workspace, id).await {
            Ok(Some(c)) if c.kind == "web_server" => {}
            Ok(Some(_)) => {
                return Err(format!(
                    "connection {id} is not a web-server connection: POST /v1/connections/{id}/reconnect"
                ));
            }
            Ok(None) => return Err(format!("no connection '{id}' in this workspace")),
            Err(e) => {
                tracing::error!(error = %e, "reading a connection");
                return Err("internal error (logged)".into());
            }
        }
    }
    Ok(Checked {
        environment,
        domain: p.domain.clone(),
        login_url,
        profile,
        connection: p.connection.clone(),
    })
}

#[derive(Debug, Deserialize)]
struct StartQuery {
    #[serde(default)]
    link: Option<String>,
    #[serde(flatten)]
    params: ConnectParams,
}

/// What the `state` row keeps until the callback (no secret: the verifier is sealed apart).
#[derive(Debug, Serialize, Deserialize)]
struct StatePayload {
    environment: String,
    login_url: String,
    profile: String,
    connection: Option<String>,
    /// SHA-256 of the cookie set on the browser that started the flow.
    browser: String,
}

async fn start(
    State(s): State<Arc<Connect>>,
    headers: HeaderMap,
    Query(q): Query<StartQuery>,
) -> Response {
    let now = Utc::now();
    let (workspace, key, params) = if let Some(link) = &q.link {
        match s
            .registry
            .store()
            .take_one_time(OneTimeKind::Link, &sha256_hex(link), now)
            .await
        {
            Ok(Taken::Fresh(t)) => match serde_json::from_str::<ConnectParams>(&t.payload) {
                Ok(p) => (t.workspace, t.api_key, p),
                Err(e) => return internal(&e),
            },
            Ok(Taken::Unknown) => {
                return refused(StatusCode::BAD_REQUEST, "This connect link is not valid.");
            }
            Ok(Taken::Reused) => {
                return refused(
                    StatusCode::BAD_REQUEST,
                    "This connect link was used already; a link works once.",
                );
            }
            Ok(Taken::Expired) => {
                return refused(StatusCode::BAD_REQUEST, "This connect link has expired.");
            }
            Err(e) => return internal(&e),
        }
    } else {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let caller = match given {
            Some(k) => s.api.caller(k.trim()).await,
            None => None,
        };
        let Some(caller) = caller else {
            return refused(
                StatusCode::UNAUTHORIZED,
                "Open this page with a connect link (POST /v1/connections/link), or send an API key as 'Authorization: Bearer <key>'.",
            );
        };
        (caller.workspace, caller.key, q.params.clone())
    };
    let checked = match check_params(&s.registry, workspace, &params).await {
        Ok(c) => c,
        Err(m) => return refused(StatusCode::BAD_REQUEST, &m),
    };
    let oauth = match s.registry.app().oauth(&checked.login_url, None, None) {
        Ok(o) => o,
        Err(e) => return refused(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let scopes = profile_scopes(&checked.profile).unwrap_or(&[]);
    let auth = match oauth.authorize_url(scopes) {
        Ok(a) => a,
        Err(e) => return internal(&e),
    };
    let browser = random_token();
    let state_hash = sha256_hex(&auth.state);
    let payload = StatePayload {
        environment: checked.environment,
        login_url: checked.login_url,
        profile: checked.profile,
        connection: checked.connection,
        browser: sha256_hex(&browser),
    };
    let vault = s.registry.vault();
    let token = OneTimeToken {
        workspace,
        api_key: key,
        payload: serde_json::to_string(&payload).unwrap_or_default(),
        secret: Some(vault.seal(
            STATE,
            &state_hash,
            auth.pkce.verifier.expose_secret().as_bytes(),
        )),
        key_version: Some(vault.version()),
        expires_at: now + s.ttl,
    };
    if let Err(e) = s
        .registry
        .store()
        .create_one_time(OneTimeKind::State, &state_hash, &token, now)
        .await
    {
        return internal(&e);
    }
    let _ = checked.domain;
    let cookie = format!(
        "{COOKIE}={browser}; Path=/connect/salesforce; HttpOnly; SameSite=Lax; Max-Age={}",
        s.ttl.as_secs().max(1)
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, auth.url),
            (header::SET_COOKIE, cookie),
            (header::CACHE_CONTROL, "no-store".into()),
        ],
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

async fn callback(
    State(s): State<Arc<Connect>>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let now = Utc::now();
    let Some(state) = q.state.as_deref().filter(|v| !v.is_empty()) else {
        return refused(StatusCode::BAD_REQUEST, "The answer carries no state.");
    };
    let state_hash = sha256_hex(state);
    let token = match s
        .registry
        .store()
        .take_one_time(OneTimeKind::State, &state_hash, now)
        .await
    {
        Ok(Taken::Fresh(t)) => t,
        Ok(Taken::Unknown) => {
            return refused(
                StatusCode::BAD_REQUEST,
                "This answer does not belong to a connect flow callforce started (unknown state).",
            );
        }
        Ok(Taken::Reused) => {
            return refused(
                StatusCode::BAD_REQUEST,
                "This answer was used already (the state works once).",
            );
        }
        Ok(Taken::Expired) => {
            return refused(
                StatusCode::BAD_REQUEST,
                "This connect flow took too long and expired.",
            );
        }
        Err(e) => return internal(&e),
    };
    let payload: StatePayload = match serde_json::from_str(&token.payload) {
        Ok(p) => p,
        Err(e) => return internal(&e),
    };
    let browser_ok = cookie_value(&headers).is_some_and(|c| sha256_hex(&c) == payload.browser);
    if !browser_ok {
        tracing::warn!(workspace = %token.workspace, "connect callback from another browser than the one that started the flow");
        return refused(
            StatusCode::FORBIDDEN,
            "This answer belongs to a connect flow started in another browser session.",
        );
    }
    if let Some(err) = &q.error {
        let why = q.error_description.as_deref().unwrap_or(err);
        return refused(
            StatusCode::BAD_REQUEST,
            &format!("The org did not authorise callforce: {why}"),
        );
    }
    let Some(code) = q.code.as_deref().filter(|c| !c.is_empty()) else {
        return refused(StatusCode::BAD_REQUEST, "The answer carries no code.");
    };
    let vault = s.registry.vault();
    let verifier = match (&token.secret, token.key_version) {
        (Some(sealed), Some(v)) => match vault.open(STATE, &state_hash, v, sealed) {
            Ok(p) => String::from_utf8(p.to_vec()).unwrap_or_default(),
            Err(e) => return internal(&e),
        },
        _ => return internal(&"a state without its verifier"),
    };
    let pkce = Pkce::from_verifier(verifier);
    let oauth = match s.registry.app().oauth(&payload.login_url, None, None) {
        Ok(o) => o,
        Err(e) => return internal(&e),
    };
    let tokens = match oauth.exchange_code(code, &pkce).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "connect: the code exchange failed");
            return refused(
                StatusCode::BAD_GATEWAY,
                &format!("The org refused the code exchange: {e}"),
            );
        }
    };
    let new = NewConnection {
        id: payload.connection,
        workspace: token.workspace,
        kind: "web_server",
        environment: payload.environment,
        login_url: payload.login_url,
        client_id: None,
        profile: payload.profile,
        name: None,
        secrets: Secrets::default(),
        jwt_username: None,
    };
    match s
        .registry
        .finish(new, tokens, Actor::of_key(token.api_key))
        .await
    {
        Ok(c) => connected_page(&c, token.api_key),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "connect: finishing failed");
            refused(
                StatusCode::BAD_GATEWAY,
                &format!("Connecting failed: {e:#}"),
            )
        }
    }
}

fn connected_page(c: &Connected, by: Option<ApiKeyId>) -> Response {
    let usage = c
        .usage
        .as_ref()
        .map(|u| {
            format!(
                "{} of {} API requests used in the last 24 hours",
                u.used, u.max
            )
        })
        .unwrap_or_else(|| "not reported".into());
    tracing::info!(connection = %c.stored.id, workspace = %c.stored.workspace, key = ?by.map(|k| k.0), "org connected");
    let body = format!(
        "<p class=\"status\">Connected</p><dl>\
<dt>Instance URL</dt><dd class=\"instance-url\">{}</dd>\
<dt>API usage</dt><dd class=\"api-usage\">{}</dd>\
<dt>User</dt><dd>{}</dd><dt>Org</dt><dd>{}</dd>\
<dt>Scopes</dt><dd>{}</dd><dt>Connection</dt><dd class=\"connection-id\">{}</dd></dl>\
<p>You can close this window.</p>",
        escape(&c.stored.instance_url),
        escape(&usage),
        escape(&match &c.user.name {
            Some(n) => format!("{n} ({})", c.stored.username),
            None => c.stored.username.clone(),
        }),
        escape(&c.stored.org_id),
        escape(&c.stored.scopes),
        escape(&c.stored.id),
    );
    let mut resp = page(StatusCode::OK, "Connected", &body);
    if let Ok(v) = format!("{COOKIE}=; Path=/connect/salesforce; Max-Age=0").parse() {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// A connection as the API shows it: never a secret.
fn view(c: &StoredConnection, reg: &Registry) -> Value {
    let usage = reg
        .get_any(c.workspace, &c.id)
        .and_then(|l| l.api_usage())
        .map(|u| json!({"used": u.used, "max": u.max}));
    json!({
        "id": c.id,
        "name": c.name,
        "kind": c.kind,
        "environment": c.environment,
        "login_url": c.login_url,
        "instance_url": c.instance_url,
        "org_id": c.org_id,
        "user_id": c.user_id,
        "username": c.username,
        "scopes": c.scopes.split_whitespace().collect::<Vec<_>>(),
        "profile": c.profile,
        "api_version": c.api_version,
        "status": c.status,
        "status_reason": c.status_reason,
        "default": c.is_default,
        "limits": {"daily_share": c.daily_share, "max_concurrent": c.max_concurrent},
        "api_usage": usage,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    })
}

async fn list(State(s): State<Arc<Connect>>, Extension(caller): Extension<Caller>) -> Response {
    match s.registry.store().list_connections(caller.workspace).await {
        Ok(all) => Json(json!({
            "connections": all.iter().map(|c| view(c, &s.registry)).collect::<Vec<_>>()
        }))
        .into_response(),
        Err(e) => internal(&e),
    }
}

fn not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "unknown_connection",
        &format!("no connection '{id}' in this workspace"),
    )
}

async fn show(
    State(s): State<Arc<Connect>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    match s.registry.store().connection(caller.workspace, &id).await {
        Ok(Some(c)) => Json(view(&c, &s.registry)).into_response(),
        Ok(None) => not_found(&id),
        Err(e) => internal(&e),
    }
}

fn parse_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    shape: &str,
) -> Result<T, Box<Response>> {
    serde_json::from_slice(if body.is_empty() { b"{}" } else { body }).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            &format!("the body must be JSON {shape}: {e}"),
        ))
    })
}

async fn link(
    State(s): State<Arc<Connect>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Response {
    let p: ConnectParams = match parse_body(&body, "{environment, domain, profile, connection}") {
        Ok(p) => p,
        Err(r) => return *r,
    };
    make_link(&s, caller, p).await
}

async fn make_link(s: &Connect, caller: Caller, p: ConnectParams) -> Response {
    if let Err(m) = check_params(&s.registry, caller.workspace, &p).await {
        return error(StatusCode::BAD_REQUEST, "invalid_parameters", &m);
    }
    let now = Utc::now();
    let link = random_token();
    let token = OneTimeToken {
        workspace: caller.workspace,
        api_key: caller.key,
        payload: serde_json::to_string(&p).unwrap_or_default(),
        secret: None,
        key_version: None,
        expires_at: now + s.ttl,
    };
    if let Err(e) = s
        .registry
        .store()
        .create_one_time(OneTimeKind::Link, &sha256_hex(&link), &token, now)
        .await
    {
        return internal(&e);
    }
    (
        StatusCode::CREATED,
        Json(json!({
            "url": format!("{}/connect/salesforce?link={link}", s.public_url.trim_end_matches('/')),
            "expires_at": token.expires_at,
        })),
    )
        .into_response()
}

/// The body of `POST /v1/connections`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    kind: String,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    profile: Option<String>,
    /// JWT: the Salesforce username the token is for.
    #[serde(default)]
    username: Option<String>,
    /// JWT: the PEM RSA private key whose certificate is uploaded to the connected app.
    #[serde(default)]
    private_key: Option<String>,
    /// The connection's own connected app (default: the service's).
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
}

fn connect_failed(e: &anyhow::Error) -> Response {
    if let Some(se) = e.downcast_ref::<callforce_store::Error>() {
        return internal(se);
    }
    error(StatusCode::BAD_GATEWAY, "connect_failed", &format!("{e:#}"))
}

async fn create(
    State(s): State<Arc<Connect>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Response {
    let b: CreateBody = match parse_body(
        &body,
        "{kind: jwt|client_credentials, environment, domain, username, private_key, client_id, client_secret, name}",
    ) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let kind: &'static str = match b.kind.as_str() {
        "jwt" => "jwt",
        "client_credentials" => "client_credentials",
        "web_server" => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_kind",
                "a web-server connection needs a person: POST /v1/connections/link and open the link",
            );
        }
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_kind",
                &format!("unknown kind '{other}': use jwt or client_credentials"),
            );
        }
    };
    if let Some(profile) = &b.profile {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_parameters",
            &format!(
                "profile '{profile}' cannot apply to a {kind} connection: its OAuth scopes are the ones selected on its connected app in Salesforce, not a profile; leave profile out, and add the scopes the actions need to the connected app (chatter_api for Chatter posts)"
            ),
        );
    }
    let params = ConnectParams {
        environment: b.environment,
        domain: b.domain,
        profile: None,
        connection: None,
    };
    let checked = match check_params(&s.registry, caller.workspace, &params).await {
        Ok(c) => c,
        Err(m) => return error(StatusCode::BAD_REQUEST, "invalid_parameters", &m),
    };
    let mut secrets = Secrets::default();
    if kind == "jwt" {
        let (Some(_), Some(pem)) = (&b.username, &b.private_key) else {
            return error(
                StatusCode::BAD_REQUEST,
                "missing_parameters",
                "kind jwt needs username (the Salesforce user) and private_key (PEM; its certificate uploaded to the connected app)",
            );
        };
        secrets.jwt_key_pem = Some(pem.clone());
    }
    secrets.client_secret = b.client_secret;
    let new = NewConnection {
        id: None,
        workspace: caller.workspace,
        kind,
        environment: checked.environment,
        login_url: checked.login_url,
        client_id: b.client_id,
        profile: APP_PROFILE.to_owned(),
        name: b.name,
        secrets,
        jwt_username: b.username,
    };
    match s.registry.connect_grant(new, Actor::of(&caller)).await {
        Ok(c) => (StatusCode::CREATED, Json(view(&c.stored, &s.registry))).into_response(),
        Err(e) => connect_failed(&e),
    }
}

/// The body of `PATCH /v1/connections/{id}`: a null limit removes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    default: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    daily_share: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    max_concurrent: Option<Value>,
}

/// A field that is present (`null` included) is `Some`; an absent one stays `None`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

async fn update(
    State(s): State<Arc<Connect>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let b: UpdateBody = match parse_body(&body, "{name, default, daily_share, max_concurrent}") {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let share = match &b.daily_share {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => match v.as_f64() {
            Some(f) if f > 0.0 && f <= 1.0 => Some(Some(f)),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_daily_share",
                    "daily_share is a fraction of the org's daily allowance: more than 0, at most 1 (null removes it)",
                );
            }
        },
    };
    let cap = match &b.max_concurrent {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => match v.as_i64() {
            Some(n) if (1..=10_000).contains(&n) => Some(Some(n)),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_max_concurrent",
                    "max_concurrent is a whole number from 1 to 10000 (null removes it)",
                );
            }
        },
    };
    if b.default == Some(false) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_default",
            "make another connection the default instead (default: true on it)",
        );
    }
    let result = s
        .registry
        .update_settings(caller.workspace, &id, Actor::of(&caller), |c| {
            if let Some(n) = b.name {
                c.name = n;
            }
            if b.default == Some(true) {
                c.is_default = true;
            }
            if let Some(v) = share {
                c.daily_share = v;
            }
            if let Some(v) = cap {
                c.max_concurrent = v;
            }
        })
        .await;
    if result.is_ok()
        && (share.is_some() || cap.is_some())
        && let Err(e) = s.registry.resume_queue(caller.workspace, &id).await
    {
        return internal(&format!("{e:#}"));
    }
    match result {
        Ok(c) => Json(view(&c, &s.registry)).into_response(),
        Err(e) if matches!(e.downcast_ref(), Some(callforce_store::Error::NotFound)) => {
            not_found(&id)
        }
        Err(e) => internal(&format!("{e:#}")),
    }
}

async fn test(
    State(s): State<Arc<Connect>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let Some(live) = s.registry.get_any(caller.workspace, &id) else {
        return match s.registry.store().connection(caller.workspace, &id).await {
            Ok(Some(c)) => error(
                StatusCode::CONFLICT,
                "not_connected",
                &format!("connection {} is {}", c.id, c.status.as_str()),
            ),
            Ok(None) => not_found(&id),
            Err(e) => internal(&e),
        };
    };
    let conn = live.actions.connection().clone();
    let result = async {
        conn.limits().await?;
        let current = conn.tokens().current().await?;
        conn.tokens()
            .oauth()
            .userinfo(&current.instance_url, &current.access_token)
            .await
    }
    .await;
    s.registry.observe(&live).await;
    let usage = live.api_usage();
    let failure = match &result {
        Ok(_) => None,
        Err(callforce_client::Error::NeedsReauthorization { .. }) => Some((
            "needs_reauth",
            LookupError::NeedsReauth(id.clone()).to_string(),
        )),
        Err(e) => Some(("org_error", e.to_string())),
    };
    let outcome = match &failure {
        None => Ok(usage.as_ref()),
        Some((code, message)) => Err((*code, message.as_str())),
    };
    let entry = changes::tested(Actor::of(&caller), &id, outcome);
    if let Err(e) = s
        .registry
        .store()
        .append_audit(caller.workspace, Utc::now(), &entry)
        .await
    {
        return internal(&e);
    }
    match result {
        Ok(user) => {
            let usage = live
                .api_usage()
                .map(|u| json!({"used": u.used, "max": u.max}));
            Json(json!({
                "ok": true,
                "connection": id,
                "org_id": user.organization_id,
                "username": user.preferred_username,
                "api_usage": usage,
            }))
            .into_response()
        }
        Err(callforce_client::Error::NeedsReauthorization { .. }) => error(
            StatusCode::CONFLICT,
            "needs_reauth",
            &LookupError::NeedsReauth(id).to_string(),
        ),
        Err(e) => error(StatusCode::BAD_GATEWAY, "org_error", &e.to_string()),
    }
}

async fn reconnect(
    State(s): State<Arc<Connect>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let c = match s.registry.store().connection(caller.workspace, &id).await {
        Ok(Some(c)) => c,
        Ok(None) => return not_found(&id),
        Err(e) => return internal(&e),
    };
    if c.kind == "web_server" {
        let environment = Some(c.environment.clone());
        let domain = (c.environment == "custom").then(|| {
            url::Url::parse(&c.login_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default()
        });
        return make_link(
            &s,
            caller,
            ConnectParams {
                environment,
                domain,
                profile: Some(c.profile.clone()),
                connection: Some(c.id.clone()),
            },
        )
        .await;
    }
    match s.registry.reconnect_grant(&c, Actor::of(&caller)).await {
        Ok(c) => Json(view(&c.stored, &s.registry)).into_response(),
        Err(e) => connect_failed(&e),
    }
}

async fn disconnect(
    State(s): State<Arc<Connect>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    match s
        .registry
        .disconnect(caller.workspace, &id, Actor::of(&caller))
        .await
    {
        Ok(revoked) => Json(json!({"id": id, "status": "disconnected", "revoked_at_org": revoked}))
            .into_response(),
        Err(e) if matches!(e.downcast_ref(), Some(callforce_store::Error::NotFound)) => {
            not_found(&id)
        }
        Err(e) => internal(&format!("{e:#}")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    #[serde(default)]
    name: Option<String>,
}

async fn create_key(
    State(s): State<Arc<Connect>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Response {
    let b: KeyBody = match parse_body(&body, "{name}") {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let name = b.name.unwrap_or_else(|| "unnamed".into());
    let actor = Actor::of(&caller);
    match s
        .registry
        .store()
        .create_api_key_audited(caller.workspace, &name, Utc::now(), |k| {
            changes::key_create(actor, k)
        })
        .await
    {
        Ok(k) => (
            StatusCode::CREATED,
            Json(json!({
                "id": k.key.id,
                "name": k.key.name,
                "prefix": k.key.prefix,
                "created_at": k.key.created_at,
                "key": k.plaintext.expose_secret(),
                "note": "shown once: only its hash is stored",
            })),
        )
            .into_response(),
        Err(e) => internal(&e),
    }
}

async fn list_keys(
    State(s): State<Arc<Connect>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    match s.registry.store().list_api_keys(caller.workspace).await {
        Ok(keys) => Json(json!({ "keys": keys })).into_response(),
        Err(e) => internal(&e),
    }
}

async fn revoke_key(
    State(s): State<Arc<Connect>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> Response {
    match s
        .registry
        .store()
        .revoke_api_key_audited(
            caller.workspace,
            ApiKeyId(id),
            Utc::now(),
            &changes::key_revoke(Actor::of(&caller), ApiKeyId(id)),
        )
        .await
    {
        Ok(()) => Json(json!({"id": id, "revoked": true})).into_response(),
        Err(callforce_store::Error::NotFound) => error(
            StatusCode::NOT_FOUND,
            "unknown_key",
            &format!("no API key {id} in this workspace"),
        ),
        Err(e) => internal(&e),
    }
}
