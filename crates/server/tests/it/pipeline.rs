//! The service's own workers drain what `serve` queued.

use std::net::SocketAddr;
use std::time::Duration;

use callforce_client::Connection;
use serde_json::{Value, json};

use callforce::serve::{ServeConfig, start as serve};

/// A non-blocking write through the agent API is acknowledged with a reference and then
/// lands in the org, drained by the service's own workers.
#[tokio::test]
async fn serve_queues_log_call_and_its_workers_land_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().to_owned());
    config.api_key = Some("test-key".into());
    let started = serve(config).await.expect("starts");
    let base = format!("http://{}", started.addr);
    let http = reqwest::Client::new();
    let call: Value = http
        .post(format!("{base}/v1/calls"))
        .bearer_auth("test-key")
        .json(&json!({"call_id": "call-serve-1", "agent": "aria"}))
        .send()
        .await
        .expect("call")
        .json()
        .await
        .expect("json");
    assert_eq!(call["call_id"], "call-serve-1");
    let logged: Value = http
        .post(format!("{base}/v1/calls/call-serve-1/actions/log_call"))
        .bearer_auth("test-key")
        .json(&json!({"arguments": {"Subject": "queued through serve"}}))
        .send()
        .await
        .expect("log_call")
        .json()
        .await
        .expect("json");
    assert_eq!(logged["result"]["queued"], true, "{logged}");
    let org = started.devorg.as_ref().expect("embedded org");
    let conn = {
        let c = org.org.config();
        let app = callforce_client::OAuthApp {
            client_id: c.client_id.clone(),
            client_secret: Some(callforce_client::SecretString::from(
                c.client_secret.clone(),
            )),
            redirect_uri: None,
        };
        Connection::login(
            callforce_client::ConnectionConfig::new(
                callforce_client::LoginHost::Url(org.org.instance_url().to_owned()),
                app,
            ),
            callforce_client::Grant::ClientCredentials,
        )
        .await
        .expect("login")
    };
    // The workers run on their own schedule: look until the task is there (bounded).
    let mut found = 0;
    for _ in 0..200 {
        let r = conn
            .query::<callforce_client::Record>(
                "SELECT Id FROM Task WHERE Subject = 'queued through serve'",
            )
            .await
            .expect("query");
        found = r.total_size;
        if found > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(found, 1);
}
