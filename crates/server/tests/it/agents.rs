//! Agents and custom actions through the agent API.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};

use callforce_client::ExposeSecret;
use serde_json::{Value, json};

use callforce::serve::{ServeConfig, Started, start};
use callforce_app::CallSettings;

struct Client {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Client {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }
    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
    async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::DELETE, path, None).await
    }
    async fn call(&self, agent: &str) -> String {
        let (s, b) = self
            .post(
                "/v1/calls",
                json!({"caller_phone": "+15551234567", "agent": agent}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        b["call_id"].as_str().expect("id").to_owned()
    }
}

async fn serve(dir: &tempfile::TempDir, calls: CallSettings) -> (Started, Client) {
    let started = start(ServeConfig {
        calls,
        ..ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().to_owned())
    })
    .await
    .expect("starts");
    let client = Client {
        base: format!("http://{}", started.addr),
        key: started.api_key.clone().expect("first key"),
        http: reqwest::Client::new(),
    };
    (started, client)
}

fn names(tools: &Value) -> Vec<&str> {
    tools["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect()
}

#[tokio::test]
async fn an_agent_gets_its_tools_and_only_its_actions_and_objects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_s, c) = serve(&dir, CallSettings::default()).await;
    let (st, b) = c
        .put(
            "/v1/agents/aria",
            json!({"actions": ["search_contact", "search_lead", "create_case", "delete_case"], "objects": ["Contact", "Case"]}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let (st, saved) = c.get("/v1/agents/aria").await;
    assert_eq!(st, 200, "{saved}");
    assert_eq!(saved["updated_at"], b["updated_at"], "{saved} {b}");
    let (st, tools) = c.get("/v1/tools?agent=aria").await;
    assert_eq!(st, 200, "{tools}");
    assert_eq!(
        names(&tools),
        [
            "search_contact",
            "search_lead",
            "create_case",
            "delete_case"
        ]
    );
    let delete = &tools["tools"][3];
    assert!(
        delete["parameters"]["properties"]["confirmation_token"].is_object(),
        "{delete}"
    );
    let (st, _) = c.get("/v1/tools?agent=nobody").await;
    assert_eq!(st, 404);
    let (st, all) = c.get("/v1/tools").await;
    assert_eq!(st, 200);
    assert!(names(&all).len() > 60);

    // Bad definitions are refused with what to fix.
    let (st, b) = c
        .put("/v1/agents/bad", json!({"actions": ["serch_contact"]}))
        .await;
    assert_eq!(st, 422, "{b}");
    assert_eq!(b["error"]["suggestion"], "search_contact", "{b}");
    let (st, b) = c.put("/v1/agents/bad", json!({"actoins": []})).await;
    assert_eq!(st, 400, "{b}");
    let (st, _) = c.put("/v1/agents/bad%20name", json!({})).await;
    assert_eq!(st, 400);
    let (st, b) = c.get("/v1/agents").await;
    assert_eq!(st, 200);
    assert_eq!(b["agents"].as_array().map(Vec::len), Some(1), "{b}");

    // In a call of that agent: an action it may not run, an object it may not touch.
    let id = c.call("aria").await;
    let (st, b) = c
        .post(&format!("/v1/calls/{id}/actions/search_account"), json!({}))
        .await;
    assert_eq!(st, 403, "{b}");
    assert_eq!(b["error"]["code"], "forbidden");
    let (st, b) = c
        .post(&format!("/v1/calls/{id}/actions/search_lead"), json!({}))
        .await;
    assert_eq!(st, 403, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Lead")),
        "{b}"
    );
    let (st, b) = c
        .post(
            &format!("/v1/calls/{id}/actions/search_contact"),
            json!({"arguments": {"search_term": "{{caller_phone}}"}}),
        )
        .await;
    assert_eq!(st, 200, "{b}");

    // A delete previews first, runs with its token, and the token works once.
    let (st, case) = c
        .post(
            &format!("/v1/calls/{id}/actions/create_case"),
            json!({"arguments": {"Subject": "To delete", "ContactId": "{{search_contact.Id}}"}}),
        )
        .await;
    assert_eq!(st, 200, "{case}");
    let case_id = case["result"]["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/calls/{id}/actions/delete_case");
    let (st, p) = c
        .post(&path, json!({"arguments": {"record_id": case_id}}))
        .await;
    assert_eq!(st, 200, "{p}");
    let token = p["result"]["confirmation_required"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(
        p["result"]["confirmation_required"]["preview"]["arguments"]["record_id"],
        case_id.as_str()
    );
    let (st, b) = c
        .post(
            &path,
            json!({"arguments": {"record_id": case_id, "confirmation_token": "v1.9.xyz"}}),
        )
        .await;
    assert_eq!(
        (st, &b["error"]["code"]),
        (422, &json!("confirmation_invalid")),
        "{b}"
    );
    let confirmed = json!({"arguments": {"record_id": case_id, "confirmation_token": token}});
    let (st, b) = c.post(&path, confirmed.clone()).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["result"]["deleted"], true, "{b}");
    let (st, b) = c.post(&path, confirmed).await;
    assert_eq!(st, 422, "{b}");

    // Deleted agents are gone; calls naming an undefined agent get the default policy.
    let (st, _) = c.delete("/v1/agents/aria").await;
    assert_eq!(st, 200);
    let (st, _) = c.delete("/v1/agents/aria").await;
    assert_eq!(st, 404);
    let (st, b) = c
        .post(&format!("/v1/calls/{id}/actions/search_account"), json!({}))
        .await;
    assert_eq!(st, 200, "{b}");
}

#[tokio::test]
async fn an_agent_may_turn_say_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_s, c) = serve(&dir, CallSettings::default()).await;
    for (agent, say) in [("voice", None), ("text", Some(false))] {
        let mut definition = json!({});
        if let Some(s) = say {
            definition["say"] = json!(s);
        }
        let (st, b) = c.put(&format!("/v1/agents/{agent}"), definition).await;
        assert_eq!(st, 200, "{b}");
        let (_, saved) = c.get(&format!("/v1/agents/{agent}")).await;
        assert_eq!(
            saved["definition"].get("say"),
            say.map(Value::from).as_ref(),
            "on is the default and not written: {saved}"
        );
        let call = c.call(agent).await;
        let (st, r) = c
            .post(
                &format!("/v1/calls/{call}/actions/search_contact"),
                json!({"arguments": {"search_term": "+15551234567"}}),
            )
            .await;
        assert_eq!(st, 200, "{r}");
        assert_eq!(r["result"]["records"][0]["LastName"], "Johnson", "{r}");
        match say {
            None => assert_eq!(
                r["result"]["say"],
                "I found Sarah Johnson at Acme Corporation."
            ),
            Some(_) => assert_eq!(r["result"].get("say"), None, "{r}"),
        }
    }
}

