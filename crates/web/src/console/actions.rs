//! The custom actions page: the workspace's custom actions (its own and the shipped examples),
//! created and edited with the core's check's problems next to the field they concern, deleted
//! after a confirmation, and tried with sample arguments (**Try it**: the rendered request and
//! the org's answer). The operations are the core's: `/v1/actions*`'s
//! ([`callforce_app::workspaces::Workspaces`]) and the try ([`callforce_app::tryit`]).
//!
//! ```text
//! GET  /actions                    the custom actions
//! GET  /actions/new                the form for a new one
//! POST /actions                    name, description, method, endpoint, body, object,
//!                                  parameters, confirmation, destructive -> 303 to it
//! GET  /actions/{name}             its form and the Try it form
//! POST /actions/{name}/definition  the same fields but name: saved
//! POST /actions/{name}/try         arguments, caller_phone, connection, real_org, write
//! GET  /actions/{name}/delete      asks to confirm
//! POST /actions/{name}/delete      the workspace's definition is gone; 303 to /actions
//! ```
//!
//! Try it runs on the embedded dev org by default; another connection reaches a real org, so
//! nothing is sent there until the admin ticks that they know it, and a write only when they
//! also tick that it may be sent (the core enforces both).

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use callforce_actions::{Action, ActionError, CustomAction};
use callforce_app::console::Session;
use callforce_app::tryit::{Held, Tried, TryIt};
use callforce_app::{Error, Kind};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Pages, confirm, failed, field, html, posted, see_other, sentence, signed_in, status_of,
};

/// The routes of the custom actions pages.
pub(super) fn routes() -> axum::Router<Arc<Pages>> {
    axum::Router::new()
        .route("/actions", get(list).post(create))
        .route("/actions/new", get(new))
        .route("/actions/{name}", get(show))
        .route("/actions/{name}/definition", post(save))
        .route("/actions/{name}/try", post(try_it))
        .route("/actions/{name}/delete", get(delete_form).post(delete))
}

/// A custom action as a row of the list.
struct Row {
    name: String,
    method: String,
    endpoint: String,
    example: bool,
}

#[derive(Template)]
#[template(path = "actions.html")]
struct ListPage<'a> {
    csrf: &'a str,
    page: &'a str,
    actions: Vec<Row>,
}

/// The definition form as shown, and the problem of each field.
#[derive(Default)]
struct Form {
    name: String,
    description: String,
    method: String,
    endpoint: String,
    body: String,
    object: String,
    parameters: String,
    confirmation: bool,
    destructive: bool,
    /// The field a problem concerns (`name`, `method`, `endpoint`, `body`, `parameters`...),
    /// and the problem; `None` for the definition as a whole.
    problem: Option<(Option<String>, String)>,
}

impl Form {
    /// The form of a stored definition.
    fn of(a: &CustomAction) -> Self {
        let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
        Self {
            name: a.name.clone(),
            description: a.description.clone(),
            method: a.method.to_ascii_uppercase(),
            endpoint: a.endpoint.clone(),
            body: a.body.as_ref().map(pretty).unwrap_or_default(),
            object: a.object.clone().unwrap_or_default(),
            parameters: pretty(&serde_json::to_value(&a.parameters).unwrap_or_default()),
            confirmation: a.confirmation,
            destructive: a.destructive,
            problem: None,
        }
    }

    /// The form as a post sent it.
    fn sent(body: &[u8]) -> Self {
        let text = |name: &str| field(body, name).unwrap_or_default().trim().to_owned();
        Self {
            name: text("name"),
            description: text("description"),
            method: text("method").to_ascii_uppercase(),
            endpoint: text("endpoint"),
            body: text("body"),
            object: text("object"),
            parameters: text("parameters"),
            confirmation: field(body, "confirmation").as_deref() == Some("yes"),
            destructive: field(body, "destructive").as_deref() == Some("yes"),
            problem: None,
        }
    }

