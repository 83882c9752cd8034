//! Traces over OTLP: `callforce serve` run as a user runs it, with the standard `OTEL_*`
//! variables pointing at a small OTLP/HTTP receiver on loopback, which decodes what it is sent
//! (protobuf) and keeps it for the assertions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use parking_lot::Mutex;
use prost::Message as _;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt as _;

/// One span as received, flattened.
#[derive(Debug, Clone)]
struct Span {
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    service: String,
    attributes: HashMap<String, String>,
}

impl Span {
    fn attr(&self, key: &str) -> &str {
        self.attributes.get(key).map_or("", String::as_str)
    }
}

/// An OTLP/HTTP receiver on `127.0.0.1:0`: every span it was sent.
#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<Span>>>,
}

fn text(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

impl Receiver {
    async fn start() -> (Self, String) {
        let r = Self::default();
        let kept = r.clone();
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |body: axum::body::Bytes| {
                let kept = kept.clone();
                async move {
                    let req = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                    kept.take(req);
                    axum::http::StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, format!("http://{addr}"))
    }

    fn take(&self, req: ExportTraceServiceRequest) {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let mut spans = self.spans.lock();
        for rs in req.resource_spans {
            let service = rs
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .map(|a| text(a.value.as_ref()))
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for s in ss.spans {
                    spans.push(Span {
                        trace_id: hex(&s.trace_id),
                        span_id: hex(&s.span_id),
                        parent: hex(&s.parent_span_id),
                        name: s.name.clone(),
                        service: service.clone(),
                        attributes: s
                            .attributes
                            .iter()
                            .map(|a| (a.key.clone(), text(a.value.as_ref())))
                            .collect(),
                    });
                }
            }
        }
    }

    fn spans(&self) -> Vec<Span> {
        self.spans.lock().clone()
    }

    /// Waits (bounded) until `done` holds for the spans received.
    async fn until(&self, what: &str, done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        for _ in 0..200 {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{what}: not received in 10 s; got {:#?}", self.spans());
    }
}

/// `callforce serve` as a child process with `env`; its address and everything it printed.
struct Served {
    child: tokio::process::Child,
    base: String,
    printed: String,
}

async fn serve(dir: &std::path::Path, env: &[(&str, &str)]) -> Served {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_callforce"));
    cmd.args(["serve", "--port", "0", "--data-dir"])
        .arg(dir)
        .env("CALLFORCE_LOG", "warn")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_SERVICE_NAME")
        .env_remove("OTEL_RESOURCE_ATTRIBUTES")
        .env_remove("OTEL_SDK_DISABLED")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run callforce serve");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut printed = String::new();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let line = lines
                .next_line()
                .await
                .expect("read")
                .unwrap_or_else(|| panic!("serve ended before listening: {printed}"));
            printed.push_str(&line);
            printed.push('\n');
            if let Some(a) = line.strip_prefix("callforce listening on ") {
                break a.trim().to_owned();
            }
        }
    })
    .await
    .expect("listening in 30 s");
    // The rest of what it prints (the embedded org's login) is read on.
    tokio::time::sleep(Duration::from_millis(100)).await;
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_millis(100), lines.next_line()).await
    {
        printed.push_str(&line);
        printed.push('\n');
    }
    Served {
        child,
        base,
        printed,
    }
}

impl Served {
    /// Stops it as an operator does (SIGTERM) and waits for its exit.
    async fn stop(mut self) {
        let pid = self.child.id().expect("running").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("stops in 30 s")
            .expect("wait");
        assert!(status.success(), "{status}");
    }
}

const KEY: &str = "otel-test-key-5d1c0e7a9b";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

fn traceparent(parent: &str) -> String {
    format!("00-{TRACE_ID}-{parent}-01")
}

