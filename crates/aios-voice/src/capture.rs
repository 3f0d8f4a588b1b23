//! Microphone capture: the default input (PipeWire through its PulseAudio server,
//! else ALSA: [`crate::host`]) into a lock-free ring buffer, read out as 16 kHz mono.
//!
//! The audio callback runs on the sound server's real-time thread, so it only
//! converts samples to `f32` and copies them into the ring buffer: no allocation, no
//! lock, no logging. Downmixing and resampling happen in [`Capture::read`], on the
//! reader's thread. When the reader falls behind by more than the ring (2 s), the
//! newest samples are dropped and counted rather than blocking the callback.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use rubato::{FftFixedIn, Resampler};

use crate::{SAMPLE_RATE, VoiceError};

/// Seconds of device audio the ring buffer holds.
const RING_SECONDS: u32 = 2;

/// An open microphone stream. Not `Send` (cpal streams are tied to their thread on
/// some hosts): open it on the thread that reads it.
pub struct Capture {
    _stream: cpal::Stream,
    ring: rtrb::Consumer<f32>,
    channels: usize,
    resampler: StreamResampler,
    dropped: Arc<AtomicU64>,
    failed: Arc<OnceLock<String>>,
    device: String,
    host: &'static str,
    scratch: Vec<f32>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("device", &self.device)
            .field("channels", &self.channels)
            .field("rate", &self.resampler.from)
            .finish_non_exhaustive()
    }
}

impl Capture {
    /// Opens the default input device at its default rate and starts capturing.
    pub fn open_default() -> Result<Self, VoiceError> {
        let host = crate::host::host();
        let device = host.default_input_device().ok_or_else(|| {
            VoiceError::Device(
                "no microphone found (no default input device); check that PipeWire or \
                 ALSA sees one (`wpctl status`), or use `aios listen --wav FILE`"
                    .into(),
            )
        })?;
        let name = device
            .description()
            .map(|d| d.to_string())
            .unwrap_or_else(|_| "default".into());
        let supported = device
            .default_input_config()
            .map_err(|e| {
                VoiceError::Device(format!(
                    "cannot use the microphone ({name}): {e}; check that the sound server runs (`wpctl status`)"
                ))
            })?;
        let channels = usize::from(supported.channels()).max(1);
        let rate = supported.sample_rate();
        let format = supported.sample_format();
        let mut config: cpal::StreamConfig = supported.into();
        if crate::host::is_pulse(&host) {
            config.buffer_size =
                cpal::BufferSize::Fixed(rate * crate::host::PULSE_FRAGMENT_MS / 1000);
        }
        let (producer, ring) = rtrb::RingBuffer::new((rate * RING_SECONDS) as usize * channels);
        let dropped = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(OnceLock::new());
        let stream = match format {
            cpal::SampleFormat::F32 => build::<f32>(&device, config, producer, &dropped, &failed),
            cpal::SampleFormat::I16 => build::<i16>(&device, config, producer, &dropped, &failed),
            cpal::SampleFormat::I32 => build::<i32>(&device, config, producer, &dropped, &failed),
            cpal::SampleFormat::U8 => build::<u8>(&device, config, producer, &dropped, &failed),
            other => {
                return Err(VoiceError::Device(format!(
                    "microphone {name} delivers {other} samples, which AIOS does not read"
                )));
            }
        }
        .map_err(|e| {
            VoiceError::Device(format!(
                "cannot open the microphone ({name}): {e}; check that the sound server runs (`wpctl status`)"
            ))
        })?;
        stream
            .play()
            .map_err(|e| VoiceError::Device(format!("cannot start microphone {name}: {e}")))?;
        let host = host.id().name();
        tracing::info!(device = %name, host, rate, channels, "microphone open");
        Ok(Self {
            _stream: stream,
            ring,
            channels,
            resampler: StreamResampler::new(rate)?,
            dropped,
            failed,
            device: name,
            host,
            scratch: Vec::new(),
        })
    }

    /// Appends everything captured since the last call to `out`, as 16 kHz mono.
    /// Returns the number of samples appended; an error once the device has failed
    /// (unplugged, the sound server stopped).
    pub fn read(&mut self, out: &mut Vec<f32>) -> Result<usize, VoiceError> {
        if let Some(why) = self.failed.get() {
            return Err(VoiceError::Device(format!(
                "microphone {} stopped delivering audio ({why}); check that the sound server runs (`wpctl status`)",
                self.device
            )));
        }
        let frames = self.ring.slots() / self.channels;
        if frames == 0 {
            return Ok(0);
        }
        let chunk = self
            .ring
            .read_chunk(frames * self.channels)
            .map_err(|e| VoiceError::Device(e.to_string()))?;
        let (a, b) = chunk.as_slices();
        self.scratch.clear();
        self.scratch.extend_from_slice(a);
        self.scratch.extend_from_slice(b);
        chunk.commit_all();
        let mono = crate::audio::to_mono(&self.scratch, self.channels);
        let before = out.len();
        self.resampler.push(&mono, out)?;
        Ok(out.len() - before)
    }

