//! Records, upserts, 15-character ids, describe cache and limits through typed requests.

use callforce_client::{Class, Error, ErrorBody, Id, Record, Request};
use serde_json::json;

use crate::{connect, org};

pub fn rec(v: serde_json::Value) -> Record {
    v.as_object().cloned().expect("object")
}

#[tokio::test]
async fn create_get_update_delete_round_trip() {
    let r = org().await;
    let c = connect(&r).await;
    let made = c
        .create("Account", rec(json!({"Name": "Round Trip Ltd"})))
        .await
        .unwrap();
    assert!(made.success);
    let id = made.id.unwrap();
    assert_eq!(id.key_prefix().as_str(), "001");
    let got = c.get("Account", id, &["Name"]).await.unwrap();
    assert_eq!(got["Name"], "Round Trip Ltd");
    assert_eq!(got["Id"], id.to_string());
    c.update("Account", id, rec(json!({"Name": "Renamed Ltd"})))
        .await
        .unwrap();
    assert_eq!(
        c.get("Account", id, &["Name"]).await.unwrap()["Name"],
        "Renamed Ltd"
    );
    c.delete("Account", id).await.unwrap();
    let err = c.get("Account", id, &[]).await.unwrap_err();
    assert_eq!(err.status(), Some(404), "{err:?}");
    assert_eq!(err.class(), Class::Permanent);
    let req = err.request().unwrap();
    assert_eq!(req.method, "GET");
    assert_eq!(
        req.path,
        format!("/services/data/v59.0/sobjects/Account/{id}")
    );
}

#[tokio::test]
async fn a_15_character_id_is_sent_as_18() {
    let r = org().await;
    let c = connect(&r).await;
    let id = c
        .create("Account", rec(json!({"Name": "Fifteen"})))
        .await
        .unwrap()
        .id
        .unwrap();
    let short = Id::parse(id.as_15()).unwrap();
    assert_eq!(short, id);
    let got = c.get("Account", short, &["Name"]).await.unwrap();
    assert_eq!(got["Id"].as_str().unwrap().len(), 18);
    // A queued request holding the 15-character form.
    let queued: Request = serde_json::from_value(json!({
        "op": "update", "sobject": "Account", "id": id.as_15(), "record": {"Name": "Queued"}
    }))
    .unwrap();
    c.execute(&queued).await.unwrap();
    assert_eq!(
        c.get("Account", id, &["Name"]).await.unwrap()["Name"],
        "Queued"
    );
}

#[tokio::test]
async fn validation_errors_keep_status_code_and_fields() {
    let r = org().await;
    let c = connect(&r).await;
    let err = c
        .create("Contact", rec(json!({"FirstName": "No"})))
        .await
        .unwrap_err();
    match &err {
        Error::Api {
            status: 400,
            body: ErrorBody::Api(v),
            ..
        } => {
            assert_eq!(v[0].error_code, "REQUIRED_FIELD_MISSING");
            assert_eq!(v[0].fields.as_deref(), Some(&["LastName".to_owned()][..]));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.class(), Class::Permanent);
    let err = c
        .create("Account", rec(json!({"Nope__c": 1, "Name": "x"})))
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some("INVALID_FIELD"), "{err:?}");
    let err = c.create("NoSuchThing", rec(json!({}))).await.unwrap_err();
    assert_eq!(err.status(), Some(404), "{err:?}");
}

#[tokio::test]
async fn upsert_creates_then_updates_by_external_id() {
    let r = org().await;
    let c = connect(&r).await;
    let d = c.describe("Contact").await.unwrap();
    let Some(ext) = d.fields.iter().find(|f| f.external_id && f.type_ != "id") else {
        panic!("the dev org's Contact has no External ID field to upsert on");
    };
    let field = ext.name.clone();
    let value = "ext-42";
    let first = c
        .upsert(
            "Contact",
            &field,
            value,
            rec(json!({"LastName": "Upserted"})),
        )
        .await
        .unwrap();
    assert_eq!(first.created, Some(true));
    let second = c
        .upsert("Contact", &field, value, rec(json!({"LastName": "Again"})))
        .await
        .unwrap();
    assert_eq!(second.created, Some(false));
    assert_eq!(second.id, first.id);
}

