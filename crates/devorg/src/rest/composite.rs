//! The composite family: `/composite`, `/composite/sobjects`, `/composite/batch`, `/composite/tree`.
//!
//! Every request runs under one store transaction (the write lock is held for the whole request),
//! so an all-or-none failure is rolled back before any reader can see part of it, and the
//! subrequests of `/composite` run through exactly the operations of [`super::sobjects`].
//!
//! `/composite` subrequests to `/query` and `/queryAll` run on the transaction's data, so they see
//! the writes made earlier in the same request.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use callforce_types::{ApiVersion, Id};
use serde_json::{Map, Value as J, json};

use super::Version;
use super::sobjects::{
    self, BODY_LIMIT, Reply, body_bytes, ext_field, field_list, finish, not_allowed, parse_json,
    table_of,
};
use crate::error::json_response;
use crate::store::{Data, Txn, Upserted};
use crate::{ApiError, DevOrg};

/// Most subrequests in `/composite` and `/composite/batch`.
pub const MAX_SUBREQUESTS: usize = 25;
/// Most records in one collections or tree request.
pub const MAX_RECORDS: usize = 200;

const ROLLBACK: &str =
    "The transaction was rolled back since another operation in the same transaction failed.";
const AON_ROLLED_BACK: &str = "Record rolled back because not all records were valid and the request was using AllOrNone header";

