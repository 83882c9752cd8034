//! Store tests over a small schema built here (Account, Contact, Case, Opportunity, User).

use std::sync::Arc;

use callforce_types::{Id, KeyPrefix};
use serde_json::{Map, Value as J, json};

use super::*;
use crate::schema::{FieldDef, FieldType, ObjectDef, PicklistValue, Schema};

fn system_fields() -> Vec<FieldDef> {
    let mut out = Vec::new();
    let mut is_deleted = FieldDef::new("IsDeleted", "Deleted", FieldType::Boolean);
    is_deleted.createable = false;
    is_deleted.updateable = false;
    is_deleted.nillable = false;
    out.push(is_deleted);
    for (n, l) in [
        ("CreatedDate", "Created Date"),
        ("LastModifiedDate", "Last Modified Date"),
        ("SystemModstamp", "System Modstamp"),
    ] {
        let mut f = FieldDef::new(n, l, FieldType::DateTime);
        f.createable = false;
        f.updateable = false;
        f.nillable = false;
        f.defaulted_on_create = true;
        out.push(f);
    }
    for (n, l, rel) in [
        ("CreatedById", "Created By ID", "CreatedBy"),
        ("LastModifiedById", "Last Modified By ID", "LastModifiedBy"),
    ] {
        let mut f = reference(n, l, "User", rel);
        f.createable = false;
        f.updateable = false;
        f.nillable = false;
        f.defaulted_on_create = true;
        out.push(f);
    }
    out
}

fn id_field(label: &str) -> FieldDef {
    let mut f = FieldDef::new("Id", label, FieldType::Id);
    f.createable = false;
    f.updateable = false;
    f.nillable = false;
    f.defaulted_on_create = true;
    f.length = 18;
    f
}

fn text(name: &str, label: &str, len: u32) -> FieldDef {
    let mut f = FieldDef::new(name, label, FieldType::String);
    f.length = len;
    f
}

fn reference(name: &str, label: &str, to: &str, rel: &str) -> FieldDef {
    let mut f = FieldDef::new(name, label, FieldType::Reference);
    f.reference_to = vec![to.into()];
    f.relationship_name = Some(rel.into());
    f.length = 18;
    f
}

fn owner() -> FieldDef {
    let mut f = reference("OwnerId", "Owner ID", "User", "Owner");
    f.nillable = false;
    f.defaulted_on_create = true;
    f
}

fn picklist(name: &str, label: &str, values: &[&str], restricted: bool) -> FieldDef {
    let mut f = FieldDef::new(name, label, FieldType::Picklist);
    f.length = 255;
    f.restricted_picklist = restricted;
    f.picklist = values
        .iter()
        .map(|v| PicklistValue {
            value: (*v).into(),
            label: (*v).into(),
            default: false,
        })
        .collect();
    f
}

fn address(prefix: &str, label: &str) -> Vec<FieldDef> {
    let compound = format!("{prefix}Address");
    let mut out = Vec::new();
    for (part, plabel, ty, len) in [
        ("Street", "Street", FieldType::TextArea, 255),
        ("City", "City", FieldType::String, 40),
        ("State", "State/Province", FieldType::String, 80),
        ("PostalCode", "Zip/Postal Code", FieldType::String, 20),
        ("Country", "Country", FieldType::String, 80),
    ] {
        let mut f = FieldDef::new(&format!("{prefix}{part}"), &format!("{label} {plabel}"), ty);
        f.length = len;
        f.compound_field_name = Some(compound.clone());
        out.push(f);
    }
    let mut a = FieldDef::new(&compound, &format!("{label} Address"), FieldType::Address);
    a.createable = false;
    a.updateable = false;
    out.push(a);
    out
}

