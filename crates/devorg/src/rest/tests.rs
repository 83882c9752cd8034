//! Route tests for records and composite requests, over the store's test schema.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value as J, json};
use tower::ServiceExt;

use crate::store::tests::test_schema;
use crate::{Config, DevOrg, Seed};

/// A test org over the store's test schema, with the dev user and an access token.
pub(crate) struct Org {
    pub(crate) org: DevOrg,
    token: String,
}

impl std::ops::Deref for Org {
    type Target = DevOrg;
    fn deref(&self) -> &DevOrg {
        &self.org
    }
}

pub(crate) async fn org() -> Org {
    let org = DevOrg::with_schema_unseeded(
        Config {
            seed: Seed::None,
            ..Config::default()
        },
        test_schema(),
    )
    .unwrap();
    {
        let mut txn = org.store().write();
        let t = txn.data().table_index("User").unwrap();
        let body = crate::store::tests::obj(
            json!({"Id": org.dev_user_id().as_str(), "Username": "dev@callforce.local"}),
        );
        txn.create_trusted(t, &body).unwrap();
        txn.commit().unwrap();
    }
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        org.config().client_id,
        org.config().client_secret
    );
    let req = Request::builder()
        .method("POST")
        .uri("/services/oauth2/token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let resp = org.service().oneshot(req).await.unwrap();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v: J = serde_json::from_slice(&bytes).unwrap();
    let token = v["access_token"].as_str().unwrap().to_owned();
    Org { org, token }
}

/// Sends one request through the full service; returns status, headers and JSON body (Null when
/// empty).
pub(crate) async fn send(
    org: &Org,
    method: &str,
    uri: &str,
    body: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, J) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", org.token))
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .unwrap();
    let resp = org.service().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = if bytes.is_empty() {
        J::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| J::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, headers, json)
}

