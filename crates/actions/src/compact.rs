//! Results made short for a model's context: no `attributes`, no nulls, lists capped with a
//! count of what was left out.

use serde_json::{Map, Value};

/// The most items a list keeps.
pub const MAX_LIST: usize = 10;

/// `value` without `attributes` (a record's type kept as `type` when `keep_type`), without
/// nulls and empty objects, and with every list cut to `max_list` items.
pub fn compact(value: Value, max_list: usize, keep_type: bool) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if k == "attributes" {
                    if keep_type && let Some(t) = v.get("type").and_then(Value::as_str) {
                        out.insert("type".into(), Value::String(t.to_owned()));
                    }
                    continue;
                }
                // A child relationship answer (`{totalSize, done, records}`) becomes its records.
                let v = match v {
                    Value::Object(mut m) if m.contains_key("records") && m.contains_key("done") => {
                        m.remove("records").unwrap_or(Value::Null)
                    }
                    other => other,
                };
                match compact(v, max_list, keep_type) {
                    Value::Null => {}
                    Value::Object(m) if m.is_empty() => {}
                    c => {
                        out.insert(k, c);
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .take(max_list)
                .map(|v| compact(v, max_list, keep_type))
                .collect(),
        ),
        other => other,
    }
}

/// A list result: `{"count", "records", "omitted"?}` with at most `max_list` records.
pub fn records(list: Vec<Value>, total: u64, max_list: usize, keep_type: bool) -> Value {
    let shown = list.len().min(max_list);
    let omitted = (total as usize).max(list.len()) - shown;
    let mut out = Map::new();
    out.insert("count".into(), Value::from(total.max(list.len() as u64)));
    out.insert(
        "records".into(),
        compact(Value::Array(list), max_list, keep_type),
    );
    if omitted > 0 {
        out.insert("omitted".into(), Value::from(omitted));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attributes_and_nulls_go_lists_are_capped() {
        let v = json!({
            "attributes": {"type": "Contact"},
            "Id": "003", "Email": null,
            "Account": {"attributes": {"type": "Account"}, "Name": "Acme"},
            "Owner": {"attributes": {"type": "User"}, "Name": null},
            "Cases": {"totalSize": 3, "done": true, "records": [{"Id": "1"}, {"Id": "2"}, {"Id": "3"}]}
        });
        assert_eq!(
            compact(v, 2, false),
            json!({"Id": "003", "Account": {"Name": "Acme"}, "Cases": [{"Id": "1"}, {"Id": "2"}]})
        );
    }

    #[test]
    fn records_counts_what_was_left_out() {
        let list: Vec<Value> = (0..5).map(|i| json!({"Id": i, "X": null})).collect();
        let r = records(list, 12, 3, false);
        assert_eq!(r["count"], 12);
        assert_eq!(r["omitted"], 9);
        assert_eq!(r["records"], json!([{"Id": 0}, {"Id": 1}, {"Id": 2}]));
    }

    #[test]
    fn search_results_keep_their_type() {
        let v = json!([{"attributes": {"type": "Lead", "url": "/x"}, "Id": "00Q"}]);
        assert_eq!(compact(v, 10, true), json!([{"type": "Lead", "Id": "00Q"}]));
    }
}
