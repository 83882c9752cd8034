//! The intent map: what the agent may decide (`demo_requested`, `qualified`...), and for each
//! decision the records and fields it writes and where every value comes from.
//!
//! Two shapes are accepted. The short one is the field map agents already write, one
//! `"Object.Field"` per intent:
//!
//! ```json
//! {"demo_requested": "Opportunity.Demo_Requested_At__c", "qualified": "Lead.Status"}
//! ```
//!
//! The full one has `variables` (type hints for auto-mapping and for arguments) and `intents`,
//! where an intent lists its writes:
//!
//! ```json
//! {
//!   "variables": {"summary": "long_text"},
//!   "intents": {
//!     "qualified": {"object": "Lead", "record": {"var": "last.Lead.Id"},
//!                   "fields": {"Status": {"const": "Working - Contacted"}}},
//!     "call_summary": {"writes": [
//!       {"object": "Task", "record": "create", "ref": "task",
//!        "fields": {"Subject": {"const": "Call"}, "Status": {"const": "Completed"},
//!                   "WhoId": {"var": "last.Lead.Id"}, "Description": {"arg": "summary"}}}
//!     ]}
//!   }
//! }
//! ```
//!
//! A short entry `"Object.Field"` means: update the call's last record of `Object`
//! (`last.Object.Id`, the one an earlier action found or wrote) and set `Field` to the model's
//! argument `value`; on a date or datetime field the argument is optional and defaults to now.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::{Error, Result};

/// An intent map: type hints and intents, by name (kept sorted, so output is stable).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IntentMap {
    /// Declared variables and their types (auto-mapping input, argument types).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, VarDecl>,
    /// The intents.
    pub intents: BTreeMap<String, Intent>,
}

impl IntentMap {
    /// Parses a map from JSON text, in either shape.
    ///
    /// # Errors
    /// [`Error::InvalidMap`] naming the entry and what is wrong with it.
    pub fn from_json(text: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| Error::InvalidMap(format!("not valid JSON: {e}")))?;
        Self::from_value(v)
    }

    /// Parses a map from a JSON value, in either shape.
    ///
    /// # Errors
    /// [`Error::InvalidMap`] naming the entry and what is wrong with it.
    pub fn from_value(v: Value) -> Result<Self> {
        let Value::Object(mut top) = v else {
            return Err(Error::InvalidMap(
                "an intent map is a JSON object: {\"intent_name\": \"Object.Field\", ...} or \
                 {\"variables\": {...}, \"intents\": {...}}"
                    .into(),
            ));
        };
        let full = matches!(top.get("intents"), Some(Value::Object(_)));
        let (variables, intents) = if full {
            if let Some(k) = top
                .keys()
                .find(|k| !matches!(k.as_str(), "variables" | "intents"))
            {
                return Err(Error::InvalidMap(format!(
                    "unknown top-level key {k:?}: a full map has only \"variables\" and \"intents\""
                )));
            }
            let vars = top.remove("variables").unwrap_or(Value::Null);
            let intents = top.remove("intents").unwrap_or(Value::Null);
            (vars, intents)
        } else {
            (Value::Null, Value::Object(top))
        };
        let variables = match variables {
            Value::Null => BTreeMap::new(),
            Value::Object(m) => m
                .into_iter()
                .map(|(k, v)| {
                    let d: VarDecl = serde_json::from_value(v)
                        .map_err(|e| Error::InvalidMap(format!("variables.{k}: {e}")))?;
                    Ok((k, d))
                })
                .collect::<Result<_>>()?,
            _ => return Err(Error::InvalidMap("\"variables\" must be an object".into())),
        };
        let Value::Object(entries) = intents else {
            return Err(Error::InvalidMap("\"intents\" must be an object".into()));
        };
        let mut out = BTreeMap::new();
        for (name, v) in entries {
            let intent = Intent::from_value(v)
                .map_err(|e| Error::InvalidMap(format!("intents.{name}: {e}")))?;
            out.insert(name, intent);
        }
        Ok(Self {
            variables,
            intents: out,
        })
    }

    /// The `(object, record type)` pairs the map's writes name, without repeats.
    pub fn record_types(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for w in self.intents.values().flat_map(|i| &i.writes) {
            if let Some(rt) = &w.record_type
                && !out
                    .iter()
                    .any(|(o, r)| o.eq_ignore_ascii_case(&w.object) && r.eq_ignore_ascii_case(rt))
            {
                out.push((w.object.clone(), rt.clone()));
            }
        }
        out
    }

    /// Every object the map writes, in order of first appearance, without duplicates.
    pub fn objects(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for i in self.intents.values() {
            for w in &i.writes {
                if !out.iter().any(|o| o.eq_ignore_ascii_case(&w.object)) {
                    out.push(w.object.clone());
                }
            }
        }
        for d in self.variables.values() {
            if let Some(o) = &d.object
                && !out.iter().any(|x| x.eq_ignore_ascii_case(o))
            {
                out.push(o.clone());
            }
        }
        out
    }

    /// How many fields the map writes in all.
    pub fn field_count(&self) -> usize {
        self.intents
            .values()
            .flat_map(|i| &i.writes)
            .map(|w| w.fields.len())
            .sum()
    }
}

