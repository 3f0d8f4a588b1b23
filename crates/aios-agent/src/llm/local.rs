//! The `local` provider: the bundled GGUF in the `aios-llm` worker process.
//!
//! A supervisor task owns the worker. It starts it when the agent starts (so the
//! first question finds the model loaded and the system prompt in the KV cache),
//! feeds it one request at a time, restarts it if it dies (the turn in progress gets
//! a clear error), and kills it when the agent stops. The worker also dies on its own
//! if the agent is killed (parent-death signal and end of stdin), so it is never
//! orphaned.

use crate::pin::Pinned;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aios_common::types::ToolCall;
use aios_llm::{
    CallSpec, Message, Role, Sampling, Stop, ToolSpec, WorkerErrorCode, WorkerEvent, WorkerRequest,
};
use futures::stream;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::{
    DeltaStream, LlmError, LlmMessage, LlmProvider, LlmRequest, StopReason, StreamDelta,
    ToolDefinition, Usage,
};

/// Environment variable naming the worker executable (tests, unusual installs).
pub const WORKER_ENV: &str = "AIOS_LLM_WORKER";

/// How to run the worker.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    /// The `aios-llm` executable.
    pub program: PathBuf,
    /// The GGUF file.
    pub model: PathBuf,
    /// Inference threads (0 = one per core).
    pub threads: u32,
    /// Context size in tokens.
    pub context: u32,
    /// Prefix decoded at start: system prompt and tools.
    pub warm: Option<(String, Vec<ToolDefinition>)>,
    /// Where the worker keeps the decoded prefix between runs (`--prefix-cache`).
    pub prefix_cache: Option<PathBuf>,
}

/// Finds `aios-llm`: `$AIOS_LLM_WORKER`, else beside the running executable (or one
/// level up, where test binaries live).
pub fn worker_program() -> Result<PathBuf, LlmError> {
    if let Some(p) = std::env::var_os(WORKER_ENV) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| LlmError::Worker {
        message: format!("cannot find our own executable: {e}"),
    })?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    let candidates = [dir.join("aios-llm"), dir.join("../aios-llm")];
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| LlmError::Worker {
        message: format!(
            "the aios-llm executable is not at {}; build it with `cargo build --release -p aios-llm` (`make run` does) or set {WORKER_ENV}",
            candidates[0].display()
        ),
    })
}

struct Job {
    id: u64,
    request: WorkerRequest,
    events: mpsc::Sender<Result<WorkerEvent, LlmError>>,
    /// A `warm` the agent asked for between turns: it ends with `warmed`, and nobody
    /// waits for it (so it is never cancelled).
    warm: bool,
}

/// The local model, served by a supervised `aios-llm` worker.
#[derive(Debug)]
pub struct LocalProvider {
    jobs: mpsc::Sender<Job>,
    model: String,
    timeout: Duration,
    next_id: AtomicU64,
    restarts: Arc<AtomicU64>,
}

impl LocalProvider {
    /// Starts the worker in the background and returns at once; requests wait for it.
    pub fn start(spec: WorkerSpec, timeout: Duration) -> Self {
        let (jobs, rx) = mpsc::channel(8);
        let model = spec
            .model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let restarts = Arc::new(AtomicU64::new(0));
        tokio::spawn(supervise(spec, rx, restarts.clone()));
        Self {
            jobs,
            model,
            timeout,
            next_id: AtomicU64::new(1),
            restarts,
        }
    }

    /// How many times the worker was started after the first time.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }
}

