//! Which writes are the same write, end to end over real sockets: a call id used again, two
//! workspaces on one org, a tool call retried, a key the caller chose (see `docs/writes.md`).

use serde_json::{Value, json};

use crate::connect::{Env, connect_in_browser, connection_id, env};
use crate::queue::{eventually, org_conn};

/// A workspace's view of the service: its key and the connection its calls run on.
struct Ws<'a> {
    env: &'a Env,
    key: String,
    connection: String,
}

impl<'a> Ws<'a> {
    /// The workspace of `key`, connected to the env's dev org.
    async fn connect(env: &'a Env, key: String) -> Self {
        let link = env
            .link(
                &key,
                json!({"environment": "sandbox", "profile": "standard"}),
            )
            .await;
        let (_, page) = connect_in_browser(&link).await;
        Self {
            env,
            key,
            connection: connection_id(&page),
        }
    }

    async fn post(&self, path: &str, body: Value, idem: Option<&str>) -> (u16, Value) {
        let mut r = self
            .env
            .http
            .post(format!("{}{path}", self.env.base))
            .bearer_auth(&self.key)
            .json(&body);
        if let Some(k) = idem {
            r = r.header("Idempotency-Key", k);
        }
        let r = r.send().await.expect("post");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn start(&self, call: &str) {
        let (status, v) = self
            .post(
                "/v1/calls",
                json!({"call_id": call, "connection": self.connection}),
                None,
            )
            .await;
        assert_eq!(status, 201, "{v}");
    }

    async fn end(&self, call: &str) {
        let (status, v) = self
            .post(&format!("/v1/calls/{call}/end"), json!({}), None)
            .await;
        assert_eq!(status, 200, "{v}");
    }

    /// Runs `action` with `arguments` in `call`; the result.
    async fn run(&self, call: &str, action: &str, arguments: Value, idem: Option<&str>) -> Value {
        let (status, v) = self
            .post(
                &format!("/v1/calls/{call}/actions/{action}"),
                json!({"arguments": arguments}),
                idem,
            )
            .await;
        assert_eq!(status, 200, "{action}: {v}");
        v["result"].clone()
    }

    /// The new Case's id (`create_case` is blocking).
    async fn case(&self, call: &str, subject: &str, idem: Option<&str>) -> String {
        let r = self
            .run(
                call,
                "create_case",
                json!({"Subject": subject, "Origin": "Phone"}),
                idem,
            )
            .await;
        r["id"].as_str().expect("case id").to_owned()
    }

    /// How many writes of `call` the org applied (`write.done` audit entries).
    async fn writes_done(&self, call: &str) -> usize {
        let (status, v) = self
            .env
            .get(
                &self.key,
                &format!("/v1/audit?call_id={call}&kind=write.done&limit=1000"),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        v["entries"].as_array().expect("entries").len()
    }

    /// The job reference `log_call` (queued) answers with.
    async fn log(&self, call: &str, subject: &str) -> String {
        let r = self
            .run(call, "log_call", json!({"Subject": subject}), None)
            .await;
        r["reference"].as_str().expect("reference").to_owned()
    }

    /// Waits until the job `reference` is done.
    async fn done(&self, reference: &str) {
        eventually("the job done", || async {
            let (status, j) = self
                .env
                .get(&self.key, &format!("/v1/jobs/{reference}"))
                .await;
            (status == 200 && j["status"] == "done").then_some(())
        })
        .await;
    }
}

/// How many records of `object` in the env's dev org have this subject.
async fn count(env: &Env, object: &str, subject: &str) -> u64 {
    count_where(env, object, &format!("Subject = '{subject}'")).await
}

/// How many records of `object` in the env's dev org match `filter`.
async fn count_where(env: &Env, object: &str, filter: &str) -> u64 {
    let conn = org_conn(&env.org.org).await;
    let soql = format!("SELECT Id FROM {object} WHERE {filter}");
    conn.query::<callforce_client::Record>(&soql)
        .await
        .expect("query")
        .total_size
}

/// A call ended and started again under the same id is a new call: its Case and its logged
/// call are new records and new jobs, never the earlier call's returned or overwritten.
#[tokio::test]
async fn a_call_started_again_under_its_id_writes_new_records() {
    let e = env().await;
    let ws = Ws::connect(&e, e.key.clone()).await;
    ws.start("reused-call").await;
    let first_case = ws.case("reused-call", "Reopened call case", None).await;
    let first_log = ws.log("reused-call", "Reopened call log").await;
    ws.end("reused-call").await;
    ws.start("reused-call").await;
    let second_case = ws.case("reused-call", "Reopened call case", None).await;
    let second_log = ws.log("reused-call", "Reopened call log").await;
    assert_ne!(first_case, second_case, "a new Case");
    assert_ne!(first_log, second_log, "a new job");
    ws.done(&first_log).await;
    ws.done(&second_log).await;
    assert_eq!(count(&e, "Case", "Reopened call case").await, 2);
    assert_eq!(count(&e, "Task", "Reopened call log").await, 2);
}

/// Two workspaces on the same org whose calls have the same id each get their own Case.
#[tokio::test]
async fn two_workspaces_with_the_same_call_id_get_their_own_case() {
    let e = env().await;
    let a = Ws::connect(&e, e.key.clone()).await;
    let b = Ws::connect(&e, e.workspace("other").await).await;
    a.start("shared-id").await;
    b.start("shared-id").await;
    let in_a = a.case("shared-id", "Two workspaces case", None).await;
    let in_b = b.case("shared-id", "Two workspaces case", None).await;
    assert_ne!(in_a, in_b, "B's Case is not A's");
    assert_eq!(count(&e, "Case", "Two workspaces case").await, 2);
}

/// The same tool call sent again in one call (same arguments) is the same write: one record,
/// one job; other arguments are another write.
#[tokio::test]
async fn the_same_tool_call_retried_in_a_call_is_one_write() {
    let e = env().await;
    let ws = Ws::connect(&e, e.key.clone()).await;
    ws.start("retrying").await;
    let case = ws.case("retrying", "Retried case", None).await;
    assert_eq!(ws.case("retrying", "Retried case", None).await, case);
    let log = ws.log("retrying", "Retried log").await;
    assert_eq!(ws.log("retrying", "Retried log").await, log);
    let other = ws.case("retrying", "Another case", None).await;
    assert_ne!(other, case);
    // A blocking create of an object with no key field (Contact) too.
    let contact = json!({"LastName": "Retried-Contact", "Email": "retried@ex.example"});
    let first = ws
        .run("retrying", "create_contact", contact.clone(), None)
        .await;
    let again = ws.run("retrying", "create_contact", contact, None).await;
    assert_eq!(first["id"], again["id"], "{first} {again}");
    ws.done(&log).await;
    assert_eq!(count(&e, "Case", "Retried case").await, 1);
    assert_eq!(count(&e, "Task", "Retried log").await, 1);
    assert_eq!(count(&e, "Case", "Another case").await, 1);
    assert_eq!(
        count_where(&e, "Contact", "LastName = 'Retried-Contact'").await,
        1
    );
}

/// A value set back in one call is written: `Working`, `Escalated`, `Working` is three writes,
/// and the org ends with `Working`.
#[tokio::test]
async fn a_value_set_back_in_a_call_is_written_again() {
    let e = env().await;
    let ws = Ws::connect(&e, e.key.clone()).await;
    ws.start("set-back").await;
    let case = ws.case("set-back", "Set back case", None).await;
    for status in ["Working", "Escalated", "Working"] {
        let r = ws
            .run(
                "set-back",
                "update_case",
                json!({"record_id": case, "Status": status}),
                None,
            )
            .await;
        assert!(r.get("error").is_none(), "{r}");
    }
    let soql = format!("Status = 'Working' AND Id = '{case}'");
    assert_eq!(
        count_where(&e, "Case", &soql).await,
        1,
        "the last value is the org's"
    );
    assert_eq!(
        ws.writes_done("set-back").await,
        4,
        "the create and three updates"
    );
    // The last update asked for again, nothing else written to the Case since: the same write.
    let again = ws
        .run(
            "set-back",
            "update_case",
            json!({"record_id": case, "Status": "Working"}),
            None,
        )
        .await;
    assert_eq!(again["id"], case.as_str(), "{again}");
    assert_eq!(ws.writes_done("set-back").await, 4, "nothing sent again");
}

/// A key the caller chose makes the same action with the same arguments one write in any call
/// of the workspace; another key is another write; a bad key is refused with what to fix.
#[tokio::test]
async fn a_caller_key_reused_deliberately_dedupes() {
    let e = env().await;
    let ws = Ws::connect(&e, e.key.clone()).await;
    ws.start("first").await;
    ws.start("second").await;
    let one = ws.case("first", "Keyed case", Some("order-17")).await;
    let again = ws.case("second", "Keyed case", Some("order-17")).await;
    assert_eq!(one, again, "the same key in another call is the same write");
    let other = ws.case("second", "Keyed case", Some("order-18")).await;
    assert_ne!(one, other);
    assert_eq!(count(&e, "Case", "Keyed case").await, 2);
    let (status, v) = ws
        .post(
            "/v1/calls/first/actions/create_case",
            json!({"arguments": {"Subject": "Bad key", "Origin": "Phone"}}),
            Some("has space"),
        )
        .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "invalid_idempotency_key", "{v}");
    assert_eq!(count(&e, "Case", "Bad key").await, 0);
}

/// Over MCP: a constant `X-Call-Id` used again after its call ended writes anew, and a key the
/// caller chose in `_meta` (`callforce/idempotency_key`) makes one write across calls.
#[tokio::test]
async fn over_mcp_a_reused_call_id_writes_anew_and_a_meta_key_dedupes() {
    let e = env().await;
    let ws = Ws::connect(&e, e.key.clone()).await;
    let call = |call_id: &'static str, subject: &'static str, meta: Value| {
        let http = e.http.clone();
        let url = format!("{}/mcp", e.base);
        let key = e.key.clone();
        let connection = ws.connection.clone();
        async move {
            let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": "create_case", "_meta": meta,
                    "arguments": {"Subject": subject, "Origin": "Phone"}}});
            let r = http
                .post(url)
                .bearer_auth(key)
                .header("accept", "application/json, text/event-stream")
                .header("x-call-id", call_id)
                .header("x-connection", connection)
                .json(&body)
                .send()
                .await
                .expect("mcp");
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.expect("json");
            v["result"]["structuredContent"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("a case id: {v}"))
                .to_owned()
        }
    };
    let first = call("mcp-const", "Mcp reused id", json!({})).await;
    ws.end("mcp-const").await;
    let second = call("mcp-const", "Mcp reused id", json!({})).await;
    assert_ne!(first, second, "a new call, a new Case");
    assert_eq!(count(&e, "Case", "Mcp reused id").await, 2);

    let meta = json!({"callforce/idempotency_key": "mcp-order-1"});
    let one = call("mcp-a", "Mcp keyed", meta.clone()).await;
    let again = call("mcp-b", "Mcp keyed", meta).await;
    assert_eq!(one, again, "the same key in another call is the same write");
    assert_eq!(count(&e, "Case", "Mcp keyed").await, 1);
}

