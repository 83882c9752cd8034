//! The admin API for writes that failed for good, the audit log and alerts.
//!
//! ```text
//! GET    /v1/deadletters?status=&call_id=&action=&connection_id=&limit=   list
//! GET    /v1/deadletters/{id}             full payload, every attempt's error, call and agent
//! PATCH  /v1/deadletters/{id}             {"payload": {...}} or {"merge": {...}} (RFC 7396)
//! POST   /v1/deadletters/{id}/replay      queue its job again (same idempotency key)
//! POST   /v1/deadletters/replay           {"all": true} or a filter {call_id, action, connection_id}
//! POST   /v1/deadletters/{id}/discard     (or DELETE /v1/deadletters/{id})
//! GET    /v1/audit?call_id=&record_id=&kind=&actor=&from=&to=&after=&limit=   (kind: a prefix, `config.`; actor: `api-key:17`)
//! GET    /v1/audit/verify                 recompute the keyed chain: intact, or the first bad entry
//! GET    /v1/alerts?limit=                the alerts recorded and whether they were delivered
//! POST   /v1/alerts/{id}/acknowledge      seen: it is not posted to the webhook after that
//! GET    /v1/settings                     the workspace's alert webhook (where it points) and retention
//! PUT    /v1/settings                     {"alert_webhook": url|null, "retention_days": 1..365|null}; keys absent are kept
//! POST   /v1/settings/test-alert          a test alert posted to the workspace's webhook now: its status or error
//! GET    /v1/jobs?status=&limit=          queued writes (queued, leased, done, dead), oldest first
//! GET    /v1/jobs/{id}                    one (`17` or the `job-17` an agent heard): status,
//!                                         attempts, every attempt's error, result
//! ```
//!
//! Everything is scoped to the caller's workspace: another workspace's dead letter answers 404
//! exactly like a missing one. Every edit, replay and discard is appended to the audit log in
//! the same transaction, with the API key as the actor. The operations are the core's
//! ([`callforce_app::admin::Admin`]); the handlers parse the query and body, ask it, and render
//! what it answers as JSON.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use callforce_app::admin::{
    Admin, DEFAULT_LIMIT, MAX_LIMIT, dead_letter_id, dead_letter_status, invalid, job_status,
};
use callforce_app::changes::Actor;
use callforce_app::deadletters::{Edit, action_of, payload_value};
use callforce_app::{Caller, Error};
use callforce_store::{
    AlertId, AttemptError, AuditEntry, AuditFilter, DeadLetter, DeadLetterFilter, DeadLetterId,
    DeadLetterStatus, Job, JobId, JobStatus, Store, Verdict,
};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{ErrorBody, answer};

/// The admin routes; merged into the `/v1` router behind its API key check.
pub fn router<S: Clone + Send + Sync + 'static>(store: Store) -> axum::Router<S> {
    axum::Router::new()
        .route("/v1/deadletters", get(list))
        .route("/v1/deadletters/replay", post(replay_many))
        .route(
            "/v1/deadletters/{id}",
            get(show).patch(edit).delete(delete_dead_letter),
        )
        .route("/v1/deadletters/{id}/replay", post(replay_one))
        .route("/v1/deadletters/{id}/discard", post(discard))
        .route("/v1/audit", get(audit))
        .route("/v1/audit/verify", get(verify))
        .route("/v1/alerts", get(alerts))
        .route("/v1/alerts/{id}/acknowledge", post(acknowledge))
        .route("/v1/settings", get(settings).put(put_settings))
        .route("/v1/settings/test-alert", post(test_alert))
        .route("/v1/jobs", get(list_jobs))
        .route("/v1/jobs/{id}", get(show_job))
        .with_state(Admin::new(store))
}

/// The answer: the JSON on success, the core's error as its status and body otherwise.
fn reply<T: serde::Serialize>(r: Result<T, Error>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => answer(e),
    }
}

