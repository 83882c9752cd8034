//! Field values: the compact in-memory form of a record's data and its JSON conversions.
//!
//! A [`Value`] is what the store keeps for one field of one record. Conversions go through the
//! field's [`FieldDef`], because JSON alone does not say whether `"2024-01-05"` is a date or a
//! string: [`from_json`] checks a request value against the field and answers with Salesforce's
//! error when it does not fit; [`to_json`] renders a stored value as Salesforce sends it (dates
//! `YYYY-MM-DD`, datetimes `2016-07-22T20:19:37.000+0000`, ids in 18 characters, numbers as
//! JSON numbers).
//!
//! An empty string is stored as no value at all, as Salesforce does: `""` and `null` both clear
//! a field.

use axum::http::StatusCode;
use callforce_types::Id;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use compact_str::{CompactString, ToCompactString};

use crate::ApiError;
use crate::schema::{FieldDef, FieldType, Schema};

/// One stored field value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value (never stored: an absent field is null).
    Null,
    /// A checkbox.
    Bool(bool),
    /// An integer field.
    Int(i64),
    /// Double, currency and percent fields.
    Double(f64),
    /// Every text-like field: string, textarea, email, phone, url, picklists, base64.
    Str(CompactString),
    /// A date, as days since 1970-01-01.
    Date(i32),
    /// A datetime, as milliseconds since the Unix epoch (UTC).
    DateTime(i64),
    /// A time of day, as milliseconds since midnight.
    Time(u32),
    /// An id or a reference.
    Id(Id),
}

impl Value {
    /// The text of a text-like value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The id of an id or reference value.
    pub fn as_id(&self) -> Option<Id> {
        match self {
            Self::Id(id) => Some(*id),
            _ => None,
        }
    }

    /// The boolean of a checkbox value.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A number value as a double (integers widened).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Int(i) => Some(*i as f64),
            Self::Double(d) => Some(*d),
            _ => None,
        }
    }

    /// Whether this is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }
}

const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => panic!("the epoch is a valid date"),
};

/// Days since 1970-01-01 of a calendar date.
pub fn date_to_days(d: NaiveDate) -> i32 {
    (d - EPOCH).num_days() as i32
}

/// The calendar date `days` after 1970-01-01.
pub fn days_to_date(days: i32) -> NaiveDate {
    EPOCH
        .checked_add_signed(chrono::TimeDelta::days(i64::from(days)))
        .unwrap_or(EPOCH)
}

/// Formats a date as Salesforce sends it: `YYYY-MM-DD`.
pub fn format_date(days: i32) -> String {
    days_to_date(days).format("%Y-%m-%d").to_string()
}

/// Formats a datetime as Salesforce sends it: `2016-07-22T20:19:37.000+0000` (always UTC).
pub fn format_datetime(ms: i64) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string(),
        None => String::new(),
    }
}

/// Formats a time as Salesforce sends it: `13:45:00.000Z`.
pub fn format_time(ms: u32) -> String {
    let s = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60,
        ms % 1000
    )
}

/// Parses a date: `YYYY-MM-DD`, or a datetime whose date part is taken.
pub fn parse_date(s: &str) -> Option<i32> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(date_to_days(d));
    }
    parse_datetime(s)
        .and_then(DateTime::from_timestamp_millis)
        .map(|dt| date_to_days(dt.date_naive()))
}

/// Parses a datetime in the ISO 8601 forms clients send: `2016-07-22T20:19:37.000+0000`,
/// `…Z`, `…+01:00`, with or without fraction; a bare `YYYY-MM-DDTHH:MM:SS` is taken as UTC.
pub fn parse_datetime(s: &str) -> Option<i64> {
    let s = s.trim();
    for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%.f%:z"] {
        if let Ok(dt) = DateTime::parse_from_str(s, f) {
            return Some(dt.timestamp_millis());
        }
    }
    if let Some(rest) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z'))
        && let Ok(n) = NaiveDateTime::parse_from_str(rest, "%Y-%m-%dT%H:%M:%S%.f")
    {
        return Some(n.and_utc().timestamp_millis());
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc().timestamp_millis())
}

