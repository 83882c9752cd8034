//! Agents: which actions an agent may run, which objects it may touch, and where it must get
//! the caller's confirmation (on top of the defaults: every delete, and custom actions flagged
//! for confirmation).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::catalog::{Action, Catalog, Effect, Op, Tool};
use crate::error::{ActionError, ErrorCode};

/// One agent's policy. Everything is allowed when a list is absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// What the agent is for (shown to admins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The actions it may run; every action when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<String>>,
    /// The objects it may read or write (`Contact`, `Case`); every object when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<Vec<String>>,
    /// Whether every write (not only deletes) needs the caller's confirmation.
    #[serde(default)]
    pub confirm_writes: bool,
    /// Actions that need confirmation for this agent besides the defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confirm: Vec<String>,
    /// Actions whose confirmation an admin turned off for this agent (deletes included).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_confirmation: Vec<String>,
    /// What its calls learn about the caller at start (the default when absent: the caller,
    /// their account, open cases and opportunities, the last activities).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_context: Option<crate::context::ContextSpec>,
    /// How long `POST /v1/calls` waits for the caller context (800 ms when absent); the call
    /// starts anyway when it passes and the context follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_deadline_ms: Option<u64>,
    /// The time zone of its calls (an IANA name such as `America/New_York`) when a call names
    /// none; the org user's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Whether results carry `say`, a sentence a voice agent can read out as it is (on by
    /// default; a text agent may turn it off).
    #[serde(default = "say_default", skip_serializing_if = "is_on")]
    pub say: bool,
}

impl Default for Agent {
    fn default() -> Self {
        Self {
            description: None,
            actions: None,
            objects: None,
            confirm_writes: false,
            confirm: Vec::new(),
            skip_confirmation: Vec::new(),
            caller_context: None,
            context_deadline_ms: None,
            time_zone: None,
            say: true,
        }
    }
}

