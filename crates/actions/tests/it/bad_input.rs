//! Input a model controls that must be refused with what to fix: paths that climb out of the
//! API, headers the HTTP stack cannot send, values longer than Salesforce takes. None of them
//! is an outage, and none reaches the org.

use callforce_actions::{CustomAction, ErrorCode};
use serde_json::json;

use super::*;

/// Paths that resolve outside `/services/data/` (as an HTTP client reads `%2e%2e`).
const CLIMBING: &[&str] = &[
    "/services/data/v59.0/%2e%2e/%2e%2e/oauth2/userinfo",
    "/services/data/v59.0/%2E%2E/.%2e/oauth2/userinfo",
    "/services/data/v59.0/sobjects/%2e%2e/%2e%2e/%2e%2e/oauth2/userinfo",
    "sobjects/../../../oauth2/userinfo",
    "/services/data/v59.0/..%2f..%2foauth2/userinfo",
];

#[tokio::test]
async fn an_encoded_dot_segment_cannot_climb_out_of_the_api() {
    let (org, actions, mut call) = setup("+15551234567").await;
    for path in CLIMBING {
        let e = err(
            &actions,
            &mut call,
            "custom_api_call",
            json!({"method": "GET", "path": path}),
        )
        .await;
        assert_eq!(
            e.code,
            ErrorCode::InvalidArgument,
            "{path}: {}",
            e.to_json()
        );
        assert_eq!(e.field.as_deref(), Some("path"), "{path}");
        assert!(
            e.message.contains("/services/data/"),
            "{path}: the message names the allowed roots: {}",
            e.message
        );
    }
    // A custom action whose endpoint climbs out is refused when it is defined.
    let mut climbing = callforce_actions::custom::examples().remove(0);
    climbing.endpoint = CLIMBING[0].into();
    let e = climbing.validate().unwrap_err();
    assert_eq!(e.code, ErrorCode::Template, "{}", e.message);
    // A path inside the API still works, however it is spelled.
    let r = ok(
        &actions,
        &mut call,
        "custom_api_call",
        json!({"method": "GET", "path": "/services/data/v59.0/sobjects/%2e/Case/describe"}),
    )
    .await;
    assert_eq!(r["body"]["name"], "Case", "{r}");
    drop(org);
}

/// A custom action's endpoint is a template rendered at every call: the rendered path is
/// checked again, and a value can never add a segment.
#[tokio::test]
async fn a_custom_action_endpoint_renders_inside_the_api() {
    let (_org, actions, mut call) = setup("+15551234567").await;
    let mut catalog = Catalog::with_examples();
    let action: CustomAction = serde_json::from_value(json!({
        "name": "describe_object",
        "description": "Describes an object.",
        "method": "GET",
        "endpoint": "/services/data/v59.0/sobjects/{{object}}/describe",
        "parameters": [{"name": "object", "location": "path", "required": true}]
    }))
    .expect("action");
    catalog.add_custom(action).expect("valid");
    let actions = Actions::new(actions.connection().clone(), catalog);
    let r = ok(
        &actions,
        &mut call,
        "describe_object",
        json!({"object": "Case"}),
    )
    .await;
    assert!(r.to_string().contains("Case"), "{r}");
    for value in [
        "..",
        "%2e%2e",
        "../../../oauth2/userinfo",
        "%2e%2e%2f%2e%2e",
    ] {
        let res = actions
            .run(&mut call, "describe_object", json!({"object": value}))
            .await;
        // Refused before sending (a segment that is a dot segment, or hides one), or sent
        // as one segment of the describe path, which names no object.
        let e = res.expect_err(value);
        assert!(
            matches!(
                e.code,
                ErrorCode::Template | ErrorCode::InvalidArgument | ErrorCode::NotFound
            ),
            "{value}: {}",
            e.to_json()
        );
    }
}

