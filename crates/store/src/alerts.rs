//! The alert outbox: alerts for the admins, recorded durably and delivered by a sender.
//!
//! An alert is written in the transaction of the event it announces: [`Store::dead`] records a
//! [`KIND_DEAD_LETTER`] alert with the dead letter it opens (a unique key makes it exactly one
//! alert per dead letter), and a connection that needs re-authorisation records a
//! [`KIND_NEEDS_REAUTH`] alert with [`Store::record_alert`]. A live intent map that breaks is
//! alerted with its deactivation ([`Store::deactivate_intent_map`]), or once per version and
//! problems ([`Store::alert_intent_map_once`]). A sender (the service's webhook
//! task) takes due alerts with [`Store::claim_alerts`], posts them, and records the outcome with
//! [`Store::alert_sent`] or [`Store::alert_failed`] (which schedules the next try).
//!
//! Delivery is at least once: a sender that dies after the webhook took an alert but before
//! `alert_sent` committed posts it again once its claim has run out. An admin acknowledges an
//! alert ([`Store::acknowledge_alert`]) to say it was seen: an acknowledged alert is not posted
//! any more. A dead letter whose replay fails again re-opens its alert (pending, not
//! acknowledged) rather than recording another one.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::keys::WorkspaceId;
use crate::queue::DeadLetterId;
use crate::{Backend, Error, Result, Store, from_ms, from_ms_opt, ms, with_pool};

/// The kind of alert recorded when a job becomes a dead letter.
pub const KIND_DEAD_LETTER: &str = "dead_letter";

/// The kind of alert recorded when a connection needs to be authorised again.
pub const KIND_NEEDS_REAUTH: &str = "connection_needs_reauth";

/// The id of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AlertId(pub i64);

/// Whether an alert has been delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Not delivered yet (the sender keeps trying).
    Pending,
    /// The webhook took it.
    Sent,
}

impl AlertStatus {
    fn parse(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(AlertStatus::Pending),
            "sent" => Ok(AlertStatus::Sent),
            _ => Err(Error::Corrupt("alert status")),
        }
    }
}

/// An alert to record with [`Store::record_alert`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    /// What it is about: [`KIND_NEEDS_REAUTH`], or another kind the sender knows.
    pub kind: String,
    /// What happened, for the message (for a connection: `connection_id`, `reason`...).
    pub details: serde_json::Value,
}

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Its id.
    pub id: AlertId,
    /// The workspace it concerns.
    pub workspace: WorkspaceId,
    /// What it is about.
    pub kind: String,
    /// The dead letter it announces, for [`KIND_DEAD_LETTER`].
    pub dead_letter: Option<DeadLetterId>,
    /// What happened. For a dead letter: `dead_letter_id`, `job_id`, `kind`, `action` (from the
    /// payload, when it names one), `connection_id`, `call_id`, `agent`, `attempts`, `error` (the
    /// last attempt's), `idempotency_key`.
    pub details: serde_json::Value,
    /// Delivered or not.
    pub status: AlertStatus,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When the sender may next try it.
    pub next_attempt_at: DateTime<Utc>,
    /// The last delivery failure.
    pub last_error: Option<String>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
    /// When the webhook took it.
    pub sent_at: Option<DateTime<Utc>>,
    /// When an admin acknowledged it (it is not posted after that).
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who acknowledged it (`api-key:3`, `cli`).
    pub acknowledged_by: Option<String>,
}

#[derive(sqlx::FromRow)]
struct AlertRow {
    id: i64,
    workspace_id: i64,
    kind: String,
    dead_letter_id: Option<i64>,
    details: String,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
    acknowledged_at: Option<i64>,
    acknowledged_by: Option<String>,
}

const ALERT_COLUMNS: &str = "id, workspace_id, kind, dead_letter_id, details, status, attempts, \
    next_attempt_at, last_error, created_at, sent_at, acknowledged_at, acknowledged_by";

impl AlertRow {
    fn into_alert(self) -> Result<Alert> {
        Ok(Alert {
            id: AlertId(self.id),
            workspace: WorkspaceId(self.workspace_id),
            kind: self.kind,
            dead_letter: self.dead_letter_id.map(DeadLetterId),
            details: serde_json::from_str(&self.details)
                .map_err(|_| Error::Corrupt("alert details"))?,
            status: AlertStatus::parse(&self.status)?,
            attempts: u32::try_from(self.attempts).map_err(|_| Error::Corrupt("alert attempts"))?,
            next_attempt_at: from_ms(self.next_attempt_at)?,
            last_error: self.last_error,
            created_at: from_ms(self.created_at)?,
            sent_at: from_ms_opt(self.sent_at)?,
            acknowledged_at: from_ms_opt(self.acknowledged_at)?,
            acknowledged_by: self.acknowledged_by,
        })
    }
}

/// The SQL inserting an alert inside another transaction (binds: workspace, kind, dead letter,
/// details, now).
pub(crate) const INSERT_ALERT: &str = "INSERT INTO alerts (workspace_id, kind, dead_letter_id, \
    details, status, attempts, next_attempt_at, created_at) \
    VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5) RETURNING id";

