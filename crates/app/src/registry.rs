//! The registry of live connections: one [`callforce_client::Connection`] (inside its
//! [`Actions`]) per stored connection, built from the store and the vault at start and kept in
//! step with every connect, reconnect and disconnect.
//!
//! - A rotated refresh token reaches the store (sealed) before it is used: the client awaits the
//!   rotation hook, which seals and writes it.
//! - On PostgreSQL, refreshes of one connection are serialised across instances
//!   ([`crate::refresh`]): an instance that waited for another's refresh takes its stored tokens.
//! - A refused grant (`invalid_grant`: revoked, expired) turns the connection `needs_reauth` in
//!   the store the first time it is seen, with an alert in the log; its requests fail at once
//!   until someone connects it again.
//! - Every connect, reconnect, disconnect, settings change and refused grant is written with its
//!   audit entry in one transaction ([`crate::changes`]).
//! - Per-org limits: an admin may cap the share of the org's daily API allowance callforce uses
//!   and the requests in flight at once. Reads beyond them are refused ([`Live::admit_read`]);
//!   the write queue waits instead ([`Live::admit_write`]).
//! - The describes the non-blocking actions check their writes against are fetched when a
//!   connection connects, kept in the store, handed to the connection's describe cache at
//!   start, and fetched again in the background once they are an hour old
//!   ([`Registry::spawn_describe_refresher`]): a non-blocking write never waits on the org,
//!   even after a restart with the org down.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use callforce_actions::{Actions, Catalog};
use callforce_client::auth::UserInfo;
use callforce_client::{
    ApiUsage, ApiVersion, Connection, ConnectionConfig, Grant, JwtKey, LoginHost, OAuthApp,
    OAuthClient, SecretString, Tokens,
};
use callforce_pipeline::Admission;
use callforce_store::{ConnectionStatus, Store, StoredConnection, WorkspaceId};
use chrono::Utc;
use futures_util::future::BoxFuture;
use parking_lot::{Mutex, RwLock};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::changes::{self, Actor};
use crate::vault::{Secrets, Vault};

/// The service's own connected app and how login hosts are reached.
#[derive(Clone)]
pub struct AppConfig {
    /// The consumer key of the web-server flow.
    pub client_id: String,
    /// The consumer secret (optional with PKCE).
    pub client_secret: Option<SecretString>,
    /// The callback URL registered with the app (`<public URL>/connect/salesforce/callback`).
    pub redirect_uri: String,
    /// A base URL replacing every environment's login host (tests against a dev org, a proxy).
    pub login_host_override: Option<String>,
}

impl std::fmt::Debug for AppConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppConfig")
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("login_host_override", &self.login_host_override)
            .finish_non_exhaustive()
    }
}

impl AppConfig {
    /// The login host's base URL of an environment (`production`, `sandbox`, `custom` with a My
    /// Domain), or the override when one is set.
    ///
    /// # Errors
    /// An unknown environment, or `custom` without a valid domain.
    pub fn login_url(&self, environment: &str, domain: Option<&str>) -> Result<String, String> {
        let host = match environment {
            "production" => LoginHost::Production,
            "sandbox" => LoginHost::Sandbox,
            "custom" => {
                let d = domain.map(str::trim).filter(|d| !d.is_empty()).ok_or(
                    "environment=custom needs domain=<your My Domain> (acme or acme.my.salesforce.com)",
                )?;
                if !d
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
                {
                    return Err(format!(
                        "domain '{d}' is not a host name: give the My Domain (acme or acme.my.salesforce.com)"
                    ));
                }
                LoginHost::MyDomain(d.to_owned())
            }
            other => {
                return Err(format!(
                    "unknown environment '{other}': use production, sandbox or custom"
                ));
            }
        };
        Ok(match &self.login_host_override {
            Some(o) => o.trim_end_matches('/').to_owned(),
            None => host.base_url(),
        })
    }

    fn oauth_app(&self, client_id: Option<&str>, secret: Option<&str>) -> OAuthApp {
        // A connection's own secret goes with its own consumer key, or with the service's.
        let client_secret = match secret {
            Some(s) => Some(SecretString::from(s.to_owned())),
            None if client_id.is_none() => self.client_secret.clone(),
            None => None,
        };
        OAuthApp {
            client_id: client_id.map_or_else(|| self.client_id.clone(), str::to_owned),
            client_secret,
            redirect_uri: Some(self.redirect_uri.clone()),
        }
    }

    /// The OAuth endpoints of `login_url` for the service's app (or a connection's own).
    ///
    /// # Errors
    /// An invalid URL.
    pub fn oauth(
        &self,
        login_url: &str,
        client_id: Option<&str>,
        secret: Option<&str>,
    ) -> callforce_client::Result<OAuthClient> {
        OAuthClient::new(
            LoginHost::Url(login_url.to_owned()),
            self.oauth_app(client_id, secret),
            &callforce_client::HttpPool::shared(),
        )
    }
}

