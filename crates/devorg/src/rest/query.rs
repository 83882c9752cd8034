//! Query and search routes: `/query`, `/queryAll`, `/search`, `/parameterizedSearch`.
//!
//! Pages hold 2000 records unless the client asks for fewer with `Sforce-Query-Options:
//! batchSize=N` (200 to 2000). The rest of a result stays behind a locator served under
//! `/query/<locator>-<offset>`, for `queryAll` too (jsforce always asks `/query/` for the next page).

use std::collections::HashMap;

use axum::extract::{Path, Query as QueryParams, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use callforce_soql as soql;
use serde_json::{Value as J, json};

use super::Version;
use crate::error::json_response;
use crate::query::cursor::{Rest, parse_locator};
use crate::query::{self, Options, Output};
use crate::{ApiError, DevOrg};

/// The default page size.
pub const DEFAULT_BATCH: usize = 2000;

/// The query and search routes under `/services/data/{version}`.
pub fn routes() -> axum::Router<DevOrg> {
    axum::Router::new()
        .route("/query", get(query))
        .route("/query/{locator}", get(more))
        .route("/queryAll", get(query_all))
        .route("/queryAll/{locator}", get(more))
        .route("/search", get(search))
        .route(
            "/parameterizedSearch",
            get(parameterized_get).post(parameterized_post),
        )
}

fn batch_size(headers: &HeaderMap) -> usize {
    headers
        .get("sforce-query-options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split([',', ';'])
                .find_map(|kv| kv.trim().strip_prefix("batchSize="))
        })
        .and_then(|n| n.trim().parse::<usize>().ok())
        .map_or(DEFAULT_BATCH, |n| n.clamp(200, DEFAULT_BATCH))
}

fn q_param(params: &HashMap<String, String>) -> Result<&str, ApiError> {
    match params.get("q").map(String::as_str) {
        Some(q) if !q.trim().is_empty() => Ok(q),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MALFORMED_QUERY",
            "The query string is empty",
        )),
    }
}

fn opts(version: Version, all_rows: bool) -> Options {
    Options {
        all_rows,
        version: version.0,
        now: chrono::Utc::now(),
    }
}

async fn query(
    State(org): State<DevOrg>,
    version: Version,
    headers: HeaderMap,
    QueryParams(params): QueryParams<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    run(&org, version, &headers, q_param(&params)?, false)
}

async fn query_all(
    State(org): State<DevOrg>,
    version: Version,
    headers: HeaderMap,
    QueryParams(params): QueryParams<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    run(&org, version, &headers, q_param(&params)?, true)
}

/// Runs a query and answers its first page, opening a cursor when there is more.
fn run(
    org: &DevOrg,
    version: Version,
    headers: &HeaderMap,
    text: &str,
    all_rows: bool,
) -> Result<Response, ApiError> {
    let data = org.store().read();
    let body = first_page(
        &data,
        org.cursors(),
        version.0,
        batch_size(headers),
        text,
        all_rows,
    )?;
    Ok(json_response(StatusCode::OK, &body))
}

/// The first page of a query's result as Salesforce answers it (`totalSize`, `done`,
/// `nextRecordsUrl`, `records`), opening a cursor in `cursors` when there is more.
///
/// Used by `/query`, `/queryAll` and by `/composite` subrequests (which pass their transaction's
/// data, so a query sees the writes made earlier in the same request).
///
/// # Errors
/// The query's errors (see [`query::prepare`]).
pub fn first_page(
    data: &crate::store::Data,
    cursors: &crate::query::cursor::Cursors,
    version: callforce_types::ApiVersion,
    batch: usize,
    text: &str,
    all_rows: bool,
) -> Result<J, ApiError> {
    let o = Options {
        all_rows,
        version,
        now: chrono::Utc::now(),
    };
    // Parsed and compiled once: the same compiled query shapes the first page.
    let prepared = query::prepare(data, text, &o)?;
    let rest = match prepared.execute(data, &o)? {
        Output::Count(n) => return Ok(json!({"totalSize": n, "done": true, "records": []})),
        Output::Rows { table, rows } => Rest::Rows { table, rows },
        Output::Shaped(records) => Rest::Shaped(records),
    };
    let total = rest.len();
    let first = page(data, &prepared, &o, &rest, 0, batch);
    let next = (total > batch).then(|| {
        let id = cursors.open(text.to_owned(), all_rows, batch, rest);
        format!("/services/data/{version}/query/{id}-{batch}")
    });
    Ok(body(total, next, first))
}

fn page(
    data: &crate::store::Data,
    prepared: &query::Prepared,
    o: &Options,
    rest: &Rest,
    from: usize,
    batch: usize,
) -> Vec<J> {
    let to = (from + batch).min(rest.len());
    let from = from.min(to);
    match rest {
        Rest::Rows { table, rows } => prepared.shape(data, o, *table, &rows[from..to]),
        Rest::Shaped(records) => records[from..to].to_vec(),
    }
}

fn body(total: usize, next: Option<String>, records: Vec<J>) -> J {
    // Salesforce's key order: totalSize, done, nextRecordsUrl, records.
    let mut m = serde_json::Map::new();
    m.insert("totalSize".into(), json!(total));
    m.insert("done".into(), json!(next.is_none()));
    if let Some(n) = next {
        m.insert("nextRecordsUrl".into(), J::String(n));
    }
    m.insert("records".into(), J::Array(records));
    J::Object(m)
}

