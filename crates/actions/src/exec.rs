//! Running actions through a [`Connection`]: argument checks before anything is sent, the
//! search semantics, creates with required fields, notes in one composite request, the generic
//! record actions, and compacted results.

use base64::Engine as _;
use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use callforce_client::describe::SObjectDescribe;
use callforce_client::request::{MAX_RAW_HEADERS, check_header};
use callforce_client::{
    CompositeBuilder, CompositeResponse, Connection, Id, Method, RawRequest, Record, Request,
    SaveResult,
};
use callforce_soql::{
    Cond, Direction, LikePattern, QueryBuilder, ReturningBuilder, SearchBuilder, SearchGroup,
};
use serde_json::{Map, Value, json};

use crate::agent::Agent;
use crate::catalog::{Action, Catalog, Op, Template};
use crate::compact::{self, MAX_LIST};
use crate::confirm::{ConfirmConfig, Confirmer, TOKEN_ARG};
use crate::custom::CustomAction;
use crate::error::{ActionError, ErrorCode};
use crate::raw::{client_refusal, split_path};
use crate::session::CallSession;
use crate::sink::{DirectSink, Write, WriteError, WriteOutcome, WriteSink, queued_result};
use crate::spoken::{self, Term};
use crate::template::Templating;

/// The most records `run_query` returns to a model.
pub const MAX_QUERY_RECORDS: usize = 50;

/// The largest arguments object accepted, serialised (bulk actions carry up to 200 records).
pub const MAX_ARGUMENTS_BYTES: usize = 1 << 20;

/// The longest search term, in characters: the longest text field a search compares it with
/// (a name, an email, a phone, a subject) holds 255, so a longer term cannot match.
pub const MAX_SEARCH_TERM_CHARS: usize = 255;

/// The longest SOQL statement Salesforce takes, in characters (sent in the URL, it must also
/// fit Salesforce's 16,384-byte limit on a request's URL once encoded).
pub const MAX_SOQL_CHARS: usize = 100_000;

/// The actions whose writes are non-blocking by default: committed to the queue and
/// acknowledged at once (with a sink that queues; [`DirectSink`] sends everything at once).
pub const DEFAULT_NON_BLOCKING: &[&str] = &["log_call", "create_note", "schedule_event"];

/// A catalog bound to one org: runs actions in call sessions.
pub struct Actions {
    conn: Connection,
    catalog: Catalog,
    templating: Templating,
    sink: Arc<dyn WriteSink>,
    non_blocking: BTreeSet<String>,
    confirmer: Confirmer,
    /// The duplicate window of calls' writes (none: only a retry of a call's last write is
    /// recognised, in memory).
    repeats: Option<Arc<dyn crate::repeats::Repeats>>,
}

/// Where an action runs: the catalog to find it in and the agent whose policy applies. The
/// default is the [`Actions`]' own catalog and no agent (every action, default confirmations).
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope<'a> {
    /// The catalog (a workspace's, with its custom actions); the [`Actions`]' own when `None`.
    pub catalog: Option<&'a Catalog>,
    /// The agent; no limits and default confirmations when `None`.
    pub agent: Option<&'a Agent>,
}

fn action_object(action: &Action) -> Option<String> {
    match action {
        Action::Template(t) => t.object.clone(),
        Action::Custom(c) => c.object(),
    }
}

/// Who is writing, for the [`Write`]s of one action run.
struct WriteCtx<'a> {
    call_id: &'a str,
    agent: Option<&'a str>,
    workspace: Option<i64>,
    action: &'a str,
    /// The idempotency key of the action's write (see [`crate::idempotency`]).
    key: String,
    /// A create queued with no id yet and the key it will be found by, to remember in the
    /// call once the action is done (see [`CallSession::remember_pending`]).
    pending: std::sync::Mutex<Option<Pending>>,
    /// The call's time zone, which local times are read in.
    zone: crate::zone::Tz,
    /// The caller's phone number, whose country a partial number is read in.
    caller_phone: Option<&'a str>,
}

/// A queued create: its object and where it will be found once it has run.
struct Pending {
    sobject: String,
    field: String,
    value: String,
    record_key: String,
}

impl<'a> WriteCtx<'a> {
    /// The writes of action `name` run in `session`, under idempotency key `key`.
    fn new(session: &'a CallSession, name: &'a str, key: String) -> Self {
        Self {
            call_id: &session.vars.call_id,
            agent: session.vars.agent.as_deref(),
            workspace: session.vars.workspace,
            action: name,
            key,
            pending: std::sync::Mutex::new(None),
            zone: session.time_zone(),
            caller_phone: session.vars.caller_phone.as_deref(),
        }
    }

    /// The idempotency key of this action's write: the workspace, the call instance (or the
    /// caller's key), the action and its canonical payload, hashed.
    fn idempotency_key(&self) -> String {
        self.key.clone()
    }
}

/// The record key of a write with no record of its own: `<Object>:new:<key>` for a create or
/// upsert, `write:new:<key>` for anything else.
fn new_record_key(request: &Request, idempotency_key: &str) -> String {
    let object = match request {
        Request::Create { sobject, .. } | Request::Upsert { sobject, .. } => sobject.as_str(),
        _ => "write",
    };
    format!("{object}:new:{idempotency_key}")
}

/// The record a raw request's path names (`/sobjects/Account/001...` is `Account:001...`), for
/// per-record order.
fn raw_record_key(path: &str) -> Option<String> {
    let mut parts = path.trim_end_matches('/').rsplit('/');
    let id = parts.next()?;
    let sobject = parts.next()?;
    (parts.next()? == "sobjects" && Id::parse(id).is_ok() && is_api_name(sobject))
        .then(|| format!("{sobject}:{id}"))
}

/// What a write shown for confirmation does, in the words a caller is asked with: `create`,
/// `update`, `upsert`, `delete`, or `call` for a raw request that is none of these (a POST to
/// Apex REST, a composite request).
fn preview_effect(action: &Action, args: &Args, rendered: Option<&RawRequest>) -> &'static str {
    match action {
        Action::Template(t) => match t.op {
            Op::Create | Op::CreateNote | Op::CreateRecord | Op::BulkCreate | Op::CreateTask => {
                "create"
            }
            Op::Update | Op::UpdateNote | Op::UpdateRecord | Op::BulkUpdate => "update",
            Op::UpsertRecord => "upsert",
            Op::Delete => "delete",
            Op::CustomApiCall => match rendered {
                Some(r) => raw_effect(r.method.as_str(), &r.path),
                None => {
                    let method = args.get("method").and_then(Value::as_str).unwrap_or("");
                    let path = args.get("path").and_then(Value::as_str).unwrap_or("");
                    raw_effect(method, path.split('?').next().unwrap_or(""))
                }
            },
            Op::Search | Op::Get | Op::GetNote | Op::GlobalSearch | Op::RunQuery => "read",
        },
        Action::Custom(_) => rendered.map_or("call", |r| raw_effect(r.method.as_str(), &r.path)),
    }
}

/// What a raw request does: a DELETE deletes, a POST to `/sobjects/<Object>` creates, a PATCH or
/// PUT of `/sobjects/<Object>/<id>` updates, a PATCH of `/sobjects/<Object>/<Field>/<value>`
/// upserts; anything else is a `call`.
fn raw_effect(method: &str, path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let after = segments
        .iter()
        .position(|s| *s == "sobjects")
        .map_or(0, |i| segments.len() - i - 1);
    match (method.to_ascii_uppercase().as_str(), after) {
        ("DELETE", _) => "delete",
        ("POST", 1) => "create",
        ("PATCH" | "PUT", 2) => "update",
        ("PATCH", 3) => "upsert",
        _ => "call",
    }
}

/// What a confirmation token is bound to: the canonical payload, and for a custom action or a
/// raw call the request as it will be sent.
struct Confirmable {
    payload: Value,
    rendered: Option<RawRequest>,
}

/// The action named `name` in `catalog`.
///
/// # Errors
/// [`ErrorCode::UnknownAction`] with the closest name `agent` may run, if any.
fn find_action<'a>(
    catalog: &'a Catalog,
    name: &str,
    agent: Option<&Agent>,
) -> Result<&'a Action, ActionError> {
    if let Some(action) = catalog.get(name) {
        return Ok(action);
    }
    let mut e = ActionError::new(
        ErrorCode::UnknownAction,
        format!("there is no action '{name}'"),
    );
    let suggestion = match agent {
        Some(agent) => crate::suggest::closest(
            name,
            catalog
                .actions()
                .iter()
                .map(Action::name)
                .filter(|n| agent.enabled(n)),
        ),
        None => catalog.closest_name(name),
    };
    if let Some(c) = suggestion {
        e.message = format!("{}; did you mean '{c}'?", e.message).into();
        e.suggestion = Some(c.into());
    }
    Err(e)
}

/// The arguments of a call as an object (`null` is none).
///
/// # Errors
/// [`ErrorCode::InvalidArgument`] when they are larger than [`MAX_ARGUMENTS_BYTES`] or not
/// an object.
fn arguments_object(arguments: Value) -> Result<Args, ActionError> {
    if serde_json::to_vec(&arguments).map_or(0, |v| v.len()) > MAX_ARGUMENTS_BYTES {
        return Err(ActionError::new(
            ErrorCode::InvalidArgument,
            format!("the arguments are larger than {MAX_ARGUMENTS_BYTES} bytes; send less"),
        ));
    }
    match arguments {
        Value::Object(m) => Ok(m),
        Value::Null => Ok(Map::new()),
        _ => Err(ActionError::new(
            ErrorCode::InvalidArgument,
            "arguments must be a JSON object of parameter names to values",
        )),
    }
}

/// Takes the confirmation token out of `args`.
///
/// # Errors
/// A token that is not a string.
fn take_token(args: &mut Args) -> Result<Option<String>, ActionError> {
    match args.remove(TOKEN_ARG) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(t)) => Ok(Some(t)),
        Some(_) => Err(ActionError::invalid(
            TOKEN_ARG,
            "confirmation_token must be the string returned with the preview",
        )),
    }
}

