//! State shared by every connection of the agent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use aios_common::config::{AgentConfig, ProviderConfig, ProviderKind};
use aios_common::models;
use aios_memory::{ConversationId, Memory, StoredMessage};
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::audit::AuditLog;
use crate::confirm::Confirmer;
use crate::llm::local::{LocalProvider, WorkerSpec, worker_program};
use crate::llm::{DeltaStream, EchoProvider, LlmError, LlmProvider, LlmRequest, cloud_provider};
use crate::policy::{RateLimit, Taint};
use aios_common::types::{ToolDefinition, TrustLevel, TrustRequirement};
use aios_mcp::{ToolContext, ToolExecutor};

/// Events for every client (voice state, spoken turns) a slow client may lag by
/// before it misses some.
const EVENT_QUEUE: usize = 512;

/// Messages kept when history is not on disk.
const PROCESS_HISTORY_CAP: usize = 1000;

/// What the agent knows about itself; shared behind an `Arc`.
pub struct AgentState {
    started: Instant,
    config: AgentConfig,
    clients: AtomicU32,
    /// First-run setup saved a config.
    config_changed: std::sync::atomic::AtomicBool,
    /// The provider answering turns and its settings; first-run setup replaces both.
    active: std::sync::RwLock<Active>,
    /// Where the config lives and whether it was read from there.
    config_file: Option<ConfigFile>,
    memory: History,
    current: Mutex<Current>,
    system_prompt: String,
    tools: ToolExecutor,
    tool_defs: Vec<ToolDefinition>,
    /// The browser the browser tools share, when they are registered.
    browser: Option<Arc<aios_mcp::browser::Browser>>,
    /// What the bundled local model is offered (see [`offered`]).
    local_defs: Vec<ToolDefinition>,
    audit: AuditLog,
    confirmer: Confirmer,
    rate: Mutex<RateLimit>,
    turn_lock: Arc<Mutex<()>>,
    events: tokio::sync::broadcast::Sender<aios_common::ipc::IpcMessage>,
    voice: std::sync::OnceLock<crate::voice::VoiceHandle>,
}

impl std::fmt::Debug for AgentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentState")
            .field("provider", &self.provider().name())
            .finish_non_exhaustive()
    }
}

/// Conversation history: on disk, or (with `keep_history = false`) in this process only.
enum History {
    Disk { db: Arc<Memory> },
    Process(Mutex<Vec<StoredMessage>>),
}

#[cfg(test)]
impl AgentState {
    /// An agent answering with `provider` and offering `registry`'s tools (the
    /// turn tests use it to reach paths no real provider or tool takes on purpose).
    pub(crate) fn with_parts(
        config: AgentConfig,
        provider: Arc<dyn LlmProvider>,
        registry: aios_mcp::ToolRegistry,
    ) -> Self {
        let mut state = Self::new(config, String::new());
        state.tools = ToolExecutor::new(
            registry,
            ToolContext::new("/nonexistent".into()),
            Duration::from_secs(30),
        );
        state.tool_defs = state.tools.registry().definitions();
        state.local_defs = local_tools(&state.tool_defs);
        state.active.get_mut().expect("not shared yet").provider = provider;
        state
    }
}

/// The provider in use and the settings it was built from.
struct Active {
    provider: Arc<dyn LlmProvider>,
    config: ProviderConfig,
}

/// The config file the agent was started with.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    /// Where it is (first-run setup saves there).
    pub path: std::path::PathBuf,
    /// It was there and read; `false`: the agent runs on defaults.
    pub loaded: bool,
}

/// A conversation left this long goes on no more (`[agent] conversation_idle_secs`).
pub const DEFAULT_CONVERSATION_IDLE_SECS: u64 = 30 * 60;

/// The conversation new messages join, and when it was last used.
#[derive(Default)]
struct Current {
    id: Option<ConversationId>,
    last: Option<Instant>,
    /// The person asked for a new conversation: the next turn starts one.
    fresh: bool,
    /// Outside content the conversation has held since it began, kept here rather
    /// than rebuilt from the history window: content that scrolled out of the window
    /// leaves the model's paraphrase of it behind.
    taint: Taint,
    /// `taint` must be rebuilt from the whole stored conversation (one that goes on
    /// after a restart).
    rescan: bool,
}

