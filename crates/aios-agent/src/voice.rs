//! The voice service: push-to-talk (or hands-free) listening, partial and final
//! transcripts, spoken turns, and the spoken reply with barge-in.
//!
//! One task owns the voice state and talks to three threads through one unbounded
//! channel: the listener (microphone or WAV samples, VAD, level), whisper jobs on the
//! blocking pool (one at a time: two cores), and the speaker (Piper and the output).
//! Whisper, Silero and Piper are loaded once, when the agent starts.
//!
//! Latency choices (measured, see the README): a partial transcript runs on the
//! utterance so far every 500 ms of speech, never two at once (the newest snapshot
//! waits, older ones are dropped); when VAD hears the end of speech before the
//! release, the final pass starts right then and its result is used at the release if
//! no speech came after; the reply's first sentence is synthesized while the model
//! writes the second.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use aios_common::config::VoiceSection;
use aios_common::ipc::server::{ClientGone, ClientHandle};
use aios_common::ipc::{
    ChatRequest, ErrorCode, ErrorReply, InputLevelEvent, IpcMessage, ListenReply, ListenRequest,
    TranscriptEvent, TranscriptKind, VoiceState, VoiceStateEvent, VoiceTimings,
};
use aios_voice::spoken::SpokenReply;
use aios_voice::{
    ListenConfig, ListenEvent, Listener, Output, Source, Speaker, SpeakerEvent, Stt, SttConfig,
    Transcript, Tts, Vad, VadConfig,
};
use tokio::sync::mpsc;
use tracing::{info, warn};
use uuid::Uuid;

use crate::state::AgentState;
use crate::turn::{self, TurnSink};

/// Why push-to-talk and mode switches wait while `aios listen` runs.
const LISTEN_BUSY: &str = "an `aios listen` request is being heard; try again when it is done";

/// Handle the router uses; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct VoiceHandle {
    tx: mpsc::UnboundedSender<Cmd>,
}

impl VoiceHandle {
    pub(crate) fn ptt(&self, start: bool, request_id: Uuid, client: &ClientHandle) {
        let _ = self.tx.send(Cmd::Ptt {
            start,
            request_id,
            client: client.clone(),
        });
    }

    pub(crate) fn mode(&self, hands_free: bool, request_id: Uuid, client: &ClientHandle) {
        let _ = self.tx.send(Cmd::Mode {
            hands_free,
            request_id,
            client: client.clone(),
        });
    }

    pub(crate) fn listen(&self, req: ListenRequest, client: &ClientHandle) {
        let _ = self.tx.send(Cmd::Listen {
            req,
            client: client.clone(),
        });
    }
}

