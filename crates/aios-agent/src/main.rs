//! `aios-agent`: the AIOS daemon. See the library docs for what it owns.

use std::path::PathBuf;

use aios_common::config::{AgentConfig, Loaded};
use aios_common::ipc::server::ServerOptions;
use aios_common::paths;
use anyhow::Context;
use clap::Parser;
use tracing::{info, warn};

/// The AIOS agent daemon: serves the chat, dock and CLI over a Unix socket.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Config file (default: $AIOS_CONFIG, else $XDG_CONFIG_HOME/aios/agent.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Socket path (default: $AIOS_SOCKET, else the config, else $XDG_RUNTIME_DIR/aios-agent.sock).
    #[arg(long)]
    socket: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,ort=warn"))
                // The PulseAudio client logs every closed connection as an error
                // (the speaker closes its device after each reply); a real failure
                // reaches the microphone or speaker, which say what to do.
                .add_directive(
                    "pulseaudio::client::reactor=off"
                        .parse()
                        .context("a built-in log filter")?,
                ),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal: a log written to a file or a journal must not
        // carry escape codes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let config_path = match args.config {
        Some(p) => p,
        None => paths::agent_config_path().context("locating the config file")?,
    };
    let (config, loaded) = match AgentConfig::load(&config_path)? {
        Loaded::File(c) => {
            info!(path = %config_path.display(), "config loaded");
            (c, true)
        }
        Loaded::Defaults(c) => {
            info!(
                path = %config_path.display(),
                "no config file; running on defaults (the chat window offers first-run setup)"
            );
            (c, false)
        }
    };
    let file = aios_agent::ConfigFile {
        path: config_path,
        loaded,
    };
    info!(provider = config.provider.kind.as_str(), "starting");
    let socket = match args.socket {
        Some(p) => p,
        None => paths::socket_path(config.agent.socket_path.as_deref())
            .context("choosing the socket path")?,
    };

    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let shutdown = shutdown_signal();
        aios_agent::run_with_file(
            config,
            Some(file),
            &socket,
            ServerOptions::default(),
            shutdown,
        )
        .await
    })?;
    Ok(())
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called,
/// not when the future is first polled: the server starts polling it only once it
/// serves, and a SIGTERM in between would kill the agent without removing its socket.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        let (Ok(mut term), Ok(mut int)) = (term, int) else {
            warn!("cannot install signal handlers; stop the agent with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => info!("SIGTERM received"),
            _ = int.recv() => info!("SIGINT received"),
        }
    }
}
