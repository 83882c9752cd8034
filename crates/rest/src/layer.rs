//! What every request of `callforce serve` goes through: a body limit with a clear 413, a
//! tracing span per request (request id, method, route, call id and action when there are,
//! status, latency; never headers, so never keys or tokens; when traces are exported, the root
//! of the request's trace, continuing an incoming W3C `traceparent`), the panic guard (a bug
//! answers a 500 with the request id and is logged once with its backtrace; see
//! [`callforce_app::panics`]), and the shutdown signal (Ctrl-C or SIGTERM: stop accepting,
//! finish in-flight requests, then exit).

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use callforce_app::panics::RequestId;

/// The largest request body accepted (bulk actions carry up to 200 records; the actions
/// themselves refuse arguments over 1 MiB with a message a model can act on).
pub const MAX_BODY_BYTES: usize = 2 << 20;

/// Wraps `app` in the body limit, the per-request span (which counts requests by status in
/// `api`'s metrics and gives each request its [`RequestId`], also sent back as
/// `X-Request-Id`) and the panic guard, so that every route, present and future, has them.
pub fn layer(app: axum::Router, api: std::sync::Arc<callforce_app::App>) -> axum::Router {
    callforce_app::panics::install();
    let app = app
        .layer(axum::middleware::from_fn(catch_panics))
        .layer(axum::middleware::from_fn_with_state(api, request_span));
    // NB: outside the routes' own router, so it sees the `Allow` header axum adds to a 405.
    axum::Router::new()
        .fallback_service(app)
        .layer(axum::middleware::from_fn(json_errors))
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
    match callforce_app::panics::guard(next.run(req)).await {
        Ok(resp) => resp,
        Err(p) => {
            callforce_app::panics::log(&id, "rest", &p);
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(serde_json::json!({"error": {
                    "code": "internal",
                    "message": callforce_app::panics::message(&id),
                    "request_id": id.0,
                }})),
            )
                .into_response()
        }
    }
}

/// Gives the answers the router makes without a handler the API's JSON error shape: the body
/// limit's plain-text 413, the empty 404 of an unknown route and 405 of a wrong method
/// (which names the methods the route takes, as its `Allow` header does), and under `/v1` the
/// plain-text 4xx of a path or query that does not parse (its text is the message). The
/// answer's other headers (`X-Request-Id`, `Allow`) stay.
async fn json_errors(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    let bodiless = !resp.headers().contains_key(header::CONTENT_TYPE);
    let (code, message) = match resp.status() {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body_too_large",
            format!("the request body is larger than {MAX_BODY_BYTES} bytes; send less"),
        ),
        StatusCode::NOT_FOUND if bodiless => (
            "unknown_route",
            format!(
                "there is no route {method} {path}; the agent API is under /v1 (see the README)"
            ),
        ),
        StatusCode::METHOD_NOT_ALLOWED if bodiless => {
            let allowed = resp
                .headers()
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            (
                "method_not_allowed",
                format!("{path} does not take {method}; it takes {allowed}"),
            )
        }
        s if s.is_client_error() && path.starts_with("/v1/") && is_plain_text(&resp) => {
            let (parts, body) = resp.into_parts();
            let text = axum::body::to_bytes(body, 64 << 10)
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let code = if s == StatusCode::UNSUPPORTED_MEDIA_TYPE {
                "unsupported_media_type"
            } else {
                "invalid_request"
            };
            let resp = Response::from_parts(parts, axum::body::Body::empty());
            return json_error(resp, code, &text);
        }
        _ => return resp,
    };
    json_error(resp, code, &message)
}

/// Whether `resp` is plain text (the body of an extractor's rejection).
fn is_plain_text(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"))
}

/// `resp`'s status and headers with `{"error": {code, message}}` as its body.
fn json_error(resp: Response, code: &str, message: &str) -> Response {
    let (mut parts, _) = resp.into_parts();
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(body.to_string()))
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
    axum::extract::State(api): axum::extract::State<std::sync::Arc<callforce_app::App>>,
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
    // An agent runtime's W3C `traceparent` is continued when traces are exported.
    callforce_client::telemetry::continue_from_headers(&span, req.headers());
    if !span.is_disabled() {
        use callforce_client::telemetry::set_attribute;
        set_attribute(&span, "http.request.method", req.method().as_str());
        set_attribute(&span, "url.path", path.as_str());
    }
    let started = Instant::now();
    async move {
        let mut resp = next.run(req).await;
        if let Ok(v) = axum::http::HeaderValue::from_str(&request_id.0) {
            resp.headers_mut().insert(REQUEST_ID_HEADER, v);
        }
        let status = resp.status().as_u16();
        callforce_client::telemetry::set_attribute(
            &tracing::Span::current(),
            "http.response.status_code",
            i64::from(status),
        );
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
