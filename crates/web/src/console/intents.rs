//! The intents page: the workspace's intent map in a JSON editor, whether it is active and how
//! it stands on each connection, the check with every problem and its fix, and saving (which
//! is activating: a map is stored and active only if it passes on every connected org). The
//! operations are the core's ([`callforce_app::intents::Intents`]), the ones `/v1/intents*`
//! asks.
//!
//! ```text
//! GET  /intents                 the map, its state, its status per connection, its last report
//! POST /intents                 map (JSON) -> checked on every connected org; stored and active
//!                               only if it passes on all of them (PUT /v1/intents)
//! POST /intents/check           map (JSON; empty: the stored map), connection (empty: every
//!                               one) -> every problem with its fix; nothing stored
//!                               (POST /v1/intents/check)
//! POST /intents/recheck         the live map checked again with fresh describes
//!                               (POST /v1/intents/recheck); 303 to /intents
//! ```

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use callforce_app::console::Session;
use callforce_app::{Error, Kind};
use callforce_intents::{IntentMap, Report, Severity};
use serde_json::Value;

use super::{Pages, failed, field, html, posted, see_other, sentence, signed_in, status_of, time};

/// The routes of the intents page.
pub(super) fn routes() -> axum::Router<Arc<Pages>> {
    axum::Router::new()
        .route("/intents", get(show).post(save))
        .route("/intents/check", post(check))
        .route("/intents/recheck", post(recheck))
}

/// The stored map's state.
struct Stored {
    active: bool,
    updated_at: String,
}

/// How the map stands on one connection of the workspace.
struct ConnRow {
    id: String,
    name: String,
    default: bool,
    /// `active`, `broken`, `unchecked`, `inactive`, or `waiting` (the connection is not
    /// connected now).
    status: String,
    /// The status in words.
    label: String,
    /// When this instance last checked the map against that org (`-`: not yet).
    checked_at: String,
}

/// One problem of a check, as a row of its table.
struct ProblemRow {
    error: bool,
    code: String,
    intent: String,
    field: String,
    path: String,
    message: String,
    fix: String,
}

/// A check's report against one connection.
struct Checked {
    connection: String,
    name: String,
    default: bool,
    ok: bool,
    intents: usize,
    fields: usize,
    errors: usize,
    warnings: usize,
    problems: Vec<ProblemRow>,
}

/// What the page shows beside the map: a fresh check, or a refused save's, or the last one.
struct Results {
    /// The heading of the results.
    title: String,
    /// One sentence on what they mean.
    summary: String,
    reports: Vec<Checked>,
}

#[derive(Template)]
#[template(path = "intents.html")]
struct IntentsPage<'a> {
    csrf: &'a str,
    page: &'a str,
    /// The editor's text.
    map: String,
    stored: Option<Stored>,
    /// What is wrong with the map sent, next to the editor.
    problem: Option<String>,
    connections: Vec<ConnRow>,
    /// The connection chosen for the check (empty: every one).
    chosen: String,
    results: Option<Results>,
}

impl IntentsPage<'_> {
    /// Whether `id` is the connection chosen for the check.
    fn is_chosen(&self, id: &str) -> bool {
        self.chosen == id
    }
}

/// The intent and the field (`Object.Field` where the map says the object) a problem's path
/// (`intents.qualified.writes[0].fields.Status`) points at.
fn locate(path: &str, map: Option<&IntentMap>) -> (String, String) {
    let Some(rest) = path.strip_prefix("intents.") else {
        // `variables.<name>...`: no intent.
        return ("-".to_owned(), path.to_owned());
    };
    let (intent, rest) = rest.split_once('.').unwrap_or((rest, ""));
    let write = rest
        .strip_prefix("writes[")
        .and_then(|r| r.split_once(']'))
        .and_then(|(i, r)| Some((i.parse::<usize>().ok()?, r.trim_start_matches('.'))));
    let object = write.and_then(|(i, _)| {
        map.and_then(|m| m.intents.get(intent))
            .and_then(|it| it.writes.get(i))
            .map(|w| w.object.clone())
    });
    let after = write.map_or(rest, |(_, r)| r);
    let field = if let Some(f) = after.strip_prefix("fields.") {
        match &object {
            Some(o) => format!("{o}.{f}"),
            None => f.to_owned(),
        }
    } else if after == "object" || after.is_empty() {
        object.unwrap_or_else(|| "-".to_owned())
    } else {
        match &object {
            Some(o) => format!("{o} ({after})"),
            None => after.to_owned(),
        }
    };
    (intent.to_owned(), field)
}

