//! The write pipeline: every write an action makes goes through here, so that none is lost
//! and none is made twice.
//!
//! Modules:
//! - [`sink`]: [`PipelineSink`], the [`callforce_actions::WriteSink`] of the service. A blocking
//!   write is tried at once, retried within the mid-call budget, and queued when the budget
//!   runs out; a non-blocking write is committed to the queue and acknowledged at once.
//! - [`worker`]: [`Worker`], which leases the due jobs of the connections that are ready
//!   ([`Connections`]), sends each through its connection's limits, and records each outcome:
//!   done, retried on the schedule, paused with its connection, or dead-lettered.
//! - [`schedule`]: the retry schedule and [`schedule::decide`], the one pure function that
//!   says what follows a failure.
//! - [`lookup`]: creates whose answer was lost (single, bulk, a note and its link, a raw
//!   create), looked up before they are sent again.
//! - [`job`]: the job payload, the create-to-upsert rewrite on a configured External ID field,
//!   and what the audit log keeps of a request and its answer.
//! - [`clock`]: the injected [`Clock`].
//!
//! The decisions to know:
//! - **Acknowledged means committed.** A queued write is answered only after its job row is
//!   committed (`Store::enqueue` returns after the commit).
//! - **Idempotency keys.** Each write's key is a hash of its workspace, call instance (or a
//!   key the caller chose), action and canonical payload (`callforce_actions::idempotency`).
//!   The queue refuses a second job with the same key; where the object has an External ID
//!   field configured ([`PipelineConfig::external_ids`]), a create is sent as an upsert on
//!   that field keyed by the write's key, and after a lost answer it is looked up by that key
//!   before anything is sent again (found: done; not found: the upsert with every field). Any other create whose answer was
//!   lost (a single, bulk, note or raw create) is looked up (by its user, time and values)
//!   before it is sent again, and only what was not found is sent ([`lookup`]).
//!   `docs/writes.md` states exactly what is guaranteed in each case.
//! - **Time is injected.** Workers schedule by a [`Clock`]; [`Worker::run_once`] does one
//!   round, so tests drive the schedule by moving a [`ManualClock`], never by sleeping.
//! - **One audit entry per attempt**, holding the request and the answer or error, with the
//!   call, the agent and the record ids; its kind says the outcome (`write.done`,
//!   `write.retry`, `write.dead`, `write.paused`, `write.queued` for a blocking write handed
//!   to the queue).

pub mod clock;
pub mod job;
pub mod lookup;
pub mod schedule;
pub mod sink;
pub mod worker;

use std::collections::BTreeMap;
use std::time::Duration;

pub use clock::{Clock, ManualClock, SystemClock};
pub use job::{JobPayload, KIND_WRITE};
pub use schedule::{Decision, SCHEDULE, decide};
pub use sink::PipelineSink;
pub use worker::{Admission, Connections, Worker, Workers};

/// Errors of the pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] callforce_store::Error),
    /// The configuration is not usable; the text says what to fix.
    #[error("invalid pipeline configuration: {0}")]
    Config(String),
}

/// The result type of the pipeline.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the pipeline runs.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// How long a blocking write may take, retries included, before it is queued (1.5 s).
    pub budget: Duration,
    /// The wait before each retry of a queued job; its length is the number of retries
    /// (200 ms, 1 s, 5 s, 30 s, 5 min).
    pub schedule: Vec<Duration>,
    /// The random share each wait is moved by (0.1: ±10 %).
    pub jitter: f64,
    /// How long a worker holds a job before another may take it (30 s). A worker that dies
    /// mid-job loses it after this.
    pub lease_for: Duration,
    /// How many jobs a worker leases and sends at once (32).
    pub batch: u32,
    /// How often an idle worker looks for due jobs (100 ms; an enqueue wakes it sooner).
    pub poll: Duration,
    /// How long a connection's queue pauses when its API allowance is spent or it must be
    /// authorised again, before one job tries again (5 min).
    pub pause_for: Duration,
    /// Pause the queue when this share of the daily API allowance is used (0.95), keeping the
    /// rest for blocking writes; `1.0` never pauses early.
    pub usage_threshold: f64,
    /// Objects whose creates are sent as upserts on this External ID field (object to field).
    pub external_ids: BTreeMap<String, String>,
    /// How far before an unanswered create's attempt its lookup reaches (5 min), for an org
    /// clock behind this one: the record's `CreatedDate` is the org's time.
    pub lookup_skew: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            budget: Duration::from_millis(1500),
            schedule: SCHEDULE.to_vec(),
            jitter: 0.1,
            lease_for: Duration::from_secs(30),
            batch: 32,
            poll: Duration::from_millis(100),
            pause_for: Duration::from_secs(300),
            usage_threshold: 0.95,
            external_ids: BTreeMap::new(),
            lookup_skew: Duration::from_secs(300),
        }
    }
}