/// Sets the env's dev org's faults (`null` clears them).
async fn faults(env: &Env, spec: Value) {
    let url = format!("{}/devorg/faults", env.org.org.instance_url());
    let http = reqwest::Client::new();
    let r = if spec.is_null() {
        http.delete(url).send().await
    } else {
        http.put(url).json(&spec).send().await
    }
    .expect("faults");
    assert!(r.status().is_success(), "{}", r.status());
}

/// Every create of the dev org is applied at once and answered after `ms`, as a real org
/// finishes a request whose client went away; reads and describes do not wait.
fn slow_creates(ms: u64) -> Value {
    // NB: every POST: a create, or a create with its read-back in one `/composite` request.
    json!({"latency": {"fixed_ms": ms, "method": "POST", "path": "/services/data/*", "after": true}})
}

/// Within a call, a create asked for again after other writes (a model repeating itself) is
/// the same write: its first answer, one record; another argument is another record; a queued
/// `log_call` repeated after another write is its first job.
#[tokio::test]
async fn a_create_repeated_after_other_writes_is_one_record() {
    let e = env().await;
    let ws = Ws::connect(&e, e.key.clone()).await;
    ws.start("repeating").await;
    let contact = json!({"LastName": "Repeated-Contact", "Email": "repeated@ex.example"});
    let first = ws
        .run("repeating", "create_contact", contact.clone(), None)
        .await;
    let log = ws.log("repeating", "Repeated log").await;
    let case = ws.case("repeating", "Between the repeats", None).await;
    let again = ws
        .run("repeating", "create_contact", contact.clone(), None)
        .await;
    assert_eq!(first["id"], again["id"], "{first} {again}");
    assert_eq!(
        ws.log("repeating", "Repeated log").await,
        log,
        "the first job"
    );
    assert_eq!(
        ws.case("repeating", "Between the repeats", None).await,
        case
    );
    let other = json!({"LastName": "Repeated-Contact", "Email": "other@ex.example"});
    let changed = ws.run("repeating", "create_contact", other, None).await;
    assert_ne!(
        changed["id"], first["id"],
        "another argument, another record"
    );
    ws.done(&log).await;
    assert_eq!(
        count_where(&e, "Contact", "LastName = 'Repeated-Contact'").await,
        2
    );
    assert_eq!(count(&e, "Task", "Repeated log").await, 1);
    assert_eq!(count(&e, "Case", "Between the repeats").await, 1);
}

