//! The one error type of the crate.

use crate::report::Report;

/// What can go wrong with an intent map or an intent at call time.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The map cannot be read: its JSON or shape is wrong (the message names the entry).
    #[error("invalid intent map: {0}")]
    InvalidMap(String),
    /// The map does not pass the check against the org; it cannot be activated.
    #[error("the intent map has {} problem(s); run the check for the list", .0.errors())]
    CheckFailed(Box<Report>),
    /// The model asked for an intent the map does not have.
    #[error("unknown intent {name:?}; valid intents: {valid}")]
    UnknownIntent {
        /// The name given.
        name: String,
        /// The valid names, comma-separated.
        valid: String,
    },
    /// The values of an intent do not fit: what to change, for the model.
    #[error("{}", .0.join("; "))]
    Refused(Vec<String>),
    /// Salesforce refused the write or could not be reached.
    #[error(transparent)]
    Client(#[from] callforce_client::Error),
    /// The write could be neither made nor queued (the queue's database failed); nothing was
    /// acknowledged. The text is for logs.
    #[error("the write could not be queued: {0}")]
    Unavailable(String),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
