//! The dead letters and jobs pages: writes that failed for good (list and filter, one in full,
//! edit its payload, replay one, a selection or all of a call, discard) and the queue by status. The
//! operations are the core's ([`callforce_app::admin::Admin`]), the ones `/v1/deadletters*` and
//! `/v1/jobs` ask.
//!
//! ```text
//! GET  /deadletters?status=&call_id=&action=&connection_id=   the list, filtered
//! POST /deadletters/replay             call_id: every open dead letter of the call queued again
//! POST /deadletters/replay-selected    id (repeated): the ticked dead letters queued again
//! GET  /deadletters/{id}               its payload (editable while open), every attempt's error, its call
//! POST /deadletters/{id}/payload       payload (JSON) replaces the stored one
//! POST /deadletters/{id}/replay        its job queued again (same idempotency key)
//! GET  /deadletters/{id}/discard       asks to confirm
//! POST /deadletters/{id}/discard       nothing more happens to it
//! GET  /jobs?status=                   the queued writes by status, oldest first
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use callforce_app::admin::{DEFAULT_LIMIT, dead_letter_id, dead_letter_status, job_status};
use callforce_app::changes::Actor;
use callforce_app::console::Session;
use callforce_app::deadletters::{Edit, action_of, payload_value};
use callforce_app::{Error, Kind};
use callforce_store::{DeadLetter, DeadLetterFilter, DeadLetterStatus, Job};

use super::{
    Pages, confirm, failed, field, html, posted, see_other, sentence, signed_in, some, status_of,
    text, time,
};

/// The routes of the dead letters and jobs pages.
pub(super) fn routes() -> axum::Router<Arc<Pages>> {
    axum::Router::new()
        .route("/deadletters", get(list))
        .route("/deadletters/replay", post(replay_call))
        .route("/deadletters/replay-selected", post(replay_selected))
        .route("/deadletters/{id}", get(show))
        .route("/deadletters/{id}/payload", post(edit))
        .route("/deadletters/{id}/replay", post(replay))
        .route("/deadletters/{id}/discard", get(discard_form).post(discard))
        .route("/jobs", get(jobs))
}

/// A dead letter as a row of the list.
struct Row {
    id: i64,
    status: &'static str,
    action: String,
    call_id: String,
    connection_id: String,
    attempts: u32,
    last_error: String,
    created_at: String,
}

impl Row {
    fn of(dl: &DeadLetter) -> Self {
        Self {
            id: dl.id.0,
            status: dl.status.as_str(),
            action: action_of(&payload_value(&dl.payload))
                .unwrap_or(&dl.kind)
                .to_owned(),
            call_id: dl.call_id.clone().unwrap_or_default(),
            connection_id: dl.connection_id.clone(),
            attempts: dl.attempts,
            last_error: dl
                .errors
                .last()
                .map(|e| e.error.clone())
                .unwrap_or_default(),
            created_at: time(dl.created_at),
        }
    }
}

/// The list's filter as typed.
#[derive(Default)]
struct Filter {
    status: String,
    call_id: String,
    action: String,
    connection_id: String,
}

#[derive(Template)]
#[template(path = "deadletters.html")]
struct ListPage<'a> {
    csrf: &'a str,
    page: &'a str,
    filter: Filter,
    problem: Option<String>,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "deadletter.html")]
struct ShowPage<'a> {
    csrf: &'a str,
    page: &'a str,
    dl: DeadLetter,
    open: bool,
    action: String,
    payload: String,
    problem: Option<String>,
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage<'a> {
    csrf: &'a str,
    page: &'a str,
    status: String,
    problem: Option<String>,
    statuses: [&'a str; 4],
    jobs: Vec<JobRow>,
}

impl JobsPage<'_> {
    /// Whether `status` is the one filtered on.
    fn selected(&self, status: &str) -> bool {
        self.status == status
    }
}

/// A queued write as a row of the jobs page.
struct JobRow {
    id: i64,
    status: &'static str,
    action: String,
    call_id: String,
    connection_id: String,
    attempts: u32,
    next_run_at: String,
    last_error: String,
}

impl JobRow {
    fn of(j: &Job) -> Self {
        Self {
            id: j.id.0,
            status: j.status.as_str(),
            action: action_of(&payload_value(&j.payload))
                .unwrap_or(&j.kind)
                .to_owned(),
            call_id: j.call_id.clone().unwrap_or_default(),
            connection_id: j.connection_id.clone(),
            attempts: j.attempts,
            next_run_at: time(j.next_run_at),
            last_error: j.last_error.clone().unwrap_or_default(),
        }
    }
}

