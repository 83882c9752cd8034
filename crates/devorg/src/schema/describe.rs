//! Describe JSON rendered from the schema.
//!
//! Three shapes: the global describe (`GET /sobjects`), an object's basic info
//! (`GET /sobjects/{Type}`) and its full describe (`GET /sobjects/{Type}/describe`). Every
//! object and field carries every key a real org sends, in the alphabetical order it sends
//! them (`serde_json` keeps insertion order in this workspace).
//!
//! The full describe is large and clients ask for it often (jsforce and the connector's
//! pre-flight validation describe before writing), so [`Schema::describe_bytes`] renders it
//! once per object and API version and keeps the serialised bytes.

use std::collections::HashMap;

use axum::body::Bytes;
use callforce_types::ApiVersion;
use parking_lot::RwLock;
use serde_json::{Map, Value, json};

use super::{FieldDef, FieldType, ObjectDef, Schema, standard};

/// Rendered describes, keyed by lowercase object name and API version.
#[derive(Debug, Default)]
pub struct Cache {
    full: RwLock<HashMap<(String, u16), Bytes>>,
    global: RwLock<HashMap<u16, Bytes>>,
}

impl Schema {
    /// The full describe of `object` as JSON bytes, rendered once per object and version;
    /// `None` when there is no such object.
    pub fn describe_bytes(&self, object: &str, version: ApiVersion) -> Option<Bytes> {
        let o = self.object(object)?;
        let key = (o.name.to_ascii_lowercase(), version.0);
        if let Some(b) = self.describe_cache.full.read().get(&key) {
            return Some(b.clone());
        }
        let bytes = to_bytes(&sobject(o, version));
        self.describe_cache.full.write().insert(key, bytes.clone());
        Some(bytes)
    }

    /// The global describe as JSON bytes, rendered once per version.
    pub fn global_describe_bytes(&self, version: ApiVersion) -> Bytes {
        if let Some(b) = self.describe_cache.global.read().get(&version.0) {
            return b.clone();
        }
        let bytes = to_bytes(&global(self, version));
        self.describe_cache
            .global
            .write()
            .insert(version.0, bytes.clone());
        bytes
    }
}

fn to_bytes(v: &Value) -> Bytes {
    // Serialising a `Value` cannot fail (its map keys are strings).
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

/// Builds a JSON object from `(key, value)` pairs in the given order.
fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut m = Map::with_capacity(N);
    for (k, v) in pairs {
        m.insert(k.to_owned(), v);
    }
    Value::Object(m)
}

fn base_url(o: &ObjectDef, version: ApiVersion) -> String {
    format!("/services/data/{version}/sobjects/{}", o.name)
}

/// The global describe: `{encoding, maxBatchSize, sobjects}`, objects sorted by name.
pub fn global(schema: &Schema, version: ApiVersion) -> Value {
    let mut objects: Vec<_> = schema.objects().iter().collect();
    objects.sort_by_key(|o| o.name.to_ascii_lowercase());
    let sobjects: Vec<Value> = objects.iter().map(|o| basic(o, version)).collect();
    obj([
        ("encoding", json!("UTF-8")),
        ("maxBatchSize", json!(200)),
        ("sobjects", Value::Array(sobjects)),
    ])
}

/// An object's basic info (`GET /sobjects/{Type}`): `{objectDescribe, recentItems: []}`.
pub fn basic_info(o: &ObjectDef, version: ApiVersion) -> Value {
    obj([
        ("objectDescribe", basic(o, version)),
        ("recentItems", json!([])),
    ])
}

struct Traits {
    feed: bool,
    mergeable: bool,
    layoutable: bool,
}

fn traits(o: &ObjectDef) -> Traits {
    let n = o.name.as_str();
    let feed = o.custom
        || matches!(
            n,
            "Account"
                | "Contact"
                | "Lead"
                | "Opportunity"
                | "Case"
                | "Campaign"
                | "User"
                | "Product2"
                | "Task"
                | "Event"
        );
    let mergeable = matches!(n, "Account" | "Contact" | "Lead" | "Case");
    let layoutable = o.createable && !matches!(n, "ContentDocumentLink" | "ContentNote");
    Traits {
        feed,
        mergeable,
        layoutable,
    }
}

