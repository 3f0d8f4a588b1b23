//! Silero VAD (the ONNX model from `make models`) through ONNX Runtime, and
//! endpointing: which stretches of audio are speech.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::session::Session;
use ort::value::Tensor;

use crate::{SAMPLE_RATE, VoiceError};

/// Samples per VAD frame at 16 kHz (32 ms), as Silero expects.
pub const FRAME: usize = 512;
/// Samples of the previous frame Silero sees in front of each frame.
const CONTEXT: usize = 64;

/// Endpointing settings.
#[derive(Debug, Clone, PartialEq)]
pub struct VadConfig {
    /// A frame is speech above this probability.
    pub threshold: f32,
    /// Silence this long ends an utterance.
    pub min_silence_ms: u32,
    /// Shorter bursts are not speech (a click, a cough).
    pub min_speech_ms: u32,
    /// Audio kept on each side of an utterance.
    pub padding_ms: u32,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            min_silence_ms: 500,
            min_speech_ms: 250,
            padding_ms: 200,
        }
    }
}

static ORT: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// Loads the ONNX Runtime library once per process: `$ORT_DYLIB_PATH`, else the one
/// `make setup` installs under `.local/onnxruntime/lib` of the checkout (found
/// upwards from the executable or the working directory), else `/usr/lib/aios`.
pub fn init_onnxruntime() -> Result<PathBuf, VoiceError> {
    ORT.get_or_init(|| {
        let lib = find_onnxruntime().ok_or_else(|| {
            "the ONNX Runtime library is missing: run `make setup` (or set ORT_DYLIB_PATH)"
                .to_owned()
        })?;
        ort::init_from(&lib)
            .map_err(|e| format!("cannot load {}: {e}", lib.display()))?
            .commit();
        Ok(lib)
    })
    .clone()
    .map_err(VoiceError::Runtime)
}

fn find_onnxruntime() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        return Some(PathBuf::from(p));
    }
    let in_dir = |dir: &Path| -> Option<PathBuf> {
        std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("libonnxruntime.so"))
            })
    };
    // The checkout this was built from (like the models), then upwards from the
    // executable and from the working directory.
    let source = Some(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")));
    let exe = std::env::current_exe().ok();
    let cwd = std::env::current_dir().ok();
    let starts = source.iter().chain(exe.iter()).chain(cwd.iter());
    for start in starts {
        for dir in start.ancestors() {
            if let Some(p) = in_dir(&dir.join(".local/onnxruntime/lib")) {
                return Some(p);
            }
        }
    }
    in_dir(Path::new("/usr/lib/aios"))
}

/// The Silero model with its recurrent state.
pub struct Vad {
    session: Session,
    state: Vec<f32>,
    context: Vec<f32>,
}

impl std::fmt::Debug for Vad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vad")
    }
}

impl Vad {
    /// Loads `silero_vad.onnx`.
    pub fn load(path: &Path) -> Result<Self, VoiceError> {
        if !path.is_file() {
            return Err(VoiceError::ModelMissing {
                path: path.to_owned(),
            });
        }
        init_onnxruntime()?;
        let corrupt = |e: ort::Error| VoiceError::ModelCorrupt {
            path: path.to_owned(),
            reason: e.to_string(),
        };
        // One thread: a 32 ms frame takes well under a millisecond, and the cores are
        // for whisper and the model.
        let build = || -> ort::Result<Session> {
            let mut b = Session::builder()?.with_intra_threads(1)?;
            b.commit_from_file(path)
        };
        let session = build().map_err(corrupt)?;
        Ok(Self {
            session,
            state: vec![0.0; 2 * 128],
            context: vec![0.0; CONTEXT],
        })
    }

    /// Forgets the previous audio (a new utterance or stream).
    pub fn reset(&mut self) {
        self.state.iter_mut().for_each(|s| *s = 0.0);
        self.context.iter_mut().for_each(|s| *s = 0.0);
    }

