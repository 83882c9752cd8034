//! Calls: the tools a caller may offer a model, call sessions keyed by workspace and call id,
//! and running an action inside a call on one of the workspace's connections.
//!
//! Call sessions live in memory and expire after [`CallSettings::idle_timeout`] without a
//! request ([`App::sweep`], run by a background task); starting one warms the org connection in
//! the background.
//!
//! A call runs on one of the workspace's connections ([`crate::registry`]): the one named when
//! it started, else the workspace's default. An action needing a scope the connection was not
//! granted is refused before any request (`missing_scope`, naming the profile to pick), and a
//! read beyond the connection's limits is refused (`limit_reached`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use callforce_actions::{
    Action, ActionError, Agent, CallSession, CallVars, CallerContext, Catalog, Clock, Effect,
    ErrorCode, Scope, Tool, Who,
};
use callforce_store::WorkspaceId;

use parking_lot::Mutex;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tracing::Instrument as _;

use crate::caller::Caller;
use crate::error::{Error, Kind};
use crate::registry::{LookupError, lookup_error};

/// How long a call's start waits for the caller lookup when its agent does not say.
pub const DEFAULT_CONTEXT_DEADLINE_MS: u64 = 800;

/// How call sessions behave.
#[derive(Clone)]
pub struct CallSettings {
    /// A call without a request for this long is ended (15 minutes by default).
    pub idle_timeout: Duration,
    /// The clock idle times are measured with (the system clock by default).
    pub clock: Clock,
}

impl std::fmt::Debug for CallSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallSettings")
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for CallSettings {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(15 * 60),
            clock: Arc::new(chrono::Utc::now),
        }
    }
}

/// One open call and when it was last used.
struct OpenCall {
    session: SharedCall,
    /// The last request's time, Unix milliseconds.
    last_active: AtomicI64,
    /// Where the lookup of the caller stands.
    lookup: tokio::sync::watch::Sender<CallerLookup>,
}

/// Where the lookup of an open call's caller stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum CallerLookup {
    /// The call named no caller, or its agent turned the lookup off.
    #[default]
    NotAsked,
    /// Still running: the call started when its deadline passed.
    Pending,
    /// What was found (someone, several, or no one).
    Ready(Arc<CallerContext>),
    /// The org failed; the call goes on without it.
    Failed(String),
}

impl CallerLookup {
    /// The lookup as the API shows it: `{"status", "context"?, "summary"?, "error"?}`, where
    /// `status` is `not_asked`, `pending`, `failed` or the context's own (`found`,
    /// `ambiguous`, `not_found`).
    pub fn to_json(&self) -> Value {
        match self {
            Self::NotAsked => json!({"status": "not_asked"}),
            Self::Pending => json!({"status": "pending"}),
            Self::Failed(e) => json!({"status": "failed", "error": e}),
            Self::Ready(c) => json!({"status": c.status, "summary": c.summary, "context": c}),
        }
    }
}

/// The application: the workspaces' connections, the open calls, the keys it accepts.
pub struct App {
    registry: Arc<crate::registry::Registry>,
    /// The connection a call was started on, when it named one (else the default's).
    call_connections: Mutex<HashMap<(WorkspaceId, String), String>>,
    /// The intent maps of each workspace and the `record_intent` tool.
    intents: crate::intents::Intents,
    /// Open calls by workspace and call id: a call id opens nothing in another workspace.
    calls: Mutex<HashMap<(WorkspaceId, String), Arc<OpenCall>>>,
    settings: CallSettings,
    workspaces: crate::workspaces::Workspaces,
    metrics: crate::metrics::Metrics,
    /// When the connection was last warmed (Unix ms), so bursts of calls warm it once.
    last_warm: AtomicI64,
    /// The hash of the key from `CALLFORCE_API_KEY`, if one was given.
    env_key_hash: Option<[u8; 32]>,
    /// The workspace the `CALLFORCE_API_KEY` key opens.
    default_workspace: WorkspaceId,
    /// Keys created in the store (hashed there).
    store: callforce_store::Store,
    /// Where finished actions go (set when the log's writer is started).
    operations_log: std::sync::OnceLock<Arc<crate::operations::OperationsLog>>,
    /// The operations log as the console reads it.
    operations: crate::operations::Operations,
}

/// An open call, shared by the requests that run actions in it (one at a time).
pub type SharedCall = Arc<tokio::sync::Mutex<CallSession>>;

/// Why a call could not be started or found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// A call with this id is already open in the workspace.
    #[error("call '{0}' is already open")]
    Exists(String),
    /// No call with this id is open in the workspace.
    #[error("no open call '{0}'")]
    Unknown(String),
}

