//! The console's Agents and actions pages over real sockets, against `callforce serve` with its
//! embedded dev org (and a second dev org standing in for a real one): an agent's switches
//! change the tools a model sees, a custom action's mistake is shown next to its field and the
//! fixed one saved, Try it renders and runs on the dev org, and a real org gets nothing without
//! the admin's acknowledgement and, for a write, confirmation. Every change is audited with the
//! session's key as its actor.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};
use serde_json::{Value, json};

use super::connect::{Env, env};
use super::console::{browser, csrf, sign_in};

/// A signed-in browser over `e`.
struct Admin<'a> {
    e: &'a Env,
    http: reqwest::Client,
    session: String,
    csrf: String,
}

impl<'a> Admin<'a> {
    async fn new(e: &'a Env) -> Self {
        let http = browser();
        let session = sign_in(&http, &e.base, &e.key).await;
        let page = http
            .get(format!("{}/agents", e.base))
            .header(COOKIE, format!("cf_session={session}"))
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("html");
        Self {
            csrf: csrf(&page),
            e,
            http,
            session,
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.e.base))
            .header(COOKIE, format!("cf_session={}", self.session))
            .send()
            .await
            .expect("get");
        (resp.status(), resp.text().await.expect("html"))
    }

    /// Posts `form` with the session's token: the status, where it sends the browser, the page.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
        let mut form = form.to_vec();
        form.push(("csrf", &self.csrf));
        let resp = self
            .http
            .post(format!("{}{path}", self.e.base))
            .header(COOKIE, format!("cf_session={}", self.session))
            .form(&form)
            .send()
            .await
            .expect("post");
        let status = resp.status();
        let to = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, to, resp.text().await.expect("html"))
    }

    /// The names of the tools `/v1/tools?agent=` gives.
    async fn tools(&self, agent: &str) -> Vec<String> {
        let (status, v) = self
            .e
            .get(&self.e.key, &format!("/v1/tools?agent={agent}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The workspace's audit entries of `kind`.
    async fn audited(&self, kind: &str) -> Vec<Value> {
        let (status, log) = self
            .e
            .get(&self.e.key, &format!("/v1/audit?kind={kind}&limit=1000"))
            .await;
        assert_eq!(status, StatusCode::OK, "{log}");
        log["entries"].as_array().cloned().unwrap_or_default()
    }

    /// The audit actor of the session's key.
    async fn actor(&self) -> String {
        let (_, keys) = self.e.get(&self.e.key, "/v1/keys").await;
        format!("api-key:{}", keys["keys"][0]["id"])
    }
}

/// The names in the page's tool list, in order.
fn listed_tools(html: &str) -> Vec<String> {
    let at = html.find("id=\"tools\"").expect("the tool list");
    let list = &html[at..html[at..].find("</ul>").map_or(html.len(), |e| at + e)];
    list.split("<li><code>")
        .skip(1)
        .map(|li| li.split("</code>").next().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn enabling_three_templates_changes_the_agents_tool_list() {
    let e = env().await;
    let a = Admin::new(&e).await;

    // A new agent may run nothing: its page lists the templates by group and no tool.
    let (status, to, _) = a.post("/agents", &[("name", "front-desk")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(to, "/agents/front-desk");
    let (status, html) = a.get("/agents/front-desk").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    for group in [
        "Contacts",
        "Cases",
        "Users &#38; Queues",
        "Direct Lookups",
        "Generic actions",
    ] {
        assert!(html.contains(&format!("\">{group}</legend>")), "{group}");
    }
    assert!(html.contains("id=\"tool-size\">0 tools"), "{html}");
    assert!(listed_tools(&html).is_empty());
    assert!(a.tools("front-desk").await.is_empty());
    let (_, list) = a.get("/agents").await;
    assert!(list.contains("href=\"/agents/front-desk\""), "{list}");

    // Three switches on, one asking for confirmation: the page and the API list those three.
    let (status, _, html) = a
        .post(
            "/agents/front-desk/policy",
            &[
                ("description", "Front desk"),
                ("action", "search_contact"),
                ("action", "create_case"),
                ("action", "get_case"),
                ("confirm.create_case", "ask"),
                ("confirm.search_contact", "default"),
                ("objects", "Contact, Case"),
                ("say", "yes"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("name=\"say\" value=\"yes\" checked"),
        "results carry say: {html}"
    );
    assert!(html.contains("role=\"status\""), "{html}");
    let want = ["search_contact", "create_case", "get_case"];
    let mut api = a.tools("front-desk").await;
    api.sort();
    let mut shown = listed_tools(&html);
    shown.sort();
    let mut sorted = want.map(String::from).to_vec();
    sorted.sort();
    assert_eq!(api, sorted);
    assert_eq!(shown, sorted);
    assert!(html.contains("id=\"tool-size\">3 tools, about "), "{html}");
    let (_, tools) = e.get(&e.key, "/v1/tools?agent=front-desk").await;
    let case = tools["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "create_case")
        .expect("create_case");
    assert!(
        case["parameters"]["properties"]["confirmation_token"].is_object(),
        "create_case asks for confirmation: {case}"
    );
    let (_, stored) = e.get(&e.key, "/v1/agents/front-desk").await;
    assert_eq!(stored["definition"]["objects"], json!(["Contact", "Case"]));
    assert_eq!(stored["definition"]["description"], "Front desk");
    assert_eq!(stored["definition"].get("say"), None, "on, the default");

    // A mistake is shown next to its field, and nothing changes.
    let (status, _, html) = a
        .post(
            "/agents/front-desk/policy",
            &[("action", "search_contact"), ("objects", "Contact; DROP")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("id=\"objects-problem\""), "{html}");
    assert!(html.contains("aria-describedby=\"objects-problem\""));
    assert!(
        html.contains("value=\"Contact; DROP\""),
        "what was typed is kept"
    );
    assert_eq!(a.tools("front-desk").await.len(), 3);
    let (status, _, html) = a.post("/agents", &[("name", "front desk!")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(html.contains("id=\"name-problem\""), "{html}");
    let (status, _, html) = a.post("/agents", &[("name", "front-desk")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "an agent is not overwritten");
    assert!(html.contains("id=\"name-problem\""), "{html}");

    // Every save is audited with the session's key as its actor.
    let actor = a.actor().await;
    let puts = a.audited("config.agent.put").await;
    assert_eq!(puts.len(), 2, "{puts:?}");
    assert!(
        puts.iter().all(|p| p["agent"] == actor.as_str()),
        "{puts:?}"
    );

    // Deleting asks first; then the agent is gone.
    let (status, html) = a.get("/agents/front-desk/delete").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Delete the agent front-desk?"), "{html}");
    let (status, to, _) = a.post("/agents/front-desk/delete", &[]).await;
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/agents/front-desk/delete")
    );
    let (status, to, _) = a
        .post("/agents/front-desk/delete", &[("confirm", "yes")])
        .await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/agents"));
    let (status, _) = e.get(&e.key, "/v1/agents/front-desk").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        a.audited("config.agent.delete").await[0]["agent"],
        actor.as_str()
    );
}

const LOOKUP: &str = "/services/data/v59.0/query/?q=SELECT+Id,LastName+FROM+Contact+WHERE+LastName='{{last_name}}'+LIMIT+5";

#[tokio::test]
async fn a_custom_action_with_a_mistake_shows_it_next_to_its_field_and_saves_when_fixed() {
    let e = env().await;
    let a = Admin::new(&e).await;
    let parameters = r#"[{"name": "last_name", "location": "query", "required": true, "description": "The contact's last name"}]"#;
    let form = |endpoint: &'static str, parameters: &'static str| {
        vec![
            ("name", "contacts_named"),
            ("description", "Contacts with this last name."),
            ("method", "GET"),
            ("endpoint", endpoint),
            ("object", "Contact"),
            ("parameters", parameters),
        ]
    };

    // An endpoint outside /services/data: refused by the core's check, shown next to it.
    let (status, _, html) = a
        .post("/actions", &form("/services/oauth2/token", parameters))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("id=\"endpoint-problem\""), "{html}");
    assert!(
        html.contains("aria-describedby=\"endpoint-problem\""),
        "{html}"
    );
    assert!(
        html.contains("value=\"/services/oauth2/token\""),
        "kept as typed"
    );
    // Parameters that are not JSON, next to the parameters.
    let (status, _, html) = a.post("/actions", &form(LOOKUP, "[{\"name\":")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(html.contains("id=\"parameters-problem\""), "{html}");
    // A parameter without its location: the core's check, next to the parameters.
    let (status, _, html) = a
        .post("/actions", &form(LOOKUP, r#"[{"name": "last_name"}]"#))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    let problem = &html[html
        .find("id=\"parameters-problem\"")
        .expect("next to the parameters")..];
    assert!(problem.contains("location"), "{problem}");
    // Nothing was saved.
    let (status, _) = e.get(&e.key, "/v1/actions/contacts_named").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Fixed, it is saved: the API has it, and the list shows it.
    let (status, to, html) = a.post("/actions", &form(LOOKUP, parameters)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{html}");
    assert_eq!(to, "/actions/contacts_named");
    let (status, v) = e.get(&e.key, "/v1/actions/contacts_named").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["definition"]["endpoint"], LOOKUP);
    assert_eq!(v["definition"]["parameters"][0]["required"], true);
    let (_, list) = a.get("/actions").await;
    assert!(list.contains("href=\"/actions/contacts_named\""), "{list}");

    // Edited with a method the core refuses: shown next to the method; the stored one stays.
    let mut bad = form(LOOKUP, parameters);
    bad[2] = ("method", "TRACE");
    let (status, _, html) = a.post("/actions/contacts_named/definition", &bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("id=\"method-problem\""), "{html}");
    let (_, v) = e.get(&e.key, "/v1/actions/contacts_named").await;
    assert_eq!(v["definition"]["method"], "GET");
    let mut good = form(LOOKUP, parameters);
    good[1] = ("description", "Contacts by last name.");
    let (status, _, html) = a.post("/actions/contacts_named/definition", &good).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let (_, v) = e.get(&e.key, "/v1/actions/contacts_named").await;
    assert_eq!(v["definition"]["description"], "Contacts by last name.");

    let actor = a.actor().await;
    let puts = a.audited("config.action.put").await;
    assert_eq!(puts.len(), 2, "{puts:?}");
    assert!(
        puts.iter().all(|p| p["agent"] == actor.as_str()),
        "{puts:?}"
    );

    // Deleted after a confirmation.
    let (status, _) = a.get("/actions/contacts_named/delete").await;
    assert_eq!(status, StatusCode::OK);
    let (status, to, _) = a
        .post("/actions/contacts_named/delete", &[("confirm", "yes")])
        .await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/actions"));
    let (status, _) = e.get(&e.key, "/v1/actions/contacts_named").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Saves custom action `name` through the API.
async fn put_action(e: &Env, name: &str, def: Value) {
    let r = e
        .http
        .put(format!("{}/v1/actions/{name}", e.base))
        .bearer_auth(&e.key)
        .json(&def)
        .send()
        .await
        .expect("put");
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        r.text().await.unwrap_or_default()
    );
}

fn lookup() -> Value {
    json!({
        "description": "Contacts with this last name.",
        "method": "GET",
        "endpoint": LOOKUP,
        "object": "Contact",
        "parameters": [{"name": "last_name", "location": "query", "required": true}],
    })
}

#[tokio::test]
async fn try_it_on_the_dev_org_shows_the_rendered_request_and_the_answer() {
    let e = env().await;
    let a = Admin::new(&e).await;
    put_action(&e, "contacts_named", lookup()).await;

    let (status, html) = a.get("/actions/contacts_named").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("(dev org, connected)</option>"), "{html}");
    let (status, _, html) = a
        .post(
            "/actions/contacts_named/try",
            &[("arguments", r#"{"last_name": "Johnson"}"#)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("GET /services/data/v59.0/query/?q=SELECT+Id%2CLastName+FROM+Contact+WHERE+LastName%3D%27Johnson%27+LIMIT+5"),
        "the rendered request: {html}"
    );
    assert!(
        html.contains("<dt>q</dt><dd><code class=\"wrap\">SELECT Id,LastName FROM Contact WHERE LastName=&#39;Johnson&#39; LIMIT 5</code>"),
        "the query as the org reads it: {html}"
    );
    let answer = &html[html.find("id=\"answer\"").expect("an answer")..];
    assert!(answer.contains("Johnson"), "{answer}");
    let actor = a.actor().await;
    let tried = a.audited("action.tried").await;
    assert_eq!(tried.len(), 1, "{tried:?}");
    assert_eq!(tried[0]["agent"], actor.as_str());
    assert_eq!(tried[0]["request"]["action"], "contacts_named");
    assert_eq!(tried[0]["request"]["environment"], "embedded");

    // What the action refuses of the arguments is shown next to them; nothing is sent.
    let (status, _, html) = a
        .post("/actions/contacts_named/try", &[("arguments", "{}")])
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{html}");
    assert!(html.contains("id=\"arguments-problem\""), "{html}");
    assert!(html.contains("last_name"), "{html}");
    let (status, _, html) = a
        .post("/actions/contacts_named/try", &[("arguments", "[1, 2")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(html.contains("id=\"arguments-problem\""), "{html}");
    assert_eq!(
        a.audited("action.tried").await.len(),
        1,
        "nothing more sent"
    );
}

#[tokio::test]
async fn a_write_on_a_real_org_is_refused_without_the_confirmation() {
    let e = env().await;
    let a = Admin::new(&e).await;
    // A connection to another org (the second dev org, connected as a real one would be).
    let (status, c) = e
        .post(
            &e.key,
            "/v1/connections",
            json!({"kind": "client_credentials", "environment": "sandbox", "name": "acme-sandbox"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let real = c["id"].as_str().expect("id").to_owned();
    put_action(&e, "contacts_named", lookup()).await;
    put_action(
        &e,
        "new_contact",
        json!({
            "description": "Create a contact.",
            "method": "POST",
            "endpoint": "/services/data/v59.0/sobjects/Contact/",
            "body": {"LastName": "{{last_name}}"},
            "object": "Contact",
            "parameters": [{"name": "last_name", "location": "body", "required": true}],
        }),
    )
    .await;
    let (_, html) = a.get("/actions/new_contact").await;
    assert!(
        html.contains("(real org: sandbox, connected)</option>"),
        "{html}"
    );
    assert!(
        html.contains("name=\"write\""),
        "a write offers the confirmation"
    );

    let write = |ack: bool, confirm: bool| {
        let mut form = vec![
            ("arguments", r#"{"last_name": "Tryout"}"#),
            ("connection", real.as_str()),
        ];
        if ack {
            form.push(("real_org", "yes"));
        }
        if confirm {
            form.push(("write", "yes"));
        }
        form
    };
    let read = [
        ("arguments", r#"{"last_name": "Tryout"}"#),
        ("connection", real.as_str()),
        ("real_org", "yes"),
    ];
    // Not acknowledged: the request is shown, nothing is sent.
    let (status, _, html) = a
        .post("/actions/new_contact/try", &write(false, true))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(
        html.contains("Not sent: acme-sandbox is not the dev org"),
        "{html}"
    );
    assert!(
        html.contains("POST /services/data/v59.0/sobjects/Contact/"),
        "{html}"
    );
    assert!(!html.contains("id=\"answer\""), "{html}");
    // Acknowledged, but the write not confirmed: still nothing sent.
    let (status, _, html) = a
        .post("/actions/new_contact/try", &write(true, false))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(
        html.contains("Not sent: this action writes to acme-sandbox"),
        "{html}"
    );
    assert!(
        html.contains("&#34;LastName&#34;: &#34;Tryout&#34;"),
        "{html}"
    );
    assert!(a.audited("action.tried").await.is_empty());
    let (status, _, html) = a.post("/actions/contacts_named/try", &read).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a read runs once acknowledged: {html}"
    );
    let answer = &html[html.find("id=\"answer\"").expect("an answer")..];
    assert!(!answer.contains("Tryout"), "not written: {answer}");

    // Confirmed: written to that org, and found there.
    let (status, _, html) = a.post("/actions/new_contact/try", &write(true, true)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let answer = &html[html.find("id=\"answer\"").expect("an answer")..];
    assert!(answer.contains("&#34;success&#34;: true"), "{answer}");
    let (_, _, html) = a.post("/actions/contacts_named/try", &read).await;
    let answer = &html[html.find("id=\"answer\"").expect("an answer")..];
    assert!(answer.contains("Tryout"), "written: {answer}");
    let tried = a.audited("action.tried").await;
    let writes: Vec<_> = tried
        .iter()
        .filter(|t| t["request"]["action"] == "new_contact")
        .collect();
    assert_eq!(writes.len(), 1, "{tried:?}");
    assert_eq!(writes[0]["request"]["connection_id"], real.as_str());
    assert_eq!(writes[0]["agent"], a.actor().await.as_str());
}
