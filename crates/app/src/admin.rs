//! The admin operations: dead letters (list, show, edit, replay, discard), the queued writes
//! (jobs), the audit log (list, verify) and alerts (list, acknowledge). The REST front door's
//! `/v1/deadletters`, `/v1/jobs`, `/v1/audit` and `/v1/alerts` and the `callforce deadletter`,
//! `audit` and `alert` commands both ask [`Admin`], so the rules and the answers are the same.
//!
//! Everything is scoped to a workspace: another workspace's dead letter, job or alert is
//! [`Kind::NotFound`] exactly like a missing one. Every edit, replay, discard and
//! acknowledgement is recorded with its [`Actor`]; edits, replays and discards are appended to
//! the audit log in the transaction of the change (the store's `*_as` operations).
//!
//! Operations take typed inputs (ids, filters, limits); the parsers below ([`dead_letter_id`],
//! [`limit`], [`dead_letter_status`], [`job_status`]) turn what a person typed into them, with
//! the message any front door answers.

use callforce_store::{
    Alert, AlertId, AuditEntry, AuditFilter, DeadLetter, DeadLetterFilter, DeadLetterId,
    DeadLetterStatus, Job, JobId, JobStatus, NewAuditEntry, Store, Verdict, WorkspaceId,
};
use chrono::Utc;
use serde_json::{Value, json};

use crate::changes::Actor;
use crate::deadletters::{Edit, STATUSES, parse_status, payload_problem};
use crate::error::{Error, Kind};

/// The most rows one list returns.
pub const MAX_LIMIT: u32 = 1000;

/// The rows a list returns when no limit is given.
pub const DEFAULT_LIMIT: u32 = 100;

/// The admin operations on one store.
#[derive(Debug, Clone)]
pub struct Admin {
    store: Store,
}

/// The longest retention a workspace may set, in days.
pub const MAX_RETENTION_DAYS: u32 = 365;

/// The audit kind of a workspace's alert webhook set or cleared.
pub const ALERT_WEBHOOK_SET: &str = "config.settings.alert_webhook";
/// The audit kind of a workspace's retention set or cleared.
pub const RETENTION_SET: &str = "config.settings.retention";
/// The audit kind of a test alert posted.
pub const ALERT_TEST: &str = "alert.test";

/// A workspace's own settings as the console and the API show them: the webhook only by where
/// it points (a webhook URL is a credential).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Settings {
    /// Where the workspace's alerts are posted: the webhook's scheme and host
    /// (`https://hooks.slack.com/…`); `None`: the service's webhook, if it has one.
    pub alert_webhook: Option<String>,
    /// How many days its operations log and resolved dead letters are kept; `None`: the
    /// service's default (`--operations-retention-days`).
    pub retention_days: Option<u32>,
}

/// A webhook URL as it may be shown: its scheme, host and port, the rest elided.
fn webhook_shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{}{port}/…", u.scheme(), u.host_str().unwrap_or(""))
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

