//! Errors a model can act on, and hostile inputs that never change a query.

use callforce_actions::ErrorCode;
use serde_json::json;

use super::*;

#[tokio::test]
async fn a_wrong_stage_names_the_closest_picklist_value() {
    let (_org, actions, mut call) = setup("+15551234567").await;
    let opp = one_id(
        &actions,
        "SELECT Id FROM Opportunity WHERE Name = 'Acme - Annual Renewal'",
    )
    .await;
    let e = err(
        &actions,
        &mut call,
        "update_opportunity",
        json!({"record_id": opp, "StageName": "proposal"}),
    )
    .await;
    assert_eq!(e.code, ErrorCode::InvalidPicklist);
    assert_eq!(e.field.as_deref(), Some("StageName"));
    assert_eq!(e.suggestion.as_deref(), Some("Proposal/Price Quote"));
    assert!(e.valid_values.contains(&"Closed Won".to_owned()));
    let via_generic = err(
        &actions,
        &mut call,
        "update_record",
        json!({"sobject": "Opportunity", "record_id": opp, "fields": {"StageName": "proposal"}}),
    )
    .await;
    assert_eq!(
        &*via_generic.message,
        "'proposal' is not a Stage; did you mean 'Proposal/Price Quote'?"
    );
    let e = err(
        &actions,
        &mut call,
        "create_case",
        json!({"Subject": "x", "Priority": "urgent"}),
    )
    .await;
    assert_eq!(e.code, ErrorCode::InvalidPicklist);
    assert_eq!(e.valid_values, vec!["High", "Medium", "Low"]);
}

#[tokio::test]
async fn missing_fields_malformed_ids_and_unknown_actions_say_what_to_fix() {
    let (_org, actions, mut call) = setup("+15551234567").await;
    let e = err(
        &actions,
        &mut call,
        "create_opportunity",
        json!({"Name": "Deal"}),
    )
    .await;
    assert_eq!(e.code, ErrorCode::MissingRequired);
    assert_eq!(e.missing, vec!["StageName", "CloseDate"]);
    let e = err(
        &actions,
        &mut call,
        "update_contact",
        json!({"record_id": "not-an-id", "Email": "a@b.c"}),
    )
    .await;
    assert_eq!(e.code, ErrorCode::MalformedId);
    let case = one_id(&actions, "SELECT Id FROM Case LIMIT 1").await;
    let e = err(
        &actions,
        &mut call,
        "update_contact",
        json!({"record_id": case, "Email": "a@b.c"}),
    )
    .await;
    assert_eq!(e.code, ErrorCode::MalformedId);
    assert!(e.message.contains("not a Contact id"), "{}", e.message);
    let e = err(&actions, &mut call, "serch_contact", json!({})).await;
    assert_eq!(e.code, ErrorCode::UnknownAction);
    assert_eq!(e.suggestion.as_deref(), Some("search_contact"));
    let e = err(&actions, &mut call, "schedule_event", json!({"Subject": "x", "StartDateTime": "tomorrow at 10", "EndDateTime": "2026-01-01T10:00:00Z"})).await;
    assert_eq!(e.field.as_deref(), Some("StartDateTime"));
    let e = err(
        &actions,
        &mut call,
        "log_call",
        json!({"Subject": 42.5, "CallDurationInSeconds": "long"}),
    )
    .await;
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    let e = err(
        &actions,
        &mut call,
        "create_case",
        json!({"ContactId": "{{search_contact.Id}}"}),
    )
    .await;
    assert!(
        e.message.contains("run search_contact first"),
        "{}",
        e.message
    );
    let e = err(
        &actions,
        &mut call,
        "search_contact",
        json!(["not", "an", "object"]),
    )
    .await;
    assert_eq!(e.code, ErrorCode::InvalidArgument);
}

#[tokio::test]
async fn hostile_search_terms_never_change_the_query() {
    let (_org, actions, mut call) = setup("+15551234567").await;
    for term in [
        "%",
        "_",
        "\\",
        "' OR LastName != '",
        "Sarah' OR Name LIKE '%",
        "Johnson\nOR Name != null",
        "x\") OR (Id != null",
        "%' AND Name LIKE '%",
    ] {
        for action in [
            "search_contact",
            "search_lead",
            "search_case",
            "search_account",
            "search_knowledge",
        ] {
            let r = ok(&actions, &mut call, action, json!({"search_term": term})).await;
            assert_eq!(r["count"], 0, "{action} {term:?}: {r}");
        }
    }
    // A literal % matches only a literal %.
    ok(
        &actions,
        &mut call,
        "create_account",
        json!({"Name": "100% Real Ltd"}),
    )
    .await;
    let r = ok(
        &actions,
        &mut call,
        "search_account",
        json!({"search_term": "100%"}),
    )
    .await;
    assert_eq!(r["count"], 1, "{r}");
    let r = ok(
        &actions,
        &mut call,
        "search_account",
        json!({"search_term": "0% R"}),
    )
    .await;
    assert_eq!(r["count"], 1, "{r}");
}
