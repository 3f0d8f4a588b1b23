//! Errors, phrased by what the caller should do.

use std::path::PathBuf;

/// Why a voice operation failed.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    /// A model file is not where it should be.
    #[error("model file {} not found; run `make models`", path.display())]
    ModelMissing {
        /// The path tried.
        path: PathBuf,
    },
    /// A model file exists but does not load.
    #[error("model file {} does not load ({reason}); it may be damaged: run `make models` to fetch and verify it again", path.display())]
    ModelCorrupt {
        /// The file.
        path: PathBuf,
        /// What the loader said.
        reason: String,
    },
    /// An audio file cannot be read.
    #[error("cannot read audio {}: {reason}", path.display())]
    Audio {
        /// The file.
        path: PathBuf,
        /// What is wrong; a WAV file is expected.
        reason: String,
    },
    /// A runtime library is missing or failed.
    #[error("{0}")]
    Runtime(String),
    /// An audio device is missing or failed (the message says what to check).
    #[error("{0}")]
    Device(String),
    /// Recognition was cancelled by the caller (a newer request needed whisper).
    #[error("speech recognition cancelled")]
    Cancelled,
    /// Inference failed.
    #[error("speech recognition failed: {0}")]
    Stt(String),
}
