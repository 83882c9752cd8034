//! The connections page: the workspace's connections, connecting an org, and one connection's
//! test, reconnect, disconnect and limits. The operations are the core's
//! ([`callforce_app::connections::Connections`]), the ones `/v1/connections*` asks.
//!
//! ```text
//! GET  /connections                    the list and the Connect form
//! POST /connections/link               environment, domain, profile -> 303 to the one-time link
//! GET  /connections/{id}               one connection: details, limits, Test, Reconnect, Disconnect
//! POST /connections/{id}/test          its token's userinfo and the org's limits
//! POST /connections/{id}/reconnect     a grant logs in again; a web-server one: 303 to a new link
//! POST /connections/{id}/limits        daily_share, max_concurrent (empty: no limit)
//! GET  /connections/{id}/disconnect    asks to confirm
//! POST /connections/{id}/disconnect    revokes its token at the org; 303 to the connection
//! ```

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use callforce_app::Error;
use callforce_app::connections::{ConnectParams, Reconnected, SettingsChange};
use callforce_app::console::Session;
use serde::Deserialize;
use serde_json::Value;

use super::{
    Pages, confirm, failed, field, html, posted, see_other, sentence, signed_in, status_of,
};

/// The routes of the connections pages.
pub(super) fn routes() -> axum::Router<Arc<Pages>> {
    axum::Router::new()
        .route("/connections", get(list))
        .route("/connections/link", post(link))
        .route("/connections/{id}", get(show))
        .route("/connections/{id}/test", post(test))
        .route("/connections/{id}/reconnect", post(reconnect))
        .route("/connections/{id}/limits", post(limits))
        .route(
            "/connections/{id}/disconnect",
            get(disconnect_form).post(disconnect),
        )
}

/// A connection as the core shows it (never a secret).
#[derive(Debug, Deserialize)]
struct Conn {
    id: String,
    name: String,
    kind: String,
    environment: String,
    #[serde(default)]
    instance_url: String,
    #[serde(default)]
    org_id: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    profile: String,
    status: String,
    #[serde(default)]
    status_reason: Option<String>,
    #[serde(default)]
    default: bool,
    limits: Limits,
    #[serde(default)]
    api_usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
struct Limits {
    daily_share: Option<f64>,
    max_concurrent: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Usage {
    used: u64,
    max: u64,
}

/// What the Connect form was sent with, and what was wrong with it.
#[derive(Default)]
struct ConnectForm {
    environment: String,
    domain: String,
    profile: String,
    problem: Option<String>,
}

#[derive(Template)]
#[template(path = "connections.html")]
struct ListPage<'a> {
    csrf: &'a str,
    page: &'a str,
    connections: Vec<Conn>,
    form: ConnectForm,
}

/// The limits form as sent, and the problem of each field.
#[derive(Default)]
struct LimitsForm {
    daily_share: String,
    max_concurrent: String,
    share_problem: Option<String>,
    cap_problem: Option<String>,
}

#[derive(Template)]
#[template(path = "connection.html")]
struct ShowPage<'a> {
    csrf: &'a str,
    page: &'a str,
    c: Conn,
    notice: Option<String>,
    problem: Option<String>,
    limits: LimitsForm,
}

/// A core answer read as connections (the core's own shape; a mismatch is a bug).
fn read<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, Error> {
    serde_json::from_value(v).map_err(|e| {
        tracing::error!(error = %e, "the console could not read a connection");
        Error::internal()
    })
}

fn number(v: Option<f64>) -> String {
    v.map(|n| n.to_string()).unwrap_or_default()
}

async fn list_page(pages: &Pages, s: &Session, form: ConnectForm, status: StatusCode) -> Response {
    let listed = pages.console.connections().list(&s.caller).await;
    let connections = match listed.and_then(|v| read::<Vec<Conn>>(v["connections"].clone())) {
        Ok(c) => c,
        Err(e) => return failed(s, "connections", &e),
    };
    let page = ListPage {
        csrf: &s.csrf,
        page: "connections",
        connections,
        form,
    };
    html(status, page.render())
}

async fn list(State(pages): State<Arc<Pages>>, headers: HeaderMap) -> Response {
    match signed_in(&pages, &headers).await {
        Ok(s) => list_page(&pages, &s, ConnectForm::default(), StatusCode::OK).await,
        Err(resp) => resp,
    }
}

/// A form field, `None` when empty.
fn given(body: &[u8], name: &str) -> Option<String> {
    field(body, name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

#[derive(Template)]
#[template(path = "connect_continue.html")]
struct ContinuePage<'a> {
    csrf: &'a str,
    page: &'a str,
    url: &'a str,
}

/// The page that sends the browser on to the org's login through the connect link `url`: by a
/// refresh and a link, not by a redirect of the form's post, which the pages' policy
/// (`form-action 'self'`) keeps on this service.
fn to_login(s: &Session, url: &str) -> Response {
    let p = ContinuePage {
        csrf: &s.csrf,
        page: "connections",
        url,
    };
    html(StatusCode::OK, p.render())
}

async fn link(State(pages): State<Arc<Pages>>, headers: HeaderMap, body: Bytes) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let params = ConnectParams {
        environment: given(&body, "environment"),
        domain: given(&body, "domain"),
        profile: given(&body, "profile"),
        connection: None,
    };
    match pages
        .console
        .connections()
        .link(&s.caller, params.clone())
        .await
    {
        Ok(link) => to_login(&s, &link.url),
        Err(e) if e.kind == callforce_app::Kind::Internal => failed(&s, "connections", &e),
        Err(e) => {
            let form = ConnectForm {
                environment: params.environment.unwrap_or_default(),
                domain: params.domain.unwrap_or_default(),
                profile: params.profile.unwrap_or_default(),
                problem: Some(sentence(&e.message)),
            };
            list_page(&pages, &s, form, status_of(e.kind)).await
        }
    }
}

