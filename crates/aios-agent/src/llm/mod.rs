//! Language-model providers behind one trait.
//!
//! - `local` (the default): the bundled GGUF in the `aios-llm` worker process.
//! - `openai`: any OpenAI-compatible endpoint (OpenAI, Ollama's `/v1`, a llama.cpp
//!   server, vLLM); `ollama` is the same with Ollama's default URL.
//! - `anthropic`: the Messages API.
//! - `echo`: repeats the question; for wiring checks.
//!
//! Every provider streams; [`LlmProvider::complete`] collects a stream. Errors say
//! what the person should do ([`LlmError`]).

mod anthropic;
mod cloud;
mod echo;
mod http;
pub mod local;
mod openai;
mod sse;
mod types;

pub use cloud::cloud_provider;
pub use echo::EchoProvider;
pub use types::*;

#[cfg(test)]
mod tests;