/// A create whose request the client gave up on while the org was still writing (a voice
/// platform's timeout) completes anyway, and the request sent again gets its answer: one
/// record, for an object with no key field (Contact) and for one created by upsert (Case).
#[tokio::test]
async fn a_cancelled_and_resent_create_is_one_record() {
    let e = env().await;
    let ws = Ws::connect(&e, e.key.clone()).await;
    ws.start("cancelled").await;
    // Describes fetched before the org turns slow.
    ws.run(
        "cancelled",
        "create_contact",
        json!({"LastName": "Warm-Contact"}),
        None,
    )
    .await;
    ws.case("cancelled", "Warm case", None).await;
    faults(&e, slow_creates(800)).await;
    let args = [
        ("create_contact", json!({"LastName": "Cancelled-Contact"})),
        (
            "create_case",
            json!({"Subject": "Cancelled case", "Origin": "Phone"}),
        ),
    ];
    for (action, arguments) in &args {
        let gave_up = e
            .http
            .post(format!("{}/v1/calls/cancelled/actions/{action}", e.base))
            .bearer_auth(&ws.key)
            .timeout(std::time::Duration::from_millis(200))
            .json(&json!({"arguments": arguments}))
            .send()
            .await;
        assert!(
            gave_up.is_err(),
            "{action}: the client gave up before the answer"
        );
        let resent = ws.run("cancelled", action, arguments.clone(), None).await;
        assert!(resent["id"].is_string(), "{action}: {resent}");
    }
    faults(&e, Value::Null).await;
    assert_eq!(
        count_where(&e, "Contact", "LastName = 'Cancelled-Contact'").await,
        1
    );
    assert_eq!(count(&e, "Case", "Cancelled case").await, 1);
}