/// The composite routes under `/services/data/{version}`.
pub fn routes() -> axum::Router<DevOrg> {
    axum::Router::new()
        .route("/composite", post(composite).fallback(not_allowed("POST")))
        .route(
            "/composite/batch",
            post(batch).fallback(not_allowed("POST")),
        )
        .route(
            "/composite/tree/{sobject}",
            post(tree).fallback(not_allowed("POST")),
        )
        .route(
            "/composite/sobjects",
            post(collection_create)
                .patch(collection_update)
                .delete(collection_delete)
                .fallback(not_allowed("POST,PATCH,DELETE")),
        )
        .route(
            "/composite/sobjects/{sobject}",
            post(collection_retrieve_post)
                .get(collection_retrieve_get)
                .fallback(not_allowed("GET,POST")),
        )
        .route(
            "/composite/sobjects/{sobject}/{field}",
            patch(collection_upsert).fallback(not_allowed("PATCH")),
        )
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

fn bad(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

/// A per-record error entry: `{"statusCode","message","fields"}`.
fn save_errors(e: &ApiError) -> J {
    J::Array(
        e.errors
            .iter()
            .map(|b| {
                json!({
                    "statusCode": b.error_code,
                    "message": b.message,
                    "fields": b.fields.clone().unwrap_or_default(),
                })
            })
            .collect(),
    )
}

fn flag(v: Option<&J>) -> bool {
    match v {
        Some(J::Bool(b)) => *b,
        Some(J::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn read_object(body: Result<Bytes, BytesRejection>) -> Result<Map<String, J>, ApiError> {
    match parse_json(&body_bytes(body)?)? {
        J::Object(m) => Ok(m),
        other => Err(sobjects::not_an_object(&other)),
    }
}

// ---- /composite ----

fn valid_reference_id(r: &str) -> bool {
    let mut chars = r.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Follows `field.sub[0].x` into a JSON value.
fn follow<'a>(mut v: &'a J, path: &str) -> Option<&'a J> {
    for seg in path.split('.') {
        let (name, rest) = seg.split_once('[').unwrap_or((seg, ""));
        if !name.is_empty() {
            v = v.get(name)?;
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            let n: usize = idx.trim_end_matches(']').parse().ok()?;
            v = v.get(n)?;
        }
    }
    Some(v)
}

/// Replaces every `@{ref.path}` in `s`; a string that is exactly one reference takes the
/// referenced JSON value as is.
fn substitute(s: &str, results: &HashMap<String, J>) -> Result<J, ApiError> {
    if !s.contains("@{") {
        return Ok(J::String(s.to_owned()));
    }
    let mut out = String::new();
    let mut rest = s;
    let mut whole = None;
    while let Some(start) = rest.find("@{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let expr = &after[..end];
        let (r, path) = expr.split_once('.').unwrap_or((expr, ""));
        let value = results
            .get(r)
            .and_then(|body| follow(body, path))
            .filter(|v| !v.is_null())
            .ok_or_else(|| {
                bad(
                    "PROCESSING_HALTED",
                    format!("Invalid reference specified. No value for {expr} found in {r}. Provided referenceId ({r}) must match a prior successful subrequest."),
                )
            })?;
        if start == 0 && end + 3 == rest.len() && out.is_empty() {
            whole = Some(value.clone());
        }
        match value {
            J::String(v) => out.push_str(v),
            other => out.push_str(&other.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(whole.unwrap_or(J::String(out)))
}

fn substitute_json(v: &J, results: &HashMap<String, J>) -> Result<J, ApiError> {
    Ok(match v {
        J::String(s) => substitute(s, results)?,
        J::Array(a) => J::Array(
            a.iter()
                .map(|x| substitute_json(x, results))
                .collect::<Result<_, _>>()?,
        ),
        J::Object(m) => J::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), substitute_json(x, results)?)))
                .collect::<Result<_, ApiError>>()?,
        ),
        other => other.clone(),
    })
}

fn query_params(q: &str) -> HashMap<String, String> {
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_owned())
}

/// Runs one subrequest (`url` relative to `/services/data/`, e.g. `v59.0/sobjects/Account`)
/// inside `txn`. `all_or_none` overrides the flag of embedded collections requests when set.
pub fn dispatch(
    org: &DevOrg,
    txn: &mut Txn<'_>,
    method: &Method,
    url: &str,
    body: Option<&J>,
    all_or_none: Option<bool>,
) -> Reply {
    dispatch_inner(org, txn, method, url, body, all_or_none).unwrap_or_else(Reply::from)
}

fn dispatch_inner(
    org: &DevOrg,
    txn: &mut Txn<'_>,
    method: &Method,
    url: &str,
    body: Option<&J>,
    all_or_none: Option<bool>,
) -> Result<Reply, ApiError> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let params = query_params(query);
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let Some((first, segs)) = segs.split_first() else {
        return Err(ApiError::not_found());
    };
    let version = first
        .strip_prefix('v')
        .and_then(|v| ApiVersion::parse(v).ok())
        .ok_or_else(ApiError::not_found)?;
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let obj = |b: Option<&J>| -> Result<Map<String, J>, ApiError> {
        match b {
            Some(J::Object(m)) => Ok(m.clone()),
            Some(other) => Err(sobjects::not_an_object(other)),
            None => Err(bad(
                "JSON_PARSER_ERROR",
                "The HTTP entity body is required, but this request has no entity body.",
            )),
        }
    };
    let fields = params.get("fields").map(String::as_str);
    let m = method.as_str();
    match (m, segs.as_slice()) {
        ("POST", ["sobjects", t]) => sobjects::op_create(txn, version, t, &obj(body)?),
        ("GET", ["sobjects", t, id]) => sobjects::op_get(txn.data(), version, t, id, fields),
        ("PATCH", ["sobjects", t, id]) => sobjects::op_update(txn, t, id, &obj(body)?),
        ("DELETE", ["sobjects", t, id]) => sobjects::op_delete(txn, t, id),
        ("POST", ["sobjects", t, id]) if id.eq_ignore_ascii_case("Id") => {
            sobjects::op_upsert(txn, version, t, "Id", None, &obj(body)?, false)
        }
        ("GET", ["sobjects", t, f, v]) => {
            sobjects::op_get_by_ext(txn.data(), version, t, f, v, fields)
        }
        ("PATCH", ["sobjects", t, f, v]) => {
            let update_only = params.get("updateOnly").is_some_and(|s| s == "true");
            sobjects::op_upsert(txn, version, t, f, Some(v), &obj(body)?, update_only)
        }
        ("DELETE", ["sobjects", t, f, v]) => sobjects::op_delete_by_ext(txn, version, t, f, v),
        ("POST", ["composite", "sobjects"]) => {
            let b = obj(body)?;
            let aon = all_or_none.unwrap_or_else(|| flag(b.get("allOrNone")));
            Ok(ok(collection_save(txn, version, &b, aon, Save::Create)?))
        }
        ("PATCH", ["composite", "sobjects"]) => {
            let b = obj(body)?;
            let aon = all_or_none.unwrap_or_else(|| flag(b.get("allOrNone")));
            Ok(ok(collection_save(txn, version, &b, aon, Save::Update)?))
        }
        ("PATCH", ["composite", "sobjects", t, f]) => {
            let b = obj(body)?;
            let aon = all_or_none.unwrap_or_else(|| flag(b.get("allOrNone")));
            Ok(ok(collection_save(
                txn,
                version,
                &b,
                aon,
                Save::Upsert {
                    object: t,
                    field: f,
                },
            )?))
        }
        ("DELETE", ["composite", "sobjects"]) => {
            let aon =
                all_or_none.unwrap_or_else(|| params.get("allOrNone").is_some_and(|s| s == "true"));
            let ids = params.get("ids").map(String::as_str).unwrap_or("");
            Ok(ok(collection_delete_ids(txn, ids, aon)?))
        }
        ("GET", ["composite", "sobjects", t]) => {
            let ids: Vec<&str> = params
                .get("ids")
                .map(|s| s.split(',').collect())
                .unwrap_or_default();
            Ok(ok(retrieve(txn.data(), version, t, &ids, fields)?))
        }
        ("GET", [kind @ ("query" | "queryAll")]) => {
            let text = params
                .get("q")
                .filter(|q| !q.trim().is_empty())
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "MALFORMED_QUERY",
                        "The query string is empty",
                    )
                })?;
            let all = *kind == "queryAll";
            let body = super::query::first_page(
                txn.data(),
                org.cursors(),
                version,
                super::query::DEFAULT_BATCH,
                text,
                all,
            )?;
            Ok(ok(body))
        }
        _ => Err(ApiError::not_found()),
    }
}

