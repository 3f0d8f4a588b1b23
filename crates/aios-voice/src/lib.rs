//! `aios-voice`: everything between the microphone and the speaker.
//!
//! Microphone capture into a ring buffer ([`capture`]), any WAV to 16 kHz mono
//! ([`audio`]), Silero VAD endpointing ([`vad`], [`listener`]), whisper.cpp
//! speech-to-text with `audio_ctx` sized to the utterance ([`stt`]), Piper speech
//! sentence by sentence with barge-in ([`tts`], [`sentences`], [`speaker`]) and word
//! error rate scoring ([`wer`]). It never depends on the agent; the agent drives it.

pub mod audio;
pub mod capture;
pub mod echo;
mod error;
mod host;
pub mod listener;
pub mod playback;
mod recognizer;
pub mod sentences;
pub mod speaker;
pub mod spoken;
pub mod stt;
pub mod tts;
pub mod vad;
pub mod wer;

pub use error::VoiceError;
pub use listener::{ListenConfig, ListenEvent, Listener, Source};
pub use recognizer::Recognizer;
pub use speaker::{Output, Speaker, SpeakerEvent};
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