/// Parses a time of day: `HH:MM[:SS[.fff]]`, with an optional trailing `Z`.
pub fn parse_time(s: &str) -> Option<u32> {
    let s = s.trim();
    let s = s.strip_suffix('Z').unwrap_or(s);
    let t = NaiveTime::parse_from_str(s, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M"))
        .ok()?;
    Some(t.num_seconds_from_midnight() * 1000 + t.nanosecond() / 1_000_000)
}

/// The index key of a phone number: its digits only, with the leading US country code `1` of an
/// 11-digit number dropped.
///
/// So `+1 (555) 123-4567`, `15551234567`, `(555) 123-4567` and `555.123.4567` all give
/// `5551234567`, and a caller's number finds the record whatever format either side used. Other
/// international numbers keep all their digits (`+44 20 7946 0958` gives `442079460958`). A value
/// without digits gives an empty key, which is not indexed.
pub fn normalise_phone(s: &str) -> CompactString {
    let digits: CompactString = s.chars().filter(char::is_ascii_digit).collect();
    if digits.len() == 11 && digits.starts_with('1') {
        CompactString::from(&digits[1..])
    } else {
        digits
    }
}

/// Whether a string is an acceptable email address: one `@`, a non-empty local part, a domain
/// with a dot and no empty label, no whitespace.
pub fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && domain.contains('.')
        && domain.split('.').all(|l| !l.is_empty())
}

