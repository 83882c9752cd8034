//! Values coerced to a field's type at call time: dates to `YYYY-MM-DD`, datetimes to ISO 8601
//! in UTC (one without an offset read in the call's time zone), numbers and booleans from text, picklist values matched case-insensitively to the
//! org's exact value, ids normalised to 18 characters. What still does not fit is refused with a
//! message a model can act on.

use callforce_actions::suggest::closest;
use callforce_actions::zone::Tz;
use callforce_client::describe::FieldDescribe;
use callforce_types::Id;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde_json::Value;

use crate::describes::Describes;

/// Coerces `v` to what `field` takes. `now` fills a `"now"` given for a date or datetime; a
/// datetime without an offset is a local time in `zone` (and `"today"` is its date there).
///
/// # Errors
/// A message for the model naming the field, what was given and what it takes.
pub fn coerce(
    object: &str,
    field: &FieldDescribe,
    v: &Value,
    now: DateTime<Utc>,
    zone: Tz,
    describes: &Describes,
) -> Result<Value, String> {
    let name = format!("{object}.{}", field.name);
    if v.is_null() {
        return if field.nillable || field.type_ == "boolean" {
            Ok(Value::Null)
        } else {
            Err(format!("{name} cannot be empty"))
        };
    }
    let text = || match v {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let bad = |takes: &str| format!("{name} takes {takes}, not {v}");
    match field.type_.as_str() {
        "date" => {
            let s = text().ok_or_else(|| bad("a date (YYYY-MM-DD)"))?;
            date(&s, now, zone)
                .map(|d| Value::String(d.format("%Y-%m-%d").to_string()))
                .ok_or_else(|| bad("a date (YYYY-MM-DD)"))
        }
        "datetime" => {
            let s = text().ok_or_else(|| bad("a date and time (ISO 8601)"))?;
            datetime(&s, now, zone)
                .map(|d| Value::String(d.to_rfc3339_opts(SecondsFormat::Millis, true)))
                .ok_or_else(|| bad("a date and time (ISO 8601, such as 2026-03-01T15:00:00Z)"))
        }
        "int" => {
            let n = number(v).ok_or_else(|| bad("a whole number"))?;
            if n.fract() != 0.0 || !n.is_finite() {
                return Err(bad("a whole number"));
            }
            #[allow(clippy::cast_possible_truncation)]
            Ok(Value::from(n as i64))
        }
        "double" | "currency" | "percent" => number(v)
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| bad("a number")),
        "boolean" => match v {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            _ => match text().unwrap_or_default().to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "1" => Ok(Value::Bool(true)),
                "false" | "no" | "n" | "0" => Ok(Value::Bool(false)),
                _ => Err(bad("true or false")),
            },
        },
        "picklist" => {
            let s = text().ok_or_else(|| bad("one picklist value"))?;
            picklist(&name, field, &s).map(Value::String)
        }
        "multipicklist" => {
            let parts: Vec<String> = match v {
                Value::Array(a) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| bad("picklist values"))
                    })
                    .collect::<Result<_, _>>()?,
                _ => text()
                    .ok_or_else(|| bad("picklist values separated by ';'"))?
                    .split(';')
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect(),
            };
            let exact: Vec<String> = parts
                .iter()
                .map(|p| picklist(&name, field, p))
                .collect::<Result<_, _>>()?;
            Ok(Value::String(exact.join(";")))
        }
        "reference" | "id" => {
            let s = text().ok_or_else(|| bad("a record id"))?;
            let id = Id::parse(&s).map_err(|e| {
                format!("{name} takes a record id (15 or 18 letters and digits), not {s:?}: {e}")
            })?;
            reference(&name, field, id, describes).map(|id| Value::String(id.to_string()))
        }
        "string" | "textarea" | "email" | "phone" | "url" | "combobox" | "encryptedstring" => {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(_) | Value::Bool(_) => v.to_string(),
                _ => return Err(bad("text")),
            };
            if field.type_ == "email" && !looks_like_email(&s) {
                return Err(bad("an email address (name@example.com)"));
            }
            let len = s.chars().count();
            if field.length > 0 && len > field.length as usize {
                return Err(format!(
                    "{name} takes at most {} characters; the value has {len}: shorten it",
                    field.length
                ));
            }
            Ok(Value::String(s))
        }
        other => Err(format!(
            "{name} is a {other} field, which intents cannot write"
        )),
    }
}

