//! The HTML front door: every page a person sees: the admin console ([`console`]: sign in with
//! an API key, the overview, connections, dead letters and jobs, and the API keys in settings) and the connect flow's pages ([`connect`]: `/connect/salesforce`,
//! the org's login, and the callback's "Connected" or refusal page); the OAuth consent page for
//! MCP clients joins them here. The console's pages are askama templates (`templates/`), its
//! stylesheet is embedded (`assets/`).
//!
//! - [`console`]: the console's routes, its session cookie and its pages;
//! - [`connect`]: the connect flow's browser routes, its cookie and its pages;
//! - [`cookies`]: reading the cookies the pages set;
//! - [`page`]: the plain page shell of the connect pages, and HTML escaping.
//!
//! Like every front door, it only parses, asks the core ([`callforce_app`]) and renders: who
//! may start a flow, links, states, PKCE and the browser binding are decided in the core
//! ([`callforce_app::connections::flow`]). It depends on the core and never on another front
//! door.

pub mod connect;
pub mod console;
pub mod cookies;
pub mod page;
