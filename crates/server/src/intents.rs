//! Intent maps over the agent API, one per workspace, and the `record_intent` tool in a call.
//!
//! ```text
//! GET  /v1/intents         the workspace's map, whether it is active, its last report
//! PUT  /v1/intents         {map} -> checked against the org; stored and active only if it passes
//! POST /v1/intents/check   {map} (or no body: the stored map) -> the report, nothing stored
//! POST /v1/intents/recheck  after a schema change: describe again, re-check the active map
//! POST /v1/calls/{id}/actions/record_intent   {"arguments": {"intent": ..., ...}}
//! ```
//!
//! Each workspace's map is checked against its own org: the workspace's default connection in
//! the [`Registry`], the one its calls write through unless a call names another. A workspace
//! with no usable connection gets an error saying to connect one; nothing is checked, stored or
//! activated. A map that fails the check is refused (422 with the report) and the previous map
//! stays active. An active map is checked again when the service loads it (at start, or at the
//! first use), on `POST /v1/intents/recheck` (with fresh describes), and by the poller
//! ([`Intents::tick`], every `ServeConfig::intents_poll`): for each connection it asks for the
//! describe of each object that connection's live maps write with `If-Modified-Since`, so an
//! unchanged org costs one bodiless `304` per object, and re-checks the maps whose objects
//! changed. The `Last-Modified` dates are kept per connection, as are describe caches: a change
//! in one org re-checks only the maps of the workspaces connected to it. A schema error on an
//! intent write at call time (`INVALID_FIELD`...) wakes the poller at once, with full describes
//! of that workspace's connection. A map that broke is deactivated as a whole (the
//! `record_intent` tool disappears; partial maps would let a model write half of what the admin
//! meant) and ONE `intent_map_broken` alert goes to the alert outbox (the admin's webhook): an
//! inactive map is not polled again until it is fixed. The map of a workspace whose connection
//! is gone or needs to be connected again is left as it is, and polled again once it is back
//! (a map checked against another connection than the workspace's default now is re-checked).
//! An intent's write goes through the call connection's write pipeline like every action's
//! (a blocking write: budget, retries, queue, dead letters, audit).
//! Activating a map (`config.intents.put`) and deactivating a broken one
//! (`config.intents.deactivate`, by `system`) are audited in the transaction of the change.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use callforce_actions::{ActionError, CallSession, ErrorCode, Tool};
use callforce_client::Connection;
use callforce_client::describe::Described;
use callforce_intents::{Active, Describes, Error as IntentError, IntentMap, Recorded, Report};
use callforce_store::{Store, WorkspaceId};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::api::{Api, ApiError, Caller};
use crate::changes::{self, Actor};
use crate::registry::{Live, LookupError, Registry};

/// The alert kind recorded when a live intent map stops passing its check.
pub const KIND_INTENT_MAP_BROKEN: &str = "intent_map_broken";

/// The active intent maps of each workspace, loaded from the store on first use, each checked
/// against its workspace's own org.
pub struct Intents {
    store: Store,
    registry: Arc<Registry>,
    active: Mutex<HashMap<WorkspaceId, Option<Checked>>>,
    /// By connection id: the `Last-Modified` of each object's describe (lowercase name), as
    /// that connection's org sent it.
    seen: Mutex<HashMap<String, HashMap<String, String>>>,
    /// Connections whose next poll describes everything afresh (a write met a schema error).
    forced: Mutex<HashSet<String>>,
    wake: tokio::sync::Notify,
    /// One tick at a time, so a broken map is deactivated (and alerted) once.
    ticking: tokio::sync::Mutex<()>,
}

/// An active map and the connection it was checked against.
#[derive(Clone)]
struct Checked {
    active: Arc<Active>,
    connection: String,
}

/// What loading a stored map found.
enum Load {
    /// It passed its check against the workspace's org.
    Active(Checked),
    /// No map, an inactive one, or one that failed its check (now deactivated).
    Inactive,
    /// It could not be checked now (no usable connection, the org did not answer): asked
    /// again at the next use.
    Later,
}

/// What one poll found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Poll {
    /// Objects whose describe came back (changed, or asked without a date), once per
    /// connection that asked.
    pub described: Vec<String>,
    /// Objects the org answered `304 Not Modified` for, once per connection that asked.
    pub not_modified: Vec<String>,
    /// Workspaces whose map was checked again (and still passes, unless in `deactivated`).
    pub rechecked: Vec<WorkspaceId>,
    /// Workspaces whose map broke and was deactivated, with one alert each.
    pub deactivated: Vec<WorkspaceId>,
    /// Workspaces with a live map but no usable connection: left as they are until it is back.
    pub waiting: Vec<WorkspaceId>,
}

/// Whether a Salesforce error code on a write means the org's schema no longer fits the map
/// (a field gone or read-only, a picklist value removed, a new required field, an object gone).
pub fn schema_error(code: &str) -> bool {
    matches!(
        code,
        "INVALID_FIELD"
            | "INVALID_FIELD_FOR_INSERT_UPDATE"
            | "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
            | "INVALID_TYPE"
            | "REQUIRED_FIELD_MISSING"
    )
}

impl Intents {
    /// Intent maps kept in `store`, each checked against its workspace's default connection in
    /// `registry`.
    pub fn new(store: Store, registry: Arc<Registry>) -> Self {
        Self {
            store,
            registry,
            active: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
            forced: Mutex::new(HashSet::new()),
            wake: tokio::sync::Notify::new(),
            ticking: tokio::sync::Mutex::new(()),
        }
    }

    /// Wakes the poller now, with full describes of the connection `workspace`'s map was
    /// checked against (one of its writes met a schema error).
    pub fn wake(&self, workspace: WorkspaceId) {
        let checked_on = self
            .active
            .lock()
            .get(&workspace)
            .and_then(|c| c.as_ref().map(|c| c.connection.clone()));
        if let Some(id) = checked_on {
            self.forced.lock().insert(id);
        }
        self.wake.notify_one();
    }

