//! The OAuth scopes an action needs beyond `api`, so a connection that lacks one is refused
//! before any request is sent.
//!
//! The scope profiles (chapter 01 of the connector guide): Standard `api refresh_token
//! offline_access`; Extended adds `web full` (record-page UI surfaces); Privileged adds
//! `chatter_api`, which a Chatter post needs (a custom action or a raw API call whose path is
//! under `/chatter/`). As at Salesforce, `full` covers every other scope (`api`, `chatter_api`,
//! `web`...) except `refresh_token` and `offline_access` ([`grants`]), so Extended opens Chatter
//! too.

use serde_json::Value;

use crate::catalog::{Action, Op};

/// The scope `action` needs beyond `api` when run with `arguments`, if any.
pub fn required_scope(action: &Action, arguments: &Value) -> Option<&'static str> {
    let path = match action {
        Action::Custom(c) => c.endpoint.as_str(),
        Action::Template(t) if t.op == Op::CustomApiCall => {
            arguments.get("path").and_then(Value::as_str).unwrap_or("")
        }
        Action::Template(_) => return None,
    };
    is_chatter(path).then_some("chatter_api")
}

/// Whether the scopes `granted` (space-separated, as the token answer lists them) grant `scope`:
/// listed, or covered by `full`, which grants everything but a refresh token.
pub fn grants(granted: &str, scope: &str) -> bool {
    granted.split_whitespace().any(|g| {
        g == scope || (g == "full" && !matches!(scope, "refresh_token" | "offline_access"))
    })
}

/// The scope profile meant for `scope`.
pub fn profile_granting(scope: &str) -> &'static str {
    match scope {
        "chatter_api" => "privileged",
        "web" | "full" => "extended",
        _ => "standard",
    }
}

fn is_chatter(path: &str) -> bool {
    let path = path.split(['?', '#']).next().unwrap_or("");
    // NB: read as it will be sent (`%63hatter` is `chatter`); a path that will be refused
    // needs no scope.
    let resolved = callforce_client::request::raw_path(path, callforce_client::ApiVersion::DEFAULT)
        .unwrap_or_default();
    resolved
        .split('/')
        .any(|seg| seg.eq_ignore_ascii_case("chatter"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Catalog;
    use serde_json::json;

    #[test]
    fn chatter_paths_need_chatter_api() {
        let catalog = Catalog::builtin();
        let raw = catalog.get("custom_api_call").expect("raw call");
        let cases = [
            (
                "/services/data/v59.0/chatter/feed-elements",
                Some("chatter_api"),
            ),
            ("/services/data/v59.0/CHATTER/users/me", Some("chatter_api")),
            (
                "/services/data/v59.0/%63hatter/users/me",
                Some("chatter_api"),
            ),
            ("/services/data/v59.0/sobjects/Account", None),
            ("/services/data/v59.0/query?q=chatter", None),
        ];
        for (path, want) in cases {
            assert_eq!(required_scope(raw, &json!({"path": path})), want, "{path}");
        }
        let search = catalog.get("search_contact").expect("search");
        assert_eq!(required_scope(search, &json!({})), None);
    }

    #[test]
    fn full_grants_everything_but_a_refresh_token() {
        #[rustfmt::skip]
        let cases = [
            ("api refresh_token offline_access", "chatter_api", false),
            ("api refresh_token offline_access", "api", true),
            ("api chatter_api", "chatter_api", true),
            ("api refresh_token offline_access web full", "chatter_api", true),
            ("full", "api", true),
            ("full", "web", true),
            ("full", "refresh_token", false),
            ("full", "offline_access", false),
            ("fullness", "chatter_api", false),
            ("", "api", false),
        ];
        for (granted, scope, want) in cases {
            assert_eq!(grants(granted, scope), want, "{granted:?} grants {scope}");
        }
    }

    #[test]
    fn profiles_granting_scopes() {
        for (scope, profile) in [
            ("chatter_api", "privileged"),
            ("full", "extended"),
            ("web", "extended"),
            ("api", "standard"),
        ] {
            assert_eq!(profile_granting(scope), profile, "{scope}");
        }
    }
}
