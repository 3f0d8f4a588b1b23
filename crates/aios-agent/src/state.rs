//! State shared by every connection of the agent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aios_common::config::{AgentConfig, ProviderKind};
use aios_common::models;
use aios_memory::{ConversationId, Memory, StoredMessage};
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::audit::AuditLog;
use crate::confirm::Confirmer;
use crate::llm::local::{LocalProvider, WorkerSpec, worker_program};
use crate::llm::{DeltaStream, EchoProvider, LlmError, LlmProvider, LlmRequest, cloud_provider};
use crate::policy::RateLimit;
use aios_common::types::{ToolDefinition, TrustRequirement};
use aios_mcp::{ToolContext, ToolExecutor};

/// Messages kept when history is not on disk.
const PROCESS_HISTORY_CAP: usize = 1000;

/// What the agent knows about itself; shared behind an `Arc`.
pub struct AgentState {
    started: Instant,
    config: AgentConfig,
    clients: AtomicU32,
    provider: Arc<dyn LlmProvider>,
    memory: History,
    system_prompt: String,
    tools: ToolExecutor,
    tool_defs: Vec<ToolDefinition>,
    audit: AuditLog,
    confirmer: Confirmer,
    rate: Mutex<RateLimit>,
    pending: Mutex<Option<uuid::Uuid>>,
    turn_lock: Mutex<()>,
}

impl std::fmt::Debug for AgentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentState")
            .field("provider", &self.provider.name())
            .finish_non_exhaustive()
    }
}

/// Conversation history: on disk, or (with `keep_history = false`) in this process only.
enum History {
    Disk {
        db: Arc<Memory>,
        conversation: Mutex<Option<ConversationId>>,
    },
    Process(Mutex<Vec<StoredMessage>>),
}

impl AgentState {
    /// Builds the provider, opens the history and loads the system prompt from `config`.
    pub fn new(config: AgentConfig, system_prompt: String) -> Self {
        let tools = tool_executor(&config);
        let tool_defs = tools.registry().definitions();
        let provider = build_provider(&config, &system_prompt, &tool_defs);
        let memory = open_history(&config);
        let audit = open_audit(&config);
        Self {
            started: Instant::now(),
            rate: Mutex::new(RateLimit::per_minute(
                config.agent.max_destructive_per_minute,
            )),
            config,
            clients: AtomicU32::new(0),
            provider,
            memory,
            system_prompt,
            tools,
            tool_defs,
            audit,
            confirmer: Confirmer::beside_current_exe(),
            pending: Mutex::new(None),
            turn_lock: Mutex::new(()),
        }
    }

    /// The configuration the agent runs on.
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// The provider answering turns.
    pub fn provider(&self) -> &dyn LlmProvider {
        self.provider.as_ref()
    }

    /// The tools offered to the model, and how they run.
    pub fn tools(&self) -> &ToolExecutor {
        &self.tools
    }