/// The profile shown for a JWT or client-credentials connection: its scopes are the ones
/// selected on its connected app, which no profile changes.
pub const APP_PROFILE: &str = "connected_app";

/// The scopes of a profile, narrowest first.
pub fn profile_scopes(profile: &str) -> Option<&'static [&'static str]> {
    Some(match profile {
        "standard" => &["api", "refresh_token", "offline_access"],
        "extended" => &["api", "refresh_token", "offline_access", "web", "full"],
        "privileged" => &[
            "api",
            "refresh_token",
            "offline_access",
            "web",
            "full",
            "chatter_api",
        ],
        _ => return None,
    })
}

/// One live connection.
pub struct Live {
    /// The stored row as last written (its sealed secrets included, never opened here).
    pub meta: RwLock<StoredConnection>,
    /// The catalog bound to the org.
    pub actions: Actions,
    secrets: Arc<Mutex<Secrets>>,
    inflight: RwLock<Option<Arc<Semaphore>>>,
    /// When a write refused by the daily share last read the org's usage again.
    usage_checked: Mutex<Option<std::time::Instant>>,
    /// When the oldest of the describes the non-blocking writes need was fetched (`None`: one
    /// is missing).
    describes_at: Mutex<Option<chrono::DateTime<Utc>>>,
    /// The connected user's time zone (`User.TimeZoneSidKey`), read once per connection: the
    /// zone of calls whose own and agent's are not set (`None`: the user has none we know).
    user_zone: tokio::sync::OnceCell<Option<callforce_actions::zone::Tz>>,
}

/// How old the describes the non-blocking writes are checked against may grow before they are
/// fetched again.
pub const DESCRIBE_REFRESH: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// How often a write refused by the daily share reads the org's usage again.
const USAGE_RECHECK: std::time::Duration = std::time::Duration::from_secs(60);

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("meta", &*self.meta.read())
            .finish_non_exhaustive()
    }
}

/// Why a request to an org is refused by its limits.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LimitError {
    /// The admin-set share of the daily allowance is used up.
    #[error(
        "connection {id} has used its share of the org's daily API allowance ({used} of {max} requests, share {share}); reads are refused and queued writes wait until the usage falls or an admin raises the share"
    )]
    DailyShare {
        /// The connection.
        id: String,
        /// Requests used in the last 24 hours.
        used: u64,
        /// The org's allowance.
        max: u64,
        /// The share callforce may use.
        share: f64,
    },
    /// As many requests as the cap allows are in flight.
    #[error(
        "connection {id} already has {cap} requests in flight (its concurrency cap); try again in a moment"
    )]
    Concurrency {
        /// The connection.
        id: String,
        /// The cap.
        cap: i64,
    },
}

impl Live {
    /// The connected user's time zone (`User.TimeZoneSidKey`), read from the org the first
    /// time it is asked for and kept for the connection's life. `None` when the user has no
    /// zone we know, or the org could not be asked (asked again next time).
    pub async fn user_zone(&self) -> Option<callforce_actions::zone::Tz> {
        let read = self
            .user_zone
            .get_or_try_init(|| async {
                let user = self.meta.read().user_id.clone();
                let Ok(id) = callforce_client::Id::parse(&user) else {
                    return Ok(None);
                };
                let rec = self
                    .actions
                    .connection()
                    .get("User", id, &["TimeZoneSidKey"])
                    .await?;
                Ok::<_, callforce_client::Error>(
                    rec.get("TimeZoneSidKey")
                        .and_then(serde_json::Value::as_str)
                        .and_then(|z| callforce_actions::zone::parse("TimeZoneSidKey", z).ok()),
                )
            })
            .await;
        match read {
            Ok(zone) => *zone,
            Err(e) => {
                tracing::warn!(connection = %self.id(), error = %e, "reading the connected user's time zone failed; UTC is used until it is read");
                None
            }
        }
    }

    /// The connected user's time zone when it was read already ([`Live::user_zone`]), without
    /// asking the org.
    pub fn known_user_zone(&self) -> Option<callforce_actions::zone::Tz> {
        self.user_zone.get().copied().flatten()
    }

    /// The connection's id.
    pub fn id(&self) -> String {
        self.meta.read().id.clone()
    }

    /// The org's latest API usage, as the client last read it.
    pub fn api_usage(&self) -> Option<ApiUsage> {
        self.actions.connection().api_usage()
    }

    fn daily_check(&self) -> Result<(), LimitError> {
        let meta = self.meta.read();
        if let (Some(share), Some(u)) = (meta.daily_share, self.api_usage())
            && u.max > 0
            && (u.used as f64) >= share * (u.max as f64)
        {
            return Err(LimitError::DailyShare {
                id: meta.id.clone(),
                used: u.used,
                max: u.max,
                share,
            });
        }
        Ok(())
    }

