//! The duplicate window of calls' writes, kept in the store ([`callforce_store::call_writes`]),
//! so it holds across the front doors (REST and MCP share call sessions) and across instances
//! sharing a database: the same action with the same arguments asked for again in a call within
//! the window answers the first one's result and writes nothing (see `docs/writes.md`).

use std::time::Duration;

use callforce_actions::repeats::{Repeat, RepeatFuture, Repeats, Seen, Target};
use callforce_actions::{ActionError, ErrorCode};
use callforce_store::{CallWrite, Claimed, Store, WorkspaceId, WriteTarget};
use chrono::TimeDelta;
use serde_json::Value;

/// How long a request waits between two looks at an identical write still running elsewhere.
const POLL: Duration = Duration::from_millis(20);

/// A pending write older than this is taken to be abandoned (its request died with its
/// instance) and is run again by the next repeat.
const STALE: TimeDelta = TimeDelta::seconds(30);

/// [`Repeats`] kept in the store, over a window.
#[derive(Clone)]
pub struct StoreRepeats {
    store: Store,
    window: TimeDelta,
}

impl std::fmt::Debug for StoreRepeats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreRepeats")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl StoreRepeats {
    /// Repeats within `window` of the first write, in `store`.
    pub fn new(store: Store, window: Duration) -> Self {
        Self {
            store,
            window: TimeDelta::from_std(window).unwrap_or(TimeDelta::MAX),
        }
    }
}

/// `write` as the store keys it.
fn stored<'a>(write: &'a Repeat) -> CallWrite<'a> {
    CallWrite {
        workspace: WorkspaceId(write.workspace),
        call_id: &write.call_id,
        instance: &write.instance,
        action: &write.action,
        args_hash: &write.args_hash,
        target: match &write.target {
            Target::New => WriteTarget::New,
            Target::Record(r) => WriteTarget::Record(r),
            Target::Unknown => WriteTarget::Unknown,
        },
    }
}

impl Repeats for StoreRepeats {
    fn claim<'a>(&'a self, write: &'a Repeat) -> RepeatFuture<'a, Result<Seen, ActionError>> {
        Box::pin(async move {
            let w = stored(write);
            loop {
                let claimed = self
                    .store
                    .claim_call_write(&w, chrono::Utc::now(), self.window, STALE)
                    .await
                    .map_err(|e| {
                        tracing::error!(error = %e, "reading the call's earlier writes failed");
                        ActionError::new(
                            ErrorCode::Unavailable,
                            "the write could not be checked against the call's earlier writes; \
                             nothing was written, try again in a moment",
                        )
                    })?;
                match claimed {
                    Claimed::First => return Ok(Seen::First),
                    Claimed::Done(result) => {
                        return Ok(Seen::Again(
                            serde_json::from_str(&result).unwrap_or(Value::Null),
                        ));
                    }
                    // NB: the identical request runs it (on another instance, or one whose
                    // client went away): its answer is this one's too.
                    Claimed::Pending(_) => tokio::time::sleep(POLL).await,
                }
            }
        })
    }

    fn finish<'a>(&'a self, write: &'a Repeat, result: &'a Value) -> RepeatFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = self
                .store
                .finish_call_write(&stored(write), &result.to_string())
                .await
            {
                // A repeat then waits until the row is stale and writes again: logged.
                tracing::error!(error = %e, "recording a write's answer for its repeats failed");
            }
        })
    }

    fn release<'a>(&'a self, write: &'a Repeat) -> RepeatFuture<'a, ()> {
        Box::pin(async move {
            if let Err(e) = self.store.release_call_write(&stored(write)).await {
                tracing::error!(error = %e, "releasing a failed write for its repeats failed");
            }
        })
    }
}
