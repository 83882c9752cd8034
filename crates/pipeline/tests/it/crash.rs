//! Crash test: a child process draining 10,000 queued writes is killed with SIGKILL, started
//! again, and every write lands exactly once, counted in the dev org (which lives in this test
//! process and so survives the kill).
//!
//! The child is this same test binary running [`drain_child`] (ignored in normal runs), told
//! where the org and the database are through environment variables.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use callforce_client::Connection;
use callforce_pipeline::{Connections, PipelineConfig, PipelineSink, SystemClock, Worker, Workers};
use callforce_store::{JobStatus, Store, WorkspaceId};
use chrono::Utc;
use futures_util::{StreamExt, TryStreamExt};
use tokio::sync::Notify;

use crate::support::{Db, config, connect, org, store, task, write};

const CHILD: &str = "CALLFORCE_TEST_CRASH_CHILD";
const ORG_ADDR: &str = "CALLFORCE_TEST_CRASH_ORG";
const DB_URL: &str = "CALLFORCE_TEST_CRASH_DB";
const WRITES: u32 = 10_000;

fn child_config() -> PipelineConfig {
    PipelineConfig {
        // A killed worker's leases run out quickly, so the restarted child takes its jobs.
        lease_for: Duration::from_secs(2),
        batch: 64,
        ..config()
    }
}

/// Spawns the child drainer.
fn spawn_child(org_addr: &str, db: &str) -> Result<std::process::Child> {
    let exe = std::env::current_exe()?;
    Ok(std::process::Command::new(exe)
        .args(["crash::drain_child", "--exact", "--ignored", "--nocapture"])
        .env(CHILD, "1")
        .env(ORG_ADDR, org_addr)
        .env(DB_URL, db)
        .stdout(std::process::Stdio::null())
        .spawn()?)
}

async fn count_done(store: &Store, ws: WorkspaceId) -> Result<usize> {
    Ok(store
        .list_jobs(ws, Some(JobStatus::Done), 100_000)
        .await?
        .len())
}

async fn crash_and_restart(db: Db) -> Result<()> {
    let test = "kill -9 while draining";
    let Some((store, dir)) = store(db, test).await? else {
        return Ok(());
    };
    let url = match (&dir, db) {
        (Some(d), Db::Sqlite) => format!("sqlite:{}", d.path().join("queue.db").display()),
        _ => {
            let base = std::env::var("DATABASE_URL")?;
            let schema: (String,) = sqlx::query_as("SELECT current_schema()")
                .fetch_one(store.pg_pool().context("pg")?)
                .await?;
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}options=-c%20search_path%3D{}", schema.0)
        }
    };
    let org = org().await?;
    let conn = connect(&org).await?;
    let ws = store.create_workspace("crash", Utc::now()).await?.id;
    let sink = PipelineSink::new(
        store.clone(),
        conn.clone(),
        "org",
        ws,
        Arc::new(config()),
        Arc::new(SystemClock),
        Arc::new(Notify::new()),
    );
    // Enqueued 32 at a time, as many calls would.
    let sink = &sink;
    let t = std::time::Instant::now();
    futures_util::stream::iter(0..WRITES)
        .map(|i| async move {
            let w = write(
                "call-crash",
                "log_call",
                i,
                task(&format!("crash-{i}")),
                false,
            );
            callforce_actions::WriteSink::write(sink, w).await
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    eprintln!("{db:?}: enqueued {WRITES} in {:?}", t.elapsed());
    let addr = org.addr.to_string();
    let mut child = spawn_child(&addr, &url)?;
    // Kill it mid-drain: once some writes are done and many are not.
    loop {
        let done = count_done(&store, ws).await?;
        if done >= 1_000 {
            break;
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("the child exited before it was killed: {status}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill()?; // SIGKILL
    child.wait()?;
    let at_kill = count_done(&store, ws).await?;
    assert!(
        at_kill < WRITES as usize,
        "{db:?}: the child was killed before it finished ({at_kill} done)"
    );
    eprintln!("{db:?}: killed after {:?} with {at_kill} done", t.elapsed());
    let mut again = spawn_child(&addr, &url)?;
    let status = tokio::task::spawn_blocking(move || again.wait()).await??;
    assert!(
        status.success(),
        "{db:?}: the restarted child drained the queue"
    );

    assert_eq!(count_done(&store, ws).await?, WRITES as usize, "{db:?}");
    // Counted in the org: every write once, none twice.
    let r = conn
        .query::<callforce_client::Record>("SELECT Id FROM Task WHERE Subject LIKE 'crash-%'")
        .await?;
    assert_eq!(
        r.total_size,
        u64::from(WRITES),
        "{db:?}: no write lost or doubled"
    );
    let dead = store
        .list_dead_letters(ws, &callforce_store::DeadLetterFilter::default())
        .await?;
    assert!(dead.is_empty(), "{db:?}: {dead:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_draining_10000_writes_loses_and_doubles_nothing_sqlite() -> Result<()> {
    crash_and_restart(Db::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_draining_10000_writes_loses_and_doubles_nothing_postgres() -> Result<()> {
    crash_and_restart(Db::Postgres).await
}

/// The child: drains the queue at `CALLFORCE_TEST_CRASH_DB` into the org at
/// `CALLFORCE_TEST_CRASH_ORG`, and exits when nothing is queued or leased.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the crash test runs it as its child process"]
async fn drain_child() -> Result<()> {
    if std::env::var(CHILD).is_err() {
        println!("SKIPPED: drain_child runs only as the crash test's child");
        return Ok(());
    }
    let addr = std::env::var(ORG_ADDR)?;
    let db = std::env::var(DB_URL)?;
    let store = Store::open(&db).await?;
    let conn = connect_to(&addr).await?;
    let ws = store
        .workspace_by_name("crash")
        .await?
        .context("workspace")?
        .id;
    let conns: HashMap<(WorkspaceId, String), Connection> = [((ws, "org".to_owned()), conn)].into();
    let conns: Arc<dyn Connections> = Arc::new(conns);
    let owner = format!("child-{}", std::process::id());
    let worker = Worker::new(
        store.clone(),
        conns,
        Arc::new(child_config()),
        Arc::new(SystemClock),
        owner,
    );
    let workers = Workers::spawn(&worker, 4, Arc::new(Notify::new()));
    loop {
        let queued = store.list_jobs(ws, Some(JobStatus::Queued), 1).await?.len();
        let leased = store.list_jobs(ws, Some(JobStatus::Leased), 1).await?.len();
        if queued + leased == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    workers.stop().await;
    Ok(())
}

async fn connect_to(addr: &str) -> Result<Connection> {
    // The child has no dev org handle: it logs in with the dev org's default credentials.
    let c = callforce_devorg::Config::default();
    let app = callforce_client::OAuthApp {
        client_id: c.client_id.clone(),
        client_secret: Some(callforce_client::SecretString::from(
            c.client_secret.clone(),
        )),
        redirect_uri: None,
    };
    let mut cfg = callforce_client::ConnectionConfig::new(
        callforce_client::LoginHost::Url(format!("http://{addr}")),
        app,
    );
    cfg.pool = Some(callforce_client::HttpPool::new(
        callforce_client::HttpConfig::default(),
    ));
    let grant = callforce_client::Grant::Password {
        username: c.username.clone(),
        password: callforce_client::SecretString::from(c.password.clone()),
    };
    Ok(Connection::login(cfg, grant).await?)
}
