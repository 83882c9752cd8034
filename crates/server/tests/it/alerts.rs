//! The alert sender against a real webhook, alone and inside `callforce serve`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use axum::extract::State;
use axum::http::StatusCode;
use callforce_store::alerts::KIND_NEEDS_REAUTH;
use callforce_store::{AlertStatus, NewAlert, NewJob, Store, WorkspaceId};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use parking_lot::Mutex;
use serde_json::{Value, json};

use callforce_app::alerts::{AlertSender, Round};

/// A Slack-like webhook: records what it is sent and answers with the status it is set to.
#[derive(Clone, Default)]
struct Hook {
    got: Arc<Mutex<Vec<Value>>>,
    status: Arc<AtomicU16>,
}

async fn receive(State(h): State<Hook>, body: axum::Json<Value>) -> StatusCode {
    h.got.lock().push(body.0);
    StatusCode::from_u16(h.status.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK)
}

/// Serves the webhook on `listener`; the task ends the server when aborted.
fn serve_hook(hook: &Hook, listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(hook.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0)
        .single()
        .expect("time")
}

async fn dead_letter(store: &Store, ws: WorkspaceId, key: &str, at: DateTime<Utc>) -> i64 {
    let job = NewJob {
        workspace: ws,
        connection_id: "conn-1".into(),
        idempotency_key: key.into(),
        ordering_key: format!("Task:{key}"),
        kind: "write".into(),
        payload: json!({"action": "log_call", "request": {}}).to_string(),
        call_id: Some("call-9".into()),
        agent: Some("aria".into()),
        run_at: at,
    };
    let id = store.enqueue(&job, at).await.expect("enqueue").id;
    store
        .lease("w", at, TimeDelta::seconds(30), 10)
        .await
        .expect("lease");
    store
        .dead(id, "w", at, "503 SERVER_UNAVAILABLE after 5 retries")
        .await
        .expect("dead")
        .0
}

#[tokio::test]
async fn an_alert_waits_out_a_webhook_that_is_down_and_is_delivered_once_it_is_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(&dir.path().join("callforce.db"))
        .await
        .expect("store");
    let ws = store.create_workspace("acme", t(0)).await.expect("ws").id;
    let dl = dead_letter(&store, ws, "call-9/log_call/0", t(0)).await;

    // The webhook's port, with nothing listening yet: the webhook is down.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr: SocketAddr = probe.local_addr().expect("addr");
    drop(probe);
    let sender = AlertSender::new(
        store.clone(),
        &format!("http://{addr}/hook"),
        "http://127.0.0.1:8080",
    )
    .expect("sender");
    assert_eq!(
        sender.send_due(t(1)).await.expect("round"),
        Round { sent: 0, failed: 1 }
    );
    let a = &store.list_alerts(ws, 10).await.expect("alerts")[0];
    assert_eq!(a.status, AlertStatus::Pending);
    assert_eq!(
        a.next_attempt_at,
        t(1) + callforce_app::alerts::retry_delay(1)
    );
    let error = a.last_error.clone().unwrap_or_default();
    assert!(
        !error.contains(&addr.to_string()),
        "the webhook URL is a secret: {error}"
    );
    // Not due again before its retry time.
    assert_eq!(
        sender.send_due(t(5)).await.expect("round"),
        Round::default()
    );

    // The webhook comes up but refuses (503): the alert waits again, longer.
    let hook = Hook::default();
    hook.status.store(503, Ordering::SeqCst);
    let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind");
    let server = serve_hook(&hook, listener);
    assert_eq!(
        sender.send_due(t(6)).await.expect("round"),
        Round { sent: 0, failed: 1 }
    );
    assert_eq!(hook.got.lock().len(), 1);
    let a = &store.list_alerts(ws, 10).await.expect("alerts")[0];
    assert_eq!(
        a.last_error.as_deref().map(|e| e.starts_with("HTTP 503")),
        Some(true)
    );
    assert_eq!(
        a.next_attempt_at,
        t(6) + callforce_app::alerts::retry_delay(2)
    );

    // Back to normal: delivered once, and never again.
    hook.status.store(200, Ordering::SeqCst);
    assert_eq!(
        sender.send_due(t(35)).await.expect("round"),
        Round::default()
    );
    assert_eq!(
        sender.send_due(t(36)).await.expect("round"),
        Round { sent: 1, failed: 0 }
    );
    assert_eq!(
        sender.send_due(t(10_000)).await.expect("round"),
        Round::default()
    );
    let got = hook.got.lock().clone();
    assert_eq!(got.len(), 2, "one refused post, one delivered");
    let text = got[1]["text"].as_str().expect("text");
    assert!(text.contains(&format!("dead letter {dl}")), "{text}");
    assert!(
        text.contains("503 SERVER_UNAVAILABLE after 5 retries"),
        "{text}"
    );
    assert!(text.contains(&format!(
        "callforce deadletter replay {dl} --workspace acme"
    )));
    assert!(got[1]["blocks"].as_array().is_some_and(|b| b.len() == 4));
    let a = &store.list_alerts(ws, 10).await.expect("alerts")[0];
    assert_eq!(a.status, AlertStatus::Sent);
    assert_eq!(a.attempts, 3);
    server.abort();
}

