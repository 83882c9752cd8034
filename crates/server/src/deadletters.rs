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

use crate::api::Caller;

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
    crate::changes::Actor::of(caller).to_string()
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

/// Applies an RFC 7396 JSON merge patch: objects merge key by key, `null` removes a key, any
/// other value replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in patch {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
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

/// Why a dead letter of `kind` cannot take `payload`: a write job's must still be a
/// [`callforce_pipeline::JobPayload`] (`{"request": {"op": ...}, "action": ...}`), or a worker
/// could not run it after a replay.
pub fn payload_problem(kind: &str, payload: &Value) -> Option<String> {
    if kind != callforce_pipeline::KIND_WRITE {
        return None;
    }
    let e = serde_json::from_value::<callforce_pipeline::JobPayload>(payload.clone()).err()?;
    Some(format!(
        "the payload would no longer be a write job, so it was not saved: {e}. It must stay \
         {{\"request\": {{\"op\": ...}}, \"action\": ...}} (the dead letter shows the current one)"
    ))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (json!({"a": [1]}), json!({"a": [2]}), json!({"a": [2]})),
            (json!(["a"]), json!({"a": "b"}), json!({"a": "b"})),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
        ];
        for (target, patch, want) in cases {
            let mut t = target.clone();
            merge_patch(&mut t, &patch);
            assert_eq!(t, want, "{target} + {patch}");
        }
    }
}

#[cfg(test)]
mod http_tests {
    use std::net::SocketAddr;

    use callforce_store::{JobStatus, NewJob, WorkspaceId};
    use chrono::TimeDelta;
    use serde_json::{Value, json};

    use crate::serve::{ServeConfig, Started, start};

    struct Svc {
        started: Started,
        store: callforce_store::Store,
        key: String,
        base: String,
        http: reqwest::Client,
        _dir: tempfile::TempDir,
    }

