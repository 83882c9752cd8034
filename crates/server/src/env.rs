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

/// The database of `callforce serve`, `callforce deadletter` and `callforce audit`
/// (`postgres://...` or `sqlite:PATH`), like `--database-url`; without it, `callforce.db` in the
/// data directory. Instances of `serve` sharing one PostgreSQL database share its write queue.
pub const DATABASE_URL: &str = "CALLFORCE_DATABASE_URL";

/// How many seconds a call's write is remembered, like `--duplicate-window-secs` (600 by
/// default; 0 keeps none).
pub const DUPLICATE_WINDOW_SECS: &str = "CALLFORCE_DUPLICATE_WINDOW_SECS";

/// `true` to refuse to start when other users can read the data directory or the database
/// files, like `--strict-permissions`.
pub const STRICT_PERMISSIONS: &str = "CALLFORCE_STRICT_PERMISSIONS";

/// The vault's master key (32 bytes, base64 or hex). Without it, `<data dir>/master.key` is used
/// (created with mode 0600 at the first start).
pub const MASTER_KEY: &str = callforce_app::vault::MASTER_KEY_ENV;

/// The new master key for `callforce keys rotate` when the current one comes from
/// [`MASTER_KEY`].
pub const NEW_MASTER_KEY: &str = callforce_app::vault::NEW_MASTER_KEY_ENV;

/// The service's public base URL, for the OAuth callback (`http://<listen address>` by default).
pub const PUBLIC_URL: &str = "CALLFORCE_PUBLIC_URL";

/// The connected app's consumer key for the connect flow (default: the embedded dev org's app).
pub const SF_CLIENT_ID: &str = "CALLFORCE_SF_CLIENT_ID";

/// The connected app's consumer secret (optional with PKCE).
pub const SF_CLIENT_SECRET: &str = "CALLFORCE_SF_CLIENT_SECRET";

/// A base URL that replaces the login host of every environment (production, sandbox, custom
/// domain): for tests against a dev org, or a proxy.
pub const LOGIN_HOST_OVERRIDE: &str = "CALLFORCE_LOGIN_HOST_OVERRIDE";

/// The file `callforce serve` appends a signed audit checkpoint to, once a minute for each
/// workspace whose audit chain moved, like `--audit-checkpoint-file` (put it on another volume
/// than the database).
pub const AUDIT_CHECKPOINT_FILE: &str = "CALLFORCE_AUDIT_CHECKPOINT_FILE";

/// An endpoint each audit checkpoint line is also POSTed to (JSON), like
/// `--audit-checkpoint-url`.
pub const AUDIT_CHECKPOINT_URL: &str = "CALLFORCE_AUDIT_CHECKPOINT_URL";

/// How many days `callforce serve` keeps the operations log (every action run in a call), like
/// `--operations-retention-days` (30).
pub const OPERATIONS_RETENTION_DAYS: &str = "CALLFORCE_OPERATIONS_RETENTION_DAYS";

/// The OTLP/HTTP base URL traces are sent to (`/v1/traces` is appended), e.g.
/// `http://127.0.0.1:4318`; without it (or [`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`]) no trace
/// is recorded. The exporter also reads the other standard `OTEL_EXPORTER_OTLP_*` variables
/// (`_HEADERS`, `_TIMEOUT`, `_COMPRESSION`), `OTEL_BSP_*` (batching), `OTEL_TRACES_SAMPLER` and
/// `OTEL_RESOURCE_ATTRIBUTES`; see `docs/observability.md`.
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

/// The full OTLP/HTTP URL traces are sent to (used as it is), instead of
/// [`OTEL_EXPORTER_OTLP_ENDPOINT`].
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";

/// The OTLP protocol: only `http/protobuf` is supported (another value is warned about).
pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";

/// `true` to record no trace even with an endpoint set.
pub const OTEL_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";

/// The service name traces carry (`callforce` by default).
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
