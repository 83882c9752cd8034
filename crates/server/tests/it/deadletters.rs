//! Dead letters, jobs, audit and alerts through the admin API.

use std::net::SocketAddr;

use callforce_store::{JobStatus, NewJob, WorkspaceId};
use chrono::TimeDelta;
use serde_json::{Value, json};

use callforce::serve::{ServeConfig, Started, start};

struct Svc {
    started: Started,
    store: callforce_store::Store,
    key: String,
    base: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn service() -> Svc {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = start(ServeConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        dir.path().to_owned(),
    ))
    .await
    .expect("starts");
    let key = started.api_key.clone().expect("first key");
    // A second handle on the service's database: what a worker or the CLI would use.
    let store = callforce_store::Store::open_sqlite(&dir.path().join("callforce.db"))
        .await
        .expect("store");
    let base = format!("http://{}", started.addr);
    Svc {
        started,
        store,
        key,
        base,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Svc {
    async fn ws(&self, name: &str) -> WorkspaceId {
        self.store
            .workspace_by_name(name)
            .await
            .expect("read")
            .expect("workspace")
            .id
    }

    /// A job of `ws` that failed for good; returns the dead letter's id.
    async fn dead(&self, ws: WorkspaceId, key: &str, action: &str, call: &str) -> i64 {
        // The service's workers never take these jobs: they lease only the jobs of the
        // connections they hold, and `conn-1` is not one.
        let now = chrono::Utc::now();
        let job = NewJob {
            workspace: ws,
            connection_id: "conn-1".into(),
            idempotency_key: key.into(),
            ordering_key: format!("Task:{key}"),
            kind: "write".into(),
            payload: json!({"action": action, "request": {"op": "create", "sobject": "Task", "record": {"Subject": "Broken"}}})
                .to_string(),
            call_id: Some(call.into()),
            agent: Some("aria".into()),
            run_at: now,
        };
        let id = self.store.enqueue(&job, now).await.expect("enqueue").id;
        let leased = self
            .store
            .lease("test", now, TimeDelta::seconds(30), 100)
            .await
            .expect("lease");
        assert!(leased.iter().any(|j| j.id == id));
        self.store
            .dead(
                id,
                "test",
                now,
                "FIELD_CUSTOM_VALIDATION_EXCEPTION: Subject is wrong",
            )
            .await
            .expect("dead")
            .0
    }

    async fn call(&self, key: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.http.get(url),
            "POST" => self.http.post(url),
            "PATCH" => self.http.patch(url),
            "DELETE" => self.http.delete(url),
            _ => unreachable!("method"),
        };
        let req = req.bearer_auth(key);
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(&self.key.clone(), "GET", path, None).await
    }
}

#[tokio::test]
async fn alerts_are_acknowledged_over_http_and_then_not_posted() {
    let svc = service().await;
    let ws = svc.ws("default").await;
    svc.dead(ws, "call-1/log_call/0", "log_call", "call-1")
        .await;
    let (_, list) = svc.get("/v1/alerts").await;
    let id = list["alerts"][0]["id"].as_i64().expect("alert id");
    assert_eq!(list["alerts"][0]["acknowledged_at"], Value::Null);
    let k = svc.key.clone();
    let (s, body) = svc
        .call(&k, "POST", &format!("/v1/alerts/{id}/acknowledge"), None)
        .await;
    assert_eq!(s, 200, "{body}");
    assert!(body["alert"]["acknowledged_at"].is_string(), "{body}");
    assert!(
        body["alert"]["acknowledged_by"]
            .as_str()
            .is_some_and(|a| a.starts_with("api-key:")),
        "{body}"
    );
    let due = svc
        .store
        .claim_alerts(
            chrono::Utc::now() + TimeDelta::minutes(10),
            TimeDelta::minutes(2),
            10,
        )
        .await
        .expect("claim");
    assert!(
        due.is_empty(),
        "an acknowledged alert is not posted: {due:?}"
    );
    for (path, want) in [
        (format!("/v1/alerts/{}/acknowledge", id + 1000), 404),
        ("/v1/alerts/x/acknowledge".to_owned(), 400),
    ] {
        let (s, body) = svc.call(&k, "POST", &path, None).await;
        assert_eq!(s, want, "{path}: {body}");
    }
}

#[tokio::test]
async fn dead_letters_are_listed_shown_fixed_replayed_and_discarded_over_http() {
    let svc = service().await;
    let ws = svc.ws("default").await;
    let a = svc
        .dead(ws, "call-1/log_call/0", "log_call", "call-1")
        .await;
    let b = svc
        .dead(ws, "call-1/create_case/1", "create_case", "call-1")
        .await;
    let c = svc
        .dead(ws, "call-2/log_call/0", "log_call", "call-2")
        .await;
    let k = svc.key.clone();

    let (s, list) = svc.get("/v1/deadletters").await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["dead_letters"].as_array().map(Vec::len), Some(3));
    assert_eq!(list["dead_letters"][0]["action"], "log_call");
    assert_eq!(
        list["dead_letters"][0]["last_error"],
        "FIELD_CUSTOM_VALIDATION_EXCEPTION: Subject is wrong"
    );
    let (_, by_action) = svc.get("/v1/deadletters?action=log_call").await;
    assert_eq!(by_action["dead_letters"].as_array().map(Vec::len), Some(2));
    let (_, by_call) = svc
        .get("/v1/deadletters?call_id=call-2&action=log_call")
        .await;
    assert_eq!(by_call["dead_letters"][0]["id"], c);
    for (query, needle) in [
        ("status=bogus", "open, replayed, discarded"),
        ("limit=0", "limit"),
        ("colour=red", "unknown query parameter(s) colour"),
    ] {
        let (s, body) = svc.get(&format!("/v1/deadletters?{query}")).await;
        assert_eq!(s, 400, "{query}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(needle)),
            "{body}"
        );
    }

