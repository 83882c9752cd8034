//! A create whose answer was lost, resolved by looking the record up before sending it again.
//!
//! A create of an object with no External ID field configured for idempotency cannot be sent
//! twice safely: if the first attempt was applied, a second makes a second record. So when an
//! attempt was sent and no answer came, the time of that attempt is kept in the job
//! (`ambiguousSince`), and before the next attempt the org is asked for records of the object
//! created by the connection's user since then (less [`crate::PipelineConfig::lookup_skew`],
//! for clocks that disagree) whose every filterable field written equals the value written:
//!
//! ```text
//! SELECT Id FROM Contact WHERE CreatedById = '005...' AND CreatedDate >= 2026-03-01T08:55:00Z
//!   AND LastName = 'Ng' AND Email = 'ng@example.com' ORDER BY CreatedDate LIMIT 10
//! ```
//!
//! One match is the record the lost attempt made ([`Found::One`]); none means it was not
//! applied and the create is sent again; several cannot be told apart ([`Found::Several`]).
//! The query is built with `callforce-soql`'s builder, so no written value can change its shape.

use std::time::Duration;

use callforce_client::describe::{FieldDescribe, SObjectDescribe};
use callforce_client::{Connection, Error as ClientError, Record, Request};
use callforce_soql::{Cond, Direction, Number, QueryBuilder, Value as Soql};
use chrono::{DateTime, FixedOffset, NaiveDate, TimeDelta, Utc};
use serde_json::Value;

/// The most matching ids a lookup reads: enough to say "several" and name them.
pub const MAX_MATCHES: u64 = 10;

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Exactly one record: the unanswered attempt made it; its id.
    One(String),
    /// No record: the attempt was not applied; the create is sent again.
    None,
    /// Several records (up to [`MAX_MATCHES`] ids): which one is this write's cannot be told.
    Several(Vec<String>),
    /// No lookup was possible (the text says why): the create is sent again, at least once.
    Blind(String),
}

/// Whether a lost answer to `request` is resolved by a lookup: a single create (a create on a
/// configured External ID field is an upsert by then, and needs none).
pub fn resolvable(request: &Request) -> bool {
    matches!(request, Request::Create { .. })
}

/// The lookup query of a create of `record`, for records created by `user_id` from `from` on,
/// or why there is none (the object has no `CreatedById` or `CreatedDate` to filter on, or no
/// written field can be compared).
///
/// Fields the describe does not know, that are not filterable (long text areas, encrypted
/// text), of a type with no equality literal (multi-select picklists, times, compound fields),
/// or whose value does not read as the field's type, are left out.
///
/// # Errors
/// The reason no lookup is possible.
pub fn lookup_query(
    describe: &SObjectDescribe,
    user_id: &str,
    record: &Record,
    from: DateTime<Utc>,
) -> Result<String, String> {
    for system in ["CreatedById", "CreatedDate"] {
        if !describe.field(system).is_some_and(|f| f.filterable) {
            return Err(format!(
                "{} has no filterable {system} to look a lost create up by",
                describe.name
            ));
        }
    }
    let mut cond = Cond::eq("CreatedById", user_id).and(Cond::ge("CreatedDate", from));
    let mut compared = 0;
    for (name, value) in record {
        let Some(field) = describe.field(name).filter(|f| f.filterable) else {
            continue;
        };
        if let Some(v) = literal(field, value) {
            cond = cond.and(Cond::Compare(
                field.name.clone(),
                callforce_soql::CompareOp::Eq,
                v,
            ));
            compared += 1;
        }
    }
    if compared == 0 {
        return Err(format!(
            "none of the fields written to {} can be compared in a query",
            describe.name
        ));
    }
    QueryBuilder::new(&describe.name)
        .select(["Id"])
        .filter(cond)
        .order_by("CreatedDate", Direction::Asc)
        .limit(MAX_MATCHES)
        .to_soql()
        .map_err(|e| format!("the lookup query could not be built: {e}"))
}

/// The SOQL literal `value` is equal to in `field`, or `None` when it has none.
fn literal(field: &FieldDescribe, value: &Value) -> Option<Soql> {
    let ty = field.type_.as_str();
    match value {
        Value::Null => Some(Soql::Null),
        Value::Bool(b) => (ty == "boolean").then_some(Soql::Boolean(*b)),
        Value::Number(n) => match ty {
            "double" | "currency" | "percent" | "int" | "long" => {
                Number::parse(&n.to_string()).map(Soql::Number)
            }
            "string" | "textarea" | "phone" | "picklist" | "combobox" => {
                Some(Soql::String(n.to_string()))
            }
            _ => None,
        },
        Value::String(s) => match ty {
            "string" | "textarea" | "phone" | "email" | "url" | "picklist" | "combobox"
            | "reference" | "id" => Some(Soql::String(s.clone())),
            "double" | "currency" | "percent" | "int" | "long" => {
                Number::parse(s.trim()).map(Soql::Number)
            }
            "boolean" => match s.as_str() {
                "true" => Some(Soql::Boolean(true)),
                "false" => Some(Soql::Boolean(false)),
                _ => None,
            },
            "date" => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .map(Soql::Date),
            "datetime" => datetime(s).map(Soql::DateTime),
            _ => None,
        },
        Value::Array(_) | Value::Object(_) => None,
    }
}

/// A datetime as Salesforce takes it: RFC 3339, or with a `+0000` offset.
fn datetime(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
}

