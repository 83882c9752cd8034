//! [`PipelineSink`]: blocking writes within the mid-call budget, everything else to the queue.

use std::sync::Arc;
use std::time::Duration;

use callforce_actions::{Write, WriteError, WriteFuture, WriteOutcome, WriteSink};
use callforce_client::{Class, Connection, Request};
use callforce_store::{NewJob, Store, WorkspaceId};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::job::{JobPayload, KIND_WRITE, audit_error, external_key, make_idempotent, rolled_back};
use crate::lookup::{Resolution, find_by_key, keyed, looked_up, resolve_write};
use crate::{Clock, PipelineConfig, Trace};

/// The first wait between two tries of a blocking write; it doubles after each.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// The write sink of one org connection, backed by the durable queue.
#[derive(Clone)]
pub struct PipelineSink {
    store: Store,
    conn: Connection,
    connection_id: String,
    workspace: WorkspaceId,
    config: Arc<PipelineConfig>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
}

impl PipelineSink {
    /// A sink writing through `conn` (known to the workers as `connection_id`), queueing in
    /// `store`. Writes without a workspace go to `workspace`. `wake` is notified on each
    /// enqueue (pass the workers' [`crate::Workers::wake`] handle).
    pub fn new(
        store: Store,
        conn: Connection,
        connection_id: impl Into<String>,
        workspace: WorkspaceId,
        config: Arc<PipelineConfig>,
        clock: Arc<dyn Clock>,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            conn,
            connection_id: connection_id.into(),
            workspace,
            config,
            clock,
            wake,
        }
    }

    async fn enqueue(
        &self,
        ws: WorkspaceId,
        w: &Write,
        request: &Request,
        ambiguous_since: Option<DateTime<Utc>>,
    ) -> Result<WriteOutcome, WriteError> {
        let payload = JobPayload {
            request: request.clone(),
            action: w.action.clone(),
            ambiguous_since,
            traceparent: callforce_client::telemetry::current_traceparent(),
        };
        let payload =
            serde_json::to_string(&payload).map_err(|e| WriteError::Queue(e.to_string()))?;
        let now = self.clock.now();
        let job = NewJob {
            workspace: ws,
            connection_id: self.connection_id.clone(),
            idempotency_key: w.idempotency_key.clone(),
            ordering_key: w.record_key.clone(),
            kind: KIND_WRITE.into(),
            payload,
            call_id: Some(w.call_id.clone()),
            agent: w.agent.clone(),
            run_at: now,
        };
        let q = self
            .store
            .enqueue(&job, now)
            .await
            .map_err(|e| WriteError::Queue(e.to_string()))?;
        self.wake.notify_one();
        Ok(WriteOutcome::Queued {
            reference: format!("job-{}", q.id.0),
        })
    }

    async fn run(&self, w: Write) -> Result<WriteOutcome, WriteError> {
        let ws = w.workspace.map(WorkspaceId).unwrap_or(self.workspace);
        let request = make_idempotent(
            w.request.clone(),
            &w.idempotency_key,
            &self.config.external_ids,
        );
        // NB: a request the client cannot send (a header with a line break, a path outside
        // the API, a URL longer than Salesforce takes) is bad input, not a failure to retry:
        // refused now, so it is never acknowledged, queued, or dead-lettered.
        if let Err(e) = request.to_http(self.conn.version()) {
            return Err(WriteError::Org(e));
        }
        if !w.blocking {
            return self.enqueue(ws, &w, &request, None).await;
        }
        // Per-record order: a record with writes still queued gets this one queued behind them.
        if self
            .store
            .has_unfinished(ws, &w.record_key)
            .await
            .map_err(|e| WriteError::Queue(e.to_string()))?
        {
            return self.enqueue(ws, &w, &request, None).await;
        }
        let deadline = tokio::time::Instant::now() + self.config.budget;
        let mut backoff = FIRST_BACKOFF;
        let trace = Trace {
            store: &self.store,
            workspace: ws,
            call_id: Some(&w.call_id),
            agent: w.agent.as_deref(),
            request: &request,
        };
        // When an attempt of a create started that was sent and got no answer (the earliest).
        let mut ambiguous_since: Option<DateTime<Utc>> = None;
        let key = w.idempotency_key.as_str();
        loop {
            // What was not found by a lookup, or the whole request.
            let mut plan = None;
            if let Some(since) = ambiguous_since {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                let skew = self.config.lookup_skew;
                let looked = tokio::time::timeout(
                    left,
                    resolve_write(&self.conn, &request, key, since, skew),
                )
                .await;
                match looked {
                    Ok(Ok(Resolution::Done(v))) => {
                        trace.record(self.clock.now(), "write.done", &v, true).await;
                        return Ok(WriteOutcome::Done(without_lookup(v)));
                    }
                    Ok(Ok(Resolution::Send(p))) => plan = Some(p),
                    // Several matches, a failed lookup or the budget spent: the queued job
                    // looks it up again and decides (several is a dead letter).
                    other => {
                        let why = match other {
                            Ok(Ok(Resolution::Unsure { matches, .. })) => {
                                json!({"error": "several records match the lost create",
                                    "matches": matches})
                            }
                            Ok(Err(e)) => audit_error(&e),
                            _ => json!({"error": "mid-call budget spent"}),
                        };
                        let mut response = why;
                        response["queued"] = json!(true);
                        trace
                            .record(self.clock.now(), "write.queued", &response, false)
                            .await;
                        return self.enqueue(ws, &w, &request, ambiguous_since).await;
                    }
                }
            }
            let sending = plan.as_ref().map_or(&request, |p| &p.request);
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let started = self.clock.now();
            let tried = tokio::time::timeout(left, self.conn.execute(sending)).await;
            // NB: an all-or-none composite the org rolled back answers 200; it failed.
            let tried = tried.map(|r| {
                r.and_then(|v| match rolled_back(sending, &v) {
                    Some(e) => Err(e),
                    None => Ok(match &plan {
                        Some(p) => p.answer(v),
                        None => v,
                    }),
                })
            });
            let e = match tried {
                Ok(Ok(v)) => {
                    trace.record(self.clock.now(), "write.done", &v, true).await;
                    return Ok(WriteOutcome::Done(v));
                }
                Ok(Err(e)) => e,
                Err(_) => {
                    // NB: the request may be in flight and applied: the queued job sends it
                    // again, which is harmless for idempotent requests; a create is looked up
                    // first (see docs/writes.md).
                    if looked_up(&request, key) {
                        note(&mut ambiguous_since, started);
                    }
                    trace
                        .record(
                            self.clock.now(),
                            "write.queued",
                            &json!({"error": "mid-call budget spent"}),
                            false,
                        )
                        .await;
                    return self.enqueue(ws, &w, &request, ambiguous_since).await;
                }
            };
            // An upsert on the write's own key refused as an update (a create-only field) found
            // its record: an earlier attempt of this write made it (its answer lost while
            // another attempt was on its way, or the same write sent again under its key).
            if refused_as_update(&e) && keyed(&request, key) {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                let found =
                    tokio::time::timeout(left, find_by_key(&self.conn, &request, key)).await;
                if let Ok(Ok(Some(v))) = found {
                    trace.record(self.clock.now(), "write.done", &v, true).await;
                    return Ok(WriteOutcome::Done(without_lookup(v)));
                }
            }
            let class = match e.class() {
                // A create, or an upsert on the write's own key, is looked up before it is
                // sent again: found, it is done; not found, it is sent whole.
                Class::Ambiguous if looked_up(&request, key) => {
                    note(&mut ambiguous_since, started);
                    Class::Retryable
                }
                // Sending an idempotent request again cannot make a second record.
                Class::Ambiguous if idempotent(&request) => Class::Retryable,
                c => c,
            };
            let mut response = audit_error(&e);
            match class {
                Class::Permanent => {
                    trace
                        .record(self.clock.now(), "write.refused", &response, false)
                        .await;
                    return Err(WriteError::Org(e));
                }
                Class::Retryable
                    if deadline.saturating_duration_since(tokio::time::Instant::now())
                        > backoff =>
                {
                    trace
                        .record(self.clock.now(), "write.retry", &response, false)
                        .await;
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                Class::Retryable | Class::Ambiguous | Class::Limit | Class::Auth => {
                    response["queued"] = json!(true);
                    trace
                        .record(self.clock.now(), "write.queued", &response, false)
                        .await;
                    return self.enqueue(ws, &w, &request, ambiguous_since).await;
                }
            }
        }
    }
}

