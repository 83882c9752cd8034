//! Record routes: create, get, update, delete, and get/upsert/delete by External ID.
//!
//! | route | answer |
//! | --- | --- |
//! | `POST /sobjects/{Type}` | 201 `{"id","success":true,"errors":[]}` |
//! | `POST /sobjects/{Type}/Id` | the same (upsert on `Id` with no value creates) |
//! | `GET /sobjects/{Type}/{id}[?fields=A,B]` | 200, the record with `attributes` |
//! | `PATCH /sobjects/{Type}/{id}` | 204 |
//! | `DELETE /sobjects/{Type}/{id}` | 204, to the recycle bin |
//! | `GET /sobjects/{Type}/{Field}/{value}` | 200 one record, 300 URLs of several |
//! | `PATCH /sobjects/{Type}/{Field}/{value}` | 201 `created:true` / 200 `created:false` (204 before v46) / 300 |
//! | `DELETE /sobjects/{Type}/{Field}/{value}` | 204 / 300 |
//!
//! A 15-character id is accepted wherever an id is. A path segment that is not id-shaped is taken
//! as an External ID field name: 404 `Provided external ID field does not exist or is not
//! accessible: <segment>`. An id-shaped segment with a bad checksum or another object's prefix is
//! 400 MALFORMED_ID.
//!
//! The operations are plain functions over a [`Txn`] or [`Data`] returning a [`Reply`], so
//! `/composite` runs exactly the same logic inside its own transaction.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use callforce_types::{ApiVersion, Id};
use serde_json::{Map, Value as J, json};

use crate::error::json_response;
use crate::rest::Version;
use crate::schema::FieldType;
use crate::store::{Data, Table, Txn, Upserted, record_url};
use crate::{ApiError, DevOrg};

/// The largest request body accepted (bigger gets 413).
pub const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// What a record operation answers: status, optional JSON body, optional `Location`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body (`None` for 204).
    pub body: Option<J>,
    /// The `Location` header of a 201 create.
    pub location: Option<String>,
}

impl Reply {
    /// A reply with a JSON body.
    pub fn json(status: StatusCode, body: J) -> Self {
        Self {
            status,
            body: Some(body),
            location: None,
        }
    }

    /// A 204 No Content.
    pub fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            body: None,
            location: None,
        }
    }
}

impl From<ApiError> for Reply {
    fn from(e: ApiError) -> Self {
        Self::json(e.status, serde_json::to_value(&e.errors).unwrap_or(J::Null))
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut r = match &self.body {
            Some(b) => json_response(self.status, b),
            None => self.status.into_response(),
        };
        if let Some(loc) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            r.headers_mut().insert(header::LOCATION, loc);
        }
        r
    }
}

/// The sobjects routes under `/services/data/{version}`.
pub fn routes() -> axum::Router<DevOrg> {
    axum::Router::new()
        // NB: `GET /sobjects/{sobject}` (basic info) and `/sobjects/{sobject}/describe` belong to
        // `super::metadata`; axum merges the two method routers of the identical path string, so
        // neither side may add a fallback or a method the other has (the router test catches it).
        .route("/sobjects/{sobject}", post(create))
        .route(
            "/sobjects/{sobject}/{id}",
            get(get_record)
                .patch(update)
                .delete(delete)
                .post(post_id)
                .fallback(not_allowed("HEAD,GET,PATCH,DELETE")),
        )
        .route(
            "/sobjects/{sobject}/{id}/{value}",
            get(get_by_ext)
                .patch(upsert)
                .delete(delete_by_ext)
                .fallback(not_allowed("HEAD,GET,PATCH,DELETE")),
        )
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

/// A 405 answer naming the allowed methods.
pub(crate) fn not_allowed(allowed: &'static str) -> MethodRouter<DevOrg> {
    MethodRouter::new().fallback(move |method: Method| async move {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            format!("HTTP Method '{method}' not allowed. Allowed are {allowed}"),
        )
    })
}

#[derive(serde::Deserialize)]
struct ObjPath {
    sobject: String,
}

#[derive(serde::Deserialize)]
struct RecPath {
    sobject: String,
    id: String,
}