/// Two identical requests at once in one call make one record, and both get its id.
#[tokio::test]
async fn two_identical_requests_at_once_are_one_record() {
    let e = env().await;
    let ws = Ws::connect(&e, e.key.clone()).await;
    ws.start("twins").await;
    let contact = json!({"LastName": "Twin-Contact"});
    let (a, b) = tokio::join!(
        ws.run("twins", "create_contact", contact.clone(), None),
        ws.run("twins", "create_contact", contact.clone(), None),
    );
    assert!(a["id"].is_string(), "{a}");
    assert_eq!(a["id"], b["id"], "{a} {b}");
    assert_eq!(
        count_where(&e, "Contact", "LastName = 'Twin-Contact'").await,
        1
    );
}

/// One `tools/call` over MCP's streamable HTTP (raw JSON-RPC), in call `call_id`, given up
/// after `timeout` when one is set: its structured result, or `None` when the client gave up.
async fn mcp_call(
    e: &Env,
    connection: &str,
    call_id: &str,
    tool: &str,
    arguments: Value,
    timeout: Option<std::time::Duration>,
) -> Option<Value> {
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": tool, "arguments": arguments}});
    let mut r = e
        .http
        .post(format!("{}/mcp", e.base))
        .bearer_auth(&e.key)
        .header("accept", "application/json, text/event-stream")
        .header("x-call-id", call_id)
        .header("x-connection", connection)
        .json(&body);
    if let Some(t) = timeout {
        r = r.timeout(t);
    }
    let r = match r.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return None,
        Err(e) => panic!("mcp: {e}"),
    };
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    Some(v["result"]["structuredContent"].clone())
}

