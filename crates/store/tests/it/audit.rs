//! The audit log: chain, filters, tamper detection, concurrent appenders.

use std::collections::HashSet;

use anyhow::Result;
use callforce_store::{
    AuditFilter, Backend, BreakReason, ChainBreak, NewAuditEntry, Verdict, WorkspaceId,
};

use crate::both;
use crate::support::{Db, t};

fn entry(i: u64) -> NewAuditEntry {
    NewAuditEntry {
        kind: if i.is_multiple_of(2) {
            "write.attempt".into()
        } else {
            "write.done".into()
        },
        call_id: Some(format!("call-{}", i % 3)),
        agent: Some("agent-1".into()),
        record_ids: vec![
            format!("003000000000{i:03}AAA"),
            "001000000000001AAA".into(),
        ],
        request: Some(format!(r#"{{"LastName":"Doe {i}"}}"#)),
        response: Some(r#"{"success":true}"#.into()),
    }
}

async fn chain_of(db: &Db, name: &str, n: u64) -> Result<WorkspaceId> {
    let ws = db.store.create_workspace(name, t(0)).await?.id;
    for i in 1..=n {
        db.store
            .append_audit(ws, t(i as i64 * 10), &entry(i))
            .await?;
    }
    Ok(ws)
}

fn broken(seq: u64, reason: BreakReason) -> Verdict {
    Verdict::Broken(ChainBreak { seq, reason })
}

both!(appended_entries_chain_verify_and_filter);
async fn appended_entries_chain_verify_and_filter(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("w", t(0)).await?.id;
    assert_eq!(
        s.verify_audit(ws).await?,
        Verdict::Intact {
            entries: 0,
            unkeyed: 0
        }
    );
    let mut prev = callforce_store::audit::GENESIS_HEX.to_owned();
    for i in 1..=6 {
        let e = s.append_audit(ws, t(i as i64 * 10), &entry(i)).await?;
        assert_eq!(e.seq, i);
        assert_eq!(e.prev_hash, prev);
        prev = e.hash.clone();
    }
    assert_eq!(
        s.verify_audit(ws).await?,
        Verdict::Intact {
            entries: 6,
            unkeyed: 6
        }
    );

    let all = s.list_audit(ws, &AuditFilter::default()).await?;
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6]
    );
    assert_eq!(all[0], {
        let mut e = all[0].clone();
        e.record_ids = entry(1).record_ids;
        e
    });
    let seqs = |v: Vec<callforce_store::AuditEntry>| v.iter().map(|e| e.seq).collect::<Vec<_>>();
    let by_call = AuditFilter {
        call_id: Some("call-1".into()),
        ..Default::default()
    };
    assert_eq!(seqs(s.list_audit(ws, &by_call).await?), vec![1, 4]);
    let by_record = AuditFilter {
        record_id: Some("003000000000005AAA".into()),
        ..Default::default()
    };
    assert_eq!(seqs(s.list_audit(ws, &by_record).await?), vec![5]);
    let shared = AuditFilter {
        record_id: Some("001000000000001AAA".into()),
        ..Default::default()
    };
    assert_eq!(s.list_audit(ws, &shared).await?.len(), 6);
    let window = AuditFilter {
        from: Some(t(20)),
        to: Some(t(40)),
        ..Default::default()
    };
    assert_eq!(seqs(s.list_audit(ws, &window).await?), vec![2, 3]);
    let page = AuditFilter {
        after_seq: Some(4),
        limit: Some(1),
        ..Default::default()
    };
    assert_eq!(seqs(s.list_audit(ws, &page).await?), vec![5]);
    Ok(())
}

both!(audit_pages_newest_first_by_keyset_with_actor_call_kind_and_time);
async fn audit_pages_newest_first_by_keyset_with_actor_call_kind_and_time(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("w", t(0)).await?.id;
    for i in 1..=30u64 {
        let mut e = entry(i);
        e.agent = Some(if i % 5 == 0 { "api-key:7" } else { "agent-1" }.into());
        s.append_audit(ws, t(i as i64 * 10), &e).await?;
    }
    let seqs = |v: Vec<callforce_store::AuditEntry>| v.iter().map(|e| e.seq).collect::<Vec<_>>();
    // Newest first, a page at a time by the last seq seen: every entry once.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = AuditFilter {
            newest_first: true,
            before_seq: before,
            limit: Some(7),
            ..Default::default()
        };
        let got = seqs(s.list_audit(ws, &page).await?);
        if got.is_empty() {
            break;
        }
        before = got.last().copied();
        seen.extend(got);
    }
    assert_eq!(seen, (1..=30).rev().collect::<Vec<_>>());
    let cases: [(AuditFilter, Vec<u64>); 5] = [
        (
            AuditFilter {
                agent: Some("api-key:7".into()),
                ..Default::default()
            },
            vec![30, 25, 20, 15, 10, 5],
        ),
        (
            AuditFilter {
                agent: Some("api-key:7".into()),
                before_seq: Some(20),
                ..Default::default()
            },
            vec![15, 10, 5],
        ),
        (
            AuditFilter {
                call_id: Some("call-0".into()),
                kind_prefix: Some("write.att".into()),
                ..Default::default()
            },
            vec![30, 24, 18, 12, 6],
        ),
        (
            AuditFilter {
                agent: Some("agent-1".into()),
                from: Some(t(100)),
                to: Some(t(150)),
                ..Default::default()
            },
            vec![14, 13, 12, 11],
        ),
        (
            AuditFilter {
                agent: Some("nobody".into()),
                ..Default::default()
            },
            vec![],
        ),
    ];
    for (filter, want) in cases {
        let filter = AuditFilter {
            newest_first: true,
            ..filter
        };
        assert_eq!(seqs(s.list_audit(ws, &filter).await?), want, "{filter:?}");
    }
    Ok(())
}

