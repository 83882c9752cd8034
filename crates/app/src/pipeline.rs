//! The write pipeline inside `callforce serve`: its settings, the sink each connection's actions
//! write through (jobs carry the connection's id), and the workers that drain the durable queue
//! through the registry of live connections (started with the service, stopped when it shuts
//! down).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use callforce_client::Connection;
pub use callforce_pipeline::Workers;
use callforce_pipeline::{Connections, PipelineConfig, PipelineSink, SystemClock, Worker};
use callforce_store::{Store, WorkspaceId};
use tokio::sync::Notify;

/// The External ID field of the demo schema that makes creates idempotent.
pub const DEMO_KEY_FIELD: &str = "Callforce_Key__c";

/// How long a call's writes are remembered for their repeats by default (10 minutes).
pub const DEFAULT_DUPLICATE_WINDOW: Duration = Duration::from_secs(600);

/// How `serve` runs its writes.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineSettings {
    /// How long a blocking write may take before it is queued.
    pub budget: Duration,
    /// The actions whose writes are queued and acknowledged at once.
    pub non_blocking: Vec<String>,
    /// How many workers drain the queue.
    pub workers: usize,
    /// Objects whose creates are sent as upserts on this External ID field.
    pub external_ids: BTreeMap<String, String>,
    /// How far before an unanswered create's attempt its lookup reaches (the org's clock may
    /// be behind).
    pub lookup_skew: Duration,
    /// How long a call's write is remembered, so the same action with the same arguments asked
    /// for again in the call answers its result (zero: not kept; only a retry of the call's
    /// last write is recognised, in memory).
    pub duplicate_window: Duration,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        Self {
            budget: PipelineConfig::default().budget,
            non_blocking: callforce_actions::DEFAULT_NON_BLOCKING
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            workers: 2,
            // The embedded dev org's demo schema has the field on these objects.
            external_ids: ["Task", "Event", "Case"]
                .into_iter()
                .map(|o| (o.to_owned(), DEMO_KEY_FIELD.to_owned()))
                .collect(),
            lookup_skew: PipelineConfig::default().lookup_skew,
            duplicate_window: DEFAULT_DUPLICATE_WINDOW,
        }
    }
}

/// Parses `OBJECT=FIELD` pairs.
///
/// # Errors
/// A pair without `=` (what to write instead).
pub fn parse_external_ids(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|p| match p.split_once('=') {
            Some((o, f)) if !o.trim().is_empty() && !f.trim().is_empty() => {
                Ok((o.trim().to_owned(), f.trim().to_owned()))
            }
            _ => {
                anyhow::bail!("--external-id '{p}': write OBJECT=FIELD, e.g. Task=Callforce_Key__c")
            }
        })
        .collect()
}

/// What every connection's sink shares: the store, the settings, the clock and the workers'
/// wake-up.
#[derive(Clone)]
pub struct SinkParts {
    store: Store,
    config: Arc<PipelineConfig>,
    clock: Arc<SystemClock>,
    wake: Arc<Notify>,
    non_blocking: Vec<String>,
    repeats: Option<Arc<crate::repeats::StoreRepeats>>,
}

impl SinkParts {
    /// The sink the actions of connection `connection_id` (of `workspace`) write through.
    pub fn sink(
        &self,
        conn: &Connection,
        connection_id: &str,
        workspace: WorkspaceId,
    ) -> Arc<PipelineSink> {
        Arc::new(PipelineSink::new(
            self.store.clone(),
            conn.clone(),
            connection_id,
            workspace,
            self.config.clone(),
            self.clock.clone(),
            self.wake.clone(),
        ))
    }

    /// Wakes the idle workers (the handle [`Workers::wake`] returns).
    pub fn wake_workers(&self) {
        self.wake.notify_waiters();
    }

    /// The mid-call budget: how long a blocking write may take before it is queued, and how
    /// long a read may take with its retries.
    pub fn budget(&self) -> Duration {
        self.config.budget
    }

    /// The actions whose writes are queued and acknowledged at once.
    pub fn non_blocking(&self) -> &[String] {
        &self.non_blocking
    }

    /// The duplicate window of calls' writes (`None`: the window is zero).
    pub fn repeats(&self) -> Option<Arc<crate::repeats::StoreRepeats>> {
        self.repeats.clone()
    }
}

/// Checks the settings and builds what the sinks share.
///
/// # Errors
/// An invalid setting (what to fix).
pub fn prepare(store: &Store, settings: &PipelineSettings) -> anyhow::Result<SinkParts> {
    if settings.workers == 0 {
        anyhow::bail!("--workers must be at least 1 (the queue would never drain)");
    }
    let config = PipelineConfig {
        budget: settings.budget,
        external_ids: settings.external_ids.clone(),
        lookup_skew: settings.lookup_skew,
        ..PipelineConfig::default()
    };
    config.validate()?;
    Ok(SinkParts {
        store: store.clone(),
        config: Arc::new(config),
        clock: Arc::new(SystemClock),
        wake: Arc::new(Notify::new()),
        non_blocking: settings.non_blocking.clone(),
        repeats: (!settings.duplicate_window.is_zero()).then(|| {
            Arc::new(crate::repeats::StoreRepeats::new(
                store.clone(),
                settings.duplicate_window,
            ))
        }),
    })
}

/// Starts `count` workers sending jobs through `conns` (the registry of live connections, by
/// connection id).
pub fn spawn_workers(parts: &SinkParts, conns: Arc<dyn Connections>, count: usize) -> Workers {
    let owner = format!(
        "worker-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    );
    let worker = Worker::new(
        parts.store.clone(),
        conns,
        parts.config.clone(),
        parts.clock.clone(),
        owner,
    );
    Workers::spawn(&worker, count, parts.wake.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_id_pairs_are_parsed_or_refused() {
        let ok =
            parse_external_ids(&["Task=Key__c".into(), " Case = Other__c ".into()]).expect("valid");
        assert_eq!(ok.get("Task").map(String::as_str), Some("Key__c"));
        assert_eq!(ok.get("Case").map(String::as_str), Some("Other__c"));
        for bad in ["Task", "=Key__c", "Task="] {
            let e = parse_external_ids(&[bad.into()])
                .expect_err(bad)
                .to_string();
            assert!(e.contains("OBJECT=FIELD"), "{e}");
        }
    }
}
