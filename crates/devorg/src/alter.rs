//! Schema changes at run time, for tests and demos: an admin deletes a field or makes it
//! read-only while clients are connected, as happens in a real org.
//!
//! ```text
//! POST /devorg/schema/{object}/fields/{field}   {"change": "delete" | "read_only"}
//! ```
//!
//! A change replaces the org's schema as a whole ([`crate::DevOrg::alter_field`]): a deleted
//! field keeps its position (records are stored by field position) but is no longer found by
//! name, so describe leaves it out and a write or query naming it gets `INVALID_FIELD`; a
//! read-only field is described with `createable` and `updateable` false and a write to it gets
//! `INVALID_FIELD_FOR_INSERT_UPDATE`. With a data directory each change is also appended to its
//! `schema-changes.jsonl` (one `{"object", "field", "change"}` line, written and flushed before the
//! change is made) and replayed onto the schema at the next start, before the journal's records,
//! so a deleted field stays deleted (its values in older journal lines are dropped at replay, as
//! Salesforce drops a deleted field's data). Without one, changes live in memory: a restart brings
//! back the schema the org was built with.
//!
//! Each object's describe carries `Last-Modified` (when the org started, or when the object was
//! last changed) and honours `If-Modified-Since` with `304 Not Modified`, as Salesforce does.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, TimeDelta, Utc};
use parking_lot::Mutex;
use serde_json::json;

use crate::schema::{ObjectDef, Schema};
use crate::{ApiError, DevOrg};

/// A change to one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldChange {
    /// The field is deleted: gone from describe, `INVALID_FIELD` for writes and queries.
    Delete,
    /// The field can no longer be set on create or update.
    ReadOnly,
}

/// When each object's describe last changed; HTTP dates have whole seconds.
#[derive(Debug)]
pub struct Changes {
    started: DateTime<Utc>,
    objects: Mutex<HashMap<String, DateTime<Utc>>>,
    /// Held while a change is made, so two changes never start from the same schema.
    altering: Mutex<()>,
}

impl Changes {
    /// No change yet; every describe dates from `started` (to the second).
    pub fn new(started: DateTime<Utc>) -> Self {
        Self {
            started: whole_second(started),
            objects: Mutex::new(HashMap::new()),
            altering: Mutex::new(()),
        }
    }

    /// When `object`'s describe last changed.
    pub fn last_modified(&self, object: &str) -> DateTime<Utc> {
        self.objects
            .lock()
            .get(&object.to_ascii_lowercase())
            .copied()
            .unwrap_or(self.started)
    }

    /// Records a change of `object` at `now`.
    ///
    /// NB: the date is rounded up to the next whole second, and always later than the previous
    /// one, so a client that fetched the describe earlier in the same second, and sends back the
    /// `Last-Modified` it got, is never told "not modified".
    pub fn touch(&self, object: &str, now: DateTime<Utc>) -> DateTime<Utc> {
        let mut m = self.objects.lock();
        let key = object.to_ascii_lowercase();
        let previous = m.get(&key).copied().unwrap_or(self.started);
        let at = (whole_second(now) + TimeDelta::seconds(1)).max(previous + TimeDelta::seconds(1));
        m.insert(key, at);
        at
    }
}

fn whole_second(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// An HTTP date (`Fri, 04 Dec 2026 18:24:30 GMT`).
pub fn http_date(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Parses an `If-Modified-Since` value: an HTTP date, or Salesforce's documented
/// `EEE, dd MMM yyyy HH:mm:ss z` with a zone name or offset. `None` when it does not parse
/// (the header is then ignored, as HTTP requires).
pub fn parse_http_date(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc2822(s) {
        return Some(t.with_timezone(&Utc));
    }
    // RFC 2822 knows GMT, UT and the US zones; anything else names UTC here.
    let (rest, _zone) = s.rsplit_once(' ')?;
    DateTime::parse_from_rfc2822(&format!("{rest} +0000"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The file of a data directory that keeps the schema changes, one JSON line each.
const CHANGES_FILE: &str = "schema-changes.jsonl";

/// One line of [`CHANGES_FILE`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
struct Applied {
    object: String,
    field: String,
    change: FieldChange,
}

/// `schema`'s `object` with `change` made to `field`, and the field's position.
///
/// # Errors
/// As [`DevOrg::alter_field`].
fn altered(
    schema: &Schema,
    object: &str,
    field: &str,
    change: FieldChange,
) -> Result<(ObjectDef, usize), ApiError> {
    let o = schema.object(object).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("sObject type '{object}' is not supported."),
        )
    })?;
    let i = o.field_index(field).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("No such column '{field}' on sobject of type {}", o.name),
        )
    })?;
    let f = &o.fields[i];
    if f.ty == crate::schema::FieldType::Id || f.name_field {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_OPERATION",
            format!("{}.{} cannot be changed", o.name, f.name),
        ));
    }
    let mut changed = (**o).clone();
    let f = &mut changed.fields[i];
    match change {
        FieldChange::Delete => f.deleted = true,
        FieldChange::ReadOnly => {
            f.createable = false;
            f.updateable = false;
        }
    }
    changed.reindex();
    Ok((changed, i))
}

