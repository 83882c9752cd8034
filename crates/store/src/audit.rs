//! The audit log: append-only, hash-chained per workspace, verifiable.
//!
//! Entry `n` of a workspace stores `prev_hash` (entry `n-1`'s hash, or 32 zero bytes for the
//! first) and `hash = SHA-256(DOMAIN || prev_hash || canonical bytes)`, where the canonical bytes
//! are those [`entry_hash`] writes. Appending reads and moves the workspace's chain-head row in
//! the same transaction (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite has one writer), so two
//! appenders can never fork the chain. [`Store::verify_audit`] recomputes every hash and compares
//! the tail with the head row, so an edited, deleted, swapped or truncated entry is reported.
//!
//! Nothing here updates or deletes an entry; on PostgreSQL a trigger (see the migration) refuses
//! UPDATE, DELETE and TRUNCATE on the audit tables for everyone, this code included.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::keys::WorkspaceId;
use crate::{Backend, Error, Result, Store, from_ms, ms, with_pool};

/// The domain-separation prefix of every entry hash (version 1 of the format).
pub const DOMAIN: &[u8] = b"callforce.audit.v1\0";

/// The `prev_hash` of a chain's first entry: 32 zero bytes, in hex.
pub const GENESIS_HEX: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An entry to append.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// What happened (e.g. `write.attempt`, `write.done`, `deadletter.replay`).
    pub kind: String,
    /// The call it belongs to.
    pub call_id: Option<String>,
    /// The agent that acted.
    pub agent: Option<String>,
    /// The Salesforce record ids touched.
    pub record_ids: Vec<String>,
    /// The request sent (JSON text, secrets already removed).
    pub request: Option<String>,
    /// The response received (JSON text, secrets already removed).
    pub response: Option<String>,
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// The workspace whose chain it is in.
    pub workspace: WorkspaceId,
    /// Its place in the chain, from 1.
    pub seq: u64,
    /// When it was appended (as passed in).
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: String,
    /// The call it belongs to.
    pub call_id: Option<String>,
    /// The agent that acted.
    pub agent: Option<String>,
    /// The record ids touched.
    pub record_ids: Vec<String>,
    /// The request (JSON text).
    pub request: Option<String>,
    /// The response (JSON text).
    pub response: Option<String>,
    /// The previous entry's hash (hex).
    pub prev_hash: String,
    /// This entry's hash (hex).
    pub hash: String,
}

/// Filters for [`Store::list_audit`]; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this call's entries.
    pub call_id: Option<String>,
    /// Only entries that touched this record.
    pub record_id: Option<String>,
    /// Only entries at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Only entries before this time.
    pub to: Option<DateTime<Utc>>,
    /// Only entries whose kind starts with this (`config.`, `connection.`, `write.done`).
    pub kind_prefix: Option<String>,
    /// Only entries after this sequence number (for paging).
    pub after_seq: Option<u64>,
    /// At most this many (default 100).
    pub limit: Option<u32>,
}

/// What [`Store::verify_audit`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Every entry matches its hash and links to the one before; the tail matches the head.
    Intact {
        /// How many entries were checked.
        entries: u64,
    },
    /// The first place where the chain does not hold.
    Broken(ChainBreak),
}

/// Where and why a chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    /// The first sequence number that does not verify.
    pub seq: u64,
    /// Why.
    pub reason: BreakReason,
}

/// Why a chain does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakReason {
    /// The entry's content does not hash to its stored hash (it was edited).
    HashMismatch,
    /// The entry's `prev_hash` is not the previous entry's hash (entries removed or reordered).
    PrevHashMismatch,
    /// The entry with this sequence number is missing (deleted).
    Missing,
    /// The chain ends before, or differently from, its recorded head (tail truncated or altered).
    TailMismatch,
}

fn put_bytes(h: &mut Sha256, b: &[u8]) {
    h.update((b.len() as u64).to_be_bytes());
    h.update(b);
}

fn put_opt(h: &mut Sha256, s: Option<&str>) {
    match s {
        None => h.update([0u8]),
        Some(s) => {
            h.update([1u8]);
            put_bytes(h, s.as_bytes());
        }
    }
}

