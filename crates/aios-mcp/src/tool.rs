//! The [`Tool`] trait and what a tool gets to run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aios_common::types::{ToolDefinition, TrustRequirement};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Why a call failed. The text goes back to the model and the person, so it says
/// what is wrong in plain words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The arguments do not match the tool's schema; the call never ran.
    #[error("invalid arguments for `{tool}`: {message}")]
    InvalidArguments {
        /// Tool name.
        tool: String,
        /// What is wrong, e.g. "`level` must be at most 100".
        message: String,
    },
    /// No tool of that name is registered.
    #[error("unknown tool `{name}`; the available tools are: {available}")]
    UnknownTool {
        /// The name asked for.
        name: String,
        /// Comma-separated registered names.
        available: String,
    },
    /// The call ran past its time limit and was stopped.
    #[error("`{tool}` did not finish within {secs} s and was stopped")]
    Timeout {
        /// Tool name.
        tool: String,
        /// The limit.
        secs: u64,
    },
    /// The tool ran and failed.
    #[error("{0}")]
    Failed(String),
}

impl ToolError {
    /// A failure with a message.
    pub fn failed(message: impl Into<String>) -> Self {
        ToolError::Failed(message.into())
    }
}

/// What tools may use from their surroundings. Everything that tests need to point
/// elsewhere (the backlight tree, the system bus, the environment of programs the
/// tools start) is here rather than read from the process environment.
#[derive(Debug, Clone)]
pub struct ToolContext {
    /// The person's home: `~` and relative paths resolve against it.
    pub home: PathBuf,
    /// Root laid out like `/sys/class/backlight`.
    pub backlight_root: PathBuf,
    /// Root laid out like `/sys/class/power_supply` (battery fallback without UPower).
    pub power_supply_root: PathBuf,
    /// D-Bus system bus address; `None` means the standard one.
    pub system_bus: Option<String>,
    /// Extra environment for programs the tools start (`wpctl`, `xdg-open`, shells).
    pub child_env: Vec<(String, String)>,
    /// Time limit of one `shell_exec` command.
    pub shell_timeout: Duration,
    /// Most bytes of output a tool returns (the rest is cut and said so).
    pub output_cap: usize,
    /// Most bytes `file_read` reads from one file (the rest is reported as cut).
    pub read_cap: usize,
    /// AIOS's own files and folders (its binaries, config, state, audit log and
    /// head): no tool writes or deletes them, or a folder that holds them. A tool
    /// that could replace the approver could approve everything after it.
    pub protected: Vec<PathBuf>,
}

/// What a call needs before it runs, judged from its arguments and the machine:
/// never less than the tool's own [`Tool::trust_requirement`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The requirement for this call.
    pub requirement: TrustRequirement,
    /// What the person should know before answering ("replaces an existing file of
    /// 812 bytes"), one line each, shown in the prompt under the summary.
    pub notes: Vec<String>,
}

impl Assessment {
    /// `requirement` with nothing to add.
    pub fn plain(requirement: TrustRequirement) -> Self {
        Self {
            requirement,
            notes: Vec::new(),
        }
    }
}

impl ToolContext {
    /// Defaults for the real machine, with `home` as the person's home.
    pub fn new(home: PathBuf) -> Self {
        Self {
            home,
            backlight_root: "/sys/class/backlight".into(),
            power_supply_root: "/sys/class/power_supply".into(),
            system_bus: None,
            child_env: Vec::new(),
            shell_timeout: Duration::from_secs(30),
            output_cap: 16 * 1024,
            read_cap: 1 << 20,
            protected: Vec::new(),
        }
    }

    /// `path` with `~` expanded and made absolute against the home.
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = path.trim();
        if p == "~" {
            return self.home.clone();
        }
        if let Some(rest) = p.strip_prefix("~/") {
            return self.home.join(rest);
        }
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.home.join(p)
        }
    }

    /// Connects to the system bus (the configured address, else the standard one).
    pub async fn system_bus(&self) -> Result<zbus::Connection, ToolError> {
        let conn = match &self.system_bus {
            Some(addr) => match zbus::connection::Builder::address(addr.as_str()) {
                Ok(b) => b.build().await,
                Err(e) => Err(e),
            },
            None => zbus::Connection::system().await,
        };
        conn.map_err(|e| ToolError::failed(format!("cannot reach the D-Bus system bus: {e}")))
    }

    /// A proxy for `iface` at `path` of `dest` on `conn`. Properties are read fresh
    /// each time: a battery level or a connection state cached at creation would be
    /// stale by the next read.
    pub async fn proxy<'a>(
        conn: &zbus::Connection,
        dest: &'a str,
        path: String,
        iface: &'a str,
    ) -> zbus::Result<zbus::Proxy<'a>> {
        zbus::proxy::Builder::new(conn)
            .destination(dest)?
            .path(path)?
            .interface(iface)?
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
    }

    /// A command for `program` with the extra environment, killed if the call is
    /// dropped (a timeout).
    pub fn command(&self, program: &str) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(program);
        c.envs(self.child_env.iter().map(|(k, v)| (k, v)))
            .kill_on_drop(true);
        c
    }

    /// Cuts `text` to the output cap at a character boundary, saying how much was cut.
    pub fn cap(&self, text: &str) -> String {
        self.cap_of(text, text.len() as u64)
    }

    /// [`ToolContext::cap`] for `text` that is the start of something `total` bytes
    /// long (a file cut at the read cap): the marker gives the whole size.
    pub fn cap_of(&self, text: &str, total: u64) -> String {
        let total = total.max(text.len() as u64);
        if text.len() <= self.output_cap && total == text.len() as u64 {
            return text.to_owned();
        }
        let mut end = self.output_cap.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!(
            "{}\n[output cut: {} of {} bytes shown]",
            &text[..end],
            end,
            total
        )
    }
}

