//! The agent's configuration file, `agent.toml`.
//!
//! ```toml
//! [provider]
//! type = "local"          # local | openai | ollama | anthropic | echo
//! api_key = ""            # cloud providers only; the file is then kept at mode 0600
//! model = ""              # provider's model name; empty = the provider's default
//! base_url = ""           # OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1
//! timeout_secs = 30       # a provider silent this long fails the turn
//! temperature = 0.0       # 0 = greedy, repeatable
//! max_tokens = 512        # longest reply
//!
//! [local]                 # the bundled model (provider type "local")
//! model = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
//! threads = 0             # 0 = one per core
//! context_tokens = 4096
//!
//! [agent]
//! socket_path = ""        # empty = $XDG_RUNTIME_DIR/aios-agent.sock
//! audit_log = ""          # empty = $AIOS_AUDIT_LOG, else $XDG_STATE_HOME/aios/actions.log
//! max_destructive_per_minute = 3
//! confirm_timeout_secs = 60
//! max_tool_rounds = 8
//! keep_history = true     # conversation history in $XDG_DATA_HOME/aios/memory.db
//! conversation_idle_secs = 1800  # a message after this long starts a new conversation
//!                         # (`aios new` or `/new` in `aios chat` starts one at once)
//! system_prompt = ""       # empty = the system_prompt.txt installed with AIOS
//!
//! [tools]
//! always_allow = []       # Confirm-level tools that may run unasked, e.g. ["volume"];
//!                         # never file_delete or shell_exec, and suspended once the
//!                         # conversation holds content read from outside
//! timeout_secs = 120      # one tool call, whatever it is
//! shell_timeout_secs = 30 # one shell_exec command
//! output_cap_bytes = 16384
//! read_cap_bytes = 1048576 # most of one file file_read reads (the rest is reported as cut)
//! backlight_root = "/sys/class/backlight"
//! browser = true          # navigate, read_page, click, ...: Chromium through
//!                         # @playwright/mcp, when `make setup` installed them
//!
//! [voice]
//! stt_model = "ggml-base.bin"   # whisper model under models/
//! second_opinion_model = "ggml-tiny.en.bin" # asked when stt_model is unsure; "" = off
//! language = "en"               # or "auto" with a multilingual model
//! audio_ctx_floor = 256         # smallest encoder context (0 = full 30 s context)
//! threads = 0                   # speech recognition threads; 0 = one per core
//! vad_model = "silero-vad-6.2.3/silero_vad.onnx"
//! min_silence_ms = 500          # silence that ends an utterance
//! speech_padding_ms = 200       # audio kept around speech
//! tts_voice = "en_US-joe-medium.onnx"
//!
//! [dock]
//! ptt = "hold"                  # the mic button: "hold" to talk, or "toggle" (click
//!                               # to start, click to stop)
//! ```
//!
//! Every key is optional. Unknown keys are errors, so a typo never silently falls
//! back to a default.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The whole `agent.toml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// Which language model answers.
    pub provider: ProviderConfig,
    /// The bundled local model.
    pub local: LocalConfig,
    /// The daemon's own settings.
    pub agent: AgentSection,
    /// Tool policy and limits.
    pub tools: ToolsSection,
    /// Speech recognition and synthesis.
    pub voice: VoiceSection,
    /// The dock (read by `aios-dock`).
    pub dock: DockSection,
}

/// `[dock]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DockSection {
    /// How the mic button takes speech.
    pub ptt: PttMode,
}

/// How the dock's mic button takes speech.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PttMode {
    /// Press to listen, release to end the utterance.
    #[default]
    Hold,
    /// A click starts listening, the next click ends the utterance.
    Toggle,
}

