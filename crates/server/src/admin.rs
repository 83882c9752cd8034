//! `callforce deadletter ...`, `callforce audit ...` and `callforce alert ...`: admin commands
//! on the store. The operations are the core's ([`callforce_app::admin::Admin`], as the REST
//! API's); these render what it answers for a terminal.
//!
//! They open the service's database directly (the data directory's `callforce.db`, or
//! `--database-url`), so they work whether `callforce serve` runs or not: SQLite lets the two
//! processes take turns, PostgreSQL serves both. Every edit, replay and discard is appended to
//! the audit log with the actor `cli`, exactly as the API does with its key, keyed with the
//! audit key of the vault's master key when it is at hand ([`open_keyed`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, bail};
use callforce_app::admin::Admin;
use callforce_app::changes::Actor;
use callforce_app::deadletters::{Edit, STATUSES, action_of, payload_value};
use callforce_app::{Error, Kind};
use callforce_store::{
    AuditFilter, BreakReason, Checkpoint, DeadLetterFilter, DeadLetterId, DeadLetterStatus, Store,
    Verdict, WorkspaceId,
};
use serde_json::Value;

/// The actor recorded in the audit log for the CLI's actions.
const ACTOR: Actor = Actor::Cli;

/// Opens the store: `database_url` when given, else `callforce.db` in `data_dir`, which must
/// exist (an admin command never creates an empty database by mistake).
///
/// # Errors
/// When there is no database there, or it cannot be opened.
pub async fn open_store(data_dir: &Path, database_url: Option<&str>) -> anyhow::Result<Store> {
    if let Some(url) = database_url {
        return Store::open(url)
            .await
            .with_context(|| "opening the database given by --database-url".to_string());
    }
    let db = data_dir.join("callforce.db");
    if !db.exists() {
        bail!(
            "no database at {}: pass the data directory of 'callforce serve' with --data-dir, or --database-url",
            db.display()
        );
    }
    Store::open_sqlite(&db)
        .await
        .with_context(|| format!("opening {}", db.display()))
}

/// Opens the store as [`open_store`] does and, when the vault's master key is at hand
/// (`master_key`, else the data directory's key file), gives it the audit keys: appends are
/// keyed, and the verifier checks keyed entries. Also answers the vault, `None` without a key.
///
/// # Errors
/// As [`open_store`]; a master key that does not open the database's vault.
pub async fn open_keyed(
    data_dir: &Path,
    database_url: Option<&str>,
    master_key: Option<&str>,
) -> anyhow::Result<(Store, Option<callforce_app::vault::Vault>)> {
    use callforce_app::vault::{KeySource, Vault};
    let store = open_store(data_dir, database_url).await?;
    let source = KeySource::from(master_key, data_dir)?;
    let Some(vault) = Vault::open_existing(&store, &source).await? else {
        return Ok((store, None));
    };
    let keys = vault.audit_keys(&store).await?;
    Ok((store.with_audit_keys(keys), Some(vault)))
}

/// The id of the workspace named `name`.
///
/// # Errors
/// When there is no such workspace.
pub async fn workspace(store: &Store, name: &str) -> anyhow::Result<WorkspaceId> {
    store
        .workspace_by_name(name)
        .await?
        .map(|w| w.id)
        .with_context(|| format!("no workspace named '{name}'"))
}

/// Parses a `--status` value.
///
/// # Errors
/// For anything but open, replayed, discarded.
pub fn parse_status(s: &str) -> Result<DeadLetterStatus, String> {
    callforce_app::deadletters::parse_status(s)
        .ok_or_else(|| format!("'{s}' is not one of {STATUSES}"))
}

/// A core error about dead letter `id` as the admin should read it: what is missing as it is,
/// anything else said of the dead letter.
fn explain(e: Error, id: i64) -> anyhow::Error {
    match e.kind {
        Kind::NotFound => anyhow::anyhow!(e.message),
        _ => anyhow::anyhow!("dead letter {id}: {}", e.message),
    }
}

