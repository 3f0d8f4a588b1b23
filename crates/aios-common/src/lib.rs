//! `aios-common`: what every AIOS process shares.
//!
//! - [`ipc`]: the wire protocol between `aios-agent` and its clients (chat, dock,
//!   confirm, the `aios` CLI): message types, framing, server and client. Its module
//!   documentation is the protocol specification.
//! - [`types`]: chat messages, trust levels, tool calls and results, confirmation
//!   requests, audit entries.
//! - [`config`]: the agent's configuration file (`agent.toml`) and where it lives.
//! - [`paths`]: XDG locations and the agent socket path, with a safe fallback when
//!   there is no login session.
//! - [`models`]: where model files are looked up, the same way in every binary.
//!
//! GUIs depend on this crate only; they never link the agent.

pub mod config;
pub mod confirm;
pub mod ipc;
pub mod models;
pub mod paths;
pub mod text;
pub mod types;
