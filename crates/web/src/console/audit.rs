//! The audit page: the workspace's audit log, newest first, filtered by kind, actor, call and
//! time, a page at a time (an "Older entries" link carries the last entry's `seq`: keyset pages,
//! so the 500th page costs what the first does), and Verify, which recomputes the chain and
//! shows the first entry that does not hold. The operations are the core's
//! ([`callforce_app::admin::Admin::audit`], [`callforce_app::admin::Admin::verify_audit`]), the
//! ones `/v1/audit` and `/v1/audit/verify` ask.
//!
//! ```text
//! GET  /audit?kind=&actor=&call_id=&from=&to=&before=   the entries, newest first, filtered
//! POST /audit/verify                                    csrf -> the page with the chain's verdict
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use callforce_app::Error;
use callforce_app::admin::DEFAULT_LIMIT;
use callforce_app::console::Session;
use callforce_app::deadletters::payload_value;
use callforce_store::{AuditEntry, AuditFilter, BreakReason, Verdict};
use serde::Deserialize;

use super::{Pages, failed, html, posted, signed_in, some, text, time, time_field};

/// Entries on one page.
const PAGE: u32 = 50;

/// The routes of the audit page.
pub(super) fn routes() -> axum::Router<Arc<Pages>> {
    axum::Router::new()
        .route("/audit", get(list))
        .route("/audit/verify", post(verify))
}

/// The filter as typed, and what is wrong with each field.
#[derive(Default)]
struct Filter {
    kind: String,
    actor: String,
    call_id: String,
    from: String,
    to: String,
    from_problem: Option<String>,
    to_problem: Option<String>,
    before_problem: Option<String>,
}

impl Filter {
    fn of(params: &HashMap<String, String>) -> Self {
        Self {
            kind: text(params, "kind"),
            actor: text(params, "actor"),
            call_id: text(params, "call_id"),
            from: text(params, "from"),
            to: text(params, "to"),
            ..Self::default()
        }
    }

    /// The query string of this filter (without a page), for links.
    fn query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("kind", &self.kind),
            ("actor", &self.actor),
            ("call_id", &self.call_id),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }

    /// Whether any filter is set.
    fn any(&self) -> bool {
        !self.query().is_empty()
    }

    fn has_problem(&self) -> bool {
        self.from_problem.is_some() || self.to_problem.is_some() || self.before_problem.is_some()
    }
}

/// An API key as the core lists it (never the key itself).
#[derive(Deserialize)]
struct Key {
    id: i64,
    name: String,
    prefix: String,
}

/// Who an entry's actor is, as a person reads it: a stored key by its name and prefix.
fn actor_label(actor: &str, keys: &[Key]) -> String {
    match actor {
        "api-key:env" => "the environment's API key".to_owned(),
        "cli" => "a callforce command".to_owned(),
        "system" => "the service".to_owned(),
        other => other
            .strip_prefix("api-key:")
            .and_then(|id| id.parse::<i64>().ok())
            .and_then(|id| keys.iter().find(|k| k.id == id))
            .map_or_else(
                || other.to_owned(),
                |k| format!("key {} ({}…)", k.name, k.prefix),
            ),
    }
}

/// A stored JSON text, indented for reading.
fn pretty(raw: Option<&str>) -> Option<String> {
    raw.map(|r| serde_json::to_string_pretty(&payload_value(r)).unwrap_or_else(|_| r.to_owned()))
}

/// An entry as a row of the page.
struct Row {
    seq: u64,
    at: String,
    kind: String,
    actor: String,
    actor_label: String,
    call_id: String,
    record_ids: String,
    request: Option<String>,
    response: Option<String>,
    hash: String,
}

impl Row {
    fn of(e: &AuditEntry, keys: &[Key]) -> Self {
        let actor = e.agent.clone().unwrap_or_default();
        Self {
            seq: e.seq,
            at: time(e.at),
            kind: e.kind.clone(),
            actor_label: actor_label(&actor, keys),
            actor,
            call_id: e.call_id.clone().unwrap_or_default(),
            record_ids: e.record_ids.join(", "),
            request: pretty(e.request.as_deref()),
            response: pretty(e.response.as_deref()),
            hash: e.hash.clone(),
        }
    }
}

/// What Verify found, as the page says it.
struct Checked {
    intact: bool,
    summary: String,
    /// The first entry that does not hold, when it is still there.
    entry: Option<Row>,
}

/// Why an entry breaks the chain, in a sentence.
fn why(reason: BreakReason) -> &'static str {
    match reason {
        BreakReason::HashMismatch => {
            "its content does not match its hash: it was changed after it was written"
        }
        BreakReason::PrevHashMismatch => {
            "it does not link to the entry before it: entries were removed or reordered"
        }
        BreakReason::Missing => "it is missing: it was deleted",
        BreakReason::TailMismatch => {
            "the log ends before, or differently from, its recorded last entry: its end was cut \
             off or altered"
        }
        BreakReason::Unkeyed => {
            "it is not keyed although an earlier entry is: it was written or rewritten without \
             the audit key"
        }
        BreakReason::CheckpointMismatch => {
            "its hash differs from the one a checkpoint recorded: the log was rewritten"
        }
        BreakReason::BelowCheckpoint => {
            "the log ends before an entry a checkpoint recorded: its end was deleted"
        }
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage<'a> {
    csrf: &'a str,
    page: &'a str,
    filter: Filter,
    keys: Vec<(String, String)>,
    rows: Vec<Row>,
    /// The filter's query string, for the links to other pages.
    query: String,
    /// The `seq` the older page lists before, when there is one.
    older: Option<u64>,
    /// Whether this is a later page (a link back to the newest then).
    paged: bool,
    checked: Option<Checked>,
}

