//! `callforce serve` on PostgreSQL, and several instances sharing one database: a write through
//! the API lands and a restart keeps the connection; two instances refreshing one connection
//! whose org rotates refresh tokens make one refresh per expiry between them, and neither ends
//! `needs_reauth`. Each test runs in a fresh schema of `DATABASE_URL`, dropped when it ends
//! (skipped, saying so, without it).

use std::net::SocketAddr;
use std::time::Duration;

use callforce_testkit::PgSchema;
use reqwest::StatusCode;
use serde_json::{Value, json};

use callforce::serve::{ServeConfig, Started, start};

async fn spawn_org(config: callforce_devorg::Config) -> callforce_devorg::Running {
    let org = callforce_devorg::DevOrg::new(config).expect("org");
    callforce_devorg::spawn(org, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("org starts")
}

/// An instance's configuration: its own data directory, the shared database and master key,
/// login hosts sent to `org`.
fn config(
    dir: &std::path::Path,
    url: &str,
    master_key: &str,
    org: &callforce_devorg::Running,
) -> ServeConfig {
    let mut c = ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.to_owned());
    c.database_url = Some(url.to_owned());
    c.master_key = Some(secrecy::SecretString::from(master_key.to_owned()));
    c.login_host_override = Some(org.org.instance_url().to_owned());
    c
}

