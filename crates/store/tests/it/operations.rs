//! The operations log: batches, calls, one call's timeline, activity, retention, and the
//! sensitive fields.

use anyhow::Result;
use callforce_store::{CallFilter, NewOperation, WorkspaceId};
use chrono::TimeDelta;

use crate::both;
use crate::support::{Db, t};

fn op(ws: WorkspaceId, call: &str, action: &str, outcome: &str, at: i64, us: u64) -> NewOperation {
    NewOperation {
        workspace: ws,
        call_id: call.into(),
        call_instance: Some(format!("{call}-1")),
        agent: Some("receptionist".into()),
        connection_id: Some("conn-1".into()),
        action: action.into(),
        arguments: r#"{"phone":"+15551234567"}"#.into(),
        result: r#"{"records":[]}"#.into(),
        outcome: outcome.into(),
        latency_us: us,
        round_trips: u32::try_from(at).unwrap_or(0),
        caller_phone: Some(format!("+1555{call}")),
        started_at: t(at),
    }
}

both!(a_batch_is_recorded_and_a_calls_operations_come_back_in_order);
async fn a_batch_is_recorded_and_a_calls_operations_come_back_in_order(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("acme", t(0)).await?.id;
    let other = s.create_workspace("other", t(0)).await?.id;
    s.record_operations(&[
        op(ws, "c1", "log_call", "ok", 3, 30),
        op(ws, "c1", "search_contact", "ok", 1, 10),
        op(ws, "c1", "create_case", "salesforce", 2, 20),
        op(other, "c1", "search_contact", "ok", 1, 10),
    ])
    .await?;
    let ops = s.call_operations(ws, "c1").await?;
    let actions: Vec<_> = ops.iter().map(|o| o.action.as_str()).collect();
    assert_eq!(actions, ["search_contact", "create_case", "log_call"]);
    assert_eq!(
        ops[0].arguments,
        serde_json::json!({"phone": "+15551234567"})
    );
    assert_eq!(ops[0].result, serde_json::json!({"records": []}));
    assert_eq!(ops[1].outcome, "salesforce");
    assert_eq!(ops[1].latency_us, 20);
    assert_eq!(ops[1].round_trips, 2);
    assert_eq!(ops[0].call_instance.as_deref(), Some("c1-1"));
    assert_eq!(ops[0].started_at, t(1));
    assert!(s.call_operations(ws, "c2").await?.is_empty());
    Ok(())
}

both!(a_batch_with_text_that_is_not_json_records_nothing);
async fn a_batch_with_text_that_is_not_json_records_nothing(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("acme", t(0)).await?.id;
    let mut bad = op(ws, "c1", "log_call", "ok", 2, 1);
    bad.result = "not json".into();
    assert!(matches!(
        s.record_operations(&[op(ws, "c1", "log_call", "ok", 1, 1), bad])
            .await,
        Err(callforce_store::Error::InvalidJson(_))
    ));
    assert!(s.call_operations(ws, "c1").await?.is_empty());
    Ok(())
}

both!(calls_are_listed_newest_first_with_filters_and_a_cursor);
async fn calls_are_listed_newest_first_with_filters_and_a_cursor(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("acme", t(0)).await?.id;
    let other = s.create_workspace("other", t(0)).await?.id;
    let mut by_other_agent = op(ws, "c3", "log_call", "ok", 50, 5);
    by_other_agent.agent = Some("sales".into());
    s.record_operations(&[
        op(ws, "c1", "search_contact", "ok", 10, 1),
        op(ws, "c1", "create_case", "salesforce", 12, 1),
        op(ws, "c2", "search_contact", "ok", 20, 1),
        op(ws, "c2", "log_call", "confirm", 40, 1),
        by_other_agent,
        op(other, "c9", "log_call", "ok", 60, 1),
    ])
    .await?;
    let ids = |v: &[callforce_store::CallSummary]| {
        v.iter().map(|c| c.call_id.clone()).collect::<Vec<_>>()
    };

    let all = s.list_calls(ws, &CallFilter::default()).await?;
    assert_eq!(ids(&all), ["c3", "c2", "c1"]);
    let c1 = &all[2];
    assert_eq!(
        (c1.first_at, c1.last_at, c1.operations, c1.errors),
        (t(10), t(12), 2, 1)
    );
    assert_eq!(c1.caller_phone.as_deref(), Some("+1555c1"));
    assert_eq!(c1.agent.as_deref(), Some("receptionist"));
    assert_eq!(c1.connection_id.as_deref(), Some("conn-1"));
    // A confirmation is not an error.
    assert_eq!(all[1].errors, 0);

    let f = |f: CallFilter| async move { s.list_calls(ws, &f).await };
    let by_action = f(CallFilter {
        action: Some("search_contact".into()),
        ..Default::default()
    })
    .await?;
    assert_eq!(ids(&by_action), ["c2", "c1"]);
    // A call matched by one operation is summed up over all of them.
    assert_eq!(by_action[0].operations, 2);
    let by_outcome = f(CallFilter {
        outcome: Some("salesforce".into()),
        ..Default::default()
    })
    .await?;
    assert_eq!(ids(&by_outcome), ["c1"]);
    let by_phone = f(CallFilter {
        caller_phone: Some("+1555c2".into()),
        ..Default::default()
    })
    .await?;
    assert_eq!(ids(&by_phone), ["c2"]);
    let by_agent = f(CallFilter {
        agent: Some("sales".into()),
        ..Default::default()
    })
    .await?;
    assert_eq!(ids(&by_agent), ["c3"]);
    let by_time = f(CallFilter {
        since: Some(t(15)),
        until: Some(t(45)),
        ..Default::default()
    })
    .await?;
    assert_eq!(ids(&by_time), ["c2"]);

    // Pages of one, following the cursor.
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = f(CallFilter {
            limit: Some(1),
            after: after.clone(),
            ..Default::default()
        })
        .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.cursor());
        pages.extend(ids(&page));
    }
    assert_eq!(pages, ["c3", "c2", "c1"]);
    Ok(())
}

