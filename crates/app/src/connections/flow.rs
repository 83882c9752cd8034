//! The web-server flow: a person connects an org in a browser.
//!
//! A browser cannot send an `Authorization` header, and an API key in a URL ends up in browser
//! history and proxy logs, so a browser starts the flow with a *link* ([`Connections::link`]):
//! one-time, bound to the workspace and the key that made it, valid for the flow's TTL. The
//! flow's `state` is one-time too ([`Connections::start`]), stored by its hash with the
//! workspace, the admin's key, the PKCE verifier (sealed) and the hash of a value the front
//! door keeps in the browser that started it (a cookie): a callback
//! ([`Connections::callback`]) with a state that is unknown (forged), used, expired, or from
//! another browser (another workspace's flow) is refused.

use std::fmt;

use callforce_client::ExposeSecret;
use callforce_client::auth::Pkce;
use callforce_store::{OneTimeKind, OneTimeToken, Taken};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Connections, internal};
use crate::changes::Actor;
use crate::error::{Error, Kind};
use crate::registry::{Connected, NewConnection, profile_scopes};
use crate::vault::{STATE, Secrets};

/// What a connect flow is asked to do (a link's payload, or the query of a direct start).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConnectParams {
    /// `production` (the default), `sandbox` or `custom`.
    #[serde(default)]
    pub environment: Option<String>,
    /// The My Domain of a `custom` environment.
    #[serde(default)]
    pub domain: Option<String>,
    /// `standard` (the default), `extended` or `privileged`.
    #[serde(default)]
    pub profile: Option<String>,
    /// The connection to authorise again.
    #[serde(default)]
    pub connection: Option<String>,
}

