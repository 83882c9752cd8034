//! The error bodies Salesforce sends.
//!
//! A resource-level failure is a JSON array of [`ApiErrorBody`] with `errorCode`; a per-record
//! failure inside collections, tree and save results is a [`SaveError`] with `statusCode`.

use serde::{Deserialize, Serialize};

/// One entry of a REST error response: `{"message", "errorCode", "fields"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    /// What went wrong, in Salesforce's words.
    pub message: String,
    /// The error code, such as `MALFORMED_ID`.
    #[serde(rename = "errorCode")]
    pub error_code: String,
    /// The fields concerned, present only for field-level errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
}

/// One per-record error of a save result: `{"statusCode", "message", "fields"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaveError {
    /// The error code, such as `REQUIRED_FIELD_MISSING`.
    #[serde(rename = "statusCode")]
    pub status_code: String,
    /// What went wrong.
    pub message: String,
    /// The fields concerned; always present, possibly empty.
    #[serde(default)]
    pub fields: Vec<String>,
}

impl From<ApiErrorBody> for SaveError {
    fn from(e: ApiErrorBody) -> Self {
        Self {
            status_code: e.error_code,
            message: e.message,
            fields: e.fields.unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_wire_shape() {
        let e = ApiErrorBody {
            message: "m".into(),
            error_code: "NOT_FOUND".into(),
            fields: None,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"message":"m","errorCode":"NOT_FOUND"}"#
        );
        let s: SaveError = ApiErrorBody {
            fields: Some(vec!["Id".into()]),
            ..e
        }
        .into();
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"statusCode":"NOT_FOUND","message":"m","fields":["Id"]}"#
        );
    }
}
