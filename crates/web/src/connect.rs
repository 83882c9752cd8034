//! The connect flow a person follows in a browser; the flow itself (links, states, PKCE, who
//! may start it) is the core's ([`callforce_app::connections::flow`]).
//!
//! ```text
//! GET /connect/salesforce?link=...     (a browser) -> the org's login page (web-server flow, PKCE S256)
//! GET /connect/salesforce?environment=production|sandbox|custom&domain=...&profile=standard|extended|privileged
//!                                      (with Authorization: Bearer <key>, for clients that are not browsers)
//! GET /connect/salesforce/callback     the org sends the browser back here -> "Connected" page
//! ```
//!
//! The browser that starts a flow gets a cookie (`cf_connect`, `HttpOnly`, `SameSite=Lax`, its
//! path only these routes); the callback hands it to the core, which refuses an answer from
//! another browser. A refusal is a page saying why, with the status of its kind.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use callforce_app::connections::{CallbackAnswer, ConnectParams, Connections, Start};
use callforce_app::registry::Connected;
use callforce_app::{Error, Kind};
use serde::Deserialize;
use serde_json::json;

use crate::page::{escape, page};

/// The cookie that binds a flow to the browser that started it.
const COOKIE: &str = "cf_connect";

/// The two `/connect/salesforce` routes a browser follows.
pub fn router(connections: Arc<Connections>) -> axum::Router {
    axum::Router::new()
        .route("/connect/salesforce", get(start))
        .route("/connect/salesforce/callback", get(callback))
        .with_state(connections)
}

/// The status a refusal of `kind` is answered with.
fn status(kind: Kind) -> StatusCode {
    match kind {
        Kind::Unauthorized => StatusCode::UNAUTHORIZED,
        Kind::Forbidden => StatusCode::FORBIDDEN,
        Kind::Upstream => StatusCode::BAD_GATEWAY,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// A refusal as a page saying why and how to start again; the service's own failure as the
/// API's JSON error (its cause is logged by the core, never shown).
fn refused(e: Error) -> Response {
    if e.kind == Kind::Internal {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"code": e.code, "message": e.message}})),
        )
            .into_response();
    }
    page(
        status(e.kind),
        "Not connected",
        &format!(
            "<p role=\"alert\">{}</p><p>Start again from callforce (POST /v1/connections/link gives a new link).</p>",
            escape(&e.message)
        ),
    )
}

/// The start's query: a link, or the parameters (no `Debug`: the link is a one-time secret).
#[derive(Deserialize)]
struct StartQuery {
    #[serde(default)]
    link: Option<String>,
    #[serde(flatten)]
    params: ConnectParams,
}

async fn start(
    State(s): State<Arc<Connections>>,
    headers: HeaderMap,
    Query(q): Query<StartQuery>,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let started = s
        .start(Start {
            link: q.link,
            authorization,
            params: q.params,
        })
        .await;
    match started {
        Ok(auth) => {
            let cookie = format!(
                "{COOKIE}={}; Path=/connect/salesforce; HttpOnly; SameSite=Lax; Max-Age={}",
                auth.browser,
                auth.expires_in.as_secs().max(1)
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
        Err(e) => refused(e),
    }
}

async fn callback(
    State(s): State<Arc<Connections>>,
    headers: HeaderMap,
    Query(q): Query<CallbackAnswer>,
) -> Response {
    let browser = crate::cookies::cookie(&headers, COOKIE);
    match s.callback(&q, browser.as_deref()).await {
        Ok(c) => connected_page(&c),
        Err(e) => refused(e),
    }
}

/// The "Connected" page: the org, the user, the scopes granted and the connection's id; the
/// flow's cookie is cleared.
fn connected_page(c: &Connected) -> Response {
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
    let body = format!(
        "<p class=\"status\">Connected</p><dl>\
<dt>Instance URL</dt><dd class=\"instance-url\">{}</dd>\
<dt>API usage</dt><dd class=\"api-usage\">{}</dd>\
<dt>User</dt><dd>{}</dd><dt>Org</dt><dd>{}</dd>\
<dt>Scopes</dt><dd>{}</dd><dt>Connection</dt><dd class=\"connection-id\">{}</dd></dl>\
<p>You can close this window, or <a href=\"/connections\">go back to the console's connections</a>.</p>",
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