/// `[voice]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VoiceSection {
    /// Load the voice models at start and accept push-to-talk.
    pub enabled: bool,
    /// Listen all the time and let voice activity start each utterance (push-to-talk
    /// when false).
    pub hands_free: bool,
    /// Audio between partial transcripts while the person speaks, in ms (0: none).
    pub partial_interval_ms: u32,
    /// Whisper model for partial transcripts ("" for the `stt_model` itself): a
    /// smaller one keeps whisper free for the final pass at the release (whisper
    /// cannot stop its encoder midway).
    pub partial_model: String,
    /// Push-to-talk: silence after which the final pass starts before the release
    /// (its result is used when no speech follows), in ms.
    pub early_final_ms: u32,
    /// Whisper model file (looked up like every model).
    pub stt_model: String,
    /// A second whisper model, asked when `stt_model` is unsure of what it heard;
    /// the surer answer wins ("" for none; shared with `partial_model` when it is
    /// the same file).
    pub second_opinion_model: String,
    /// Language code, or `auto` (multilingual models only).
    pub language: String,
    /// Smallest whisper encoder context; 0 means the full 30 s context.
    pub audio_ctx_floor: u32,
    /// Recognition threads; 0 = one per core.
    pub threads: u32,
    /// Text whisper reads before the speech, to set the domain ("" for none; see the
    /// README for what "Hey computer, please do this:" did).
    pub stt_prompt: String,
    /// Silero VAD model file.
    pub vad_model: String,
    /// Silence that ends an utterance.
    pub min_silence_ms: u32,
    /// Audio kept before and after speech.
    pub speech_padding_ms: u32,
    /// Piper voice (`.onnx`, with its `.onnx.json` beside it).
    pub tts_voice: String,
}

impl Default for VoiceSection {
    fn default() -> Self {
        Self {
            enabled: true,
            hands_free: false,
            partial_interval_ms: 500,
            partial_model: "ggml-tiny.en.bin".into(),
            early_final_ms: 250,
            stt_model: "ggml-base.bin".into(),
            second_opinion_model: "ggml-tiny.en.bin".into(),
            language: "en".into(),
            audio_ctx_floor: 256,
            threads: 0,
            stt_prompt: String::new(),
            vad_model: "silero-vad-6.2.3/silero_vad.onnx".into(),
            min_silence_ms: 500,
            speech_padding_ms: 200,
            tts_voice: "en_US-joe-medium.onnx".into(),
        }
    }
}

/// `[tools]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToolsSection {
    /// Confirm-level tools that run without asking while the conversation holds no
    /// outside content. Destructive tools listed here are ignored (with a warning).
    pub always_allow: Vec<String>,
    /// Time limit of one tool call.
    pub timeout_secs: u64,
    /// Time limit of one `shell_exec` command.
    pub shell_timeout_secs: u64,
    /// Most bytes of output one tool call returns.
    pub output_cap_bytes: usize,
    /// Most bytes `file_read` reads from one file.
    pub read_cap_bytes: usize,
    /// Directory laid out like `/sys/class/backlight`.
    pub backlight_root: PathBuf,
    /// Offer the browser tools (navigate, read_page, click, ...: Chromium driven
    /// through `@playwright/mcp`). They are offered only when node, the server and
    /// Chromium are installed (`make setup`); the agent says at start when not.
    pub browser: bool,
}

impl Default for ToolsSection {
    fn default() -> Self {
        Self {
            always_allow: Vec::new(),
            timeout_secs: 120,
            shell_timeout_secs: 30,
            output_cap_bytes: 16 * 1024,
            read_cap_bytes: 1 << 20,
            backlight_root: "/sys/class/backlight".into(),
            browser: true,
        }
    }
}

/// The kind of language-model provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// The bundled local model in the `aios-llm` worker (works offline).
    #[default]
    Local,
    /// Any OpenAI-compatible endpoint.
    Openai,
    /// Ollama's OpenAI-compatible endpoint.
    Ollama,
    /// Anthropic's Messages API.
    Anthropic,
    /// Repeats the question back; for wiring checks.
    Echo,
}

impl ProviderKind {
    /// The name used in the config and in status output.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Local => "local",
            ProviderKind::Openai => "openai",
            ProviderKind::Ollama => "ollama",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Echo => "echo",
        }
    }
}

