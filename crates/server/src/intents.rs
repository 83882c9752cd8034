//! Intent maps over the agent API, one per workspace, and the `record_intent` tool in a call.
//!
//! ```text
//! GET  /v1/intents         the workspace's map, whether it is active, its last report, and its
//!                          status on each of the workspace's connections
//! PUT  /v1/intents         {map} -> checked against every connected org of the workspace;
//!                          stored and active only if it passes on all of them
//! POST /v1/intents/check   {map} (or no body: the stored map) -> the reports, nothing stored
//! POST /v1/intents/recheck  after a schema change: describe again, re-check the active map
//! POST /v1/calls/{id}/actions/record_intent   {"arguments": {"intent": ..., ...}}
//! ```
//!
//! A workspace's map is activated per connection: a call writes through its own connection (the
//! workspace's default, or the one `POST /v1/calls` named), so the map is checked against that
//! connection's org (describes cached per connection) the first time a call on it needs
//! `record_intent`, and offered there only if it passes. A workspace with no usable default
//! connection gets an error saying to connect one; nothing is checked, stored or activated. A
//! map that fails the check is refused (422 with the report) and the previous map stays active.
//! The service loads every workspace's active map when it starts ([`Intents::prepare`]) and
//! checks it against the workspace's default connection, so every live map is polled from the
//! start; it is checked again on `POST /v1/intents/recheck` (with fresh describes) and by the
//! poller ([`Intents::tick`], every `ServeConfig::intents_poll`): for each connection with live
//! maps it asks for the describe of each object they write with `If-Modified-Since`, so an
//! unchanged org costs one bodiless `304` per object, and re-checks the maps whose objects
//! changed. The `Last-Modified` dates are kept per connection, as are describe caches: a change
//! in one org re-checks only the maps checked against it. A schema error on an intent write at
//! call time (`INVALID_FIELD`...) wakes the poller at once, with full describes of that call's
//! connection.
//!
//! A map that breaks on the workspace's default connection is deactivated as a whole (the
//! `record_intent` tool disappears; partial maps would let a model write half of what the admin
//! meant) and ONE `intent_map_broken` alert goes to the alert outbox (the admin's webhook): an
//! inactive map is not polled again until it is fixed. A map that breaks on another connection
//! is withdrawn from that connection only (its calls get no `record_intent`), with one alert
//! naming the connection; it is not polled there again until a recheck or a new map. Several
//! instances on one database that find the same break alert once between them: the store
//! deactivates (and alerts) only a map still active at the version that broke, and records a
//! withdrawal's alert only if no instance recorded the same one for that version. The map of
//! a workspace whose connection is gone or needs to be connected again is left as it is, and
//! polled again once it is back (a new default connection is checked at once).
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
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::api::{Api, ApiError, Caller};
use crate::changes::{self, Actor};
use crate::registry::{Live, LookupError, Registry};

/// The alert kind recorded when a live intent map stops passing its check.
pub const KIND_INTENT_MAP_BROKEN: &str = "intent_map_broken";

/// The active intent maps of each workspace, each checked against the org of every connection
/// its calls write through.
pub struct Intents {
    store: Store,
    registry: Arc<Registry>,
    /// The map of each workspace loaded so far (`None`: it has no active map).
    maps: Mutex<HashMap<WorkspaceId, Option<LiveMap>>>,
    /// By connection id: the `Last-Modified` of each object's describe (lowercase name), as
    /// that connection's org sent it.
    seen: Mutex<HashMap<String, HashMap<String, String>>>,
    /// Connections whose next poll describes everything afresh (a write met a schema error).
    forced: Mutex<HashSet<String>>,
    wake: tokio::sync::Notify,
    /// One tick at a time, so a broken map is deactivated (and alerted) once here; across
    /// instances the store's conditional deactivation sees to it.
    ticking: tokio::sync::Mutex<()>,
}

/// A workspace's active map and how it fared on each connection it was checked against.
#[derive(Clone)]
struct LiveMap {
    map: Arc<IntentMap>,
    /// When the map was stored (to the millisecond): an alert is sent once per map, connection
    /// and set of problems.
    version: DateTime<Utc>,
    /// By connection id.
    on: HashMap<String, On>,
}

/// The map checked against one connection's org.
#[derive(Clone)]
enum On {
    /// It passed: calls on the connection are offered `record_intent`.
    Active(Arc<Active>),
    /// It failed on this connection (not the workspace's default): its calls get no
    /// `record_intent`.
    Broken(Arc<Report>),
}

/// A live map to poll on one connection.
struct Target {
    workspace: WorkspaceId,
    map: Arc<IntentMap>,
    active: Arc<Active>,
    live: Arc<Live>,
}

/// What checking a workspace's map against one connection found.
enum Outcome {
    /// It passes there (now or before).
    Active(Arc<Active>),
    /// The workspace has no active map, or the map does not pass on this connection.
    Inactive,
    /// It broke now on the workspace's default connection: the map was deactivated.
    Deactivated,
    /// It broke now on this (other) connection: withdrawn from it.
    Broken,
    /// It could not be checked now (the store or the org did not answer).
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
    /// Workspaces whose map was checked again, once per connection (and still passes, unless
    /// in `deactivated` or `broken`).
    pub rechecked: Vec<WorkspaceId>,
    /// Workspaces whose map broke on their default connection and was deactivated by this
    /// instance, with one alert each (a map another instance on the same database deactivated
    /// first is listed there, not here).
    pub deactivated: Vec<WorkspaceId>,
    /// (workspace, connection) where the map broke on a connection other than the default and
    /// was withdrawn from it, with one alert each between all the instances on the database.
    pub broken: Vec<(WorkspaceId, String)>,
    /// Workspaces with a live map but a connection that cannot be used: left as they are until
    /// it is back.
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

/// The problems of a report with errors, one line each with the fix.
fn problem_lines(report: &Report) -> Vec<String> {
    report
        .problems
        .iter()
        .filter(|p| p.severity == callforce_intents::Severity::Error)
        .map(|p| format!("{}: {} (fix: {})", p.path, p.message, p.fix))
        .collect()
}

/// `t` to the millisecond, as the store keeps it.
fn to_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

fn push_once<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

impl Intents {
    /// Intent maps kept in `store`, each checked against the connections of its workspace in
    /// `registry`.
    pub fn new(store: Store, registry: Arc<Registry>) -> Self {
        Self {
            store,
            registry,
            maps: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
            forced: Mutex::new(HashSet::new()),
            wake: tokio::sync::Notify::new(),
            ticking: tokio::sync::Mutex::new(()),
        }
    }