    /// Admits a read: refused at once beyond the daily share or the concurrency cap. Hold the
    /// permit while the request runs.
    ///
    /// # Errors
    /// The limit that refuses it.
    pub fn admit_read(&self) -> Result<Option<OwnedSemaphorePermit>, LimitError> {
        self.daily_check()?;
        let sem = self.inflight.read().clone();
        match sem {
            None => Ok(None),
            Some(s) => s
                .try_acquire_owned()
                .map(Some)
                .map_err(|_| LimitError::Concurrency {
                    id: self.id(),
                    cap: self.meta.read().max_concurrent.unwrap_or(0),
                }),
        }
    }

    /// Admits a write from the queue: waits for a concurrency slot; refused (the job stays
    /// queued) beyond the daily share. The check the durable write queue's workers make before
    /// each job (the registry's [`callforce_pipeline::Connections::admit`]).
    ///
    /// # Errors
    /// [`LimitError::DailyShare`].
    pub async fn admit_write(&self) -> Result<Option<OwnedSemaphorePermit>, LimitError> {
        self.daily_check()?;
        let sem = self.inflight.read().clone();
        match sem {
            None => Ok(None),
            Some(s) => Ok(s.acquire_owned().await.ok()),
        }
    }

    /// Whether the org's usage was last read more than a minute ago by a refused write (or
    /// never): marks it read now, so one refused write in a minute reads it again.
    fn usage_may_be_stale(&self) -> bool {
        let mut last = self.usage_checked.lock();
        let now = std::time::Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < USAGE_RECHECK) {
            return false;
        }
        *last = Some(now);
        true
    }

    fn set_cap(&self, cap: Option<i64>) {
        *self.inflight.write() = cap
            .filter(|c| *c > 0)
            .map(|c| Arc::new(Semaphore::new(usize::try_from(c).unwrap_or(usize::MAX))));
    }
}

/// Why a workspace's connection cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// The workspace has no usable connection.
    #[error(
        "this workspace has no connected org: connect one (GET /connect/salesforce or POST /v1/connections)"
    )]
    NoConnection,
    /// No such connection in the workspace.
    #[error("no connection '{0}' in this workspace")]
    Unknown(String),
    /// The connection needs a person to connect it again.
    #[error(
        "connection {0} needs to be connected again (its authorisation was revoked or expired)"
    )]
    NeedsReauth(String),
    /// The connection was disconnected.
    #[error("connection {0} is disconnected")]
    Disconnected(String),
}

/// What a connect produced: the stored row and the test call's results.
pub struct Connected {
    /// The stored connection.
    pub stored: StoredConnection,
    /// The org's API usage read by the test call.
    pub usage: Option<ApiUsage>,
    /// The user's identity.
    pub user: UserInfo,
}

/// How a connection is (re)authorised.
pub struct NewConnection {
    /// Its id when reconnecting.
    pub id: Option<String>,
    /// The workspace.
    pub workspace: WorkspaceId,
    /// `web_server`, `jwt` or `client_credentials`.
    pub kind: &'static str,
    /// The environment name.
    pub environment: String,
    /// The login host's base URL.
    pub login_url: String,
    /// The connection's own consumer key, if not the service's.
    pub client_id: Option<String>,
    /// The profile asked for.
    pub profile: String,
    /// A display name.
    pub name: Option<String>,
    /// The secrets to seal (tokens are filled in from `tokens`).
    pub secrets: Secrets,
    /// The JWT username.
    pub jwt_username: Option<String>,
}

/// The live connections of every workspace.
pub struct Registry {
    store: Store,
    vault: Arc<Vault>,
    app: AppConfig,
    catalog: Catalog,
    /// What each connection's write sink shares (none: writes go straight to the org).
    sinks: Option<crate::pipeline::SinkParts>,
    live: RwLock<HashMap<String, Arc<Live>>>,
}

/// The write queue's workers lease only the jobs of connections that are connected here, and
/// send each through its connection's limits ([`Live::admit_write`]).
impl callforce_pipeline::Connections for Registry {
    fn ready(&self) -> Vec<(WorkspaceId, String)> {
        self.ready()
    }

    fn admit<'a>(
        &'a self,
        workspace: WorkspaceId,
        connection_id: &'a str,
    ) -> BoxFuture<'a, Admission> {
        Box::pin(async move {
            let live = match self.get(workspace, Some(connection_id)) {
                Ok(l) => l,
                Err(e) => return Admission::NotReady(e.to_string()),
            };
            let mut admitted = live.admit_write().await;
            if admitted.is_err() && live.usage_may_be_stale() {
                // The usage is only learnt from answers: read it again (limits) before holding
                // the queue back, so a pause ends once the org's allowance has come back.
                if let Err(e) = live.actions.connection().limits().await {
                    tracing::warn!(connection = %connection_id, error = %e, "reading the org's API usage failed");
                }
                self.observe(&live).await;
                admitted = live.admit_write().await;
            }
            match admitted {
                Ok(permit) => Admission::Send {
                    conn: live.actions.connection().clone(),
                    permit,
                },
                Err(e) => Admission::Limited(e.to_string()),
            }
        })
    }

    fn failed<'a>(&'a self, workspace: WorkspaceId, connection_id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(live) = self.get_any(workspace, connection_id) {
                self.observe(&live).await;
            }
        })
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("app", &self.app)
            .field("connections", &self.live.read().len())
            .finish_non_exhaustive()
    }
}

