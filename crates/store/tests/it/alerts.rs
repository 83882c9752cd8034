//! The alert outbox, and admin actions on dead letters recorded in the audit log.

use anyhow::Result;
use callforce_store::alerts::{KIND_DEAD_LETTER, KIND_NEEDS_REAUTH};
use callforce_store::{
    AlertStatus, DeadLetterFilter, Error, NewAlert, NewJob, Verdict, WorkspaceId,
};
use chrono::TimeDelta;

use crate::both;
use crate::support::{Db, t};

fn job(ws: WorkspaceId, key: &str) -> NewJob {
    NewJob {
        workspace: ws,
        connection_id: "conn-1".into(),
        idempotency_key: key.into(),
        ordering_key: format!("Case:{key}"),
        kind: "create".into(),
        payload: r#"{"Subject":"Broken"}"#.into(),
        call_id: Some("call-7".into()),
        agent: Some("aria".into()),
        run_at: t(0),
    }
}

/// Enqueues, leases and kills a job; returns its dead letter.
async fn dead_letter(
    db: &Db,
    ws: WorkspaceId,
    key: &str,
    error: &str,
) -> Result<callforce_store::DeadLetterId> {
    let s = &db.store;
    let id = s.enqueue(&job(ws, key), t(0)).await?.id;
    let leased = s.lease("w", t(1), TimeDelta::seconds(30), 100).await?;
    assert!(leased.iter().any(|j| j.id == id));
    Ok(s.dead(id, "w", t(2), error).await?)
}

both!(a_dead_job_records_exactly_one_alert_with_what_failed);
async fn a_dead_job_records_exactly_one_alert_with_what_failed(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("w", t(0)).await?.id;
    let dl = dead_letter(db, ws, "k1", "FIELD_CUSTOM_VALIDATION_EXCEPTION: Subject").await?;
    let alerts = s.list_alerts(ws, 10).await?;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a.kind, KIND_DEAD_LETTER);
    assert_eq!(a.dead_letter, Some(dl));
    assert_eq!(a.status, AlertStatus::Pending);
    assert_eq!(a.details["dead_letter_id"], dl.0);
    assert_eq!(a.details["call_id"], "call-7");
    assert_eq!(a.details["agent"], "aria");
    assert_eq!(
        a.details["error"],
        "FIELD_CUSTOM_VALIDATION_EXCEPTION: Subject"
    );
    assert_eq!(a.details["attempts"], 1);
    // The alert is delivered and acknowledged; then a replay fails again.
    let claimed = s.claim_alerts(t(3), TimeDelta::minutes(2), 10).await?;
    s.alert_sent(claimed[0].id, t(3)).await?;
    s.acknowledge_alert(ws, a.id, "key:1", t(3)).await?;
    s.replay_dead_letter(ws, dl, t(4)).await?;
    let leased = s.lease("w", t(5), TimeDelta::seconds(30), 10).await?;
    s.retry(leased[0].id, "w", t(6), t(6), "UNABLE_TO_LOCK_ROW")
        .await?;
    let leased = s.lease("w", t(7), TimeDelta::seconds(30), 10).await?;
    let dl2 = s.dead(leased[0].id, "w", t(8), "again").await?;

    // The same dead letter, open again, with every attempt since the first.
    assert_eq!(dl2, dl, "a failed replay keeps the dead letter's id");
    let letters = s
        .list_dead_letters(ws, &DeadLetterFilter::default())
        .await?;
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.status, callforce_store::DeadLetterStatus::Open);
    assert_eq!(letter.attempts, 3);
    let history: Vec<(u32, &str)> = letter
        .errors
        .iter()
        .map(|e| (e.attempt, e.error.as_str()))
        .collect();
    assert_eq!(
        history,
        [
            (1, "FIELD_CUSTOM_VALIDATION_EXCEPTION: Subject"),
            (2, "UNABLE_TO_LOCK_ROW"),
            (3, "again")
        ]
    );
    // Its one alert is pending again, no longer acknowledged, with the new failure.
    let alerts = s.list_alerts(ws, 10).await?;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].status, AlertStatus::Pending);
    assert_eq!(alerts[0].acknowledged_at, None);
    assert_eq!(alerts[0].details["error"], "again");
    assert_eq!(alerts[0].details["attempts"], 3);
    assert_eq!(
        s.claim_alerts(t(9), TimeDelta::minutes(2), 10).await?.len(),
        1
    );
    Ok(())
}

