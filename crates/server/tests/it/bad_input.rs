//! Bad input and bugs at the front doors, over real sockets: a template a model writes cannot
//! panic a handler, input past a limit is a 422 that names the limit (never a 503 "Salesforce
//! could not be reached", never a write acknowledged and queued), and a handler that panics
//! answers (REST: 500 with the request id; MCP: a JSON-RPC error) while the service goes on.

use std::net::SocketAddr;
use std::time::Duration;

use rmcp::ErrorData;
use rmcp::model::{CallToolRequestParams, CallToolResponse, ServerCapabilities, ServerConfig};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};

use callforce::serve::{ServeConfig, Started, start};

/// A request that gets no answer fails the test instead of hanging it.
const NO_ANSWER: Duration = Duration::from_secs(20);

async fn service() -> (Started, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().to_owned());
    config.api_key = Some("k".into());
    (start(config).await.expect("starts"), dir)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(NO_ANSWER)
        .build()
        .expect("client")
}

/// POSTs `body` to `base` + `path` with the key; the status and the JSON answer.
async fn post(http: &reqwest::Client, base: &str, path: &str, body: Value) -> (u16, Value) {
    let r = http
        .post(format!("{base}{path}"))
        .bearer_auth("k")
        .header("accept", "application/json, text/event-stream")
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: no answer: {e}"));
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn jobs(http: &reqwest::Client, base: &str) -> Vec<Value> {
    let r = http
        .get(format!("{base}/v1/jobs"))
        .bearer_auth("k")
        .send()
        .await
        .expect("jobs");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    v["jobs"].as_array().cloned().unwrap_or_default()
}

/// The overflow of the issue: `i64::MIN / -1` reached through `caller_phone`.
const OVERFLOW: &str = "{{ caller_phone | minus: 15551234567 | minus: 9223372036854775807 | minus: 1 | divided_by: -1 }}";

#[tokio::test]
async fn an_overflowing_template_argument_is_a_template_error_over_rest_and_mcp() {
    let (started, _dir) = service().await;
    let base = format!("http://{}", started.addr);
    let http = client();
    let (status, call) = post(
        &http,
        &base,
        "/v1/calls",
        json!({"caller_phone": "+15551234567"}),
    )
    .await;
    assert_eq!(status, 201, "{call}");
    let id = call["call_id"].as_str().expect("call id").to_owned();
    let (status, v) = post(
        &http,
        &base,
        &format!("/v1/calls/{id}/actions/search_contact"),
        json!({"arguments": {"search_term": OVERFLOW}}),
    )
    .await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["code"], "template", "{v}");
    let says = v["error"]["message"].as_str().unwrap_or_default();
    assert!(says.contains("divided_by"), "{v}");

    // The same argument over MCP, in the same call: a tool error the model reads.
    let r = http
        .post(format!("{base}/mcp"))
        .bearer_auth("k")
        .header("accept", "application/json, text/event-stream")
        .header("x-call-id", &id)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "search_contact", "arguments": {"search_term": OVERFLOW}}}))
        .send()
        .await
        .expect("the MCP request is answered");
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["result"]["isError"], true, "{v}");
    assert!(v.to_string().contains("divided_by"), "{v}");
}

#[tokio::test]
async fn input_past_a_limit_is_a_422_naming_the_limit_and_never_queued() {
    let (started, _dir) = service().await;
    let base = format!("http://{}", started.addr);
    let http = client();
    let (_, call) = post(&http, &base, "/v1/calls", json!({})).await;
    let id = call["call_id"].as_str().expect("call id").to_owned();
    let action = |name: &str| format!("/v1/calls/{id}/actions/{name}");
    // (action, arguments, the field named, a text of the message)
    let cases = [
        (
            "search_contact",
            json!({"search_term": "a".repeat(20_000)}),
            "search_term",
            "255",
        ),
        (
            // log_call is non-blocking: before, it was acknowledged as queued, then dead.
            "log_call",
            json!({"Subject": "s".repeat(300)}),
            "Subject",
            "at most 255",
        ),
        (
            "custom_api_call",
            json!({"method": "POST", "path": "/sobjects/Task", "headers": {"X-A": "a\r\nb"},
                   "body": {"Subject": "header"}}),
            "headers",
            "printable ASCII",
        ),
        (
            "custom_api_call",
            json!({"method": "GET", "path": "/limits", "headers": {"X-A": "a\u{0}b"}}),
            "headers",
            "printable ASCII",
        ),
        (
            "custom_api_call",
            json!({"method": "GET", "path": "/limits", "headers": {"": "a"}}),
            "headers",
            "not a header name",
        ),
        (
            "custom_api_call",
            json!({"method": "GET", "path": "/services/data/v59.0/%2e%2e/%2e%2e/oauth2/userinfo"}),
            "path",
            "/services/apexrest/",
        ),
    ];
    for (name, args, field, says) in cases {
        let (status, v) = post(&http, &base, &action(name), json!({"arguments": args})).await;
        assert_eq!(status, 422, "{name}: {v}");
        assert_eq!(v["error"]["code"], "invalid_argument", "{name}: {v}");
        assert_eq!(v["error"]["field"], field, "{name}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{name}: {v}");
    }
    assert_eq!(
        jobs(&http, &base).await,
        Vec::<Value>::new(),
        "nothing queued"
    );
}

