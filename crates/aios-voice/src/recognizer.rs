//! Speech to text gated on voice activity: no transcript ever comes out of silence
//! or noise.

use crate::vad::segments;
use crate::{Stt, Transcript, Vad, VadConfig, VoiceError};

/// Silence (in samples) whisper gets before the speech.
const LEAD_SILENCE: usize = crate::SAMPLE_RATE as usize * 3 / 10;

/// Silero VAD in front of whisper.
#[derive(Debug)]
pub struct Recognizer {
    stt: Stt,
    vad: Vad,
    cfg: VadConfig,
}

impl Recognizer {
    /// Both models, loaded.
    pub fn new(stt: Stt, vad: Vad, cfg: VadConfig) -> Self {
        Self { stt, vad, cfg }
    }

    /// Recognizes the speech in `samples` (16 kHz mono): from the start of the first
    /// speech stretch to the end of the last, with padding. Without speech, the text
    /// is empty and whisper never runs.
    pub fn recognize(&mut self, samples: &[f32]) -> Result<Transcript, VoiceError> {
        let probs = self.vad.probabilities(samples)?;
        let found = segments(&probs, samples.len(), &self.cfg);
        let (Some(first), Some(last)) = (found.first(), found.last()) else {
            return Ok(Transcript::no_speech(
                &self.stt.config().language,
                samples.len() as f32 / crate::SAMPLE_RATE as f32,
                0,
            ));
        };
        // Whisper often mishears a first word that starts right at the edge of its
        // input (clipped recordings, synthesized speech): give it a little silence.
        let lead = LEAD_SILENCE.saturating_sub(first.start);
        let mut speech = vec![0.0f32; lead];
        speech.extend_from_slice(&samples[first.start..last.end.min(samples.len())]);
        let mut t = self.stt.transcribe(&speech)?;
        t.duration_s = samples.len() as f32 / crate::SAMPLE_RATE as f32;
        Ok(t)
    }
}

impl Recognizer {
    /// Loads the models `[voice]` names (looked up like every model).
    pub fn from_config(cfg: &aios_common::config::VoiceSection) -> Result<Self, VoiceError> {
        let stt = Stt::load(
            &crate::find_model(&cfg.stt_model)?,
            crate::SttConfig {
                threads: cfg.threads,
                language: cfg.language.clone(),
                ctx_floor: cfg.audio_ctx_floor,
            },
        )?;
        let vad = Vad::load(&crate::find_model(&cfg.vad_model)?)?;
        let vad_cfg = VadConfig {
            min_silence_ms: cfg.min_silence_ms,
            padding_ms: cfg.speech_padding_ms,
            ..VadConfig::default()
        };
        Ok(Self::new(stt, vad, vad_cfg))
    }
}
