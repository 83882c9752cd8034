//! The write queue and the state and limits of each connection, end to end over real sockets:
//! the service, its workers, and dev orgs standing in for the customers' orgs.

use std::net::SocketAddr;
use std::time::Duration;

use callforce_store::{NewJob, WorkspaceId};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::connect::{connect_in_browser, connection_id, env};
use callforce::serve::{ServeConfig, Started, start};

/// Looks every 25 ms, for at most 10 s, until `f` gives something.
pub(crate) async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    for _ in 0..400 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A logged-in connection to a dev org, to count what landed there.
pub(crate) async fn org_conn(org: &callforce_devorg::DevOrg) -> callforce_client::Connection {
    let c = org.config();
    let app = callforce_client::OAuthApp {
        client_id: c.client_id.clone(),
        client_secret: Some(callforce_client::SecretString::from(
            c.client_secret.clone(),
        )),
        redirect_uri: None,
    };
    callforce_client::Connection::login(
        callforce_client::ConnectionConfig::new(
            callforce_client::LoginHost::Url(org.instance_url().to_owned()),
            app,
        ),
        callforce_client::Grant::ClientCredentials,
    )
    .await
    .expect("login")
}

pub(crate) async fn tasks(conn: &callforce_client::Connection, subject: &str) -> u64 {
    conn.query::<callforce_client::Record>(&format!(
        "SELECT Id FROM Task WHERE Subject = '{subject}'"
    ))
    .await
    .expect("query")
    .total_size
}

/// A service on the embedded dev org with the key `k`.
pub(crate) async fn service() -> (Started, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().to_owned());
    config.api_key = Some("k".into());
    (start(config).await.expect("starts"), dir)
}

