//! Every built-in template and generic action, at least once, against the dev org.

use std::collections::BTreeSet;

use callforce_actions::{Catalog, ErrorCode};
use callforce_client::Id;
use serde_json::{Value, json};

use super::*;

/// Runs every template of the catalog once, and checks none was left out.
#[tokio::test]
async fn every_template_runs_against_the_dev_org() {
    let (_org, actions, mut call) = setup("+15551234567").await;
    let mut ran = BTreeSet::new();
    macro_rules! run {
        ($name:expr, $args:expr) => {{
            ran.insert($name.to_owned());
            ok(&actions, &mut call, $name, $args).await
        }};
    }
    let acme = one_id(
        &actions,
        "SELECT Id FROM Account WHERE Name = 'Acme Corporation'",
    )
    .await;
    let sarah = one_id(
        &actions,
        "SELECT Id FROM Contact WHERE Email = 'sarah.johnson@acmecorp.example'",
    )
    .await;

    // Contacts, leads, accounts, opportunities, cases, tasks, events: search, create, update,
    // get by id (five of them), delete.
    let creates = [
        (
            "contact",
            json!({"FirstName": "Tom", "LastName": "Tester", "Email": "tom@t.example", "AccountId": acme}),
        ),
        (
            "lead",
            json!({"LastName": "Lead", "Company": "Leadco", "Status": "working - contacted"}),
        ),
        (
            "account",
            json!({"Name": "Testing Account Inc", "Phone": "(555) 999-0000"}),
        ),
        (
            "opportunity",
            json!({"Name": "Test Deal", "StageName": "Prospecting", "CloseDate": "2026-12-31", "AccountId": acme, "Amount": 1000}),
        ),
        (
            "case",
            json!({"Subject": "Test case subject", "Priority": "Low"}),
        ),
        (
            "task",
            json!({"Subject": "Test call", "WhoId": sarah, "CallType": "Outbound", "CallDisposition": "Left Voicemail"}),
        ),
        (
            "event",
            json!({"Subject": "Test meeting", "StartDateTime": "2026-03-01T09:00:00Z", "EndDateTime": "2026-03-01T09:30:00Z", "WhoId": sarah}),
        ),
    ];
    for (obj, args) in creates {
        let create = match obj {
            "task" => "log_call".to_owned(),
            "event" => "schedule_event".to_owned(),
            o => format!("create_{o}"),
        };
        let id = id_of(&run!(&create, args));
        let term = match obj {
            "contact" => "Tester",
            "lead" => "Leadco",
            "account" => "Testing Account",
            "opportunity" => "Test Deal",
            "case" => "Test case",
            "task" => "Test call",
            _ => "Test meeting",
        };
        let found = run!(&format!("search_{obj}"), json!({"search_term": term}));
        let ids: Vec<Id> = found["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| Id::parse(r["Id"].as_str().expect("Id")).expect("id"))
            .collect();
        assert!(ids.contains(&Id::parse(&id).expect("id")), "{obj}: {found}");
        let listed = run!(&format!("search_{obj}"), json!({}));
        assert!(listed["count"].as_u64().expect("count") >= 1, "{obj}");
        let field = match obj {
            "task" | "event" | "case" => "Subject",
            "contact" | "lead" => "LastName",
            _ => "Name",
        };
        let upd = run!(
            &format!("update_{obj}"),
            json!({"record_id": id, field: "Renamed"})
        );
        assert_eq!(upd["updated"], json!([field]));
        if ["contact", "lead", "account", "opportunity", "case"].contains(&obj) {
            let got = run!(&format!("get_{obj}"), json!({"record_id": id}));
            assert_eq!(got[field], "Renamed", "{obj}: {got}");
            assert!(got.get("attributes").is_none());
        }
        run!(&format!("delete_{obj}"), json!({"record_id": id}));
        if obj == "case" {
            let gone = err(&actions, &mut call, "get_case", json!({"record_id": id})).await;
            assert_eq!(gone.code, ErrorCode::NotFound, "{}", gone.message);
        }
    }
    // A case number is matched exactly.
    let number = actions
        .connection()
        .query::<callforce_client::Record>("SELECT CaseNumber FROM Case LIMIT 1")
        .await
        .expect("query")
        .records[0]["CaseNumber"]
        .as_str()
        .expect("CaseNumber")
        .to_owned();
    let by_number = run!("search_case", json!({"search_term": number}));
    assert_eq!(by_number["count"], 1);
    assert_eq!(by_number["records"][0]["CaseNumber"], number.as_str());

    // Notes: create (linking is checked in `create_note_links_the_note_to_the_record`), get,
    // update, delete.
    let note = run!(
        "create_note",
        json!({"Title": "Call summary", "Body": "Caller asked about invoice #1234."})
    );
    let note_id = id_of(&note);
    let got = run!("get_note", json!({"record_id": note_id}));
    assert_eq!(got["Title"], "Call summary");
    run!(
        "update_note",
        json!({"record_id": note_id, "Title": "Call summary (edited)", "Body": "New text"})
    );
    let got = run!("get_note", json!({"record_id": note_id}));
    assert_eq!(got["Title"], "Call summary (edited)");
    run!("delete_note", json!({"record_id": note_id}));

    // Knowledge.
    let kb = run!("search_knowledge", json!({"search_term": "billing"}));
    assert_eq!(
        kb["records"][0]["Title"], "How to resolve billing discrepancies",
        "{kb}"
    );
    let article = run!("get_article", json!({"record_id": kb["records"][0]["Id"]}));
    assert_eq!(article["ArticleNumber"], "000001234");

    // Users and queues.
    let users = run!("search_users", json!({"search_term": "Maria"}));
    assert_eq!(users["records"][0]["Name"], "Maria Chen", "{users}");
    let user = run!("get_user", json!({"record_id": users["records"][0]["Id"]}));
    assert_eq!(user["Title"], "Support Team Lead");
    let queues = run!("list_queues", json!({}));
    let names: Vec<&str> = queues["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|q| q["Name"].as_str())
        .collect();
    assert!(names.contains(&"Billing Support"), "{names:?}");

    // Products.
    let products = run!("search_products", json!({"search_term": "Enterprise"}));
    assert_eq!(products["records"][0]["ProductCode"], "VA-ENT");
    let prod = id_of(&run!(
        "create_product",
        json!({"Name": "Test Widget", "ProductCode": "TW-1", "IsActive": true})
    ));
    run!(
        "update_product",
        json!({"record_id": prod, "Description": "A widget", "IsActive": "false"})
    );
    run!("delete_product", json!({"record_id": prod}));
    let pbe = run!(
        "search_pricebook_entries",
        json!({"search_term": "Voice Agent Enterprise"})
    );
    assert_eq!(pbe["records"][0]["UnitPrice"], 5000.0, "{pbe}");
    let opp = one_id(
        &actions,
        "SELECT Id FROM Opportunity WHERE Name = 'Acme - Annual Renewal'",
    )
    .await;
    let line = id_of(&run!(
        "add_product_to_opportunity",
        json!({"OpportunityId": opp, "PricebookEntryId": pbe["records"][0]["Id"], "Quantity": 2, "UnitPrice": 4500})
    ));
    run!(
        "remove_product_from_opportunity",
        json!({"record_id": line})
    );

    // Campaigns.
    let camps = run!("search_campaigns", json!({"search_term": "Q1"}));
    assert_eq!(camps["records"][0]["Name"], "Q1 Outreach");
    let camp = id_of(&run!(
        "create_campaign",
        json!({"Name": "Spring Test", "Status": "planned", "Type": "Email", "IsActive": true})
    ));
    run!(
        "update_campaign",
        json!({"record_id": camp, "Status": "In Progress"})
    );
    let member = id_of(&run!(
        "add_campaign_member",
        json!({"CampaignId": camp, "ContactId": sarah, "Status": "Sent"})
    ));
    let both = err(
        &actions,
        &mut call,
        "add_campaign_member",
        json!({"CampaignId": camp}),
    )
    .await;
    assert_eq!(both.code, ErrorCode::MissingRequired);
    run!("remove_campaign_member", json!({"record_id": member}));
    run!("delete_campaign", json!({"record_id": camp}));

    // Global search.
    let all = run!("global_search", json!({"search_term": "Acme"}));
    let types: BTreeSet<&str> = all["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["type"].as_str())
        .collect();
    assert!(types.contains("Account"), "{all}");
    let by_phone = run!("global_search", json!({"search_term": "+1 555 123 4567"}));
    assert_eq!(by_phone["records"][0]["type"], "Contact", "{by_phone}");

    let templates: BTreeSet<String> = Catalog::builtin()
        .templates()
        .map(|t| t.name.clone())
        .collect();
    let missing: Vec<&String> = templates.difference(&ran).collect();
    assert!(missing.is_empty(), "templates not exercised: {missing:?}");
}

#[tokio::test]
async fn generic_actions_run_against_the_dev_org() {
    let (_org, actions, mut call) = setup("+15551234567").await;
    let q = ok(
        &actions,
        &mut call,
        "run_query",
        json!({"soql": "SELECT Id, Name FROM Account ORDER BY Name LIMIT 3"}),
    )
    .await;
    assert_eq!(q["count"], 3);
    let bad = err(
        &actions,
        &mut call,
        "run_query",
        json!({"soql": "DELETE FROM Account"}),
    )
    .await;
    assert_eq!(bad.code, ErrorCode::InvalidArgument);

    let acc = id_of(
        &ok(
            &actions,
            &mut call,
            "create_record",
            json!({"sobject": "Account", "fields": {"Name": "Generic Co", "Industry": "banking"}}),
        )
        .await,
    );
    let got = actions
        .connection()
        .get("Account", Id::parse(&acc).expect("id"), &["Industry"])
        .await
        .expect("get");
    assert_eq!(got["Industry"], "Banking", "picklist spelling is restored");
    ok(
        &actions,
        &mut call,
        "update_record",
        json!({"sobject": "Account", "record_id": acc, "fields": {"Phone": "(555) 000-1111"}}),
    )
    .await;
    let up = ok(&actions, &mut call, "upsert_record", json!({"sobject": "Contact", "external_id_field": "External_Id__c", "external_id": "GEN-1", "fields": {"LastName": "Upserted"}})).await;
    assert_eq!(up["created"], true);
    let up = ok(&actions, &mut call, "upsert_record", json!({"sobject": "Contact", "external_id_field": "External_Id__c", "external_id": "GEN-1", "fields": {"FirstName": "Again"}})).await;
    assert_eq!(up["created"], false);

    let bulk = ok(&actions, &mut call, "bulk_create", json!({"sobject": "Lead", "records": [{"LastName": "B1", "Company": "Bulk"}, {"LastName": "B2", "Company": "Bulk"}]})).await;
    assert_eq!(bulk["succeeded"], 2, "{bulk}");
    let ids: Vec<Value> = bulk["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    let upd = ok(&actions, &mut call, "bulk_update", json!({"sobject": "Lead", "records": [{"Id": ids[0], "Company": "Bulk 2"}, {"Id": ids[1], "Company": "Bulk 2"}]})).await;
    assert_eq!(upd["succeeded"], 2, "{upd}");

    let raw = ok(
        &actions,
        &mut call,
        "custom_api_call",
        json!({"method": "GET", "path": "/sobjects/Case/describe"}),
    )
    .await;
    assert_eq!(raw["status"], 200);
    assert_eq!(raw["body"]["name"], "Case");
    let refused = err(
        &actions,
        &mut call,
        "custom_api_call",
        json!({"method": "POST", "path": "/services/oauth2/revoke"}),
    )
    .await;
    assert_eq!(refused.code, ErrorCode::InvalidArgument);

    // The after-meeting workflow: action items as tasks, then the opportunity's stage.
    let opp = one_id(
        &actions,
        "SELECT Id FROM Opportunity WHERE Name = 'Northwind - Chat Agent'",
    )
    .await;
    let task = ok(&actions, &mut call, "create_task", json!({"what_id": opp, "subject": "Send the security questionnaire", "activity_date": "2026-03-02"})).await;
    let t = actions
        .connection()
        .get(
            "Task",
            Id::parse(&id_of(&task)).expect("id"),
            &["WhatId", "ActivityDate", "Subject"],
        )
        .await
        .expect("task");
    assert_eq!(t["ActivityDate"], "2026-03-02");
    ok(&actions, &mut call, "update_opportunity", json!({"opportunity_id": opp, "field_values": {"StageName": "Value Proposition", "NextStep": "Security review"}})).await;
    let o = actions
        .connection()
        .get(
            "Opportunity",
            Id::parse(&opp).expect("id"),
            &["StageName", "NextStep"],
        )
        .await
        .expect("opp");
    assert_eq!(o["StageName"], "Value Proposition");
    assert_eq!(o["NextStep"], "Security review");
}

/// A note is a ContentNote (`069`) linked through ContentDocumentLink.ContentDocumentId, whose
/// target is ContentDocument: the two objects share the prefix, as in Salesforce.
#[tokio::test]
async fn create_note_links_the_note_to_the_record() {
    let (_org, actions, mut call) = setup("+15551234567").await;
    let sarah = one_id(
        &actions,
        "SELECT Id FROM Contact WHERE Email = 'sarah.johnson@acmecorp.example'",
    )
    .await;
    let note = ok(
        &actions,
        &mut call,
        "create_note",
        json!({"Title": "Call summary", "Body": "Invoice #1234.", "LinkedEntityId": sarah}),
    )
    .await;
    let note_id = id_of(&note);
    let links = actions
        .connection()
        .query::<callforce_client::Record>(&format!(
            "SELECT LinkedEntityId FROM ContentDocumentLink WHERE ContentDocumentId = '{note_id}'"
        ))
        .await
        .expect("links");
    let linked: Vec<Option<Id>> = links
        .records
        .iter()
        .map(|l| l["LinkedEntityId"].as_str().and_then(|s| Id::parse(s).ok()))
        .collect();
    assert!(linked.contains(&Id::parse(&sarah).ok()), "{linked:?}");
}

#[tokio::test]
async fn a_note_whose_link_fails_is_not_left_behind() {
    let (_org, actions, mut call) = setup("+15551234567").await;
    let case = one_id(&actions, "SELECT Id FROM Case LIMIT 1").await;
    let before = actions
        .connection()
        .query::<callforce_client::Record>("SELECT Id FROM ContentNote")
        .await
        .expect("q")
        .total_size;
    // Whatever the link's fate, the composite is all-or-none: a failed link leaves no note.
    if actions
        .run(
            &mut call,
            "create_note",
            json!({"Title": "T", "Body": "B", "LinkedEntityId": case}),
        )
        .await
        .is_err()
    {
        let after = actions
            .connection()
            .query::<callforce_client::Record>("SELECT Id FROM ContentNote")
            .await
            .expect("q")
            .total_size;
        assert_eq!(after, before);
    }
}
