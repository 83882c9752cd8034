//! Audit checkpoints: the chain heads, signed with Ed25519 and kept outside the database.
//!
//! The audit chain's head row lives in the database it vouches for, so someone who can write
//! the database can delete the tail and move the head back. A checkpoint anchors the head
//! elsewhere: once a minute, for each workspace whose head moved, `serve` appends one line to the
//! file the operator named (`--audit-checkpoint-file`, on another volume) and, optionally, POSTs
//! it to an endpoint of theirs (`--audit-checkpoint-url`):
//!
//! ```text
//! {"workspace":1,"index":42,"hash":"<64 hex>","time":"2026-12-07T16:00:00.000Z","key_id":"<16 hex>","signature":"<base64>"}
//! ```
//!
//! The signature is Ed25519 over [`message`]: `callforce.audit.checkpoint.v1`, then the
//! workspace id, index, hash, time and key id, each on its own line (`\n`-separated, no trailing
//! newline). The key id is the first 8 bytes of the SHA-256 of the 32-byte public key, in hex.
//! The signing key is sealed in the vault ([`crate::vault::Vault::checkpoint_key`]); its public
//! key is printed at start and served at `GET /v1/audit/checkpoint-key`, so anyone holding the
//! file and the key can check the lines. `callforce audit verify --checkpoint FILE` checks every
//! line's signature and that each workspace's chain reaches every checkpointed (index, hash).
//!
//! Each line is one `write` to a file opened with `O_APPEND`, then synced, so lines of several
//! writers never interleave. Several instances on one PostgreSQL database each append their own
//! lines (duplicates of the same head are harmless).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use callforce_store::{Store, WorkspaceId};
use chrono::{DateTime, SecondsFormat, Utc};
pub use ed25519_dalek::VerifyingKey;
use ed25519_dalek::{Signature, Signer, SigningKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The first line of every signed message (the format's version).
pub const DOMAIN: &str = "callforce.audit.checkpoint.v1";

/// How long a POST to the checkpoint endpoint may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// One checkpoint line, as written to the file and posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// The workspace's id.
    pub workspace: i64,
    /// The chain's head: its last entry's sequence number.
    pub index: u64,
    /// That entry's hash (64 hex digits).
    pub hash: String,
    /// When the checkpoint was taken (RFC 3339, milliseconds, UTC).
    pub time: String,
    /// The signing key's id ([`key_id`]).
    pub key_id: String,
    /// The Ed25519 signature of [`message`], base64.
    pub signature: String,
}

/// The bytes a line's signature covers.
pub fn message(workspace: i64, index: u64, hash: &str, time: &str, key_id: &str) -> String {
    format!("{DOMAIN}\n{workspace}\n{index}\n{hash}\n{time}\n{key_id}")
}

/// A public key's id: the first 8 bytes of its SHA-256, in hex.
pub fn key_id(key: &VerifyingKey) -> String {
    Sha256::digest(key.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A public key as printed and served: `ed25519:` and its 32 bytes in base64.
pub fn key_text(key: &VerifyingKey) -> String {
    format!("ed25519:{}", STANDARD.encode(key.as_bytes()))
}

/// Parses a public key given as [`key_text`] prints it (the `ed25519:` prefix may be left out).
///
/// # Errors
/// When it is not 32 bytes of base64, or not a valid Ed25519 point.
pub fn parse_key(text: &str) -> anyhow::Result<VerifyingKey> {
    let b64 = text.trim();
    let b64 = b64.strip_prefix("ed25519:").unwrap_or(b64);
    let bytes: [u8; 32] = STANDARD
        .decode(b64)
        .ok()
        .and_then(|b| b.try_into().ok())
        .context("the checkpoint key must be 'ed25519:' and 32 bytes in base64, as GET /v1/audit/checkpoint-key shows it")?;
    VerifyingKey::from_bytes(&bytes).context("the checkpoint key is not a valid Ed25519 public key")
}

/// Signs the checkpoint of `workspace`'s head (`index`, `hash`) taken at `now`.
pub fn sign(
    key: &SigningKey,
    workspace: WorkspaceId,
    index: u64,
    hash: &str,
    now: DateTime<Utc>,
) -> Line {
    let time = now.to_rfc3339_opts(SecondsFormat::Millis, true);
    let id = key_id(&key.verifying_key());
    let signature = key.sign(message(workspace.0, index, hash, &time, &id).as_bytes());
    Line {
        workspace: workspace.0,
        index,
        hash: hash.to_owned(),
        time,
        key_id: id,
        signature: STANDARD.encode(signature.to_bytes()),
    }
}

/// Why a line is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Not a checkpoint line (not JSON, or missing or extra fields).
    #[error("not a checkpoint line: {0}")]
    Malformed(String),
    /// Signed by another key than the one given.
    #[error("signed by key {found}, not by the key given ({expected})")]
    OtherKey {
        /// The line's key id.
        found: String,
        /// The given key's id.
        expected: String,
    },
    /// The signature does not verify: the line was altered or forged.
    #[error("its signature does not verify (the line was altered or forged)")]
    BadSignature,
}

/// Decodes 64 hex digits.
fn unhex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Parses one line of a checkpoint file and checks its signature with `key`.
///
/// # Errors
/// [`LineError`]: malformed, another key's, or a signature that does not verify.
pub fn check_line(text: &str, key: &VerifyingKey) -> Result<(Line, [u8; 32]), LineError> {
    let line: Line = serde_json::from_str(text).map_err(|e| LineError::Malformed(e.to_string()))?;
    let hash = unhex32(&line.hash)
        .ok_or_else(|| LineError::Malformed("the hash is not 64 hex digits".into()))?;
    if DateTime::parse_from_rfc3339(&line.time).is_err() {
        return Err(LineError::Malformed("the time is not RFC 3339".into()));
    }
    let expected = key_id(key);
    if line.key_id != expected {
        return Err(LineError::OtherKey {
            found: line.key_id,
            expected,
        });
    }
    let signature = STANDARD
        .decode(&line.signature)
        .ok()
        .and_then(|b| Signature::from_slice(&b).ok())
        .ok_or(LineError::BadSignature)?;
    let msg = message(
        line.workspace,
        line.index,
        &line.hash,
        &line.time,
        &line.key_id,
    );
    key.verify_strict(msg.as_bytes(), &signature)
        .map_err(|_| LineError::BadSignature)?;
    Ok((line, hash))
}

/// Where checkpoints go.
#[derive(Clone, Default)]
pub struct Settings {
    /// The file lines are appended to (`--audit-checkpoint-file`); no checkpoints without it.
    pub file: Option<PathBuf>,
    /// An endpoint each line is also POSTed to (`--audit-checkpoint-url`).
    pub url: Option<String>,
    /// How often heads are looked at (a minute).
    pub every: Duration,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // NB: the endpoint's URL may carry a token: never printed.
        f.debug_struct("Settings")
            .field("file", &self.file)
            .field("url", &self.url.as_ref().map(|_| "<redacted>"))
            .field("every", &self.every)
            .finish()
    }
}

/// Takes checkpoints: [`Checkpointer::tick`] appends a signed line for each workspace whose
/// head moved since the last line it wrote.
pub struct Checkpointer {
    store: Store,
    key: SigningKey,
    file: PathBuf,
    url: Option<String>,
    http: reqwest::Client,
    /// The head each workspace had at its last line.
    last: HashMap<WorkspaceId, (u64, String)>,
    /// Lines the endpoint has not taken yet (the newest per workspace), posted again each tick.
    unposted: BTreeMap<WorkspaceId, Line>,
}

/// What one [`Checkpointer::tick`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tick {
    /// Lines appended to the file.
    pub written: usize,
    /// Lines the endpoint took.
    pub posted: usize,
    /// Lines the endpoint did not take (tried again at the next tick).
    pub post_failed: usize,
}

