//! Voice benchmarks, medians, written as JSON and printed as tables:
//! - `stt`: each whisper model and encoder-context floor over the LibriVox clips
//!   from `make models` (word error rate, p50 time per clip) and over 1 s, 3 s and
//!   7 s cuts (p50 time);
//! - `tts`: Piper time to the first audio of a short and a long sentence, and the
//!   real-time factor;
//! - `vad`: Silero cost per 32 ms chunk;
//! - `resample`: 48 kHz -> 16 kHz throughput.
//!
//! `cargo run --release -p aios-benches --bin voice_bench -- --only stt --floors 0,128,256,512`

use std::path::PathBuf;

use aios_voice::audio::read_wav_16k;
use aios_voice::wer::{normalize, word_errors};
use aios_voice::{SAMPLE_RATE, Stt, SttConfig};
use anyhow::{Context, Result};
use clap::Parser;
use serde_json::json;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    Stt,
    Tts,
    Vad,
    Resample,
}

#[derive(Parser)]
struct Args {
    /// Run only one part.
    #[arg(long)]
    only: Option<Part>,
    /// Model files (names are looked up like the agent does).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ggml-tiny.en.bin,ggml-base.bin"
    )]
    models: Vec<String>,
    /// Encoder context floors; 0 = the full 30 s context.
    #[arg(long, value_delimiter = ',', default_value = "0,128,256,512")]
    floors: Vec<u32>,
    /// Repetitions per clip for the timing.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Inference threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: u32,
    /// Output JSON.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn p50(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let args = Args::parse();
    let run = |p: Part| args.only.is_none_or(|o| o == p);
    let mut report = serde_json::Map::new();
    if run(Part::Stt) {
        report.insert("stt".into(), stt(&args)?);
    }
    if run(Part::Tts) {
        report.insert("tts".into(), tts(args.reps.max(5))?);
    }
    if run(Part::Vad) {
        report.insert("vad".into(), vad()?);
    }
    if run(Part::Resample) {
        report.insert("resample".into(), resample()?);
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    report.insert("loadavg_at_end".into(), json!(load.trim()));
    report.insert("threads".into(), json!(args.threads));
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/bench/voice.json"));
    if let Some(d) = out.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;
    println!("\nJSON in {}", out.display());
    Ok(())
}

fn tts(reps: usize) -> Result<serde_json::Value> {
    let voice =
        aios_common::models::find_model("en_US-joe-medium.onnx").context("run `make models`")?;
    let t0 = std::time::Instant::now();
    let mut tts = aios_voice::Tts::load(&voice)?;
    let load_ms = t0.elapsed().as_millis() as u64;
    let _ = tts.synthesize("Warm up.")?;
    println!(
        "\n| sentence | chars | audio | p50 synthesis (= first audio) | real-time factor |\n|---|---|---|---|---|"
    );
    let mut rows = Vec::new();
    for s in [
        "Done.",
        "Your battery is at eighty percent.",
        "I deleted the three old files in your Downloads folder and emptied the trash, as you asked.",
    ] {
        let mut times = Vec::new();
        let mut secs = 0.0;
        for _ in 0..reps {
            let sp = tts.synthesize(s)?;
            times.push(sp.elapsed_ms);
            secs = sp.seconds();
        }
        let ms = p50(times);
        let rtf = ms as f32 / 1000.0 / secs;
        println!("| {s:?} | {} | {secs:.2} s | {ms} ms | {rtf:.3} |", s.len());
        rows.push(
            json!({"sentence": s, "chars": s.len(), "audio_s": secs, "p50_ms": ms, "rtf": rtf}),
        );
    }
    Ok(json!({"voice_load_ms": load_ms, "sentences": rows}))
}

fn vad() -> Result<serde_json::Value> {
    let path = aios_common::models::find_model("silero-vad-6.2.3/silero_vad.onnx")
        .context("run `make models`")?;
    let mut vad = aios_voice::Vad::load(&path)?;
    let chunk: Vec<f32> = (0..aios_voice::vad::FRAME)
        .map(|i| (i as f32 * 0.05).sin() * 0.1)
        .collect();
    for _ in 0..50 {
        vad.frame(&chunk)?;
    }
    let times: Vec<u64> = (0..1000)
        .map(|_| {
            let t = std::time::Instant::now();
            vad.frame(&chunk).map(|_| t.elapsed().as_micros() as u64)
        })
        .collect::<Result<_, _>>()?;
    let us = p50(times);
    println!(
        "\nVAD: p50 {us} µs per 32 ms chunk ({:.2}% of real time)",
        us as f64 / 320.0
    );
    Ok(json!({"p50_us_per_32ms_chunk": us}))
}

