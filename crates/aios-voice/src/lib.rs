//! `aios-voice`: everything between the microphone and the speaker.
//!
//! Built so far: reading any WAV into 16 kHz mono ([`audio`]), whisper.cpp
//! speech-to-text with `audio_ctx` sized to the utterance ([`stt`]), and word error
//! rate scoring ([`wer`]). Capture (cpal into a ring buffer), Silero VAD endpointing,
//! Piper text-to-speech sentence by sentence and barge-in come next in the
//! voice-pipeline issue. It never depends on the agent; the agent drives it.

pub mod audio;
mod error;
pub mod playback;
mod recognizer;
pub mod sentences;
pub mod stt;
pub mod tts;
pub mod vad;
pub mod wer;

pub use error::VoiceError;
pub use recognizer::Recognizer;
pub use stt::{Stt, SttConfig, Transcript};
pub use tts::{Speech, Tts};
pub use vad::{Vad, VadConfig};

/// Sample rate every model here works at.
pub const SAMPLE_RATE: u32 = 16_000;

/// Finds a model file by name, like every AIOS model; missing means "run `make
/// models`", naming the first path tried.
pub fn find_model(name: &str) -> Result<std::path::PathBuf, VoiceError> {
    aios_common::models::find_model(name).map_err(|e| VoiceError::ModelMissing {
        path: e.tried.first().cloned().unwrap_or_else(|| name.into()),
    })
}