/// An API key. Its `Debug` and `Display` never show the value, so it cannot end up
/// in a log by accident.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }
    /// The key itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// True when no key is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "\"<redacted>\""
        })
    }
}

/// `[provider]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderConfig {
    /// Provider kind.
    #[serde(rename = "type")]
    pub kind: ProviderKind,
    /// API key for cloud providers.
    #[serde(skip_serializing_if = "ApiKey::is_empty")]
    pub api_key: ApiKey,
    /// Model name; empty means the provider's default.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// Endpoint; empty means the provider's default.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub base_url: String,
    /// Seconds to wait for a provider before the turn fails.
    pub timeout_secs: u64,
    /// Sampling temperature; 0 means greedy (repeatable answers).
    pub temperature: f32,
    /// Most tokens one model reply may have.
    pub max_tokens: u32,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            kind: ProviderKind::default(),
            api_key: ApiKey::default(),
            model: String::new(),
            base_url: String::new(),
            timeout_secs: 30,
            temperature: 0.0,
            max_tokens: 512,
        }
    }
}

/// `[local]`: the bundled model in the `aios-llm` worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalConfig {
    /// GGUF file name, looked up like every model (see [`crate::models`]).
    pub model: String,
    /// Inference threads; 0 means one per CPU core.
    pub threads: u32,
    /// Context window in tokens (prompt, history and reply together).
    pub context_tokens: u32,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            model: DEFAULT_LOCAL_MODEL.to_owned(),
            threads: 0,
            context_tokens: 4096,
        }
    }
}

/// The GGUF the local provider loads unless `[local] model` says otherwise.
pub const DEFAULT_LOCAL_MODEL: &str = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf";

/// `[agent]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentSection {
    /// Socket path; `None` means the default (see [`crate::paths::socket_path`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket_path: Option<PathBuf>,
    /// Audit log path; `None` means `$XDG_STATE_HOME/aios/actions.log`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_log: Option<PathBuf>,
    /// Destructive tool calls allowed per minute; the rest are refused.
    pub max_destructive_per_minute: u32,
    /// Seconds before an unanswered confirmation counts as denied.
    pub confirm_timeout_secs: u64,
    /// Most model → tools → model rounds in one turn.
    pub max_tool_rounds: u32,
    /// Keep conversation history on disk (`$XDG_DATA_HOME/aios/memory.db`).
    pub keep_history: bool,
    /// A message this many seconds after the previous turn starts a new
    /// conversation: the model sees none of the earlier turns (history keeps them).
    /// 0: every message stands alone. `None`: 1800 (30 minutes).
    pub conversation_idle_secs: Option<u64>,
    /// System prompt file; `None` means the `system_prompt.txt` installed with AIOS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<PathBuf>,
}

impl Default for AgentSection {
    fn default() -> Self {
        Self {
            socket_path: None,
            audit_log: None,
            max_destructive_per_minute: 3,
            confirm_timeout_secs: 60,
            max_tool_rounds: 8,
            keep_history: true,
            conversation_idle_secs: None,
            system_prompt: None,
        }
    }
}

/// Why the config could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid: names file, line, column and key.
    #[error(
        "invalid config {path}:{line}:{column}{key}: {message}\nfix the file or move it away to run on defaults"
    )]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// ` (key `x.y`)` or empty.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// Writing the file failed.
    #[error("cannot write config {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Result of [`AgentConfig::load`].
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded {
    /// Read from the file.
    File(AgentConfig),
    /// No file there: defaults.
    Defaults(AgentConfig),
}

impl Loaded {
    /// The configuration, wherever it came from.
    pub fn config(&self) -> &AgentConfig {
        match self {
            Loaded::File(c) | Loaded::Defaults(c) => c,
        }
    }
}

/// What a front end (the chat window, the dock) needs of `agent.toml`: the config
/// when it loads, else the defaults (a broken file is the agent's to report), and the
/// socket to reach the agent on, found as the agent finds it (`AIOS_SOCKET`,
/// `[agent] socket_path`, the runtime directory).
pub fn for_front_end() -> Result<(PathBuf, AgentConfig), crate::paths::PathError> {
    let config = crate::paths::agent_config_path()
        .ok()
        .and_then(|p| AgentConfig::load(&p).ok())
        .map(|loaded| loaded.config().clone())
        .unwrap_or_default();
    let socket = crate::paths::socket_path(config.agent.socket_path.as_deref())?;
    Ok((socket, config))
}

