//! Custom actions: an endpoint, a method and an optional JSON body, all Liquid templates, with
//! declared parameters. The shipped examples are configuration (`custom_examples.json`).

use std::collections::HashSet;

use callforce_client::request::RAW_PATH_ROOTS;
use callforce_client::{ApiVersion, Connection, Method, RawRequest};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::compact::{self, MAX_LIST};
use crate::error::{ActionError, ErrorCode};
use crate::template::{Dest, Templating};
use crate::tool::{Effect, Tool};

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// A path segment of the endpoint.
    Path,
    /// The query string (for a SOQL endpoint, inside `q`).
    Query,
    /// The JSON body.
    Body,
}

/// One declared parameter of a custom action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Param {
    /// Its name, as the template uses it.
    pub name: String,
    /// Where it goes.
    pub location: Location,
    /// JSON Schema type (`string` by default).
    #[serde(default = "string_type", rename = "type")]
    pub type_: String,
    /// Whether the action fails without it (an optional one left out is removed).
    #[serde(default)]
    pub required: bool,
    /// For the model.
    #[serde(default)]
    pub description: String,
}

fn string_type() -> String {
    "string".into()
}

/// A custom action from configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomAction {
    /// The tool name (unique in a catalog).
    pub name: String,
    /// For the model.
    pub description: String,
    /// `GET`, `POST`, `PATCH`, `PUT` or `DELETE`.
    pub method: String,
    /// The endpoint template (`/services/data/v59.0/query/?q=...{{caller_phone}}...`).
    pub endpoint: String,
    /// The JSON body template.
    #[serde(default)]
    pub body: Option<Value>,
    /// The object it works on, so its result becomes the session's last one of that object.
    #[serde(default)]
    pub object: Option<String>,
    /// The parameters a model gives.
    #[serde(default)]
    pub parameters: Vec<Param>,
    /// Whether a write needs confirmation first.
    #[serde(default)]
    pub confirmation: bool,
    /// Whether it deletes.
    #[serde(default)]
    pub destructive: bool,
}

impl CustomAction {
    /// Read, write or destroy, from the flags and the method.
    pub fn effect(&self) -> Effect {
        if self.destructive || self.method.eq_ignore_ascii_case("DELETE") {
            Effect::Destroy
        } else if self.method.eq_ignore_ascii_case("GET") {
            Effect::Read
        } else {
            Effect::Write
        }
    }

    /// Checks the action before it is added: a name usable as a tool name, a known method, an
    /// endpoint under `/services/data/`, unique parameter names, templates that parse.
    ///
    /// # Errors
    /// A template error saying what is wrong, its `field` naming the part of the definition
    /// (`name`, `method`, `endpoint`, `parameters`, `body`).
    pub fn validate(&self) -> Result<(), ActionError> {
        let ident = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if !ident(&self.name) {
            return Err(ActionError::template(format!(
                "'{}' is not a valid action name (letters, digits, _)",
                self.name
            ))
            .field("name"));
        }
        if !["GET", "POST", "PATCH", "PUT", "DELETE"]
            .contains(&self.method.to_ascii_uppercase().as_str())
        {
            return Err(
                ActionError::template(format!("unsupported method {}", self.method))
                    .field("method"),
            );
        }
        if !RAW_PATH_ROOTS.iter().any(|r| self.endpoint.starts_with(r)) {
            return Err(ActionError::template(format!(
                "the endpoint must start with one of {}",
                RAW_PATH_ROOTS.join(", ")
            ))
            .field("endpoint"));
        }
        // The literal part must not climb out of its root either (the rendered path is
        // checked again at every call).
        let literal = self.endpoint.split(['?', '{']).next().unwrap_or_default();
        callforce_client::request::raw_path(literal, callforce_client::ApiVersion::DEFAULT)
            .map_err(|e| ActionError::template(format!("the endpoint: {e}")).field("endpoint"))?;
        let mut seen = HashSet::new();
        for p in &self.parameters {
            if !ident(&p.name) || !seen.insert(p.name.as_str()) {
                return Err(ActionError::template(format!(
                    "parameter '{}' is invalid or repeated",
                    p.name
                ))
                .field("parameters"));
            }
        }
        let t = Templating::new();
        crate::template::check(&t, &self.endpoint).map_err(|e| e.field("endpoint"))?;
        fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
            match v {
                Value::String(s) => out.push(s),
                Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
                Value::Object(m) => m.values().for_each(|v| strings(v, out)),
                _ => {}
            }
        }
        let mut body = Vec::new();
        if let Some(b) = &self.body {
            strings(b, &mut body);
        }
        body.into_iter()
            .try_for_each(|s| crate::template::check(&t, s))
            .map_err(|e| e.field("body"))
    }

    /// The object, if declared.
    pub fn object(&self) -> Option<String> {
        self.object.clone()
    }

    /// The function-calling tool.
    pub fn tool(&self) -> Tool {
        let mut props = Map::new();
        for p in &self.parameters {
            let mut s = Map::new();
            s.insert("type".into(), Value::String(p.type_.clone()));
            if !p.description.is_empty() {
                s.insert("description".into(), Value::String(p.description.clone()));
            }
            props.insert(p.name.clone(), Value::Object(s));
        }
        let required: Vec<&str> = self
            .parameters
            .iter()
            .filter(|p| p.required)
            .map(|p| p.name.as_str())
            .collect();
        let mut schema =
            json!({"type": "object", "properties": props, "additionalProperties": false});
        if !required.is_empty() {
            schema["required"] = json!(required);
        }
        Tool {
            name: self.name.clone(),
            description: self.description.clone(),
            parameters: schema,
        }
    }
}

