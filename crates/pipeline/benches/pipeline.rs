//! Write pipeline figures: the time a non-blocking write adds to a tool call (one committed
//! enqueue, p50/p99 over sequential writes), durable enqueue throughput (32 writes in flight),
//! and draining queued writes to an in-process dev org over HTTP (as `callforce serve` does by
//! default: 2 workers leasing up to 32 jobs each). On SQLite (a temporary file) and, when
//! `DATABASE_URL` is set, PostgreSQL (a fresh schema).
//!
//! Run: `cargo bench -p callforce-pipeline --bench pipeline` (`BENCH_WRITES`, default 5000;
//! `BENCH_WORKERS`, default 2; `BENCH_BATCH`, default 32).

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use callforce_actions::{Write, WriteSink};
use callforce_client::{
    Connection, ConnectionConfig, Grant, LoginHost, OAuthApp, Request, SecretString,
};
use callforce_pipeline::{Connections, PipelineConfig, PipelineSink, SystemClock, Worker, Workers};
use callforce_store::{JobStatus, Store, WorkspaceId};
use callforce_testkit::PgSchema;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::json;
use tokio::sync::Notify;

fn write(run: &str, i: u32) -> Write {
    let key = format!("{run}/log_call/{i}");
    Write {
        request: Request::Create {
            sobject: "Task".into(),
            record: json!({"Subject": format!("bench {i}"), "Status": "Completed",
                "Description": "Caller asked for a callback tomorrow at 10."})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        },
        record_key: format!("Task:new:{key}"),
        idempotency_key: key,
        call_id: run.to_owned(),
        agent: Some("agent-1".into()),
        workspace: None,
        action: "log_call".into(),
        blocking: false,
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

async fn unfinished(store: &Store, ws: WorkspaceId) -> usize {
    let q = store
        .list_jobs(ws, Some(JobStatus::Queued), 1)
        .await
        .map_or(1, |v| v.len());
    let l = store
        .list_jobs(ws, Some(JobStatus::Leased), 1)
        .await
        .map_or(1, |v| v.len());
    q + l
}

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn run(name: &str, store: Store, conn: &Connection, n: u32) {
    let ws = store
        .create_workspace(&format!("bench-{name}"), chrono::Utc::now())
        .await
        .expect("workspace")
        .id;
    let config = Arc::new(PipelineConfig {
        external_ids: BTreeMap::from([("Task".to_owned(), "Callforce_Key__c".to_owned())]),
        batch: env_or("BENCH_BATCH", PipelineConfig::default().batch),
        ..PipelineConfig::default()
    });
    let sink = PipelineSink::new(
        store.clone(),
        conn.clone(),
        "org",
        ws,
        config.clone(),
        Arc::new(SystemClock),
        Arc::new(Notify::new()),
    );

    // 1. Latency a non-blocking write adds to a tool call: sequential writes.
    let mut lat = Vec::with_capacity(n as usize);
    let t = Instant::now();
    for i in 0..n {
        let s = Instant::now();
        sink.write(write("seq", i)).await.expect("queued");
        lat.push(s.elapsed());
    }
    let seq_rate = f64::from(n) / t.elapsed().as_secs_f64();
    lat.sort();
    println!(
        "{name}: non-blocking write (sequential) p50 {:?} p99 {:?} max {:?}; {seq_rate:.0}/s",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        lat[lat.len() - 1]
    );

    // 2. Enqueue throughput, 32 in flight.
    let sink_ref = &sink;
    let t = Instant::now();
    futures_util::stream::iter(0..n)
        .map(|i| async move { sink_ref.write(write("conc", i)).await })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await
        .expect("queued");
    let conc_rate = f64::from(n) / t.elapsed().as_secs_f64();
    println!("{name}: durable enqueue, 32 in flight: {conc_rate:.0}/s");

    // 3. Drain everything queued (2n writes) to the dev org.
    let conns: HashMap<(WorkspaceId, String), Connection> =
        [((ws, "org".to_owned()), conn.clone())].into();
    let conns: Arc<dyn Connections> = Arc::new(conns);
    let worker = Worker::new(
        store.clone(),
        conns,
        config.clone(),
        Arc::new(SystemClock),
        "bench",
    );
    let t = Instant::now();
    let count = env_or("BENCH_WORKERS", 2);
    let workers = Workers::spawn(&worker, count, Arc::new(Notify::new()));
    while unfinished(&store, ws).await > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let el = t.elapsed();
    workers.stop().await;
    println!(
        "{name}: drained {} writes to the dev org ({count} workers, batch {}) in {el:?}: {:.0}/s",
        2 * n,
        config.batch,
        f64::from(2 * n) / el.as_secs_f64()
    );
}

fn main() {
    let n: u32 = env_or("BENCH_WRITES", 5000);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let org = callforce_devorg::DevOrg::new(callforce_devorg::Config::default()).expect("org");
        let org = callforce_devorg::spawn(org, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("spawn");
        let c = org.org.config();
        let app = OAuthApp {
            client_id: c.client_id.clone(),
            client_secret: Some(SecretString::from(c.client_secret.clone())),
            redirect_uri: None,
        };
        let conn = Connection::login(
            ConnectionConfig::new(LoginHost::Url(format!("http://{}", org.addr)), app),
            Grant::ClientCredentials,
        )
        .await
        .expect("login");

        let dir = tempfile::tempdir().expect("tempdir");
        let sqlite = Store::open_sqlite(&dir.path().join("bench.db"))
            .await
            .expect("sqlite");
        run("sqlite", sqlite, &conn, n).await;

        if let Some(schema) = PgSchema::for_test("pipeline bench").await.expect("schema") {
            let opts = sqlx::postgres::PgConnectOptions::from_str(&schema.url()).expect("url");
            let pg = Store::connect_postgres(opts, 16).await.expect("pg store");
            run("postgres", pg.clone(), &conn, n).await;
            pg.close().await;
        }
    });
}
