//! The checks a raw REST call's path gets before it becomes a request, shared by the
//! `custom_api_call` action and the custom actions.

use callforce_client::ApiVersion;
use callforce_client::request::raw_path;

use crate::error::ActionError;

/// Splits `path?query` of a raw call and resolves the path as it will be sent (relative to
/// `/services/data/<version>/`, percent-decoded, dot segments resolved, encoded again; see
/// [`callforce_client::request::raw_path`]), refusing anything outside `/services/data/`,
/// `/services/apexrest/` and `/services/async/`.
pub(crate) fn split_path(
    full: &str,
    version: ApiVersion,
) -> Result<(String, Vec<(String, String)>), ActionError> {
    let (path, qs) = full.split_once('?').unwrap_or((full, ""));
    let path = raw_path(path, version).map_err(|e| client_refusal("path", e))?;
    let query = form_urlencoded::parse(qs.as_bytes()).into_owned().collect();
    Ok((path, query))
}

/// The client's refusal to build a request, as a bad `field`.
pub(crate) fn client_refusal(field: &str, e: callforce_client::Error) -> ActionError {
    match e {
        callforce_client::Error::InvalidRequest(m) => ActionError::invalid(field, m),
        other => ActionError::from(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_api_roots_are_refused() {
        let split = |p: &str| split_path(p, ApiVersion::DEFAULT);
        assert!(split("/sobjects/Account/describe").is_ok());
        assert!(split("/services/data/v59.0/limits").is_ok());
        assert!(split("/services/apexrest/callback").is_ok());
        assert!(split("/services/oauth2/token").is_err());
        assert!(split("/sobjects/../../../oauth2/userinfo").is_err());
        assert!(split("/services/data/v59.0/%2e%2e/%2e%2e/oauth2/userinfo").is_err());
        assert!(split("http://evil.example/x").is_err());
        let e = split("/services/data/v59.0/%2E%2E/%2E%2E/oauth2/token").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("path"));
        assert!(e.message.contains("/services/apexrest/"), "{}", e.message);
        let (p, q) = split("/query/?q=SELECT+Id+FROM+Account").expect("ok");
        assert_eq!(p, "/services/data/v59.0/query/");
        assert_eq!(
            q,
            vec![("q".to_owned(), "SELECT Id FROM Account".to_owned())]
        );
    }
}
