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

use crate::serve::{ServeConfig, Started, start};

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
        || Ok(crate::mcp::Guarded(Buggy)),
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
    let app = crate::service::layer(app, started.api.clone());
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
            .get(crate::service::REQUEST_ID_HEADER)
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
