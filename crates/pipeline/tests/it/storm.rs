//! Fault storms: queued writes as `log_call` and `create_case` make them (a Task with its
//! create-only `TaskSubtype`, a Case), drained by child processes (the crash test's
//! [`drain_child`](crate::crash)) into a dev org with varying latency and lost answers
//! (answers dropped after the org committed, connections dropped before it, 503s), the children
//! killed with SIGKILL while they drain and started again. At the end every write landed once,
//! none doubled, and there is no dead letter.
//!
//! The bounded runs (200 writes, one kill) run with the suite; the full runs (2,000 writes,
//! three kills; on PostgreSQL two instances on one database) are ignored here and run by
//! `scripts/storm`, which prints the figures of `docs/benchmarks.md`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use callforce_actions::idempotency::{KeyScope, idempotency_key};
use callforce_client::{Record, Request};
use callforce_pipeline::{PipelineSink, SystemClock};
use callforce_store::DeadLetterFilter;
use chrono::Utc;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::crash::{Reaped, count_done, spawn_child};
use crate::support::{Db, config, connect, org, store};

/// One storm: how many writes, how many kills, how many instances drain at once.
struct Storm {
    writes: u32,
    kills: u32,
    instances: usize,
}

/// What landed in the org.
#[derive(Debug, PartialEq)]
struct Figures {
    landed: usize,
    doubled: usize,
    dead: usize,
}

/// The write of place `i`: even places a call logged (`log_call`), odd ones a case.
fn storm_write(ws: i64, i: u32) -> callforce_actions::Write {
    let (action, object, record) = if i.is_multiple_of(2) {
        (
            "log_call",
            "Task",
            json!({"Subject": format!("storm-{i}"), "Status": "Completed",
                "Priority": "Normal", "TaskSubtype": "Call"}),
        )
    } else {
        (
            "create_case",
            "Case",
            json!({"Subject": format!("storm-{i}"), "Origin": "Phone"}),
        )
    };
    let instance = format!("{:032x}", i / 8);
    let key = idempotency_key(Some(ws), "", KeyScope::Call(&instance), action, &record);
    callforce_actions::Write {
        request: Request::Create {
            sobject: object.into(),
            record: record.as_object().cloned().unwrap_or_default(),
        },
        record_key: format!("{object}:new:{key}"),
        idempotency_key: key,
        call_id: format!("storm-call-{}", i / 8),
        agent: Some("agent-storm".into()),
        workspace: Some(ws),
        action: action.into(),
        blocking: false,
    }
}

/// Varying latency and lost answers on every write the org gets.
fn faults() -> Value {
    let writes = "/services/data/*/sobjects/*";
    json!({
        "latency": {"min_ms": 5, "max_ms": 80},
        "rules": [
            {"kind": "commit_then_drop", "probability": 0.05, "method": "PATCH", "path": writes},
            {"kind": "drop", "probability": 0.02, "method": "PATCH", "path": writes},
            {"kind": "unavailable", "probability": 0.02, "method": "PATCH", "path": writes},
        ],
        "seed": 15,
    })
}

/// Every subject starting `storm-` of `object`, with how many records hold it.
async fn subjects(
    conn: &callforce_client::Connection,
    object: &str,
    into: &mut HashMap<String, usize>,
) -> Result<()> {
    let soql = format!("SELECT Subject FROM {object} WHERE Subject LIKE 'storm-%'");
    let rows: Vec<Record> = conn.query_stream(&soql, false).try_collect().await?;
    for r in rows {
        if let Some(s) = r.get("Subject").and_then(Value::as_str) {
            *into.entry(s.to_owned()).or_default() += 1;
        }
    }
    Ok(())
}

