//! Creates sent as upserts on the write's own key (Task, Event and Case on `Callforce_Key__c`)
//! whose answer was lost: looked up by the key before anything is sent again, so a create-only
//! field (`TaskSubtype`, `EventSubtype`) never makes a write that landed a dead letter.

use anyhow::Result;
use callforce_actions::WriteOutcome;
use callforce_client::{Record, Request};
use callforce_pipeline::Clock;
use callforce_store::{AuditFilter, DeadLetterFilter, JobStatus};
use chrono::TimeDelta;
use serde_json::{Value, json};

use crate::support::{Bed, Db, config, write};

const BOTH: [Db; 2] = [Db::Sqlite, Db::Postgres];

fn create(object: &str, record: Value) -> Request {
    Request::Create {
        sobject: object.into(),
        record: record.as_object().cloned().expect("object"),
    }
}

/// A create of `object` with this subject, with the object's create-only field where it has one.
fn lost(object: &str, subject: &str) -> Request {
    match object {
        "Task" => create(
            "Task",
            json!({"Subject": subject, "Status": "Completed", "TaskSubtype": "Call"}),
        ),
        "Event" => create(
            "Event",
            json!({"Subject": subject, "EventSubtype": "Event",
                "StartDateTime": "2026-03-02T10:00:00.000+0000",
                "EndDateTime": "2026-03-02T10:30:00.000+0000"}),
        ),
        _ => create("Case", json!({"Subject": subject, "Origin": "Phone"})),
    }
}

/// The answer to the next upsert of `object` is lost after the org saved it; a second upsert
/// of it would meet a 503 (a tripwire: [`sent_again`] says whether it fired).
async fn drop_then_tripwire(bed: &Bed, object: &str) {
    let path = format!("/services/data/*/sobjects/{object}/*");
    bed.faults(json!({"rules": [
        {"kind": "commit_then_drop", "count": 1, "method": "PATCH", "path": path},
        {"kind": "unavailable", "count": 1, "method": "PATCH", "path": path},
    ]}))
    .await;
}

