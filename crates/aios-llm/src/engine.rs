//! llama.cpp behind the worker protocol: model loading, the KV prefix cache and
//! generation with streamed, tool-call-aware output.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::path::Path;
use std::sync::mpsc::Receiver;
use std::time::Instant;

use aios_llm::grammar;
use aios_llm::prompt::template_messages;
use aios_llm::toolcall::{may_be_call, parse_reply, streamable_prefix};
use aios_llm::{
    Message, Role, Sampling, Stats, Stop, ToolSpec, WorkerErrorCode, WorkerEvent, WorkerRequest,
};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::data::LlamaTokenData;
use llama_cpp_2::token::data_array::LlamaTokenDataArray;
use tracing::{debug, info, warn};

use crate::Out;

/// Tokens decoded per llama.cpp batch during prefill.
const BATCH: usize = 512;

pub(crate) struct Backend(LlamaBackend);

impl Backend {
    pub(crate) fn init() -> Result<Self, String> {
        llama_cpp_2::send_logs_to_tracing(
            llama_cpp_2::LogOptions::default().with_logs_enabled(false),
        );
        LlamaBackend::init().map(Self).map_err(|e| e.to_string())
    }

    pub(crate) fn load(&self, path: &Path) -> Result<Loaded<'_>, (WorkerErrorCode, String)> {
        if !path.is_file() {
            return Err((
                WorkerErrorCode::ModelMissing,
                format!(
                    "model file {} does not exist; run `make models`",
                    path.display()
                ),
            ));
        }
        let started = Instant::now();
        let model = LlamaModel::load_from_file(&self.0, path, &LlamaModelParams::default()).map_err(|e| {
            (
                WorkerErrorCode::ModelCorrupt,
                format!("cannot load {} ({e}); the file is damaged or not a GGUF model: delete it and run `make models`", path.display()),
            )
        })?;
        let template = model.chat_template(None).map_err(|e| {
            (
                WorkerErrorCode::ModelCorrupt,
                format!("{} has no usable chat template: {e}", path.display()),
            )
        })?;
        let load_ms = started.elapsed().as_secs_f64() * 1000.0;
        info!(model = %path.display(), load_ms, "model loaded");
        Ok(Loaded {
            backend: &self.0,
            model,
            template,
            load_ms,
        })
    }
}

pub(crate) struct Loaded<'b> {
    backend: &'b LlamaBackend,
    model: LlamaModel,
    template: LlamaChatTemplate,
    load_ms: f64,
}

impl Loaded<'_> {
    pub(crate) fn load_ms(&self) -> f64 {
        self.load_ms
    }

    pub(crate) fn engine(&self, n_ctx: u32, threads: u32) -> Result<Engine<'_>, String> {
        let threads = i32::try_from(threads).unwrap_or(2);
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(BATCH as u32)
            .with_n_threads(threads)
            .with_n_threads_batch(threads)
            // Two cached sequences over one shared cache: each may use the whole
            // context, and a prefix both hold is stored once (see `sync_prefix`).
            .with_n_seq_max(SLOTS as u32)
            .with_kv_unified(true);
        let ctx = self
            .model
            .new_context(self.backend, params)
            .map_err(|e| format!("cannot create a context: {e}"))?;
        Ok(Engine {
            model: &self.model,
            template: &self.template,
            ctx,
            seqs: Default::default(),
            cur: 0,
            pending: VecDeque::new(),
            prefix_file: None,
        })
    }
}

pub(crate) struct Engine<'m> {
    model: &'m LlamaModel,
    template: &'m LlamaChatTemplate,
    ctx: LlamaContext<'m>,
    /// Exactly the tokens each cached sequence holds, in order.
    seqs: [Vec<LlamaToken>; SLOTS],
    /// The sequence the latest request used (a reply goes on in it).
    cur: usize,
    /// Requests that arrived during a generation.
    pending: VecDeque<WorkerRequest>,
    /// Where the warm prefix's KV state is kept between workers.
    prefix_file: Option<std::path::PathBuf>,
}