/// The hash of an entry: SHA-256 over [`DOMAIN`], `prev_hash`, then the canonical bytes:
/// workspace id (i64 big-endian), seq (u64 BE), `at` in Unix ms (i64 BE), kind, call id, agent,
/// the record-id count (u64 BE) and each id, request, response. A string is its byte length
/// (u64 BE) then its UTF-8 bytes; an optional string is `0x00` when absent, else `0x01` and the
/// string. Length prefixes make the encoding unambiguous.
pub fn entry_hash(
    prev_hash: &[u8; 32],
    workspace: WorkspaceId,
    seq: u64,
    at_ms: i64,
    entry: &NewAuditEntry,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(prev_hash);
    h.update(workspace.0.to_be_bytes());
    h.update(seq.to_be_bytes());
    h.update(at_ms.to_be_bytes());
    put_bytes(&mut h, entry.kind.as_bytes());
    put_opt(&mut h, entry.call_id.as_deref());
    put_opt(&mut h, entry.agent.as_deref());
    h.update((entry.record_ids.len() as u64).to_be_bytes());
    for id in &entry.record_ids {
        put_bytes(&mut h, id.as_bytes());
    }
    put_opt(&mut h, entry.request.as_deref());
    put_opt(&mut h, entry.response.as_deref());
    h.finalize().into()
}

/// Decodes 64 hex digits; `None` for anything else.
pub(crate) fn unhex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    workspace_id: i64,
    seq: i64,
    at: i64,
    kind: String,
    call_id: Option<String>,
    agent: Option<String>,
    record_ids: String,
    request: Option<String>,
    response: Option<String>,
    prev_hash: String,
    hash: String,
}

const AUDIT_COLUMNS: &str = "a.workspace_id, a.seq, a.at, a.kind, a.call_id, a.agent, \
    a.record_ids, a.request, a.response, a.prev_hash, a.hash";

