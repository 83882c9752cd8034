//! How long an agent waits on Salesforce during seed 003's example call, with the org 50 ms
//! away: `callforce serve` (its defaults, the embedded dev org with 50 ms added to every request)
//! side by side with a sequential client doing the same steps straight against the same org.
//!
//! The call: the caller rings from Sarah Johnson's mobile; the agent finds her, opens a case
//! and reads its number out, logs the call and books a callback. Before each of the four tool
//! calls the model takes a turn (`--turn-ms`, 300 by default), which nobody waits on Salesforce
//! for; the figure is the sum of the four tool calls' times, from after the call started (for
//! callforce, `POST /v1/calls`, which looks the caller up, is before the first word and not
//! counted). The sequential client does what a client library does: a search by phone, a
//! create, a read of the case number, a create of the task, a create of the event.
//!
//! Usage: `cargo run --release -p callforce --example bench_call -- [--calls N] [--latency-ms
//! MS] [--turn-ms MS]` (defaults 20, 50, 300). Prints each side's median and p90 and the ratio
//! of the medians.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use callforce_client::{Connection, Record};
use serde_json::{Value, json};

const PHONE: &str = "+15552345678";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut calls = 20usize;
    let mut latency_ms = 50u64;
    let mut turn_ms = 300u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || -> anyhow::Result<u64> {
            args.next()
                .with_context(|| format!("{a} needs a value"))?
                .parse()
                .with_context(|| format!("{a} takes a number"))
        };
        match a.as_str() {
            "--calls" => calls = usize::try_from(value()?)?,
            "--latency-ms" => latency_ms = value()?,
            "--turn-ms" => turn_ms = value()?,
            other => anyhow::bail!("unknown argument {other}; see the file's header"),
        }
    }
    let dir = tempfile_dir()?;
    let started = callforce::serve::start(callforce::serve::ServeConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        dir.clone(),
    ))
    .await?;
    let key = started.api_key.clone().context("a first key")?;
    let base = format!("http://{}", started.addr);
    let org = &started.devorg.as_ref().context("the embedded dev org")?.org;
    let http = reqwest::Client::new();
    // Let the service finish what it does once at start (the describes of the writes).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let put = http
        .put(format!("{}/devorg/faults", org.instance_url()))
        .json(&json!({"latency": {"fixed_ms": latency_ms}}))
        .send()
        .await?;
    anyhow::ensure!(put.status().is_success(), "setting the latency failed");
    let direct = org_connection(org).await?;
    let turn = Duration::from_millis(turn_ms);

    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for i in 0..calls {
        ours.push(through_callforce(&http, &base, &key, i, turn).await?);
        theirs.push(sequential(&direct, i, turn).await?);
    }
    let (m_ours, p90_ours) = stats(&mut ours);
    let (m_theirs, p90_theirs) = stats(&mut theirs);
    println!(
        "example call, org {latency_ms} ms away, {calls} calls, model turn {turn_ms} ms: time the agent waits on its four tool calls"
    );
    println!("  callforce serve:   median {m_ours:7.1} ms   p90 {p90_ours:7.1} ms");
    println!("  sequential client: median {m_theirs:7.1} ms   p90 {p90_theirs:7.1} ms");
    println!("  ratio of medians:  {:.2}", m_ours / m_theirs);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("callforce-bench-call-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Median and p90, in ms.
fn stats(v: &mut [f64]) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.9))
}

