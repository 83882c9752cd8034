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

/// The catalog with custom actions that write Contacts in each form a request can take: one
/// record, an update by id, sObject Collections, and a composite request whose second record
/// refers to the first.
fn contact_writers() -> Catalog {
    let mut catalog = Catalog::with_examples();
    let param = |name: &str, required: bool| json!({"name": name, "location": "body", "required": required});
    for action in [
        json!({
            "name": "open_contact", "description": "Creates a contact.", "method": "POST",
            "endpoint": "/services/data/v59.0/sobjects/Contact/",
            "body": {"LastName": "{{last_name}}", "Title": "{{title}}", "LeadSource": "{{source}}"},
            "parameters": [param("last_name", true), param("title", false), param("source", false)]
        }),
        json!({
            "name": "misnamed_contact", "description": "Creates a contact.", "method": "POST",
            "endpoint": "/services/data/v59.0/sobjects/Contact",
            "body": {"LastNme": "{{last_name}}"},
            "parameters": [param("last_name", true)]
        }),
        json!({
            "name": "retitle_contact", "description": "Changes a title.", "method": "PATCH",
            "endpoint": "/services/data/v59.0/sobjects/Contact/{{contact_id}}",
            "body": {"Title": "{{title}}"},
            "parameters": [{"name": "contact_id", "location": "path", "required": true},
                           param("title", true)]
        }),
        json!({
            "name": "open_two_contacts", "description": "Creates two contacts.", "method": "POST",
            "endpoint": "/services/data/v59.0/composite/sobjects",
            "body": {"allOrNone": true, "records": [
                {"attributes": {"type": "Contact"}, "LastName": "{{first}}"},
                {"attributes": {"type": "Contact"}, "LastName": "{{second}}"}]},
            "parameters": [param("first", true), param("second", true)]
        }),
        json!({
            "name": "open_account_with_contact", "description": "An account and its contact.",
            "method": "POST", "endpoint": "/services/data/v59.0/composite",
            "body": {"allOrNone": true, "compositeRequest": [
                {"method": "POST", "url": "/services/data/v59.0/sobjects/Account",
                 "referenceId": "acc", "body": {"Name": "{{account}}"}},
                {"method": "POST", "url": "/services/data/v59.0/sobjects/Contact",
                 "referenceId": "con",
                 "body": {"LastName": "{{last_name}}", "AccountId": "@{acc.id}"}}]},
            "parameters": [param("account", true), param("last_name", true)]
        }),
    ] {
        let action: CustomAction = serde_json::from_value(action).expect("action");
        catalog.add_custom(action).expect("valid");
    }
    catalog
}

/// How many Contacts have `last_name`.
async fn contacts_named(actions: &Actions, last_name: &str) -> u64 {
    actions
        .connection()
        .query::<callforce_client::Record>(&format!(
            "SELECT Id FROM Contact WHERE LastName = '{last_name}'"
        ))
        .await
        .expect("query")
        .total_size
}

