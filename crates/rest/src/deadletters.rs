//! The admin API for writes that failed for good, the audit log and alerts.
//!
//! ```text
//! GET    /v1/deadletters?status=&call_id=&action=&connection_id=&limit=   list
//! GET    /v1/deadletters/{id}             full payload, every attempt's error, call and agent
//! PATCH  /v1/deadletters/{id}             {"payload": {...}} or {"merge": {...}} (RFC 7396)
//! POST   /v1/deadletters/{id}/replay      queue its job again (same idempotency key)
//! POST   /v1/deadletters/replay           {"all": true} or a filter {call_id, action, connection_id}
//! POST   /v1/deadletters/{id}/discard     (or DELETE /v1/deadletters/{id})
//! GET    /v1/audit?call_id=&record_id=&kind=&from=&to=&after=&limit=   (kind: a prefix, `config.`)
//! GET    /v1/audit/verify                 recompute the keyed chain: intact, or the first bad entry
//! GET    /v1/alerts?limit=                the alerts recorded and whether they were delivered
//! POST   /v1/alerts/{id}/acknowledge      seen: it is not posted to the webhook after that
//! GET    /v1/jobs?status=&limit=          queued writes (queued, leased, done, dead), oldest first
//! GET    /v1/jobs/{id}                    one (`17` or the `job-17` an agent heard): status,
//!                                         attempts, every attempt's error, result
//! ```
//!
//! Everything is scoped to the caller's workspace: another workspace's dead letter answers 404
//! exactly like a missing one. Every edit, replay and discard is appended to the audit log in
//! the same transaction, with the API key as the actor.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use callforce_store::{
    AuditFilter, DeadLetter, DeadLetterFilter, DeadLetterId, DeadLetterStatus, Job, JobId,
    JobStatus, Store, Verdict,
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use callforce_app::Caller;
use callforce_app::deadletters::{merge_patch, payload_problem};

/// The most rows one list returns.
const MAX_LIMIT: u32 = 1000;

/// The admin routes; merged into the `/v1` router behind its API key check.
pub fn router<S: Clone + Send + Sync + 'static>(store: Store) -> axum::Router<S> {
    axum::Router::new()
        .route("/v1/deadletters", get(list))
        .route("/v1/deadletters/replay", post(replay_many))
        .route(
            "/v1/deadletters/{id}",
            get(show).patch(edit).delete(discard),
        )
        .route("/v1/deadletters/{id}/replay", post(replay_one))
        .route("/v1/deadletters/{id}/discard", post(discard))
        .route("/v1/audit", get(audit))
        .route("/v1/audit/verify", get(verify))
        .route("/v1/alerts", get(alerts))
        .route("/v1/alerts/{id}/acknowledge", post(acknowledge))
        .route("/v1/jobs", get(list_jobs))
        .route("/v1/jobs/{id}", get(show_job))
        .with_state(store)
}

/// An API error: status, a stable code and a message saying what to fix.
struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.0,
            Json(json!({"error": {"code": self.1, "message": self.2}})),
        )
            .into_response()
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "invalid_request", message.into())
}

fn not_found(id: i64) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no dead letter {id} in this workspace"),
    )
}

/// Maps a store error: the caller's mistakes get a message; the rest is logged and a plain 500.
fn store_error(e: callforce_store::Error, id: Option<i64>) -> ApiError {
    use callforce_store::Error as E;
    match e {
        E::NotFound => match id {
            Some(id) => not_found(id),
            None => ApiError(StatusCode::NOT_FOUND, "not_found", "not found".into()),
        },
        E::InvalidState(why) => ApiError(StatusCode::CONFLICT, "conflict", why.to_owned()),
        E::InvalidJson(what) => bad(format!("the {what} is not valid JSON")),
        other => {
            tracing::error!(error = %other, source = ?std::error::Error::source(&other), "admin API: the store failed");
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error".into(),
            )
        }
    }
}

/// Who did it, as recorded in the audit log.
fn actor(caller: &Caller) -> String {
    callforce_app::changes::Actor::of(caller).to_string()
}

fn parse_id(raw: &str) -> Result<DeadLetterId, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .map(DeadLetterId)
        .ok_or_else(|| {
            bad(format!(
                "'{raw}' is not a dead letter id (a positive number)"
            ))
        })
}

/// Checks that only `allowed` query parameters were given.
fn only(params: &HashMap<String, String>, allowed: &[&str]) -> Result<(), ApiError> {
    let mut unknown: Vec<&str> = params
        .keys()
        .map(String::as_str)
        .filter(|k| !allowed.contains(k))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    unknown.sort_unstable();
    Err(bad(format!(
        "unknown query parameter(s) {}; allowed: {}",
        unknown.join(", "),
        allowed.join(", ")
    )))
}