/// The `notifications/cancelled` of request 7, posted as a JSON-RPC notification.
async fn mcp_cancel(e: &Env, connection: &str, call_id: &str) {
    let body = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 7, "reason": "the caller moved on"}});
    let r = e
        .http
        .post(format!("{}/mcp", e.base))
        .bearer_auth(&e.key)
        .header("accept", "application/json, text/event-stream")
        .header("x-call-id", call_id)
        .header("x-connection", connection)
        .json(&body)
        .send()
        .await
        .expect("cancel");
    assert!(r.status().is_success(), "{}", r.status());
}

/// Over MCP, a `tools/call` create cancelled (its HTTP request closed, as the stateless
/// protocol cancels, and a `notifications/cancelled` posted) while the org is writing completes,
/// and the call sent again gets its answer: one record. A cancelled read stops: it no longer
/// holds the call, whose next write is answered while the read would still be waiting on the
/// org; a read whose client still waits is stopped by its `notifications/cancelled` alone.
#[tokio::test]
async fn over_mcp_a_cancelled_and_resent_create_is_one_record_and_a_cancelled_read_stops() {
    let e = env().await;
    let ws = Ws::connect(&e, e.key.clone()).await;
    let conn = ws.connection.clone();
    let warm = json!({"LastName": "Mcp-Warm"});
    mcp_call(&e, &conn, "mcp-cancel", "create_contact", warm, None).await;
    faults(&e, slow_creates(800)).await;
    let args = json!({"LastName": "Mcp-Cancelled"});
    let short = Some(std::time::Duration::from_millis(200));
    let gave_up = mcp_call(
        &e,
        &conn,
        "mcp-cancel",
        "create_contact",
        args.clone(),
        short,
    )
    .await;
    assert!(gave_up.is_none(), "the client gave up: {gave_up:?}");
    mcp_cancel(&e, &conn, "mcp-cancel").await;
    let resent = mcp_call(&e, &conn, "mcp-cancel", "create_contact", args, None)
        .await
        .expect("answered");
    assert!(resent["id"].is_string(), "{resent}");
    assert_eq!(
        count_where(&e, "Contact", "LastName = 'Mcp-Cancelled'").await,
        1
    );

    // A read the org would answer after a minute, cancelled.
    faults(
        &e,
        json!({"latency": {"fixed_ms": 60_000, "path": "/services/data/*/query*"}}),
    )
    .await;
    let search = json!({"search_term": "Johnson"});
    let gave_up = mcp_call(&e, &conn, "mcp-cancel", "search_contact", search, short).await;
    assert!(gave_up.is_none(), "the client gave up: {gave_up:?}");
    mcp_cancel(&e, &conn, "mcp-cancel").await;
    let next = json!({"LastName": "Mcp-After-Read"});
    let written = mcp_call(
        &e,
        &conn,
        "mcp-cancel",
        "create_contact",
        next,
        Some(std::time::Duration::from_secs(20)),
    )
    .await
    .expect("the call is free again: the read stopped");
    assert!(written["id"].is_string(), "{written}");

    // A read still awaited by its client, cancelled by a `notifications/cancelled` of its own.
    let search = json!({"search_term": "Johnson"});
    let long = Some(std::time::Duration::from_secs(20));
    let read = mcp_call(&e, &conn, "mcp-cancel", "search_contact", search, long);
    tokio::pin!(read);
    let answered = loop {
        tokio::select! {
            r = &mut read => break r,
            () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {
                mcp_cancel(&e, &conn, "mcp-cancel").await;
            }
        }
    };
    let answered = answered.expect("the cancelled read answers before its client gives up");
    let message = answered["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("cancelled"), "{answered}");
    faults(&e, Value::Null).await;
}

/// The same on PostgreSQL: a create repeated after another write, two identical requests at
/// once and a cancelled and resent create are one record each; a set-back update is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_writes_in_a_call_are_one_record_on_postgres() {
    let test = "repeated_writes_in_a_call_are_one_record_on_postgres";
    let Some(schema) = callforce_testkit::PgSchema::for_test(test)
        .await
        .expect("schema")
    else {
        return;
    };
    let url = schema.url();
    let e = crate::connect::env_with(callforce_devorg::Config::default(), |c| {
        c.database_url = Some(url);
    })
    .await;
    let ws = Ws::connect(&e, e.key.clone()).await;
    ws.start("pg-repeats").await;
    let contact = json!({"LastName": "Pg-Repeated"});
    let first = ws
        .run("pg-repeats", "create_contact", contact.clone(), None)
        .await;
    let case = ws.case("pg-repeats", "Pg between", None).await;
    let again = ws
        .run("pg-repeats", "create_contact", contact.clone(), None)
        .await;
    assert_eq!(first["id"], again["id"], "{first} {again}");
    let twin = json!({"LastName": "Pg-Twin"});
    let (a, b) = tokio::join!(
        ws.run("pg-repeats", "create_contact", twin.clone(), None),
        ws.run("pg-repeats", "create_contact", twin.clone(), None),
    );
    assert_eq!(a["id"], b["id"], "{a} {b}");
    for status in ["Working", "Escalated", "Working"] {
        ws.run(
            "pg-repeats",
            "update_case",
            json!({"record_id": case, "Status": status}),
            None,
        )
        .await;
    }
    let soql = format!("Status = 'Working' AND Id = '{case}'");
    assert_eq!(count_where(&e, "Case", &soql).await, 1);
    faults(&e, slow_creates(800)).await;
    let cancelled = json!({"LastName": "Pg-Cancelled"});
    let gave_up = e
        .http
        .post(format!(
            "{}/v1/calls/pg-repeats/actions/create_contact",
            e.base
        ))
        .bearer_auth(&ws.key)
        .timeout(std::time::Duration::from_millis(200))
        .json(&json!({"arguments": cancelled}))
        .send()
        .await;
    assert!(gave_up.is_err(), "the client gave up before the answer");
    let resent = ws
        .run("pg-repeats", "create_contact", cancelled, None)
        .await;
    assert!(resent["id"].is_string(), "{resent}");
    faults(&e, Value::Null).await;
    for (name, n) in [("Pg-Repeated", 1), ("Pg-Twin", 1), ("Pg-Cancelled", 1)] {
        assert_eq!(
            count_where(&e, "Contact", &format!("LastName = '{name}'")).await,
            n,
            "{name}"
        );
    }
    assert_eq!(ws.writes_done("pg-repeats").await, 1 + 1 + 1 + 3 + 1);
}
