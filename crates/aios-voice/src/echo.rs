//! Telling the person's voice from the assistant's own, heard back through the
//! microphone (hands-free with speakers, no echo canceller in the sound server).
//!
//! The speaker records how loud its output was, 10 ms at a time ([`EchoReference`]);
//! the listener compares each microphone frame with the loudest output of the last
//! [`ECHO_WINDOW`] (the way from speaker to microphone takes tens of ms). At the start
//! of each reply it learns how much of the output comes back (the coupling: nobody
//! talks in the first moment of an answer they asked for); after that, a frame is
//! the person's voice only when it is clearly louder than that much echo. This is a
//! double-talk detector, not a canceller: the person has to speak over the reply
//! somewhat louder than its echo, which is what people do when they interrupt.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Output level slots, 10 ms each.
const SLOT_MS: u64 = 10;
const SLOTS: usize = 128;
/// How far back the loudest output counts: the output buffer plus the way through
/// the room and the sound server.
pub const ECHO_WINDOW: Duration = Duration::from_millis(300);
/// Output quieter than this (RMS, about -50 dBFS) cannot make a voice-like echo.
const SILENT: f32 = 0.003;

/// The output level over the last second or so, written by the audio thread, read
/// by the listener. Lock-free: each slot holds its 10 ms sequence number and level.
pub struct EchoReference {
    start: Instant,
    slots: [AtomicU64; SLOTS],
    /// The slot sequence of the last [`EchoReference::cut`]: output up to it is gone.
    cut: AtomicU64,
}

impl std::fmt::Debug for EchoReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoReference")
            .field("recent", &self.recent(ECHO_WINDOW))
            .finish()
    }
}

impl Default for EchoReference {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            slots: std::array::from_fn(|_| AtomicU64::new(0)),
            cut: AtomicU64::new(0),
        }
    }
}

impl EchoReference {
    fn seq(&self, at: Instant) -> u64 {
        // Sequence 0 is "never written".
        at.duration_since(self.start).as_millis() as u64 / SLOT_MS + 1
    }

    /// Records that audio of this RMS level was handed to the output now (called for
    /// every 10 ms of output, on the audio thread).
    pub fn played(&self, rms: f32) {
        self.played_at(Instant::now(), rms);
    }

    fn played_at(&self, at: Instant, rms: f32) {
        let seq = self.seq(at);
        let slot = &self.slots[seq as usize % SLOTS];
        let old = slot.load(Ordering::Relaxed);
        let level = if old >> 32 == seq & 0xFFFF_FFFF {
            rms.max(f32::from_bits(old as u32))
        } else {
            rms
        };
        slot.store(
            ((seq & 0xFFFF_FFFF) << 32) | u64::from(level.to_bits()),
            Ordering::Relaxed,
        );
    }

    /// The output was stopped now (barge-in): what it played before is forgotten.
    /// Its echo dies out within a device buffer or two, while a listener started
    /// right after the stop would otherwise take the stopped reply for one still
    /// playing, and measure the person who interrupted it as its echo.
    pub fn cut(&self) {
        self.cut_at(Instant::now());
    }

    fn cut_at(&self, at: Instant) {
        self.cut.store(self.seq(at), Ordering::Relaxed);
    }

    /// The loudest output within `window` before now; 0 when nothing played.
    pub fn recent(&self, window: Duration) -> f32 {
        self.recent_at(Instant::now(), window)
    }

    fn recent_at(&self, at: Instant, window: Duration) -> f32 {
        let now = self.seq(at);
        let n = (window.as_millis() as u64 / SLOT_MS).min(SLOTS as u64 - 1);
        let after_cut = self.cut.load(Ordering::Relaxed) + 1;
        (now.saturating_sub(n).max(after_cut)..=now)
            .filter_map(|seq| {
                let v = self.slots[seq as usize % SLOTS].load(Ordering::Relaxed);
                (v >> 32 == seq & 0xFFFF_FFFF).then(|| f32::from_bits(v as u32))
            })
            .fold(0.0, f32::max)
    }
}

