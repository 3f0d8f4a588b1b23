//! `aios ptt key`: push-to-talk on a held key combination (Super+Space) anywhere on
//! the desktop.
//!
//! Wayland gives no program the keyboard outside its own windows, and labwc runs a
//! key binding on press or on release, never both. So this reads the keyboards'
//! evdev devices under `/dev/input` (the person must be in the `input` group, as the
//! live image's user is) and sends a press when Space goes down while Super is held
//! and a release when either comes up. It only watches two keys and sends nothing
//! else: the key reaches the compositor as usual (the image's rc.xml binds
//! Super+Space to nothing so the focused window does not get a space).

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aios_common::ipc::ClientKind;
use aios_common::ipc::client::IpcClient;
use anyhow::Context;
use tokio::sync::mpsc;

const EV_KEY: u16 = 1;
const KEY_SPACE: u16 = 57;
const KEY_LEFTMETA: u16 = 125;
const KEY_RIGHTMETA: u16 = 126;
/// `struct input_event` on 64-bit Linux: a timeval (16 bytes), type, code, value.
const EVENT_SIZE: usize = 24;
/// How often new keyboards (plugged in later) are looked for.
const RESCAN: Duration = Duration::from_secs(3);
/// The longest a press or release may take to reach the agent and settle.
const SETTLE: Duration = Duration::from_secs(15);

/// What the two watched keys did.
#[derive(Debug, Default)]
struct Combo {
    supers: u8,
    space: bool,
    talking: bool,
}

impl Combo {
    /// Feeds one key event (`value` 1 = down, 0 = up, 2 = repeat); returns
    /// `Some(true)` to press push-to-talk, `Some(false)` to release it.
    fn feed(&mut self, code: u16, value: i32) -> Option<bool> {
        match (code, value) {
            (KEY_LEFTMETA | KEY_RIGHTMETA, 1) => self.supers = self.supers.saturating_add(1),
            (KEY_LEFTMETA | KEY_RIGHTMETA, 0) => self.supers = self.supers.saturating_sub(1),
            (KEY_SPACE, 1) => self.space = true,
            (KEY_SPACE, 0) => self.space = false,
            _ => return None,
        }
        let held = self.supers > 0 && self.space;
        if held != self.talking {
            self.talking = held;
            return Some(held);
        }
        None
    }
}

/// Watches the keyboards until killed; each press and release goes to the agent.
pub async fn watch(socket: PathBuf) -> anyhow::Result<ExitCode> {
    let (tx, mut rx) = mpsc::channel::<(u16, i32)>(64);
    let watched: Arc<Mutex<HashSet<PathBuf>>> = Arc::default();
    let mut first = true;
    let mut rescan = tokio::time::interval(RESCAN);
    let mut combo = Combo::default();
    loop {
        tokio::select! {
            _ = rescan.tick() => {
                let added = open_new_keyboards(&watched, &tx)?;
                if first && added == 0 && watched.lock().expect("poisoned").is_empty() {
                    anyhow::bail!(
                        "no keyboard under /dev/input can be read: add yourself to the `input` group (`sudo adduser $USER input`, then log in again)"
                    );
                }
                first = false;
            }
            Some((code, value)) = rx.recv() => {
                if let Some(start) = combo.feed(code, value) {
                    send(&socket, start).await;
                }
            }
        }
    }
}

/// Presses or releases on a fresh connection (the agent may have restarted since the
/// last key) and waits until the voice pipeline settles, printing what it says.
async fn send(socket: &Path, start: bool) {
    let mut client = IpcClient::new(socket, ClientKind::Cli);
    match tokio::time::timeout(SETTLE, crate::voice::ptt(&mut client, start)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => eprintln!(
            "aios: push-to-talk {}: {e:#}",
            if start { "press" } else { "release" }
        ),
        Err(_) => eprintln!("aios: push-to-talk: the agent did not settle within {SETTLE:?}"),
    }
}

/// Starts a reader thread for every keyboard not watched yet; returns how many.
fn open_new_keyboards(
    watched: &Arc<Mutex<HashSet<PathBuf>>>,
    tx: &mpsc::Sender<(u16, i32)>,
) -> anyhow::Result<usize> {
    let mut added = 0;
    let entries = std::fs::read_dir("/dev/input").context("reading /dev/input")?;
    for path in entries.flatten().map(|e| e.path()) {
        let is_event = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("event"));
        if !is_event || watched.lock().expect("poisoned").contains(&path) || !is_keyboard(&path) {
            continue;
        }
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        println!("watching {}", path.display());
        watched.lock().expect("poisoned").insert(path.clone());
        added += 1;
        let (tx, watched) = (tx.clone(), watched.clone());
        std::thread::spawn(move || {
            read_keys(file, &tx);
            // Unplugged (or the receiver is gone): forget it so a replug is seen.
            watched.lock().expect("poisoned").remove(&path);
        });
    }
    Ok(added)
}

/// A device that reports the Space key (sysfs capabilities), so mice and the power
/// button are left alone.
fn is_keyboard(event: &Path) -> bool {
    let Some(name) = event.file_name() else {
        return false;
    };
    let caps = Path::new("/sys/class/input")
        .join(name)
        .join("device/capabilities/key");
    let Ok(text) = std::fs::read_to_string(caps) else {
        return false;
    };
    // Space-separated hex words, most significant first, 64 bits each.
    let words: Vec<u64> = text
        .split_whitespace()
        .rev()
        .filter_map(|w| u64::from_str_radix(w, 16).ok())
        .collect();
    let bit = KEY_SPACE as usize;
    words
        .get(bit / 64)
        .is_some_and(|w| w & (1 << (bit % 64)) != 0)
}

fn read_keys(mut file: std::fs::File, tx: &mpsc::Sender<(u16, i32)>) {
    let mut buf = [0u8; EVENT_SIZE * 16];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        for ev in buf[..n - n % EVENT_SIZE].chunks_exact(EVENT_SIZE) {
            let kind = u16::from_ne_bytes([ev[16], ev[17]]);
            let code = u16::from_ne_bytes([ev[18], ev[19]]);
            let value = i32::from_ne_bytes([ev[20], ev[21], ev[22], ev[23]]);
            if kind == EV_KEY && tx.blocking_send((code, value)).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn super_then_space_presses_and_either_key_up_releases() {
        let mut c = Combo::default();
        assert_eq!(c.feed(KEY_SPACE, 1), None, "space alone types a space");
        assert_eq!(c.feed(KEY_SPACE, 0), None);
        assert_eq!(c.feed(KEY_LEFTMETA, 1), None);
        assert_eq!(c.feed(KEY_SPACE, 1), Some(true));
        assert_eq!(c.feed(KEY_SPACE, 2), None, "auto-repeat presses nothing");
        assert_eq!(
            c.feed(KEY_LEFTMETA, 0),
            Some(false),
            "letting go of Super ends it"
        );
        assert_eq!(c.feed(KEY_SPACE, 0), None);
        assert_eq!(c.feed(KEY_RIGHTMETA, 1), None);
        assert_eq!(c.feed(KEY_SPACE, 1), Some(true));
        assert_eq!(c.feed(KEY_SPACE, 0), Some(false));
        assert_eq!(c.feed(30, 1), None, "other keys are ignored");
    }
}