impl<'de> Deserialize<'de> for IntentMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Self::from_value(v).map_err(serde::de::Error::custom)
    }
}

/// One intent: what the model says it decided, and the writes that follow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Intent {
    /// What the intent means, for the model (the tool description lists it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The writes, in order; more than one goes out as one all-or-none composite request.
    pub writes: Vec<Write>,
}

/// The full form of one intent: a list of writes, or a single write inline.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IntentFull {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    writes: Option<Vec<Write>>,
    #[serde(default)]
    object: Option<String>,
    #[serde(default)]
    record: Option<Target>,
    #[serde(default, rename = "ref")]
    reference: Option<String>,
    #[serde(default)]
    record_type: Option<String>,
    #[serde(default)]
    fields: Option<BTreeMap<String, Source>>,
}

impl Intent {
    fn from_value(v: Value) -> std::result::Result<Self, String> {
        match v {
            Value::String(s) => Self::short(&s),
            Value::Object(_) => {
                let f: IntentFull = serde_json::from_value(v).map_err(|e| e.to_string())?;
                let inline = f.object.is_some()
                    || f.fields.is_some()
                    || f.record.is_some()
                    || f.record_type.is_some();
                let writes = match (f.writes, inline) {
                    (Some(_), true) => {
                        return Err("give either \"writes\" or one inline write \
                                    (\"object\", \"record\", \"fields\"), not both"
                            .into());
                    }
                    (Some(w), false) => w,
                    (None, true) => vec![Write {
                        object: f
                            .object
                            .ok_or("an inline write needs \"object\" (such as \"Lead\")")?,
                        record: f.record.unwrap_or_default(),
                        reference: f.reference,
                        record_type: f.record_type,
                        fields: f.fields.unwrap_or_default(),
                    }],
                    (None, false) => {
                        return Err(
                            "an intent needs \"writes\" or \"object\" and \"fields\"".into()
                        );
                    }
                };
                Ok(Self {
                    description: f.description,
                    writes,
                })
            }
            other => Err(format!(
                "expected \"Object.Field\" or an object, not {}",
                kind(&other)
            )),
        }
    }

    /// `"Object.Field"`: update the call's last `Object` with the argument `value`.
    fn short(s: &str) -> std::result::Result<Self, String> {
        let (object, field) = s
            .split_once('.')
            .filter(|(o, f)| !o.is_empty() && !f.is_empty() && !f.contains('.'))
            .ok_or_else(|| format!("{s:?} is not \"Object.Field\" (such as \"Lead.Status\")"))?;
        let mut fields = BTreeMap::new();
        fields.insert(field.to_owned(), Source::Arg(DEFAULT_ARG.to_owned()));
        Ok(Self {
            description: None,
            writes: vec![Write {
                object: object.to_owned(),
                record: Target::Var(format!("last.{object}.Id")),
                reference: None,
                record_type: None,
                fields,
            }],
        })
    }
}

