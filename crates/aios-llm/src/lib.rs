//! `aios-llm`: the local language model, in a worker process of its own.
//!
//! whisper-rs and llama-cpp-2 each vendor ggml and cannot be linked into one binary,
//! so the local model runs in the `aios-llm` executable, started and supervised by
//! `aios-agent`. This library is what both sides share: the worker protocol below,
//! the prompt rendering for tool use, and the tool-call parser. The engine itself
//! (llama.cpp) is only in the binary (feature `engine`).
//!
//! # Worker protocol
//!
//! 1. The agent starts `aios-llm --model FILE [--threads N] [--context N]` with piped
//!    stdin and stdout. Those two pipes are the only channel: nobody else can talk to
//!    the worker. The worker logs to stderr.
//! 2. Every message is one line of JSON (`\n`-terminated), tagged by `"type"`:
//!    [`WorkerRequest`] on stdin, [`WorkerEvent`] on stdout.
//! 3. After loading the model the worker sends `ready` (model name, context size,
//!    threads, load time). A model that cannot be loaded gives an `error` with code
//!    `model_missing` or `model_corrupt` naming the file and `make models`, and the
//!    worker exits with status 2.
//! 4. `warm` decodes a conversation prefix (the system prompt with the tool schemas)
//!    into the KV cache and answers `warmed` with its token count, so the first
//!    question only pays for its own tokens. It also decodes the opening of the next
//!    user message (`<|im_start|>user\n` for ChatML). With `ahead`, the words heard
//!    so far of that message follow (the agent sends each partial transcript while
//!    the person speaks): when the question comes, only its unheard words, the end
//!    of the user turn and the reply's opening are prefilled. Only a `warm` of the
//!    system message alone, with no `ahead`, is saved for the next start. With
//!    `alone` (the prefix of the question asked alone, a `generate`'s fallback),
//!    the heard words are decoded after that prefix too, in the other sequence,
//!    in the same batches: both prompts of the turn are ready when it comes.
//! 5. `generate` runs one request at a time. The worker reuses the longest common
//!    token prefix between the new prompt and what its KV cache holds (system prompt,
//!    earlier turns, its own earlier replies) and prefills only the rest, sending a
//!    `progress` event after each batch of prompt tokens. The cache holds two
//!    sequences (the conversation's prompt and the question asked alone, which the
//!    agent asks in one turn): a request, `warm` included, rewrites the one it loses
//!    least of, starting from the longer prefix either shares with it. It streams
//!    `delta` events with reply text, holding back text that may be the start of a
//!    tool call, then one `tool_call` event per call parsed from the reply
//!    (`<tool_call>` tags, a fenced JSON block, or bare JSON), then `done` with the
//!    [`Stats`] (prompt tokens, reused tokens, prefilled tokens, timings).
//!    With `fallback` (another conversation), a reply whose first token does not
//!    open a call is not written: the worker prefills the fallback instead (in
//!    the other cached sequence) and answers that, calls included, with
//!    `fell_back` in the stats. The agent sends its conversation prompt (with the
//!    memo) and the question alone this way: one request instead of a cancelled
//!    one and a second.
//!    With `sampling.no_calls` the reply is words only: the same tools are
//!    rendered (the prompt, and so the cached prefix, is unchanged) and the reply
//!    is decoded under a grammar without `{`, `<` or a backtick
//!    ([`grammar::WORDS_ONLY`]), so no call can be written in any form.
//! 6. `cancel` with the request id stops a running generation at the next token;
//!    `done` then has stop reason `cancelled`.
//! 7. Any failure of a request gives `error` with the request id and a
//!    [`WorkerErrorCode`]; the worker keeps serving. End of stdin makes it exit, so it
//!    never outlives the agent.

pub mod grammar;
pub mod prompt;
pub mod protocol;
pub mod toolcall;

pub use protocol::*;
