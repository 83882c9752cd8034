//! The operations log: every action run in a call (reads too), recorded off the hot path, and
//! what the console asks of it (the calls, one call's timeline, the last hour's activity).
//!
//! The design decision a newcomer must know: **recording never waits on the database.**
//! [`App::run_action`](crate::App::run_action) hands each finished action to an
//! [`OperationsLog`]: the record is built (the arguments and the answer cloned, nothing
//! serialised) and put on a bounded channel with `try_send`. When the channel is full the
//! operation is dropped and counted (`callforce_operations_dropped_total{reason="full"}`, and a
//! warning at most once a minute) rather than slowing the call. A background writer
//! ([`run_writer`]) takes up to [`OperationsSettings::batch`] records at a time, or what came
//! within [`OperationsSettings::flush_every`], redacts the values of the workspace's sensitive
//! fields (read from the store once per batch and workspace, so every instance sees a change at
//! once), compacts arguments and answers to [`MAX_JSON_BYTES`] and inserts the batch in one
//! transaction. Operations still in the channel when the service stops are lost.
//!
//! The round trips an action made to Salesforce are not recorded: the connection's counter is
//! shared by every call running on it at the same time, so a per-call difference would not be
//! exact.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use callforce_actions::{ActionError, CallSession, Clock, ErrorCode};
use callforce_store::{
    ActivityBucket, CallFilter, CallSummary, Expired, NewOperation, Operation, Store, WorkspaceId,
};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::caller::Caller;
use crate::error::{Error, Kind};

/// The most bytes of JSON kept of an action's arguments or answer; a longer one is kept as
/// `{"truncated": true, "bytes": n, "text": "<its first bytes>"}`.
pub const MAX_JSON_BYTES: usize = 8 * 1024;

/// What replaces the value of a sensitive field.
pub const REDACTED: &str = "[redacted]";

/// The most sensitive field names a workspace may set, and the longest name.
const MAX_SENSITIVE_FIELDS: usize = 200;
const MAX_FIELD_NAME: usize = 255;

/// How the operations log is kept.
#[derive(Debug, Clone)]
pub struct OperationsSettings {
    /// Operations waiting for the writer before new ones are dropped (10,000).
    pub capacity: usize,
    /// The most operations inserted in one transaction (200).
    pub batch: usize,
    /// How long the writer waits for a batch to fill (200 ms).
    pub flush_every: Duration,
    /// How long operations are kept (30 days).
    pub retention: Duration,
    /// How often older operations are deleted (hourly).
    pub sweep_every: Duration,
}

impl Default for OperationsSettings {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            batch: 200,
            flush_every: Duration::from_millis(200),
            retention: Duration::from_secs(30 * 24 * 3600),
            sweep_every: Duration::from_secs(3600),
        }
    }
}

/// One finished action, as the hot path hands it over (not redacted nor serialised yet).
#[derive(Debug, Clone)]
pub struct Finished {
    /// The workspace of the call.
    pub workspace: WorkspaceId,
    /// The call's id.
    pub call_id: String,
    /// The call's instance.
    pub call_instance: String,
    /// The agent handling the call.
    pub agent: Option<String>,
    /// The caller's phone number.
    pub caller_phone: Option<String>,
    /// The connection it ran on.
    pub connection_id: Option<String>,
    /// The action's name.
    pub action: String,
    /// Its arguments as the caller sent them.
    pub arguments: Value,
    /// What it answered.
    pub answer: Result<Value, ActionError>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How long it took.
    pub latency: Duration,
    /// How many requests it sent to the org.
    pub round_trips: u32,
}

/// An action's outcome as the metrics and the log name it: `ok`, `confirm` (a confirmation was
/// asked for), or the error code.
pub fn outcome(answer: &Result<Value, ActionError>) -> &'static str {
    match answer {
        Ok(v) if v.get("confirmation_required").is_some() => "confirm",
        Ok(_) => "ok",
        Err(e) => match e.code {
            ErrorCode::Salesforce => "salesforce",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::NotFound => "not_found",
            ErrorCode::UnknownAction => "unknown_action",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::ConfirmationInvalid => "confirmation_invalid",
            ErrorCode::NeedsReauth => "needs_reauth",
            ErrorCode::MissingScope => "missing_scope",
            ErrorCode::LimitReached => "limit_reached",
            _ => "invalid",
        },
    }
}