#[tokio::test]
async fn bad_input_is_refused_with_the_limit_not_reported_as_an_outage() {
    let (_org, actions, mut call) = setup("+15551234567").await;
    let long = "a".repeat(20_000);
    // (action, arguments, the field named, a text the message holds)
    let cases = [
        (
            "search_contact",
            json!({"search_term": long}),
            "search_term",
            "255",
        ),
        (
            "search_account",
            json!({"search_term": long}),
            "search_term",
            "255",
        ),
        (
            "global_search",
            json!({"search_term": long}),
            "search_term",
            "255",
        ),
        (
            "run_query",
            json!({"soql": format!("SELECT Id FROM Contact WHERE LastName = '{long}'")}),
            "soql",
            "16384",
        ),
        (
            "custom_api_call",
            json!({"method": "GET", "path": "/limits", "headers": {"X-A": "a\r\nX-Injected: 1"}}),
            "headers",
            "printable ASCII",
        ),
        (
            "custom_api_call",
            json!({"method": "GET", "path": "/limits", "headers": {"X-A": "a\u{0}b"}}),
            "headers",
            "printable ASCII",
        ),
        (
            "custom_api_call",
            json!({"method": "GET", "path": "/limits", "headers": {"": "a"}}),
            "headers",
            "not a header name",
        ),
        (
            "custom_api_call",
            json!({"method": "POST", "path": "/sobjects/Contact", "headers": {"X-A": "a\nb"},
                   "body": {"LastName": "Header"}}),
            "headers",
            "printable ASCII",
        ),
        (
            "custom_api_call",
            json!({"method": "GET", "path": format!("/sobjects/Contact/{long}")}),
            "path",
            "16384",
        ),
        (
            "create_contact",
            json!({"LastName": "b".repeat(81)}),
            "LastName",
            "at most 80 characters",
        ),
    ];
    for (action, args, field, says) in cases {
        let e = err(&actions, &mut call, action, args).await;
        assert_eq!(
            e.code,
            ErrorCode::InvalidArgument,
            "{action}: {}",
            e.to_json()
        );
        assert_eq!(e.field.as_deref(), Some(field), "{action}: {}", e.to_json());
        assert!(e.message.contains(says), "{action}: {}", e.message);
    }
    let n = actions
        .connection()
        .query::<callforce_client::Record>("SELECT Id FROM Contact WHERE LastName = 'Header'")
        .await
        .expect("query")
        .total_size;
    assert_eq!(n, 0, "the refused POST was never sent");
    // At the limit, the search runs.
    let r = ok(
        &actions,
        &mut call,
        "search_contact",
        json!({"search_term": "a".repeat(255)}),
    )
    .await;
    assert_eq!(r["count"], 0, "{r}");
}

#[tokio::test]
async fn a_template_argument_that_overflows_is_a_template_error_not_a_panic() {
    let (_org, actions, mut call) = setup("+15551234567").await;
    for (expr, filter) in [
        (
            "{{ caller_phone | minus: 15551234567 | minus: 9223372036854775807 | minus: 1 | divided_by: -1 }}",
            "divided_by",
        ),
        (
            "{{ caller_phone | minus: 15551234567 | minus: 9223372036854775807 | minus: 1 | modulo: -1 }}",
            "modulo",
        ),
        ("{{ caller_phone | plus: 9223372036854775807 }}", "plus"),
        ("{{ caller_phone | times: 9223372036854775807 }}", "times"),
        (
            "{{ caller_phone | minus: 15551234567 | minus: 9223372036854775807 | minus: 1 | abs }}",
            "abs",
        ),
    ] {
        let e = err(
            &actions,
            &mut call,
            "search_contact",
            json!({"search_term": expr}),
        )
        .await;
        assert_eq!(e.code, ErrorCode::Template, "{expr}: {}", e.to_json());
        assert!(
            e.message
                .contains(&format!("{filter}: the result is out of range")),
            "{expr}: {}",
            e.message
        );
    }
    // The call goes on: the next action runs.
    let r = ok(
        &actions,
        &mut call,
        "search_contact",
        json!({"search_term": "{{ caller_phone | minus: 0 }}"}),
    )
    .await;
    assert!(r["count"].as_u64().is_some(), "{r}");
}
