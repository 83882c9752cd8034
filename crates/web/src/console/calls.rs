//! The calls pages: the recent calls (from the operations log) and one call's timeline, every
//! tool call in order with its arguments, its result or error, its outcome, latency and the
//! requests it sent to the org (round trips), the
//! records it touched (linked to the org: its instance URL and the id) and, for a queued write,
//! where the write is now (queued, being sent, written, or a dead letter). The reads are the
//! core's ([`callforce_app::operations::Operations`], the admin's jobs, the connections).
//!
//! ```text
//! GET /calls?caller_phone=&agent=&action=&outcome=&from=&until=   the recent calls, filtered
//! GET /calls/{id}                                     the call's timeline
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use callforce_store::{CallFilter, CallSummary, JobStatus, Operation};

use super::{Pages, failed, html, signed_in, some, text, time, time_field};

/// The routes of the calls pages.
pub(super) fn routes() -> axum::Router<Arc<Pages>> {
    axum::Router::new()
        .route("/calls", get(list))
        .route("/calls/{id}", get(timeline))
}

/// A latency in microseconds, as a person reads it.
fn latency(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{:.2} s", us as f64 / 1e6)
    } else if us >= 1_000 {
        format!("{:.1} ms", us as f64 / 1e3)
    } else {
        format!("{us} µs")
    }
}

/// The list's filter as typed.
#[derive(Default)]
struct Filter {
    caller_phone: String,
    agent: String,
    action: String,
    outcome: String,
    from: String,
    until: String,
    /// What is wrong with `from` or `until`, as typed.
    from_problem: Option<String>,
    until_problem: Option<String>,
}

/// A call as a row of the list.
struct Row {
    call_id: String,
    caller_phone: String,
    agent: String,
    connection_id: String,
    started: String,
    duration: String,
    operations: u64,
    errors: u64,
}

impl Row {
    fn of(c: &CallSummary) -> Self {
        let span = (c.last_at - c.first_at).num_microseconds().unwrap_or(0);
        Self {
            call_id: c.call_id.clone(),
            caller_phone: c.caller_phone.clone().unwrap_or_default(),
            agent: c.agent.clone().unwrap_or_default(),
            connection_id: c.connection_id.clone().unwrap_or_default(),
            started: time(c.first_at),
            duration: latency(u64::try_from(span).unwrap_or(0)),
            operations: c.operations,
            errors: c.errors,
        }
    }
}

/// A tool call as a step of the timeline.
struct Step {
    at: String,
    action: String,
    outcome: String,
    failed: bool,
    latency: String,
    /// Requests sent to the org, in words.
    round_trips: String,
    arguments: String,
    result: String,
    /// The records the result names, with their address in the org.
    records: Vec<Record>,
    /// For a queued write: its reference and where it is now.
    write: Option<Queued>,
}

/// A record a tool call touched.
struct Record {
    id: String,
    url: String,
}

/// A queued write as the timeline shows it.
struct Queued {
    reference: String,
    /// `queued`, `leased`, `done` or `dead` (`unknown` once the job is gone).
    status: String,
    /// In words, for the page.
    says: String,
}

/// Whether `s` looks like a Salesforce record id (15 or 18 letters and digits, with a digit).
fn is_record_id(s: &str) -> bool {
    (s.len() == 15 || s.len() == 18)
        && s.bytes().all(|b| b.is_ascii_alphanumeric())
        && s.bytes().any(|b| b.is_ascii_digit())
}

/// The record ids a result names (`id` or `Id` at any depth), in order, each once, at most 10.
fn record_ids(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match v {
                    serde_json::Value::String(id)
                        if (k == "id" || k == "Id") && is_record_id(id) =>
                    {
                        if out.len() < 10 && !out.contains(id) {
                            out.push(id.clone());
                        }
                    }
                    _ => record_ids(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| record_ids(v, out)),
        _ => {}
    }
}

/// The queued write's reference a result carries (`job-17`), if any.
fn queued_reference(result: &serde_json::Value) -> Option<String> {
    result
        .get("reference")
        .and_then(|r| r.as_str())
        .filter(|r| r.starts_with("job-"))
        .map(str::to_owned)
}

impl Step {
    fn of(o: &Operation) -> Self {
        let mut ids = Vec::new();
        record_ids(&o.result, &mut ids);
        Self {
            records: ids
                .into_iter()
                .map(|id| Record {
                    url: String::new(),
                    id,
                })
                .collect(),
            write: None,
            at: time(o.started_at),
            action: o.action.clone(),
            failed: callforce_store::operations::is_error(&o.outcome),
            outcome: o.outcome.clone(),
            latency: latency(o.latency_us),
            round_trips: match o.round_trips {
                0 => "no request to the org".to_owned(),
                1 => "1 request to the org".to_owned(),
                n => format!("{n} requests to the org"),
            },
            arguments: serde_json::to_string_pretty(&o.arguments).unwrap_or_default(),
            result: serde_json::to_string_pretty(&o.result).unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "calls.html")]
struct ListPage<'a> {
    csrf: &'a str,
    page: &'a str,
    filter: Filter,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "call.html")]
struct TimelinePage<'a> {
    csrf: &'a str,
    page: &'a str,
    call_id: &'a str,
    caller_phone: String,
    agent: String,
    connection_id: String,
    steps: Vec<Step>,
}

