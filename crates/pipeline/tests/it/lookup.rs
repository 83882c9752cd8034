//! Creates of objects with no idempotency key whose answer was lost: looked up before they are
//! sent again (the dev org's `commit_then_drop` and `drop` faults).

use std::time::Duration;

use anyhow::Result;
use callforce_actions::WriteOutcome;
use callforce_client::{Record, Request};
use callforce_pipeline::{Clock, PipelineConfig};
use callforce_store::{AuditFilter, DeadLetterFilter, JobStatus};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::support::{Bed, Db, config, write};

const BOTH: [Db; 2] = [Db::Sqlite, Db::Postgres];

fn contact(last: &str, email: &str) -> Request {
    Request::Create {
        sobject: "Contact".into(),
        record: json!({"FirstName": "Ana", "LastName": last, "Email": email,
                       "Description": "Called about the invoice; prefers mornings."})
        .as_object()
        .cloned()
        .expect("object"),
    }
}

/// The dev org drops the answer of the next `count` creates of `object`, after (`commit`) or
/// before applying them.
async fn drop_creates(bed: &Bed, object: &str, commit: bool, count: u32) {
    let kind = if commit { "commit_then_drop" } else { "drop" };
    bed.faults(
        json!({"rules": [{"kind": kind, "count": count, "method": "POST",
        "path": format!("/services/data/*/sobjects/{object}")}]}),
    )
    .await;
}

/// The ids of the Contacts with this last name, oldest first.
async fn contacts(bed: &Bed, last: &str) -> Vec<String> {
    let soql = format!("SELECT Id FROM Contact WHERE LastName = '{last}' ORDER BY CreatedDate");
    let r = bed.conn.query::<Record>(&soql).await.expect("query");
    r.records
        .iter()
        .map(|r| r["Id"].as_str().expect("id").to_owned())
        .collect()
}

async fn created_date(bed: &Bed, id: &str) -> DateTime<Utc> {
    let soql = format!("SELECT CreatedDate FROM Contact WHERE Id = '{id}'");
    let r = bed.conn.query::<Record>(&soql).await.expect("query");
    let t = r.records[0]["CreatedDate"].as_str().expect("date");
    DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%z")
        .expect("datetime")
        .with_timezone(&Utc)
}

