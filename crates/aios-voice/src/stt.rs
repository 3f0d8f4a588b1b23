//! Speech to text with whisper.cpp (`whisper-rs`).
//!
//! The model loads once; each utterance gets a fresh state. Whisper's encoder
//! otherwise pads every input to 30 s: [`audio_ctx_for`] sizes its context to the
//! utterance (50 positions a second plus a margin), with a floor, because too small a
//! context makes the small models loop or drop words (see the README table).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use whisper_rs::{FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

use crate::{SAMPLE_RATE, VoiceError};

/// Encoder positions per second of audio.
const CTX_PER_SECOND: f32 = 50.0;
/// Positions added to the sized context.
const CTX_MARGIN: i32 = 64;
/// Whisper's full context (30 s).
const CTX_FULL: i32 = 1500;
/// Shorter input is padded with silence: whisper.cpp skips anything under a second.
const MIN_SECONDS: f32 = 1.2;
/// A segment whisper itself thinks is probably not speech.
const NO_SPEECH: f32 = 0.6;
/// Below this RMS level there is nothing to recognize (digital silence, a muted
/// mic); whisper is not run at all.
const SILENCE_RMS: f32 = 0.002;
/// What whisper says to silence and noise when it has to say something. One-word
/// ones are never a command on their own and are always dropped; the others only
/// when whisper also doubts there was speech.
const PHANTOM_WORDS: &[&str] = &["you", "bye", "so", "oh", "uh", "um", "hmm"];
const PHANTOMS: &[&str] = &[
    "thank you",
    "thanks for watching",
    "thank you for watching",
    "the end",
];

/// Decoder tokens allowed per second of speech (plus a base): fast speech is about
/// five tokens a second with punctuation, so only a runaway repetition hits this.
const TOKENS_PER_SECOND: f32 = 8.0;
const TOKENS_BASE: i32 = 12;

/// tiny.en loops on short clips below this encoder context (README table).
pub const SMALL_MODEL_FLOOR: u32 = 384;

/// Below this mean token log probability the main model is unsure of what it heard
/// and a second model is asked ([`Stt::reconsider`]). Measured on 160 spoken commands
/// (README): base is below it on about a quarter of the synthetic voices' clips and
/// on few natural ones; among those, half its answers were wrong.
pub const UNSURE_LOGPROB: f32 = -0.6;

/// How recognition runs.
#[derive(Debug, Clone, PartialEq)]
pub struct SttConfig {
    /// Inference threads; 0 = one per core.
    pub threads: u32,
    /// Language code (`en`), or `auto` with a multilingual model.
    pub language: String,
    /// Smallest encoder context; 0 turns sizing off (the full 30 s context).
    pub ctx_floor: u32,
    /// Text whisper reads as if it came before the speech (setting the domain, e.g.
    /// [`DOMAIN_PROMPT`]); empty for none.
    pub prompt: String,
}

/// A generic domain prompt measured on the spoken-command tests (README): 3 fewer
/// misses on the set it was chosen on, none on the held-out set, one more word wrong
/// on speech under noise; so it is not the default (`[voice] stt_prompt`).
pub const DOMAIN_PROMPT: &str = "Hey computer, please do this:";

impl SttConfig {
    /// The `[voice]` settings for `stt_model`.
    pub fn from_voice(cfg: &aios_common::config::VoiceSection) -> Self {
        Self {
            threads: cfg.threads,
            language: cfg.language.clone(),
            ctx_floor: cfg.audio_ctx_floor,
            prompt: cfg.stt_prompt.clone(),
        }
    }

    /// The same for a small model (partials, second opinion): the context floor
    /// it needs ([`SMALL_MODEL_FLOOR`]).
    pub fn small(self) -> Self {
        Self {
            ctx_floor: self.ctx_floor.max(SMALL_MODEL_FLOOR),
            ..self
        }
    }
}

impl Default for SttConfig {
    fn default() -> Self {
        Self {
            threads: 0,
            language: "en".into(),
            ctx_floor: 256,
            prompt: String::new(),
        }
    }
}

/// One recognized utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    /// The words; empty when there was no speech.
    pub text: String,
    /// Language used or detected.
    pub language: String,
    /// Seconds of audio.
    pub duration_s: f32,
    /// Highest no-speech probability over the segments.
    pub no_speech: f32,
    /// Encoder context used.
    pub audio_ctx: i32,
    /// Mean log probability of the text tokens (0 = certain); 0 without speech.
    pub avg_logprob: f32,
    /// The text is a second model's, which was surer ([`Stt::reconsider`]).
    pub second_opinion: bool,
    /// Wall time of recognition.
    pub elapsed_ms: u64,
}

