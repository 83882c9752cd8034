//! A write as a queued job: its payload, the create-to-upsert rewrite that makes a retried
//! create idempotent, and what of it goes into the audit log.

use std::collections::BTreeMap;

use callforce_client::{Error as ClientError, ErrorBody, Request, RequestInfo};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The job kind of a write made by an action.
pub const KIND_WRITE: &str = "write";

/// The payload of a write job, as stored in the queue (and shown and edited in a dead letter):
/// `{"request": <Request>, "action": "log_call"}`, and `"ambiguousSince"` once an attempt of a
/// create went unanswered (and `"traceparent"` when traces are exported).
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
    /// The W3C trace context of the tool call that queued it, when traces are exported: each
    /// attempt's span continues that trace (see [`callforce_client::telemetry`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
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
        Request::Composite(mut c) => {
            for sub in &mut c.composite_request {
                upsert_subrequest(sub, idempotency_key, external_ids);
            }
            Request::Composite(c)
        }
        other => other,
    }
}

/// Rewrites one composite subrequest that creates a record of a mapped object
/// (`POST .../sobjects/<Object>`) as an upsert on the object's key field, keyed by the job's
/// idempotency key and the subrequest's reference id (stable across retries and replays).
/// Later subrequests still read `@{ref.id}`: an upsert answers with the record's id whether it
/// created it or found it.
fn upsert_subrequest(
    sub: &mut callforce_client::composite::Subrequest,
    idempotency_key: &str,
    external_ids: &BTreeMap<String, String>,
) {
    if !sub.method.eq_ignore_ascii_case("POST") || sub.url.contains('?') {
        return;
    }
    let Some((base, sobject)) = sub.url.rsplit_once('/') else {
        return;
    };
    if !base.ends_with("/sobjects") {
        return;
    }
    let Some(field) = external_ids.get(sobject) else {
        return;
    };
    let key = external_key(&format!("{idempotency_key}/{}", sub.reference_id));
    if let Some(Value::Object(body)) = &mut sub.body {
        // The key is in the URL; the same field in the body would be refused.
        body.remove(field);
    }
    sub.url = format!("{}/{field}/{key}", sub.url);
    sub.method = "PATCH".into();
}