fn picklist(name: &str, field: &FieldDescribe, s: &str) -> Result<String, String> {
    let active = || field.picklist_values.iter().filter(|p| p.active);
    if let Some(p) = active().find(|p| {
        p.value.eq_ignore_ascii_case(s)
            || p.label
                .as_deref()
                .is_some_and(|l| l.eq_ignore_ascii_case(s))
    }) {
        return Ok(p.value.clone());
    }
    let values: Vec<&str> = active().map(|p| p.value.as_str()).collect();
    let hint = closest(s, values.iter().copied())
        .map(|c| format!(" (closest: {c:?})"))
        .unwrap_or_default();
    Err(format!(
        "{name} does not take {s:?}{hint}; valid values: {}",
        values.join(", ")
    ))
}

fn reference(name: &str, field: &FieldDescribe, id: Id, d: &Describes) -> Result<Id, String> {
    if field.reference_to.is_empty() {
        return Ok(id);
    }
    let prefix = id.key_prefix();
    let ok = field
        .reference_to
        .iter()
        .any(|o| d.key_prefix(o).is_none_or(|p| p == prefix.as_str()));
    if ok {
        return Ok(id);
    }
    let what = d
        .object_of_prefix(prefix.as_str())
        .map(|o| format!("an id of {o}"))
        .unwrap_or_else(|| format!("an id starting {}", prefix.as_str()));
    Err(format!(
        "{name} takes an id of {}, not {what} ({id})",
        field.reference_to.join(" or ")
    ))
}

fn looks_like_email(s: &str) -> bool {
    let s = s.trim();
    match s.split_once('@') {
        Some((a, b)) => !a.is_empty() && b.contains('.') && !b.starts_with('.') && !s.contains(' '),
        None => false,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let cleaned: String = s
                .trim()
                .chars()
                .filter(|c| !matches!(c, ',' | '$' | '€' | '£' | '%' | ' '))
                .collect();
            cleaned.parse().ok()
        }
        _ => None,
    }
}

/// A date from `YYYY-MM-DD`, an ISO 8601 datetime (its date in `zone`), or `today`/`now`
/// (today in `zone`).
pub fn date(s: &str, now: DateTime<Utc>, zone: Tz) -> Option<NaiveDate> {
    if s.eq_ignore_ascii_case("now") || s.eq_ignore_ascii_case("today") {
        return Some(now.with_timezone(&zone).date_naive());
    }
    callforce_actions::zone::read_date(s, zone)
        .or_else(|| NaiveDate::parse_from_str(s, "%Y/%m/%d").ok())
}

/// A UTC datetime from ISO 8601 with an offset, without one (a local time in `zone`), a bare
/// date (midnight in `zone`), or `now`.
pub fn datetime(s: &str, now: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
    if s.eq_ignore_ascii_case("now") {
        return Some(now);
    }
    if let Some(d) = callforce_actions::zone::read_datetime(s, zone) {
        return Some(d);
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| callforce_actions::zone::local_to_utc(d, zone))
}

#[cfg(test)]
mod tests {
    use super::*;
    use callforce_client::describe::PicklistValue;
    use serde_json::json;

    fn field(ty: &str) -> FieldDescribe {
        serde_json::from_value(json!({
            "name": "F__c", "type": ty, "length": if ty == "string" { 10 } else { 0 },
            "nillable": true, "createable": true, "updateable": true,
            "referenceTo": if ty == "reference" { json!(["Lead"]) } else { json!([]) },
        }))
        .unwrap()
    }