/// An alert webhook typed by a person: an `http://` or `https://` URL with a host.
///
/// # Errors
/// [`Kind::Invalid`] (`invalid_webhook`) saying what is wrong, never echoing the URL.
pub fn alert_webhook(raw: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::new(Kind::Invalid, "invalid_webhook", why.to_owned());
    let raw = raw.trim();
    if raw.len() > 2048 {
        return Err(bad("the webhook URL is longer than 2048 characters"));
    }
    let url = reqwest::Url::parse(raw)
        .map_err(|_| bad("the webhook must be a URL such as https://hooks.slack.com/services/…"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the webhook must be an http:// or https:// URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("the webhook URL has no host"));
    }
    Ok(raw.to_owned())
}

/// A retention typed by a person: whole days from 1 to [`MAX_RETENTION_DAYS`].
///
/// # Errors
/// [`Kind::Invalid`] (`invalid_retention`) for anything else.
pub fn retention_days(raw: &str) -> Result<u32, Error> {
    raw.trim()
        .parse::<u32>()
        .ok()
        .filter(|d| (1..=MAX_RETENTION_DAYS).contains(d))
        .ok_or_else(|| {
            Error::new(
                Kind::Invalid,
                "invalid_retention",
                format!(
                    "the retention must be a whole number of days from 1 to {MAX_RETENTION_DAYS}"
                ),
            )
        })
}

/// A configuration change as the audit log records it.
fn setting_entry(kind: &str, actor: Actor, request: Value) -> NewAuditEntry {
    NewAuditEntry {
        kind: kind.to_owned(),
        agent: Some(actor.to_string()),
        request: Some(request.to_string()),
        ..NewAuditEntry::default()
    }
}

/// A page of the audit log.
#[derive(Debug, Clone)]
pub struct AuditPage {
    /// The entries, oldest first (newest first when the filter asked so).
    pub entries: Vec<AuditEntry>,
    /// Oldest first: the `seq` to list after for the next page; `None` when no entry follows.
    pub next_after: Option<u64>,
    /// Newest first: the `seq` to list before for the next (older) page; `None` when no older
    /// entry matches.
    pub next_before: Option<u64>,
}

/// A malformed request (`invalid_request`).
pub fn invalid(message: impl Into<String>) -> Error {
    Error::new(Kind::Invalid, "invalid_request", message)
}

fn no_dead_letter(id: DeadLetterId) -> Error {
    Error::new(
        Kind::NotFound,
        "not_found",
        format!("no dead letter {} in this workspace", id.0),
    )
}

/// A store error as the core's: a missing row is `not_found` (`missing` says what was missing),
/// a state the change does not allow is a conflict; the rest is logged here and answered as a
/// plain internal error.
fn store_error(e: callforce_store::Error, missing: impl FnOnce() -> Error) -> Error {
    use callforce_store::Error as E;
    match e {
        E::NotFound => missing(),
        E::InvalidState(why) => Error::new(Kind::Conflict, "conflict", why),
        E::InvalidJson(what) => invalid(format!("the {what} is not valid JSON")),
        other => {
            tracing::error!(error = %other, source = ?std::error::Error::source(&other), "admin: the store failed");
            Error::new(Kind::Internal, "internal", "internal error")
        }
    }
}

/// For errors where nothing in particular was looked up.
fn not_found() -> Error {
    Error::new(Kind::NotFound, "not_found", "not found")
}

/// A dead letter's id: a positive number.
///
/// # Errors
/// [`Kind::Invalid`] for anything else.
pub fn dead_letter_id(raw: &str) -> Result<DeadLetterId, Error> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .map(DeadLetterId)
        .ok_or_else(|| {
            invalid(format!(
                "'{raw}' is not a dead letter id (a positive number)"
            ))
        })
}

/// A list's limit: a number from 1 to [`MAX_LIMIT`].
///
/// # Errors
/// [`Kind::Invalid`] for anything else.
pub fn limit(raw: &str) -> Result<u32, Error> {
    raw.parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| invalid(format!("limit must be a number from 1 to {MAX_LIMIT}")))
}

/// A dead letter's status by name.
///
/// # Errors
/// [`Kind::Invalid`] for a name that is not one.
pub fn dead_letter_status(raw: &str) -> Result<DeadLetterStatus, Error> {
    parse_status(raw).ok_or_else(|| invalid(format!("status '{raw}' is not one of {STATUSES}")))
}

/// A job's status by name; empty is any status.
///
/// # Errors
/// [`Kind::Invalid`] for a name that is not one.
pub fn job_status(raw: &str) -> Result<Option<JobStatus>, Error> {
    match raw {
        "" => Ok(None),
        "queued" => Ok(Some(JobStatus::Queued)),
        "leased" => Ok(Some(JobStatus::Leased)),
        "done" => Ok(Some(JobStatus::Done)),
        "dead" => Ok(Some(JobStatus::Dead)),
        other => Err(invalid(format!(
            "status '{other}' is not one of queued, leased, done, dead"
        ))),
    }
}

