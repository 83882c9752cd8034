//! Queue helpers for the write pipeline: whether a record has writes still waiting (so a
//! blocking write does not overtake them), and handing a leased job back without counting an
//! attempt (a paused connection, a session being renewed).

use chrono::{DateTime, Utc};

use crate::keys::WorkspaceId;
use crate::queue::JobId;
use crate::{Error, Result, Store, ms, with_pool};

impl Store {
    /// Whether the workspace has a `queued` or `leased` job with this ordering key.
    ///
    /// # Errors
    /// Database errors.
    pub async fn has_unfinished(&self, workspace: WorkspaceId, ordering_key: &str) -> Result<bool> {
        let row: Option<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id FROM jobs WHERE workspace_id = $1 AND ordering_key = $2 \
                 AND status IN ('queued', 'leased') LIMIT 1",
            )
            .bind(workspace.0)
            .bind(ordering_key)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.is_some())
    }

    /// Hands a leased job back to the queue, due at `next_run_at`, without counting an attempt
    /// or recording an error (the attempt never ran, or failed for a reason that is not the
    /// job's: its connection is paused).
    ///
    /// # Errors
    /// [`Error::LeaseLost`] when `owner` does not hold the job; database errors.
    pub async fn release(
        &self,
        id: JobId,
        owner: &str,
        now: DateTime<Utc>,
        next_run_at: DateTime<Utc>,
    ) -> Result<()> {
        let n = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE jobs SET status = 'queued', next_run_at = $3, lease_owner = NULL, \
                   lease_until = NULL, updated_at = $4 \
                 WHERE id = $1 AND status = 'leased' AND lease_owner = $2",
            )
            .bind(id.0)
            .bind(owner)
            .bind(ms(next_run_at))
            .bind(ms(now))
            .execute(pool)
            .await?
            .rows_affected()
        });
        if n == 0 {
            Err(Error::LeaseLost)
        } else {
            Ok(())
        }
    }
}
