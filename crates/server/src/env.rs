//! Every environment variable callforce reads, in one place.

/// The log filter (`info` by default), in `tracing-subscriber`'s `EnvFilter` syntax.
pub const LOG: &str = "CALLFORCE_LOG";

/// `json` for one JSON object per log line (with the request's span: method, path, call id,
/// action); human-readable text otherwise.
pub const LOG_FORMAT: &str = "CALLFORCE_LOG_FORMAT";

/// The API key agents must send to `callforce serve`; without it one is generated at start.
pub const API_KEY: &str = "CALLFORCE_API_KEY";

/// More `Host` values `/mcp` accepts besides the loopback names, comma-separated
/// (`mcp.example.com,mcp.example.com:8443`).
pub const ALLOWED_HOSTS: &str = "CALLFORCE_ALLOWED_HOSTS";

/// More browser `Origin` values `/mcp` accepts besides loopback ones, comma-separated
/// (`https://app.example.com`).
pub const ALLOWED_ORIGINS: &str = "CALLFORCE_ALLOWED_ORIGINS";

/// The webhook alerts are posted to (Slack-compatible JSON), like `--alert-webhook`.
pub const ALERT_WEBHOOK: &str = "CALLFORCE_ALERT_WEBHOOK";

/// The database of `callforce deadletter` and `callforce audit` (`sqlite:PATH` or
/// `postgres://...`), like `--database-url`; without it, `callforce.db` in the data directory.
pub const DATABASE_URL: &str = "CALLFORCE_DATABASE_URL";