fn say_default() -> bool {
    true
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `skip_serializing_if` takes a reference
fn is_on(b: &bool) -> bool {
    *b
}

impl Agent {
    /// Checks the agent against `catalog`: every action it names exists, objects are API names.
    ///
    /// # Errors
    /// An [`ErrorCode::InvalidArgument`] naming the field and the bad value.
    pub fn validate(&self, catalog: &Catalog) -> Result<(), ActionError> {
        let lists = [
            ("actions", self.actions.as_deref().unwrap_or_default()),
            ("confirm", &self.confirm[..]),
            ("skip_confirmation", &self.skip_confirmation[..]),
        ];
        for (field, names) in lists {
            for n in names {
                if catalog.get(n).is_none() {
                    let mut e = ActionError::invalid(field, format!("there is no action '{n}'"));
                    if let Some(c) = catalog.closest_name(n) {
                        e.message = format!("{}; did you mean '{c}'?", e.message).into();
                        e.suggestion = Some(c.into());
                    }
                    return Err(e);
                }
            }
        }
        if let Some(c) = &self.caller_context {
            c.validate()?;
        }
        if self.context_deadline_ms.is_some_and(|ms| ms > 10_000) {
            return Err(ActionError::invalid(
                "context_deadline_ms",
                "the caller context deadline is at most 10000 ms (a caller waits on it)",
            ));
        }
        if let Some(z) = &self.time_zone {
            crate::zone::parse("time_zone", z)?;
        }
        for o in self.objects.as_deref().unwrap_or_default() {
            if !is_api_name(o) {
                return Err(ActionError::invalid(
                    "objects",
                    format!("'{o}' is not an object API name"),
                ));
            }
        }
        Ok(())
    }

    /// The agent's time zone, when it names one (checked by [`Agent::validate`]).
    pub fn zone(&self) -> Option<crate::zone::Tz> {
        self.time_zone
            .as_deref()
            .and_then(|z| crate::zone::parse("time_zone", z).ok())
    }

    /// Whether the agent may run `action`.
    pub fn enabled(&self, action: &str) -> bool {
        self.actions
            .as_ref()
            .is_none_or(|a| a.iter().any(|n| n == action))
    }

    /// Whether the agent may touch `object`.
    pub fn may_touch(&self, object: &str) -> bool {
        self.objects
            .as_ref()
            .is_none_or(|o| o.iter().any(|n| n.eq_ignore_ascii_case(object)))
    }

    /// Refuses an action the agent may not run.
    ///
    /// # Errors
    /// [`ErrorCode::Forbidden`] with the actions it may run.
    pub fn check_enabled(&self, action: &str) -> Result<(), ActionError> {
        if self.enabled(action) {
            return Ok(());
        }
        let mut e = ActionError::new(
            ErrorCode::Forbidden,
            format!("this agent may not run '{action}'; use one of its tools instead"),
        );
        e.valid_values = self.actions.clone().unwrap_or_default();
        Err(e)
    }

    /// Refuses `action` with (resolved) `args` when it touches an object the agent may not.
    ///
    /// # Errors
    /// [`ErrorCode::Forbidden`] naming the object and the allowed ones.
    pub fn check_objects(
        &self,
        action: &Action,
        args: &Map<String, Value>,
    ) -> Result<(), ActionError> {
        let Some(allowed) = &self.objects else {
            return Ok(());
        };
        let forbidden = |object: &str| {
            let mut e = ActionError::new(
                ErrorCode::Forbidden,
                format!("this agent may not touch {object} records"),
            );
            e.valid_values = allowed.clone();
            e
        };
        for object in touched(action, args)? {
            if !self.may_touch(&object) {
                return Err(forbidden(&object));
            }
        }
        Ok(())
    }

    /// Whether `action` needs the caller's confirmation for this agent.
    pub fn needs_confirmation(&self, action: &Action) -> bool {
        let name = action.name();
        if self.skip_confirmation.iter().any(|n| n == name) {
            return false;
        }
        default_needs_confirmation(action)
            || self.confirm.iter().any(|n| n == name)
            || (self.confirm_writes && action.effect() != Effect::Read)
    }

    /// The tools of this agent in `catalog`: its enabled actions, with a `confirmation_token`
    /// parameter on those that need confirmation.
    pub fn tools(&self, catalog: &Catalog) -> Vec<Tool> {
        catalog
            .actions()
            .iter()
            .filter(|a| self.enabled(a.name()))
            .map(|a| tool_with_confirmation(a, self.needs_confirmation(a)))
            .collect()
    }
}

/// Whether `action` needs confirmation when no agent says otherwise: every delete, and custom
/// actions flagged for confirmation.
pub fn default_needs_confirmation(action: &Action) -> bool {
    match action {
        Action::Template(t) => t.effect == Effect::Destroy,
        Action::Custom(c) => c.confirmation || c.destructive,
    }
}

/// The tool of `action`, with the `confirmation_token` parameter when `confirm`.
pub fn tool_with_confirmation(action: &Action, confirm: bool) -> Tool {
    let mut tool = action.tool();
    if confirm && let Some(Value::Object(props)) = tool.parameters.get_mut("properties") {
        props.insert(
                crate::confirm::TOKEN_ARG.into(),
                serde_json::json!({
                    "type": "string",
                    "description": "Leave out at first: the answer is a preview to read to the caller and a token; after they agree, call again with the same arguments and this token."
                }),
            );
    }
    tool
}

/// The objects `action` touches with `args`.
///
/// # Errors
/// [`ErrorCode::Forbidden`] when they cannot be known (a raw API call, a custom action that
/// declares no object) and [`ErrorCode::InvalidArgument`] for a query that does not parse.
fn touched(action: &Action, args: &Map<String, Value>) -> Result<Vec<String>, ActionError> {
    let unknown = |what: &str| {
        ActionError::new(
            ErrorCode::Forbidden,
            format!("{what} may touch any object, and this agent is limited to some objects"),
        )
    };
    match action {
        Action::Custom(c) => c.object().map(|o| vec![o]).ok_or_else(|| {
            unknown(&format!(
                "custom action '{}' declares no object and",
                c.name
            ))
        }),
        Action::Template(t) => match t.op {
            Op::CreateRecord
            | Op::UpdateRecord
            | Op::UpsertRecord
            | Op::BulkCreate
            | Op::BulkUpdate => Ok(args
                .get("sobject")
                .and_then(Value::as_str)
                .map(|s| vec![s.to_owned()])
                .unwrap_or_default()),
            Op::RunQuery => {
                let soql = args.get("soql").and_then(Value::as_str).unwrap_or_default();
                match callforce_soql::parse_query(soql) {
                    Ok(q) => Ok(vec![q.from.object]),
                    Err(e) => Err(ActionError::invalid(
                        "soql",
                        format!("not a valid SOQL SELECT: {e}"),
                    )),
                }
            }
            Op::GlobalSearch => Ok(["Contact", "Lead", "Account", "Opportunity", "Case"]
                .map(String::from)
                .to_vec()),
            Op::CustomApiCall => Err(unknown("a raw API call")),
            Op::CreateNote | Op::GetNote | Op::UpdateNote => Ok(vec!["ContentNote".into()]),
            _ => Ok(t.object.clone().into_iter().collect()),
        },
    }
}

fn is_api_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 80
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn objects_and_actions_are_limited_when_listed() {
        let c = Catalog::with_examples();
        let a = Agent {
            actions: Some(vec![
                "search_contact".into(),
                "run_query".into(),
                "create_record".into(),
            ]),
            objects: Some(vec!["Contact".into()]),
            ..Agent::default()
        };
        assert_eq!(a.validate(&c), Ok(()));
        assert!(a.check_enabled("search_contact").is_ok());
        assert_eq!(
            a.check_enabled("delete_contact").map_err(|e| e.code),
            Err(ErrorCode::Forbidden)
        );
        let get = |n: &str| c.get(n).expect(n).clone();
        let cases = [
            ("search_contact", json!({}), true),
            ("search_case", json!({}), false),
            ("run_query", json!({"soql": "SELECT Id FROM Contact"}), true),
            (
                "run_query",
                json!({"soql": "SELECT Id FROM Account"}),
                false,
            ),
            ("create_record", json!({"sobject": "contact"}), true),
            ("create_record", json!({"sobject": "Lead"}), false),
            ("custom_api_call", json!({}), false),
            ("global_search", json!({}), false),
            ("identify_customer", json!({}), true),
        ];
        for (name, arguments, ok) in cases {
            let r = a.check_objects(&get(name), &args(arguments.clone()));
            assert_eq!(r.is_ok(), ok, "{name} {arguments}: {r:?}");
        }
    }

    #[test]
    fn a_bad_agent_is_refused_with_the_closest_name() {
        let c = Catalog::builtin();
        let a = Agent {
            actions: Some(vec!["serch_contact".into()]),
            ..Agent::default()
        };
        let e = a.validate(&c).expect_err("unknown action");
        assert_eq!(e.field.as_deref(), Some("actions"));
        assert_eq!(e.suggestion.as_deref(), Some("search_contact"));
        let bad = Agent {
            objects: Some(vec!["Contact; DROP".into()]),
            ..Agent::default()
        };
        assert_eq!(
            bad.validate(&c).map_err(|e| e.field),
            Err(Some("objects".into()))
        );
        let parsed: Result<Agent, _> = serde_json::from_value(json!({"actoins": []}));
        assert!(parsed.is_err(), "unknown fields are refused");
    }

    #[test]
    fn confirmation_defaults_and_overrides() {
        let c = Catalog::with_examples();
        let get = |n: &str| c.get(n).expect(n).clone();
        let default = Agent::default();
        for (name, needs) in [
            ("delete_contact", true),
            ("remove_campaign_member", true),
            ("create_case", false),
            ("search_contact", false),
            ("create_contact_with_phone", true),
        ] {
            assert_eq!(default.needs_confirmation(&get(name)), needs, "{name}");
        }
        let strict = Agent {
            confirm_writes: true,
            skip_confirmation: vec!["delete_task".into()],
            confirm: vec!["search_case".into()],
            ..Agent::default()
        };
        assert!(strict.needs_confirmation(&get("create_case")));
        assert!(strict.needs_confirmation(&get("search_case")));
        assert!(!strict.needs_confirmation(&get("delete_task")));
        assert!(!strict.needs_confirmation(&get("search_contact")));
        let tools = strict.tools(&c);
        let case = tools
            .iter()
            .find(|t| t.name == "create_case")
            .expect("tool");
        assert!(case.parameters["properties"]["confirmation_token"].is_object());
        let search = tools
            .iter()
            .find(|t| t.name == "search_contact")
            .expect("tool");
        assert!(
            search.parameters["properties"]
                .get("confirmation_token")
                .is_none()
        );
    }
}
