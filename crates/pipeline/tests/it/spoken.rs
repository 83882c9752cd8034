//! What a model reads back, as the service runs actions (through the write pipeline): every
//! template's description against what it returns, the `say` of each result, and a case's
//! number told in the create's own round trip, even when its answer was lost.

use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::Result;
use callforce_actions::{Action, Actions, CallSession, CallVars, Catalog};
use callforce_client::Record;
use callforce_pipeline::PipelineConfig;
use serde_json::{Value, json};

use crate::support::{Bed, Db, config};

/// The catalog bound to the bed's org, writing through its pipeline sink, and a call.
fn actions(bed: &Bed) -> (Actions, CallSession) {
    let actions =
        Actions::new(bed.conn.clone(), Catalog::builtin()).with_sink(Arc::new(bed.sink.clone()));
    let call = CallSession::new(CallVars {
        call_id: "call-spoken".into(),
        caller_phone: Some("+15551234567".into()),
        agent: Some("agent-7".into()),
        workspace: Some(bed.ws.0),
        ..CallVars::default()
    });
    (actions, call)
}

/// Runs an action that must succeed, confirming it with its token when it asks.
async fn run(actions: &Actions, call: &mut CallSession, name: &str, args: Value) -> Value {
    let first = match actions.run(call, name, args.clone()).await {
        Ok(v) => v,
        Err(e) => panic!("{name} {args} failed: {}", e.to_json()),
    };
    let Some(token) = first["confirmation_required"]["token"].as_str() else {
        return first;
    };
    assert!(
        first["say"]
            .as_str()
            .is_some_and(|s| s.starts_with("Just to confirm")),
        "{first}"
    );
    let mut args = args;
    args["confirmation_token"] = Value::from(token);
    match actions.run(call, name, args).await {
        Ok(v) => v,
        Err(e) => panic!("{name} failed after confirmation: {}", e.to_json()),
    }
}