/// One connection's page, with what the last change said.
async fn show_page(
    pages: &Pages,
    s: &Session,
    id: &str,
    status: StatusCode,
    notice: Option<String>,
    problem: Option<String>,
    limits: Option<LimitsForm>,
) -> Response {
    let c = match pages
        .console
        .connections()
        .show(&s.caller, id)
        .await
        .and_then(read::<Conn>)
    {
        Ok(c) => c,
        Err(e) => return failed(s, "connections", &e),
    };
    let limits = limits.unwrap_or_else(|| LimitsForm {
        daily_share: number(c.limits.daily_share),
        max_concurrent: c
            .limits
            .max_concurrent
            .map(|n| n.to_string())
            .unwrap_or_default(),
        ..LimitsForm::default()
    });
    let page = ShowPage {
        csrf: &s.csrf,
        page: "connections",
        c,
        notice,
        problem,
        limits,
    };
    html(status, page.render())
}

async fn show(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match signed_in(&pages, &headers).await {
        Ok(s) => show_page(&pages, &s, &id, StatusCode::OK, None, None, None).await,
        Err(resp) => resp,
    }
}

async fn test(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    match pages.console.connections().test(&s.caller, &id).await {
        Ok(v) => {
            let user = v["username"].as_str().unwrap_or("the connection's user");
            let notice = format!("Test passed: the org answered as {user}.");
            show_page(&pages, &s, &id, StatusCode::OK, Some(notice), None, None).await
        }
        Err(e) if e.kind == callforce_app::Kind::NotFound => failed(&s, "connections", &e),
        Err(e) => {
            let problem = format!("Test failed: {}", e.message);
            show_page(
                &pages,
                &s,
                &id,
                status_of(e.kind),
                None,
                Some(problem),
                None,
            )
            .await
        }
    }
}

async fn reconnect(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    match pages.console.connections().reconnect(&s.caller, &id).await {
        Ok(Reconnected::Link(link)) => to_login(&s, &link.url),
        Ok(Reconnected::Connection(_)) => {
            let notice = "Reconnected: the org accepted the login.".to_owned();
            show_page(&pages, &s, &id, StatusCode::OK, Some(notice), None, None).await
        }
        Err(e) if e.kind == callforce_app::Kind::NotFound => failed(&s, "connections", &e),
        Err(e) => {
            let problem = format!("Reconnect failed: {}", e.message);
            show_page(
                &pages,
                &s,
                &id,
                status_of(e.kind),
                None,
                Some(problem),
                None,
            )
            .await
        }
    }
}

/// A limit as typed: empty removes it (`null`); a number is sent as one; anything else is sent
/// as text, which the core refuses with the message the field shows.
fn limit_value(raw: &str) -> Value {
    let raw = raw.trim();
    if raw.is_empty() {
        return Value::Null;
    }
    match serde_json::from_str::<Value>(raw) {
        Ok(n @ Value::Number(_)) => n,
        _ => Value::String(raw.to_owned()),
    }
}

async fn limits(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let share = field(&body, "daily_share").unwrap_or_default();
    let cap = field(&body, "max_concurrent").unwrap_or_default();
    let change = SettingsChange {
        name: None,
        default: None,
        daily_share: Some(limit_value(&share)),
        max_concurrent: Some(limit_value(&cap)),
    };
    match pages
        .console
        .connections()
        .update(&s.caller, &id, change)
        .await
    {
        Ok(_) => see_other(&format!("/connections/{id}"), &[]),
        Err(e) if e.code == "invalid_daily_share" || e.code == "invalid_max_concurrent" => {
            let mut form = LimitsForm {
                daily_share: share,
                max_concurrent: cap,
                ..LimitsForm::default()
            };
            let message = Some(sentence(&e.message));
            if e.code == "invalid_daily_share" {
                form.share_problem = message;
            } else {
                form.cap_problem = message;
            }
            show_page(&pages, &s, &id, status_of(e.kind), None, None, Some(form)).await
        }
        Err(e) => failed(&s, "connections", &e),
    }
}

async fn disconnect_form(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let s = match signed_in(&pages, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let c = match pages
        .console
        .connections()
        .show(&s.caller, &id)
        .await
        .and_then(read::<Conn>)
    {
        Ok(c) => c,
        Err(e) => return failed(&s, "connections", &e),
    };
    let question = format!(
        "Disconnect {} ({})? Its token is revoked at the org; calls on it stop until it is connected again.",
        c.name, c.username
    );
    confirm(
        &s,
        "connections",
        "Disconnect a connection",
        &question,
        &format!("/connections/{}/disconnect", c.id),
        "Disconnect",
        &format!("/connections/{}", c.id),
    )
}

async fn disconnect(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    if field(&body, "confirm").as_deref() != Some("yes") {
        return see_other(&format!("/connections/{id}/disconnect"), &[]);
    }
    match pages.console.connections().disconnect(&s.caller, &id).await {
        Ok(_) => see_other(&format!("/connections/{id}"), &[]),
        Err(e) => failed(&s, "connections", &e),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::limit_value;

    #[test]
    fn a_limit_is_typed_as_null_a_number_or_text() {
        for (raw, want) in [
            ("", json!(null)),
            ("  ", json!(null)),
            ("0.5", json!(0.5)),
            ("4", json!(4)),
            (" 2 ", json!(2)),
            ("half", json!("half")),
            ("[1]", json!("[1]")),
        ] {
            assert_eq!(limit_value(raw), want, "{raw:?}");
        }
    }
}