fn resample() -> Result<serde_json::Value> {
    let input: Vec<f32> = (0..48_000 * 60).map(|i| (i as f32 * 0.01).sin()).collect();
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = std::time::Instant::now();
        let out =
            aios_voice::audio::resample(&input, 48_000, 16_000).map_err(anyhow::Error::msg)?;
        anyhow::ensure!(out.len() == 16_000 * 60, "resampled length");
        times.push(t.elapsed().as_micros() as u64);
    }
    let us = p50(times);
    let x = 60.0 / (us as f64 / 1e6);
    println!(
        "\nResample 48 kHz -> 16 kHz: 60 s of audio in {:.1} ms ({x:.0}x real time)",
        us as f64 / 1000.0
    );
    Ok(json!({"p50_ms_for_60s": us as f64 / 1000.0, "times_real_time": x}))
}

fn stt(args: &Args) -> Result<serde_json::Value> {
    let dir = aios_common::models::find_model("speech/librivox/transcription")
        .context("the LibriVox clips are missing: run `make models`")?;
    let dir = dir.parent().context("clip folder")?.to_path_buf();
    let mut clips = Vec::new();
    for line in std::fs::read_to_string(dir.join("transcription"))?.lines() {
        let (text, id) = line.rsplit_once(" (").context("transcription line")?;
        let text = text.replace("<s>", "").replace("</s>", "");
        let id = id.trim_end_matches(')');
        clips.push((
            id.to_owned(),
            normalize(&text),
            read_wav_16k(&dir.join(format!("{id}.wav")))?,
        ));
    }
    let longest = clips
        .iter()
        .map(|c| &c.2)
        .max_by_key(|s| s.len())
        .context("no clips")?
        .clone();
    let cuts: Vec<(u32, Vec<f32>)> = [1u32, 3, 7]
        .iter()
        .map(|&s| (s, longest[..(s * SAMPLE_RATE) as usize].to_vec()))
        .collect();
    let words: usize = clips.iter().map(|c| c.1.len()).sum();
    let mut rows = Vec::new();
    println!(
        "| model | ctx floor | WER ({words} words) | p50 per clip | 1 s | 3 s | 7 s |\n|---|---|---|---|---|---|---|"
    );
    for model in &args.models {
        let path = aios_common::models::find_model(model)
            .with_context(|| format!("{model}: run `make models`"))?;
        for &floor in &args.floors {
            let stt = Stt::load(
                &path,
                SttConfig {
                    threads: args.threads,
                    language: "en".into(),
                    ctx_floor: floor,
                },
            )?;
            let _ = stt.transcribe(&cuts[0].1)?; // warm-up
            let mut errors = 0;
            let mut times = Vec::new();
            let mut hyps = Vec::new();
            for (id, reference, audio) in &clips {
                let mut t = stt.transcribe(audio)?;
                for _ in 1..args.reps {
                    let again = stt.transcribe(audio)?;
                    times.push(again.elapsed_ms);
                    t = again;
                }
                times.push(t.elapsed_ms);
                errors += word_errors(reference, &normalize(&t.text));
                hyps.push(json!({"clip": id, "text": t.text, "audio_ctx": t.audio_ctx}));
            }
            let mut cut_ms = Vec::new();
            for (_, audio) in &cuts {
                let v: Vec<u64> = (0..args.reps)
                    .map(|_| stt.transcribe(audio).map(|t| t.elapsed_ms))
                    .collect::<Result<_, _>>()?;
                cut_ms.push(p50(v));
            }
            let wer = errors as f64 / words as f64 * 100.0;
            let per_clip = p50(times);
            println!(
                "| {model} | {} | {wer:.1}% ({errors}) | {per_clip} ms | {} ms | {} ms | {} ms |",
                if floor == 0 {
                    "full (1500)".to_owned()
                } else {
                    floor.to_string()
                },
                cut_ms[0],
                cut_ms[1],
                cut_ms[2]
            );
            rows.push(json!({"model": model, "floor": floor, "wer_percent": wer, "word_errors": errors, "words": words,
                "p50_ms_per_clip": per_clip, "p50_ms_1s": cut_ms[0], "p50_ms_3s": cut_ms[1], "p50_ms_7s": cut_ms[2], "transcripts": hyps}));
        }
    }
    Ok(json!({"reps": args.reps, "rows": rows}))
}