fn limit(params: &HashMap<String, String>) -> Result<Option<u32>, ApiError> {
    params
        .get("limit")
        .map(|l| {
            l.parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| bad(format!("limit must be a number from 1 to {MAX_LIMIT}")))
        })
        .transpose()
}

fn text(params: &HashMap<String, String>, key: &str) -> Option<String> {
    params.get(key).filter(|v| !v.is_empty()).cloned()
}

fn parse_status(s: &str) -> Result<DeadLetterStatus, ApiError> {
    match s {
        "open" => Ok(DeadLetterStatus::Open),
        "replayed" => Ok(DeadLetterStatus::Replayed),
        "discarded" => Ok(DeadLetterStatus::Discarded),
        _ => Err(bad(format!(
            "status '{s}' is not one of open, replayed, discarded"
        ))),
    }
}

/// The action named in a payload (`{"action": ...}`), if any.
fn action_of(payload: &Value) -> Option<&str> {
    payload.get("action").and_then(Value::as_str)
}

fn payload_value(dl: &DeadLetter) -> Value {
    serde_json::from_str(&dl.payload).unwrap_or_else(|_| Value::String(dl.payload.clone()))
}

/// A dead letter in a list: what failed and where, without the payload.
fn summary(dl: &DeadLetter) -> Value {
    let payload = payload_value(dl);
    json!({
        "id": dl.id,
        "status": dl.status,
        "kind": dl.kind,
        "action": action_of(&payload),
        "call_id": dl.call_id,
        "agent": dl.agent,
        "connection_id": dl.connection_id,
        "attempts": dl.attempts,
        "last_error": dl.errors.last().map(|e| e.error.as_str()),
        "created_at": dl.created_at,
        "updated_at": dl.updated_at,
    })
}

/// A dead letter in full.
fn full(dl: &DeadLetter) -> Value {
    let payload = payload_value(dl);
    json!({
        "id": dl.id,
        "status": dl.status,
        "job_id": dl.job_id,
        "kind": dl.kind,
        "action": action_of(&payload),
        "call_id": dl.call_id,
        "agent": dl.agent,
        "connection_id": dl.connection_id,
        "idempotency_key": dl.idempotency_key,
        "ordering_key": dl.ordering_key,
        "attempts": dl.attempts,
        "errors": dl.errors,
        "payload": payload,
        "created_at": dl.created_at,
        "updated_at": dl.updated_at,
    })
}

async fn list(
    State(store): State<Store>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    only(
        &params,
        &["status", "call_id", "action", "connection_id", "limit"],
    )?;
    let filter = DeadLetterFilter {
        connection_id: text(&params, "connection_id"),
        call_id: text(&params, "call_id"),
        status: params.get("status").map(|s| parse_status(s)).transpose()?,
        action: text(&params, "action"),
        limit: limit(&params)?,
    };
    let found = store
        .list_dead_letters(caller.workspace, &filter)
        .await
        .map_err(|e| store_error(e, None))?;
    Ok(Json(
        json!({"dead_letters": found.iter().map(summary).collect::<Vec<_>>()}),
    ))
}

async fn show(
    State(store): State<Store>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw)?;
    match store.dead_letter(caller.workspace, id).await {
        Ok(Some(dl)) => Ok(Json(full(&dl))),
        Ok(None) => Err(not_found(id.0)),
        Err(e) => Err(store_error(e, Some(id.0))),
    }
}

/// A job's id from `17` or `job-17` (the reference a queued write's answer gives).
fn parse_job_id(raw: &str) -> Result<JobId, ApiError> {
    raw.strip_prefix("job-")
        .unwrap_or(raw)
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .map(JobId)
        .ok_or_else(|| bad(format!("'{raw}' is not a job id (job-17, or 17)")))
}

/// A job: where a queued write is. `full` adds its payload, every attempt's error and result.
fn job_view(j: &Job, full: bool) -> Value {
    let payload = serde_json::from_str::<Value>(&j.payload)
        .unwrap_or_else(|_| Value::String(j.payload.clone()));
    let mut v = json!({
        "id": j.id,
        "reference": format!("job-{}", j.id.0),
        "status": j.status,
        "kind": j.kind,
        "action": action_of(&payload),
        "call_id": j.call_id,
        "agent": j.agent,
        "connection_id": j.connection_id,
        "attempts": j.attempts,
        "last_error": j.last_error,
        "next_run_at": j.next_run_at,
        "created_at": j.created_at,
        "updated_at": j.updated_at,
    });
    if full {
        v["idempotency_key"] = json!(j.idempotency_key);
        v["errors"] = json!(j.errors);
        v["result"] = j
            .result
            .as_deref()
            .map(|r| serde_json::from_str(r).unwrap_or_else(|_| Value::String(r.to_owned())))
            .unwrap_or(Value::Null);
        v["payload"] = payload;
    }
    v
}