/// The JSON text of a request value as Salesforce quotes it in messages (strings unquoted).
pub fn display(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn bad(code: &str, message: String, field: &FieldDef) -> ApiError {
    ApiError::with_fields(
        StatusCode::BAD_REQUEST,
        code,
        message,
        vec![field.name.clone()],
    )
}

fn wrong_type(field: &FieldDef, v: &serde_json::Value) -> ApiError {
    bad(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        format!(
            "{}: value not of required type: {}",
            field.label,
            display(v)
        ),
        field,
    )
}

/// The error for an id that is not one, or not of an object the org knows.
pub fn malformed_id(field: &FieldDef, raw: &str) -> ApiError {
    bad(
        "MALFORMED_ID",
        format!("{}: id value of incorrect type: {raw}", field.label),
        field,
    )
}

/// Converts a request value for `field` into a stored value, checking type, format, length,
/// restricted picklists, email format, id shape and the target object of a reference.
///
/// `null` and `""` give [`Value::Null`]. Whether a referenced record exists is the store's
/// check, not this one.
///
/// A reference given an id that is malformed (wrong length or characters, bad checksum) or whose
/// key prefix names no object of the org gets `MALFORMED_ID`; a well-formed id of a real object
/// the field cannot point to (a Contact id in `Case.AccountId`) gets `FIELD_INTEGRITY_EXCEPTION`,
/// as Salesforce answers for lookups. Both carry `<Field label>: id value of incorrect type: <id>`.
///
/// # Errors
/// The Salesforce error (status 400) for a value the field cannot take.
pub fn from_json(
    field: &FieldDef,
    v: &serde_json::Value,
    schema: &Schema,
) -> Result<Value, ApiError> {
    use serde_json::Value as J;
    if v.is_null() || v.as_str().is_some_and(str::is_empty) {
        return Ok(Value::Null);
    }
    match field.ty {
        FieldType::String
        | FieldType::TextArea
        | FieldType::Email
        | FieldType::Phone
        | FieldType::Url
        | FieldType::Picklist
        | FieldType::MultiPicklist
        | FieldType::Combobox
        | FieldType::Base64 => {
            let s: CompactString = match v {
                J::String(s) => s.to_compact_string(),
                J::Number(n) => n.to_compact_string(),
                J::Bool(b) => b.to_compact_string(),
                _ => return Err(wrong_type(field, v)),
            };
            check_text(field, &s)?;
            Ok(Value::Str(s))
        }
        FieldType::Boolean => match v {
            J::Bool(b) => Ok(Value::Bool(*b)),
            J::String(s) if s.eq_ignore_ascii_case("true") => Ok(Value::Bool(true)),
            J::String(s) if s.eq_ignore_ascii_case("false") => Ok(Value::Bool(false)),
            _ => Err(wrong_type(field, v)),
        },
        FieldType::Int => {
            let n = match v {
                J::Number(n) => n
                    .as_i64()
                    .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
                J::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            }
            .ok_or_else(|| wrong_type(field, v))?;
            check_range(field, n as f64, v)?;
            Ok(Value::Int(n))
        }
        FieldType::Double | FieldType::Currency | FieldType::Percent => {
            let n = match v {
                J::Number(n) => n.as_f64(),
                J::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
                _ => None,
            }
            .ok_or_else(|| wrong_type(field, v))?;
            check_range(field, n, v)?;
            Ok(Value::Double(n))
        }
        FieldType::Date => v
            .as_str()
            .and_then(parse_date)
            .map(Value::Date)
            .ok_or_else(|| wrong_type(field, v)),
        FieldType::DateTime => v
            .as_str()
            .and_then(parse_datetime)
            .map(Value::DateTime)
            .ok_or_else(|| wrong_type(field, v)),
        FieldType::Time => v
            .as_str()
            .and_then(parse_time)
            .map(Value::Time)
            .ok_or_else(|| wrong_type(field, v)),
        FieldType::Id | FieldType::Reference => {
            let raw = match v {
                J::String(s) => s.as_str(),
                _ => return Err(malformed_id(field, &display(v))),
            };
            let id = Id::parse(raw.trim()).map_err(|_| malformed_id(field, raw))?;
            if schema.object_by_prefix(id.key_prefix()).is_none() {
                return Err(malformed_id(field, raw));
            }
            // NB: some objects share a key prefix (a ContentNote is a ContentDocument: both
            // `069`), so the reference is good when any object with that prefix is a target.
            let prefix = id.key_prefix();
            let fits = schema
                .objects()
                .iter()
                .filter(|o| o.key_prefix == prefix)
                .any(|o| {
                    field
                        .reference_to
                        .iter()
                        .any(|t| t.eq_ignore_ascii_case(&o.name))
                });
            if field.ty == FieldType::Reference && !fits {
                return Err(bad(
                    "FIELD_INTEGRITY_EXCEPTION",
                    format!("{}: id value of incorrect type: {raw}", field.label),
                    field,
                ));
            }
            Ok(Value::Id(id))
        }
        // Compound fields are computed from their parts; the store refuses writes to them.
        FieldType::Address => Err(wrong_type(field, v)),
    }
}

fn check_text(field: &FieldDef, s: &str) -> Result<(), ApiError> {
    if field.length > 0 && s.chars().count() > field.length as usize {
        return Err(bad(
            "STRING_TOO_LONG",
            format!(
                "{}: data value too large: {s} (max length={})",
                field.label, field.length
            ),
            field,
        ));
    }
    match field.ty {
        FieldType::Email if !valid_email(s) => Err(bad(
            "INVALID_EMAIL_ADDRESS",
            format!("{}: invalid email address: {s}", field.label),
            field,
        )),
        FieldType::Picklist | FieldType::MultiPicklist if field.restricted_picklist => {
            let parts: Vec<&str> = if field.ty == FieldType::MultiPicklist {
                s.split(';').map(str::trim).collect()
            } else {
                vec![s]
            };
            match parts
                .iter()
                .find(|p| !field.picklist.iter().any(|e| e.value == **p))
            {
                Some(p) => Err(bad(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    format!(
                        "{}: bad value for restricted picklist field: {p}",
                        field.label
                    ),
                    field,
                )),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

fn check_range(field: &FieldDef, n: f64, v: &serde_json::Value) -> Result<(), ApiError> {
    let int_digits = field.precision.saturating_sub(field.scale);
    let limit = if field.precision > 0 {
        10f64.powi(int_digits as i32)
    } else if field.ty == FieldType::Int {
        // Salesforce integers are 32-bit when no precision is declared.
        f64::from(i32::MAX) + 1.0
    } else {
        f64::INFINITY
    };
    if !n.is_finite() || n.abs() >= limit {
        return Err(bad(
            "NUMBER_OUTSIDE_VALID_RANGE",
            format!(
                "{}: value outside of valid range on numeric field: {}",
                field.label,
                display(v)
            ),
            field,
        ));
    }
    Ok(())
}

/// Reads back a value written by [`to_json`] (journal replay): the type is converted, nothing is
/// validated, so a record stays readable after its field's constraints change.
pub fn from_stored(field: &FieldDef, v: &serde_json::Value) -> Option<Value> {
    use serde_json::Value as J;
    Some(match (field.ty, v) {
        (_, J::Null) => return None,
        (FieldType::Boolean, J::Bool(b)) => Value::Bool(*b),
        (FieldType::Int, J::Number(n)) => Value::Int(n.as_i64()?),
        (FieldType::Double | FieldType::Currency | FieldType::Percent, J::Number(n)) => {
            Value::Double(n.as_f64()?)
        }
        (FieldType::Date, J::String(s)) => Value::Date(parse_date(s)?),
        (FieldType::DateTime, J::String(s)) => Value::DateTime(parse_datetime(s)?),
        (FieldType::Time, J::String(s)) => Value::Time(parse_time(s)?),
        (FieldType::Id | FieldType::Reference, J::String(s)) => Value::Id(Id::parse(s).ok()?),
        (_, J::String(s)) => Value::Str(s.as_str().into()),
        (_, J::Number(n)) => Value::Str(n.to_compact_string()),
        (_, J::Bool(b)) => Value::Str(b.to_compact_string()),
        _ => return None,
    })
}

/// Renders a stored value as Salesforce sends it for `field`.
pub fn to_json(field: &FieldDef, v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Double(d) => {
            if field.ty == FieldType::Int {
                J::from(*d as i64)
            } else {
                serde_json::Number::from_f64(*d).map_or(J::Null, J::Number)
            }
        }
        Value::Str(s) => J::String(s.to_string()),
        Value::Date(d) => J::String(format_date(*d)),
        Value::DateTime(ms) => J::String(format_datetime(*ms)),
        Value::Time(ms) => J::String(format_time(*ms)),
        Value::Id(id) => J::String(id.as_str().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ObjectDef, PicklistValue};
    use callforce_types::KeyPrefix;
    use serde_json::json;

    fn schema() -> Schema {
        let mut account_id = FieldDef::new("AccountId", "Account ID", FieldType::Reference);
        account_id.reference_to = vec!["Account".into()];
        Schema::new(vec![
            ObjectDef::new(
                "Account",
                "Account",
                "Accounts",
                KeyPrefix::new("001").unwrap(),
                vec![FieldDef::new("Id", "Account ID", FieldType::Id)],
            ),
            ObjectDef::new(
                "Contact",
                "Contact",
                "Contacts",
                KeyPrefix::new("003").unwrap(),
                vec![FieldDef::new("Id", "Contact ID", FieldType::Id), account_id],
            ),
        ])
    }

    fn field(ty: FieldType) -> FieldDef {
        let mut f = FieldDef::new("F__c", "Eff", ty);
        f.length = 10;
        f
    }

    fn code(r: Result<Value, ApiError>) -> String {
        r.map_or_else(|e| e.code().to_owned(), |v| format!("{v:?}"))
    }

    #[test]
    fn conversions_table() {
        let s = schema();
        let cases: &[(FieldType, serde_json::Value, &str)] = &[
            (FieldType::String, json!("abc"), r#"Str("abc")"#),
            (FieldType::String, json!(12), r#"Str("12")"#),
            (FieldType::String, json!(""), "Null"),
            (FieldType::String, json!(null), "Null"),
            (
                FieldType::String,
                json!({"a": 1}),
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
            ),
            (FieldType::String, json!("12345678901"), "STRING_TOO_LONG"),
            (FieldType::Boolean, json!(true), "Bool(true)"),
            (FieldType::Boolean, json!("false"), "Bool(false)"),
            (
                FieldType::Boolean,
                json!(1),
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
            ),
            (FieldType::Int, json!(42), "Int(42)"),
            (FieldType::Int, json!("42"), "Int(42)"),
            (
                FieldType::Int,
                json!(4.5),
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
            ),
            (FieldType::Int, json!(1e12), "NUMBER_OUTSIDE_VALID_RANGE"),
            (FieldType::Currency, json!(5000), "Double(5000.0)"),
            (
                FieldType::Currency,
                json!("x"),
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
            ),
            (FieldType::Date, json!("2024-02-29"), "Date(19782)"),
            (
                FieldType::Date,
                json!("2024-02-30"),
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
            ),
            (
                FieldType::Date,
                json!(20240101),
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
            ),
            (
                FieldType::DateTime,
                json!("1970-01-01T00:00:01.000+0000"),
                "DateTime(1000)",
            ),
            (
                FieldType::DateTime,
                json!("1970-01-01T00:00:01Z"),
                "DateTime(1000)",
            ),
            (
                FieldType::DateTime,
                json!("1970-01-01T01:00:01+01:00"),
                "DateTime(1000)",
            ),
            (
                FieldType::DateTime,
                json!("yesterday"),
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
            ),
            (FieldType::Time, json!("01:00:00.000Z"), "Time(3600000)"),
            (FieldType::Email, json!("a@b.co"), r#"Str("a@b.co")"#),
            (FieldType::Email, json!("a@b"), "INVALID_EMAIL_ADDRESS"),
            (FieldType::Email, json!("123"), "INVALID_EMAIL_ADDRESS"),
        ];
        for (ty, input, want) in cases {
            assert_eq!(
                code(from_json(&field(*ty), input, &s)),
                *want,
                "{ty:?} {input}"
            );
        }
    }

    #[test]
    fn reference_errors_table() {
        let s = schema();
        let c = s.object("Contact").unwrap();
        let f = c.field("AccountId").unwrap();
        let cases = [
            ("001D000000IRFmaIAH", "Id(Id(001D000000IRFmaIAH))"),
            ("001D000000IRFma", "Id(Id(001D000000IRFmaIAH))"),
            ("001900K0001pPuOAAU", "MALFORMED_ID"),
            ("abc", "MALFORMED_ID"),
            ("00QD000000IRFmaIAH", "MALFORMED_ID"),
            ("003D000000QV9n2IAD", "FIELD_INTEGRITY_EXCEPTION"),
        ];
        for (raw, want) in cases {
            assert_eq!(code(from_json(f, &json!(raw), &s)), want, "{raw}");
        }
        let e = from_json(f, &json!("003D000000QV9n2IAD"), &s).unwrap_err();
        assert_eq!(
            e.errors[0].message,
            "Account ID: id value of incorrect type: 003D000000QV9n2IAD"
        );
    }

    #[test]
    fn restricted_picklist_rejects_unknown_values() {
        let mut f = FieldDef::new(
            "ForecastCategoryName",
            "Forecast Category",
            FieldType::Picklist,
        );
        f.restricted_picklist = true;
        f.picklist = vec![PicklistValue {
            value: "Pipeline".into(),
            label: "Pipeline".into(),
            default: false,
        }];
        let s = schema();
        assert!(from_json(&f, &json!("Pipeline"), &s).is_ok());
        let e = from_json(&f, &json!("Nope"), &s).unwrap_err();
        assert_eq!(
            e.errors[0].message,
            "Forecast Category: bad value for restricted picklist field: Nope"
        );
    }

    #[test]
    fn output_formats() {
        let f = field(FieldType::DateTime);
        assert_eq!(
            to_json(&f, &Value::DateTime(1_469_219_977_000)),
            json!("2016-07-22T20:39:37.000+0000")
        );
        assert_eq!(to_json(&f, &Value::Date(19782)), json!("2024-02-29"));
        assert_eq!(
            to_json(&field(FieldType::Currency), &Value::Double(5.0)),
            json!(5.0)
        );
        assert_eq!(to_json(&f, &Value::Time(3_600_500)), json!("01:00:00.500Z"));
    }

    #[test]
    fn phone_normalisation_table() {
        for (input, want) in [
            ("+15551234567", "5551234567"),
            ("(555) 123-4567", "5551234567"),
            ("555.123.4567", "5551234567"),
            ("1-555-123-4567", "5551234567"),
            ("+44 20 7946 0958", "442079460958"),
            ("25551234567", "25551234567"),
            ("ext", ""),
        ] {
            assert_eq!(normalise_phone(input), want, "{input}");
        }
    }
}