/// How long each reply's echo is measured before anything may interrupt it.
const CALIBRATE: Duration = Duration::from_millis(400);
/// A later measurement may at most double the coupling, or raise it to this: the
/// room does not change that fast, but a person talking while a measurement runs
/// (a pause in the reply starts a new one) would otherwise lock them out.
const COUPLING_FLOOR: f32 = 0.02;

/// How much louder than the expected echo the person must be (about 2.3 dB). The
/// expected echo is already a worst case: the loudest output of the window times
/// the largest coupling seen.
const MARGIN: f32 = 1.3;

/// The listener's side: decides frame by frame whether the microphone holds more
/// than the assistant's own echo.
#[derive(Debug)]
pub struct EchoGate {
    reference: std::sync::Arc<EchoReference>,
    /// Microphone level per unit of output level, learned at each reply's start.
    coupling: f32,
    /// When the current stretch of output began, while it is being measured.
    calibrating: Option<(Instant, f32)>,
    playing: bool,
    /// Whether any measurement has finished.
    measured: bool,
}

impl EchoGate {
    /// A gate reading `reference`.
    pub fn new(reference: std::sync::Arc<EchoReference>) -> Self {
        Self {
            reference,
            coupling: 0.0,
            calibrating: None,
            playing: false,
            measured: false,
        }
    }

    /// Whether a microphone frame of level `mic` (RMS) may be the person speaking.
    pub fn admits(&mut self, mic: f32) -> bool {
        self.admits_at(Instant::now(), mic)
    }

    fn admits_at(&mut self, at: Instant, mic: f32) -> bool {
        let far = self.reference.recent_at(at, ECHO_WINDOW);
        if far < SILENT {
            self.playing = false;
            if let Some((_, c)) = self.calibrating.take() {
                self.learn(c);
            }
            return true;
        }
        if !self.playing {
            // A reply starts: measure how much of it comes back.
            self.playing = true;
            self.calibrating = Some((at, 0.0));
        }
        if let Some((since, c)) = self.calibrating {
            let c = c.max(mic / far);
            if at.duration_since(since) < CALIBRATE {
                self.calibrating = Some((since, c));
                return false;
            }
            self.calibrating = None;
            self.learn(c);
        }
        mic > self.coupling * far * MARGIN
    }
}

