//! The workspace's connections and API keys, and connecting orgs: the operations behind the
//! front doors' `/v1/connections*`, `/v1/keys*` and `/connect/salesforce*` routes.
//!
//! - [`Connections`]: list, show, create (JWT and client credentials), change the settings of,
//!   test, reconnect and disconnect a workspace's connections;
//! - [`flow`]: the web-server flow a person follows in a browser (one-time links and states,
//!   PKCE, the browser binding);
//! - [`keys`]: the workspace's API keys.
//!
//! Connects, reconnects, tests, disconnects, settings changes and keys created or revoked are
//! audited ([`crate::changes`]) with the admin's key as the actor; a browser's connect is
//! attributed to the key that made its link.

pub mod flow;
pub mod keys;

use std::sync::Arc;
use std::time::Duration;

use callforce_store::StoredConnection;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::caller::Caller;
use crate::calls::App;
use crate::changes::{self, Actor};
use crate::error::{Error, Kind};
use crate::registry::{APP_PROFILE, LookupError, NewConnection, Registry};
use crate::vault::Secrets;

pub use flow::{Authorize, CallbackAnswer, ConnectParams, Link, Start};
pub use keys::{Keys, NewKey};

/// How the connect flow is set up.
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    /// The service's public base URL (links are made from it).
    pub public_url: String,
    /// How long a link and a flow's `state` are accepted.
    pub ttl: Duration,
}

impl Default for ConnectSettings {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            ttl: Duration::from_secs(600),
        }
    }
}

/// The workspaces' connections, the connect flow and the API keys.
pub struct Connections {
    app: Arc<App>,
    registry: Arc<Registry>,
    settings: ConnectSettings,
    keys: Keys,
}

/// The body of `POST /v1/connections`: a connection that needs no person (JWT or client
/// credentials).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGrant {
    /// `jwt` or `client_credentials`.
    pub kind: String,
    /// `production` (the default), `sandbox` or `custom`.
    #[serde(default)]
    pub environment: Option<String>,
    /// The My Domain of a `custom` environment.
    #[serde(default)]
    pub domain: Option<String>,
    /// A display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Refused: a grant's scopes are its connected app's.
    #[serde(default)]
    pub profile: Option<String>,
    /// JWT: the Salesforce username the token is for.
    #[serde(default)]
    pub username: Option<String>,
    /// JWT: the PEM RSA private key whose certificate is uploaded to the connected app.
    #[serde(default)]
    pub private_key: Option<String>,
    /// The connection's own connected app (default: the service's).
    #[serde(default)]
    pub client_id: Option<String>,
    /// The connected app's secret.
    #[serde(default)]
    pub client_secret: Option<String>,
}

/// The body of `PATCH /v1/connections/{id}`: a null limit removes it.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsChange {
    /// A new display name.
    #[serde(default)]
    pub name: Option<String>,
    /// `true` makes it the workspace's default connection.
    #[serde(default)]
    pub default: Option<bool>,
    /// The fraction of the org's daily allowance it may use (`null` removes the limit).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub daily_share: Option<Value>,
    /// How many requests it may have in flight (`null` removes the limit).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub max_concurrent: Option<Value>,
}

/// A field that is present (`null` included) is `Some`; an absent one stays `None`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// A change of limits: `None` leaves the limit, `Some(None)` removes it.
type Limits = (Option<Option<f64>>, Option<Option<i64>>);

/// Checks a settings change, in the order its errors are answered: the daily share, the cap,
/// then `default: false`.
fn check_change(change: &SettingsChange) -> Result<Limits, Error> {
    let share = match &change.daily_share {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => match v.as_f64() {
            Some(f) if f > 0.0 && f <= 1.0 => Some(Some(f)),
            _ => {
                return Err(invalid(
                    "invalid_daily_share",
                    "daily_share is a fraction of the org's daily allowance: more than 0, at most 1 (null removes it)",
                ));
            }
        },
    };
    let cap = match &change.max_concurrent {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => match v.as_i64() {
            Some(n) if (1..=10_000).contains(&n) => Some(Some(n)),
            _ => {
                return Err(invalid(
                    "invalid_max_concurrent",
                    "max_concurrent is a whole number from 1 to 10000 (null removes it)",
                ));
            }
        },
    };
    if change.default == Some(false) {
        return Err(invalid(
            "invalid_default",
            "make another connection the default instead (default: true on it)",
        ));
    }
    Ok((share, cap))
}

/// What a reconnect did.
#[derive(Debug)]
pub enum Reconnected {
    /// A web-server connection needs a person: a new link to open.
    Link(Link),
    /// A grant logged in again: the connection as [`Connections::show`] answers it.
    Connection(Value),
}

