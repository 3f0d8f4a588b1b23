//! Choosing the HTTP provider a config names.

use aios_common::config::{ProviderConfig, ProviderKind};

use super::anthropic::AnthropicProvider;
use super::openai::OpenAiProvider;
use super::types::LlmProvider;

/// The provider for an `openai`, `ollama` or `anthropic` config; `None` for the
/// kinds that are not reached over HTTP (`local`, `echo`).
///
/// Building one does no I/O: a wrong key or an unreachable `base_url` shows up as an
/// [`LlmError`](super::LlmError) on the first request.
pub fn cloud_provider(cfg: &ProviderConfig) -> Option<Box<dyn LlmProvider>> {
    match cfg.kind {
        ProviderKind::Openai | ProviderKind::Ollama => Some(Box::new(OpenAiProvider::new(cfg))),
        ProviderKind::Anthropic => Some(Box::new(AnthropicProvider::new(cfg))),
        ProviderKind::Local | ProviderKind::Echo => None,
    }
}