#[derive(serde::Deserialize)]
struct ExtPath {
    sobject: String,
    id: String,
    value: String,
}

type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

fn param<'a>(q: &'a Params, name: &str) -> Option<&'a str> {
    q.as_ref()
        .ok()
        .and_then(|q| q.0.get(name))
        .map(String::as_str)
}

/// The table index of `sobject`, or 404 NOT_FOUND.
pub(crate) fn table_of(data: &Data, sobject: &str) -> Result<usize, ApiError> {
    data.table_index(sobject).ok_or_else(ApiError::not_found)
}

/// The 404 for a path segment that is neither an id nor an External ID field.
pub(crate) fn no_such_ext_field(segment: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("Provided external ID field does not exist or is not accessible: {segment}"),
    )
}

/// Reads an id path segment for `table`: 400 MALFORMED_ID for an id-shaped segment with a bad
/// checksum or another object's prefix, 404 (external id field) for anything else.
pub(crate) fn parse_id_segment(t: &Table, seg: &str) -> Result<Id, ApiError> {
    if !Id::looks_like(seg) {
        return Err(no_such_ext_field(seg));
    }
    match Id::parse(seg) {
        Ok(id) if id.key_prefix() == t.def().key_prefix => Ok(id),
        _ => Err(ApiError::with_fields(
            StatusCode::BAD_REQUEST,
            "MALFORMED_ID",
            format!("{} ID: id value of incorrect type: {seg}", t.def().label),
            vec!["Id".into()],
        )),
    }
}

/// The position of an upsert key field: an External ID, unique or email field, or `Id`.
pub(crate) fn ext_field(t: &Table, name: &str) -> Result<usize, ApiError> {
    t.def()
        .field_index(name)
        .filter(|&i| {
            let f = &t.def().fields[i];
            f.external_id || f.unique || f.ty == FieldType::Email || f.ty == FieldType::Id
        })
        .ok_or_else(|| no_such_ext_field(name))
}

/// Parses a request body that must be a JSON object, with Salesforce's JSON_PARSER_ERROR texts.
///
/// # Errors
/// 400 JSON_PARSER_ERROR for an empty body, malformed JSON or a body that is not an object.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, J>, ApiError> {
    match parse_json(bytes)? {
        J::Object(m) => Ok(m),
        other => Err(not_an_object(&other)),
    }
}

/// The JSON_PARSER_ERROR for a body of the wrong JSON kind.
pub(crate) fn not_an_object(v: &J) -> ApiError {
    let (token, text) = match v {
        J::Array(_) => ("START_ARRAY", "["),
        J::String(_) => ("VALUE_STRING", "\""),
        J::Number(_) => ("VALUE_NUMBER_INT", "0"),
        J::Bool(true) => ("VALUE_TRUE", "true"),
        J::Bool(false) => ("VALUE_FALSE", "false"),
        J::Null => ("VALUE_NULL", "null"),
        J::Object(_) => ("START_OBJECT", "{"),
    };
    parser_error(format!(
        "Cannot deserialize instance of SObject from {token} value {text} or request may be missing a required field at [line:1, column:1]"
    ))
}

fn parser_error(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "JSON_PARSER_ERROR", message)
}

/// Parses any JSON request body, with Jackson-like JSON_PARSER_ERROR messages.
///
/// # Errors
/// 400 JSON_PARSER_ERROR for an empty or malformed body.
pub fn parse_json(bytes: &[u8]) -> Result<J, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(parser_error(
            "The HTTP entity body is required, but this request has no entity body.".into(),
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| parser_error(jackson_message(bytes, &e)))
}

fn jackson_message(bytes: &[u8], e: &serde_json::Error) -> String {
    let (line, col) = (e.line(), e.column());
    let at = format!("at [line:{line}, column:{col}]");
    if e.is_eof() {
        return format!("Unexpected end-of-input {at}");
    }
    let text = String::from_utf8_lossy(bytes);
    let ch = text
        .lines()
        .nth(line.saturating_sub(1))
        .and_then(|l| l.chars().nth(col.saturating_sub(1)));
    let msg = e.to_string();
    let expecting = if msg.starts_with("expected `:`") {
        "was expecting a colon to separate field name and value"
    } else if msg.starts_with("key must be a string") {
        "was expecting double-quote to start field name"
    } else if msg.starts_with("expected `,` or `}`") {
        "was expecting comma to separate Object entries"
    } else if msg.starts_with("expected `,` or `]`") {
        "was expecting comma to separate Array entries"
    } else if msg.starts_with("trailing") {
        "expected end-of-input"
    } else {
        "expected a valid value (JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
    };
    match ch {
        Some(c) => format!(
            "Unexpected character ('{c}' (code {})): {expecting} {at}",
            u32::from(c)
        ),
        None => format!("Unexpected character: {expecting} {at}"),
    }
}