/// A tool the model can call.
#[async_trait::async_trait]
pub trait Tool: Send + Sync {
    /// Name, description and argument schema for the model.
    fn definition(&self) -> ToolDefinition;

    /// What must happen before it runs: read-only tools need nothing, modifying ones a
    /// confirmation, destructive ones a typed `DELETE`.
    fn trust_requirement(&self) -> TrustRequirement;

    /// True for tools that can send data off the machine (`open_url`): after the turn
    /// has read untrusted content they always ask first.
    fn sends_data_out(&self) -> bool {
        false
    }

    /// True when the output carries text from outside AIOS (file contents, file
    /// names, command output, network names) that could hold instructions for the
    /// model. Such output taints the conversation (see the agent's policy).
    fn output_is_content(&self) -> bool {
        true
    }

    /// What to tell the person after a successful call, written by AIOS from the
    /// tool's own `output`: one or two short spoken sentences. `request` is what the
    /// person asked (`system_info` picks the part it is about). `None` leaves the
    /// closing words to the model. Saying it here saves the local model a round
    /// (prefill the result, write a sentence: about 3 s on 2 cores) and keeps file
    /// text out of the model's turn.
    fn spoken(&self, _request: &str, _output: &str) -> Option<String> {
        None
    }

    /// One line saying what the call will do, for the confirmation prompt.
    fn describe(&self, args: &Value) -> String;

    /// What this call needs before it runs, looking at its arguments and the machine
    /// (a write that replaces a file needs more than one that creates it), or why it
    /// must not run at all. Runs before the person is asked and again right before
    /// [`Tool::execute`]. Blocking work belongs in `spawn_blocking`.
    async fn assess(&self, _args: &Value, _ctx: &ToolContext) -> Result<Assessment, ToolError> {
        Ok(Assessment::plain(self.trust_requirement()))
    }

    /// Argument names whose values are secrets for this call only, beyond the
    /// schema's `x-secret` ones: the text typed into a web page's password field.
    /// They reach the tool and nothing else (the prompt, history, the audit log and
    /// the model see them redacted). A tool that cannot tell should name them.
    async fn secret_arguments(&self, _args: &Value, _ctx: &ToolContext) -> Vec<String> {
        Vec::new()
    }

    /// Runs the call. `args` has passed schema validation.
    async fn execute(&self, args: Value, ctx: &ToolContext) -> Result<String, ToolError>;
}

/// A definition whose argument schema is derived from `T`.
pub fn definition_for<T: JsonSchema>(name: &str, description: &str) -> ToolDefinition {
    let mut raw = serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null);
    // A fixed, readable key order (the local model's cached prompt holds these), and
    // without `$schema`, `title` and `format`: noise for a small model.
    let mut props = raw["properties"].take();
    if let Some(p) = props.as_object_mut() {
        for v in p.values_mut() {
            if let Some(o) = v.as_object_mut() {
                o.remove("format");
            }
        }
    } else {
        props = Value::Object(Default::default());
    }
    let mut schema = serde_json::Map::new();
    schema.insert("type".into(), "object".into());
    schema.insert("properties".into(), props);
    if let Some(req) = raw.get("required") {
        schema.insert("required".into(), req.clone());
    }
    schema.insert("additionalProperties".into(), false.into());
    ToolDefinition {
        name: name.to_owned(),
        description: description.to_owned(),
        parameters: Value::Object(schema),
    }
}

/// Reads validated `args` as `T`.
pub fn parse_args<T: DeserializeOwned>(tool: &str, args: Value) -> Result<T, ToolError> {
    serde_json::from_value(args).map_err(|e| ToolError::InvalidArguments {
        tool: tool.to_owned(),
        message: e.to_string(),
    })
}
