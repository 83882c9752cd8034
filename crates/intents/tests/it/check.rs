//! The check before go-live against the dev org's demo schema.

use callforce_intents::{Active, Code, Error, IntentMap, Severity, check_live};
use serde_json::json;

use super::{connect, org};

const SEED: &str = r#"{
  "demo_requested": "Opportunity.Demo_Requested_At__c",
  "qualified": "Lead.Status",
  "call_summary": "Task.Description"
}"#;

#[tokio::test]
async fn the_seed_map_passes_the_check_and_activates() {
    let r = org().await;
    let conn = connect(&r).await;
    let map = IntentMap::from_json(SEED).expect("map");
    let (report, _) = check_live(&conn, &map).await.expect("check");
    assert!(report.ok);
    assert!(report.problems.is_empty(), "{:#?}", report.problems);
    assert_eq!((report.intents, report.fields), (3, 3));
    Active::activate(&conn, map).await.expect("activates");
}

#[tokio::test]
async fn a_broken_map_is_refused_with_every_problem_and_its_fix() {
    let r = org().await;
    let conn = connect(&r).await;
    let map = IntentMap::from_value(json!({
        "variables": {"when": "datetime"},
        "intents": {
            "demo_requested": "Opportunity.Demo_Requestd_At__c",
            "qualified": {"object": "Lead", "record": {"var": "last.Lead.Id"}, "fields": {
                "Status": "now",
                "Lead_Grade__c": {"const": "Z"},
                "LastActivityDate": {"const": "2026-01-01"},
                "Rating": {"arg": "when"},
                "Description": {"var": "metadata.crm_note"}
            }},
            "new_deal": {"object": "Opportunity", "record": "create", "fields": {
                "Name": {"const": "Voice deal"},
                "AccountId": {"const": "001xyz"}
            }},
            "wrong_target": {"object": "Lead", "record": {"var": "last.Contact.Id"},
                             "fields": {"Status": {"const": "Working - Contacted"}}},
            "ticket": {"object": "Support_Ticket_Nte__c", "fields": {"Body__c": {"arg": "body"}}},
            "Bad-Name": "Lead.Status"
        }
    }))
    .expect("map parses");
    let (report, _) = check_live(&conn, &map).await.expect("check");
    assert!(!report.ok);
    let find = |code: Code, path: &str| {
        report
            .problems
            .iter()
            .find(|p| p.code == code && p.path == path)
            .unwrap_or_else(|| panic!("no {code:?} at {path}: {:#?}", report.problems))
    };
    let p = find(
        Code::UnknownField,
        "intents.demo_requested.writes[0].fields.Demo_Requestd_At__c",
    );
    assert_eq!(p.fix, "use Opportunity.Demo_Requested_At__c");
    let p = find(
        Code::TypeMismatch,
        "intents.qualified.writes[0].fields.Status",
    );
    assert!(p.message.contains("picklist"), "{p:?}");
    let p = find(
        Code::InvalidPicklistValue,
        "intents.qualified.writes[0].fields.Lead_Grade__c",
    );
    assert!(p.message.contains("valid values: A, B, C"), "{p:?}");
    let p = find(
        Code::NotUpdateable,
        "intents.qualified.writes[0].fields.LastActivityDate",
    );
    assert!(p.fix.contains("field-level security"), "{p:?}");
    let p = find(
        Code::TypeMismatch,
        "intents.qualified.writes[0].fields.Rating",
    );
    assert!(p.message.contains("argument \"when\" is datetime"), "{p:?}");
    let p = find(
        Code::UncheckedType,
        "intents.qualified.writes[0].fields.Description",
    );
    assert_eq!(p.severity, Severity::Warning);
    assert!(p.fix.contains("long_text"), "{p:?}");
    let p = find(
        Code::RequiredFieldMissing,
        "intents.new_deal.writes[0].fields",
    );
    assert!(
        p.message.contains("CloseDate, StageName") || p.message.contains("StageName, CloseDate"),
        "{p:?}"
    );
    let p = find(
        Code::MalformedId,
        "intents.new_deal.writes[0].fields.AccountId",
    );
    assert!(p.message.contains("record id"), "{p:?}");
    let p = find(Code::TypeMismatch, "intents.wrong_target.writes[0].record");
    assert!(p.fix.contains("last.Lead.Id"), "{p:?}");
    let p = find(Code::UnknownObject, "intents.ticket.writes[0].object");
    assert_eq!(p.fix, "use \"Support_Ticket_Note__c\"");
    find(Code::InvalidName, "intents.Bad-Name");
    // Every problem has a fix; errors come first.
    assert!(report.problems.iter().all(|p| !p.fix.is_empty()));
    assert_eq!(report.errors(), report.problems.len() - 1);
    assert_eq!(
        report.problems.last().map(|p| p.severity),
        Some(Severity::Warning)
    );

    match Active::activate(&conn, map).await {
        Err(Error::CheckFailed(r)) => assert_eq!(r.errors(), report.errors()),
        other => panic!("activated a broken map: {other:?}"),
    }
}