impl App {
    /// An API over the connections of `registry`, accepting the keys of `store`, and `env_key`
    /// if given (which opens `default_workspace`); each workspace's intent map is checked
    /// against the org of each connection its calls run on.
    pub fn new(
        registry: Arc<crate::registry::Registry>,
        store: callforce_store::Store,
        env_key: Option<&str>,
        default_workspace: WorkspaceId,
    ) -> Self {
        let workspaces =
            crate::workspaces::Workspaces::new(registry.catalog().clone(), store.clone());
        let settings = CallSettings::default();
        Self {
            operations_log: std::sync::OnceLock::new(),
            operations: crate::operations::Operations::new(store.clone(), settings.clock.clone()),
            intents: crate::intents::Intents::new(store.clone(), registry.clone()),
            registry,
            call_connections: Mutex::new(HashMap::new()),
            calls: Mutex::new(HashMap::new()),
            settings,
            workspaces,
            metrics: crate::metrics::Metrics::new(),
            last_warm: AtomicI64::new(i64::MIN),
            env_key_hash: env_key.map(|k| Sha256::digest(k.as_bytes()).into()),
            default_workspace,
            store,
        }
    }

    /// The intent maps.
    pub fn intents(&self) -> &crate::intents::Intents {
        &self.intents
    }

    /// Requests sent to the orgs' REST APIs by every connection of this process.
    pub fn round_trips(&self) -> u64 {
        self.registry.round_trips()
    }

    /// The default workspace's default org connection, if it is usable (the org-wide gauges).
    pub fn default_connection(&self) -> Option<callforce_client::Connection> {
        self.registry
            .get(self.default_workspace, None)
            .ok()
            .map(|l| l.actions.connection().clone())
    }

    /// The action catalog.
    pub fn catalog(&self) -> &Catalog {
        self.registry.catalog()
    }

    /// The org connection of `caller`'s workspace (its default one).
    ///
    /// # Errors
    /// A [`crate::registry::LookupError`] saying what to do.
    pub fn connection(
        &self,
        caller: &Caller,
    ) -> Result<callforce_client::Connection, crate::registry::LookupError> {
        self.registry
            .get(caller.workspace, None)
            .map(|l| l.actions.connection().clone())
    }

    /// Sets how call sessions behave.
    pub fn with_call_settings(mut self, settings: CallSettings) -> Self {
        self.operations =
            crate::operations::Operations::new(self.store.clone(), settings.clock.clone());
        self.settings = settings;
        self
    }

    /// The operations log as the console reads it.
    pub fn operations(&self) -> &crate::operations::Operations {
        &self.operations
    }

    /// Starts recording every action run in a call: the log's writer (stop it with
    /// [`crate::operations::Writer::flush_and_stop`], which writes what it holds first) and its
    /// retention sweep (abort it to stop). Started a second time, it only starts another sweep.
    pub fn spawn_operations_log(
        &self,
        settings: &crate::operations::OperationsSettings,
    ) -> (
        Option<crate::operations::Writer>,
        tokio::task::JoinHandle<()>,
    ) {
        let dropped = self.metrics.operations_dropped.clone();
        let (log, rx) = crate::operations::OperationsLog::new(settings.capacity, dropped.clone());
        let writer = self
            .operations_log
            .set(Arc::new(log))
            .is_ok()
            .then(|| self.operations.spawn_writer(rx, settings.clone(), dropped));
        (writer, self.operations.spawn_retention(settings.clone()))
    }

    /// The store.
    pub fn store(&self) -> &callforce_store::Store {
        &self.store
    }

    /// The workspaces' catalogs and agents.
    pub fn workspaces(&self) -> &crate::workspaces::Workspaces {
        &self.workspaces
    }

