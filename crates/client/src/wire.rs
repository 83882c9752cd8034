//! What single requests and composite requests are both made of: a record's fields, checked
//! API names and encoded path segments. Kept below both so neither imports the other for them.

use crate::error::{Error, Result};

/// A record's fields, as JSON (`{"LastName": "Ng", "attributes": {"type": "Contact"}}`).
pub type Record = serde_json::Map<String, serde_json::Value>;

/// Checks an object or field API name (letters, digits, underscores; starting with a letter).
pub(crate) fn name(s: &str) -> Result<&str> {
    let ok = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(s)
    } else {
        Err(Error::InvalidRequest(format!("not an API name: {s:?}")))
    }
}

/// Percent-encodes a path segment (an External ID value).
pub(crate) fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
