//! MCP: the agent API for MCP-speaking agents, over streamable HTTP at `/mcp` (and over stdio
//! through [`crate::stdio`], which bridges to it).
//!
//! The server is **stateless** (rmcp's stateless streamable HTTP with JSON responses): every
//! request stands alone, so any instance behind a load balancer can answer it. The call a tool
//! runs in is named by each request: the `call_id` / `caller_phone` / `agent` arguments, the
//! request's `_meta` (`callforce/call_id`...), or the `X-Call-Id` / `X-Caller-Phone` / `X-Agent`
//! headers, in that order. Calls are the REST API's call sessions ([`Api::call_or_start`]), so a
//! `tools/call` chains with earlier results exactly like `POST /v1/calls/{id}/actions/{name}`.
//!
//! The API key is checked by the core, as for `/v1` ([`callforce_app::App::authenticate`]); the
//! handler reads the [`Caller`] from the HTTP request's extensions. `?tools=compact` gives the
//! compact tool set ([`COMPACT_TOOLS`]) and `?agent=NAME` an agent's tools.

pub mod stdio;

use std::sync::Arc;

use axum::http::request::Parts;
use callforce_actions::{Action, ActionError, CallSession, CallVars, Effect, Op, Who};
use rmcp::ErrorData;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, Implementation, JsonObject, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    Prompt, PromptArgument, PromptMessage, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Resource, ResourceContents, ResourceTemplate, Role, ServerCapabilities,
    ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};

use callforce_app::{App as Api, Caller};

/// Where `/mcp` may be reached from: the DNS-rebinding protection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpConfig {
    /// `Host` values accepted (`localhost`, `mcp.example.com`, `mcp.example.com:8443`); a request
    /// for any other host is refused with 403. Loopback names only by default.
    pub allowed_hosts: Vec<String>,
    /// Browser `Origin` values accepted (`https://app.example.com`, `http://localhost:*`); a
    /// request with any other `Origin` is refused. Requests without `Origin` (non-browser
    /// clients) pass. Loopback origins only by default.
    pub allowed_origins: Vec<String>,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: vec![
                "http://localhost:*".into(),
                "http://127.0.0.1:*".into(),
                "http://[::1]:*".into(),
            ],
        }
    }
}

impl McpConfig {
    /// The defaults plus `hosts` and `origins` (from flags or the environment).
    pub fn with_extra(hosts: &[String], origins: &[String]) -> Self {
        let mut c = Self::default();
        c.allowed_hosts.extend(hosts.iter().cloned());
        c.allowed_origins.extend(origins.iter().cloned());
        c
    }
}

/// The `/mcp` route, behind the API key check.
pub fn router(api: Arc<Api>, config: &McpConfig) -> axum::Router {
    let http = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_allowed_hosts(config.allowed_hosts.clone())
        .with_allowed_origins(config.allowed_origins.clone())
        .enforce_origin_validation();
    let handler_api = api.clone();
    let in_flight = Arc::new(InFlight::default());
    let handler_in_flight = in_flight.clone();
    let service = StreamableHttpService::new(
        move || {
            Ok(Guarded(Handler {
                api: handler_api.clone(),
                in_flight: handler_in_flight.clone(),
            }))
        },
        Arc::new(NeverSessionManager::default()),
        http,
    );
    axum::Router::new()
        .route_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(
            in_flight,
            route_cancellations,
        ))
        .layer(axum::middleware::from_fn_with_state(api, require_key))
}

/// The most bytes of a request body `/mcp` reads (rmcp's own limit).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// The `tools/call` requests running in a call that a `notifications/cancelled` may stop, by
/// workspace, call id and JSON-RPC id.
///
/// NB: the stateless transport drops notifications (it has no session to find a request in),
/// so [`route_cancellations`] reads them before it does. A request is found only through the
/// call it runs in: two clients of a workspace may use the same JSON-RPC ids, never the same
/// call.
#[derive(Default)]
struct InFlight(
    parking_lot::Mutex<std::collections::HashMap<(i64, String, String), Arc<tokio::sync::Notify>>>,
);

/// A request registered in [`InFlight`], removed when dropped.
struct Registered {
    in_flight: Arc<InFlight>,
    key: (i64, String, String),
    cancelled: Arc<tokio::sync::Notify>,
}

impl InFlight {
    fn register(self: &Arc<Self>, workspace: i64, call: &str, id: &str) -> Registered {
        let key = (workspace, call.to_owned(), id.to_owned());
        let cancelled = Arc::new(tokio::sync::Notify::new());
        self.0.lock().insert(key.clone(), cancelled.clone());
        Registered {
            in_flight: self.clone(),
            key,
            cancelled,
        }
    }

