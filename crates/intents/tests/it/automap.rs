//! Auto-mapping the demo schema's custom fields.

use std::collections::BTreeMap;

use callforce_intents::automap::normalise;
use callforce_intents::{Describes, VarDecl, VarType, automap, check};

use super::{connect, org};

/// Objects of the demo schema with custom fields.
const OBJECTS: &[&str] = &[
    "Account",
    "Contact",
    "Lead",
    "Opportunity",
    "Case",
    "Task",
    "Event",
    "Campaign",
    "CampaignMember",
    "Product2",
    "OpportunityLineItem",
    "Service_Contract__c",
    "Call_Recording__c",
    "Support_Ticket_Note__c",
];

fn decl(ty: &str, object: Option<&str>) -> VarDecl {
    VarDecl {
        ty: ty.parse().expect("type"),
        object: object.map(str::to_owned),
        description: None,
    }
}

#[tokio::test]
async fn every_writable_custom_field_of_the_demo_schema_is_auto_mapped_and_checked() {
    let r = org().await;
    let conn = connect(&r).await;
    let d = Describes::fetch(&conn, OBJECTS.iter().copied())
        .await
        .expect("describes");
    // Per object, one typed variable per writable custom field, named after its label (as an
    // agent designer would name it).
    let mut combined = callforce_intents::IntentMap::default();
    let mut total = 0;
    for o in OBJECTS {
        let obj = d.object(o).expect("described");
        let mut variables = BTreeMap::new();
        let mut expected = BTreeMap::new();
        for f in obj
            .fields
            .iter()
            .filter(|f| f.name.ends_with("__c") && f.updateable)
        {
            let Some(ty) = VarType::of_field(&f.type_, &f.reference_to) else {
                continue;
            };
            let name = normalise(&f.label);
            variables.insert(
                name.clone(),
                VarDecl {
                    ty,
                    object: None,
                    description: None,
                },
            );
            expected.insert(name, f.name.clone());
        }
        let p = automap(&variables, &[o], &d);
        assert!(p.unmapped.is_empty(), "{o} unmapped: {:#?}", p.unmapped);
        assert_eq!(p.mapped.len(), expected.len(), "{o}");
        for m in &p.mapped {
            assert_eq!(&m.object, &obj.name);
            assert_eq!(&m.field, &expected[&m.variable], "{o}: {}", m.variable);
        }
        total += p.mapped.len();
        for (k, v) in p.to_map(&variables).intents {
            combined.intents.insert(format!("{}_{k}", normalise(o)), v);
        }
    }
    assert!(total >= 200, "only {total} custom fields");
    // The proposals, as one map, pass the check.
    assert_eq!(combined.field_count(), total);
    let report = check(&combined, &d);
    assert!(report.ok, "{:#?}", report.problems);
    assert_eq!(report.fields, total);
}

#[tokio::test]
async fn typed_variables_find_their_fields_by_name_and_label_and_misses_say_why() {
    let r = org().await;
    let conn = connect(&r).await;
    let d = Describes::fetch(&conn, OBJECTS.iter().copied())
        .await
        .expect("describes");
    let mut vars = BTreeMap::new();
    for (name, ty, object) in [
        ("demo_requested", "datetime", Some("Opportunity")),
        ("lead_score", "percent", None),
        ("billing_email", "email", Some("Account")),
        ("churnRisk", "percent", Some("Account")),
        ("call_recording_url", "url", Some("Call_Recording__c")),
        (
            "contract_monthly_fee",
            "currency",
            Some("Service_Contract__c"),
        ),
        ("lead_status", "picklist", Some("Lead")),
        ("consent_captured_at", "datetime", Some("Contact")),
        // Misses:
        ("demo_requested_flag", "boolean", Some("Opportunity")),
        ("favourite_colour", "text", Some("Lead")),
        ("sentiment", "picklist", None),
        ("nothing_here", "text", Some("No_Such_Object__c")),
    ] {
        vars.insert(name.to_owned(), decl(ty, object));
    }
    let p = automap(&vars, &["Lead", "Case", "Opportunity"], &d);
    let got: BTreeMap<&str, String> = p
        .mapped
        .iter()
        .map(|m| (m.variable.as_str(), format!("{}.{}", m.object, m.field)))
        .collect();
    for (var, want) in [
        ("demo_requested", "Opportunity.Demo_Requested_At__c"),
        ("lead_score", "Lead.Lead_Score__c"),
        ("billing_email", "Account.Billing_Email__c"),
        ("churnRisk", "Account.Churn_Risk__c"),
        ("call_recording_url", "Call_Recording__c.Recording_Url__c"),
        ("contract_monthly_fee", "Service_Contract__c.Monthly_Fee__c"),
        ("lead_status", "Lead.Status"),
        ("consent_captured_at", "Contact.Consent_Captured_At__c"),
    ] {
        assert_eq!(
            got.get(var).map(String::as_str),
            Some(want),
            "{var}: {p:#?}"
        );
    }
    let why: BTreeMap<&str, &str> = p
        .unmapped
        .iter()
        .map(|u| (u.variable.as_str(), u.reason.as_str()))
        .collect();
    assert_eq!(why.len(), 4, "{why:#?}");
    assert!(
        why["demo_requested_flag"].contains("Demo_Requested_At__c"),
        "{why:#?}"
    );
    assert!(
        why["demo_requested_flag"].contains("datetime field"),
        "{why:#?}"
    );
    assert!(
        why["favourite_colour"].contains("no field name is close enough"),
        "{why:#?}"
    );
    assert!(why["sentiment"].contains("match equally"), "{why:#?}");
    assert!(
        why["nothing_here"].contains("none of the objects"),
        "{why:#?}"
    );
}