    /// Polls every `every`, or at once when [`Intents::wake`] is called, until the task is
    /// aborted; `workspace`'s map is loaded (and checked) first.
    pub fn spawn_poller(
        api: Arc<crate::api::Api>,
        workspace: WorkspaceId,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let intents = api.intents();
            intents.active(workspace).await;
            loop {
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = intents.wake.notified() => {}
                }
                intents.tick().await;
            }
        })
    }

    /// One poll: for each connection with live maps, describes each object its maps write
    /// with `If-Modified-Since` (the date that org gave last time), re-checks the maps whose
    /// objects changed (and those whose workspace now writes through another connection), and
    /// deactivates (with one alert) those that broke. A workspace without a usable connection
    /// is skipped; transport errors are logged and left for the next tick.
    pub async fn tick(&self) -> Poll {
        let _one = self.ticking.lock().await;
        let mut poll = Poll::default();
        let forced = std::mem::take(&mut *self.forced.lock());
        let live: Vec<(WorkspaceId, Checked)> = self
            .active
            .lock()
            .iter()
            .filter_map(|(w, c)| c.clone().map(|c| (*w, c)))
            .collect();
        // Each live map with the connection its workspace writes through now.
        let mut targets: Vec<(WorkspaceId, Checked, Arc<Live>)> = Vec::new();
        for (workspace, checked) in live {
            match self.registry.get(workspace, None) {
                Ok(conn) => targets.push((workspace, checked, conn)),
                Err(e) => {
                    tracing::info!(%workspace, reason = %e, "intent poller: the map waits for the workspace's connection");
                    poll.waiting.push(workspace);
                }
            }
        }
        // The objects to describe, per connection.
        let mut per_conn: Vec<(Arc<Live>, Vec<String>)> = Vec::new();
        for (_, checked, conn) in &targets {
            let i = match per_conn.iter().position(|(c, _)| Arc::ptr_eq(c, conn)) {
                Some(i) => i,
                None => {
                    per_conn.push((conn.clone(), Vec::new()));
                    per_conn.len() - 1
                }
            };
            let objects = &mut per_conn[i].1;
            for o in checked.active.map().objects() {
                if !objects.iter().any(|x| x.eq_ignore_ascii_case(&o)) {
                    objects.push(o);
                }
            }
        }
        {
            // Dates of connections no longer polled are forgotten: a connection that comes
            // back is described in full once.
            let ids: HashSet<String> = per_conn.iter().map(|(c, _)| c.id()).collect();
            self.seen.lock().retain(|id, _| ids.contains(id));
        }
        // (connection id, lowercase object) of each describe that changed.
        let mut changed: HashSet<(String, String)> = HashSet::new();
        for (live, objects) in &per_conn {
            let id = live.id();
            let conn = live.actions.connection();
            if forced.contains(&id) {
                self.seen.lock().remove(&id);
                conn.invalidate_describe(None);
            }
            let mut any = false;
            for o in objects {
                let key = o.to_ascii_lowercase();
                let since = self.seen.lock().get(&id).and_then(|m| m.get(&key)).cloned();
                match conn.describe_if_modified(o, since.as_deref()).await {
                    Ok(Described::NotModified) => poll.not_modified.push(o.clone()),
                    Ok(Described::Modified { last_modified, .. }) => {
                        let mut seen = self.seen.lock();
                        let dates = seen.entry(id.clone()).or_default();
                        match last_modified {
                            Some(lm) => dates.insert(key.clone(), lm),
                            None => dates.remove(&key),
                        };
                        poll.described.push(o.clone());
                        changed.insert((id.clone(), key));
                        any = true;
                    }
                    Err(callforce_client::Error::Api { status: 404, .. }) => {
                        // The object is gone: the check reports it.
                        if let Some(dates) = self.seen.lock().get_mut(&id) {
                            dates.remove(&key);
                        }
                        conn.invalidate_describe(Some(o));
                        poll.described.push(o.clone());
                        changed.insert((id.clone(), key));
                        any = true;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, object = %o, connection = %id, "intent poller: describing failed; trying again next time");
                    }
                }
            }
            if any {
                // The global describe may name objects that came or went.
                conn.invalidate_describe(None);
            }
            // A grant the org refused turns the connection `needs_reauth` (its map waits).
            self.registry.observe(live).await;
        }
        for (workspace, checked, live) in targets {
            let id = live.id();
            let moved = checked.connection != id;
            let touched = moved
                || checked
                    .active
                    .map()
                    .objects()
                    .iter()
                    .any(|o| changed.contains(&(id.clone(), o.to_ascii_lowercase())));
            if !touched {
                continue;
            }
            let conn = live.actions.connection();
            let (report, describes) = match callforce_intents::check_live(
                conn,
                checked.active.map(),
            )
            .await
            {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, %workspace, "intent poller: re-checking failed; trying again next time");
                    // Describe this org again next time, so the change is not missed.
                    self.seen.lock().remove(&id);
                    continue;
                }
            };
            poll.rechecked.push(workspace);
            let still_current = |m: &HashMap<WorkspaceId, Option<Checked>>| {
                m.get(&workspace)
                    .and_then(Option::as_ref)
                    .is_some_and(|c| Arc::ptr_eq(&c.active, &checked.active))
            };
            if report.ok {
                match Active::from_checked(checked.active.map().clone(), describes, report) {
                    Ok(a) => {
                        let mut m = self.active.lock();
                        if still_current(&m) {
                            m.insert(
                                workspace,
                                Some(Checked {
                                    active: Arc::new(a),
                                    connection: id,
                                }),
                            );
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "re-activating a checked intent map"),
                }
                continue;
            }
            // NB: a map replaced meanwhile (PUT) is not the one that broke.
            if !still_current(&self.active.lock()) {
                continue;
            }
            self.active.lock().insert(workspace, None);
            self.deactivate(workspace, &report).await;
            poll.deactivated.push(workspace);
        }
        poll
    }

    /// Marks `workspace`'s map inactive with `report` and records one `intent_map_broken`
    /// alert listing its problems.
    async fn deactivate(&self, workspace: WorkspaceId, report: &Report) {
        for p in &report.problems {
            tracing::error!(
                target: "callforce::alert", %workspace, path = %p.path, fix = %p.fix,
                "live intent map broken by a change in the org: {}", p.message
            );
        }
        let text = serde_json::to_string(report).unwrap_or_default();
        let now = chrono::Utc::now();
        let problems: Vec<String> = report
            .problems
            .iter()
            .filter(|p| p.severity == callforce_intents::Severity::Error)
            .map(|p| format!("{}: {} (fix: {})", p.path, p.message, p.fix))
            .collect();
        let entry = changes::intents_deactivate(Actor::System, &problems);
        if let Err(e) = self
            .store
            .set_intent_map_state_audited(workspace, false, &text, now, &entry)
            .await
        {
            tracing::error!(error = %e, "deactivating the intent map: the store failed");
        }
        let alert = callforce_store::NewAlert {
            kind: KIND_INTENT_MAP_BROKEN.into(),
            details: json!({
                "message": "the intent map no longer passes its check and was deactivated; fix it and PUT it to /v1/intents",
                "problems": problems,
            }),
        };
        if let Err(e) = self.store.record_alert(workspace, &alert, now).await {
            tracing::error!(error = %e, "recording the intent map alert: the store failed");
        }
    }

    /// The active map of `workspace`: loaded and checked against the workspace's org at first
    /// use (and at each use while it cannot be checked: no usable connection, no answer).
    pub async fn active(&self, workspace: WorkspaceId) -> Option<Arc<Active>> {
        if let Some(c) = self.active.lock().get(&workspace) {
            return c.as_ref().map(|c| c.active.clone());
        }
        let loaded = match self.load(workspace).await {
            Load::Active(c) => Some(c),
            Load::Inactive => None,
            Load::Later => return None,
        };
        // NB: a map PUT while this one loaded wins.
        self.active
            .lock()
            .entry(workspace)
            .or_insert(loaded)
            .as_ref()
            .map(|c| c.active.clone())
    }

    async fn load(&self, workspace: WorkspaceId) -> Load {
        let stored = match self.store.intent_map(workspace).await {
            Ok(Some(s)) if s.active => s,
            Ok(_) => return Load::Inactive,
            Err(e) => {
                tracing::error!(error = %e, "loading the intent map: the store failed");
                return Load::Later;
            }
        };
        let map = match IntentMap::from_json(&stored.map) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(target: "callforce::alert", %workspace, "stored intent map unreadable: {e}");
                return Load::Inactive;
            }
        };
        let live = match self.registry.get(workspace, None) {
            Ok(l) => l,
            Err(e) => {
                tracing::info!(%workspace, reason = %e, "the intent map waits for the workspace's connection");
                return Load::Later;
            }
        };
        let checked = Active::activate(live.actions.connection(), map).await;
        self.registry.observe(&live).await;
        match checked {
            Ok(a) => Load::Active(Checked {
                active: Arc::new(a),
                connection: live.id(),
            }),
            Err(IntentError::CheckFailed(report)) => {
                self.deactivate(workspace, &report).await;
                Load::Inactive
            }
            Err(e) => {
                tracing::error!(error = %e, %workspace, "checking the stored intent map; trying again at the next use");
                Load::Later
            }
        }
    }

    /// The `record_intent` tool of `workspace`, when it has an active map.
    pub async fn tool(&self, workspace: WorkspaceId) -> Option<Tool> {
        self.active(workspace).await.map(|a| a.tool())
    }

    /// Runs `record_intent` with `arguments` in `call`, writing through `actions` (the call
    /// connection's, with its write pipeline); the records written are remembered in the call
    /// (`record_intent.Id`, `last.<Object>`). A write that was queued answers with its
    /// reference.
    ///
    /// # Errors
    /// An [`ActionError`] a model can act on.
    pub async fn run(
        &self,
        caller: &Caller,
        call: &mut CallSession,
        arguments: Value,
        actions: &callforce_actions::Actions,
    ) -> Result<Value, ActionError> {
        let Some(active) = self.active(caller.workspace).await else {
            return Err(ActionError::new(
                ErrorCode::NotAvailable,
                "no intent map is active in this workspace; PUT one to /v1/intents",
            ));
        };
        let recorded = active
            .record(actions, call, &arguments, chrono::Utc::now())
            .await
            .inspect_err(|e| {
                let schema = match e {
                    IntentError::Client(c) => c.error_code().is_some_and(schema_error),
                    // A rolled-back composite: its messages end with "(<errorCode>)".
                    IntentError::Refused(msgs) => msgs.iter().any(|m| {
                        m.rsplit_once('(')
                            .and_then(|(_, c)| c.strip_suffix(')'))
                            .is_some_and(schema_error)
                    }),
                    _ => false,
                };
                if schema {
                    tracing::warn!(workspace = %caller.workspace, "an intent write met a schema error: re-checking the map now");
                    self.wake(caller.workspace);
                }
            })
            .map_err(|e| match e {
                IntentError::UnknownIntent { .. } => {
                    ActionError::new(ErrorCode::InvalidArgument, e.to_string()).field("intent")
                }
                IntentError::Refused(_) => {
                    ActionError::new(ErrorCode::InvalidArgument, e.to_string())
                }
                IntentError::Client(c) => ActionError::from(c),
                IntentError::Unavailable(m) => {
                    tracing::error!(error = %m, "an intent's write could not be queued");
                    ActionError::new(
                        ErrorCode::Unavailable,
                        "the write could not be saved just now; try again in a moment",
                    )
                }
                other => ActionError::new(ErrorCode::Salesforce, other.to_string()),
            })?;
        Ok(match recorded {
            Recorded::Done(outcome) => serde_json::to_value(&outcome).unwrap_or_default(),
            Recorded::Queued { intent, reference } => {
                let mut v = callforce_actions::queued_result(&reference);
                v["intent"] = Value::String(intent);
                v
            }
        })
    }

    /// The connection `workspace`'s map is checked against: its default one.
    ///
    /// # Errors
    /// The answer for a workspace without a usable connection: connect one first.
    fn connection(&self, workspace: WorkspaceId) -> Result<Arc<Live>, ApiError> {
        self.registry.get(workspace, None).map_err(|e| no_org(&e))
    }

    /// Checks `map` against `live`'s org.
    ///
    /// # Errors
    /// 502 when the org could not be described.
    async fn check(&self, live: &Live, map: &IntentMap) -> Result<(Report, Describes), ApiError> {
        let checked = callforce_intents::check_live(live.actions.connection(), map).await;
        self.registry.observe(live).await;
        checked.map_err(|e| {
            tracing::error!(error = %e, "checking an intent map against the org");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "org_unavailable",
                "the org could not be described; try again",
            )
        })
    }
}