/// One entry of the global describe's `sobjects`, also the `objectDescribe` of basic info.
fn basic(o: &ObjectDef, version: ApiVersion) -> Value {
    let t = traits(o);
    let base = base_url(o, version);
    obj([
        ("activateable", json!(false)),
        ("associateEntityType", Value::Null),
        ("associateParentEntity", Value::Null),
        ("createable", json!(o.createable)),
        ("custom", json!(o.custom)),
        ("customSetting", json!(false)),
        ("deepCloneable", json!(false)),
        ("deletable", json!(o.deletable)),
        ("deprecatedAndHidden", json!(false)),
        ("feedEnabled", json!(t.feed)),
        ("hasSubtypes", json!(false)),
        ("isInterface", json!(false)),
        ("isSubtype", json!(false)),
        ("keyPrefix", json!(o.key_prefix.as_str())),
        ("label", json!(o.label)),
        ("labelPlural", json!(o.label_plural)),
        ("layoutable", json!(t.layoutable)),
        ("mergeable", json!(t.mergeable)),
        ("mruEnabled", json!(t.layoutable)),
        ("name", json!(o.name)),
        ("queryable", json!(o.queryable)),
        ("replicateable", json!(true)),
        ("retrieveable", json!(true)),
        ("searchable", json!(o.searchable)),
        ("triggerable", json!(true)),
        ("undeletable", json!(o.deletable)),
        ("updateable", json!(o.updateable)),
        (
            "urls",
            obj([
                ("rowTemplate", json!(format!("{base}/{{ID}}"))),
                (
                    "defaultValues",
                    json!(format!("{base}/defaultValues?recordTypeId&fields")),
                ),
                ("describe", json!(format!("{base}/describe"))),
                ("sobject", json!(base)),
            ]),
        ),
    ])
}

/// The id of the master record type, the same in every org.
pub const MASTER_RECORD_TYPE: &str = "012000000000000AAA";

