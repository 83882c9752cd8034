//! Intent maps, one per workspace, and the `record_intent` tool in a call: the operations
//! behind the front doors' `/v1/intents` routes ([`Intents::get_map`], [`Intents::put_map`],
//! [`Intents::check_map`], [`Intents::recheck`]; the console also checks against one chosen
//! connection, [`Intents::check_map_on`]) and the poller that keeps live maps checked.
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

use callforce_actions::{ActionError, CallSession, ErrorCode, Tool};
use callforce_client::describe::Described;
use callforce_intents::{Active, Describes, Error as IntentError, IntentMap, Recorded, Report};
use callforce_store::{Store, WorkspaceId};
use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::caller::Caller;
use crate::changes::{self, Actor};
use crate::error::{Error, Kind};
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
    /// By connection id: when this instance last checked the map against that org.
    checked_at: HashMap<String, DateTime<Utc>>,
}

impl LiveMap {
    /// Records how the map fared on connection `id`, checked now.
    fn set(&mut self, id: String, on: On) {
        self.checked_at.insert(id.clone(), Utc::now());
        self.on.insert(id, on);
    }
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

    /// Loads every stored active map ([`Intents::start`]) at once, then polls every `every`, or
    /// at once when [`Intents::wake`] is called; never returns (the task running it is aborted).
    pub async fn run_poller(&self, every: std::time::Duration) {
        self.start().await;
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = self.wake.notified() => {}
            }
            self.tick().await;
        }
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
                            m.set(id, On::Active(Arc::new(a)));
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
                    checked_at: HashMap::new(),
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
                    if !cur.on.contains_key(&id) {
                        cur.set(id.clone(), On::Active(a));
                    }
                    return match cur.on.get(&id) {
                        Some(On::Active(a)) => Outcome::Active(a.clone()),
                        _ => Outcome::Inactive,
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
                cur.set(id.to_owned(), On::Broken(Arc::new(report.clone())));
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
    /// reference. With `say`, the answer carries the sentence a voice agent reads out.
    ///
    /// # Errors
    /// An [`ActionError`] a model can act on.
    pub async fn run(
        &self,
        caller: &Caller,
        call: &mut CallSession,
        arguments: Value,
        live: &Live,
        say: bool,
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
        let mut v = match recorded {
            Recorded::Done(outcome) => serde_json::to_value(&outcome).unwrap_or_default(),
            Recorded::Queued { intent, reference } => {
                let mut v = callforce_actions::queued_result(&reference);
                v["intent"] = Value::String(intent);
                v
            }
        };
        if say {
            v["say"] = Value::String(callforce_actions::say::intent_sentence(&v));
        }
        Ok(v)
    }

    /// The connections a map of `workspace` is checked against: its default one first, then
    /// its other connected ones.
    ///
    /// # Errors
    /// The answer for a workspace without a usable default connection: connect one first.
    fn connections(&self, workspace: WorkspaceId) -> Result<Vec<Arc<Live>>, Error> {
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
    ) -> Result<Vec<(Report, Describes)>, Error> {
        let mut out = Vec::with_capacity(all.len());
        for live in all {
            let checked = callforce_intents::check_live(live.actions.connection(), map).await;
            self.registry.observe(live).await;
            out.push(checked.map_err(|e| {
                tracing::error!(error = %e, connection = %live.id(), "checking an intent map against the org");
                Error::new(
                    Kind::Upstream,
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
    /// service started) or `inactive` (the workspace has no active map); `checked_at` is when
    /// this instance last checked it against that connection's org, when it did.
    pub fn statuses(&self, workspace: WorkspaceId, stored_active: bool) -> Vec<Value> {
        let default = self.registry.get(workspace, None).ok().map(|l| l.id());
        let maps = self.maps.lock();
        let slot = maps.get(&workspace);
        self.registry
            .connected(workspace)
            .iter()
            .map(|l| {
                let id = l.id();
                let (status, report, checked_at) = match slot {
                    Some(Some(m)) => {
                        let at = m.checked_at.get(&id).copied();
                        match m.on.get(&id) {
                            Some(On::Active(_)) => ("active", None, at),
                            Some(On::Broken(r)) => ("broken", Some(report_json(r)), at),
                            None => ("unchecked", None, None),
                        }
                    }
                    Some(None) => ("inactive", None, None),
                    None if stored_active => ("unchecked", None, None),
                    None => ("inactive", None, None),
                };
                let is_default = default.as_deref() == Some(id.as_str());
                let mut v = json!({"connection": id, "default": is_default, "status": status});
                if let Some(r) = report {
                    v["report"] = r;
                }
                if let Some(at) = checked_at {
                    v["checked_at"] = json!(at);
                }
                v
            })
            .collect()
    }
}

/// A workspace without a usable connection: the map cannot be checked, so nothing is stored.
fn no_org(e: &LookupError) -> Error {
    let found = crate::registry::lookup_error(e);
    Error::new(
        found.kind,
        found.code,
        format!(
            "{e}; an intent map is checked against the workspace's org, so nothing was checked or stored"
        ),
    )
}

fn report_json(r: &Report) -> Value {
    serde_json::to_value(r).unwrap_or_default()
}

/// The reports of a check against several connections: `report` is the first that failed (the
/// default connection's first), else the first one's; `connections` has each one, marked
/// `default` when it is the workspace's default connection `default`.
fn reports_json(
    all: &[Arc<Live>],
    checked: &[(Report, Describes)],
    default: &str,
) -> (Value, Vec<Value>) {
    let first = checked.iter().position(|(r, _)| !r.ok).unwrap_or_default();
    let per = all
        .iter()
        .zip(checked)
        .map(|(l, (r, _))| {
            let id = l.id();
            let is_default = id == default;
            json!({"connection": id, "default": is_default, "ok": r.ok, "report": report_json(r)})
        })
        .collect();
    (report_json(&checked[first].0), per)
}

fn store_failed(e: &callforce_store::Error, doing: &str) -> Error {
    tracing::error!(error = %e, "{doing}: the store failed");
    Error::new(Kind::Internal, "internal", "internal error")
}

impl Intents {
    /// The workspace's map, whether it is active, its last report, and its status on each of
    /// the workspace's connections.
    ///
    /// # Errors
    /// No map (`no_intent_map`), the store failed.
    pub async fn get_map(&self, workspace: WorkspaceId) -> Result<Value, Error> {
        match self.store.intent_map(workspace).await {
            Ok(Some(s)) => {
                let map: Value = serde_json::from_str(&s.map).unwrap_or_default();
                let report = s
                    .report
                    .and_then(|r| serde_json::from_str::<Value>(&r).ok());
                let connections = self.statuses(workspace, s.active);
                Ok(
                    json!({"map": map, "active": s.active, "report": report, "updated_at": s.updated_at, "connections": connections}),
                )
            }
            Ok(None) => Err(Error::new(
                Kind::NotFound,
                "no_intent_map",
                "this workspace has no intent map; PUT one to /v1/intents",
            )),
            Err(e) => Err(store_failed(&e, "reading the intent map")),
        }
    }

    /// Checks `map` against the org of every connection of `caller`'s workspace and, only if it
    /// passes on all of them, stores it (audited) and activates it.
    ///
    /// # Errors
    /// No usable connection, an org that could not be described, a failed check
    /// (`check_failed`, with the reports in its details; the previous map stays), the store
    /// failed.
    pub async fn put_map(&self, caller: &Caller, map: IntentMap) -> Result<Value, Error> {
        let all = self.connections(caller.workspace)?;
        let checked = self.check_all(&all, &map).await?;
        let (rep, per) = reports_json(&all, &checked, &all[0].id());
        if let Some(i) = checked.iter().position(|(r, _)| !r.ok) {
            let which = if i == 0 {
                "the workspace's default connection".to_owned()
            } else {
                format!("connection {}", all[i].id())
            };
            return Err(Error::new(
                Kind::Unprocessable,
                "check_failed",
                format!(
                    "the map has {} problem(s) against the org of {which} and was not activated; the previous map stays",
                    checked[i].0.errors()
                ),
            )
            .with_details(json!({"report": rep, "connections": per})));
        }
        let text = serde_json::to_string(&map).unwrap_or_default();
        let report_text = serde_json::to_string(&checked[0].0).unwrap_or_default();
        let warnings = checked[0].0.problems.len() - checked[0].0.errors();
        let entry = changes::intents_put(
            Actor::of(caller),
            &serde_json::to_value(&map).unwrap_or_default(),
            warnings,
        );
        let now = to_ms(Utc::now());
        self.store
            .put_intent_map_audited(
                caller.workspace,
                &text,
                true,
                Some(&report_text),
                now,
                &entry,
            )
            .await
            .map_err(|e| store_failed(&e, "storing the intent map"))?;
        let mut live_map = LiveMap {
            map: Arc::new(map.clone()),
            version: now,
            on: HashMap::new(),
            checked_at: HashMap::new(),
        };
        for (live, (report, describes)) in all.iter().zip(checked) {
            match Active::from_checked(map.clone(), describes, report) {
                Ok(a) => live_map.set(live.id(), On::Active(Arc::new(a))),
                Err(e) => tracing::error!(error = %e, "activating a checked intent map"),
            }
        }
        self.maps.lock().insert(caller.workspace, Some(live_map));
        Ok(json!({"active": true, "report": rep, "connections": per}))
    }

    /// After a schema change: describes the workspace's orgs afresh and checks the active map
    /// again (the default connection decides whether it stays active).
    ///
    /// # Errors
    /// No usable connection; the default connection's org could not be described
    /// (`org_unavailable`; the map stays as it was).
    pub async fn recheck(&self, workspace: WorkspaceId) -> Result<Value, Error> {
        let all = self.connections(workspace)?;
        // Fresh describes of this workspace's orgs only.
        for live in &all {
            live.actions.connection().invalidate_describe(None);
        }
        self.maps.lock().remove(&workspace);
        // The default connection decides whether the map stays active; the others are checked
        // after it (a failure there withdraws the map from that connection only).
        for (i, live) in all.iter().enumerate() {
            match self.on(workspace, live).await {
                Outcome::Later if i == 0 => {
                    // Loaded again at the next use.
                    self.maps.lock().remove(&workspace);
                    return Err(Error::new(
                        Kind::Upstream,
                        "org_unavailable",
                        "the org could not be described; the map stays as it was; try again",
                    ));
                }
                Outcome::Inactive | Outcome::Deactivated if i == 0 => break,
                _ => {}
            }
        }
        let (active, report) = match self.store.intent_map(workspace).await {
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
        let connections = self.statuses(workspace, active);
        Ok(json!({"active": active, "report": report, "connections": connections}))
    }

    /// Checks `map` (`None`: the stored map) against the org of every connection of the
    /// workspace; nothing is stored.
    ///
    /// # Errors
    /// No map given or stored (`no_intent_map`), a stored map no longer readable, no usable
    /// connection, an org that could not be described, the store failed.
    pub async fn check_map(
        &self,
        workspace: WorkspaceId,
        map: Option<IntentMap>,
    ) -> Result<Value, Error> {
        self.check_map_on(workspace, map, None).await
    }

    /// Checks `map` (`None`: the stored map) against the org of `connection` of the workspace
    /// (`None`: every connection of the workspace, as [`Intents::check_map`]); nothing is
    /// stored. The answer has the same shape as [`Intents::check_map`]'s.
    ///
    /// # Errors
    /// As [`Intents::check_map`]; a connection that is not the workspace's
    /// (`unknown_connection`) or not connected now.
    pub async fn check_map_on(
        &self,
        workspace: WorkspaceId,
        map: Option<IntentMap>,
        connection: Option<&str>,
    ) -> Result<Value, Error> {
        let map = match map {
            Some(m) => m,
            None => match self.store.intent_map(workspace).await {
                Ok(Some(s)) => IntentMap::from_json(&s.map)
                    .map_err(|e| Error::new(Kind::Unprocessable, "invalid_map", e.to_string()))?,
                Ok(None) => {
                    return Err(Error::new(
                        Kind::NotFound,
                        "no_intent_map",
                        "send a map in the body, or PUT one to /v1/intents first",
                    ));
                }
                Err(e) => return Err(store_failed(&e, "reading the intent map")),
            },
        };
        let all = match connection {
            None => self.connections(workspace)?,
            Some(id) => vec![
                self.registry
                    .get(workspace, Some(id))
                    .map_err(|e| crate::registry::lookup_error(&e))?,
            ],
        };
        let default = self
            .registry
            .get(workspace, None)
            .map(|l| l.id())
            .unwrap_or_default();
        let checked = self.check_all(&all, &map).await?;
        let (report, per) = reports_json(&all, &checked, &default);
        Ok(json!({"report": report, "connections": per}))
    }
}
