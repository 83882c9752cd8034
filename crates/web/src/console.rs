//! The admin console: signing in with an API key, the session cookie, and the pages.
//!
//! ```text
//! GET  /                      the overview (signed in), else 303 to /sign-in
//! GET  /sign-in               the sign-in form
//! POST /sign-in               api_key, csrf -> 303 to / with the session cookie
//! GET  /sign-in/link?token=   a one-time link's page (`callforce console-link`): one button
//! POST /sign-in/link          link, csrf -> the link is spent; 303 to / with the session cookie
//! POST /sign-out              csrf -> the session ends, 303 to /sign-in
//! GET  /assets/console.css    the stylesheet (embedded in the binary)
//! ```
//!
//! The pages of the workspace's calls ([`calls`]), connections ([`connections`]), dead letters and jobs
//! ([`deadletters`]) and API keys ([`settings`]) list their own routes. Every page answers a
//! browser without a session with a 303 to `/sign-in`; every change is a form post carrying the
//! session's CSRF token (403 without it, before anything changes) and is made by the same core
//! operation as the API's, with the session's key as the actor.
//!
//! A session is the core's ([`callforce_app::console`]): kept in the store, so any instance
//! serves it; the browser holds its token in `cf_session` (`HttpOnly`, `SameSite=Strict`,
//! `Secure` when the service's public URL is HTTPS). Every form carries the session's CSRF
//! token, checked before anything changes; the sign-in form, which comes before any session,
//! carries a random token that must match the `cf_signin` cookie set with the form.
//! Pages are never cached, never framed, and load nothing from elsewhere.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use callforce_app::console::{Console, Overview, SESSION_TTL, Session, SignedIn};
use callforce_app::{Error, Kind};

use crate::cookies::cookie;

mod actions;
mod agents;
mod audit;
mod calls;
mod connections;
mod deadletters;
mod intents;
mod settings;

/// The cookie that holds a console session's token.
pub const SESSION_COOKIE: &str = "cf_session";

/// The cookie that pairs a sign-in form with the browser it was given to.
const SIGN_IN_COOKIE: &str = "cf_signin";

/// The console's state: the core's console, and whether cookies must be `Secure`.
pub struct Pages {
    console: Console,
    secure: bool,
}

/// The console's routes over `console`; `secure` when the service is served over HTTPS (its
/// cookies are then `Secure`).
pub fn router(console: Console, secure: bool) -> axum::Router {
    axum::Router::new()
        .route("/", get(overview))
        .route("/sign-in", get(sign_in_form).post(sign_in))
        .route("/sign-in/link", get(link_form).post(sign_in_with_link))
        .route("/sign-out", post(sign_out))
        .route("/assets/console.css", get(stylesheet))
        .merge(agents::routes())
        .merge(actions::routes())
        .merge(audit::routes())
        .merge(calls::routes())
        .merge(connections::routes())
        .merge(deadletters::routes())
        .merge(intents::routes())
        .merge(settings::routes())
        .with_state(Arc::new(Pages { console, secure }))
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage<'a> {
    csrf: &'a str,
    problem: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "sign_in_link.html")]
