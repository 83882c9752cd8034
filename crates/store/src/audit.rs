//! The audit log: append-only, hash-chained per workspace, keyed, verifiable.
//!
//! Entry `n` of a workspace stores `prev_hash` (entry `n-1`'s hash, or 32 zero bytes for the
//! first) and its `hash`. A store given [`AuditKeys`] ([`Store::with_audit_keys`]) appends keyed
//! entries: `hash = HMAC-SHA256(key, KEYED_DOMAIN || key version || prev_hash || canonical
//! bytes)` ([`keyed_entry_hash`]), with the key's version stored in the entry (`key_version`).
//! Without keys, and for every entry written before keys existed, `hash = SHA-256(DOMAIN ||
//! prev_hash || canonical bytes)` ([`entry_hash`]): such entries are only hash-chained, and
//! anyone who can write the database can recompute them. Once the database has a vault key (or
//! a chain holds a keyed entry), an appender without a key is refused
//! ([`Error::AuditKeyRequired`]), and the verifier reports an unkeyed entry after a keyed one as
//! a break.
//!
//! Appending reads and moves the workspace's chain-head row in the same transaction (`SELECT ...
//! FOR UPDATE` on PostgreSQL; SQLite has one writer), so two appenders can never fork the chain.
//! [`Store::verify_audit`] recomputes every hash and compares the tail with the head row, so an
//! edited, deleted, swapped or truncated entry is reported, except that the head row lives in
//! the same database: a tail deleted together with the head moved back is only caught against
//! a checkpoint kept outside it ([`Store::verify_audit_against`]).
//!
//! Nothing here updates or deletes an entry; on PostgreSQL a trigger (see the migration) refuses
//! UPDATE, DELETE and TRUNCATE on the audit tables for everyone, this code included.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::digest::Update;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::keys::WorkspaceId;
use crate::{Backend, Error, Result, Store, from_ms, ms, with_pool};

/// The domain-separation prefix of every entry hash (version 1 of the format).
pub const DOMAIN: &[u8] = b"callforce.audit.v1\0";

/// The domain-separation prefix of every keyed entry's HMAC (version 2 of the format).
pub const KEYED_DOMAIN: &[u8] = b"callforce.audit.v2\0";

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
    /// The version of the audit key whose HMAC `hash` is; `None` for an entry that is only
    /// hash-chained (written before keys existed, or by a store without keys).
    pub key_version: Option<i64>,
}

/// The audit HMAC keys by version (the vault's master-key versions they were derived from),
/// and which one new entries are keyed with. The keys are zeroized when dropped and never
/// printed.
#[derive(Clone, Default)]
pub struct AuditKeys {
    current: Option<i64>,
    keys: BTreeMap<i64, Zeroizing<[u8; 32]>>,
}

impl fmt::Debug for AuditKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditKeys")
            .field("current", &self.current)
            .field("versions", &self.keys.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl AuditKeys {
    /// Keys whose newest version, `version`, keys new entries. A version below 1 is ignored
    /// (0 and absent mean "not keyed" in a stored entry).
    pub fn new(version: i64, key: Zeroizing<[u8; 32]>) -> Self {
        let mut keys = Self::default();
        if version >= 1 {
            keys.keys.insert(version, key);
            keys.current = Some(version);
        }
        keys
    }

    /// Adds the key of an older version, to verify the entries it keyed (a version below 1, or
    /// the current one, is ignored).
    pub fn add_older(&mut self, version: i64, key: Zeroizing<[u8; 32]>) {
        if version >= 1 && Some(version) != self.current {
            self.keys.insert(version, key);
        }
    }

    /// The version new entries are keyed with; `None` when there is no key.
    pub fn current(&self) -> Option<i64> {
        self.current
    }

    /// Every version held, oldest first.
    pub fn versions(&self) -> Vec<i64> {
        self.keys.keys().copied().collect()
    }

    /// The key of `version`, if held.
    pub fn key(&self, version: i64) -> Option<&[u8; 32]> {
        self.keys.get(&version).map(|k| &**k)
    }

    fn current_key(&self) -> Option<(i64, &[u8; 32])> {
        let v = self.current?;
        Some((v, self.key(v)?))
    }
}

/// A checkpoint of a chain, taken from outside the database: the hash its entry `index` had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// The entry's sequence number.
    pub index: u64,
    /// The entry's hash then.
    pub hash: [u8; 32],
}