impl AgentConfig {
    /// Reads `path`; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Loaded::Defaults(Self::default()));
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let config = Self::parse(&text, path)?;
        if !config.provider.api_key.is_empty() {
            warn_if_readable_by_others(path);
        }
        Ok(Loaded::File(config))
    }

    /// Parses config text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut config: Self = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            let (line, column) = line_col(text, at);
            ConfigError::Invalid {
                path: path.to_owned(),
                line,
                column,
                key: key_at(text, at, e.message())
                    .map_or_else(String::new, |k| format!(" (key `{k}`)")),
                message: e.message().to_owned(),
            }
        })?;
        config.validate(text, path)?;
        config.empty_means_default();
        Ok(config)
    }

    /// An empty string means the default, for every path and model key: the
    /// README's own example writes `socket_path = ""`, and "listen on ''" or "no
    /// audit log" is never what it meant. (`partial_model` and
    /// `second_opinion_model` keep their documented meaning of "" below.)
    fn empty_means_default(&mut self) {
        let d = Self::default();
        for p in [
            &mut self.agent.socket_path,
            &mut self.agent.audit_log,
            &mut self.agent.system_prompt,
        ] {
            if p.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                *p = None;
            }
        }
        if self.tools.backlight_root.as_os_str().is_empty() {
            self.tools.backlight_root = d.tools.backlight_root;
        }
        for (value, default) in [
            (&mut self.local.model, d.local.model),
            (&mut self.voice.stt_model, d.voice.stt_model),
            (&mut self.voice.vad_model, d.voice.vad_model),
            (&mut self.voice.tts_voice, d.voice.tts_voice),
        ] {
            if value.trim().is_empty() {
                *value = default;
            }
        }
    }

    fn validate(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        if self.agent.confirm_timeout_secs == 0 {
            let at = text.find("confirm_timeout_secs").unwrap_or(0);
            let (line, column) = line_col(text, at);
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                line,
                column,
                key: " (key `agent.confirm_timeout_secs`)".into(),
                message: "must be at least 1 second".into(),
            });
        }
        Ok(())
    }

    /// Writes the config atomically with mode 0600 (it may hold an API key).
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let err = |source| ConfigError::Write {
            path: path.to_owned(),
            source,
        };
        let text = toml::to_string_pretty(self).map_err(|e| err(std::io::Error::other(e)))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = path.with_extension("toml.tmp");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(err)?;
        // `mode` only applies to new files; a leftover temp file keeps its mode.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(err)?;
        file.write_all(text.as_bytes()).map_err(err)?;
        file.sync_all().map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }
}

fn warn_if_readable_by_others(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "config holds an API key but others can read it; run `chmod 600 {}`",
                path.display()
            );
        }
    }
}

fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The dotted key an error points at: from "unknown field `x`" or from the
/// `key = value` line at the error, prefixed by the enclosing `[table]`.
fn key_at(text: &str, at: usize, message: &str) -> Option<String> {
    let at = at.min(text.len());
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let line = text[line_start..line_end].trim();
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    let leaf = if let Some(rest) = message.strip_prefix("unknown field `") {
        rest.split('`').next().map(str::to_owned)
    } else if line.starts_with('[') {
        return Some(
            line.trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_owned(),
        );
    } else {
        line.split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"').to_owned())
    }?;
    if leaf.is_empty() {
        return table;
    }
    Some(match table {
        Some(t) if !leaf.contains('.') => format!("{t}.{leaf}"),
        _ => leaf,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_readme_example_parses_and_empty_strings_mean_the_defaults() {
        let readme = include_str!("../../../README.md");
        let start = readme
            .find("```toml\n[provider]")
            .expect("the README's config example");
        let body = &readme[start + "```toml\n".len()..];
        let example = &body[..body.find("```").expect("end of the example")];
        let c = AgentConfig::parse(example, Path::new("README.md")).expect("the README's example");
        let d = AgentConfig::default();
        assert_eq!(c.agent.socket_path, None);
        assert_eq!(c.agent.audit_log, None);
        assert_eq!(c.agent.system_prompt, None);
        assert_eq!(c.local.model, d.local.model);
        assert_eq!(c.tools.read_cap_bytes, d.tools.read_cap_bytes);
        let c = AgentConfig::parse(
            "[local]\nmodel = \"\"\n[tools]\nbacklight_root = \"\"\n[voice]\nstt_model = \" \"\npartial_model = \"\"\n",
            Path::new("x.toml"),
        )
        .expect("parse");
        assert_eq!(c.local.model, d.local.model);
        assert_eq!(c.tools.backlight_root, d.tools.backlight_root);
        assert_eq!(c.voice.stt_model, d.voice.stt_model);
        assert_eq!(c.voice.partial_model, "", "\"\" keeps its meaning here");
    }

    use super::*;

    fn invalid(text: &str) -> String {
        AgentConfig::parse(text, Path::new("/etc/agent.toml"))
            .expect_err("must be rejected")
            .to_string()
    }

    #[test]
    fn the_plans_example_parses() {
        let text = r#"
[provider]
type = "openai"
api_key = "sk-test"
model = "gpt-4o"

[agent]
socket_path = "/run/user/1000/aios-agent.sock"
audit_log = "/var/log/aios/actions.log"
max_destructive_per_minute = 3
"#;
        let c = AgentConfig::parse(text, Path::new("x")).expect("valid");
        assert_eq!(c.provider.kind, ProviderKind::Openai);
        assert_eq!(c.provider.api_key.expose(), "sk-test");
        assert_eq!(c.provider.model, "gpt-4o");
        assert_eq!(
            c.agent.socket_path.as_deref(),
            Some(Path::new("/run/user/1000/aios-agent.sock"))
        );
        assert_eq!(
            c.agent.confirm_timeout_secs, 60,
            "missing keys take defaults"
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = invalid("[agent]\nmax_destructive_per_minute = \"three\"\n");
        assert!(e.contains("/etc/agent.toml:2:"), "{e}");
        assert!(e.contains("agent.max_destructive_per_minute"), "{e}");

        let e = invalid("[provider]\ntype = \"local\"\nmodle = \"x\"\n");
        assert!(e.contains(":3:"), "{e}");
        assert!(e.contains("provider.modle"), "{e}");

        let e = invalid("[provider]\ntype = \"gpt\"\n");
        assert!(e.contains(":2:") && e.contains("provider.type"), "{e}");

        let e = invalid("[agnet]\nx = 1\n");
        assert!(e.contains(":1:") && e.contains("agnet"), "{e}");

        let e = invalid("[agent]\nconfirm_timeout_secs = 0\n");
        assert!(
            e.contains(":2:") && e.contains("agent.confirm_timeout_secs"),
            "{e}"
        );

        let e = invalid("[agent\n");
        assert!(e.contains(":1:"), "{e}");
    }

    #[test]
    fn missing_file_gives_defaults() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let loaded = AgentConfig::load(&tmp.path().join("none.toml")).expect("defaults");
        assert_eq!(loaded, Loaded::Defaults(AgentConfig::default()));
    }

    #[test]
    fn saved_file_is_0600_and_round_trips() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("aios/agent.toml");
        let mut c = AgentConfig::default();
        c.provider.kind = ProviderKind::Anthropic;
        c.provider.api_key = ApiKey::new("sk-secret");
        c.save(&path).expect("save");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(AgentConfig::load(&path).expect("load"), Loaded::File(c));
    }

    #[test]
    fn api_key_never_shows_in_debug() {
        let mut c = AgentConfig::default();
        c.provider.api_key = ApiKey::new("sk-secret");
        assert!(!format!("{c:?}").contains("sk-secret"));
    }
}