/// An internal failure, logged here and answered without its cause.
fn internal(e: &dyn std::fmt::Display) -> Error {
    tracing::error!(error = %e, "connections: internal error");
    Error::new(Kind::Internal, "internal", "internal error (logged)")
}

fn invalid(code: &'static str, message: impl Into<String>) -> Error {
    Error::new(Kind::Invalid, code, message)
}

fn not_found(id: &str) -> Error {
    Error::new(
        Kind::NotFound,
        "unknown_connection",
        format!("no connection '{id}' in this workspace"),
    )
}

/// A connect or reconnect that failed: the org's refusal as `connect_failed`, the store's
/// failure as an internal error.
fn connect_failed(e: &anyhow::Error) -> Error {
    if let Some(se) = e.downcast_ref::<callforce_store::Error>() {
        return internal(se);
    }
    Error::new(Kind::Upstream, "connect_failed", format!("{e:#}"))
}

/// Whether a registry failure is the store's "no such row".
fn is_not_found(e: &anyhow::Error) -> bool {
    matches!(e.downcast_ref(), Some(callforce_store::Error::NotFound))
}

/// The checked parameters of a connect: environment, login URL, profile.
struct Checked {
    environment: String,
    login_url: String,
    profile: String,
    connection: Option<String>,
}

impl Connections {
    /// The connections of `registry`, the keys of `app`'s store, and the connect flow set up
    /// by `settings`.
    pub fn new(registry: Arc<Registry>, app: Arc<App>, settings: ConnectSettings) -> Self {
        Self {
            keys: Keys::new(app.store().clone()),
            app,
            registry,
            settings,
        }
    }

    /// The application (its key check).
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// The workspaces' API keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Checks what a connect is asked to do: a known profile, an environment with a login
    /// URL, and a connection to authorise again that is a web-server one of the workspace.
    ///
    /// # Errors
    /// `invalid_parameters`, saying what to change.
    async fn check_params(
        &self,
        workspace: callforce_store::WorkspaceId,
        p: &ConnectParams,
    ) -> Result<Checked, Error> {
        let environment = p.environment.clone().unwrap_or_else(|| "production".into());
        let profile = p.profile.clone().unwrap_or_else(|| "standard".into());
        let bad = |m: String| invalid("invalid_parameters", m);
        if crate::registry::profile_scopes(&profile).is_none() {
            return Err(bad(format!(
                "unknown profile '{profile}': use standard (the default), extended or privileged"
            )));
        }
        let login_url = self
            .registry
            .app()
            .login_url(&environment, p.domain.as_deref())
            .map_err(bad)?;
        if let Some(id) = &p.connection {
            match self.registry.store().connection(workspace, id).await {
                Ok(Some(c)) if c.kind == "web_server" => {}
                Ok(Some(_)) => {
                    return Err(bad(format!(
                        "connection {id} is not a web-server connection: POST /v1/connections/{id}/reconnect"
                    )));
                }
                Ok(None) => return Err(bad(format!("no connection '{id}' in this workspace"))),
                Err(e) => {
                    tracing::error!(error = %e, "reading a connection");
                    return Err(bad("internal error (logged)".into()));
                }
            }
        }
        Ok(Checked {
            environment,
            login_url,
            profile,
            connection: p.connection.clone(),
        })
    }

