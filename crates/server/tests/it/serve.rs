//! `callforce serve` as a whole: start-up, the first key, permissions, health, calls.

use std::net::SocketAddr;

use serde_json::json;

use callforce::serve::*;

#[tokio::test]
async fn serve_connects_to_the_embedded_dev_org_and_reports_health() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = start(ServeConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        dir.path().to_owned(),
    ))
    .await
    .expect("starts");
    let body: serde_json::Value = reqwest::get(format!("http://{}/healthz", started.addr))
        .await
        .expect("healthz")
        .json()
        .await
        .expect("json");
    assert_eq!(body["status"], "ok", "{body}");
    let org = started.devorg.as_ref().expect("embedded org");
    assert_eq!(body["org"]["instance_url"], org.org.instance_url());
    assert!(
        body["org"]["api_usage"]["max"]
            .as_u64()
            .is_some_and(|m| m > 0),
        "{body}"
    );

    // The org failing is reported, not hidden.
    let faults = format!("{}/devorg/faults", org.org.instance_url());
    let put = reqwest::Client::new()
        .put(&faults)
        .body(r#"{"rules": [{"kind": "unavailable", "probability": 1.0, "path": "/services/data*"}]}"#)
        .send()
        .await
        .expect("set faults");
    assert!(put.status().is_success());
    let resp = reqwest::get(format!("http://{}/healthz", started.addr))
        .await
        .expect("healthz");
    assert_eq!(resp.status(), 503);
}

/// A first start that cannot take its port leaves no key behind unshown: the next start
/// makes and shows the first key.
#[tokio::test]
async fn a_first_start_that_cannot_listen_shows_the_first_key_at_the_next_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let config = ServeConfig::new(taken.local_addr().expect("addr"), dir.path().to_owned());
    let err = start(config.clone())
        .await
        .err()
        .expect("the port is taken");
    let said = format!("{err:#}");
    assert!(
        said.contains("is in use") && said.contains("--port"),
        "{said}"
    );
    drop(taken);

    let mut config = config;
    config.addr = SocketAddr::from(([127, 0, 0, 1], 0));
    let started = start(config.clone()).await.expect("starts");
    let key = started.api_key.clone().expect("the first key, shown now");
    let resp = reqwest::Client::new()
        .get(format!("http://{}/v1/tools", started.addr))
        .bearer_auth(&key)
        .send()
        .await
        .expect("tools");
    assert_eq!(resp.status(), 200);
    started.task.abort();
    let again = start(config).await.expect("starts again");
    assert!(again.api_key.is_none(), "shown once");
}

/// The data directory is its owner's only and so are the database files, whatever the
/// umask; looser ones found at start are reported, and refused when asked.
#[cfg(unix)]
#[tokio::test]
async fn the_state_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("data");
    let config = ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.clone());
    let started = start(config.clone()).await.expect("starts");
    assert!(started.loose.is_empty(), "{:?}", started.loose);
    assert_eq!(mode(&dir), 0o700);
    for name in [
        "callforce.db",
        "callforce.db-wal",
        "callforce.db-shm",
        "master.key",
    ] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    started.task.abort();
    drop(started);

    let db = dir.join("callforce.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let started = start(config.clone())
        .await
        .expect("a loose file is a warning");
    assert_eq!(started.loose.len(), 1, "{:?}", started.loose);
    assert_eq!(started.loose[0].path, db);
    started.task.abort();
    drop(started);

    let mut strict = config;
    strict.strict_permissions = true;
    let err = start(strict).await.err().expect("refused");
    let text = format!("{err:#}");
    assert!(
        text.contains("chmod 600") && text.contains("callforce.db"),
        "{text}"
    );
}

/// The example conversation through the agent API.
#[tokio::test]
async fn the_example_conversation_through_the_agent_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().to_owned());
    let first = start(config.clone()).await.expect("starts");
    let key = first
        .api_key
        .clone()
        .expect("a key is created at the first start");
    first.task.abort();
    // A later start over the same data directory creates no key, and the first one still
    // works: only its hash was stored.
    let started = start(config).await.expect("starts again");
    assert!(started.api_key.is_none(), "no new key at a later start");
    for file in std::fs::read_dir(dir.path()).expect("data dir") {
        let bytes = std::fs::read(file.expect("entry").path()).expect("read");
        assert!(
            !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
            "the plaintext key is not stored"
        );
    }
    let base = format!("http://{}", started.addr);
    let http = reqwest::Client::new();
    let post = |path: String, body: serde_json::Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };

    // Without the key: 401 with a hint.
    let resp = http
        .get(format!("{base}/v1/tools"))
        .send()
        .await
        .expect("tools");
    assert_eq!(resp.status(), 401);
    let tools: serde_json::Value = http
        .get(format!("{base}/v1/tools"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("tools")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = tools["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"search_contact") && names.contains(&"log_call"),
        "{names:?}"
    );

    let call: serde_json::Value = post(
        "/v1/calls".into(),
        json!({"caller_phone": "+15551234567", "agent": "aria"}),
    )
    .await
    .expect("start")
    .json()
    .await
    .expect("json");
    let id = call["call_id"].as_str().expect("call id").to_owned();

    let found: serde_json::Value = post(
        format!("/v1/calls/{id}/actions/search_contact"),
        json!({"arguments": {"search_term": "{{caller_phone}}"}}),
    )
    .await
    .expect("search")
    .json()
    .await
    .expect("json");
    assert_eq!(
        found["result"]["records"][0]["LastName"], "Johnson",
        "{found}"
    );
    assert_eq!(
        found["result"]["records"][0]["Account"]["Name"],
        "Acme Corporation"
    );

    let case = post(
        format!("/v1/calls/{id}/actions/create_case"),
        json!({"arguments": {"Subject": "Invoice discrepancy", "ContactId": "{{search_contact.Id}}", "Priority": "High"}}),
    )
    .await
    .expect("case");
    assert_eq!(case.status(), 200);

    // A wrong picklist value comes back as something a model can fix.
    let bad = post(
        format!("/v1/calls/{id}/actions/create_case"),
        json!({"arguments": {"Subject": "x", "ContactId": "{{search_contact.Id}}", "Priority": "urgentish"}}),
    )
    .await
    .expect("bad case");
    assert_eq!(bad.status(), 422);
    let body: serde_json::Value = bad.json().await.expect("json");
    assert_eq!(body["error"]["field"], "Priority", "{body}");

    let unknown = post(format!("/v1/calls/{id}/actions/no_such_action"), json!({}))
        .await
        .expect("unknown");
    assert_eq!(unknown.status(), 404);
    let end = post(format!("/v1/calls/{id}/end"), json!({}))
        .await
        .expect("end");
    assert_eq!(end.status(), 200);
    let gone = post(format!("/v1/calls/{id}/actions/search_contact"), json!({}))
        .await
        .expect("gone");
    assert_eq!(gone.status(), 404);
}