/// A workspace without a usable connection: the map cannot be checked, so nothing is stored.
fn no_org(e: &LookupError) -> ApiError {
    let (status, code) = crate::api::lookup_status(e);
    ApiError::new(
        status,
        code,
        format!(
            "{e}; an intent map is checked against the workspace's org, so nothing was checked or stored"
        ),
    )
}

/// The intent map routes, behind the API key check.
pub fn router(api: Arc<Api>) -> axum::Router {
    axum::Router::new()
        .route("/v1/intents", get(get_map).put(put_map))
        .route("/v1/intents/check", post(check_map))
        .route("/v1/intents/recheck", post(recheck_map))
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            crate::api::require_key,
        ))
        .with_state(api)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

fn parse(body: &[u8]) -> Result<IntentMap, ApiError> {
    let text = std::str::from_utf8(body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_map",
            "the body must be UTF-8 JSON",
        )
    })?;
    IntentMap::from_json(text)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_map", e.to_string()))
}

fn report_json(r: &Report) -> Value {
    serde_json::to_value(r).unwrap_or_default()
}

async fn get_map(State(api): State<Arc<Api>>, Extension(caller): Extension<Caller>) -> Response {
    match api.intents().store.intent_map(caller.workspace).await {
        Ok(Some(s)) => {
            let map: Value = serde_json::from_str(&s.map).unwrap_or_default();
            let report = s
                .report
                .and_then(|r| serde_json::from_str::<Value>(&r).ok());
            Json(json!({"map": map, "active": s.active, "report": report, "updated_at": s.updated_at}))
                .into_response()
        }
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "no_intent_map",
            "this workspace has no intent map; PUT one to /v1/intents",
        ),
        Err(e) => {
            tracing::error!(error = %e, "reading the intent map: the store failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
        }
    }
}

