//! Durable enqueue throughput: one committed job per enqueue, on SQLite (a temporary file) and,
//! when `DATABASE_URL` is set, on PostgreSQL (a fresh schema, dropped afterwards).
//!
//! `sequential`: one enqueue at a time (commit latency). `concurrent_32`: 32 enqueues in flight
//! at once, as many calls would produce them.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use callforce_store::{NewJob, Store, WorkspaceId};
use callforce_testkit::PgSchema;
use chrono::Utc;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sqlx::postgres::PgConnectOptions;

static NEXT: AtomicU64 = AtomicU64::new(0);

fn job(ws: WorkspaceId) -> NewJob {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    NewJob {
        workspace: ws,
        connection_id: "conn-1".into(),
        idempotency_key: format!("call-{}/log_call/{n}", n / 8),
        ordering_key: format!("Task:{n}"),
        kind: "create".into(),
        payload: r#"{"sobject":"Task","fields":{"Subject":"Call","Status":"Completed","WhoId":"003000000000001AAA","Description":"Caller asked for a callback tomorrow at 10."}}"#.into(),
        call_id: Some(format!("call-{}", n / 8)),
        agent: Some("agent-1".into()),
        run_at: Utc::now(),
    }
}

fn bench_store(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, store: &Store) {
    let ws = rt
        .block_on(store.create_workspace("bench", Utc::now()))
        .expect("workspace")
        .id;
    let mut g = c.benchmark_group(format!("enqueue_{name}"));
    g.throughput(Throughput::Elements(1));
    g.bench_function("sequential", |b| {
        b.to_async(rt).iter(|| async {
            store.enqueue(&job(ws), Utc::now()).await.expect("enqueue");
        })
    });
    g.throughput(Throughput::Elements(32));
    g.bench_function("concurrent_32", |b| {
        b.to_async(rt).iter(|| async {
            let futs = (0..32).map(|_| {
                let s = store.clone();
                tokio::spawn(async move { s.enqueue(&job(ws), Utc::now()).await })
            });
            for r in futures_util::future::join_all(futs).await {
                r.expect("task").expect("enqueue");
            }
        })
    });
    g.finish();
}

fn enqueue(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = rt
        .block_on(Store::open_sqlite(&dir.path().join("bench.db")))
        .expect("sqlite");
    bench_store(c, &rt, "sqlite", &sqlite);
    rt.block_on(sqlite.close());

    let Some(schema) = rt
        .block_on(PgSchema::for_test("enqueue_postgres"))
        .expect("schema")
    else {
        return;
    };
    let opts = PgConnectOptions::from_str(&schema.url()).expect("url");
    let pg = rt
        .block_on(Store::connect_postgres(opts, 16))
        .expect("postgres");
    bench_store(c, &rt, "postgres", &pg);
    rt.block_on(pg.close());
}

criterion_group!(benches, enqueue);
criterion_main!(benches);
