//! Requests as owned, serialisable values, so a write can sit in a queue and run later.
//!
//! A [`Request`] names one REST operation with everything it needs; [`Request::to_http`] turns
//! it into the exact wire request for an API version (the path, query and JSON body). Ids are
//! [`Id`]s, always sent in their 18-character form. Collections requests of more than 200
//! records are split into chunks of 200 by [`crate::Connection::execute`].

use callforce_types::{ApiVersion, Id, SaveError};
use serde::{Deserialize, Serialize};

use crate::composite::{BatchRequest, CompositeRequest};
use crate::connection::{HttpRequest, Method};
use crate::error::{Error, Result};
pub use crate::wire::Record;
use crate::wire::{name, segment};

/// The most records one sObject Collections call takes.
pub const COLLECTION_CHUNK: usize = 200;

/// One REST operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// `GET /sobjects/<Type>/<id>[?fields=...]`.
    Get {
        /// The object.
        sobject: String,
        /// The record.
        id: Id,
        /// The fields to return (all when empty).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        fields: Vec<String>,
    },
    /// `GET /sobjects/<Type>/<ExtField>/<value>`.
    GetByExternalId {
        /// The object.
        sobject: String,
        /// The External ID field.
        field: String,
        /// Its value.
        value: String,
    },
    /// `POST /sobjects/<Type>`.
    Create {
        /// The object.
        sobject: String,
        /// The fields.
        record: Record,
    },
    /// `PATCH /sobjects/<Type>/<id>`.
    Update {
        /// The object.
        sobject: String,
        /// The record.
        id: Id,
        /// The fields to change.
        record: Record,
    },
    /// `DELETE /sobjects/<Type>/<id>`.
    Delete {
        /// The object.
        sobject: String,
        /// The record.
        id: Id,
    },
    /// `PATCH /sobjects/<Type>/<ExtField>/<value>`: create or update by External ID.
    Upsert {
        /// The object.
        sobject: String,
        /// The External ID field.
        field: String,
        /// Its value.
        value: String,
        /// The fields.
        record: Record,
    },
    /// `GET /query?q=` (or `/queryAll` with deleted and archived rows): the first page.
    Query {
        /// The SOQL.
        soql: String,
        /// Whether to use `queryAll`.
        #[serde(default)]
        all: bool,
    },
    /// `GET <nextRecordsUrl>`: the next page of a query.
    QueryMore {
        /// The `nextRecordsUrl` of the previous page.
        next_records_url: String,
    },
    /// `GET /search?q=` (SOSL).
    Search {
        /// The SOSL.
        sosl: String,
    },
    /// `GET /parameterizedSearch?q=...&sobject=...&<Type>.fields=...`.
    ParameterizedSearch {
        /// The search text.
        q: String,
        /// Objects to search, with the fields to return and a limit each.
        #[serde(default)]
        sobjects: Vec<SearchObject>,
        /// The overall limit.
        #[serde(default)]
        overall_limit: Option<u32>,
    },
    /// `GET /sobjects`.
    DescribeGlobal,
    /// `GET /sobjects/<Type>/describe`.
    Describe {
        /// The object.
        sobject: String,
    },
    /// `GET /limits`.
    Limits,
    /// `POST /composite`.
    Composite(CompositeRequest),
    /// `POST /composite/sobjects` (records carry `attributes.type`).
    CollectionsCreate {
        /// Roll back every record of a chunk when one fails.
        all_or_none: bool,
        /// The records.
        records: Vec<Record>,
    },
    /// `PATCH /composite/sobjects` (records carry `attributes.type` and `id`).
    CollectionsUpdate {
        /// Roll back every record of a chunk when one fails.
        all_or_none: bool,
        /// The records.
        records: Vec<Record>,
    },
    /// `PATCH /composite/sobjects/<Type>/<ExtField>`.
    CollectionsUpsert {
        /// The object.
        sobject: String,
        /// The External ID field.
        field: String,
        /// Roll back every record of a chunk when one fails.
        all_or_none: bool,
        /// The records.
        records: Vec<Record>,
    },
    /// `DELETE /composite/sobjects?ids=...`.
    CollectionsDelete {
        /// Roll back every record of a chunk when one fails.
        all_or_none: bool,
        /// The records.
        ids: Vec<Id>,
    },
    /// `POST /composite/batch`.
    Batch(BatchRequest),
    /// `POST /composite/tree/<Type>`.
    Tree {
        /// The root object.
        sobject: String,
        /// The record trees (with `attributes.type` and `attributes.referenceId`).
        records: Vec<Record>,
    },
    /// Any other REST path (Apex REST, Chatter, a resource without a typed request).
    Raw(RawRequest),
}

