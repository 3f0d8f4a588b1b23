//! Playing speech on the default output (rodio over cpal: PipeWire's PulseAudio
//! server, else ALSA).

use std::num::NonZero;

use rodio::buffer::SamplesBuffer;

use crate::{Speech, VoiceError};

/// Plays `speech` on the default output device and waits until it has been played.
pub fn play_blocking(speech: &Speech) -> Result<(), VoiceError> {
    // The speaker's own output: the same sound system and buffer.
    let sink = crate::speaker::open_output()?;
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
