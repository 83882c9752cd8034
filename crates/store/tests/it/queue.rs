//! The durable write queue and dead letters.

use std::collections::HashSet;

use anyhow::Result;
use callforce_store::{
    AuditFilter, Completion, DeadLetterFilter, DeadLetterStatus, Error, JobId, JobStatus,
    NewAuditEntry, NewJob, Verdict, WorkspaceId,
};
use chrono::TimeDelta;

use crate::both;
use crate::support::{Db, t};

fn job(ws: WorkspaceId, key: &str, ordering: &str) -> NewJob {
    NewJob {
        workspace: ws,
        connection_id: "conn-1".into(),
        idempotency_key: key.into(),
        ordering_key: ordering.into(),
        kind: "create".into(),
        payload: format!(r#"{{"key":"{key}"}}"#),
        call_id: Some("call-1".into()),
        agent: Some("agent-1".into()),
        run_at: t(0),
    }
}

fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

fn ids(jobs: &[callforce_store::Job]) -> Vec<JobId> {
    jobs.iter().map(|j| j.id).collect()
}

both!(enqueue_with_a_known_idempotency_key_returns_the_existing_job);
async fn enqueue_with_a_known_idempotency_key_returns_the_existing_job(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("w", t(0)).await?.id;
    let first = s
        .enqueue(&job(ws, "call-1/create_case/0", "Case:1"), t(0))
        .await?;
    assert!(first.created);
    let mut again = job(ws, "call-1/create_case/0", "Case:1");
    again.payload = r#"{"different":true}"#.into();
    let second = s.enqueue(&again, t(1)).await?;
    assert_eq!(second.id, first.id);
    assert!(!second.created);
    let jobs = s.list_jobs(ws, None, 10).await?;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].payload, r#"{"key":"call-1/create_case/0"}"#);
    assert_eq!(jobs[0].status, JobStatus::Queued);

    // Concurrent enqueues of one key make one job.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.enqueue(&job(ws, "same", "Case:2"), t(2)).await
        }));
    }
    let mut seen = HashSet::new();
    let mut created = 0;
    for task in tasks {
        let e = task.await??;
        seen.insert(e.id);
        created += usize::from(e.created);
    }
    assert_eq!(seen.len(), 1);
    assert_eq!(created, 1);
    Ok(())
}

both!(enqueue_refuses_bad_json_and_unknown_workspaces);
async fn enqueue_refuses_bad_json_and_unknown_workspaces(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("w", t(0)).await?.id;
    let mut bad = job(ws, "k", "o");
    bad.payload = "{not json".into();
    assert!(matches!(
        s.enqueue(&bad, t(0)).await,
        Err(Error::InvalidJson(_))
    ));
    let r = s
        .enqueue(&job(WorkspaceId(ws.0 + 1000), "k", "o"), t(0))
        .await;
    assert!(matches!(r, Err(Error::NotFound)), "{r:?}");
    Ok(())
}

both!(concurrent_leasers_never_get_the_same_job);
async fn concurrent_leasers_never_get_the_same_job(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("w", t(0)).await?.id;
    for i in 0..120 {
        s.enqueue(&job(ws, &format!("k{i}"), &format!("Contact:{i}")), t(0))
            .await?;
    }
    let mut tasks = Vec::new();
    for w in 0..6 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let batch = s.lease(&format!("worker-{w}"), t(1), secs(60), 5).await?;
                if batch.is_empty() {
                    return Ok::<_, Error>(got);
                }
                for j in &batch {
                    assert_eq!(
                        j.lease_owner.as_deref(),
                        Some(format!("worker-{w}").as_str())
                    );
                }
                got.extend(ids(&batch));
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "a job was leased twice");
    assert_eq!(all.len(), 120);
    Ok(())
}