/// `schema` with the changes kept in `dir` made again, in order. A change that no longer
/// applies (the schema file no longer has the field) is skipped with a warning; a last line cut
/// short by a crash is ignored, as in the journal.
///
/// # Errors
/// [`crate::Error::Data`] when the file cannot be read or a line (not the last) is not a change.
pub(crate) fn replay(dir: &std::path::Path, mut schema: Schema) -> crate::Result<Schema> {
    let path = dir.join(CHANGES_FILE);
    if !path.exists() {
        return Ok(schema);
    }
    let lines: Vec<String> = BufReader::new(std::fs::File::open(&path)?)
        .lines()
        .collect::<std::io::Result<_>>()?;
    for (n, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let a: Applied = match serde_json::from_str(line) {
            Ok(a) => a,
            Err(_) if n + 1 == lines.len() => {
                tracing::warn!(line = n + 1, "ignoring a schema change line cut short");
                break;
            }
            Err(e) => {
                return Err(crate::Error::Data(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{CHANGES_FILE} line {}: {e}", n + 1),
                )));
            }
        };
        match altered(&schema, &a.object, &a.field, a.change) {
            Ok((o, _)) => schema = schema.with_object(o),
            Err(e) => tracing::warn!(
                object = %a.object, field = %a.field, change = ?a.change,
                "a stored schema change no longer applies: {}",
                e.errors.first().map_or("", |b| b.message.as_str())
            ),
        }
    }
    Ok(schema)
}

/// Appends `a` to the changes kept in `dir` and flushes it.
fn append(dir: &std::path::Path, a: &Applied) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(CHANGES_FILE))?;
    let mut line = serde_json::to_vec(a)?;
    line.push(b'\n');
    file.write_all(&line)?;
    file.flush()
}

impl DevOrg {
    /// Changes a field of the schema now: see [`FieldChange`]. Clients holding a describe see
    /// the change at their next `If-Modified-Since`. With a data directory the change is kept
    /// there first, and made again at the next start.
    ///
    /// # Errors
    /// 404 `NOT_FOUND` when the object or field does not exist (or was already deleted);
    /// 400 `INVALID_OPERATION` for `Id` or the object's name field; 500 when the change cannot
    /// be written to the data directory (it is then not made).
    pub fn alter_field(
        &self,
        object: &str,
        field: &str,
        change: FieldChange,
    ) -> Result<(), ApiError> {
        let _altering = self.inner.changes.altering.lock();
        let schema = self.schema();
        let (changed, i) = altered(&schema, object, field, change)?;
        if let Some(dir) = &self.config().data_dir {
            let a = Applied {
                object: changed.name.clone(),
                field: changed.fields[i].name.clone(),
                change,
            };
            append(dir, &a).map_err(|e| {
                tracing::error!(error = %e, "writing a schema change to the data directory");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "UNKNOWN_EXCEPTION",
                    "the schema change could not be saved in the data directory; nothing changed",
                )
            })?;
        }
        let name = changed.name.clone();
        let new = Arc::new(schema.with_object(changed));
        // The tables first: a write that starts after this finds the field gone (or read-only)
        // even if it read the describe a moment before.
        self.store().replace_schema(new.clone());
        *self.inner.schema.write() = new;
        self.inner.changes.touch(&name, Utc::now());
        tracing::info!(object = %name, %field, ?change, "dev org schema changed");
        Ok(())
    }
}

/// `POST /devorg/schema/{object}/fields/{field}`, no auth like the other admin routes.
pub fn admin_router(org: DevOrg) -> axum::Router {
    axum::Router::new()
        .route("/devorg/schema/{object}/fields/{field}", post(alter))
        .with_state(org)
}

#[derive(serde::Deserialize)]
struct AlterBody {
    change: FieldChange,
}

