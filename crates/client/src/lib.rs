//! A typed async Salesforce REST client: OAuth flows, token refresh, requests as owned values,
//! query paging, composite and collections, describe cache, API usage, error classification.
//!
//! Modules:
//! - [`auth`]: login hosts, the OAuth flows (web server with PKCE, refresh, JWT bearer, client
//!   credentials, password), revoke and userinfo.
//! - [`token`]: one connection's token lifecycle: single-flight refresh, rotation, re-authorisation.
//! - [`connection`]: [`Connection`], the pooled HTTP client of one org and the one `send` path.
//! - [`http`]: one pooled keep-alive client per instance URL (rustls, HTTP/2, gzip, timeouts).
//! - [`error`]: the one [`Error`] type and the pure [`classify`] function.
//! - [`limits`]: `Sforce-Limit-Info` parsing and the latest [`ApiUsage`].
//! - [`describe`]: typed describes and their cache.
//! - [`request`]: [`Request`], every REST operation as an owned, serialisable value, and the
//!   typed answers ([`SaveResult`], [`QueryResult`]...).
//! - [`composite`]: the composite builder (`@{ref.id}` chains) and composite batch.
//! - [`retry`]: when a failed read is tried again (within the mid-call budget).
//! - `ops`: the typed operations of a [`Connection`] (`create`, `query_stream`, `describe`...).
//! - `wire`: what [`request`] and [`composite`] both build with ([`Record`], API names, path
//!   segments), below both so they do not import each other.
//!
//! The design decision to know: a connection never retries a write on its own except once after
//! a token refresh on `401 INVALID_SESSION_ID`. Every other failure of a write is returned with
//! its [`Class`] so the caller (the write queue) decides: a write whose answer was lost is
//! [`Class::Ambiguous`] and must not be blindly sent again. A read is safe to send again, so the
//! typed operations retry a read that failed with a retryable error themselves, within the
//! connection's read budget ([`retry`]); [`Connection::send`] stays one try.

pub mod auth;
pub mod composite;
pub mod connection;
pub mod describe;
pub mod error;
pub mod http;
pub mod limits;
mod ops;
pub mod request;
pub mod retry;
pub mod token;
mod wire;

pub use auth::{Grant, JwtKey, LoginHost, OAuthApp, OAuthClient, Tokens};
pub use callforce_types::{ApiVersion, Id};
pub use composite::{CompositeBuilder, CompositeRequest, CompositeResponse, Reference};
pub use connection::{
    Connection, ConnectionConfig, HttpRequest, Method, RawResponse, VersionInfo, count_round_trips,
};
pub use error::{Class, Error, ErrorBody, Phase, RequestInfo, Result, classify};
pub use http::{HttpConfig, HttpPool};
pub use limits::ApiUsage;
pub use request::{QueryResult, RawRequest, Record, Request, SaveResult};
pub use secrecy::{ExposeSecret, SecretString};
