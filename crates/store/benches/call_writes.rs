//! What the duplicate window adds to a write: claiming it (the expiry `DELETE`, the lookup of
//! the call's latest write to its target, the pending row's insert, one commit) and recording its
//! answer; and what a repeat costs (the claim that finds the answer). On SQLite (a temporary file)
//! and, when `DATABASE_URL` is set, on PostgreSQL (a fresh schema, dropped afterwards). The table
//! holds 10,000 writes of 1,000 other calls, as a busy window would; each measured call makes 8
//! writes.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use callforce_store::{CallWrite, Claimed, Store, WorkspaceId, WriteTarget};
use callforce_testkit::PgSchema;
use chrono::{TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use sqlx::postgres::PgConnectOptions;

static NEXT: AtomicU64 = AtomicU64::new(0);

const WINDOW: TimeDelta = TimeDelta::minutes(10);
const STALE: TimeDelta = TimeDelta::seconds(30);

fn write<'a>(
    ws: WorkspaceId,
    call: &'a str,
    hash: &'a str,
    target: WriteTarget<'a>,
) -> CallWrite<'a> {
    CallWrite {
        workspace: ws,
        call_id: call,
        instance: "5f0c9a6e8b1d4c579a0e2b7d5f1e6c42",
        action: "create_case",
        args_hash: hash,
        target,
    }
}

fn bench_store(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, store: &Store) {
    let ws = rt
        .block_on(store.create_workspace("bench", Utc::now()))
        .expect("workspace")
        .id;
    rt.block_on(async {
        for n in 0..10_000 {
            let (call, hash) = (format!("call-{}", n / 10), format!("{n:064x}"));
            let w = write(ws, &call, &hash, WriteTarget::New);
            store
                .claim_call_write(&w, Utc::now(), WINDOW, STALE)
                .await
                .expect("claim");
            store
                .finish_call_write(&w, r#"{"id":"500000000000001AAA","success":true}"#)
                .await
                .expect("finish");
        }
    });
    let mut g = c.benchmark_group(format!("call_writes_{name}"));
    g.bench_function("first_write_claim_and_finish", |b| {
        b.to_async(rt).iter(|| async {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let hash = format!("{:064x}", n + 1_000_000);
            let call = format!("bench-{}", n / 8);
            let w = write(ws, &call, &hash, WriteTarget::New);
            let c = store
                .claim_call_write(&w, Utc::now(), WINDOW, STALE)
                .await
                .expect("claim");
            assert_eq!(c, Claimed::First);
            store
                .finish_call_write(&w, r#"{"id":"500000000000001AAA","success":true}"#)
                .await
                .expect("finish");
        })
    });
    g.bench_function("update_claim_and_finish", |b| {
        b.to_async(rt).iter(|| async {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let hash = format!("{:064x}", n + 1_000_000);
            let w = write(
                ws,
                "call-bench",
                &hash,
                WriteTarget::Record("Case:500000000000001"),
            );
            let c = store
                .claim_call_write(&w, Utc::now(), WINDOW, STALE)
                .await
                .expect("claim");
            assert_eq!(c, Claimed::First);
            store
                .finish_call_write(&w, r#"{"id":"500000000000001AAA","updated":["Status"]}"#)
                .await
                .expect("finish");
        })
    });
    let hash = format!("{:064x}", 7);
    let repeated = write(ws, "call-0", &hash, WriteTarget::New);
    g.bench_function("repeat_answered", |b| {
        b.to_async(rt).iter(|| async {
            let c = store
                .claim_call_write(&repeated, Utc::now(), WINDOW, STALE)
                .await
                .expect("claim");
            assert!(matches!(c, Claimed::Done(_)));
        })
    });
    g.finish();
}

fn call_writes(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = rt
        .block_on(Store::open_sqlite(&dir.path().join("bench.db")))
        .expect("sqlite");
    bench_store(c, &rt, "sqlite", &sqlite);
    rt.block_on(sqlite.close());

    let Some(schema) = rt
        .block_on(PgSchema::for_test("call_writes_postgres"))
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

criterion_group!(benches, call_writes);
criterion_main!(benches);
