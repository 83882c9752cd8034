//! Metadata routes: versions, resources, describe global, sObject basic info and describe.
//!
//! NB: `GET /sobjects/{sobject}` is registered here while `POST` on the same path (create)
//! belongs to [`super::sobjects`]. Both use the exact path string `/sobjects/{sobject}`: axum
//! merges method routers registered on an identical path across merged routers, but two
//! different parameter names on one path panic at startup.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::Version;
use crate::error::{JSON, json_response};
use crate::schema::describe;
use crate::{ApiError, DevOrg};

/// The oldest and newest API versions the org lists.
pub const VERSIONS: std::ops::RangeInclusive<u16> = 20..=62;

/// The metadata routes under `/services/data/{version}`.
pub fn routes() -> axum::Router<DevOrg> {
    axum::Router::new()
        .route("/", get(resources))
        .route("/sobjects", get(describe_global))
        .route("/sobjects/{sobject}", get(basic_info))
        .route("/sobjects/{sobject}/describe", get(describe_sobject))
        .route(
            "/ui-api/object-info/{object}/picklist-values/{record_type}",
            get(picklist_values),
        )
        .route(
            "/ui-api/object-info/{object}/picklist-values/{record_type}/{field}",
            get(picklist_field_values),
        )
}

/// Routes outside the version prefix: `GET /services/data` (the versions list).
pub fn unversioned_routes() -> axum::Router<DevOrg> {
    axum::Router::new().route("/services/data", get(versions))
}

/// The release label of an API version: three releases a year, v20.0 being Winter '11.
pub fn release_label(version: u16) -> String {
    let n = version.saturating_sub(20);
    let season = ["Winter", "Spring", "Summer"][usize::from(n % 3)];
    format!("{season} '{:02}", 11 + n / 3)
}

/// `GET /services/data`: every version with its label and URL, oldest first.
pub async fn versions() -> Response {
    let list: Vec<Value> = VERSIONS
        .map(|v| {
            json!({
                "label": release_label(v),
                "url": format!("/services/data/v{v}.0"),
                "version": format!("{v}.0"),
            })
        })
        .collect();
    json_response(StatusCode::OK, &list)
}

/// `GET /services/data/vXX.X`: resource name to URL, with `identity` the dev user's identity URL.
pub async fn resources(State(org): State<DevOrg>, Version(v): Version) -> Response {
    let base = format!("/services/data/{v}");
    let mut m = Map::new();
    for name in [
        "tooling",
        "metadata",
        "eclair",
        "folders",
        "prechatForms",
        "contact-tracing",
        "jsonxform",
        "chatter",
        "tabs",
        "appMenu",
        "quickActions",
        "queryAll",
        "commerce",
        "wave",
        "iot",
        "analytics",
        "search",
        "smartdatadiscovery",
        "composite",
        "parameterizedSearch",
        "fingerprint",
        "theme",
        "nouns",
        "event",
        "serviceTemplates",
        "recent",
        "connect",
        "licensing",
        "limits",
        "process",
        "dedupe",
        "async-queries",
        "query",
        "jobs",
        "match",
        "localizedvalue",
        "mobile",
        "emailConnect",
        "compactLayouts",
        "knowledgeManagement",
        "sobjects",
        "actions",
        "support",
    ] {
        m.insert(name.to_owned(), json!(format!("{base}/{name}")));
    }
    m.insert("identity".to_owned(), json!(org.identity_url()));
    json_response(StatusCode::OK, &Value::Object(m))
}

/// A 200 response carrying already-serialised JSON.
fn json_bytes(bytes: axum::body::Bytes) -> Response {
    ([(header::CONTENT_TYPE, JSON)], bytes).into_response()
}

/// `GET /sobjects`: the global describe.
pub async fn describe_global(State(org): State<DevOrg>, Version(v): Version) -> Response {
    json_bytes(org.schema().global_describe_bytes(v))
}