/// The shipped custom examples: `identify_customer`, `lookup_contact_with_cases`,
/// `create_contact_with_phone`, `update_contact`, `search_contacts_advanced`.
pub fn examples() -> Vec<CustomAction> {
    // NB: the file is compiled in and checked by the tests.
    serde_json::from_str(include_str!("custom_examples.json")).unwrap_or_default()
}

/// The request `action` sends with `args` in a call whose template context is `session`.
///
/// # Errors
/// Unknown or missing parameters, template problems.
pub(crate) fn render(
    action: &CustomAction,
    templating: &Templating,
    args: Map<String, Value>,
    session: &Map<String, Value>,
    version: ApiVersion,
) -> Result<RawRequest, ActionError> {
    let ctx = bind(action, args, session)?;
    let optional: HashSet<String> = action
        .parameters
        .iter()
        .filter(|p| !p.required)
        .map(|p| p.name.clone())
        .collect();
    let method = match action.method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PATCH" => Method::Patch,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        m => return Err(ActionError::template(format!("unsupported method {m}"))),
    };
    let (path_tpl, query_tpl) = action
        .endpoint
        .split_once('?')
        .unwrap_or((&action.endpoint, ""));
    let path = templating.render(path_tpl, Dest::PathSegment, &ctx)?;
    let (path, _) = crate::raw::split_path(&path, version)?;
    let mut query = Vec::new();
    for (k, v) in form_urlencoded::parse(query_tpl.as_bytes()) {
        let v = if k == "q" {
            templating.render_soql(&v, &ctx, &optional)?
        } else {
            match templating.render(&v, Dest::Text, &ctx) {
                Ok(v) => v,
                Err(e)
                    if e.code == ErrorCode::MissingRequired
                        && e.missing.iter().all(|m| optional.contains(m)) =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            }
        };
        query.push((k.into_owned(), v));
    }
    let body = match &action.body {
        Some(b) => templating.render_body(b, &ctx, &optional)?,
        None => None,
    };
    tracing::debug!(action = %action.name, %path, "custom action");
    let request = RawRequest {
        method,
        path,
        query,
        headers: vec![],
        body,
    };
    // What the client would refuse to send is refused before a preview or a write exists.
    callforce_client::Request::Raw(request.clone()).to_http(version)?;
    Ok(request)
}

/// Sends a rendered custom action and compacts its answer.
///
/// # Errors
/// Salesforce's refusal.
pub(crate) async fn send(conn: &Connection, request: RawRequest) -> Result<Value, ActionError> {
    let r = conn.raw(request).await?;
    Ok(present(r.json().unwrap_or(Value::Null)))
}

/// What the model reads of a custom action's answer: `{"success": true}` for no body, query
/// records compacted, a save result as its id.
pub(crate) fn present(body: Value) -> Value {
    match body {
        Value::Null => json!({"success": true}),
        Value::Object(mut m) if m.contains_key("records") => {
            let total = m.get("totalSize").and_then(Value::as_u64).unwrap_or(0);
            let recs = match m.remove("records") {
                Some(Value::Array(a)) => a,
                _ => Vec::new(),
            };
            compact::records(recs, total, MAX_LIST, false)
        }
        Value::Object(m) if m.get("success") == Some(&Value::Bool(true)) => {
            json!({"id": m.get("id"), "success": true})
        }
        other => compact::compact(other, MAX_LIST, false),
    }
}

