//! Composite with references and rollback, collections in chunks of 200, batch and tree.

use callforce_client::composite::BatchRequest;
use callforce_client::{CompositeBuilder, Record, Request};
use serde_json::json;

use crate::records::rec;
use crate::{connect, org};

#[tokio::test]
async fn composite_chains_references_in_one_round_trip() {
    let r = org().await;
    let c = connect(&r).await;
    let mut b = CompositeBuilder::new(c.version(), true);
    let acct = b.create("acct", "Account", rec(json!({"Name": "Chain Co"})));
    let contact = b.create(
        "contact",
        "Contact",
        rec(json!({"LastName": "Chained", "AccountId": acct.id()})),
    );
    b.get("read", "Contact", &contact, &["AccountId"]);
    let before = c.api_usage().map(|u| u.used).unwrap_or(0);
    let resp = c.composite(b.build().unwrap()).await.unwrap();
    assert!(resp.all_succeeded(), "{resp:?}");
    let acct_id = resp.get("acct").unwrap().id().unwrap();
    assert_eq!(
        resp.get("read").unwrap().body["AccountId"],
        acct_id.to_string()
    );
    assert_eq!(c.api_usage().unwrap().used, before + 1, "one request");
}

#[tokio::test]
async fn composite_all_or_none_rolls_everything_back() {
    let r = org().await;
    let c = connect(&r).await;
    let mut b = CompositeBuilder::new(c.version(), true);
    let acct = b.create("acct", "Account", rec(json!({"Name": "Rollback Co"})));
    b.create(
        "bad",
        "Contact",
        rec(json!({"FirstName": "NoLastName", "AccountId": acct.id()})),
    );
    let resp = c.composite(b.build().unwrap()).await.unwrap();
    assert!(!resp.all_succeeded());
    assert_eq!(
        resp.get("bad").unwrap().error_code(),
        Some("REQUIRED_FIELD_MISSING")
    );
    let first = resp.get("acct").unwrap();
    assert_eq!(first.http_status_code, 400);
    assert_eq!(first.error_code(), Some("PROCESSING_HALTED"));
    let q: callforce_client::QueryResult = c
        .query("SELECT Id FROM Account WHERE Name = 'Rollback Co'")
        .await
        .unwrap();
    assert_eq!(q.total_size, 0, "the account was rolled back");
}

#[tokio::test]
async fn collections_of_450_records_go_in_three_chunks() {
    let r = org().await;
    let c = connect(&r).await;
    let records: Vec<Record> = (0..450)
        .map(|i| rec(json!({"attributes": {"type": "Contact"}, "LastName": format!("Bulk {i}")})))
        .collect();
    let before = c.api_usage().map(|u| u.used).unwrap_or(0);
    let results = c
        .collections(&Request::CollectionsCreate {
            all_or_none: false,
            records,
        })
        .await
        .unwrap();
    assert_eq!(c.api_usage().unwrap().used - before, 3);
    assert_eq!(results.len(), 450);
    assert!(results.iter().all(|r| r.success && r.id.is_some()));
    // Update and delete them the same way, in order.
    let ids: Vec<_> = results.iter().filter_map(|r| r.id).collect();
    let updates: Vec<Record> = ids
        .iter()
        .map(|id| rec(json!({"attributes": {"type": "Contact"}, "id": id, "Title": "Bulk"})))
        .collect();
    let updated = c
        .collections(&Request::CollectionsUpdate {
            all_or_none: false,
            records: updates,
        })
        .await
        .unwrap();
    assert_eq!(updated.iter().filter_map(|r| r.id).collect::<Vec<_>>(), ids);
    let deleted = c
        .collections(&Request::CollectionsDelete {
            all_or_none: false,
            ids: ids.clone(),
        })
        .await
        .unwrap();
    assert!(deleted.iter().all(|r| r.success));
    assert_eq!(c.api_usage().unwrap().used - before, 9);
}

#[tokio::test]
async fn collections_all_or_none_reports_the_rolled_back_records() {
    let r = org().await;
    let c = connect(&r).await;
    let records = vec![
        rec(json!({"attributes": {"type": "Contact"}, "LastName": "Fine"})),
        rec(json!({"attributes": {"type": "Contact"}, "FirstName": "Missing"})),
    ];
    let results = c
        .collections(&Request::CollectionsCreate {
            all_or_none: true,
            records,
        })
        .await
        .unwrap();
    assert!(!results[0].success);
    assert_eq!(
        results[0].errors[0].status_code,
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    assert_eq!(results[1].errors[0].status_code, "REQUIRED_FIELD_MISSING");
}

#[tokio::test]
async fn batch_runs_independent_subrequests() {
    let r = org().await;
    let c = connect(&r).await;
    let id = c
        .create("Account", rec(json!({"Name": "Batch Co"})))
        .await
        .unwrap()
        .id
        .unwrap();
    let path = format!("/sobjects/Account/{id}");
    let b = BatchRequest::new(
        c.version(),
        false,
        vec![
            ("PATCH", path.as_str(), Some(json!({"Name": "Batched"}))),
            ("GET", &format!("{path}?fields=Name"), None),
        ],
    )
    .unwrap();
    let resp = c.batch(b).await.unwrap();
    assert!(!resp.has_errors, "{resp:?}");
    assert_eq!(resp.results[0].status_code, 204);
    assert_eq!(resp.results[1].result["Name"], "Batched");
}

#[tokio::test]
async fn tree_creates_nested_records_or_nothing() {
    let r = org().await;
    let c = connect(&r).await;
    let ok = c
        .tree(
            "Account",
            vec![rec(json!({
                "attributes": {"type": "Account", "referenceId": "a1"},
                "Name": "Tree Co",
                "Contacts": {"records": [
                    {"attributes": {"type": "Contact", "referenceId": "c1"}, "LastName": "Leaf"}
                ]}
            }))],
        )
        .await
        .unwrap();
    assert!(!ok.has_errors, "{ok:?}");
    assert_eq!(ok.results.len(), 2);
    let bad = c
        .tree(
            "Account",
            vec![rec(json!({
                "attributes": {"type": "Account", "referenceId": "a2"},
                "Name": "Broken Tree Co",
                "Contacts": {"records": [
                    {"attributes": {"type": "Contact", "referenceId": "c2"}, "FirstName": "NoLast"}
                ]}
            }))],
        )
        .await
        .unwrap();
    assert!(bad.has_errors);
    assert_eq!(bad.results[0].reference_id, "c2");
}