/// The full describe of an object (`GET /sobjects/{Type}/describe`).
pub fn sobject(o: &ObjectDef, version: ApiVersion) -> Value {
    let t = traits(o);
    let base = base_url(o, version);
    let lower_plural = o.label_plural.to_lowercase();
    let owned = o.field("OwnerId").is_some();
    let mut scopes = vec![obj([
        ("label", json!(format!("All {lower_plural}"))),
        ("name", json!("everything")),
    ])];
    if owned {
        scopes.push(obj([
            ("label", json!(format!("My {lower_plural}"))),
            ("name", json!("mine")),
        ]));
    }
    if matches!(o.name.as_str(), "Account" | "Opportunity") {
        scopes.push(obj([
            ("label", json!(format!("My team's {lower_plural}"))),
            ("name", json!("team")),
        ]));
    }
    let record_type = |id: &str, name: &str, developer: &str, master: bool, default: bool| {
        obj([
            ("active", json!(true)),
            // NB: with record types of its own, the master is not offered to users.
            ("available", json!(!master || o.record_types.is_empty())),
            ("defaultRecordTypeMapping", json!(default)),
            ("developerName", json!(developer)),
            ("master", json!(master)),
            ("name", json!(name)),
            ("recordTypeId", json!(id)),
            (
                "urls",
                obj([("layout", json!(format!("{base}/describe/layouts/{id}")))]),
            ),
        ])
    };
    let record_types = if t.layoutable {
        let mut v: Vec<Value> = o
            .record_types
            .iter()
            .map(|r| record_type(r.id.as_str(), &r.name, &r.developer_name, false, r.default))
            .collect();
        let default_master = !o.record_types.iter().any(|r| r.default);
        v.push(record_type(
            MASTER_RECORD_TYPE,
            "Master",
            "Master",
            true,
            default_master,
        ));
        Value::Array(v)
    } else {
        json!([])
    };
    let children: Vec<Value> = o
        .child_relationships
        .iter()
        .map(|c| {
            obj([
                ("cascadeDelete", json!(c.cascade_delete)),
                ("childSObject", json!(c.child_object)),
                ("deprecatedAndHidden", json!(false)),
                ("field", json!(c.field)),
                ("junctionIdListNames", json!([])),
                ("junctionReferenceTo", json!([])),
                ("relationshipName", json!(c.relationship_name)),
                ("restrictedDelete", json!(false)),
            ])
        })
        .collect();
    let fields: Vec<Value> = o.live_fields().map(|(_, f)| field(o, f)).collect();
    obj([
        ("actionOverrides", json!([])),
        ("activateable", json!(false)),
        ("associateEntityType", Value::Null),
        ("associateParentEntity", Value::Null),
        ("childRelationships", Value::Array(children)),
        ("compactLayoutable", json!(t.layoutable)),
        ("createable", json!(o.createable)),
        ("custom", json!(o.custom)),
        ("customSetting", json!(false)),
        ("deepCloneable", json!(false)),
        ("defaultImplementation", Value::Null),
        ("deletable", json!(o.deletable)),
        ("deprecatedAndHidden", json!(false)),
        ("extendedBy", Value::Null),
        ("extendsInterfaces", Value::Null),
        ("feedEnabled", json!(t.feed)),
        ("fields", Value::Array(fields)),
        ("hasSubtypes", json!(false)),
        ("implementedBy", Value::Null),
        ("implementsInterfaces", Value::Null),
        ("isInterface", json!(false)),
        ("isSubtype", json!(false)),
        ("keyPrefix", json!(o.key_prefix.as_str())),
        ("label", json!(o.label)),
        ("labelPlural", json!(o.label_plural)),
        ("layoutable", json!(t.layoutable)),
        ("listviewable", Value::Null),
        ("lookupLayoutable", Value::Null),
        ("mergeable", json!(t.mergeable)),
        ("mruEnabled", json!(t.layoutable)),
        ("name", json!(o.name)),
        ("namedLayoutInfos", json!([])),
        ("networkScopeFieldName", Value::Null),
        ("queryable", json!(o.queryable)),
        ("recordTypeInfos", record_types),
        ("replicateable", json!(true)),
        ("retrieveable", json!(true)),
        ("searchLayoutable", json!(o.searchable)),
        ("searchable", json!(o.searchable)),
        ("sobjectDescribeOption", json!("FULL")),
        ("supportedScopes", Value::Array(scopes)),
        ("triggerable", json!(true)),
        ("undeletable", json!(o.deletable)),
        ("updateable", json!(o.updateable)),
        (
            "urls",
            obj([
                (
                    "compactLayouts",
                    json!(format!("{base}/describe/compactLayouts")),
                ),
                ("rowTemplate", json!(format!("{base}/{{ID}}"))),
                (
                    "approvalLayouts",
                    json!(format!("{base}/describe/approvalLayouts")),
                ),
                (
                    "defaultValues",
                    json!(format!("{base}/defaultValues?recordTypeId&fields")),
                ),
                ("listviews", json!(format!("{base}/listviews"))),
                ("describe", json!(format!("{base}/describe"))),
                ("quickActions", json!(format!("{base}/quickActions"))),
                ("layouts", json!(format!("{base}/describe/layouts"))),
                ("sobject", json!(base)),
            ]),
        ),
    ])
}

/// The SOAP type describe reports for a field type.
pub fn soap_type(ty: FieldType) -> &'static str {
    use FieldType as T;
    match ty {
        T::Id | T::Reference => "tns:ID",
        T::String
        | T::TextArea
        | T::Email
        | T::Phone
        | T::Url
        | T::Picklist
        | T::MultiPicklist
        | T::Combobox => "xsd:string",
        T::Boolean => "xsd:boolean",
        T::Int => "xsd:int",
        T::Double | T::Currency | T::Percent => "xsd:double",
        T::Date => "xsd:date",
        T::DateTime => "xsd:dateTime",
        T::Time => "xsd:time",
        T::Base64 => "xsd:base64Binary",
        T::Address => "urn:address",
    }
}