/// `e`, a refused `value` of a field of `action`'s rendered body, naming instead the parameter
/// the model gave it through: the one whose placeholder alone is that field's value in the body
/// template (`"LastName": "{{last_name}}"`) and whose argument in `args` is `value`. Else `e`
/// as it is.
pub(crate) fn name_parameter(
    action: &CustomAction,
    args: &Map<String, Value>,
    value: Option<&Value>,
    mut e: ActionError,
) -> ActionError {
    fn placeholders<'a>(v: &'a Value, field: &str, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let inner = v.as_str().and_then(|s| s.trim().strip_prefix("{{"));
                    match inner.and_then(|i| i.strip_suffix("}}")) {
                        Some(name) if k == field => out.push(name.trim()),
                        _ => placeholders(v, field, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| placeholders(v, field, out)),
            _ => {}
        }
    }
    let (Some(field), Some(body), Some(value)) = (e.field.as_deref(), &action.body, value) else {
        return e;
    };
    let mut found = Vec::new();
    placeholders(body, field, &mut found);
    let given = |name: &str| match args.get(name) {
        Some(Value::String(s)) => value.as_str() == Some(s.as_str()),
        Some(v) => v == value || value.as_str() == Some(v.to_string().as_str()),
        None => false,
    };
    found.retain(|name| action.parameters.iter().any(|p| p.name == *name) && given(name));
    found.sort_unstable();
    found.dedup();
    if let [name] = found.as_slice() {
        e.field = Some((*name).into());
    }
    e
}

