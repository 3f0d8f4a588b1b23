//! First-run setup: the person picks the model that answers, from a window.
//!
//! The choice is checked before anything is kept: a cloud provider with one real
//! request (a wrong key, a dead URL or an unknown model fails here, not on the
//! person's first question), the local model by finding its file. Only then is
//! `agent.toml` written (mode 0600: it may hold the key) and the new provider put
//! in place for the turns that start afterwards. A failed check saves nothing and
//! changes nothing.

use std::sync::Arc;
use std::time::Duration;

use aios_common::config::{ProviderConfig, ProviderKind};
use aios_common::ipc::{SetupReply, SetupRequest};
use aios_common::models;
use tracing::info;

use crate::llm::{LlmMessage, LlmProvider, LlmRequest};
use crate::state::{AgentState, build_provider};

/// Longest wait for the check request: a cloud answer to "OK" takes a second or two;
/// an endpoint silent this long would fail the person's questions too.
const CHECK_TIMEOUT: Duration = Duration::from_secs(20);

/// Checks, saves and applies `req`; the error says what failed and what to do.
pub(crate) async fn apply(state: &AgentState, req: &SetupRequest) -> Result<SetupReply, String> {
    let Some(file) = state.config_file().cloned() else {
        return Err("this agent was started without a config file to save to; start it without --config, or edit that file".into());
    };
    let candidate = candidate(&state.provider_config(), req)?;
    let mut config = state.config().clone();
    config.provider = candidate.clone();

    let provider: Arc<dyn LlmProvider> = match candidate.kind {
        ProviderKind::Local => {
            models::find_model(&config.local.model).map_err(|e| {
                format!("the local model cannot be used: {e} (run `make models`, or pick a cloud provider)")
            })?;
            let current = state.provider();
            if current.name() == "local" {
                // The worker that runs now is the one the file will name: keep it
                // (and its warm prompt cache) rather than loading the model again.
                current
            } else {
                build_provider(
                    &config,
                    state.system_prompt(),
                    state.tool_definitions_for(config.provider.kind),
                )
            }
        }
        _ => {
            let provider = build_provider(
                &config,
                state.system_prompt(),
                state.tool_definitions_for(config.provider.kind),
            );
            check(provider.as_ref()).await?;
            provider
        }
    };

    // No turn may run while the file and the provider change under it.
    let _turn = state.turn_guard().await;
    let path = file.path.clone();
    let saved = {
        let config = config.clone();
        tokio::task::spawn_blocking(move || config.save(&path)).await
    };
    match saved {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(format!("{e}; nothing was changed")),
        Err(e) => {
            return Err(format!(
                "saving the config failed: {e}; nothing was changed"
            ));
        }
    }
    let reply = SetupReply {
        request_id: req.request_id,
        provider: provider.name().to_owned(),
        model: provider.model(),
        saved_to: file.path.display().to_string(),
    };
    info!(
        provider = reply.provider,
        path = reply.saved_to,
        "first-run setup saved; the new provider answers from the next turn"
    );
    state.replace_provider(provider, candidate);
    Ok(reply)
}

/// The `[provider]` section `req` asks for, on top of the current one's limits.
fn candidate(current: &ProviderConfig, req: &SetupRequest) -> Result<ProviderConfig, String> {
    let mut p = current.clone();
    p.kind = req.provider;
    p.api_key = aios_common::config::ApiKey::new(req.api_key.expose().trim());
    p.base_url = req.base_url.trim().to_owned();
    p.model = req.model.trim().to_owned();
    match req.provider {
        ProviderKind::Echo => {
            return Err(
                "`echo` only repeats questions back; choose local, openai, anthropic or ollama"
                    .into(),
            );
        }
        ProviderKind::Openai | ProviderKind::Anthropic if p.api_key.is_empty() => {
            return Err(format!(
                "{} needs an API key; paste yours (it is saved only in agent.toml, mode 0600)",
                req.provider.as_str()
            ));
        }
        ProviderKind::Local => {
            p.api_key = Default::default();
            p.base_url.clear();
            p.model.clear();
        }
        _ => {}
    }
    let web = ["http://", "https://"];
    if !p.base_url.is_empty() && !web.iter().any(|w| p.base_url.starts_with(w)) {
        return Err(format!(
            "`{}` is not a web address; it should start with http:// or https://",
            p.base_url
        ));
    }
    Ok(p)
}

/// One real request: the smallest question the provider must answer.
async fn check(provider: &dyn LlmProvider) -> Result<(), String> {
    let req = LlmRequest {
        messages: vec![LlmMessage::User {
            content: "Reply with the single word OK.".into(),
        }],
        tools: Vec::new(),
        temperature: 0.0,
        max_tokens: 8,
        words_only: false,
        fallback: None,
    };
    match tokio::time::timeout(CHECK_TIMEOUT, provider.complete(&req)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("the check request failed: {e}; nothing was saved")),
        Err(_) => Err(format!(
            "{} did not answer within {} s; check the address and your network; nothing was saved",
            provider.name(),
            CHECK_TIMEOUT.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aios_common::config::ApiKey;

    fn req(kind: ProviderKind, key: &str, url: &str) -> SetupRequest {
        SetupRequest {
            request_id: uuid::Uuid::nil(),
            provider: kind,
            api_key: ApiKey::new(key),
            base_url: url.into(),
            model: String::new(),
        }
    }

    #[test]
    fn a_cloud_provider_needs_a_key_and_a_web_address() {
        let current = ProviderConfig::default();
        let e = candidate(&current, &req(ProviderKind::Openai, " ", "")).unwrap_err();
        assert!(e.contains("needs an API key"), "{e}");
        let e = candidate(&current, &req(ProviderKind::Ollama, "", "localhost:11434")).unwrap_err();
        assert!(e.contains("http://"), "{e}");
        assert!(candidate(&current, &req(ProviderKind::Echo, "", "")).is_err());
        let p = candidate(&current, &req(ProviderKind::Anthropic, " sk-ant \n", "")).unwrap();
        assert_eq!(p.api_key.expose(), "sk-ant", "pasted whitespace is trimmed");
        assert_eq!(p.timeout_secs, current.timeout_secs, "limits are kept");
    }

    #[test]
    fn keeping_the_local_model_drops_cloud_settings() {
        let p = candidate(
            &ProviderConfig::default(),
            &req(ProviderKind::Local, "sk-x", "http://x"),
        )
        .unwrap();
        assert!(p.api_key.is_empty() && p.base_url.is_empty());
    }
}