impl<'de> Deserialize<'de> for Intent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Self::from_value(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// The argument name a short `"Object.Field"` intent takes.
pub const DEFAULT_ARG: &str = "value";

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One write of an intent: a record to update or create, and its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Write {
    /// The object (`Opportunity`).
    pub object: String,
    /// Which record: an existing one (from a call variable or an argument) or a new one.
    #[serde(default)]
    pub record: Target,
    /// A name later writes of the same intent use to point at a record this one creates
    /// (`{"ref": "task"}`).
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The record type the record has (its API name, such as `Partner`, or its id): picklist
    /// constants are checked, and values coerced, against that record type's values; a create
    /// sets `RecordTypeId` to it. A create without one is checked against the user's default
    /// record type, which the org gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_type: Option<String>,
    /// Field API name to the source of its value.
    pub fields: BTreeMap<String, Source>,
}

/// The record a write goes to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// An existing record whose id is a call variable or an earlier result
    /// (`last.Opportunity.Id`, `search_contact.Id`, `metadata.lead_id`).
    Var(String),
    /// An existing record whose id the model passes as this argument.
    Arg(String),
    /// A new record.
    #[default]
    Create,
}

/// Where a field's value comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A constant (`"Qualified"`, `true`, `42`).
    Const(Value),
    /// A call variable or an earlier result, by path (`caller_phone`, `search_contact.Id`).
    Var(String),
    /// An argument the model passes (typed by `variables` when declared there).
    Arg(String),
    /// The current time (a date field gets today's date, in UTC).
    Now,
    /// The id of the record an earlier write of the same intent creates (its `ref`).
    Ref(String),
}

/// A declared variable: its type and, optionally, the object it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarDecl {
    /// The type.
    pub ty: VarType,
    /// The object to map it onto (all objects of the map when absent).
    pub object: Option<String>,
    /// What it means, for the model.
    pub description: Option<String>,
}

impl Serialize for VarDecl {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if self.object.is_none() && self.description.is_none() {
            return self.ty.serialize(s);
        }
        let mut m = serde_json::Map::new();
        m.insert("type".into(), Value::String(self.ty.to_string()));
        if let Some(o) = &self.object {
            m.insert("object".into(), Value::String(o.clone()));
        }
        if let Some(d) = &self.description {
            m.insert("description".into(), Value::String(d.clone()));
        }
        m.serialize(s)
    }
}

impl<'de> Deserialize<'de> for VarDecl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            #[serde(rename = "type")]
            ty: VarType,
            #[serde(default)]
            object: Option<String>,
            #[serde(default)]
            description: Option<String>,
        }
        use serde::de::Error as _;
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Self {
                ty: s.parse().map_err(D::Error::custom)?,
                object: None,
                description: None,
            }),
            v @ Value::Object(_) => {
                let f: Full = serde_json::from_value(v).map_err(D::Error::custom)?;
                Ok(Self {
                    ty: f.ty,
                    object: f.object,
                    description: f.description,
                })
            }
            other => Err(D::Error::custom(format!(
                "expected a type such as \"datetime\" or {{\"type\": ..., \"object\": ...}}, not {}",
                kind(&other)
            ))),
        }
    }
}

/// The type hint of a variable.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VarType {
    /// Short text (up to 255 characters).
    Text,
    /// Long text (notes, summaries, transcripts).
    LongText,
    /// An email address.
    Email,
    /// A phone number.
    Phone,
    /// A URL.
    Url,
    /// A number.
    Number,
    /// An amount of money.
    Currency,
    /// A percentage.
    Percent,
    /// True or false.
    Boolean,
    /// A calendar date.
    Date,
    /// A point in time.
    Datetime,
    /// One value of a picklist.
    Picklist,
    /// The id of a record of the named object (`id:Account`), or of any object (`id`).
    Id(Option<String>),
}

/// Every type name, as written in maps.
pub const TYPE_NAMES: &str = "text, long_text, email, phone, url, number, currency, percent, \
                              boolean, date, datetime, picklist, id or id:<Object>";