/// The answer the agent hears of a write found by its lookup: the queries stay in the audit.
fn without_lookup(mut v: Value) -> Value {
    match &mut v {
        Value::Object(o) => {
            o.remove("lookup");
        }
        Value::Array(items) => {
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                item.remove("lookup");
            }
        }
        _ => {}
    }
    v
}

/// Whether the org refused a write for a field it may not set (`INVALID_FIELD_FOR_INSERT_UPDATE`):
/// for an upsert that matched a record, a create-only field it cannot update.
pub(crate) fn refused_as_update(e: &callforce_client::Error) -> bool {
    e.error_code() == Some("INVALID_FIELD_FOR_INSERT_UPDATE")
}

/// Keeps the earliest start of an unanswered attempt.
fn note(since: &mut Option<DateTime<Utc>>, at: DateTime<Utc>) {
    *since = Some(since.map_or(at, |t| t.min(at)));
}

/// Whether sending `request` twice has the effect of sending it once: updates, deletes and
/// upserts (a create on a configured External ID field is one), and composite requests made
/// only of updates, upserts and reads (creates of mapped objects rewritten as upserts).
fn idempotent(request: &Request) -> bool {
    match request {
        Request::Update { .. } | Request::Delete { .. } | Request::Upsert { .. } => true,
        Request::Composite(c) => c.composite_request.iter().all(|s| {
            s.method.eq_ignore_ascii_case("PATCH") || s.method.eq_ignore_ascii_case("GET")
        }),
        _ => false,
    }
}

impl WriteSink for PipelineSink {
    fn write(&self, write: Write) -> WriteFuture<'_> {
        Box::pin(self.run(write))
    }

    fn upsert_key(&self, sobject: &str, idempotency_key: &str) -> Option<(String, String)> {
        self.config
            .external_ids
            .get(sobject)
            .map(|field| (field.clone(), external_key(idempotency_key)))
    }

    fn queues_non_blocking(&self) -> bool {
        true
    }
}
