//! The HTML front door: every page a person sees. Today these are the connect flow's
//! ([`connect`]: `/connect/salesforce`, the org's login, and the callback's "Connected" or
//! refusal page); the admin console and the OAuth consent page for MCP clients join them here.
//!
//! - [`connect`]: the connect flow's browser routes, its cookie and its pages;
//! - [`page`]: the page shell every page is written into, and HTML escaping.
//!
//! Like every front door, it only parses, asks the core ([`callforce_app`]) and renders: who
//! may start a flow, links, states, PKCE and the browser binding are decided in the core
//! ([`callforce_app::connections::flow`]). It depends on the core and never on another front
//! door.

pub mod connect;
pub mod page;