both!(activity_counts_errors_and_latency_percentiles_per_bucket);
async fn activity_counts_errors_and_latency_percentiles_per_bucket(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("acme", t(0)).await?.id;
    let mut ops: Vec<_> = (1..=100u64)
        .map(|i| op(ws, "c1", "search_contact", "ok", 60, i * 10))
        .collect();
    ops.push(op(ws, "c2", "create_case", "unavailable", 130, 7));
    // Outside the window.
    ops.push(op(ws, "c2", "create_case", "ok", 180, 7));
    s.record_operations(&ops).await?;
    let buckets = s
        .operation_activity(ws, t(0), t(180), TimeDelta::seconds(60))
        .await?;
    assert_eq!(buckets.len(), 3);
    assert_eq!(buckets[0].operations, 0);
    assert_eq!(buckets[0].p50_us, None);
    assert_eq!(buckets[0].start, t(0));
    assert_eq!(
        (
            buckets[1].operations,
            buckets[1].errors,
            buckets[1].p50_us,
            buckets[1].p95_us
        ),
        (100, 0, Some(500), Some(950))
    );
    assert_eq!(buckets[1].start, t(60));
    assert_eq!(
        (buckets[2].operations, buckets[2].errors, buckets[2].p50_us),
        (1, 1, Some(7))
    );
    Ok(())
}

both!(the_retention_deletes_older_operations_of_its_workspace);
async fn the_retention_deletes_older_operations_of_its_workspace(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("acme", t(0)).await?.id;
    let other = s.create_workspace("other", t(0)).await?.id;
    s.record_operations(&[
        op(ws, "c1", "log_call", "ok", 10, 1),
        op(other, "c1", "log_call", "ok", 10, 1),
        op(ws, "c1", "log_call", "ok", 20, 1),
    ])
    .await?;
    assert_eq!(s.delete_expired(ws, t(20)).await?.operations, 1);
    assert_eq!(s.call_operations(ws, "c1").await?.len(), 1);
    assert_eq!(
        s.call_operations(other, "c1").await?.len(),
        1,
        "its own sweep"
    );
    assert_eq!(s.delete_expired(other, t(20)).await?.operations, 1);
    assert!(s.call_operations(other, "c1").await?.is_empty());
    assert_eq!(s.delete_expired(ws, t(20)).await?.operations, 0);
    Ok(())
}

both!(sensitive_fields_are_none_by_default_and_kept_per_workspace);
async fn sensitive_fields_are_none_by_default_and_kept_per_workspace(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("acme", t(0)).await?.id;
    let other = s.create_workspace("other", t(0)).await?.id;
    assert!(s.sensitive_fields(ws).await?.is_empty());
    s.set_sensitive_fields(ws, &["SSN__c".into(), "Birthdate".into()])
        .await?;
    assert_eq!(s.sensitive_fields(ws).await?, ["SSN__c", "Birthdate"]);
    assert!(s.sensitive_fields(other).await?.is_empty());
    assert!(matches!(
        s.set_sensitive_fields(WorkspaceId(9999), &[]).await,
        Err(callforce_store::Error::NotFound)
    ));
    Ok(())
}
