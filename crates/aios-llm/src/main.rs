//! `aios-llm`: the local model worker. Speaks the protocol documented in the library
//! on stdin/stdout; started and supervised by `aios-agent`.

mod engine;

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::mpsc;

use aios_llm::{WorkerErrorCode, WorkerEvent, WorkerRequest};
use clap::Parser;

/// Local LLM worker for AIOS (llama.cpp). Reads requests on stdin, writes events on stdout.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// GGUF model file.
    #[arg(long)]
    model: PathBuf,
    /// Inference threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: u32,
    /// Context size in tokens.
    #[arg(long, default_value_t = 4096)]
    context: u32,
    /// A directory where the decoded `warm` prefix is saved, and loaded by the next
    /// worker instead of decoding it again (about 30 s for the 1.5B model).
    #[arg(long)]
    prefix_cache: Option<PathBuf>,
}

/// Writes events as JSON lines; stdout is the agent's private channel.
pub(crate) struct Out(std::io::Stdout);

impl Out {
    pub(crate) fn send(&mut self, ev: &WorkerEvent) {
        let mut lock = self.0.lock();
        // A failed write means the agent is gone; the stdin EOF will end us.
        if serde_json::to_writer(&mut lock, ev).is_ok() {
            let _ = lock.write_all(b"\n");
            let _ = lock.flush();
        }
    }
}

fn main() {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour only on a terminal: a log written to a file or a journal must not
        // carry escape codes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut out = Out(std::io::stdout());
    // Die with the agent even if it is killed with SIGKILL and cannot close our stdin
    // in time; the stdin EOF check covers the rest.
    if let Err(e) = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL) {
        tracing::warn!("cannot tie the worker's life to the agent: {e}");
    }

    let threads = if args.threads == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get() as u32)
    } else {
        args.threads
    };
    let backend = match engine::Backend::init() {
        Ok(b) => b,
        Err(e) => fail(
            &mut out,
            WorkerErrorCode::Inference,
            format!("cannot start llama.cpp: {e}"),
        ),
    };
    let loaded = match backend.load(&args.model) {
        Ok(m) => m,
        Err((code, message)) => fail(&mut out, code, message),
    };
    let mut engine = match loaded.engine(args.context, threads) {
        Ok(e) => e,
        Err(e) => fail(&mut out, WorkerErrorCode::Inference, e),
    };
    if let Some(dir) = &args.prefix_cache {
        engine.keep_prefix_in(engine::prefix_file(dir, &args.model, engine.n_ctx()));
    }
    out.send(&WorkerEvent::Ready {
        model: args
            .model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        n_ctx: engine.n_ctx(),
        threads,
        load_ms: loaded.load_ms(),
    });

    // A reader thread so that a `cancel` is seen while a generation runs.
    let (tx, rx) = mpsc::channel::<Result<WorkerRequest, String>>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if line.trim().is_empty() {
                continue;
            }
            let req = serde_json::from_str(&line).map_err(|e| format!("{e}: {line:.120}"));
            if tx.send(req).is_err() {
                break;
            }
        }
    });
    engine.serve(&rx, &mut out);
    tracing::info!("stdin closed; exiting");
}

fn fail(out: &mut Out, code: WorkerErrorCode, message: String) -> ! {
    tracing::error!("{message}");
    out.send(&WorkerEvent::Error {
        id: None,
        code,
        message,
    });
    std::process::exit(2);
}
