//! Time as people say it and references a model can get right, through the agent API against
//! `callforce serve` and its embedded dev org: a local time is read in the call's zone (its own,
//! else its agent's, else the connected org user's), a bad zone is refused with how to fix it,
//! `{{search_contact.id}}` is `{{search_contact.Id}}`, and a reference to a search that found
//! no one says so.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};

use callforce::serve::{ServeConfig, Started, start};

struct Client {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Client {
    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, body).await
    }

    /// Starts a call with `body`; its id.
    async fn call(&self, body: Value) -> String {
        let (st, b) = self.post("/v1/calls", body).await;
        assert_eq!(st, 201, "{b}");
        b["call_id"].as_str().expect("call id").to_owned()
    }

    /// Runs `action` in call `id`.
    async fn run(&self, id: &str, action: &str, arguments: Value) -> (u16, Value) {
        self.post(
            &format!("/v1/calls/{id}/actions/{action}"),
            json!({ "arguments": arguments }),
        )
        .await
    }

    /// Schedules an event subject `subject` from the local time `start` in call `id`, and
    /// reads back the `StartDateTime` the org stored (a queued write is waited for).
    async fn scheduled_start(&self, id: &str, subject: &str, start: &str) -> String {
        let (st, b) = self
            .run(
                id,
                "schedule_event",
                json!({"Subject": subject, "StartDateTime": start, "EndDateTime": "2026-12-09T10:30:00"}),
            )
            .await;
        assert_eq!(st, 200, "{b}");
        self.field_of(id, "Event", subject, "StartDateTime").await
    }

    /// `field` of the `object` record with subject `subject`, read through call `id` (a write
    /// the service queued is waited for).
    async fn field_of(&self, id: &str, object: &str, subject: &str, field: &str) -> String {
        let soql = format!("SELECT {field} FROM {object} WHERE Subject = '{subject}'");
        for _ in 0..100 {
            let (st, found) = self.run(id, "run_query", json!({ "soql": soql })).await;
            assert_eq!(st, 200, "{found}");
            if let Some(v) = found["result"]["records"][0][field].as_str() {
                return v.to_owned();
            }
            // NB: a write the service queued lands in a moment; the org is asked again.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the {object} '{subject}' never reached the org");
    }
}

async fn serve(dir: &tempfile::TempDir) -> (Started, Client) {
    let started = start(ServeConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        dir.path().to_owned(),
    ))
    .await
    .expect("starts");
    let client = Client {
        base: format!("http://{}", started.addr),
        key: started.api_key.clone().expect("first key"),
        http: reqwest::Client::new(),
    };
    (started, client)
}

