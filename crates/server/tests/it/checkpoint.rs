//! `serve` with audit checkpoints on.

use std::time::Duration;

use callforce_app::checkpoint::{check_line, key_id, parse_key};
use serde_json::Value;

/// `serve` with checkpoints on: the key is printed and served, the first line comes at
/// start, and `audit verify --checkpoint` holds against it.
#[tokio::test]
async fn serve_appends_checkpoints_that_audit_verify_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("elsewhere").join("checkpoints.jsonl");
    std::fs::create_dir_all(file.parent().expect("parent")).expect("dir");
    let mut config = callforce::serve::ServeConfig::new(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        dir.path().join("data"),
    );
    config.checkpoints.file = Some(file.clone());
    let started = callforce::serve::start(config).await.expect("starts");
    let printed = started.checkpoint_key.clone().expect("printed at start");
    let served: Value = reqwest::get(format!("http://{}/v1/audit/checkpoint-key", started.addr))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(served["public_key"], printed.as_str(), "{served}");
    assert_eq!(served["algorithm"], "ed25519");
    let key = parse_key(&printed).expect("key");
    assert_eq!(served["key_id"], key_id(&key).as_str());

    // The first tick runs at start; wait for its line (bounded, not a timing assertion).
    let mut text = String::new();
    for _ in 0..200 {
        text = std::fs::read_to_string(&file).unwrap_or_default();
        if !text.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let line = text.lines().next().expect("a checkpoint line");
    let (line, _) = check_line(line, &key).expect("signed by the served key");
    assert_eq!(line.workspace, started.workspace.0);
    started.task.abort();

    let store = started.registry.store().clone();
    let outcome = callforce::admin::verify(&store, None, Some(&file), Some(&key))
        .await
        .expect("verify");
    assert_eq!(outcome, callforce::admin::Outcome::Verified);
    // The same store without the checkpoint key: said, not passed.
    let outcome = callforce::admin::verify(&store, None, Some(&file), None)
        .await
        .expect("verify");
    assert_eq!(outcome, callforce::admin::Outcome::Incomplete);
}
