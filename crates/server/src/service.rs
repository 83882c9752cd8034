//! What every request of `callforce serve` goes through: a body limit with a clear 413, a
//! tracing span per request (request id, method, route, call id and action when there are,
//! status, latency; never headers, so never keys or tokens), the panic guard (a bug answers
//! a 500 with the request id and is logged once with its backtrace; see [`crate::panics`]),
//! and the shutdown signal (Ctrl-C or SIGTERM: stop accepting, finish in-flight requests, then
//! exit).

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::panics::RequestId;

/// The largest request body accepted (bulk actions carry up to 200 records; the actions
/// themselves refuse arguments over 1 MiB with a message a model can act on).
pub const MAX_BODY_BYTES: usize = 2 << 20;

/// Wraps `app` in the body limit, the per-request span (which counts requests by status in
/// `api`'s metrics and gives each request its [`RequestId`], also sent back as
/// `X-Request-Id`) and the panic guard, so that every route, present and future, has them.
pub fn layer(app: axum::Router, api: std::sync::Arc<crate::api::Api>) -> axum::Router {
    crate::panics::install();
    app.layer(axum::middleware::from_fn(catch_panics))
        .layer(axum::middleware::from_fn_with_state(api, request_span))
        .layer(axum::middleware::from_fn(clear_limit_error))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The header that carries a response's request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Answers a request whose handler panicked with a 500 in the API's error shape, naming its
/// request id, and logs the panic once with its backtrace.
async fn catch_panics(req: Request, next: Next) -> Response {
    let id = req
        .extensions()
        .get::<RequestId>()
        .cloned()
        .unwrap_or_default();
    match crate::panics::guard(next.run(req)).await {
        Ok(resp) => resp,
        Err(p) => {
            crate::panics::log(&id, "rest", &p);
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(serde_json::json!({"error": {
                    "code": "internal",
                    "message": crate::panics::message(&id),
                    "request_id": id.0,
                }})),
            )
                .into_response()
        }
    }
}

/// Rewrites the plain-text 413 of the body limit into the API's JSON error shape.
async fn clear_limit_error(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return crate::api::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            &format!("the request body is larger than {MAX_BODY_BYTES} bytes; send less"),
        );
    }
    resp
}

/// The call id and action of a `/v1/calls/{id}/actions/{name}` path.
fn call_and_action(path: &str) -> (Option<&str>, Option<&str>) {
    let mut parts = path.trim_start_matches('/').split('/');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("v1"), Some("calls"), Some(id), Some("actions"), Some(name)) => {
            (Some(id), Some(name))
        }
        (Some("v1"), Some("calls"), Some(id), _, _) => (Some(id), None),
        _ => (None, None),
    }
}

async fn request_span(
    axum::extract::State(api): axum::extract::State<std::sync::Arc<crate::api::Api>>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_owned();
    let (call_id, action) = call_and_action(&path);
    let request_id = RequestId::new();
    req.extensions_mut().insert(request_id.clone());
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %path,
        call_id = call_id.unwrap_or_default(),
        action = action.unwrap_or_default(),
    );
    let started = Instant::now();
    async move {
        let mut resp = next.run(req).await;
        if let Ok(v) = axum::http::HeaderValue::from_str(&request_id.0) {
            resp.headers_mut().insert(REQUEST_ID_HEADER, v);
        }
        let status = resp.status().as_u16();
        api.metrics()
            .http_requests
            .with_label_values(&[resp.status().as_str()])
            .inc();
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        if status >= 500 {
            tracing::error!(status, micros, "request failed");
        } else {
            tracing::debug!(status, micros, "request");
        }
        resp
    }
    .instrument(span)
    .await
    .into_response()
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the service");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down: no new connections; finishing requests in flight");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_and_action_from_paths() {
        for (path, want) in [
            (
                "/v1/calls/c1/actions/search_contact",
                (Some("c1"), Some("search_contact")),
            ),
            ("/v1/calls/c1/end", (Some("c1"), None)),
            ("/v1/calls", (None, None)),
            ("/v1/tools", (None, None)),
            ("/healthz", (None, None)),
        ] {
            assert_eq!(call_and_action(path), want, "{path}");
        }
    }
}