impl Transcript {
    /// The result for audio without speech: whisper never ran.
    pub fn no_speech(language: &str, duration_s: f32, elapsed_ms: u64) -> Self {
        Self {
            text: String::new(),
            language: language.to_owned(),
            duration_s,
            no_speech: 1.0,
            audio_ctx: 0,
            avg_logprob: 0.0,
            second_opinion: false,
            elapsed_ms,
        }
    }
}

/// A loaded whisper model.
pub struct Stt {
    ctx: WhisperContext,
    path: PathBuf,
    cfg: SttConfig,
}

impl std::fmt::Debug for Stt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stt")
            .field("model", &self.path)
            .field("cfg", &self.cfg)
            .finish()
    }
}

/// The most tokens whisper may write for `seconds` of speech: a cap that stops a
/// hallucinating loop early, far above what anyone says in that time.
pub fn max_tokens_for(seconds: f32) -> i32 {
    (seconds * TOKENS_PER_SECOND).ceil() as i32 + TOKENS_BASE
}

/// The encoder context for `seconds` of audio with `floor` (0 = full context).
pub fn audio_ctx_for(seconds: f32, floor: u32) -> i32 {
    if floor == 0 {
        return CTX_FULL;
    }
    let sized = (seconds * CTX_PER_SECOND).ceil() as i32 + CTX_MARGIN;
    sized.max(floor as i32).min(CTX_FULL)
}

impl Stt {
    /// Loads the ggml model at `path`.
    pub fn load(path: &Path, cfg: SttConfig) -> Result<Self, VoiceError> {
        if !path.is_file() {
            return Err(VoiceError::ModelMissing {
                path: path.to_owned(),
            });
        }
        // whisper.cpp throws C++ exceptions on some malformed files, which abort the
        // process: check what can be checked first.
        check_ggml(path).map_err(|reason| VoiceError::ModelCorrupt {
            path: path.to_owned(),
            reason,
        })?;
        whisper_rs::install_logging_hooks();
        let ctx = WhisperContext::new_with_params(path, WhisperContextParameters::default())
            .map_err(|e| VoiceError::ModelCorrupt {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            ctx,
            path: path.to_owned(),
            cfg,
        })
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The settings.
    pub fn config(&self) -> &SttConfig {
        &self.cfg
    }

    /// Recognizes 16 kHz mono `samples`. CPU-heavy: call it off the async runtime.
    pub fn transcribe(&self, samples: &[f32]) -> Result<Transcript, VoiceError> {
        self.run(samples, None, None)
    }

    /// Like [`Stt::transcribe`], giving up with [`VoiceError::Cancelled`] soon after
    /// `cancel` is set (whisper checks it between steps of its compute graph): a
    /// partial transcript must not hold up the final one.
    pub fn transcribe_cancellable(
        &self,
        samples: &[f32],
        cancel: &Arc<AtomicBool>,
    ) -> Result<Transcript, VoiceError> {
        self.run(samples, Some(cancel), None)
    }

    /// A partial transcript while the person still speaks: cancellable, and on one
    /// thread, so capture, VAD and the sound server keep a core (whisper's threads
    /// spin-wait on each other, and lose far more than a core's worth when one of
    /// them is preempted).
    pub fn transcribe_partial(
        &self,
        samples: &[f32],
        cancel: &Arc<AtomicBool>,
    ) -> Result<Transcript, VoiceError> {
        self.run(samples, Some(cancel), Some(1))
    }

    /// A second opinion on `first`, another model's transcript of the same
    /// `samples`: when that model was unsure ([`UNSURE_LOGPROB`]), this one
    /// recognizes them too (on every core) and the surer of the two answers wins.
    /// Models confuse different things (base hears "What I will it?" where tiny.en
    /// hears "What time is it?", and the reverse), and each is surer when it is
    /// right. An English-only model gives no opinion on other languages.
    pub fn reconsider(
        &self,
        first: Transcript,
        samples: &[f32],
        cancel: Option<&Arc<AtomicBool>>,
    ) -> Result<Transcript, VoiceError> {
        let english_only = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.contains(".en."));
        if first.text.is_empty()
            || first.avg_logprob >= UNSURE_LOGPROB
            || (english_only && first.language != "en")
        {
            return Ok(first);
        }
        let second = self.run(samples, cancel, Some(0))?;
        let elapsed_ms = first.elapsed_ms + second.elapsed_ms;
        tracing::debug!(
            first = %first.text,
            first_logprob = first.avg_logprob,
            second = %second.text,
            second_logprob = second.avg_logprob,
            "second opinion"
        );
        Ok(
            if !second.text.is_empty() && second.avg_logprob > first.avg_logprob {
                Transcript {
                    second_opinion: true,
                    duration_s: first.duration_s,
                    elapsed_ms,
                    ..second
                }
            } else {
                Transcript {
                    elapsed_ms,
                    ..first
                }
            },
        )
    }