/// A job's id from `17` or `job-17` (the reference a queued write's answer gives).
fn job_id(reference: &str) -> Result<JobId, Error> {
    reference
        .strip_prefix("job-")
        .unwrap_or(reference)
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .map(JobId)
        .ok_or_else(|| invalid(format!("'{reference}' is not a job id (job-17, or 17)")))
}

impl Admin {
    /// The admin operations on `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// The dead letters that match `filter`, oldest first.
    ///
    /// # Errors
    /// [`Kind::Internal`] when the store fails.
    pub async fn dead_letters(
        &self,
        ws: WorkspaceId,
        filter: &DeadLetterFilter,
    ) -> Result<Vec<DeadLetter>, Error> {
        self.store
            .list_dead_letters(ws, filter)
            .await
            .map_err(|e| store_error(e, not_found))
    }

    /// One dead letter.
    ///
    /// # Errors
    /// [`Kind::NotFound`] when the workspace has no dead letter `id`; [`Kind::Internal`].
    pub async fn dead_letter(
        &self,
        ws: WorkspaceId,
        id: DeadLetterId,
    ) -> Result<DeadLetter, Error> {
        self.store
            .dead_letter(ws, id)
            .await
            .map_err(|e| store_error(e, || no_dead_letter(id)))?
            .ok_or_else(|| no_dead_letter(id))
    }

    /// Edits an open dead letter's payload, as `actor`, and answers it as it is now. A write
    /// job's payload must stay one ([`payload_problem`]), or a worker could not run it after a
    /// replay.
    ///
    /// # Errors
    /// [`Kind::NotFound`]; [`Kind::Conflict`] when it is not open; [`Kind::Unprocessable`]
    /// (`invalid_payload`) for a payload its job could not run; [`Kind::Internal`].
    pub async fn edit_dead_letter(
        &self,
        ws: WorkspaceId,
        actor: Actor,
        id: DeadLetterId,
        edit: Edit,
    ) -> Result<DeadLetter, Error> {
        let dl = self.dead_letter(ws, id).await?;
        let payload = edit.apply(&dl.payload);
        if dl.status != DeadLetterStatus::Open {
            // The store refuses it too; checked here so that a closed dead letter is a
            // conflict even when the new payload would be refused.
            return Err(Error::new(
                Kind::Conflict,
                "conflict",
                "the dead letter is not open",
            ));
        }
        if let Some(why) = payload_problem(&dl.kind, &payload) {
            return Err(Error::new(Kind::Unprocessable, "invalid_payload", why));
        }
        self.store
            .edit_dead_letter_payload_as(
                ws,
                id,
                &payload.to_string(),
                Utc::now(),
                &actor.to_string(),
            )
            .await
            .map_err(|e| store_error(e, || no_dead_letter(id)))?;
        self.dead_letter(ws, id).await
    }

    /// Queues an open dead letter's job again (same idempotency key), as `actor`.
    ///
    /// # Errors
    /// [`Kind::NotFound`]; [`Kind::Conflict`] when it is not open; [`Kind::Internal`].
    pub async fn replay_dead_letter(
        &self,
        ws: WorkspaceId,
        actor: Actor,
        id: DeadLetterId,
    ) -> Result<JobId, Error> {
        self.store
            .replay_dead_letter_as(ws, id, Utc::now(), &actor.to_string())
            .await
            .map_err(|e| store_error(e, || no_dead_letter(id)))
    }

