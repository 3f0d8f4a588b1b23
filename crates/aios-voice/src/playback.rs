//! Playing speech on the default output (rodio over cpal: PipeWire or ALSA).

use std::num::NonZero;

use rodio::buffer::SamplesBuffer;

use crate::{Speech, VoiceError};

/// Plays `speech` on the default output device and waits until it has been played.
pub fn play_blocking(speech: &Speech) -> Result<(), VoiceError> {
    let mut sink = rodio::DeviceSinkBuilder::open_default_sink().map_err(|e| {
        VoiceError::Runtime(format!(
            "no audio output device: {e}; write a file with --out instead"
        ))
    })?;
    sink.log_on_drop(false);
    let player = rodio::Player::connect_new(sink.mixer());
    let rate = NonZero::new(speech.sample_rate)
        .ok_or_else(|| VoiceError::Runtime("speech with a sample rate of 0".into()))?;
    player.append(SamplesBuffer::new(
        NonZero::<u16>::MIN,
        rate,
        speech.samples.clone(),
    ));
    player.sleep_until_end();
    Ok(())
}