    /// Speech probability of one 512-sample frame (shorter ones are zero-padded).
    pub fn frame(&mut self, frame: &[f32]) -> Result<f32, VoiceError> {
        let mut input = Vec::with_capacity(CONTEXT + FRAME);
        input.extend_from_slice(&self.context);
        input.extend_from_slice(&frame[..frame.len().min(FRAME)]);
        input.resize(CONTEXT + FRAME, 0.0);
        self.context.copy_from_slice(&input[FRAME..]);
        let err = |e: ort::Error| VoiceError::Runtime(format!("VAD: {e}"));
        let x = Tensor::from_array(([1usize, CONTEXT + FRAME], input)).map_err(err)?;
        let state = Tensor::from_array(([2usize, 1, 128], self.state.clone())).map_err(err)?;
        let sr = Tensor::from_array(([1usize], vec![i64::from(SAMPLE_RATE)])).map_err(err)?;
        let out = self
            .session
            .run(ort::inputs!["input" => x, "state" => state, "sr" => sr])
            .map_err(err)?;
        let (_, p) = out["output"].try_extract_tensor::<f32>().map_err(err)?;
        let prob = p.first().copied().unwrap_or(0.0);
        let (_, s) = out["stateN"].try_extract_tensor::<f32>().map_err(err)?;
        let next = s.to_vec();
        drop(out);
        if next.len() == self.state.len() {
            self.state = next;
        }
        Ok(prob)
    }

    /// Speech probability of each frame of `samples`, from a fresh state.
    pub fn probabilities(&mut self, samples: &[f32]) -> Result<Vec<f32>, VoiceError> {
        self.reset();
        samples.chunks(FRAME).map(|f| self.frame(f)).collect()
    }
}

/// The speech stretches (sample ranges) in per-frame probabilities.
pub fn segments(probs: &[f32], total: usize, cfg: &VadConfig) -> Vec<Range<usize>> {
    let ms = |m: u32| (m as usize * SAMPLE_RATE as usize / 1000).div_ceil(FRAME);
    let (min_silence, min_speech, pad) = (
        ms(cfg.min_silence_ms),
        ms(cfg.min_speech_ms),
        cfg.padding_ms as usize * 16,
    );
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut start: Option<usize> = None;
    let mut silent = 0;
    let close = |s: usize, end_frame: usize, out: &mut Vec<Range<usize>>| {
        if end_frame - s >= min_speech {
            let a = (s * FRAME).saturating_sub(pad);
            let b = (end_frame * FRAME + pad).min(total);
            out.push(a..b);
        }
    };
    for (i, &p) in probs.iter().enumerate() {
        let speech = p >= cfg.threshold;
        match (start, speech) {
            (None, true) => {
                start = Some(i);
                silent = 0;
            }
            (Some(_), true) => silent = 0,
            (Some(s), false) => {
                silent += 1;
                if silent >= min_silence {
                    close(s, i + 1 - silent, &mut out);
                    start = None;
                }
            }
            (None, false) => {}
        }
    }
    if let Some(s) = start {
        close(s, probs.len() - silent, &mut out);
    }
    // Padding may make neighbours touch; join them.
    let mut joined: Vec<Range<usize>> = Vec::new();
    for r in out {
        match joined.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => joined.push(r),
        }
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpointing_needs_enough_silence_and_enough_speech() {
        let cfg = VadConfig {
            padding_ms: 0,
            ..VadConfig::default()
        };
        // 16 frames ≈ 512 ms: 10 speech, 5 silent (too short to end), 10 speech,
        // 20 silent, 3 speech (too short to count).
        let mut p = vec![0.9; 10];
        p.extend([0.1; 5]);
        p.extend([0.9; 10]);
        p.extend([0.1; 20]);
        p.extend([0.9; 3]);
        let total = p.len() * FRAME;
        assert_eq!(segments(&p, total, &cfg), vec![0..25 * FRAME]);
        assert!(segments(&[0.1; 50], 50 * FRAME, &cfg).is_empty());
    }
}
