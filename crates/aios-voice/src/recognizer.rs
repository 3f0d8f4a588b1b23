//! Speech to text gated on voice activity: no transcript ever comes out of silence
//! or noise.

use crate::{Stt, Transcript, Vad, VadConfig, VoiceError};

/// Silero VAD in front of whisper.
#[derive(Debug)]
pub struct Recognizer {
    stt: Stt,
    second: Option<Stt>,
    vad: Vad,
    cfg: VadConfig,
}

impl Recognizer {
    /// Both models, loaded.
    pub fn new(stt: Stt, vad: Vad, cfg: VadConfig) -> Self {
        Self {
            stt,
            second: None,
            vad,
            cfg,
        }
    }

    /// Asks `second` whenever the main model is unsure ([`Stt::reconsider`]).
    pub fn with_second_opinion(mut self, second: Stt) -> Self {
        self.second = Some(second);
        self
    }

    /// Recognizes the speech in `samples` (16 kHz mono): from the start of the first
    /// speech stretch to the end of the last, with padding. Without speech, the text
    /// is empty and whisper never runs.
    pub fn recognize(&mut self, samples: &[f32]) -> Result<Transcript, VoiceError> {
        let probs = self.vad.probabilities(samples)?;
        let Some(speech) = crate::listener::speech_of(samples, &probs, &self.cfg) else {
            return Ok(Transcript::no_speech(
                &self.stt.config().language,
                samples.len() as f32 / crate::SAMPLE_RATE as f32,
                0,
            ));
        };
        let mut t = self.stt.transcribe(&speech)?;
        if let Some(second) = &self.second {
            t = second.reconsider(t, &speech, None)?;
        }
        t.duration_s = samples.len() as f32 / crate::SAMPLE_RATE as f32;
        Ok(t)
    }
}

impl Recognizer {
    /// Loads the models `[voice]` names (looked up like every model).
    pub fn from_config(cfg: &aios_common::config::VoiceSection) -> Result<Self, VoiceError> {
        let stt_cfg = crate::SttConfig::from_voice(cfg);
        let stt = Stt::load(&crate::find_model(&cfg.stt_model)?, stt_cfg.clone())?;
        let second = if cfg.second_opinion_model.is_empty() {
            None
        } else {
            Some(Stt::load(
                &crate::find_model(&cfg.second_opinion_model)?,
                stt_cfg.small(),
            )?)
        };
        let vad = Vad::load(&crate::find_model(&cfg.vad_model)?)?;
        let vad_cfg = VadConfig {
            min_silence_ms: cfg.min_silence_ms,
            padding_ms: cfg.speech_padding_ms,
            ..VadConfig::default()
        };
        let rec = Self::new(stt, vad, vad_cfg);
        Ok(match second {
            Some(s) => rec.with_second_opinion(s),
            None => rec,
        })
    }
}