    /// A connection as the API shows it: never a secret.
    fn view(&self, c: &StoredConnection) -> Value {
        let usage = self
            .registry
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

    /// The caller's workspace's connections: `{"connections": [...]}`.
    ///
    /// # Errors
    /// The store failing (`internal`).
    pub async fn list(&self, caller: &Caller) -> Result<Value, Error> {
        let all = self
            .registry
            .store()
            .list_connections(caller.workspace)
            .await
            .map_err(|e| internal(&e))?;
        Ok(json!({
            "connections": all.iter().map(|c| self.view(c)).collect::<Vec<_>>()
        }))
    }

    /// One connection, with the org's latest API usage.
    ///
    /// # Errors
    /// `unknown_connection`, or the store failing (`internal`).
    pub async fn show(&self, caller: &Caller, id: &str) -> Result<Value, Error> {
        match self.registry.store().connection(caller.workspace, id).await {
            Ok(Some(c)) => Ok(self.view(&c)),
            Ok(None) => Err(not_found(id)),
            Err(e) => Err(internal(&e)),
        }
    }

    /// Connects an org with a grant that needs no person (JWT bearer or client credentials):
    /// logs in, makes a test call and stores the connection.
    ///
    /// # Errors
    /// `invalid_kind` (a web-server connection needs a person, or an unknown kind),
    /// `invalid_parameters`, `missing_parameters` (JWT without its username or key),
    /// `connect_failed` (the org refused), or the store failing (`internal`).
    pub async fn create(&self, caller: &Caller, grant: NewGrant) -> Result<Value, Error> {
        let kind: &'static str = match grant.kind.as_str() {
            "jwt" => "jwt",
            "client_credentials" => "client_credentials",
            "web_server" => {
                return Err(invalid(
                    "invalid_kind",
                    "a web-server connection needs a person: POST /v1/connections/link and open the link",
                ));
            }
            other => {
                return Err(invalid(
                    "invalid_kind",
                    format!("unknown kind '{other}': use jwt or client_credentials"),
                ));
            }
        };
        if let Some(profile) = &grant.profile {
            return Err(invalid(
                "invalid_parameters",
                format!(
                    "profile '{profile}' cannot apply to a {kind} connection: its OAuth scopes are the ones selected on its connected app in Salesforce, not a profile; leave profile out, and add the scopes the actions need to the connected app (chatter_api for Chatter posts)"
                ),
            ));
        }
        let params = ConnectParams {
            environment: grant.environment,
            domain: grant.domain,
            profile: None,
            connection: None,
        };
        let checked = self.check_params(caller.workspace, &params).await?;
        let mut secrets = Secrets::default();
        if kind == "jwt" {
            let (Some(_), Some(pem)) = (&grant.username, &grant.private_key) else {
                return Err(invalid(
                    "missing_parameters",
                    "kind jwt needs username (the Salesforce user) and private_key (PEM; its certificate uploaded to the connected app)",
                ));
            };
            secrets.jwt_key_pem = Some(pem.clone());
        }
        secrets.client_secret = grant.client_secret;
        let new = NewConnection {
            id: None,
            workspace: caller.workspace,
            kind,
            environment: checked.environment,
            login_url: checked.login_url,
            client_id: grant.client_id,
            profile: APP_PROFILE.to_owned(),
            name: grant.name,
            secrets,
            jwt_username: grant.username,
        };
        match self.registry.connect_grant(new, Actor::of(caller)).await {
            Ok(c) => Ok(self.view(&c.stored)),
            Err(e) => Err(connect_failed(&e)),
        }
    }

