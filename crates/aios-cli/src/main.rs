//! `aios`: the AIOS command line. Talks to `aios-agent` over the IPC socket only.

use aios_common::text::{cut_middle, one_line, printable};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use aios_common::config::{AgentConfig, Loaded};
use aios_common::ipc::ClientKind;
use aios_common::ipc::client::{ChatEvent, ClientError, IpcClient, RetryPolicy};
use aios_common::paths;
use aios_common::types::Role;
use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::io::AsyncBufReadExt;

mod mcp;
mod ptt_key;
mod voice;

/// Command-line client of the AIOS agent.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Agent socket (default: $AIOS_SOCKET, else the config, else $XDG_RUNTIME_DIR/aios-agent.sock).
    #[arg(long, global = true)]
    socket: Option<PathBuf>,
    /// Fail at once instead of retrying for 5 s when the agent is not running.
    #[arg(long, global = true)]
    no_wait: bool,
    /// Seconds to wait for the agent's next message before giving up (default 300).
    #[arg(long, global = true, value_name = "SECS")]
    timeout: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show whether the agent runs, its version, provider and uptime.
    Status {
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Ask one question and print the streamed reply.
    Ask {
        /// The question (several words are joined with spaces).
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Interactive chat in the terminal (the typed fallback without a desktop).
    Chat,
    /// Start a new conversation: the model forgets the turns before (history keeps
    /// them).
    New,
    /// Print recent conversation history.
    History {
        /// How many messages.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Inspect or create the agent config file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check or read the audit log of tool actions.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Speech to text of a WAV file (any rate, channels, 16/24/32-bit), on this
    /// machine with the models of `make models`; no agent needed.
    Transcribe {
        /// Print text, language, duration and timings as JSON.
        #[arg(long)]
        json: bool,
        /// The WAV file.
        file: PathBuf,
    },
    /// Text to speech with the Piper voice of `make models`: plays it, or writes a WAV.
    Say {
        /// Write the speech to this WAV file instead of playing it.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print duration and timings as JSON.
        #[arg(long)]
        json: bool,
        /// The text (several words are joined with spaces).
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Push-to-talk through the agent's microphone: `start` (press; also stops the
    /// agent speaking) and `stop` (release). Prints the voice states and transcripts
    /// until the state the press or release leads to.
    Ptt {
        /// start, stop, toggle or key.
        action: PttAction,
    },
    /// Hear a WAV file as if it were spoken: VAD, speech to text, a turn, speech.
    /// Prints the transcript, tool cards, the reply and per-stage timings.
    Listen {
        /// The WAV file (any rate, channels, 16/24/32-bit).
        #[arg(long)]
        wav: PathBuf,
        /// Write the spoken reply to this WAV file instead of playing it.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Feed the audio at real-time pace (partial transcripts come as it plays).
        #[arg(long)]
        realtime: bool,
        /// Print everything as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Model Context Protocol: `aios mcp serve` offers AIOS's tools to an MCP client
    /// over stdio, through the agent's confirmation and audit.
    #[command(subcommand)]
    Mcp(McpCommand),
    /// Switch listening mode: `hands-free` (voice activity starts each utterance) or
    /// `push-to-talk`.
    VoiceMode {
        /// hands-free or push-to-talk.
        mode: VoiceModeArg,
    },
}

#[derive(Debug, Subcommand)]
enum McpCommand {
    /// Speak MCP on stdin/stdout (add `aios mcp serve` as a stdio server to the
    /// client's configuration; see the README). Needs the agent running.
    Serve,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PttAction {
    /// Press: start listening (stops a reply being spoken).
    Start,
    /// Release: end the utterance and send it.
    Stop,
    /// Release when listening, press otherwise: one hotkey for both.
    Toggle,
    /// Watch the keyboards (/dev/input; the `input` group) and hold Super+Space to
    /// talk, anywhere on the desktop. Runs until killed (the live image's
    /// aios-ptt-key.service).
    Key,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum VoiceModeArg {
    HandsFree,
    PushToTalk,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check the hash chain and the head record; names the first bad line.
    Verify {
        /// The log (default: the config's audit_log, else $XDG_STATE_HOME/aios/actions.log).
        path: Option<PathBuf>,
    },
    /// Print the most recent entries readably.
    Tail {
        /// How many entries.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
        /// The log (default as for `verify`).
        path: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the config file path and whether it exists.
    Path,
    /// Write a config file with the defaults (mode 0600).
    Init {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("aios: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("aios: {}", printable(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Config(cmd) = &cli.command {
        return config_command(cmd);
    }
    if let Command::Audit(cmd) = &cli.command {
        return audit_command(cmd);
    }
    if let Command::Say { out, json, text } = &cli.command {
        return voice::say(&text.join(" "), out.as_deref(), *json);
    }
    if let Command::Transcribe { json, file } = &cli.command {
        // Recognition is CPU-bound and blocking; this runtime has nothing else to do.
        return voice::transcribe(file, *json);
    }
    if let Command::Mcp(McpCommand::Serve) = &cli.command {
        mcp::serve(socket_path(cli.socket)?).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut client = IpcClient::new(socket_path(cli.socket)?, ClientKind::Cli);
    if let Some(secs) = cli.timeout {
        client = client.with_idle_timeout(std::time::Duration::from_secs(secs.max(1)));
    }
    if cli.no_wait {
        client = client.with_retry(RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        });
    }
    match cli.command {
        Command::Status { json } => status(&mut client, json).await,
        Command::Ask { text } => {
            ask(&mut client, &text.join(" ")).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Chat => chat(&mut client).await,
        Command::New => {
            client.new_conversation().await?;
            println!("A new conversation starts with the next message.");
            Ok(ExitCode::SUCCESS)
        }
        Command::History { limit } => {
            for m in client.history(limit).await? {
                let who = match m.role {
                    Role::User => "you",
                    Role::Assistant => "aios",
                    Role::Tool => "tool",
                    Role::System => "system",
                };
                println!(
                    "{} {who}: {}",
                    m.timestamp.format("%Y-%m-%d %H:%M:%S"),
                    printable(&m.content)
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Ptt { action } => match action {
            PttAction::Start => voice::ptt(&mut client, true).await,
            PttAction::Stop => voice::ptt(&mut client, false).await,
            PttAction::Toggle => voice::ptt_toggle(&mut client).await,
            PttAction::Key => ptt_key::watch(client.path().to_path_buf()).await,
        },
        Command::Listen {
            wav,
            out,
            realtime,
            json,
        } => voice::listen(&mut client, &wav, out.as_deref(), realtime, json).await,
        Command::VoiceMode { mode } => {
            voice::mode(&mut client, matches!(mode, VoiceModeArg::HandsFree)).await
        }
        Command::Config(_)
        | Command::Audit(_)
        | Command::Mcp(_)
        | Command::Transcribe { .. }
        | Command::Say { .. } => {
            unreachable!("handled above")
        }
    }
}

/// The same resolution as the agent: flag, `AIOS_SOCKET`, config, runtime dir.
fn socket_path(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p);
    }
    let config_path = paths::agent_config_path()?;
    let configured = match AgentConfig::load(&config_path) {
        Ok(loaded) => loaded.config().agent.socket_path.clone(),
        Err(e) => {
            eprintln!("aios: warning: {e}; using the default socket path");
            None
        }
    };
    Ok(paths::socket_path(configured.as_deref())?)
}

async fn status(client: &mut IpcClient, json: bool) -> anyhow::Result<ExitCode> {
    let s = client.status().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!(
            "aios-agent {} (protocol {})",
            s.agent_version, s.protocol_version
        );
        match &s.model {
            Some(m) => println!("provider: {} ({m})", s.provider),
            None => println!("provider: {}", s.provider),
        }
        println!("uptime:   {}", human_duration(s.uptime_ms));
        println!("clients:  {}", s.clients);
        println!("socket:   {}", client.path().display());
        if !s.configured {
            println!(
                "config:   none yet; running on defaults (the chat window's welcome sets it up, or write agent.toml)"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn ask(client: &mut IpcClient, text: &str) -> Result<(), ClientError> {
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    client
        .chat_events(text, |ev| match ev {
            ChatEvent::Delta(delta) => {
                // Model text is shown, never obeyed: escapes and bidi overrides in
                // it would otherwise repaint the terminal the prompt shares.
                let _ = out.write_all(printable(delta).as_bytes());
                let _ = out.flush();
            }
            // Tool activity goes to stderr so stdout stays the reply alone.
            ChatEvent::ToolCall(c) => {
                let _ = writeln!(
                    err,
                    "[tool] {} {}",
                    one_line(&c.name),
                    cut_middle(&one_line(&c.arguments.to_string()), 300)
                );
            }
            ChatEvent::ConfirmPending(p) => {
                let _ = writeln!(
                    err,
                    "[tool] waiting for your confirmation ({} s)",
                    p.timeout_secs
                );
            }
            ChatEvent::ToolResult(r) => {
                let first = r.result.content.lines().next().unwrap_or_default();
                let _ = writeln!(
                    err,
                    "[tool {}] {}",
                    status_word(r.status),
                    cut_middle(&one_line(first), 300)
                );
            }
        })
        .await?;
    println!();
    Ok(())
}

async fn chat(client: &mut IpcClient) -> anyhow::Result<ExitCode> {
    let tty = std::io::stdin().is_terminal();
    let welcome = client.connect().await?.clone();
    if tty {
        println!(
            "Connected to aios-agent {} at {}. Type a message; /new starts a new conversation; /quit or Ctrl-D to leave.",
            welcome.agent_version,
            client.path().display()
        );
    }
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        if tty {
            print!("you> ");
            std::io::stdout().flush()?;
        }
        let Some(line) = lines.next_line().await.context("reading standard input")? else {
            break;
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "/quit" || line == "/exit" {
            break;
        }
        if line == "/new" {
            client.new_conversation().await?;
            println!("(new conversation)");
            continue;
        }
        if tty {
            print!("aios> ");
        }
        match ask(client, line).await {
            Ok(()) => {}
            // The agent restarted mid-reply: say so and keep the session; the next
            // message reconnects.
            Err(e @ ClientError::Disconnected) => eprintln!("\naios: {e}"),
            // A failed turn (model missing, provider down) is a message for the
            // person; the conversation goes on.
            Err(ClientError::Agent(e)) => println!("{}", printable(&e.message)),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn audit_path(flag: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.clone());
    }
    let configured = paths::agent_config_path()
        .ok()
        .and_then(|p| AgentConfig::load(&p).ok())
        .and_then(|l| l.config().agent.audit_log.clone());
    Ok(paths::audit_log_path(configured.as_deref())?)
}

fn audit_command(cmd: &AuditCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Verify { path } => {
            let path = audit_path(path.as_ref())?;
            match aios_audit::verify(&path) {
                Ok(n) => {
                    println!(
                        "{}: OK, {n} entries, the chain and the head match",
                        path.display()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("{}: FAILED: {e}", path.display());
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        AuditCommand::Tail { lines, path } => {
            let path = audit_path(path.as_ref())?;
            let entries = aios_audit::read_entries(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            for e in &entries[entries.len().saturating_sub(*lines)..] {
                let who = if e.approved {
                    "approved"
                } else {
                    "not approved"
                };
                let src = e
                    .source
                    .as_deref()
                    .map(|s| format!(" [after reading {}]", one_line(s)))
                    .unwrap_or_default();
                println!(
                    "#{:<5} {}  {} {}  {who}{src}\n       {}",
                    e.seq,
                    e.ts.with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M:%S"),
                    one_line(&e.action),
                    one_line(&e.args.to_string()),
                    one_line(e.result.lines().next().unwrap_or_default())
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn config_command(cmd: &ConfigCommand) -> anyhow::Result<ExitCode> {
    let path = paths::agent_config_path()?;
    match cmd {
        ConfigCommand::Path => {
            let state = match AgentConfig::load(&path) {
                Ok(Loaded::File(_)) => "exists",
                Ok(Loaded::Defaults(_)) => "absent: the agent runs on defaults",
                Err(_) => "invalid: the agent will refuse to start",
            };
            println!("{} ({state})", path.display());
        }
        ConfigCommand::Init { force } => {
            if path.exists() && !force {
                anyhow::bail!("{} exists; pass --force to overwrite it", path.display());
            }
            AgentConfig::default().save(&path)?;
            println!("wrote {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn human_duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

/// How a tool call ended, in the words `aios` prints (`[tool done] ...`) and puts in
/// `aios listen --json`.
pub(crate) fn status_word(status: aios_common::ipc::ToolStatus) -> &'static str {
    use aios_common::ipc::ToolStatus;
    match status {
        ToolStatus::Ok => "done",
        ToolStatus::Failed => "failed",
        ToolStatus::Denied => "denied",
        ToolStatus::TimedOut => "timed out",
        ToolStatus::Cancelled => "cancelled",
    }
}