#[tokio::test]
async fn custom_actions_and_agents_belong_to_their_workspace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_s, c) = serve(&dir, CallSettings::default()).await;
    let lookup = json!({
        "description": "Find a contact by email",
        "method": "GET",
        "endpoint": "/services/data/v59.0/query/?q=SELECT Id, Name FROM Contact WHERE Email = '{{email}}'",
        "object": "Contact",
        "parameters": [{"name": "email", "location": "query", "required": true, "description": "Email"}]
    });
    let (st, b) = c.put("/v1/actions/find_by_email", lookup.clone()).await;
    assert_eq!(st, 200, "{b}");
    let (st, b) = c.get("/v1/actions/find_by_email").await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["kind"], "custom");
    let (_, tools) = c.get("/v1/tools").await;
    assert!(names(&tools).contains(&"find_by_email"));
    let id = c.call("any").await;
    let (st, b) = c
        .post(
            &format!("/v1/calls/{id}/actions/find_by_email"),
            json!({"arguments": {"email": "sarah.johnson@acmecorp.example"}}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["result"]["records"][0]["Name"], "Sarah Johnson", "{b}");

    // Invalid definitions: a clear 4xx.
    let mut bad = lookup.clone();
    bad["endpoint"] = json!("/etc/passwd");
    let (st, b) = c.put("/v1/actions/bad_one", bad).await;
    assert_eq!(st, 422, "{b}");
    let (st, b) = c.put("/v1/actions/search_contact", lookup.clone()).await;
    assert_eq!(st, 409, "{b}");
    let (st, _) = c
        .put("/v1/actions/find_by_email", json!({"method": 5}))
        .await;
    assert_eq!(st, 400);
    let (st, b) = c
        .put("/v1/agents/scoped", json!({"actions": ["find_by_email"]}))
        .await;
    assert_eq!(st, 200, "{b}");

    // Another workspace sees neither.
    let store = callforce_store::Store::open_sqlite(&dir.path().join("callforce.db"))
        .await
        .expect("store");
    let now = chrono::Utc::now();
    let ws = store.create_workspace("other", now).await.expect("ws");
    let key = store
        .create_api_key(ws.id, "other", now)
        .await
        .expect("key");
    let other = Client {
        base: c.base.clone(),
        key: key.plaintext.expose_secret().to_owned(),
        http: reqwest::Client::new(),
    };
    let (st, _) = other.get("/v1/actions/find_by_email").await;
    assert_eq!(st, 404);
    let (st, _) = other.get("/v1/agents/scoped").await;
    assert_eq!(st, 404);
    let (st, _) = other.get("/v1/tools?agent=scoped").await;
    assert_eq!(st, 404);
    let (st, b) = other
        .post(&format!("/v1/calls/{id}/actions/search_contact"), json!({}))
        .await;
    assert_eq!(st, 404, "another workspace's call is not found: {b}");
    let (st, _) = other.post(&format!("/v1/calls/{id}/end"), json!({})).await;
    assert_eq!(st, 404);

    let (st, _) = c.delete("/v1/actions/find_by_email").await;
    assert_eq!(st, 200);
    let (st, _) = c.delete("/v1/actions/find_by_email").await;
    assert_eq!(st, 404);
    let (st, _) = c.delete("/v1/actions/search_contact").await;
    assert_eq!(st, 404);
}