both!(an_acknowledged_alert_is_not_posted);
async fn an_acknowledged_alert_is_not_posted(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("w", t(0)).await?.id;
    let other = s.create_workspace("other", t(0)).await?.id;
    dead_letter(db, ws, "k1", "boom").await?;
    let id = s.list_alerts(ws, 10).await?[0].id;
    assert!(
        matches!(
            s.acknowledge_alert(other, id, "key:2", t(1)).await,
            Err(Error::NotFound)
        ),
        "another workspace's alert"
    );
    let acked = s.acknowledge_alert(ws, id, "cli", t(1)).await?;
    assert_eq!(acked.acknowledged_at, Some(t(1)));
    assert_eq!(acked.acknowledged_by.as_deref(), Some("cli"));
    let again = s.acknowledge_alert(ws, id, "key:1", t(2)).await?;
    assert_eq!(
        again.acknowledged_at,
        Some(t(1)),
        "the first acknowledgement is kept"
    );
    assert_eq!(again.acknowledged_by.as_deref(), Some("cli"));
    assert!(
        s.claim_alerts(t(3), TimeDelta::minutes(2), 10)
            .await?
            .is_empty()
    );
    // The first acknowledgement is audited, once.
    let audit = s
        .list_audit(ws, &callforce_store::AuditFilter::default())
        .await?;
    let acks: Vec<_> = audit
        .iter()
        .filter(|e| e.kind == "alert.acknowledge")
        .collect();
    assert_eq!(acks.len(), 1, "{audit:?}");
    assert_eq!(acks[0].agent.as_deref(), Some("cli"));
    assert!(matches!(s.verify_audit(ws).await?, Verdict::Intact { .. }));
    Ok(())
}

both!(claimed_alerts_are_held_retried_at_their_time_and_marked_sent);
async fn claimed_alerts_are_held_retried_at_their_time_and_marked_sent(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("w", t(0)).await?.id;
    dead_letter(db, ws, "k1", "boom").await?;
    let reauth = s
        .record_alert(
            ws,
            &NewAlert {
                kind: KIND_NEEDS_REAUTH.into(),
                details: serde_json::json!({"connection_id": "conn-1", "reason": "invalid_grant"}),
            },
            t(3),
        )
        .await?;
    assert_eq!(
        s.record_alert(
            WorkspaceId(9999),
            &NewAlert {
                kind: KIND_NEEDS_REAUTH.into(),
                details: serde_json::json!({})
            },
            t(3)
        )
        .await
        .err()
        .map(|e| matches!(e, Error::NotFound)),
        Some(true)
    );
    // Not due before it was recorded.
    assert!(
        s.claim_alerts(
            t(2) - TimeDelta::milliseconds(1),
            TimeDelta::seconds(60),
            10
        )
        .await?
        .is_empty()
    );
    let claimed = s.claim_alerts(t(3), TimeDelta::seconds(60), 10).await?;
    assert_eq!(claimed.len(), 2);
    assert_eq!(claimed[1].id, reauth);
    // Held: a second sender gets nothing until the hold runs out.
    let other = db.second_store().await?;
    assert!(
        other
            .claim_alerts(t(10), TimeDelta::seconds(60), 10)
            .await?
            .is_empty()
    );
    // The webhook was down for the first: retry at t(20). The second was delivered.
    s.alert_failed(claimed[0].id, t(20), "connection refused")
        .await?;
    s.alert_sent(claimed[1].id, t(4)).await?;
    assert!(
        s.claim_alerts(t(19), TimeDelta::seconds(60), 10)
            .await?
            .is_empty()
    );
    let again = s.claim_alerts(t(20), TimeDelta::seconds(60), 10).await?;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[0].last_error.as_deref(), Some("connection refused"));
    s.alert_sent(again[0].id, t(21)).await?;
    assert!(
        s.claim_alerts(t(1000), TimeDelta::seconds(60), 10)
            .await?
            .is_empty()
    );
    let all = s.list_alerts(ws, 10).await?;
    assert!(all.iter().all(|a| a.status == AlertStatus::Sent), "{all:?}");
    assert_eq!(all[1].attempts, 2, "one failure, one success");
    assert!(matches!(
        s.alert_failed(again[0].id, t(30), "late").await,
        Err(Error::InvalidState(_))
    ));
    Ok(())
}