async fn put_map(
    State(api): State<Arc<Api>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Response {
    let intents = api.intents();
    let map = match parse(&body) {
        Ok(m) => m,
        Err(r) => return r.into_response(),
    };
    let live = match intents.connection(caller.workspace) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let (report, describes) = match intents.check(&live, &map).await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    if !report.ok {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "error": {"code": "check_failed", "message": format!(
                    "the map has {} problem(s) and was not activated; the previous map stays", report.errors())},
                "report": report_json(&report),
            })),
        )
            .into_response();
    }
    let text = serde_json::to_string(&map).unwrap_or_default();
    let report_text = serde_json::to_string(&report).unwrap_or_default();
    let warnings = report.problems.len() - report.errors();
    let entry = changes::intents_put(
        Actor::of(&caller),
        &serde_json::to_value(&map).unwrap_or_default(),
        warnings,
    );
    if let Err(e) = intents
        .store
        .put_intent_map_audited(
            caller.workspace,
            &text,
            true,
            Some(&report_text),
            chrono::Utc::now(),
            &entry,
        )
        .await
    {
        tracing::error!(error = %e, "storing the intent map: the store failed");
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        );
    }
    let rep = report_json(&report);
    match Active::from_checked(map, describes, report) {
        Ok(a) => {
            intents.active.lock().insert(
                caller.workspace,
                Some(Checked {
                    active: Arc::new(a),
                    connection: live.id(),
                }),
            );
        }
        Err(e) => tracing::error!(error = %e, "activating a checked intent map"),
    }
    Json(json!({"active": true, "report": rep})).into_response()
}

async fn recheck_map(
    State(api): State<Arc<Api>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let intents = api.intents();
    let live = match intents.connection(caller.workspace) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    // Fresh describes of this workspace's org only.
    live.actions.connection().invalidate_describe(None);
    let loaded = match intents.load(caller.workspace).await {
        Load::Active(c) => Some(c),
        Load::Inactive => None,
        Load::Later => {
            return error(
                StatusCode::BAD_GATEWAY,
                "org_unavailable",
                "the org could not be described; the map stays as it was; try again",
            );
        }
    };
    let active = loaded.is_some();
    intents.active.lock().insert(caller.workspace, loaded);
    let report = match intents.store.intent_map(caller.workspace).await {
        Ok(Some(s)) => s
            .report
            .and_then(|r| serde_json::from_str::<Value>(&r).ok()),
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, "reading the intent map: the store failed");
            None
        }
    };
    Json(json!({"active": active, "report": report})).into_response()
}