async fn alter(
    State(org): State<DevOrg>,
    Path((object, field)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let change = match serde_json::from_slice::<AlterBody>(&body) {
        Ok(b) => b.change,
        Err(e) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "JSON_PARSER_ERROR",
                format!(r#"the body must be {{"change": "delete" | "read_only"}}: {e}"#),
            )
            .into_response();
        }
    };
    match org.alter_field(&object, &field, change) {
        Ok(()) => {
            let at = org.schema_changes().last_modified(&object);
            Json(json!({
                "object": object, "field": field, "change": change,
                "lastModified": http_date(at),
            }))
            .into_response()
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        let t = DateTime::parse_from_rfc3339("2026-12-04T18:24:30Z")
            .expect("date")
            .with_timezone(&Utc);
        assert_eq!(http_date(t), "Fri, 04 Dec 2026 18:24:30 GMT");
        for (text, want) in [
            ("Fri, 04 Dec 2026 18:24:30 GMT", Some(t)),
            ("Fri, 4 Dec 2026 18:24:30 GMT", Some(t)),
            ("Fri, 04 Dec 2026 19:24:30 +0100", Some(t)),
            ("Fri, 04 Dec 2026 18:24:30 UTC", Some(t)),
            ("yesterday", None),
        ] {
            assert_eq!(parse_http_date(text), want, "{text}");
        }
    }

    #[test]
    fn a_change_is_always_later_than_what_a_client_saw() {
        let start = DateTime::parse_from_rfc3339("2026-12-04T18:00:00.700Z")
            .expect("date")
            .with_timezone(&Utc);
        let c = Changes::new(start);
        assert_eq!(c.last_modified("Lead"), whole_second(start));
        // Two changes within one second still get two different dates.
        let a = c.touch("Lead", start);
        let b = c.touch("lead", start);
        assert!(a > whole_second(start) && b > a, "{a} {b}");
        assert_eq!(c.last_modified("LEAD"), b);
        assert_eq!(c.last_modified("Case"), whole_second(start));
    }
}

#[cfg(test)]
mod route_tests {
    use axum::body::Body;
    use axum::http::{HeaderMap, Request, StatusCode, header};
    use serde_json::{Value, json};
    use tower::ServiceExt;

    use crate::{Config, DevOrg};

    struct Org {
        org: DevOrg,
        token: String,
    }

    impl Org {
        fn new() -> Self {
            Self::with(Config::default())
        }

        fn with(config: Config) -> Self {
            let org = DevOrg::new(config).expect("org builds");
            let token = org.dev_access_token();
            Self { org, token }
        }

        async fn send(
            &self,
            method: &str,
            uri: &str,
            headers: &[(&str, &str)],
            body: Option<Value>,
        ) -> (StatusCode, HeaderMap, Value) {
            let mut b = Request::builder()
                .method(method)
                .uri(uri)
                .header("authorization", format!("Bearer {}", self.token))
                .header("content-type", "application/json");
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            let req = b
                .body(body.map_or_else(Body::empty, |v| Body::from(v.to_string())))
                .expect("request");
            let resp = self.org.router().oneshot(req).await.expect("infallible");
            let status = resp.status();
            let headers = resp.headers().clone();
            let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .expect("body");
            let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            (status, headers, v)
        }

        async fn query(&self, soql: &str) -> (StatusCode, Value) {
            let q: String = form_urlencoded::byte_serialize(soql.as_bytes()).collect();
            let (s, _, v) = self
                .send(
                    "GET",
                    &format!("/services/data/v59.0/query?q={q}"),
                    &[],
                    None,
                )
                .await;
            (s, v)
        }
    }

    const DESCRIBE: &str = "/services/data/v59.0/sobjects/Opportunity/describe";

    fn has_field(describe: &Value, name: &str) -> bool {
        describe["fields"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["name"] == name))
    }

    #[tokio::test]
    async fn a_deleted_field_is_gone_from_describe_writes_and_queries() {
        let o = Org::new();
        let (status, h, d) = o.send("GET", DESCRIBE, &[], None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(has_field(&d, "Demo_Requested_At__c"));
        let since = h[header::LAST_MODIFIED].to_str().expect("ascii").to_owned();
        // Unchanged: 304, no body.
        let (status, _, body) = o
            .send("GET", DESCRIBE, &[("if-modified-since", &since)], None)
            .await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert_eq!(body, Value::Null);

        let (status, _, v) = o
            .send(
                "POST",
                "/devorg/schema/Opportunity/fields/demo_requested_at__c",
                &[],
                Some(json!({"change": "delete"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");

        let (status, h, d) = o
            .send("GET", DESCRIBE, &[("if-modified-since", &since)], None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(!has_field(&d, "Demo_Requested_At__c"));
        assert!(has_field(&d, "StageName"));
        let after = super::parse_http_date(h[header::LAST_MODIFIED].to_str().expect("ascii"));
        assert!(after > super::parse_http_date(&since), "{after:?} {since}");

        let (status, v) = o
            .query("SELECT Demo_Requested_At__c FROM Opportunity")
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(v[0]["errorCode"], "INVALID_FIELD", "{v}");
        let (_, v) = o.query("SELECT Id FROM Opportunity LIMIT 1").await;
        let id = v["records"][0]["Id"]
            .as_str()
            .expect("an opportunity")
            .to_owned();
        let url = format!("/services/data/v59.0/sobjects/Opportunity/{id}");
        let (status, _, v) = o
            .send(
                "PATCH",
                &url,
                &[],
                Some(json!({"Demo_Requested_At__c": "2026-01-01T00:00:00Z"})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(v[0]["errorCode"], "INVALID_FIELD", "{v}");
        let (status, _, rec) = o.send("GET", &url, &[], None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(rec.get("Demo_Requested_At__c").is_none(), "{rec}");
        assert!(rec.get("StageName").is_some(), "{rec}");

        // Deleting it again: it is not there any more.
        let (status, _, v) = o
            .send(
                "POST",
                "/devorg/schema/Opportunity/fields/Demo_Requested_At__c",
                &[],
                Some(json!({"change": "delete"})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    }

    #[tokio::test]
    async fn a_read_only_field_refuses_writes_and_bad_changes_are_named() {
        let o = Org::new();
        let (status, _, v) = o
            .send(
                "POST",
                "/devorg/schema/Lead/fields/Title",
                &[],
                Some(json!({"change": "read_only"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        let (_, _, d) = o
            .send(
                "GET",
                "/services/data/v59.0/sobjects/Lead/describe",
                &[],
                None,
            )
            .await;
        let title = d["fields"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["name"] == "Title"))
            .expect("Title");
        assert_eq!(
            (title["createable"].clone(), title["updateable"].clone()),
            (json!(false), json!(false))
        );
        let (status, _, v) = o
            .send(
                "POST",
                "/services/data/v59.0/sobjects/Lead",
                &[],
                Some(json!({"LastName": "Ng", "Company": "Ng Ltd", "Title": "CEO"})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(v[0]["errorCode"], "INVALID_FIELD_FOR_INSERT_UPDATE", "{v}");

        for (uri, body, want, code) in [
            (
                "/devorg/schema/Lead/fields/Title",
                json!({"change": "rename"}),
                StatusCode::BAD_REQUEST,
                "JSON_PARSER_ERROR",
            ),
            (
                "/devorg/schema/Lead/fields/Nope__c",
                json!({"change": "delete"}),
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
            ),
            (
                "/devorg/schema/Nope__c/fields/Name",
                json!({"change": "delete"}),
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
            ),
            (
                "/devorg/schema/Lead/fields/Id",
                json!({"change": "delete"}),
                StatusCode::BAD_REQUEST,
                "INVALID_OPERATION",
            ),
        ] {
            let (status, _, v) = o.send("POST", uri, &[], Some(body)).await;
            assert_eq!(
                (status, v[0]["errorCode"].as_str()),
                (want, Some(code)),
                "{uri}: {v}"
            );
        }
    }

    #[tokio::test]
    async fn lead_record_types_have_their_own_picklist_values() {
        let o = Org::new();
        let (_, _, d) = o
            .send(
                "GET",
                "/services/data/v59.0/sobjects/Lead/describe",
                &[],
                None,
            )
            .await;
        let infos = d["recordTypeInfos"].as_array().expect("record types");
        let names: Vec<&str> = infos
            .iter()
            .filter_map(|r| r["developerName"].as_str())
            .collect();
        assert_eq!(names, ["Inbound", "Partner", "Master"]);
        let id = |name: &str| {
            infos
                .iter()
                .find(|r| r["developerName"] == name)
                .and_then(|r| r["recordTypeId"].as_str())
                .expect("id")
                .to_owned()
        };
        let (inbound, partner) = (id("Inbound"), id("Partner"));
        assert_eq!(id("Master"), "012000000000000AAA");

        let values = |v: &Value, field: &str| -> Vec<String> {
            v["picklistFieldValues"][field]["values"]
                .as_array()
                .expect("values")
                .iter()
                .filter_map(|x| x["value"].as_str().map(str::to_owned))
                .collect()
        };
        let (status, _, p) = o
            .send(
                "GET",
                &format!("/services/data/v59.0/ui-api/object-info/Lead/picklist-values/{partner}"),
                &[],
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{p}");
        assert_eq!(
            values(&p, "Status"),
            [
                "Open - Not Contacted",
                "Working - Contacted",
                "Closed - Converted"
            ]
        );
        assert_eq!(values(&p, "LeadSource"), ["Partner Referral", "Other"]);
        // A picklist the record type does not narrow has every value.
        assert_eq!(values(&p, "Rating"), ["Hot", "Warm", "Cold"]);
        let (_, _, i) = o
            .send(
                "GET",
                &format!(
                    "/services/data/v59.0/ui-api/object-info/Lead/picklist-values/{inbound}/Status"
                ),
                &[],
                None,
            )
            .await;
        assert_eq!(i["values"].as_array().map(Vec::len), Some(4), "{i}");
        assert_eq!(i["defaultValue"]["value"], "Open - Not Contacted");
        let (status, _, _) = o
            .send(
                "GET",
                "/services/data/v59.0/ui-api/object-info/Lead/picklist-values/0120D000000009zAAA",
                &[],
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Restricted picklists are enforced per record type on write.
        let create = |rt: &str, source: &str| json!({"LastName": "Ng", "Company": "Ng Ltd", "RecordTypeId": rt, "LeadSource": source});
        let url = "/services/data/v59.0/sobjects/Lead";
        let (status, _, v) = o
            .send("POST", url, &[], Some(create(&partner, "Web")))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            v[0]["errorCode"], "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "{v}"
        );
        assert_eq!(v[0]["fields"], json!(["LeadSource"]));
        let (status, _, v) = o
            .send("POST", url, &[], Some(create(&partner, "Partner Referral")))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        let (status, _, v) = o
            .send("POST", url, &[], Some(create(&inbound, "Web")))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        // Outside every list: refused without a record type too.
        let (status, _, v) = o
            .send(
                "POST",
                url,
                &[],
                Some(json!({"LastName": "Ng", "Company": "Ng", "LeadSource": "Fax"})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            v[0]["errorCode"], "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "{v}"
        );
        let (status, v) = o
            .query("SELECT DeveloperName FROM RecordType WHERE SobjectType = 'Lead' ORDER BY DeveloperName")
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["totalSize"], 2, "{v}");
        assert_eq!(v["records"][1]["DeveloperName"], "Partner");
    }

    /// A Lead created without `RecordTypeId` gets the default record type (Inbound), as
    /// Salesforce gives the profile's default, and its restricted picklists follow it: a
    /// source only Partner offers is refused.
    #[tokio::test]
    async fn a_lead_created_without_a_record_type_gets_the_default_one() {
        let o = Org::new();
        let (_, v) = o
            .query("SELECT Id, DeveloperName FROM RecordType WHERE SobjectType = 'Lead'")
            .await;
        let id = |name: &str| {
            v["records"]
                .as_array()
                .expect("records")
                .iter()
                .find(|r| r["DeveloperName"] == name)
                .and_then(|r| r["Id"].as_str())
                .expect("record type")
                .to_owned()
        };
        let (inbound, partner) = (id("Inbound"), id("Partner"));
        let url = "/services/data/v59.0/sobjects/Lead";

        let (status, _, created) = o
            .send(
                "POST",
                url,
                &[],
                Some(json!({"LastName": "Ng", "Company": "Ng Ltd", "LeadSource": "Web"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let lead = created["id"].as_str().expect("id");
        let (_, _, rec) = o.send("GET", &format!("{url}/{lead}"), &[], None).await;
        assert_eq!(rec["RecordTypeId"], inbound.as_str(), "{rec}");

        let (status, _, v) = o
            .send(
                "POST",
                url,
                &[],
                Some(json!({"LastName": "Ng", "Company": "Ng Ltd", "LeadSource": "Partner Referral"})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
        assert_eq!(
            v[0]["errorCode"], "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "{v}"
        );
        assert_eq!(v[0]["fields"], json!(["LeadSource"]));
        // Given, the record type is kept.
        let (status, _, created) = o
            .send(
                "POST",
                url,
                &[],
                Some(json!({"LastName": "Ng", "Company": "Ng Ltd", "LeadSource": "Partner Referral", "RecordTypeId": partner})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let lead = created["id"].as_str().expect("id");
        let (_, _, rec) = o.send("GET", &format!("{url}/{lead}"), &[], None).await;
        assert_eq!(rec["RecordTypeId"], partner.as_str(), "{rec}");
    }

    /// With a data directory, a deleted field stays deleted and a read-only field read-only
    /// after a restart, and the records written before and after the change come back.
    #[tokio::test]
    async fn schema_changes_in_a_data_directory_survive_a_restart() {
        let dir = crate::store::tests::tempdir();
        let config = Config {
            data_dir: Some(dir.clone()),
            ..Config::default()
        };
        let url = {
            let o = Org::with(config.clone());
            for (path, change) in [
                (
                    "/devorg/schema/opportunity/fields/demo_requested_at__c",
                    "delete",
                ),
                ("/devorg/schema/Lead/fields/Title", "read_only"),
            ] {
                let (status, _, v) = o
                    .send("POST", path, &[], Some(json!({"change": change})))
                    .await;
                assert_eq!(status, StatusCode::OK, "{v}");
            }
            let (_, v) = o.query("SELECT Id FROM Opportunity LIMIT 1").await;
            let id = v["records"][0]["Id"].as_str().expect("an opportunity");
            let url = format!("/services/data/v59.0/sobjects/Opportunity/{id}");
            let (status, _, v) = o
                .send(
                    "PATCH",
                    &url,
                    &[],
                    Some(json!({"StageName": "Negotiation/Review"})),
                )
                .await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
            url
        };
        // The changes as the org spells the names, one line each.
        let kept = std::fs::read_to_string(dir.join("schema-changes.jsonl")).expect("kept");
        let lines: Vec<Value> = kept
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(
            lines,
            [
                json!({"object": "Opportunity", "field": "Demo_Requested_At__c", "change": "delete"}),
                json!({"object": "Lead", "field": "Title", "change": "read_only"}),
            ]
        );

        let o = Org::with(config);
        let (_, _, d) = o.send("GET", DESCRIBE, &[], None).await;
        assert!(!has_field(&d, "Demo_Requested_At__c"));
        let (_, _, lead) = o
            .send(
                "GET",
                "/services/data/v59.0/sobjects/Lead/describe",
                &[],
                None,
            )
            .await;
        let title = lead["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .find(|f| f["name"] == "Title")
            .expect("Title");
        assert_eq!(title["createable"], false, "{title}");
        assert_eq!(title["updateable"], false, "{title}");
        let (status, v) = o
            .query("SELECT Demo_Requested_At__c FROM Opportunity")
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(v[0]["errorCode"], "INVALID_FIELD", "{v}");
        let (status, _, rec) = o.send("GET", &url, &[], None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(rec["StageName"], "Negotiation/Review", "{rec}");
        assert!(rec.get("Demo_Requested_At__c").is_none(), "{rec}");
        let (status, _, _) = o
            .send(
                "POST",
                "/devorg/schema/Opportunity/fields/Demo_Requested_At__c",
                &[],
                Some(json!({"change": "delete"})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "already deleted");

        // Without a data directory the org is built with its schema as it was.
        let fresh = Org::new();
        let (_, _, d) = fresh.send("GET", DESCRIBE, &[], None).await;
        assert!(has_field(&d, "Demo_Requested_At__c"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A kept change that is not JSON stops the org at start, naming the file and line; a last
    /// line cut short (a crash while writing) is ignored.
    #[test]
    fn a_corrupt_schema_change_line_is_named() {
        let dir = crate::store::tests::tempdir();
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("schema-changes.jsonl");
        let config = Config {
            data_dir: Some(dir.clone()),
            ..Config::default()
        };
        std::fs::write(
            &file,
            "{\"object\": \"Lead\", \"field\": \"Title\", \"change\": \"read_only\"}\n{\"object\": \"Le",
        )
        .expect("write");
        let org = DevOrg::new(config.clone()).expect("a cut-short last line is ignored");
        let lead = org.schema().object("Lead").cloned().expect("Lead");
        let title = &lead.fields[lead.field_index("Title").expect("Title")];
        assert!(!title.createable && !title.updateable);
        drop(org);
        std::fs::write(
            &file,
            "nonsense\n{\"object\": \"Lead\", \"field\": \"Title\", \"change\": \"delete\"}\n",
        )
        .expect("write");
        let err = DevOrg::new(config).err().expect("refused").to_string();
        assert!(err.contains("schema-changes.jsonl line 1"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