async fn list_jobs(
    State(store): State<Store>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    only(&params, &["status", "limit"])?;
    let status = match params.get("status").map(String::as_str) {
        None | Some("") => None,
        Some("queued") => Some(JobStatus::Queued),
        Some("leased") => Some(JobStatus::Leased),
        Some("done") => Some(JobStatus::Done),
        Some("dead") => Some(JobStatus::Dead),
        Some(other) => {
            return Err(bad(format!(
                "status '{other}' is not one of queued, leased, done, dead"
            )));
        }
    };
    let jobs = store
        .list_jobs(caller.workspace, status, limit(&params)?.unwrap_or(100))
        .await
        .map_err(|e| store_error(e, None))?;
    Ok(Json(
        json!({"jobs": jobs.iter().map(|j| job_view(j, false)).collect::<Vec<_>>()}),
    ))
}

async fn show_job(
    State(store): State<Store>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_job_id(&raw)?;
    match store.job(caller.workspace, id).await {
        Ok(Some(j)) => Ok(Json(job_view(&j, true))),
        Ok(None) => Err(ApiError(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no job {raw} in this workspace"),
        )),
        Err(e) => Err(store_error(e, None)),
    }
}

async fn edit(
    State(store): State<Store>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw)?;
    let usage = "the body must be JSON: {\"payload\": <the new payload>} to replace it, or {\"merge\": {<fields>}} to change fields (a JSON merge patch; null removes a field)";
    let body: Value =
        serde_json::from_slice(&body).map_err(|e| bad(format!("{usage}; it is not JSON: {e}")))?;
    let Some(obj) = body.as_object() else {
        return Err(bad(usage));
    };
    let dl = store
        .dead_letter(caller.workspace, id)
        .await
        .map_err(|e| store_error(e, Some(id.0)))?
        .ok_or_else(|| not_found(id.0))?;
    let new_payload = match (obj.get("payload"), obj.get("merge"), obj.len()) {
        (Some(p), None, 1) => p.clone(),
        (None, Some(m), 1) => {
            let mut p = payload_value(&dl);
            merge_patch(&mut p, m);
            p
        }
        _ => return Err(bad(usage)),
    };
    if dl.status != DeadLetterStatus::Open {
        return Err(store_error(
            callforce_store::Error::InvalidState("the dead letter is not open"),
            Some(id.0),
        ));
    }
    check_payload(&dl.kind, &new_payload)?;
    store
        .edit_dead_letter_payload_as(
            caller.workspace,
            id,
            &new_payload.to_string(),
            Utc::now(),
            &actor(&caller),
        )
        .await
        .map_err(|e| store_error(e, Some(id.0)))?;
    let dl = store
        .dead_letter(caller.workspace, id)
        .await
        .map_err(|e| store_error(e, Some(id.0)))?
        .ok_or_else(|| not_found(id.0))?;
    Ok(Json(full(&dl)))
}

fn check_payload(kind: &str, payload: &Value) -> Result<(), ApiError> {
    match payload_problem(kind, payload) {
        None => Ok(()),
        Some(why) => Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_payload",
            why,
        )),
    }
}

async fn replay_one(
    State(store): State<Store>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw)?;
    let job = store
        .replay_dead_letter_as(caller.workspace, id, Utc::now(), &actor(&caller))
        .await
        .map_err(|e| store_error(e, Some(id.0)))?;
    Ok(Json(json!({"id": id, "status": "replayed", "job_id": job})))
}

/// The body of `POST /v1/deadletters/replay`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayMany {
    #[serde(default)]
    all: bool,
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    connection_id: Option<String>,
}

