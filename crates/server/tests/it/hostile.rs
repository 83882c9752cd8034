//! Hostile inputs over HTTP against the whole service: never a 500, never a changed query.

use std::net::SocketAddr;

use serde_json::{Value, json};

#[tokio::test]
async fn hostile_inputs_get_clear_4xx_and_never_change_a_query() {
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
    let raw = |path: String, body: Vec<u8>| {
        http.post(format!("{base}{path}"))
            .bearer_auth("k")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let call: Value = raw(
        "/v1/calls".into(),
        br#"{"caller_phone": "+15551234567"}"#.to_vec(),
    )
    .await
    .expect("call")
    .json()
    .await
    .expect("json");
    let id = call["call_id"].as_str().expect("id").to_owned();
    let action = |name: &str| format!("/v1/calls/{id}/actions/{name}");

    // Search terms that would widen or break a query if they reached it unescaped find
    // nothing: the term is matched literally.
    for term in [
        "' OR Name != '",
        "%",
        "_",
        "\\' OR Id != null OR Name = \\'",
        "Johnson' OR LastName LIKE '%",
        "line\nbreak",
        "Jöhnsön 名前 😀",
        "\\",
    ] {
        let body = json!({"arguments": {"search_term": term}})
            .to_string()
            .into_bytes();
        let resp = raw(action("search_contact"), body).await.expect("search");
        let status = resp.status().as_u16();
        let b: Value = resp.json().await.expect("json");
        assert!(status == 200 || status == 422, "{term:?}: {status} {b}");
        if status == 200 {
            assert_eq!(
                b["result"]["count"].as_u64().unwrap_or(0),
                0,
                "{term:?}: {b}"
            );
        }
    }

    let cases: Vec<(String, Vec<u8>, u16)> = vec![
        (action("search_contact"), b"{not json".to_vec(), 400),
        (
            action("search_contact"),
            br#"{"arguments": "a string"}"#.to_vec(),
            422,
        ),
        (
            action("search_contact"),
            br#"{"arguments": {"search_term": {"a": 1}}}"#.to_vec(),
            422,
        ),
        (
            action("search_contact"),
            br#"{"arguments": {"no_such_field": "x"}}"#.to_vec(),
            422,
        ),
        (
            action("search_contact"),
            br#"{"argumnets": {}}"#.to_vec(),
            400,
        ),
        (
            action("create_case"),
            br#"{"arguments": {"Subject": ["a"]}}"#.to_vec(),
            422,
        ),
        (action("no_such_action"), b"{}".to_vec(), 404),
        (
            "/v1/calls/nope/actions/search_contact".into(),
            b"{}".to_vec(),
            404,
        ),
        ("/v1/calls".into(), b"[1,2]".to_vec(), 400),
        (
            action("search_contact"),
            format!(
                r#"{{"arguments": {{"search_term": "{}"}}}}"#,
                "x".repeat(3 << 20)
            )
            .into_bytes(),
            413,
        ),
    ];
    for (path, body, want) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        let resp = raw(path.clone(), body).await.expect("request");
        let status = resp.status().as_u16();
        let b: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, want, "{path} {shown}: {b}");
        assert!(
            b["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{path} {shown}: a message says what to fix: {b}"
        );
    }
}

/// An unknown route and a wrong method answer the API's JSON error, naming the methods a route
/// takes, instead of an empty body.
#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_json() {
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

    let resp = http
        .get(format!("{base}/v1/no-such-thing"))
        .bearer_auth("k")
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unknown_route", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("GET /v1/no-such-thing")),
        "{body}"
    );

    let resp = http
        .delete(format!("{base}/v1/tools"))
        .bearer_auth("k")
        .send()
        .await
        .expect("delete");
    assert_eq!(resp.status(), 405);
    let allow = resp
        .headers()
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(allow.contains("GET"), "{allow}");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("DELETE") && m.contains("GET")),
        "{body}"
    );

    // A handler's own 404 keeps its answer.
    let resp = http
        .post(format!(
            "{base}/v1/calls/no-such-call/actions/search_contact"
        ))
        .bearer_auth("k")
        .json(&json!({"arguments": {}}))
        .send()
        .await
        .expect("post");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unknown_call", "{body}");
}
