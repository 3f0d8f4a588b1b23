//! Speaking a reply sentence by sentence, interruptibly.
//!
//! A [`Speaker`] owns a thread with the Piper voice and the output. Sentences queue
//! up as the model writes them; each is synthesized as soon as the previous one is,
//! so sentence 2 is synthesized while sentence 1 plays. [`Speaker::stop`] (barge-in)
//! bumps a generation counter: the source feeding the device checks it on every
//! sample, so the device gets no further sample from the next callback on, and queued
//! or half-synthesized sentences of the old generation are dropped.

use std::num::NonZero;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{Speech, Tts, VoiceError};

/// Frames per device buffer asked for (about 10 ms at 48 kHz).
const DEVICE_BUFFER_FRAMES: u32 = 512;

/// Where speech goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// The default output device (PipeWire or ALSA through cpal).
    Device,
    /// Nowhere but the sample counters (and a recording, if asked).
    Discard,
    /// The device, or nowhere when there is none (a server, CI): see
    /// [`Speaker::no_sound`].
    DeviceOrDiscard,
}

/// What the speaker reports, from its own thread.
#[derive(Debug, Clone, PartialEq)]
pub enum SpeakerEvent {
    /// The first sentence of an utterance was handed to the output; `synth_ms` is how
    /// long it took to synthesize.
    Started {
        /// The utterance.
        utterance: u64,
        /// Synthesis time of the first sentence.
        synth_ms: u64,
    },
    /// Everything queued has been played (or dropped by a stop): the first `said`
    /// sentences given to [`Speaker::say`] are done with.
    Idle {
        /// Sentences received so far.
        said: u64,
    },
    /// A sentence could not be spoken.
    Failed(String),
}

/// Counters shared with the audio thread.
#[derive(Debug, Default)]
pub struct SpeakerStats {
    /// Samples handed to the output since the speaker started.
    pub played: AtomicU64,
    /// Samples synthesized since the speaker started.
    pub synthesized: AtomicU64,
    /// Generation: bumped by every stop.
    generation: AtomicU64,
    /// Microseconds from the last stop until the output got its last sample.
    pub last_stop_us: AtomicU64,
    /// How loud the output has been lately, for telling its echo from a person.
    pub echo: Arc<crate::echo::EchoReference>,
    stop_at: std::sync::Mutex<Option<Instant>>,
}

enum Command {
    Say {
        utterance: u64,
        text: String,
        generation: u64,
    },
    Record(PathBuf),
    StopRecording,
    Exit,
}

/// Handle to the speaker thread.
#[derive(Debug)]
pub struct Speaker {
    tx: mpsc::SyncSender<Command>,
    stats: Arc<SpeakerStats>,
    thread: Option<std::thread::JoinHandle<()>>,
    no_sound: Option<String>,
}

impl Speaker {
    /// Why there is no sound ([`Output::DeviceOrDiscard`] found no device).
    pub fn no_sound(&self) -> Option<&str> {
        self.no_sound.as_deref()
    }

