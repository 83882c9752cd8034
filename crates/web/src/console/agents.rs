//! The agents page: the workspace's agents (created by name, deleted after a confirmation) and
//! one agent's policy: which actions it may run (the templates grouped as the catalog groups
//! them, the generic and custom actions after them), the objects it may touch and where it
//! asks the caller to confirm; with the tools a model of the agent sees and their size. The
//! operations are the core's ([`callforce_app::workspaces::Workspaces`]), the ones
//! `/v1/agents*` and `/v1/tools?agent=` ask.
//!
//! ```text
//! GET  /agents                       the agents and the form to create one
//! POST /agents                       name -> a new agent that may run nothing yet; 303 to it
//! GET  /agents/{name}                its policy form and the tools a model sees
//! POST /agents/{name}/policy         description, all_actions, action (repeated), objects,
//!                                    confirm_writes, say, confirm.{action} (default|ask|skip)
//! GET  /agents/{name}/delete         asks to confirm
//! POST /agents/{name}/delete         the agent is gone; 303 to /agents
//! ```

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use callforce_actions::{Action, Agent, Effect, Tool};
use callforce_app::console::Session;
use callforce_app::{Error, Kind};
use serde::Deserialize;

use super::{
    Pages, confirm, failed, field, html, posted, see_other, sentence, signed_in, status_of, time,
};

/// The routes of the agents pages.
pub(super) fn routes() -> axum::Router<Arc<Pages>> {
    axum::Router::new()
        .route("/agents", get(list).post(create))
        .route("/agents/{name}", get(show))
        .route("/agents/{name}/policy", axum::routing::post(save))
        .route("/agents/{name}/delete", get(delete_form).post(delete))
}

/// An agent as the core stores it.
#[derive(Debug, Deserialize)]
struct Stored {
    name: String,
    definition: serde_json::Value,
    updated_at: chrono::DateTime<chrono::Utc>,
}

/// An agent as a row of the list.
struct Row {
    name: String,
    description: String,
    actions: String,
    updated_at: String,
}

#[derive(Template)]
#[template(path = "agents.html")]
struct ListPage<'a> {
    csrf: &'a str,
    page: &'a str,
    agents: Vec<Row>,
    name: String,
    problem: Option<String>,
}

/// One action of the catalog as a switch of the policy form.
struct Switch {
    name: String,
    effect: &'static str,
    description: String,
    enabled: bool,
    /// `default`, `ask` or `skip`.
    confirm: &'static str,
    /// Whether it asks for confirmation when the agent says nothing.
    asks_by_default: bool,
}

/// The actions of one catalog group.
struct Group {
    name: String,
    /// An id for the group's heading.
    id: String,
    switches: Vec<Switch>,
}

/// The policy form as shown: stored, or as sent when refused; and the problem of each field.
#[derive(Default)]
struct Policy {
    description: String,
    all_actions: bool,
    objects: String,
    confirm_writes: bool,
    /// Whether results carry `say`.
    say: bool,
    /// What is wrong with the set of actions, the objects, the confirmation lists, the rest.
    actions_problem: Option<String>,
    objects_problem: Option<String>,
    confirm_problem: Option<String>,
    problem: Option<String>,
}

/// A tool a model sees.
struct ToolRow {
    name: String,
    description: String,
}

#[derive(Template)]
#[template(path = "agent.html")]
struct ShowPage<'a> {
    csrf: &'a str,
    page: &'a str,
    name: &'a str,
    updated_at: String,
    policy: Policy,
    groups: Vec<Group>,
    tools: Vec<ToolRow>,
    tokens: usize,
    bytes: usize,
    notice: Option<&'a str>,
}

/// A core answer read in its own shape (a mismatch is a bug).
fn read<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, Error> {
    serde_json::from_value(v).map_err(|e| {
        tracing::error!(error = %e, "the console could not read an agent");
        Error::internal()
    })
}

/// The size of `tools` as a model is sent them (JSON, in bytes) and about how many tokens that
/// is: one per 4 bytes, rounded up, the usual rule of thumb for English text and JSON with
/// the tokenizers of current models (the exact count depends on the model's tokenizer).
fn size_of(tools: &[Tool]) -> (usize, usize) {
    let bytes = serde_json::to_string(tools).map_or(0, |s| s.len());
    (bytes, bytes.div_ceil(4))
}

fn effect(e: Effect) -> &'static str {
    match e {
        Effect::Read => "read",
        Effect::Write => "write",
        Effect::Destroy => "delete",
    }
}

