//! The test bed: a dev org on 127.0.0.1:0, a store on a fresh SQLite file or PostgreSQL
//! schema, a manual clock, a pipeline sink and a worker.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use callforce_actions::{Write, WriteOutcome, WriteSink};
use callforce_client::{
    Connection, ConnectionConfig, Grant, HttpConfig, HttpPool, LoginHost, OAuthApp, Record,
    Request, SecretString,
};
use callforce_devorg::{Config, DevOrg, Running};
use callforce_pipeline::{Connections, ManualClock, PipelineConfig, PipelineSink, Worker};
use callforce_store::{JobStatus, Store, WorkspaceId};
use callforce_testkit::PgSchema;
use chrono::{TimeDelta, TimeZone, Utc};
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use tokio::sync::Notify;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Everything a pipeline test needs.
pub struct Bed {
    pub org: Running,
    pub conn: Connection,
    pub store: Store,
    pub ws: WorkspaceId,
    pub clock: Arc<ManualClock>,
    pub sink: PipelineSink,
    pub worker: Worker,
    /// Last, so the handles above are dropped before the database goes.
    _place: Place,
}

/// The External ID field of the demo schema used for idempotent creates.
pub const KEY_FIELD: &str = "Callforce_Key__c";

/// The default test configuration: the demo schema's key field on Task, Event and Case.
pub fn config() -> PipelineConfig {
    PipelineConfig {
        external_ids: ["Task", "Event", "Case"]
            .into_iter()
            .map(|o| (o.to_owned(), KEY_FIELD.to_owned()))
            .collect::<BTreeMap<_, _>>(),
        ..PipelineConfig::default()
    }
}

/// Where a test's database lives: dropping it removes the database.
pub enum Place {
    /// The directory holding `queue.db`.
    Sqlite(tempfile::TempDir),
    Postgres(PgSchema),
}

impl Place {
    /// The URL another process opens this database with.
    pub fn url(&self) -> String {
        match self {
            Place::Sqlite(dir) => format!("sqlite:{}", dir.path().join("queue.db").display()),
            Place::Postgres(schema) => schema.url(),
        }
    }
}

/// A store on `db`, or `None` (after saying so) when PostgreSQL is not configured.
pub async fn store(db: Db, test: &str) -> Result<Option<(Store, Place)>> {
    match db {
        Db::Sqlite => {
            let dir = tempfile::tempdir()?;
            let store = Store::open_sqlite(&dir.path().join("queue.db")).await?;
            Ok(Some((store, Place::Sqlite(dir))))
        }
        Db::Postgres => {
            let Some(schema) = PgSchema::for_test(test).await? else {
                return Ok(None);
            };
            let opts = PgConnectOptions::from_str(&schema.url())?;
            let store = Store::connect_postgres(opts, 8).await?;
            Ok(Some((store, Place::Postgres(schema))))
        }
    }
}

/// A dev org on an ephemeral port.
pub async fn org() -> Result<Running> {
    let org = DevOrg::new(Config::default())?;
    Ok(callforce_devorg::spawn(org, "127.0.0.1:0".parse()?).await?)
}

/// A connection to `org` with the password grant and its own HTTP pool.
pub async fn connect(org: &Running) -> Result<Connection> {
    let c = org.org.config();
    let app = OAuthApp {
        client_id: c.client_id.clone(),
        client_secret: Some(SecretString::from(c.client_secret.clone())),
        redirect_uri: None,
    };
    let mut cfg = ConnectionConfig::new(LoginHost::Url(format!("http://{}", org.addr)), app);
    cfg.pool = Some(HttpPool::new(HttpConfig::default()));
    let grant = Grant::Password {
        username: c.username.clone(),
        password: SecretString::from(c.password.clone()),
    };
    Ok(Connection::login(cfg, grant).await?)
}