enum Cmd {
    Loaded(Result<Models, String>),
    /// A finished listener's VAD model, for the next one.
    VadBack(Vad),
    Ptt {
        start: bool,
        request_id: Uuid,
        client: ClientHandle,
    },
    Mode {
        hands_free: bool,
        request_id: Uuid,
        client: ClientHandle,
    },
    Listen {
        req: ListenRequest,
        client: ClientHandle,
    },
    WavRead {
        req: ListenRequest,
        samples: Result<Vec<f32>, String>,
    },
    Heard {
        session: u64,
        event: ListenEvent,
    },
    Recognized {
        session: u64,
        job: Job,
        result: Result<Transcript, aios_voice::VoiceError>,
    },
    Said(SpeakerEvent),
    Text {
        utterance: u64,
        text: String,
    },
    ToolsUsed {
        utterance: u64,
    },
    TurnDone {
        utterance: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Job {
    Partial,
    /// Started at VAD end of speech, before the release.
    Early,
    Final,
}

struct Models {
    stt: Arc<Stt>,
    /// For partial transcripts (the same model when none is configured).
    partial: Arc<Stt>,
    /// Asked when `stt` is unsure of a final transcript (often `partial` itself).
    second: Option<Arc<Stt>>,
    vad: Option<Vad>,
    speaker: Speaker,
}

/// Where a finished utterance's reply is reported (`aios listen`).
struct ListenTarget {
    client: ClientHandle,
    request_id: Uuid,
    transcript: String,
    reply: String,
    timings: VoiceTimings,
    /// When a file started being fed faster than real time.
    fed: Option<Instant>,
}

struct Service {
    state: Arc<AgentState>,
    cfg: VoiceSection,
    tx: mpsc::UnboundedSender<Cmd>,
    models: Result<Models, String>,
    /// Requests that can wait for the models (a file to hear, a mode switch), kept
    /// while they load (about 2 s after the agent starts); `None` once loaded.
    until_loaded: Option<Vec<Cmd>>,
    hands_free: bool,
    voice: VoiceState,
    listener: Option<Listener>,
    /// Who started the current listener (push-to-talk, voice mode), for its errors.
    asker: Option<(ClientHandle, Uuid)>,
    /// Bumped for every listener, so late events of an old one are ignored.
    session: u64,
    /// The running whisper job and its cancel flag.
    running: Option<(Job, Arc<std::sync::atomic::AtomicBool>)>,
    next_partial: Option<Vec<f32>>,
    /// Utterances waiting for their final pass (whisper was busy), oldest first:
    /// hands-free, a second one can end while the first is transcribed.
    final_waiting: VecDeque<Vec<f32>>,
    /// Speech waiting for the early final pass.
    early_waiting: Option<Vec<f32>>,
    /// The early pass: running (`Some(None)`) or done (`Some(Some(text))`).
    early: Option<Option<String>>,
    /// The release came and the early pass is to be used when it finishes.
    use_early: bool,
    ended_at: Option<Instant>,
    /// The spoken reply being produced (utterance number, filter).
    utterance: u64,
    reply: Option<SpokenReply>,
    turn_running: bool,
    /// Sentences given to the speaker, and whether some are not played yet.
    queued: u64,
    speaking: bool,
    target: Option<ListenTarget>,
    final_at: Option<Instant>,
}

/// Starts the voice service when `[voice] enabled`; loads the models in the
/// background.
pub(crate) fn start(state: &Arc<AgentState>) -> Option<VoiceHandle> {
    let cfg = state.config().voice.clone();
    if !cfg.enabled {
        return None;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let loader = tx.clone();
    let load_cfg = cfg.clone();
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let events = loader.clone();
        let models = load(&load_cfg, move |e| {
            let _ = events.send(Cmd::Said(e));
        });
        if models.is_ok() {
            info!(
                ms = started.elapsed().as_millis() as u64,
                "voice models loaded"
            );
        }
        let _ = loader.send(Cmd::Loaded(models));
    });
    let service = Service {
        state: state.clone(),
        hands_free: cfg.hands_free,
        cfg,
        tx: tx.clone(),
        models: Err("the voice models are still loading; try again in a moment".into()),
        until_loaded: Some(Vec::new()),
        voice: VoiceState::Idle,
        listener: None,
        asker: None,
        session: 0,
        running: None,
        next_partial: None,
        final_waiting: VecDeque::new(),
        early_waiting: None,
        early: None,
        use_early: false,
        ended_at: None,
        utterance: 0,
        reply: None,
        turn_running: false,
        queued: 0,
        speaking: false,
        target: None,
        final_at: None,
    };
    tokio::spawn(service.run(rx));
    Some(VoiceHandle { tx })
}

fn load(
    cfg: &VoiceSection,
    events: impl FnMut(SpeakerEvent) + Send + 'static,
) -> Result<Models, String> {
    let find = |name: &str| aios_voice::find_model(name).map_err(|e| e.to_string());
    let stt_cfg = SttConfig::from_voice(cfg);
    // Partial passes run on one thread and second opinions on every core whatever
    // the configuration says, so one small model serves both when they are the same.
    let load = |name: &str, c: SttConfig| -> Result<Arc<Stt>, String> {
        Ok(Arc::new(
            Stt::load(&find(name)?, c).map_err(|e| e.to_string())?,
        ))
    };
    let stt = load(&cfg.stt_model, stt_cfg.clone())?;
    let partial = if cfg.partial_model.is_empty() || cfg.partial_model == cfg.stt_model {
        stt.clone()
    } else {
        load(&cfg.partial_model, stt_cfg.clone().small())?
    };
    let second = if cfg.second_opinion_model.is_empty() || cfg.second_opinion_model == cfg.stt_model
    {
        None
    } else if cfg.second_opinion_model == cfg.partial_model {
        Some(partial.clone())
    } else {
        Some(load(&cfg.second_opinion_model, stt_cfg.small())?)
    };
    let vad = Vad::load(&find(&cfg.vad_model)?).map_err(|e| e.to_string())?;
    let tts = Tts::load(&find(&cfg.tts_voice)?).map_err(|e| e.to_string())?;
    // With no sound output (a server, CI) replies are still synthesized, for
    // `aios listen --out`.
    let speaker =
        Speaker::start(tts, Output::DeviceOrDiscard, events).map_err(|e| e.to_string())?;
    if let Some(why) = speaker.no_sound() {
        warn!("{why}; spoken replies are not played");
    }
    Ok(Models {
        stt,
        partial,
        second,
        vad: Some(vad),
        speaker,
    })
}

impl Service {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Cmd>) {
        while let Some(cmd) = rx.recv().await {
            self.handle(cmd);
        }
    }