/// A small schema with the features the store handles: compound name and address, system
/// fields, unique External ID, restricted picklist, auto-number, stage defaults, references.
pub(crate) fn test_schema() -> Schema {
    let mut account = vec![id_field("Account ID")];
    account.extend(system_fields());
    let mut name = text("Name", "Account Name", 255);
    name.nillable = false;
    name.name_field = true;
    account.push(name);
    account.push(picklist(
        "Type",
        "Account Type",
        &["Prospect", "Customer"],
        true,
    ));
    let mut phone = FieldDef::new("Phone", "Account Phone", FieldType::Phone);
    phone.length = 40;
    account.push(phone);
    account.push(reference(
        "ParentId",
        "Parent Account ID",
        "Account",
        "Parent",
    ));
    account.extend(address("Billing", "Billing"));
    let mut ext = text("External_Id__c", "External Id", 50);
    ext.external_id = true;
    ext.unique = true;
    account.push(ext);
    let mut num = FieldDef::new("NumberOfEmployees", "Employees", FieldType::Int);
    num.precision = 8;
    account.push(num);
    let mut rev = FieldDef::new("AnnualRevenue", "Annual Revenue", FieldType::Currency);
    rev.precision = 18;
    account.push(rev);
    account.push(owner());

    let mut contact = vec![id_field("Contact ID")];
    contact.extend(system_fields());
    let mut last = text("LastName", "Last Name", 80);
    last.nillable = false;
    last.compound_field_name = Some("Name".into());
    let mut first = text("FirstName", "First Name", 40);
    first.compound_field_name = Some("Name".into());
    let mut sal = picklist("Salutation", "Salutation", &["Mr.", "Ms."], false);
    sal.compound_field_name = Some("Name".into());
    let mut cname = text("Name", "Full Name", 121);
    cname.createable = false;
    cname.updateable = false;
    cname.name_field = true;
    contact.extend([last, first, sal, cname]);
    contact.push(reference("AccountId", "Account ID", "Account", "Account"));
    let mut email = FieldDef::new("Email", "Email", FieldType::Email);
    email.length = 80;
    contact.push(email);
    for (n, l) in [("Phone", "Business Phone"), ("MobilePhone", "Mobile Phone")] {
        let mut f = FieldDef::new(n, l, FieldType::Phone);
        f.length = 40;
        contact.push(f);
    }
    contact.push(FieldDef::new("Birthdate", "Birthdate", FieldType::Date));
    contact.push(FieldDef::new(
        "DoNotCall",
        "Do Not Call",
        FieldType::Boolean,
    ));
    contact.extend(address("Mailing", "Mailing"));
    contact.push(owner());

    let mut case = vec![id_field("Case ID")];
    case.extend(system_fields());
    let mut number = text("CaseNumber", "Case Number", 30);
    number.auto_number = true;
    number.createable = false;
    number.updateable = false;
    number.nillable = false;
    number.defaulted_on_create = true;
    number.name_field = true;
    case.push(number);
    case.push(text("Subject", "Subject", 255));
    let mut status = picklist("Status", "Status", &["New", "Working", "Closed"], false);
    status.picklist[0].default = true;
    case.push(status);
    case.push(reference("ContactId", "Contact ID", "Contact", "Contact"));
    case.push(reference("AccountId", "Account ID", "Account", "Account"));
    case.push(owner());

    let mut opp = vec![id_field("Opportunity ID")];
    opp.extend(system_fields());
    let mut oname = text("Name", "Name", 120);
    oname.nillable = false;
    oname.name_field = true;
    opp.push(oname);
    let mut stage = picklist(
        "StageName",
        "Stage",
        &["Prospecting", "Closed Won", "Closed Lost"],
        false,
    );
    stage.nillable = false;
    opp.push(stage);
    let mut close = FieldDef::new("CloseDate", "Close Date", FieldType::Date);
    close.nillable = false;
    opp.push(close);
    let mut prob = FieldDef::new("Probability", "Probability (%)", FieldType::Percent);
    prob.precision = 3;
    opp.push(prob);
    let mut fc = picklist(
        "ForecastCategoryName",
        "Forecast Category",
        &["Omitted", "Pipeline", "Best Case", "Commit", "Closed"],
        true,
    );
    fc.defaulted_on_create = true;
    opp.push(fc);
    for (n, l) in [("IsClosed", "Closed"), ("IsWon", "Won")] {
        let mut f = FieldDef::new(n, l, FieldType::Boolean);
        f.createable = false;
        f.updateable = false;
        opp.push(f);
    }
    opp.push(reference("AccountId", "Account ID", "Account", "Account"));
    opp.push(owner());

    let mut user = vec![id_field("User ID")];
    let mut uname = text("Username", "Username", 80);
    uname.unique = true;
    uname.nillable = false;
    user.push(uname);
    user.push(text("LastName", "Last Name", 80));

    let p = |s: &str| KeyPrefix::new(s).unwrap();
    let mut user = ObjectDef::new("User", "User", "Users", p("005"), user);
    user.createable = false;
    Schema::new(vec![
        ObjectDef::new("Account", "Account", "Accounts", p("001"), account),
        ObjectDef::new("Contact", "Contact", "Contacts", p("003"), contact),
        ObjectDef::new("Case", "Case", "Cases", p("500"), case),
        ObjectDef::new("Opportunity", "Opportunity", "Opportunities", p("006"), opp),
        user,
    ])
}

