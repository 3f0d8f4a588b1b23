//! `aios-confirm`: the confirmation front end, always a separate process.
//!
//! The agent starts it from a fixed path beside its own executable, one child per
//! request, with an inherited socketpair as the only channel, so that nothing the
//! model, a transcript or a client of the public socket says can approve a tool call.
//! It will own the terminal prompt (`--tty`) and the Iced dialog; a destructive
//! action requires typing `DELETE`; a timeout or a dead child means deny.
//!
//! Built by the tools-and-trust issue (terminal) and the GUI issue (dialog).
