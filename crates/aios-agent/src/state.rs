//! State shared by every connection of the agent.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use aios_common::config::{AgentConfig, ProviderKind};

/// What the agent knows about itself; shared behind an `Arc`.
#[derive(Debug)]
pub struct AgentState {
    started: Instant,
    config: AgentConfig,
    clients: AtomicU32,
}

impl AgentState {
    /// Fresh state, uptime counting from now.
    pub fn new(config: AgentConfig) -> Self {
        Self {
            started: Instant::now(),
            config,
            clients: AtomicU32::new(0),
        }
    }

    /// The configuration the agent runs on.
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// Provider actually answering. Until the provider layer lands every turn is
    /// answered in echo mode, whatever the config asks for.
    pub fn active_provider(&self) -> ProviderKind {
        ProviderKind::Echo
    }

    /// Milliseconds since start.
    pub fn uptime_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Connected clients.
    pub fn clients(&self) -> u32 {
        self.clients.load(Ordering::Relaxed)
    }

    pub(crate) fn client_opened(&self) {
        self.clients.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn client_closed(&self) {
        self.clients.fetch_sub(1, Ordering::Relaxed);
    }
}