async fn check_map(
    State(api): State<Arc<Api>>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Response {
    let intents = api.intents();
    let map = if body.iter().all(u8::is_ascii_whitespace) {
        match intents.store.intent_map(caller.workspace).await {
            Ok(Some(s)) => match IntentMap::from_json(&s.map) {
                Ok(m) => m,
                Err(e) => {
                    return error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_map",
                        &e.to_string(),
                    );
                }
            },
            Ok(None) => {
                return error(
                    StatusCode::NOT_FOUND,
                    "no_intent_map",
                    "send a map in the body, or PUT one to /v1/intents first",
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "reading the intent map: the store failed");
                return error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                );
            }
        }
    } else {
        match parse(&body) {
            Ok(m) => m,
            Err(r) => return r.into_response(),
        }
    };
    let live = match intents.connection(caller.workspace) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    match intents.check(&live, &map).await {
        Ok((r, _)) => Json(json!({"report": report_json(&r)})).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `callforce config check --intents FILE [--schema FILE]`: checks an intent map against an
/// embedded dev org with the given schema (the demo schema by default) and prints every problem
/// with its fix. Returns whether the map passed.
///
/// # Errors
/// When the file cannot be read or parsed, or the dev org cannot start.
pub async fn config_check(
    intents: &std::path::Path,
    schema: Option<&std::path::Path>,
    as_json: bool,
) -> anyhow::Result<bool> {
    use anyhow::Context;
    use callforce_client::{ConnectionConfig, Grant, LoginHost, OAuthApp, SecretString};

    let text = std::fs::read_to_string(intents)
        .with_context(|| format!("reading {}", intents.display()))?;
    let map = IntentMap::from_json(&text).with_context(|| format!("in {}", intents.display()))?;
    let org = callforce_devorg::DevOrg::new(callforce_devorg::Config {
        schema_file: schema.map(std::path::Path::to_path_buf),
        seed: callforce_devorg::Seed::None,
        ..callforce_devorg::Config::default()
    })
    .context("building the dev org")?;
    let running = callforce_devorg::spawn(org, std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("starting the dev org")?;
    let c = running.org.config();
    let app = OAuthApp {
        client_id: c.client_id.clone(),
        client_secret: Some(SecretString::from(c.client_secret.clone())),
        redirect_uri: None,
    };
    let conn = Connection::login(
        ConnectionConfig::new(LoginHost::Url(running.org.instance_url().to_owned()), app),
        Grant::ClientCredentials,
    )
    .await
    .context("connecting to the dev org")?;
    let (report, _) = callforce_intents::check_live(&conn, &map)
        .await
        .context("describing the org")?;
    running.task.abort();
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for p in &report.problems {
            let level = match p.severity {
                callforce_intents::Severity::Error => "error",
                callforce_intents::Severity::Warning => "warning",
            };
            println!("{level}: {}: {}\n  fix: {}", p.path, p.message, p.fix);
        }
        println!(
            "{}: {} intent(s), {} field(s), {} error(s), {} warning(s)",
            if report.ok { "ok" } else { "FAILED" },
            report.intents,
            report.fields,
            report.errors(),
            report.problems.len() - report.errors()
        );
    }
    Ok(report.ok)
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use serde_json::json;

    use crate::serve::{ServeConfig, start};

    /// The seed's three intents end to end: the map is checked and activated through the API,
    /// a broken one is refused with its report, and `record_intent` writes during a call.
    #[tokio::test]
    async fn the_seed_intents_through_the_agent_api() {
        let dir = tempfile::tempdir().expect("tempdir");
        let started = start(ServeConfig {
            api_key: Some("test-key".into()),
            ..ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().to_owned())
        })
        .await
        .expect("starts");
        let base = format!("http://{}", started.addr);
        let http = reqwest::Client::new();
        let send = |method: reqwest::Method, path: &str, body: Option<serde_json::Value>| {
            let mut r = http
                .request(method, format!("{base}{path}"))
                .bearer_auth("test-key");
            if let Some(b) = body {
                r = r.json(&b);
            }
            r.send()
        };
        use reqwest::Method;

        let none = send(Method::GET, "/v1/intents", None).await.expect("get");
        assert_eq!(none.status(), 404);
        let broken = send(
            Method::PUT,
            "/v1/intents",
            Some(json!({"demo_requested": "Opportunity.Demo_Requestd_At__c", "qualified": "Lead.Status"})),
        )
        .await
        .expect("put");
        assert_eq!(broken.status(), 422);
        let body: serde_json::Value = broken.json().await.expect("json");
        assert_eq!(body["error"]["code"], "check_failed", "{body}");
        assert_eq!(
            body["report"]["problems"][0]["code"], "unknown_field",
            "{body}"
        );
        assert_eq!(
            body["report"]["problems"][0]["fix"],
            "use Opportunity.Demo_Requested_At__c"
        );

        // The seed's map as the seed writes it: the summary goes to the Task of the call's
        // log_call, which is queued (no Task id during the call) and reached by its key.
        let seed = json!({
            "demo_requested": "Opportunity.Demo_Requested_At__c",
            "qualified": "Lead.Status",
            "call_summary": "Task.Description"
        });
        let checked: serde_json::Value =
            send(Method::POST, "/v1/intents/check", Some(seed.clone()))
                .await
                .expect("check")
                .json()
                .await
                .expect("json");
        assert_eq!(checked["report"]["ok"], true, "{checked}");
        let put = send(Method::PUT, "/v1/intents", Some(seed))
            .await
            .expect("put");
        assert_eq!(put.status(), 200);
        let got: serde_json::Value = send(Method::GET, "/v1/intents", None)
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        assert_eq!(got["active"], true);
        assert_eq!(
            got["map"]["intents"]["qualified"]["writes"][0]["object"], "Lead",
            "{got}"
        );

        let tools: serde_json::Value = send(Method::GET, "/v1/tools", None)
            .await
            .expect("tools")
            .json()
            .await
            .expect("json");
        let tool = tools["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .find(|t| t["name"] == "record_intent")
            .expect("record_intent is offered");
        assert_eq!(
            tool["parameters"]["properties"]["intent"]["enum"],
            json!(["call_summary", "demo_requested", "qualified"])
        );

        let call: serde_json::Value =
            send(Method::POST, "/v1/calls", Some(json!({"agent": "aria"})))
                .await
                .expect("start")
                .json()
                .await
                .expect("json");
        let id = call["call_id"].as_str().expect("id").to_owned();
        let act = |name: &str, args: serde_json::Value| {
            send(
                Method::POST,
                &format!("/v1/calls/{id}/actions/{name}"),
                Some(json!({"arguments": args})),
            )
        };
        // Before the lead is found, the model is told what to do first.
        let early = act(
            "record_intent",
            json!({"intent": "qualified", "value": "Working - Contacted"}),
        )
        .await
        .expect("early");
        assert_eq!(early.status(), 422);
        let body: serde_json::Value = early.json().await.expect("json");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("no Lead is known")),
            "{body}"
        );
        // The org, read directly.
        let org = started.devorg.as_ref().expect("embedded org");
        let query = |soql: String| {
            http.get(format!(
                "{}/services/data/v59.0/query",
                org.org.instance_url()
            ))
            .bearer_auth(org.org.dev_access_token())
            .query(&[("q", soql)])
            .send()
        };
        let rows = |v: serde_json::Value| v["records"][0].clone();
        let opp_soql =
            "SELECT Demo_Requested_At__c FROM Opportunity WHERE Name = 'Northwind - Chat Agent'";
        let stamp = |v: serde_json::Value| {
            let s = v["records"][0]["Demo_Requested_At__c"]
                .as_str()
                .expect("stamped")
                .to_owned();
            chrono::DateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%.f%z").expect("datetime")
        };
        let before = stamp(
            query(opp_soql.into())
                .await
                .expect("q")
                .json()
                .await
                .expect("json"),
        );
        for (name, args) in [
            ("search_lead", json!({"search_term": "Oakmont"})),
            (
                "search_opportunity",
                json!({"search_term": "Northwind - Chat Agent"}),
            ),
            (
                "log_call",
                json!({"Subject": "Seed intents call", "WhoId": "{{search_lead.Id}}"}),
            ),
            ("record_intent", json!({"intent": "demo_requested"})),
            (
                "record_intent",
                json!({"intent": "qualified", "value": "working - contacted"}),
            ),
            (
                "record_intent",
                json!({"intent": "call_summary", "value": "Wants a demo next week."}),
            ),
        ] {
            let r = act(name, args.clone()).await.expect("action");
            assert_eq!(
                r.status(),
                200,
                "{name} {args}: {}",
                r.text().await.unwrap_or_default()
            );
        }

        let lead = rows(
            query(
                "SELECT Id, Status FROM Lead WHERE Company = 'Oakmont Property Management'".into(),
            )
            .await
            .expect("q")
            .json()
            .await
            .expect("json"),
        );
        assert_eq!(lead["Status"], "Working - Contacted");
        let after = stamp(
            query(opp_soql.into())
                .await
                .expect("q")
                .json()
                .await
                .expect("json"),
        );
        assert!(
            after > before,
            "the demo request was stamped: {before} -> {after}"
        );
        // The service's workers drain the queue on their own schedule: look until the logged
        // call carries the summary (bounded).
        let mut task = serde_json::Value::Null;
        for _ in 0..200 {
            let found: serde_json::Value =
                query("SELECT Description FROM Task WHERE Subject = 'Seed intents call'".into())
                    .await
                    .expect("q")
                    .json()
                    .await
                    .expect("json");
            if found["records"][0]["Description"].is_string() {
                assert_eq!(found["totalSize"], 1, "one logged call: {found}");
                task = rows(found);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert_eq!(task["Description"], "Wants a demo next week.");
    }

    /// A started service with the seed's map live, and helpers to reach it.
    struct Live {
        started: crate::serve::Started,
        http: reqwest::Client,
        base: String,
    }

    impl Live {
        async fn start(dir: &std::path::Path) -> Self {
            let started = start(ServeConfig {
                api_key: Some("test-key".into()),
                // The test drives the poller's tick itself.
                intents_poll: std::time::Duration::from_secs(3600),
                ..ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.to_owned())
            })
            .await
            .expect("starts");
            let base = format!("http://{}", started.addr);
            let live = Self {
                started,
                http: reqwest::Client::new(),
                base,
            };
            let put = live
                .send(
                    reqwest::Method::PUT,
                    "/v1/intents",
                    Some(json!({
                        "demo_requested": "Opportunity.Demo_Requested_At__c",
                        "qualified": "Lead.Status",
                    })),
                )
                .await;
            assert_eq!(put.0, 200, "{}", put.1);
            live
        }

        async fn send(
            &self,
            method: reqwest::Method,
            path: &str,
            body: Option<serde_json::Value>,
        ) -> (u16, serde_json::Value) {
            let mut r = self
                .http
                .request(method, format!("{}{path}", self.base))
                .bearer_auth("test-key");
            if let Some(b) = body {
                r = r.json(&b);
            }
            let resp = r.send().await.expect("send");
            let status = resp.status().as_u16();
            (status, resp.json().await.unwrap_or_default())
        }

        async fn delete_field(&self, object: &str, field: &str) {
            let org = self.started.devorg.as_ref().expect("embedded org");
            let resp = self
                .http
                .post(format!(
                    "{}/devorg/schema/{object}/fields/{field}",
                    org.org.instance_url()
                ))
                .json(&json!({"change": "delete"}))
                .send()
                .await
                .expect("alter");
            assert_eq!(resp.status(), 200);
        }

        async fn broken_alerts(&self) -> Vec<callforce_store::Alert> {
            self.started
                .api
                .store()
                .list_alerts(self.started.workspace, 100)
                .await
                .expect("alerts")
                .into_iter()
                .filter(|a| a.kind == super::KIND_INTENT_MAP_BROKEN)
                .collect()
        }

        async fn offers_record_intent(&self) -> bool {
            let (_, tools) = self.send(reqwest::Method::GET, "/v1/tools", None).await;
            tools["tools"]
                .as_array()
                .expect("tools")
                .iter()
                .any(|t| t["name"] == "record_intent")
        }
    }

    /// A field a live map writes is deleted in the org: within one poll the map is deactivated,
    /// and exactly one alert is in the outbox however many polls follow.
    #[tokio::test]
    async fn a_mapped_field_deleted_in_the_org_deactivates_the_map_with_one_alert() {
        let dir = tempfile::tempdir().expect("tempdir");
        let live = Live::start(dir.path()).await;
        let intents = live.started.api.intents();
        let ws = live.started.workspace;

        // The first poll learns each describe's date; the map still passes.
        let first = intents.tick().await;
        assert_eq!(first.described.len(), 2, "{first:?}");
        assert!(first.deactivated.is_empty(), "{first:?}");
        // Nothing changed: the org answers 304 for each object, nothing is re-checked.
        let calm = intents.tick().await;
        assert_eq!(calm.not_modified.len(), 2, "{calm:?}");
        assert!(
            calm.described.is_empty() && calm.rechecked.is_empty(),
            "{calm:?}"
        );
        assert!(live.broken_alerts().await.is_empty());
        assert!(live.offers_record_intent().await);

        live.delete_field("Opportunity", "Demo_Requested_At__c")
            .await;
        let poll = intents.tick().await;
        assert_eq!(poll.described, ["Opportunity"], "{poll:?}");
        assert_eq!(poll.not_modified, ["Lead"], "{poll:?}");
        assert_eq!(poll.deactivated, [ws], "{poll:?}");
        for _ in 0..3 {
            let later = intents.tick().await;
            assert!(later.deactivated.is_empty(), "{later:?}");
        }
        let alerts = live.broken_alerts().await;
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let problems = alerts[0].details["problems"].to_string();
        assert!(problems.contains("Demo_Requested_At__c"), "{problems}");

        let (_, got) = live.send(reqwest::Method::GET, "/v1/intents", None).await;
        assert_eq!(got["active"], false, "{got}");
        assert_eq!(
            got["report"]["problems"][0]["code"], "unknown_field",
            "{got}"
        );
        assert!(!live.offers_record_intent().await);
    }

    /// A schema error on an intent write wakes the poller, which deactivates the map without
    /// waiting for its interval (an hour here).
    #[tokio::test]
    async fn a_schema_error_on_an_intent_write_wakes_the_poller() {
        let dir = tempfile::tempdir().expect("tempdir");
        let live = Live::start(dir.path()).await;
        let (_, call) = live
            .send(
                reqwest::Method::POST,
                "/v1/calls",
                Some(json!({"agent": "aria"})),
            )
            .await;
        let id = call["call_id"].as_str().expect("id").to_owned();
        let act = |name: &str, args: serde_json::Value| {
            let path = format!("/v1/calls/{id}/actions/{name}");
            let live = &live;
            async move {
                live.send(
                    reqwest::Method::POST,
                    &path,
                    Some(json!({"arguments": args})),
                )
                .await
            }
        };
        let (status, body) = act(
            "search_opportunity",
            json!({"search_term": "Northwind - Chat Agent"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");

        live.delete_field("Opportunity", "Demo_Requested_At__c")
            .await;
        // The live map still holds the describe it was checked with, so the write goes out and
        // the org refuses it.
        let (status, body) = act("record_intent", json!({"intent": "demo_requested"})).await;
        assert_ne!(status, 200, "{body}");
        let mut waited = 0;
        while live.broken_alerts().await.is_empty() {
            assert!(waited < 200, "the poller did not wake");
            waited += 1;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let (_, got) = live.send(reqwest::Method::GET, "/v1/intents", None).await;
        assert_eq!(got["active"], false, "{got}");
        assert_eq!(live.broken_alerts().await.len(), 1);
        let (status, body) = act("record_intent", json!({"intent": "demo_requested"})).await;
        assert_eq!(body["error"]["code"], "not_available", "{status} {body}");
    }

    /// Two workspaces of one service on two orgs, for the tests below: the default workspace
    /// (key `a`) on the embedded org, workspace `b` on its own org (`org_b`, with `b_schema` or
    /// the demo schema), connected with client credentials.
    struct TwoOrgs {
        e: crate::connect_tests::Env,
        b: String,
        ws_b: callforce_store::WorkspaceId,
        _schema: tempfile::TempDir,
    }

    impl TwoOrgs {
        async fn start(b_schema: Option<serde_json::Value>) -> Self {
            let schema = tempfile::tempdir().expect("tempdir");
            let mut org = callforce_devorg::Config::default();
            if let Some(s) = b_schema {
                let file = schema.path().join("schema.json");
                std::fs::write(&file, s.to_string()).expect("schema file");
                org.schema_file = Some(file);
                org.seed = callforce_devorg::Seed::None;
            }
            let e = crate::connect_tests::env_with(org, |c| {
                // The tests drive the poller's tick themselves.
                c.intents_poll = std::time::Duration::from_secs(3600);
            })
            .await;
            let b = e.workspace("b").await;
            let ws_b = e
                .started
                .registry
                .store()
                .workspace_by_name("b")
                .await
                .expect("read")
                .expect("workspace b")
                .id;
            let two = Self {
                e,
                b,
                ws_b,
                _schema: schema,
            };
            two.connect_b().await;
            two
        }

        /// Connects workspace b to its org; the connection's id.
        async fn connect_b(&self) -> String {
            let (status, c) = self
                .e
                .post(
                    &self.b,
                    "/v1/connections",
                    json!({"kind": "client_credentials"}),
                )
                .await;
            assert_eq!(status, 201, "{c}");
            c["id"].as_str().expect("id").to_owned()
        }

        fn a(&self) -> &str {
            &self.e.key
        }

        fn ws_a(&self) -> callforce_store::WorkspaceId {
            self.e.started.workspace
        }

        async fn put(&self, key: &str, map: serde_json::Value) -> (u16, serde_json::Value) {
            let r = self
                .e
                .http
                .put(format!("{}/v1/intents", self.e.base))
                .bearer_auth(key)
                .json(&map)
                .send()
                .await
                .expect("put");
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or_default())
        }

        async fn alerts(&self, ws: callforce_store::WorkspaceId) -> usize {
            self.e
                .started
                .api
                .store()
                .list_alerts(ws, 100)
                .await
                .expect("alerts")
                .iter()
                .filter(|a| a.kind == super::KIND_INTENT_MAP_BROKEN)
                .count()
        }

        async fn active(&self, key: &str) -> serde_json::Value {
            let (_, got) = self.e.get(key, "/v1/intents").await;
            got
        }

        /// Deletes `object.field` in workspace b's org.
        async fn delete_in_b(&self, object: &str, field: &str) {
            let r = self
                .e
                .http
                .post(format!(
                    "{}/devorg/schema/{object}/fields/{field}",
                    self.e.org.org.instance_url()
                ))
                .json(&json!({"change": "delete"}))
                .send()
                .await
                .expect("alter");
            assert_eq!(r.status(), 200);
        }
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    /// Org A is the demo org (the demo timestamp is `Opportunity.Demo_Requested_At__c`); org B
    /// keeps it on the lead (`Lead.Demo_Date__c`). Each workspace's map is checked against its
    /// own org; a field deleted in org B deactivates workspace b's map with one alert, and
    /// workspace a's map, polled against org A, stays active.
    #[tokio::test]
    async fn each_workspace_map_is_checked_and_polled_against_its_own_org() {
        let two = TwoOrgs::start(Some(json!({"fields": {"Lead": [
            {"name": "Demo_Date__c", "label": "Demo Date", "type": "date"}
        ]}})))
        .await;
        let (a, b, ws_a, ws_b) = (two.a(), two.b.as_str(), two.ws_a(), two.ws_b);
        let a_map = json!({"demo_requested": "Opportunity.Demo_Requested_At__c", "qualified": "Lead.Status"});
        let b_map = json!({"demo_requested": "Lead.Demo_Date__c", "qualified": "Lead.Status"});

        // Each org refuses the other's map, naming the field it lacks.
        let (status, body) = two.put(b, a_map.clone()).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["report"]["problems"][0]["code"], "unknown_field");
        assert_eq!(
            body["report"]["problems"][0]["path"],
            "intents.demo_requested.writes[0].fields.Demo_Requested_At__c"
        );
        let (status, body) = two.e.post(a, "/v1/intents/check", b_map.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["report"]["ok"], false, "{body}");
        assert_eq!(
            body["report"]["problems"][0]["path"],
            "intents.demo_requested.writes[0].fields.Demo_Date__c"
        );
        // And takes its own.
        let (status, body) = two.put(a, a_map).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = two.put(b, b_map).await;
        assert_eq!(status, 200, "{body}");
        // A recheck loads b's map again, against org B.
        let (status, body) = two.e.post(b, "/v1/intents/recheck", json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["active"], true, "{body}");

        let intents = two.e.started.api.intents();
        // The first poll learns each org's dates: Opportunity and Lead in A, Lead in B.
        let first = intents.tick().await;
        assert_eq!(
            sorted(first.described.clone()),
            ["Lead", "Lead", "Opportunity"],
            "{first:?}"
        );
        assert!(first.deactivated.is_empty(), "{first:?}");
        let calm = intents.tick().await;
        assert_eq!(calm.not_modified.len(), 3, "{calm:?}");
        assert!(calm.described.is_empty(), "{calm:?}");

        two.delete_in_b("Lead", "Demo_Date__c").await;
        let poll = intents.tick().await;
        // Only org B's Lead changed; org A answered 304 for both of its objects.
        assert_eq!(poll.described, ["Lead"], "{poll:?}");
        assert_eq!(
            sorted(poll.not_modified.clone()),
            ["Lead", "Opportunity"],
            "{poll:?}"
        );
        assert_eq!(poll.rechecked, [ws_b], "{poll:?}");
        assert_eq!(poll.deactivated, [ws_b], "{poll:?}");
        for _ in 0..2 {
            let later = intents.tick().await;
            assert!(later.deactivated.is_empty(), "{later:?}");
        }
        assert_eq!(two.alerts(ws_b).await, 1);
        assert_eq!(two.alerts(ws_a).await, 0);
        let got_b = two.active(b).await;
        assert_eq!(got_b["active"], false, "{got_b}");
        assert_eq!(
            got_b["report"]["problems"][0]["path"],
            "intents.demo_requested.writes[0].fields.Demo_Date__c",
            "{got_b}"
        );
        assert_eq!(two.active(a).await["active"], true);
        assert!(intents.active(ws_a).await.is_some());
        assert!(intents.active(ws_b).await.is_none());
    }

    /// Workspace b's connection is disconnected: its map is left active and not polled, and a
    /// new map cannot be checked (409, connect one first). A field deleted meanwhile is found
    /// once b is connected again: the map is re-checked against the new connection and
    /// deactivated with one alert.
    #[tokio::test]
    async fn a_map_waits_for_its_workspace_connection_and_is_rechecked_when_it_is_back() {
        let two = TwoOrgs::start(None).await;
        let (b, ws_b) = (two.b.as_str(), two.ws_b);
        let seed = json!({"demo_requested": "Opportunity.Demo_Requested_At__c", "qualified": "Lead.Status"});
        let (status, body) = two.put(b, seed.clone()).await;
        assert_eq!(status, 200, "{body}");
        let intents = two.e.started.api.intents();
        let first = intents.tick().await;
        assert_eq!(first.described.len(), 2, "{first:?}");

        let (_, list) = two.e.get(b, "/v1/connections").await;
        let id = list["connections"][0]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let (status, body) = two
            .e
            .send(reqwest::Method::DELETE, b, &format!("/v1/connections/{id}"))
            .await;
        assert_eq!(status, 200, "{body}");
        two.delete_in_b("Opportunity", "Demo_Requested_At__c").await;
        let poll = intents.tick().await;
        assert_eq!(poll.waiting, [ws_b], "{poll:?}");
        assert!(
            poll.described.is_empty() && poll.deactivated.is_empty(),
            "{poll:?}"
        );
        assert_eq!(two.active(b).await["active"], true);
        // Nothing can be checked against no org: a clear error, nothing stored.
        for path in ["/v1/intents/check", "/v1/intents/recheck"] {
            let (status, body) = two.e.post(b, path, seed.clone()).await;
            assert_eq!(status, 409, "{path}: {body}");
            assert_eq!(body["error"]["code"], "no_connection", "{body}");
        }
        let (status, body) = two.put(b, json!({"qualified": "Lead.Status"})).await;
        assert_eq!(status, 409, "{body}");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(
            message.contains("connect one") && message.contains("nothing was checked or stored"),
            "{message}"
        );
        assert_eq!(
            two.active(b).await["map"]["intents"]
                .as_object()
                .expect("intents")
                .len(),
            2,
            "the stored map is unchanged"
        );
        assert_eq!(two.alerts(ws_b).await, 0);

        // Connected again (a new connection, now b's default): checked against the org as it is.
        two.connect_b().await;
        let poll = intents.tick().await;
        assert!(poll.waiting.is_empty(), "{poll:?}");
        assert_eq!(poll.rechecked, [ws_b], "{poll:?}");
        assert_eq!(poll.deactivated, [ws_b], "{poll:?}");
        assert_eq!(intents.tick().await.deactivated.len(), 0);
        assert_eq!(two.alerts(ws_b).await, 1);
        assert_eq!(two.active(b).await["active"], false);
    }
}
