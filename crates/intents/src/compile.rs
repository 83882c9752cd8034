//! Intents compiled to the smallest request: one create or update when the intent writes one
//! record, one all-or-none `/composite` request when it writes several (a later write points at
//! an earlier create with `@{ref.id}`). Values are resolved from the model's arguments and the
//! call's variables and coerced to each field's type first; anything that does not fit is
//! refused before a request exists.

use callforce_client::composite::Target as CompositeTarget;
use callforce_client::describe::SObjectDescribe;
use callforce_client::{ApiVersion, CompositeBuilder, Connection, Record, Request};
use callforce_types::Id;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::coerce::coerce;
use crate::describes::{Describes, write_record_type};
use crate::error::{Error, Result};
use crate::map::{Intent, IntentMap, Source, Target, Write};

/// What one write of a compiled intent does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The object.
    pub object: String,
    /// The record updated, or `None` for a create.
    pub id: Option<Id>,
    /// The composite reference id (`w0`, or the write's `ref`).
    pub reference: String,
    /// A record of the call that was created by a queued write and has no id yet: the write
    /// is an upsert on its key, ordered behind that create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingRecord>,
}

/// A record created by a queued write of the call (`log_call`), known by the External ID it
/// is upserted on until its id is known: the call variables `last.<Object>.pending`,
/// `pending_field` and `pending_order` (see `CallSession::remember_pending`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRecord {
    /// The External ID field.
    pub field: String,
    /// Its value on the record.
    pub value: String,
    /// The per-record order key of the queued create, so this write runs after it.
    pub order: String,
}

impl Compiled {
    /// The per-record order key of the compiled write: a pending record's (so it runs after
    /// the queued create), else the first record it updates (`Lead:00Q...`); `None` when it
    /// only creates.
    pub fn record_key(&self) -> Option<String> {
        self.steps
            .iter()
            .find_map(|s| s.pending.as_ref().map(|p| p.order.clone()))
            .or_else(|| {
                self.steps
                    .iter()
                    .find_map(|s| s.id.map(|id| format!("{}:{id}", s.object)))
            })
    }
}

/// The pending record at `path` (`last.Task.Id`): `last.Task.pending` and its siblings, when
/// the call created the Task through a queued write.
fn pending_at(context: &Map<String, Value>, path: &str) -> Option<PendingRecord> {
    let prefix = path.strip_suffix(".Id")?;
    let text = |k: &str| {
        lookup(context, &format!("{prefix}.{k}"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Some(PendingRecord {
        value: text("pending")?,
        field: text("pending_field")?,
        order: text("pending_order")?,
    })
}

/// An intent ready to send: the request and what each of its writes does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compiled {
    /// The intent.
    pub intent: String,
    /// One `Create`/`Update`, or one `Composite` with `allOrNone`.
    pub request: Request,
    /// The writes, in order.
    pub steps: Vec<Step>,
}

/// A record an intent wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// The object.
    pub object: String,
    /// The record.
    pub id: Id,
    /// Whether the intent created it.
    pub created: bool,
}

/// The answer to an executed intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The intent.
    pub intent: String,
    /// The records written, in order.
    pub records: Vec<Written>,
}

/// The value at a dotted `path` of the call's context (`last.Opportunity.Id`); names are
/// matched ignoring case, as Salesforce's field names are (`search_contact.id`).
pub fn lookup<'a>(context: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    callforce_actions::template::lookup(context, path).filter(|v| !v.is_null())
}

/// Compiles intent `name` with the model's `args` and the call's `context` (the call session's
/// template context: call variables, earlier results, `last`).
///
/// An argument left out that fills a date or datetime field defaults to `now`.
///
/// # Errors
/// [`Error::UnknownIntent`]; [`Error::Refused`] listing every argument or variable that is
/// missing or does not fit, in words a model can act on.
pub fn compile(
    map: &IntentMap,
    name: &str,
    args: &Map<String, Value>,
    context: &Map<String, Value>,
    describes: &Describes,
    now: DateTime<Utc>,
    version: ApiVersion,
) -> Result<Compiled> {
    let input = Input {
        map,
        name,
        intent: find_intent(map, name)?,
        args,
        context,
        describes,
        now,
        zone: callforce_actions::zone::of_context(context),
    };
    // NB: every problem is collected before refusing, so the model fixes them all at once.
    let mut refused = input.unknown_arguments();
    let mut writes = Vec::new();
    for (i, w) in input.intent.writes.iter().enumerate() {
        if let Some(write) = input.compile_write(i, w, &mut refused) {
            writes.push(write);
        }
    }
    if !refused.is_empty() {
        return Err(Error::Refused(refused));
    }
    let steps: Vec<Step> = writes.iter().map(|w| w.step.clone()).collect();
    let request = build_request(writes, version)?;
    Ok(Compiled {
        intent: name.to_owned(),
        request,
        steps,
    })
}

