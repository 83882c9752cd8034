//! [`PipelineSink`]: blocking writes within the mid-call budget, everything else to the queue.

use std::sync::Arc;
use std::time::Duration;

use callforce_actions::{Write, WriteError, WriteFuture, WriteOutcome, WriteSink};
use callforce_client::{Class, Connection, Request};
use callforce_store::{NewJob, Store, WorkspaceId};
use serde_json::json;
use tokio::sync::Notify;

use crate::job::{JobPayload, KIND_WRITE, audit_error, make_idempotent};
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
    ) -> Result<WriteOutcome, WriteError> {
        let payload = JobPayload {
            request: request.clone(),
            action: w.action.clone(),
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
        if !w.blocking {
            return self.enqueue(ws, &w, &request).await;
        }
        // Per-record order: a record with writes still queued gets this one queued behind them.
        if self
            .store
            .has_unfinished(ws, &w.record_key)
            .await
            .map_err(|e| WriteError::Queue(e.to_string()))?
        {
            return self.enqueue(ws, &w, &request).await;
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
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let tried = tokio::time::timeout(left, self.conn.execute(&request)).await;
            let e = match tried {
                Ok(Ok(v)) => {
                    trace.record(self.clock.now(), "write.done", &v, true).await;
                    return Ok(WriteOutcome::Done(v));
                }
                Ok(Err(e)) => e,
                Err(_) => {
                    // NB: the request may be in flight and applied: the queued job sends it
                    // again, which is harmless only for idempotent requests (see docs/writes.md).
                    trace
                        .record(
                            self.clock.now(),
                            "write.queued",
                            &json!({"error": "mid-call budget spent"}),
                            false,
                        )
                        .await;
                    return self.enqueue(ws, &w, &request).await;
                }
            };
            let class = match e.class() {
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
                    return self.enqueue(ws, &w, &request).await;
                }
            }
        }
    }
}

/// Whether sending `request` twice has the effect of sending it once: updates, deletes and
/// upserts (a create on a configured External ID field is one).
fn idempotent(request: &Request) -> bool {
    matches!(
        request,
        Request::Update { .. } | Request::Delete { .. } | Request::Upsert { .. }
    )
}

impl WriteSink for PipelineSink {
    fn write(&self, write: Write) -> WriteFuture<'_> {
        Box::pin(self.run(write))
    }
}