/// Checks that only `allowed` query parameters were given.
fn only(params: &HashMap<String, String>, allowed: &[&str]) -> Result<(), Error> {
    let mut unknown: Vec<&str> = params
        .keys()
        .map(String::as_str)
        .filter(|k| !allowed.contains(k))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort_unstable();
    Err(invalid(format!(
        "unknown query parameter(s) {}; allowed: {}",
        unknown.join(", "),
        allowed.join(", ")
    )))
}

/// The `limit` parameter, if given.
fn limit_of(params: &HashMap<String, String>) -> Result<Option<u32>, Error> {
    params
        .get("limit")
        .map(|l| callforce_app::admin::limit(l))
        .transpose()
}

fn text(params: &HashMap<String, String>, key: &str) -> Option<String> {
    params.get(key).filter(|v| !v.is_empty()).cloned()
}

/// Where a write failed: an attempt's error.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = AttemptError)]
pub struct AttemptErrorView {
    /// Which attempt (1 for the first).
    pub attempt: u32,
    /// When it failed.
    pub at: DateTime<Utc>,
    /// What the org (or the network) answered.
    pub error: String,
}

/// An attempt's error as the API shows it.
fn attempt_errors(errors: &[AttemptError]) -> Vec<AttemptErrorView> {
    errors
        .iter()
        .map(|e| AttemptErrorView {
            attempt: e.attempt,
            at: e.at,
            error: e.error.clone(),
        })
        .collect()
}

/// A dead letter in a list: what failed and where, without the payload.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct DeadLetterSummary {
    /// Its id.
    #[schema(value_type = i64)]
    pub id: DeadLetterId,
    /// `open`, `replayed` or `discarded`.
    #[schema(value_type = String)]
    pub status: DeadLetterStatus,
    /// The job's kind.
    pub kind: String,
    /// The action that asked for the write.
    pub action: Option<String>,
    /// The call it came from.
    pub call_id: Option<String>,
    /// The agent that asked for it.
    pub agent: Option<String>,
    /// The org connection.
    pub connection_id: String,
    /// How many attempts were made.
    pub attempts: u32,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// When the job died.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

fn summary(dl: &DeadLetter) -> DeadLetterSummary {
    let payload = payload_value(&dl.payload);
    DeadLetterSummary {
        id: dl.id,
        status: dl.status,
        kind: dl.kind.clone(),
        action: action_of(&payload).map(str::to_owned),
        call_id: dl.call_id.clone(),
        agent: dl.agent.clone(),
        connection_id: dl.connection_id.clone(),
        attempts: dl.attempts,
        last_error: dl.errors.last().map(|e| e.error.clone()),
        created_at: dl.created_at,
        updated_at: dl.updated_at,
    }
}

/// The answer of `GET /v1/deadletters`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct DeadLetterList {
    /// The dead letters, newest first.
    pub dead_letters: Vec<DeadLetterSummary>,
}

/// A dead letter in full.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct DeadLetterFull {
    /// Its id.
    #[schema(value_type = i64)]
    pub id: DeadLetterId,
    /// `open`, `replayed` or `discarded`.
    #[schema(value_type = String)]
    pub status: DeadLetterStatus,
    /// The job it came from (a replay requeues this job).
    #[schema(value_type = i64)]
    pub job_id: JobId,
    /// The job's kind.
    pub kind: String,
    /// The action that asked for the write.
    pub action: Option<String>,
    /// The call it came from.
    pub call_id: Option<String>,
    /// The agent that asked for it.
    pub agent: Option<String>,
    /// The org connection.
    pub connection_id: String,
    /// The job's idempotency key (kept by a replay).
    pub idempotency_key: String,
    /// The job's ordering key.
    pub ordering_key: String,
    /// How many attempts were made.
    pub attempts: u32,
    /// Every attempt's error, oldest first.
    pub errors: Vec<AttemptErrorView>,
    /// The write's payload (editable while open).
    pub payload: Value,
    /// When the job died.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

