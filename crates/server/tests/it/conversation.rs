//! Built for conversation: no tool call of seed 003's example call waits on the org for
//! anything but what it must send (no describe, nothing for a write nothing later needs).

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};

use callforce::serve::{ServeConfig, start};

#[tokio::test]
async fn no_tool_call_waits_on_a_describe() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = start(ServeConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        dir.path().to_owned(),
    ))
    .await
    .expect("starts");
    let key = started.api_key.clone().expect("first key");
    let base = format!("http://{}", started.addr);
    let devorg = &started.devorg.as_ref().expect("embedded").org;
    let live = started
        .registry
        .get(started.workspace, None)
        .expect("the dev org connection");
    // The describes of every object the templates write are fetched when the connection
    // comes up (in the background at start) and kept in the store.
    let mut stored = Vec::new();
    for _ in 0..200 {
        stored = started
            .registry
            .store()
            .describes(started.workspace, &live.id())
            .await
            .expect("describes")
            .into_iter()
            .map(|d| d.object)
            .collect::<Vec<_>>();
        if ["case", "task", "event", "contact", "lead", "opportunity"]
            .iter()
            .all(|o| stored.iter().any(|s| s == o))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(stored.iter().any(|s| s == "case"), "{stored:?}");

    // From now on the org refuses every describe: a tool call that asked for one would fail.
    let http = reqwest::Client::new();
    let r = http
        .put(format!("{}/devorg/faults", devorg.instance_url()))
        .json(
            &json!({"rules": [{"kind": "unavailable", "probability": 1.0,
            "path": "/services/data/*/sobjects/*/describe*"}]}),
        )
        .send()
        .await
        .expect("faults");
    assert!(r.status().is_success());
    let post = |path: String, body: Value| {
        let r = http
            .post(format!("{base}{path}"))
            .bearer_auth(&key)
            .json(&body)
            .send();
        async move {
            let r = r.await.expect("send");
            (r.status().as_u16(), r.json::<Value>().await.expect("json"))
        }
    };
    let (s, call) = post(
        "/v1/calls".into(),
        json!({"caller_phone": "+15552345678", "call_id": "warm"}),
    )
    .await;
    assert_eq!(s, 201, "{call}");
    let (s, case) = post(
        "/v1/calls/warm/actions/create_case".into(),
        json!({"arguments": {"Subject": "Invoice discrepancy", "Priority": "high",
            "ContactId": "{{caller.Id}}"}}),
    )
    .await;
    assert_eq!(s, 200, "{case}");
    assert!(
        case["result"]["id"]
            .as_str()
            .is_some_and(|i| i.starts_with("500")),
        "{case}"
    );
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).date_naive();
    let (s, logged) = post(
        "/v1/calls/warm/actions/log_call".into(),
        json!({"arguments": {"Subject": "Inbound call", "WhoId": "{{caller.Id}}",
            "WhatId": "{{create_case.Id}}"}}),
    )
    .await;
    assert_eq!(
        (s, &logged["result"]["queued"]),
        (200, &json!(true)),
        "{logged}"
    );
    // The callback is checked (its times, its fields) and then queued, like log_call.
    let (s, event) = post(
        "/v1/calls/warm/actions/schedule_event".into(),
        json!({"arguments": {"Subject": "Callback", "WhoId": "{{caller.Id}}",
            "StartDateTime": format!("{tomorrow}T10:00:00Z"),
            "EndDateTime": format!("{tomorrow}T10:30:00Z")}}),
    )
    .await;
    assert_eq!(
        (s, &event["result"]["queued"]),
        (200, &json!(true)),
        "{event}"
    );
    let (s, bad) = post(
        "/v1/calls/warm/actions/schedule_event".into(),
        json!({"arguments": {"Subject": "Callback", "WhoId": "{{caller.Id}}",
            "StartDateTime": format!("{tomorrow}T10:00:00Z"),
            "EndDateTime": format!("{tomorrow}T09:30:00Z")}}),
    )
    .await;
    assert_eq!(
        s, 422,
        "a callback ending before it starts is refused, not queued: {bad}"
    );
    let (s, bad) = post(
        "/v1/calls/warm/actions/schedule_event".into(),
        json!({"arguments": {"Subject": "Callback", "ShowAs": "Elsewhere",
            "StartDateTime": format!("{tomorrow}T10:00:00Z"),
            "EndDateTime": format!("{tomorrow}T10:30:00Z")}}),
    )
    .await;
    assert_eq!(s, 422, "{bad}");
}

