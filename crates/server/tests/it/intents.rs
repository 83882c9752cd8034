//! Intent maps through the agent API, and the poller that keeps them checked.

use std::net::SocketAddr;

use serde_json::json;

use callforce::serve::{ServeConfig, start};

/// The seed's three intents end to end: the map is checked and activated through the API,
/// a broken one is refused with its report, and `record_intent` writes during a call.
#[tokio::test]
async fn the_seed_intents_through_the_agent_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = start(ServeConfig {
        api_key: Some("test-key".into()),
        ..ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().to_owned())
    })
    .await
    .expect("starts");
    let base = format!("http://{}", started.addr);
    let http = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str, body: Option<serde_json::Value>| {
        let mut r = http
            .request(method, format!("{base}{path}"))
            .bearer_auth("test-key");
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send()
    };
    use reqwest::Method;

    let none = send(Method::GET, "/v1/intents", None).await.expect("get");
    assert_eq!(none.status(), 404);
    let broken = send(
        Method::PUT,
        "/v1/intents",
        Some(json!({"demo_requested": "Opportunity.Demo_Requestd_At__c", "qualified": "Lead.Status"})),
    )
    .await
    .expect("put");
    assert_eq!(broken.status(), 422);
    let body: serde_json::Value = broken.json().await.expect("json");
    assert_eq!(body["error"]["code"], "check_failed", "{body}");
    assert_eq!(
        body["report"]["problems"][0]["code"], "unknown_field",
        "{body}"
    );
    assert_eq!(
        body["report"]["problems"][0]["fix"],
        "use Opportunity.Demo_Requested_At__c"
    );

    // The seed's map as the seed writes it: the summary goes to the Task of the call's
    // log_call, which is queued (no Task id during the call) and reached by its key.
    let seed = json!({
        "demo_requested": "Opportunity.Demo_Requested_At__c",
        "qualified": "Lead.Status",
        "call_summary": "Task.Description"
    });
    let checked: serde_json::Value = send(Method::POST, "/v1/intents/check", Some(seed.clone()))
        .await
        .expect("check")
        .json()
        .await
        .expect("json");
    assert_eq!(checked["report"]["ok"], true, "{checked}");
    let put = send(Method::PUT, "/v1/intents", Some(seed))
        .await
        .expect("put");
    assert_eq!(put.status(), 200);
    let got: serde_json::Value = send(Method::GET, "/v1/intents", None)
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(got["active"], true);
    assert_eq!(
        got["map"]["intents"]["qualified"]["writes"][0]["object"], "Lead",
        "{got}"
    );

    let tools: serde_json::Value = send(Method::GET, "/v1/tools", None)
        .await
        .expect("tools")
        .json()
        .await
        .expect("json");
    let tool = tools["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["name"] == "record_intent")
        .expect("record_intent is offered");
    assert_eq!(
        tool["parameters"]["properties"]["intent"]["enum"],
        json!(["call_summary", "demo_requested", "qualified"])
    );

    let call: serde_json::Value = send(Method::POST, "/v1/calls", Some(json!({"agent": "aria"})))
        .await
        .expect("start")
        .json()
        .await
        .expect("json");
    let id = call["call_id"].as_str().expect("id").to_owned();
    let act = |name: &str, args: serde_json::Value| {
        send(
            Method::POST,
            &format!("/v1/calls/{id}/actions/{name}"),
            Some(json!({"arguments": args})),
        )
    };
    // Before the lead is found, the model is told what to do first.
    let early = act(
        "record_intent",
        json!({"intent": "qualified", "value": "Working - Contacted"}),
    )
    .await
    .expect("early");
    assert_eq!(early.status(), 422);
    let body: serde_json::Value = early.json().await.expect("json");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no Lead is known")),
        "{body}"
    );
    // The org, read directly.
    let org = started.devorg.as_ref().expect("embedded org");
    let query = |soql: String| {
        http.get(format!(
            "{}/services/data/v59.0/query",
            org.org.instance_url()
        ))
        .bearer_auth(org.org.dev_access_token())
        .query(&[("q", soql)])
        .send()
    };
    let rows = |v: serde_json::Value| v["records"][0].clone();
    let opp_soql =
        "SELECT Demo_Requested_At__c FROM Opportunity WHERE Name = 'Northwind - Chat Agent'";
    let stamp = |v: serde_json::Value| {
        let s = v["records"][0]["Demo_Requested_At__c"]
            .as_str()
            .expect("stamped")
            .to_owned();
        chrono::DateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%.f%z").expect("datetime")
    };
    let before = stamp(
        query(opp_soql.into())
            .await
            .expect("q")
            .json()
            .await
            .expect("json"),
    );
    for (name, args) in [
        ("search_lead", json!({"search_term": "Oakmont"})),
        (
            "search_opportunity",
            json!({"search_term": "Northwind - Chat Agent"}),
        ),
        (
            "log_call",
            json!({"Subject": "Seed intents call", "WhoId": "{{search_lead.Id}}"}),
        ),
        ("record_intent", json!({"intent": "demo_requested"})),
        (
            "record_intent",
            json!({"intent": "qualified", "value": "working - contacted"}),
        ),
        (
            "record_intent",
            json!({"intent": "call_summary", "value": "Wants a demo next week."}),
        ),
    ] {
        let r = act(name, args.clone()).await.expect("action");
        let status = r.status();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        assert_eq!(status, 200, "{name} {args}: {body}");
        assert!(
            body["result"]["say"]
                .as_str()
                .is_some_and(|s| s.ends_with('.')),
            "{name}: every result carries a sentence: {body}"
        );
    }

    let lead = rows(
        query("SELECT Id, Status FROM Lead WHERE Company = 'Oakmont Property Management'".into())
            .await
            .expect("q")
            .json()
            .await
            .expect("json"),
    );
    assert_eq!(lead["Status"], "Working - Contacted");
    let after = stamp(
        query(opp_soql.into())
            .await
            .expect("q")
            .json()
            .await
            .expect("json"),
    );
    assert!(
        after > before,
        "the demo request was stamped: {before} -> {after}"
    );
    // The service's workers drain the queue on their own schedule: look until the logged
    // call carries the summary (bounded).
    let mut task = serde_json::Value::Null;
    for _ in 0..200 {
        let found: serde_json::Value =
            query("SELECT Description FROM Task WHERE Subject = 'Seed intents call'".into())
                .await
                .expect("q")
                .json()
                .await
                .expect("json");
        if found["records"][0]["Description"].is_string() {
            assert_eq!(found["totalSize"], 1, "one logged call: {found}");
            task = rows(found);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(task["Description"], "Wants a demo next week.");
}

/// A started service with the seed's map live, and helpers to reach it.
struct Live {
    started: callforce::serve::Started,
    http: reqwest::Client,
    base: String,
}

impl Live {
    async fn start(dir: &std::path::Path) -> Self {
        let started = start(ServeConfig {
            api_key: Some("test-key".into()),
            // The test drives the poller's tick itself.
            intents_poll: std::time::Duration::from_secs(3600),
            ..ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.to_owned())
        })
        .await
        .expect("starts");
        let base = format!("http://{}", started.addr);
        let live = Self {
            started,
            http: reqwest::Client::new(),
            base,
        };
        let put = live
            .send(
                reqwest::Method::PUT,
                "/v1/intents",
                Some(json!({
                    "demo_requested": "Opportunity.Demo_Requested_At__c",
                    "qualified": "Lead.Status",
                })),
            )
            .await;
        assert_eq!(put.0, 200, "{}", put.1);
        live
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth("test-key");
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.expect("send");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or_default())
    }

    async fn delete_field(&self, object: &str, field: &str) {
        let org = self.started.devorg.as_ref().expect("embedded org");
        let resp = self
            .http
            .post(format!(
                "{}/devorg/schema/{object}/fields/{field}",
                org.org.instance_url()
            ))
            .json(&json!({"change": "delete"}))
            .send()
            .await
            .expect("alter");
        assert_eq!(resp.status(), 200);
    }

    async fn broken_alerts(&self) -> Vec<callforce_store::Alert> {
        self.started
            .api
            .store()
            .list_alerts(self.started.workspace, 100)
            .await
            .expect("alerts")
            .into_iter()
            .filter(|a| a.kind == callforce_app::intents::KIND_INTENT_MAP_BROKEN)
            .collect()
    }

    async fn offers_record_intent(&self) -> bool {
        let (_, tools) = self.send(reqwest::Method::GET, "/v1/tools", None).await;
        tools["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .any(|t| t["name"] == "record_intent")
    }
}

