//! A write as a queued job: its payload, the create-to-upsert rewrite that makes a retried
//! create idempotent, and what of it goes into the audit log.

use std::collections::BTreeMap;

use callforce_client::{Error as ClientError, Request};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The job kind of a write made by an action.
pub const KIND_WRITE: &str = "write";

/// The payload of a write job, as stored in the queue (and shown and edited in a dead letter):
/// `{"request": <Request>, "action": "log_call"}`, and `"ambiguousSince"` once an attempt of a
/// create went unanswered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobPayload {
    /// The request, exactly as it will be sent (see [`callforce_client::Request`]).
    pub request: Request,
    /// The action that made it.
    #[serde(default)]
    pub action: String,
    /// When the earliest attempt of a create that was sent and got no answer started: the next
    /// attempt looks the record up first (see [`crate::lookup`]).
    #[serde(
        rename = "ambiguousSince",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ambiguous_since: Option<DateTime<Utc>>,
}

impl JobPayload {
    /// Notes that an attempt started at `at` was sent and got no answer, keeping the earliest
    /// such time (the lookup must reach back to the first attempt that may have been applied).
    pub fn note_ambiguous(&mut self, at: DateTime<Utc>) {
        self.ambiguous_since = Some(self.ambiguous_since.map_or(at, |t| t.min(at)));
    }
}