/// The intent `name` of `map`.
///
/// # Errors
/// [`Error::UnknownIntent`] naming the valid ones.
fn find_intent<'a>(map: &'a IntentMap, name: &str) -> Result<&'a Intent> {
    map.intents.get(name).ok_or_else(|| Error::UnknownIntent {
        name: name.to_owned(),
        valid: map.intents.keys().cloned().collect::<Vec<_>>().join(", "),
    })
}

/// What one compilation reads: the intent and everything its values come from.
struct Input<'a> {
    map: &'a IntentMap,
    name: &'a str,
    intent: &'a Intent,
    args: &'a Map<String, Value>,
    context: &'a Map<String, Value>,
    describes: &'a Describes,
    now: DateTime<Utc>,
    /// The call's time zone, which datetimes without an offset are read in.
    zone: callforce_actions::zone::Tz,
}

/// One write compiled: its step, the record's values and how it reaches the record.
struct CompiledWrite {
    step: Step,
    record: Record,
    id: Option<Id>,
    pending: Option<PendingRecord>,
}

impl Input<'_> {
    /// One refusal for each argument given that no write of the intent reads.
    fn unknown_arguments(&self) -> Vec<String> {
        let used: Vec<&str> = self
            .intent
            .writes
            .iter()
            .flat_map(|w| {
                let t = match &w.record {
                    Target::Arg(a) => Some(a.as_str()),
                    _ => None,
                };
                w.fields
                    .values()
                    .filter_map(|s| match s {
                        Source::Arg(a) => Some(a.as_str()),
                        _ => None,
                    })
                    .chain(t)
            })
            .collect();
        let name = self.name;
        self.args
            .keys()
            .filter(|k| !used.contains(&k.as_str()))
            .map(|k| {
                format!(
                    "intent {name} takes no argument {k:?}; it takes: {}",
                    if used.is_empty() {
                        "none".to_owned()
                    } else {
                        used.join(", ")
                    }
                )
            })
            .collect()
    }

    /// Write `i` of the intent, or `None` when its object is unknown; what does not fit is
    /// added to `refused`.
    fn compile_write(
        &self,
        i: usize,
        w: &Write,
        refused: &mut Vec<String>,
    ) -> Option<CompiledWrite> {
        let Some(obj) = self.describes.object(&w.object) else {
            refused.push(format!(
                "the org has no object {}; the intent map needs fixing",
                w.object
            ));
            return None;
        };
        let (id, pending) = self.target_record(w, obj, refused);
        let mut record = Record::new();
        set_record_type(w, obj, &mut record, refused);
        self.set_fields(i, w, obj, &mut record, refused);
        Some(CompiledWrite {
            step: Step {
                object: obj.name.clone(),
                id,
                reference: steps_ref(w.reference.as_deref(), i),
                pending: pending.clone(),
            },
            record,
            id,
            pending,
        })
    }

    /// The record `w` writes: `None` for a create, the id from its call variable or argument,
    /// or, for a record the call created through a queued write, its pending key.
    fn target_record(
        &self,
        w: &Write,
        obj: &SObjectDescribe,
        refused: &mut Vec<String>,
    ) -> (Option<Id>, Option<PendingRecord>) {
        let (context, name) = (self.context, self.name);
        match &w.record {
            Target::Create => (None, None),
            Target::Var(path)
                if lookup(context, path).is_none() && pending_at(context, path).is_some() =>
            {
                (None, pending_at(context, path))
            }
            Target::Var(path) | Target::Arg(path) => {
                let (v, what) = match &w.record {
                    Target::Var(_) => (lookup(context, path), format!("call variable {path}")),
                    _ => (
                        self.args.get(path.as_str()).filter(|v| !v.is_null()),
                        format!("argument {path:?}"),
                    ),
                };
                let id = match v.and_then(Value::as_str) {
                    None if matches!(w.record, Target::Var(_)) => {
                        refused.push(format!(
                            "no {} is known in this call yet ({what} is empty): find or create \
                             the {} first, then record {name}",
                            obj.name, obj.name
                        ));
                        None
                    }
                    None => {
                        refused.push(format!(
                            "{what} is required: the id of the {} to update",
                            obj.name
                        ));
                        None
                    }
                    Some(s) => match Id::parse(s) {
                        Ok(id) => {
                            let prefix = self.describes.key_prefix(&obj.name);
                            if prefix.is_some_and(|p| p != id.key_prefix().as_str()) {
                                refused.push(format!(
                                    "{what} must be the id of a {}, not {s}",
                                    obj.name
                                ));
                            }
                            Some(id)
                        }
                        Err(e) => {
                            refused.push(format!("{what} must be a record id (15 or 18 letters and digits), not {s:?}: {e}"));
                            None
                        }
                    },
                };
                (id, None)
            }
        }
    }

    /// Sets each field of `w` on `rec` from its source, coerced to the field's type.
    fn set_fields(
        &self,
        i: usize,
        w: &Write,
        obj: &SObjectDescribe,
        rec: &mut Record,
        refused: &mut Vec<String>,
    ) {
        let (context, describes, name) = (self.context, self.describes, self.name);
        for (field, src) in &w.fields {
            let Some(f) = obj.field(field) else {
                refused.push(format!(
                    "{}.{field} does not exist; the intent map needs fixing",
                    obj.name
                ));
                continue;
            };
            // A create without a record type gets the default one: its values apply.
            let f = &*describes.field_in(obj, f, write_record_type(obj, w));
            let raw = match src {
                Source::Const(v) => v.clone(),
                Source::Now => Value::String("now".into()),
                Source::Var(path) => match lookup(context, path) {
                    Some(v) => v.clone(),
                    None => {
                        refused.push(format!(
                            "call variable {path} is empty, so {}.{} cannot be set yet",
                            obj.name, f.name
                        ));
                        continue;
                    }
                },
                Source::Arg(a) => match self.args.get(a.as_str()) {
                    Some(v) => v.clone(),
                    None if matches!(f.type_.as_str(), "date" | "datetime") => {
                        Value::String("now".into())
                    }
                    None => {
                        let hint = self
                            .map
                            .variables
                            .get(a.as_str())
                            .map_or_else(|| f.type_.clone(), |d| d.ty.to_string());
                        refused.push(format!(
                            "argument {a:?} ({hint}) is required for {name}: it sets {}",
                            f.label
                        ));
                        continue;
                    }
                },
                Source::Ref(r) => {
                    let earlier = self.intent.writes[..i]
                        .iter()
                        .any(|e| e.reference.as_deref() == Some(r.as_str()));
                    if earlier {
                        rec.insert(f.name.clone(), Value::String(format!("@{{{r}.id}}")));
                    } else {
                        refused.push(format!(
                            "ref {r:?} names no earlier create; the intent map needs fixing"
                        ));
                    }
                    continue;
                }
            };
            match coerce(&obj.name, f, &raw, self.now, self.zone, describes) {
                Ok(v) => {
                    rec.insert(f.name.clone(), v);
                }
                Err(e) => refused.push(e),
            }
        }
    }
}