/// Seed 003's example call as a voice runtime makes it, over REST and then over MCP: the caller
/// is known when the call starts, so the agent's first tool call is the case; what the agent
/// reads out (`say`) is a natural call; the case, the logged call and the callback land linked
/// to the caller, the callback at the caller's local time.
#[tokio::test]
async fn seed_003_s_call_starts_with_the_case_and_reads_as_a_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = start(ServeConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        dir.path().to_owned(),
    ))
    .await
    .expect("starts");
    let key = started.api_key.clone().expect("first key");
    let base = format!("http://{}", started.addr);
    let org = crate::queue::org_conn(&started.devorg.as_ref().expect("embedded").org).await;
    let http = reqwest::Client::new();
    let post = |path: String, body: Value| {
        let r = http
            .post(format!("{base}{path}"))
            .bearer_auth(&key)
            .header("accept", "application/json, text/event-stream")
            .json(&body)
            .send();
        async move {
            let r = r.await.expect("send");
            (r.status().as_u16(), r.json::<Value>().await.expect("json"))
        }
    };
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).date_naive();
    let steps = |tag: &str| {
        [
            (
                "create_case",
                json!({"Subject": format!("Invoice amount discrepancy {tag}"), "ContactId": "{{caller.Id}}",
                    "Priority": "High", "Origin": "Phone"}),
            ),
            (
                "log_call",
                json!({"Subject": format!("Inbound call - invoice discrepancy {tag}"), "WhoId": "{{caller.Id}}",
                    "WhatId": "{{create_case.Id}}", "CallType": "Inbound", "CallDisposition": "Connected"}),
            ),
            (
                "schedule_event",
                json!({"Subject": format!("Callback - invoice discrepancy follow-up {tag}"),
                    "StartDateTime": format!("{tomorrow}T10:00:00"), "EndDateTime": format!("{tomorrow}T10:30:00"),
                    "WhoId": "{{caller.Id}}", "WhatId": "{{create_case.Id}}"}),
            ),
        ]
    };

    // REST: the call starts knowing Sarah, in her time zone.
    let (s, call) = post(
        "/v1/calls".into(),
        json!({"call_id": "seed-003", "caller_phone": "+1 (555) 234-5678", "time_zone": "America/New_York"}),
    )
    .await;
    assert_eq!(s, 201, "{call}");
    assert_eq!(call["caller_context"]["status"], "found", "{call}");
    let sarah = call["caller_context"]["context"]["caller"]["Id"]
        .as_str()
        .expect("Sarah's id")
        .to_owned();
    let mut said = Vec::new();
    for (action, arguments) in steps("rest") {
        let (s, answer) = post(
            format!("/v1/calls/seed-003/actions/{action}"),
            json!({ "arguments": arguments }),
        )
        .await;
        assert_eq!(s, 200, "{action}: {answer}");
        said.push(answer["result"]["say"].as_str().expect("say").to_owned());
    }
    let case: Value = org
        .query::<callforce_client::Record>(
            "SELECT Id, CaseNumber, ContactId FROM Case WHERE Subject = 'Invoice amount discrepancy rest'",
        )
        .await
        .expect("query")
        .records
        .into_iter()
        .map(Value::Object)
        .next()
        .expect("the case");
    assert_eq!(case["ContactId"], sarah.as_str());
    let number = case["CaseNumber"].as_str().expect("number");
    let day = tomorrow.format("%A, %B %-d").to_string();
    assert_eq!(
        said,
        [
            format!("I've created your case; the case number is {number}."),
            "I've logged this call; it will be in Salesforce in a moment.".to_owned(),
            format!("I've booked it for {day} at 10 AM; it will be in Salesforce in a moment."),
        ]
    );
    // The queued writes land, linked to Sarah and her case; 10 AM in New York is 15:00 UTC.
    let case_id = case["Id"].as_str().expect("id").to_owned();
    let mut landed = (0, Value::Null);
    for _ in 0..200 {
        let tasks = org
            .query::<callforce_client::Record>(&format!(
                "SELECT Id FROM Task WHERE WhoId = '{sarah}' AND WhatId = '{case_id}'"
            ))
            .await
            .expect("tasks")
            .total_size;
        let events = org
            .query::<callforce_client::Record>(&format!(
                "SELECT StartDateTime FROM Event WHERE WhoId = '{sarah}' AND WhatId = '{case_id}'"
            ))
            .await
            .expect("events");
        if tasks == 1 && events.total_size == 1 {
            landed = (1, Value::Object(events.records[0].clone()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(landed.0, 1, "the task and the event landed, linked");
    assert!(
        landed.1["StartDateTime"]
            .as_str()
            .is_some_and(|t| t.starts_with(&format!("{tomorrow}T15:00:00"))),
        "{}",
        landed.1
    );

    // MCP: the first tool call, the case, starts the call and carries who the caller is.
    let mut said = Vec::new();
    for (i, (action, mut arguments)) in steps("mcp").into_iter().enumerate() {
        arguments["call_id"] = json!("seed-003-mcp");
        arguments["caller_phone"] = json!("+15552345678");
        let (s, answer) = post(
            "/mcp".into(),
            json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                "params": {"name": action, "arguments": arguments}}),
        )
        .await;
        assert_eq!(s, 200, "{answer}");
        let result = &answer["result"]["structuredContent"];
        assert_eq!(answer["result"]["isError"], false, "{action}: {answer}");
        if i == 0 {
            assert_eq!(
                result["caller_context"]["context"]["caller"]["Id"],
                sarah.as_str(),
                "{answer}"
            );
        }
        said.push(result["say"].as_str().expect("say").to_owned());
    }
    assert!(
        said[0].starts_with("I've created your case; the case number is "),
        "{said:?}"
    );
    assert_eq!(
        said[1],
        "I've logged this call; it will be in Salesforce in a moment."
    );
}
