//! Salesforce value types shared by every callforce crate, with no I/O.
//!
//! - [`id`]: record ids, 15 or 18 characters, with the case checksum and key prefix.
//! - [`version`]: REST API versions (`v59.0`).
//! - [`error`]: the error body Salesforce sends (`[{message, errorCode, fields}]`).
//!
//! The one rule to know: an [`Id`] is always held and printed in its 18-character form;
//! 15-character input is accepted and normalised when parsed.

pub mod error;
pub mod id;
pub mod version;

pub use error::{ApiErrorBody, SaveError};
pub use id::{Id, IdError, KeyPrefix};
pub use version::{ApiVersion, VersionError};
