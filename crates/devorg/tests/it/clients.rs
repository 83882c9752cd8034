//! Third-party clients (simple-salesforce, jsforce) driving the dev org. Each test spawns its
//! own org and runs one client test file; see `tests/clients/README.md`.

use callforce_devorg::{Config, DevOrg, Seed};

use crate::harness::{Client, any_port, run_client, spawn, spawn_with};

#[tokio::test]
async fn jsforce_logs_in_reads_identity_limits_and_refreshes() {
    let r = spawn().await;
    run_client(Client::Node, &r, "oauth.test.mjs", None).await;
}

#[tokio::test]
async fn simple_salesforce_uses_a_token_reads_limits_and_sees_expiry() {
    let org = DevOrg::new(Config::default()).expect("org");
    let r = callforce_devorg::spawn_tls(org, any_port())
        .await
        .expect("tls");
    run_client(Client::Python, &r, "test_oauth.py", r.ca_cert.as_deref()).await;
}

/// An HTTPS dev org with the demo data, for simple-salesforce (which always uses `https://`).
async fn spawn_https() -> callforce_devorg::Running {
    let org = DevOrg::new(Config::default()).expect("org");
    callforce_devorg::spawn_tls(org, any_port())
        .await
        .expect("tls")
}

#[tokio::test]
async fn simple_salesforce_creates_reads_updates_deletes_upserts_and_describes() {
    let r = spawn_https().await;
    run_client(Client::Python, &r, "test_records.py", r.ca_cert.as_deref()).await;
}

#[tokio::test]
async fn simple_salesforce_queries_pages_searches_and_reads_deleted_rows() {
    let r = spawn_https().await;
    run_client(Client::Python, &r, "test_query.py", r.ca_cert.as_deref()).await;
}

#[tokio::test]
async fn jsforce_creates_retrieves_updates_destroys_upserts_and_describes() {
    let r = spawn().await;
    run_client(Client::Node, &r, "records.test.mjs", None).await;
}

#[tokio::test]
async fn jsforce_autofetches_pages_scans_all_and_searches() {
    let r = spawn().await;
    run_client(Client::Node, &r, "query.test.mjs", None).await;
}

#[tokio::test]
async fn simple_salesforce_drives_composite_collections_batch_and_tree() {
    let r = spawn_https().await;
    run_client(
        Client::Python,
        &r,
        "test_composite.py",
        r.ca_cert.as_deref(),
    )
    .await;
}

#[tokio::test]
async fn jsforce_array_calls_use_collections_with_all_or_none() {
    let r = spawn().await;
    run_client(Client::Node, &r, "collections.test.mjs", None).await;
}

#[tokio::test]
async fn jsforce_posts_composite_batch_and_tree() {
    let r = spawn().await;
    run_client(Client::Node, &r, "composite.test.mjs", None).await;
}

/// A config with no records and a schema whose `Contact.Legacy_Code__c` is an External ID that
/// is not unique, so an upsert can match several records.
fn duplicate_external_id_config(name: &str) -> Config {
    let dir = std::env::temp_dir().join(format!("callforce-clients-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("schema.json");
    std::fs::write(
        &file,
        r#"{"fields": {"Contact": [{"name": "Legacy_Code__c", "label": "Legacy Code",
            "type": "string", "length": 20, "externalId": true}]}}"#,
    )
    .expect("schema file");
    Config {
        schema_file: Some(file),
        seed: Seed::None,
        ..Config::default()
    }
}

#[tokio::test]
async fn simple_salesforce_sees_300_when_an_external_id_matches_two_records() {
    let org = DevOrg::new(duplicate_external_id_config("py")).expect("org");
    let r = callforce_devorg::spawn_tls(org, any_port())
        .await
        .expect("tls");
    run_client(
        Client::Python,
        &r,
        "test_upsert_conflicts.py",
        r.ca_cert.as_deref(),
    )
    .await;
}

#[tokio::test]
async fn jsforce_sees_multiple_choices_when_an_external_id_matches_two_records() {
    let r = spawn_with(duplicate_external_id_config("node")).await;
    run_client(Client::Node, &r, "upsert-conflicts.test.mjs", None).await;
}

#[tokio::test]
async fn jsforce_query_builder_shapes_run_against_the_demo_data() {
    let r = spawn().await;
    run_client(Client::Node, &r, "usage.test.mjs", None).await;
}
