//! `aios-dock`: the bottom layer-shell bar of the AIOS desktop.
//!
//! Launchers on the left (chat, browser, terminal), the push-to-talk button in the
//! centre (hold to talk; its look follows the voice pipeline's state, with a level
//! meter and a red mark whenever the microphone is open; a press while AIOS speaks
//! interrupts it), Wi-Fi, volume, battery and the clock on the right. Like every GUI it depends only on
//! `aios-common` and talks only to `aios-agent`, through one reconnecting
//! subscription ([`aios_common::ipc::link`]). What it shows is [`state::Dock`], plain
//! Rust with unit tests.

pub mod app;
pub mod state;
pub mod status;

use anyhow::Context;

/// Runs the dock until it is closed.
pub fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AIOS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let (socket, config) = aios_common::config::for_front_end()?;
    app::run_dock(socket, config.dock.ptt, launchers())
        .map_err(anyhow::Error::msg)
        .context("aios-dock")
}

/// Chat (the window beside this binary), browser, terminal.
fn launchers() -> Vec<app::Launcher> {
    let beside = |name: &str| {
        std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join(name)))
            .filter(|p| p.is_file())
            .map_or_else(|| name.to_owned(), |p| p.display().to_string())
    };
    vec![
        app::Launcher {
            label: "Chat",
            command: vec![beside("aios-chat")],
        },
        app::Launcher {
            label: "Browser",
            command: vec!["xdg-open".into(), "about:blank".into()],
        },
        app::Launcher {
            label: "Terminal",
            command: vec!["x-terminal-emulator".into()],
        },
    ]
}
