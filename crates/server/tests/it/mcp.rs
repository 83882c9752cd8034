//! MCP at `/mcp` of the whole service: the key, host and origin checks, and `record_intent`.

use callforce_mcp::McpConfig;
use serde_json::{Value, json};

/// `record_intent` over `/mcp`: absent (and a tool error a model reads) until the workspace
/// has an active map, then listed with the map's intents, in the compact set too, and
/// writing in the call named by `X-Call-Id`.
#[tokio::test]
async fn record_intent_over_mcp_follows_the_intent_map() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = callforce::serve::start(callforce::serve::ServeConfig {
        api_key: Some("k1".into()),
        ..callforce::serve::ServeConfig::new(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            dir.path().to_owned(),
        )
    })
    .await
    .expect("starts");
    let base = format!("http://{}", started.addr);
    let http = reqwest::Client::new();
    let rpc = |path: &str, body: Value| {
        let r = http
            .post(format!("{base}{path}"))
            .bearer_auth("k1")
            .header("accept", "application/json, text/event-stream")
            .header("x-call-id", "call-mcp-intent")
            .json(&body)
            .send();
        async move { r.await.expect("send").json::<Value>().await.expect("json") }
    };
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let names = |v: &Value| -> Vec<String> {
        v["result"]["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert!(!names(&rpc("/mcp", list.clone()).await).contains(&"record_intent".to_owned()));
    let early = rpc(
        "/mcp",
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "record_intent", "arguments": {"intent": "qualified"}}}),
    )
    .await;
    assert_eq!(early["result"]["isError"], true, "{early}");

    let put = http
        .put(format!("{base}/v1/intents"))
        .bearer_auth("k1")
        .json(&json!({"qualified": "Lead.Status"}))
        .send()
        .await
        .expect("put");
    assert_eq!(put.status(), 200);

    let listed = rpc("/mcp", list.clone()).await;
    let tool = listed["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["name"] == "record_intent")
        .cloned()
        .unwrap_or_else(|| panic!("record_intent is listed: {listed}"));
    assert_eq!(
        tool["inputSchema"]["properties"]["intent"]["enum"],
        json!(["qualified"])
    );
    assert_eq!(tool["annotations"]["readOnlyHint"], false);
    let compact = rpc("/mcp?tools=compact", list).await;
    let action = compact["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["name"] == "action")
        .cloned()
        .expect("the action tool");
    assert!(
        action["inputSchema"]["properties"]["name"]["enum"]
            .as_array()
            .is_some_and(|e| e.contains(&json!("record_intent"))),
        "{action}"
    );

    // In a call: find the lead, then record that it is qualified.
    let call = |id: u64, name: &str, args: Value| {
        rpc(
            "/mcp",
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": args}}),
        )
    };
    let lead = call(3, "search_lead", json!({"search_term": "Oakmont"})).await;
    assert_ne!(lead["result"]["isError"], true, "{lead}");
    let recorded = call(
        4,
        "record_intent",
        json!({"intent": "qualified", "value": "working - contacted"}),
    )
    .await;
    assert_ne!(recorded["result"]["isError"], true, "{recorded}");
    let org = started.devorg.as_ref().expect("embedded org");
    let status: Value = http
        .get(format!(
            "{}/services/data/v59.0/query",
            org.org.instance_url()
        ))
        .bearer_auth(org.org.dev_access_token())
        .query(&[("q", "SELECT Status FROM Lead WHERE Company LIKE 'Oakmont%'")])
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("json");
    assert_eq!(
        status["records"][0]["Status"], "Working - Contacted",
        "the org's exact value: {status}"
    );
}

/// `/mcp` over a real socket: the key, the DNS-rebinding checks, and the line between tool
/// errors and protocol errors.
#[tokio::test]
async fn mcp_over_http_checks_key_host_and_origin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = callforce::serve::start(callforce::serve::ServeConfig {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        api_key: Some("k1".into()),
        data_dir: dir.path().to_owned(),
        mcp: McpConfig::with_extra(&["mcp.example.com".into()], &[]),
        ..callforce::serve::ServeConfig::new(
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            dir.path().to_owned(),
        )
    })
    .await
    .expect("starts");
    let url = format!("http://{}/mcp", started.addr);
    let http = reqwest::Client::new();
    let rpc = |body: Value| {
        http.post(&url)
            .header("accept", "application/json, text/event-stream")
            .json(&body)
    };
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});

    let ok = rpc(list.clone())
        .bearer_auth("k1")
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.expect("json");
    let tools = body["result"]["tools"].as_array().expect("tools");
    assert!(
        tools.iter().any(|t| t["name"] == "search_contact"),
        "{body}"
    );

    let no_key = rpc(list.clone()).send().await.expect("send");
    assert_eq!(no_key.status(), 401);
    let bad_key = rpc(list.clone())
        .bearer_auth("k2")
        .send()
        .await
        .expect("send");
    assert_eq!(bad_key.status(), 401);

    // DNS rebinding: a page on evil.example resolving to 127.0.0.1 is refused.
    let evil_host = rpc(list.clone())
        .bearer_auth("k1")
        .header("host", "evil.example")
        .send()
        .await
        .expect("send");
    assert_eq!(evil_host.status(), 403);
    let configured = rpc(list.clone())
        .bearer_auth("k1")
        .header("host", "mcp.example.com")
        .send()
        .await
        .expect("send");
    assert_eq!(configured.status(), 200);
    let evil_origin = rpc(list.clone())
        .bearer_auth("k1")
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("send");
    assert_eq!(evil_origin.status(), 403);
    let local_origin = rpc(list.clone())
        .bearer_auth("k1")
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .expect("send");
    assert_eq!(local_origin.status(), 200);

    // An unknown tool is a protocol error; a tool that ran and failed is a result.
    let unknown: Value = rpc(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "serch_contact", "arguments": {}}}))
        .bearer_auth("k1")
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    assert!(
        unknown["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("search_contact")),
        "{unknown}"
    );
    let failed: Value = rpc(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "get_contact", "arguments": {"record_id": "not-an-id"}}}))
        .bearer_auth("k1")
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(failed["result"]["isError"], true, "{failed}");
    assert_eq!(
        failed["result"]["structuredContent"]["error"]["field"], "record_id",
        "{failed}"
    );

    // Calls are per workspace and chain by call id across requests.
    let call = |id: u64, name: &str, args: Value| {
        rpc(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": args}}))
            .bearer_auth("k1")
            .header("x-call-id", "rust-1")
            .header("x-caller-phone", "+15551234567")
    };
    let found: Value = call(
        4,
        "search_contact",
        json!({"search_term": "{{caller_phone}}"}),
    )
    .send()
    .await
    .expect("send")
    .json()
    .await
    .expect("json");
    let id = found["result"]["structuredContent"]["records"][0]["Id"].clone();
    assert!(id.is_string(), "{found}");
    let got: Value = call(
        5,
        "get_contact",
        json!({"record_id": "{{search_contact.Id}}"}),
    )
    .send()
    .await
    .expect("send")
    .json()
    .await
    .expect("json");
    assert_eq!(got["result"]["structuredContent"]["Id"], id, "{got}");
}