#[tokio::test]
async fn idle_calls_expire_and_are_swept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = std::sync::Arc::new(AtomicI64::new(1_800_000_000_000));
    let clock = now.clone();
    let settings = CallSettings {
        idle_timeout: std::time::Duration::from_secs(60),
        clock: std::sync::Arc::new(move || {
            chrono::DateTime::from_timestamp_millis(clock.load(Ordering::SeqCst))
                .unwrap_or_default()
        }),
    };
    let (s, c) = serve(&dir, settings).await;
    let active = c.call("a").await;
    let idle = c.call("a").await;
    now.fetch_add(50_000, Ordering::SeqCst);
    let (st, _) = c
        .post(
            &format!("/v1/calls/{active}/actions/search_contact"),
            json!({}),
        )
        .await;
    assert_eq!(st, 200);
    now.fetch_add(20_000, Ordering::SeqCst);
    // 70 s idle: gone even before a sweep; 20 s idle: still open.
    let (st, b) = c
        .post(
            &format!("/v1/calls/{idle}/actions/search_contact"),
            json!({}),
        )
        .await;
    assert_eq!(st, 404, "{b}");
    let (st, _) = c
        .post(
            &format!("/v1/calls/{active}/actions/search_contact"),
            json!({}),
        )
        .await;
    assert_eq!(st, 200);
    let third = c.call("a").await;
    assert_eq!(s.api.open_calls(), 3);
    now.fetch_add(30_000, Ordering::SeqCst);
    let (st, _) = c
        .post(
            &format!("/v1/calls/{third}/actions/search_contact"),
            json!({}),
        )
        .await;
    assert_eq!(st, 200);
    now.fetch_add(31_000, Ordering::SeqCst);
    // The sweeper ends the two idle calls and keeps the one just used.
    assert_eq!(s.api.sweep(), 2);
    assert_eq!(s.api.open_calls(), 1);
}