/// The sending end of the operations log, held by the application.
#[derive(Debug)]
pub struct OperationsLog {
    tx: mpsc::Sender<Finished>,
    dropped: prometheus::IntCounterVec,
    /// When a full channel was last warned about (Unix seconds), to warn once a minute.
    warned: AtomicI64,
}

impl OperationsLog {
    /// A log holding up to `capacity` operations for the writer (the receiver, for
    /// [`run_writer`]); dropped operations are counted in `dropped` by reason.
    pub fn new(
        capacity: usize,
        dropped: prometheus::IntCounterVec,
    ) -> (Self, mpsc::Receiver<Finished>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (
            Self {
                tx,
                dropped,
                warned: AtomicI64::new(i64::MIN),
            },
            rx,
        )
    }

    /// Hands the action `name` that ran in `call` to the writer without waiting; `false` when
    /// it was dropped (the writer is behind, or gone).
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        workspace: WorkspaceId,
        call: &CallSession,
        connection_id: Option<String>,
        name: &str,
        arguments: Value,
        answer: &Result<Value, ActionError>,
        started_at: DateTime<Utc>,
        latency: Duration,
        round_trips: u32,
    ) -> bool {
        let finished = Finished {
            workspace,
            call_id: call.vars.call_id.clone(),
            call_instance: call.instance().to_owned(),
            agent: call.vars.agent.clone(),
            caller_phone: call.vars.caller_phone.clone(),
            connection_id,
            action: name.to_owned(),
            arguments,
            answer: answer.clone(),
            started_at,
            latency,
            round_trips,
        };
        match self.tx.try_send(finished) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.dropped.with_label_values(&["full"]).inc();
                let now = started_at.timestamp();
                let last = self.warned.load(Ordering::Relaxed);
                if now.saturating_sub(last) >= 60
                    && self
                        .warned
                        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    tracing::warn!(
                        "the operations log is behind: operations are dropped (see callforce_operations_dropped_total)"
                    );
                }
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.dropped.with_label_values(&["closed"]).inc();
                false
            }
        }
    }
}

/// The running writer of the operations log: stopping it writes what it holds first.
pub struct Writer {
    handle: tokio::task::JoinHandle<()>,
    stop: std::sync::Arc<tokio::sync::Notify>,
}

impl Writer {
    /// Writes what was recorded so far and stops, waiting at most `within` (the service's
    /// shutdown); operations recorded after this are not written.
    pub async fn flush_and_stop(self, within: Duration) {
        self.stop.notify_one();
        let abort = self.handle.abort_handle();
        if tokio::time::timeout(within, self.handle).await.is_err() {
            tracing::warn!(
                "the operations log did not finish writing in time; the rest is dropped"
            );
            abort.abort();
        }
    }
}

/// Writes what `rx` receives to `store` in batches (see the module's doc) until every sender is
/// gone, or `stop` is notified: then what was received is written and it returns. A batch the
/// store refuses is dropped, logged and counted in `dropped` (`reason="store"`).
pub async fn run_writer(
    store: Store,
    mut rx: mpsc::Receiver<Finished>,
    settings: OperationsSettings,
    dropped: prometheus::IntCounterVec,
    stop: std::sync::Arc<tokio::sync::Notify>,
) {
    let batch = settings.batch.max(1);
    let mut buf = Vec::with_capacity(batch);
    let mut last = false;
    while !last {
        tokio::select! {
            n = rx.recv_many(&mut buf, batch) => if n == 0 { return },
            () = stop.notified() => last = true,
        }
        let deadline = tokio::time::Instant::now() + settings.flush_every;
        while !last && buf.len() < batch {
            let more = batch - buf.len();
            tokio::select! {
                got = tokio::time::timeout_at(deadline, rx.recv_many(&mut buf, more)) => match got {
                    Ok(0) => last = true,
                    Ok(_) => {}
                    Err(_) => break,
                },
                () = stop.notified() => last = true,
            }
        }
        if last {
            while let Ok(f) = rx.try_recv() {
                buf.push(f);
            }
        }
        while !buf.is_empty() {
            let n = buf.len().min(batch);
            if let Err(e) = write_batch(&store, buf.drain(..n)).await {
                tracing::error!(error = %e, operations = n, "recording operations failed; they are dropped");
                dropped
                    .with_label_values(&["store"])
                    .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
            }
        }
    }
}