both!(jobs_of_one_record_run_one_at_a_time_in_order);
async fn jobs_of_one_record_run_one_at_a_time_in_order(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("w", t(0)).await?.id;
    let a1 = s.enqueue(&job(ws, "a1", "Contact:a"), t(0)).await?.id;
    let a2 = s.enqueue(&job(ws, "a2", "Contact:a"), t(0)).await?.id;
    let a3 = s.enqueue(&job(ws, "a3", "Contact:a"), t(0)).await?.id;
    let b1 = s.enqueue(&job(ws, "b1", "Contact:b"), t(0)).await?.id;

    assert_eq!(
        ids(&s.lease("w", t(1), secs(1000), 10).await?),
        vec![a1, b1]
    );
    assert!(
        s.lease("w2", t(2), secs(30), 10).await?.is_empty(),
        "a2 must wait for a1"
    );
    s.complete(a1, "w", t(3), Some(r#"{"id":"003"}"#)).await?;
    assert_eq!(ids(&s.lease("w", t(4), secs(30), 10).await?), vec![a2]);

    // A retried job still holds back the later ones of its record until it finishes.
    s.retry(a2, "w", t(5), t(60), "UNABLE_TO_LOCK_ROW").await?;
    assert!(
        s.lease("w", t(6), secs(30), 10).await?.is_empty(),
        "a3 must wait for a2"
    );
    assert_eq!(ids(&s.lease("w", t(60), secs(30), 10).await?), vec![a2]);
    s.complete(a2, "w", t(61), None).await?;
    assert_eq!(ids(&s.lease("w", t(62), secs(30), 10).await?), vec![a3]);

    // A replayed dead job goes first again and is not leased beside a later one.
    s.dead(a3, "w", t(63), "bad").await?;
    let dl = s.list_dead_letters(ws, &Default::default()).await?[0].id;
    let a4 = s.enqueue(&job(ws, "a4", "Contact:a"), t(64)).await?.id;
    assert_eq!(ids(&s.lease("w", t(65), secs(30), 10).await?), vec![a4]);
    s.replay_dead_letter(ws, dl, t(66)).await?;
    assert!(
        s.lease("w", t(67), secs(30), 10).await?.is_empty(),
        "a4 holds the record's lease"
    );
    s.complete(a4, "w", t(68), None).await?;
    assert_eq!(ids(&s.lease("w", t(69), secs(30), 10).await?), vec![a3]);
    assert_eq!(
        s.job(ws, b1).await?.map(|j| j.status),
        Some(JobStatus::Leased)
    );
    Ok(())
}

both!(an_expired_lease_makes_the_job_leasable_again);
async fn an_expired_lease_makes_the_job_leasable_again(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("w", t(0)).await?.id;
    let id = s.enqueue(&job(ws, "k", "Case:1"), t(0)).await?.id;
    let first = s.lease("w1", t(0), secs(10), 1).await?;
    assert_eq!(first[0].lease_until, Some(t(10)));
    assert_eq!(first[0].abandoned_lease_from, None);
    assert!(s.lease("w2", t(9), secs(10), 1).await?.is_empty());
    let second = s.lease("w2", t(10), secs(10), 1).await?;
    assert_eq!(ids(&second), vec![id]);
    assert_eq!(second[0].lease_owner.as_deref(), Some("w2"));
    assert_eq!(
        second[0].abandoned_lease_from,
        Some(t(0)),
        "the taker learns when the abandoned lease began"
    );
    assert!(matches!(
        s.complete(id, "w1", t(11), None).await,
        Err(Error::LeaseLost)
    ));
    assert!(matches!(
        s.retry(id, "w1", t(11), t(12), "x").await,
        Err(Error::LeaseLost)
    ));
    assert!(matches!(
        s.dead(id, "w1", t(11), "x").await,
        Err(Error::LeaseLost)
    ));
    s.complete(id, "w2", t(12), Some("{}")).await?;
    let done = s.job(ws, id).await?.expect("job");
    assert_eq!(done.status, JobStatus::Done);
    assert_eq!(done.result.as_deref(), Some("{}"));
    assert_eq!(done.attempts, 0);
    assert!(matches!(
        s.complete(id, "w2", t(13), None).await,
        Err(Error::LeaseLost)
    ));
    assert!(
        s.lease("w3", t(100), secs(10), 1).await?.is_empty(),
        "a done job is never leased"
    );
    Ok(())
}

both!(retry_and_dead_with_a_payload_keep_the_new_payload);
async fn retry_and_dead_with_a_payload_keep_the_new_payload(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("w", t(0)).await?.id;
    let id = s.enqueue(&job(ws, "k", "new:k"), t(0)).await?.id;

    s.lease("w", t(0), secs(30), 1).await?;
    assert!(matches!(
        s.retry_with_payload(id, "w", t(1), t(2), "lost", "not json")
            .await,
        Err(Error::InvalidJson(_))
    ));
    let first = r#"{"key":"k","ambiguousSince":"2026-03-01T09:00:00Z"}"#;
    s.retry_with_payload(id, "w", t(1), t(2), "answer lost", first)
        .await?;
    let j = s.job(ws, id).await?.expect("job");
    assert_eq!((j.status, j.attempts), (JobStatus::Queued, 1));
    assert_eq!(j.payload, first);
    assert!(
        matches!(
            s.retry_with_payload(id, "w", t(1), t(2), "again", first)
                .await,
            Err(Error::LeaseLost)
        ),
        "only the lease holder changes the payload"
    );

    assert_eq!(s.lease("w", t(2), secs(30), 1).await?[0].payload, first);
    let last = r#"{"key":"k","ambiguousSince":"2026-03-01T09:00:00Z","matches":2}"#;
    let dl_id = s
        .dead_with_payload(id, "w", t(3), "two records match", last)
        .await?;
    let j = s.job(ws, id).await?.expect("job");
    assert_eq!(
        (j.status, j.attempts, j.payload.as_str()),
        (JobStatus::Dead, 2, last)
    );
    let dl = s.dead_letter(ws, dl_id).await?.expect("dead letter");
    assert_eq!(dl.payload, last);
    assert_eq!(dl.errors.len(), 2);

    // The plain variants leave the payload alone.
    let other = s.enqueue(&job(ws, "k2", "new:k2"), t(4)).await?.id;
    s.lease("w", t(4), secs(30), 1).await?;
    s.retry(other, "w", t(5), t(6), "503").await?;
    assert_eq!(
        s.job(ws, other).await?.expect("job").payload,
        r#"{"key":"k2"}"#
    );
    Ok(())
}

both!(retry_dead_replay_and_discard_move_jobs_through_their_states);
async fn retry_dead_replay_and_discard_move_jobs_through_their_states(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("w", t(0)).await?.id;
    let id = s.enqueue(&job(ws, "k", "Case:1"), t(0)).await?.id;

    s.lease("w", t(0), secs(30), 1).await?;
    s.retry(id, "w", t(1), t(2), "503 Service Unavailable")
        .await?;
    let j = s.job(ws, id).await?.expect("job");
    assert_eq!(
        (j.status, j.attempts, j.next_run_at),
        (JobStatus::Queued, 1, t(2))
    );
    assert_eq!(j.last_error.as_deref(), Some("503 Service Unavailable"));
    assert!(j.lease_owner.is_none());
    assert!(
        s.lease("w", t(1), secs(30), 1).await?.is_empty(),
        "not due yet"
    );

    assert_eq!(s.lease("w", t(2), secs(30), 1).await?[0].attempts, 1);
    let dl_id = s
        .dead(id, "w", t(3), "FIELD_CUSTOM_VALIDATION_EXCEPTION")
        .await?;
    let j = s.job(ws, id).await?.expect("job");
    assert_eq!((j.status, j.attempts), (JobStatus::Dead, 2));
    assert!(
        s.lease("w", t(100), secs(30), 1).await?.is_empty(),
        "a dead job is never leased"
    );
    // The idempotency key still names the dead job: no duplicate is queued.
    let again = s.enqueue(&job(ws, "k", "Case:1"), t(4)).await?;
    assert_eq!((again.id, again.created), (id, false));

    let dl = s.dead_letter(ws, dl_id).await?.expect("dead letter");
    assert_eq!(dl.job_id, id);
    assert_eq!(dl.status, DeadLetterStatus::Open);
    assert_eq!(dl.attempts, 2);
    assert_eq!(dl.idempotency_key, "k");
    assert_eq!(dl.call_id.as_deref(), Some("call-1"));
    assert_eq!(dl.agent.as_deref(), Some("agent-1"));
    let errors: Vec<_> = dl
        .errors
        .iter()
        .map(|e| (e.attempt, e.at, e.error.as_str()))
        .collect();
    assert_eq!(
        errors,
        vec![
            (1, t(1), "503 Service Unavailable"),
            (2, t(3), "FIELD_CUSTOM_VALIDATION_EXCEPTION")
        ]
    );

    let by_conn = DeadLetterFilter {
        connection_id: Some("conn-1".into()),
        ..Default::default()
    };
    assert_eq!(s.list_dead_letters(ws, &by_conn).await?.len(), 1);
    let other_conn = DeadLetterFilter {
        connection_id: Some("conn-2".into()),
        ..Default::default()
    };
    assert!(s.list_dead_letters(ws, &other_conn).await?.is_empty());
    let by_call = DeadLetterFilter {
        call_id: Some("call-1".into()),
        ..Default::default()
    };
    assert_eq!(s.list_dead_letters(ws, &by_call).await?.len(), 1);
    let other_call = DeadLetterFilter {
        call_id: Some("call-9".into()),
        ..Default::default()
    };
    assert!(s.list_dead_letters(ws, &other_call).await?.is_empty());

    assert!(matches!(
        s.edit_dead_letter_payload(ws, dl_id, "not json", t(5))
            .await,
        Err(Error::InvalidJson(_))
    ));
    s.edit_dead_letter_payload(ws, dl_id, r#"{"Priority":"High"}"#, t(5))
        .await?;
    assert_eq!(s.replay_dead_letter(ws, dl_id, t(6)).await?, id);
    let dl = s.dead_letter(ws, dl_id).await?.expect("dead letter");
    assert_eq!(dl.status, DeadLetterStatus::Replayed);
    assert!(matches!(
        s.replay_dead_letter(ws, dl_id, t(7)).await,
        Err(Error::InvalidState(_))
    ));
    assert!(matches!(
        s.discard_dead_letter(ws, dl_id, t(7)).await,
        Err(Error::InvalidState(_))
    ));
    assert!(matches!(
        s.edit_dead_letter_payload(ws, dl_id, "{}", t(7)).await,
        Err(Error::InvalidState(_))
    ));

    let leased = s.lease("w", t(6), secs(30), 1).await?;
    assert_eq!(ids(&leased), vec![id]);
    assert_eq!(leased[0].payload, r#"{"Priority":"High"}"#);
    assert_eq!(leased[0].attempts, 0);
    assert_eq!(leased[0].idempotency_key, "k");
    s.complete(id, "w", t(8), None).await?;

    // Discard: the job stays dead.
    let id2 = s.enqueue(&job(ws, "k2", "Case:2"), t(9)).await?.id;
    s.lease("w", t(9), secs(30), 1).await?;
    let dl2 = s.dead(id2, "w", t(10), "INVALID_ID_FIELD").await?;
    s.discard_dead_letter(ws, dl2, t(11)).await?;
    assert_eq!(
        s.dead_letter(ws, dl2).await?.map(|d| d.status),
        Some(DeadLetterStatus::Discarded)
    );
    assert!(matches!(
        s.replay_dead_letter(ws, dl2, t(12)).await,
        Err(Error::InvalidState(_))
    ));
    assert_eq!(
        s.job(ws, id2).await?.map(|j| j.status),
        Some(JobStatus::Dead)
    );
    let open = DeadLetterFilter {
        status: Some(DeadLetterStatus::Open),
        ..Default::default()
    };
    assert!(s.list_dead_letters(ws, &open).await?.is_empty());
    Ok(())
}

both!(a_paused_connection_keeps_its_jobs_until_resumed_or_the_pause_ends);
async fn a_paused_connection_keeps_its_jobs_until_resumed_or_the_pause_ends(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("w", t(0)).await?.id;
    let j1 = s.enqueue(&job(ws, "k1", "Case:1"), t(0)).await?.id;
    let mut other = job(ws, "k2", "Case:2");
    other.connection_id = "conn-2".into();
    let j2 = s.enqueue(&other, t(0)).await?.id;

    s.pause_connection(ws, "conn-1", t(60)).await?;
    assert_eq!(
        s.connection_paused_until(ws, "conn-1", t(1)).await?,
        Some(t(60))
    );
    assert_eq!(ids(&s.lease("w", t(1), secs(300), 10).await?), vec![j2]);
    assert!(s.lease("w", t(59), secs(300), 10).await?.is_empty());
    assert_eq!(s.connection_paused_until(ws, "conn-1", t(60)).await?, None);
    let leased = s.lease("w", t(60), secs(300), 10).await?;
    assert_eq!(ids(&leased), vec![j1]);
    assert_eq!(leased[0].attempts, 0, "a pause burns no attempts");

    s.retry(j1, "w", t(61), t(61), "REQUEST_LIMIT_EXCEEDED")
        .await?;
    s.pause_connection(ws, "conn-1", t(3600)).await?;
    assert!(s.lease("w", t(62), secs(30), 10).await?.is_empty());
    s.resume_connection(ws, "conn-1").await?;
    assert_eq!(ids(&s.lease("w", t(63), secs(30), 10).await?), vec![j1]);
    Ok(())
}

both!(replaying_a_filtered_set_requeues_only_the_matching_open_dead_letters);
async fn replaying_a_filtered_set_requeues_only_the_matching_open_dead_letters(
    db: &Db,
) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("w", t(0)).await?.id;
    let mut dead = Vec::new();
    for (i, call) in ["call-a", "call-a", "call-b", "call-a"].iter().enumerate() {
        let mut j = job(ws, &format!("k{i}"), &format!("Case:{i}"));
        j.call_id = Some((*call).into());
        let id = s.enqueue(&j, t(0)).await?.id;
        s.lease("w", t(0), secs(30), 1).await?;
        dead.push((id, s.dead(id, "w", t(1), "boom").await?));
    }
    s.discard_dead_letter(ws, dead[3].1, t(2)).await?;
    let call_a = DeadLetterFilter {
        call_id: Some("call-a".into()),
        ..Default::default()
    };
    let replayed = s.replay_dead_letters(ws, &call_a, t(3)).await?;
    assert_eq!(replayed, vec![dead[0].0, dead[1].0]);
    assert_eq!(
        s.job(ws, dead[2].0).await?.map(|j| j.status),
        Some(JobStatus::Dead)
    );
    assert_eq!(
        s.job(ws, dead[3].0).await?.map(|j| j.status),
        Some(JobStatus::Dead)
    );
    assert!(s.replay_dead_letters(ws, &call_a, t(4)).await?.is_empty());
    let all = s
        .replay_dead_letters(ws, &DeadLetterFilter::default(), t(5))
        .await?;
    assert_eq!(all, vec![dead[2].0]);
    Ok(())
}

both!(two_instances_on_one_database_never_lease_the_same_job);
async fn two_instances_on_one_database_never_lease_the_same_job(db: &Db) -> Result<()> {
    let ws = db.store.create_workspace("w", t(0)).await?.id;
    for i in 0..100 {
        db.store
            .enqueue(
                &job(ws, &format!("k{i}"), &format!("Contact:{}", i % 40)),
                t(0),
            )
            .await?;
    }
    let other = db.second_store().await?;
    let mut tasks = Vec::new();
    for (n, store) in [db.store.clone(), other.clone()].into_iter().enumerate() {
        for w in 0..3 {
            let s = store.clone();
            let owner = format!("instance-{n}/worker-{w}");
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                let mut idle = 0;
                // Lease, finish what was leased, repeat until several rounds find nothing.
                while idle < 5 {
                    let batch = s.lease(&owner, t(1), secs(60), 4).await?;
                    idle = if batch.is_empty() { idle + 1 } else { 0 };
                    for j in batch {
                        s.complete(j.id, &owner, t(1), None).await?;
                        got.push(j.id);
                    }
                    tokio::task::yield_now().await;
                }
                Ok::<_, Error>(got)
            }));
        }
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    other.close().await;
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "a job ran twice");
    // Every job ran (a worker may give up while another holds the next job of a record, so the
    // remainder is drained here).
    loop {
        let batch = db.store.lease("drain", t(1), secs(60), 100).await?;
        if batch.is_empty() {
            break;
        }
        for j in batch {
            assert!(!unique.contains(&j.id), "job {:?} ran twice", j.id);
            db.store.complete(j.id, "drain", t(1), None).await?;
        }
    }
    assert_eq!(
        db.store
            .list_jobs(ws, Some(JobStatus::Done), 1000)
            .await?
            .len(),
        100
    );
    Ok(())
}