/// Whether `action` is a raw API call with GET. NB: a raw API call is destructive as a whole,
/// but a GET through it only reads.
fn is_raw_get(action: &Action, args: &Args) -> bool {
    matches!(action, Action::Template(t) if t.op == Op::CustomApiCall)
        && args
            .get("method")
            .and_then(Value::as_str)
            .is_some_and(|m| m.eq_ignore_ascii_case("GET"))
}

/// `result` of `action` run with `args`, with its `say` sentence unless `agent` turned it off.
fn speak(
    action: &Action,
    args: &Args,
    result: Value,
    agent: Option<&Agent>,
    session: &CallSession,
) -> Value {
    if agent.is_some_and(|a| !a.say) {
        return result;
    }
    // Times are said in the call's zone.
    crate::say::with_say(action, args, result, Some(session.time_zone()))
}

/// Remembers a run of action `name` in `session`: its result (the session's last one of
/// `object`), a create queued with no id yet, and a write's answer under its key (so a retry
/// of the call's last write answers it).
fn remember_in_call(
    session: &mut CallSession,
    name: &str,
    object: Option<&str>,
    result: &Value,
    pending: Option<Pending>,
    written_key: Option<String>,
) {
    session.record(name, object, result);
    if let Some(p) = pending {
        session.remember_pending(&p.sobject, &p.field, &p.value, &p.record_key);
    }
    if let Some(k) = written_key {
        session.remember_written(&k, result.clone());
    }
}

type Args = Map<String, Value>;

impl Actions {
    /// Actions of `catalog` run through `conn`.
    ///
    /// Writes go straight to the connection ([`DirectSink`]) until [`Actions::with_sink`].
    pub fn new(conn: Connection, catalog: Catalog) -> Self {
        Self {
            sink: Arc::new(DirectSink::new(conn.clone())),
            conn,
            catalog,
            templating: Templating::new(),
            non_blocking: DEFAULT_NON_BLOCKING
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            confirmer: Confirmer::new(ConfirmConfig::default()),
            repeats: None,
        }
    }

    /// Recognises repeated writes of a call through `repeats` (the duplicate window): the same
    /// action with the same arguments again answers the first one's result.
    pub fn with_repeats(mut self, repeats: Arc<dyn crate::repeats::Repeats>) -> Self {
        self.repeats = Some(repeats);
        self
    }

    /// Sets how confirmations work (token lifetime, key, clock).
    pub fn with_confirmation(mut self, config: ConfirmConfig) -> Self {
        self.confirmer = Confirmer::new(config);
        self
    }

    /// Hands every write to `sink` (the write pipeline) instead of the connection.
    pub fn with_sink(mut self, sink: Arc<dyn WriteSink>) -> Self {
        self.sink = sink;
        self
    }

    /// The actions whose writes are non-blocking (default [`DEFAULT_NON_BLOCKING`]); every
    /// other write is blocking.
    pub fn with_non_blocking(mut self, actions: impl IntoIterator<Item = String>) -> Self {
        self.non_blocking = actions.into_iter().collect();
        self
    }

    /// Whether `action`'s writes are non-blocking.
    pub fn is_non_blocking(&self, action: &str) -> bool {
        self.non_blocking.contains(action)
    }

