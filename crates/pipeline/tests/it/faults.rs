//! The write pipeline under the dev org's injected faults.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use callforce_actions::{Actions, CallSession, CallVars, Catalog, WriteOutcome};
use callforce_client::{Id, Record, Request};
use callforce_pipeline::{Clock, PipelineConfig};
use callforce_store::{AuditFilter, DeadLetterFilter, JobStatus};
use chrono::TimeDelta;
use serde_json::json;

use crate::support::{Bed, Db, config, short_budget, task, write};

const BOTH: [Db; 2] = [Db::Sqlite, Db::Postgres];

fn rec(v: serde_json::Value) -> Record {
    v.as_object().cloned().expect("object")
}

async fn an_account(bed: &Bed) -> Id {
    let r = bed
        .conn
        .query::<Record>("SELECT Id FROM Account ORDER BY Name LIMIT 1")
        .await
        .expect("accounts");
    let id = r.records[0]["Id"].as_str().expect("id");
    Id::parse(id).expect("id")
}

fn reference(o: &WriteOutcome) -> String {
    match o {
        WriteOutcome::Queued { reference } => reference.clone(),
        WriteOutcome::Done(v) => panic!("expected queued, got done: {v}"),
    }
}

#[tokio::test]
async fn a_503_storm_that_clears_lands_every_write_once() -> Result<()> {
    for db in BOTH {
        let Some(bed) = Bed::new(db, "storm that clears", config()).await? else {
            continue;
        };
        bed.faults(
            json!({"rules": [{"kind": "unavailable", "count": 30, "method": "PATCH",
            "path": "/services/data/*/sobjects/Task/*"}]}),
        )
        .await;
        for i in 0..20 {
            let w = write("call-s", "log_call", i, task(&format!("storm-{i}")), false);
            // Non-blocking: acknowledged with a reference while the org is failing.
            let o = bed.write(w).await;
            assert!(reference(&o).starts_with("job-"), "{db:?}");
        }
        bed.drain(200).await;
        assert_eq!(
            bed.count("Task", "Subject LIKE 'storm-%'").await,
            20,
            "{db:?}"
        );
        let dead = bed
            .store
            .list_dead_letters(bed.ws, &DeadLetterFilter::default())
            .await?;
        assert!(dead.is_empty(), "{db:?}: {dead:?}");
        let done = bed
            .store
            .list_jobs(bed.ws, Some(JobStatus::Done), 100)
            .await?;
        assert_eq!(done.len(), 20, "{db:?}");
        let retried: u32 = done.iter().map(|j| j.attempts).sum();
        assert_eq!(
            retried, 30,
            "{db:?}: every injected 503 cost one counted attempt"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_503_storm_that_does_not_clear_ends_in_dead_letters() -> Result<()> {
    for db in BOTH {
        let Some(bed) = Bed::new(db, "storm that does not clear", config()).await? else {
            continue;
        };
        bed.faults(json!({"rules": [{"kind": "unavailable", "probability": 1.0,
            "method": "PATCH", "path": "/services/data/*/sobjects/Task/*"}]}))
            .await;
        for i in 0..5 {
            bed.write(write(
                "call-d",
                "log_call",
                i,
                task(&format!("dead-{i}")),
                false,
            ))
            .await;
        }
        let start = bed.clock.now();
        bed.drain(500).await;
        let dead = bed
            .store
            .list_dead_letters(bed.ws, &DeadLetterFilter::default())
            .await?;
        assert_eq!(dead.len(), 5, "{db:?}");
        for d in &dead {
            // The first attempt and five retries, each error kept.
            assert_eq!(d.attempts, 6, "{db:?}");
            assert_eq!(d.errors.len(), 6, "{db:?}");
            assert!(d.errors[0].error.contains("503"), "{:?}", d.errors[0]);
            assert_eq!(d.call_id.as_deref(), Some("call-d"));
            assert_eq!(d.agent.as_deref(), Some("agent-7"));
            // The schedule was followed: the last attempt came at least 200 ms + 1 s + 5 s +
            // 30 s + 5 min (less the jitter) after the first.
            let span = d.errors[5].at - d.errors[0].at;
            assert!(span >= TimeDelta::seconds(300), "{db:?}: {span}");
            assert!(d.errors[0].at >= start);
        }
        assert_eq!(bed.count("Task", "Subject LIKE 'dead-%'").await, 0);
        let audit = bed
            .store
            .list_audit(
                bed.ws,
                &AuditFilter {
                    call_id: Some("call-d".into()),
                    limit: Some(1000),
                    ..AuditFilter::default()
                },
            )
            .await?;
        let kinds = |k: &str| audit.iter().filter(|e| e.kind == k).count();
        assert_eq!(kinds("write.retry"), 25, "{db:?}");
        assert_eq!(kinds("write.dead"), 5, "{db:?}");
        let e = audit
            .iter()
            .find(|e| e.kind == "write.dead")
            .expect("dead entry");
        assert!(
            e.request
                .as_deref()
                .unwrap_or_default()
                .contains("\"upsert\""),
            "{e:?}"
        );
        assert!(
            e.response
                .as_deref()
                .unwrap_or_default()
                .contains("SERVER_UNAVAILABLE"),
            "{e:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_create_committed_then_dropped_is_not_duplicated() -> Result<()> {
    for db in BOTH {
        let Some(bed) = Bed::new(db, "commit then drop", config()).await? else {
            continue;
        };
        // Queued: the answer of the first attempt is lost after the org saved the record.
        bed.faults(
            json!({"rules": [{"kind": "commit_then_drop", "count": 1, "method": "PATCH",
            "path": "/services/data/*/sobjects/Task/*"}]}),
        )
        .await;
        bed.write(write(
            "call-c",
            "log_call",
            0,
            task("dropped-answer"),
            false,
        ))
        .await;
        bed.drain(50).await;
        assert_eq!(
            bed.count("Task", "Subject = 'dropped-answer'").await,
            1,
            "{db:?}"
        );
        let jobs = bed
            .store
            .list_jobs(bed.ws, Some(JobStatus::Done), 10)
            .await?;
        assert_eq!(
            jobs[0].attempts, 1,
            "{db:?}: the lost answer cost one attempt"
        );

        // Blocking: the same fault inside the mid-call budget is retried at once and the
        // agent gets the one record's id.
        bed.faults(
            json!({"rules": [{"kind": "commit_then_drop", "count": 1, "method": "PATCH",
            "path": "/services/data/*/sobjects/Case/*"}]}),
        )
        .await;
        let case = Request::Create {
            sobject: "Case".into(),
            record: rec(json!({"Subject": "dropped-case", "Origin": "Phone"})),
        };
        let o = bed
            .write(write("call-c", "create_case", 1, case, true))
            .await;
        let WriteOutcome::Done(v) = o else {
            panic!("{db:?}: expected done, got {o:?}");
        };
        assert!(
            v["id"].as_str().is_some_and(|i| i.starts_with("500")),
            "{v}"
        );
        assert_eq!(
            bed.count("Case", "Subject = 'dropped-case'").await,
            1,
            "{db:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn without_a_key_field_a_dropped_create_answer_is_looked_up() -> Result<()> {
    // Task with no External ID configured: the lost create is found by a lookup, not sent again
    // (more in lookup.rs).
    let Some(bed) = Bed::new(Db::Sqlite, "no key field", PipelineConfig::default()).await? else {
        return Ok(());
    };
    bed.faults(
        json!({"rules": [{"kind": "commit_then_drop", "count": 1, "method": "POST",
        "path": "/services/data/*/sobjects/Task"}]}),
    )
    .await;
    bed.write(write("call-n", "log_call", 0, task("no-key"), false))
        .await;
    bed.drain(50).await;
    assert_eq!(bed.count("Task", "Subject = 'no-key'").await, 1);
    Ok(())
}

#[tokio::test]
async fn unable_to_lock_row_is_retried() -> Result<()> {
    let Some(bed) = Bed::new(Db::Sqlite, "lock row", config()).await? else {
        return Ok(());
    };
    let id = an_account(&bed).await;
    bed.faults(
        json!({"rules": [{"kind": "unable_to_lock_row", "count": 2, "method": "PATCH",
        "path": "/services/data/*/sobjects/Account/*"}]}),
    )
    .await;
    let upd = |d: &str| Request::Update {
        sobject: "Account".into(),
        id,
        record: rec(json!({"Description": d})),
    };
    // Blocking: two lock errors are retried within the budget; the agent hears it is done.
    let o = bed
        .write(write("call-l", "update_account", 0, upd("locked-1"), true))
        .await;
    assert!(matches!(o, WriteOutcome::Done(_)), "{o:?}");
    // Queued: one lock error costs one attempt, then it lands.
    bed.faults(
        json!({"rules": [{"kind": "unable_to_lock_row", "count": 1, "method": "PATCH",
        "path": "/services/data/*/sobjects/Account/*"}]}),
    )
    .await;
    bed.write(write("call-l", "update_account", 1, upd("locked-2"), false))
        .await;
    bed.drain(50).await;
    let acc = bed.conn.get("Account", id, &["Description"]).await?;
    assert_eq!(acc["Description"], "locked-2");
    let done = bed
        .store
        .list_jobs(bed.ws, Some(JobStatus::Done), 10)
        .await?;
    assert_eq!(done[0].attempts, 1);
    assert!(
        done[0].errors[0].error.contains("UNABLE_TO_LOCK_ROW"),
        "{:?}",
        done[0].errors
    );
    Ok(())
}

#[tokio::test]
async fn an_expired_session_mid_queue_is_renewed_without_counting_an_attempt() -> Result<()> {
    let cfg = PipelineConfig {
        batch: 2,
        ..config()
    };
    let Some(bed) = Bed::new(Db::Sqlite, "expired session", cfg).await? else {
        return Ok(());
    };
    for i in 0..6 {
        bed.write(write(
            "call-e",
            "log_call",
            i,
            task(&format!("session-{i}")),
            false,
        ))
        .await;
    }
    assert_eq!(bed.worker.run_once().await?, 2);
    bed.admin(reqwest::Method::POST, "/devorg/sessions/expire", None)
        .await;
    bed.drain(50).await;
    assert_eq!(bed.count("Task", "Subject LIKE 'session-%'").await, 6);
    let done = bed
        .store
        .list_jobs(bed.ws, Some(JobStatus::Done), 10)
        .await?;
    assert_eq!(done.len(), 6);
    assert!(done.iter().all(|j| j.attempts == 0), "{done:?}");
    let stats: serde_json::Value = reqwest::get(format!("{}/devorg/stats", bed.base()))
        .await?
        .json()
        .await?;
    // The password grant has no refresh token: the session is renewed by logging in again.
    let renewals = stats["refreshes"].as_u64().unwrap_or(0) + stats["logins"].as_u64().unwrap_or(0);
    assert!(renewals >= 2, "the first login and one renewal: {stats}");
    Ok(())
}

#[tokio::test]
async fn an_exhausted_daily_allowance_pauses_the_queue_until_it_returns() -> Result<()> {
    for db in BOTH {
        let Some(bed) = Bed::new(db, "exhausted allowance", config()).await? else {
            continue;
        };
        for i in 0..3 {
            bed.write(write(
                "call-a",
                "log_call",
                i,
                task(&format!("allowance-{i}")),
                false,
            ))
            .await;
        }
        bed.admin(
            reqwest::Method::PUT,
            "/devorg/limits",
            Some(json!({"used": 1000, "max": 1000})),
        )
        .await;
        // The first job meets REQUEST_LIMIT_EXCEEDED: the connection pauses, nothing counted.
        bed.worker.run_once().await?;
        let now = bed.clock.now();
        let until = bed
            .store
            .connection_paused_until(bed.ws, "org", now)
            .await?;
        assert!(until.is_some(), "{db:?}: the connection is paused");
        bed.clock.advance(TimeDelta::seconds(60));
        assert_eq!(
            bed.worker.run_once().await?,
            0,
            "{db:?}: nothing runs while paused"
        );
        // The allowance returns (a new day); after the pause the queue drains.
        bed.admin(reqwest::Method::POST, "/devorg/limits/reset", None)
            .await;
        bed.clock.advance(TimeDelta::seconds(300));
        bed.drain(50).await;
        assert_eq!(
            bed.count("Task", "Subject LIKE 'allowance-%'").await,
            3,
            "{db:?}"
        );
        let done = bed
            .store
            .list_jobs(bed.ws, Some(JobStatus::Done), 10)
            .await?;
        assert_eq!(done.len(), 3);
        assert!(done.iter().all(|j| j.attempts == 0), "{db:?}: {done:?}");
    }
    Ok(())
}

#[tokio::test]
async fn a_later_update_never_overtakes_an_earlier_one() -> Result<()> {
    for db in BOTH {
        let Some(bed) = Bed::new(db, "per-record order", config()).await? else {
            continue;
        };
        let id = an_account(&bed).await;
        // The first update fails once and waits 200 ms for its retry; the two after it must
        // wait behind it rather than land first (and be overwritten by it).
        bed.faults(
            json!({"rules": [{"kind": "unavailable", "count": 1, "method": "PATCH",
            "path": "/services/data/*/sobjects/Account/*"}]}),
        )
        .await;
        for (i, d) in ["first", "second", "third"].into_iter().enumerate() {
            let upd = Request::Update {
                sobject: "Account".into(),
                id,
                record: rec(json!({"Description": d})),
            };
            bed.write(write("call-o", "update_account", i as u32, upd, false))
                .await;
        }
        bed.drain(50).await;
        let acc = bed.conn.get("Account", id, &["Description"]).await?;
        assert_eq!(acc["Description"], "third", "{db:?}");
        // A blocking write to a record with queued writes queues behind them.
        bed.faults(
            json!({"rules": [{"kind": "unavailable", "count": 1, "method": "PATCH",
            "path": "/services/data/*/sobjects/Account/*"}]}),
        )
        .await;
        let upd = |d: &str| Request::Update {
            sobject: "Account".into(),
            id,
            record: rec(json!({"Description": d})),
        };
        bed.write(write("call-o", "update_account", 3, upd("fourth"), false))
            .await;
        bed.worker.run_once().await?; // fails once, retry due in 200 ms
        let o = bed
            .write(write("call-o", "update_account", 4, upd("fifth"), true))
            .await;
        reference(&o);
        bed.drain(50).await;
        let acc = bed.conn.get("Account", id, &["Description"]).await?;
        assert_eq!(acc["Description"], "fifth", "{db:?}");
    }
    Ok(())
}

#[tokio::test]
async fn a_blocking_write_is_queued_when_the_budget_runs_out() -> Result<()> {
    let Some(bed) = Bed::new(Db::Sqlite, "budget", short_budget()).await? else {
        return Ok(());
    };
    bed.faults(
        json!({"rules": [{"kind": "unavailable", "probability": 1.0, "method": "PATCH",
        "path": "/services/data/*/sobjects/Case/*"}]}),
    )
    .await;
    let case = Request::Create {
        sobject: "Case".into(),
        record: rec(json!({"Subject": "budget-case", "Origin": "Phone"})),
    };
    let started = std::time::Instant::now();
    let o = bed
        .write(write("call-b", "create_case", 0, case, true))
        .await;
    let r = reference(&o);
    // NB: a lower bound only (never an upper one): the budget was used before queueing.
    assert!(started.elapsed() >= Duration::from_millis(150));
    let audit = bed
        .store
        .list_audit(bed.ws, &AuditFilter::default())
        .await?;
    assert!(audit.iter().any(|e| e.kind == "write.retry"), "{audit:?}");
    assert_eq!(audit.last().map(|e| e.kind.as_str()), Some("write.queued"));
    bed.clear_faults().await;
    bed.drain(50).await;
    assert_eq!(bed.count("Case", "Subject = 'budget-case'").await, 1);
    let id: i64 = r.trim_start_matches("job-").parse()?;
    let job = bed
        .store
        .job(bed.ws, callforce_store::JobId(id))
        .await?
        .expect("job");
    assert_eq!(job.status, JobStatus::Done);
    Ok(())
}

#[tokio::test]
async fn a_validation_error_is_dead_lettered_at_once_and_a_blocking_one_is_refused() -> Result<()> {
    let Some(bed) = Bed::new(Db::Sqlite, "permanent", config()).await? else {
        return Ok(());
    };
    let bad = Request::Create {
        sobject: "Case".into(),
        record: rec(json!({"No_Such_Field__c": 1})),
    };
    let e = bed
        .sink_write(write("call-p", "create_case", 0, bad.clone(), true))
        .await
        .expect_err("refused");
    assert!(e.to_string().contains("INVALID_FIELD"), "{e}");
    bed.write(write("call-p", "create_case", 1, bad, false))
        .await;
    bed.drain(10).await;
    let dead = bed
        .store
        .list_dead_letters(bed.ws, &DeadLetterFilter::default())
        .await?;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 1);
    Ok(())
}

#[tokio::test]
async fn actions_hand_their_writes_to_the_pipeline() -> Result<()> {
    let Some(bed) = Bed::new(Db::Sqlite, "actions", config()).await? else {
        return Ok(());
    };
    let actions = Actions::new(bed.conn.clone(), Catalog::with_examples())
        .with_sink(Arc::new(bed.sink.clone()));
    let mut call = CallSession::new(CallVars {
        call_id: "call-x".into(),
        agent: Some("agent-7".into()),
        ..CallVars::default()
    });
    // Blocking: the agent gets the new case's id.
    let case = actions
        .run(
            &mut call,
            "create_case",
            json!({"Subject": "pipeline case", "Origin": "Phone"}),
        )
        .await?;
    assert!(
        case["id"].as_str().is_some_and(|i| i.starts_with("500")),
        "{case}"
    );
    // Non-blocking: queued and acknowledged with a reference the model can quote.
    let logged = actions
        .run(
            &mut call,
            "log_call",
            json!({"Subject": "pipeline call", "WhatId": case["id"]}),
        )
        .await?;
    assert_eq!(logged["queued"], true, "{logged}");
    let r = logged["reference"].as_str().expect("reference");
    assert!(r.starts_with("job-"), "{logged}");
    assert_eq!(bed.count("Task", "Subject = 'pipeline call'").await, 0);
    bed.drain(10).await;
    assert_eq!(bed.count("Task", "Subject = 'pipeline call'").await, 1);
    let jobs = bed.store.list_jobs(bed.ws, None, 10).await?;
    assert_eq!(jobs[0].idempotency_key.len(), 64, "a hashed key");
    assert_eq!(jobs[0].call_id.as_deref(), Some("call-x"));
    Ok(())
}

/// A job of a connection the worker does not hold is never leased: it waits, uncounted and
/// untouched, while the worker drains the jobs of its own connection.
#[tokio::test]
async fn a_job_for_a_connection_not_held_waits_untouched() -> Result<()> {
    for db in BOTH {
        let Some(bed) = Bed::new(db, "connection not held", config()).await? else {
            continue;
        };
        let now = bed.clock.now();
        let stranger = bed
            .store
            .enqueue(
                &callforce_store::NewJob {
                    workspace: bed.ws,
                    connection_id: "elsewhere".into(),
                    idempotency_key: "call-x/log_call/0".into(),
                    ordering_key: "new:call-x/log_call/0".into(),
                    kind: callforce_pipeline::KIND_WRITE.into(),
                    payload: json!({"action": "log_call",
                        "request": {"op": "create", "sobject": "Task",
                                    "record": {"Subject": "held-elsewhere"}}})
                    .to_string(),
                    call_id: Some("call-x".into()),
                    agent: None,
                    run_at: now,
                },
                now,
            )
            .await?
            .id;
        let o = bed
            .write(write("call-h", "log_call", 0, task("held-here"), false))
            .await;
        reference(&o);
        let mut handled = 0;
        for _ in 0..5 {
            handled += bed.worker.run_once().await?;
            bed.clock.advance(TimeDelta::seconds(10));
        }
        assert_eq!(handled, 1, "{db:?}: only the held connection's job");
        assert_eq!(bed.count("Task", "Subject = 'held-here'").await, 1);
        let j = bed.store.job(bed.ws, stranger).await?.expect("job");
        assert_eq!(j.status, JobStatus::Queued, "{db:?}");
        assert_eq!(j.attempts, 0, "{db:?}");
        assert_eq!(j.updated_at, now, "{db:?}: never leased");
        assert_eq!(bed.count("Task", "Subject = 'held-elsewhere'").await, 0);
    }
    Ok(())
}

/// Connections that admit nothing: either never (no slot of a cap frees up) or refused by a
/// limit.
struct Refusing {
    ws: callforce_store::WorkspaceId,
    limited: bool,
}

impl callforce_pipeline::Connections for Refusing {
    fn ready(&self) -> Vec<(callforce_store::WorkspaceId, String)> {
        vec![(self.ws, "org".into())]
    }

    fn admit<'a>(
        &'a self,
        _workspace: callforce_store::WorkspaceId,
        _connection_id: &'a str,
    ) -> futures_util::future::BoxFuture<'a, callforce_pipeline::Admission> {
        if self.limited {
            Box::pin(async {
                callforce_pipeline::Admission::Limited("its share of the allowance is used".into())
            })
        } else {
            Box::pin(std::future::pending())
        }
    }
}

/// A connection's limits hand the job back uncounted: past its share the queue pauses with a
/// `write.paused` entry; a job that waits for a slot longer than half its lease goes back
/// instead of outliving the lease.
#[tokio::test]
async fn a_job_refused_by_its_connections_limits_goes_back_uncounted() -> Result<()> {
    let cfg = PipelineConfig {
        lease_for: Duration::from_secs(1),
        ..config()
    };
    let Some(bed) = Bed::new(Db::Sqlite, "limits", cfg.clone()).await? else {
        return Ok(());
    };
    let cfg = Arc::new(cfg);
    let worker = |limited: bool| {
        callforce_pipeline::Worker::new(
            bed.store.clone(),
            Arc::new(Refusing {
                ws: bed.ws,
                limited,
            }),
            cfg.clone(),
            bed.clock.clone(),
            "limited",
        )
    };
    let o = bed
        .write(write("call-l", "log_call", 0, task("limited"), false))
        .await;
    let id = callforce_store::JobId(reference(&o).trim_start_matches("job-").parse()?);

    // No slot in time: back in the queue, due now, nothing counted, no pause.
    assert_eq!(worker(false).run_once().await?, 1);
    let j = bed.store.job(bed.ws, id).await?.expect("job");
    assert_eq!((j.status, j.attempts), (JobStatus::Queued, 0));
    let now = bed.clock.now();
    assert_eq!(
        bed.store
            .connection_paused_until(bed.ws, "org", now)
            .await?,
        None
    );

    // Past a limit: back uncounted, the connection's queue paused, one write.paused entry.
    assert_eq!(worker(true).run_once().await?, 1);
    let j = bed.store.job(bed.ws, id).await?.expect("job");
    assert_eq!((j.status, j.attempts), (JobStatus::Queued, 0));
    assert!(
        bed.store
            .connection_paused_until(bed.ws, "org", now)
            .await?
            .is_some()
    );
    let audit = bed
        .store
        .list_audit(bed.ws, &AuditFilter::default())
        .await?;
    let kinds: Vec<&str> = audit.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, vec!["write.paused"]);
    // Paused: the next round leases nothing.
    assert_eq!(worker(true).run_once().await?, 0);
    Ok(())
}

/// A write the client cannot send is refused by the sink, blocking or not: never
/// acknowledged, never queued, never sent.
#[tokio::test]
async fn a_write_that_cannot_be_sent_is_refused_and_never_queued() -> Result<()> {
    let Some(bed) = Bed::new(Db::Sqlite, "cannot be sent", config()).await? else {
        return Ok(());
    };
    let raw = |path: &str, headers: Vec<(String, String)>| {
        Request::Raw(callforce_client::RawRequest {
            method: callforce_client::Method::Post,
            path: path.into(),
            query: vec![],
            headers,
            body: Some(json!({"Subject": "never-sent"})),
        })
    };
    let bad = [
        raw("/sobjects/Task", vec![("X-A".into(), "a\r\nb".into())]),
        raw("/sobjects/Task", vec![("".into(), "a".into())]),
        raw("/sobjects/Task", vec![("X-A".into(), "a\0b".into())]),
        raw("/services/data/v59.0/%2e%2e/%2e%2e/oauth2/revoke", vec![]),
    ];
    for (i, request) in bad.into_iter().enumerate() {
        for blocking in [true, false] {
            let place = u32::try_from(i).unwrap_or_default() * 2 + u32::from(blocking);
            let w = write(
                "call-bad",
                "custom_api_call",
                place,
                request.clone(),
                blocking,
            );
            let e = bed.sink_write(w).await.expect_err("refused");
            match e {
                callforce_actions::WriteError::Org(e) => {
                    assert_eq!(e.class(), callforce_client::Class::Permanent, "{e}");
                }
                other => panic!("refused as the org's error, got {other}"),
            }
        }
    }
    assert_eq!(bed.unfinished().await, 0, "nothing queued");
    assert_eq!(bed.count("Task", "Subject = 'never-sent'").await, 0);
    Ok(())
}
