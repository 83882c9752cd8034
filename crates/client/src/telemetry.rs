//! What callforce's trace spans share: the span target, W3C trace context in and out, and the
//! path template a Salesforce round trip is named by.
//!
//! The spans exported over OTLP (a tool call, a Salesforce round trip, a queued write's
//! attempt) use the target [`TARGET`]; the binary sends that target to the exporter only, so
//! logs look the same with or without tracing, and with no exporter these spans are disabled
//! (their fields are not even evaluated).
//!
//! NB: nothing here records a value: a span holds names, ids callforce made, counts and
//! statuses. A path is recorded as its [`path_template`] (record ids and External ID values
//! become `{id}` and `{value}`; the query string, which holds SOQL and so values, is dropped).

use std::collections::HashMap;

use opentelemetry::propagation::Extractor;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The `tracing` target of the spans meant for the trace exporter and not for the logs.
pub const TARGET: &str = "callforce_trace";

/// The W3C trace context of the current span (`00-<trace id>-<span id>-<flags>`), to carry
/// across the write queue; `None` when no trace is being recorded.
pub fn current_traceparent() -> Option<String> {
    let cx = tracing::Span::current().context();
    let mut carrier = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut carrier));
    carrier.remove("traceparent")
}

/// Makes `span` (not yet entered) continue the trace of a W3C `traceparent` value: its parent
/// becomes the span that value names. An invalid value, or no trace being recorded, changes
/// nothing.
pub fn continue_trace(span: &tracing::Span, traceparent: &str) {
    continue_from(span, &One(traceparent));
}

/// Makes `span` (not yet entered) continue the trace of an incoming request's `traceparent`
/// (and `tracestate`) headers, if it has them.
pub fn continue_from_headers(span: &tracing::Span, headers: &reqwest::header::HeaderMap) {
    if headers.contains_key("traceparent") {
        continue_from(span, &Headers(headers));
    }
}

fn continue_from(span: &tracing::Span, carrier: &dyn Extractor) {
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(carrier));
    // NB: fails only when no trace is recorded (no exporter) or the span already started,
    // and then there is nothing to continue.
    let _ = span.set_parent(cx);
}

/// Sets an attribute on `span`'s exported span (nothing when no trace is recorded).
pub fn set_attribute(span: &tracing::Span, key: &'static str, value: impl Into<AttributeValue>) {
    span.set_attribute(key, value.into().0);
}

/// A value [`set_attribute`] takes: a string or an integer.
#[derive(Debug)]
pub struct AttributeValue(opentelemetry::Value);

impl From<&str> for AttributeValue {
    fn from(v: &str) -> Self {
        Self(opentelemetry::Value::from(v.to_owned()))
    }
}

impl From<String> for AttributeValue {
    fn from(v: String) -> Self {
        Self(opentelemetry::Value::from(v))
    }
}

impl From<i64> for AttributeValue {
    fn from(v: i64) -> Self {
        Self(opentelemetry::Value::from(v))
    }
}

struct One<'a>(&'a str);

impl Extractor for One<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == "traceparent").then_some(self.0)
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent"]
    }
}

struct Headers<'a>(&'a reqwest::header::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0
            .keys()
            .map(reqwest::header::HeaderName::as_str)
            .collect()
    }
}

/// The segments of a REST path that are words of the API, kept as they are.
const WORDS: &[&str] = &[
    "services",
    "data",
    "sobjects",
    "query",
    "queryAll",
    "search",
    "parameterizedSearch",
    "composite",
    "batch",
    "tree",
    "graph",
    "describe",
    "limits",
    "updated",
    "deleted",
    "ui-api",
    "object-info",
    "picklist-values",
    "records",
    "chatter",
    "users",
    "me",
    "tooling",
    "actions",
    "standard",
    "custom",
    "listviews",
    "quickActions",
];

