//! Message types of the worker protocol (see the crate documentation).

use serde::{Deserialize, Serialize};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// System prompt.
    System,
    /// The person.
    User,
    /// The model.
    Assistant,
    /// A tool result.
    Tool,
}

/// A tool call as the model writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallSpec {
    /// Tool name.
    pub name: String,
    /// Arguments object.
    pub arguments: serde_json::Value,
}

/// One conversation message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Author.
    pub role: Role,
    /// Text.
    pub content: String,
    /// Calls made by an assistant message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<CallSpec>,
}

/// A tool offered to the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// Name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: serde_json::Value,
}

/// Sampling settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// 0 = greedy (repeatable).
    pub temperature: f32,
    /// Longest reply in tokens.
    pub max_tokens: u32,
    /// Seed for temperature > 0.
    #[serde(default)]
    pub seed: u32,
    /// The reply must be words: the tools stay in the prompt (so the cached prefix
    /// holds) but no call can be written (see rule 5 of the crate). The
    /// agent asks this after a call that needs nothing of the computer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_calls: bool,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            max_tokens: 512,
            seed: 0,
            no_calls: false,
        }
    }
}

/// Agent → worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkerRequest {
    /// Decode this prefix (normally just the system message) now.
    Warm {
        /// The prefix conversation.
        messages: Vec<Message>,
        /// Tools rendered into the system prompt.
        tools: Vec<ToolSpec>,
        /// The words of the next user message heard so far (a partial transcript
        /// while the person still speaks): decoded after the prefix, so that the
        /// question, when it comes, prefills only what was not heard yet.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ahead: Option<String>,
        /// With `ahead`: the prefix of the same question asked alone (the system
        /// message), which the request to come may fall back to. The heard words
        /// are decoded after it too, in the other cached sequence, in the same
        /// batches (rule 4).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alone: Option<Vec<Message>>,
    },
    /// Generate a reply.
    Generate {
        /// Request id, echoed in every event.
        id: u64,
        /// The conversation, system message first.
        messages: Vec<Message>,
        /// Tools rendered into the system prompt.
        tools: Vec<ToolSpec>,
        /// Sampling settings.
        sampling: Sampling,
        /// Asked instead when the reply to `messages` would start in words rather
        /// than a call (rule 5): the agent's conversation prompt (with its memo)
        /// is trusted for calls, and words come from the question asked alone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fallback: Option<Vec<Message>>,
    },
    /// Stop generation `id` at the next token.
    Cancel {
        /// The request to stop.
        id: u64,
    },
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// The model ended its turn.
    Eos,
    /// `max_tokens` reached.
    MaxTokens,
    /// A `cancel` arrived.
    Cancelled,
}

/// Token counts and timings of one generation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Tokens in the prompt.
    pub prompt_tokens: u32,
    /// Prompt tokens found in the KV cache (not computed again).
    pub cached_tokens: u32,
    /// Prompt tokens decoded for this request.
    pub prefill_tokens: u32,
    /// Time spent decoding them.
    pub prefill_ms: f64,
    /// Tokens generated.
    pub generated_tokens: u32,
    /// Time spent generating.
    pub generate_ms: f64,
    /// From receiving the request to the first generated token.
    pub first_token_ms: f64,
    /// The reply is to the request's `fallback` (the counts above are its prompt's;
    /// the prefill counts and time include both prompts).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fell_back: bool,
}

/// Machine-readable worker error kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerErrorCode {
    /// The GGUF file does not exist.
    ModelMissing,
    /// The GGUF file exists but does not load.
    ModelCorrupt,
    /// Prompt plus reply do not fit the context.
    ContextTooLong,
    /// A request line could not be parsed.
    BadRequest,
    /// llama.cpp failed.
    Inference,
}

/// Worker → agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkerEvent {
    /// The model is loaded.
    Ready {
        /// Model file name.
        model: String,
        /// Context size in tokens.
        n_ctx: u32,
        /// Inference threads.
        threads: u32,
        /// Model load time.
        load_ms: f64,
    },
    /// A `warm` request finished.
    Warmed {
        /// Tokens now in the KV cache.
        prefix_tokens: u32,
        /// Tokens decoded for it.
        prefill_tokens: u32,
        /// Time spent.
        prefill_ms: f64,
    },
    /// Prefill progress, after each batch of prompt tokens (`id` is absent for a
    /// `warm`). A slow machine sends these; a stuck worker does not, so the agent's
    /// timeout counts the gaps between events, not the whole prefill.
    Progress {
        /// Request id, when it belongs to a `generate`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        /// Prompt tokens decoded so far.
        done: u32,
        /// Prompt tokens to decode.
        total: u32,
    },
    /// Reply text to append.
    Delta {
        /// Request id.
        id: u64,
        /// Text.
        text: String,
    },
    /// A tool call parsed from the reply.
    ToolCall {
        /// Request id.
        id: u64,
        /// The call.
        call: CallSpec,
    },
    /// Generation finished.
    Done {
        /// Request id.
        id: u64,
        /// Why it ended.
        stop: Stop,
        /// Counts and timings.
        stats: Stats,
        /// Text that looked like a tool call but could not be parsed; the agent
        /// tells the model so instead of executing anything.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        call_errors: Vec<String>,
    },
    /// A request failed (or, without id, the worker itself).
    Error {
        /// Request id, when the error belongs to one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        /// Kind.
        code: WorkerErrorCode,
        /// What happened and what to do.
        message: String,
    },
}
