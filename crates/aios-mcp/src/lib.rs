//! `aios-mcp`: the tool framework and the built-in tools.
//!
//! A [`Tool`] describes its arguments with a JSON Schema derived from a Rust type
//! (`schemars`), states its [`TrustRequirement`](aios_common::types::TrustRequirement)
//! and runs. The [`ToolExecutor`] validates arguments against that schema before
//! anything else and bounds every call with a timeout. Argument properties marked
//! `"x-secret": true` (a Wi-Fi password) are handed to the tool and nowhere else:
//! [`redact`] replaces them for logs, the audit file, tool cards and the model.
//!
//! Policy, confirmation and audit are the agent's business; this crate never depends
//! on it. The browser tools ([`browser`]) are an MCP client of `@playwright/mcp`.

pub mod browser;
mod registry;
mod schema;
mod tool;
pub mod tools;

pub use registry::{ToolExecutor, ToolRegistry};
pub use schema::{REDACTED, redact, redact_unknown, validate};
pub use tool::{Assessment, Tool, ToolContext, ToolError, definition_for, parse_args};