/// A handler whose every tool call panics, standing in for a bug.
#[derive(Clone)]
struct Buggy;

impl rmcp::ServerHandler for Buggy {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _cx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // An arithmetic bug: a division by zero (no tool is named with no arguments) panics.
        let n: i64 = request.name.len().try_into().unwrap_or_default();
        let given: i64 = request
            .arguments
            .map(|a| a.len().try_into().unwrap_or_default())
            .unwrap_or_default();
        Err(ErrorData::internal_error(format!("{}", n / given), None))
    }
}

async fn boom() -> &'static str {
    let v: Vec<u8> = Vec::new();
    // An index bug: out of bounds panics.
    let i = usize::from(v.is_empty());
    if v[i] == 0 { "zero" } else { "other" }
}

#[tokio::test]
async fn a_handler_that_panics_answers_with_its_request_id_and_the_service_goes_on() {
    let (started, _dir) = service().await;
    let mcp = StreamableHttpService::new(
        || Ok(callforce_mcp::Guarded(Buggy)),
        std::sync::Arc::new(NeverSessionManager::default()),
        StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_sse_keep_alive(None),
    );
    // The service's own layer around a route and an MCP server with bugs.
    let app = axum::Router::new()
        .route("/boom", axum::routing::get(boom))
        .route("/fine", axum::routing::get(|| async { "fine" }))
        .route_service("/mcp", mcp);
    let app = callforce_rest::layer::layer(app, started.api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let base = format!("http://{addr}");
    let http = client();

    for _ in 0..2 {
        let r = http
            .get(format!("{base}/boom"))
            .send()
            .await
            .expect("a panicking REST handler still answers");
        assert_eq!(r.status(), 500);
        let header = r
            .headers()
            .get(callforce_rest::layer::REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .expect("request id header");
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["error"]["code"], "internal", "{v}");
        assert_eq!(v["error"]["request_id"], header.as_str(), "{v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&header), "{v}");
        assert!(
            !message.contains("index out of bounds"),
            "no internals: {v}"
        );
    }
    let r = http.get(format!("{base}/fine")).send().await.expect("fine");
    assert_eq!(r.status(), 200);

    let (status, v) = post(
        &http,
        &base,
        "/mcp",
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "anything", "arguments": {}}}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["id"], 7, "{v}");
    assert_eq!(v["error"]["code"], -32603, "a JSON-RPC internal error: {v}");
    let request_id = v["error"]["data"]["request_id"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(request_id.len(), 16, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(request_id)),
        "{v}"
    );
    server.abort();
}