    async fn service() -> Svc {
        let dir = tempfile::tempdir().expect("tempdir");
        let started = start(ServeConfig::new(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            dir.path().to_owned(),
        ))
        .await
        .expect("starts");
        let key = started.api_key.clone().expect("first key");
        // A second handle on the service's database: what a worker or the CLI would use.
        let store = callforce_store::Store::open_sqlite(&dir.path().join("callforce.db"))
            .await
            .expect("store");
        let base = format!("http://{}", started.addr);
        Svc {
            started,
            store,
            key,
            base,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    impl Svc {
        async fn ws(&self, name: &str) -> WorkspaceId {
            self.store
                .workspace_by_name(name)
                .await
                .expect("read")
                .expect("workspace")
                .id
        }

        /// A job of `ws` that failed for good; returns the dead letter's id.
        async fn dead(&self, ws: WorkspaceId, key: &str, action: &str, call: &str) -> i64 {
            // The service's workers never take these jobs: they lease only the jobs of the
            // connections they hold, and `conn-1` is not one.
            let now = chrono::Utc::now();
            let job = NewJob {
                workspace: ws,
                connection_id: "conn-1".into(),
                idempotency_key: key.into(),
                ordering_key: format!("Task:{key}"),
                kind: "write".into(),
                payload: json!({"action": action, "request": {"op": "create", "sobject": "Task", "record": {"Subject": "Broken"}}})
                    .to_string(),
                call_id: Some(call.into()),
                agent: Some("aria".into()),
                run_at: now,
            };
            let id = self.store.enqueue(&job, now).await.expect("enqueue").id;
            let leased = self
                .store
                .lease("test", now, TimeDelta::seconds(30), 100)
                .await
                .expect("lease");
            assert!(leased.iter().any(|j| j.id == id));
            self.store
                .dead(
                    id,
                    "test",
                    now,
                    "FIELD_CUSTOM_VALIDATION_EXCEPTION: Subject is wrong",
                )
                .await
                .expect("dead")
                .0
        }

        async fn call(
            &self,
            key: &str,
            method: &str,
            path: &str,
            body: Option<Value>,
        ) -> (u16, Value) {
            let url = format!("{}{path}", self.base);
            let req = match method {
                "GET" => self.http.get(url),
                "POST" => self.http.post(url),
                "PATCH" => self.http.patch(url),
                "DELETE" => self.http.delete(url),
                _ => unreachable!("method"),
            };
            let req = req.bearer_auth(key);
            let req = match body {
                Some(b) => req.json(&b),
                None => req,
            };
            let resp = req.send().await.expect("request");
            let status = resp.status().as_u16();
            let text = resp.text().await.expect("body");
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        }

        async fn get(&self, path: &str) -> (u16, Value) {
            self.call(&self.key.clone(), "GET", path, None).await
        }
    }

    #[tokio::test]
    async fn alerts_are_acknowledged_over_http_and_then_not_posted() {
        let svc = service().await;
        let ws = svc.ws("default").await;
        svc.dead(ws, "call-1/log_call/0", "log_call", "call-1")
            .await;
        let (_, list) = svc.get("/v1/alerts").await;
        let id = list["alerts"][0]["id"].as_i64().expect("alert id");
        assert_eq!(list["alerts"][0]["acknowledged_at"], Value::Null);
        let k = svc.key.clone();
        let (s, body) = svc
            .call(&k, "POST", &format!("/v1/alerts/{id}/acknowledge"), None)
            .await;
        assert_eq!(s, 200, "{body}");
        assert!(body["alert"]["acknowledged_at"].is_string(), "{body}");
        assert!(
            body["alert"]["acknowledged_by"]
                .as_str()
                .is_some_and(|a| a.starts_with("api-key:")),
            "{body}"
        );
        let due = svc
            .store
            .claim_alerts(
                chrono::Utc::now() + TimeDelta::minutes(10),
                TimeDelta::minutes(2),
                10,
            )
            .await
            .expect("claim");
        assert!(
            due.is_empty(),
            "an acknowledged alert is not posted: {due:?}"
        );
        for (path, want) in [
            (format!("/v1/alerts/{}/acknowledge", id + 1000), 404),
            ("/v1/alerts/x/acknowledge".to_owned(), 400),
        ] {
            let (s, body) = svc.call(&k, "POST", &path, None).await;
            assert_eq!(s, want, "{path}: {body}");
        }
    }

    #[tokio::test]
    async fn dead_letters_are_listed_shown_fixed_replayed_and_discarded_over_http() {
        let svc = service().await;
        let ws = svc.ws("default").await;
        let a = svc
            .dead(ws, "call-1/log_call/0", "log_call", "call-1")
            .await;
        let b = svc
            .dead(ws, "call-1/create_case/1", "create_case", "call-1")
            .await;
        let c = svc
            .dead(ws, "call-2/log_call/0", "log_call", "call-2")
            .await;
        let k = svc.key.clone();

        let (s, list) = svc.get("/v1/deadletters").await;
        assert_eq!(s, 200, "{list}");
        assert_eq!(list["dead_letters"].as_array().map(Vec::len), Some(3));
        assert_eq!(list["dead_letters"][0]["action"], "log_call");
        assert_eq!(
            list["dead_letters"][0]["last_error"],
            "FIELD_CUSTOM_VALIDATION_EXCEPTION: Subject is wrong"
        );
        let (_, by_action) = svc.get("/v1/deadletters?action=log_call").await;
        assert_eq!(by_action["dead_letters"].as_array().map(Vec::len), Some(2));
        let (_, by_call) = svc
            .get("/v1/deadletters?call_id=call-2&action=log_call")
            .await;
        assert_eq!(by_call["dead_letters"][0]["id"], c);
        for (query, needle) in [
            ("status=bogus", "open, replayed, discarded"),
            ("limit=0", "limit"),
            ("colour=red", "unknown query parameter(s) colour"),
        ] {
            let (s, body) = svc.get(&format!("/v1/deadletters?{query}")).await;
            assert_eq!(s, 400, "{query}: {body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(needle)),
                "{body}"
            );
        }

        // Show: the full payload, every attempt's error, the call and the agent.
        let (s, shown) = svc.get(&format!("/v1/deadletters/{a}")).await;
        assert_eq!(s, 200, "{shown}");
        assert_eq!(shown["payload"]["request"]["record"]["Subject"], "Broken");
        assert_eq!(shown["errors"][0]["attempt"], 1);
        assert_eq!(shown["call_id"], "call-1");
        assert_eq!(shown["agent"], "aria");
        assert_eq!(shown["idempotency_key"], "call-1/log_call/0");
        assert_eq!(svc.get("/v1/deadletters/abc").await.0, 400);
        let (s, missing) = svc.get("/v1/deadletters/999999").await;
        assert_eq!(s, 404);
        assert_eq!(missing["error"]["code"], "not_found");

        // Fix a field, then replay: the job is queued again with its idempotency key.
        let path = format!("/v1/deadletters/{a}");
        let (s, edited) = svc
            .call(
                &k,
                "PATCH",
                &path,
                Some(json!({"merge": {"request": {"record": {"Subject": "Fixed"}}}})),
            )
            .await;
        assert_eq!(s, 200, "{edited}");
        assert_eq!(edited["payload"]["request"]["record"]["Subject"], "Fixed");
        assert_eq!(
            edited["payload"]["action"], "log_call",
            "untouched fields stay"
        );
        for bad in [
            json!("text"),
            json!({"payload": {}, "merge": {}}),
            json!({"patch": {}}),
        ] {
            let (s, body) = svc.call(&k, "PATCH", &path, Some(bad.clone())).await;
            assert_eq!(s, 400, "{bad}: {body}");
        }
        // A payload that would no longer be a write job is refused with the reason; the
        // stored one is kept.
        for broken in [
            json!({"payload": {"x": 1}}),
            json!({"merge": {"request": {"op": "explode"}}}),
            json!({"merge": {"request": null}}),
            json!({"merge": {"request": {"record": "not an object"}}}),
        ] {
            let (s, body) = svc.call(&k, "PATCH", &path, Some(broken.clone())).await;
            assert_eq!(s, 422, "{broken}: {body}");
            assert_eq!(body["error"]["code"], "invalid_payload", "{body}");
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains("no longer be a write job"), "{message}");
        }
        let (_, kept) = svc.get(&path).await;
        assert_eq!(kept["payload"]["request"]["record"]["Subject"], "Fixed");
        let raw = svc
            .http
            .patch(format!("{}{path}", svc.base))
            .bearer_auth(&k)
            .body("{not json")
            .send()
            .await
            .expect("patch");
        assert_eq!(raw.status(), 400);
        let (s, replayed) = svc.call(&k, "POST", &format!("{path}/replay"), None).await;
        assert_eq!(s, 200, "{replayed}");
        let job_id = callforce_store::JobId(replayed["job_id"].as_i64().expect("job id"));
        let job = svc
            .store
            .job(ws, job_id)
            .await
            .expect("job")
            .expect("exists");
        assert_eq!(job.status, JobStatus::Queued);
        assert_eq!(job.idempotency_key, "call-1/log_call/0");
        assert!(job.payload.contains("Fixed"), "{}", job.payload);
        let (s, again) = svc.call(&k, "POST", &format!("{path}/replay"), None).await;
        assert_eq!(s, 409, "{again}");
        let (s, _) = svc
            .call(&k, "PATCH", &path, Some(json!({"payload": {"x": 1}})))
            .await;
        assert_eq!(s, 409, "a replayed dead letter is not edited");

        // Discard, by DELETE and by POST .../discard.
        let (s, _) = svc
            .call(&k, "DELETE", &format!("/v1/deadletters/{b}"), None)
            .await;
        assert_eq!(s, 200);
        let (s, _) = svc
            .call(&k, "POST", &format!("/v1/deadletters/{b}/discard"), None)
            .await;
        assert_eq!(s, 409, "already discarded");

        // Replay a set: a filter or all, never an empty body by mistake.
        let d = svc
            .dead(ws, "call-3/log_call/0", "log_call", "call-3")
            .await;
        for bad in [
            json!({}),
            json!({"all": true, "call_id": "x"}),
            json!({"al": true}),
        ] {
            let (s, body) = svc
                .call(&k, "POST", "/v1/deadletters/replay", Some(bad.clone()))
                .await;
            assert_eq!(s, 400, "{bad}: {body}");
        }
        let (s, set) = svc
            .call(
                &k,
                "POST",
                "/v1/deadletters/replay",
                Some(json!({"call_id": "call-3"})),
            )
            .await;
        assert_eq!(s, 200, "{set}");
        assert_eq!(set["replayed"], 1);
        let (_, all) = svc
            .call(
                &k,
                "POST",
                "/v1/deadletters/replay",
                Some(json!({"all": true})),
            )
            .await;
        assert_eq!(all["replayed"], 1, "only c was still open: {all}");
        let (_, open) = svc.get("/v1/deadletters?status=open").await;
        assert_eq!(open["dead_letters"].as_array().map(Vec::len), Some(0));
        let _ = d;

        // Every edit, replay and discard is in the audit log, which verifies.
        let (s, log) = svc.get("/v1/audit?kind=deadletter.").await;
        assert_eq!(s, 200, "{log}");
        let kinds: Vec<&str> = log["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter_map(|e| e["kind"].as_str())
            .collect();
        assert_eq!(
            kinds,
            [
                "deadletter.edit",
                "deadletter.replay",
                "deadletter.discard",
                "deadletter.replay",
                "deadletter.replay"
            ]
        );
        assert!(
            log["entries"][0]["agent"]
                .as_str()
                .is_some_and(|a| a.starts_with("api-key:")),
            "{log}"
        );
        assert_eq!(
            log["entries"][0]["request"]["payload_after"]["request"]["record"]["Subject"],
            "Fixed"
        );
        let (_, page) = svc.get("/v1/audit?kind=deadletter.&limit=2").await;
        assert_eq!(page["entries"].as_array().map(Vec::len), Some(2));
        let second = page["entries"][1]["seq"].as_u64().expect("seq");
        assert_eq!(page["next_after"], second);
        let (_, rest) = svc
            .get(&format!(
                "/v1/audit?kind=deadletter.&after={second}&limit=10"
            ))
            .await;
        assert_eq!(rest["entries"].as_array().map(Vec::len), Some(3));
        assert_eq!(rest["entries"][0]["kind"], "deadletter.discard");
        assert_eq!(rest["next_after"], Value::Null);
        // Before them: the first start's workspace, embedded org connection and key.
        let (_, start) = svc.get("/v1/audit?limit=3").await;
        let first: Vec<(&str, &str)> = start["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter_map(|e| Some((e["kind"].as_str()?, e["agent"].as_str()?)))
            .collect();
        assert_eq!(
            first,
            [
                ("config.workspace.create", "system"),
                ("connection.connected", "system"),
                ("config.key.create", "system")
            ]
        );
        let (_, by_call) = svc.get("/v1/audit?call_id=call-3").await;
        assert_eq!(by_call["entries"].as_array().map(Vec::len), Some(1));
        let (_, future) = svc.get("/v1/audit?from=2999-01-01T00:00:00Z").await;
        assert_eq!(future["entries"].as_array().map(Vec::len), Some(0));
        let (s, body) = svc.get("/v1/audit?from=yesterday").await;
        assert_eq!(s, 400, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("RFC 3339"))
        );
        let (s, verdict) = svc.get("/v1/audit/verify").await;
        assert_eq!(s, 200);
        assert_eq!(
            verdict,
            json!({"verdict": "intact", "entries": 3 + 5, "unkeyed": 0})
        );
        // Someone edits an entry behind the service's back: verify names it.
        let pool = svc.store.sqlite_pool().expect("sqlite");
        let n = sqlx::query("UPDATE audit_log SET agent = 'someone else' WHERE seq = 2")
            .execute(pool)
            .await
            .expect("tamper")
            .rows_affected();
        assert_eq!(n, 1);
        let (s, verdict) = svc.get("/v1/audit/verify").await;
        assert_eq!(s, 200);
        assert_eq!(
            verdict,
            json!({"verdict": "broken", "seq": 2, "reason": "hash_mismatch"})
        );

        // One alert per dead letter, kept while no webhook is configured.
        let (_, alerts) = svc.get("/v1/alerts").await;
        let alerts = alerts["alerts"].as_array().expect("alerts").clone();
        assert_eq!(alerts.len(), 4);
        assert!(
            alerts
                .iter()
                .all(|a| a["status"] == "pending" && a["kind"] == "dead_letter")
        );
        svc.started.task.abort();
    }

    #[tokio::test]
    async fn a_workspace_sees_nothing_of_another_workspaces_dead_letters_or_audit() {
        let svc = service().await;
        let a_ws = svc.ws("default").await;
        let now = chrono::Utc::now();
        let b_ws = svc.store.create_workspace("b", now).await.expect("b").id;
        let b_key = svc
            .store
            .create_api_key(b_ws, "b", now)
            .await
            .expect("key")
            .plaintext;
        let b_key = callforce_client::ExposeSecret::expose_secret(&b_key).to_owned();
        let a_dl = svc.dead(a_ws, "a/log_call/0", "log_call", "call-a").await;
        let k = svc.key.clone();
        // A writes something to its audit log.
        let (s, _) = svc
            .call(
                &k,
                "PATCH",
                &format!("/v1/deadletters/{a_dl}"),
                Some(json!({"merge": {"x": 1}})),
            )
            .await;
        assert_eq!(s, 200);

        let (_, list) = svc.call(&b_key, "GET", "/v1/deadletters", None).await;
        assert_eq!(list, json!({"dead_letters": []}));
        let never = 987_654;
        for (method, suffix, body) in [
            ("GET", "", None),
            ("PATCH", "", Some(json!({"payload": {"stolen": true}}))),
            ("POST", "/replay", None),
            ("POST", "/discard", None),
            ("DELETE", "", None),
        ] {
            let (s, theirs) = svc
                .call(
                    &b_key,
                    method,
                    &format!("/v1/deadletters/{a_dl}{suffix}"),
                    body.clone(),
                )
                .await;
            let (s2, missing) = svc
                .call(
                    &b_key,
                    method,
                    &format!("/v1/deadletters/{never}{suffix}"),
                    body.clone(),
                )
                .await;
            assert_eq!((s, s2), (404, 404), "{method} {suffix}");
            assert_eq!(
                theirs.to_string().replace(&a_dl.to_string(), "ID"),
                missing.to_string().replace(&never.to_string(), "ID"),
                "another workspace's id answers exactly like a missing one"
            );
        }
        let (_, all) = svc
            .call(
                &b_key,
                "POST",
                "/v1/deadletters/replay",
                Some(json!({"all": true})),
            )
            .await;
        assert_eq!(all["replayed"], 0);
        let (_, audit) = svc.call(&b_key, "GET", "/v1/audit", None).await;
        assert_eq!(audit["entries"], json!([]));
        let (_, verdict) = svc.call(&b_key, "GET", "/v1/audit/verify", None).await;
        assert_eq!(verdict["entries"], 0);
        let (_, alerts) = svc.call(&b_key, "GET", "/v1/alerts", None).await;
        assert_eq!(alerts["alerts"], json!([]));

        // A's dead letter is untouched by all of that.
        let (_, mine) = svc.get(&format!("/v1/deadletters/{a_dl}")).await;
        assert_eq!(mine["status"], "open");
        assert_eq!(mine["payload"]["x"], 1);
        assert!(mine["payload"].get("stolen").is_none());
        let (_, audit) = svc.get("/v1/audit?kind=deadletter.").await;
        assert_eq!(audit["entries"].as_array().map(Vec::len), Some(1));
        // And without a key, nothing at all.
        let resp = svc
            .http
            .get(format!("{}/v1/deadletters", svc.base))
            .send()
            .await
            .expect("get");
        assert_eq!(resp.status(), 401);
        svc.started.task.abort();
    }

    /// Removes every `key` from a JSON value, at any depth.
    fn strip(v: &mut Value, key: &str) -> usize {
        match v {
            Value::Object(m) => {
                let mut n = usize::from(m.remove(key).is_some());
                for x in m.values_mut() {
                    n += strip(x, key);
                }
                n
            }
            Value::Array(a) => a.iter_mut().map(|x| strip(x, key)).sum(),
            _ => 0,
        }
    }

    /// The whole path: an action's queued write fails for good in the org, the admins get one
    /// alert, fix the payload through the API and replay it, and the service's workers land it
    /// exactly once.
    #[tokio::test]
    async fn a_dead_write_is_alerted_fixed_replayed_and_lands_once() {
        use std::sync::Arc;
        let got: Arc<parking_lot::Mutex<Vec<Value>>> = Arc::default();
        let hook = {
            let got = got.clone();
            axum::Router::new().route(
                "/hook",
                axum::routing::post(move |body: axum::Json<Value>| {
                    let got = got.clone();
                    async move {
                        got.lock().push(body.0);
                        "ok"
                    }
                }),
            )
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let hook_addr = listener.local_addr().expect("addr");
        let hook_task = tokio::spawn(async move {
            let _ = axum::serve(listener, hook).await;
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let started = start(ServeConfig {
            api_key: Some("admin-key".into()),
            alert_webhook: Some(format!("http://{hook_addr}/hook")),
            ..ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.path().to_owned())
        })
        .await
        .expect("starts");
        let base = format!("http://{}", started.addr);
        let http = reqwest::Client::new();
        let send = |method: reqwest::Method, path: &str, body: Option<Value>| {
            let req = http
                .request(method, format!("{base}{path}"))
                .bearer_auth("admin-key");
            let req = match body {
                Some(b) => req.json(&b),
                None => req,
            };
            async move {
                let resp = req.send().await.expect("request");
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                (status, body)
            }
        };
        let (s, _) = send(
            reqwest::Method::POST,
            "/v1/calls",
            Some(json!({"call_id": "call-e2e", "agent": "aria"})),
        )
        .await;
        assert_eq!(s, 201);
        // A well-formed id of a Contact that does not exist: the org refuses it for good.
        let (s, logged) = send(
            reqwest::Method::POST,
            "/v1/calls/call-e2e/actions/log_call",
            Some(
                json!({"arguments": {"Subject": "dead then replayed", "WhoId": "003000000000099"}}),
            ),
        )
        .await;
        assert_eq!(s, 200, "{logged}");
        assert_eq!(logged["result"]["queued"], true, "{logged}");

        // One alert reaches the webhook (bounded wait; no timing asserted).
        for _ in 0..400 {
            if !got.lock().is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        let alerts = got.lock().clone();
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let text = alerts[0]["text"].as_str().expect("text").to_owned();
        assert!(
            text.contains("log_call") && text.contains("call-e2e"),
            "{text}"
        );

        let (_, list) = send(
            reqwest::Method::GET,
            "/v1/deadletters?call_id=call-e2e",
            None,
        )
        .await;
        let id = list["dead_letters"][0]["id"]
            .as_i64()
            .expect("a dead letter");
        assert!(
            text.contains(&format!("callforce deadletter replay {id}")),
            "{text}"
        );
        let (_, shown) = send(reqwest::Method::GET, &format!("/v1/deadletters/{id}"), None).await;
        assert!(
            shown["errors"][0]["error"]
                .as_str()
                .is_some_and(|e| e.contains("INVALID_CROSS_REFERENCE_KEY")),
            "{shown}"
        );
        assert_eq!(shown["agent"], "aria");
        let mut payload = shown["payload"].clone();
        assert_eq!(strip(&mut payload, "WhoId"), 1, "{shown}");
        let (s, edited) = send(
            reqwest::Method::PATCH,
            &format!("/v1/deadletters/{id}"),
            Some(json!({"payload": payload})),
        )
        .await;
        assert_eq!(s, 200, "{edited}");
        let (s, replayed) = send(
            reqwest::Method::POST,
            &format!("/v1/deadletters/{id}/replay"),
            None,
        )
        .await;
        assert_eq!(s, 200, "{replayed}");

        // The workers land it: exactly one Task in the org.
        let org = started.devorg.as_ref().expect("embedded org");
        let c = org.org.config();
        let conn = callforce_client::Connection::login(
            callforce_client::ConnectionConfig::new(
                callforce_client::LoginHost::Url(org.org.instance_url().to_owned()),
                callforce_client::OAuthApp {
                    client_id: c.client_id.clone(),
                    client_secret: Some(callforce_client::SecretString::from(
                        c.client_secret.clone(),
                    )),
                    redirect_uri: None,
                },
            ),
            callforce_client::Grant::ClientCredentials,
        )
        .await
        .expect("login");
        let soql = "SELECT Id FROM Task WHERE Subject = 'dead then replayed'";
        let mut found = 0;
        for _ in 0..400 {
            found = conn
                .query::<callforce_client::Record>(soql)
                .await
                .expect("query")
                .total_size;
            if found > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert_eq!(found, 1);
        let (_, shown) = send(reqwest::Method::GET, &format!("/v1/deadletters/{id}"), None).await;
        assert_eq!(shown["status"], "replayed");
        let (_, again) = send(
            reqwest::Method::POST,
            &format!("/v1/deadletters/{id}/replay"),
            None,
        )
        .await;
        assert_eq!(again["error"]["code"], "conflict");
        assert_eq!(got.lock().len(), 1, "one alert for one dead letter");
        started.task.abort();
        hook_task.abort();
    }
}
