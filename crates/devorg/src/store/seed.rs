//! The seed loader: `seed/base.json` always, `seed/demo.json` for [`Seed::Demo`].
//!
//! The format is described in `crates/devorg/seed/README.md`: object name → list of create
//! bodies, in load order, where `"@ref"` names a record, a value `"@name"` is the id of the
//! record named `name`, `"@today±N"` a date N days from today and `"@now±N[hmd]"` a datetime.
//! Records go through the normal create path (validated like an API create) except that `Id`
//! and system fields may be given.

use std::collections::HashMap;

use callforce_types::Id;
use chrono::{TimeDelta, Utc};
use serde_json::{Map, Value as J};

use super::Store;
use crate::Seed;

const BASE: &str = include_str!("../../seed/base.json");
const DEMO: &str = include_str!("../../seed/demo.json");

fn err(msg: String) -> crate::Error {
    crate::Error::Seed(msg)
}

/// Loads the seed into `store` in one transaction, committed (and journaled when the store has a
/// data directory).
///
/// # Errors
/// [`crate::Error::Seed`] naming the file, object and record that did not load.
pub(super) fn load(store: &Store, seed: Seed) -> crate::Result<()> {
    let mut txn = store.write();
    let mut refs = HashMap::new();
    load_file(&mut txn, "base.json", BASE, &mut refs)?;
    if seed == Seed::Demo {
        load_file(&mut txn, "demo.json", DEMO, &mut refs)?;
    }
    txn.commit().map_err(crate::Error::Data)
}

/// Adds a `RecordType` record for every record type the schema defines that the store does not
/// hold yet (a replayed journal may already have them), so `RecordTypeId` values resolve and
/// SOQL on `RecordType` finds them.
///
/// # Errors
/// [`crate::Error::Seed`] when one does not load; [`crate::Error::Data`] from the journal.
pub(crate) fn record_types(store: &Store) -> crate::Result<()> {
    let mut txn = store.write();
    let Some(table) = txn.data().table_index("RecordType") else {
        return Ok(());
    };
    let schema = txn.data().schema().clone();
    let mut added = false;
    for o in schema.objects() {
        for rt in &o.record_types {
            if txn.data().tables()[table].row_of(rt.id).is_some() {
                continue;
            }
            let mut body = Map::new();
            body.insert("Id".into(), J::String(rt.id.to_string()));
            body.insert("Name".into(), J::String(rt.name.clone()));
            body.insert("DeveloperName".into(), J::String(rt.developer_name.clone()));
            body.insert("SobjectType".into(), J::String(o.name.clone()));
            body.insert("IsActive".into(), J::Bool(true));
            txn.create_trusted(table, &body).map_err(|e| {
                err(format!(
                    "record type {}.{}: {}",
                    o.name,
                    rt.developer_name,
                    e.code()
                ))
            })?;
            added = true;
        }
    }
    if added {
        txn.commit().map_err(crate::Error::Data)
    } else {
        txn.settle();
        Ok(())
    }
}

/// Loads one seed document into `txn`, resolving `@` references through `refs`.
pub(super) fn load_file(
    txn: &mut super::Txn<'_>,
    file: &str,
    text: &str,
    refs: &mut HashMap<String, Id>,
) -> crate::Result<()> {
    let doc: Map<String, J> =
        serde_json::from_str(text).map_err(|e| err(format!("{file}: {e}")))?;
    let today = Utc::now().date_naive();
    let now = Utc::now();
    for (object, records) in &doc {
        let table = txn
            .data()
            .table_index(object)
            .ok_or_else(|| err(format!("{file}: unknown object {object}")))?;
        let records = records
            .as_array()
            .ok_or_else(|| err(format!("{file}: {object} is not a list")))?;
        for (n, rec) in records.iter().enumerate() {
            let rec = rec
                .as_object()
                .ok_or_else(|| err(format!("{file}: {object}[{n}] is not an object")))?;
            let mut body = Map::new();
            let mut name = None;
            for (k, v) in rec {
                if k == "@ref" {
                    name = v.as_str().map(str::to_owned);
                    continue;
                }
                let v = match v.as_str().and_then(|s| s.strip_prefix('@')) {
                    Some(token) => {
                        J::String(resolve(token, today, now, refs).ok_or_else(|| {
                            err(format!(
                                "{file}: {object}[{n}].{k}: unknown reference @{token}"
                            ))
                        })?)
                    }
                    None => v.clone(),
                };
                body.insert(k.clone(), v);
            }
            let id = txn.create_trusted(table, &body).map_err(|e| {
                let m = e
                    .errors
                    .first()
                    .map(|b| b.message.clone())
                    .unwrap_or_default();
                err(format!("{file}: {object}[{n}]: {} {m}", e.code()))
            })?;
            if let Some(name) = name {
                refs.insert(name, id);
            }
        }
    }
    Ok(())
}

/// Resolves `today±N`, `now±N[hmd]` or a record name.
fn resolve(
    token: &str,
    today: chrono::NaiveDate,
    now: chrono::DateTime<Utc>,
    refs: &HashMap<String, Id>,
) -> Option<String> {
    if let Some(rest) = token.strip_prefix("today") {
        let days: i64 = if rest.is_empty() {
            0
        } else {
            rest.parse().ok()?
        };
        let d = today.checked_add_signed(TimeDelta::try_days(days)?)?;
        return Some(d.format("%Y-%m-%d").to_string());
    }
    if let Some(rest) = token.strip_prefix("now") {
        let delta = if rest.is_empty() {
            TimeDelta::zero()
        } else {
            let (num, unit) = rest.split_at(rest.len() - 1);
            let n: i64 = num.parse().ok()?;
            match unit {
                "h" => TimeDelta::try_hours(n)?,
                "m" => TimeDelta::try_minutes(n)?,
                "d" => TimeDelta::try_days(n)?,
                _ => return None,
            }
        };
        let t = now.checked_add_signed(delta)?;
        return Some(crate::value::format_datetime(t.timestamp_millis()));
    }
    refs.get(token).map(|id| id.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_resolve() {
        let today = chrono::NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
        let now = chrono::DateTime::from_timestamp(0, 0).unwrap();
        let mut refs = HashMap::new();
        let id = Id::parse("001D000000IRFmaIAH").unwrap();
        refs.insert("acme".to_owned(), id);
        let cases = [
            ("today", Some("2024-03-01")),
            ("today-1", Some("2024-02-29")),
            ("today+31", Some("2024-04-01")),
            ("now", Some("1970-01-01T00:00:00.000+0000")),
            ("now+2h", Some("1970-01-01T02:00:00.000+0000")),
            ("now-30m", Some("1969-12-31T23:30:00.000+0000")),
            ("now+1d", Some("1970-01-02T00:00:00.000+0000")),
            ("now+1y", None),
            ("acme", Some("001D000000IRFmaIAH")),
            ("nobody", None),
        ];
        for (token, want) in cases {
            assert_eq!(
                resolve(token, today, now, &refs).as_deref(),
                want,
                "{token}"
            );
        }
    }
}
