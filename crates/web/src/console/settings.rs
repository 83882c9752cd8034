//! The settings page: the workspace's API keys (listed by name and prefix, created with the key
//! shown once, revoked after a confirmation), its alert webhook (set, cleared, a test alert
//! sent now), its open alerts (acknowledged) and its retention. The operations are the core's
//! ([`callforce_app::connections::Keys`], [`callforce_app::admin::Admin`]), the ones
//! `/v1/keys*`, `/v1/settings` and `/v1/alerts*` ask.
//!
//! ```text
//! GET  /settings                           keys, alert webhook, open alerts, retention
//! POST /settings/keys                      name -> the new key, shown on this answer only
//! GET  /settings/keys/{id}/revoke          asks to confirm
//! POST /settings/keys/{id}/revoke          the key opens nothing after this; 303 to /settings
//! POST /settings/alert-webhook             alert_webhook (or clear=yes) -> 303, or the field's error
//! POST /settings/test-alert                a test alert posted now -> the page with its outcome
//! POST /settings/alerts/{id}/acknowledge   the alert is not posted after this; 303 to /settings
//! POST /settings/retention                 retention_days (empty: the default) -> 303, or the field's error
//! ```

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use callforce_app::admin::{Settings, alert_webhook, retention_days};
use callforce_app::alerts::TestOutcome;
use callforce_app::changes::Actor;
use callforce_app::connections::NewKey;
use callforce_app::console::Session;
use callforce_app::{Error, Kind};
use serde::Deserialize;
use serde_json::Value;

use super::{Pages, confirm, failed, field, html, posted, see_other, sentence, signed_in, time};

/// The routes of the settings page.
pub(super) fn routes() -> axum::Router<Arc<Pages>> {
    axum::Router::new()
        .route("/settings", get(settings))
        .route("/settings/keys", post(create))
        .route("/settings/keys/{id}/revoke", get(revoke_form).post(revoke))
        .route("/settings/alert-webhook", post(set_webhook))
        .route("/settings/test-alert", post(test_alert))
        .route("/settings/alerts/{id}/acknowledge", post(acknowledge))
        .route("/settings/retention", post(set_retention))
}

/// The alerts listed on the page (the newest).
const ALERTS: u32 = 100;

/// An open alert as a row of the page.
struct AlertRow {
    id: i64,
    kind: String,
    what: String,
    created_at: String,
    delivery: String,
}

impl AlertRow {
    fn of(a: &callforce_store::Alert) -> Self {
        let d = &a.details;
        let s = |k: &str| d.get(k).and_then(serde_json::Value::as_str);
        let what = match a.kind.as_str() {
            callforce_store::alerts::KIND_DEAD_LETTER => format!(
                "{} failed for good (dead letter {}){}",
                s("action").or(s("kind")).unwrap_or("a write"),
                d.get("dead_letter_id")
                    .and_then(serde_json::Value::as_i64)
                    .or(a.dead_letter.map(|d| d.0))
                    .map_or_else(|| "-".to_owned(), |i| i.to_string()),
                s("error").map(|e| format!(": {e}")).unwrap_or_default()
            ),
            callforce_store::alerts::KIND_NEEDS_REAUTH => format!(
                "connection {} needs to be authorised again",
                s("connection_id").unwrap_or("-")
            ),
            _ => d.to_string(),
        };
        let delivery = match (a.sent_at, &a.last_error) {
            (Some(at), _) => format!("posted {}", time(at)),
            (None, Some(e)) => format!("not posted yet ({} tries; last: {e})", a.attempts),
            (None, None) => "waiting for a webhook".to_owned(),
        };
        Self {
            id: a.id.0,
            kind: a.kind.clone(),
            what,
            created_at: time(a.created_at),
            delivery,
        }
    }
}

/// What a form on the page sent back: the typed value and its problem, or the test's outcome.
#[derive(Default)]
struct Typed {
    webhook_problem: Option<String>,
    retention: Option<String>,
    retention_problem: Option<String>,
    test: Option<TestOutcome>,
}