fn ok(body: J) -> Reply {
    Reply::json(StatusCode::OK, body)
}

async fn composite(State(org): State<DevOrg>, body: Result<Bytes, BytesRejection>) -> Response {
    let req = match read_object(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let all_or_none = flag(req.get("allOrNone"));
    let Some(subs) = req.get("compositeRequest").and_then(J::as_array) else {
        return bad(
            "JSON_PARSER_ERROR",
            "compositeRequest is required and must be an array",
        )
        .into_response();
    };
    if subs.len() > MAX_SUBREQUESTS {
        return bad(
            "LIMIT_EXCEEDED",
            format!(
                "Composite request contains {} subrequests; the limit is {MAX_SUBREQUESTS}",
                subs.len()
            ),
        )
        .into_response();
    }
    // Validate the envelope before touching anything.
    let mut parsed = Vec::with_capacity(subs.len());
    let mut seen = std::collections::HashSet::new();
    for s in subs {
        let method = s
            .get("method")
            .and_then(J::as_str)
            .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok());
        let url = s.get("url").and_then(J::as_str);
        let reference = s.get("referenceId").and_then(J::as_str);
        let (Some(method), Some(url), Some(reference)) = (method, url, reference) else {
            return bad(
                "JSON_PARSER_ERROR",
                "Each subrequest needs method, url and referenceId",
            )
            .into_response();
        };
        if !valid_reference_id(reference) {
            return bad("INVALID_INPUT", format!("Invalid reference id: {reference}. Reference Id can only contain alphanumeric characters and underscores, and must begin with an alphanumeric character.")).into_response();
        }
        if !seen.insert(reference.to_owned()) {
            return bad(
                "INVALID_INPUT",
                format!("Duplicate reference id: {reference}"),
            )
            .into_response();
        }
        if let Some(h) = s.get("httpHeaders").and_then(J::as_object)
            && let Some(k) = h.keys().find(|k| {
                ["accept", "authorization", "content-type"]
                    .contains(&k.to_ascii_lowercase().as_str())
            })
        {
            return bad(
                "INVALID_INPUT",
                format!("The header {k} is not allowed in a subrequest"),
            )
            .into_response();
        }
        parsed.push((method, url.to_owned(), reference.to_owned(), s.get("body")));
    }
    let mut txn = org.store().write();
    let mut results: HashMap<String, J> = HashMap::new();
    let mut replies: Vec<(String, Reply)> = Vec::with_capacity(parsed.len());
    let mut failed_at = None;
    for (i, (method, url, reference, body)) in parsed.iter().enumerate() {
        let sp = txn.savepoint();
        let reply = (|| -> Result<Reply, ApiError> {
            let url = match substitute(url, &results)? {
                J::String(s) => s,
                other => other.to_string(),
            };
            let rel = url
                .strip_prefix("/services/data/")
                .ok_or_else(ApiError::not_found)?;
            let body = body.map(|b| substitute_json(b, &results)).transpose()?;
            let reply = dispatch(
                &org,
                &mut txn,
                method,
                rel,
                body.as_ref(),
                all_or_none.then_some(true),
            );
            Ok(reply)
        })()
        .unwrap_or_else(Reply::from);
        let failed =
            reply.status.as_u16() >= 400 || (all_or_none && collection_has_failure(&reply));
        if failed {
            txn.rollback_to(sp);
        } else if let Some(b) = &reply.body {
            results.insert(reference.clone(), b.clone());
        }
        replies.push((reference.clone(), reply));
        if failed && all_or_none {
            failed_at = Some(i);
            break;
        }
    }
    if let Some(fail) = failed_at {
        drop(txn);
        let halted = || {
            Reply::json(
                StatusCode::BAD_REQUEST,
                json!([{"errorCode": "PROCESSING_HALTED", "message": ROLLBACK}]),
            )
        };
        let mut out: Vec<(String, Reply)> = Vec::with_capacity(parsed.len());
        for (i, (_, _, reference, _)) in parsed.iter().enumerate() {
            if i == fail {
                out.push(replies[i].clone());
            } else {
                out.push((reference.clone(), halted()));
            }
        }
        return json_response(StatusCode::OK, &composite_body(&out));
    }
    let body = composite_body(&replies);
    match txn.commit() {
        Ok(()) => json_response(StatusCode::OK, &body),
        Err(e) => {
            tracing::error!(error = %e, "journal write failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred while saving.",
            )
            .into_response()
        }
    }
}