/// `deadletter list`: one line per dead letter (or JSON lines with `json`).
///
/// # Errors
/// Store errors.
pub async fn list(
    admin: &Admin,
    ws: WorkspaceId,
    filter: &DeadLetterFilter,
    json: bool,
) -> anyhow::Result<()> {
    let found = admin.dead_letters(ws, filter).await?;
    if json {
        for dl in &found {
            println!("{}", serde_json::to_string(dl)?);
        }
        return Ok(());
    }
    if found.is_empty() {
        println!("no dead letters");
        return Ok(());
    }
    println!(
        "{:<6} {:<10} {:<20} {:<24} {:>8}  {:<20}  LAST ERROR",
        "ID", "STATUS", "ACTION", "CALL", "ATTEMPTS", "DIED AT"
    );
    for dl in &found {
        let payload = payload_value(&dl.payload);
        let action = action_of(&payload).unwrap_or(&dl.kind);
        let error = dl
            .errors
            .last()
            .map(|e| e.error.replace('\n', " "))
            .unwrap_or_default();
        println!(
            "{:<6} {:<10} {:<20} {:<24} {:>8}  {:<20}  {}",
            dl.id.0,
            dl.status.as_str(),
            action,
            dl.call_id.as_deref().unwrap_or("-"),
            dl.attempts,
            dl.created_at.format("%Y-%m-%d %H:%M:%S"),
            error.chars().take(100).collect::<String>()
        );
    }
    Ok(())
}

