//! Intents: what an agent decides during a call ("ready to demo", "qualified", "here is the
//! summary"), mapped onto each org's own fields, checked before go-live, and compiled to the
//! smallest write.
//!
//! Modules:
//! - [`map`]: [`IntentMap`], in the short `{"intent": "Object.Field"}` shape or the full one
//!   (typed variables; several writes per intent; values from constants, call variables,
//!   arguments or `now`; records found earlier or created).
//! - [`automap`]: typed variables mapped onto type-compatible fields by name and label.
//! - [`check`]: the map against the org's describe, every problem with its fix ([`Report`]).
//! - [`coerce`]: call-time values coerced to the field's type, or refused for the model.
//! - [`compile`]: an intent to one `Create`/`Update` or one all-or-none composite request.
//! - [`tools`]: the one `record_intent` tool the model sees.
//! - [`describes`]: the describes a check needs, fetched once through the connection's cache.
//!
//! The decision to know: a map is only ever *activated* ([`Active`]) after [`check::check`]
//! passes against the live org, and call time uses the very same describes and coercion the
//! check used, so a value the check accepted cannot be refused by Salesforce for its type,
//! its picklist or its field's existence mid-call.
//!
//! ```no_run
//! # async fn demo(conn: callforce_client::Connection) -> Result<(), callforce_intents::Error> {
//! use callforce_intents::{Active, IntentMap};
//! use serde_json::json;
//!
//! let map = IntentMap::from_json(r#"{"qualified": "Lead.Status"}"#)?;
//! let active = Active::activate(&conn, map).await?; // Err(CheckFailed) lists every problem
//! let mut context = serde_json::Map::new(); // the call session's context
//! context.insert("last".into(), json!({"Lead": {"Id": "00Q0D0000000001IAA"}}));
//! let args = json!({"intent": "qualified", "value": "working - contacted"});
//! let outcome = active.run(&conn, &args, &context, chrono::Utc::now()).await?;
//! # let _ = outcome; Ok(()) }
//! ```

pub mod automap;
pub mod check;
pub mod coerce;
pub mod compile;
pub mod describes;
pub mod error;
pub mod map;
mod report;
pub mod tools;

use callforce_client::Connection;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub use automap::{Mapping, Proposal, Unmapped, automap};
pub use check::{Code, Problem, Report, Severity, check};
pub use compile::{Compiled, Outcome, PendingRecord, Step, Written, compile, execute, outcome};
pub use describes::Describes;
pub use error::{Error, Result};
pub use map::{Intent, IntentMap, Source, Target, VarDecl, VarType, Write};
pub use tools::{TOOL_NAME, tool};

/// Fetches the describes `map` needs through `conn`'s cache and checks it.
///
/// # Errors
/// Transport and API errors while describing; problems with the map are in the [`Report`].
pub async fn check_live(conn: &Connection, map: &IntentMap) -> Result<(Report, Describes)> {
    let objects = map.objects();
    let mut d = Describes::fetch(conn, objects.iter().map(String::as_str)).await?;
    // The record types the writes name, and the default one of each object a write creates
    // without naming one.
    let mut pairs = map.record_types();
    for w in map.intents.values().flat_map(|i| &i.writes) {
        if w.record_type.is_none()
            && let Some(rt) = d
                .object(&w.object)
                .and_then(|o| describes::write_record_type(o, w))
            && !pairs
                .iter()
                .any(|(o, r)| o.eq_ignore_ascii_case(&w.object) && r.eq_ignore_ascii_case(rt))
        {
            pairs.push((w.object.clone(), rt.to_owned()));
        }
    }
    d.fetch_record_types(conn, &pairs).await?;
    Ok((check(map, &d), d))
}

/// What became of an intent handed to the write pipeline ([`Active::record`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The org applied it: the records written.
    Done(Outcome),
    /// It is committed to the durable queue and will be sent; `reference` names the job.
    Queued {
        /// The intent.
        intent: String,
        /// The job's reference (`job-17`).
        reference: String,
    },
}

/// An intent map that passed the check, with the describes it was checked against.
#[derive(Debug, Clone)]
pub struct Active {
    map: IntentMap,
    describes: Describes,
    report: Report,
}

/// What a re-check found.
#[derive(Debug, Clone)]
pub struct Recheck {
    /// The new report.
    pub report: Report,
    /// Whether the map passed before and fails now: the admin must be alerted.
    pub broke: bool,
}

impl Active {
    /// Checks `map` against the org behind `conn` and activates it if it has no error.
    ///
    /// # Errors
    /// [`Error::CheckFailed`] with the full report; transport and API errors.
    pub async fn activate(conn: &Connection, map: IntentMap) -> Result<Self> {
        let (report, describes) = check_live(conn, &map).await?;
        Self::from_checked(map, describes, report)
    }

    /// Activates `map` with a check already made against `describes`.
    ///
    /// # Errors
    /// [`Error::CheckFailed`] when the report has an error.
    pub fn from_checked(map: IntentMap, describes: Describes, report: Report) -> Result<Self> {
        if !report.ok {
            return Err(Error::CheckFailed(Box::new(report)));
        }
        Ok(Self {
            map,
            describes,
            report,
        })
    }