fn collection_has_failure(r: &Reply) -> bool {
    r.body
        .as_ref()
        .and_then(J::as_array)
        .is_some_and(|a| a.iter().any(|x| x.get("success") == Some(&J::Bool(false))))
}

fn composite_body(replies: &[(String, Reply)]) -> J {
    let entries: Vec<J> = replies
        .iter()
        .map(|(reference, r)| {
            let headers = match &r.location {
                Some(l) => json!({"Location": l}),
                None => json!({}),
            };
            json!({
                "body": r.body.clone().unwrap_or(J::Null),
                "httpHeaders": headers,
                "httpStatusCode": r.status.as_u16(),
                "referenceId": reference,
            })
        })
        .collect();
    json!({"compositeResponse": entries})
}

// ---- /composite/batch ----

async fn batch(State(org): State<DevOrg>, body: Result<Bytes, BytesRejection>) -> Response {
    let req = match read_object(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let halt = flag(req.get("haltOnError"));
    let Some(subs) = req.get("batchRequests").and_then(J::as_array) else {
        return bad(
            "JSON_PARSER_ERROR",
            "batchRequests is required and must be an array",
        )
        .into_response();
    };
    if subs.len() > MAX_SUBREQUESTS {
        return bad(
            "LIMIT_EXCEEDED",
            format!(
                "Batch request contains {} subrequests; the limit is {MAX_SUBREQUESTS}",
                subs.len()
            ),
        )
        .into_response();
    }
    let mut txn = org.store().write();
    let mut results = Vec::with_capacity(subs.len());
    let mut has_errors = false;
    let mut halted = false;
    for s in subs {
        if halted {
            results.push(json!({
                "statusCode": 412,
                "result": [{"errorCode": "BATCH_PROCESSING_HALTED", "message": "Batch processing halted per request"}],
            }));
            continue;
        }
        let method = s
            .get("method")
            .and_then(J::as_str)
            .and_then(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok());
        let url = s.get("url").and_then(J::as_str);
        let reply = match (method, url) {
            (Some(m), Some(u)) => {
                let rel = u
                    .strip_prefix("/services/data/")
                    .unwrap_or(u)
                    .trim_start_matches('/');
                // Each subrequest stands alone: a failure undoes only its own changes.
                let sp = txn.savepoint();
                let r = dispatch(&org, &mut txn, &m, rel, s.get("richInput"), None);
                if r.status.as_u16() >= 400 {
                    txn.rollback_to(sp);
                }
                r
            }
            _ => Reply::from(bad(
                "INVALID_INPUT",
                "Each batch request needs method and url",
            )),
        };
        if reply.status.as_u16() >= 400 {
            has_errors = true;
            halted = halt;
        }
        results.push(json!({
            "statusCode": reply.status.as_u16(),
            "result": reply.body.unwrap_or(J::Null),
        }));
    }
    let body = json!({"hasErrors": has_errors, "results": results});
    finish(txn, Ok(Reply::json(StatusCode::OK, body)))
}

// ---- /composite/sobjects ----

#[derive(Clone, Copy)]
enum Save<'a> {
    Create,
    Update,
    Upsert { object: &'a str, field: &'a str },
}