/// Reads a body extractor's result: a too-large body is 413, an unreadable one 400.
pub(crate) fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "REQUEST_ENTITY_TOO_LARGE",
                format!("The request body is larger than the limit of {BODY_LIMIT} bytes"),
            )
        } else {
            parser_error("The request body could not be read".into())
        }
    })
}

/// Commits `txn` when `result` succeeded (rolling back otherwise) and turns it into a response.
pub(crate) fn finish(txn: Txn<'_>, result: Result<Reply, ApiError>) -> Response {
    match result {
        Ok(reply) => match txn.commit() {
            Ok(()) => reply.into_response(),
            Err(e) => {
                tracing::error!(error = %e, "journal write failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "UNKNOWN_EXCEPTION",
                    "An unexpected error occurred while saving.",
                )
                .into_response()
            }
        },
        Err(e) => {
            drop(txn);
            e.into_response()
        }
    }
}

/// `{"id","success":true,"errors":[]}`.
fn save_result(id: Id) -> J {
    json!({"id": id, "success": true, "errors": []})
}

// ---- operations (shared with /composite) ----

/// Creates a record: 201 with the save result and a `Location`.
///
/// # Errors
/// 404 unknown type, 400 validation errors.
pub fn op_create(
    txn: &mut Txn<'_>,
    version: ApiVersion,
    sobject: &str,
    body: &Map<String, J>,
) -> Result<Reply, ApiError> {
    let table = table_of(txn.data(), sobject)?;
    let id = txn.create(table, body)?;
    let name = &txn.data().tables()[table].def().name;
    Ok(Reply {
        status: StatusCode::CREATED,
        body: Some(save_result(id)),
        location: Some(record_url(version, name, id)),
    })
}

/// The positions of the fields of a `fields=A,B` list, with `Id` added last when absent.
///
/// # Errors
/// 400 INVALID_FIELD for an unknown field.
pub fn field_list(t: &Table, list: &str) -> Result<Vec<usize>, ApiError> {
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let i = t.def().field_index(name).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_FIELD",
                format!(
                    "No such column '{name}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
                    t.def().name
                ),
            )
        })?;
        if !out.contains(&i) {
            out.push(i);
        }
    }
    if let Some(id) = t.def().field_index("Id")
        && !out.contains(&id)
    {
        out.push(id);
    }
    Ok(out)
}

fn render(t: &Table, id: Id, fields: Option<&str>, version: ApiVersion) -> Result<J, ApiError> {
    let row = t.row_of(id).ok_or_else(ApiError::not_found)?;
    if t.record(row).is_none_or(|r| r.is_deleted()) {
        return Err(ApiError::not_found());
    }
    let list = fields.map(|f| field_list(t, f)).transpose()?;
    Ok(J::Object(t.record_json(row, list.as_deref(), version)))
}

/// Gets a record by id: 200 with the record.
///
/// # Errors
/// 404 unknown type or record (deleted included), 400 MALFORMED_ID or INVALID_FIELD.
pub fn op_get(
    data: &Data,
    version: ApiVersion,
    sobject: &str,
    id: &str,
    fields: Option<&str>,
) -> Result<Reply, ApiError> {
    let t = &data.tables()[table_of(data, sobject)?];
    let id = parse_id_segment(t, id)?;
    Ok(Reply::json(StatusCode::OK, render(t, id, fields, version)?))
}

