//! The client's one error type and the pure classification that says what to do about it.
//!
//! A Salesforce failure keeps its HTTP status, its parsed `[{message, errorCode, fields}]` body
//! (or the raw text when the body is not that JSON, such as a proxy's HTML 502) and the request
//! that failed (method and path, never a token). [`classify`] turns (status, error code, phase)
//! into a [`Class`]: retry, retry with care, back off, refresh, or give up. It is a pure
//! function tested one line per case, so the queue and the client agree on it.

use callforce_types::ApiErrorBody;
use serde::{Deserialize, Serialize};

/// `Result` with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The request a failure belongs to: method and path only (no query string, no token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestInfo {
    /// The HTTP method (`GET`, `POST`...).
    pub method: String,
    /// The path, without the query string (`/services/data/v59.0/sobjects/Account`).
    pub path: String,
    /// Whether the request may change data (any method but GET and HEAD).
    pub write: bool,
}

impl RequestInfo {
    /// Describes a request; `write` is derived from the method.
    pub fn new(method: &str, path: &str) -> Self {
        let path = path.split('?').next().unwrap_or(path).to_owned();
        Self {
            write: !matches!(method, "GET" | "HEAD"),
            method: method.to_owned(),
            path,
        }
    }
}

impl std::fmt::Display for RequestInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// The body of an error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorBody {
    /// Salesforce's error array, parsed.
    Api(Vec<ApiErrorBody>),
    /// A 300 Multiple Choices answer: the URLs of the records an external id matched.
    MultipleChoices(Vec<String>),
    /// Anything else, as text (an HTML page from a proxy, an empty body...).
    Text(String),
}

impl ErrorBody {
    /// Parses an error body: Salesforce's array when it is one, else the text as it came.
    pub fn parse(status: u16, bytes: &[u8]) -> Self {
        if status == 300
            && let Ok(urls) = serde_json::from_slice::<Vec<String>>(bytes)
        {
            return Self::MultipleChoices(urls);
        }
        match serde_json::from_slice::<Vec<ApiErrorBody>>(bytes) {
            Ok(v) if !v.is_empty() => Self::Api(v),
            _ => Self::Text(String::from_utf8_lossy(bytes).into_owned()),
        }
    }

    /// The first error code, when the body is Salesforce's array.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Self::Api(v) => v.first().map(|e| e.error_code.as_str()),
            _ => None,
        }
    }

    /// The first message, or the text (cut to 200 characters).
    pub fn message(&self) -> String {
        match self {
            Self::Api(v) => v.first().map(|e| e.message.clone()).unwrap_or_default(),
            Self::MultipleChoices(urls) => format!("{} records match", urls.len()),
            Self::Text(t) => t.chars().take(200).collect(),
        }
    }
}

/// How far a request got before it failed; it decides whether a write may have been applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Nothing reached the org (connection refused, DNS, TLS, timeout while connecting).
    NotSent,
    /// The request was sent, then the connection failed or timed out without a full answer.
    Sent {
        /// Whether the request may change data.
        write: bool,
    },
    /// The org answered with a status.
    Answered,
}

/// What to do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Class {
    /// Nothing was applied, or doing it again is harmless: retry later.
    Retryable,
    /// A write was sent and no answer came: it may have been applied; check before retrying.
    Ambiguous,
    /// The org's API allowance is spent: back off and pause; never re-authenticate.
    Limit,
    /// The session is not valid: refresh the token, then retry once.
    Auth,
    /// Retrying cannot help (validation, malformed id, unknown field, not found...).
    Permanent,
}

/// Error codes that mean "try again later" whatever the status they come with.
const RETRYABLE_CODES: &[&str] = &[
    "UNABLE_TO_LOCK_ROW",
    "SERVER_UNAVAILABLE",
    "UNKNOWN_EXCEPTION",
];

