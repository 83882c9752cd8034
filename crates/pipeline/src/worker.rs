//! Workers: lease due jobs, send them, record each outcome.
//!
//! One round ([`Worker::run_once`]) leases up to `batch` due jobs of the connections that are
//! ready ([`Connections::ready`]), sends them concurrently, each admitted first by its
//! connection ([`Connections::admit`]: a concurrency permit held while it is sent, or a refusal),
//! and for each records: done (with the answer), a retry on the schedule (the attempt counted),
//! a pause of the connection (the job handed back uncounted), or a dead letter. A session that
//! expired is renewed by the connection and the request sent again inside the same attempt, so
//! it never counts. Jobs of a connection that is not ready (unknown to this process, needing
//! authorisation again, disconnected) are not leased: they wait, uncounted.
//! [`Workers::spawn`] runs rounds until stopped.

use std::collections::HashMap;
use std::sync::Arc;

use callforce_client::{Class, Connection, Error as ClientError};
use callforce_store::{Completion, Job, Store, WorkspaceId};
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::future::{BoxFuture, join_all};
use serde_json::json;
use tokio::sync::{Notify, OwnedSemaphorePermit, watch};
use tracing::Instrument as _;

use crate::job::{JobPayload, audit_error, rolled_back};
use crate::lookup::{self, Resolution};
use crate::schedule::{Decision, decide, jittered};
use crate::{Clock, PipelineConfig, Result, Trace};

/// What a connection says to a job about to be sent.
pub enum Admission {
    /// Send it through `conn`, holding `permit` (a slot of the connection's concurrency cap,
    /// if it has one) until the answer is in.
    Send {
        /// The connection to send through.
        conn: Connection,
        /// Held while the request is in flight.
        permit: Option<OwnedSemaphorePermit>,
    },
    /// The connection cannot be used now (it stopped being ready since the lease): the job is
    /// handed back uncounted. The text says why.
    NotReady(String),
    /// A limit of the connection refuses it (its share of the org's daily allowance is used):
    /// the job is handed back uncounted and the connection's queue pauses. The text says which.
    Limited(String),
}

/// The org connections workers send jobs through, by workspace and connection id.
pub trait Connections: Send + Sync + 'static {
    /// The connections this process can send through now: only their jobs are leased.
    fn ready(&self) -> Vec<(WorkspaceId, String)>;

    /// Admits one send of a job of `workspace` on `connection_id`; may wait for a slot of the
    /// connection's concurrency cap.
    fn admit<'a>(
        &'a self,
        workspace: WorkspaceId,
        connection_id: &'a str,
    ) -> BoxFuture<'a, Admission>;

    /// Called after a send through the connection failed with an authorisation or limit
    /// error, so its owner can learn from it (a refused grant makes the connection need
    /// authorising again). Does nothing by default.
    fn failed<'a>(&'a self, workspace: WorkspaceId, connection_id: &'a str) -> BoxFuture<'a, ()> {
        let _ = (workspace, connection_id);
        Box::pin(async {})
    }
}

/// A fixed set of connections, all ready, with no limits.
impl Connections for HashMap<(WorkspaceId, String), Connection> {
    fn ready(&self) -> Vec<(WorkspaceId, String)> {
        self.keys().cloned().collect()
    }

    fn admit<'a>(
        &'a self,
        workspace: WorkspaceId,
        connection_id: &'a str,
    ) -> BoxFuture<'a, Admission> {
        let found = self.get(&(workspace, connection_id.to_owned())).cloned();
        Box::pin(async move {
            match found {
                Some(conn) => Admission::Send { conn, permit: None },
                None => Admission::NotReady(format!("unknown connection '{connection_id}'")),
            }
        })
    }
}

/// A worker: one lease owner.
#[derive(Clone)]
pub struct Worker {
    store: Store,
    conns: Arc<dyn Connections>,
    config: Arc<PipelineConfig>,
    clock: Arc<dyn Clock>,
    owner: String,
}

