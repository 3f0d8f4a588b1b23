//! `aios-chat`: the typed chat window, a plain Iced application.
//!
//! It owns the message list with streamed replies rendered as Markdown, the input
//! bar, tool cards (calling, awaiting confirmation, done, denied, timed out, failed)
//! and the first-boot provider setup. It talks only to `aios-agent`, over the IPC
//! protocol defined in [`aios_common::ipc`], through one reconnecting subscription.
//!
//! What the window shows is [`conversation::Conversation`], plain Rust built from the
//! protocol's messages and the person's actions and tested without any widget; the
//! Iced view ([`app`]) only draws it. Without a display the terminal fallback is
//! `aios chat`.

pub mod app;
pub mod conversation;
pub mod link;
pub mod setup;

use anyhow::Context;

/// Runs the chat window until it is closed. The agent's socket is found as `aios`
/// finds it (`AIOS_SOCKET`, the config, the runtime directory).
pub fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AIOS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let (socket, _) = aios_common::config::for_front_end()?;
    let home = std::env::var("HOME").ok();
    app::run(socket, home)
        .context("the chat window failed (is a Wayland display there? WAYLAND_DISPLAY)")
}