    /// Whether `action`'s writes are queued and acknowledged before they reach the org (a
    /// non-blocking action with a sink that queues): running it asks the org nothing.
    pub fn queues_at_once(&self, action: &str) -> bool {
        self.non_blocking.contains(action) && self.sink.queues_non_blocking()
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The connection.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Runs action `name` with `arguments` (a JSON object) in `session`, remembers its result
    /// there, and returns the compacted result.
    ///
    /// String arguments may refer to the session with Liquid (`{{search_contact.Id}}`). An
    /// action that needs confirmation (every delete, custom actions flagged for it) returns
    /// `{"confirmation_required": {preview, token, expires_at}}` instead of running; see
    /// [`Actions::run_scoped`].
    ///
    /// # Errors
    /// An [`ActionError`] saying what to fix; nothing is sent to Salesforce when the arguments
    /// are wrong.
    pub async fn run(
        &self,
        session: &mut CallSession,
        name: &str,
        arguments: Value,
    ) -> Result<Value, ActionError> {
        self.run_scoped(session, name, arguments, Scope::default())
            .await
    }

    /// Runs action `name` like [`Actions::run`], within `scope`: the catalog to find it in
    /// (a workspace's, with its custom actions) and the agent whose policy applies.
    ///
    /// Confirmation: when the action needs it and `arguments` carry no `confirmation_token`,
    /// nothing runs and the result is a preview of exactly what would be written plus a token
    /// bound to this call, action and payload. Called again with the same arguments and that
    /// token, before it expires, the action runs; a token works once.
    ///
    /// # Errors
    /// As [`Actions::run`]; [`ErrorCode::Forbidden`] when the agent may not run the action or
    /// touch its object; [`ErrorCode::ConfirmationInvalid`] for a bad, expired, used or
    /// mismatched token.
    pub async fn run_scoped(
        &self,
        session: &mut CallSession,
        name: &str,
        arguments: Value,
        scope: Scope<'_>,
    ) -> Result<Value, ActionError> {
        let catalog = scope.catalog.unwrap_or(&self.catalog);
        let action = find_action(catalog, name, scope.agent)?;
        if let Some(agent) = scope.agent {
            agent.check_enabled(name)?;
        }
        let mut args = arguments_object(arguments)?;
        let token = take_token(&mut args)?;
        let needs_confirmation = match scope.agent {
            Some(agent) => agent.needs_confirmation(action),
            None => crate::agent::default_needs_confirmation(action),
        };
        let ctx = session.context();
        tracing::debug!(action = name, "running action");
        let args = self.resolve_arguments(catalog, action, args, &ctx)?;
        if let Some(agent) = scope.agent {
            agent.check_objects(action, &args)?;
        }
        // A custom action is rendered once: the preview shows the request, the token binds it
        // and exactly that request is sent.
        let mut rendered = None;
        let raw_get = is_raw_get(action, &args);
        if needs_confirmation && !raw_get {
            let confirmable = self
                .confirmable(action, &args, &ctx, session.time_zone())
                .await?;
            let call_id = &session.vars.call_id;
            if let Some(preview) =
                self.check_confirmation(call_id, name, action, &args, &confirmable, token)?
            {
                return Ok(speak(action, &args, preview, scope.agent, session));
            }
            rendered = confirmable.rendered;
        }
        // The caller's own phone number was looked up when the call started.
        if let (Action::Template(t), Some(caller)) = (action, session.caller_context())
            && t.op == Op::Search
            && let Some(term) = args.get("search_term").and_then(Value::as_str)
            && let Some(result) = caller.answers(t, term)
        {
            let result = speak(action, &args, result, scope.agent, session);
            remember_in_call(session, name, t.object.as_deref(), &result, None, None);
            return Ok(result);
        }
        let key_payload = self.key_payload(action, &args, &ctx, &mut rendered).await?;
        let writes = action.effect() != crate::catalog::Effect::Read && !raw_get;
        let object = action_object(action);
        let repeat = match (&self.repeats, session.vars.workspace) {
            (Some(repeats), Some(workspace)) if writes => {
                let repeat = crate::repeats::Repeat {
                    workspace,
                    call_id: session.vars.call_id.clone(),
                    instance: session.instance().to_owned(),
                    action: name.to_owned(),
                    args_hash: self.key_base(session, name, &key_payload),
                    target: crate::repeats::target(action, &args),
                };
                if let crate::repeats::Seen::Again(done) = repeats.claim(&repeat).await? {
                    session.record(name, object.as_deref(), &done);
                    return Ok(done);
                }
                Some((repeats, repeat))
            }
            _ => None,
        };
        let key = match &repeat {
            // The window said it is a new write: a new place among the call's writes.
            Some((_, r)) => session.new_write_key(r.args_hash.clone()),
            None => match self.claim_key(session, name, &key_payload, writes) {
                ControlFlow::Continue(key) => key,
                ControlFlow::Break(done) => return Ok(done),
            },
        };
        let written_key = writes.then(|| key.clone());
        let wctx = WriteCtx::new(session, name, key);
        let said = args.clone();
        let result = self
            .run_action(action, args, &ctx, rendered, &wctx)
            .await
            .map(|v| speak(action, &said, v, scope.agent, session));
        if let Some((repeats, r)) = &repeat {
            match &result {
                Ok(v) => repeats.finish(r, v).await,
                Err(_) => repeats.release(r).await,
            }
        }
        let result = result?;
        let pending = wctx.pending.lock().map(|mut p| p.take()).unwrap_or(None);
        remember_in_call(
            session,
            name,
            object.as_deref(),
            &result,
            pending,
            written_key,
        );
        Ok(result)
    }

    /// The arguments an action runs with. Templates see their arguments resolved (Liquid)
    /// before the checks, so the preview and the token cover exactly what is sent; custom
    /// actions render their own templates from the arguments as given.
    ///
    /// # Errors
    /// A template that does not render.
    fn resolve_arguments(
        &self,
        catalog: &Catalog,
        action: &Action,
        args: Args,
        ctx: &Args,
    ) -> Result<Args, ActionError> {
        match action {
            Action::Template(_) => {
                // NB: `record_intent` is the intents' tool, not the catalog's; its results are
                // referred to like an action's.
                let known: Vec<&str> = catalog
                    .actions()
                    .iter()
                    .map(Action::name)
                    .chain(["record_intent"])
                    .collect();
                self.templating.resolve_args_of(args, ctx, Some(&known))
            }
            Action::Custom(_) => Ok(args),
        }
    }

    /// What a confirmation covers, checked first so that arguments a model must fix are
    /// refused before any preview is shown: a template's arguments (a raw call also rendered,
    /// previewed as it will be sent, its path resolved), a custom action's rendered request.
    ///
    /// # Errors
    /// Arguments that do not fit; a custom action that does not render.
    async fn confirmable(
        &self,
        action: &Action,
        args: &Args,
        ctx: &Args,
        zone: crate::zone::Tz,
    ) -> Result<Confirmable, ActionError> {
        match action {
            Action::Template(t) => {
                let checked = check_args(t, args.clone(), zone)?;
                let rendered = if t.op == Op::CustomApiCall {
                    Some(self.raw_call(&checked)?)
                } else {
                    None
                };
                Ok(Confirmable {
                    payload: Value::Object(args.clone()),
                    rendered,
                })
            }
            Action::Custom(c) => {
                // Arguments a model must fix are refused before any preview is shown.
                let req = self.render_checked(c, args, ctx).await?;
                Ok(Confirmable {
                    payload: serde_json::to_value(&req).unwrap_or_default(),
                    rendered: Some(req),
                })
            }
        }
    }

    /// With no `token`, the preview of what would be written and a token bound to this call,
    /// action and payload (`Some`: nothing runs). With one, the token is checked and used up
    /// (`None`: the action runs).
    ///
    /// # Errors
    /// [`ErrorCode::ConfirmationInvalid`] for a bad, expired, used or mismatched token.
    fn check_confirmation(
        &self,
        call_id: &str,
        name: &str,
        action: &Action,
        args: &Args,
        confirmable: &Confirmable,
        token: Option<String>,
    ) -> Result<Option<Value>, ActionError> {
        let payload = &confirmable.payload;
        match token {
            None => {
                let mut preview = json!({
                    "action": name,
                    "effect": preview_effect(action, args, confirmable.rendered.as_ref()),
                    "object": action_object(action),
                    "arguments": args,
                });
                if matches!(action, Action::Custom(_)) {
                    preview["request"] = payload.clone();
                }
                Ok(Some(
                    self.confirmer.require(call_id, name, payload, preview),
                ))
            }
            Some(t) => {
                self.confirmer.consume(call_id, name, payload, &t)?;
                Ok(None)
            }
        }
    }

    /// The write's identity: a template's arguments after template resolution, a custom
    /// write's rendered request (what is sent; rendered now when the confirmation did not).
    ///
    /// # Errors
    /// A custom action that does not render.
    async fn key_payload(
        &self,
        action: &Action,
        args: &Args,
        ctx: &Args,
        rendered: &mut Option<RawRequest>,
    ) -> Result<Value, ActionError> {
        match action {
            Action::Custom(c) if c.effect() != crate::catalog::Effect::Read => {
                let req = match rendered.take() {
                    Some(req) => req,
                    // Checked as a template's record is, before its key exists.
                    None => self.render_checked(c, args, ctx).await?,
                };
                let p = serde_json::to_value(&req).unwrap_or_default();
                *rendered = Some(req);
                Ok(p)
            }
            _ => Ok(Value::Object(args.clone())),
        }
    }

    /// The identity of action `name`'s write with `key_payload` in `session`: an
    /// [`crate::idempotency::idempotency_key`] before its place among the call's writes.
    fn key_base(&self, session: &CallSession, name: &str, key_payload: &Value) -> String {
        crate::idempotency::idempotency_key(
            session.vars.workspace,
            &self.conn.instance_url(),
            session.key_scope(),
            name,
            key_payload,
        )
    }

    /// The idempotency key of action `name`'s run in `session`, and for a write its place
    /// among the call's writes; `Break` with the earlier answer when it repeats the call's
    /// last write.
    fn claim_key(
        &self,
        session: &mut CallSession,
        name: &str,
        key_payload: &Value,
        writes: bool,
    ) -> ControlFlow<Value, String> {
        let base = self.key_base(session, name, key_payload);
        if !writes {
            return ControlFlow::Continue(base);
        }
        // NB: the call's last write asked for again (a model or client retrying) answers what
        // it did, without a second request: a blocking create of an object with no key field
        // would otherwise make a second record.
        match session.write_key(base) {
            (_, Some(done)) => ControlFlow::Break(done),
            (key, None) => ControlFlow::Continue(key),
        }
    }

    /// Runs `action` with its arguments resolved and confirmed (a custom action's request
    /// already rendered when the confirmation or the idempotency key needed it).
    ///
    /// # Errors
    /// See [`Actions::run_template`] and [`Actions::run_custom`].
    async fn run_action(
        &self,
        action: &Action,
        args: Args,
        ctx: &Args,
        rendered: Option<RawRequest>,
        w: &WriteCtx<'_>,
    ) -> Result<Value, ActionError> {
        match action {
            Action::Template(t) => self.run_template(t, args, w).await,
            Action::Custom(c) => self.run_custom(c, args, ctx, rendered, w).await,
        }
    }

    /// Runs custom action `c`: a read straight through the connection, a write through the
    /// sink like every other, so it is retried, queued and audited.
    ///
    /// # Errors
    /// A template that does not render; what the org or the sink answered.
    async fn run_custom(
        &self,
        c: &CustomAction,
        args: Args,
        ctx: &Args,
        rendered: Option<RawRequest>,
        w: &WriteCtx<'_>,
    ) -> Result<Value, ActionError> {
        let req = match rendered {
            Some(req) => req,
            None => crate::custom::render(c, &self.templating, args, ctx, self.conn.version())?,
        };
        if c.effect() == crate::catalog::Effect::Read {
            return crate::custom::send(&self.conn, req).await;
        }
        let key = raw_record_key(&req.path);
        Ok(match self.write(w, Request::Raw(req), key).await? {
            WriteOutcome::Done(v) => crate::custom::present(v),
            WriteOutcome::Queued { reference } => queued_result(&reference),
        })
    }

    /// Hands `request`, a write that is not one of the catalog's actions (an intent's), to the
    /// sink as the call's next action named `action`: its idempotency key is made of the
    /// workspace, the call instance (or the caller's key), `action` and the request (see
    /// [`crate::idempotency`]), and it is blocking unless `action` is non-blocking.
    /// `record_key` orders it behind earlier writes to the same record (`Task:001...`, or the
    /// key of a queued create); by default it is a new record of its own.
    ///
    /// # Errors
    /// [`WriteError::Org`] when the org refused it; [`WriteError::Queue`] when it could not be
    /// queued.
    pub async fn write_in_call(
        &self,
        session: &mut CallSession,
        action: &str,
        request: Request,
        record_key: Option<String>,
    ) -> Result<WriteOutcome, WriteError> {
        let identity = serde_json::to_value(&request).unwrap_or_default();
        self.write_in_call_as(session, action, &identity, request, record_key)
            .await
    }

    /// [`Actions::write_in_call`] with the write's identity given: `identity` stands for the
    /// request in its idempotency key, for a request that differs between a tool call and its
    /// retry though it is the same write (an intent's that stamps a field with the time it
    /// runs: its identity is the request compiled at a fixed time).
    ///
    /// # Errors
    /// As [`Actions::write_in_call`].
    pub async fn write_in_call_as(
        &self,
        session: &mut CallSession,
        action: &str,
        identity: &Value,
        request: Request,
        record_key: Option<String>,
    ) -> Result<WriteOutcome, WriteError> {
        let base = crate::idempotency::idempotency_key(
            session.vars.workspace,
            &self.conn.instance_url(),
            session.key_scope(),
            action,
            identity,
        );
        // NB: as for the catalog's actions, a retry of the call's last write answers what it did.
        let (idempotency_key, done) = session.write_key_outcome(base);
        if let Some(done) = done {
            return Ok(done);
        }
        let record_key = record_key.unwrap_or_else(|| new_record_key(&request, &idempotency_key));
        let outcome = self
            .sink
            .write(Write {
                request,
                idempotency_key: idempotency_key.clone(),
                call_id: session.vars.call_id.clone(),
                agent: session.vars.agent.clone(),
                workspace: session.vars.workspace,
                action: action.to_owned(),
                record_key,
                blocking: !self.non_blocking.contains(action),
            })
            .await?;
        session.remember_outcome(&idempotency_key, outcome.clone());
        Ok(outcome)
    }

    /// Hands one write to the sink.
    async fn write(
        &self,
        w: &WriteCtx<'_>,
        request: Request,
        record_key: Option<String>,
    ) -> Result<WriteOutcome, ActionError> {
        let idempotency_key = w.idempotency_key();
        let record_key = record_key.unwrap_or_else(|| new_record_key(&request, &idempotency_key));
        let write = Write {
            request,
            idempotency_key,
            call_id: w.call_id.to_owned(),
            agent: w.agent.map(str::to_owned),
            workspace: w.workspace,
            action: w.action.to_owned(),
            record_key,
            blocking: !self.non_blocking.contains(w.action),
        };
        self.sink.write(write).await.map_err(|e| match e {
            WriteError::Org(e) => ActionError::from(e),
            other => {
                tracing::error!(error = %other, "a write could not be queued");
                ActionError::new(
                    ErrorCode::Unavailable,
                    "the write could not be saved just now; try again in a moment",
                )
            }
        })
    }

    /// Creates one record through the sink: `{id, success}` and the `read_back` fields the org
    /// filled in (a Case's `CaseNumber`), or the queued answer.
    ///
    /// With `read_back`, the create and a read of those fields go out as one all-or-none
    /// `/composite` request (the read names the new record as `@{record.id}`), so what the
    /// caller is told comes back in the write's own round trip.
    async fn create(
        &self,
        w: &WriteCtx<'_>,
        sobject: &str,
        record: Record,
        read_back: &[String],
    ) -> Result<Value, ActionError> {
        let key = w.idempotency_key();
        let record_key = format!("{sobject}:new:{key}");
        let (req, keyed_as) = if read_back.is_empty() {
            let req = Request::Create {
                sobject: sobject.to_owned(),
                record,
            };
            (req, key.clone())
        } else {
            let mut b = CompositeBuilder::new(self.conn.version(), true);
            let created = b.create(READ_BACK_CREATE, sobject, record);
            let fields: Vec<&str> = read_back.iter().map(String::as_str).collect();
            b.get(READ_BACK_GET, sobject, &created, &fields);
            // A sink that makes creates idempotent keys each composite create by its reference.
            (
                Request::Composite(b.build()?),
                format!("{key}/{READ_BACK_CREATE}"),
            )
        };
        match self.write(w, req, Some(record_key.clone())).await? {
            WriteOutcome::Done(v) => self.created(sobject, v, read_back).await,
            WriteOutcome::Queued { reference } => {
                // No id yet: remember the key the record will be found by, so a later write
                // of the call (an intent's) can reach it, queued behind this one.
                if let Some((field, value)) = self.sink.upsert_key(sobject, &keyed_as)
                    && let Ok(mut p) = w.pending.lock()
                {
                    *p = Some(Pending {
                        sobject: sobject.to_owned(),
                        field,
                        value,
                        record_key,
                    });
                }
                Ok(queued_result(&reference))
            }
        }
    }

    /// The answer to a create: `{id, success}` and the `read_back` fields. The org's answer is
    /// a save result, or with `read_back` the composite answer of the create and its read; a
    /// create whose answer was lost and then found by a lookup answers a save result alone,
    /// and its fields are then read with one more request.
    async fn created(
        &self,
        sobject: &str,
        answer: Value,
        read_back: &[String],
    ) -> Result<Value, ActionError> {
        let (id, mut fields) = if answer.get("compositeResponse").is_some() {
            let resp: CompositeResponse = decode(answer)?;
            if !resp.all_succeeded() {
                return Err(composite_refusal(&resp, "the record could not be saved"));
            }
            let id = resp.get(READ_BACK_CREATE).and_then(|s| s.id());
            let fields = resp
                .get(READ_BACK_GET)
                .and_then(|s| s.body.as_object().cloned())
                .unwrap_or_default();
            (id, fields)
        } else {
            let r: SaveResult = decode(answer)?;
            (r.id, Map::new())
        };
        let missing: Vec<&str> = read_back
            .iter()
            .map(String::as_str)
            .filter(|f| !fields.contains_key(*f))
            .collect();
        if let (Some(id), false) = (id, missing.is_empty()) {
            // Rare: only after a lost answer; the record is there, its fields one read away.
            if let Ok(rec) = self.conn.get(sobject, id, &missing).await {
                fields.extend(rec);
            }
        }
        let mut out = json!({"id": id.map(|i| i.to_string()), "success": id.is_some()});
        for f in read_back {
            if let Some(v) = fields.get(f).filter(|v| !v.is_null()) {
                out[f.as_str()] = v.clone();
            }
        }
        Ok(out)
    }

    /// Updates one record through the sink: `done` on success, or the queued answer.
    async fn update(
        &self,
        w: &WriteCtx<'_>,
        sobject: &str,
        id: Id,
        record: Record,
        done: Value,
    ) -> Result<Value, ActionError> {
        let key = format!("{sobject}:{id}");
        let req = Request::Update {
            sobject: sobject.to_owned(),
            id,
            record,
        };
        match self.write(w, req, Some(key)).await? {
            WriteOutcome::Done(_) => Ok(done),
            WriteOutcome::Queued { reference } => Ok(queued_result(&reference)),
        }
    }

    /// Runs template `t` with `args` checked against its parameters first.
    ///
    /// # Errors
    /// Arguments that do not fit the template or the object's describe; what the org or the
    /// sink answered.
    async fn run_template(
        &self,
        t: &Template,
        args: Args,
        w: &WriteCtx<'_>,
    ) -> Result<Value, ActionError> {
        let args = check_args(t, args, w.zone)?;
        match t.op {
            Op::Search => self.search(t, &args, w.caller_phone).await,
            Op::Get => self.get_record(t, &args, w).await,
            Op::Create => self.create_from_template(t, args, w).await,
            Op::Update => self.update_from_template(t, args, w).await,
            Op::Delete => self.delete_record(t, &args, w).await,
            Op::CreateNote => self.create_note(&args, w).await,
            Op::GetNote => self.get_note(t, &args, w).await,
            Op::UpdateNote => self.update_note(t, &args, w).await,
            Op::GlobalSearch => self.global_search(&args).await,
            Op::RunQuery => self.run_query(&args).await,
            Op::CreateRecord => self.create_record(&args, w).await,
            Op::UpdateRecord => self.update_record(&args, w).await,
            Op::UpsertRecord => self.upsert_record(&args, w).await,
            Op::BulkCreate | Op::BulkUpdate => self.bulk(t.op, &args, w).await,
            Op::CustomApiCall => self.custom_api_call(&args, w).await,
            Op::CreateTask => self.create_task(args, w).await,
        }
    }

    /// `get`: the template's fields of the record `record_id`.
    async fn get_record(
        &self,
        t: &Template,
        args: &Args,
        w: &WriteCtx<'_>,
    ) -> Result<Value, ActionError> {
        let object = t.object.as_deref().unwrap_or_default();
        let id = self.record_id(w, object, args, "record_id").await?;
        let fields: Vec<&str> = t.fields.iter().map(String::as_str).collect();
        let rec = self.conn.get(object, id, &fields).await?;
        Ok(compact::compact(Value::Object(rec), MAX_LIST, false))
    }

    /// `create`: the template's defaults, then the arguments, then its fixed values.
    async fn create_from_template(
        &self,
        t: &Template,
        args: Args,
        w: &WriteCtx<'_>,
    ) -> Result<Value, ActionError> {
        let object = t.object.as_deref().unwrap_or_default();
        check_one_of(t, &args)?;
        let mut rec = Record::new();
        for (k, v) in &t.defaults {
            rec.insert(k.clone(), special(v));
        }
        rec.extend(args);
        for (k, v) in &t.fixed {
            rec.insert(k.clone(), v.clone());
        }
        if object == "Event" {
            check_event_times(&rec)?;
        }
        self.validate_record(w, object, &mut rec, false).await?;
        self.create(w, object, rec, &t.read_back).await
    }

    /// `update`: the record `record_id` (or `opportunity_id`) gets the other arguments and the
    /// entries of `field_values`.
    async fn update_from_template(
        &self,
        t: &Template,
        mut args: Args,
        w: &WriteCtx<'_>,
    ) -> Result<Value, ActionError> {
        let object = t.object.as_deref().unwrap_or_default();
        if let Some(v) = args.remove("opportunity_id") {
            args.entry("record_id").or_insert(v);
        }
        if let Some(Value::Object(fv)) = args.remove("field_values") {
            for (k, v) in fv {
                args.entry(k).or_insert(v);
            }
        }
        if !args.contains_key("record_id") {
            return Err(ActionError::missing(&t.name, vec!["record_id".into()]));
        }
        let id = self.record_id(w, object, &args, "record_id").await?;
        args.remove("record_id");
        if args.is_empty() {
            return Err(ActionError::new(
                ErrorCode::MissingRequired,
                format!("{} needs at least one field to change", t.name),
            ));
        }
        let mut rec: Record = args;
        self.validate_record(w, object, &mut rec, true).await?;
        let fields: Vec<String> = rec.keys().cloned().collect();
        let done = json!({"id": id.to_string(), "updated": fields});
        self.update(w, object, id, rec, done).await
    }

    /// `delete`: the record `record_id`.
    async fn delete_record(
        &self,
        t: &Template,
        args: &Args,
        w: &WriteCtx<'_>,
    ) -> Result<Value, ActionError> {
        let object = t.object.as_deref().unwrap_or_default();
        let id = self.record_id(w, object, args, "record_id").await?;
        let req = Request::Delete {
            sobject: object.to_owned(),
            id,
        };
        match self.write(w, req, Some(format!("{object}:{id}"))).await? {
            WriteOutcome::Done(_) => Ok(json!({"id": id.to_string(), "deleted": true})),
            WriteOutcome::Queued { reference } => Ok(queued_result(&reference)),
        }
    }

    /// `get_note`: the note `record_id` with its text as `Body` (when it can be read).
    async fn get_note(
        &self,
        t: &Template,
        args: &Args,
        w: &WriteCtx<'_>,
    ) -> Result<Value, ActionError> {
        let object = t.object.as_deref().unwrap_or_default();
        let id = self.record_id(w, object, args, "record_id").await?;
        let fields: Vec<&str> = t.fields.iter().map(String::as_str).collect();
        let mut rec = self.conn.get("ContentNote", id, &fields).await?;
        let raw = self
            .conn
            .raw(RawRequest {
                method: Method::Get,
                path: format!("sobjects/ContentNote/{id}/Content"),
                query: vec![],
                headers: vec![],
                body: None,
            })
            .await;
        if let Ok(r) = raw {
            rec.insert(
                "Body".into(),
                Value::String(String::from_utf8_lossy(&r.body).into_owned()),
            );
            rec.remove("TextPreview");
        }
        Ok(compact::compact(Value::Object(rec), MAX_LIST, false))
    }

    /// `update_note`: a new `Title` or `Body` (sent base64-encoded as `Content`).
    async fn update_note(
        &self,
        t: &Template,
        args: &Args,
        w: &WriteCtx<'_>,
    ) -> Result<Value, ActionError> {
        let object = t.object.as_deref().unwrap_or_default();
        let id = self.record_id(w, object, args, "record_id").await?;
        let mut rec = Record::new();
        if let Some(t) = args.get("Title") {
            rec.insert("Title".into(), t.clone());
        }
        if let Some(Value::String(b)) = args.get("Body") {
            rec.insert(
                "Content".into(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
            );
        }
        if rec.is_empty() {
            return Err(ActionError::missing(&t.name, vec!["Title or Body".into()]));
        }
        let done = json!({"id": id.to_string(), "updated": true});
        self.update(w, "ContentNote", id, rec, done).await
    }

    /// `create_record`: `fields` as a new record of `sobject`.
    async fn create_record(&self, args: &Args, w: &WriteCtx<'_>) -> Result<Value, ActionError> {
        let sobject = sobject_arg(args)?;
        let mut rec = object_arg(args, "fields")?;
        self.validate_record(w, &sobject, &mut rec, false).await?;
        self.create(w, &sobject, rec, &[]).await
    }

    /// `update_record`: `fields` set on the record `record_id` of `sobject`.
    async fn update_record(&self, args: &Args, w: &WriteCtx<'_>) -> Result<Value, ActionError> {
        let sobject = sobject_arg(args)?;
        let id = self.record_id(w, &sobject, args, "record_id").await?;
        let mut rec = object_arg(args, "fields")?;
        self.validate_record(w, &sobject, &mut rec, true).await?;
        let fields: Vec<String> = rec.keys().cloned().collect();
        let done = json!({"id": id.to_string(), "updated": fields});
        self.update(w, &sobject, id, rec, done).await
    }

    /// `upsert_record`: `fields` on the record of `sobject` whose `external_id_field` is
    /// `external_id`, made when there is none.
    async fn upsert_record(&self, args: &Args, w: &WriteCtx<'_>) -> Result<Value, ActionError> {
        let sobject = sobject_arg(args)?;
        let field = str_arg(args, "external_id_field")?;
        if !is_api_name(&field) {
            return Err(ActionError::invalid(
                "external_id_field",
                format!("'{field}' is not a field name"),
            ));
        }
        let value = str_arg(args, "external_id")?;
        let mut rec = object_arg(args, "fields")?;
        self.validate_record(w, &sobject, &mut rec, true).await?;
        let key = format!("{sobject}:{field}:{value}");
        let req = Request::Upsert {
            sobject,
            field,
            value,
            record: rec,
        };
        match self.write(w, req, Some(key)).await? {
            WriteOutcome::Done(v) => {
                let r: SaveResult = decode(v)?;
                Ok(json!({"id": r.id.map(|i| i.to_string()), "created": r.created}))
            }
            WriteOutcome::Queued { reference } => Ok(queued_result(&reference)),
        }
    }

    /// `create_task`: a follow-up Task from snake_case parameters, `Not Started`.
    async fn create_task(&self, mut args: Args, w: &WriteCtx<'_>) -> Result<Value, ActionError> {
        let mut rec = Record::new();
        for (from, to) in [
            ("subject", "Subject"),
            ("description", "Description"),
            ("activity_date", "ActivityDate"),
            ("who_id", "WhoId"),
            ("what_id", "WhatId"),
        ] {
            if let Some(v) = args.remove(from) {
                rec.insert(to.into(), v);
            }
        }
        rec.insert("Status".into(), Value::from("Not Started"));
        self.create(w, "Task", rec, &[]).await
    }

    async fn search(
        &self,
        t: &Template,
        args: &Args,
        caller_phone: Option<&str>,
    ) -> Result<Value, ActionError> {
        let object = t.object.as_deref().unwrap_or_default();
        let term = args
            .get("search_term")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty());
        if let Some(term) = term {
            check_search_term(term)?;
        }
        // Names and numbers as speech gives them: the term read as said, the records ranked.
        let spoken = match (t.phone_search, term, object) {
            (true, Some(term), o) => spoken::profile(o).map(|p| (p, Term::read(term))),
            _ => None,
        };
        let said = term.map(|term| {
            spoken
                .as_ref()
                .and_then(|(_, s)| s.search_text(term))
                .unwrap_or_else(|| term.to_owned())
        });
        let term = said.as_deref();
        let mut fields = t.fields.clone();
        if let Some((p, _)) = &spoken {
            for f in p.fields() {
                if !fields.iter().any(|x| x == f) {
                    fields.push(f.to_owned());
                }
            }
        }
        let mut q = QueryBuilder::new(object).select(fields.iter().cloned());
        let mut fixed: Option<Cond> = None;
        for (field, value) in &t.filters {
            let c = match value {
                Value::Bool(b) => Cond::eq(field.clone(), *b),
                Value::String(s) if s == "$language" => Cond::eq(
                    field.clone(),
                    args.get("language")
                        .and_then(Value::as_str)
                        .unwrap_or("en_US")
                        .to_owned(),
                ),
                Value::String(s) => Cond::eq(field.clone(), s.clone()),
                _ => continue,
            };
            fixed = Some(match fixed {
                Some(f) => f.and(c),
                None => c,
            });
        }
        let fixed_filters = fixed.clone();
        let limit = t.limit.unwrap_or(10);
        if let Some(term) = term {
            let exact = t
                .exact_fields
                .iter()
                .find(|(_, shape)| {
                    shape.as_str() == "digits" && term.chars().all(|c| c.is_ascii_digit())
                })
                .map(|(f, _)| f.clone());
            if t.phone_search && exact.is_none() && looks_like_phone(term) {
                let mut r = ReturningBuilder::new(object)
                    .fields(fields.iter().cloned())
                    .limit(limit);
                if let Some(f) = fixed.clone() {
                    r = r.filter(f);
                }
                let sosl = SearchBuilder::phrase(term)
                    .in_fields(SearchGroup::Phone)
                    .returning(r)
                    .to_sosl()
                    .map_err(|e| ActionError::invalid("search_term", e.to_string()))?;
                let found = self.conn.search(&sosl).await?;
                if !found.search_records.is_empty() {
                    let n = found.search_records.len() as u64;
                    let recs = found
                        .search_records
                        .into_iter()
                        .map(Value::Object)
                        .collect();
                    if let Some((p, said)) = &spoken {
                        let country = spoken::caller_country(caller_phone);
                        let ranked = spoken::rank(p, said, country.as_deref(), recs);
                        let answer = spoken::answer(p, said, ranked, n, false);
                        return Ok(spoken_result(t, answer, n, false));
                    }
                    return Ok(compact::records(recs, n, MAX_LIST, false));
                }
            }
            let cond = match exact {
                Some(f) => Cond::eq(f, term.to_owned()),
                None => {
                    let mut it = t.search_fields.iter();
                    let Some(first) = it.next() else {
                        return Err(ActionError::invalid(
                            "search_term",
                            "this action takes no search term",
                        ));
                    };
                    let mut c = Cond::like(first.clone(), LikePattern::contains(term));
                    for f in it {
                        c = c.or(Cond::like(f.clone(), LikePattern::contains(term)));
                    }
                    // The end of a number is found however the number is written, in the
                    // same query.
                    if let Some((p, said @ Term::Digits { digits, .. })) = &spoken
                        && digits.len() < 7
                        && let Some(ends) = spoken::candidates(p, said)
                    {
                        c = c.or(ends);
                    }
                    c
                }
            };
            fixed = Some(match fixed {
                Some(f) => f.and(cond),
                None => cond,
            });
        }
        if let Some(f) = fixed {
            q = q.filter(f);
        }
        let order = t.order_by.as_ref().map(|ob| {
            let mut parts = ob.split_whitespace();
            let field = parts.next().unwrap_or("LastModifiedDate").to_owned();
            let dir = match parts.next() {
                Some(d) if d.eq_ignore_ascii_case("ASC") => Direction::Asc,
                _ => Direction::Desc,
            };
            (field, dir)
        });
        if let Some((field, dir)) = &order {
            q = q.order_by(field.clone(), *dir);
        }
        let soql = q
            .limit(limit)
            .to_soql()
            .map_err(|e| ActionError::template(format!("search query: {e}")))?;
        tracing::debug!(%soql, "search");
        let r = self.conn.query::<Record>(&soql).await?;
        let recs: Vec<Value> = r.records.into_iter().map(Value::Object).collect();
        let Some((p, said)) = &spoken else {
            return Ok(compact::records(recs, r.total_size, MAX_LIST, false));
        };
        let country = spoken::caller_country(caller_phone);
        if !recs.is_empty() {
            let ranked = spoken::rank(p, said, country.as_deref(), recs);
            let answer = spoken::answer(p, said, ranked, r.total_size, false);
            return Ok(spoken_result(t, answer, r.total_size, false));
        }
        // Nothing as said: ask for the records it may have been, and rank them here.
        let Some(cond) = spoken::candidates(p, said) else {
            return Ok(compact::records(recs, 0, MAX_LIST, false));
        };
        let cond = match fixed_filters {
            Some(f) => f.and(cond),
            None => cond,
        };
        let mut q = QueryBuilder::new(object)
            .select(fields.iter().cloned())
            .filter(cond);
        if let Some((field, dir)) = &order {
            q = q.order_by(field.clone(), *dir);
        }
        let soql = q
            .limit(spoken::MAX_CANDIDATES)
            .to_soql()
            .map_err(|e| ActionError::template(format!("search query: {e}")))?;
        tracing::debug!(%soql, "search: close matches");
        let r = self.conn.query::<Record>(&soql).await?;
        let recs = r.records.into_iter().map(Value::Object).collect();
        let ranked = spoken::rank(p, said, country.as_deref(), recs);
        let answer = spoken::answer(p, said, ranked, 0, true);
        let n = answer.records.len() as u64;
        Ok(spoken_result(t, answer, n, true))
    }

    async fn global_search(&self, args: &Args) -> Result<Value, ActionError> {
        let term = str_arg(args, "search_term")?;
        let term = term.trim();
        check_search_term(term)?;
        let returning = [
            (
                "Contact",
                &["Id", "Name", "Email", "Phone", "AccountId"][..],
            ),
            ("Lead", &["Id", "Name", "Company", "Email", "Phone"][..]),
            ("Account", &["Id", "Name", "Phone"][..]),
            ("Opportunity", &["Id", "Name", "StageName", "AccountId"][..]),
            ("Case", &["Id", "CaseNumber", "Subject", "Status"][..]),
        ];
        let mut b = if looks_like_phone(term) {
            SearchBuilder::phrase(term).in_fields(SearchGroup::Phone)
        } else {
            SearchBuilder::words(term).in_fields(SearchGroup::All)
        };
        for (o, f) in returning {
            b = b.returning(ReturningBuilder::new(o).fields(f.iter().copied()));
        }
        let sosl = b.limit(20).to_sosl().map_err(|e| {
            ActionError::invalid("search_term", format!("cannot search for that: {e}"))
        })?;
        let found = self.conn.search(&sosl).await?;
        let n = found.search_records.len() as u64;
        let recs = found
            .search_records
            .into_iter()
            .map(Value::Object)
            .collect();
        Ok(compact::records(recs, n, MAX_LIST, true))
    }

    async fn run_query(&self, args: &Args) -> Result<Value, ActionError> {
        let soql = str_arg(args, "soql")?;
        let n = soql.chars().count();
        if n > MAX_SOQL_CHARS {
            return Err(ActionError::invalid(
                "soql",
                format!("the query is {n} characters; Salesforce takes at most {MAX_SOQL_CHARS}"),
            ));
        }
        if let Err(e) = callforce_soql::parse_query(&soql) {
            return Err(ActionError::invalid(
                "soql",
                format!("not a valid SOQL SELECT: {e}"),
            ));
        }
        let r = self
            .conn
            .query::<Record>(&soql)
            .await
            .map_err(|e| ActionError::from(e).for_field("soql"))?;
        let recs = r.records.into_iter().map(Value::Object).collect();
        Ok(compact::records(
            recs,
            r.total_size,
            MAX_QUERY_RECORDS,
            false,
        ))
    }

    async fn create_note(&self, args: &Args, w: &WriteCtx<'_>) -> Result<Value, ActionError> {
        let title = str_arg(args, "Title")?;
        let body = args.get("Body").and_then(Value::as_str).unwrap_or_default();
        let mut note = Record::new();
        note.insert("Title".into(), Value::String(title));
        note.insert(
            "Content".into(),
            Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
        );
        let mut b = CompositeBuilder::new(self.conn.version(), true);
        let r = b.create("note", "ContentNote", note);
        let linked = args.get("LinkedEntityId").and_then(Value::as_str);
        if let Some(linked) = linked {
            let mut link = Record::new();
            link.insert("ContentDocumentId".into(), Value::String(r.id()));
            link.insert("LinkedEntityId".into(), Value::String(linked.to_owned()));
            link.insert("ShareType".into(), Value::from("V"));
            b.create("link", "ContentDocumentLink", link);
        }
        let req = b.build()?;
        let resp: CompositeResponse = match self.write(w, Request::Composite(req), None).await? {
            WriteOutcome::Done(v) => decode(v)?,
            WriteOutcome::Queued { reference } => return Ok(queued_result(&reference)),
        };
        if !resp.all_succeeded() {
            return Err(composite_refusal(&resp, "the note could not be saved"));
        }
        let id = resp.get("note").and_then(|s| s.id()).map(|i| i.to_string());
        Ok(json!({"id": id, "linked_to": linked}))
    }

    async fn bulk(&self, op: Op, args: &Args, w: &WriteCtx<'_>) -> Result<Value, ActionError> {
        let sobject = sobject_arg(args)?;
        let Some(Value::Array(items)) = args.get("records") else {
            return Err(ActionError::missing("this action", vec!["records".into()]));
        };
        if items.is_empty() || items.len() > 200 {
            return Err(ActionError::invalid(
                "records",
                "give between 1 and 200 records",
            ));
        }
        let mut records = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Value::Object(rec) = item else {
                return Err(ActionError::invalid(
                    "records",
                    format!("record {i} is not an object"),
                ));
            };
            let mut rec = rec.clone();
            if op == Op::BulkUpdate {
                let id = rec
                    .get("Id")
                    .or_else(|| rec.get("id"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if Id::parse(id).is_err() {
                    return Err(ActionError::malformed_id(
                        &format!("records[{i}].Id"),
                        id,
                        "is not a Salesforce id",
                    ));
                }
            }
            self.validate_record(w, &sobject, &mut rec, op == Op::BulkUpdate)
                .await?;
            rec.insert("attributes".into(), json!({"type": sobject}));
            records.push(rec);
        }
        let req = if op == Op::BulkCreate {
            Request::CollectionsCreate {
                all_or_none: false,
                records,
            }
        } else {
            Request::CollectionsUpdate {
                all_or_none: false,
                records,
            }
        };
        let results: Vec<SaveResult> = match self.write(w, req, None).await? {
            WriteOutcome::Done(v) => decode(v)?,
            WriteOutcome::Queued { reference } => return Ok(queued_result(&reference)),
        };
        let ok = results.iter().filter(|r| r.success).count();
        let list: Vec<Value> = results
            .iter()
            .map(|r| {
                if r.success {
                    json!({"id": r.id.map(|i| i.to_string())})
                } else {
                    json!({"error": r.errors.first().map(|e| e.message.clone())})
                }
            })
            .collect();
        Ok(
            json!({"succeeded": ok, "failed": results.len() - ok, "results": compact::compact(Value::Array(list), 200, false)}),
        )
    }

    async fn custom_api_call(&self, args: &Args, w: &WriteCtx<'_>) -> Result<Value, ActionError> {
        let request = self.raw_call(args)?;
        let method = request.method;
        if method != Method::Get {
            // A write: through the sink (budget, retries, queue, dead letters, audit).
            let key = raw_record_key(&request.path);
            return match self.write(w, Request::Raw(request), key).await? {
                WriteOutcome::Done(body) => {
                    Ok(json!({"success": true, "body": compact::compact(body, MAX_LIST, true)}))
                }
                WriteOutcome::Queued { reference } => Ok(queued_result(&reference)),
            };
        }
        let r = self.conn.raw(request).await?;
        let body = r.json().unwrap_or(Value::Null);
        Ok(json!({"status": r.status, "body": compact::compact(body, MAX_LIST, true)}))
    }

    /// The request of a `custom_api_call`, checked as the client will send it: the method, the
    /// path (resolved; under the API's roots), the headers (RFC 9110), the URL's length.
    ///
    /// # Errors
    /// What to fix, naming `method`, `path` or `headers`, before a preview or a write exists.
    fn raw_call(&self, args: &Args) -> Result<RawRequest, ActionError> {
        let method = match str_arg(args, "method")?.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PATCH" => Method::Patch,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            other => {
                return Err(ActionError::not_one_of(
                    ErrorCode::InvalidArgument,
                    "method",
                    "method",
                    other,
                    &["GET", "POST", "PATCH", "PUT", "DELETE"].map(String::from),
                ));
            }
        };
        let full = str_arg(args, "path")?;
        let (path, query) = split_path(&full, self.conn.version())?;
        let mut headers = Vec::new();
        if let Some(Value::Object(h)) = args.get("headers") {
            if h.len() > MAX_RAW_HEADERS {
                return Err(ActionError::invalid(
                    "headers",
                    format!("{} headers given; the limit is {MAX_RAW_HEADERS}", h.len()),
                ));
            }
            for (k, v) in h {
                let v = v
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string());
                // NB: checked here, before the write reaches the sink: a header the HTTP
                // stack cannot send must be refused, never queued.
                check_header(k, &v).map_err(|e| client_refusal("headers", e))?;
                headers.push((k.clone(), v));
            }
        }
        let request = RawRequest {
            method,
            path,
            query,
            headers,
            body: args.get("body").cloned(),
        };
        // Whatever the client would refuse to send (a URL longer than Salesforce takes) is
        // refused now, so a write that cannot be sent is never handed to the sink.
        Request::Raw(request.clone())
            .to_http(self.conn.version())
            .map_err(|e| client_refusal("path", e))?;
        Ok(request)
    }

    /// The describe a write of `action` to `object` is checked against: the one the connection
    /// holds (the service fetches the describes of every object its templates write when the
    /// connection comes up, keeps them in its store and refreshes them in the background), so
    /// no tool call waits on a describe. With none held, a write queued at once is queued
    /// unchecked (the org checks it when it is sent) and any other write fetches it.
    async fn describe_for(
        &self,
        action: &str,
        object: &str,
    ) -> Result<Option<Arc<SObjectDescribe>>, ActionError> {
        if let Some(d) = self.conn.held_describe(object) {
            return Ok(Some(d));
        }
        if self.queues_at_once(action) {
            return Ok(None);
        }
        Ok(Some(self.conn.describe(object).await?))
    }

    /// Parses the id in `args[name]` and checks it is an id of `object` (by key prefix, which
    /// never changes, so a describe held past its freshness serves).
    async fn record_id(
        &self,
        w: &WriteCtx<'_>,
        object: &str,
        args: &Args,
        name: &str,
    ) -> Result<Id, ActionError> {
        let held = self.conn.held_describe(object);
        let describe = match held {
            Some(d) => Some(d),
            None if self.queues_at_once(w.action) => None,
            None => self.conn.describe(object).await.ok(),
        };
        record_id(describe.as_deref(), object, args, name)
    }

    /// Checks a record's field values against the object's describe: field names, picklist
    /// values (canonical spelling restored, else the closest value suggested), reference ids.
    async fn validate_record(
        &self,
        w: &WriteCtx<'_>,
        object: &str,
        rec: &mut Record,
        update: bool,
    ) -> Result<(), ActionError> {
        self.validate_fields(w.action, object, rec, update, w.zone)
            .await
    }

    /// The request custom action `c` renders from `args`, its records checked against the
    /// describe ([`Actions::check_custom_write`]).
    async fn render_checked(
        &self,
        c: &crate::custom::CustomAction,
        args: &Args,
        ctx: &Args,
    ) -> Result<RawRequest, ActionError> {
        let mut req =
            crate::custom::render(c, &self.templating, args.clone(), ctx, self.conn.version())?;
        self.check_custom_write(c, args, &mut req, crate::zone::of_context(ctx))
            .await?;
        Ok(req)
    }

    /// Checks the sObject records a custom action's rendered write carries (see
    /// [`crate::raw_write::records`]) as [`Actions::validate_record`] checks a template's, with
    /// the describe `action`'s write is checked against; picklist values are put back in the
    /// org's spelling in `request`. A value that refers to an earlier subrequest of a composite
    /// request (`@{ref.id}`) is left to the org. A refused value names the parameter of `args`
    /// that gave it when the field's value in `c`'s body is that parameter's placeholder alone,
    /// else the field.
    ///
    /// # Errors
    /// What to fix, before a preview or a write exists.
    async fn check_custom_write(
        &self,
        c: &crate::custom::CustomAction,
        args: &Args,
        request: &mut RawRequest,
        zone: crate::zone::Tz,
    ) -> Result<(), ActionError> {
        let Some(body) = request.body.as_mut() else {
            return Ok(());
        };
        for r in crate::raw_write::records(request.method.as_str(), &request.path, body) {
            let mut checked: Record = r
                .record
                .iter()
                .filter(|(_, v)| !(r.refs && v.as_str().is_some_and(|s| s.starts_with("@{"))))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if let Err(e) = self
                .validate_fields(&c.name, &r.object, &mut checked, r.update, zone)
                .await
            {
                // A value the model gave is named by its parameter; a field the object does
                // not have is the definition's, and keeps its name.
                let value = match (
                    e.field.as_deref(),
                    self.describe_for(&c.name, &r.object).await,
                ) {
                    (Some(f), Ok(Some(d))) => d.field(f).is_some(),
                    _ => false,
                };
                return Err(if value {
                    let refused = e.field.as_deref().and_then(|f| checked.get(f));
                    crate::custom::name_parameter(c, args, refused, e)
                } else {
                    e
                });
            }
            // NB: `insert` keeps a key's place, so the body is sent in its template's order.
            r.record.extend(checked);
        }
        Ok(())
    }

    /// [`Actions::validate_record`] for a write of `action`; a date-time without an offset is
    /// read in `zone` and sent in UTC.
    async fn validate_fields(
        &self,
        action: &str,
        object: &str,
        rec: &mut Record,
        update: bool,
        zone: crate::zone::Tz,
    ) -> Result<(), ActionError> {
        let Some(d) = self.describe_for(action, object).await? else {
            return Ok(());
        };
        match check_fields(&d, object, rec, update, zone) {
            // NB: a describe held past its freshness may predate a field or value the org has
            // now: a blocking write asks the org once before refusing.
            Err(_) if !self.queues_at_once(action) && !self.conn.has_fresh_describe(object) => {
                let fresh = self.conn.describe(object).await?;
                check_fields(&fresh, object, rec, update, zone)
            }
            r => r,
        }
    }
}

