//! Voice to voice, as a person meets it: the spoken command fixtures
//! (`benches/fixtures/commands`) go into the real microphone path (a headless
//! PipeWire loopback source, played with `pw-play`) as push-to-talk utterances to
//! the release agent, and the bench times, from the release (`ptt_stop`):
//!
//! - **final**: the final transcript's event;
//! - **token**: the first piece of the reply (`stream_chunk`);
//! - **handed**: the agent's `speaking` state (the first sentence handed to the
//!   output);
//! - **sink**: the first loud 10 ms of the speaker sink's monitor, read by
//!   `pw-record` (the first TTS sample that went through the sink; the monitor's
//!   own capture delay is included, so it is an upper bound).
//!
//! `--llm instant`: an OpenAI-compatible server on 127.0.0.1 (`benches/sse-model.py`)
//! replies at once with a fixed two-sentence reply: everything measured is ours.
//! Then the compute floor: whisper on each command plus Piper on the reply's first
//! sentence, standalone; voice to voice minus the floor is our overhead.
//! `--llm local`: the bundled local model, warm, on the fixtures that need no tool
//! and on those that need one read-only tool (call, result, spoken summary), at
//! least `--min-per-kind` utterances of each, reported per kind. Needs a sound
//! server:
//!
//! `scripts/with-headless-audio.sh $CARGO_TARGET_DIR/release/voice_to_voice --llm instant`
//! after `cargo build --release -p aios-agent` and
//! `cargo build --release -p aios-benches --bin voice_to_voice` (two commands: with
//! `--bin`, cargo builds only the named binaries of every package named)
//! (`--llm local` also needs `-p aios-llm`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aios_benches::target_dir;
use aios_common::ipc::client::IpcClient;
use aios_common::ipc::{ClientKind, IpcMessage, PttRequest, TranscriptKind, VoiceState};
use anyhow::{Context, Result, bail, ensure};
use clap::{Parser, ValueEnum};
use serde_json::json;
use uuid::Uuid;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum Llm {
    Instant,
    Local,
}

#[derive(Parser)]
struct Args {
    /// Which model answers.
    #[arg(long, value_enum, default_value = "instant")]
    llm: Llm,
    /// Utterances per fixture (instant model: every fixture).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Local model: at least this many utterances of each kind measured (`none`,
    /// `read`), spread evenly over that kind's fixtures.
    #[arg(long, default_value_t = 20)]
    min_per_kind: usize,
    /// Recognition threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: u32,
}

/// A 10 ms block of the sink's monitor louder than this (of 32767) is speech.
const LOUD: i16 = 300;
/// Longest wait for one utterance's reply to end.
const TURN: Duration = Duration::from_secs(120);
/// The instant model's reply: two sentences, spoken one after the other.
const REPLY: &str = "Sure, that is done now. Anything else I can do for you today?";

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A helper that ends when its standard input closes and stops its own children
/// then (killing it would leave them running).
struct StdinClosed(Child);