async fn run(db: Db, storm: Storm) -> Result<Option<Figures>> {
    let test = "fault storm";
    let Some((store, place)) = store(db, test).await? else {
        return Ok(None);
    };
    let url = place.url();
    let org = org().await?;
    let conn = connect(&org).await?;
    // NB: the child drains the workspace named `crash`.
    let ws = store.create_workspace("crash", Utc::now()).await?.id;
    let sink = PipelineSink::new(
        store.clone(),
        conn.clone(),
        "org",
        ws,
        std::sync::Arc::new(config()),
        std::sync::Arc::new(SystemClock),
        std::sync::Arc::new(Notify::new()),
    );
    let sink = &sink;
    futures_util::stream::iter(0..storm.writes)
        .map(|i| async move {
            callforce_actions::WriteSink::write(sink, storm_write(ws.0, i)).await
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    let r = reqwest::Client::new()
        .put(format!("http://{}/devorg/faults", org.addr))
        .json(&faults())
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "faults: {}", r.text().await?);

    let addr = org.addr.to_string();
    let started = Instant::now();
    let mut children: Vec<Reaped> = (0..storm.instances)
        .map(|_| spawn_child(&addr, &url))
        .collect::<Result<_>>()?;
    let total = storm.writes as usize;
    for k in 0..storm.kills {
        // Kill one instance each time a further share of the writes is done.
        let at = total * (k as usize + 1) / (storm.kills as usize + 2);
        while count_done(&store, ws).await? < at {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let victim = k as usize % children.len();
        children[victim].kill()?; // SIGKILL
        children[victim].wait()?;
        eprintln!(
            "{db:?}: kill -9 #{} at {} done after {:?}",
            k + 1,
            count_done(&store, ws).await?,
            started.elapsed()
        );
        children[victim] = spawn_child(&addr, &url)?;
    }
    for mut child in children {
        let status = tokio::task::spawn_blocking(move || child.wait()).await??;
        anyhow::ensure!(status.success(), "{db:?}: a child failed: {status}");
    }
    let elapsed = started.elapsed();

    let mut seen = HashMap::new();
    subjects(&conn, "Task", &mut seen).await?;
    subjects(&conn, "Case", &mut seen).await?;
    let every = DeadLetterFilter {
        limit: Some(100_000),
        ..DeadLetterFilter::default()
    };
    let dead = store.list_dead_letters(ws, &every).await?;
    for d in dead.iter().take(5) {
        eprintln!("{db:?}: dead letter: {:?}", d.errors.last());
    }
    let figures = Figures {
        landed: seen.len(),
        doubled: seen.values().map(|n| n - 1).sum(),
        dead: dead.len(),
    };
    let counters: Value = reqwest::get(format!("http://{}/devorg/faults", org.addr))
        .await?
        .json()
        .await?;
    eprintln!(
        "STORM {db:?}: writes={} kills={} instances={} landed={} doubled={} dead={} drained_in={:.1}s faults={}",
        storm.writes,
        storm.kills,
        storm.instances,
        figures.landed,
        figures.doubled,
        figures.dead,
        elapsed.as_secs_f64(),
        counters["counters"]
    );
    Ok(Some(figures))
}

async fn check(db: Db, storm: Storm) -> Result<()> {
    let writes = storm.writes as usize;
    if let Some(f) = run(db, storm).await? {
        assert_eq!(
            f,
            Figures {
                landed: writes,
                doubled: 0,
                dead: 0
            },
            "{db:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_storm_with_a_kill_9_lands_200_writes_once_sqlite() -> Result<()> {
    let storm = Storm {
        writes: 200,
        kills: 1,
        instances: 1,
    };
    check(Db::Sqlite, storm).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_storm_with_a_kill_9_lands_200_writes_once_two_instances_postgres() -> Result<()> {
    let storm = Storm {
        writes: 200,
        kills: 1,
        instances: 2,
    };
    check(Db::Postgres, storm).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the full storm; run by scripts/storm"]
async fn storm_2000_writes_three_kills_sqlite() -> Result<()> {
    let storm = Storm {
        writes: 2_000,
        kills: 3,
        instances: 1,
    };
    check(Db::Sqlite, storm).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the full storm; run by scripts/storm"]
async fn storm_2000_writes_three_kills_two_instances_postgres() -> Result<()> {
    let storm = Storm {
        writes: 2_000,
        kills: 3,
        instances: 2,
    };
    check(Db::Postgres, storm).await
}
