//! `aios-chat`: the typed chat window, a plain Iced application.
//!
//! It will own the message list with streamed replies rendered as Markdown, the input
//! bar, tool cards (pending, awaiting confirmation, done, denied) and the first-boot
//! provider setup. It talks only to `aios-agent`, over the IPC protocol defined in
//! [`aios_common::ipc`], through one reconnecting subscription.
//!
//! Built by the GUI issue; until then the terminal fallback is `aios chat`.