/// The failure of an all-or-none composite request that the org rolled back: it answers
/// HTTP 200 with an error per subrequest, so the send itself looks like a success. The error
/// returned is the subrequest that failed (not the `PROCESSING_HALTED` of the others), with
/// its status and Salesforce's error body, so it classifies like the same failure of a
/// single request (`UNABLE_TO_LOCK_ROW`: retry; a validation rule: dead letter). `None` when
/// the request is not an all-or-none composite or every subrequest succeeded.
pub fn rolled_back(request: &Request, answer: &Value) -> Option<ClientError> {
    let Request::Composite(c) = request else {
        return None;
    };
    if !c.all_or_none {
        return None;
    }
    let resp: callforce_client::CompositeResponse = serde_json::from_value(answer.clone()).ok()?;
    if resp.all_succeeded() {
        return None;
    }
    let failed =
        |s: &&callforce_client::composite::SubResponse| !(200..300).contains(&s.http_status_code);
    let sub = resp
        .composite_response
        .iter()
        .filter(failed)
        .find(|s| s.error_code() != Some("PROCESSING_HALTED"))
        .or_else(|| resp.composite_response.iter().find(failed))?;
    let (method, url) = c
        .composite_request
        .iter()
        .find(|r| r.reference_id == sub.reference_id)
        .map_or(("POST", "/composite"), |r| {
            (r.method.as_str(), r.url.as_str())
        });
    let bytes = serde_json::to_vec(&sub.body).unwrap_or_default();
    Some(ClientError::Api {
        status: sub.http_status_code,
        body: ErrorBody::parse(sub.http_status_code, &bytes),
        request: RequestInfo::new(method, url),
    })
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

    fn composite(all_or_none: bool) -> Request {
        let mut b = callforce_client::CompositeBuilder::new(
            callforce_client::ApiVersion::DEFAULT,
            all_or_none,
        );
        let lead = Id::parse("00Q000000000001").expect("id");
        b.update("w0", "Lead", lead, rec(json!({"Status": "Qualified"})));
        let case = b.create(
            "case",
            "Case",
            rec(json!({"Subject": "x", "Callforce_Key__c": "y"})),
        );
        b.create(
            "task",
            "Task",
            rec(json!({"Subject": "Call", "WhatId": case.id()})),
        );
        b.create("acct", "Account", rec(json!({"Name": "A"})));
        Request::Composite(b.build().expect("composite"))
    }

    #[test]
    fn composite_creates_of_mapped_objects_become_upserts_keyed_per_subrequest() {
        let map: BTreeMap<String, String> = [
            ("Task".to_owned(), "Callforce_Key__c".to_owned()),
            ("Case".to_owned(), "Callforce_Key__c".to_owned()),
        ]
        .into();
        let Request::Composite(got) =
            make_idempotent(composite(true), "call-1/record_intent/4", &map)
        else {
            panic!("composite")
        };
        let subs = &got.composite_request;
        let base = "/services/data/v59.0/sobjects";
        let case_key = external_key("call-1/record_intent/4/case");
        let task_key = external_key("call-1/record_intent/4/task");
        assert_ne!(case_key, task_key);
        #[rustfmt::skip]
        let want = [
            ("PATCH", format!("{base}/Lead/{}", Id::parse("00Q000000000001").expect("id"))),
            ("PATCH", format!("{base}/Case/Callforce_Key__c/{case_key}")),
            ("PATCH", format!("{base}/Task/Callforce_Key__c/{task_key}")),
            ("POST", format!("{base}/Account")),
        ];
        for (sub, (method, url)) in subs.iter().zip(want) {
            assert_eq!(
                (sub.method.as_str(), sub.url.as_str()),
                (method, url.as_str())
            );
        }
        assert_eq!(subs[1].body, Some(json!({"Subject": "x"})));
        assert_eq!(
            subs[2].body,
            Some(json!({"Subject": "Call", "WhatId": "@{case.id}"}))
        );
        // The same job gets the same request again (a retry or a replay finds its records).
        assert_eq!(
            make_idempotent(composite(true), "call-1/record_intent/4", &map),
            Request::Composite(got)
        );
    }

    #[test]
    fn a_rolled_back_composite_is_the_failure_of_its_failing_subrequest() {
        let halted = json!([{"errorCode": "PROCESSING_HALTED", "message": "rolled back"}]);
        let answer = |code: &str, status: u16| {
            json!({"compositeResponse": [
                {"body": halted, "httpHeaders": {}, "httpStatusCode": 400, "referenceId": "w0"},
                {"body": [{"errorCode": code, "message": "no", "fields": ["Subject"]}],
                 "httpHeaders": {}, "httpStatusCode": status, "referenceId": "case"},
                {"body": halted, "httpHeaders": {}, "httpStatusCode": 400, "referenceId": "task"},
                {"body": halted, "httpHeaders": {}, "httpStatusCode": 400, "referenceId": "acct"},
            ]})
        };
        let e = rolled_back(&composite(true), &answer("REQUIRED_FIELD_MISSING", 400))
            .expect("rolled back");
        assert_eq!(e.status(), Some(400));
        assert_eq!(e.error_code(), Some("REQUIRED_FIELD_MISSING"));
        assert_eq!(e.class(), callforce_client::Class::Permanent);
        assert_eq!(
            e.request().map(|r| r.path.as_str()),
            Some("/services/data/v59.0/sobjects/Case")
        );
        let e = rolled_back(&composite(true), &answer("UNABLE_TO_LOCK_ROW", 400)).expect("lock");
        assert_eq!(e.class(), callforce_client::Class::Retryable);
        // Not all-or-none: partial success is the answer, not a failure.
        assert!(rolled_back(&composite(false), &answer("REQUIRED_FIELD_MISSING", 400)).is_none());
        let ok = json!({"compositeResponse": [
            {"body": null, "httpHeaders": {}, "httpStatusCode": 204, "referenceId": "w0"}]});
        assert!(rolled_back(&composite(true), &ok).is_none());
        assert!(rolled_back(&task_create(), &answer("X", 400)).is_none());
    }

    fn task_create() -> Request {
        Request::Create {
            sobject: "Task".into(),
            record: Record::new(),
        }
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
            traceparent: None,
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

    /// The trace context of the tool call that queued a write is kept with it, and only when
    /// traces are exported: the payload of a service that exports none is as it was.
    #[test]
    fn the_payload_keeps_its_trace_context_only_when_there_is_one() {
        let mut p = JobPayload {
            request: Request::Create {
                sobject: "Task".into(),
                record: rec(json!({"Subject": "x"})),
            },
            action: "log_call".into(),
            ambiguous_since: None,
            traceparent: None,
        };
        let plain = serde_json::to_value(&p).expect("json");
        assert_eq!(
            plain
                .as_object()
                .expect("object")
                .keys()
                .collect::<Vec<_>>(),
            ["request", "action"]
        );
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        p.traceparent = Some(tp.into());
        let v = serde_json::to_value(&p).expect("json");
        assert_eq!(v["traceparent"], tp);
        let back: JobPayload = serde_json::from_value(v).expect("payload");
        assert_eq!(back, p);
    }
}