    fn handle(&mut self, cmd: Cmd) {
        if let Some(waiting) = self.until_loaded.as_mut()
            && matches!(cmd, Cmd::Listen { .. } | Cmd::Mode { .. })
        {
            // A press cannot wait (the person is talking now: it is refused below
            // and says so); these can.
            info!("a voice request waits for the models to load");
            waiting.push(cmd);
            return;
        }
        match cmd {
            Cmd::Loaded(m) => {
                if let Err(e) = &m {
                    warn!("voice is unavailable: {e}");
                }
                self.models = m;
                if self.hands_free && self.models.is_ok() {
                    self.listen(Source::Microphone, None);
                }
                for cmd in self.until_loaded.take().unwrap_or_default() {
                    self.handle(cmd);
                }
            }
            Cmd::VadBack(v) => {
                if let Some(m) = self.models() {
                    m.vad.get_or_insert(v);
                }
            }
            Cmd::Ptt {
                start,
                request_id,
                client,
            } => {
                tracing::debug!(start, "push-to-talk");
                if let Err(e) = &self.models {
                    refuse(&client, request_id, e.clone());
                } else if self.target.is_some() {
                    refuse(&client, request_id, LISTEN_BUSY.into());
                } else if start && self.voice == VoiceState::Transcribing {
                    // The last utterance is being turned into text (a few hundred ms);
                    // a new listener now would drop it.
                    self.tell(&client);
                } else if start {
                    self.barge_in();
                    if self.listener.is_none() {
                        self.listen(Source::Microphone, Some((&client, request_id)));
                    } else {
                        self.tell(&client);
                    }
                } else if let Some(l) = &self.listener
                    && !self.hands_free
                {
                    l.stop();
                    self.set(VoiceState::Transcribing);
                } else {
                    // A release with nothing to end: say where things stand.
                    self.tell(&client);
                }
            }
            Cmd::Mode {
                hands_free,
                request_id,
                client,
            } => {
                if let Err(e) = &self.models {
                    return refuse(&client, request_id, e.clone());
                }
                if self.target.is_some() {
                    return refuse(&client, request_id, LISTEN_BUSY.into());
                }
                self.hands_free = hands_free;
                if let Some(l) = self.listener.take() {
                    l.stop();
                    self.session += 1;
                }
                if hands_free {
                    self.listen(Source::Microphone, Some((&client, request_id)));
                } else {
                    self.set(VoiceState::Idle);
                }
                // The asker learns the mode even when the state did not change.
                self.tell(&client);
            }
            Cmd::Listen { req, client } => self.listen_file(req, &client),
            Cmd::WavRead { req, samples } => self.wav_read(req, samples),
            Cmd::Heard { session, event } if session == self.session => self.heard(event),
            Cmd::Heard { .. } => {}
            Cmd::Recognized {
                session,
                job,
                result,
            } => {
                self.running = None;
                if session == self.session {
                    self.recognized(job, result);
                }
                self.next_job();
            }
            Cmd::Said(e) => self.said(e),
            Cmd::Text { utterance, text } if utterance == self.utterance => {
                if let Some(r) = self.reply.as_mut() {
                    let pieces = r.push(&text);
                    self.say(pieces);
                }
                if let Some(t) = self.target.as_mut() {
                    if t.reply.is_empty() && !text.is_empty() {
                        t.timings.first_text_ms = ms_since(self.final_at);
                    }
                    t.reply.push_str(&text);
                }
            }
            Cmd::ToolsUsed { utterance } if utterance == self.utterance => {
                if let Some(r) = self.reply.as_mut() {
                    r.tools_used();
                }
            }
            Cmd::TurnDone { utterance } if utterance == self.utterance => {
                self.turn_running = false;
                if let Some(t) = self.target.as_mut() {
                    t.timings.turn_ms = ms_since(self.final_at);
                }
                if let Some(mut r) = self.reply.take() {
                    let pieces = r.finish();
                    self.say(pieces);
                    self.reply = Some(r);
                }
                self.maybe_done();
            }
            Cmd::Text { .. } | Cmd::ToolsUsed { .. } | Cmd::TurnDone { .. } => {}
        }
    }