/// The example call (search the caller by `{{caller_phone}}`, open a case, log the call, book
/// the callback) sent by an agent runtime with its `traceparent`: one trace, continued from the
/// runtime's span, holding a span per request (REST or MCP), its tool call under it, the Salesforce round
/// trips under those, and the queued log_call's attempt in the same trace; no attribute holds
/// the API key, a token or a value the call sent or read.
#[tokio::test]
async fn the_example_call_is_one_trace_continued_from_the_agent_runtime() {
    let (receiver, endpoint) = Receiver::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let served = serve(
        dir.path(),
        &[
            ("CALLFORCE_API_KEY", KEY),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let runtime_span = "00f067aa0ba902b7";
    let post = |path: &str, body: Value| {
        http.post(format!("{}{path}", served.base))
            .bearer_auth(KEY)
            .header("traceparent", traceparent(runtime_span))
            .json(&body)
            .send()
    };
    let phone = "+15551234567";
    let call: Value = post("/v1/calls", json!({"caller_phone": phone, "agent": "aria"}))
        .await
        .expect("start")
        .json()
        .await
        .expect("json");
    let id = call["call_id"].as_str().expect("call id").to_owned();
    let mut answers = vec![];
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).date_naive();
    for (action, arguments) in [
        ("search_contact", json!({"search_term": "{{caller_phone}}"})),
        (
            "create_case",
            json!({"Subject": "Invoice amount discrepancy", "ContactId": "{{search_contact.Id}}", "Priority": "High", "Origin": "Phone"}),
        ),
        (
            "log_call",
            json!({"Subject": "Inbound call - invoice discrepancy", "WhoId": "{{search_contact.Id}}", "WhatId": "{{create_case.Id}}", "CallType": "Inbound", "CallDisposition": "Connected"}),
        ),
        (
            "schedule_event",
            json!({"Subject": "Callback - invoice follow-up", "StartDateTime": format!("{tomorrow}T10:00:00Z"), "EndDateTime": format!("{tomorrow}T10:30:00Z"), "WhoId": "{{search_contact.Id}}", "WhatId": "{{create_case.Id}}", "Location": "Phone"}),
        ),
    ] {
        let resp = post(
            &format!("/v1/calls/{id}/actions/{action}"),
            json!({ "arguments": arguments }),
        )
        .await
        .expect(action);
        assert_eq!(resp.status(), 200, "{action}");
        let body: Value = resp.json().await.expect("json");
        answers.push(body);
    }
    assert_eq!(answers[2]["result"]["queued"], true, "{}", answers[2]);
    // The same search as an MCP tool call, from another span of the runtime.
    let mcp_span = "b7ad6b7169203331";
    let over_mcp: Value = http
        .post(format!("{}/mcp", served.base))
        .bearer_auth(KEY)
        .header("accept", "application/json, text/event-stream")
        .header("x-call-id", "call-otel-mcp")
        .header("traceparent", traceparent(mcp_span))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "search_contact", "arguments": {"search_term": phone}}}))
        .send()
        .await
        .expect("mcp")
        .json()
        .await
        .expect("json");
    assert_eq!(over_mcp["result"]["isError"], false, "{over_mcp}");
    let case_id = answers[1]["result"]["id"]
        .as_str()
        .or(answers[1]["result"]["Id"].as_str())
        .unwrap_or_default()
        .to_owned();
    let contact_id = answers[0]["result"]["records"][0]["Id"]
        .as_str()
        .expect("contact id")
        .to_owned();

    // The queued log_call lands later: its attempt's span, with its round trip under it.
    let spans = receiver
        .until("the log_call attempt and its round trip", |spans| {
            spans.iter().any(|a| {
                a.name == "write_attempt"
                    && a.attr("action") == "log_call"
                    && spans.iter().any(|s| s.parent == a.span_id)
            }) && spans.iter().filter(|s| s.name == "request").count() >= 6
        })
        .await;
    let printed = served.printed.clone();
    served.stop().await;

    let in_trace: Vec<&Span> = spans.iter().filter(|s| s.trace_id == TRACE_ID).collect();
    let by_id: HashMap<&str, &Span> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    for s in &spans {
        assert_eq!(s.service, "callforce", "{s:?}");
    }
    // Every span of the call is in the runtime's trace; the only others are the service's
    // own background work (no request, no call).
    for s in &spans {
        if s.trace_id != TRACE_ID {
            assert!(
                s.name.starts_with("GET ") && s.parent.is_empty() && s.attr("call_id").is_empty(),
                "a span outside the call's trace: {s:?}"
            );
        }
    }
    // The requests continue the runtime's span.
    let requests: Vec<&&Span> = in_trace.iter().filter(|s| s.name == "request").collect();
    assert_eq!(requests.len(), 6, "{requests:#?}");
    for r in &requests {
        let from = if r.attr("path") == "/mcp" {
            mcp_span
        } else {
            runtime_span
        };
        assert_eq!(r.parent, from, "{r:?}");
        assert!(
            r.attr("http.response.status_code").starts_with("20"),
            "{r:?}"
        );
    }
    // A tool call under each action's request, named by its action, with the call and agent.
    for action in [
        "search_contact",
        "create_case",
        "log_call",
        "schedule_event",
    ] {
        let tools: Vec<&&Span> = in_trace
            .iter()
            .filter(|s| s.name == "tool_call" && s.attr("action") == action)
            .filter(|s| s.attr("call_id") == id)
            .collect();
        assert_eq!(tools.len(), 1, "{action}: {spans:#?}");
        let t = tools[0];
        let parent = by_id.get(t.parent.as_str()).expect("its parent was sent");
        assert_eq!(parent.name, "request", "{t:?}");
        assert_eq!(parent.attr("action"), action, "{parent:?}");
        assert_eq!(t.attr("action"), action);
        assert_eq!(t.attr("call_id"), id);
        assert_eq!(t.attr("agent"), "aria");
        assert_eq!(t.attr("outcome"), "ok", "{t:?}");
    }
    // Over MCP too (rmcp runs the tool on a task of its own).
    let mcp_tool = in_trace
        .iter()
        .find(|s| s.name == "tool_call" && s.attr("call_id") == "call-otel-mcp")
        .expect("the MCP tool call");
    let parent = by_id
        .get(mcp_tool.parent.as_str())
        .expect("its parent was sent");
    assert_eq!(parent.attr("path"), "/mcp", "{mcp_tool:?} under {parent:?}");
    assert_eq!(mcp_tool.attr("action"), "search_contact");
    // Round trips: under a tool call or a write attempt, named by method and path template.
    let trips: Vec<&&Span> = in_trace
        .iter()
        .filter(|s| s.attributes.contains_key("url.template"))
        .collect();
    for t in &trips {
        let parent = by_id.get(t.parent.as_str()).expect("its parent was sent");
        assert!(
            ["tool_call", "write_attempt", "caller_lookup"].contains(&parent.name.as_str()),
            "{t:?} under {parent:?}"
        );
        assert_eq!(
            t.name,
            format!(
                "{} {}",
                t.attr("http.request.method"),
                t.attr("url.template")
            )
        );
        assert!(
            t.attr("url.template").starts_with("/services/data/v"),
            "{t:?}"
        );
        // The write's key travels in the upsert's path: a value, so templated away.
        assert!(!t.attr("url.template").contains("cf-"), "{t:?}");
        assert!(!t.attr("http.response.status_code").is_empty(), "{t:?}");
    }
    let under = |action: &str| {
        let t = in_trace
            .iter()
            .find(|s| s.name == "tool_call" && s.attr("action") == action)
            .expect("the tool call");
        trips
            .iter()
            .filter(|s| s.parent == t.span_id)
            .map(|s| s.name.clone())
            .collect::<Vec<_>>()
    };
    // The search for the caller's phone is answered from the lookup made at the call's start.
    assert!(
        under("search_contact").is_empty(),
        "{:?}",
        under("search_contact")
    );
    let lookup = in_trace
        .iter()
        .find(|s| s.name == "caller_lookup")
        .expect("the caller lookup");
    assert_eq!(lookup.attr("call_id"), id);
    assert!(
        trips.iter().any(|s| s.parent == lookup.span_id),
        "the lookup's round trips are under it"
    );
    // The create and the read of its CaseNumber: one `/composite` request.
    assert_eq!(
        under("create_case")
            .iter()
            .filter(|n| !n.starts_with("GET "))
            .map(|n| n.ends_with("/composite"))
            .collect::<Vec<_>>(),
        [true],
        "{:?}",
        under("create_case")
    );
    // The queued write's attempt: in the call's trace, under the tool call that queued it.
    let attempt = in_trace
        .iter()
        .find(|s| s.name == "write_attempt" && s.attr("action") == "log_call")
        .expect("the attempt");
    let queued_by = by_id.get(attempt.parent.as_str()).expect("its parent");
    assert_eq!(queued_by.name, "tool_call", "{attempt:?}");
    assert_eq!(queued_by.attr("action"), "log_call", "{attempt:?}");
    assert_eq!(attempt.attr("call_id"), id);
    assert_eq!(attempt.attr("write.outcome"), "write.done", "{attempt:?}");
    assert!(
        trips.iter().any(|s| s.parent == attempt.span_id
            && !s.name.starts_with("GET ")
            && s.name.contains("/sobjects/Task")),
        "{trips:#?}"
    );

    // Nothing secret and no value: not the API key, not a token (`<org id>!...`), not the
    // embedded org's password or secret, not what the call sent or read.
    let mut never = vec![
        KEY.to_owned(),
        phone.to_owned(),
        "5551234567".to_owned(),
        "Invoice amount discrepancy".to_owned(),
        "Inbound call".to_owned(),
        "Callback".to_owned(),
        "Johnson".to_owned(),
        "Sarah".to_owned(),
        "Acme".to_owned(),
        "Bearer".to_owned(),
        contact_id.clone(),
        contact_id[..15].to_owned(),
    ];
    if !case_id.is_empty() {
        never.push(case_id.clone());
    }
    // The embedded org's login, as printed: `login <user> / <password> (...)`.
    let password = printed
        .lines()
        .find_map(|l| l.trim().strip_prefix("login "))
        .and_then(|l| l.split(" / ").nth(1))
        .and_then(|l| l.split_whitespace().next())
        .expect("the embedded org's login is printed");
    never.push(password.to_owned());
    for s in &spans {
        for (k, v) in &s.attributes {
            assert!(!v.contains('!'), "a token-like value in {k} of {s:?}");
            for n in &never {
                assert!(!v.contains(n.as_str()), "{n:?} in {k} of {s:?}");
            }
        }
    }
}