    fn cancel(&self, workspace: i64, call: &str, id: &str) {
        let key = (workspace, call.to_owned(), id.to_owned());
        if let Some(n) = self.0.lock().get(&key) {
            // A permit, kept even when the request is not waiting yet.
            n.notify_one();
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let mut map = self.in_flight.0.lock();
        if map
            .get(&self.key)
            .is_some_and(|n| Arc::ptr_eq(n, &self.cancelled))
        {
            map.remove(&self.key);
        }
    }
}

/// Reads each POSTed message before the transport does: a `notifications/cancelled` naming a
/// request of a call (the call named by the `X-Call-Id` header or the notification's `_meta`
/// `callforce/call_id`) stops that request when it is a read (see [`Api::run_in_shared_call`]).
async fn route_cancellations(
    axum::extract::State(in_flight): axum::extract::State<Arc<InFlight>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if req.method() != axum::http::Method::POST {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is over 4 MiB or could not be read",
        )
            .into_response();
    };
    if let Ok(msg) = serde_json::from_slice::<Value>(&bytes)
        && msg["method"] == "notifications/cancelled"
        && let Some(caller) = parts.extensions.get::<Caller>()
    {
        let call = msg["params"]["_meta"]["callforce/call_id"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| header(&parts, "x-call-id"));
        let id = &msg["params"]["requestId"];
        if let Some(call) = call
            && !id.is_null()
        {
            in_flight.cancel(caller.workspace.0, &call, &id.to_string());
        }
    }
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

/// The API key check of `/mcp`: the core says whose the key is; the request carries that
/// [`Caller`] for the handlers. No valid key answers 401 with the core's message as JSON.
async fn require_key(
    axum::extract::State(api): axum::extract::State<Arc<Api>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let authorization = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match api.authenticate(authorization).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => (
            axum::http::StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": {"code": e.code, "message": e.message}})),
        )
            .into_response(),
    }
}

/// The panic guard of MCP: every request `H` handles runs inside [`callforce_app::panics::guard`],
/// so a bug answers a JSON-RPC internal error naming the request id (the HTTP request's, from
/// the span the REST front door's layer opens) and is logged once, instead of leaving the request
/// without an answer (rmcp runs handlers in a task of their own, which a panic would end).
/// It forwards every method `Handler` implements; the others keep rmcp's defaults.
#[derive(Clone)]
pub struct Guarded<H>(pub H);

/// The request id of an MCP request (a new one when the HTTP layer gave none).
fn request_id(cx: &RequestContext<RoleServer>) -> callforce_app::panics::RequestId {
    cx.extensions
        .get::<Parts>()
        .and_then(|p| p.extensions.get::<callforce_app::panics::RequestId>())
        .cloned()
        .unwrap_or_default()
}

impl<H: rmcp::ServerHandler> Guarded<H> {
    /// Runs `fut`, one request of MCP method `method`, answering a panic with an internal
    /// error.
    async fn run<T>(
        &self,
        method: &str,
        id: callforce_app::panics::RequestId,
        fut: impl std::future::Future<Output = Result<T, ErrorData>>,
    ) -> Result<T, ErrorData> {
        match callforce_app::panics::guard(fut).await {
            Ok(r) => r,
            Err(p) => {
                callforce_app::panics::log(&id, &format!("mcp {method}"), &p);
                Err(ErrorData::internal_error(
                    callforce_app::panics::message(&id),
                    Some(json!({ "request_id": id.0 })),
                ))
            }
        }
    }
}

impl<H: rmcp::ServerHandler + Clone> rmcp::ServerHandler for Guarded<H> {
    fn get_info(&self) -> ServerConfig {
        self.0.get_info()
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let id = request_id(&cx);
        self.run("tools/list", id, self.0.list_tools(request, cx))
            .await
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let id = request_id(&cx);
        self.run("tools/call", id, self.0.call_tool(request, cx))
            .await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let id = request_id(&cx);
        self.run("resources/list", id, self.0.list_resources(request, cx))
            .await
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let id = request_id(&cx);
        self.run(
            "resources/templates/list",
            id,
            self.0.list_resource_templates(request, cx),
        )
        .await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let id = request_id(&cx);
        self.run("resources/read", id, self.0.read_resource(request, cx))
            .await
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let id = request_id(&cx);
        self.run("prompts/list", id, self.0.list_prompts(request, cx))
            .await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let id = request_id(&cx);
        self.run("prompts/get", id, self.0.get_prompt(request, cx))
            .await
    }
}

/// The compact tool set, for clients that cap the number of tools: `search` (global search),
/// `query` (read-only SOQL), `write` (create or update any record) and `action` (any action of
/// the catalog by name).
pub const COMPACT_TOOLS: [&str; 4] = ["search", "query", "write", "action"];

