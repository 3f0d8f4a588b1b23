//! `llm_bench`: latency and tool-call accuracy of the local models, measured through
//! the real `aios-llm` worker over its stdin/stdout protocol.
//!
//! Two parts, each per model (and per system prompt given with `--prompt`):
//!
//! - **latency**: time to first token with an empty KV cache (a fresh worker, no
//!   `warm`) and with the system prompt cached (after `warm`, each question a fresh
//!   system + user conversation so that only the user turn is new), plus prefill and
//!   generation speed. Medians over `--reps` repetitions.
//! - **score**: the spoken-style commands of `benches/data/toolcalls.jsonl`, each a
//!   fresh conversation after `warm`, greedy; a command passes when the model calls
//!   the expected tool with the expected key arguments (or no tool when none is
//!   expected). See [`judge`] for the matching rules.
//! - **conversation** (`--conversation`): the same commands said one after another
//!   in one running conversation, with the context the agent builds
//!   (`aios_agent::context`: history window, shaping) and realistic outcomes in
//!   between (a call runs, is denied at the prompt, or fails; the model then closes
//!   the turn in words). Scored per command like the fresh part, side by side.
//!
//! Results go to `$CARGO_TARGET_DIR/bench/` (default `target/bench/`) as JSON, and a
//! summary in Markdown tables to stdout. Progress goes to stderr.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aios_agent::context::{self, Shape};
use aios_agent::llm::local::to_worker_message;
use aios_benches::{target_dir, workspace_root};
use aios_common::types::{Role as HRole, ToolCall, TrustLevel};
use aios_llm::{
    CallSpec, Message, Role, Sampling, Stats, Stop, ToolSpec, WorkerEvent, WorkerRequest,
};
use aios_memory::{ConversationId, StoredMessage};
use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, ValueEnum};
use serde::Deserialize;
use serde_json::{Value, json};

/// The two GGUFs `make models` fetches, by short name.
const MODEL_ALIASES: [(&str, &str); 2] = [
    ("0.5b", "models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
    ("1.5b", "models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
];

/// One-line questions for the latency part; none needs a tool. Cold and warm
/// repetitions take different ones, so no user turn is ever found in the cache.
const QUESTIONS: [&str; 20] = [
    "What is the tallest mountain in the world?",
    "Why is the sky blue?",
    "Who painted the Mona Lisa?",
    "How far away is the Moon?",
    "What is the boiling point of water at sea level?",
    "Who was the first person to walk on the Moon?",
    "What is the speed of light?",
    "Why do leaves change colour in autumn?",
    "What is the largest planet in our solar system?",
    "How many bones are in the human body?",
    "What is the largest ocean on Earth?",
    "Who invented the telephone?",
    "How many legs does a spider have?",
    "What is photosynthesis?",
    "What language is spoken in Brazil?",
    "Why do cats purr?",
    "What causes thunder?",
    "Who discovered penicillin?",
    "How long does light from the Sun take to reach Earth?",
    "What is the smallest country in the world?",
];

/// Longest reply in the latency part: enough tokens to measure generation speed.
const LATENCY_MAX_TOKENS: u32 = 64;

/// How long one request may take before the worker is declared stuck.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);

/// Local LLM benchmarks: cold/warm time to first token and tool-call score, through
/// the real aios-llm worker.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Models: `0.5b`, `1.5b` or GGUF paths, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.5b,1.5b")]
    models: Vec<String>,
    /// System prompt file; repeat to compare variants. `{home}` is replaced by
    /// `--home`. Default: crates/aios-agent/system_prompt.txt.
    #[arg(long)]
    prompt: Vec<PathBuf>,
    /// Run only one part.
    #[arg(long)]
    only: Option<Part>,
    /// Repetitions of each latency measurement.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// The aios-llm worker binary. Default: $CARGO_TARGET_DIR/release/aios-llm.
    #[arg(long)]
    worker: Option<PathBuf>,
    /// Home folder the prompt and the expected paths use.
    #[arg(long, default_value = "/home/user")]
    home: String,
    /// Worker inference threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: u32,
    /// Longest reply per command in the score part.
    #[arg(long, default_value_t = 96)]
    max_tokens: u32,
    /// Tool definitions (a JSON list). Default: the ones the agent ships
    /// (`aios_mcp::tools::builtin()`); `benches/data/tools.json` holds the hand-written
    /// set the prompt study started from.
    #[arg(long)]
    tools: Option<PathBuf>,
    /// Scored command sets; repeat for several. Default: benches/data/toolcalls.jsonl
    /// and benches/data/toolcalls-indirect.jsonl.
    #[arg(long)]
    commands: Vec<PathBuf>,
    /// Also score each set in one running conversation.
    #[arg(long)]
    conversation: bool,
    /// History shapes for the conversation part: `agent` (what the agent sends the
    /// local model), `raw` (the history unshaped), `compact`, `remind`, `memo`.
    #[arg(long, value_delimiter = ',', default_value = "agent")]
    shapes: Vec<String>,
    /// Output folder. Default: $CARGO_TARGET_DIR/bench.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    Latency,
    Score,
}

/// One scored command.
#[derive(Debug, Clone, Deserialize)]
struct Item {
    /// What the person says.
    say: String,
    /// The expected tool, or none.
    tool: Option<String>,
    /// Key arguments that must match; a key ending in `~` means "contains".
    #[serde(default)]
    args: serde_json::Map<String, Value>,
}

/// A system prompt variant.
struct Prompt {
    name: String,
    file: PathBuf,
    text: String,
}

/// A model under test.
struct Model {
    name: String,
    file: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let root = workspace_root();
    let target = target_dir();
    let worker_bin = args
        .worker
        .clone()
        .unwrap_or_else(|| target.join("release/aios-llm"));
    if !worker_bin.is_file() {
        bail!(
            "worker binary {} not found; build it with `cargo build --release -p aios-llm` or pass --worker",
            worker_bin.display()
        );
    }
    let out_dir = args.out.clone().unwrap_or_else(|| target.join("bench"));
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;

    let tools: Vec<ToolSpec> = match &args.tools {
        Some(tools_file) => serde_json::from_str(
            &std::fs::read_to_string(tools_file)
                .with_context(|| format!("cannot read {}", tools_file.display()))?,
        )
        .with_context(|| format!("{} is not a list of tools", tools_file.display()))?,
        None => aios_mcp::tools::builtin()
            .definitions()
            .into_iter()
            .map(|d| ToolSpec {
                name: d.name,
                description: d.description,
                parameters: d.parameters,
            })
            .collect(),
    };
    let command_files = if args.commands.is_empty() {
        vec![
            root.join("benches/data/toolcalls.jsonl"),
            root.join("benches/data/toolcalls-indirect.jsonl"),
        ]
    } else {
        args.commands.clone()
    };
    let mut sets = Vec::new();
    for file in &command_files {
        let items = load_items(file)?;
        check_items(&items, &tools)?;
        let name = file
            .file_stem()
            .map_or_else(|| "commands".into(), |s| s.to_string_lossy().into_owned());
        sets.push((name, items));
    }
    let shapes = args
        .shapes
        .iter()
        .map(|n| shape_named(n).map(|s| (n.clone(), s)))
        .collect::<Result<Vec<_>>>()?;
    let prompt_files = if args.prompt.is_empty() {
        vec![root.join("crates/aios-agent/system_prompt.txt")]
    } else {
        args.prompt.clone()
    };
    let prompts = prompt_files
        .iter()
        .map(|f| load_prompt(f, &args.home))
        .collect::<Result<Vec<_>>>()?;
    let models = args
        .models
        .iter()
        .map(|m| resolve_model(&root, m))
        .collect::<Result<Vec<_>>>()?;

    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let bench = Bench {
        worker_bin,
        threads: args.threads,
        tools,
        registry: aios_mcp::tools::builtin(),
    };
    let load_at_start = loadavg();
    let busy = cpu_busy(Duration::from_secs(1));
    if busy > 0.2 {
        eprintln!(
            "warning: the CPUs were {:.0}% busy before the bench started; other work on this machine skews the timings",
            busy * 100.0
        );
    }
    let mut meta = json!({
        "unix_time": stamp,
        "cpu_busy_before_start": busy,
        "loadavg_at_start": load_at_start,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "worker": bench.worker_bin,
        "home": args.home,
        "tools_file": args.tools.as_ref().map_or_else(|| "aios_mcp::tools::builtin()".to_owned(), |p| p.display().to_string()),
        "tool_count": bench.tools.len(),
    });

    let mut summary = String::new();
    if args.only != Some(Part::Score) {
        meta["loadavg_before_latency"] = json!(loadavg());
        let mut rows = Vec::new();
        for model in &models {
            for prompt in &prompts {
                rows.push(bench.latency(model, prompt, args.reps)?);
            }
        }
        summary.push_str(&latency_table(&rows, args.reps));
        meta["loadavg_after_latency"] = json!(loadavg());
        let report = json!({"meta": meta, "reps": args.reps, "max_tokens": LATENCY_MAX_TOKENS, "results": rows});
        write_json(&out_dir, "llm-latency", stamp, &report)?;
    }
    if args.only != Some(Part::Latency) {
        meta["loadavg_before_score"] = json!(loadavg());
        let mut all = Vec::new();
        for (set, items) in &sets {
            let mut rows = Vec::new();
            for model in &models {
                rows.extend(bench.score(model, &prompts, items, &args.home, args.max_tokens)?);
            }
            summary.push_str(&format!("\n# Command set `{set}`\n"));
            summary.push_str(&score_tables(&rows, items.len()));
            let mut running = Vec::new();
            if args.conversation {
                for model in &models {
                    for prompt in &prompts {
                        for (name, shape) in &shapes {
                            running.push(bench.conversation(
                                model,
                                prompt,
                                items,
                                &args.home,
                                args.max_tokens,
                                name,
                                *shape,
                            )?);
                        }
                    }
                }
                summary.push_str(&conversation_table(&rows, &running));
            }
            all.push(json!({"set": set, "fresh": rows, "running": running}));
        }
        meta["loadavg_after_score"] = json!(loadavg());
        let report = json!({
            "meta": meta,
            "commands_files": command_files,
            "max_tokens": args.max_tokens,
            "results": all,
        });
        write_json(&out_dir, "llm-score", stamp, &report)?;
    }
    let total = started.elapsed().as_secs_f64();
    println!("{summary}");
    println!(
        "Total bench time: {:.0} s (load average {:?} at start, {:?} at end). JSON results in {}.",
        total,
        load_at_start,
        loadavg(),
        out_dir.display()
    );
    Ok(())
}

/// The 1, 5 and 15 minute load averages: other work on the machine skews timings.
fn loadavg() -> Vec<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .filter_map(|x| x.parse().ok())
        .collect()
}

