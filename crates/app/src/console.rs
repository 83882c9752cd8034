//! The admin console's operations: signing in with an API key of a workspace (a session kept in
//! the store, so any instance serves it), the session a browser's cookie opens, signing out, and
//! what the pages show. The pages themselves are the web front door's.
//!
//! The console reaches the same operations the API asks ([`Console::connections`],
//! [`Console::keys`], [`Console::admin`]), so a change made in a page follows the API's rules
//! and is audited with the session's key as its actor.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use crate::admin::Admin;
use crate::caller::Caller;
use crate::calls::App;
use crate::connections::{Connections, Keys};
use crate::error::{Error, Kind};

/// How long a console session lasts after signing in.
pub const SESSION_TTL: TimeDelta = TimeDelta::hours(8);

/// How long a one-time sign-in link (`callforce console-link`) may be used.
pub const LINK_TTL: TimeDelta = TimeDelta::minutes(15);

/// The name of a workspace's API key that sign-in links sign in as: the actor of what their
/// sessions change, and the key to revoke to end them all.
pub const LINK_KEY_NAME: &str = "console sign-in links";

/// Makes a one-time sign-in link's token for `workspace` at `now`, valid [`LINK_TTL`]. Its
/// session acts as the workspace's key named [`LINK_KEY_NAME`], created the first time (and
/// audited with `actor`).
///
/// # Errors
/// The store failed.
pub async fn make_sign_in_link(
    store: &callforce_store::Store,
    workspace: callforce_store::WorkspaceId,
    actor: crate::changes::Actor,
    now: DateTime<Utc>,
) -> Result<String, callforce_store::Error> {
    let existing = store
        .list_api_keys(workspace)
        .await?
        .into_iter()
        .find(|k| k.name == LINK_KEY_NAME && k.revoked_at.is_none());
    let key = match existing {
        Some(k) => k.id,
        None => {
            store
                .create_api_key_audited(workspace, LINK_KEY_NAME, now, |k| {
                    crate::changes::key_create(actor, k)
                })
                .await?
                .key
                .id
        }
    };
    let token = crate::token::random_hex(32);
    store
        .create_console_link(&token, workspace, key, now, now + LINK_TTL)
        .await?;
    Ok(token)
}

/// A new session: the token for the browser's cookie and the CSRF token its forms carry.
pub struct SignedIn {
    /// The session token (the cookie's value; stored only hashed).
    pub token: String,
    /// The token every form of the session must carry.
    pub csrf: String,
    /// When the session ends.
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A valid session: whose it is and the CSRF token its forms must carry.
#[derive(Debug, Clone)]
pub struct Session {
    /// The signed-in workspace and key.
    pub caller: Caller,
    /// The token every form of the session must carry.
    pub csrf: String,
}

/// One connection as the overview lists it.
#[derive(Debug, Clone)]
pub struct ConnectionRow {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `embedded`, `production`, `sandbox` or `custom`.
    pub environment: String,
    /// `connected`, `needs_reauth` or `disconnected`.
    pub status: String,
    /// The org user it acts as.
    pub username: String,
    /// Whether calls run on it unless they name another.
    pub default: bool,
    /// The org's API requests used today and its daily allowance, as it last reported them.
    pub api_usage: Option<(u64, u64)>,
}

/// What the overview page shows of a workspace.
#[derive(Debug, Clone)]
pub struct Overview {
    /// Calls open now (on this instance).
    pub open_calls: usize,
    /// Non-blocking writes waiting in the queue or being sent.
    pub queued_writes: u64,
    /// Writes that failed for good and wait for an admin.
    pub open_dead_letters: u64,
    /// The workspace's connections.
    pub connections: Vec<ConnectionRow>,
    /// The last hour's tool calls as a whole: how many, errors, p50/p95 latency.
    pub last_hour: callforce_store::ActivityBucket,
    /// The last hour's tool calls in 60 buckets, oldest first.
    pub per_minute: Vec<callforce_store::ActivityBucket>,
}

/// The console's operations over the application.
pub struct Console {
    app: Arc<App>,
    connections: Arc<Connections>,
    admin: Admin,
}

fn store_failed(e: &callforce_store::Error) -> Error {
    tracing::error!(error = %e, "the console: the store failed");
    Error::internal()
}

impl Console {
    /// The console over `app`, asking `connections` for the connections and API keys (the
    /// same operations the API asks).
    pub fn new(app: Arc<App>, connections: Arc<Connections>) -> Self {
        let admin = Admin::new(app.store().clone());
        Self {
            app,
            connections,
            admin,
        }
    }

    /// The workspaces' connections and the connect flow.
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// The workspaces' API keys.
    pub fn keys(&self) -> &Keys {
        self.connections.keys()
    }

    /// Dead letters and queued jobs.
    pub fn admin(&self) -> &Admin {
        &self.admin
    }

    /// The operations log: the calls and what each did.
    pub fn operations(&self) -> &crate::operations::Operations {
        self.app.operations()
    }

    /// The workspaces' agents and custom actions (the operations `/v1/agents` and
    /// `/v1/actions` ask).
    pub fn workspaces(&self) -> &crate::workspaces::Workspaces {
        self.app.workspaces()
    }