/// One MCP request's view of the service.
#[derive(Clone)]
struct Handler {
    api: Arc<Api>,
    in_flight: Arc<InFlight>,
}

/// What a request says about who calls and what it wants to see.
struct RequestInfo<'a> {
    caller: Caller,
    parts: &'a Parts,
    compact: bool,
    agent: Option<String>,
    /// The connection named by `?connection=` or `X-Connection` (`None`: the default).
    connection: Option<String>,
}

fn query_param(parts: &Parts, name: &str) -> Option<String> {
    let q = parts.uri.query()?;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.into_owned())
}

fn header(parts: &Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

impl Handler {
    fn info<'a>(&self, cx: &'a RequestContext<RoleServer>) -> Result<RequestInfo<'a>, ErrorData> {
        let parts = cx
            .extensions
            .get::<Parts>()
            .ok_or_else(|| ErrorData::internal_error("no HTTP request", None))?;
        let caller = *parts
            .extensions
            .get::<Caller>()
            .ok_or_else(|| ErrorData::invalid_request("no API key", None))?;
        let compact = match query_param(parts, "tools").as_deref() {
            None | Some("full") => false,
            Some("compact") => true,
            Some(other) => {
                return Err(ErrorData::invalid_request(
                    format!("tools={other} is not a tool set; use tools=compact or tools=full"),
                    None,
                ));
            }
        };
        let agent = query_param(parts, "agent").or_else(|| header(parts, "x-agent"));
        let connection = query_param(parts, "connection").or_else(|| header(parts, "x-connection"));
        Ok(RequestInfo {
            caller,
            parts,
            compact,
            agent,
            connection,
        })
    }
}

/// The MCP tool of an action: its `/v1/tools` schema, a title and annotations.
pub fn mcp_tool(action: &Action) -> Tool {
    to_mcp(action.tool(), hints(action))
}

/// The MCP form of the workspace's `record_intent` tool: it writes (an intent may update fields
/// or create records), overwriting values, and only in the org.
fn intent_tool(t: callforce_actions::Tool) -> Tool {
    to_mcp(t, (false, true, false, false))
}

/// A function-calling tool as an MCP tool, titled from its name, with `hints` (readOnly,
/// destructive, idempotent, openWorld) as its annotations.
fn to_mcp(t: callforce_actions::Tool, hints: (bool, bool, bool, bool)) -> Tool {
    let schema = match t.parameters {
        Value::Object(m) => m,
        _ => JsonObject::new(),
    };
    let title = title(&t.name);
    let (read_only, destructive, idempotent, open_world) = hints;
    let annotations = ToolAnnotations::with_title(title.clone())
        .read_only(read_only)
        .destructive(destructive)
        .idempotent(idempotent)
        .open_world(open_world);
    Tool::new(t.name, t.description, Arc::new(schema))
        .with_title(title)
        .with_annotations(annotations)
}

