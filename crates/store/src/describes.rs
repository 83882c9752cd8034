//! The describes a connection's non-blocking writes are checked against, one per connection and
//! object, as JSON text. The service fetches them when a connection connects and refreshes them
//! in the background; at start it hands them to each connection's describe cache, so a
//! non-blocking write never waits on the org for one. The store never interprets them.

use chrono::{DateTime, Utc};

use crate::keys::WorkspaceId;
use crate::{Error, Result, Store, from_ms, ms, with_pool};

/// One stored describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDescribe {
    /// The object's API name in lower case (names are case-insensitive).
    pub object: String,
    /// The describe (JSON).
    pub describe: String,
    /// When it was fetched from the org.
    pub fetched_at: DateTime<Utc>,
}

impl Store {
    /// Stores the describe of `object` for connection `connection_id` of `workspace`, replacing
    /// the one stored before.
    ///
    /// # Errors
    /// [`Error::InvalidJson`] when `describe` is not JSON; [`Error::NotFound`] when the
    /// connection is not one of `workspace`'s; database errors.
    pub async fn put_describe(
        &self,
        workspace: WorkspaceId,
        connection_id: &str,
        object: &str,
        describe: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        if serde_json::from_str::<serde_json::Value>(describe).is_err() {
            return Err(Error::InvalidJson("describe"));
        }
        with_pool!(self, pool => {
            // NB: the SELECT keeps another workspace's connection out: no row, no insert.
            let done = sqlx::query(
                "INSERT INTO describes (connection_id, object, workspace_id, describe, fetched_at) \
                 SELECT id, $3, workspace_id, $4, $5 FROM connections \
                 WHERE id = $2 AND workspace_id = $1 \
                 ON CONFLICT (connection_id, object) DO UPDATE SET \
                 describe = excluded.describe, fetched_at = excluded.fetched_at",
            )
            .bind(workspace.0)
            .bind(connection_id)
            .bind(object.to_ascii_lowercase())
            .bind(describe)
            .bind(ms(now))
            .execute(pool)
            .await?;
            if done.rows_affected() == 0 {
                return Err(Error::NotFound);
            }
            Ok(())
        })
    }

    /// The describes stored for connection `connection_id` of `workspace`, by object.
    ///
    /// # Errors
    /// Database errors.
    pub async fn describes(
        &self,
        workspace: WorkspaceId,
        connection_id: &str,
    ) -> Result<Vec<StoredDescribe>> {
        with_pool!(self, pool => {
            let rows: Vec<(String, String, i64)> = sqlx::query_as(
                "SELECT object, describe, fetched_at FROM describes \
                 WHERE workspace_id = $1 AND connection_id = $2 ORDER BY object",
            )
            .bind(workspace.0)
            .bind(connection_id)
            .fetch_all(pool)
            .await?;
            rows.into_iter()
                .map(|(object, describe, at)| {
                    Ok(StoredDescribe {
                        object,
                        describe,
                        fetched_at: from_ms(at)?,
                    })
                })
                .collect()
        })
    }
}