    fn run(
        &self,
        samples: &[f32],
        cancel: Option<&Arc<AtomicBool>>,
        threads: Option<u32>,
    ) -> Result<Transcript, VoiceError> {
        let start = Instant::now();
        let duration_s = samples.len() as f32 / SAMPLE_RATE as f32;
        let rms = (samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32).sqrt();
        if rms < SILENCE_RMS {
            return Ok(Transcript::no_speech(
                &self.cfg.language,
                duration_s,
                start.elapsed().as_millis() as u64,
            ));
        }
        let mut audio = samples.to_vec();
        let min = (MIN_SECONDS * SAMPLE_RATE as f32) as usize;
        if audio.len() < min {
            audio.resize(min, 0.0);
        }
        let audio_ctx = audio_ctx_for(audio.len() as f32 / SAMPLE_RATE as f32, self.cfg.ctx_floor);
        // `Some(0)`: every core, whatever the configuration says.
        let threads = match threads.unwrap_or(self.cfg.threads) {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()) as i32,
            n => n as i32,
        };
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(threads);
        let lang = (self.cfg.language != "auto").then_some(self.cfg.language.as_str());
        params.set_language(lang);
        params.set_audio_ctx(audio_ctx);
        params.set_no_context(true);
        params.set_single_segment(true);
        params.set_no_timestamps(false);
        params.set_suppress_nst(true);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_special(false);
        params.set_print_timestamps(false);
        // No temperature fallback: a second decode doubles the time of exactly the
        // inputs (noise, mumbling) that are least worth it.
        params.set_temperature_inc(0.0);
        if !self.cfg.prompt.is_empty() {
            params.set_initial_prompt(&self.cfg.prompt);
        }
        params.set_max_tokens(max_tokens_for(duration_s));
        if let Some(flag) = cancel {
            let flag = flag.clone();
            // whisper-rs 0.16 hands its C trampoline a pointer to a `Box<dyn FnMut>`
            // but reads it as the closure's own type: only a closure that *is* a
            // `Box<dyn FnMut() -> bool>` is read correctly. whisper-rs never frees
            // this box (a few dozen bytes per cancellable call).
            let check: Box<dyn FnMut() -> bool> = Box::new(move || flag.load(Ordering::Relaxed));
            params.set_abort_callback_safe::<_, Box<dyn FnMut() -> bool>>(Some(check));
        }
        let mut state = self
            .ctx
            .create_state()
            .map_err(|e| VoiceError::Stt(e.to_string()))?;
        let ran = state.full(params, &audio);
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(VoiceError::Cancelled);
        }
        ran.map_err(|e| VoiceError::Stt(e.to_string()))?;
        let mut text = String::new();
        let mut no_speech = 0f32;
        let eot = self.ctx.token_eot();
        let (mut logprob, mut tokens) = (0f32, 0u32);
        for seg in state.as_iter() {
            no_speech = no_speech.max(seg.no_speech_probability());
            for i in 0..seg.n_tokens() {
                // Text tokens only: timestamps and other specials sit above `eot`.
                if let Some(tok) = seg.get_token(i)
                    && tok.token_id() < eot
                {
                    logprob += tok.token_data().plog;
                    tokens += 1;
                }
            }
            if let Ok(t) = seg.to_str_lossy() {
                text.push_str(&t);
            }
        }
        let language = match lang {
            Some(l) => l.to_owned(),
            None => whisper_rs::get_lang_str(state.full_lang_id_from_state())
                .unwrap_or("?")
                .to_owned(),
        };
        tracing::debug!(raw = %text, no_speech, "whisper");
        let text = clean(&text, no_speech);
        Ok(Transcript {
            text,
            language,
            duration_s,
            no_speech,
            audio_ctx,
            avg_logprob: if tokens == 0 {
                0.0
            } else {
                logprob / tokens as f32
            },
            second_opinion: false,
            elapsed_ms: start.elapsed().as_millis() as u64,
        })
    }
}

/// Checks a ggml whisper file's header, and its size against `manifest.tsv` in the
/// same folder when that lists it (a cut-off download).
fn check_ggml(path: &Path) -> Result<(), String> {
    use std::io::Read;
    let mut head = [0u8; 48];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(|e| format!("cannot read the header: {e}"))?;
    let word = |i: usize| {
        u32::from_le_bytes([
            head[i * 4],
            head[i * 4 + 1],
            head[i * 4 + 2],
            head[i * 4 + 3],
        ])
    };
    if word(0) != 0x6767_6d6c {
        return Err("not a ggml whisper model (bad magic)".into());
    }
    let (vocab, audio_ctx, audio_state, audio_layers, text_ctx, mels) =
        (word(1), word(2), word(3), word(5), word(6), word(10));
    let sane = (51_000..=52_000).contains(&vocab)
        && audio_ctx == 1500
        && (256..=2048).contains(&audio_state)
        && (1..=64).contains(&audio_layers)
        && text_ctx == 448
        && (mels == 80 || mels == 128);
    if !sane {
        return Err("the header holds impossible sizes".into());
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if let Some(dir) = path.parent()
        && let Ok(manifest) = std::fs::read_to_string(dir.join("manifest.tsv"))
        && let Some(size) = manifest.lines().find_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() >= 4 && f[0] == "file" && f[1] == name)
                .then(|| f[3].parse::<u64>().ok())
                .flatten()
        })
    {
        let actual = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if actual != size {
            return Err(format!("{actual} bytes where the manifest says {size}"));
        }
    }
    Ok(())
}

