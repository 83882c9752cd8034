//! Repeated writes in a call: the same action with the same arguments asked for again (a
//! platform's retry, a request cancelled and sent again, a model repeating itself) answers the
//! first one's result and writes nothing.
//!
//! [`Actions`](crate::Actions) ask a [`Repeats`] (the service keeps it in its store, so it holds
//! across instances and front doors) before each write: [`Seen::First`] runs the write and
//! records its answer ([`Repeats::finish`]) or, when it failed, forgets it
//! ([`Repeats::release`]); [`Seen::Again`] is the first one's answer. Whether a repeat is the
//! same write depends on its [`Target`]: a create is always a new record, so its repeat is the
//! same write; an update is the same write only while nothing else was written to its record in
//! between (see `docs/writes.md`).

use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};

use crate::catalog::{Action, Op};
use crate::error::ActionError;

/// What a write touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A new record (a create).
    New,
    /// One record: `Case:500...` (the first 15 characters of its id), `Contact:Email:a@b`.
    Record(String),
    /// Not known from the arguments (a raw request, a bulk update, a custom action).
    Unknown,
}

/// One write of a call, as [`Repeats`] knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeat {
    /// The call's workspace.
    pub workspace: i64,
    /// The call's id.
    pub call_id: String,
    /// The call's instance ([`crate::CallSession::instance`]).
    pub instance: String,
    /// The action.
    pub action: String,
    /// The write's identity: its [`crate::idempotency::idempotency_key`] before its place in
    /// the call (a hash of the canonical arguments).
    pub args_hash: String,
    /// What it touches.
    pub target: Target,
}

/// What [`Repeats::claim`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum Seen {
    /// Not written yet in the window: run it.
    First,
    /// The same write ran already: its answer.
    Again(Value),
}

/// The future of a [`Repeats`] call.
pub type RepeatFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Remembers a call's writes for the duplicate window.
pub trait Repeats: Send + Sync {
    /// Claims `write`: [`Seen::First`] when it is to run now, the first one's answer when it is
    /// a repeat (an identical write still running elsewhere is waited for).
    ///
    /// # Errors
    /// What to tell the model when the window cannot be read (nothing was written).
    fn claim<'a>(&'a self, write: &'a Repeat) -> RepeatFuture<'a, Result<Seen, ActionError>>;

    /// Records the answer of the claimed `write`.
    fn finish<'a>(&'a self, write: &'a Repeat, result: &'a Value) -> RepeatFuture<'a, ()>;

    /// Forgets the claimed `write`, which failed: a repeat runs it again.
    fn release<'a>(&'a self, write: &'a Repeat) -> RepeatFuture<'a, ()>;
}

/// What a write of `action` with `args` (resolved) touches.
pub fn target(action: &Action, args: &Map<String, Value>) -> Target {
    let Action::Template(t) = action else {
        return Target::Unknown;
    };
    let object = |a: &str| {
        args.get(a)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| t.object.clone())
    };
    let id = |name: &str| args.get(name).and_then(Value::as_str).map(record_id);
    match t.op {
        Op::Create | Op::CreateNote | Op::CreateRecord | Op::CreateTask | Op::BulkCreate => {
            Target::New
        }
        Op::Update | Op::Delete | Op::UpdateNote | Op::UpdateRecord => {
            match (
                object("sobject"),
                id("record_id").or_else(|| id("opportunity_id")),
            ) {
                (Some(o), Some(id)) => Target::Record(format!("{o}:{id}")),
                (None, Some(id)) => Target::Record(id),
                _ => Target::Unknown,
            }
        }
        Op::UpsertRecord => match (
            object("sobject"),
            args.get("external_id_field").and_then(Value::as_str),
            args.get("external_id").and_then(Value::as_str),
        ) {
            (Some(o), Some(f), Some(v)) => Target::Record(format!("{o}:{f}:{v}")),
            _ => Target::Unknown,
        },
        _ => Target::Unknown,
    }
}

/// A record id as a target: its first 15 characters (the 18-character form adds a checksum of
/// the same id).
fn record_id(id: &str) -> String {
    let id = id.trim();
    if id.len() == 18 && id.is_ascii() {
        id[..15].to_owned()
    } else {
        id.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalog;
    use serde_json::json;

    #[test]
    fn a_write_s_target_comes_from_its_operation_and_arguments() {
        let catalog = Catalog::builtin();
        let args = |v: Value| v.as_object().cloned().unwrap_or_default();
        let of = |name: &str, v: Value| target(catalog.get(name).expect(name), &args(v));
        #[rustfmt::skip]
        let cases: Vec<(&str, Value, Target)> = vec![
            ("create_case", json!({"Subject": "x"}), Target::New),
            ("log_call", json!({"Subject": "x"}), Target::New),
            ("update_case", json!({"record_id": "500000000000001AAA", "Status": "Working"}), Target::Record("Case:500000000000001".into())),
            ("update_case", json!({"record_id": "500000000000001", "Status": "Working"}), Target::Record("Case:500000000000001".into())),
            ("update_record", json!({"sobject": "Account", "record_id": "001000000000001", "fields": {}}), Target::Record("Account:001000000000001".into())),
            ("upsert_record", json!({"sobject": "Contact", "external_id_field": "Email", "external_id": "a@b.c", "fields": {}}), Target::Record("Contact:Email:a@b.c".into())),
            ("update_case", json!({"Status": "Working"}), Target::Unknown),
            ("custom_api_call", json!({"method": "POST", "path": "/sobjects/Case"}), Target::Unknown),
        ];
        for (name, a, want) in cases {
            assert_eq!(of(name, a.clone()), want, "{name} {a}");
        }
    }
}