/// `deadletter show ID`: everything, as JSON (the payload parsed).
///
/// # Errors
/// When there is no such dead letter in the workspace; store errors.
pub async fn show(admin: &Admin, ws: WorkspaceId, id: i64) -> anyhow::Result<()> {
    let dl = admin
        .dead_letter(ws, DeadLetterId(id))
        .await
        .map_err(|e| explain(e, id))?;
    let mut v = serde_json::to_value(&dl)?;
    if let Ok(p) = serde_json::from_str::<Value>(&dl.payload) {
        v["payload"] = p;
    }
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

/// `deadletter edit ID --payload JSON | --merge JSON`.
///
/// # Errors
/// Not JSON, no such dead letter, not open; store errors.
pub async fn edit(
    admin: &Admin,
    ws: WorkspaceId,
    id: i64,
    payload: Option<&str>,
    merge: Option<&str>,
) -> anyhow::Result<()> {
    let edit = match (payload, merge) {
        (Some(p), None) => {
            Edit::Replace(serde_json::from_str(p).context("--payload is not valid JSON")?)
        }
        (None, Some(m)) => {
            Edit::Merge(serde_json::from_str(m).context("--merge is not valid JSON")?)
        }
        _ => bail!("give exactly one of --payload JSON (replace) or --merge JSON (change fields)"),
    };
    let dl = admin
        .edit_dead_letter(ws, ACTOR, DeadLetterId(id), edit)
        .await
        .map_err(|e| explain(e, id))?;
    println!("dead letter {id} edited; its payload is now {}", dl.payload);
    Ok(())
}

/// `alert list`: one line per alert, newest first (or JSON lines with `json`).
///
/// # Errors
/// Store errors.
pub async fn alert_list(
    admin: &Admin,
    ws: WorkspaceId,
    limit: u32,
    json: bool,
) -> anyhow::Result<()> {
    let found = admin.alerts(ws, limit).await?;
    if json {
        for a in &found {
            println!("{}", serde_json::to_string(a)?);
        }
        return Ok(());
    }
    if found.is_empty() {
        println!("no alerts");
        return Ok(());
    }
    println!(
        "{:<6} {:<26} {:<8} {:<20}  {:<14}  WHAT",
        "ID", "KIND", "STATUS", "AT", "ACKNOWLEDGED"
    );
    for a in &found {
        let status = match a.status {
            callforce_store::AlertStatus::Pending => "pending",
            callforce_store::AlertStatus::Sent => "sent",
        };
        let acked = a.acknowledged_by.as_deref().unwrap_or("no");
        let what = a
            .details
            .get("error")
            .or_else(|| a.details.get("reason"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .replace('\n', " ");
        println!(
            "{:<6} {:<26} {:<8} {:<20}  {:<14}  {}",
            a.id.0,
            a.kind,
            status,
            a.created_at.format("%Y-%m-%d %H:%M:%S"),
            acked,
            what.chars().take(100).collect::<String>()
        );
    }
    Ok(())
}

/// `alert ack ID...`: each is acknowledged; every failure is reported, and the command fails if
/// any did.
///
/// # Errors
/// When any of them could not be acknowledged.
pub async fn alert_ack(admin: &Admin, ws: WorkspaceId, ids: &[i64]) -> anyhow::Result<()> {
    let mut failed = 0;
    for &id in ids {
        match admin
            .acknowledge_alert(ws, ACTOR, callforce_store::AlertId(id))
            .await
        {
            Ok(_) => println!("alert {id} acknowledged: it will not be posted again"),
            Err(e) if e.kind == Kind::NotFound => {
                failed += 1;
                eprintln!("error: no alert {id} in this workspace");
            }
            Err(e) => return Err(e.into()),
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} alert(s) could not be acknowledged",
            ids.len()
        );
    }
    Ok(())
}

/// `deadletter replay ID...`: each is tried; every failure is reported, and the command fails
/// if any did.
///
/// # Errors
/// When any of them could not be replayed.
pub async fn replay(admin: &Admin, ws: WorkspaceId, ids: &[i64]) -> anyhow::Result<()> {
    let mut failed = 0;
    for &id in ids {
        match admin.replay_dead_letter(ws, ACTOR, DeadLetterId(id)).await {
            Ok(job) => println!("dead letter {id} replayed: job {} is queued again", job.0),
            Err(e) => {
                failed += 1;
                eprintln!("error: {:#}", explain(e, id));
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} dead letter(s) not replayed", ids.len());
    }
    Ok(())
}

/// `deadletter replay --all` (optionally narrowed by a filter).
///
/// # Errors
/// Store errors.
pub async fn replay_all(
    admin: &Admin,
    ws: WorkspaceId,
    filter: &DeadLetterFilter,
) -> anyhow::Result<()> {
    let total = admin.replay_dead_letters(ws, ACTOR, filter).await?.len();
    println!("{total} dead letter(s) replayed");
    Ok(())
}

/// `deadletter discard ID...`.
///
/// # Errors
/// When any of them could not be discarded.
pub async fn discard(admin: &Admin, ws: WorkspaceId, ids: &[i64]) -> anyhow::Result<()> {
    let mut failed = 0;
    for &id in ids {
        match admin.discard_dead_letter(ws, ACTOR, DeadLetterId(id)).await {
            Ok(()) => println!("dead letter {id} discarded"),
            Err(e) => {
                failed += 1;
                eprintln!("error: {:#}", explain(e, id));
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} dead letter(s) not discarded", ids.len());
    }
    Ok(())
}

fn reason_text(r: BreakReason) -> &'static str {
    match r {
        BreakReason::HashMismatch => "its content does not match its hash (the entry was edited)",
        BreakReason::PrevHashMismatch => {
            "it does not link to the entry before it (entries were removed or reordered)"
        }
        BreakReason::Missing => "it is missing (an entry was deleted)",
        BreakReason::TailMismatch => {
            "the chain ends before or differently from its recorded head (the tail was truncated or altered)"
        }
        BreakReason::Unkeyed => {
            "it is not keyed but follows keyed entries (appended without the key, or rewritten by someone without it)"
        }
        BreakReason::CheckpointMismatch => {
            "its hash differs from the one a signed checkpoint recorded (the chain was rewritten and recomputed)"
        }
        BreakReason::BelowCheckpoint => {
            "it is missing, but a signed checkpoint recorded the chain past it (the tail was deleted and the head moved back)"
        }
    }
}

/// What `audit verify` found, over every workspace it checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything that was asked was checked and holds.
    Verified,
    /// Nothing found broken, but something could not be checked (said in the report).
    Incomplete,
    /// A chain is broken or a checkpoint line is refused (said in the report).
    Broken,
}

/// The signed checkpoints of a checkpoint file, by workspace, with the lines that were refused.
struct CheckpointFile {
    by_workspace: BTreeMap<WorkspaceId, Vec<(Checkpoint, String)>>,
    refused: usize,
    signatures_checked: bool,
}

/// Reads a checkpoint file, checking every line's signature with `key` (or, without a key,
/// reading the lines unchecked).
fn read_checkpoints(
    path: &Path,
    key: Option<&ed25519_dalek::VerifyingKey>,
) -> anyhow::Result<CheckpointFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the checkpoint file {}", path.display()))?;
    let mut file = CheckpointFile {
        by_workspace: BTreeMap::new(),
        refused: 0,
        signatures_checked: key.is_some(),
    };
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let checked = match key {
            Some(k) => callforce_app::checkpoint::check_line(line, k).map_err(|e| e.to_string()),
            None => serde_json::from_str::<callforce_app::checkpoint::Line>(line)
                .map_err(|e| format!("not a checkpoint line: {e}"))
                .and_then(|l| {
                    let hash = hex32(&l.hash).ok_or("the hash is not 64 hex digits")?;
                    Ok((l, hash))
                }),
        };
        match checked {
            Ok((l, hash)) => file
                .by_workspace
                .entry(WorkspaceId(l.workspace))
                .or_default()
                .push((
                    Checkpoint {
                        index: l.index,
                        hash,
                    },
                    l.time,
                )),
            Err(why) => {
                file.refused += 1;
                println!("checkpoint line {}: REFUSED: {why}", n + 1);
            }
        }
    }
    Ok(file)
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if s.len() != 64 {
        return None;
    }
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// `audit verify`: recomputes the chain of `only` (a workspace name) or of every workspace and
/// reports the first entry that does not hold in each, with the store's audit keys; with a
/// checkpoint file, also checks every line's signature (with `checkpoint_key`, else the key the
/// vault holds) and that each chain reaches every checkpointed entry with its hash. Says what
/// it could not check (keyed entries without their key, signatures without a key).
///
/// # Errors
/// Store errors; an unreadable checkpoint file.
pub async fn verify(
    store: &Store,
    only: Option<&str>,
    checkpoints: Option<&Path>,
    checkpoint_key: Option<&ed25519_dalek::VerifyingKey>,
) -> anyhow::Result<Outcome> {
    let only = match only {
        Some(name) => Some(workspace(store, name).await?),
        None => None,
    };
    let file = match checkpoints {
        Some(path) => {
            let file = read_checkpoints(path, checkpoint_key)?;
            if !file.signatures_checked {
                println!(
                    "checkpoint file: signatures NOT checked: no checkpoint key (give --checkpoint-key, or the master key)"
                );
            }
            Some(file)
        }
        None => None,
    };
    let mut workspaces: BTreeSet<WorkspaceId> = match only {
        Some(ws) => BTreeSet::from([ws]),
        None => store.audit_workspaces().await?.into_iter().collect(),
    };
    if let (None, Some(f)) = (only, &file) {
        workspaces.extend(f.by_workspace.keys().copied());
    }
    let mut broken = 0;
    let mut incomplete = false;
    if let Some(f) = &file {
        broken += f.refused;
        incomplete |= !f.signatures_checked;
    }
    for ws in workspaces {
        let name = store
            .workspace(ws)
            .await?
            .map(|w| w.name)
            .unwrap_or_else(|| format!("id {}", ws.0));
        let taken: &[(Checkpoint, String)] = file
            .as_ref()
            .and_then(|f| f.by_workspace.get(&ws))
            .map_or(&[], Vec::as_slice);
        let points: Vec<Checkpoint> = taken.iter().map(|(c, _)| *c).collect();
        let verdict = match store.verify_audit_against(ws, &points).await {
            Err(callforce_store::Error::NotFound) => {
                broken += 1;
                let last = points.iter().map(|c| c.index).max().unwrap_or(0);
                println!(
                    "workspace {name}: BROKEN: the checkpoint file records its chain up to entry {last}, but the database has no chain for it (deleted)"
                );
                continue;
            }
            other => other?,
        };
        let (entries, unkeyed) = match &verdict {
            Verdict::Intact { entries, unkeyed } => {
                println!("workspace {name}: intact ({entries} entries)");
                (*entries, *unkeyed)
            }
            Verdict::Unchecked {
                entries,
                unkeyed,
                unchecked,
                missing_versions,
            } => {
                incomplete = true;
                println!(
                    "workspace {name}: NOT FULLY CHECKED ({entries} entries): {unchecked} keyed entries of key version(s) {missing_versions:?} could not be checked without their key, only their links (give the master key: {} or the data directory's master.key)",
                    crate::env::MASTER_KEY
                );
                (*entries, *unkeyed)
            }
            Verdict::Broken(b) => {
                broken += 1;
                println!(
                    "workspace {name}: BROKEN at entry {}: {}",
                    b.seq,
                    reason_text(b.reason)
                );
                if b.reason == BreakReason::BelowCheckpoint
                    && let Some((c, time)) = taken.iter().max_by_key(|(c, _)| c.index)
                {
                    println!(
                        "  the chain ends at entry {}; a checkpoint of {time} recorded entry {}",
                        b.seq - 1,
                        c.index
                    );
                }
                let at = AuditFilter {
                    after_seq: Some(b.seq.saturating_sub(1)),
                    limit: Some(1),
                    ..Default::default()
                };
                if let Some(e) = store.list_audit(ws, &at).await?.first() {
                    println!(
                        "  entry {} as stored: {} at {} (call {})",
                        e.seq,
                        e.kind,
                        e.at.to_rfc3339(),
                        e.call_id.as_deref().unwrap_or("-")
                    );
                }
                continue;
            }
        };
        if unkeyed > 0 {
            println!(
                "  {unkeyed} of them only hash-chained (written before the log was keyed, or without a key): anyone who could write the database could have recomputed them"
            );
        }
        if file.is_some() {
            match taken.iter().max_by_key(|(c, _)| c.index) {
                Some((c, time)) => {
                    println!(
                        "  {} checkpoint(s) hold; the last, of {time}, at entry {}",
                        taken.len(),
                        c.index
                    );
                    if entries > c.index {
                        println!(
                            "  entries {}..={entries} came after it: a tail deleted there would not be seen",
                            c.index + 1
                        );
                    }
                }
                None => println!(
                    "  no checkpoint for it in the file: a tail deleted with its head moved back would not be seen"
                ),
            }
        }
    }
    Ok(if broken > 0 {
        println!("the audit log of {broken} workspace(s) or checkpoint line(s) does not verify");
        Outcome::Broken
    } else if incomplete {
        Outcome::Incomplete
    } else {
        Outcome::Verified
    })
}

/// `audit list`: entries as JSON lines.
///
/// # Errors
/// Store errors.
pub async fn audit_list(
    admin: &Admin,
    ws: WorkspaceId,
    filter: &AuditFilter,
) -> anyhow::Result<()> {
    for e in admin.audit(ws, filter).await?.entries {
        println!("{}", serde_json::to_string(&e)?);
    }
    Ok(())
}