/// The call through the agent API; the ms the agent waited on its four tool calls.
async fn through_callforce(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    i: usize,
    turn: Duration,
) -> anyhow::Result<f64> {
    let call_id = format!("bench-{i}");
    let started = post(
        http,
        &format!("{base}/v1/calls"),
        key,
        json!({"call_id": call_id, "caller_phone": PHONE}),
    )
    .await?;
    anyhow::ensure!(
        started["caller_context"]["status"] == "found",
        "the caller was not found at start: {started}"
    );
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).date_naive();
    let steps = [
        ("search_contact", json!({"search_term": "{{caller_phone}}"})),
        (
            "create_case",
            json!({"Subject": format!("Invoice amount discrepancy {i}"), "ContactId": "{{search_contact.Id}}", "Priority": "High", "Origin": "Phone"}),
        ),
        (
            "log_call",
            json!({"Subject": "Inbound call - invoice discrepancy", "WhoId": "{{search_contact.Id}}", "WhatId": "{{create_case.Id}}", "CallType": "Inbound", "CallDisposition": "Connected"}),
        ),
        (
            "schedule_event",
            json!({"Subject": "Callback - invoice discrepancy follow-up", "WhoId": "{{search_contact.Id}}", "WhatId": "{{create_case.Id}}",
                "StartDateTime": format!("{tomorrow}T10:00:00Z"), "EndDateTime": format!("{tomorrow}T10:30:00Z")}),
        ),
    ];
    let mut waited = Duration::ZERO;
    for (action, arguments) in steps {
        tokio::time::sleep(turn).await;
        let t = Instant::now();
        let answer = post(
            http,
            &format!("{base}/v1/calls/{call_id}/actions/{action}"),
            key,
            json!({ "arguments": arguments }),
        )
        .await?;
        waited += t.elapsed();
        if std::env::var_os("BENCH_CALL_STEPS").is_some() {
            eprintln!("{action}: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
        }
        anyhow::ensure!(answer.get("result").is_some(), "{action}: {answer}");
    }
    post(
        http,
        &format!("{base}/v1/calls/{call_id}/end"),
        key,
        json!({}),
    )
    .await?;
    Ok(waited.as_secs_f64() * 1e3)
}

async fn post(http: &reqwest::Client, url: &str, key: &str, body: Value) -> anyhow::Result<Value> {
    let resp = http.post(url).bearer_auth(key).json(&body).send().await?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "{url}: {status} {body}");
    Ok(body)
}

/// The same steps as a client library makes them, one request after another.
async fn sequential(conn: &Connection, i: usize, turn: Duration) -> anyhow::Result<f64> {
    let mut waited = Duration::ZERO;
    tokio::time::sleep(turn).await;
    let t = Instant::now();
    let found = conn
        .search(&format!(
            "FIND {{{PHONE}}} IN PHONE FIELDS RETURNING Contact(Id, Name, AccountId, Account.Name)"
        ))
        .await?;
    waited += t.elapsed();
    let contact = found
        .search_records
        .first()
        .and_then(|r| r.get("Id"))
        .and_then(Value::as_str)
        .context("the caller")?
        .to_owned();

    tokio::time::sleep(turn).await;
    let t = Instant::now();
    let case = conn
        .create(
            "Case",
            record(json!({"Subject": format!("Invoice amount discrepancy {i}"), "ContactId": contact, "Priority": "High", "Origin": "Phone"})),
        )
        .await?;
    let case_id = case.id.context("the case id")?;
    // The number the agent reads out.
    conn.get("Case", case_id, &["CaseNumber"]).await?;
    waited += t.elapsed();

    tokio::time::sleep(turn).await;
    let t = Instant::now();
    conn.create(
        "Task",
        record(json!({"Subject": "Inbound call - invoice discrepancy", "WhoId": contact, "WhatId": case_id.to_string(),
            "TaskSubtype": "Call", "Status": "Completed", "CallType": "Inbound", "CallDisposition": "Connected"})),
    )
    .await?;
    waited += t.elapsed();

    tokio::time::sleep(turn).await;
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).date_naive();
    let t = Instant::now();
    conn.create(
        "Event",
        record(json!({"Subject": "Callback - invoice discrepancy follow-up", "WhoId": contact, "WhatId": case_id.to_string(),
            "StartDateTime": format!("{tomorrow}T10:00:00Z"), "EndDateTime": format!("{tomorrow}T10:30:00Z")})),
    )
    .await?;
    waited += t.elapsed();
    Ok(waited.as_secs_f64() * 1e3)
}

fn record(v: Value) -> Record {
    match v {
        Value::Object(m) => m,
        _ => Record::new(),
    }
}

async fn org_connection(org: &callforce_devorg::DevOrg) -> anyhow::Result<Connection> {
    let c = org.config();
    let app = callforce_client::OAuthApp {
        client_id: c.client_id.clone(),
        client_secret: Some(callforce_client::SecretString::from(
            c.client_secret.clone(),
        )),
        redirect_uri: None,
    };
    Ok(Connection::login(
        callforce_client::ConnectionConfig::new(
            callforce_client::LoginHost::Url(org.instance_url().to_owned()),
            app,
        ),
        callforce_client::Grant::ClientCredentials,
    )
    .await?)
}