/// The spans not sent yet when the service stops are sent before it exits, named as
/// `OTEL_SERVICE_NAME` says.
#[tokio::test]
async fn traces_not_sent_yet_are_sent_when_the_service_stops() {
    let (receiver, endpoint) = Receiver::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let served = serve(
        dir.path(),
        &[
            ("CALLFORCE_API_KEY", KEY),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SERVICE_NAME", "callforce-eu"),
            // Ten minutes: nothing is sent on the schedule during the test.
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        ],
    )
    .await;
    let tools = reqwest::Client::new()
        .get(format!("{}/v1/tools", served.base))
        .bearer_auth(KEY)
        .header("traceparent", traceparent("00f067aa0ba902b7"))
        .send()
        .await
        .expect("tools");
    assert_eq!(tools.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.spans().is_empty(), "{:#?}", receiver.spans());
    served.stop().await;
    let spans = receiver.spans();
    let request = spans
        .iter()
        .find(|s| s.name == "request" && s.attr("path") == "/v1/tools")
        .unwrap_or_else(|| panic!("the request's span is sent at the stop: {spans:#?}"));
    assert_eq!(request.trace_id, TRACE_ID);
    assert_eq!(request.service, "callforce-eu");
}

/// `OTEL_SDK_DISABLED=true` sends nothing, endpoint or not.
#[tokio::test]
async fn opting_out_sends_no_trace() {
    let (receiver, endpoint) = Receiver::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let served = serve(
        dir.path(),
        &[
            ("CALLFORCE_API_KEY", KEY),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "10"),
            ("OTEL_SDK_DISABLED", "true"),
        ],
    )
    .await;
    let tools = reqwest::Client::new()
        .get(format!("{}/v1/tools", served.base))
        .bearer_auth(KEY)
        .header("traceparent", traceparent("00f067aa0ba902b7"))
        .send()
        .await
        .expect("tools");
    assert_eq!(tools.status(), 200);
    served.stop().await;
    assert!(receiver.spans().is_empty(), "{:#?}", receiver.spans());
}