#[tokio::test]
async fn a_live_map_rechecked_after_a_field_is_deleted_reports_it_broke() {
    let r = org().await;
    let conn = connect(&r).await;
    let mut active = Active::activate(&conn, IntentMap::from_json(SEED).expect("map"))
        .await
        .expect("activates");
    let again = active.recheck(&conn).await.expect("recheck");
    assert!(!again.broke);

    // The same org after an admin deleted Opportunity.Demo_Requested_At__c.
    let mut schema: serde_json::Value =
        serde_json::from_str(include_str!("../../../devorg/schema/demo.json")).expect("demo");
    let opp = schema["fields"]["Opportunity"]
        .as_array_mut()
        .expect("opportunity fields");
    opp.retain(|f| f["name"] != "Demo_Requested_At__c");
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("schema.json");
    std::fs::write(&file, schema.to_string()).expect("write");
    let changed = super::org_with(callforce_devorg::Config {
        schema_file: Some(file),
        seed: callforce_devorg::Seed::None,
        ..Default::default()
    })
    .await;
    let after = active
        .recheck(&connect(&changed).await)
        .await
        .expect("recheck");
    assert!(after.broke);
    let p = &after.report.problems[0];
    assert_eq!(p.code, Code::UnknownField);
    assert_eq!(
        p.path,
        "intents.demo_requested.writes[0].fields.Demo_Requested_At__c"
    );
    // The active map keeps the describes it was checked with.
    assert!(active.report().ok);
}

#[tokio::test]
async fn a_picklist_constant_is_checked_against_the_write_record_type() {
    let r = org().await;
    let conn = connect(&r).await;
    let map = |rt: &str| {
        IntentMap::from_value(json!({
            "disqualified": {"object": "Lead", "record": {"var": "last.Lead.Id"}, "record_type": rt,
                             "fields": {"Status": {"const": "closed - not converted"}}}
        }))
        .expect("map")
    };
    // Inbound leads may be closed as not converted.
    let (report, _) = check_live(&conn, &map("Inbound")).await.expect("check");
    assert!(report.ok, "{:#?}", report.problems);
    // Partner leads may not: refused, with the record type's values and the fix.
    let (report, _) = check_live(&conn, &map("Partner")).await.expect("check");
    assert!(!report.ok);
    let p = &report.problems[0];
    assert_eq!(p.code, Code::InvalidPicklistValue);
    assert_eq!(p.path, "intents.disqualified.writes[0].fields.Status");
    assert!(
        p.message
            .starts_with("under record type Partner, Lead.Status does not take")
            && p.message.contains(
                "valid values: Open - Not Contacted, Working - Contacted, Closed - Converted"
            )
            && !p.message.contains("Closed - Not Converted;"),
        "{}",
        p.message
    );
    assert!(p.fix.contains("record type Partner offers"), "{}", p.fix);
    // The same map without a record type takes the object's full list.
    let mut plain = map("Partner");
    for i in plain.intents.values_mut() {
        i.writes[0].record_type = None;
    }
    assert!(check_live(&conn, &plain).await.expect("check").0.ok);

    let (report, _) = check_live(&conn, &map("Partners")).await.expect("check");
    let p = &report.problems[0];
    assert_eq!(p.code, Code::UnknownRecordType);
    assert_eq!(p.path, "intents.disqualified.writes[0].record_type");
    assert!(p.fix.contains("\"Partner\""), "{}", p.fix);
}