fn records_of(body: &Map<String, J>) -> Result<&Vec<J>, ApiError> {
    let records = body.get("records").and_then(J::as_array).ok_or_else(|| {
        bad(
            "JSON_PARSER_ERROR",
            "records is required and must be an array",
        )
    })?;
    if records.len() > MAX_RECORDS {
        return Err(bad(
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        ));
    }
    Ok(records)
}

/// Creates, updates or upserts a collection; returns the result array.
fn collection_save(
    txn: &mut Txn<'_>,
    version: ApiVersion,
    body: &Map<String, J>,
    all_or_none: bool,
    mode: Save<'_>,
) -> Result<J, ApiError> {
    let records = records_of(body)?;
    // For upsert the object and field are checked up front: a bad one fails the request.
    let upsert_target = match mode {
        Save::Upsert { object, field } => {
            let t = table_of(txn.data(), object)?;
            let f = ext_field(&txn.data().tables()[t], field)?;
            Some((t, f))
        }
        _ => None,
    };
    let start = txn.savepoint();
    // (id, created, error) per record.
    let mut outcomes: Vec<(Option<Id>, Option<bool>, Option<ApiError>)> = Vec::new();
    for rec in records {
        let sp = txn.savepoint();
        let r = save_one(txn, version, rec, mode, upsert_target);
        match r {
            Ok((id, created)) => outcomes.push((Some(id), created, None)),
            Err((id, e)) => {
                txn.rollback_to(sp);
                let created = upsert_target.map(|_| false);
                outcomes.push((id, created, Some(e)));
            }
        }
    }
    let any_failed = outcomes.iter().any(|o| o.2.is_some());
    if all_or_none && any_failed {
        txn.rollback_to(start);
    }
    let out: Vec<J> = outcomes
        .into_iter()
        .map(|(id, created, err)| {
            let mut m = Map::new();
            let show_id = matches!(mode, Save::Update) || err.is_none();
            match err {
                Some(e) => {
                    if show_id && let Some(id) = id {
                        m.insert("id".into(), json!(id));
                    }
                    m.insert("success".into(), J::Bool(false));
                    m.insert("errors".into(), save_errors(&e));
                }
                None if all_or_none && any_failed => {
                    if !matches!(mode, Save::Create)
                        && let Some(id) = id
                    {
                        m.insert("id".into(), json!(id));
                    }
                    m.insert("success".into(), J::Bool(false));
                    m.insert(
                        "errors".into(),
                        json!([{"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": AON_ROLLED_BACK, "fields": []}]),
                    );
                }
                None => {
                    if let Some(id) = id {
                        m.insert("id".into(), json!(id));
                    }
                    m.insert("success".into(), J::Bool(true));
                    m.insert("errors".into(), json!([]));
                }
            }
            if let Some(c) = created {
                m.insert("created".into(), J::Bool(c));
            }
            J::Object(m)
        })
        .collect();
    Ok(J::Array(out))
}

type SaveOne = Result<(Id, Option<bool>), (Option<Id>, ApiError)>;

