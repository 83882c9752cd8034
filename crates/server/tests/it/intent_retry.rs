//! A `record_intent` tool call retried in a call, end to end over real sockets: the retry is
//! answered from the call (one record, the same id), and a different payload is a new write (see
//! "Idempotency keys" in `docs/writes.md`).

use std::net::SocketAddr;

use serde_json::{Value, json};

use callforce::serve::{ServeConfig, Started, start};

/// A started service (embedded dev org) with an intent map that creates Leads.
struct Service {
    started: Started,
    http: reqwest::Client,
    base: String,
}

impl Service {
    async fn start(dir: &std::path::Path) -> Self {
        let started = start(ServeConfig {
            api_key: Some("test-key".into()),
            ..ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), dir.to_owned())
        })
        .await
        .expect("starts");
        let base = format!("http://{}", started.addr);
        let service = Self {
            started,
            http: reqwest::Client::new(),
            base,
        };
        let (status, v) = service
            .send(
                reqwest::Method::PUT,
                "/v1/intents",
                json!({
                    "variables": {"company": "text", "last_name": "text"},
                    "intents": {
                        "new_lead": {
                            "object": "Lead", "record": "create",
                            "fields": {"Company": {"arg": "company"},
                                       "LastName": {"arg": "last_name"}}
                        },
                        "lead_called_now": {
                            "object": "Lead", "record": "create",
                            "fields": {"Company": {"arg": "company"},
                                       "LastName": {"arg": "last_name"},
                                       "First_Contacted_At__c": "now"}
                        }
                    }
                }),
            )
            .await;
        assert_eq!(status, 200, "the map is activated: {v}");
        service
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth("test-key")
            .json(&body)
            .send()
            .await
            .expect("send");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A new call's id.
    async fn call(&self) -> String {
        let (status, v) = self
            .send(reqwest::Method::POST, "/v1/calls", json!({}))
            .await;
        assert_eq!(status, 201, "{v}");
        v["call_id"].as_str().expect("call id").to_owned()
    }

    /// `record_intent` with `arguments` in `call`: the id of the one record it created.
    async fn record(&self, call: &str, arguments: Value) -> String {
        let (status, v) = self
            .send(
                reqwest::Method::POST,
                &format!("/v1/calls/{call}/actions/record_intent"),
                json!({"arguments": arguments}),
            )
            .await;
        assert_eq!(status, 200, "{arguments}: {v}");
        let records = v["result"]["records"].as_array().expect("records");
        assert_eq!(records.len(), 1, "{v}");
        assert_eq!(records[0]["created"], true, "{v}");
        records[0]["id"].as_str().expect("id").to_owned()
    }

    /// How many Leads of `company` the org holds, read at the org.
    async fn leads(&self, company: &str) -> u64 {
        let org = self.started.devorg.as_ref().expect("embedded org");
        let v: Value = self
            .http
            .get(format!(
                "{}/services/data/v59.0/query",
                org.org.instance_url()
            ))
            .bearer_auth(org.org.dev_access_token())
            .query(&[(
                "q",
                format!("SELECT Id FROM Lead WHERE Company = '{company}'"),
            )])
            .send()
            .await
            .expect("query")
            .json()
            .await
            .expect("json");
        v["totalSize"].as_u64().expect("totalSize")
    }
}

/// The same `record_intent` posted twice in one call is one Lead and one id; another payload
/// after it is a second Lead.
#[tokio::test]
async fn a_retried_record_intent_over_rest_is_one_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = Service::start(dir.path()).await;
    let call = service.call().await;
    let args = json!({"intent": "new_lead", "company": "Retry Ltd", "last_name": "Once"});
    let first = service.record(&call, args.clone()).await;
    let again = service.record(&call, args).await;
    assert_eq!(first, again, "the retry answers the first write's id");
    assert_eq!(
        service.leads("Retry Ltd").await,
        1,
        "one Lead for two posts"
    );

    let other = service
        .record(
            &call,
            json!({"intent": "new_lead", "company": "Retry Ltd", "last_name": "Twice"}),
        )
        .await;
    assert_ne!(other, first);
    assert_eq!(
        service.leads("Retry Ltd").await,
        2,
        "another payload writes"
    );
}

/// An intent that stamps a field with `now` is retried later than it was first sent: the retry
/// is the same tool call, so it is still one record.
#[tokio::test]
async fn a_retried_record_intent_stamping_now_is_one_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let service = Service::start(dir.path()).await;
    let call = service.call().await;
    let args = json!({"intent": "lead_called_now", "company": "Stamped Ltd", "last_name": "Once"});
    let first = service.record(&call, args.clone()).await;
    // NB: the stamp is to the millisecond; the retry must come at least one later.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let again = service.record(&call, args).await;
    assert_eq!(first, again, "the retry answers the first write's id");
    assert_eq!(
        service.leads("Stamped Ltd").await,
        1,
        "one Lead for two posts"
    );
}
