//! What every action has, built-in or custom: its [`Effect`] on the org and its function-calling
//! [`Tool`] definition. Kept below both the catalog and the custom actions, which each need them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What an action does to the org.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Only reads.
    Read,
    /// Creates or changes records.
    Write,
    /// Deletes records (or may: the raw API call).
    Destroy,
}

/// A function-calling tool definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// The function name.
    pub name: String,
    /// What it is for, for the model.
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: Value,
}