    /// Queues again every open dead letter that matches `filter` (its limit is ignored), as
    /// `actor`, and answers their jobs.
    ///
    /// # Errors
    /// [`Kind::Internal`]; the rounds replayed before a failure stay replayed.
    pub async fn replay_dead_letters(
        &self,
        ws: WorkspaceId,
        actor: Actor,
        filter: &DeadLetterFilter,
    ) -> Result<Vec<JobId>, Error> {
        let filter = DeadLetterFilter {
            limit: Some(MAX_LIMIT),
            ..filter.clone()
        };
        let actor = actor.to_string();
        let mut jobs = Vec::new();
        // Each round replays up to MAX_LIMIT; replayed ones are no longer open, so the next
        // round sees the rest.
        loop {
            let round = self
                .store
                .replay_dead_letters_as(ws, &filter, Utc::now(), &actor)
                .await
                .map_err(|e| store_error(e, not_found))?;
            let n = round.len();
            jobs.extend(round);
            if n < MAX_LIMIT as usize {
                return Ok(jobs);
            }
        }
    }

    /// Discards an open dead letter, as `actor`: nothing more happens to it.
    ///
    /// # Errors
    /// [`Kind::NotFound`]; [`Kind::Conflict`] when it is not open; [`Kind::Internal`].
    pub async fn discard_dead_letter(
        &self,
        ws: WorkspaceId,
        actor: Actor,
        id: DeadLetterId,
    ) -> Result<(), Error> {
        self.store
            .discard_dead_letter_as(ws, id, Utc::now(), &actor.to_string())
            .await
            .map_err(|e| store_error(e, || no_dead_letter(id)))
    }

    /// The queued writes in `status` (any when `None`), oldest first, at most `limit`.
    ///
    /// # Errors
    /// [`Kind::Internal`].
    pub async fn jobs(
        &self,
        ws: WorkspaceId,
        status: Option<JobStatus>,
        limit: u32,
    ) -> Result<Vec<Job>, Error> {
        self.store
            .list_jobs(ws, status, limit)
            .await
            .map_err(|e| store_error(e, not_found))
    }

    /// One queued write, by `17` or the `job-17` an agent heard.
    ///
    /// # Errors
    /// [`Kind::Invalid`] for a reference that is neither; [`Kind::NotFound`]; [`Kind::Internal`].
    pub async fn job(&self, ws: WorkspaceId, reference: &str) -> Result<Job, Error> {
        let missing = || {
            Error::new(
                Kind::NotFound,
                "not_found",
                format!("no job {reference} in this workspace"),
            )
        };
        self.store
            .job(ws, job_id(reference)?)
            .await
            .map_err(|e| store_error(e, not_found))?
            .ok_or_else(missing)
    }

    /// The audit entries that match `filter`, oldest first (newest first when
    /// `filter.newest_first`), with where the next page starts when more entries match. Pages
    /// are keyset pages (`after_seq`/`before_seq`), so a late page costs what the first does.
    ///
    /// # Errors
    /// [`Kind::Internal`].
    pub async fn audit(&self, ws: WorkspaceId, filter: &AuditFilter) -> Result<AuditPage, Error> {
        let limit = filter.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
        // One more than the page, to know whether another page follows.
        let probe = AuditFilter {
            limit: Some(limit + 1),
            ..filter.clone()
        };
        let mut entries = self
            .store
            .list_audit(ws, &probe)
            .await
            .map_err(|e| store_error(e, not_found))?;
        let more = entries.len() > limit as usize;
        entries.truncate(limit as usize);
        let next = entries.last().map(|e| e.seq).filter(|_| more);
        let (next_after, next_before) = if filter.newest_first {
            (None, next)
        } else {
            (next, None)
        };
        Ok(AuditPage {
            entries,
            next_after,
            next_before,
        })
    }

    /// The workspace's audit entry `seq`, if it has one.
    ///
    /// # Errors
    /// [`Kind::Internal`].
    pub async fn audit_entry(
        &self,
        ws: WorkspaceId,
        seq: u64,
    ) -> Result<Option<AuditEntry>, Error> {
        let filter = AuditFilter {
            after_seq: Some(seq.saturating_sub(1)),
            limit: Some(1),
            ..AuditFilter::default()
        };
        let found = self
            .store
            .list_audit(ws, &filter)
            .await
            .map_err(|e| store_error(e, not_found))?;
        Ok(found.into_iter().find(|e| e.seq == seq))
    }

