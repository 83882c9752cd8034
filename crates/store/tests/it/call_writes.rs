//! The duplicate window of a call's writes: a repeat answers the first result, a value set back
//! is a new write, a failed write is released, old rows expire, and two identical claims at once
//! (two instances) let exactly one run.

use anyhow::Result;
use callforce_store::{CallWrite, Claimed, WriteTarget};
use chrono::TimeDelta;

use crate::both;
use crate::support::{Db, t};

fn write<'a>(
    ws: callforce_store::WorkspaceId,
    action: &'a str,
    hash: &'a str,
    target: WriteTarget<'a>,
) -> CallWrite<'a> {
    CallWrite {
        workspace: ws,
        call_id: "call-1",
        instance: "i1",
        action,
        args_hash: hash,
        target,
    }
}

both!(call_writes_repeat_once_and_a_value_set_back_is_new);
async fn call_writes_repeat_once_and_a_value_set_back_is_new(db: &Db) -> Result<()> {
    let s = &db.store;
    let ws = s.create_workspace("acme", t(0)).await?.id;
    let window = TimeDelta::minutes(10);
    let stale = TimeDelta::seconds(30);
    let claim = |w: CallWrite<'static>, at: i64| async move {
        s.claim_call_write(&w, t(at), window, stale).await
    };
    // A create: first, pending for a second request, then done with its answer.
    let case = write(ws, "create_case", "h-case", WriteTarget::New);
    assert_eq!(claim(case, 1).await?, Claimed::First);
    assert_eq!(claim(case, 2).await?, Claimed::Pending(t(1)));
    s.finish_call_write(&case, r#"{"id":"500A"}"#).await?;
    assert_eq!(
        claim(case, 3).await?,
        Claimed::Done(r#"{"id":"500A"}"#.into())
    );
    // Another workspace, call or instance is another write.
    let other_ws = s.create_workspace("other", t(0)).await?.id;
    assert_eq!(
        claim(
            write(other_ws, "create_case", "h-case", WriteTarget::New),
            3
        )
        .await?,
        Claimed::First
    );
    let other_call = CallWrite {
        instance: "i2",
        ..case
    };
    assert_eq!(claim(other_call, 3).await?, Claimed::First);

    // Updates of one record: Working, Escalated, Working is three writes; a repeat of the last
    // one (a write to another record or a create in between) is the same write.
    let rec = WriteTarget::Record("Case:500A");
    let working = write(ws, "update_case", "h-working", rec);
    let escalated = write(ws, "update_case", "h-escalated", rec);
    assert_eq!(claim(working, 4).await?, Claimed::First);
    s.finish_call_write(&working, r#"{"n":1}"#).await?;
    let elsewhere = write(
        ws,
        "update_case",
        "h-else",
        WriteTarget::Record("Case:500B"),
    );
    assert_eq!(claim(elsewhere, 5).await?, Claimed::First);
    s.finish_call_write(&elsewhere, "{}").await?;
    assert_eq!(
        claim(case, 5).await?,
        Claimed::Done(r#"{"id":"500A"}"#.into())
    );
    assert_eq!(
        claim(working, 6).await?,
        Claimed::Done(r#"{"n":1}"#.into()),
        "nothing else to the record"
    );
    assert_eq!(claim(escalated, 7).await?, Claimed::First);
    s.finish_call_write(&escalated, r#"{"n":2}"#).await?;
    assert_eq!(
        claim(working, 8).await?,
        Claimed::First,
        "set back: a new write"
    );
    s.finish_call_write(&working, r#"{"n":3}"#).await?;
    assert_eq!(claim(working, 9).await?, Claimed::Done(r#"{"n":3}"#.into()));
    // A write of unknown target in between makes the record's next repeat a new write.
    let raw = write(ws, "custom_api_call", "h-raw", WriteTarget::Unknown);
    assert_eq!(claim(raw, 10).await?, Claimed::First);
    s.finish_call_write(&raw, "{}").await?;
    assert_eq!(claim(raw, 10).await?, Claimed::Done("{}".into()));
    assert_eq!(claim(working, 11).await?, Claimed::First);

    // A failed write is released: its repeat runs it.
    let failing = write(ws, "create_contact", "h-fail", WriteTarget::New);
    assert_eq!(claim(failing, 12).await?, Claimed::First);
    s.release_call_write(&failing).await?;
    assert_eq!(claim(failing, 13).await?, Claimed::First);
    // Abandoned (pending past `stale`): taken over.
    assert_eq!(claim(failing, 44).await?, Claimed::First);
    // Past the window: expired, a new write.
    assert_eq!(claim(case, 1 + 600).await?, Claimed::First);
    Ok(())
}

both!(call_writes_claimed_at_once_by_two_instances_run_once);
async fn call_writes_claimed_at_once_by_two_instances_run_once(db: &Db) -> Result<()> {
    let ws = db.store.create_workspace("acme", t(0)).await?.id;
    let second = db.second_store().await?;
    for round in 0..20 {
        let hash = format!("h-{round}");
        let w = write(ws, "create_case", &hash, WriteTarget::New);
        let (a, b) = tokio::join!(
            db.store
                .claim_call_write(&w, t(1), TimeDelta::minutes(10), TimeDelta::seconds(30)),
            second.claim_call_write(&w, t(1), TimeDelta::minutes(10), TimeDelta::seconds(30)),
        );
        let firsts = [a?, b?].iter().filter(|c| **c == Claimed::First).count();
        assert_eq!(firsts, 1, "round {round}");
    }
    Ok(())
}
