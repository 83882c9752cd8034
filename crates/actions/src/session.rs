//! A call session (in memory): the call's variables and each action's last result, so later
//! actions can say `{{search_contact.Id}}` or "the contact we just found".

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The variables of one call, known before any action runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallVars {
    /// The call's id.
    pub call_id: String,
    /// The caller's phone number, as the telephony gave it (`+15551234567`).
    #[serde(default)]
    pub caller_phone: Option<String>,
    /// The agent (AI employee) handling the call.
    #[serde(default)]
    pub agent: Option<String>,
    /// Anything else the telephony or the agent passed.
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// The workspace the call belongs to (set by the service from the caller's API key), so
    /// its writes are queued and audited there.
    #[serde(default)]
    pub workspace: Option<i64>,
    /// The call's own time zone (an IANA name, checked with [`crate::zone::parse`] when the
    /// call starts), which local times are read in; when absent the service gives the session
    /// the agent's or the org user's ([`CallSession::set_default_zone`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

/// One call: its variables, the last result of each action by name, and the last record seen
/// of each object.
#[derive(Debug, Clone)]
pub struct CallSession {
    /// The call's variables.
    pub vars: CallVars,
    results: HashMap<String, Value>,
    last: HashMap<String, Value>,
    /// This instance of the call: 128 random bits in hex, new at each start, so a call id used
    /// again (a call ended and started again, two workspaces choosing the same id) never shares
    /// its writes' idempotency keys with an earlier call.
    instance: String,
    /// The idempotency key the caller chose for the next action's write, if any.
    caller_key: Option<String>,
    /// How many distinct writes this call instance made (their keys' `n`).
    writes: u64,
    /// The call's last write: asked for again with nothing written in between (a retry), it
    /// answers what it did under the same key.
    last_write: Option<LastWrite>,
    /// What was found about the caller when the call started, once it is known.
    caller_context: Option<std::sync::Arc<crate::context::CallerContext>>,
    /// The zone local times are read and said in: the call's own, else the one the service set
    /// (the agent's, else the org user's), else UTC.
    zone: crate::zone::Tz,
}

/// The last write of a call: its identity, its key and what it answered.
#[derive(Debug, Clone)]
struct LastWrite {
    base: String,
    key: String,
    result: Option<Value>,
    outcome: Option<crate::sink::WriteOutcome>,
}

impl Default for CallSession {
    fn default() -> Self {
        Self::new(CallVars::default())
    }
}

impl CallSession {
    /// A new session: a new instance of the call, with its own random instance id.
    pub fn new(vars: CallVars) -> Self {
        use rand::Rng as _;
        let instance: u128 = rand::rng().random();
        let zone = own_zone(&vars).unwrap_or(crate::zone::Tz::UTC);
        Self {
            zone,
            vars,
            results: HashMap::new(),
            last: HashMap::new(),
            instance: format!("{instance:032x}"),
            caller_key: None,
            writes: 0,
            last_write: None,
            caller_context: None,
        }
    }

    /// The call's time zone: local times (`2026-12-09T10:00:00`) are read in it, and results
    /// that carry times can say them in it.
    pub fn time_zone(&self) -> crate::zone::Tz {
        self.zone
    }

    /// Sets the zone of a call started without one of its own: the agent's, else the org
    /// user's; `None` leaves UTC. A call's own zone always wins.
    pub fn set_default_zone(&mut self, zone: Option<crate::zone::Tz>) {
        self.zone = own_zone(&self.vars)
            .or(zone)
            .unwrap_or(crate::zone::Tz::UTC);
    }

    /// This call instance's id (32 hex digits), part of its writes' idempotency keys.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Sets the idempotency key the caller chose for the writes of the next action run
    /// (checked with [`crate::idempotency::check_caller_key`] by the front door), or clears it.
    /// The key then stands in for the call instance: the same action with the same arguments
    /// under the same key is the same write in any call of the workspace.
    pub fn set_caller_key(&mut self, key: Option<String>) {
        self.caller_key = key;
    }

    /// The idempotency key of a write whose identity is `base` (an
    /// [`crate::idempotency::idempotency_key`] of this call's [`CallSession::key_scope`]), and
    /// the answer it gave when it is a retry: the same write as this call's last write, nothing
    /// written in between. Any other write is a new one, even one equal to an earlier write of
    /// the call (a value set back: `Working`, `Escalated`, `Working` is three writes). A key the
    /// caller chose is used as it is: the same key and arguments are one write in any call.
    pub fn write_key(&mut self, base: String) -> (String, Option<Value>) {
        if let Some(last) = &self.last_write
            && last.base == base
        {
            return (last.key.clone(), last.result.clone());
        }
        (self.new_write_key(base), None)
    }

    /// The idempotency key of a new write whose identity is `base`, at the next place among the
    /// call's writes (a key the caller chose is used as it is); it becomes the call's last write.
    pub fn new_write_key(&mut self, base: String) -> String {
        let key = match self.caller_key {
            Some(_) => base.clone(),
            None => crate::idempotency::nth_key(&base, self.writes),
        };
        self.writes += 1;
        self.last_write = Some(LastWrite {
            base,
            key: key.clone(),
            result: None,
            outcome: None,
        });
        key
    }

    /// As [`CallSession::write_key`], for a write handed straight to the sink (an intent's): the
    /// key, and the outcome of the same write when it is a retry.
    pub fn write_key_outcome(
        &mut self,
        base: String,
    ) -> (String, Option<crate::sink::WriteOutcome>) {
        let (key, _) = self.write_key(base);
        let outcome = self.last_write.as_ref().and_then(|l| l.outcome.clone());
        (key, outcome)
    }

    /// Remembers what the write under `key` answered, while it is the call's last write.
    pub fn remember_written(&mut self, key: &str, result: Value) {
        if let Some(last) = &mut self.last_write
            && last.key == key
        {
            last.result = Some(result);
        }
    }

    /// Remembers the outcome of the write under `key` handed straight to the sink, while it is
    /// the call's last write.
    pub fn remember_outcome(&mut self, key: &str, outcome: crate::sink::WriteOutcome) {
        if let Some(last) = &mut self.last_write
            && last.key == key
        {
            last.outcome = Some(outcome);
        }
    }

    /// What the idempotency keys of the running action's writes are scoped to: the caller's
    /// key when one was set, otherwise this call instance.
    pub fn key_scope(&self) -> crate::idempotency::KeyScope<'_> {
        match &self.caller_key {
            Some(k) => crate::idempotency::KeyScope::Caller(k),
            None => crate::idempotency::KeyScope::Call(&self.instance),
        }
    }

    /// The last result of `action`, as templates see it.
    pub fn result(&self, action: &str) -> Option<&Value> {
        self.results.get(action)
    }

    /// The last record of `object` an action found or wrote (`Contact`).
    pub fn last(&self, object: &str) -> Option<&Value> {
        self.last.get(object)
    }

    /// Remembers `result` of `action` (on `object`). A list result also exposes its first
    /// record's fields at the top (`search_contact.Id`); a created id is both `id` and `Id`.
    pub fn record(&mut self, action: &str, object: Option<&str>, result: &Value) {
        let mut view = match result {
            Value::Object(m) => m.clone(),
            other => {
                let mut m = Map::new();
                m.insert("value".into(), other.clone());
                m
            }
        };
        let first = result
            .get("records")
            .and_then(Value::as_array)
            .and_then(|r| r.first())
            .cloned();
        if let Some(Value::Object(first)) = &first {
            for (k, v) in first {
                view.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        if let Some(id) = view.get("id").cloned() {
            view.entry("Id").or_insert(id);
        }
        if let Some(obj) = object {
            if let Some(rec) = first.clone() {
                self.last.insert(obj.to_owned(), rec);
            } else if view.contains_key("Id") && !view.contains_key("records") {
                self.last
                    .insert(obj.to_owned(), Value::Object(view.clone()));
            }
        }
        // Typed global search results: the first of each type becomes `last`.
        if let Some(Value::Array(recs)) = result.get("records") {
            for r in recs {
                if let Some(t) = r.get("type").and_then(Value::as_str) {
                    self.last.entry(t.to_owned()).or_insert_with(|| r.clone());
                }
            }
        }
        self.results.insert(action.to_owned(), Value::Object(view));
    }

    /// Remembers a create of `sobject` that was queued and has no id yet: `last.<sobject>`
    /// becomes `{"pending": <value>, "pending_field": <field>, "pending_order": <record key>}`,
    /// where `value` is what the queued create is sent as an upsert on (`field`, an External
    /// ID) and `record_key` its per-record order key. A later write of the call can then
    /// reach the record by that key, queued behind the create (see `docs/intents.md`).
    pub fn remember_pending(&mut self, sobject: &str, field: &str, value: &str, record_key: &str) {
        self.last.insert(
            sobject.to_owned(),
            serde_json::json!({
                "pending": value,
                "pending_field": field,
                "pending_order": record_key,
            }),
        );
    }

    /// Keeps what was found about the caller: the caller's record becomes `{{caller}}`
    /// (`{{caller.Id}}`, `{{caller.AccountId}}`) and the last record of its object.
    pub fn set_caller_context(&mut self, context: std::sync::Arc<crate::context::CallerContext>) {
        if let Some(caller) = &context.caller {
            let mut record = caller.clone();
            let ty = match &mut record {
                Value::Object(m) => m.remove("type").and_then(|t| t.as_str().map(str::to_owned)),
                _ => None,
            };
            self.record("caller", ty.as_deref(), &record);
        }
        self.caller_context = Some(context);
    }

    /// What was found about the caller at start, once it is known.
    pub fn caller_context(&self) -> Option<&crate::context::CallerContext> {
        self.caller_context.as_deref()
    }

    /// The template context: the call variables (`caller_phone`, `call_id`, `agent` and its
    /// alias `employee_id`, `metadata`), the time (`now`, ISO 8601 in the call's zone with its
    /// offset; `today`, its date; `time_zone`, the zone's IANA name), every action's last
    /// result by name, and `last` (`{{last.Contact.Id}}`).
    pub fn context(&self) -> Map<String, Value> {
        self.context_at(chrono::Utc::now())
    }

    /// [`CallSession::context`] at the instant `now`.
    pub fn context_at(&self, now: chrono::DateTime<chrono::Utc>) -> Map<String, Value> {
        let mut c = Map::new();
        for (k, v) in &self.results {
            c.insert(k.clone(), v.clone());
        }
        c.insert(
            "last".into(),
            Value::Object(
                self.last
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
        );
        c.insert("call_id".into(), Value::String(self.vars.call_id.clone()));
        if let Some(p) = &self.vars.caller_phone {
            c.insert("caller_phone".into(), Value::String(p.clone()));
        }
        if let Some(a) = &self.vars.agent {
            c.insert("agent".into(), Value::String(a.clone()));
            c.insert("employee_id".into(), Value::String(a.clone()));
        }
        c.insert("metadata".into(), Value::Object(self.vars.metadata.clone()));
        let zone = self.zone;
        c.insert("now".into(), crate::zone::now_in(now, zone).into());
        c.insert("today".into(), crate::zone::today_in(now, zone).into());
        c.insert(crate::zone::TIME_ZONE_VAR.into(), zone.name().into());
        c
    }
}

/// The zone the call was started with, when it names one.
fn own_zone(vars: &CallVars) -> Option<crate::zone::Tz> {
    vars.time_zone
        .as_deref()
        .and_then(|n| crate::zone::parse("time_zone", n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_of_the_last_write_keeps_its_key_and_answer_and_a_value_set_back_is_new() {
        use crate::sink::WriteOutcome;
        let mut s = CallSession::default();
        let (a, done) = s.write_key("A".into());
        assert_eq!(done, None);
        s.remember_written(&a, serde_json::json!({"id": "500A"}));
        let (again, done) = s.write_key("A".into());
        assert_eq!(
            (again.as_str(), done),
            (a.as_str(), Some(serde_json::json!({"id": "500A"})))
        );
        let (b, _) = s.write_key("B".into());
        assert_ne!(b, a);
        let (a2, done) = s.write_key("A".into());
        assert_ne!(a2, a, "A after B is a new write");
        assert_eq!(done, None);
        // An intent's write: the outcome of a retry comes back, not a second send.
        let (i, outcome) = s.write_key_outcome("I".into());
        assert_eq!(outcome, None);
        let queued = WriteOutcome::Queued {
            reference: "job-3".into(),
        };
        s.remember_outcome(&i, queued.clone());
        assert_eq!(s.write_key_outcome("I".into()), (i, Some(queued)));
        // A caller's key is used as it is: the same key in any call.
        let mut other = CallSession::default();
        other.set_caller_key(Some("order-17".into()));
        assert_eq!(other.write_key("K".into()).0, "K");
    }
    use serde_json::json;

    #[test]
    fn a_search_exposes_its_first_record_and_the_last_contact() {
        let mut s = CallSession::new(CallVars {
            call_id: "c1".into(),
            caller_phone: Some("+15551234567".into()),
            ..CallVars::default()
        });
        s.record(
            "search_contact",
            Some("Contact"),
            &json!({"count": 2, "records": [{"Id": "003A", "LastName": "Johnson"}, {"Id": "003B"}]}),
        );
        s.record("create_case", Some("Case"), &json!({"id": "500A"}));
        let c = s.context();
        assert_eq!(c["search_contact"]["Id"], "003A");
        assert_eq!(c["create_case"]["Id"], "500A");
        assert_eq!(c["last"]["Contact"]["Id"], "003A");
        assert_eq!(c["last"]["Case"]["Id"], "500A");
        assert_eq!(c["caller_phone"], "+15551234567");
    }

    #[test]
    fn the_call_zone_wins_then_the_default_then_utc() {
        use crate::zone::Tz;
        let ny: Tz = "America/New_York".parse().expect("zone");
        let la: Tz = "America/Los_Angeles".parse().expect("zone");
        let mut own = CallSession::new(CallVars {
            time_zone: Some("America/New_York".into()),
            ..CallVars::default()
        });
        assert_eq!(own.time_zone(), ny);
        own.set_default_zone(Some(la));
        assert_eq!(own.time_zone(), ny, "the call's own zone wins");
        let mut none = CallSession::default();
        assert_eq!(none.time_zone(), Tz::UTC);
        none.set_default_zone(Some(la));
        assert_eq!(none.time_zone(), la);
        none.set_default_zone(None);
        assert_eq!(none.time_zone(), Tz::UTC);
        // `now` and `today` are said in the call's zone: 02:30 UTC is the evening before.
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-09T02:30:00Z")
            .expect("time")
            .with_timezone(&chrono::Utc);
        let c = own.context_at(at);
        assert_eq!(c["now"], "2026-12-08T21:30:00-05:00");
        assert_eq!(c["today"], "2026-12-08");
        assert_eq!(c["time_zone"], "America/New_York");
        let c = none.context_at(at);
        assert_eq!(
            (c["now"].as_str(), c["today"].as_str()),
            (Some("2026-12-09T02:30:00Z"), Some("2026-12-09"))
        );
    }

    #[test]
    fn each_start_of_a_call_is_a_new_instance() {
        let vars = CallVars {
            call_id: "c1".into(),
            ..CallVars::default()
        };
        let a = CallSession::new(vars.clone());
        let b = CallSession::new(vars);
        assert_eq!(a.instance().len(), 32);
        assert!(a.instance().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.instance(), b.instance());
        assert_ne!(CallSession::default().instance(), a.instance());
    }
}
