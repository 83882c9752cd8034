//! The console's Settings beyond API keys, over real sockets: the workspace's alert webhook
//! (checked, set, used for its alerts before the service's, a test alert posted to a real local
//! receiver), acknowledging alerts, and the retention the sweep honours (resolved dead letters
//! and operations older than it go; open dead letters and the audit log stay). Every change is
//! in the audit log with the session's key as actor.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::StatusCode as AxumStatus;
use callforce::serve::{ServeConfig, Started, start};
use callforce_store::{
    AuditFilter, DeadLetterFilter, DeadLetterId, NewAlert, NewJob, Verdict, WorkspaceId,
};
use chrono::{DateTime, TimeDelta, Utc};
use parking_lot::Mutex;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};
use serde_json::{Value, json};

use super::console::{browser, csrf, sign_in};

/// A webhook receiver on loopback: what each path got; `/fail*` answers 500.
struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<(String, Value)>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Self {
        let got: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let seen = got.clone();
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri, body: String| {
            let seen = seen.clone();
            async move {
                let path = uri.path().to_owned();
                let fail = path.starts_with("/fail");
                seen.lock()
                    .push((path, serde_json::from_str(&body).unwrap_or(Value::Null)));
                if fail {
                    (AxumStatus::INTERNAL_SERVER_ERROR, "down for maintenance")
                } else {
                    (AxumStatus::OK, "ok")
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Self {
            addr,
            got,
            _task: task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn to(&self, path: &str) -> Vec<Value> {
        self.got
            .lock()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

struct Bed {
    started: Started,
    base: String,
    http: reqwest::Client,
    session: String,
    /// The signed-in key's actor, `api-key:<id>`.
    actor: String,
    _dir: tempfile::TempDir,
}

async fn bed(service_webhook: Option<String>) -> Bed {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = start(ServeConfig {
        alert_webhook: service_webhook,
        ..ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().to_owned())
    })
    .await
    .expect("starts");
    let base = format!("http://{}", started.addr);
    let http = browser();
    let key = started.api_key.clone().expect("first key");
    let session = sign_in(&http, &base, &key).await;
    let id = started
        .registry
        .store()
        .list_api_keys(started.workspace)
        .await
        .expect("keys")[0]
        .id
        .0;
    Bed {
        started,
        base,
        http,
        session,
        actor: format!("api-key:{id}"),
        _dir: dir,
    }
}

impl Bed {
    fn store(&self) -> &callforce_store::Store {
        self.started.registry.store()
    }

    async fn page(&self) -> (StatusCode, String) {
        let resp = self
            .http
            .get(format!("{}/settings", self.base))
            .header(COOKIE, format!("cf_session={}", self.session))
            .send()
            .await
            .expect("get");
        (resp.status(), resp.text().await.expect("html"))
    }

    /// Posts `form` with the session's token: the status, where it leads, and the page.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
        let token = csrf(&self.page().await.1);
        let mut form = form.to_vec();
        form.push(("csrf", &token));
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, format!("cf_session={}", self.session))
            .form(&form)
            .send()
            .await
            .expect("post");
        let to = resp
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (resp.status(), to, resp.text().await.expect("html"))
    }

    /// The workspace's audit entries of `kind`.
    async fn audited(&self, kind: &str) -> Vec<callforce_store::AuditEntry> {
        self.store()
            .list_audit(
                self.started.workspace,
                &AuditFilter {
                    kind_prefix: Some(kind.into()),
                    limit: Some(1000),
                    ..AuditFilter::default()
                },
            )
            .await
            .expect("audit")
    }
}

#[tokio::test]
async fn a_workspace_webhook_is_checked_set_tested_and_gets_its_alerts_before_the_services() {
    let hooks = Receiver::start().await;
    let bed = bed(Some(hooks.url("/service"))).await;
    let ws = bed.started.workspace;

    // A webhook that is not an http(s) URL: said next to the field, nothing saved.
    for bad in ["hooks.example.com/x", "ftp://example.com/hook", "https://"] {
        let (status, _, html) = bed
            .post("/settings/alert-webhook", &[("alert_webhook", bad)])
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {html}");
        assert!(
            html.contains("id=\"alert_webhook-problem\""),
            "{bad}: {html}"
        );
        assert!(html.contains("aria-invalid=\"true\""), "{bad}");
    }
    assert_eq!(
        bed.store()
            .workspace_settings(ws)
            .await
            .expect("settings")
            .alert_webhook,
        None
    );
    // No webhook of its own: nothing to test, said so.
    let (status, _, html) = bed.post("/settings/test-alert", &[]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("set one first"), "{html}");

    // Set: the page shows where it points, never the whole URL (a credential).
    let secret_path = "/ws-hook/T000/B000/s3cr3tpart";
    let (status, to, _) = bed
        .post(
            "/settings/alert-webhook",
            &[("alert_webhook", &hooks.url(secret_path))],
        )
        .await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/settings#alerts-heading")
    );
    let (_, html) = bed.page().await;
    assert!(
        html.contains(&format!("<code>http://{}/…</code>", hooks.addr)),
        "{html}"
    );
    assert!(!html.contains("s3cr3tpart"), "the webhook in the page");

    // A test alert reaches the receiver now, and the page says what it answered.
    let (status, _, html) = bed.post("/settings/test-alert", &[]).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("The webhook answered HTTP 200: the test alert was delivered."),
        "{html}"
    );
    let got = hooks.to(secret_path);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("a test alert for workspace default")),
        "{got:?}"
    );

    // A webhook that refuses: its status and what it said.
    bed.post(
        "/settings/alert-webhook",
        &[("alert_webhook", &hooks.url("/fail/hook"))],
    )
    .await;
    let (_, _, html) = bed.post("/settings/test-alert", &[]).await;
    assert!(
        html.contains(
            "The webhook answered HTTP 500: it did not take the test alert (down for maintenance)."
        ),
        "{html}"
    );
    // A webhook nobody listens on: why nothing was sent.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    bed.post(
        "/settings/alert-webhook",
        &[("alert_webhook", &format!("http://{closed}/hook"))],
    )
    .await;
    let (_, _, html) = bed.post("/settings/test-alert", &[]).await;
    assert!(
        html.contains("The test alert could not be sent: "),
        "{html}"
    );

    // The workspace's own webhook gets its alerts; the service's does not.
    bed.post(
        "/settings/alert-webhook",
        &[("alert_webhook", &hooks.url(secret_path))],
    )
    .await;
    bed.store()
        .record_alert(
            ws,
            &NewAlert {
                kind: callforce_store::alerts::KIND_NEEDS_REAUTH.into(),
                details: json!({"connection_id": "conn-x", "reason": "invalid_grant"}),
            },
            Utc::now(),
        )
        .await
        .expect("alert");
    let mut delivered = false;
    for _ in 0..100 {
        if hooks.to(secret_path).len() == 2 {
            delivered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(delivered, "{:?}", hooks.got.lock());
    assert!(
        hooks.to(secret_path)[1]["text"]
            .as_str()
            .is_some_and(|t| t.contains("conn-x"))
    );
    assert!(hooks.to("/service").is_empty());

    // Cleared: back to the service's webhook.
    let (status, _, _) = bed
        .post("/settings/alert-webhook", &[("clear", "yes")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html) = bed.page().await;
    assert!(html.contains("no webhook of its own"), "{html}");

    // Every change is audited with the session's key, naming only where the webhook points.
    let set = bed.audited("config.settings.alert_webhook").await;
    assert_eq!(
        set.len(),
        5,
        "four set, one cleared (refused ones are not changes)"
    );
    for e in &set {
        assert_eq!(e.agent.as_deref(), Some(bed.actor.as_str()));
        assert!(!e.request.clone().unwrap_or_default().contains("s3cr3t"));
    }
    assert_eq!(bed.audited("alert.test").await.len(), 3);

    // The same through the API.
    let key = bed.started.api_key.clone().expect("key");
    let api = reqwest::Client::new();
    let put: Value = api
        .put(format!("{}/v1/settings", bed.base))
        .bearer_auth(&key)
        .json(&json!({"alert_webhook": hooks.url("/api-hook/secret"), "retention_days": 10}))
        .send()
        .await
        .expect("put")
        .json()
        .await
        .expect("json");
    assert_eq!(
        put["settings"],
        json!({"alert_webhook": format!("http://{}/…", hooks.addr), "retention_days": 10})
    );
    let resp = api
        .put(format!("{}/v1/settings", bed.base))
        .bearer_auth(&key)
        .json(&json!({"retention_days": 0}))
        .send()
        .await
        .expect("put");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let test: Value = api
        .post(format!("{}/v1/settings/test-alert", bed.base))
        .bearer_auth(&key)
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(test["test_alert"]["status"], 200, "{test}");
    assert_eq!(hooks.to("/api-hook/secret").len(), 1);
}

#[tokio::test]
async fn an_acknowledged_alert_leaves_the_open_list() {
    let bed = bed(None).await;
    let ws = bed.started.workspace;
    let mut ids = Vec::new();
    for conn in ["conn-a", "conn-b"] {
        let id = bed
            .store()
            .record_alert(
                ws,
                &NewAlert {
                    kind: callforce_store::alerts::KIND_NEEDS_REAUTH.into(),
                    details: json!({"connection_id": conn, "reason": "invalid_grant"}),
                },
                Utc::now(),
            )
            .await
            .expect("alert");
        ids.push(id.0);
    }
    let (_, html) = bed.page().await;
    for (id, conn) in ids.iter().zip(["conn-a", "conn-b"]) {
        assert!(html.contains(&format!("Acknowledge alert {id}")), "{html}");
        assert!(
            html.contains(&format!("connection {conn} needs to be authorised again")),
            "{html}"
        );
    }
    let (status, to, _) = bed
        .post(&format!("/settings/alerts/{}/acknowledge", ids[0]), &[])
        .await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/settings#open-alerts")
    );
    let (_, html) = bed.page().await;
    assert!(
        !html.contains(&format!("Acknowledge alert {}", ids[0])),
        "{html}"
    );
    assert!(
        html.contains(&format!("Acknowledge alert {}", ids[1])),
        "{html}"
    );
    let acked = bed.audited("alert.acknowledge").await;
    assert_eq!(acked.len(), 1);
    assert_eq!(acked[0].agent.as_deref(), Some(bed.actor.as_str()));

    // Another workspace's alert, or one that is not, is not found.
    let (status, _, _) = bed.post("/settings/alerts/999999/acknowledge", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = bed.post("/settings/alerts/abc/acknowledge", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// A write job of `ws` that failed for good at `at`; its dead letter.
async fn dead_at(bed: &Bed, ws: WorkspaceId, key: &str, at: DateTime<Utc>) -> DeadLetterId {
    let store = bed.store();
    let job = NewJob {
        workspace: ws,
        connection_id: "conn-elsewhere".into(),
        idempotency_key: key.into(),
        ordering_key: format!("Task:{key}"),
        kind: "write".into(),
        payload: json!({"action": "log_call", "request": {"op": "create", "sobject": "Task", "record": {"Subject": "Broken"}}})
            .to_string(),
        call_id: Some(format!("call-{key}")),
        agent: Some("aria".into()),
        run_at: at,
    };
    let id = store.enqueue(&job, at).await.expect("enqueue").id;
    let leased = store
        .lease("test", at, TimeDelta::seconds(30), 100)
        .await
        .expect("lease");
    assert!(leased.iter().any(|j| j.id == id));
    store
        .dead(id, "test", at, "FIELD_CUSTOM_VALIDATION_EXCEPTION: no")
        .await
        .expect("dead")
}

#[tokio::test]
async fn the_retention_set_in_settings_decides_what_the_sweep_deletes_and_never_the_audit_log() {
    let bed = bed(None).await;
    let ws = bed.started.workspace;
    let store = bed.store();
    let now = Utc::now();
    let ago = |days: i64| now - TimeDelta::days(days);
    // Resolved 10 and 3 days ago, and one open since 10 days ago.
    let old = dead_at(&bed, ws, "old", ago(10)).await;
    store
        .discard_dead_letter_as(ws, old, ago(10), "cli")
        .await
        .expect("discard");
    let recent = dead_at(&bed, ws, "recent", ago(3)).await;
    store
        .discard_dead_letter_as(ws, recent, ago(3), "cli")
        .await
        .expect("discard");
    let open = dead_at(&bed, ws, "open", ago(10)).await;
    store
        .append_audit(
            ws,
            ago(100),
            &callforce_store::NewAuditEntry {
                kind: "test.ancient".into(),
                ..Default::default()
            },
        )
        .await
        .expect("audit");
    let heads = |v: Vec<callforce_store::AuditHead>| {
        v.into_iter().find(|h| h.workspace == ws).expect("head").seq
    };
    let dead_letters = || async {
        let mut ids: Vec<i64> = store
            .list_dead_letters(ws, &DeadLetterFilter::default())
            .await
            .expect("list")
            .iter()
            .map(|d| d.id.0)
            .collect();
        ids.sort_unstable();
        ids
    };
    let default = TimeDelta::days(30);

    // The service's default (30 days): nothing is old enough.
    let swept = callforce_app::operations::sweep(store, now, default)
        .await
        .expect("sweep");
    assert_eq!(swept.dead_letters, 0);
    assert_eq!(dead_letters().await, vec![old.0, recent.0, open.0]);

    // A retention that is not 1 to 365 days: said next to the field, nothing saved.
    for bad in ["0", "366", "a week"] {
        let (status, _, html) = bed
            .post("/settings/retention", &[("retention_days", bad)])
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert!(
            html.contains("id=\"retention_days-problem\">The retention must be a whole number of days from 1 to 365"),
            "{bad}: {html}"
        );
    }
    assert_eq!(
        store
            .workspace_settings(ws)
            .await
            .expect("settings")
            .retention_days,
        None
    );

    // 7 days: the dead letter resolved 10 days ago goes; the recent and the open one stay, and
    // so does every audit entry (the 100-day-old one too).
    let (status, _, _) = bed
        .post("/settings/retention", &[("retention_days", "7")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html) = bed.page().await;
    assert!(
        html.contains("name=\"retention_days\" type=\"text\" inputmode=\"numeric\" value=\"7\""),
        "{html}"
    );
    let audit_before = heads(store.audit_heads().await.expect("heads"));
    let swept = callforce_app::operations::sweep(store, now, default)
        .await
        .expect("sweep");
    assert_eq!(swept.dead_letters, 1);
    assert_eq!(dead_letters().await, vec![recent.0, open.0]);
    assert_eq!(
        heads(store.audit_heads().await.expect("heads")),
        audit_before
    );
    assert!(matches!(
        store.verify_audit(ws).await.expect("verify"),
        Verdict::Intact { .. }
    ));
    assert_eq!(bed.audited("test.ancient").await.len(), 1);
    // The alert about the deleted dead letter stays.
    let alerts = store.list_alerts(ws, 100).await.expect("alerts");
    assert_eq!(alerts.len(), 3, "{alerts:?}");

    // Another workspace keeps the default: its old resolved dead letter stays.
    let other = store
        .create_workspace("other", now)
        .await
        .expect("workspace")
        .id;
    let theirs = dead_at(&bed, other, "theirs", ago(10)).await;
    store
        .discard_dead_letter_as(other, theirs, ago(10), "cli")
        .await
        .expect("discard");
    callforce_app::operations::sweep(store, now, default)
        .await
        .expect("sweep");
    assert_eq!(
        store
            .list_dead_letters(other, &DeadLetterFilter::default())
            .await
            .expect("list")
            .len(),
        1
    );

    // Cleared: the default again, and the change is audited with the session's key.
    let (status, _, _) = bed
        .post("/settings/retention", &[("retention_days", "")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let set = bed.audited("config.settings.retention").await;
    let requests: Vec<String> = set.iter().filter_map(|e| e.request.clone()).collect();
    assert_eq!(
        requests,
        [r#"{"retention_days":7}"#, r#"{"retention_days":null}"#]
    );
    assert!(
        set.iter()
            .all(|e| e.agent.as_deref() == Some(bed.actor.as_str()))
    );
}