/// Most messages of a conversation read back to rebuild its taint after a restart.
const TAINT_SCAN: usize = 100_000;

impl AgentState {
    /// Builds the provider, opens the history and loads the system prompt from `config`.
    pub fn new(config: AgentConfig, system_prompt: String) -> Self {
        let (tools, browser) = tool_executor(&config);
        let tool_defs = tools.registry().definitions();
        let local_defs = local_tools(&tool_defs);
        let provider = build_provider(
            &config,
            &system_prompt,
            if config.provider.kind == ProviderKind::Local {
                &local_defs
            } else {
                &tool_defs
            },
        );
        let memory = open_history(&config);
        let audit = open_audit(&config);
        let provider_config = config.provider.clone();
        Self {
            started: Instant::now(),
            rate: Mutex::new(RateLimit::per_minute(
                config.agent.max_destructive_per_minute,
            )),
            config,
            clients: AtomicU32::new(0),
            active: std::sync::RwLock::new(Active {
                provider,
                config: provider_config,
            }),
            config_file: None,
            config_changed: std::sync::atomic::AtomicBool::new(false),
            memory,
            current: Mutex::new(Current::default()),
            system_prompt,
            tools,
            tool_defs,
            browser,
            local_defs,
            audit,
            confirmer: Confirmer::beside_current_exe(),
            turn_lock: Arc::new(Mutex::new(())),
            events: tokio::sync::broadcast::channel(EVENT_QUEUE).0,
            voice: std::sync::OnceLock::new(),
        }
    }

    /// Where the config file is; first-run setup saves there.
    pub fn with_config_file(mut self, file: ConfigFile) -> Self {
        self.config_file = Some(file);
        self
    }

    /// The config file, if the agent was started with one in mind.
    pub(crate) fn config_file(&self) -> Option<&ConfigFile> {
        self.config_file.as_ref()
    }

    /// Whether the agent's settings came from a file (`false`: defaults, and first-run
    /// setup has not saved any yet).
    pub fn configured(&self) -> bool {
        self.config_file.as_ref().is_some_and(|f| f.loaded) || self.setup_done()
    }

    fn setup_done(&self) -> bool {
        self.config_changed.load(Ordering::Relaxed)
    }

    /// The configuration the agent started with. Its `[provider]` section may be
    /// out of date after first-run setup: use [`AgentState::provider_config`].
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// The provider answering turns. A turn takes it once and keeps it: setup may
    /// replace it for the turns after.
    pub fn provider(&self) -> Arc<dyn LlmProvider> {
        self.active
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .provider
            .clone()
    }

    /// The settings of [`AgentState::provider`].
    pub fn provider_config(&self) -> ProviderConfig {
        self.active
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .config
            .clone()
    }

    /// First-run setup passed: `provider`, built from `config`, answers from now on.
    pub(crate) fn replace_provider(&self, provider: Arc<dyn LlmProvider>, config: ProviderConfig) {
        let old = {
            let mut active = self
                .active
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            std::mem::replace(&mut *active, Active { provider, config })
        };
        self.config_changed.store(true, Ordering::Relaxed);
        // Dropped outside the lock: a local worker stops as it goes.
        drop(old);
    }

    /// The tools offered to the model, and how they run.
    pub fn tools(&self) -> &ToolExecutor {
        &self.tools
    }

    /// Stops the browser the browser tools started, if any (at shutdown).
    pub async fn stop_browser(&self) {
        if let Some(b) = &self.browser {
            b.stop().await;
        }
    }

    /// The tool definitions offered to the model in use.
    pub fn tool_definitions(&self) -> &[ToolDefinition] {
        let kind = self
            .active
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .config
            .kind;
        self.tool_definitions_for(kind)
    }

    /// The tool definitions a provider of `kind` is offered.
    pub fn tool_definitions_for(&self, kind: ProviderKind) -> &[ToolDefinition] {
        if kind == ProviderKind::Local {
            &self.local_defs
        } else {
            &self.tool_defs
        }
    }

    /// Sends `msg` to every connected client.
    pub(crate) fn broadcast(&self, msg: aios_common::ipc::IpcMessage) {
        // No receiver (no client connected) is not an error.
        let _ = self.events.send(msg);
    }

