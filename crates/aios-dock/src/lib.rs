//! `aios-dock`: the bottom layer-shell panel of the AIOS desktop.
//!
//! It will own the push-to-talk button with its input-level meter, the voice state
//! indicator, launchers for the chat window and the browser, and the system tray
//! (Wi-Fi, volume, battery, clock). Like every GUI it depends only on `aios-common`
//! and reaches the system through `aios-agent`.
//!
//! Built by the GUI issue.