    /// Recomputes the workspace's keyed audit chain: intact, or the first entry that does not
    /// hold.
    ///
    /// # Errors
    /// [`Kind::Internal`].
    pub async fn verify_audit(&self, ws: WorkspaceId) -> Result<Verdict, Error> {
        self.store
            .verify_audit(ws)
            .await
            .map_err(|e| store_error(e, not_found))
    }

    /// The alerts recorded, newest first, at most `limit`, and whether each was delivered.
    ///
    /// # Errors
    /// [`Kind::Internal`].
    pub async fn alerts(&self, ws: WorkspaceId, limit: u32) -> Result<Vec<Alert>, Error> {
        self.store
            .list_alerts(ws, limit)
            .await
            .map_err(|e| store_error(e, not_found))
    }

    /// The workspace's own settings.
    ///
    /// # Errors
    /// [`Kind::Internal`].
    pub async fn settings(&self, ws: WorkspaceId) -> Result<Settings, Error> {
        let s = self
            .store
            .workspace_settings(ws)
            .await
            .map_err(|e| store_error(e, not_found))?;
        Ok(Settings {
            alert_webhook: s.alert_webhook.as_deref().map(webhook_shown),
            retention_days: s.retention_days,
        })
    }

    /// Sets the workspace's alert webhook (checked by [`alert_webhook`]), or clears it
    /// (`None`: the service's webhook, if any, is used), as `actor`; the audit entry names only
    /// where it points.
    ///
    /// # Errors
    /// [`Kind::Invalid`] for a URL that is not one; [`Kind::Internal`].
    pub async fn set_alert_webhook(
        &self,
        ws: WorkspaceId,
        actor: Actor,
        webhook: Option<&str>,
    ) -> Result<Settings, Error> {
        let webhook = webhook.map(alert_webhook).transpose()?;
        let shown = webhook.as_deref().map(webhook_shown);
        let entry = setting_entry(ALERT_WEBHOOK_SET, actor, json!({ "alert_webhook": shown }));
        self.store
            .set_alert_webhook_as(ws, webhook.as_deref(), Utc::now(), &entry)
            .await
            .map_err(|e| store_error(e, not_found))?;
        self.settings(ws).await
    }

    /// Sets the workspace's retention (1 to [`MAX_RETENTION_DAYS`] days) of its operations log
    /// and resolved dead letters, or clears it (`None`: the service's default), as `actor`.
    /// The audit log is never swept.
    ///
    /// # Errors
    /// [`Kind::Invalid`] for a number of days out of range; [`Kind::Internal`].
    pub async fn set_retention(
        &self,
        ws: WorkspaceId,
        actor: Actor,
        days: Option<u32>,
    ) -> Result<Settings, Error> {
        if let Some(d) = days {
            retention_days(&d.to_string())?;
        }
        let entry = setting_entry(RETENTION_SET, actor, json!({ "retention_days": days }));
        self.store
            .set_retention_as(ws, days, Utc::now(), &entry)
            .await
            .map_err(|e| store_error(e, not_found))?;
        self.settings(ws).await
    }

