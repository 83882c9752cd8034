//! The service's Prometheus metrics (served at `GET /metrics`: text format, no API key, since it holds
//! counts and action names, never record data): per-action latency, API requests by status, Salesforce errors
//! met by actions, operations the operations log dropped, the org's API usage as Salesforce reports it, open calls, and the write
//! queue's jobs by state (read from the store when scraped).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    /// Action latency in seconds, by action and outcome (`ok`, `confirm`, or the error code).
    pub action_seconds: HistogramVec,
    /// Agent API requests by status code.
    pub http_requests: IntCounterVec,
    /// Actions that met a Salesforce refusal or could not reach it, by error code.
    pub salesforce_errors: IntCounterVec,
    /// Operations the operations log dropped, by reason (`full`: the writer was behind;
    /// `store`: the store refused the batch; `closed`: the writer was gone).
    pub operations_dropped: IntCounterVec,
    api_used: IntGauge,
    api_max: IntGauge,
    open_calls: IntGauge,
    queue_jobs: IntGaugeVec,
    round_trips: IntCounter,
    /// The connections' round-trip count at the last scrape, to add only what is new.
    round_trips_seen: std::sync::atomic::AtomicU64,
}

impl Metrics {
    /// A fresh registry with the service's metrics.
    pub fn new() -> Self {
        let action_seconds = HistogramVec::new(
            HistogramOpts::new(
                "callforce_action_duration_seconds",
                "Time to run an action, Salesforce round trips included",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["action", "outcome"],
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let http_requests = IntCounterVec::new(
            Opts::new("callforce_http_requests_total", "HTTP requests by status"),
            &["status"],
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let salesforce_errors = IntCounterVec::new(
            Opts::new(
                "callforce_salesforce_errors_total",
                "Actions that Salesforce refused or that could not reach it",
            ),
            &["code"],
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let operations_dropped = IntCounterVec::new(
            Opts::new(
                "callforce_operations_dropped_total",
                "Actions the operations log did not record, by reason",
            ),
            &["reason"],
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let gauge = |name: &str, help: &str| {
            IntGauge::new(name, help).unwrap_or_else(|e| unreachable!("static metric: {e}"))
        };
        let api_used = gauge(
            "callforce_salesforce_api_requests_used",
            "API requests the org counted today (its Sforce-Limit-Info: every round trip counts)",
        );
        let api_max = gauge(
            "callforce_salesforce_api_requests_max",
            "The org's daily API request allowance",
        );
        let open_calls = gauge("callforce_open_calls", "Call sessions open now");
        let queue_jobs = IntGaugeVec::new(
            Opts::new(
                "callforce_queue_jobs",
                "Jobs in the durable write queue by state (queued, leased, dead), every workspace",
            ),
            &["state"],
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let round_trips = IntCounter::new(
            "callforce_salesforce_round_trips_total",
            "Requests sent to the orgs' REST APIs (retries and re-sends after a refresh included)",
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let registry = Registry::new();
        for c in [
            Box::new(action_seconds.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_requests.clone()),
            Box::new(salesforce_errors.clone()),
            Box::new(operations_dropped.clone()),
            Box::new(api_used.clone()),
            Box::new(api_max.clone()),
            Box::new(open_calls.clone()),
            Box::new(queue_jobs.clone()),
            Box::new(round_trips.clone()),
        ] {
            // NB: names are distinct constants; registering cannot collide.
            let _ = registry.register(c);
        }
        Self {
            registry,
            action_seconds,
            http_requests,
            salesforce_errors,
            operations_dropped,
            api_used,
            api_max,
            open_calls,
            queue_jobs,
            round_trips,
            round_trips_seen: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The metrics in Prometheus text format, after setting the gauges from `gauges` (and the
    /// queue's jobs from `queue`, when the store could be read).
    pub fn render(&self, gauges: &Gauges, queue: Option<callforce_store::JobCounts>) -> String {
        if let Some(q) = queue {
            for (state, n) in [("queued", q.queued), ("leased", q.leased), ("dead", q.dead)] {
                self.queue_jobs
                    .with_label_values(&[state])
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        self.open_calls
            .set(i64::try_from(gauges.open_calls).unwrap_or(i64::MAX));
        // The connections count; the counter takes what is new since the last scrape (a
        // disconnected connection's count leaves the sum: nothing is added until it is passed).
        let now = gauges.round_trips;
        let seen = self
            .round_trips_seen
            .fetch_max(now, std::sync::atomic::Ordering::Relaxed);
        self.round_trips.inc_by(now.saturating_sub(seen));
        if let Some(u) = &gauges.api_usage {
            self.api_used.set(i64::try_from(u.used).unwrap_or(i64::MAX));
            self.api_max.set(i64::try_from(u.max).unwrap_or(i64::MAX));
        }
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// What the gauges read when the metrics are scraped.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    /// The calls open now.
    pub open_calls: usize,
    /// Requests sent to the orgs by every connection of this process.
    pub round_trips: u64,
    /// The default workspace's org's API usage, as it last reported it.
    pub api_usage: Option<callforce_client::ApiUsage>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
