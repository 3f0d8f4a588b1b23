//! Voice benchmarks, medians, written as JSON and printed as tables:
//! - `stt`: each whisper model and encoder-context floor over the LibriVox clips
//!   from `make models` (word error rate, p50 time per clip) and over 1 s, 3 s and
//!   7 s cuts (p50 time);
//! - `tts`: Piper time to the first audio of a short and a long sentence, and the
//!   real-time factor;
//! - `vad`: Silero cost per 32 ms chunk;
//! - `resample`: 48 kHz -> 16 kHz throughput;
//! - `release`: the real agent (release build, echo provider) hears 3 s commands
//!   through `aios listen --realtime`, with the release 0.3 s after the speech
//!   (before VAD can call its end) and 1.0 s after (after it): p50 time from the end
//!   of the audio to the final transcript, and the speech-to-first-audio chain;
//! - `barge-in`: Piper speaking on the default output, stopped half a second in:
//!   p50 time from the stop (the press) to the last sample handed to the output and
//!   to the speaker reporting idle. Needs a sound server: in a desktop session, or
//!   `scripts/with-headless-audio.sh target/release/voice_bench --only barge-in`.
//! - `audio-cpu`: what an open microphone and an open, silent speaker cost in CPU,
//!   through PipeWire's PulseAudio server and through ALSA (PipeWire's ALSA plugin),
//!   each measured for 5 s. Needs a sound server, like `barge-in`.
//! - `engines` (only when asked): our STT stage on the spoken command fixtures
//!   (`benches/fixtures/commands`, base model, its audio context sized per clip) and
//!   our TTS time to the first audio of the replies' first sentences, with the exact
//!   settings used, to `$CARGO_TARGET_DIR/bench/engines-ours.json`, which
//!   `benches/reference.py` reads to run whisper.cpp's own Python binding and the
//!   Piper package on the same input with the same settings (`make bench-reference`).
//!
//! `cargo run --release -p aios-benches --bin voice_bench -- --only stt --floors 0,128,256,512`

use std::path::PathBuf;

use aios_benches::target_dir;
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
    Release,
    BargeIn,
    AudioCpu,
    Engines,
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
    if args.only == Some(Part::Engines) {
        let v = engines(args.reps.max(5), args.threads)?;
        let out = target_dir().join("bench/engines-ours.json");
        std::fs::create_dir_all(out.parent().context("bench folder")?)?;
        std::fs::write(&out, serde_json::to_string_pretty(&v)?)?;
        println!("\nJSON for benches/reference.py in {}", out.display());
        return Ok(());
    }
    if args.only == Some(Part::BargeIn) {
        report.insert("barge_in".into(), barge_in(args.reps.max(10))?);
    }
    if args.only == Some(Part::AudioCpu) {
        if std::env::var_os(AUDIO_CPU_CHILD).is_some() {
            // One host's figures for the parent (below), as one JSON line.
            println!("{}", audio_cpu_here()?);
            return Ok(());
        }
        report.insert("audio_cpu".into(), audio_cpu()?);
    }
    if run(Part::Release) {
        report.insert("release".into(), release(args.reps.max(5), args.threads)?);
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

/// The first sentences AIOS speaks for the fixtures' commands (what the TTS stage
/// starts with in a spoken reply; AIOS speaks a reply sentence by sentence).
const FIRST_SENTENCES: [&str; 4] = [
    "It's 14:32.",
    "Volume set to 20%.",
    "Your Documents folder has 4 items: notes.txt, report.pdf, photos and todo.txt.",
    "William Shakespeare wrote Romeo and Juliet.",
];

/// Our STT and TTS stages alone, as the engine comparison needs them (see the
/// module doc): per fixture the settings whisper got and the p50 of our whole
/// `Stt::transcribe` (state, encoder, decoder); per sentence the p50 time to its
/// audio.
fn engines(reps: usize, threads: u32) -> Result<serde_json::Value> {
    let model = aios_common::models::find_model("ggml-base.bin").context("run `make models`")?;
    let cfg = SttConfig {
        threads,
        language: "en".into(),
        ..SttConfig::default()
    };
    let threads_used = match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()) as u32,
        n => n,
    };
    let floor = cfg.ctx_floor;
    let stt = Stt::load(&model, cfg)?;
    let mut clips = Vec::new();
    println!("\n| fixture | words | our STT p50 | audio_ctx | heard |\n|---|---|---|---|---|");
    for fx in aios_benches::fixtures()? {
        let (file, words) = (&fx.file, &fx.words);
        let audio = read_wav_16k(&fx.path)?;
        let _ = stt.transcribe(&audio)?; // warm-up: caches, page faults
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..reps {
            let t = stt.transcribe(&audio)?;
            times.push(t.elapsed_ms);
            last = Some(t);
        }
        let t = last.context("no repetition")?;
        let ms = p50(times.clone());
        println!(
            "| {file} | {words} | {ms} ms | {} | {} |",
            t.audio_ctx, t.text
        );
        clips.push(json!({
            "file": fx.path, "words": words, "seconds": t.duration_s,
            "text": t.text, "p50_ms": ms, "times_ms": times,
            "audio_ctx": t.audio_ctx, "max_tokens": aios_voice::stt::max_tokens_for(t.duration_s),
        }));
    }
    let voice =
        aios_common::models::find_model("en_US-joe-medium.onnx").context("run `make models`")?;
    let mut tts = aios_voice::Tts::load(&voice)?;
    let _ = tts.synthesize("Warm up.")?;
    let mut sentences = Vec::new();
    println!("\n| first sentence | our TTS p50 to its audio | to its first sound |\n|---|---|---|");
    for s in FIRST_SENTENCES {
        let mut times = Vec::new();
        let mut sound = Vec::new();
        for _ in 0..reps {
            let sp = tts.synthesize(s)?;
            times.push(sp.elapsed_ms);
            // What the speaker plays first: the sentence without its lead-in of
            // silence (the speaker's first sentence of a reply).
            let lead = sp.clone().without_lead_in().lead_in_ms();
            sound.push(sp.elapsed_ms as f64 + f64::from(lead));
        }
        let ms = p50(times.clone());
        sound.sort_by(f64::total_cmp);
        let sound_ms = sound[sound.len() / 2];
        println!("| {s:?} | {ms} ms | {sound_ms:.0} ms |");
        sentences.push(json!({
            "text": s, "p50_ms": ms, "times_ms": times, "first_sound_p50_ms": sound_ms,
        }));
    }
    Ok(json!({
        "stt": {
            "model": model, "threads": threads_used, "language": "en", "ctx_floor": floor,
            "greedy_best_of": 1, "no_context": true, "single_segment": true,
            "suppress_nst": true, "temperature_inc": 0.0, "clips": clips,
        },
        "tts": {"voice": voice, "sentences": sentences},
        "whisper_rs": "0.16", "reps": reps,
    }))
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
                    ..SttConfig::default()
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