/// A new connection id: `con_` and 16 hex digits.
pub fn new_id() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("con_{n:016x}")
}

impl Registry {
    /// Builds the registry from every stored connection that is not disconnected (no request is
    /// sent: tokens are renewed when first needed). With `sinks`, each connection's writes go
    /// through the write pipeline (its jobs carry the connection's id).
    ///
    /// # Errors
    /// Secrets that do not open (the vault was unlocked with another key); database errors.
    pub async fn load(
        store: Store,
        vault: Arc<Vault>,
        app: AppConfig,
        catalog: Catalog,
        sinks: Option<crate::pipeline::SinkParts>,
    ) -> anyhow::Result<Arc<Self>> {
        let reg = Arc::new(Self {
            store,
            vault,
            app,
            catalog,
            sinks,
            live: RwLock::new(HashMap::new()),
        });
        for c in reg.store.all_connections().await? {
            if c.status == ConnectionStatus::Disconnected {
                continue;
            }
            let secrets = Secrets::open(&reg.vault, &c)
                .with_context(|| format!("opening the secrets of connection {}", c.id))?;
            let live = reg.build(c, secrets)?;
            reg.seed_describes(&live).await?;
            let id = live.id();
            reg.live.write().insert(id, live);
        }
        Ok(reg)
    }

    /// The objects whose describes writes are checked against: every object a template of the
    /// catalog writes, so that no tool call waits on a describe (a non-blocking one never asks
    /// the org, a blocking one only for an object it has never seen).
    fn describe_objects(&self) -> Vec<String> {
        let Some(parts) = &self.sinks else {
            return Vec::new();
        };
        let non_blocking =
            parts
                .non_blocking()
                .iter()
                .filter_map(|name| match self.catalog.get(name) {
                    Some(callforce_actions::Action::Template(t)) => t.object.clone(),
                    _ => None,
                });
        let written = self
            .catalog
            .templates()
            .filter(|t| t.effect != callforce_actions::Effect::Read)
            .filter_map(|t| t.object.clone());
        let mut objects: Vec<String> = non_blocking.chain(written).collect();
        objects.sort();
        objects.dedup();
        objects
    }

    /// Hands `live`'s connection the describes stored for it (held, not fresh) and notes how
    /// old the oldest needed one is.
    ///
    /// # Errors
    /// Database errors.
    async fn seed_describes(&self, live: &Live) -> anyhow::Result<()> {
        let (ws, id) = {
            let m = live.meta.read();
            (m.workspace, m.id.clone())
        };
        let stored = self.store.describes(ws, &id).await?;
        let conn = live.actions.connection();
        for d in &stored {
            match serde_json::from_str::<callforce_client::describe::SObjectDescribe>(&d.describe) {
                Ok(parsed) => conn.seed_describe(Arc::new(parsed)),
                Err(e) => {
                    tracing::warn!(connection = %id, object = %d.object, error = %e, "a stored describe does not parse; it is fetched again");
                }
            }
        }
        let mut oldest = Some(Utc::now());
        for object in self.describe_objects() {
            let at = stored
                .iter()
                .find(|d| d.object == object.to_ascii_lowercase())
                .map(|d| d.fetched_at);
            oldest = match (oldest, at) {
                (Some(o), Some(a)) => Some(o.min(a)),
                _ => None,
            };
        }
        *live.describes_at.lock() = oldest;
        Ok(())
    }

    /// Fetches the describes the non-blocking actions need from `live`'s org, stores them and
    /// leaves them in the connection's cache. A failure is logged and leaves the held ones in
    /// use (they are tried again at the next refresh).
    async fn fetch_describes(&self, live: &Live) {
        let (ws, id) = {
            let m = live.meta.read();
            (m.workspace, m.id.clone())
        };
        use futures_util::StreamExt as _;
        let conn = live.actions.connection();
        let (ws, id) = (ws, id.as_str());
        // A few at a time: a connection coming up waits for them.
        let fetched: Vec<(String, Result<(), anyhow::Error>)> =
            futures_util::stream::iter(self.describe_objects())
                .map(|object: String| async move {
                    let r = match conn.describe_if_modified(&object, None).await {
                        Ok(callforce_client::describe::Described::Modified { describe, .. }) => {
                            let json = serde_json::to_string(&*describe).unwrap_or_default();
                            self.store
                                .put_describe(ws, id, &object, &json, Utc::now())
                                .await
                                .map_err(anyhow::Error::from)
                        }
                        Ok(callforce_client::describe::Described::NotModified) => Ok(()),
                        // An object this org does not have (or hides from the user): its
                        // templates are refused by the org when used, nothing to hold.
                        Err(callforce_client::Error::Api { status: 404, .. }) => {
                            tracing::debug!(connection = %id, %object, "the org has no such object; not described");
                            Ok(())
                        }
                        Err(e) => Err(e.into()),
                    };
                    (object, r)
                })
                .buffer_unordered(4)
                .collect()
                .await;
        let mut all = true;
        for (object, r) in fetched {
            if let Err(e) = r {
                all = false;
                tracing::warn!(connection = %id, %object, error = %e, "fetching a describe for the writes failed; the one held stays in use");
            }
        }
        if all {
            *live.describes_at.lock() = Some(Utc::now());
        }
        self.observe(live).await;
    }

