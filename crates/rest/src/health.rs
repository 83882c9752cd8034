//! `GET /healthz` (no API key): 200 when the default workspace's org answers, 503 with the
//! reason when it does not.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use callforce_app::App;

/// `GET /healthz`.
pub fn router(app: Arc<App>) -> axum::Router {
    axum::Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .with_state(app)
}

/// Whether the service can reach the default workspace's org.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// The org: its instance and API usage, or why it does not answer.
    #[schema(value_type = Object)]
    pub org: serde_json::Value,
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    security(()),
    responses(
        (status = 200, description = "The org answers (no API key needed)", body = Health),
        (status = 503, description = "The org does not answer", body = Health),
    )
)]
async fn healthz(State(app): State<Arc<App>>) -> Response {
    let (ok, body) = app.health().await;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