/// The agent's own pipeline: listener at real-time pace, partials, the early final
/// pass, the final transcript; then the (echo) turn and Piper.
fn release(reps: usize, threads: u32) -> Result<serde_json::Value> {
    let bin = std::env::current_exe()?;
    let dir = bin.parent().context("bin dir")?;
    let (agent, aios) = (dir.join("aios-agent"), dir.join("aios"));
    anyhow::ensure!(
        agent.is_file() && aios.is_file(),
        "build them first: cargo build --release -p aios-agent -p aios-cli"
    );
    let tmp = tempfile::tempdir()?;
    let t = tmp.path();
    for d in ["home", "config/aios", "state", "data"] {
        std::fs::create_dir_all(t.join(d))?;
    }
    std::fs::write(
        t.join("config/aios/agent.toml"),
        format!(
            "[provider]\ntype = \"echo\"\n\n[agent]\nkeep_history = false\n\n[voice]\nthreads = {threads}\n"
        ),
    )?;
    let socket = t.join("agent.sock");
    let env = |c: &mut std::process::Command| {
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", t.join("home"))
            .env("XDG_CONFIG_HOME", t.join("config"))
            .env("XDG_STATE_HOME", t.join("state"))
            .env("XDG_DATA_HOME", t.join("data"))
            .env("AIOS_SOCKET", &socket)
            .env("RUST_LOG", "warn");
    };
    let mut cmd = std::process::Command::new(&agent);
    env(&mut cmd);
    let mut child = cmd.stderr(std::process::Stdio::null()).spawn()?;
    let _kill = KillOnDrop(&mut child);
    // Clips: the two LibriVox clips of about 3 s, and three commands from Piper.
    let clip_dir = aios_common::models::find_model("speech/librivox/transcription")
        .context("run `make models`")?;
    let clip_dir = clip_dir.parent().context("clip folder")?;
    let mut clips: Vec<(String, Vec<f32>)> = ["0880", "0930"]
        .iter()
        .map(|id| {
            let p = clip_dir.join(format!("sense_and_sensibility_01_austen_64kb-{id}.wav"));
            Ok((format!("librivox {id}"), read_wav_16k(&p)?))
        })
        .collect::<Result<_>>()?;
    let voice = aios_common::models::find_model("en_US-joe-medium.onnx")?;
    let mut tts = aios_voice::Tts::load(&voice)?;
    for c in [
        "Please set the volume to forty percent.",
        "How much battery do I have left today?",
        "Open the downloads folder in my home.",
    ] {
        let sp = tts.synthesize_steady(c)?;
        let audio = aios_voice::audio::resample(&sp.samples, sp.sample_rate, SAMPLE_RATE)
            .map_err(anyhow::Error::msg)?;
        clips.push((format!("piper {c:?}"), audio));
    }
    // Wait for the agent and its voice models (loaded in the background at start).
    let warm = t.join("warm.wav");
    aios_voice::tts::write_wav(
        &warm,
        &aios_voice::Speech {
            samples: clips[0].1.clone(),
            sample_rate: SAMPLE_RATE,
            elapsed_ms: 0,
        },
    )?;
    let mut ready = false;
    for _ in 0..100 {
        let mut c = std::process::Command::new(&aios);
        env(&mut c);
        let out = c
            .args(["--no-wait", "listen", "--json", "--wav"])
            .arg(&warm)
            .output()?;
        if out.status.success() {
            ready = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    anyhow::ensure!(ready, "the agent's voice did not come up in 20 s");
    println!(
        "\n| clip | speech | release after speech | p50 release -> final | p50 final -> first audio |\n|---|---|---|---|---|"
    );
    let mut rows = Vec::new();
    let mut all = [Vec::new(), Vec::new()];
    for (name, speech) in &clips {
        for (k, tail) in [0.3f32, 1.0].into_iter().enumerate() {
            let mut audio = vec![0.0; (0.3 * SAMPLE_RATE as f32) as usize];
            audio.extend_from_slice(speech);
            audio.resize(audio.len() + (tail * SAMPLE_RATE as f32) as usize, 0.0);
            let wav = t.join(format!("clip-{k}.wav"));
            aios_voice::tts::write_wav(
                &wav,
                &aios_voice::Speech {
                    samples: audio,
                    sample_rate: SAMPLE_RATE,
                    elapsed_ms: 0,
                },
            )?;
            let (mut stt, mut first_audio) = (Vec::new(), Vec::new());
            for _ in 0..reps {
                let mut c = std::process::Command::new(&aios);
                env(&mut c);
                let out = c
                    .args(["listen", "--realtime", "--json", "--wav"])
                    .arg(&wav)
                    .arg("--out")
                    .arg(t.join("reply.wav"))
                    .output()?;
                anyhow::ensure!(
                    out.status.success(),
                    "aios listen: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
                stt.push(v["timings"]["stt_ms"].as_u64().unwrap_or(0));
                first_audio.push(v["timings"]["first_audio_ms"].as_u64().unwrap_or(0));
            }
            all[k].extend(stt.iter().copied());
            let (s, f) = (p50(stt), p50(first_audio));
            let secs = speech.len() as f32 / SAMPLE_RATE as f32;
            println!("| {name} | {secs:.2} s | {tail} s | {s} ms | {f} ms |");
            rows.push(json!({"clip": name, "speech_s": secs, "tail_s": tail, "p50_release_to_final_ms": s, "p50_final_to_first_audio_ms": f}));
        }
    }
    let (a, b) = (p50(all[0].clone()), p50(all[1].clone()));
    println!("\nAll clips: release 0.3 s after the speech: p50 {a} ms; 1.0 s after: p50 {b} ms");
    Ok(json!({"reps": reps, "rows": rows, "p50_tail_0_3s_ms": a, "p50_tail_1_0s_ms": b}))
}

struct KillOnDrop<'a>(&'a mut std::process::Child);

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Press-to-silence: the speaker's stop, as push-to-talk during a reply calls it.
fn barge_in(reps: usize) -> Result<serde_json::Value> {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};
    let voice = aios_common::models::find_model("en_US-joe-medium.onnx")?;
    let tts = aios_voice::Tts::load(&voice)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let speaker = aios_voice::Speaker::start(tts, aios_voice::Output::Device, move |e| {
        let _ = tx.send(e);
    })
    .context("no sound output: run under scripts/with-headless-audio.sh")?;
    let stats = speaker.stats().clone();
    let (mut to_last, mut to_idle) = (Vec::new(), Vec::new());
    for i in 0..reps {
        let before = stats.played.load(Ordering::Relaxed);
        speaker.say(
            i as u64,
            "This sentence is long enough to be interrupted halfway through, as a person would.",
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while stats.played.load(Ordering::Relaxed) < before + 11_025 {
            anyhow::ensure!(Instant::now() < deadline, "playback does not advance");
            std::thread::sleep(Duration::from_millis(5));
        }
        let pressed = Instant::now();
        speaker.stop();
        loop {
            match rx.recv_timeout(Duration::from_secs(5))? {
                aios_voice::SpeakerEvent::Idle { .. } => break,
                _ => continue,
            }
        }
        to_idle.push(pressed.elapsed().as_micros() as u64);
        to_last.push(stats.last_stop_us.load(Ordering::Relaxed));
        std::thread::sleep(Duration::from_millis(200));
    }
    let (last, idle) = (p50(to_last), p50(to_idle));
    println!(
        "\nBarge-in (p50 of {reps}): stop to the last sample handed to the output {:.1} ms; to the speaker idle {:.1} ms",
        last as f64 / 1000.0,
        idle as f64 / 1000.0
    );
    Ok(json!({"reps": reps, "p50_stop_to_last_sample_us": last, "p50_stop_to_idle_us": idle}))
}

const AUDIO_CPU_CHILD: &str = "AIOS_AUDIO_CPU_CHILD";

/// CPU time this process has used (user + system), in ms; 10 ms resolution.
fn cpu_ms() -> Result<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let ticks = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .context("short /proc/self/stat")?
            .parse::<u64>()
            .context("/proc/self/stat")
    };
    // utime and stime, in clock ticks of 10 ms on Linux.
    Ok((ticks(11)? + ticks(12)?) * 10)
}