#[async_trait::async_trait]
impl LlmProvider for LocalProvider {
    async fn complete_stream(&self, req: &LlmRequest) -> Result<DeltaStream, LlmError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(256);
        let request = WorkerRequest::Generate {
            id,
            messages: req.messages.iter().map(to_worker_message).collect(),
            tools: req.tools.iter().map(to_tool_spec).collect(),
            sampling: Sampling {
                temperature: req.temperature,
                max_tokens: req.max_tokens,
                seed: 0,
                no_calls: req.words_only,
            },
            fallback: req
                .fallback
                .as_ref()
                .map(|m| m.iter().map(to_worker_message).collect()),
        };
        self.jobs
            .send(Job {
                id,
                request,
                events: tx,
                warm: false,
            })
            .await
            .map_err(|_| LlmError::Worker {
                message: "the worker supervisor has stopped; restart aios-agent".into(),
            })?;
        let state = Pending {
            rx,
            id,
            timeout: self.timeout,
            calls: 0,
            queue: Vec::new(),
            finished: false,
        };
        Ok(Box::pin(stream::unfold(state, next_delta)))
    }

    fn supports_tools(&self) -> bool {
        true
    }

    async fn prewarm(
        &self,
        messages: &[LlmMessage],
        tools: &[ToolDefinition],
        heard: Option<&str>,
    ) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, _) = mpsc::channel(1);
        // Over a memo (a second system message) the turn to come falls back to the
        // question asked alone when its reply starts in words (see the turn): the
        // heard words go after the system message alone too.
        let alone = (heard.is_some() && messages.len() > 1)
            .then(|| messages[..1].iter().map(to_worker_message).collect());
        let request = WorkerRequest::Warm {
            messages: messages.iter().map(to_worker_message).collect(),
            tools: tools.iter().map(to_tool_spec).collect(),
            ahead: heard.map(str::to_owned),
            alone,
        };
        // Queued behind any running request; a full queue means the person is
        // already asking again, and that request decodes what it needs itself.
        let _ = self.jobs.try_send(Job {
            id,
            request,
            events: tx,
            warm: true,
        });
    }

    fn name(&self) -> &str {
        "local"
    }

    fn model(&self) -> Option<String> {
        Some(self.model.clone())
    }
}

struct Pending {
    rx: mpsc::Receiver<Result<WorkerEvent, LlmError>>,
    id: u64,
    timeout: Duration,
    calls: u32,
    queue: Vec<StreamDelta>,
    finished: bool,
}

async fn next_delta(mut st: Pending) -> Option<(Result<StreamDelta, LlmError>, Pending)> {
    loop {
        if !st.queue.is_empty() {
            let d = st.queue.remove(0);
            return Some((Ok(d), st));
        }
        if st.finished {
            return None;
        }
        let ev = match tokio::time::timeout(st.timeout, st.rx.recv()).await {
            Err(_) => {
                st.finished = true;
                let secs = st.timeout.as_secs();
                return Some((
                    Err(LlmError::Timeout {
                        provider: "local".into(),
                        secs,
                    }),
                    st,
                ));
            }
            Ok(None) => {
                st.finished = true;
                return Some((
                    Err(LlmError::Worker {
                        message: "the worker supervisor has stopped".into(),
                    }),
                    st,
                ));
            }
            Ok(Some(Err(e))) => {
                st.finished = true;
                return Some((Err(e), st));
            }
            Ok(Some(Ok(ev))) => ev,
        };
        match ev {
            WorkerEvent::Delta { text, .. } => return Some((Ok(StreamDelta::Text(text)), st)),
            WorkerEvent::ToolCall { call, .. } => {
                st.calls += 1;
                let call = ToolCall {
                    id: format!("call_{}_{}", st.id, st.calls),
                    name: call.name,
                    arguments: call.arguments,
                };
                return Some((Ok(StreamDelta::ToolCall(call)), st));
            }
            WorkerEvent::Done {
                stop,
                stats,
                call_errors,
                ..
            } => {
                st.finished = true;
                st.queue
                    .extend(call_errors.into_iter().map(StreamDelta::MalformedCall));
                let stop = match stop {
                    _ if st.calls > 0 => StopReason::ToolUse,
                    Stop::Eos => StopReason::EndTurn,
                    Stop::MaxTokens => StopReason::MaxTokens,
                    Stop::Cancelled => StopReason::Cancelled,
                };
                debug!(id = st.id, ?stats, "local generation done");
                if stats.fell_back {
                    debug!("the reply is to the request asked alone");
                }
                let usage = Usage {
                    input_tokens: stats.prompt_tokens,
                    cached_tokens: stats.cached_tokens,
                    output_tokens: stats.generated_tokens,
                };
                st.queue.push(StreamDelta::Done { usage, stop });
            }
            WorkerEvent::Error { code, message, .. } => {
                st.finished = true;
                return Some((Err(worker_error(code, message)), st));
            }
            // Signs of life during a long prefill: the timeout starts again.
            WorkerEvent::Progress { .. }
            | WorkerEvent::Ready { .. }
            | WorkerEvent::Warmed { .. } => {}
        }
    }
}

fn worker_error(code: WorkerErrorCode, message: String) -> LlmError {
    match code {
        WorkerErrorCode::ModelMissing | WorkerErrorCode::ModelCorrupt => {
            LlmError::ModelMissing { message }
        }
        WorkerErrorCode::ContextTooLong => LlmError::ContextTooLong {
            provider: "local".into(),
            message,
        },
        WorkerErrorCode::BadRequest | WorkerErrorCode::Inference => LlmError::Worker { message },
    }
}

