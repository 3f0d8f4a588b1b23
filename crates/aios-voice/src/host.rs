//! Which sound system the microphone and the speaker talk to.
//!
//! PipeWire's PulseAudio server (`pipewire-pulse`) when it runs, else ALSA (on a
//! desktop, PipeWire's ALSA plugin). The order matters for CPU, not for sound: cpal's
//! ALSA streams through PipeWire's ALSA plugin (0.3.65) busy-poll a whole core each,
//! capture and playback alike, while the PulseAudio protocol delivers in fragments
//! and sleeps in between (measured: README, "what an open stream costs").

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

/// Microphone fragments asked of a PulseAudio server: 20 ms. Its default for a
/// record stream is about a third of a second, far too coarse for partial
/// transcripts and endpointing.
pub(crate) const PULSE_FRAGMENT_MS: u32 = 20;

/// The host to open devices on: PulseAudio when a server answers, else ALSA.
pub(crate) fn host() -> cpal::Host {
    if pulseaudio::socket_path_from_env().is_some() {
        ensure_pulse_cookie();
    }
    cpal::default_host()
}

/// Whether `host` is the PulseAudio one.
pub(crate) fn is_pulse(host: &cpal::Host) -> bool {
    host.id() == cpal::HostId::PulseAudio
}

/// The PulseAudio client cpal uses refuses to connect without an authentication
/// cookie file, which libpulse would have created on its first connection (PipeWire
/// accepts any cookie). Create it the way libpulse does: 256 random bytes in
/// `~/.config/pulse/cookie`, readable by the user only. Failing that, cpal falls back
/// to ALSA, which works, just at a higher CPU cost.
fn ensure_pulse_cookie() {
    if pulseaudio::cookie_path_from_env().is_some() {
        return;
    }
    let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) else {
        return;
    };
    let home = std::path::Path::new(&home);
    match create_cookie(home) {
        Ok(path) => tracing::info!(path = %path.display(), "created a PulseAudio cookie"),
        // Another process made it first: fine.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => tracing::warn!("cannot create a PulseAudio cookie ({e}); using ALSA"),
    }
}

/// Writes `home/.config/pulse/cookie` (256 random bytes, mode 600) unless it exists.
fn create_cookie(home: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    let dir = home.join(".config/pulse");
    std::fs::create_dir_all(&dir)?;
    let mut cookie = [0u8; 256];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut r| std::io::Read::read_exact(&mut r, &mut cookie))?;
    let path = dir.join("cookie");
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?
        .write_all(&cookie)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_cookie_is_made_once_private_and_never_replaced() {
        let home = tempfile::tempdir().expect("tempdir");
        let path = create_cookie(home.path()).expect("created");
        let first = std::fs::read(&path).expect("read");
        assert_eq!(first.len(), 256);
        assert!(first.iter().any(|&b| b != 0), "random, not zeros");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = create_cookie(home.path()).expect_err("exists");
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).expect("read"), first);
    }
}
