//! Custom objects and fields from a schema file.
//!
//! The file is JSON (the format is documented in `docs/devorg-schema.md`): custom objects with
//! their fields, and custom fields added to standard objects. It is checked thoroughly before
//! anything is added: every problem is a [`crate::Error::Schema`] naming the file and the
//! object and field concerned, so a typo never turns into a silently different org.
//!
//! Without a file the built-in demo schema (`crates/devorg/schema/demo.json`) is used.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use callforce_types::KeyPrefix;
use serde::Deserialize;
use serde_json::Value;

use super::standard::{self, Build, Owner};
use super::{FieldDef, FieldType, ObjectDef, PicklistValue};
use crate::{Error, Result};

/// The built-in demo schema, used when no schema file is given.
pub const DEMO_SCHEMA: &str = include_str!("../../schema/demo.json");

/// How the demo schema is named in error messages.
const DEMO_PATH: &str = "built-in demo schema";

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    objects: Vec<ObjectSpec>,
    /// Custom fields added to existing (standard) objects, by object name.
    #[serde(default)]
    fields: indexmap_like::OrderedMap<Vec<FieldSpec>>,
}

/// A custom object.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ObjectSpec {
    name: String,
    label: Option<String>,
    plural_label: Option<String>,
    key_prefix: Option<String>,
    #[serde(default)]
    name_field: NameFieldSpec,
    /// Whether tasks and events may be related to it (adds it to `WhatId`).
    #[serde(default)]
    allow_activities: bool,
    #[serde(default)]
    fields: Vec<FieldSpec>,
}

/// The `Name` field of a custom object: text (80) or an auto-number.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NameFieldSpec {
    #[serde(default = "default_name_label")]
    label: String,
    #[serde(default = "default_name_type", rename = "type")]
    ty: String,
}

impl Default for NameFieldSpec {
    fn default() -> Self {
        Self {
            label: default_name_label(),
            ty: default_name_type(),
        }
    }
}

fn default_name_label() -> String {
    "Name".into()
}

fn default_name_type() -> String {
    "string".into()
}

/// A custom field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FieldSpec {
    name: String,
    label: Option<String>,
    #[serde(rename = "type")]
    ty: String,
    length: Option<u32>,
    precision: Option<u32>,
    scale: Option<u32>,
    #[serde(default)]
    values: Vec<PicklistSpec>,
    #[serde(default)]
    restricted: bool,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    unique: bool,
    #[serde(default)]
    external_id: bool,
    #[serde(default)]
    case_sensitive: bool,
    #[serde(default)]
    html: bool,
    default: Option<Value>,
    reference_to: Option<OneOrMany>,
    relationship_name: Option<String>,
}

/// A picklist entry: a bare value, or `{value, label, default}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum PicklistSpec {
    Value(String),
    Full {
        value: String,
        label: Option<String>,
        #[serde(default)]
        default: bool,
    },
}

/// `"Account"` or `["Account", "Contact"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// A map that keeps the file's order (standard objects in the order they were written).
mod indexmap_like {
    use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

    /// Ordered `(key, value)` pairs.
    #[derive(Debug)]
    pub struct OrderedMap<V>(pub Vec<(String, V)>);

    impl<V> Default for OrderedMap<V> {
        fn default() -> Self {
            Self(Vec::new())
        }
    }

    impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V2<V>(std::marker::PhantomData<V>);
            impl<'de, V: Deserialize<'de>> Visitor<'de> for V2<V> {
                type Value = OrderedMap<V>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object of object name to field list")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                    let mut v = Vec::new();
                    while let Some((k, x)) = m.next_entry()? {
                        v.push((k, x));
                    }
                    Ok(OrderedMap(v))
                }
            }
            d.deserialize_map(V2(std::marker::PhantomData))
        }
    }
}

/// Adds the custom objects and fields of `file` (or of the built-in demo schema) to `objects`.
///
/// # Errors
/// [`crate::Error::Schema`] when the file cannot be read or is invalid.
pub fn extend(objects: &mut Vec<ObjectDef>, file: Option<&Path>) -> Result<()> {
    match file {
        Some(p) => {
            let path = p.display().to_string();
            let text = std::fs::read_to_string(p).map_err(|e| Error::Schema {
                path: path.clone(),
                message: format!("cannot read: {e}"),
            })?;
            extend_from_str(objects, &text, &path)
        }
        None => extend_from_str(objects, DEMO_SCHEMA, DEMO_PATH),
    }
}

/// Adds the custom objects and fields described by the JSON `text` to `objects`; `path`
/// names the source in errors.
///
/// # Errors
/// [`crate::Error::Schema`] when the text is not a valid schema.
pub fn extend_from_str(objects: &mut Vec<ObjectDef>, text: &str, path: &str) -> Result<()> {
    let err = |message: String| Error::Schema {
        path: path.to_owned(),
        message,
    };
    let file: File = serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
    apply(objects, file).map_err(err)
}