/// Updates a record by id: 204.
///
/// # Errors
/// 404 NOT_FOUND or ENTITY_IS_DELETED, 400 validation errors.
pub fn op_update(
    txn: &mut Txn<'_>,
    sobject: &str,
    id: &str,
    body: &Map<String, J>,
) -> Result<Reply, ApiError> {
    let table = table_of(txn.data(), sobject)?;
    let id = parse_id_segment(&txn.data().tables()[table], id)?;
    txn.update(table, id, body)?;
    Ok(Reply::no_content())
}

/// Deletes a record by id: 204.
///
/// # Errors
/// 404 NOT_FOUND or ENTITY_IS_DELETED.
pub fn op_delete(txn: &mut Txn<'_>, sobject: &str, id: &str) -> Result<Reply, ApiError> {
    let table = table_of(txn.data(), sobject)?;
    let id = parse_id_segment(&txn.data().tables()[table], id)?;
    txn.delete(table, id)?;
    Ok(Reply::no_content())
}

fn multiple(t: &Table, ids: &[Id], version: ApiVersion) -> Reply {
    let urls: Vec<String> = ids
        .iter()
        .map(|id| record_url(version, &t.def().name, *id))
        .collect();
    Reply::json(StatusCode::MULTIPLE_CHOICES, json!(urls))
}

/// Gets a record by External ID: 200, or 300 with the URLs of several matches.
///
/// # Errors
/// 404 unknown type, field or value.
pub fn op_get_by_ext(
    data: &Data,
    version: ApiVersion,
    sobject: &str,
    field: &str,
    value: &str,
    fields: Option<&str>,
) -> Result<Reply, ApiError> {
    let t = &data.tables()[table_of(data, sobject)?];
    let f = ext_field(t, field)?;
    match crate::store::find_matches(t, f, value).as_slice() {
        [] => Err(ApiError::not_found()),
        [one] => Ok(Reply::json(
            StatusCode::OK,
            render(t, *one, fields, version)?,
        )),
        many => Ok(multiple(t, many, version)),
    }
}

/// Upserts by External ID: 201 `created:true`, 200 `created:false` (v46+; 204 before), 300.
///
/// `value` is `None` for `POST /sobjects/{Type}/Id`, which always creates.
///
/// # Errors
/// 404 unknown type or field, the create or update error.
pub fn op_upsert(
    txn: &mut Txn<'_>,
    version: ApiVersion,
    sobject: &str,
    field: &str,
    value: Option<&str>,
    body: &Map<String, J>,
    update_only: bool,
) -> Result<Reply, ApiError> {
    let table = table_of(txn.data(), sobject)?;
    let t = &txn.data().tables()[table];
    let f = ext_field(t, field)?;
    let is_id = t.def().fields[f].ty == FieldType::Id;
    if let Some(v) = value
        && (is_id || update_only)
        && txn.matches(table, f, v).is_empty()
    {
        if is_id {
            parse_id_segment(t, v)?;
        }
        return Err(ApiError::not_found());
    }
    let with_created = version.0 >= 46;
    match txn.upsert(table, f, value, body)? {
        Upserted::Created(id) => {
            let mut body = save_result(id);
            if with_created {
                body["created"] = J::Bool(true);
            }
            let name = &txn.data().tables()[table].def().name;
            Ok(Reply {
                status: StatusCode::CREATED,
                body: Some(body),
                location: Some(record_url(version, name, id)),
            })
        }
        Upserted::Updated(id) if with_created => {
            let mut body = save_result(id);
            body["created"] = J::Bool(false);
            Ok(Reply::json(StatusCode::OK, body))
        }
        Upserted::Updated(_) => Ok(Reply::no_content()),
        Upserted::Multiple(ids) => Ok(multiple(&txn.data().tables()[table], &ids, version)),
    }
}

/// Deletes a record by External ID: 204, or 300 with several matches.
///
/// # Errors
/// 404 unknown type, field or value.
pub fn op_delete_by_ext(
    txn: &mut Txn<'_>,
    version: ApiVersion,
    sobject: &str,
    field: &str,
    value: &str,
) -> Result<Reply, ApiError> {
    let table = table_of(txn.data(), sobject)?;
    let f = ext_field(&txn.data().tables()[table], field)?;
    match txn.matches(table, f, value).as_slice() {
        [] => Err(ApiError::not_found()),
        [one] => {
            txn.delete(table, *one)?;
            Ok(Reply::no_content())
        }
        many => Ok(multiple(&txn.data().tables()[table], many, version)),
    }
}