/// `GET /sobjects/{sobject}`: the object's basic info, or 404 NOT_FOUND for an unknown type.
///
/// `rest/sobjects.rs` registers `POST` (create) on the same path string; see the module doc.
pub async fn basic_info(
    State(org): State<DevOrg>,
    Version(v): Version,
    Path(params): Path<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let name = sobject_param(&params)?;
    let schema = org.schema();
    let o = schema.object(name).ok_or_else(ApiError::not_found)?;
    Ok(json_response(StatusCode::OK, &describe::basic_info(o, v)))
}

/// `GET /sobjects/{sobject}/describe`: the full describe, or 404 NOT_FOUND for an unknown type.
///
/// It carries `Last-Modified` (when the object's describe last changed, see [`crate::alter`]);
/// with an `If-Modified-Since` at or after that date the answer is `304 Not Modified` with no
/// body, as Salesforce answers.
pub async fn describe_sobject(
    State(org): State<DevOrg>,
    Version(v): Version,
    Path(params): Path<Vec<(String, String)>>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let name = sobject_param(&params)?;
    let schema = org.schema();
    let o = schema.object(name).ok_or_else(ApiError::not_found)?;
    let modified = org.schema_changes().last_modified(&o.name);
    let last_modified = crate::alter::http_date(modified);
    let since = headers
        .get(header::IF_MODIFIED_SINCE)
        .and_then(|h| h.to_str().ok())
        .and_then(crate::alter::parse_http_date);
    if since.is_some_and(|s| modified <= s) {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::LAST_MODIFIED, last_modified)],
        )
            .into_response());
    }
    let bytes = schema
        .describe_bytes(name, v)
        .ok_or_else(ApiError::not_found)?;
    let mut resp = json_bytes(bytes);
    if let Ok(h) = header::HeaderValue::from_str(&last_modified) {
        resp.headers_mut().insert(header::LAST_MODIFIED, h);
    }
    Ok(resp)
}

/// The picklist values of `field` under `record_type` (`None`: the master list), UI API shape.
fn picklist_json(
    f: &crate::schema::FieldDef,
    record_type: Option<&crate::schema::RecordTypeDef>,
    url: String,
) -> Value {
    let allowed = record_type.and_then(|r| r.values(&f.name));
    let entries: Vec<&crate::schema::PicklistValue> = f
        .picklist
        .iter()
        .filter(|e| allowed.is_none_or(|a| a.contains(&e.value)))
        .collect();
    let value = |e: &crate::schema::PicklistValue| json!({"attributes": null, "label": e.label, "validFor": [], "value": e.value});
    let default = entries.iter().find(|e| e.default).map(|e| value(e));
    json!({
        "controllerValues": {},
        "defaultValue": default,
        "eTag": format!("{:x}", entries.len() * 31 + f.name.len()),
        "url": url,
        "values": entries.iter().map(|e| value(e)).collect::<Vec<_>>(),
    })
}

/// Resolves the object and record type of a UI API picklist request: the master record type id
/// (`012000000000000AAA`) means the master lists.
fn object_and_record_type(
    schema: &crate::schema::Schema,
    object: &str,
    record_type: &str,
) -> Result<
    (
        std::sync::Arc<crate::schema::ObjectDef>,
        Option<crate::schema::RecordTypeDef>,
    ),
    ApiError,
> {
    let o = schema.object(object).cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("The requested resource does not exist: object {object}"),
        )
    })?;
    if record_type == describe::MASTER_RECORD_TYPE {
        return Ok((o, None));
    }
    let rt = callforce_types::Id::parse(record_type)
        .ok()
        .and_then(|id| o.record_types.iter().find(|r| r.id == id).cloned())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!(
                    "The requested resource does not exist: record type {record_type} of {}",
                    o.name
                ),
            )
        })?;
    Ok((o, Some(rt)))
}

/// The path of the UI API's picklist routes (the version segment is read by [`Version`]).
#[derive(serde::Deserialize)]
pub struct PicklistPath {
    object: String,
    record_type: String,
    field: Option<String>,
}

