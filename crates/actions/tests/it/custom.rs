//! The shipped custom actions, examples kept as configuration.

use callforce_actions::ErrorCode;
use callforce_client::Id;
use serde_json::json;

use super::*;

#[tokio::test]
async fn identify_customer_and_lookup_with_cases_use_the_caller_phone() {
    let (_org, actions, mut call) = setup("(555) 123-4567").await;
    let me = ok(&actions, &mut call, "identify_customer", json!({})).await;
    assert_eq!(me["count"], 1, "{me}");
    assert_eq!(me["records"][0]["LastName"], "Johnson");
    assert_eq!(me["records"][0]["Account"]["Name"], "Acme Corporation");
    let with_cases = ok(&actions, &mut call, "lookup_contact_with_cases", json!({})).await;
    let cases = with_cases["records"][0]["Cases"].as_array().expect("Cases");
    assert_eq!(cases.len(), 3, "{with_cases}");
    let unknown = err(
        &actions,
        &mut call,
        "identify_customer",
        json!({"phone": "x"}),
    )
    .await;
    assert_eq!(unknown.code, ErrorCode::InvalidArgument);
    // The chained result is usable by the next action.
    let case = ok(
        &actions,
        &mut call,
        "create_case",
        json!({"Subject": "Chained", "ContactId": "{{identify_customer.Id}}"}),
    )
    .await;
    assert!(case["id"].is_string());
}

#[tokio::test]
async fn create_and_update_contact_send_only_given_fields() {
    let (_org, actions, mut call) = setup("+15550001111").await;
    let created = ok(
        &actions,
        &mut call,
        "create_contact_with_phone",
        json!({"LastName": "O'Neil \"Ace\""}),
    )
    .await;
    let id = Id::parse(&id_of(&created)).expect("id");
    let c = actions
        .connection()
        .get("Contact", id, &["LastName", "FirstName", "Phone", "Email"])
        .await
        .expect("contact");
    assert_eq!(c["LastName"], "O'Neil \"Ace\"");
    assert_eq!(c["Phone"], "+15550001111");
    assert!(c["FirstName"].is_null() && c["Email"].is_null(), "{c:?}");
    let missing = err(
        &actions,
        &mut call,
        "create_contact_with_phone",
        json!({"FirstName": "Ann"}),
    )
    .await;
    assert_eq!(missing.missing, vec!["LastName".to_owned()]);

    // The shipped `update_contact` takes the built-in's name, so it is `update_contact_2`.
    ok(
        &actions,
        &mut call,
        "update_contact_2",
        json!({"contact_id": id.to_string(), "Email": "ace@example.com"}),
    )
    .await;
    let c = actions
        .connection()
        .get("Contact", id, &["LastName", "Email", "Phone"])
        .await
        .expect("contact");
    assert_eq!(c["Email"], "ace@example.com");
    assert_eq!(c["LastName"], "O'Neil \"Ace\"");
    assert_eq!(c["Phone"], "+15550001111");
    let bad = err(
        &actions,
        &mut call,
        "update_contact_2",
        json!({"contact_id": "../../limits", "Email": "x@y.z"}),
    )
    .await;
    assert_ne!(bad.code, ErrorCode::Salesforce, "{}", bad.message);
}

#[tokio::test]
async fn search_contacts_advanced_drops_the_where_clause_without_a_term() {
    let (_org, actions, mut call) = setup("+15550001111").await;
    let all = ok(&actions, &mut call, "search_contacts_advanced", json!({})).await;
    assert_eq!(all["records"].as_array().expect("records").len(), 10);
    let some = ok(
        &actions,
        &mut call,
        "search_contacts_advanced",
        json!({"search_term": "Johnson"}),
    )
    .await;
    assert_eq!(some["count"], 3, "{some}");
    for hostile in ["%", "_", "' OR Name != '", "Johnson%' OR Name LIKE '%"] {
        let r = ok(
            &actions,
            &mut call,
            "search_contacts_advanced",
            json!({"search_term": hostile}),
        )
        .await;
        assert_eq!(r["count"], 0, "{hostile}: {r}");
    }
}