/// A key as the core lists it (never the key itself).
#[derive(Debug, Deserialize)]
struct Key {
    id: i64,
    name: String,
    prefix: String,
    created_at: chrono::DateTime<chrono::Utc>,
    revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A key just created, with the key itself (this answer only).
#[derive(Deserialize)]
struct Created {
    name: String,
    prefix: String,
    key: String,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage<'a> {
    csrf: &'a str,
    page: &'a str,
    keys: Vec<Key>,
    current: Option<i64>,
    settings: Settings,
    alerts: Vec<AlertRow>,
    acknowledged: usize,
    typed: Typed,
    retention: String,
}

impl SettingsPage<'_> {
    /// Whether key `id` is the one this session signed in with.
    fn is_current(&self, id: &i64) -> bool {
        self.current == Some(*id)
    }
}

#[derive(Template)]
#[template(path = "key_created.html")]
struct CreatedPage<'a> {
    csrf: &'a str,
    page: &'a str,
    created: Created,
}

/// A core answer read in its own shape (a mismatch is a bug).
fn read<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, Error> {
    serde_json::from_value(v).map_err(|e| {
        tracing::error!(error = %e, "the console could not read an API key");
        Error::internal()
    })
}

async fn keys(pages: &Pages, s: &Session) -> Result<Vec<Key>, Error> {
    let listed = pages.console.keys().list(&s.caller).await?;
    read(listed["keys"].clone())
}

/// The settings page, with what a refused form sent (`typed`), answered with `status`.
async fn render(pages: &Pages, s: &Session, status: StatusCode, typed: Typed) -> Response {
    let ws = s.caller.workspace;
    let admin = pages.console.admin();
    let loaded = async {
        let keys = keys(pages, s).await?;
        let settings = admin.settings(ws).await?;
        let alerts = admin.alerts(ws, ALERTS).await?;
        Ok::<_, Error>((keys, settings, alerts))
    };
    let (keys, settings, alerts) = match loaded.await {
        Ok(l) => l,
        Err(e) => return failed(s, "settings", &e),
    };
    let acknowledged = alerts
        .iter()
        .filter(|a| a.acknowledged_at.is_some())
        .count();
    let retention = typed.retention.clone().unwrap_or_else(|| {
        settings
            .retention_days
            .map(|d| d.to_string())
            .unwrap_or_default()
    });
    let page = SettingsPage {
        csrf: &s.csrf,
        page: "settings",
        keys,
        current: s.caller.key.map(|k| k.0),
        alerts: alerts
            .iter()
            .filter(|a| a.acknowledged_at.is_none())
            .map(AlertRow::of)
            .collect(),
        acknowledged,
        settings,
        typed,
        retention,
    };
    html(status, page.render())
}

async fn settings(State(pages): State<Arc<Pages>>, headers: HeaderMap) -> Response {
    match signed_in(&pages, &headers).await {
        Ok(s) => render(&pages, &s, StatusCode::OK, Typed::default()).await,
        Err(resp) => resp,
    }
}

async fn set_webhook(State(pages): State<Arc<Pages>>, headers: HeaderMap, body: Bytes) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let clear = field(&body, "clear").as_deref() == Some("yes");
    let typed = field(&body, "alert_webhook").unwrap_or_default();
    let webhook = if clear {
        None
    } else {
        match alert_webhook(&typed) {
            Ok(w) => Some(w),
            Err(e) => {
                let t = Typed {
                    // NB: a webhook URL is a credential; a refused one is not shown again.
                    webhook_problem: Some(sentence(&e.message)),
                    ..Typed::default()
                };
                return render(&pages, &s, StatusCode::UNPROCESSABLE_ENTITY, t).await;
            }
        }
    };
    match pages
        .console
        .admin()
        .set_alert_webhook(s.caller.workspace, Actor::of(&s.caller), webhook.as_deref())
        .await
    {
        Ok(_) => see_other("/settings#alerts-heading", &[]),
        Err(e) => failed(&s, "settings", &e),
    }
}