/// One object of a parameterized search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchObject {
    /// The object.
    pub name: String,
    /// The fields to return.
    #[serde(default)]
    pub fields: Vec<String>,
    /// The most records of this object.
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A request to any path: relative to `/services/data/vXX.X` unless it starts with
/// `/services/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawRequest {
    /// The method.
    pub method: Method,
    /// The path.
    pub path: String,
    /// Query parameters.
    #[serde(default)]
    pub query: Vec<(String, String)>,
    /// Extra headers (`Authorization` and `Content-Type` are set by the client).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

impl Request {
    /// Whether the request may change data (decides whether a lost answer is ambiguous).
    pub fn is_write(&self) -> bool {
        match self {
            Self::Get { .. }
            | Self::GetByExternalId { .. }
            | Self::Query { .. }
            | Self::QueryMore { .. }
            | Self::Search { .. }
            | Self::ParameterizedSearch { .. }
            | Self::DescribeGlobal
            | Self::Describe { .. }
            | Self::Limits => false,
            Self::Raw(r) => !matches!(r.method, Method::Get | Method::Head),
            _ => true,
        }
    }

    /// The wire request for `version`. Collections requests are not chunked here (see
    /// [`Request::chunks`]).
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] when a name is not an API name or a body cannot be serialised.
    pub fn to_http(&self, version: ApiVersion) -> Result<HttpRequest> {
        let base = format!("/services/data/{version}");
        type Parts = (Method, String, Vec<(String, String)>, Option<Vec<u8>>);
        let (method, path, query, body): Parts = match self {
            Self::Get {
                sobject,
                id,
                fields,
            } => {
                let q = if fields.is_empty() {
                    vec![]
                } else {
                    vec![("fields".into(), fields.join(","))]
                };
                let path = format!("{base}/sobjects/{}/{id}", name(sobject)?);
                (Method::Get, path, q, None)
            }
            Self::GetByExternalId {
                sobject,
                field,
                value,
            } => (
                Method::Get,
                format!(
                    "{base}/sobjects/{}/{}/{}",
                    name(sobject)?,
                    name(field)?,
                    segment(value)
                ),
                vec![],
                None,
            ),
            Self::Create { sobject, record } => (
                Method::Post,
                format!("{base}/sobjects/{}", name(sobject)?),
                vec![],
                Some(json(record)?),
            ),
            Self::Update {
                sobject,
                id,
                record,
            } => (
                Method::Patch,
                format!("{base}/sobjects/{}/{id}", name(sobject)?),
                vec![],
                Some(json(record)?),
            ),
            Self::Delete { sobject, id } => (
                Method::Delete,
                format!("{base}/sobjects/{}/{id}", name(sobject)?),
                vec![],
                None,
            ),
            Self::Upsert {
                sobject,
                field,
                value,
                record,
            } => (
                Method::Patch,
                format!(
                    "{base}/sobjects/{}/{}/{}",
                    name(sobject)?,
                    name(field)?,
                    segment(value)
                ),
                vec![],
                Some(json(record)?),
            ),
            Self::Query { soql, all } => (
                Method::Get,
                format!("{base}/{}", if *all { "queryAll" } else { "query" }),
                vec![("q".into(), soql.clone())],
                None,
            ),
            Self::QueryMore { next_records_url } => {
                let (path, query) = next_records_url
                    .split_once('?')
                    .unwrap_or((next_records_url, ""));
                let path = raw_path(path, version)
                    .ok()
                    .filter(|p| p.starts_with("/services/data/"))
                    .ok_or_else(|| {
                        Error::InvalidRequest(format!("not a nextRecordsUrl: {next_records_url}"))
                    })?;
                let query = url::form_urlencoded::parse(query.as_bytes())
                    .into_owned()
                    .collect();
                (Method::Get, path, query, None)
            }
            Self::Search { sosl } => (
                Method::Get,
                format!("{base}/search"),
                vec![("q".into(), sosl.clone())],
                None,
            ),
            Self::ParameterizedSearch {
                q,
                sobjects,
                overall_limit,
            } => {
                let mut query = vec![("q".to_owned(), q.clone())];
                for o in sobjects {
                    let n = name(&o.name)?;
                    query.push(("sobject".into(), n.to_owned()));
                    if !o.fields.is_empty() {
                        query.push((format!("{n}.fields"), o.fields.join(",")));
                    }
                    if let Some(l) = o.limit {
                        query.push((format!("{n}.limit"), l.to_string()));
                    }
                }
                if let Some(l) = overall_limit {
                    query.push(("overallLimit".into(), l.to_string()));
                }
                (
                    Method::Get,
                    format!("{base}/parameterizedSearch"),
                    query,
                    None,
                )
            }
            Self::DescribeGlobal => (Method::Get, format!("{base}/sobjects"), vec![], None),
            Self::Describe { sobject } => (
                Method::Get,
                format!("{base}/sobjects/{}/describe", name(sobject)?),
                vec![],
                None,
            ),
            Self::Limits => (Method::Get, format!("{base}/limits"), vec![], None),
            Self::Composite(c) => (
                Method::Post,
                format!("{base}/composite"),
                vec![],
                Some(json(c)?),
            ),
            Self::CollectionsCreate {
                all_or_none,
                records,
            } => (
                Method::Post,
                format!("{base}/composite/sobjects"),
                vec![],
                Some(json(&Collection {
                    all_or_none: *all_or_none,
                    records,
                })?),
            ),
            Self::CollectionsUpdate {
                all_or_none,
                records,
            } => (
                Method::Patch,
                format!("{base}/composite/sobjects"),
                vec![],
                Some(json(&Collection {
                    all_or_none: *all_or_none,
                    records,
                })?),
            ),
            Self::CollectionsUpsert {
                sobject,
                field,
                all_or_none,
                records,
            } => (
                Method::Patch,
                format!(
                    "{base}/composite/sobjects/{}/{}",
                    name(sobject)?,
                    name(field)?
                ),
                vec![],
                Some(json(&Collection {
                    all_or_none: *all_or_none,
                    records,
                })?),
            ),
            Self::CollectionsDelete { all_or_none, ids } => {
                let ids: Vec<&str> = ids.iter().map(Id::as_str).collect();
                (
                    Method::Delete,
                    format!("{base}/composite/sobjects"),
                    vec![
                        ("ids".into(), ids.join(",")),
                        ("allOrNone".into(), all_or_none.to_string()),
                    ],
                    None,
                )
            }
            Self::Batch(b) => (
                Method::Post,
                format!("{base}/composite/batch"),
                vec![],
                Some(json(b)?),
            ),
            Self::Tree { sobject, records } => (
                Method::Post,
                format!("{base}/composite/tree/{}", name(sobject)?),
                vec![],
                Some(json(&serde_json::json!({ "records": records }))?),
            ),
            Self::Raw(r) => {
                let path = raw_path(&r.path, version)?;
                check_headers(&r.headers)?;
                let body = r.body.as_ref().map(json).transpose()?;
                check_target(&path, &r.query)?;
                return Ok(HttpRequest {
                    method: r.method,
                    path,
                    query: r.query.clone(),
                    headers: r.headers.clone(),
                    body,
                });
            }
        };
        check_target(&path, &query)?;
        Ok(HttpRequest {
            method,
            path,
            query,
            headers: vec![],
            body,
        })
    }

    /// Splits a collections request into requests of at most 200 records each; any other
    /// request is returned as it is.
    pub fn chunks(&self) -> Vec<Request> {
        fn split<T: Clone>(v: &[T]) -> Vec<Vec<T>> {
            if v.is_empty() {
                return vec![Vec::new()];
            }
            v.chunks(COLLECTION_CHUNK).map(<[T]>::to_vec).collect()
        }
        match self {
            Self::CollectionsCreate {
                all_or_none,
                records,
            } => split(records)
                .into_iter()
                .map(|records| Self::CollectionsCreate {
                    all_or_none: *all_or_none,
                    records,
                })
                .collect(),
            Self::CollectionsUpdate {
                all_or_none,
                records,
            } => split(records)
                .into_iter()
                .map(|records| Self::CollectionsUpdate {
                    all_or_none: *all_or_none,
                    records,
                })
                .collect(),
            Self::CollectionsUpsert {
                sobject,
                field,
                all_or_none,
                records,
            } => split(records)
                .into_iter()
                .map(|records| Self::CollectionsUpsert {
                    sobject: sobject.clone(),
                    field: field.clone(),
                    all_or_none: *all_or_none,
                    records,
                })
                .collect(),
            Self::CollectionsDelete { all_or_none, ids } => split(ids)
                .into_iter()
                .map(|ids| Self::CollectionsDelete {
                    all_or_none: *all_or_none,
                    ids,
                })
                .collect(),
            other => vec![other.clone()],
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Collection<'a> {
    all_or_none: bool,
    records: &'a [Record],
}

fn json<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::InvalidRequest(e.to_string()))
}

