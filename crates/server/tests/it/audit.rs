//! `callforce audit verify` on a keyed chain and against a checkpoint file, as an operator (or a
//! third party holding the file and the public key) runs it.

use std::process::Output;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use callforce_store::{AuditFilter, NewAuditEntry, Store, WorkspaceId};
use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

use crate::cli::{callforce, open, stderr, stdout, t};

fn entry(i: i64) -> NewAuditEntry {
    NewAuditEntry {
        kind: "write.done".into(),
        call_id: Some(format!("call-{i}")),
        agent: Some("aria".into()),
        record_ids: vec![format!("00T00000000000{i}AAA")],
        request: Some(format!(r#"{{"n":{i}}}"#)),
        response: Some(r#"{"success":true}"#.into()),
    }
}

fn with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_callforce"))
        .args(args)
        .env_remove("CALLFORCE_DATABASE_URL")
        .env_remove("CALLFORCE_MASTER_KEY")
        .envs(env.iter().copied())
        .output()
        .expect("runs the binary")
}

/// A checkpoint line made as the documented format says, by a key the test holds: what
/// `serve` writes, checked by the CLI as any third party would.
fn line(key: &SigningKey, ws: i64, index: u64, hash: &str, time: &str) -> String {
    let id: String = Sha256::digest(key.verifying_key().as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let msg = format!("callforce.audit.checkpoint.v1\n{ws}\n{index}\n{hash}\n{time}\n{id}");
    let sig = STANDARD.encode(key.sign(msg.as_bytes()).to_bytes());
    serde_json::json!({"workspace": ws, "index": index, "hash": hash, "time": time,
                       "key_id": id, "signature": sig})
    .to_string()
}

fn public(key: &SigningKey) -> String {
    format!(
        "ed25519:{}",
        STANDARD.encode(key.verifying_key().as_bytes())
    )
}

async fn hashes(store: &Store, ws: WorkspaceId) -> Vec<String> {
    store
        .list_audit(ws, &AuditFilter::default())
        .await
        .expect("list")
        .into_iter()
        .map(|e| e.hash)
        .collect()
}

#[tokio::test]
async fn a_tail_deleted_after_a_checkpoint_is_caught_and_a_forged_line_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");
    let store = open(dir.path()).await;
    let ws = store
        .create_workspace("default", t(0))
        .await
        .expect("ws")
        .id;
    for i in 1..=5 {
        store
            .append_audit(ws, t(i), &entry(i))
            .await
            .expect("append");
    }
    let h = hashes(&store, ws).await;
    let key = SigningKey::from_bytes(&[7; 32]);
    let file = dir.path().join("checkpoints.jsonl");
    let lines = [
        line(&key, ws.0, 2, &h[1], "2027-01-15T08:01:00.000Z"),
        line(&key, ws.0, 5, &h[4], "2027-01-15T08:02:00.000Z"),
    ];
    std::fs::write(&file, lines.join("\n") + "\n").expect("file");
    let cp = file.to_str().expect("utf-8 path");
    let pk = public(&key);
    let verify = |extra: &[&str]| {
        let mut args = vec!["audit", "verify", "--data-dir", data];
        args.extend_from_slice(extra);
        callforce(&args)
    };

    let out = verify(&["--checkpoint", cp, "--checkpoint-key", &pk]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let report = stdout(&out);
    assert!(
        report.contains("workspace default: intact (5 entries)"),
        "{report}"
    );
    assert!(
        report.contains("2 checkpoint(s) hold; the last, of 2027-01-15T08:02:00.000Z, at entry 5"),
        "{report}"
    );
    assert!(report.contains("5 of them only hash-chained"), "{report}");
    // Without a key the signatures cannot be checked: said, and exit 2.
    let out = verify(&["--checkpoint", cp]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("signatures NOT checked"),
        "{}",
        stdout(&out)
    );

    // The tail deleted and the head moved back: the database alone cannot tell.
    let pool = store.sqlite_pool().expect("sqlite");
    sqlx::query("DELETE FROM audit_log WHERE seq >= 4")
        .execute(pool)
        .await
        .expect("delete");
    sqlx::query("UPDATE audit_heads SET seq = 3, hash = $1")
        .bind(&h[2])
        .execute(pool)
        .await
        .expect("head");
    let out = verify(&[]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("workspace default: intact (3 entries)"),
        "{}",
        stdout(&out)
    );
    let out = verify(&["--checkpoint", cp, "--checkpoint-key", &pk]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report = stdout(&out);
    assert!(
        report.contains("workspace default: BROKEN at entry 4: it is missing, but a signed checkpoint recorded the chain past it"),
        "{report}"
    );
    assert!(
        report.contains(
            "the chain ends at entry 3; a checkpoint of 2027-01-15T08:02:00.000Z recorded entry 5"
        ),
        "{report}"
    );

    // A line altered to hide it (its index moved down to the new head) is refused.
    let forged = lines[1].replace("\"index\":5", "\"index\":3");
    std::fs::write(&file, format!("{}\n{forged}\n", lines[0])).expect("file");
    let out = verify(&["--checkpoint", cp, "--checkpoint-key", &pk]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("checkpoint line 2: REFUSED: its signature does not verify"),
        "{}",
        stdout(&out)
    );
    // Signed by another key than the one given: refused too.
    let other = SigningKey::from_bytes(&[8; 32]);
    std::fs::write(
        &file,
        line(&other, ws.0, 3, &h[2], "2027-01-15T08:03:00.000Z"),
    )
    .expect("file");
    let out = verify(&["--checkpoint", cp, "--checkpoint-key", &pk]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("REFUSED: signed by key"),
        "{}",
        stdout(&out)
    );
    // A checkpointed workspace whose whole chain is gone from the database.
    std::fs::write(&file, line(&key, 99, 1, &h[0], "2027-01-15T08:04:00.000Z")).expect("file");
    let out = verify(&["--checkpoint", cp, "--checkpoint-key", &pk]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("workspace id 99: BROKEN: the checkpoint file records its chain up to entry 1, but the database has no chain for it"),
        "{}",
        stdout(&out)
    );
    store.close().await;
}

/// A keyed chain (the vault made by `keys rotate`): an entry edited and its hash recomputed
/// without the key is caught; another master key is refused; no key at all is said.
#[tokio::test]
async fn an_entry_recomputed_without_the_key_is_caught_by_the_hmac() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8 path");
    let store = open(dir.path()).await;
    store.create_workspace("default", t(0)).await.expect("ws");
    store.close().await;
    // The first `keys rotate` makes the vault (version 1) and moves it to version 2; the
    // workspace made after is keyed with version 2.
    for args in [
        vec!["keys", "rotate", "--data-dir", data],
        vec!["workspace", "create", "acme", "--data-dir", data],
    ] {
        let out = callforce(&args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    let store = open(dir.path()).await;
    let acme = store
        .workspace_by_name("acme")
        .await
        .expect("read")
        .expect("acme")
        .id;
    let entries = store
        .list_audit(acme, &AuditFilter::default())
        .await
        .expect("list");
    let versions: Vec<_> = entries.iter().map(|e| e.key_version).collect();
    assert_eq!(versions, [Some(2), Some(2)]);
    let out = callforce(&["audit", "verify", "--data-dir", data]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("workspace acme: intact (2 entries)"),
        "{}",
        stdout(&out)
    );

    // Someone without the key edits entry 2 and writes the SHA-256 chain hash it would have.
    let e = &entries[1];
    let forged = NewAuditEntry {
        kind: e.kind.clone(),
        call_id: e.call_id.clone(),
        agent: Some("someone else".into()),
        record_ids: e.record_ids.clone(),
        request: e.request.clone(),
        response: e.response.clone(),
    };
    let mut prev = [0u8; 32];
    for (i, b) in prev.iter_mut().enumerate() {
        *b = u8::from_str_radix(&e.prev_hash[2 * i..2 * i + 2], 16).expect("hex");
    }
    let hash: String =
        callforce_store::audit::entry_hash(&prev, acme, 2, e.at.timestamp_millis(), &forged)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
    let pool = store.sqlite_pool().expect("sqlite");
    for (sql, v) in [
        (
            "UPDATE audit_log SET agent = 'someone else', hash = $1 WHERE workspace_id = $2 AND seq = 2",
            &hash,
        ),
        (
            "UPDATE audit_heads SET hash = $1 WHERE workspace_id = $2",
            &hash,
        ),
    ] {
        sqlx::query(sql)
            .bind(v)
            .bind(acme.0)
            .execute(pool)
            .await
            .expect("tamper");
    }
    store.close().await;
    let out = callforce(&["audit", "verify", "--data-dir", data]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out)
            .contains("workspace acme: BROKEN at entry 2: its content does not match its hash"),
        "{}",
        stdout(&out)
    );

    // Another master key: refused, not used.
    let other = STANDARD.encode([5u8; 32]);
    let out = with_env(
        &["audit", "verify", "--data-dir", data],
        &[("CALLFORCE_MASTER_KEY", &other)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("wrong master key"),
        "{}",
        stderr(&out)
    );

    // No master key at hand: what could not be checked is said, and it is not a pass.
    std::fs::rename(
        dir.path().join("master.key"),
        dir.path().join("elsewhere.key"),
    )
    .expect("mv");
    let out = callforce(&["audit", "verify", "--data-dir", data, "--workspace", "acme"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("workspace acme: NOT FULLY CHECKED (2 entries): 2 keyed entries of key version(s) [2] could not be checked"),
        "{}",
        stdout(&out)
    );
    // Nor may a command without the key append to the log of a database that has a vault,
    // not even a new workspace's first entries.
    let out = callforce(&["workspace", "create", "beta", "--data-dir", data]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("the audit log is keyed"),
        "{}",
        stderr(&out)
    );
}