    /// The map.
    pub fn map(&self) -> &IntentMap {
        &self.map
    }

    /// The report of the check that activated it (its warnings).
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// The `record_intent` tool.
    pub fn tool(&self) -> callforce_actions::Tool {
        tool(&self.map, Some(&self.describes))
    }

    /// Compiles a `record_intent` call (`{"intent": ..., <arguments>}`) without sending it.
    ///
    /// # Errors
    /// See [`compile()`]; [`Error::Refused`] when `intent` is missing.
    pub fn compile(
        &self,
        conn: &Connection,
        args: &Value,
        context: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<Compiled> {
        let Some(Value::Object(args)) = Some(args) else {
            return Err(Error::Refused(vec![
                "record_intent takes an object: {\"intent\": \"<name>\", ...}".into(),
            ]));
        };
        let mut args = args.clone();
        let Some(Value::String(name)) = args.remove("intent") else {
            return Err(Error::Refused(vec![format!(
                "\"intent\" is required: one of {}",
                self.map
                    .intents
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )]));
        };
        compile(
            &self.map,
            &name,
            &args,
            context,
            &self.describes,
            now,
            conn.version(),
        )
    }

    /// Compiles and sends a `record_intent` call.
    ///
    /// # Errors
    /// See [`Active::compile`] and [`execute`].
    pub async fn run(
        &self,
        conn: &Connection,
        args: &Value,
        context: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<Outcome> {
        let compiled = self.compile(conn, args, context, now)?;
        execute(conn, &compiled).await
    }

    /// Compiles a `record_intent` call in `call` and hands its one request to the write
    /// pipeline through `actions` (its sink): a blocking write that gets the mid-call budget,
    /// retries, the queue, dead letters and the audit log like every action's write. It is
    /// keyed by the call instance and the request compiled at a fixed time
    /// (`Actions::write_in_call_as`), so a retry of the tool call is the same write whatever
    /// it stamps with `now`. An intent that writes several
    /// records is one all-or-none composite job. A write to a record the call created through
    /// a queued write (`last.Task.pending`) is an upsert on that record's key, ordered behind
    /// the queued create. The records written are remembered in the call
    /// (`record_intent.Id`, `last.<Object>`).
    ///
    /// # Errors
    /// See [`Active::compile`]; [`Error::Client`] when the org refused the write (for a
    /// rolled-back composite, the subrequest that failed); [`Error::Unavailable`] when it
    /// could be neither made nor queued.
    pub async fn record(
        &self,
        actions: &callforce_actions::Actions,
        call: &mut callforce_actions::CallSession,
        args: &Value,
        now: DateTime<Utc>,
    ) -> Result<Recorded> {
        use callforce_actions::{WriteError, WriteOutcome};
        let context = call.context();
        let compiled = self.compile(actions.connection(), args, &context, now)?;
        let key = compiled.record_key();
        // NB: the write's identity is its request compiled at a fixed time: a retry of the tool
        // call runs later than the call it retries, and a field stamped `now` must not make it
        // a new write (a second record for a create).
        let identity = self
            .compile(actions.connection(), args, &context, DateTime::UNIX_EPOCH)
            .map_or_else(
                |_| serde_json::to_value(&compiled.request),
                |c| serde_json::to_value(&c.request),
            )
            .unwrap_or_default();
        let written = actions
            .write_in_call_as(call, TOOL_NAME, &identity, compiled.request.clone(), key)
            .await;
        match written {
            Ok(WriteOutcome::Done(answer)) => {
                let outcome = outcome(&compiled, answer)?;
                for r in &outcome.records {
                    call.record(
                        TOOL_NAME,
                        Some(&r.object),
                        &serde_json::json!({"id": r.id.to_string(), "success": true}),
                    );
                }
                Ok(Recorded::Done(outcome))
            }
            Ok(WriteOutcome::Queued { reference }) => Ok(Recorded::Queued {
                intent: compiled.intent,
                reference,
            }),
            Err(WriteError::Org(e)) => Err(Error::Client(e)),
            Err(e) => Err(Error::Unavailable(e.to_string())),
        }
    }

    /// Re-checks the map after the org's schema changed: forgets the cached describes of its
    /// objects, fetches them again and checks. A map that breaks stays as it was (calls keep
    /// the describes it was checked with, and Salesforce refuses what no longer fits) and the
    /// breakage is logged at error level for the admin; a map that still passes takes the new
    /// describes.
    ///
    /// # Errors
    /// Transport and API errors while describing.
    pub async fn recheck(&mut self, conn: &Connection) -> Result<Recheck> {
        conn.invalidate_describe(None);
        let (report, describes) = check_live(conn, &self.map).await?;
        let broke = !report.ok;
        if broke {
            for p in report
                .problems
                .iter()
                .filter(|p| p.severity == Severity::Error)
            {
                tracing::error!(
                    target: "callforce::alert",
                    path = %p.path,
                    code = ?p.code,
                    fix = %p.fix,
                    "live intent map broken by a schema change: {}",
                    p.message
                );
            }
        } else {
            self.describes = describes;
            self.report = report.clone();
        }
        Ok(Recheck { report, broke })
    }
}