/// The path roots a raw request may reach: the REST API, Apex REST and the Bulk API. Nothing
/// else of the org (`/services/oauth2/`, `/secur/`, Visualforce, setup pages...) is reachable.
pub const RAW_PATH_ROOTS: &[&str] = &["/services/data/", "/services/apexrest/", "/services/async/"];

/// The longest request target (path and query string, encoded) Salesforce takes; a longer one
/// is answered `414 URI Too Long`, so it is refused before it is sent.
pub const MAX_TARGET_BYTES: usize = 16_384;

/// The most extra headers a raw request carries.
pub const MAX_RAW_HEADERS: usize = 20;

/// The longest extra header value of a raw request, in bytes.
pub const MAX_HEADER_VALUE_BYTES: usize = 4_096;

/// Headers a raw request may not set: the client sets them, or they frame the connection.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The path a raw request sends: relative to `/services/data/<version>/` unless it starts with
/// `/services/`, each segment percent-decoded, `.` and `..` segments resolved (`%2e%2e` is
/// `..`, as an HTTP client would read it), then encoded again, so what is checked is exactly
/// what is sent and no client or server can read it as another path.
///
/// # Errors
/// [`Error::InvalidRequest`], saying what to fix, for a URL instead of a path, a control
/// character, or a path that resolves outside [`RAW_PATH_ROOTS`].
pub fn raw_path(path: &str, version: ApiVersion) -> Result<String> {
    if path.contains("://") {
        return Err(Error::InvalidRequest(format!(
            "'{}' is a URL; give a path such as /sobjects/Account/describe",
            shown(path)
        )));
    }
    let joined = if path.starts_with("/services/") {
        path.to_owned()
    } else {
        format!(
            "/services/data/{version}/{}",
            path.trim_start_matches(['/', '\\'])
        )
    };
    let segments: Vec<&str> = joined[1..].split('/').collect();
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(segments.len());
    for (i, raw) in segments.iter().enumerate() {
        let seg = percent_decode(raw);
        if seg.iter().any(u8::is_ascii_control) {
            return Err(Error::InvalidRequest(
                "the path contains a control character (a line break, tab or NUL); remove it"
                    .into(),
            ));
        }
        // NB: a server that decodes `%2F` before it resolves dot segments would read
        // `..%2F..%2Foauth2` as a climb; such a segment is refused, `a%2Fb` is kept.
        if seg.len() > 2
            && seg
                .split(|b| matches!(b, b'/' | b'\\'))
                .any(|p| p == b"." || p == b"..")
        {
            return Err(Error::InvalidRequest(format!(
                "the path segment '{}' hides a . or .. segment behind an encoded / or \\; \
                 give a path under {} without it",
                shown(raw),
                RAW_PATH_ROOTS.join(", ")
            )));
        }
        let last = i + 1 == segments.len();
        match seg.as_slice() {
            b"." => {}
            b".." => {
                out.pop();
            }
            _ => {
                out.push(seg);
                continue;
            }
        }
        // NB: a path ending in a dot segment names a directory: `/a/b/..` is `/a/`.
        if last {
            out.push(Vec::new());
        }
    }
    let mut resolved = String::with_capacity(joined.len());
    for seg in &out {
        resolved.push('/');
        encode_segment(seg, &mut resolved);
    }
    if !RAW_PATH_ROOTS.iter().any(|r| resolved.starts_with(r)) {
        return Err(Error::InvalidRequest(format!(
            "the path resolves to {}, which may not be called; use a path under {}",
            shown(&resolved),
            RAW_PATH_ROOTS.join(", ")
        )));
    }
    Ok(resolved)
}