both!(only_the_jobs_of_ready_connections_are_leased);
async fn only_the_jobs_of_ready_connections_are_leased(db: &Db) -> Result<()> {
    let s = &db.store;
    let a = s.create_workspace("a", t(0)).await?.id;
    let b = s.create_workspace("b", t(0)).await?.id;
    let enqueue = async |ws: WorkspaceId, conn: &str, key: &str| -> Result<JobId> {
        let mut j = job(ws, key, &format!("Task:{key}"));
        j.connection_id = conn.into();
        Ok(s.enqueue(&j, t(0)).await?.id)
    };
    let a1 = enqueue(a, "conn-1", "a1").await?;
    let a2 = enqueue(a, "conn-2", "a2").await?;
    let b1 = enqueue(b, "conn-1", "b1").await?;
    let a3 = enqueue(a, "conn-1", "a3").await?;

    // Nothing is ready: nothing is leased.
    assert!(
        s.lease_ready("w", t(1), secs(30), 10, &[])
            .await?
            .is_empty()
    );
    // conn-1 of workspace a only: not conn-2, not workspace b's conn-1 (same id, other tenant).
    let ready = [(a, "conn-1".to_owned())];
    assert_eq!(
        ids(&s.lease_ready("w", t(1), secs(30), 10, &ready).await?),
        vec![a1, a3]
    );
    for (ws, id) in [(a, a2), (b, b1)] {
        let j = s.job(ws, id).await?.expect("job");
        assert_eq!(
            (j.status, j.attempts),
            (JobStatus::Queued, 0),
            "left as it was"
        );
    }
    // A ready connection that is paused is left alone: alone in the set, or among others.
    s.pause_connection(b, "conn-1", t(60)).await?;
    let ready = [(b, "conn-1".to_owned())];
    assert!(
        s.lease_ready("w", t(2), secs(30), 10, &ready)
            .await?
            .is_empty()
    );
    let ready = [(a, "conn-2".to_owned()), (b, "conn-1".to_owned())];
    assert_eq!(
        ids(&s.lease_ready("w", t(2), secs(300), 10, &ready).await?),
        vec![a2]
    );
    // Once the pause ends, its job is leased too.
    assert_eq!(
        ids(&s.lease_ready("w", t(60), secs(30), 10, &ready).await?),
        vec![b1]
    );
    Ok(())
}

