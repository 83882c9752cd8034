//! Bulk creates, notes and raw creates whose answer was lost: looked up before they are sent
//! again, like a single create (the dev org's `commit_then_drop` and `drop` faults, and a worker
//! that dies holding the job).

use anyhow::Result;
use callforce_actions::WriteOutcome;
use callforce_client::{CompositeBuilder, Method, RawRequest, Record, Request};
use callforce_pipeline::Clock;
use callforce_store::{DeadLetterFilter, JobStatus};
use chrono::TimeDelta;
use serde_json::{Value, json};

use crate::support::{Bed, Db, config, write};

const BOTH: [Db; 2] = [Db::Sqlite, Db::Postgres];

fn rec(v: Value) -> Record {
    v.as_object().cloned().expect("object")
}

fn contact(last: &str, email: &str) -> Record {
    rec(json!({"attributes": {"type": "Contact"}, "LastName": last, "Email": email}))
}

fn bulk(all_or_none: bool, records: Vec<Record>) -> Request {
    Request::CollectionsCreate {
        all_or_none,
        records,
    }
}

/// The dev org drops the answer of the next request to `path` (after applying it, or before).
async fn drop_next(bed: &Bed, path: &str, commit: bool, count: u32) {
    let kind = if commit { "commit_then_drop" } else { "drop" };
    bed.faults(
        json!({"rules": [{"kind": kind, "count": count, "method": "POST",
        "path": format!("/services/data/*/{path}")}]}),
    )
    .await;
}

async fn ids(bed: &Bed, soql: &str) -> Vec<String> {
    let r = bed.conn.query::<Record>(soql).await.expect("query");
    r.records
        .iter()
        .map(|r| r["Id"].as_str().expect("id").to_owned())
        .collect()
}

async fn contacts(bed: &Bed, last: &str) -> Vec<String> {
    ids(
        bed,
        &format!("SELECT Id FROM Contact WHERE LastName = '{last}' ORDER BY CreatedDate"),
    )
    .await
}

/// The one job's status, attempts and recorded result.
async fn the_job(bed: &Bed) -> (JobStatus, u32, Value) {
    let jobs = bed.store.list_jobs(bed.ws, None, 10).await.expect("jobs");
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let result = jobs[0]
        .result
        .as_deref()
        .map_or(Value::Null, |r| serde_json::from_str(r).expect("json"));
    (jobs[0].status, jobs[0].attempts, result)
}

/// Takes the queued job as a worker that then dies (after `apply` ran the org's side of its
/// attempt), and lets the lease run out, so the next round takes it over.
async fn die_holding_the_job(bed: &Bed, apply: Request) -> Result<()> {
    let lease_for = TimeDelta::seconds(30);
    let held = bed
        .store
        .lease("dead-worker", bed.clock.now(), lease_for, 10)
        .await?;
    assert_eq!(held.len(), 1);
    bed.conn.execute(&apply).await?;
    bed.clock.advance(lease_for + TimeDelta::seconds(1));
    Ok(())
}

