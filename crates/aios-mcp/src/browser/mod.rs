//! The browser, through a real MCP server: AIOS's browser tools call
//! `@playwright/mcp` (an `rmcp` client over stdio), which drives Debian's
//! Chromium. See [`tools`] for the mapping and the trust of each tool, and
//! [`client`] for how the server starts, stops and restarts.

mod client;
mod tools;

pub use client::{Browser, BrowserConfig, PLAYWRIGHT_MCP_VERSION, Page, PageResult};
pub use tools::{changes_page, page_named, redact_unjudged, tools};

use std::sync::Arc;

/// The browser tools' names.
pub const TOOL_NAMES: &[&str] = &[
    "navigate",
    "read_page",
    "find_element",
    "click",
    "type_text",
    "screenshot",
    "get_page_text",
];

use crate::ToolRegistry;

/// Adds the browser tools to `registry`, sharing one browser started on first use.
pub fn register(registry: &mut ToolRegistry, browser: &Arc<Browser>) {
    for t in tools(browser) {
        registry.register_shared(t);
    }
}
