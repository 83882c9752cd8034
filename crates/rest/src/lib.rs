//! The REST front door: the `/v1` routes, their request and answer types, the API key check,
//! the layers every request passes ([`layer`]), `/healthz` and `/metrics`. Each handler parses the request,
//! asks the core ([`callforce_app`]) and answers its result or its [`callforce_app::Error`]
//! ([`answer`]) as JSON. [`openapi`] describes every `/v1` route at `GET /openapi.json`.

pub mod agents;
pub mod calls;
pub mod connections;
pub mod deadletters;
pub mod health;
pub mod intents;
pub mod layer;
pub mod metrics;
pub mod openapi;

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

/// The body of every error answer: `{"error": {code, message, ...}}`, with a check's details
/// (its reports) beside `error` when there are some.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong: a stable code, a message saying what to fix, and for an action a model ran,
/// the details it can act on.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable code (`invalid_body`, `unknown_call`, `missing_scope`...).
    pub code: String,
    /// One or two sentences saying what to fix.
    pub message: String,
    /// The parameter or field concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The values the field accepts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_values: Option<Vec<String>>,
    /// The closest valid value to what was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    /// Required parameters that were not given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<Vec<String>>,
    /// Salesforce's error code, when Salesforce refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub salesforce_code: Option<String>,
}

impl ErrorBody {
    /// An error with only a code and a message.
    pub fn new(code: &str, message: &str) -> Self {
        Self {
            error: ErrorDetail {
                code: code.to_owned(),
                message: message.to_owned(),
                field: None,
                valid_values: None,
                suggestion: None,
                missing: None,
                salesforce_code: None,
            },
        }
    }
}

/// The answer to a core error: its status and `{"error": {code, message}}`, with its details
/// (a check's reports) beside `error`.
pub fn answer(e: callforce_app::Error) -> Response {
    let mut body = match &e.action {
        Some(refused) => json!({ "error": refused }),
        None => json!(ErrorBody::new(e.code, &e.message)),
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
    (status, Json(ErrorBody::new(code, message))).into_response()
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

/// The public key checkpoint lines are signed with, and the message each line signs.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CheckpointKey {
    /// `ed25519`.
    pub algorithm: String,
    /// The public key.
    pub public_key: String,
    /// The key's id, named by each checkpoint line.
    pub key_id: String,
    /// The layout of the message a checkpoint line signs.
    pub message: String,
}

#[utoipa::path(
    get,
    path = "/v1/audit/checkpoint-key",
    tag = "audit",
    security(()),
    responses((status = 200, description = "The public key (no API key needed)", body = CheckpointKey))
)]
async fn public_key(
    State(key): State<Arc<callforce_app::checkpoint::VerifyingKey>>,
) -> Json<Value> {
    Json(callforce_app::checkpoint::public_key_view(&key))
}