fn full(dl: &DeadLetter) -> DeadLetterFull {
    let payload = payload_value(&dl.payload);
    DeadLetterFull {
        id: dl.id,
        status: dl.status,
        job_id: dl.job_id,
        kind: dl.kind.clone(),
        action: action_of(&payload).map(str::to_owned),
        call_id: dl.call_id.clone(),
        agent: dl.agent.clone(),
        connection_id: dl.connection_id.clone(),
        idempotency_key: dl.idempotency_key.clone(),
        ordering_key: dl.ordering_key.clone(),
        attempts: dl.attempts,
        errors: attempt_errors(&dl.errors),
        payload,
        created_at: dl.created_at,
        updated_at: dl.updated_at,
    }
}

#[utoipa::path(
    get,
    operation_id = "list_dead_letters",
    path = "/v1/deadletters",
    tag = "deadletters",
    params(("status" = Option<String>, Query, description = "open, replayed or discarded"), ("call_id" = Option<String>, Query, description = "Only this call's"), ("action" = Option<String>, Query, description = "Only this action's"), ("connection_id" = Option<String>, Query, description = "Only this connection's"), ("limit" = Option<u32>, Query, description = "How many at most")),
    responses(
        (status = 200, description = "The dead letters", body = DeadLetterList),
        (status = 400, description = "A query parameter is not valid", body = ErrorBody),
    )
)]
async fn list(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    reply(
        async {
            only(
                &params,
                &["status", "call_id", "action", "connection_id", "limit"],
            )?;
            let filter = DeadLetterFilter {
                connection_id: text(&params, "connection_id"),
                call_id: text(&params, "call_id"),
                status: params
                    .get("status")
                    .map(|s| dead_letter_status(s))
                    .transpose()?,
                action: text(&params, "action"),
                limit: limit_of(&params)?,
            };
            let found = admin.dead_letters(caller.workspace, &filter).await?;
            Ok(DeadLetterList {
                dead_letters: found.iter().map(summary).collect(),
            })
        }
        .await,
    )
}

#[utoipa::path(
    get,
    operation_id = "show_dead_letter",
    path = "/v1/deadletters/{id}",
    tag = "deadletters",
    params(("id" = String, Path, description = "The dead letter (`17` or `dl-17`)")),
    responses(
        (status = 200, description = "The dead letter", body = DeadLetterFull),
        (status = 400, description = "The id is not valid", body = ErrorBody),
        (status = 404, description = "No such dead letter", body = ErrorBody),
    )
)]
async fn show(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Response {
    reply(
        async {
            let id = dead_letter_id(&raw)?;
            Ok(full(&admin.dead_letter(caller.workspace, id).await?))
        }
        .await,
    )
}

/// A queued write: where it is.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct JobView {
    /// Its id.
    #[schema(value_type = i64)]
    pub id: JobId,
    /// `job-<id>`, as an agent heard it.
    pub reference: String,
    /// `queued`, `leased`, `done` or `dead`.
    #[schema(value_type = String)]
    pub status: JobStatus,
    /// The job's kind.
    pub kind: String,
    /// The action that asked for the write.
    pub action: Option<String>,
    /// The call it came from.
    pub call_id: Option<String>,
    /// The agent that asked for it.
    pub agent: Option<String>,
    /// The org connection.
    pub connection_id: String,
    /// How many attempts were made.
    pub attempts: u32,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// When it runs next.
    pub next_run_at: DateTime<Utc>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// `GET /v1/jobs/{id}` only: its idempotency key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// `GET /v1/jobs/{id}` only: every attempt's error, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<AttemptErrorView>>,
    /// `GET /v1/jobs/{id}` only: what the org answered, once done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// `GET /v1/jobs/{id}` only: the write's payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

/// A job: where a queued write is. `full` adds its payload, every attempt's error and result.
fn job_view(j: &Job, full: bool) -> JobView {
    let payload = payload_value(&j.payload);
    JobView {
        id: j.id,
        reference: format!("job-{}", j.id.0),
        status: j.status,
        kind: j.kind.clone(),
        action: action_of(&payload).map(str::to_owned),
        call_id: j.call_id.clone(),
        agent: j.agent.clone(),
        connection_id: j.connection_id.clone(),
        attempts: j.attempts,
        last_error: j.last_error.clone(),
        next_run_at: j.next_run_at,
        created_at: j.created_at,
        updated_at: j.updated_at,
        idempotency_key: full.then(|| j.idempotency_key.clone()),
        errors: full.then(|| attempt_errors(&j.errors)),
        result: full.then(|| j.result.as_deref().map_or(Value::Null, payload_value)),
        payload: full.then_some(payload),
    }
}

/// The answer of `GET /v1/jobs`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct JobList {
    /// The jobs, oldest first.
    pub jobs: Vec<JobView>,
}