    /// A receiver of [`AgentState::broadcast`] events, for one client.
    pub(crate) fn subscribe(
        &self,
    ) -> tokio::sync::broadcast::Receiver<aios_common::ipc::IpcMessage> {
        self.events.subscribe()
    }

    /// The voice service, when `[voice] enabled`.
    pub(crate) fn voice(&self) -> Option<&crate::voice::VoiceHandle> {
        self.voice.get()
    }

    pub(crate) fn set_voice(&self, handle: crate::voice::VoiceHandle) {
        let _ = self.voice.set(handle);
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
    ///
    /// Owned, so that the tasks a turn starts (a tool call, its confirmation) can
    /// hold it too: a turn whose client went away ends only when they do, and the
    /// next turn cannot put a second question on the terminal meanwhile.
    /// Whether a turn holds the turn lock right now.
    pub(crate) fn turn_busy(&self) -> bool {
        self.turn_lock.try_lock().is_err()
    }

    pub(crate) async fn turn_guard(&self) -> Arc<tokio::sync::OwnedMutexGuard<()>> {
        Arc::new(self.turn_lock.clone().lock_owned().await)
    }

    /// The conversation this turn joins. A turn more than `conversation_idle_secs`
    /// (default 30 minutes) after the last one, or the first after the person asked
    /// for a new conversation, starts a new one, so the model sees none of the
    /// earlier turns (they stay in history); a voice command half an hour later
    /// rarely continues the one before. After a restart the latest conversation on
    /// disk goes on if its last message is that recent.
    pub(crate) async fn conversation(&self) -> ConversationId {
        let idle = self.idle();
        let mut current = self.current.lock().await;
        // `last` is when the previous turn ended ([`AgentState::touch`]).
        let going_on = !current.fresh && current.last.is_some_and(|t| t.elapsed() < idle);
        if going_on && let Some(c) = current.id {
            return c;
        }
        // `existed`: a conversation from before a restart goes on.
        let (id, existed) = match &self.memory {
            History::Process(_) => (ConversationId(current.id.map_or(0, |c| c.0 + 1)), false),
            History::Disk { db } => {
                let db = db.clone();
                let after_start = current.id.is_none() && !current.fresh;
                let found = tokio::task::spawn_blocking(move || {
                    if after_start
                        && let Ok(Some(c)) = db.latest_conversation()
                        && db.recent(c, 1).is_ok_and(|m| {
                            m.last().is_some_and(|m| {
                                (chrono::Utc::now() - m.created_at)
                                    .to_std()
                                    .is_ok_and(|age| age < idle)
                            })
                        })
                    {
                        return Ok((c, true));
                    }
                    db.new_conversation().map(|c| (c, false))
                })
                .await;
                match found {
                    Ok(Ok(found)) => found,
                    other => {
                        warn!(
                            ?other,
                            "cannot start a conversation; this turn is not saved"
                        );
                        (ConversationId(0), false)
                    }
                }
            }
        };
        if current.id != Some(id) {
            current.taint = Taint::default();
            // One that goes on after a restart may hold content read before it.
            current.rescan = existed;
        }
        current.id = Some(id);
        current.fresh = false;
        id
    }

    /// Outside content `conv` has held since it began (see `Current::taint`).
    pub(crate) async fn taint(&self, conv: ConversationId) -> Taint {
        let rescan = {
            let current = self.current.lock().await;
            if current.id != Some(conv) {
                return Taint::default();
            }
            current.rescan
        };
        if rescan {
            let found = crate::turn::taint_of(&self.recent(conv, TAINT_SCAN).await);
            let mut current = self.current.lock().await;
            if current.id == Some(conv) {
                current.taint.merge(&found);
                current.rescan = false;
            }
        }
        self.current.lock().await.taint.clone()
    }

    /// `conv` now holds content of `level` from `source`, until a new conversation.
    pub(crate) async fn add_taint(&self, conv: ConversationId, level: TrustLevel, source: String) {
        let mut current = self.current.lock().await;
        if current.id == Some(conv) {
            current.taint.add(level, source);
        }
    }

    /// The person starts a new conversation: the next turn joins a new one. Waits
    /// for a running turn to end, so that turn stays whole in the conversation it
    /// began in.
    pub(crate) async fn new_conversation(&self) {
        let _turn = self.turn_guard().await;
        self.current.lock().await.fresh = true;
    }

    /// The conversation the next turn will join, when it is one that goes on (not a
    /// new one: the idle time is not 0 and the person did not ask for a new one).
    pub(crate) async fn going_on(&self) -> Option<ConversationId> {
        let idle = self.idle();
        let current = self.current.lock().await;
        if current.fresh || idle.is_zero() {
            return None;
        }
        current.id
    }

    fn idle(&self) -> Duration {
        Duration::from_secs(
            self.config
                .agent
                .conversation_idle_secs
                .unwrap_or(DEFAULT_CONVERSATION_IDLE_SECS),
        )
    }

    /// A turn ended now: the idle time counts from here.
    pub(crate) async fn touch(&self) {
        self.current.lock().await.last = Some(Instant::now());
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
                let mine: Vec<&StoredMessage> =
                    v.iter().filter(|m| m.conversation == conv).collect();
                mine[mine.len().saturating_sub(limit)..]
                    .iter()
                    .map(|m| (*m).clone())
                    .collect()
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

/// The tools the bundled local model is offered: all but the browser's. With seven
/// more tools in its prompt, the 1.5B answered "what does /etc/hostname say" from
/// memory instead of calling `file_read` in the running-conversation test (and it
/// routes "open a website" to `open_url`). Cloud models get every tool, and MCP
/// clients can call every registered one.
fn local_tools(all: &[ToolDefinition]) -> Vec<ToolDefinition> {
    all.iter()
        .filter(|d| !aios_mcp::browser::TOOL_NAMES.contains(&d.name.as_str()))
        .cloned()
        .collect()
}

/// The built-in tools in the person's home, with the configured limits. Destructive
/// tools named in `always_allow` are reported and never honoured (the policy ignores
/// them too).
fn tool_executor(config: &AgentConfig) -> (ToolExecutor, Option<Arc<aios_mcp::browser::Browser>>) {
    let mut registry = aios_mcp::tools::builtin();
    let mut browser = None;
    if config.tools.browser {
        let found = aios_mcp::browser::BrowserConfig::detect();
        match found.missing() {
            // The agent stays up without them; every other tool works.
            Some(why) => warn!("the browser tools are off: {why}"),
            None => {
                let b = aios_mcp::browser::Browser::new(found);
                aios_mcp::browser::register(&mut registry, &b);
                browser = Some(b);
            }
        }
    }
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
    ctx.read_cap = config.tools.read_cap_bytes.max(1);
    ctx.protected = protected_paths(config);
    let executor = ToolExecutor::new(
        registry,
        ctx,
        Duration::from_secs(config.tools.timeout_secs.max(1)),
    );
    (executor, browser)
}

/// AIOS's own files, which no tool may write or delete: the programs beside the
/// agent (`aios*`: the approver, the model worker, the agent itself), the config,
/// the state (audit log and head), data (history, models) and cache (the decoded
/// prompt prefix the worker loads) folders, and a configured audit log elsewhere.
fn protected_paths(config: &AgentConfig) -> Vec<std::path::PathBuf> {
    use aios_common::paths;
    let mut out = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(std::path::Path::to_path_buf))
        && let Ok(rd) = std::fs::read_dir(&dir)
    {
        out.extend(
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("aios"))
                .map(|e| e.path()),
        );
    }
    for dir in [
        paths::config_home(),
        paths::state_home(),
        paths::data_home(),
        paths::cache_home(),
    ]
    .into_iter()
    .flatten()
    {
        out.push(dir.join("aios"));
    }
    if let Ok(p) = paths::agent_config_path() {
        out.push(p);
    }
    if let Ok(log) = paths::audit_log_path(config.agent.audit_log.as_deref()) {
        out.push(crate::audit::head_path(&log));
        out.push(log);
    }
    out
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
            History::Disk { db: Arc::new(db) }
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
                        prefix_cache: aios_common::paths::cache_home()
                            .ok()
                            .map(|c| c.join("aios/prefix")),
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
