//! The caller known before the first word: `POST /v1/calls` looks the caller up (by phone in any
//! format, email or id) within the agent's deadline, answers who it is with a paragraph for a
//! system prompt, makes the record the call's `{{caller}}`, and answers a search for the
//! caller's own phone without asking the org; the same over MCP.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};

use callforce::serve::{ServeConfig, Started, start};

struct Client {
    base: String,
    key: String,
    http: reqwest::Client,
    faults: String,
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

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn start(&self, body: Value) -> Value {
        let (s, b) = self.post("/v1/calls", body).await;
        assert_eq!(s, 201, "{b}");
        b
    }

    async fn faults(&self, spec: Value) {
        let r = self
            .http
            .put(&self.faults)
            .json(&spec)
            .send()
            .await
            .expect("faults");
        assert!(r.status().is_success(), "{:?}", r.text().await);
    }
}

async fn serve(dir: &tempfile::TempDir) -> (Started, Client) {
    let started = start(ServeConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        dir.path().to_owned(),
    ))
    .await
    .expect("starts");
    let devorg = &started.devorg.as_ref().expect("embedded").org;
    let client = Client {
        base: format!("http://{}", started.addr),
        key: started.api_key.clone().expect("first key"),
        http: reqwest::Client::new(),
        faults: format!("{}/devorg/faults", devorg.instance_url()),
    };
    (started, client)
}

/// Every SOSL search of the dev org fails: what still works was not asked of the org.
fn searches_fail() -> Value {
    json!({"rules": [{"kind": "unavailable", "probability": 1.0, "path": "/services/data/*/search*"}]})
}

#[tokio::test]
async fn the_caller_is_known_when_the_call_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_s, c) = serve(&dir).await;

    // Sarah Johnson's mobile, written another way than the org stores it.
    let b = c
        .start(json!({"call_id": "c1", "caller_phone": "+1 (555) 234-5678"}))
        .await;
    let ctx = &b["caller_context"];
    assert_eq!(ctx["status"], "found", "{b}");
    let caller = &ctx["context"]["caller"];
    assert_eq!(caller["type"], "Contact");
    assert_eq!(caller["Name"], "Sarah Johnson");
    assert_eq!(caller["Account"]["Name"], "Acme Corporation");
    assert_eq!(ctx["context"]["account"]["Name"], "Acme Corporation");
    let cases = ctx["context"]["open_cases"].as_array().expect("cases");
    assert!(!cases.is_empty(), "{ctx}");
    assert!(
        cases
            .iter()
            .all(|c| c["Status"] != "Closed" && c["CaseNumber"].is_string()),
        "only open cases, with their numbers: {ctx}"
    );
    assert!(
        ctx["context"]["open_opportunities"]
            .as_array()
            .is_some_and(|o| o.iter().any(|o| o["Name"] == "Acme - Annual Renewal")),
        "{ctx}"
    );
    let summary = ctx["summary"].as_str().expect("summary");
    assert!(
        summary.starts_with("The caller is Sarah Johnson (contact"),
        "{summary}"
    );
    let (s, later) = c
        .send(reqwest::Method::GET, "/v1/calls/c1/context", None)
        .await;
    assert_eq!((s, &later["status"]), (200, &json!("found")), "{later}");

    // The search for the caller's own phone is answered from the call: with every search of
    // the org failing, it still finds her, in the search's own shape.
    c.faults(searches_fail()).await;
    let (s, found) = c
        .post(
            "/v1/calls/c1/actions/search_contact",
            json!({"arguments": {"search_term": "{{caller_phone}}"}}),
        )
        .await;
    assert_eq!(s, 200, "{found}");
    assert_eq!(found["result"]["count"], 1, "{found}");
    let rec = &found["result"]["records"][0];
    assert_eq!(rec["LastName"], "Johnson");
    assert_eq!(rec["Account"], json!({"Name": "Acme Corporation"}));
    assert!(rec.get("type").is_none(), "{rec}");
    // Another number does go to the org, which fails now.
    let (s, other) = c
        .post(
            "/v1/calls/c1/actions/search_contact",
            json!({"arguments": {"search_term": "+15559990000"}}),
        )
        .await;
    assert_ne!(s, 200, "{other}");
    c.faults(json!({})).await;

    // The record is the call's {{caller}}.
    let (s, case) = c
        .post(
            "/v1/calls/c1/actions/create_case",
            json!({"arguments": {"Subject": "Invoice discrepancy", "ContactId": "{{caller.Id}}",
                "AccountId": "{{caller.AccountId}}"}}),
        )
        .await;
    assert_eq!(s, 200, "{case}");
    let (_, got) = c
        .post(
            "/v1/calls/c1/actions/run_query",
            json!({"arguments": {"soql": "SELECT Contact.Name, Account.Name FROM Case WHERE Subject = 'Invoice discrepancy'"}}),
        )
        .await;
    assert_eq!(
        got["result"]["records"][0]["Contact"]["Name"], "Sarah Johnson",
        "{got}"
    );
    assert_eq!(
        got["result"]["records"][0]["Account"]["Name"],
        "Acme Corporation"
    );
}

