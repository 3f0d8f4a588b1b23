//! First-run setup, apart from any widget: with no config file the chat opens with a
//! short welcome where the person keeps the local model (the recommended default:
//! offline, no key) or picks OpenAI, Anthropic or Ollama. The agent checks the
//! choice with one real request and saves it only when that passes; until then the
//! welcome stays, with the agent's reason when a check fails.

use aios_common::config::{ApiKey, ProviderKind};
use aios_common::ipc::SetupRequest;
use uuid::Uuid;

/// Ollama's OpenAI-compatible endpoint on this computer.
pub const OLLAMA_URL: &str = "http://127.0.0.1:11434/v1";

/// The providers offered, in the order shown, each with a line about it.
pub const CHOICES: [(ProviderKind, &str); 4] = [
    (
        ProviderKind::Local,
        "Keep the model on this computer (recommended): works offline, nothing leaves the machine, no key",
    ),
    (ProviderKind::Openai, "OpenAI: needs an API key"),
    (ProviderKind::Anthropic, "Anthropic: needs an API key"),
    (ProviderKind::Ollama, "Ollama: a model server you run"),
];

/// The welcome's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    /// The provider picked.
    pub choice: ProviderKind,
    /// The key typed (shown as dots).
    pub key: String,
    /// The endpoint typed (Ollama, or another OpenAI-compatible server).
    pub url: String,
    /// The model typed; empty means the provider's default.
    pub model: String,
    /// The check sent and not answered yet.
    pub checking: Option<Uuid>,
    /// Why the last check failed (the agent's words), or what is missing.
    pub error: Option<String>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            choice: ProviderKind::Local,
            key: String::new(),
            url: String::new(),
            model: String::new(),
            checking: None,
            error: None,
        }
    }
}

impl Setup {
    /// The person picked `kind`; an earlier failure no longer applies.
    pub fn choose(&mut self, kind: ProviderKind) {
        if self.choice != kind {
            self.choice = kind;
            self.error = None;
            if kind == ProviderKind::Ollama && self.url.is_empty() {
                self.url = OLLAMA_URL.into();
            }
        }
    }

    /// Whether the choice takes a key.
    pub fn needs_key(&self) -> bool {
        matches!(self.choice, ProviderKind::Openai | ProviderKind::Anthropic)
    }

    /// Whether the choice takes an address and a model.
    pub fn takes_url(&self) -> bool {
        matches!(self.choice, ProviderKind::Openai | ProviderKind::Ollama)
    }

    /// The button's words.
    pub fn action(&self) -> &'static str {
        match (self.checking.is_some(), self.choice) {
            (true, _) => "Checking…",
            (false, ProviderKind::Local) => "Keep the local model",
            (false, _) => "Check and save",
        }
    }

    /// The person pressed the button: the request to send, or `None` with
    /// [`Setup::error`] saying what is missing (or a check already running).
    pub fn submit(&mut self) -> Option<SetupRequest> {
        if self.checking.is_some() {
            return None;
        }
        if self.needs_key() && self.key.trim().is_empty() {
            self.error = Some(format!("Paste your {} API key first.", name(self.choice)));
            return None;
        }
        let request_id = Uuid::new_v4();
        self.checking = Some(request_id);
        self.error = None;
        let (base_url, model) = if self.choice == ProviderKind::Local {
            (String::new(), String::new())
        } else {
            let url = if self.takes_url() {
                self.url.trim()
            } else {
                ""
            };
            (url.to_owned(), self.model.trim().to_owned())
        };
        Some(SetupRequest {
            request_id,
            provider: self.choice,
            api_key: if self.needs_key() {
                ApiKey::new(self.key.trim())
            } else {
                ApiKey::default()
            },
            base_url,
            model,
        })
    }

    /// The agent refused the check `request_id` with `why`: shown, and the person
    /// can try again. Nothing was saved. `false` if it answered another request.
    pub fn refused(&mut self, request_id: Uuid, why: &str) -> bool {
        if self.checking != Some(request_id) {
            return false;
        }
        self.checking = None;
        self.error = Some(why.to_owned());
        true
    }

    /// The link dropped: the check will not be answered.
    pub fn interrupted(&mut self) {
        if self.checking.take().is_some() {
            self.error = Some("The connection to the agent was lost; nothing was saved. Try again when it is back.".into());
        }
    }
}

/// How a provider is named to people.
pub fn name(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Local => "local",
        ProviderKind::Openai => "OpenAI",
        ProviderKind::Anthropic => "Anthropic",
        ProviderKind::Ollama => "Ollama",
        ProviderKind::Echo => "echo",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cloud_choice_needs_a_key_before_anything_is_sent() {
        let mut s = Setup::default();
        s.choose(ProviderKind::Openai);
        assert_eq!(s.submit(), None);
        assert!(s.error.as_deref().unwrap().contains("API key"));
        s.key = "  sk-1 ".into();
        let req = s.submit().expect("sent");
        assert_eq!(req.api_key.expose(), "sk-1");
        assert_eq!(req.provider, ProviderKind::Openai);
        assert_eq!(s.action(), "Checking…");
        assert_eq!(s.submit(), None, "one check at a time");
    }

    #[test]
    fn a_refusal_is_shown_and_the_person_can_try_again() {
        let mut s = Setup::default();
        s.choose(ProviderKind::Anthropic);
        s.key = "sk-ant-wrong".into();
        let req = s.submit().unwrap();
        assert!(
            !s.refused(Uuid::new_v4(), "other"),
            "another request's error"
        );
        assert!(s.refused(req.request_id, "anthropic refused the key"));
        assert_eq!(s.error.as_deref(), Some("anthropic refused the key"));
        assert!(s.submit().is_some(), "tried again");
    }

    #[test]
    fn keeping_the_local_model_sends_nothing_else_and_ollama_gets_its_address() {
        let mut s = Setup {
            key: "left over".into(),
            ..Setup::default()
        };
        let req = s.submit().unwrap();
        assert_eq!(req.provider, ProviderKind::Local);
        assert!(req.api_key.is_empty() && req.base_url.is_empty());
        let mut s = Setup::default();
        s.choose(ProviderKind::Ollama);
        assert_eq!(s.url, OLLAMA_URL);
        s.model = "llama3.2".into();
        let req = s.submit().unwrap();
        assert_eq!(
            (req.base_url.as_str(), req.model.as_str()),
            (OLLAMA_URL, "llama3.2")
        );
    }
}