/// The workspace's API keys, by id, name and prefix.
async fn keys(pages: &Pages, s: &Session) -> Result<Vec<Key>, Error> {
    let listed = pages.console.keys().list(&s.caller).await?;
    serde_json::from_value(listed["keys"].clone()).map_err(|e| {
        tracing::error!(error = %e, "the console could not read an API key");
        Error::internal()
    })
}

/// The audit page for `params`, with Verify's verdict when it ran.
async fn render(
    pages: &Pages,
    s: &Session,
    params: &HashMap<String, String>,
    checked: Option<Checked>,
) -> Response {
    let mut filter = Filter::of(params);
    let from = time_field(&filter.from).unwrap_or_else(|p| {
        filter.from_problem = Some(p);
        None
    });
    let to = time_field(&filter.to).unwrap_or_else(|p| {
        filter.to_problem = Some(p);
        None
    });
    let raw_before = text(params, "before");
    let before = match raw_before.as_str() {
        "" => None,
        raw => raw.parse::<u64>().ok().filter(|b| *b > 0).or_else(|| {
            filter.before_problem = Some(format!(
                "'{raw}' is not a page of the log; start again from the newest entries"
            ));
            None
        }),
    };
    let keys = match keys(pages, s).await {
        Ok(k) => k,
        Err(e) => return failed(s, "audit", &e),
    };
    let (rows, older, status) = if filter.has_problem() {
        (Vec::new(), None, StatusCode::BAD_REQUEST)
    } else {
        let wanted = AuditFilter {
            call_id: some(&filter.call_id),
            kind_prefix: some(&filter.kind),
            agent: some(&filter.actor),
            from,
            to,
            before_seq: before,
            newest_first: true,
            limit: Some(PAGE.min(DEFAULT_LIMIT)),
            ..AuditFilter::default()
        };
        match pages
            .console
            .admin()
            .audit(s.caller.workspace, &wanted)
            .await
        {
            Ok(found) => (
                found.entries.iter().map(|e| Row::of(e, &keys)).collect(),
                found.next_before,
                StatusCode::OK,
            ),
            Err(e) => return failed(s, "audit", &e),
        }
    };
    let page = AuditPage {
        csrf: &s.csrf,
        page: "audit",
        query: filter.query(),
        keys: keys
            .iter()
            .map(|k| {
                (
                    format!("api-key:{}", k.id),
                    format!("{} ({}…)", k.name, k.prefix),
                )
            })
            .collect(),
        filter,
        rows,
        older,
        paged: before.is_some(),
        checked,
    };
    html(status, page.render())
}

async fn list(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match signed_in(&pages, &headers).await {
        Ok(s) => render(&pages, &s, &params, None).await,
        Err(resp) => resp,
    }
}

async fn verify(State(pages): State<Arc<Pages>>, headers: HeaderMap, body: Bytes) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let admin = pages.console.admin();
    let verdict = match admin.verify_audit(s.caller.workspace).await {
        Ok(v) => v,
        Err(e) => return failed(&s, "audit", &e),
    };
    let checked = match verdict {
        Verdict::Intact { entries, unkeyed } => Checked {
            intact: true,
            summary: if unkeyed == 0 {
                format!("The audit log is intact: {entries} entries checked.")
            } else {
                format!(
                    "The audit log is intact: {entries} entries checked ({unkeyed} of them \
                     written before the log was keyed, so only their links were checked)."
                )
            },
            entry: None,
        },
        Verdict::Unchecked {
            entries,
            unchecked,
            missing_versions,
            ..
        } => Checked {
            intact: false,
            summary: format!(
                "Nothing broken found in {entries} entries, but {unchecked} could not be \
                 checked: the service does not hold the audit key of version {missing_versions:?}."
            ),
            entry: None,
        },
        Verdict::Broken(b) => {
            let keys = keys(&pages, &s).await.unwrap_or_default();
            let entry = admin
                .audit_entry(s.caller.workspace, b.seq)
                .await
                .ok()
                .flatten()
                .map(|e| Row::of(&e, &keys));
            Checked {
                intact: false,
                summary: format!(
                    "The audit log does not verify. The first bad entry is entry {}: {}.",
                    b.seq,
                    why(b.reason)
                ),
                entry,
            }
        }
    };
    render(&pages, &s, &HashMap::new(), Some(checked)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_times_read_as_utc() {
        let at = |s: &str| super::super::typed_time(s).map(|t| t.to_rfc3339());
        let nine = Some("2026-01-31T09:00:00+00:00".to_owned());
        assert_eq!(at("2026-01-31T09:00"), nine);
        assert_eq!(at("2026-01-31 09:00"), nine);
        assert_eq!(at("2026-01-31T09:00:00Z"), nine);
        assert_eq!(at("2026-01-31T10:00:00+01:00"), nine);
        assert_eq!(
            at("2026-01-31"),
            Some("2026-01-31T00:00:00+00:00".to_owned())
        );
        for bad in ["yesterday", "2026-13-01", "31/01/2026", "09:00"] {
            assert_eq!(at(bad), None, "{bad}");
            assert!(time_field(bad).is_err(), "{bad}");
        }
        assert_eq!(time_field(""), Ok(None));
    }

    #[test]
    fn actors_read_as_people_name_them() {
        let keys = [Key {
            id: 7,
            name: "ops".into(),
            prefix: "cf_ab12".into(),
        }];
        for (raw, want) in [
            ("api-key:7", "key ops (cf_ab12…)"),
            ("api-key:8", "api-key:8"),
            ("api-key:env", "the environment's API key"),
            ("cli", "a callforce command"),
            ("system", "the service"),
            ("front-desk", "front-desk"),
        ] {
            assert_eq!(actor_label(raw, &keys), want, "{raw}");
        }
    }
}
