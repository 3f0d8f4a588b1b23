//! The `echo` provider: repeats the last user message, streamed word by word. It
//! exercises every client's streaming path without a model.

use futures::stream;

use super::{
    DeltaStream, LlmError, LlmMessage, LlmProvider, LlmRequest, StopReason, StreamDelta, Usage,
};

/// Repeats the question back, prefixed with `(echo) `.
#[derive(Debug, Default)]
pub struct EchoProvider;

#[async_trait::async_trait]
impl LlmProvider for EchoProvider {
    async fn complete_stream(&self, req: &LlmRequest) -> Result<DeltaStream, LlmError> {
        let question = req
            .messages
            .iter()
            .rev()
            .find_map(|m| match m {
                LlmMessage::User { content } => Some(content.as_str()),
                _ => None,
            })
            .unwrap_or_default();
        let reply = format!("(echo) {question}");
        let mut items: Vec<Result<StreamDelta, LlmError>> = reply
            .split_inclusive(char::is_whitespace)
            .map(|w| Ok(StreamDelta::Text(w.to_owned())))
            .collect();
        items.push(Ok(StreamDelta::Done {
            usage: Usage::default(),
            stop: StopReason::EndTurn,
        }));
        Ok(Box::pin(stream::iter(items)))
    }

    fn supports_tools(&self) -> bool {
        false
    }

    fn name(&self) -> &str {
        "echo"
    }
}