impl Drop for StdinClosed {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

/// The first loud block after `armed` was set, timed as its bytes arrived.
#[derive(Default)]
struct SinkWatch {
    armed: bool,
    loud_at: Option<Instant>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    ensure!(
        runtime.is_some_and(|r| r.join("pipewire-0").exists()),
        "no PipeWire here: run me under scripts/with-headless-audio.sh"
    );
    let bin = std::env::current_exe()?;
    let agent = bin.parent().context("bin dir")?.join("aios-agent");
    ensure!(
        agent.is_file(),
        "build it first: cargo build --release -p aios-agent"
    );
    let root = aios_benches::workspace_root();
    let fixtures = root.join("benches/fixtures/commands");
    let tmp = tempfile::tempdir()?;
    let t = tmp.path();
    for d in ["home", "config/aios", "state", "data"] {
        std::fs::create_dir_all(t.join(d))?;
    }
    // A home as a person has one, for the read-only tool commands: a Documents
    // folder with a few files, and (below) a system bus with NetworkManager's Wi-Fi
    // and UPower's battery. Without them the tools fail and the model talks about
    // the failure, which is not the turn being measured.
    let docs = t.join("home/Documents");
    std::fs::create_dir_all(docs.join("photos"))?;
    for (name, text) in [
        ("notes.txt", "Call the dentist on Friday.\n"),
        ("report.pdf", "%PDF-1.4\n"),
        ("todo.txt", "Buy milk.\n"),
    ] {
        std::fs::write(docs.join(name), text)?;
    }
    let mut bus = Command::new("/usr/bin/python3")
        .arg(root.join("benches/mock-system-bus.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("/usr/bin/python3 benches/mock-system-bus.py (python3-dbusmock: `make setup`)")?;
    let mut bus_address = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(bus.stdout.take().context("bus stdout")?),
        &mut bus_address,
    )?;
    ensure!(
        !bus_address.trim().is_empty(),
        "benches/mock-system-bus.py gave no bus address"
    );
    let _bus = StdinClosed(bus);

    let mut _model = None;
    let provider = match args.llm {
        Llm::Instant => {
            std::fs::write(t.join("reply.txt"), REPLY)?;
            let pieces = REPLY.len().div_ceil(4).to_string();
            let mut c = Command::new("python3")
                .arg(root.join("benches/sse-model.py"))
                .args([pieces.as_str(), "10000"])
                .arg(t.join("times"))
                .arg(t.join("reply.txt"))
                .stdout(Stdio::piped())
                .spawn()
                .context("python3 benches/sse-model.py")?;
            let mut port = String::new();
            let mut out = c.stdout.take().context("model stdout")?;
            let mut byte = [0u8; 1];
            while out.read(&mut byte)? == 1 && byte[0] != b'\n' {
                port.push(byte[0] as char);
            }
            _model = Some(Killed(c));
            format!(
                "type = \"openai\"\nbase_url = \"http://127.0.0.1:{}\"\napi_key = \"sk-bench\"\n",
                port.trim()
            )
        }
        Llm::Local => "type = \"local\"\n".to_owned(),
    };
    std::fs::write(
        t.join("config/aios/agent.toml"),
        format!(
            "[provider]\n{provider}\n[agent]\nkeep_history = false\n\n[voice]\nthreads = {}\n",
            args.threads
        ),
    )?;
    let socket = t.join("agent.sock");
    let mut cmd = Command::new(&agent);
    cmd.env("HOME", t.join("home"))
        .env("XDG_CONFIG_HOME", t.join("config"))
        .env("XDG_STATE_HOME", t.join("state"))
        .env("XDG_DATA_HOME", t.join("data"))
        .env("AIOS_SOCKET", &socket)
        .env("AIOS_MODELS_DIR", root.join("models"))
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus_address.trim())
        // `AIOS_BENCH_AGENT_LOG=FILE` keeps the agent's (and its worker's) log, at
        // `RUST_LOG` (default warn), to see where a slow turn spent its time.
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stderr(match std::env::var_os("AIOS_BENCH_AGENT_LOG") {
            Some(f) => Stdio::from(std::fs::File::create(f).context("AIOS_BENCH_AGENT_LOG")?),
            None => Stdio::null(),
        });
    let started = Instant::now();
    let _agent = Killed(cmd.spawn().context("start aios-agent")?);

    let sink = Arc::new(Mutex::new(SinkWatch::default()));
    let _monitor = watch_sink(sink.clone())?;

    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let mut client =
            IpcClient::new(&socket, ClientKind::Test).with_idle_timeout(Duration::from_secs(300));
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Err(e) = client.connect().await {
            // A stale agent binary speaks another protocol: say so, not "no socket".
            ensure!(
                !matches!(e, aios_common::ipc::client::ClientError::Rejected(_)),
                "the agent refused the bench ({e}); rebuild it: cargo build --release -p aios-agent"
            );
            ensure!(Instant::now() < deadline, "the agent did not open its socket");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Warm: the voice models load in the background, the local model decodes its
        // prefix; the first utterances wait for them and are not counted.
        let warmup = fixtures.join("01-piper.wav");
        let loading = Instant::now() + Duration::from_secs(120);
        let mut warmed = 0;
        while warmed < 3 {
            match utterance(&mut client, &warmup, &sink).await {
                Ok(_) => warmed += 1,
                // "the voice models are still loading": ask again.
                Err(e) if Instant::now() < loading && e.to_string().starts_with("press") => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e),
            }
        }
        let ready_s = started.elapsed().as_secs_f64();
        println!("agent up and warm after {ready_s:.1} s (3 utterances)");

