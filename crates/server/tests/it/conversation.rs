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
