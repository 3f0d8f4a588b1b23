//! The listening front end: audio in (microphone or samples), Silero VAD on every
//! 32 ms frame, input level, end-of-speech detection, and snapshots of the utterance
//! for partial and final transcription. It runs on a thread of its own and reports
//! through a callback; recognition itself is the caller's (it owns the whisper model).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::vad::{FRAME, segments};
use crate::{SAMPLE_RATE, Vad, VadConfig, VoiceError};

/// Silence (in samples) whisper gets before the speech.
const LEAD_SILENCE: usize = SAMPLE_RATE as usize * 3 / 10;
/// Input level reports per second, at most.
const LEVEL_EVERY: Duration = Duration::from_millis(50);
/// Hands-free, frames (about 1 s) kept between utterances.
const IDLE_KEEP_FRAMES: usize = 32;
/// Frames of silence (96 ms) after which no partial snapshot is taken.
const PAUSE_FRAMES: usize = 3;
/// A microphone that has delivered nothing for this long after opening is broken.
/// A working one delivers within one period (tens of ms); the margin is for a sound
/// server starved of CPU while whisper runs on every core.
const SILENT_DEVICE: Duration = Duration::from_millis(2500);
/// A microphone that has delivered nothing for this long is opened once more.
const REOPEN_SILENT: Duration = Duration::from_millis(1000);
/// How often the microphone ring buffer is drained.
const POLL: Duration = Duration::from_millis(16);

/// Where the audio comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The default microphone.
    Microphone,
    /// Samples at 16 kHz (a WAV file given to `aios listen`); `realtime` paces them
    /// like a microphone would.
    Samples {
        /// The audio.
        samples: Arc<Vec<f32>>,
        /// Feed at real-time pace.
        realtime: bool,
    },
}

/// How the front end listens.
#[derive(Debug, Clone)]
pub struct ListenConfig {
    /// Endpointing.
    pub vad: VadConfig,
    /// Audio between partial snapshots, in ms (0: none).
    pub partial_every_ms: u32,
    /// Hands-free: keep listening after an utterance ends, reporting each one.
    pub hands_free: bool,
    /// What the speaker is playing: while it plays, only a voice louder than its
    /// echo counts as speech ([`crate::echo`]); `None` where nothing can echo.
    pub echo: Option<Arc<crate::echo::EchoReference>>,
    /// Push-to-talk: silence after which `SpeechEnd` is reported, in ms, so the final
    /// pass can start before the release (the release ends the utterance, so this can
    /// be shorter than the hands-free end of speech). Hands-free uses the VAD's
    /// `min_silence_ms`.
    pub early_end_ms: u32,
}

/// What the front end reports.
#[derive(Clone)]
pub enum ListenEvent {
    /// The microphone is open (or the samples started).
    Opened,
    /// Input level, 0 (silence, -60 dBFS or less) to 1 (full scale).
    Level(f32),
    /// Speech began.
    SpeechStart,
    /// The speech so far, for a partial transcript (with lead silence).
    Partial(Vec<f32>),
    /// Enough silence after speech: this is the utterance so far (with lead
    /// silence). In push-to-talk mode a final transcript may start from it before the
    /// release; hands-free it is the utterance.
    SpeechEnd(Vec<f32>),
    /// Listening stopped (release, or the samples ran out): the speech of the whole
    /// utterance, `None` if there was none. `unchanged` says no speech came after the
    /// last `SpeechEnd` (whose transcript can then be used as is).
    Ended {
        /// The speech to transcribe.
        speech: Option<Vec<f32>>,
        /// Seconds listened.
        seconds: f32,
        /// Same audio as the last `SpeechEnd`.
        unchanged: bool,
    },
    /// The source failed (no microphone, device gone).
    Failed(String),
}

/// Audio is shown as its length in seconds: a log line or a test failure must not
/// print 100 000 samples.
impl std::fmt::Debug for ListenEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = |s: &[f32]| format!("{:.2} s", s.len() as f32 / 16_000.0);
        match self {
            Self::Opened => f.write_str("Opened"),
            Self::Level(l) => write!(f, "Level({l:.2})"),
            Self::SpeechStart => f.write_str("SpeechStart"),
            Self::Partial(s) => write!(f, "Partial({})", secs(s)),
            Self::SpeechEnd(s) => write!(f, "SpeechEnd({})", secs(s)),
            Self::Ended {
                speech,
                seconds,
                unchanged,
            } => write!(
                f,
                "Ended {{ speech: {}, seconds: {seconds:.2}, unchanged: {unchanged} }}",
                speech.as_deref().map_or("none".into(), secs)
            ),
            Self::Failed(why) => write!(f, "Failed({why})"),
        }
    }
}