    /// Fetches the describes of every connected connection whose describes are missing or
    /// older than [`DESCRIBE_REFRESH`] now, then looks again every `every`. Runs until the
    /// handle is aborted.
    pub fn spawn_describe_refresher(
        self: &Arc<Self>,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let reg = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let due: Vec<Arc<Live>> = reg
                    .live
                    .read()
                    .values()
                    .filter(|l| {
                        l.meta.read().status == ConnectionStatus::Connected
                            && l.describes_at.lock().is_none_or(|at| {
                                Utc::now().signed_duration_since(at) >= DESCRIBE_REFRESH
                            })
                    })
                    .cloned()
                    .collect();
                for live in due {
                    reg.fetch_describes(&live).await;
                }
            }
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The vault.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The service's app configuration.
    pub fn app(&self) -> &AppConfig {
        &self.app
    }

    /// The action catalog every connection runs.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn grant(c: &StoredConnection, secrets: &Secrets) -> anyhow::Result<Grant> {
        Ok(match c.kind.as_str() {
            "jwt" => Grant::JwtBearer {
                username: c.username.clone(),
                key: JwtKey::from_pem(secrets.jwt_key_pem.as_deref().unwrap_or("").as_bytes())
                    .map_err(|_| anyhow::anyhow!("the stored JWT key does not parse"))?,
                audience: None,
            },
            "client_credentials" => Grant::ClientCredentials,
            _ => Grant::None,
        })
    }

    fn build(&self, c: StoredConnection, secrets: Secrets) -> anyhow::Result<Arc<Live>> {
        let app = self
            .app
            .oauth_app(c.client_id.as_deref(), secrets.client_secret.as_deref());
        let mut config = ConnectionConfig::new(LoginHost::Url(c.login_url.clone()), app);
        config.version = c
            .api_version
            .parse::<ApiVersion>()
            .unwrap_or(ApiVersion::DEFAULT);
        if let Some(parts) = &self.sinks {
            // Reads are retried within the same mid-call budget as blocking writes.
            config.read_budget = parts.budget();
        }
        let grant = Self::grant(&c, &secrets)?;
        let tokens = Tokens {
            access_token: SecretString::from(secrets.access_token.clone().unwrap_or_default()),
            refresh_token: secrets.refresh_token.clone().map(SecretString::from),
            instance_url: c.instance_url.clone(),
            id: String::new(),
            scope: Some(c.scopes.clone()),
            issued_at: None,
            signature: None,
        };
        let shared = Arc::new(Mutex::new(secrets));
        {
            let store = self.store.clone();
            let vault = self.vault.clone();
            let shared = shared.clone();
            let (ws, id) = (c.workspace, c.id.clone());
            config.on_rotate = Some(Arc::new(move |token: SecretString| {
                let sealed = {
                    use callforce_client::ExposeSecret;
                    let mut s = shared.lock();
                    s.refresh_token = Some(token.expose_secret().to_owned());
                    s.seal(&vault, &id)
                };
                let (store, id, version) = (store.clone(), id.clone(), vault.version());
                Box::pin(async move {
                    store
                        .save_connection_secrets(ws, &id, &sealed, version, Utc::now())
                        .await
                        .map_err(|e| format!("storing the rotated refresh token of {id}: {e}"))
                })
            }));
        }
        // Several instances may share a PostgreSQL database: one refresh per connection at a
        // time across all of them (SQLite has one process; the client's single flight is enough).
        if self.store.backend() == callforce_store::Backend::Postgres {
            config.coordinator = Some(Arc::new(crate::refresh::StoreCoordinator::new(
                self.store.clone(),
                self.vault.clone(),
                shared.clone(),
                c.workspace,
                c.id.clone(),
            )));
        }
        let conn = Connection::new(config, tokens, grant)
            .map_err(|e| anyhow::anyhow!("connection {}: {e}", c.id))?;
        let mut actions = Actions::new(conn.clone(), self.catalog.clone());
        if let Some(parts) = &self.sinks {
            actions = actions
                .with_sink(parts.sink(&conn, &c.id, c.workspace))
                .with_non_blocking(parts.non_blocking().iter().cloned());
            if let Some(repeats) = parts.repeats() {
                actions = actions.with_repeats(repeats);
            }
        }
        let live = Arc::new(Live {
            actions,
            secrets: shared,
            inflight: RwLock::new(None),
            usage_checked: Mutex::new(None),
            describes_at: Mutex::new(None),
            user_zone: tokio::sync::OnceCell::new(),
            meta: RwLock::new(c),
        });
        live.set_cap(live.meta.read().max_concurrent);
        Ok(live)
    }

    /// The connection `id` of `workspace`, or its default one.
    ///
    /// # Errors
    /// A [`LookupError`] saying what to do.
    pub fn get(&self, workspace: WorkspaceId, id: Option<&str>) -> Result<Arc<Live>, LookupError> {
        let live = self.live.read();
        let found = match id {
            Some(id) => live
                .get(id)
                .filter(|l| l.meta.read().workspace == workspace)
                .cloned()
                .ok_or_else(|| LookupError::Unknown(id.to_owned()))?,
            None => {
                let mut mine: Vec<&Arc<Live>> = live
                    .values()
                    .filter(|l| l.meta.read().workspace == workspace)
                    .collect();
                mine.sort_by_key(|l| (!l.meta.read().is_default, l.meta.read().created_at));
                (*mine.first().ok_or(LookupError::NoConnection)?).clone()
            }
        };
        let meta = found.meta.read();
        match meta.status {
            ConnectionStatus::Connected => {}
            ConnectionStatus::NeedsReauth => return Err(LookupError::NeedsReauth(meta.id.clone())),
            ConnectionStatus::Disconnected => {
                return Err(LookupError::Disconnected(meta.id.clone()));
            }
        }
        drop(meta);
        Ok(found)
    }

    /// The connected connections of `workspace` (not `needs_reauth`, not disconnected), its
    /// default one first, then by age.
    pub fn connected(&self, workspace: WorkspaceId) -> Vec<Arc<Live>> {
        let mut mine: Vec<Arc<Live>> = self
            .live
            .read()
            .values()
            .filter(|l| {
                let m = l.meta.read();
                m.workspace == workspace && m.status == ConnectionStatus::Connected
            })
            .cloned()
            .collect();
        mine.sort_by_key(|l| {
            let m = l.meta.read();
            (!m.is_default, m.created_at, m.id.clone())
        });
        mine
    }

    /// The connections this process can send through now (connected: not `needs_reauth`, not
    /// disconnected), as (workspace, id): the write queue's workers lease only their jobs.
    pub fn ready(&self) -> Vec<(WorkspaceId, String)> {
        self.live
            .read()
            .values()
            .filter_map(|l| {
                let m = l.meta.read();
                (m.status == ConnectionStatus::Connected).then(|| (m.workspace, m.id.clone()))
            })
            .collect()
    }

    /// Lifts any pause of the connection's write queue and wakes the idle workers: after a
    /// reconnect or a change of its limits, its queued writes are tried at once.
    ///
    /// # Errors
    /// Database errors.
    pub async fn resume_queue(&self, workspace: WorkspaceId, id: &str) -> anyhow::Result<()> {
        self.store.resume_connection(workspace, id).await?;
        if let Some(parts) = &self.sinks {
            parts.wake_workers();
        }
        Ok(())
    }

    /// Requests sent to the orgs' REST APIs by every live connection of this process.
    pub fn round_trips(&self) -> u64 {
        self.live
            .read()
            .values()
            .map(|l| l.actions.connection().round_trips())
            .sum()
    }

    /// The live connection `id` of `workspace` whatever its status.
    pub fn get_any(&self, workspace: WorkspaceId, id: &str) -> Option<Arc<Live>> {
        self.live
            .read()
            .get(id)
            .filter(|l| l.meta.read().workspace == workspace)
            .cloned()
    }

    /// Records what the client learnt: a refused grant marks the connection `needs_reauth`
    /// (once, with an alert in the log and in the alert outbox).
    pub async fn observe(&self, live: &Live) {
        let Some(reason) = live.actions.connection().tokens().needs_reauthorization() else {
            return;
        };
        let (ws, id) = {
            let mut meta = live.meta.write();
            if meta.status != ConnectionStatus::Connected {
                return;
            }
            meta.status = ConnectionStatus::NeedsReauth;
            meta.status_reason = Some(reason.clone());
            (meta.workspace, meta.id.clone())
        };
        tracing::error!(connection = %id, workspace = %ws, %reason, "ALERT: the org refused the connection's grant; it needs to be connected again (its writes wait)");
        let entry = changes::needs_reauth(Actor::System, &id, &reason);
        if let Err(e) = self
            .store
            .set_connection_status_audited(
                ws,
                &id,
                ConnectionStatus::NeedsReauth,
                Some(&reason),
                Utc::now(),
                &entry,
            )
            .await
        {
            tracing::error!(error = %e, connection = %id, "storing needs_reauth failed");
        }
        // The admins hear of it through the alert outbox (the webhook), not only the log.
        let alert = callforce_store::NewAlert {
            kind: callforce_store::alerts::KIND_NEEDS_REAUTH.to_owned(),
            details: serde_json::json!({"connection_id": id, "reason": reason}),
        };
        if let Err(e) = self.store.record_alert(ws, &alert, Utc::now()).await {
            tracing::error!(error = %e, connection = %id, "recording the needs_reauth alert failed");
        }
    }

    /// Finishes a connect: reads the user (userinfo), makes a test call (limits), stores the
    /// connection (sealed) and makes it live. A reconnect keeps the id and the admin's limits.
    /// The store records `connection.connected` (or `.reconnected`) by `actor` with the row.
    ///
    /// # Errors
    /// The org refusing the token, or the store failing.
    pub async fn finish(
        &self,
        new: NewConnection,
        tokens: Tokens,
        actor: Actor,
    ) -> anyhow::Result<Connected> {
        use callforce_client::ExposeSecret;
        let oauth = self.app.oauth(
            &new.login_url,
            new.client_id.as_deref(),
            new.secrets.client_secret.as_deref(),
        )?;
        let user = oauth
            .userinfo(&tokens.instance_url, &tokens.access_token)
            .await
            .context("reading the connected user (userinfo)")?;
        let now = Utc::now();
        let previous = match &new.id {
            Some(id) => self.store.connection(new.workspace, id).await?,
            None => None,
        };
        let id = previous
            .as_ref()
            .map(|p| p.id.clone())
            .unwrap_or_else(new_id);
        let mut secrets = new.secrets;
        secrets.access_token = Some(tokens.access_token.expose_secret().to_owned());
        if let Some(r) = &tokens.refresh_token {
            secrets.refresh_token = Some(r.expose_secret().to_owned());
        }
        let username = new
            .jwt_username
            .clone()
            .or_else(|| user.preferred_username.clone())
            .unwrap_or_default();
        let stored = StoredConnection {
            id: id.clone(),
            workspace: new.workspace,
            name: new
                .name
                .or_else(|| previous.as_ref().map(|p| p.name.clone()))
                .unwrap_or_else(|| format!("{} ({})", username, new.environment)),
            kind: new.kind.to_owned(),
            environment: new.environment,
            login_url: new.login_url,
            client_id: new.client_id,
            instance_url: tokens.instance_url.trim_end_matches('/').to_owned(),
            org_id: user.organization_id.clone(),
            user_id: user.user_id.clone(),
            username,
            scopes: tokens.scope.clone().unwrap_or_default(),
            api_version: previous
                .as_ref()
                .map(|p| p.api_version.clone())
                .unwrap_or_else(|| ApiVersion::DEFAULT.to_string()),
            profile: new.profile,
            status: ConnectionStatus::Connected,
            status_reason: None,
            is_default: previous.as_ref().is_some_and(|p| p.is_default),
            daily_share: previous.as_ref().and_then(|p| p.daily_share),
            max_concurrent: previous.as_ref().and_then(|p| p.max_concurrent),
            secrets: secrets.seal(&self.vault, &id),
            key_version: self.vault.version(),
            created_at: previous.as_ref().map(|p| p.created_at).unwrap_or(now),
            updated_at: now,
        };
        let live = self.build(stored.clone(), secrets)?;
        // The test call: proves the token works and reads the API usage.
        live.actions
            .connection()
            .limits()
            .await
            .context("the test call (limits) failed")?;
        let usage = live.api_usage();
        let entry = changes::connected(actor, &stored, previous.is_some(), usage.as_ref());
        let stored = match previous {
            Some(_) => {
                self.store
                    .replace_connection_audited(&stored, &entry)
                    .await?
            }
            None => {
                self.store
                    .insert_connection_audited(&stored, &entry)
                    .await?
            }
        };
        *live.meta.write() = stored.clone();
        // The describes its non-blocking writes are checked against: the stored ones (a
        // reconnect), then fetched now.
        if let Err(e) = self.seed_describes(&live).await {
            tracing::warn!(connection = %id, error = %e, "reading the stored describes failed");
        }
        self.fetch_describes(&live).await;
        // Read now, so no call's action waits for it.
        live.user_zone().await;
        self.live.write().insert(id.clone(), live);
        // A reconnect: its writes that waited (needs_reauth, a pause) go now.
        self.resume_queue(stored.workspace, &id).await?;
        Ok(Connected {
            stored,
            usage,
            user,
        })
    }

    /// Connects (or reconnects) with a grant that needs no person: JWT bearer or client
    /// credentials; audited as [`Registry::finish`] says.
    ///
    /// # Errors
    /// The org refusing the grant; the store failing.
    pub async fn connect_grant(
        &self,
        new: NewConnection,
        actor: Actor,
    ) -> anyhow::Result<Connected> {
        let oauth = self.app.oauth(
            &new.login_url,
            new.client_id.as_deref(),
            new.secrets.client_secret.as_deref(),
        )?;
        let grant = match new.kind {
            "jwt" => Grant::JwtBearer {
                username: new.jwt_username.clone().unwrap_or_default(),
                key: JwtKey::from_pem(new.secrets.jwt_key_pem.as_deref().unwrap_or("").as_bytes())
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "private_key is not a PEM RSA private key (PKCS#1 or PKCS#8)"
                        )
                    })?,
                audience: None,
            },
            _ => Grant::ClientCredentials,
        };
        let tokens = oauth
            .grant(&grant)
            .await
            .context("the org refused the login")?;
        self.finish(new, tokens, actor).await
    }

    /// Reconnects a JWT or client-credentials connection with its stored secrets.
    ///
    /// # Errors
    /// As [`Registry::connect_grant`]; a web-server connection needs a person (the connect flow).
    pub async fn reconnect_grant(
        &self,
        c: &StoredConnection,
        actor: Actor,
    ) -> anyhow::Result<Connected> {
        let secrets = Secrets::open(&self.vault, c).context("opening the stored secrets")?;
        let kind: &'static str = match c.kind.as_str() {
            "jwt" => "jwt",
            "client_credentials" => "client_credentials",
            _ => anyhow::bail!("a web-server connection is reconnected through the connect flow"),
        };
        self.connect_grant(
            NewConnection {
                id: Some(c.id.clone()),
                workspace: c.workspace,
                kind,
                environment: c.environment.clone(),
                login_url: c.login_url.clone(),
                client_id: c.client_id.clone(),
                profile: APP_PROFILE.to_owned(),
                name: Some(c.name.clone()),
                jwt_username: (kind == "jwt").then(|| c.username.clone()),
                secrets: {
                    let mut s = Secrets::default();
                    s.jwt_key_pem = secrets.jwt_key_pem.clone();
                    s.client_secret = secrets.client_secret.clone();
                    s
                },
            },
            actor,
        )
        .await
    }

    /// Disconnects: revokes the token at the org (best effort: an org that cannot be reached
    /// does not keep a connection alive), forgets the secrets and marks it `disconnected`, with
    /// `connection.disconnected` by `actor` in the same transaction.
    ///
    /// # Errors
    /// [`callforce_store::Error::NotFound`] for a connection not of this workspace; database errors.
    pub async fn disconnect(
        &self,
        workspace: WorkspaceId,
        id: &str,
        actor: Actor,
    ) -> anyhow::Result<bool> {
        let Some(mut c) = self.store.connection(workspace, id).await? else {
            return Err(callforce_store::Error::NotFound.into());
        };
        let mut revoked = false;
        if let Some(live) = self.get_any(workspace, id) {
            let token = {
                let s = live.secrets.lock();
                s.refresh_token.clone().or_else(|| s.access_token.clone())
            };
            if let Some(t) = token {
                match live
                    .actions
                    .connection()
                    .tokens()
                    .oauth()
                    .revoke(&SecretString::from(t))
                    .await
                {
                    Ok(()) => revoked = true,
                    Err(e) => {
                        tracing::warn!(connection = %id, error = %e, "revoking at the org failed")
                    }
                }
            }
        }
        self.live.write().remove(id);
        c.status = ConnectionStatus::Disconnected;
        c.status_reason = Some("disconnected by an admin".into());
        c.updated_at = Utc::now();
        c.secrets = Secrets::default().seal(&self.vault, &c.id);
        c.key_version = self.vault.version();
        let entry = changes::disconnected(actor, id, revoked);
        self.store.replace_connection_audited(&c, &entry).await?;
        Ok(revoked)
    }

    /// Sets a connection's limits, name or default flag, with `config.connection.settings` by
    /// `actor` (the settings before and after) in the same transaction.
    ///
    /// # Errors
    /// [`callforce_store::Error::NotFound`]; database errors.
    pub async fn update_settings(
        &self,
        workspace: WorkspaceId,
        id: &str,
        actor: Actor,
        f: impl FnOnce(&mut StoredConnection),
    ) -> anyhow::Result<StoredConnection> {
        let Some(before) = self.store.connection(workspace, id).await? else {
            return Err(callforce_store::Error::NotFound.into());
        };
        let mut c = before.clone();
        f(&mut c);
        c.updated_at = Utc::now();
        let make_default = c.is_default;
        let entry = changes::connection_settings(actor, &before, &c);
        let saved = self.store.save_connection_audited(&c, &entry).await?;
        for l in self.live.read().values() {
            let mut m = l.meta.write();
            if m.workspace != workspace {
                continue;
            }
            if m.id == id {
                let secrets_row = (m.secrets.clone(), m.key_version);
                *m = saved.clone();
                (m.secrets, m.key_version) = secrets_row;
                drop(m);
                l.set_cap(saved.max_concurrent);
            } else if make_default {
                m.is_default = false;
            }
        }
        Ok(saved)
    }
}

/// The error for a connection that cannot be used now.
pub fn lookup_error(e: &LookupError) -> crate::error::Error {
    let (kind, code) = match e {
        LookupError::NoConnection => (crate::error::Kind::Conflict, "no_connection"),
        LookupError::Unknown(_) => (crate::error::Kind::NotFound, "unknown_connection"),
        LookupError::NeedsReauth(_) => (crate::error::Kind::Unavailable, "needs_reauth"),
        LookupError::Disconnected(_) => (crate::error::Kind::Conflict, "disconnected"),
    };
    crate::error::Error::new(kind, code, e.to_string())
}