fn delta(d: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

impl Worker {
    /// A worker named `owner` (unique per process and worker: it is the lease owner).
    pub fn new(
        store: Store,
        conns: Arc<dyn Connections>,
        config: Arc<PipelineConfig>,
        clock: Arc<dyn Clock>,
        owner: impl Into<String>,
    ) -> Self {
        Self {
            store,
            conns,
            config,
            clock,
            owner: owner.into(),
        }
    }

    /// One round: leases the due jobs (up to `batch`), sends them and records each outcome.
    /// Returns how many jobs it handled.
    ///
    /// # Errors
    /// The store failing to lease. Failures recording one job's outcome are logged; the job's
    /// lease then runs out and it is sent again.
    pub async fn run_once(&self) -> Result<usize> {
        let now = self.clock.now();
        let ready = self.conns.ready();
        let jobs = self
            .store
            .lease_ready(
                &self.owner,
                now,
                delta(self.config.lease_for),
                self.config.batch,
                &ready,
            )
            .await?;
        let n = jobs.len();
        let done: Vec<Completion> = join_all(jobs.into_iter().map(|j| self.handle(j)))
            .await
            .into_iter()
            .flatten()
            .collect();
        // NB: the round's successes commit together (their audit entries and their jobs), so
        // a round costs one commit however many jobs it sent. Should it fail, their leases run
        // out and they are sent again: upserts on their keys, or creates looked up first.
        if !done.is_empty() {
            match self.store.complete_all(&self.owner, &done).await {
                Ok(lost) if lost.is_empty() => {}
                Ok(lost) => {
                    tracing::warn!(jobs = ?lost, "leases ran out before the jobs were recorded done; they run again");
                }
                Err(e) => {
                    tracing::warn!(jobs = done.len(), error = %e, "could not record the jobs done; they run again when their leases run out");
                }
            }
        }
        Ok(n)
    }

    /// Sends one job; a success is returned to be recorded with the round's, anything else is
    /// recorded here.
    async fn handle(&self, job: Job) -> Option<Completion> {
        self.try_handle(&job)
            .await
            .inspect_err(
                |e| tracing::warn!(job = job.id.0, error = %e, "could not record a job's outcome"),
            )
            .ok()
            .flatten()
    }

    async fn try_handle(&self, job: &Job) -> Result<Option<Completion>> {
        let store = &self.store;
        let payload: JobPayload = match serde_json::from_str(&job.payload) {
            Ok(p) => p,
            Err(e) => {
                let msg = format!("the payload is not a write job ({e}); fix it and replay");
                store
                    .dead(job.id, &self.owner, self.clock.now(), &msg)
                    .await?;
                return Ok(None);
            }
        };
        // One span per attempt, in the trace of the tool call that queued the write.
        let span = tracing::info_span!(
            target: callforce_client::telemetry::TARGET,
            "write_attempt",
            action = %payload.action,
            job = job.id.0,
            attempt = job.attempts + 1,
            call_id = job.call_id.as_deref().unwrap_or_default(),
            agent = job.agent.as_deref().unwrap_or_default(),
            "write.outcome" = tracing::field::Empty,
        );
        if let Some(tp) = &payload.traceparent {
            callforce_client::telemetry::continue_trace(&span, tp);
        }
        self.attempt(job, &payload).instrument(span).await
    }

    /// One attempt of the write `payload` of `job`.
    async fn attempt(&self, job: &Job, payload: &JobPayload) -> Result<Option<Completion>> {
        let store = &self.store;
        let trace = Trace {
            store,
            workspace: job.workspace,
            call_id: job.call_id.as_deref(),
            agent: job.agent.as_deref(),
            request: &payload.request,
        };
        // NB: waiting for a slot of the connection's cap must not outlive the lease, or another
        // worker would take the job meanwhile: past half the lease it goes back, uncounted.
        let admitted = tokio::time::timeout(
            self.config.lease_for / 2,
            self.conns.admit(job.workspace, &job.connection_id),
        )
        .await
        .unwrap_or_else(|_| {
            Admission::NotReady("no slot of the connection's concurrency cap in time".into())
        });
        let (conn, permit) = match admitted {
            Admission::Send { conn, permit } => (conn, permit),
            Admission::NotReady(why) => {
                // NB: not an attempt. A connection that is not ready is not leased from again,
                // so this cannot spin; a job that waited too long for a slot is due again now.
                tracing::info!(job = job.id.0, connection = %job.connection_id, %why, "connection not ready; the job waits");
                let now = self.clock.now();
                store.release(job.id, &self.owner, now, now).await?;
                return Ok(None);
            }
            Admission::Limited(why) => {
                let now = self.clock.now();
                let until = now + delta(self.config.pause_for);
                trace
                    .record(now, "write.paused", &json!({"error": why}), false)
                    .await;
                store
                    .pause_connection(job.workspace, &job.connection_id, until)
                    .await?;
                store.release(job.id, &self.owner, now, now).await?;
                tracing::warn!(connection = %job.connection_id, %until, %why, "connection's queue paused by its limits");
                return Ok(None);
            }
        };
        // NB: the attempt's time is taken before sending: an unanswered attempt may have been
        // applied at any moment after it, and its lookup must reach back that far.
        let started = self.clock.now();
        // A create may have reached the org unanswered: an attempt that got no answer, or a
        // worker that stopped while holding the job (its lease ran out).
        let mut plan = None;
        let key = job.idempotency_key.as_str();
        if let Some(since) = payload.ambiguous_since.or(job.abandoned_lease_from)
            && lookup::looked_up(&payload.request, key)
        {
            let skew = self.config.lookup_skew;
            match lookup::resolve_write(&conn, &payload.request, key, since, skew).await {
                Ok(Resolution::Done(v)) => {
                    let now = self.clock.now();
                    return Ok(Some(trace.completion(job, now, "write.done", &v, true)));
                }
                Ok(Resolution::Unsure {
                    message,
                    matches,
                    lookup,
                }) => {
                    let now = self.clock.now();
                    let v = json!({"error": message, "matches": matches, "lookup": lookup});
                    trace.record(now, "write.dead", &v, false).await;
                    store.dead(job.id, &self.owner, now, &message).await?;
                    return Ok(None);
                }
                Ok(Resolution::Send(p)) => plan = Some(p),
                Err(e) => return self.failed(job, payload, &trace, &e, started).await,
            }
        }
        // What was not found by the lookup, or the whole request.
        let request = plan.as_ref().map_or(&payload.request, |p| &p.request);
        let sent = conn.execute(request).await;
        drop(permit);
        // NB: an all-or-none composite the org rolled back answers 200 with an error per
        // subrequest: nothing was written, so it is classified from the failing subrequest
        // (retry or dead letter), never marked done.
        let sent = sent.and_then(|v| match rolled_back(request, &v) {
            Some(e) => Err(e),
            None => Ok(match &plan {
                Some(p) => p.answer(v),
                None => v,
            }),
        });
        // An upsert on the job's own key refused as an update (a create-only field) found its
        // record: an earlier attempt of this job made it (its answer lost, or a lookup that ran
        // before that attempt was applied).
        if let Err(e) = &sent
            && crate::sink::refused_as_update(e)
            && lookup::keyed(&payload.request, key)
            && let Ok(Some(v)) = lookup::find_by_key(&conn, &payload.request, key).await
        {
            let now = self.clock.now();
            return Ok(Some(trace.completion(job, now, "write.done", &v, true)));
        }
        let now = self.clock.now();
        match sent {
            Ok(v) => {
                self.pause_if_near_allowance(job, &conn).await?;
                Ok(Some(trace.completion(job, now, "write.done", &v, true)))
            }
            Err(e) => self.failed(job, payload, &trace, &e, started).await,
        }
    }

    /// Records a failed attempt (started at `started`) as [`decide`] says, except a write found
    /// already applied, which is returned to be recorded done. A create that was sent and got
    /// no answer keeps that time in its payload, so its next attempt (or a replay of its dead
    /// letter) looks it up first.
    async fn failed(
        &self,
        job: &Job,
        payload: &JobPayload,
        trace: &Trace<'_>,
        e: &ClientError,
        started: DateTime<Utc>,
    ) -> Result<Option<Completion>> {
        let store = &self.store;
        let now = self.clock.now();
        let response = audit_error(e);
        let message = e.to_string();
        let decision = decide(
            e.class(),
            e.error_code(),
            job.attempts,
            &payload.request,
            &self.config.schedule,
        );
        tracing::debug!(job = job.id.0, attempts = job.attempts, ?decision, error = %message, "write failed");
        let noted = if e.class() == Class::Ambiguous
            && lookup::looked_up(&payload.request, &job.idempotency_key)
        {
            let mut p = payload.clone();
            p.note_ambiguous(started);
            serde_json::to_string(&p)
                .inspect_err(
                    |e| tracing::error!(job = job.id.0, error = %e, "could not write the payload"),
                )
                .ok()
        } else {
            None
        };
        match decision {
            Decision::Retry(wait) => {
                let at = now + delta(jittered(wait, self.config.jitter));
                trace.record(now, "write.retry", &response, false).await;
                match &noted {
                    Some(p) => {
                        store
                            .retry_with_payload(job.id, &self.owner, now, at, &message, p)
                            .await?;
                    }
                    None => store.retry(job.id, &self.owner, now, at, &message).await?,
                }
            }
            Decision::Dead => {
                trace.record(now, "write.dead", &response, false).await;
                match &noted {
                    Some(p) => {
                        store
                            .dead_with_payload(job.id, &self.owner, now, &message, p)
                            .await?;
                    }
                    None => {
                        store.dead(job.id, &self.owner, now, &message).await?;
                    }
                }
            }
            Decision::Done => {
                let v = json!({"alreadyApplied": true, "error": response});
                return Ok(Some(trace.completion(job, now, "write.done", &v, false)));
            }
            Decision::Pause => {
                // The connection's owner learns of it first (a refused grant: needs_reauth,
                // and its jobs stop being leased).
                self.conns.failed(job.workspace, &job.connection_id).await;
                let until = now + delta(self.config.pause_for);
                trace.record(now, "write.paused", &response, false).await;
                store
                    .pause_connection(job.workspace, &job.connection_id, until)
                    .await?;
                store.release(job.id, &self.owner, now, now).await?;
                tracing::warn!(connection = %job.connection_id, %until, error = %message, "connection's queue paused");
            }
        }
        Ok(None)
    }

    /// Pauses the connection's queue when its API usage has reached the threshold, leaving
    /// the rest of the allowance to blocking writes.
    async fn pause_if_near_allowance(&self, job: &Job, conn: &Connection) -> Result<()> {
        let Some(usage) = conn.api_usage() else {
            return Ok(());
        };
        if self.config.usage_threshold < 1.0 && usage.fraction_used() >= self.config.usage_threshold
        {
            let now = self.clock.now();
            let until = now + delta(self.config.pause_for);
            tracing::warn!(connection = %job.connection_id, used = usage.used, max = usage.max, %until, "API allowance nearly spent; the queue pauses");
            self.store
                .pause_connection(job.workspace, &job.connection_id, until)
                .await?;
        }
        Ok(())
    }
}

/// Running workers; [`Workers::stop`] ends them after their current round.
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    wake: Arc<Notify>,
}