    // Show: the full payload, every attempt's error, the call and the agent.
    let (s, shown) = svc.get(&format!("/v1/deadletters/{a}")).await;
    assert_eq!(s, 200, "{shown}");
    assert_eq!(shown["payload"]["request"]["record"]["Subject"], "Broken");
    assert_eq!(shown["errors"][0]["attempt"], 1);
    assert_eq!(shown["call_id"], "call-1");
    assert_eq!(shown["agent"], "aria");
    assert_eq!(shown["idempotency_key"], "call-1/log_call/0");
    assert_eq!(svc.get("/v1/deadletters/abc").await.0, 400);
    let (s, missing) = svc.get("/v1/deadletters/999999").await;
    assert_eq!(s, 404);
    assert_eq!(missing["error"]["code"], "not_found");

    // Fix a field, then replay: the job is queued again with its idempotency key.
    let path = format!("/v1/deadletters/{a}");
    let (s, edited) = svc
        .call(
            &k,
            "PATCH",
            &path,
            Some(json!({"merge": {"request": {"record": {"Subject": "Fixed"}}}})),
        )
        .await;
    assert_eq!(s, 200, "{edited}");
    assert_eq!(edited["payload"]["request"]["record"]["Subject"], "Fixed");
    assert_eq!(
        edited["payload"]["action"], "log_call",
        "untouched fields stay"
    );
    for bad in [
        json!("text"),
        json!({"payload": {}, "merge": {}}),
        json!({"patch": {}}),
    ] {
        let (s, body) = svc.call(&k, "PATCH", &path, Some(bad.clone())).await;
        assert_eq!(s, 400, "{bad}: {body}");
    }
    // A payload that would no longer be a write job is refused with the reason; the
    // stored one is kept.
    for broken in [
        json!({"payload": {"x": 1}}),
        json!({"merge": {"request": {"op": "explode"}}}),
        json!({"merge": {"request": null}}),
        json!({"merge": {"request": {"record": "not an object"}}}),
    ] {
        let (s, body) = svc.call(&k, "PATCH", &path, Some(broken.clone())).await;
        assert_eq!(s, 422, "{broken}: {body}");
        assert_eq!(body["error"]["code"], "invalid_payload", "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("no longer be a write job"), "{message}");
    }
    let (_, kept) = svc.get(&path).await;
    assert_eq!(kept["payload"]["request"]["record"]["Subject"], "Fixed");
    let raw = svc
        .http
        .patch(format!("{}{path}", svc.base))
        .bearer_auth(&k)
        .body("{not json")
        .send()
        .await
        .expect("patch");
    assert_eq!(raw.status(), 400);
    let (s, replayed) = svc.call(&k, "POST", &format!("{path}/replay"), None).await;
    assert_eq!(s, 200, "{replayed}");
    let job_id = callforce_store::JobId(replayed["job_id"].as_i64().expect("job id"));
    let job = svc
        .store
        .job(ws, job_id)
        .await
        .expect("job")
        .expect("exists");
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(job.idempotency_key, "call-1/log_call/0");
    assert!(job.payload.contains("Fixed"), "{}", job.payload);
    let (s, again) = svc.call(&k, "POST", &format!("{path}/replay"), None).await;
    assert_eq!(s, 409, "{again}");
    let (s, _) = svc
        .call(&k, "PATCH", &path, Some(json!({"payload": {"x": 1}})))
        .await;
    assert_eq!(s, 409, "a replayed dead letter is not edited");

    // Discard, by DELETE and by POST .../discard.
    let (s, _) = svc
        .call(&k, "DELETE", &format!("/v1/deadletters/{b}"), None)
        .await;
    assert_eq!(s, 200);
    let (s, _) = svc
        .call(&k, "POST", &format!("/v1/deadletters/{b}/discard"), None)
        .await;
    assert_eq!(s, 409, "already discarded");

    // Replay a set: a filter or all, never an empty body by mistake.
    let d = svc
        .dead(ws, "call-3/log_call/0", "log_call", "call-3")
        .await;
    for bad in [
        json!({}),
        json!({"all": true, "call_id": "x"}),
        json!({"al": true}),
    ] {
        let (s, body) = svc
            .call(&k, "POST", "/v1/deadletters/replay", Some(bad.clone()))
            .await;
        assert_eq!(s, 400, "{bad}: {body}");
    }
    let (s, set) = svc
        .call(
            &k,
            "POST",
            "/v1/deadletters/replay",
            Some(json!({"call_id": "call-3"})),
        )
        .await;
    assert_eq!(s, 200, "{set}");
    assert_eq!(set["replayed"], 1);
    let (_, all) = svc
        .call(
            &k,
            "POST",
            "/v1/deadletters/replay",
            Some(json!({"all": true})),
        )
        .await;
    assert_eq!(all["replayed"], 1, "only c was still open: {all}");
    let (_, open) = svc.get("/v1/deadletters?status=open").await;
    assert_eq!(open["dead_letters"].as_array().map(Vec::len), Some(0));
    let _ = d;

    // Every edit, replay and discard is in the audit log, which verifies.
    let (s, log) = svc.get("/v1/audit?kind=deadletter.").await;
    assert_eq!(s, 200, "{log}");
    let kinds: Vec<&str> = log["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "deadletter.edit",
            "deadletter.replay",
            "deadletter.discard",
            "deadletter.replay",
            "deadletter.replay"
        ]
    );
    assert!(
        log["entries"][0]["agent"]
            .as_str()
            .is_some_and(|a| a.starts_with("api-key:")),
        "{log}"
    );
    assert_eq!(
        log["entries"][0]["request"]["payload_after"]["request"]["record"]["Subject"],
        "Fixed"
    );
    let (_, page) = svc.get("/v1/audit?kind=deadletter.&limit=2").await;
    assert_eq!(page["entries"].as_array().map(Vec::len), Some(2));
    let second = page["entries"][1]["seq"].as_u64().expect("seq");
    assert_eq!(page["next_after"], second);
    let (_, rest) = svc
        .get(&format!(
            "/v1/audit?kind=deadletter.&after={second}&limit=10"
        ))
        .await;
    assert_eq!(rest["entries"].as_array().map(Vec::len), Some(3));
    assert_eq!(rest["entries"][0]["kind"], "deadletter.discard");
    assert_eq!(rest["next_after"], Value::Null);
    // Before them: the first start's workspace, embedded org connection and key.
    let (_, start) = svc.get("/v1/audit?limit=3").await;
    let first: Vec<(&str, &str)> = start["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| Some((e["kind"].as_str()?, e["agent"].as_str()?)))
        .collect();
    assert_eq!(
        first,
        [
            ("config.workspace.create", "system"),
            ("connection.connected", "system"),
            ("config.key.create", "system")
        ]
    );
    let (_, by_call) = svc.get("/v1/audit?call_id=call-3").await;
    assert_eq!(by_call["entries"].as_array().map(Vec::len), Some(1));
    let (_, future) = svc.get("/v1/audit?from=2999-01-01T00:00:00Z").await;
    assert_eq!(future["entries"].as_array().map(Vec::len), Some(0));
    let (s, body) = svc.get("/v1/audit?from=yesterday").await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("RFC 3339"))
    );
    let (s, verdict) = svc.get("/v1/audit/verify").await;
    assert_eq!(s, 200);
    assert_eq!(
        verdict,
        json!({"verdict": "intact", "entries": 3 + 5, "unkeyed": 0})
    );
    // Someone edits an entry behind the service's back: verify names it.
    let pool = svc.store.sqlite_pool().expect("sqlite");
    let n = sqlx::query("UPDATE audit_log SET agent = 'someone else' WHERE seq = 2")
        .execute(pool)
        .await
        .expect("tamper")
        .rows_affected();
    assert_eq!(n, 1);
    let (s, verdict) = svc.get("/v1/audit/verify").await;
    assert_eq!(s, 200);
    assert_eq!(
        verdict,
        json!({"verdict": "broken", "seq": 2, "reason": "hash_mismatch"})
    );

    // One alert per dead letter, kept while no webhook is configured.
    let (_, alerts) = svc.get("/v1/alerts").await;
    let alerts = alerts["alerts"].as_array().expect("alerts").clone();
    assert_eq!(alerts.len(), 4);
    assert!(
        alerts
            .iter()
            .all(|a| a["status"] == "pending" && a["kind"] == "dead_letter")
    );
    svc.started.task.abort();
}

