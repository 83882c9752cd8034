//! Intents compiled and executed in a call against the dev org, values read back.

use callforce_actions::{CallSession, CallVars};
use callforce_client::{Connection, Request};
use callforce_intents::{Active, Error, IntentMap};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{connect, first, org};

fn now() -> DateTime<Utc> {
    "2026-03-01T15:04:05Z".parse().expect("time")
}

fn parse_sf_datetime(v: &Value) -> DateTime<Utc> {
    let s = v.as_str().expect("a datetime");
    DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z")
        .expect("salesforce datetime")
        .with_timezone(&Utc)
}

/// A call that found a lead, an opportunity and an account, and logged itself as a task.
async fn call(conn: &Connection) -> (CallSession, String, String, String, String) {
    let lead = first(
        conn,
        "SELECT Id FROM Lead WHERE External_Id__c = 'LEAD-L_OAK'",
    )
    .await;
    let opp = first(
        conn,
        "SELECT Id, AccountId FROM Opportunity WHERE Name = 'Northwind - Chat Agent'",
    )
    .await;
    let task = conn
        .create(
            "Task",
            json!({"Subject": "Call", "Status": "Completed"})
                .as_object()
                .cloned()
                .expect("obj"),
        )
        .await
        .expect("log the call");
    let mut s = CallSession::new(CallVars {
        call_id: "call-1".into(),
        caller_phone: Some("+15552013344".into()),
        ..CallVars::default()
    });
    s.record(
        "search_lead",
        Some("Lead"),
        &json!({"records": [lead.clone()]}),
    );
    s.record(
        "search_opportunity",
        Some("Opportunity"),
        &json!({"records": [opp.clone()]}),
    );
    s.record(
        "search_account",
        Some("Account"),
        &json!({"records": [{"Id": opp["AccountId"]}]}),
    );
    s.record(
        "log_call",
        Some("Task"),
        &json!({"id": task.id.expect("task id").to_string(), "success": true}),
    );
    let id = |v: &Value| v.as_str().expect("id").to_owned();
    (
        s,
        id(&lead["Id"]),
        id(&opp["Id"]),
        id(&opp["AccountId"]),
        task.id.expect("task id").to_string(),
    )
}

#[tokio::test]
async fn the_seed_intents_land_in_the_org_during_a_call() {
    let r = org().await;
    let conn = connect(&r).await;
    let active = Active::activate(
        &conn,
        IntentMap::from_json(
            r#"{"demo_requested": "Opportunity.Demo_Requested_At__c",
                "qualified": "Lead.Status", "call_summary": "Task.Description"}"#,
        )
        .expect("map"),
    )
    .await
    .expect("activates");
    let (session, lead, opp, _, task) = call(&conn).await;
    let ctx = session.context();

    // One write each: an update of the record found earlier in the call.
    let c = active
        .compile(
            &conn,
            &json!({"intent": "qualified", "value": "working - contacted"}),
            &ctx,
            now(),
        )
        .expect("compiles");
    assert!(
        matches!(&c.request, Request::Update { sobject, record, .. }
        if sobject == "Lead" && record["Status"] == "Working - Contacted"),
        "{:?}",
        c.request
    );

    for args in [
        json!({"intent": "demo_requested"}),
        json!({"intent": "qualified", "value": "working - contacted"}),
        json!({"intent": "call_summary", "value": "Wants a demo of the chat agent next week."}),
    ] {
        let out = active.run(&conn, &args, &ctx, now()).await.expect("runs");
        assert_eq!(out.records.len(), 1);
        assert!(!out.records[0].created);
    }
    let o = first(
        &conn,
        &format!("SELECT Demo_Requested_At__c FROM Opportunity WHERE Id = '{opp}'"),
    )
    .await;
    assert_eq!(parse_sf_datetime(&o["Demo_Requested_At__c"]), now());
    let l = first(
        &conn,
        &format!("SELECT Status FROM Lead WHERE Id = '{lead}'"),
    )
    .await;
    assert_eq!(l["Status"], "Working - Contacted");
    let t = first(
        &conn,
        &format!("SELECT Description FROM Task WHERE Id = '{task}'"),
    )
    .await;
    assert_eq!(
        t["Description"],
        "Wants a demo of the chat agent next week."
    );
}

