//! The action catalog: the 56 built-in templates and the generic actions (data in
//! `catalog.json`), custom actions added by configuration, and their tool definitions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::custom::CustomAction;
pub use crate::tool::{Effect, Tool};

/// How a template runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// SOQL search with the seed's semantics (no term, LIKE, exact, phone by SOSL).
    Search,
    /// Create one record.
    Create,
    /// Update one record by `record_id`.
    Update,
    /// Delete one record by `record_id`.
    Delete,
    /// Read one record by `record_id`.
    Get,
    /// ContentNote plus ContentDocumentLink in one composite request.
    CreateNote,
    /// Read a note with its text.
    GetNote,
    /// Change a note's title or text.
    UpdateNote,
    /// SOSL across the main objects.
    GlobalSearch,
    /// A read-only SOQL query.
    RunQuery,
    /// Create a record of any object.
    CreateRecord,
    /// Update a record of any object.
    UpdateRecord,
    /// Upsert by External ID.
    UpsertRecord,
    /// Create many records (sObject Collections).
    BulkCreate,
    /// Update many records (sObject Collections).
    BulkUpdate,
    /// Any REST call under `/services/data`.
    CustomApiCall,
    /// A follow-up task with snake_case parameters.
    CreateTask,
}

/// One built-in action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// The tool name (`search_contact`).
    pub name: String,
    /// The object group it belongs to (`Contacts`).
    pub group: String,
    /// Read, write or destroy.
    pub effect: Effect,
    /// How it runs.
    pub op: Op,
    /// The sObject it works on, when one.
    #[serde(default)]
    pub object: Option<String>,
    /// For a model: when to use it and what it returns.
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: Value,
    /// Fields a search or get returns.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Fields a search term is matched against with LIKE.
    #[serde(default)]
    pub search_fields: Vec<String>,
    /// Whether a phone-like term is also searched in phone fields (SOSL).
    #[serde(default)]
    pub phone_search: bool,
    /// Fields matched exactly when the term has the given shape (`digits`).
    #[serde(default)]
    pub exact_fields: BTreeMap<String, String>,
    /// Fixed equality filters of a search (`$language` = the `language` argument).
    #[serde(default)]
    pub filters: BTreeMap<String, Value>,
    /// `ORDER BY` of a search (`LastModifiedDate DESC`).
    #[serde(default)]
    pub order_by: Option<String>,
    /// `LIMIT` of a search.
    #[serde(default)]
    pub limit: Option<u64>,
    /// Values always sent on create (`TaskSubtype = Call`).
    #[serde(default)]
    pub fixed: BTreeMap<String, Value>,
    /// Values sent on create unless given (`$today` = today's date).
    #[serde(default)]
    pub defaults: BTreeMap<String, Value>,
    /// Groups of parameters of which exactly one must be given.
    #[serde(default)]
    pub one_of: Vec<Vec<String>>,
    /// Fields a create reads back from the new record in the same round trip (a Case's
    /// `CaseNumber`, which the org fills in and a caller is told).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read_back: Vec<String>,
}

impl Template {
    /// The function-calling tool of this template.
    pub fn tool(&self) -> Tool {
        Tool {
            name: self.name.clone(),
            description: self.description.clone(),
            parameters: self.parameters.clone(),
        }
    }

    /// The names the parameters schema declares.
    pub fn parameter_names(&self) -> Vec<String> {
        self.parameters
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The names the parameters schema marks required.
    pub fn required(&self) -> Vec<String> {
        self.parameters
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Any action: a built-in template or a custom action.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A built-in template or generic action.
    Template(Template),
    /// A custom action from configuration.
    Custom(CustomAction),
}

impl Action {
    /// The action's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Template(t) => &t.name,
            Self::Custom(c) => &c.name,
        }
    }

    /// Read, write or destroy.
    pub fn effect(&self) -> Effect {
        match self {
            Self::Template(t) => t.effect,
            Self::Custom(c) => c.effect(),
        }
    }

    /// Whether a model must confirm with the caller before running it: every write and delete
    /// of the templates, and custom actions flagged for confirmation or destructive.
    pub fn needs_confirmation(&self) -> bool {
        match self {
            Self::Template(t) => t.effect != Effect::Read,
            Self::Custom(c) => c.confirmation || c.destructive,
        }
    }

    /// The tool definition.
    pub fn tool(&self) -> Tool {
        match self {
            Self::Template(t) => t.tool(),
            Self::Custom(c) => c.tool(),
        }
    }
}

#[derive(Deserialize)]
struct CatalogFile {
    templates: Vec<Template>,
    generic: Vec<Template>,
}