impl Store {
    /// Records an alert for the sender to deliver, due at once.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown workspace; database errors.
    pub async fn record_alert(
        &self,
        workspace: WorkspaceId,
        alert: &NewAlert,
        now: DateTime<Utc>,
    ) -> Result<AlertId> {
        let details =
            serde_json::to_string(&alert.details).map_err(|_| Error::Corrupt("alert details"))?;
        let (id,): (i64,) = with_pool!(self, pool => {
            sqlx::query_as(INSERT_ALERT)
                .bind(workspace.0)
                .bind(&alert.kind)
                .bind(None::<i64>)
                .bind(&details)
                .bind(ms(now))
                .fetch_one(pool)
                .await
                .map_err(|e| {
                    if e.as_database_error().is_some_and(|d| d.is_foreign_key_violation()) {
                        Error::NotFound
                    } else {
                        Error::Database(e)
                    }
                })?
        });
        Ok(AlertId(id))
    }

    /// Takes up to `limit` pending alerts due at `now` (oldest first) for delivery, across
    /// workspaces, and holds them until `now + hold`: another sender (another instance on the
    /// same PostgreSQL) does not take them meanwhile, and they come back by themselves if this
    /// sender dies.
    ///
    /// # Errors
    /// Database errors.
    pub async fn claim_alerts(
        &self,
        now: DateTime<Utc>,
        hold: TimeDelta,
        limit: u32,
    ) -> Result<Vec<Alert>> {
        let lock = match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE alerts SET next_attempt_at = $2 WHERE id IN (SELECT id FROM alerts \
               WHERE status = 'pending' AND acknowledged_at IS NULL AND next_attempt_at <= $1 \
               ORDER BY next_attempt_at, id LIMIT $3 {lock}) \
             RETURNING {ALERT_COLUMNS}"
        );
        let rows: Vec<AlertRow> = with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            let rows = sqlx::query_as(&sql)
                .bind(ms(now))
                .bind(ms(now + hold))
                .bind(i64::from(limit))
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            rows
        });
        let mut alerts = rows
            .into_iter()
            .map(AlertRow::into_alert)
            .collect::<Result<Vec<_>>>()?;
        alerts.sort_by_key(|a| a.id);
        Ok(alerts)
    }

    /// Records that the webhook took the alert.
    ///
    /// # Errors
    /// [`Error::NotFound`]; database errors.
    pub async fn alert_sent(&self, id: AlertId, now: DateTime<Utc>) -> Result<()> {
        let n = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE alerts SET status = 'sent', attempts = attempts + 1, sent_at = $2, \
                   last_error = NULL WHERE id = $1",
            )
            .bind(id.0)
            .bind(ms(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        if n == 0 { Err(Error::NotFound) } else { Ok(()) }
    }

    /// Records a failed delivery and when to try again.
    ///
    /// # Errors
    /// [`Error::InvalidState`] when it is not pending (sent meanwhile, or unknown); database
    /// errors.
    pub async fn alert_failed(
        &self,
        id: AlertId,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<()> {
        let n = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE alerts SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3 \
                 WHERE id = $1 AND status = 'pending'",
            )
            .bind(id.0)
            .bind(ms(next_attempt_at))
            .bind(error)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if n == 0 {
            Err(Error::InvalidState("the alert is not pending"))
        } else {
            Ok(())
        }
    }

    /// Acknowledges one of the workspace's alerts as seen by `actor` (`api-key:3`, `cli`): it is not
    /// posted after that. Acknowledging it again keeps the first acknowledgement. The first
    /// acknowledgement appends an `alert.acknowledge` entry to the audit log in the same
    /// transaction.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the workspace has no such alert; database errors.
    pub async fn acknowledge_alert(
        &self,
        workspace: WorkspaceId,
        id: AlertId,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Alert> {
        let sql = format!(
            "UPDATE alerts SET acknowledged_at = $3, acknowledged_by = $4 \
             WHERE workspace_id = $1 AND id = $2 AND acknowledged_at IS NULL \
             RETURNING {ALERT_COLUMNS}"
        );
        let select =
            format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE workspace_id = $1 AND id = $2");
        let appender = self.audit_appender();
        let row: Option<AlertRow> = with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            let updated: Option<AlertRow> = sqlx::query_as(&sql)
                .bind(workspace.0)
                .bind(id.0)
                .bind(ms(now))
                .bind(actor)
                .fetch_optional(&mut *tx)
                .await?;
            let row = match updated {
                Some(row) => {
                    let entry = crate::audit::NewAuditEntry {
                        kind: "alert.acknowledge".into(),
                        call_id: None,
                        agent: Some(actor.to_owned()),
                        record_ids: Vec::new(),
                        request: Some(
                            serde_json::json!({"alert_id": id.0, "kind": row.kind}).to_string(),
                        ),
                        response: None,
                    };
                    crate::audit::append_in_tx!(tx, appender, workspace, now, &entry);
                    Some(row)
                }
                // Already acknowledged (kept as it was), or not this workspace's.
                None => sqlx::query_as(&select)
                    .bind(workspace.0)
                    .bind(id.0)
                    .fetch_optional(&mut *tx)
                    .await?,
            };
            tx.commit().await?;
            row
        });
        row.ok_or(Error::NotFound)?.into_alert()
    }

    /// The workspace's alerts, newest first, at most `limit`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_alerts(&self, workspace: WorkspaceId, limit: u32) -> Result<Vec<Alert>> {
        let sql = format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE workspace_id = $1 ORDER BY id DESC LIMIT $2"
        );
        let rows: Vec<AlertRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql)
                .bind(workspace.0)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(AlertRow::into_alert).collect()
    }
}