/// Whether a write was sent again after the lost answer (the tripwire fired).
async fn sent_again(bed: &Bed) -> bool {
    let spec: Value = reqwest::get(format!("{}/devorg/faults", bed.base()))
        .await
        .expect("faults")
        .json()
        .await
        .expect("json");
    // NB: spent rules are removed from the spec; the tripwire is the one `unavailable` rule.
    let armed = spec["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["kind"] == "unavailable" && r["count"] == 1);
    !armed
}

async fn ids(bed: &Bed, object: &str, subject: &str) -> Vec<String> {
    let soql = format!("SELECT Id FROM {object} WHERE Subject = '{subject}'");
    let r = bed.conn.query::<Record>(&soql).await.expect("query");
    r.records
        .iter()
        .filter_map(|r| r["Id"].as_str().map(str::to_owned))
        .collect()
}

async fn dead_letters(bed: &Bed) -> usize {
    bed.store
        .list_dead_letters(bed.ws, &DeadLetterFilter::default())
        .await
        .expect("dead letters")
        .len()
}

/// The `write.done` audit entries of `call` found by a lookup.
async fn found_in_audit(bed: &Bed, call: &str) -> usize {
    let f = AuditFilter {
        call_id: Some(call.into()),
        ..AuditFilter::default()
    };
    let entries = bed.store.list_audit(bed.ws, &f).await.expect("audit");
    entries
        .iter()
        .filter(|e| e.kind == "write.done")
        .filter_map(|e| serde_json::from_str::<Value>(e.response.as_deref()?).ok())
        .filter(|r| r["foundByLookup"] == true)
        .count()
}

#[tokio::test]
async fn a_queued_create_with_a_create_only_field_whose_answer_was_lost_is_found_by_its_key()
-> Result<()> {
    for db in BOTH {
        for object in ["Task", "Event", "Case"] {
            let Some(bed) = Bed::new(db, "queued keyed create lost", config()).await? else {
                continue;
            };
            let subject = format!("lost-queued-{object}");
            drop_then_tripwire(&bed, object).await;
            bed.write(write(
                "call-q",
                "log_call",
                0,
                lost(object, &subject),
                false,
            ))
            .await;
            bed.drain(50).await;
            let found = ids(&bed, object, &subject).await;
            assert_eq!(found.len(), 1, "{db:?} {object}: one record");
            assert_eq!(
                dead_letters(&bed).await,
                0,
                "{db:?} {object}: no dead letter"
            );
            assert!(
                !sent_again(&bed).await,
                "{db:?} {object}: nothing sent twice"
            );
            let jobs = bed.store.list_jobs(bed.ws, None, 10).await?;
            assert_eq!(jobs.len(), 1);
            assert_eq!(
                (jobs[0].status, jobs[0].attempts),
                (JobStatus::Done, 1),
                "{db:?} {object}: done; the lost answer cost one attempt"
            );
            let result: Value = serde_json::from_str(jobs[0].result.as_deref().expect("result"))?;
            assert_eq!(result["id"], found[0].as_str(), "{db:?} {object}: {result}");
            assert_eq!(result["foundByLookup"], true, "{result}");
            assert_eq!(found_in_audit(&bed, "call-q").await, 1, "{db:?} {object}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_blocking_create_with_a_create_only_field_whose_answer_was_lost_is_found_by_its_key()
-> Result<()> {
    for db in BOTH {
        for object in ["Task", "Event", "Case"] {
            let Some(bed) = Bed::new(db, "blocking keyed create lost", config()).await? else {
                continue;
            };
            let subject = format!("lost-blocking-{object}");
            drop_then_tripwire(&bed, object).await;
            let o = bed
                .write(write("call-b", "create", 0, lost(object, &subject), true))
                .await;
            let found = ids(&bed, object, &subject).await;
            assert_eq!(found.len(), 1, "{db:?} {object}: one record");
            match o {
                WriteOutcome::Done(v) => {
                    assert_eq!(v["id"], found[0].as_str(), "{db:?} {object}: {v}");
                    assert!(
                        v.get("lookup").is_none(),
                        "the query stays in the audit: {v}"
                    );
                }
                // NB: on a loaded machine the lookup may not fit in the budget; the queued job
                // then looks the record up.
                WriteOutcome::Queued { .. } => {
                    bed.drain(50).await;
                }
            }
            assert_eq!(bed.unfinished().await, 0, "{db:?} {object}");
            assert_eq!(
                dead_letters(&bed).await,
                0,
                "{db:?} {object}: no dead letter"
            );
            assert!(
                !sent_again(&bed).await,
                "{db:?} {object}: nothing sent twice"
            );
            assert_eq!(found_in_audit(&bed, "call-b").await, 1, "{db:?} {object}");
            assert_eq!(ids(&bed, object, &subject).await, found);
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_keyed_create_sent_by_a_worker_that_died_is_found_not_sent_again() -> Result<()> {
    for db in BOTH {
        let Some(bed) = Bed::new(db, "keyed create, worker died", config()).await? else {
            continue;
        };
        bed.write(write(
            "call-k",
            "log_call",
            0,
            lost("Task", "died-keyed"),
            false,
        ))
        .await;
        // A worker leases the job, the org applies it, and the worker dies (kill -9) before
        // it records anything.
        let lease_for = TimeDelta::seconds(30);
        let held = bed
            .store
            .lease("dead-worker", bed.clock.now(), lease_for, 10)
            .await?;
        assert_eq!(held.len(), 1);
        let payload: Value = serde_json::from_str(&held[0].payload)?;
        let request: Request = serde_json::from_value(payload["request"].clone())?;
        assert!(matches!(request, Request::Upsert { .. }), "{request:?}");
        bed.conn.execute(&request).await?;
        drop_then_tripwire(&bed, "Task").await;
        bed.clock.advance(lease_for + TimeDelta::seconds(1));
        assert_eq!(bed.worker.run_once().await?, 1, "{db:?}: taken over");
        let found = ids(&bed, "Task", "died-keyed").await;
        assert_eq!(found.len(), 1, "{db:?}");
        let job = &bed.store.list_jobs(bed.ws, None, 10).await?[0];
        assert_eq!((job.status, job.attempts), (JobStatus::Done, 0), "{db:?}");
        let result: Value = serde_json::from_str(job.result.as_deref().expect("result"))?;
        assert_eq!(result["id"], found[0].as_str(), "{result}");
        assert_eq!(result["foundByLookup"], true, "{result}");
        assert_eq!(dead_letters(&bed).await, 0, "{db:?}");
        let spec: Value = reqwest::get(format!("{}/devorg/faults", bed.base()))
            .await?
            .json()
            .await?;
        assert_eq!(spec["rules"][0]["kind"], "commit_then_drop", "{spec}");
        assert_eq!(spec["rules"][0]["count"], 1, "{db:?}: nothing sent: {spec}");
        assert!(!sent_again(&bed).await, "{db:?}");
    }
    Ok(())
}

#[tokio::test]
async fn the_same_keyed_write_sent_again_is_done_with_its_record_not_refused() -> Result<()> {
    let Some(bed) = Bed::new(Db::Sqlite, "keyed write sent again", config()).await? else {
        return Ok(());
    };
    // The same blocking write twice (a tool call retried): the second upsert matches the
    // record, and the org refuses to update its TaskSubtype; the write is done with it.
    let w = write("call-s", "log_call", 0, lost("Task", "sent-twice"), true);
    let WriteOutcome::Done(first) = bed.write(w.clone()).await else {
        panic!("done");
    };
    let again = bed.sink_write(w).await;
    let Ok(WriteOutcome::Done(second)) = again else {
        panic!("expected done, got {again:?}");
    };
    assert_eq!(second["id"], first["id"], "{second}");
    assert_eq!(ids(&bed, "Task", "sent-twice").await.len(), 1);
    assert_eq!(found_in_audit(&bed, "call-s").await, 1);
    Ok(())
}

/// An intent that updates the lead found earlier and logs a call Task with its create-only
/// `TaskSubtype`: one all-or-none composite whose Task create is an upsert on its key.
fn logged_call_map() -> callforce_intents::IntentMap {
    callforce_intents::IntentMap::from_json(
        &json!({"intents": {"logged": {"writes": [
            {"object": "Lead", "record": {"var": "last.Lead.Id"},
             "fields": {"Status": {"const": "Working - Contacted"}}},
            {"object": "Task", "record": "create",
             "fields": {"Subject": {"const": "Logged call"}, "Status": {"const": "Completed"},
                        "TaskSubtype": {"const": "Call"},
                        "WhoId": {"var": "last.Lead.Id"}, "Description": {"arg": "summary"}}}
        ]}}})
        .to_string(),
    )
    .expect("map")
}

#[tokio::test]
async fn an_intents_composite_with_a_create_only_field_whose_answer_was_lost_is_found_by_its_keys()
-> Result<()> {
    use callforce_actions::{Actions, CallSession, CallVars, Catalog};
    use callforce_intents::{Active, Recorded};
    for db in BOTH {
        let Some(bed) = Bed::new(db, "intent keyed composite lost", config()).await? else {
            continue;
        };
        let active = Active::activate(&bed.conn, logged_call_map()).await?;
        let actions = Actions::new(bed.conn.clone(), Catalog::with_examples())
            .with_sink(std::sync::Arc::new(bed.sink.clone()));
        let now = chrono::Utc::now();
        // `call-ib`: blocking, found within the budget; `call-iq`: its lookup meets a 503, so
        // it is queued and the worker finds it.
        for (call_id, lookup_fails) in [("call-ib", false), ("call-iq", true)] {
            let mut call = CallSession::new(CallVars {
                call_id: call_id.into(),
                agent: Some("agent-7".into()),
                ..CallVars::default()
            });
            actions
                .run(&mut call, "search_lead", json!({"search_term": "Oakmont"}))
                .await?;
            let mut rules = vec![
                json!({"kind": "commit_then_drop", "count": 1, "method": "POST",
                "path": "/services/data/*/composite"}),
            ];
            if lookup_fails {
                rules.push(json!({"kind": "unavailable", "count": 1, "method": "GET",
                    "path": "/services/data/*/query*"}));
            }
            bed.faults(json!({ "rules": rules })).await;
            let summary = format!("lost-intent-{call_id}");
            let args = json!({"intent": "logged", "summary": summary});
            match active.record(&actions, &mut call, &args, now).await? {
                Recorded::Done(outcome) => {
                    assert_eq!(outcome.records.len(), 2, "{db:?}: {outcome:?}");
                }
                Recorded::Queued { .. } => {
                    bed.clear_faults().await;
                    bed.drain(100).await;
                }
            }
            let soql = format!("SELECT Id FROM Task WHERE Description = '{summary}'");
            let r = bed.conn.query::<Record>(&soql).await?;
            assert_eq!(r.total_size, 1, "{db:?} {call_id}: one Task");
            assert_eq!(
                dead_letters(&bed).await,
                0,
                "{db:?} {call_id}: no dead letter"
            );
            assert_eq!(bed.unfinished().await, 0, "{db:?} {call_id}");
            assert_eq!(found_in_audit(&bed, call_id).await, 1, "{db:?} {call_id}");
        }
    }
    Ok(())
}