        let all_fixtures = aios_benches::fixtures()?;
        // The local model is measured per kind: the goals differ for an answer
        // with no tool and a read-only tool turn.
        let kinds: &[&str] = match args.llm {
            Llm::Instant => &[],
            Llm::Local => &["none", "read"],
        };
        let mut rows = Vec::new();
        let mut all: [Vec<u64>; 4] = Default::default();
        let mut by_kind: std::collections::BTreeMap<String, [Vec<u64>; 4]> = Default::default();
        println!(
            "\n| fixture | kind | words | heard | final p50 | first token p50 | handed to output p50 | through the sink p50 |\n|---|---|---|---|---|---|---|---|"
        );
        for fx in &all_fixtures {
            let reps = if kinds.is_empty() {
                args.reps
            } else if kinds.contains(&fx.kind.as_str()) {
                let n = all_fixtures.iter().filter(|f| f.kind == fx.kind).count();
                args.min_per_kind.div_ceil(n).max(args.reps)
            } else {
                continue;
            };
            let mut per: [Vec<u64>; 4] = Default::default();
            let mut heard = String::new();
            for _ in 0..reps {
                let u = utterance(&mut client, &fx.path, &sink).await?;
                let kind = by_kind.entry(fx.kind.clone()).or_default();
                for (k, v) in [u.final_ms, u.token_ms, u.handed_ms, u.sink_ms]
                    .into_iter()
                    .enumerate()
                {
                    per[k].push(v);
                    all[k].push(v);
                    kind[k].push(v);
                }
                heard = u.heard;
            }
            let p = per.map(|v| pct(v, 50));
            println!(
                "| {} | {} | {} | {heard} | {} ms | {} ms | {} ms | {} ms |",
                fx.file, fx.kind, fx.words, p[0], p[1], p[2], p[3]
            );
            rows.push(json!({"file": fx.file, "kind": fx.kind, "words": fx.words, "heard": heard,
                "reps": reps, "final_p50_ms": p[0], "token_p50_ms": p[1], "handed_p50_ms": p[2], "sink_p50_ms": p[3]}));
        }
        let n = all[0].len();
        let names = ["final transcript", "first token", "handed to output", "through the sink"];
        let keys = ["final", "token", "handed", "sink"];
        let summarize = |title: &str, v: &[Vec<u64>; 4]| {
            println!("\n{title}, from the release:\n\n| stage | p50 | p95 |\n|---|---|---|");
            let mut m = serde_json::Map::new();
            for k in 0..4 {
                let (a, b) = (pct(v[k].clone(), 50), pct(v[k].clone(), 95));
                println!("| {} | {a} ms | {b} ms |", names[k]);
                m.insert(format!("{}_p50_ms", keys[k]), json!(a));
                m.insert(format!("{}_p95_ms", keys[k]), json!(b));
            }
            m.insert("utterances".into(), json!(v[0].len()));
            m
        };
        let mut summary = summarize(&format!("All {n} utterances ({:?})", args.llm), &all);
        let mut kinds_json = serde_json::Map::new();
        for (kind, v) in &by_kind {
            let title = format!("Kind `{kind}`: {} utterances ({:?})", v[0].len(), args.llm);
            kinds_json.insert(kind.clone(), summarize(&title, v).into());
        }
        if args.llm == Llm::Instant {
            // The agent is idle now; the floor runs beside it in this process.
            let floor = compute_floor(&all_fixtures, args.reps, args.threads)?;
            let v2v = pct(all[3].clone(), 50);
            let over = v2v as i64 - floor as i64;
            let pct_over = over as f64 * 100.0 / floor.max(1) as f64;
            println!(
                "\nCompute floor (standalone STT of the command + TTS of the reply's first sentence, p50 over fixtures): {floor} ms; voice to voice {v2v} ms; ours over the floor: {over} ms ({pct_over:.0}%)"
            );
            summary.insert("compute_floor_p50_ms".into(), json!(floor));
            summary.insert("overhead_ms".into(), json!(over));
            summary.insert("overhead_pct".into(), json!(pct_over));
        }
        let llm = format!("{:?}", args.llm).to_lowercase();
        let out = target_dir().join(format!("bench/voice-to-voice-{llm}.json"));
        std::fs::create_dir_all(out.parent().context("bench dir")?)?;
        let v = json!({"llm": llm, "utterances": n, "reps": args.reps, "ready_s": ready_s,
            "stages": summary, "by_kind": kinds_json, "fixtures": rows,
            "loadavg": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()});
        std::fs::write(&out, serde_json::to_string_pretty(&v)?)?;
        println!("\nJSON in {}", out.display());
        Ok(())
    })
}

/// What the work itself costs without any of ours around it: per fixture, the p50
/// of whisper (the agent's model and settings) on the command and of Piper on the
/// reply's first sentence, added; the median over the fixtures.
fn compute_floor(fixtures: &[aios_benches::Fixture], reps: usize, threads: u32) -> Result<u64> {
    use aios_voice::{Stt, SttConfig, Tts};
    let model = aios_common::models::find_model("ggml-base.bin").context("run `make models`")?;
    let stt = Stt::load(
        &model,
        SttConfig {
            threads,
            language: "en".into(),
            ..SttConfig::default()
        },
    )?;
    let voice =
        aios_common::models::find_model("en_US-joe-medium.onnx").context("run `make models`")?;
    let mut tts = Tts::load(&voice)?;
    let first = REPLY.split_inclusive('.').next().unwrap_or(REPLY).trim();
    let _ = tts.synthesize(first)?;
    let speak: Vec<u64> = (0..reps.max(3))
        .map(|_| tts.synthesize(first).map(|s| s.elapsed_ms))
        .collect::<Result<_, _>>()?;
    let speak = pct(speak, 50);
    let mut floors = Vec::new();
    for fx in fixtures {
        let audio = aios_voice::audio::read_wav_16k(&fx.path)?;
        let _ = stt.transcribe(&audio)?;
        let hear: Vec<u64> = (0..reps.max(3))
            .map(|_| stt.transcribe(&audio).map(|t| t.elapsed_ms))
            .collect::<Result<_, _>>()?;
        floors.push(pct(hear, 50) + speak);
    }
    Ok(pct(floors, 50))
}