/// A field a live map writes is deleted in the org: within one poll the map is deactivated,
/// and exactly one alert is in the outbox however many polls follow.
#[tokio::test]
async fn a_mapped_field_deleted_in_the_org_deactivates_the_map_with_one_alert() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live = Live::start(dir.path()).await;
    let intents = live.started.api.intents();
    let ws = live.started.workspace;

    // The first poll learns each describe's date; the map still passes.
    let first = intents.tick().await;
    assert_eq!(first.described.len(), 2, "{first:?}");
    assert!(first.deactivated.is_empty(), "{first:?}");
    // Nothing changed: the org answers 304 for each object, nothing is re-checked.
    let calm = intents.tick().await;
    assert_eq!(calm.not_modified.len(), 2, "{calm:?}");
    assert!(
        calm.described.is_empty() && calm.rechecked.is_empty(),
        "{calm:?}"
    );
    assert!(live.broken_alerts().await.is_empty());
    assert!(live.offers_record_intent().await);

    live.delete_field("Opportunity", "Demo_Requested_At__c")
        .await;
    let poll = intents.tick().await;
    assert_eq!(poll.described, ["Opportunity"], "{poll:?}");
    assert_eq!(poll.not_modified, ["Lead"], "{poll:?}");
    assert_eq!(poll.deactivated, [ws], "{poll:?}");
    for _ in 0..3 {
        let later = intents.tick().await;
        assert!(later.deactivated.is_empty(), "{later:?}");
    }
    let alerts = live.broken_alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let problems = alerts[0].details["problems"].to_string();
    assert!(problems.contains("Demo_Requested_At__c"), "{problems}");

    let (_, got) = live.send(reqwest::Method::GET, "/v1/intents", None).await;
    assert_eq!(got["active"], false, "{got}");
    assert_eq!(
        got["report"]["problems"][0]["code"], "unknown_field",
        "{got}"
    );
    assert!(!live.offers_record_intent().await);
}