#[tokio::test]
async fn by_email_id_no_one_or_several() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_s, c) = serve(&dir).await;

    let lead = c
        .start(json!({"caller_email": "daniel.foster@oakmont.example"}))
        .await;
    assert_eq!(lead["caller_context"]["status"], "found", "{lead}");
    assert_eq!(lead["caller_context"]["context"]["caller"]["type"], "Lead");
    let id = lead["caller_context"]["context"]["caller"]["Id"]
        .as_str()
        .expect("id")
        .to_owned();
    let by_id = c.start(json!({"caller_id": id})).await;
    assert_eq!(
        by_id["caller_context"]["context"]["caller"]["Name"], "Daniel Foster",
        "{by_id}"
    );

    let nobody = c.start(json!({"caller_phone": "+1 555 999 0000"})).await;
    assert_eq!(nobody["caller_context"]["status"], "not_found", "{nobody}");
    assert!(
        nobody["caller_context"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("ask for their name or email")),
        "{nobody}"
    );

    // Two contacts share a number: neither is picked.
    let call = c.start(json!({"call_id": "setup"})).await;
    assert_eq!(call["caller_context"]["status"], "not_asked");
    for last in ["Twin", "Twain"] {
        let (s, b) = c
            .post(
                "/v1/calls/setup/actions/create_contact",
                json!({"arguments": {"LastName": last, "Phone": "(555) 777-1212"}}),
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }
    let two = c.start(json!({"caller_phone": "5557771212"})).await;
    assert_eq!(two["caller_context"]["status"], "ambiguous", "{two}");
    assert_eq!(
        two["caller_context"]["context"]["matches"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert!(two["caller_context"]["context"]["caller"].is_null());

    // Bad input says what to fix.
    let (s, b) = c
        .post("/v1/calls", json!({"caller_email": "not an email"}))
        .await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = c.post("/v1/calls", json!({"caller_id": "500xyz"})).await;
    assert_eq!(s, 201, "the call starts anyway: {b}");
    assert_eq!(b["caller_context"]["status"], "failed", "{b}");
    assert!(
        b["caller_context"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("Contact (003...)")),
        "{b}"
    );
    let (s, b) = c
        .put_agent("slow", json!({"caller_context": {"include": ["Cases"]}}))
        .await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["error"]["field"], "caller_context.include", "{b}");
}

impl Client {
    async fn put_agent(&self, name: &str, body: Value) -> (u16, Value) {
        self.send(
            reqwest::Method::PUT,
            &format!("/v1/agents/{name}"),
            Some(body),
        )
        .await
    }
}

#[tokio::test]
async fn a_late_lookup_follows_the_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_s, c) = serve(&dir).await;
    let (s, b) = c
        .put_agent("quick", json!({"context_deadline_ms": 20}))
        .await;
    assert_eq!(s, 200, "{b}");
    c.faults(json!({"latency": {"fixed_ms": 400, "path": "/services/data/*/search*"}}))
        .await;
    let b = c
        .start(json!({"call_id": "late", "agent": "quick", "caller_phone": "+15552345678"}))
        .await;
    assert_eq!(b["caller_context"]["status"], "pending", "{b}");
    let mut found = Value::Null;
    for _ in 0..100 {
        let (_, ctx) = c
            .send(reqwest::Method::GET, "/v1/calls/late/context", None)
            .await;
        if ctx["status"] != "pending" {
            found = ctx;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(found["status"], "found", "{found}");
    assert_eq!(found["context"]["caller"]["Name"], "Sarah Johnson");
    let (s, _) = c
        .send(reqwest::Method::GET, "/v1/calls/nope/context", None)
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn over_mcp_the_first_tool_call_carries_the_caller() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_s, c) = serve(&dir).await;
    let rpc = |body: Value| {
        let r = c
            .http
            .post(format!("{}/mcp", c.base))
            .bearer_auth(&c.key)
            .header("accept", "application/json, text/event-stream")
            .json(&body)
            .send();
        async move { r.await.expect("send").json::<Value>().await.expect("json") }
    };
    let first = rpc(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "search_contact", "arguments": {
            "call_id": "m1", "caller_phone": "+15552345678", "search_term": "+15552345678"}}}))
    .await;
    let result = &first["result"]["structuredContent"];
    assert_eq!(result["caller_context"]["status"], "found", "{first}");
    assert_eq!(result["records"][0]["LastName"], "Johnson", "{first}");
    // Later tool calls of the call do not repeat it.
    let second = rpc(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "search_contact", "arguments": {"call_id": "m1", "search_term": "Kim"}}}))
    .await;
    assert!(
        second["result"]["structuredContent"]
            .get("caller_context")
            .is_none(),
        "{second}"
    );
    let read = rpc(
        json!({"jsonrpc": "2.0", "id": 3, "method": "resources/read",
        "params": {"uri": "callforce://calls/m1/context"}}),
    )
    .await;
    let text = read["result"]["contents"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{read}"));
    let ctx: Value = serde_json::from_str(text).expect("json");
    assert_eq!(ctx["context"]["caller"]["Name"], "Sarah Johnson", "{ctx}");
    let templates =
        rpc(json!({"jsonrpc": "2.0", "id": 4, "method": "resources/templates/list"})).await;
    assert!(
        templates
            .to_string()
            .contains("callforce://calls/{call_id}/context"),
        "{templates}"
    );
}