/// `search_contact` -> `Search contact`.
fn title(name: &str) -> String {
    let words = name.replace('_', " ");
    let mut c = words.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// readOnly, destructive, idempotent, openWorld.
fn hints(action: &Action) -> (bool, bool, bool, bool) {
    const READ: (bool, bool, bool, bool) = (true, false, true, false);
    const CREATE: (bool, bool, bool, bool) = (false, false, false, false);
    // An update overwrites values: destructive, and the same update twice changes nothing more.
    const OVERWRITE: (bool, bool, bool, bool) = (false, true, true, false);
    match action {
        Action::Template(t) => match t.op {
            Op::Search | Op::Get | Op::GetNote | Op::GlobalSearch | Op::RunQuery => READ,
            Op::Create | Op::CreateNote | Op::CreateRecord | Op::BulkCreate | Op::CreateTask => {
                CREATE
            }
            Op::Update
            | Op::UpdateNote
            | Op::UpdateRecord
            | Op::BulkUpdate
            | Op::UpsertRecord
            | Op::Delete => OVERWRITE,
            // Any REST call: it may delete, and it is not bound to the org's records.
            Op::CustomApiCall => (false, true, false, true),
        },
        Action::Custom(c) => match c.effect() {
            Effect::Read => READ,
            Effect::Write if c.destructive => (false, true, false, false),
            Effect::Write => CREATE,
            Effect::Destroy => (false, true, false, false),
        },
    }
}

/// The compact tools; the `action` tool runs the actions (and `record_intent`) named in `names`.
pub fn compact_tools(names: &[&str]) -> Vec<Tool> {
    let obj = |v: Value| match v {
        Value::Object(m) => Arc::new(m),
        _ => Arc::new(JsonObject::new()),
    };
    vec![
        Tool::new(
            "search",
            "Find records of any kind (contacts, leads, accounts, cases, opportunities) by name, \
             email, phone number or other words. Use it first to identify the caller. Returns \
             count and up to 10 records, each with its type and Id, and say, a sentence to read \
             to the caller.",
            obj(json!({"type": "object", "properties": {"search_term": {"type": "string", "description": "Words or a phone number to find"}}, "required": ["search_term"], "additionalProperties": false})),
        )
        .with_title("Search")
        .with_annotations(ToolAnnotations::with_title("Search").read_only(true).destructive(false).idempotent(true).open_world(false)),
        Tool::new(
            "query",
            "Read records with a SOQL SELECT statement (for example: SELECT Id, Subject, Status \
             FROM Case WHERE ContactId = '003...'). Read the callforce://objects resources for \
             object and field names. Returns count and up to 50 records and say, a sentence to \
             read to the caller.",
            obj(json!({"type": "object", "properties": {"soql": {"type": "string", "description": "A SOQL SELECT statement"}}, "required": ["soql"], "additionalProperties": false})),
        )
        .with_title("Query")
        .with_annotations(ToolAnnotations::with_title("Query").read_only(true).destructive(false).idempotent(true).open_world(false)),
        Tool::new(
            "write",
            "Create a record of any object, or update one when record_id is given. Confirm what \
             you will write with the caller first. Returns the record's id (for an update also \
             the fields updated) and say, a sentence to read to the caller; if Salesforce is \
             slow it is queued and returns a reference instead of the id.",
            obj(json!({"type": "object", "properties": {
                "sobject": {"type": "string", "description": "Object API name, e.g. Case"},
                "record_id": {"type": "string", "description": "The record to update; leave out to create one"},
                "fields": {"type": "object", "description": "Field API names to values"}
            }, "required": ["sobject", "fields"], "additionalProperties": false})),
        )
        .with_title("Write")
        .with_annotations(ToolAnnotations::with_title("Write").read_only(false).destructive(true).idempotent(false).open_world(false)),
        Tool::new(
            "action",
            format!(
                "Run one of the prepared Salesforce actions by name with its arguments, for \
                 example {{\"name\": \"create_case\", \"arguments\": {{\"Subject\": \"...\"}}}}. \
                 Arguments may use earlier results, such as {{{{search_contact.Id}}}}. Returns what \
                 the action returns, with say, a sentence to read to the caller. Actions: {}.",
                names.join(", ")
            ),
            obj(json!({"type": "object", "properties": {
                "name": {"type": "string", "description": "The action's name", "enum": names},
                "arguments": {"type": "object", "description": "The action's arguments"}
            }, "required": ["name"], "additionalProperties": false})),
        )
        .with_title("Run an action")
        .with_annotations(ToolAnnotations::with_title("Run an action").read_only(false).destructive(true).idempotent(false).open_world(false)),
    ]
}

/// The catalog action a compact tool call runs, and its arguments.
fn resolve_compact(name: &str, mut args: JsonObject) -> Result<(String, JsonObject), ErrorData> {
    match name {
        "search" => Ok(("global_search".into(), args)),
        "query" => Ok(("run_query".into(), args)),
        "write" => {
            let update = args
                .get("record_id")
                .is_some_and(|v| !v.is_null() && v.as_str() != Some(""));
            if !update {
                args.remove("record_id");
            }
            let action = if update {
                "update_record"
            } else {
                "create_record"
            };
            Ok((action.into(), args))
        }
        "action" => {
            let Some(Value::String(action)) = args.remove("name") else {
                return Err(ErrorData::invalid_params(
                    "the action tool needs \"name\": the action to run",
                    None,
                ));
            };
            let inner = match args.remove("arguments") {
                Some(Value::Object(m)) => m,
                None | Some(Value::Null) => JsonObject::new(),
                Some(_) => {
                    return Err(ErrorData::invalid_params(
                        "\"arguments\" must be an object",
                        None,
                    ));
                }
            };
            // Call context given beside the name still counts.
            let mut inner = inner;
            for k in CALL_KEYS {
                if let Some(v) = args.remove(k) {
                    inner.entry(k).or_insert(v);
                }
            }
            Ok((action, inner))
        }
        other => Err(ErrorData::invalid_params(
            format!(
                "unknown tool '{other}'; the compact tools are {}",
                COMPACT_TOOLS.join(", ")
            ),
            None,
        )),
    }
}

/// Arguments that name the call rather than the action's input.
const CALL_KEYS: [&str; 3] = ["call_id", "caller_phone", "agent"];

/// The call variables of a tool call: arguments (taken out unless the action declares them),
/// then `_meta` (`callforce/call_id`...), then headers (`X-Call-Id`...).
fn call_vars(
    parameters: &Value,
    args: &mut JsonObject,
    meta: &JsonObject,
    parts: &Parts,
    agent: Option<&str>,
) -> (Option<String>, CallVars) {
    let declared = parameters.get("properties").and_then(Value::as_object);
    let mut pick = |key: &str| -> Option<String> {
        let from_args = if declared.is_some_and(|d| d.contains_key(key)) {
            None
        } else {
            args.remove(key)
        };
        from_args
            .or_else(|| meta.get(&format!("callforce/{key}")).cloned())
            .and_then(|v| v.as_str().map(str::trim).map(str::to_owned))
            .filter(|v| !v.is_empty())
            .or_else(|| header(parts, &format!("x-{}", key.replace('_', "-"))))
    };
    let call_id = pick("call_id");
    let caller_phone = pick("caller_phone");
    let agent = pick("agent").or_else(|| agent.map(str::to_owned));
    let vars = CallVars {
        call_id: call_id
            .clone()
            .unwrap_or_else(callforce_app::calls::new_call_id),
        caller_phone,
        agent,
        metadata: serde_json::Map::new(),
        workspace: None,
        time_zone: None,
    };
    (call_id, vars)
}

/// The idempotency key the caller chose for a tool call's write: `_meta`
/// `callforce/idempotency_key`, then the `Idempotency-Key` header; checked, or what to fix.
fn idempotency_key(meta: &JsonObject, parts: &Parts) -> Result<Option<String>, String> {
    let key = match meta.get("callforce/idempotency_key") {
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => {
            return Err("_meta callforce/idempotency_key must be a string".into());
        }
        None => header(parts, callforce_app::calls::IDEMPOTENCY_KEY_HEADER),
    };
    if let Some(k) = &key {
        callforce_actions::idempotency::check_caller_key(k)
            .map_err(|m| format!("callforce/idempotency_key: {m}"))?;
    }
    Ok(key)
}

/// A tool's result: the JSON as text (what most clients give the model) and as structured
/// content.
fn tool_result(result: Value) -> CallToolResult {
    let text = serde_json::to_string(&result).unwrap_or_default();
    let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
    if result.is_object() {
        r.structured_content = Some(result);
    }
    r
}

/// A tool that ran and failed: `isError` with the message a model acts on, and the details
/// (`field`, `valid_values`, `suggestion`, `missing`) as structured content.
fn tool_error(e: &ActionError) -> CallToolResult {
    let mut r = CallToolResult::error(vec![ContentBlock::text(e.message.to_string())]);
    r.structured_content = Some(json!({ "error": e }));
    r
}

impl rmcp::ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_server_info(Implementation::new("callforce", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Salesforce tools for a conversation with a caller. Start by finding the caller \
             (search_contact with their phone number), confirm what you will write before any \
             write, and use earlier results in later arguments, e.g. {{search_contact.Id}}. \
             Send call_id (argument, _meta callforce/call_id or the X-Call-Id header) to keep \
             results across tool calls.",
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let info = self.info(&cx)?;
        let enabled = self
            .api
            .tools(&info.caller, info.agent.as_deref())
            .await
            .map_err(|e| ErrorData::invalid_params(e.message, None))?;
        // The workspace's intents, when its map is active on the connection calls use.
        if let Some(c) = &info.connection {
            self.api
                .check_connection(&info.caller, c)
                .map_err(|e| ErrorData::invalid_params(e.message, None))?;
        }
        let intent = self
            .api
            .intents()
            .tool(info.caller.workspace, info.connection.as_deref())
            .await;
        let tools = if info.compact {
            let mut names: Vec<&str> = enabled.iter().map(Action::name).collect();
            if let Some(t) = &intent {
                names.push(&t.name);
            }
            compact_tools(&names)
        } else {
            let mut tools: Vec<Tool> = enabled.iter().map(mcp_tool).collect();
            tools.extend(intent.map(intent_tool));
            tools
        };
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let info = self.info(&cx)?;
        let args = request.arguments.unwrap_or_default();
        let (name, mut args) = if info.compact {
            resolve_compact(&request.name, args)?
        } else {
            (request.name.into_owned(), args)
        };
        let enabled = self
            .api
            .tools(&info.caller, info.agent.as_deref())
            .await
            .map_err(|e| ErrorData::invalid_params(e.message, None))?;
        let parameters = match enabled.iter().find(|a| a.name() == name) {
            Some(action) => Some(action.tool().parameters),
            // Without an active map, `run_action` answers why, as a tool error the model reads.
            None if name == callforce_intents::TOOL_NAME => Some(
                self.api
                    .intents()
                    .tool(info.caller.workspace, info.connection.as_deref())
                    .await
                    .map_or_else(|| json!({}), |t| t.parameters),
            ),
            None => None,
        };
        let Some(parameters) = parameters else {
            let hint = self
                .api
                .catalog()
                .closest_name(&name)
                .map(|c| format!("; did you mean '{c}'?"))
                .unwrap_or_default();
            return Err(ErrorData::invalid_params(
                format!("unknown tool '{name}'{hint}"),
                None,
            ));
        };
        // rmcp hands the request's `_meta` to the context; a copy left in the params counts too.
        let mut meta: JsonObject = cx.meta.0.0.clone();
        if let Some(m) = request.meta {
            for (k, v) in m.0.0 {
                meta.entry(k).or_insert(v);
            }
        }
        let (call_id, vars) = call_vars(
            &parameters,
            &mut args,
            &meta,
            info.parts,
            info.agent.as_deref(),
        );
        let key =
            idempotency_key(&meta, info.parts).map_err(|m| ErrorData::invalid_params(m, None))?;
        // The connection the call runs on: `_meta` `callforce/connection`, then the request's
        // `?connection=` or `X-Connection` (none: the workspace's default).
        let connection = meta
            .get("callforce/connection")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or(info.connection);
        if let Some(c) = &connection {
            self.api
                .bind_connection(&info.caller, &vars.call_id, c)
                .map_err(|e| ErrorData::invalid_params(e.message, None))?;
        }
        let result = match call_id {
            Some(_) => {
                let (call, started) = self.api.call_or_start(&info.caller, vars.clone());
                // A call started by its first tool call looks its caller up first, and that
                // answer carries what was found.
                let lookup = match (started, &vars.caller_phone) {
                    (true, Some(phone)) if !phone.trim().is_empty() => Some(
                        self.api
                            .look_up_caller(
                                &info.caller,
                                &vars.call_id,
                                Who::Phone(phone.trim().to_owned()),
                            )
                            .await,
                    ),
                    _ => None,
                };
                {
                    let mut call = call.lock().await;
                    // A call started by a request that did not know the caller learns it later.
                    if call.vars.caller_phone.is_none() {
                        call.vars.caller_phone = vars.caller_phone;
                    }
                }
                // A cancelled request (`notifications/cancelled`, or its HTTP request closed)
                // stops a read; a write runs to its end, and the request sent again gets its
                // answer.
                let ct = cx.ct.clone();
                let id = serde_json::to_string(&cx.id).unwrap_or_default();
                let registered =
                    self.in_flight
                        .register(info.caller.workspace.0, &vars.call_id, &id);
                let notified = registered.cancelled.clone();
                let cancelled = async move {
                    tokio::select! {
                        () = ct.cancelled() => {}
                        () = notified.notified() => {}
                    }
                };
                let r = self
                    .api
                    .run_in_shared_call(
                        &info.caller,
                        call,
                        &name,
                        Value::Object(args),
                        key,
                        cancelled,
                    )
                    .await;
                drop(registered);
                match (r, lookup) {
                    (Ok(Value::Object(mut m)), Some(lookup)) => {
                        m.insert("caller_context".into(), lookup.to_json());
                        Ok(Value::Object(m))
                    }
                    (r, _) => r,
                }
            }
            // No call named: a call of one action.
            None => {
                let id = vars.call_id.clone();
                let mut call = CallSession::new(vars);
                let r = self
                    .api
                    .run_action(&info.caller, &mut call, &name, Value::Object(args), key)
                    .await;
                // Its binding to a connection, if any, ends with it.
                let _ = self.api.end_call(&info.caller, &id);
                r
            }
        };
        Ok(match result {
            Ok(v) => tool_result(v),
            Err(e) => tool_error(&e),
        }
        .into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        self.info(&cx)?;
        Ok(ListResourcesResult::with_all_items(vec![
            Resource::new(OBJECTS_URI, "objects")
                .with_title("Salesforce objects")
                .with_description(
                    "The org's objects: API name, label and what may be done with them",
                )
                .with_mime_type("application/json"),
            Resource::new(INTENTS_URI, "intents")
                .with_title("Intent map")
                .with_description(
                    "What the agent may record with record_intent: each intent and the org \
                     fields it writes, whether the map is active, and its last check",
                )
                .with_mime_type("application/json"),
        ]))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        self.info(&cx)?;
        Ok(ListResourceTemplatesResult::with_all_items(vec![
            ResourceTemplate::new(format!("{CALLS_URI}/{{call_id}}/context"), "caller_context")
                .with_title("Who is calling")
                .with_description(
                    "What was found about a call's caller when it started (their record, \
                     account, open cases and opportunities, last activities) and one paragraph \
                     for a system prompt; `status` is pending while a late lookup runs",
                )
                .with_mime_type("application/json"),
            ResourceTemplate::new(format!("{OBJECTS_URI}/{{name}}"), "object")
                .with_title("A Salesforce object's fields")
                .with_description(
                    "One object's fields, compacted: name, label, type, whether required on \
                     create, picklist values, what a reference points to",
                )
                .with_mime_type("application/json"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let info = self.info(&cx)?;
        let uri = request.uri.as_str();
        let conn = self
            .api
            .connection(&info.caller)
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let body = if uri == INTENTS_URI {
            match self.api.store().intent_map(info.caller.workspace).await {
                Ok(Some(s)) => json!({
                    "map": serde_json::from_str::<Value>(&s.map).unwrap_or_default(),
                    "active": s.active,
                    "report": s.report.and_then(|r| serde_json::from_str::<Value>(&r).ok()),
                    "updated_at": s.updated_at,
                }),
                Ok(None) => json!({
                    "map": null,
                    "active": false,
                    "message": "this workspace has no intent map (an admin PUTs one to /v1/intents)",
                }),
                Err(e) => {
                    tracing::error!(error = %e, "reading the intent map: the store failed");
                    return Err(ErrorData::internal_error("internal error", None));
                }
            }
        } else if let Some(id) = uri
            .strip_prefix(&format!("{CALLS_URI}/"))
            .and_then(|rest| rest.strip_suffix("/context"))
        {
            match self.api.caller_lookup(&info.caller, id) {
                Ok(lookup) => lookup.to_json(),
                Err(e) => return Err(ErrorData::resource_not_found(e.to_string(), None)),
            }
        } else if uri == OBJECTS_URI {
            let global = conn.describe_global().await.map_err(|e| {
                ErrorData::internal_error(format!("Salesforce did not answer: {e}"), None)
            })?;
            objects_json(&global)
        } else if let Some(name) = uri.strip_prefix(&format!("{OBJECTS_URI}/")) {
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(ErrorData::resource_not_found(
                    format!("'{name}' is not an object API name"),
                    None,
                ));
            }
            match conn.describe(name).await {
                Ok(d) => object_json(&d),
                Err(callforce_client::Error::Api { status: 404, .. }) => {
                    return Err(ErrorData::resource_not_found(
                        format!("no object '{name}' in the org; read {OBJECTS_URI} for the list"),
                        None,
                    ));
                }
                Err(e) => {
                    return Err(ErrorData::internal_error(
                        format!("Salesforce did not answer: {e}"),
                        None,
                    ));
                }
            }
        } else {
            return Err(ErrorData::resource_not_found(
                format!(
                    "no resource '{uri}'; the resources are {OBJECTS_URI}, {OBJECTS_URI}/{{name}}, {INTENTS_URI} and {CALLS_URI}/{{call_id}}/context"
                ),
                None,
            ));
        };
        let text = serde_json::to_string(&body).unwrap_or_default();
        Ok(ReadResourceResult::new(vec![
            ResourceContents::text(text, uri).with_mime_type("application/json"),
        ])
        .into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        cx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        self.info(&cx)?;
        Ok(ListPromptsResult::with_all_items(vec![
            Prompt::new(
                EXAMPLE_CALL,
                Some(
                    "An inbound support call: find the caller, open a case, log the call, \
                     book a callback",
                ),
                Some(vec![
                    PromptArgument::new("caller_phone")
                        .with_description("The caller's phone number (+15551234567)")
                        .with_required(false),
                ]),
            )
            .with_title("Example support call"),
        ]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        self.info(&cx)?;
        if request.name != EXAMPLE_CALL {
            return Err(ErrorData::invalid_params(
                format!(
                    "no prompt '{}'; the prompts are {EXAMPLE_CALL}",
                    request.name
                ),
                None,
            ));
        }
        let phone = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("caller_phone"))
            .and_then(Value::as_str)
            .unwrap_or("+15551234567")
            .to_owned();
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            example_call(&phone),
        )])
        .with_description("An inbound support call, step by step")
        .into())
    }
}

const OBJECTS_URI: &str = "callforce://objects";
const INTENTS_URI: &str = "callforce://intents";
const CALLS_URI: &str = "callforce://calls";
const EXAMPLE_CALL: &str = "example_call";

fn objects_json(global: &callforce_client::describe::DescribeGlobal) -> Value {
    let objects: Vec<Value> = global
        .sobjects
        .iter()
        .filter(|o| o.queryable)
        .map(|o| {
            let mut can = Vec::new();
            if o.createable {
                can.push("create");
            }
            if o.updateable {
                can.push("update");
            }
            if o.deletable {
                can.push("delete");
            }
            json!({"name": o.name, "label": o.label, "can": can})
        })
        .collect();
    json!({ "objects": objects })
}

fn object_json(d: &callforce_client::describe::SObjectDescribe) -> Value {
    let fields: Vec<Value> = d
        .fields
        .iter()
        .map(|f| {
            let mut m = serde_json::Map::new();
            m.insert("name".into(), json!(f.name));
            if f.label != f.name {
                m.insert("label".into(), json!(f.label));
            }
            m.insert("type".into(), json!(f.type_));
            if f.createable && !f.nillable && !f.defaulted_on_create && f.type_ != "boolean" {
                m.insert("required".into(), json!(true));
            }
            if !f.createable && !f.updateable {
                m.insert("read_only".into(), json!(true));
            }
            let values: Vec<&str> = f
                .picklist_values
                .iter()
                .filter(|p| p.active)
                .map(|p| p.value.as_str())
                .collect();
            if !values.is_empty() {
                m.insert("values".into(), json!(values));
            }
            if !f.reference_to.is_empty() {
                m.insert("references".into(), json!(f.reference_to));
            }
            if f.external_id {
                m.insert("external_id".into(), json!(true));
            }
            Value::Object(m)
        })
        .collect();
    json!({"name": d.name, "label": d.label, "fields": fields})
}

/// The example conversation as instructions for a model.
fn example_call(phone: &str) -> String {
    format!(
        "You are answering an inbound support call for Acme's customer service. The caller is \
         calling from {phone}. Use the Salesforce tools in this order, and tell the caller what \
         you are doing in plain words:\n\
         1. Call search_contact with search_term \"{phone}\" to find who is calling. Greet them \
         by name and the account they belong to, and check it is them.\n\
         2. Listen to the issue. Say the case subject you will use and wait for a yes, then call \
         create_case with Subject, ContactId \"{{{{search_contact.Id}}}}\", a Priority (High, \
         Medium or Low) and Origin \"Phone\".\n\
         3. Call log_call with a short Subject, WhoId \"{{{{search_contact.Id}}}}\", WhatId \
         \"{{{{create_case.Id}}}}\", CallType \"Inbound\" and CallDisposition \"Connected\".\n\
         4. Offer a callback. When they agree on a time, call schedule_event with a Subject, \
         StartDateTime and EndDateTime (ISO 8601), WhoId \"{{{{search_contact.Id}}}}\" and WhatId \
         \"{{{{create_case.Id}}}}\".\n\
         5. Read back the case number, the callback time, and close the call.\n\
         If a tool answers with an error, it says what to fix (a field, the valid values): fix \
         it, asking the caller when needed, and try again. Never invent record ids."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_sentences() {
        assert_eq!(title("search_contact"), "Search contact");
        assert_eq!(title("x"), "X");
        assert_eq!(title(""), "");
    }

    #[test]
    fn compact_calls_map_to_catalog_actions() {
        let obj = |v: Value| v.as_object().cloned().expect("object");
        let (a, _) =
            resolve_compact("write", obj(json!({"sobject": "Case", "fields": {}}))).expect("write");
        assert_eq!(a, "create_record");
        let (a, args) = resolve_compact(
            "write",
            obj(json!({"sobject": "Case", "record_id": "500", "fields": {}})),
        )
        .expect("write");
        assert_eq!(a, "update_record");
        assert_eq!(args["record_id"], "500");
        let (a, args) = resolve_compact(
            "action",
            obj(json!({"name": "create_case", "arguments": {"Subject": "x"}, "call_id": "c1"})),
        )
        .expect("action");
        assert_eq!(a, "create_case");
        assert_eq!(
            Value::Object(args),
            json!({"Subject": "x", "call_id": "c1"})
        );
        assert!(resolve_compact("action", JsonObject::new()).is_err());
        assert!(resolve_compact("search_contact", JsonObject::new()).is_err());
    }

    /// What a model sees of every tool: name, title and hints. A change here is a visible diff.
    #[test]
    fn tool_list_annotations_snapshot() {
        let catalog = callforce_actions::Catalog::with_examples();
        let actions: Vec<&Action> = catalog.actions().iter().collect();
        let full: Vec<Value> = actions
            .iter()
            .map(|a| {
                let t = mcp_tool(a);
                let an = t.annotations.clone().unwrap_or_default();
                json!({
                    "name": t.name,
                    "title": t.title,
                    "readOnly": an.read_only_hint,
                    "destructive": an.destructive_hint,
                    "idempotent": an.idempotent_hint,
                    "openWorld": an.open_world_hint,
                })
            })
            .collect();
        insta::assert_json_snapshot!("mcp_tools_annotations", full);
        let names: Vec<&str> = actions.iter().map(|a| a.name()).collect();
        let compact = serde_json::to_value(compact_tools(&names)).expect("json");
        insta::assert_json_snapshot!("mcp_compact_tools", compact);
    }

    #[test]
    fn the_mcp_tools_keep_the_rest_schemas() {
        let catalog = callforce_actions::Catalog::with_examples();
        for a in catalog.actions() {
            let t = mcp_tool(a);
            assert_eq!(
                Value::Object((*t.input_schema).clone()),
                a.tool().parameters,
                "{}",
                a.name()
            );
        }
    }
}