async fn list(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let s = match signed_in(&pages, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let typed = Filter {
        caller_phone: text(&params, "caller_phone"),
        agent: text(&params, "agent"),
        action: text(&params, "action"),
        outcome: text(&params, "outcome"),
        from: text(&params, "from"),
        until: text(&params, "until"),
        ..Filter::default()
    };
    let mut typed = typed;
    let since = time_field(&typed.from).unwrap_or_else(|p| {
        typed.from_problem = Some(p);
        None
    });
    let until = time_field(&typed.until).unwrap_or_else(|p| {
        typed.until_problem = Some(p);
        None
    });
    let filter = CallFilter {
        caller_phone: some(&typed.caller_phone),
        agent: some(&typed.agent),
        action: some(&typed.action),
        outcome: some(&typed.outcome),
        since,
        until,
        ..CallFilter::default()
    };
    match pages.console.operations().calls(&s.caller, &filter).await {
        Ok(calls) => {
            let page = ListPage {
                csrf: &s.csrf,
                page: "calls",
                filter: typed,
                rows: calls.iter().map(Row::of).collect(),
            };
            html(StatusCode::OK, page.render())
        }
        Err(e) => failed(&s, "calls", &e),
    }
}

async fn timeline(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let s = match signed_in(&pages, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    match pages
        .console
        .operations()
        .call_timeline(&s.caller, &id)
        .await
    {
        Ok(ops) => {
            let first = ops.first();
            let mut steps: Vec<Step> = ops.iter().map(Step::of).collect();
            let instance = match first.and_then(|o| o.connection_id.as_deref()) {
                Some(c) => pages
                    .console
                    .connections()
                    .show(&s.caller, c)
                    .await
                    .ok()
                    .and_then(|v| v["instance_url"].as_str().map(str::to_owned)),
                None => None,
            };
            for (step, op) in steps.iter_mut().zip(&ops) {
                if let Some(reference) = queued_reference(&op.result) {
                    step.write = Some(queued(&pages, &s, reference, &mut step.records).await);
                }
                for r in &mut step.records {
                    if let Some(base) = &instance {
                        r.url = format!("{}/{}", base.trim_end_matches('/'), r.id);
                    }
                }
            }
            let page = TimelinePage {
                csrf: &s.csrf,
                page: "calls",
                call_id: &id,
                caller_phone: first
                    .and_then(|o| o.caller_phone.clone())
                    .unwrap_or_default(),
                agent: first.and_then(|o| o.agent.clone()).unwrap_or_default(),
                connection_id: first
                    .and_then(|o| o.connection_id.clone())
                    .unwrap_or_default(),
                steps,
            };
            html(StatusCode::OK, page.render())
        }
        Err(e) => failed(&s, "calls", &e),
    }
}

/// Where the queued write `reference` is now; the record it wrote joins `records`.
async fn queued(
    pages: &Pages,
    s: &callforce_app::console::Session,
    reference: String,
    records: &mut Vec<Record>,
) -> Queued {
    let Ok(job) = pages
        .console
        .admin()
        .job(s.caller.workspace, &reference)
        .await
    else {
        return Queued {
            reference,
            status: "unknown".to_owned(),
            says: "no longer in the queue".to_owned(),
        };
    };
    let status = job.status.as_str().to_owned();
    let says = match job.status {
        JobStatus::Queued if job.attempts == 0 => "waiting to be sent".to_owned(),
        JobStatus::Queued => format!(
            "waiting to be tried again after {} failed attempt(s): {}",
            job.attempts,
            job.last_error.as_deref().unwrap_or("")
        ),
        JobStatus::Leased => "being sent".to_owned(),
        JobStatus::Done => format!("written after {} attempt(s)", job.attempts.max(1)),
        JobStatus::Dead => format!(
            "failed for good (a dead letter): {}",
            job.last_error.as_deref().unwrap_or("")
        ),
    };
    if let Some(result) = job
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok())
    {
        let mut ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
        record_ids(&result, &mut ids);
        for id in ids.into_iter().skip(records.len()) {
            records.push(Record {
                id,
                url: String::new(),
            });
        }
    }
    Queued {
        reference,
        status,
        says,
    }
}

#[cfg(test)]
mod tests {
    use super::{is_record_id, latency, record_ids};

    #[test]
    fn record_ids_are_found_at_any_depth_once() {
        let v = serde_json::json!({
            "records": [{"Id": "0030D000000000QQAQ", "Account": {"Id": "0010D000000000FQAQ"}}],
            "id": "0030D000000000QQAQ",
            "reference": "job-3",
            "Name": "Sarah Johnson",
        });
        let mut ids = Vec::new();
        record_ids(&v, &mut ids);
        ids.sort();
        assert_eq!(ids, ["0010D000000000FQAQ", "0030D000000000QQAQ"]);
        assert!(!is_record_id("Invoice-question"));
        assert!(!is_record_id("abcdefghijklmno"));
        assert!(is_record_id("5000D000000001f"));
    }

    #[test]
    fn latencies_read_in_their_unit() {
        for (us, want) in [
            (0, "0 µs"),
            (999, "999 µs"),
            (1_500, "1.5 ms"),
            (250_000, "250.0 ms"),
            (2_340_000, "2.34 s"),
        ] {
            assert_eq!(latency(us), want);
        }
    }
}
