//! The REST front door: the `/v1` routes, their request and answer types, the API key check,
//! the layers every request passes ([`layer`]), `/healthz` and `/metrics`. Each handler parses the request,
//! asks the core ([`callforce_app`]) and answers its result or its [`callforce_app::Error`]
//! ([`answer`]) as JSON.

pub mod agents;
pub mod calls;
pub mod connections;
pub mod deadletters;
pub mod health;
pub mod intents;
pub mod layer;
pub mod metrics;

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use callforce_app::{App, Kind};
use serde_json::{Value, json};

/// The status REST answers an error of `kind` with.
pub fn status(kind: Kind) -> StatusCode {
    StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The answer to a core error: its status and `{"error": {code, message}}`, with its details
/// (a check's reports) beside `error`.
pub fn answer(e: callforce_app::Error) -> Response {
    let mut body = match &e.action {
        Some(refused) => json!({ "error": refused }),
        None => json!({"error": {"code": e.code, "message": e.message}}),
    };
    if let (Some(details), Some(out)) = (e.details, body.as_object_mut())
        && let Value::Object(details) = *details
    {
        out.extend(details);
    }
    (status(e.kind), Json(body)).into_response()
}

/// A JSON error answer `{"error": {code, message}}`.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

/// The API key check: the core says whose the key in `Authorization: Bearer <key>` is, and the
/// request carries that [`callforce_app::Caller`] as an extension; no valid key answers 401.
pub async fn require_key(State(app): State<Arc<App>>, mut req: Request, next: Next) -> Response {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match app.authenticate(authorization).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => answer(e),
    }
}

/// `GET /v1/audit/checkpoint-key`: the public key checkpoint lines are signed with.
pub fn audit_key_router<S: Clone + Send + Sync + 'static>(
    key: callforce_app::checkpoint::VerifyingKey,
) -> axum::Router<S> {
    axum::Router::new()
        .route("/v1/audit/checkpoint-key", get(public_key))
        .with_state(Arc::new(key))
}

async fn public_key(
    State(key): State<Arc<callforce_app::checkpoint::VerifyingKey>>,
) -> Json<Value> {
    Json(callforce_app::checkpoint::public_key_view(&key))
}
