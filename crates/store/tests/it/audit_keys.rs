//! The keyed audit chain: HMAC per key version, the refusal of unkeyed appends to a keyed chain,
//! rotation, and checkpoints that catch truncation and recomputation.

use anyhow::Result;
use callforce_store::audit::entry_hash;
use callforce_store::{
    AuditFilter, AuditKeys, BreakReason, ChainBreak, Checkpoint, Error, NewAuditEntry, Store,
    Verdict, WorkspaceId,
};
use zeroize::Zeroizing;

use crate::audit::allow_tampering;
use crate::both;
use crate::support::{Db, t};

fn keys(version: i64, byte: u8) -> AuditKeys {
    AuditKeys::new(version, Zeroizing::new([byte; 32]))
}

fn entry(i: u64) -> NewAuditEntry {
    NewAuditEntry {
        kind: "write.done".into(),
        call_id: Some(format!("call-{i}")),
        agent: Some("agent-1".into()),
        record_ids: vec![format!("003000000000{i:03}AAA")],
        request: Some(format!(r#"{{"LastName":"Doe {i}"}}"#)),
        response: Some(r#"{"success":true}"#.into()),
    }
}

async fn append(s: &Store, ws: WorkspaceId, from: u64, to: u64) -> Result<()> {
    for i in from..=to {
        s.append_audit(ws, t(i as i64 * 10), &entry(i)).await?;
    }
    Ok(())
}

fn broken(seq: u64, reason: BreakReason) -> Verdict {
    Verdict::Broken(ChainBreak { seq, reason })
}

fn unhex(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}

fn hex(b: &[u8; 32]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// What an attacker without the key does: rewrites entries `from..` of the chain (the first with
/// `edit` applied) with unkeyed SHA-256 hashes, stored under `key_version` (`NULL` or the
/// entries' own), and moves the head to the new tail.
async fn recompute_unkeyed(
    db: &Db,
    ws: WorkspaceId,
    from: u64,
    edit: impl Fn(&mut NewAuditEntry),
    key_version: &str,
) -> Result<()> {
    let all = db.store.list_audit(ws, &AuditFilter::default()).await?;
    let mut prev = unhex(&all[from as usize - 1].prev_hash);
    for e in all.iter().skip(from as usize - 1) {
        let mut new = NewAuditEntry {
            kind: e.kind.clone(),
            call_id: e.call_id.clone(),
            agent: e.agent.clone(),
            record_ids: e.record_ids.clone(),
            request: e.request.clone(),
            response: e.response.clone(),
        };
        if e.seq == from {
            edit(&mut new);
        }
        let h = entry_hash(&prev, ws, e.seq, e.at.timestamp_millis(), &new);
        let response = new
            .response
            .as_deref()
            .unwrap_or("null")
            .replace('\'', "''");
        db.exec(&format!(
            "UPDATE audit_log SET response = '{response}', prev_hash = '{}', hash = '{}', \
             key_version = {key_version} WHERE workspace_id = {ws} AND seq = {}",
            hex(&prev),
            hex(&h),
            e.seq
        ))
        .await?;
        prev = h;
    }
    db.exec(&format!(
        "UPDATE audit_heads SET hash = '{}' WHERE workspace_id = {ws}",
        hex(&prev)
    ))
    .await?;
    Ok(())
}

both!(keyed_entries_carry_their_version_and_verify);
async fn keyed_entries_carry_their_version_and_verify(db: &Db) -> Result<()> {
    // Entries written before keys existed stay as they are, and keyed ones follow them.
    let ws = db.store.create_workspace("w", t(0)).await?.id;
    append(&db.store, ws, 1, 2).await?;
    let s = db.store.clone().with_audit_keys(keys(1, 7));
    append(&s, ws, 3, 5).await?;
    let all = s.list_audit(ws, &AuditFilter::default()).await?;
    let versions: Vec<_> = all.iter().map(|e| e.key_version).collect();
    assert_eq!(versions, [None, None, Some(1), Some(1), Some(1)]);
    // A keyed hash is not the unkeyed one of the same entry.
    let e = &all[2];
    assert_ne!(
        e.hash,
        hex(&entry_hash(
            &unhex(&e.prev_hash),
            ws,
            3,
            e.at.timestamp_millis(),
            &entry(3)
        ))
    );
    assert_eq!(
        s.verify_audit(ws).await?,
        Verdict::Intact {
            entries: 5,
            unkeyed: 2
        }
    );

    // A store without the key cannot append to a keyed chain, nor check its keyed entries.
    assert!(db.store.audit_keys().current().is_none());
    assert!(matches!(
        db.store.append_audit(ws, t(99), &entry(6)).await,
        Err(Error::AuditKeyRequired)
    ));
    assert_eq!(
        db.store.verify_audit(ws).await?,
        Verdict::Unchecked {
            entries: 5,
            unkeyed: 2,
            unchecked: 3,
            missing_versions: vec![1]
        }
    );
    // Another key of the same version does not verify them.
    let other = db.second_store().await?.with_audit_keys(keys(1, 8));
    assert_eq!(
        other.verify_audit(ws).await?,
        broken(3, BreakReason::HashMismatch)
    );
    other.close().await;
    Ok(())
}

both!(a_rotated_key_keeps_verifying_the_entries_it_keyed);
async fn a_rotated_key_keeps_verifying_the_entries_it_keyed(db: &Db) -> Result<()> {
    let ws = db.store.create_workspace("w", t(0)).await?.id;
    let v1 = db.store.clone().with_audit_keys(keys(1, 1));
    append(&v1, ws, 1, 2).await?;
    let mut rotated = keys(2, 2);
    rotated.add_older(1, Zeroizing::new([1; 32]));
    let v2 = db.store.clone().with_audit_keys(rotated);
    append(&v2, ws, 3, 4).await?;
    let versions: Vec<_> = v2
        .list_audit(ws, &AuditFilter::default())
        .await?
        .iter()
        .map(|e| e.key_version)
        .collect();
    assert_eq!(versions, [Some(1), Some(1), Some(2), Some(2)]);
    assert_eq!(
        v2.verify_audit(ws).await?,
        Verdict::Intact {
            entries: 4,
            unkeyed: 0
        }
    );
    // Without the old key, its entries are reported unchecked, not passed.
    let only_new = db.store.clone().with_audit_keys(keys(2, 2));
    assert_eq!(
        only_new.verify_audit(ws).await?,
        Verdict::Unchecked {
            entries: 4,
            unkeyed: 0,
            unchecked: 2,
            missing_versions: vec![1]
        }
    );
    Ok(())
}

both!(an_entry_edited_and_recomputed_without_the_key_is_caught);
async fn an_entry_edited_and_recomputed_without_the_key_is_caught(db: &Db) -> Result<()> {
    let s = db.store.clone().with_audit_keys(keys(1, 1));
    let forged = |e: &mut NewAuditEntry| e.response = Some(r#"{"success":false}"#.into());
    let kept = s.create_workspace("kept", t(0)).await?.id;
    let dropped = s.create_workspace("dropped", t(0)).await?.id;
    let whole = s.create_workspace("whole", t(0)).await?.id;
    for ws in [kept, dropped, whole] {
        append(&s, ws, 1, 5).await?;
    }
    let checkpoint = |e: &callforce_store::AuditEntry| Checkpoint {
        index: e.seq,
        hash: unhex(&e.hash),
    };
    let last = s.list_audit(whole, &AuditFilter::default()).await?[4].clone();
    allow_tampering(db).await?;

    // Entry 3 edited and the chain recomputed with SHA-256, its version kept: the HMAC fails.
    recompute_unkeyed(db, kept, 3, forged, "key_version").await?;
    assert_eq!(
        s.verify_audit(kept).await?,
        broken(3, BreakReason::HashMismatch)
    );
    // The same with the version removed: an unkeyed entry after keyed ones.
    recompute_unkeyed(db, dropped, 3, forged, "NULL").await?;
    assert_eq!(
        s.verify_audit(dropped).await?,
        broken(3, BreakReason::Unkeyed)
    );
    // The whole chain rewritten as unkeyed passes the database check (every entry is reported
    // as only hash-chained); a checkpoint taken before catches it.
    recompute_unkeyed(db, whole, 1, forged, "NULL").await?;
    assert_eq!(
        s.verify_audit(whole).await?,
        Verdict::Intact {
            entries: 5,
            unkeyed: 5
        }
    );
    assert_eq!(
        s.verify_audit_against(whole, &[checkpoint(&last)]).await?,
        broken(5, BreakReason::CheckpointMismatch)
    );
    Ok(())
}

both!(a_tail_truncated_after_a_checkpoint_is_caught);
async fn a_tail_truncated_after_a_checkpoint_is_caught(db: &Db) -> Result<()> {
    let s = db.store.clone().with_audit_keys(keys(1, 1));
    let ws = s.create_workspace("w", t(0)).await?.id;
    append(&s, ws, 1, 5).await?;
    let all = s.list_audit(ws, &AuditFilter::default()).await?;
    let at = |i: usize| Checkpoint {
        index: all[i - 1].seq,
        hash: unhex(&all[i - 1].hash),
    };
    let heads = s.audit_heads().await?;
    assert_eq!((heads[0].workspace, heads[0].seq), (ws, 5));
    assert_eq!(heads[0].hash, all[4].hash);
    assert_eq!(
        s.verify_audit_against(ws, &[at(5), at(2)]).await?,
        Verdict::Intact {
            entries: 5,
            unkeyed: 0
        }
    );
    allow_tampering(db).await?;
    db.exec(&format!(
        "DELETE FROM audit_log WHERE workspace_id = {ws} AND seq >= 4"
    ))
    .await?;
    db.exec(&format!(
        "UPDATE audit_heads SET seq = 3, hash = '{}' WHERE workspace_id = {ws}",
        all[2].hash
    ))
    .await?;
    // The database alone cannot tell: the head moved with the tail.
    assert_eq!(
        s.verify_audit(ws).await?,
        Verdict::Intact {
            entries: 3,
            unkeyed: 0
        }
    );
    // A checkpoint below the new head still holds; the one at entry 5 catches it.
    assert_eq!(
        s.verify_audit_against(ws, &[at(2)]).await?,
        Verdict::Intact {
            entries: 3,
            unkeyed: 0
        }
    );
    assert_eq!(
        s.verify_audit_against(ws, &[at(5), at(2)]).await?,
        broken(4, BreakReason::BelowCheckpoint)
    );
    Ok(())
}

both!(a_database_with_a_vault_key_takes_no_unkeyed_entry);
async fn a_database_with_a_vault_key_takes_no_unkeyed_entry(db: &Db) -> Result<()> {
    let ws = db.store.create_workspace("w", t(0)).await?.id;
    append(&db.store, ws, 1, 1).await?;
    assert!(db.store.register_first_vault_key(&[1], t(1)).await?);
    // Not even the first entry of a new chain: it could be forged by anyone.
    let fresh = db.store.create_workspace("fresh", t(2)).await?.id;
    for w in [ws, fresh] {
        assert!(matches!(
            db.store.append_audit(w, t(3), &entry(2)).await,
            Err(Error::AuditKeyRequired)
        ));
    }
    let s = db.store.clone().with_audit_keys(keys(1, 1));
    append(&s, fresh, 1, 1).await?;
    append(&s, ws, 2, 2).await?;
    assert_eq!(
        s.verify_audit(ws).await?,
        Verdict::Intact {
            entries: 2,
            unkeyed: 1
        }
    );
    Ok(())
}

both!(a_rotation_reseals_every_sealed_value_or_changes_nothing);
async fn a_rotation_reseals_every_sealed_value_or_changes_nothing(db: &Db) -> Result<()> {
    let s = &db.store;
    assert!(s.register_first_vault_key(&[1], t(0)).await?);
    assert!(s.insert_sealed_value("a", 1, &[1, 1], t(0)).await?);
    assert!(!s.insert_sealed_value("a", 1, &[9, 9], t(0)).await?);
    // A value sealed after the caller read them (here: never given) stops the rotation.
    assert!(matches!(
        s.rotate_vault_key_audited(2, &[2], &[], &[], t(1), &[])
            .await,
        Err(Error::SealedValuesChanged)
    ));
    assert!(matches!(
        s.rotate_vault_key(2, &[2], &[], t(1)).await,
        Err(Error::SealedValuesChanged)
    ));
    assert_eq!(s.latest_vault_key().await?, Some((1, vec![1])));
    let sealed = [("a".to_owned(), vec![2, 2]), ("b".to_owned(), vec![3])];
    s.rotate_vault_key_audited(2, &[2], &[], &sealed, t(1), &[])
        .await?;
    let stored: Vec<_> = s
        .sealed_values()
        .await?
        .into_iter()
        .map(|v| (v.name, v.key_version, v.sealed))
        .collect();
    assert_eq!(
        stored,
        [("a".into(), 2, vec![2, 2]), ("b".into(), 2, vec![3])]
    );
    Ok(())
}