#[utoipa::path(
    get,
    path = "/v1/jobs",
    tag = "jobs",
    params(("status" = Option<String>, Query, description = "queued, leased, done or dead"), ("limit" = Option<u32>, Query, description = "How many at most")),
    responses(
        (status = 200, description = "The jobs", body = JobList),
        (status = 400, description = "A query parameter is not valid", body = ErrorBody),
    )
)]
async fn list_jobs(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    reply(
        async {
            only(&params, &["status", "limit"])?;
            let status = job_status(params.get("status").map_or("", String::as_str))?;
            let limit = limit_of(&params)?.unwrap_or(DEFAULT_LIMIT);
            let jobs = admin.jobs(caller.workspace, status, limit).await?;
            Ok(JobList {
                jobs: jobs.iter().map(|j| job_view(j, false)).collect(),
            })
        }
        .await,
    )
}

#[utoipa::path(
    get,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    params(("id" = String, Path, description = "The job (`17` or `job-17`)")),
    responses(
        (status = 200, description = "The job in full", body = JobView),
        (status = 400, description = "The id is not valid", body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
    )
)]
async fn show_job(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Response {
    reply(
        admin
            .job(caller.workspace, &raw)
            .await
            .map(|j| job_view(&j, true)),
    )
}

/// The body of `PATCH /v1/deadletters/{id}` as an edit.
fn parse_edit(body: &[u8]) -> Result<Edit, Error> {
    let usage = "the body must be JSON: {\"payload\": <the new payload>} to replace it, or {\"merge\": {<fields>}} to change fields (a JSON merge patch; null removes a field)";
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("{usage}; it is not JSON: {e}")))?;
    let Value::Object(mut obj) = body else {
        return Err(invalid(usage));
    };
    match (obj.remove("payload"), obj.remove("merge"), obj.is_empty()) {
        (Some(p), None, true) => Ok(Edit::Replace(p)),
        (None, Some(m), true) => Ok(Edit::Merge(m)),
        _ => Err(invalid(usage)),
    }
}

#[utoipa::path(
    patch,
    operation_id = "edit_dead_letter",
    path = "/v1/deadletters/{id}",
    tag = "deadletters",
    params(("id" = String, Path, description = "The dead letter (`17` or `dl-17`)")),
    request_body(content = Object, description = "{\"payload\": {...}} to replace the payload, or {\"merge\": {...}} (a JSON merge patch)"),
    responses(
        (status = 200, description = "The dead letter, edited", body = DeadLetterFull),
        (status = 400, description = "The id or the body is not valid", body = ErrorBody),
        (status = 404, description = "No such dead letter", body = ErrorBody),
        (status = 409, description = "It is not open", body = ErrorBody),
    )
)]
async fn edit(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    reply(
        async {
            let id = dead_letter_id(&raw)?;
            let edit = parse_edit(&body)?;
            let dl = admin
                .edit_dead_letter(caller.workspace, Actor::of(&caller), id, edit)
                .await?;
            Ok(full(&dl))
        }
        .await,
    )
}

/// A dead letter queued again.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Replayed {
    /// The dead letter.
    #[schema(value_type = i64)]
    pub id: DeadLetterId,
    /// `replayed`.
    #[schema(value_type = String)]
    pub status: &'static str,
    /// The job queued again.
    #[schema(value_type = i64)]
    pub job_id: JobId,
}