/// The value an idempotency key is written as in an External ID field: `cf-` and the first 40
/// hex digits of its SHA-256. Safe in a URL path segment on every org and at most 43 characters,
/// whatever the call id looks like.
pub fn external_key(idempotency_key: &str) -> String {
    let digest = Sha256::digest(idempotency_key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("cf-{}", &hex[..40])
}

/// Rewrites a create of an object with an External ID field configured for idempotency
/// (`external_ids`: object to field) as an upsert on that field keyed by the write's
/// idempotency key, so sending it twice makes one record. Other requests are returned as
/// they are.
pub fn make_idempotent(
    request: Request,
    idempotency_key: &str,
    external_ids: &BTreeMap<String, String>,
) -> Request {
    match request {
        Request::Create { sobject, record } => match external_ids.get(&sobject) {
            Some(field) => {
                let mut record = record;
                // The key is in the URL; the same field in the body would be refused.
                record.remove(field);
                Request::Upsert {
                    value: external_key(idempotency_key),
                    field: field.clone(),
                    sobject,
                    record,
                }
            }
            None => Request::Create { sobject, record },
        },
        other => other,
    }
}

/// The request as the audit log keeps it: the request's JSON with header values of raw
/// requests removed (they may carry credentials; the token itself is never in a request).
pub fn audit_request(request: &Request) -> Value {
    let mut v = serde_json::to_value(request).unwrap_or(Value::Null);
    if let Some(Value::Array(headers)) = v.get_mut("headers") {
        for h in headers.iter_mut() {
            if let Value::Array(pair) = h
                && pair.len() == 2
            {
                pair[1] = Value::String("[removed]".into());
            }
        }
    }
    v
}

/// A failure as the audit log and the dead letter keep it: status, error code, message and
/// class (never a token: client errors carry only the method and path).
pub fn audit_error(e: &ClientError) -> Value {
    json!({
        "error": e.to_string(),
        "status": e.status(),
        "errorCode": e.error_code(),
        "class": format!("{:?}", e.class()),
    })
}

/// The record ids a request and its answer touched: the id a request names, `id` in the
/// answer, in each element of an array answer, and in each composite subresponse.
pub fn record_ids(request: &Request, response: Option<&Value>) -> Vec<String> {
    let mut ids = Vec::new();
    if let Request::Update { id, .. } | Request::Delete { id, .. } = request {
        ids.push(id.to_string());
    }
    fn from_value(v: &Value, ids: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(id)) = m.get("id") {
                    ids.push(id.clone());
                }
                if let Some(Value::Array(subs)) = m.get("compositeResponse") {
                    for s in subs {
                        if let Some(body) = s.get("body") {
                            from_value(body, ids);
                        }
                    }
                }
            }
            Value::Array(items) => {
                for i in items {
                    if let Some(Value::String(id)) = i.get("id") {
                        ids.push(id.clone());
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(v) = response {
        from_value(v, &mut ids);
    }
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use callforce_client::{Id, Method, RawRequest, Record};

    fn rec(v: Value) -> Record {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn creates_of_mapped_objects_become_upserts_on_the_key() {
        let map: BTreeMap<String, String> =
            [("Task".to_owned(), "Callforce_Key__c".to_owned())].into();
        let task = Request::Create {
            sobject: "Task".into(),
            record: rec(json!({"Subject": "Call", "Callforce_Key__c": "x"})),
        };
        let got = make_idempotent(task, "call-1/log_call/0", &map);
        assert_eq!(
            got,
            Request::Upsert {
                sobject: "Task".into(),
                field: "Callforce_Key__c".into(),
                value: external_key("call-1/log_call/0"),
                record: rec(json!({"Subject": "Call"})),
            }
        );
        let contact = Request::Create {
            sobject: "Contact".into(),
            record: rec(json!({"LastName": "Ng"})),
        };
        assert_eq!(make_idempotent(contact.clone(), "k", &map), contact);
    }

    #[test]
    fn external_keys_are_stable_url_safe_and_distinct() {
        let a = external_key("call-1/log_call/0");
        assert_eq!(a, external_key("call-1/log_call/0"));
        assert_ne!(a, external_key("call-1/log_call/1"));
        assert_eq!(a.len(), 43);
        assert!(
            a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{a}"
        );
    }

    #[test]
    fn raw_header_values_are_removed_from_the_audit() {
        let r = Request::Raw(RawRequest {
            method: Method::Post,
            path: "/services/apexrest/x".into(),
            query: vec![],
            headers: vec![("X-Api-Key".into(), "s3cret".into())],
            body: None,
        });
        let v = audit_request(&r);
        assert!(!v.to_string().contains("s3cret"), "{v}");
        assert_eq!(v["headers"][0][0], "X-Api-Key");
    }

    #[test]
    fn record_ids_come_from_the_request_and_the_answer() {
        let id = Id::parse("001D000000IRFma").expect("id");
        let upd = Request::Update {
            sobject: "Account".into(),
            id,
            record: Record::new(),
        };
        assert_eq!(record_ids(&upd, None), vec![id.to_string()]);
        let create = Request::Create {
            sobject: "Task".into(),
            record: Record::new(),
        };
        let one = json!({"id": "00T000000000001AAA", "success": true});
        assert_eq!(record_ids(&create, Some(&one)), vec!["00T000000000001AAA"]);
        let many = json!([{"id": "a"}, {"id": "b"}, {"success": false}]);
        assert_eq!(record_ids(&create, Some(&many)), vec!["a", "b"]);
        let comp =
            json!({"compositeResponse": [{"body": {"id": "069x"}}, {"body": {"id": "06Ax"}}]});
        assert_eq!(record_ids(&create, Some(&comp)), vec!["069x", "06Ax"]);
    }

    #[test]
    fn the_payload_keeps_the_earliest_unanswered_attempt() {
        let create = Request::Create {
            sobject: "Contact".into(),
            record: rec(json!({"LastName": "Ng"})),
        };
        let mut p = JobPayload {
            request: create,
            action: "create_contact".into(),
            ambiguous_since: None,
        };
        let plain = serde_json::to_value(&p).expect("json");
        assert!(plain.get("ambiguousSince").is_none(), "{plain}");
        let at = |s: &str| s.parse::<DateTime<Utc>>().expect("time");
        p.note_ambiguous(at("2026-03-01T09:00:05Z"));
        p.note_ambiguous(at("2026-03-01T09:00:00Z"));
        p.note_ambiguous(at("2026-03-01T09:01:00Z"));
        let v = serde_json::to_value(&p).expect("json");
        assert_eq!(v["ambiguousSince"], "2026-03-01T09:00:00Z");
        let back: JobPayload = serde_json::from_value(v).expect("payload");
        assert_eq!(back, p);
        // A payload written before the field existed still reads.
        let old: JobPayload = serde_json::from_value(plain).expect("payload");
        assert_eq!(old.ambiguous_since, None);
    }
}
