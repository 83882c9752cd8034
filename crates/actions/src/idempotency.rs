//! Idempotency keys of writes: what makes two writes "the same write".
//!
//! A write's key is the hex SHA-256 of a domain-separated encoding of the workspace, the scope
//! the write belongs to ([`KeyScope`]: the call instance, or a key the caller chose), the action
//! and its canonical payload (object keys sorted, as confirmation tokens canonicalise it). So
//! the same tool call sent again in the same call instance (a model or client retrying) maps to
//! the same key, and nothing else does: a call reopened under the same id is a new instance,
//! another workspace is another key, other arguments are another write. A caller that wants a
//! write to be recognised across call instances names it ([`KeyScope::Caller`]); the key is then
//! scoped to the workspace, the action and the payload, never to the call. See
//! `docs/writes.md`.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::confirm::canonical;

/// The most characters of a key a caller chooses.
pub const MAX_CALLER_KEY: usize = 255;

/// Which writes a key is shared by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyScope<'a> {
    /// One call instance (its random id, new at each start of the call).
    Call(&'a str),
    /// A key the caller chose for the write, shared by every call of the workspace.
    Caller(&'a str),
}

/// The idempotency key of a write of `action` with `payload` (for a template, its arguments
/// after template resolution; for a custom action, the rendered request; for an intent, the
/// compiled request) to the org at `org` (its instance URL) in `workspace` and `scope`: 64 hex
/// digits. The org is part of it so that a caller's key used on two orgs of one workspace names
/// two writes.
pub fn idempotency_key(
    workspace: Option<i64>,
    org: &str,
    scope: KeyScope<'_>,
    action: &str,
    payload: &Value,
) -> String {
    let workspace = workspace.map(|w| w.to_string()).unwrap_or_default();
    let (kind, value) = match scope {
        KeyScope::Call(instance) => ("call", instance),
        KeyScope::Caller(key) => ("caller", key),
    };
    let canonical = canonical(payload);
    digest(
        b"callforce.idempotency.v2\0",
        &[
            workspace.as_str(),
            org,
            kind,
            value,
            action,
            canonical.as_str(),
        ],
    )
}

/// The key of the `n`th distinct write of a call instance whose identity is `base` (an
/// [`idempotency_key`]): the same write asked for again later in the call, after other writes,
/// is a new write (a value set back), while a retry of the call's last write keeps its key
/// (see [`crate::CallSession::write_key`]).
pub fn nth_key(base: &str, n: u64) -> String {
    digest(b"callforce.idempotency.nth\0", &[base, &n.to_string()])
}

/// Hex SHA-256 of `domain` and the length-prefixed `parts`.
fn digest(domain: &[u8], parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(domain);
    // NB: each part is length-prefixed, so no two different tuples encode alike.
    for part in parts {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a key a caller chose: 1 to [`MAX_CALLER_KEY`] printable ASCII characters.
///
/// # Errors
/// What to fix, for the caller.
pub fn check_caller_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_CALLER_KEY {
        return Err(format!(
            "an idempotency key must be 1 to {MAX_CALLER_KEY} characters"
        ));
    }
    if !key.chars().all(|c| c.is_ascii_graphic()) {
        return Err(
            "an idempotency key must be printable ASCII with no spaces (a UUID works)".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_same_write_has_the_same_key_and_nothing_else_does() {
        let base = || {
            idempotency_key(
                Some(1),
                "https://a.my.salesforce.com",
                KeyScope::Call("a1"),
                "create_case",
                &json!({"Subject": "x", "Origin": "Phone"}),
            )
        };
        let k = base();
        assert_eq!(k.len(), 64);
        assert!(k.chars().all(|c| c.is_ascii_hexdigit()), "{k}");
        #[rustfmt::skip]
        let cases: Vec<(&str, String, bool)> = vec![
            ("same, keys in another order", idempotency_key(Some(1), "https://a.my.salesforce.com", KeyScope::Call("a1"), "create_case", &json!({"Origin": "Phone", "Subject": "x"})), true),
            ("another workspace", idempotency_key(Some(2), "https://a.my.salesforce.com", KeyScope::Call("a1"), "create_case", &json!({"Subject": "x", "Origin": "Phone"})), false),
            ("no workspace", idempotency_key(None, "https://a.my.salesforce.com", KeyScope::Call("a1"), "create_case", &json!({"Subject": "x", "Origin": "Phone"})), false),
            ("another call instance", idempotency_key(Some(1), "https://a.my.salesforce.com", KeyScope::Call("a2"), "create_case", &json!({"Subject": "x", "Origin": "Phone"})), false),
            ("a caller key equal to the instance", idempotency_key(Some(1), "https://a.my.salesforce.com", KeyScope::Caller("a1"), "create_case", &json!({"Subject": "x", "Origin": "Phone"})), false),
            ("another action", idempotency_key(Some(1), "https://a.my.salesforce.com", KeyScope::Call("a1"), "create_task", &json!({"Subject": "x", "Origin": "Phone"})), false),
            ("another value", idempotency_key(Some(1), "https://a.my.salesforce.com", KeyScope::Call("a1"), "create_case", &json!({"Subject": "y", "Origin": "Phone"})), false),
            ("another org", idempotency_key(Some(1), "https://b.my.salesforce.com", KeyScope::Call("a1"), "create_case", &json!({"Subject": "x", "Origin": "Phone"})), false),
            ("parts shifted", idempotency_key(Some(1), "https://a.my.salesforce.com", KeyScope::Call("a1c"), "reate_case", &json!({"Subject": "x", "Origin": "Phone"})), false),
        ];
        for (what, got, same) in cases {
            assert_eq!(got == k, same, "{what}");
        }
        assert_eq!(base(), k, "stable");
        assert_ne!(nth_key(&k, 0), nth_key(&k, 1));
        assert_ne!(nth_key(&k, 0), k);
    }

    #[test]
    fn caller_keys_are_checked() {
        let long = "k".repeat(MAX_CALLER_KEY + 1);
        #[rustfmt::skip]
        let cases: [(&str, bool); 6] = [
            ("order-17", true),
            ("3f0c9a6e-8b1d-4c57-9a0e-2b7d5f1e6c42", true),
            ("", false),
            ("with space", false),
            ("caf\u{e9}", false),
            (&long, false),
        ];
        for (key, ok) in cases {
            assert_eq!(check_caller_key(key).is_ok(), ok, "{key}");
        }
    }
}