impl Checkpointer {
    /// A checkpointer appending to `file` and posting to `url`.
    ///
    /// # Errors
    /// A URL that is not http(s); an HTTP client that cannot be built.
    pub fn new(
        store: Store,
        key: SigningKey,
        file: PathBuf,
        url: Option<String>,
    ) -> anyhow::Result<Self> {
        if let Some(u) = &url {
            let parsed = reqwest::Url::parse(u)
                .map_err(|e| anyhow::anyhow!("the audit checkpoint URL is not a URL: {e}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                anyhow::bail!("the audit checkpoint URL must be an http:// or https:// URL");
            }
        }
        Ok(Self {
            store,
            key,
            file,
            url,
            http: reqwest::Client::builder().timeout(POST_TIMEOUT).build()?,
            last: HashMap::new(),
            unposted: BTreeMap::new(),
        })
    }

    /// Appends one signed line per workspace whose head moved since this checkpointer's last
    /// line (every non-empty chain at the first tick), then posts the lines the endpoint has
    /// not taken.
    ///
    /// # Errors
    /// Store errors; a line that cannot be appended (its workspace is tried again next tick).
    pub async fn tick(&mut self, now: DateTime<Utc>) -> anyhow::Result<Tick> {
        let mut done = Tick::default();
        for head in self.store.audit_heads().await? {
            if head.seq == 0
                || self.last.get(&head.workspace) == Some(&(head.seq, head.hash.clone()))
            {
                continue;
            }
            let line = sign(&self.key, head.workspace, head.seq, &head.hash, now);
            append_line(&self.file, &line)?;
            done.written += 1;
            self.last.insert(head.workspace, (head.seq, head.hash));
            if self.url.is_some() {
                self.unposted.insert(head.workspace, line);
            }
        }
        if let Some(url) = &self.url {
            let mut taken = Vec::new();
            for (ws, line) in &self.unposted {
                match post(&self.http, url, line).await {
                    Ok(()) => {
                        taken.push(*ws);
                        done.posted += 1;
                    }
                    Err(error) => {
                        tracing::warn!(workspace = ws.0, %error, "audit checkpoint endpoint failed; will post again");
                        done.post_failed += 1;
                    }
                }
            }
            for ws in taken {
                self.unposted.remove(&ws);
            }
        }
        Ok(done)
    }

    /// Runs [`Checkpointer::tick`] every `every` until the task is aborted.
    pub fn spawn(mut self, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                if let Err(error) = self.tick(Utc::now()).await {
                    tracing::error!(error = %format!("{error:#}"), "audit checkpoint failed; will try again");
                }
            }
        })
    }
}

