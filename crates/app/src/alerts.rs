//! The alert sender: posts the store's outbox of alerts to a Slack-compatible webhook: the
//! alert's workspace's own (set in the console's Settings or `PUT /v1/settings`) in preference
//! to the service-wide one; an alert with neither waits in the store (`GET /v1/alerts`) and is
//! posted once a webhook is set.
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

/// Posts alerts to their workspace's webhook, or the service-wide one.
#[derive(Clone)]
pub struct AlertSender {
    store: Store,
    /// The service-wide webhook, for workspaces without their own.
    /// NB: a Slack webhook URL is a credential: never logged, never in an error.
    webhook: Option<String>,
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
        let mut sender = Self::per_workspace(store, api_base)?;
        sender.webhook = Some(webhook.to_owned());
        Ok(sender)
    }

    /// A sender without a service-wide webhook: only workspaces with their own get their alerts
    /// posted.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn per_workspace(store: Store, api_base: &str) -> anyhow::Result<Self> {
        Ok(Self {
            store,
            webhook: None,
            api_base: api_base.trim_end_matches('/').to_owned(),
            http: client()?,
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
                let own = self
                    .store
                    .workspace_settings(alert.workspace)
                    .await
                    .ok()
                    .and_then(|s| s.alert_webhook);
                // NB: with no webhook at all the alert stays pending; the claim's hold brings
                // it back later, when one may be set.
                let Some(webhook) = own.or_else(|| self.webhook.clone()) else {
                    continue;
                };
                let workspace = self
                    .store
                    .workspace(alert.workspace)
                    .await?
                    .map(|w| w.name)
                    .unwrap_or_else(|| alert.workspace.0.to_string());
                let body = message(&alert, &workspace, &self.api_base);
                match post(&self.http, &webhook, &body).await.and_then(ok_status) {
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

/// The HTTP client alerts are posted with.
fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().timeout(POST_TIMEOUT).build()?)
}

/// A webhook's answer: its status and (clipped) body.
struct Answer {
    status: reqwest::StatusCode,
    body: String,
}

/// Posts `body` to `webhook`: its answer, or why none came (never naming the URL).
async fn post(http: &reqwest::Client, webhook: &str, body: &Value) -> Result<Answer, String> {
    let resp = http
        .post(webhook)
        .json(body)
        .send()
        .await
        .map_err(transport_error)?;
    let status = resp.status();
    let body = clip(&resp.text().await.unwrap_or_default(), 200);
    Ok(Answer { status, body })
}

/// A 2xx answer is delivered; any other is an error naming the status.
fn ok_status(answer: Answer) -> Result<(), String> {
    if answer.status.is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}: {}", answer.status.as_u16(), answer.body))
    }
}

/// Why a post got no answer, in words, without the URL (a credential).
fn transport_error(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", POST_TIMEOUT.as_secs());
    }
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// What posting a test alert got: the webhook's status, or why it got none.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TestOutcome {
    /// The HTTP status the webhook answered; `None` when no answer came.
    pub status: Option<u16>,
    /// Whether the webhook took it (a 2xx status).
    pub delivered: bool,
    /// Why no answer came, or the body of an answer that was not 2xx.
    pub error: Option<String>,
}

/// Posts a test message to `webhook` now, for workspace `workspace`, and says what came back.
///
/// # Errors
/// When the HTTP client cannot be built (the webhook's own failures are in the outcome).
pub async fn post_test(webhook: &str, workspace: &str, by: &str) -> anyhow::Result<TestOutcome> {
    let text = format!(
        "callforce: a test alert for workspace {workspace}, sent by {by}. This workspace's \
         alerts (writes that failed for good, connections that need to be authorised again) \
         are posted here."
    );
    let body = json!({
        "text": text,
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    });
    Ok(match post(&client()?, webhook, &body).await {
        Ok(answer) => TestOutcome {
            status: Some(answer.status.as_u16()),
            delivered: answer.status.is_success(),
            error: (!answer.status.is_success()).then_some(answer.body),
        },
        Err(error) => TestOutcome {
            status: None,
            delivered: false,
            error: Some(error),
        },
    })
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