/// A provider message as the worker protocol carries it (a tool error's text starts
/// with "Error: "). `llm_bench` renders its conversations with it too.
pub fn to_worker_message(m: &LlmMessage) -> Message {
    let (role, content, tool_calls) = match m {
        LlmMessage::System { content } => (Role::System, content.clone(), vec![]),
        LlmMessage::User { content } => (Role::User, content.clone(), vec![]),
        LlmMessage::Assistant {
            content,
            tool_calls,
        } => (
            Role::Assistant,
            content.clone(),
            tool_calls
                .iter()
                .map(|c| CallSpec {
                    name: c.name.clone(),
                    arguments: c.arguments.clone(),
                })
                .collect(),
        ),
        LlmMessage::Tool {
            content, is_error, ..
        } => (
            Role::Tool,
            if *is_error {
                format!("Error: {content}")
            } else {
                content.clone()
            },
            vec![],
        ),
    };
    Message {
        role,
        content,
        tool_calls,
    }
}

fn to_tool_spec(t: &ToolDefinition) -> ToolSpec {
    ToolSpec {
        name: t.name.clone(),
        description: t.description.clone(),
        parameters: t.parameters.clone(),
    }
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// The system prompt sent at start is still being decoded: the next `warmed`
    /// is its.
    warming: bool,
}

impl Worker {
    async fn spawn(spec: &WorkerSpec) -> Result<Self, LlmError> {
        let mut cmd = Command::new(&spec.program);
        cmd.arg("--model")
            .arg(&spec.model)
            .arg("--threads")
            .arg(spec.threads.to_string())
            .arg("--context")
            .arg(spec.context.to_string());
        if let Some(dir) = &spec.prefix_cache {
            cmd.arg("--prefix-cache").arg(dir);
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| LlmError::Worker {
            message: format!(
                "cannot start {}: {e}; build it with `cargo build --release -p aios-llm`",
                spec.program.display()
            ),
        })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(LlmError::Worker {
                message: "worker pipes missing".into(),
            });
        };
        let mut w = Self {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            warming: false,
        };
        match w.read().await {
            Some(WorkerEvent::Ready {
                model,
                load_ms,
                threads,
                n_ctx,
            }) => {
                info!(model, load_ms, threads, n_ctx, "local model worker ready");
            }
            Some(WorkerEvent::Error { code, message, .. }) => {
                return Err(worker_error(code, message));
            }
            other => {
                let status = w.child.wait().await.ok();
                return Err(LlmError::Worker {
                    message: format!("the worker failed to start ({other:?}, exit {status:?})"),
                });
            }
        }
        if let Some((system, tools)) = &spec.warm {
            let warm = WorkerRequest::Warm {
                messages: vec![Message {
                    role: Role::System,
                    content: system.clone(),
                    tool_calls: vec![],
                }],
                tools: tools.iter().map(to_tool_spec).collect(),
                ahead: None,
                alone: None,
            };
            w.write(&warm).await?;
            w.warming = true;
        }
        Ok(w)
    }

    async fn read(&mut self) -> Option<WorkerEvent> {
        loop {
            let line = self.lines.next_line().await.ok()??;
            match serde_json::from_str(&line) {
                Ok(ev) => return Some(ev),
                Err(e) => warn!("unreadable line from the worker ({e}): {line:.200}"),
            }
        }
    }

    async fn write(&mut self, req: &WorkerRequest) -> Result<(), LlmError> {
        let mut line = serde_json::to_vec(req).map_err(|e| LlmError::Worker {
            message: e.to_string(),
        })?;
        line.push(b'\n');
        self.stdin
            .write_all(&line)
            .await
            .map_err(|e| LlmError::Worker {
                message: format!("cannot write to the worker: {e}"),
            })
    }

    async fn died(&mut self) -> String {
        match tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await {
            Ok(Ok(status)) => status.to_string(),
            _ => "unknown status".into(),
        }
    }
}