struct SignInLinkPage<'a> {
    csrf: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemPage<'a> {
    csrf: &'a str,
    page: &'a str,
    title: &'a str,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage<'a> {
    csrf: &'a str,
    page: &'a str,
    title: &'a str,
    question: &'a str,
    action: &'a str,
    button: &'a str,
    back: &'a str,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage<'a> {
    csrf: &'a str,
    page: &'a str,
    overview: Overview,
    /// The last hour's chart, an SVG made of numbers only.
    chart: String,
    p50: String,
    p95: String,
}

/// A latency in microseconds, as a person reads it (`-`: none).
fn millis(us: Option<u64>) -> String {
    us.map_or_else(|| "-".to_owned(), |us| format!("{:.1} ms", us as f64 / 1e3))
}

/// The last hour's tool calls as an SVG bar chart, one bar per bucket (its failed part in the
/// error colour), and the p95 latency of each bucket as a line; its text alternative says the
/// busiest minute and the slowest p95.
fn activity_chart(buckets: &[callforce_store::ActivityBucket]) -> String {
    const W: f64 = 600.0;
    const H: f64 = 120.0;
    let most = buckets
        .iter()
        .map(|b| b.operations)
        .max()
        .unwrap_or(0)
        .max(1);
    let slowest = buckets
        .iter()
        .filter_map(|b| b.p95_us)
        .max()
        .unwrap_or(0)
        .max(1);
    let width = W / buckets.len().max(1) as f64;
    let y = |n: u64, of: u64| H - H * n as f64 / of as f64;
    let mut svg = String::new();
    let mut line = Vec::new();
    for (i, b) in buckets.iter().enumerate() {
        let x = i as f64 * width;
        if b.operations > 0 {
            let top = y(b.operations, most);
            svg.push_str(&format!(
                "<rect class=\"calls\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>",
                (width - 1.0).max(1.0),
                H - top
            ));
        }
        if b.errors > 0 {
            let top = y(b.errors, most);
            svg.push_str(&format!(
                "<rect class=\"errors\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>",
                (width - 1.0).max(1.0),
                H - top
            ));
        }
        if let Some(p95) = b.p95_us {
            line.push(format!("{:.1},{:.1}", x + width / 2.0, y(p95, slowest)));
        }
    }
    if line.len() > 1 {
        svg.push_str(&format!(
            "<polyline class=\"p95\" points=\"{}\"/>",
            line.join(" ")
        ));
    }
    let busiest = buckets.iter().map(|b| b.operations).max().unwrap_or(0);
    format!(
        "<svg role=\"img\" viewBox=\"0 0 {W} {H}\" preserveAspectRatio=\"none\" class=\"chart\" \
         aria-label=\"Tool calls per minute over the last hour: at most {busiest} in a minute; \
         slowest p95 {}\">{svg}</svg>",
        millis(Some(slowest).filter(|_| !line.is_empty()))
    )
}

/// A time as the pages show it.
pub(super) fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A time typed into the filter: RFC 3339, or what a `datetime-local` field sends
/// (`2026-01-31T09:00`, read as UTC), or a date (its midnight, UTC).
pub(super) fn typed_time(raw: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(raw, format) {
            return Some(t.and_utc());
        }
    }
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// A time field's value, or what is wrong with it.
pub(super) fn time_field(raw: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
    if raw.is_empty() {
        return Ok(None);
    }
    typed_time(raw).map(Some).ok_or_else(|| {
        format!("'{raw}' is not a time: write it as 2026-01-31 09:00 (UTC) or 2026-01-31")
    })
}

/// A query parameter as typed, trimmed (empty when absent).
pub(super) fn text(params: &std::collections::HashMap<String, String>, key: &str) -> String {
    params
        .get(key)
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

/// A typed filter value, `None` when empty.
pub(super) fn some(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_owned())
}

/// A core message as a sentence on a page: its first letter in capitals.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// Whether two tokens are equal, in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A page: `html` with the headers every console page has.
fn html(status: StatusCode, html: Result<String, askama::Error>) -> Response {
    let html = match html {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "rendering a console page failed");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response();
        }
    };
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    resp
}

/// A `303 See Other` to `to`, with `cookies` set.
fn see_other(to: &str, cookies: &[String]) -> Response {
    let mut resp = (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// A cookie `name=value` for `path`, kept `max_age` seconds (0: cleared).
fn set_cookie(name: &str, value: &str, path: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

/// The form fields of a urlencoded body.
fn field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The session the browser's cookie opens, with its token.
async fn session(
    pages: &Pages,
    headers: &HeaderMap,
) -> Result<Option<(String, Session)>, Response> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    match pages.console.session(&token, chrono::Utc::now()).await {
        Ok(s) => Ok(s.map(|s| (token, s))),
        Err(_) => Err((
            StatusCode::INTERNAL_SERVER_ERROR,
            "the console could not read its sessions; try again",
        )
            .into_response()),
    }
}

/// The session of a page's request; without one, the answer is a 303 to `/sign-in`.
async fn signed_in(pages: &Pages, headers: &HeaderMap) -> Result<Session, Response> {
    match session(pages, headers).await? {
        Some((_, s)) => Ok(s),
        None => Err(see_other("/sign-in", &[])),
    }
}

/// The session of a form post whose `csrf` field is the session's token; without a session a
/// 303 to `/sign-in`, without the token a 403 (and nothing changes).
async fn posted(pages: &Pages, headers: &HeaderMap, body: &[u8]) -> Result<Session, Response> {
    let s = signed_in(pages, headers).await?;
    if field(body, "csrf").is_some_and(|c| same(&c, &s.csrf)) {
        Ok(s)
    } else {
        Err(forbidden())
    }
}

/// The answer to a form without the session's CSRF token.
fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        "this form expired or came from another page; reload the page and try again",
    )
        .into_response()
}

