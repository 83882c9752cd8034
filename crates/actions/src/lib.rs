//! The action catalog AI agents call mid-conversation: the 56 built-in templates over 13 object
//! groups plus the generic record actions, custom actions with Liquid templates, call sessions
//! that chain results, tool definitions (JSON Schema) for function calling, and results and
//! errors written for a model.
//!
//! Modules:
//! - [`catalog`]: [`Template`]s as data (`catalog.json`), [`CustomAction`]s added by
//!   configuration, [`Catalog::tools`] for function-calling tool definitions.
//! - [`exec`]: [`Actions`], a catalog bound to a [`callforce_client::Connection`]: argument
//!   checks before anything is sent, search semantics, creates, notes, generic actions.
//! - [`template`]: Liquid with escaping by destination and removal of unfilled optional
//!   placeholders; the ISO 8601 `date` filter.
//! - [`custom`]: custom actions and the shipped examples.
//! - `raw_write`: the sObject records a custom action's rendered write carries, checked
//!   against their describes like a template's.
//! - [`idempotency`]: the idempotency key of a write (workspace, call instance or the caller's
//!   key, action, canonical payload), so a retried tool call is one write and nothing else is.
//! - [`sink`]: [`WriteSink`], where writes go as data ([`Write`]): straight to the org
//!   ([`DirectSink`], the default) or to the write pipeline (blocking budget, durable queue).
//! - [`repeats`]: [`repeats::Repeats`], the duplicate window of a call's writes (the same
//!   action with the same arguments again answers the first result).
//! - [`session`]: [`CallSession`], call variables and each action's last result.
//! - [`say`]: the `say` sentence of every result, for a voice agent to read out as it is.
//! - [`spoken`]: names and numbers as speech recognition gives them: misheard names (Double
//!   Metaphone and Jaro-Winkler), partial phone numbers in the caller's country, spoken emails;
//!   the candidates of a close match and their ranking; an ambiguous answer as a question.
//! - [`compact`]: results made short (no `attributes`, no nulls, capped lists).
//! - [`error`]: [`ActionError`], what a model must fix (field, valid values, closest value,
//!   missing fields, malformed id).
//! - [`suggest`]: the closest valid value.
//! - [`zone`]: a call's time zone, date-times without an offset read in it, `{{now}}`.
//! - [`agent`]: [`Agent`] policies: enabled actions, allowed objects, confirmation overrides.
//! - [`confirm`]: confirmation tokens (HMAC over call, action and canonical payload, expiring,
//!   used once) and the preview a model reads to the caller.
//! - [`scopes`]: the OAuth scope an action needs beyond `api` (a Chatter post: `chatter_api`).
//! - `tool` and `raw` (private): [`Effect`] and [`Tool`], and the checks of a raw call's path,
//!   which [`catalog`], [`custom`] and [`exec`] share; kept below them so imports point one way.
//!
//! The decision to know: every value a model or caller gives reaches a query only through an
//! escaping path (the SOQL builder for templates, [`template::escape`] for custom actions), and
//! the rendered SOQL of a custom action is parsed before it is sent.
//!
//! ```no_run
//! # async fn demo(conn: callforce_client::Connection) -> Result<(), callforce_actions::ActionError> {
//! use callforce_actions::{Actions, CallSession, CallVars, Catalog};
//! use serde_json::json;
//!
//! let actions = Actions::new(conn, Catalog::with_examples());
//! let mut call = CallSession::new(CallVars {
//!     call_id: "call-1".into(),
//!     caller_phone: Some("+15551234567".into()),
//!     ..CallVars::default()
//! });
//! actions.run(&mut call, "search_contact", json!({"search_term": "+15551234567"})).await?;
//! let case = actions
//!     .run(&mut call, "create_case", json!({
//!         "Subject": "Invoice amount discrepancy",
//!         "ContactId": "{{search_contact.Id}}",
//!         "Priority": "High",
//!     }))
//!     .await?;
//! # let _ = case; Ok(()) }
//! ```

pub mod agent;
pub mod catalog;
pub mod compact;
pub mod confirm;
pub mod context;
pub mod custom;
pub mod error;
pub mod exec;
pub mod idempotency;
mod raw;
mod raw_write;
pub mod repeats;
pub mod say;
pub mod scopes;
pub mod session;
pub mod sink;
pub mod spoken;
pub mod suggest;
pub mod template;
mod tool;
pub mod zone;

pub use agent::Agent;
pub use catalog::{Action, Catalog, Effect, Op, TEMPLATE_COUNT, Template, Tool};
pub use confirm::{Clock, ConfirmConfig};
pub use context::{CallerContext, ContextSpec, Who};
pub use custom::{CustomAction, Location, Param};
pub use error::{ActionError, ErrorCode};
pub use exec::{Actions, DEFAULT_NON_BLOCKING, Scope};
pub use session::{CallSession, CallVars};
pub use sink::{
    DirectSink, Write, WriteError, WriteFuture, WriteOutcome, WriteSink, queued_result,
};
pub use template::{Dest, Templating};