fn save_one(
    txn: &mut Txn<'_>,
    version: ApiVersion,
    rec: &J,
    mode: Save<'_>,
    upsert_target: Option<(usize, usize)>,
) -> SaveOne {
    let Some(rec) = rec.as_object() else {
        return Err((None, sobjects::not_an_object(rec)));
    };
    let ty = rec
        .get("attributes")
        .and_then(|a| a.get("type"))
        .and_then(J::as_str);
    let mut body = rec.clone();
    match mode {
        Save::Create => {
            let ty = ty.ok_or_else(|| (None, missing_type()))?;
            let t = table_of(txn.data(), ty).map_err(|_| (None, invalid_type(ty)))?;
            if let Some(id) = body.get("id").filter(|v| !v.is_null()) {
                let _ = id;
                return Err((
                    None,
                    bad("INVALID_FIELD", "cannot specify Id in an insert call"),
                ));
            }
            txn.create(t, &body)
                .map(|id| (id, None))
                .map_err(|e| (None, e))
        }
        Save::Update => {
            let raw_id = body
                .remove("id")
                .or_else(|| body.remove("Id"))
                .and_then(|v| v.as_str().map(str::to_owned));
            let Some(raw_id) = raw_id else {
                return Err((
                    None,
                    ApiError::with_fields(
                        StatusCode::BAD_REQUEST,
                        "MISSING_ARGUMENT",
                        "Id not specified in an update call",
                        vec![],
                    ),
                ));
            };
            let Ok(id) = Id::parse(&raw_id) else {
                return Err((None, malformed(&raw_id)));
            };
            let ty = ty.ok_or_else(|| (Some(id), missing_type()))?;
            let t = table_of(txn.data(), ty).map_err(|_| (Some(id), invalid_type(ty)))?;
            if id.key_prefix() != txn.data().tables()[t].def().key_prefix {
                return Err((Some(id), malformed(&raw_id)));
            }
            txn.update(t, id, &body)
                .map(|()| (id, None))
                .map_err(|e| (Some(id), e))
        }
        Save::Upsert { .. } => {
            let Some((t, f)) = upsert_target else {
                return Err((None, ApiError::not_found()));
            };
            let fname = txn.data().tables()[t].def().fields[f].name.clone();
            let key = body
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&fname))
                .map(|(_, v)| v.clone());
            let raw = match &key {
                Some(J::String(s)) => Some(s.clone()),
                Some(J::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            if raw.is_none() && fname != "Id" {
                return Err((
                    None,
                    ApiError::with_fields(
                        StatusCode::BAD_REQUEST,
                        "MISSING_ARGUMENT",
                        format!("{fname} not specified"),
                        vec![],
                    ),
                ));
            }
            if fname == "Id" {
                body.retain(|k, _| !k.eq_ignore_ascii_case("Id"));
            }
            let _ = version;
            match txn.upsert(t, f, raw.as_deref(), &body) {
                Ok(Upserted::Created(id)) => Ok((id, Some(true))),
                Ok(Upserted::Updated(id)) => Ok((id, Some(false))),
                Ok(Upserted::Multiple(_)) => Err((
                    None,
                    bad(
                        "DUPLICATE_EXTERNAL_ID",
                        format!(
                            "{fname}: more than one record found for external id field: {}",
                            raw.unwrap_or_default()
                        ),
                    ),
                )),
                Err(e) => Err((None, e)),
            }
        }
    }
}

fn missing_type() -> ApiError {
    bad("INVALID_TYPE", "Must send a concrete entity type.")
}

fn invalid_type(ty: &str) -> ApiError {
    bad(
        "INVALID_TYPE",
        format!("sObject type '{ty}' is not supported."),
    )
}

fn malformed(raw: &str) -> ApiError {
    ApiError::with_fields(
        StatusCode::BAD_REQUEST,
        "MALFORMED_ID",
        format!("malformed id {raw}"),
        vec![],
    )
}

/// Deletes a comma-separated id list; returns the result array.
fn collection_delete_ids(txn: &mut Txn<'_>, ids: &str, all_or_none: bool) -> Result<J, ApiError> {
    let ids: Vec<&str> = ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if ids.len() > MAX_RECORDS {
        return Err(bad(
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        ));
    }
    let start = txn.savepoint();
    let mut outcomes: Vec<(Option<Id>, Option<ApiError>)> = Vec::new();
    for raw in ids {
        let r = (|| -> Result<Id, (Option<Id>, ApiError)> {
            let id = Id::parse(raw).map_err(|_| (None, malformed(raw)))?;
            let t = txn
                .data()
                .tables()
                .iter()
                .position(|t| t.def().key_prefix == id.key_prefix())
                .ok_or((None, malformed(raw)))?;
            let sp = txn.savepoint();
            txn.delete(t, id).map_err(|e| {
                txn.rollback_to(sp);
                let e = if e.code() == "NOT_FOUND" {
                    ApiError::with_fields(
                        StatusCode::BAD_REQUEST,
                        "INVALID_CROSS_REFERENCE_KEY",
                        "invalid cross reference id",
                        vec![],
                    )
                } else {
                    e
                };
                (Some(id), e)
            })?;
            Ok(id)
        })();
        match r {
            Ok(id) => outcomes.push((Some(id), None)),
            Err((id, e)) => outcomes.push((id, Some(e))),
        }
    }
    let any_failed = outcomes.iter().any(|o| o.1.is_some());
    if all_or_none && any_failed {
        txn.rollback_to(start);
    }
    Ok(J::Array(
        outcomes
            .into_iter()
            .map(|(id, err)| {
                let mut m = Map::new();
                if let Some(id) = id {
                    m.insert("id".into(), json!(id));
                }
                let errors = match err {
                    Some(e) => save_errors(&e),
                    None if all_or_none && any_failed => json!([{"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": AON_ROLLED_BACK, "fields": []}]),
                    None => json!([]),
                };
                let success = errors.as_array().is_some_and(Vec::is_empty);
                m.insert("success".into(), J::Bool(success));
                m.insert("errors".into(), errors);
                J::Object(m)
            })
            .collect(),
    ))
}