    /// The tools a model of `agent` sees on the workspace's default connection: what
    /// `/v1/tools?agent=` answers.
    ///
    /// # Errors
    /// No such agent (404), the store failed.
    pub async fn tools(
        &self,
        caller: &Caller,
        agent: &str,
    ) -> Result<Vec<callforce_actions::Tool>, Error> {
        self.app.tool_definitions(caller, Some(agent), None).await
    }

    /// Tries a custom action with sample arguments ([`crate::tryit`]).
    ///
    /// # Errors
    /// As [`App::try_action`].
    pub async fn try_action(
        &self,
        caller: &Caller,
        t: crate::tryit::TryIt,
    ) -> Result<crate::tryit::Tried, Error> {
        self.app.try_action(caller, t).await
    }

    /// The workspaces' intent maps: read, check, store and activate, re-check.
    pub fn intents(&self) -> &crate::intents::Intents {
        self.app.intents()
    }

    /// Signs in with `key` (an API key of a workspace, or the one from `CALLFORCE_API_KEY`): a
    /// new session of that workspace, lasting [`SESSION_TTL`].
    ///
    /// # Errors
    /// A key that opens nothing (`unauthorized`), the store failed.
    pub async fn sign_in(&self, key: &str, now: DateTime<Utc>) -> Result<SignedIn, Error> {
        let Some(caller) = self.app.caller(key.trim()).await else {
            return Err(Error::new(
                Kind::Unauthorized,
                "unauthorized",
                "that API key is not valid: paste a key of your workspace (printed by 'callforce serve' at its first start, or made with 'callforce workspace new-key')",
            ));
        };
        self.open_session(caller, now).await
    }

    /// Signs in with the one-time link `link` ([`make_sign_in_link`]): a new session of its
    /// workspace, as its key. The link is spent whatever the answer.
    ///
    /// # Errors
    /// A link used already, expired, unknown or whose key was revoked (`unauthorized`), the
    /// store failed.
    pub async fn sign_in_with_link(
        &self,
        link: &str,
        now: DateTime<Utc>,
    ) -> Result<SignedIn, Error> {
        let store = self.app.store();
        let Some((workspace, key)) = store
            .take_console_link(link.trim(), now)
            .await
            .map_err(|e| store_failed(&e))?
        else {
            return Err(Error::new(
                Kind::Unauthorized,
                "unauthorized",
                "that sign-in link was used already or has expired: run 'callforce console-link' for a new one, or sign in with an API key",
            ));
        };
        self.open_session(
            Caller {
                workspace,
                key: Some(key),
            },
            now,
        )
        .await
    }

    /// A new session of `caller`, lasting [`SESSION_TTL`].
    async fn open_session(&self, caller: Caller, now: DateTime<Utc>) -> Result<SignedIn, Error> {
        let signed = SignedIn {
            token: crate::token::random_hex(32),
            csrf: crate::token::random_hex(16),
            expires_at: now + SESSION_TTL,
        };
        let session = callforce_store::ConsoleSession {
            workspace: caller.workspace,
            key: caller.key,
            csrf: signed.csrf.clone(),
            expires_at: signed.expires_at,
        };
        self.app
            .store()
            .create_console_session(&signed.token, &session, now)
            .await
            .map_err(|e| store_failed(&e))?;
        Ok(signed)
    }

    /// The session `token` opens at `now`, if any (expired, ended, or its key revoked: none).
    ///
    /// # Errors
    /// The store failed.
    pub async fn session(&self, token: &str, now: DateTime<Utc>) -> Result<Option<Session>, Error> {
        let found = self
            .app
            .store()
            .console_session(token, now)
            .await
            .map_err(|e| store_failed(&e))?;
        Ok(found.map(|s| Session {
            caller: Caller {
                workspace: s.workspace,
                key: s.key,
            },
            csrf: s.csrf,
        }))
    }

    /// Ends the session `token`.
    ///
    /// # Errors
    /// The store failed.
    pub async fn sign_out(&self, token: &str) -> Result<(), Error> {
        self.app
            .store()
            .end_console_session(token)
            .await
            .map_err(|e| store_failed(&e))
    }

    /// What the overview shows of `caller`'s workspace.
    ///
    /// # Errors
    /// The store failed.
    pub async fn overview(&self, caller: &Caller) -> Result<Overview, Error> {
        let store = self.app.store();
        let (jobs, open_dead_letters) = store
            .count_jobs_in(caller.workspace)
            .await
            .map_err(|e| store_failed(&e))?;
        let connections = store
            .list_connections(caller.workspace)
            .await
            .map_err(|e| store_failed(&e))?
            .into_iter()
            .map(|c| ConnectionRow {
                api_usage: self
                    .app
                    .registry()
                    .get_any(c.workspace, &c.id)
                    .and_then(|l| l.api_usage())
                    .map(|u| (u.used, u.max)),
                id: c.id,
                name: c.name,
                environment: c.environment,
                status: c.status.as_str().to_owned(),
                username: c.username,
                default: c.is_default,
            })
            .collect();
        let hour_ago = Utc::now() - TimeDelta::hours(1);
        let operations = self.app.operations();
        let last_hour = operations.summary(caller, hour_ago).await?;
        let per_minute = operations.activity(caller, hour_ago).await?;
        Ok(Overview {
            last_hour,
            per_minute,
            open_calls: self.app.open_calls_in(caller.workspace),
            queued_writes: jobs.queued + jobs.leased,
            open_dead_letters,
            connections,
        })
    }
}