    /// Starts the speaker thread with a loaded voice; `events` is called on that
    /// thread. Fails when the output device cannot be opened.
    pub fn start(
        tts: Tts,
        output: Output,
        mut events: impl FnMut(SpeakerEvent) + Send + 'static,
    ) -> Result<Self, VoiceError> {
        let (tx, rx) = mpsc::sync_channel::<Command>(64);
        let stats = Arc::new(SpeakerStats::default());
        let (ready_tx, ready_rx) = mpsc::channel::<Result<Option<String>, VoiceError>>();
        let st = stats.clone();
        let thread = std::thread::Builder::new()
            .name("aios-speaker".into())
            .spawn(move || {
                let out = match Out::open(&output) {
                    Ok(o) => {
                        let _ = ready_tx.send(Ok(None));
                        o
                    }
                    Err(e) if output == Output::DeviceOrDiscard => {
                        let _ = ready_tx.send(Ok(Some(e.to_string())));
                        Out::Discard
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                run(tts, out, &output, rx, st, &mut events);
            })
            .map_err(|e| VoiceError::Runtime(format!("cannot start the speaker thread: {e}")))?;
        let no_sound = ready_rx
            .recv()
            .map_err(|_| VoiceError::Runtime("the speaker thread died at start".into()))??;
        Ok(Self {
            tx,
            stats,
            thread: Some(thread),
            no_sound,
        })
    }

    /// Queues `text` (a sentence) as part of `utterance`. Never blocks the caller for
    /// long: the queue holds 64 sentences.
    pub fn say(&self, utterance: u64, text: impl Into<String>) {
        let _ = self.tx.send(Command::Say {
            utterance,
            text: text.into(),
            generation: self.stats.generation.load(Ordering::SeqCst),
        });
    }

    /// Barge-in: stops the sound at once and drops everything queued; sentences queued
    /// before this call are never spoken.
    pub fn stop(&self) {
        *self.stats.stop_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        self.stats.generation.fetch_add(1, Ordering::SeqCst);
        self.stats.echo.cut();
    }

    /// Also writes what is played from now on to a WAV file (`aios listen --out`),
    /// until [`Speaker::stop_recording`]. The file is (re)written each time the
    /// speaker goes idle, before it reports `Idle`, so it holds everything said so
    /// far when the caller hears of it.
    pub fn record_to(&self, path: PathBuf) {
        let _ = self.tx.send(Command::Record(path));
    }

    /// Ends the recording [`Speaker::record_to`] started.
    pub fn stop_recording(&self) {
        let _ = self.tx.send(Command::StopRecording);
    }

    /// The shared counters.
    pub fn stats(&self) -> &Arc<SpeakerStats> {
        &self.stats
    }
}

impl Drop for Speaker {
    fn drop(&mut self) {
        self.stop();
        let _ = self.tx.send(Command::Exit);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The output end, living on the speaker thread (cpal streams are not `Send`).
enum Out {
    Device {
        _sink: OutputDevice,
        player: rodio::Player,
    },
    Discard,
    /// The device, closed while nothing has played for [`IDLE_CLOSE`]; opened again
    /// for the next sentence.
    Closed,
}

/// How long the output device stays open after the last sentence. An open output
/// stream through PipeWire's ALSA plugin keeps cpal's thread polling even while it
/// only plays silence (measured: a whole core with a 512-frame buffer, README), so
/// it is closed between replies; opening it again costs a few ms.
const IDLE_CLOSE: Duration = Duration::from_secs(2);

/// The default output device, open, as the speaker holds it between sentences.
pub struct OutputDevice(rodio::MixerDeviceSink);

impl OutputDevice {
    /// Where sources are added to be played.
    pub fn mixer(&self) -> &rodio::mixer::Mixer {
        self.0.mixer()
    }
}

impl std::fmt::Debug for OutputDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputDevice").finish_non_exhaustive()
    }
}

/// Opens the default output the way the speaker does (also for `voice_bench`).
pub fn open_output() -> Result<OutputDevice, VoiceError> {
    // A short device buffer is what makes a stop quick: the output pulls samples one
    // buffer at a time (measured: README, barge-in).
    let host = crate::host::host();
    let small = cpal::traits::HostTrait::default_output_device(&host)
        .ok_or(rodio::DeviceSinkError::NoDevice)
        .and_then(rodio::DeviceSinkBuilder::from_device)
        .and_then(|b| {
            b.with_buffer_size(cpal::BufferSize::Fixed(DEVICE_BUFFER_FRAMES))
                .open_stream()
        });
    tracing::debug!(host = host.id().name(), ok = small.is_ok(), "speaker open");
    let mut sink = small
        .or_else(|_| rodio::DeviceSinkBuilder::open_default_sink())
        .map_err(|e| {
            VoiceError::Device(format!(
                "no audio output device: {e}; write a file with --out instead"
            ))
        })?;
    sink.log_on_drop(false);
    Ok(OutputDevice(sink))
}

impl Out {
    fn open(output: &Output) -> Result<Self, VoiceError> {
        match output {
            Output::Discard => Ok(Out::Discard),
            Output::Device | Output::DeviceOrDiscard => {
                let sink = open_output()?;
                let player = rodio::Player::connect_new(sink.mixer());
                Ok(Out::Device {
                    _sink: sink,
                    player,
                })
            }
        }
    }

    fn busy(&self) -> bool {
        match self {
            Out::Device { player, .. } => !player.empty(),
            Out::Discard | Out::Closed => false,
        }
    }
}

fn run(
    mut tts: Tts,
    mut out: Out,
    output: &Output,
    rx: mpsc::Receiver<Command>,
    stats: Arc<SpeakerStats>,
    events: &mut dyn FnMut(SpeakerEvent),
) {
    let mut started: Option<u64> = None;
    let mut active = false;
    let mut recording: Option<(PathBuf, Vec<f32>, u32)> = None;
    let mut said = 0u64;
    loop {
        // Polling (for the output to drain) only while something plays; otherwise
        // the thread sleeps until it is told something.
        let cmd = if active {
            match rx.recv_timeout(Duration::from_millis(10)) {
                Ok(c) => Some(c),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        } else if matches!(out, Out::Device { .. }) {
            match rx.recv_timeout(IDLE_CLOSE) {
                Ok(c) => Some(c),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    out = Out::Closed;
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        } else {
            match rx.recv() {
                Ok(c) => Some(c),
                Err(_) => return,
            }
        };
        match &cmd {
            Some(Command::Exit) => return,
            Some(Command::Record(p)) => recording = Some((p.clone(), Vec::new(), 0)),
            Some(Command::StopRecording) => recording = None,
            Some(Command::Say {
                utterance,
                text,
                generation,
            }) => {
                let (utterance, generation) = (*utterance, *generation);
                said += 1;
                active = true;
                // Queued before a stop: part of the reply that was cut off.
                if stats.generation.load(Ordering::SeqCst) != generation {
                    continue;
                }
                if matches!(out, Out::Closed) {
                    match Out::open(output) {
                        Ok(o) => out = o,
                        // Gone since the start (unplugged, the sound server
                        // stopped): said and counted, not heard; tried again next
                        // time.
                        Err(e) => events(SpeakerEvent::Failed(e.to_string())),
                    }
                }
                let speech = match tts.synthesize(text) {
                    // A reply starts with its first sound, not with the voice's
                    // lead-in of silence.
                    Ok(s) if started != Some(utterance) => s.without_lead_in(),
                    Ok(s) => s,
                    Err(e) => {
                        events(SpeakerEvent::Failed(e.to_string()));
                        continue;
                    }
                };
                // A stop during synthesis: this sentence belongs to the old reply.
                if stats.generation.load(Ordering::SeqCst) != generation {
                    continue;
                }
                stats
                    .synthesized
                    .fetch_add(speech.samples.len() as u64, Ordering::Relaxed);
                if let Some((_, buf, rate)) = recording.as_mut() {
                    buf.extend_from_slice(&speech.samples);
                    *rate = speech.sample_rate;
                }
                active = true;
                play(&out, speech.clone(), generation, &stats);
                if started != Some(utterance) {
                    started = Some(utterance);
                    events(SpeakerEvent::Started {
                        utterance,
                        synth_ms: speech.elapsed_ms,
                    });
                }
            }
            None => {}
        }
        // Idle only after a receive timed out: nothing is waiting to be said.
        if active && cmd.is_none() && !out.busy() {
            active = false;
            if let Some((path, samples, rate)) = recording.as_ref() {
                let speech = Speech {
                    samples: samples.clone(),
                    sample_rate: (*rate).max(1),
                    elapsed_ms: 0,
                };
                if let Err(e) = crate::tts::write_wav(path, &speech) {
                    events(SpeakerEvent::Failed(e.to_string()));
                }
            }
            events(SpeakerEvent::Idle { said });
        }
    }
}

fn play(out: &Out, speech: Speech, generation: u64, stats: &Arc<SpeakerStats>) {
    match out {
        Out::Discard | Out::Closed => {
            stats
                .played
                .fetch_add(speech.samples.len() as u64, Ordering::Relaxed);
        }
        Out::Device { player, .. } => {
            let Some(rate) = NonZero::new(speech.sample_rate) else {
                return;
            };
            player.append(Counted {
                samples: speech.samples.into_iter(),
                rate,
                level: (0.0, 0),
                generation,
                stats: stats.clone(),
                done: false,
            });
        }
    }
}

/// A sentence's samples, counted as the device takes them, ending the moment the
/// speaker's generation moves on.
struct Counted {
    samples: std::vec::IntoIter<f32>,
    rate: NonZero<u32>,
    /// Sum of squares and count of the samples since the last echo report.
    level: (f32, u32),
    generation: u64,
    stats: Arc<SpeakerStats>,
    done: bool,
}

impl Iterator for Counted {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        if self.done {
            return None;
        }
        if self.stats.generation.load(Ordering::Relaxed) != self.generation {
            self.done = true;
            // Runs on the audio thread, once per stop: the lock is uncontended.
            if let Ok(at) = self.stats.stop_at.try_lock()
                && let Some(at) = *at
            {
                self.stats
                    .last_stop_us
                    .store(at.elapsed().as_micros() as u64, Ordering::Relaxed);
            }
            return None;
        }
        let s = self.samples.next();
        if let Some(v) = s {
            self.stats.played.fetch_add(1, Ordering::Relaxed);
            self.level.0 += v * v;
            self.level.1 += 1;
            // Every 10 ms of output.
            if self.level.1 >= self.rate.get() / 100 {
                self.stats
                    .echo
                    .played((self.level.0 / self.level.1 as f32).sqrt());
                self.level = (0.0, 0);
            }
        }
        s
    }
}

impl rodio::Source for Counted {
    fn current_span_len(&self) -> Option<usize> {
        if self.done { Some(0) } else { None }
    }

    fn channels(&self) -> rodio::ChannelCount {
        NonZero::<u16>::MIN
    }

    fn sample_rate(&self) -> rodio::SampleRate {
        self.rate
    }

    fn total_duration(&self) -> Option<Duration> {
        None
    }
}
