//! Every environment variable callforce reads, in one place.

/// The log filter (`info` by default), in `tracing-subscriber`'s `EnvFilter` syntax.
pub const LOG: &str = "CALLFORCE_LOG";

/// The API key agents must send to `callforce serve`; without it one is generated at start.
pub const API_KEY: &str = "CALLFORCE_API_KEY";
