//! Dead letters: what an edit of a dead letter's payload must keep, the merge patch it uses, and
//! how a stored payload and status read. The operations on them are [`crate::admin`]'s.

use callforce_store::DeadLetterStatus;
use serde_json::Value;

/// The names of a dead letter's statuses, as an error lists them.
pub const STATUSES: &str = "open, replayed, discarded";

/// A dead letter's status from its name (`open`, `replayed`, `discarded`).
pub fn parse_status(name: &str) -> Option<DeadLetterStatus> {
    match name {
        "open" => Some(DeadLetterStatus::Open),
        "replayed" => Some(DeadLetterStatus::Replayed),
        "discarded" => Some(DeadLetterStatus::Discarded),
        _ => None,
    }
}

/// A stored payload as JSON; one that is not JSON (never written so) as a string.
pub fn payload_value(payload: &str) -> Value {
    serde_json::from_str(payload).unwrap_or_else(|_| Value::String(payload.to_owned()))
}

/// The action named in a payload (`{"action": ...}`), if any.
pub fn action_of(payload: &Value) -> Option<&str> {
    payload.get("action").and_then(Value::as_str)
}

/// An edit of a dead letter's payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// The new payload, replacing the old one.
    Replace(Value),
    /// An RFC 7396 merge patch applied to the stored payload ([`merge_patch`]).
    Merge(Value),
}

impl Edit {
    /// The payload after this edit of `current` (a stored payload).
    pub fn apply(self, current: &str) -> Value {
        match self {
            Self::Replace(p) => p,
            Self::Merge(patch) => {
                let mut p = payload_value(current);
                merge_patch(&mut p, &patch);
                p
            }
        }
    }
}

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

    #[test]
    fn an_edit_replaces_or_merges_the_stored_payload() {
        let stored = r#"{"action": "log_call", "request": {"op": "create"}}"#;
        let cases = [
            (Edit::Replace(json!({"a": 1})), json!({"a": 1})),
            (
                Edit::Merge(json!({"request": {"op": "update"}})),
                json!({"action": "log_call", "request": {"op": "update"}}),
            ),
            (
                Edit::Merge(json!({"action": null})),
                json!({"request": {"op": "create"}}),
            ),
        ];
        for (edit, want) in cases {
            assert_eq!(edit.clone().apply(stored), want, "{edit:?}");
        }
        assert_eq!(
            Edit::Merge(json!({"a": 1})).apply("not json"),
            json!({"a": 1})
        );
    }

    #[test]
    fn statuses_parse_by_name() {
        assert_eq!(parse_status("open"), Some(DeadLetterStatus::Open));
        assert_eq!(parse_status("replayed"), Some(DeadLetterStatus::Replayed));
        assert_eq!(parse_status("discarded"), Some(DeadLetterStatus::Discarded));
        assert_eq!(parse_status("Open"), None);
        assert_eq!(parse_status(""), None);
    }
}