/// Appends `line` and a newline to `path` in one write (`O_APPEND`), then syncs it.
fn append_line(path: &std::path::Path, line: &Line) -> anyhow::Result<()> {
    let mut text = serde_json::to_string(line)?;
    text.push('\n');
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("opening the audit checkpoint file {}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_data())
        .with_context(|| format!("appending to the audit checkpoint file {}", path.display()))
}

async fn post(http: &reqwest::Client, url: &str, line: &Line) -> Result<(), String> {
    let resp = http
        .post(url)
        .json(line)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", resp.status().as_u16()))
    }
}

/// What `GET /v1/audit/checkpoint-key` answers: the public key checkpoint lines are signed
/// with, its id, and the layout of the signed message.
pub fn public_key_view(key: &VerifyingKey) -> Value {
    json!({
        "algorithm": "ed25519",
        "public_key": key_text(key),
        "key_id": key_id(key),
        "message": format!("{DOMAIN}\\n<workspace>\\n<index>\\n<hash>\\n<time>\\n<key_id>"),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn key(byte: u8) -> SigningKey {
        SigningKey::from_bytes(&[byte; 32])
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).expect("time")
    }

    #[test]
    fn a_signed_line_verifies_and_any_change_is_refused() {
        let k = key(1);
        let pk = k.verifying_key();
        let line = sign(&k, WorkspaceId(3), 42, &"ab".repeat(32), at(0));
        assert_eq!(line.time, "2027-01-15T08:00:00.000Z");
        let text = serde_json::to_string(&line).expect("json");
        let (back, hash) = check_line(&text, &pk).expect("verifies");
        assert_eq!(back, line);
        assert_eq!(hash, [0xab; 32]);

        let edit = |f: &dyn Fn(&mut Line)| {
            let mut l = line.clone();
            f(&mut l);
            serde_json::to_string(&l).expect("json")
        };
        let cases: [(&str, String, LineError); 5] = [
            ("index", edit(&|l| l.index = 41), LineError::BadSignature),
            (
                "workspace",
                edit(&|l| l.workspace = 4),
                LineError::BadSignature,
            ),
            (
                "hash",
                edit(&|l| l.hash = "cd".repeat(32)),
                LineError::BadSignature,
            ),
            (
                "time",
                edit(&|l| l.time = "2027-01-15T08:00:01.000Z".into()),
                LineError::BadSignature,
            ),
            (
                "signature",
                edit(&|l| l.signature = STANDARD.encode([0u8; 64])),
                LineError::BadSignature,
            ),
        ];
        for (what, text, want) in cases {
            assert_eq!(check_line(&text, &pk).map(|_| ()), Err(want), "{what}");
        }
        // Another key's line, and a line re-signed by another key under this key's id.
        let other = sign(&key(2), WorkspaceId(3), 42, &"ab".repeat(32), at(0));
        assert!(matches!(
            check_line(&serde_json::to_string(&other).expect("json"), &pk),
            Err(LineError::OtherKey { .. })
        ));
        let forged = edit(&|l| l.signature = other.signature.clone());
        assert_eq!(
            check_line(&forged, &pk).map(|_| ()),
            Err(LineError::BadSignature)
        );
        for bad in ["", "not json", r#"{"workspace":1}"#] {
            assert!(
                matches!(check_line(bad, &pk), Err(LineError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn public_keys_print_and_parse_back() {
        let pk = key(5).verifying_key();
        let text = key_text(&pk);
        assert!(text.starts_with("ed25519:"), "{text}");
        assert_eq!(parse_key(&text).expect("parses"), pk);
        assert_eq!(
            parse_key(text.trim_start_matches("ed25519:")).expect("parses"),
            pk
        );
        assert_eq!(key_id(&pk).len(), 16);
        for bad in ["", "ed25519:AAAA", "ed25519:!!"] {
            let e = parse_key(bad).expect_err(bad).to_string();
            assert!(e.contains("checkpoint key"), "{bad}: {e}");
        }
    }

    /// An endpoint that records what is posted to it, refusing the first `refuse` posts.
    async fn endpoint(refuse: usize) -> (String, Arc<parking_lot::Mutex<Vec<Line>>>) {
        use axum::http::StatusCode;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let got: Arc<parking_lot::Mutex<Vec<Line>>> = Arc::default();
        let seen = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new().route(
            "/checkpoints",
            axum::routing::post({
                let got = got.clone();
                move |axum::Json(line): axum::Json<Line>| async move {
                    if seen.fetch_add(1, Ordering::SeqCst) < refuse {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    got.lock().push(line);
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/checkpoints"), got)
    }

    #[tokio::test]
    async fn a_tick_appends_a_signed_line_only_for_the_heads_that_moved_sqlite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_sqlite(&dir.path().join("db"))
            .await
            .expect("store");
        tick_appends_only_for_moved_heads(store, dir.path()).await;
    }

    #[tokio::test]
    async fn a_tick_appends_a_signed_line_only_for_the_heads_that_moved_postgres() {
        let test = "a_tick_appends_a_signed_line_only_for_the_heads_that_moved_postgres";
        let Some(schema) = callforce_testkit::PgSchema::for_test(test)
            .await
            .expect("schema")
        else {
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&schema.url()).await.expect("store");
        tick_appends_only_for_moved_heads(store.clone(), dir.path()).await;
        store.close().await;
    }

    async fn tick_appends_only_for_moved_heads(store: Store, dir: &std::path::Path) {
        let store = store.with_audit_keys(callforce_store::AuditKeys::new(
            1,
            zeroize::Zeroizing::new([1; 32]),
        ));
        let a = store.create_workspace("a", at(0)).await.expect("ws").id;
        let b = store.create_workspace("b", at(0)).await.expect("ws").id;
        let entry = callforce_store::NewAuditEntry {
            kind: "write.done".into(),
            ..Default::default()
        };
        store.append_audit(a, at(1), &entry).await.expect("append");
        let file = dir.join("checkpoints.jsonl");
        let (url, posted) = endpoint(1).await;
        let k = key(9);
        let mut c = Checkpointer::new(store.clone(), k.clone(), file.clone(), Some(url))
            .expect("checkpointer");
        let lines = || -> Vec<Line> {
            std::fs::read_to_string(&file)
                .unwrap_or_default()
                .lines()
                .map(|l| check_line(l, &k.verifying_key()).expect("signed").0)
                .collect()
        };

        // The first tick: one line for the chain that has entries (b's is empty). The endpoint
        // refuses it; it is posted again at the next tick.
        let t1 = c.tick(at(60)).await.expect("tick");
        assert_eq!((t1.written, t1.posted, t1.post_failed), (1, 0, 1));
        let head = store.audit_heads().await.expect("heads")[0].clone();
        let written = lines();
        assert_eq!(written.len(), 1);
        assert_eq!(
            (written[0].workspace, written[0].index, &written[0].hash),
            (a.0, 1, &head.hash)
        );
        assert_eq!(written[0].time, "2027-01-15T08:01:00.000Z");

        // Nothing moved: nothing written, the refused line posted.
        let t2 = c.tick(at(120)).await.expect("tick");
        assert_eq!((t2.written, t2.posted, t2.post_failed), (0, 1, 0));
        assert_eq!(lines().len(), 1);

        // b's head moves: one line, for b only.
        store
            .append_audit(b, at(130), &entry)
            .await
            .expect("append");
        store
            .append_audit(b, at(131), &entry)
            .await
            .expect("append");
        let t3 = c.tick(at(180)).await.expect("tick");
        assert_eq!((t3.written, t3.posted, t3.post_failed), (1, 1, 0));
        let written = lines();
        assert_eq!(written.len(), 2);
        assert_eq!((written[1].workspace, written[1].index), (b.0, 2));
        assert_eq!(*posted.lock(), written);
        assert_eq!(c.tick(at(240)).await.expect("tick"), Tick::default());
    }
}