fn is_picklist(f: &crate::schema::FieldDef) -> bool {
    matches!(
        f.ty,
        crate::schema::FieldType::Picklist | crate::schema::FieldType::MultiPicklist
    )
}

/// `GET /ui-api/object-info/{object}/picklist-values/{recordTypeId}`: the values of every
/// picklist of the object under that record type.
pub async fn picklist_values(
    State(org): State<DevOrg>,
    Version(v): Version,
    Path(p): Path<PicklistPath>,
) -> Result<Response, ApiError> {
    let schema = org.schema();
    let (o, rt) = object_and_record_type(&schema, &p.object, &p.record_type)?;
    let rt_id = &p.record_type;
    let mut fields = Map::new();
    for (_, f) in o.live_fields() {
        if is_picklist(f) {
            let url = format!(
                "/services/data/{v}/ui-api/object-info/{}/picklist-values/{rt_id}/{}",
                o.name, f.name
            );
            fields.insert(f.name.clone(), picklist_json(f, rt.as_ref(), url));
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"eTag": format!("{:x}", fields.len()), "picklistFieldValues": fields}),
    ))
}

/// `GET /ui-api/object-info/{object}/picklist-values/{recordTypeId}/{field}`: one picklist.
pub async fn picklist_field_values(
    State(org): State<DevOrg>,
    Version(v): Version,
    Path(p): Path<PicklistPath>,
) -> Result<Response, ApiError> {
    let schema = org.schema();
    let (o, rt) = object_and_record_type(&schema, &p.object, &p.record_type)?;
    let field = p.field.as_deref().unwrap_or_default();
    let f = o.field(field).filter(|f| is_picklist(f)).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!(
                "The requested resource does not exist: picklist {field} of {}",
                o.name
            ),
        )
    })?;
    let url = format!(
        "/services/data/{v}/ui-api/object-info/{}/picklist-values/{}/{}",
        o.name, p.record_type, f.name
    );
    Ok(json_response(
        StatusCode::OK,
        &picklist_json(f, rt.as_ref(), url),
    ))
}