/// A schema error on an intent write wakes the poller, which deactivates the map without
/// waiting for its interval (an hour here).
#[tokio::test]
async fn a_schema_error_on_an_intent_write_wakes_the_poller() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live = Live::start(dir.path()).await;
    let (_, call) = live
        .send(
            reqwest::Method::POST,
            "/v1/calls",
            Some(json!({"agent": "aria"})),
        )
        .await;
    let id = call["call_id"].as_str().expect("id").to_owned();
    let act = |name: &str, args: serde_json::Value| {
        let path = format!("/v1/calls/{id}/actions/{name}");
        let live = &live;
        async move {
            live.send(
                reqwest::Method::POST,
                &path,
                Some(json!({"arguments": args})),
            )
            .await
        }
    };
    let (status, body) = act(
        "search_opportunity",
        json!({"search_term": "Northwind - Chat Agent"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    live.delete_field("Opportunity", "Demo_Requested_At__c")
        .await;
    // The live map still holds the describe it was checked with, so the write goes out and
    // the org refuses it.
    let (status, body) = act("record_intent", json!({"intent": "demo_requested"})).await;
    assert_ne!(status, 200, "{body}");
    let mut waited = 0;
    while live.broken_alerts().await.is_empty() {
        assert!(waited < 200, "the poller did not wake");
        waited += 1;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, got) = live.send(reqwest::Method::GET, "/v1/intents", None).await;
    assert_eq!(got["active"], false, "{got}");
    assert_eq!(live.broken_alerts().await.len(), 1);
    let (status, body) = act("record_intent", json!({"intent": "demo_requested"})).await;
    assert_eq!(body["error"]["code"], "not_available", "{status} {body}");
}

/// Two workspaces of one service on two orgs, for the tests below: the default workspace
/// (key `a`) on the embedded org, workspace `b` on its own org (`org_b`, with `b_schema` or
/// the demo schema), connected with client credentials.
struct TwoOrgs {
    e: crate::connect::Env,
    b: String,
    ws_b: callforce_store::WorkspaceId,
    /// The PostgreSQL database the service keeps its state in (else SQLite).
    database_url: Option<String>,
    _schema: tempfile::TempDir,
}

impl TwoOrgs {
    async fn start(b_schema: Option<serde_json::Value>) -> Self {
        Self::start_on(b_schema, None).await
    }

    /// As [`TwoOrgs::start`], the service's state in the PostgreSQL of `database_url` when
    /// given.
    async fn start_on(b_schema: Option<serde_json::Value>, database_url: Option<String>) -> Self {
        let schema = tempfile::tempdir().expect("tempdir");
        let mut org = callforce_devorg::Config::default();
        if let Some(s) = b_schema {
            let file = schema.path().join("schema.json");
            std::fs::write(&file, s.to_string()).expect("schema file");
            org.schema_file = Some(file);
            org.seed = callforce_devorg::Seed::None;
        }
        let url = database_url.clone();
        let e = crate::connect::env_with(org, |c| {
            // The tests drive the poller's tick themselves.
            c.intents_poll = std::time::Duration::from_secs(3600);
            c.database_url = url;
        })
        .await;
        let b = e.workspace("b").await;
        let ws_b = e
            .started
            .registry
            .store()
            .workspace_by_name("b")
            .await
            .expect("read")
            .expect("workspace b")
            .id;
        let two = Self {
            e,
            b,
            ws_b,
            database_url,
            _schema: schema,
        };
        two.connect_b().await;
        two
    }

    /// Connects workspace b to its org; the connection's id.
    async fn connect_b(&self) -> String {
        self.connect_to_b(&self.b).await
    }

    /// Connects the workspace of `key` to org B; the connection's id.
    async fn connect_to_b(&self, key: &str) -> String {
        let (status, c) = self
            .e
            .post(
                key,
                "/v1/connections",
                json!({"kind": "client_credentials"}),
            )
            .await;
        assert_eq!(status, 201, "{c}");
        c["id"].as_str().expect("id").to_owned()
    }

    /// A second `Api` over the same store and connections, as a restarted service has:
    /// nothing loaded yet.
    fn fresh_api(&self) -> callforce_app::App {
        let started = &self.e.started;
        callforce_app::App::new(
            started.registry.clone(),
            started.api.store().clone(),
            None,
            started.workspace,
        )
    }

    /// Another instance on the same database: an `Api` over a second store opened on it
    /// (its own pool), with nothing loaded yet.
    async fn other_instance(&self) -> callforce_app::App {
        let store = match &self.database_url {
            Some(url) => callforce_store::Store::open(url).await,
            None => {
                callforce_store::Store::open_sqlite(&self.e.dir.path().join("callforce.db")).await
            }
        }
        .expect("a second store on the database");
        let started = &self.e.started;
        callforce_app::App::new(started.registry.clone(), store, None, started.workspace)
    }

    /// The `config.intents.deactivate` entries in `ws`'s audit log.
    async fn deactivations(&self, ws: callforce_store::WorkspaceId) -> usize {
        let filter = callforce_store::AuditFilter {
            kind_prefix: Some("config.intents.deactivate".into()),
            ..Default::default()
        };
        self.e
            .started
            .api
            .store()
            .list_audit(ws, &filter)
            .await
            .expect("audit")
            .len()
    }

    fn a(&self) -> &str {
        &self.e.key
    }

    fn ws_a(&self) -> callforce_store::WorkspaceId {
        self.e.started.workspace
    }

    async fn put(&self, key: &str, map: serde_json::Value) -> (u16, serde_json::Value) {
        let r = self
            .e
            .http
            .put(format!("{}/v1/intents", self.e.base))
            .bearer_auth(key)
            .json(&map)
            .send()
            .await
            .expect("put");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or_default())
    }

    async fn alerts(&self, ws: callforce_store::WorkspaceId) -> usize {
        self.broken_alerts(ws).await.len()
    }

    async fn broken_alerts(&self, ws: callforce_store::WorkspaceId) -> Vec<callforce_store::Alert> {
        self.e
            .started
            .api
            .store()
            .list_alerts(ws, 100)
            .await
            .expect("alerts")
            .into_iter()
            .filter(|a| a.kind == callforce_app::intents::KIND_INTENT_MAP_BROKEN)
            .collect()
    }

    /// Whether `GET /v1/tools` (for a call on `connection`, if given) offers `record_intent`.
    async fn offers(&self, key: &str, connection: Option<&str>) -> bool {
        let path = match connection {
            Some(c) => format!("/v1/tools?connection={c}"),
            None => "/v1/tools".to_owned(),
        };
        let (status, tools) = self.e.get(key, &path).await;
        assert_eq!(status, 200, "{tools}");
        tools["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .any(|t| t["name"] == "record_intent")
    }

    /// Starts a call (on `connection`, if given), finds the Northwind opportunity and records
    /// `demo_requested`: the answer of `record_intent`.
    async fn demo_requested(
        &self,
        key: &str,
        connection: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let mut start = json!({});
        if let Some(c) = connection {
            start["connection"] = json!(c);
        }
        let (status, call) = self.e.post(key, "/v1/calls", start).await;
        assert_eq!(status, 201, "{call}");
        let id = call["call_id"].as_str().expect("id").to_owned();
        let path = |name: &str| format!("/v1/calls/{id}/actions/{name}");
        let (status, body) = self
            .e
            .post(
                key,
                &path("search_opportunity"),
                json!({"arguments": {"search_term": "Northwind - Chat Agent"}}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = self
            .e
            .post(
                key,
                &path("record_intent"),
                json!({"arguments": {"intent": "demo_requested"}}),
            )
            .await;
        (status.as_u16(), body)
    }

    /// `Demo_Requested_At__c` of the Northwind opportunity in org B.
    async fn stamp_in_b(&self) -> serde_json::Value {
        let org = &self.e.org.org;
        let found: serde_json::Value = self
            .e
            .http
            .get(format!("{}/services/data/v59.0/query", org.instance_url()))
            .bearer_auth(org.dev_access_token())
            .query(&[(
                "q",
                "SELECT Demo_Requested_At__c FROM Opportunity WHERE Name = 'Northwind - Chat Agent'",
            )])
            .send()
            .await
            .expect("query")
            .json()
            .await
            .expect("json");
        found["records"][0]["Demo_Requested_At__c"].clone()
    }

    async fn active(&self, key: &str) -> serde_json::Value {
        let (_, got) = self.e.get(key, "/v1/intents").await;
        got
    }

    /// Deletes `object.field` in workspace b's org.
    async fn delete_in_b(&self, object: &str, field: &str) {
        let r = self
            .e
            .http
            .post(format!(
                "{}/devorg/schema/{object}/fields/{field}",
                self.e.org.org.instance_url()
            ))
            .json(&json!({"change": "delete"}))
            .send()
            .await
            .expect("alter");
        assert_eq!(r.status(), 200);
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Org A is the demo org (the demo timestamp is `Opportunity.Demo_Requested_At__c`); org B
/// keeps it on the lead (`Lead.Demo_Date__c`). Each workspace's map is checked against its
/// own org; a field deleted in org B deactivates workspace b's map with one alert, and
/// workspace a's map, polled against org A, stays active.
#[tokio::test]
async fn each_workspace_map_is_checked_and_polled_against_its_own_org() {
    let two = TwoOrgs::start(Some(json!({"fields": {"Lead": [
        {"name": "Demo_Date__c", "label": "Demo Date", "type": "date"}
    ]}})))
    .await;
    let (a, b, ws_a, ws_b) = (two.a(), two.b.as_str(), two.ws_a(), two.ws_b);
    let a_map =
        json!({"demo_requested": "Opportunity.Demo_Requested_At__c", "qualified": "Lead.Status"});
    let b_map = json!({"demo_requested": "Lead.Demo_Date__c", "qualified": "Lead.Status"});

    // Each org refuses the other's map, naming the field it lacks.
    let (status, body) = two.put(b, a_map.clone()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["report"]["problems"][0]["code"], "unknown_field");
    assert_eq!(
        body["report"]["problems"][0]["path"],
        "intents.demo_requested.writes[0].fields.Demo_Requested_At__c"
    );
    let (status, body) = two.e.post(a, "/v1/intents/check", b_map.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["report"]["ok"], false, "{body}");
    assert_eq!(
        body["report"]["problems"][0]["path"],
        "intents.demo_requested.writes[0].fields.Demo_Date__c"
    );
    // And takes its own.
    let (status, body) = two.put(a, a_map).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = two.put(b, b_map).await;
    assert_eq!(status, 200, "{body}");
    // A recheck loads b's map again, against org B.
    let (status, body) = two.e.post(b, "/v1/intents/recheck", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["active"], true, "{body}");

    let intents = two.e.started.api.intents();
    // The first poll learns each org's dates: Opportunity and Lead in A, Lead in B.
    let first = intents.tick().await;
    assert_eq!(
        sorted(first.described.clone()),
        ["Lead", "Lead", "Opportunity"],
        "{first:?}"
    );
    assert!(first.deactivated.is_empty(), "{first:?}");
    let calm = intents.tick().await;
    assert_eq!(calm.not_modified.len(), 3, "{calm:?}");
    assert!(calm.described.is_empty(), "{calm:?}");

    two.delete_in_b("Lead", "Demo_Date__c").await;
    let poll = intents.tick().await;
    // Only org B's Lead changed; org A answered 304 for both of its objects.
    assert_eq!(poll.described, ["Lead"], "{poll:?}");
    assert_eq!(
        sorted(poll.not_modified.clone()),
        ["Lead", "Opportunity"],
        "{poll:?}"
    );
    assert_eq!(poll.rechecked, [ws_b], "{poll:?}");
    assert_eq!(poll.deactivated, [ws_b], "{poll:?}");
    for _ in 0..2 {
        let later = intents.tick().await;
        assert!(later.deactivated.is_empty(), "{later:?}");
    }
    assert_eq!(two.alerts(ws_b).await, 1);
    assert_eq!(two.alerts(ws_a).await, 0);
    let got_b = two.active(b).await;
    assert_eq!(got_b["active"], false, "{got_b}");
    assert_eq!(
        got_b["report"]["problems"][0]["path"],
        "intents.demo_requested.writes[0].fields.Demo_Date__c",
        "{got_b}"
    );
    assert_eq!(two.active(a).await["active"], true);
    assert!(intents.active(ws_a, None).await.is_some());
    assert!(intents.active(ws_b, None).await.is_none());
}

/// Workspace b's connection is disconnected: its map is left active and not polled, and a
/// new map cannot be checked (409, connect one first). A field deleted meanwhile is found
/// once b is connected again: the map is re-checked against the new connection and
/// deactivated with one alert.
#[tokio::test]
async fn a_map_waits_for_its_workspace_connection_and_is_rechecked_when_it_is_back() {
    let two = TwoOrgs::start(None).await;
    let (b, ws_b) = (two.b.as_str(), two.ws_b);
    let seed =
        json!({"demo_requested": "Opportunity.Demo_Requested_At__c", "qualified": "Lead.Status"});
    let (status, body) = two.put(b, seed.clone()).await;
    assert_eq!(status, 200, "{body}");
    let intents = two.e.started.api.intents();
    let first = intents.tick().await;
    assert_eq!(first.described.len(), 2, "{first:?}");

    let (_, list) = two.e.get(b, "/v1/connections").await;
    let id = list["connections"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (status, body) = two
        .e
        .send(reqwest::Method::DELETE, b, &format!("/v1/connections/{id}"))
        .await;
    assert_eq!(status, 200, "{body}");
    two.delete_in_b("Opportunity", "Demo_Requested_At__c").await;
    let poll = intents.tick().await;
    assert_eq!(poll.waiting, [ws_b], "{poll:?}");
    assert!(
        poll.described.is_empty() && poll.deactivated.is_empty(),
        "{poll:?}"
    );
    assert_eq!(two.active(b).await["active"], true);
    // Nothing can be checked against no org: a clear error, nothing stored.
    for path in ["/v1/intents/check", "/v1/intents/recheck"] {
        let (status, body) = two.e.post(b, path, seed.clone()).await;
        assert_eq!(status, 409, "{path}: {body}");
        assert_eq!(body["error"]["code"], "no_connection", "{body}");
    }
    let (status, body) = two.put(b, json!({"qualified": "Lead.Status"})).await;
    assert_eq!(status, 409, "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("connect one") && message.contains("nothing was checked or stored"),
        "{message}"
    );
    assert_eq!(
        two.active(b).await["map"]["intents"]
            .as_object()
            .expect("intents")
            .len(),
        2,
        "the stored map is unchanged"
    );
    assert_eq!(two.alerts(ws_b).await, 0);

    // Connected again (a new connection, now b's default): checked against the org as it is.
    two.connect_b().await;
    let poll = intents.tick().await;
    assert!(poll.waiting.is_empty(), "{poll:?}");
    assert_eq!(poll.rechecked, [ws_b], "{poll:?}");
    assert_eq!(poll.deactivated, [ws_b], "{poll:?}");
    assert_eq!(intents.tick().await.deactivated.len(), 0);
    assert_eq!(two.alerts(ws_b).await, 1);
    assert_eq!(two.active(b).await["active"], false);
}

/// Workspace a has two connections: its default on org A and `c` on org B (both the demo
/// schema). A call on `c` gets the map checked against org B and writes there; a field
/// deleted in org B withdraws the map from `c` only (one alert naming `c`, the reason in
/// `GET /v1/intents`), while calls on the default keep `record_intent`. A restarted
/// service checks `c` again at its first use without a second alert, and a map that fails
/// on `c` is refused by `PUT`.
/// MCP names a call's connection with `X-Connection` (or `_meta`): the tools listed and
/// the writes follow it, and an open call keeps the connection it started on.
#[tokio::test]
async fn an_mcp_call_runs_on_the_connection_it_names() {
    let two = TwoOrgs::start(None).await;
    let a = two.a();
    let c = two.connect_to_b(a).await;
    let map = json!({"demo_requested": "Opportunity.Demo_Requested_At__c"});
    let (status, body) = two.put(a, map).await;
    assert_eq!(status, 200, "{body}");
    let rpc = |call: &str, connection: Option<&str>, body: serde_json::Value| {
        let mut r = two
            .e
            .http
            .post(format!("{}/mcp", two.e.base))
            .bearer_auth(a)
            .header("accept", "application/json, text/event-stream")
            .header("x-call-id", call);
        if let Some(c) = connection {
            r = r.header("x-connection", c);
        }
        async move {
            r.json(&body)
                .send()
                .await
                .expect("send")
                .json::<serde_json::Value>()
                .await
                .expect("json")
        }
    };
    let tool = |id: u64, name: &str, args: serde_json::Value| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": name, "arguments": args}})
    };
    let listed = rpc(
        "mcp-b",
        Some(&c),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    )
    .await;
    assert!(
        listed["result"]["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == "record_intent")),
        "{listed}"
    );

    // A call on c writes into org B.
    let before = two.stamp_in_b().await;
    let found = rpc(
        "mcp-b",
        Some(&c),
        tool(
            2,
            "search_opportunity",
            json!({"search_term": "Northwind - Chat Agent"}),
        ),
    )
    .await;
    assert_ne!(found["result"]["isError"], true, "{found}");
    let recorded = rpc(
        "mcp-b",
        Some(&c),
        tool(3, "record_intent", json!({"intent": "demo_requested"})),
    )
    .await;
    assert_ne!(recorded["result"]["isError"], true, "{recorded}");
    let after = two.stamp_in_b().await;
    assert!(after.is_string() && after != before, "{before} -> {after}");

    // A call started on the default connection cannot move to c, nor c's call back.
    let started = rpc(
        "mcp-a",
        None,
        tool(4, "search_opportunity", json!({"search_term": "Northwind"})),
    )
    .await;
    assert_ne!(started["result"]["isError"], true, "{started}");
    let moved = rpc(
        "mcp-a",
        Some(&c),
        tool(5, "search_opportunity", json!({"search_term": "Northwind"})),
    )
    .await;
    assert_eq!(moved["error"]["code"], -32602, "{moved}");
    assert!(
        moved["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("keeps the connection")),
        "{moved}"
    );
    let unknown = rpc(
        "mcp-x",
        Some("con_nope"),
        json!({"jsonrpc": "2.0", "id": 6, "method": "tools/list"}),
    )
    .await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
}

#[tokio::test]
async fn a_call_on_another_connection_gets_the_map_checked_against_its_org() {
    let two = TwoOrgs::start(None).await;
    let (a, ws_a) = (two.a(), two.ws_a());
    let c = two.connect_to_b(a).await;
    let map =
        json!({"demo_requested": "Opportunity.Demo_Requested_At__c", "qualified": "Lead.Status"});
    let (status, body) = two.put(a, map.clone()).await;
    assert_eq!(status, 200, "{body}");
    let per = body["connections"].as_array().expect("connections");
    assert_eq!(per.len(), 2, "{body}");
    assert_eq!(
        (&per[0]["default"], &per[0]["ok"]),
        (&json!(true), &json!(true))
    );
    assert_eq!(
        (&per[1]["connection"], &per[1]["ok"]),
        (&json!(c), &json!(true))
    );

    // A call on c writes through c, into org B.
    let before = two.stamp_in_b().await;
    assert!(two.offers(a, Some(&c)).await);
    let (status, body) = two.demo_requested(a, Some(&c)).await;
    assert_eq!(status, 200, "{body}");
    let after = two.stamp_in_b().await;
    assert!(after.is_string() && after != before, "{before} -> {after}");

    let intents = two.e.started.api.intents();
    let first = intents.tick().await;
    assert_eq!(
        sorted(first.described.clone()),
        ["Lead", "Lead", "Opportunity", "Opportunity"],
        "both connections are polled: {first:?}"
    );
    two.delete_in_b("Opportunity", "Demo_Requested_At__c").await;
    let poll = intents.tick().await;
    assert_eq!(poll.described, ["Opportunity"], "{poll:?}");
    assert_eq!(poll.rechecked, [ws_a], "{poll:?}");
    assert_eq!(poll.broken, [(ws_a, c.clone())], "{poll:?}");
    assert!(poll.deactivated.is_empty(), "{poll:?}");
    for _ in 0..2 {
        let later = intents.tick().await;
        assert!(
            later.broken.is_empty() && later.rechecked.is_empty(),
            "{later:?}"
        );
    }
    let alerts = two.broken_alerts(ws_a).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].details["connection_id"], json!(c));
    assert!(
        alerts[0].details["problems"]
            .to_string()
            .contains("Demo_Requested_At__c"),
        "{:?}",
        alerts[0].details
    );

    // The map stays active on the default; GET /v1/intents says why c has none.
    let got = two.active(a).await;
    assert_eq!(got["active"], true, "{got}");
    let per = got["connections"].as_array().expect("connections");
    assert_eq!(
        (&per[0]["default"], &per[0]["status"]),
        (&json!(true), &json!("active")),
        "{got}"
    );
    assert_eq!(
        (&per[1]["connection"], &per[1]["status"]),
        (&json!(c), &json!("broken")),
        "{got}"
    );
    assert_eq!(
        per[1]["report"]["problems"][0]["path"],
        "intents.demo_requested.writes[0].fields.Demo_Requested_At__c",
        "{got}"
    );
    assert!(!two.offers(a, Some(&c)).await);
    assert!(two.offers(a, None).await);
    let (status, body) = two.demo_requested(a, Some(&c)).await;
    assert_eq!(body["error"]["code"], "not_available", "{status} {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&c)),
        "{body}"
    );
    let (status, body) = two.demo_requested(a, None).await;
    assert_eq!(status, 200, "a call on the default still records: {body}");
    let (status, body) = two.e.get(a, "/v1/tools?connection=con_nope").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "unknown_connection", "{body}");

    // After a restart, c's first use checks it again: no tool, and no second alert.
    let fresh = two.fresh_api();
    assert!(fresh.intents().active(ws_a, Some(&c)).await.is_none());
    assert!(fresh.intents().active(ws_a, None).await.is_some());
    assert_eq!(two.alerts(ws_a).await, 1);

    // A map that fails on any connected org of the workspace is refused, naming it.
    let (status, body) = two.put(a, map).await;
    assert_eq!(status, 422, "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains(&format!("connection {c}")), "{message}");
    assert_eq!(
        body["report"]["problems"][0]["code"], "unknown_field",
        "{body}"
    );
    assert_eq!(body["connections"][0]["ok"], true, "{body}");
    assert_eq!(body["connections"][1]["ok"], false, "{body}");
    // And the check endpoint tells the same, per connection, storing nothing.
    let (status, body) = two
        .e
        .post(a, "/v1/intents/check", json!({"qualified": "Lead.Status", "demo_requested": "Opportunity.Demo_Requested_At__c"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["report"]["ok"], false, "{body}");
    assert_eq!(body["connections"][1]["connection"], json!(c), "{body}");
    let (status, body) = two.put(a, json!({"qualified": "Lead.Status"})).await;
    assert_eq!(status, 200, "a map that fits both orgs: {body}");
    assert!(two.offers(a, Some(&c)).await);
}

/// A restarted service (a fresh `Api` over the same store) polls workspace b's map from its
/// first tick, before any call used it, and a field deleted in b's org deactivates it with
/// one alert.
/// At start the map is checked on every connected connection, not only the default one,
/// so the first call on another connection does not wait for that org's describes.
#[tokio::test]
async fn at_start_the_map_is_checked_on_every_connected_connection() {
    let two = TwoOrgs::start(None).await;
    let (a, ws_a) = (two.a(), two.ws_a());
    let c = two.connect_to_b(a).await;
    let (status, body) = two
        .put(
            a,
            json!({"demo_requested": "Opportunity.Demo_Requested_At__c"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let on_c = |intents: &callforce_app::intents::Intents| {
        intents
            .statuses(ws_a, true)
            .into_iter()
            .find(|s| s["connection"] == json!(c))
            .map(|s| s["status"].clone())
    };

    let restarted = two.fresh_api();
    let intents = restarted.intents();
    intents
        .prepare(&mut callforce_app::intents::Poll::default())
        .await;
    assert_eq!(on_c(intents), Some(json!("unchecked")), "the default only");
    let restarted = two.fresh_api();
    let intents = restarted.intents();
    intents.start().await;
    assert_eq!(on_c(intents), Some(json!("active")));
}

#[tokio::test]
async fn a_restarted_service_polls_every_workspace_map_from_the_start() {
    let two = TwoOrgs::start(None).await;
    let (b, ws_b) = (two.b.as_str(), two.ws_b);
    let (status, body) = two
        .put(b, json!({"demo_requested": "Opportunity.Demo_Requested_At__c", "qualified": "Lead.Status"}))
        .await;
    assert_eq!(status, 200, "{body}");

    let fresh = two.fresh_api();
    let intents = fresh.intents();
    let first = intents.tick().await;
    // Loaded and checked (then checked again with the describes its first poll fetched).
    assert_eq!(first.rechecked, [ws_b, ws_b], "{first:?}");
    assert_eq!(
        sorted(first.described.clone()),
        ["Lead", "Opportunity"],
        "{first:?}"
    );
    assert!(
        first.deactivated.is_empty() && first.waiting.is_empty(),
        "{first:?}"
    );
    let calm = intents.tick().await;
    assert_eq!(calm.not_modified.len(), 2, "{calm:?}");

    two.delete_in_b("Lead", "Status").await;
    let poll = intents.tick().await;
    assert_eq!(poll.described, ["Lead"], "{poll:?}");
    assert_eq!(poll.deactivated, [ws_b], "{poll:?}");
    assert!(poll.broken.is_empty(), "{poll:?}");
    assert!(intents.tick().await.deactivated.is_empty());
    let alerts = two.broken_alerts(ws_b).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].details["default"], true);
    let got = two.active(b).await;
    assert_eq!(got["active"], false, "{got}");
    assert_eq!(
        got["report"]["problems"][0]["path"], "intents.qualified.writes[0].fields.Status",
        "{got}"
    );
}

/// Two instances on one database poll workspace b's map at the same moment after a field
/// it writes was deleted in org B: both find it broken, one deactivates it, and the admin
/// gets exactly one alert (and the audit log one deactivation).
async fn instances_finding_a_map_broken_at_once_alert_once(database_url: Option<String>) {
    let two = TwoOrgs::start_on(None, database_url).await;
    let (b, ws_b) = (two.b.as_str(), two.ws_b);
    let (status, body) = two
        .put(b, json!({"demo_requested": "Opportunity.Demo_Requested_At__c", "qualified": "Lead.Status"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let other = two.other_instance().await;
    let (one, other) = (two.e.started.api.intents(), other.intents());
    // Each learns the describes' dates (the other instance loads the map from the store).
    for intents in [one, other] {
        let first = intents.tick().await;
        assert!(first.deactivated.is_empty(), "{first:?}");
        assert!(intents.active(ws_b, None).await.is_some());
    }

    two.delete_in_b("Opportunity", "Demo_Requested_At__c").await;
    let (p1, p2) = tokio::join!(one.tick(), other.tick());
    assert_eq!(p1.rechecked, [ws_b], "both re-checked it: {p1:?}");
    assert_eq!(p2.rechecked, [ws_b], "both re-checked it: {p2:?}");
    let mut deactivated = p1.deactivated.clone();
    deactivated.extend(p2.deactivated.iter().copied());
    assert_eq!(deactivated, [ws_b], "one deactivated it: {p1:?} {p2:?}");
    for intents in [one, other] {
        assert!(intents.tick().await.deactivated.is_empty());
        assert!(intents.active(ws_b, None).await.is_none());
    }
    let alerts = two.broken_alerts(ws_b).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].details["default"], true);
    assert_eq!(two.deactivations(ws_b).await, 1);
    let got = two.active(b).await;
    assert_eq!(got["active"], false, "{got}");
    assert!(!two.offers(b, None).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_finding_a_map_broken_at_once_alert_once_on_sqlite() {
    instances_finding_a_map_broken_at_once_alert_once(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_finding_a_map_broken_at_once_alert_once_on_postgres() {
    let test = "instances_finding_a_map_broken_at_once_alert_once_on_postgres";
    let schema = callforce_testkit::PgSchema::for_test(test).await;
    if let Some(schema) = schema.expect("schema") {
        instances_finding_a_map_broken_at_once_alert_once(Some(schema.url())).await;
    }
}

/// Two instances on one database poll workspace a's map at the same moment after a field
/// was deleted in the org of its other connection `c`: both withdraw the map from `c`,
/// the admin gets exactly one alert naming `c`, and the map stays active on the default.
async fn instances_withdrawing_a_map_at_once_alert_once(database_url: Option<String>) {
    let two = TwoOrgs::start_on(None, database_url).await;
    let (a, ws_a) = (two.a(), two.ws_a());
    let c = two.connect_to_b(a).await;
    let (status, body) = two
        .put(a, json!({"demo_requested": "Opportunity.Demo_Requested_At__c", "qualified": "Lead.Status"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let other = two.other_instance().await;
    let (one, other) = (two.e.started.api.intents(), other.intents());
    // The other instance checks c at a call's first use there.
    assert!(other.active(ws_a, Some(&c)).await.is_some());
    for intents in [one, other] {
        let first = intents.tick().await;
        assert!(first.broken.is_empty(), "{first:?}");
    }

    two.delete_in_b("Opportunity", "Demo_Requested_At__c").await;
    let (p1, p2) = tokio::join!(one.tick(), other.tick());
    for p in [&p1, &p2] {
        assert_eq!(p.broken, [(ws_a, c.clone())], "{p:?}");
        assert!(p.deactivated.is_empty(), "{p:?}");
    }
    for intents in [one, other] {
        assert!(intents.tick().await.broken.is_empty());
        assert!(intents.active(ws_a, Some(&c)).await.is_none());
        assert!(intents.active(ws_a, None).await.is_some());
    }
    let alerts = two.broken_alerts(ws_a).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].details["connection_id"], json!(c));
    assert_eq!(alerts[0].details["default"], false);
    assert_eq!(two.active(a).await["active"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_withdrawing_a_map_at_once_alert_once_on_sqlite() {
    instances_withdrawing_a_map_at_once_alert_once(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_withdrawing_a_map_at_once_alert_once_on_postgres() {
    let test = "instances_withdrawing_a_map_at_once_alert_once_on_postgres";
    let schema = callforce_testkit::PgSchema::for_test(test).await;
    if let Some(schema) = schema.expect("schema") {
        instances_withdrawing_a_map_at_once_alert_once(Some(schema.url())).await;
    }
}
