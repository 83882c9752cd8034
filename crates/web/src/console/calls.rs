//! The calls pages: the recent calls (from the operations log) and one call's timeline, every
//! tool call in order with its arguments, its result or error, its outcome and latency. The
//! reads are the core's ([`callforce_app::operations::Operations`]).
//!
//! ```text
//! GET /calls?caller_phone=&agent=&action=&outcome=   the recent calls, filtered
//! GET /calls/{id}                                     the call's timeline
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use callforce_store::{CallFilter, CallSummary, Operation};

use super::{Pages, failed, html, signed_in, some, text, time};

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
    arguments: String,
    result: String,
}

impl Step {
    fn of(o: &Operation) -> Self {
        Self {
            at: time(o.started_at),
            action: o.action.clone(),
            failed: callforce_store::operations::is_error(&o.outcome),
            outcome: o.outcome.clone(),
            latency: latency(o.latency_us),
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
    };
    let filter = CallFilter {
        caller_phone: some(&typed.caller_phone),
        agent: some(&typed.agent),
        action: some(&typed.action),
        outcome: some(&typed.outcome),
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
                steps: ops.iter().map(Step::of).collect(),
            };
            html(StatusCode::OK, page.render())
        }
        Err(e) => failed(&s, "calls", &e),
    }
}

#[cfg(test)]
mod tests {
    use super::latency;

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