fn sobject_param(params: &[(String, String)]) -> Result<&str, ApiError> {
    params
        .iter()
        .find(|(k, _)| k == "sobject")
        .map(|(_, v)| v.as_str())
        .ok_or_else(ApiError::not_found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    fn org() -> DevOrg {
        DevOrg::new(Config::default()).expect("org builds")
    }

    async fn get_json(uri: &str) -> (StatusCode, String, Value) {
        let o = org();
        let resp = o
            .router()
            .oneshot(
                Request::get(uri)
                    .header("authorization", format!("Bearer {}", o.dev_access_token()))
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        read(resp).await
    }

    async fn read(resp: Response) -> (StatusCode, String, Value) {
        let status = resp.status();
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (status, ct, v)
    }

    #[test]
    fn release_labels() {
        assert_eq!(release_label(20), "Winter '11");
        assert_eq!(release_label(21), "Spring '11");
        assert_eq!(release_label(22), "Summer '11");
        assert_eq!(release_label(59), "Winter '24");
        assert_eq!(release_label(60), "Spring '24");
        assert_eq!(release_label(62), "Winter '25");
    }

    #[tokio::test]
    async fn versions_lists_20_to_62_with_labels() {
        let (status, ct, v) = get_json("/services/data").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ct, "application/json;charset=UTF-8");
        let list = v.as_array().expect("array");
        assert_eq!(list.len(), 43);
        assert_eq!(
            list[0],
            json!({"label": "Winter '11", "url": "/services/data/v20.0", "version": "20.0"})
        );
        assert!(list.contains(
            &json!({"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"})
        ));
    }

    #[tokio::test]
    async fn versions_tolerates_trailing_slash_through_service() {
        let resp = org()
            .service()
            .oneshot(
                Request::get("/services/data/")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        let (status, _, v) = read(resp).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(v.as_array().map(Vec::len), Some(43));
    }

    #[tokio::test]
    async fn describe_tolerates_trailing_slash_through_service() {
        let o = org();
        let resp = o
            .service()
            .oneshot(
                Request::get("/services/data/v59.0/sobjects/Contact/describe/")
                    .header("authorization", format!("Bearer {}", o.dev_access_token()))
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        let (status, _, v) = read(resp).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(v["name"], "Contact");
    }

    #[tokio::test]
    async fn resources_carry_the_version_and_identity() {
        let o = org();
        let resp = o
            .router()
            .oneshot(
                Request::get("/services/data/v61.0")
                    .header("authorization", format!("Bearer {}", o.dev_access_token()))
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("infallible");
        let (status, ct, v) = read(resp).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ct, "application/json;charset=UTF-8");
        assert_eq!(v["sobjects"], "/services/data/v61.0/sobjects");
        assert_eq!(v["query"], "/services/data/v61.0/query");
        assert_eq!(v["queryAll"], "/services/data/v61.0/queryAll");
        assert_eq!(v["search"], "/services/data/v61.0/search");
        assert_eq!(v["limits"], "/services/data/v61.0/limits");
        assert_eq!(v["composite"], "/services/data/v61.0/composite");
        assert_eq!(
            v["parameterizedSearch"],
            "/services/data/v61.0/parameterizedSearch"
        );
        assert_eq!(v["identity"], json!(o.identity_url()));
    }

    #[tokio::test]
    async fn global_describe_lists_every_object_with_urls() {
        let (status, ct, v) = get_json("/services/data/v59.0/sobjects").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ct, "application/json;charset=UTF-8");
        assert_eq!(v["encoding"], "UTF-8");
        assert_eq!(v["maxBatchSize"], 200);
        let objects = v["sobjects"].as_array().expect("sobjects");
        let account = objects
            .iter()
            .find(|o| o["name"] == "Account")
            .expect("Account listed");
        assert_eq!(account["keyPrefix"], "001");
        assert_eq!(account["labelPlural"], "Accounts");
        assert_eq!(
            account["urls"]["describe"],
            "/services/data/v59.0/sobjects/Account/describe"
        );
        assert_eq!(
            account["urls"]["rowTemplate"],
            "/services/data/v59.0/sobjects/Account/{ID}"
        );
        assert!(objects.iter().any(|o| o["name"] == "Service_Contract__c"
            && o["custom"] == true
            && o["keyPrefix"] == "a00"));
    }

    #[tokio::test]
    async fn basic_info_has_object_describe_and_recent_items() {
        let (status, _, v) = get_json("/services/data/v59.0/sobjects/contact").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(v["objectDescribe"]["name"], "Contact");
        assert_eq!(v["objectDescribe"]["keyPrefix"], "003");
        assert_eq!(v["recentItems"], json!([]));
    }

    #[tokio::test]
    async fn unknown_object_is_404_not_found_everywhere() {
        for uri in [
            "/services/data/v59.0/sobjects/Nope__c",
            "/services/data/v59.0/sobjects/Nope/describe",
        ] {
            let (status, ct, v) = get_json(uri).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
            assert_eq!(ct, "application/json;charset=UTF-8");
            assert_eq!(
                v,
                json!([{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]),
                "{uri}"
            );
        }
    }

    #[tokio::test]
    async fn bad_version_is_404() {
        let (status, _, v) = get_json("/services/data/v5x/sobjects").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(v[0]["errorCode"], "NOT_FOUND");
    }

    #[tokio::test]
    async fn describe_route_serves_full_describe_with_version_in_urls() {
        let (status, ct, v) = get_json("/services/data/v60.0/sobjects/Opportunity/describe").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ct, "application/json;charset=UTF-8");
        assert_eq!(v["name"], "Opportunity");
        assert_eq!(
            v["urls"]["sobject"],
            "/services/data/v60.0/sobjects/Opportunity"
        );
        let stage = v["fields"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["name"] == "StageName"))
            .expect("StageName");
        assert_eq!(stage["restrictedPicklist"], false);
    }
}