    fn pick(restricted: bool) -> FieldDescribe {
        let mut f = field("picklist");
        f.restricted_picklist = restricted;
        f.picklist_values = ["Open - Not Contacted", "Working - Contacted"]
            .iter()
            .map(|v| PicklistValue {
                value: (*v).into(),
                label: Some((*v).into()),
                active: true,
                default_value: false,
            })
            .collect();
        f
    }

    fn now() -> DateTime<Utc> {
        "2026-03-01T12:30:00Z".parse().unwrap()
    }

    fn d() -> Describes {
        Describes::from_parts(
            [],
            Some(std::sync::Arc::new(
                serde_json::from_value(json!({"sobjects": [
                    {"name": "Lead", "keyPrefix": "00Q"}, {"name": "Account", "keyPrefix": "001"}
                ]}))
                .unwrap(),
            )),
        )
    }

    fn c(f: &FieldDescribe, v: Value) -> Result<Value, String> {
        coerce("Lead", f, &v, now(), Tz::UTC, &d())
    }

    #[test]
    fn values_are_coerced_to_the_field_type() {
        for (ty, given, want) in [
            ("date", json!("2026-03-05"), json!("2026-03-05")),
            (
                "date",
                json!("2026-03-05T23:10:00-05:00"),
                json!("2026-03-06"),
            ),
            ("date", json!("today"), json!("2026-03-01")),
            (
                "datetime",
                json!("2026-03-05T10:00:00+02:00"),
                json!("2026-03-05T08:00:00.000Z"),
            ),
            (
                "datetime",
                json!("2026-03-05 10:00"),
                json!("2026-03-05T10:00:00.000Z"),
            ),
            (
                "datetime",
                json!("2026-03-05"),
                json!("2026-03-05T00:00:00.000Z"),
            ),
            (
                "datetime",
                json!("2026-03-05T10:00:00.000+0000"),
                json!("2026-03-05T10:00:00.000Z"),
            ),
            ("datetime", json!("now"), json!("2026-03-01T12:30:00.000Z")),
            ("int", json!("42"), json!(42)),
            ("int", json!(7.0), json!(7)),
            ("currency", json!("$1,250.50"), json!(1250.5)),
            ("percent", json!("12%"), json!(12.0)),
            ("boolean", json!("yes"), json!(true)),
            ("boolean", json!("False"), json!(false)),
            ("string", json!(12), json!("12")),
            (
                "reference",
                json!("00Q0D0000000001"),
                json!("00Q0D0000000001UAA"),
            ),
        ] {
            assert_eq!(c(&field(ty), given.clone()), Ok(want), "{ty} {given}");
        }
    }

    #[test]
    fn picklists_match_case_insensitively_to_the_exact_value() {
        assert_eq!(
            c(&pick(false), json!("working - contacted")),
            Ok(json!("Working - Contacted"))
        );
        let e = c(&pick(true), json!("Working Contacted")).unwrap_err();
        assert!(e.contains("closest: \"Working - Contacted\""), "{e}");
        assert!(
            e.contains("valid values: Open - Not Contacted, Working - Contacted"),
            "{e}"
        );
    }

    #[test]
    fn what_does_not_fit_is_refused_with_a_fix() {
        for (ty, given, needle) in [
            ("date", json!("next week"), "takes a date (YYYY-MM-DD)"),
            ("datetime", json!(true), "takes a date and time"),
            ("int", json!("4.5"), "a whole number"),
            ("double", json!("lots"), "takes a number"),
            ("boolean", json!("maybe"), "true or false"),
            ("string", json!("01234567890"), "at most 10 characters"),
            ("email", json!("not-an-email"), "an email address"),
            ("reference", json!("001xx"), "15 or 18 letters"),
            (
                "reference",
                json!("0010D0000000001"),
                "an id of Lead, not an id of Account",
            ),
            ("address", json!("x"), "cannot write"),
        ] {
            let e = c(&field(ty), given.clone()).unwrap_err();
            assert!(e.contains(needle), "{ty} {given}: {e}");
        }
    }
}