/// The status a core error of `kind` is answered with on a page.
fn status_of(kind: Kind) -> StatusCode {
    StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A core error as a page of the console (`page` marked in the navigation), with its status.
/// Internal errors say only that (the core logged their cause).
fn failed(s: &Session, page: &str, e: &Error) -> Response {
    let title = match e.kind {
        Kind::NotFound => "Not found",
        Kind::Internal => "Something went wrong",
        _ => "Not done",
    };
    let message = sentence(&e.message);
    let p = ProblemPage {
        csrf: &s.csrf,
        page,
        title,
        message: &message,
    };
    html(status_of(e.kind), p.render())
}

/// A page asking to confirm a change: its form posts to `action`, `back` cancels.
fn confirm(
    s: &Session,
    page: &str,
    title: &str,
    question: &str,
    action: &str,
    button: &str,
    back: &str,
) -> Response {
    let p = ConfirmPage {
        csrf: &s.csrf,
        page,
        title,
        question,
        action,
        button,
        back,
    };
    html(StatusCode::OK, p.render())
}

async fn overview(State(pages): State<Arc<Pages>>, headers: HeaderMap) -> Response {
    let (_, s) = match session(&pages, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return see_other("/sign-in", &[]),
        Err(resp) => return resp,
    };
    match pages.console.overview(&s.caller).await {
        Ok(overview) => {
            let page = OverviewPage {
                csrf: &s.csrf,
                page: "overview",
                chart: activity_chart(&overview.per_minute),
                p50: millis(overview.last_hour.p50_us),
                p95: millis(overview.last_hour.p95_us),
                overview,
            };
            html(StatusCode::OK, page.render())
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.message).into_response(),
    }
}

/// The sign-in form with a fresh token, its cookie set, answered with `status`.
fn sign_in_page(pages: &Pages, status: StatusCode, problem: Option<&str>) -> Response {
    let csrf = callforce_app::token::random_hex(16);
    let page = SignInPage {
        csrf: &csrf,
        problem,
    };
    let mut resp = html(status, page.render());
    let c = set_cookie(SIGN_IN_COOKIE, &csrf, "/sign-in", 3600, pages.secure);
    if let Ok(v) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

async fn sign_in_form(State(pages): State<Arc<Pages>>, headers: HeaderMap) -> Response {
    match session(&pages, &headers).await {
        Ok(Some(_)) => see_other("/", &[]),
        Ok(None) => sign_in_page(&pages, StatusCode::OK, None),
        Err(resp) => resp,
    }
}

/// Whether a sign-in form's `csrf` is the one set in the browser's cookie with the form.
fn sign_in_paired(headers: &HeaderMap, body: &[u8]) -> bool {
    match (field(body, "csrf"), cookie(headers, SIGN_IN_COOKIE)) {
        (Some(form), Some(cookie)) => same(&form, &cookie),
        _ => false,
    }
}

/// The answer to a sign-in form that was not paired with its cookie.
fn unpaired(pages: &Pages) -> Response {
    sign_in_page(
        pages,
        StatusCode::FORBIDDEN,
        Some("This form expired or came from another page; sign in again."),
    )
}

/// The answer to a sign-in: the session's cookie and a 303 to the overview, or the sign-in form
/// again with what went wrong.
fn signed_in_answer(pages: &Pages, signed: Result<SignedIn, Error>) -> Response {
    match signed {
        Ok(signed) => {
            let session = set_cookie(
                SESSION_COOKIE,
                &signed.token,
                "/",
                SESSION_TTL.num_seconds(),
                pages.secure,
            );
            let used = set_cookie(SIGN_IN_COOKIE, "", "/sign-in", 0, pages.secure);
            see_other("/", &[session, used])
        }
        Err(e) if e.kind == Kind::Unauthorized => {
            sign_in_page(pages, StatusCode::UNAUTHORIZED, Some(&sentence(&e.message)))
        }
        Err(e) => sign_in_page(
            pages,
            StatusCode::INTERNAL_SERVER_ERROR,
            Some(&sentence(&e.message)),
        ),
    }
}

async fn sign_in(State(pages): State<Arc<Pages>>, headers: HeaderMap, body: Bytes) -> Response {
    if !sign_in_paired(&headers, &body) {
        return unpaired(&pages);
    }
    let key = field(&body, "api_key").unwrap_or_default();
    signed_in_answer(
        &pages,
        pages.console.sign_in(&key, chrono::Utc::now()).await,
    )
}

/// A one-time link's page: a button that signs in. Opening the link spends nothing, so a
/// preview fetched by a chat app or a mail scanner does not use it up.
async fn link_form(State(pages): State<Arc<Pages>>, RawQuery(query): RawQuery) -> Response {
    let link = field(query.unwrap_or_default().as_bytes(), "token").unwrap_or_default();
    let csrf = callforce_app::token::random_hex(16);
    let page = SignInLinkPage {
        csrf: &csrf,
        link: &link,
    };
    let mut resp = html(StatusCode::OK, page.render());
    let c = set_cookie(SIGN_IN_COOKIE, &csrf, "/sign-in", 3600, pages.secure);
    if let Ok(v) = HeaderValue::from_str(&c) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

async fn sign_in_with_link(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !sign_in_paired(&headers, &body) {
        return unpaired(&pages);
    }
    let link = field(&body, "link").unwrap_or_default();
    signed_in_answer(
        &pages,
        pages
            .console
            .sign_in_with_link(&link, chrono::Utc::now())
            .await,
    )
}

async fn sign_out(State(pages): State<Arc<Pages>>, headers: HeaderMap, body: Bytes) -> Response {
    let (token, s) = match session(&pages, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return see_other("/sign-in", &[]),
        Err(resp) => return resp,
    };
    if !field(&body, "csrf").is_some_and(|c| same(&c, &s.csrf)) {
        return (
            StatusCode::FORBIDDEN,
            "this form expired or came from another page; reload the page and try again",
        )
            .into_response();
    }
    if pages.console.sign_out(&token).await.is_err() {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the console could not end the session; try again",
        )
            .into_response();
    }
    let cleared = set_cookie(SESSION_COOKIE, "", "/", 0, pages.secure);
    see_other("/sign-in", &[cleared])
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../assets/console.css"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn tokens_compare_equal_only_when_equal() {
        for (a, b, want) in [
            ("abc", "abc", true),
            ("abc", "abd", false),
            ("abc", "ab", false),
            ("", "", true),
        ] {
            assert_eq!(same(a, b), want, "{a} {b}");
        }
    }

    #[test]
    fn the_activity_chart_draws_calls_errors_and_p95() {
        use callforce_store::ActivityBucket;
        let at = chrono::DateTime::UNIX_EPOCH;
        let bucket = |operations, errors, p95| ActivityBucket {
            start: at,
            operations,
            errors,
            p50_us: p95,
            p95_us: p95,
        };
        let svg = super::activity_chart(&[
            bucket(4, 1, Some(2_000)),
            bucket(0, 0, None),
            bucket(2, 0, Some(8_000)),
        ]);
        assert_eq!(svg.matches("class=\"calls\"").count(), 2, "{svg}");
        assert_eq!(svg.matches("class=\"errors\"").count(), 1, "{svg}");
        assert!(svg.contains("<polyline class=\"p95\""), "{svg}");
        assert!(
            svg.contains("at most 4 in a minute; slowest p95 8.0 ms"),
            "{svg}"
        );
        let empty = super::activity_chart(&[bucket(0, 0, None)]);
        assert!(
            !empty.contains("<rect") && !empty.contains("<polyline"),
            "{empty}"
        );
        assert!(empty.contains("slowest p95 -"), "{empty}");
    }
}
