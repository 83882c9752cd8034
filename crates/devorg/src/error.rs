//! Errors: [`Error`] for building an org, [`ApiError`] for what a request answers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use callforce_types::ApiErrorBody;

/// Why an org could not be built or saved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The schema file is unreadable or invalid.
    #[error("schema file {path}: {message}")]
    Schema {
        /// The file.
        path: String,
        /// What is wrong, with the place in the file when known.
        message: String,
    },
    /// The data directory could not be read or written.
    #[error("data directory: {0}")]
    Data(#[from] std::io::Error),
    /// The embedded seed data did not load.
    #[error("seed data: {0}")]
    Seed(String),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The JSON content type Salesforce sends; jsforce parses JSON only when it matches.
pub const JSON: HeaderValue = HeaderValue::from_static("application/json;charset=UTF-8");

/// A REST failure: an HTTP status and Salesforce's error array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The error entries (usually one).
    pub errors: Vec<ApiErrorBody>,
}

impl ApiError {
    /// One error without fields.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            errors: vec![ApiErrorBody {
                message: message.into(),
                error_code: code.into(),
                fields: None,
            }],
        }
    }

    /// One error naming the fields concerned.
    pub fn with_fields(
        status: StatusCode,
        code: &str,
        message: impl Into<String>,
        fields: Vec<String>,
    ) -> Self {
        Self {
            status,
            errors: vec![ApiErrorBody {
                message: message.into(),
                error_code: code.into(),
                fields: Some(fields),
            }],
        }
    }

    /// 404 NOT_FOUND "The requested resource does not exist".
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        )
    }

    /// 401 INVALID_SESSION_ID "Session expired or invalid".
    pub fn invalid_session() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        )
    }

    /// The first error's code.
    pub fn code(&self) -> &str {
        self.errors
            .first()
            .map(|e| e.error_code.as_str())
            .unwrap_or("")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &self.errors)
    }
}

/// A JSON response with Salesforce's exact content type.
pub fn json_response<T: serde::Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut r = (status, bytes).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, JSON);
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "response body did not serialise");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