#[tokio::test]
async fn a_workspace_sees_nothing_of_another_workspaces_dead_letters_or_audit() {
    let svc = service().await;
    let a_ws = svc.ws("default").await;
    let now = chrono::Utc::now();
    let b_ws = svc.store.create_workspace("b", now).await.expect("b").id;
    let b_key = svc
        .store
        .create_api_key(b_ws, "b", now)
        .await
        .expect("key")
        .plaintext;
    let b_key = callforce_client::ExposeSecret::expose_secret(&b_key).to_owned();
    let a_dl = svc.dead(a_ws, "a/log_call/0", "log_call", "call-a").await;
    let k = svc.key.clone();
    // A writes something to its audit log.
    let (s, _) = svc
        .call(
            &k,
            "PATCH",
            &format!("/v1/deadletters/{a_dl}"),
            Some(json!({"merge": {"x": 1}})),
        )
        .await;
    assert_eq!(s, 200);

    let (_, list) = svc.call(&b_key, "GET", "/v1/deadletters", None).await;
    assert_eq!(list, json!({"dead_letters": []}));
    let never = 987_654;
    for (method, suffix, body) in [
        ("GET", "", None),
        ("PATCH", "", Some(json!({"payload": {"stolen": true}}))),
        ("POST", "/replay", None),
        ("POST", "/discard", None),
        ("DELETE", "", None),
    ] {
        let (s, theirs) = svc
            .call(
                &b_key,
                method,
                &format!("/v1/deadletters/{a_dl}{suffix}"),
                body.clone(),
            )
            .await;
        let (s2, missing) = svc
            .call(
                &b_key,
                method,
                &format!("/v1/deadletters/{never}{suffix}"),
                body.clone(),
            )
            .await;
        assert_eq!((s, s2), (404, 404), "{method} {suffix}");
        assert_eq!(
            theirs.to_string().replace(&a_dl.to_string(), "ID"),
            missing.to_string().replace(&never.to_string(), "ID"),
            "another workspace's id answers exactly like a missing one"
        );
    }
    let (_, all) = svc
        .call(
            &b_key,
            "POST",
            "/v1/deadletters/replay",
            Some(json!({"all": true})),
        )
        .await;
    assert_eq!(all["replayed"], 0);
    let (_, audit) = svc.call(&b_key, "GET", "/v1/audit", None).await;
    assert_eq!(audit["entries"], json!([]));
    let (_, verdict) = svc.call(&b_key, "GET", "/v1/audit/verify", None).await;
    assert_eq!(verdict["entries"], 0);
    let (_, alerts) = svc.call(&b_key, "GET", "/v1/alerts", None).await;
    assert_eq!(alerts["alerts"], json!([]));

    // A's dead letter is untouched by all of that.
    let (_, mine) = svc.get(&format!("/v1/deadletters/{a_dl}")).await;
    assert_eq!(mine["status"], "open");
    assert_eq!(mine["payload"]["x"], 1);
    assert!(mine["payload"].get("stolen").is_none());
    let (_, audit) = svc.get("/v1/audit?kind=deadletter.").await;
    assert_eq!(audit["entries"].as_array().map(Vec::len), Some(1));
    // And without a key, nothing at all.
    let resp = svc
        .http
        .get(format!("{}/v1/deadletters", svc.base))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 401);
    svc.started.task.abort();
}

