//! The example conversation (the caller, a case, the call logged), verified by reading the records back.

use callforce_client::Id;
use chrono::{Duration, Utc};
use serde_json::json;

use super::*;

#[tokio::test]
async fn example_conversation_identifies_creates_a_case_logs_the_call_and_schedules_a_callback() {
    let (_org, actions, mut call) = setup("+15551234567").await;

    // Identify the caller by the number the telephony gave, in another format than stored.
    let found = ok(
        &actions,
        &mut call,
        "search_contact",
        json!({"search_term": "+15551234567"}),
    )
    .await;
    assert_eq!(found["count"], 1, "{found}");
    let sarah = &found["records"][0];
    assert_eq!(sarah["FirstName"], "Sarah");
    assert_eq!(sarah["LastName"], "Johnson");
    assert_eq!(sarah["Phone"], "(555) 123-4567");
    assert_eq!(sarah["Account"]["Name"], "Acme Corporation");
    let acme = one_id(
        &actions,
        "SELECT Id FROM Account WHERE Name = 'Acme Corporation'",
    )
    .await;
    assert_eq!(sarah["AccountId"], acme.as_str());
    let sarah_id = sarah["Id"].as_str().expect("Id").to_owned();

    assert_eq!(found["say"], "I found Sarah Johnson at Acme Corporation.");

    // A high-priority case, the contact taken from the session; its number, which the caller
    // is told, comes back in the create's own round trip (the describe is held already).
    actions
        .connection()
        .describe("Case")
        .await
        .expect("describe");
    let (case, round_trips) = callforce_client::count_round_trips(ok(
        &actions,
        &mut call,
        "create_case",
        json!({"Subject": "Invoice amount discrepancy", "ContactId": "{{search_contact.Id}}", "Priority": "High", "Origin": "Phone"}),
    ))
    .await;
    assert_eq!(round_trips, 1, "{case}");
    let case_id = id_of(&case);
    let number = case["CaseNumber"].as_str().expect("CaseNumber").to_owned();
    assert_eq!(
        case["say"],
        format!("I've created your case; the case number is {number}.")
    );

    // The call, logged against the contact and the case.
    let task = ok(
        &actions,
        &mut call,
        "log_call",
        json!({"Subject": "Inbound call - invoice discrepancy", "WhoId": "{{search_contact.Id}}", "WhatId": "{{create_case.Id}}", "CallType": "Inbound", "CallDisposition": "Connected"}),
    )
    .await;

    assert_eq!(task["say"], "I've logged this call.");
    assert_eq!(
        call.context()["create_case"]["CaseNumber"],
        number.as_str(),
        "later actions may name it"
    );

    // Tomorrow 10:00 to 10:30.
    let tomorrow = (Utc::now() + Duration::days(1)).date_naive();
    let start = format!("{tomorrow}T10:00:00Z");
    let end = format!("{tomorrow}T10:30:00Z");
    let event = ok(
        &actions,
        &mut call,
        "schedule_event",
        json!({"Subject": "Callback - invoice discrepancy follow-up", "StartDateTime": start, "EndDateTime": end, "WhoId": sarah_id, "WhatId": case_id, "Location": "Phone"}),
    )
    .await;

    assert_eq!(
        event["say"],
        format!(
            "It's on the calendar for {}.",
            callforce_actions::say::when(
                chrono::DateTime::parse_from_rfc3339(&start)
                    .expect("start")
                    .to_utc(),
                None
            )
        )
    );

    let conn = actions.connection();
    let parse = |s: &str| Id::parse(s).expect("id");
    let c = conn
        .get(
            "Case",
            parse(&case_id),
            &["Subject", "Priority", "Origin", "ContactId", "Status"],
        )
        .await
        .expect("case");
    assert_eq!(c["Subject"], "Invoice amount discrepancy");
    let read = conn
        .get("Case", parse(&case_id), &["CaseNumber"])
        .await
        .expect("case number");
    assert_eq!(read["CaseNumber"], number.as_str());
    assert_eq!(c["Priority"], "High");
    assert_eq!(c["Origin"], "Phone");
    assert_eq!(c["Status"], "New");
    assert_eq!(
        parse(c["ContactId"].as_str().expect("ContactId")),
        parse(&sarah_id)
    );

    let t = conn
        .get(
            "Task",
            parse(&id_of(&task)),
            &[
                "TaskSubtype",
                "CallType",
                "CallDisposition",
                "Status",
                "ActivityDate",
                "WhoId",
                "WhatId",
                "Subject",
            ],
        )
        .await
        .expect("task");
    assert_eq!(t["TaskSubtype"], "Call");
    assert_eq!(t["CallType"], "Inbound");
    assert_eq!(t["CallDisposition"], "Connected");
    assert_eq!(t["Status"], "Completed");
    assert_eq!(t["ActivityDate"], Utc::now().date_naive().to_string());
    assert_eq!(parse(t["WhoId"].as_str().expect("WhoId")), parse(&sarah_id));
    assert_eq!(
        parse(t["WhatId"].as_str().expect("WhatId")),
        parse(&case_id)
    );

    let e = conn
        .get(
            "Event",
            parse(&id_of(&event)),
            &["StartDateTime", "EndDateTime", "WhoId", "WhatId", "Subject"],
        )
        .await
        .expect("event");
    let at = |v: &serde_json::Value| {
        chrono::DateTime::parse_from_str(v.as_str().expect("datetime"), "%Y-%m-%dT%H:%M:%S%.f%z")
            .expect("parses")
    };
    assert_eq!(
        at(&e["StartDateTime"]).to_utc().to_rfc3339(),
        format!("{tomorrow}T10:00:00+00:00")
    );
    assert_eq!(
        at(&e["EndDateTime"]).to_utc().to_rfc3339(),
        format!("{tomorrow}T10:30:00+00:00")
    );
    assert_eq!(
        parse(e["WhatId"].as_str().expect("WhatId")),
        parse(&case_id)
    );

    // "The contact we just found" without naming the action that found it.
    let again = ok(
        &actions,
        &mut call,
        "get_contact",
        json!({"record_id": "{{last.Contact.Id}}"}),
    )
    .await;
    assert_eq!(again["Title"], "VP of Operations");

    // The session remembers what was found and written.
    assert_eq!(
        call.last("Contact").and_then(|c| c["Id"].as_str()),
        Some(sarah_id.as_str())
    );
    assert_eq!(
        call.last("Case").and_then(|c| c["Id"].as_str()),
        Some(case_id.as_str())
    );
}