pub(crate) async fn create(org: &Org, object: &str, body: J) -> String {
    let (s, _, b) = send(
        org,
        "POST",
        &format!("/services/data/v59.0/sobjects/{object}"),
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b["id"].as_str().unwrap().to_owned()
}

const BASE: &str = "/services/data/v59.0/sobjects";

#[tokio::test]
async fn router_builds_without_route_conflicts() {
    let org = org().await;
    let _ = org.router();
    let (s, _, b) = send(&org, "GET", &format!("{BASE}/Contact"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["objectDescribe"]["keyPrefix"], "003");
}

#[tokio::test]
async fn create_answers_201_with_id_location_and_json_type() {
    let org = org().await;
    let (s, h, b) = send(
        &org,
        "POST",
        &format!("{BASE}/Contact/"),
        Some(r#"{"LastName":"Doe"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let id = b["id"].as_str().unwrap();
    assert_eq!(b, json!({"id": id, "success": true, "errors": []}));
    assert_eq!(id.len(), 18);
    assert!(id.starts_with("003"));
    assert_eq!(h["content-type"], "application/json;charset=UTF-8");
    assert_eq!(h["location"], format!("{BASE}/Contact/{id}").as_str());
}

#[tokio::test]
async fn get_returns_attributes_every_field_and_explicit_nulls() {
    let org = org().await;
    let id = create(&org, "Contact", json!({"FirstName": "Ada", "LastName": "Lovelace", "MailingCity": "London", "Birthdate": "1815-12-10"})).await;
    let (s, _, b) = send(&org, "GET", &format!("{BASE}/Contact/{}", &id[..15]), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        b["attributes"],
        json!({"type": "Contact", "url": format!("{BASE}/Contact/{id}")})
    );
    assert_eq!(b["Id"], id.as_str());
    assert_eq!(b["Name"], "Ada Lovelace");
    assert_eq!(b["Email"], J::Null);
    assert!(b.as_object().unwrap().contains_key("Email"));
    assert_eq!(b["Birthdate"], "1815-12-10");
    assert_eq!(b["DoNotCall"], false);
    assert_eq!(b["MailingAddress"]["city"], "London");
    assert_eq!(b["OwnerId"], org.dev_user_id().as_str());
    let created = b["CreatedDate"].as_str().unwrap();
    assert_eq!(created.len(), "2016-07-22T20:19:37.000+0000".len());
    assert!(created.ends_with("+0000"));
}

#[tokio::test]
async fn get_with_fields_returns_those_then_id() {
    let org = org().await;
    let id = create(&org, "Account", json!({"Name": "Acme", "Phone": "555"})).await;
    let (s, _, b) = send(
        &org,
        "GET",
        &format!("{BASE}/Account/{id}?fields=Name,Phone"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let keys: Vec<&String> = b.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["attributes", "Name", "Phone", "Id"]);
    let (s, _, b) = send(
        &org,
        "GET",
        &format!("{BASE}/Account/{id}?fields=Nope"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(b[0]["errorCode"], "INVALID_FIELD");
}

#[tokio::test]
async fn update_204_then_get_sees_it_and_delete_goes_to_recycle_bin() {
    let org = org().await;
    let id = create(&org, "Contact", json!({"LastName": "Doe"})).await;
    let url = format!("{BASE}/Contact/{id}");
    let (s, _, b) = send(
        &org,
        "PATCH",
        &url,
        Some(r#"{"FirstName":"Jane","Phone":null}"#),
    )
    .await;
    assert_eq!((s, b), (StatusCode::NO_CONTENT, J::Null));
    let (_, _, b) = send(&org, "GET", &url, None).await;
    assert_eq!(b["Name"], "Jane Doe");
    // ?_HttpMethod=PATCH on a POST is an update.
    let (s, _, _) = send(
        &org,
        "POST",
        &format!("{url}?_HttpMethod=PATCH"),
        Some(r#"{"FirstName":"J"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, b) = send(&org, "DELETE", &url, None).await;
    assert_eq!((s, b), (StatusCode::NO_CONTENT, J::Null));
    let (s, _, b) = send(&org, "GET", &url, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        b,
        json!([{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}])
    );
    let (s, _, b) = send(&org, "DELETE", &url, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        b,
        json!([{"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED"}])
    );
    let (s, _, b) = send(&org, "PATCH", &url, Some(r#"{"FirstName":"x"}"#)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(b[0]["errorCode"], "ENTITY_IS_DELETED");
}

#[tokio::test]
async fn error_shapes_table() {
    let org = org().await;
    let id = create(
        &org,
        "Account",
        json!({"Name": "Acme", "External_Id__c": "A-1"}),
    )
    .await;
    let not_found =
        json!([{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]);
    let cases: Vec<(&str, String, Option<&str>, u16, J)> = vec![
        (
            "POST",
            format!("{BASE}/Whizbang"),
            Some("{}"),
            404,
            not_found.clone(),
        ),
        (
            "GET",
            format!("{BASE}/Whizbang/{id}"),
            None,
            404,
            not_found.clone(),
        ),
        (
            "GET",
            format!("{BASE}/Account/23foo"),
            None,
            404,
            json!([{"message": "Provided external ID field does not exist or is not accessible: 23foo", "errorCode": "NOT_FOUND"}]),
        ),
        (
            "GET",
            format!("{BASE}/Account/001xx000003DGb2999"),
            None,
            400,
            json!([{"message": "Account ID: id value of incorrect type: 001xx000003DGb2999", "errorCode": "MALFORMED_ID", "fields": ["Id"]}]),
        ),
        (
            "GET",
            format!("{BASE}/Account/003D000000QV9n2IAD"),
            None,
            400,
            json!([{"message": "Account ID: id value of incorrect type: 003D000000QV9n2IAD", "errorCode": "MALFORMED_ID", "fields": ["Id"]}]),
        ),
        (
            "GET",
            format!(
                "{BASE}/Account/{}",
                crate::store::tests::dev_user()
                    .as_str()
                    .replace("005", "001")
            ),
            None,
            404,
            not_found.clone(),
        ),
        (
            "POST",
            format!("{BASE}/Contact"),
            Some(r#"{"FirstName":"x"}"#),
            400,
            json!([{"message": "Required fields are missing: [LastName]", "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["LastName"]}]),
        ),
        (
            "POST",
            format!("{BASE}/Contact"),
            Some(r#"{"LastName":"x","Bogus__c":1}"#),
            400,
            json!([{"message": "No such column 'Bogus__c' on sobject of type Contact", "errorCode": "INVALID_FIELD"}]),
        ),
        (
            "POST",
            format!("{BASE}/Contact"),
            Some(r#"{"LastName" "x"}"#),
            400,
            json!([{"message": "Unexpected character ('\"' (code 34)): was expecting a colon to separate field name and value at [line:1, column:13]", "errorCode": "JSON_PARSER_ERROR"}]),
        ),
        (
            "POST",
            format!("{BASE}/Contact"),
            None,
            400,
            json!([{"message": "The HTTP entity body is required, but this request has no entity body.", "errorCode": "JSON_PARSER_ERROR"}]),
        ),
        ("POST", format!("{BASE}/Contact"), Some("[1]"), 400, J::Null),
        (
            "POST",
            format!("{BASE}/Contact"),
            Some(r#"{"LastName":"x","DoNotCall":"maybe"}"#),
            400,
            json!([{"message": "Do Not Call: value not of required type: maybe", "errorCode": "INVALID_TYPE_ON_FIELD_IN_RECORD", "fields": ["DoNotCall"]}]),
        ),
        (
            "POST",
            format!("{BASE}/Account"),
            Some(r#"{"Name":"B","External_Id__c":"a-1"}"#),
            400,
            json!([{"message": format!("duplicate value found: External_Id__c duplicates value on record with id: {id}"), "errorCode": "DUPLICATE_VALUE", "fields": []}]),
        ),
        (
            "POST",
            format!("{BASE}/Case"),
            Some(r#"{"CaseNumber":"1"}"#),
            400,
            json!([{"message": "Unable to create/update fields: CaseNumber. Please check the security settings of this field and verify that it is read/write for your profile or permission set.", "errorCode": "INVALID_FIELD_FOR_INSERT_UPDATE", "fields": ["CaseNumber"]}]),
        ),
        (
            "PUT",
            format!("{BASE}/Account/{id}"),
            Some("{}"),
            405,
            json!([{"message": "HTTP Method 'PUT' not allowed. Allowed are HEAD,GET,PATCH,DELETE", "errorCode": "METHOD_NOT_ALLOWED"}]),
        ),
        (
            "PATCH",
            format!("{BASE}/Account/Nope__c/1"),
            Some("{}"),
            404,
            json!([{"message": "Provided external ID field does not exist or is not accessible: Nope__c", "errorCode": "NOT_FOUND"}]),
        ),
    ];
    for (method, uri, body, status, want) in cases {
        let (s, _, b) = send(&org, method, &uri, body).await;
        assert_eq!(s.as_u16(), status, "{method} {uri}: {b}");
        if !want.is_null() {
            assert_eq!(b, want, "{method} {uri}");
        } else {
            assert!(b[0]["errorCode"].is_string(), "{method} {uri}: {b}");
        }
    }
}

#[tokio::test]
async fn upsert_by_external_id_201_200_300_and_get_by_external_id() {
    let org = org().await;
    let url = format!("{BASE}/Account/External_Id__c/K-1");
    let (s, h, b) = send(&org, "PATCH", &url, Some(r#"{"Name":"Acme"}"#)).await;
    assert_eq!(s, StatusCode::CREATED);
    let id = b["id"].as_str().unwrap().to_owned();
    assert_eq!(
        b,
        json!({"id": id, "success": true, "errors": [], "created": true})
    );
    assert!(h.contains_key("location"));
    let (s, _, b) = send(&org, "PATCH", &url, Some(r#"{"Name":"Acme 2"}"#)).await;
    assert_eq!(
        (s, b),
        (
            StatusCode::OK,
            json!({"id": id, "success": true, "errors": [], "created": false})
        )
    );
    let (s, _, b) = send(
        &org,
        "PATCH",
        &url.replace("v59.0", "v45.0"),
        Some(r#"{"Name":"Acme 3"}"#),
    )
    .await;
    assert_eq!((s, b), (StatusCode::NO_CONTENT, J::Null));
    let (s, _, b) = send(&org, "GET", &url, None).await;
    assert_eq!(
        (s, b["Name"].clone(), b["External_Id__c"].clone()),
        (StatusCode::OK, json!("Acme 3"), json!("K-1"))
    );
    // Email is an upsert key too; two matches give 300 with their URLs.
    let a = create(
        &org,
        "Contact",
        json!({"LastName": "A", "Email": "x@y.com"}),
    )
    .await;
    let b2 = create(
        &org,
        "Contact",
        json!({"LastName": "B", "Email": "X@y.com"}),
    )
    .await;
    let (s, _, b) = send(
        &org,
        "PATCH",
        &format!("{BASE}/Contact/Email/x@y.com"),
        Some(r#"{"FirstName":"z"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::MULTIPLE_CHOICES);
    assert_eq!(
        b,
        json!([
            format!("{BASE}/Contact/{a}"),
            format!("{BASE}/Contact/{b2}")
        ])
    );
    let (s, _, _) = send(&org, "GET", &format!("{BASE}/Contact/Email/x@y.com"), None).await;
    assert_eq!(s, StatusCode::MULTIPLE_CHOICES);
    // POST /sobjects/Type/Id creates.
    let (s, _, b) = send(
        &org,
        "POST",
        &format!("{BASE}/Contact/Id"),
        Some(r#"{"LastName":"New"}"#),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, _, _) = send(
        &org,
        "GET",
        &format!("{BASE}/Account/External_Id__c/none"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn too_large_body_is_a_clean_413() {
    let org = org().await;
    let big = format!(
        r#"{{"LastName":"{}"}}"#,
        "x".repeat(super::sobjects::BODY_LIMIT + 10)
    );
    let (s, _, b) = send(&org, "POST", &format!("{BASE}/Contact"), Some(&big)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(b[0]["errorCode"].is_string());
}

#[tokio::test]
async fn real_socket_create_and_get_with_reqwest() {
    let org = org().await;
    let token = org.token.clone();
    let running = crate::spawn(org.org, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}{BASE}", running.addr);
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/Contact/"))
        .bearer_auth(&token)
        .json(&json!({"LastName": "Socket"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let id = r.json::<J>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = client
        .get(format!("{base}/Contact/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: J = r.json().await.unwrap();
    assert_eq!(body["LastName"], "Socket");
    running.task.abort();
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, .. Default::default() })]
    #[test]
    fn arbitrary_bodies_never_panic_or_500(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        json in arb_json(),
        method in proptest::sample::select(vec!["POST", "PATCH"]),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let org = org().await;
            let id = create(&org, "Contact", json!({"LastName": "Target"})).await;
            let uri = if method == "POST" { format!("{BASE}/Contact") } else { format!("{BASE}/Contact/{id}") };
            for body in [String::from_utf8_lossy(&bytes).into_owned(), json.to_string()] {
                let (s, _, _) = send(&org, method, &uri, Some(&body)).await;
                proptest::prop_assert!(s.as_u16() < 500, "{method} {body} gave {s}");
            }
            Ok(())
        })?;
    }
}

fn arb_json() -> impl proptest::strategy::Strategy<Value = J> {
    use proptest::prelude::*;
    let field = prop::sample::select(vec![
        "LastName",
        "FirstName",
        "Email",
        "Phone",
        "AccountId",
        "Birthdate",
        "DoNotCall",
        "MailingCity",
        "Name",
        "Id",
        "OwnerId",
        "Salutation",
        "CreatedDate",
        "Nope",
    ]);
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        any::<i64>().prop_map(J::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(J::Null, J::Number)),
        ".{0,90}".prop_map(J::String),
        Just(J::String("001xx000003DGb2AAG".into())),
        Just(J::String("2024-01-01".into())),
    ];
    let value = leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(J::Array),
            prop::collection::btree_map(".{0,5}", inner, 0..3)
                .prop_map(|m| J::Object(m.into_iter().collect())),
        ]
    });
    prop::collection::vec((field, value), 0..6)
        .prop_map(|kv| J::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

// ---- composite ----

const V: &str = "/services/data/v59.0";

fn count(org: &Org, object: &str) -> usize {
    org.store().read().table(object).unwrap().live().count()
}

#[tokio::test]
async fn composite_chains_references_and_reports_each_subrequest() {
    let org = org().await;
    let req = json!({"allOrNone": false, "compositeRequest": [
        {"method": "POST", "url": format!("{V}/sobjects/Account"), "referenceId": "refAccount", "body": {"Name": "Acme"}},
        {"method": "POST", "url": format!("{V}/sobjects/Contact"), "referenceId": "refContact",
         "body": {"LastName": "Doe", "AccountId": "@{refAccount.id}"}},
        {"method": "GET", "url": format!("{V}/sobjects/Contact/@{{refContact.id}}?fields=Name,AccountId"), "referenceId": "getContact"},
        {"method": "PATCH", "url": format!("{V}/sobjects/Account/@{{getContact.AccountId}}"), "referenceId": "upd", "body": {"Phone": "555"}},
    ]});
    let (s, _, b) = send(
        &org,
        "POST",
        &format!("{V}/composite"),
        Some(&req.to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let r = b["compositeResponse"].as_array().unwrap();
    let acc = r[0]["body"]["id"].as_str().unwrap();
    assert_eq!(
        r[0],
        json!({"body": {"id": acc, "success": true, "errors": []},
        "httpHeaders": {"Location": format!("{V}/sobjects/Account/{acc}")}, "httpStatusCode": 201, "referenceId": "refAccount"})
    );
    assert_eq!(r[2]["httpStatusCode"], 200);
    assert_eq!(r[2]["body"]["AccountId"], acc);
    assert_eq!(r[2]["body"]["Name"], "Doe");
    assert_eq!(
        r[3],
        json!({"body": null, "httpHeaders": {}, "httpStatusCode": 204, "referenceId": "upd"})
    );
    let (_, _, a) = send(&org, "GET", &format!("{V}/sobjects/Account/{acc}"), None).await;
    assert_eq!(a["Phone"], "555");
}

#[tokio::test]
async fn composite_all_or_none_failure_halts_everything_and_rolls_back() {
    let org = org().await;
    let req = json!({"allOrNone": true, "compositeRequest": [
        {"method": "POST", "url": format!("{V}/sobjects/Account"), "referenceId": "a", "body": {"Name": "Acme"}},
        {"method": "POST", "url": format!("{V}/sobjects/Contact"), "referenceId": "c", "body": {"LastName": "x", "XName": 1}},
        {"method": "POST", "url": format!("{V}/sobjects/Account"), "referenceId": "later", "body": {"Name": "Later"}},
    ]});
    let (s, _, b) = send(
        &org,
        "POST",
        &format!("{V}/composite"),
        Some(&req.to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let halted = json!([{"errorCode": "PROCESSING_HALTED", "message": "The transaction was rolled back since another operation in the same transaction failed."}]);
    let r = &b["compositeResponse"];
    assert_eq!(
        r[0],
        json!({"body": halted, "httpHeaders": {}, "httpStatusCode": 400, "referenceId": "a"})
    );
    assert_eq!(r[1]["httpStatusCode"], 400);
    assert_eq!(
        r[1]["body"],
        json!([{"message": "No such column 'XName' on sobject of type Contact", "errorCode": "INVALID_FIELD"}])
    );
    assert_eq!(r[2]["body"], halted);
    assert_eq!(count(&org, "Account"), 0);
}

#[tokio::test]
async fn composite_without_all_or_none_fails_only_dependents() {
    let org = org().await;
    let req = json!({"compositeRequest": [
        {"method": "POST", "url": format!("{V}/sobjects/Account"), "referenceId": "refA", "body": {}},
        {"method": "POST", "url": format!("{V}/sobjects/Contact"), "referenceId": "refC", "body": {"LastName": "x", "AccountId": "@{refA.id}"}},
        {"method": "POST", "url": format!("{V}/sobjects/Account"), "referenceId": "ok", "body": {"Name": "Fine"}},
        {"method": "GET", "url": format!("{V}/sobjects/Whizbang/001xx000003DGb2AAG"), "referenceId": "nf"},
    ]});
    let (_, _, b) = send(
        &org,
        "POST",
        &format!("{V}/composite"),
        Some(&req.to_string()),
    )
    .await;
    let r = &b["compositeResponse"];
    assert_eq!(r[0]["body"][0]["errorCode"], "REQUIRED_FIELD_MISSING");
    assert_eq!(r[1]["httpStatusCode"], 400);
    assert_eq!(r[1]["body"][0]["errorCode"], "PROCESSING_HALTED");
    assert!(
        r[1]["body"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid reference specified. No value for refA.id found in refA.")
    );
    assert_eq!(r[2]["httpStatusCode"], 201);
    assert_eq!(
        r[3],
        json!({"body": [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}], "httpHeaders": {}, "httpStatusCode": 404, "referenceId": "nf"})
    );
    assert_eq!(count(&org, "Account"), 1);
}

#[tokio::test]
async fn composite_envelope_errors_are_top_level_400() {
    let org = org().await;
    for req in [
        json!({"compositeRequest": [{"method": "GET", "url": format!("{V}/sobjects/Account/x"), "referenceId": "_bad"}]}),
        json!({"compositeRequest": [{"method": "GET", "url": format!("{V}/sobjects/Account/x"), "referenceId": "a", "httpHeaders": {"Authorization": "x"}}]}),
        json!({"compositeRequest": (0..26).map(|i| json!({"method": "GET", "url": "/x", "referenceId": format!("r{i}")})).collect::<Vec<_>>()}),
        json!({"nope": 1}),
    ] {
        let (s, _, b) = send(
            &org,
            "POST",
            &format!("{V}/composite"),
            Some(&req.to_string()),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{req}");
        assert!(b[0]["errorCode"].is_string());
    }
}

#[tokio::test]
async fn collections_create_partial_and_all_or_none() {
    let org = org().await;
    let body = |aon: bool| {
        json!({"allOrNone": aon, "records": [
            {"attributes": {"type": "Account"}, "Name": "One"},
            {"attributes": {"type": "Contact"}, "FirstName": "NoLast"},
        ]})
    };
    let (s, _, b) = send(
        &org,
        "POST",
        &format!("{V}/composite/sobjects"),
        Some(&body(false).to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let id = b[0]["id"].as_str().unwrap();
    assert_eq!(
        b,
        json!([
            {"id": id, "success": true, "errors": []},
            {"success": false, "errors": [{"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [LastName]", "fields": ["LastName"]}]},
        ])
    );
    let (_, _, b) = send(
        &org,
        "POST",
        &format!("{V}/composite/sobjects"),
        Some(&body(true).to_string()),
    )
    .await;
    assert_eq!(
        b[0],
        json!({"success": false, "errors": [{"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK", "message": "Record rolled back because not all records were valid and the request was using AllOrNone header", "fields": []}]})
    );
    assert_eq!(b[1]["errors"][0]["statusCode"], "REQUIRED_FIELD_MISSING");
    assert_eq!(count(&org, "Account"), 1);
    let many: Vec<J> = (0..201)
        .map(|_| json!({"attributes": {"type": "Account"}, "Name": "x"}))
        .collect();
    let (s, _, b) = send(
        &org,
        "POST",
        &format!("{V}/composite/sobjects"),
        Some(&json!({"records": many}).to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(b[0]["errorCode"], "EXCEEDED_ID_LIMIT");
}

#[tokio::test]
async fn collections_update_upsert_delete_and_retrieve() {
    let org = org().await;
    let a = create(&org, "Account", json!({"Name": "A"})).await;
    let b2 = create(&org, "Account", json!({"Name": "B"})).await;
    let upd = json!({"records": [{"attributes": {"type": "Account"}, "id": a, "Name": "A2"}]});
    let (_, _, r) = send(
        &org,
        "PATCH",
        &format!("{V}/composite/sobjects"),
        Some(&upd.to_string()),
    )
    .await;
    assert_eq!(r, json!([{"id": a, "success": true, "errors": []}]));
    let ups = json!({"allOrNone": false, "records": [
        {"attributes": {"type": "Contact"}, "Email": "new@x.com", "LastName": "N"},
        {"attributes": {"type": "Contact"}, "Email": "new@x.com", "LastName": "N2"},
    ]});
    let (s, _, r) = send(
        &org,
        "PATCH",
        &format!("{V}/composite/sobjects/Contact/Email"),
        Some(&ups.to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r[0]["created"], true);
    assert_eq!(r[1]["created"], false);
    assert_eq!(r[0]["id"], r[1]["id"]);
    let (_, _, r) = send(
        &org,
        "GET",
        &format!("{V}/composite/sobjects/Account?ids={a},{b2}&fields=Name"),
        None,
    )
    .await;
    assert_eq!(r[0]["Name"], "A2");
    assert_eq!(r[1]["Name"], "B");
    let (_, _, r) = send(
        &org,
        "DELETE",
        &format!("{V}/composite/sobjects?ids={b2},001RM000003oLrB000"),
        None,
    )
    .await;
    assert_eq!(
        r,
        json!([
            {"id": b2, "success": true, "errors": []},
            {"success": false, "errors": [{"statusCode": "MALFORMED_ID", "message": "malformed id 001RM000003oLrB000", "fields": []}]},
        ])
    );
    let retrieve = json!({"ids": [a, b2], "fields": ["Id", "Name"]});
    let (_, _, r) = send(
        &org,
        "POST",
        &format!("{V}/composite/sobjects/Account"),
        Some(&retrieve.to_string()),
    )
    .await;
    assert_eq!(r[0]["Name"], "A2");
    assert_eq!(r[1], J::Null);
}

#[tokio::test]
async fn batch_runs_independently_and_halts_on_error() {
    let org = org().await;
    let a = create(&org, "Account", json!({"Name": "A"})).await;
    let req = json!({"haltOnError": true, "batchRequests": [
        {"method": "PATCH", "url": format!("v59.0/sobjects/account/{a}"), "richInput": {"Name": "NewName"}},
        {"method": "GET", "url": format!("v59.0/sobjects/account/{a}?fields=Name")},
        {"method": "PATCH", "url": format!("v59.0/sobjects/account/{a}"), "richInput": {"Bogus": 1}},
        {"method": "GET", "url": format!("v59.0/sobjects/account/{a}")},
    ]});
    let (s, _, b) = send(
        &org,
        "POST",
        &format!("{V}/composite/batch"),
        Some(&req.to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["hasErrors"], true);
    let r = &b["results"];
    assert_eq!(r[0], json!({"statusCode": 204, "result": null}));
    assert_eq!(r[1]["statusCode"], 200);
    assert_eq!(r[1]["result"]["Name"], "NewName");
    assert_eq!(r[2]["statusCode"], 400);
    assert_eq!(
        r[3],
        json!({"statusCode": 412, "result": [{"errorCode": "BATCH_PROCESSING_HALTED", "message": "Batch processing halted per request"}]})
    );
}

#[tokio::test]
async fn tree_creates_nested_records_or_nothing() {
    let org = org().await;
    let ok = json!({"records": [{"attributes": {"type": "Account", "referenceId": "ref1"}, "Name": "Tree Co",
    "Contacts": {"records": [
        {"attributes": {"type": "Contact", "referenceId": "ref2"}, "LastName": "Leaf"},
        {"attributes": {"type": "Contact", "referenceId": "ref3"}, "LastName": "Leaf2"},
    ]}}]});
    let (s, _, b) = send(
        &org,
        "POST",
        &format!("{V}/composite/tree/Account"),
        Some(&ok.to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["hasErrors"], false);
    let r = b["results"].as_array().unwrap();
    assert_eq!(
        r.iter()
            .map(|x| x["referenceId"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["ref1", "ref2", "ref3"]
    );
    let (_, _, c) = send(
        &org,
        "GET",
        &format!("{V}/sobjects/Contact/{}", r[1]["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(c["AccountId"], r[0]["id"]);
    let bad = json!({"records": [{"attributes": {"type": "Account", "referenceId": "ref1"}, "Name": "Bad Co",
        "Contacts": {"records": [{"attributes": {"type": "Contact", "referenceId": "ref2"}, "LastName": "L", "Email": "123"}]}}]});
    let (s, _, b) = send(
        &org,
        "POST",
        &format!("{V}/composite/tree/Account"),
        Some(&bad.to_string()),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        b,
        json!({"hasErrors": true, "results": [{"referenceId": "ref2", "errors": [
        {"statusCode": "INVALID_EMAIL_ADDRESS", "message": "Email: invalid email address: 123", "fields": ["Email"]}]}]})
    );
    assert_eq!(count(&org, "Account"), 1);
}

/// Readers running while all-or-none requests fail must never see one of their records.
#[test]
fn concurrent_readers_never_see_a_rolled_back_record() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let org = std::sync::Arc::new(org().await);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut readers = Vec::new();
        for _ in 0..2 {
            let (org, stop) = (org.clone(), stop.clone());
            readers.push(std::thread::spawn(move || {
                let mut seen = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let d = org.store().read();
                    let t = d.table("Account").unwrap();
                    seen += t.rows().count() as u64;
                    assert_eq!(t.rows().count(), 0, "a rolled-back Account was visible");
                    assert_eq!(d.table("Contact").unwrap().rows().count(), 0);
                }
                seen
            }));
        }
        for i in 0..200 {
            let req = json!({"allOrNone": true, "compositeRequest": [
                {"method": "POST", "url": format!("{V}/sobjects/Account"), "referenceId": "a", "body": {"Name": format!("A{i}")}},
                {"method": "POST", "url": format!("{V}/sobjects/Contact"), "referenceId": "c", "body": {"LastName": "x", "AccountId": "@{a.id}"}},
                {"method": "POST", "url": format!("{V}/sobjects/Contact"), "referenceId": "bad", "body": {"LastName": null}},
            ]});
            let (s, _, b) = send(&org, "POST", &format!("{V}/composite"), Some(&req.to_string())).await;
            assert_eq!(s, StatusCode::OK);
            assert_eq!(b["compositeResponse"][0]["body"][0]["errorCode"], "PROCESSING_HALTED");
            let coll = json!({"allOrNone": true, "records": [
                {"attributes": {"type": "Account"}, "Name": "ok"},
                {"attributes": {"type": "Account"}}]});
            send(&org, "POST", &format!("{V}/composite/sobjects"), Some(&coll.to_string())).await;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(count(&org, "Account"), 0);
    });
}

// ---- seed and persistence over the real schema ----

#[test]
fn demo_seed_loads_through_the_create_path() {
    let org = DevOrg::new(Config::default()).unwrap();
    let d = org.store().read();
    let users = d.table("User").unwrap();
    let dev = users
        .row_of(org.dev_user_id())
        .expect("the dev user is seeded with its fixed id");
    assert!(!users.record(dev).unwrap().is_deleted());
    let contacts = d.table("Contact").unwrap();
    assert!(contacts.live().count() > 0);
    // The caller-lookup path: Sarah Johnson found by her phone in another format.
    let phone = contacts.def().field_index("Phone").unwrap();
    let rows = contacts.lookup(phone, "+1 555-123-4567").unwrap();
    assert_eq!(rows.len(), 1);
    let name = contacts.def().field_index("Name").unwrap();
    assert_eq!(contacts.field_json(rows[0], name), json!("Sarah Johnson"));
}

#[test]
fn data_dir_survives_a_restart_without_reseeding() {
    let dir = crate::store::tests::tempdir();
    let config = Config {
        data_dir: Some(dir.clone()),
        ..Config::default()
    };
    let (id, accounts) = {
        let org = DevOrg::new(config.clone()).unwrap();
        let mut txn = org.store().write();
        let t = txn.data().table_index("Account").unwrap();
        let id = txn
            .create(
                t,
                &crate::store::tests::obj(
                    json!({"Name": "Persisted Inc", "Phone": "+1 555 010 9999"}),
                ),
            )
            .unwrap();
        txn.commit().unwrap();
        let n = org.store().read().table("Account").unwrap().live().count();
        (id, n)
    };
    let org = DevOrg::new(config).unwrap();
    let d = org.store().read();
    let t = d.table("Account").unwrap();
    assert_eq!(t.live().count(), accounts, "the seed was not loaded twice");
    let row = t.row_of(id).unwrap();
    assert_eq!(
        t.field_json(row, t.def().field_index("Name").unwrap()),
        json!("Persisted Inc")
    );
    let phone = t.def().field_index("Phone").unwrap();
    assert_eq!(t.lookup(phone, "5550109999").unwrap(), &[row]);
    drop(d);
    let _ = std::fs::remove_dir_all(dir);
}