/// Classifies a failure from its HTTP status (absent when no answer came), its first error code
/// and how far the request got. Pure; one line per case in the tests below.
pub fn classify(status: Option<u16>, error_code: Option<&str>, phase: Phase) -> Class {
    let Some(status) = status else {
        return match phase {
            Phase::NotSent => Class::Retryable,
            Phase::Sent { write: true } => Class::Ambiguous,
            Phase::Sent { write: false } | Phase::Answered => Class::Retryable,
        };
    };
    match (status, error_code) {
        (_, Some("REQUEST_LIMIT_EXCEEDED")) => Class::Limit,
        (_, Some("INVALID_SESSION_ID")) | (401, _) => Class::Auth,
        (_, Some(code)) if RETRYABLE_CODES.contains(&code) => Class::Retryable,
        (500 | 502 | 503 | 504, _) => Class::Retryable,
        (429, _) => Class::Limit,
        (408, _) => Class::Retryable,
        _ => Class::Permanent,
    }
}

/// What went wrong with a client call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The org answered with an error status.
    #[error("{request}: HTTP {status} {}: {}", .body.error_code().unwrap_or("-"), .body.message())]
    Api {
        /// The HTTP status.
        status: u16,
        /// The parsed error body, or its text.
        body: ErrorBody,
        /// The request that failed.
        request: RequestInfo,
    },
    /// No complete answer came: the connection failed or timed out.
    #[error("{request}: {kind} ({phase:?})")]
    Transport {
        /// How far the request got.
        phase: Phase,
        /// A short description (`timeout`, `connection`, `body`).
        kind: String,
        /// The request that failed.
        request: RequestInfo,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The org answered with a success status but a body that could not be read as expected
    /// (truncated or unexpected JSON).
    #[error("{request}: HTTP {status} with an unreadable body: {message}")]
    Decode {
        /// The HTTP status.
        status: u16,
        /// What the parser said.
        message: String,
        /// The request that failed.
        request: RequestInfo,
    },
    /// The OAuth token endpoint refused a grant (`{"error", "error_description"}`).
    #[error("OAuth {error}: {description}")]
    OAuth {
        /// The HTTP status.
        status: u16,
        /// The OAuth error code (`invalid_grant`, `invalid_client_id`...).
        error: String,
        /// The description Salesforce gave.
        description: String,
    },
    /// The connection's grant was refused (revoked or expired refresh token, `invalid_grant`):
    /// a person must authorise the connection again. Requests fail with this until new tokens
    /// are set.
    #[error("the connection needs to be authorised again: {reason}")]
    NeedsReauthorization {
        /// Why, as the token endpoint said it.
        reason: String,
    },
    /// A rotated refresh token could not be stored, so it will not be used.
    #[error("the rotated refresh token could not be stored: {0}")]
    Persist(String),
    /// The refresh lock shared with other instances could not be taken (the database that
    /// holds it failed, or another instance held it too long), so no refresh was made.
    #[error("the connection's refresh lock could not be taken: {0}")]
    Coordinate(String),
    /// The request could not be built (bad id, too many subrequests, bad URL...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The client could not be set up (TLS, URL).
    #[error("client setup: {0}")]
    Setup(String),
}

impl Error {
    /// The HTTP status, when the org answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } | Self::Decode { status, .. } | Self::OAuth { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The first Salesforce error code, when the body had one.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Self::Api { body, .. } => body.error_code(),
            _ => None,
        }
    }

    /// The request that failed, when there was one.
    pub fn request(&self) -> Option<&RequestInfo> {
        match self {
            Self::Api { request, .. }
            | Self::Transport { request, .. }
            | Self::Decode { request, .. } => Some(request),
            _ => None,
        }
    }

    /// What to do about this error (see [`classify`]).
    pub fn class(&self) -> Class {
        match self {
            Self::Api { status, body, .. } => {
                classify(Some(*status), body.error_code(), Phase::Answered)
            }
            Self::Transport { phase, .. } => classify(None, None, *phase),
            // The org did the work but its answer was lost on the way: the same as no answer.
            Self::Decode { request, .. } => classify(
                None,
                None,
                Phase::Sent {
                    write: request.write,
                },
            ),
            Self::OAuth { status, .. } if *status >= 500 => Class::Retryable,
            Self::NeedsReauthorization { .. } => Class::Auth,
            Self::Persist(_) | Self::Coordinate(_) => Class::Retryable,
            Self::OAuth { .. } | Self::InvalidRequest(_) | Self::Setup(_) => Class::Permanent,
        }
    }
}

