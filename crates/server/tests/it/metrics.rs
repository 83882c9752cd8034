//! `GET /metrics` counts what the agent API did.

use std::net::SocketAddr;

use serde_json::{Value, json};

#[tokio::test]
async fn metrics_count_actions_requests_and_open_calls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = callforce::serve::start(callforce::serve::ServeConfig {
        api_key: Some("k".into()),
        ..callforce::serve::ServeConfig::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            dir.path().to_owned(),
        )
    })
    .await
    .expect("starts");
    let base = format!("http://{}", started.addr);
    let http = reqwest::Client::new();
    let call: Value = http
        .post(format!("{base}/v1/calls"))
        .bearer_auth("k")
        .json(&json!({"caller_phone": "+15551234567"}))
        .send()
        .await
        .expect("call")
        .json()
        .await
        .expect("json");
    let id = call["call_id"].as_str().expect("id");
    for (name, args) in [
        ("search_contact", json!({"search_term": "Johnson"})),
        ("search_contact", json!({})),
        ("delete_case", json!({"record_id": "500000000000001AAA"})),
        ("get_case", json!({"record_id": "500000000000001AAA"})),
    ] {
        http.post(format!("{base}/v1/calls/{id}/actions/{name}"))
            .bearer_auth("k")
            .json(&json!({ "arguments": args }))
            .send()
            .await
            .expect("action");
    }
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for line in [
        r#"callforce_action_duration_seconds_count{action="search_contact",outcome="ok"} 2"#,
        r#"callforce_action_duration_seconds_count{action="delete_case",outcome="confirm"} 1"#,
        r#"callforce_action_duration_seconds_count{action="get_case",outcome="not_found"} 1"#,
        r#"callforce_http_requests_total{status="201"} 1"#,
        "callforce_open_calls 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line} in:\n{text}"
        );
    }
    let used = text
        .lines()
        .find_map(|l| l.strip_prefix("callforce_salesforce_api_requests_used "))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("api usage");
    assert!(used > 0, "{text}");
    let trips = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("callforce_salesforce_round_trips_total "))
            .and_then(|v| v.parse::<u64>().ok())
            .expect("round trips")
    };
    let first = trips(&text);
    assert!(
        first >= 3,
        "the searches and the get went to the org: {text}"
    );
    http.post(format!("{base}/v1/calls/{id}/actions/search_contact"))
        .bearer_auth("k")
        .json(&json!({ "arguments": {"search_term": "Acme"} }))
        .send()
        .await
        .expect("action");
    let again = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        trips(&again) > first,
        "one more action, more round trips: {again}"
    );
}