/// At most 200 characters of `s`, for a message.
fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(200).collect();
    if out.len() < s.len() {
        out.push_str("...");
    }
    out
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits is kept as it is.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| char::from(c).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            )
        {
            // NB: two hex digits make at most 255.
            out.push(u8::try_from(h * 16 + l).unwrap_or(u8::MAX));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Appends `seg` to `out`, keeping unreserved characters and the sub-delimiters a path segment
/// may hold (RFC 3986), escaping every other byte.
fn encode_segment(seg: &[u8], out: &mut String) {
    for &b in seg {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Checks one extra header of a raw request: a name that is an RFC 9110 token and not one the
/// client sets, a value of printable ASCII, spaces and tabs (never CR, LF or NUL), both within
/// the limits.
///
/// # Errors
/// [`Error::InvalidRequest`] saying which header and what to fix.
pub fn check_header(name: &str, value: &str) -> Result<()> {
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || name.len() > 256 || !name.chars().all(tchar) {
        return Err(Error::InvalidRequest(format!(
            "'{}' is not a header name; use letters, digits and - (e.g. X-Request-Id)",
            shown(&name.escape_debug().to_string())
        )));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(Error::InvalidRequest(format!(
            "the {name} header is set by callforce; leave it out"
        )));
    }
    if value.len() > MAX_HEADER_VALUE_BYTES {
        return Err(Error::InvalidRequest(format!(
            "the {name} header's value is {} bytes; the limit is {MAX_HEADER_VALUE_BYTES}",
            value.len()
        )));
    }
    if !value.chars().all(|c| c == '\t' || (' '..='~').contains(&c)) {
        return Err(Error::InvalidRequest(format!(
            "the {name} header's value may hold only printable ASCII, spaces and tabs \
             (no line breaks, NUL or other control characters, no accented letters)"
        )));
    }
    Ok(())
}

/// Checks the extra headers of a raw request (see [`check_header`]), at most
/// [`MAX_RAW_HEADERS`].
fn check_headers(headers: &[(String, String)]) -> Result<()> {
    if headers.len() > MAX_RAW_HEADERS {
        return Err(Error::InvalidRequest(format!(
            "{} headers given; the limit is {MAX_RAW_HEADERS}",
            headers.len()
        )));
    }
    headers.iter().try_for_each(|(k, v)| check_header(k, v))
}

/// Refuses a request whose target (path and encoded query string) is longer than
/// [`MAX_TARGET_BYTES`], which Salesforce would answer with 414.
fn check_target(path: &str, query: &[(String, String)]) -> Result<()> {
    let query_len = if query.is_empty() {
        0
    } else {
        1 + url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish()
            .len()
    };
    let len = path.len() + query_len;
    if len > MAX_TARGET_BYTES {
        return Err(Error::InvalidRequest(format!(
            "the request's URL would be {len} bytes; Salesforce takes at most \
             {MAX_TARGET_BYTES} (send shorter values)"
        )));
    }
    Ok(())
}

/// The answer to a create, update, upsert or delete of one record (a SaveResult).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaveResult {
    /// The record's id (absent for a record that failed to be created).
    #[serde(default)]
    pub id: Option<Id>,
    /// Whether it worked.
    pub success: bool,
    /// Why not.
    #[serde(default)]
    pub errors: Vec<SaveError>,
    /// For upserts: whether the record was created (`false`: updated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<bool>,
}

/// One page of a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryResult<T = Record> {
    /// Rows matched in all (not the page size).
    pub total_size: u64,
    /// Whether this is the last page.
    pub done: bool,
    /// Where the next page is, when `done` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_records_url: Option<String>,
    /// The rows of this page.
    pub records: Vec<T>,
}

/// A SOSL answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResult {
    /// The matching records.
    pub search_records: Vec<Record>,
}

