//! The alert sender: posts the store's outbox of alerts to a Slack-compatible webhook.
//!
//! The store records an alert in the transaction that causes it (a job becoming a dead letter,
//! a connection needing re-authorisation; see `callforce_store::alerts`). This task takes due
//! alerts, posts each as `{"text": ..., "blocks": [...]}` (what failed, the error, the call, and
//! how to replay: the CLI command and the API call), and marks it sent when the webhook answers
//! 2xx. When the webhook is down or refuses, the alert is tried again after [`retry_delay`], for
//! as long as it takes: an alert is never dropped. Delivery is at least once (see the store).

use std::time::Duration;

use callforce_store::alerts::{KIND_DEAD_LETTER, KIND_NEEDS_REAUTH};
use callforce_store::{Alert, Store};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

/// Alerts taken per round.
const BATCH: u32 = 10;
/// How long one webhook post may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// The wait before the next delivery try, after `failures` failed tries (1 for the first).
/// 5 s, 30 s, 2 min, 10 min, then every 30 min.
pub fn retry_delay(failures: u32) -> TimeDelta {
    match failures {
        0 | 1 => TimeDelta::seconds(5),
        2 => TimeDelta::seconds(30),
        3 => TimeDelta::minutes(2),
        4 => TimeDelta::minutes(10),
        _ => TimeDelta::minutes(30),
    }
}

/// Posts alerts to one webhook.
#[derive(Clone)]
pub struct AlertSender {
    store: Store,
    /// NB: a Slack webhook URL is a credential: never logged, never in an error.
    webhook: String,
    /// The service's base URL, for the replay API call shown in an alert.
    api_base: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for AlertSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertSender")
            .field("webhook", &"<redacted>")
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

/// What one round of [`AlertSender::send_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Alerts the webhook took.
    pub sent: usize,
    /// Alerts that failed and wait for their next try.
    pub failed: usize,
}

impl AlertSender {
    /// A sender posting to `webhook` (an `http://` or `https://` URL); `api_base` is the
    /// service's address as admins reach it (e.g. `http://127.0.0.1:8080`).
    ///
    /// # Errors
    /// When the URL is not http(s) or the HTTP client cannot be built.
    pub fn new(store: Store, webhook: &str, api_base: &str) -> anyhow::Result<Self> {
        let url = reqwest::Url::parse(webhook)
            .map_err(|e| anyhow::anyhow!("the alert webhook is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            anyhow::bail!("the alert webhook must be an http:// or https:// URL");
        }
        let http = reqwest::Client::builder().timeout(POST_TIMEOUT).build()?;
        Ok(Self {
            store,
            webhook: webhook.to_owned(),
            api_base: api_base.trim_end_matches('/').to_owned(),
            http,
        })
    }

    /// Posts every alert due at `now` (in batches) and records each outcome.
    ///
    /// # Errors
    /// Store errors (a webhook failure is recorded on the alert, not returned).
    pub async fn send_due(&self, now: DateTime<Utc>) -> anyhow::Result<Round> {
        let mut round = Round::default();
        loop {
            // The hold covers a whole batch of posts timing out, so no other sender takes them.
            let hold = TimeDelta::from_std(POST_TIMEOUT * (BATCH + 1))?;
            let alerts = self.store.claim_alerts(now, hold, BATCH).await?;
            let n = alerts.len();
            for alert in alerts {
                let workspace = self
                    .store
                    .workspace(alert.workspace)
                    .await?
                    .map(|w| w.name)
                    .unwrap_or_else(|| alert.workspace.0.to_string());
                let body = message(&alert, &workspace, &self.api_base);
                match self.post(&body).await {
                    Ok(()) => {
                        self.store.alert_sent(alert.id, now).await?;
                        round.sent += 1;
                    }
                    Err(error) => {
                        let next = now + retry_delay(alert.attempts + 1);
                        tracing::warn!(alert = alert.id.0, %error, %next, "alert webhook failed; will retry");
                        self.store.alert_failed(alert.id, next, &error).await?;
                        round.failed += 1;
                    }
                }
            }
            if n < BATCH as usize {
                return Ok(round);
            }
        }
    }

    async fn post(&self, body: &Value) -> Result<(), String> {
        let resp = self
            .http
            .post(&self.webhook)
            .json(body)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = resp.text().await.unwrap_or_default();
        Err(format!("HTTP {}: {}", status.as_u16(), clip(&text, 200)))
    }

    /// Runs [`AlertSender::send_due`] every `poll` until the task is aborted.
    pub fn spawn(self, poll: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                if let Err(e) = self.send_due(Utc::now()).await {
                    tracing::error!(error = %e, "alert sender: the store failed");
                }
                tokio::time::sleep(poll).await;
            }
        })
    }
}