#[tokio::test]
async fn each_dead_letter_and_each_reauth_is_one_post() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(&dir.path().join("callforce.db"))
        .await
        .expect("store");
    let ws = store
        .create_workspace("default", t(0))
        .await
        .expect("ws")
        .id;
    for i in 0..23 {
        dead_letter(&store, ws, &format!("k{i}"), t(0)).await;
    }
    store
        .record_alert(
            ws,
            &NewAlert {
                kind: KIND_NEEDS_REAUTH.into(),
                details: json!({"connection_id": "conn-1", "reason": "invalid_grant"}),
            },
            t(0),
        )
        .await
        .expect("record");
    let hook = Hook::default();
    hook.status.store(200, Ordering::SeqCst);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = serve_hook(&hook, listener);
    let sender = AlertSender::new(store.clone(), &format!("http://{addr}/hook"), "http://h")
        .expect("sender");
    // More than one batch in one round.
    assert_eq!(
        sender.send_due(t(1)).await.expect("round"),
        Round {
            sent: 24,
            failed: 0
        }
    );
    assert_eq!(
        sender.send_due(t(2)).await.expect("round"),
        Round::default()
    );
    let got = hook.got.lock().clone();
    assert_eq!(got.len(), 24);
    let mut ids: Vec<String> = got
        .iter()
        .filter_map(|m| m["text"].as_str())
        .filter_map(|t| t.split("dead letter ").nth(1))
        .filter_map(|t| t.split(' ').next())
        .map(str::to_owned)
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 23, "one post per dead letter");
    assert!(
        got.iter().any(|m| m["text"]
            .as_str()
            .is_some_and(|t| t.contains("conn-1") && t.contains("authorised again"))),
        "the re-authorisation alert"
    );
    server.abort();
}

#[tokio::test]
async fn a_webhook_that_is_not_http_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(&dir.path().join("callforce.db"))
        .await
        .expect("store");
    for url in ["ftp://example.com/x", "not a url", "file:///etc/passwd"] {
        assert!(
            AlertSender::new(store.clone(), url, "http://h").is_err(),
            "{url}"
        );
    }
    assert!(AlertSender::new(store, "https://hooks.example.com/T/B/x", "http://h").is_ok());
}

/// `callforce serve --alert-webhook`: its sender task delivers a dead letter's alert.
#[tokio::test]
async fn serve_posts_dead_letter_alerts_to_its_webhook() {
    let hook = Hook::default();
    hook.status.store(200, Ordering::SeqCst);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook_addr = listener.local_addr().expect("addr");
    let server = serve_hook(&hook, listener);
    let dir = tempfile::tempdir().expect("tempdir");
    let started = callforce::serve::start(callforce::serve::ServeConfig {
        alert_webhook: Some(format!("http://{hook_addr}/hook")),
        ..callforce::serve::ServeConfig::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            dir.path().to_owned(),
        )
    })
    .await
    .expect("starts");
    let store = Store::open_sqlite(&dir.path().join("callforce.db"))
        .await
        .expect("store");
    let ws = store
        .workspace_by_name("default")
        .await
        .expect("read")
        .expect("default")
        .id;
    let dl = dead_letter(&store, ws, "k", Utc::now()).await;
    // Wait (bounded) for the sender's next round; no timing is asserted.
    for _ in 0..200 {
        if !hook.got.lock().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let got = hook.got.lock().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    let text = got[0]["text"].as_str().expect("text");
    assert!(
        text.contains(&format!(
            "http://{}/v1/deadletters/{dl}/replay",
            started.addr
        )),
        "{text}"
    );
    started.task.abort();
    server.abort();
}