/// A running front end; dropping it stops it without an `Ended` event.
#[derive(Debug)]
pub struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Listener {
    /// Starts listening on a thread of its own. `events` runs on that thread and must
    /// not block for long.
    pub fn start(
        source: Source,
        vad: Vad,
        cfg: ListenConfig,
        mut events: impl FnMut(ListenEvent) + Send + 'static,
    ) -> Result<(Self, VadHandle), VoiceError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (vad_tx, vad_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("aios-listener".into())
            .spawn(move || {
                let mut front = Front::new(vad, cfg);
                if let Err(e) = front.run(source, &flag, &mut events) {
                    events(ListenEvent::Failed(e.to_string()));
                }
                let _ = vad_tx.send(front.vad);
            })
            .map_err(|e| VoiceError::Runtime(format!("cannot start the listener: {e}")))?;
        Ok((
            Self {
                stop,
                thread: Some(thread),
            },
            VadHandle(vad_rx),
        ))
    }

    /// Stops listening (push-to-talk release); the thread sends `Ended` and exits.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Stops and waits for the thread.
    pub fn join(mut self) {
        self.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Gives the VAD model back once the listener has ended, for the next one.
#[derive(Debug)]
pub struct VadHandle(std::sync::mpsc::Receiver<Vad>);

impl VadHandle {
    /// The model, once the listener thread has finished.
    pub fn take(self) -> Option<Vad> {
        self.0.recv().ok()
    }
}

struct Front {
    vad: Vad,
    /// Tells the assistant's echo from the person while the speaker plays.
    gate: Option<crate::echo::EchoGate>,
    cfg: ListenConfig,
    /// The utterance so far.
    samples: Vec<f32>,
    /// One VAD probability per whole frame of `samples`.
    probs: Vec<f32>,
    in_speech: bool,
    speech_run: usize,
    silent_run: usize,
    /// Sample count at the last partial snapshot.
    last_partial: usize,
    /// Frame count at the last `SpeechEnd`, if no speech came since.
    ended_at: Option<usize>,
    last_level: Option<Instant>,
    level_acc: (f32, usize),
}

impl Front {
    fn new(mut vad: Vad, cfg: ListenConfig) -> Self {
        vad.reset();
        Self {
            vad,
            gate: cfg.echo.clone().map(crate::echo::EchoGate::new),
            cfg,
            samples: Vec::new(),
            probs: Vec::new(),
            in_speech: false,
            speech_run: 0,
            silent_run: 0,
            last_partial: 0,
            ended_at: None,
            last_level: None,
            level_acc: (0.0, 0),
        }
    }

    fn run(
        &mut self,
        source: Source,
        stop: &AtomicBool,
        events: &mut dyn FnMut(ListenEvent),
    ) -> Result<(), VoiceError> {
        match source {
            Source::Microphone => {
                let mut mic = crate::capture::Capture::open_default()?;
                events(ListenEvent::Opened);
                let mut buf = Vec::new();
                let mut opened = Instant::now();
                let mut heard_any = false;
                let mut reopened = false;
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(POLL);
                    buf.clear();
                    if mic.read(&mut buf)? > 0 && !heard_any {
                        heard_any = true;
                        tracing::debug!(
                            ms = opened.elapsed().as_millis(),
                            "microphone: first audio"
                        );
                    }
                    // A working stream delivers within tens of ms. One that does
                    // not gets one more try before the error below: a CI run saw a
                    // stream (ALSA plugin, fresh test PipeWire) deliver nothing even
                    // while audio played into its source. Not reproduced in 50 opens
                    // since, so whether the second open helps is unproven.
                    if !heard_any && !reopened && opened.elapsed() > REOPEN_SILENT {
                        tracing::warn!(
                            "the microphone delivered nothing in {} ms; opening it again",
                            REOPEN_SILENT.as_millis()
                        );
                        drop(mic);
                        mic = crate::capture::Capture::open_default()?;
                        reopened = true;
                        opened = Instant::now();
                    }
                    // A device that opens but never delivers (the sound server is
                    // gone, ALSA's plugin has nobody to talk to) must not look like
                    // a silent room.
                    if !heard_any && opened.elapsed() > SILENT_DEVICE {
                        return Err(VoiceError::Device(format!(
                            "the microphone ({}) delivers no audio; check that the sound server runs (`wpctl status`)",
                            mic.device()
                        )));
                    }
                    self.push(&buf, events)?;
                }
                // What arrived between the last poll and the release belongs to it.
                buf.clear();
                mic.read(&mut buf)?;
                self.push(&buf, events)?;
                if mic.dropped() > 0 {
                    tracing::warn!(samples = mic.dropped(), "microphone samples dropped");
                }
            }
            Source::Samples { samples, realtime } => {
                events(ListenEvent::Opened);
                let start = Instant::now();
                for (i, block) in samples.chunks(FRAME).enumerate() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if realtime {
                        let due = start + Duration::from_secs_f64((i * FRAME) as f64 / 16_000.0);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                    self.push(block, events)?;
                }
            }
        }
        self.finish(events);
        Ok(())
    }

    fn push(
        &mut self,
        block: &[f32],
        events: &mut dyn FnMut(ListenEvent),
    ) -> Result<(), VoiceError> {
        self.samples.extend_from_slice(block);
        let sq: f32 = block.iter().map(|s| s * s).sum();
        self.level_acc.0 += sq;
        self.level_acc.1 += block.len();
        if self.level_acc.1 > 0 && self.last_level.is_none_or(|t| t.elapsed() >= LEVEL_EVERY) {
            let rms = (self.level_acc.0 / self.level_acc.1 as f32).sqrt();
            let db = 20.0 * rms.max(1e-6).log10();
            events(ListenEvent::Level(((db + 60.0) / 60.0).clamp(0.0, 1.0)));
            self.level_acc = (0.0, 0);
            self.last_level = Some(Instant::now());
        }
        let ms = |m: u32| (m as usize * SAMPLE_RATE as usize / 1000).div_ceil(FRAME);
        // Hands-free, the end of speech ends the utterance; push-to-talk, the release
        // does, and an earlier end only starts the final pass early.
        let end_ms = if self.cfg.hands_free {
            self.cfg.vad.min_silence_ms
        } else {
            self.cfg.early_end_ms
        };
        let (min_speech, min_silence) = (ms(self.cfg.vad.min_speech_ms), ms(end_ms));
        while (self.probs.len() + 1) * FRAME <= self.samples.len() {
            let at = self.probs.len() * FRAME;
            let frame = &self.samples[at..at + FRAME];
            let mut p = self.vad.frame(frame)?;
            if let Some(gate) = self.gate.as_mut() {
                let rms = (frame.iter().map(|s| s * s).sum::<f32>() / FRAME as f32).sqrt();
                if !gate.admits(rms) {
                    // The assistant's own voice: neither speech nor part of an utterance.
                    p = 0.0;
                }
            }
            self.probs.push(p);
            if p >= self.cfg.vad.threshold {
                self.speech_run += 1;
                self.silent_run = 0;
                if !self.in_speech && self.speech_run >= min_speech {
                    self.in_speech = true;
                    self.ended_at = None;
                    events(ListenEvent::SpeechStart);
                }
            } else {
                self.speech_run = 0;
                self.silent_run += 1;
                if self.in_speech && self.silent_run >= min_silence {
                    self.in_speech = false;
                    if let Some(speech) = self.speech() {
                        self.ended_at = Some(self.probs.len());
                        events(ListenEvent::SpeechEnd(speech));
                        if self.cfg.hands_free {
                            self.restart();
                        }
                    }
                }
            }
        }
        // Hands-free between utterances: keep only the last second, so a day of a
        // quiet room does not pile up (whole frames, so samples and probabilities
        // stay aligned).
        if self.cfg.hands_free && !self.in_speech && self.probs.len() > IDLE_KEEP_FRAMES * 2 {
            let drop = self.probs.len() - IDLE_KEEP_FRAMES;
            self.probs.drain(..drop);
            self.samples.drain(..drop * FRAME);
            self.last_partial = self.last_partial.saturating_sub(drop * FRAME);
            self.ended_at = None;
        }
        let every = self.cfg.partial_every_ms as usize * SAMPLE_RATE as usize / 1000;
        // No new partial in a pause: the speech may be over, and whisper should be
        // free for the final pass when the release comes.
        if self.in_speech
            && self.silent_run < PAUSE_FRAMES
            && every > 0
            && self.samples.len() - self.last_partial >= every
        {
            self.last_partial = self.samples.len();
            if let Some(speech) = self.speech() {
                events(ListenEvent::Partial(speech));
            }
        }
        Ok(())
    }

    /// Keeps listening for the next utterance (hands-free), with a little of the
    /// silence so the next one's padding has audio to take.
    fn restart(&mut self) {
        self.samples.clear();
        self.probs.clear();
        self.last_partial = 0;
        self.ended_at = None;
        self.speech_run = 0;
        self.silent_run = 0;
    }

    fn finish(&mut self, events: &mut dyn FnMut(ListenEvent)) {
        let unchanged = self.ended_at.is_some_and(|at| {
            !self.in_speech && self.probs[at..].iter().all(|&p| p < self.cfg.vad.threshold)
        });
        events(ListenEvent::Ended {
            speech: self.speech(),
            seconds: self.samples.len() as f32 / SAMPLE_RATE as f32,
            unchanged,
        });
    }

    /// The speech of the utterance so far: first speech stretch to last, padded, with
    /// lead silence; `None` when VAD found none.
    fn speech(&self) -> Option<Vec<f32>> {
        speech_of(&self.samples, &self.probs, &self.cfg.vad)
    }
}

/// The speech in `samples` (16 kHz) given per-frame VAD probabilities: from the start
/// of the first speech stretch to the end of the last, padded, after a little silence
/// (whisper often mishears a first word that starts right at the edge of its input).
/// `None` when there is no speech.
pub fn speech_of(samples: &[f32], probs: &[f32], cfg: &VadConfig) -> Option<Vec<f32>> {
    let found = segments(probs, samples.len(), cfg);
    let (first, last) = (found.first()?, found.last()?);
    let lead = LEAD_SILENCE.saturating_sub(first.start);
    let mut speech = vec![0.0f32; lead];
    speech.extend_from_slice(&samples[first.start..last.end.min(samples.len())]);
    Some(speech)
}