/// The `type` string describe reports (`string`, `datetime`, `reference`...).
pub fn type_name(ty: FieldType) -> String {
    match serde_json::to_value(ty) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

/// One field's describe entry, with every key a real org sends.
pub fn field(o: &ObjectDef, f: &FieldDef) -> Value {
    use FieldType as T;
    let text = matches!(
        f.ty,
        T::String
            | T::TextArea
            | T::Email
            | T::Phone
            | T::Url
            | T::Picklist
            | T::MultiPicklist
            | T::Combobox
    );
    let byte_length = match f.ty {
        T::Id | T::Reference => f.length,
        _ if text => f.length * 3,
        _ => 0,
    };
    let long_text = f.ty == T::TextArea && f.length > 255;
    let filterable = !long_text && !matches!(f.ty, T::Base64 | T::Address);
    let sortable = filterable && f.ty != T::MultiPicklist;
    let groupable = filterable
        && !matches!(
            f.ty,
            T::Double | T::Currency | T::Percent | T::DateTime | T::Time | T::MultiPicklist
        );
    let aggregatable = filterable && !matches!(f.ty, T::Boolean | T::MultiPicklist);
    let numeric = matches!(f.ty, T::Double | T::Currency | T::Percent);
    let (digits, precision, scale) = match f.ty {
        T::Int => (f.precision, 0, 0),
        _ if numeric => (0, f.precision, f.scale),
        _ => (0, 0, 0),
    };
    let id_lookup = f.name == "Id"
        || f.external_id
        || f.auto_number
        || f.name == "Username"
        || (f.ty == T::Email && f.name == "Email")
        || (f.name_field && f.ty == T::String && f.createable);
    let person_name = o.field("FirstName").is_some()
        && (f.compound_field_name.as_deref() == Some("Name") || (f.name == "Name" && f.name_field));
    let extra = if f.ty == T::TextArea {
        Some(if f.html_formatted {
            "richtextarea"
        } else {
            "plaintextarea"
        })
    } else if person_name && !f.calculated {
        Some("personname")
    } else {
        None
    };
    let picklist_like = matches!(f.ty, T::Picklist | T::MultiPicklist | T::Combobox);
    let default_value = if picklist_like {
        Value::Null
    } else {
        f.default_value.clone().unwrap_or(Value::Null)
    };
    let picklist_values: Vec<Value> = f
        .picklist
        .iter()
        .map(|p| {
            obj([
                ("active", json!(true)),
                ("defaultValue", json!(p.default)),
                ("label", json!(p.label)),
                ("validFor", Value::Null),
                ("value", json!(p.value)),
            ])
        })
        .collect();
    let cascade = f.ty == T::Reference
        && (standard::cascade_delete(&o.name, &f.name) || (f.custom && !f.nillable));
    let permissionable =
        (f.nillable || f.ty == T::Boolean) && (f.createable || f.updateable) && !f.name_field;
    obj([
        ("aggregatable", json!(aggregatable)),
        ("aiPredictionField", json!(false)),
        ("autoNumber", json!(f.auto_number)),
        ("byteLength", json!(byte_length)),
        ("calculated", json!(f.calculated)),
        ("calculatedFormula", Value::Null),
        ("cascadeDelete", json!(cascade)),
        ("caseSensitive", json!(f.case_sensitive)),
        ("compoundFieldName", json!(f.compound_field_name)),
        ("controllerName", Value::Null),
        ("createable", json!(f.createable)),
        ("custom", json!(f.custom)),
        ("defaultValue", default_value),
        ("defaultValueFormula", Value::Null),
        ("defaultedOnCreate", json!(f.defaulted_on_create)),
        ("dependentPicklist", json!(false)),
        ("deprecatedAndHidden", json!(false)),
        ("digits", json!(digits)),
        ("displayLocationInDecimal", json!(false)),
        ("encrypted", json!(false)),
        ("externalId", json!(f.external_id)),
        ("extraTypeInfo", json!(extra)),
        ("filterable", json!(filterable)),
        ("filteredLookupInfo", Value::Null),
        ("formulaTreatNullNumberAsZero", json!(false)),
        ("groupable", json!(groupable)),
        ("highScaleNumber", json!(false)),
        ("htmlFormatted", json!(f.html_formatted)),
        ("idLookup", json!(id_lookup)),
        ("inlineHelpText", Value::Null),
        ("label", json!(f.label)),
        (
            "length",
            json!(if text || matches!(f.ty, T::Id | T::Reference) {
                f.length
            } else {
                0
            }),
        ),
        ("mask", Value::Null),
        ("maskType", Value::Null),
        ("name", json!(f.name)),
        ("nameField", json!(f.name_field)),
        ("namePointing", json!(f.polymorphic())),
        ("nillable", json!(f.nillable)),
        ("permissionable", json!(permissionable)),
        ("picklistValues", Value::Array(picklist_values)),
        ("polymorphicForeignKey", json!(f.polymorphic())),
        ("precision", json!(precision)),
        ("queryByDistance", json!(false)),
        ("referenceTargetField", Value::Null),
        ("referenceTo", json!(f.reference_to)),
        ("relationshipName", json!(f.relationship_name)),
        ("relationshipOrder", Value::Null),
        ("restrictedDelete", json!(false)),
        ("restrictedPicklist", json!(f.restricted_picklist)),
        ("scale", json!(scale)),
        ("searchPrefilterable", json!(f.ty == T::Reference)),
        ("soapType", json!(soap_type(f.ty))),
        ("sortable", json!(sortable)),
        ("type", json!(type_name(f.ty))),
        ("unique", json!(f.unique)),
        ("updateable", json!(f.updateable)),
        ("writeRequiresMasterRead", json!(false)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::standard::standard_objects;

    fn schema() -> Schema {
        Schema::new(standard_objects())
    }

    fn field_json(s: &Schema, object: &str, field: &str) -> Value {
        let o = s.object(object).expect("object");
        super::field(o, o.field(field).expect("field"))
    }

    /// Joins JSON objects (the literals are split to stay under the macro recursion limit).
    fn join(parts: &[Value]) -> Value {
        let mut m = Map::new();
        for p in parts {
            m.extend(p.as_object().expect("object").clone());
        }
        Value::Object(m)
    }

    #[test]
    fn contact_last_name_exact() {
        let want = join(&[
            json!({
            "aggregatable": true, "aiPredictionField": false, "autoNumber": false,
            "byteLength": 240, "calculated": false, "calculatedFormula": null,
            "cascadeDelete": false, "caseSensitive": false, "compoundFieldName": "Name",
            "controllerName": null, "createable": true, "custom": false, "defaultValue": null,
            "defaultValueFormula": null, "defaultedOnCreate": false, "dependentPicklist": false,
            "deprecatedAndHidden": false, "digits": 0, "displayLocationInDecimal": false,
            "encrypted": false, "externalId": false, "extraTypeInfo": "personname",
            "filterable": true, "filteredLookupInfo": null, "formulaTreatNullNumberAsZero": false,
            "groupable": true, "highScaleNumber": false, "htmlFormatted": false}),
            json!({
                "idLookup": false, "inlineHelpText": null, "label": "Last Name", "length": 80,
                "mask": null, "maskType": null, "name": "LastName", "nameField": false,
                "namePointing": false, "nillable": false, "permissionable": false,
                "picklistValues": [], "polymorphicForeignKey": false, "precision": 0,
                "queryByDistance": false, "referenceTargetField": null, "referenceTo": [],
                "relationshipName": null, "relationshipOrder": null, "restrictedDelete": false,
                "restrictedPicklist": false, "scale": 0, "searchPrefilterable": false,
                "soapType": "xsd:string", "sortable": true, "type": "string", "unique": false,
                "updateable": true, "writeRequiresMasterRead": false
            }),
        ]);
        let got = field_json(&schema(), "Contact", "LastName");
        assert_eq!(got, want);
        // Keys come out in alphabetical order, as a real org sends them.
        let keys: Vec<&String> = got.as_object().expect("object").keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn opportunity_stage_name_exact() {
        let s = schema();
        let got = field_json(&s, "Opportunity", "StageName");
        let values: Vec<Value> = standard::STAGES
            .iter()
            .map(|(v, _)| json!({"active": true, "defaultValue": false, "label": v, "validFor": null, "value": v}))
            .collect();
        let want = join(&[
            json!({
            "aggregatable": true, "aiPredictionField": false, "autoNumber": false,
            "byteLength": 765, "calculated": false, "calculatedFormula": null,
            "cascadeDelete": false, "caseSensitive": false, "compoundFieldName": null,
            "controllerName": null, "createable": true, "custom": false, "defaultValue": null,
            "defaultValueFormula": null, "defaultedOnCreate": false, "dependentPicklist": false,
            "deprecatedAndHidden": false, "digits": 0, "displayLocationInDecimal": false,
            "encrypted": false, "externalId": false, "extraTypeInfo": null,
            "filterable": true, "filteredLookupInfo": null, "formulaTreatNullNumberAsZero": false,
            "groupable": true, "highScaleNumber": false, "htmlFormatted": false}),
            json!({
                "idLookup": false, "inlineHelpText": null, "label": "Stage", "length": 255,
                "mask": null, "maskType": null, "name": "StageName", "nameField": false,
                "namePointing": false, "nillable": false, "permissionable": false,
                "picklistValues": values, "polymorphicForeignKey": false, "precision": 0,
                "queryByDistance": false, "referenceTargetField": null, "referenceTo": [],
                "relationshipName": null, "relationshipOrder": null, "restrictedDelete": false,
                "restrictedPicklist": false, "scale": 0, "searchPrefilterable": false,
                "soapType": "xsd:string", "sortable": true, "type": "picklist", "unique": false,
                "updateable": true, "writeRequiresMasterRead": false
            }),
        ]);
        assert_eq!(got, want);
    }

    #[test]
    fn field_values_table() {
        let s = schema();
        // (object, field, key, expected)
        let cases: &[(&str, &str, &str, Value)] = &[
            ("Account", "Id", "soapType", json!("tns:ID")),
            ("Account", "Id", "type", json!("id")),
            ("Account", "Id", "idLookup", json!(true)),
            ("Account", "Id", "byteLength", json!(18)),
            ("Account", "Id", "defaultedOnCreate", json!(true)),
            ("Contact", "AccountId", "referenceTo", json!(["Account"])),
            ("Contact", "AccountId", "relationshipName", json!("Account")),
            ("Contact", "AccountId", "soapType", json!("tns:ID")),
            ("Contact", "OwnerId", "defaultedOnCreate", json!(true)),
            ("Contact", "OwnerId", "nillable", json!(false)),
            ("Contact", "Email", "type", json!("email")),
            ("Contact", "Email", "length", json!(80)),
            (
                "Contact",
                "MailingAddress",
                "soapType",
                json!("urn:address"),
            ),
            ("Contact", "MailingAddress", "type", json!("address")),
            ("Contact", "MailingAddress", "createable", json!(false)),
            ("Contact", "DoNotCall", "soapType", json!("xsd:boolean")),
            ("Contact", "DoNotCall", "defaultValue", json!(false)),
            ("Contact", "Birthdate", "soapType", json!("xsd:date")),
            (
                "Contact",
                "Description",
                "extraTypeInfo",
                json!("plaintextarea"),
            ),
            ("Contact", "Description", "filterable", json!(false)),
            ("Contact", "Name", "nameField", json!(true)),
            ("Account", "NumberOfEmployees", "soapType", json!("xsd:int")),
            ("Account", "NumberOfEmployees", "digits", json!(8)),
            ("Account", "AnnualRevenue", "soapType", json!("xsd:double")),
            ("Account", "AnnualRevenue", "type", json!("currency")),
            ("Opportunity", "CloseDate", "type", json!("date")),
            ("Opportunity", "CloseDate", "nillable", json!(false)),
            ("Opportunity", "Amount", "precision", json!(18)),
            ("Opportunity", "Amount", "scale", json!(2)),
            ("Opportunity", "Probability", "type", json!("percent")),
            (
                "Opportunity",
                "ForecastCategoryName",
                "restrictedPicklist",
                json!(true),
            ),
            (
                "Opportunity",
                "ForecastCategoryName",
                "defaultedOnCreate",
                json!(true),
            ),
            (
                "Opportunity",
                "CreatedDate",
                "soapType",
                json!("xsd:dateTime"),
            ),
            ("Case", "CaseNumber", "autoNumber", json!(true)),
            ("Case", "CaseNumber", "createable", json!(false)),
            ("Case", "CaseNumber", "idLookup", json!(true)),
            ("Case", "OwnerId", "polymorphicForeignKey", json!(true)),
            ("Task", "WhatId", "polymorphicForeignKey", json!(true)),
            ("Task", "WhatId", "namePointing", json!(true)),
            ("Task", "WhoId", "referenceTo", json!(["Contact", "Lead"])),
            ("Task", "Subject", "type", json!("combobox")),
            (
                "ContentNote",
                "Content",
                "soapType",
                json!("xsd:base64Binary"),
            ),
            ("ContentNote", "Content", "type", json!("base64")),
            (
                "OpportunityLineItem",
                "OpportunityId",
                "cascadeDelete",
                json!(true),
            ),
        ];
        for (object, field, key, want) in cases {
            let got = field_json(&s, object, field);
            assert_eq!(&got[*key], want, "{object}.{field}.{key}");
        }
    }

    #[test]
    fn every_field_has_every_key() {
        let s = schema();
        let want = field_json(&s, "Contact", "LastName");
        let keys: Vec<&String> = want.as_object().expect("object").keys().collect();
        const REAL_ORG_KEYS: &str = "aggregatable aiPredictionField autoNumber byteLength calculated calculatedFormula cascadeDelete caseSensitive compoundFieldName controllerName createable custom defaultValue defaultValueFormula defaultedOnCreate dependentPicklist deprecatedAndHidden digits displayLocationInDecimal encrypted externalId extraTypeInfo filterable filteredLookupInfo formulaTreatNullNumberAsZero groupable highScaleNumber htmlFormatted idLookup inlineHelpText label length mask maskType name nameField namePointing nillable permissionable picklistValues polymorphicForeignKey precision queryByDistance referenceTargetField referenceTo relationshipName relationshipOrder restrictedDelete restrictedPicklist scale searchPrefilterable soapType sortable type unique updateable writeRequiresMasterRead";
        assert_eq!(keys, REAL_ORG_KEYS.split(' ').collect::<Vec<_>>());
        for o in s.objects() {
            for f in &o.fields {
                let got = super::field(o, f);
                let got_keys: Vec<&String> = got.as_object().expect("object").keys().collect();
                assert_eq!(got_keys, keys, "{}.{}", o.name, f.name);
            }
        }
    }

    #[test]
    fn sobject_describe_keys_and_child_relationships() {
        let s = schema();
        let d = sobject(s.object("Account").expect("Account"), ApiVersion(59));
        let keys: Vec<&str> = d
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "actionOverrides",
                "activateable",
                "associateEntityType",
                "associateParentEntity",
                "childRelationships",
                "compactLayoutable",
                "createable",
                "custom",
                "customSetting",
                "deepCloneable",
                "defaultImplementation",
                "deletable",
                "deprecatedAndHidden",
                "extendedBy",
                "extendsInterfaces",
                "feedEnabled",
                "fields",
                "hasSubtypes",
                "implementedBy",
                "implementsInterfaces",
                "isInterface",
                "isSubtype",
                "keyPrefix",
                "label",
                "labelPlural",
                "layoutable",
                "listviewable",
                "lookupLayoutable",
                "mergeable",
                "mruEnabled",
                "name",
                "namedLayoutInfos",
                "networkScopeFieldName",
                "queryable",
                "recordTypeInfos",
                "replicateable",
                "retrieveable",
                "searchLayoutable",
                "searchable",
                "sobjectDescribeOption",
                "supportedScopes",
                "triggerable",
                "undeletable",
                "updateable",
                "urls",
            ]
        );
        let contacts = d["childRelationships"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["relationshipName"] == "Contacts"))
            .expect("Contacts");
        assert_eq!(
            contacts,
            &json!({"cascadeDelete": false, "childSObject": "Contact", "deprecatedAndHidden": false,
                    "field": "AccountId", "junctionIdListNames": [], "junctionReferenceTo": [],
                    "relationshipName": "Contacts", "restrictedDelete": false})
        );
        assert_eq!(d["keyPrefix"], "001");
        assert_eq!(
            d["urls"]["rowTemplate"],
            "/services/data/v59.0/sobjects/Account/{ID}"
        );
    }

    #[test]
    fn describe_bytes_are_cached_per_version() {
        let s = schema();
        let a = s
            .describe_bytes("account", ApiVersion(59))
            .expect("Account");
        let b = s
            .describe_bytes("Account", ApiVersion(59))
            .expect("Account");
        // The same buffer is handed out again, not re-rendered.
        assert_eq!(a.as_ptr(), b.as_ptr());
        let c = s
            .describe_bytes("Account", ApiVersion(60))
            .expect("Account");
        assert_ne!(a, c);
        assert!(s.describe_bytes("Nope", ApiVersion(59)).is_none());
        let v: Value = serde_json::from_slice(&a).expect("json");
        assert_eq!(v["name"], "Account");
    }
}
