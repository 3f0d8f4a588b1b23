//! Speech-to-text speed and accuracy: each whisper model and encoder-context floor
//! over the LibriVox clips from `make models` (word error rate, p50 time per clip)
//! and over 1 s, 3 s and 7 s cuts (p50 time). Writes JSON and prints a table.
//!
//! `cargo run --release -p aios-benches --bin stt_bench -- --models ggml-tiny.en.bin,ggml-base.bin --floors 0,128,256,512`

use std::path::PathBuf;

use aios_voice::audio::read_wav_16k;
use aios_voice::wer::{normalize, word_errors};
use aios_voice::{SAMPLE_RATE, Stt, SttConfig};
use anyhow::{Context, Result};
use clap::Parser;
use serde_json::json;

#[derive(Parser)]
struct Args {
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
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("target/bench/stt.json"));
    if let Some(d) = out.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(
        &out,
        serde_json::to_string_pretty(
            &json!({"threads": args.threads, "reps": args.reps, "loadavg_at_end": load.trim(), "rows": rows}),
        )?,
    )?;
    println!("\nJSON in {}", out.display());
    Ok(())
}