pub(crate) struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Api {
    pub(crate) fn of(started: &Started, key: &str) -> Self {
        Self {
            base: format!("http://{}", started.addr),
            key: key.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn get(&self, path: &str) -> Value {
        let (status, v) = self.send(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    /// A new call on `connection` (the default one when `None`); returns its id.
    pub(crate) async fn call(&self, connection: Option<&str>) -> String {
        let body = match connection {
            Some(c) => json!({"connection": c}),
            None => json!({}),
        };
        let (status, v) = self
            .send(reqwest::Method::POST, "/v1/calls", Some(body))
            .await;
        assert_eq!(status, 201, "{v}");
        v["call_id"].as_str().expect("call id").to_owned()
    }

    /// `log_call` in `call` (non-blocking: queued); returns the reference the agent hears.
    pub(crate) async fn log_call(&self, call: &str, subject: &str) -> String {
        let (status, v) = self
            .send(
                reqwest::Method::POST,
                &format!("/v1/calls/{call}/actions/log_call"),
                Some(json!({"arguments": {"Subject": subject}})),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["result"]["queued"], true, "{v}");
        v["result"]["reference"]
            .as_str()
            .expect("reference")
            .to_owned()
    }

    pub(crate) async fn job(&self, reference: &str) -> Value {
        self.get(&format!("/v1/jobs/{reference}")).await
    }

    async fn patch_connection(&self, id: &str, body: Value) {
        let (status, v) = self
            .send(
                reqwest::Method::PATCH,
                &format!("/v1/connections/{id}"),
                Some(body),
            )
            .await;
        assert_eq!(status, 200, "{v}");
    }
}

/// Revoked at the org: the write that met it waits (not dead, no attempt counted), the
/// connection turns `needs_reauth`, and its jobs are not leased even with no pause; after a
/// reconnect they land, once.
#[tokio::test]
async fn a_revoked_connections_writes_wait_and_land_once_after_a_reconnect() {
    let e = env().await;
    let api = Api::of(&e.started, &e.key);
    let link = e
        .link(
            &e.key,
            json!({"environment": "sandbox", "profile": "standard"}),
        )
        .await;
    let (_, page) = connect_in_browser(&link).await;
    let id = connection_id(&page);
    let call = api.call(Some(&id)).await;
    // The write is queued while the connection works (its queue held, so no worker sends it
    // yet); then the org revokes the grant.
    let store = e.started.registry.store();
    let ws = e.started.workspace;
    store
        .pause_connection(ws, &id, chrono::Utc::now() + chrono::TimeDelta::hours(1))
        .await
        .expect("pause");
    let reference = api.log_call(&call, "Waits for a reconnect").await;
    let refresh = e
        .secrets(ws, &id)
        .await
        .refresh_token
        .clone()
        .expect("refresh token");
    let r = e
        .http
        .post(format!(
            "{}/services/oauth2/revoke",
            e.org.org.instance_url()
        ))
        .form(&[("token", refresh.as_str())])
        .send()
        .await
        .expect("revoke");
    assert_eq!(r.status(), StatusCode::OK);
    e.started
        .registry
        .resume_queue(ws, &id)
        .await
        .expect("resume");

    // A worker meets the refused grant: the connection needs a person, the job goes back.
    eventually("needs_reauth", || async {
        let c = api.get(&format!("/v1/connections/{id}")).await;
        (c["status"] == "needs_reauth").then_some(())
    })
    .await;
    let job = eventually("the job handed back", || async {
        let j = api.job(&reference).await;
        (j["status"] == "queued").then_some(j)
    })
    .await;
    assert_eq!(job["attempts"], 0, "{job}");
    assert_eq!(job["reference"], reference.as_str());
    let dead = api.get("/v1/deadletters").await;
    assert_eq!(dead["dead_letters"], json!([]), "{dead}");

    // Even with its pause lifted, a connection that needs a person has its jobs left alone.
    e.started
        .registry
        .resume_queue(ws, &id)
        .await
        .expect("resume");
    let before = api.job(&reference).await;
    tokio::time::sleep(Duration::from_millis(400)).await; // several worker polls
    let after = api.job(&reference).await;
    assert_eq!(after["status"], "queued", "{after}");
    assert_eq!(after["attempts"], 0, "{after}");
    assert_eq!(
        after["updated_at"], before["updated_at"],
        "never leased: {after}"
    );

    // Reconnect (a new link for the same connection): the write lands, once.
    let (status, r) = e
        .post(
            &e.key,
            &format!("/v1/connections/{id}/reconnect"),
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{r}");
    let (status, page) = connect_in_browser(r["url"].as_str().expect("url")).await;
    assert_eq!(status, 200, "{page}");
    let done = eventually("the job done", || async {
        let j = api.job(&reference).await;
        (j["status"] == "done").then_some(j)
    })
    .await;
    assert_eq!(done["attempts"], 0, "{done}");
    assert!(done["result"].is_object(), "{done}");
    let org = org_conn(&e.org.org).await;
    assert_eq!(tasks(&org, "Waits for a reconnect").await, 1);
}

/// A job whose connection this process does not hold stays queued, uncounted, while the
/// workers drain the others; `/metrics` counts the queue and `/v1/jobs` lists it.
#[tokio::test]
async fn a_job_for_an_unknown_connection_stays_queued() {
    let (started, _dir) = service().await;
    let api = Api::of(&started, "k");
    let store = started.registry.store();
    let ws = started.workspace;
    let now = chrono::Utc::now();
    let stranger = store
        .enqueue(
            &NewJob {
                workspace: ws,
                connection_id: "con_not_here".into(),
                idempotency_key: "elsewhere/log_call/0".into(),
                ordering_key: "new:elsewhere/log_call/0".into(),
                kind: callforce_pipeline::KIND_WRITE.into(),
                payload:
                    json!({"action": "log_call", "request": {"op": "create", "sobject": "Task",
                    "record": {"Subject": "Not for this process"}}})
                    .to_string(),
                call_id: Some("elsewhere".into()),
                agent: None,
                run_at: now,
            },
            now,
        )
        .await
        .expect("enqueue")
        .id;
    // The workers are running: a write of the embedded org's lands meanwhile.
    let call = api.call(None).await;
    let landed = api.log_call(&call, "Lands beside a stranger").await;
    eventually("the embedded org's write", || async {
        (api.job(&landed).await["status"] == "done").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await; // several more worker polls
    let j = api.job(&format!("job-{}", stranger.0)).await;
    assert_eq!(j["status"], "queued", "{j}");
    assert_eq!(j["attempts"], 0, "{j}");
    assert_eq!(j["connection_id"], "con_not_here");
    assert_eq!(api.get("/v1/deadletters").await["dead_letters"], json!([]));

    // The listing: filtered by status, with the reference the agent heard.
    let queued = api.get("/v1/jobs?status=queued").await;
    let refs: Vec<&str> = queued["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|j| j["reference"].as_str())
        .collect();
    assert_eq!(refs, vec![format!("job-{}", stranger.0)], "{queued}");
    let done = api.get("/v1/jobs?status=done").await;
    assert_eq!(done["jobs"][0]["reference"], landed.as_str(), "{done}");
    let (status, bad) = api
        .send(reqwest::Method::GET, "/v1/jobs?status=lost", None)
        .await;
    assert_eq!(status, 400, "{bad}");
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("queued")
    );
    let (status, _) = api
        .send(reqwest::Method::GET, "/v1/jobs/job-999999", None)
        .await;
    assert_eq!(status, 404);
    // Another workspace's key does not see it.
    let other = store
        .create_workspace("other", chrono::Utc::now())
        .await
        .expect("workspace");
    let key = store
        .create_api_key(other.id, "k", chrono::Utc::now())
        .await
        .expect("key");
    let b = Api::of(
        &started,
        secrecy::ExposeSecret::expose_secret(&key.plaintext),
    );
    let (status, _) = b
        .send(
            reqwest::Method::GET,
            &format!("/v1/jobs/job-{}", stranger.0),
            None,
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(b.get("/v1/jobs").await["jobs"], json!([]));

    let metrics = reqwest::get(format!("http://{}/metrics", started.addr))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for line in [
        r#"callforce_queue_jobs{state="queued"} 1"#,
        r#"callforce_queue_jobs{state="leased"} 0"#,
        r#"callforce_queue_jobs{state="dead"} 0"#,
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line} in:\n{metrics}"
        );
    }
}

/// Past its daily share the connection's queue pauses (`write.paused`, the job handed back
/// uncounted); raising the share lifts the pause and the queue drains.
#[tokio::test]
async fn past_its_daily_share_the_queue_pauses_and_a_raised_share_drains_it() {
    let (started, _dir) = service().await;
    let api = Api::of(&started, "k");
    let ws: WorkspaceId = started.workspace;
    let id = started.registry.get(ws, None).expect("default").id();
    // The connect's test call already used more than this share of the allowance.
    api.patch_connection(&id, json!({"daily_share": 0.000_001}))
        .await;
    let call = api.call(None).await;
    let reference = api.log_call(&call, "Waits for the allowance").await;
    let store = started.registry.store();
    eventually("the pause", || async {
        store
            .connection_paused_until(ws, &id, chrono::Utc::now())
            .await
            .expect("read")
    })
    .await;
    let job = eventually("the job handed back", || async {
        let j = api.job(&reference).await;
        (j["status"] == "queued").then_some(j)
    })
    .await;
    assert_eq!(job["attempts"], 0, "{job}");
    let audit = api.get(&format!("/v1/audit?call_id={call}")).await;
    let kinds: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(kinds, vec!["write.paused"], "{audit}");
    let org = org_conn(&started.devorg.as_ref().expect("embedded").org).await;
    assert_eq!(tasks(&org, "Waits for the allowance").await, 0);

    api.patch_connection(&id, json!({"daily_share": 1.0})).await;
    let done = eventually("the job done", || async {
        let j = api.job(&reference).await;
        (j["status"] == "done").then_some(j)
    })
    .await;
    assert_eq!(done["attempts"], 0, "{done}");
    assert_eq!(tasks(&org, "Waits for the allowance").await, 1);
    assert_eq!(
        store
            .connection_paused_until(ws, &id, chrono::Utc::now())
            .await
            .expect("read"),
        None
    );
}

/// With `max_concurrent` 2 and a slow org, twelve queued writes due at once never have more
/// than two requests in flight at the org, and all land.
#[tokio::test]
async fn queued_writes_respect_the_connections_max_concurrent() {
    let (started, _dir) = service().await;
    let api = Api::of(&started, "k");
    let ws = started.workspace;
    let id = started.registry.get(ws, None).expect("default").id();
    let store = started.registry.store();
    // Hold the queue while the writes are queued, so they are all due together.
    store
        .pause_connection(ws, &id, chrono::Utc::now() + chrono::TimeDelta::hours(1))
        .await
        .expect("pause");
    let call = api.call(None).await;
    let mut refs = Vec::new();
    for i in 0..12 {
        refs.push(api.log_call(&call, &format!("Capped {i}")).await);
    }
    let devorg = &started.devorg.as_ref().expect("embedded").org;
    let faults = format!("{}/devorg/faults", devorg.instance_url());
    let http = reqwest::Client::new();
    let r = http
        .put(&faults)
        .json(&json!({"latency": {"fixed_ms": 100}}))
        .send()
        .await
        .expect("faults");
    assert!(r.status().is_success());
    // The cap, and the pause lifted by the PATCH.
    api.patch_connection(&id, json!({"max_concurrent": 2}))
        .await;
    for r in &refs {
        eventually("every job done", || async {
            (api.job(r).await["status"] == "done").then_some(())
        })
        .await;
    }
    let counters: Value = http
        .get(&faults)
        .send()
        .await
        .expect("faults")
        .json()
        .await
        .expect("json");
    let peak = counters["counters"]["peak_in_flight"]
        .as_u64()
        .expect("peak");
    assert!(peak <= 2, "{counters}");
    assert!(peak >= 1, "{counters}");
    http.delete(&faults).send().await.expect("clear");
    let org = org_conn(devorg).await;
    for i in 0..12 {
        assert_eq!(tasks(&org, &format!("Capped {i}")).await, 1, "Capped {i}");
    }
}