/// A workspace's chain head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditHead {
    /// The workspace.
    pub workspace: WorkspaceId,
    /// Its last entry's sequence number (0 for an empty chain).
    pub seq: u64,
    /// Its last entry's hash (hex; [`GENESIS_HEX`] for an empty chain).
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
    /// Only entries whose actor is this (the `agent` column: `api-key:17`, `cli`, an agent).
    pub agent: Option<String>,
    /// Only entries after this sequence number (for paging oldest first).
    pub after_seq: Option<u64>,
    /// Only entries before this sequence number (for paging newest first).
    pub before_seq: Option<u64>,
    /// Newest first (descending `seq`) instead of chain order.
    pub newest_first: bool,
    /// At most this many (default 100).
    pub limit: Option<u32>,
}

/// What [`Store::verify_audit`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Every entry matches its hash (its HMAC, for a keyed entry) and links to the one before;
    /// the tail matches the head and every checkpoint given.
    Intact {
        /// How many entries were checked.
        entries: u64,
        /// How many of them are only hash-chained (not keyed): anyone who could write the
        /// database could have recomputed them.
        unkeyed: u64,
    },
    /// Nothing found broken, but some keyed entries could not be checked: the store holds no
    /// key of their version. Their links to each other were checked, not their content.
    Unchecked {
        /// How many entries there are.
        entries: u64,
        /// How many of them are only hash-chained.
        unkeyed: u64,
        /// How many keyed entries could not be checked.
        unchecked: u64,
        /// The key versions that were missing.
        missing_versions: Vec<i64>,
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
    /// An entry that is not keyed follows a keyed one (appended without the key, or rewritten
    /// as only hash-chained by someone without it).
    Unkeyed,
    /// The entry's hash differs from the one a checkpoint recorded for it (the chain was
    /// rewritten and recomputed after the checkpoint).
    CheckpointMismatch,
    /// The chain ends before an entry a checkpoint recorded (the tail was deleted, and the head
    /// moved back with it).
    BelowCheckpoint,
}

fn put_bytes(h: &mut impl Update, b: &[u8]) {
    h.update(&(b.len() as u64).to_be_bytes());
    h.update(b);
}

fn put_opt(h: &mut impl Update, s: Option<&str>) {
    match s {
        None => h.update(&[0u8]),
        Some(s) => {
            h.update(&[1u8]);
            put_bytes(h, s.as_bytes());
        }
    }
}

/// Writes `prev_hash` and the canonical bytes of an entry (see [`entry_hash`]).
fn put_entry(
    h: &mut impl Update,
    prev_hash: &[u8; 32],
    workspace: WorkspaceId,
    seq: u64,
    at_ms: i64,
    entry: &NewAuditEntry,
) {
    h.update(prev_hash);
    h.update(&workspace.0.to_be_bytes());
    h.update(&seq.to_be_bytes());
    h.update(&at_ms.to_be_bytes());
    put_bytes(h, entry.kind.as_bytes());
    put_opt(h, entry.call_id.as_deref());
    put_opt(h, entry.agent.as_deref());
    h.update(&(entry.record_ids.len() as u64).to_be_bytes());
    for id in &entry.record_ids {
        put_bytes(h, id.as_bytes());
    }
    put_opt(h, entry.request.as_deref());
    put_opt(h, entry.response.as_deref());
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
    Update::update(&mut h, DOMAIN);
    put_entry(&mut h, prev_hash, workspace, seq, at_ms, entry);
    h.finalize().into()
}

/// The hash of a keyed entry: HMAC-SHA256 under `key` over [`KEYED_DOMAIN`], the key's
/// `version` (i64 big-endian), then the same bytes as [`entry_hash`] after its domain
/// (`prev_hash` and the canonical bytes). Only a holder of the key can compute it.
pub fn keyed_entry_hash(
    key: &[u8; 32],
    version: i64,
    prev_hash: &[u8; 32],
    workspace: WorkspaceId,
    seq: u64,
    at_ms: i64,
    entry: &NewAuditEntry,
) -> [u8; 32] {
    let mut h = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    Update::update(&mut h, KEYED_DOMAIN);
    Update::update(&mut h, &version.to_be_bytes());
    put_entry(&mut h, prev_hash, workspace, seq, at_ms, entry);
    h.finalize().into_bytes().into()
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
    key_version: Option<i64>,
}