/// Checks the record type `w` names: a create is made with it (`RecordTypeId`); an update only
/// checks against it.
fn set_record_type(w: &Write, obj: &SObjectDescribe, rec: &mut Record, refused: &mut Vec<String>) {
    let Some(rt) = w.record_type.as_deref() else {
        return;
    };
    match obj.record_type(rt) {
        Some(r) if w.record == Target::Create => {
            rec.insert(
                "RecordTypeId".into(),
                Value::String(r.record_type_id.clone()),
            );
        }
        Some(_) => {}
        None => refused.push(format!(
            "{} has no record type {rt:?}; the intent map needs fixing",
            obj.name
        )),
    }
}

/// The one request of the compiled writes: a single create, update or upsert, or one
/// all-or-none composite request of them all.
///
/// # Errors
/// What the composite builder refuses.
fn build_request(mut writes: Vec<CompiledWrite>, version: ApiVersion) -> Result<Request> {
    if writes.len() == 1
        && let Some(w) = writes.pop()
    {
        let (sobject, record) = (w.step.object, w.record);
        return Ok(match (w.id, w.pending) {
            (Some(id), _) => Request::Update {
                sobject,
                id,
                record,
            },
            (None, Some(p)) => Request::Upsert {
                sobject,
                field: p.field,
                value: p.value,
                record,
            },
            (None, None) => Request::Create { sobject, record },
        });
    }
    let mut b = CompositeBuilder::new(version, true);
    for w in writes {
        let step = &w.step;
        match (w.id, w.pending) {
            (None, Some(p)) => {
                b.upsert(&step.reference, &step.object, &p.field, &p.value, w.record);
            }
            (Some(id), _) => {
                b.update(
                    &step.reference,
                    &step.object,
                    CompositeTarget::Id(id),
                    w.record,
                );
            }
            (None, None) => {
                b.create(&step.reference, &step.object, w.record);
            }
        }
    }
    Ok(Request::Composite(b.build()?))
}