/// A transport failure with the phase it happened in: a connect error never reached the org;
/// anything else (timeout, reset, a body cut short) may have.
///
/// A request that could not even be built (a header or URL the HTTP stack refuses) was never
/// sent and sending it again cannot help: it is [`Error::InvalidRequest`], never a transport
/// failure (which would be retried, or queued as a write that may have been applied).
pub(crate) fn transport_error(request: RequestInfo, e: reqwest::Error) -> Error {
    if e.is_builder() {
        let why = std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string);
        return Error::InvalidRequest(format!("{request}: the request cannot be sent: {why}"));
    }
    let (phase, kind) = if e.is_connect() {
        (Phase::NotSent, "connection failed")
    } else {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_body() || e.is_decode() {
            "answer cut short"
        } else {
            "connection lost"
        };
        (
            Phase::Sent {
                write: request.write,
            },
            kind,
        )
    };
    Error::Transport {
        phase,
        kind: kind.to_owned(),
        request,
        source: e.without_url(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Phase = Phase::Sent { write: true };
    const R: Phase = Phase::Sent { write: false };
    const A: Phase = Phase::Answered;

    #[test]
    fn classification_table() {
        use Class::*;
        #[rustfmt::skip]
        let cases: &[(Option<u16>, Option<&str>, Phase, Class)] = &[
            (Some(503), Some("SERVER_UNAVAILABLE"), A, Retryable),
            (Some(503), None, A, Retryable),
            (Some(500), Some("UNKNOWN_EXCEPTION"), A, Retryable),
            (Some(502), None, A, Retryable),
            (Some(504), None, A, Retryable),
            (Some(400), Some("UNABLE_TO_LOCK_ROW"), A, Retryable),
            (None, None, Phase::NotSent, Retryable),
            (None, None, R, Retryable),
            (None, None, W, Ambiguous),
            (Some(403), Some("REQUEST_LIMIT_EXCEEDED"), A, Limit),
            (Some(429), None, A, Limit),
            (Some(401), Some("INVALID_SESSION_ID"), A, Auth),
            (Some(401), None, A, Auth),
            (Some(400), Some("REQUIRED_FIELD_MISSING"), A, Permanent),
            (Some(400), Some("FIELD_CUSTOM_VALIDATION_EXCEPTION"), A, Permanent),
            (Some(400), Some("MALFORMED_ID"), A, Permanent),
            (Some(400), Some("INVALID_FIELD"), A, Permanent),
            (Some(400), Some("MALFORMED_QUERY"), A, Permanent),
            (Some(400), Some("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"), A, Permanent),
            (Some(400), Some("DUPLICATE_VALUE"), A, Permanent),
            (Some(404), Some("NOT_FOUND"), A, Permanent),
            (Some(404), Some("ENTITY_IS_DELETED"), A, Permanent),
            (Some(403), Some("INSUFFICIENT_ACCESS_OR_READONLY"), A, Permanent),
            (Some(300), None, A, Permanent),
            (Some(405), Some("METHOD_NOT_ALLOWED"), A, Permanent),
        ];
        for (status, code, phase, want) in cases {
            assert_eq!(
                classify(*status, *code, *phase),
                *want,
                "{status:?} {code:?} {phase:?}"
            );
        }
    }

    #[test]
    fn error_body_parses_array_text_and_multiple_choices() {
        let b = ErrorBody::parse(404, br#"[{"message":"gone","errorCode":"NOT_FOUND"}]"#);
        assert_eq!(b.error_code(), Some("NOT_FOUND"));
        assert_eq!(b.message(), "gone");
        let b = ErrorBody::parse(502, b"<html><body>Bad Gateway</body></html>");
        assert_eq!(
            b,
            ErrorBody::Text("<html><body>Bad Gateway</body></html>".into())
        );
        let b = ErrorBody::parse(300, br#"["/services/data/v59.0/sobjects/Account/001"]"#);
        assert!(matches!(b, ErrorBody::MultipleChoices(ref v) if v.len() == 1));
        assert_eq!(ErrorBody::parse(500, b"[]"), ErrorBody::Text("[]".into()));
    }

    #[test]
    fn request_info_drops_the_query_and_knows_writes() {
        let r = RequestInfo::new("GET", "/services/data/v59.0/query?q=SELECT+Id");
        assert_eq!(r.path, "/services/data/v59.0/query");
        assert!(!r.write);
        assert!(RequestInfo::new("PATCH", "/x").write);
    }
}
