//! `aios transcribe`: speech to text on this machine, no agent needed.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use aios_common::config::AgentConfig;
use aios_common::paths;
use aios_voice::Recognizer;
use aios_voice::audio::read_wav_16k;
use anyhow::Context;
use serde_json::json;

/// The `[voice]` settings of the config the agent would use.
fn voice_config() -> anyhow::Result<aios_common::config::VoiceSection> {
    let path = paths::agent_config_path()?;
    let loaded = AgentConfig::load(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(loaded.config().voice.clone())
}

/// `aios say`: Piper on this machine; plays the speech, or writes it with `--out`.
pub fn say(text: &str, out: Option<&Path>, as_json: bool) -> anyhow::Result<ExitCode> {
    let cfg = voice_config()?;
    let voice = aios_voice::find_model(&cfg.tts_voice)?;
    let t0 = Instant::now();
    let mut tts = aios_voice::Tts::load(&voice)?;
    let load_ms = t0.elapsed().as_millis() as u64;
    let speech = tts.synthesize(text)?;
    match out {
        Some(path) => aios_voice::tts::write_wav(path, &speech)?,
        None => aios_voice::playback::play_blocking(&speech)?,
    }
    if as_json {
        let v = json!({
            "seconds": speech.seconds(),
            "sample_rate": speech.sample_rate,
            "voice": cfg.tts_voice,
            "timings": {"load_ms": load_ms, "synthesize_ms": speech.elapsed_ms},
            "real_time_factor": speech.elapsed_ms as f32 / 1000.0 / speech.seconds().max(0.001),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn transcribe(file: &Path, as_json: bool) -> anyhow::Result<ExitCode> {
    let cfg = voice_config()?;
    let t0 = Instant::now();
    let mut rec = Recognizer::from_config(&cfg)?;
    let load_ms = t0.elapsed().as_millis() as u64;
    let t1 = Instant::now();
    let audio = read_wav_16k(file)?;
    let read_ms = t1.elapsed().as_millis() as u64;
    let t2 = Instant::now();
    let t = rec.recognize(&audio)?;
    let recognize_ms = t2.elapsed().as_millis() as u64;
    if as_json {
        let out = json!({
            "text": t.text,
            "language": t.language,
            "duration": t.duration_s,
            "model": cfg.stt_model,
            "audio_ctx": t.audio_ctx,
            "timings": {"load_ms": load_ms, "read_ms": read_ms, "recognize_ms": recognize_ms, "whisper_ms": t.elapsed_ms},
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{}", t.text);
    }
    Ok(ExitCode::SUCCESS)
}