/// The template context of `action` with `args` over the `session` context, after checking
/// the arguments: unknown names, types, required parameters.
///
/// # Errors
/// What is wrong with the arguments.
pub(crate) fn bind(
    action: &CustomAction,
    args: Map<String, Value>,
    session: &Map<String, Value>,
) -> Result<Map<String, Value>, ActionError> {
    let mut ctx = session.clone();
    for (k, v) in args {
        if v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty()) {
            continue;
        }
        let Some(p) = action.parameters.iter().find(|p| p.name == k) else {
            let names: Vec<String> = action.parameters.iter().map(|p| p.name.clone()).collect();
            let mut e = ActionError::not_one_of(
                ErrorCode::InvalidArgument,
                &k,
                &format!("parameter of {}", action.name),
                &k,
                &names,
            );
            if names.is_empty() {
                e.message = format!("{} takes no parameters", action.name).into();
            }
            return Err(e);
        };
        let v = match (p.type_.as_str(), v) {
            ("string", Value::String(s)) => Value::String(s),
            ("string", v @ (Value::Number(_) | Value::Bool(_))) => Value::String(v.to_string()),
            ("string", _) => return Err(ActionError::invalid(&k, format!("{k} must be a string"))),
            (_, v) => v,
        };
        // NB: arguments shadow call variables and earlier results of the same name.
        ctx.insert(k, v);
    }
    let missing: Vec<String> = action
        .parameters
        .iter()
        .filter(|p| p.required && !ctx.contains_key(&p.name))
        .map(|p| p.name.clone())
        .collect();
    if !missing.is_empty() {
        return Err(ActionError::missing(&action.name, missing));
    }
    Ok(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_examples_load() {
        let ex = examples();
        let names: Vec<&str> = ex.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "identify_customer",
                "lookup_contact_with_cases",
                "create_contact_with_phone",
                "update_contact",
                "search_contacts_advanced"
            ]
        );
        assert_eq!(ex[0].effect(), Effect::Read);
        assert_eq!(ex[3].effect(), Effect::Write);
        assert_eq!(ex[3].tool().parameters["required"], json!(["contact_id"]));
        for a in &ex {
            a.validate().expect(&a.name);
        }
    }

    #[test]
    fn invalid_custom_actions_are_refused() {
        let good = examples().remove(3);
        let cases: Vec<(&str, CustomAction)> = vec![
            (
                "name",
                CustomAction {
                    name: "bad name!".into(),
                    ..good.clone()
                },
            ),
            (
                "method",
                CustomAction {
                    method: "TRACE".into(),
                    ..good.clone()
                },
            ),
            (
                "endpoint",
                CustomAction {
                    endpoint: "/services/oauth2/token".into(),
                    ..good.clone()
                },
            ),
            (
                "endpoint climbing out",
                CustomAction {
                    endpoint: "/services/data/v59.0/%2e%2e/%2E%2E/oauth2/userinfo".into(),
                    ..good.clone()
                },
            ),
            (
                "tag",
                CustomAction {
                    endpoint: "/services/data/v59.0/{% if x %}a{% endif %}".into(),
                    ..good.clone()
                },
            ),
            (
                "unclosed",
                CustomAction {
                    body: Some(json!({"A": "{{A"})),
                    ..good.clone()
                },
            ),
            (
                "bad filter",
                CustomAction {
                    body: Some(json!({"A": "{{ A | | }}"})),
                    ..good.clone()
                },
            ),
        ];
        for (what, a) in cases {
            let e = a.validate().expect_err(what);
            // Each refusal names the part of the definition to fix.
            let field = match what {
                "name" | "method" => what,
                "unclosed" | "bad filter" => "body",
                _ => "endpoint",
            };
            assert_eq!(e.field.as_deref(), Some(field), "{what}: {e}");
        }
    }

    fn piece() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            Just("sobjects".to_owned()),
            Just("..".to_owned()),
            Just("%2e%2e".to_owned()),
            Just(".%2E".to_owned()),
            Just("oauth2".to_owned()),
            Just("{{x}}".to_owned()),
            Just("{{ x | append: \"/..\" }}".to_owned()),
            Just("{{ x | minus: 9223372036854775807 | minus: 2 }}".to_owned()),
            Just("{{x".to_owned()),
            Just("?q=SELECT Id FROM Contact WHERE Name = '{{x}}'".to_owned()),
            Just("?a={{x}}".to_owned()),
            "[ -~]{0,5}",
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

        /// Any definition is refused or rendered; a rendered one is under an allowed root,
        /// whatever the argument; nothing panics.
        #[test]
        fn any_custom_action_is_refused_or_renders_inside_the_api(
            root in proptest::prop_oneof![
                proptest::strategy::Just("/services/data/v59.0/"),
                proptest::strategy::Just("/services/apexrest/"),
                proptest::strategy::Just("/services/oauth2/"),
                proptest::strategy::Just(""),
            ],
            pieces in proptest::collection::vec(piece(), 0..5),
            method in proptest::prop_oneof![
                proptest::strategy::Just("GET"),
                proptest::strategy::Just("post"),
                proptest::strategy::Just("TRACE"),
            ],
            body in proptest::option::of(proptest::prop_oneof![
                proptest::strategy::Just(json!({"A": "{{x}}"})),
                proptest::strategy::Just(json!({"A": "{{ x | divided_by: 0 }}"})),
                proptest::strategy::Just(json!(["{{x}}", 1, null])),
            ]),
            x in proptest::prop_oneof![
                proptest::strategy::Just(json!("..")),
                proptest::strategy::Just(json!("%2e%2e")),
                proptest::strategy::Just(json!("../../oauth2/userinfo")),
                proptest::strategy::Just(json!("-9223372036854775808")),
                proptest::strategy::Just(json!(7)),
                proptest::strategy::Just(json!(null)),
                proptest::strategy::Strategy::prop_map("\\PC{0,8}", Value::from),
            ],
        ) {
            let action = CustomAction {
                name: "generated".into(),
                description: String::new(),
                method: method.into(),
                endpoint: format!("{root}{}", pieces.join("/")),
                body,
                object: None,
                parameters: vec![Param {
                    name: "x".into(),
                    location: Location::Path,
                    type_: "string".into(),
                    required: false,
                    description: String::new(),
                }],
                confirmation: false,
                destructive: false,
            };
            if action.validate().is_ok() {
                let mut args = Map::new();
                args.insert("x".into(), x);
                let t = Templating::new();
                if let Ok(r) = render(&action, &t, args, &Map::new(), ApiVersion::DEFAULT) {
                    proptest::prop_assert!(
                        RAW_PATH_ROOTS.iter().any(|root| r.path.starts_with(root)),
                        "{} -> {}", action.endpoint, r.path
                    );
                }
            }
        }
    }
}