/// The fraction of CPU time spent busy (all cores) over `span`, from /proc/stat.
fn cpu_busy(span: Duration) -> f64 {
    fn sample() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let fields: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        let total: u64 = fields.iter().sum();
        // idle + iowait
        let idle = fields.get(3)? + fields.get(4).unwrap_or(&0);
        Some((total, idle))
    }
    let Some((t0, i0)) = sample() else {
        return f64::NAN;
    };
    std::thread::sleep(span);
    let Some((t1, i1)) = sample() else {
        return f64::NAN;
    };
    let total = t1.saturating_sub(t0);
    if total == 0 {
        return f64::NAN;
    }
    1.0 - i1.saturating_sub(i0) as f64 / total as f64
}

fn load_items(file: &Path) -> Result<Vec<Item>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{} line {}: not a command", file.display(), n + 1))
        })
        .collect()
}

/// Every expected tool and argument must exist, or the data has a typo.
fn check_items(items: &[Item], tools: &[ToolSpec]) -> Result<()> {
    for item in items {
        let Some(name) = &item.tool else { continue };
        let tool = tools
            .iter()
            .find(|t| &t.name == name)
            .ok_or_else(|| anyhow!("{:?} expects unknown tool {name}", item.say))?;
        for key in item.args.keys() {
            let key = key.trim_end_matches('~');
            if tool.parameters["properties"].get(key).is_none() {
                bail!("{:?} expects unknown argument {name}.{key}", item.say);
            }
        }
    }
    Ok(())
}

fn load_prompt(file: &Path, home: &str) -> Result<Prompt> {
    let raw =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    // The same substitution as the agent's prompt loader.
    let text = raw
        .replace("{home}", home.trim_end_matches('/'))
        .trim()
        .to_owned();
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "prompt".into());
    Ok(Prompt {
        name,
        file: file.to_path_buf(),
        text,
    })
}

fn resolve_model(root: &Path, spec: &str) -> Result<Model> {
    let file = MODEL_ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(spec.trim()))
        .map_or_else(|| PathBuf::from(spec.trim()), |(_, f)| root.join(f));
    if !file.is_file() {
        bail!("model {} not found; run `make models`", file.display());
    }
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = stem
        .strip_suffix("-q4_k_m")
        .unwrap_or(&stem)
        .replace("-instruct", "");
    Ok(Model { name, file })
}

fn write_json(dir: &Path, name: &str, stamp: u64, value: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    for file in [
        dir.join(format!("{name}.json")),
        dir.join(format!("{name}-{stamp}.json")),
    ] {
        std::fs::write(&file, &text).with_context(|| format!("cannot write {}", file.display()))?;
    }
    eprintln!("wrote {}", dir.join(format!("{name}.json")).display());
    Ok(())
}

// ---------------------------------------------------------------------------
// The worker, driven over its protocol.

/// A running `aios-llm` worker.
struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    events: Receiver<(Instant, String)>,
    next_id: u64,
    /// From spawning to `ready`.
    startup_ms: f64,
    /// Model load time the worker reported.
    load_ms: f64,
    threads: u32,
}

/// What one `generate` produced.
struct Outcome {
    text: String,
    calls: Vec<CallSpec>,
    call_errors: Vec<String>,
    stop: Stop,
    stats: Stats,
    /// From writing the request to reading the first event.
    first_event_ms: f64,
    /// `delta`, `tool_call` or `done`.
    first_event: &'static str,
    /// From writing the request to reading `done`.
    total_ms: f64,
}

/// What `warm` reported.
struct Warmed {
    prefix_tokens: u32,
    prefill_tokens: u32,
    prefill_ms: f64,
    wall_ms: f64,
}