// ---- handlers ----

fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    p.map(|Path(t)| t).map_err(|_| ApiError::not_found())
}

fn body_object(body: Result<Bytes, BytesRejection>) -> Result<Map<String, J>, ApiError> {
    parse_object(&body_bytes(body)?)
}

async fn create(
    State(org): State<DevOrg>,
    Version(v): Version,
    p: Result<Path<ObjPath>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let p = match path(p) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    // An unknown type is 404 whatever the body.
    if org.store().read().table_index(&p.sobject).is_none() {
        return ApiError::not_found().into_response();
    }
    let body = match body_object(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let mut txn = org.store().write();
    let r = op_create(&mut txn, v, &p.sobject, &body);
    finish(txn, r)
}

async fn get_record(
    State(org): State<DevOrg>,
    Version(v): Version,
    p: Result<Path<RecPath>, PathRejection>,
    q: Params,
) -> Response {
    let p = match path(p) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let data = org.store().read();
    op_get(&data, v, &p.sobject, &p.id, param(&q, "fields")).into_response()
}

async fn update(
    State(org): State<DevOrg>,
    p: Result<Path<RecPath>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let p = match path(p) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    {
        let data = org.store().read();
        if let Err(e) =
            table_of(&data, &p.sobject).and_then(|t| parse_id_segment(&data.tables()[t], &p.id))
        {
            return e.into_response();
        }
    }
    let body = match body_object(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let mut txn = org.store().write();
    let r = op_update(&mut txn, &p.sobject, &p.id, &body);
    finish(txn, r)
}

async fn delete(State(org): State<DevOrg>, p: Result<Path<RecPath>, PathRejection>) -> Response {
    let p = match path(p) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let mut txn = org.store().write();
    let r = op_delete(&mut txn, &p.sobject, &p.id);
    finish(txn, r)
}

/// `POST /sobjects/{Type}/Id` creates (upsert on `Id` without a value); other segments are 405.
async fn post_id(
    State(org): State<DevOrg>,
    Version(v): Version,
    p: Result<Path<RecPath>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let p = match path(p) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    if org.store().read().table_index(&p.sobject).is_none() {
        return ApiError::not_found().into_response();
    }
    if !p.id.eq_ignore_ascii_case("Id") {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "HTTP Method 'POST' not allowed. Allowed are HEAD,GET,PATCH,DELETE",
        )
        .into_response();
    }
    let body = match body_object(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let mut txn = org.store().write();
    let r = op_upsert(&mut txn, v, &p.sobject, "Id", None, &body, false);
    finish(txn, r)
}

async fn get_by_ext(
    State(org): State<DevOrg>,
    Version(v): Version,
    p: Result<Path<ExtPath>, PathRejection>,
    q: Params,
) -> Response {
    let p = match path(p) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let data = org.store().read();
    op_get_by_ext(&data, v, &p.sobject, &p.id, &p.value, param(&q, "fields")).into_response()
}

async fn upsert(
    State(org): State<DevOrg>,
    Version(v): Version,
    p: Result<Path<ExtPath>, PathRejection>,
    q: Params,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let p = match path(p) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    {
        let data = org.store().read();
        if let Err(e) =
            table_of(&data, &p.sobject).and_then(|t| ext_field(&data.tables()[t], &p.id))
        {
            return e.into_response();
        }
    }
    let body = match body_object(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let update_only = param(&q, "updateOnly").is_some_and(|s| s.eq_ignore_ascii_case("true"));
    let mut txn = org.store().write();
    let r = op_upsert(
        &mut txn,
        v,
        &p.sobject,
        &p.id,
        Some(&p.value),
        &body,
        update_only,
    );
    finish(txn, r)
}

async fn delete_by_ext(
    State(org): State<DevOrg>,
    Version(v): Version,
    p: Result<Path<ExtPath>, PathRejection>,
) -> Response {
    let p = match path(p) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let mut txn = org.store().write();
    let r = op_delete_by_ext(&mut txn, v, &p.sobject, &p.id, &p.value);
    finish(txn, r)
}