both!(admin_actions_on_dead_letters_are_audited_in_their_transaction);
async fn admin_actions_on_dead_letters_are_audited_in_their_transaction(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("w", t(0)).await?.id;
    let a = dead_letter(db, ws, "a", "bad").await?;
    let b = dead_letter(db, ws, "b", "bad").await?;
    let c = dead_letter(db, ws, "c", "bad").await?;
    s.edit_dead_letter_payload_as(ws, a, r#"{"Subject":"Fixed"}"#, t(10), "key:1")
        .await?;
    s.replay_dead_letter_as(ws, a, t(11), "key:1").await?;
    s.discard_dead_letter_as(ws, b, t(12), "cli").await?;
    // A refused action appends nothing.
    assert!(matches!(
        s.discard_dead_letter_as(ws, b, t(13), "cli").await,
        Err(Error::InvalidState(_))
    ));
    assert!(matches!(
        s.replay_dead_letter_as(WorkspaceId(ws.0 + 1000), c, t(13), "cli")
            .await,
        Err(Error::NotFound)
    ));
    let replayed = s
        .replay_dead_letters_as(ws, &DeadLetterFilter::default(), t(14), "cli")
        .await?;
    assert_eq!(replayed.len(), 1, "only c was still open");
    let log = s.list_audit(ws, &Default::default()).await?;
    let kinds: Vec<&str> = log.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "deadletter.edit",
            "deadletter.replay",
            "deadletter.discard",
            "deadletter.replay"
        ]
    );
    assert_eq!(log[0].agent.as_deref(), Some("key:1"));
    assert_eq!(log[0].call_id.as_deref(), Some("call-7"));
    let edit: serde_json::Value = serde_json::from_str(log[0].request.as_deref().unwrap_or(""))?;
    assert_eq!(edit["payload_before"]["Subject"], "Broken");
    assert_eq!(edit["payload_after"]["Subject"], "Fixed");
    let replay: serde_json::Value = serde_json::from_str(log[1].request.as_deref().unwrap_or(""))?;
    assert_eq!(replay["payload"]["Subject"], "Fixed");
    assert_eq!(replay["idempotency_key"], "a");
    assert_eq!(
        s.verify_audit(ws).await?,
        Verdict::Intact {
            entries: 4,
            unkeyed: 4
        }
    );
    Ok(())
}