#[utoipa::path(
    post,
    operation_id = "replay_dead_letter",
    path = "/v1/deadletters/{id}/replay",
    tag = "deadletters",
    params(("id" = String, Path, description = "The dead letter (`17` or `dl-17`)")),
    responses(
        (status = 200, description = "Queued again", body = Replayed),
        (status = 400, description = "The id is not valid", body = ErrorBody),
        (status = 404, description = "No such dead letter", body = ErrorBody),
        (status = 409, description = "It is not open", body = ErrorBody),
    )
)]
async fn replay_one(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Response {
    reply(
        async {
            let id = dead_letter_id(&raw)?;
            let job = admin
                .replay_dead_letter(caller.workspace, Actor::of(&caller), id)
                .await?;
            Ok(Replayed {
                id,
                status: "replayed",
                job_id: job,
            })
        }
        .await,
    )
}

/// The body of `POST /v1/deadletters/replay`.
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayMany {
    /// `true`: every open dead letter (then no filter).
    #[serde(default)]
    all: bool,
    /// Only this call's.
    #[serde(default)]
    call_id: Option<String>,
    /// Only this action's.
    #[serde(default)]
    action: Option<String>,
    /// Only this connection's.
    #[serde(default)]
    connection_id: Option<String>,
}

/// The body of `POST /v1/deadletters/replay` as the filter of the dead letters to replay: all,
/// or a filter, never both or neither.
fn parse_replay(body: &[u8]) -> Result<DeadLetterFilter, Error> {
    let usage = "the body must be JSON: {\"all\": true} to replay every open dead letter, or a filter {\"call_id\", \"action\", \"connection_id\"}";
    let req: ReplayMany =
        serde_json::from_slice(body).map_err(|e| invalid(format!("{usage}: {e}")))?;
    let filtered = req.call_id.is_some() || req.action.is_some() || req.connection_id.is_some();
    if req.all == filtered {
        return Err(invalid(usage));
    }
    Ok(DeadLetterFilter {
        call_id: req.call_id,
        action: req.action,
        connection_id: req.connection_id,
        status: None,
        limit: Some(MAX_LIMIT),
    })
}

/// The dead letters queued again.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ReplayedMany {
    /// How many.
    pub replayed: usize,
    /// The jobs queued again.
    #[schema(value_type = Vec<i64>)]
    pub job_ids: Vec<JobId>,
}

#[utoipa::path(
    post,
    operation_id = "replay_dead_letters",
    path = "/v1/deadletters/replay",
    tag = "deadletters",
    request_body(content = ReplayMany, description = "{\"all\": true}, or a filter"),
    responses(
        (status = 200, description = "Queued again", body = ReplayedMany),
        (status = 400, description = "The body is not valid", body = ErrorBody),
    )
)]
async fn replay_many(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Response {
    reply(
        async {
            let filter = parse_replay(&body)?;
            let jobs = admin
                .replay_dead_letters(caller.workspace, Actor::of(&caller), &filter)
                .await?;
            Ok(ReplayedMany {
                replayed: jobs.len(),
                job_ids: jobs,
            })
        }
        .await,
    )
}

/// A discarded dead letter.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Discarded {
    /// The dead letter.
    #[schema(value_type = i64)]
    pub id: DeadLetterId,
    /// `discarded`.
    #[schema(value_type = String)]
    pub status: &'static str,
}