    /// The service's metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// The metrics in Prometheus text format, with the write queue's jobs read from the store
    /// (when it cannot be read, the other metrics still answer and the queue's keep their last
    /// values).
    pub async fn render_metrics(&self) -> String {
        let queue = match self.store.count_jobs().await {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!(error = %e, "reading the queue's job counts failed");
                None
            }
        };
        let gauges = crate::metrics::Gauges {
            open_calls: self.open_calls(),
            round_trips: self.round_trips(),
            api_usage: self.default_connection().and_then(|c| c.api_usage()),
        };
        self.metrics.render(&gauges, queue)
    }

    /// The workspaces' live connections.
    pub fn registry(&self) -> &Arc<crate::registry::Registry> {
        &self.registry
    }

    /// Whether the default workspace's org answers now, and what to say about it: `{"status":
    /// "ok", "org": {instance_url, api_usage}}`, or `{"status": "unavailable", "org": {...,
    /// error}}` with `false`.
    pub async fn health(&self) -> (bool, Value) {
        let live = match self.registry.get(self.default_workspace, None) {
            Ok(l) => l,
            Err(e) => {
                return (
                    false,
                    json!({"status": "unavailable", "org": {"error": e.to_string()}}),
                );
            }
        };
        let conn = live.actions.connection().clone();
        let instance_url = conn.instance_url();
        match conn.warm().await {
            Ok(()) => {
                let usage = conn
                    .api_usage()
                    .map(|u| json!({"used": u.used, "max": u.max}));
                (
                    true,
                    json!({"status": "ok", "org": {"instance_url": instance_url, "api_usage": usage}}),
                )
            }
            Err(e) => {
                tracing::warn!(error = %e, "health check: the org does not answer");
                (
                    false,
                    json!({"status": "unavailable", "org": {"instance_url": instance_url, "error": e.to_string()}}),
                )
            }
        }
    }

    /// The number of calls open in `workspace`.
    pub fn open_calls_in(&self, workspace: WorkspaceId) -> usize {
        self.calls
            .lock()
            .keys()
            .filter(|(ws, _)| *ws == workspace)
            .count()
    }

    /// The number of open calls.
    pub fn open_calls(&self) -> usize {
        self.calls.lock().len()
    }

    fn now_ms(&self) -> i64 {
        (self.settings.clock)().timestamp_millis()
    }

    fn idle(&self, call: &OpenCall, now: i64) -> bool {
        let idle = i64::try_from(self.settings.idle_timeout.as_millis()).unwrap_or(i64::MAX);
        now.saturating_sub(call.last_active.load(Ordering::Relaxed)) > idle
    }

    /// Ends every call idle for longer than the idle timeout; returns how many.
    pub fn sweep(&self) -> usize {
        let now = self.now_ms();
        let mut calls = self.calls.lock();
        let before = calls.len();
        calls.retain(|_, c| !self.idle(c, now));
        let ended = before - calls.len();
        if ended > 0 {
            tracing::info!(ended, "idle calls ended");
        }
        ended
    }

    /// Loads every stored active intent map at once, then polls them every `every` (or at once
    /// when a write met a schema error) until the task is aborted ([`Intents::run_poller`]).
    ///
    /// [`Intents::run_poller`]: crate::intents::Intents::run_poller
    pub fn spawn_intents_poller(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let app = self.clone();
        tokio::spawn(async move { app.intents().run_poller(every).await })
    }

    /// Runs [`App::sweep`] every `every` until the API is dropped.
    pub fn spawn_sweeper(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let api = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(api) = api.upgrade() else { break };
                api.sweep();
            }
        })
    }

    /// The workspace view and the agent (`None`: no agent) of `caller`.
    ///
    /// # Errors
    /// No such agent in the workspace (404), the store failed (500).
    async fn scope(
        &self,
        caller: &Caller,
        agent: Option<&str>,
    ) -> Result<(Arc<crate::workspaces::WorkspaceView>, Option<Agent>), Error> {
        let view = self.workspaces.view(caller.workspace).await.map_err(|e| {
            tracing::error!(error = %e, "reading the workspace's agents failed");
            Error::internal()
        })?;
        let agent = match agent {
            None => None,
            Some(name) => Some(
                view.agents
                    .get(name)
                    .cloned()
                    .ok_or_else(|| crate::workspaces::no_agent(name))?,
            ),
        };
        Ok((view, agent))
    }

    /// The actions `caller` may offer a model, for `agent` when given: what `/v1/tools` and
    /// MCP's `tools/list` both show, in catalog order (the workspace's custom actions included).
    ///
    /// # Errors
    /// No such agent in the workspace (404), the store failed (500).
    pub async fn tools(&self, caller: &Caller, agent: Option<&str>) -> Result<Vec<Action>, Error> {
        let (view, agent) = self.scope(caller, agent).await?;
        let agent = agent.unwrap_or_default();
        Ok(view
            .catalog
            .actions()
            .iter()
            .filter(|a| agent.enabled(a.name()))
            .cloned()
            .collect())
    }

    /// The function-calling tools of `caller`'s workspace or of one of its agents, with a
    /// `confirmation_token` parameter on the actions that need confirmation, for a call on
    /// `connection` (`None`: the workspace's default): `record_intent` when the workspace's
    /// intent map passes its check against that connection's org.
    ///
    /// # Errors
    /// No such agent or connection in the workspace (404), a named connection that cannot be
    /// used now, the store failed (500).
    pub async fn tool_definitions(
        &self,
        caller: &Caller,
        agent: Option<&str>,
        connection: Option<&str>,
    ) -> Result<Vec<Tool>, Error> {
        if let Some(id) = connection
            && let Err(e) = self.registry.get(caller.workspace, Some(id))
        {
            return Err(lookup_error(&e));
        }
        let (view, agent) = self.scope(caller, agent).await?;
        let mut tools = agent.unwrap_or_default().tools(&view.catalog);
        // The workspace's intents, when its map is active on the call's connection.
        tools.extend(self.intents.tool(caller.workspace, connection).await);
        Ok(tools)
    }

    fn open(&self, vars: CallVars) -> Arc<OpenCall> {
        Arc::new(OpenCall {
            session: Arc::new(tokio::sync::Mutex::new(CallSession::new(vars))),
            last_active: AtomicI64::new(self.now_ms()),
            lookup: tokio::sync::watch::Sender::new(CallerLookup::NotAsked),
        })
    }

    /// Warms the org connection in the background, so the call's first action does not pay
    /// for the connection set-up.
    fn warm(&self, workspace: WorkspaceId) {
        // A pooled connection used in the last 30 s is still open: no need to warm it again.
        let now = self.now_ms();
        let last = self.last_warm.load(Ordering::Relaxed);
        if now.saturating_sub(last) < 30_000
            || self
                .last_warm
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        // NB: warming must not delay the answer; a failure shows on the first action anyway.
        let Ok(live) = self.registry.get(workspace, None) else {
            return;
        };
        let conn = live.actions.connection().clone();
        tokio::spawn(async move {
            if let Err(e) = conn.warm().await {
                tracing::debug!(error = %e, "warming the org connection failed");
            }
            // Read once per connection, before the call's first action needs it.
            live.user_zone().await;
        });
    }

    /// Starts a call in `caller`'s workspace; an empty `vars.call_id` gets a fresh id. Returns
    /// the call id. The org connection is warmed in the background.
    ///
    /// # Errors
    /// [`CallError::Exists`] when the id is already open in the workspace.
    pub fn start_call(&self, caller: &Caller, mut vars: CallVars) -> Result<String, CallError> {
        if vars.call_id.trim().is_empty() {
            vars.call_id = new_call_id();
        }
        let id = vars.call_id.clone();
        {
            let now = self.now_ms();
            let mut calls = self.calls.lock();
            let key = (caller.workspace, id.clone());
            if calls.get(&key).is_some_and(|c| !self.idle(c, now)) {
                return Err(CallError::Exists(id));
            }
            calls.insert(key, self.open(vars));
        }
        self.warm(caller.workspace);
        Ok(id)
    }

    /// Starts a call in `caller`'s workspace on `connection` (`None`: the workspace's default),
    /// which must be usable now; an empty `vars.call_id` gets a fresh id. Returns the call id
    /// and the connection's id. A call that named its connection keeps it.
    ///
    /// # Errors
    /// A `time_zone` that is not an IANA name (400, saying how to fix it); the connection
    /// cannot be used ([`lookup_error`]); the id is already open (409 `call_exists`).
    pub fn start_call_on(
        &self,
        caller: &Caller,
        mut vars: CallVars,
        connection: Option<&str>,
    ) -> Result<(String, String), Error> {
        if let Some(name) = &vars.time_zone {
            let zone = callforce_actions::zone::parse("time_zone", name).map_err(|e| {
                let mut err = Error::refused(e);
                err.kind = Kind::Invalid;
                err
            })?;
            vars.time_zone = Some(zone.name().to_owned());
        }
        let id = self
            .registry
            .get(caller.workspace, connection)
            .map_err(|e| lookup_error(&e))?
            .id();
        let call_id = self
            .start_call(caller, vars)
            .map_err(|e| Error::new(Kind::Conflict, "call_exists", e.to_string()))?;
        if connection.is_some() {
            self.call_connections
                .lock()
                .insert((caller.workspace, call_id.clone()), id.clone());
        }
        Ok((call_id, id))
    }

    /// The open call `id` of `caller`'s workspace, or a new one started with `vars` (whose
    /// `call_id` is `id`): for transports where the first action starts the call (MCP). Says
    /// whether it was started now.
    pub fn call_or_start(&self, caller: &Caller, vars: CallVars) -> (SharedCall, bool) {
        let now = self.now_ms();
        let key = (caller.workspace, vars.call_id.clone());
        let mut calls = self.calls.lock();
        if let Some(c) = calls.get(&key).filter(|c| !self.idle(c, now)) {
            c.last_active.store(now, Ordering::Relaxed);
            return (c.session.clone(), false);
        }
        let c = self.open(vars);
        let session = c.session.clone();
        calls.insert(key, c);
        drop(calls);
        self.warm(caller.workspace);
        (session, true)
    }

    /// Looks up the caller of the open call `id` as its agent says (`caller_context`), waiting
    /// at most the agent's `context_deadline_ms` (800 ms by default). When the deadline passes
    /// the lookup goes on in the background and this answers [`CallerLookup::Pending`]; once it
    /// is done, the caller's record is the call's `{{caller}}` and a search for the caller's
    /// phone is answered from it. The lookup is recorded in the call's operations log as
    /// `caller_context`.
    pub async fn look_up_caller(&self, caller: &Caller, id: &str, who: Who) -> CallerLookup {
        let Some(open) = self
            .calls
            .lock()
            .get(&(caller.workspace, id.to_owned()))
            .cloned()
        else {
            return CallerLookup::NotAsked;
        };
        let agent_name = open.session.lock().await.vars.agent.clone();
        let view = match self.workspaces.view(caller.workspace).await {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "reading the workspace's agents failed");
                return CallerLookup::Failed("the service could not read its settings".into());
            }
        };
        let agent = agent_name.as_deref().and_then(|a| view.agents.get(a));
        let spec = agent
            .and_then(|a| a.caller_context.clone())
            .unwrap_or_default();
        if !spec.enabled {
            return CallerLookup::NotAsked;
        }
        let deadline = Duration::from_millis(
            agent
                .and_then(|a| a.context_deadline_ms)
                .unwrap_or(DEFAULT_CONTEXT_DEADLINE_MS),
        );
        let bound = self
            .call_connections
            .lock()
            .get(&(caller.workspace, id.to_owned()))
            .cloned();
        let live = match self.registry.get(caller.workspace, bound.as_deref()) {
            Ok(live) => live,
            Err(e) => {
                let e = lookup_action_error(&e).message.to_string();
                open.lookup.send_replace(CallerLookup::Failed(e.clone()));
                return CallerLookup::Failed(e);
            }
        };
        open.lookup.send_replace(CallerLookup::Pending);
        let registry = self.registry.clone();
        let log = self.operations_log.get().cloned();
        let clock = self.settings.clock.clone();
        let workspace = caller.workspace;
        let task = tokio::spawn(
            async move {
                let started_at = clock();
                let started = std::time::Instant::now();
                let conn = live.actions.connection();
                let (r, round_trips) = callforce_client::count_round_trips(
                    callforce_actions::context::look_up(conn, &who, &spec, &view.catalog),
                )
                .await;
                registry.observe(&live).await;
                // What the operations log keeps of it: the outcome, not the records.
                let answer = r
                    .as_ref()
                    .map(|c| json!({"status": c.status, "summary": c.summary}))
                    .map_err(Clone::clone);
                let state = match r {
                    Ok(c) => CallerLookup::Ready(Arc::new(c)),
                    Err(e) => {
                        tracing::warn!(error = %e.message, "looking the caller up failed");
                        CallerLookup::Failed(e.message.to_string())
                    }
                };
                {
                    let mut session = open.session.lock().await;
                    if let CallerLookup::Ready(c) = &state {
                        session.set_caller_context(c.clone());
                    }
                    if let Some(log) = log {
                        log.record(
                            workspace,
                            &session,
                            Some(live.id()),
                            callforce_store::CALLER_LOOKUP,
                            serde_json::to_value(&who).unwrap_or_default(),
                            &answer,
                            started_at,
                            started.elapsed(),
                            round_trips,
                        );
                    }
                }
                open.lookup.send_replace(state.clone());
                state
            }
            .instrument(tracing::info_span!(
                target: callforce_client::telemetry::TARGET,
                "caller_lookup",
                call_id = %id,
            )),
        );
        match tokio::time::timeout(deadline, task).await {
            Ok(Ok(state)) => state,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "the caller lookup stopped");
                CallerLookup::Failed("the lookup stopped".into())
            }
            Err(_) => CallerLookup::Pending,
        }
    }

    /// Where the lookup of the caller of the open call `id` stands.
    ///
    /// # Errors
    /// [`CallError::Unknown`] when no such call is open.
    pub fn caller_lookup(&self, caller: &Caller, id: &str) -> Result<CallerLookup, CallError> {
        let now = self.now_ms();
        match self.calls.lock().get(&(caller.workspace, id.to_owned())) {
            Some(c) if !self.idle(c, now) => Ok(c.lookup.borrow().clone()),
            _ => Err(CallError::Unknown(id.to_owned())),
        }
    }

    /// Checks that `connection` of `caller`'s workspace exists and can be used now.
    ///
    /// # Errors
    /// Unknown (404), needing authorisation again (503), disconnected (409).
    pub fn check_connection(&self, caller: &Caller, connection: &str) -> Result<(), Error> {
        self.registry
            .get(caller.workspace, Some(connection))
            .map(|_| ())
            .map_err(|e| lookup_error(&e))
    }

    /// Runs the call `id` of `caller`'s workspace on `connection`, for transports where the
    /// first action starts the call (MCP): a call that is not open yet is bound to it; an open
    /// call keeps the connection it started on, so naming another one is refused.
    ///
    /// # Errors
    /// As [`App::check_connection`]; a call open on another connection (409).
    pub fn bind_connection(
        &self,
        caller: &Caller,
        id: &str,
        connection: &str,
    ) -> Result<(), Error> {
        self.check_connection(caller, connection)?;
        let key = (caller.workspace, id.to_owned());
        let now = self.now_ms();
        let open = self
            .calls
            .lock()
            .get(&key)
            .is_some_and(|c| !self.idle(c, now));
        let mut bound = self.call_connections.lock();
        let current = match bound.get(&key) {
            Some(c) if open => c.clone(),
            // An open call bound to nothing runs on the workspace's default connection.
            None if open => self
                .registry
                .get(caller.workspace, None)
                .map(|l| l.id())
                .unwrap_or_default(),
            _ => {
                bound.insert(key, connection.to_owned());
                return Ok(());
            }
        };
        if current == connection {
            Ok(())
        } else {
            Err(Error::new(
                Kind::Conflict,
                "connection_mismatch",
                format!(
                    "call '{id}' runs on connection '{current}'; a call keeps the connection it \
                     started on (start another call to use '{connection}')"
                ),
            ))
        }
    }

    /// The open call `id` of `caller`'s workspace; using it counts as activity.
    ///
    /// # Errors
    /// [`CallError::Unknown`] when no such call is open (or it was idle too long).
    pub fn call(&self, caller: &Caller, id: &str) -> Result<SharedCall, CallError> {
        let now = self.now_ms();
        let calls = self.calls.lock();
        match calls.get(&(caller.workspace, id.to_owned())) {
            Some(c) if !self.idle(c, now) => {
                c.last_active.store(now, Ordering::Relaxed);
                Ok(c.session.clone())
            }
            _ => Err(CallError::Unknown(id.to_owned())),
        }
    }

    /// Runs action `name` with `arguments` inside `call` for `caller`, in the workspace's
    /// catalog and with the policy of the call's agent (when the workspace defines it): the
    /// result is remembered in the call, so later templates can use it. `key` is the
    /// idempotency key the caller chose for the action's write (checked already with
    /// [`callforce_actions::idempotency::check_caller_key`]): it stands in for the call
    /// instance in the write's key, so the same action with the same arguments under the same
    /// key is one write in any call of the workspace.
    ///
    /// # Errors
    /// An [`ActionError`] a model can act on.
    pub async fn run_action(
        &self,
        caller: &Caller,
        call: &mut CallSession,
        name: &str,
        arguments: Value,
        key: Option<String>,
    ) -> Result<Value, ActionError> {
        call.set_caller_key(key);
        let log = self.operations_log.get();
        // NB: only the cheap part runs here (a clone, a try_send): the log never waits on the
        // database (see crate::operations).
        let recorded = log.map(|_| arguments.clone());
        let started_at = (self.settings.clock)();
        let started = std::time::Instant::now();
        let mut connection = None;
        // NB: the action's name is recorded once it is known to be one of the catalog's (an
        // unknown name is the caller's text); its arguments and answer never are.
        let span = tracing::info_span!(
            target: callforce_client::telemetry::TARGET,
            "tool_call",
            action = tracing::field::Empty,
            call_id = %call.vars.call_id,
            agent = call.vars.agent.as_deref().unwrap_or_default(),
            outcome = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let (r, round_trips) = callforce_client::count_round_trips(
            self.run_in_call(caller, call, name, arguments, &mut connection)
                .instrument(span.clone()),
        )
        .await;
        if !span.is_disabled() {
            let outcome = crate::operations::outcome(&r);
            let action = if outcome == "unknown_action" {
                "unknown"
            } else {
                name
            };
            span.record("action", action);
            span.record("outcome", outcome);
            if matches!(outcome, "salesforce" | "unavailable") {
                span.record("otel.status_code", "error");
            }
        }
        drop(span);
        call.set_caller_key(None);
        if let (Some(log), Some(arguments)) = (log, recorded) {
            log.record(
                caller.workspace,
                call,
                connection,
                name,
                arguments,
                &r,
                started_at,
                started.elapsed(),
                round_trips,
            );
        }
        r
    }

    /// Runs action `name` in the shared `call` like [`App::run_action`], as a request that may
    /// go away: a read stops when `cancelled` completes (or when this future is dropped); a
    /// write runs to its end in a task of its own, whatever happens to the request, so its
    /// answer is recorded in the call and in the duplicate window, and the request sent again
    /// gets it instead of writing again.
    ///
    /// # Errors
    /// As [`App::run_action`]; `unavailable` for a read that was cancelled.
    pub async fn run_in_shared_call(
        self: &Arc<Self>,
        caller: &Caller,
        call: SharedCall,
        name: &str,
        arguments: Value,
        key: Option<String>,
        cancelled: impl std::future::Future<Output = ()> + Send,
    ) -> Result<Value, ActionError> {
        if self.reads_only(caller, name).await {
            let mut session = call.lock().await;
            return tokio::select! {
                r = self.run_action(caller, &mut session, name, arguments, key) => r,
                () = cancelled => Err(ActionError::new(
                    ErrorCode::Unavailable,
                    format!("{name} was cancelled"),
                )),
            };
        }
        let (app, caller, name) = (self.clone(), *caller, name.to_owned());
        // NB: a request dropped mid-write (its client went away, a platform's timeout) must
        // not cut the write short: the org may have applied it while the call never learnt
        // its answer, and the request sent again would write it a second time.
        // The request's span (and trace) goes with it.
        let task = tokio::spawn(
            async move {
                let mut session = call.lock_owned().await;
                app.run_action(&caller, &mut session, &name, arguments, key)
                    .await
            }
            .instrument(tracing::Span::current()),
        );
        task.await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "an action's task failed");
            Err(ActionError::new(
                ErrorCode::Unavailable,
                "the action failed unexpectedly; try again",
            ))
        })
    }

    /// Whether action `name` of `caller`'s workspace only reads (an unknown name, an intent or
    /// a workspace that cannot be read count as writes).
    async fn reads_only(&self, caller: &Caller, name: &str) -> bool {
        let Ok(view) = self.workspaces.view(caller.workspace).await else {
            return false;
        };
        view.catalog
            .get(name)
            .is_some_and(|a| a.effect() == Effect::Read)
    }

    /// Runs the action; `connection` is set to the id of the connection it runs on.
    async fn run_in_call(
        &self,
        caller: &Caller,
        call: &mut CallSession,
        name: &str,
        arguments: Value,
        connection: &mut Option<String>,
    ) -> Result<Value, ActionError> {
        // Its writes are queued and audited in the caller's workspace.
        call.vars.workspace = Some(caller.workspace.0);
        let bound = self
            .call_connections
            .lock()
            .get(&(caller.workspace, call.vars.call_id.clone()))
            .cloned();
        let live = match self.registry.get(caller.workspace, bound.as_deref()) {
            Ok(live) => live,
            Err(e) => {
                // A write queued at once waits in the queue, like the writes queued before the
                // org refused the grant, and lands after a reconnect: nothing on its way asks
                // the org (it is checked against the describe the connection holds).
                let waits = match &e {
                    LookupError::NeedsReauth(id) => self
                        .registry
                        .get_any(caller.workspace, id)
                        .filter(|l| l.actions.queues_at_once(name)),
                    _ => None,
                };
                waits.ok_or_else(|| lookup_action_error(&e))?
            }
        };
        *connection = Some(live.meta.read().id.clone());
        if call.vars.time_zone.is_none() {
            let zone = self.default_zone(caller, call, &live, name).await;
            call.set_default_zone(zone);
        }
        if name == callforce_intents::TOOL_NAME {
            // The intent's write goes through the call connection's write pipeline.
            let say = self.says(caller, call).await;
            let r = self.intents.run(caller, call, arguments, &live, say).await;
            self.registry.observe(&live).await;
            return r;
        }
        // Refused before any request: a scope the connection lacks, a read beyond its limits.
        let mut _permit = None;
        let view = self.workspaces.view(caller.workspace).await.map_err(|e| {
            tracing::error!(error = %e, "reading the workspace's agents failed");
            ActionError::new(
                ErrorCode::Unavailable,
                "the service could not read its settings; try again",
            )
        })?;
        if let Some(action) = view.catalog.get(name) {
            if let Some(scope) = callforce_actions::scopes::required_scope(action, &arguments) {
                let (granted, kind, id) = {
                    let m = live.meta.read();
                    (m.scopes.clone(), m.kind.clone(), m.id.clone())
                };
                if !callforce_actions::scopes::grants(&granted, scope) {
                    let message = if kind == "web_server" {
                        let profile = callforce_actions::scopes::profile_granting(scope);
                        format!(
                            "{name} needs the OAuth scope '{scope}', which this connection was not granted: connect the org again with the {profile} profile (profile={profile})"
                        )
                    } else {
                        // NB: a profile changes nothing here: the connected app decides.
                        format!(
                            "{name} needs the OAuth scope '{scope}', which this connection was not granted: a {kind} connection gets the scopes selected on its connected app, so an admin must add '{scope}' to the connected app's selected OAuth scopes in Salesforce, then reconnect it (POST /v1/connections/{id}/reconnect)"
                        )
                    };
                    return Err(ActionError::new(ErrorCode::MissingScope, message));
                }
            }
            if action.effect() == Effect::Read {
                _permit = live
                    .admit_read()
                    .map_err(|e| ActionError::new(ErrorCode::LimitReached, e.to_string()))?;
            }
        }
        let agent = call.vars.agent.as_deref().and_then(|a| view.agents.get(a));
        let scope = Scope {
            catalog: Some(&view.catalog),
            agent,
        };
        let started = std::time::Instant::now();
        let r = live.actions.run_scoped(call, name, arguments, scope).await;
        self.registry.observe(&live).await;
        let outcome = crate::operations::outcome(&r);
        if matches!(outcome, "salesforce" | "unavailable") {
            self.metrics
                .salesforce_errors
                .with_label_values(&[outcome])
                .inc();
        }
        // NB: an unknown action's name is the caller's text; one label keeps the series bounded.
        let label = if outcome == "unknown_action" {
            "unknown"
        } else {
            name
        };
        self.metrics
            .action_seconds
            .with_label_values(&[label, outcome])
            .observe(started.elapsed().as_secs_f64());
        r
    }

    /// The zone of a call started without one: its agent's, else the connected org user's
    /// (`None`: UTC). The user's is read from the org at most once per connection, and never
    /// on the way of `action` when it is queued at once (a non-blocking write never waits on
    /// the org): it is read when the connection connects and when a call starts.
    async fn default_zone(
        &self,
        caller: &Caller,
        call: &CallSession,
        live: &crate::registry::Live,
        action: &str,
    ) -> Option<callforce_actions::zone::Tz> {
        if let Some(agent) = call.vars.agent.as_deref()
            && let Ok(view) = self.workspaces.view(caller.workspace).await
            && let Some(zone) = view.agents.get(agent).and_then(Agent::zone)
        {
            return Some(zone);
        }
        if live.actions.queues_at_once(action) {
            return live.known_user_zone();
        }
        live.user_zone().await
    }

    /// Whether the results of `call`'s agent carry `say` (on unless its agent turned it off;
    /// on when the settings cannot be read, as for a call without an agent).
    async fn says(&self, caller: &Caller, call: &CallSession) -> bool {
        let Some(agent) = call.vars.agent.as_deref() else {
            return true;
        };
        match self.workspaces.view(caller.workspace).await {
            Ok(view) => view.agents.get(agent).is_none_or(|a| a.say),
            Err(_) => true,
        }
    }

    /// Ends the call `id` of `caller`'s workspace.
    ///
    /// # Errors
    /// [`CallError::Unknown`] when no such call is open.
    pub fn end_call(&self, caller: &Caller, id: &str) -> Result<(), CallError> {
        self.call_connections
            .lock()
            .remove(&(caller.workspace, id.to_owned()));
        match self.calls.lock().remove(&(caller.workspace, id.to_owned())) {
            Some(_) => Ok(()),
            None => Err(CallError::Unknown(id.to_owned())),
        }
    }

    /// The caller an `Authorization` header's value (`Bearer <key>`) identifies: every front
    /// door asks this, so a key opens the same workspace everywhere.
    ///
    /// # Errors
    /// No key, or a key that opens nothing (`unauthorized`, saying how to get one).
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, Error> {
        let key = authorization
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let caller = match key {
            Some(k) => self.caller(k).await,
            None => None,
        };
        caller.ok_or_else(|| {
            Error::new(
                Kind::Unauthorized,
                "unauthorized",
                "send an API key as 'Authorization: Bearer <key>' (printed by 'callforce serve' at its first start, or set with CALLFORCE_API_KEY)",
            )
        })
    }

    /// The caller a key identifies, if the key is valid.
    pub async fn caller(&self, key: &str) -> Option<Caller> {
        // Comparing hashes keeps the comparison's timing independent of the key.
        let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        if self.env_key_hash == Some(hash) {
            return Some(Caller {
                workspace: self.default_workspace,
                key: None,
            });
        }
        match self.store.authenticate(key).await {
            Ok(found) => found.map(|(workspace, key)| Caller {
                workspace,
                key: Some(key),
            }),
            Err(e) => {
                tracing::error!(error = %e, "API key check: the store failed");
                None
            }
        }
    }
}

/// A connection that cannot be used, as an action's error: `needs_reauth` as documented for a
/// connection the org refused, `unavailable` otherwise.
fn lookup_action_error(e: &LookupError) -> ActionError {
    let code = match e {
        LookupError::NeedsReauth(_) => ErrorCode::NeedsReauth,
        _ => ErrorCode::Unavailable,
    };
    ActionError::new(code, e.to_string())
}

/// A fresh call id.
pub fn new_call_id() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("call-{n:016x}")
}

/// The header a front door reads the caller's own idempotency key for an action's write from
/// (see `docs/writes.md`).
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