const AUDIT_COLUMNS: &str = "a.workspace_id, a.seq, a.at, a.kind, a.call_id, a.agent, \
    a.record_ids, a.request, a.response, a.prev_hash, a.hash, a.key_version";

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
            // NB: 0 is read as absent too: neither names a key.
            key_version: self.key_version.filter(|v| *v >= 1),
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

/// Audit rows written per `INSERT` (12 bound values each).
pub(crate) const ROWS_PER_INSERT: usize = 500;

/// Entries read per round trip while verifying.
const VERIFY_PAGE: i64 = 1000;

/// What an appending transaction needs: how to read the chain head, and the key to key new
/// entries with (none: they are only hash-chained).
pub(crate) struct Appender {
    /// The statement reading a workspace's chain head inside the transaction.
    pub(crate) head_sql: &'static str,
    /// The store's keys.
    pub(crate) keys: Arc<AuditKeys>,
}

impl Appender {
    /// The current key's version and key, if any.
    pub(crate) fn key(&self) -> Option<(i64, &[u8; 32])> {
        self.keys.current_key()
    }
}

/// The statement reading a workspace's chain head inside an appending transaction.
fn head_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SELECT seq, hash, key_version FROM audit_heads WHERE workspace_id = $1",
        // The row lock serialises appenders of one workspace across connections and instances.
        Backend::Postgres => {
            "SELECT seq, hash, key_version FROM audit_heads WHERE workspace_id = $1 FOR UPDATE"
        }
    }
}

impl Store {
    /// What [`append_all_in_tx`] needs from this store.
    pub(crate) fn audit_appender(&self) -> Appender {
        Appender {
            head_sql: head_sql(self.backend()),
            keys: self.audit_keys.clone(),
        }
    }
}

