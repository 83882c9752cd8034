//! The `/services/data` routes.
//!
//! Every versioned route lives under `/services/data/{version}`; handlers read the version with
//! the [`Version`] extractor so the URLs they answer with (`attributes.url`, `nextRecordsUrl`)
//! carry the version the client asked for. Trailing slashes and `?_HttpMethod=PATCH` are handled
//! before routing, in [`crate::DevOrg::service`].

pub mod composite;
pub mod metadata;
pub mod query;
pub mod sobjects;

#[cfg(test)]
pub(crate) mod tests;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use callforce_types::ApiVersion;

use crate::{ApiError, DevOrg};

/// The API version of a `/services/data/{version}/...` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version(pub ApiVersion);

impl<S: Send + Sync> FromRequestParts<S> for Version {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found())?;
        let raw = params
            .iter()
            .find(|(k, _)| *k == "version")
            .map(|(_, v)| v)
            .ok_or_else(ApiError::not_found)?;
        // Salesforce answers an unknown version segment with 404 NOT_FOUND.
        match raw.strip_prefix('v').map(ApiVersion::parse) {
            Some(Ok(v)) => Ok(Self(v)),
            _ => Err(ApiError::not_found()),
        }
    }
}

/// The REST routes: `/services/data` and everything under `/services/data/{version}`.
pub fn router(org: DevOrg) -> axum::Router {
    let versioned = axum::Router::new()
        .merge(metadata::routes())
        .merge(sobjects::routes())
        .merge(composite::routes())
        .merge(query::routes())
        .merge(crate::limits::routes());
    axum::Router::new()
        .merge(metadata::unversioned_routes())
        .nest("/services/data/{version}", versioned)
        .with_state(org)
}