/// Waits until the system clock (the dev org's) is past `t`, so a record created next is
/// created after it. A millisecond or two; nothing about time is asserted.
async fn past(t: DateTime<Utc>) {
    while Utc::now() <= t {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The result a done job recorded.
async fn done_result(bed: &Bed) -> Value {
    let done = bed
        .store
        .list_jobs(bed.ws, Some(JobStatus::Done), 10)
        .await
        .expect("jobs");
    assert_eq!(done.len(), 1, "{done:?}");
    serde_json::from_str(done[0].result.as_deref().expect("result")).expect("json")
}

async fn audit_kinds(bed: &Bed, call: &str) -> Vec<(String, Value)> {
    let f = AuditFilter {
        call_id: Some(call.into()),
        ..AuditFilter::default()
    };
    bed.store
        .list_audit(bed.ws, &f)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| {
            let v = serde_json::from_str(e.response.as_deref().unwrap_or("null")).expect("json");
            (e.kind, v)
        })
        .collect()
}

#[tokio::test]
async fn a_lost_create_answer_without_a_key_field_is_looked_up_not_sent_again() -> Result<()> {
    for db in BOTH {
        let Some(bed) = Bed::new(db, "lost create looked up", config()).await? else {
            continue;
        };
        // Queued: the first attempt's answer is lost after the org saved the Contact.
        drop_creates(&bed, "Contact", true, 1).await;
        let w = write(
            "call-q",
            "create_contact",
            0,
            contact("Lookup-Q", "q@ex.example"),
            false,
        );
        bed.write(w).await;
        bed.drain(50).await;
        let ids = contacts(&bed, "Lookup-Q").await;
        assert_eq!(ids.len(), 1, "{db:?}: one record in the end");
        let job = &bed.store.list_jobs(bed.ws, None, 10).await?[0];
        assert_eq!(
            (job.status, job.attempts),
            (JobStatus::Done, 1),
            "{db:?}: the lost answer cost one attempt"
        );
        let payload: Value = serde_json::from_str(&job.payload)?;
        assert!(payload["ambiguousSince"].is_string(), "{payload}");
        let result = done_result(&bed).await;
        assert_eq!(
            result["id"],
            ids[0].as_str(),
            "{db:?}: done with the record's id"
        );
        assert_eq!(result["foundByLookup"], true);
        let audit = audit_kinds(&bed, "call-q").await;
        let kinds: Vec<&str> = audit.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(kinds, ["write.retry", "write.done"], "{db:?}");
        assert_eq!(audit[1].1["foundByLookup"], true);
        let lookup = audit[1].1["lookup"].as_str().expect("the query is audited");
        assert!(
            lookup.contains("LastName = 'Lookup-Q'") && !lookup.contains("Description"),
            "{lookup}: long text areas cannot be filtered"
        );

        // Blocking: the agent gets the one record's id within the budget.
        drop_creates(&bed, "Account", true, 1).await;
        let account = Request::Create {
            sobject: "Account".into(),
            record: json!({"Name": "Lookup Blocking Ltd", "Industry": "Energy"})
                .as_object()
                .cloned()
                .expect("object"),
        };
        let o = bed
            .write(write("call-b", "create_account", 0, account, true))
            .await;
        let WriteOutcome::Done(v) = o else {
            panic!("{db:?}: expected done, got {o:?}");
        };
        assert_eq!(v["foundByLookup"], true, "{v}");
        let r = bed
            .conn
            .query::<Record>("SELECT Id FROM Account WHERE Name = 'Lookup Blocking Ltd'")
            .await?;
        assert_eq!(r.total_size, 1, "{db:?}");
        assert_eq!(v["id"], r.records[0]["Id"]);
        assert_eq!(bed.unfinished().await, 0, "nothing was queued");
    }
    Ok(())
}

#[tokio::test]
async fn a_create_sent_by_a_worker_that_died_is_looked_up_not_sent_again() -> Result<()> {
    for db in BOTH {
        let Some(bed) = Bed::new(db, "worker died after the org applied", config()).await? else {
            continue;
        };
        bed.write(write(
            "call-k",
            "create_contact",
            0,
            contact("Lookup-K", "k@ex.example"),
            false,
        ))
        .await;
        // A worker leases the job, the org applies its create, and the worker dies before it
        // records anything: the job stays leased until the lease runs out.
        let lease_for = TimeDelta::seconds(30);
        let held = bed
            .store
            .lease("dead-worker", bed.clock.now(), lease_for, 10)
            .await?;
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].abandoned_lease_from, None, "a first lease");
        let payload: Value = serde_json::from_str(&held[0].payload)?;
        let request: Request = serde_json::from_value(payload["request"].clone())?;
        bed.conn.execute(&request).await?;
        assert_eq!(contacts(&bed, "Lookup-K").await.len(), 1);

        // Before the lease runs out, nobody takes the job; after, the next worker looks the
        // create up and finds the record instead of making a second one.
        assert_eq!(bed.worker.run_once().await?, 0, "{db:?}: still leased");
        bed.clock.advance(lease_for + TimeDelta::seconds(1));
        assert_eq!(bed.worker.run_once().await?, 1, "{db:?}: taken over");
        let ids = contacts(&bed, "Lookup-K").await;
        assert_eq!(ids.len(), 1, "{db:?}: one record, not two");
        let result = done_result(&bed).await;
        assert_eq!(result["id"], ids[0].as_str(), "{db:?}");
        assert_eq!(result["foundByLookup"], true, "{db:?}: {result}");
        let job = &bed.store.list_jobs(bed.ws, None, 10).await?[0];
        assert_eq!((job.status, job.attempts), (JobStatus::Done, 0), "{db:?}");
    }
    Ok(())
}

#[tokio::test]
async fn a_lost_create_the_org_did_not_apply_is_sent_again() -> Result<()> {
    let Some(bed) = Bed::new(Db::Sqlite, "lost create not applied", config()).await? else {
        return Ok(());
    };
    // The connection drops before the org saves anything: the lookup finds nothing.
    drop_creates(&bed, "Contact", false, 1).await;
    bed.write(write(
        "call-n",
        "create_contact",
        0,
        contact("Lookup-N", "n@ex.example"),
        false,
    ))
    .await;
    bed.drain(50).await;
    let ids = contacts(&bed, "Lookup-N").await;
    assert_eq!(ids.len(), 1);
    let result = done_result(&bed).await;
    assert_eq!(result["id"], ids[0].as_str());
    assert!(
        result.get("foundByLookup").is_none(),
        "sent again: {result}"
    );

    // Blocking: dropped twice before saving, then sent; one record, the agent gets its id.
    drop_creates(&bed, "Contact", false, 2).await;
    let o = bed
        .write(write(
            "call-n",
            "create_contact",
            1,
            contact("Lookup-NB", "nb@ex.example"),
            true,
        ))
        .await;
    let WriteOutcome::Done(v) = o else {
        panic!("expected done, got {o:?}");
    };
    assert_eq!(
        contacts(&bed, "Lookup-NB").await,
        [v["id"].as_str().expect("id")]
    );
    Ok(())
}