async fn test_alert(State(pages): State<Arc<Pages>>, headers: HeaderMap, body: Bytes) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    match pages
        .console
        .admin()
        .test_alert(s.caller.workspace, Actor::of(&s.caller))
        .await
    {
        Ok(outcome) => {
            let t = Typed {
                test: Some(outcome),
                ..Typed::default()
            };
            render(&pages, &s, StatusCode::OK, t).await
        }
        Err(e) if e.kind == Kind::Conflict => {
            let t = Typed {
                webhook_problem: Some(sentence(&e.message)),
                ..Typed::default()
            };
            render(&pages, &s, StatusCode::CONFLICT, t).await
        }
        Err(e) => failed(&s, "settings", &e),
    }
}

async fn acknowledge(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let done = match raw.parse::<i64>() {
        Ok(id) => pages
            .console
            .admin()
            .acknowledge_alert(
                s.caller.workspace,
                Actor::of(&s.caller),
                callforce_store::AlertId(id),
            )
            .await
            .map(|_| ()),
        Err(_) => Err(Error::new(
            Kind::NotFound,
            "not_found",
            format!("no alert {raw} in this workspace"),
        )),
    };
    match done {
        Ok(()) => see_other("/settings#open-alerts", &[]),
        Err(e) => failed(&s, "settings", &e),
    }
}

async fn set_retention(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let typed = field(&body, "retention_days")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let days = if typed.is_empty() {
        None
    } else {
        match retention_days(&typed) {
            Ok(d) => Some(d),
            Err(e) => {
                let t = Typed {
                    retention_problem: Some(sentence(&e.message)),
                    retention: Some(typed),
                    ..Typed::default()
                };
                return render(&pages, &s, StatusCode::UNPROCESSABLE_ENTITY, t).await;
            }
        }
    };
    match pages
        .console
        .admin()
        .set_retention(s.caller.workspace, Actor::of(&s.caller), days)
        .await
    {
        Ok(_) => see_other("/settings#retention-heading", &[]),
        Err(e) => failed(&s, "settings", &e),
    }
}

async fn create(State(pages): State<Arc<Pages>>, headers: HeaderMap, body: Bytes) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let name = field(&body, "name")
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    let created = pages
        .console
        .keys()
        .create(&s.caller, NewKey { name })
        .await
        .and_then(read::<Created>);
    match created {
        // NB: answered here, not redirected: the key is in this page only, never stored.
        Ok(created) => {
            let page = CreatedPage {
                csrf: &s.csrf,
                page: "settings",
                created,
            };
            html(StatusCode::OK, page.render())
        }
        Err(e) => failed(&s, "settings", &e),
    }
}

/// The key `raw` names in the session's workspace.
async fn find(pages: &Pages, s: &Session, raw: &str) -> Result<Key, Error> {
    let missing = || {
        Error::new(
            Kind::NotFound,
            "unknown_key",
            format!("no API key {raw} in this workspace"),
        )
    };
    let id: i64 = raw.parse().map_err(|_| missing())?;
    keys(pages, s)
        .await?
        .into_iter()
        .find(|k| k.id == id)
        .ok_or_else(missing)
}

async fn revoke_form(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    let s = match signed_in(&pages, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let key = match find(&pages, &s, &raw).await {
        Ok(k) => k,
        Err(e) => return failed(&s, "settings", &e),
    };
    let yours = if s.caller.key.map(|k| k.0) == Some(key.id) {
        " You signed in with this key: revoking it signs you out."
    } else {
        ""
    };
    let question = format!(
        "Revoke the key {} ({}…)? Everything that uses it is refused from then on.{yours}",
        key.name, key.prefix
    );
    confirm(
        &s,
        "settings",
        "Revoke an API key",
        &question,
        &format!("/settings/keys/{}/revoke", key.id),
        "Revoke",
        "/settings",
    )
}

async fn revoke(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    if field(&body, "confirm").as_deref() != Some("yes") {
        return see_other(&format!("/settings/keys/{raw}/revoke"), &[]);
    }
    let revoked = match raw.parse::<i64>() {
        Ok(id) => pages.console.keys().revoke(&s.caller, id).await,
        Err(_) => Err(Error::new(
            Kind::NotFound,
            "unknown_key",
            format!("no API key {raw} in this workspace"),
        )),
    };
    match revoked {
        Ok(_) => see_other("/settings", &[]),
        Err(e) => failed(&s, "settings", &e),
    }
}