/// Checks the file against the objects already defined and adds it; the error names the
/// object and field.
fn apply(objects: &mut Vec<ObjectDef>, file: File) -> Result<(), String> {
    // Every object name (standard and new) first, so lookups may point forward.
    let mut known: HashSet<String> = objects
        .iter()
        .map(|o| o.name.to_ascii_lowercase())
        .collect();
    let mut prefixes: HashSet<KeyPrefix> = objects.iter().map(|o| o.key_prefix).collect();
    for spec in &file.objects {
        check_api_name(&spec.name, "__c").map_err(|m| format!("object '{}': {m}", spec.name))?;
        if !known.insert(spec.name.to_ascii_lowercase()) {
            return Err(format!("object '{}' is defined twice", spec.name));
        }
    }
    let mut next_prefix = 0u32;
    let mut new_objects = Vec::with_capacity(file.objects.len());
    for spec in &file.objects {
        let prefix = match &spec.key_prefix {
            Some(p) => {
                let kp = custom_prefix(p)
                    .ok_or_else(|| format!("object '{}': key prefix '{p}' is not a custom prefix (three letters or digits starting with 'a', such as a00)", spec.name))?;
                if !prefixes.insert(kp) {
                    return Err(format!(
                        "object '{}': key prefix '{p}' is already used",
                        spec.name
                    ));
                }
                kp
            }
            None => loop {
                let kp = nth_custom_prefix(next_prefix)
                    .ok_or_else(|| format!("object '{}': no custom key prefix left", spec.name))?;
                next_prefix += 1;
                if prefixes.insert(kp) {
                    break kp;
                }
            },
        };
        new_objects.push(custom_object(spec, prefix, &known)?);
    }
    for (object, specs) in &file.fields.0 {
        let Some(o) = objects
            .iter_mut()
            .find(|o| o.name.eq_ignore_ascii_case(object))
        else {
            let what = if known.contains(&object.to_ascii_lowercase()) {
                "is a custom object: declare its fields under objects"
            } else {
                "is not an object of the org"
            };
            return Err(format!("fields: '{object}' {what}"));
        };
        let name = o.name.clone();
        for spec in specs {
            let f = custom_field(&name, spec, &known)?;
            if o.field(&f.name).is_some() {
                return Err(format!("{name}.{}: field is defined twice", f.name));
            }
            o.fields.push(f);
            o.reindex();
        }
    }
    // Activities, notes and files may hang from custom objects.
    for spec in &file.objects {
        let targets: &[(&str, &str, bool)] = &[
            ("Task", "WhatId", spec.allow_activities),
            ("Event", "WhatId", spec.allow_activities),
            ("Note", "ParentId", true),
            ("ContentDocumentLink", "LinkedEntityId", true),
        ];
        for (object, field, add) in targets {
            if !add {
                continue;
            }
            if let Some(i) = objects.iter().position(|o| o.name == *object) {
                let o = &mut objects[i];
                if let Some(fi) = o.field_index(field) {
                    o.fields[fi].reference_to.push(spec.name.clone());
                }
            }
        }
    }
    objects.extend(new_objects);
    check_child_relationship_names(objects)
}