#[utoipa::path(
    post,
    operation_id = "discard_dead_letter",
    path = "/v1/deadletters/{id}/discard",
    tag = "deadletters",
    params(("id" = String, Path, description = "The dead letter (`17` or `dl-17`)")),
    responses(
        (status = 200, description = "Discarded", body = Discarded),
        (status = 400, description = "The id is not valid", body = ErrorBody),
        (status = 404, description = "No such dead letter", body = ErrorBody),
        (status = 409, description = "It is not open", body = ErrorBody),
    )
)]
async fn discard(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Response {
    reply(
        async {
            let id = dead_letter_id(&raw)?;
            admin
                .discard_dead_letter(caller.workspace, Actor::of(&caller), id)
                .await?;
            Ok(Discarded {
                id,
                status: "discarded",
            })
        }
        .await,
    )
}

#[utoipa::path(
    delete,
    operation_id = "delete_dead_letter",
    path = "/v1/deadletters/{id}",
    tag = "deadletters",
    params(("id" = String, Path, description = "The dead letter (`17` or `dl-17`)")),
    responses(
        (status = 200, description = "Discarded", body = Discarded),
        (status = 400, description = "The id is not valid", body = ErrorBody),
        (status = 404, description = "No such dead letter", body = ErrorBody),
        (status = 409, description = "It is not open", body = ErrorBody),
    )
)]
async fn delete_dead_letter(
    admin: State<Admin>,
    caller: Extension<Caller>,
    raw: Path<String>,
) -> Response {
    discard(admin, caller, raw).await
}

fn parse_time(params: &HashMap<String, String>, key: &str) -> Result<Option<DateTime<Utc>>, Error> {
    params
        .get(key)
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    invalid(format!(
                        "{key} must be an RFC 3339 time such as 2026-01-31T09:00:00Z, not '{v}'"
                    ))
                })
        })
        .transpose()
}

/// The filter of `GET /v1/audit`'s query.
fn audit_filter(params: &HashMap<String, String>) -> Result<AuditFilter, Error> {
    only(
        params,
        &[
            "call_id",
            "record_id",
            "kind",
            "actor",
            "from",
            "to",
            "after",
            "limit",
        ],
    )?;
    let after = params
        .get("after")
        .map(|a| {
            a.parse::<u64>()
                .map_err(|_| invalid("after must be an entry's seq (a number), from next_after"))
        })
        .transpose()?;
    Ok(AuditFilter {
        call_id: text(params, "call_id"),
        record_id: text(params, "record_id"),
        kind_prefix: text(params, "kind"),
        agent: text(params, "actor"),
        from: parse_time(params, "from")?,
        to: parse_time(params, "to")?,
        after_seq: after,
        limit: Some(limit_of(params)?.unwrap_or(DEFAULT_LIMIT)),
        ..AuditFilter::default()
    })
}

/// An audit entry, its request and response parsed.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AuditEntryView {
    /// Its place in the workspace's chain.
    pub seq: u64,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened (`action.run`, `config.agent.put`...).
    pub kind: String,
    /// The call it happened in.
    pub call_id: Option<String>,
    /// The agent that did it.
    pub agent: Option<String>,
    /// The records it touched.
    pub record_ids: Vec<String>,
    /// What was asked.
    pub request: Option<Value>,
    /// What was answered.
    pub response: Option<Value>,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// Its hash, chained to the previous one.
    pub hash: String,
}

fn entry_view(e: &AuditEntry) -> AuditEntryView {
    let parse = |s: &Option<String>| s.as_deref().map(payload_value);
    AuditEntryView {
        seq: e.seq,
        at: e.at,
        kind: e.kind.clone(),
        call_id: e.call_id.clone(),
        agent: e.agent.clone(),
        record_ids: e.record_ids.clone(),
        request: parse(&e.request),
        response: parse(&e.response),
        prev_hash: e.prev_hash.clone(),
        hash: e.hash.clone(),
    }
}

/// A page of the audit log.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// The entries, oldest first.
    pub entries: Vec<AuditEntryView>,
    /// The `after` of the next page, when there is one.
    pub next_after: Option<u64>,
}

