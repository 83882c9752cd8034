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
    AlertId, AuditEntry, AuditFilter, DeadLetter, DeadLetterFilter, Job, Store, Verdict,
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::answer;

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
        .route("/v1/settings", get(settings).put(put_settings))
        .route("/v1/settings/test-alert", post(test_alert))
        .route("/v1/jobs", get(list_jobs))
        .route("/v1/jobs/{id}", get(show_job))
        .with_state(Admin::new(store))
}

/// The answer: the JSON on success, the core's error as its status and body otherwise.
fn reply(r: Result<Value, Error>) -> Response {
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

/// A dead letter in a list: what failed and where, without the payload.
fn summary(dl: &DeadLetter) -> Value {
    let payload = payload_value(&dl.payload);
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
    let payload = payload_value(&dl.payload);
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
            Ok(json!({"dead_letters": found.iter().map(summary).collect::<Vec<_>>()}))
        }
        .await,
    )
}

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

/// A job: where a queued write is. `full` adds its payload, every attempt's error and result.
fn job_view(j: &Job, full: bool) -> Value {
    let payload = payload_value(&j.payload);
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
        v["result"] = j.result.as_deref().map_or(Value::Null, payload_value);
        v["payload"] = payload;
    }
    v
}

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
            Ok(json!({"jobs": jobs.iter().map(|j| job_view(j, false)).collect::<Vec<_>>()}))
        }
        .await,
    )
}

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
            Ok(json!({"id": id, "status": "replayed", "job_id": job}))
        }
        .await,
    )
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
            Ok(json!({"replayed": jobs.len(), "job_ids": jobs}))
        }
        .await,
    )
}

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
            Ok(json!({"id": id, "status": "discarded"}))
        }
        .await,
    )
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
fn entry_view(e: &AuditEntry) -> Value {
    let parse = |s: &Option<String>| s.as_deref().map(payload_value);
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
}

async fn audit(
    State(admin): State<Admin>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    reply(
        async {
            let filter = audit_filter(&params)?;
            let page = admin.audit(caller.workspace, &filter).await?;
            let entries: Vec<Value> = page.entries.iter().map(entry_view).collect();
            Ok(json!({"entries": entries, "next_after": page.next_after}))
        }
        .await,
    )
}

fn verdict_view(verdict: Verdict) -> Value {
    match verdict {
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
    }
}

async fn verify(State(admin): State<Admin>, Extension(caller): Extension<Caller>) -> Response {
    reply(admin.verify_audit(caller.workspace).await.map(verdict_view))
}

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
            Ok(json!({"alerts": found}))
        }
        .await,
    )
}

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
            Ok(json!({"alert": alert}))
        }
        .await,
    )
}

async fn settings(State(admin): State<Admin>, Extension(caller): Extension<Caller>) -> Response {
    reply(
        admin
            .settings(caller.workspace)
            .await
            .map(|s| json!({ "settings": s })),
    )
}

/// `PUT /v1/settings`: each key given is set (`null` clears it); the others are kept.
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
            Ok(json!({ "settings": settings }))
        }
        .await,
    )
}

async fn test_alert(State(admin): State<Admin>, Extension(caller): Extension<Caller>) -> Response {
    reply(
        admin
            .test_alert(caller.workspace, Actor::of(&caller))
            .await
            .map(|o| json!({ "test_alert": o })),
    )
}