/// Fails when two lookups give one parent the same child relationship name.
fn check_child_relationship_names(objects: &[ObjectDef]) -> Result<(), String> {
    let mut seen: HashMap<(String, String), String> = HashMap::new();
    for o in objects {
        for f in o
            .fields
            .iter()
            .filter(|f| f.custom && f.ty == FieldType::Reference)
        {
            let rel = format!("{}__r", o.label_plural.replace(' ', "_"));
            for target in &f.reference_to {
                let key = (target.to_ascii_lowercase(), rel.to_ascii_lowercase());
                let here = format!("{}.{}", o.name, f.name);
                if let Some(prev) = seen.insert(key, here.clone()) {
                    return Err(format!(
                        "{here}: child relationship '{rel}' on {target} is already used by {prev}; \
                         one object may have only one custom lookup to a given parent"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Checks an API name: a letter, then letters, digits and single underscores, ending in
/// `suffix`.
fn check_api_name(name: &str, suffix: &str) -> Result<(), String> {
    let Some(stem) = name.strip_suffix(suffix) else {
        return Err(format!("the name must end with {suffix}"));
    };
    let ok = stem.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && stem.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !stem.contains("__")
        && !stem.ends_with('_')
        && stem.len() <= 40;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the name before {suffix} must start with a letter and hold only letters, digits and single underscores (at most 40)"
        ))
    }
}

/// A custom key prefix: three letters or digits starting with `a`.
fn custom_prefix(p: &str) -> Option<KeyPrefix> {
    p.starts_with('a').then(|| KeyPrefix::new(p)).flatten()
}

/// The `n`th custom prefix in the order an org issues them: a00..a09, a0A..a0Z, a0a..a0z, a10...
fn nth_custom_prefix(n: u32) -> Option<KeyPrefix> {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let base = DIGITS.len() as u32;
    if n >= base * base {
        return None;
    }
    let s = [
        b'a',
        DIGITS[(n / base) as usize],
        DIGITS[(n % base) as usize],
    ];
    KeyPrefix::new(std::str::from_utf8(&s).ok()?)
}

/// A label from an API name: `Customer_Tier__c` gives `Customer Tier`.
fn label_from(name: &str) -> String {
    name.trim_end_matches("__c").replace('_', " ")
}

fn custom_object(
    spec: &ObjectSpec,
    prefix: KeyPrefix,
    known: &HashSet<String>,
) -> Result<ObjectDef, String> {
    let label = spec.label.clone().unwrap_or_else(|| label_from(&spec.name));
    let plural = spec
        .plural_label
        .clone()
        .unwrap_or_else(|| format!("{label}s"));
    let name_field = match spec.name_field.ty.as_str() {
        "string" => standard::string("Name", &spec.name_field.label, 80).not_null(),
        "autonumber" => standard::string("Name", &spec.name_field.label, 30).auto_number(),
        other => {
            return Err(format!(
                "object '{}': name field type '{other}' is not one of string, autonumber",
                spec.name
            ));
        }
    }
    .name_field();
    let mut fields = vec![name_field];
    let mut names: HashSet<String> = HashSet::new();
    for f in &spec.fields {
        let def = custom_field(&spec.name, f, known)?;
        if !names.insert(def.name.to_ascii_lowercase()) {
            return Err(format!(
                "{}.{}: field is defined twice",
                spec.name, def.name
            ));
        }
        fields.push(def);
    }
    let mut all = standard::with_system_fields(Owner::UserOrQueue, fields);
    if spec.allow_activities {
        let at = all.len() - 5;
        all.insert(
            at,
            standard::date("LastActivityDate", "Last Activity Date").read_only(),
        );
    }
    Ok(ObjectDef::new(&spec.name, &label, &plural, prefix, all))
}

const TYPES: &str = "string, textarea, email, phone, url, picklist, multipicklist, boolean, int, double, currency, percent, date, datetime, time, reference";

/// Builds one custom field of `object` from its spec, checking it.
fn custom_field(
    object: &str,
    spec: &FieldSpec,
    known: &HashSet<String>,
) -> Result<FieldDef, String> {
    let at = format!("{object}.{}", spec.name);
    check_api_name(&spec.name, "__c").map_err(|m| format!("{at}: {m}"))?;
    let fail = |m: String| format!("{at}: {m}");
    let ty = match spec.ty.as_str() {
        "string" => FieldType::String,
        "textarea" => FieldType::TextArea,
        "email" => FieldType::Email,
        "phone" => FieldType::Phone,
        "url" => FieldType::Url,
        "picklist" => FieldType::Picklist,
        "multipicklist" => FieldType::MultiPicklist,
        "boolean" => FieldType::Boolean,
        "int" => FieldType::Int,
        "double" => FieldType::Double,
        "currency" => FieldType::Currency,
        "percent" => FieldType::Percent,
        "date" => FieldType::Date,
        "datetime" => FieldType::DateTime,
        "time" => FieldType::Time,
        "reference" => FieldType::Reference,
        other => {
            return Err(fail(format!(
                "unknown type '{other}'; expected one of {TYPES}"
            )));
        }
    };
    let label = spec.label.clone().unwrap_or_else(|| label_from(&spec.name));
    let mut f = FieldDef::new(&spec.name, &label, ty);
    let (default_len, max_len) = match ty {
        FieldType::String => (255, 255),
        FieldType::TextArea => (32768, 131_072),
        FieldType::Email => (80, 80),
        FieldType::Phone => (40, 40),
        FieldType::Url => (255, 255),
        FieldType::Picklist => (255, 255),
        FieldType::MultiPicklist => (4099, 4099),
        FieldType::Reference => (18, 18),
        _ => (0, 0),
    };
    match (spec.length, max_len) {
        (Some(_), 0) => return Err(fail(format!("type {} takes no length", spec.ty))),
        (Some(n), max) if n == 0 || n > max => {
            return Err(fail(format!("length {n} is out of range 1..={max}")));
        }
        (Some(n), _) if ty == FieldType::String || ty == FieldType::TextArea => f.length = n,
        (Some(_), _) => return Err(fail(format!("type {} has a fixed length", spec.ty))),
        (None, _) => f.length = default_len,
    }
    let numeric = matches!(
        ty,
        FieldType::Double | FieldType::Currency | FieldType::Percent
    );
    if ty == FieldType::Int {
        if spec.scale.is_some() {
            return Err(fail("type int takes no scale".into()));
        }
        let p = spec.precision.unwrap_or(18);
        if !(1..=18).contains(&p) {
            return Err(fail(format!("precision {p} is out of range 1..=18")));
        }
        f.precision = p;
    } else if numeric {
        let p = spec.precision.unwrap_or(18);
        let s = spec
            .scale
            .unwrap_or(if ty == FieldType::Double { 0 } else { 2 });
        if !(1..=18).contains(&p) {
            return Err(fail(format!("precision {p} is out of range 1..=18")));
        }
        if s > p {
            return Err(fail(format!("scale {s} is larger than precision {p}")));
        }
        f.precision = p;
        f.scale = s;
    } else if spec.precision.is_some() || spec.scale.is_some() {
        return Err(fail(format!(
            "type {} takes no precision or scale",
            spec.ty
        )));
    }
    let picklist_like = matches!(ty, FieldType::Picklist | FieldType::MultiPicklist);
    if picklist_like {
        if spec.values.is_empty() {
            return Err(fail("a picklist needs values".into()));
        }
        let mut seen = HashSet::new();
        for v in &spec.values {
            let p = match v {
                PicklistSpec::Value(v) => PicklistValue {
                    value: v.clone(),
                    label: v.clone(),
                    default: false,
                },
                PicklistSpec::Full {
                    value,
                    label,
                    default,
                } => PicklistValue {
                    value: value.clone(),
                    label: label.clone().unwrap_or_else(|| value.clone()),
                    default: *default,
                },
            };
            if p.value.is_empty() || p.value.len() > 255 {
                return Err(fail("a picklist value must be 1 to 255 characters".into()));
            }
            if !seen.insert(p.value.to_lowercase()) {
                return Err(fail(format!(
                    "picklist value '{}' is listed twice",
                    p.value
                )));
            }
            f.picklist.push(p);
        }
        f.restricted_picklist = spec.restricted;
        if let Some(d) = &spec.default {
            let Some(d) = d.as_str() else {
                return Err(fail("a picklist default must be one of its values".into()));
            };
            let Some(p) = f.picklist.iter_mut().find(|p| p.value == d) else {
                return Err(fail(format!("default '{d}' is not one of the values")));
            };
            p.default = true;
        }
        let defaults: Vec<String> = f
            .picklist
            .iter()
            .filter(|p| p.default)
            .map(|p| p.value.clone())
            .collect();
        if defaults.len() > 1 && ty == FieldType::Picklist {
            return Err(fail("a picklist may have only one default".into()));
        }
        if let [d] = defaults.as_slice() {
            f = f.default(Value::String(d.clone()));
        }
    } else {
        if !spec.values.is_empty() {
            return Err(fail(format!("type {} takes no values", spec.ty)));
        }
        if spec.restricted {
            return Err(fail(format!("type {} cannot be restricted", spec.ty)));
        }
        if let Some(d) = &spec.default {
            let ok = match ty {
                FieldType::Boolean => d.is_boolean(),
                FieldType::Int => d.is_i64() || d.is_u64(),
                _ if numeric => d.is_number(),
                FieldType::Reference => false,
                _ => d.is_string(),
            };
            if !ok {
                return Err(fail(format!("default {d} does not fit type {}", spec.ty)));
            }
            f = f.default(d.clone());
        }
    }
    if ty == FieldType::Boolean {
        if spec.required {
            return Err(fail(
                "a checkbox is never null; it cannot be required".into(),
            ));
        }
        f.nillable = false;
        if f.default_value.is_none() {
            f = f.default(Value::Bool(false));
        }
    }
    match (ty, &spec.reference_to) {
        (FieldType::Reference, None) => {
            return Err(fail("a reference needs referenceTo".into()));
        }
        (FieldType::Reference, Some(to)) => {
            let targets = match to {
                OneOrMany::One(t) => vec![t.clone()],
                OneOrMany::Many(t) => t.clone(),
            };
            if targets.is_empty() {
                return Err(fail("referenceTo is empty".into()));
            }
            for t in &targets {
                if !known.contains(&t.to_ascii_lowercase()) {
                    return Err(fail(format!(
                        "referenceTo '{t}' is not an object of the org"
                    )));
                }
            }
            let rel = spec
                .relationship_name
                .clone()
                .unwrap_or_else(|| format!("{}__r", spec.name.trim_end_matches("__c")));
            check_api_name(&rel, "__r")
                .map_err(|m| fail(format!("relationship name '{rel}': {m}")))?;
            f.reference_to = targets;
            f.relationship_name = Some(rel);
        }
        (_, Some(_)) => return Err(fail(format!("type {} takes no referenceTo", spec.ty))),
        (_, None) => {
            if spec.relationship_name.is_some() {
                return Err(fail("relationshipName needs a reference".into()));
            }
        }
    }
    if spec.external_id || spec.unique {
        let keyable = matches!(
            ty,
            FieldType::String | FieldType::Email | FieldType::Int | FieldType::Double
        );
        if !keyable {
            return Err(fail(format!(
                "type {} cannot be unique or an External ID (string, email, int, double can)",
                spec.ty
            )));
        }
    }
    f.unique = spec.unique;
    f.external_id = spec.external_id;
    f.case_sensitive = spec.case_sensitive;
    if spec.html {
        if ty != FieldType::TextArea {
            return Err(fail("only a textarea can hold HTML".into()));
        }
        f.html_formatted = true;
    }
    if spec.required {
        f.nillable = false;
    }
    f.custom = true;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;
    use crate::schema::standard::standard_objects;

    fn load(text: &str) -> Result<Schema> {
        let mut objects = standard_objects();
        extend_from_str(&mut objects, text, "test.json")?;
        Ok(Schema::new(objects))
    }

    fn error_of(text: &str) -> String {
        match load(text) {
            Ok(_) => panic!("accepted: {text}"),
            Err(Error::Schema { path, message }) => {
                assert_eq!(path, "test.json");
                message
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }

    #[test]
    fn invalid_files_are_refused_with_the_place_named() {
        let cases: &[(&str, &str)] = &[
            (r#"{"objects": ["#, "EOF"),
            (r#"{"objectz": []}"#, "unknown field `objectz`"),
            (
                r#"{"objects": [{"name": "Foo"}]}"#,
                "object 'Foo': the name must end with __c",
            ),
            (
                r#"{"objects": [{"name": "1Foo__c"}]}"#,
                "object '1Foo__c': the name before __c must start with a letter",
            ),
            (
                r#"{"objects": [{"name": "Foo__c"}, {"name": "foo__c"}]}"#,
                "object 'foo__c' is defined twice",
            ),
            (
                r#"{"objects": [{"name": "Foo__c", "keyPrefix": "001"}]}"#,
                "object 'Foo__c': key prefix '001' is not a custom prefix",
            ),
            (
                r#"{"objects": [{"name": "Foo__c", "keyPrefix": "a0"}]}"#,
                "key prefix 'a0' is not a custom prefix",
            ),
            (
                r#"{"objects": [{"name": "Foo__c", "keyPrefix": "a00"}, {"name": "Bar__c", "keyPrefix": "a00"}]}"#,
                "object 'Bar__c': key prefix 'a00' is already used",
            ),
            (
                r#"{"objects": [{"name": "Foo__c", "nameField": {"type": "int"}}]}"#,
                "object 'Foo__c': name field type 'int'",
            ),
            (
                r#"{"objects": [{"name": "Foo__c", "fields": [{"name": "A__c", "type": "strng"}]}]}"#,
                "Foo__c.A__c: unknown type 'strng'",
            ),
            (
                r#"{"objects": [{"name": "Foo__c", "fields": [{"name": "A", "type": "string"}]}]}"#,
                "Foo__c.A: the name must end with __c",
            ),
            (
                r#"{"objects": [{"name": "Foo__c", "fields": [{"name": "A__c", "type": "string"}, {"name": "a__c", "type": "date"}]}]}"#,
                "Foo__c.a__c: field is defined twice",
            ),
            (
                r#"{"fields": {"Account": [{"name": "Tier__c", "type": "string"}, {"name": "Tier__c", "type": "string"}]}}"#,
                "Account.Tier__c: field is defined twice",
            ),
            (
                r#"{"fields": {"Acount": [{"name": "Tier__c", "type": "string"}]}}"#,
                "fields: 'Acount' is not an object of the org",
            ),
            (
                r#"{"fields": {"Account": [{"name": "Tier__c", "type": "string", "length": 300}]}}"#,
                "Account.Tier__c: length 300 is out of range 1..=255",
            ),
            (
                r#"{"fields": {"Account": [{"name": "Tier__c", "type": "date", "length": 10}]}}"#,
                "Account.Tier__c: type date takes no length",
            ),
            (
                r#"{"fields": {"Account": [{"name": "Score__c", "type": "double", "precision": 20}]}}"#,
                "Account.Score__c: precision 20 is out of range 1..=18",
            ),
            (
                r#"{"fields": {"Account": [{"name": "Score__c", "type": "currency", "precision": 4, "scale": 6}]}}"#,
                "Account.Score__c: scale 6 is larger than precision 4",
            ),
            (
                r#"{"fields": {"Account": [{"name": "Tier__c", "type": "picklist"}]}}"#,
                "Account.Tier__c: a picklist needs values",
            ),
            (
                r#"{"fields": {"Account": [{"name": "Tier__c", "type": "picklist", "values": ["A", "a"]}]}}"#,
                "Account.Tier__c: picklist value 'a' is listed twice",
            ),
            (
                r#"{"fields": {"Account": [{"name": "Tier__c", "type": "picklist", "values": ["A"], "default": "B"}]}}"#,
                "Account.Tier__c: default 'B' is not one of the values",
            ),
            (
                r#"{"fields": {"Account": [{"name": "Tier__c", "type": "string", "values": ["A"]}]}}"#,
                "Account.Tier__c: type string takes no values",
            ),
            (
                r#"{"fields": {"Account": [{"name": "Vip__c", "type": "boolean", "default": "yes"}]}}"#,
                "Account.Vip__c: default \"yes\" does not fit type boolean",
            ),
            (
                r#"{"fields": {"Account": [{"name": "Vip__c", "type": "boolean", "required": true}]}}"#,
                "Account.Vip__c: a checkbox is never null",
            ),
            (
                r#"{"fields": {"Account": [{"name": "Partner__c", "type": "reference"}]}}"#,
                "Account.Partner__c: a reference needs referenceTo",
            ),
            (
                r#"{"fields": {"Account": [{"name": "Partner__c", "type": "reference", "referenceTo": "Partner__c"}]}}"#,
                "Account.Partner__c: referenceTo 'Partner__c' is not an object of the org",
            ),
            (
                r#"{"fields": {"Account": [{"name": "Partner__c", "type": "reference", "referenceTo": "Contact", "relationshipName": "Partner"}]}}"#,
                "Account.Partner__c: relationship name 'Partner': the name must end with __r",
            ),
            (
                r#"{"fields": {"Account": [{"name": "Tier__c", "type": "string", "referenceTo": "Contact"}]}}"#,
                "Account.Tier__c: type string takes no referenceTo",
            ),
            (
                r#"{"fields": {"Account": [{"name": "Due__c", "type": "date", "externalId": true}]}}"#,
                "Account.Due__c: type date cannot be unique or an External ID",
            ),
            (
                r#"{"fields": {"Account": [{"name": "Body__c", "type": "string", "html": true}]}}"#,
                "Account.Body__c: only a textarea can hold HTML",
            ),
            (
                r#"{"fields": {"Contact": [{"name": "A__c", "type": "reference", "referenceTo": "Account"}, {"name": "B__c", "type": "reference", "referenceTo": "Account"}]}}"#,
                "Contact.B__c: child relationship 'Contacts__r' on Account is already used by Contact.A__c",
            ),
            (
                r#"{"objects": [{"name": "Foo__c"}], "fields": {"Foo__c": [{"name": "A__c", "type": "string"}]}}"#,
                "fields: 'Foo__c' is a custom object",
            ),
        ];
        for (text, want) in cases {
            let got = error_of(text);
            assert!(got.contains(want), "{text}\n  got:  {got}\n  want: {want}");
        }
    }

    #[test]
    fn a_valid_file_adds_objects_and_fields() {
        let s = load(
            r#"{
            "objects": [
              {"name": "Widget__c", "label": "Widget", "pluralLabel": "Widgets", "allowActivities": true,
               "fields": [
                 {"name": "Account__c", "type": "reference", "referenceTo": "Account", "required": true},
                 {"name": "Size__c", "type": "picklist", "values": ["S", {"value": "M", "default": true}, "L"], "restricted": true},
                 {"name": "Weight__c", "type": "double", "precision": 8, "scale": 3}
               ]},
              {"name": "Gadget__c", "keyPrefix": "a05", "nameField": {"label": "Gadget Number", "type": "autonumber"}}
            ],
            "fields": {"Account": [{"name": "Code__c", "type": "string", "length": 20, "unique": true, "externalId": true}]}
          }"#,
        )
        .expect("valid");
        let w = s.object("widget__c").expect("Widget__c");
        assert!(w.custom);
        assert_eq!(w.key_prefix.as_str(), "a00");
        assert_eq!(
            s.object("Gadget__c").map(|g| g.key_prefix.as_str()),
            Some("a05")
        );
        let gadget_name = s
            .object("Gadget__c")
            .and_then(|g| g.field("Name"))
            .expect("Name");
        assert!(gadget_name.auto_number && !gadget_name.createable);
        let acc = w.field("Account__c").expect("Account__c");
        assert_eq!(acc.relationship_name.as_deref(), Some("Account__r"));
        assert!(acc.required());
        let size = w.field("Size__c").expect("Size__c");
        assert!(size.restricted_picklist);
        assert_eq!(size.default_value, Some(serde_json::json!("M")));
        assert!(!size.required());
        assert_eq!(
            w.field("Weight__c").map(|f| (f.precision, f.scale)),
            Some((8, 3))
        );
        assert!(w.field("OwnerId").is_some() && w.field("CreatedById").is_some());
        let account = s.object("Account").expect("Account");
        let rel = account
            .child_relationship("Widgets__r")
            .expect("Widgets__r");
        assert_eq!(
            (rel.child_object.as_str(), rel.field.as_str()),
            ("Widget__c", "Account__c")
        );
        assert!(rel.cascade_delete);
        let code = account.field("Code__c").expect("Code__c");
        assert!(code.external_id && code.unique && code.custom && code.length == 20);
        let what = s
            .object("Task")
            .and_then(|t| t.field("WhatId"))
            .expect("WhatId");
        assert!(what.reference_to.iter().any(|t| t == "Widget__c"));
        assert!(
            s.object("Widget__c")
                .and_then(|w| w.child_relationship("Tasks"))
                .is_some()
        );
        let gadget_what = s
            .object("Event")
            .and_then(|t| t.field("WhatId"))
            .expect("WhatId");
        assert!(!gadget_what.reference_to.iter().any(|t| t == "Gadget__c"));
    }

    #[test]
    fn prefixes_are_issued_in_order() {
        let got: Vec<String> = [0, 9, 10, 35, 36, 61, 62]
            .iter()
            .map(|n| {
                nth_custom_prefix(*n)
                    .map(|p| p.to_string())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(got, ["a00", "a09", "a0A", "a0Z", "a0a", "a0z", "a10"]);
    }

    #[test]
    fn missing_file_is_a_schema_error() {
        let mut objects = standard_objects();
        let err = extend(&mut objects, Some(Path::new("/nonexistent/schema.json")))
            .expect_err("missing file");
        assert!(
            matches!(err, Error::Schema { ref path, .. } if path == "/nonexistent/schema.json")
        );
    }

    #[test]
    fn demo_schema_counts() {
        let s = crate::schema::standard::schema_with(None).expect("demo schema is valid");
        let custom_objects: Vec<&str> = s
            .objects()
            .iter()
            .filter(|o| o.name.ends_with("__c"))
            .map(|o| o.name.as_str())
            .collect();
        assert_eq!(
            custom_objects,
            [
                "Service_Contract__c",
                "Call_Recording__c",
                "Support_Ticket_Note__c"
            ]
        );
        let custom_fields: usize = s
            .objects()
            .iter()
            .map(|o| o.fields.iter().filter(|f| f.custom).count())
            .sum();
        assert!(custom_fields >= 200, "{custom_fields} custom fields");
        let on_standard: usize = s
            .objects()
            .iter()
            .filter(|o| !o.custom)
            .map(|o| o.fields.iter().filter(|f| f.custom).count())
            .sum();
        assert!(
            on_standard >= 150,
            "{on_standard} custom fields on standard objects"
        );
        for object in ["Account", "Contact", "Lead"] {
            let f = s
                .object(object)
                .and_then(|o| o.field("External_Id__c"))
                .expect(object);
            assert!(
                f.unique && f.external_id && f.length == 255 && f.ty == FieldType::String,
                "{object}"
            );
        }
        let account = s.object("Account").expect("Account");
        let rel = account
            .child_relationship("Service_Contracts__r")
            .expect("Service_Contracts__r");
        assert_eq!(
            (rel.child_object.as_str(), rel.field.as_str()),
            ("Service_Contract__c", "Account__c")
        );
        let sc = s
            .object("Service_Contract__c")
            .expect("Service_Contract__c");
        assert_eq!(
            sc.field("Account__c")
                .and_then(|f| f.relationship_name.as_deref()),
            Some("Account__r")
        );
        let tier = account.field("Customer_Tier__c").expect("Customer_Tier__c");
        assert!(tier.restricted_picklist);
    }

    /// Whether `s` is one of the seed format's relative dates (`@today-3`, `@now+20h`...).
    fn relative_date(s: &str) -> bool {
        let offset = |rest: &str, units: &[char]| {
            if rest.is_empty() {
                return true;
            }
            let Some(n) = rest.strip_prefix('+').or_else(|| rest.strip_prefix('-')) else {
                return false;
            };
            let n = match n.strip_suffix(units) {
                Some(n) if !units.is_empty() => n,
                _ if units.is_empty() => n,
                _ => return false,
            };
            !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
        };
        if let Some(rest) = s.strip_prefix("@today") {
            offset(rest, &[])
        } else if let Some(rest) = s.strip_prefix("@now") {
            offset(rest, &['h', 'm', 'd'])
        } else {
            false
        }
    }

    #[test]
    fn relative_date_forms() {
        for ok in [
            "@today",
            "@today+3",
            "@today-120",
            "@now",
            "@now+20h",
            "@now-2d",
            "@now+90m",
        ] {
            assert!(relative_date(ok), "{ok}");
        }
        for bad in [
            "@today+",
            "@today+3d",
            "@now+20",
            "@now+h",
            "@tomorrow",
            "@now+2x",
        ] {
            assert!(!relative_date(bad), "{bad}");
        }
    }

    /// Checks one seed file against the schema; `refs` maps each `@ref` defined so far to its
    /// object and carries over from base to demo, as the loader does.
    fn check_seed(
        s: &Schema,
        file: &str,
        text: &str,
        refs: &mut HashMap<String, String>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let doc: Value = serde_json::from_str(text).expect("seed file is JSON");
        let objects = doc.as_object().expect("seed file is an object");
        for (object, records) in objects {
            let Some(o) = s.object(object) else {
                problems.push(format!("{file}: unknown object {object}"));
                continue;
            };
            let records = records.as_array().expect("records are a list");
            for (i, r) in records.iter().enumerate() {
                let at = format!("{file}: {object}[{i}]");
                let r = r.as_object().expect("record is an object");
                for (k, v) in r {
                    if k == "@ref" {
                        continue;
                    }
                    let Some(f) = o.field(k) else {
                        problems.push(format!("{at}: unknown field {k}"));
                        continue;
                    };
                    if let Some(sv) = v.as_str() {
                        if sv.starts_with('@') && !relative_date(sv) {
                            match refs.get(&sv[1..]) {
                                None => {
                                    problems.push(format!("{at}.{k}: {sv} is not defined earlier"))
                                }
                                Some(target) if !f.reference_to.iter().any(|t| t == target) => {
                                    problems.push(format!(
                                        "{at}.{k}: {sv} is a {target}, not one of {:?}",
                                        f.reference_to
                                    ))
                                }
                                Some(_) => {}
                            }
                            continue;
                        }
                        if relative_date(sv) {
                            let date_like = matches!(f.ty, FieldType::Date | FieldType::DateTime);
                            let right = if sv.starts_with("@today") {
                                f.ty == FieldType::Date
                            } else {
                                f.ty == FieldType::DateTime
                            };
                            if !date_like || !right {
                                problems.push(format!("{at}.{k}: {sv} does not fit a {:?}", f.ty));
                            }
                            continue;
                        }
                    }
                    if matches!(f.ty, FieldType::Picklist | FieldType::MultiPicklist) {
                        let value = v.as_str().unwrap_or_default();
                        for part in value.split(';') {
                            if !f.picklist.iter().any(|p| p.value == part) {
                                problems
                                    .push(format!("{at}.{k}: '{part}' is not a picklist value"));
                            }
                        }
                    }
                    let fits = match f.ty {
                        FieldType::Boolean => v.is_boolean(),
                        FieldType::Int => v.is_i64(),
                        FieldType::Double | FieldType::Currency | FieldType::Percent => {
                            v.is_number()
                        }
                        _ => v.is_string(),
                    };
                    if !fits {
                        problems.push(format!("{at}.{k}: {v} does not fit a {:?}", f.ty));
                    }
                }
                if o.createable {
                    for f in o.fields.iter().filter(|f| f.required()) {
                        if !r.contains_key(&f.name) {
                            problems.push(format!("{at}: required {} missing", f.name));
                        }
                    }
                }
                if let Some(name) = r.get("@ref").and_then(Value::as_str)
                    && refs.insert(name.to_owned(), o.name.clone()).is_some()
                {
                    problems.push(format!("{at}: @ref {name} is defined twice"));
                }
            }
        }
        problems
    }

    #[test]
    fn seed_files_match_the_schema() {
        let s = crate::schema::standard::schema_with(None).expect("demo schema");
        let mut refs = HashMap::new();
        let mut problems = check_seed(
            &s,
            "base.json",
            include_str!("../../seed/base.json"),
            &mut refs,
        );
        problems.extend(check_seed(
            &s,
            "demo.json",
            include_str!("../../seed/demo.json"),
            &mut refs,
        ));
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        assert!(refs.len() > 100, "{} refs", refs.len());
    }

    #[test]
    fn seed_ids_and_key_records() {
        // Every org, even `--seed none`, gets the dev user, its profile and the standard price book.
        let base: Value = serde_json::from_str(include_str!("../../seed/base.json")).expect("json");
        let demo: Value = serde_json::from_str(include_str!("../../seed/demo.json")).expect("json");
        let dev = callforce_types::Id::mint(KeyPrefix::new("005").expect("prefix"), 1);
        assert_eq!(base["User"][0]["Id"], dev.as_str());
        assert_eq!(base["User"][0]["@ref"], "dev_user");
        assert_eq!(
            base["User"][0]["Username"],
            crate::Config::default().username
        );
        assert_eq!(base["Profile"][0]["Name"], "System Administrator");
        assert_eq!(base["Pricebook2"][0]["IsStandard"], true);
        let sarah = demo["Contact"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["@ref"] == "sarah"))
            .expect("Sarah Johnson");
        assert_eq!(
            (sarah["FirstName"].as_str(), sarah["LastName"].as_str()),
            (Some("Sarah"), Some("Johnson"))
        );
        assert_eq!(sarah["Phone"], "(555) 123-4567");
        assert_eq!(sarah["AccountId"], "@acme");
        let e164 = demo["Contact"].as_array().map(|c| {
            c.iter()
                .filter(|c| c["Phone"].as_str().is_some_and(|p| p.starts_with("+1")))
                .count()
        });
        assert!(e164 >= Some(1));
        let stages: HashSet<&str> = demo["Opportunity"]
            .as_array()
            .map(|o| o.iter().filter_map(|o| o["StageName"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(stages.len(), 10, "every standard stage is used: {stages:?}");
        let queues = demo["Group"]
            .as_array()
            .map(|g| g.iter().filter(|g| g["Type"] == "Queue").count());
        assert!(queues >= Some(2));
        let online = demo["KnowledgeArticleVersion"].as_array().map(|a| {
            a.iter()
                .filter(|a| a["PublishStatus"] == "Online" && a["Language"] == "en_US")
                .count()
        });
        assert!(online >= Some(6));
    }
}