#[utoipa::path(
    get,
    operation_id = "list_audit",
    path = "/v1/audit",
    tag = "audit",
    params(("call_id" = Option<String>, Query, description = "Only this call's"), ("record_id" = Option<String>, Query, description = "Only entries touching this record"), ("kind" = Option<String>, Query, description = "Only kinds starting with this (`config.`)"), ("from" = Option<String>, Query, description = "From this time (RFC 3339)"), ("to" = Option<String>, Query, description = "Until this time (RFC 3339)"), ("after" = Option<u64>, Query, description = "After this seq (a page's next_after)"), ("limit" = Option<u32>, Query, description = "How many at most")),
    responses(
        (status = 200, description = "A page of the audit log", body = AuditPage),
        (status = 400, description = "A query parameter is not valid", body = ErrorBody),
    )
)]
async fn audit(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    reply(
        async {
            let filter = audit_filter(&params)?;
            let page = admin.audit(caller.workspace, &filter).await?;
            Ok(AuditPage {
                entries: page.entries.iter().map(entry_view).collect(),
                next_after: page.next_after,
            })
        }
        .await,
    )
}

/// What recomputing the audit chain found.
#[derive(Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct VerifyView {
    /// `intact`, `unchecked` (some entries were signed with keys this instance does not have)
    /// or `broken`.
    pub verdict: String,
    /// Intact, unchecked: how many entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
    /// Intact, unchecked: how many entries have no key (written before keys).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unkeyed: Option<u64>,
    /// Unchecked: how many entries could not be checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchecked: Option<u64>,
    /// Unchecked: the key versions this instance does not have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_key_versions: Option<Vec<i64>>,
    /// Broken: the first bad entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Broken: what is wrong with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Value>,
}

fn verdict_view(verdict: Verdict) -> VerifyView {
    match verdict {
        Verdict::Intact { entries, unkeyed } => VerifyView {
            verdict: "intact".into(),
            entries: Some(entries),
            unkeyed: Some(unkeyed),
            ..VerifyView::default()
        },
        Verdict::Unchecked {
            entries,
            unkeyed,
            unchecked,
            missing_versions,
        } => VerifyView {
            verdict: "unchecked".into(),
            entries: Some(entries),
            unkeyed: Some(unkeyed),
            unchecked: Some(unchecked),
            missing_key_versions: Some(missing_versions),
            ..VerifyView::default()
        },
        Verdict::Broken(b) => VerifyView {
            verdict: "broken".into(),
            seq: Some(b.seq),
            reason: serde_json::to_value(b.reason).ok(),
            ..VerifyView::default()
        },
    }
}

#[utoipa::path(
    get,
    operation_id = "verify_audit",
    path = "/v1/audit/verify",
    tag = "audit",
    responses(
        (status = 200, description = "What the chain check found", body = VerifyView),
    )
)]
async fn verify(State(admin): State<Admin>, Extension(caller): Extension<Caller>) -> Response {
    reply(admin.verify_audit(caller.workspace).await.map(verdict_view))
}

/// The answer of `GET /v1/alerts`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AlertList {
    /// The alerts, newest first: id, kind, dead letter, details, status, attempts, last error,
    /// when made, sent and acknowledged (and by whom).
    #[schema(value_type = Vec<Object>)]
    pub alerts: Vec<callforce_store::Alert>,
}

/// An acknowledged alert.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Acknowledged {
    /// The alert, as `GET /v1/alerts` shows it.
    #[schema(value_type = Object)]
    pub alert: callforce_store::Alert,
}

#[utoipa::path(
    get,
    operation_id = "list_alerts",
    path = "/v1/alerts",
    tag = "alerts",
    params(("limit" = Option<u32>, Query, description = "How many at most")),
    responses(
        (status = 200, description = "The alerts", body = AlertList),
        (status = 400, description = "A query parameter is not valid", body = ErrorBody),
    )
)]
async fn alerts(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    reply(
        async {
            only(&params, &["limit"])?;
            let limit = limit_of(&params)?.unwrap_or(DEFAULT_LIMIT);
            let found = admin.alerts(caller.workspace, limit).await?;
            Ok(AlertList { alerts: found })
        }
        .await,
    )
}