/// Appends `$entries` (`(DateTime<Utc>, &NewAuditEntry)` pairs whose JSON was checked, in chain
/// order) to `$workspace`'s chain inside the open write transaction `$tx`, reading and moving the
/// chain head once, keyed with the current key of `$appender` (an [`Appender`]), evaluating to
/// the appended [`AuditEntry`]s. Without a key it refuses ([`crate::Error::AuditKeyRequired`]) a
/// chain that already holds keyed entries, and any chain of a database that has a vault key. Written as a macro so that it
/// compiles once per backend inside [`with_pool`] bodies, and so that another operation (a
/// dead-letter replay, a worker's finished jobs) and its audit entries commit together or not
/// at all. Uses `?`: the enclosing function returns [`crate::Result`].
macro_rules! append_all_in_tx {
    ($tx:ident, $appender:expr, $workspace:expr, $entries:expr) => {{
        let workspace: $crate::keys::WorkspaceId = $workspace;
        let appender: &$crate::audit::Appender = &$appender;
        let head: Option<(i64, String, Option<i64>)> = sqlx::query_as(appender.head_sql)
            .bind(workspace.0)
            .fetch_optional(&mut *$tx)
            .await?;
        let (head_seq, head_hash, head_key) = head.ok_or($crate::Error::NotFound)?;
        let key = appender.key();
        if key.is_none() {
            // NB: a database with a vault is keyed: an unkeyed entry there, even the first of a
            // new chain, could be forged by anyone who can write the database.
            let vault: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM vault_keys")
                .fetch_one(&mut *$tx)
                .await?;
            if head_key.is_some() || vault.is_some() {
                return Err($crate::Error::AuditKeyRequired);
            }
        }
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
            let hash = $crate::keys::hex(&match key {
                Some((version, k)) => {
                    $crate::audit::keyed_entry_hash(k, version, &prev, workspace, seq, at, entry)
                }
                None => $crate::audit::entry_hash(&prev, workspace, seq, at, entry),
            });
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
                key_version: key.map(|(v, _)| v),
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
                   request, response, prev_hash, hash, key_version) ",
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
                    .push_bind(e.hash.as_str())
                    .push_bind(e.key_version);
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
            sqlx::query(
                "UPDATE audit_heads SET seq = $2, hash = $3, \
                   key_version = COALESCE($4, key_version) WHERE workspace_id = $1",
            )
            .bind(workspace.0)
            .bind(seq_i)
            .bind(&prev_hash)
            .bind(key.map(|(v, _)| v))
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
    ($tx:ident, $appender:expr, $workspace:expr, $now:expr, $entry:expr) => {{
        let entry: &$crate::audit::NewAuditEntry = $entry;
        $crate::audit::append_all_in_tx!($tx, $appender, $workspace, &[($now, entry)])
            .pop()
            .ok_or($crate::Error::Corrupt("audit entry not appended"))?
    }};
}
pub(crate) use append_in_tx;

impl Store {
    /// Appends an entry to the workspace's chain at time `now` and returns it, keyed with the
    /// store's current audit key when it has one.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown workspace; [`Error::InvalidJson`] for a request or
    /// response that is not JSON; [`Error::AuditKeyRequired`] for a store without keys on a chain
    /// that holds keyed entries; database errors.
    pub async fn append_audit(
        &self,
        workspace: WorkspaceId,
        now: DateTime<Utc>,
        entry: &NewAuditEntry,
    ) -> Result<AuditEntry> {
        check_entry(entry)?;
        let appender = self.audit_appender();
        with_pool!(self, pool => {
            let mut tx = crate::WritePool::begin_write(pool).await?;
            let appended = append_in_tx!(tx, appender, workspace, now, entry);
            tx.commit().await?;
            Ok(appended)
        })
    }

    /// The workspace's entries matching `filter`, in chain order (newest first when
    /// `filter.newest_first`), at most `filter.limit` (100 when `None`).
    ///
    /// Pages are keyset pages (`after_seq`, `before_seq`), never an offset, and the statement
    /// holds only the conditions given, so each filter walks an index in `seq` order: the
    /// primary key, or `(workspace_id, agent, seq)` and `(workspace_id, call_id, seq)` for the
    /// actor and call filters. NB: the time bounds are checked on the rows walked (`+a.at` keeps
    /// the planner off the `at` index, whose order is not the chain's and would sort the whole
    /// range for every page).
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_audit(
        &self,
        workspace: WorkspaceId,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEntry>> {
        enum Arg<'a> {
            Int(i64),
            Text(&'a str),
        }
        let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_log a WHERE a.workspace_id = $1");
        let mut args: Vec<Arg<'_>> = Vec::new();
        let mut push = |condition: &str, arg| {
            args.push(arg);
            let n = args.len() + 1;
            sql.push_str(" AND ");
            sql.push_str(&condition.replace('?', &format!("${n}")));
        };
        let seq = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
        if let Some(call) = &filter.call_id {
            push("a.call_id = ?", Arg::Text(call));
        }
        if let Some(agent) = &filter.agent {
            push("a.agent = ?", Arg::Text(agent));
        }
        if let Some(record) = &filter.record_id {
            push(
                "EXISTS (SELECT 1 FROM audit_record_ids r WHERE r.workspace_id = a.workspace_id \
                 AND r.seq = a.seq AND r.record_id = ?)",
                Arg::Text(record),
            );
        }
        if let Some(from) = filter.from {
            push("+a.at >= ?", Arg::Int(ms(from)));
        }
        if let Some(to) = filter.to {
            push("+a.at < ?", Arg::Int(ms(to)));
        }
        if let Some(prefix) = &filter.kind_prefix {
            // NB: every `?` of one condition is the same placeholder.
            push("substr(a.kind, 1, length(?)) = ?", Arg::Text(prefix));
        }
        if let Some(after) = filter.after_seq {
            push("a.seq > ?", Arg::Int(seq(after)));
        }
        if let Some(before) = filter.before_seq {
            push("a.seq < ?", Arg::Int(seq(before)));
        }
        let order = if filter.newest_first { "DESC" } else { "ASC" };
        let limit = i64::from(filter.limit.unwrap_or(100));
        sql.push_str(&format!(" ORDER BY a.seq {order} LIMIT {limit}"));
        let rows: Vec<AuditRow> = with_pool!(self, pool => {
            let mut q = sqlx::query_as(&sql).bind(workspace.0);
            for arg in &args {
                q = match arg {
                    Arg::Int(n) => q.bind(*n),
                    Arg::Text(t) => q.bind(*t),
                };
            }
            q.fetch_all(pool).await?
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

    /// Every workspace's chain head (for checkpoints), by workspace id.
    ///
    /// # Errors
    /// Database errors; [`Error::Corrupt`] for a head whose sequence number is negative.
    pub async fn audit_heads(&self) -> Result<Vec<AuditHead>> {
        let rows: Vec<(i64, i64, String)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT workspace_id, seq, hash FROM audit_heads ORDER BY workspace_id")
                .fetch_all(pool)
                .await?
        });
        rows.into_iter()
            .map(|(ws, seq, hash)| {
                Ok(AuditHead {
                    workspace: WorkspaceId(ws),
                    seq: u64::try_from(seq).map_err(|_| Error::Corrupt("audit head seq"))?,
                    hash,
                })
            })
            .collect()
    }

    /// Recomputes the workspace's whole chain with the store's keys and reports the first entry
    /// that does not hold: [`Store::verify_audit_against`] with no checkpoint.
    ///
    /// # Errors
    /// As [`Store::verify_audit_against`].
    pub async fn verify_audit(&self, workspace: WorkspaceId) -> Result<Verdict> {
        self.verify_audit_against(workspace, &[]).await
    }

    /// Recomputes the workspace's whole chain and reports the first entry that does not hold:
    /// each entry's hash (an HMAC under the store's key of the entry's version, for a keyed
    /// entry), its link to the one before, no unkeyed entry after a keyed one, the tail against
    /// the head row, and the hash of every entry a checkpoint names (`checkpoints`, in any
    /// order; a chain that ends before one of them is reported too). A keyed entry whose key
    /// version the store does not hold is counted as unchecked, never passed as intact.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown workspace; database errors. A stored value that cannot
    /// even be decoded is reported as a break, not an error.
    pub async fn verify_audit_against(
        &self,
        workspace: WorkspaceId,
        checkpoints: &[Checkpoint],
    ) -> Result<Verdict> {
        let head: Option<(i64, String)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE workspace_id = $1")
                .bind(workspace.0)
                .fetch_optional(pool)
                .await?
        });
        let (head_seq, head_hash) = head.ok_or(Error::NotFound)?;
        let mut checkpoints = checkpoints.to_vec();
        checkpoints.sort_by_key(|c| c.index);
        let mut next_checkpoint = checkpoints.iter().peekable();
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log a WHERE a.workspace_id = $1 AND a.seq > $2 \
             ORDER BY a.seq LIMIT $3"
        );
        let broken = |seq: u64, reason| Ok(Verdict::Broken(ChainBreak { seq, reason }));
        let keys = &self.audit_keys;
        let mut expected: u64 = 1;
        let mut prev = [0u8; 32];
        let mut last_seen: i64 = 0;
        let mut unkeyed: u64 = 0;
        let mut unchecked: u64 = 0;
        let mut missing = BTreeSet::new();
        let mut seen_keyed = false;
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
                let Some(stored) = unhex32(&e.hash) else {
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
                let at = ms(e.at);
                let h = match e.key_version {
                    None if seen_keyed => return broken(expected, BreakReason::Unkeyed),
                    None => {
                        unkeyed += 1;
                        entry_hash(&prev, workspace, expected, at, &entry)
                    }
                    Some(version) => {
                        seen_keyed = true;
                        match keys.key(version) {
                            Some(k) => {
                                keyed_entry_hash(k, version, &prev, workspace, expected, at, &entry)
                            }
                            // NB: without the key only the link to the next entry is checked.
                            None => {
                                unchecked += 1;
                                missing.insert(version);
                                stored
                            }
                        }
                    }
                };
                if stored != h {
                    return broken(expected, BreakReason::HashMismatch);
                }
                while let Some(c) = next_checkpoint.next_if(|c| c.index <= expected) {
                    if c.index == expected && c.hash != h {
                        return broken(expected, BreakReason::CheckpointMismatch);
                    }
                }
                prev = h;
                expected += 1;
            }
            if page_len < VERIFY_PAGE {
                break;
            }
        }
        let entries = expected - 1;
        if next_checkpoint.peek().is_some() {
            return broken(expected, BreakReason::BelowCheckpoint);
        }
        if i64::try_from(entries).ok() != Some(head_seq) || unhex32(&head_hash) != Some(prev) {
            return broken(expected, BreakReason::TailMismatch);
        }
        if unchecked > 0 {
            return Ok(Verdict::Unchecked {
                entries,
                unkeyed,
                unchecked,
                missing_versions: missing.into_iter().collect(),
            });
        }
        Ok(Verdict::Intact { entries, unkeyed })
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