async fn supervise(spec: WorkerSpec, mut jobs: mpsc::Receiver<Job>, restarts: Arc<AtomicU64>) {
    // The worker writes every tool call: a replaced one is never started (see `pin`).
    let pin = {
        let program = spec.program.clone();
        match tokio::task::spawn_blocking(move || Pinned::now(program)).await {
            Ok(p) => Arc::new(p),
            Err(_) => Arc::new(Pinned::now(PathBuf::new())),
        }
    };
    let mut worker: Option<Worker> = None;
    let mut started_once = false;
    // Start right away so the first question finds a warm model.
    let mut first_job: Option<Job> = None;
    loop {
        if worker.is_none() {
            if started_once {
                restarts.fetch_add(1, Ordering::Relaxed);
            }
            started_once = true;
            let spawned = match crate::pin::check(&pin).await {
                Ok(()) => Worker::spawn(&spec).await,
                Err(message) => Err(LlmError::Worker { message }),
            };
            match spawned {
                Ok(w) => worker = Some(w),
                Err(e) => {
                    warn!("local model unavailable: {e}");
                    // Answer jobs with the error until one arrives, then try again:
                    // the person may have run `make models` meanwhile.
                    let job = match first_job.take() {
                        Some(j) => j,
                        None => match jobs.recv().await {
                            Some(j) => j,
                            None => return,
                        },
                    };
                    let _ = job.events.send(Err(e)).await;
                    match jobs.recv().await {
                        Some(j) => first_job = Some(j),
                        None => return,
                    }
                    continue;
                }
            }
        }
        let job = match first_job.take() {
            Some(j) => j,
            None => match jobs.recv().await {
                Some(j) => j,
                None => return, // agent shutting down; dropping the child kills it
            },
        };
        if job.warm
            && let Ok(next) = jobs.try_recv()
        {
            // The job behind runs next. A warm behind a warm (a newer partial
            // transcript) makes this one stale; a question behind it needs what this
            // one decodes anyway.
            let stale = next.warm;
            first_job = Some(next);
            if stale {
                debug!("a prewarm was overtaken by a newer one before it started");
                continue;
            }
        }
        let Some(mut w) = worker.take() else { continue };
        if let Err(e) = w.write(&job.request).await {
            let status = w.died().await;
            let _ = job
                .events
                .send(Err(LlmError::Worker {
                    message: format!("{e} (worker exited: {status}); it is restarting, ask again"),
                }))
                .await;
            continue;
        }
        let mut cancelled = false;
        let alive = loop {
            let ev = tokio::select! {
                ev = w.read() => ev,
                () = job.events.closed(), if !cancelled && !job.warm => {
                    cancelled = true;
                    let _ = w.write(&WorkerRequest::Cancel { id: job.id }).await;
                    continue;
                }
            };
            match ev {
                None => {
                    let status = w.died().await;
                    warn!(%status, "the local model worker died mid-answer; restarting it");
                    let _ = job
                        .events
                        .send(Err(LlmError::Worker {
                            message: format!("the local model stopped mid-answer ({status}); it is restarting, ask again"),
                        }))
                        .await;
                    break false;
                }
                // The startup warm failed: it is over all the same (the first
                // request decodes the prefix); waiting on would hang this job.
                Some(WorkerEvent::Error {
                    id: None, message, ..
                }) if w.warming => {
                    w.warming = false;
                    warn!("the system prompt could not be cached: {message}");
                }
                // A warm the agent asked for that failed: the next request decodes.
                Some(WorkerEvent::Error {
                    id: None, message, ..
                }) if job.warm && !w.warming => {
                    debug!("prewarm failed: {message}");
                    break true;
                }
                Some(ev @ (WorkerEvent::Done { .. } | WorkerEvent::Error { id: Some(_), .. })) => {
                    let _ = job.events.send(Ok(ev)).await;
                    break true;
                }
                // Progress of the warm-up counts too: our request waits behind it.
                Some(
                    ev @ (WorkerEvent::Delta { .. }
                    | WorkerEvent::ToolCall { .. }
                    | WorkerEvent::Progress { .. }),
                ) => {
                    let _ = job.events.send(Ok(ev)).await;
                }
                Some(WorkerEvent::Warmed {
                    prefix_tokens,
                    prefill_tokens,
                    prefill_ms,
                }) => {
                    if w.warming {
                        w.warming = false;
                        info!(prefix_tokens, prefill_ms, "system prompt cached");
                    } else if job.warm {
                        debug!(
                            prefix_tokens,
                            prefill_tokens, prefill_ms, "next prefix decoded"
                        );
                        break true;
                    }
                }
                Some(other) => debug!(?other, "worker event"),
            }
        };
        if alive {
            worker = Some(w);
        }
    }
}