/// Removes every `key` from a JSON value, at any depth.
fn strip(v: &mut Value, key: &str) -> usize {
    match v {
        Value::Object(m) => {
            let mut n = usize::from(m.remove(key).is_some());
            for x in m.values_mut() {
                n += strip(x, key);
            }
            n
        }
        Value::Array(a) => a.iter_mut().map(|x| strip(x, key)).sum(),
        _ => 0,
    }
}

/// The whole path: an action's queued write fails for good in the org, the admins get one
/// alert, fix the payload through the API and replay it, and the service's workers land it
/// exactly once.
#[tokio::test]
async fn a_dead_write_is_alerted_fixed_replayed_and_lands_once() {
    use std::sync::Arc;
    let got: Arc<parking_lot::Mutex<Vec<Value>>> = Arc::default();
    let hook = {
        let got = got.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: axum::Json<Value>| {
                let got = got.clone();
                async move {
                    got.lock().push(body.0);
                    "ok"
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook_addr = listener.local_addr().expect("addr");
    let hook_task = tokio::spawn(async move {
        let _ = axum::serve(listener, hook).await;
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let started = start(ServeConfig {
        api_key: Some("admin-key".into()),
        alert_webhook: Some(format!("http://{hook_addr}/hook")),
        ..ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().to_owned())
    })
    .await
    .expect("starts");
    let base = format!("http://{}", started.addr);
    let http = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let req = http
            .request(method, format!("{base}{path}"))
            .bearer_auth("admin-key");
        let req = match body {
            Some(b) => req.json(&b),
            None => req,
        };
        async move {
            let resp = req.send().await.expect("request");
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (status, body)
        }
    };
    let (s, _) = send(
        reqwest::Method::POST,
        "/v1/calls",
        Some(json!({"call_id": "call-e2e", "agent": "aria"})),
    )
    .await;
    assert_eq!(s, 201);
    // A well-formed id of a Contact that does not exist: the org refuses it for good.
    let (s, logged) = send(
        reqwest::Method::POST,
        "/v1/calls/call-e2e/actions/log_call",
        Some(json!({"arguments": {"Subject": "dead then replayed", "WhoId": "003000000000099"}})),
    )
    .await;
    assert_eq!(s, 200, "{logged}");
    assert_eq!(logged["result"]["queued"], true, "{logged}");

    // One alert reaches the webhook (bounded wait; no timing asserted).
    for _ in 0..400 {
        if !got.lock().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let alerts = got.lock().clone();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let text = alerts[0]["text"].as_str().expect("text").to_owned();
    assert!(
        text.contains("log_call") && text.contains("call-e2e"),
        "{text}"
    );

    let (_, list) = send(
        reqwest::Method::GET,
        "/v1/deadletters?call_id=call-e2e",
        None,
    )
    .await;
    let id = list["dead_letters"][0]["id"]
        .as_i64()
        .expect("a dead letter");
    assert!(
        text.contains(&format!("callforce deadletter replay {id}")),
        "{text}"
    );
    let (_, shown) = send(reqwest::Method::GET, &format!("/v1/deadletters/{id}"), None).await;
    assert!(
        shown["errors"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("INVALID_CROSS_REFERENCE_KEY")),
        "{shown}"
    );
    assert_eq!(shown["agent"], "aria");
    let mut payload = shown["payload"].clone();
    assert_eq!(strip(&mut payload, "WhoId"), 1, "{shown}");
    let (s, edited) = send(
        reqwest::Method::PATCH,
        &format!("/v1/deadletters/{id}"),
        Some(json!({"payload": payload})),
    )
    .await;
    assert_eq!(s, 200, "{edited}");
    let (s, replayed) = send(
        reqwest::Method::POST,
        &format!("/v1/deadletters/{id}/replay"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{replayed}");

    // The workers land it: exactly one Task in the org.
    let org = started.devorg.as_ref().expect("embedded org");
    let c = org.org.config();
    let conn = callforce_client::Connection::login(
        callforce_client::ConnectionConfig::new(
            callforce_client::LoginHost::Url(org.org.instance_url().to_owned()),
            callforce_client::OAuthApp {
                client_id: c.client_id.clone(),
                client_secret: Some(callforce_client::SecretString::from(
                    c.client_secret.clone(),
                )),
                redirect_uri: None,
            },
        ),
        callforce_client::Grant::ClientCredentials,
    )
    .await
    .expect("login");
    let soql = "SELECT Id FROM Task WHERE Subject = 'dead then replayed'";
    let mut found = 0;
    for _ in 0..400 {
        found = conn
            .query::<callforce_client::Record>(soql)
            .await
            .expect("query")
            .total_size;
        if found > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(found, 1);
    let (_, shown) = send(reqwest::Method::GET, &format!("/v1/deadletters/{id}"), None).await;
    assert_eq!(shown["status"], "replayed");
    let (_, again) = send(
        reqwest::Method::POST,
        &format!("/v1/deadletters/{id}/replay"),
        None,
    )
    .await;
    assert_eq!(again["error"]["code"], "conflict");
    assert_eq!(got.lock().len(), 1, "one alert for one dead letter");
    started.task.abort();
    hook_task.abort();
}