/// A custom action's rendered body is checked against the describe of the object its path
/// names, as a template's record is: a value longer than the field, a field the object does not
/// have and a picklist value it does not list are refused with what to fix, before anything is
/// sent; a picklist value spelt in another case is sent as the org spells it.
#[tokio::test]
async fn a_custom_action_write_is_checked_against_the_describe() {
    let (_org, actions, mut call) = setup("+15551234567").await;
    let actions = Actions::new(actions.connection().clone(), contact_writers());
    let long = "b".repeat(81);
    // (action, arguments, the field named, a text the message holds)
    let cases = [
        (
            "open_contact",
            json!({"last_name": long}),
            "last_name",
            "at most 80 characters",
        ),
        (
            "open_contact",
            json!({"last_name": "Refused", "title": "t".repeat(129)}),
            "title",
            "at most 128 characters",
        ),
        (
            "misnamed_contact",
            json!({"last_name": "Refused"}),
            "LastNme",
            "did you mean 'LastName'",
        ),
        (
            "open_two_contacts",
            json!({"first": "Refused", "second": long}),
            "second",
            "at most 80 characters",
        ),
        (
            "open_account_with_contact",
            json!({"account": "Refused Inc", "last_name": long}),
            "last_name",
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
    let e = err(
        &actions,
        &mut call,
        "open_contact",
        json!({"last_name": "Refused", "source": "Carrier pigeon"}),
    )
    .await;
    assert_eq!(e.code, ErrorCode::InvalidPicklist, "{}", e.to_json());
    assert!(
        e.valid_values.contains(&"Web".to_owned()),
        "{}",
        e.to_json()
    );
    assert_eq!(
        contacts_named(&actions, "Refused").await,
        0,
        "nothing refused was sent"
    );
    assert_eq!(
        contacts_named(&actions, &long).await,
        0,
        "nothing refused was sent"
    );

    // An update by id is checked too; the record keeps its title.
    let made = ok(
        &actions,
        &mut call,
        "open_contact",
        json!({"last_name": "Checked", "title": "Buyer", "source": "web"}),
    )
    .await;
    let id = callforce_client::Id::parse(&id_of(&made)).expect("id");
    let c = actions
        .connection()
        .get("Contact", id, &["Title", "LeadSource"])
        .await
        .expect("contact");
    assert_eq!(c["LeadSource"], "Web", "sent as the org spells it: {c:?}");
    let e = err(
        &actions,
        &mut call,
        "retitle_contact",
        json!({"contact_id": id.to_string(), "title": "t".repeat(129)}),
    )
    .await;
    assert_eq!(e.field.as_deref(), Some("title"), "{}", e.to_json());
    let c = actions
        .connection()
        .get("Contact", id, &["Title"])
        .await
        .expect("contact");
    assert_eq!(c["Title"], "Buyer");

    // Values within the limits go through, a composite's reference to an earlier record
    // included.
    ok(
        &actions,
        &mut call,
        "open_two_contacts",
        json!({"first": "Checked", "second": "b".repeat(80)}),
    )
    .await;
    ok(
        &actions,
        &mut call,
        "open_account_with_contact",
        json!({"account": "Checked Inc", "last_name": "Checked"}),
    )
    .await;
    assert_eq!(contacts_named(&actions, "Checked").await, 3);
}

/// A sink that queues every write it is given and sends nothing.
#[derive(Default)]
struct Queue(std::sync::Mutex<Vec<callforce_actions::Write>>);

impl callforce_actions::WriteSink for Queue {
    fn write(&self, write: callforce_actions::Write) -> callforce_actions::WriteFuture<'_> {
        let mut q = self.0.lock().expect("queue");
        q.push(write);
        let reference = format!("job-{}", q.len());
        Box::pin(async move { Ok(callforce_actions::WriteOutcome::Queued { reference }) })
    }

    fn queues_non_blocking(&self) -> bool {
        true
    }
}

/// A non-blocking custom action is checked against the describe the connection holds, so a
/// value the org would refuse is refused on the agent's time, never queued to become a dead
/// letter.
#[tokio::test]
async fn a_non_blocking_custom_action_write_is_checked_before_it_is_queued() {
    let (_org, actions, mut call) = setup("+15551234567").await;
    let conn = actions.connection().clone();
    conn.describe("Contact").await.expect("describe held");
    let queue = std::sync::Arc::new(Queue::default());
    let actions = Actions::new(conn, contact_writers())
        .with_sink(queue.clone())
        .with_non_blocking(["open_contact".to_owned()]);
    assert!(actions.queues_at_once("open_contact"));
    let e = err(
        &actions,
        &mut call,
        "open_contact",
        json!({"last_name": "b".repeat(81)}),
    )
    .await;
    assert_eq!(e.code, ErrorCode::InvalidArgument, "{}", e.to_json());
    assert_eq!(e.field.as_deref(), Some("last_name"), "{}", e.to_json());
    assert!(queue.0.lock().expect("queue").is_empty(), "nothing queued");
    let r = ok(
        &actions,
        &mut call,
        "open_contact",
        json!({"last_name": "Queued", "source": "web"}),
    )
    .await;
    assert_eq!(r["queued"], true, "{r}");
    let q = queue.0.lock().expect("queue");
    let sent = serde_json::to_value(&q[0].request).expect("request");
    assert_eq!(sent["body"]["LeadSource"], "Web", "{sent}");
}