#[tokio::test]
async fn a_lost_bulk_create_sends_only_the_records_not_found() -> Result<()> {
    for db in BOTH {
        let Some(bed) = Bed::new(db, "lost bulk create", config()).await? else {
            continue;
        };
        // Two identical records and another; the first attempt is applied, its answer lost.
        let records = vec![
            contact("Bulk-Q", "twin@ex.example"),
            contact("Bulk-Q", "twin@ex.example"),
            contact("Bulk-Q", "other@ex.example"),
        ];
        drop_next(&bed, "composite/sobjects", true, 1).await;
        bed.write(write(
            "call-bq",
            "bulk_create",
            0,
            bulk(false, records),
            false,
        ))
        .await;
        bed.drain(50).await;
        let made = contacts(&bed, "Bulk-Q").await;
        assert_eq!(made.len(), 3, "{db:?}: three records, not six");
        let (status, attempts, result) = the_job(&bed).await;
        assert_eq!((status, attempts), (JobStatus::Done, 1), "{db:?}");
        let results = result.as_array().expect("one result per record");
        let got: Vec<&str> = results
            .iter()
            .map(|r| r["id"].as_str().expect("id"))
            .collect();
        assert_eq!(got, made, "{db:?}: in the order of the records");
        assert!(
            results.iter().all(|r| r["foundByLookup"] == true),
            "{result}"
        );

        // A record the lost attempt did not save (it failed validation) is sent again alone;
        // the result still has one entry per record, in order.
        drop_next(&bed, "composite/sobjects", true, 1).await;
        let no_name = rec(json!({"attributes": {"type": "Contact"}, "Email": "x@ex.example"}));
        bed.write(write(
            "call-bv",
            "bulk_create",
            0,
            bulk(false, vec![contact("Bulk-V", "v@ex.example"), no_name]),
            false,
        ))
        .await;
        bed.drain(50).await;
        assert_eq!(contacts(&bed, "Bulk-V").await.len(), 1, "{db:?}");
        let done = bed
            .store
            .list_jobs(bed.ws, Some(JobStatus::Done), 10)
            .await?;
        let job = done
            .iter()
            .find(|j| j.call_id.as_deref() == Some("call-bv"));
        let result: Value = serde_json::from_str(job.expect("done").result.as_deref().expect("r"))?;
        assert_eq!(result[0]["foundByLookup"], true, "{result}");
        assert_eq!(result[1]["success"], false, "{result}");
        assert_eq!(
            result[1]["errors"][0]["statusCode"], "REQUIRED_FIELD_MISSING",
            "{result}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_bulk_create_of_a_worker_that_died_sends_the_rest_once() -> Result<()> {
    for db in BOTH {
        let Some(bed) = Bed::new(db, "bulk create, worker died", config()).await? else {
            continue;
        };
        let records = vec![
            contact("Bulk-K", "k1@ex.example"),
            contact("Bulk-K", "k2@ex.example"),
            contact("Bulk-K", "k3@ex.example"),
        ];
        bed.write(write(
            "call-bk",
            "bulk_create",
            0,
            bulk(false, records.clone()),
            false,
        ))
        .await;
        // The org saved the first two records of the dead worker's attempt.
        die_holding_the_job(&bed, bulk(false, records[..2].to_vec())).await?;
        bed.drain(50).await;
        let made = contacts(&bed, "Bulk-K").await;
        assert_eq!(made.len(), 3, "{db:?}: {made:?}");
        let (status, attempts, result) = the_job(&bed).await;
        assert_eq!((status, attempts), (JobStatus::Done, 0), "{db:?}");
        let found: Vec<bool> = result
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["foundByLookup"] == true)
            .collect();
        assert_eq!(found, [true, true, false], "{result}");
        let got: Vec<&str> = result
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["id"].as_str().expect("id"))
            .collect();
        assert_eq!(got, made, "{db:?}");
    }
    Ok(())
}

#[tokio::test]
async fn a_lost_bulk_create_not_applied_is_sent_again_and_a_blocking_one_is_found() -> Result<()> {
    let Some(bed) = Bed::new(Db::Sqlite, "bulk create dropped", config()).await? else {
        return Ok(());
    };
    drop_next(&bed, "composite/sobjects", false, 1).await;
    let records = vec![
        contact("Bulk-N", "n1@ex.example"),
        contact("Bulk-N", "n2@ex.example"),
    ];
    bed.write(write(
        "call-bn",
        "bulk_create",
        0,
        bulk(false, records),
        false,
    ))
    .await;
    bed.drain(50).await;
    assert_eq!(contacts(&bed, "Bulk-N").await.len(), 2);
    let (_, _, result) = the_job(&bed).await;
    assert!(
        result
            .as_array()
            .expect("results")
            .iter()
            .all(|r| r.get("foundByLookup").is_none()),
        "sent again: {result}"
    );

    // Blocking: found within the budget, one result per record, nothing queued.
    drop_next(&bed, "composite/sobjects", true, 1).await;
    let records = vec![
        contact("Bulk-B", "b1@ex.example"),
        contact("Bulk-B", "b2@ex.example"),
    ];
    let o = bed
        .write(write(
            "call-bb",
            "bulk_create",
            0,
            bulk(true, records),
            true,
        ))
        .await;
    let WriteOutcome::Done(v) = o else {
        panic!("expected done, got {o:?}");
    };
    let made = contacts(&bed, "Bulk-B").await;
    let got: Vec<&str> = v
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(got, made);
    assert_eq!(bed.unfinished().await, 0, "nothing queued");
    Ok(())
}

#[tokio::test]
async fn an_all_or_none_bulk_create_found_in_part_is_a_dead_letter() -> Result<()> {
    let Some(bed) = Bed::new(Db::Sqlite, "all-or-none found in part", config()).await? else {
        return Ok(());
    };
    let records = vec![
        contact("Bulk-A", "a1@ex.example"),
        contact("Bulk-A", "a2@ex.example"),
    ];
    bed.write(write(
        "call-ba",
        "bulk_create",
        0,
        bulk(true, records.clone()),
        false,
    ))
    .await;
    // One of the two exists: an all-or-none attempt cannot have saved only it.
    die_holding_the_job(&bed, bulk(true, records[..1].to_vec())).await?;
    bed.drain(50).await;
    assert_eq!(contacts(&bed, "Bulk-A").await.len(), 1, "nothing sent");
    let dead = bed
        .store
        .list_dead_letters(bed.ws, &DeadLetterFilter::default())
        .await?;
    assert_eq!(dead.len(), 1);
    let error = &dead[0].errors.last().expect("error").error;
    assert!(
        error.contains("found 1 of 2") && error.contains("records 1"),
        "{error}"
    );
    Ok(())
}