    /// The problem of `field`, when the last save was refused for it.
    fn problem_of(&self, field: &str) -> Option<&str> {
        match &self.problem {
            Some((Some(f), p)) if f == field => Some(p),
            _ => None,
        }
    }

    /// The problem of the definition as a whole.
    fn general_problem(&self) -> Option<&str> {
        match &self.problem {
            Some((None, p)) => Some(p),
            _ => None,
        }
    }

    /// Whether `method` is the one chosen.
    fn is_method(&self, method: &str) -> bool {
        self.method == method
    }

    /// The definition the core checks (its name is the path's), or the field that is not JSON.
    fn definition(&self) -> Result<Value, (String, String)> {
        let json = |name: &str, text: &str, what: &str| {
            serde_json::from_str::<Value>(text).map_err(|e| {
                (
                    name.to_owned(),
                    format!("The {name} is not valid JSON ({e}); write {what}."),
                )
            })
        };
        let mut def = json!({
            "description": self.description,
            "method": self.method,
            "endpoint": self.endpoint,
            "confirmation": self.confirmation,
            "destructive": self.destructive,
        });
        if !self.body.is_empty() {
            def["body"] = json("body", &self.body, "a JSON object, or leave it empty")?;
        }
        if !self.object.is_empty() {
            def["object"] = Value::String(self.object.clone());
        }
        def["parameters"] = if self.parameters.is_empty() {
            json!([])
        } else {
            match json(
                "parameters",
                &self.parameters,
                "a JSON list such as [{\"name\": \"contact_id\", \"location\": \"path\", \"required\": true}]",
            )? {
                list @ Value::Array(_) => list,
                _ => {
                    return Err((
                        "parameters".into(),
                        "The parameters must be a JSON list such as [{\"name\": \"contact_id\", \"location\": \"path\", \"required\": true}].".into(),
                    ));
                }
            }
        };
        Ok(def)
    }
}

/// A connection as the Try it form offers it.
#[derive(Debug, Deserialize)]
struct Conn {
    id: String,
    name: String,
    environment: String,
    status: String,
}

/// The Try it form as sent, and what the try did.
#[derive(Default)]
struct TryForm {
    arguments: String,
    caller_phone: String,
    connection: String,
    real_org: bool,
    write: bool,
    /// The problem of the arguments (not JSON, or what the action refused of them).
    arguments_problem: Option<String>,
    result: Option<TryResult>,
}

/// What a try did, as the page shows it.
struct TryResult {
    connection: String,
    dev_org: bool,
    /// The rendered request: its method, path with query, and body.
    method: String,
    path: String,
    /// The query's parameters as the org reads them (decoded).
    query: Vec<(String, String)>,
    body: Option<String>,
    /// Why it was not sent.
    held: Option<String>,
    /// The answer (pretty JSON), or the error a model would get.
    answer: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "action.html")]
struct ShowPage<'a> {
    csrf: &'a str,
    page: &'a str,
    /// `None` for a new action.
    name: Option<&'a str>,
    form: Form,
    /// Whether the workspace defines it (a shipped example not yet edited: no).
    own: bool,
    writes: bool,
    connections: Vec<Conn>,
    tried: TryForm,
    notice: Option<&'a str>,
}

impl ShowPage<'_> {
    /// Whether connection `id` is the one the Try it form runs on.
    fn is_connection(&self, id: &str) -> bool {
        self.tried.connection == id
    }
}

/// The workspace's custom action `name`, and whether it is the workspace's own (not a shipped
/// example as shipped).
async fn custom(pages: &Pages, s: &Session, name: &str) -> Result<(CustomAction, bool), Error> {
    let view = pages
        .console
        .workspaces()
        .view(s.caller.workspace)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "the console could not read the workspace's actions");
            Error::internal()
        })?;
    match view.catalog.get(name) {
        Some(Action::Custom(c)) => Ok((c.clone(), !is_example(c))),
        _ => Err(Error::new(
            Kind::NotFound,
            "unknown_action",
            format!("this workspace has no custom action '{name}'"),
        )),
    }
}

