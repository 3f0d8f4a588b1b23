//! `aios-agent`: the daemon at the centre of AIOS.
//!
//! It owns the public socket every front end talks to (see [`aios_common::ipc`]), the
//! conversation turn loop, and (as later issues land) the LLM providers and the
//! `aios-llm` worker, the tool pipeline with policy, confirmation and audit, and the
//! voice pipeline. Nothing else in the system acts on the computer.
//!
//! The `aios` command line is its own crate (`aios-cli`) and links none of this; the
//! audit log's format and chain check live in `aios-audit`, which both use.

pub use aios_audit as audit;
pub mod confirm;
pub mod context;
pub mod llm;
pub mod needless;
pub mod outside;
pub mod pin;
mod pipeline;
pub mod policy;
pub mod prompt;
pub mod router;
mod setup;
pub mod state;
mod turn;
mod voice;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use aios_common::config::AgentConfig;
use aios_common::ipc::server::{IpcServer, ServerError, ServerOptions};

pub use router::Router;
pub use state::{AgentState, ConfigFile};

/// Binds the socket and serves clients until `shutdown` resolves; the socket file is
/// removed on the way out. With no config file, first-run setup is refused.
pub async fn run(
    config: AgentConfig,
    socket: &Path,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    run_with_file(config, None, socket, options, shutdown).await
}

/// [`run`], for an agent whose config is (or, after first-run setup, will be)
/// `file`.
pub async fn run_with_file(
    config: AgentConfig,
    file: Option<ConfigFile>,
    socket: &Path,
    options: ServerOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let server = IpcServer::bind(socket, options)?;
    let prompt =
        prompt::load(config.agent.system_prompt.as_deref()).map_err(|source| ServerError::Io {
            path: config.agent.system_prompt.clone().unwrap_or_default(),
            source,
        })?;
    let mut state = AgentState::new(config, prompt);
    if let Some(file) = file {
        state = state.with_config_file(file);
    }
    let state = Arc::new(state);
    if let Some(voice) = voice::start(&state) {
        state.set_voice(voice);
    }
    server
        .serve(Arc::new(Router::new(state.clone())), shutdown)
        .await;
    // Close the browser's server and Chromium, and remove their folder, rather than
    // leave it to the process ending (a SIGTERM here: nothing is left, checked).
    state.stop_browser().await;
    Ok(())
}