/// The microphone and the speaker on each sound system, each in a child process
/// (the host is chosen from the environment when a device opens).
fn audio_cpu() -> Result<serde_json::Value> {
    let exe = std::env::current_exe()?;
    let mut out = serde_json::Map::new();
    println!("\nAn open stream's CPU (5 s each; % of one core):");
    for (label, pulse_off) in [("pulse", false), ("alsa", true)] {
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(["--only", "audio-cpu"]).env(AUDIO_CPU_CHILD, "1");
        if pulse_off {
            cmd.env("PULSE_SERVER", "unix:/nonexistent/pulse/native");
        }
        let o = cmd.output()?;
        anyhow::ensure!(
            o.status.success(),
            "{label}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(
            o.stdout
                .split(|&b| b == b'\n')
                .find(|l| l.starts_with(b"{"))
                .context("no figures from the child")?,
        )?;
        println!(
            "  {:<10} microphone {:>5.1}%  speaker (silent) {:>5.1}%",
            v["host"].as_str().unwrap_or(label),
            v["capture_cpu_pct"].as_f64().unwrap_or_default(),
            v["speaker_idle_cpu_pct"].as_f64().unwrap_or_default(),
        );
        out.insert(label.into(), v);
    }
    Ok(out.into())
}

/// Opens the microphone and reads it as the listener does (every 16 ms) for 5 s, then
/// opens the speaker and leaves it silent; CPU of this process for each.
fn audio_cpu_here() -> Result<serde_json::Value> {
    use std::time::{Duration, Instant};
    const SPAN: Duration = Duration::from_secs(5);
    let pct = |ms: u64| ms as f64 / SPAN.as_millis() as f64 * 100.0;
    let mut mic = aios_voice::capture::Capture::open_default()
        .context("no microphone: run under scripts/with-headless-audio.sh")?;
    let host = mic.host();
    let (mut buf, mut samples) = (Vec::new(), 0);
    let (c0, t0) = (cpu_ms()?, Instant::now());
    while t0.elapsed() < SPAN {
        std::thread::sleep(Duration::from_millis(16));
        buf.clear();
        samples += mic.read(&mut buf)?;
    }
    let capture = cpu_ms()? - c0;
    drop(mic);
    // The speaker without its voice: the output stream alone, as the speaker keeps
    // it open between sentences.
    let sink = aios_voice::speaker::open_output()?;
    let c0 = cpu_ms()?;
    std::thread::sleep(SPAN);
    let speaker = cpu_ms()? - c0;
    drop(sink);
    Ok(json!({
        "host": host,
        "capture_cpu_pct": (pct(capture) * 10.0).round() / 10.0,
        "capture_samples_16k": samples,
        "speaker_idle_cpu_pct": (pct(speaker) * 10.0).round() / 10.0,
    }))
}
