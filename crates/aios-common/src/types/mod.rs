//! Data types shared by the agent, its clients and the audit log.

mod audit;
mod confirm;
mod message;
mod tool;
mod trust;

pub use audit::AuditEntry;
pub use confirm::{ConfirmRequest, ConfirmResponse};
pub use message::{ChatMessage, Role};
pub use tool::{ToolCall, ToolDefinition, ToolResult};
pub use trust::{TrustLevel, TrustRequirement};