/// The first sentence of a description (the whole is in the tool list below the form).
fn first_sentence(s: &str) -> String {
    match s.find(". ") {
        Some(i) => s[..=i].to_owned(),
        None => s.to_owned(),
    }
}

/// The catalog's actions as switches of `agent`, grouped: the templates by their group, in
/// catalog order, then the generic actions and the custom ones.
fn groups(catalog: &callforce_actions::Catalog, agent: &Agent) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for a in catalog.actions() {
        let group = match a {
            Action::Template(t) if t.group == "Generic" => "Generic actions".to_owned(),
            Action::Template(t) => t.group.clone(),
            Action::Custom(_) => "Custom actions".to_owned(),
        };
        let name = a.name().to_owned();
        let confirm = if agent.skip_confirmation.contains(&name) {
            "skip"
        } else if agent.confirm.contains(&name) {
            "ask"
        } else {
            "default"
        };
        let switch = Switch {
            effect: effect(a.effect()),
            description: first_sentence(&a.tool().description),
            // Every action allowed (no list): every switch on, so unticking "every action"
            // keeps them as they were.
            enabled: agent.enabled(&name),
            confirm,
            asks_by_default: callforce_actions::agent::default_needs_confirmation(a),
            name,
        };
        match groups.iter_mut().find(|g| g.name == group) {
            Some(g) => g.switches.push(switch),
            None => groups.push(Group {
                id: format!(
                    "group-{}",
                    group
                        .chars()
                        .filter(char::is_ascii_alphanumeric)
                        .collect::<String>()
                        .to_ascii_lowercase()
                ),
                name: group,
                switches: vec![switch],
            }),
        }
    }
    groups
}

async fn list_page(
    pages: &Pages,
    s: &Session,
    name: String,
    problem: Option<String>,
    status: StatusCode,
) -> Response {
    let listed = pages.console.workspaces().agents(s.caller.workspace).await;
    let agents = match listed.and_then(|v| read::<Vec<Stored>>(v["agents"].clone())) {
        Ok(a) => a,
        Err(e) => return failed(s, "agents", &e),
    };
    let agents = agents
        .into_iter()
        .map(|a| {
            let agent: Agent = serde_json::from_value(a.definition).unwrap_or_default();
            Row {
                description: agent.description.clone().unwrap_or_default(),
                actions: match &agent.actions {
                    None => "every action".to_owned(),
                    Some(l) if l.len() == 1 => "1 action".to_owned(),
                    Some(l) => format!("{} actions", l.len()),
                },
                updated_at: time(a.updated_at),
                name: a.name,
            }
        })
        .collect();
    let page = ListPage {
        csrf: &s.csrf,
        page: "agents",
        agents,
        name,
        problem,
    };
    html(status, page.render())
}

async fn list(State(pages): State<Arc<Pages>>, headers: HeaderMap) -> Response {
    match signed_in(&pages, &headers).await {
        Ok(s) => list_page(&pages, &s, String::new(), None, StatusCode::OK).await,
        Err(resp) => resp,
    }
}