    /// The tool definitions offered to the model.
    pub fn tool_definitions(&self) -> &[ToolDefinition] {
        &self.tool_defs
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    pub(crate) fn confirmer(&self) -> &Confirmer {
        &self.confirmer
    }

    pub(crate) fn rate_limit(&self) -> &Mutex<RateLimit> {
        &self.rate
    }

    /// Notes the confirmation being asked now (for auditing forged answers).
    pub(crate) async fn set_pending(&self, id: Option<uuid::Uuid>) {
        *self.pending.lock().await = id;
    }

    /// The confirmation being asked now, if any.
    pub(crate) async fn pending(&self) -> Option<uuid::Uuid> {
        *self.pending.lock().await
    }

    /// The system prompt.
    pub fn system_prompt(&self) -> &str {
        &self.system_prompt
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

    /// Held for the whole of a turn: one person, one conversation, so turns from the
    /// chat window, the dock and the CLI take their places one after another and each
    /// sees the history the previous one left.
    pub(crate) async fn turn_guard(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.turn_lock.lock().await
    }

    /// The conversation new messages go to (the latest one, created if none).
    pub(crate) async fn conversation(&self) -> ConversationId {
        match &self.memory {
            History::Process(_) => ConversationId(0),
            History::Disk { db, conversation } => {
                let mut current = conversation.lock().await;
                if let Some(c) = *current {
                    return c;
                }
                let db = db.clone();
                let found = tokio::task::spawn_blocking(move || match db.latest_conversation() {
                    Ok(Some(c)) => Ok(c),
                    _ => db.new_conversation(),
                })
                .await;
                match found {
                    Ok(Ok(c)) => {
                        *current = Some(c);
                        c
                    }
                    other => {
                        warn!(?other, "cannot pick a conversation; this turn is not saved");
                        ConversationId(0)
                    }
                }
            }
        }
    }

    /// Saves a message, committed before this returns. A failure is logged, not fatal:
    /// the turn goes on.
    pub(crate) async fn remember(&self, msg: StoredMessage) {
        match &self.memory {
            History::Process(v) => {
                let mut v = v.lock().await;
                if v.len() >= PROCESS_HISTORY_CAP {
                    // Older turns could never fit the model's context anyway.
                    v.drain(..PROCESS_HISTORY_CAP / 2);
                }
                v.push(msg);
            }
            History::Disk { db, .. } => {
                let db = db.clone();
                let res =
                    tokio::task::spawn_blocking(move || db.append(msg.conversation, &msg)).await;
                if !matches!(res, Ok(Ok(_))) {
                    warn!(?res, "cannot save a message to history");
                }
            }
        }
    }

    /// The most recent `limit` messages of `conv`, oldest first.
    pub(crate) async fn recent(&self, conv: ConversationId, limit: usize) -> Vec<StoredMessage> {
        match &self.memory {
            History::Process(v) => {
                let v = v.lock().await;
                v[v.len().saturating_sub(limit)..].to_vec()
            }
            History::Disk { db, .. } => {
                let db = db.clone();
                match tokio::task::spawn_blocking(move || db.recent(conv, limit)).await {
                    Ok(Ok(m)) => m,
                    other => {
                        warn!(?other, "cannot read history; answering without it");
                        Vec::new()
                    }
                }
            }
        }
    }

    /// The newest `limit` messages across conversations, for `aios history`.
    pub(crate) async fn history(&self, limit: usize) -> Result<Vec<StoredMessage>, String> {
        match &self.memory {
            History::Process(_) => {
                Err("history is not kept on disk (`keep_history = false` in agent.toml)".into())
            }
            History::Disk { db, .. } => {
                let db = db.clone();
                match tokio::task::spawn_blocking(move || db.history(limit)).await {
                    Ok(Ok(m)) => Ok(m),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
        }
    }
}

/// The built-in tools in the person's home, with the configured limits. Destructive
/// tools named in `always_allow` are reported and never honoured (the policy ignores
/// them too).
fn tool_executor(config: &AgentConfig) -> ToolExecutor {
    let registry = aios_mcp::tools::builtin();
    for name in &config.tools.always_allow {
        match registry.get(name).map(|t| t.trust_requirement()) {
            Some(TrustRequirement::DoubleConfirm) => warn!(
                "[tools] always_allow lists `{name}`, a destructive tool: it always asks, this entry is ignored"
            ),
            None => warn!("[tools] always_allow lists `{name}`, which is not a tool"),
            Some(_) => {}
        }
    }
    let home = std::env::var_os("HOME").map_or_else(|| "/".into(), std::path::PathBuf::from);
    let mut ctx = ToolContext::new(home);
    ctx.backlight_root = config.tools.backlight_root.clone();
    ctx.shell_timeout = Duration::from_secs(config.tools.shell_timeout_secs.max(1));
    ctx.output_cap = config.tools.output_cap_bytes.max(256);
    ToolExecutor::new(
        registry,
        ctx,
        Duration::from_secs(config.tools.timeout_secs.max(1)),
    )
}

fn open_audit(config: &AgentConfig) -> AuditLog {
    let path = match aios_common::paths::audit_log_path(config.agent.audit_log.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            warn!("{e}; tool calls are refused without an audit log");
            return AuditLog::unavailable("actions.log".into(), e.to_string());
        }
    };
    match AuditLog::open(&path) {
        Ok(log) => {
            info!(path = %path.display(), "audit log opened");
            log
        }
        Err(e) => {
            warn!("{e}");
            AuditLog::unavailable(path, e.to_string())
        }
    }
}

fn open_history(config: &AgentConfig) -> History {
    if !config.agent.keep_history {
        return History::Process(Mutex::new(Vec::new()));
    }
    let opened = Memory::default_path().and_then(|path| match Memory::open(&path) {
        Err(e) if e.needs_new_file() => {
            warn!("{e}");
            let moved = Memory::set_aside(&path)?;
            warn!(moved = %moved.display(), "the unreadable history was set aside; starting a new one");
            Memory::open(&path)
        }
        other => other,
    });
    match opened {
        Ok(db) => {
            info!(path = %db.path().display(), "history opened");
            History::Disk {
                db: Arc::new(db),
                conversation: Mutex::new(None),
            }
        }
        Err(e) => {
            warn!("{e}; history is kept in this process only");
            History::Process(Mutex::new(Vec::new()))
        }
    }
}

/// The provider the config asks for. One that cannot work (missing model, missing
/// worker) still exists and answers every turn with the reason and the fix.
pub fn build_provider(
    config: &AgentConfig,
    system_prompt: &str,
    tools: &[ToolDefinition],
) -> Arc<dyn LlmProvider> {
    let p = &config.provider;
    match p.kind {
        ProviderKind::Echo => Arc::new(EchoProvider),
        ProviderKind::Local => {
            let spec = models::find_model(&config.local.model)
                .map_err(|e| LlmError::ModelMissing {
                    message: e.to_string(),
                })
                .and_then(|model| {
                    Ok(WorkerSpec {
                        program: worker_program()?,
                        model,
                        threads: config.local.threads,
                        context: config.local.context_tokens,
                        warm: Some((system_prompt.to_owned(), tools.to_vec())),
                    })
                });
            match spec {
                Ok(spec) => Arc::new(LocalProvider::start(
                    spec,
                    Duration::from_secs(p.timeout_secs.max(1)),
                )),
                Err(error) => {
                    warn!("{error}");
                    Arc::new(Unavailable {
                        name: "local",
                        error,
                    })
                }
            }
        }
        ProviderKind::Openai | ProviderKind::Ollama | ProviderKind::Anthropic => {
            match cloud_provider(p) {
                Some(b) => Arc::from(b),
                None => Arc::new(EchoProvider),
            }
        }
    }
}

/// A provider that cannot work; every turn gets the reason.
struct Unavailable {
    name: &'static str,
    error: LlmError,
}

#[async_trait::async_trait]
impl LlmProvider for Unavailable {
    async fn complete_stream(&self, _req: &LlmRequest) -> Result<DeltaStream, LlmError> {
        Err(self.error.clone())
    }

    fn supports_tools(&self) -> bool {
        false
    }

    fn name(&self) -> &str {
        self.name
    }

    fn model(&self) -> Option<String> {
        Some("unavailable".into())
    }
}
