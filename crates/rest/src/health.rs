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

async fn healthz(State(app): State<Arc<App>>) -> Response {
    let (ok, body) = app.health().await;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