impl EchoGate {
    fn learn(&mut self, measured: f32) {
        let measured = if self.measured {
            measured.min((self.coupling * 2.0).max(COUPLING_FLOOR))
        } else {
            measured
        };
        // The room changes slowly: a quiet start of one reply does not make the next
        // loud one look like a person.
        self.coupling = measured.max(self.coupling * 0.7);
        self.measured = true;
        tracing::debug!(measured, coupling = self.coupling, "echo coupling measured");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_reference_keeps_the_loudest_recent_output() {
        let r = EchoReference::default();
        let t0 = r.start;
        assert_eq!(r.recent_at(t0, ECHO_WINDOW), 0.0);
        r.played_at(t0 + Duration::from_millis(15), 0.2);
        r.played_at(t0 + Duration::from_millis(16), 0.5);
        r.played_at(t0 + Duration::from_millis(25), 0.1);
        let soon = t0 + Duration::from_millis(100);
        assert_eq!(r.recent_at(soon, ECHO_WINDOW), 0.5);
        // Out of the window, and a slot reused a lap later, are forgotten.
        assert_eq!(
            r.recent_at(t0 + Duration::from_millis(500), ECHO_WINDOW),
            0.0
        );
        let lap = t0 + Duration::from_millis(15 + SLOT_MS * SLOTS as u64);
        r.played_at(lap, 0.05);
        assert_eq!(r.recent_at(lap, ECHO_WINDOW), 0.05);
    }

    /// A reply at output level 0.1 over `span` (ms), and a microphone frame every
    /// 30 ms at level `mic(ms)`: which frames the gate admitted.
    fn reply(
        r: &EchoReference,
        gate: &mut EchoGate,
        span: std::ops::Range<u64>,
        mic: impl Fn(u64) -> f32,
    ) -> Vec<(u64, bool)> {
        let at = |ms: u64| r.start + Duration::from_millis(ms);
        span.step_by(10)
            .filter_map(|ms| {
                r.played_at(at(ms), 0.1);
                (ms % 30 == 0).then(|| (ms, gate.admits_at(at(ms), mic(ms))))
            })
            .collect()
    }

    #[test]
    fn the_gate_learns_the_echo_and_admits_only_a_louder_voice() {
        let r = Arc::new(EchoReference::default());
        let mut gate = EchoGate::new(r.clone());
        let t0 = r.start;
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // Nothing playing: everything may be speech.
        assert!(gate.admits_at(at(0), 0.01));
        // A reply plays at 0.1; its echo comes back at 0.01 to 0.02 (coupling 0.2).
        let admitted = reply(&r, &mut gate, 100..2000, |ms| {
            [0.01, 0.02, 0.015][(ms / 30 % 3) as usize]
        });
        assert!(
            admitted.iter().all(|(_, a)| !a),
            "its own echo is never the person: {admitted:?}"
        );
        // The person speaks over it, well above the echo: admitted.
        r.played_at(at(2000), 0.1);
        assert!(gate.admits_at(at(2000), 0.08));
        // Hardly louder than the loudest echo: not.
        assert!(!gate.admits_at(at(2000), 0.025));
        // The reply ends: after the window, everything may be speech again.
        assert!(gate.admits_at(at(2400), 0.01));
    }

    #[test]
    fn a_person_talking_through_a_pause_in_the_reply_is_not_locked_out() {
        let r = Arc::new(EchoReference::default());
        let mut gate = EchoGate::new(r.clone());
        // Headphones: the reply does not come back (coupling about 0).
        reply(&r, &mut gate, 0..1000, |_| 0.0005);
        // A pause in the reply, then it goes on while the person talks at 0.05.
        let admitted = reply(&r, &mut gate, 1500..2500, |_| 0.05)
            .iter()
            .filter(|(_, a)| *a)
            .count();
        assert!(
            admitted > 15,
            "the person is heard after the new measurement ({admitted})"
        );
    }

    #[test]
    fn the_tail_of_a_reply_cut_off_before_listening_is_not_measured() {
        let r = Arc::new(EchoReference::default());
        let t0 = r.start;
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // A reply played until a press stopped it at 1.0 s ...
        for ms in (0..1000).step_by(10) {
            r.played_at(at(ms), 0.1);
        }
        r.cut_at(at(1001));
        // ... and a new listener hears the person right away, while the reference
        // still holds that reply's last 300 ms (CI: the person was measured as echo
        // at coupling 1.6 and locked out of the next reply).
        let mut gate = EchoGate::new(r.clone());
        for ms in (1020..1600).step_by(30) {
            assert!(gate.admits_at(at(ms), 0.05), "voice at {ms} ms");
        }
        // The next reply is measured from its own echo (coupling 0.2), and a person
        // speaking over it at 0.05 is heard.
        reply(&r, &mut gate, 2000..3000, |_| 0.02);
        r.played_at(at(3000), 0.1);
        assert!(gate.admits_at(at(3000), 0.05));
        assert!(!gate.admits_at(at(3000), 0.02));
    }

    #[test]
    fn speech_at_the_start_of_a_reply_is_measured_not_admitted() {
        let r = Arc::new(EchoReference::default());
        let mut gate = EchoGate::new(r.clone());
        let t0 = r.start;
        r.played_at(t0 + Duration::from_millis(10), 0.1);
        assert!(!gate.admits_at(t0 + Duration::from_millis(20), 0.5));
    }
}