impl Worker {
    fn spawn(bin: &Path, model: &Path, threads: u32) -> Result<Self> {
        let started = Instant::now();
        let mut child = Command::new(bin)
            .arg("--model")
            .arg(model)
            .arg("--threads")
            .arg(threads.to_string())
            .env(
                "RUST_LOG",
                std::env::var("AIOS_WORKER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let stdout = child.stdout.take().context("worker stdout")?;
        let stdin = child.stdin.take();
        let (tx, events) = mpsc::channel();
        // A reader thread stamps each event the moment its line arrives.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let mut w = Self {
            child,
            stdin,
            events,
            next_id: 1,
            startup_ms: 0.0,
            load_ms: 0.0,
            threads: 0,
        };
        match w.next_event()? {
            (
                at,
                WorkerEvent::Ready {
                    load_ms, threads, ..
                },
            ) => {
                w.startup_ms = ms(at - started);
                w.load_ms = load_ms;
                w.threads = threads;
                Ok(w)
            }
            (_, other) => bail!("worker did not start: {other:?}"),
        }
    }

    fn send(&mut self, req: &WorkerRequest) -> Result<Instant> {
        let mut line = serde_json::to_string(req)?;
        line.push('\n');
        let stdin = self.stdin.as_mut().context("worker stdin closed")?;
        let at = Instant::now();
        stdin.write_all(line.as_bytes())?;
        stdin.flush()?;
        Ok(at)
    }

    /// The next event that is not prefill progress (progress is not a reply, so it
    /// must not count as the first event).
    fn next_event(&mut self) -> Result<(Instant, WorkerEvent)> {
        loop {
            let (at, ev) = self.next_raw_event()?;
            if !matches!(ev, WorkerEvent::Progress { .. }) {
                return Ok((at, ev));
            }
        }
    }

    fn next_raw_event(&mut self) -> Result<(Instant, WorkerEvent)> {
        match self.events.recv_timeout(REQUEST_TIMEOUT) {
            Ok((at, line)) => {
                let ev = serde_json::from_str(&line)
                    .with_context(|| format!("bad event from the worker: {line}"))?;
                Ok((at, ev))
            }
            Err(RecvTimeoutError::Timeout) => {
                bail!("the worker sent nothing for {REQUEST_TIMEOUT:?}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait()?;
                bail!("the worker exited ({status})")
            }
        }
    }

    fn warm(&mut self, system: &str, tools: &[ToolSpec]) -> Result<Warmed> {
        self.warm_messages(vec![message(Role::System, system)], tools, None)
    }

    fn warm_messages(
        &mut self,
        messages: Vec<Message>,
        tools: &[ToolSpec],
        ahead: Option<&str>,
    ) -> Result<Warmed> {
        let at = self.send(&WorkerRequest::Warm {
            messages,
            tools: tools.to_vec(),
            ahead: ahead.map(str::to_owned),
            alone: None,
        })?;
        match self.next_event()? {
            (
                done,
                WorkerEvent::Warmed {
                    prefix_tokens,
                    prefill_tokens,
                    prefill_ms,
                },
            ) => Ok(Warmed {
                prefix_tokens,
                prefill_tokens,
                prefill_ms,
                wall_ms: ms(done - at),
            }),
            (_, other) => bail!("warm failed: {other:?}"),
        }
    }

    /// A fresh conversation: the system prompt and one user message.
    fn ask(
        &mut self,
        system: &str,
        user: &str,
        tools: &[ToolSpec],
        max_tokens: u32,
    ) -> Result<Outcome> {
        let messages = vec![message(Role::System, system), message(Role::User, user)];
        self.ask_messages(messages, tools, max_tokens)
    }

    /// Any conversation, greedy.
    fn ask_messages(
        &mut self,
        messages: Vec<Message>,
        tools: &[ToolSpec],
        max_tokens: u32,
    ) -> Result<Outcome> {
        self.generate(messages, None, tools, max_tokens, false)
    }

    /// As the agent does after calls that need nothing of the computer
    /// (`aios_agent::needless`): `o` when it has another call or none, else the
    /// request asked again fresh for words (`no_calls`), its time added to `o`'s.
    fn words_if_needless(
        &mut self,
        system: &str,
        user: &str,
        tools: &[ToolSpec],
        max_tokens: u32,
        o: Outcome,
    ) -> Result<(Outcome, bool)> {
        let needless = o.call_errors.is_empty()
            && aios_agent::needless::all_need_no_computer(
                o.calls.iter().map(|c| (c.name.as_str(), &c.arguments)),
            );
        if !needless {
            return Ok((o, false));
        }
        let messages = vec![message(Role::System, system), message(Role::User, user)];
        let mut words = self.generate(messages, None, tools, max_tokens, true)?;
        // The person waited for both.
        words.total_ms += o.total_ms;
        words.first_event_ms += o.total_ms;
        words.stats.first_token_ms += o.total_ms;
        Ok((words, true))
    }

    /// One request; `fallback` is answered instead when the reply to `messages`
    /// would start in words (the agent's memo prompt and the request alone).
    fn generate(
        &mut self,
        messages: Vec<Message>,
        fallback: Option<Vec<Message>>,
        tools: &[ToolSpec],
        max_tokens: u32,
        no_calls: bool,
    ) -> Result<Outcome> {
        let id = self.next_id;
        self.next_id += 1;
        let at = self.send(&WorkerRequest::Generate {
            id,
            messages,
            tools: tools.to_vec(),
            sampling: Sampling {
                temperature: 0.0,
                max_tokens,
                seed: 0,
                no_calls,
            },
            fallback,
        })?;
        let mut text = String::new();
        let mut calls = Vec::new();
        let mut first: Option<(f64, &'static str)> = None;
        loop {
            let (when, ev) = self.next_event()?;
            let kind = match &ev {
                WorkerEvent::Delta { .. } => "delta",
                WorkerEvent::ToolCall { .. } => "tool_call",
                WorkerEvent::Done { .. } => "done",
                _ => "other",
            };
            if first.is_none() {
                first = Some((ms(when - at), kind));
            }
            match ev {
                WorkerEvent::Delta { id: i, text: t } if i == id => text.push_str(&t),
                WorkerEvent::ToolCall { id: i, call } if i == id => calls.push(call),
                WorkerEvent::Done {
                    id: i,
                    stop,
                    stats,
                    call_errors,
                } if i == id => {
                    let (first_event_ms, first_event) = first.unwrap_or((0.0, "done"));
                    return Ok(Outcome {
                        text,
                        calls,
                        call_errors,
                        stop,
                        stats,
                        first_event_ms,
                        first_event,
                        total_ms: ms(when - at),
                    });
                }
                WorkerEvent::Error { message, code, .. } => {
                    bail!("worker error {code:?}: {message}")
                }
                other => bail!("unexpected event {other:?}"),
            }
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // End of stdin makes the worker exit; kill it only if it does not.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn message(role: Role, content: &str) -> Message {
    Message {
        role,
        content: content.to_owned(),
        tool_calls: vec![],
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn per_second(tokens: u32, ms: f64) -> f64 {
    if ms > 0.0 {
        f64::from(tokens) * 1000.0 / ms
    } else {
        f64::NAN
    }
}

fn question(i: usize) -> String {
    let q = QUESTIONS[i % QUESTIONS.len()];
    match i / QUESTIONS.len() {
        0 => q.to_owned(),
        round => format!("{q} (question {round})"),
    }
}

// ---------------------------------------------------------------------------
// The two parts.

struct Bench {
    worker_bin: PathBuf,
    threads: u32,
    tools: Vec<ToolSpec>,
    /// The built-in tools: their spoken closings are the agent's.
    registry: aios_mcp::ToolRegistry,
}

impl Bench {
    fn latency(&self, model: &Model, prompt: &Prompt, reps: usize) -> Result<Value> {
        eprintln!(
            "latency: {} with prompt {} ({} reps)",
            model.name, prompt.name, reps
        );
        let reps = reps.max(1);
        let sample = |o: &Outcome, q: &str| {
            json!({
                "question": q,
                "reply": o.text,
                "tool_calls": o.calls,
                "stop": o.stop,
                "stats": o.stats,
                "first_event_ms": o.first_event_ms,
                "first_event": o.first_event,
                "total_ms": o.total_ms,
            })
        };
        // Cold: a fresh worker per repetition, nothing cached.
        let mut cold = Vec::new();
        let mut cold_json = Vec::new();
        let mut startup = Vec::new();
        for i in 0..reps {
            let mut w = Worker::spawn(&self.worker_bin, &model.file, self.threads)?;
            startup.push(w.startup_ms);
            let q = question(i);
            let o = w.ask(&prompt.text, &q, &self.tools, LATENCY_MAX_TOKENS)?;
            eprintln!(
                "  cold {}: first token {:.0} ms (worker), first event {:.0} ms ({}), {} prompt tokens, {} prefilled",
                i + 1,
                o.stats.first_token_ms,
                o.first_event_ms,
                o.first_event,
                o.stats.prompt_tokens,
                o.stats.prefill_tokens
            );
            cold_json.push(sample(&o, &q));
            cold.push(o);
        }
        // Warm: one worker, the system prompt decoded by `warm`, then fresh
        // conversations whose user turn is new each time.
        let mut w = Worker::spawn(&self.worker_bin, &model.file, self.threads)?;
        let system_with_tools = aios_llm::prompt::system_with_tools(&prompt.text, &self.tools);
        let warmed = w.warm(&prompt.text, &self.tools)?;
        eprintln!(
            "  warm: {} prefix tokens in {:.0} ms",
            warmed.prefix_tokens, warmed.prefill_ms
        );
        let mut warm = Vec::new();
        let mut warm_json = Vec::new();
        for i in 0..reps {
            let q = question(reps + i);
            let o = w.ask(&prompt.text, &q, &self.tools, LATENCY_MAX_TOKENS)?;
            eprintln!(
                "  warm {}: first token {:.0} ms (worker), first event {:.0} ms ({}), {} cached, {} prefilled, {} generated",
                i + 1,
                o.stats.first_token_ms,
                o.first_event_ms,
                o.first_event,
                o.stats.cached_tokens,
                o.stats.prefill_tokens,
                o.stats.generated_tokens
            );
            warm_json.push(sample(&o, &q));
            warm.push(o);
        }
        // Heard ahead: as while a person speaks, the question's words but the last
        // (a partial transcript) are decoded first, then the whole question comes;
        // and the whole question ahead (the early final pass at the end of speech).
        let mut ahead = Vec::new();
        let mut ahead_whole = Vec::new();
        let mut ahead_json = Vec::new();
        for i in 0..reps {
            for whole in [false, true] {
                // A question of its own each time: nothing of it is in the cache.
                let q = question(2 * reps + 2 * i + usize::from(whole));
                let heard = if whole {
                    q.as_str()
                } else {
                    q.rsplit_once(' ').map_or("", |(head, _)| head)
                };
                let system = vec![message(Role::System, &prompt.text)];
                let warmed = w.warm_messages(system, &self.tools, Some(heard))?;
                let o = w.ask(&prompt.text, &q, &self.tools, LATENCY_MAX_TOKENS)?;
                eprintln!(
                    "  heard {}: {} tokens ahead in {:.0} ms, then first token {:.0} ms (worker), {} prefilled",
                    if whole {
                        "whole"
                    } else {
                        "all but the last word"
                    },
                    warmed.prefill_tokens,
                    warmed.prefill_ms,
                    o.stats.first_token_ms,
                    o.stats.prefill_tokens
                );
                let mut j = sample(&o, &q);
                j["heard"] = json!(heard);
                j["ahead_prefill_ms"] = json!(warmed.prefill_ms);
                ahead_json.push(j);
                if whole {
                    ahead_whole.push(o);
                } else {
                    ahead.push(o);
                }
            }
        }
        let pick = |os: &[Outcome], f: &dyn Fn(&Outcome) -> f64| -> f64 {
            median(&os.iter().map(f).collect::<Vec<_>>())
        };
        let ahead_ttft = pick(&ahead, &|o| o.stats.first_token_ms);
        let ahead_whole_ttft = pick(&ahead_whole, &|o| o.stats.first_token_ms);
        let cold_ttft = pick(&cold, &|o| o.stats.first_token_ms);
        let warm_ttft = pick(&warm, &|o| o.stats.first_token_ms);
        let cold_event = pick(&cold, &|o| o.first_event_ms);
        let warm_event = pick(&warm, &|o| o.first_event_ms);
        let all: Vec<&Outcome> = cold.iter().chain(&warm).collect();
        let gen_tps = median(
            &all.iter()
                .filter(|o| o.stats.generated_tokens >= 8)
                .map(|o| per_second(o.stats.generated_tokens, o.stats.generate_ms))
                .collect::<Vec<_>>(),
        );
        let prefill_tps = pick(&cold, &|o| {
            per_second(o.stats.prefill_tokens, o.stats.prefill_ms)
        });
        // None of the questions needs a tool: a call is a false positive.
        let tool_calls = all
            .iter()
            .filter(|o| !o.calls.is_empty() || !o.call_errors.is_empty())
            .count();
        Ok(json!({
            "model": model.name,
            "model_file": model.file,
            "prompt": prompt.name,
            "questions": all.len(),
            "questions_answered_with_a_tool_call": tool_calls,
            "prompt_file": prompt.file,
            "system_chars": system_with_tools.len(),
            "prefix_tokens": warmed.prefix_tokens,
            "threads": w.threads,
            "startup_ms_p50": median(&startup),
            "worker_load_ms": w.load_ms,
            "warm_prefill_tokens": warmed.prefill_tokens,
            "warm_prefill_ms": warmed.prefill_ms,
            "warm_wall_ms": warmed.wall_ms,
            "cold_prompt_tokens_p50": pick(&cold, &|o| f64::from(o.stats.prompt_tokens)),
            "warm_prefill_tokens_p50": pick(&warm, &|o| f64::from(o.stats.prefill_tokens)),
            "cold_first_token_ms_p50": cold_ttft,
            "warm_first_token_ms_p50": warm_ttft,
            "heard_ahead_first_token_ms_p50": ahead_ttft,
            "heard_whole_first_token_ms_p50": ahead_whole_ttft,
            "heard_ahead_prefill_tokens_p50": pick(&ahead, &|o| f64::from(o.stats.prefill_tokens)),
            "cold_first_event_ms_p50": cold_event,
            "warm_first_event_ms_p50": warm_event,
            "cold_over_warm": cold_ttft / warm_ttft,
            "cold_over_warm_first_event": cold_event / warm_event,
            "generate_tokens_per_s_p50": gen_tps,
            "prefill_tokens_per_s_p50": prefill_tps,
            "cold": cold_json,
            "warm": warm_json,
            "heard_ahead": ahead_json,
        }))
    }

    fn score(
        &self,
        model: &Model,
        prompts: &[Prompt],
        items: &[Item],
        home: &str,
        max_tokens: u32,
    ) -> Result<Vec<Value>> {
        let mut w = Worker::spawn(&self.worker_bin, &model.file, self.threads)?;
        let mut rows = Vec::new();
        for prompt in prompts {
            let warmed = w.warm(&prompt.text, &self.tools)?;
            eprintln!(
                "score: {} with prompt {}: {} prefix tokens, decoded in {:.0} ms",
                model.name, prompt.name, warmed.prefix_tokens, warmed.prefill_ms
            );
            let mut results = Vec::new();
            let mut passed = 0;
            let (mut first, mut total, mut first_event, mut call_total) =
                (vec![], vec![], vec![], vec![]);
            for item in items {
                let o = w.ask(&prompt.text, &item.say, &self.tools, max_tokens)?;
                let (o, words) =
                    w.words_if_needless(&prompt.text, &item.say, &self.tools, max_tokens, o)?;
                let verdict = judge(item, &o, &self.tools, home);
                let ok = verdict.is_ok();
                passed += usize::from(ok);
                first.push(o.stats.first_token_ms);
                first_event.push(o.first_event_ms);
                total.push(o.total_ms);
                if !o.calls.is_empty() {
                    call_total.push(o.total_ms);
                }
                let got = describe(&o);
                eprintln!(
                    "  {} {:<58} {:>5.0} ms {:>6.0} ms  {}",
                    if ok { "ok  " } else { "MISS" },
                    item.say,
                    o.stats.first_token_ms,
                    o.total_ms,
                    got
                );
                results.push(json!({
                    "say": item.say,
                    "expected_tool": item.tool,
                    "expected_args": item.args,
                    "pass": ok,
                    "miss": verdict.err(),
                    "got": got,
                    "reply": o.text,
                    "tool_calls": o.calls,
                    "call_errors": o.call_errors,
                    "stop": o.stop,
                    "stats": o.stats,
                    "first_event_ms": o.first_event_ms,
                    "total_ms": o.total_ms,
                    "asked_for_words": words,
                }));
            }
            rows.push(json!({
                "model": model.name,
                "prompt": prompt.name,
                "prompt_file": prompt.file,
                "prefix_tokens": warmed.prefix_tokens,
                "prefix_prefill_ms": warmed.prefill_ms,
                "passed": passed,
                "total": items.len(),
                "score": passed as f64 / items.len().max(1) as f64,
                "first_token_ms_p50": median(&first),
                "first_event_ms_p50": median(&first_event),
                "call_ms_p50": median(&total),
                "tool_call_ms_p50": median(&call_total),
                "results": results,
            }));
        }
        Ok(rows)
    }
}

// ---------------------------------------------------------------------------
// The running conversation.

/// How a call made in the running conversation turns out, as a person and the
/// machine would have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Ran,
    Denied,
    Failed,
}

/// The fate of the `n`th call of a conversation: mostly run, with a denial at the
/// prompt every fourth and a failure every seventh, so both happen early and again.
fn fate(n: usize) -> Fate {
    match n % 7 {
        2 | 5 => Fate::Denied,
        4 => Fate::Failed,
        _ => Fate::Ran,
    }
}

/// What a tool returns when it ran, in the real tools' formats (the agent's spoken
/// closings read them).
fn ran_result(call: &CallSpec) -> String {
    let arg = |k: &str| {
        call.arguments
            .get(k)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .unwrap_or_default()
    };
    match call.name.as_str() {
        "volume" => format!("Volume set to {}% (PipeWire reports \"Volume: 0.30\")", arg("level")),
        "brightness" => format!("Brightness set to {}% (30 of 100 on intel_backlight)", arg("level")),
        "system_info" => "Local time: Saturday 5 December 2026, 12:30\nCPU: 4 cores, load average 0.31 (1 min)\nMemory: 3.1 GiB of 7.7 GiB free\nDisk (/home/ada): 41.0 GiB of 98.0 GiB free\nUptime: 3h 12m\nBattery: 76% (discharging)".into(),
        "file_list" => format!("{} (3 entries):\nphotos/\nnotes.txt (1200 bytes)\nreport.pdf (88000 bytes)", arg("path")),
        "file_read" => "Milk, eggs, bread. Call the bank on Tuesday.".into(),
        "file_search" => format!("1 matches:\n{}/found-it.txt", arg("path")),
        "file_write" => format!("Created {} ({} bytes)", arg("path"), arg("content").len()),
        "file_delete" => format!("Deleted {}", arg("path")),
        "wifi_list" => "2 networks:\nHomeNet (82%, password)\nCoffeeShop (60%, open)".into(),
        "wifi_connect" => format!("Connected to \"{}\"", arg("ssid")),
        "shell_exec" => "exit status 0\nok".into(),
        "open_url" => format!("Opened {}", arg("url")),
        other => format!("{other} done."),
    }
}

impl Bench {
    /// Scores `items` said one after another in one conversation, with the context
    /// the agent builds ([`aios_agent::context`]) and the outcomes of [`fate`] in
    /// between: each call is answered (run, denied at the prompt, or failed), the
    /// model closes the turn in words as it would for the person, and the next
    /// command follows.
    #[allow(clippy::too_many_arguments)]
    fn conversation(
        &self,
        model: &Model,
        prompt: &Prompt,
        items: &[Item],
        home: &str,
        max_tokens: u32,
        shape_name: &str,
        shape: Shape,
    ) -> Result<Value> {
        let mut w = Worker::spawn(&self.worker_bin, &model.file, self.threads)?;
        let warmed = w.warm(&prompt.text, &self.tools)?;
        eprintln!(
            "conversation: {} with prompt {}, shape {shape_name}: {} prefix tokens",
            model.name, prompt.name, warmed.prefix_tokens
        );
        let conv = ConversationId(1);
        let mut history: Vec<StoredMessage> = Vec::new();
        let mut calls_made = 0usize;
        let mut words_asked = 0usize;
        let mut passed = 0usize;
        let mut results = Vec::new();
        let (mut first, mut turn_ms) = (Vec::new(), Vec::new());
        let tool_names: Vec<String> = self.tools.iter().map(|t| t.name.clone()).collect();
        for (n, item) in items.iter().enumerate() {
            history.push(StoredMessage::new(
                conv,
                HRole::User,
                &item.say,
                TrustLevel::User,
            ));
            let memo_present = context::memo(&history[..history.len() - 1]).is_some();
            // As the agent does over a memo: the request alone is the fallback.
            let alone = (shape.memo && memo_present).then(|| {
                vec![
                    message(Role::System, &prompt.text),
                    message(Role::User, &item.say),
                ]
            });
            let ask = |w: &mut Worker, history: &[StoredMessage], max: u32, alone| {
                let fitted = context::fit(
                    history,
                    LOCAL_CONTEXT,
                    &prompt.text,
                    self.tools.len(),
                    max,
                    shape,
                );
                let messages: Vec<Message> = context::messages(&prompt.text, fitted, shape)
                    .iter()
                    .map(to_worker_message)
                    .collect();
                w.generate(messages, alone, &self.tools, max, false)
            };
            let mut o = ask(&mut w, &history, max_tokens, alone)?;
            // As the agent does with the memo: a first reply with no call is asked
            // again as a fresh conversation.
            let mut retried = o.stats.fell_back;
            let described = o.calls.is_empty() && context::describes_a_call(&o.text, &tool_names);
            if shape.memo
                && !memo_present
                && o.calls.is_empty()
                && o.call_errors.is_empty()
                && context::needs_fresh_retry(&o.text, &tool_names)
            {
                let again = w.ask(&prompt.text, &item.say, &self.tools, max_tokens)?;
                retried = true;
                let first_ms = o.total_ms;
                o = again;
                o.total_ms += first_ms;
            }
            let (o, asked_for_words) =
                w.words_if_needless(&prompt.text, &item.say, &self.tools, max_tokens, o)?;
            words_asked += usize::from(asked_for_words);
            let verdict = judge(item, &o, &self.tools, home);
            let ok = verdict.is_ok();
            passed += usize::from(ok);
            first.push(o.stats.first_token_ms);
            let mut total = o.total_ms;
            let got = describe(&o);
            let mut fate_seen = None;
            let mut closing = String::new();
            match o.calls.first() {
                Some(call) => {
                    let f = fate(calls_made);
                    calls_made += 1;
                    fate_seen = Some(f);
                    let id = format!("call_{n}");
                    let mut a =
                        StoredMessage::new(conv, HRole::Assistant, &o.text, TrustLevel::System);
                    // Stored as the agent stores it: secrets redacted.
                    let arguments = match self.tools.iter().find(|t| t.name == call.name) {
                        Some(t) => aios_mcp::redact(&t.parameters, &call.arguments),
                        None => call.arguments.clone(),
                    };
                    a.tool_calls = vec![ToolCall {
                        id: id.clone(),
                        name: call.name.clone(),
                        arguments,
                    }];
                    history.push(a);
                    let (content, is_error) = match f {
                        Fate::Ran => (ran_result(call), false),
                        Fate::Denied => (context::declined("denied at the prompt"), true),
                        Fate::Failed => (
                            "the tool failed: the device or resource is busy; try again later"
                                .to_owned(),
                            true,
                        ),
                    };
                    let mut t = StoredMessage::new(conv, HRole::Tool, &content, TrustLevel::System);
                    t.tool_call_id = Some(id);
                    t.tool_name = Some(call.name.clone());
                    t.is_error = is_error;
                    history.push(t);
                    // How it went, as the agent says it: in AIOS's words where the
                    // agent has them, else the model's.
                    let trust = match self.registry.get(&call.name) {
                        Some(t) if t.output_is_content() => TrustLevel::WebContent,
                        _ => TrustLevel::System,
                    };
                    let result = aios_common::types::ToolResult {
                        call_id: String::new(),
                        content: content.clone(),
                        is_error,
                    };
                    let said = shape
                        .memo
                        .then(|| {
                            context::spoken_for(
                                &self.registry,
                                &item.say,
                                &call.name,
                                &result,
                                trust,
                            )
                        })
                        .flatten();
                    closing = match said {
                        Some(said) => said,
                        None => {
                            let c = ask(&mut w, &history, CLOSING_MAX_TOKENS, None)?;
                            total += c.total_ms;
                            c.text.trim().to_owned()
                        }
                    };
                    history.push(StoredMessage::new(
                        conv,
                        HRole::Assistant,
                        &closing,
                        TrustLevel::System,
                    ));
                }
                None => history.push(StoredMessage::new(
                    conv,
                    HRole::Assistant,
                    o.text.trim(),
                    TrustLevel::System,
                )),
            }
            turn_ms.push(total);
            // As the agent does while the person is silent: decode what the next
            // request will start with (the system prompt and the memo).
            if shape.memo {
                let next: Vec<Message> = context::prefix(&prompt.text, &history)
                    .iter()
                    .map(to_worker_message)
                    .collect();
                w.warm_messages(next, &self.tools, None)?;
            }
            eprintln!(
                "  {} {:<58} {:>5.0} ms {:>6.0} ms  {}{}{}",
                match (ok, retried) {
                    (true, false) => "ok  ",
                    (true, true) => "ok2 ",
                    (false, _) => "MISS",
                },
                item.say,
                o.stats.first_token_ms,
                total,
                got,
                fate_seen.map(|f| format!(" -> {f:?}")).unwrap_or_default(),
                if closing.is_empty() {
                    String::new()
                } else {
                    format!(" / {closing:.60}")
                },
            );
            results.push(json!({
                "say": item.say,
                "expected_tool": item.tool,
                "pass": ok,
                "miss": verdict.err(),
                "got": got,
                "described_a_call": described,
                "asked_again": retried,
                "asked_for_words": asked_for_words,
                "fate": fate_seen.map(|f| format!("{f:?}")),
                "closing": closing,
                "first_token_ms": o.stats.first_token_ms,
                "prompt_tokens": o.stats.prompt_tokens,
                "cached_tokens": o.stats.cached_tokens,
                "turn_ms": total,
            }));
        }
        Ok(json!({
            "model": model.name,
            "prompt": prompt.name,
            "shape": shape_name,
            "passed": passed,
            "total": items.len(),
            "score": passed as f64 / items.len().max(1) as f64,
            "first_token_ms_p50": median(&first),
            "turn_ms_p50": median(&turn_ms),
            "asked_for_words": words_asked,
            "results": results,
        }))
    }
}

/// The local model's context window in the agent's default config.
const LOCAL_CONTEXT: usize = 4096;

/// Longest closing reply after a tool result (the agent's spoken summary is one or
/// two sentences).
const CLOSING_MAX_TOKENS: u32 = 48;

fn shape_named(name: &str) -> Result<Shape> {
    Ok(match name {
        "agent" => Shape::for_provider("local"),
        "raw" => Shape::RAW,
        "compact" => Shape {
            compact: true,
            ..Shape::RAW
        },
        "remind" => Shape {
            remind: true,
            ..Shape::RAW
        },
        "memo" => Shape {
            memo: true,
            ..Shape::RAW
        },
        other => bail!("unknown shape {other}: agent, raw, compact, remind or memo"),
    })
}

/// Fresh and running scores side by side.
fn conversation_table(fresh: &[Value], running: &[Value]) -> String {
    let mut s = String::from(
        "\n## Fresh conversation vs one running conversation\n\n\
         | model | prompt | shape | fresh | running | no-tool turns with a call | described a call | asked again fresh | running first token p50 | running turn p50 |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in running {
        let f = fresh
            .iter()
            .find(|f| f["model"] == r["model"] && f["prompt"] == r["prompt"]);
        let results = r["results"].as_array().cloned().unwrap_or_default();
        let no_tool: Vec<&Value> = results
            .iter()
            .filter(|x| x["expected_tool"].is_null())
            .collect();
        let called = no_tool
            .iter()
            .filter(|x| x["pass"].as_bool() == Some(false))
            .count();
        let described = results
            .iter()
            .filter(|x| x["described_a_call"].as_bool() == Some(true))
            .count();
        let again = results
            .iter()
            .filter(|x| x["asked_again"].as_bool() == Some(true))
            .count();
        s.push_str(&format!(
            "| {} | {} | {} | {} | {}/{} ({:.0}%) | {called}/{} | {described} | {again} | {:.0} ms | {:.0} ms |\n",
            r["model"].as_str().unwrap_or(""),
            r["prompt"].as_str().unwrap_or(""),
            r["shape"].as_str().unwrap_or(""),
            f.map_or_else(
                || "-".to_owned(),
                |f| format!("{}/{} ({:.0}%)", f["passed"], f["total"], num(f, "score") * 100.0)
            ),
            r["passed"],
            r["total"],
            num(r, "score") * 100.0,
            no_tool.len(),
            num(r, "first_token_ms_p50"),
            num(r, "turn_ms_p50"),
        ));
    }
    for r in running {
        s.push_str(&format!(
            "\nRunning misses, {} / {}:\n",
            r["model"].as_str().unwrap_or(""),
            r["shape"].as_str().unwrap_or("")
        ));
        for x in r["results"].as_array().into_iter().flatten() {
            if x["pass"].as_bool() == Some(false) {
                s.push_str(&format!(
                    "- \"{}\": expected {}; got {} ({})\n",
                    x["say"].as_str().unwrap_or(""),
                    x["expected_tool"].as_str().unwrap_or("no tool"),
                    x["got"].as_str().unwrap_or(""),
                    x["miss"].as_str().unwrap_or("").replace('\n', " ")
                ));
            }
        }
    }
    s
}

// ---------------------------------------------------------------------------
// Matching.

/// Whether `o` is the right answer to `item`; `Err` says what was wrong.
///
/// - A command that needs no tool passes when the reply has no tool call and no
///   unreadable call.
/// - Otherwise the reply must hold exactly one call, to the expected tool, using only
///   argument names from the tool's schema, and each expected argument must match:
///   - `path`: `~` and `~/` expand to the bench home, a trailing `/` is ignored;
///   - `level`: the same integer (a number, or a string of digits);
///   - `url`: scheme, a leading `www.`, a trailing `/` and letter case are ignored;
///   - a key ending in `~` (`command~`, `query~`, `content~`): the argument contains
///     each expected keyword (a string or a list of strings), ignoring case;
///   - anything else: the same JSON value (strings trimmed).
fn judge(item: &Item, o: &Outcome, tools: &[ToolSpec], home: &str) -> Result<(), String> {
    if !o.call_errors.is_empty() {
        return Err(format!("unreadable call: {}", o.call_errors.join("; ")));
    }
    let Some(expected) = &item.tool else {
        return match o.calls.as_slice() {
            [] => Ok(()),
            calls => Err(format!(
                "no tool expected, called {}",
                describe_calls(calls)
            )),
        };
    };
    let call = match o.calls.as_slice() {
        [] => return Err("no tool call".into()),
        [one] => one,
        calls => return Err(format!("{} calls: {}", calls.len(), describe_calls(calls))),
    };
    if &call.name != expected {
        return Err(format!("wrong tool {}", call.name));
    }
    let Some(args) = call.arguments.as_object() else {
        return Err("arguments are not an object".into());
    };
    let known = tools
        .iter()
        .find(|t| &t.name == expected)
        .and_then(|t| t.parameters["properties"].as_object());
    for name in args.keys() {
        if !known.is_some_and(|k| k.contains_key(name)) {
            return Err(format!("unknown argument {name}"));
        }
    }
    for (key, want) in &item.args {
        let (name, contains) = match key.strip_suffix('~') {
            Some(n) => (n, true),
            None => (key.as_str(), false),
        };
        let Some(got) = args.get(name) else {
            return Err(format!("missing argument {name}"));
        };
        let ok = if contains {
            contains_all(got, want)
        } else {
            match name {
                "path" => {
                    as_str(got).map(|g| norm_path(g, home))
                        == as_str(want).map(|w| norm_path(w, home))
                }
                "level" => as_int(got).is_some() && as_int(got) == as_int(want),
                "url" => as_str(got).map(norm_url) == as_str(want).map(norm_url),
                _ => trim_value(got) == trim_value(want),
            }
        };
        if !ok {
            return Err(format!("{name} is {got}, expected {want}"));
        }
    }
    Ok(())
}

fn as_str(v: &Value) -> Option<&str> {
    v.as_str().map(str::trim)
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn trim_value(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.trim().to_owned()),
        other => other.clone(),
    }
}

fn norm_path(p: &str, home: &str) -> String {
    let home = home.trim_end_matches('/');
    let p = if p == "~" {
        home.to_owned()
    } else if let Some(rest) = p.strip_prefix("~/") {
        format!("{home}/{rest}")
    } else {
        p.to_owned()
    };
    match p.trim_end_matches('/') {
        "" => "/".to_owned(),
        t => t.to_owned(),
    }
}

fn norm_url(u: &str) -> String {
    let u = u.trim().to_lowercase();
    let u = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"))
        .unwrap_or(&u);
    let u = u.strip_prefix("www.").unwrap_or(u);
    u.trim_end_matches('/').to_owned()
}

fn contains_all(got: &Value, want: &Value) -> bool {
    let hay = match got {
        Value::String(s) => s.to_lowercase(),
        other => other.to_string().to_lowercase(),
    };
    let needles: Vec<&str> = match want {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => return false,
    };
    !needles.is_empty() && needles.iter().all(|n| hay.contains(&n.to_lowercase()))
}

fn describe_calls(calls: &[CallSpec]) -> String {
    calls
        .iter()
        .map(|c| format!("{}{}", c.name, c.arguments))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the model did, in one line.
fn describe(o: &Outcome) -> String {
    let mut parts = Vec::new();
    if !o.calls.is_empty() {
        parts.push(describe_calls(&o.calls));
    }
    if !o.call_errors.is_empty() {
        parts.push(format!("unreadable: {}", o.call_errors.join("; ")));
    }
    if !o.text.is_empty() {
        let t: String = o.text.chars().take(70).collect();
        let t = t.replace('\n', " ");
        parts.push(format!(
            "says {t:?}{}",
            if o.text.chars().count() > 70 {
                "…"
            } else {
                ""
            }
        ));
    }
    if parts.is_empty() {
        parts.push("(empty reply)".into());
    }
    parts.join(" | ").replace('\n', " ")
}

// ---------------------------------------------------------------------------
// Summary tables.

fn num(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

fn latency_table(rows: &[Value], reps: usize) -> String {
    let mut s = format!(
        "\n## Latency (p50 of {reps}; first token = worker's first_token_ms, first event = request write to first event read)\n\n\
         | model | prompt | prefix tokens | cold first token | warm first token | heard ahead, all but the last word | heard whole | cold/warm | cold first event | warm first event | prefill tok/s | generate tok/s | tool calls on questions |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms | {:.1}x | {:.0} ms | {:.0} ms | {:.0} | {:.1} | {}/{} |\n",
            r["model"].as_str().unwrap_or(""),
            r["prompt"].as_str().unwrap_or(""),
            r["prefix_tokens"],
            num(r, "cold_first_token_ms_p50"),
            num(r, "warm_first_token_ms_p50"),
            num(r, "heard_ahead_first_token_ms_p50"),
            num(r, "heard_whole_first_token_ms_p50"),
            num(r, "cold_over_warm"),
            num(r, "cold_first_event_ms_p50"),
            num(r, "warm_first_event_ms_p50"),
            num(r, "prefill_tokens_per_s_p50"),
            num(r, "generate_tokens_per_s_p50"),
            r["questions_answered_with_a_tool_call"],
            r["questions"],
        ));
    }
    s
}

fn score_tables(rows: &[Value], total: usize) -> String {
    let mut s = format!(
        "\n## Tool-call score ({total} commands, greedy, prefix cached)\n\n\
         | model | prompt | prefix tokens | score | first token p50 | whole call p50 | tool call p50 | prefix decode |\n\
         |---|---|---|---|---|---|---|---|\n"
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {}/{} ({:.0}%) | {:.0} ms | {:.0} ms | {:.0} ms | {:.1} s |\n",
            r["model"].as_str().unwrap_or(""),
            r["prompt"].as_str().unwrap_or(""),
            r["prefix_tokens"],
            r["passed"],
            r["total"],
            num(r, "score") * 100.0,
            num(r, "first_token_ms_p50"),
            num(r, "call_ms_p50"),
            num(r, "tool_call_ms_p50"),
            num(r, "prefix_prefill_ms") / 1000.0,
        ));
    }
    let mut misses: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in rows {
        let key = format!(
            "{} / {}",
            r["model"].as_str().unwrap_or(""),
            r["prompt"].as_str().unwrap_or("")
        );
        let list = misses.entry(key).or_default();
        for res in r["results"].as_array().into_iter().flatten() {
            if res["pass"].as_bool() == Some(false) {
                let expected = match res["expected_tool"].as_str() {
                    Some(t) => format!("{t}{}", res["expected_args"]),
                    None => "no tool".into(),
                };
                list.push(format!(
                    "- \"{}\": expected {expected}; got {} ({})",
                    res["say"].as_str().unwrap_or(""),
                    res["got"].as_str().unwrap_or(""),
                    res["miss"].as_str().unwrap_or("").replace('\n', " ")
                ));
            }
        }
    }
    for (key, list) in misses {
        s.push_str(&format!("\nMisses, {key} ({}):\n", list.len()));
        for l in list {
            s.push_str(&l);
            s.push('\n');
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools() -> Vec<ToolSpec> {
        let file = workspace_root().join("benches/data/tools.json");
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
    }

    fn item(line: &str) -> Item {
        serde_json::from_str(line).unwrap()
    }

    fn reply(calls: &[(&str, Value)]) -> Outcome {
        Outcome {
            text: String::new(),
            calls: calls
                .iter()
                .map(|(n, a)| CallSpec {
                    name: (*n).into(),
                    arguments: a.clone(),
                })
                .collect(),
            call_errors: vec![],
            stop: Stop::Eos,
            stats: Stats::default(),
            first_event_ms: 0.0,
            first_event: "tool_call",
            total_ms: 0.0,
        }
    }

    fn check(line: &str, calls: &[(&str, Value)]) -> Result<(), String> {
        judge(&item(line), &reply(calls), &tools(), "/home/user/")
    }

    #[test]
    fn the_data_is_consistent() {
        let root = workspace_root();
        let tools = tools();
        assert_eq!(tools.len(), 12);
        let items = load_items(&root.join("benches/data/toolcalls.jsonl")).unwrap();
        assert_eq!(items.len(), 40);
        assert!(items.iter().filter(|i| i.tool.is_none()).count() >= 8);
        check_items(&items, &tools).unwrap();
        // The second set: indirect requests, paraphrases, topics that need no action.
        let indirect = load_items(&root.join("benches/data/toolcalls-indirect.jsonl")).unwrap();
        assert!(indirect.len() >= 40);
        assert!(indirect.iter().filter(|i| i.tool.is_none()).count() >= 8);
        check_items(&indirect, &tools).unwrap();
        let first: Vec<&str> = items.iter().map(|i| i.say.as_str()).collect();
        assert!(indirect.iter().all(|i| !first.contains(&i.say.as_str())));
    }

    #[test]
    fn fates_deny_and_fail_early_and_again() {
        let fates: Vec<Fate> = (0..14).map(fate).collect();
        assert_eq!(fates.iter().filter(|f| **f == Fate::Denied).count(), 4);
        assert_eq!(fates.iter().filter(|f| **f == Fate::Failed).count(), 2);
        assert_eq!(fates[0], Fate::Ran);
    }

    #[test]
    fn paths_expand_home_and_ignore_a_trailing_slash() {
        let l = r#"{"say": "x", "tool": "file_list", "args": {"path": "~/Downloads"}}"#;
        assert!(
            check(
                l,
                &[("file_list", json!({"path": "/home/user/Downloads/"}))]
            )
            .is_ok()
        );
        assert!(check(l, &[("file_list", json!({"path": "~/Downloads"}))]).is_ok());
        assert!(check(l, &[("file_list", json!({"path": "~Downloads"}))]).is_err());
        assert!(check(l, &[("file_list", json!({"path": "/home/user/downloads"}))]).is_err());
    }

    #[test]
    fn levels_are_integers() {
        let l = r#"{"say": "x", "tool": "volume", "args": {"level": 50}}"#;
        assert!(check(l, &[("volume", json!({"level": 50}))]).is_ok());
        assert!(check(l, &[("volume", json!({"level": 50.0}))]).is_ok());
        assert!(check(l, &[("volume", json!({"level": "50"}))]).is_ok());
        assert!(check(l, &[("volume", json!({"level": 49}))]).is_err());
        assert!(check(l, &[("volume", json!({"level": "half"}))]).is_err());
        assert!(check(l, &[("brightness", json!({"level": 50}))]).is_err());
    }

    #[test]
    fn urls_ignore_scheme_www_and_trailing_slash() {
        let l = r#"{"say": "x", "tool": "open_url", "args": {"url": "youtube.com"}}"#;
        assert!(
            check(
                l,
                &[("open_url", json!({"url": "https://www.youtube.com/"}))]
            )
            .is_ok()
        );
        assert!(check(l, &[("open_url", json!({"url": "http://YouTube.com"}))]).is_ok());
        assert!(check(l, &[("open_url", json!({"url": "https://youtube.org"}))]).is_err());
    }

    #[test]
    fn free_text_needs_every_keyword() {
        let l =
            r#"{"say": "x", "tool": "shell_exec", "args": {"command~": ["ping", "google.com"]}}"#;
        assert!(
            check(
                l,
                &[("shell_exec", json!({"command": "ping -c 4 Google.com"}))]
            )
            .is_ok()
        );
        assert!(check(l, &[("shell_exec", json!({"command": "ping bing.com"}))]).is_err());
        assert!(check(l, &[("shell_exec", json!({}))]).is_err());
    }

    #[test]
    fn calls_must_be_single_known_and_clean() {
        let l = r#"{"say": "x", "tool": "system_info", "args": {}}"#;
        assert!(check(l, &[("system_info", json!({}))]).is_ok());
        assert!(check(l, &[("system_info", json!({"properties": {}}))]).is_err());
        assert!(check(l, &[("battery", json!({}))]).is_err());
        assert!(check(l, &[("system_info", json!({})), ("system_info", json!({}))]).is_err());
        assert!(check(l, &[]).is_err());
        let mut o = reply(&[("system_info", json!({}))]);
        o.call_errors.push("unreadable".into());
        assert!(judge(&item(l), &o, &tools(), "/home/user").is_err());
    }

    #[test]
    fn no_tool_items_pass_only_without_a_call() {
        let l = r#"{"say": "thanks", "tool": null, "args": {}}"#;
        assert!(check(l, &[]).is_ok());
        assert!(check(l, &[("volume", json!({"level": 1}))]).is_err());
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