/// A connect link: open it in a browser, once, before it expires. Its `Debug` does not show
/// the URL (the link's one-time value is in it).
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct Link {
    /// `<public URL>/connect/salesforce?link=...`.
    pub url: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// How a browser starts a flow: with a link, or (a client that is not a browser) with an API
/// key and the parameters. Its `Debug` shows neither the link nor the key.
#[derive(Clone, Default)]
pub struct Start {
    /// The link's one-time value.
    pub link: Option<String>,
    /// The request's `Authorization` header (`Bearer <key>`), asked only without a link.
    pub authorization: Option<String>,
    /// What to connect, without a link.
    pub params: ConnectParams,
}

/// Where a started flow sends the browser, and what the browser must keep until the callback.
/// Its `Debug` shows neither the login URL (it holds the state) nor the browser's value.
#[derive(Clone)]
pub struct Authorize {
    /// The org's login page (web-server flow, PKCE S256).
    pub url: String,
    /// The value the browser keeps (a cookie) and sends back with the callback.
    pub browser: String,
    /// How long the flow is accepted.
    pub expires_in: std::time::Duration,
}

/// What the org sends the browser back with. Its `Debug` shows neither the state nor the code.
#[derive(Clone, Default, Deserialize)]
pub struct CallbackAnswer {
    /// The flow's `state`.
    #[serde(default)]
    pub state: Option<String>,
    /// The authorization code.
    #[serde(default)]
    pub code: Option<String>,
    /// The org's error, when the person (or the org) refused.
    #[serde(default)]
    pub error: Option<String>,
    /// The org's words about the error.
    #[serde(default)]
    pub error_description: Option<String>,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("url", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl fmt::Debug for Start {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Start")
            .field("link", &self.link.as_ref().map(|_| "<redacted>"))
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .field("params", &self.params)
            .finish()
    }
}

impl fmt::Debug for Authorize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorize")
            .field("url", &"<redacted>")
            .field("browser", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

impl fmt::Debug for CallbackAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackAnswer")
            .field("state", &self.state.as_ref().map(|_| "<redacted>"))
            .field("code", &self.code.as_ref().map(|_| "<redacted>"))
            .field("error", &self.error)
            .field("error_description", &self.error_description)
            .finish()
    }
}

/// What the `state` row keeps until the callback (no secret: the verifier is sealed apart).
#[derive(Debug, Serialize, Deserialize)]
struct StatePayload {
    environment: String,
    login_url: String,
    profile: String,
    connection: Option<String>,
    /// SHA-256 of the value kept in the browser that started the flow.
    browser: String,
}

fn sha256_hex(s: &str) -> String {
    callforce_store::keys::hash_key(s)
}

/// A refused link (the page says it).
fn bad_link(message: &str) -> Error {
    Error::new(Kind::Invalid, "invalid_link", message)
}

/// A refused callback (the page says it).
fn bad_answer(message: impl Into<String>) -> Error {
    Error::new(Kind::Invalid, "invalid_answer", message)
}

impl Connections {
    /// A one-time connect link for `params`, bound to the caller's workspace and key.
    ///
    /// # Errors
    /// `invalid_parameters`, or the store failing (`internal`).
    pub async fn link(&self, caller: &crate::Caller, params: ConnectParams) -> Result<Link, Error> {
        self.check_params(caller.workspace, &params).await?;
        let now = Utc::now();
        let link = crate::token::random_hex(24);
        let token = OneTimeToken {
            workspace: caller.workspace,
            api_key: caller.key,
            payload: serde_json::to_string(&params).unwrap_or_default(),
            secret: None,
            key_version: None,
            expires_at: now + self.settings.ttl,
        };
        self.registry
            .store()
            .create_one_time(OneTimeKind::Link, &sha256_hex(&link), &token, now)
            .await
            .map_err(|e| internal(&e))?;
        Ok(Link {
            url: format!(
                "{}/connect/salesforce?link={link}",
                self.settings.public_url.trim_end_matches('/')
            ),
            expires_at: token.expires_at,
        })
    }

    /// Starts a flow: takes the link (or checks the API key), stores the flow's state and
    /// answers the org's login page to send the browser to.
    ///
    /// # Errors
    /// `invalid_link` (unknown, used or expired), `unauthorized` (no link and no valid key),
    /// `invalid_parameters`, or the store failing (`internal`).
    pub async fn start(&self, start: Start) -> Result<Authorize, Error> {
        let now = Utc::now();
        let (workspace, key, params) = if let Some(link) = &start.link {
            match self
                .registry
                .store()
                .take_one_time(OneTimeKind::Link, &sha256_hex(link), now)
                .await
            {
                Ok(Taken::Fresh(t)) => match serde_json::from_str::<ConnectParams>(&t.payload) {
                    Ok(p) => (t.workspace, t.api_key, p),
                    Err(e) => return Err(internal(&e)),
                },
                Ok(Taken::Unknown) => return Err(bad_link("This connect link is not valid.")),
                Ok(Taken::Reused) => {
                    return Err(bad_link(
                        "This connect link was used already; a link works once.",
                    ));
                }
                Ok(Taken::Expired) => return Err(bad_link("This connect link has expired.")),
                Err(e) => return Err(internal(&e)),
            }
        } else {
            let given = start
                .authorization
                .as_deref()
                .and_then(|v| v.strip_prefix("Bearer "));
            let caller = match given {
                Some(k) => self.app.caller(k.trim()).await,
                None => None,
            };
            let Some(caller) = caller else {
                return Err(Error::new(
                    Kind::Unauthorized,
                    "unauthorized",
                    "Open this page with a connect link (POST /v1/connections/link), or send an API key as 'Authorization: Bearer <key>'.",
                ));
            };
            (caller.workspace, caller.key, start.params)
        };
        let checked = self.check_params(workspace, &params).await?;
        let oauth = self
            .registry
            .app()
            .oauth(&checked.login_url, None, None)
            .map_err(|e| Error::new(Kind::Invalid, "invalid_parameters", e.to_string()))?;
        let scopes = profile_scopes(&checked.profile).unwrap_or(&[]);
        let auth = oauth.authorize_url(scopes).map_err(|e| internal(&e))?;
        let browser = crate::token::random_hex(24);
        let state_hash = sha256_hex(&auth.state);
        let payload = StatePayload {
            environment: checked.environment,
            login_url: checked.login_url,
            profile: checked.profile,
            connection: checked.connection,
            browser: sha256_hex(&browser),
        };
        let vault = self.registry.vault();
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
            expires_at: now + self.settings.ttl,
        };
        self.registry
            .store()
            .create_one_time(OneTimeKind::State, &state_hash, &token, now)
            .await
            .map_err(|e| internal(&e))?;
        Ok(Authorize {
            url: auth.url,
            browser,
            expires_in: self.settings.ttl,
        })
    }

    /// Finishes a flow with the org's answer and the value the browser kept: exchanges the
    /// code, tests the connection and stores it, audited as a connect by the key that made
    /// the link.
    ///
    /// # Errors
    /// `invalid_answer` (no state, an unknown, used or expired one, the org's refusal, no
    /// code), `other_browser` (the flow was started in another browser), `exchange_failed`,
    /// `connect_failed`, or the store failing (`internal`).
    pub async fn callback(
        &self,
        answer: &CallbackAnswer,
        browser: Option<&str>,
    ) -> Result<Connected, Error> {
        let now = Utc::now();
        let Some(state) = answer.state.as_deref().filter(|v| !v.is_empty()) else {
            return Err(bad_answer("The answer carries no state."));
        };
        let state_hash = sha256_hex(state);
        let token = match self
            .registry
            .store()
            .take_one_time(OneTimeKind::State, &state_hash, now)
            .await
        {
            Ok(Taken::Fresh(t)) => t,
            Ok(Taken::Unknown) => {
                return Err(bad_answer(
                    "This answer does not belong to a connect flow callforce started (unknown state).",
                ));
            }
            Ok(Taken::Reused) => {
                return Err(bad_answer(
                    "This answer was used already (the state works once).",
                ));
            }
            Ok(Taken::Expired) => {
                return Err(bad_answer("This connect flow took too long and expired."));
            }
            Err(e) => return Err(internal(&e)),
        };
        let payload: StatePayload =
            serde_json::from_str(&token.payload).map_err(|e| internal(&e))?;
        let same_browser = browser.is_some_and(|c| sha256_hex(c) == payload.browser);
        if !same_browser {
            tracing::warn!(workspace = %token.workspace, "connect callback from another browser than the one that started the flow");
            return Err(Error::new(
                Kind::Forbidden,
                "other_browser",
                "This answer belongs to a connect flow started in another browser session.",
            ));
        }
        if let Some(err) = &answer.error {
            let why = answer.error_description.as_deref().unwrap_or(err);
            return Err(bad_answer(format!(
                "The org did not authorise callforce: {why}"
            )));
        }
        let Some(code) = answer.code.as_deref().filter(|c| !c.is_empty()) else {
            return Err(bad_answer("The answer carries no code."));
        };
        let vault = self.registry.vault();
        let verifier = match (&token.secret, token.key_version) {
            (Some(sealed), Some(v)) => match vault.open(STATE, &state_hash, v, sealed) {
                Ok(p) => String::from_utf8(p.to_vec()).unwrap_or_default(),
                Err(e) => return Err(internal(&e)),
            },
            _ => return Err(internal(&"a state without its verifier")),
        };
        let pkce = Pkce::from_verifier(verifier);
        let oauth = self
            .registry
            .app()
            .oauth(&payload.login_url, None, None)
            .map_err(|e| internal(&e))?;
        let tokens = match oauth.exchange_code(code, &pkce).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "connect: the code exchange failed");
                return Err(Error::new(
                    Kind::Upstream,
                    "exchange_failed",
                    format!("The org refused the code exchange: {e}"),
                ));
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
        match self
            .registry
            .finish(new, tokens, Actor::of_key(token.api_key))
            .await
        {
            Ok(c) => {
                tracing::info!(connection = %c.stored.id, workspace = %c.stored.workspace, key = ?token.api_key.map(|k| k.0), "org connected");
                Ok(c)
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "connect: finishing failed");
                Err(Error::new(
                    Kind::Upstream,
                    "connect_failed",
                    format!("Connecting failed: {e:#}"),
                ))
            }
        }
    }
}