/// Checks a record's field values against `d`, the describe of `object`: field names,
/// picklist values (canonical spelling restored), reference ids, text lengths.
fn check_fields(
    d: &SObjectDescribe,
    object: &str,
    rec: &mut Record,
    update: bool,
    zone: crate::zone::Tz,
) -> Result<(), ActionError> {
    for (k, v) in rec.iter_mut() {
        if k == "attributes" || (update && (k == "Id" || k == "id")) {
            continue;
        }
        let Some(f) = d.field(k) else {
            let names: Vec<String> = d.fields.iter().map(|f| f.name.clone()).collect();
            let mut e = ActionError::not_one_of(
                ErrorCode::InvalidArgument,
                k,
                &format!("{object} field"),
                k,
                &[],
            );
            e.suggestion =
                crate::suggest::closest(k, names.iter().map(String::as_str)).map(Box::from);
            e.message = match &e.suggestion {
                Some(s) => format!("'{k}' is not a field of {object}; did you mean '{s}'?").into(),
                None => format!("'{k}' is not a field of {object}").into(),
            };
            return Err(e);
        };
        match (f.type_.as_str(), &*v) {
            ("picklist", Value::String(s)) => {
                let values: Vec<String> = f
                    .picklist_values
                    .iter()
                    .filter(|p| p.active)
                    .map(|p| p.value.clone())
                    .collect();
                if values.is_empty() || values.iter().any(|p| p == s) {
                    continue;
                }
                if let Some(c) = crate::suggest::canonical(s, values.iter().map(String::as_str)) {
                    *v = Value::String(c.to_owned());
                    continue;
                }
                return Err(ActionError::not_one_of(
                    ErrorCode::InvalidPicklist,
                    k,
                    &f.label,
                    s,
                    &values,
                ));
            }
            // NB: Salesforce reads a date-time without an offset as UTC; the caller meant the
            // call's local time.
            ("datetime", Value::String(s)) => {
                if let Some(utc) = crate::template::iso_datetime_in(s, zone) {
                    *v = Value::String(utc);
                }
            }
            ("reference", Value::String(s)) if Id::parse(s).is_err() => {
                return Err(ActionError::malformed_id(k, s, "is not a Salesforce id"));
            }
            // NB: refused here, not by the org: a non-blocking write is queued before the
            // org sees it, and a value the org refuses would only reach a dead letter.
            (
                "string" | "textarea" | "email" | "phone" | "url" | "combobox" | "encryptedstring",
                Value::String(s),
            ) if f.length > 0 && s.chars().count() > f.length as usize => {
                return Err(ActionError::invalid(
                    k,
                    format!(
                        "{k} ({}) takes at most {} characters; this value has {}: shorten it",
                        f.label,
                        f.length,
                        s.chars().count()
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The reference ids of a create with its read-back (see [`Actions::create`]).
const READ_BACK_CREATE: &str = "record";
const READ_BACK_GET: &str = "read_back";

/// The error of an all-or-none composite request the org rolled back: the message of the
/// subrequest that failed (not the `PROCESSING_HALTED` of the others), else `fallback`.
fn composite_refusal(resp: &CompositeResponse, fallback: &str) -> ActionError {
    let failed = resp.composite_response.iter().find(|s| {
        !(200..300).contains(&s.http_status_code) && s.error_code() != Some("PROCESSING_HALTED")
    });
    let msg = failed
        .and_then(|s| s.body.get(0))
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .unwrap_or(fallback);
    let mut e = ActionError::new(
        ErrorCode::Salesforce,
        format!("Salesforce refused: {msg}; nothing was saved"),
    );
    e.salesforce_code = failed.and_then(|s| s.error_code()).map(Box::from);
    e
}

/// Reads the org's answer to a write as `T`.
fn decode<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, ActionError> {
    serde_json::from_value(v).map_err(|e| {
        ActionError::new(
            ErrorCode::Unavailable,
            format!("Salesforce answered the write in an unexpected form: {e}"),
        )
    })
}

/// Resolves `$today` in a default value.
fn special(v: &Value) -> Value {
    match v.as_str() {
        Some("$today") => Value::String(chrono::Utc::now().date_naive().to_string()),
        _ => v.clone(),
    }
}

/// A ranked search's result: the list (the fields the ranking added left out), and when the
/// best records fit about equally `ambiguous` and the `question` that tells them apart; a list
/// found by a close match rather than the term as given says `approximate`.
fn spoken_result(t: &Template, answer: spoken::Answer, total: u64, approximate: bool) -> Value {
    let keep = |k: &str| {
        k == "attributes"
            || t.fields
                .iter()
                .any(|f| f.split('.').next().is_some_and(|head| head == k))
    };
    let found = !answer.records.is_empty();
    let recs = answer
        .records
        .into_iter()
        .map(|r| match r {
            Value::Object(m) => Value::Object(m.into_iter().filter(|(k, _)| keep(k)).collect()),
            other => other,
        })
        .collect();
    let mut out = compact::records(recs, total, MAX_LIST, false);
    if let Some(o) = out.as_object_mut() {
        if approximate && found {
            o.insert("approximate".into(), Value::Bool(true));
        }
        if let Some(q) = answer.question {
            o.insert("ambiguous".into(), Value::Bool(true));
            o.insert("question".into(), Value::String(q));
        }
    }
    out
}

/// Whether `s` is a phone number in some format: digits with `+ ( ) - . /` and spaces, at least
/// seven digits.
pub fn looks_like_phone(s: &str) -> bool {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    digits >= 7
        && s.chars()
            .all(|c| c.is_ascii_digit() || " +()-./".contains(c))
}

fn is_api_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 80
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn str_arg(args: &Args, name: &str) -> Result<String, ActionError> {
    match args.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Null) | None => Err(ActionError::missing("this action", vec![name.to_owned()])),
        Some(_) => Err(ActionError::invalid(
            name,
            format!("{name} must be a string"),
        )),
    }
}

fn sobject_arg(args: &Args) -> Result<String, ActionError> {
    let s = str_arg(args, "sobject")?;
    if !is_api_name(&s) {
        return Err(ActionError::invalid(
            "sobject",
            format!("'{s}' is not an object API name"),
        ));
    }
    Ok(s)
}

fn object_arg(args: &Args, name: &str) -> Result<Record, ActionError> {
    match args.get(name) {
        Some(Value::Object(m)) if !m.is_empty() => Ok(m
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()),
        Some(Value::Object(_)) | None | Some(Value::Null) => {
            Err(ActionError::missing("this action", vec![name.to_owned()]))
        }
        Some(_) => Err(ActionError::invalid(
            name,
            format!("{name} must be an object of field names to values"),
        )),
    }
}

/// Parses the id in `args[name]` and checks it is an id of `object` (by the key prefix in its
/// describe, when there is one).
fn record_id(
    describe: Option<&SObjectDescribe>,
    object: &str,
    args: &Args,
    name: &str,
) -> Result<Id, ActionError> {
    let s = str_arg(args, name)?;
    let id = Id::parse(&s).map_err(|_| {
        ActionError::malformed_id(
            name,
            &s,
            "is not a Salesforce id (15 or 18 letters and digits)",
        )
    })?;
    if let Some(d) = describe
        && let Some(prefix) = &d.key_prefix
        && id.key_prefix().as_str() != prefix
    {
        return Err(ActionError::malformed_id(
            name,
            &s,
            &format!("is not a {object} id ({object} ids start with {prefix})"),
        ));
    }
    Ok(id)
}

/// Refuses a search term longer than [`MAX_SEARCH_TERM_CHARS`].
fn check_search_term(term: &str) -> Result<(), ActionError> {
    let n = term.chars().count();
    if n > MAX_SEARCH_TERM_CHARS {
        return Err(ActionError::invalid(
            "search_term",
            format!(
                "the search term is {n} characters; the limit is {MAX_SEARCH_TERM_CHARS}: search \
                 for a name, phone number or email"
            ),
        ));
    }
    Ok(())
}

fn check_one_of(t: &Template, args: &Args) -> Result<(), ActionError> {
    for group in &t.one_of {
        let given: Vec<&String> = group
            .iter()
            .filter(|g| args.contains_key(g.as_str()))
            .collect();
        if given.len() != 1 {
            let mut e = ActionError::new(
                ErrorCode::MissingRequired,
                format!("{} needs exactly one of {}", t.name, group.join(", ")),
            );
            if given.is_empty() {
                e.missing = group.clone();
            }
            return Err(e);
        }
    }
    Ok(())
}

fn check_event_times(rec: &Record) -> Result<(), ActionError> {
    let parse = |k: &str| {
        rec.get(k)
            .and_then(Value::as_str)
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
    };
    if let (Some(s), Some(e)) = (parse("StartDateTime"), parse("EndDateTime"))
        && e < s
    {
        return Err(ActionError::invalid(
            "EndDateTime",
            "EndDateTime is before StartDateTime",
        ));
    }
    Ok(())
}

/// Checks arguments against a template's schema before anything is sent: blanks dropped,
/// unknown names, types, enums (canonical spelling restored), ids, ISO 8601 dates (a date-time
/// without an offset read in `zone`, sent in UTC), required.
pub(crate) fn check_args(
    t: &Template,
    args: Args,
    zone: crate::zone::Tz,
) -> Result<Args, ActionError> {
    let props = t
        .parameters
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut out = Args::new();
    for (k, v) in args {
        if v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty()) {
            continue;
        }
        let Some(p) = props.get(&k) else {
            let names: Vec<String> = props.keys().cloned().collect();
            let mut e = ActionError::not_one_of(
                ErrorCode::InvalidArgument,
                &k,
                &format!("parameter of {}", t.name),
                &k,
                &names,
            );
            if e.suggestion.is_none() {
                e.message = format!(
                    "{} has no parameter '{k}'; it takes: {}",
                    t.name,
                    names.join(", ")
                )
                .into();
            }
            return Err(e);
        };
        let ty = p.get("type").and_then(Value::as_str).unwrap_or("string");
        let v = coerce(&k, ty, v)?;
        let v = match (v, p.get("enum").and_then(Value::as_array)) {
            (Value::String(s), Some(allowed)) => {
                let allowed: Vec<String> = allowed
                    .iter()
                    .filter_map(|a| a.as_str().map(str::to_owned))
                    .collect();
                match crate::suggest::canonical(&s, allowed.iter().map(String::as_str)) {
                    Some(c) => Value::String(c.to_owned()),
                    None => {
                        return Err(ActionError::not_one_of(
                            ErrorCode::InvalidPicklist,
                            &k,
                            &k,
                            &s,
                            &allowed,
                        ));
                    }
                }
            }
            (v, _) => v,
        };
        let v = match (p.get("format").and_then(Value::as_str), v) {
            (Some("date-time"), Value::String(s)) => {
                Value::String(crate::template::iso_datetime_in(&s, zone).ok_or_else(|| {
                    ActionError::invalid(
                        &k,
                        format!(
                            "'{s}' is not an ISO 8601 date and time; send e.g. 2026-02-12T10:00:00 (a local time in the call's time zone, {zone}) or 2026-02-12T15:00:00Z"
                        ),
                    )
                })?)
            }
            (Some("date"), Value::String(s)) => {
                Value::String(crate::template::iso_date_in(&s, zone).ok_or_else(|| {
                    ActionError::invalid(&k, format!("'{s}' is not a date; send YYYY-MM-DD"))
                })?)
            }
            (_, v) => v,
        };
        if (k.ends_with("Id") || k.ends_with("_id"))
            && k != "external_id"
            && let Value::String(s) = &v
            && Id::parse(s).is_err()
        {
            return Err(ActionError::malformed_id(
                &k,
                s,
                "is not a Salesforce id (15 or 18 letters and digits)",
            ));
        }
        out.insert(k, v);
    }
    let missing: Vec<String> = t
        .required()
        .into_iter()
        .filter(|r| !out.contains_key(r))
        .collect();
    if !missing.is_empty() {
        return Err(ActionError::missing(&t.name, missing));
    }
    Ok(out)
}

fn coerce(name: &str, ty: &str, v: Value) -> Result<Value, ActionError> {
    let wrong = |what: &str| ActionError::invalid(name, format!("{name} must be {what}"));
    Ok(match (ty, v) {
        ("string", Value::String(s)) => Value::String(s),
        ("string", v @ (Value::Number(_) | Value::Bool(_))) => Value::String(v.to_string()),
        ("number", Value::Number(n)) => Value::Number(n),
        ("number", Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
            .ok_or_else(|| wrong("a number"))?,
        ("integer", Value::Number(n)) if n.is_i64() || n.is_u64() => Value::Number(n),
        ("integer", Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| wrong("a whole number"))?,
        ("boolean", Value::Bool(b)) => Value::Bool(b),
        ("boolean", Value::String(s)) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
        ("boolean", Value::String(s)) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
        ("object", v @ Value::Object(_)) => v,
        ("array", v @ Value::Array(_)) => v,
        ("string", _) => return Err(wrong("a string")),
        ("number" | "integer", _) => return Err(wrong("a number")),
        ("boolean", _) => return Err(wrong("true or false")),
        ("object", _) => return Err(wrong("an object")),
        ("array", _) => return Err(wrong("a list")),
        (_, v) => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_requests_are_previewed_by_what_they_do() {
        for (method, path, effect) in [
            ("POST", "/sobjects/Case", "create"),
            ("post", "/services/data/v59.0/sobjects/Case/", "create"),
            ("PATCH", "/sobjects/Case/500000000000001AAA", "update"),
            ("PUT", "/sobjects/Case/500000000000001AAA", "update"),
            ("PATCH", "/sobjects/Case/Callforce_Key__c/k-1", "upsert"),
            ("DELETE", "/sobjects/Case/500000000000001AAA", "delete"),
            ("DELETE", "/services/apexrest/cases/1", "delete"),
            ("POST", "/composite", "call"),
            ("POST", "/services/apexrest/refunds", "call"),
            ("POST", "/sobjects/Case/500000000000001AAA", "call"),
        ] {
            assert_eq!(raw_effect(method, path), effect, "{method} {path}");
        }
    }

    #[test]
    fn phone_numbers_are_recognised_in_any_format() {
        for (s, want) in [
            ("+15551234567", true),
            ("(555) 123-4567", true),
            ("555.123.4567", true),
            ("Sarah Johnson", false),
            ("12345", false),
            ("555-1234 or 1=1", false),
        ] {
            assert_eq!(looks_like_phone(s), want, "{s}");
        }
    }

    #[test]
    fn arguments_are_checked_before_sending() {
        let c = Catalog::builtin();
        let Some(Action::Template(t)) = c.get("create_case") else {
            panic!("create_case")
        };
        let ok = check_args(
            t,
            serde_json::from_value(json!({"Subject": "x", "Priority": "high", "Origin": ""}))
                .expect("map"),
            crate::zone::Tz::UTC,
        )
        .expect("ok");
        assert_eq!(ok["Priority"], "High");
        assert!(!ok.contains_key("Origin"));
        let e = check_args(
            t,
            serde_json::from_value(json!({"Priority": "urgent-ish"})).expect("map"),
            crate::zone::Tz::UTC,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidPicklist);
        let e = check_args(
            t,
            serde_json::from_value(json!({"ContactId": "003'; DROP"})).expect("map"),
            crate::zone::Tz::UTC,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedId);
        let e = check_args(
            t,
            serde_json::from_value(json!({"Subjet": "x"})).expect("map"),
            crate::zone::Tz::UTC,
        )
        .unwrap_err();
        assert_eq!(e.suggestion.as_deref(), Some("Subject"));
        let Some(Action::Template(t)) = c.get("create_lead") else {
            panic!("create_lead")
        };
        let e = check_args(
            t,
            serde_json::from_value(json!({"LastName": "Doe"})).expect("map"),
            crate::zone::Tz::UTC,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::MissingRequired);
        assert_eq!(e.missing, vec!["Company".to_owned()]);
    }

    #[test]
    fn local_times_in_arguments_are_read_in_the_call_zone() {
        let c = Catalog::builtin();
        let Some(Action::Template(t)) = c.get("schedule_event") else {
            panic!("schedule_event")
        };
        let ny: crate::zone::Tz = "America/New_York".parse().expect("zone");
        let args = |start: &str| -> Args {
            serde_json::from_value(json!({"Subject": "Callback", "StartDateTime": start, "EndDateTime": "2026-12-09T10:30:00"}))
                .expect("map")
        };
        let ok = check_args(t, args("2026-12-09T10:00:00"), ny).expect("ok");
        assert_eq!(ok["StartDateTime"], "2026-12-09T15:00:00.000Z");
        assert_eq!(ok["EndDateTime"], "2026-12-09T15:30:00.000Z");
        let ok = check_args(t, args("2026-12-09T10:00:00Z"), ny).expect("ok");
        assert_eq!(
            ok["StartDateTime"], "2026-12-09T10:00:00.000Z",
            "an offset is kept"
        );
        let ok = check_args(t, args("2026-12-09T10:00:00"), crate::zone::Tz::UTC).expect("ok");
        assert_eq!(ok["StartDateTime"], "2026-12-09T10:00:00.000Z");
        let e = check_args(t, args("tomorrow at ten"), ny).expect_err("not a time");
        assert!(e.message.contains("America/New_York"), "{}", e.message);
    }
}
