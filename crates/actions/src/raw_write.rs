//! The sObject records a raw write carries (a custom action's rendered request), found by its
//! method and path, so they can be checked against their objects' describes before anything is
//! sent, as a template's record is.

use serde_json::{Map, Value};

/// One record of a raw write: the object it is a record of, and the record as it will be sent.
#[derive(Debug)]
pub(crate) struct RawRecord<'a> {
    /// The object's API name, from the path or the record's `attributes.type`.
    pub object: String,
    /// Whether it changes a record that exists (an update or an upsert), so an `Id` is allowed.
    pub update: bool,
    /// Whether its values may refer to an earlier subrequest's result (`@{ref.id}`), which is
    /// no id until the org resolves it.
    pub refs: bool,
    /// The record.
    pub record: &'a mut Map<String, Value>,
}

/// The records `body` writes when sent with `method` to `path` (resolved, as
/// [`callforce_client::request::raw_path`] returns it):
///
/// - `POST /services/data/vXX.X/sobjects/<Object>`: a create;
/// - `PATCH .../sobjects/<Object>/<id>`: an update;
/// - `PATCH` (or `POST`) `.../sobjects/<Object>/<Field>/<value>`: an upsert;
/// - `POST` / `PATCH .../composite/sobjects[/<Object>/<Field>]`: each record of `records`, of
///   its `attributes.type` (else the path's object);
/// - `POST .../composite`: each subrequest whose `url` is one of the above.
///
/// Anything else (a query, Apex REST, a composite tree, a body that is not an object) carries
/// no record this can name, and is left to the org.
pub(crate) fn records<'a>(method: &str, path: &str, body: &'a mut Value) -> Vec<RawRecord<'a>> {
    let mut out = Vec::new();
    collect(method, path, body, false, &mut out);
    out
}