async fn replay_many(
    State(store): State<Store>,
    Extension(caller): Extension<Caller>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let usage = "the body must be JSON: {\"all\": true} to replay every open dead letter, or a filter {\"call_id\", \"action\", \"connection_id\"}";
    let req: ReplayMany =
        serde_json::from_slice(&body).map_err(|e| bad(format!("{usage}: {e}")))?;
    let filtered = req.call_id.is_some() || req.action.is_some() || req.connection_id.is_some();
    if req.all == filtered {
        return Err(bad(usage));
    }
    let filter = DeadLetterFilter {
        call_id: req.call_id,
        action: req.action,
        connection_id: req.connection_id,
        status: None,
        limit: Some(MAX_LIMIT),
    };
    let actor = actor(&caller);
    let mut jobs = Vec::new();
    // Each round replays up to MAX_LIMIT; replayed ones are no longer open, so the next round
    // sees the rest.
    loop {
        let round = store
            .replay_dead_letters_as(caller.workspace, &filter, Utc::now(), &actor)
            .await
            .map_err(|e| store_error(e, None))?;
        let n = round.len();
        jobs.extend(round);
        if n < MAX_LIMIT as usize {
            break;
        }
    }
    Ok(Json(json!({"replayed": jobs.len(), "job_ids": jobs})))
}

async fn discard(
    State(store): State<Store>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&raw)?;
    store
        .discard_dead_letter_as(caller.workspace, id, Utc::now(), &actor(&caller))
        .await
        .map_err(|e| store_error(e, Some(id.0)))?;
    Ok(Json(json!({"id": id, "status": "discarded"})))
}

fn parse_time(
    params: &HashMap<String, String>,
    key: &str,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    params
        .get(key)
        .map(|v| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    bad(format!(
                        "{key} must be an RFC 3339 time such as 2026-01-31T09:00:00Z, not '{v}'"
                    ))
                })
        })
        .transpose()
}

async fn audit(
    State(store): State<Store>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    only(
        &params,
        &[
            "call_id",
            "record_id",
            "kind",
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
                .map_err(|_| bad("after must be an entry's seq (a number), from next_after"))
        })
        .transpose()?;
    let limit = limit(&params)?.unwrap_or(100);
    let filter = AuditFilter {
        call_id: text(&params, "call_id"),
        record_id: text(&params, "record_id"),
        kind_prefix: text(&params, "kind"),
        from: parse_time(&params, "from")?,
        to: parse_time(&params, "to")?,
        after_seq: after,
        limit: Some(limit),
    };
    let entries = store
        .list_audit(caller.workspace, &filter)
        .await
        .map_err(|e| store_error(e, None))?;
    // A full page may have more after it.
    let next = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    let entries: Vec<Value> = entries
        .iter()
        .map(|e| {
            let parse = |s: &Option<String>| {
                s.as_deref()
                    .map(|s| serde_json::from_str(s).unwrap_or(Value::String(s.to_owned())))
            };
            json!({
                "seq": e.seq,
                "at": e.at,
                "kind": e.kind,
                "call_id": e.call_id,
                "agent": e.agent,
                "record_ids": e.record_ids,
                "request": parse(&e.request),
                "response": parse(&e.response),
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            })
        })
        .collect();
    Ok(Json(json!({"entries": entries, "next_after": next})))
}

async fn verify(
    State(store): State<Store>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let verdict = store
        .verify_audit(caller.workspace)
        .await
        .map_err(|e| store_error(e, None))?;
    Ok(Json(match verdict {
        Verdict::Intact { entries, unkeyed } => {
            json!({"verdict": "intact", "entries": entries, "unkeyed": unkeyed})
        }
        Verdict::Unchecked {
            entries,
            unkeyed,
            unchecked,
            missing_versions,
        } => json!({
            "verdict": "unchecked",
            "entries": entries,
            "unkeyed": unkeyed,
            "unchecked": unchecked,
            "missing_key_versions": missing_versions,
        }),
        Verdict::Broken(b) => json!({"verdict": "broken", "seq": b.seq, "reason": b.reason}),
    }))
}

async fn alerts(
    State(store): State<Store>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    only(&params, &["limit"])?;
    let found = store
        .list_alerts(caller.workspace, limit(&params)?.unwrap_or(100))
        .await
        .map_err(|e| store_error(e, None))?;
    Ok(Json(json!({"alerts": found})))
}

async fn acknowledge(
    State(store): State<Store>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = raw.parse::<i64>().map_err(|_| {
        bad(format!(
            "'{raw}' is not an alert id (a number, from GET /v1/alerts)"
        ))
    })?;
    let alert = store
        .acknowledge_alert(
            caller.workspace,
            callforce_store::AlertId(id),
            &actor(&caller),
            Utc::now(),
        )
        .await
        .map_err(|e| match e {
            callforce_store::Error::NotFound => ApiError(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no alert {id} in this workspace (GET /v1/alerts lists them)"),
            ),
            other => store_error(other, None),
        })?;
    Ok(Json(json!({"alert": alert})))
}