impl Bed {
    /// A bed on `db` with `config`, or `None` when that database is not available.
    pub async fn new(db: Db, test: &str, config: PipelineConfig) -> Result<Option<Bed>> {
        let Some((store, place)) = store(db, test).await? else {
            return Ok(None);
        };
        let org = org().await?;
        let conn = connect(&org).await?;
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
        ));
        let ws = store.create_workspace("test", clock_now(&clock)).await?.id;
        let config = Arc::new(config);
        let wake = Arc::new(Notify::new());
        let sink = PipelineSink::new(
            store.clone(),
            conn.clone(),
            "org",
            ws,
            config.clone(),
            clock.clone(),
            wake,
        );
        let conns: HashMap<(WorkspaceId, String), Connection> =
            [((ws, "org".to_owned()), conn.clone())].into();
        let conns: Arc<dyn Connections> = Arc::new(conns);
        let worker = Worker::new(store.clone(), conns, config.clone(), clock.clone(), "w");
        Ok(Some(Bed {
            org,
            conn,
            store,
            ws,
            clock,
            sink,
            worker,
            _place: place,
        }))
    }

    /// The dev org's base URL.
    pub fn base(&self) -> String {
        format!("http://{}", self.org.addr)
    }

    /// Replaces the dev org's injected faults.
    pub async fn faults(&self, spec: Value) {
        let r = reqwest::Client::new()
            .put(format!("{}/devorg/faults", self.base()))
            .json(&spec)
            .send()
            .await
            .expect("faults");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }

    /// Clears the injected faults.
    pub async fn clear_faults(&self) {
        let r = reqwest::Client::new()
            .delete(format!("{}/devorg/faults", self.base()))
            .send()
            .await
            .expect("faults");
        assert!(r.status().is_success());
    }

    /// A `POST`/`PUT` to an admin route of the dev org.
    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) {
        let mut b = reqwest::Client::new().request(method, format!("{}{path}", self.base()));
        if let Some(body) = body {
            b = b.json(&body);
        }
        let r = b.send().await.expect("admin");
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }

    /// Sends a write through the sink.
    pub async fn write(&self, w: Write) -> WriteOutcome {
        self.sink.write(w).await.expect("write accepted")
    }

    /// Sends a write through the sink, returning its error too.
    pub async fn sink_write(
        &self,
        w: Write,
    ) -> Result<WriteOutcome, callforce_actions::WriteError> {
        self.sink.write(w).await
    }

    /// Runs worker rounds, moving the clock 10 s whenever nothing was due, until no job is
    /// queued or leased (or `max_rounds`). Returns the rounds run.
    pub async fn drain(&self, max_rounds: usize) -> usize {
        for round in 0..max_rounds {
            let n = self.worker.run_once().await.expect("round");
            if n == 0 {
                if self.unfinished().await == 0 {
                    return round;
                }
                self.clock.advance(TimeDelta::seconds(10));
            }
        }
        max_rounds
    }

    /// How many jobs are queued or leased.
    pub async fn unfinished(&self) -> usize {
        let q = self
            .store
            .list_jobs(self.ws, Some(JobStatus::Queued), 100_000)
            .await
            .expect("jobs")
            .len();
        let l = self
            .store
            .list_jobs(self.ws, Some(JobStatus::Leased), 100_000)
            .await
            .expect("jobs")
            .len();
        q + l
    }

    /// How many records of `object` match `where_`, counted in the dev org.
    pub async fn count(&self, object: &str, where_: &str) -> u64 {
        let soql = format!("SELECT Id FROM {object} WHERE {where_}");
        let r = self.conn.query::<Record>(&soql).await.expect("count query");
        r.total_size
    }
}

fn clock_now(c: &ManualClock) -> chrono::DateTime<Utc> {
    use callforce_pipeline::Clock;
    c.now()
}

/// A write of action `action` at place `place` of call `call`.
pub fn write(call: &str, action: &str, place: u32, request: Request, blocking: bool) -> Write {
    let idempotency_key = format!("{call}/{action}/{place}");
    let record_key = match &request {
        Request::Update { sobject, id, .. } | Request::Delete { sobject, id } => {
            format!("{sobject}:{id}")
        }
        _ => format!("new:{idempotency_key}"),
    };
    Write {
        request,
        idempotency_key,
        call_id: call.to_owned(),
        agent: Some("agent-7".into()),
        workspace: None,
        action: action.to_owned(),
        record_key,
        blocking,
    }
}

/// A Task create with this subject.
pub fn task(subject: &str) -> Request {
    Request::Create {
        sobject: "Task".into(),
        record: json!({"Subject": subject, "Status": "Completed"})
            .as_object()
            .cloned()
            .expect("object"),
    }
}

/// A short budget, for tests where the budget must run out.
pub fn short_budget() -> PipelineConfig {
    PipelineConfig {
        budget: Duration::from_millis(300),
        ..config()
    }
}