/// Makes raw tampering possible: on PostgreSQL the append-only triggers are first shown to
/// refuse it, then disabled (the test runs as the table owner).
pub(crate) async fn allow_tampering(db: &Db) -> Result<()> {
    if db.store.backend() == Backend::Postgres {
        for sql in [
            "UPDATE audit_log SET kind = 'x'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
            "DELETE FROM audit_record_ids",
        ] {
            let err = db.exec(sql).await.expect_err(sql).to_string();
            assert!(err.contains("append-only"), "{sql}: {err}");
        }
        db.exec("ALTER TABLE audit_log DISABLE TRIGGER USER")
            .await?;
    }
    Ok(())
}

both!(tampered_audit_entries_are_caught);
async fn tampered_audit_entries_are_caught(db: &Db) -> Result<()> {
    let s = &db.store;
    let edited = chain_of(db, "edited", 5).await?;
    let deleted = chain_of(db, "deleted", 5).await?;
    let swapped = chain_of(db, "swapped", 5).await?;
    let truncated = chain_of(db, "truncated", 5).await?;
    let rehashed = chain_of(db, "rehashed", 5).await?;
    let untouched = chain_of(db, "untouched", 5).await?;
    allow_tampering(db).await?;

    let n = db
        .exec(&format!(
            "UPDATE audit_log SET response = '{{\"success\":false}}' \
             WHERE workspace_id = {edited} AND seq = 3"
        ))
        .await?;
    assert_eq!(n, 1);
    assert_eq!(
        s.verify_audit(edited).await?,
        broken(3, BreakReason::HashMismatch)
    );

    db.exec(&format!(
        "DELETE FROM audit_log WHERE workspace_id = {deleted} AND seq = 3"
    ))
    .await?;
    assert_eq!(
        s.verify_audit(deleted).await?,
        broken(3, BreakReason::Missing)
    );

    for sql in [
        "UPDATE audit_log SET seq = -1 WHERE workspace_id = {w} AND seq = 2",
        "UPDATE audit_log SET seq = 2 WHERE workspace_id = {w} AND seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE workspace_id = {w} AND seq = -1",
    ] {
        db.exec(&sql.replace("{w}", &swapped.to_string())).await?;
    }
    assert_eq!(
        s.verify_audit(swapped).await?,
        broken(2, BreakReason::PrevHashMismatch)
    );

    db.exec(&format!(
        "DELETE FROM audit_log WHERE workspace_id = {truncated} AND seq >= 4"
    ))
    .await?;
    assert_eq!(
        s.verify_audit(truncated).await?,
        broken(4, BreakReason::TailMismatch)
    );

    // Editing an entry and writing its new hash still breaks the link to the next entry.
    let all = s.list_audit(rehashed, &AuditFilter::default()).await?;
    let mut forged = entry(2);
    forged.response = Some(r#"{"success":false}"#.into());
    let prev = callforce_store_hex_to_bytes(&all[1].prev_hash);
    let new_hash = callforce_store::audit::entry_hash(
        &prev,
        rehashed,
        2,
        all[1].at.timestamp_millis(),
        &forged,
    );
    let new_hex: String = new_hash.iter().map(|b| format!("{b:02x}")).collect();
    db.exec(&format!(
        "UPDATE audit_log SET response = '{{\"success\":false}}', hash = '{new_hex}' \
         WHERE workspace_id = {rehashed} AND seq = 2"
    ))
    .await?;
    assert_eq!(
        s.verify_audit(rehashed).await?,
        broken(3, BreakReason::PrevHashMismatch)
    );

    assert_eq!(
        s.verify_audit(untouched).await?,
        Verdict::Intact {
            entries: 5,
            unkeyed: 5
        }
    );
    Ok(())
}

fn callforce_store_hex_to_bytes(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}

both!(concurrent_appenders_keep_one_chain);
async fn concurrent_appenders_keep_one_chain(db: &Db) -> Result<()> {
    let ws = db.store.create_workspace("w", t(0)).await?.id;
    let mut tasks = Vec::new();
    for a in 0..6u64 {
        let s = db.store.clone();
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for i in 0..20u64 {
                seqs.push(s.append_audit(ws, t(1), &entry(a * 100 + i)).await?.seq);
            }
            Ok::<_, callforce_store::Error>(seqs)
        }));
    }
    let mut seqs = HashSet::new();
    for task in tasks {
        for seq in task.await?? {
            assert!(seqs.insert(seq), "seq {seq} handed out twice");
        }
    }
    assert_eq!(seqs, (1..=120).collect::<HashSet<u64>>());
    assert_eq!(
        db.store.verify_audit(ws).await?,
        Verdict::Intact {
            entries: 120,
            unkeyed: 120
        }
    );
    Ok(())
}
