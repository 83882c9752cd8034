//! Who the token belongs to: `GET /services/oauth2/userinfo` (OpenID Connect claims) and the
//! identity URL `GET /id/{orgId}/{userId}` (Bearer header or `?oauth_token=`).
//!
//! A missing, expired or revoked token gets `403 Bad_OAuth_Token` as plain text, as Salesforce
//! answers on these two resources.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::token::params;
use crate::DevOrg;
use crate::error::json_response;

/// The dev user's first name.
pub const FIRST_NAME: &str = "Dev";
/// The dev user's last name.
pub const LAST_NAME: &str = "User";

/// The access token of a request: `Authorization: Bearer|OAuth <token>`, else `?oauth_token=`.
pub fn bearer(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("OAuth "))
        })
        .map(|t| t.trim().to_owned());
    from_header.or_else(|| params(uri.query(), b"").remove("oauth_token"))
}

fn bad_token() -> Response {
    let mut r = (StatusCode::FORBIDDEN, "Bad_OAuth_Token").into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain;charset=UTF-8"),
    );
    r
}

fn authorised(org: &DevOrg, headers: &HeaderMap, uri: &Uri) -> bool {
    bearer(headers, uri).is_some_and(|t| org.oauth().session(&t).is_some())
}

/// The resource URLs of the identity and userinfo answers, with `{version}` placeholders.
fn urls(org: &DevOrg) -> Value {
    let i = org.instance_url();
    let org_id = org.org_id();
    let user = org.dev_user_id();
    let data = format!("{i}/services/data/v{{version}}");
    json!({
        "enterprise": format!("{i}/services/Soap/c/{{version}}/{}", org_id.as_15()),
        "metadata": format!("{i}/services/Soap/m/{{version}}/{}", org_id.as_15()),
        "partner": format!("{i}/services/Soap/u/{{version}}/{}", org_id.as_15()),
        "rest": format!("{data}/"),
        "sobjects": format!("{data}/sobjects/"),
        "search": format!("{data}/search/"),
        "query": format!("{data}/query/"),
        "recent": format!("{data}/recent/"),
        "tooling_soap": format!("{i}/services/Soap/T/{{version}}/{}", org_id.as_15()),
        "tooling_rest": format!("{data}/tooling/"),
        "profile": format!("{i}/{user}"),
        "feeds": format!("{data}/chatter/feeds"),
        "groups": format!("{data}/chatter/groups"),
        "users": format!("{data}/chatter/users"),
        "feed_items": format!("{data}/chatter/feed-items"),
        "feed_elements": format!("{data}/chatter/feed-elements"),
        "custom_domain": i,
    })
}

fn photos(org: &DevOrg) -> Value {
    let i = org.instance_url();
    json!({
        "picture": format!("{i}/profilephoto/005/F"),
        "thumbnail": format!("{i}/profilephoto/005/T"),
    })
}

/// `GET|POST /services/oauth2/userinfo`.
pub async fn userinfo(State(org): State<DevOrg>, headers: HeaderMap, uri: Uri) -> Response {
    if !authorised(&org, &headers, &uri) {
        return bad_token();
    }
    let cfg = org.config();
    let body = json!({
        "sub": org.identity_url(),
        "user_id": org.dev_user_id().to_string(),
        "organization_id": org.org_id().to_string(),
        "preferred_username": cfg.username,
        "nickname": nickname(&cfg.username),
        "name": format!("{FIRST_NAME} {LAST_NAME}"),
        "email": cfg.username,
        "email_verified": true,
        "given_name": FIRST_NAME,
        "family_name": LAST_NAME,
        "zoneinfo": "America/Los_Angeles",
        "photos": photos(&org),
        "profile": format!("{}/{}", org.instance_url(), org.dev_user_id()),
        "picture": format!("{}/profilephoto/005/F", org.instance_url()),
        "address": {},
        "is_salesforce_integration_user": false,
        "urls": urls(&org),
        "active": true,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": -28_800_000,
        "updated_at": "2024-01-01T00:00:00Z",
        "is_app_installed": true,
    });
    json_response(StatusCode::OK, &body)
}

fn nickname(username: &str) -> String {
    username.split('@').next().unwrap_or(username).to_owned()
}

/// `GET /id/{orgId}/{userId}`: the identity URL the token answer names.
pub async fn identity(
    State(org): State<DevOrg>,
    Path((org_id, user_id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    if !authorised(&org, &headers, &uri) {
        return bad_token();
    }
    let same = |given: &str, id: callforce_types::Id| given == id.as_str() || given == id.as_15();
    if !same(&org_id, org.org_id()) || !same(&user_id, org.dev_user_id()) {
        return crate::ApiError::not_found().into_response();
    }
    let cfg = org.config();
    let body = json!({
        "id": org.identity_url(),
        "asserted_user": true,
        "user_id": org.dev_user_id().to_string(),
        "organization_id": org.org_id().to_string(),
        "username": cfg.username,
        "nick_name": nickname(&cfg.username),
        "display_name": format!("{FIRST_NAME} {LAST_NAME}"),
        "email": cfg.username,
        "email_verified": true,
        "first_name": FIRST_NAME,
        "last_name": LAST_NAME,
        "timezone": "America/Los_Angeles",
        "photos": photos(&org),
        "addr_street": null,
        "addr_city": null,
        "addr_state": null,
        "addr_country": null,
        "addr_zip": null,
        "mobile_phone": null,
        "mobile_phone_verified": false,
        "is_lightning_login_user": false,
        "status": {"created_date": null, "body": null},
        "urls": urls(&org),
        "active": true,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": -28_800_000,
        "last_modified_date": "2024-01-01T00:00:00.000+0000",
        "is_app_installed": true,
    });
    json_response(StatusCode::OK, &body)
}