fn note(bed: &Bed, title: &str, linked: Option<&str>, all_or_none: bool) -> Request {
    let mut b = CompositeBuilder::new(bed.conn.version(), all_or_none);
    let body = rec(json!({"Title": title, "Content": "Q2xpZW50IHdhbnRzIGEgY2FsbGJhY2s="}));
    let r = b.create("note", "ContentNote", body);
    if let Some(linked) = linked {
        let link = rec(
            json!({"ContentDocumentId": r.id(), "LinkedEntityId": linked,
            "ShareType": "V"}),
        );
        b.create("link", "ContentDocumentLink", link);
    }
    Request::Composite(b.build().expect("composite"))
}

async fn account(bed: &Bed, name: &str) -> String {
    bed.conn
        .create("Account", rec(json!({"Name": name})))
        .await
        .expect("account")
        .id
        .expect("id")
        .to_string()
}

async fn notes(bed: &Bed, title: &str) -> Vec<String> {
    ids(
        bed,
        &format!("SELECT Id FROM ContentNote WHERE Title = '{title}'"),
    )
    .await
}

async fn links(bed: &Bed, account: &str) -> Vec<String> {
    let soql = format!(
        "SELECT ContentDocumentId FROM ContentDocumentLink WHERE LinkedEntityId = '{account}'"
    );
    let r = bed.conn.query::<Record>(&soql).await.expect("query");
    r.records
        .iter()
        .map(|r| r["ContentDocumentId"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn a_lost_note_and_its_link_are_looked_up_not_sent_again() -> Result<()> {
    for db in BOTH {
        let Some(bed) = Bed::new(db, "lost note", config()).await? else {
            continue;
        };
        for (commit, blocking, title) in [
            (true, false, "Callback Q"),
            (true, true, "Callback B"),
            (false, false, "Callback N"),
        ] {
            let acct = account(&bed, title).await;
            drop_next(&bed, "composite", commit, 1).await;
            let call = format!("call-{title}");
            let o = bed
                .write(write(
                    &call,
                    "create_note",
                    0,
                    note(&bed, title, Some(&acct), true),
                    blocking,
                ))
                .await;
            bed.drain(50).await;
            let made = notes(&bed, title).await;
            assert_eq!(made.len(), 1, "{db:?} {title}: one note, not two");
            assert_eq!(
                links(&bed, &acct).await,
                made,
                "{db:?} {title}: linked once"
            );
            let result = match o {
                WriteOutcome::Done(v) => v,
                WriteOutcome::Queued { .. } => {
                    let done = bed
                        .store
                        .list_jobs(bed.ws, Some(JobStatus::Done), 10)
                        .await?;
                    let job = done
                        .iter()
                        .find(|j| j.call_id.as_deref() == Some(call.as_str()));
                    serde_json::from_str(job.expect("done").result.as_deref().expect("r"))?
                }
            };
            assert_eq!(
                result["compositeResponse"][0]["body"]["id"],
                made[0].as_str(),
                "{db:?} {title}: {result}"
            );
            assert_eq!(
                result["foundByLookup"] == true,
                commit,
                "{db:?} {title}: {result}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_note_found_without_its_link_gets_only_the_link() -> Result<()> {
    let Some(bed) = Bed::new(Db::Sqlite, "note without link", config()).await? else {
        return Ok(());
    };
    let acct = account(&bed, "Half Linked Ltd").await;
    // Not all or none: the note was saved and the link was not.
    let request = note(&bed, "Half Linked", Some(&acct), false);
    bed.write(write("call-hl", "create_note", 0, request, false))
        .await;
    die_holding_the_job(&bed, note(&bed, "Half Linked", None, false)).await?;
    bed.drain(50).await;
    let made = notes(&bed, "Half Linked").await;
    assert_eq!(made.len(), 1, "the note is not made again");
    assert_eq!(links(&bed, &acct).await, made, "the link is made to it");
    let (status, _, result) = the_job(&bed).await;
    assert_eq!(status, JobStatus::Done);
    let subs = result["compositeResponse"].as_array().expect("both");
    assert_eq!(subs[0]["body"]["id"], made[0].as_str(), "{result}");
    assert_eq!(subs[1]["referenceId"], "link", "{result}");
    assert!(subs[1]["body"]["id"].is_string(), "{result}");
    Ok(())
}

#[tokio::test]
async fn a_lost_raw_create_is_looked_up_not_sent_again() -> Result<()> {
    for db in BOTH {
        let Some(bed) = Bed::new(db, "lost raw create", config()).await? else {
            continue;
        };
        for (commit, blocking, last) in [
            (true, false, "Raw-Q"),
            (true, true, "Raw-B"),
            (false, true, "Raw-N"),
        ] {
            drop_next(&bed, "sobjects/Contact", commit, 1).await;
            let raw = Request::Raw(RawRequest {
                method: Method::Post,
                path: "/sobjects/Contact".into(),
                query: vec![],
                headers: vec![],
                body: Some(json!({"LastName": last, "Email": "raw@ex.example"})),
            });
            let o = bed
                .write(write(
                    &format!("call-{last}"),
                    "custom_api_call",
                    0,
                    raw,
                    blocking,
                ))
                .await;
            bed.drain(50).await;
            let made = contacts(&bed, last).await;
            assert_eq!(made.len(), 1, "{db:?} {last}: one record, not two");
            if let WriteOutcome::Done(v) = o {
                assert_eq!(v["id"], made[0].as_str(), "{db:?} {last}");
                assert_eq!(v["foundByLookup"] == true, commit, "{db:?} {last}: {v}");
            } else {
                assert!(!blocking, "{db:?} {last}: {o:?}");
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_lost_bulk_create_of_many_records_is_looked_up_in_batches() -> Result<()> {
    let Some(bed) = Bed::new(Db::Sqlite, "bulk create of 60", config()).await? else {
        return Ok(());
    };
    // 60 records: three /composite/batch requests of up to 25 queries.
    let records: Vec<Record> = (0..60)
        .map(|i| contact("Bulk-M", &format!("m{i}@ex.example")))
        .collect();
    drop_next(&bed, "composite/sobjects", true, 1).await;
    bed.write(write(
        "call-bm",
        "bulk_create",
        0,
        bulk(false, records),
        false,
    ))
    .await;
    bed.drain(50).await;
    let made = contacts(&bed, "Bulk-M").await;
    assert_eq!(made.len(), 60);
    let (status, _, result) = the_job(&bed).await;
    assert_eq!(status, JobStatus::Done);
    let results = result.as_array().expect("results");
    assert!(
        results.iter().all(|r| r["foundByLookup"] == true),
        "{result}"
    );
    let email_of: std::collections::HashMap<String, String> = bed
        .conn
        .query::<Record>("SELECT Id, Email FROM Contact WHERE LastName = 'Bulk-M'")
        .await?
        .records
        .iter()
        .map(|r| {
            let id = r["Id"].as_str().expect("id").to_owned();
            (id, r["Email"].as_str().expect("email").to_owned())
        })
        .collect();
    // Each result is its own record's: the 42nd result is the record with the 42nd email.
    let by_id = |i: usize| email_of[results[i]["id"].as_str().expect("id")].clone();
    assert_eq!(by_id(0), "m0@ex.example");
    assert_eq!(by_id(41), "m41@ex.example");
    assert_eq!(by_id(59), "m59@ex.example");
    Ok(())
}

#[tokio::test]
async fn a_bulk_record_matching_more_records_than_it_has_twins_is_a_dead_letter() -> Result<()> {
    let Some(bed) = Bed::new(Db::Sqlite, "bulk record with a twin", config()).await? else {
        return Ok(());
    };
    // The same Contact, made by the same user a moment before (inside the 5 min skew).
    let twin = bed
        .conn
        .create("Contact", contact("Bulk-S", "s@ex.example"))
        .await?
        .id
        .expect("id")
        .to_string();
    let records = vec![
        contact("Bulk-S", "s@ex.example"),
        contact("Bulk-S", "other@ex.example"),
    ];
    drop_next(&bed, "composite/sobjects", true, 1).await;
    bed.write(write(
        "call-bs",
        "bulk_create",
        0,
        bulk(false, records),
        false,
    ))
    .await;
    bed.drain(50).await;
    assert_eq!(
        contacts(&bed, "Bulk-S").await.len(),
        3,
        "nothing sent again"
    );
    let dead = bed
        .store
        .list_dead_letters(bed.ws, &DeadLetterFilter::default())
        .await?;
    assert_eq!(dead.len(), 1);
    let error = &dead[0].errors.last().expect("error").error;
    assert!(
        error.contains("records 0 (counting from 0) match 2") && error.contains(&twin),
        "{error}"
    );
    Ok(())
}