impl FromStr for VarType {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "text" => Self::Text,
            "long_text" => Self::LongText,
            "email" => Self::Email,
            "phone" => Self::Phone,
            "url" => Self::Url,
            "number" => Self::Number,
            "currency" => Self::Currency,
            "percent" => Self::Percent,
            "boolean" => Self::Boolean,
            "date" => Self::Date,
            "datetime" => Self::Datetime,
            "picklist" => Self::Picklist,
            "id" => Self::Id(None),
            _ => match s.strip_prefix("id:") {
                Some(o) if !o.is_empty() => Self::Id(Some(o.to_owned())),
                _ => return Err(format!("unknown type {s:?}; expected one of {TYPE_NAMES}")),
            },
        })
    }
}

impl fmt::Display for VarType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Text => "text",
            Self::LongText => "long_text",
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Url => "url",
            Self::Number => "number",
            Self::Currency => "currency",
            Self::Percent => "percent",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::Datetime => "datetime",
            Self::Picklist => "picklist",
            Self::Id(None) => "id",
            Self::Id(Some(o)) => return write!(f, "id:{o}"),
        })
    }
}

impl Serialize for VarType {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for VarType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl VarType {
    /// The Salesforce field types a value of this type may be written to, best first.
    pub fn field_types(&self) -> &'static [&'static str] {
        match self {
            Self::Text => &["string", "textarea", "combobox", "encryptedstring"],
            Self::LongText => &["textarea"],
            Self::Email => &["email", "string", "textarea"],
            Self::Phone => &["phone", "string"],
            Self::Url => &["url", "string", "textarea"],
            Self::Number => &["double", "int", "currency", "percent"],
            Self::Currency => &["currency", "double"],
            Self::Percent => &["percent", "double"],
            Self::Boolean => &["boolean"],
            Self::Date => &["date"],
            Self::Datetime => &["datetime"],
            Self::Picklist => &["picklist", "multipicklist", "combobox", "string"],
            Self::Id(_) => &["reference", "id"],
        }
    }

    /// The natural variable type of a Salesforce field type (`None` for types intents do not
    /// write, such as `address` or `time`).
    pub fn of_field(field_type: &str, reference_to: &[String]) -> Option<Self> {
        Some(match field_type {
            "string" | "encryptedstring" | "combobox" => Self::Text,
            "textarea" => Self::LongText,
            "email" => Self::Email,
            "phone" => Self::Phone,
            "url" => Self::Url,
            "int" | "double" => Self::Number,
            "currency" => Self::Currency,
            "percent" => Self::Percent,
            "boolean" => Self::Boolean,
            "date" => Self::Date,
            "datetime" => Self::Datetime,
            "picklist" | "multipicklist" => Self::Picklist,
            "reference" | "id" => Self::Id(match reference_to {
                [one] => Some(one.clone()),
                _ => None,
            }),
            _ => return None,
        })
    }

    /// Whether a value of this type fits a field of `field_type` pointing at `reference_to`.
    pub fn fits(&self, field_type: &str, reference_to: &[String]) -> bool {
        if !self.field_types().contains(&field_type) {
            return false;
        }
        match self {
            Self::Id(Some(o)) if field_type == "reference" => {
                reference_to.iter().any(|r| r.eq_ignore_ascii_case(o))
            }
            _ => true,
        }
    }