    fn models(&mut self) -> Option<&mut Models> {
        self.models.as_mut().ok()
    }

    /// Pressing push-to-talk (or speaking, hands-free) while the agent talks stops the
    /// speech at once and drops the rest of that spoken reply; the turn itself goes
    /// on and its text still reaches the chat.
    fn barge_in(&mut self) {
        if self.speaking || self.reply.is_some() {
            if let Some(m) = self.models() {
                m.speaker.stop();
            }
            info!("barge-in: spoken reply stopped");
            self.utterance += 1;
            self.reply = None;
            self.speaking = false;
            self.turn_running = false;
            if let Some(t) = self.target.take() {
                self.reply_listen(t, "");
            }
        }
    }

    fn listen(&mut self, source: Source, asker: Option<(&ClientHandle, Uuid)>) {
        let Ok(models) = self.models.as_mut() else {
            return;
        };
        let vad = match models.vad.take() {
            Some(v) => v,
            // The previous listener still holds its copy: load another (~10 ms).
            None => match aios_voice::find_model(&self.cfg.vad_model).and_then(|p| Vad::load(&p)) {
                Ok(v) => v,
                Err(e) => {
                    if let Some((c, id)) = asker {
                        refuse(c, id, e.to_string());
                    }
                    return;
                }
            },
        };
        self.session += 1;
        let session = self.session;
        let tx = self.tx.clone();
        let hands_free = self.hands_free && matches!(source, Source::Microphone);
        // Hands-free, the microphone may hear the replies (push-to-talk stops them
        // at the press).
        let echo = hands_free
            .then(|| self.models().map(|m| m.speaker.stats().echo.clone()))
            .flatten();
        let cfg = ListenConfig {
            vad: VadConfig {
                min_silence_ms: self.cfg.min_silence_ms,
                padding_ms: self.cfg.speech_padding_ms,
                ..VadConfig::default()
            },
            // A file fed faster than real time has nobody watching partials.
            partial_every_ms: match &source {
                Source::Samples {
                    realtime: false, ..
                } => 0,
                _ => self.cfg.partial_interval_ms,
            },
            hands_free,
            early_end_ms: self.cfg.early_final_ms,
            echo,
        };
        self.next_partial = None;
        self.final_waiting.clear();
        self.early_waiting = None;
        self.early = None;
        self.use_early = false;
        match Listener::start(source, vad, cfg, move |event| {
            let _ = tx.send(Cmd::Heard { session, event });
        }) {
            Ok((l, vad_back)) => {
                self.listener = Some(l);
                self.asker = asker.map(|(c, id)| (c.clone(), id));
                // The model comes back when the listener thread ends.
                let tx = self.tx.clone();
                std::thread::spawn(move || {
                    if let Some(v) = vad_back.take() {
                        let _ = tx.send(Cmd::VadBack(v));
                    }
                });
                self.set(if self.hands_free {
                    VoiceState::Idle
                } else {
                    VoiceState::Listening
                });
            }
            Err(e) => {
                if let Some((c, id)) = asker {
                    refuse(c, id, e.to_string());
                }
            }
        }
    }

    fn listen_file(&mut self, req: ListenRequest, client: &ClientHandle) {
        if let Err(e) = &self.models {
            return refuse(client, req.request_id, e.clone());
        }
        if self.hands_free {
            return refuse(
                client,
                req.request_id,
                "hands-free listening is on; switch to push-to-talk (`aios voice-mode push-to-talk`) to use aios listen".into(),
            );
        }
        // Idle means no utterance is being heard, transcribed, answered or spoken.
        if self.listener.is_some() || self.target.is_some() || self.voice != VoiceState::Idle {
            return refuse(
                client,
                req.request_id,
                "voice is busy with another utterance; try again when it is done".into(),
            );
        }
        // Reading and resampling a file is blocking work: off the runtime.
        self.target = Some(ListenTarget {
            client: client.clone(),
            request_id: req.request_id,
            transcript: String::new(),
            reply: String::new(),
            timings: VoiceTimings::default(),
            fed: None,
        });
        let tx = self.tx.clone();
        tokio::task::spawn_blocking(move || {
            let samples = aios_voice::audio::read_wav_16k(std::path::Path::new(&req.wav))
                .map_err(|e| e.to_string());
            let _ = tx.send(Cmd::WavRead { req, samples });
        });
    }