impl AuditRow {
    fn into_entry(self) -> Result<AuditEntry> {
        Ok(AuditEntry {
            workspace: WorkspaceId(self.workspace_id),
            seq: u64::try_from(self.seq).map_err(|_| Error::Corrupt("audit seq"))?,
            at: from_ms(self.at)?,
            kind: self.kind,
            call_id: self.call_id,
            agent: self.agent,
            record_ids: serde_json::from_str(&self.record_ids)
                .map_err(|_| Error::Corrupt("audit record ids"))?,
            request: self.request,
            response: self.response,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

fn check_json(s: Option<&str>, what: &'static str) -> Result<()> {
    match s {
        Some(s) => serde_json::from_str::<serde::de::IgnoredAny>(s)
            .map(|_| ())
            .map_err(|_| Error::InvalidJson(what)),
        None => Ok(()),
    }
}

/// Checks that an entry's request and response are JSON, as [`append_in_tx`] expects.
///
/// # Errors
/// [`Error::InvalidJson`].
pub(crate) fn check_entry(entry: &NewAuditEntry) -> Result<()> {
    check_json(entry.request.as_deref(), "audit request")?;
    check_json(entry.response.as_deref(), "audit response")
}

/// Audit rows written per `INSERT` (11 bound values each).
pub(crate) const ROWS_PER_INSERT: usize = 500;

/// Entries read per round trip while verifying.
const VERIFY_PAGE: i64 = 1000;

/// The statement reading a workspace's chain head inside an appending transaction.
pub(crate) fn head_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SELECT seq, hash FROM audit_heads WHERE workspace_id = $1",
        // The row lock serialises appenders of one workspace across connections and instances.
        Backend::Postgres => "SELECT seq, hash FROM audit_heads WHERE workspace_id = $1 FOR UPDATE",
    }
}

/// Appends `$entries` (`(DateTime<Utc>, &NewAuditEntry)` pairs whose JSON was checked, in chain
/// order) to `$workspace`'s chain inside the open write transaction `$tx`, reading and moving the
/// chain head once, evaluating to the appended [`AuditEntry`]s. Written as a macro so that it
/// compiles once per backend inside [`with_pool`] bodies, and so that another operation (a
/// dead-letter replay, a worker's finished jobs) and its audit entries commit together or not
/// at all. Uses `?`: the enclosing function returns [`crate::Result`].
macro_rules! append_all_in_tx {
    ($tx:ident, $head_sql:expr, $workspace:expr, $entries:expr) => {{
        let workspace: $crate::keys::WorkspaceId = $workspace;
        let head: Option<(i64, String)> = sqlx::query_as($head_sql)
            .bind(workspace.0)
            .fetch_optional(&mut *$tx)
            .await?;
        let (head_seq, head_hash) = head.ok_or($crate::Error::NotFound)?;
        let mut seq_i = head_seq;
        let mut prev_hash = head_hash;
        let mut appended = Vec::new();
        for &(now, entry) in $entries {
            let now: chrono::DateTime<chrono::Utc> = now;
            let entry: &$crate::audit::NewAuditEntry = entry;
            let at = $crate::ms(now);
            let prev = $crate::audit::unhex32(&prev_hash)
                .ok_or($crate::Error::Corrupt("audit head hash"))?;
            let seq =
                u64::try_from(seq_i).map_err(|_| $crate::Error::Corrupt("audit head seq"))? + 1;
            let hash =
                $crate::keys::hex(&$crate::audit::entry_hash(&prev, workspace, seq, at, entry));
            seq_i += 1;
            appended.push($crate::audit::AuditEntry {
                workspace,
                seq,
                at: $crate::from_ms(at)?,
                kind: entry.kind.clone(),
                call_id: entry.call_id.clone(),
                agent: entry.agent.clone(),
                record_ids: entry.record_ids.clone(),
                request: entry.request.clone(),
                response: entry.response.clone(),
                prev_hash: std::mem::replace(&mut prev_hash, hash.clone()),
                hash,
            });
        }
        // NB: multi-row statements, a few hundred rows each (well within both databases'
        // limits on bound values): a worker's round appends dozens of entries at once.
        for chunk in appended.chunks($crate::audit::ROWS_PER_INSERT) {
            let mut rows = Vec::with_capacity(chunk.len());
            for e in chunk {
                let seq = i64::try_from(e.seq).map_err(|_| $crate::Error::Corrupt("audit seq"))?;
                let ids = serde_json::to_string(&e.record_ids)
                    .map_err(|_| $crate::Error::Corrupt("record ids"))?;
                rows.push((e, seq, ids));
            }
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO audit_log (workspace_id, seq, at, kind, call_id, agent, record_ids, \
                   request, response, prev_hash, hash) ",
            );
            q.push_values(&rows, |mut b, (e, seq, ids)| {
                b.push_bind(workspace.0)
                    .push_bind(*seq)
                    .push_bind($crate::ms(e.at))
                    .push_bind(e.kind.as_str())
                    .push_bind(e.call_id.as_deref())
                    .push_bind(e.agent.as_deref())
                    .push_bind(ids.as_str())
                    .push_bind(e.request.as_deref())
                    .push_bind(e.response.as_deref())
                    .push_bind(e.prev_hash.as_str())
                    .push_bind(e.hash.as_str());
            });
            q.build().execute(&mut *$tx).await?;
            let ids: Vec<(i64, &str)> = rows
                .iter()
                .flat_map(|(e, seq, _)| e.record_ids.iter().map(move |id| (*seq, id.as_str())))
                .collect();
            if !ids.is_empty() {
                let mut q = sqlx::QueryBuilder::new(
                    "INSERT INTO audit_record_ids (workspace_id, seq, record_id) ",
                );
                q.push_values(&ids, |mut b, (seq, id)| {
                    b.push_bind(workspace.0).push_bind(*seq).push_bind(*id);
                });
                q.push(" ON CONFLICT DO NOTHING");
                q.build().execute(&mut *$tx).await?;
            }
        }
        if !appended.is_empty() {
            sqlx::query("UPDATE audit_heads SET seq = $2, hash = $3 WHERE workspace_id = $1")
                .bind(workspace.0)
                .bind(seq_i)
                .bind(&prev_hash)
                .execute(&mut *$tx)
                .await?;
        }
        appended
    }};
}
pub(crate) use append_all_in_tx;

/// Appends one entry (`$entry`, a checked `&NewAuditEntry`) at `$now`, as [`append_all_in_tx`]
/// does, evaluating to the [`AuditEntry`].
macro_rules! append_in_tx {
    ($tx:ident, $head_sql:expr, $workspace:expr, $now:expr, $entry:expr) => {{
        let entry: &$crate::audit::NewAuditEntry = $entry;
        $crate::audit::append_all_in_tx!($tx, $head_sql, $workspace, &[($now, entry)])
            .pop()
            .ok_or($crate::Error::Corrupt("audit entry not appended"))?
    }};
}
pub(crate) use append_in_tx;

impl Store {
    /// Appends an entry to the workspace's chain at time `now` and returns it.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown workspace; [`Error::InvalidJson`] for a request or
    /// response that is not JSON; database errors.
    pub async fn append_audit(
        &self,
        workspace: WorkspaceId,
        now: DateTime<Utc>,
        entry: &NewAuditEntry,
    ) -> Result<AuditEntry> {
        check_entry(entry)?;
        let head_sql = head_sql(self.backend());
        with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            let appended = append_in_tx!(tx, head_sql, workspace, now, entry);
            tx.commit().await?;
            Ok(appended)
        })
    }

    /// The workspace's entries matching `filter`, in chain order.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_audit(
        &self,
        workspace: WorkspaceId,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEntry>> {
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log a WHERE a.workspace_id = $1 \
             AND ($2 IS NULL OR a.call_id = $2) \
             AND ($3 IS NULL OR EXISTS (SELECT 1 FROM audit_record_ids r \
                   WHERE r.workspace_id = a.workspace_id AND r.seq = a.seq AND r.record_id = $3)) \
             AND ($4 IS NULL OR a.at >= $4) AND ($5 IS NULL OR a.at < $5) AND a.seq > $6 \
             AND ($8 IS NULL OR substr(a.kind, 1, length($8)) = $8) \
             ORDER BY a.seq LIMIT $7"
        );
        let after = i64::try_from(filter.after_seq.unwrap_or(0)).unwrap_or(i64::MAX);
        let rows: Vec<AuditRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql)
                .bind(workspace.0)
                .bind(&filter.call_id)
                .bind(&filter.record_id)
                .bind(filter.from.map(ms))
                .bind(filter.to.map(ms))
                .bind(after)
                .bind(i64::from(filter.limit.unwrap_or(100)))
                .bind(&filter.kind_prefix)
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(AuditRow::into_entry).collect()
    }

    /// Every workspace that has an audit chain, by id (for verifying them all).
    ///
    /// # Errors
    /// Database errors.
    pub async fn audit_workspaces(&self) -> Result<Vec<WorkspaceId>> {
        let rows: Vec<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT workspace_id FROM audit_heads ORDER BY workspace_id")
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(|(id,)| WorkspaceId(id)).collect())
    }

    /// Recomputes the workspace's whole chain and reports the first entry that does not hold.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown workspace; database errors. A stored value that cannot
    /// even be decoded is reported as a break, not an error.
    pub async fn verify_audit(&self, workspace: WorkspaceId) -> Result<Verdict> {
        let head: Option<(i64, String)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE workspace_id = $1")
                .bind(workspace.0)
                .fetch_optional(pool)
                .await?
        });
        let (head_seq, head_hash) = head.ok_or(Error::NotFound)?;
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log a WHERE a.workspace_id = $1 AND a.seq > $2 \
             ORDER BY a.seq LIMIT $3"
        );
        let broken = |seq: u64, reason| Ok(Verdict::Broken(ChainBreak { seq, reason }));
        let mut expected: u64 = 1;
        let mut prev = [0u8; 32];
        let mut last_seen: i64 = 0;
        loop {
            let rows: Vec<AuditRow> = with_pool!(self, pool => {
                sqlx::query_as(&sql)
                    .bind(workspace.0)
                    .bind(last_seen)
                    .bind(VERIFY_PAGE)
                    .fetch_all(pool)
                    .await?
            });
            let page_len = rows.len() as i64;
            for row in rows {
                last_seen = row.seq;
                if u64::try_from(row.seq).ok() != Some(expected) {
                    return broken(expected, BreakReason::Missing);
                }
                if unhex32(&row.prev_hash) != Some(prev) {
                    return broken(expected, BreakReason::PrevHashMismatch);
                }
                let Ok(e) = row.into_entry() else {
                    return broken(expected, BreakReason::HashMismatch);
                };
                let entry = NewAuditEntry {
                    kind: e.kind,
                    call_id: e.call_id,
                    agent: e.agent,
                    record_ids: e.record_ids,
                    request: e.request,
                    response: e.response,
                };
                let h = entry_hash(&prev, workspace, expected, ms(e.at), &entry);
                if unhex32(&e.hash) != Some(h) {
                    return broken(expected, BreakReason::HashMismatch);
                }
                prev = h;
                expected += 1;
            }
            if page_len < VERIFY_PAGE {
                break;
            }
        }
        let entries = expected - 1;
        if i64::try_from(entries).ok() != Some(head_seq) || unhex32(&head_hash) != Some(prev) {
            return broken(expected, BreakReason::TailMismatch);
        }
        Ok(Verdict::Intact { entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::hex;

    fn base() -> NewAuditEntry {
        NewAuditEntry {
            kind: "write.done".into(),
            call_id: Some("call-1".into()),
            agent: Some("agent".into()),
            record_ids: vec!["003000000000001AAA".into()],
            request: Some("{}".into()),
            response: None,
        }
    }

    #[test]
    fn every_field_changes_the_hash() {
        let zero = [0u8; 32];
        let h = entry_hash(&zero, WorkspaceId(1), 1, 1000, &base());
        let mut e_kind = base();
        e_kind.kind = "write.fail".into();
        let mut e_call = base();
        e_call.call_id = None;
        let mut e_agent = base();
        e_agent.agent = Some(String::new());
        let mut e_ids = base();
        e_ids.record_ids.push("x".into());
        let mut e_req = base();
        e_req.request = Some("[]".into());
        let mut e_resp = base();
        e_resp.response = Some("{}".into());
        let cases = [
            (
                "prev hash",
                entry_hash(&[1u8; 32], WorkspaceId(1), 1, 1000, &base()),
            ),
            (
                "workspace",
                entry_hash(&zero, WorkspaceId(2), 1, 1000, &base()),
            ),
            ("seq", entry_hash(&zero, WorkspaceId(1), 2, 1000, &base())),
            ("at", entry_hash(&zero, WorkspaceId(1), 1, 1001, &base())),
            ("kind", entry_hash(&zero, WorkspaceId(1), 1, 1000, &e_kind)),
            (
                "call id absent",
                entry_hash(&zero, WorkspaceId(1), 1, 1000, &e_call),
            ),
            (
                "agent empty",
                entry_hash(&zero, WorkspaceId(1), 1, 1000, &e_agent),
            ),
            (
                "record ids",
                entry_hash(&zero, WorkspaceId(1), 1, 1000, &e_ids),
            ),
            (
                "request",
                entry_hash(&zero, WorkspaceId(1), 1, 1000, &e_req),
            ),
            (
                "response",
                entry_hash(&zero, WorkspaceId(1), 1, 1000, &e_resp),
            ),
        ];
        for (what, other) in cases {
            assert_ne!(h, other, "{what}");
        }
    }

    #[test]
    fn length_prefixes_keep_field_boundaries() {
        let zero = [0u8; 32];
        let mut a = base();
        a.record_ids = vec!["ab".into(), "c".into()];
        let mut b = base();
        b.record_ids = vec!["a".into(), "bc".into()];
        assert_ne!(
            entry_hash(&zero, WorkspaceId(1), 1, 0, &a),
            entry_hash(&zero, WorkspaceId(1), 1, 0, &b)
        );
    }

    #[test]
    fn unhex32_round_trips_and_rejects_bad_input() {
        let bytes = [0xabu8; 32];
        assert_eq!(unhex32(&hex(&bytes)), Some(bytes));
        assert_eq!(unhex32(GENESIS_HEX), Some([0u8; 32]));
        assert_eq!(unhex32("abc"), None);
        assert_eq!(unhex32(&"zz".repeat(32)), None);
    }
}