/// Looks up the record a create of `record` in `sobject` made, if an attempt sent at `since`
/// was applied: records created by the connection's user from `since - skew` on, with the same
/// values.
///
/// # Errors
/// The describe, the user id or the query failing (classified as any request is).
pub async fn look_up(
    conn: &Connection,
    sobject: &str,
    record: &Record,
    since: DateTime<Utc>,
    skew: Duration,
) -> Result<(Found, Option<String>), ClientError> {
    let describe = conn.describe(sobject).await?;
    let user = conn.user_id().await?;
    let from = since - TimeDelta::from_std(skew).unwrap_or(TimeDelta::zero());
    let soql = match lookup_query(&describe, &user, record, from) {
        Ok(q) => q,
        Err(why) => return Ok((Found::Blind(why), None)),
    };
    let rows = conn.query::<Record>(&soql).await?;
    let mut ids: Vec<String> = rows
        .records
        .iter()
        .filter_map(|r| r.get("Id")?.as_str().map(str::to_owned))
        .collect();
    let found = match ids.len() {
        0 => Found::None,
        1 => Found::One(ids.remove(0)),
        _ => Found::Several(ids),
    };
    Ok((found, Some(soql)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn describe() -> SObjectDescribe {
        let f = |name: &str, ty: &str, filterable: bool| json!({"name": name, "type": ty, "filterable": filterable});
        serde_json::from_value(json!({
            "name": "Contact",
            "fields": [
                f("Id", "id", true),
                f("CreatedById", "reference", true),
                f("CreatedDate", "datetime", true),
                f("LastName", "string", true),
                f("Email", "email", true),
                f("Description", "textarea", false),
                f("Birthdate", "date", true),
                f("Score__c", "double", true),
                f("Do_Not_Call__c", "boolean", true),
                f("Last_Seen__c", "datetime", true),
                f("Channels__c", "multipicklist", true),
                f("AccountId", "reference", true),
            ],
        }))
        .expect("describe")
    }

    fn rec(v: Value) -> Record {
        v.as_object().cloned().expect("object")
    }

    fn from() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 8, 55, 0).unwrap()
    }

    const HEAD: &str = "SELECT Id FROM Contact WHERE CreatedById = '005000000000001AAA' \
        AND CreatedDate >= 2026-03-01T08:55:00Z";
    const TAIL: &str = " ORDER BY CreatedDate ASC LIMIT 10";

    #[test]
    fn lookup_queries_compare_every_filterable_field_written() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({"LastName": "Ng"}), " AND LastName = 'Ng'"),
            (
                json!({"lastname": "O'Brien", "Email": "a@b.example"}),
                " AND LastName = 'O\\'Brien' AND Email = 'a@b.example'",
            ),
            (
                json!({"LastName": "x' OR Name != '"}),
                " AND LastName = 'x\\' OR Name != \\''",
            ),
            (
                json!({"LastName": "Ng", "Description": "long text, not filterable"}),
                " AND LastName = 'Ng'",
            ),
            (
                json!({"LastName": "Ng", "Birthdate": "1984-03-14", "Score__c": 4.5,
                       "Do_Not_Call__c": true}),
                " AND LastName = 'Ng' AND Birthdate = 1984-03-14 AND Score__c = 4.5 \
                 AND Do_Not_Call__c = true",
            ),
            (
                json!({"LastName": "Ng", "Last_Seen__c": "2026-03-01T09:00:00.000+0000"}),
                " AND LastName = 'Ng' AND Last_Seen__c = 2026-03-01T09:00:00Z",
            ),
            (
                json!({"LastName": "Ng", "Score__c": "12"}),
                " AND LastName = 'Ng' AND Score__c = 12",
            ),
            (
                json!({"LastName": "Ng", "Email": null}),
                " AND LastName = 'Ng' AND Email = null",
            ),
            (
                json!({"LastName": "Ng", "Channels__c": "Phone;Email", "Unknown__c": "x",
                       "Account": {"External_Id__c": "A-1"}, "Birthdate": "14/03/1984",
                       "Score__c": "a lot"}),
                " AND LastName = 'Ng'",
            ),
        ];
        for (record, conds) in cases {
            let got = lookup_query(
                &describe(),
                "005000000000001AAA",
                &rec(record.clone()),
                from(),
            )
            .expect("a query");
            assert_eq!(got, format!("{HEAD}{conds}{TAIL}"), "{record}");
        }
    }

    #[test]
    fn no_lookup_without_a_comparable_field_or_the_system_fields() {
        let d = describe();
        let e = lookup_query(
            &d,
            "005",
            &rec(json!({"Description": "only long text"})),
            from(),
        )
        .expect_err("nothing to compare");
        assert!(e.contains("none of the fields written to Contact"), "{e}");
        let mut no_created = d.clone();
        no_created.fields.retain(|f| f.name != "CreatedById");
        let e = lookup_query(&no_created, "005", &rec(json!({"LastName": "Ng"})), from())
            .expect_err("no CreatedById");
        assert!(e.contains("no filterable CreatedById"), "{e}");
    }

    #[test]
    fn only_single_creates_are_resolved_by_a_lookup() {
        let create = Request::Create {
            sobject: "Contact".into(),
            record: rec(json!({"LastName": "Ng"})),
        };
        let upsert = Request::Upsert {
            sobject: "Task".into(),
            field: "Callforce_Key__c".into(),
            value: "cf-1".into(),
            record: rec(json!({"Subject": "Call"})),
        };
        assert!(resolvable(&create));
        assert!(!resolvable(&upsert));
    }
}
