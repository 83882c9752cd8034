//! What a check finds: each problem with its severity, kind, place and fix, and the report of
//! a whole map. Kept apart from the check itself so the crate's [`Error`](crate::Error) can carry
//! a report without depending on the checker.

use serde::{Deserialize, Serialize};

/// How bad a problem is: errors block activation, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The map cannot be activated.
    Error,
    /// Worth a look; the map can be activated.
    Warning,
}

/// What kind of problem, one line each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// An intent or argument name is not a valid tool name.
    InvalidName,
    /// An intent has no writes, or a write no fields.
    Empty,
    /// An intent has more writes than one composite request takes.
    TooManyWrites,
    /// The org has no such object.
    UnknownObject,
    /// The object has no such field.
    UnknownField,
    /// The connected user cannot create records of the object, or set the field on create.
    NotCreateable,
    /// The connected user cannot update records of the object, or the field.
    NotUpdateable,
    /// The value's type does not fit the field's type.
    TypeMismatch,
    /// A constant is not a value of the picklist.
    InvalidPicklistValue,
    /// A constant id is malformed or of the wrong object.
    MalformedId,
    /// A created record misses a required field.
    RequiredFieldMissing,
    /// A `ref` names no earlier create of the same intent.
    UnknownReference,
    /// The type of a call variable is not known, so it cannot be checked.
    UncheckedType,
    /// The field's type cannot be written by an intent (address, location, time, base64).
    UnsupportedField,
    /// A write names a record type the object does not have.
    UnknownRecordType,
}

/// One problem, where it is, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// The kind.
    pub code: Code,
    /// Where in the map (`intents.qualified.writes[0].fields.Status`).
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

/// The result of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Whether the map may be activated (no errors).
    pub ok: bool,
    /// How many intents were checked.
    pub intents: usize,
    /// How many field writes were checked.
    pub fields: usize,
    /// Every problem, errors first, in map order.
    pub problems: Vec<Problem>,
}

impl Report {
    /// How many errors.
    pub fn errors(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
    }

    /// The problems of `code`.
    pub fn of(&self, code: Code) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(move |p| p.code == code)
    }
}
