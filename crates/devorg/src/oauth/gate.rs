//! The gate in front of the versioned REST routes (`/services/data/{version}/...`): a live
//! session with the right scope, the daily API allowance, and `Sforce-Limit-Info` on every
//! answer (errors included). `GET /services/data` (the versions list) and everything outside
//! `/services/data` pass through untouched.

use std::sync::atomic::Ordering;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::identity::bearer;
use crate::{ApiError, DevOrg, limits};

/// Whether `path` is under `/services/data/{version}`.
pub fn is_versioned(path: &str) -> bool {
    path.strip_prefix("/services/data/")
        .is_some_and(|rest| !rest.is_empty())
}

/// Whether `path` is a Chatter resource (`/services/data/{version}/chatter...`).
fn is_chatter(path: &str) -> bool {
    path.split('/').nth(4) == Some("chatter")
}

/// Checks the session, the scope and the allowance; counts the request.
fn admit(org: &DevOrg, req: &Request) -> Result<(), ApiError> {
    let token = bearer(req.headers(), req.uri()).ok_or_else(ApiError::invalid_session)?;
    let session = org
        .oauth()
        .session(&token)
        .ok_or_else(ApiError::invalid_session)?;
    let allowed = if is_chatter(req.uri().path()) {
        session.scopes.allows_chatter()
    } else {
        session.scopes.allows_api()
    };
    if !allowed {
        // jsforce reads this exact text as "not expired, do not refresh".
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "This session is not valid for use with the REST API",
        ));
    }
    org.limits().consume()
}

/// The middleware; layered on the whole router by [`DevOrg::router`].
pub async fn middleware(State(org): State<DevOrg>, req: Request, next: Next) -> Response {
    org.oauth().stats.requests.fetch_add(1, Ordering::Relaxed);
    if !is_versioned(req.uri().path()) {
        return next.run(req).await;
    }
    let mut response = match admit(&org, &req) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    };
    response
        .headers_mut()
        .insert(limits::HEADER, org.limits().header_value());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_paths() {
        let cases = [
            ("/services/data", false),
            ("/services/data/", false),
            ("/services/data/v59.0", true),
            ("/services/data/v59.0/limits", true),
            ("/services/oauth2/token", false),
            ("/devorg/stats", false),
        ];
        for (p, v) in cases {
            assert_eq!(is_versioned(p), v, "{p}");
        }
        assert!(is_chatter("/services/data/v59.0/chatter/feeds"));
        assert!(!is_chatter("/services/data/v59.0/sobjects/chatter"));
    }
}
