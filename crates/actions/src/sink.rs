//! Where the writes of actions go: a [`WriteSink`] takes each write as data ([`Write`]) and
//! answers with the org's result or a queue reference.
//!
//! By default [`Actions`](crate::Actions) use [`DirectSink`], which sends every write to the
//! connection at once. The write pipeline (`callforce-pipeline`) implements the trait with a
//! mid-call budget for blocking writes and a durable queue for the rest; an action then answers
//! a queued write with `{"queued": true, "reference": ...}` instead of the record's id.

use std::future::Future;
use std::pin::Pin;

use callforce_client::{Connection, Request};
use serde_json::Value;

/// One write an action wants made, with everything needed to run it later and to trace it.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    /// The request to send (owned and serialisable, so it can be queued).
    pub request: Request,
    /// Unique per write: 64 hex digits of SHA-256 over the workspace, the call instance (or a
    /// key the caller chose), the action and its canonical payload (see
    /// [`crate::idempotency`]); jobs queued by earlier releases hold `<call>/<action>/<place>`.
    /// The same key never makes two records.
    pub idempotency_key: String,
    /// The call it belongs to.
    pub call_id: String,
    /// The agent that asked for it.
    pub agent: Option<String>,
    /// The workspace of the call, when the caller is known (`None`: the sink's default).
    pub workspace: Option<i64>,
    /// The action that made it (`log_call`).
    pub action: String,
    /// The record it touches, for per-record order: `Account:001...` for an update or delete,
    /// `Task:new:<key>` for a create (which no later write can name yet).
    pub record_key: String,
    /// Whether the agent waits for the answer (`false`: queued and acknowledged at once).
    pub blocking: bool,
}

/// What became of a write.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    /// The org applied it and answered this (the JSON of the response; `null` for 204).
    Done(Value),
    /// It is committed to the durable queue and will be sent; `reference` names the job.
    Queued {
        /// The job's reference (`job-17`), to quote when following up.
        reference: String,
    },
}

/// Why a sink could not take a write.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The org refused the write, or could not be reached and the write was not queued.
    #[error(transparent)]
    Org(#[from] callforce_client::Error),
    /// The write could neither be made nor queued (the queue's database failed). Nothing was
    /// acknowledged; the text is for logs.
    #[error("the write could not be queued: {0}")]
    Queue(String),
}

/// The future a [`WriteSink`] returns.
pub type WriteFuture<'a> =
    Pin<Box<dyn Future<Output = Result<WriteOutcome, WriteError>> + Send + 'a>>;

/// Takes the writes of actions.
pub trait WriteSink: Send + Sync {
    /// Makes or queues `write`.
    ///
    /// # Errors
    /// [`WriteError::Org`] when the org refused it (nothing to retry) or it failed and was not
    /// queued; [`WriteError::Queue`] when it could not be queued.
    fn write(&self, write: Write) -> WriteFuture<'_>;

    /// Where a create of `sobject` queued under `idempotency_key` will be found once it has
    /// run: the External ID field and the value the sink sends it as an upsert on, when the
    /// sink makes creates of that object idempotent that way (`None` otherwise, the default).
    /// A later write can then reach the record before its id is known.
    fn upsert_key(&self, sobject: &str, idempotency_key: &str) -> Option<(String, String)> {
        let _ = (sobject, idempotency_key);
        None
    }

    /// Whether a non-blocking write is queued and acknowledged before it reaches the org
    /// (`false`, the default: every write is sent at once). When it is, the action checks it
    /// against the describe the connection holds and never asks the org on the agent's time.
    fn queues_non_blocking(&self) -> bool {
        false
    }
}

/// Sends every write to the connection at once (blocking or not) and returns the answer.
#[derive(Clone)]
pub struct DirectSink {
    conn: Connection,
}

impl DirectSink {
    /// A sink that writes through `conn`.
    pub fn new(conn: Connection) -> Self {
        Self { conn }
    }
}

impl WriteSink for DirectSink {
    fn write(&self, write: Write) -> WriteFuture<'_> {
        Box::pin(async move {
            let v = self.conn.execute(&write.request).await?;
            Ok(WriteOutcome::Done(v))
        })
    }
}

/// The result a model reads for a queued write.
pub fn queued_result(reference: &str) -> Value {
    serde_json::json!({
        "queued": true,
        "reference": reference,
        "message": "saved; it will reach Salesforce shortly (quote the reference to follow up)",
    })
}