/// A REST path as a template that holds no value:
/// `/services/data/v59.0/sobjects/Case/500xx000003DHP0AAO?fields=Subject` becomes
/// `/services/data/v59.0/sobjects/Case/{id}`.
///
/// Kept: the API's own words, the version, the object name after `sobjects`, `tree` or
/// `object-info`, and a field name after an object (an External ID field, or a field of the
/// composite upsert). Anything else becomes `{id}` when it reads as a record id, `{value}`
/// otherwise (an External ID value, a query locator); the query string is dropped.
pub fn path_template(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let segments: Vec<&str> = path.split('/').collect();
    let mut out: Vec<&str> = Vec::with_capacity(segments.len());
    // The index of the segment after `sobjects` (an object name), and of the segment after
    // it when that is a field name (so the next one is that field's value).
    let mut object_at = None;
    let mut field_at = None;
    for (i, s) in segments.iter().copied().enumerate() {
        let prev = i.checked_sub(1).map(|p| segments[p]);
        let kept = if s.is_empty() || WORDS.contains(&s) || (prev == Some("data") && is_version(s))
        {
            true
        } else if matches!(prev, Some("sobjects" | "tree" | "object-info")) && is_api_name(s) {
            object_at = Some(i);
            true
        } else if object_at.is_some_and(|o| o + 1 == i)
            && callforce_types::Id::parse(s).is_err()
            && is_api_name(s)
        {
            // After an object: a record id, or a field name (`Contact/Phone__c/<value>`).
            field_at = Some(i);
            true
        } else if object_at.is_some_and(|o| o + 2 == i)
            && callforce_types::Id::parse(segments[i - 1]).is_ok()
            && is_api_name(s)
        {
            // After a record id: a relationship (`Account/<id>/Contacts`).
            true
        } else {
            false
        };
        let field_value = field_at.is_some_and(|f| f + 1 == i);
        out.push(if kept && !field_value {
            s
        } else if callforce_types::Id::parse(s).is_ok() {
            "{id}"
        } else {
            "{value}"
        });
    }
    out.join("/")
}

fn is_version(s: &str) -> bool {
    s.strip_prefix('v').is_some_and(|v| {
        let mut p = v.split('.');
        matches!((p.next(), p.next(), p.next()), (Some(a), Some(b), None)
            if !a.is_empty() && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit()))
    })
}

fn is_api_name(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_templates_hold_no_value() {
        // Both sides under `/services/data/v62.0`.
        for (path, want) in [
            ("", ""),
            ("/sobjects/Case/500xx000003DHP0AAO", "/sobjects/Case/{id}"),
            ("/sobjects/Case/500xx000003DHP0", "/sobjects/Case/{id}"),
            (
                "/sobjects/Case/500xx000003DHP0AAO?fields=Subject",
                "/sobjects/Case/{id}",
            ),
            ("/sobjects/Case", "/sobjects/Case"),
            ("/sobjects/Case/describe", "/sobjects/Case/describe"),
            (
                "/sobjects/Contact/Phone__c/%2B15551234567",
                "/sobjects/Contact/Phone__c/{value}",
            ),
            (
                "/sobjects/Contact/Ext__c/ABC123",
                "/sobjects/Contact/Ext__c/{value}",
            ),
            (
                "/sobjects/Case/Callforce_Key__c/cf-3a7bd3e2",
                "/sobjects/Case/Callforce_Key__c/{value}",
            ),
            (
                "/sobjects/Account/001D000000IRFmaIAH/Contacts",
                "/sobjects/Account/{id}/Contacts",
            ),
            (
                "/query?q=SELECT+Id+FROM+Contact+WHERE+Phone='555'",
                "/query",
            ),
            ("/query/01gD0000002HU6KIAW-2000", "/query/{value}"),
            ("/queryAll", "/queryAll"),
            ("/search?q=FIND+%7BAcme%7D", "/search"),
            ("/parameterizedSearch", "/parameterizedSearch"),
            ("/limits", "/limits"),
            ("/composite", "/composite"),
            ("/composite/batch", "/composite/batch"),
            (
                "/composite/sobjects?ids=001D000000IRFmaIAH",
                "/composite/sobjects",
            ),
            (
                "/composite/sobjects/Contact/Email",
                "/composite/sobjects/Contact/Email",
            ),
            ("/composite/tree/Account", "/composite/tree/Account"),
            (
                "/ui-api/object-info/Case/picklist-values/012000000000000AAA",
                "/ui-api/object-info/Case/picklist-values/{id}",
            ),
            ("/chatter/users/me", "/chatter/users/me"),
            ("/sobjects/Case/not a name", "/sobjects/Case/{value}"),
            ("/sobjects/jane@example.com", "/sobjects/{value}"),
            (
                "/sobjects/Case/jane@example.com/x",
                "/sobjects/Case/{value}/{value}",
            ),
        ] {
            let path = format!("/services/data/v62.0{path}");
            let want = format!("/services/data/v62.0{want}");
            assert_eq!(path_template(&path), want, "{path}");
        }
        for (path, want) in [
            ("/services/data", "/services/data"),
            (
                "/services/data/latest/limits",
                "/services/data/{value}/limits",
            ),
            (
                "/services/apexrest/Orders/42",
                "/services/{value}/{value}/{value}",
            ),
        ] {
            assert_eq!(path_template(path), want, "{path}");
        }
    }

    #[test]
    fn no_trace_recorded_means_no_traceparent() {
        assert_eq!(current_traceparent(), None);
    }
}