/// The id of the one record `soql` finds.
async fn one_id(bed: &Bed, soql: &str) -> String {
    let r = bed.conn.query::<Record>(soql).await.expect("query");
    r.records
        .first()
        .and_then(|r| r.get("Id"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("nothing for {soql}"))
        .to_owned()
}

/// The keys of a result as a model reads them: `records[...]` shows its first record's keys.
fn keys(v: &Value) -> String {
    let Some(m) = v.as_object() else {
        return "(not an object)".into();
    };
    m.iter()
        .map(|(k, v)| match (k.as_str(), v) {
            ("records", Value::Array(r)) => {
                let first = r
                    .first()
                    .and_then(Value::as_object)
                    .map(|f| f.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default();
                format!("records[{first}]")
            }
            _ => k.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `word` is in `text` as a word (any case).
fn says(text: &str, word: &str) -> bool {
    text.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .any(|w| w.eq_ignore_ascii_case(word))
}

/// What a description says the tool returns: from its "Returns" or "returns" on.
fn returns(description: &str) -> &str {
    let at = description
        .find("Returns ")
        .or_else(|| description.find("returns "))
        .unwrap_or_else(|| panic!("says not what it returns: {description}"));
    &description[at..]
}

/// The checks a description must pass against what its tool returned: the mechanical part of
/// "it says exactly what it returns". Each failure is one line.
fn untrue(name: &str, description: &str, result: &Value) -> Vec<String> {
    let mut wrong = Vec::new();
    let r = returns(description);
    let top = |k: &str| result.get(k).is_some_and(|v| !v.is_null());
    let in_records = |k: &str| {
        result["records"]
            .as_array()
            .and_then(|a| a.first())
            .is_some_and(|f| f.get(k).is_some())
    };
    let queued = result["queued"] == true;
    if !result["say"]
        .as_str()
        .is_some_and(|s| s.ends_with(['.', '?']))
    {
        wrong.push(format!("{name}: no say sentence in {result}"));
    }
    // An id promised (not the "not an id" of a queued write) must be there, unless the write
    // was queued and the description says a reference comes instead.
    let promises_id = says(r, "id") && !r.contains("not an id");
    let has_id = top("id")
        || in_records("Id")
        || result["records"].as_array().is_some_and(Vec::is_empty)
        || result["results"].is_array();
    if promises_id && !has_id && !(queued && says(r, "reference")) {
        wrong.push(format!(
            "{name}: says it returns an id; returned {}",
            keys(result)
        ));
    }
    if queued && !says(r, "reference") {
        wrong.push(format!(
            "{name}: returned a reference its description does not name"
        ));
    }
    if top("reference") && r.contains("not an id") && top("id") {
        wrong.push(format!("{name}: says not an id, returned one"));
    }
    for field in [
        "CaseNumber",
        "count",
        "records",
        "created",
        "succeeded",
        "failed",
        "status",
        "body",
    ] {
        if says(r, field) && !top(field) && !queued {
            // A list may be empty; a GET-only key is absent for a write.
            let optional = (field == "records" && top("count"))
                || (field == "status" && top("success"))
                || (field == "body" && !top("status") && !top("success"));
            if !optional {
                wrong.push(format!(
                    "{name}: says it returns {field}; returned {}",
                    keys(result)
                ));
            }
        }
        // A record's own fields (a Case's CaseNumber read by get_case) are "its fields".
        let structural = !matches!(field, "CaseNumber" | "body");
        if structural && top(field) && !says(r, field) {
            wrong.push(format!(
                "{name}: returned {field}, which its description does not name"
            ));
        }
    }
    wrong
}

/// `s` with its numbers, times (AM or PM too), day names and month names masked.
fn masked(s: &str) -> String {
    const NAMES: [&str; 19] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    // A time with minutes or without, a number of any length: one `#`.
    let mut out = s
        .replace(|c: char| c.is_ascii_digit(), "#")
        .replace("#:#", "#");
    while out.contains("##") {
        out = out.replace("##", "#");
    }
    out = out.replace(" AM", " #M").replace(" PM", " #M");
    for n in NAMES {
        out = out.replace(n, "<when>");
    }
    out
}

/// One step of the tour: the action and its arguments (Liquid refers to earlier results).
type Step = (&'static str, Value);

/// Every template and generic action, run in an order where each finds what it needs.
fn tour(ids: &Ids) -> Vec<Step> {
    vec![
        ("search_contact", json!({"search_term": "+15551234567"})),
        ("get_contact", json!({"record_id": "{{search_contact.Id}}"})),
        ("search_lead", json!({})),
        ("get_lead", json!({"record_id": "{{search_lead.Id}}"})),
        ("search_account", json!({"search_term": "Acme"})),
        ("get_account", json!({"record_id": "{{search_account.Id}}"})),
        ("search_opportunity", json!({})),
        (
            "get_opportunity",
            json!({"record_id": "{{search_opportunity.Id}}"}),
        ),
        ("search_case", json!({})),
        ("get_case", json!({"record_id": "{{search_case.Id}}"})),
        ("search_task", json!({})),
        ("search_event", json!({})),
        ("search_knowledge", json!({"search_term": "billing"})),
        (
            "get_article",
            json!({"record_id": "{{search_knowledge.Id}}"}),
        ),
        ("search_users", json!({"search_term": "Maria"})),
        ("get_user", json!({"record_id": "{{search_users.Id}}"})),
        ("list_queues", json!({})),
        ("search_products", json!({"search_term": "Enterprise"})),
        (
            "search_pricebook_entries",
            json!({"search_term": "Voice Agent Enterprise"}),
        ),
        ("search_campaigns", json!({"search_term": "Q1"})),
        ("global_search", json!({"search_term": "Acme"})),
        (
            "run_query",
            json!({"soql": "SELECT Id, Name FROM Account ORDER BY Name LIMIT 3"}),
        ),
        (
            "create_case",
            json!({"Subject": "Snapshot case", "ContactId": "{{search_contact.Id}}", "Priority": "High", "Origin": "Phone"}),
        ),
        (
            "log_call",
            json!({"Subject": "Snapshot call", "WhoId": "{{search_contact.Id}}", "WhatId": "{{create_case.id}}", "CallType": "Inbound", "CallDisposition": "Connected"}),
        ),
        (
            "schedule_event",
            json!({"Subject": "Snapshot callback", "StartDateTime": "2026-12-09T10:00:00Z", "EndDateTime": "2026-12-09T10:30:00Z", "WhoId": "{{search_contact.Id}}", "WhatId": "{{create_case.id}}"}),
        ),
        (
            "create_note",
            json!({"Title": "Snapshot note", "Body": "Logged as {{log_call.reference}}.", "LinkedEntityId": "{{create_case.id}}"}),
        ),
        (
            "update_case",
            json!({"record_id": "{{create_case.id}}", "Description": "Call logged as {{log_call.reference}}"}),
        ),
        (
            "create_contact",
            json!({"FirstName": "Ann", "LastName": "Snapshot"}),
        ),
        (
            "update_contact",
            json!({"record_id": "{{create_contact.id}}", "Title": "Buyer"}),
        ),
        (
            "create_lead",
            json!({"LastName": "Snapshot", "Company": "Snapco"}),
        ),
        (
            "update_lead",
            json!({"record_id": "{{create_lead.id}}", "Title": "Buyer"}),
        ),
        ("create_account", json!({"Name": "Snapshot Ltd"})),
        (
            "update_account",
            json!({"record_id": "{{create_account.id}}", "Industry": "Energy"}),
        ),
        (
            "create_opportunity",
            json!({"Name": "Snapshot deal", "StageName": "Prospecting", "CloseDate": "2026-12-31", "AccountId": "{{create_account.id}}", "Amount": 12500}),
        ),
        (
            "update_opportunity",
            json!({"opportunity_id": "{{create_opportunity.id}}", "field_values": {"NextStep": "Demo"}}),
        ),
        (
            "create_task",
            json!({"subject": "Send the contract", "what_id": "{{create_opportunity.id}}"}),
        ),
        (
            "update_task",
            json!({"record_id": "{{create_task.id}}", "Priority": "High"}),
        ),
        (
            "update_event",
            json!({"record_id": ids.event, "Location": "Phone"}),
        ),
        ("get_note", json!({"record_id": ids.note})),
        (
            "update_note",
            json!({"record_id": ids.note, "Title": "Snapshot note (edited)"}),
        ),
        (
            "create_product",
            json!({"Name": "Snapshot widget", "ProductCode": "SNAP-1", "IsActive": true}),
        ),
        (
            "update_product",
            json!({"record_id": "{{create_product.id}}", "Description": "A widget"}),
        ),
        (
            "add_product_to_opportunity",
            json!({"OpportunityId": "{{create_opportunity.id}}", "PricebookEntryId": "{{search_pricebook_entries.Id}}", "Quantity": 2, "UnitPrice": 4500}),
        ),
        (
            "remove_product_from_opportunity",
            json!({"record_id": "{{add_product_to_opportunity.id}}"}),
        ),
        (
            "create_campaign",
            json!({"Name": "Snapshot campaign", "Status": "Planned", "Type": "Email", "IsActive": true}),
        ),
        (
            "update_campaign",
            json!({"record_id": "{{create_campaign.id}}", "Status": "In Progress"}),
        ),
        (
            "add_campaign_member",
            json!({"CampaignId": "{{create_campaign.id}}", "ContactId": "{{create_contact.id}}", "Status": "Sent"}),
        ),
        (
            "remove_campaign_member",
            json!({"record_id": "{{add_campaign_member.id}}"}),
        ),
        (
            "create_record",
            json!({"sobject": "Account", "fields": {"Name": "Generic Snapshot Co"}}),
        ),
        (
            "update_record",
            json!({"sobject": "Account", "record_id": "{{create_record.id}}", "fields": {"Phone": "(555) 000-1111"}}),
        ),
        (
            "upsert_record",
            json!({"sobject": "Contact", "external_id_field": "External_Id__c", "external_id": "SNAP-1", "fields": {"LastName": "Upserted"}}),
        ),
        (
            "bulk_create",
            json!({"sobject": "Lead", "records": [{"LastName": "B1", "Company": "Bulk"}, {"LastName": "B2", "Company": "Bulk"}]}),
        ),
        (
            "bulk_update",
            json!({"sobject": "Lead", "records": [{"Id": ids.lead, "Company": "Bulk 2"}]}),
        ),
        (
            "custom_api_call",
            json!({"method": "GET", "path": "/sobjects/Case/describe"}),
        ),
        ("delete_note", json!({"record_id": ids.note})),
        ("delete_event", json!({"record_id": ids.event})),
        ("delete_task", json!({"record_id": "{{create_task.id}}"})),
        (
            "delete_product",
            json!({"record_id": "{{create_product.id}}"}),
        ),
        (
            "delete_campaign",
            json!({"record_id": "{{create_campaign.id}}"}),
        ),
        (
            "delete_opportunity",
            json!({"record_id": "{{create_opportunity.id}}"}),
        ),
        (
            "delete_account",
            json!({"record_id": "{{create_account.id}}"}),
        ),
        ("delete_lead", json!({"record_id": "{{create_lead.id}}"})),
        (
            "delete_contact",
            json!({"record_id": "{{create_contact.id}}"}),
        ),
        ("delete_case", json!({"record_id": "{{create_case.id}}"})),
    ]
}

/// Records the tour needs that a queued write makes (no id comes back): found once it landed.
#[derive(Default)]
struct Ids {
    event: String,
    note: String,
    lead: String,
}

#[tokio::test]
async fn every_template_s_description_matches_what_it_returns() -> Result<()> {
    let Some(bed) = Bed::new(Db::Sqlite, "descriptions", config()).await? else {
        panic!("SQLite is always there");
    };
    let (actions, mut call) = actions(&bed);
    let catalog = Catalog::builtin();
    // Two passes: the first makes the records that queued writes leave without an id.
    let mut ids = Ids::default();
    let steps = tour(&ids);
    let names: Vec<&str> = steps.iter().map(|(n, _)| *n).collect();
    let mut missing: Vec<&str> = catalog
        .actions()
        .iter()
        .map(Action::name)
        .filter(|n| !names.contains(n))
        .collect();
    missing.sort_unstable();
    assert_eq!(missing, Vec::<&str>::new(), "every action is in the tour");

    let mut results: Vec<(&str, Value)> = Vec::new();
    for (name, args) in steps {
        if name == "update_event" {
            // What the queued writes before it made is in the org by now.
            bed.drain(50).await;
            ids.event = one_id(
                &bed,
                "SELECT Id FROM Event WHERE Subject = 'Snapshot callback'",
            )
            .await;
            ids.note = one_id(
                &bed,
                "SELECT Id FROM ContentNote WHERE Title = 'Snapshot note'",
            )
            .await;
        }
        if name == "bulk_update" {
            ids.lead = one_id(&bed, "SELECT Id FROM Lead WHERE LastName = 'B1'").await;
        }
        // The ids found above, in the arguments of the steps that name them.
        let args = tour(&ids)
            .into_iter()
            .find(|(n, _)| *n == name)
            .map_or(args, |(_, a)| a);
        let result = run(&actions, &mut call, name, args).await;
        results.push((name, result));
    }

    let mut snapshot = String::new();
    let mut wrong = Vec::new();
    for (name, result) in &results {
        let description = &catalog.get(name).expect("action").tool().description;
        wrong.extend(untrue(name, description, result));
        writeln!(
            snapshot,
            "{name}\n  description: {description}\n  returned: {}\n  say: {}",
            keys(result),
            result["say"].as_str().unwrap_or_default()
        )?;
    }
    assert_eq!(
        wrong,
        Vec::<String>::new(),
        "descriptions that are not true"
    );
    // The sentences carry values that differ from run to run (case numbers, references, the
    // demo data's dates, which follow today): digits, days and months are masked.
    let stable: String = snapshot
        .lines()
        .map(|l| match l.strip_prefix("  say: ") {
            Some(s) => format!("  say: {}\n", masked(s)),
            None => format!("{l}\n"),
        })
        .collect();
    insta::assert_snapshot!("descriptions_and_results", stable);
    Ok(())
}

#[test]
fn the_truth_checks_catch_what_they_are_for() {
    let say = "I did it.";
    for (description, result, wrong) in [
        (
            "Log it. Returns the new task id.",
            json!({"queued": true, "reference": "job-1", "say": say}),
            2,
        ),
        (
            "Log it. It is queued: returns a reference (not an id) and say.",
            json!({"queued": true, "reference": "job-1", "say": say}),
            0,
        ),
        (
            "Find. Returns count and records, each with its Id, and say.",
            json!({"count": 0, "records": [], "say": say}),
            0,
        ),
        (
            "Create. Returns the new record's id and say.",
            json!({"id": "500", "count": 1, "say": say}),
            1,
        ),
        (
            "Create. Returns the new case's id and its CaseNumber and say.",
            json!({"id": "500", "say": say}),
            1,
        ),
        (
            "Create. Returns the new record's id and say.",
            json!({"id": "500"}),
            1,
        ),
    ] {
        let got = untrue("t", description, &result);
        assert_eq!(got.len(), wrong, "{description} {result}: {got:?}");
    }
}

/// The example call as a model reading only the tool list would make it: every call succeeds
/// and the `say` fields read as the call.
#[tokio::test]
async fn the_example_call_runs_from_the_tool_list_and_its_sentences_read_as_a_call() -> Result<()> {
    let Some(bed) = Bed::new(Db::Sqlite, "example call", config()).await? else {
        panic!("SQLite is always there");
    };
    let (actions, mut call) = actions(&bed);
    let mut said = Vec::new();
    for (name, args) in [
        ("search_contact", json!({"search_term": "+15551234567"})),
        (
            "create_case",
            json!({"Subject": "Invoice amount discrepancy", "ContactId": "{{search_contact.Id}}", "Priority": "High", "Origin": "Phone"}),
        ),
        (
            "log_call",
            json!({"Subject": "Inbound call - invoice discrepancy", "WhoId": "{{search_contact.Id}}", "WhatId": "{{create_case.id}}", "CallType": "Inbound", "CallDisposition": "Connected"}),
        ),
        (
            "schedule_event",
            json!({"Subject": "Callback - invoice discrepancy follow-up", "StartDateTime": "2026-12-08T10:00:00Z", "EndDateTime": "2026-12-08T10:30:00Z", "WhoId": "{{search_contact.Id}}", "WhatId": "{{create_case.id}}"}),
        ),
        (
            "update_case",
            json!({"record_id": "{{create_case.id}}", "Description": "Call logged as {{log_call.reference}}"}),
        ),
    ] {
        let r = run(&actions, &mut call, name, args).await;
        said.push(r["say"].as_str().expect("say").to_owned());
    }
    let number = one_id(
        &bed,
        "SELECT Id FROM Case WHERE Subject = 'Invoice amount discrepancy'",
    )
    .await;
    let case = bed
        .conn
        .get(
            "Case",
            callforce_client::Id::parse(&number)?,
            &["CaseNumber", "Description"],
        )
        .await?;
    let case_number = case["CaseNumber"].as_str().expect("number");
    assert_eq!(
        said,
        [
            "I found Sarah Johnson at Acme Corporation.".to_owned(),
            format!("I've created your case; the case number is {case_number}."),
            "I've logged this call; it will be in Salesforce in a moment.".to_owned(),
            "I've booked it for Tuesday, December 8 at 10 AM; it will be in Salesforce in a moment."
                .to_owned(),
            "I've updated the case.".to_owned(),
        ]
    );
    let reference = call.result("log_call").expect("logged")["reference"].clone();
    assert_eq!(
        case["Description"],
        format!("Call logged as {}", reference.as_str().expect("reference"))
    );
    Ok(())
}

/// A create's answer lost after the org applied it: the one record's number is still told,
/// looked up (no key field) or found by its key (a key field), never made twice.
#[tokio::test]
async fn a_case_number_is_told_once_even_when_the_create_s_answer_is_lost() -> Result<()> {
    for (keyed, cfg) in [(true, config()), (false, PipelineConfig::default())] {
        let Some(bed) = Bed::new(Db::Sqlite, "case number lost answer", cfg).await? else {
            panic!("SQLite is always there");
        };
        let (actions, mut call) = actions(&bed);
        bed.conn.describe("Case").await?;
        // The create and its read-back go out as one request.
        let (first, round_trips) = callforce_client::count_round_trips(run(
            &actions,
            &mut call,
            "create_case",
            json!({"Subject": "Told at once", "Priority": "High"}),
        ))
        .await;
        assert_eq!(round_trips, 1, "keyed {keyed}: {first}");
        assert!(first["CaseNumber"].is_string(), "{first}");

        bed.faults(
            json!({"rules": [{"kind": "commit_then_drop", "count": 1, "method": "POST",
            "path": "/services/data/*/composite"}]}),
        )
        .await;
        let lost = run(
            &actions,
            &mut call,
            "create_case",
            json!({"Subject": "Answer lost", "Priority": "High"}),
        )
        .await;
        bed.clear_faults().await;
        assert_eq!(
            bed.count("Case", "Subject = 'Answer lost'").await,
            1,
            "keyed {keyed}"
        );
        let id = one_id(&bed, "SELECT Id FROM Case WHERE Subject = 'Answer lost'").await;
        let number = bed
            .conn
            .get("Case", callforce_client::Id::parse(&id)?, &["CaseNumber"])
            .await?;
        assert_eq!(lost["id"], id.as_str(), "keyed {keyed}: {lost}");
        assert_eq!(
            lost["CaseNumber"], number["CaseNumber"],
            "keyed {keyed}: {lost}"
        );
        assert_eq!(
            lost["say"],
            format!(
                "I've created your case; the case number is {}.",
                number["CaseNumber"].as_str().unwrap_or_default()
            )
        );
    }
    Ok(())
}