/// Retrieves records of one type by id: the records, `null` for ids not found or deleted.
fn retrieve(
    data: &Data,
    version: ApiVersion,
    sobject: &str,
    ids: &[&str],
    fields: Option<&str>,
) -> Result<J, ApiError> {
    let t = &data.tables()[table_of(data, sobject)?];
    if ids.len() > 2000 {
        return Err(bad("EXCEEDED_ID_LIMIT", "too many ids"));
    }
    let list = fields.map(|f| field_list(t, f)).transpose()?;
    let mut out = Vec::with_capacity(ids.len());
    for raw in ids {
        let raw = raw.trim();
        let id = Id::parse(raw)
            .ok()
            .filter(|id| id.key_prefix() == t.def().key_prefix)
            .ok_or_else(|| {
                ApiError::with_fields(
                    StatusCode::BAD_REQUEST,
                    "MALFORMED_ID",
                    format!("{} ID: id value of incorrect type: {raw}", t.def().label),
                    vec!["Id".into()],
                )
            })?;
        let rec = t
            .row_of(id)
            .filter(|r| t.record(*r).is_some_and(|rec| !rec.is_deleted()))
            .map(|r| J::Object(t.record_json(r, list.as_deref(), version)));
        out.push(rec.unwrap_or(J::Null));
    }
    Ok(J::Array(out))
}

async fn collection_create(
    State(org): State<DevOrg>,
    Version(v): Version,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    collection_write(org, v, body, Save::Create)
}

async fn collection_update(
    State(org): State<DevOrg>,
    Version(v): Version,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    collection_write(org, v, body, Save::Update)
}

#[derive(serde::Deserialize)]
struct UpsertPath {
    sobject: String,
    field: String,
}

async fn collection_upsert(
    State(org): State<DevOrg>,
    Version(v): Version,
    p: Result<Path<UpsertPath>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(Path(p)) = p else {
        return ApiError::not_found().into_response();
    };
    collection_write(
        org,
        v,
        body,
        Save::Upsert {
            object: &p.sobject,
            field: &p.field,
        },
    )
}

fn collection_write(
    org: DevOrg,
    v: ApiVersion,
    body: Result<Bytes, BytesRejection>,
    mode: Save<'_>,
) -> Response {
    let b = match read_object(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let aon = flag(b.get("allOrNone"));
    let mut txn = org.store().write();
    let r = collection_save(&mut txn, v, &b, aon, mode).map(ok);
    finish(txn, r)
}

type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

async fn collection_delete(State(org): State<DevOrg>, q: Params) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let aon = q.get("allOrNone").is_some_and(|s| s == "true");
    let ids = q.get("ids").cloned().unwrap_or_default();
    let mut txn = org.store().write();
    let r = collection_delete_ids(&mut txn, &ids, aon).map(ok);
    finish(txn, r)
}

#[derive(serde::Deserialize)]
struct ObjPath {
    sobject: String,
}

async fn collection_retrieve_get(
    State(org): State<DevOrg>,
    Version(v): Version,
    p: Result<Path<ObjPath>, PathRejection>,
    q: Params,
) -> Response {
    let Ok(Path(p)) = p else {
        return ApiError::not_found().into_response();
    };
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let ids: Vec<&str> = q
        .get("ids")
        .map(|s| s.split(',').collect())
        .unwrap_or_default();
    let data = org.store().read();
    retrieve(
        &data,
        v,
        &p.sobject,
        &ids,
        q.get("fields").map(String::as_str),
    )
    .map(ok)
    .into_response()
}

