//! Fills the `default` workspace of a `callforce serve` database with a busy month, for the
//! console's page benchmark (`scripts/bench-console`): 10,000 calls of four tool calls each in
//! the operations log (a tenth of them in the last hour), 1,000 open dead letters, and 100,000
//! audit entries, keyed as the service keys them.
//!
//! Usage: `seed_console --data-dir DIR [--database-url URL]` on a database the service made
//! (run it once first, then stop it).

use std::path::PathBuf;

use anyhow::Context;
use callforce_store::{NewAuditEntry, NewJob, NewOperation};
use chrono::{TimeDelta, Utc};

const CALLS: usize = 10_000;
const DEAD_LETTERS: usize = 1_000;
const AUDIT_ENTRIES: usize = 100_000;
const ACTIONS: [&str; 4] = [
    "search_contact",
    "create_case",
    "log_call",
    "schedule_event",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut data_dir = PathBuf::from("data");
    let mut database_url = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data-dir" => data_dir = args.next().context("--data-dir DIR")?.into(),
            "--database-url" => database_url = Some(args.next().context("--database-url URL")?),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let (store, _) = callforce::admin::open_keyed(
        &data_dir,
        database_url.as_deref(),
        std::env::var("CALLFORCE_MASTER_KEY").ok().as_deref(),
    )
    .await?;
    let ws = callforce::admin::workspace(&store, "default").await?;
    let connection = store
        .list_connections(ws)
        .await?
        .into_iter()
        .next()
        .context("the workspace has no connection: start callforce serve on it once")?
        .id;
    let now = Utc::now();
    let month = TimeDelta::days(29);

    let mut batch = Vec::new();
    for call in 0..CALLS {
        // The newest tenth in the last hour, the rest over the month.
        let start = if call < CALLS / 10 {
            now - TimeDelta::seconds((call * 3600 / (CALLS / 10)) as i64)
        } else {
            now - TimeDelta::hours(1)
                - TimeDelta::seconds((month.num_seconds() * call as i64) / CALLS as i64)
        };
        for (i, action) in ACTIONS.iter().enumerate() {
            batch.push(NewOperation {
                workspace: ws,
                call_id: format!("call-{call:05}"),
                call_instance: Some(format!("i-{call}")),
                agent: Some(["aria", "max"][call % 2].to_owned()),
                connection_id: Some(connection.clone()),
                action: (*action).to_owned(),
                arguments: format!(r#"{{"search_term":"+1555{call:07}","Subject":"Call {call}"}}"#),
                result: r#"{"id":"0030D000000000QQAQ","success":true}"#.to_owned(),
                outcome: if (call + i) % 17 == 0 {
                    "invalid_picklist".to_owned()
                } else {
                    "ok".to_owned()
                },
                latency_us: 2_000 + ((call * 7 + i * 13) % 400) as u64 * 100,
                round_trips: 1,
                caller_phone: Some(format!("+1555{call:07}")),
                started_at: start + TimeDelta::seconds(i as i64 * 5),
            });
        }
        if batch.len() >= 2_000 {
            store.record_operations(&batch).await?;
            batch.clear();
        }
    }
    store.record_operations(&batch).await?;
    println!("{} operations in {CALLS} calls", CALLS * ACTIONS.len());

    for n in 0..DEAD_LETTERS {
        let job = NewJob {
            workspace: ws,
            connection_id: connection.clone(),
            idempotency_key: format!("seed-dl-{n}"),
            ordering_key: format!("seed-dl-{n}"),
            kind: "write".to_owned(),
            payload: format!(
                r#"{{"request":{{"op":"create","sobject":"Task","record":{{"Subject":"Call {n}"}}}},"action":"log_call"}}"#
            ),
            call_id: Some(format!("call-{:05}", n * 7)),
            agent: Some("aria".to_owned()),
            run_at: now,
        };
        store.enqueue(&job, now).await?;
    }
    let owner = "seed";
    loop {
        let leased = store.lease(owner, now, TimeDelta::minutes(5), 200).await?;
        if leased.is_empty() {
            break;
        }
        for job in leased {
            store
                .dead(
                    job.id,
                    owner,
                    now,
                    "POST /services/data/v59.0/sobjects/Task: HTTP 400 FIELD_CUSTOM_VALIDATION_EXCEPTION: seeded",
                )
                .await?;
        }
    }
    println!("{DEAD_LETTERS} dead letters");

    let kinds = [
        "action.write",
        "config.agent",
        "connection.tested",
        "deadletter.replay",
    ];
    for n in 0..AUDIT_ENTRIES {
        let entry = NewAuditEntry {
            kind: kinds[n % kinds.len()].to_owned(),
            call_id: Some(format!("call-{:05}", n % CALLS)),
            agent: Some(["api-key:1", "system", "cli"][n % 3].to_owned()),
            record_ids: vec![format!("00T0D{n:013}")],
            request: Some(format!(r#"{{"Subject":"Call {n}"}}"#)),
            response: Some(r#"{"success":true}"#.to_owned()),
        };
        store.append_audit(ws, now, &entry).await?;
        if n % 20_000 == 19_999 {
            println!("{} audit entries", n + 1);
        }
    }
    Ok(())
}
