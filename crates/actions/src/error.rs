//! The one error an action returns, written for a model: what went wrong and what to fix.

use serde::Serialize;

/// What kind of failure, so a model (or the HTTP layer) can react without parsing the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// No action has that name.
    UnknownAction,
    /// The action exists but is not available yet.
    NotAvailable,
    /// A parameter is unknown, of the wrong type, or not a valid value.
    InvalidArgument,
    /// Required parameters are missing.
    MissingRequired,
    /// A value is not one of a picklist's values.
    InvalidPicklist,
    /// A record id is malformed or of the wrong object.
    MalformedId,
    /// The record does not exist (or was deleted).
    NotFound,
    /// A custom action's template cannot be rendered.
    Template,
    /// Salesforce refused the request.
    Salesforce,
    /// Salesforce could not be reached or answered badly; trying later may work.
    Unavailable,
    /// A confirmation token is malformed, expired, already used, or for other arguments.
    ConfirmationInvalid,
    /// The agent may not run this action or touch this object.
    Forbidden,
    /// The connection's limits (share of the daily API allowance, requests in flight) refuse
    /// it for now; trying later may work.
    LimitReached,
    /// The connection was not granted a scope the action needs (a profile to pick is named).
    MissingScope,
    /// The org refused the connection's authorisation (revoked, expired): an admin must
    /// connect it again. Non-blocking writes are still queued and wait for it.
    NeedsReauth,
}

/// A failed action: a message a model can act on plus the structured details behind it.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct ActionError {
    /// The kind of failure.
    pub code: ErrorCode,
    /// One or two sentences saying what to fix.
    pub message: Box<str>,
    /// The parameter or field concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<Box<str>>,
    /// The values the field accepts (picklists, enums, parameter names).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub valid_values: Vec<String>,
    /// The closest valid value to what was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<Box<str>>,
    /// Required parameters that were not given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// Salesforce's error code, when Salesforce refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub salesforce_code: Option<Box<str>>,
}

impl ActionError {
    /// An error with only a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into().into_boxed_str(),
            field: None,
            valid_values: Vec::new(),
            suggestion: None,
            missing: Vec::new(),
            salesforce_code: None,
        }
    }

    /// Names the field concerned.
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into().into_boxed_str());
        self
    }

    /// A bad argument.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message).field(field)
    }

    /// A value outside a list: says the closest valid value and lists them all.
    pub fn not_one_of(
        code: ErrorCode,
        field: &str,
        label: &str,
        value: &str,
        valid: &[String],
    ) -> Self {
        let suggestion = crate::suggest::closest(value, valid.iter().map(String::as_str));
        let message = match &suggestion {
            Some(s) => format!("'{value}' is not a {label}; did you mean '{s}'?"),
            None => format!(
                "'{value}' is not a {label}; use one of: {}",
                valid.join(", ")
            ),
        };
        Self {
            valid_values: valid.to_vec(),
            suggestion: suggestion.map(Box::from),
            ..Self::new(code, message).field(field)
        }
    }

    /// Required parameters missing.
    pub fn missing(action: &str, missing: Vec<String>) -> Self {
        let message = format!(
            "{action} needs {}; ask the caller for it and try again",
            missing.join(", ")
        );
        Self {
            missing,
            ..Self::new(ErrorCode::MissingRequired, message)
        }
    }

    /// A malformed or wrong-object id.
    pub fn malformed_id(field: &str, value: &str, why: &str) -> Self {
        Self::new(
            ErrorCode::MalformedId,
            format!("'{value}' in {field} {why}; use the Id from a search or an earlier result"),
        )
        .field(field)
    }

    /// Names `field` as the one concerned when an argument was refused and none is named yet.
    pub fn for_field(mut self, field: &str) -> Self {
        if self.code == ErrorCode::InvalidArgument && self.field.is_none() {
            self.field = Some(field.into());
        }
        self
    }

    /// A template problem of a custom action.
    pub fn template(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Template, message)
    }

    /// The action as a JSON value (for a tool result).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

impl From<callforce_client::Error> for ActionError {
    fn from(e: callforce_client::Error) -> Self {
        use callforce_client::{Error, ErrorBody};
        match &e {
            Error::Api { status, body, .. } => {
                let (code, fields) = match body {
                    ErrorBody::Api(v) => (
                        v.first().map(|b| b.error_code.clone()),
                        v.first().and_then(|b| b.fields.clone()).unwrap_or_default(),
                    ),
                    _ => (None, Vec::new()),
                };
                let kind = match (status, code.as_deref()) {
                    (404, _) | (_, Some("ENTITY_IS_DELETED")) => ErrorCode::NotFound,
                    (
                        _,
                        Some("MALFORMED_ID" | "INVALID_CROSS_REFERENCE_KEY" | "INVALID_ID_FIELD"),
                    ) => ErrorCode::MalformedId,
                    (_, Some("REQUIRED_FIELD_MISSING")) => ErrorCode::MissingRequired,
                    (_, Some("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")) => {
                        ErrorCode::InvalidPicklist
                    }
                    (s, _) if *s >= 500 => ErrorCode::Unavailable,
                    _ => ErrorCode::Salesforce,
                };
                let message = match kind {
                    ErrorCode::NotFound => format!("no such record: {}", body.message()),
                    _ => format!("Salesforce refused: {}", body.message()),
                };
                let mut err = Self {
                    salesforce_code: code.map(String::into_boxed_str),
                    ..Self::new(kind, message)
                };
                if kind == ErrorCode::MissingRequired {
                    err.missing = fields.clone();
                }
                err.field = fields.into_iter().next().map(String::into_boxed_str);
                err
            }
            // NB: a request that cannot be built was never sent: the input is wrong, and the
            // org is not unreachable.
            Error::InvalidRequest(m) => Self::new(
                ErrorCode::InvalidArgument,
                format!("the request cannot be sent: {m}"),
            ),
            Error::NeedsReauthorization { .. } => Self::new(
                ErrorCode::NeedsReauth,
                "the org refused this connection's authorisation (revoked or expired): an admin \
                 must connect it again; tell the caller you will follow up",
            ),
            Error::Transport { .. } | Error::Decode { .. } => Self::new(
                ErrorCode::Unavailable,
                "Salesforce could not be reached just now; tell the caller you will follow up",
            ),
            _ => Self::new(
                ErrorCode::Unavailable,
                format!("Salesforce connection problem: {e}"),
            ),
        }
    }
}
