//! The one error of the core's operations: what kind of failure it is, a stable code and what to
//! do about it. Each front door answers it its own way (REST: a status and `{"error": {code,
//! message}}`; MCP: a tool error).

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// The request is malformed (REST 400).
    Invalid,
    /// No valid credentials (REST 401).
    Unauthorized,
    /// Not allowed for this caller (REST 403).
    Forbidden,
    /// Nothing by that name or id in the caller's workspace (REST 404).
    NotFound,
    /// Conflicts with the current state (REST 409).
    Conflict,
    /// Well-formed but refused by a check (REST 422).
    Unprocessable,
    /// A limit was reached (REST 429).
    TooMany,
    /// The org answered a check wrongly or not at all (REST 502).
    Upstream,
    /// Something the service depends on cannot be used now (REST 503).
    Unavailable,
    /// The service failed (REST 500).
    Internal,
}

impl Kind {
    /// The HTTP status a front door over HTTP answers this kind with (the REST API and the
    /// console's pages alike).
    pub fn http_status(self) -> u16 {
        match self {
            Kind::Invalid => 400,
            Kind::Unauthorized => 401,
            Kind::Forbidden => 403,
            Kind::NotFound => 404,
            Kind::Conflict => 409,
            Kind::Unprocessable => 422,
            Kind::TooMany => 429,
            Kind::Upstream => 502,
            Kind::Unavailable => 503,
            Kind::Internal => 500,
        }
    }
}

/// A failure of an operation: its kind, a stable code (`unknown_agent`) and what to do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    /// What kind of failure.
    pub kind: Kind,
    /// A stable code.
    pub code: &'static str,
    /// What to do about it.
    pub message: String,
    /// More to answer beside the error (an object: a check's reports), if any.
    pub details: Option<Box<serde_json::Value>>,
    /// A refused definition's error as actions report it (with `field`, `valid_values`...),
    /// answered in place of `code` and `message` when present.
    pub action: Option<Box<callforce_actions::ActionError>>,
}

impl Error {
    /// An error of `kind` with `code` and `message`.
    pub fn new(kind: Kind, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            code,
            message: message.into(),
            details: None,
            action: None,
        }
    }

    /// A definition refused by its check: 422 with the actions' error as it is.
    pub fn refused(e: callforce_actions::ActionError) -> Self {
        let mut err = Self::new(Kind::Unprocessable, "invalid", e.message.to_string());
        err.action = Some(Box::new(e));
        err
    }

    /// The same error, answered with `details` (an object) beside it.
    #[must_use]
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    /// The service could not read its state (the cause is logged where it happened).
    pub fn internal() -> Self {
        Self::new(
            Kind::Internal,
            "internal",
            "the service could not read its state; try again",
        )
    }
}