async fn collection_retrieve_post(
    State(org): State<DevOrg>,
    Version(v): Version,
    p: Result<Path<ObjPath>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(Path(p)) = p else {
        return ApiError::not_found().into_response();
    };
    let b = match read_object(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let strings = |k: &str| -> Vec<String> {
        b.get(k)
            .and_then(J::as_array)
            .map(|a| a.iter().filter_map(J::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let ids = strings("ids");
    let fields = strings("fields");
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let fields = (!fields.is_empty()).then(|| fields.join(","));
    let data = org.store().read();
    retrieve(&data, v, &p.sobject, &ids, fields.as_deref())
        .map(ok)
        .into_response()
}

// ---- /composite/tree ----

#[derive(serde::Deserialize)]
struct TreePath {
    sobject: String,
}

struct TreeNode {
    object: String,
    reference: String,
    body: Map<String, J>,
    /// Index of the parent node and the parent's reference field on this child.
    parent: Option<(usize, String)>,
    level: usize,
}

fn flatten_tree(
    data: &Data,
    records: &[J],
    object: &str,
    parent: Option<(usize, String)>,
    level: usize,
    out: &mut Vec<TreeNode>,
) -> Result<(), ApiError> {
    for rec in records {
        let Some(rec) = rec.as_object() else {
            return Err(sobjects::not_an_object(rec));
        };
        let attrs = rec.get("attributes");
        let ty = attrs
            .and_then(|a| a.get("type"))
            .and_then(J::as_str)
            .unwrap_or(object);
        if !ty.eq_ignore_ascii_case(object) {
            return Err(bad(
                "INVALID_INPUT",
                format!("The type {ty} does not match the expected type {object}"),
            ));
        }
        let reference = attrs
            .and_then(|a| a.get("referenceId"))
            .and_then(J::as_str)
            .ok_or_else(|| bad("INVALID_INPUT", "Each record needs attributes.referenceId"))?;
        let t = data.table(object).ok_or_else(|| invalid_type(object))?;
        let def = t.def().clone();
        let mut body = Map::new();
        let mut children = Vec::new();
        for (k, v) in rec {
            if k == "attributes" {
                continue;
            }
            if let Some(rel) = def.child_relationship(k)
                && v.is_object()
            {
                children.push((rel.clone(), v.clone()));
            } else {
                body.insert(k.clone(), v.clone());
            }
        }
        let me = out.len();
        out.push(TreeNode {
            object: def.name.clone(),
            reference: reference.to_owned(),
            body,
            parent: parent.clone(),
            level,
        });
        for (rel, v) in children {
            let kids = v
                .get("records")
                .and_then(J::as_array)
                .ok_or_else(|| bad("INVALID_INPUT", "A child relationship needs records"))?;
            flatten_tree(
                data,
                kids,
                &rel.child_object,
                Some((me, rel.field.clone())),
                level + 1,
                out,
            )?;
        }
    }
    Ok(())
}

async fn tree(
    State(org): State<DevOrg>,
    p: Result<Path<TreePath>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(Path(p)) = p else {
        return ApiError::not_found().into_response();
    };
    let b = match read_object(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let mut txn = org.store().write();
    if txn.data().table_index(&p.sobject).is_none() {
        return ApiError::not_found().into_response();
    }
    let Some(records) = b.get("records").and_then(J::as_array) else {
        return bad(
            "JSON_PARSER_ERROR",
            "records is required and must be an array",
        )
        .into_response();
    };
    let mut nodes = Vec::new();
    if let Err(e) = flatten_tree(txn.data(), records, &p.sobject, None, 0, &mut nodes) {
        return e.into_response();
    }
    if nodes.len() > MAX_RECORDS {
        return bad(
            "EXCEEDED_ID_LIMIT",
            "record limit reached. cannot submit more than 200 records into this call",
        )
        .into_response();
    }
    // Roots first, then level by level, each level in input order.
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by_key(|&i| nodes[i].level);
    let mut ids: Vec<Option<Id>> = vec![None; nodes.len()];
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for i in order {
        let node = &nodes[i];
        let mut body = node.body.clone();
        if let Some((parent, field)) = &node.parent {
            match ids[*parent] {
                Some(pid) => {
                    body.insert(field.clone(), json!(pid));
                }
                None => continue,
            }
        }
        let Some(t) = txn.data().table_index(&node.object) else {
            continue;
        };
        match txn.create(t, &body) {
            Ok(id) => {
                ids[i] = Some(id);
                results.push(json!({"referenceId": node.reference, "id": id}));
            }
            Err(e) => {
                errors.push(json!({"referenceId": node.reference, "errors": save_errors(&e)}))
            }
        }
    }
    if !errors.is_empty() {
        drop(txn);
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"hasErrors": true, "results": errors}),
        );
    }
    finish(
        txn,
        Ok(Reply::json(
            StatusCode::CREATED,
            json!({"hasErrors": false, "results": results}),
        )),
    )
}