/// Whether `a` is a shipped example as shipped.
fn is_example(a: &CustomAction) -> bool {
    callforce_actions::custom::examples().contains(a)
}

async fn list(State(pages): State<Arc<Pages>>, headers: HeaderMap) -> Response {
    let s = match signed_in(&pages, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let view = match pages.console.workspaces().view(s.caller.workspace).await {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "the console could not read the workspace's actions");
            return failed(&s, "agents", &Error::internal());
        }
    };
    let actions = view
        .catalog
        .actions()
        .iter()
        .filter_map(|a| match a {
            Action::Custom(c) => Some(Row {
                name: c.name.clone(),
                method: c.method.to_ascii_uppercase(),
                endpoint: c.endpoint.clone(),
                example: is_example(c),
            }),
            Action::Template(_) => None,
        })
        .collect();
    let page = ListPage {
        csrf: &s.csrf,
        page: "agents",
        actions,
    };
    html(StatusCode::OK, page.render())
}

/// The workspace's connections for the Try it form, and the one it runs on by default: the
/// embedded dev org when there is one, else the workspace's default.
async fn connections(pages: &Pages, s: &Session) -> Result<(Vec<Conn>, String), Error> {
    let listed = pages.console.connections().list(&s.caller).await?;
    let default = listed["connections"]
        .as_array()
        .and_then(|l| {
            l.iter()
                .find(|c| c["environment"] == "embedded")
                .or_else(|| l.iter().find(|c| c["default"] == true))
        })
        .and_then(|c| c["id"].as_str())
        .unwrap_or_default()
        .to_owned();
    let conns = serde_json::from_value(listed["connections"].clone()).map_err(|e| {
        tracing::error!(error = %e, "the console could not read a connection");
        Error::internal()
    })?;
    Ok((conns, default))
}

/// The page of a custom action (`name`; `None`: a new one) with `form` and `tried`.
#[allow(clippy::too_many_arguments)]
async fn show_page(
    pages: &Pages,
    s: &Session,
    name: Option<&str>,
    form: Form,
    own: bool,
    writes: bool,
    mut tried: TryForm,
    status: StatusCode,
    notice: Option<&str>,
) -> Response {
    let (connections, default) = match connections(pages, s).await {
        Ok(c) => c,
        Err(e) => return failed(s, "agents", &e),
    };
    if tried.connection.is_empty() {
        tried.connection = default;
    }
    let page = ShowPage {
        csrf: &s.csrf,
        page: "agents",
        name,
        form,
        own,
        writes,
        connections,
        tried,
        notice,
    };
    html(status, page.render())
}

/// Whether trying `a` writes (anything but a read).
fn is_write(a: &CustomAction) -> bool {
    a.effect() != callforce_actions::Effect::Read
}

impl TryForm {
    /// The Try it form as first shown for `a`: its sample arguments, on the dev org.
    fn sample(a: &CustomAction) -> Self {
        Self {
            arguments: sample_arguments(a),
            ..Self::default()
        }
    }
}

/// Sample arguments for `a`: each parameter with an empty value.
fn sample_arguments(a: &CustomAction) -> String {
    let m: serde_json::Map<String, Value> = a
        .parameters
        .iter()
        .map(|p| (p.name.clone(), Value::String(String::new())))
        .collect();
    serde_json::to_string_pretty(&Value::Object(m)).unwrap_or_else(|_| "{}".into())
}

