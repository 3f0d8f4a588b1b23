//! Text to speech with Piper (`piper-rs`, the `en_US-joe-medium` voice from
//! `make models`) through the same ONNX Runtime as the VAD.

use std::path::{Path, PathBuf};
use std::time::Instant;

use piper_rs::Piper;

use crate::VoiceError;

/// A loaded Piper voice.
pub struct Tts {
    piper: Piper,
    path: PathBuf,
}

impl std::fmt::Debug for Tts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tts").field("voice", &self.path).finish()
    }
}

/// Synthesized speech.
#[derive(Debug, Clone, PartialEq)]
pub struct Speech {
    /// Mono samples in -1..1.
    pub samples: Vec<f32>,
    /// Their rate (22,050 Hz for medium voices).
    pub sample_rate: u32,
    /// Time the synthesis took.
    pub elapsed_ms: u64,
}

/// Below this a sample is the silence Piper puts before a sentence's first sound
/// (about -54 dBFS; its first louder sample comes 34-49 ms in, measured on the
/// joe-medium voice). `benches/reference.py` uses the same level.
pub const LEAD_IN_LEVEL: f32 = 0.002;

/// What is kept before the first sound, so its attack is whole.
const LEAD_IN_KEPT_MS: u32 = 5;

impl Speech {
    /// Seconds of audio.
    pub fn seconds(&self) -> f32 {
        self.samples.len() as f32 / self.sample_rate.max(1) as f32
    }

    /// Milliseconds before the first sound (the first sample above the level
    /// [`Speech::without_lead_in`] cuts at); the whole length when silent throughout.
    pub fn lead_in_ms(&self) -> f32 {
        let first = self
            .samples
            .iter()
            .position(|s| s.abs() > LEAD_IN_LEVEL)
            .unwrap_or(self.samples.len());
        first as f32 * 1000.0 / self.sample_rate.max(1) as f32
    }

    /// The speech from just before its first sound: the silence the voice starts a
    /// sentence with is only a wait before the first word (30-45 ms with Piper).
    /// Silence throughout is kept as it is.
    pub fn without_lead_in(mut self) -> Self {
        let Some(first) = self.samples.iter().position(|s| s.abs() > LEAD_IN_LEVEL) else {
            return self;
        };
        let kept = (self.sample_rate * LEAD_IN_KEPT_MS / 1000) as usize;
        self.samples.drain(..first.saturating_sub(kept));
        self
    }
}

impl Tts {
    /// Loads `voice.onnx` and its `voice.onnx.json`.
    pub fn load(onnx: &Path) -> Result<Self, VoiceError> {
        let config = PathBuf::from(format!("{}.json", onnx.display()));
        for p in [onnx, config.as_path()] {
            if !p.is_file() {
                return Err(VoiceError::ModelMissing { path: p.to_owned() });
            }
        }
        crate::vad::init_onnxruntime()?;
        let piper = Piper::new(onnx, &config).map_err(|e| VoiceError::ModelCorrupt {
            path: onnx.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            piper,
            path: onnx.to_owned(),
        })
    }

    /// The voice file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Speaks `text` (one sentence or a few). CPU-bound: call it off the async runtime.
    pub fn synthesize(&mut self, text: &str) -> Result<Speech, VoiceError> {
        self.create(text, None)
    }

    /// Like [`Tts::synthesize`] without the voice's random variation (VITS noise
    /// scales at 0): the same text always gives the same samples. For tests and
    /// benchmarks, where a random take would make results differ run to run.
    pub fn synthesize_steady(&mut self, text: &str) -> Result<Speech, VoiceError> {
        self.create(text, Some(0.0))
    }

    /// `noise`: both noise scales, `None` for the voice's own.
    fn create(&mut self, text: &str, noise: Option<f32>) -> Result<Speech, VoiceError> {
        let start = Instant::now();
        let (samples, sample_rate) = self
            .piper
            .create(text, false, None, None, noise, noise)
            .map_err(|e| VoiceError::Runtime(format!("speech synthesis failed: {e}")))?;
        Ok(Speech {
            samples,
            sample_rate,
            elapsed_ms: start.elapsed().as_millis() as u64,
        })
    }
}

/// Writes `speech` as a 16-bit mono WAV.
pub fn write_wav(path: &Path, speech: &Speech) -> Result<(), VoiceError> {
    let err = |e: hound::Error| VoiceError::Audio {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: speech.sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).map_err(err)?;
    for s in &speech.samples {
        w.write_sample((s.clamp(-1.0, 1.0) * f32::from(i16::MAX)) as i16)
            .map_err(err)?;
    }
    w.finalize().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speech(samples: Vec<f32>) -> Speech {
        Speech {
            samples,
            sample_rate: 1000,
            elapsed_ms: 0,
        }
    }

    #[test]
    fn the_lead_in_goes_and_the_attack_stays() {
        let mut samples = vec![0.0005; 40];
        samples.extend([0.01, 0.5, -0.4, 0.0, 0.0]);
        let s = speech(samples).without_lead_in();
        // 5 ms at 1 kHz kept before the first sound.
        assert_eq!(s.samples.len(), 10);
        assert_eq!(s.samples[5..7], [0.01, 0.5]);
        assert_eq!(s.lead_in_ms(), 5.0);
        // Nothing to cut: a sound at once, or silence throughout.
        assert_eq!(speech(vec![0.3, 0.0]).without_lead_in().samples, [0.3, 0.0]);
        assert_eq!(speech(vec![0.0; 8]).without_lead_in().samples.len(), 8);
    }
}