async fn list(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let s = match signed_in(&pages, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let typed = Filter {
        status: text(&params, "status"),
        call_id: text(&params, "call_id"),
        action: text(&params, "action"),
        connection_id: text(&params, "connection_id"),
    };
    let status = match some(&typed.status)
        .map(|v| dead_letter_status(&v))
        .transpose()
    {
        Ok(status) => status,
        Err(e) => {
            let page = ListPage {
                csrf: &s.csrf,
                page: "deadletters",
                filter: typed,
                problem: Some(sentence(&e.message)),
                rows: Vec::new(),
            };
            return html(status_of(e.kind), page.render());
        }
    };
    let filter = DeadLetterFilter {
        connection_id: some(&typed.connection_id),
        call_id: some(&typed.call_id),
        status,
        action: some(&typed.action),
        limit: Some(DEFAULT_LIMIT),
    };
    match pages
        .console
        .admin()
        .dead_letters(s.caller.workspace, &filter)
        .await
    {
        Ok(found) => {
            let page = ListPage {
                csrf: &s.csrf,
                page: "deadletters",
                filter: typed,
                problem: None,
                rows: found.iter().map(Row::of).collect(),
            };
            html(StatusCode::OK, page.render())
        }
        Err(e) => failed(&s, "deadletters", &e),
    }
}

/// One dead letter's page; `typed` (what the person sent) replaces the stored payload in the
/// editor when the edit was refused with `problem`.
async fn show_page(
    pages: &Pages,
    s: &Session,
    raw: &str,
    status: StatusCode,
    typed: Option<String>,
    problem: Option<String>,
) -> Response {
    let found = match dead_letter_id(raw) {
        Ok(id) => {
            pages
                .console
                .admin()
                .dead_letter(s.caller.workspace, id)
                .await
        }
        Err(e) => Err(e),
    };
    let dl = match found {
        Ok(dl) => dl,
        Err(e) => return failed(s, "deadletters", &not_found_if_invalid(e)),
    };
    let value = payload_value(&dl.payload);
    let action = action_of(&value).unwrap_or(&dl.kind).to_owned();
    let payload = typed.unwrap_or_else(|| {
        serde_json::to_string_pretty(&value).unwrap_or_else(|_| dl.payload.clone())
    });
    let page = ShowPage {
        csrf: &s.csrf,
        page: "deadletters",
        open: dl.status == DeadLetterStatus::Open,
        action,
        payload,
        problem,
        dl,
    };
    html(status, page.render())
}

/// An id that is not a number names no dead letter: the page is not found.
fn not_found_if_invalid(e: Error) -> Error {
    if e.kind == Kind::Invalid {
        Error::new(Kind::NotFound, "not_found", e.message)
    } else {
        e
    }
}

async fn show(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    match signed_in(&pages, &headers).await {
        Ok(s) => show_page(&pages, &s, &raw, StatusCode::OK, None, None).await,
        Err(resp) => resp,
    }
}

async fn edit(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let id = match dead_letter_id(&raw) {
        Ok(id) => id,
        Err(e) => return failed(&s, "deadletters", &not_found_if_invalid(e)),
    };
    let typed = field(&body, "payload").unwrap_or_default();
    let payload = match serde_json::from_str(&typed) {
        Ok(v) => v,
        Err(e) => {
            let problem = format!("The payload is not valid JSON ({e}); nothing was saved.");
            return show_page(
                &pages,
                &s,
                &raw,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(typed),
                Some(problem),
            )
            .await;
        }
    };
    let edited = pages
        .console
        .admin()
        .edit_dead_letter(
            s.caller.workspace,
            Actor::of(&s.caller),
            id,
            Edit::Replace(payload),
        )
        .await;
    match edited {
        Ok(_) => see_other(&format!("/deadletters/{}", id.0), &[]),
        Err(e) if matches!(e.kind, Kind::Unprocessable | Kind::Conflict | Kind::Invalid) => {
            let problem = sentence(&e.message);
            show_page(
                &pages,
                &s,
                &raw,
                status_of(e.kind),
                Some(typed),
                Some(problem),
            )
            .await
        }
        Err(e) => failed(&s, "deadletters", &e),
    }
}

async fn replay(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let replayed = match dead_letter_id(&raw) {
        Ok(id) => pages
            .console
            .admin()
            .replay_dead_letter(s.caller.workspace, Actor::of(&s.caller), id)
            .await
            .map(|_| id),
        Err(e) => Err(not_found_if_invalid(e)),
    };
    match replayed {
        Ok(id) => see_other(&format!("/deadletters/{}", id.0), &[]),
        Err(e) => failed(&s, "deadletters", &e),
    }
}

async fn replay_call(State(pages): State<Arc<Pages>>, headers: HeaderMap, body: Bytes) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let Some(call_id) = field(&body, "call_id")
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
    else {
        let e = callforce_app::admin::invalid("say which call's dead letters to replay (call_id)");
        return failed(&s, "deadletters", &e);
    };
    let filter = DeadLetterFilter {
        call_id: Some(call_id.clone()),
        status: Some(DeadLetterStatus::Open),
        ..DeadLetterFilter::default()
    };
    match pages
        .console
        .admin()
        .replay_dead_letters(s.caller.workspace, Actor::of(&s.caller), &filter)
        .await
    {
        Ok(_) => {
            let query: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("call_id", &call_id)
                .finish();
            see_other(&format!("/deadletters?{query}"), &[])
        }
        Err(e) => failed(&s, "deadletters", &e),
    }
}