    fn wav_read(&mut self, req: ListenRequest, samples: Result<Vec<f32>, String>) {
        let samples = match samples {
            Ok(s) => s,
            Err(e) => {
                if let Some(t) = self.target.take() {
                    refuse(&t.client, req.request_id, e);
                }
                return;
            }
        };
        let Some(client) = self.target.as_ref().map(|t| t.client.clone()) else {
            return;
        };
        if let (Some(out), Some(m)) = (&req.out, self.models()) {
            m.speaker.record_to(out.into());
        }
        let started = Instant::now();
        if let Some(t) = self.target.as_mut() {
            t.timings.audio_s = samples.len() as f32 / aios_voice::SAMPLE_RATE as f32;
            // VAD time is only meaningful for a file fed as fast as it goes.
            t.fed = (!req.realtime).then_some(started);
        }
        self.listen(
            Source::Samples {
                samples: Arc::new(samples),
                realtime: req.realtime,
            },
            Some((&client, req.request_id)),
        );
        if self.listener.is_none() {
            // listen() refused it already.
            self.target = None;
            if let Some(m) = self.models() {
                m.speaker.stop_recording();
            }
        }
    }

    fn heard(&mut self, event: ListenEvent) {
        match event {
            ListenEvent::Opened => {}
            ListenEvent::Level(level) => {
                self.broadcast(IpcMessage::InputLevel(InputLevelEvent { level }))
            }
            ListenEvent::SpeechStart => {
                if self.hands_free {
                    self.barge_in();
                    self.set(VoiceState::Listening);
                } else {
                    // Speech again after a pause: the early final pass is stale.
                    self.cancel(&[Job::Early]);
                    self.early = None;
                    self.early_waiting = None;
                }
            }
            ListenEvent::Partial(speech) => {
                self.next_partial = Some(speech);
                self.next_job();
            }
            ListenEvent::SpeechEnd(speech) => {
                if self.hands_free && self.target.is_none() {
                    // Hands-free: the end of speech is the end of the utterance.
                    self.ended_at = Some(Instant::now());
                    self.set(VoiceState::Transcribing);
                    self.final_waiting.push_back(speech);
                    self.next_partial = None;
                    self.next_job();
                } else {
                    // The final pass, early: it beats any partial to whisper.
                    self.cancel(&[Job::Partial]);
                    self.next_partial = None;
                    self.early = Some(None);
                    self.early_waiting = Some(speech);
                    self.next_job();
                }
            }
            ListenEvent::Ended {
                speech,
                seconds,
                unchanged,
            } => {
                tracing::debug!(seconds, unchanged, running = ?self.running.as_ref().map(|r| r.0), early = ?self.early, "listening ended");
                self.listener = None;
                self.ended_at = Some(Instant::now());
                if let Some(t) = self.target.as_mut() {
                    t.timings.vad_ms = ms_since(t.fed);
                    t.timings.audio_s = seconds;
                }
                self.next_partial = None;
                match speech {
                    None => self.final_text(String::new()),
                    Some(_) if unchanged && matches!(self.early, Some(Some(_))) => {
                        let text = self.early.take().flatten();
                        self.final_text(text.unwrap_or_default());
                    }
                    Some(_) if unchanged && matches!(self.early, Some(None)) => {
                        self.use_early = true;
                    }
                    Some(s) => {
                        self.cancel(&[Job::Partial, Job::Early]);
                        self.early = None;
                        self.final_waiting.push_back(s);
                        self.next_job();
                    }
                }
                if !self.hands_free && self.voice == VoiceState::Listening {
                    self.set(VoiceState::Transcribing);
                }
            }
            ListenEvent::Failed(e) => {
                warn!("listening failed: {e}");
                self.listener = None;
                if let Some(t) = self.target.take() {
                    if let Some(m) = self.models() {
                        m.speaker.stop_recording();
                    }
                    refuse(&t.client, t.request_id, e.clone());
                }
                // Only the one who pressed gets the error: an error without a request
                // id would end whatever another client is waiting for.
                if let Some((client, id)) = self.asker.take() {
                    refuse(&client, id, e);
                }
                self.set(VoiceState::Idle);
            }
        }
    }

