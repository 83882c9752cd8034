//! Crash tests: a child process draining 10,000 queued writes is killed with SIGKILL, started
//! again, and every write lands exactly once, counted in the dev org (which lives in this test
//! process and so survives the kill). Then two child processes ("instances") drain one queue on
//! one database; one is killed while it holds leases, the other takes those jobs once the leases
//! run out, and again every write lands exactly once.
//!
//! The child is this same test binary running [`drain_child`] (ignored in normal runs), told
//! where the org and the database are through environment variables. A child still running when
//! its test ends (a failed assertion) is killed before the test's database is removed.

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
/// The writes two instances drain together.
const PAIR_WRITES: u32 = 2_000;

fn child_config() -> PipelineConfig {
    PipelineConfig {
        // A killed worker's leases run out quickly, so the restarted child takes its jobs.
        lease_for: Duration::from_secs(2),
        batch: 64,
        ..config()
    }
}

/// A child process that is killed and reaped when this is dropped, so none outlives its test
/// (nor holds the test's database while it is removed).
pub(crate) struct Reaped(std::process::Child);

impl std::ops::Deref for Reaped {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        // NB: errors are ignored: a child already waited for is gone, and kill then reports
        // nothing to kill.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns the child drainer.
pub(crate) fn spawn_child(org_addr: &str, db: &str) -> Result<Reaped> {
    let exe = std::env::current_exe()?;
    Ok(Reaped(
        std::process::Command::new(exe)
            .args(["crash::drain_child", "--exact", "--ignored", "--nocapture"])
            .env(CHILD, "1")
            .env(ORG_ADDR, org_addr)
            .env(DB_URL, db)
            .stdout(std::process::Stdio::null())
            .spawn()?,
    ))
}

pub(crate) async fn count_done(store: &Store, ws: WorkspaceId) -> Result<usize> {
    Ok(store
        .list_jobs(ws, Some(JobStatus::Done), 100_000)
        .await?
        .len())
}

/// Enqueues `n` Task creates with subjects `<prefix>-<i>`, 32 at a time as many calls would.
async fn enqueue(
    store: &Store,
    conn: &Connection,
    ws: WorkspaceId,
    n: u32,
    prefix: &str,
) -> Result<()> {
    let sink = PipelineSink::new(
        store.clone(),
        conn.clone(),
        "org",
        ws,
        Arc::new(config()),
        Arc::new(SystemClock),
        Arc::new(Notify::new()),
    );
    let sink = &sink;
    futures_util::stream::iter(0..n)
        .map(|i| async move {
            let w = write(
                &format!("call-{prefix}"),
                "log_call",
                i,
                task(&format!("{prefix}-{i}")),
                false,
            );
            callforce_actions::WriteSink::write(sink, w).await
        })
        .buffer_unordered(32)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

async fn crash_and_restart(db: Db) -> Result<()> {
    let test = "kill -9 while draining";
    let Some((store, place)) = store(db, test).await? else {
        return Ok(());
    };
    let url = place.url();
    let org = org().await?;
    let conn = connect(&org).await?;
    let ws = store.create_workspace("crash", Utc::now()).await?.id;
    let t = std::time::Instant::now();
    enqueue(&store, &conn, ws, WRITES, "crash").await?;
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

/// Sends `sig` (`-STOP`, `-CONT`) to process `pid`.
fn signal(pid: u32, sig: &str) -> Result<()> {
    let status = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()?;
    anyhow::ensure!(status.success(), "kill {sig} {pid}: {status}");
    Ok(())
}

/// The jobs leased now by the workers of `owner` (a child's workers are `<owner>-<i>`).
async fn leased_by(
    store: &Store,
    ws: WorkspaceId,
    owner: &str,
) -> Result<Vec<callforce_store::JobId>> {
    let prefix = format!("{owner}-");
    Ok(store
        .list_jobs(ws, Some(JobStatus::Leased), 100_000)
        .await?
        .into_iter()
        .filter(|j| {
            j.lease_owner
                .as_deref()
                .is_some_and(|o| o.starts_with(&prefix))
        })
        .map(|j| j.id)
        .collect())
}

/// Two instances drain one queue; one is killed with SIGKILL while it holds leases.
async fn two_instances_one_killed(db: Db) -> Result<()> {
    let test = "two instances, one killed";
    let Some((store, place)) = store(db, test).await? else {
        return Ok(());
    };
    let url = place.url();
    let org = org().await?;
    let conn = connect(&org).await?;
    let ws = store.create_workspace("crash", Utc::now()).await?.id;
    enqueue(&store, &conn, ws, PAIR_WRITES, "pair").await?;
    let addr = org.addr.to_string();
    let mut victim = spawn_child(&addr, &url)?;
    let mut survivor = spawn_child(&addr, &url)?;
    let victim_owner = format!("child-{}", victim.id());
    let survivor_owner = format!("child-{}", survivor.id());
    // Kill the victim mid-drain, while both instances hold leases: it is frozen (SIGSTOP) so
    // its leases cannot finish between the look and the kill.
    loop {
        let done = count_done(&store, ws).await?;
        let survivor_busy = !leased_by(&store, ws, &survivor_owner).await?.is_empty();
        if done >= 200 && survivor_busy {
            signal(victim.id(), "-STOP")?;
            if !leased_by(&store, ws, &victim_owner).await?.is_empty() {
                break;
            }
            signal(victim.id(), "-CONT")?;
        }
        for child in [&mut victim, &mut survivor] {
            if let Some(status) = child.try_wait()? {
                anyhow::bail!("{db:?}: a child exited before the kill: {status}");
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    victim.kill()?; // SIGKILL (a stopped process dies too), leases held
    victim.wait()?;
    let orphaned = leased_by(&store, ws, &victim_owner).await?;
    let done_at_kill = count_done(&store, ws).await?;
    assert!(
        !orphaned.is_empty(),
        "{db:?}: the killed instance held leases when it died"
    );
    assert!(
        done_at_kill < PAIR_WRITES as usize,
        "{db:?}: killed mid-drain ({done_at_kill} done)"
    );
    eprintln!(
        "{db:?}: killed one instance holding {} leases, {done_at_kill} done",
        orphaned.len()
    );
    let status = tokio::task::spawn_blocking(move || survivor.wait()).await??;
    assert!(
        status.success(),
        "{db:?}: the other instance drained the queue"
    );

    assert_eq!(
        count_done(&store, ws).await?,
        PAIR_WRITES as usize,
        "{db:?}"
    );
    for id in &orphaned {
        let job = store.job(ws, *id).await?.context("job")?;
        assert_eq!(
            job.status,
            JobStatus::Done,
            "{db:?}: a job the killed instance held was finished by the other"
        );
    }
    let r = conn
        .query::<callforce_client::Record>("SELECT Id FROM Task WHERE Subject LIKE 'pair-%'")
        .await?;
    assert_eq!(
        r.total_size,
        u64::from(PAIR_WRITES),
        "{db:?}: no write lost or doubled"
    );
    let dead = store
        .list_dead_letters(ws, &callforce_store::DeadLetterFilter::default())
        .await?;
    assert!(dead.is_empty(), "{db:?}: {dead:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_database_one_killed_loses_and_doubles_nothing_postgres() -> Result<()>
{
    two_instances_one_killed(Db::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_wal_file_one_killed_loses_and_doubles_nothing_sqlite() -> Result<()> {
    two_instances_one_killed(Db::Sqlite).await
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