/// Property tests of the front doors over a real socket: generated bodies and messages, each
/// sent to the running service (no shrinking: a failure prints the input that failed). Bounded
/// by the number of cases (fewer when `CI` is set), not by time.
mod generated {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};

    use super::*;

    fn cases() -> u32 {
        if std::env::var_os("CI").is_some() {
            48
        } else {
            128
        }
    }

    /// Samples `n` values of `strategy`.
    fn sample<S: Strategy>(strategy: S, n: u32) -> Vec<S::Value> {
        let mut runner = TestRunner::new(Config::default());
        (0..n)
            .map(|_| strategy.new_tree(&mut runner).expect("a value").current())
            .collect()
    }

    /// Text a model might send: templates (some overflowing), hostile characters, long runs.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\PC{0,20}",
            "[ -~\\r\\n\\t\\u{0}]{0,20}",
            Just(OVERFLOW.to_owned()),
            Just("{{ caller_phone | times: 9223372036854775807 }}".to_owned()),
            Just("{{ search_contact.Id }}".to_owned()),
            Just("{{ x | slice: -9223372036854775808, 9223372036854775807 }}".to_owned()),
            Just("{{".to_owned()),
            Just("' OR Name != '".to_owned()),
            Just("/services/data/v59.0/%2e%2e/%2e%2e/oauth2/userinfo".to_owned()),
            Just("a".repeat(20_000)),
            Just("2026-02-30T25:61:00Z".to_owned()),
            Just("001000000000000AAA".to_owned()),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            text().prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map(key(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Argument names: the catalog's and others.
    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("search_term".to_owned()),
            Just("record_id".to_owned()),
            Just("Subject".to_owned()),
            Just("LastName".to_owned()),
            Just("method".to_owned()),
            Just("path".to_owned()),
            Just("headers".to_owned()),
            Just("body".to_owned()),
            Just("soql".to_owned()),
            Just("sobject".to_owned()),
            Just("fields".to_owned()),
            Just("records".to_owned()),
            Just("confirmation_token".to_owned()),
            "[a-zA-Z_]{1,8}",
        ]
    }

    fn action() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("search_contact".to_owned()),
            Just("global_search".to_owned()),
            Just("run_query".to_owned()),
            Just("custom_api_call".to_owned()),
            Just("create_contact".to_owned()),
            Just("update_record".to_owned()),
            Just("bulk_create".to_owned()),
            Just("log_call".to_owned()),
            Just("create_note".to_owned()),
            Just("identify_customer".to_owned()),
            Just("create_contact_with_phone".to_owned()),
            "[a-z_]{1,12}",
        ]
    }

    /// A body: usually `{"arguments": {...}}`, sometimes any JSON, sometimes not JSON.
    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            6 => proptest::collection::btree_map(key(), json_value(), 0..5).prop_map(|m| {
                json!({"arguments": Value::Object(m.into_iter().collect())})
                    .to_string()
                    .into_bytes()
            }),
            2 => json_value().prop_map(|v| v.to_string().into_bytes()),
            1 => proptest::collection::vec(any::<u8>(), 0..64),
        ]
    }

    #[tokio::test]
    async fn generated_rest_bodies_never_get_a_5xx() {
        let (started, _dir) = service().await;
        let base = format!("http://{}", started.addr);
        let http = client();
        let (_, call) = post(
            &http,
            &base,
            "/v1/calls",
            json!({"caller_phone": "+15551234567"}),
        )
        .await;
        let id = call["call_id"].as_str().expect("call id").to_owned();
        for (name, body) in sample((action(), body()), cases()) {
            let shown = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
            let r = http
                .post(format!("{base}/v1/calls/{id}/actions/{name}"))
                .bearer_auth("k")
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name} {shown}: no answer: {e}"));
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap_or(Value::Null);
            assert!(status < 500, "{name} {shown}: {status} {v}");
            if status >= 400 {
                assert!(
                    v["error"]["message"]
                        .as_str()
                        .is_some_and(|m| !m.is_empty()),
                    "{name} {shown}: a message says what to fix: {v}"
                );
            }
        }
    }

    /// A JSON-RPC message: a known method or not, any params, any id; or not JSON-RPC at all.
    fn message() -> impl Strategy<Value = Value> {
        let method = prop_oneof![
            Just("tools/call".to_owned()),
            Just("tools/list".to_owned()),
            Just("resources/list".to_owned()),
            Just("resources/read".to_owned()),
            Just("prompts/get".to_owned()),
            Just("initialize".to_owned()),
            "[a-z/]{1,12}",
        ];
        let call = (action(), proptest::collection::btree_map(key(), json_value(), 0..4)).prop_map(
            |(name, args)| json!({"name": name, "arguments": Value::Object(args.into_iter().collect())}),
        );
        let params = prop_oneof![3 => call, 1 => json_value()];
        let id = prop_oneof![
            any::<i32>().prop_map(Value::from),
            "[a-z0-9]{1,6}".prop_map(Value::from),
        ];
        prop_oneof![
            6 => (method, params, id).prop_map(|(m, p, id)| json!({"jsonrpc": "2.0", "id": id, "method": m, "params": p})),
            1 => json_value(),
        ]
    }

    #[tokio::test]
    async fn generated_mcp_messages_are_always_answered_without_a_5xx() {
        let (started, _dir) = service().await;
        let base = format!("http://{}", started.addr);
        let http = client();
        for m in sample(message(), cases()) {
            let shown: String = m.to_string().chars().take(300).collect();
            let r = http
                .post(format!("{base}/mcp"))
                .bearer_auth("k")
                .header("accept", "application/json, text/event-stream")
                .header("x-call-id", "call-generated")
                .json(&m)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{shown}: no answer: {e}"));
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            assert!(status < 500, "{shown}: {status} {text}");
            // A request (it has an id and a method) is answered with its result or an error.
            if status == 200 && m.get("id").is_some() && m.get("method").is_some() {
                let v: Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{shown}: not JSON ({e}): {text}"));
                assert!(
                    v.get("result").is_some() || v.get("error").is_some(),
                    "{shown}: {v}"
                );
            }
        }
    }
}
