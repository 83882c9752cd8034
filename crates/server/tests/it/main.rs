//! The `callforce` binary driven from outside: MCP clients (the official Python SDK) over
//! streamable HTTP against `callforce serve` and over stdio against `callforce mcp`.

mod mcp_clients;