both!(dead_letters_filter_by_the_action_in_their_payload);
async fn dead_letters_filter_by_the_action_in_their_payload(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("w", t(0)).await?.id;
    for (key, payload) in [
        ("a", r#"{"action":"log_call","request":{}}"#),
        ("b", r#"{"action":"create_case","request":{}}"#),
        ("c", r#"["action"]"#),
        ("d", r#""log_call""#),
    ] {
        let mut j = job(ws, key);
        j.payload = payload.into();
        let id = s.enqueue(&j, t(0)).await?.id;
        s.lease("w", t(1), TimeDelta::seconds(30), 100).await?;
        s.dead(id, "w", t(2), "x").await?;
    }
    let by = |action: &str| DeadLetterFilter {
        action: Some(action.into()),
        ..Default::default()
    };
    let found = s.list_dead_letters(ws, &by("log_call")).await?;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].idempotency_key, "a");
    assert_eq!(s.list_dead_letters(ws, &by("create_case")).await?.len(), 1);
    assert!(s.list_dead_letters(ws, &by("nothing")).await?.is_empty());
    assert_eq!(s.list_dead_letters(ws, &Default::default()).await?.len(), 4);
    Ok(())
}

both!(the_sweep_deletes_resolved_dead_letters_past_the_cutoff_and_keeps_their_alerts);
async fn the_sweep_deletes_resolved_dead_letters_past_the_cutoff_and_keeps_their_alerts(
    db: &Db,
) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("w", t(0)).await?.id;
    let other = s.create_workspace("o", t(0)).await?.id;
    let discarded = dead_letter(db, ws, "a", "x").await?;
    s.discard_dead_letter_as(ws, discarded, t(10), "cli")
        .await?;
    let replayed = dead_letter(db, ws, "b", "x").await?;
    s.replay_dead_letter_as(ws, replayed, t(10), "cli").await?;
    let late = dead_letter(db, ws, "c", "x").await?;
    s.discard_dead_letter_as(ws, late, t(50), "cli").await?;
    let open = dead_letter(db, ws, "d", "x").await?;
    let theirs = dead_letter(db, other, "e", "x").await?;
    s.discard_dead_letter_as(other, theirs, t(10), "cli")
        .await?;
    let audit = s.audit_heads().await?;

    let expired = s.delete_expired(ws, t(20)).await?;
    assert_eq!(expired.dead_letters, 2);
    let mut left: Vec<i64> = s
        .list_dead_letters(ws, &DeadLetterFilter::default())
        .await?
        .iter()
        .map(|d| d.id.0)
        .collect();
    left.sort_unstable();
    assert_eq!(left, vec![late.0, open.0]);
    assert_eq!(
        s.list_dead_letters(other, &DeadLetterFilter::default())
            .await?
            .len(),
        1,
        "another workspace's"
    );
    // Their alerts stay, unlinked; the audit log is untouched and verifies.
    let alerts = s.list_alerts(ws, 100).await?;
    assert_eq!(alerts.len(), 4);
    assert_eq!(alerts.iter().filter(|a| a.dead_letter.is_none()).count(), 2);
    assert_eq!(s.audit_heads().await?, audit);
    assert!(matches!(s.verify_audit(ws).await?, Verdict::Intact { .. }));
    assert_eq!(s.delete_expired(ws, t(20)).await?.dead_letters, 0);
    Ok(())
}

both!(workspace_settings_are_set_cleared_and_audited);
async fn workspace_settings_are_set_cleared_and_audited(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("w", t(0)).await?.id;
    let entry = |kind: &str| callforce_store::NewAuditEntry {
        kind: kind.into(),
        agent: Some("api-key:1".into()),
        request: Some("{}".into()),
        ..Default::default()
    };
    assert_eq!(
        s.workspace_settings(ws).await?,
        callforce_store::WorkspaceSettings::default()
    );
    s.set_alert_webhook_as(ws, Some("https://h/x"), t(1), &entry("config.a"))
        .await?;
    s.set_retention_as(ws, Some(7), t(2), &entry("config.b"))
        .await?;
    let now = s.workspace_settings(ws).await?;
    assert_eq!(now.alert_webhook.as_deref(), Some("https://h/x"));
    assert_eq!(now.retention_days, Some(7));
    assert!(!format!("{now:?}").contains("https://h/x"), "{now:?}");
    assert_eq!(s.retentions().await?, vec![(ws, Some(7))]);
    s.set_alert_webhook_as(ws, None, t(3), &entry("config.a"))
        .await?;
    assert_eq!(s.workspace_settings(ws).await?.alert_webhook, None);
    assert_eq!(s.audit_heads().await?[0].seq, 3);
    assert!(matches!(
        s.set_retention_as(
            callforce_store::WorkspaceId(999),
            Some(1),
            t(4),
            &entry("x")
        )
        .await,
        Err(Error::NotFound)
    ));
    Ok(())
}