    /// Device samples dropped because the reader fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The device's name.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// The sound system it was opened on ("PulseAudio" or "ALSA").
    pub fn host(&self) -> &'static str {
        self.host
    }
}

fn build<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    mut producer: rtrb::Producer<f32>,
    dropped: &Arc<AtomicU64>,
    failed: &Arc<OnceLock<String>>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: cpal::SizedSample,
    f32: cpal::FromSample<T>,
{
    let dropped = dropped.clone();
    let failed = failed.clone();
    device.build_input_stream(
        config,
        move |data: &[T], _: &cpal::InputCallbackInfo| {
            // Real-time thread: copy what fits, count the rest.
            let n = data.len().min(producer.slots());
            if let Ok(chunk) = producer.write_chunk_uninit(n) {
                let written = chunk.fill_from_iter(
                    data[..n]
                        .iter()
                        .map(|&s| <f32 as cpal::FromSample<T>>::from_sample_(s)),
                );
                debug_assert_eq!(written, n);
            }
            if n < data.len() {
                dropped.fetch_add((data.len() - n) as u64, Ordering::Relaxed);
            }
        },
        move |e: cpal::Error| {
            if is_fatal(e.kind()) {
                tracing::warn!("microphone failed: {e}");
                let _ = failed.set(e.to_string());
            } else {
                // An overrun under load (cpal has already restarted the stream), a
                // refused real-time priority, a rerouted default: audio goes on.
                tracing::debug!("microphone hiccup: {e}");
            }
        },
        None,
    )
}

/// Whether a stream error means the microphone is gone. cpal reports overruns and
/// the like through the same callback after it has recovered from them; treating
/// those as fatal ended captures whenever the machine was busy.
fn is_fatal(kind: cpal::ErrorKind) -> bool {
    matches!(
        kind,
        cpal::ErrorKind::DeviceNotAvailable
            | cpal::ErrorKind::HostUnavailable
            | cpal::ErrorKind::StreamInvalidated
            | cpal::ErrorKind::PermissionDenied
    )
}

/// Resamples a stream of mono blocks of any length to 16 kHz.
pub struct StreamResampler {
    from: u32,
    inner: Option<FftFixedIn<f32>>,
    pending: Vec<f32>,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl StreamResampler {
    /// From `from` Hz to 16 kHz.
    pub fn new(from: u32) -> Result<Self, VoiceError> {
        let inner = if from == SAMPLE_RATE {
            None
        } else {
            // Blocks of 10 ms keep the added latency small.
            let chunk = (from / 100).max(64) as usize;
            Some(
                FftFixedIn::<f32>::new(from as usize, SAMPLE_RATE as usize, chunk, 1, 1).map_err(
                    |e| VoiceError::Device(format!("cannot resample {from} Hz to 16 kHz: {e}")),
                )?,
            )
        };
        Ok(Self {
            from,
            inner,
            pending: Vec::new(),
        })
    }

    /// Feeds `input`, appending whatever whole blocks it completes to `out`.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), VoiceError> {
        let Some(rs) = self.inner.as_mut() else {
            out.extend_from_slice(input);
            return Ok(());
        };
        self.pending.extend_from_slice(input);
        let mut pos = 0;
        while self.pending.len() - pos >= rs.input_frames_next() {
            let n = rs.input_frames_next();
            let block = rs
                .process(&[&self.pending[pos..pos + n]], None)
                .map_err(|e| VoiceError::Device(format!("resampling: {e}")))?;
            out.extend_from_slice(&block[0]);
            pos += n;
        }
        self.pending.drain(..pos);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_resampling_keeps_the_rate_whatever_the_block_sizes() {
        let mut rs = StreamResampler::new(48_000).expect("resampler");
        let input: Vec<f32> = (0..48_000)
            .map(|i| (i as f32 / 48_000.0 * 440.0 * std::f32::consts::TAU).sin() * 0.5)
            .collect();
        let mut out = Vec::new();
        // Odd block sizes, as a sound server delivers them.
        for block in input.chunks(373) {
            rs.push(block, &mut out).expect("push");
        }
        // All but the last partial 10 ms block has come out.
        assert!(
            (15_800..=16_000).contains(&out.len()),
            "{} samples out of one second",
            out.len()
        );
        let rms =
            (out[2000..].iter().map(|s| s * s).sum::<f32>() / (out.len() - 2000) as f32).sqrt();
        assert!((rms - 0.354).abs() < 0.02, "tone level kept: {rms}");
    }

    #[test]
    fn sixteen_kilohertz_passes_through() {
        let mut rs = StreamResampler::new(16_000).expect("resampler");
        let mut out = Vec::new();
        rs.push(&[0.25; 100], &mut out).expect("push");
        assert_eq!(out, vec![0.25; 100]);
    }
}