    /// Posts a test message to the workspace's own alert webhook now, as `actor`, and says
    /// what came back (the status, or why none came); recorded in the audit log.
    ///
    /// # Errors
    /// [`Kind::Conflict`] (`no_webhook`) when the workspace has none; [`Kind::Internal`].
    pub async fn test_alert(
        &self,
        ws: WorkspaceId,
        actor: Actor,
    ) -> Result<crate::alerts::TestOutcome, Error> {
        let settings = self
            .store
            .workspace_settings(ws)
            .await
            .map_err(|e| store_error(e, not_found))?;
        let Some(webhook) = settings.alert_webhook else {
            return Err(Error::new(
                Kind::Conflict,
                "no_webhook",
                "this workspace has no alert webhook: set one first",
            ));
        };
        let name = self
            .store
            .workspace(ws)
            .await
            .map_err(|e| store_error(e, not_found))?
            .map_or_else(|| ws.0.to_string(), |w| w.name);
        let outcome = crate::alerts::post_test(&webhook, &name, &actor.to_string())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "a test alert could not be made");
                Error::internal()
            })?;
        let entry = NewAuditEntry {
            response: Some(json!(outcome).to_string()),
            ..setting_entry(
                ALERT_TEST,
                actor,
                json!({ "alert_webhook": webhook_shown(&webhook) }),
            )
        };
        self.store
            .append_audit(ws, Utc::now(), &entry)
            .await
            .map_err(|e| store_error(e, not_found))?;
        Ok(outcome)
    }

    /// Acknowledges an alert, as `actor`: it is not posted to the webhook after that.
    ///
    /// # Errors
    /// [`Kind::NotFound`] when the workspace has no alert `id`; [`Kind::Internal`].
    pub async fn acknowledge_alert(
        &self,
        ws: WorkspaceId,
        actor: Actor,
        id: AlertId,
    ) -> Result<Alert, Error> {
        self.store
            .acknowledge_alert(ws, id, &actor.to_string(), Utc::now())
            .await
            .map_err(|e| {
                store_error(e, || {
                    Error::new(
                        Kind::NotFound,
                        "not_found",
                        format!(
                            "no alert {} in this workspace (GET /v1/alerts lists them)",
                            id.0
                        ),
                    )
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_parse_or_say_what_is_wrong() {
        assert_eq!(dead_letter_id("17"), Ok(DeadLetterId(17)));
        for raw in ["0", "-1", "abc", ""] {
            let e = dead_letter_id(raw).unwrap_err();
            assert_eq!(
                (e.kind, e.code),
                (Kind::Invalid, "invalid_request"),
                "{raw}"
            );
        }
        assert_eq!(limit("1"), Ok(1));
        assert_eq!(limit("1000"), Ok(MAX_LIMIT));
        for raw in ["0", "1001", "x", "-5"] {
            assert!(
                limit(raw).unwrap_err().message.contains("1 to 1000"),
                "{raw}"
            );
        }
        assert_eq!(dead_letter_status("open"), Ok(DeadLetterStatus::Open));
        assert!(
            dead_letter_status("bogus")
                .unwrap_err()
                .message
                .contains("open, replayed, discarded")
        );
        assert_eq!(job_status(""), Ok(None));
        assert_eq!(job_status("dead"), Ok(Some(JobStatus::Dead)));
        assert!(job_status("gone").is_err());
        assert_eq!(retention_days("1"), Ok(1));
        assert_eq!(retention_days(" 365 "), Ok(365));
        for raw in ["0", "366", "-1", "7.5", "a week", ""] {
            assert_eq!(
                retention_days(raw).unwrap_err().code,
                "invalid_retention",
                "{raw}"
            );
        }
        assert!(alert_webhook("https://hooks.example.com/T/B/x").is_ok());
        assert!(alert_webhook("http://127.0.0.1:9/hook").is_ok());
        for raw in [
            "hooks.example.com/x",
            "ftp://h/x",
            "javascript:alert(1)",
            "https://",
            "",
        ] {
            let e = alert_webhook(raw).unwrap_err();
            assert_eq!(e.code, "invalid_webhook", "{raw}");
        }
        // A refused URL is never echoed: it may hold a credential.
        let e = alert_webhook("ftp://hooks.example.com/T0/B0/s3cr3t").unwrap_err();
        assert!(!e.message.contains("s3cr3t"), "{}", e.message);
        assert_eq!(
            webhook_shown("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            webhook_shown("http://127.0.0.1:9/x"),
            "http://127.0.0.1:9/…"
        );
        assert_eq!(job_id("job-17"), Ok(JobId(17)));
        assert_eq!(job_id("17"), Ok(JobId(17)));
        for raw in ["job-0", "job-", "jobs-1", "x"] {
            assert!(job_id(raw).is_err(), "{raw}");
        }
    }
}