#[tokio::test]
async fn an_identical_record_made_before_the_lost_attempt_is_not_taken_for_it() -> Result<()> {
    let cfg = PipelineConfig {
        lookup_skew: Duration::ZERO,
        ..config()
    };
    let Some(bed) = Bed::new(Db::Sqlite, "identical record before", cfg).await? else {
        return Ok(());
    };
    // The same Contact, made earlier by the same user.
    let before = bed
        .conn
        .create("Contact", record(contact("Lookup-W", "w@ex.example")))
        .await?
        .id
        .expect("id")
        .to_string();
    let t0 = created_date(&bed, &before).await;
    past(t0).await;
    // The pipeline's clock says the attempt starts just after it.
    bed.clock.set(t0 + TimeDelta::milliseconds(1));
    // In the window, but with another Email: not the write's record either.
    let other = bed
        .conn
        .create("Contact", record(contact("Lookup-W", "other@ex.example")))
        .await?
        .id
        .expect("id")
        .to_string();
    drop_creates(&bed, "Contact", true, 1).await;
    bed.write(write(
        "call-w",
        "create_contact",
        0,
        contact("Lookup-W", "w@ex.example"),
        false,
    ))
    .await;
    bed.drain(50).await;
    let ids = contacts(&bed, "Lookup-W").await;
    assert_eq!(
        ids.len(),
        3,
        "the two made before and the write's one: {ids:?}"
    );
    let result = done_result(&bed).await;
    assert_eq!(result["foundByLookup"], true, "{result}");
    let found = result["id"].as_str().expect("id");
    assert!(found != before && found != other, "{found}");
    assert!(ids.iter().any(|i| i == found));
    Ok(())
}

fn record(r: Request) -> Record {
    match r {
        Request::Create { record, .. } => record,
        other => panic!("not a create: {other:?}"),
    }
}

#[tokio::test]
async fn several_matching_records_make_a_dead_letter() -> Result<()> {
    for db in BOTH {
        let Some(bed) = Bed::new(db, "several matches", config()).await? else {
            continue;
        };
        // The same Contact made by the same user a moment before: inside the 5 min skew.
        let twin = bed
            .conn
            .create("Contact", record(contact("Lookup-S", "s@ex.example")))
            .await?
            .id
            .expect("id")
            .to_string();
        let t0 = created_date(&bed, &twin).await;
        bed.clock.set(t0 + TimeDelta::seconds(1));
        drop_creates(&bed, "Contact", true, 1).await;
        bed.write(write(
            "call-s",
            "create_contact",
            0,
            contact("Lookup-S", "s@ex.example"),
            false,
        ))
        .await;
        bed.drain(50).await;
        let ids = contacts(&bed, "Lookup-S").await;
        assert_eq!(ids.len(), 2, "{db:?}: not sent a third time");
        let dead = bed
            .store
            .list_dead_letters(bed.ws, &DeadLetterFilter::default())
            .await?;
        assert_eq!(dead.len(), 1, "{db:?}");
        let error = &dead[0].errors.last().expect("error").error;
        assert!(
            error.contains("cannot be told") && ids.iter().all(|i| error.contains(i.as_str())),
            "{error}"
        );
        let payload: Value = serde_json::from_str(&dead[0].payload)?;
        assert!(payload["ambiguousSince"].is_string(), "{payload}");
        let alerts = bed.store.list_alerts(bed.ws, 10).await?;
        assert_eq!(alerts.len(), 1, "{db:?}: the admins are alerted");

        // The admin deletes the extra record and replays: the lookup now finds the one kept
        // and nothing is sent.
        let kept = &ids[1];
        bed.conn
            .delete("Contact", callforce_client::Id::parse(&ids[0])?)
            .await?;
        bed.store
            .replay_dead_letter(bed.ws, dead[0].id, bed.clock.now())
            .await?;
        bed.drain(50).await;
        assert_eq!(
            contacts(&bed, "Lookup-S").await,
            vec![kept.clone()],
            "{db:?}"
        );
        let result = done_result(&bed).await;
        assert_eq!(result["id"], kept.as_str());
        assert_eq!(result["foundByLookup"], true);
    }
    Ok(())
}

#[tokio::test]
async fn a_blocking_create_with_several_matches_is_queued_then_dead_lettered() -> Result<()> {
    let Some(bed) = Bed::new(Db::Sqlite, "several matches blocking", config()).await? else {
        return Ok(());
    };
    let twin = bed
        .conn
        .create("Contact", record(contact("Lookup-SB", "sb@ex.example")))
        .await?
        .id
        .expect("id")
        .to_string();
    bed.clock.set(created_date(&bed, &twin).await);
    drop_creates(&bed, "Contact", true, 1).await;
    let o = bed
        .write(write(
            "call-sb",
            "create_contact",
            0,
            contact("Lookup-SB", "sb@ex.example"),
            true,
        ))
        .await;
    assert!(matches!(o, WriteOutcome::Queued { .. }), "{o:?}");
    bed.drain(50).await;
    assert_eq!(contacts(&bed, "Lookup-SB").await.len(), 2);
    let dead = bed
        .store
        .list_dead_letters(bed.ws, &DeadLetterFilter::default())
        .await?;
    assert_eq!(dead.len(), 1);
    let audit = audit_kinds(&bed, "call-sb").await;
    let kinds: Vec<&str> = audit.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["write.retry", "write.queued", "write.dead"]);
    assert_eq!(audit[2].1["matches"].as_array().map(Vec::len), Some(2));
    Ok(())
}