/// One entry of `GET /limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    /// The allowance.
    #[serde(rename = "Max")]
    pub max: i64,
    /// What is left.
    #[serde(rename = "Remaining")]
    pub remaining: i64,
}

/// `GET /limits`: limit name (`DailyApiRequests`...) to its allowance.
pub type OrgLimits = std::collections::BTreeMap<String, Limit>;

/// The answer to a composite tree request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TreeResult {
    /// Whether any record failed (then none was created).
    pub has_errors: bool,
    /// One entry per record (or per failed record).
    pub results: Vec<TreeRecordResult>,
}

/// One record of a tree answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TreeRecordResult {
    /// The record's reference id.
    pub reference_id: String,
    /// Its new id.
    #[serde(default)]
    pub id: Option<Id>,
    /// Why it failed.
    #[serde(default)]
    pub errors: Vec<SaveError>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id() -> Id {
        Id::parse("001D000000IRFma").unwrap()
    }

    fn rec(v: serde_json::Value) -> Record {
        v.as_object().cloned().unwrap()
    }

    fn wire(r: &Request) -> (String, String, String, String) {
        let h = r.to_http(ApiVersion::DEFAULT).unwrap();
        let q = h
            .query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let body = h
            .body
            .map(|b| String::from_utf8(b).unwrap())
            .unwrap_or_default();
        (h.method.as_str().to_owned(), h.path, q, body)
    }

    #[test]
    fn exact_wire_of_each_request() {
        let b = "/services/data/v59.0";
        #[rustfmt::skip]
        type Case<'a> = (Request, (&'a str, String, &'a str, &'a str));
        let cases: Vec<Case> = vec![
            (
                Request::Get {
                    sobject: "Account".into(),
                    id: id(),
                    fields: vec!["Name".into(), "Phone".into()],
                },
                (
                    "GET",
                    format!("{b}/sobjects/Account/001D000000IRFmaIAH"),
                    "fields=Name,Phone",
                    "",
                ),
            ),
            (
                Request::GetByExternalId {
                    sobject: "Contact".into(),
                    field: "Ext__c".into(),
                    value: "a b/c".into(),
                },
                (
                    "GET",
                    format!("{b}/sobjects/Contact/Ext__c/a%20b%2Fc"),
                    "",
                    "",
                ),
            ),
            (
                Request::Create {
                    sobject: "Contact".into(),
                    record: rec(json!({"LastName": "Ng"})),
                },
                (
                    "POST",
                    format!("{b}/sobjects/Contact"),
                    "",
                    r#"{"LastName":"Ng"}"#,
                ),
            ),
            (
                Request::Update {
                    sobject: "Account".into(),
                    id: id(),
                    record: rec(json!({"Name": "A"})),
                },
                (
                    "PATCH",
                    format!("{b}/sobjects/Account/001D000000IRFmaIAH"),
                    "",
                    r#"{"Name":"A"}"#,
                ),
            ),
            (
                Request::Delete {
                    sobject: "Account".into(),
                    id: id(),
                },
                (
                    "DELETE",
                    format!("{b}/sobjects/Account/001D000000IRFmaIAH"),
                    "",
                    "",
                ),
            ),
            (
                Request::Upsert {
                    sobject: "Account".into(),
                    field: "Ext__c".into(),
                    value: "42".into(),
                    record: rec(json!({"Name": "A"})),
                },
                (
                    "PATCH",
                    format!("{b}/sobjects/Account/Ext__c/42"),
                    "",
                    r#"{"Name":"A"}"#,
                ),
            ),
            (
                Request::Query {
                    soql: "SELECT Id FROM Account".into(),
                    all: false,
                },
                ("GET", format!("{b}/query"), "q=SELECT Id FROM Account", ""),
            ),
            (
                Request::Query {
                    soql: "SELECT Id FROM Account".into(),
                    all: true,
                },
                (
                    "GET",
                    format!("{b}/queryAll"),
                    "q=SELECT Id FROM Account",
                    "",
                ),
            ),
            (
                Request::QueryMore {
                    next_records_url: format!("{b}/query/01gx-2000"),
                },
                ("GET", format!("{b}/query/01gx-2000"), "", ""),
            ),
            (
                Request::Search {
                    sosl: "FIND {Acme}".into(),
                },
                ("GET", format!("{b}/search"), "q=FIND {Acme}", ""),
            ),
            (
                Request::ParameterizedSearch {
                    q: "Acme".into(),
                    sobjects: vec![SearchObject {
                        name: "Account".into(),
                        fields: vec!["Id".into(), "Name".into()],
                        limit: Some(10),
                    }],
                    overall_limit: None,
                },
                (
                    "GET",
                    format!("{b}/parameterizedSearch"),
                    "q=Acme&sobject=Account&Account.fields=Id,Name&Account.limit=10",
                    "",
                ),
            ),
            (
                Request::DescribeGlobal,
                ("GET", format!("{b}/sobjects"), "", ""),
            ),
            (
                Request::Describe {
                    sobject: "Case".into(),
                },
                ("GET", format!("{b}/sobjects/Case/describe"), "", ""),
            ),
            (Request::Limits, ("GET", format!("{b}/limits"), "", "")),
            (
                Request::CollectionsCreate {
                    all_or_none: true,
                    records: vec![rec(json!({"attributes": {"type": "Account"}, "Name": "A"}))],
                },
                (
                    "POST",
                    format!("{b}/composite/sobjects"),
                    "",
                    r#"{"allOrNone":true,"records":[{"attributes":{"type":"Account"},"Name":"A"}]}"#,
                ),
            ),
            (
                Request::CollectionsUpsert {
                    sobject: "Contact".into(),
                    field: "Email".into(),
                    all_or_none: false,
                    records: vec![],
                },
                (
                    "PATCH",
                    format!("{b}/composite/sobjects/Contact/Email"),
                    "",
                    r#"{"allOrNone":false,"records":[]}"#,
                ),
            ),
            (
                Request::CollectionsDelete {
                    all_or_none: false,
                    ids: vec![id(), id()],
                },
                (
                    "DELETE",
                    format!("{b}/composite/sobjects"),
                    "ids=001D000000IRFmaIAH,001D000000IRFmaIAH&allOrNone=false",
                    "",
                ),
            ),
            (
                Request::Tree {
                    sobject: "Account".into(),
                    records: vec![rec(
                        json!({"attributes": {"type": "Account", "referenceId": "r1"}, "Name": "A"}),
                    )],
                },
                (
                    "POST",
                    format!("{b}/composite/tree/Account"),
                    "",
                    r#"{"records":[{"attributes":{"type":"Account","referenceId":"r1"},"Name":"A"}]}"#,
                ),
            ),
            (
                Request::Raw(RawRequest {
                    method: Method::Post,
                    path: "/services/apexrest/callback".into(),
                    query: vec![],
                    headers: vec![],
                    body: Some(json!({"a": 1})),
                }),
                (
                    "POST",
                    "/services/apexrest/callback".into(),
                    "",
                    r#"{"a":1}"#,
                ),
            ),
            (
                Request::Raw(RawRequest {
                    method: Method::Get,
                    path: "chatter/users/me".into(),
                    query: vec![],
                    headers: vec![],
                    body: None,
                }),
                ("GET", format!("{b}/chatter/users/me"), "", ""),
            ),
        ];
        for (req, (m, p, q, body)) in cases {
            let got = wire(&req);
            assert_eq!(
                got,
                (m.to_owned(), p, q.to_owned(), body.to_owned()),
                "{req:?}"
            );
        }
    }

    #[test]
    fn bad_names_and_headers_are_refused() {
        let cases = [
            Request::Describe {
                sobject: "Account/../x".into(),
            },
            Request::Create {
                sobject: "".into(),
                record: Record::new(),
            },
            Request::QueryMore {
                next_records_url: "https://evil.example/x".into(),
            },
            Request::Raw(RawRequest {
                method: Method::Get,
                path: "/x".into(),
                query: vec![],
                headers: vec![("Authorization".into(), "Bearer x".into())],
                body: None,
            }),
            Request::Raw(RawRequest {
                method: Method::Post,
                path: "/x".into(),
                query: vec![],
                headers: vec![("X-A".into(), "a\r\nb".into())],
                body: None,
            }),
            Request::Raw(RawRequest {
                method: Method::Get,
                path: "/services/data/v59.0/%2e%2e/%2e%2e/oauth2/userinfo".into(),
                query: vec![],
                headers: vec![],
                body: None,
            }),
            Request::QueryMore {
                next_records_url: "/services/data/v59.0/query/%2e%2e/%2e%2e/%2e%2e/oauth2/userinfo"
                    .into(),
            },
        ];
        for r in cases {
            assert!(
                matches!(
                    r.to_http(ApiVersion::DEFAULT),
                    Err(Error::InvalidRequest(_))
                ),
                "{r:?}"
            );
        }
    }

    #[test]
    fn raw_paths_are_resolved_before_the_allow_check() {
        let v = ApiVersion::DEFAULT;
        #[rustfmt::skip]
        let cases: &[(&str, Option<&str>)] = &[
            ("sobjects/Account/describe", Some("/services/data/v59.0/sobjects/Account/describe")),
            ("/sobjects/Account/describe", Some("/services/data/v59.0/sobjects/Account/describe")),
            ("/services/data/v59.0/limits", Some("/services/data/v59.0/limits")),
            ("/services/apexrest/callback", Some("/services/apexrest/callback")),
            ("/services/async/59.0/job", Some("/services/async/59.0/job")),
            ("/services/data/v59.0/sobjects/../limits", Some("/services/data/v59.0/limits")),
            ("../v58.0/limits", Some("/services/data/v58.0/limits")),
            ("/services/data/v59.0/sobjects/C/Ext__c/a%2Fb c", Some("/services/data/v59.0/sobjects/C/Ext__c/a%2Fb%20c")),
            ("/services/data/v59.0/%41ccount/.", Some("/services/data/v59.0/Account/")),
            ("/services/data/v59.0/a\\b#c?d", Some("/services/data/v59.0/a%5Cb%23c%3Fd")),
            ("/services/data/v59.0/100%", Some("/services/data/v59.0/100%25")),
            ("/services/data/v59.0/%2e%2e/%2e%2e/oauth2/userinfo", None),
            ("/services/data/v59.0/%2E%2E/%2e./.%2E/oauth2/token", None),
            ("/services/data/v59.0/..%2f..%2foauth2/userinfo", None),
            ("/services/data/v59.0/x%5C..%5Cy", None),
            ("/services/data/v59.0/sobjects/C/Ext__c/a%2F.b", Some("/services/data/v59.0/sobjects/C/Ext__c/a%2F.b")),
            ("../../oauth2/userinfo", None),
            ("/services/data/../oauth2/token", None),
            ("/services/oauth2/token", None),
            ("/services/Soap/u/59.0", None),
            ("/secur/frontdoor.jsp", Some("/services/data/v59.0/secur/frontdoor.jsp")),
            ("/services/data", None),
            ("/services/data/v59.0/a%0d%0ab", None),
            ("/services/data/v59.0/a%00", None),
            ("https://evil.example/services/data/v59.0/limits", None),
        ];
        for (path, want) in cases {
            let got = raw_path(path, v);
            assert_eq!(got.as_deref().ok(), *want, "{path}: {got:?}");
            if let Ok(p) = got {
                // Resolving a resolved path changes nothing: what was checked is what is sent.
                assert_eq!(raw_path(&p, v).ok().as_deref(), Some(p.as_str()), "{path}");
                assert!(!p.to_ascii_lowercase().contains("%2e"), "{p}");
            }
        }
    }

    #[test]
    fn raw_headers_are_checked() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, bool)] = &[
            ("X-Request-Id", "abc-123", true),
            ("Sforce-Auto-Assign", "FALSE", true),
            ("If-Match", "\"etag\"", true),
            ("X-A", "a\tb c", true),
            ("X-A", "a\r\nX-Injected: 1", false),
            ("X-A", "a\nb", false),
            ("X-A", "a\0b", false),
            ("X-A", "caf\u{e9}", false),
            ("", "a", false),
            ("X A", "a", false),
            ("X-A\r\n", "a", false),
            ("X:A", "a", false),
            ("authorization", "Bearer x", false),
            ("Host", "evil.example", false),
            ("Transfer-Encoding", "chunked", false),
            ("Content-Length", "0", false),
        ];
        for (name, value, ok) in cases {
            assert_eq!(
                check_header(name, value).is_ok(),
                *ok,
                "{name:?}: {value:?}"
            );
        }
        assert!(check_header("X-A", &"a".repeat(MAX_HEADER_VALUE_BYTES)).is_ok());
        assert!(check_header("X-A", &"a".repeat(MAX_HEADER_VALUE_BYTES + 1)).is_err());
        let many: Vec<(String, String)> = (0..=MAX_RAW_HEADERS)
            .map(|i| (format!("X-{i}"), "a".into()))
            .collect();
        assert!(check_headers(&many[..MAX_RAW_HEADERS]).is_ok());
        assert!(check_headers(&many).is_err());
    }

    #[test]
    fn a_url_longer_than_salesforce_takes_is_refused_before_sending() {
        let query = |n: usize| Request::Query {
            soql: format!("SELECT Id FROM Contact WHERE Name = '{}'", "a".repeat(n)),
            all: false,
        };
        assert!(query(16_000).to_http(ApiVersion::DEFAULT).is_ok());
        let e = query(16_400).to_http(ApiVersion::DEFAULT).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidRequest(m) if m.contains("16384")),
            "{e}"
        );
        assert_eq!(e.class(), crate::Class::Permanent);
    }

    /// Path segments a model (or an attacker through it) might put together.
    fn segment_strategy() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            Just("services".to_owned()),
            Just("data".to_owned()),
            Just("v59.0".to_owned()),
            Just("oauth2".to_owned()),
            Just("apexrest".to_owned()),
            Just("async".to_owned()),
            Just("sobjects".to_owned()),
            Just("..".to_owned()),
            Just(".".to_owned()),
            Just("%2e%2e".to_owned()),
            Just("%2E.".to_owned()),
            Just(".%2e".to_owned()),
            Just("%2e".to_owned()),
            Just("..%2f..".to_owned()),
            Just("a%5c..".to_owned()),
            Just("\\..".to_owned()),
            Just(String::new()),
            Just("a%2Fb".to_owned()),
            Just("%00".to_owned()),
            Just("%".to_owned()),
            "[ -~]{0,6}",
            "\\PC{0,3}",
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

        /// Whatever the path, it is refused or it resolves under an allowed root, and an
        /// HTTP client's URL parser reads exactly the path that was checked.
        #[test]
        fn any_raw_path_is_refused_or_sent_as_checked(
            lead in proptest::prop_oneof![proptest::strategy::Just(""), proptest::strategy::Just("/"), proptest::strategy::Just("/services/")],
            segments in proptest::collection::vec(segment_strategy(), 0..8),
        ) {
            let path = format!("{lead}{}", segments.join("/"));
            if let Ok(p) = raw_path(&path, ApiVersion::DEFAULT) {
                proptest::prop_assert!(RAW_PATH_ROOTS.iter().any(|r| p.starts_with(r)), "{path} -> {p}");
                proptest::prop_assert!(!p.to_ascii_lowercase().contains("%2e"), "{p}");
                proptest::prop_assert_eq!(raw_path(&p, ApiVersion::DEFAULT).ok(), Some(p.clone()));
                let u = url::Url::parse(&format!("https://org.example{p}"));
                proptest::prop_assert_eq!(u.ok().map(|u| u.path().to_owned()), Some(p.clone()));
            }
        }

        /// A header the check accepts is one the HTTP stack can send.
        #[test]
        fn an_accepted_header_can_be_sent(name in "\\PC{0,8}|[!-~]{0,8}", value in "\\PC{0,12}|[ -~\t\r\n]{0,12}") {
            if check_header(&name, &value).is_ok() {
                proptest::prop_assert!(reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok(), "{name:?}");
                proptest::prop_assert!(reqwest::header::HeaderValue::from_str(&value).is_ok(), "{value:?}");
            }
        }
    }

    #[test]
    fn requests_round_trip_through_json_for_queueing() {
        let r = Request::Update {
            sobject: "Account".into(),
            id: id(),
            record: rec(json!({"Name": "A"})),
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(
            s,
            r#"{"op":"update","sobject":"Account","id":"001D000000IRFmaIAH","record":{"Name":"A"}}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        // A 15-character id in a queued request is read and sent as 18.
        let q: Request =
            serde_json::from_str(r#"{"op":"delete","sobject":"Account","id":"001D000000IRFma"}"#)
                .unwrap();
        assert_eq!(
            wire(&q).1,
            "/services/data/v59.0/sobjects/Account/001D000000IRFmaIAH"
        );
    }

    #[test]
    fn collections_split_into_chunks_of_200() {
        let records = vec![Record::new(); 450];
        let chunks = Request::CollectionsCreate {
            all_or_none: false,
            records,
        }
        .chunks();
        let sizes: Vec<usize> = chunks
            .iter()
            .map(|c| match c {
                Request::CollectionsCreate { records, .. } => records.len(),
                _ => 0,
            })
            .collect();
        assert_eq!(sizes, vec![200, 200, 50]);
        assert_eq!(Request::Limits.chunks(), vec![Request::Limits]);
    }

    #[test]
    fn writes_are_known() {
        assert!(
            Request::Delete {
                sobject: "A".into(),
                id: id()
            }
            .is_write()
        );
        assert!(!Request::Limits.is_write());
        assert!(
            !Request::Query {
                soql: String::new(),
                all: false
            }
            .is_write()
        );
    }
}