async fn create(State(pages): State<Arc<Pages>>, headers: HeaderMap, body: Bytes) -> Response {
    let s = match posted(&pages, &headers, &body).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let name = field(&body, "name").unwrap_or_default().trim().to_owned();
    let workspaces = pages.console.workspaces();
    // NB: a name already taken is refused, not overwritten: saving goes through the agent's page.
    let created = match workspaces.agent(s.caller.workspace, &name).await {
        Ok(_) => Err(Error::new(
            Kind::Conflict,
            "agent_exists",
            format!("there is already an agent '{name}'; pick another name or edit it"),
        )),
        Err(e) if e.kind == Kind::NotFound => {
            workspaces
                .put_agent(&s.caller, &name, br#"{"actions": []}"#)
                .await
        }
        Err(e) => Err(e),
    };
    match created {
        Ok(_) => see_other(&format!("/agents/{name}"), &[]),
        Err(e) if e.kind == Kind::Internal => failed(&s, "agents", &e),
        Err(e) => {
            let problem = Some(sentence(&e.message));
            list_page(&pages, &s, name, problem, status_of(e.kind)).await
        }
    }
}

/// The stored agent `name` of the session's workspace.
async fn stored(pages: &Pages, s: &Session, name: &str) -> Result<(Agent, String), Error> {
    let v = pages
        .console
        .workspaces()
        .agent(s.caller.workspace, name)
        .await?;
    let stored: Stored = read(v)?;
    Ok((read(stored.definition)?, time(stored.updated_at)))
}

/// One agent's page: `typed` (the policy as sent, and the form's state) replaces the stored one
/// when a save was refused.
async fn show_page(
    pages: &Pages,
    s: &Session,
    name: &str,
    status: StatusCode,
    typed: Option<(Agent, Policy)>,
    notice: Option<&str>,
) -> Response {
    let (saved, updated_at) = match stored(pages, s, name).await {
        Ok(a) => a,
        Err(e) => return failed(s, "agents", &e),
    };
    let view = match pages.console.workspaces().view(s.caller.workspace).await {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "the console could not read the workspace's actions");
            return failed(s, "agents", &Error::internal());
        }
    };
    let tools = match pages.console.tools(&s.caller, name).await {
        Ok(t) => t,
        Err(e) => return failed(s, "agents", &e),
    };
    let (bytes, tokens) = size_of(&tools);
    let (agent, policy) = typed.unwrap_or_else(|| {
        let policy = Policy {
            description: saved.description.clone().unwrap_or_default(),
            all_actions: saved.actions.is_none(),
            objects: saved.objects.clone().unwrap_or_default().join(", "),
            confirm_writes: saved.confirm_writes,
            say: saved.say,
            ..Policy::default()
        };
        (saved, policy)
    });
    let page = ShowPage {
        csrf: &s.csrf,
        page: "agents",
        name,
        updated_at,
        groups: groups(&view.catalog, &agent),
        policy,
        tools: tools
            .into_iter()
            .map(|t| ToolRow {
                name: t.name,
                description: t.description,
            })
            .collect(),
        tokens,
        bytes,
        notice,
    };
    html(status, page.render())
}

async fn show(
    State(pages): State<Arc<Pages>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    match signed_in(&pages, &headers).await {
        Ok(s) => show_page(&pages, &s, &name, StatusCode::OK, None, None).await,
        Err(resp) => resp,
    }
}