async fn new(State(pages): State<Arc<Pages>>, headers: HeaderMap) -> Response {
    let s = match signed_in(&pages, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let form = Form {
        method: "GET".into(),
        endpoint: "/services/data/v59.0/query/?q=".into(),
        parameters: "[]".into(),
        ..Form::default()
    };
    show_page(
        &pages,
        &s,
        None,
        form,
        false,
        false,
        TryForm::default(),
        StatusCode::OK,
        None,
    )
    .await
}

async fn show(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let s = match signed_in(&pages, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let (a, own) = match custom(&pages, &s, &name).await {
        Ok(found) => found,
        Err(e) => return failed(&s, "agents", &e),
    };
    let tried = TryForm::sample(&a);
    let writes = is_write(&a);
    show_page(
        &pages,
        &s,
        Some(&name),
        Form::of(&a),
        own,
        writes,
        tried,
        StatusCode::OK,
        None,
    )
    .await
}

/// Saves `form` as custom action `name`: `Ok` when saved, else the form with its problem next
/// to the field it concerns (and the status to answer), or a page's error.
async fn put(
    pages: &Pages,
    s: &Session,
    name: &str,
    mut form: Form,
) -> Result<(), Result<(Form, StatusCode), Error>> {
    let def = match form.definition() {
        Ok(d) => d,
        Err((f, p)) => {
            form.problem = Some((Some(f), p));
            return Err(Ok((form, StatusCode::BAD_REQUEST)));
        }
    };
    let body = serde_json::to_vec(&def).unwrap_or_default();
    match pages
        .console
        .workspaces()
        .put_action(&s.caller, name, &body)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind == Kind::Internal => Err(Err(e)),
        Err(e) => {
            let f = match (e.code, e.action.as_ref().and_then(|a| a.field.as_deref())) {
                (_, Some(f)) => Some(f.to_owned()),
                ("builtin_action" | "invalid_name", _) => Some("name".to_owned()),
                // The form's other fields are plain text or free JSON: a definition that does
                // not read is a parameter missing its name or location, or of the wrong shape.
                ("invalid_body", _) => Some("parameters".to_owned()),
                _ => None,
            };
            form.problem = Some((f, sentence(&e.message)));
            Err(Ok((form, status_of(e.kind))))
        }
    }
}

async fn create(State(pages): State<Arc<Pages>>, headers: HeaderMap, body: Bytes) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let mut form = Form::sent(&body);
    let name = form.name.clone();
    // NB: a name already taken is refused, not overwritten: that one is edited on its page.
    match custom(&pages, &s, &name).await {
        Ok(_) => {
            form.problem = Some((
                Some("name".into()),
                format!(
                    "There is already a custom action '{name}'; edit it on its page, or pick another name."
                ),
            ));
            return new_page(&pages, &s, form, StatusCode::CONFLICT).await;
        }
        Err(e) if e.kind == Kind::NotFound => {}
        Err(e) => return failed(&s, "agents", &e),
    }
    if let Err(e) = callforce_app::workspaces::check_name(&name) {
        form.problem = Some((Some("name".into()), sentence(&e.message)));
        return new_page(&pages, &s, form, status_of(e.kind)).await;
    }
    match put(&pages, &s, &name, form).await {
        Ok(()) => see_other(&format!("/actions/{name}"), &[]),
        Err(Ok((form, status))) => new_page(&pages, &s, form, status).await,
        Err(Err(e)) => failed(&s, "agents", &e),
    }
}

/// The form for a new action, as sent, answered with `status`.
async fn new_page(pages: &Pages, s: &Session, form: Form, status: StatusCode) -> Response {
    show_page(
        pages,
        s,
        None,
        form,
        false,
        false,
        TryForm::default(),
        status,
        None,
    )
    .await
}