impl Workers {
    /// Starts `count` workers like `template` (owners `<owner>-0`, `<owner>-1`...). `wake` is
    /// the handle a [`crate::PipelineSink`] notifies on enqueue.
    pub fn spawn(template: &Worker, count: usize, wake: Arc<Notify>) -> Self {
        let (stop, rx) = watch::channel(false);
        let tasks = (0..count)
            .map(|i| {
                let mut w = template.clone();
                w.owner = format!("{}-{i}", template.owner);
                let rx = rx.clone();
                let wake = wake.clone();
                tokio::spawn(run(w, rx, wake))
            })
            .collect();
        Self { stop, tasks, wake }
    }

    /// The handle that wakes idle workers.
    pub fn wake(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Stops the workers and waits for their current rounds to finish.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        self.wake.notify_waiters();
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn run(w: Worker, mut stop: watch::Receiver<bool>, wake: Arc<Notify>) {
    loop {
        if *stop.borrow() {
            return;
        }
        let idle = match w.run_once().await {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => {
                tracing::error!(error = %e, "a worker could not lease jobs");
                true
            }
        };
        if idle {
            tokio::select! {
                _ = stop.changed() => {}
                () = wake.notified() => {}
                () = tokio::time::sleep(w.config.poll) => {}
            }
        }
    }
}
