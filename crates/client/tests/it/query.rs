//! Query paging over 5,000 rows and SOSL search.

use callforce_client::{Record, Request};
use futures_util::TryStreamExt;
use serde_json::json;

use crate::records::rec;
use crate::{connect, org};

#[tokio::test]
async fn a_query_stream_pages_through_5000_rows() {
    let r = org().await;
    let c = connect(&r).await;
    let records: Vec<Record> = (0..5000)
        .map(|i| rec(json!({"attributes": {"type": "Account"}, "Name": format!("Pager {i:05}")})))
        .collect();
    let results = c
        .collections(&Request::CollectionsCreate {
            all_or_none: true,
            records,
        })
        .await
        .unwrap();
    assert_eq!(results.len(), 5000);
    assert!(results.iter().all(|r| r.success));
    let first: callforce_client::QueryResult = c
        .query("SELECT Id, Name FROM Account WHERE Name LIKE 'Pager %'")
        .await
        .unwrap();
    assert_eq!(first.total_size, 5000);
    assert!(!first.done);
    assert!(first.next_records_url.is_some());
    let before = c.api_usage().unwrap().used;
    let rows: Vec<Record> = c
        .query_stream(
            "SELECT Id, Name FROM Account WHERE Name LIKE 'Pager %' ORDER BY Name",
            false,
        )
        .try_collect()
        .await
        .unwrap();
    assert_eq!(rows.len(), 5000);
    assert_eq!(rows[0]["Name"], "Pager 00000");
    assert_eq!(rows[4999]["Name"], "Pager 04999");
    let pages = c.api_usage().unwrap().used - before;
    assert_eq!(pages, 3, "2000 + 2000 + 1000 rows");
}

#[tokio::test]
async fn query_all_sees_deleted_rows() {
    let r = org().await;
    let c = connect(&r).await;
    let id = c
        .create("Account", rec(json!({"Name": "Binned Co"})))
        .await
        .unwrap()
        .id
        .unwrap();
    c.delete("Account", id).await.unwrap();
    let soql = "SELECT Id FROM Account WHERE Name = 'Binned Co'";
    let live: callforce_client::QueryResult = c.query(soql).await.unwrap();
    assert_eq!(live.total_size, 0);
    let all: callforce_client::QueryResult = c.query_all(soql).await.unwrap();
    assert_eq!(all.total_size, 1);
}

#[tokio::test]
async fn a_malformed_query_is_permanent() {
    let r = org().await;
    let c = connect(&r).await;
    let err = c
        .query::<Record>("SELECT Nope__c FROM Account")
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some("INVALID_FIELD"), "{err:?}");
    assert_eq!(err.class(), callforce_client::Class::Permanent);
}

#[tokio::test]
async fn sosl_search_finds_a_new_record() {
    let r = org().await;
    let c = connect(&r).await;
    c.create("Account", rec(json!({"Name": "Zanzibar Searchable"})))
        .await
        .unwrap();
    let found = c
        .search("FIND {Zanzibar} IN NAME FIELDS RETURNING Account(Id, Name)")
        .await
        .unwrap();
    assert!(
        found
            .search_records
            .iter()
            .any(|r| r["Name"] == "Zanzibar Searchable")
    );
}
