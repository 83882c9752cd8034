//! The `callforce` binary driven from outside: MCP clients (the official Python SDK) over
//! streamable HTTP against `callforce serve` and over stdio against `callforce mcp`; the admin
//! commands (`deadletter`, `audit`) run as a user runs them.

mod audit;
mod cli;
mod mcp_clients;