/// Drops annotations ("[BLANK_AUDIO]", "(music)") and the phrases whisper makes up
/// for silence when it also doubts there was speech.
fn clean(raw: &str, no_speech: f32) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in raw.chars() {
        match c {
            '[' | '(' | '*' if depth == 0 || c != '*' => depth += 1,
            ']' | ')' if depth > 0 => depth -= 1,
            '*' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let text = collapse_repeats(&out.split_whitespace().collect::<Vec<_>>().join(" "));
    let words = crate::wer::normalize(&text).join(" ");
    if words.is_empty()
        || no_speech > NO_SPEECH
        || PHANTOM_WORDS.contains(&words.as_str())
        || (no_speech > 0.2 && PHANTOMS.contains(&words.as_str()))
    {
        return String::new();
    }
    text
}

/// "Stop. Stop. Stop." -> "Stop.": a short utterance that whisper decoded over and
/// over. The text is collapsed when it is one phrase repeated back to back at least
/// twice (whatever the punctuation between), or ends in one repeated at least three
/// times ("Search the web for beat search search search ..."), the last copy
/// possibly cut off.
fn collapse_repeats(text: &str) -> String {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let keys: Vec<String> = tokens
        .iter()
        .map(|t| {
            t.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect()
        })
        .collect();
    let n = keys.len();
    for start in 0..n {
        // A phrase said twice is a loop only when it is all there is: "bye bye" and
        // "very very" inside a sentence are real.
        let copies = if start == 0 { 2 } else { 3 };
        for period in 1..=(n - start) / copies {
            let periodic = (start..n).all(|i| {
                let (k, first) = (&keys[i], &keys[start + (i - start) % period]);
                // The very last token may be cut off mid-word.
                k == first || (i == n - 1 && !k.is_empty() && first.starts_with(k.as_str()))
            });
            if periodic && (n - start) / period >= copies {
                let phrase = tokens[..start + period].join(" ");
                let trimmed = phrase.trim_end_matches([',', ';']);
                return if trimmed.ends_with(['.', '!', '?']) {
                    trimmed.to_owned()
                } else {
                    format!("{trimmed}.")
                };
            }
        }
    }
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_sentences_collapse() {
        assert_eq!(collapse_repeats("Stop. Stop. Stop. St"), "Stop.");
        assert_eq!(
            collapse_repeats("Volume up. Volume up. Volume u"),
            "Volume up."
        );
        assert_eq!(collapse_repeats("What is it? What is it?"), "What is it?");
        assert_eq!(
            collapse_repeats("Stop. Then go on. Stop."),
            "Stop. Then go on. Stop."
        );
        assert_eq!(
            collapse_repeats("Version 3.5 is out."),
            "Version 3.5 is out."
        );
        assert_eq!(
            collapse_repeats("Search the web for beat search search search sear"),
            "Search the web for beat search."
        );
        assert_eq!(collapse_repeats("Open it. Now now now."), "Open it. Now.");
        assert_eq!(
            collapse_repeats("It was very very cold."),
            "It was very very cold."
        );
        assert_eq!(collapse_repeats("Bye bye."), "Bye.");
    }

    #[test]
    fn context_is_sized_with_a_floor_and_a_ceiling() {
        assert_eq!(audio_ctx_for(3.0, 256), 256);
        assert_eq!(audio_ctx_for(7.0, 256), 414);
        assert_eq!(audio_ctx_for(3.0, 0), 1500);
        assert_eq!(audio_ctx_for(40.0, 256), 1500);
    }

    #[test]
    fn annotations_and_phantoms_are_dropped() {
        assert_eq!(clean(" [BLANK_AUDIO]", 0.1), "");
        assert_eq!(clean(" (music) Turn it up.", 0.1), "Turn it up.");
        assert_eq!(clean(" Thank you.", 0.5), "");
        assert_eq!(clean(" Thank you.", 0.05), "Thank you.");
        assert_eq!(clean(" You", 0.0), "");
        assert_eq!(clean(" Open the door.", 0.9), "");
    }
}