/// The prefix state file for `model` at `n_ctx` in `dir`. Its name carries the model
/// file's size and modification time, so a replaced model never meets an old state;
/// the tokens saved with the state must equal the prompt's, so a changed prompt or
/// tool list never does either.
pub(crate) fn prefix_file(dir: &Path, model: &Path, n_ctx: u32) -> std::path::PathBuf {
    let meta = std::fs::metadata(model).ok();
    let size = meta.as_ref().map_or(0, std::fs::Metadata::len);
    let mtime = meta
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let stem = model
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!("{stem}-{size}-{mtime}-ctx{n_ctx}.state"))
}

type Inbox = Receiver<Result<WorkerRequest, String>>;

impl Engine<'_> {
    pub(crate) fn n_ctx(&self) -> u32 {
        self.ctx.n_ctx()
    }

    /// Keep the warm prefix in `file`: load it at `warm` when it matches, save it
    /// after decoding it otherwise.
    pub(crate) fn keep_prefix_in(&mut self, file: std::path::PathBuf) {
        self.prefix_file = Some(file);
    }

    /// Loads the saved prefix state if it holds exactly `tokens`. A missing, stale or
    /// unreadable file is only a slower start.
    fn load_prefix(&mut self, tokens: &[LlamaToken]) -> bool {
        let Some(file) = self.prefix_file.clone().filter(|f| f.is_file()) else {
            return false;
        };
        if self.seqs.iter().any(|s| !s.is_empty()) {
            return false;
        }
        match self.ctx.state_seq_load_file(&file, 0, tokens.len()) {
            Ok((saved, _)) if saved == tokens => {
                self.seqs[0] = saved;
                self.cur = 0;
                true
            }
            other => {
                debug!(ok = other.is_ok(), file = %file.display(), "saved prefix not used");
                self.reset();
                false
            }
        }
    }

    /// Saves the KV state of the prefix just decoded (atomically: a temporary file
    /// renamed into place).
    fn save_prefix(&self) {
        let Some(file) = &self.prefix_file else {
            return;
        };
        let tmp = file.with_extension("tmp");
        let saved = file
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                self.ctx
                    .state_seq_save_file(&tmp, self.cur as i32, &self.seqs[self.cur])
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
            .and_then(|()| std::fs::rename(&tmp, file).map_err(|e| e.to_string()));
        match saved {
            Ok(()) => {
                info!(file = %file.display(), tokens = self.seqs[self.cur].len(), "prefix saved")
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                warn!(file = %file.display(), "cannot save the prefix: {e}");
            }
        }
    }

    pub(crate) fn serve(&mut self, rx: &Inbox, out: &mut Out) {
        loop {
            let req = match self.pending.pop_front() {
                Some(r) => r,
                None => match rx.recv() {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => {
                        out.send(&WorkerEvent::Error {
                            id: None,
                            code: WorkerErrorCode::BadRequest,
                            message: e,
                        });
                        continue;
                    }
                    Err(_) => return,
                },
            };
            match req {
                WorkerRequest::Warm {
                    messages,
                    tools,
                    ahead,
                    alone,
                } => match self.warm(&messages, alone.as_deref(), &tools, ahead.as_deref(), out) {
                    Ok(ev) => out.send(&ev),
                    Err((code, message)) => out.send(&WorkerEvent::Error {
                        id: None,
                        code,
                        message,
                    }),
                },
                WorkerRequest::Generate {
                    id,
                    messages,
                    tools,
                    sampling,
                    fallback,
                } => {
                    if let Err((code, message)) = self.generate(
                        id,
                        &messages,
                        fallback.as_deref(),
                        &tools,
                        sampling,
                        rx,
                        out,
                    ) {
                        warn!(id, "{message}");
                        out.send(&WorkerEvent::Error {
                            id: Some(id),
                            code,
                            message,
                        });
                    }
                }
                WorkerRequest::Cancel { .. } => {}
            }
        }
    }

    fn render(
        &self,
        messages: &[Message],
        tools: &[ToolSpec],
        add_assistant: bool,
    ) -> Result<String, (WorkerErrorCode, String)> {
        let chat = template_messages(messages, tools)
            .into_iter()
            .map(|(role, content)| LlamaChatMessage::new(role.to_owned(), content))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                (
                    WorkerErrorCode::BadRequest,
                    format!("message contains a NUL byte: {e}"),
                )
            })?;
        self.model
            .apply_chat_template(self.template, &chat, add_assistant)
            .map_err(|e| {
                (
                    WorkerErrorCode::Inference,
                    format!("chat template failed: {e}"),
                )
            })
    }

    fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        // The template already wrote the special tokens as text; parse them.
        self.model.vocab().tokenize(text.as_bytes(), false, true)
    }

    /// `messages` with the opening of the next user message and the words of it
    /// `heard` so far, as tokens.
    fn ahead_tokens(
        &self,
        messages: &[Message],
        tools: &[ToolSpec],
        heard: Option<&str>,
    ) -> Result<Vec<LlamaToken>, (WorkerErrorCode, String)> {
        let mut prompt = self.render(messages, tools, false)?;
        // The next request is a question: its opening (`<|im_start|>user\n`) is
        // decoded now, so that the question prefills only its own words.
        let opener = self.user_opener(messages, tools, &prompt)?;
        prompt.push_str(&opener);
        if let Some(heard) = heard
            && !opener.is_empty()
        {
            // Trailing spaces stay out: the next word brings its own, and BPE joins a
            // space to the word after it.
            prompt.push_str(heard);
        }
        Ok(self.tokenize(&prompt))
    }

    fn warm(
        &mut self,
        messages: &[Message],
        alone: Option<&[Message]>,
        tools: &[ToolSpec],
        ahead: Option<&str>,
        out: &mut Out,
    ) -> Result<WorkerEvent, (WorkerErrorCode, String)> {
        let heard = ahead.map(str::trim).filter(|h| !h.is_empty());
        let tokens = self.ahead_tokens(messages, tools, heard)?;
        let started = Instant::now();
        // Only the system prompt alone is kept on disk: it is the same at every
        // start. A longer prefix (the agent's note of earlier turns, words heard
        // ahead) changes each turn.
        let keep = messages.len() == 1 && heard.is_none();
        if keep && self.load_prefix(&tokens) {
            info!(
                tokens = tokens.len(),
                ms = started.elapsed().as_millis() as u64,
                "prefix loaded from the cache"
            );
            return Ok(WorkerEvent::Warmed {
                prefix_tokens: tokens.len() as u32,
                prefill_tokens: 0,
                prefill_ms: started.elapsed().as_secs_f64() * 1000.0,
            });
        }
        // The question asked alone (the fallback of the request to come) gets the
        // heard words too, in the other sequence, in the same batches.
        let lone = match (alone, heard) {
            (Some(alone), Some(_)) => Some(self.ahead_tokens(alone, tools, heard)?),
            _ => None,
        };
        let (a, held_a) = self.place(&tokens, false, 0, None)?;
        let mut parts = vec![(a, tokens.as_slice(), held_a)];
        if let Some(lone) = &lone {
            let (b, held_b) = self.place(lone, false, 0, Some(a))?;
            parts.insert(0, (b, lone.as_slice(), held_b));
        }
        let prefilled = self.decode_rest(&parts, false, |done, total| {
            out.send(&WorkerEvent::Progress {
                id: None,
                done,
                total,
            });
        })?;
        if keep && prefilled > 0 {
            self.save_prefix();
        }
        Ok(WorkerEvent::Warmed {
            prefix_tokens: tokens.len() as u32,
            prefill_tokens: prefilled as u32,
            prefill_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    /// What the template writes between `messages` (rendered as `rendered`) and the
    /// words of a user message after them.
    fn user_opener(
        &self,
        messages: &[Message],
        tools: &[ToolSpec],
        rendered: &str,
    ) -> Result<String, (WorkerErrorCode, String)> {
        const MARK: &str = "\u{1}aios-question\u{1}";
        let mut with_question = messages.to_vec();
        with_question.push(Message {
            role: Role::User,
            content: MARK.to_owned(),
            tool_calls: Vec::new(),
        });
        let text = self.render(&with_question, tools, false)?;
        Ok(match (text.strip_prefix(rendered), text.find(MARK)) {
            (Some(rest), Some(at)) if at >= rendered.len() => {
                rest[..at - rendered.len()].to_owned()
            }
            // A template that rewrites earlier turns: nothing is decoded ahead.
            _ => String::new(),
        })
    }

    /// Makes one cached sequence hold exactly `tokens`, decoding only what neither
    /// sequence already holds. With `need_logits` the last token is decoded afresh
    /// so sampling has its logits. Returns (reused, decoded).
    ///
    /// Two sequences, because the agent asks two kinds of prompt in one turn: the
    /// conversation's (system prompt and memo) and, when the model answers that in
    /// words, the question alone. With one sequence each rewound the other, and
    /// the memo (hundreds of tokens) was decoded again after every such turn. The
    /// request goes to the sequence whose tokens past the shared prefix are fewest
    /// (it loses least), and takes the longer shared prefix of either: copying a
    /// range between sequences of a unified cache only relabels cells.
    fn sync_prefix(
        &mut self,
        tokens: &[LlamaToken],
        need_logits: bool,
        room: usize,
        progress: impl FnMut(u32, u32),
    ) -> Result<(usize, usize), (WorkerErrorCode, String)> {
        let (target, keep) = self.place(tokens, need_logits, room, None)?;
        let decoded = self.decode_rest(&[(target, tokens, keep)], need_logits, progress)?;
        Ok((keep, decoded))
    }

    /// The first half of [`Engine::sync_prefix`]: picks the sequence for `tokens`
    /// (never `not`), drops what it holds past the shared prefix and copies the
    /// longer shared prefix from the other. Returns the sequence and how many of
    /// `tokens` it now holds; [`Engine::decode_rest`] decodes the rest.
    fn place(
        &mut self,
        tokens: &[LlamaToken],
        need_logits: bool,
        room: usize,
        not: Option<usize>,
    ) -> Result<(usize, usize), (WorkerErrorCode, String)> {
        let common =
            |held: &[LlamaToken]| held.iter().zip(tokens).take_while(|(a, b)| a == b).count();
        let shared: Vec<usize> = self.seqs.iter().map(|s| common(s)).collect();
        let lost = |i: usize| self.seqs[i].len() - shared[i];
        let target = (0..SLOTS)
            .filter(|&i| Some(i) != not)
            .min_by_key(|&i| (lost(i), std::cmp::Reverse(shared[i])))
            .unwrap_or(0);
        let donor = (0..SLOTS).max_by_key(|&i| shared[i]).unwrap_or(target);
        let mut keep = shared[donor];
        if need_logits && keep == tokens.len() {
            keep = keep.saturating_sub(1);
        }
        let own = shared[target].min(keep);
        if own < self.seqs[target].len() {
            let cleared = self
                .ctx
                .clear_kv_cache_seq(Some(target as u32), Some(own as u32), None)
                .map_err(|e| (WorkerErrorCode::Inference, e.to_string()))?;
            if !cleared {
                // Some caches cannot drop a tail; start over.
                self.reset();
                keep = 0;
            }
            self.seqs[target].truncate(own.min(keep));
        }
        let own = self.seqs[target].len();
        if keep > own {
            self.ctx
                .copy_kv_cache_seq(
                    donor as i32,
                    target as i32,
                    Some(own as u32),
                    Some(keep as u32),
                )
                .map_err(|e| (WorkerErrorCode::Inference, e.to_string()))?;
            self.seqs[target].extend_from_slice(&tokens[own..keep]);
        }
        self.cur = target;
        // Both share one cache of n_ctx cells: when this prompt and `room` more
        // tokens would not fit beside what only the other sequence holds, the
        // other goes (it is only a head start for a later request).
        let other = 1 - target;
        let only_other = self.seqs[other].len() - shared[other].min(keep);
        if only_other > 0
            && not.is_none()
            && tokens.len() + room + only_other > self.ctx.n_ctx() as usize
        {
            let _ = self.ctx.clear_kv_cache_seq(Some(other as u32), None, None);
            self.seqs[other].clear();
        }
        Ok((target, keep))
    }

    /// Decodes each `(sequence, tokens, held)` from `held` on, all of them in the
    /// same batches (a few tokens of two sequences cost about what one's do: the
    /// weights are read once). With `need_logits`, the last token of the last one
    /// gets logits. Returns how many tokens were decoded.
    fn decode_rest(
        &mut self,
        parts: &[(usize, &[LlamaToken], usize)],
        need_logits: bool,
        mut progress: impl FnMut(u32, u32),
    ) -> Result<usize, (WorkerErrorCode, String)> {
        // (sequence, position, token, logits)
        let todo: Vec<(usize, usize, LlamaToken, bool)> = parts
            .iter()
            .enumerate()
            .flat_map(|(n, &(seq, tokens, held))| {
                let last = n + 1 == parts.len();
                (held..tokens.len()).map(move |p| {
                    (
                        seq,
                        p,
                        tokens[p],
                        need_logits && last && p + 1 == tokens.len(),
                    )
                })
            })
            .collect();
        let mut batch = LlamaBatch::new(BATCH, 1);
        let mut done = 0;
        for chunk in todo.chunks(BATCH) {
            batch.clear();
            for &(seq, pos, t, logits) in chunk {
                batch
                    .add(t, pos as i32, &[seq as i32], logits)
                    .map_err(|e| (WorkerErrorCode::Inference, e.to_string()))?;
            }
            self.ctx.decode(&mut batch).map_err(|e| {
                // The cache may now hold part of the chunk: forget it all.
                (WorkerErrorCode::Inference, format!("decode failed: {e}"))
            })?;
            for &(seq, _, t, _) in chunk {
                self.seqs[seq].push(t);
            }
            done += chunk.len();
            progress(done as u32, todo.len() as u32);
        }
        Ok(todo.len())
    }

    /// Renders `messages` as a prompt awaiting the reply and makes a cached sequence
    /// hold it, with logits for its last token. Returns the prompt's tokens, how
    /// many were reused, how many decoded, and the time it took.
    fn prefill(
        &mut self,
        id: u64,
        messages: &[Message],
        tools: &[ToolSpec],
        max_tokens: usize,
        out: &mut Out,
    ) -> Result<Prefilled, (WorkerErrorCode, String)> {
        let prompt = self.render(messages, tools, true)?;
        let tokens = self.tokenize(&prompt);
        let n_ctx = self.ctx.n_ctx() as usize;
        if tokens.len() + max_tokens > n_ctx {
            return Err((
                WorkerErrorCode::ContextTooLong,
                format!(
                    "prompt of {} tokens plus a reply of up to {max_tokens} exceeds the {n_ctx}-token context",
                    tokens.len()
                ),
            ));
        }
        let started = Instant::now();
        let (cached, prefilled) =
            match self.sync_prefix(&tokens, true, max_tokens, |done, total| {
                out.send(&WorkerEvent::Progress {
                    id: Some(id),
                    done,
                    total,
                });
            }) {
                Ok(r) => r,
                Err(e) => {
                    self.reset();
                    return Err(e);
                }
            };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        debug!(
            id,
            prompt = tokens.len(),
            cached,
            prefilled,
            ms,
            "prefilled"
        );
        Ok(Prefilled {
            tokens,
            cached,
            prefilled,
            ms,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn generate(
        &mut self,
        id: u64,
        messages: &[Message],
        fallback: Option<&[Message]>,
        tools: &[ToolSpec],
        sampling: Sampling,
        rx: &Inbox,
        out: &mut Out,
    ) -> Result<(), (WorkerErrorCode, String)> {
        let received = Instant::now();
        let max_tokens = sampling.max_tokens.max(1) as usize;
        let Prefilled {
            mut tokens,
            mut cached,
            mut prefilled,
            ms: mut prefill_ms,
        } = self.prefill(id, messages, tools, max_tokens, out)?;
        // Words never come from a `no_calls` reply's fallback: it has none.
        let mut fallback = fallback.filter(|_| !sampling.no_calls);
        let mut fell_back = false;

        let mut sampler = if sampling.temperature <= 0.0 {
            LlamaSampler::greedy()
        } else {
            LlamaSampler::chain_simple([
                LlamaSampler::temp(sampling.temperature),
                LlamaSampler::dist(sampling.seed),
            ])
        };
        // Built when a reply opens a call: from there on, only a well-formed call to
        // one of `tools` can be decoded (see `aios_llm::grammar`).
        let call_rules = grammar::call_grammar(tools).filter(|_| !sampling.no_calls);
        // With `no_calls` the reply is under the words-only grammar from its start.
        let mut call_grammar: Option<LlamaSampler> = if sampling.no_calls {
            LlamaSampler::grammar(self.model, grammar::WORDS_ONLY, "root")
                .inspect_err(|e| warn!("the words-only grammar was refused: {e}"))
                .ok()
        } else {
            None
        };
        let vocab = self.model.vocab();
        let mut bytes: Vec<u8> = Vec::new();
        let mut shown = 0usize; // bytes of text already sent as deltas
        let mut holding = false;
        let mut generated = 0u32;
        let mut first_token_ms = 0.0;
        let gen_started = Instant::now();
        let mut stop = Stop::MaxTokens;
        let mut batch = LlamaBatch::new(FORCED_BATCH, 1);
        // The token that opens a call, when tools are offered and it is one token.
        let call_token = match self.tokenize(grammar::TRIGGER).as_slice() {
            [t] if call_rules.is_some() => Some(*t),
            _ => None,
        };
        for _ in 0..max_tokens {
            let mut token = sampler.sample(&self.ctx, -1);
            if generated == 0 {
                token = self.first_token(token, call_token);
                if Some(token) != call_token
                    && let Some(alone) = fallback.take()
                {
                    // Words: the reply is the fallback's, from its own prompt.
                    let other = self.prefill(id, alone, tools, max_tokens, out)?;
                    (tokens, cached, fell_back) = (other.tokens, other.cached, true);
                    prefilled += other.prefilled;
                    prefill_ms += other.ms;
                    token = self.first_token(sampler.sample(&self.ctx, -1), call_token);
                }
            }
            if let Some(g) = call_grammar.as_mut() {
                token = self.constrained(g, token);
                // The end token is only allowed once the call is complete, and
                // llama.cpp aborts on accepting a token its grammar cannot take.
                if !vocab.is_eog(token) {
                    g.accept(token);
                }
            }
            sampler.accept(token);
            if generated == 0 {
                first_token_ms = received.elapsed().as_secs_f64() * 1000.0;
            }
            if vocab.is_eog(token) {
                stop = Stop::Eos;
                break;
            }
            generated += 1;
            bytes.extend(vocab.token_to_piece(token, false, None));
            let text = valid_utf8(&bytes);
            if !holding && may_be_call(text) {
                holding = true;
            }
            if call_grammar.is_none()
                && let Some(rules) = call_rules.as_deref()
                && text.ends_with(grammar::TRIGGER)
            {
                match LlamaSampler::grammar(self.model, rules, "root") {
                    Ok(g) => call_grammar = Some(g),
                    Err(e) => warn!("the call grammar was refused, decoding freely: {e}"),
                }
            }
            if !holding {
                let upto = streamable_prefix(text);
                if upto > shown {
                    out.send(&WorkerEvent::Delta {
                        id,
                        text: text[shown..upto].to_owned(),
                    });
                    shown = upto;
                }
            }
            // Where the call's spelling is fixed, its tokens go in without a model
            // step each (see `grammar::forced_after`).
            let (forced, finished) = match call_grammar.as_mut() {
                Some(g) => self.forced(g, valid_utf8(&bytes), tools),
                None => (Vec::new(), false),
            };
            for &t in &forced {
                bytes.extend(vocab.token_to_piece(t, false, None));
            }
            generated += forced.len() as u32;
            if finished {
                // A call to a tool without arguments is complete: the reply ends.
                stop = Stop::Eos;
                break;
            }
            batch.clear();
            let last = forced.len();
            for (i, &t) in std::iter::once(&token).chain(&forced).enumerate() {
                batch
                    .add(
                        t,
                        (self.seqs[self.cur].len() + i) as i32,
                        &[self.cur as i32],
                        i == last,
                    )
                    .map_err(|e| (WorkerErrorCode::Inference, e.to_string()))?;
            }
            if let Err(e) = self.ctx.decode(&mut batch) {
                self.reset();
                return Err((WorkerErrorCode::Inference, format!("decode failed: {e}")));
            }
            self.seqs[self.cur].push(token);
            self.seqs[self.cur].extend(&forced);
            if self.cancelled(id, rx) {
                stop = Stop::Cancelled;
                break;
            }
        }
        let generate_ms = gen_started.elapsed().as_secs_f64() * 1000.0;

        let raw = String::from_utf8_lossy(&bytes).into_owned();
        let mut parsed = parse_reply(&raw);
        if sampling.no_calls {
            // Words were asked for: a call the model wrote anyway goes nowhere.
            parsed.calls.clear();
            parsed.errors.clear();
        }
        // Whatever visible text was held back goes out now (a fenced code block in
        // an ordinary answer, for instance).
        let already = &raw[..shown];
        let rest = parsed
            .text
            .strip_prefix(already.trim_start())
            .unwrap_or(if shown == 0 { &parsed.text } else { "" });
        if !rest.is_empty() {
            out.send(&WorkerEvent::Delta {
                id,
                text: rest.to_owned(),
            });
        }
        for call in parsed.calls {
            out.send(&WorkerEvent::ToolCall { id, call });
        }
        out.send(&WorkerEvent::Done {
            id,
            stop,
            stats: Stats {
                prompt_tokens: tokens.len() as u32,
                cached_tokens: cached as u32,
                prefill_tokens: prefilled as u32,
                prefill_ms,
                generated_tokens: generated,
                generate_ms,
                first_token_ms,
                fell_back,
            },
            call_errors: parsed.errors,
        });
        Ok(())
    }

    /// The first token of a reply: `sampled`, or the call tag when the reply should
    /// open a call (see [`Engine::opens_call`]) and the tag is one token.
    fn first_token(&self, sampled: LlamaToken, call: Option<LlamaToken>) -> LlamaToken {
        match call {
            // Through the tag, so that the grammar holds from here on.
            Some(call) if sampled != call && self.opens_call(sampled, call) => call,
            _ => sampled,
        }
    }

    /// Whether the first token of a reply should open a call. Qwen2.5-Coder mostly
    /// starts its calls with a bare `{"` rather than the `<tool_call>` tag, which
    /// would leave them outside the grammar (an invented `file_open`, a call cut
    /// mid-JSON): a reply that starts like a call is one. And a small model is
    /// under-confident about acting: for "what time is it" it gives a call about a
    /// third and then answers in words, from imagination ("Today is Tuesday"). So a
    /// call also opens when call-like first tokens together hold at least
    /// [`CALL_THRESHOLD`] of the probability. `llm_bench` measured both.
    fn opens_call(&self, sampled: LlamaToken, call: LlamaToken) -> bool {
        let call_like = |t: LlamaToken| t == call || self.call_like(t);
        if call_like(sampled) {
            return true;
        }
        let logits = self.ctx.get_logits_ith(-1);
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let weights: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
        let sum: f32 = weights.iter().sum();
        // The likeliest few hold nearly all of it; the tail need not be read.
        let mut top: Vec<usize> = (0..weights.len()).collect();
        let n = CALL_CANDIDATES.min(top.len());
        top.select_nth_unstable_by(n.saturating_sub(1), |a, b| {
            weights[*b].total_cmp(&weights[*a])
        });
        let p: f32 = top[..n]
            .iter()
            .filter(|&&i| i32::try_from(i).is_ok_and(|i| call_like(LlamaToken(i))))
            .map(|&i| weights[i] / sum)
            .sum();
        debug!(call_p = p, "first token");
        p >= CALL_THRESHOLD
    }

    /// Whether `t` would start a call: the `<tool_call>` tag, a bare `{`, or `<`.
    fn call_like(&self, t: LlamaToken) -> bool {
        let piece = self.model.vocab().token_to_piece(t, false, None);
        piece.starts_with(b"{") || piece.starts_with(b"<tool") || piece == b"<"
    }

    /// The tokens a call must go on with after `text` (the reply so far), each
    /// accepted by `grammar`, and whether they complete the reply. A token the
    /// grammar would not take ends the run there (llama.cpp aborts on accepting
    /// one), and the model goes on by itself.
    fn forced(
        &self,
        grammar: &mut LlamaSampler,
        text: &str,
        tools: &[ToolSpec],
    ) -> (Vec<LlamaToken>, bool) {
        let Some(at) = text.find(grammar::TRIGGER) else {
            return (Vec::new(), false);
        };
        let (rest, finishes) =
            match grammar::forced_after(&text[at + grammar::TRIGGER.len()..], tools) {
                Some(grammar::Forced::Text(t)) => (t, false),
                Some(grammar::Forced::Finish(t)) => (t, true),
                None => return (Vec::new(), false),
            };
        let tokens = self.tokenize(rest);
        let mut taken = Vec::with_capacity(tokens.len());
        for &t in tokens.iter().take(FORCED_BATCH - 1) {
            if self.constrained(grammar, t) != t {
                return (taken, false);
            }
            grammar.accept(t);
            taken.push(t);
        }
        let complete = taken.len() == tokens.len();
        (taken, finishes && complete)
    }

    /// `proposed` if `grammar` allows it, else the likeliest token it allows. The
    /// check of one token comes first: applying a grammar to all 151k candidates
    /// costs milliseconds, and the model mostly proposes an allowed token anyway.
    fn constrained(&self, grammar: &mut LlamaSampler, proposed: LlamaToken) -> LlamaToken {
        let logits = self.ctx.get_logits_ith(-1);
        let logit = usize::try_from(proposed.0)
            .ok()
            .and_then(|i| logits.get(i).copied())
            .unwrap_or(0.0);
        let mut one =
            LlamaTokenDataArray::new(vec![LlamaTokenData::new(proposed, logit, 0.0)], false);
        one.apply_sampler(grammar);
        if one.data.first().is_some_and(|d| d.logit().is_finite()) {
            return proposed;
        }
        let mut all = self.ctx.token_data_array_ith(-1);
        all.apply_sampler(grammar);
        all.apply_sampler(&mut LlamaSampler::greedy());
        all.selected_token().unwrap_or(proposed)
    }

    /// Looks for a `cancel` of `id` without blocking; other requests wait their turn.
    fn cancelled(&mut self, id: u64, rx: &Inbox) -> bool {
        loop {
            match rx.try_recv() {
                Ok(Ok(WorkerRequest::Cancel { id: c })) if c == id => return true,
                Ok(Ok(WorkerRequest::Cancel { .. })) => {}
                Ok(Ok(other)) => self.pending.push_back(other),
                Ok(Err(e)) => warn!("bad request during generation: {e}"),
                Err(std::sync::mpsc::TryRecvError::Empty) => return false,
                // stdin closed: the agent is gone, nobody wants this reply.
                Err(std::sync::mpsc::TryRecvError::Disconnected) => return true,
            }
        }
    }

    fn reset(&mut self) {
        self.ctx.clear_kv_cache();
        self.seqs.iter_mut().for_each(Vec::clear);
        self.cur = 0;
    }
}

/// A prompt made ready for its reply (see `Engine::prefill`).
struct Prefilled {
    tokens: Vec<LlamaToken>,
    /// Tokens reused from a cached sequence.
    cached: usize,
    /// Tokens decoded for it.
    prefilled: usize,
    ms: f64,
}

/// The longest prefix of `bytes` that is complete UTF-8 (a token may end mid-character).
fn valid_utf8(bytes: &[u8]) -> &str {
    match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
    }
}

/// The share of the first token's probability on call-like tokens at which a reply
/// opens a call (see `Engine::opens_call`). Measured with `llm_bench` on the 1.5B
/// model (`AIOS_WORKER_LOG=aios_llm=debug` logs it where the sampled token is not
/// already call-like): commands that need the
/// computer but were answered in words gave calls 0.22-0.34, knowledge questions
/// 0.01-0.25, and the same question moves by 0.05 with how its prompt was batched.
/// The bands overlap; the threshold sits above the knowledge questions seen, as a
/// call nobody asked for (a file read for "who wrote Pride and Prejudice") is worse
/// than an answer in words.
const CALL_THRESHOLD: f32 = 0.3;
/// Cached sequences (see `Engine::sync_prefix`).
const SLOTS: usize = 2;
/// How many of the likeliest first tokens `opens_call` looks at.
const CALL_CANDIDATES: usize = 16;
/// Most tokens decoded in one step: the sampled one and the forced ones after it.
const FORCED_BATCH: usize = 32;