#[utoipa::path(
    post,
    operation_id = "acknowledge_alert",
    path = "/v1/alerts/{id}/acknowledge",
    tag = "alerts",
    params(("id" = String, Path, description = "The alert's id (a number)")),
    responses(
        (status = 200, description = "Acknowledged", body = Acknowledged),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such alert", body = ErrorBody),
    )
)]
async fn acknowledge(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Response {
    reply(
        async {
            let id = raw.parse::<i64>().map_err(|_| {
                invalid(format!(
                    "'{raw}' is not an alert id (a number, from GET /v1/alerts)"
                ))
            })?;
            let alert = admin
                .acknowledge_alert(caller.workspace, Actor::of(&caller), AlertId(id))
                .await?;
            Ok(Acknowledged { alert })
        }
        .await,
    )
}

/// The workspace's settings.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SettingsView {
    /// Where its alert webhook points (never a secret in it) and its retention.
    #[schema(value_type = Object)]
    pub settings: callforce_app::admin::Settings,
}

#[utoipa::path(
    get,
    operation_id = "get_settings",
    path = "/v1/settings",
    tag = "alerts",
    responses((status = 200, description = "The settings", body = SettingsView))
)]
async fn settings(State(admin): State<Admin>, Extension(caller): Extension<Caller>) -> Response {
    reply(
        admin
            .settings(caller.workspace)
            .await
            .map(|settings| SettingsView { settings }),
    )
}

/// `PUT /v1/settings`: each key given is set (`null` clears it); the others are kept.
#[utoipa::path(
    put,
    operation_id = "put_settings",
    path = "/v1/settings",
    tag = "alerts",
    request_body(content = Object, description = "{\"alert_webhook\": url|null, \"retention_days\": 1..365|null}; keys absent are kept"),
    responses(
        (status = 200, description = "The settings, changed", body = SettingsView),
        (status = 400, description = "The body or a value is not valid", body = ErrorBody),
    )
)]
async fn put_settings(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Response {
    reply(
        async {
            let body: serde_json::Map<String, Value> = serde_json::from_slice(&body)
                .map_err(|_| invalid("the body must be a JSON object"))?;
            if let Some(k) = body
                .keys()
                .find(|k| !["alert_webhook", "retention_days"].contains(&k.as_str()))
            {
                return Err(invalid(format!(
                    "unknown field '{k}'; allowed: alert_webhook, retention_days"
                )));
            }
            let actor = Actor::of(&caller);
            let mut now = None;
            if let Some(w) = body.get("alert_webhook") {
                let webhook = match w {
                    Value::Null => None,
                    Value::String(s) => Some(s.as_str()),
                    _ => return Err(invalid("alert_webhook must be a URL (a string) or null")),
                };
                now = Some(
                    admin
                        .set_alert_webhook(caller.workspace, actor, webhook)
                        .await?,
                );
            }
            if let Some(d) = body.get("retention_days") {
                let days = match d {
                    Value::Null => None,
                    other => Some(
                        other
                            .as_u64()
                            .and_then(|d| u32::try_from(d).ok())
                            .map_or_else(
                                || callforce_app::admin::retention_days(&other.to_string()),
                                |d| callforce_app::admin::retention_days(&d.to_string()),
                            )?,
                    ),
                };
                now = Some(admin.set_retention(caller.workspace, actor, days).await?);
            }
            let settings = match now {
                Some(s) => s,
                None => admin.settings(caller.workspace).await?,
            };
            Ok(SettingsView { settings })
        }
        .await,
    )
}

/// What a test alert got back.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TestAlertView {
    /// The webhook's status, or why none came.
    #[schema(value_type = Object)]
    pub test_alert: callforce_app::alerts::TestOutcome,
}

#[utoipa::path(
    post,
    operation_id = "test_alert",
    path = "/v1/settings/test-alert",
    tag = "alerts",
    responses(
        (status = 200, description = "What the webhook answered (or why it did not)", body = TestAlertView),
        (status = 409, description = "The workspace has no alert webhook", body = ErrorBody),
    )
)]
async fn test_alert(State(admin): State<Admin>, Extension(caller): Extension<Caller>) -> Response {
    reply(
        admin
            .test_alert(caller.workspace, Actor::of(&caller))
            .await
            .map(|test_alert| TestAlertView { test_alert }),
    )
}