    /// A JSON Schema for an argument of this type.
    pub fn json_schema(&self) -> Value {
        use serde_json::json;
        match self {
            Self::Number | Self::Currency | Self::Percent => json!({"type": "number"}),
            Self::Boolean => json!({"type": "boolean"}),
            Self::Date => json!({"type": "string", "format": "date"}),
            Self::Datetime => json!({"type": "string", "format": "date-time"}),
            Self::Email => json!({"type": "string", "format": "email"}),
            _ => json!({"type": "string"}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_seed_shape_parses_as_short_intents() {
        let m = IntentMap::from_value(json!({
            "demo_requested": "Opportunity.Demo_Requested_At__c",
            "qualified": "Lead.Status",
            "call_summary": "Task.Description"
        }))
        .unwrap();
        assert_eq!(m.intents.len(), 3);
        let w = &m.intents["qualified"].writes[0];
        assert_eq!(w.object, "Lead");
        assert_eq!(w.record, Target::Var("last.Lead.Id".into()));
        assert_eq!(w.fields["Status"], Source::Arg("value".into()));
        assert_eq!(
            m.objects(),
            vec!["Task".to_owned(), "Opportunity".into(), "Lead".into()]
        );
    }

    #[test]
    fn the_full_shape_parses() {
        let m = IntentMap::from_value(json!({
            "variables": {"summary": "long_text", "lead": {"type": "id:Lead", "object": "Task"}},
            "intents": {
                "qualified": {"object": "Lead", "record": {"var": "last.Lead.Id"},
                              "fields": {"Status": {"const": "Working - Contacted"}, "Demo_Requested_At__c": "now"}},
                "log": {"description": "log it", "writes": [
                    {"object": "Task", "record": "create", "ref": "t",
                     "fields": {"Description": {"arg": "summary"}}},
                    {"object": "Lead", "record": {"arg": "lead_id"},
                     "fields": {"Description": {"ref": "t"}}}
                ]}
            }
        }))
        .unwrap();
        assert_eq!(m.variables["summary"].ty, VarType::LongText);
        assert_eq!(m.variables["lead"].ty, VarType::Id(Some("Lead".into())));
        assert_eq!(
            m.intents["qualified"].writes[0].fields["Demo_Requested_At__c"],
            Source::Now
        );
        assert_eq!(m.intents["log"].writes.len(), 2);
        assert_eq!(
            m.intents["log"].writes[1].record,
            Target::Arg("lead_id".into())
        );
        assert_eq!(m.field_count(), 4);
        // A round trip through serde keeps the map.
        let again = IntentMap::from_value(serde_json::to_value(&m).unwrap()).unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn mistakes_are_named() {
        for (map, needle) in [
            (json!([]), "is a JSON object"),
            (json!({"a": "Lead"}), "is not \"Object.Field\""),
            (json!({"a": "Lead.Status.X"}), "is not \"Object.Field\""),
            (
                json!({"a": 3}),
                "intents.a: expected \"Object.Field\" or an object, not a number",
            ),
            (
                json!({"a": {"object": "Lead", "feilds": {}}}),
                "unknown field `feilds`",
            ),
            (json!({"a": {"description": "x"}}), "needs \"writes\""),
            (
                json!({"a": {"object": "Lead", "fields": {"Status": {"cosnt": 1}}}}),
                "unknown variant `cosnt`",
            ),
            (
                json!({"intents": {}, "vars": {}}),
                "unknown top-level key \"vars\"",
            ),
            (
                json!({"variables": {"x": "strng"}, "intents": {}}),
                "variables.x: unknown type \"strng\"",
            ),
            (
                json!({"a": {"object": "Lead", "fields": {}, "writes": []}}),
                "not both",
            ),
        ] {
            let e = IntentMap::from_value(map.clone()).unwrap_err().to_string();
            assert!(e.contains(needle), "{map}: {e}");
        }
    }

    #[test]
    fn types_parse_and_fit() {
        for (t, field, refs, fits) in [
            ("datetime", "datetime", &[][..], true),
            ("datetime", "date", &[][..], false),
            ("long_text", "string", &[][..], false),
            ("text", "textarea", &[][..], true),
            ("number", "currency", &[][..], true),
            ("picklist", "picklist", &[][..], true),
            ("boolean", "string", &[][..], false),
            (
                "id:Lead",
                "reference",
                &["Contact".to_owned(), "Lead".to_owned()][..],
                true,
            ),
            (
                "id:Account",
                "reference",
                &["Contact".to_owned()][..],
                false,
            ),
            ("id", "reference", &["Contact".to_owned()][..], true),
        ] {
            let ty: VarType = t.parse().unwrap();
            assert_eq!(ty.to_string(), t);
            assert_eq!(ty.fits(field, refs), fits, "{t} into {field}");
        }
        assert!("id:".parse::<VarType>().is_err());
    }
}