pub(crate) fn dev_user() -> Id {
    Id::mint(KeyPrefix::new("005").unwrap(), 1)
}

/// A store over [`test_schema`] holding the dev user.
pub(crate) fn store() -> Store {
    let s = Store::empty(Arc::new(test_schema()), dev_user());
    let mut txn = s.write();
    let t = txn.data().table_index("User").unwrap();
    let body = obj(json!({"Id": dev_user().as_str(), "Username": "dev@callforce.local"}));
    txn.create_trusted(t, &body).unwrap();
    txn.commit().unwrap();
    s
}

pub(crate) fn obj(v: J) -> Map<String, J> {
    match v {
        J::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn create(s: &Store, object: &str, body: J) -> Result<Id, crate::ApiError> {
    let mut txn = s.write();
    let t = txn.data().table_index(object).unwrap();
    let id = txn.create(t, &obj(body))?;
    txn.commit().unwrap();
    Ok(id)
}

fn update(s: &Store, object: &str, id: Id, body: J) -> Result<(), crate::ApiError> {
    let mut txn = s.write();
    let t = txn.data().table_index(object).unwrap();
    txn.update(t, id, &obj(body))?;
    txn.commit().unwrap();
    Ok(())
}

fn field(data: &Data, object: &str, id: Id, f: &str) -> J {
    let t = data.table(object).unwrap();
    let row = t.row_of(id).unwrap();
    t.field_json(row, t.def().field_index(f).unwrap())
}

#[test]
fn create_sets_system_fields_owner_and_compound_name() {
    let s = store();
    let id = create(
        &s,
        "Contact",
        json!({"FirstName": "Ada", "LastName": "Lovelace"}),
    )
    .unwrap();
    assert_eq!(id.key_prefix().as_str(), "003");
    let d = s.read();
    assert_eq!(field(&d, "Contact", id, "Name"), json!("Ada Lovelace"));
    assert_eq!(
        field(&d, "Contact", id, "OwnerId"),
        json!(dev_user().as_str())
    );
    assert_eq!(
        field(&d, "Contact", id, "CreatedById"),
        json!(dev_user().as_str())
    );
    assert_eq!(field(&d, "Contact", id, "IsDeleted"), json!(false));
    assert_eq!(field(&d, "Contact", id, "DoNotCall"), json!(false));
    let created = field(&d, "Contact", id, "CreatedDate");
    assert!(
        created.as_str().unwrap().ends_with(".000+0000")
            || created.as_str().unwrap().ends_with("+0000")
    );
    assert_eq!(created, field(&d, "Contact", id, "SystemModstamp"));
}

#[test]
fn required_fields_are_listed_together() {
    let s = store();
    let e = create(&s, "Opportunity", json!({})).unwrap_err();
    assert_eq!(e.code(), "REQUIRED_FIELD_MISSING");
    assert_eq!(
        e.errors[0].message,
        "Required fields are missing: [Name, StageName, CloseDate]"
    );
    assert_eq!(
        e.errors[0].fields.as_deref(),
        Some(&["Name".to_owned(), "StageName".into(), "CloseDate".into()][..])
    );
}

#[test]
fn opportunity_stage_sets_probability_forecast_and_closed() {
    let s = store();
    let id = create(
        &s,
        "Opportunity",
        json!({"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2030-01-01"}),
    )
    .unwrap();
    {
        let d = s.read();
        assert_eq!(field(&d, "Opportunity", id, "Probability"), json!(10.0));
        assert_eq!(
            field(&d, "Opportunity", id, "ForecastCategoryName"),
            json!("Pipeline")
        );
        assert_eq!(field(&d, "Opportunity", id, "IsClosed"), json!(false));
    }
    update(&s, "Opportunity", id, json!({"StageName": "Closed Won"})).unwrap();
    let d = s.read();
    assert_eq!(field(&d, "Opportunity", id, "Probability"), json!(100.0));
    assert_eq!(
        field(&d, "Opportunity", id, "ForecastCategoryName"),
        json!("Closed")
    );
    assert_eq!(field(&d, "Opportunity", id, "IsClosed"), json!(true));
    assert_eq!(field(&d, "Opportunity", id, "IsWon"), json!(true));
}

#[test]
fn case_numbers_count_up_with_eight_digits_and_status_defaults() {
    let s = store();
    let a = create(&s, "Case", json!({"Subject": "a"})).unwrap();
    let b = create(&s, "Case", json!({"Subject": "b"})).unwrap();
    let d = s.read();
    assert_eq!(field(&d, "Case", a, "CaseNumber"), json!("00001000"));
    assert_eq!(field(&d, "Case", b, "CaseNumber"), json!("00001001"));
    assert_eq!(field(&d, "Case", a, "Status"), json!("New"));
}

#[test]
fn phone_index_follows_updates() {
    let s = store();
    let id = create(
        &s,
        "Contact",
        json!({"LastName": "P", "Phone": "+1 (555) 123-4567"}),
    )
    .unwrap();
    let phone = s
        .read()
        .table("Contact")
        .unwrap()
        .def()
        .field_index("Phone")
        .unwrap();
    {
        let d = s.read();
        let t = d.table("Contact").unwrap();
        for q in [
            "5551234567",
            "(555) 123-4567",
            "555.123.4567",
            "+15551234567",
        ] {
            assert_eq!(t.lookup(phone, q).unwrap(), &[t.row_of(id).unwrap()], "{q}");
        }
    }
    update(&s, "Contact", id, json!({"Phone": "555-999-0000"})).unwrap();
    let d = s.read();
    let t = d.table("Contact").unwrap();
    assert!(t.lookup(phone, "5551234567").unwrap().is_empty());
    assert_eq!(t.lookup(phone, "(555) 999-0000").unwrap().len(), 1);
}

#[test]
fn email_name_and_reference_indexes() {
    let s = store();
    let acc = create(&s, "Account", json!({"Name": "Acme Corp"})).unwrap();
    let c = create(
        &s,
        "Contact",
        json!({"LastName": "Smith", "FirstName": "Jo", "Email": "Jo@Example.com", "AccountId": acc}),
    )
    .unwrap();
    let d = s.read();
    let t = d.table("Contact").unwrap();
    let row = t.row_of(c).unwrap();
    let email = t.def().field_index("Email").unwrap();
    let name = t.def().field_index("Name").unwrap();
    let account = t.def().field_index("AccountId").unwrap();
    assert_eq!(t.lookup(email, "jo@example.COM").unwrap(), &[row]);
    assert_eq!(t.lookup(name, "jo smith").unwrap(), &[row]);
    assert_eq!(t.children(account, acc), &[row]);
    let a = d.table("Account").unwrap();
    assert_eq!(
        a.lookup(a.def().field_index("Name").unwrap(), "ACME corp")
            .unwrap()
            .len(),
        1
    );
    let (table, _, rec) = d.get(c).unwrap();
    assert_eq!((table.def().name.as_str(), rec.id()), ("Contact", c));
}

#[test]
fn validation_errors_table() {
    let s = store();
    let acc = create(&s, "Account", json!({"Name": "A", "External_Id__c": "X-1"})).unwrap();
    let deleted = create(&s, "Account", json!({"Name": "gone"})).unwrap();
    {
        let mut txn = s.write();
        let t = txn.data().table_index("Account").unwrap();
        txn.delete(t, deleted).unwrap();
        txn.commit().unwrap();
    }
    let missing = Id::mint(KeyPrefix::new("001").unwrap(), 999_999);
    let long = "x".repeat(81);
    let cases: Vec<(&str, J, &str, String)> = vec![
        ("Contact", json!({"LastName": "a", "Nope": 1}), "INVALID_FIELD", "No such column 'Nope' on sobject of type Contact".into()),
        ("Contact", json!({"LastName": long}), "STRING_TOO_LONG", format!("Last Name: data value too large: {long} (max length=80)")),
        ("Contact", json!({"LastName": "a", "Email": "nope"}), "INVALID_EMAIL_ADDRESS", "Email: invalid email address: nope".into()),
        ("Contact", json!({"LastName": "a", "Birthdate": "soon"}), "INVALID_TYPE_ON_FIELD_IN_RECORD", "Birthdate: value not of required type: soon".into()),
        ("Contact", json!({"LastName": "a", "AccountId": "001xx000003DGb2999"}), "MALFORMED_ID", "Account ID: id value of incorrect type: 001xx000003DGb2999".into()),
        ("Contact", json!({"LastName": "a", "AccountId": dev_user()}), "FIELD_INTEGRITY_EXCEPTION", format!("Account ID: id value of incorrect type: {}", dev_user())),
        ("Contact", json!({"LastName": "a", "AccountId": missing}), "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id".into()),
        ("Contact", json!({"LastName": "a", "AccountId": deleted}), "ENTITY_IS_DELETED", "entity is deleted".into()),
        ("Contact", json!({"LastName": "a", "Name": "x"}), "INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields: Name. Please check the security settings of this field and verify that it is read/write for your profile or permission set.".into()),
        ("Contact", json!({"LastName": "a", "Id": acc}), "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call".into()),
        ("Account", json!({"Name": "B", "Type": "Partner"}), "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Account Type: bad value for restricted picklist field: Partner".into()),
        ("Account", json!({"Name": "B", "External_Id__c": "x-1"}), "DUPLICATE_VALUE", format!("duplicate value found: External_Id__c duplicates value on record with id: {acc}")),
        ("Account", json!({"Name": "B", "NumberOfEmployees": 123_456_789}), "NUMBER_OUTSIDE_VALID_RANGE", "Employees: value outside of valid range on numeric field: 123456789".into()),
    ];
    for (object, body, code, message) in cases {
        let e = create(&s, object, body.clone()).unwrap_err();
        assert_eq!(
            (e.code(), e.errors[0].message.as_str()),
            (code, message.as_str()),
            "{body}"
        );
    }
    // Nothing partial was left behind by the failures.
    assert_eq!(s.read().table("Contact").unwrap().len(), 0);
}

#[test]
fn update_and_delete_of_deleted_records_say_entity_is_deleted() {
    let s = store();
    let id = create(&s, "Account", json!({"Name": "A"})).unwrap();
    let mut txn = s.write();
    let t = txn.data().table_index("Account").unwrap();
    txn.delete(t, id).unwrap();
    assert_eq!(txn.delete(t, id).unwrap_err().code(), "ENTITY_IS_DELETED");
    assert_eq!(
        txn.update(t, id, &obj(json!({"Name": "B"})))
            .unwrap_err()
            .status,
        axum::http::StatusCode::NOT_FOUND
    );
    txn.commit().unwrap();
    let d = s.read();
    let tb = d.table("Account").unwrap();
    assert_eq!(tb.live().count(), 0);
    assert_eq!(tb.rows().count(), 1);
    assert_eq!(field(&d, "Account", id, "IsDeleted"), json!(true));
}

#[test]
fn rollback_undoes_creates_updates_deletes_and_indexes() {
    let s = store();
    let id = create(
        &s,
        "Account",
        json!({"Name": "Keep", "Phone": "555 000 1111"}),
    )
    .unwrap();
    let before = s.read().table("Account").unwrap().clone();
    {
        let mut txn = s.write();
        let t = txn.data().table_index("Account").unwrap();
        txn.create(t, &obj(json!({"Name": "New", "Phone": "555 222 3333"})))
            .unwrap();
        txn.update(
            t,
            id,
            &obj(json!({"Name": "Changed", "Phone": "555 444 5555"})),
        )
        .unwrap();
        txn.delete(t, id).unwrap();
        // Dropped without commit.
    }
    let d = s.read();
    let t = d.table("Account").unwrap();
    assert_eq!(t.rows, before.rows);
    let phone = t.def().field_index("Phone").unwrap();
    assert_eq!(t.lookup(phone, "5550001111").unwrap().len(), 1);
    assert!(t.lookup(phone, "5552223333").unwrap().is_empty());
    assert!(t.lookup(phone, "5554445555").unwrap().is_empty());
    drop(d);
    // The id counter was rolled back too: the next id is the one the failed create took.
    let next = create(&s, "Account", json!({"Name": "Next"})).unwrap();
    assert_eq!(s.read().table("Account").unwrap().len(), 2);
    assert_ne!(next, id);
}

#[test]
fn savepoints_undo_only_what_followed() {
    let s = store();
    let mut txn = s.write();
    let t = txn.data().table_index("Account").unwrap();
    txn.create(t, &obj(json!({"Name": "one"}))).unwrap();
    let sp = txn.savepoint();
    txn.create(t, &obj(json!({"Name": "two"}))).unwrap();
    txn.rollback_to(sp);
    txn.commit().unwrap();
    let d = s.read();
    let names: Vec<J> = d
        .table("Account")
        .unwrap()
        .live()
        .map(|(r, _)| d.table("Account").unwrap().field_json(r, 7))
        .collect();
    assert_eq!(names, vec![json!("one")]);
}

#[test]
fn upsert_creates_updates_and_reports_multiple() {
    let s = store();
    let mut txn = s.write();
    let t = txn.data().table_index("Account").unwrap();
    let f = txn
        .data()
        .table("Account")
        .unwrap()
        .def()
        .field_index("External_Id__c")
        .unwrap();
    let created = txn
        .upsert(t, f, Some("K-1"), &obj(json!({"Name": "A"})))
        .unwrap();
    let Upserted::Created(id) = created else {
        panic!("{created:?}")
    };
    assert_eq!(
        txn.upsert(t, f, Some("k-1"), &obj(json!({"Name": "B"})))
            .unwrap(),
        Upserted::Updated(id)
    );
    let phone = txn
        .data()
        .table("Account")
        .unwrap()
        .def()
        .field_index("Phone")
        .unwrap();
    txn.create(t, &obj(json!({"Name": "C", "Phone": "555-1"})))
        .unwrap();
    txn.create(t, &obj(json!({"Name": "D", "Phone": "5551"})))
        .unwrap();
    // Phone is not an upsert key but matches() works on any indexed field.
    assert_eq!(txn.matches(t, phone, "(555) 1").len(), 2);
}

#[test]
fn journal_round_trip_restores_records_indexes_and_counters() {
    let dir = tempdir();
    let config = crate::Config {
        data_dir: Some(dir.clone()),
        seed: crate::Seed::None,
        ..crate::Config::default()
    };
    let schema = Arc::new(test_schema());
    let (a, c) = {
        let s = Store::open_with(schema.clone(), &config, dev_user(), false).unwrap();
        let a = create(
            &s,
            "Account",
            json!({"Name": "Acme", "BillingCity": "Paris"}),
        )
        .unwrap();
        let c = create(&s, "Case", json!({"Subject": "Broken", "AccountId": a})).unwrap();
        update(&s, "Account", a, json!({"Phone": "555-123-4567"})).unwrap();
        // A failed write leaves nothing in the journal.
        assert!(create(&s, "Account", json!({"Nope": 1})).is_err());
        (a, c)
    };
    let s = Store::open_with(schema, &config, dev_user(), false).unwrap();
    let d = s.read();
    assert_eq!(field(&d, "Account", a, "Name"), json!("Acme"));
    assert_eq!(
        field(&d, "Account", a, "BillingAddress"),
        json!({"city": "Paris", "country": null, "postalCode": null, "state": null, "street": null})
    );
    assert_eq!(field(&d, "Case", c, "CaseNumber"), json!("00001000"));
    let t = d.table("Account").unwrap();
    assert_eq!(
        t.lookup(t.def().field_index("Phone").unwrap(), "5551234567")
            .unwrap()
            .len(),
        1
    );
    drop(d);
    let a2 = create(&s, "Account", json!({"Name": "Second"})).unwrap();
    assert_ne!(a2, a);
    let c2 = create(&s, "Case", json!({"Subject": "again"})).unwrap();
    assert_eq!(
        field(&s.read(), "Case", c2, "CaseNumber"),
        json!("00001001")
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A fresh directory under the system temp dir.
pub(crate) fn tempdir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let p = std::env::temp_dir().join(format!(
        "callforce-store-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&p);
    p
}
