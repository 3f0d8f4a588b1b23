//! Audio in: any WAV (rate, channels, 16/24/32-bit integer or 32-bit float) to 16 kHz
//! mono `f32`.

use std::path::Path;

use rubato::{FftFixedIn, Resampler};

use crate::{SAMPLE_RATE, VoiceError};

/// Reads `path` and converts it to 16 kHz mono.
pub fn read_wav_16k(path: &Path) -> Result<Vec<f32>, VoiceError> {
    let err = |reason: String| VoiceError::Audio {
        path: path.to_owned(),
        reason,
    };
    let mut r =
        hound::WavReader::open(path).map_err(|e| err(format!("{e} (a WAV file is expected)")))?;
    let spec = r.spec();
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err(err("the header says 0 channels or 0 Hz".into()));
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().collect::<Result<_, _>>(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            r.samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
        }
    }
    .map_err(|e| err(e.to_string()))?;
    let mono = to_mono(&interleaved, usize::from(spec.channels));
    resample(&mono, spec.sample_rate, SAMPLE_RATE).map_err(err)
}

/// Averages interleaved channels.
pub fn to_mono(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels <= 1 {
        return interleaved.to_vec();
    }
    interleaved
        .chunks_exact(channels)
        .map(|f| f.iter().sum::<f32>() / channels as f32)
        .collect()
}

/// Resamples a whole mono buffer (band-limited FFT resampler), keeping its length in
/// time exactly.
pub fn resample(input: &[f32], from: u32, to: u32) -> Result<Vec<f32>, String> {
    if from == to || input.is_empty() {
        return Ok(input.to_vec());
    }
    let mut rs = FftFixedIn::<f32>::new(from as usize, to as usize, 1024, 2, 1)
        .map_err(|e| format!("cannot resample {from} Hz to {to} Hz: {e}"))?;
    let delay = rs.output_delay();
    let want = (input.len() as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize;
    let mut out = Vec::with_capacity(want + delay + 2048);
    let mut pos = 0;
    while input.len() - pos >= rs.input_frames_next() {
        let n = rs.input_frames_next();
        let block = rs
            .process(&[&input[pos..pos + n]], None)
            .map_err(|e| e.to_string())?;
        out.extend_from_slice(&block[0]);
        pos += n;
    }
    // An empty tail must be passed as None: rubato treats an empty slice as an error.
    let rest = &input[pos..];
    let block = if rest.is_empty() {
        rs.process_partial::<&[f32]>(None, None)
    } else {
        rs.process_partial(Some(&[rest]), None)
    }
    .map_err(|e| e.to_string())?;
    out.extend_from_slice(&block[0]);
    while out.len() < want + delay {
        let block = rs
            .process_partial::<&[f32]>(None, None)
            .map_err(|e| e.to_string())?;
        if block[0].is_empty() {
            break;
        }
        out.extend_from_slice(&block[0]);
    }
    out.drain(..delay.min(out.len()));
    out.truncate(want);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, secs: f32, hz: f32) -> Vec<f32> {
        (0..(rate as f32 * secs) as usize)
            .map(|i| (i as f32 / rate as f32 * hz * std::f32::consts::TAU).sin() * 0.5)
            .collect()
    }

    #[test]
    fn lengths_that_fill_whole_blocks_resample_too() {
        for n in [1024, 2048, 22_050, 1] {
            let out = resample(&vec![0.1; n], 22_050, 16_000).expect("resample");
            assert_eq!(out.len(), (n * 16_000).div_ceil(22_050), "{n} samples");
        }
    }

    #[test]
    fn resampling_keeps_duration_and_frequency() {
        for from in [8_000, 22_050, 44_100, 48_000] {
            let out = resample(&tone(from, 1.5, 440.0), from, 16_000).expect("resample");
            assert_eq!(out.len(), 24_000, "{from} Hz");
            // Zero crossings of a 440 Hz tone over 1.5 s: about 1,320.
            let crossings = out[100..out.len() - 100]
                .windows(2)
                .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
                .count();
            assert!(
                (650..=670).contains(&crossings),
                "{from} Hz: {crossings} rising crossings"
            );
        }
    }

    #[test]
    fn every_wav_format_reads_the_same() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = tone(48_000, 1.0, 300.0);
        let cases: [(u16, u16, hound::SampleFormat); 4] = [
            (1, 16, hound::SampleFormat::Int),
            (2, 16, hound::SampleFormat::Int),
            (2, 32, hound::SampleFormat::Float),
            (1, 24, hound::SampleFormat::Int),
        ];
        for (channels, bits, format) in cases {
            let path = dir.path().join(format!("{channels}-{bits}.wav"));
            let spec = hound::WavSpec {
                channels,
                sample_rate: 48_000,
                bits_per_sample: bits,
                sample_format: format,
            };
            let mut w = hound::WavWriter::create(&path, spec).expect("create");
            for &s in &src {
                for _ in 0..channels {
                    match format {
                        hound::SampleFormat::Float => w.write_sample(s).expect("w"),
                        hound::SampleFormat::Int => {
                            w.write_sample((s * ((1i64 << (bits - 1)) - 1) as f32) as i32)
                                .expect("w");
                        }
                    }
                }
            }
            w.finalize().expect("finalize");
            let got = read_wav_16k(&path).expect("read");
            assert_eq!(got.len(), 16_000, "{channels} ch {bits} bit");
            let peak = got.iter().fold(0f32, |m, s| m.max(s.abs()));
            assert!(
                (0.45..0.55).contains(&peak),
                "{channels} ch {bits} bit: peak {peak}"
            );
        }
        let bad = dir.path().join("bad.wav");
        std::fs::write(&bad, b"RIFF0000WAVEjunk").expect("w");
        let e = read_wav_16k(&bad).expect_err("bad").to_string();
        assert!(e.contains("a WAV file is expected"), "{e}");
    }
}