both!(job_counts_by_state_span_workspaces);
async fn job_counts_by_state_span_workspaces(db: &Db) -> Result<()> {
    let s = &db.store;
    let a = s.create_workspace("a", t(0)).await?.id;
    let b = s.create_workspace("b", t(0)).await?.id;
    for (ws, key) in [(a, "1"), (a, "2"), (a, "3"), (b, "4"), (b, "5")] {
        s.enqueue(&job(ws, key, &format!("Task:{key}")), t(0))
            .await?;
    }
    let leased = s.lease("w", t(1), secs(30), 3).await?;
    s.complete(leased[0].id, "w", t(2), None).await?;
    s.dead(leased[1].id, "w", t(2), "boom").await?;
    let c = s.count_jobs().await?;
    assert_eq!((c.queued, c.leased, c.dead), (2, 1, 1));
    // Per workspace, with its open dead letters: the counts split between them.
    let (in_a, open_a) = s.count_jobs_in(a).await?;
    let (in_b, open_b) = s.count_jobs_in(b).await?;
    assert_eq!(
        (
            in_a.queued + in_b.queued,
            in_a.leased + in_b.leased,
            in_a.dead + in_b.dead
        ),
        (2, 1, 1)
    );
    let dead_in = leased[1].workspace;
    assert_eq!((open_a, open_b), if dead_in == a { (1, 0) } else { (0, 1) });
    assert_eq!(in_a.dead, u64::from(dead_in == a));
    Ok(())
}

