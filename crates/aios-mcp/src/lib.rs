//! `aios-mcp`: the tool framework and the built-in tools.
//!
//! It will own the `Tool` trait (JSON-Schema argument definitions, trust requirement,
//! execution), the `ToolRegistry`, the `ToolExecutor` with per-call timeouts, the file,
//! shell, Wi-Fi, brightness, volume, system-info and URL tools, and the MCP client for
//! the browser. It never depends on the agent: policy and confirmation live there.
//!
//! Built by the tools-and-trust issue.
