//! `aios-voice`: everything between the microphone and the speaker.
//!
//! It will own capture (cpal into a ring buffer), resampling to 16 kHz, Silero VAD
//! endpointing, whisper.cpp speech-to-text with `audio_ctx` sized to the utterance,
//! Piper text-to-speech sentence by sentence, and barge-in. It never depends on the
//! agent; the agent drives it.
//!
//! Built by the voice-pipeline issue.