fn collect<'a>(
    method: &str,
    path: &str,
    body: &'a mut Value,
    refs: bool,
    out: &mut Vec<RawRecord<'a>>,
) {
    let Some(rest) = api_segments(path) else {
        return;
    };
    let method = method.to_ascii_uppercase();
    let Value::Object(map) = body else {
        return;
    };
    match (method.as_str(), rest.as_slice()) {
        ("POST", ["sobjects", object]) => push(object, false, refs, map, out),
        ("PATCH", ["sobjects", object, _id]) => push(object, true, refs, map, out),
        ("PATCH" | "POST", ["sobjects", object, _field, _value]) => {
            push(object, true, refs, map, out);
        }
        ("POST" | "PATCH", ["composite", "sobjects"] | ["composite", "sobjects", _, _]) => {
            let from_path = rest.get(2).copied();
            let update = method == "PATCH";
            let Some(Value::Array(records)) = map.get_mut("records") else {
                return;
            };
            for r in records {
                let Value::Object(rec) = r else { continue };
                let typed = rec
                    .get("attributes")
                    .and_then(|a| a.get("type"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                if let Some(object) = typed.as_deref().or(from_path) {
                    let object = object.to_owned();
                    push(&object, update, refs, rec, out);
                }
            }
        }
        ("POST", ["composite"]) if !refs => {
            let Some(Value::Array(subs)) = map.get_mut("compositeRequest") else {
                return;
            };
            for sub in subs {
                let Value::Object(sub) = sub else { continue };
                let method = sub.get("method").and_then(Value::as_str).map(str::to_owned);
                let url = sub.get("url").and_then(Value::as_str).map(str::to_owned);
                let (Some(method), Some(url), Some(body)) = (method, url, sub.get_mut("body"))
                else {
                    continue;
                };
                let path = url.split('?').next().unwrap_or_default();
                collect(&method, path, body, true, out);
            }
        }
        _ => {}
    }
}

fn push<'a>(
    object: &str,
    update: bool,
    refs: bool,
    record: &'a mut Map<String, Value>,
    out: &mut Vec<RawRecord<'a>>,
) {
    if is_object_name(object) {
        out.push(RawRecord {
            object: object.to_owned(),
            update,
            refs,
            record,
        });
    }
}

/// The segments after `/services/data/vXX.X/` (a trailing `/` ignored); `None` for any other
/// root.
fn api_segments(path: &str) -> Option<Vec<&str>> {
    let rest = path.strip_prefix("/services/data/")?;
    let (version, rest) = rest.split_once('/')?;
    if !version.starts_with('v') {
        return None;
    }
    Some(rest.trim_end_matches('/').split('/').collect())
}

fn is_object_name(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// (object, update, refs, the record's keys) of one record found.
    type Found = (String, bool, bool, Vec<String>);

    /// Each record found.
    fn found(method: &str, path: &str, mut body: Value) -> Vec<Found> {
        records(method, path, &mut body)
            .into_iter()
            .map(|r| {
                (
                    r.object,
                    r.update,
                    r.refs,
                    r.record.keys().cloned().collect(),
                )
            })
            .collect()
    }

    fn one(object: &str, update: bool, refs: bool) -> Vec<Found> {
        vec![(object.into(), update, refs, vec!["A".into()])]
    }

    #[test]
    fn the_records_of_a_raw_write_are_found_by_method_and_path() {
        let rec = json!({"A": 1});
        let d = "/services/data/v59.0";
        let cases: Vec<(&str, String, Value, Vec<Found>)> = vec![
            (
                "POST",
                format!("{d}/sobjects/Contact"),
                rec.clone(),
                one("Contact", false, false),
            ),
            (
                "post",
                format!("{d}/sobjects/Contact/"),
                rec.clone(),
                one("Contact", false, false),
            ),
            (
                "PATCH",
                format!("{d}/sobjects/Contact/003000000000001"),
                rec.clone(),
                one("Contact", true, false),
            ),
            (
                "PATCH",
                format!("{d}/sobjects/Contact/Ext__c/k-1"),
                rec.clone(),
                one("Contact", true, false),
            ),
            (
                "POST",
                format!("{d}/sobjects/Contact/describe"),
                rec.clone(),
                vec![],
            ),
            ("GET", format!("{d}/sobjects/Contact"), rec.clone(), vec![]),
            (
                "DELETE",
                format!("{d}/sobjects/Contact/003000000000001"),
                rec.clone(),
                vec![],
            ),
            (
                "POST",
                format!("{d}/sobjects/Bad%20Name"),
                rec.clone(),
                vec![],
            ),
            (
                "POST",
                format!("{d}/sobjects/Contact"),
                json!([rec.clone()]),
                vec![],
            ),
            (
                "POST",
                "/services/apexrest/sobjects/Contact".into(),
                rec.clone(),
                vec![],
            ),
            ("POST", format!("{d}/query"), rec.clone(), vec![]),
            (
                "POST",
                format!("{d}/composite/sobjects"),
                json!({"records": [{"attributes": {"type": "Contact"}, "A": 1},
                                   {"attributes": {"type": "Lead"}, "A": 2}, 7]}),
                vec![
                    (
                        "Contact".into(),
                        false,
                        false,
                        vec!["attributes".into(), "A".into()],
                    ),
                    (
                        "Lead".into(),
                        false,
                        false,
                        vec!["attributes".into(), "A".into()],
                    ),
                ],
            ),
            (
                "PATCH",
                format!("{d}/composite/sobjects/Contact/Ext__c"),
                json!({"records": [{"A": 1}]}),
                one("Contact", true, false),
            ),
            (
                "POST",
                format!("{d}/composite"),
                json!({"compositeRequest": [
                    {"method": "POST", "url": format!("{d}/sobjects/Account"), "body": {"A": 1}},
                    {"method": "PATCH", "url": format!("{d}/sobjects/Contact/@{{c.id}}?x=1"), "body": {"A": 2}},
                    {"method": "GET", "url": format!("{d}/sobjects/Contact/@{{c.id}}")},
                    {"method": "POST", "url": format!("{d}/composite"), "body": {"compositeRequest": []}}
                ]}),
                vec![
                    ("Account".into(), false, true, vec!["A".into()]),
                    ("Contact".into(), true, true, vec!["A".into()]),
                ],
            ),
            (
                "POST",
                format!("{d}/composite/tree/Account"),
                json!({"records": [rec.clone()]}),
                vec![],
            ),
        ];
        for (method, path, body, want) in cases {
            assert_eq!(found(method, &path, body), want, "{method} {path}");
        }
    }
}