#[tokio::test]
async fn what_does_not_fit_is_refused_before_anything_is_sent() {
    let r = org().await;
    let conn = connect(&r).await;
    let active = Active::activate(
        &conn,
        IntentMap::from_value(json!({
            "graded": "Lead.Lead_Grade__c",
            "qualified": "Lead.Status",
        }))
        .expect("map"),
    )
    .await
    .expect("activates");
    let (session, ..) = call(&conn).await;
    let ctx = session.context();
    let refused = |args: Value, ctx: &serde_json::Map<String, Value>| match active.compile(
        &conn,
        &args,
        ctx,
        now(),
    ) {
        Err(Error::Refused(m)) => m.join("; "),
        other => panic!("{args}: {other:?}"),
    };
    let m = refused(json!({"intent": "graded", "value": "a+"}), &ctx);
    assert!(m.contains("closest: \"A\""), "{m}");
    let m = refused(json!({"intent": "qualified", "value": "Hot"}), &ctx);
    assert!(m.contains("valid values: Open - Not Contacted"), "{m}");
    let m = refused(json!({"intent": "qualified"}), &ctx);
    assert!(
        m.contains("argument \"value\" (picklist) is required"),
        "{m}"
    );
    let m = refused(
        json!({"intent": "qualified", "value": "Working - Contacted", "when": 1}),
        &ctx,
    );
    assert!(m.contains("takes no argument \"when\""), "{m}");
    let m = refused(
        json!({"intent": "qualified", "value": "Working - Contacted"}),
        &serde_json::Map::new(),
    );
    assert!(m.contains("no Lead is known in this call yet"), "{m}");
    match active.compile(&conn, &json!({"intent": "disqualified"}), &ctx, now()) {
        Err(e @ Error::UnknownIntent { .. }) => {
            assert!(e.to_string().contains("graded, qualified"))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_intent_over_several_objects_is_one_composite_request() {
    let r = org().await;
    let conn = connect(&r).await;
    let map = IntentMap::from_value(json!({
        "variables": {"monthly_fee": "currency", "summary": "long_text"},
        "intents": {"contract_signed": {
            "description": "The caller agreed to a service contract.",
            "writes": [
                {"object": "Service_Contract__c", "record": "create", "ref": "contract", "fields": {
                    "Account__c": {"var": "last.Account.Id"},
                    "Status__c": {"const": "active"},
                    "Start_Date__c": "now",
                    "Monthly_Fee__c": {"arg": "monthly_fee"}}},
                {"object": "Task", "record": "create", "fields": {
                    "Subject": {"const": "Call"}, "Status": {"const": "Completed"},
                    "WhatId": {"ref": "contract"}, "Description": {"arg": "summary"}}},
                {"object": "Account", "record": {"var": "last.Account.Id"}, "fields": {
                    "Last_Call_At__c": "now"}}
            ]
        }}
    }))
    .expect("map");
    let active = Active::activate(&conn, map).await.expect("activates");
    let (session, _, _, account, _) = call(&conn).await;
    let args = json!({"intent": "contract_signed", "monthly_fee": "$1,200.50", "summary": "Signed on the call."});
    let c = active
        .compile(&conn, &args, &session.context(), now())
        .expect("compiles");
    let Request::Composite(body) = &c.request else {
        panic!("{:?}", c.request)
    };
    let wire = serde_json::to_value(body).expect("json");
    assert_eq!(wire["allOrNone"], true);
    let subs = wire["compositeRequest"].as_array().expect("subrequests");
    assert_eq!(subs.len(), 3);
    assert_eq!(
        subs[0]["url"],
        "/services/data/v59.0/sobjects/Service_Contract__c"
    );
    assert_eq!(subs[0]["body"]["Status__c"], "Active");
    assert_eq!(subs[0]["body"]["Start_Date__c"], "2026-03-01");
    assert_eq!(subs[0]["body"]["Monthly_Fee__c"], 1200.5);
    assert_eq!(subs[1]["body"]["WhatId"], "@{contract.id}");
    assert_eq!(subs[2]["method"], "PATCH");
    assert_eq!(
        subs[2]["url"],
        format!("/services/data/v59.0/sobjects/Account/{account}")
    );

    let out = active
        .run(&conn, &args, &session.context(), now())
        .await
        .expect("runs");
    assert_eq!(out.records.len(), 3);
    assert!(out.records[0].created && out.records[1].created && !out.records[2].created);
    let contract = out.records[0].id;
    let sc = first(&conn, &format!("SELECT Status__c, Start_Date__c, Monthly_Fee__c, Account__c FROM Service_Contract__c WHERE Id = '{contract}'")).await;
    assert_eq!(sc["Status__c"], "Active");
    assert_eq!(sc["Start_Date__c"], "2026-03-01");
    assert_eq!(sc["Monthly_Fee__c"], 1200.5);
    assert_eq!(sc["Account__c"], account.as_str());
    let t = first(
        &conn,
        &format!(
            "SELECT WhatId, Description FROM Task WHERE Id = '{}'",
            out.records[1].id
        ),
    )
    .await;
    assert_eq!(t["WhatId"], contract.to_string());
    assert_eq!(t["Description"], "Signed on the call.");
    let a = first(
        &conn,
        &format!("SELECT Last_Call_At__c FROM Account WHERE Id = '{account}'"),
    )
    .await;
    assert_eq!(parse_sf_datetime(&a["Last_Call_At__c"]), now());
}

#[tokio::test]
async fn a_partner_lead_takes_only_the_partner_record_type_values() {
    let r = org().await;
    let conn = connect(&r).await;
    let map = IntentMap::from_value(json!({
        "partner_lead": {"object": "Lead", "record_type": "Partner",
                         "fields": {"LastName": {"arg": "name"}, "Company": {"const": "Oak Partners"},
                                    "LeadSource": {"arg": "source"}}}
    }))
    .expect("map");
    let active = Active::activate(&conn, map).await.expect("activates");
    let context = serde_json::Map::new();
    // A value of the master list the Partner record type does not offer is refused before
    // anything is sent, with the Partner values.
    let refused = active
        .run(
            &conn,
            &json!({"intent": "partner_lead", "name": "Ng", "source": "web"}),
            &context,
            now(),
        )
        .await;
    match refused {
        Err(Error::Refused(m)) => assert!(
            m[0].contains("valid values: Partner Referral, Other"),
            "{m:?}"
        ),
        other => panic!("not refused: {other:?}"),
    }
    // Matched case-insensitively to the record type's exact value; the create carries the
    // record type.
    let out = active
        .run(
            &conn,
            &json!({"intent": "partner_lead", "name": "Ng", "source": "partner referral"}),
            &context,
            now(),
        )
        .await
        .expect("written");
    let id = out.records[0].id;
    let lead = first(
        &conn,
        &format!("SELECT LeadSource, RecordType.DeveloperName FROM Lead WHERE Id = '{id}'"),
    )
    .await;
    assert_eq!(lead["LeadSource"], "Partner Referral");
    assert_eq!(lead["RecordType"]["DeveloperName"], "Partner", "{lead:?}");
}

/// A Lead created without `record_type` gets the org's default record type (Inbound), so the
/// check and call time take Inbound's values: a Partner-only source is refused before anything
/// is sent (the org would refuse it too), an Inbound one is written.
#[tokio::test]
async fn a_lead_created_without_a_record_type_takes_the_default_record_type_values() {
    let r = org().await;
    let conn = connect(&r).await;
    let map = |source: Value| {
        IntentMap::from_value(json!({
            "new_lead": {"object": "Lead",
                         "fields": {"LastName": {"arg": "name"}, "Company": {"const": "Oak Partners"},
                                    "LeadSource": source}}
        }))
        .expect("map")
    };
    match Active::activate(&conn, map(json!({"const": "Partner Referral"}))).await {
        Err(Error::CheckFailed(report)) => {
            let p = &report.problems[0];
            assert_eq!(p.path, "intents.new_lead.writes[0].fields.LeadSource");
            assert!(
                p.message.starts_with(
                    "under record type Inbound (the one a new Lead gets when none is given)"
                ),
                "{}",
                p.message
            );
            assert!(p.fix.contains("\"record_type\""), "{}", p.fix);
        }
        other => panic!("activated: {other:?}"),
    }

    let active = Active::activate(&conn, map(json!({"arg": "source"})))
        .await
        .expect("activates");
    let context = serde_json::Map::new();
    let refused = active
        .run(
            &conn,
            &json!({"intent": "new_lead", "name": "Ng", "source": "partner referral"}),
            &context,
            now(),
        )
        .await;
    match refused {
        Err(Error::Refused(m)) => assert!(
            m[0].contains("valid values: Web, Phone Inquiry, Purchased List, Other"),
            "{m:?}"
        ),
        other => panic!("not refused: {other:?}"),
    }
    let out = active
        .run(
            &conn,
            &json!({"intent": "new_lead", "name": "Ng", "source": "phone inquiry"}),
            &context,
            now(),
        )
        .await
        .expect("written");
    let id = out.records[0].id;
    let lead = first(
        &conn,
        &format!("SELECT LeadSource, RecordType.DeveloperName FROM Lead WHERE Id = '{id}'"),
    )
    .await;
    assert_eq!(lead["LeadSource"], "Phone Inquiry");
    assert_eq!(lead["RecordType"]["DeveloperName"], "Inbound", "{lead:?}");
}