    /// Changes a connection's name, makes it the default, or sets or removes its limits (a
    /// connection paused by a limit is resumed when its limits change).
    ///
    /// # Errors
    /// `invalid_daily_share`, `invalid_max_concurrent`, `invalid_default` (`default: false`),
    /// `unknown_connection`, or the store failing (`internal`).
    pub async fn update(
        &self,
        caller: &Caller,
        id: &str,
        change: SettingsChange,
    ) -> Result<Value, Error> {
        let (share, cap) = check_change(&change)?;
        let result = self
            .registry
            .update_settings(caller.workspace, id, Actor::of(caller), |c| {
                if let Some(n) = change.name {
                    c.name = n;
                }
                if change.default == Some(true) {
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
            && let Err(e) = self.registry.resume_queue(caller.workspace, id).await
        {
            return Err(internal(&format!("{e:#}")));
        }
        match result {
            Ok(c) => Ok(self.view(&c)),
            Err(e) if is_not_found(&e) => Err(not_found(id)),
            Err(e) => Err(internal(&format!("{e:#}"))),
        }
    }

    /// Tests a connection with its token: the org's limits and the user's identity, audited.
    ///
    /// # Errors
    /// `not_connected` (it is not live), `unknown_connection`, `needs_reauth` (the org refused
    /// the token), `org_error`, or the store failing (`internal`).
    pub async fn test(&self, caller: &Caller, id: &str) -> Result<Value, Error> {
        let Some(live) = self.registry.get_any(caller.workspace, id) else {
            return match self.registry.store().connection(caller.workspace, id).await {
                Ok(Some(c)) => Err(Error::new(
                    Kind::Conflict,
                    "not_connected",
                    format!("connection {} is {}", c.id, c.status.as_str()),
                )),
                Ok(None) => Err(not_found(id)),
                Err(e) => Err(internal(&e)),
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
        self.registry.observe(&live).await;
        let usage = live.api_usage();
        let failure = match &result {
            Ok(_) => None,
            Err(callforce_client::Error::NeedsReauthorization { .. }) => Some((
                "needs_reauth",
                LookupError::NeedsReauth(id.to_owned()).to_string(),
            )),
            Err(e) => Some(("org_error", e.to_string())),
        };
        let outcome = match &failure {
            None => Ok(usage.as_ref()),
            Some((code, message)) => Err((*code, message.as_str())),
        };
        let entry = changes::tested(Actor::of(caller), id, outcome);
        self.registry
            .store()
            .append_audit(caller.workspace, Utc::now(), &entry)
            .await
            .map_err(|e| internal(&e))?;
        match result {
            Ok(user) => {
                let usage = live
                    .api_usage()
                    .map(|u| json!({"used": u.used, "max": u.max}));
                Ok(json!({
                    "ok": true,
                    "connection": id,
                    "org_id": user.organization_id,
                    "username": user.preferred_username,
                    "api_usage": usage,
                }))
            }
            Err(callforce_client::Error::NeedsReauthorization { .. }) => Err(Error::new(
                Kind::Conflict,
                "needs_reauth",
                LookupError::NeedsReauth(id.to_owned()).to_string(),
            )),
            Err(e) => Err(Error::new(Kind::Upstream, "org_error", e.to_string())),
        }
    }

    /// Connects a connection again: a JWT or client-credentials one logs in again; a
    /// web-server one needs a person, so the answer is a new link for it.
    ///
    /// # Errors
    /// `unknown_connection`, `connect_failed` (the org refused), `invalid_parameters` (a link
    /// that cannot be made), or the store failing (`internal`).
    pub async fn reconnect(&self, caller: &Caller, id: &str) -> Result<Reconnected, Error> {
        let c = match self.registry.store().connection(caller.workspace, id).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(not_found(id)),
            Err(e) => return Err(internal(&e)),
        };
        if c.kind == "web_server" {
            let environment = Some(c.environment.clone());
            let domain = (c.environment == "custom").then(|| {
                url::Url::parse(&c.login_url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_default()
            });
            let params = ConnectParams {
                environment,
                domain,
                profile: Some(c.profile.clone()),
                connection: Some(c.id.clone()),
            };
            return self.link(caller, params).await.map(Reconnected::Link);
        }
        match self.registry.reconnect_grant(&c, Actor::of(caller)).await {
            Ok(c) => Ok(Reconnected::Connection(self.view(&c.stored))),
            Err(e) => Err(connect_failed(&e)),
        }
    }

    /// Disconnects a connection: revokes its token at the org (when the org answers) and
    /// marks it disconnected.
    ///
    /// # Errors
    /// `unknown_connection`, or the store failing (`internal`).
    pub async fn disconnect(&self, caller: &Caller, id: &str) -> Result<Value, Error> {
        match self
            .registry
            .disconnect(caller.workspace, id, Actor::of(caller))
            .await
        {
            Ok(revoked) => {
                Ok(json!({"id": id, "status": "disconnected", "revoked_at_org": revoked}))
            }
            Err(e) if is_not_found(&e) => Err(not_found(id)),
            Err(e) => Err(internal(&format!("{e:#}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Limits, SettingsChange, check_change};

    fn check(body: serde_json::Value) -> Result<Limits, &'static str> {
        let change: SettingsChange = serde_json::from_value(body).expect("a change");
        check_change(&change).map_err(|e| e.code)
    }

    #[test]
    fn a_settings_change_sets_removes_or_leaves_each_limit() {
        for (body, expected) in [
            (json!({}), Ok((None, None))),
            (json!({"name": "x", "default": true}), Ok((None, None))),
            (json!({"daily_share": 0.5}), Ok((Some(Some(0.5)), None))),
            (json!({"daily_share": 1}), Ok((Some(Some(1.0)), None))),
            (json!({"daily_share": null}), Ok((Some(None), None))),
            (json!({"max_concurrent": 1}), Ok((None, Some(Some(1))))),
            (
                json!({"max_concurrent": 10000}),
                Ok((None, Some(Some(10_000)))),
            ),
            (json!({"max_concurrent": null}), Ok((None, Some(None)))),
            (json!({"daily_share": 0}), Err("invalid_daily_share")),
            (json!({"daily_share": 1.5}), Err("invalid_daily_share")),
            (json!({"daily_share": "half"}), Err("invalid_daily_share")),
            (json!({"max_concurrent": 0}), Err("invalid_max_concurrent")),
            (
                json!({"max_concurrent": 10001}),
                Err("invalid_max_concurrent"),
            ),
            (
                json!({"max_concurrent": 2.5}),
                Err("invalid_max_concurrent"),
            ),
            (json!({"default": false}), Err("invalid_default")),
            (
                json!({"daily_share": 2, "max_concurrent": 0}),
                Err("invalid_daily_share"),
            ),
            (
                json!({"max_concurrent": 0, "default": false}),
                Err("invalid_max_concurrent"),
            ),
        ] {
            assert_eq!(check(body.clone()), expected, "{body}");
        }
    }
}