/// Replays the dead letters ticked on the list (`id`, repeated), each as `POST
/// /v1/deadletters/{id}/replay` does; the first that cannot be replayed stops the rest and is
/// said.
async fn replay_selected(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let raw: Vec<String> = form_urlencoded::parse(&body)
        .filter(|(k, _)| k == "id")
        .map(|(_, v)| v.into_owned())
        .collect();
    if raw.is_empty() {
        let e = callforce_app::admin::invalid(
            "tick the dead letters to replay first, then press Replay selected",
        );
        return failed(&s, "deadletters", &e);
    }
    let mut ids = Vec::with_capacity(raw.len());
    for r in &raw {
        match dead_letter_id(r) {
            Ok(id) => ids.push(id),
            Err(e) => return failed(&s, "deadletters", &e),
        }
    }
    for id in ids {
        if let Err(e) = pages
            .console
            .admin()
            .replay_dead_letter(s.caller.workspace, Actor::of(&s.caller), id)
            .await
        {
            return failed(&s, "deadletters", &e);
        }
    }
    see_other("/deadletters", &[])
}

async fn discard_form(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    let s = match signed_in(&pages, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let found = match dead_letter_id(&raw) {
        Ok(id) => {
            pages
                .console
                .admin()
                .dead_letter(s.caller.workspace, id)
                .await
        }
        Err(e) => Err(not_found_if_invalid(e)),
    };
    let dl = match found {
        Ok(dl) => dl,
        Err(e) => return failed(&s, "deadletters", &e),
    };
    let question = format!(
        "Discard dead letter {} ({})? Its write is never sent; this cannot be undone.",
        dl.id.0,
        Row::of(&dl).action
    );
    confirm(
        &s,
        "deadletters",
        "Discard a dead letter",
        &question,
        &format!("/deadletters/{}/discard", dl.id.0),
        "Discard",
        &format!("/deadletters/{}", dl.id.0),
    )
}

async fn discard(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    if field(&body, "confirm").as_deref() != Some("yes") {
        return see_other(&format!("/deadletters/{raw}/discard"), &[]);
    }
    let discarded = match dead_letter_id(&raw) {
        Ok(id) => pages
            .console
            .admin()
            .discard_dead_letter(s.caller.workspace, Actor::of(&s.caller), id)
            .await
            .map(|()| id),
        Err(e) => Err(not_found_if_invalid(e)),
    };
    match discarded {
        Ok(id) => see_other(&format!("/deadletters/{}", id.0), &[]),
        Err(e) => failed(&s, "deadletters", &e),
    }
}

async fn jobs(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let s = match signed_in(&pages, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let typed = text(&params, "status");
    let listed = match job_status(&typed) {
        Ok(status) => {
            pages
                .console
                .admin()
                .jobs(s.caller.workspace, status, DEFAULT_LIMIT)
                .await
        }
        Err(e) => Err(e),
    };
    let (jobs, problem, status) = match listed {
        Ok(found) => (found.iter().map(JobRow::of).collect(), None, StatusCode::OK),
        Err(e) if e.kind == Kind::Invalid => (
            Vec::new(),
            Some(sentence(&e.message)),
            StatusCode::BAD_REQUEST,
        ),
        Err(e) => return failed(&s, "jobs", &e),
    };
    let page = JobsPage {
        csrf: &s.csrf,
        page: "jobs",
        status: typed,
        problem,
        statuses: ["queued", "leased", "done", "dead"],
        jobs,
    };
    html(status, page.render())
}
