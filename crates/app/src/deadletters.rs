//! Dead letters: what an edit of a dead letter's payload must keep, and the merge patch it uses.

use serde_json::Value;

/// Applies an RFC 7396 JSON merge patch: objects merge key by key, `null` removes a key, any
/// other value replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in patch {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Why a dead letter of `kind` cannot take `payload`: a write job's must still be a
/// [`callforce_pipeline::JobPayload`] (`{"request": {"op": ...}, "action": ...}`), or a worker
/// could not run it after a replay.
pub fn payload_problem(kind: &str, payload: &Value) -> Option<String> {
    if kind != callforce_pipeline::KIND_WRITE {
        return None;
    }
    let e = serde_json::from_value::<callforce_pipeline::JobPayload>(payload.clone()).err()?;
    Some(format!(
        "the payload would no longer be a write job, so it was not saved: {e}. It must stay \
         {{\"request\": {{\"op\": ...}}, \"action\": ...}} (the dead letter shows the current one)"
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (json!({"a": [1]}), json!({"a": [2]}), json!({"a": [2]})),
            (json!(["a"]), json!({"a": "b"}), json!({"a": "b"})),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
        ];
        for (target, patch, want) in cases {
            let mut t = target.clone();
            merge_patch(&mut t, &patch);
            assert_eq!(t, want, "{target} + {patch}");
        }
    }
}
