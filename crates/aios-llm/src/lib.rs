//! `aios-llm`: the local language model, in a worker process of its own.
//!
//! whisper-rs and llama-cpp-2 each vendor ggml and cannot be linked into one binary, so
//! the local model runs here, supervised by the agent over a private channel. It will
//! own loading the GGUF, the chat template, the KV prefix cache and tool-call parsing.
//!
//! Built by the agent-brain issue.