async fn more(
    State(org): State<DevOrg>,
    version: Version,
    Path(params): Path<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let invalid = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
        )
    };
    let locator = params.get("locator").ok_or_else(invalid)?;
    let (id, offset) = parse_locator(locator).ok_or_else(invalid)?;
    let cursor = org.cursors().get(id).ok_or_else(invalid)?;
    let total = cursor.rest.len();
    if offset >= total {
        return Err(invalid());
    }
    let o = opts(version, cursor.all_rows);
    let records = {
        let data = org.store().read();
        // A later page compiles the query again against the org as it is now.
        let prepared = query::prepare(&data, &cursor.text, &o)?;
        page(&data, &prepared, &o, &cursor.rest, offset, cursor.batch)
    };
    let end = offset + cursor.batch;
    let next = if end < total {
        Some(format!("/services/data/{}/query/{id}-{end}", version.0))
    } else {
        org.cursors().close(id);
        None
    };
    Ok(json_response(StatusCode::OK, &body(total, next, records)))
}

async fn search(
    State(org): State<DevOrg>,
    version: Version,
    QueryParams(params): QueryParams<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Some(text) = params.get("q").filter(|q| !q.trim().is_empty()) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MALFORMED_SEARCH",
            "No search term found. The search term must be enclosed in braces.",
        ));
    };
    let o = opts(version, false);
    let data = org.store().read();
    let out = query::sosl::run(&data, text, &o)?;
    Ok(json_response(StatusCode::OK, &out))
}

/// One object of a parameterized search.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchObject {
    name: String,
    #[serde(default)]
    fields: Vec<String>,
    limit: Option<u64>,
    #[serde(rename = "where")]
    filter: Option<String>,
}

/// The body of `POST /parameterizedSearch`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Parameterized {
    q: String,
    #[serde(default)]
    fields: Vec<String>,
    #[serde(default)]
    sobjects: Vec<SearchObject>,
    #[serde(rename = "in")]
    in_fields: Option<String>,
    overall_limit: Option<u64>,
    default_limit: Option<u64>,
}

async fn parameterized_get(
    State(org): State<DevOrg>,
    version: Version,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let get1 = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut p = Parameterized {
        q: get1("q").unwrap_or_default(),
        fields: get1("fields").map(|f| split_list(&f)).unwrap_or_default(),
        in_fields: get1("in"),
        overall_limit: get1("overallLimit").and_then(|n| n.parse().ok()),
        default_limit: get1("defaultLimit").and_then(|n| n.parse().ok()),
        ..Parameterized::default()
    };
    for (k, v) in &pairs {
        if k == "sobject" {
            let obj = SearchObject {
                name: v.clone(),
                fields: get1(&format!("{v}.fields"))
                    .map(|f| split_list(&f))
                    .unwrap_or_default(),
                limit: get1(&format!("{v}.limit")).and_then(|n| n.parse().ok()),
                filter: get1(&format!("{v}.where")),
            };
            p.sobjects.push(obj);
        }
    }
    parameterized(&org, version, p)
}

async fn parameterized_post(
    State(org): State<DevOrg>,
    version: Version,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let p: Parameterized = serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "JSON_PARSER_ERROR", format!("{e}")))?;
    parameterized(&org, version, p)
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Runs a parameterized search: the term is taken literally (every word must match).
fn parameterized(org: &DevOrg, version: Version, p: Parameterized) -> Result<Response, ApiError> {
    if p.q.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MALFORMED_SEARCH",
            "No search term found. Provide it with the q parameter.",
        ));
    }
    let group = match p
        .in_fields
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("ALL") => soql::SearchGroup::All,
        Some("NAME") => soql::SearchGroup::Name,
        Some("EMAIL") => soql::SearchGroup::Email,
        Some("PHONE") => soql::SearchGroup::Phone,
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_SEARCH_SCOPE",
                format!("'{other}' is not a search scope; use ALL, NAME, EMAIL or PHONE"),
            ));
        }
    };
    let mut b = soql::SearchBuilder::words(&p.q).in_fields(group);
    if let Some(l) = p.overall_limit {
        b = b.limit(l);
    }
    let mut wheres = Vec::new();
    for o in &p.sobjects {
        let fields = if o.fields.is_empty() {
            p.fields.clone()
        } else {
            o.fields.clone()
        };
        let mut r = soql::ReturningBuilder::new(o.name.clone());
        if !fields.is_empty() {
            r = r.fields(fields);
        }
        if let Some(l) = o.limit.or(p.default_limit) {
            r = r.limit(l);
        }
        wheres.push(o.filter.clone());
        b = b.returning(r);
    }
    let mut search = b
        .build()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "MALFORMED_SEARCH", e.to_string()))?;
    for (r, w) in search.returning.iter_mut().zip(wheres) {
        if let Some(w) = w {
            r.filter = Some(soql::parse_condition(&w).map_err(|e| query::parse_error(&e, &w))?);
        }
    }
    let text = search.to_string();
    let o = opts(version, false);
    let data = org.store().read();
    let out = query::sosl::run_parsed(&data, &search, &text, &o)?;
    Ok(json_response(StatusCode::OK, &out))
}