    /// Stops the running whisper job if it is of a kind in `kinds`: its result is no
    /// longer wanted and the final pass must not wait for it.
    fn cancel(&mut self, kinds: &[Job]) {
        if let Some((job, flag)) = &self.running
            && kinds.contains(job)
        {
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Starts the next whisper job if whisper is free: the final pass first, then
    /// the newest partial snapshot.
    fn next_job(&mut self) {
        if self.running.is_some() {
            return;
        }
        if let Some(s) = self.final_waiting.pop_front() {
            self.early_waiting = None;
            self.run_stt(Job::Final, s);
        } else if let Some(s) = self.early_waiting.take() {
            self.run_stt(Job::Early, s);
        } else if let Some(s) = self.next_partial.take() {
            self.run_stt(Job::Partial, s);
        }
    }

    fn run_stt(&mut self, job: Job, speech: Vec<f32>) {
        let Some(m) = self.models() else { return };
        let stt = match job {
            Job::Partial => m.partial.clone(),
            Job::Early | Job::Final => m.stt.clone(),
        };
        let second = m.second.clone();
        let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
        self.running = Some((job, cancel.clone()));
        let (tx, session) = (self.tx.clone(), self.session);
        tokio::task::spawn_blocking(move || {
            let result = match job {
                Job::Partial => stt.transcribe_partial(&speech, &cancel),
                Job::Early | Job::Final => {
                    stt.transcribe_cancellable(&speech, &cancel)
                        .and_then(|t| match &second {
                            Some(s) => s.reconsider(t, &speech, Some(&cancel)),
                            None => Ok(t),
                        })
                }
            };
            let _ = tx.send(Cmd::Recognized {
                session,
                job,
                result,
            });
        });
    }

    fn recognized(&mut self, job: Job, result: Result<Transcript, aios_voice::VoiceError>) {
        let text = match result {
            Ok(t) => {
                tracing::debug!(
                    ?job,
                    ms = t.elapsed_ms,
                    ctx = t.audio_ctx,
                    seconds = t.duration_s,
                    "whisper pass"
                );
                t.text
            }
            Err(aios_voice::VoiceError::Cancelled) => return,
            Err(e) => {
                warn!("speech recognition failed: {e}");
                if job == Job::Partial {
                    return;
                }
                String::new()
            }
        };
        match job {
            Job::Partial => {
                if self.final_waiting.is_empty() && !text.is_empty() {
                    self.hear_ahead(&text);
                    self.broadcast(IpcMessage::Transcript(TranscriptEvent {
                        kind: TranscriptKind::Partial,
                        text,
                        request_id: None,
                    }));
                }
            }
            Job::Early if self.use_early => {
                self.use_early = false;
                self.early = None;
                self.final_text(text);
            }
            Job::Early => {
                if self.early.is_some() {
                    self.hear_ahead(&text);
                    self.early = Some(Some(text));
                }
            }
            Job::Final => self.final_text(text),
        }
    }

    /// The model decodes the words heard so far while the person goes on speaking
    /// (whisper is idle between partial passes), so the final question prefills
    /// only its last words. `turn::hear_ahead` skips it while any turn runs.
    fn hear_ahead(&self, text: &str) {
        let (state, heard) = (self.state.clone(), text.to_owned());
        tokio::spawn(async move { turn::hear_ahead(&state, &heard).await });
    }

    /// The utterance is understood: announce it and start its turn.
    fn final_text(&mut self, text: String) {
        self.final_at = Some(Instant::now());
        let stt_ms = ms_since(self.ended_at);
        let text = text.trim().to_owned();
        let request_id = (!text.is_empty()).then(Uuid::new_v4);
        self.broadcast(IpcMessage::Transcript(TranscriptEvent {
            kind: TranscriptKind::Final,
            text: text.clone(),
            request_id,
        }));
        if let Some(t) = self.target.as_mut() {
            t.timings.stt_ms = stt_ms;
            t.transcript = text.clone();
        }
        let Some(request_id) = request_id else {
            if let Some(t) = self.target.take() {
                self.reply_listen(t, "");
            }
            self.set(VoiceState::Idle);
            return;
        };
        info!(%request_id, stt_ms, "spoken request");
        self.utterance += 1;
        self.reply = Some(SpokenReply::new());
        self.turn_running = true;
        self.set(VoiceState::Thinking);
        let req = ChatRequest {
            request_id,
            content: text,
            spoken: true,
        };
        let sink = VoiceSink {
            state: self.state.clone(),
            tx: self.tx.clone(),
            utterance: self.utterance,
        };
        let (state, tx, utterance) = (self.state.clone(), self.tx.clone(), self.utterance);
        tokio::spawn(async move {
            turn::run(&state, &req, &sink).await;
            let _ = tx.send(Cmd::TurnDone { utterance });
        });
    }

    fn say(&mut self, pieces: Vec<String>) {
        let utterance = self.utterance;
        let mut n = 0;
        if let Some(m) = self.models() {
            for p in pieces {
                m.speaker.say(utterance, p);
                n += 1;
            }
        }
        if n > 0 {
            self.queued += n;
            self.speaking = true;
        }
    }

    fn said(&mut self, e: SpeakerEvent) {
        match e {
            SpeakerEvent::Started { utterance, .. } if utterance == self.utterance => {
                if let Some(t) = self.target.as_mut() {
                    t.timings.first_audio_ms = ms_since(self.final_at);
                }
                self.set(VoiceState::Speaking);
            }
            SpeakerEvent::Started { .. } => {}
            // An idle report from before the latest sentences were queued is stale.
            SpeakerEvent::Idle { said } if said == self.queued => {
                self.speaking = false;
                self.maybe_done();
            }
            SpeakerEvent::Idle { .. } => {}
            SpeakerEvent::Failed(e) => warn!("speech failed: {e}"),
        }
    }

    /// The turn is over and everything said: back to idle; `aios listen` gets its
    /// reply.
    fn maybe_done(&mut self) {
        if self.turn_running || self.speaking {
            return;
        }
        let Some(reply) = self.reply.take() else {
            return;
        };
        if let Some(t) = self.target.take() {
            self.reply_listen(t, &reply.spoken());
        }
        if self.listener.is_none() || self.hands_free {
            self.set(VoiceState::Idle);
        }
    }

    fn reply_listen(&mut self, t: ListenTarget, spoken: &str) {
        if let Some(m) = self.models() {
            m.speaker.stop_recording();
        }
        let _ = t.client.send(IpcMessage::ListenReply(ListenReply {
            request_id: t.request_id,
            transcript: t.transcript,
            reply: t.reply,
            spoken: spoken.to_owned(),
            timings: t.timings,
        }));
    }

    fn set(&mut self, state: VoiceState) {
        if self.voice != state {
            self.voice = state;
            self.broadcast(IpcMessage::VoiceState(VoiceStateEvent {
                state,
                hands_free: self.hands_free,
            }));
        }
    }

    /// Sends the current state to one client.
    fn tell(&self, client: &ClientHandle) {
        let _ = client.send(IpcMessage::VoiceState(VoiceStateEvent {
            state: self.voice,
            hands_free: self.hands_free,
        }));
    }

    fn broadcast(&self, msg: IpcMessage) {
        self.state.broadcast(msg);
    }
}

fn ms_since(t: Option<Instant>) -> u64 {
    t.map_or(0, |t| t.elapsed().as_millis() as u64)
}

fn refuse(client: &ClientHandle, request_id: Uuid, message: String) {
    let _ = client.send(IpcMessage::Error(ErrorReply {
        request_id: Some(request_id),
        code: ErrorCode::Voice,
        message,
    }));
}

/// A spoken turn's events go to every client; its text also to the speaker.
struct VoiceSink {
    state: Arc<AgentState>,
    tx: mpsc::UnboundedSender<Cmd>,
    utterance: u64,
}

impl TurnSink for VoiceSink {
    fn send(&self, msg: IpcMessage) -> Result<(), ClientGone> {
        match &msg {
            IpcMessage::StreamChunk(c) => {
                let _ = self.tx.send(Cmd::Text {
                    utterance: self.utterance,
                    text: c.delta.clone(),
                });
            }
            IpcMessage::ToolResult(_) => {
                let _ = self.tx.send(Cmd::ToolsUsed {
                    utterance: self.utterance,
                });
            }
            _ => {}
        }
        self.state.broadcast(msg);
        Ok(())
    }
}