    /// Wakes the poller now, with full describes of `connection` (an intent write through it
    /// met a schema error).
    pub fn wake(&self, connection: &str) {
        self.forced.lock().insert(connection.to_owned());
        self.wake.notify_one();
    }

    /// Loads every stored active map ([`Intents::prepare`]) at once, then polls every `every`,
    /// or at once when [`Intents::wake`] is called, until the task is aborted.
    pub fn spawn_poller(
        api: Arc<crate::api::Api>,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let intents = api.intents();
            intents.start().await;
            loop {
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = intents.wake.notified() => {}
                }
                intents.tick().await;
            }
        })
    }

    /// At start: loads every stored active map ([`Intents::prepare`]) and checks it against
    /// every connected connection of its workspace, so that no call pays for the check (an
    /// org's describes) and a map that fails on one is alerted at once, not at a first call.
    pub async fn start(&self) {
        self.prepare(&mut Poll::default()).await;
        for (ws, id) in self.registry.ready() {
            if self.maps.lock().get(&ws).is_some_and(Option::is_some) {
                self.active(ws, Some(&id)).await;
            }
        }
    }

    /// Loads the stored active map of every workspace not loaded yet, and checks each live map
    /// against its workspace's default connection where it was not yet (at start, and when
    /// the default connection changed). A workspace whose default connection cannot be used
    /// is noted in `poll.waiting`.
    pub async fn prepare(&self, poll: &mut Poll) {
        match self.store.active_intent_map_workspaces().await {
            Ok(all) => {
                for ws in all {
                    if !self.maps.lock().contains_key(&ws) {
                        self.slot(ws).await;
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "listing the intent maps: the store failed"),
        }
        let live: Vec<WorkspaceId> = self
            .maps
            .lock()
            .iter()
            .filter_map(|(w, m)| m.as_ref().map(|_| *w))
            .collect();
        for ws in live {
            let default = match self.registry.get(ws, None) {
                Ok(l) => l,
                Err(e) => {
                    tracing::info!(workspace = %ws, reason = %e, "the intent map waits for the workspace's connection");
                    push_once(&mut poll.waiting, ws);
                    continue;
                }
            };
            let id = default.id();
            let known = {
                let mut maps = self.maps.lock();
                let Some(Some(m)) = maps.get_mut(&ws) else {
                    continue;
                };
                // A connection the map broke on became the default: check it again, and
                // deactivate the map if it still fails.
                if matches!(m.on.get(&id), Some(On::Broken(_))) {
                    m.on.remove(&id);
                }
                m.on.contains_key(&id)
            };
            if known {
                continue;
            }
            match self.on(ws, &default).await {
                Outcome::Active(_) | Outcome::Inactive | Outcome::Broken => {
                    poll.rechecked.push(ws);
                }
                Outcome::Deactivated => {
                    poll.rechecked.push(ws);
                    poll.deactivated.push(ws);
                }
                Outcome::Later => {}
            }
        }
    }

    /// One poll: loads maps not loaded yet ([`Intents::prepare`]); then for each connection
    /// with live maps, describes each object they write with `If-Modified-Since` (the date
    /// that org gave last time), re-checks the maps whose objects changed, and deactivates or
    /// withdraws (with one alert) those that broke. A connection that cannot be used is
    /// skipped; transport errors are logged and left for the next tick.
    pub async fn tick(&self) -> Poll {
        let _one = self.ticking.lock().await;
        let mut poll = Poll::default();
        self.prepare(&mut poll).await;
        let forced = std::mem::take(&mut *self.forced.lock());
        let live: Vec<(WorkspaceId, Arc<IntentMap>, String, Arc<Active>)> = self
            .maps
            .lock()
            .iter()
            .filter_map(|(w, m)| m.as_ref().map(|m| (*w, m)))
            .flat_map(|(w, m)| {
                m.on.iter().filter_map(move |(id, on)| match on {
                    On::Active(a) => Some((w, m.map.clone(), id.clone(), a.clone())),
                    On::Broken(_) => None,
                })
            })
            .collect();
        // Each live activation with its connection.
        let mut targets: Vec<Target> = Vec::new();
        for (workspace, map, id, active) in live {
            match self.registry.get(workspace, Some(&id)) {
                Ok(conn) => targets.push(Target {
                    workspace,
                    map,
                    active,
                    live: conn,
                }),
                Err(e) => {
                    tracing::info!(%workspace, connection = %id, reason = %e, "intent poller: the map waits for the connection");
                    push_once(&mut poll.waiting, workspace);
                }
            }
        }
        // The objects to describe, per connection.
        let mut per_conn: Vec<(Arc<Live>, Vec<String>)> = Vec::new();
        for Target { active, live, .. } in &targets {
            let i = match per_conn.iter().position(|(c, _)| Arc::ptr_eq(c, live)) {
                Some(i) => i,
                None => {
                    per_conn.push((live.clone(), Vec::new()));
                    per_conn.len() - 1
                }
            };
            let objects = &mut per_conn[i].1;
            for o in active.map().objects() {
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
        for Target {
            workspace,
            map,
            active,
            live,
        } in targets
        {
            let id = live.id();
            let touched = active
                .map()
                .objects()
                .iter()
                .any(|o| changed.contains(&(id.clone(), o.to_ascii_lowercase())));
            if !touched {
                continue;
            }
            let conn = live.actions.connection();
            let (report, describes) = match callforce_intents::check_live(conn, active.map()).await
            {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, %workspace, connection = %id, "intent poller: re-checking failed; trying again next time");
                    // Describe this org again next time, so the change is not missed.
                    self.seen.lock().remove(&id);
                    continue;
                }
            };
            poll.rechecked.push(workspace);
            if report.ok {
                match Active::from_checked(active.map().clone(), describes, report) {
                    Ok(a) => {
                        let mut maps = self.maps.lock();
                        // NB: a map replaced meanwhile (PUT, recheck) keeps its own check.
                        if let Some(Some(m)) = maps.get_mut(&workspace)
                            && matches!(m.on.get(&id), Some(On::Active(x)) if Arc::ptr_eq(x, &active))
                        {
                            m.on.insert(id, On::Active(Arc::new(a)));
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "re-activating a checked intent map"),
                }
                continue;
            }
            match self.broke(workspace, &map, &id, report).await {
                Outcome::Deactivated => poll.deactivated.push(workspace),
                Outcome::Broken => poll.broken.push((workspace, id)),
                _ => {}
            }
        }
        poll
    }

    /// `workspace`'s map, loading it from the store when it is not loaded yet; `None` when it
    /// has no active map (or the store failed: asked again at the next use).
    async fn slot(&self, workspace: WorkspaceId) -> Option<LiveMap> {
        if let Some(m) = self.maps.lock().get(&workspace) {
            return m.clone();
        }
        let loaded = match self.store.intent_map(workspace).await {
            Ok(Some(s)) if s.active => match IntentMap::from_json(&s.map) {
                Ok(map) => Some(LiveMap {
                    map: Arc::new(map),
                    version: to_ms(s.updated_at),
                    on: HashMap::new(),
                }),
                Err(e) => {
                    tracing::error!(target: "callforce::alert", %workspace, "stored intent map unreadable: {e}");
                    None
                }
            },
            Ok(_) => None,
            Err(e) => {
                tracing::error!(error = %e, "loading the intent map: the store failed");
                return None;
            }
        };
        // NB: a map PUT while this one loaded wins.
        self.maps.lock().entry(workspace).or_insert(loaded).clone()
    }

    /// `workspace`'s map checked against `live`'s org: the first time, the check runs (and a
    /// failure deactivates the map, or withdraws it from `live`, with one alert).
    async fn on(&self, workspace: WorkspaceId, live: &Live) -> Outcome {
        let Some(m) = self.slot(workspace).await else {
            return Outcome::Inactive;
        };
        let id = live.id();
        match m.on.get(&id) {
            Some(On::Active(a)) => return Outcome::Active(a.clone()),
            Some(On::Broken(_)) => return Outcome::Inactive,
            None => {}
        }
        let checked = Active::activate(live.actions.connection(), (*m.map).clone()).await;
        self.registry.observe(live).await;
        match checked {
            Ok(a) => {
                let a = Arc::new(a);
                let mut maps = self.maps.lock();
                if let Some(Some(cur)) = maps.get_mut(&workspace)
                    && Arc::ptr_eq(&cur.map, &m.map)
                {
                    return match cur.on.entry(id).or_insert(On::Active(a)) {
                        On::Active(a) => Outcome::Active(a.clone()),
                        On::Broken(_) => Outcome::Inactive,
                    };
                }
                // The map was replaced meanwhile: this check is of the old one.
                Outcome::Later
            }
            Err(IntentError::CheckFailed(report)) => {
                self.broke(workspace, &m.map, &id, *report).await
            }
            Err(e) => {
                tracing::error!(error = %e, %workspace, connection = %id, "checking the intent map against the connection's org; trying again at the next use");
                Outcome::Later
            }
        }
    }

    /// `map` (still `workspace`'s map) failed its check against connection `id`'s org: on the
    /// workspace's default connection the map is deactivated, on another it is withdrawn from
    /// that connection; either way with one alert, unless another task or instance already
    /// did it.
    async fn broke(
        &self,
        workspace: WorkspaceId,
        map: &Arc<IntentMap>,
        id: &str,
        report: Report,
    ) -> Outcome {
        let default = self
            .registry
            .get(workspace, None)
            .is_ok_and(|d| d.id() == id);
        let version = {
            let mut maps = self.maps.lock();
            let Some(slot) = maps.get_mut(&workspace) else {
                return Outcome::Inactive;
            };
            // NB: a map replaced meanwhile (PUT) is not the one that broke.
            let Some(cur) = slot.as_mut().filter(|c| Arc::ptr_eq(&c.map, map)) else {
                return Outcome::Inactive;
            };
            let version = cur.version;
            if default {
                *slot = None;
            } else if matches!(cur.on.get(id), Some(On::Broken(_))) {
                return Outcome::Inactive;
            } else {
                cur.on
                    .insert(id.to_owned(), On::Broken(Arc::new(report.clone())));
            }
            version
        };
        if !default {
            self.withdraw(workspace, id, &report, version).await;
            return Outcome::Broken;
        }
        if self.deactivate(workspace, id, &report, version).await {
            return Outcome::Deactivated;
        }
        // Loaded from the store again at its next use: inactive there, or the map another
        // instance stored since, or (the store failed) this one still active, which the next
        // poll checks and deactivates again.
        let mut maps = self.maps.lock();
        if matches!(maps.get(&workspace), Some(None)) {
            maps.remove(&workspace);
        }
        Outcome::Inactive
    }

    /// Marks `workspace`'s map (stored at `version`) inactive with `report` (its check against
    /// the default connection `connection`) and records one `intent_map_broken` alert listing
    /// its problems, in one transaction. Returns whether it did: `false` when the store failed,
    /// when another instance on the same database deactivated the map first (and alerted), or
    /// when the map was replaced meanwhile.
    async fn deactivate(
        &self,
        workspace: WorkspaceId,
        connection: &str,
        report: &Report,
        version: DateTime<Utc>,
    ) -> bool {
        let text = serde_json::to_string(report).unwrap_or_default();
        let now = Utc::now();
        let problems = problem_lines(report);
        let entry = changes::intents_deactivate(Actor::System, &problems);
        let alert = callforce_store::NewAlert {
            kind: KIND_INTENT_MAP_BROKEN.into(),
            details: json!({
                "message": "the intent map no longer passes its check against the workspace's default connection and was deactivated; fix it and PUT it to /v1/intents",
                "connection_id": connection,
                "default": true,
                "problems": problems,
            }),
        };
        let done = self
            .store
            .deactivate_intent_map(workspace, version, &text, now, &entry, &alert)
            .await;
        match &done {
            Ok(false) => {
                tracing::info!(%workspace, %connection, "the broken intent map was already deactivated or replaced (by another instance)");
            }
            Ok(true) | Err(_) => {
                for p in &report.problems {
                    tracing::error!(
                        target: "callforce::alert", %workspace, %connection, path = %p.path, fix = %p.fix,
                        "live intent map broken by a change in the org: {}", p.message
                    );
                }
            }
        }
        done.unwrap_or_else(|e| {
            tracing::error!(error = %e, "deactivating the intent map: the store failed; checked again at the next poll");
            false
        })
    }

    /// Records one `intent_map_broken` alert naming `connection`, where the map (stored at
    /// `version`) no longer passes its check: none if the map is no longer the active one, or
    /// if the same problems on the same connection were already alerted for this map (by this
    /// process before a restart, or by another instance at the same moment).
    async fn withdraw(
        &self,
        workspace: WorkspaceId,
        connection: &str,
        report: &Report,
        version: DateTime<Utc>,
    ) {
        let problems = problem_lines(report);
        let alert = callforce_store::NewAlert {
            kind: KIND_INTENT_MAP_BROKEN.into(),
            details: json!({
                "message": format!("the intent map does not pass its check against the org of connection {connection}, so calls on that connection get no record_intent (the other connections keep it); fix the org or the map, then POST /v1/intents/recheck or PUT the map"),
                "connection_id": connection,
                "default": false,
                "problems": problems,
            }),
        };
        let done = self
            .store
            .alert_intent_map_once(workspace, version, &alert, Utc::now())
            .await;
        match &done {
            Ok(false) => {
                tracing::info!(%workspace, %connection, "the intent map is withdrawn from this connection; its problems were alerted already");
            }
            Ok(true) | Err(_) => {
                for p in &report.problems {
                    tracing::error!(
                        target: "callforce::alert", %workspace, %connection, path = %p.path, fix = %p.fix,
                        "the intent map does not fit this connection's org; its calls get no record_intent: {}", p.message
                    );
                }
            }
        }
        if let Err(e) = done {
            tracing::error!(error = %e, "recording the intent map alert: the store failed");
        }
    }

    /// The active map of `workspace` for a call on `connection` (`None`: the workspace's
    /// default), checked against that connection's org at first use.
    pub async fn active(
        &self,
        workspace: WorkspaceId,
        connection: Option<&str>,
    ) -> Option<Arc<Active>> {
        let live = self.registry.get(workspace, connection).ok()?;
        match self.on(workspace, &live).await {
            Outcome::Active(a) => Some(a),
            _ => None,
        }
    }

    /// The `record_intent` tool for a call of `workspace` on `connection` (`None`: the default
    /// one), when the map is active there.
    pub async fn tool(&self, workspace: WorkspaceId, connection: Option<&str>) -> Option<Tool> {
        self.active(workspace, connection).await.map(|a| a.tool())
    }

    /// Runs `record_intent` with `arguments` in `call`, writing through `live` (the call's
    /// connection, with its write pipeline); the records written are remembered in the call
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
        live: &Live,
    ) -> Result<Value, ActionError> {
        let active = match self.on(caller.workspace, live).await {
            Outcome::Active(a) => a,
            Outcome::Later => {
                return Err(ActionError::new(
                    ErrorCode::Unavailable,
                    "the intent map could not be checked against this call's org just now; try again in a moment",
                ));
            }
            _ if self.slot(caller.workspace).await.is_none() => {
                return Err(ActionError::new(
                    ErrorCode::NotAvailable,
                    "no intent map is active in this workspace; PUT one to /v1/intents",
                ));
            }
            _ => {
                return Err(ActionError::new(
                    ErrorCode::NotAvailable,
                    format!(
                        "the workspace's intent map is not active on this call's connection ({}): it does not pass its check against that org (GET /v1/intents shows why)",
                        live.id()
                    ),
                ));
            }
        };
        let recorded = active
            .record(&live.actions, call, &arguments, Utc::now())
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
                    tracing::warn!(workspace = %caller.workspace, connection = %live.id(), "an intent write met a schema error: re-checking the map now");
                    self.wake(&live.id());
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

    /// The connections a map of `workspace` is checked against: its default one first, then
    /// its other connected ones.
    ///
    /// # Errors
    /// The answer for a workspace without a usable default connection: connect one first.
    fn connections(&self, workspace: WorkspaceId) -> Result<Vec<Arc<Live>>, ApiError> {
        let default = self.registry.get(workspace, None).map_err(|e| no_org(&e))?;
        let id = default.id();
        let mut all = vec![default];
        all.extend(
            self.registry
                .connected(workspace)
                .into_iter()
                .filter(|l| l.id() != id),
        );
        Ok(all)
    }

    /// Checks `map` against the org of each of `all`.
    ///
    /// # Errors
    /// 502 naming the connection whose org could not be described.
    async fn check_all(
        &self,
        all: &[Arc<Live>],
        map: &IntentMap,
    ) -> Result<Vec<(Report, Describes)>, ApiError> {
        let mut out = Vec::with_capacity(all.len());
        for live in all {
            let checked = callforce_intents::check_live(live.actions.connection(), map).await;
            self.registry.observe(live).await;
            out.push(checked.map_err(|e| {
                tracing::error!(error = %e, connection = %live.id(), "checking an intent map against the org");
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "org_unavailable",
                    format!(
                        "the org of connection {} could not be described; try again",
                        live.id()
                    ),
                )
            })?);
        }
        Ok(out)
    }

    /// How `workspace`'s map stands on each of its connections (for `GET /v1/intents`):
    /// `active`, `broken` (with the report), `unchecked` (no call on it needed the map since the
    /// service started) or `inactive` (the workspace has no active map).
    fn statuses(&self, workspace: WorkspaceId, stored_active: bool) -> Vec<Value> {
        let default = self.registry.get(workspace, None).ok().map(|l| l.id());
        let maps = self.maps.lock();
        let slot = maps.get(&workspace);
        self.registry
            .connected(workspace)
            .iter()
            .map(|l| {
                let id = l.id();
                let (status, report) = match slot {
                    Some(Some(m)) => match m.on.get(&id) {
                        Some(On::Active(_)) => ("active", None),
                        Some(On::Broken(r)) => ("broken", Some(report_json(r))),
                        None => ("unchecked", None),
                    },
                    Some(None) => ("inactive", None),
                    None if stored_active => ("unchecked", None),
                    None => ("inactive", None),
                };
                let is_default = default.as_deref() == Some(id.as_str());
                let mut v = json!({"connection": id, "default": is_default, "status": status});
                if let Some(r) = report {
                    v["report"] = r;
                }
                v
            })
            .collect()
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

/// The reports of a check against several connections: `report` is the first that failed (the
/// default connection's first), else the default connection's; `connections` has each one.
fn reports_json(all: &[Arc<Live>], checked: &[(Report, Describes)]) -> (Value, Vec<Value>) {
    let first = checked.iter().position(|(r, _)| !r.ok).unwrap_or_default();
    let per = all
        .iter()
        .zip(checked)
        .enumerate()
        .map(|(i, (l, (r, _)))| {
            json!({"connection": l.id(), "default": i == 0, "ok": r.ok, "report": report_json(r)})
        })
        .collect();
    (report_json(&checked[first].0), per)
}

async fn get_map(State(api): State<Arc<Api>>, Extension(caller): Extension<Caller>) -> Response {
    let intents = api.intents();
    match intents.store.intent_map(caller.workspace).await {
        Ok(Some(s)) => {
            let map: Value = serde_json::from_str(&s.map).unwrap_or_default();
            let report = s
                .report
                .and_then(|r| serde_json::from_str::<Value>(&r).ok());
            let connections = intents.statuses(caller.workspace, s.active);
            Json(json!({"map": map, "active": s.active, "report": report, "updated_at": s.updated_at, "connections": connections}))
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
    let all = match intents.connections(caller.workspace) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    let checked = match intents.check_all(&all, &map).await {
        Ok(x) => x,
        Err(e) => return e.into_response(),
    };
    let (rep, per) = reports_json(&all, &checked);
    if let Some(i) = checked.iter().position(|(r, _)| !r.ok) {
        let which = if i == 0 {
            "the workspace's default connection".to_owned()
        } else {
            format!("connection {}", all[i].id())
        };
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "error": {"code": "check_failed", "message": format!(
                    "the map has {} problem(s) against the org of {which} and was not activated; the previous map stays", checked[i].0.errors())},
                "report": rep,
                "connections": per,
            })),
        )
            .into_response();
    }
    let text = serde_json::to_string(&map).unwrap_or_default();
    let report_text = serde_json::to_string(&checked[0].0).unwrap_or_default();
    let warnings = checked[0].0.problems.len() - checked[0].0.errors();
    let entry = changes::intents_put(
        Actor::of(&caller),
        &serde_json::to_value(&map).unwrap_or_default(),
        warnings,
    );
    let now = to_ms(Utc::now());
    if let Err(e) = intents
        .store
        .put_intent_map_audited(
            caller.workspace,
            &text,
            true,
            Some(&report_text),
            now,
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
    let mut on = HashMap::new();
    for (live, (report, describes)) in all.iter().zip(checked) {
        match Active::from_checked(map.clone(), describes, report) {
            Ok(a) => {
                on.insert(live.id(), On::Active(Arc::new(a)));
            }
            Err(e) => tracing::error!(error = %e, "activating a checked intent map"),
        }
    }
    intents.maps.lock().insert(
        caller.workspace,
        Some(LiveMap {
            map: Arc::new(map),
            version: now,
            on,
        }),
    );
    Json(json!({"active": true, "report": rep, "connections": per})).into_response()
}

async fn recheck_map(
    State(api): State<Arc<Api>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let intents = api.intents();
    let all = match intents.connections(caller.workspace) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    // Fresh describes of this workspace's orgs only.
    for live in &all {
        live.actions.connection().invalidate_describe(None);
    }
    intents.maps.lock().remove(&caller.workspace);
    // The default connection decides whether the map stays active; the others are checked
    // after it (a failure there withdraws the map from that connection only).
    for (i, live) in all.iter().enumerate() {
        match intents.on(caller.workspace, live).await {
            Outcome::Later if i == 0 => {
                // Loaded again at the next use.
                intents.maps.lock().remove(&caller.workspace);
                return error(
                    StatusCode::BAD_GATEWAY,
                    "org_unavailable",
                    "the org could not be described; the map stays as it was; try again",
                );
            }
            Outcome::Inactive | Outcome::Deactivated if i == 0 => break,
            _ => {}
        }
    }
    let (active, report) = match intents.store.intent_map(caller.workspace).await {
        Ok(Some(s)) => (
            s.active,
            s.report
                .and_then(|r| serde_json::from_str::<Value>(&r).ok()),
        ),
        Ok(None) => (false, None),
        Err(e) => {
            tracing::error!(error = %e, "reading the intent map: the store failed");
            (false, None)
        }
    };
    let connections = intents.statuses(caller.workspace, active);
    Json(json!({"active": active, "report": report, "connections": connections})).into_response()
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
    let all = match intents.connections(caller.workspace) {
        Ok(l) => l,
        Err(e) => return e.into_response(),
    };
    match intents.check_all(&all, &map).await {
        Ok(checked) => {
            let (report, per) = reports_json(&all, &checked);
            Json(json!({"report": report, "connections": per})).into_response()
        }
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
        /// The PostgreSQL database the service keeps its state in (else SQLite).
        database_url: Option<String>,
        _schema: tempfile::TempDir,
    }

    impl TwoOrgs {
        async fn start(b_schema: Option<serde_json::Value>) -> Self {
            Self::start_on(b_schema, None).await
        }

        /// As [`TwoOrgs::start`], the service's state in the PostgreSQL of `database_url` when
        /// given.
        async fn start_on(
            b_schema: Option<serde_json::Value>,
            database_url: Option<String>,
        ) -> Self {
            let schema = tempfile::tempdir().expect("tempdir");
            let mut org = callforce_devorg::Config::default();
            if let Some(s) = b_schema {
                let file = schema.path().join("schema.json");
                std::fs::write(&file, s.to_string()).expect("schema file");
                org.schema_file = Some(file);
                org.seed = callforce_devorg::Seed::None;
            }
            let url = database_url.clone();
            let e = crate::connect_tests::env_with(org, |c| {
                // The tests drive the poller's tick themselves.
                c.intents_poll = std::time::Duration::from_secs(3600);
                c.database_url = url;
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
                database_url,
                _schema: schema,
            };
            two.connect_b().await;
            two
        }

        /// Connects workspace b to its org; the connection's id.
        async fn connect_b(&self) -> String {
            self.connect_to_b(&self.b).await
        }

        /// Connects the workspace of `key` to org B; the connection's id.
        async fn connect_to_b(&self, key: &str) -> String {
            let (status, c) = self
                .e
                .post(
                    key,
                    "/v1/connections",
                    json!({"kind": "client_credentials"}),
                )
                .await;
            assert_eq!(status, 201, "{c}");
            c["id"].as_str().expect("id").to_owned()
        }

        /// A second `Api` over the same store and connections, as a restarted service has:
        /// nothing loaded yet.
        fn fresh_api(&self) -> crate::api::Api {
            let started = &self.e.started;
            crate::api::Api::new(
                started.registry.clone(),
                started.api.store().clone(),
                None,
                started.workspace,
            )
        }

        /// Another instance on the same database: an `Api` over a second store opened on it
        /// (its own pool), with nothing loaded yet.
        async fn other_instance(&self) -> crate::api::Api {
            let store = match &self.database_url {
                Some(url) => callforce_store::Store::open(url).await,
                None => {
                    callforce_store::Store::open_sqlite(&self.e.dir.path().join("callforce.db"))
                        .await
                }
            }
            .expect("a second store on the database");
            let started = &self.e.started;
            crate::api::Api::new(started.registry.clone(), store, None, started.workspace)
        }

        /// The `config.intents.deactivate` entries in `ws`'s audit log.
        async fn deactivations(&self, ws: callforce_store::WorkspaceId) -> usize {
            let filter = callforce_store::AuditFilter {
                kind_prefix: Some("config.intents.deactivate".into()),
                ..Default::default()
            };
            self.e
                .started
                .api
                .store()
                .list_audit(ws, &filter)
                .await
                .expect("audit")
                .len()
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
            self.broken_alerts(ws).await.len()
        }

        async fn broken_alerts(
            &self,
            ws: callforce_store::WorkspaceId,
        ) -> Vec<callforce_store::Alert> {
            self.e
                .started
                .api
                .store()
                .list_alerts(ws, 100)
                .await
                .expect("alerts")
                .into_iter()
                .filter(|a| a.kind == super::KIND_INTENT_MAP_BROKEN)
                .collect()
        }

        /// Whether `GET /v1/tools` (for a call on `connection`, if given) offers `record_intent`.
        async fn offers(&self, key: &str, connection: Option<&str>) -> bool {
            let path = match connection {
                Some(c) => format!("/v1/tools?connection={c}"),
                None => "/v1/tools".to_owned(),
            };
            let (status, tools) = self.e.get(key, &path).await;
            assert_eq!(status, 200, "{tools}");
            tools["tools"]
                .as_array()
                .expect("tools")
                .iter()
                .any(|t| t["name"] == "record_intent")
        }

        /// Starts a call (on `connection`, if given), finds the Northwind opportunity and records
        /// `demo_requested`: the answer of `record_intent`.
        async fn demo_requested(
            &self,
            key: &str,
            connection: Option<&str>,
        ) -> (u16, serde_json::Value) {
            let mut start = json!({});
            if let Some(c) = connection {
                start["connection"] = json!(c);
            }
            let (status, call) = self.e.post(key, "/v1/calls", start).await;
            assert_eq!(status, 201, "{call}");
            let id = call["call_id"].as_str().expect("id").to_owned();
            let path = |name: &str| format!("/v1/calls/{id}/actions/{name}");
            let (status, body) = self
                .e
                .post(
                    key,
                    &path("search_opportunity"),
                    json!({"arguments": {"search_term": "Northwind - Chat Agent"}}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            let (status, body) = self
                .e
                .post(
                    key,
                    &path("record_intent"),
                    json!({"arguments": {"intent": "demo_requested"}}),
                )
                .await;
            (status.as_u16(), body)
        }

        /// `Demo_Requested_At__c` of the Northwind opportunity in org B.
        async fn stamp_in_b(&self) -> serde_json::Value {
            let org = &self.e.org.org;
            let found: serde_json::Value = self
                .e
                .http
                .get(format!("{}/services/data/v59.0/query", org.instance_url()))
                .bearer_auth(org.dev_access_token())
                .query(&[(
                    "q",
                    "SELECT Demo_Requested_At__c FROM Opportunity WHERE Name = 'Northwind - Chat Agent'",
                )])
                .send()
                .await
                .expect("query")
                .json()
                .await
                .expect("json");
            found["records"][0]["Demo_Requested_At__c"].clone()
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
        assert!(intents.active(ws_a, None).await.is_some());
        assert!(intents.active(ws_b, None).await.is_none());
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

    /// Workspace a has two connections: its default on org A and `c` on org B (both the demo
    /// schema). A call on `c` gets the map checked against org B and writes there; a field
    /// deleted in org B withdraws the map from `c` only (one alert naming `c`, the reason in
    /// `GET /v1/intents`), while calls on the default keep `record_intent`. A restarted
    /// service checks `c` again at its first use without a second alert, and a map that fails
    /// on `c` is refused by `PUT`.
    /// MCP names a call's connection with `X-Connection` (or `_meta`): the tools listed and
    /// the writes follow it, and an open call keeps the connection it started on.
    #[tokio::test]
    async fn an_mcp_call_runs_on_the_connection_it_names() {
        let two = TwoOrgs::start(None).await;
        let a = two.a();
        let c = two.connect_to_b(a).await;
        let map = json!({"demo_requested": "Opportunity.Demo_Requested_At__c"});
        let (status, body) = two.put(a, map).await;
        assert_eq!(status, 200, "{body}");
        let rpc = |call: &str, connection: Option<&str>, body: serde_json::Value| {
            let mut r = two
                .e
                .http
                .post(format!("{}/mcp", two.e.base))
                .bearer_auth(a)
                .header("accept", "application/json, text/event-stream")
                .header("x-call-id", call);
            if let Some(c) = connection {
                r = r.header("x-connection", c);
            }
            async move {
                r.json(&body)
                    .send()
                    .await
                    .expect("send")
                    .json::<serde_json::Value>()
                    .await
                    .expect("json")
            }
        };
        let tool = |id: u64, name: &str, args: serde_json::Value| {
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                   "params": {"name": name, "arguments": args}})
        };
        let listed = rpc(
            "mcp-b",
            Some(&c),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        )
        .await;
        assert!(
            listed["result"]["tools"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t["name"] == "record_intent")),
            "{listed}"
        );

        // A call on c writes into org B.
        let before = two.stamp_in_b().await;
        let found = rpc(
            "mcp-b",
            Some(&c),
            tool(
                2,
                "search_opportunity",
                json!({"search_term": "Northwind - Chat Agent"}),
            ),
        )
        .await;
        assert_ne!(found["result"]["isError"], true, "{found}");
        let recorded = rpc(
            "mcp-b",
            Some(&c),
            tool(3, "record_intent", json!({"intent": "demo_requested"})),
        )
        .await;
        assert_ne!(recorded["result"]["isError"], true, "{recorded}");
        let after = two.stamp_in_b().await;
        assert!(after.is_string() && after != before, "{before} -> {after}");

        // A call started on the default connection cannot move to c, nor c's call back.
        let started = rpc(
            "mcp-a",
            None,
            tool(4, "search_opportunity", json!({"search_term": "Northwind"})),
        )
        .await;
        assert_ne!(started["result"]["isError"], true, "{started}");
        let moved = rpc(
            "mcp-a",
            Some(&c),
            tool(5, "search_opportunity", json!({"search_term": "Northwind"})),
        )
        .await;
        assert_eq!(moved["error"]["code"], -32602, "{moved}");
        assert!(
            moved["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("keeps the connection")),
            "{moved}"
        );
        let unknown = rpc(
            "mcp-x",
            Some("con_nope"),
            json!({"jsonrpc": "2.0", "id": 6, "method": "tools/list"}),
        )
        .await;
        assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    }

    #[tokio::test]
    async fn a_call_on_another_connection_gets_the_map_checked_against_its_org() {
        let two = TwoOrgs::start(None).await;
        let (a, ws_a) = (two.a(), two.ws_a());
        let c = two.connect_to_b(a).await;
        let map = json!({"demo_requested": "Opportunity.Demo_Requested_At__c", "qualified": "Lead.Status"});
        let (status, body) = two.put(a, map.clone()).await;
        assert_eq!(status, 200, "{body}");
        let per = body["connections"].as_array().expect("connections");
        assert_eq!(per.len(), 2, "{body}");
        assert_eq!(
            (&per[0]["default"], &per[0]["ok"]),
            (&json!(true), &json!(true))
        );
        assert_eq!(
            (&per[1]["connection"], &per[1]["ok"]),
            (&json!(c), &json!(true))
        );

        // A call on c writes through c, into org B.
        let before = two.stamp_in_b().await;
        assert!(two.offers(a, Some(&c)).await);
        let (status, body) = two.demo_requested(a, Some(&c)).await;
        assert_eq!(status, 200, "{body}");
        let after = two.stamp_in_b().await;
        assert!(after.is_string() && after != before, "{before} -> {after}");

        let intents = two.e.started.api.intents();
        let first = intents.tick().await;
        assert_eq!(
            sorted(first.described.clone()),
            ["Lead", "Lead", "Opportunity", "Opportunity"],
            "both connections are polled: {first:?}"
        );
        two.delete_in_b("Opportunity", "Demo_Requested_At__c").await;
        let poll = intents.tick().await;
        assert_eq!(poll.described, ["Opportunity"], "{poll:?}");
        assert_eq!(poll.rechecked, [ws_a], "{poll:?}");
        assert_eq!(poll.broken, [(ws_a, c.clone())], "{poll:?}");
        assert!(poll.deactivated.is_empty(), "{poll:?}");
        for _ in 0..2 {
            let later = intents.tick().await;
            assert!(
                later.broken.is_empty() && later.rechecked.is_empty(),
                "{later:?}"
            );
        }
        let alerts = two.broken_alerts(ws_a).await;
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].details["connection_id"], json!(c));
        assert!(
            alerts[0].details["problems"]
                .to_string()
                .contains("Demo_Requested_At__c"),
            "{:?}",
            alerts[0].details
        );

        // The map stays active on the default; GET /v1/intents says why c has none.
        let got = two.active(a).await;
        assert_eq!(got["active"], true, "{got}");
        let per = got["connections"].as_array().expect("connections");
        assert_eq!(
            (&per[0]["default"], &per[0]["status"]),
            (&json!(true), &json!("active")),
            "{got}"
        );
        assert_eq!(
            (&per[1]["connection"], &per[1]["status"]),
            (&json!(c), &json!("broken")),
            "{got}"
        );
        assert_eq!(
            per[1]["report"]["problems"][0]["path"],
            "intents.demo_requested.writes[0].fields.Demo_Requested_At__c",
            "{got}"
        );
        assert!(!two.offers(a, Some(&c)).await);
        assert!(two.offers(a, None).await);
        let (status, body) = two.demo_requested(a, Some(&c)).await;
        assert_eq!(body["error"]["code"], "not_available", "{status} {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(&c)),
            "{body}"
        );
        let (status, body) = two.demo_requested(a, None).await;
        assert_eq!(status, 200, "a call on the default still records: {body}");
        let (status, body) = two.e.get(a, "/v1/tools?connection=con_nope").await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["error"]["code"], "unknown_connection", "{body}");

        // After a restart, c's first use checks it again: no tool, and no second alert.
        let fresh = two.fresh_api();
        assert!(fresh.intents().active(ws_a, Some(&c)).await.is_none());
        assert!(fresh.intents().active(ws_a, None).await.is_some());
        assert_eq!(two.alerts(ws_a).await, 1);

        // A map that fails on any connected org of the workspace is refused, naming it.
        let (status, body) = two.put(a, map).await;
        assert_eq!(status, 422, "{body}");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(message.contains(&format!("connection {c}")), "{message}");
        assert_eq!(
            body["report"]["problems"][0]["code"], "unknown_field",
            "{body}"
        );
        assert_eq!(body["connections"][0]["ok"], true, "{body}");
        assert_eq!(body["connections"][1]["ok"], false, "{body}");
        // And the check endpoint tells the same, per connection, storing nothing.
        let (status, body) = two
            .e
            .post(a, "/v1/intents/check", json!({"qualified": "Lead.Status", "demo_requested": "Opportunity.Demo_Requested_At__c"}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["report"]["ok"], false, "{body}");
        assert_eq!(body["connections"][1]["connection"], json!(c), "{body}");
        let (status, body) = two.put(a, json!({"qualified": "Lead.Status"})).await;
        assert_eq!(status, 200, "a map that fits both orgs: {body}");
        assert!(two.offers(a, Some(&c)).await);
    }

    /// A restarted service (a fresh `Api` over the same store) polls workspace b's map from its
    /// first tick, before any call used it, and a field deleted in b's org deactivates it with
    /// one alert.
    /// At start the map is checked on every connected connection, not only the default one,
    /// so the first call on another connection does not wait for that org's describes.
    #[tokio::test]
    async fn at_start_the_map_is_checked_on_every_connected_connection() {
        let two = TwoOrgs::start(None).await;
        let (a, ws_a) = (two.a(), two.ws_a());
        let c = two.connect_to_b(a).await;
        let (status, body) = two
            .put(
                a,
                json!({"demo_requested": "Opportunity.Demo_Requested_At__c"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let on_c = |intents: &super::Intents| {
            intents
                .statuses(ws_a, true)
                .into_iter()
                .find(|s| s["connection"] == json!(c))
                .map(|s| s["status"].clone())
        };

        let restarted = two.fresh_api();
        let intents = restarted.intents();
        intents.prepare(&mut super::Poll::default()).await;
        assert_eq!(on_c(intents), Some(json!("unchecked")), "the default only");
        let restarted = two.fresh_api();
        let intents = restarted.intents();
        intents.start().await;
        assert_eq!(on_c(intents), Some(json!("active")));
    }

    #[tokio::test]
    async fn a_restarted_service_polls_every_workspace_map_from_the_start() {
        let two = TwoOrgs::start(None).await;
        let (b, ws_b) = (two.b.as_str(), two.ws_b);
        let (status, body) = two
            .put(b, json!({"demo_requested": "Opportunity.Demo_Requested_At__c", "qualified": "Lead.Status"}))
            .await;
        assert_eq!(status, 200, "{body}");

        let fresh = two.fresh_api();
        let intents = fresh.intents();
        let first = intents.tick().await;
        // Loaded and checked (then checked again with the describes its first poll fetched).
        assert_eq!(first.rechecked, [ws_b, ws_b], "{first:?}");
        assert_eq!(
            sorted(first.described.clone()),
            ["Lead", "Opportunity"],
            "{first:?}"
        );
        assert!(
            first.deactivated.is_empty() && first.waiting.is_empty(),
            "{first:?}"
        );
        let calm = intents.tick().await;
        assert_eq!(calm.not_modified.len(), 2, "{calm:?}");

        two.delete_in_b("Lead", "Status").await;
        let poll = intents.tick().await;
        assert_eq!(poll.described, ["Lead"], "{poll:?}");
        assert_eq!(poll.deactivated, [ws_b], "{poll:?}");
        assert!(poll.broken.is_empty(), "{poll:?}");
        assert!(intents.tick().await.deactivated.is_empty());
        let alerts = two.broken_alerts(ws_b).await;
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].details["default"], true);
        let got = two.active(b).await;
        assert_eq!(got["active"], false, "{got}");
        assert_eq!(
            got["report"]["problems"][0]["path"], "intents.qualified.writes[0].fields.Status",
            "{got}"
        );
    }

    /// Two instances on one database poll workspace b's map at the same moment after a field
    /// it writes was deleted in org B: both find it broken, one deactivates it, and the admin
    /// gets exactly one alert (and the audit log one deactivation).
    async fn instances_finding_a_map_broken_at_once_alert_once(database_url: Option<String>) {
        let two = TwoOrgs::start_on(None, database_url).await;
        let (b, ws_b) = (two.b.as_str(), two.ws_b);
        let (status, body) = two
            .put(b, json!({"demo_requested": "Opportunity.Demo_Requested_At__c", "qualified": "Lead.Status"}))
            .await;
        assert_eq!(status, 200, "{body}");
        let other = two.other_instance().await;
        let (one, other) = (two.e.started.api.intents(), other.intents());
        // Each learns the describes' dates (the other instance loads the map from the store).
        for intents in [one, other] {
            let first = intents.tick().await;
            assert!(first.deactivated.is_empty(), "{first:?}");
            assert!(intents.active(ws_b, None).await.is_some());
        }

        two.delete_in_b("Opportunity", "Demo_Requested_At__c").await;
        let (p1, p2) = tokio::join!(one.tick(), other.tick());
        assert_eq!(p1.rechecked, [ws_b], "both re-checked it: {p1:?}");
        assert_eq!(p2.rechecked, [ws_b], "both re-checked it: {p2:?}");
        let mut deactivated = p1.deactivated.clone();
        deactivated.extend(p2.deactivated.iter().copied());
        assert_eq!(deactivated, [ws_b], "one deactivated it: {p1:?} {p2:?}");
        for intents in [one, other] {
            assert!(intents.tick().await.deactivated.is_empty());
            assert!(intents.active(ws_b, None).await.is_none());
        }
        let alerts = two.broken_alerts(ws_b).await;
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].details["default"], true);
        assert_eq!(two.deactivations(ws_b).await, 1);
        let got = two.active(b).await;
        assert_eq!(got["active"], false, "{got}");
        assert!(!two.offers(b, None).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn instances_finding_a_map_broken_at_once_alert_once_on_sqlite() {
        instances_finding_a_map_broken_at_once_alert_once(None).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn instances_finding_a_map_broken_at_once_alert_once_on_postgres() {
        let test = "instances_finding_a_map_broken_at_once_alert_once_on_postgres";
        let schema = callforce_testkit::PgSchema::for_test(test).await;
        if let Some(schema) = schema.expect("schema") {
            instances_finding_a_map_broken_at_once_alert_once(Some(schema.url())).await;
        }
    }

    /// Two instances on one database poll workspace a's map at the same moment after a field
    /// was deleted in the org of its other connection `c`: both withdraw the map from `c`,
    /// the admin gets exactly one alert naming `c`, and the map stays active on the default.
    async fn instances_withdrawing_a_map_at_once_alert_once(database_url: Option<String>) {
        let two = TwoOrgs::start_on(None, database_url).await;
        let (a, ws_a) = (two.a(), two.ws_a());
        let c = two.connect_to_b(a).await;
        let (status, body) = two
            .put(a, json!({"demo_requested": "Opportunity.Demo_Requested_At__c", "qualified": "Lead.Status"}))
            .await;
        assert_eq!(status, 200, "{body}");
        let other = two.other_instance().await;
        let (one, other) = (two.e.started.api.intents(), other.intents());
        // The other instance checks c at a call's first use there.
        assert!(other.active(ws_a, Some(&c)).await.is_some());
        for intents in [one, other] {
            let first = intents.tick().await;
            assert!(first.broken.is_empty(), "{first:?}");
        }

        two.delete_in_b("Opportunity", "Demo_Requested_At__c").await;
        let (p1, p2) = tokio::join!(one.tick(), other.tick());
        for p in [&p1, &p2] {
            assert_eq!(p.broken, [(ws_a, c.clone())], "{p:?}");
            assert!(p.deactivated.is_empty(), "{p:?}");
        }
        for intents in [one, other] {
            assert!(intents.tick().await.broken.is_empty());
            assert!(intents.active(ws_a, Some(&c)).await.is_none());
            assert!(intents.active(ws_a, None).await.is_some());
        }
        let alerts = two.broken_alerts(ws_a).await;
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].details["connection_id"], json!(c));
        assert_eq!(alerts[0].details["default"], false);
        assert_eq!(two.active(a).await["active"], true);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn instances_withdrawing_a_map_at_once_alert_once_on_sqlite() {
        instances_withdrawing_a_map_at_once_alert_once(None).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn instances_withdrawing_a_map_at_once_alert_once_on_postgres() {
        let test = "instances_withdrawing_a_map_at_once_alert_once_on_postgres";
        let schema = callforce_testkit::PgSchema::for_test(test).await;
        if let Some(schema) = schema.expect("schema") {
            instances_withdrawing_a_map_at_once_alert_once(Some(schema.url())).await;
        }
    }
}