/// Redacts, compacts and inserts `batch` in one transaction.
async fn write_batch(
    store: &Store,
    batch: impl Iterator<Item = Finished>,
) -> callforce_store::Result<()> {
    let mut fields: HashMap<WorkspaceId, Vec<String>> = HashMap::new();
    let mut rows = Vec::new();
    for f in batch {
        let sensitive = match fields.entry(f.workspace) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(store.sensitive_fields(f.workspace).await?)
            }
        };
        rows.push(to_row(f, sensitive));
    }
    store.record_operations(&rows).await
}

/// A finished action as it is stored: redacted and compacted.
fn to_row(f: Finished, sensitive: &[String]) -> NewOperation {
    let outcome = outcome(&f.answer);
    let mut arguments = f.arguments;
    let mut answer = match f.answer {
        Ok(v) => v,
        Err(e) => json!({ "error": e }),
    };
    redact(&mut arguments, sensitive);
    redact(&mut answer, sensitive);
    NewOperation {
        workspace: f.workspace,
        call_id: f.call_id,
        call_instance: Some(f.call_instance),
        agent: f.agent,
        connection_id: f.connection_id,
        action: f.action,
        arguments: compact(&arguments),
        result: compact(&answer),
        outcome: outcome.to_owned(),
        latency_us: u64::try_from(f.latency.as_micros()).unwrap_or(u64::MAX),
        round_trips: f.round_trips,
        caller_phone: f.caller_phone,
        started_at: f.started_at,
    }
}

/// Replaces, at any depth, the value of every object member named in `sensitive` (ignoring
/// case) with [`REDACTED`].
pub fn redact(value: &mut Value, sensitive: &[String]) {
    if sensitive.is_empty() {
        return;
    }
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if sensitive.iter().any(|s| s.eq_ignore_ascii_case(k)) {
                    *v = Value::String(REDACTED.to_owned());
                } else {
                    redact(v, sensitive);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact(v, sensitive)),
        _ => {}
    }
}

/// `value` as JSON text of at most [`MAX_JSON_BYTES`]: a longer one becomes `{"truncated":
/// true, "bytes": n, "text": "<its first bytes>"}`.
pub fn compact(value: &Value) -> String {
    let text = value.to_string();
    if text.len() <= MAX_JSON_BYTES {
        return text;
    }
    // NB: the kept text is escaped again inside the summary, so it may grow: shrink until the
    // summary fits.
    let mut end = MAX_JSON_BYTES - 128;
    loop {
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let out = json!({"truncated": true, "bytes": text.len(), "text": &text[..end]}).to_string();
        if out.len() <= MAX_JSON_BYTES || end == 0 {
            return out;
        }
        end /= 2;
    }
}

/// Deletes what is past its workspace's retention every `settings.sweep_every` (the first time
/// at once), until the task is aborted: see [`sweep`].
pub async fn run_retention(store: Store, clock: Clock, settings: OperationsSettings) {
    let mut tick = tokio::time::interval(settings.sweep_every.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let keep = TimeDelta::from_std(settings.retention).unwrap_or(TimeDelta::MAX);
    loop {
        tick.tick().await;
        match sweep(&store, clock(), keep).await {
            Ok(e) if e == Expired::default() => {}
            Ok(e) => tracing::info!(
                operations = e.operations,
                dead_letters = e.dead_letters,
                "operations and resolved dead letters past their retention deleted"
            ),
            Err(e) => tracing::error!(error = %e, "the retention sweep failed"),
        }
    }
}

/// One retention sweep at `now`: for each workspace, its operations and its replayed or
/// discarded dead letters older than its own retention (its `retention_days`, else `default`)
/// are deleted. Open dead letters stay whatever their age; the audit log is never touched.
///
/// # Errors
/// The store failed (what was deleted before stays deleted).
pub async fn sweep(
    store: &Store,
    now: DateTime<Utc>,
    default: TimeDelta,
) -> Result<Expired, callforce_store::Error> {
    let mut total = Expired::default();
    for (workspace, days) in store.retentions().await? {
        let keep = days.map_or(default, |d| TimeDelta::days(i64::from(d)));
        let cutoff = now
            .checked_sub_signed(keep)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let e = store.delete_expired(workspace, cutoff).await?;
        total.operations += e.operations;
        total.dead_letters += e.dead_letters;
    }
    Ok(total)
}

/// What the console asks of the operations log, for the caller's workspace only.
#[derive(Clone)]
pub struct Operations {
    store: Store,
    clock: Clock,
}

impl std::fmt::Debug for Operations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operations").finish_non_exhaustive()
    }
}

