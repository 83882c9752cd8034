//! What recording an action in the operations log adds to a tool call: the hot-path part run by
//! `App::run_action` (cloning the arguments, building the record with the answer cloned, and
//! `try_send` on the log's channel). The writer, which redacts, serialises and inserts, runs on
//! another task and is not part of it: the channel is drained between samples, outside the
//! measured time.
//!
//! Run: `cargo bench -p callforce-app --bench operations`.

use std::time::{Duration, Instant};

use callforce_actions::{CallSession, CallVars};
use callforce_app::operations::OperationsLog;
use callforce_store::WorkspaceId;
use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

fn record(c: &mut Criterion) {
    let dropped =
        prometheus::IntCounterVec::new(prometheus::Opts::new("dropped", "dropped"), &["reason"])
            .expect("metric");
    // NB: capacity beyond any sample, so every record takes the path a call takes when the
    // writer keeps up (a full channel would measure the drop path instead).
    let (log, mut rx) = OperationsLog::new(1 << 20, dropped);
    let call = CallSession::new(CallVars {
        call_id: "call-0123456789abcdef".into(),
        caller_phone: Some("+15551234567".into()),
        agent: Some("receptionist".into()),
        ..Default::default()
    });
    let arguments = json!({"phone": "+15551234567"});
    // A search_contact answer: one Contact with its Account and three recent Cases (~1 KiB).
    let answer = Ok(json!({"records": [{
        "Id": "0035g00000ABCDEFAA1", "Name": "Ada Lovelace", "Phone": "+15551234567",
        "Email": "ada@example.com", "Account": {"Name": "Analytical Engines Ltd"},
        "Cases": [
            {"Id": "5005g00000ABCDEAA1", "CaseNumber": "00001001", "Subject": "Router keeps rebooting", "Status": "New"},
            {"Id": "5005g00000ABCDEAA2", "CaseNumber": "00001002", "Subject": "Invoice question", "Status": "Closed"},
            {"Id": "5005g00000ABCDEAA3", "CaseNumber": "00001003", "Subject": "Move the appointment", "Status": "Working"}
        ]
    }], "totalSize": 1}));
    let ws = WorkspaceId(1);

    // Per-record latencies for p50/p99 (criterion reports the mean of batches).
    let mut samples: Vec<Duration> = (0..20_000)
        .map(|_| {
            let t = Instant::now();
            let args = arguments.clone();
            let ok = log.record(
                ws,
                &call,
                Some("conn-1".into()),
                "search_contact",
                args,
                &answer,
                Utc::now(),
                Duration::from_micros(900),
                1,
            );
            let d = t.elapsed();
            assert!(ok);
            d
        })
        .collect();
    while rx.try_recv().is_ok() {}
    samples.sort_unstable();
    let at = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "record + try_send, 20000 single records: p50 {:?}, p99 {:?}",
        at(0.50),
        at(0.99)
    );

    c.bench_function("record_search_contact", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                let args = arguments.clone();
                log.record(
                    ws,
                    &call,
                    Some("conn-1".into()),
                    "search_contact",
                    args,
                    &answer,
                    Utc::now(),
                    Duration::from_micros(900),
                    1,
                );
            }
            let d = t.elapsed();
            while rx.try_recv().is_ok() {}
            d
        });
    });
}

criterion_group!(benches, record);
criterion_main!(benches);
