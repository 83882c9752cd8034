//! The settings page: the workspace's API keys (listed by name and prefix, created with the key
//! shown once, revoked after a confirmation). The operations are the core's
//! ([`callforce_app::connections::Keys`]), the ones `/v1/keys*` asks.
//!
//! ```text
//! GET  /settings                        the keys and the form to create one
//! POST /settings/keys                   name -> the new key, shown on this answer only
//! GET  /settings/keys/{id}/revoke       asks to confirm
//! POST /settings/keys/{id}/revoke       the key opens nothing after this; 303 to /settings
//! ```

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use callforce_app::connections::NewKey;
use callforce_app::console::Session;
use callforce_app::{Error, Kind};
use serde::Deserialize;
use serde_json::Value;

use super::{Pages, confirm, failed, field, html, posted, see_other, signed_in};

/// The routes of the settings page.
pub(super) fn routes() -> axum::Router<Arc<Pages>> {
    axum::Router::new()
        .route("/settings", get(settings))
        .route("/settings/keys", post(create))
        .route("/settings/keys/{id}/revoke", get(revoke_form).post(revoke))
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

async fn settings(State(pages): State<Arc<Pages>>, headers: HeaderMap) -> Response {
    let s = match signed_in(&pages, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    match keys(&pages, &s).await {
        Ok(keys) => {
            let page = SettingsPage {
                csrf: &s.csrf,
                page: "settings",
                keys,
                current: s.caller.key.map(|k| k.0),
            };
            html(StatusCode::OK, page.render())
        }
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