const CATALOG_JSON: &str = include_str!("catalog.json");

/// The number of built-in templates (56).
pub const TEMPLATE_COUNT: usize = 56;

/// An ordered set of actions with unique names.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    actions: Vec<Action>,
}

impl Catalog {
    /// The 56 templates and the generic actions.
    pub fn builtin() -> Self {
        // NB: `catalog.json` is compiled in and checked by the tests; it cannot fail at runtime.
        let file: CatalogFile = serde_json::from_str(CATALOG_JSON).unwrap_or(CatalogFile {
            templates: Vec::new(),
            generic: Vec::new(),
        });
        Self {
            actions: file
                .templates
                .into_iter()
                .chain(file.generic)
                .map(Action::Template)
                .collect(),
        }
    }

    /// The built-in catalog plus the shipped custom examples.
    pub fn with_examples() -> Self {
        let mut c = Self::builtin();
        for a in crate::custom::examples() {
            // NB: the shipped examples are validated by their tests.
            let _ = c.add_custom(a);
        }
        c
    }

    /// Adds a custom action after [`CustomAction::validate`]; a name already taken gets a
    /// numeric suffix (`update_contact_2`). Returns the name it was given.
    ///
    /// # Errors
    /// What is wrong with the action.
    pub fn add_custom(&mut self, mut action: CustomAction) -> Result<String, crate::ActionError> {
        action.validate()?;
        let base = action.name.clone();
        let mut n = 2;
        while self.get(&action.name).is_some() {
            action.name = format!("{base}_{n}");
            n += 1;
        }
        let name = action.name.clone();
        self.actions.push(Action::Custom(action));
        Ok(name)
    }

    /// Adds a copy of a template (say a second `search_contact` with another description or
    /// limit); a name already taken gets a numeric suffix. Returns the name it was given.
    pub fn add_template(&mut self, mut template: Template) -> String {
        let base = template.name.clone();
        let mut n = 2;
        while self.get(&template.name).is_some() {
            template.name = format!("{base}_{n}");
            n += 1;
        }
        let name = template.name.clone();
        self.actions.push(Action::Template(template));
        name
    }

    /// Removes the custom action named `name` (built-in templates stay). Returns it.
    pub fn remove_custom(&mut self, name: &str) -> Option<CustomAction> {
        let i = self
            .actions
            .iter()
            .position(|a| matches!(a, Action::Custom(c) if c.name == name))?;
        match self.actions.remove(i) {
            Action::Custom(c) => Some(c),
            Action::Template(_) => None,
        }
    }

    /// The action named `name`.
    pub fn get(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.name() == name)
    }

    /// Every action, in catalog order.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// The built-in templates only (not the generic or custom actions).
    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        self.actions.iter().filter_map(|a| match a {
            Action::Template(t) if t.group != "Generic" => Some(t),
            _ => None,
        })
    }

    /// Tool definitions of every action, or of `enabled` ones only when given.
    pub fn tools(&self, enabled: Option<&[&str]>) -> Vec<Tool> {
        self.actions
            .iter()
            .filter(|a| enabled.is_none_or(|e| e.contains(&a.name())))
            .map(Action::tool)
            .collect()
    }

    /// The name closest to `name`, for an unknown-action error.
    pub fn closest_name(&self, name: &str) -> Option<&str> {
        crate::suggest::closest(name, self.actions.iter().map(Action::name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_file_parses_with_56_unique_templates() {
        let file: CatalogFile = serde_json::from_str(CATALOG_JSON).expect("catalog.json");
        assert_eq!(file.templates.len(), TEMPLATE_COUNT);
        let c = Catalog::with_examples();
        let mut names: Vec<&str> = c.actions().iter().map(Action::name).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "names are unique");
        assert_eq!(c.templates().count(), TEMPLATE_COUNT);
        for t in c.templates() {
            assert!(t.object.is_some() || t.op == Op::GlobalSearch, "{}", t.name);
            assert_eq!(t.parameters["type"], "object", "{}", t.name);
        }
    }

    #[test]
    fn a_taken_name_gets_a_suffix() {
        let mut c = Catalog::builtin();
        let a = crate::custom::examples().remove(0);
        let first = c.add_custom(a.clone()).expect("valid");
        let second = c.add_custom(a).expect("valid");
        assert_eq!(first, "identify_customer");
        assert_eq!(second, "identify_customer_2");
        let Some(Action::Template(t)) = c.get("search_contact").cloned() else {
            panic!("search_contact")
        };
        assert_eq!(
            c.add_template(Template {
                limit: Some(3),
                ..t
            }),
            "search_contact_2"
        );
    }
}