/// The policy a form sends, and the form as typed.
fn policy_of(body: &[u8]) -> (Agent, Policy) {
    let mut agent = Agent::default();
    let mut policy = Policy::default();
    let mut actions = Vec::new();
    for (k, v) in form_urlencoded::parse(body) {
        match (k.as_ref(), v.as_ref()) {
            ("description", d) => policy.description = d.trim().to_owned(),
            ("all_actions", "yes") => policy.all_actions = true,
            ("action", a) => actions.push(a.to_owned()),
            ("objects", o) => policy.objects = o.trim().to_owned(),
            ("confirm_writes", "yes") => policy.confirm_writes = true,
            ("say", "yes") => policy.say = true,
            (k, "ask") if k.starts_with("confirm.") => agent.confirm.push(k[8..].to_owned()),
            (k, "skip") if k.starts_with("confirm.") => {
                agent.skip_confirmation.push(k[8..].to_owned());
            }
            _ => {}
        }
    }
    agent.description = Some(policy.description.clone()).filter(|d| !d.is_empty());
    agent.actions = (!policy.all_actions).then_some(actions);
    let objects: Vec<String> = policy
        .objects
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|o| !o.is_empty())
        .map(str::to_owned)
        .collect();
    agent.objects = (!objects.is_empty()).then_some(objects);
    agent.confirm_writes = policy.confirm_writes;
    agent.say = policy.say;
    (agent, policy)
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
    // Only an agent that exists is saved here (a new one is made by its name on /agents).
    let before = match stored(&pages, &s, &name).await {
        Ok((before, _)) => before,
        Err(e) => return failed(&s, "agents", &e),
    };
    let (mut agent, mut policy) = policy_of(&body);
    // NB: the form does not show the time zone (it is set through the API); a save keeps it.
    agent.time_zone = before.time_zone;
    let json = serde_json::to_vec(&agent).unwrap_or_default();
    match pages
        .console
        .workspaces()
        .put_agent(&s.caller, &name, &json)
        .await
    {
        Ok(_) => {
            show_page(
                &pages,
                &s,
                &name,
                StatusCode::OK,
                None,
                Some("Saved: the tools below are what a model of this agent sees now."),
            )
            .await
        }
        Err(e) if e.kind == Kind::Internal || e.kind == Kind::NotFound => failed(&s, "agents", &e),
        Err(e) => {
            let message = Some(sentence(&e.message));
            match e.action.as_ref().and_then(|a| a.field.as_deref()) {
                Some("actions") => policy.actions_problem = message,
                Some("objects") => policy.objects_problem = message,
                Some("confirm" | "skip_confirmation") => policy.confirm_problem = message,
                _ => policy.problem = message,
            }
            show_page(
                &pages,
                &s,
                &name,
                status_of(e.kind),
                Some((agent, policy)),
                None,
            )
            .await
        }
    }
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
    if let Err(e) = stored(&pages, &s, &name).await {
        return failed(&s, "agents", &e);
    }
    let question = format!(
        "Delete the agent {name}? Calls that name it are refused from then on (unknown agent)."
    );
    confirm(
        &s,
        "agents",
        "Delete an agent",
        &question,
        &format!("/agents/{name}/delete"),
        "Delete",
        &format!("/agents/{name}"),
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
        return see_other(&format!("/agents/{name}/delete"), &[]);
    }
    match pages
        .console
        .workspaces()
        .delete_agent(&s.caller, &name)
        .await
    {
        Ok(_) => see_other("/agents", &[]),
        Err(e) => failed(&s, "agents", &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_form_becomes_an_agent() {
        let body = b"description=+Front+desk+&action=search_contact&action=create_case\
            &objects=Contact%2C+Case+Lead&confirm.create_case=ask&confirm.delete_case=skip\
            &confirm.search_case=default&confirm_writes=yes";
        let (agent, policy) = policy_of(body);
        assert_eq!(agent.description.as_deref(), Some("Front desk"));
        assert_eq!(
            agent.actions,
            Some(vec!["search_contact".into(), "create_case".into()])
        );
        assert_eq!(
            agent.objects,
            Some(vec!["Contact".into(), "Case".into(), "Lead".into()])
        );
        assert_eq!(agent.confirm, ["create_case"]);
        assert_eq!(agent.skip_confirmation, ["delete_case"]);
        assert!(agent.confirm_writes && policy.confirm_writes);
        let (all, _) = policy_of(b"all_actions=yes&action=search_contact&objects=");
        assert_eq!((all.actions, all.objects), (None, None));
        let (none, _) = policy_of(b"");
        assert_eq!(none.actions, Some(vec![]));
        // A box left unticked is off: `say` is sent only when ticked.
        assert!(!agent.say && !none.say);
        let (speaks, policy) = policy_of(b"all_actions=yes&say=yes");
        assert!(speaks.say && policy.say);
    }

    #[test]
    fn tools_are_sized_in_bytes_and_about_a_token_per_four() {
        let tool = Tool {
            name: "a".into(),
            description: "b".into(),
            parameters: serde_json::json!({}),
        };
        let (bytes, tokens) = size_of(std::slice::from_ref(&tool));
        assert_eq!(
            bytes,
            r#"[{"name":"a","description":"b","parameters":{}}]"#.len()
        );
        assert_eq!(tokens, bytes.div_ceil(4));
        assert_eq!(size_of(&[]), (2, 1));
    }

    #[test]
    fn the_templates_are_grouped_as_the_catalog_groups_them() {
        let c = callforce_actions::Catalog::with_examples();
        let agent = Agent {
            actions: Some(vec!["search_case".into()]),
            confirm: vec!["search_case".into()],
            ..Agent::default()
        };
        let g = groups(&c, &agent);
        let names: Vec<&str> = g.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Contacts",
                "Leads",
                "Accounts",
                "Opportunities",
                "Cases",
                "Tasks",
                "Events",
                "Notes",
                "Knowledge",
                "Users & Queues",
                "Products",
                "Campaigns",
                "Direct Lookups",
                "Generic actions",
                "Custom actions"
            ]
        );
        let templates: usize = g[..13].iter().map(|g| g.switches.len()).sum();
        assert_eq!(templates, callforce_actions::TEMPLATE_COUNT);
        let cases = &g[4].switches;
        let search = cases.iter().find(|s| s.name == "search_case").expect("one");
        assert!(search.enabled && search.confirm == "ask");
        let delete = cases.iter().find(|s| s.name == "delete_case").expect("one");
        assert!(!delete.enabled && delete.asks_by_default && delete.effect == "delete");
        // No list: every action allowed, every switch on.
        let all = groups(&c, &Agent::default());
        assert!(all.iter().flat_map(|g| &g.switches).all(|s| s.enabled));
    }
}