/// The instant a `StartDateTime` the org answered names, in UTC (`2026-12-09T15:00:00Z`).
fn utc(salesforce: &str) -> String {
    chrono::DateTime::parse_from_str(salesforce, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(salesforce))
        .unwrap_or_else(|e| panic!("{salesforce}: {e}"))
        .with_timezone(&chrono::Utc)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[tokio::test]
async fn local_times_are_read_in_the_call_zone_then_the_agent_zone_then_the_org_user_zone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_s, c) = serve(&dir).await;

    // The call's own zone: 10:00 in New York in December is 15:00 UTC.
    let ny = c
        .call(json!({"caller_phone": "+15551234567", "time_zone": "America/New_York"}))
        .await;
    let start = c
        .scheduled_start(&ny, "tz call zone", "2026-12-09T10:00:00")
        .await;
    assert_eq!(utc(&start), "2026-12-09T15:00:00Z");
    // A time with an offset is kept as it is.
    let start = c
        .scheduled_start(&ny, "tz offset kept", "2026-12-09T10:00:00Z")
        .await;
    assert_eq!(utc(&start), "2026-12-09T10:00:00Z");
    // `{{now}}` is the call's local time, with the zone's offset.
    let (st, b) = c
        .run(
            &ny,
            "create_task",
            json!({"subject": "tz now", "description": "{{now}}"}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let now = c.field_of(&ny, "Task", "tz now", "Description").await;
    let parsed = chrono::DateTime::parse_from_rfc3339(&now).expect("ISO 8601");
    assert!(
        [-5 * 3600, -4 * 3600].contains(&parsed.offset().local_minus_utc()),
        "{now} is not New York time"
    );

    // The agent's zone when the call names none: 10:00 in Paris in December is 09:00 UTC.
    let (st, b) = c
        .send(
            reqwest::Method::PUT,
            "/v1/agents/paris",
            json!({"time_zone": "Europe/Paris"}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let paris = c.call(json!({"agent": "paris"})).await;
    let start = c
        .scheduled_start(&paris, "tz agent zone", "2026-12-09T10:00:00")
        .await;
    assert_eq!(utc(&start), "2026-12-09T09:00:00Z");
    // The call's own zone wins over the agent's.
    let own = c
        .call(json!({"agent": "paris", "time_zone": "Asia/Tokyo"}))
        .await;
    let start = c
        .scheduled_start(&own, "tz own zone wins", "2026-12-09T10:00:00")
        .await;
    assert_eq!(utc(&start), "2026-12-09T01:00:00Z");

    // Neither: the connected org user's zone (the dev org's user is in Los Angeles), not UTC.
    let org = c.call(json!({})).await;
    let start = c
        .scheduled_start(&org, "tz org zone", "2026-12-09T10:00:00")
        .await;
    assert_eq!(utc(&start), "2026-12-09T18:00:00Z");
}

#[tokio::test]
async fn a_zone_that_is_not_an_iana_name_is_refused_with_how_to_fix_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_s, c) = serve(&dir).await;
    let (st, b) = c
        .post("/v1/calls", json!({"time_zone": "America/New_Yrok"}))
        .await;
    assert_eq!(st, 400, "{b}");
    assert_eq!(b["error"]["field"], "time_zone", "{b}");
    assert_eq!(b["error"]["suggestion"], "America/New_York", "{b}");
    let (st, b) = c.post("/v1/calls", json!({"time_zone": "EST"})).await;
    // `EST` is a zone of the IANA database (fixed UTC-5), so it is taken.
    assert_eq!(st, 201, "{b}");
    let (st, b) = c.post("/v1/calls", json!({"time_zone": "Eastern"})).await;
    assert_eq!(st, 400, "{b}");
    let message = b["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("IANA") && message.contains("America/New_York"),
        "{b}"
    );
    // A name in another case is the same zone.
    let (st, b) = c
        .post("/v1/calls", json!({"time_zone": "america/new_york"}))
        .await;
    assert_eq!(st, 201, "{b}");
    // An agent's zone is checked when it is saved.
    let (st, b) = c
        .send(
            reqwest::Method::PUT,
            "/v1/agents/nowhere",
            json!({"time_zone": "Mars/Olympus_Mons"}),
        )
        .await;
    assert_eq!(st, 422, "{b}");
    assert_eq!(b["error"]["field"], "time_zone", "{b}");
}

#[tokio::test]
async fn references_ignore_the_case_of_field_names_and_say_why_they_are_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_s, c) = serve(&dir).await;
    let id = c.call(json!({"caller_phone": "+15551234567"})).await;

    // Nothing found: the reference says so, instead of asking to run the search again.
    let (st, b) = c
        .run(
            &id,
            "search_contact",
            json!({"search_term": "Zebulon Quixotic"}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["result"]["count"], 0, "{b}");
    let (st, b) = c
        .run(
            &id,
            "create_case",
            json!({"Subject": "Nobody", "ContactId": "{{search_contact.Id}}"}),
        )
        .await;
    assert_eq!(st, 422, "{b}");
    let message = b["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("search_contact found no one")
            && message.contains("ask for the caller's name or email")
            && !message.contains("run search_contact first"),
        "{b}"
    );

    // An action that does not exist: the closest one.
    let (st, b) = c
        .run(
            &id,
            "create_case",
            json!({"Subject": "Typo", "ContactId": "{{serch_contact.Id}}"}),
        )
        .await;
    assert_eq!(st, 422, "{b}");
    assert_eq!(b["error"]["suggestion"], "search_contact", "{b}");

    // Found: `id` is `Id`, as Salesforce's field names are case-insensitive.
    let (st, found) = c
        .run(
            &id,
            "search_contact",
            json!({"search_term": "{{caller_phone}}"}),
        )
        .await;
    assert_eq!(st, 200, "{found}");
    let contact = found["result"]["records"][0]["Id"]
        .as_str()
        .expect("the caller is found")
        .to_owned();
    let (st, b) = c
        .run(
            &id,
            "create_case",
            json!({"Subject": "tz lower-case reference", "ContactId": "{{search_contact.id}}"}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let linked = c
        .field_of(&id, "Case", "tz lower-case reference", "ContactId")
        .await;
    assert_eq!(linked, contact);
}