/// Hostile inputs over HTTP: never a 500, never a changed query.
#[cfg(test)]
mod hostile_tests {
    use std::net::SocketAddr;

    use serde_json::{Value, json};

    #[tokio::test]
    async fn hostile_inputs_get_clear_4xx_and_never_change_a_query() {
        let dir = tempfile::tempdir().expect("tempdir");
        let started = crate::serve::start(crate::serve::ServeConfig {
            api_key: Some("k".into()),
            ..crate::serve::ServeConfig::new(
                SocketAddr::from(([127, 0, 0, 1], 0)),
                dir.path().to_owned(),
            )
        })
        .await
        .expect("starts");
        let base = format!("http://{}", started.addr);
        let http = reqwest::Client::new();
        let raw = |path: String, body: Vec<u8>| {
            http.post(format!("{base}{path}"))
                .bearer_auth("k")
                .header("content-type", "application/json")
                .body(body)
                .send()
        };
        let call: Value = raw(
            "/v1/calls".into(),
            br#"{"caller_phone": "+15551234567"}"#.to_vec(),
        )
        .await
        .expect("call")
        .json()
        .await
        .expect("json");
        let id = call["call_id"].as_str().expect("id").to_owned();
        let action = |name: &str| format!("/v1/calls/{id}/actions/{name}");

        // Search terms that would widen or break a query if they reached it unescaped find
        // nothing: the term is matched literally.
        for term in [
            "' OR Name != '",
            "%",
            "_",
            "\\' OR Id != null OR Name = \\'",
            "Johnson' OR LastName LIKE '%",
            "line\nbreak",
            "Jöhnsön 名前 😀",
            "\\",
        ] {
            let body = json!({"arguments": {"search_term": term}})
                .to_string()
                .into_bytes();
            let resp = raw(action("search_contact"), body).await.expect("search");
            let status = resp.status().as_u16();
            let b: Value = resp.json().await.expect("json");
            assert!(status == 200 || status == 422, "{term:?}: {status} {b}");
            if status == 200 {
                assert_eq!(
                    b["result"]["count"].as_u64().unwrap_or(0),
                    0,
                    "{term:?}: {b}"
                );
            }
        }

        let cases: Vec<(String, Vec<u8>, u16)> = vec![
            (action("search_contact"), b"{not json".to_vec(), 400),
            (
                action("search_contact"),
                br#"{"arguments": "a string"}"#.to_vec(),
                422,
            ),
            (
                action("search_contact"),
                br#"{"arguments": {"search_term": {"a": 1}}}"#.to_vec(),
                422,
            ),
            (
                action("search_contact"),
                br#"{"arguments": {"no_such_field": "x"}}"#.to_vec(),
                422,
            ),
            (
                action("search_contact"),
                br#"{"argumnets": {}}"#.to_vec(),
                400,
            ),
            (
                action("create_case"),
                br#"{"arguments": {"Subject": ["a"]}}"#.to_vec(),
                422,
            ),
            (action("no_such_action"), b"{}".to_vec(), 404),
            (
                "/v1/calls/nope/actions/search_contact".into(),
                b"{}".to_vec(),
                404,
            ),
            ("/v1/calls".into(), b"[1,2]".to_vec(), 400),
            (
                action("search_contact"),
                format!(
                    r#"{{"arguments": {{"search_term": "{}"}}}}"#,
                    "x".repeat(3 << 20)
                )
                .into_bytes(),
                413,
            ),
        ];
        for (path, body, want) in cases {
            let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
            let resp = raw(path.clone(), body).await.expect("request");
            let status = resp.status().as_u16();
            let b: Value = resp.json().await.unwrap_or(Value::Null);
            assert_eq!(status, want, "{path} {shown}: {b}");
            assert!(
                b["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "{path} {shown}: a message says what to fix: {b}"
            );
        }
    }
}
