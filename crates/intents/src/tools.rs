//! The intents as one tool for the model: `record_intent`, with the intent names as an enum and
//! the arguments of every intent as optional properties (why one tool and not one per intent:
//! `docs/intents.md`).

use std::collections::BTreeMap;

use callforce_actions::Tool;
use serde_json::{Map, Value, json};

use crate::describes::Describes;
use crate::map::{IntentMap, Source, Target, VarType};

/// The tool's name.
pub const TOOL_NAME: &str = "record_intent";

/// The most picklist values listed in an argument's schema; longer lists are left out (a wrong
/// value is refused with the closest valid one).
pub const MAX_ENUM: usize = 25;

struct ArgUse {
    intents: Vec<String>,
    types: Vec<Value>,
    values: Option<Vec<String>>,
    optional: bool,
    what: Vec<String>,
}

/// The `record_intent` tool for `map`. With `describes`, picklist arguments list their values
/// and undeclared arguments take their field's type.
pub fn tool(map: &IntentMap, describes: Option<&Describes>) -> Tool {
    let mut lines = Vec::new();
    let mut args: BTreeMap<String, ArgUse> = BTreeMap::new();
    for (name, intent) in &map.intents {
        let mut targets = Vec::new();
        for w in &intent.writes {
            let field_of = |f: &str| describes.and_then(|d| d.object(&w.object)?.field(f).cloned());
            let verb = if w.record == Target::Create {
                "creates"
            } else {
                "updates"
            };
            targets.push(format!(
                "{verb} {} ({})",
                w.object,
                w.fields.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
            let mut uses: Vec<(&str, Option<String>)> = w
                .fields
                .iter()
                .filter_map(|(f, s)| match s {
                    Source::Arg(a) => Some((a.as_str(), Some(f.clone()))),
                    _ => None,
                })
                .collect();
            if let Target::Arg(a) = &w.record {
                uses.push((a.as_str(), None));
            }
            for (a, field) in uses {
                let fd = field.as_deref().and_then(field_of);
                let declared = map.variables.get(a);
                let ty = match (declared, &fd) {
                    (Some(d), _) => Some(d.ty.clone()),
                    (None, Some(f)) => VarType::of_field(&f.type_, &f.reference_to),
                    (None, None) if field.is_none() => Some(VarType::Id(Some(w.object.clone()))),
                    _ => None,
                };
                let e = args.entry(a.to_owned()).or_insert_with(|| ArgUse {
                    intents: vec![],
                    types: vec![],
                    values: None,
                    optional: true,
                    what: vec![],
                });
                if !e.intents.contains(name) {
                    e.intents.push(name.clone());
                }
                let schema = ty
                    .as_ref()
                    .map_or_else(|| json!({"type": "string"}), VarType::json_schema);
                if !e.types.contains(&schema) {
                    e.types.push(schema);
                }
                let defaults_now = fd
                    .as_ref()
                    .is_some_and(|f| matches!(f.type_.as_str(), "date" | "datetime"));
                if !defaults_now {
                    e.optional = false;
                }
                let target = field.as_deref().map_or_else(
                    || format!("the {} to update", w.object),
                    |f| format!("{}.{f}", w.object),
                );
                let mut what = format!("{name}: {target}");
                if let Some(d) = declared.and_then(|d| d.description.as_deref()) {
                    what = format!("{what}, {d}");
                }
                if defaults_now {
                    what.push_str(", default now");
                }
                e.what.push(what);
                if let Some(f) = &fd
                    && matches!(f.type_.as_str(), "picklist" | "multipicklist")
                {
                    let vals: Vec<String> = f
                        .picklist_values
                        .iter()
                        .filter(|p| p.active)
                        .map(|p| p.value.clone())
                        .collect();
                    if vals.len() <= MAX_ENUM {
                        e.values = Some(vals);
                    }
                }
            }
        }
        let desc = intent
            .description
            .clone()
            .unwrap_or_else(|| targets.join("; "));
        lines.push(format!("{name}: {}", desc.trim_end_matches('.')));
    }
    let mut props = Map::new();
    props.insert(
        "intent".into(),
        json!({"type": "string", "enum": map.intents.keys().collect::<Vec<_>>()}),
    );
    for (a, u) in &args {
        let mut schema = match u.types.as_slice() {
            [one] => one.clone(),
            _ => json!({}),
        };
        let mut d = format!("For {}", u.what.join("; "));
        if u.intents.len() == 1 && !u.optional {
            d.push_str(". Required");
        }
        if let (Some(vals), Value::Object(m)) = (&u.values, &mut schema)
            && u.intents.len() == 1
        {
            m.insert("enum".into(), json!(vals));
        } else if let Some(vals) = &u.values {
            d.push_str(&format!(". Values: {}", vals.join(", ")));
        }
        if let Value::Object(m) = &mut schema {
            m.insert("description".into(), Value::String(d));
        }
        props.insert(a.clone(), schema);
    }
    Tool {
        name: TOOL_NAME.into(),
        description: format!(
            "Record what you decided during the call; callforce writes it to the CRM. Intents: {}.",
            lines.join(". ")
        ),
        parameters: json!({
            "type": "object",
            "properties": props,
            "required": ["intent"],
            "additionalProperties": false,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn describes() -> Describes {
        let obj = |name: &str, fields: Value| {
            Arc::new(
                serde_json::from_value(json!({"name": name, "fields": fields})).expect("describe"),
            )
        };
        Describes::from_parts(
            [
                obj(
                    "Opportunity",
                    json!([{"name": "Demo_Requested_At__c", "label": "Demo Requested At", "type": "datetime"}]),
                ),
                obj(
                    "Lead",
                    json!([{"name": "Status", "label": "Status", "type": "picklist", "picklistValues": [
                    {"value": "Open - Not Contacted", "active": true},
                    {"value": "Working - Contacted", "active": true},
                    {"value": "Retired", "active": false}]}]),
                ),
                obj(
                    "Task",
                    json!([{"name": "Description", "label": "Description", "type": "textarea"}]),
                ),
            ],
            None,
        )
    }

    #[test]
    fn the_seed_map_as_one_tool() {
        let map = IntentMap::from_value(json!({
            "demo_requested": "Opportunity.Demo_Requested_At__c",
            "qualified": "Lead.Status",
            "call_summary": "Task.Description"
        }))
        .expect("map");
        insta::assert_json_snapshot!(tool(&map, Some(&describes())));
    }

    #[test]
    fn typed_arguments_of_full_intents() {
        let map = IntentMap::from_value(json!({
            "variables": {"summary": {"type": "long_text", "description": "two sentences"}},
            "intents": {
                "qualified": {"description": "The caller is a qualified buyer.", "object": "Lead",
                              "record": {"arg": "lead_id"}, "fields": {"Status": {"arg": "status"}}},
                "call_summary": {"object": "Task", "fields": {"Description": {"arg": "summary"}}}
            }
        }))
        .expect("map");
        insta::assert_json_snapshot!(tool(&map, Some(&describes())));
    }
}