impl PipelineConfig {
    /// Checks the configuration.
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting to fix.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(Error::Config(
                "jitter must be at least 0 and below 1".into(),
            ));
        }
        if self.batch == 0 {
            return Err(Error::Config("batch must be at least 1".into()));
        }
        if self.lease_for < Duration::from_secs(1) {
            return Err(Error::Config("lease_for must be at least 1 s".into()));
        }
        if !(self.usage_threshold > 0.0 && self.usage_threshold <= 1.0) {
            return Err(Error::Config(
                "usage_threshold must be above 0 and at most 1".into(),
            ));
        }
        for (object, field) in &self.external_ids {
            let ok = |s: &str| {
                s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            };
            if !ok(object) || !ok(field) {
                return Err(Error::Config(format!(
                    "external_ids: '{object}' = '{field}' is not an object and field API name"
                )));
            }
        }
        Ok(())
    }
}

/// Who and what an audit entry of an attempt is about.
pub(crate) struct Trace<'a> {
    pub(crate) store: &'a callforce_store::Store,
    pub(crate) workspace: callforce_store::WorkspaceId,
    pub(crate) call_id: Option<&'a str>,
    pub(crate) agent: Option<&'a str>,
    pub(crate) request: &'a callforce_client::Request,
}

impl Trace<'_> {
    /// Appends one audit entry for an attempt (`ok`: `response` is the org's answer, whose
    /// record ids are listed). A failure to audit is logged, never fatal to the write: the
    /// job's own row records its outcome.
    pub(crate) async fn record(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        kind: &str,
        response: &serde_json::Value,
        ok: bool,
    ) {
        let entry = self.entry(kind, response, ok);
        if let Err(e) = self.store.append_audit(self.workspace, now, &entry).await {
            tracing::error!(error = %e, kind, "could not append to the audit log");
        }
    }

    /// The audit entry of an attempt, as [`Trace::record`] appends it.
    fn entry(
        &self,
        kind: &str,
        response: &serde_json::Value,
        ok: bool,
    ) -> callforce_store::NewAuditEntry {
        // The outcome of a queued write's attempt, on its span (a no-op in any other span).
        tracing::Span::current().record("write.outcome", kind);
        callforce_store::NewAuditEntry {
            kind: kind.to_owned(),
            call_id: self.call_id.map(str::to_owned),
            agent: self.agent.map(str::to_owned),
            record_ids: job::record_ids(self.request, ok.then_some(response)),
            request: Some(job::audit_request(self.request).to_string()),
            response: Some(response.to_string()),
        }
    }

    /// `job` done at `now` with the answer `response` (its result), and the attempt's audit
    /// entry, to be recorded together by [`callforce_store::Store::complete_all`].
    pub(crate) fn completion(
        &self,
        job: &callforce_store::Job,
        now: chrono::DateTime<chrono::Utc>,
        kind: &str,
        response: &serde_json::Value,
        ok: bool,
    ) -> callforce_store::Completion {
        callforce_store::Completion {
            id: job.id,
            workspace: self.workspace,
            at: now,
            result: Some(response.to_string()),
            audit: self.entry(kind, response, ok),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_named() {
        type Edit = fn(&mut PipelineConfig);
        let cases: Vec<(Edit, &str)> = vec![
            (|c| c.jitter = 1.5, "jitter"),
            (|c| c.batch = 0, "batch"),
            (|c| c.lease_for = Duration::from_millis(10), "lease_for"),
            (|c| c.usage_threshold = 0.0, "usage_threshold"),
            (
                |c| {
                    c.external_ids.insert("Task".into(), "bad field".into());
                },
                "external_ids",
            ),
        ];
        assert!(PipelineConfig::default().validate().is_ok());
        for (f, want) in cases {
            let mut c = PipelineConfig::default();
            f(&mut c);
            let e = c.validate().expect_err(want).to_string();
            assert!(e.contains(want), "{e}");
        }
    }
}