/// The store's failure as the console's: logged here, a generic internal error out.
fn internal(e: &callforce_store::Error) -> Error {
    tracing::error!(error = %e, source = ?std::error::Error::source(e), "operations log: the store failed");
    Error::internal()
}

impl Operations {
    /// The operations log of `store`, "now" read from `clock`.
    pub fn new(store: Store, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// The caller's calls with an operation matching `filter`, newest first.
    ///
    /// # Errors
    /// The store failed (internal).
    pub async fn calls(
        &self,
        caller: &Caller,
        filter: &CallFilter,
    ) -> Result<Vec<CallSummary>, Error> {
        self.store
            .list_calls(caller.workspace, filter)
            .await
            .map_err(|e| internal(&e))
    }

    /// The operations of the caller's call `call_id`, in order.
    ///
    /// # Errors
    /// No operation recorded for that call (not found); the store failed (internal).
    pub async fn call_timeline(
        &self,
        caller: &Caller,
        call_id: &str,
    ) -> Result<Vec<Operation>, Error> {
        let ops = self
            .store
            .call_operations(caller.workspace, call_id)
            .await
            .map_err(|e| internal(&e))?;
        if ops.is_empty() {
            return Err(Error::new(
                Kind::NotFound,
                "not_found",
                format!("no operation recorded for call '{call_id}'"),
            ));
        }
        Ok(ops)
    }

    /// The caller's operations from `since` to now in 60 buckets (at least a second each):
    /// counts, errors, p50 and p95 latency.
    ///
    /// # Errors
    /// The store failed (internal).
    pub async fn activity(
        &self,
        caller: &Caller,
        since: DateTime<Utc>,
    ) -> Result<Vec<ActivityBucket>, Error> {
        let now = (self.clock)();
        let span = (now - since).num_milliseconds().max(0);
        // NB: rounded up, so that the span is 60 buckets at most.
        let bucket = TimeDelta::milliseconds(((span + 59) / 60).max(1_000));
        self.store
            .operation_activity(caller.workspace, since, now, bucket)
            .await
            .map_err(|e| internal(&e))
    }

    /// The caller's workspace's tool calls since `since` as one bucket: how many, how many
    /// failed, and their p50/p95 latency.
    ///
    /// # Errors
    /// The store failed (internal).
    pub async fn summary(
        &self,
        caller: &Caller,
        since: DateTime<Utc>,
    ) -> Result<ActivityBucket, Error> {
        let now = (self.clock)();
        let span = (now - since).max(TimeDelta::milliseconds(1));
        let buckets = self
            .store
            .operation_activity(caller.workspace, since, now, span)
            .await
            .map_err(|e| internal(&e))?;
        Ok(buckets.into_iter().next().unwrap_or(ActivityBucket {
            start: since,
            operations: 0,
            errors: 0,
            p50_us: None,
            p95_us: None,
        }))
    }

    /// The fields whose values the caller's workspace redacts in the log.
    ///
    /// # Errors
    /// The store failed (internal).
    pub async fn sensitive_fields(&self, caller: &Caller) -> Result<Vec<String>, Error> {
        self.store
            .sensitive_fields(caller.workspace)
            .await
            .map_err(|e| internal(&e))
    }

    /// Sets the fields whose values the caller's workspace redacts in the log from now on
    /// (names trimmed, duplicates and empty ones dropped).
    ///
    /// # Errors
    /// Too many names or a name too long (invalid); the store failed (internal).
    pub async fn set_sensitive_fields(
        &self,
        caller: &Caller,
        fields: &[String],
    ) -> Result<Vec<String>, Error> {
        let mut names: Vec<String> = Vec::new();
        for f in fields.iter().map(|f| f.trim()).filter(|f| !f.is_empty()) {
            if f.len() > MAX_FIELD_NAME {
                return Err(Error::new(
                    Kind::Invalid,
                    "invalid",
                    format!("a field name is at most {MAX_FIELD_NAME} bytes"),
                ));
            }
            if !names.iter().any(|n| n.eq_ignore_ascii_case(f)) {
                names.push(f.to_owned());
            }
        }
        if names.len() > MAX_SENSITIVE_FIELDS {
            return Err(Error::new(
                Kind::Invalid,
                "invalid",
                format!("at most {MAX_SENSITIVE_FIELDS} sensitive fields"),
            ));
        }
        self.store
            .set_sensitive_fields(caller.workspace, &names)
            .await
            .map_err(|e| internal(&e))?;
        Ok(names)
    }

    /// Spawns the writer of `rx` (see [`run_writer`]).
    pub fn spawn_writer(
        &self,
        rx: mpsc::Receiver<Finished>,
        settings: OperationsSettings,
        dropped: prometheus::IntCounterVec,
    ) -> Writer {
        let stop = std::sync::Arc::new(tokio::sync::Notify::new());
        let handle = tokio::spawn(run_writer(
            self.store.clone(),
            rx,
            settings,
            dropped,
            stop.clone(),
        ));
        Writer { handle, stop }
    }

    /// Spawns the retention sweep (see [`run_retention`]).
    pub fn spawn_retention(&self, settings: OperationsSettings) -> tokio::task::JoinHandle<()> {
        tokio::spawn(run_retention(
            self.store.clone(),
            self.clock.clone(),
            settings,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_fields_are_redacted_at_any_depth_ignoring_case() {
        let mut v = json!({"SSN__c": "123", "Name": "Ada",
            "records": [{"ssn__C": "456", "Phone": "+1555"}], "nested": {"Birthdate": {"a": 1}}});
        redact(&mut v, &["ssn__c".into(), "birthdate".into()]);
        assert_eq!(
            v,
            json!({"SSN__c": "[redacted]", "Name": "Ada",
                "records": [{"ssn__C": "[redacted]", "Phone": "+1555"}], "nested": {"Birthdate": "[redacted]"}})
        );
        let mut untouched = json!({"SSN__c": "123"});
        redact(&mut untouched, &[]);
        assert_eq!(untouched, json!({"SSN__c": "123"}));
    }

    #[test]
    fn long_json_is_truncated_to_valid_json() {
        assert_eq!(compact(&json!({"a": 1})), r#"{"a":1}"#);
        let long = json!({"text": "é".repeat(10_000)});
        let c = compact(&long);
        assert!(c.len() <= MAX_JSON_BYTES, "{}", c.len());
        // Text that grows when escaped again still fits.
        let quotes = compact(&json!({"text": "\"".repeat(10_000)}));
        assert!(quotes.len() <= MAX_JSON_BYTES, "{}", quotes.len());
        let back: Value = serde_json::from_str(&c).expect("valid JSON");
        assert_eq!(back["truncated"], json!(true));
        assert_eq!(back["bytes"], json!(long.to_string().len()));
    }

    fn dropped() -> prometheus::IntCounterVec {
        prometheus::IntCounterVec::new(prometheus::Opts::new("d", "d"), &["reason"])
            .expect("metric")
    }

    fn call() -> CallSession {
        CallSession::new(callforce_actions::CallVars {
            call_id: "call-1".into(),
            caller_phone: Some("+15551234567".into()),
            agent: Some("receptionist".into()),
            ..Default::default()
        })
    }

    /// At shutdown the log is still held by the service, and its batch is not due for an hour:
    /// stopping the writer writes what it holds anyway.
    #[tokio::test]
    async fn stopping_the_writer_writes_what_it_holds() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = Store::open_sqlite(&dir.path().join("s.db")).await?;
        let now = Utc::now();
        let ws = store.create_workspace("acme", now).await?.id;
        let ops = Operations::new(store.clone(), std::sync::Arc::new(Utc::now));
        let counter = dropped();
        let (log, rx) = OperationsLog::new(100, counter.clone());
        let settings = OperationsSettings {
            flush_every: Duration::from_secs(3600),
            ..OperationsSettings::default()
        };
        let writer = ops.spawn_writer(rx, settings, counter.clone());
        let call = call();
        for (i, action) in ["search_contact", "create_case", "log_call"]
            .iter()
            .enumerate()
        {
            let at = now + TimeDelta::seconds(i64::try_from(i)?);
            let answer = Ok(json!({"ok": true}));
            let us = Duration::from_micros(10);
            assert!(log.record(ws, &call, None, action, json!({}), &answer, at, us, 0));
        }
        writer.flush_and_stop(Duration::from_secs(10)).await;
        let caller = Caller {
            workspace: ws,
            key: None,
        };
        let timeline = ops.call_timeline(&caller, "call-1").await?;
        let actions: Vec<_> = timeline.iter().map(|o| o.action.as_str()).collect();
        assert_eq!(actions, ["search_contact", "create_case", "log_call"]);
        assert_eq!(counter.with_label_values(&["store"]).get(), 0);
        drop(log);
        Ok(())
    }

    #[tokio::test]
    async fn the_writer_stores_redacted_batches_and_a_full_log_drops_without_waiting()
    -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = Store::open_sqlite(&dir.path().join("s.db")).await?;
        let now = Utc::now();
        let ws = store.create_workspace("acme", now).await?.id;
        let ops = Operations::new(store.clone(), std::sync::Arc::new(Utc::now));
        let caller = Caller {
            workspace: ws,
            key: None,
        };
        ops.set_sensitive_fields(&caller, &[" SSN__c ".into(), "ssn__c".into(), "".into()])
            .await?;
        assert_eq!(ops.sensitive_fields(&caller).await?, ["SSN__c"]);

        let counter = dropped();
        let (log, rx) = OperationsLog::new(2, counter.clone());
        let call = call();
        let answer = Ok(json!({"records": [{"Id": "003", "SSN__c": "123-45-6789"}]}));
        let args = json!({"phone": "+15551234567", "SSN__c": "123-45-6789"});
        let t = |s| now + TimeDelta::seconds(s);
        let us = Duration::from_micros(1500);
        assert!(log.record(
            ws,
            &call,
            Some("conn-1".into()),
            "search_contact",
            args.clone(),
            &answer,
            t(-2),
            us,
            2
        ));
        let refused = Err(ActionError::new(
            ErrorCode::Salesforce,
            "REQUIRED_FIELD_MISSING",
        ));
        assert!(log.record(
            ws,
            &call,
            Some("conn-1".into()),
            "create_case",
            json!({}),
            &refused,
            t(-1),
            us,
            1
        ));
        // The channel is full and nothing drains it: dropped and counted, not waited on.
        assert!(!log.record(ws, &call, None, "log_call", json!({}), &answer, t(0), us, 0));
        assert_eq!(counter.with_label_values(&["full"]).get(), 1);

        // The writer ends once the log is gone, after writing what it held.
        drop(log);
        run_writer(
            store.clone(),
            rx,
            OperationsSettings::default(),
            counter.clone(),
            std::sync::Arc::default(),
        )
        .await;
        let timeline = ops.call_timeline(&caller, "call-1").await?;
        assert_eq!(timeline.len(), 2);
        let first = &timeline[0];
        assert_eq!(
            (
                first.action.as_str(),
                first.outcome.as_str(),
                first.latency_us
            ),
            ("search_contact", "ok", 1500)
        );
        assert_eq!(first.round_trips, 2);
        assert_eq!(
            first.arguments,
            json!({"phone": "+15551234567", "SSN__c": "[redacted]"})
        );
        assert_eq!(
            first.result,
            json!({"records": [{"Id": "003", "SSN__c": "[redacted]"}]})
        );
        assert_eq!(first.caller_phone.as_deref(), Some("+15551234567"));
        assert_eq!(first.agent.as_deref(), Some("receptionist"));
        assert_eq!(first.connection_id.as_deref(), Some("conn-1"));
        assert_eq!(first.call_instance.as_deref(), Some(call.instance()));
        assert_eq!(timeline[1].outcome, "salesforce");
        assert_eq!(timeline[1].result["error"]["code"], json!("salesforce"));

        let calls = ops.calls(&caller, &CallFilter::default()).await?;
        assert_eq!(
            (calls.len(), calls[0].operations, calls[0].errors),
            (1, 2, 1)
        );
        let activity = ops.activity(&caller, now - TimeDelta::hours(1)).await?;
        assert_eq!(activity.len(), 60);
        assert_eq!(activity.iter().map(|b| b.operations).sum::<u64>(), 2);
        let other = Caller {
            workspace: store.create_workspace("other", now).await?.id,
            key: None,
        };
        assert_eq!(
            ops.call_timeline(&other, "call-1")
                .await
                .map_err(|e| e.kind),
            Err(Kind::NotFound)
        );
        Ok(())
    }

    #[test]
    fn outcomes_name_the_error_code() {
        assert_eq!(outcome(&Ok(json!({"id": "x"}))), "ok");
        assert_eq!(
            outcome(&Ok(json!({"confirmation_required": true}))),
            "confirm"
        );
        assert_eq!(
            outcome(&Err(ActionError::new(ErrorCode::Salesforce, "no"))),
            "salesforce"
        );
        assert_eq!(
            outcome(&Err(ActionError::new(ErrorCode::MissingScope, "no"))),
            "missing_scope"
        );
    }
}