fn pct(mut v: Vec<u64>, p: usize) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[((v.len() - 1) * p).div_ceil(100)]
}

/// Reads the speaker sink's monitor as 16 kHz mono in 10 ms blocks, noting when
/// the first loud one arrives after the watch is armed.
fn watch_sink(watch: Arc<Mutex<SinkWatch>>) -> Result<Killed> {
    let mut child = Command::new("pw-record")
        // The sink's monitor, not a source of that name.
        .args(["-P", "stream.capture.sink=true", "--target", "aios-speaker"])
        .args(["--rate", "16000", "--channels", "1"])
        .args(["--format", "s16", "--latency", "10ms", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("pw-record (PipeWire's tools) is missing: run `make setup`")?;
    let mut out = child.stdout.take().context("pw-record stdout")?;
    std::thread::spawn(move || {
        let mut block = [0u8; 320];
        while out.read_exact(&mut block).is_ok() {
            let loud = block
                .chunks_exact(2)
                .any(|s| i16::from_le_bytes([s[0], s[1]]).saturating_abs() > LOUD);
            if loud {
                let mut w = watch.lock().unwrap_or_else(|e| e.into_inner());
                if w.armed && w.loud_at.is_none() {
                    w.loud_at = Some(Instant::now());
                }
            }
        }
    });
    Ok(Killed(child))
}

struct Timed {
    heard: String,
    final_ms: u64,
    token_ms: u64,
    handed_ms: u64,
    sink_ms: u64,
}

/// One push-to-talk utterance of `wav`; the times from the release.
async fn utterance(client: &mut IpcClient, wav: &Path, sink: &Mutex<SinkWatch>) -> Result<Timed> {
    let press = Uuid::new_v4();
    client
        .send(&IpcMessage::PttStart(PttRequest { request_id: press }))
        .await?;
    loop {
        match client.recv().await? {
            IpcMessage::VoiceState(s) if s.state == VoiceState::Listening => break,
            IpcMessage::Error(e) if e.request_id == Some(press) => bail!("press: {}", e.message),
            _ => {}
        }
    }
    let played = tokio::process::Command::new("pw-play")
        .args(["--target", "aios-mic-in"])
        .arg(wav)
        .status()
        .await
        .context("pw-play")?;
    ensure!(played.success(), "pw-play {} failed", wav.display());
    *sink.lock().unwrap_or_else(|e| e.into_inner()) = SinkWatch {
        armed: true,
        loud_at: None,
    };
    let release = Instant::now();
    let ms = |at: Instant| at.duration_since(release).as_millis() as u64;
    client
        .send(&IpcMessage::PttStop(PttRequest {
            request_id: Uuid::new_v4(),
        }))
        .await?;
    let (mut heard, mut final_at, mut token_at, mut handed_at) = (None, None, None, None);
    let deadline = release + TURN;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(msg) = tokio::time::timeout(left, client.recv()).await else {
            bail!("no reply within {TURN:?} to {}", wav.display());
        };
        match msg? {
            IpcMessage::Transcript(t) if t.kind == TranscriptKind::Final => {
                final_at = Some(Instant::now());
                ensure!(!t.text.is_empty(), "{} was heard as nothing", wav.display());
                heard = Some(t.text);
            }
            IpcMessage::StreamChunk(c) if token_at.is_none() && !c.delta.is_empty() => {
                token_at = Some(Instant::now());
            }
            IpcMessage::VoiceState(s) if s.state == VoiceState::Speaking => {
                handed_at.get_or_insert(Instant::now());
            }
            IpcMessage::VoiceState(s) if s.state == VoiceState::Idle && handed_at.is_some() => {
                break;
            }
            _ => {}
        }
    }
    let loud_at = sink.lock().unwrap_or_else(|e| e.into_inner()).loud_at;
    let final_at = final_at.context("no final transcript")?;
    Ok(Timed {
        heard: heard.unwrap_or_default(),
        final_ms: ms(final_at),
        // A reply that was only a tool call has its first words after the result.
        token_ms: token_at.map_or(0, ms),
        handed_ms: handed_at.map_or(0, ms),
        sink_ms: loud_at.map_or(0, ms),
    })
}