/// At most `n` characters of `s`, marked when cut.
fn clip(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn str_of<'a>(details: &'a Value, key: &str) -> Option<&'a str> {
    details.get(key).and_then(Value::as_str)
}

fn field(name: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": format!("*{name}*\n{value}")})
}

/// The Slack-compatible message for an alert: `text` (the whole story, for plain webhooks and
/// notifications) and `blocks` (the same, laid out).
pub fn message(alert: &Alert, workspace: &str, api_base: &str) -> Value {
    let d = &alert.details;
    let ws_flag = if workspace == "default" {
        String::new()
    } else {
        format!(" --workspace {workspace}")
    };
    match alert.kind.as_str() {
        KIND_DEAD_LETTER => {
            let id = d
                .get("dead_letter_id")
                .and_then(Value::as_i64)
                .or(alert.dead_letter.map(|d| d.0))
                .unwrap_or_default();
            let what = str_of(d, "action").or(str_of(d, "kind")).unwrap_or("write");
            let error = clip(str_of(d, "error").unwrap_or("(no error recorded)"), 1500);
            let call = str_of(d, "call_id").unwrap_or("-");
            let agent = str_of(d, "agent").unwrap_or("-");
            let attempts = d.get("attempts").and_then(Value::as_u64).unwrap_or(0);
            let cli = format!("callforce deadletter replay {id}{ws_flag}");
            let api = format!(
                "curl -X POST -H \"Authorization: Bearer $CALLFORCE_API_KEY\" {api_base}/v1/deadletters/{id}/replay"
            );
            let text = format!(
                "callforce: a write failed for good and is dead letter {id} (workspace {workspace}). \
                 What: {what}. Call: {call}. Agent: {agent}. Attempts: {attempts}. Error: {error}. \
                 Fix the payload if needed, then replay: `{cli}` or `{api}`"
            );
            json!({
                "text": text,
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": clip(&format!("Write failed: {what} (dead letter {id})"), 140)}},
                    {"type": "section", "fields": [
                        field("Workspace", workspace),
                        field("Call", call),
                        field("Agent", agent),
                        field("Attempts", &attempts.to_string()),
                    ]},
                    {"type": "section", "text": {"type": "mrkdwn", "text": format!("*Error*\n```{error}```")}},
                    {"type": "section", "text": {"type": "mrkdwn", "text": format!(
                        "*How to replay*\nLook at it: `callforce deadletter show {id}{ws_flag}`; fix a field with `PATCH /v1/deadletters/{id}` if needed; then\n```{cli}```\nor\n```{api}```"
                    )}},
                ],
            })
        }
        KIND_NEEDS_REAUTH => {
            let conn = str_of(d, "connection_id").unwrap_or("-");
            let reason = clip(
                str_of(d, "reason").unwrap_or("the org refused the refresh token"),
                1500,
            );
            let text = format!(
                "callforce: connection {conn} (workspace {workspace}) needs to be authorised again: {reason}. \
                 Queued writes for it wait until it is reconnected."
            );
            json!({
                "text": text,
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": clip(&format!("Connection {conn} needs re-authorisation"), 140)}},
                    {"type": "section", "fields": [field("Workspace", workspace), field("Connection", conn)]},
                    {"type": "section", "text": {"type": "mrkdwn", "text": format!("*Reason*\n```{reason}```")}},
                ],
            })
        }
        other => {
            let text = format!("callforce alert ({other}, workspace {workspace}): {d}");
            json!({
                "text": clip(&text, 2900),
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": clip(&text, 2900)}}],
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callforce_store::{AlertId, AlertStatus, DeadLetterId, WorkspaceId};

    fn alert(kind: &str, details: Value) -> Alert {
        Alert {
            id: AlertId(1),
            workspace: WorkspaceId(1),
            kind: kind.into(),
            dead_letter: Some(DeadLetterId(12)),
            details,
            status: AlertStatus::Pending,
            attempts: 0,
            next_attempt_at: DateTime::UNIX_EPOCH,
            last_error: None,
            created_at: DateTime::UNIX_EPOCH,
            sent_at: None,
            acknowledged_at: None,
            acknowledged_by: None,
        }
    }

    #[test]
    fn retry_delays_grow_then_stay_at_thirty_minutes() {
        let cases = [(1, 5), (2, 30), (3, 120), (4, 600), (5, 1800), (50, 1800)];
        for (failures, secs) in cases {
            assert_eq!(
                retry_delay(failures),
                TimeDelta::seconds(secs),
                "{failures}"
            );
        }
    }

    #[test]
    fn a_dead_letter_alert_says_what_failed_and_how_to_replay() {
        let a = alert(
            KIND_DEAD_LETTER,
            json!({"dead_letter_id": 12, "action": "log_call", "kind": "write", "call_id": "call-7",
                   "agent": "aria", "attempts": 6, "error": "503 SERVER_UNAVAILABLE"}),
        );
        let m = message(&a, "acme", "http://127.0.0.1:8080");
        let text = m["text"].as_str().expect("text");
        for part in [
            "dead letter 12",
            "log_call",
            "call-7",
            "aria",
            "503 SERVER_UNAVAILABLE",
            "callforce deadletter replay 12 --workspace acme",
            "http://127.0.0.1:8080/v1/deadletters/12/replay",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
        let blocks = m["blocks"].as_array().expect("blocks");
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(
            blocks[0]["text"]["text"],
            "Write failed: log_call (dead letter 12)"
        );
        let how = blocks[3]["text"]["text"].as_str().expect("how");
        assert!(
            how.contains("```callforce deadletter replay 12 --workspace acme```"),
            "{how}"
        );
        // The default workspace needs no flag.
        let m = message(&a, "default", "http://h");
        assert!(
            m["text"]
                .as_str()
                .is_some_and(|t| t.contains("`callforce deadletter replay 12`")),
            "{m}"
        );
    }

    #[test]
    fn a_long_error_is_clipped_to_fit_a_block() {
        let a = alert(
            KIND_DEAD_LETTER,
            json!({"dead_letter_id": 1, "error": "x".repeat(5000)}),
        );
        let m = message(&a, "default", "http://h");
        let error_block = m["blocks"][2]["text"]["text"].as_str().expect("error");
        assert!(error_block.len() < 1600, "{}", error_block.len());
        assert!(error_block.contains('…'));
    }

    #[test]
    fn a_reauth_alert_names_the_connection_and_reason() {
        let a = alert(
            KIND_NEEDS_REAUTH,
            json!({"connection_id": "conn-9", "reason": "invalid_grant: expired"}),
        );
        let m = message(&a, "default", "http://h");
        let text = m["text"].as_str().expect("text");
        assert!(
            text.contains("conn-9") && text.contains("invalid_grant: expired"),
            "{text}"
        );
    }
}

#[cfg(test)]
mod webhook_tests {
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

    use super::{AlertSender, Round};

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
        assert_eq!(a.next_attempt_at, t(1) + super::retry_delay(1));
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
        assert_eq!(a.next_attempt_at, t(6) + super::retry_delay(2));

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
        let started = crate::serve::start(crate::serve::ServeConfig {
            alert_webhook: Some(format!("http://{hook_addr}/hook")),
            ..crate::serve::ServeConfig::new(
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
}