async fn save(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    // Only an action the workspace has is saved here (a new one is made on /actions/new).
    let (current, own) = match custom(&pages, &s, &name).await {
        Ok(found) => found,
        Err(e) => return failed(&s, "agents", &e),
    };
    let mut form = Form::sent(&body);
    form.name.clone_from(&name);
    let tried = TryForm::sample(&current);
    let writes = is_write(&current);
    match put(&pages, &s, &name, form).await {
        Ok(()) => {
            let (saved, _) = match custom(&pages, &s, &name).await {
                Ok(found) => found,
                Err(e) => return failed(&s, "agents", &e),
            };
            let tried = TryForm::sample(&saved);
            let writes = is_write(&saved);
            show_page(
                &pages,
                &s,
                Some(&name),
                Form::of(&saved),
                true,
                writes,
                tried,
                StatusCode::OK,
                Some("Saved."),
            )
            .await
        }
        Err(Ok((form, status))) => {
            show_page(
                &pages,
                &s,
                Some(&name),
                form,
                own,
                writes,
                tried,
                status,
                None,
            )
            .await
        }
        Err(Err(e)) => failed(&s, "agents", &e),
    }
}

/// The path of a rendered request with its query string.
fn path_with_query(request: &Value) -> String {
    let path = request["path"].as_str().unwrap_or_default().to_owned();
    let pairs: Vec<(String, String)> =
        serde_json::from_value(request["query"].clone()).unwrap_or_default();
    if pairs.is_empty() {
        return path;
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{path}?{query}")
}

/// An action's error as a sentence, with the field it names.
fn action_problem(e: &ActionError) -> String {
    match e.field.as_deref() {
        Some(f) => format!("{} ({f})", sentence(&e.message)),
        None => sentence(&e.message),
    }
}

/// What a try did, as the page shows it.
fn result_of(t: Tried) -> (TryResult, Option<String>) {
    let mut problem = None;
    let (method, path, query, body) = match &t.request {
        Ok(r) => (
            r["method"].as_str().unwrap_or_default().to_owned(),
            path_with_query(r),
            serde_json::from_value(r["query"].clone()).unwrap_or_default(),
            r.get("body")
                .filter(|b| !b.is_null())
                .map(|b| serde_json::to_string_pretty(b).unwrap_or_default()),
        ),
        Err(e) => {
            problem = Some(action_problem(e));
            (String::new(), String::new(), Vec::new(), None)
        }
    };
    let held = t.held.map(|h| {
        match h {
            Held::RealOrg => format!(
                "Not sent: {} is not the dev org, it reaches a real org. Tick \"I know this connection reaches a real org\" and run it again.",
                t.on.name
            ),
            Held::Write => format!(
                "Not sent: this action writes to {}, a real org. Tick \"Send this write to the real org\" and run it again.",
                t.on.name
            ),
        }
    });
    let (answer, error) = match &t.answer {
        Some(Ok(v)) => (
            Some(serde_json::to_string_pretty(v).unwrap_or_default()),
            None,
        ),
        Some(Err(e)) => (None, Some(action_problem(e))),
        None => (None, None),
    };
    let result = TryResult {
        dev_org: t.on.is_dev_org(),
        connection: t.on.name,
        method,
        path,
        query,
        body,
        held,
        answer,
        error,
    };
    (result, problem)
}

async fn try_it(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let (a, own) = match custom(&pages, &s, &name).await {
        Ok(found) => found,
        Err(e) => return failed(&s, "agents", &e),
    };
    let writes = is_write(&a);
    let text = |f: &str| field(&body, f).unwrap_or_default().trim().to_owned();
    let mut tried = TryForm {
        arguments: text("arguments"),
        caller_phone: text("caller_phone"),
        connection: text("connection"),
        real_org: field(&body, "real_org").as_deref() == Some("yes"),
        write: field(&body, "write").as_deref() == Some("yes"),
        ..TryForm::default()
    };
    let arguments = if tried.arguments.is_empty() {
        Ok(json!({}))
    } else {
        serde_json::from_str::<Value>(&tried.arguments)
    };
    let arguments = match arguments {
        Ok(v) => v,
        Err(e) => {
            tried.arguments_problem = Some(format!(
                "The arguments are not valid JSON ({e}); write a JSON object such as {{\"search_term\": \"Johnson\"}}. Nothing was sent."
            ));
            return show_page(
                &pages,
                &s,
                Some(&name),
                Form::of(&a),
                own,
                writes,
                tried,
                StatusCode::BAD_REQUEST,
                None,
            )
            .await;
        }
    };
    let t = TryIt {
        action: name.clone(),
        arguments,
        connection: Some(tried.connection.clone()).filter(|c| !c.is_empty()),
        caller_phone: Some(tried.caller_phone.clone()).filter(|p| !p.is_empty()),
        real_org_acknowledged: tried.real_org,
        write_confirmed: tried.write,
    };
    let status = match pages.console.try_action(&s.caller, t).await {
        Ok(done) => {
            let (result, problem) = result_of(done);
            let status = if problem.is_some() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else if result.held.is_some() {
                StatusCode::CONFLICT
            } else {
                StatusCode::OK
            };
            tried.arguments_problem = problem;
            tried.result = Some(result);
            status
        }
        Err(e) if e.kind == Kind::Internal || e.code == "unknown_action" => {
            return failed(&s, "agents", &e);
        }
        Err(e) => {
            tried.arguments_problem = Some(sentence(&e.message));
            status_of(e.kind)
        }
    };
    show_page(
        &pages,
        &s,
        Some(&name),
        Form::of(&a),
        own,
        writes,
        tried,
        status,
        None,
    )
    .await
}

async fn delete_form(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let s = match signed_in(&pages, &headers).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    match custom(&pages, &s, &name).await {
        Ok((_, true)) => {}
        Ok((_, false)) => {
            let e = Error::new(
                Kind::NotFound,
                "unknown_action",
                format!("'{name}' is a shipped example: it cannot be deleted, only edited"),
            );
            return failed(&s, "agents", &e);
        }
        Err(e) => return failed(&s, "agents", &e),
    }
    let question = format!(
        "Delete the custom action {name}? Models stop seeing it; agents that list it must be saved again without it."
    );
    confirm(
        &s,
        "agents",
        "Delete a custom action",
        &question,
        &format!("/actions/{name}/delete"),
        "Delete",
        &format!("/actions/{name}"),
    )
}

async fn delete(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    if field(&body, "confirm").as_deref() != Some("yes") {
        return see_other(&format!("/actions/{name}/delete"), &[]);
    }
    match pages
        .console
        .workspaces()
        .delete_action(&s.caller, &name)
        .await
    {
        Ok(_) => see_other("/actions", &[]),
        Err(e) => failed(&s, "agents", &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_that_is_not_json_names_its_field() {
        let form = |body: &str, parameters: &str| Form {
            method: "POST".into(),
            endpoint: "/services/data/v59.0/sobjects/Case/".into(),
            body: body.into(),
            parameters: parameters.into(),
            ..Form::default()
        };
        for (body, parameters, want) in [
            ("", "", None),
            ("{\"Subject\": \"{{s}}\"}", "[]", None),
            ("{\"Subject\": ", "[]", Some("body")),
            ("", "[{\"name\": ", Some("parameters")),
            ("", "{\"name\": \"s\"}", Some("parameters")),
        ] {
            let got = form(body, parameters).definition();
            assert_eq!(
                got.as_ref().err().map(|(f, _)| f.as_str()),
                want,
                "{body} {parameters}: {got:?}"
            );
        }
        let def = form("", "").definition().expect("valid");
        assert_eq!(def["parameters"], json!([]));
        assert!(def.get("body").is_none() && def.get("object").is_none());
    }

    #[test]
    fn a_rendered_request_shows_its_query() {
        for (request, want) in [
            (
                json!({"path": "/services/data/v59.0/sobjects/Case/"}),
                "/services/data/v59.0/sobjects/Case/",
            ),
            (
                json!({"path": "/services/data/v59.0/query/", "query": [["q", "SELECT Id FROM Contact"]]}),
                "/services/data/v59.0/query/?q=SELECT+Id+FROM+Contact",
            ),
        ] {
            assert_eq!(path_with_query(&request), want);
        }
    }
}