fn steps_ref(reference: Option<&str>, i: usize) -> String {
    reference.map_or_else(|| format!("w{i}"), str::to_owned)
}

/// Sends a compiled intent and reports the records written.
///
/// # Errors
/// [`Error::Client`] when Salesforce refuses a single write or cannot be reached;
/// [`Error::Refused`] with Salesforce's messages when a composite request was rolled back.
pub async fn execute(conn: &Connection, compiled: &Compiled) -> Result<Outcome> {
    let answer = conn.execute(&compiled.request).await?;
    outcome(compiled, answer)
}

/// The records a compiled intent wrote, from the org's `answer` to its request.
///
/// # Errors
/// [`Error::Refused`] with Salesforce's messages when a composite request was rolled back.
pub fn outcome(compiled: &Compiled, answer: Value) -> Result<Outcome> {
    let mut records = Vec::new();
    match &compiled.request {
        Request::Composite(_) => {
            let resp: callforce_client::CompositeResponse = serde_json::from_value(answer)
                .map_err(|e| Error::Refused(vec![format!("unexpected composite answer: {e}")]))?;
            if !resp.all_succeeded() {
                let msgs: Vec<String> = resp
                    .composite_response
                    .iter()
                    .filter(|s| s.error_code() != Some("PROCESSING_HALTED"))
                    .filter(|s| !(200..300).contains(&s.http_status_code))
                    .map(|s| format!("{}: {}", s.reference_id, describe_errors(&s.body)))
                    .collect();
                return Err(Error::Refused(msgs));
            }
            for step in &compiled.steps {
                let sub = resp.get(&step.reference);
                let id = match step.id {
                    Some(id) => Some(id),
                    None => sub.and_then(|s| s.id()),
                };
                if let Some(id) = id {
                    records.push(Written {
                        object: step.object.clone(),
                        id,
                        created: created(step, sub.map(|s| &s.body)),
                    });
                }
            }
        }
        _ => {
            let step = &compiled.steps[0];
            let id = match step.id {
                Some(id) => Some(id),
                None => answer
                    .get("id")
                    .and_then(Value::as_str)
                    .and_then(|s| Id::parse(s).ok()),
            };
            if let Some(id) = id {
                records.push(Written {
                    object: step.object.clone(),
                    id,
                    created: created(step, Some(&answer)),
                });
            }
        }
    }
    Ok(Outcome {
        intent: compiled.intent.clone(),
        records,
    })
}

/// Whether a step made its record: a create did; an upsert says so in its answer (a create
/// sent as an upsert on its key, or a pending record the queued create has not made yet).
fn created(step: &Step, answer: Option<&Value>) -> bool {
    step.id.is_none()
        && answer
            .and_then(|a| a.get("created"))
            .and_then(Value::as_bool)
            .unwrap_or(step.pending.is_none())
}

fn describe_errors(body: &Value) -> String {
    match body {
        Value::Array(errs) => errs
            .iter()
            .map(|e| {
                let msg = e
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("refused");
                let code = e.get("errorCode").and_then(Value::as_str).unwrap_or("");
                format!("{msg} ({code})")
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}