#[tokio::test]
async fn describe_is_cached_until_invalidated() {
    let r = org().await;
    let c = connect(&r).await;
    let d = c.describe("Account").await.unwrap();
    assert_eq!(d.name, "Account");
    assert!(d.field("name").is_some());
    let used = c.api_usage().unwrap().used;
    let again = c.describe("account").await.unwrap();
    assert!(std::sync::Arc::ptr_eq(&d, &again), "served from the cache");
    assert_eq!(c.api_usage().unwrap().used, used, "no request was made");
    c.invalidate_describe(Some("Account"));
    c.describe("Account").await.unwrap();
    assert_eq!(c.api_usage().unwrap().used, used + 1);
    let g = c.describe_global().await.unwrap();
    assert!(
        g.sobjects
            .iter()
            .any(|s| s.name == "Contact" && s.key_prefix.as_deref() == Some("003"))
    );
}

#[tokio::test]
async fn limits_agree_with_the_usage_header() {
    let r = org().await;
    let c = connect(&r).await;
    let limits = c.limits().await.unwrap();
    let daily = limits["DailyApiRequests"];
    let usage = c.api_usage().unwrap();
    assert_eq!(daily.max as u64, usage.max);
    assert_eq!((daily.max - daily.remaining) as u64, usage.used);
}

#[tokio::test]
async fn a_raw_request_reaches_any_rest_path() {
    let r = org().await;
    let c = connect(&r).await;
    let resp = c
        .raw(callforce_client::RawRequest {
            method: callforce_client::Method::Get,
            path: "sobjects/Account/describe".into(),
            query: vec![],
            headers: vec![],
            body: None,
        })
        .await
        .unwrap();
    assert_eq!(resp.json().unwrap()["name"], "Account");
}

#[tokio::test]
async fn get_by_external_id_parameterized_search_and_collections_upsert_against_the_org() {
    let r = org().await;
    let c = connect(&r).await;

    // The demo org's Sarah Johnson carries External_Id__c = CON-SARAH.
    let sarah = c
        .execute(&Request::GetByExternalId {
            sobject: "Contact".into(),
            field: "External_Id__c".into(),
            value: "CON-SARAH".into(),
        })
        .await
        .unwrap();
    assert_eq!(sarah["Name"], "Sarah Johnson");

    let found = c
        .execute(&Request::ParameterizedSearch {
            q: "Acme".into(),
            sobjects: vec![callforce_client::request::SearchObject {
                name: "Account".into(),
                fields: vec!["Id".into(), "Name".into()],
                limit: Some(2),
            }],
            overall_limit: None,
        })
        .await
        .unwrap();
    let hits = found["searchRecords"].as_array().expect("searchRecords");
    assert!(!hits.is_empty() && hits.len() <= 2, "{found}");
    assert!(
        hits.iter()
            .all(|h| h["Name"].as_str().is_some_and(|n| n.contains("Acme")))
    );

    // Upsert 250 Contacts by External ID (two chunks): all created, then all updated.
    let records = |title: &str| -> Vec<Record> {
        (0..250)
            .map(|i| rec(json!({"attributes": {"type": "Contact"}, "LastName": format!("Upserted {i}"), "Title": title, "External_Id__c": format!("UPS-{i}")})))
            .collect()
    };
    let upsert = |title: &str| Request::CollectionsUpsert {
        sobject: "Contact".into(),
        field: "External_Id__c".into(),
        all_or_none: true,
        records: records(title),
    };
    let first = c.collections(&upsert("first")).await.unwrap();
    assert_eq!(first.len(), 250);
    assert!(
        first.iter().all(|s| s.success && s.created == Some(true)),
        "{first:?}"
    );
    let second = c.collections(&upsert("second")).await.unwrap();
    assert!(second.iter().all(|s| s.success && s.created == Some(false)));
    assert_eq!(first[249].id, second[249].id);
    let page = c
        .query::<serde_json::Value>(
            "SELECT COUNT() FROM Contact WHERE External_Id__c LIKE 'UPS-%' AND Title = 'second'",
        )
        .await
        .unwrap();
    assert_eq!(page.total_size, 250);
}