async fn send(
    started: &Started,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut b = reqwest::Client::new()
        .request(method, format!("http://{}{path}", started.addr))
        .bearer_auth(key);
    if let Some(body) = body {
        b = b.json(&body);
    }
    let r = b.send().await.expect("request");
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn post(started: &Started, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
    send(started, key, reqwest::Method::POST, path, Some(body)).await
}

/// How many records `soql` finds in `org`, asked with the org's own credentials.
async fn org_count(org: &callforce_devorg::Running, soql: &str) -> u64 {
    let c = org.org.config();
    let app = callforce_client::OAuthApp {
        client_id: c.client_id.clone(),
        client_secret: Some(callforce_client::SecretString::from(
            c.client_secret.clone(),
        )),
        redirect_uri: None,
    };
    let conn = callforce_client::Connection::login(
        callforce_client::ConnectionConfig::new(
            callforce_client::LoginHost::Url(org.org.instance_url().to_owned()),
            app,
        ),
        callforce_client::Grant::ClientCredentials,
    )
    .await
    .expect("login");
    conn.query::<callforce_client::Record>(soql)
        .await
        .expect("query")
        .total_size
}

/// Waits (bounded) until `soql` finds `want` records in `org`; returns the last count.
async fn wait_for(org: &callforce_devorg::Running, soql: &str, want: u64) -> u64 {
    let mut found = 0;
    for _ in 0..400 {
        found = org_count(org, soql).await;
        if found >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    found
}

async fn refreshes(org: &callforce_devorg::Running) -> u64 {
    let stats: Value = reqwest::get(format!("{}/devorg/stats", org.org.instance_url()))
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    stats["refreshes"].as_u64().expect("refreshes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_postgres_lands_a_write_and_a_restart_keeps_the_connection() {
    let test = "serve on PostgreSQL";
    let Some(schema) = PgSchema::for_test(test).await.expect("schema") else {
        return;
    };
    let url = schema.url();
    // An org outside the service, standing in for a real one (it outlives the restart).
    let org = spawn_org(callforce_devorg::Config::default()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let master = callforce_app::vault::MasterKey::generate()
        .to_base64()
        .to_string();
    let first = start(config(dir.path(), &url, &master, &org))
        .await
        .expect("serve starts on PostgreSQL");
    assert_eq!(
        first.registry.store().backend(),
        callforce_store::Backend::Postgres
    );
    assert!(
        !dir.path().join("callforce.db").exists(),
        "no SQLite database is made beside PostgreSQL"
    );
    let key = first.api_key.clone().expect("a key at the first start");
    let (status, conn) = post(
        &first,
        &key,
        "/v1/connections",
        json!({"kind": "client_credentials", "environment": "production"}),
    )
    .await;
    assert!(status.is_success(), "{status}: {conn}");
    let id = conn["id"].as_str().expect("connection id").to_owned();

    let (status, call) = post(
        &first,
        &key,
        "/v1/calls",
        json!({"call_id": "call-pg-1", "connection": id, "caller_phone": "+15551234567"}),
    )
    .await;
    assert_eq!(status, 201, "{call}");
    assert_eq!(call["connection"], id.as_str(), "{call}");
    // A blocking write answers with the record; a non-blocking one is queued in PostgreSQL and
    // drained by the service's workers.
    let (status, case) = post(
        &first,
        &key,
        "/v1/calls/call-pg-1/actions/create_case",
        json!({"arguments": {"Subject": "pg-serve case", "Priority": "High"}}),
    )
    .await;
    assert_eq!(status, 200, "{case}");
    let (status, logged) = post(
        &first,
        &key,
        "/v1/calls/call-pg-1/actions/log_call",
        json!({"arguments": {"Subject": "pg-serve call 1"}}),
    )
    .await;
    assert_eq!(status, 200, "{logged}");
    assert_eq!(logged["result"]["queued"], true, "{logged}");
    assert_eq!(
        org_count(&org, "SELECT Id FROM Case WHERE Subject = 'pg-serve case'").await,
        1
    );
    assert_eq!(
        wait_for(
            &org,
            "SELECT Id FROM Task WHERE Subject = 'pg-serve call 1'",
            1
        )
        .await,
        1,
        "the queued write landed"
    );
    let pool = first.registry.store().pg_pool().expect("postgres").clone();
    // The worker records the outcome just after the org's answer: look until it has (bounded).
    let mut done: i64 = 0;
    for _ in 0..400 {
        (done,) = sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE status = 'done'")
            .fetch_one(&pool)
            .await
            .expect("jobs");
        if done >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(done, 1, "the job is recorded done in PostgreSQL");
    first.task.abort();
    drop(first);

    // A restart on the same database: no new key, the same connection, still connected.
    let again = start(config(dir.path(), &url, &master, &org))
        .await
        .expect("restarts");
    assert!(again.api_key.is_none(), "no new key at a later start");
    let (status, shown) = send(
        &again,
        &key,
        reqwest::Method::GET,
        &format!("/v1/connections/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["status"], "connected", "{shown}");
    let (status, call) = post(
        &again,
        &key,
        "/v1/calls",
        json!({"call_id": "call-pg-2", "connection": id, "caller_phone": "+15551234567"}),
    )
    .await;
    assert_eq!(status, 201, "{call}");
    let (status, found) = post(
        &again,
        &key,
        "/v1/calls/call-pg-2/actions/search_contact",
        json!({"arguments": {"search_term": "{{caller_phone}}"}}),
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(
        found["result"]["records"][0]["LastName"], "Johnson",
        "{found}"
    );
    let (status, logged) = post(
        &again,
        &key,
        "/v1/calls/call-pg-2/actions/log_call",
        json!({"arguments": {"Subject": "pg-serve call 2"}}),
    )
    .await;
    assert_eq!(status, 200, "{logged}");
    assert_eq!(
        wait_for(
            &org,
            "SELECT Id FROM Task WHERE Subject = 'pg-serve call 2'",
            1
        )
        .await,
        1,
        "a write after the restart landed"
    );
    assert_eq!(
        org_count(
            &org,
            "SELECT Id FROM Task WHERE Subject LIKE 'pg-serve call%'"
        )
        .await,
        2,
        "nothing doubled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_refresh_a_rotating_connection_once_per_expiry_on_postgres() {
    let test = "refresh across instances";
    let Some(schema) = PgSchema::for_test(test).await.expect("schema") else {
        return;
    };
    let url = schema.url();
    let org = spawn_org(callforce_devorg::Config {
        rotate_refresh_tokens: true,
        ..callforce_devorg::Config::default()
    })
    .await;
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let master = callforce_app::vault::MasterKey::generate()
        .to_base64()
        .to_string();
    let a = start(config(dir_a.path(), &url, &master, &org))
        .await
        .expect("instance A starts");
    let key = a.api_key.clone().expect("first key");
    // A web-server connection (it has a refresh token), connected through instance A.
    let (status, link) = post(&a, &key, "/v1/connections/link", json!({})).await;
    assert_eq!(status, 201, "{link}");
    let (status, page) =
        crate::connect::connect_in_browser(link["url"].as_str().expect("url")).await;
    assert_eq!(status, 200, "{page}");
    let id = crate::connect::connection_id(&page);
    // Instance B: a second service on the same database finds it there.
    let b = start(config(dir_b.path(), &url, &master, &org))
        .await
        .expect("instance B starts");
    let ws = a.workspace;
    assert!(b.registry.get_any(ws, &id).is_some(), "B loaded {id}");

    let expire = format!("{}/devorg/sessions/expire", org.org.instance_url());
    let path = format!("/v1/connections/{id}/test");
    for round in 0..10 {
        reqwest::Client::new()
            .post(&expire)
            .send()
            .await
            .expect("expire");
        let before = refreshes(&org).await;
        // Both instances at once, each with several requests meeting the expired session.
        let (r1, r2, r3, r4, r5, r6) = tokio::join!(
            post(&a, &key, &path, json!({})),
            post(&b, &key, &path, json!({})),
            post(&a, &key, &path, json!({})),
            post(&b, &key, &path, json!({})),
            post(&a, &key, &path, json!({})),
            post(&b, &key, &path, json!({})),
        );
        let results = [r1, r2, r3, r4, r5, r6];
        for (i, (status, body)) in results.iter().enumerate() {
            assert_eq!(*status, 200, "round {round}, request {i}: {body}");
        }
        assert_eq!(
            refreshes(&org).await - before,
            1,
            "round {round}: one refresh at the org for both instances"
        );
    }
    for s in [&a, &b] {
        let (status, shown) = send(
            s,
            &key,
            reqwest::Method::GET,
            &format!("/v1/connections/{id}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{shown}");
        assert_eq!(shown["status"], "connected", "{shown}");
    }
    let stored = a
        .registry
        .store()
        .connection(ws, &id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.status, callforce_store::ConnectionStatus::Connected);
    // The stored refresh token is the org's current one: it still refreshes.
    let secrets = callforce_app::vault::Secrets::open(a.registry.vault(), &stored).expect("opens");
    let r = reqwest::Client::new()
        .post(format!("{}/services/oauth2/token", org.org.instance_url()))
        .form(&[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                secrets.refresh_token.as_deref().expect("refresh token"),
            ),
            ("client_id", "callforce-devorg-client"),
            ("client_secret", "callforce-devorg-secret"),
        ])
        .send()
        .await
        .expect("token");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}