both!(complete_all_records_a_rounds_jobs_and_audit_entries_in_one_go);
async fn complete_all_records_a_rounds_jobs_and_audit_entries_in_one_go(db: &Db) -> Result<()> {
    let s = &db.store;
    let a = s.create_workspace("a", t(0)).await?.id;
    let b = s.create_workspace("b", t(0)).await?.id;
    let a1 = s.enqueue(&job(a, "a1", "Case:1"), t(0)).await?.id;
    let b1 = s.enqueue(&job(b, "b1", "Case:2"), t(0)).await?.id;
    let a2 = s.enqueue(&job(a, "a2", "Case:3"), t(0)).await?.id;
    let lost = s.enqueue(&job(a, "lost", "Case:4"), t(0)).await?.id;
    assert_eq!(s.lease("w1", t(0), secs(10), 10).await?.len(), 4);
    // `lost`'s lease runs out and another worker takes it before w1 records the round.
    assert_eq!(ids(&s.lease("w2", t(11), secs(10), 10).await?).len(), 4);
    s.complete(lost, "w2", t(12), None).await?;
    for id in [a1, b1, a2] {
        s.release(id, "w2", t(12), t(12)).await?;
    }
    let again = s.lease("w1", t(13), secs(10), 10).await?;
    assert_eq!(ids(&again), vec![a1, b1, a2]);

    let entry = |kind: &str, id: &str| NewAuditEntry {
        kind: kind.into(),
        call_id: Some("call-1".into()),
        agent: None,
        record_ids: vec![id.into()],
        request: Some("{}".into()),
        response: Some(format!(r#"{{"id":"{id}"}}"#)),
    };
    let done = |id: JobId, ws: WorkspaceId, rec: &str| Completion {
        id,
        workspace: ws,
        at: t(14),
        result: Some(format!(r#"{{"id":"{rec}"}}"#)),
        audit: entry("write.done", rec),
    };
    let recorded = s
        .complete_all(
            "w1",
            &[
                done(a1, a, "003A1"),
                done(b1, b, "003B1"),
                done(a2, a, "003A2"),
                done(lost, a, "003L"),
            ],
        )
        .await?;
    assert_eq!(recorded, vec![lost], "the job w1 no longer held is named");
    for (id, ws, rec) in [(a1, a, "003A1"), (b1, b, "003B1"), (a2, a, "003A2")] {
        let j = s.job(ws, id).await?.expect("job");
        assert_eq!(j.status, JobStatus::Done);
        assert_eq!(j.result, Some(format!(r#"{{"id":"{rec}"}}"#)));
    }
    assert_eq!(
        s.job(a, lost).await?.expect("job").result,
        None,
        "left as w2 left it"
    );
    // Every attempt is audited, in order, and each workspace's chain still verifies.
    let kinds = |ws| async move {
        s.list_audit(ws, &AuditFilter::default())
            .await
            .map(|v| v.into_iter().flat_map(|e| e.record_ids).collect::<Vec<_>>())
    };
    assert_eq!(kinds(a).await?, ["003A1", "003A2", "003L"]);
    assert_eq!(kinds(b).await?, ["003B1"]);
    for ws in [a, b] {
        let verdict = s.verify_audit(ws).await?;
        assert!(
            matches!(verdict, Verdict::Intact { .. }),
            "{ws:?}: {verdict:?}"
        );
    }

    // Bad JSON anywhere records nothing.
    let id = s.enqueue(&job(a, "bad", "Case:5"), t(20)).await?.id;
    s.lease("w1", t(20), secs(10), 10).await?;
    let mut bad = done(id, a, "003X");
    bad.audit.response = Some("not json".into());
    assert!(matches!(
        s.complete_all("w1", &[bad]).await,
        Err(Error::InvalidJson(_))
    ));
    assert_eq!(s.job(a, id).await?.expect("job").status, JobStatus::Leased);
    Ok(())
}