/// A report against `connection` as the page lists it.
fn checked(
    connection: &str,
    default: bool,
    report: &Value,
    names: &[(String, String)],
    map: Option<&IntentMap>,
) -> Option<Checked> {
    let r: Report = serde_json::from_value(report.clone()).ok()?;
    let errors = r.errors();
    let problems = r
        .problems
        .iter()
        .map(|p| {
            let (intent, field) = locate(&p.path, map);
            ProblemRow {
                error: p.severity == Severity::Error,
                code: serde_json::to_value(p.code)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                intent,
                field,
                path: p.path.clone(),
                message: p.message.clone(),
                fix: p.fix.clone(),
            }
        })
        .collect();
    Some(Checked {
        connection: connection.to_owned(),
        name: name_of(names, connection),
        default,
        ok: r.ok,
        intents: r.intents,
        fields: r.fields,
        errors,
        warnings: r.problems.len() - errors,
        problems,
    })
}

/// The reports of a check's answer (`{"connections": [{"connection", "default", "report"}]}`).
fn reports(v: &Value, names: &[(String, String)], map: Option<&IntentMap>) -> Vec<Checked> {
    v["connections"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|c| {
                    checked(
                        c["connection"].as_str().unwrap_or_default(),
                        c["default"].as_bool().unwrap_or_default(),
                        &c["report"],
                        names,
                        map,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A connection's name, or its id when it has none.
fn name_of(names: &[(String, String)], id: &str) -> String {
    names
        .iter()
        .find(|(i, _)| i == id)
        .map_or_else(|| id.to_owned(), |(_, n)| n.clone())
}

/// What the page needs to know of the workspace, read from the core.
struct Known {
    /// The stored map as pretty JSON, when there is one.
    map: Option<String>,
    stored: Option<Stored>,
    connections: Vec<ConnRow>,
    /// (id, name) of every connection.
    names: Vec<(String, String)>,
    /// Why the map is not live where it is not: the stored report when it has errors (the map
    /// was deactivated), and the reports of the connections it was withdrawn from.
    last: Vec<Checked>,
}

/// The workspace's map, its state and its status on each connection.
async fn known(pages: &Pages, s: &Session) -> Result<Known, Error> {
    let intents = pages.console.intents();
    let ws = s.caller.workspace;
    let (got, map_text, stored) = match intents.get_map(ws).await {
        Ok(v) => {
            let text = serde_json::to_string_pretty(&v["map"]).unwrap_or_default();
            let stored = Stored {
                active: v["active"].as_bool().unwrap_or_default(),
                updated_at: v["updated_at"]
                    .as_str()
                    .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok())
                    .map(time)
                    .unwrap_or_default(),
            };
            (v, Some(text), Some(stored))
        }
        Err(e) if e.code == "no_intent_map" => {
            let statuses = intents.statuses(ws, false);
            (serde_json::json!({"connections": statuses}), None, None)
        }
        Err(e) => return Err(e),
    };
    let listed = pages.console.connections().list(&s.caller).await?;
    let all = listed["connections"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<(String, String)> = all
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_owned(),
                c["name"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let statuses = got["connections"].as_array().cloned().unwrap_or_default();
    let parsed = map_text
        .as_deref()
        .and_then(|t| IntentMap::from_json(t).ok());
    let mut last = Vec::new();
    if let Some(st) = &stored
        && !st.active
        && let Some(r) = got.get("report").filter(|r| r["ok"] == false)
    {
        // The report the map was deactivated with (against the default connection).
        let default = statuses
            .iter()
            .find(|c| c["default"] == true)
            .and_then(|c| c["connection"].as_str())
            .unwrap_or_default();
        last.extend(checked(default, true, r, &names, parsed.as_ref()));
    }
    let connections = all
        .iter()
        .map(|c| {
            let id = c["id"].as_str().unwrap_or_default().to_owned();
            let found = statuses.iter().find(|x| x["connection"] == id.as_str());
            let (status, label) = match found {
                None => (
                    "waiting".to_owned(),
                    format!(
                        "Waiting: the connection is {}; the map is checked against it once it is connected again",
                        c["status"].as_str().unwrap_or_default()
                    ),
                ),
                Some(x) => {
                    let status = x["status"].as_str().unwrap_or_default().to_owned();
                    let label = match status.as_str() {
                        "active" => "Checked: passes; the map is live here".to_owned(),
                        "broken" => {
                            let report = checked(&id, false, &x["report"], &names, parsed.as_ref());
                            let n = report.as_ref().map_or(0, |r| r.errors);
                            last.extend(report);
                            format!("Problems: {n}; calls on it get no record_intent")
                        }
                        "unchecked" => "Not checked yet: the first call on it checks the map, or Re-check now".to_owned(),
                        _ => "No active map".to_owned(),
                    };
                    (status, label)
                }
            };
            let checked_at = found
                .and_then(|x| x["checked_at"].as_str())
                .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok())
                .map_or_else(|| "-".to_owned(), time);
            ConnRow {
                name: name_of(&names, &id),
                default: c["default"].as_bool().unwrap_or_default(),
                id,
                status,
                label,
                checked_at,
            }
        })
        .collect();
    Ok(Known {
        map: map_text,
        stored,
        connections,
        names,
        last,
    })
}

/// The page: `typed` (what the person sent) replaces the stored map in the editor, `problem`
/// is shown next to it, `results` beside it (else the reports of where the map is not live).
async fn page(
    pages: &Pages,
    s: &Session,
    status: StatusCode,
    typed: Option<(String, String)>,
    problem: Option<String>,
    results: Option<ResultsOf>,
) -> Response {
    let k = match known(pages, s).await {
        Ok(k) => k,
        Err(e) => return failed(s, "intents", &e),
    };
    let (map, chosen) = typed.unwrap_or_else(|| (k.map.clone().unwrap_or_default(), String::new()));
    let parsed = IntentMap::from_json(&map).ok();
    let results = match results {
        Some(r) => Some(Results {
            reports: reports(&r.answer, &k.names, parsed.as_ref()),
            title: r.title,
            summary: r.summary,
        }),
        None if !k.last.is_empty() => Some(Results {
            title: "Why the map is not live everywhere".to_owned(),
            summary: "The last check against these connections found problems; fix the map (or the org) and save it, or Re-check after changing the org.".to_owned(),
            reports: k.last,
        }),
        None => None,
    };
    let p = IntentsPage {
        csrf: &s.csrf,
        page: "intents",
        map,
        stored: k.stored,
        problem,
        connections: k.connections,
        chosen,
        results,
    };
    html(status, p.render())
}

/// A core answer with reports, and how to title them.
struct ResultsOf {
    title: String,
    summary: String,
    answer: Value,
}

async fn show(State(pages): State<Arc<Pages>>, headers: HeaderMap) -> Response {
    match signed_in(&pages, &headers).await {
        Ok(s) => page(&pages, &s, StatusCode::OK, None, None, None).await,
        Err(resp) => resp,
    }
}

/// The map typed in the editor, read by the core's parser; the error says where and what,
/// with the line of JSON that does not parse.
fn parse(typed: &str) -> Result<IntentMap, String> {
    if typed.trim().is_empty() {
        return Err("The editor is empty: write an intent map (JSON)".to_owned());
    }
    IntentMap::from_json(typed).map_err(|e| {
        let mut problem = sentence(&e.to_string());
        if let Err(j) = serde_json::from_str::<Value>(typed)
            && let Some(line) = typed.lines().nth(j.line().saturating_sub(1))
        {
            let line: String = line.trim().chars().take(120).collect();
            problem.push_str(&format!(" (line {}: {line})", j.line()));
        }
        problem
    })
}

async fn save(State(pages): State<Arc<Pages>>, headers: HeaderMap, body: Bytes) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let typed = field(&body, "map").unwrap_or_default();
    let chosen = field(&body, "connection").unwrap_or_default();
    let map = match parse(&typed) {
        Ok(m) => m,
        Err(problem) => {
            let problem = format!("{problem}. Nothing was saved.");
            return page(
                &pages,
                &s,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some((typed, chosen)),
                Some(problem),
                None,
            )
            .await;
        }
    };
    match pages.console.intents().put_map(&s.caller, map).await {
        Ok(_) => see_other("/intents", &[]),
        Err(e) if e.kind == Kind::Internal => failed(&s, "intents", &e),
        Err(e) => {
            let results = e.details.as_deref().map(|d| ResultsOf {
                title: "Why the map was not saved".to_owned(),
                summary: "Every problem the check found, with its fix. The map is stored and made active only when it passes on every connected org.".to_owned(),
                answer: d.clone(),
            });
            page(
                &pages,
                &s,
                status_of(e.kind),
                Some((typed, chosen)),
                Some(sentence(&e.message)),
                results,
            )
            .await
        }
    }
}

async fn check(State(pages): State<Arc<Pages>>, headers: HeaderMap, body: Bytes) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let typed = field(&body, "map").unwrap_or_default();
    let chosen = field(&body, "connection")
        .map(|c| c.trim().to_owned())
        .unwrap_or_default();
    let map = if typed.trim().is_empty() {
        None
    } else {
        match parse(&typed) {
            Ok(m) => Some(m),
            Err(problem) => {
                let problem = format!("{problem}. Nothing was checked.");
                return page(
                    &pages,
                    &s,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some((typed, chosen)),
                    Some(problem),
                    None,
                )
                .await;
            }
        }
    };
    let on = (!chosen.is_empty()).then_some(chosen.as_str());
    match pages
        .console
        .intents()
        .check_map_on(s.caller.workspace, map, on)
        .await
    {
        Ok(answer) => {
            let failing = answer["connections"]
                .as_array()
                .map_or(0, |a| a.iter().filter(|c| c["ok"] == false).count());
            let summary = if failing == 0 {
                "The map passes: saving it makes it active.".to_owned()
            } else {
                format!(
                    "The map does not pass on {failing} connection(s): saving it would be refused. Nothing was stored."
                )
            };
            let results = ResultsOf {
                title: "Check".to_owned(),
                summary,
                answer,
            };
            page(
                &pages,
                &s,
                StatusCode::OK,
                Some((typed, chosen)),
                None,
                Some(results),
            )
            .await
        }
        Err(e) if e.kind == Kind::Internal => failed(&s, "intents", &e),
        Err(e) => {
            page(
                &pages,
                &s,
                status_of(e.kind),
                Some((typed, chosen)),
                Some(sentence(&e.message)),
                None,
            )
            .await
        }
    }
}

async fn recheck(State(pages): State<Arc<Pages>>, headers: HeaderMap, body: Bytes) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    match pages.console.intents().recheck(s.caller.workspace).await {
        Ok(_) => see_other("/intents", &[]),
        Err(e) => failed(&s, "intents", &e),
    }
}

#[cfg(test)]
mod tests {
    use super::{locate, parse};
    use callforce_intents::IntentMap;

    #[test]
    fn a_map_that_does_not_parse_says_where() {
        for (typed, want) in [
            ("", "The editor is empty"),
            ("  ", "The editor is empty"),
            (
                "{\"a\": \"Lead.Status\",\n  \"b\": Lead.Status}",
                "at line 2 column 8 (line 2: \"b\": Lead.Status})",
            ),
            ("[]", "an intent map is a JSON object"),
        ] {
            let got = parse(typed).expect_err(typed);
            assert!(got.contains(want), "{typed:?}: {got}");
        }
        assert!(parse(r#"{"qualified": "Lead.Status"}"#).is_ok());
    }

    #[test]
    fn a_problem_path_names_its_intent_and_field() {
        let map = IntentMap::from_json(
            r#"{"intents": {"qualified": {"object": "Lead", "record": {"var": "last.Lead.Id"},
                "fields": {"Status": {"const": "Hot"}}}}}"#,
        )
        .expect("map");
        for (path, intent, field) in [
            (
                "intents.qualified.writes[0].fields.Status",
                "qualified",
                "Lead.Status",
            ),
            ("intents.qualified.writes[0].object", "qualified", "Lead"),
            (
                "intents.qualified.writes[0].record",
                "qualified",
                "Lead (record)",
            ),
            ("intents.qualified", "qualified", "-"),
            ("intents.other.writes[3].fields.X__c", "other", "X__c"),
            ("variables.summary", "-", "variables.summary"),
        ] {
            assert_eq!(
                locate(path, Some(&map)),
                (intent.to_owned(), field.to_owned()),
                "{path}"
            );
        }
    }
}
